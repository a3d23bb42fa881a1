//! The instrument: runs a plan's tests in order and emits what happened as events.

pub mod chunk;
pub mod event;
pub(crate) mod feed;
pub mod http;
mod judge;
pub mod lanes;
pub(crate) mod load;
pub mod reassemble;
pub(crate) mod sample;
pub mod sockets;
pub mod sse;
pub(crate) mod steps;
pub(crate) mod stream;
pub(crate) mod sweep;

use crate::expect::threshold::Measurements;
use crate::expect::{self, Check, Failure};
use crate::expr::bindings::Known;
use crate::metrics::RequestMetrics;
use crate::metrics::aggregate::{Aggregate, Class};
use crate::observed::{Observed, StreamEnd};
use crate::redact::Redactor;
use crate::spec::interp::{render, render_str};
use crate::spec::plan::{Body, CaptureSource, Exchange, Plan, Stop, SuitePlan, TestPlan};
use crate::spec::shard::Shard;
use crate::vocab::text::trim_middle;
use crate::vocab::units::format_duration;
use event::RunSeries;
use event::{Event, EventSink, StopReason, Summary, TestOutcome, Transcript, Verdict};
use http::{Outgoing, ReadOptions, TransportError};
use regex::Regex;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Tests with this tag act on the server (restart it, kill it): never run unless asked by name.
pub const DESTRUCTIVE: &str = "destructive";

pub struct RunOptions {
    /// Run only tests carrying at least one of these tags (all tests when empty).
    pub tags: Vec<String>,
    /// Never run tests carrying one of these tags.
    pub skip_tags: Vec<String>,
    /// Run only tests whose name matches.
    pub name: Option<Regex>,
    pub fail_fast: bool,
    /// Becomes set when a signal stops the run; the test in flight is abandoned.
    pub stop: watch::Receiver<Option<StopReason>>,
    /// `--allow-exec`: lifecycle `exec` steps and `command` samples may run.
    pub allow_exec: bool,
    /// What to keep of each answer, and the limits that bound a hostile one (`--max-*-bytes`).
    pub read: ReadOptions,
    /// `--soak-duration`: no soak runs longer than this.
    pub soak_cap: Option<std::time::Duration>,
    /// `--baseline`: the previous run, for expressions and for the changes reported.
    pub baseline: Option<Arc<crate::metrics::baseline::Baseline>>,
    /// `--shard k/n`: this process runs its share of the plan, and leaves thresholds of loads
    /// to the merge of every shard's results.
    pub shard: Option<Shard>,
    /// `--local-addr`: the source addresses connections leave from, taken in turn.
    pub local_addrs: Vec<std::net::IpAddr>,
}

pub async fn run(plan: &Plan, mut opts: RunOptions, events: &mut dyn EventSink, redactor: &Redactor) -> Summary {
    let start = Instant::now();
    let mut summary = Summary::default();
    let background = steps::Background::default();
    let total = plan.suites.iter().map(|s| s.tests.len()).sum();
    events.emit(&Event::RunStarted { suites: plan.suites.len(), tests: total });
    // One client per TLS setting: suites that share it share connections.
    let mut clients: HashMap<http::TlsOptions, Result<reqwest::Client, String>> = HashMap::new();
    for suite in &plan.suites {
        let suite_start = Instant::now();
        events.emit(&Event::SuiteStarted { suite });
        let source = opts.local_addrs.first().copied();
        let client = match clients.entry(suite.tls.clone()).or_insert_with(|| http::client_from(&suite.tls, source)) {
            Ok(client) => client.clone(),
            Err(e) => {
                let error = format!("cannot set up TLS for this suite: {e}");
                for test in &suite.tests {
                    let outcome = TestOutcome::bare(&test.name, test.loc, Verdict::Error(error.clone()));
                    summary.count(&outcome.verdict);
                    events.emit(&Event::TestFinished { suite, outcome: &outcome });
                }
                events.emit(&Event::SuiteFinished { suite, duration: suite_start.elapsed() });
                continue;
            }
        };
        let mut captures: HashMap<String, Value> = HashMap::new();
        let mut known = Known::for_suite(suite.vars.clone(), suite.tests.iter().flat_map(|t| t.expressions()));
        let secret_captures = secret_captures(suite);
        let needed = needed_producers(suite, &opts);
        for (test, needed) in suite.tests.iter().zip(needed) {
            // Another shard's test is not this shard's to report, unless one of ours needs it.
            if !needed && !on_this_shard(suite, test, &opts) {
                continue;
            }
            known.baseline = opts
                .baseline
                .as_deref()
                .and_then(|b| b.test(&suite.name, &test.name))
                .map_or(Value::Null, |m| m.as_json());
            known.refresh();
            // An instance of a `matrix` or `data` test reads its own variables first.
            let suite_known = (!test.vars.is_empty()).then(|| known.with_vars(&test.vars));
            let known_before = suite_known.map(|instance| std::mem::replace(&mut known, instance));
            let unmet = || unmet_requirement(test, &known);
            let outcomes = match skip_reason(test, &opts, &summary, needed).or_else(unmet) {
                Some(reason) => vec![skipped(test, reason)],
                None if test.load.is_some() => {
                    run_load(&client, suite, test, &captures, redactor, &opts, events, &known).await
                }
                None => {
                    let mut stop = opts.stop.clone();
                    tokio::select! {
                        outcomes = run_test(&client, test, &mut captures, redactor, &opts, &background, &mut known, opts.baseline.as_deref().and_then(|b| b.test(&suite.name, &test.name))) => outcomes,
                        reason = stop.wait_for(|s| s.is_some()) => {
                            let why = reason.ok().and_then(|r| *r).map_or_else(String::new, |r| r.to_string());
                            vec![skipped(test, format!("not finished: {why}"))]
                        }
                    }
                }
            };
            register_secret_captures(&secret_captures, &captures, redactor);
            if let Some(suite_known) = known_before {
                let instance = std::mem::replace(&mut known, suite_known);
                known.tests = instance.tests;
            }
            known.captures = captures.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            known.refresh();
            let signal = *opts.stop.borrow();
            if let (Some(reason), None) = (signal, summary.stopped_early) {
                summary.stopped_early = Some(reason);
            }
            let outcomes = if test.advisory { outcomes.into_iter().map(advise).collect() } else { outcomes };
            for outcome in &outcomes {
                let failed = matches!(outcome.verdict, Verdict::Failed(_) | Verdict::Error(_));
                if failed && opts.fail_fast && summary.stopped_early.is_none() {
                    summary.stopped_early = Some(StopReason::FailFast);
                }
                summary.count(&outcome.verdict);
                events.emit(&Event::TestFinished { suite, outcome });
            }
        }
        events.emit(&Event::SuiteFinished { suite, duration: suite_start.elapsed() });
    }
    background.stop().await;
    // A signal during the last cleanup still cut the run short: never a PASSED with exit 0.
    if let (Some(reason), None) = (*opts.stop.borrow(), summary.stopped_early) {
        summary.stopped_early = Some(reason);
    }
    summary.duration = start.elapsed();
    opts.stop.mark_unchanged();
    events.emit(&Event::RunFinished { summary: &summary });
    summary
}

fn skip_reason(test: &TestPlan, opts: &RunOptions, summary: &Summary, needed: bool) -> Option<String> {
    if let Some(why) = &summary.stopped_early {
        return Some(format!("not run: {why}"));
    }
    if test.tags.iter().any(|t| t == DESTRUCTIVE) && !opts.tags.iter().any(|t| t == DESTRUCTIVE) {
        return Some(format!("not selected: tagged `{DESTRUCTIVE}`, which runs only with --tag {DESTRUCTIVE}"));
    }
    if needed {
        return test.skip.as_ref().map(|why| format!("skipped by the spec: {why}"));
    }
    filtered_out(test, opts).or_else(|| test.skip.as_ref().map(|why| format!("skipped by the spec: {why}")))
}

/// Why the command line's selection leaves a test out.
fn filtered_out(test: &TestPlan, opts: &RunOptions) -> Option<String> {
    if let Some(t) = test.tags.iter().find(|t| opts.skip_tags.contains(t)) {
        return Some(format!("not selected: tagged `{t}` (--skip-tag)"));
    }
    if !opts.tags.is_empty() && !test.tags.iter().any(|t| opts.tags.contains(t)) {
        return Some(format!("not selected: has none of the tags {}", opts.tags.join(", ")));
    }
    if let Some(re) = &opts.name {
        if !re.is_match(&test.name) {
            return Some(format!("not selected: name does not match /{}/", re.as_str()));
        }
    }
    None
}

/// Captures that feed a secret header anywhere in the suite. Their values are secret from the
/// moment they are captured, so the capturing test's own transcript is masked too.
fn secret_captures(suite: &SuitePlan) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for test in &suite.tests {
        let requests =
            test.exchange.iter().map(|e| &e.request).chain(test.steps.iter().filter_map(|s| match &s.kind {
                crate::spec::plan::StepKind::WaitUntil { exchange, .. } => Some(&exchange.request),
                _ => None,
            }));
        for request in requests {
            let secret = request
                .headers
                .iter()
                .filter(|(h, _)| request.secret_headers.iter().any(|s| s.eq_ignore_ascii_case(h)));
            for (_, template) in secret {
                for segment in crate::spec::interp::parse(template).unwrap_or_default() {
                    if let crate::spec::interp::Segment::Ref { name, env: false, .. } = segment {
                        names.insert(name);
                    }
                }
            }
        }
    }
    names
}

fn register_secret_captures(names: &BTreeSet<String>, captures: &HashMap<String, Value>, redactor: &Redactor) {
    for name in names {
        match captures.get(name) {
            Some(Value::String(s)) => redactor.add_header_value(s),
            Some(other) => redactor.add(&other.to_string()),
            None => {}
        }
    }
}

/// Tests the selection leaves out but whose captures a selected test uses: they run anyway
/// (selecting one tool-call case must not leave its model discovery behind).
fn needed_producers(suite: &SuitePlan, opts: &RunOptions) -> Vec<bool> {
    let mut run: Vec<bool> =
        suite.tests.iter().map(|t| filtered_out(t, opts).is_none() && on_this_shard(suite, t, opts)).collect();
    let mut needed = vec![false; run.len()];
    for i in (0..suite.tests.len()).rev() {
        if !run[i] {
            continue;
        }
        for name in suite.tests[i].references() {
            if let Some(j) = (0..i).rev().find(|&j| suite.tests[j].provides().any(|p| p == name)) {
                // A lifecycle step acts on the deployment: only the first shard runs it. What it
                // records feeds the server samples, which only the first shard reads.
                let acts = !suite.tests[j].steps.is_empty() && opts.shard.is_some_and(|s| s.index > 0);
                if !run[j] && !acts {
                    run[j] = true;
                    needed[j] = true;
                }
            }
        }
    }
    needed
}

/// This process runs one part of a run split over several.
fn sharded(opts: &RunOptions) -> bool {
    opts.shard.is_some_and(|s| s.total > 1)
}

/// Whether this process runs the test: always, unless the run is sharded. A load belongs to
/// every shard that has a part of it.
fn on_this_shard(suite: &SuitePlan, test: &TestPlan, opts: &RunOptions) -> bool {
    match (&opts.shard, &test.load) {
        (None, _) => true,
        (Some(shard), Some(load)) => shard.part(load).is_some(),
        (Some(shard), None) => shard.owns(suite, test),
    }
}

/// The first `require` condition that does not hold, as a skip reason. The conditions were
/// checked at load time; only the captures they read are known now.
fn unmet_requirement(test: &TestPlan, known: &Known) -> Option<String> {
    let scope = known.bindings();
    for r in &test.require {
        match r.holds(&scope, &|_| Err("nothing is measured before a test runs".into())) {
            Ok(true) => {}
            Ok(false) => return Some(format!("requirement not met: `{}`{}", r.text, r.values_read(&scope))),
            Err(e) => return Some(format!("requirement `{}` cannot be evaluated: {e}", r.text)),
        }
    }
    None
}

/// An advisory test's failures are warnings.
pub(crate) fn advise(mut outcome: TestOutcome) -> TestOutcome {
    if let Verdict::Failed(f) = outcome.verdict {
        outcome.verdict = Verdict::Advisory(f);
    }
    outcome
}

fn skipped(test: &TestPlan, reason: String) -> TestOutcome {
    TestOutcome::bare(&test.name, test.loc, Verdict::Skipped(reason))
}

/// A test that could not send anything: a capture it needs is missing, a file is unreadable.
fn not_sent(test: &TestPlan, why: String) -> Vec<TestOutcome> {
    vec![TestOutcome::bare(&test.name, test.loc, Verdict::Error(why))]
}

/// A test that sends many requests: its own outcome, then one per threshold.
#[allow(clippy::too_many_arguments)]
async fn run_load(
    client: &reqwest::Client,
    suite: &SuitePlan,
    test: &Arc<TestPlan>,
    captures: &HashMap<String, Value>,
    redactor: &Redactor,
    opts: &RunOptions,
    events: &mut dyn EventSink,
    known: &Known,
) -> Vec<TestOutcome> {
    let (Some(plan), Some(exchange)) = (&test.load, &test.exchange) else { return vec![] };
    let mut plan = match &opts.shard {
        Some(shard) => match shard.part(plan) {
            Some(part) => part,
            None => return vec![],
        },
        None => plan.clone(),
    };
    if let (true, Some(cap), Stop::Duration(d)) = (plan.soak, opts.soak_cap, plan.stop) {
        plan.stop = Stop::Duration(d.min(cap));
    }
    // One shard reads the server's gauges: they describe the whole load already.
    let samples: &[crate::spec::plan::SamplePlan] =
        if opts.shard.is_some_and(|s| s.index > 0) { &[] } else { &test.samples };
    let prepared =
        feed::Feed::prepare(exchange, plan.dataset.as_deref(), captures, redactor, &opts.read).and_then(|f| {
            let samplers = sample::Sampler::prepare(samples, captures, opts.allow_exec)?;
            Ok((f, samplers))
        });
    let (feed, samplers) = match prepared {
        Ok(p) => p,
        Err(e) => return not_sent(test, e),
    };
    let in_flight = plan.most_in_flight();
    let room = match in_flight {
        Some(n) => sockets::Allowance::of_this_process().check(n, opts.local_addrs.len()),
        None => Ok(()),
    };
    let lanes = match room
        .and_then(|()| lanes::Lanes::per_core(in_flight.unwrap_or(1) as usize, &suite.tls, &opts.local_addrs))
    {
        Ok(lanes) => Arc::new(lanes),
        Err(e) => return not_sent(test, e),
    };
    let start = Instant::now();
    let sampling = sample::start(samplers, client.clone(), start);
    let mut on_progress =
        |progress: &load::Progress| events.emit(&Event::Progress { suite, test: &test.name, progress });
    let feed = Arc::new(feed);
    if let Some(sweep_plan) = &plan.sweep {
        let ctx =
            sweep::Context { lanes, test, feed, stop: opts.stop.clone(), known, captures, sampling: &sampling, start };
        let swept = sweep::run(ctx, &plan, sweep_plan, &mut on_progress).await;
        let series = sampling.stop().await;
        let previous = opts.baseline.as_deref().and_then(|b| b.test(&suite.name, &test.name));
        return sweep::outcomes(test, sweep_plan, swept, series, start.elapsed(), known, previous);
    }
    let context = (known.clone(), captures.clone());
    let result = load::run(lanes, test.clone(), feed, &plan, opts.stop.clone(), &mut on_progress, context).await;
    let series = sampling.stop().await;
    let duration = start.elapsed();
    let verdict = match load::verdict(test, &result) {
        // A shard's part can be warm-up requests only: the whole is judged where the parts meet.
        Verdict::Error(_)
            if sharded(opts) && result.aggregate.count == 0 && !result.interrupted && result.panicked.is_none() =>
        {
            Verdict::Passed
        }
        other => other,
    };
    let mut properties = result.aggregate.properties();
    properties.extend(sample::properties(&series));
    let mut warnings = result.warnings.clone();
    // Requests that got no verdict are shown even when a threshold tolerates them.
    if matches!(verdict, Verdict::Passed) {
        for (i, v, _) in &result.examples {
            if let Verdict::Error(m) = v {
                warnings.push(format!("request {i} got no verdict: {m}"));
            }
        }
    }
    let window = plan.window.unwrap_or_else(|| load::default_window(&plan));
    let steps = BTreeMap::new();
    let previous = opts.baseline.as_deref().and_then(|b| b.test(&suite.name, &test.name));
    let measurements = Measurements {
        aggregate: &result.aggregate,
        windows: &result.windows,
        samples: &series,
        fit_after: plan.fit_after.unwrap_or(window).as_secs_f64(),
        steps: &steps,
        baseline: previous.and_then(|p| p.aggregate.as_ref()),
        capacity: None,
    };
    let mut thresholds = load::threshold_outcomes(test, &measurements, known);
    if let Some(shard) = opts.shard.filter(|s| s.total > 1) {
        // A part of a load says nothing of the whole: rates and counts are a share, percentiles
        // those of a sample. Thresholds are judged where the parts meet.
        for outcome in &mut thresholds {
            outcome.verdict = Verdict::Skipped(format!(
                "judged on the whole load: merge the {} shards' --json results with `llmspec merge`",
                shard.total
            ));
        }
    }
    if let Some(previous) = previous {
        let changes = previous.changes(&properties);
        properties.extend(changes);
    }
    let outcome = TestOutcome {
        duration,
        properties,
        transcript: result.examples.first().map(|(_, _, t)| t.clone()),
        warnings,
        series: Some(Arc::new(RunSeries {
            samples: series.clone(),
            windows: result.windows.clone(),
            window,
            requests: result.timeline.clone(),
        })),
        aggregate: Some(Arc::new(result.aggregate)),
        ..TestOutcome::bare(&test.name, test.loc, verdict)
    };
    let mut outcomes = vec![outcome];
    outcomes.extend(thresholds);
    outcomes
}

#[allow(clippy::too_many_arguments)]
async fn run_test(
    client: &reqwest::Client,
    test: &TestPlan,
    captures: &mut HashMap<String, Value>,
    redactor: &Redactor,
    opts: &RunOptions,
    background: &steps::Background,
    known: &mut Known,
    previous: Option<&crate::metrics::baseline::Measured>,
) -> Vec<TestOutcome> {
    let Some(exchange) = &test.exchange else {
        return steps::run(client, test, captures, redactor, opts, background, known).await;
    };
    let start = Instant::now();
    let outgoing = match prepare(exchange, captures, redactor, &opts.read) {
        Ok(o) => o,
        Err(e) => return not_sent(test, e),
    };
    let sent = sent_json(&outgoing);
    let judged = judge(client, exchange, &outgoing, sent.as_ref(), known, captures).await;
    let duration = start.elapsed();
    let mut properties = vec![];
    if let (Some(observed), Some(metrics)) = (&judged.observed, &judged.metrics) {
        properties.push(("status".into(), observed.status.to_string()));
        properties.extend(metrics.properties());
        properties.push(("response_bytes".into(), response_bytes(observed).to_string()));
    }
    if let Some(previous) = previous {
        let changes = previous.changes(&properties);
        properties.extend(changes.into_iter().filter(|(k, _)| k != "change_status"));
    }
    let mut thresholds = vec![];
    if !test.thresholds.is_empty() {
        let mut agg = Aggregate::default();
        agg.record(judged.class, judged.observed.as_ref().map(|o| o.status), judged.metrics.as_ref(), None);
        agg.duration = duration;
        let (samples, steps) = (BTreeMap::new(), BTreeMap::new());
        let m = Measurements {
            aggregate: &agg,
            windows: &[],
            samples: &samples,
            fit_after: 0.0,
            steps: &steps,
            baseline: None,
            capacity: None,
        };
        thresholds = load::threshold_outcomes(test, &m, known);
    }
    // A capture that finds nothing fails a test that otherwise passed.
    // What expressions read of this exchange, built only when one will read it: it copies the
    // whole answer.
    let read_later = known.wants_record(&test.name);
    let computed_captures = test.captures.iter().any(|c| matches!(c.from, CaptureSource::Expr(_)));
    let record = match (&judged.observed, &judged.metrics) {
        (Some(o), Some(m)) if read_later || computed_captures => json!({
            "response": crate::expr::bindings::response(o),
            "request": crate::expr::bindings::request(outgoing.method.as_str(), &outgoing.url, &outgoing.headers, sent.as_ref()),
            "metrics": crate::expr::bindings::metrics(m),
        }),
        _ => Value::Null,
    };
    let missing = judged.observed.as_ref().map(|o| capture(test, o, &record, captures, known)).unwrap_or_default();
    let kept = read_later.then(|| Arc::new(record.clone()));
    if read_later {
        known.tests.insert(test.name.clone(), record);
        known.refresh();
    }
    let verdict = match judged.verdict {
        Verdict::Passed if !missing.is_empty() => Verdict::Failed(missing),
        Verdict::Failed(mut f) => {
            f.extend(missing);
            Verdict::Failed(f)
        }
        other => other,
    };
    let observed = judged.observed.as_ref();
    let judgement = judge::apply(client, test, exchange, &outgoing, sent.as_ref(), observed, verdict, &opts.read).await;
    properties.extend(judgement.properties);
    let mut warnings = judgement.warnings;
    if known.baseline.is_null() && exchange.expect.that.iter().any(|c| c.reads.contains("baseline")) {
        warnings.push("conditions on the previous run were not checked: no baseline for this test (--baseline)".into());
    }
    let outcome = TestOutcome {
        duration,
        properties,
        transcript: Some(transcript(&outgoing, observed, &exchange.request.secret_headers)),
        warnings,
        record: kept,
        ..TestOutcome::bare(&test.name, test.loc, judgement.verdict)
    };
    let mut outcomes = vec![outcome];
    outcomes.extend(thresholds);
    outcomes
}

/// One exchange, judged against its per-request expectations.
pub(crate) struct Judged {
    pub verdict: Verdict,
    pub class: Class,
    pub observed: Option<Observed>,
    pub metrics: Option<RequestMetrics>,
}

pub(crate) async fn judge(
    client: &reqwest::Client,
    exchange: &Exchange,
    outgoing: &Outgoing,
    sent: Option<&Value>,
    known: &Known,
    captures: &HashMap<String, Value>,
) -> Judged {
    let observed = match http::exchange(client, outgoing).await {
        Ok(o) => o,
        Err(TransportError(message)) => {
            return Judged { verdict: Verdict::Error(message), class: Class::Error, observed: None, metrics: None };
        }
    };
    let metrics = RequestMetrics::of(&observed);
    if let Some(problem) = stream_problem(exchange, &observed) {
        return Judged {
            verdict: Verdict::Error(problem),
            class: Class::Error,
            observed: Some(observed),
            metrics: Some(metrics),
        };
    }
    let request = if exchange.expect.that.is_empty() {
        Value::Null
    } else {
        crate::expr::bindings::request(outgoing.method.as_str(), &outgoing.url, &outgoing.headers, sent)
    };
    let render = |v: &Value| render(v, captures);
    let mut failures = exchange.expect.evaluate(&observed, &metrics, sent, known, &request, &render);
    if exchange.request.stream && observed.stream.is_none() && observed.status == 200 {
        failures.push(Failure {
            check: Check::Stream,
            loc: exchange.loc,
            subject: "stream".into(),
            expected: "a text/event-stream answer to `stream: true`".into(),
            actual: format!("a plain answer (content-type: {})", observed.header("content-type").unwrap_or("none")),
        });
    }
    let class = if failures.is_empty() {
        Class::Good
    } else if failures.iter().all(|f| f.check.is_bound()) {
        Class::Slow
    } else {
        Class::Failed
    };
    let verdict = if failures.is_empty() { Verdict::Passed } else { Verdict::Failed(failures) };
    Judged { verdict, class, observed: Some(observed), metrics: Some(metrics) }
}

/// The JSON body that was sent, for checks that read the request (tool schemas).
pub(crate) fn sent_json(outgoing: &Outgoing) -> Option<Value> {
    outgoing.body.as_deref().and_then(|b| serde_json::from_slice::<Value>(b).ok())
}

fn response_bytes(observed: &Observed) -> usize {
    observed.stream.as_ref().map_or(observed.body.len(), |s| s.bytes)
}

/// `secret_headers`: lower-case names of the headers whose values are never shown.
pub(crate) fn transcript(outgoing: &Outgoing, observed: Option<&Observed>, secret_headers: &[String]) -> Transcript {
    // Whole bodies: reporters mask secrets first and shorten after, so a cut never leaves a
    // piece of a secret behind.
    let mut t = Transcript {
        request: format!("{} {}", outgoing.method, outgoing.url),
        request_headers: masked_headers(&outgoing.headers, secret_headers),
        request_body: outgoing.body.as_ref().map(|b| keep_for_transcript(&String::from_utf8_lossy(b))),
        ..Transcript::default()
    };
    if let Some(o) = observed {
        t.status = Some(o.status);
        let reason = reqwest::StatusCode::from_u16(o.status).ok().and_then(|s| s.canonical_reason());
        t.status_line = Some(format!("{} {} {}", o.version, o.status, reason.unwrap_or("")).trim_end().to_string());
        t.response_headers = masked_headers(&o.headers, secret_headers);
        t.response_bytes = response_bytes(o);
        t.response_body = keep_for_transcript(&o.body);
        t.resent = o.resent.clone();
    }
    t
}

/// Headers with the values of secret ones replaced by the mask. The reporters mask every
/// known secret value too; masking by name also covers what no one registered, such as a
/// session cookie a server sets.
fn masked_headers(headers: &[(String, String)], secret_headers: &[String]) -> Vec<(String, String)> {
    let secret = |name: &str| {
        name.eq_ignore_ascii_case("set-cookie") || secret_headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    };
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if secret(name) { crate::redact::MASK.to_string() } else { value.clone() };
            (name.clone(), shown)
        })
        .collect()
}

/// Far more of a body than any report shows (2,000 characters), so that the reports mask
/// secrets before they cut; a huge body is not held twice. A cut this far out that falls inside
/// a secret is masked at the marker it leaves.
const TRANSCRIPT_CHARS: usize = 256 * 1024;

fn keep_for_transcript(body: &str) -> String {
    trim_middle(body, TRANSCRIPT_CHARS)
}

/// A stream that did not end properly gets no verdict on its content, unless the spec
/// expects exactly that (`stream: { done: false }` or `stream: { error: ... }`).
fn stream_problem(exchange: &Exchange, observed: &Observed) -> Option<String> {
    let s = observed.stream.as_ref()?;
    let expects = exchange.expect.stream.as_ref();
    let received = format!("after {} events in {} network chunks", s.event_count, s.network_chunks);
    match &s.end {
        StreamEnd::Broken(cause) => return Some(format!("the stream broke {received}: {cause}")),
        StreamEnd::Stalled(idle) => {
            return Some(format!(
                "the stream stalled: nothing for {} {received} (idle_timeout)",
                format_duration(*idle)
            ));
        }
        StreamEnd::TimedOut => {
            return Some(format!(
                "the stream did not finish within {} {received} (timeout)",
                format_duration(exchange.request.timeout)
            ));
        }
        StreamEnd::Abandoned(why) => return Some(format!("stopped reading the stream {received}: {why}")),
        StreamEnd::Done | StreamEnd::Eof => {}
    }
    if !s.cut.is_empty() {
        return Some(format!("the stream is larger than llmspec keeps {received}: {}", s.cut.join("; ")));
    }
    if let Some(m) = &s.malformed {
        return Some(format!("the stream is malformed: {m}"));
    }
    if let Some(e) = &s.error_event {
        if expects.is_none_or(|x| x.error.is_none()) {
            return Some(format!(
                "the server sent an error inside the stream {received}: {}",
                trim_middle(&e.to_string(), 500)
            ));
        }
    }
    if !s.done && expects.is_none_or(|x| x.done.is_none()) {
        return Some(format!("the stream ended without data: [DONE] {received}"));
    }
    None
}

/// Resolves captures into the request and registers the values of secret headers.
fn prepare(
    exchange: &Exchange,
    captures: &HashMap<String, Value>,
    redactor: &Redactor,
    read: &ReadOptions,
) -> Result<Outgoing, String> {
    let req = &exchange.request;
    let url = render_str(&req.url, captures)?;
    let mut headers = Vec::with_capacity(req.headers.len() + 1);
    for (name, value) in &req.headers {
        let value = render_str(value, captures)?;
        if req.secret_headers.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            redactor.add_header_value(&value);
        }
        headers.push((name.clone(), value));
    }
    let has = |h: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(h));
    let body = match &req.body {
        Body::None => None,
        Body::Json(v) => {
            if !has("content-type") {
                headers.push(("content-type".into(), "application/json".into()));
            }
            Some(serde_json::to_vec(&render(v, captures)?).map_err(|e| e.to_string())?)
        }
        Body::Raw(text) => Some(render_str(text, captures)?.into_bytes()),
    };
    Ok(Outgoing {
        method: req.method.clone(),
        url,
        headers,
        body: body.map(bytes::Bytes::from),
        timeout: req.timeout,
        // Streamed events are kept only for checks that read them: an endless stream then costs
        // counters, not memory.
        read: ReadOptions {
            idle_timeout: req.idle_timeout,
            keep_events: !exchange.expect.events.is_empty() || exchange.expect.that.iter().any(|e| e.reads_events),
            ..read.clone()
        },
    })
}

/// Takes the test's captures from the response; a capture that finds nothing is a failure.
fn capture(
    test: &TestPlan,
    observed: &Observed,
    record: &Value,
    captures: &mut HashMap<String, Value>,
    known: &Known,
) -> Vec<Failure> {
    let mut failures = vec![];
    for c in &test.captures {
        let (value, source) = match &c.from {
            CaptureSource::Expr(e) => {
                let mut scope = known.bindings();
                let parts = ["response", "request", "metrics"].map(|k| (k, &record[k]));
                scope.extend(parts);
                match e.evaluate(&scope, &|_| Err("nothing is measured here".into())) {
                    Ok(v) => (Some(v), e.text.clone()),
                    Err(why) => (None, format!("`{}` ({why})", e.text)),
                }
            }
            CaptureSource::Json(q) => (observed.json.as_ref().and_then(|j| q.select(j)), q.text.clone()),
            CaptureSource::Header(h) => (observed.header(h).map(|v| Value::String(v.into())), format!("header {h}")),
            CaptureSource::Regex(re) => {
                let found = re.captures(&observed.body).and_then(|m| m.get(1).or_else(|| m.get(0)));
                (found.map(|m| Value::String(m.as_str().into())), format!("/{}/", re.as_str()))
            }
        };
        match value.or_else(|| c.default.clone()) {
            Some(v) => {
                captures.insert(c.name.clone(), v);
            }
            None => failures.push(Failure {
                check: Check::Capture,
                loc: c.loc,
                subject: format!("capture {}", c.name),
                expected: format!("a value at {source}"),
                actual: expect::describe(None),
            }),
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transcript_holds_both_sets_of_headers_and_masks_secret_ones_by_name() {
        let outgoing = Outgoing {
            method: reqwest::Method::POST,
            url: "http://127.0.0.1:9/v1/x".into(),
            headers: vec![("Authorization".into(), "Bearer never-registered".into()), ("X-Trace".into(), "t1".into())],
            body: None,
            timeout: std::time::Duration::from_secs(1),
            read: ReadOptions::default(),
        };
        let observed = Observed {
            version: "HTTP/1.1".into(),
            status: 404,
            headers: vec![("content-type".into(), "text/plain".into()), ("set-cookie".into(), "session=abc".into())],
            ..Observed::default()
        };
        let t = transcript(&outgoing, Some(&observed), &["authorization".to_string()]);
        let pairs = |h: &[(String, String)]| h.iter().map(|(n, v)| format!("{n}: {v}")).collect::<Vec<_>>();
        assert_eq!(pairs(&t.request_headers), ["Authorization: ***", "X-Trace: t1"]);
        assert_eq!(pairs(&t.response_headers), ["content-type: text/plain", "set-cookie: ***"]);
        assert_eq!(t.status_line.as_deref(), Some("HTTP/1.1 404 Not Found"));
        let unanswered = transcript(&outgoing, None, &[]);
        assert_eq!((unanswered.status_line, unanswered.response_headers.len()), (None, 0));
    }
}
