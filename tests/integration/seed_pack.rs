//! The seed's specs pass against a well-behaved simulator (see cli.rs) and fail, each with a
//! clear message, against one made to misbehave.

use crate::support::{Sim, llmspec};
use llmspec_sim::{Fault, SimConfig};
use std::time::Duration;

fn run(config: SimConfig, spec: &str) -> crate::support::Output {
    let sim = Sim::with(config);
    llmspec(&["run", spec, "--base-url", &sim.url()])
}

#[test]
fn a_slow_first_token_fails_seed_test_9() {
    let out = run(
        SimConfig { ttft: Duration::from_millis(1200), ..SimConfig::default() },
        "specs/vllm-medium/08-streaming.yaml",
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("FAIL 09 time to first token"), "{}", out.stdout);
    assert!(out.stdout.contains("error: ttft: expected < 1.00s"), "{}", out.stdout);
}

#[test]
fn a_long_pause_between_chunks_fails_seed_test_8() {
    let config = SimConfig { chunk_delay: Duration::from_millis(1100), output_tokens: 3, ..SimConfig::default() };
    let out = run(config, "specs/vllm-medium/08-streaming.yaml");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("error: stream max_gap: expected < 1.00s"), "{}", out.stdout);
}

#[test]
fn a_stream_without_done_is_an_error_in_seed_test_8() {
    let out =
        run(SimConfig { fault: Some(Fault::NoDone), ..SimConfig::default() }, "specs/vllm-medium/08-streaming.yaml");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("error: stream done: expected data: [DONE] at the end"), "{}", out.stdout);
}

#[test]
fn a_model_that_calls_no_tool_fails_seed_test_6() {
    let out = run(SimConfig { no_tool_calls: true, ..SimConfig::default() }, "specs/vllm-medium/06-tool-calling.yaml");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(out.stdout.matches("error: tool call: expected a call of `get_weather`").count(), 2, "{}", out.stdout);
    assert!(out.stdout.contains("actual: no tool call; content"), "{}", out.stdout);
}

#[test]
fn a_malformed_stream_is_an_error_in_seed_test_6() {
    let out = run(
        SimConfig { fault: Some(Fault::MalformedChunk), ..SimConfig::default() },
        "specs/vllm-medium/06-tool-calling.yaml",
    );
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(out.stdout.contains("ERROR 06b streamed tool call for the weather in Paris"), "{}", out.stdout);
    assert!(out.stdout.contains("the stream is malformed: event"), "{}", out.stdout);
}
