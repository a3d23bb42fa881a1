//! `--json FILE`: every verdict and every aggregate, histograms included, so that runs made on
//! several machines can later be merged exactly (see `Aggregate::from_json`).

use super::Reporter;
use super::sanitize::Sanitizer;
use crate::run::event::{Event, Verdict};
use serde_json::{Value, json};
use std::path::PathBuf;

pub struct JsonResults {
    path: PathBuf,
    sanitizer: Sanitizer,
    suites: Vec<Value>,
    current: Option<(String, String, Vec<Value>)>,
    document: Option<Value>,
    run: Value,
}

impl JsonResults {
    pub fn new(path: PathBuf, sanitizer: Sanitizer) -> JsonResults {
        JsonResults { path, sanitizer, suites: vec![], current: None, document: None, run: Value::Null }
    }

    /// What identifies the run among others: the plan's digest and, for a shard, which one
    /// (what `llmspec merge` checks before it adds results up).
    pub fn with_run(
        mut self,
        plan: &crate::spec::Plan,
        paths: &[String],
        shard: Option<crate::spec::shard::Shard>,
    ) -> Self {
        self.run = json!({
            "plan": plan.digest(),
            "paths": paths,
            "shard": shard.map(|s| json!({"index": s.index + 1, "total": s.total})),
        });
        self
    }
}

impl Reporter for JsonResults {
    fn on(&mut self, event: &Event<'_>) -> Result<(), String> {
        match event {
            Event::SuiteStarted { suite } => {
                self.current = Some((suite.name.clone(), suite.source.path.clone(), vec![]))
            }
            Event::TestFinished { outcome, .. } => {
                let verdict = match &outcome.verdict {
                    Verdict::Passed => "passed",
                    Verdict::Failed(_) => "failed",
                    Verdict::Error(_) => "error",
                    Verdict::Skipped(_) => "skipped",
                    Verdict::Advisory(_) => "advisory",
                };
                let properties: serde_json::Map<String, Value> =
                    outcome.properties.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                let failures: Vec<Value> = match &outcome.verdict {
                    Verdict::Failed(f) | Verdict::Advisory(f) => f
                        .iter()
                        .map(|f| {
                            json!({"check": f.check.name(), "line": f.loc.line, "column": f.loc.col, "subject": f.subject, "expected": f.expected, "actual": f.actual})
                        })
                        .collect(),
                    _ => vec![],
                };
                let mut test = json!({
                    "name": outcome.name,
                    "line": outcome.loc.line,
                    "verdict": verdict,
                    "message": outcome.verdict.headline(),
                    "duration_s": outcome.duration.as_secs_f64(),
                    "properties": properties,
                    "failures": failures,
                    "warnings": outcome.warnings,
                });
                test["column"] = json!(outcome.loc.col);
                if let Some(t) = &outcome.transcript {
                    test["transcript"] = json!(t);
                }
                if let Some(t) = &outcome.threshold {
                    test["threshold"] = json!(t);
                }
                if let Some(record) = &outcome.record {
                    test["record"] = record.as_ref().clone();
                }
                if let Some(agg) = &outcome.aggregate {
                    test["aggregate"] = agg.to_json();
                }
                if let Some(s) = &outcome.series {
                    test["series"] = json!({
                        "samples": s.samples,
                        "window_s": s.window.as_secs_f64(),
                        "windows": s.windows.iter().map(|w| w.to_json()).collect::<Vec<_>>(),
                        "requests": s.requests,
                    });
                }
                if let Some(sweep) = &outcome.sweep {
                    test["sweep"] = sweep_json(sweep);
                }
                if let Some((_, _, tests)) = self.current.as_mut() {
                    tests.push(test);
                }
            }
            Event::SuiteFinished { duration, .. } => {
                if let Some((name, file, tests)) = self.current.take() {
                    self.suites.push(
                        json!({"suite": name, "file": file, "duration_s": duration.as_secs_f64(), "tests": tests}),
                    );
                }
            }
            Event::RunFinished { summary } => {
                let doc = json!({
                    "llmspec": env!("CARGO_PKG_VERSION"),
                    "run": self.run,
                    "summary": {
                        "passed": summary.passed, "failed": summary.failed, "errors": summary.errors,
                        "skipped": summary.skipped, "duration_s": summary.duration.as_secs_f64(),
                        "stopped_early": summary.stopped_early.map(|r| r.to_string()),
                    },
                    "suites": std::mem::take(&mut self.suites),
                });
                self.document = Some(doc);
            }
            Event::RunStarted { .. } | Event::Progress { .. } => {}
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<PathBuf>, String> {
        let Some(doc) = self.document.take() else { return Ok(vec![]) };
        // Every string of the document, names and warnings included, is masked here.
        let text = serde_json::to_string_pretty(&self.sanitizer.json(doc))
            .map_err(|e| format!("cannot render the JSON results: {e}"))?;
        self.sanitizer.write_file(&self.path, &text)?;
        Ok(vec![self.path.clone()])
    }
}

/// A capacity search: each step's load, figures and thresholds, and the knee (docs/json-format.md).
fn sweep_json(sweep: &crate::run::event::SweepResult) -> Value {
    use crate::metrics::catalog::{ScalarName, SeriesName, Statistic};
    let steps: Vec<Value> = sweep
        .steps
        .iter()
        .map(|step| {
            let agg = &step.aggregate;
            let stat = |f: Statistic, s: SeriesName| agg.stat(f, s);
            json!({
                "load": step.load,
                "started_s": step.started_s,
                "ended_s": step.ended_s,
                "held": step.held,
                "requests": agg.count,
                "errors": agg.errors,
                "failed": agg.failed,
                "p50_latency_s": stat(Statistic::Median, SeriesName::Latency),
                "p99_latency_s": stat(Statistic::Percentile(99.0), SeriesName::Latency),
                "p50_ttft_s": stat(Statistic::Median, SeriesName::Ttft),
                "p99_ttft_s": stat(Statistic::Percentile(99.0), SeriesName::Ttft),
                "req_per_s": agg.scalar(ScalarName::ReqPerS),
                "output_tokens_per_s": agg.scalar(ScalarName::OutputTokensPerS),
                "thresholds": step.thresholds,
                "requests_broke": step.requests_broke,
                "warnings": step.warnings,
                "aggregate": agg.to_json(),
            })
        })
        .collect();
    json!({
        "axis": sweep.axis.name(),
        "planned": sweep.planned,
        "knee": sweep.capacity(),
        "knee_step": sweep.knee,
        "limit_found": sweep.limit_found,
        "cut": sweep.cut,
        "steps": steps,
    })
}
