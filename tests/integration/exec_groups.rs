//! Exec steps run in process groups of their own: what a command leaves running (`job &` in a
//! shell, the children of a background command) is stopped with the run, whether the run ends
//! or is interrupted. Every process is checked by its pid in /proc.

use crate::support::{Sim, TempDir};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Steps that start four long sleeps that are not children of llmspec: two under a background
/// command, one left behind by a foreground command, one by a command still running. Each
/// sleep writes its pid to `pids`.
fn spec(dir: &TempDir) -> std::path::PathBuf {
    let pids = dir.path("pids");
    let pids = pids.display();
    dir.write(
        "exec.yaml",
        &format!(
            r#"suite: exec
tests:
  - name: leaves processes behind
    steps:
      - exec:
          command: [sh, -c, "sleep 300 & echo $! >> {pids}; sleep 300 & echo $! >> {pids}; wait"]
          background: true
      - exec: [sh, -c, "sh -c 'sleep 300 & echo $! >> {pids}; wait' >/dev/null 2>&1 &"]
  - name: is still running
    steps:
      - exec:
          command: [sh, -c, "sleep 300 & echo $! >> {pids}; wait"]
          timeout: 60s
"#
        ),
    )
}

/// The pids written so far.
fn read_pids(dir: &TempDir) -> Vec<u32> {
    std::fs::read_to_string(dir.path("pids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Alive means in /proc and not a zombie (an ended process whose parent has not reaped it).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or("");
            state != "Z" && state != "X"
        }
    }
}

/// Kills whatever the test started, even when an assertion failed first.
struct Leftovers<'a>(&'a TempDir);

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        for pid in read_pids(self.0) {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
    }
}

fn start(spec: &Path, sim: &Sim) -> Child {
    Command::new(env!("CARGO_BIN_EXE_llmspec"))
        .args(["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--allow-exec"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Reads the run's output until it holds `text`; the reader goes on from there.
fn read_until(run: &mut Child, text: &str) -> (std::io::BufReader<std::process::ChildStdout>, String) {
    let mut out = String::new();
    let mut reader = std::io::BufReader::new(run.stdout.take().unwrap());
    while !out.contains(text) {
        let before = out.len();
        std::io::BufRead::read_line(&mut reader, &mut out).unwrap();
        assert!(out.len() > before, "{out}");
    }
    (reader, out)
}

/// Waits for `child` to end, at most `limit`.
fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("llmspec did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_all_gone(pids: &[u32]) {
    let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still running after the run: {left:?} of {pids:?}");
}

#[test]
fn what_exec_steps_leave_running_is_stopped_when_the_run_ends() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let _cleanup = Leftovers(&dir);
    // The last test would wait 300 s: give it a 1 s timeout, so that it fails and the run ends.
    let text = std::fs::read_to_string(spec(&dir)).unwrap().replace("timeout: 60s", "timeout: 1s");
    let spec = dir.write("exec.yaml", &text);
    let mut run = start(&spec, &sim);
    let status = wait(&mut run, Duration::from_secs(30));
    let mut out = String::new();
    std::io::Read::read_to_string(run.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("PASS leaves processes behind"), "{out}");
    assert!(out.contains("still running (killed)"), "{out}");
    let pids = read_pids(&dir);
    assert_eq!(pids.len(), 4, "{pids:?}");
    assert_all_gone(&pids);
}

#[test]
fn what_exec_steps_leave_running_is_stopped_when_the_run_is_interrupted() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let _cleanup = Leftovers(&dir);
    let spec = spec(&dir);
    let mut run = start(&spec, &sim);
    let started = Instant::now();
    while read_pids(&dir).len() < 4 {
        assert!(started.elapsed() < Duration::from_secs(20), "the steps did not start: {:?}", read_pids(&dir));
        assert!(run.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pids = read_pids(&dir);
    assert!(pids.iter().all(|p| alive(*p)), "{pids:?}");
    let sent = Command::new("kill").arg("-INT").arg(run.id().to_string()).status().unwrap();
    assert!(sent.success());
    let status = wait(&mut run, Duration::from_secs(30));
    assert_eq!(status.code(), Some(130));
    assert_all_gone(&pids);
}

/// A test whose background step ignores `signals` (and writes its pid to `pids`).
fn stubborn_spec(dir: &TempDir, signals: &str) -> std::path::PathBuf {
    let command = format!("trap '' {signals}; echo $$ >> {}; sleep 30", dir.path("pids").display());
    dir.write(
        "exec.yaml",
        &format!(
            "suite: exec\ntests:\n  - name: stubborn\n    steps:\n      - exec:\n          command: [sh, -c, \"{command}\"]\n          background: true\n"
        ),
    )
}

/// A signal that arrives while the run stops what exec steps left behind still cuts the run
/// short: TERMINATED and 143, never PASSED and 0.
#[test]
fn a_signal_during_the_last_cleanup_is_not_a_pass() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let _cleanup = Leftovers(&dir);
    let spec = stubborn_spec(&dir, "TERM");
    let mut run = start(&spec, &sim);
    // The test has passed: the run is now stopping the step, which ignores SIGTERM for 2 s.
    let (mut reader, mut out) = read_until(&mut run, "PASS stubborn");
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill").arg("-TERM").arg(run.id().to_string()).status().unwrap();
    std::io::Read::read_to_string(&mut reader, &mut out).unwrap();
    let status = wait(&mut run, Duration::from_secs(30));
    assert_eq!(status.code(), Some(143), "{out}");
    assert!(out.contains("TERMINATED: 1 passed"), "{out}");
}

/// A second signal ends the run at once, even while it waits for a step that ignores SIGTERM:
/// a run stuck while finishing can always be stopped.
#[test]
fn a_second_signal_stops_at_once() {
    let sim = Sim::start();
    let dir = TempDir::new();
    let _cleanup = Leftovers(&dir);
    let spec = stubborn_spec(&dir, "TERM INT");
    let mut run = Command::new(env!("CARGO_BIN_EXE_llmspec"))
        .args(["run", spec.to_str().unwrap(), "--base-url", &sim.url(), "--allow-exec"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    read_until(&mut run, "PASS stubborn");
    // The run now waits up to 2 s for the step to end before it kills it.
    let interrupt = || Command::new("kill").arg("-INT").arg(run.id().to_string()).status().unwrap();
    assert!(interrupt().success());
    std::thread::sleep(Duration::from_millis(200));
    interrupt();
    let status = wait(&mut run, Duration::from_secs(30));
    let mut err = String::new();
    std::io::Read::read_to_string(run.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    // Only the second signal's path says so; the first one's would end after the 2 s wait.
    assert!(err.contains("second signal: stopping without finishing the reports"), "{err}");
}
