//! A shard's `--json` results read back into the runner's own outcomes (docs/json-format.md).

use crate::expect::{Check, Failure};
use crate::metrics::aggregate::Aggregate;
use crate::metrics::catalog::SweepAxis;
use crate::run::event::{
    RunSeries, StepThreshold, SweepResult, SweepStep, TestOutcome, ThresholdResult, Transcript, Verdict,
};
use crate::spec::shard::Shard;
use crate::vocab::Loc;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Results larger than this are not a run's: a soak keeps its timeline bounded (200,000 requests
/// and its windows take tens of MB), and every shard's results are held at once.
pub const MAX_RESULTS_BYTES: u64 = 256 << 20;

/// One shard's results, indexed by suite.
pub struct ShardResults {
    /// The file, as named on the command line.
    pub path: String,
    /// The digest of the plan the shard ran.
    pub plan: String,
    pub shard: Option<Shard>,
    /// The spec paths the shard was given, to load the same plan again.
    pub paths: Vec<String>,
    pub stopped_early: Option<String>,
    pub duration: Duration,
    /// Per suite: its duration, and its tests' entries in order.
    suites: BTreeMap<String, (Duration, Vec<Value>)>,
}

impl ShardResults {
    pub fn read(path: &Path) -> Result<ShardResults, String> {
        let shown = path.display().to_string();
        let size = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?.len();
        if size > MAX_RESULTS_BYTES {
            return Err(format!("{shown} has {size} bytes: more than any run's --json results"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{shown} is not JSON ({e}): give the files written by `llmspec run --json`"))?;
        ShardResults::from_json(shown, doc)
    }

    pub fn from_json(path: String, doc: Value) -> Result<ShardResults, String> {
        let Some(run) = doc.get("run").filter(|r| r.is_object()) else {
            return Err(format!(
                "{path} holds no `run` facts: it was written by an older llmspec, or is not a --json report"
            ));
        };
        let plan = run.get("plan").and_then(Value::as_str).unwrap_or_default().to_string();
        let shard = match run.get("shard").filter(|s| !s.is_null()) {
            None => None,
            Some(s) => {
                let number = |k: &str| s.get(k).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
                let (Some(k), Some(n)) = (number("index"), number("total")) else {
                    return Err(format!("{path}: `run.shard` is not {{index, total}}"));
                };
                Some(Shard::one_based(k, n).map_err(|e| format!("{path}: {e}"))?)
            }
        };
        let paths = run
            .get("paths")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        let summary = doc.get("summary");
        let stopped_early = summary.and_then(|s| s.get("stopped_early")).and_then(Value::as_str).map(str::to_string);
        let duration = seconds(summary.and_then(|s| s.get("duration_s")));
        let mut suites = BTreeMap::new();
        for suite in doc.get("suites").and_then(Value::as_array).into_iter().flatten() {
            let Some(name) = suite.get("suite").and_then(Value::as_str) else { continue };
            let tests = suite.get("tests").and_then(Value::as_array).cloned().unwrap_or_default();
            suites.insert(name.to_string(), (seconds(suite.get("duration_s")), tests));
        }
        Ok(ShardResults { path, plan, shard, paths, stopped_early, duration, suites })
    }

    pub fn suite_duration(&self, suite: &str) -> Option<Duration> {
        self.suites.get(suite).map(|(d, _)| *d)
    }

    /// The outcomes of a test: its own, then its thresholds (`name: condition`), by their exact
    /// names: a test named `a` never takes the results of one named `a: b`.
    pub fn outcomes(&self, suite: &str, test: &crate::spec::plan::TestPlan) -> Vec<TestOutcome> {
        let Some((_, tests)) = self.suites.get(suite) else { return vec![] };
        let names: Vec<String> = std::iter::once(test.name.clone())
            .chain(test.thresholds.iter().map(|t| format!("{}: {}", test.name, t.text)))
            .collect();
        tests
            .iter()
            .filter(|t| t.get("name").and_then(Value::as_str).is_some_and(|n| names.iter().any(|m| m == n)))
            .map(outcome)
            .collect()
    }
}

fn seconds(v: Option<&Value>) -> Duration {
    v.and_then(Value::as_f64).and_then(|s| Duration::try_from_secs_f64(s).ok()).unwrap_or_default()
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// A list of strings; what is not a string is left out.
fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
}

/// One entry of the results as the outcome the runner had made.
pub fn outcome(t: &Value) -> TestOutcome {
    let loc = |v: &Value| Loc {
        line: v.get("line").and_then(Value::as_u64).unwrap_or(0) as usize,
        col: v.get("column").and_then(Value::as_u64).unwrap_or(0) as usize,
    };
    let failures = || -> Vec<Failure> {
        t.get("failures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|f| Failure {
                check: Check::from_name(&text(f, "check")).unwrap_or(Check::That),
                loc: loc(f),
                subject: text(f, "subject"),
                expected: text(f, "expected"),
                actual: text(f, "actual"),
            })
            .collect()
    };
    let message = text(t, "message");
    let verdict = match t.get("verdict").and_then(Value::as_str) {
        Some("passed") => Verdict::Passed,
        Some("failed") => Verdict::Failed(failures()),
        Some("advisory") => Verdict::Advisory(failures()),
        Some("skipped") => Verdict::Skipped(message),
        Some("error") => Verdict::Error(message),
        other => Verdict::Error(format!("the results name an unknown verdict {other:?}")),
    };
    let properties = t
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    let transcript = t.get("transcript").and_then(|v| Transcript::deserialize(v).ok());
    let series = t.get("series").filter(|v| v.is_object()).map(|s| {
        let samples = s
            .get("samples")
            .and_then(|v| serde_json::from_value::<BTreeMap<String, Vec<(f64, f64)>>>(v.clone()).ok())
            .unwrap_or_default();
        let requests = s.get("requests").and_then(|v| serde_json::from_value::<Vec<(f64, f64, bool)>>(v.clone()).ok());
        Arc::new(RunSeries {
            samples,
            windows: s
                .get("windows")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Aggregate::from_json)
                .collect(),
            window: seconds(s.get("window_s")),
            requests: requests.unwrap_or_default(),
        })
    });
    TestOutcome {
        duration: seconds(t.get("duration_s")),
        properties,
        transcript,
        aggregate: t.get("aggregate").and_then(Aggregate::from_json).map(Arc::new),
        warnings: strings(t.get("warnings")),
        series,
        threshold: t.get("threshold").and_then(|v| ThresholdResult::deserialize(v).ok()),
        record: t.get("record").filter(|r| !r.is_null()).map(|r| Arc::new(r.clone())),
        sweep: t.get("sweep").and_then(sweep).map(Arc::new),
        ..TestOutcome::bare(&text(t, "name"), loc(t), verdict)
    }
}

/// A capacity search as its shard wrote it: every step with its aggregate, and the knee.
fn sweep(v: &Value) -> Option<SweepResult> {
    let name = v.get("axis")?.as_str()?;
    let axis = [SweepAxis::Concurrency, SweepAxis::Rate].into_iter().find(|a| a.name() == name)?;
    let numbers = |v: Option<&Value>| -> Vec<f64> {
        v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_f64).collect()
    };
    let steps = v
        .get("steps")?
        .as_array()?
        .iter()
        .map(|s| {
            Some(SweepStep {
                load: s.get("load")?.as_f64()?,
                started_s: s.get("started_s").and_then(Value::as_f64).unwrap_or(0.0),
                ended_s: s.get("ended_s").and_then(Value::as_f64).unwrap_or(0.0),
                aggregate: Arc::new(Aggregate::from_json(s.get("aggregate")?)?),
                held: s.get("held")?.as_bool()?,
                thresholds: s.get("thresholds").and_then(|v| Vec::<StepThreshold>::deserialize(v).ok())?,
                requests_broke: s.get("requests_broke").and_then(Value::as_str).map(str::to_string),
                warnings: strings(s.get("warnings")),
            })
        })
        .collect::<Option<Vec<SweepStep>>>()?;
    let knee = v.get("knee_step").and_then(Value::as_u64).map(|k| k as usize).filter(|k| *k < steps.len());
    Some(SweepResult {
        axis,
        planned: numbers(v.get("planned")),
        steps,
        knee,
        limit_found: v.get("limit_found").and_then(Value::as_bool).unwrap_or(false),
        cut: v.get("cut").and_then(Value::as_str).map(str::to_string),
    })
}
