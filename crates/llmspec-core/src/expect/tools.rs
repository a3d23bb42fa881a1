//! Tool-call checks, the same on streamed (reassembled) and non-streamed answers.

use super::schema::Schema;
use super::{Check, Failure, JsonCheck};
use crate::vocab::Loc;
use serde_json::Value;

#[derive(Debug)]
pub struct ToolCallCheck {
    pub loc: Loc,
    /// The tool that must be called; any tool when absent.
    pub name: Option<String>,
    /// Validate the arguments against the request's `tools[].function.parameters`.
    pub match_schema: bool,
    pub arguments: Vec<JsonCheck>,
}

/// The tool calls of the first choice.
fn calls(response: Option<&Value>) -> Vec<&Value> {
    response
        .and_then(|r| r.pointer("/choices/0/message/tool_calls"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn name_of(call: &Value) -> &str {
    call.pointer("/function/name").and_then(Value::as_str).unwrap_or("")
}

fn names(calls: &[&Value]) -> String {
    if calls.is_empty() {
        return "no tool call".into();
    }
    calls
        .iter()
        .map(|c| format!("{}({})", name_of(c), c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("")))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn no_tool_call(loc: Loc, response: Option<&Value>) -> Option<Failure> {
    let calls = calls(response);
    (!calls.is_empty()).then(|| Failure {
        check: Check::ToolCall,
        loc,
        subject: "tool calls".into(),
        expected: "no tool call".into(),
        actual: names(&calls),
    })
}

impl ToolCallCheck {
    pub fn evaluate(&self, response: Option<&Value>, request: Option<&Value>) -> Vec<Failure> {
        let fail = |expected: String, actual: String| Failure {
            check: Check::ToolCall,
            loc: self.loc,
            subject: "tool call".into(),
            expected,
            actual,
        };
        let calls = calls(response);
        let wanted = self.name.as_deref();
        let Some(call) = calls.iter().find(|c| wanted.is_none_or(|w| name_of(c) == w)) else {
            let expected = wanted.map_or("a tool call".to_string(), |w| format!("a call of `{w}`"));
            let content = response.and_then(|r| r.pointer("/choices/0/message/content")).filter(|c| !c.is_null());
            let actual = match content {
                Some(c) if calls.is_empty() => {
                    format!("no tool call; content {}", crate::vocab::text::trim_middle(&c.to_string(), 200))
                }
                _ => names(&calls),
            };
            return vec![fail(expected, actual)];
        };
        let name = name_of(call);
        let raw = call.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("");
        // An empty string is how some servers say "no arguments".
        let parsed = if raw.trim().is_empty() {
            Ok(Value::Object(Default::default()))
        } else {
            serde_json::from_str::<Value>(raw)
        };
        let args = match parsed {
            Ok(v) => v,
            Err(e) => return vec![fail(format!("`{name}` arguments that parse as JSON"), format!("{raw} ({e})"))],
        };
        let mut failures = vec![];
        if self.match_schema {
            match parameters(request, name) {
                None => failures.push(fail(
                    format!("`{name}` among the request's tools, with `parameters`"),
                    "no such tool in the request".into(),
                )),
                Some(schema) => match Schema::compile(schema) {
                    Err(e) => failures.push(fail(format!("a valid `parameters` schema for `{name}`"), e)),
                    Ok(s) => {
                        let v = s.violations(&args);
                        if !v.is_empty() {
                            failures.push(fail(
                                format!("`{name}` arguments valid against its `parameters`"),
                                format!("{raw} — {}", v.join("; ")),
                            ));
                        }
                    }
                },
            }
        }
        for check in &self.arguments {
            if let Some(f) = check.check(&args, |q| format!("`{name}` argument {q}")) {
                failures.push(Failure {
                    check: Check::ToolCall,
                    actual: format!("{} (arguments: {raw})", f.actual),
                    ..f
                });
            }
        }
        failures
    }
}

/// The JSON Schema of a tool's parameters, from the request body.
fn parameters<'a>(request: Option<&'a Value>, name: &str) -> Option<&'a Value> {
    request?
        .get("tools")?
        .as_array()?
        .iter()
        .find(|t| t.pointer("/function/name").and_then(Value::as_str) == Some(name))?
        .pointer("/function/parameters")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expect::JsonQuery;
    use crate::expect::predicate::{Check, Predicate};
    use serde_json::json;

    fn response(args: &str) -> Value {
        json!({"choices": [{"message": {"tool_calls": [{"id": "1", "type": "function", "function": {"name": "get_weather", "arguments": args}}]}}]})
    }

    fn request() -> Value {
        json!({"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}]})
    }

    fn check(name: Option<&str>, args: Vec<JsonCheck>) -> ToolCallCheck {
        ToolCallCheck { loc: Loc { line: 1, col: 1 }, name: name.map(Into::into), match_schema: true, arguments: args }
    }

    #[test]
    fn a_right_call_passes() {
        let city = JsonCheck {
            loc: Loc { line: 2, col: 1 },
            query: JsonQuery::compile("$.city").unwrap(),
            predicate: Predicate(vec![Check::Matches(regex::Regex::new("(?i)paris").unwrap())]),
        };
        let f =
            check(Some("get_weather"), vec![city]).evaluate(Some(&response(r#"{"city": "Paris"}"#)), Some(&request()));
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn schema_errors_show_the_arguments_and_the_path() {
        let f = check(Some("get_weather"), vec![]).evaluate(Some(&response(r#"{"unit": "kelvin"}"#)), Some(&request()));
        assert_eq!(f.len(), 1);
        assert!(f[0].actual.contains(r#"{"unit": "kelvin"}"#), "{}", f[0].actual);
        assert!(f[0].actual.contains("at /unit"), "{}", f[0].actual);
        assert!(f[0].actual.contains("city"), "{}", f[0].actual);
    }

    #[test]
    fn wrong_name_bad_json_and_no_call() {
        let f = check(Some("search"), vec![]).evaluate(Some(&response("{}")), Some(&request()));
        assert_eq!((f[0].expected.as_str(), f[0].actual.as_str()), ("a call of `search`", "get_weather({})"));
        let f = check(None, vec![]).evaluate(Some(&response("{city")), Some(&request()));
        assert!(f[0].expected.contains("parse as JSON"));
        let text = json!({"choices": [{"message": {"content": "It is sunny"}}]});
        let f = check(None, vec![]).evaluate(Some(&text), Some(&request()));
        assert!(f[0].actual.starts_with("no tool call; content \"It is sunny\""), "{}", f[0].actual);
        assert!(no_tool_call(Loc::default(), Some(&text)).is_none());
        assert!(no_tool_call(Loc::default(), Some(&response("{}"))).is_some());
    }
}
