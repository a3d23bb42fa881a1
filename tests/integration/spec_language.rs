//! Spec-writing conveniences, end to end against the simulator: YAML merge keys, removing a
//! default header, needles in a long context.

use crate::support::{Sim, TempDir, llmspec};

/// The first test writes the request once under anchors; the second merges it and changes only
/// what differs. Locations of merged values stay where they were written.
const MERGED: &str = r#"suite: merge keys
defaults: { base_url: "http://127.0.0.1:9" }
vars:
  checks: &answer_checks
    $.object: chat.completion
    $.choices[0].message.content: { not_empty: true }
tests:
  - name: first
    request: &chat
      POST: /v1/chat/completions
      headers: { X-Request-Id: first }
      json: &body
        messages: [{ role: user, content: "Say hello" }]
        max_tokens: 4
    expect:
      status: 200
      json: { <<: *answer_checks }
  - name: second, merged
    request:
      <<: *chat
      json:
        <<: *body
        max_tokens: 2
    expect:
      status: 200
      json:
        <<: *answer_checks
        $.usage.completion_tokens: 2
"#;

#[test]
fn merge_keys_write_a_request_once_and_change_what_differs() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write("merge.yaml", MERGED);
    let out = llmspec(&["validate", spec.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let json = dir.path("r.json");
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let tests = &doc["suites"][0]["tests"];
    assert_eq!(tests.as_array().map(Vec::len), Some(2), "{doc}");
    assert_eq!(tests[1]["verdict"], "passed", "{doc}");

    // A mistake inside a merged mapping is reported where it was written, in the anchor.
    let broken = MERGED.replace("not_empty: true", "not_emty: true");
    let spec = dir.write("broken.yaml", &broken);
    let out = llmspec(&["validate", spec.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("unknown key `not_emty`; did you mean `not_empty`?"), "{}", out.stderr);
    assert!(out.stderr.contains("broken.yaml:6:"), "{}", out.stderr);
    assert!(!out.stderr.contains("<<"), "{}", out.stderr);
}

/// A needle in 2,000 tokens of filler, sized from a capture; the simulator counts a token per
/// four characters, so the prompt it reports is the size asked for plus the chat's overhead.
#[test]
fn a_needle_in_a_haystack_is_sent_at_the_size_asked() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "needle.yaml",
        r#"suite: needle
defaults: { base_url: "http://127.0.0.1:9" }
tests:
  - name: window
    request: { GET: /v1/models }
    capture:
      size: { json: "$.data[0].nothing", default: 2000 }
  - name: needle at 35%
    request:
      POST: /v1/chat/completions
      json:
        max_tokens: 4
        messages:
          - role: user
            content:
              $fill:
                tokens: "${size}"
                needle: "The secret word is ORCHID. "
                depth: 0.35
                before: "Read the text below.\n"
                after: "\nWhat is the secret word?"
    expect:
      status: 200
      json:
        $.usage.prompt_tokens: { gte: 2000, lte: 2030 }
"#,
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    // A misspelt key would leave the needle out silently: it is a spec error before anything runs.
    let typo = dir.write("typo.yaml", &std::fs::read_to_string(&spec).unwrap().replace("needle:", "neddle:"));
    let out = llmspec(&["validate", typo.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("unknown `$fill` key `neddle`; did you mean `needle`?"), "{}", out.stderr);
}
