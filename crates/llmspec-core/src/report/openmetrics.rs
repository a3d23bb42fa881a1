//! `--metrics FILE`: OpenMetrics text for GitLab's `artifacts:reports:metrics`, which shows each
//! line's name, labels and value in the merge request and compares them with the target branch.
//!
//! One gauge family per key metric, labelled by suite and test; durations in seconds; one line
//! per threshold with its measured value; the count of tests by verdict; `# EOF` last.
//! GitLab reads each line with a shell-style split after cutting everything from a `#`: label
//! values therefore never hold `#` (it becomes `＃`), and quotes inside them are escaped.

use super::Reporter;
use super::sanitize::Sanitizer;
use crate::run::event::{Event, TestOutcome, Verdict};
use crate::vocab::compare::{Unit, parse_quantity, trim_float_str};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

/// A test property shown as a metric: (property, metric name, factor to the metric's unit).
const KEY_METRICS: &[(&str, &str, f64)] = &[
    ("latency_ms", "llmspec_latency_seconds", 1e-3),
    ("ttft_ms", "llmspec_ttft_seconds", 1e-3),
    ("tpot_ms", "llmspec_tpot_seconds", 1e-3),
    ("tokens_per_second", "llmspec_tokens_per_second", 1.0),
    ("count", "llmspec_load_requests", 1.0),
    ("errors", "llmspec_load_errors", 1.0),
    ("error_rate", "llmspec_load_error_ratio", 1.0),
    ("req_per_s", "llmspec_load_requests_per_second", 1.0),
    ("output_tokens_per_s", "llmspec_load_output_tokens_per_second", 1.0),
    ("p50_latency_ms", "llmspec_load_latency_p50_seconds", 1e-3),
    ("p95_latency_ms", "llmspec_load_latency_p95_seconds", 1e-3),
    ("p99_latency_ms", "llmspec_load_latency_p99_seconds", 1e-3),
    ("p50_ttft_ms", "llmspec_load_ttft_p50_seconds", 1e-3),
    ("p95_ttft_ms", "llmspec_load_ttft_p95_seconds", 1e-3),
    ("p99_ttft_ms", "llmspec_load_ttft_p99_seconds", 1e-3),
    ("p50_tpot_ms", "llmspec_load_tpot_p50_seconds", 1e-3),
    ("p99_tpot_ms", "llmspec_load_tpot_p99_seconds", 1e-3),
    ("mean_tokens_per_second", "llmspec_load_tokens_per_second_mean", 1.0),
];

const HELP: &[(&str, &str)] = &[
    ("llmspec_tests", "Tests of the run, by verdict (advisory ones also count as passed)."),
    ("llmspec_run_duration_seconds", "Wall time of the whole run."),
    ("llmspec_advisory_failed", "1 for each advisory test whose expectations did not hold."),
    ("llmspec_threshold_measured", "A threshold's measured value, in the unit its label names."),
    ("llmspec_threshold_passed", "1 when the threshold held, 0 when it did not."),
];

pub struct OpenMetrics {
    path: PathBuf,
    sanitizer: Sanitizer,
    /// Family name → its samples (labels, value), kept together as OpenMetrics requires.
    families: BTreeMap<&'static str, Vec<(String, f64)>>,
    finished: bool,
}

impl OpenMetrics {
    pub fn new(path: PathBuf, sanitizer: Sanitizer) -> OpenMetrics {
        OpenMetrics { path, sanitizer, families: BTreeMap::new(), finished: false }
    }

    /// A sample; a second one with the same labels (two tests of one name) is left out, since
    /// a family may not repeat a label set.
    fn add(&mut self, family: &'static str, labels: String, value: f64) {
        let samples = self.families.entry(family).or_default();
        if value.is_finite() && !samples.iter().any(|(l, _)| *l == labels) {
            samples.push((labels, value));
        }
    }

    fn test(&mut self, suite: &str, outcome: &TestOutcome) {
        let labels = format!("suite=\"{}\",test=\"{}\"", self.label(suite), self.label(&outcome.name));
        if let Some(t) = &outcome.threshold {
            let passed = match &outcome.verdict {
                Verdict::Passed => 1.0,
                Verdict::Failed(_) => 0.0,
                _ => return,
            };
            self.add("llmspec_threshold_passed", labels.clone(), passed);
            if let Some(Ok((value, unit))) = t.measured.as_deref().map(parse_quantity) {
                let unit = match unit {
                    Unit::Seconds => "seconds",
                    Unit::Fraction => "ratio",
                    Unit::PerSecond => "per_second",
                    Unit::Plain => "",
                };
                self.add("llmspec_threshold_measured", format!("{labels},unit=\"{unit}\""), value);
            }
            return;
        }
        if matches!(outcome.verdict, Verdict::Advisory(_)) {
            self.add("llmspec_advisory_failed", labels.clone(), 1.0);
        }
        if matches!(outcome.verdict, Verdict::Skipped(_)) {
            return;
        }
        for (property, family, factor) in KEY_METRICS {
            let value = outcome.properties.iter().find(|(k, _)| k == property).and_then(|(_, v)| v.parse::<f64>().ok());
            if let Some(v) = value {
                self.add(family, labels.clone(), v * factor);
            }
        }
    }

    /// A label value: masked, one line, escaped as OpenMetrics wants, and free of `#`.
    fn label(&self, text: &str) -> String {
        self.sanitizer.name(text).replace('\\', "\\\\").replace('"', "\\\"").replace('#', "＃")
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (family, samples) in &self.families {
            let _ = writeln!(out, "# TYPE {family} gauge");
            let help = HELP.iter().find(|(f, _)| f == family).map(|(_, h)| *h);
            let from_property =
                KEY_METRICS.iter().find(|(_, f, _)| f == family).map(|(p, ..)| format!("The test property {p}."));
            if let Some(h) = help.map(str::to_string).or(from_property) {
                let _ = writeln!(out, "# HELP {family} {h}");
            }
            for (labels, value) in samples {
                // Microseconds and millionths are as fine as any measure here; more digits are noise.
                let value = trim_float_str(&format!("{value:.6}"));
                let _ = if labels.is_empty() {
                    writeln!(out, "{family} {value}")
                } else {
                    writeln!(out, "{family}{{{labels}}} {value}")
                };
            }
        }
        out.push_str("# EOF\n");
        out
    }
}

impl Reporter for OpenMetrics {
    fn on(&mut self, event: &Event<'_>) -> Result<(), String> {
        match event {
            Event::TestFinished { suite, outcome } => self.test(&suite.name, outcome),
            Event::RunFinished { summary } => {
                for (verdict, n) in [
                    ("passed", summary.passed),
                    ("failed", summary.failed),
                    ("error", summary.errors),
                    ("skipped", summary.skipped),
                    ("advisory", summary.advisories),
                ] {
                    self.add("llmspec_tests", format!("verdict=\"{verdict}\""), n as f64);
                }
                self.add("llmspec_run_duration_seconds", String::new(), summary.duration.as_secs_f64());
                self.finished = true;
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<PathBuf>, String> {
        if !self.finished {
            return Ok(vec![]);
        }
        self.sanitizer.write_file(&self.path, &self.render())?;
        Ok(vec![self.path.clone()])
    }
}
