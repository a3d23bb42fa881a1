//! `--summary FILE`: the run in GitHub-flavoured Markdown, for a job summary
//! ($GITHUB_STEP_SUMMARY, where it is also appended when that variable is set), a merge
//! request comment or a chat message. A verdict table, each failure with its spec line,
//! expected and actual, every threshold's measured value against its limit, the key metrics
//! of load and soak tests, advisories, and the changes against `--baseline`.
//!
//! Text from specs and servers is masked, then escaped: it can break neither the tables nor the
//! page (no raw HTML, no links, no code spans). GitHub refuses a job summary over 1 MiB; the
//! file is cut before that, with a note.

use super::Reporter;
use super::location::Locator;
use super::render::baseline_line;
use super::sanitize::Sanitizer;
use crate::metrics::aggregate::Aggregate;
use crate::metrics::catalog::{ScalarName, SeriesName, Statistic};
use crate::run::event::{Event, Summary, TestOutcome, Verdict};
use crate::vocab::units::format_duration;
use std::fmt::Write;
use std::path::PathBuf;

/// GitHub's limit for one step's summary is 1 MiB; this leaves room for the note.
pub const MAX_BYTES: usize = 1024 * 1024 - 1024;

pub struct MarkdownSummary {
    path: PathBuf,
    sanitizer: Sanitizer,
    locator: Locator,
    /// Also appended here ($GITHUB_STEP_SUMMARY).
    step_summary: Option<PathBuf>,
    failures: Vec<String>,
    thresholds: Vec<String>,
    load: Vec<String>,
    capacity: Vec<String>,
    advisories: Vec<String>,
    changes: Vec<String>,
    document: Option<String>,
}

impl MarkdownSummary {
    pub fn new(path: PathBuf, sanitizer: Sanitizer, locator: Locator, step_summary: Option<PathBuf>) -> Self {
        MarkdownSummary {
            path,
            sanitizer,
            locator,
            step_summary,
            failures: vec![],
            thresholds: vec![],
            load: vec![],
            capacity: vec![],
            advisories: vec![],
            changes: vec![],
            document: None,
        }
    }

    /// Outside text for a table cell: masked, then every character Markdown or HTML would act on
    /// escaped, and line breaks shown as `<br>`.
    fn cell(&self, text: &str) -> String {
        escape(&self.sanitizer.text(text))
    }

    fn test(&mut self, suite: &str, source_path: &str, outcome: &TestOutcome) {
        let file = self.locator.spec(source_path);
        let test = self.cell(&format!("{suite} › {}", outcome.name));
        match &outcome.verdict {
            Verdict::Failed(failures) if outcome.threshold.is_none() => {
                for f in failures {
                    let at = self.cell(&format!("{file}:{}", f.loc.line));
                    let (subject, expected, actual) =
                        (self.cell(&f.subject), self.cell(&f.expected), self.cell(&f.actual));
                    self.failures.push(format!("| {test} | {at} | {subject} | {expected} | {actual} |"));
                }
            }
            Verdict::Error(message) => {
                let at = self.cell(&format!("{file}:{}", outcome.loc.line));
                self.failures.push(format!("| {test} | {at} | error | a verdict | {} |", self.cell(message)));
            }
            Verdict::Advisory(failures) => {
                for f in failures {
                    let at = self.cell(&format!("{file}:{}", f.loc.line));
                    let what = self.cell(&format!("{}: expected {}, got {}", f.subject, f.expected, f.actual));
                    self.advisories.push(format!("| {test} | {at} | {what} |"));
                }
            }
            _ => {}
        }
        if let Some(t) = &outcome.threshold {
            let mark = match &outcome.verdict {
                Verdict::Passed => "✅ held",
                Verdict::Failed(_) => "❌ failed",
                Verdict::Skipped(_) => "⏭️ skipped",
                _ => "",
            };
            let at = self.cell(&format!("{file}:{}", outcome.loc.line));
            let measured = self.cell(t.measured.as_deref().unwrap_or("not measured"));
            self.thresholds.push(format!("| {test} | {at} | {measured} | {} | {mark} |", self.cell(&t.limit)));
        }
        match &outcome.sweep {
            Some(sweep) => self.capacity.extend(capacity_rows(&test, sweep, |t| self.cell(t))),
            None => {
                if let Some(agg) = &outcome.aggregate {
                    self.load.push(load_row(&test, agg));
                }
            }
        }
        if let Some(line) = baseline_line(&outcome.properties) {
            self.changes.push(format!("| {test} | {} |", self.cell(line.trim_start_matches("vs baseline: "))));
        }
    }

    fn render(&mut self, summary: &Summary) -> String {
        let mut out = String::new();
        let icon = if summary.outcome() == "PASSED" { "✅" } else { "❌" };
        let _ = writeln!(out, "## {icon} llmspec: {}\n", summary.outcome());
        let mut line = summary.line();
        if let Some(why) = &summary.stopped_early {
            line.push_str(&format!(" (stopped early: {why})"));
        }
        let _ = writeln!(out, "{}\n", escape(&line));
        out.push_str("| Verdict | Tests |\n|---|--:|\n");
        for (label, n) in [
            ("✅ passed", summary.passed),
            ("❌ failed", summary.failed),
            ("💥 error", summary.errors),
            ("⏭️ skipped", summary.skipped),
            ("⚠️ advisory (passed, with warnings)", summary.advisories),
        ] {
            let _ = writeln!(out, "| {label} | {n} |");
        }
        let _ = writeln!(out, "\nDuration: {}\n", format_duration(summary.duration));
        let sections: [(&str, &str, &mut Vec<String>); 6] = [
            ("Failures", "| Test | Spec | Check | Expected | Actual |\n|---|---|---|---|---|", &mut self.failures),
            ("Thresholds", "| Test | Spec | Measured | Limit | |\n|---|---|--:|---|---|", &mut self.thresholds),
            (
                "Load and soak tests",
                "| Test | Requests | Errors | Req/s | Latency p50 / p95 / p99 | TTFT p50 / p95 / p99 | Output tokens/s |\n|---|--:|--:|--:|---|---|--:|",
                &mut self.load,
            ),
            (
                "Capacity searches",
                "| Test | Load | Requests | Errors | Latency p50 / p99 | TTFT p50 / p99 | Req/s | |\n|---|--:|--:|--:|---|---|--:|---|",
                &mut self.capacity,
            ),
            ("Advisories", "| Test | Spec | What did not hold |\n|---|---|---|", &mut self.advisories),
            ("Changes against the baseline", "| Test | Change |\n|---|---|", &mut self.changes),
        ];
        for (title, header, rows) in sections {
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(out, "### {title}\n\n{header}");
            for row in rows.drain(..) {
                out.push_str(&row);
                out.push('\n');
            }
            out.push('\n');
        }
        truncate(out, MAX_BYTES)
    }
}

impl Reporter for MarkdownSummary {
    fn on(&mut self, event: &Event<'_>) -> Result<(), String> {
        match event {
            Event::TestFinished { suite, outcome } => self.test(&suite.name, &suite.source.path, outcome),
            Event::RunFinished { summary } => self.document = Some(self.render(summary)),
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<PathBuf>, String> {
        let Some(doc) = self.document.take() else { return Ok(vec![]) };
        self.sanitizer.write_file(&self.path, &doc)?;
        if let Some(step) = &self.step_summary {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(step)
                .and_then(|mut f| f.write_all(doc.as_bytes()))
                .map_err(|e| format!("cannot append to $GITHUB_STEP_SUMMARY ({}): {e}", step.display()))?;
        }
        Ok(vec![self.path.clone()])
    }
}

/// A capacity search, one row per step: its load, its figures, and whether it held, broke (and
/// why) or is the knee.
fn capacity_rows(test: &str, sweep: &crate::run::event::SweepResult, cell: impl Fn(&str) -> String) -> Vec<String> {
    sweep
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let agg = &step.aggregate;
            let mark = match (sweep.knee == Some(i), step.held) {
                (true, _) if sweep.limit_found => "✅ knee".to_string(),
                (true, _) => "✅ held (every step held: the limit is higher)".to_string(),
                (false, true) => "✅ held".to_string(),
                (false, false) => format!("❌ broke: {}", cell(&step.broken().join("; "))),
            };
            format!(
                "| {test} | {} | {} | {} | {} | {} | {:.2} | {mark} |",
                sweep.axis.show(step.load),
                agg.count,
                agg.errors + agg.failed,
                spread(agg, SeriesName::Latency, &[50.0, 99.0]),
                spread(agg, SeriesName::Ttft, &[50.0, 99.0]),
                agg.scalar(ScalarName::ReqPerS).unwrap_or(0.0),
            )
        })
        .collect()
}

/// A load or soak test's key figures: how many, how fast, the spread of latency and TTFT.
fn load_row(test: &str, agg: &Aggregate) -> String {
    let rate = |name: ScalarName| agg.scalar(name).map_or("–".to_string(), |v| format!("{v:.2}"));
    format!(
        "| {test} | {} | {} | {} | {} | {} | {} |",
        agg.count,
        agg.errors + agg.failed,
        rate(ScalarName::ReqPerS),
        spread(agg, SeriesName::Latency, &[50.0, 95.0, 99.0]),
        spread(agg, SeriesName::Ttft, &[50.0, 95.0, 99.0]),
        rate(ScalarName::OutputTokensPerS)
    )
}

/// `12ms / 40ms / 75ms`: the percentiles of one distribution, `–` where nothing was measured.
fn spread(agg: &Aggregate, series: SeriesName, percentiles: &[f64]) -> String {
    let shown: Vec<String> = percentiles
        .iter()
        .map(|p| {
            agg.stat(Statistic::Percentile(*p), series)
                .map_or("–".to_string(), |v| format_duration(std::time::Duration::from_secs_f64(v.max(0.0))))
        })
        .collect();
    shown.join(" / ")
}

/// Markdown that shows `text` as it is: no emphasis, link, code span, HTML or table break.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.trim_end_matches('\n').chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Cut at a line boundary under `max` bytes, with a note saying so.
fn truncate(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let boundary = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    let mut cut = text[..boundary].to_string();
    if let Some(end) = cut.rfind('\n') {
        cut.truncate(end + 1);
    }
    cut.push_str("\n… the summary was cut here to stay under GitHub's 1 MiB limit; the JUnit and JSON reports hold every result.\n");
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_cannot_break_a_table_or_the_page() {
        assert_eq!(escape("a|b `c` <script>&\nnext"), "a\\|b \\`c\\` &lt;script&gt;&amp;<br>next");
        assert_eq!(escape("[x](http://e) **y** ${v}"), "\\[x\\](http://e) \\*\\*y\\*\\* \\${v}");
    }

    #[test]
    fn a_long_summary_is_cut_under_the_limit_with_a_note() {
        let text = "| row é |\n".repeat(200_000);
        let cut = truncate(text, MAX_BYTES);
        assert!(cut.len() < 1024 * 1024, "{}", cut.len());
        assert!(cut.ends_with("every result.\n"));
        assert!(cut.lines().rev().nth(2).is_some_and(|l| l == "| row é |"), "cut at a line boundary");
    }
}
