//! One run split over several processes: every functional test runs on exactly one shard, each
//! load is divided so that the shards together send exactly the unsharded requests, and the
//! thresholds of a load wait for the merge of every shard's results.

use crate::support::*;
use std::collections::BTreeMap;

const FUNCTIONAL: usize = 8;

fn spec(dir: &TempDir) -> String {
    let mut text = String::from("suite: sharded\ntests:\n");
    for i in 0..FUNCTIONAL {
        text.push_str(&format!(
            "  - name: health {i}\n    request: {{ GET: /health }}\n    expect: {{ status: 200 }}\n"
        ));
    }
    for (name, load) in [
        ("closed loop", "load: { requests: 23, concurrency: 5 }"),
        ("open loop", "load: { requests: 17, rate: 200/s, arrival: poisson }"),
    ] {
        text.push_str(&format!(
            "  - name: {name}\n    {load}\n    request:\n      POST: /v1/chat/completions\n      json: {{ messages: [{{ role: user, content: hi }}], max_tokens: 4 }}\n    expect:\n      status: 200\n      thresholds: [p50(latency) < 10s]\n"
        ));
    }
    dir.write("sharded.yaml", &text).to_str().unwrap().to_string()
}

fn results(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn three_shards_send_exactly_what_one_run_sends() {
    let sim = SimProcess::start(&[]);
    let dir = TempDir::new();
    let s = spec(&dir);
    let url = sim.url();
    let shards: Vec<(Output, serde_json::Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=3)
            .map(|k| {
                let (s, url, json) = (&s, &url, dir.path(&format!("shard{k}.json")));
                scope.spawn(move || {
                    let shard = format!("{k}/3");
                    let out =
                        llmspec(&["run", s, "--base-url", url, "--shard", &shard, "--json", json.to_str().unwrap()]);
                    (out, results(&json))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(sim.metric("llmspec_sim:requests_total"), 40.0, "23 + 17 generation requests in all");

    let mut ran: BTreeMap<String, usize> = BTreeMap::new();
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    let digest = &shards[0].1["run"]["plan"];
    for (k, (out, json)) in shards.iter().enumerate() {
        assert_eq!(out.code, 0, "shard {}: {}{}", k + 1, out.stdout, out.stderr);
        assert!(out.stderr.contains(&format!("shard {}/3 (from --shard)", k + 1)), "{}", out.stderr);
        assert_eq!(json["run"]["shard"], serde_json::json!({"index": k + 1, "total": 3}));
        assert_eq!(&json["run"]["plan"], digest, "one plan, one digest");
        for test in json["suites"][0]["tests"].as_array().unwrap() {
            let name = test["name"].as_str().unwrap().to_string();
            if let Some(count) = test["aggregate"]["count"].as_u64() {
                *sent.entry(name.clone()).or_default() += count;
            }
            if name.contains(": p50(latency)") {
                assert_eq!(test["verdict"], "skipped", "{test}");
                assert!(test["message"].as_str().unwrap().contains("llmspec merge"), "{test}");
            }
            *ran.entry(name).or_default() += 1;
        }
    }
    for i in 0..FUNCTIONAL {
        assert_eq!(ran.get(&format!("health {i}")), Some(&1), "each functional test on one shard: {ran:?}");
    }
    assert!(ran.values().filter(|n| **n == 1).count() >= 2, "the tests are spread over the shards: {ran:?}");
    assert_eq!(sent.get("closed loop"), Some(&23), "{sent:?}");
    assert_eq!(sent.get("open loop"), Some(&17), "{sent:?}");
    assert_eq!(ran.get("closed loop"), Some(&3), "every shard runs its part of a load");
}

#[test]
fn gitlab_and_kubernetes_say_which_shard() {
    let dir = TempDir::new();
    let s = spec(&dir);
    let sim = SimProcess::start(&[]);
    let out = llmspec_env(&["run", &s, "--base-url", &sim.url()], &[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "2")]);
    assert!(out.stderr.contains("shard 2/2 (from CI_NODE_INDEX and CI_NODE_TOTAL)"), "{}", out.stderr);
    let out = llmspec_env(&["run", &s, "--base-url", &sim.url()], &[("JOB_COMPLETION_INDEX", "0")]);
    assert_eq!(out.code, 2, "an index without a total is a usage error: {}", out.stderr);
    assert!(out.stderr.contains("--shard-total"), "{}", out.stderr);
    let out =
        llmspec_env(&["run", &s, "--base-url", &sim.url(), "--shard-total", "2"], &[("JOB_COMPLETION_INDEX", "0")]);
    assert!(out.stderr.contains("shard 1/2 (from JOB_COMPLETION_INDEX)"), "{}", out.stderr);
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--start-at", "2020-01-01T00:00:00Z"]);
    assert!(out.stderr.contains("--start-at was") && out.code == 0, "{}", out.stderr);
    let soon = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--start-at", &format!("{soon}+2s")]);
    assert!(out.stderr.contains("waiting 1") || out.stderr.contains("waiting 2"), "{}", out.stderr);
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--start-at", "noon"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// Value → count of one histogram of a load test's aggregate in `--json` results.
fn histogram(results: &serde_json::Value, test: &str, series: &str) -> BTreeMap<u64, u64> {
    let tests = results["suites"][0]["tests"].as_array().unwrap();
    let entry = tests.iter().find(|t| t["name"] == test).unwrap_or_else(|| panic!("no {test}"));
    let mut counts = BTreeMap::new();
    for pair in entry["aggregate"]["histograms"][series]["counts"].as_array().unwrap() {
        *counts.entry(pair[0].as_u64().unwrap()).or_default() += pair[1].as_u64().unwrap();
    }
    counts
}

const RECORDED: [&str; 3] =
    ["tests/data/merge/shard-1.json", "tests/data/merge/shard-2.json", "tests/data/merge/shard-3.json"];

/// Three shards recorded once (tests/data/merge/): two against a fast server, one against a
/// slow one. The merge adds every histogram bucket exactly and judges the whole load, which
/// holds its median but not its 99th percentile.
#[test]
fn merging_recorded_shards_is_exact_and_judges_the_whole_load() {
    let dir = TempDir::new();
    let merged = dir.path("merged.json");
    let junit = dir.path("merged.xml");
    let out = llmspec(&[
        "merge",
        RECORDED[2],
        RECORDED[0],
        RECORDED[1],
        "--json",
        merged.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "a threshold fails on the whole load: {}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("PASS chat load: p50(latency) < 150ms"), "{}", out.stdout);
    assert!(out.stdout.contains("FAIL chat load: p99(latency) < 150ms"), "{}", out.stdout);
    assert!(
        out.stdout.contains("PASS health") && out.stdout.contains("PASS models"),
        "each functional test once: {}",
        out.stdout
    );
    assert_valid_junit(&junit);
    let merged = results(&merged);
    let shards: Vec<serde_json::Value> = RECORDED.iter().map(|p| results(std::path::Path::new(p))).collect();
    for series in ["latency", "e2e", "ttfb", "output_tokens", "tokens_per_second"] {
        let mut sum: BTreeMap<u64, u64> = BTreeMap::new();
        for shard in &shards {
            for (value, count) in histogram(shard, "chat load", series) {
                *sum.entry(value).or_default() += count;
            }
        }
        assert_eq!(histogram(&merged, "chat load", series), sum, "{series}: every bucket is the sum of the shards'");
    }
    let tests = merged["suites"][0]["tests"].as_array().unwrap();
    let load = tests.iter().find(|t| t["name"] == "chat load").unwrap();
    assert_eq!(load["aggregate"]["count"], 60);
    assert_eq!(tests.iter().filter(|t| t["name"] == "health").count(), 1);
    assert!(merged["run"]["shard"].is_null(), "the merged results are one run's");

    // Each shard alone held the 99th percentile it measured, or did not judge it at all.
    for shard in &shards {
        let p99 = shard["suites"][0]["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "chat load: p99(latency) < 150ms")
            .cloned();
        assert_eq!(p99.map(|t| t["verdict"].clone()), Some(serde_json::json!("skipped")));
    }
}

#[test]
fn a_missing_doubled_or_foreign_shard_is_an_error_of_the_merge() {
    let dir = TempDir::new();
    let out = llmspec(&["merge", RECORDED[0], RECORDED[2]]);
    assert_eq!(out.code, 3, "a missing shard leaves the load without a verdict: {}", out.stdout);
    assert!(out.stdout.contains("shard 2/3 is missing"), "{}", out.stdout);
    let out = llmspec(&["merge", RECORDED[0], RECORDED[1], RECORDED[2], RECORDED[1]]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(out.stdout.contains("shard 2/3 is given 2 times"), "{}", out.stdout);
    let text = std::fs::read_to_string(RECORDED[1]).unwrap();
    let foreign = dir.write("foreign.json", &text.replace("\"plan\": \"", "\"plan\": \"0"));
    let out = llmspec(&["merge", RECORDED[0], foreign.to_str().unwrap(), RECORDED[2]]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(out.stdout.contains("ran other specs or variables"), "{}", out.stdout);
    let broken = dir.write("broken.json", "{ not json");
    let out = llmspec(&["merge", broken.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("is not JSON"), "{}", out.stderr);
}

/// Shards against live simulators: the merged counts are the requests the servers received,
/// and a threshold on the whole load flips when one shard's server is slowed.
#[test]
fn live_shards_merge_to_the_requests_sent_and_a_slow_shard_flips_the_whole() {
    let fast = SimProcess::start(&[]);
    let slow = SimProcess::start(&["--latency", "300ms"]);
    let dir = TempDir::new();
    let s = dir.write(
        "load.yaml",
        "suite: live\ntests:\n  - name: chat load\n    load: { requests: 45, concurrency: 9 }\n    request:\n      POST: /v1/chat/completions\n      json: { messages: [{ role: user, content: hi }], max_tokens: 4 }\n    expect:\n      status: 200\n      thresholds: [p95(latency) < 200ms, p50(latency) < 200ms]\n",
    );
    let s = s.to_str().unwrap().to_string();
    let run_shards = |slow_shard: Option<u32>| -> Output {
        let files: Vec<String> =
            (1..=3).map(|k| dir.path(&format!("s{k}.json")).to_str().unwrap().to_string()).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (1..=3u32)
                .map(|k| {
                    let url = if slow_shard == Some(k) { slow.url() } else { fast.url() };
                    let (s, file) = (&s, &files[k as usize - 1]);
                    scope.spawn(move || {
                        llmspec(&["run", s, "--base-url", &url, "--shard", &format!("{k}/3"), "--json", file])
                    })
                })
                .collect();
            for h in handles {
                let out = h.join().unwrap();
                assert_eq!(out.code, 0, "a shard alone judges no threshold: {}", out.stdout);
            }
        });
        let mut args = vec!["merge".to_string()];
        args.extend(files);
        llmspec(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let all_fast = run_shards(None);
    assert_eq!(all_fast.code, 0, "{}", all_fast.stdout);
    assert!(all_fast.stdout.contains("45 requests"), "{}", all_fast.stdout);
    assert_eq!(fast.metric("llmspec_sim:requests_total"), 45.0);
    let one_slow = run_shards(Some(2));
    assert_eq!(one_slow.code, 1, "{}", one_slow.stdout);
    assert!(one_slow.stdout.contains("FAIL chat load: p95(latency) < 200ms"), "{}", one_slow.stdout);
    assert!(one_slow.stdout.contains("PASS chat load: p50(latency) < 200ms"), "{}", one_slow.stdout);
    assert_eq!(fast.metric("llmspec_sim:requests_total") + slow.metric("llmspec_sim:requests_total"), 90.0);
    assert_eq!(slow.metric("llmspec_sim:requests_total"), 15.0, "a third of the requests went to the slow shard");
}

/// A capacity search runs whole on the first shard; the merged reports show its knee and steps
/// as that shard's did.
#[test]
fn a_merged_capacity_search_keeps_its_steps_and_knee() {
    let sim = SimProcess::start(&[]);
    let dir = TempDir::new();
    let s = dir.write(
        "sweep.yaml",
        "suite: swept\ntests:\n  - name: health\n    request: { GET: /health }\n  - name: capacity\n    load: { sweep: { concurrency: [1, 2], requests: 4 } }\n    request:\n      POST: /v1/chat/completions\n      json: { messages: [{ role: user, content: hi }], max_tokens: 4 }\n    expect:\n      status: 200\n      thresholds: [\"p50(latency) < 10s\", \"capacity(concurrency) >= 1\"]\n",
    );
    let s = s.to_str().unwrap().to_string();
    let files: Vec<String> = (1..=2).map(|k| dir.path(&format!("s{k}.json")).to_str().unwrap().to_string()).collect();
    for (k, file) in files.iter().enumerate() {
        let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--shard", &format!("{}/2", k + 1), "--json", file]);
        assert_eq!(out.code, 0, "{}", out.stdout);
    }
    let summary = dir.path("summary.md");
    let out = llmspec(&["merge", &files[0], &files[1], "--summary", summary.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("knee: concurrency 2 or more"), "{}", out.stdout);
    assert!(out.stdout.contains("PASS capacity: capacity(concurrency) >= 1"), "{}", out.stdout);
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("### Capacity searches") && summary.contains("| swept › capacity | 2 |"), "{summary}");
}

/// One run's results, unsharded, render their reports again.
#[test]
fn a_single_runs_results_render_again() {
    let sim = SimProcess::start(&[]);
    let dir = TempDir::new();
    let s = spec(&dir);
    let json = dir.path("run.json");
    let run = llmspec(&["run", &s, "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let (html, junit) = (dir.path("again.html"), dir.path("again.xml"));
    let out = llmspec(&[
        "merge",
        json.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("llmspec merge"), "no problem of the merge: {}", out.stdout);
    assert!(out.stdout.contains("PASS closed loop: p50(latency) < 10s"), "thresholds judged again: {}", out.stdout);
    assert!(std::fs::read_to_string(&html).unwrap().contains("closed loop"));
    assert_valid_junit(&junit);
}

/// A signal while waiting for `--start-at` ends the wait: nothing runs, and the exit code
/// names the signal.
#[test]
fn a_signal_ends_the_wait_for_the_start() {
    let dir = TempDir::new();
    let s = spec(&dir);
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let start_at = format!("{now}+10m");
    let args = ["run", &s, "--base-url", "http://127.0.0.1:9", "--start-at", &start_at];
    let stopped = signalled(&args, "", std::time::Duration::from_millis(500), "INT");
    let stdout = stopped.rest;
    assert_eq!(stopped.code, Some(130), "{stdout}");
    assert!(stopped.stopped_in < std::time::Duration::from_secs(20), "the wait ends at once");
    assert!(stdout.contains("INTERRUPTED") && !stdout.contains("PASS health"), "nothing ran: {stdout}");
}
