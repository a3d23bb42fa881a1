//! The text of a verdict, shared by the console and the JUnit body so both say the same.
//! Everything is built through the [`Sanitizer`]: bodies are masked, then shortened.

use super::sanitize::Sanitizer;
use crate::expect::Failure;
use crate::metrics::catalog::{ScalarName, SeriesName, Statistic};
use crate::run::event::{TestOutcome, ThresholdResult, Transcript, Verdict};
use crate::spec::diag::{Source, snippet};
use crate::vocab::units::format_duration;
use std::fmt::Write;

/// Bodies shown in a transcript: the start and the end of anything longer.
const BODY_CHARS: usize = 2000;
/// A header value shown in a transcript, the same way (a server may send long ones).
const HEADER_CHARS: usize = 500;

/// Every failure with its spec snippet, then the exchange that produced them.
pub fn failure_detail(source: &Source, outcome: &TestOutcome, s: &Sanitizer) -> String {
    let mut out = verdict_detail(source, outcome);
    if let Some(t) = &outcome.transcript {
        out.push_str(&transcript(t, s));
    }
    s.text(&out)
}

/// Every failure (or the error) with its spec snippet; nothing for a pass or a skip.
pub fn verdict_detail(source: &Source, outcome: &TestOutcome) -> String {
    let mut out = String::new();
    match &outcome.verdict {
        Verdict::Failed(failures) | Verdict::Advisory(failures) => {
            for f in failures {
                out.push_str(&one_failure(source, f));
                out.push('\n');
            }
        }
        Verdict::Error(message) => {
            let _ = writeln!(out, "error: {message}");
            out.push_str(&snippet(source, outcome.loc));
            out.push('\n');
        }
        _ => {}
    }
    out
}

/// How long a test took; for a threshold, which has no duration of its own, what it measured.
pub fn shown_time(outcome: &TestOutcome) -> String {
    match &outcome.threshold {
        // A name written with variables does not show the limit they give.
        Some(ThresholdResult { measured: Some(v), limit }) if outcome.name.contains("${") => {
            format!("measured {v}, limit {limit}")
        }
        Some(ThresholdResult { measured: Some(v), .. }) => format!("measured {v}"),
        Some(ThresholdResult { measured: None, .. }) => "not measured".into(),
        None => format_duration(outcome.duration),
    }
}

pub fn one_failure(source: &Source, f: &Failure) -> String {
    let mut out = format!("error: {}: expected {}\n", f.subject, f.expected);
    out.push_str(&snippet(source, f.loc));
    let pad = " ".repeat(f.loc.line.to_string().len());
    let _ = writeln!(out, "{pad} = expected: {}", f.expected);
    let _ = writeln!(out, "{pad} =   actual: {}", f.actual);
    out
}

pub fn transcript(t: &Transcript, s: &Sanitizer) -> String {
    if t.request.is_empty() {
        return s.text(&t.notes.iter().map(|n| format!("{n}\n")).collect::<String>());
    }
    let mut out = format!("request: {}\n", t.request);
    headers(&mut out, &t.request_headers, s);
    if let Some(body) = &t.request_body {
        let _ = writeln!(out, "request body: {}", s.excerpt(body, BODY_CHARS));
    }
    match t.status {
        Some(status) => {
            let _ = writeln!(out, "response: {status}, {} bytes", t.response_bytes);
            if let Some(line) = &t.status_line {
                let _ = writeln!(out, "  {}", s.excerpt(line, HEADER_CHARS));
            }
            headers(&mut out, &t.response_headers, s);
            if !t.response_body.is_empty() {
                let _ = writeln!(out, "response body: {}", s.excerpt(&t.response_body, BODY_CHARS));
            }
        }
        None => out.push_str("response: none\n"),
    }
    if let Some(why) = &t.resent {
        let _ = writeln!(out, "{why}");
    }
    s.text(&out)
}

/// One indented line per header, under the line of the request or the response.
fn headers(out: &mut String, headers: &[(String, String)], s: &Sanitizer) {
    for (name, value) in headers {
        let _ = writeln!(out, "  {}: {}", s.name(name), s.excerpt(value, HEADER_CHARS));
    }
}

/// The changes of the key metrics against the previous run (`--baseline`), when there is one.
pub fn baseline_line(properties: &[(String, String)]) -> Option<String> {
    const KEY: &[&str] = &[
        "latency_ms",
        "ttft_ms",
        "tpot_ms",
        "tokens_per_second",
        "p50_latency_ms",
        "p99_latency_ms",
        "p50_ttft_ms",
        "p99_ttft_ms",
        "req_per_s",
        "error_rate",
        "output_tokens_per_s",
    ];
    let shown: Vec<String> = KEY
        .iter()
        .filter_map(|k| properties.iter().find(|(p, _)| p.strip_prefix("change_") == Some(*k)))
        .map(|(k, v)| format!("{} {v}", k.trim_start_matches("change_")))
        .collect();
    (!shown.is_empty()).then(|| format!("vs baseline: {}", shown.join(", ")))
}

/// What the server said of itself meanwhile, beside the client's view:
/// `sampled: running max 8 (mean 6.2), waiting max 3 (mean 0.9)`.
pub fn sampled_line(samples: &std::collections::BTreeMap<String, Vec<(f64, f64)>>) -> Option<String> {
    let shown: Vec<String> = samples
        .iter()
        .filter_map(|(name, points)| {
            let max = crate::metrics::series::stat(points, Statistic::Max)?;
            let mean = crate::metrics::series::stat(points, Statistic::Mean)?;
            let trim = crate::vocab::compare::trim_float;
            Some(format!("{name} max {} (mean {})", trim(max), trim((mean * 100.0).round() / 100.0)))
        })
        .collect();
    (!shown.is_empty()).then(|| format!("sampled: {}", shown.join(", ")))
}

/// A sweep's steps, one line each, and its knee:
/// `knee: concurrency 8 (broke at 12)`, then `   12   48 req   0 err  p50 75ms ...  broke: ...`.
pub fn sweep_table(sweep: &crate::run::event::SweepResult) -> String {
    let axis = sweep.axis;
    let ms =
        |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format_duration(std::time::Duration::from_secs_f64(v)));
    let knee = match (sweep.capacity(), sweep.breaking()) {
        _ if sweep.cut.is_some() => {
            format!("knee: none, the search was cut short ({})", sweep.cut.as_deref().unwrap_or_default())
        }
        (Some(k), Some(b)) => format!("knee: {} {} (broke at {})", axis.name(), axis.show(k), axis.show(b.load)),
        (Some(k), None) if sweep.limit_found => format!("knee: {} {}", axis.name(), axis.show(k)),
        (Some(k), None) => {
            format!("knee: {} {} or more: every step held, the limit was not found", axis.name(), axis.show(k))
        }
        (None, Some(b)) => format!("knee: none, the lowest step ({} {}) broke", axis.name(), axis.show(b.load)),
        (None, None) => "knee: none".into(),
    };
    let mut lines = vec![
        knee,
        format!(
            "{:>12} {:>8} {:>6} {:>10} {:>10} {:>10} {:>10} {:>8}  {}",
            axis.name(),
            "requests",
            "errors",
            "p50 lat",
            "p99 lat",
            "p50 ttft",
            "p99 ttft",
            "req/s",
            "held"
        ),
    ];
    for step in &sweep.steps {
        let agg = &step.aggregate;
        let held = if step.held { "yes".to_string() } else { format!("no: {}", step.broken().join("; ")) };
        lines.push(format!(
            "{:>12} {:>8} {:>6} {:>10} {:>10} {:>10} {:>10} {:>8.2}  {held}",
            axis.show(step.load),
            agg.count,
            agg.errors + agg.failed,
            ms(agg.stat(Statistic::Median, SeriesName::Latency)),
            ms(agg.stat(Statistic::Percentile(99.0), SeriesName::Latency)),
            ms(agg.stat(Statistic::Median, SeriesName::Ttft)),
            ms(agg.stat(Statistic::Percentile(99.0), SeriesName::Ttft)),
            agg.scalar(ScalarName::ReqPerS).unwrap_or(0.0),
        ));
    }
    lines.join("\n")
}

/// One line about a load test: how many, how fast, how it went.
pub fn aggregate_line(agg: &crate::metrics::aggregate::Aggregate) -> String {
    let time =
        |f: Statistic, s: SeriesName| agg.stat(f, s).map(|v| format_duration(std::time::Duration::from_secs_f64(v)));
    let mut parts = vec![format!(
        "{} requests ({} errors, {} failed, {} slow), {:.2} req/s",
        agg.count,
        agg.errors,
        agg.failed,
        agg.slow,
        agg.scalar(ScalarName::ReqPerS).unwrap_or(0.0)
    )];
    for series in [SeriesName::Latency, SeriesName::Ttft, SeriesName::Tpot] {
        if let (Some(p50), Some(p99)) = (time(Statistic::Median, series), time(Statistic::Percentile(99.0), series)) {
            parts.push(format!("{series} p50 {p50} p99 {p99}"));
        }
    }
    if let Some(tps) = agg.scalar(ScalarName::OutputTokensPerS).filter(|v| *v > 0.0) {
        parts.push(format!("{tps:.1} output tokens/s"));
    }
    let connect =
        [Statistic::Median, Statistic::Percentile(99.0), Statistic::Max].map(|f| time(f, SeriesName::Connect));
    if let [Some(p50), Some(p99), Some(max)] = connect {
        let opened = agg.series.get(&SeriesName::Connect).map_or(0, |s| s.len());
        parts.push(format!("connect p50 {p50} p99 {p99} max {max} ({opened} opened)"));
    }
    parts.join("; ")
}

/// What a single request measured, by the names of its properties.
const REQUEST_KEYS: &[&str] = &["status", "latency_ms", "ttft_ms", "tpot_ms", "tokens_per_second", "output_tokens"];

/// A few lines of what a test measured, for readers who see no `<properties>`: a threshold's
/// value against its limit, a load test's aggregate, a request's key metrics, and the changes
/// against `--baseline`.
pub fn measurements(outcome: &TestOutcome) -> Vec<String> {
    let mut lines = vec![];
    if let Some(t) = &outcome.threshold {
        lines.push(match &t.measured {
            Some(v) => format!("measured {v}, limit {}", t.limit),
            None => format!("not measured, limit {}", t.limit),
        });
    } else if let Some(agg) = &outcome.aggregate {
        lines.push(aggregate_line(agg));
        // What GitLab and GitHub show of a load test is this text: its server gauges and its
        // capacity search belong in it, not only in properties they drop.
        lines.extend(outcome.series.as_deref().and_then(|s| sampled_line(&s.samples)));
        lines.extend(outcome.sweep.as_deref().map(sweep_table));
    } else {
        let shown: Vec<String> = REQUEST_KEYS
            .iter()
            .filter_map(|k| outcome.properties.iter().find(|(p, _)| p == k))
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if !shown.is_empty() {
            lines.push(format!("measured: {}", shown.join(", ")));
        }
    }
    lines.extend(baseline_line(&outcome.properties));
    lines
}
