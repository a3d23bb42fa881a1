//! Human output: one line per test, the details of what failed, and a summary line.
//! Colour only on a terminal, and never when NO_COLOR is set.

use super::Reporter;
use super::render::failure_detail;
use super::sanitize::Sanitizer;
use crate::metrics::catalog::{ScalarName, SeriesName, Statistic};
use crate::run::event::{Event, ThresholdResult, Verdict};
use crate::vocab::units::format_duration;
use std::io::Write;

pub struct Console<W: Write> {
    out: W,
    color: bool,
    sanitizer: Sanitizer,
}

impl<W: Write> Console<W> {
    pub fn new(out: W, color: bool, sanitizer: Sanitizer) -> Self {
        Console { out, color, sanitizer }
    }

    /// Our own labels are the only text that carries colour codes: everything else passes
    /// through the sanitizer, which shows a server's control characters as escapes.
    fn paint(&self, code: &str, label: &str) -> String {
        if self.color { format!("\x1b[{code}m{label}\x1b[0m") } else { label.to_string() }
    }

    /// `indent`, a painted label, then text from outside (names, details), sanitized.
    fn print(&mut self, indent: &str, label: Option<(&str, &str)>, text: &str) {
        let label = label.map_or(String::new(), |(code, l)| format!("{} ", self.paint(code, l)));
        let text = self.sanitizer.text(text);
        let mut line = String::with_capacity(text.len() + 16);
        for (i, l) in text.lines().enumerate() {
            line.push_str(indent);
            if i == 0 {
                line.push_str(&label);
            }
            line.push_str(l);
            line.push('\n');
        }
        self.write_raw(&line);
    }

    /// Text that is already sanitized or our own.
    fn write_raw(&mut self, text: &str) {
        // A closed pipe (`llmspec run | head`) must not stop the run or lose the JUnit file.
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

impl<W: Write> Reporter for Console<W> {
    /// Never fails: a closed terminal or pipe must not cost the run its file reports.
    fn on(&mut self, event: &Event<'_>) -> Result<(), String> {
        match event {
            // The progress bar is a reporter of its own.
            Event::RunStarted { .. } | Event::SuiteFinished { .. } | Event::Progress { .. } => {}
            Event::SuiteStarted { suite } => {
                let title = self.paint("1", &self.sanitizer.name(&suite.name));
                let path = self.sanitizer.name(&suite.source.path);
                self.write_raw(&format!("{title} ({path})\n"));
            }
            Event::TestFinished { suite, outcome } => {
                // A threshold has no duration of its own: show what it measured.
                let time = match &outcome.threshold {
                    // A name written with variables does not show the limit they give.
                    Some(ThresholdResult { measured: Some(v), limit }) if outcome.name.contains("${") => {
                        format!("measured {v}, limit {limit}")
                    }
                    Some(ThresholdResult { measured: Some(v), .. }) => format!("measured {v}"),
                    Some(ThresholdResult { measured: None, .. }) => "not measured".into(),
                    None => format_duration(outcome.duration),
                };
                let name = self.sanitizer.name(&outcome.name);
                let (label, text) = match &outcome.verdict {
                    Verdict::Passed => (("32", "PASS"), format!("{name} ({time})")),
                    Verdict::Failed(_) => (("31", "FAIL"), format!("{name} ({time})")),
                    Verdict::Error(_) => (("35", "ERROR"), format!("{name} ({time})")),
                    Verdict::Skipped(reason) => (("33", "SKIP"), format!("{name} ({})", self.sanitizer.name(reason))),
                    Verdict::Advisory(_) => (("33", "WARN"), format!("{name} ({time}, advisory)")),
                };
                self.print("  ", Some(label), &text);
                if let Some(agg) = &outcome.aggregate {
                    let at_knee = match &outcome.sweep {
                        Some(s) if s.knee.is_some() => "at the knee: ",
                        Some(_) => "at the lowest step: ",
                        None => "",
                    };
                    self.print("    ", None, &format!("{at_knee}{}", aggregate_line(agg)));
                }
                if let Some(sweep) = &outcome.sweep {
                    self.print("    ", None, &sweep_table(sweep));
                }
                if let Some(sampled) = outcome.series.as_deref().and_then(|s| sampled_line(&s.samples)) {
                    self.print("    ", None, &sampled);
                }
                if let Some(changes) = baseline_line(&outcome.properties) {
                    self.print("    ", None, &changes);
                }
                for w in &outcome.warnings {
                    self.print("    ", Some(("33", "warning:")), w);
                }
                if matches!(outcome.verdict, Verdict::Failed(_) | Verdict::Error(_) | Verdict::Advisory(_)) {
                    let detail = failure_detail(&suite.source, outcome, &self.sanitizer);
                    self.print("    ", None, &detail);
                }
            }
            Event::RunFinished { summary } => {
                let mut line = summary.line();
                if let Some(why) = &summary.stopped_early {
                    line.push_str(&format!(" (stopped early: {why})"));
                }
                let verdict = summary.outcome();
                let code = if verdict == "PASSED" { "32;1" } else { "31;1" };
                self.write_raw("\n");
                self.print("", Some((code, &format!("{verdict}:"))), &line);
            }
        }
        Ok(())
    }
}

/// The changes of the key metrics against the previous run (`--baseline`), when there is one.
fn baseline_line(properties: &[(String, String)]) -> Option<String> {
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
fn sampled_line(samples: &std::collections::BTreeMap<String, Vec<(f64, f64)>>) -> Option<String> {
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

/// One line about a load test: how many, how fast, how it went.
fn aggregate_line(agg: &crate::metrics::aggregate::Aggregate) -> String {
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
    parts.join("; ")
}

/// A sweep's steps, one line each, and its knee:
/// `knee: concurrency 8 (broke at 12)`, then `   12   48 req   0 err  p50 75ms ...  broke: ...`.
fn sweep_table(sweep: &crate::run::event::SweepResult) -> String {
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
