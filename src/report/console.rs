//! Human output: one line per test, the details of what failed, and a summary line.
//! Colour only on a terminal, and never when NO_COLOR is set.

use super::render::failure_detail;
use crate::redact::Redactor;
use crate::run::event::{Event, Reporter, Verdict};
use crate::units::format_duration;
use std::io::Write;
use std::sync::Arc;

pub struct Console<W: Write> {
    out: W,
    color: bool,
    redactor: Arc<Redactor>,
    /// Draw a progress line for load tests (on stderr, only when it is a terminal).
    progress: bool,
    progress_shown: bool,
}

impl<W: Write> Console<W> {
    pub fn new(out: W, color: bool, redactor: Arc<Redactor>) -> Self {
        Console { out, color, redactor, progress: false, progress_shown: false }
    }

    pub fn with_progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    fn clear_progress(&mut self) {
        if self.progress_shown {
            eprint!("\r\x1b[2K");
            self.progress_shown = false;
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    fn print(&mut self, text: &str) {
        let text = self.redactor.redact(text);
        // A closed pipe (`llmspec run | head`) must not stop the run or lose the JUnit file.
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

impl<W: Write> Reporter for Console<W> {
    fn on(&mut self, event: &Event<'_>) {
        match event {
            Event::RunStarted { .. } | Event::SuiteFinished { .. } => {}
            Event::Progress { test, progress, .. } => {
                if self.progress {
                    let total = progress.total.map_or(String::new(), |t| format!("/{t}"));
                    let p50 = progress.p50_latency.map_or(String::new(), |v| {
                        format!(", p50 latency {}", format_duration(std::time::Duration::from_secs_f64(v)))
                    });
                    eprint!("\r\x1b[2K  … {test}: {}{total} done, {} not passed{p50}", progress.done, progress.errors);
                    self.progress_shown = true;
                }
            }
            Event::SuiteStarted { suite } => {
                let title = self.paint("1", &suite.name);
                self.print(&format!("{title} ({})\n", suite.source.path));
            }
            Event::TestFinished { suite, outcome } => {
                self.clear_progress();
                // A threshold has no duration of its own: show what it measured.
                let time = match outcome.properties.iter().find(|(k, _)| k == "measured") {
                    Some((_, v)) => format!("measured {v}"),
                    None if outcome.aggregate.is_none() && outcome.properties.iter().any(|(k, _)| k == "limit") => {
                        "not measured".into()
                    }
                    None => format_duration(outcome.duration),
                };
                let line = match &outcome.verdict {
                    Verdict::Passed => {
                        format!("  {} {} ({time})\n", self.paint("32", "PASS"), outcome.name)
                    }
                    Verdict::Failed(_) => {
                        format!("  {} {} ({time})\n", self.paint("31", "FAIL"), outcome.name)
                    }
                    Verdict::Error(_) => format!("  {} {} ({time})\n", self.paint("35", "ERROR"), outcome.name),
                    Verdict::Skipped(reason) => format!("  {} {} ({reason})\n", self.paint("33", "SKIP"), outcome.name),
                    Verdict::Advisory(_) => {
                        format!("  {} {} ({time}, advisory)\n", self.paint("33", "WARN"), outcome.name)
                    }
                };
                self.print(&line);
                if let Some(agg) = &outcome.aggregate {
                    self.print(&format!("    {}\n", aggregate_line(agg)));
                }
                for w in &outcome.warnings {
                    let label = self.paint("33", "warning");
                    self.print(&format!("    {label}: {w}\n"));
                }
                if matches!(outcome.verdict, Verdict::Failed(_) | Verdict::Error(_) | Verdict::Advisory(_)) {
                    let detail = failure_detail(&suite.source, outcome);
                    let indented: String = detail.lines().map(|l| format!("    {l}\n")).collect();
                    self.print(&indented);
                }
            }
            Event::RunFinished { summary } => {
                self.clear_progress();
                let ok = summary.failed == 0 && summary.errors == 0;
                let mut line = summary.line();
                if let Some(why) = &summary.stopped_early {
                    line.push_str(&format!(" (stopped early: {why})"));
                }
                let verdict = if ok { self.paint("32;1", "PASSED") } else { self.paint("31;1", "FAILED") };
                self.print(&format!("\n{verdict}: {line}\n"));
            }
        }
    }
}

/// One line about a load test: how many, how fast, how it went.
fn aggregate_line(agg: &crate::metrics::aggregate::Aggregate) -> String {
    let time = |f: &str, s: &str| agg.stat(f, s).map(|v| format_duration(std::time::Duration::from_secs_f64(v)));
    let mut parts = vec![format!(
        "{} requests ({} errors, {} failed, {} slow), {:.2} req/s",
        agg.count,
        agg.errors,
        agg.failed,
        agg.slow,
        agg.scalar("req_per_s").unwrap_or(0.0)
    )];
    for series in ["latency", "ttft", "tpot"] {
        if let (Some(p50), Some(p99)) = (time("p50", series), time("p99", series)) {
            parts.push(format!("{series} p50 {p50} p99 {p99}"));
        }
    }
    if let Some(tps) = agg.scalar("output_tokens_per_s").filter(|v| *v > 0.0) {
        parts.push(format!("{tps:.1} output tokens/s"));
    }
    parts.join("; ")
}
