//! Tool-call checks, the same on streamed (reassembled) and non-streamed answers.

use super::predicate::Render;
use super::schema::Schema;
use super::{Check, Failure, JsonCheck};
use crate::vocab::Loc;
use serde_json::Value;

#[derive(Debug)]
pub struct ToolCallCheck {
    pub loc: Loc,
    /// The tool that must be called; any tool when absent.
    pub name: Option<String>,
    /// Which of the calls are judged.
    pub selection: Selection,
    /// Validate the arguments against the request's `tools[].function.parameters`.
    pub match_schema: bool,
    pub arguments: Vec<JsonCheck>,
}

/// Which calls of the first choice a check judges, in the order of the answer (for a streamed
/// answer, the order of the calls' `index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Selection {
    /// The first call of the wanted tool (the first call when any tool will do); the others
    /// are not looked at.
    #[default]
    First,
    /// At least one call of the wanted tool passes every check.
    Any,
    /// Every call is of the wanted tool and passes every check.
    All,
    /// The call at this position (0 is the first).
    Index(usize),
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
    pub fn evaluate(&self, response: Option<&Value>, request: Option<&Value>, render: Render<'_>) -> Vec<Failure> {
        let calls = calls(response);
        let wanted = self.name.as_deref();
        let is_wanted = |call: &Value| wanted.is_none_or(|w| name_of(call) == w);
        let a_call = || wanted.map_or("a tool call".to_string(), |w| format!("a call of `{w}`"));
        match self.selection {
            Selection::First => match calls.iter().find(|c| is_wanted(c)) {
                Some(call) => self.judge(call, None, request, render),
                None => vec![self.fail(None, a_call(), missing(&calls, response))],
            },
            Selection::Index(i) => match calls.get(i) {
                Some(call) if is_wanted(call) => self.judge(call, Some(i), request, render),
                _ => {
                    let actual = format!("{} ({})", names(&calls), count(calls.len()));
                    vec![self.fail(Some(i), format!("{} at index {i}", a_call()), actual)]
                }
            },
            Selection::Any => {
                let candidates: Vec<(usize, &&Value)> =
                    calls.iter().enumerate().filter(|(_, c)| is_wanted(c)).collect();
                if candidates.is_empty() {
                    return vec![self.fail(None, a_call(), missing(&calls, response))];
                }
                let judged: Vec<Vec<Failure>> =
                    candidates.iter().map(|(i, call)| self.judge(call, Some(*i), request, render)).collect();
                if judged.iter().any(Vec::is_empty) {
                    return vec![];
                }
                let summary = Failure {
                    subject: "tool calls".into(),
                    ..self.fail(
                        None,
                        format!("{} that passes every check (select: any)", a_call()),
                        format!("none of {} did: {}", count(candidates.len()), names(&calls)),
                    )
                };
                std::iter::once(summary).chain(judged.into_iter().flatten()).collect()
            }
            Selection::All => {
                if calls.is_empty() {
                    return vec![self.fail(None, a_call(), missing(&calls, response))];
                }
                let judge = |(i, call): (usize, &&Value)| {
                    if is_wanted(call) {
                        self.judge(call, Some(i), request, render)
                    } else {
                        vec![self.fail(Some(i), a_call(), names(&[*call]))]
                    }
                };
                calls.iter().enumerate().flat_map(judge).collect()
            }
        }
    }

    /// A failure of this check; `position` names the call when several may be judged.
    fn fail(&self, position: Option<usize>, expected: String, actual: String) -> Failure {
        Failure { check: Check::ToolCall, loc: self.loc, subject: label(position, "tool call"), expected, actual }
    }

    /// Every check on one call: its arguments parse, match the tool's schema, satisfy the
    /// argument checks.
    fn judge(
        &self,
        call: &Value,
        position: Option<usize>,
        request: Option<&Value>,
        render: Render<'_>,
    ) -> Vec<Failure> {
        let fail = |expected: String, actual: String| self.fail(position, expected, actual);
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
            if let Some(f) = check.check(&args, render, |q| label(position, &format!("`{name}` argument {q}"))) {
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

/// `what`, preceded by the call's position when one is given (`tool call 1: ...`).
fn label(position: Option<usize>, what: &str) -> String {
    match position {
        None => what.to_string(),
        Some(i) if what == "tool call" => format!("tool call {i}"),
        Some(i) => format!("tool call {i}: {what}"),
    }
}

fn count(n: usize) -> String {
    if n == 1 { "1 call".into() } else { format!("{n} calls") }
}

/// What the answer holds instead of the wanted call: its calls, or its text when it has none.
fn missing(calls: &[&Value], response: Option<&Value>) -> String {
    let content = response.and_then(|r| r.pointer("/choices/0/message/content")).filter(|c| !c.is_null());
    match content {
        Some(c) if calls.is_empty() => {
            format!("no tool call; content {}", crate::vocab::text::trim_middle(&c.to_string(), 200))
        }
        _ => names(calls),
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
        ToolCallCheck {
            loc: Loc { line: 1, col: 1 },
            name: name.map(Into::into),
            selection: Selection::First,
            match_schema: true,
            arguments: args,
        }
    }

    /// An answer calling `get_time()`, then `get_weather` for Lyon, then for Paris.
    fn three_calls() -> Value {
        let call = |name: &str, args: &str| json!({"type": "function", "function": {"name": name, "arguments": args}});
        json!({"choices": [{"message": {"tool_calls": [
            call("get_time", "{}"),
            call("get_weather", r#"{"city": "Lyon"}"#),
            call("get_weather", r#"{"city": "Paris"}"#),
        ]}}]})
    }

    fn paris(name: Option<&str>, selection: Selection) -> ToolCallCheck {
        let city = JsonCheck {
            loc: Loc { line: 2, col: 1 },
            query: JsonQuery::compile("$.city").unwrap(),
            predicate: Predicate(vec![Check::Eq(json!("Paris"))]),
        };
        ToolCallCheck { selection, match_schema: false, ..check(name, vec![city]) }
    }

    fn subjects(failures: &[Failure]) -> Vec<(&str, &str)> {
        failures.iter().map(|f| (f.subject.as_str(), f.actual.as_str())).collect()
    }

    #[test]
    fn by_default_the_first_call_of_the_tool_is_judged_and_the_others_ignored() {
        let f = paris(Some("get_weather"), Selection::First).evaluate(Some(&three_calls()), None, &|v| Ok(v.clone()));
        assert_eq!(subjects(&f), [("`get_weather` argument $.city", r#""Lyon" (arguments: {"city": "Lyon"})"#)]);
        // Without a name, the first call of all.
        let f = paris(None, Selection::First).evaluate(Some(&three_calls()), None, &|v| Ok(v.clone()));
        assert_eq!(
            subjects(&f),
            [(
                "`get_time` argument $.city",
                "nothing (no match: $ is an empty mapping, with no key `city`) (arguments: {})"
            )]
        );
    }

    #[test]
    fn any_passes_when_one_call_of_the_tool_passes() {
        assert!(
            paris(Some("get_weather"), Selection::Any)
                .evaluate(Some(&three_calls()), None, &|v| Ok(v.clone()))
                .is_empty()
        );
        let only_lyon = json!({"choices": [{"message": {"tool_calls": [three_calls()["choices"][0]["message"]["tool_calls"][1]]}}]});
        let f = paris(Some("get_weather"), Selection::Any).evaluate(Some(&only_lyon), None, &|v| Ok(v.clone()));
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(
            (f[0].subject.as_str(), f[0].expected.as_str()),
            ("tool calls", "a call of `get_weather` that passes every check (select: any)")
        );
        assert_eq!(f[1].subject, "tool call 0: `get_weather` argument $.city");
        let f = paris(Some("search"), Selection::Any).evaluate(Some(&three_calls()), None, &|v| Ok(v.clone()));
        assert_eq!(f[0].expected, "a call of `search`");
    }

    #[test]
    fn all_judges_every_call_and_names_each_one_that_fails() {
        let f = paris(Some("get_weather"), Selection::All).evaluate(Some(&three_calls()), None, &|v| Ok(v.clone()));
        assert_eq!(
            subjects(&f),
            [
                ("tool call 0", "get_time({})"),
                ("tool call 1: `get_weather` argument $.city", r#""Lyon" (arguments: {"city": "Lyon"})"#),
            ]
        );
        assert_eq!(f[0].expected, "a call of `get_weather`");
    }

    #[test]
    fn index_judges_the_call_at_its_position() {
        assert!(
            paris(Some("get_weather"), Selection::Index(2))
                .evaluate(Some(&three_calls()), None, &|v| Ok(v.clone()))
                .is_empty()
        );
        let f = paris(None, Selection::Index(1)).evaluate(Some(&three_calls()), None, &|v| Ok(v.clone()));
        assert_eq!(
            subjects(&f),
            [("tool call 1: `get_weather` argument $.city", r#""Lyon" (arguments: {"city": "Lyon"})"#)]
        );
        let f =
            paris(Some("get_weather"), Selection::Index(0)).evaluate(Some(&three_calls()), None, &|v| Ok(v.clone()));
        assert_eq!(f[0].expected, "a call of `get_weather` at index 0");
        let f = paris(None, Selection::Index(5)).evaluate(Some(&three_calls()), None, &|v| Ok(v.clone()));
        assert_eq!(f[0].expected, "a tool call at index 5");
        assert!(f[0].actual.ends_with("(3 calls)"), "{}", f[0].actual);
    }

    #[test]
    fn a_right_call_passes() {
        let city = JsonCheck {
            loc: Loc { line: 2, col: 1 },
            query: JsonQuery::compile("$.city").unwrap(),
            predicate: Predicate(vec![Check::Matches(regex::Regex::new("(?i)paris").unwrap())]),
        };
        let f = check(Some("get_weather"), vec![city]).evaluate(
            Some(&response(r#"{"city": "Paris"}"#)),
            Some(&request()),
            &|v| Ok(v.clone()),
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn schema_errors_show_the_arguments_and_the_path() {
        let f = check(Some("get_weather"), vec![]).evaluate(
            Some(&response(r#"{"unit": "kelvin"}"#)),
            Some(&request()),
            &|v| Ok(v.clone()),
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].actual.contains(r#"{"unit": "kelvin"}"#), "{}", f[0].actual);
        assert!(f[0].actual.contains("at /unit"), "{}", f[0].actual);
        assert!(f[0].actual.contains("city"), "{}", f[0].actual);
    }

    #[test]
    fn wrong_name_bad_json_and_no_call() {
        let f = check(Some("search"), vec![]).evaluate(Some(&response("{}")), Some(&request()), &|v| Ok(v.clone()));
        assert_eq!((f[0].expected.as_str(), f[0].actual.as_str()), ("a call of `search`", "get_weather({})"));
        let f = check(None, vec![]).evaluate(Some(&response("{city")), Some(&request()), &|v| Ok(v.clone()));
        assert!(f[0].expected.contains("parse as JSON"));
        let text = json!({"choices": [{"message": {"content": "It is sunny"}}]});
        let f = check(None, vec![]).evaluate(Some(&text), Some(&request()), &|v| Ok(v.clone()));
        assert!(f[0].actual.starts_with("no tool call; content \"It is sunny\""), "{}", f[0].actual);
        assert!(no_tool_call(Loc::default(), Some(&text)).is_none());
        assert!(no_tool_call(Loc::default(), Some(&response("{}"))).is_some());
    }
}
