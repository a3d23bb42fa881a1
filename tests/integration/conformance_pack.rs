//! The conformance pack against the simulator: the cases that compare two answers or do
//! arithmetic pass, and the server-operation cases (API key, request ids, /metrics, the
//! tokenizer routes, prompts × n) pass on a simulator that has those features and fail on one
//! that lacks them.

use crate::support::{Sim, llmspec_env};
use llmspec_sim::SimConfig;

const KEY: &str = "sk-conformance-key";

fn operations(sim: &Sim, env: &[(&str, &str)]) -> crate::support::Output {
    let mut args = vec!["run", "specs/conformance", "--base-url"];
    let url = sim.url();
    args.push(&url);
    for tag in ["c04", "c05", "c73", "c74", "c75", "c76", "c77"] {
        args.extend(["--tag", tag]);
    }
    args.extend(["--skip-tag", "llamacpp"]);
    llmspec_env(&args, env)
}

#[test]
fn the_server_operation_cases_pass_on_a_server_with_a_key_and_request_ids() {
    let sim =
        Sim::with(SimConfig { api_key: Some(KEY.into()), enable_request_id_headers: true, ..SimConfig::default() });
    let env = [("CONFORMANCE_AUTH", "1"), ("VLLM_API_KEY", KEY), ("CONFORMANCE_REQUEST_ID_HEADERS", "1")];
    let out = operations(&sim, &env);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for line in [
        "PASS C04 no API key is refused",
        "PASS C05 the right API key is accepted",
        "PASS C73 vLLM names the answer after X-Request-Id",
        "PASS C73 X-Request-Id is echoed",
        "PASS C74 /health answers without an API key",
        "PASS C74 the model list needs the API key",
        "PASS C75 the vLLM generation counter rose by the tokens generated",
        "PASS C76 vLLM detokenize gives the sentence back",
        "PASS C77 choices are prompts times n",
        "PASS C77 usage counts every choice",
    ] {
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
    assert!(!out.stdout.contains("requirement not met"), "{}", out.stdout);
}

#[test]
fn the_server_operation_cases_fail_on_a_server_without_a_key_or_request_ids() {
    let sim = Sim::start();
    let env = [("CONFORMANCE_AUTH", "1"), ("CONFORMANCE_REQUEST_ID_HEADERS", "1")];
    let out = operations(&sim, &env);
    assert_eq!(out.code, 1, "{}", out.stdout);
    for line in [
        "FAIL C04 no API key is refused",
        "FAIL C73 X-Request-Id is echoed",
        "FAIL C74 the model list needs the API key",
        "PASS C74 /health answers without an API key",
        "PASS C73 vLLM names the answer after X-Request-Id",
    ] {
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
}

#[test]
fn the_operation_cases_that_need_a_feature_are_skipped_without_it() {
    let sim = Sim::start();
    let out = operations(&sim, &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "SKIP C73 X-Request-Id is echoed (requirement not met: `${request_id_headers} == 1` (request_id_headers = 0))"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("SKIP C74 /health answers without an API key (requirement not met"), "{}", out.stdout);
}

#[test]
fn the_comparisons_and_the_usage_arithmetic_hold_on_the_simulator() {
    let sim = Sim::start();
    let url = sim.url();
    let out = llmspec_env(
        &[
            "run",
            "specs/conformance",
            "--base-url",
            &url,
            "--name",
            "^C(06|10|19|34|35|39|46|47|65) ",
            "--skip-tag",
            "llamacpp",
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for line in [
        "PASS C06 max_completion_tokens caps the answer",
        "PASS C10 the plain string gives the same answer as text parts",
        "PASS C19 another seed gives another sample",
        "PASS C34 streamed content equals the non-streamed content",
        "PASS C35 include_usage adds one final usage chunk",
        "PASS C39 streamed completion text equals the non-streamed text",
        "PASS C47 streamed tool call chosen by the model",
        "PASS C65 a prompt at 90% of the window is served",
    ] {
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
}

#[test]
fn c65_compares_the_counted_prompt_with_its_intended_size() {
    // Demanding four times the intended size: the server's count really is compared with it.
    let sim = Sim::start();
    let url = sim.url();
    let out = llmspec_env(
        &["run", "specs/conformance", "--base-url", &url, "--name", "^C65 a prompt", "--skip-tag", "llamacpp"],
        &[("CONFORMANCE_PROMPT_COUNT_SHARE", "4")],
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("FAIL C65 a prompt at 90% of the window is served"), "{}", out.stdout);
    assert!(out.stdout.contains("prompt_count_share * window * long_ratio"), "{}", out.stdout);
}
