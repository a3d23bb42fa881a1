//! Broken specs: every problem at once, with file:line:col and the line, before anything is sent.

use crate::support::{TempDir, llmspec, normalize};
use std::net::TcpListener;
use std::time::Duration;

const BROKEN: &str = r#"suite: broken
defaults:
  base_url: http://127.0.0.1:PORT
  timout: 5s
tests:
  - name: a
    request:
      POST: /v1/chat/completions
      json: { model: "${modle}", max_tokens: "${env.LLMSPEC_TEST_UNSET}" }
    expect:
      status: 2000
      latency: 5s
      metrics:
        ttft: "> 50"
        tokns_per_second: "> 50"
      json:
        $.choices[?@.index == 0: { exists: true }
        $.x: { matches: "(unclosed" }
  - name: b
    reqest:
      GET: /x
  - name: a
    request: { GET: /y, timeout: 5 }
    expect:
      json:
        $.a: { lenght: 3 }
"#;

#[test]
fn every_problem_is_reported_at_once_and_nothing_is_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let dir = TempDir::new();
    let spec = dir.write("broken.yaml", &BROKEN.replace("PORT", &port));
    let junit = dir.path("junit.xml");
    let out = llmspec(&["run", spec.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, "");
    insta::assert_snapshot!(normalize(&out.stderr, Some(&dir.0)).replace(&port, "PORT"));
    std::thread::sleep(Duration::from_millis(50));
    assert!(listener.accept().is_err(), "a request was sent despite spec errors");
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file is written even when specs are broken");
    assert!(xml.contains(r#"<testsuite name="spec errors" tests="13""#), "{xml}");
    crate::support::assert_valid_junit(&junit);
}

#[test]
fn yaml_syntax_errors_point_at_the_line() {
    let dir = TempDir::new();
    let spec = dir.write("syntax.yaml", "suite: s\ntests:\n  - name: a\n    request: {GET: /x\n");
    let out = llmspec(&["validate", spec.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    insta::assert_snapshot!(normalize(&out.stderr, Some(&dir.0)));
}

#[test]
fn missing_files_and_empty_directories_are_spec_errors() {
    let dir = TempDir::new();
    let out = llmspec(&["validate", dir.path("nope.yaml").to_str().unwrap(), dir.0.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    let err = normalize(&out.stderr, Some(&dir.0));
    assert!(err.contains("error: no such file or directory\n --> [dir]/nope.yaml"), "{err}");
    assert!(err.contains("this directory holds no *.yaml or *.yml file"), "{err}");
}

#[test]
fn suites_must_have_unique_names_and_a_base_url_for_paths() {
    let dir = TempDir::new();
    let a = dir.write("a.yaml", "suite: relative\ntests:\n  - name: t\n    request: { GET: /x }\n");
    let b = dir.write("b.yaml", "suite: same\ntests:\n  - name: t\n    request: { GET: http://127.0.0.1:9/x }\n");
    let c = dir.write("c.yaml", "suite: same\ntests:\n  - name: t\n    request: { GET: http://127.0.0.1:9/x }\n");
    let out = llmspec(&["validate", a.to_str().unwrap(), b.to_str().unwrap(), c.to_str().unwrap()]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("a relative path needs a base URL"), "{}", out.stderr);
    assert!(out.stderr.contains("suite `same` is also defined in"), "{}", out.stderr);
}
