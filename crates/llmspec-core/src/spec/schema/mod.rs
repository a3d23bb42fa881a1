//! The editor schema of spec files, generated from the spec types.
//!
//! What the decoder accepts beyond the types (text written as a number, a number written as a
//! reference) is added here, so that the schema and `llmspec validate` agree; docs/schema.md
//! lists what a schema cannot say.

pub mod fields;
pub mod grammar;
pub mod rules;

use crate::spec::model::SuiteFile;
use serde_json::{Value, json};

/// Definitions of values that are read as JSON rather than decoded into the spec types: there a
/// number is not text.
const READ_AS_JSON: &[&str] = &["Fill"];

/// Pretty JSON, as checked in at `schemas/llmspec.schema.json`.
pub fn generate() -> String {
    serde_json::to_string_pretty(&schema()).unwrap_or_default()
}

/// The schema as a JSON value.
pub fn schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(SuiteFile)).unwrap_or_default();
    allow_references(&mut schema);
    let mut defs = schema.get_mut("$defs").map(Value::take).unwrap_or_default();
    accept_scalars_as_text(&mut schema);
    if let Some(defs) = defs.as_object_mut() {
        for (name, def) in defs.iter_mut() {
            if !READ_AS_JSON.contains(&name.as_str()) {
                accept_scalars_as_text(def);
            }
        }
        defs.insert(
            "Reference".into(),
            json!({
                "description": "A whole `${name}` or `${env.NAME:-default}` reference, replaced by a value of the right type.",
                "type": "string",
                "pattern": "^\\$\\{.+\\}$"
            }),
        );
    }
    if let Some(root) = schema.as_object_mut() {
        root.insert("$defs".into(), defs);
    }
    schema
}

/// Numbers and booleans may be written as a whole reference (`requests: "${n}"`), which
/// interpolation turns into a value of the right type before decoding.
fn allow_references(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let typed = match map.get("type") {
                Some(Value::String(t)) => matches!(t.as_str(), "integer" | "number" | "boolean"),
                Some(Value::Array(ts)) => {
                    ts.iter().any(|t| matches!(t.as_str(), Some("integer" | "number" | "boolean")))
                }
                _ => false,
            };
            if typed {
                let original = Value::Object(std::mem::take(map));
                let description = original.get("description").cloned();
                map.insert("anyOf".into(), json!([original, {"$ref": "#/$defs/Reference"}]));
                if let Some(d) = description {
                    map.insert("description".into(), d);
                }
                return;
            }
            map.values_mut().for_each(allow_references);
        }
        Value::Array(items) => items.iter_mut().for_each(allow_references),
        _ => {}
    }
}

/// Where free text is expected, a number or a boolean is read as its text (`X-Count: 5`,
/// `exec: [sleep, 1]`). Text with a grammar or a closed vocabulary keeps its type: a number is
/// never a duration, a comparison or a name.
fn accept_scalars_as_text(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let constrained = ["pattern", "enum", "const", "format"].iter().any(|k| map.contains_key(*k));
            let widened = match map.get("type") {
                Some(Value::String(t)) if t == "string" && !constrained => Some(json!(["string", "number", "boolean"])),
                Some(Value::Array(ts)) if ts.iter().any(|t| t == "string") && !constrained => {
                    let mut ts = ts.clone();
                    for scalar in ["number", "boolean"] {
                        if !ts.iter().any(|t| t == scalar) {
                            ts.push(scalar.into());
                        }
                    }
                    Some(Value::Array(ts))
                }
                _ => None,
            };
            if let Some(types) = widened {
                map.insert("type".into(), types);
            }
            map.values_mut().for_each(accept_scalars_as_text);
        }
        Value::Array(items) => items.iter_mut().for_each(accept_scalars_as_text),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::threshold::{Names, Threshold};

    /// What a test can name in its thresholds besides the built-in names.
    #[derive(Debug, Clone, Copy)]
    enum Context {
        Nothing,
        /// A soak sampling `rss_mb`.
        Samples,
        /// Steps, one recorded `as: recovery`.
        Steps,
        /// A sweep of concurrency.
        ConcurrencySweep,
        /// A sweep of rate.
        RateSweep,
    }

    fn suite_with(context: Context, threshold: &str) -> Value {
        let test = match context {
            Context::Nothing => json!({"name": "t", "load": {"requests": 2}, "request": {"GET": "http://127.0.0.1/a"}}),
            Context::Samples => json!({
                "name": "t",
                "soak": {"duration": "1h", "interval": "1s"},
                "sample": {"rss_mb": {"process": {"name": "vllm"}}},
                "request": {"GET": "http://127.0.0.1/a"}
            }),
            Context::Steps => json!({"name": "t", "steps": [{"sleep": "1s", "as": "recovery"}]}),
            Context::ConcurrencySweep => json!({
                "name": "t",
                "load": {"sweep": {"concurrency": [1, 2, 4], "requests": 10}},
                "request": {"GET": "http://127.0.0.1/a"}
            }),
            Context::RateSweep => json!({
                "name": "t",
                "load": {"sweep": {"rate": {"from": "1/s", "to": "8/s", "factor": 2}, "duration": "10s"}},
                "request": {"GET": "http://127.0.0.1/a"}
            }),
        };
        let mut test = test;
        test["expect"] = json!({"thresholds": [threshold]});
        json!({"suite": "s", "tests": [test]})
    }

    fn names(context: Context) -> Names {
        match context {
            Context::Nothing => Names::default(),
            Context::Samples => Names { samples: vec!["rss_mb".into()], ..Names::default() },
            Context::Steps => Names { steps: vec!["recovery".into()], ..Names::default() },
            Context::ConcurrencySweep => {
                Names { sweep: Some(crate::spec::plan::SweepAxis::Concurrency), ..Names::default() }
            }
            Context::RateSweep => Names { sweep: Some(crate::spec::plan::SweepAxis::Rate), ..Names::default() },
        }
    }

    /// Thresholds on which the schema must say what llmspec says, in every context but those of
    /// [`depends_on_names`]. Left out: a condition that is not CEL, which a schema cannot tell
    /// (docs/schema.md).
    const THRESHOLDS: &[&str] = &[
        "p99(latency) < 5s",
        "p99.9(ttfb) <= 1.5s",
        " p50 ( ttft ) < 1s ",
        "p99(latency)<5s",
        "mean(tokens_per_second) > 50",
        "avg(output_tokens) >= 1",
        "median(chunk_gap) < 10ms",
        "max(schedule_lag) < 1s",
        "p0(latency) >= 0s",
        "p100(latency) < 1m",
        "min(e2e) > 0us",
        "count >= 18",
        "error_rate < 0.1%",
        "error_rate < 1 %",
        "success_rate == 100%",
        "goodput > 4/s",
        "goodput > 4",
        "req_per_s >= 120/min",
        "client_cpu_s < 30s",
        "client_peak_rss_mb < 500",
        "drift(latency) < 20%",
        "drift(ttft) <= 5 %",
        "max(rss_mb) < 2000",
        "slope(rss_mb) < 50/h",
        "first(rss_mb) > 0",
        "last(rss_mb) < 1e4",
        "mean(rss_mb) < 100",
        "recovery < 30s",
        "recovery <= 2m",
        "capacity(concurrency) >= 20",
        "capacity ( concurrency )>=20",
        "capacity(rate) >= 4/s",
        "capacity(rate) > 240/min",
        "capacity(rate) >= 4",
        "capacity(concurrency) >= 4/s",
        "capacity(concurrency) >= 20%",
        "capacity(rate) >= 2s",
        "capacity(latency) >= 2",
        "p99(ttft) < 4 * p50(ttft)",
        "success_rate == 1.0 && count >= 20",
        "p99(latncy) < 5s",
        "average(latency) < 5s",
        "p101(latency) < 5s",
        "eror_rate < 1%",
        "error_rate < 0.1",
        "p99(latency) < 5",
        "p99(latency) =< 5s",
        "p99(latency)",
        "latency < 5s",
        "slope(latency) < 1/h",
        "slope(rss_mb) < 50",
        "p99(rss_mb) < 5",
        "req_per_s > 5s",
        "count < 30s",
        "client_cpu_s < 30",
        "drift(latency) < 0.2",
        "< 5s",
        "true",
        "has(count)",
    ];

    /// Right or wrong depending on the names the test gives its samples or steps, which the
    /// schema cannot compare: `slope(latency)` is right if a sample is called `latency`.
    fn depends_on_names(context: Context, text: &str) -> bool {
        matches!((context, text), (Context::Steps, "latency < 5s") | (Context::Samples, "slope(latency) < 1/h"))
    }

    #[test]
    fn thresholds_agree_with_the_parser() {
        let validator = jsonschema::validator_for(&schema()).unwrap();
        for context in
            [Context::Nothing, Context::Samples, Context::Steps, Context::ConcurrencySweep, Context::RateSweep]
        {
            for text in THRESHOLDS.iter().filter(|t| !depends_on_names(context, t)) {
                let origin = crate::expr::Origin { loc: Default::default(), plain: false };
                let parsed = Threshold::compile(text, origin, &names(context), &crate::expr::Names::default()).is_ok();
                let suite = suite_with(context, text);
                let errors: Vec<String> = validator.iter_errors(&suite).map(|e| e.to_string()).collect();
                assert_eq!(errors.is_empty(), parsed, "{context:?}: {text:?}: {errors:?}");
            }
        }
    }

    #[test]
    fn every_key_is_described() {
        fn walk(v: &Value, at: &str, missing: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::Object(properties)) = map.get("properties") {
                        for (key, property) in properties {
                            // Properties inside rules (`given`, `then`) only restate a key.
                            let restated = at.contains("allOf") || at.contains("/if") || at.contains("/then");
                            if property.get("description").is_none() && !restated {
                                missing.push(format!("{at}/{key}"));
                            }
                        }
                    }
                    for (key, value) in map {
                        walk(value, &format!("{at}/{key}"), missing);
                    }
                }
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(item, &format!("{at}/{i}"), missing);
                    }
                }
                _ => {}
            }
        }
        let mut missing = vec![];
        walk(&schema(), "", &mut missing);
        assert!(missing.is_empty(), "keys without a description: {missing:#?}");
    }
}
