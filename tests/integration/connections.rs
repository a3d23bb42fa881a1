//! A load's connections: measured apart (`connect`), opened gradually (`ramp`), spread over
//! source addresses (`--local-addr`), and refused before sending when the machine cannot hold
//! them.

use crate::support::{SimProcess, TempDir, http_response, http_server, llmspec};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn spec(dir: &TempDir, load: &str) -> String {
    let text = format!(
        r#"suite: connections
tests:
  - name: load
    load: {load}
    request:
      POST: /v1/chat/completions
      stream: true
      json: {{ messages: [{{ role: user, content: hi }}], max_tokens: 4 }}
    expect:
      status: 200
"#
    );
    dir.write("load.yaml", &text).to_str().unwrap().to_string()
}

fn test_results(path: &std::path::Path) -> serde_json::Value {
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    r["suites"][0]["tests"][0].clone()
}

#[test]
fn connecting_is_measured_apart_and_shown_on_the_load_line() {
    let sim = SimProcess::start(&[]);
    let dir = TempDir::new();
    let json = dir.path("r.json");
    let s = spec(&dir, "{ requests: 40, concurrency: 4 }");
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let test = test_results(&json);
    // The histogram's [value, count] pairs.
    let pairs = test["aggregate"]["histograms"]["connect"]["counts"].as_array().cloned().unwrap_or_default();
    let opened: u64 = pairs.iter().filter_map(|pair| pair[1].as_u64()).sum();
    // Each worker opens its connection and keeps it: at least one per worker, far fewer than
    // one per request.
    assert!((4..40).contains(&opened), "{opened} connections for 4 workers: {test}");
    assert!(test["properties"]["p99_connect_ms"].is_string(), "{test}");
    let line = out.stdout.lines().find(|l| l.contains("connect p50")).unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(line.contains(&format!("({opened} opened)")), "{line}");
}

#[test]
fn a_threshold_bounds_connecting() {
    let sim = SimProcess::start(&[]);
    let dir = TempDir::new();
    let text = format!(
        "{}      thresholds: [p99(connect) < 1us]\n",
        std::fs::read_to_string(spec(&dir, "{ requests: 8, concurrency: 2 }")).unwrap()
    );
    let s = dir.write("bounded.yaml", &text);
    let out = llmspec(&["run", s.to_str().unwrap(), "--base-url", &sim.url()]);
    assert_eq!(out.code, 1, "no connection opens in a microsecond: {}", out.stdout);
    assert!(out.stdout.contains("p99(connect) < 1us"), "{}", out.stdout);
}

#[test]
fn ramped_workers_start_one_after_another_and_the_ramp_is_not_measured() {
    let sim = SimProcess::start(&["--ttft", "50ms"]);
    let dir = TempDir::new();
    let json = dir.path("r.json");
    let s = spec(&dir, "{ duration: 400ms, concurrency: 4, ramp: 800ms }");
    let started = std::time::Instant::now();
    let out = llmspec(&["run", &s, "--base-url", &sim.url(), "--json", json.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(started.elapsed() >= Duration::from_millis(1200), "the duration counts after the ramp");
    let measured = test_results(&json)["aggregate"]["count"].as_u64().unwrap();
    let sent = sim.metric("llmspec_sim:requests_total") as u64;
    // Worker 1 alone sends some 15 requests of 50 ms before the ramp ends; none is measured.
    assert!(measured > 0 && sent >= measured + 8, "{sent} sent, {measured} measured");
}

/// Answers every request with `{}` and closes the connection, noting the source address of each.
fn noting_server() -> (String, Arc<Mutex<Vec<IpAddr>>>) {
    let peers = Arc::new(Mutex::new(vec![]));
    let noted = peers.clone();
    let url = http_server(200, move |peer, _| {
        noted.lock().unwrap().push(peer.ip());
        http_response("200 OK", "application/json", b"{}")
    });
    (url, peers)
}

#[test]
fn connections_leave_from_every_local_address_in_turn() {
    let (url, peers) = noting_server();
    let dir = TempDir::new();
    let s = spec(&dir, "{ requests: 12, concurrency: 3 }");
    let out = llmspec(&["run", &s, "--base-url", &url, "--local-addr", "127.0.0.2-127.0.0.3,127.0.0.4"]);
    assert_eq!(out.code, 1, "the answers are not streams: {}", out.stdout);
    let peers = peers.lock().unwrap().clone();
    for source in ["127.0.0.2", "127.0.0.3", "127.0.0.4"] {
        let source: IpAddr = source.parse().unwrap();
        assert!(peers.contains(&source), "no connection from {source}: {peers:?}");
    }
    assert!(!peers.contains(&"127.0.0.1".parse::<IpAddr>().unwrap()), "{peers:?}");
    let bad = llmspec(&["run", &s, "--base-url", &url, "--local-addr", "127.0.0.9-127.0.0.2"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("ends before it starts"), "{}", bad.stderr);
}

#[test]
fn a_load_the_machine_cannot_hold_is_refused_before_anything_is_sent() {
    let (url, peers) = noting_server();
    let dir = TempDir::new();
    let s = spec(&dir, "{ requests: 2000000, concurrency: 1000000 }");
    let out = llmspec(&["run", &s, "--base-url", &url]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    // Which limit comes first depends on the machine; either is named with what to raise.
    assert!(
        (out.stdout.contains("open-file limit") && out.stdout.contains("ulimit -n"))
            || (out.stdout.contains("ephemeral ports") && out.stdout.contains("--local-addr")),
        "{}",
        out.stdout
    );
    assert!(peers.lock().unwrap().is_empty(), "nothing was sent");
}

/// 1,100 connections at once that the server has not accepted yet. With tokio's default
/// backlog (1,024) the kernel drops the SYNs past it, and those connects wait a second for the
/// retransmit; the simulator's backlog queues them all.
#[test]
fn a_burst_of_connections_fits_in_the_simulators_backlog() {
    const BURST: usize = 1_100;
    let somaxconn: usize =
        std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
    let files = llmspec_core::run::sockets::raise_open_file_limit().unwrap_or(u64::MAX);
    if somaxconn <= BURST || files < 2 * BURST as u64 {
        eprintln!(
            "skipped: net.core.somaxconn {somaxconn} or the open-file limit {files} cannot hold {BURST} connections"
        );
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listener = rt.block_on(llmspec_sim::listen("127.0.0.1", 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::with_capacity(BURST);
    let mut waited = 0;
    for _ in 0..BURST {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(400)) {
            Ok(stream) => held.push(stream),
            Err(_) => waited += 1,
        }
    }
    assert_eq!(waited, 0, "{waited} of {BURST} connects waited for a SYN retransmit");
    drop(listener);
}
