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
//! With `taskset` and two or more allowed cores, the simulator runs on the first allowed core
//! and this process moves itself to the others before it starts any thread, so that client and
//! server never compete for a core; the plan is printed first. Each stream holds a descriptor in
//! each process: 4,000 streams need a soft `ulimit -n` above 4,000 (scripts/bench raises it to
//! the hard limit).
//!
//! `cargo bench --bench timing_accuracy -- [STREAMS...]` (default: 1000 4000).

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
    let streams = if streams.is_empty() { vec![1000, 4000] } else { streams };
    let port = 18_900 + (std::process::id() % 50) as u16;
    let sim_cores = pin_apart();
    if let Some(limit) = soft_nofile_limit() {
        let needed = streams.iter().max().copied().unwrap_or(0) + 100;
        if limit < needed as u64 {
            println!(
                "warning: ulimit -n is {limit}; {needed} descriptors are needed (raise it: ulimit -n $(ulimit -Hn))"
            );
        }
    }
    let mut sim_command = match &sim_cores {
        Some(cores) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cores]).arg(env!("CARGO_BIN_EXE_llmspec"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_llmspec")),
    };
    let mut sim = sim_command
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
    let _ = sim.wait();
}

/// The cores this process may run on, from /proc/self/status (`Cpus_allowed_list: 0-3,6`).
fn allowed_cores() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(list) = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")) else { return vec![] };
    let mut cores = vec![];
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(lo), Ok(hi)) = (lo.parse::<usize>(), hi.parse::<usize>()) {
            cores.extend(lo..=hi);
        }
    }
    cores
}

/// With taskset and two or more allowed cores: moves this process (still single-threaded) to
/// every allowed core but the first and returns that first one for the simulator. Otherwise
/// nothing is pinned. Prints the plan either way.
fn pin_apart() -> Option<String> {
    let cores = allowed_cores();
    let join = |c: &[usize]| c.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    let has_taskset = Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if cores.len() < 2 || !has_taskset {
        println!(
            "cores: not pinned ({} allowed core(s), taskset {})",
            cores.len(),
            if has_taskset { "present" } else { "missing" }
        );
        return None;
    }
    let (server, client) = (join(&cores[..1]), join(&cores[1..]));
    let moved = Command::new("taskset")
        .args(["-a", "-p", "-c", &client, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if moved {
        println!("cores: simulator on {server}, client (this process) on {client}");
    } else {
        println!("cores: simulator on {server}, client unpinned (taskset -p failed)");
    }
    Some(server)
}

/// The soft limit on open descriptors, from /proc/self/limits.
fn soft_nofile_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
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
