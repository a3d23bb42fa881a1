//! The instrument: runs a plan's tests in order and emits what happened as events.

pub mod event;
pub mod http;
pub mod reassemble;
pub mod sse;
pub mod stream;

use crate::expect::{self, Failure};
use crate::metrics::RequestMetrics;
use crate::observed::{Observed, StreamEnd};
use crate::redact::Redactor;
use crate::spec::interp::{render, render_str};
use crate::spec::plan::{Body, CaptureSource, Plan, RequestPlan, TestPlan};
use crate::text::trim_middle;
use crate::units::format_duration;
use event::{Event, Reporter, Summary, TestOutcome, Transcript, Verdict};
use http::{Outgoing, ReadOptions, TransportError};
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Instant;
use tokio::sync::watch;

pub struct RunOptions {
    /// Run only tests carrying at least one of these tags (all tests when empty).
    pub tags: Vec<String>,
    /// Run only tests whose name matches.
    pub name: Option<Regex>,
    pub fail_fast: bool,
    /// Becomes true when the run must stop (Ctrl-C); the test in flight is abandoned.
    pub stop: watch::Receiver<bool>,
}

pub async fn run(plan: &Plan, mut opts: RunOptions, reporter: &mut dyn Reporter, redactor: &Redactor) -> Summary {
    let client = http::client();
    let start = Instant::now();
    let mut summary = Summary::default();
    let total = plan.suites.iter().map(|s| s.tests.len()).sum();
    reporter.on(&Event::RunStarted { suites: plan.suites.len(), tests: total });
    for suite in &plan.suites {
        let suite_start = Instant::now();
        reporter.on(&Event::SuiteStarted { suite });
        let mut captures: HashMap<String, Value> = HashMap::new();
        for test in &suite.tests {
            let outcome = match skip_reason(test, &opts, &summary) {
                Some(reason) => skipped(test, reason),
                None => {
                    let mut stop = opts.stop.clone();
                    tokio::select! {
                        outcome = run_test(&client, test, &mut captures, redactor) => outcome,
                        _ = stop.wait_for(|s| *s) => skipped(test, "not finished: the run was interrupted".into()),
                    }
                }
            };
            if *opts.stop.borrow() && summary.stopped_early.is_none() {
                summary.stopped_early = Some("interrupted".into());
            }
            let failed = matches!(outcome.verdict, Verdict::Failed(_) | Verdict::Error(_));
            if failed && opts.fail_fast && summary.stopped_early.is_none() {
                summary.stopped_early = Some("--fail-fast stopped the run after a failure".into());
            }
            summary.count(&outcome.verdict);
            reporter.on(&Event::TestFinished { suite, outcome: &outcome });
        }
        reporter.on(&Event::SuiteFinished { suite, duration: suite_start.elapsed() });
    }
    summary.duration = start.elapsed();
    opts.stop.mark_unchanged();
    reporter.on(&Event::RunFinished { summary: &summary });
    summary
}

fn skip_reason(test: &TestPlan, opts: &RunOptions, summary: &Summary) -> Option<String> {
    if let Some(why) = &summary.stopped_early {
        return Some(format!("not run: {why}"));
    }
    if !opts.tags.is_empty() && !test.tags.iter().any(|t| opts.tags.contains(t)) {
        return Some(format!("not selected: has none of the tags {}", opts.tags.join(", ")));
    }
    if let Some(re) = &opts.name {
        if !re.is_match(&test.name) {
            return Some(format!("not selected: name does not match /{}/", re.as_str()));
        }
    }
    test.skip.as_ref().map(|why| format!("skipped by the spec: {why}"))
}

fn skipped(test: &TestPlan, reason: String) -> TestOutcome {
    TestOutcome {
        name: test.name.clone(),
        loc: test.loc,
        verdict: Verdict::Skipped(reason),
        duration: Default::default(),
        properties: vec![],
        transcript: None,
    }
}

async fn run_test(
    client: &reqwest::Client,
    test: &TestPlan,
    captures: &mut HashMap<String, Value>,
    redactor: &Redactor,
) -> TestOutcome {
    let start = Instant::now();
    let mut outcome = skipped(test, String::new());
    let outgoing = match prepare(&test.request, captures, redactor) {
        Ok(o) => o,
        Err(e) => {
            outcome.verdict = Verdict::Error(e);
            return outcome;
        }
    };
    let mut transcript = Transcript {
        request: format!("{} {}", outgoing.method, outgoing.url),
        request_body: outgoing.body.as_ref().map(|b| trim_middle(&String::from_utf8_lossy(b), 2000)),
        ..Transcript::default()
    };
    let result = http::exchange(client, &outgoing).await;
    outcome.duration = start.elapsed();
    outcome.verdict = match result {
        Err(TransportError(message)) => Verdict::Error(message),
        Ok(observed) => {
            transcript.status = Some(observed.status);
            transcript.response_bytes = observed.stream.as_ref().map_or(observed.body.len(), |s| s.bytes);
            transcript.response_body = trim_middle(&observed.body, 2000);
            let metrics = RequestMetrics::of(&observed);
            outcome.properties = vec![("status".into(), observed.status.to_string())];
            outcome.properties.extend(metrics.properties());
            outcome.properties.push(("response_bytes".into(), transcript.response_bytes.to_string()));
            let sent = outgoing.body.as_deref().and_then(|b| serde_json::from_slice::<Value>(b).ok());
            match stream_problem(test, &observed) {
                Some(problem) => Verdict::Error(problem),
                None => {
                    let mut failures = test.expect.evaluate(&observed, &metrics, sent.as_ref());
                    if test.request.stream && observed.stream.is_none() && observed.status == 200 {
                        failures.push(Failure {
                            loc: test.loc,
                            subject: "stream".into(),
                            expected: "a text/event-stream answer to `stream: true`".into(),
                            actual: format!(
                                "a plain answer (content-type: {})",
                                observed.header("content-type").unwrap_or("none")
                            ),
                        });
                    }
                    failures.extend(capture(test, &observed, captures));
                    if failures.is_empty() { Verdict::Passed } else { Verdict::Failed(failures) }
                }
            }
        }
    };
    outcome.transcript = Some(transcript);
    outcome
}

/// A stream that did not end properly gets no verdict on its content, unless the spec
/// expects exactly that (`stream: { done: false }` or `stream: { error: ... }`).
fn stream_problem(test: &TestPlan, observed: &Observed) -> Option<String> {
    let s = observed.stream.as_ref()?;
    let expects = test.expect.stream.as_ref();
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
                format_duration(test.request.timeout)
            ));
        }
        StreamEnd::Done | StreamEnd::Eof => {}
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
fn prepare(req: &RequestPlan, captures: &HashMap<String, Value>, redactor: &Redactor) -> Result<Outgoing, String> {
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
        body,
        timeout: req.timeout,
        read: ReadOptions { idle_timeout: req.idle_timeout, keep_events: true, keep_raw: 1024 * 1024 },
    })
}

/// Takes the test's captures from the response; a capture that finds nothing is a failure.
fn capture(test: &TestPlan, observed: &Observed, captures: &mut HashMap<String, Value>) -> Vec<Failure> {
    let mut failures = vec![];
    for c in &test.captures {
        let (value, source) = match &c.from {
            CaptureSource::Json(q) => (observed.json.as_ref().and_then(|j| q.select(j)), q.text.clone()),
            CaptureSource::Header(h) => (observed.header(h).map(|v| Value::String(v.into())), format!("header {h}")),
            CaptureSource::Regex(re) => {
                let found = re.captures(&observed.body).and_then(|m| m.get(1).or_else(|| m.get(0)));
                (found.map(|m| Value::String(m.as_str().into())), format!("/{}/", re.as_str()))
            }
        };
        match value {
            Some(v) => {
                captures.insert(c.name.clone(), v);
            }
            None => failures.push(Failure {
                loc: c.loc,
                subject: format!("capture {}", c.name),
                expected: format!("a value at {source}"),
                actual: expect::describe(None),
            }),
        }
    }
    failures
}
