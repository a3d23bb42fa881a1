//! Capacity search (`load.sweep`) against the simulator's batch slots (`x-sim-capacity`):
//! beyond its capacity every delay grows by in-flight / capacity, so the knee is known.
//!
//! Margins are wide for a noisy shared machine. The TTFT asked is 150ms and the bound 190ms: a
//! step within the 8 slots measures some 155ms, 35ms of headroom. Past the knee, 12 workers for
//! 8 slots, a request arriving with k in flight waits 150ms × k / 8; the workers stay partly in
//! step (those answered together send again together), so k at arrival is 9 to 12 and the median
//! some 210-225ms (1.4-1.5 times), 20ms and more over the bound.
use crate::support::{TempDir, llmspec};
use serde_json::Value;
use std::time::Duration;

fn spec(dir: &TempDir, load: &str, headers: &str, thresholds: &[&str]) -> String {
    let thresholds: String = thresholds.iter().map(|t| format!("\n        - {t}")).collect();
    let text = format!(
        r#"suite: sweep
tests:
  - name: capacity
    load: {load}
    request:
      POST: /v1/chat/completions
      stream: true
      headers: {{ {headers} }}
      json: {{ messages: [{{ role: user, content: hi }}], max_tokens: 4 }}
    expect:
      status: 200
      thresholds:{thresholds}
"#
    );
    dir.write("sweep.yaml", &text).to_str().unwrap().to_string()
}

fn results(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Case `name` of the test, by its threshold.
fn case<'a>(tests: &'a [Value], name: &str) -> &'a Value {
    tests.iter().find(|t| t["name"] == format!("capacity: {name}")).unwrap_or_else(|| panic!("{name}: {tests:?}"))
}

const CLOSED: &str = "{ warmup: 12, sweep: { concurrency: [2, 4, 8, 12, 16], requests: 36 } }";
const SLOTS: &str = r#"x-sim-capacity: "8", x-sim-ttft: 150ms"#;

#[test]
fn a_concurrency_sweep_finds_the_simulators_capacity() {
    let sim = crate::support::Sim::start();
    let dir = TempDir::new();
    let json = dir.path("r.json");
    let junit = dir.path("r.xml");
    let s = spec(
        &dir,
        CLOSED,
        SLOTS,
        &["p50(ttft) < 190ms", "error_rate < 1%", "capacity(concurrency) >= 8", "capacity(concurrency) >= 12"],
    );
    let (summary, html, plots) = (dir.path("summary.md"), dir.path("report.html"), dir.path("plots"));
    let out = llmspec(&[
        "run",
        &s,
        "--base-url",
        &sim.url(),
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--summary",
        summary.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--plots",
        plots.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "capacity(concurrency) >= 12 fails: {}", out.stdout);
    // The knee is drawn, tabled in the summary, and on the page.
    let knee = std::fs::read_to_string(plots.join("sweep--capacity--knee.svg")).expect("the knee's picture");
    assert!(knee.contains("knee: concurrency 8") && knee.contains("concurrency (requests in flight)"), "{knee}");
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("### Capacity searches"), "{summary}");
    assert!(summary.contains("| sweep › capacity | 8 |") && summary.contains("✅ knee"), "{summary}");
    assert!(summary.contains("| sweep › capacity | 12 |") && summary.contains("❌ broke: p50(ttft)"), "{summary}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("knee: concurrency 8"), "the page shows the knee's chart");
    assert!(out.stdout.contains("knee: concurrency 8 (broke at 12)"), "{}", out.stdout);
    assert!(
        out.stdout.contains("PASS capacity: capacity(concurrency) >= 8 (measured 8 (broke at 12))"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("FAIL capacity: capacity(concurrency) >= 12"), "{}", out.stdout);
    assert!(out.stdout.contains("PASS capacity: p50(ttft) < 190ms (measured "), "{}", out.stdout);
    assert!(out.stdout.contains("at concurrency 8; "), "the knee's value, then the breaking step's: {}", out.stdout);

    let r = results(&json);
    let tests = r["suites"][0]["tests"].as_array().unwrap();
    let test = &tests[0];
    assert_eq!(test["verdict"], "passed", "the breaking step's slow requests are evidence, not a failure");
    let sweep = &test["sweep"];
    assert_eq!(sweep["axis"], "concurrency");
    assert_eq!(sweep["planned"], serde_json::json!([2.0, 4.0, 8.0, 12.0, 16.0]));
    assert_eq!(sweep["knee"], 8.0);
    assert_eq!(sweep["knee_step"], 2);
    assert_eq!(sweep["limit_found"], true);
    let steps = sweep["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4, "the search stops at the first step that broke: {sweep}");
    for (step, load) in steps.iter().zip([2.0, 4.0, 8.0, 12.0]) {
        assert_eq!(step["load"], load);
        assert_eq!(step["requests"], 24, "36 requests, the first 12 of each step warm it up");
        assert_eq!(step["aggregate"]["count"], 24);
        assert!(step["p50_ttft_s"].as_f64().unwrap() >= 0.15, "{step}");
        assert!(step["ended_s"].as_f64().unwrap() > step["started_s"].as_f64().unwrap());
    }
    assert_eq!(steps[2]["held"], true);
    assert_eq!(steps[3]["held"], false);
    let broken = &steps[3]["thresholds"][0];
    assert_eq!((broken["threshold"].as_str(), broken["held"].as_bool()), (Some("p50(ttft) < 190ms"), Some(false)));
    assert!(broken["measured"].as_str().unwrap().ends_with("ms"), "{broken}");
    assert!(steps[3]["thresholds"][1]["held"].as_bool().unwrap(), "the error rate held at 12");
    assert_eq!(steps[3]["thresholds"].as_array().unwrap().len(), 2, "capacity() is no criterion of a step");
    assert_eq!(test["aggregate"]["count"], 24, "the test's aggregate is the knee step's");
    assert_eq!(test["properties"]["knee_concurrency"], "8");
    assert_eq!(test["properties"]["step_4_concurrency"], "12");
    assert_eq!(test["properties"]["step_4_held"], "false");
    assert!(test["properties"]["step_4_broken"].as_str().unwrap().starts_with("p50(ttft) < 190ms (measured "));

    let ttft = case(tests, "p50(ttft) < 190ms");
    assert_eq!(ttft["verdict"], "passed");
    assert_eq!(ttft["properties"]["measured_at"], "concurrency 8");
    assert_eq!(ttft["properties"]["breaking_step"], "concurrency 12");
    assert_eq!(case(tests, "capacity(concurrency) >= 8")["verdict"], "passed");
    let failed = case(tests, "capacity(concurrency) >= 12");
    assert_eq!(failed["verdict"], "failed");
    assert_eq!(failed["failures"][0]["actual"], "8 (broke at 12)");
    assert_eq!(failed["properties"]["limit"], ">= 12");

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"<property name="knee_concurrency" value="8"/>"#), "{xml}");
    // Properties are dropped by GitLab's and GitHub's readers: the knee is in the text too.
    assert!(xml.contains("knee: concurrency 8 (broke at 12)"), "{xml}");
    crate::support::assert_valid_junit(&junit);
}

#[test]
fn a_rate_sweep_finds_the_rate_past_which_requests_pile_up() {
    let sim = crate::support::Sim::start();
    let dir = TempDir::new();
    let json = dir.path("r.json");
    // At 40/s about 6 requests of 150ms are in flight, within 8 slots; at 80/s some 12 are, each
    // slowed, which keeps more in flight: the TTFT runs away.
    let s = spec(
        &dir,
        "{ sweep: { rate: { from: 10/s, to: 160/s, factor: 2 }, duration: 1s } }",
        SLOTS,
        &["p50(ttft) < 190ms", "capacity(rate) >= 40/s", "capacity(rate) >= 160/s"],
    );
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let r = results(&json);
    let tests = r["suites"][0]["tests"].as_array().unwrap();
    let sweep = &tests[0]["sweep"];
    assert_eq!(sweep["axis"], "rate");
    assert_eq!(sweep["planned"], serde_json::json!([10.0, 20.0, 40.0, 80.0, 160.0]));
    assert_eq!(sweep["knee"], 40.0, "{sweep}");
    assert_eq!(sweep["steps"].as_array().unwrap().len(), 4, "80/s broke: {sweep}");
    assert_eq!(case(tests, "capacity(rate) >= 40/s")["verdict"], "passed");
    let failed = case(tests, "capacity(rate) >= 160/s");
    assert_eq!(failed["verdict"], "failed");
    assert_eq!(failed["properties"]["limit"], ">= 160/s", "a rate in the unit the sweep is written in");
    assert!(out.stdout.contains("knee: rate "), "{}", out.stdout);
}

#[test]
fn when_every_step_holds_the_report_says_the_limit_was_not_found() {
    let sim = crate::support::Sim::start();
    let dir = TempDir::new();
    let json = dir.path("r.json");
    let s = spec(
        &dir,
        "{ sweep: { concurrency: { from: 1, to: 3, step: 1 }, requests: 6 } }",
        SLOTS,
        &["p50(ttft) < 5s", "capacity(concurrency) >= 3"],
    );
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains("warning: the search did not find the limit: every step held, up to concurrency 3"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("knee: concurrency 3 or more"), "{}", out.stdout);
    let r = results(&json);
    let sweep = &r["suites"][0]["tests"][0]["sweep"];
    assert_eq!((sweep["knee"].as_f64(), sweep["limit_found"].as_bool()), (Some(3.0), Some(false)));
    assert_eq!(sweep["steps"].as_array().unwrap().len(), 3);
}

#[test]
fn when_the_lowest_step_breaks_there_is_no_knee_and_the_test_fails() {
    let sim = crate::support::Sim::start();
    let dir = TempDir::new();
    let json = dir.path("r.json");
    let s = spec(
        &dir,
        "{ sweep: { concurrency: [2, 4], requests: 4 } }",
        SLOTS,
        &["p50(ttft) < 10ms", "capacity(concurrency) >= 2"],
    );
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("knee: none, the lowest step (concurrency 2) broke"), "{}", out.stdout);
    let r = results(&json);
    let tests = r["suites"][0]["tests"].as_array().unwrap();
    assert_eq!(tests[0]["verdict"], "failed");
    assert!(tests[0]["message"].as_str().unwrap().contains("the lowest step, concurrency 2, to hold"), "{}", tests[0]);
    assert_eq!(tests[0]["sweep"]["knee"], Value::Null);
    assert_eq!(tests[0]["sweep"]["steps"].as_array().unwrap().len(), 1);
    let ttft = case(tests, "p50(ttft) < 10ms");
    assert_eq!(ttft["verdict"], "failed");
    assert!(ttft["failures"][0]["actual"].as_str().unwrap().ends_with("at concurrency 2, the lowest step"), "{ttft}");
    let capacity = case(tests, "capacity(concurrency) >= 2");
    assert_eq!(
        capacity["failures"][0]["actual"],
        "not measured: no step of the sweep held (the lowest step, 2, broke)"
    );
}

#[test]
fn failed_requests_break_a_step_and_are_shown_as_evidence() {
    let sim = crate::support::Sim::start();
    let dir = TempDir::new();
    let json = dir.path("r.json");
    // The simulator answers 500 to every request: the first step breaks on its requests.
    let s = spec(
        &dir,
        "{ sweep: { concurrency: [1, 2], requests: 3 } }",
        r#"x-sim-fault: status-500"#,
        &["p50(latency) < 5s"],
    );
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let r = results(&json);
    let step = &r["suites"][0]["tests"][0]["sweep"]["steps"][0];
    assert_eq!(step["held"], false);
    assert!(step["requests_broke"].as_str().unwrap().starts_with("requests: "), "{step}");
    assert!(out.stdout.contains("HTTP/1.1 500"), "the first failed request is shown in full: {}", out.stdout);
}

#[test]
fn capacity_is_checked_against_the_sweep_when_the_spec_loads() {
    let dir = TempDir::new();
    let text = r#"suite: wrong
defaults: { base_url: "http://127.0.0.1:9" }
tests:
  - name: no sweep
    load: { requests: 4 }
    request: { GET: /a }
    expect:
      thresholds: [capacity(concurrency) >= 2]
  - name: other axis
    load: { sweep: { concurrency: [1, 2], requests: 4 } }
    request: { GET: /a }
    expect:
      thresholds: [capacity(rate) >= 2/s]
  - name: wrong unit
    load: { sweep: { concurrency: [1, 2], requests: 4 } }
    request: { GET: /a }
    expect:
      thresholds: [capacity(concurrency) >= 2/s]
  - name: falling
    load: { sweep: { concurrency: [4, 2], requests: 4 } }
    request: { GET: /a }
  - name: both
    load: { requests: 4, sweep: { rate: [1/s], requests: 4 } }
    request: { GET: /a }
  - name: too many
    load: { sweep: { concurrency: { from: 1, to: 1000, step: 1 }, requests: 4 } }
    request: { GET: /a }
  - name: too few requests
    load: { sweep: { concurrency: [1, 8], requests: 4 } }
    request: { GET: /a }
  - name: all warm-up
    load: { warmup: 4, sweep: { rate: [1/s, 2/s], requests: 4 } }
    request: { GET: /a }
  - name: in a condition
    load: { sweep: { concurrency: [1, 2], requests: 4 } }
    request: { GET: /a }
    expect:
      thresholds: ["capacity(concurrency) >= 2 * 2"]
"#;
    let path = dir.write("wrong.yaml", text);
    let out = llmspec(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let expected = [
        "capacity(concurrency) is the highest load at which every threshold held: it is measured by a `load.sweep` of `concurrency`, which this test does not have\n --> WRONG:8:20",
        "capacity(rate) is measured by a sweep of `rate`; this test sweeps `concurrency`: bound capacity(concurrency)\n  --> WRONG:13:20",
        "`capacity(concurrency)` is a number of requests in flight, bounded by a number, e.g. `>= 20`, not `>= 2/s`\n  --> WRONG:18:20",
        "the steps of a sweep rise, one after the other: 2 comes after 4",
        "a sweep sets the length of each step: give `requests` or `duration` under `sweep`, not beside it",
        "a sweep has at most 64 steps",
        "each step sends 4 requests: a step of concurrency 8 never has that many in flight",
        "`warmup` (4) applies to each step and leaves none of its 4 requests to measure",
        "capacity() is a bound of its own, not part of a condition",
    ];
    let stderr = out.stderr.replace(path.to_str().unwrap(), "WRONG");
    for e in expected {
        assert!(stderr.contains(e), "{e}\n{stderr}");
    }
}

#[test]
fn an_interrupted_search_claims_no_knee_and_judges_no_threshold() {
    let sim = crate::support::Sim::start();
    let dir = TempDir::new();
    let json = dir.path("r.json");
    let spec = dir.write(
        "slow.yaml",
        r#"suite: slow
tests:
  - name: health
    request: { GET: /health }
  - name: capacity
    load: { sweep: { concurrency: [1, 2], requests: 4 } }
    request:
      POST: /v1/chat/completions
      stream: true
      headers: { x-sim-ttft: 20s }
      json: { messages: [{ role: user, content: hi }], max_tokens: 4 }
    expect:
      thresholds: [p50(ttft) < 30s, capacity(concurrency) >= 1]
"#,
    );
    // Interrupt once the first test has passed: the sweep's first request is then in flight.
    let args = ["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--json", json.to_str().unwrap()];
    let stopped = crate::support::signalled(&args, "PASS health", Duration::from_millis(300), "INT");
    let rest = stopped.rest;
    assert!(stopped.stopped_in < Duration::from_secs(20), "the search stops promptly");
    assert_eq!(stopped.code, Some(130), "{rest}");
    assert!(rest.contains("knee: none, the search was cut short (interrupted at concurrency 1)"), "{rest}");
    let r = results(&json);
    let tests = r["suites"][0]["tests"].as_array().unwrap();
    assert_eq!(tests[0]["name"], "health");
    let sweep = &tests[1]["sweep"];
    assert_eq!((sweep["cut"].as_str(), &sweep["knee"]), (Some("interrupted at concurrency 1"), &Value::Null));
    assert_eq!(sweep["limit_found"], false);
    for name in ["p50(ttft) < 30s", "capacity(concurrency) >= 1"] {
        let case = case(tests, name);
        assert_eq!(case["verdict"], "skipped", "{case}");
        assert!(case["message"].as_str().unwrap().starts_with("not judged: the search was cut short"), "{case}");
    }
}
