//! Lifecycle steps: `exec` a command, `sleep`, `wait_until` a request passes. For crash and
//! recovery tests, where the server is acted on rather than only asked.

use super::event::{TestOutcome, Transcript, Verdict};
use super::{RunOptions, judge, prepare, sent_json};
use crate::expect::threshold::Measurements;
use crate::expect::{Check, Failure};
use crate::expr::bindings::Known;
use crate::metrics::aggregate::Aggregate;
use crate::redact::Redactor;
use crate::spec::interp::render_str;
use crate::spec::plan::{StepKind, StepPlan, TestPlan};
use crate::vocab::text::trim_middle;
use crate::vocab::units::format_duration;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the processes of an exec step have, after SIGTERM, to end before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// How often, during the grace period, the processes are looked for.
const STOP_POLL: Duration = Duration::from_millis(50);

/// The processes the exec steps of one run started. Every exec step runs in a process group
/// of its own, so that what its command leaves behind (`server &` in a shell, children of a
/// background command) can be found and stopped with it when the run ends or is interrupted.
#[derive(Default)]
pub struct Background {
    groups: Mutex<Vec<Group>>,
}

struct Group {
    /// The group's id: the pid of the command, which leads it.
    pgid: u32,
    /// A `background: true` command, to be reaped once stopped; a foreground command is
    /// reaped by its step.
    leader: Option<tokio::process::Child>,
}

impl Background {
    fn add(&self, pgid: u32, leader: Option<tokio::process::Child>) {
        if let Ok(mut groups) = self.groups.lock() {
            groups.push(Group { pgid, leader });
        }
    }

    /// Stops every process of every group: SIGTERM, then SIGKILL to what is left after
    /// [`STOP_GRACE`].
    pub async fn stop(&self) {
        let groups = match self.groups.lock() {
            Ok(mut groups) => std::mem::take(&mut *groups),
            Err(_) => return,
        };
        let pgids: Vec<u32> = groups.iter().map(|g| g.pgid).collect();
        stop_groups(&pgids).await;
        for mut leader in groups.into_iter().filter_map(|g| g.leader) {
            // Killed above; the wait only collects its exit status.
            let _ = leader.start_kill();
            let _ = tokio::time::timeout(STOP_POLL, leader.wait()).await;
        }
    }
}

/// SIGTERM to the groups, then SIGKILL to those that still have a live process after the
/// grace period.
async fn stop_groups(pgids: &[u32]) {
    let mut alive = live_groups(pgids).await;
    if alive.is_empty() {
        return;
    }
    signal_groups("TERM", &alive).await;
    let polls = STOP_GRACE.as_millis() / STOP_POLL.as_millis();
    for _ in 0..polls {
        tokio::time::sleep(STOP_POLL).await;
        alive = live_groups(&alive).await;
        if alive.is_empty() {
            return;
        }
    }
    signal_groups("KILL", &alive).await;
}

/// Signals whole process groups with the `kill` command: std only signals one process, and a
/// system call of our own would need `unsafe` or a new dependency.
async fn signal_groups(signal: &str, pgids: &[u32]) {
    let groups = pgids.iter().map(|p| format!("-{p}"));
    let _ = tokio::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .args(groups)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

/// The groups among `pgids` that still have a process that is not a zombie, from /proc.
async fn live_groups(pgids: &[u32]) -> Vec<u32> {
    let wanted: HashSet<u32> = pgids.iter().copied().collect();
    let found = tokio::task::spawn_blocking(move || {
        let mut found = HashSet::new();
        let Ok(entries) = std::fs::read_dir("/proc") else { return found };
        for entry in entries.flatten() {
            let is_pid = entry.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            if !is_pid {
                continue;
            }
            if let Some(pgid) = std::fs::read_to_string(entry.path().join("stat")).ok().and_then(|s| live_pgid(&s))
                && wanted.contains(&pgid)
            {
                found.insert(pgid);
            }
        }
        found
    })
    .await
    .unwrap_or_default();
    pgids.iter().copied().filter(|p| found.contains(p)).collect()
}

/// The process group in a /proc/PID/stat line, unless the process is a zombie (it has ended
/// and waits only to be reaped).
fn live_pgid(stat: &str) -> Option<u32> {
    // The command name (field 2) may hold spaces and parentheses; the fields after its last
    // closing parenthesis are plain: state, ppid, pgrp, ...
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(1)?.parse().ok()
}

pub async fn run(
    client: &reqwest::Client,
    test: &TestPlan,
    captures: &mut HashMap<String, Value>,
    redactor: &Redactor,
    opts: &RunOptions,
    background: &Background,
    known: &Known,
) -> Vec<TestOutcome> {
    let start = Instant::now();
    let mut values: BTreeMap<String, f64> = BTreeMap::new();
    let mut starts: HashMap<String, Instant> = HashMap::new();
    let mut log = vec![];
    let mut verdict = Verdict::Passed;
    for step in &test.steps {
        let began = Instant::now();
        if let Some(name) = &step.as_name {
            starts.insert(name.clone(), began);
        }
        // Exec steps get somewhere to leave their processes only when they may run.
        let exec = opts.allow_exec.then_some(background);
        match one(client, step, captures, redactor, exec, &opts.read, &starts, &mut log, known).await {
            Ok(value) => {
                if let Some(name) = &step.as_name {
                    let v = value.unwrap_or_else(|| began.elapsed().as_secs_f64());
                    values.insert(name.clone(), v);
                    captures.insert(name.clone(), serde_json::json!(v));
                }
            }
            Err(v) => {
                verdict = v;
                break;
            }
        }
    }
    let outcome = TestOutcome {
        duration: start.elapsed(),
        properties: values.iter().map(|(k, v)| (k.clone(), crate::vocab::compare::trim_float(*v))).collect(),
        transcript: Some(Transcript { notes: log, ..Transcript::default() }),
        ..TestOutcome::bare(&test.name, test.loc, verdict)
    };
    let (agg, samples) = (Aggregate::default(), BTreeMap::new());
    let m = Measurements {
        aggregate: &agg,
        windows: &[],
        samples: &samples,
        fit_after: 0.0,
        steps: &values,
        baseline: None,
        capacity: None,
    };
    let mut outcomes = vec![outcome];
    outcomes.extend(super::load::threshold_outcomes(test, &m, known));
    outcomes
}

#[allow(clippy::too_many_arguments)]
/// Runs one step. `Ok(Some(v))` records `v` rather than the step's duration (a pid). `exec`
/// is where exec steps leave their processes, `None` when they may not run.
async fn one(
    client: &reqwest::Client,
    step: &StepPlan,
    captures: &HashMap<String, Value>,
    redactor: &Redactor,
    exec: Option<&Background>,
    read: &crate::run::http::ReadOptions,
    starts: &HashMap<String, Instant>,
    log: &mut Vec<String>,
    known: &Known,
) -> Result<Option<f64>, Verdict> {
    let fail = |subject: String, expected: String, actual: String| {
        Verdict::Failed(vec![Failure { check: Check::Step, loc: step.loc, subject, expected, actual }])
    };
    match &step.kind {
        StepKind::Sleep(d) => {
            tokio::time::sleep(*d).await;
            log.push(format!("sleep {}", format_duration(*d)));
            Ok(None)
        }
        StepKind::Exec { command, background: in_background, timeout, expect_exit } => {
            let words: Vec<String> =
                command.iter().map(|w| render_str(w, captures)).collect::<Result<_, _>>().map_err(Verdict::Error)?;
            let shown = words.join(" ");
            let Some(background) = exec else {
                return Err(Verdict::Error(format!("refused to run `{shown}`: exec steps run only with --allow-exec")));
            };
            let mut command = tokio::process::Command::new(&words[0]);
            command.args(&words[1..]).process_group(0).stdin(Stdio::null());
            if *in_background {
                let child = command
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| Verdict::Error(format!("cannot start `{shown}`: {e}")))?;
                let Some(pid) = child.id() else {
                    return Err(Verdict::Error(format!("`{shown}` ended before its pid could be read")));
                };
                background.add(pid, Some(child));
                log.push(format!("exec (background) {shown}: pid {pid}"));
                return Ok(Some(f64::from(pid)));
            }
            let child = command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| Verdict::Error(format!("cannot run `{shown}`: {e}")))?;
            // Known to the run before anything can interrupt the step, so that what the
            // command starts is stopped with the run even if the step is abandoned.
            if let Some(pid) = child.id() {
                background.add(pid, None);
            }
            let pgid = child.id();
            let out = match tokio::time::timeout(*timeout, child.wait_with_output()).await {
                Err(_) => {
                    if let Some(pgid) = pgid {
                        stop_groups(&[pgid]).await;
                    }
                    return Err(fail(
                        format!("exec `{shown}`"),
                        format!("an end within {}", format_duration(*timeout)),
                        "still running (killed)".into(),
                    ));
                }
                Ok(Err(e)) => return Err(Verdict::Error(format!("cannot run `{shown}`: {e}"))),
                Ok(Ok(out)) => out,
            };
            let code = out.status.code().map_or(-1, i64::from);
            let text = |b: &[u8]| trim_middle(String::from_utf8_lossy(b).trim(), 500);
            log.push(format!(
                "exec {shown}: exit {code}\n  stdout: {}\n  stderr: {}",
                text(&out.stdout),
                text(&out.stderr)
            ));
            if code != *expect_exit {
                return Err(fail(
                    format!("exec `{shown}`"),
                    format!("exit status {expect_exit}"),
                    format!("exit status {code}: {}", text(&out.stderr)),
                ));
            }
            Ok(None)
        }
        StepKind::WaitUntil { exchange, timeout, every, from } => {
            let began = from.as_ref().and_then(|f| starts.get(f).copied()).unwrap_or_else(Instant::now);
            let deadline = Instant::now() + *timeout;
            let mut tries = 0;
            loop {
                tries += 1;
                let outgoing = prepare(exchange, captures, redactor, read).map_err(Verdict::Error)?;
                let sent = sent_json(&outgoing);
                let attempt = outgoing.clone();
                let outgoing = Outgoing {
                    timeout: outgoing
                        .timeout
                        .min(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100))),
                    ..attempt
                };
                let judged = judge(client, exchange, &outgoing, sent.as_ref(), known, captures).await;
                if judged.verdict == Verdict::Passed {
                    let elapsed = began.elapsed();
                    log.push(format!(
                        "wait_until {}: passed after {tries} tries, {}",
                        outgoing.url,
                        format_duration(elapsed)
                    ));
                    return Ok(Some(elapsed.as_secs_f64()));
                }
                if Instant::now() + *every > deadline {
                    let last = judged.verdict.headline();
                    log.push(format!("wait_until {}: gave up after {tries} tries; last: {last}", outgoing.url));
                    return Err(fail(
                        format!("wait_until {}", outgoing.url),
                        format!("its expectations to hold within {}", format_duration(*timeout)),
                        format!("{tries} tries, the last: {last}"),
                    ));
                }
                tokio::time::sleep(*every).await;
            }
        }
    }
}

use super::http::Outgoing;

#[cfg(test)]
mod tests {
    use super::live_pgid;

    #[test]
    fn reads_the_group_of_a_live_process_and_skips_zombies() {
        assert_eq!(live_pgid("4242 (sleep) S 4241 4240 4240 0 -1 4194304"), Some(4240));
        assert_eq!(live_pgid("7 (a (b) c) R 1 7 7 0"), Some(7), "a command name with spaces and parentheses");
        assert_eq!(live_pgid("4242 (sleep) Z 1 4240 4240 0"), None);
        assert_eq!(live_pgid("garbage"), None);
    }
}
