//! The JUnit report: valid for CI readers, complete, and free of secrets.

use crate::support::{Sim, TempDir, assert_valid_junit, llmspec, llmspec_env};

const MIXED: &str = r#"suite: mixed
secrets:
  token: ${env.LLMSPEC_TEST_TOKEN}
defaults:
  headers:
    Authorization: Bearer ${token}
    X-Custom-Secret: custom-header-secret
  secret_headers: [X-Custom-Secret]
tests:
  - name: passes
    request: { GET: /health }
    expect: { status: 200 }
  - name: fails
    request:
      POST: /v1/chat/completions
      json:
        messages: [{ role: user, content: "my token is ${token}" }]
        max_tokens: 3
    expect:
      json:
        $.choices[0].finish_reason: stop
  - name: errors
    request: { GET: "http://127.0.0.1:9/health" }
  - name: skipped
    skip: not today
    request: { GET: /health }
"#;

#[test]
fn the_report_validates_and_carries_every_verdict() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write("mixed.yaml", MIXED);
    let junit = dir.path("out/report.xml");
    let out = llmspec_env(
        &["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--junit", junit.to_str().unwrap()],
        &[("LLMSPEC_TEST_TOKEN", "sk-very-secret-value")],
    );
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert_valid_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<testsuites name="llmspec" tests="4" skipped="1" failures="1" errors="1""#), "{xml}");
    assert!(xml.contains(r#"<testcase name="passes" classname="mixed""#), "{xml}");
    assert!(xml.contains(r#"line="10""#), "{xml}");
    assert!(xml.contains(r#"<property name="latency_ms""#), "{xml}");
    assert!(xml.contains(r#"<failure message="$.choices[0].finish_reason: expected == &quot;stop&quot;, got &quot;length&quot;" type="assertion">"#), "{xml}");
    assert!(xml.contains("mixed.yaml:21:9"), "the failure body points at the spec line: {xml}");
    assert!(xml.contains(r#"<error message="cannot connect to http://127.0.0.1:9/health"#), "{xml}");
    assert!(
        xml.contains(r#"<skipped message="skipped by the spec: not today">skipped by the spec: not today</skipped>"#),
        "{xml}"
    );
    for (name, text) in [("console", &out.stdout), ("junit", &xml)] {
        assert!(!text.contains("sk-very-secret-value"), "the secret leaked into the {name} output");
        assert!(!text.contains("custom-header-secret"), "a secret header leaked into the {name} output");
    }
    assert!(xml.contains("my token is ***"), "the request transcript shows the masked secret: {xml}");
}

#[test]
fn secrets_from_the_command_line_are_masked_too() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "s.yaml",
        r#"suite: s
tests:
  - name: echo
    request:
      POST: /v1/chat/completions
      json: { messages: [{ role: user, content: "${key}" }], max_tokens: 2 }
    expect: { status: 201 }
"#,
    );
    let junit = dir.path("j.xml");
    let out = llmspec(&[
        "run",
        spec.to_str().unwrap(),
        "--base-url",
        &sim.url(),
        "--secret",
        "key=hunter2-secret",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(!out.stdout.contains("hunter2-secret") && !xml.contains("hunter2-secret"));
    assert!(out.stdout.contains(r#""content":"***""#), "{}", out.stdout);
}

#[test]
fn the_report_is_replaced_whole() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write("ok.yaml", "suite: ok\ntests:\n  - name: h\n    request: { GET: /health }\n");
    let junit = dir.write("j.xml", "old content that must disappear");
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.code, 0);
    assert_valid_junit(&junit);
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 2, "no temporary file is left behind: {leftovers:?}");
}

#[test]
fn an_interrupted_run_still_writes_its_report() {
    stopped_by_signal("INT", 130, "interrupted (SIGINT)", "INTERRUPTED");
}

/// CI runners send SIGTERM when a job is cancelled or times out.
#[test]
fn a_terminated_run_still_writes_its_report() {
    stopped_by_signal("TERM", 143, "terminated (SIGTERM)", "TERMINATED");
}

fn stopped_by_signal(signal: &str, code: i32, reason: &str, word: &str) {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "slow.yaml",
        "suite: slow\ntests:\n  - name: slow\n    request: { GET: /health }\n  - name: slower\n    request:\n      POST: /v1/chat/completions\n      headers: { x-sim-latency: 20s }\n      json: { messages: [{ role: user, content: hi }] }\n  - name: never\n    request: { GET: /health }\n",
    );
    let junit = dir.path("j.xml");
    // Interrupt once the first test has finished: the slow one is then in flight, and the
    // Ctrl-C handler, installed before the run starts, is surely in place.
    let args = ["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--junit", junit.to_str().unwrap()];
    let stopped = crate::support::signalled(&args, "PASS slow", std::time::Duration::from_millis(200), signal);
    let rest = stopped.rest;
    assert!(stopped.stopped_in < std::time::Duration::from_secs(5), "the run stops promptly");
    assert_eq!(stopped.code, Some(code));
    assert!(rest.contains(&format!("{word}: 1 passed, 0 failed, 0 errors, 2 skipped")), "{rest}");
    assert!(!rest.contains("PASSED"), "{rest}");
    assert_valid_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(&format!(r#"<skipped message="not finished: {reason}">not finished: {reason}</skipped>"#)),
        "{xml}"
    );
    assert!(xml.contains(&format!(r#"<skipped message="not run: {reason}">not run: {reason}</skipped>"#)), "{xml}");
}

const FOR_CI: &str = r#"suite: for ci
tests:
  - name: fails
    request:
      POST: /v1/chat/completions
      json: { messages: [{ role: user, content: hi }], max_tokens: 3 }
    expect:
      status: 200
      json:
        $.choices[0].finish_reason: stop
  - name: advisory
    advisory: true
    request: { GET: /health }
    expect: { status: 201 }
  - name: skipped
    skip: not today
    request: { GET: /health }
"#;

#[test]
fn ci_reports_name_files_from_the_repository_root_and_reach_github() {
    let sim = Sim::start();
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.path(".git")).unwrap();
    let spec = dir.write("specs/ci.yaml", FOR_CI);
    let (junit, summary, metrics, step) =
        (dir.path("out/r.xml"), dir.path("out/summary.md"), dir.path("out/metrics.txt"), dir.path("step.md"));
    std::fs::write(&step, "before\n").unwrap();
    let out = llmspec_env(
        &[
            "run",
            spec.to_str().unwrap(),
            "--base-url",
            &sim.url(),
            "--junit",
            junit.to_str().unwrap(),
            "--summary",
            summary.to_str().unwrap(),
            "--metrics",
            metrics.to_str().unwrap(),
        ],
        &[("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", step.to_str().unwrap())],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_valid_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    // An absolute path typed on the command line, named from the folder holding `.git`.
    assert!(xml.contains(r#"<testcase name="fails" classname="for ci" time="#), "{xml}");
    assert!(xml.contains(r#"file="specs/ci.yaml" line="10""#), "the line of the failed expectation: {xml}");
    assert!(
        xml.contains(r#"<skipped message="skipped by the spec: not today">skipped by the spec: not today</skipped>"#),
        "{xml}"
    );
    // The advisory's warning, at its expectation, for GitHub.
    assert!(
        out.stdout
            .contains("::warning file=specs/ci.yaml,line=14,title=advisory%3A advisory::status: expected 201, got 200"),
        "{}",
        out.stdout
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("| for ci › fails | specs/ci.yaml:10 |"), "{md}");
    assert_eq!(std::fs::read_to_string(&step).unwrap(), format!("before\n{md}"));
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(text.contains(r#"llmspec_tests{verdict="failed"} 1"#) && text.ends_with("# EOF\n"), "{text}");
}
