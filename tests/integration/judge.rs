//! `expect.judge` end to end: the simulator plays the judge (it rules `fail` when the judge's
//! question holds WRONG); verdicts, warnings, errors, the JUnit report and the judge's key.

use crate::support::{Sim, TempDir, assert_valid_junit, llmspec, llmspec_env};
use llmspec_sim::{Fault, SimConfig};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A suite of one chat test per `(name, question, judge)`.
fn suite(base_url: &str, tests: &[(&str, &str, &str)]) -> String {
    let mut spec = format!("suite: judged\ndefaults:\n  base_url: {base_url}\ntests:\n");
    for (name, question, judge) in tests {
        spec.push_str(&format!(
            "  - name: {name}\n    request:\n      POST: /v1/chat/completions\n      json: {{ model: sim-model, messages: [{{ role: user, content: \"{question}\" }}], max_tokens: 8 }}\n    expect:\n      status: 200\n      judge: {judge}\n"
        ));
    }
    spec
}

struct Run {
    out: crate::support::Output,
    junit: String,
    json: serde_json::Value,
    _dir: TempDir,
}

fn run(spec: &str, env: &[(&str, &str)]) -> Run {
    let dir = TempDir::new();
    let path = dir.write("judged.yaml", spec);
    let (junit, json) = (dir.path("j.xml"), dir.path("r.json"));
    let args = ["run", path.to_str().unwrap(), "--junit", junit.to_str().unwrap(), "--json", json.to_str().unwrap()];
    let out = llmspec_env(&args, env);
    assert_valid_junit(&junit);
    let junit = std::fs::read_to_string(&junit).unwrap();
    let json = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    Run { out, junit, json, _dir: dir }
}

/// The `<testcase>` element named `name`, whole.
fn case<'a>(junit: &'a str, name: &str) -> &'a str {
    let start = junit.find(&format!("<testcase name=\"{name}\"")).unwrap_or_else(|| panic!("no case {name}:\n{junit}"));
    let end = junit[start..].find("</testcase>").map_or(junit.len(), |e| start + e);
    &junit[start..end]
}

fn case_names(junit: &str) -> Vec<String> {
    junit.split("<testcase name=\"").skip(1).map(|rest| rest.split('"').next().unwrap().to_string()).collect()
}

fn test_json<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["suites"][0]["tests"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()
}

#[test]
fn a_passing_judge_keeps_the_test_green_with_its_reasoning_in_the_report() {
    let sim = Sim::start();
    let spec = suite(&sim.url(), &[("coherent", "Say hi", "{ rubric: \"The answer is coherent.\", min_score: 0.5 }")]);
    let r = run(&spec, &[]);
    assert_eq!(r.out.code, 0, "{}{}", r.out.stdout, r.out.stderr);
    assert!(r.out.stdout.contains("PASS coherent"), "{}", r.out.stdout);
    assert_eq!(case_names(&r.junit), ["coherent"]);
    let case = case(&r.junit, "coherent");
    assert!(case.contains(r#"<property name="judge_1_verdict" value="pass"/>"#), "{case}");
    assert!(case.contains(r#"<property name="judge_1_score" value="1"/>"#), "{case}");
    assert!(case.contains(r#"<property name="judge_1_rubric" value="The answer is coherent."/>"#), "{case}");
    assert!(case.contains("found no marker WRONG and rules for the answer"), "{case}");
    assert_eq!(test_json(&r.json, "coherent")["verdict"], "passed");
}

#[test]
fn a_failing_judge_warns_unless_strict_and_adds_no_test_case() {
    let sim = Sim::start();
    let spec = suite(
        &sim.url(),
        &[
            ("advisory", "Say WRONG", "{ rubric: \"The answer is coherent.\" }"),
            ("strict", "Say WRONG", "{ rubric: \"The answer is coherent.\", strict: true }"),
            ("several", "Say hi", "[ { rubric: \"Coherent.\" }, { rubric: \"No WRONG facts.\" } ]"),
        ],
    );
    let r = run(&spec, &[]);
    assert_eq!(r.out.code, 1, "{}{}", r.out.stdout, r.out.stderr);
    let stdout = &r.out.stdout;
    assert!(stdout.contains("WARN advisory") && stdout.contains("FAIL strict"), "{stdout}");
    assert!(
        stdout.contains("WARN several") && stdout.contains("error: judge 2: expected a passing verdict"),
        "{stdout}"
    );
    assert!(stdout.contains("actual: fail (score 0.00): The simulated judge found the marker WRONG"), "{stdout}");
    assert!(stdout.contains("2 passed (2 with advisory warnings), 1 failed, 0 errors"), "{stdout}");
    // The judges' results are on the tests' own cases: no case is added or renamed.
    assert_eq!(case_names(&r.junit), ["advisory", "strict", "several"]);
    let advisory = case(&r.junit, "advisory");
    assert!(!advisory.contains("<failure"), "{advisory}");
    assert!(advisory.contains("<property name=\"advisory\"") && advisory.contains("<system-out>"), "{advisory}");
    assert!(advisory.contains("found the marker WRONG and rules against the answer"), "{advisory}");
    let strict = case(&r.junit, "strict");
    assert!(strict.contains("<failure") && strict.contains("found the marker WRONG"), "{strict}");
    let several = case(&r.junit, "several");
    assert!(several.contains(r#"name="judge_1_verdict" value="pass""#), "{several}");
    assert!(several.contains(r#"name="judge_2_verdict" value="fail""#), "{several}");
    assert_eq!(test_json(&r.json, "advisory")["verdict"], "advisory");
    assert_eq!(test_json(&r.json, "advisory")["failures"][0]["check"], "judge");
    assert_eq!(test_json(&r.json, "strict")["verdict"], "failed");
}

/// A port on which nothing listens.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_judge_that_cannot_answer_warns_unless_strict_where_it_is_an_error() {
    let sim = Sim::start();
    let garbled = Sim::with(SimConfig { fault: Some(Fault::NonJson200), ..SimConfig::default() });
    let unreachable = format!("http://127.0.0.1:{}/v1", closed_port());
    let judge = |base: &str, strict: bool| format!("{{ rubric: Coherent., base_url: \"{base}\", strict: {strict} }}");
    let cases = [
        (judge(&unreachable, false), 0, "WARN t", "no verdict: cannot connect to http://127.0.0.1:"),
        (judge(&unreachable, true), 3, "ERROR t", "judge (line 11) gave no verdict: cannot connect to"),
        (judge(&garbled.url(), false), 0, "WARN t", "no verdict: the judge's answer is not JSON"),
        (judge(&garbled.url(), true), 3, "ERROR t", "gave no verdict: the judge's answer is not JSON"),
    ];
    for (judge, code, line, message) in cases {
        let r = run(&suite(&sim.url(), &[("t", "Say hi", &judge)]), &[]);
        assert_eq!(r.out.code, code, "{judge}: {}", r.out.stdout);
        assert!(r.out.stdout.contains(line) && r.out.stdout.contains(message), "{judge}: {}", r.out.stdout);
        assert_eq!(case_names(&r.junit), ["t"]);
        let case = case(&r.junit, "t");
        assert!(case.contains(r#"<property name="judge_1_verdict" value="none"/>"#), "{case}");
        assert_eq!(code == 3, case.contains("<error"), "{case}");
    }
}

#[test]
fn a_broken_judge_is_found_by_validate_at_its_line() {
    let dir = TempDir::new();
    let spec = suite(
        "http://127.0.0.1:9",
        &[
            ("a", "q", "{ rubric: r, min_score: 2 }"),
            ("b", "q", "{ rubric: r, base_url: \"judge:8000\" }"),
            ("c", "q", "{ rubrik: r }"),
        ],
    );
    let path = dir.write("bad.yaml", &spec);
    let out = llmspec(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    let text = format!("{}{}", out.stdout, out.stderr);
    for expected in [
        "`min_score` is a score from 0 to 1, not 2",
        "bad.yaml:11:",
        "judge `base_url`: `judge:8000` is not an http:// or https:// URL with a host",
        "bad.yaml:18:",
        "unknown key `rubrik`; did you mean `rubric`?",
        "bad.yaml:25:",
    ] {
        assert!(text.contains(expected), "{expected}:\n{text}");
    }
}

const LITERAL_KEY: &str = "JudgeKeyLit4471qz";
const ENV_KEY: &str = "JudgeKeyEnv9034xw";

/// A judge that refuses every request with a 401 quoting the credential it was sent, as some
/// servers do. It answers `count` requests, or gives up after 60 s.
fn echoing_judge(count: usize) -> (u16, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut answered = 0;
        while answered < count && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    refuse_quoting_the_key(stream);
                    answered += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        answered
    });
    (port, handle)
}

fn refuse_quoting_the_key(mut stream: TcpStream) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    // The headers are all this judge reads; the body is left unread.
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 1 << 20 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let auth = text.lines().find_map(|l| l.strip_prefix("authorization: ")).unwrap_or("none").trim();
    let body = format!("{{\"error\": {{\"message\": \"Incorrect API key provided: {auth}\"}}}}");
    let response = format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// The key, and every piece of eight characters of it.
fn pieces(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    chars.windows(8).map(|w| w.iter().collect()).chain([key.to_string()]).collect()
}

fn assert_no_key(what: &str, text: &str) {
    for key in [LITERAL_KEY, ENV_KEY] {
        for piece in pieces(key) {
            assert!(!text.contains(&piece), "{what} shows {piece:?} of a judge's api_key:\n{text}");
        }
    }
}

#[test]
fn a_judge_api_key_never_shows_in_any_output() {
    let sim = Sim::start();
    let (port, judge) = echoing_judge(2);
    let base = format!("http://127.0.0.1:{port}/v1");
    let spec = suite(
        &sim.url(),
        &[
            ("literal", "Say hi", &format!("{{ rubric: Coherent., base_url: \"{base}\", api_key: {LITERAL_KEY} }}")),
            (
                "from env",
                "Say hi",
                &format!("{{ rubric: Coherent., base_url: \"{base}\", api_key: \"${{env.JUDGE_KEY}}\" }}"),
            ),
        ],
    );
    let r = run(&spec, &[("JUDGE_KEY", ENV_KEY)]);
    assert_eq!(judge.join().unwrap(), 2, "both judges were asked");
    assert_eq!(r.out.code, 0, "{}", r.out.stdout);
    // The refusal is reported, the key it quotes masked.
    assert!(r.out.stdout.contains("the judge answered 401"), "{}", r.out.stdout);
    assert!(r.out.stdout.contains("Incorrect API key provided: Bearer ***"), "{}", r.out.stdout);
    assert_no_key("stdout", &r.out.stdout);
    assert_no_key("stderr", &r.out.stderr);
    assert_no_key("JUnit", &r.junit);
    assert_no_key("JSON results", &r.json.to_string());

    // A spec error on the key's own line quotes the line: masked too.
    let dir = TempDir::new();
    let bad = suite(&sim.url(), &[("t", "q", &format!("{{ rubric: r, api_key: {LITERAL_KEY}, min_score: 9 }}"))]);
    let path = dir.write("bad.yaml", &bad);
    let junit = dir.path("j.xml");
    let out = llmspec(&["run", path.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(format!("{}{}", out.stdout, out.stderr).contains("`min_score` is a score from 0 to 1"));
    assert_no_key("spec error stdout", &out.stdout);
    assert_no_key("spec error stderr", &out.stderr);
    assert_no_key("spec error JUnit", &std::fs::read_to_string(&junit).unwrap());
}
