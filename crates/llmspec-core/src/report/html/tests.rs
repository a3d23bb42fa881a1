//! The page for constructed runs: what it shows, in which order, and what it must never show.

use super::Html;
use crate::expect::{Check, Failure};
use crate::metrics::aggregate::{Aggregate, Class};
use crate::metrics::request::RequestMetrics;
use crate::redact::Redactor;
use crate::report::sanitize::Sanitizer;
use crate::report::{Reporter, Reporters};
use crate::run::event::{Event, EventSink, RunSeries, Summary, TestOutcome, ThresholdResult, Transcript, Verdict};
use crate::spec::diag::Source;
use crate::spec::plan::{SuitePlan, TlsOptions};
use crate::vocab::Loc;
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "sk-secret-123";
const SPEC: &str = "suite: demo\ntests:\n  - name: ok\n    request: { GET: /health }\n    expect:\n      status: 200\n";

fn suite(name: &str) -> SuitePlan {
    SuitePlan {
        name: name.into(),
        description: Some(format!("checks <things> with {SECRET}")),
        source: Arc::new(Source { path: format!("specs/{name}.yaml"), text: SPEC.into() }),
        tests: vec![],
        tls: TlsOptions::default(),
        vars: Default::default(),
    }
}

fn outcome(name: &str, verdict: Verdict) -> TestOutcome {
    TestOutcome { duration: Duration::from_millis(12), ..TestOutcome::bare(name, Loc { line: 3, col: 5 }, verdict) }
}

fn failure(actual: &str) -> Failure {
    Failure {
        check: Check::Status,
        loc: Loc { line: 6, col: 15 },
        subject: "status".into(),
        expected: "200".into(),
        actual: actual.into(),
    }
}

fn hostile_transcript() -> Transcript {
    Transcript {
        request: "POST http://127.0.0.1:8000/v1/chat/completions".into(),
        request_headers: vec![("Authorization".into(), format!("Bearer {SECRET}"))],
        request_body: Some(format!("{{\"key\":\"{SECRET}\"}}")),
        status: Some(500),
        status_line: Some("HTTP/1.1 500 Internal Server Error".into()),
        response_headers: vec![("content-type".into(), "text/html".into())],
        response_bytes: 60,
        response_body: format!("<script>alert('x')</script><img src=x onerror=\"steal('{SECRET}')\">"),
        ..Transcript::default()
    }
}

/// A load test of 200 requests with a time series and two thresholds judging it.
fn load_outcomes() -> Vec<TestOutcome> {
    let mut agg = Aggregate::default();
    let mut requests = vec![];
    for i in 0..200u64 {
        let latency = Duration::from_millis(40 + i % 37);
        let m = RequestMetrics {
            latency,
            e2e: latency,
            ttfb: Duration::from_millis(5),
            ttft: Some(Duration::from_millis(8 + i % 11)),
            chunk_gaps: vec![Duration::from_millis(3), Duration::from_millis(4 + i % 5)],
            output_tokens: Some(16),
            tokens_per_second: Some(300.0 + i as f64),
            ..RequestMetrics::default()
        };
        agg.record(Class::Good, Some(200), Some(&m), None);
        requests.push((i as f64 * 0.05, latency.as_secs_f64(), i % 40 != 0));
    }
    agg.duration = Duration::from_secs(10);
    let mut load = outcome("load test", Verdict::Passed);
    load.aggregate = Some(Arc::new(agg));
    load.series = Some(Arc::new(RunSeries { requests, window: Duration::from_secs(2), ..RunSeries::default() }));
    let mut fast = outcome("load test: p99(latency) < 1s", Verdict::Passed);
    fast.threshold = Some(ThresholdResult { limit: "< 1s".into(), measured: Some("76ms".into()) });
    let mut ttft = outcome("load test: p50(ttft) < 5ms", Verdict::Failed(vec![failure("13ms")]));
    ttft.threshold = Some(ThresholdResult { limit: "< 5ms".into(), measured: Some("13ms".into()) });
    vec![load, fast, ttft]
}

fn first_suite() -> Vec<TestOutcome> {
    let mut failed = outcome(&format!("fails <b>bold</b> with {SECRET}"), Verdict::Failed(vec![failure("500")]));
    failed.transcript = Some(hostile_transcript());
    failed.properties = vec![("latency_ms".into(), "12.000".into()), ("note".into(), format!("had {SECRET}"))];
    let mut passed = outcome("passes first", Verdict::Passed);
    passed.transcript = Some(Transcript {
        request: "GET http://127.0.0.1:8000/health".into(),
        status: Some(200),
        ..Transcript::default()
    });
    let mut advisory = outcome("advisory", Verdict::Advisory(vec![failure("404")]));
    advisory.warnings = vec![format!("the client may be the bottleneck & {SECRET}")];
    vec![
        passed,
        failed,
        outcome("no answer", Verdict::Error("cannot connect to http://127.0.0.1:1: Connection refused".into())),
        outcome("skipped", Verdict::Skipped("not selected: tagged `destructive`".into())),
        advisory,
    ]
}

fn render(runs: &[(SuitePlan, Vec<TestOutcome>)], name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("llmspec-html-{}-{name}", std::process::id()));
    let path = dir.join("report.html");
    let sanitizer = Sanitizer::new(Arc::new(Redactor::new([SECRET.to_string()])));
    let mut reporters = Reporters::default();
    reporters.add(Html::new(path.clone(), sanitizer));
    let mut summary = Summary { duration: Duration::from_millis(900), ..Summary::default() };
    for (suite, outcomes) in runs {
        reporters.emit(&Event::SuiteStarted { suite });
        for o in outcomes {
            summary.count(&o.verdict);
            reporters.emit(&Event::TestFinished { suite, outcome: o });
        }
        reporters.emit(&Event::SuiteFinished { suite, duration: Duration::from_millis(400) });
    }
    reporters.emit(&Event::RunFinished { summary: &summary });
    let finished = reporters.finish();
    assert!(finished.errors.is_empty(), "{:?}", finished.errors);
    assert_eq!(finished.written, vec![path.clone()]);
    let html = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    html
}

fn whole_run(name: &str) -> String {
    render(&[(suite("first"), first_suite()), (suite("load"), load_outcomes())], name)
}

#[test]
fn a_secret_never_appears_and_server_text_is_escaped() {
    let html = whole_run("escape");
    assert!(!html.contains(SECRET) && !html.contains("secret-123"), "a secret leaked");
    assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<b>bold"), "unescaped text");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), "the body is shown, escaped");
    assert!(html.contains("fails &lt;b&gt;bold&lt;/b&gt; with"), "names are escaped");
    assert!(html.contains("checks &lt;things&gt;"), "descriptions are escaped");
    assert!(html.contains("bottleneck &amp; "), "warnings are escaped");
}

#[test]
fn the_page_fetches_nothing() {
    let html = whole_run("offline");
    for remote in ["<script", "<link", "<iframe", "<img", "src=\"", "url(", "@import", "href=\"http", "@font-face"] {
        assert!(!html.contains(remote), "{remote}");
    }
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<style>"));
}

#[test]
fn the_verdict_and_charts_come_first_then_failures_then_every_test() {
    let html = whole_run("order");
    let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("missing {needle}"));
    assert!(html.contains("<header class=\"banner fail\" id=\"verdict\"><div class=\"verdict\">FAILED</div>"));
    assert!(at("id=\"verdict\"") < at("id=\"charts\""));
    assert!(at("id=\"charts\"") < at("id=\"failures\""));
    assert!(at("id=\"failures\"") < at("id=\"measurements\""));
    assert!(at("id=\"measurements\"") < at("id=\"tests\""));
    // The failures section holds the failed test, the error and the failed threshold, and no
    // passed test.
    let failures = &html[at("id=\"failures\"")..at("id=\"measurements\"")];
    assert!(failures.contains("Failures (3)"), "{failures}");
    assert!(failures.contains("no answer") && failures.contains("p50(ttft) &lt; 5ms"));
    assert!(!failures.contains("passes first"));
    // Failed tests are open in the list of every test, the others folded.
    assert!(html.contains("<details class=\"test fail\" id=\"test-1\" open>"));
    assert!(html.contains("<details class=\"test pass\" id=\"test-0\">"));
}

#[test]
fn every_test_is_on_the_page_with_its_transcript_folded() {
    let html = whole_run("every");
    let tests = &html[html.find("id=\"tests\"").unwrap_or(0)..];
    for id in 0..8 {
        assert!(tests.contains(&format!("id=\"test-{id}\"")), "test {id}");
    }
    for name in ["passes first", "no answer", "skipped", "advisory", "load test: p99(latency) &lt; 1s"] {
        assert!(tests.contains(name), "{name}");
    }
    assert!(html.contains("<details class=\"transcript\"><summary>transcript</summary><pre>request: POST"));
    assert!(tests.contains("not selected: tagged `destructive`"), "a skip says why");
}

#[test]
fn a_load_test_has_its_time_series_histograms_percentiles_and_thresholds() {
    let html = whole_run("load");
    let charts = &html[html.find("id=\"charts\"").unwrap_or(0)..html.find("id=\"failures\"").unwrap_or(0)];
    assert!(charts.contains("200</b> requests"), "{charts}");
    assert!(charts.contains("latency of each request") && charts.contains("latency (ms)"));
    assert!(charts.contains("time since the start (s)") && charts.contains("failed request"));
    // One dot per request, failed ones in red.
    assert_eq!(charts.matches("<circle").count(), 200);
    let numbers = &html[html.find("id=\"measurements\"").unwrap_or(0)..html.find("id=\"tests\"").unwrap_or(0)];
    assert!(numbers.contains("<li><span class=\"badge fail\">FAIL</span> <a href=\"#test-7\">p50(ttft) &lt; 5ms</a>"));
    assert!(numbers.contains("latency: 200 values") && numbers.contains("time to first token (TTFT): 200 values"));
    assert!(numbers.contains("inter-token latency (ITL: gap between chunks): 400 gaps"));
    assert!(numbers.matches("<rect").count() >= 5 * 10, "histogram bars");
    for column in [
        "<th>p50</th>",
        "<th>p90</th>",
        "<th>p95</th>",
        "<th>p99</th>",
        "<th>min</th>",
        "<th>max</th>",
        "<th>mean</th>",
    ] {
        assert!(numbers.contains(column), "{column}");
    }
    for row in ["<th>latency (ms)</th><td>200</td><td>40</td>", "<th>tokens per second</th>", "inter-token latency"] {
        assert!(numbers.contains(row), "{row}: {numbers}");
    }
}

#[test]
fn the_page_stays_bounded_however_many_tests_fail() {
    let mut many = vec![];
    for i in 0..1500 {
        let mut t = outcome(&format!("failing {i}"), Verdict::Failed(vec![failure("500")]));
        let mut transcript = hostile_transcript();
        transcript.response_body = "y".repeat(10_000);
        transcript.request_body = Some("x".repeat(10_000));
        t.transcript = Some(transcript);
        many.push(t);
    }
    let html = render(&[(suite("many"), many)], "bounded");
    assert!(html.len() < 8 << 20, "{} bytes", html.len());
    assert!(html.contains("failing 1499"), "every test is still listed");
    assert!(html.contains("(left out: this page keeps the first 4 MiB"), "{} bytes", html.len());
}

#[test]
fn a_run_that_never_finished_writes_nothing() {
    let path = std::env::temp_dir().join(format!("llmspec-html-{}-unfinished.html", std::process::id()));
    let mut html = Html::new(path.clone(), Sanitizer::new(Arc::new(Redactor::new(Vec::<String>::new()))));
    assert_eq!(html.finish(), Ok(vec![]));
    assert!(!path.exists());
}
