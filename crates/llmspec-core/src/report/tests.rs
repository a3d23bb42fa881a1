//! Every reporter's output for constructed events: each verdict kind, a threshold, an advisory
//! with warnings, a secret, a hostile name, a run stopped by a signal, and spec errors. The
//! snapshots are what a reader sees; a change to them is a change to the product.

use super::console::Console;
use super::github::GithubAnnotations;
use super::json::JsonResults;
use super::junit::{Junit, plot_path};
use super::location::Locator;
use super::openmetrics::OpenMetrics;
use super::plot::Plots;
use super::sanitize::Sanitizer;
use super::summary::MarkdownSummary;
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
        record: None,
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
    let mut load = outcome("load", Verdict::Passed);
    load.aggregate = Some(Arc::new(crate::metrics::aggregate::Aggregate::default()));
    load.series = Some(Arc::new(crate::run::event::RunSeries::default()));
    let mut threshold = outcome("load: p99(latency) < 1s", Verdict::Failed(vec![failure("1.5s")]));
    threshold.properties = vec![("limit".into(), "< 1s".into()), ("measured".into(), "1.500s".into())];
    threshold.threshold = Some(ThresholdResult { limit: "< 1s".into(), measured: Some("1.500s".into()) });
    vec![
        outcome("passes", Verdict::Passed),
        failed,
        outcome("no answer", Verdict::Error("cannot connect to http://127.0.0.1:1: Connection refused".into())),
        outcome("skipped", Verdict::Skipped("not selected: tagged `destructive`".into())),
        advisory,
        load,
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

/// A locator whose root holds no repository: paths are made relative to this directory.
fn locator() -> Locator {
    Locator::new(std::path::PathBuf::from("/nonexistent-llmspec-root"), vec![])
}

fn junit(path: std::path::PathBuf) -> Junit {
    Junit::new(path, sanitizer())
        .with_locator(locator())
        .with_plots(Some(std::path::PathBuf::from("/nonexistent-llmspec-root/out/plots")))
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
    reporters.add(junit(path.clone()));
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

/// The text of every `<tag ...>...</tag>` of a test case, by the case's name.
fn case<'a>(xml: &'a str, name: &str) -> &'a str {
    let start = xml.find(&format!("<testcase name=\"{name}\"")).unwrap_or_else(|| panic!("no case {name}: {xml}"));
    let end = xml[start..].find("</testcase>").map_or(xml.len(), |e| start + e);
    &xml[start..end]
}

#[test]
fn junit_follows_what_gitlab_and_github_read() {
    let path = temp("rules.xml");
    let mut reporters = Reporters::default();
    reporters.add(junit(path.clone()));
    run_through(&mut reporters, None);
    reporters.finish();
    let xml = std::fs::read_to_string(&path).unwrap_or_default();
    // `file` from the root; `line` at the expectation that failed (6), not the test (3).
    let failed = case(&xml, "fails with ***");
    assert!(failed.contains(r#"file="specs/demo.yaml" line="6""#), "{failed}");
    // The exchange once: in the failure text, not again in system-out.
    assert_eq!(failed.matches("request: POST").count(), 1, "{failed}");
    assert!(!failed.contains("<system-out>"), "{failed}");
    // Measurements where both platforms look: the failure text.
    assert!(failed.contains("measured: latency_ms 12.000"), "{failed}");
    // A skip reason as the element's text (GitLab shows a message attribute alone as JSON).
    let skipped = case(&xml, "skipped");
    assert!(
        skipped.contains(
            r#"<skipped message="not selected: tagged `destructive`">not selected: tagged `destructive`</skipped>"#
        ),
        "{skipped}"
    );
    // An advisory stays green, with its detail in system-out and its line at the expectation.
    let advisory = case(&xml, "advisory");
    assert!(!advisory.contains("<failure"), "{advisory}");
    assert!(advisory.contains(r#"line="6""#), "{advisory}");
    assert!(advisory.contains("<system-out>advisory: status: expected 200, got 404"), "{advisory}");
    // The threshold's case: its value, its load test's figures, and one attachment, the plot.
    let threshold = case(&xml, "load: p99(latency) &lt; 1s");
    assert!(threshold.contains("measured 1.500s, limit &lt; 1s"), "{threshold}");
    assert!(threshold.contains("load: 0 requests"), "{threshold}");
    assert_eq!(threshold.matches("[[ATTACHMENT|").count(), 1, "{threshold}");
    assert!(threshold.contains("[[ATTACHMENT|out/plots/demo--load.svg]]"), "{threshold}");
    // A case without a plot has no attachment.
    assert!(!failed.contains("ATTACHMENT"), "{failed}");
}

#[test]
fn the_attached_plot_is_the_file_the_plot_reporter_writes() {
    let dir = temp("plots");
    let mut reporters = Reporters::default();
    reporters.add(Plots::new(dir.clone(), sanitizer()));
    run_through(&mut reporters, None);
    let written = reporters.finish().written;
    assert_eq!(written, vec![plot_path(&dir, &sanitizer(), "demo", "load")]);
}

#[test]
fn summary_for_every_verdict() {
    let path = temp("summary.md");
    let step = temp("step-summary.md");
    let _ = std::fs::write(&step, "earlier step\n");
    let mut reporters = Reporters::default();
    reporters.add(MarkdownSummary::new(path.clone(), sanitizer(), locator(), Some(step.clone())));
    run_through(&mut reporters, None);
    let finished = reporters.finish();
    assert!(finished.errors.is_empty(), "{:?}", finished.errors);
    let md = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(!md.contains("sk-secret-123"), "{md}");
    // Appended after what the job's earlier steps wrote.
    assert_eq!(std::fs::read_to_string(&step).unwrap_or_default(), format!("earlier step\n{md}"));
    insta::assert_snapshot!(md);
}

/// Every line is a `# TYPE`/`# HELP` line, a sample, or the final `# EOF`; a family's samples
/// are together; no label value holds `#`; names are valid and start with `llmspec_`.
fn assert_openmetrics_shape(text: &str) {
    let sample =
        regex::Regex::new(r#"^(llmspec_[a-z0-9_]+)(\{([a-z_]+="([^"\\#]|\\.)*",?)*\})? -?[0-9.e+-]+$"#).unwrap();
    let meta = regex::Regex::new(r"^# (TYPE (llmspec_[a-z0-9_]+) gauge|HELP (llmspec_[a-z0-9_]+) .+)$").unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let mut seen: Vec<String> = vec![];
    for line in text.lines().take_while(|l| *l != "# EOF") {
        if meta.is_match(line) {
            continue;
        }
        let family = sample.captures(line).unwrap_or_else(|| panic!("not OpenMetrics: {line}"))[1].to_string();
        if seen.last() != Some(&family) {
            assert!(!seen.contains(&family), "the samples of {family} are split");
            seen.push(family);
        }
    }
    assert_eq!(text.matches("# EOF").count(), 1);
}

#[test]
fn openmetrics_for_every_verdict() {
    let path = temp("metrics.txt");
    let mut reporters = Reporters::default();
    reporters.add(OpenMetrics::new(path.clone(), sanitizer()));
    run_through(&mut reporters, None);
    reporters.finish();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    assert_openmetrics_shape(&text);
    assert!(text.contains(r#"llmspec_tests{verdict="failed"} 2"#), "{text}");
    assert!(text.contains(r#"llmspec_latency_seconds{suite="demo",test="passes"} 0.012"#), "{text}");
    assert!(
        text.contains(r#"llmspec_threshold_measured{suite="demo",test="load: p99(latency) < 1s",unit="seconds"} 1.5"#),
        "{text}"
    );
    assert!(text.contains(r#"llmspec_advisory_failed{suite="demo",test="advisory"} 1"#), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn openmetrics_labels_survive_hostile_names() {
    let path = temp("hostile-metrics.txt");
    let mut m = OpenMetrics::new(path.clone(), sanitizer());
    let suite = suite();
    let o = outcome("a \"quoted\" # name \\ with\nbreak", Verdict::Passed);
    let _ = m.on(&Event::TestFinished { suite: &suite, outcome: &o });
    let _ = m.on(&Event::RunFinished { summary: &Summary::default() });
    let _ = m.finish();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    assert_openmetrics_shape(&text);
    assert!(text.contains(r#"test="a \"quoted\" ＃ name \\ with\\nbreak""#), "{text}");
}

#[test]
fn github_annotations_warn_of_advisories_at_their_expectation() {
    let screen = Screen::default();
    let mut reporters = Reporters::default();
    reporters.add(GithubAnnotations::new(screen.clone(), sanitizer(), locator()));
    run_through(&mut reporters, None);
    reporters.finish();
    let text = String::from_utf8(screen.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
    assert_eq!(
        text,
        "::warning file=specs/demo.yaml,line=6,title=advisory%3A advisory::status: expected 200, got 404\n\
         ::warning file=specs/demo.yaml,line=3,title=measurement%3A advisory::the client may be the bottleneck\n"
    );
}
