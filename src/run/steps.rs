//! Lifecycle steps: `exec` a command, `sleep`, `wait_until` a request passes. For crash and
//! recovery tests, where the server is acted on rather than only asked.

use super::event::{TestOutcome, Transcript, Verdict};
use super::{RunOptions, judge, prepare, sent_json, skipped};
use crate::expect::Failure;
use crate::expect::threshold::Measurements;
use crate::metrics::aggregate::Aggregate;
use crate::redact::Redactor;
use crate::spec::interp::render_str;
use crate::spec::plan::{StepKind, StepPlan, TestPlan};
use crate::text::trim_middle;
use crate::units::format_duration;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Processes started with `background: true`, killed when the run ends so none outlives it.
static BACKGROUND: Mutex<Vec<std::process::Child>> = Mutex::new(Vec::new());

pub fn stop_background() {
    if let Ok(mut children) = BACKGROUND.lock() {
        for mut c in children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub async fn run(
    client: &reqwest::Client,
    test: &TestPlan,
    captures: &mut HashMap<String, Value>,
    redactor: &Redactor,
    opts: &RunOptions,
) -> Vec<TestOutcome> {
    let start = Instant::now();
    let mut outcome = skipped(test, String::new());
    let mut values: BTreeMap<String, f64> = BTreeMap::new();
    let mut starts: HashMap<String, Instant> = HashMap::new();
    let mut log = vec![];
    let mut verdict = Verdict::Passed;
    for step in &test.steps {
        let began = Instant::now();
        if let Some(name) = &step.as_name {
            starts.insert(name.clone(), began);
        }
        match one(client, step, captures, redactor, opts, &starts, &mut log).await {
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
    outcome.duration = start.elapsed();
    outcome.verdict = verdict;
    outcome.properties = values.iter().map(|(k, v)| (k.clone(), crate::spec::compare::trim_float(*v))).collect();
    outcome.transcript = Some(Transcript { notes: log, ..Transcript::default() });
    let (agg, samples) = (Aggregate::default(), BTreeMap::new());
    let m = Measurements { aggregate: &agg, windows: &[], samples: &samples, fit_after: 0.0, steps: &values };
    let mut outcomes = vec![outcome];
    outcomes.extend(super::load::threshold_outcomes(test, &m));
    outcomes
}

/// Runs one step. `Ok(Some(v))` records `v` rather than the step's duration (a pid).
async fn one(
    client: &reqwest::Client,
    step: &StepPlan,
    captures: &HashMap<String, Value>,
    redactor: &Redactor,
    opts: &RunOptions,
    starts: &HashMap<String, Instant>,
    log: &mut Vec<String>,
) -> Result<Option<f64>, Verdict> {
    let fail = |subject: String, expected: String, actual: String| {
        Verdict::Failed(vec![Failure { loc: step.loc, subject, expected, actual }])
    };
    match &step.kind {
        StepKind::Sleep(d) => {
            tokio::time::sleep(*d).await;
            log.push(format!("sleep {}", format_duration(*d)));
            Ok(None)
        }
        StepKind::Exec { command, background, timeout, expect_exit } => {
            let words: Vec<String> =
                command.iter().map(|w| render_str(w, captures)).collect::<Result<_, _>>().map_err(Verdict::Error)?;
            let shown = words.join(" ");
            if !opts.allow_exec {
                return Err(Verdict::Error(format!("refused to run `{shown}`: exec steps run only with --allow-exec")));
            }
            if *background {
                let child = std::process::Command::new(&words[0])
                    .args(&words[1..])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .map_err(|e| Verdict::Error(format!("cannot start `{shown}`: {e}")))?;
                let pid = child.id();
                if let Ok(mut b) = BACKGROUND.lock() {
                    b.push(child);
                }
                log.push(format!("exec (background) {shown}: pid {pid}"));
                return Ok(Some(f64::from(pid)));
            }
            let run = tokio::process::Command::new(&words[0]).args(&words[1..]).kill_on_drop(true).output();
            let out = match tokio::time::timeout(*timeout, run).await {
                Err(_) => {
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
                let outgoing = prepare(&exchange.request, captures, redactor).map_err(Verdict::Error)?;
                let sent = sent_json(&outgoing);
                let attempt = outgoing.clone();
                let outgoing = Outgoing {
                    timeout: outgoing
                        .timeout
                        .min(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100))),
                    ..attempt
                };
                let judged = judge(client, exchange, &outgoing, sent.as_ref()).await;
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
                    let last = super::super::report::render::headline_of(&judged.verdict);
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
