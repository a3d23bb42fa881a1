//! A progress bar for the tests that run a while (load, soak): requests done out of planned,
//! requests that did not pass, the current median latency and the time left. It is drawn on
//! stderr and cleared before each verdict line, so a finished run's output is the same with or
//! without it; a CI log, which is not a terminal, gets no bar at all.

use super::Reporter;
use super::sanitize::Sanitizer;
use crate::run::event::Event;
use crate::run::load::Progress;
use crate::vocab::units::format_duration;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use std::time::Duration;

/// Where the bar is drawn, chosen by the command line.
pub enum Target {
    /// Standard error, if it is a terminal.
    StderrIfTerminal,
    /// Standard error, even when it is not a terminal (`--progress always`).
    Stderr,
    /// Any terminal-like sink (tests).
    Term(Box<dyn TermLike>),
}

pub struct ProgressBars {
    sanitizer: Sanitizer,
    target: Option<Target>,
    /// The bar of the test under way, with that test's name.
    current: Option<(String, ProgressBar)>,
}

impl ProgressBars {
    pub fn new(target: Target, sanitizer: Sanitizer) -> Self {
        ProgressBars { sanitizer, target: Some(target), current: None }
    }

    fn draw_target(&mut self) -> ProgressDrawTarget {
        match self.target.take() {
            Some(Target::StderrIfTerminal) | None => {
                self.target = Some(Target::StderrIfTerminal);
                ProgressDrawTarget::stderr()
            }
            Some(Target::Stderr) => {
                self.target = Some(Target::Stderr);
                ProgressDrawTarget::term_like(Box::new(console::Term::stderr()))
            }
            // A test's sink serves one bar; later bars go nowhere rather than to a real terminal.
            Some(Target::Term(term)) => ProgressDrawTarget::term_like(term),
        }
    }

    fn bar_for(&mut self, test: &str, progress: &Progress) -> &ProgressBar {
        // Each step of a sweep has a bar of its own: its counts start again.
        let test = &match &progress.step {
            Some(step) => format!("{test} · {step}"),
            None => test.to_string(),
        };
        if self.current.as_ref().is_none_or(|(name, _)| name != test) {
            self.clear();
            let length = match (progress.total, progress.planned) {
                (Some(total), _) => total,
                (None, Some(planned)) => planned.as_millis() as u64,
                (None, None) => 0,
            };
            let style = ProgressStyle::with_template("{prefix} [{bar:24}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            let bar = ProgressBar::with_draw_target(Some(length), self.draw_target()).with_style(style);
            bar.set_prefix(self.sanitizer.name(test));
            self.current = Some((test.to_string(), bar));
        }
        match &self.current {
            Some((_, bar)) => bar,
            None => unreachable!("a bar was just made"),
        }
    }

    fn clear(&mut self) {
        if let Some((_, bar)) = self.current.take() {
            bar.finish_and_clear();
        }
    }
}

/// `40/100 requests, 3 not passed, p50 250ms · 3s left`, or for a soak
/// `1m30s of 10m00s, 812 done, 0 not passed · 8m30s left`. The time left is ours, not the bar's
/// estimate: a soak's end is known, and a count's is the rate so far.
fn message(progress: &Progress) -> String {
    let left = match (progress.total, progress.planned) {
        (Some(total), _) if progress.done > 0 => {
            let per_request = progress.elapsed.as_secs_f64() / progress.done as f64;
            Some(Duration::from_secs_f64(per_request * total.saturating_sub(progress.done) as f64))
        }
        (None, Some(planned)) => Some(planned.saturating_sub(progress.elapsed)),
        _ => None,
    };
    let mut text = match (progress.total, progress.planned) {
        (Some(total), _) => format!("{}/{total} requests, ", progress.done),
        (None, Some(planned)) => {
            format!("{} of {}, {} done, ", whole_seconds(progress.elapsed), whole_seconds(planned), progress.done)
        }
        (None, None) => format!("{} done, ", progress.done),
    };
    text.push_str(&format!("{} not passed", progress.errors));
    if let Some(p50) = progress.p50_latency {
        text.push_str(&format!(", p50 {}", format_duration(Duration::from_secs_f64(p50))));
    }
    if let Some(left) = left {
        text.push_str(&format!(" · {} left", whole_seconds(left)));
    }
    text
}

/// Seconds are enough for a bar that moves four times a second.
fn whole_seconds(d: Duration) -> String {
    match d.as_secs() {
        s if s < 60 => format!("{s}s"),
        s => format_duration(Duration::from_secs(s)),
    }
}

impl Reporter for ProgressBars {
    fn on(&mut self, event: &Event<'_>) -> Result<(), String> {
        match event {
            Event::Progress { test, progress, .. } => {
                let position = match (progress.total, progress.planned) {
                    (Some(_), _) => progress.done,
                    (None, Some(planned)) => progress.elapsed.min(planned).as_millis() as u64,
                    (None, None) => 0,
                };
                let bar = self.bar_for(test, progress);
                bar.set_message(message(progress));
                bar.set_position(position);
            }
            // Every other event prints lines of its own: the bar makes way first.
            _ => self.clear(),
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<std::path::PathBuf>, String> {
        self.clear();
        Ok(vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A terminal that keeps what was drawn on it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl Screen {
        fn drawn(&self) -> Vec<String> {
            self.0.lock().map(|lines| lines.clone()).unwrap_or_default()
        }
        fn keep(&self, text: &str) -> std::io::Result<()> {
            if let Ok(mut lines) = self.0.lock() {
                lines.push(text.to_string());
            }
            Ok(())
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            160
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.keep(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.keep(s)
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.keep("<clear>")
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn bars(screen: &Screen) -> ProgressBars {
        let sanitizer = Sanitizer::new(std::sync::Arc::new(crate::redact::Redactor::new(Vec::<String>::new())));
        ProgressBars::new(Target::Term(Box::new(screen.clone())), sanitizer)
    }

    #[test]
    fn a_count_bound_test_shows_done_of_planned_errors_and_median() {
        let screen = Screen::default();
        let mut bars = bars(&screen);
        let suite = crate::report::tests::suite();
        let progress = Progress {
            done: 40,
            total: Some(100),
            errors: 3,
            p50_latency: Some(0.25),
            elapsed: Duration::from_secs(2),
            planned: None,
            step: None,
        };
        let _ = bars.on(&Event::Progress { suite: &suite, test: "steady load", progress: &progress });
        let _ = bars.finish();
        let drawn = screen.drawn().join("\n");
        assert!(drawn.contains("steady load"), "{drawn}");
        assert!(drawn.contains("40/100 requests, 3 not passed, p50 250ms · 3s left"), "{drawn}");
        assert_eq!(screen.drawn().last().map(String::as_str), Some("<clear>"), "the bar is cleared at the end");
    }

    #[test]
    fn a_soak_shows_time_and_requests_done() {
        let screen = Screen::default();
        let mut bars = bars(&screen);
        let suite = crate::report::tests::suite();
        let progress = Progress {
            done: 812,
            total: None,
            errors: 0,
            p50_latency: None,
            elapsed: Duration::from_secs(90),
            planned: Some(Duration::from_secs(600)),
            step: None,
        };
        let _ = bars.on(&Event::Progress { suite: &suite, test: "soak", progress: &progress });
        let drawn = screen.drawn().join("\n");
        assert!(drawn.contains("1m30s of 10m00s, 812 done, 0 not passed · 8m30s left"), "{drawn}");
        let summary = crate::run::event::Summary::default();
        let _ = bars.on(&Event::RunFinished { summary: &summary });
        assert_eq!(screen.drawn().last().map(String::as_str), Some("<clear>"), "a verdict line clears the bar");
    }

    #[test]
    fn each_step_of_a_sweep_has_its_own_bar_named_by_its_load() {
        let screen = Screen::default();
        let mut bars = bars(&screen);
        let suite = crate::report::tests::suite();
        for (step, done) in [("concurrency 4 (step 2 of 5)", 30), ("concurrency 8 (step 3 of 5)", 10)] {
            let progress = Progress {
                done,
                total: Some(40),
                errors: 0,
                p50_latency: None,
                elapsed: Duration::from_secs(1),
                planned: None,
                step: Some(step.into()),
            };
            let _ = bars.on(&Event::Progress { suite: &suite, test: "capacity", progress: &progress });
        }
        let drawn = screen.drawn().join("\n");
        assert!(drawn.contains("capacity · concurrency 4 (step 2 of 5)"), "{drawn}");
        assert!(drawn.contains("<clear>"), "the first step's bar is cleared for the next: {drawn}");
        let current = bars.current.as_ref().map(|(name, bar)| (name.clone(), bar.position()));
        assert_eq!(current, Some(("capacity · concurrency 8 (step 3 of 5)".into(), 10)), "a new bar, from 10 of 40");
    }
}
