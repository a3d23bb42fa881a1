//! JUnit XML for GitLab, GitHub and Jenkins: a `<testsuite>` per suite file, a `<testcase>` per
//! test (classname = suite, with `file` and `line`), `<failure>` for expectations that did not
//! hold and `<error>` when no verdict could be reached. The full detail goes in the element
//! text, because GitLab does not show the `message` attribute.

use super::Reporter;
use super::render::{failure_detail, transcript};
use super::sanitize::Sanitizer;
use crate::run::event::{Event, Verdict};
use crate::spec::Diagnostic;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::path::PathBuf;

pub struct Junit {
    path: PathBuf,
    sanitizer: Sanitizer,
    report: Report,
    current: Option<TestSuite>,
}

impl Junit {
    pub fn new(path: PathBuf, sanitizer: Sanitizer) -> Junit {
        Junit { path, sanitizer, report: Report::new("llmspec"), current: None }
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
            case.extra.insert("file".into(), self.n(&d.source.path).into());
            // A problem with the whole file (unreadable, too large) has no line to point at.
            if !d.whole_file {
                case.extra.insert("line".into(), d.loc.line.to_string().into());
            }
            suite.add_test_case(case);
        }
        self.report.add_test_suite(suite);
    }
}

impl Reporter for Junit {
    fn on(&mut self, event: &Event<'_>) -> Result<(), String> {
        match event {
            Event::RunStarted { .. } | Event::Progress { .. } => {}
            Event::SuiteStarted { suite } => {
                let mut ts = TestSuite::new(self.n(&suite.name));
                ts.extra.insert("file".into(), self.n(&suite.source.path).into());
                if let Some(d) = &suite.description {
                    ts.add_property(Property::new("description", self.r(d)));
                }
                self.current = Some(ts);
            }
            Event::TestFinished { suite, outcome } => {
                let status = match &outcome.verdict {
                    Verdict::Passed => TestCaseStatus::success(),
                    // Advisory: green for CI, with the detail where readers look for it.
                    Verdict::Advisory(_) => TestCaseStatus::success(),
                    Verdict::Skipped(reason) => {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message(self.r(reason));
                        s
                    }
                    Verdict::Failed(_) | Verdict::Error(_) => {
                        let (kind, ty) = match outcome.verdict {
                            Verdict::Failed(_) => (NonSuccessKind::Failure, "assertion"),
                            _ => (NonSuccessKind::Error, "transport"),
                        };
                        let mut s = TestCaseStatus::non_success(kind);
                        s.set_type(ty)
                            .set_message(self.r(&outcome.verdict.headline()))
                            .set_description(failure_detail(&suite.source, outcome, &self.sanitizer));
                        s
                    }
                };
                let mut case = TestCase::new(self.n(&outcome.name), status);
                case.set_classname(self.n(&suite.name)).set_time(outcome.duration);
                case.extra.insert("file".into(), self.n(&suite.source.path).into());
                case.extra.insert("line".into(), outcome.loc.line.to_string().into());
                for (k, v) in &outcome.properties {
                    case.add_property(Property::new(self.n(k), self.r(v)));
                }
                if let Some(t) = &outcome.transcript {
                    case.set_system_out(transcript(t, &self.sanitizer));
                }
                // Advisory detail and warnings share system-err: both must reach the reader.
                let mut system_err: Vec<String> = vec![];
                if let Verdict::Advisory(_) = &outcome.verdict {
                    case.add_property(Property::new("advisory", self.r(&outcome.verdict.headline())));
                    system_err.push(failure_detail(&suite.source, outcome, &self.sanitizer));
                }
                system_err.extend(outcome.warnings.iter().map(|w| self.r(&format!("warning: {w}"))));
                if !system_err.is_empty() {
                    case.set_system_err(system_err.join("\n"));
                }
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
