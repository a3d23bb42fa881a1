//! JUnit XML for GitLab, GitHub and Jenkins: a `<testsuite>` per suite file, a `<testcase>` per
//! test (classname = suite, with `file` and `line`), `<failure>` for expectations that did not
//! hold and `<error>` when no verdict could be reached. The full detail goes in the element
//! text, because GitLab does not show the `message` attribute.

use super::render::{failure_detail, headline, transcript};
use crate::redact::Redactor;
use crate::run::event::{Event, Reporter, Verdict};
use crate::spec::Diagnostic;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Junit {
    path: PathBuf,
    redactor: Arc<Redactor>,
    report: Report,
    current: Option<TestSuite>,
    /// Why the file could not be written, if it could not.
    pub write_error: Option<String>,
}

impl Junit {
    pub fn new(path: PathBuf, redactor: Arc<Redactor>) -> Junit {
        Junit { path, redactor, report: Report::new("llmspec"), current: None, write_error: None }
    }

    fn r(&self, text: &str) -> String {
        self.redactor.redact(text)
    }

    /// Writes the file now. Used at the end of a run and when a run stops before starting.
    pub fn write(&mut self) {
        if let Some(suite) = self.current.take() {
            self.report.add_test_suite(suite);
        }
        let xml = self.report.to_string().map_err(|e| e.to_string());
        self.write_error = xml.and_then(|x| write_atomically(&self.path, x.as_bytes())).err();
    }

    /// A run that never started because the specs are broken still leaves a red report.
    pub fn spec_errors(&mut self, diagnostics: &[Diagnostic]) {
        let mut suite = TestSuite::new("spec errors");
        suite.set_time(std::time::Duration::ZERO);
        for d in diagnostics {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_type("spec").set_message(self.r(&d.message)).set_description(self.r(&d.render()));
            let mut case = TestCase::new(format!("spec error at {}", d.location()), status);
            case.set_classname("spec errors").set_time(std::time::Duration::ZERO);
            case.extra.insert("file".into(), d.source.path.clone().into());
            case.extra.insert("line".into(), d.loc.line.to_string().into());
            suite.add_test_case(case);
        }
        self.report.add_test_suite(suite);
        self.write();
    }
}

impl Reporter for Junit {
    fn on(&mut self, event: &Event<'_>) {
        match event {
            Event::RunStarted { .. } | Event::Progress { .. } => {}
            Event::SuiteStarted { suite } => {
                let mut ts = TestSuite::new(suite.name.clone());
                ts.extra.insert("file".into(), suite.source.path.clone().into());
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
                            .set_message(self.r(&headline(outcome)))
                            .set_description(self.r(&failure_detail(&suite.source, outcome)));
                        s
                    }
                };
                let mut case = TestCase::new(outcome.name.clone(), status);
                case.set_classname(suite.name.clone()).set_time(outcome.duration);
                case.extra.insert("file".into(), suite.source.path.clone().into());
                case.extra.insert("line".into(), outcome.loc.line.to_string().into());
                for (k, v) in &outcome.properties {
                    case.add_property(Property::new(k.clone(), self.r(v)));
                }
                if let Some(t) = &outcome.transcript {
                    case.set_system_out(self.r(&transcript(t)));
                }
                if let Verdict::Advisory(_) = &outcome.verdict {
                    case.add_property(Property::new("advisory", self.r(&headline(outcome))));
                    case.set_system_err(self.r(&failure_detail(&suite.source, outcome)));
                }
                if !outcome.warnings.is_empty() {
                    let text: Vec<String> = outcome.warnings.iter().map(|w| format!("warning: {w}")).collect();
                    case.set_system_err(self.r(&text.join("\n")));
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
                self.write();
            }
        }
    }
}

/// Readers never see a half-written report: write beside it, then rename over it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}
