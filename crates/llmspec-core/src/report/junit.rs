//! JUnit XML for GitLab, GitHub and Jenkins: a `<testsuite>` per suite file, a `<testcase>` per
//! test (classname = suite, with `file` and `line`), `<failure>` for expectations that did not
//! hold and `<error>` when no verdict could be reached.
//!
//! Shaped by what the platforms' parsers keep (docs/ci-reports.md): GitLab shows the element
//! text of `<failure>`, `<error>` and `<skipped>` and, after a failure, `<system-out>`; it reads
//! one `[[ATTACHMENT|path]]` from `<system-out>` of a failed case. action-junit-report annotates
//! the testcase's `file` and `line`, and shows the failure text. Neither reads `<properties>`.
//! So: `file` from the repository root, `line` at the first expectation that failed, the
//! measurements and the exchange once, in the failure text; skip reasons as text.

use super::Reporter;
use super::location::Locator;
use super::render::{aggregate_line, measurements, transcript, verdict_detail};
use super::sanitize::Sanitizer;
use crate::run::event::{Event, TestOutcome, Verdict};
use crate::spec::Diagnostic;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::path::{Path, PathBuf};

pub struct Junit {
    path: PathBuf,
    sanitizer: Sanitizer,
    report: Report,
    current: Option<TestSuite>,
    locator: Locator,
    /// Where plots are written (`--plots`), to attach them to the cases they picture.
    plots: Option<PathBuf>,
    /// The last load test: its name, plot and measurements. Its thresholds' cases come next.
    last_load: Option<(String, Option<String>, String)>,
}

impl Junit {
    pub fn new(path: PathBuf, sanitizer: Sanitizer) -> Junit {
        Junit {
            path,
            sanitizer,
            report: Report::new("llmspec"),
            current: None,
            locator: Locator::from_env(),
            plots: None,
            last_load: None,
        }
    }

    /// Paths relative to this locator's root instead of the process's.
    pub fn with_locator(mut self, locator: Locator) -> Junit {
        self.locator = locator;
        self
    }

    /// Attach the plots written in `dir` to the cases of the tests they picture.
    pub fn with_plots(mut self, dir: Option<PathBuf>) -> Junit {
        self.plots = dir;
        self
    }

    /// Every string that goes into the report passes here.
    fn r(&self, text: &str) -> String {
        self.sanitizer.text(text)
    }

    fn n(&self, text: &str) -> String {
        self.sanitizer.name(text)
    }

    fn write(&mut self) -> Result<Vec<PathBuf>, String> {
        if let Some(suite) = self.current.take() {
            self.report.add_test_suite(suite);
        }
        let xml = self.report.to_string().map_err(|e| format!("cannot render the JUnit report: {e}"))?;
        self.sanitizer.write_file(&self.path, &xml)?;
        Ok(vec![self.path.clone()])
    }

    /// A run that never started because of the command line or a TLS file: one error case.
    pub fn usage_error(&mut self, problem: &str) {
        let mut suite = TestSuite::new("usage errors");
        suite.set_time(std::time::Duration::ZERO);
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_type("usage").set_message(self.r(problem)).set_description(self.r(problem));
        let mut case = TestCase::new("nothing was sent", status);
        case.set_classname("usage errors").set_time(std::time::Duration::ZERO);
        suite.add_test_case(case);
        self.report.add_test_suite(suite);
    }

    /// A run that never started because the specs are broken still leaves a red report
    /// (written by `finish`).
    pub fn spec_errors(&mut self, diagnostics: &[Diagnostic]) {
        let mut suite = TestSuite::new("spec errors");
        suite.set_time(std::time::Duration::ZERO);
        for d in diagnostics {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_type("spec").set_message(self.r(&d.message)).set_description(self.r(&d.render()));
            let mut case = TestCase::new(self.n(&format!("spec error at {}", d.location())), status);
            case.set_classname("spec errors").set_time(std::time::Duration::ZERO);
            case.extra.insert("file".into(), self.n(&self.locator.spec(&d.source.path)).into());
            // A problem with the whole file (unreadable, too large) has no line to point at.
            if !d.whole_file {
                case.extra.insert("line".into(), d.loc.line.to_string().into());
            }
            suite.add_test_case(case);
        }
        self.report.add_test_suite(suite);
    }
}

impl Junit {
    fn case(
        &self,
        suite: &str,
        source: &crate::spec::diag::Source,
        outcome: &TestOutcome,
        attachment: Option<String>,
    ) -> TestCase {
        let mut measured = measurements(outcome);
        // A threshold's case is the one readers open: it tells what its load test measured.
        if let (Some(_), Some((test, _, load))) = (&outcome.threshold, &self.last_load) {
            if outcome.name.strip_prefix(test.as_str()).is_some_and(|rest| rest.starts_with(": ")) {
                measured.push(format!("{test}: {load}"));
            }
        }
        let measured = measured.join("\n");
        // Spec snippets name the file as the report's `file` does.
        let source = &crate::spec::diag::Source { path: self.locator.spec(&source.path), text: source.text.clone() };
        let status = match &outcome.verdict {
            Verdict::Passed | Verdict::Advisory(_) => TestCaseStatus::success(),
            Verdict::Skipped(reason) => {
                // As text too: GitLab shows the element's text, and shows a message attribute
                // alone as a JSON object.
                let mut s = TestCaseStatus::skipped();
                s.set_message(self.r(reason)).set_description(self.r(reason));
                s
            }
            Verdict::Failed(_) | Verdict::Error(_) => {
                let (kind, ty) = match outcome.verdict {
                    Verdict::Failed(_) => (NonSuccessKind::Failure, "assertion"),
                    _ => (NonSuccessKind::Error, "transport"),
                };
                // The one place both platforms show: what failed, what was measured, then the
                // exchange (never repeated in system-out).
                let mut text = verdict_detail(source, outcome);
                if !measured.is_empty() {
                    text.push_str(&measured);
                    text.push_str("\n\n");
                }
                if let Some(t) = &outcome.transcript {
                    text.push_str(&transcript(t, &self.sanitizer));
                }
                let text = text.trim_end();
                let mut s = TestCaseStatus::non_success(kind);
                s.set_type(ty).set_message(self.r(&outcome.verdict.headline())).set_description(self.r(text));
                s
            }
        };
        let mut case = TestCase::new(self.n(&outcome.name), status);
        case.set_classname(self.n(suite)).set_time(outcome.duration);
        case.extra.insert("file".into(), self.n(&source.path).into());
        case.extra.insert("line".into(), line(outcome).to_string().into());
        for (k, v) in &outcome.properties {
            case.add_property(Property::new(self.n(k), self.r(v)));
        }
        let mut system_out: Vec<String> = vec![];
        match &outcome.verdict {
            Verdict::Passed => system_out.push(measured),
            // Green for CI, with the detail where readers of a passed case look.
            Verdict::Advisory(_) => {
                case.add_property(Property::new("advisory", self.r(&outcome.verdict.headline())));
                system_out.push(outcome.verdict.headline());
                system_out.push(verdict_detail(source, outcome));
                system_out.push(measured);
            }
            _ => {}
        }
        // GitLab takes the first attachment tag of a failed case's system-out.
        system_out.extend(attachment.map(|path| format!("[[ATTACHMENT|{path}]]")));
        let system_out: Vec<String> = system_out.into_iter().filter(|t| !t.trim().is_empty()).collect();
        if !system_out.is_empty() {
            case.set_system_out(self.r(&system_out.join("\n")));
        }
        if !outcome.warnings.is_empty() {
            let warnings: Vec<String> = outcome.warnings.iter().map(|w| format!("warning: {w}")).collect();
            case.set_system_err(self.r(&warnings.join("\n")));
        }
        case
    }

    /// The plot picturing this outcome: a load test's own, kept for the thresholds that follow.
    fn attachment(&mut self, suite: &str, outcome: &TestOutcome) -> Option<String> {
        if let Some(agg) = &outcome.aggregate {
            let plot = match (&self.plots, &outcome.series) {
                (Some(dir), Some(_)) => {
                    Some(self.locator.relative(&plot_path(dir, &self.sanitizer, suite, &outcome.name)))
                }
                _ => None,
            };
            self.last_load = Some((outcome.name.clone(), plot.clone(), aggregate_line(agg)));
            return plot.map(|p| self.n(&p));
        }
        let (test, plot, _) = self.last_load.as_ref()?;
        let of_that_test = outcome.threshold.is_some() && outcome.name.strip_prefix(test.as_str())?.starts_with(": ");
        plot.as_ref().filter(|_| of_that_test).map(|p| self.n(p))
    }
}

/// The line a reader should land on: the first expectation that failed, else the test.
fn line(outcome: &TestOutcome) -> usize {
    match &outcome.verdict {
        Verdict::Failed(f) | Verdict::Advisory(f) => f.first().map_or(outcome.loc.line, |f| f.loc.line),
        _ => outcome.loc.line,
    }
}

/// Where the plot reporter writes a test's picture.
pub fn plot_path(dir: &Path, sanitizer: &Sanitizer, suite: &str, test: &str) -> PathBuf {
    dir.join(super::plot::file_name(sanitizer, suite, test))
}

impl Reporter for Junit {
    fn on(&mut self, event: &Event<'_>) -> Result<(), String> {
        match event {
            Event::RunStarted { .. } | Event::Progress { .. } => {}
            Event::SuiteStarted { suite } => {
                let mut ts = TestSuite::new(self.n(&suite.name));
                ts.extra.insert("file".into(), self.n(&self.locator.spec(&suite.source.path)).into());
                if let Some(d) = &suite.description {
                    ts.add_property(Property::new("description", self.r(d)));
                }
                self.current = Some(ts);
            }
            Event::TestFinished { suite, outcome } => {
                let attachment = self.attachment(&suite.name, outcome);
                let case = self.case(&suite.name, &suite.source, outcome, attachment);
                if let Some(ts) = self.current.as_mut() {
                    ts.add_test_case(case);
                }
            }
            Event::SuiteFinished { duration, .. } => {
                if let Some(mut ts) = self.current.take() {
                    ts.set_time(*duration);
                    self.report.add_test_suite(ts);
                }
            }
            Event::RunFinished { summary } => {
                self.report.set_time(summary.duration);
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<PathBuf>, String> {
        self.write()
    }
}
