//! A previous run's measurements (`--baseline FILE`, a `--json` report), test by test, so that a
//! deploy can be judged against the last one: `p50(latency) < 1.2 * baseline.p50(latency)`.

use super::aggregate::Aggregate;
use super::catalog::{MetricName, ScalarName, SeriesName, Statistic};
use crate::vocab::compare::Unit;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::Path;

/// Reports are read whole: a bigger file is refused rather than held.
const MAX_REPORT_BYTES: u64 = 256 << 20;

#[derive(Debug, Default)]
pub struct Baseline {
    /// (suite, test) → what that test measured.
    tests: HashMap<(String, String), Measured>,
}

#[derive(Debug, Clone)]
pub struct Measured {
    /// The JUnit properties of the test, as reported (times in milliseconds).
    pub properties: Map<String, Value>,
    /// The aggregate of a load or soak test.
    pub aggregate: Option<Aggregate>,
}

impl Baseline {
    pub fn read(path: &Path) -> Result<Baseline, String> {
        let shown = path.display();
        let size = std::fs::metadata(path).map_err(|e| format!("cannot read the baseline {shown}: {e}"))?.len();
        if size > MAX_REPORT_BYTES {
            return Err(format!("the baseline {shown} is larger than {} MiB", MAX_REPORT_BYTES >> 20));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the baseline {shown}: {e}"))?;
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| format!("the baseline {shown} is not a JSON report of llmspec (`--json`): {e}"))?;
        Baseline::from_report(&doc).ok_or_else(|| {
            format!("the baseline {shown} is not a JSON report of llmspec (`--json`): it has no `suites` list")
        })
    }

    pub fn from_report(doc: &Value) -> Option<Baseline> {
        let mut tests = HashMap::new();
        for suite in doc.get("suites")?.as_array()? {
            let Some(suite_name) = suite.get("suite").and_then(Value::as_str) else { continue };
            for test in suite.get("tests").and_then(Value::as_array).into_iter().flatten() {
                let Some(name) = test.get("name").and_then(Value::as_str) else { continue };
                // A test that was skipped or got no answer measured nothing to compare with.
                if matches!(test.get("verdict").and_then(Value::as_str), Some("skipped" | "error")) {
                    continue;
                }
                let properties = test.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
                let aggregate = test.get("aggregate").and_then(Aggregate::from_json);
                tests.insert((suite_name.to_string(), name.to_string()), Measured { properties, aggregate });
            }
        }
        Some(Baseline { tests })
    }

    pub fn test(&self, suite: &str, test: &str) -> Option<&Measured> {
        self.tests.get(&(suite.to_string(), test.to_string()))
    }
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.trim().parse::<f64>().ok()).filter(|n| n.is_finite())
}

impl Measured {
    /// What expressions read as `baseline`: `metrics` (seconds, as `metrics` itself) and, for a
    /// load test, its single numbers (`baseline.error_rate`).
    /// A load test's `metrics` are the medians of its series.
    pub fn as_json(&self) -> Value {
        let mut metrics = Map::new();
        for name in MetricName::ALL {
            let (key, scale) = match name.unit() {
                Unit::Seconds => (format!("{name}_ms"), 1e-3),
                _ => (name.to_string(), 1.0),
            };
            let of_one_request = self.properties.get(&key).and_then(number).map(|v| v * scale);
            let median = || {
                let series = SeriesName::ALL.iter().find(|s| s.metric() == Some(*name))?;
                self.aggregate.as_ref()?.stat(Statistic::Median, *series)
            };
            metrics.insert(name.to_string(), of_one_request.or_else(median).map_or(Value::Null, |v| json!(v)));
        }
        let mut out = Map::new();
        out.insert("metrics".into(), Value::Object(metrics));
        if let Some(agg) = &self.aggregate {
            for scalar in ScalarName::ALL {
                if let Some(v) = agg.scalar(*scalar) {
                    out.insert(scalar.to_string(), json!(v));
                }
            }
        }
        Value::Object(out)
    }

    /// `change_<property>` for every number both runs reported: `+12.5%`, `-3%`.
    pub fn changes(&self, now: &[(String, String)]) -> Vec<(String, String)> {
        now.iter()
            .filter_map(|(key, value)| {
                let (before, after) = (self.properties.get(key).and_then(number)?, value.trim().parse::<f64>().ok()?);
                if before == 0.0 || !after.is_finite() || key.starts_with("change_") {
                    return None;
                }
                let change = (after - before) / before * 100.0;
                Some((format!("change_{key}"), format!("{change:+.1}%")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_report_and_tells_the_changes() {
        let doc = json!({"suites": [{"suite": "s", "tests": [
            {"name": "t", "properties": {"latency_ms": "200.000", "ttft_ms": "50.000", "status": "200"}},
            {"name": "u"},
            {"name": "skipped", "verdict": "skipped", "properties": {"latency_ms": "1"}}
        ]}]});
        let b = Baseline::from_report(&doc).unwrap();
        let t = b.test("s", "t").unwrap();
        assert_eq!(t.as_json()["metrics"]["latency"], json!(0.2));
        assert_eq!(t.as_json()["metrics"]["ttft"], json!(0.05));
        let now = vec![("latency_ms".to_string(), "250.000".to_string()), ("new".into(), "1".into())];
        assert_eq!(t.changes(&now), vec![("change_latency_ms".to_string(), "+25.0%".to_string())]);
        assert!(b.test("s", "nope").is_none());
        assert!(b.test("s", "skipped").is_none(), "nothing measured to compare with");
        assert_eq!(b.test("s", "u").unwrap().as_json()["metrics"]["ttft"], Value::Null);
        assert!(Baseline::from_report(&json!({"not": "a report"})).is_none());
    }
}
