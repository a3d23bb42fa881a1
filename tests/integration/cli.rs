//! The command line: selection, exit codes, the built-in simulator.

use crate::support::{Sim, TempDir, llmspec, normalize};

#[test]
fn the_seed_specs_pass_against_the_simulator() {
    let sim = Sim::start();
    let out = llmspec(&["run", "specs/vllm-medium", "--tag", "quick", "--base-url", &sim.url()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("PASSED:"), "{}", out.stdout);
    assert!(!out.stdout.contains("FAIL "), "{}", out.stdout);
}

#[test]
fn run_with_sim_starts_its_own_simulator() {
    let out = llmspec(&["run", "--sim", "specs/vllm-medium/01-basics.yaml"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("llmspec sim listening on http://127.0.0.1:"), "{}", out.stderr);
}

const TWO_TESTS: &str = r#"
suite: selection
tests:
  - name: health
    tags: [quick]
    request: { GET: /health }
    expect: { status: 200 }
  - name: models
    tags: [slow]
    request: { GET: /v1/models }
    expect: { status: 200 }
"#;

#[test]
fn tags_and_names_select_and_the_rest_is_skipped() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write("s.yaml", TWO_TESTS);
    let spec = spec.to_str().unwrap();
    let out = llmspec(&["run", spec, "--base-url", &sim.url(), "--tag", "quick"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("PASS health"));
    assert!(out.stdout.contains("SKIP models (not selected: has none of the tags quick)"), "{}", out.stdout);
    let out = llmspec(&["run", spec, "--base-url", &sim.url(), "--name", "^mod"]);
    assert!(out.stdout.contains("SKIP health (not selected: name does not match /^mod/)"), "{}", out.stdout);
    assert!(out.stdout.contains("PASS models"));
    let out = llmspec(&["run", spec, "--base-url", &sim.url(), "--skip-tag", "slow"]);
    assert!(out.stdout.contains("PASS health"), "{}", out.stdout);
    assert!(out.stdout.contains("SKIP models (not selected: tagged `slow` (--skip-tag))"), "{}", out.stdout);
}

#[test]
fn fail_fast_skips_what_remains() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write("s.yaml", &TWO_TESTS.replacen("status: 200", "status: 201", 1));
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--fail-fast"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("SKIP models (not run: --fail-fast stopped the run after a failure)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("stopped early"), "{}", out.stdout);
}

#[test]
fn exit_codes_tell_failures_from_spec_errors_and_unreachable_servers() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let ok = dir.write("ok.yaml", TWO_TESTS);
    let failing = dir.write("fail.yaml", &TWO_TESTS.replace("status: 200", "status: 500"));
    let broken = dir.write("broken.yaml", "suite: x\ntests: 3\n");
    let code = |spec: &std::path::Path, url: &str| llmspec(&["run", spec.to_str().unwrap(), "--base-url", url]).code;
    assert_eq!(code(&ok, &sim.url()), 0);
    assert_eq!(code(&failing, &sim.url()), 1);
    assert_eq!(code(&broken, &sim.url()), 2);
    assert_eq!(code(&ok, "http://127.0.0.1:9"), 3);
    assert_eq!(llmspec(&["run", "--no-such-flag"]).code, 2);
}

#[test]
fn validate_checks_without_sending() {
    let out = llmspec(&["validate", "specs"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("ok: "), "{}", out.stdout);
}

#[test]
fn variables_from_the_command_line_keep_their_type() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "s.yaml",
        r#"
suite: vars
vars:
  max: 3
tests:
  - name: capped
    request:
      POST: /v1/completions
      json: { prompt: "count", max_tokens: "${max}" }
    expect:
      json:
        $.usage.completion_tokens: ${max}
        $.choices[0].finish_reason: length
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--var", "max=2"]);
    assert_eq!(out.code, 0, "{}", normalize(&out.stdout, None));
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 0, "{}", normalize(&out.stdout, None));
}

#[test]
fn captures_flow_to_later_tests() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "s.yaml",
        r#"
suite: captures
tests:
  - name: discover
    request: { GET: /v1/models }
    capture:
      model: $.data[0].id
      length: $.data[0].max_model_len
  - name: use them
    request:
      POST: /v1/chat/completions
      json:
        model: ${model}
        messages: [{ role: user, content: "max ${length}" }]
        max_tokens: 2
    expect:
      status: 200
      json:
        $.model: sim-model
  - name: a capture that finds nothing fails
    request: { GET: /v1/models }
    capture:
      nothing: $.data[5].id
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("PASS use them"), "{}", out.stdout);
    assert!(out.stdout.contains("error: capture nothing: expected a value at $.data[5].id"), "{}", out.stdout);
    // Selecting a test also runs the earlier tests whose captures it uses.
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--name", "use them"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("PASS discover") && out.stdout.contains("PASS use them"), "{}", out.stdout);
    assert!(out.stdout.contains("SKIP a capture that finds nothing fails"), "{}", out.stdout);
}

#[test]
fn header_regex_and_default_captures() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "s.yaml",
        r#"
suite: capture sources
tests:
  - name: take
    request: { GET: /v1/models }
    capture:
      kind: { header: content-type }
      id: { regex: '"id":"([^"]+)"' }
      window: { json: "$.data[0].nothing", default: 123 }
  - name: use
    # The simulator refuses a body that is not declared JSON, and an unknown model: a 200 proves
    # the header and regex captures; the requirement proves the default.
    require: ["${window} == 123"]
    request:
      POST: /v1/completions
      headers: { Content-Type: "${kind}" }
      json: { model: "${id}", prompt: hello, max_tokens: 2 }
    expect:
      status: 200
      json:
        $.model: sim-model
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("PASS use"), "{}", out.stdout);
}

#[test]
fn the_command_line_timeout_is_the_default_and_a_tests_own_wins() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "s.yaml",
        r#"
suite: timeouts
tests:
  - name: default
    request: { POST: /v1/completions, headers: { x-sim-latency: 1s }, json: { prompt: a, max_tokens: 1 } }
  - name: own
    request: { POST: /v1/completions, headers: { x-sim-latency: 1s }, json: { prompt: a, max_tokens: 1 }, timeout: 5s }
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--timeout", "200ms"]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(out.stdout.contains("ERROR default") && out.stdout.contains("within 200ms (timeout)"), "{}", out.stdout);
    assert!(out.stdout.contains("PASS own"), "{}", out.stdout);
    for zero in ["0s", "0ms"] {
        let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--timeout", zero]);
        assert_eq!(out.code, 2, "--timeout {zero}: {}", out.stdout);
        assert!(out.stderr.contains("must be longer than zero"), "{}", out.stderr);
    }
}

#[test]
fn advisory_tests_warn_and_requirements_skip() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "s.yaml",
        r#"
suite: soft
tests:
  - name: window
    request: { GET: /v1/models }
    capture: { window: "$.data[0].max_model_len" }
  - name: wishful
    advisory: true
    request: { GET: /health }
    expect: { status: 201 }
  - name: needs a big window
    require: ["${window} > 100000"]
    request: { GET: /health }
"#,
    );
    let junit = dir.path("j.xml");
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.code, 0, "an advisory failure never makes the run red: {}", out.stdout);
    assert!(out.stdout.contains("WARN wishful"), "{}", out.stdout);
    assert!(out.stdout.contains("(1 with advisory warnings)"), "{}", out.stdout);
    assert!(
        out.stdout.contains("SKIP needs a big window (requirement not met: `${window} > 100000` (window = 4096))"),
        "{}",
        out.stdout
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<property name="advisory" value="advisory: status: expected 201, got 200"/>"#), "{xml}");
}

#[test]
fn command_samples_need_permission() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "s.yaml",
        r#"
suite: sampled
tests:
  - name: short soak
    soak: { duration: 600ms, interval: 100ms }
    sample:
      answer: { command: [echo, "42 MiB"], every: 100ms }
    request: { GET: /health }
    expect:
      thresholds: [max(answer) == 42]
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(out.stdout.contains("runs a command: refused without --allow-exec"), "{}", out.stdout);
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--allow-exec"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("PASS short soak: max(answer) == 42 (measured 42)"), "{}", out.stdout);
}

#[test]
fn read_limits_are_set_on_the_command_line() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "limit.yaml",
        "suite: limits\ntests:\n  - name: long line\n    request:\n      POST: /v1/chat/completions\n      stream: true\n      headers: { x-sim-fault: huge-line }\n      json: { messages: [{ role: user, content: hi }] }\n",
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--max-line-bytes", "64KiB"]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(out.stdout.contains("longer than 64 KiB") && out.stdout.contains("--max-line-bytes"), "{}", out.stdout);
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--max-line-bytes", "lots"]);
    assert_eq!(out.code, 2, "{}", out.stderr);

    // Each of the other sizes reaches the read path: a small one turns an ordinary answer into
    // an error that names its flag.
    let request = |stream: bool, headers: &str| {
        format!(
            "suite: limits\ntests:\n  - name: answer\n    request:\n      POST: /v1/chat/completions\n      stream: {stream}\n      headers: {{ {headers} }}\n      json: {{ messages: [{{ role: user, content: hi }}] }}\n"
        )
    };
    let cases = [
        ("--max-body-bytes", request(false, "x-sim-fault: huge-body")),
        ("--max-answer-bytes", request(true, "x-sim-output-tokens: 2000")),
        ("--max-event-bytes", request(true, "x-sim-tokens-per-chunk: 2000, x-sim-output-tokens: 2000")),
    ];
    for (flag, text) in cases {
        let spec = dir.write("limit.yaml", &text);
        let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), flag, "1KiB"]);
        assert_eq!(out.code, 3, "{flag}: {}", out.stdout);
        assert!(out.stdout.contains(flag) && out.stdout.contains("1 KiB"), "{flag}: {}", out.stdout);
        let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
        assert_eq!(out.code, 0, "{flag}, default limits: {}", out.stdout);
    }
}
