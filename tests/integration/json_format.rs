//! docs/json-format.md describes every field `--json` writes: a run that produces each kind of
//! case (passed, failed, error, skipped, a load test with a threshold, a soak with samples) is
//! searched for keys the page does not name.

use crate::support::{Sim, TempDir, llmspec};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Objects whose keys are data (property names, status codes, sample names), not fields.
const DATA_KEYS: &[&str] = &["properties", "status", "samples"];

fn field_names(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                out.insert(key.clone());
                if !DATA_KEYS.contains(&key.as_str()) {
                    field_names(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| field_names(i, out)),
        _ => {}
    }
}

#[test]
fn every_field_of_the_json_results_is_documented() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let spec = dir.write(
        "all.yaml",
        r#"suite: every kind of case
tests:
  - name: passes
    request: { POST: /v1/chat/completions, json: { messages: [{ role: user, content: hi }], max_tokens: 2 } }
    expect: { status: 200 }
  - name: fails
    request: { GET: /v1/models }
    expect: { status: 201 }
  - name: no answer
    request: { POST: /v1/chat/completions, headers: { x-sim-fault: drop }, json: { messages: [{ role: user, content: hi }] } }
  - name: skipped
    skip: not today
    request: { GET: /v1/models }
  - name: load
    load: { requests: 4, concurrency: 2, rate: 200/s }
    request: { POST: /v1/chat/completions, stream: true, json: { messages: [{ role: user, content: hi }], max_tokens: 3 } }
    expect:
      status: 200
      thresholds: [p99(latency) < 5s]
  - name: sweep
    load: { sweep: { concurrency: [1, 2], requests: 2 } }
    request: { POST: /v1/chat/completions, stream: true, json: { messages: [{ role: user, content: hi }], max_tokens: 3 } }
    expect:
      status: 200
      thresholds: [p99(latency) < 5s, capacity(concurrency) >= 1]
  - name: soak
    soak: { duration: 600ms, interval: 100ms, window: 200ms }
    sample:
      running: { prometheus: { metric: "llmspec_sim:responses_in_flight" }, every: 100ms }
    request: { GET: /v1/models }
    expect: { status: 200, thresholds: [max(running) < 100] }
"#,
    );
    let json = dir.path("r.json");
    let out = llmspec(&["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let soak = &doc["suites"][0]["tests"].as_array().unwrap().iter().find(|t| t["name"] == "soak").cloned().unwrap();
    assert!(!soak["series"]["windows"].as_array().unwrap().is_empty(), "{soak}");
    assert!(!soak["series"]["samples"]["running"].as_array().unwrap().is_empty(), "{soak}");
    let sweep = &doc["suites"][0]["tests"].as_array().unwrap().iter().find(|t| t["name"] == "sweep").cloned().unwrap();
    assert_eq!(sweep["sweep"]["steps"].as_array().unwrap().len(), 2, "{sweep}");
    let mut names = BTreeSet::new();
    field_names(&doc, &mut names);
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-format.md")).unwrap();
    // A field is named alone (`count`) or at the end of its path (`summary.stopped_early`).
    let named = |n: &str| page.contains(&format!("`{n}`")) || page.contains(&format!(".{n}`"));
    let undocumented: Vec<&String> = names.iter().filter(|n| !named(n)).collect();
    assert!(undocumented.is_empty(), "docs/json-format.md does not name these fields: {undocumented:?}");
    assert!(names.len() > 40, "the run produced every kind of field: {names:?}");
}
