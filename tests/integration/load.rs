//! Many requests per test: loops, counts, thresholds as JUnit cases, JSON results, warnings.

use crate::support::{Sim, TempDir, assert_valid_junit, llmspec, llmspec_env};
use llmspec_core::metrics::aggregate::Aggregate;
use llmspec_core::metrics::catalog::{SeriesName, Statistic};
use llmspec_sim::SimConfig;
use std::time::{Duration, Instant};

fn spec(dir: &TempDir, test: &str) -> String {
    let text = format!("suite: load\ntests:\n{test}");
    dir.write("load.yaml", &text).to_str().unwrap().to_string()
}

fn chat(load: &str, headers: &str, expect: &str) -> String {
    format!(
        r#"  - name: load test
    {load}
    request:
      POST: /v1/chat/completions
      stream: true
      headers: {{ {headers} }}
      json: {{ messages: [{{ role: user, content: hi }}], max_tokens: 8 }}
    expect:
      status: 200
{expect}"#
    )
}

fn results(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_closed_loop_sends_every_request_and_checks_each() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let json = dir.path("r.json");
    let s = spec(
        &dir,
        &chat(
            "load: { requests: 20, concurrency: 10, warmup: 2 }",
            "x-a: b",
            "      thresholds: [success_rate == 100%]\n",
        ),
    );
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains("18 requests (0 errors, 0 failed, 0 slow)"),
        "warm-up requests are left out: {}",
        out.stdout
    );
    let r = results(&json);
    let test = &r["suites"][0]["tests"][0];
    assert_eq!(test["aggregate"]["count"], 18);
    assert_eq!(test["properties"]["count"], "18");
    assert!(test["properties"]["p99_ttft_ms"].is_string(), "{test}");
    assert!(test["aggregate"]["histograms"]["chunk_gap"]["counts"].as_array().unwrap().len() > 1);
    assert_eq!(r["suites"][0]["tests"][1]["name"], "load test: success_rate == 100%");
}

#[test]
fn json_results_from_two_runs_merge_into_one_aggregate() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let s = spec(&dir, &chat("repeat: 5", "x-sim-ttft: 5ms", ""));
    let mut parts = vec![];
    for name in ["a.json", "b.json"] {
        let path = dir.path(name);
        assert_eq!(llmspec(&["run", &s, "--base-url", &sim.url(), "--json", path.to_str().unwrap()]).code, 0);
        parts.push(Aggregate::from_json(&results(&path)["suites"][0]["tests"][0]["aggregate"]).unwrap());
    }
    let mut merged = parts[0].clone();
    merged.merge(&parts[1]);
    assert_eq!(merged.count, 10);
    assert_eq!(merged.series[&SeriesName::Ttft].len(), 10);
    let lows = parts.iter().filter_map(|p| p.stat(Statistic::Min, SeriesName::Ttft)).fold(f64::MAX, f64::min);
    assert_eq!(merged.stat(Statistic::Min, SeriesName::Ttft), Some(lows));
}

#[test]
fn an_open_loop_keeps_its_rate_and_records_schedule_lag() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let json = dir.path("r.json");
    let s = spec(&dir, &chat("load: { requests: 10, rate: 50/s, arrival: poisson, seed: 7 }", "x-a: b", ""));
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let props = &results(&json)["suites"][0]["tests"][0]["properties"];
    assert!(props["p99_schedule_lag_ms"].is_string(), "{props}");
}

#[test]
fn a_client_that_cannot_keep_the_rate_says_so() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let s = spec(&dir, &chat("load: { requests: 8, rate: 100/s, concurrency: 1 }", "x-sim-ttft: 60ms", ""));
    let out = llmspec(&["run", &s, "--base-url", &sim.url()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("warning: requests left late: p99 schedule lag"), "{}", out.stdout);
}

#[test]
fn a_duration_bounded_load_ends_by_itself() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let s = spec(&dir, &chat("load: { duration: 600ms, concurrency: 2 }", "x-sim-ttft: 20ms", ""));
    let started = Instant::now();
    let out = llmspec(&["run", &s, "--base-url", &sim.url()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let line = out.stdout.lines().find(|l| l.contains(" requests (")).unwrap();
    let count: u64 = line.trim().split(' ').next().unwrap().parse().unwrap();
    assert!(count >= 4, "{line}");
}

#[test]
fn failed_requests_are_counted_and_the_first_shown_in_full() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let s = spec(&dir, &chat("load: { requests: 6, concurrency: 3 }", "x-sim-fault: status-500", ""));
    let out = llmspec(&["run", &s, "--base-url", &sim.url()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("6 of 6 requests did not pass: 0 errors, 6 failed checks"), "{}", out.stdout);
    assert_eq!(out.stdout.matches("error: request ").count(), 3, "the first three are shown: {}", out.stdout);
}

#[test]
fn an_error_budget_threshold_decides_instead_of_every_request() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let s = spec(&dir, &chat("repeat: 4", "x-sim-fault: status-500", "      thresholds: [error_rate < 50%]\n"));
    let junit = dir.path("j.xml");
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("PASS load test ("), "{}", out.stdout);
    assert!(out.stdout.contains("FAIL load test: error_rate < 50% (measured 100%)"), "{}", out.stdout);
    assert_valid_junit(&junit);
}

#[test]
fn the_seed_performance_tests_pass_on_a_fast_server_and_fail_per_threshold_on_a_slow_one() {
    let fast = Sim::start();
    let out = llmspec(&["run", "specs/vllm-medium/10-performance.yaml", "--base-url", &fast.url()]);
    assert_eq!(out.code, 0, "{}", out.stdout);

    let slow = Sim::with(SimConfig {
        ttft: Duration::from_millis(1100),
        chunk_delay: Duration::from_millis(40),
        output_tokens: 40,
        ..SimConfig::default()
    });
    let dir = TempDir::new();
    let junit = dir.path("perf.xml");
    let env = [
        ("LOAD_REQUESTS", "4"),
        ("LOAD_CONCURRENCY", "2"),
        ("THROUGHPUT_MAX_TOKENS", "40"),
        ("LOAD_MAX_TOKENS", "40"),
        ("CAPACITY_FROM", "1"),
        ("CAPACITY_TO", "2"),
        ("CAPACITY_REQUESTS", "2"),
    ];
    let out = llmspec_env(
        &[
            "run",
            "specs/vllm-medium/10-performance.yaml",
            "--base-url",
            &slow.url(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_valid_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    for failing in [
        "10 throughput: mean(tokens_per_second) &gt; ${throughput_min}",
        "10 throughput: p50(ttft) &lt; ${ttft_max}",
        "11 concurrent load: p50(latency) &lt; ${p50_max}",
        "11 concurrent load: p50(ttft) &lt; ${ttft_max}",
        "11 capacity under load: p50(ttft) &lt; ${ttft_max}",
        "11 capacity under load: capacity(concurrency) &gt;= ${capacity_min}",
    ] {
        let at =
            xml.find(&format!(r#"<testcase name="{failing}""#)).unwrap_or_else(|| panic!("no case {failing}: {xml}"));
        let case = &xml[at..at + xml[at..].find("</testcase>").unwrap()];
        assert!(case.contains("<failure"), "{failing} should fail: {case}");
    }
    for passing in ["11 concurrent load: success_rate == 100%", "11 concurrent load: p99(latency) &lt; ${p99_max}"] {
        assert!(xml.contains(&format!(r#"<testcase name="{passing}" classname="vllm-medium performance" time="0.000" file="specs/vllm-medium/10-performance.yaml" line="#)), "{passing}");
    }
}

#[test]
fn progress_is_drawn_on_a_terminal_only() {
    let dir = TempDir::new();
    let s = spec(&dir, &chat("load: { requests: 8, concurrency: 2 }", "x-sim-latency: 150ms", ""));
    let sim = Sim::start();
    let command = format!("{} run {s} --base-url {}", env!("CARGO_BIN_EXE_llmspec"), sim.url());
    // `script` gives the command a terminal, as a person at a console would have.
    let on_terminal = |ci: Option<&str>, extra: &str| {
        let mut script = std::process::Command::new("script");
        script.args(["-qc", &format!("{command}{extra}"), "/dev/null"]).env_remove("CI");
        if let Some(ci) = ci {
            script.env("CI", ci);
        }
        let out = script.output().expect("script (util-linux)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = on_terminal(None, "");
    assert!(shown.contains("load test [") && shown.contains("/8 requests, 0 not passed"), "{shown}");
    assert!(shown.contains("PASS\x1b[0m load test ("), "the verdict line follows the bar: {shown}");
    let never = on_terminal(None, " --progress never");
    assert!(!never.contains("/8 requests") && never.contains("load test ("), "--progress never: {never}");
    let in_ci = on_terminal(Some("true"), "");
    assert!(!in_ci.contains("/8 requests"), "no bar in CI, even on a terminal: {in_ci}");
    let piped = llmspec(&["run", &s, "--base-url", &sim.url()]);
    assert!(
        !piped.stdout.contains("requests,") && !piped.stderr.contains("requests,"),
        "{}{}",
        piped.stdout,
        piped.stderr
    );
    let forced = llmspec(&["run", &s, "--base-url", &sim.url(), "--progress", "always"]);
    assert!(forced.stderr.contains("/8 requests"), "--progress always draws on stderr: {}", forced.stderr);
    assert!(!forced.stdout.contains("requests,"), "the bar never mixes with stdout: {}", forced.stdout);
}

/// The test's row, its JUnit case, the summary line and the exit code tell one story, whatever
/// mix of errors, failures and thresholds a load test ends with.
#[test]
fn row_junit_summary_and_exit_code_agree() {
    let sim = Sim::start();
    // (fault header, thresholds, expected row word, JUnit element of the main case, exit code)
    let cases = [
        ("x-sim-fault: drop", "      thresholds: [error_rate < 100%]\n", "ERROR", "<error", 3),
        ("x-sim-fault: drop", "", "ERROR", "<error", 3),
        ("x-sim-fault: drop", "      thresholds: [p99(latency) < 5s]\n", "ERROR", "<error", 3),
        ("x-sim-fault: reset-mid-stream", "      thresholds: [error_rate < 100%]\n", "ERROR", "<error", 3),
        ("x-sim-fault: status-500", "", "FAIL", "<failure", 1),
    ];
    for (headers, thresholds, word, element, code) in cases {
        let dir = TempDir::new();
        let junit = dir.path("j.xml");
        let json = dir.path("r.json");
        let s = spec(&dir, &chat("load: { requests: 6, concurrency: 2 }", headers, thresholds));
        let out = llmspec(&[
            "run",
            &s,
            "--base-url",
            &sim.url(),
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ]);
        let case = format!("{headers} / {}", thresholds.trim());
        assert_eq!(out.code, code, "{case}: {}", out.stdout);
        assert!(out.stdout.contains(&format!("{word} load test (")), "{case}: {}", out.stdout);
        assert!(!out.stdout.contains("PASS load test ("), "{case}: {}", out.stdout);
        assert!(!out.stdout.contains("PASSED"), "{case}: {}", out.stdout);
        assert_valid_junit(&junit);
        let xml = std::fs::read_to_string(&junit).unwrap();
        let main = xml.split("<testcase name=\"load test\"").nth(1).unwrap_or_default();
        let main = main.split("</testcase>").next().unwrap_or_default();
        assert!(main.contains(element), "{case}: {main}");
        let r = results(&json);
        let summary = &r["summary"];
        let counted = if word == "ERROR" { &summary["errors"] } else { &summary["failed"] };
        assert!(counted.as_u64().unwrap_or(0) >= 1, "{case}: {summary}");
        // Requests that got no answer measured nothing about the server.
        if word == "ERROR" {
            let test = &r["suites"][0]["tests"][0];
            assert!(!out.stdout.contains("output tokens/s"), "{case}: {}", out.stdout);
            assert!(test["properties"].get("p50_latency_ms").is_none(), "{case}: {test}");
        }
    }
}

#[test]
fn the_seed_load_latency_is_compared_with_a_single_request() {
    // A first token after 300 ms: the baseline is over the 250 ms floor, and the simulator is as
    // fast under load as alone, so the latency under load is about the baseline.
    let sim = Sim::with(SimConfig { ttft: Duration::from_millis(300), ..SimConfig::default() });
    let condition = "11 concurrent load: p50(latency) < load_latency_factor * max([tests[\"11 single-request baseline\"].metrics.latency, seconds(baseline_floor)])";
    let small = [
        ("LOAD_REQUESTS", "4"),
        ("LOAD_CONCURRENCY", "2"),
        ("CAPACITY_FROM", "1"),
        ("CAPACITY_TO", "2"),
        ("CAPACITY_REQUESTS", "2"),
        ("CAPACITY_MIN", "2"),
    ];
    let run = |factor: &str| {
        let mut env = small.to_vec();
        env.push(("LOAD_LATENCY_FACTOR", factor));
        llmspec_env(&["run", "specs/vllm-medium/10-performance.yaml", "--base-url", &sim.url()], &env)
    };
    let seed_factor = run("2");
    assert_eq!(seed_factor.code, 0, "{}", seed_factor.stdout);
    assert!(seed_factor.stdout.contains(&format!("PASS {condition}")), "{}", seed_factor.stdout);
    let half = run("0.5");
    assert_eq!(half.code, 1, "{}", half.stdout);
    assert!(half.stdout.contains(&format!("FAIL {condition}")), "{}", half.stdout);
}

/// The server's own gauges, sampled during a load test, stand beside the client's percentiles
/// and can be bounded like them: 6 streams on a server with 2 slots leave requests waiting.
#[test]
fn server_gauges_sampled_during_load_are_reported_and_bounded() {
    let sim = Sim::with(llmspec_sim::SimConfig { port: 0, capacity: 2, ..Default::default() });
    let dir = TempDir::new();
    let test = format!(
        "{}    sample:\n      running: {{ prometheus: {{ path: /metrics, metric: \"vllm:num_requests_running\" }}, every: 100ms }}\n      waiting: {{ prometheus: {{ path: /metrics, metric: \"vllm:num_requests_waiting\" }}, every: 100ms }}\n",
        chat(
            "load: { requests: 12, concurrency: 6 }",
            "x-sim-ttft: 200ms, x-sim-chunk-delay: 20ms",
            "      thresholds:\n        - max(running) <= 2\n        - max(waiting) == 0\n",
        )
    );
    let s = spec(&dir, &test);
    let json = dir.path("r.json");
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
    assert!(out.stdout.contains("sampled: running max 2"), "{}", out.stdout);
    assert!(out.stdout.contains("PASS load test: max(running) <= 2"), "{}", out.stdout);
    assert!(out.stdout.contains("FAIL load test: max(waiting) == 0"), "{}", out.stdout);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let results = results(&json);
    let samples = &results["suites"][0]["tests"][0]["series"]["samples"];
    let waiting = samples["waiting"].as_array().expect("waiting samples");
    assert!(waiting.len() >= 3, "a sample at the start, during and at the end: {samples}");
    assert!(waiting.iter().any(|p| p[1].as_f64() >= Some(1.0)), "{samples}");
}
