//! Servers that do not answer properly: an error verdict with the reason, never a hang.

use crate::support::{Sim, TempDir, llmspec, normalize};
use std::time::{Duration, Instant};

fn spec_with_header(dir: &TempDir, fault_header: &str, timeout: &str) -> String {
    let spec = dir.write(
        "t.yaml",
        &format!(
            r#"suite: transport
defaults:
  timeout: {timeout}
tests:
  - name: faulty
    request:
      POST: /v1/chat/completions
      headers: {{ {fault_header} }}
      json: {{ messages: [{{ role: user, content: hi }}], max_tokens: 4 }}
    expect:
      status: 200
  - name: next test still runs
    request: {{ GET: /health }}
    expect: {{ status: 200 }}
"#
        ),
    );
    spec.to_str().unwrap().to_string()
}

#[test]
fn an_unreachable_server_gives_error_verdicts() {
    let dir = TempDir::new();
    let spec = spec_with_header(&dir, "x-a: b", "5s");
    let started = Instant::now();
    let out = llmspec(&["run", &spec, "--base-url", "http://127.0.0.1:9"]);
    assert_eq!(out.code, 3);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(out.stdout.contains("ERROR faulty"), "{}", out.stdout);
    assert!(out.stdout.contains("cannot connect to http://127.0.0.1:9/v1/chat/completions"), "{}", out.stdout);
    assert!(out.stdout.contains("0 passed, 0 failed, 2 errors"), "{}", out.stdout);
}

#[test]
fn a_dropped_connection_is_an_error_and_the_run_goes_on() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let out = llmspec(&["run", &spec_with_header(&dir, "x-sim-fault: drop", "5s"), "--base-url", &sim.url()]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    insta::assert_snapshot!(normalize(&out.stdout, Some(&dir.0)));
}

#[test]
fn a_reset_body_is_an_error() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let out =
        llmspec(&["run", &spec_with_header(&dir, "x-sim-fault: reset-mid-stream", "5s"), "--base-url", &sim.url()]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(out.stdout.contains("the connection broke after"), "{}", out.stdout);
    assert!(out.stdout.contains("PASS next test still runs"), "{}", out.stdout);
}

#[test]
fn a_slow_server_times_out_without_hanging() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let started = Instant::now();
    let out = llmspec(&["run", &spec_with_header(&dir, "x-sim-latency: 3s", "300ms"), "--base-url", &sim.url()]);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert_eq!(out.code, 3);
    assert!(out.stdout.contains("within 300ms (timeout)"), "{}", out.stdout);
}

#[test]
fn a_ten_megabyte_answer_is_read_and_judged() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let out = llmspec(&["run", &spec_with_header(&dir, "x-sim-fault: huge-body", "30s"), "--base-url", &sim.url()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
}

#[test]
fn a_server_error_is_a_failure_with_the_body() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let out = llmspec(&["run", &spec_with_header(&dir, "x-sim-fault: status-500", "5s"), "--base-url", &sim.url()]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("error: status: expected 200"), "{}", out.stdout);
    assert!(out.stdout.contains("response: 500"), "{}", out.stdout);
}
