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
