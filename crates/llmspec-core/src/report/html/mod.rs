//! `--html FILE`: the whole run on one self-contained page (inline CSS and SVG, no script, no
//! font or anything else fetched), for a person who opens it from a CI artifact. Everything
//! shown is gathered from the events, masked by the [`Sanitizer`] as it arrives, and drawn
//! into the page only at `finish`, after the last test.

mod page;

use super::Reporter;
use super::render::{shown_time, transcript, verdict_detail};
use super::sanitize::Sanitizer;
use crate::metrics::aggregate::Aggregate;
use crate::run::event::{Event, RunSeries, Summary, Verdict};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Failure details and transcripts kept for the page, in bytes: past it they are left out (the
/// JUnit and JSON reports keep them), so a run of thousands of failing tests stays readable.
const DETAIL_BUDGET: usize = 4 << 20;

pub struct Html {
    path: PathBuf,
    sanitizer: Sanitizer,
    suites: Vec<SuiteView>,
    summary: Option<Summary>,
    detail_spent: usize,
    tests_seen: usize,
}

/// What the page shows of a suite; every string already masked.
struct SuiteView {
    name: String,
    file: String,
    description: Option<String>,
    duration: Option<Duration>,
    tests: Vec<TestView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Passed,
    Failed,
    Error,
    Skipped,
    Advisory,
}

impl Kind {
    fn of(verdict: &Verdict) -> Kind {
        match verdict {
            Verdict::Passed => Kind::Passed,
            Verdict::Failed(_) => Kind::Failed,
            Verdict::Error(_) => Kind::Error,
            Verdict::Skipped(_) => Kind::Skipped,
            Verdict::Advisory(_) => Kind::Advisory,
        }
    }

    /// The word the console prints, and the CSS class that colours it.
    fn label(self) -> (&'static str, &'static str) {
        match self {
            Kind::Passed => ("PASS", "pass"),
            Kind::Failed => ("FAIL", "fail"),
            Kind::Error => ("ERROR", "error"),
            Kind::Skipped => ("SKIP", "skip"),
            Kind::Advisory => ("WARN", "warn"),
        }
    }

    fn is_failure(self) -> bool {
        matches!(self, Kind::Failed | Kind::Error)
    }
}

/// What the page shows of a test; every string already masked.
struct TestView {
    /// Unique in the page: the anchor other sections link to.
    id: usize,
    suite: String,
    name: String,
    file: String,
    line: usize,
    kind: Kind,
    headline: String,
    time: String,
    /// The failures with their spec snippets, or the error.
    detail: String,
    transcript: Option<String>,
    properties: Vec<(String, String)>,
    warnings: Vec<String>,
    aggregate: Option<Arc<Aggregate>>,
    series: Option<Arc<RunSeries>>,
    sweep: Option<Arc<crate::run::event::SweepResult>>,
    /// The load test a threshold judges: the test with an aggregate just before it.
    judges: Option<usize>,
}

impl Html {
    pub fn new(path: PathBuf, sanitizer: Sanitizer) -> Html {
        Html { path, sanitizer, suites: vec![], summary: None, detail_spent: 0, tests_seen: 0 }
    }

    /// Text kept while the budget lasts; past it, a note saying where to find it.
    fn within_budget(&mut self, text: String) -> String {
        if self.detail_spent + text.len() > DETAIL_BUDGET {
            return "(left out: this page keeps the first 4 MiB of failure details and transcripts; \
                    the JUnit and JSON reports have them all)"
                .into();
        }
        self.detail_spent += text.len();
        text
    }
}

impl Reporter for Html {
    fn on(&mut self, event: &Event<'_>) -> Result<(), String> {
        match event {
            Event::RunStarted { .. } | Event::Progress { .. } => {}
            Event::SuiteStarted { suite } => self.suites.push(SuiteView {
                name: self.sanitizer.name(&suite.name),
                file: self.sanitizer.name(&suite.source.path),
                description: suite.description.as_deref().map(|d| self.sanitizer.text(d)),
                duration: None,
                tests: vec![],
            }),
            Event::TestFinished { suite, outcome } => {
                let s = &self.sanitizer;
                let kind = Kind::of(&outcome.verdict);
                let detail = s.text(&verdict_detail(&suite.source, outcome));
                let transcript = outcome.transcript.as_ref().map(|t| transcript(t, s));
                let (detail, transcript) = (self.within_budget(detail), transcript.map(|t| self.within_budget(t)));
                let s = &self.sanitizer;
                // A threshold's outcome follows its load test's and is named after it.
                let name = s.name(&outcome.name);
                let judges = match &outcome.threshold {
                    Some(_) => self
                        .suites
                        .last()
                        .and_then(|v| v.tests.iter().rev().find(|t| t.aggregate.is_some()))
                        .filter(|t| name.starts_with(&format!("{}: ", t.name)))
                        .map(|t| t.id),
                    None => None,
                };
                let view = TestView {
                    id: self.tests_seen,
                    suite: s.name(&suite.name),
                    name,
                    file: s.name(&suite.source.path),
                    line: outcome.loc.line,
                    kind,
                    headline: s.text(&outcome.verdict.headline()),
                    time: s.name(&shown_time(outcome)),
                    detail,
                    transcript,
                    properties: outcome.properties.iter().map(|(k, v)| (s.name(k), s.text(v))).collect(),
                    warnings: outcome.warnings.iter().map(|w| s.text(w)).collect(),
                    aggregate: outcome.aggregate.clone(),
                    series: outcome.series.clone(),
                    sweep: outcome.sweep.clone(),
                    judges,
                };
                self.tests_seen += 1;
                if let Some(current) = self.suites.last_mut() {
                    current.tests.push(view);
                }
            }
            Event::SuiteFinished { duration, .. } => {
                if let Some(current) = self.suites.last_mut() {
                    current.duration = Some(*duration);
                }
            }
            Event::RunFinished { summary } => self.summary = Some((*summary).clone()),
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<PathBuf>, String> {
        let Some(summary) = self.summary.take() else { return Ok(vec![]) };
        let html = page::page(&self.suites, &summary);
        self.sanitizer.write_file(&self.path, &html)?;
        Ok(vec![self.path.clone()])
    }
}

#[cfg(test)]
mod tests;
