//! What the runner tells reporters. The runner never formats output; reporters never time.

use crate::expect::Failure;
use crate::spec::plan::SuitePlan;
use crate::vocab::Loc;
use std::time::Duration;

pub enum Event<'a> {
    RunStarted {
        suites: usize,
        tests: usize,
    },
    SuiteStarted {
        suite: &'a SuitePlan,
    },
    TestFinished {
        suite: &'a SuitePlan,
        outcome: &'a TestOutcome,
    },
    SuiteFinished {
        suite: &'a SuitePlan,
        duration: Duration,
    },
    /// A load test is under way (a few times a second).
    Progress {
        suite: &'a SuitePlan,
        test: &'a str,
        progress: &'a crate::run::load::Progress,
    },
    RunFinished {
        summary: &'a Summary,
    },
}

/// Where the runner sends what happened. Infallible on purpose: a report that cannot be
/// written is the reporters' business, never a reason to stop or change the run.
pub trait EventSink {
    fn emit(&mut self, event: &Event<'_>);
}

#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub name: String,
    pub loc: Loc,
    pub verdict: Verdict,
    pub duration: Duration,
    /// What was measured, for JUnit `<properties>`: `latency_ms`, `status`, ...
    pub properties: Vec<(String, String)>,
    pub transcript: Option<Transcript>,
    /// The aggregate of a test that sent many requests.
    pub aggregate: Option<std::sync::Arc<crate::metrics::aggregate::Aggregate>>,
    /// Doubts about the measurement itself (a client that may be the bottleneck).
    pub warnings: Vec<String>,
    /// Time series of a test that ran for a while: samples, windows, per-request latencies.
    pub series: Option<std::sync::Arc<RunSeries>>,
    /// Set when this outcome judges a threshold of a test that sent many requests.
    pub threshold: Option<ThresholdResult>,
    /// What later expressions read of this test (`tests["name"]`), when one does: kept in the
    /// JSON results so that a merge of shards judges them the same.
    pub record: Option<std::sync::Arc<serde_json::Value>>,
    /// A capacity search (`load.sweep`): every step's aggregate and thresholds, and the knee.
    pub sweep: Option<std::sync::Arc<SweepResult>>,
}

impl TestOutcome {
    /// A test's outcome with nothing measured: a skip, or an error before anything was sent.
    pub fn bare(name: &str, loc: Loc, verdict: Verdict) -> TestOutcome {
        TestOutcome {
            name: name.to_string(),
            loc,
            verdict,
            duration: Duration::ZERO,
            properties: vec![],
            transcript: None,
            aggregate: None,
            warnings: vec![],
            series: None,
            threshold: None,
            record: None,
            sweep: None,
        }
    }
}

/// What a capacity search found, step by step.
#[derive(Debug, Clone)]
pub struct SweepResult {
    pub axis: crate::spec::plan::SweepAxis,
    /// The load of every planned step, run or not, rising.
    pub planned: Vec<f64>,
    /// The steps run, in order. When a step broke, it is the last one: the search stops there.
    pub steps: Vec<SweepStep>,
    /// Index into `steps` of the knee: the highest step at which every threshold and every
    /// request's checks held. `None` when the first step already broke.
    pub knee: Option<usize>,
    /// A step broke, so the knee is the limit. `false` when every planned step held (the limit
    /// is above the last step) or when the search was cut short.
    pub limit_found: bool,
    /// Why the search ended before it could conclude (a signal, a request task that panicked):
    /// then no knee is claimed and no threshold is judged.
    pub cut: Option<String>,
}

impl SweepResult {
    /// The knee's load: `capacity(concurrency)` or `capacity(rate)`.
    pub fn capacity(&self) -> Option<f64> {
        self.knee.and_then(|k| self.steps.get(k)).map(|s| s.load)
    }

    /// The step where the search stopped because something broke.
    pub fn breaking(&self) -> Option<&SweepStep> {
        self.steps.last().filter(|s| !s.held)
    }
}

/// One step of a sweep: its load, what it measured and what held.
#[derive(Debug, Clone)]
pub struct SweepStep {
    /// Requests in flight, or requests started per second.
    pub load: f64,
    /// When the step started and ended, in seconds since the sweep started (the times of
    /// `RunSeries::requests` and of the samples).
    pub started_s: f64,
    pub ended_s: f64,
    /// The step's requests after its warm-up.
    pub aggregate: std::sync::Arc<crate::metrics::aggregate::Aggregate>,
    /// Every threshold held and the requests passed their checks.
    pub held: bool,
    /// Each threshold of the test (but `capacity()`) as measured at this step.
    pub thresholds: Vec<StepThreshold>,
    /// Why the requests themselves broke the step (failed checks, no answers), when they did.
    pub requests_broke: Option<String>,
    /// Doubts about the step's measurement (a client that could not keep the rate).
    pub warnings: Vec<String>,
}

impl SweepStep {
    /// What broke the step, one entry per threshold or per request failure: empty when it held.
    pub fn broken(&self) -> Vec<String> {
        let thresholds = self.thresholds.iter().filter(|t| !t.held).map(|t| match &t.measured {
            Some(m) => format!("{} (measured {m})", t.text),
            None => format!("{} (not measured)", t.text),
        });
        thresholds.chain(self.requests_broke.clone()).collect()
    }
}

/// A threshold as measured at one step of a sweep. In the `--json` results as it is here, which
/// is also how `llmspec merge` reads it back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepThreshold {
    /// As written (normalised), the name of its JUnit case.
    #[serde(rename = "threshold")]
    pub text: String,
    /// The bound, e.g. `< 65ms`.
    pub limit: String,
    /// The value at this step; none when nothing was measured.
    pub measured: Option<String>,
    pub held: bool,
}

/// A threshold's own facts: it has no duration, but a limit and, when something was measured,
/// a value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThresholdResult {
    /// The bound as written, e.g. `< 5s`.
    pub limit: String,
    /// The measured value, formatted in the bound's unit; none when nothing was measured.
    pub measured: Option<String>,
}

/// What a long run saw over time, for the JSON results and the plot.
#[derive(Debug, Clone, Default)]
pub struct RunSeries {
    /// Sampled series: (seconds since the start, value).
    pub samples: std::collections::BTreeMap<String, Vec<(f64, f64)>>,
    /// Aggregates of consecutive windows of `window`.
    pub windows: Vec<crate::metrics::aggregate::Aggregate>,
    pub window: Duration,
    /// Every measured request: (seconds since the start, latency in seconds, passed).
    pub requests: Vec<(f64, f64, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Passed,
    /// Expectations that did not hold.
    Failed(Vec<Failure>),
    /// No verdict could be reached: connection refused, timeout, broken stream.
    Error(String),
    Skipped(String),
    /// An advisory test (`advisory: true`) whose expectations did not hold: shown, never red.
    Advisory(Vec<Failure>),
}

impl Verdict {
    /// The first line of a verdict, for a JUnit `message` attribute or a summary.
    pub fn headline(&self) -> String {
        match self {
            Verdict::Passed => "passed".into(),
            Verdict::Failed(failures) => {
                let Some(first) = failures.first() else { return "failed".into() };
                let more = match failures.len() {
                    1 => String::new(),
                    n => format!(" (and {} more)", n - 1),
                };
                format!("{}: expected {}, got {}{more}", first.subject, first.expected, first.actual)
            }
            Verdict::Error(message) => message.clone(),
            Verdict::Skipped(reason) => reason.clone(),
            Verdict::Advisory(failures) => format!("advisory: {}", Verdict::Failed(failures.clone()).headline()),
        }
    }
}

/// The exchange as it can be shown to a person (secrets are removed by the reporters). In the
/// `--json` results field by field, which is also how `llmspec merge` reads it back.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Transcript {
    pub request: String,
    /// The headers llmspec set, in the order sent; values of secret headers already masked.
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    pub status: Option<u16>,
    /// `HTTP/1.1 200 OK`: the protocol, the status and its standard reason.
    pub status_line: Option<String>,
    /// The headers received, in order; values of secret headers already masked.
    pub response_headers: Vec<(String, String)>,
    pub response_bytes: usize,
    pub response_body: String,
    /// Why the request was sent twice, when it was.
    pub resent: Option<String>,
    /// What lifecycle steps did, one entry per step.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    pub advisories: usize,
    pub duration: Duration,
    /// Why the run stopped before every test ran.
    pub stopped_early: Option<StopReason>,
}

/// Why a run stopped before every test ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT (Ctrl-C).
    Interrupted,
    /// SIGTERM, what CI runners send when a job is cancelled or times out.
    Terminated,
    /// `--fail-fast` after a failed or errored test.
    FailFast,
}

impl StopReason {
    /// A signal stopped the run: its verdicts are incomplete, whatever they say.
    pub fn is_signal(self) -> bool {
        matches!(self, StopReason::Interrupted | StopReason::Terminated)
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Interrupted => "interrupted (SIGINT)",
            StopReason::Terminated => "terminated (SIGTERM)",
            StopReason::FailFast => "--fail-fast stopped the run after a failure",
        })
    }
}

impl Summary {
    pub fn count(&mut self, verdict: &Verdict) {
        match verdict {
            Verdict::Passed => self.passed += 1,
            Verdict::Failed(_) => self.failed += 1,
            Verdict::Error(_) => self.errors += 1,
            Verdict::Skipped(_) => self.skipped += 1,
            Verdict::Advisory(_) => {
                self.passed += 1;
                self.advisories += 1;
            }
        }
    }

    /// The run's word: never PASSED when a signal cut it short.
    pub fn outcome(&self) -> &'static str {
        match self.stopped_early {
            Some(StopReason::Interrupted) => "INTERRUPTED",
            Some(StopReason::Terminated) => "TERMINATED",
            _ if self.failed > 0 || self.errors > 0 => "FAILED",
            _ => "PASSED",
        }
    }

    pub fn line(&self) -> String {
        let advisories = match self.advisories {
            0 => String::new(),
            n => format!(" ({n} with advisory warnings)"),
        };
        format!(
            "{} passed{advisories}, {} failed, {} errors, {} skipped in {}",
            self.passed,
            self.failed,
            self.errors,
            self.skipped,
            crate::vocab::units::format_duration(self.duration)
        )
    }
}
