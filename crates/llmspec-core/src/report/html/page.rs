//! The markup of the page. People look at pictures before they read: the verdict and the
//! counts first, then the charts of the load and soak tests, then what failed, then the
//! measurements in numbers, then every test of every suite. All text here is already masked;
//! it is escaped as it is written.

use super::{Kind, SuiteView, TestView};
use crate::metrics::aggregate::Aggregate;
use crate::metrics::catalog::{ScalarName, SeriesName, Statistic};
use crate::report::chart::{self, Size};
use crate::report::plot;
use crate::run::event::Summary;
use crate::vocab::compare::Unit;
use crate::vocab::units::format_duration;
use std::fmt::Write;

const STYLE: &str = include_str!("style.css");
/// Requests drawn as dots in the page's time charts: enough to see the shape, few enough to
/// keep the page light.
const PAGE_DOTS: usize = 4_000;
/// Bars in a distribution.
const BINS: usize = 40;
const HISTOGRAM: Size = Size { width: 600, height: 300 };

/// The distributions drawn and tabulated, in this order, with the name people know them by.
const DISTRIBUTIONS: &[(SeriesName, &str)] = &[
    (SeriesName::Latency, "latency"),
    (SeriesName::Ttft, "time to first token (TTFT)"),
    (SeriesName::ChunkGap, "inter-token latency (ITL: gap between chunks)"),
    (SeriesName::Tpot, "time per output token (TPOT)"),
    (SeriesName::TokensPerSecond, "tokens per second"),
    (SeriesName::Ttfb, "time to first byte (TTFB)"),
    (SeriesName::E2e, "end to end (E2E)"),
    (SeriesName::OutputTokens, "output tokens"),
    (SeriesName::ScheduleLag, "schedule lag"),
];

pub(super) fn page(suites: &[SuiteView], summary: &Summary) -> String {
    let tests: Vec<&TestView> = suites.iter().flat_map(|s| &s.tests).collect();
    let loads: Vec<&TestView> = tests.iter().copied().filter(|t| t.aggregate.is_some() || t.series.is_some()).collect();
    let mut out = String::with_capacity(256 << 10);
    let verdict = summary.outcome();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>llmspec: {verdict}, {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        esc(&summary.line())
    );
    banner(&mut out, summary, tests.len(), loads.len());
    suite_bars(&mut out, suites);
    key_charts(&mut out, &loads);
    failures(&mut out, &tests);
    measurements(&mut out, &loads, &tests);
    every_test(&mut out, suites);
    let _ = write!(
        out,
        "<footer>llmspec {} — masked like every other report: no secret of the run appears on this page.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out
}

fn banner(out: &mut String, summary: &Summary, tests: usize, loads: usize) {
    let verdict = summary.outcome();
    let class = if verdict == "PASSED" { "pass" } else { "fail" };
    let _ = write!(
        out,
        "<header class=\"banner {class}\" id=\"verdict\"><div class=\"verdict\">{verdict}</div><div>{}</div>",
        esc(&summary.line())
    );
    if let Some(why) = &summary.stopped_early {
        let _ = write!(out, "<div class=\"stopped\">stopped early: {}</div>", esc(&why.to_string()));
    }
    out.push_str("</header>\n<section class=\"counts\">");
    let tiles = [
        ("pass", summary.passed, "passed"),
        ("fail", summary.failed, "failed"),
        ("error", summary.errors, "errors"),
        ("skip", summary.skipped, "skipped"),
        ("warn", summary.advisories, "advisory"),
    ];
    for (class, n, label) in tiles {
        let dim = if n == 0 { " zero" } else { "" };
        let _ = write!(out, "<div class=\"tile {class}{dim}\"><b>{n}</b><span>{label}</span></div>");
    }
    let _ = writeln!(
        out,
        "<div class=\"tile\"><b>{tests}</b><span>tests</span></div><div class=\"tile\"><b>{loads}</b><span>load and soak</span></div>\
         <div class=\"tile\"><b>{}</b><span>duration</span></div></section>",
        esc(&format_duration(summary.duration))
    );
}

/// One bar per suite, its tests coloured by verdict: where the red is, at a glance.
fn suite_bars(out: &mut String, suites: &[SuiteView]) {
    out.push_str("<section><h2>Suites</h2><table class=\"bars\">\n");
    for (i, s) in suites.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td><a href=\"#suite-{i}\">{}</a> <span class=\"file\">{}</span></td><td><div class=\"bar\">",
            esc(&s.name),
            esc(&s.file)
        );
        for t in &s.tests {
            let (word, class) = t.kind.label();
            let _ = write!(out, "<a class=\"{class}\" href=\"#test-{}\" title=\"{word} {}\"></a>", t.id, esc(&t.name));
        }
        let count = |k: Kind| s.tests.iter().filter(|t| t.kind == k).count();
        let _ = writeln!(
            out,
            "</div></td><td class=\"num\">{} passed, {} failed, {} errors, {} skipped</td></tr>",
            count(Kind::Passed) + count(Kind::Advisory),
            count(Kind::Failed),
            count(Kind::Error),
            count(Kind::Skipped)
        );
    }
    out.push_str("</table></section>\n");
}

/// For each load or soak test, side by side: its verdict, its key numbers and its latency
/// over time, with each sampled series below.
fn key_charts(out: &mut String, loads: &[&TestView]) {
    if loads.is_empty() {
        return;
    }
    out.push_str("<section id=\"charts\"><h2>Load and soak tests at a glance</h2><div class=\"grid\">\n");
    for t in loads {
        card(out, t, "", &format!("load-{}", t.id), &format!("{} · {}", t.suite, t.time));
        out.push('\n');
        if let Some(agg) = &t.aggregate {
            let _ = writeln!(out, "<p class=\"figures\">{}</p>", key_figures(agg));
        }
        if let Some(sweep) = &t.sweep {
            figure(out, "wide", plot::knee_svg("", sweep, 600));
        }
        if let Some(series) = &t.series {
            figure(out, "wide", plot::svg("", series, PAGE_DOTS, 600));
        }
        out.push_str("</article>\n");
    }
    out.push_str("</div></section>\n");
}

/// A load test's card opens with its verdict, its name linking to `target`, and `where_` (its
/// suite, and what else the section names).
fn card(out: &mut String, t: &TestView, id: &str, target: &str, where_: &str) {
    let (word, class) = t.kind.label();
    let _ = write!(
        out,
        "<article class=\"card\"{id}><h3><span class=\"badge {class}\">{word}</span> <a href=\"#{target}\">{}</a> <span class=\"file\">{}</span></h3>",
        esc(&t.name),
        esc(where_)
    );
}

/// The numbers a reader asks first about a load run.
fn key_figures(agg: &Aggregate) -> String {
    let mut parts = vec![format!(
        "<b>{}</b> requests, <b>{}</b> req/s, error rate <b>{}</b>",
        agg.count,
        chart::tick(agg.scalar(ScalarName::ReqPerS).unwrap_or(0.0)),
        agg.scalar(ScalarName::ErrorRate).map_or("–".into(), |r| format!("{}%", chart::tick(r * 100.0)))
    )];
    for (series, name) in [(SeriesName::Latency, "latency"), (SeriesName::Ttft, "TTFT")] {
        if let (Some(p50), Some(p99)) =
            (agg.stat(Statistic::Median, series), agg.stat(Statistic::Percentile(99.0), series))
        {
            parts.push(format!("{name} p50 <b>{}</b> p99 <b>{}</b>", ms(p50), ms(p99)));
        }
    }
    if let Some(tps) = agg.scalar(ScalarName::OutputTokensPerS).filter(|v| *v > 0.0) {
        parts.push(format!("<b>{}</b> output tokens/s", chart::tick(tps)));
    }
    parts.join(" · ")
}

fn ms(seconds: f64) -> String {
    format!("{} ms", chart::tick(seconds * 1e3))
}

/// A chart, or why it could not be drawn.
fn figure(out: &mut String, class: &str, chart: Result<String, String>) {
    match chart {
        Ok(svg) if !svg.is_empty() => {
            let _ = write!(out, "<figure class=\"chart {class}\">{svg}</figure>");
        }
        Ok(_) => {}
        Err(e) => {
            let _ = write!(out, "<p class=\"note\">{}</p>", esc(&e));
        }
    }
}

/// A histogram of one distribution, in milliseconds for times. Empty when nothing was recorded.
fn distribution(agg: &Aggregate, series: SeriesName, name: &str) -> Result<String, String> {
    let Some(s) = agg.series.get(&series).filter(|s| !s.is_empty()) else { return Ok(String::new()) };
    let factor = if series.unit() == Unit::Seconds { 1e3 } else { 1.0 };
    let recorded: Vec<(f64, u64)> = s.recorded().into_iter().map(|(v, c)| (v * factor, c)).collect();
    let (bins, left_out) = chart::bins(&recorded, BINS);
    let unit = if factor > 1.0 { format!("{name} (ms)") } else { name.to_string() };
    let beyond = match (left_out, bins.last()) {
        (0, _) | (_, None) => String::new(),
        (n, Some(b)) => format!(", {n} above {} not drawn", chart::tick(b.hi)),
    };
    let what = if series == SeriesName::ChunkGap { "gaps" } else { "values" };
    chart::histogram(&format!("{name}: {} {what}{beyond}", s.len()), &unit, &bins, HISTOGRAM)
}

/// What failed, first: each failure with its spec snippet; the exchange folded.
fn failures(out: &mut String, tests: &[&TestView]) {
    let failed: Vec<&&TestView> = tests.iter().filter(|t| t.kind.is_failure()).collect();
    if failed.is_empty() {
        return;
    }
    let _ = writeln!(out, "<section id=\"failures\"><h2>Failures ({})</h2>", failed.len());
    for t in failed {
        let (word, class) = t.kind.label();
        let _ = write!(
            out,
            "<article class=\"failure {class}\" id=\"failure-{}\"><h3><span class=\"badge {class}\">{word}</span> <a href=\"#test-{}\">{}</a> <span class=\"file\">{} · {}:{}</span></h3>\
             <p class=\"headline\">{}</p>",
            t.id,
            t.id,
            esc(&t.name),
            esc(&t.suite),
            esc(&t.file),
            t.line,
            esc(&t.headline)
        );
        if !t.detail.is_empty() {
            let _ = write!(out, "<pre>{}</pre>", esc(&t.detail));
        }
        transcript(out, t);
        out.push_str("</article>\n");
    }
    out.push_str("</section>\n");
}

fn transcript(out: &mut String, t: &TestView) {
    if let Some(text) = &t.transcript {
        let _ = write!(
            out,
            "<details class=\"transcript\"><summary>transcript</summary><pre>{}</pre></details>",
            esc(text)
        );
    }
}

/// Each load or soak test in full: the thresholds that judged it, its distributions drawn
/// and in numbers.
fn measurements(out: &mut String, loads: &[&TestView], tests: &[&TestView]) {
    if loads.is_empty() {
        return;
    }
    out.push_str("<section id=\"measurements\"><h2>Load and soak tests</h2>\n");
    for t in loads {
        card(out, t, &format!(" id=\"load-{}\"", t.id), &format!("test-{}", t.id), &t.suite);
        thresholds(out, t, tests);
        if let Some(agg) = &t.aggregate {
            percentiles(out, agg);
            out.push_str("<div class=\"charts\">");
            for &(series, name) in DISTRIBUTIONS.iter().take(5) {
                figure(out, "", distribution(agg, series, name));
            }
            out.push_str("</div>");
        }
        out.push_str("</article>\n");
    }
    out.push_str("</section>\n");
}

/// The thresholds that judged a load test, each with its verdict and what it measured.
fn thresholds(out: &mut String, t: &TestView, tests: &[&TestView]) {
    let judged: Vec<&&TestView> = tests.iter().filter(|x| x.judges == Some(t.id)).collect();
    if judged.is_empty() {
        return;
    }
    out.push_str("<ul class=\"thresholds\">");
    for x in judged {
        let (word, class) = x.kind.label();
        let check = x.name.strip_prefix(&format!("{}: ", t.name)).unwrap_or(&x.name);
        let _ = write!(
            out,
            "<li><span class=\"badge {class}\">{word}</span> <a href=\"#test-{}\">{}</a> <span class=\"file\">{}</span></li>",
            x.id,
            esc(check),
            esc(&x.time)
        );
    }
    out.push_str("</ul>\n");
}

/// min, p50, p90, p95, p99, max and mean of every distribution that has values.
fn percentiles(out: &mut String, agg: &Aggregate) {
    const COLUMNS: [(Statistic, &str); 7] = [
        (Statistic::Min, "min"),
        (Statistic::Median, "p50"),
        (Statistic::Percentile(90.0), "p90"),
        (Statistic::Percentile(95.0), "p95"),
        (Statistic::Percentile(99.0), "p99"),
        (Statistic::Max, "max"),
        (Statistic::Mean, "mean"),
    ];
    out.push_str("<table class=\"numbers\"><thead><tr><th></th><th>count</th>");
    for (_, name) in COLUMNS {
        let _ = write!(out, "<th>{name}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for &(series, name) in DISTRIBUTIONS {
        let Some(s) = agg.series.get(&series).filter(|s| !s.is_empty()) else { continue };
        let seconds = series.unit() == Unit::Seconds;
        let unit = if seconds { " (ms)" } else { "" };
        let _ = write!(out, "<tr><th>{}{unit}</th><td>{}</td>", esc(name), s.len());
        for (statistic, _) in COLUMNS {
            let v =
                agg.stat(statistic, series).map_or("–".into(), |v| chart::tick(if seconds { v * 1e3 } else { v }));
            let _ = write!(out, "<td>{v}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
}

/// Every suite and every test, failures open, the rest folded.
fn every_test(out: &mut String, suites: &[SuiteView]) {
    out.push_str("<section id=\"tests\"><h2>Every test</h2>\n");
    for (i, s) in suites.iter().enumerate() {
        let time = s.duration.map(|d| format!(" · {}", format_duration(d))).unwrap_or_default();
        let _ = write!(
            out,
            "<h3 id=\"suite-{i}\">{} <span class=\"file\">{}{}</span></h3>",
            esc(&s.name),
            esc(&s.file),
            esc(&time)
        );
        if let Some(d) = &s.description {
            let _ = write!(out, "<p class=\"description\">{}</p>", esc(d));
        }
        out.push_str("<div class=\"tests\">");
        for t in &s.tests {
            test(out, t);
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
}

fn test(out: &mut String, t: &TestView) {
    let (word, class) = t.kind.label();
    let open = if t.kind.is_failure() { " open" } else { "" };
    let _ = write!(
        out,
        "<details class=\"test {class}\" id=\"test-{}\"{open}><summary><span class=\"badge {class}\">{word}</span> {} <span class=\"file\">{} · line {}</span></summary><div class=\"body\">",
        t.id,
        esc(&t.name),
        esc(&t.time),
        t.line
    );
    if t.kind != Kind::Passed {
        let _ = write!(out, "<p class=\"headline\">{}</p>", esc(&t.headline));
    }
    // A failure's detail and exchange are shown once, under Failures.
    if t.kind.is_failure() {
        let _ = write!(out, "<p><a href=\"#failure-{}\">the failure in full, above</a></p>", t.id);
    } else if !t.detail.is_empty() {
        let _ = write!(out, "<pre>{}</pre>", esc(&t.detail));
    }
    for w in &t.warnings {
        let _ = write!(out, "<p class=\"warning\">warning: {}</p>", esc(w));
    }
    if !t.properties.is_empty() {
        out.push_str("<table class=\"properties\">");
        for (k, v) in &t.properties {
            let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
        }
        out.push_str("</table>");
    }
    if !t.kind.is_failure() {
        transcript(out, t);
    }
    out.push_str("</div></details>\n");
}

/// Text for HTML content and attribute values.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
