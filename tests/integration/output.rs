//! A hostile server cannot rewrite the CI log: control characters it sends are shown as escapes.

use crate::support::{TempDir, assert_valid_junit, llmspec};

/// Answers every connection once with `body` as text/plain, then stops (a bounded number of
/// connections, on loopback).
fn raw_server(body: &'static [u8], connections: usize) -> String {
    crate::support::http_server(connections, move |_, _| crate::support::http_response("200 OK", "text/plain", body))
}

#[test]
fn control_characters_from_a_server_are_escaped_everywhere() {
    let hostile: &[u8] = b"\x1b]0;owned\x07\x1b[2K\r  PASS everything\x1b[0m\x00\x08\xc2\x9b31m";
    let url = raw_server(hostile, 1);
    let dir = TempDir::new();
    let spec = dir.write(
        "t.yaml",
        "suite: hostile\ntests:\n  - name: \"name \\e[31mred\"\n    request: { GET: /x }\n    expect:\n      json:\n        $.ok: { eq: true }\n",
    );
    let junit = dir.path("j.xml");
    let json = dir.path("r.json");
    let out = llmspec(&[
        "run",
        spec.to_str().unwrap(),
        "--base-url",
        &url,
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "a control character reached the console: {text:?}"
        );
    }
    assert!(out.stdout.contains("\\x1b]0;owned\\x07\\x1b[2K\\r  PASS everything"), "{}", out.stdout);
    assert!(out.stdout.contains("FAIL name \\x1b[31mred"), "{}", out.stdout);
    // The JUnit report stays valid XML 1.0, which has no place for most control characters.
    assert_valid_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(!xml.chars().any(|c| c.is_control() && !"\n\t\r".contains(c)), "{xml:?}");
}
