//! One test written, many run: `matrix` instances, `data` rows from JSON Lines, CSV and YAML,
//! and load tests that draw their requests (or whole conversations) from a dataset.

use crate::support::{Sim, TempDir, assert_valid_junit, llmspec};
use std::net::TcpListener;
use std::time::Duration;

fn results(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The names of the test cases of a JUnit file, in order.
fn junit_names(xml: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"<testcase name="([^"]*)""#).unwrap();
    re.captures_iter(xml).map(|c| c[1].replace("&quot;", "\"")).collect()
}

const MATRIX: &str = r#"suite: matrix
tests:
  - name: "03 chat"
    matrix:
      max: [1, 3]
      model: [sim-model, { name: long-context, window: 32768 }]
    request:
      POST: /v1/chat/completions
      json:
        messages: [{ role: user, content: "Hello" }]
        max_tokens: ${max}
    expect:
      status: 200
      json:
        $.usage.completion_tokens: ${max}
    capture:
      last_max: $.usage.completion_tokens
  - name: "04 echo ${size}"
    matrix: { size: [2, 2.0] }
    request:
      POST: /v1/chat/completions
      json: { messages: [{ role: user, content: "Hi" }], max_tokens: "${last_max}" }
    expect:
      json:
        $.usage.completion_tokens: 3
"#;

#[test]
fn matrix_instances_are_junit_cases_named_from_their_values() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write("matrix.yaml", MATRIX);
    let junit = dir.path("junit.xml");
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_valid_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(
        junit_names(&xml),
        [
            "03 chat [max=1, model=sim-model]",
            "03 chat [max=1, model=long-context]",
            "03 chat [max=3, model=sim-model]",
            "03 chat [max=3, model=long-context]",
            // The name shows the variable itself; two values that print alike are numbered.
            "04 echo 2",
            "04 echo 2 [#2]",
        ]
    );
    // Each instance points at the test's line.
    assert_eq!(xml.matches(r#"line="3""#).count(), 4, "{xml}");

    // `--name` selects instances one by one.
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--name", r"max=3, model=long"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("PASS 03 chat [max=3, model=long-context]"), "{}", out.stdout);
    assert!(out.stdout.contains("SKIP 03 chat [max=1, model=sim-model]"), "{}", out.stdout);
}

/// Prompt tokens of a one-message chat in the simulator: 2, plus 4 and a token per 4
/// characters for the message.
fn prompt_tokens(text: &str) -> usize {
    2 + 4 + text.chars().count().div_ceil(4)
}

#[test]
fn data_rows_from_json_lines_csv_and_yaml_each_make_a_test() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let prompts = ["Bonjour", "What is the capital of France?", "Say \"hi\", then stop"];
    let tokens: Vec<usize> = prompts.iter().map(|p| prompt_tokens(p)).collect();
    let jsonl: String = prompts
        .iter()
        .zip(&tokens)
        .enumerate()
        .map(|(i, (p, t))| format!("{}\n", serde_json::json!({"id": format!("p{i}"), "prompt": p, "tokens": t})))
        .collect();
    dir.write("data/rows.jsonl", &jsonl);
    let csv: String = std::iter::once("prompt,tokens,max\n".to_string())
        .chain(prompts.iter().zip(&tokens).map(|(p, t)| format!("\"{}\",{t},2\n", p.replace('"', "\"\""))))
        .collect();
    dir.write("data/rows.csv", &csv);
    let yaml: String = prompts
        .iter()
        .zip(&tokens)
        .map(|(p, t)| format!("- name: {:?}\n  prompt: {:?}\n  tokens: {t}\n", p.split(' ').next().unwrap(), p))
        .collect();
    dir.write("data/rows.yaml", &yaml);
    let test = |format: &str| {
        format!(
            r#"  - name: {format}
    data: data/rows.{format}
    request:
      POST: /v1/chat/completions
      json: {{ messages: [{{ role: user, content: "${{prompt}}" }}], max_tokens: 2 }}
    expect:
      json:
        $.usage.prompt_tokens: ${{tokens}}
"#
        )
    };
    let spec =
        dir.write("data.yaml", &format!("suite: data\ntests:\n{}{}{}", test("jsonl"), test("csv"), test("yaml")));
    let junit = dir.path("junit.xml");
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_valid_junit(&junit);
    assert_eq!(
        junit_names(&std::fs::read_to_string(&junit).unwrap()),
        [
            "jsonl [p0]",
            "jsonl [p1]",
            "jsonl [p2]",
            "csv [row 1]",
            "csv [row 2]",
            "csv [row 3]",
            "yaml [Bonjour]",
            "yaml [What]",
            "yaml [Say]",
        ]
    );

    // A row whose expectation does not hold fails its own case, and only it.
    let wrong = jsonl.replacen(&format!("\"tokens\":{}", tokens[1]), "\"tokens\":999", 1);
    dir.write("data/rows.jsonl", &wrong);
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("FAIL jsonl [p1]"), "{}", out.stdout);
    assert!(out.stdout.contains("PASS jsonl [p2]"), "{}", out.stdout);
}

#[test]
fn broken_data_is_reported_at_its_line_with_every_other_problem_and_nothing_is_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let dir = TempDir::new();
    dir.write("broken.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n{\"prompt\": \"c\",}\n");
    dir.write("broken.csv", "prompt,n\nx,1\n\"y\",2\nz\n");
    dir.write("prompts.txt", "hello\n");
    dir.write("load.jsonl", "{\"prompt\": \"a\"}\n{\"text\": \"b\"}\n");
    let spec = dir.write(
        "broken.yaml",
        &format!(
            r#"suite: broken
defaults: {{ base_url: "{url}" }}
tests:
  - name: jsonl
    data: broken.jsonl
    request: {{ POST: /v1/completions, json: {{ prompt: "${{prompt}}" }} }}
  - name: csv
    data: broken.csv
    request: {{ POST: /v1/completions, json: {{ prompt: "${{prompt}}" }} }}
  - name: text
    data: prompts.txt
    request: {{ GET: /health }}
  - name: missing
    data: {{ file: nowhere.jsonl }}
    request: {{ GET: /health }}
  - name: load
    load: {{ requests: 4, dataset: load.jsonl }}
    request: {{ POST: /v1/completions, json: {{ prompt: "${{prompt}}" }} }}
    expect: {{ json: {{ $.x: "${{prompt}}" }} }}
  - name: other
    request: {{ GET: /health }}
    expect: {{ stauts: 200 }}
"#
        ),
    );
    let out = llmspec(&["validate", spec.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let d = dir.0.display().to_string();
    for expected in [
        format!("--> {d}/broken.jsonl:3:"),
        "this row is not JSON: trailing comma".into(),
        format!("--> {d}/broken.csv:4:1"),
        "this row has 1 field; the header row names 2".into(),
        "the format of a data file follows its extension".into(),
        format!("no such data file: {d}/nowhere.jsonl"),
        format!("--> {d}/load.jsonl:2:1"),
        "this row has no field `prompt`, which the request of `load` uses".into(),
        "`prompt` is a field of this load test's dataset: only `request` can use it".into(),
        "unknown key `stauts`; did you mean `status`?".into(),
    ] {
        assert!(out.stderr.contains(&expected), "missing {expected:?} in:\n{}", out.stderr);
    }
    // The spec's own line is shown for a file it names.
    assert!(out.stderr.contains("    data: prompts.txt"), "{}", out.stderr);
    let run = llmspec(&["run", spec.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    std::thread::sleep(Duration::from_millis(50));
    assert!(listener.accept().is_err(), "a request was sent despite broken data");
}

#[test]
fn a_load_test_draws_every_row_of_its_dataset_in_order_or_shuffled() {
    let sim = Sim::start();
    let dir = TempDir::new();
    // Each row's prompt costs a different number of tokens, and asks for a different length.
    dir.write(
        "prompts.jsonl",
        "{\"prompt\": \"abcd\", \"n\": 1}\n{\"prompt\": \"abcdefgh\", \"n\": 2}\n{\"prompt\": \"abcdefghijklmnop\", \"n\": 4}\n",
    );
    let test = |name: &str, load: &str, expect: &str| {
        format!(
            r#"  - name: {name}
    load: {load}
    request:
      POST: /v1/chat/completions
      headers: {{ x-sim-output-tokens: "${{n}}" }}
      json: {{ messages: [{{ role: user, content: "${{prompt}}" }}], max_tokens: 10 }}
    expect:
      status: 200
{expect}"#
        )
    };
    let spec = dir.write(
        "load.yaml",
        &format!(
            "suite: load datasets\ntests:\n{}{}{}",
            test("cycled", "{ requests: 6, concurrency: 2, dataset: prompts.jsonl }", ""),
            test(
                "shuffled",
                "{ requests: 3, dataset: { file: prompts.jsonl, order: shuffled, seed: 7 } }",
                "      json: { $.usage.prompt_tokens: { lt: 0 } }\n"
            ),
            test(
                "in order",
                "{ requests: 3, dataset: prompts.jsonl }",
                "      json: { $.usage.prompt_tokens: { lt: 0 } }\n"
            ),
        ),
    );
    let prompt_order = |r: &serde_json::Value, test: usize| -> Vec<u64> {
        let failures = r["suites"][0]["tests"][test]["failures"].as_array().unwrap().clone();
        failures
            .iter()
            .filter(|f| f["subject"].as_str().unwrap().ends_with("$.usage.prompt_tokens"))
            .map(|f| f["actual"].as_str().unwrap().parse().unwrap())
            .collect()
    };
    let mut orders = vec![];
    for run in ["a.json", "b.json"] {
        let json = dir.path(run);
        let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
        let r = results(&json);
        let cycled = &r["suites"][0]["tests"][0];
        assert_eq!(cycled["verdict"], "passed", "{cycled}");
        // Six requests over three rows: every row twice, told apart by its output length.
        assert_eq!(
            cycled["aggregate"]["histograms"]["output_tokens"]["counts"],
            serde_json::json!([[1, 2], [2, 2], [4, 2]])
        );
        // Every request fails on purpose, so each one's prompt size is reported, in order.
        assert_eq!(prompt_order(&r, 2), [7, 8, 10], "sequential order");
        let shuffled = prompt_order(&r, 1);
        let mut sorted = shuffled.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [7, 8, 10], "each row once: {shuffled:?}");
        orders.push(shuffled);
    }
    assert_eq!(orders[0], orders[1], "the same seed draws the same order");
    assert_ne!(orders[0], [7, 8, 10], "seed 7 shuffles three rows out of their order");
}

#[test]
fn each_conversation_carries_its_history_from_turn_to_turn() {
    let sim = Sim::start();
    let dir = TempDir::new();
    dir.write("talks.yaml", "- turns: [first, second, third]\n");
    let spec = dir.write(
        "talk.yaml",
        r#"suite: talk
tests:
  - name: conversation
    load: { requests: 3, concurrency: 1, dataset: talks.yaml }
    request:
      POST: /v1/chat/completions
      stream: true
      json:
        messages: [{ role: system, content: "Be brief." }, { role: user, content: "${turn}" }]
        max_tokens: 2
    expect:
      json:
        # The first two turns fit; the third carries two answers more.
        $.usage.prompt_tokens: { lt: 33 }
"#,
    );
    let json = dir.path("r.json");
    let junit = dir.path("junit.xml");
    let out = llmspec(&[
        "run",
        spec.to_str().unwrap(),
        "--base-url",
        &sim.url(),
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let r = results(&json);
    let failures = r["suites"][0]["tests"][0]["failures"].as_array().unwrap();
    let subjects: Vec<&str> = failures.iter().map(|f| f["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["requests", "request 3: $.usage.prompt_tokens"], "{failures:?}");
    // The system and first user messages cost 7 + 6; each answer at least 5 more, each later
    // turn 6.
    let third: u64 = failures[1]["actual"].as_str().unwrap().parse().unwrap();
    assert!(third >= 2 + 7 + 6 + 2 * (5 + 6), "{third}");
    // The transcript of the third turn holds the whole conversation, in order.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let roles = regex::Regex::new(
        r#"request body: \{.*"messages":\[\{"content":"Be brief.","role":"system"\},\{"content":"first","role":"user"\},\{"content":"[^"]+","role":"assistant"\},\{"content":"second","role":"user"\},\{"content":"[^"]+","role":"assistant"\},\{"content":"third","role":"user"\}\]"#,
    )
    .unwrap();
    let text = xml.replace("&quot;", "\"");
    assert!(roles.is_match(&text), "{text}");
}

#[test]
fn instance_variables_hide_suite_variables_and_var_in_their_test_only() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "shadow.yaml",
        r#"suite: shadow
vars: { max: 5 }
tests:
  - name: matrix
    matrix: { max: [2] }
    request: { POST: /v1/chat/completions, json: { messages: [{ role: user, content: Hi }], max_tokens: "${max}" } }
    expect: { json: { $.usage.completion_tokens: 2 } }
  - name: data
    data: [{ max: 3 }]
    request: { POST: /v1/chat/completions, json: { messages: [{ role: user, content: Hi }], max_tokens: "${max}" } }
    expect: { json: { $.usage.completion_tokens: 3 } }
  - name: after
    request: { POST: /v1/chat/completions, json: { messages: [{ role: user, content: Hi }], max_tokens: "${max}" } }
    expect: { json: { $.usage.completion_tokens: 4 } }
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--var", "max=4"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("PASS matrix [max=2]") && out.stdout.contains("PASS data [row 1]"), "{}", out.stdout);
}

#[test]
fn conversation_datasets_are_checked_before_anything_is_sent() {
    let dir = TempDir::new();
    dir.write(
        "talks.jsonl",
        "{\"turns\": [\"a\", \"b\"]}\n{\"prompt\": \"no turns\"}\n{\"turns\": [1]}\n{\"turns\": []}\n",
    );
    dir.write("named.jsonl", "{\"turn\": \"x\", \"turns\": [\"a\"]}\n");
    let spec = dir.write(
        "talk.yaml",
        r#"suite: talk
defaults: { base_url: "http://127.0.0.1:9" }
tests:
  - name: open loop
    load: { requests: 4, rate: 5/s, dataset: talks.jsonl }
    request: { POST: /v1/chat/completions, json: { messages: [{ role: user, content: "${turn}" }] } }
  - name: no messages
    load: { requests: 4, dataset: named.jsonl }
    request: { POST: /v1/completions, headers: { x-turn: "${turn}" }, json: { prompt: "${turn}" } }
"#,
    );
    let out = llmspec(&["validate", spec.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let d = dir.0.display().to_string();
    for expected in [
        "rows with `turns` are conversations, each run by one worker turn after turn: use `concurrency` without `rate`"
            .to_string(),
        format!("--> {d}/talks.jsonl:2:1"),
        "this row has no `turns` list: when a row of a dataset has turns, every row is a conversation".into(),
        format!("--> {d}/talks.jsonl:3:1"),
        "each turn is the text of a user message, not `1`".into(),
        format!("--> {d}/talks.jsonl:4:1"),
        "`turns` lists no turn".into(),
        "have a field `turn`, the name of the current turn of a conversation: rename the field".into(),
        "a conversation continues the request's `json.messages`".into(),
        "`${turn}` belongs in the request's `json` body".into(),
    ] {
        assert!(out.stderr.contains(&expected), "missing {expected:?} in:\n{}", out.stderr);
    }
}
