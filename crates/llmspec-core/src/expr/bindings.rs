//! What expressions read, as JSON: the response, the request, the metrics, and what the run
//! knows besides (vars, captures, earlier tests, the previous run).

use crate::metrics::RequestMetrics;
use crate::metrics::catalog::MetricName;
use crate::observed::Observed;
use serde_json::{Map, Value, json};

/// `response`: status, headers (lower-case names), the JSON body, its raw text, and what the
/// model said (choice 0, streamed or not).
pub fn response(obs: &Observed) -> Value {
    let headers: Map<String, Value> = obs.headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let choice = obs.json.as_ref().and_then(|j| j.pointer("/choices/0"));
    let text_of = |pointer: &str| choice.and_then(|c| c.pointer(pointer)).and_then(Value::as_str);
    let content = text_of("/message/content").or_else(|| text_of("/text")).unwrap_or_default();
    let reasoning = text_of("/message/reasoning_content").or_else(|| text_of("/message/reasoning")).unwrap_or_default();
    let tool_calls = choice.and_then(|c| c.pointer("/message/tool_calls")).cloned().unwrap_or_else(|| json!([]));
    let events = obs.stream.as_ref().map(|s| Value::Array(s.events.clone())).unwrap_or_else(|| json!([]));
    json!({
        "status": obs.status,
        "headers": headers,
        "body": obs.json.clone().unwrap_or(Value::Null),
        "text": obs.body,
        "content": content,
        "reasoning": reasoning,
        "finish_reason": choice.and_then(|c| c.get("finish_reason")).cloned().unwrap_or(Value::Null),
        "tool_calls": tool_calls,
        "events": events,
    })
}

/// `request`: what was sent.
pub fn request(method: &str, url: &str, headers: &[(String, String)], body: Option<&Value>) -> Value {
    let headers: Map<String, Value> =
        headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone()))).collect();
    json!({"method": method, "url": url, "headers": headers, "body": body.cloned().unwrap_or(Value::Null)})
}

/// `metrics`: times in seconds; a metric that was not measured is null.
pub fn metrics(m: &RequestMetrics) -> Value {
    MetricName::ALL.iter().map(|n| (n.name().to_string(), m.get(*n).map_or(Value::Null, |v| json!(v)))).collect()
}

/// What the run knows besides the exchange in hand.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Tests whose record an expression of the suite reads: only those are kept.
    wanted: std::collections::BTreeSet<String>,
    pub vars: Map<String, Value>,
    pub captures: Map<String, Value>,
    /// Earlier tests by name: `{response, request, metrics}`.
    pub tests: Map<String, Value>,
    /// What the test being run measured in the previous run (`--baseline`); null without one.
    pub baseline: Value,
    vars_value: Value,
    captures_value: Value,
    tests_value: Value,
}

impl Known {
    /// What a suite's expressions will read: its vars, and the records of the tests they name.
    pub fn for_suite<'a>(vars: Map<String, Value>, expressions: impl Iterator<Item = &'a super::Expression>) -> Known {
        let wanted = expressions.flat_map(|e| e.tests.iter().cloned()).collect();
        let mut known = Known { wanted, vars, ..Known::default() };
        known.refresh();
        known
    }

    /// The same, with `vars` added over the suite's (an instance of a `matrix` or `data` test).
    pub fn with_vars(&self, vars: &Map<String, Value>) -> Known {
        let mut known = self.clone();
        known.vars.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        known.refresh();
        known
    }

    /// Whether an expression reads this test's record.
    pub fn wants_record(&self, test: &str) -> bool {
        self.wanted.contains(test)
    }

    /// Call after changing the maps: expressions read these snapshots.
    pub fn refresh(&mut self) {
        self.vars_value = Value::Object(self.vars.clone());
        self.captures_value = Value::Object(self.captures.clone());
        self.tests_value = Value::Object(self.tests.clone());
    }

    /// The names bound for an expression: the roots, then each var and capture by itself
    /// (a var hides a capture of the same name, as in `${name}`).
    pub fn bindings(&self) -> Vec<(&str, &Value)> {
        let mut out: Vec<(&str, &Value)> = vec![
            ("vars", &self.vars_value),
            ("captures", &self.captures_value),
            ("tests", &self.tests_value),
            ("baseline", &self.baseline),
        ];
        for (name, value) in self.captures.iter().filter(|(n, _)| !self.vars.contains_key(*n)).chain(&self.vars) {
            if !matches!(name.as_str(), "vars" | "captures" | "tests" | "baseline" | "response" | "request" | "metrics")
            {
                out.push((name, value));
            }
        }
        out
    }
}
