//! Many requests for one test: a closed loop (workers send back to back) or an open loop
//! (starts planned at a rate, optionally capped). Every answer is judged; the measurements go
//! into an [`Aggregate`]. Always bounded: by a number of requests or a duration, and by each
//! request's own timeout.

use super::event::{TestOutcome, ThresholdResult, Transcript, Verdict};
use super::feed::{self, Conversation, Feed, Prepared};
use super::lanes::Lanes;
use super::{Judged, judge, transcript};
use crate::expect::threshold::Measurements;
use crate::expr::bindings::Known;
use crate::metrics::RequestMetrics;
use crate::metrics::aggregate::{Aggregate, Class};
use crate::metrics::catalog::{SeriesName, Statistic};
use crate::spec::plan::{Arrival, LoadPlan, Share, Stop, TestPlan};
use crate::vocab::random::SplitMix;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// Requests whose failures are shown in full; the rest are counted.
const EXAMPLES: usize = 3;
/// Requests kept individually for the plot; a longer run keeps the first ones.
pub(crate) const MAX_TIMELINE: usize = 200_000;

/// Soak windows default to a sixth of the run: enough to see a trend, each with enough requests.
pub fn default_window(plan: &LoadPlan) -> Duration {
    match plan.stop {
        Stop::Duration(d) => (d / 6).max(Duration::from_millis(100)),
        Stop::Requests(_) => Duration::from_secs(60),
    }
}

/// What a request task reports to the collector: small, so a soak never piles up answers.
struct Sample {
    index: u64,
    sent: Instant,
    done: Instant,
    lag: Option<Duration>,
    class: Class,
    status: Option<u16>,
    metrics: Option<RequestMetrics>,
    /// Only for the first few requests that did not pass.
    example: Option<(Verdict, Transcript)>,
}

/// Where the collector stands, for a progress display.
#[derive(Debug, Clone)]
pub struct Progress {
    pub done: u64,
    /// The requests planned, when the test stops after a count.
    pub total: Option<u64>,
    pub errors: u64,
    pub p50_latency: Option<f64>,
    pub elapsed: Duration,
    /// How long the test runs, when it stops after a duration (a soak).
    pub planned: Option<Duration>,
    /// The step of a sweep under way, e.g. `concurrency 8 (step 4 of 6)`; the counts above
    /// are the step's.
    pub step: Option<String>,
}

#[derive(Default)]
pub struct LoadResult {
    pub aggregate: Aggregate,
    /// Soak runs: the aggregate of each consecutive time window.
    pub windows: Vec<Aggregate>,
    /// Every measured request: (seconds since the start, latency, passed), for plots.
    pub timeline: Vec<(f64, f64, bool)>,
    pub examples: Vec<(u64, Verdict, Transcript)>,
    pub warnings: Vec<String>,
    pub interrupted: bool,
    /// A request task that panicked: a bug of ours, never a silent gap in the counts.
    pub panicked: Option<String>,
}

struct Shared {
    test: Arc<TestPlan>,
    feed: Arc<Feed>,
    known: Known,
    captures: std::collections::HashMap<String, Value>,
    examples: AtomicUsize,
    tx: mpsc::UnboundedSender<Sample>,
}

impl Shared {
    /// Sends one request and reports it; with `keep_answer`, returns the answer's message for
    /// the next turn of a conversation.
    async fn one(
        &self,
        client: &reqwest::Client,
        index: u64,
        planned: Option<Instant>,
        request: &Prepared,
        keep_answer: bool,
    ) -> Option<Value> {
        let sent = Instant::now();
        let exchange = self.test.exchange.as_ref()?;
        let Judged { verdict, class, observed, metrics } =
            judge(client, exchange, &request.outgoing, request.sent.as_ref(), &self.known, &self.captures).await;
        let done = Instant::now();
        let answer = if keep_answer { feed::answer(observed.as_ref().and_then(|o| o.json.as_ref())) } else { None };
        let example = (class != Class::Good && self.examples.fetch_add(1, Ordering::Relaxed) < EXAMPLES)
            .then(|| (verdict, transcript(&request.outgoing, observed.as_ref(), &exchange.request.secret_headers)));
        let status = observed.as_ref().map(|o| o.status);
        let lag = planned.map(|p| sent.saturating_duration_since(p));
        let _ = self.tx.send(Sample { index, sent, done, lag, class, status, metrics, example });
        answer
    }

    /// One conversation of a closed-loop worker, turn after turn, each answer carried into
    /// the next turn; a turn without an answer ends the conversation. `false` once the load
    /// has sent all it may.
    async fn converse(
        &self,
        client: &reqwest::Client,
        conversation: &Conversation,
        next: &AtomicU64,
        plan: (Stop, Share),
        start: Instant,
    ) -> bool {
        let (stop, share) = plan;
        let mut history: Vec<Value> = vec![];
        for k in 0..conversation.turns() {
            let index = share.nth(next.fetch_add(1, Ordering::Relaxed));
            if !more(stop, index, start) {
                return false;
            }
            let (request, user) = conversation.request(k, &history);
            let Some(answer) = self.one(client, index, None, &request, true).await else { break };
            history.push(user);
            history.push(answer);
        }
        true
    }
}

/// Whether request `index` is still to be sent.
fn more(stop: Stop, index: u64, start: Instant) -> bool {
    match stop {
        Stop::Requests(n) => index < n,
        Stop::Duration(d) => start.elapsed() < d,
    }
}

pub async fn run(
    lanes: Arc<Lanes>,
    test: Arc<TestPlan>,
    feed: Arc<Feed>,
    plan: &LoadPlan,
    mut stop: watch::Receiver<Option<super::event::StopReason>>,
    progress: &mut dyn FnMut(&Progress),
    (known, captures): (Known, std::collections::HashMap<String, Value>),
) -> LoadResult {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared { test, feed, known, captures, examples: AtomicUsize::new(0), tx });
    let cpu_before = crate::metrics::process::cpu_time();
    let start = Instant::now();
    // Requests that start while the workers are still being ramped up are not measured.
    let measured_from = start + plan.ramp;
    let mut tasks = JoinSet::new();
    match plan.rate {
        None => spawn_closed(&mut tasks, &shared, &lanes, plan, start),
        Some(rate) => {
            let (shared, plan) = (shared.clone(), plan.clone());
            tasks.spawn(open_loop(shared, lanes.clone(), plan, rate, start));
        }
    }
    drop(shared);

    let (total, planned) = match plan.stop {
        Stop::Requests(n) => (Some(plan.share.count(n)), None),
        Stop::Duration(d) => (None, Some(d)),
    };
    let mut result = LoadResult::default();
    let window = plan.soak.then(|| plan.window.unwrap_or_else(|| default_window(plan)));
    let mut measured: Option<(Instant, Instant)> = None;
    let (mut done, mut errors) = (0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            sample = rx.recv() => {
                let Some(s) = sample else { break };
                done += 1;
                errors += u64::from(s.class != Class::Good);
                if let Some((verdict, t)) = s.example {
                    result.examples.push((s.index + 1, verdict, t));
                }
                if s.index >= plan.warmup && s.sent >= measured_from {
                    result.aggregate.record(s.class, s.status, s.metrics.as_ref(), s.lag);
                    measured = Some(measured.map_or((s.sent, s.done), |(a, b)| (a.min(s.sent), b.max(s.done))));
                    let at = (s.sent - start).as_secs_f64();
                    if let Some(w) = window {
                        // `--soak-duration` only shortens, and the spec bounds the count; a late
                        // answer still lands in the last window rather than growing the list.
                        let last = crate::spec::limits::MAX_WINDOWS as usize;
                        let i = ((at / w.as_secs_f64().max(1e-3)) as usize).min(last);
                        if result.windows.len() <= i {
                            result.windows.resize_with(i + 1, Aggregate::default);
                        }
                        result.windows[i].record(s.class, s.status, s.metrics.as_ref(), s.lag);
                    }
                    if result.timeline.len() < MAX_TIMELINE {
                        let latency = s.metrics.as_ref().map_or((s.done - s.sent).as_secs_f64(), |m| m.latency.as_secs_f64());
                        result.timeline.push((at, latency, s.class == Class::Good));
                    }
                }
            }
            _ = tick.tick() => progress(&Progress {
                done,
                total,
                errors,
                p50_latency: result.aggregate.stat(Statistic::Median, SeriesName::Latency),
                elapsed: start.elapsed(),
                planned,
                step: None,
            }),
            _ = stop.wait_for(|s| s.is_some()) => {
                result.interrupted = true;
                tasks.abort_all();
                break;
            }
        }
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Err(panic)) => result.panicked = result.panicked.take().or(Some(panic)),
            Err(e) if e.is_panic() => result.panicked = result.panicked.take().or(Some(panic_message(e.into_panic()))),
            _ => {}
        }
    }
    let wall = start.elapsed();
    result.aggregate.duration = measured.map_or(Duration::ZERO, |(a, b)| b - a);
    if let (Some(before), Some(after)) = (cpu_before, crate::metrics::process::cpu_time()) {
        result.aggregate.client_cpu = Some(after.saturating_sub(before));
    }
    result.aggregate.client_peak_rss = crate::metrics::process::peak_rss_bytes();
    result.examples.sort_by_key(|(i, _, _)| *i);
    result.warnings = warnings(&result.aggregate, plan, wall);
    result
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// What a task that starts requests reports when it ends: a panic of a request it started.
type TaskEnd = Result<(), String>;

/// The closed loop's workers, dealt to the lanes; with a ramp, worker `w` of `c` starts
/// `w/c` of the way through it, so that connections open gradually.
fn spawn_closed(tasks: &mut JoinSet<TaskEnd>, shared: &Arc<Shared>, lanes: &Lanes, plan: &LoadPlan, start: Instant) {
    let next = Arc::new(AtomicU64::new(0));
    let next_conversation = Arc::new(AtomicU64::new(0));
    let workers = plan.concurrency.unwrap_or(1);
    let stop = plan.stop.after(plan.ramp);
    for worker in 0..workers {
        let (shared, next, next_conversation, share) =
            (shared.clone(), next.clone(), next_conversation.clone(), plan.share);
        let (lane, client) = lanes.slot(worker as u64);
        let client = client.clone();
        let starts_at = start + plan.ramp.mul_f64(worker as f64 / workers as f64);
        tasks.spawn_on(
            async move {
                tokio::time::sleep_until(starts_at.into()).await;
                loop {
                    if matches!(*shared.feed, Feed::Conversations { .. }) {
                        let n = share.nth(next_conversation.fetch_add(1, Ordering::Relaxed));
                        let Some(conversation) = shared.feed.conversation(n) else { break };
                        if !shared.converse(&client, conversation, &next, (stop, share), start).await {
                            break;
                        }
                        continue;
                    }
                    let index = share.nth(next.fetch_add(1, Ordering::Relaxed));
                    let Some(request) = shared.feed.request(index).filter(|_| more(stop, index, start)) else { break };
                    shared.one(&client, index, None, request, false).await;
                }
                Ok(())
            },
            lane,
        );
    }
}

/// Starts requests at planned instants (absolute deadlines, so lateness never accumulates);
/// with a concurrency cap, a start waits for a free slot and that wait counts as lag.
async fn open_loop(shared: Arc<Shared>, lanes: Arc<Lanes>, plan: LoadPlan, rate: f64, start: Instant) -> TaskEnd {
    let cap = plan.concurrency.map(|c| Arc::new(Semaphore::new(c)));
    let mut requests = JoinSet::new();
    let mut random = SplitMix(plan.seed);
    // A shard's arrivals are its share of the rate: constant ones interleave with the other
    // shards' (shard k starts k periods late), Poisson ones are independent.
    let Share { first, step } = plan.share;
    let (shard_rate, mut offset) = match plan.arrival {
        Arrival::Constant => (rate / step.max(1) as f64, first as f64 / rate),
        // The unsharded process starts with an arrival; the other shards draw their first.
        Arrival::Poisson if first == 0 => (rate / step.max(1) as f64, 0.0),
        Arrival::Poisson => {
            let shard_rate = rate / step.max(1) as f64;
            (shard_rate, -(1.0 - random.unit()).ln() / shard_rate)
        }
    };
    for local in 0u64.. {
        let index = plan.share.nth(local);
        if let Stop::Requests(n) = plan.stop {
            if index >= n {
                break;
            }
        }
        if local > 0 {
            offset += match plan.arrival {
                Arrival::Constant => 1.0 / shard_rate,
                Arrival::Poisson => -(1.0 - random.unit()).ln() / shard_rate,
            };
        }
        if let Stop::Duration(d) = plan.stop {
            if offset >= d.as_secs_f64() {
                break;
            }
        }
        // An offset beyond what a clock can hold is beyond any run's end.
        let Some(planned) = Duration::try_from_secs_f64(offset).ok().and_then(|d| start.checked_add(d)) else { break };
        tokio::time::sleep_until(planned.into()).await;
        let permit = match &cap {
            Some(sem) => sem.clone().acquire_owned().await.ok(),
            None => None,
        };
        let shared = shared.clone();
        let (lane, client) = lanes.slot(local);
        let client = client.clone();
        requests.spawn_on(
            async move {
                if let Some(request) = shared.feed.request(index) {
                    shared.one(&client, index, Some(planned), request, false).await;
                }
                drop(permit);
            },
            lane,
        );
        // Reap finished requests as we go, so a long soak keeps no dead task handles.
        while let Some(joined) = requests.try_join_next() {
            reaped(joined)?;
        }
    }
    while let Some(joined) = requests.join_next().await {
        reaped(joined)?;
    }
    Ok(())
}

fn reaped(joined: Result<(), tokio::task::JoinError>) -> TaskEnd {
    match joined {
        Err(e) if e.is_panic() => Err(panic_message(e.into_panic())),
        _ => Ok(()),
    }
}

/// When the client, not the server, may be what limits the run.
fn warnings(agg: &Aggregate, plan: &LoadPlan, wall: Duration) -> Vec<String> {
    let mut out = vec![];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if let Some(cpu) = agg.client_cpu {
        let share = cpu.as_secs_f64() / (wall.as_secs_f64().max(1e-9) * cores);
        if share > 0.8 && wall > Duration::from_millis(500) {
            out.push(format!(
                "llmspec itself used {:.0}% of this machine's {cores} cores: the client may be the bottleneck, not the server",
                share * 100.0
            ));
        }
    }
    // Linux sends an unanswered SYN again after 1 s: a connect that long met a full listen
    // backlog, and that second is inside the request's TTFT and latency.
    if let Some(slowest) = agg.stat(Statistic::Max, SeriesName::Connect).filter(|s| *s >= 0.9) {
        let slow = agg.stat(Statistic::Percentile(99.0), SeriesName::Connect).unwrap_or(slowest);
        out.push(format!(
            "opening a connection took up to {} (p99 {}): the server's listen backlog was likely full and the connection attempt was sent again; the times of those requests include it. Open connections gradually with `load.ramp`, or raise the server's backlog",
            crate::vocab::units::format_duration(Duration::from_secs_f64(slowest)),
            crate::vocab::units::format_duration(Duration::from_secs_f64(slow)),
        ));
    }
    if let (Some(rate), Some(lag)) = (plan.rate, agg.stat(Statistic::Percentile(99.0), SeriesName::ScheduleLag)) {
        let tolerance = (0.1 / rate).max(0.010);
        if lag > tolerance {
            let why = if plan.concurrency.is_some() { "the concurrency cap or the client" } else { "the client" };
            out.push(format!(
                "requests left late: p99 schedule lag {} against a planned spacing of {}; {why} could not keep the rate",
                crate::vocab::units::format_duration(Duration::from_secs_f64(lag)),
                crate::vocab::units::format_duration(Duration::from_secs_f64(1.0 / rate)),
            ));
        }
    }
    out
}

/// The main verdict of a load test. Without thresholds every request must pass every check;
/// with thresholds, slow requests are the thresholds' business, and failed ones too when a
/// threshold bounds them (`error_rate`, `success_rate`, `goodput`...).
pub fn verdict(test: &TestPlan, result: &LoadResult) -> Verdict {
    let agg = &result.aggregate;
    if let Some(panic) = &result.panicked {
        return Verdict::Error(format!("internal error: a request task panicked ({panic}); the counts are incomplete"));
    }
    if result.interrupted {
        return Verdict::Error(format!("interrupted after {} requests", agg.count));
    }
    // Nothing to judge is never a pass, whatever the thresholds tolerate.
    if agg.count == 0 {
        return Verdict::Error("no request completed: nothing was measured".into());
    }
    if agg.errors == agg.count {
        let first = result.examples.iter().find_map(|(i, v, _)| match v {
            Verdict::Error(m) => Some(format!("; first error (request {i}): {m}")),
            _ => None,
        });
        return Verdict::Error(format!(
            "none of the {} requests got an answer{}",
            agg.count,
            first.unwrap_or_default()
        ));
    }
    let tolerated = test.thresholds.iter().any(|t| t.bounds_errors());
    let bad = agg.failed + agg.errors + if test.thresholds.is_empty() { agg.slow } else { 0 };
    if bad == 0 || tolerated {
        return Verdict::Passed;
    }
    let summary = format!(
        "{bad} of {} requests did not pass: {} errors, {} failed checks{}",
        agg.count,
        agg.errors,
        agg.failed,
        if test.thresholds.is_empty() {
            format!(", {} over a latency or metric bound", agg.slow)
        } else {
            String::new()
        }
    );
    let mut failures = vec![crate::expect::Failure {
        check: crate::expect::Check::Requests,
        loc: test.loc,
        subject: "requests".into(),
        expected: "every request to pass its checks".into(),
        actual: summary.clone(),
    }];
    for (i, v, _) in &result.examples {
        if let Verdict::Failed(f) = v {
            failures.extend(
                f.iter()
                    .map(|f| crate::expect::Failure { subject: format!("request {i}: {}", f.subject), ..f.clone() }),
            );
        }
    }
    if agg.errors > 0 && agg.failed == 0 {
        let first = result.examples.iter().find_map(|(i, v, _)| match v {
            Verdict::Error(m) => Some(format!("; first error (request {i}): {m}")),
            _ => None,
        });
        return Verdict::Error(format!("{summary}{}", first.unwrap_or_default()));
    }
    Verdict::Failed(failures)
}

/// One JUnit case per threshold, named by its expression.
fn reads_baseline_series(t: &crate::expect::threshold::Threshold) -> bool {
    t.condition().is_some_and(|c| c.measured.iter().any(|call| call.baseline))
}

pub fn threshold_outcomes(test: &TestPlan, m: &Measurements<'_>, known: &Known) -> Vec<TestOutcome> {
    test.thresholds
        .iter()
        .map(|t| {
            let result = t.evaluate(m, known);
            // A condition on the previous run says nothing without one: shown as skipped.
            let without_baseline = t.condition().is_some_and(|c| c.reads.contains("baseline"))
                && (known.baseline.is_null() || (m.baseline.is_none() && reads_baseline_series(t)));
            let measured = match t.condition() {
                Some(_) => Some(result.clone().unwrap_or_else(|e| e)),
                None => t.measure(m).map(|v| t.show(v)),
            };
            let verdict = match result {
                _ if without_baseline && known.baseline.is_null() => Verdict::Skipped(
                    "no baseline for this test: pass --baseline with a --json report of a run that measured it".into(),
                ),
                _ if without_baseline => {
                    Verdict::Skipped("the baseline holds no series for this test: it was not a load test then".into())
                }
                Ok(_) => Verdict::Passed,
                Err(actual) => Verdict::Failed(vec![crate::expect::Failure {
                    check: crate::expect::Check::Threshold,
                    loc: t.loc,
                    subject: t.text.clone(),
                    expected: t.limit(),
                    actual,
                }]),
            };
            // Also as properties, for JUnit readers that show them.
            let mut properties = vec![("limit".to_string(), t.limit())];
            properties.extend(measured.clone().map(|m| ("measured".to_string(), m)));
            TestOutcome {
                duration: Duration::ZERO,
                properties,
                threshold: Some(ThresholdResult { limit: t.limit(), measured }),
                ..TestOutcome::bare(&format!("{}: {}", test.name, t.text), t.loc, verdict)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_connects(connects: &[u64]) -> Aggregate {
        let mut agg = Aggregate::default();
        for &ms in connects {
            let metrics = RequestMetrics { connect: Some(Duration::from_millis(ms)), ..RequestMetrics::default() };
            agg.record(Class::Good, Some(200), Some(&metrics), None);
        }
        agg
    }

    #[test]
    fn a_connect_that_waited_for_a_syn_retransmit_is_named() {
        let plan = LoadPlan::once();
        let quick = warnings(&with_connects(&[1, 2, 3]), &plan, Duration::from_secs(1));
        assert!(quick.is_empty(), "{quick:?}");
        let slow = warnings(&with_connects(&[1, 2, 1_030]), &plan, Duration::from_secs(1));
        assert_eq!(slow.len(), 1, "{slow:?}");
        assert!(slow[0].contains("up to 1.03s") && slow[0].contains("load.ramp"), "{}", slow[0]);
    }
}
