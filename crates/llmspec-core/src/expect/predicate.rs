//! Predicates on one JSON value (a JSONPath result, a header, the body text).

use crate::vocab::JsonType;
use crate::vocab::compare::Comparison;
use regex::Regex;
use serde_json::Value;

/// One compiled operator; a predicate is a list of them that must all hold.
#[derive(Debug, Clone)]
pub enum Check {
    Eq(Value),
    Ne(Value),
    Num(Comparison),
    Contains(Value),
    Matches(Regex),
    Exists(bool),
    NotEmpty(bool),
    Length(Comparison),
    Type(JsonType),
    OneOf(Vec<Value>),
    Not(Box<Predicate>),
}

#[derive(Debug, Clone)]
pub struct Predicate(pub Vec<Check>);

/// Why a value did not satisfy a predicate, in the words of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub expected: String,
    pub actual: String,
}

/// Replaces `${capture}` references in a value written in the spec, when the test runs.
pub type Render<'a> = &'a dyn Fn(&Value) -> Result<Value, String>;

impl Predicate {
    /// Like [`Predicate::evaluate`], after replacing the references to captures its values
    /// hold (`eq: "${first_answer}"`).
    pub fn evaluate_with(&self, actual: Option<&Value>, render: Render<'_>) -> Result<(), Mismatch> {
        if !self.is_template() {
            return self.evaluate(actual);
        }
        match self.rendered(render) {
            Ok(p) => p.evaluate(actual),
            Err(e) => Err(Mismatch { expected: self.describe(), actual: format!("not evaluated: {e}") }),
        }
    }

    /// Whether a value written in it holds a `$`: a reference, or an escaped `$${`.
    fn is_template(&self) -> bool {
        let text = |v: &Value| v.to_string().contains('$');
        self.0.iter().any(|c| match c {
            Check::Eq(v) | Check::Ne(v) | Check::Contains(v) => text(v),
            Check::OneOf(options) => options.iter().any(text),
            Check::Not(inner) => inner.is_template(),
            _ => false,
        })
    }

    fn rendered(&self, render: Render<'_>) -> Result<Predicate, String> {
        let checks = self.0.iter().map(|c| {
            Ok(match c {
                Check::Eq(v) => Check::Eq(render(v)?),
                Check::Ne(v) => Check::Ne(render(v)?),
                Check::Contains(v) => Check::Contains(render(v)?),
                Check::OneOf(options) => Check::OneOf(options.iter().map(render).collect::<Result<_, _>>()?),
                Check::Not(inner) => Check::Not(Box::new(inner.rendered(render)?)),
                other => other.clone(),
            })
        });
        checks.collect::<Result<Vec<_>, String>>().map(Predicate)
    }

    /// `actual` is `None` when the query found nothing (or the header is absent).
    pub fn evaluate(&self, actual: Option<&Value>) -> Result<(), Mismatch> {
        for check in &self.0 {
            if !check.holds(actual) {
                return Err(Mismatch { expected: check.describe(), actual: describe_actual(actual) });
            }
        }
        Ok(())
    }

    pub fn describe(&self) -> String {
        self.0.iter().map(Check::describe).collect::<Vec<_>>().join(" and ")
    }
}

impl Check {
    fn holds(&self, actual: Option<&Value>) -> bool {
        match (self, actual) {
            (Check::Exists(want), a) => a.is_some() == *want,
            (Check::Not(inner), a) => inner.evaluate(a).is_err(),
            (Check::NotEmpty(want), a) => a.is_some_and(|v| !is_empty(v)) == *want,
            (_, None) => false,
            (Check::Eq(e), Some(a)) => json_eq(a, e),
            (Check::Ne(e), Some(a)) => !json_eq(a, e),
            (Check::Num(c), Some(a)) => a.as_f64().is_some_and(|n| c.holds(n)),
            (Check::Contains(e), Some(Value::String(s))) => e.as_str().is_some_and(|needle| s.contains(needle)),
            (Check::Contains(e), Some(Value::Array(items))) => items.iter().any(|i| json_eq(i, e)),
            (Check::Contains(_), Some(_)) => false,
            (Check::Matches(re), Some(Value::String(s))) => re.is_match(s),
            (Check::Matches(_), Some(_)) => false,
            (Check::Length(c), Some(a)) => length(a).is_some_and(|n| c.holds(n as f64)),
            (Check::Type(t), Some(a)) => type_matches(*t, a),
            (Check::OneOf(options), Some(a)) => options.iter().any(|o| json_eq(a, o)),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Check::Eq(v) => format!("== {v}"),
            Check::Ne(v) => format!("!= {v}"),
            Check::Num(c) => c.to_string(),
            Check::Contains(v) => format!("contains {v}"),
            Check::Matches(re) => format!("matches /{}/", re.as_str()),
            Check::Exists(true) => "exists".into(),
            Check::Exists(false) => "does not exist".into(),
            Check::NotEmpty(true) => "not empty".into(),
            Check::NotEmpty(false) => "empty".into(),
            Check::Length(c) => format!("length {c}"),
            Check::Type(t) => format!("of type {}", type_name(*t)),
            Check::OneOf(options) => {
                format!("one of [{}]", options.iter().map(Value::to_string).collect::<Vec<_>>().join(", "))
            }
            Check::Not(inner) => format!("not ({})", inner.describe()),
        }
    }
}

/// Numbers compare by value (1 == 1.0); everything else structurally.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn length(v: &Value) -> Option<usize> {
    match v {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(a) => Some(a.len()),
        Value::Object(o) => Some(o.len()),
        _ => None,
    }
}

fn type_matches(t: JsonType, v: &Value) -> bool {
    match t {
        JsonType::String => v.is_string(),
        JsonType::Number => v.is_number(),
        JsonType::Integer => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        JsonType::Boolean => v.is_boolean(),
        JsonType::Array => v.is_array(),
        JsonType::Object => v.is_object(),
        JsonType::Null => v.is_null(),
    }
}

fn type_name(t: JsonType) -> &'static str {
    match t {
        JsonType::String => "string",
        JsonType::Number => "number",
        JsonType::Integer => "integer",
        JsonType::Boolean => "boolean",
        JsonType::Array => "array",
        JsonType::Object => "object",
        JsonType::Null => "null",
    }
}

/// The actual value, trimmed for a report line.
pub fn describe_actual(actual: Option<&Value>) -> String {
    match actual {
        None => "nothing (no match)".into(),
        Some(v) => crate::vocab::text::trim_middle(&v.to_string(), 300),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(checks: Vec<Check>) -> Predicate {
        Predicate(checks)
    }

    #[test]
    fn each_operator() {
        let cmp = |s: &str| Comparison::parse(s).unwrap();
        let cases: Vec<(Check, Value, bool)> = vec![
            (Check::Eq(json!(1)), json!(1.0), true),
            (Check::Eq(json!("a")), json!("b"), false),
            (Check::Ne(json!("a")), json!("b"), true),
            (Check::Num(cmp("<= 100")), json!(100), true),
            (Check::Num(cmp("< 100")), json!(100), false),
            (Check::Num(cmp("> 1")), json!("2"), false),
            (Check::Contains(json!("ell")), json!("hello"), true),
            (Check::Contains(json!("stop")), json!(["stop", "length"]), true),
            (Check::Contains(json!("x")), json!(3), false),
            (Check::Matches(Regex::new("(?i)^paris$").unwrap()), json!("PARIS"), true),
            (Check::NotEmpty(true), json!(""), false),
            (Check::NotEmpty(true), json!([1]), true),
            (Check::NotEmpty(false), json!(null), true),
            (Check::Length(cmp(">= 2")), json!([1, 2]), true),
            (Check::Length(cmp("== 5")), json!("héllo"), true),
            (Check::Type(JsonType::Integer), json!(3), true),
            (Check::Type(JsonType::String), json!(3), false),
            (Check::OneOf(vec![json!("stop"), json!("length")]), json!("length"), true),
            (Check::OneOf(vec![json!("stop")]), json!("tool_calls"), false),
        ];
        for (check, value, want) in cases {
            let d = check.describe();
            assert_eq!(p(vec![check]).evaluate(Some(&value)).is_ok(), want, "{d} on {value}");
        }
    }

    #[test]
    fn absence_and_negation() {
        assert!(p(vec![Check::Exists(false)]).evaluate(None).is_ok());
        assert!(p(vec![Check::Exists(true)]).evaluate(None).is_err());
        assert!(p(vec![Check::Eq(json!(null))]).evaluate(None).is_err());
        let not_contains = Check::Not(Box::new(p(vec![Check::Contains(json!("error"))])));
        assert!(p(vec![not_contains.clone()]).evaluate(Some(&json!("fine"))).is_ok());
        let m = p(vec![not_contains]).evaluate(Some(&json!("an error"))).unwrap_err();
        assert_eq!(m.expected, "not (contains \"error\")");
        assert_eq!(m.actual, "\"an error\"");
    }

    #[test]
    fn all_operators_must_hold_and_the_first_miss_is_reported() {
        let pred = p(vec![Check::Type(JsonType::String), Check::NotEmpty(true)]);
        let m = pred.evaluate(Some(&json!(""))).unwrap_err();
        assert_eq!(m.expected, "not empty");
        assert_eq!(pred.evaluate(None).unwrap_err().actual, "nothing (no match)");
    }
}
