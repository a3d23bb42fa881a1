//! Human output: one line per test, the details of what failed, and a summary line.
//! Colour only on a terminal, and never when NO_COLOR is set.

use super::Reporter;
use super::render::{aggregate_line, baseline_line, failure_detail, sampled_line, shown_time, sweep_table};
use super::sanitize::Sanitizer;
use crate::run::event::{Event, Verdict};
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
                let time = shown_time(outcome);
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
