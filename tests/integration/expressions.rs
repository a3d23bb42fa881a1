//! Expressions (CEL) end to end: the everyday checks that needed a script before, written in
//! YAML alone and run against the simulator, and their mistakes found before anything is sent.

use crate::support::{Sim, TempDir, llmspec};

const EVERYDAY: &str = r#"suite: everyday
vars: { model_id: sim-model }
tests:
  - name: first answer
    request:
      POST: /v1/chat/completions
      json: { model: "${model_id}", messages: [{ role: user, content: "Name a colour." }], max_tokens: 8, temperature: 0, seed: 7 }
    capture:
      first_answer: $.choices[0].message.content
      total: { expr: "response.body.usage.prompt_tokens + response.body.usage.completion_tokens" }
    expect:
      status: 200
      that:
        - response.body.usage.total_tokens == response.body.usage.prompt_tokens + response.body.usage.completion_tokens
        - response.content.size() > 0 && metrics.latency < 30.0
        - request.body.model == vars.model_id && request.method == 'POST'
  - name: streamed answer
    request:
      POST: /v1/chat/completions
      json: { model: "${model_id}", messages: [{ role: user, content: "Name a colour." }], max_tokens: 8, temperature: 0, seed: 7, stream: true, stream_options: { include_usage: true } }
    expect:
      that:
        - response.content == first_answer
        - response.content == tests["first answer"].response.content
        - response.body.usage.total_tokens == total
        - response.events.size() > 1
  - name: needs a long context
    require: ["total > 100000"]
    request: { GET: /health }
  - name: under load
    repeat: 4
    request:
      POST: /v1/chat/completions
      json: { model: "${model_id}", messages: [{ role: user, content: "Name a colour." }], max_tokens: 8 }
    expect:
      thresholds:
        - p50(latency) < 2 * tests["first answer"].metrics.latency + 1.0
        - success_rate == 1.0 && count == 4
"#;

#[test]
fn the_everyday_checks_are_plain_yaml() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write("everyday.yaml", EVERYDAY);
    let validate = llmspec(&["validate", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(validate.code, 0, "{}", validate.stderr);
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for line in [
        "PASS first answer",
        "PASS streamed answer",
        "SKIP needs a long context (requirement not met: `total > 100000` (total = ",
        "PASS under load: p50(latency) < 2 * tests[\"first answer\"].metrics.latency + 1.0",
        "PASS under load: success_rate == 1.0 && count == 4",
    ] {
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
}

#[test]
fn a_condition_that_does_not_hold_fails_with_what_was_measured() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "fails.yaml",
        r#"suite: fails
tests:
  - name: arithmetic
    request: { POST: /v1/completions, json: { prompt: a, max_tokens: 3 } }
    expect:
      that: ["response.body.usage.total_tokens == response.body.usage.prompt_tokens"]
  - name: load
    repeat: 2
    request: { POST: /v1/completions, json: { prompt: a, max_tokens: 3 } }
    expect:
      thresholds: ["p50(latency) < 0.0 * 1"]
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("FAIL arithmetic"), "{}", out.stdout);
    // A comparison that does not hold shows both sides.
    assert!(out.stdout.contains("actual: false: 5 == 2"), "{}", out.stdout);
    assert!(out.stdout.contains("FAIL load: p50(latency) < 0.0 * 1"), "{}", out.stdout);
    assert!(out.stdout.contains("false (p50(latency) = "), "{}", out.stdout);
}

#[test]
fn mistakes_in_expressions_are_spec_errors_with_their_place() {
    let dir = TempDir::new();
    let spec = dir.write(
        "typos.yaml",
        r#"suite: typos
tests:
  - name: a
    request: { GET: "http://127.0.0.1:9/" }
    expect:
      that:
        - respnse.status == 200
        - size(response.content, 2) > 0
        - response.status == 'ok'
    require: ["tests.later.response.status == 200"]
  - name: later
    request: { GET: "http://127.0.0.1:9/" }
    expect:
      thresholds: ["p50(latncy) < 1.0 * 2"]
"#,
    );
    let out = llmspec(&["validate", spec.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    for said in [
        "typos.yaml:7:11",
        "unknown name `respnse`; did you mean `response`?",
        "`size` takes 1 argument, not 2",
        "never equal",
        "unknown field `later`: none is known here",
        "typos.yaml:14:20",
        "`latncy`; did you mean `latency`?",
    ] {
        assert!(out.stderr.contains(said), "{said}\n{}", out.stderr);
    }
}

/// A capture compares as its value wherever an expected value is written: `expect`, a
/// `wait_until` step's `expect`, and a threshold condition.
#[test]
fn captures_are_values_in_expectations() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "captured.yaml",
        r#"suite: captured
tests:
  - name: first
    request: { POST: /v1/chat/completions, json: { messages: [{ role: user, content: hi }], max_tokens: 6, temperature: 0, seed: 3 } }
    capture: { first_answer: "$.choices[0].message.content", model: "$.model" }
  - name: same again
    request: { POST: /v1/chat/completions, json: { messages: [{ role: user, content: hi }], max_tokens: 6, temperature: 0, seed: 3 } }
    expect:
      json:
        $.choices[0].message.content: { eq: "${first_answer}" }
        $.model: { one_of: ["${model}", other] }
        $.id: { ne: "${first_answer}" }
  - name: waits for the same model
    steps:
      - wait_until:
          request: { GET: /v1/models }
          expect:
            json:
              $.data[0].id: "${model}"
          timeout: 5s
  - name: a literal dollar
    request: { POST: /v1/chat/completions, json: { messages: [{ role: user, content: hi }], max_tokens: 6, temperature: 0, seed: 3 } }
    expect:
      json:
        $.choices[0].message.content: { ne: "$${first_answer}" }
  - name: differs
    request: { POST: /v1/chat/completions, json: { messages: [{ role: user, content: bye }], max_tokens: 6, temperature: 0, seed: 3 } }
    expect:
      json:
        $.choices[0].message.content: { eq: "${first_answer}" }
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    for line in ["PASS same again", "PASS waits for the same model", "PASS a literal dollar", "FAIL differs"] {
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
    let quoted = dir.write(
        "pattern.yaml",
        "suite: p\ntests:\n  - name: a\n    request: { GET: /v1/models }\n    capture: { m: \"$.data[0].id\" }\n  - name: b\n    request: { GET: /v1/models }\n    expect:\n      json:\n        $.data[0].id: { matches: \"${m}\" }\n",
    );
    let out = llmspec(&["validate", quoted.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("a pattern cannot hold a capture"), "{}", out.stderr);
}

/// Each instance of a `matrix` test reads its own values by name in its expressions.
#[test]
fn matrix_values_are_names_in_expressions() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "matrix.yaml",
        r#"suite: matrix
vars: { limit: 5 }
tests:
  - name: caps
    matrix: { max_tokens: [2, 4, 9] }
    require: ["max_tokens < limit"]
    request: { POST: /v1/completions, json: { prompt: a, max_tokens: "${max_tokens}" } }
    expect:
      that: ["response.body.usage.completion_tokens == max_tokens"]
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for line in
        ["PASS caps [max_tokens=2]", "PASS caps [max_tokens=4]", "SKIP caps [max_tokens=9] (requirement not met"]
    {
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
}

const DEPLOY: &str = r#"suite: deploy
vars: { delay: 300ms }
tests:
  - name: single
    request: { POST: /v1/completions, headers: { x-sim-latency: "${delay}" }, json: { prompt: a, max_tokens: 2 } }
    expect:
      that: ["metrics.latency < 2 * baseline.metrics.latency"]
  - name: load
    repeat: 4
    request: { POST: /v1/completions, headers: { x-sim-latency: "${delay}" }, json: { prompt: a, max_tokens: 2 } }
    expect:
      thresholds:
        - p50(latency) < 1.5 * baseline.p50(latency)
        - error_rate <= baseline.error_rate
"#;

/// The previous deploy's report is the baseline: a slower deploy fails its conditions, the
/// changes are shown, and without a baseline the conditions on it are skipped, visibly.
#[test]
fn a_slower_deploy_fails_against_the_baseline() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write("deploy.yaml", DEPLOY);
    let (previous, spec_path) = (dir.path("previous.json"), spec.to_str().unwrap());
    let first = llmspec(&["run", spec_path, "--base-url", &sim.url(), "--json", previous.to_str().unwrap()]);
    assert_eq!(first.code, 0, "{}", first.stdout);
    assert!(
        first.stdout.contains("SKIP load: p50(latency) < 1.5 * baseline.p50(latency) (no baseline"),
        "{}",
        first.stdout
    );
    assert!(first.stdout.contains("conditions on the previous run were not checked"), "{}", first.stdout);

    let same = llmspec(&["run", spec_path, "--base-url", &sim.url(), "--baseline", previous.to_str().unwrap()]);
    assert_eq!(same.code, 0, "{}", same.stdout);
    assert!(same.stdout.contains("PASS load: p50(latency) < 1.5 * baseline.p50(latency)"), "{}", same.stdout);
    assert!(same.stdout.contains("vs baseline: latency_ms "), "{}", same.stdout);

    let slower =
        ["run", spec_path, "--base-url", &sim.url(), "--baseline", previous.to_str().unwrap(), "--var", "delay=1200ms"];
    let out = llmspec(&slower);
    assert_eq!(out.code, 1, "{}", out.stdout);
    for line in [
        "FAIL single",
        "FAIL load: p50(latency) < 1.5 * baseline.p50(latency)",
        "PASS load: error_rate <= baseline.error_rate",
    ] {
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
    assert!(out.stdout.contains("baseline.p50(latency) = 0.3"), "{}", out.stdout);
    assert!(out.stdout.contains("vs baseline: latency_ms +"), "{}", out.stdout);

    let broken = dir.write("broken.json", "{ not json");
    let out = llmspec(&["run", spec_path, "--base-url", &sim.url(), "--baseline", broken.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("is not a JSON report of llmspec"), "{}", out.stderr);
}

/// Expressions at the nesting limit are evaluated on the run's threads without exhausting their
/// stack; one level more is refused at load.
#[test]
fn expressions_at_the_depth_limit_run_and_deeper_ones_are_refused() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let chain = vec!["response.status"; 28].join("+");
    let nested = format!("{}response.status{}", "(".repeat(29), ")".repeat(29));
    let spec = format!(
        "suite: deep\ntests:\n  - name: deep\n    request: {{ GET: /health }}\n    expect:\n      that:\n        - \"{chain} > 0\"\n        - \"{nested} == 200\"\n        - \"[1,2,3].all(x, [4,5].exists(y, y > x))\"\n"
    );
    let spec = dir.write("deep.yaml", &spec);
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let deeper = dir.write(
        "deeper.yaml",
        &std::fs::read_to_string(&spec)
            .unwrap()
            .replace("\"response.status+", "\"response.status+response.status+response.status+response.status+"),
    );
    let out = llmspec(&["validate", deeper.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("nests deeper than 32 levels"), "{}", out.stderr);
}

/// What an independent review found: a variable is a name in every expression (never pasted
/// in as code), a condition on a missing baseline never excuses failed requests, and a value
/// of the test's own (a var) hides a capture of the same name, as `${name}` does.
#[test]
fn variables_are_names_everywhere_and_a_skipped_condition_excuses_nothing() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "review.yaml",
        r#"suite: review
vars: { word: hello, model: sim-model }
tests:
  - name: capture a model
    request: { GET: /v1/models }
    capture: { model: { expr: "'captured'" } }
  - name: names
    repeat: 2
    request: { POST: /v1/completions, json: { prompt: a, max_tokens: 2 } }
    expect:
      thresholds: ['${word} == "hello" && model == "sim-model" && count == 2']
  - name: waits
    steps:
      - wait_until:
          request: { GET: /v1/models }
          expect: { that: ['${word} == "hello"'] }
          timeout: 5s
  - name: all failed
    load: { requests: 4, concurrency: 2 }
    request: { POST: /v1/completions, headers: { x-sim-fault: status-500 }, json: { prompt: a, max_tokens: 2 } }
    expect:
      status: 200
      thresholds: ["error_rate <= baseline.error_rate"]
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    for line in [
        "PASS names: ${word} == \"hello\"",
        "PASS waits",
        "FAIL all failed",
        "SKIP all failed: error_rate <= baseline.error_rate",
    ] {
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
}
