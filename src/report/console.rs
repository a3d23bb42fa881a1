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
}

impl<W: Write> Console<W> {
    pub fn new(out: W, color: bool, redactor: Arc<Redactor>) -> Self {
        Console { out, color, redactor }
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
            Event::SuiteStarted { suite } => {
                let title = self.paint("1", &suite.name);
                self.print(&format!("{title} ({})\n", suite.source.path));
            }
            Event::TestFinished { suite, outcome } => {
                let time = format_duration(outcome.duration);
                let line = match &outcome.verdict {
                    Verdict::Passed => {
                        format!("  {} {} ({time})\n", self.paint("32", "PASS"), outcome.name)
                    }
                    Verdict::Failed(_) => {
                        format!("  {} {} ({time})\n", self.paint("31", "FAIL"), outcome.name)
                    }
                    Verdict::Error(_) => format!("  {} {} ({time})\n", self.paint("35", "ERROR"), outcome.name),
                    Verdict::Skipped(reason) => format!("  {} {} ({reason})\n", self.paint("33", "SKIP"), outcome.name),
                };
                self.print(&line);
                if matches!(outcome.verdict, Verdict::Failed(_) | Verdict::Error(_)) {
                    let detail = failure_detail(&suite.source, outcome);
                    let indented: String = detail.lines().map(|l| format!("    {l}\n")).collect();
                    self.print(&indented);
                }
            }
            Event::RunFinished { summary } => {
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
