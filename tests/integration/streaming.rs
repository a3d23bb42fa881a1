//! Streamed answers: framing, faults, LLM metrics and tool calls.

use crate::support::{Sim, TempDir, llmspec, normalize};
use llmspec_sim::SimConfig;

fn run_spec(sim: &Sim, dir: &TempDir, body: &str) -> crate::support::Output {
    let spec = dir.write("s.yaml", &format!("suite: streaming\ntests:\n{body}"));
    llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()])
}

fn faulty(fault: &str, extra_expect: &str) -> String {
    format!(
        r#"  - name: {fault}
    request:
      POST: /v1/chat/completions
      stream: true
      idle_timeout: 300ms
      headers: {{ x-sim-fault: {fault}, x-sim-output-tokens: 8 }}
      json: {{ messages: [{{ role: user, content: hi }}], max_tokens: 8 }}
    expect:
      status: 200{extra_expect}
"#
    )
}

#[test]
fn a_good_stream_meets_its_stream_and_metric_bounds() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let out = run_spec(
        &sim,
        &dir,
        r#"  - name: streaming chat
    request:
      POST: /v1/chat/completions
      stream: true
      headers: { x-sim-ttft: 150ms, x-sim-chunk-delay: 20ms, x-sim-output-tokens: 6 }
      json: { messages: [{ role: user, content: "Raconte une histoire" }], max_tokens: 50 }
    expect:
      status: 200
      headers:
        content-type: { contains: text/event-stream }
      stream:
        done: true
        chunks: ">= 2"
        max_gap: < 1s
        usage: true
        one_finish_reason: true
      metrics:
        ttft: < 1s
        ttfb: < 1s
        tpot: < 100ms
        tokens_per_second: "> 5"
        output_tokens: == 6
      json:
        $.object: chat.completion
        $.choices[0].message.content: { not_empty: true }
        $.choices[0].finish_reason: stop
        $.usage.completion_tokens: 6
      events:
        $[0].choices[0].delta.role: assistant
        $[*].object: { contains: chat.completion.chunk }
"#,
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
}

#[test]
fn a_slow_first_token_fails_the_ttft_bound() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let out = run_spec(
        &sim,
        &dir,
        r#"  - name: slow first token
    request:
      POST: /v1/chat/completions
      stream: true
      headers: { x-sim-ttft: 300ms }
      json: { messages: [{ role: user, content: hi }], max_tokens: 4 }
    expect:
      metrics:
        ttft: < 100ms
"#,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("error: ttft: expected < 100ms"), "{}", out.stdout);
    let actual = out.stdout.lines().find(|l| l.contains("=   actual:")).unwrap();
    let ms: f64 = actual.rsplit(' ').next().unwrap().trim_end_matches("ms").parse().unwrap();
    // At least the delay; the upper bound only guards against a wrong unit (CI machines are busy).
    assert!((300.0..1500.0).contains(&ms), "measured TTFT {ms} ms for a 300 ms delay");
}

#[test]
fn usage_can_be_left_out_and_tokens_are_then_estimated() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let out = run_spec(
        &sim,
        &dir,
        r#"  - name: no usage
    request:
      POST: /v1/completions
      stream: true
      include_usage: false
      headers: { x-sim-output-tokens: 5 }
      json: { prompt: "1, 2, 3,", max_tokens: 5 }
    expect:
      stream: { usage: false, done: true }
      metrics:
        output_tokens: "> 50"
      json:
        $.object: text_completion
        $.choices[0].text: { not_empty: true }
"#,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("=   actual: 5 (tokens estimated from chunks)"), "{}", out.stdout);
}

#[test]
fn broken_streams_get_error_verdicts_that_say_why() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let body: String = ["reset-mid-stream", "stall", "no-done", "error-event", "malformed-chunk"]
        .iter()
        .map(|f| faulty(f, ""))
        .collect();
    let out = run_spec(&sim, &dir, &body);
    assert_eq!(out.code, 3, "{}", out.stdout);
    insta::assert_snapshot!(normalize(&out.stdout, Some(&dir.0)));
}

#[test]
fn a_spec_may_expect_a_missing_done_or_an_error_event() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let body = faulty("no-done", "\n      stream: { done: false }")
        + &faulty("error-event", "\n      stream:\n        error: { exists: true }\n        done: true");
    let out = run_spec(&sim, &dir, &body);
    assert_eq!(out.code, 0, "{}", out.stdout);
}

const TOOLS: &str = r#"
        tools:
          - type: function
            function:
              name: get_weather
              description: Current weather in a city
              parameters:
                type: object
                properties:
                  city: { type: string }
                  unit: { type: string, enum: [celsius, fahrenheit] }
                required: [city]
        tool_choice: required"#;

#[test]
fn tool_calls_are_checked_the_same_streamed_or_not() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let test = |name: &str, stream: bool| {
        format!(
            r#"  - name: {name}
    request:
      POST: /v1/chat/completions
      stream: {stream}
      json:
        messages: [{{ role: user, content: "Quel temps fait-il à Paris ?" }}]
        max_tokens: 200{TOOLS}
    expect:
      tool_call:
        name: get_weather
        arguments_match_schema: true
        arguments:
          $.city: {{ matches: "(?i)paris" }}
      json:
        $.choices[0].finish_reason: tool_calls
"#
        )
    };
    let out = run_spec(&sim, &dir, &(test("non-streamed", false) + &test("streamed", true)));
    assert_eq!(out.code, 0, "{}", out.stdout);
}

#[test]
fn a_wrong_tool_expectation_shows_the_arguments() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let body = format!(
        r#"  - name: wrong tool
    request:
      POST: /v1/chat/completions
      stream: true
      json:
        messages: [{{ role: user, content: "Quel temps fait-il à Paris ?" }}]
        max_tokens: 200{TOOLS}
    expect:
      tool_call:
        name: get_weather
        arguments:
          $.city: Lyon
  - name: no tool wanted
    request:
      POST: /v1/chat/completions
      json:
        messages: [{{ role: user, content: "Quel temps fait-il à Paris ?" }}]
        max_tokens: 200{TOOLS}
    expect:
      no_tool_call: true
"#
    );
    let out = run_spec(&sim, &dir, &body);
    assert_eq!(out.code, 1, "{}", out.stdout);
    insta::assert_snapshot!(normalize(&out.stdout, Some(&dir.0)));
}

#[test]
fn reasoning_is_reassembled_under_the_servers_field_names() {
    let sim = Sim::with(SimConfig { reasoning: true, ..SimConfig::default() });
    let dir = TempDir::new();
    let out = run_spec(
        &sim,
        &dir,
        r#"  - name: reasoning
    request:
      POST: /v1/chat/completions
      stream: true
      json: { messages: [{ role: user, content: "Think" }], max_tokens: 40 }
    expect:
      json:
        $.choices[0].message.reasoning_content: { not_empty: true }
        $.choices[0].message.reasoning: { not_empty: true }
        $.choices[0].message.content: { not_empty: true }
      metrics:
        ttft: < 1s
"#,
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
}

#[test]
fn a_schema_check_validates_any_value() {
    let sim = Sim::start();
    let dir = TempDir::new();
    dir.write("usage.schema.json", r#"{"type": "object", "required": ["prompt_tokens", "completion_tokens"], "properties": {"completion_tokens": {"maximum": 2}}}"#);
    let out = run_spec(
        &sim,
        &dir,
        r#"  - name: schema
    request:
      POST: /v1/chat/completions
      json: { messages: [{ role: user, content: hi }], max_tokens: 5 }
    expect:
      schema:
        - at: $.choices[0].message
          schema: { type: object, required: [role, content] }
        - at: $.usage
          file: usage.schema.json
"#,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("error: schema $.usage: expected a value at $.usage valid against the usage.schema.json schema"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("at /completion_tokens: 5 is greater than the maximum of 2"), "{}", out.stdout);
}
