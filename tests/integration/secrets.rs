//! No secret reaches any output, in any spelling: console, JUnit, JSON, HTML, plot files (names and
//! contents), spec-load diagnostics. A corpus of secrets, placed where runs really carry them,
//! is searched for in everything a run writes.

use crate::support::{Sim, TempDir, assert_valid_junit, llmspec};
use base64::Engine;

const CLI: &str = "Cli\"S3cr/et v+1&<x>";
const LITERAL: &str = "LitSecret-7731xyzQ";
/// Echoed by the simulator's 404 for an unknown model, then captured and sent as a bearer token.
const CAPTURED: &str = "tok-Capt9QzWvR";

/// Every spelling a secret can take, and every piece of eight characters of it (shorter pieces
/// are ordinary words: "secret" is in the suite's name).
fn spellings(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    let json = serde_json::to_string(secret).unwrap();
    out.push(json[1..json.len() - 1].to_string());
    let pct: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    out.push(pct.clone());
    out.push(pct.replace("%20", "+"));
    out.push(secret.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;"));
    for user in ["", "q", "qa", "qa1"] {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
        // The characters that depend on the secret alone.
        let skip = (user.len() + 1) * 4 / 3 + 2;
        out.push(b64[skip.min(b64.len())..b64.len().saturating_sub(4)].to_string());
    }
    for spelling in [secret.to_string(), json[1..json.len() - 1].to_string()] {
        let chars: Vec<char> = spelling.chars().collect();
        for w in chars.windows(8) {
            out.push(w.iter().collect());
        }
    }
    out.retain(|s| s.len() >= 8);
    out
}

fn assert_clean(what: &str, text: &str) {
    for secret in [CLI, LITERAL, CAPTURED] {
        for form in spellings(secret) {
            assert!(!text.contains(&form), "{what} shows {form:?} (a spelling of {secret:?}):\n{text}");
        }
    }
}

fn every_output(dir: &TempDir, stdout: &str, stderr: &str) -> usize {
    assert_clean("stdout", stdout);
    assert_clean("stderr", stderr);
    let mut files = 0;
    let mut stack = vec![dir.0.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".yaml") {
                continue;
            }
            assert_clean("a file name", &name);
            assert_clean(&name, &String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            files += 1;
        }
    }
    files
}

#[test]
fn no_secret_in_any_output_in_any_spelling() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let url = sim.url();
    let authority = url.trim_start_matches("http://");
    // A request body is shown cut to its first 1,333 and last 666 characters: the paddings put
    // both edges of the cut inside a secret (`{"messages":[{"content":"` is 25 characters, the
    // JSON spelling of CLI 20, what follows LITERAL 43).
    let before = "p".repeat(1300);
    let after = "q".repeat(666 - 9 - 43);
    // Long enough that the body, secrets masked, is still cut.
    let middle = "m".repeat(200);
    let spec = format!(
        r#"suite: secrets
secrets:
  lit: {LITERAL}
defaults:
  base_url: http://qa:${{lit}}@{authority}
tests:
  - name: "capture ${{cli}}"
    request:
      POST: /v1/chat/completions?key=${{cli}}
      headers: {{ X-Api-Key: "${{lit}}" }}
      json: {{ model: {CAPTURED}, messages: [{{ role: user, content: "{before}${{cli}} and {middle} ${{lit}}{after}" }}] }}
    capture:
      token: {{ regex: "model `(tok-[A-Za-z0-9]+)`" }}
    expect:
      status: 200
  - name: use the token
    request:
      POST: /v1/chat/completions
      headers: {{ Authorization: "Bearer ${{token}}" }}
      json: {{ model: "${{token}}", messages: [{{ role: user, content: "${{lit}}" }}] }}
    expect:
      status: 200
  - name: "load ${{cli}}"
    load: {{ requests: 4, concurrency: 2 }}
    request:
      POST: /v1/chat/completions?key=${{lit}}
      headers: {{ x-sim-fault: drop }}
      json: {{ messages: [{{ role: user, content: "${{cli}}" }}] }}
    expect:
      status: 200
      thresholds: [error_rate < 100%]
"#
    );
    let path = dir.write("secrets.yaml", &spec);
    let out_dir = dir.path("out");
    let junit = out_dir.join("j.xml");
    let json = out_dir.join("r.json");
    let html = out_dir.join("report.html");
    let secret = format!("cli={CLI}");
    let out = llmspec(&[
        "run",
        path.to_str().unwrap(),
        "--secret",
        &secret,
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--plots",
        out_dir.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("capture ***") && page.contains("<svg"), "the page shows the run, masked");
    // The secrets really travelled: the outputs show masks where they were.
    assert!(out.stdout.contains("capture ***"), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("characters cut] …"), "the request body was cut: {}", out.stdout);
    let files = every_output(&dir, &out.stdout, &out.stderr);
    assert!(files >= 4, "JUnit, JSON, the HTML page and a plot were written: {files}");
}

#[test]
fn no_secret_in_spec_load_diagnostics() {
    let dir = TempDir::new();
    let spec = format!(
        "suite: bad\nsecrets:\n  lit: {LITERAL}\ndefaults:\n  base_url: http://127.0.0.1:1\ntests:\n  - name: t\n    request: {{ GET: /x, timeout: \"${{lit}}\" }}\n  - name: u\n    request: {{ GET: /x, timeout: \"${{cli}}\" }}\n    expect:\n      body: {{ matches: \"${{cli}}(\" }}\n"
    );
    let path = dir.write("bad.yaml", &spec);
    let secret = format!("cli={CLI}");
    let out = llmspec(&["validate", path.to_str().unwrap(), "--secret", &secret]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("*** is not a duration") || out.stderr.contains("`***`"), "{}", out.stderr);
    assert_eq!(out.stderr.matches("error:").count(), 3, "{}", out.stderr);
    every_output(&dir, &out.stdout, &out.stderr);
    let junit = dir.path("j.xml");
    let out = llmspec(&["run", path.to_str().unwrap(), "--secret", &secret, "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(every_output(&dir, &out.stdout, &out.stderr) >= 1);
}

/// Answers every request with the body it received (as servers' validation errors do), for a
/// bounded number of connections.
fn echo_server(connections: usize) -> String {
    crate::support::http_server(connections, |_, body| {
        crate::support::http_response("422 Unprocessable Entity", "application/json", body)
    })
}

#[test]
fn a_structured_secret_and_literal_secret_headers_are_masked() {
    let url = echo_server(1);
    let dir = TempDir::new();
    let spec = dir.write(
        "s.yaml",
        &format!(
            "suite: structured\nsecrets:\n  creds: {{ user: admin-user, password: Hunter2-Obj-Secret }}\ndefaults:\n  base_url: {url}\n  headers: {{ Authorization: \"Bearer sk-live-LITERAL123456\" }}\ntests:\n  - name: t\n    request: {{ POST: /v1/x, json: {{ auth: \"${{creds}}\" }} }}\n    expect:\n      json:\n        $.auth.password: {{ eq: x }}\n"
        ),
    );
    let junit = dir.path("j.xml");
    let out = llmspec(&["run", spec.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("actual: \"***\""), "{}", out.stdout);
    let xml = std::fs::read_to_string(&junit).unwrap();
    for text in [&out.stdout, &out.stderr, &xml] {
        assert!(!text.contains("Hunter2-Obj") && !text.contains("admin-user"), "{text}");
    }

    // A diagnostic that quotes the line of a literal credential masks it.
    let broken = dir.write(
        "d.yaml",
        "suite: diag\ndefaults:\n  base_url: http://127.0.0.1:1\n  headers: { Authorization: \"Bearer sk-live-LITERAL123456\", X-Trace: \"${nope}\" }\ntests:\n  - name: t\n    request: { GET: /x }\n",
    );
    let out = llmspec(&["run", broken.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("Authorization: \"***\""), "{}", out.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap();
    for text in [&out.stdout, &out.stderr, &xml] {
        assert!(!text.contains("LITERAL123456"), "{text}");
    }
}

#[test]
fn usage_errors_are_masked_and_still_leave_a_red_report() {
    let dir = TempDir::new();
    dir.write("SeCrEt-tls-9876.pem", "not a certificate");
    let spec = dir.write(
        "tls.yaml",
        "suite: tls\ndefaults:\n  base_url: https://127.0.0.1:1\n  tls: { cacert: \"${k}.pem\" }\ntests:\n  - name: t\n    request: { GET: /x }\n",
    );
    let plain = dir.write(
        "plain.yaml",
        "suite: plain\ndefaults:\n  base_url: http://127.0.0.1:1\ntests:\n  - name: t\n    request: { GET: /x }\n",
    );
    let junit = dir.path("j.xml");
    let cases = [(&spec, vec![], "SeCrEt-tls-9876"), (&plain, vec!["--name", "SeCrEt-name-9876("], "SeCrEt-name-9876")];
    for (spec, extra, secret) in cases {
        let _ = std::fs::remove_file(&junit);
        let given = format!("k={secret}");
        let mut args = vec!["run", spec.to_str().unwrap(), "--secret", &given, "--junit", junit.to_str().unwrap()];
        args.extend(extra);
        let out = llmspec(&args);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("***"), "{}", out.stderr);
        assert_valid_junit(&junit);
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert!(xml.contains("usage errors"), "{xml}");
        for text in [&out.stdout, &out.stderr, &xml] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

/// A secret is sent as the text given, and masked as such: `00123456` is not the number 123456.
#[test]
fn a_numeric_looking_secret_stays_text() {
    let dir = TempDir::new();
    let spec = dir.write(
        "pin.yaml",
        "suite: pin\ndefaults: { base_url: \"http://127.0.0.1:1\" }\ntests:\n  - name: t\n    request: { POST: /x, json: { pin: \"${pin}\", text: \"code ${pin}\" } }\n",
    );
    let out = llmspec(&["run", spec.to_str().unwrap(), "--secret", "pin=00123456"]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(out.stdout.contains(r#"request body: {"pin":"***","text":"code ***"}"#), "{}", out.stdout);
    assert!(!out.stdout.contains("123456"), "{}", out.stdout);
}

/// A failure's transcript shows the headers sent and received; the values of secret headers
/// are masked in the console, the JUnit file and the JSON results.
#[test]
fn transcripts_show_headers_with_secret_values_masked() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "h.yaml",
        "suite: headers\ndefaults:\n  headers: { Authorization: \"Bearer sk-live-HDR0123456789\", X-Internal-Token: tok-HDR-98765, X-Trace: trace-1 }\n  secret_headers: [x-internal-token]\ntests:\n  - name: wrong status\n    request: { POST: /v1/chat/completions, json: { messages: [{ role: user, content: hi }], max_tokens: 2 } }\n    expect: { status: 201 }\n",
    );
    let junit = dir.path("j.xml");
    let json = dir.path("r.json");
    let out = llmspec(&[
        "run",
        spec.to_str().unwrap(),
        "--base-url",
        &sim.url(),
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    for shown in [
        "      Authorization: ***\n",
        "      X-Internal-Token: ***\n",
        "      X-Trace: trace-1\n",
        "      content-type: application/json\n",
        "    response: 200, ",
        "      HTTP/1.1 200 OK\n",
    ] {
        assert!(out.stdout.contains(shown), "{shown:?} missing from:\n{}", out.stdout);
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("  Authorization: ***\n"), "{xml}");
    let results = std::fs::read_to_string(&json).unwrap();
    for text in [&out.stdout, &out.stderr, &xml, &results] {
        assert!(!text.contains("HDR0123456789") && !text.contains("tok-HDR-98765"), "{text}");
    }
}
