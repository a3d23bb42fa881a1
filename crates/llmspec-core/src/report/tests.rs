//! Every reporter's output for constructed events: each verdict kind, a threshold, an advisory
//! with warnings, a secret, a hostile name, a run stopped by a signal, and spec errors. The
//! snapshots are what a reader sees; a change to them is a change to the product.

use super::console::Console;
use super::json::JsonResults;
use super::junit::Junit;
use super::sanitize::Sanitizer;
use super::{Reporter, Reporters};
use crate::expect::Failure;
use crate::redact::Redactor;
use crate::run::event::{Event, EventSink, StopReason, Summary, TestOutcome, ThresholdResult, Transcript, Verdict};
use crate::spec::diag::{Diagnostic, Source};
use crate::spec::plan::{SuitePlan, TlsOptions};
use crate::vocab::Loc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SPEC: &str = "suite: demo\ntests:\n  - name: ok\n    request: { GET: /health }\n    expect:\n      status: 200\n  - name: broken\n";

pub(super) fn suite() -> SuitePlan {
    SuitePlan {
        name: "demo".into(),
        description: None,
        source: Arc::new(Source { path: "specs/demo.yaml".into(), text: SPEC.into() }),
        tests: vec![],
        tls: TlsOptions::default(),
        vars: Default::default(),
    }
}

fn outcome(name: &str, verdict: Verdict) -> TestOutcome {
    TestOutcome {
        name: name.into(),
        loc: Loc { line: 3, col: 11 },
        verdict,
        duration: Duration::from_millis(12),
        properties: vec![("latency_ms".into(), "12.000".into())],
        transcript: None,
        aggregate: None,
        warnings: vec![],
        series: None,
        threshold: None,
        sweep: None,
    }
}

fn failure(actual: &str) -> Failure {
    Failure {
        check: crate::expect::Check::Status,
        loc: Loc { line: 6, col: 15 },
        subject: "status".into(),
        expected: "200".into(),
        actual: actual.into(),
    }
}

fn outcomes() -> Vec<TestOutcome> {
    let mut failed = outcome("fails with sk-secret-123", Verdict::Failed(vec![failure("500")]));
    failed.transcript = Some(Transcript {
        request: "POST http://127.0.0.1:8000/v1/chat/completions".into(),
        // As a reporter could get it if masking by name had missed it: masked by value here.
        request_headers: vec![
            ("Authorization".into(), "Bearer sk-secret-123".into()),
            ("content-type".into(), "application/json".into()),
        ],
        request_body: Some(format!("{{\"key\":\"sk-secret-123\",\"pad\":\"{}\"}}", "x".repeat(3000))),
        status: Some(500),
        status_line: Some("HTTP/1.1 500 Internal Server Error".into()),
        response_headers: vec![("content-type".into(), "text/plain\u{1b}[31m".into())],
        response_bytes: 21,
        response_body: "\u{1b}[2Kinternal error\u{7}".into(),
        notes: vec![],
        resent: Some("sent again: the kept-alive connection was closed".into()),
    });
    let mut advisory = outcome("advisory", Verdict::Advisory(vec![failure("404")]));
    advisory.warnings = vec!["the client may be the bottleneck".into()];
    let mut threshold = outcome("load: p99(latency) < 1s", Verdict::Failed(vec![failure("1.5s")]));
    threshold.properties = vec![("limit".into(), "< 1s".into()), ("measured".into(), "1.500s".into())];
    threshold.threshold = Some(ThresholdResult { limit: "< 1s".into(), measured: Some("1.500s".into()) });
    vec![
        outcome("passes", Verdict::Passed),
        failed,
        outcome("no answer", Verdict::Error("cannot connect to http://127.0.0.1:1: Connection refused".into())),
        outcome("skipped", Verdict::Skipped("not selected: tagged `destructive`".into())),
        advisory,
        threshold,
        outcome("cut short", Verdict::Skipped("not finished: terminated (SIGTERM)".into())),
    ]
}

/// Sends a whole run to `reporter` and returns what the console printed.
fn run_through(reporters: &mut Reporters, stopped: Option<StopReason>) {
    let suite = suite();
    let outcomes = outcomes();
    reporters.emit(&Event::RunStarted { suites: 1, tests: outcomes.len() });
    reporters.emit(&Event::SuiteStarted { suite: &suite });
    let mut summary = Summary { stopped_early: stopped, duration: Duration::from_millis(80), ..Summary::default() };
    for o in &outcomes {
        summary.count(&o.verdict);
        reporters.emit(&Event::TestFinished { suite: &suite, outcome: o });
    }
    reporters.emit(&Event::SuiteFinished { suite: &suite, duration: Duration::from_millis(80) });
    reporters.emit(&Event::RunFinished { summary: &summary });
}

/// A console writing into memory.
#[derive(Clone, Default)]
struct Screen(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Screen {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn sanitizer() -> Sanitizer {
    Sanitizer::new(Arc::new(Redactor::new(["sk-secret-123".to_string()])))
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("llmspec-report-{}-{name}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir.join(name)
}

#[test]
fn console_for_every_verdict() {
    for (stopped, label) in [(None, "complete"), (Some(StopReason::Terminated), "terminated")] {
        let screen = Screen::default();
        let mut reporters = Reporters::default();
        reporters.add(Console::new(screen.clone(), false, sanitizer()));
        run_through(&mut reporters, stopped);
        let finished = reporters.finish();
        assert!(finished.errors.is_empty());
        let text = String::from_utf8(screen.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
        insta::assert_snapshot!(format!("console_{label}"), text);
    }
}

#[test]
fn junit_for_every_verdict() {
    let path = temp("junit.xml");
    let mut reporters = Reporters::default();
    reporters.add(Junit::new(path.clone(), sanitizer()));
    run_through(&mut reporters, None);
    let finished = reporters.finish();
    assert_eq!(finished.written, vec![path.clone()]);
    let xml = std::fs::read_to_string(&path).unwrap_or_default();
    insta::assert_snapshot!(xml);
}

#[test]
fn json_for_every_verdict() {
    let path = temp("results.json");
    let mut reporters = Reporters::default();
    reporters.add(JsonResults::new(path.clone(), sanitizer()));
    run_through(&mut reporters, Some(StopReason::Interrupted));
    reporters.finish();
    let json = std::fs::read_to_string(&path).unwrap_or_default();
    insta::assert_snapshot!(json);
}

#[test]
fn junit_for_spec_errors() {
    let path = temp("spec-errors.xml");
    let source = Arc::new(Source { path: "specs/demo.yaml".into(), text: SPEC.into() });
    let mut junit = Junit::new(path.clone(), sanitizer());
    junit.spec_errors(&[
        Diagnostic::new(&source, Loc { line: 7, col: 5 }, "this test has neither `request` nor `steps`"),
        Diagnostic::whole_file(&source, "this file is larger than 8 MiB"),
    ]);
    assert!(junit.finish().is_ok());
    insta::assert_snapshot!(std::fs::read_to_string(&path).unwrap_or_default());
}

#[test]
fn a_report_that_cannot_be_written_is_an_error_and_the_others_still_finish() {
    let blocked = temp("not-a-dir");
    let _ = std::fs::write(&blocked, "a file where a folder is needed");
    let good = temp("good.xml");
    let mut reporters = Reporters::default();
    reporters.add(JsonResults::new(blocked.join("r.json"), sanitizer()));
    reporters.add(Junit::new(good.clone(), sanitizer()));
    run_through(&mut reporters, None);
    let finished = reporters.finish();
    assert_eq!(finished.written, vec![good]);
    assert_eq!(finished.errors.len(), 1, "{:?}", finished.errors);
}
