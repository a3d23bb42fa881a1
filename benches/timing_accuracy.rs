//! How precisely llmspec times streams: its TTFT and chunk gaps against the moments the server
//! really sent each chunk, with many streams at once.
//!
//! The simulator runs as a separate process with `--stamp`, so each chunk carries the wall-clock
//! time at which the server handed it to the connection. The client side is llmspec's own
//! reader (`run::http::exchange`), the code every spec goes through; its arrival timestamps are
//! converted to the same wall clock through one (Instant, SystemTime) pair. For each chunk
//! carrying output, the error is the client's arrival timestamp minus the server's send time:
//! what the instrument adds to the truth (loopback, kernel, scheduling, reading). The TTFT
//! error is that of the first output chunk; the chunk-gap error is the difference between the
//! client's gap and the server's gap. Streams start staggered, as real users do.
//!
//! `cargo bench --bench timing_accuracy -- [STREAMS...]` (default: 100 1000).

use llmspec_core::run::chunk::carries_output;
use llmspec_core::run::http::{self, Outgoing, ReadOptions};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TTFT_MS: u64 = 50;
const GAP_MS: u64 = 20;
const TOKENS: u64 = 32;
const ROUNDS: usize = 3;

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: building is the test.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let streams: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let streams = if streams.is_empty() { vec![100, 1000] } else { streams };
    let port = 18_900 + (std::process::id() % 50) as u16;
    let mut sim = Command::new(env!("CARGO_BIN_EXE_llmspec"))
        .args(["sim", "--stamp", "--port", &port.to_string(), "--output-tokens", &TOKENS.to_string()])
        .args(["--ttft", &format!("{TTFT_MS}ms"), "--chunk-delay", &format!("{GAP_MS}ms")])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the simulator");
    std::thread::sleep(Duration::from_millis(500));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!(
        "server: ttft {TTFT_MS} ms, gap {GAP_MS} ms, {TOKENS} tokens per stream; errors in µs (client arrival − server send)"
    );
    println!("| streams | TTFT error p50 | p99 | max | chunk-gap error p50 | p99 | max | streams measured |");
    println!("|---|---|---|---|---|---|---|---|");
    for n in streams {
        let (mut ttft, mut gaps) = rt.block_on(measure(port, n));
        let row = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
            format!("{:.0} | {:.0} | {:.0}", q(0.5), q(0.99), v[v.len() - 1])
        };
        let count = ttft.len();
        println!("| {n} | {} | {} | {count} |", row(&mut ttft), row(&mut gaps));
    }
    let _ = sim.kill();
}

/// `n` streams at once, `ROUNDS` times each; the first round warms connections and is dropped.
async fn measure(port: u16, n: usize) -> (Vec<f64>, Vec<f64>) {
    let client = http::client(&http::TlsOptions::default()).unwrap();
    let out = Outgoing {
        method: reqwest::Method::POST,
        url: format!("http://127.0.0.1:{port}/v1/chat/completions"),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Some(
            serde_json::to_vec(&serde_json::json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": TOKENS, "stream": true}))
                .unwrap()
                .into(),
        ),
        timeout: Duration::from_secs(120),
        read: ReadOptions { idle_timeout: Duration::from_secs(60), keep_events: true, keep_raw: 0, ..ReadOptions::default() },
    };
    // One reading of both clocks converts every Instant to wall-clock microseconds.
    let (base_instant, base_wall) = (Instant::now(), SystemTime::now().duration_since(UNIX_EPOCH).unwrap());
    let wall_us = move |i: Instant| (base_wall + (i - base_instant)).as_secs_f64() * 1e6;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..n {
        let (client, out) = (client.clone(), out.clone());
        let stagger = Duration::from_millis(GAP_MS) * k as u32 / n as u32;
        tasks.spawn(async move {
            tokio::time::sleep(stagger).await;
            let mut errors = (vec![], vec![]);
            for round in 0..ROUNDS {
                let Ok(obs) = http::exchange(&client, &out).await else { continue };
                let (Some(s), Some(sent)) = (obs.stream, obs.sent_at) else { continue };
                if round == 0 {
                    continue;
                }
                let server: Vec<f64> = s
                    .events
                    .iter()
                    .filter(|e| carries_output(e))
                    .filter_map(|e| e.get("sim_sent_us").and_then(serde_json::Value::as_f64))
                    .collect();
                let client: Vec<f64> = s.output.kept.iter().map(|d| wall_us(sent + *d)).collect();
                if server.len() != client.len() || server.is_empty() {
                    continue;
                }
                errors.0.push(client[0] - server[0]);
                for k in 1..server.len() {
                    errors.1.push((client[k] - client[k - 1]) - (server[k] - server[k - 1]));
                }
            }
            errors
        });
    }
    let (mut ttft, mut gaps) = (vec![], vec![]);
    while let Some(Ok((t, g))) = tasks.join_next().await {
        ttft.extend(t);
        gaps.extend(g.into_iter().map(f64::abs));
    }
    (ttft, gaps)
}
