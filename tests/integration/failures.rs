//! Failed expectations: the verdict and the message (spec line, expected, actual, response).

use crate::support::{Sim, TempDir, llmspec, normalize};

#[test]
fn every_failed_check_names_its_line_and_both_values() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "wrong.yaml",
        r#"suite: wrong expectations
tests:
  - name: chat with wrong expectations
    request:
      POST: /v1/chat/completions
      json:
        messages: [{ role: user, content: "Say hello" }]
        max_tokens: 4
    expect:
      status: [201, 202]
      headers:
        content-type: { contains: text/html }
      json:
        $.object: chat.completion
        $.choices[0].finish_reason: { one_of: [stop, tool_calls] }
        $.choices[0].message.content: { matches: "^Bonjour" }
        $.usage.completion_tokens: { gt: 10 }
        $.choices[*].index: { length: 2 }
        $.missing: { exists: true }
      body: { not: { contains: "chatcmpl" } }
      latency: < 1us
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 1);
    insta::assert_snapshot!(normalize(&out.stdout, Some(&dir.0)));
}

#[test]
fn negated_and_combined_predicates_pass_when_they_hold() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "right.yaml",
        r#"suite: right expectations
tests:
  - name: chat
    request:
      POST: /v1/chat/completions
      json:
        messages: [{ role: user, content: "Say hello" }]
        max_tokens: 4
    expect:
      status: [200, 201]
      headers:
        content-type: { contains: application/json }
        x-absent: { exists: false }
      json:
        $.id: { type: string, matches: "^chatcmpl-", not_empty: true }
        $.choices: { length: 1, type: array }
        $.choices[0].message.role: { eq: assistant, ne: user, one_of: [assistant] }
        $.usage.completion_tokens: { gte: 1, lte: 4, type: integer }
        $.usage.total_tokens: { gt: 4 }
        $.choices[*].index: { contains: 0, count: ">= 1" }
        $.choices[0].logprobs: { not: { not_empty: true } }
        $.nothing: { not: { exists: true } }
      body: { contains: '"object":"chat.completion"' }
      latency: < 5s
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
}

#[test]
fn a_misspelt_json_path_gets_a_did_you_mean() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "typo.yaml",
        r#"suite: typo
tests:
  - name: chat
    request:
      POST: /v1/chat/completions
      json: { messages: [{ role: user, content: "Say hello" }], max_tokens: 4 }
    expect:
      json:
        $.choices[0].message.contnet: { not_empty: true }
        $.usage.completion_tokens: 4
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let wanted = "actual: nothing (no match: $.choices[0].message has no key `contnet`; did you mean `content`?)";
    assert!(out.stdout.contains(wanted), "{}", out.stdout);
    assert_eq!(out.stdout.matches("error:").count(), 1, "{}", out.stdout);
}
