//! Soak runs with server samples, leak detection, and lifecycle steps that really restart a
//! server. Every run here is seconds long and bounded.

use crate::support::{TempDir, assert_valid_junit, llmspec_env};
use std::process::{Child, Command};

const SHORT: [(&str, &str); 4] =
    [("SOAK_DURATION", "3s"), ("SOAK_INTERVAL", "100ms"), ("LEAK_MAX", "2000/h"), ("DRIFT_MAX", "300%")];

/// The stability soak against a simulator in its own process: its memory is then its own, not
/// that of this test binary, where other tests allocate at the same time.
fn soak(sim_args: &[&str], dir: &TempDir) -> (crate::support::Output, serde_json::Value) {
    let sim = SimProcess::start_with(dir, sim_args);
    let base = format!("http://127.0.0.1:{}", sim.port);
    let junit = dir.path("soak.xml");
    let json = dir.path("soak.json");
    let env: Vec<(&str, &str)> = SHORT.iter().copied().chain([("VLLM_API_BASE", base.as_str())]).collect();
    let out = llmspec_env(
        &[
            "run",
            "specs/vllm-medium/12-stability.yaml",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        &env,
    );
    assert_valid_junit(&junit);
    let results = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (out, results)
}

#[test]
fn a_steady_server_passes_the_stability_soak_with_a_plot_and_series() {
    let dir = TempDir::new();
    let (out, results) = soak(&[], &dir);
    assert_eq!(out.code, 0, "{}", out.stdout);
    // Names are the thresholds as written; the limits the variables give are shown beside.
    for t in ["error_rate < 0.1%", "slope(rss_mb) < ${leak_max}", "drift(latency) < ${drift_max}"] {
        assert!(out.stdout.contains(&format!("PASS 12 long-run stability: {t} (measured")), "{t}: {}", out.stdout);
    }
    let test = &results["suites"][0]["tests"][1];
    let samples = test["series"]["samples"]["rss_mb"].as_array().unwrap();
    assert!(samples.len() >= 5, "{samples:?}");
    assert!(test["series"]["windows"].as_array().unwrap().len() >= 5);
    assert!(test["properties"]["slope_rss_mb_per_h"].is_string());
    let plot = dir.path("vllm-medium_stability--12_long-run_stability.svg");
    let svg = std::fs::read_to_string(&plot).expect("a plot beside the report");
    assert!(svg.starts_with("<svg") && svg.contains("rss_mb") && svg.contains("<polyline"));
}

#[test]
fn a_leaking_server_fails_the_leak_threshold_and_only_it() {
    let dir = TempDir::new();
    let (out, _) = soak(&["--leak-kb-per-request", "2048"], &dir);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("FAIL 12 long-run stability: slope(rss_mb) < ${leak_max} (measured"), "{}", out.stdout);
    assert!(out.stdout.contains("PASS 12 long-run stability: error_rate < 0.1%"), "{}", out.stdout);
}

/// A simulator in its own process, so that a spec can kill it and start it again.
struct SimProcess {
    port: u16,
    pidfile: std::path::PathBuf,
    first: Child,
}

impl SimProcess {
    fn start(dir: &TempDir) -> SimProcess {
        SimProcess::start_with(dir, &[])
    }

    /// The simulator picks a free port itself and says which on its first line.
    fn start_with(dir: &TempDir, args: &[&str]) -> SimProcess {
        let (first, port) = crate::support::spawn_simulator(args);
        SimProcess { port, pidfile: dir.path("sim.pid"), first }
    }

    /// Kills the simulator hard, waits `pause`, starts a new one on the same port.
    fn crash_command(&self, pause: &str) -> String {
        format!(
            "kill -9 {pid}; sleep {pause}; {bin} sim --port {port} >/dev/null 2>&1 & echo $! > {pidfile}",
            pid = self.first.id(),
            bin = env!("CARGO_BIN_EXE_llmspec"),
            port = self.port,
            pidfile = self.pidfile.display()
        )
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.first.kill();
        let _ = self.first.wait();
        if let Ok(pid) = std::fs::read_to_string(&self.pidfile) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn crash(pause: &str, recovery_max: &str, extra: &[&str]) -> crate::support::Output {
    let dir = TempDir::new();
    let sim = SimProcess::start(&dir);
    let base = format!("http://127.0.0.1:{}", sim.port);
    let command = sim.crash_command(pause);
    let mut args = vec!["run", "specs/vllm-medium/15-crash-recovery.yaml"];
    args.extend(extra);
    llmspec_env(&args, &[("VLLM_API_BASE", &base), ("CRASH_COMMAND", &command), ("RECOVERY_MAX", recovery_max)])
}

#[test]
fn crash_recovery_measures_a_real_restart() {
    let out = crash("0.2", "30s", &["--tag", "destructive", "--allow-exec"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let line = out.stdout.lines().find(|l| l.contains("15 crash recovery: recovery < ${recovery_max}")).unwrap();
    let measured = line.rsplit("measured ").next().unwrap().split(", limit").next().unwrap();
    let seconds = llmspec_vocab::units::parse_duration(measured).unwrap().as_secs_f64();
    assert!(seconds >= 0.2, "the recovery includes the restart pause: {line}");
    assert!(line.ends_with(", limit < 30.00s)"), "the limit the variable gives is shown: {line}");
}

#[test]
fn a_slow_restart_fails_the_recovery_threshold() {
    let out = crash("1.5", "1s", &["--tag", "destructive", "--allow-exec"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("FAIL 15 crash recovery: recovery < ${recovery_max} (measured"), "{}", out.stdout);
}

#[test]
fn destructive_tests_are_opt_in_and_exec_needs_permission() {
    let out = crash("0", "30s", &[]);
    assert!(out.stdout.contains("SKIP 15 crash recovery (not selected: tagged `destructive`"), "{}", out.stdout);
    let out = crash("0", "30s", &["--tag", "destructive"]);
    assert_eq!(out.code, 3, "{}", out.stdout);
    assert!(out.stdout.contains("exec steps run only with --allow-exec"), "{}", out.stdout);
}
