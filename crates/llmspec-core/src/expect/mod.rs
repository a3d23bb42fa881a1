//! Expectations: pure functions from (what the spec expects, what was observed) to failures.

pub mod judge;
mod miss;
pub mod predicate;
pub mod schema;
pub mod stream;
pub mod threshold;
pub mod tools;

use crate::expr::bindings::{self, Known};
use crate::metrics::RequestMetrics;
use crate::observed::Observed;
use crate::vocab::Loc;
use crate::vocab::compare::Comparison;
use crate::vocab::text::trim_middle;
use predicate::{Predicate, Render, describe_actual};
use serde_json_path::JsonPath;

/// A check that did not hold: which kind, where it is written, on what, and the two values.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub check: Check,
    pub loc: Loc,
    pub subject: String,
    pub expected: String,
    pub actual: String,
}

/// The kinds of check a failure comes from. Decisions are made on this, never on the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Status,
    Header,
    Json,
    Body,
    /// `expect.latency`.
    Latency,
    /// `expect.metrics` (TTFT, TPOT, tokens/s, ...).
    Metric,
    Stream,
    /// `stream.max_gap`: a bound on time, like latency and metrics.
    StreamGap,
    Events,
    ToolCall,
    Schema,
    /// A capture that found nothing.
    Capture,
    /// The requests of a load test, counted.
    Requests,
    Threshold,
    /// A lifecycle step (`exec`, `wait_until`).
    Step,
    /// An `expect.that` condition.
    That,
    /// A rubric question put to a chat model (`expect.judge`).
    Judge,
}

impl Check {
    pub const ALL: [Check; 17] = [
        Check::Status,
        Check::Header,
        Check::Json,
        Check::Body,
        Check::Latency,
        Check::Metric,
        Check::Stream,
        Check::StreamGap,
        Check::Events,
        Check::ToolCall,
        Check::Schema,
        Check::Capture,
        Check::Requests,
        Check::Threshold,
        Check::Step,
        Check::That,
        Check::Judge,
    ];

    /// The check a `--json` result names.
    pub fn from_name(name: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The name in `--json` results.
    pub fn name(self) -> &'static str {
        match self {
            Check::Status => "status",
            Check::Header => "header",
            Check::Json => "json",
            Check::Body => "body",
            Check::Latency => "latency",
            Check::Metric => "metric",
            Check::Stream => "stream",
            Check::StreamGap => "stream_gap",
            Check::Events => "events",
            Check::ToolCall => "tool_call",
            Check::Schema => "schema",
            Check::Capture => "capture",
            Check::Requests => "requests",
            Check::Threshold => "threshold",
            Check::Step => "step",
            Check::That => "that",
            Check::Judge => "judge",
        }
    }

    /// A bound on speed rather than on correctness: a request that only misses these is slow,
    /// not failed.
    pub fn is_bound(self) -> bool {
        matches!(self, Check::Latency | Check::Metric | Check::StreamGap)
    }
}

#[derive(Debug, Default)]
pub struct ExpectPlan {
    pub status: Option<(Loc, Vec<u16>)>,
    pub headers: Vec<HeaderCheck>,
    pub json: Vec<JsonCheck>,
    pub body: Option<(Loc, Predicate)>,
    pub latency: Option<(Loc, Comparison)>,
    pub metrics: Vec<stream::MetricBound>,
    pub stream: Option<stream::StreamCheck>,
    /// JSONPath checks on the list of streamed events.
    pub events: Vec<JsonCheck>,
    pub tool_call: Option<tools::ToolCallCheck>,
    pub no_tool_call: Option<Loc>,
    pub schema: Vec<schema::SchemaCheck>,
    /// `expect.that`: conditions that must be true.
    pub that: Vec<crate::expr::Expression>,
}

#[derive(Debug)]
pub struct HeaderCheck {
    pub loc: Loc,
    pub name: String,
    pub predicate: Predicate,
}

#[derive(Debug)]
pub struct JsonCheck {
    pub loc: Loc,
    pub query: JsonQuery,
    pub predicate: Predicate,
}

impl JsonCheck {
    /// The failure, if what the query selects in `root` does not satisfy the predicate;
    /// `subject` names it from the query text.
    pub fn check(
        &self,
        root: &serde_json::Value,
        render: Render<'_>,
        subject: impl FnOnce(&str) -> String,
    ) -> Option<Failure> {
        let found = self.query.select(root);
        let m = self.predicate.evaluate_with(found.as_ref(), render).err()?;
        let actual = match found.as_ref().map_or_else(|| self.query.explain_miss(root), |_| None) {
            Some(why) => format!("nothing (no match: {why})"),
            None => m.actual,
        };
        Some(Failure {
            check: Check::Json,
            loc: self.loc,
            subject: subject(&self.query.text),
            expected: m.expected,
            actual,
        })
    }
}

/// A compiled RFC 9535 query. A singular query (`$.a.b[0]`) yields its one value; any other
/// (`$.choices[*].index`) yields the list of all matches.
#[derive(Debug)]
pub struct JsonQuery {
    pub text: String,
    path: JsonPath,
    singular: bool,
}

impl JsonQuery {
    pub fn compile(text: &str) -> Result<JsonQuery, String> {
        let path = JsonPath::parse(text).map_err(|e| format!("invalid JSONPath `{text}`: {e}"))?;
        let singular = !text.contains(['*', '?', ':', ',']) && !text.contains("..");
        Ok(JsonQuery { text: text.to_string(), path, singular })
    }

    /// Where a singular query that found nothing stopped matching, and the key probably meant.
    pub fn explain_miss(&self, value: &serde_json::Value) -> Option<String> {
        if self.singular { miss::explain(&self.text, value) } else { None }
    }

    pub fn select(&self, value: &serde_json::Value) -> Option<serde_json::Value> {
        let nodes = self.path.query(value);
        if self.singular {
            nodes.first().cloned()
        } else {
            Some(serde_json::Value::Array(nodes.all().into_iter().cloned().collect()))
        }
    }
}

impl ExpectPlan {
    /// `request` is the JSON body that was sent: tool-call checks read its `tools`. `known`
    /// and `sent` (the whole request) are what `that` conditions read besides the answer.
    pub fn evaluate(
        &self,
        obs: &Observed,
        metrics: &RequestMetrics,
        request: Option<&serde_json::Value>,
        known: &Known,
        sent: &serde_json::Value,
        render: Render<'_>,
    ) -> Vec<Failure> {
        let mut failures = vec![];
        if !self.that.is_empty() {
            let (response, measured) = (bindings::response(obs), bindings::metrics(metrics));
            let mut scope = known.bindings();
            scope.extend([("response", &response), ("request", sent), ("metrics", &measured)]);
            for condition in &self.that {
                if condition.reads.contains("baseline") && known.baseline.is_null() {
                    continue;
                }
                let nothing_measured = |_: &_| Err("nothing is measured here".to_string());
                let actual = match condition.holds(&scope, &nothing_measured) {
                    Ok(true) => continue,
                    Ok(false) => match condition.sides(&scope, &nothing_measured) {
                        Some(sides) => format!("false: {sides}"),
                        None => "false".to_string(),
                    },
                    Err(e) => format!("not evaluated: {e}"),
                };
                failures.push(Failure {
                    check: Check::That,
                    loc: condition.loc,
                    subject: condition.text.clone(),
                    expected: "true".into(),
                    actual,
                });
            }
        }
        if let Some((loc, codes)) = &self.status {
            if !codes.contains(&obs.status) {
                let expected = match codes.as_slice() {
                    [one] => one.to_string(),
                    many => format!("one of {many:?}"),
                };
                failures.push(Failure {
                    check: Check::Status,
                    loc: *loc,
                    subject: "status".into(),
                    expected,
                    actual: obs.status.to_string(),
                });
            }
        }
        for check in &self.headers {
            let actual = obs.header(&check.name).map(|v| serde_json::Value::String(v.to_string()));
            if let Err(m) = check.predicate.evaluate_with(actual.as_ref(), render) {
                failures.push(Failure {
                    check: Check::Header,
                    loc: check.loc,
                    subject: format!("header {}", check.name),
                    expected: m.expected,
                    actual: m.actual,
                });
            }
        }
        for check in &self.json {
            let Some(json) = &obs.json else {
                let why = obs.json_error.as_deref().unwrap_or("the body is empty");
                failures.push(Failure {
                    check: Check::Json,
                    loc: check.loc,
                    subject: check.query.text.clone(),
                    expected: format!("a JSON body where {} is {}", check.query.text, check.predicate.describe()),
                    actual: format!("a body that is not JSON ({why}): {}", trim_middle(&obs.body, 200)),
                });
                continue;
            };
            failures.extend(check.check(json, render, |q| q.to_string()));
        }
        if let Some((loc, predicate)) = &self.body {
            let body = serde_json::Value::String(obs.body.clone());
            if let Err(m) = predicate.evaluate_with(Some(&body), render) {
                failures.push(Failure {
                    check: Check::Body,
                    loc: *loc,
                    subject: "body".into(),
                    expected: m.expected,
                    actual: m.actual,
                });
            }
        }
        if let Some((loc, bound)) = &self.latency {
            if !bound.holds_for(obs.latency) {
                failures.push(Failure {
                    check: Check::Latency,
                    loc: *loc,
                    subject: "latency".into(),
                    expected: bound.to_string(),
                    actual: bound.format_value(obs.latency.as_secs_f64()),
                });
            }
        }
        for bound in &self.metrics {
            failures.extend(bound.evaluate(metrics));
        }
        if let Some(check) = &self.stream {
            check.evaluate(obs, metrics, &mut failures);
        }
        if !self.events.is_empty() {
            let events = serde_json::Value::Array(obs.stream.as_ref().map(|s| s.events.clone()).unwrap_or_default());
            let events = self.events.iter().filter_map(|c| c.check(&events, render, |q| format!("events {q}")));
            failures.extend(events.map(|f| Failure { check: Check::Events, ..f }));
        }
        if let Some(check) = &self.tool_call {
            failures.extend(check.evaluate(obs.json.as_ref(), request, render));
        }
        if let Some(loc) = self.no_tool_call {
            failures.extend(tools::no_tool_call(loc, obs.json.as_ref()));
        }
        for check in &self.schema {
            if let Err((expected, actual)) = check.evaluate(obs.json.as_ref()) {
                failures.push(Failure {
                    check: Check::Schema,
                    loc: check.loc,
                    subject: format!("schema {}", check.at.text),
                    expected,
                    actual,
                });
            }
        }
        failures
    }
}

/// Describes a value found by a query, for captures and messages.
pub fn describe(value: Option<&serde_json::Value>) -> String {
    describe_actual(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use predicate::Check;
    use serde_json::json;
    use std::time::Duration;

    fn observed(status: u16, body: serde_json::Value) -> Observed {
        Observed {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
            json: Some(body),
            latency: Duration::from_millis(1500),
            ..Observed::default()
        }
    }

    fn at(line: usize) -> Loc {
        Loc { line, col: 1 }
    }

    #[test]
    fn reports_every_failed_check_with_both_values() {
        let plan = ExpectPlan {
            status: Some((at(1), vec![200])),
            headers: vec![HeaderCheck {
                loc: at(2),
                name: "content-type".into(),
                predicate: Predicate(vec![Check::Contains(json!("json"))]),
            }],
            json: vec![
                JsonCheck {
                    loc: at(3),
                    query: JsonQuery::compile("$.choices[0].finish_reason").unwrap(),
                    predicate: Predicate(vec![Check::Eq(json!("stop"))]),
                },
                JsonCheck {
                    loc: at(4),
                    query: JsonQuery::compile("$.choices[*].index").unwrap(),
                    predicate: Predicate(vec![Check::Eq(json!([0, 1]))]),
                },
            ],
            latency: Some((at(5), Comparison::parse("< 1s").unwrap())),
            ..ExpectPlan::default()
        };
        let body = json!({"choices": [{"index": 0, "finish_reason": "length"}, {"index": 1}]});
        let obs = observed(404, body);
        let failures =
            plan.evaluate(&obs, &RequestMetrics::of(&obs), None, &Known::default(), &serde_json::Value::Null, &|v| {
                Ok(v.clone())
            });
        let summary: Vec<_> =
            failures.iter().map(|f| (f.loc.line, f.subject.as_str(), f.expected.as_str(), f.actual.as_str())).collect();
        assert_eq!(
            summary,
            vec![
                (1, "status", "200", "404"),
                (3, "$.choices[0].finish_reason", "== \"stop\"", "\"length\""),
                (5, "latency", "< 1.00s", "1.50s"),
            ]
        );
    }

    #[test]
    fn json_checks_on_a_non_json_body_say_so() {
        let plan = ExpectPlan {
            json: vec![JsonCheck {
                loc: at(1),
                query: JsonQuery::compile("$.a").unwrap(),
                predicate: Predicate(vec![Check::Exists(true)]),
            }],
            ..ExpectPlan::default()
        };
        let obs = Observed {
            status: 200,
            body: "<html>".into(),
            json_error: Some("expected value at line 1 column 1".into()),
            ..Observed::default()
        };
        let f =
            plan.evaluate(&obs, &RequestMetrics::default(), None, &Known::default(), &serde_json::Value::Null, &|v| {
                Ok(v.clone())
            });
        assert!(f[0].actual.starts_with("a body that is not JSON (expected value"), "{}", f[0].actual);
    }

    #[test]
    fn queries_compile_or_explain() {
        assert!(JsonQuery::compile("$.choices[?@.index == 0").unwrap_err().contains("invalid JSONPath"));
        let q = JsonQuery::compile("$.data[0].id").unwrap();
        assert_eq!(q.select(&json!({"data": [{"id": "m"}]})), Some(json!("m")));
        assert_eq!(q.select(&json!({"data": []})), None);
    }
}
