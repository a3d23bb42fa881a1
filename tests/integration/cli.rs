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
