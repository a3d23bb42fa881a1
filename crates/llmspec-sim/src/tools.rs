//! Tool calling: validating `tools` / `tool_choice` as vLLM does, deciding whether the
//! simulated model calls a tool, and inventing arguments that satisfy the schema.
//!
//! # When a tool is called
//!
//! * `tool_choice: "none"` (or no tools): never.
//! * a named function: that function; `finish_reason` is `"stop"`, as vLLM says.
//! * `"required"`: the first tool that matches the prompt (rule below), else the first tool.
//! * `"auto"` (the default when tools are given): only when the last message is from the
//!   user and a tool matches it. A tool matches when the message contains, ignoring case,
//!   the function's name, a part of the name of at least 4 letters (`get_weather` matches
//!   "weather"), or the name of one of its parameters (`city`); or when the message names
//!   something (a capitalised word that does not start a sentence, such as "Paris" in
//!   "Quel temps fait-il à Paris ?") and the tool takes a string argument. The first
//!   matching tool in list order wins. A last message from a tool (a result) is answered
//!   with text.
//!
//! # Arguments
//!
//! The `required` properties of the function's `parameters` are filled (all properties
//! when `required` is absent): `const` and `enum` take their (first) value; strings take
//! a capitalised word of the last user message that does not start a sentence ("What is
//! the weather in Paris?" gives "Paris"; the n-th string property takes the n-th such
//! word, cycling), else its last word, else "sim"; integers and numbers take `minimum` or
//! 0; booleans false; arrays `minItems` filled items; objects recurse; `anyOf`/`oneOf`
//! take the first branch. Arguments are rendered as Python's `json.dumps` does.

use serde_json::{Map, Value};

use super::errors::ApiError;
use super::jsonfmt;
use super::request::{Object, present};

pub(crate) struct Tool {
    pub name: String,
    pub parameters: Value,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    None,
    Auto,
    Required,
    Named(String),
}

pub(crate) struct Tools {
    pub list: Vec<Tool>,
    pub choice: ToolChoice,
}

/// The call the simulated model makes.
#[derive(Clone, Debug)]
pub(crate) struct ToolCall {
    pub name: String,
    /// The arguments JSON, as sent in `function.arguments`.
    pub arguments: String,
    /// vLLM ends a named-function call with "stop", other calls with "tool_calls".
    pub finish_reason: &'static str,
    /// vLLM gives `content: ""` with constrained (`required`/named) calls, null with auto.
    pub empty_content: bool,
}

/// Reads and checks `tools` and `tool_choice`.
pub(crate) fn parse(obj: &Object) -> Result<Tools, ApiError> {
    let list = match present(obj, "tools") {
        None => None,
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(ApiError::invalid(
                "`tools` must not be an empty array. Either provide at least one tool or omit the field entirely.",
                "tools",
                None,
            ));
        }
        Some(Value::Array(items)) => {
            Some(items.iter().enumerate().map(|(i, t)| tool(i, t)).collect::<Result<Vec<_>, _>>()?)
        }
        Some(other) => {
            return Err(ApiError::validation(
                "list_type",
                "body.tools",
                "Input should be a valid list",
                &super::errors::py_repr(other),
            ));
        }
    };
    let choice = match present(obj, "tool_choice") {
        None if list.is_some() => ToolChoice::Auto,
        None => ToolChoice::None,
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(raw) => {
            let Some(list) = &list else {
                return Err(ApiError::invalid("When using `tool_choice`, `tools` must be set.", "tool_choice", None));
            };
            named_or_mode(raw, list)?
        }
    };
    Ok(Tools { list: list.unwrap_or_default(), choice })
}

fn tool(i: usize, t: &Value) -> Result<Tool, ApiError> {
    let missing = |loc: &str| {
        ApiError::validation("missing", &format!("body.tools.{i}.{loc}"), "Field required", &super::errors::py_repr(t))
    };
    let function = t.get("function").filter(|f| f.is_object()).ok_or_else(|| missing("function"))?;
    let name = function.get("name").and_then(Value::as_str).ok_or_else(|| missing("function.name"))?;
    Ok(Tool { name: name.to_string(), parameters: function.get("parameters").cloned().unwrap_or(Value::Null) })
}

fn named_or_mode(raw: &Value, list: &[Tool]) -> Result<ToolChoice, ApiError> {
    const USAGE: &str = r#"Correct usage: `{"type": "function", "function": {"name": "my_function"}}`"#;
    match raw {
        Value::String(s) if s == "auto" => Ok(ToolChoice::Auto),
        Value::String(s) if s == "required" => Ok(ToolChoice::Required),
        Value::String(s) => Err(ApiError::invalid(
            &format!(
                r#"Invalid value for `tool_choice`: {s}! Only named tools, "none", "auto" or "required" are supported."#
            ),
            "tool_choice",
            None,
        )),
        Value::Object(o) => {
            let Some(function) = o.get("function").and_then(Value::as_object) else {
                return Err(ApiError::invalid(
                    &format!("Invalid value for `function` in `tool_choice`! {USAGE}"),
                    "tool_choice",
                    None,
                ));
            };
            let name = match function.get("name") {
                Some(Value::String(n)) if !n.is_empty() => n,
                None => {
                    return Err(ApiError::invalid(
                        &format!("Expected field `name` in `function` in `tool_choice`! {USAGE}"),
                        "tool_choice",
                        None,
                    ));
                }
                Some(other) => {
                    return Err(ApiError::invalid(
                        &format!("Invalid `name` in `function`: `{other}` in `tool_choice`! {USAGE}"),
                        "tool_choice",
                        None,
                    ));
                }
            };
            if !list.iter().any(|t| &t.name == name) {
                return Err(ApiError::invalid(
                    "The tool specified in `tool_choice` does not match any of the specified `tools`",
                    "tool_choice",
                    None,
                ));
            }
            Ok(ToolChoice::Named(name.clone()))
        }
        other => Err(ApiError::validation(
            "union_tag_invalid",
            "body.tool_choice",
            "Input should be a valid string or a named tool choice",
            &super::errors::py_repr(other),
        )),
    }
}

/// The conversation facts the decision needs.
pub(crate) struct Turn<'a> {
    /// Text of the last user message ("" when there is none).
    pub last_user_text: &'a str,
    /// Whether the conversation ends with a user message.
    pub ends_with_user: bool,
}

/// Whether and what the simulated model calls.
pub(crate) fn decide(tools: &Tools, turn: &Turn) -> Option<ToolCall> {
    let names_something = Words::new(turn.last_user_text).proper;
    let matching =
        || tools.list.iter().find(|t| mentions(turn.last_user_text, t) || (names_something && takes_text(t)));
    let (tool, finish_reason, empty_content) = match &tools.choice {
        ToolChoice::None => return None,
        ToolChoice::Named(name) => (tools.list.iter().find(|t| &t.name == name)?, "stop", true),
        ToolChoice::Required => (matching().or(tools.list.first())?, "tool_calls", true),
        ToolChoice::Auto if turn.ends_with_user => (matching()?, "tool_calls", false),
        ToolChoice::Auto => return None,
    };
    let mut words = Words::new(turn.last_user_text);
    let args = fill(&tool.parameters, &mut words, 0);
    let args = if args.is_object() { args } else { Value::Object(Map::new()) };
    Some(ToolCall { name: tool.name.clone(), arguments: jsonfmt::python_style(&args), finish_reason, empty_content })
}

/// A value that satisfies `schema`, filled by the argument rules above (strings come from
/// the words of `user_text`).
pub(crate) fn fill_schema(schema: &Value, user_text: &str) -> Value {
    fill(schema, &mut Words::new(user_text), 0)
}

fn mentions(text: &str, tool: &Tool) -> bool {
    let text = text.to_lowercase();
    let name = tool.name.to_lowercase();
    if !name.is_empty() && text.contains(&name) {
        return true;
    }
    let part_found = name.split(|c: char| !c.is_alphanumeric()).any(|p| p.chars().count() >= 4 && text.contains(p));
    let param_found = tool
        .parameters
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|props| props.keys().any(|k| !k.is_empty() && text.contains(&k.to_lowercase())));
    part_found || param_found
}

fn takes_text(tool: &Tool) -> bool {
    tool.parameters
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|props| props.values().any(|p| p.get("type").and_then(Value::as_str) == Some("string")))
}

/// Candidate values for free string properties, and the number of values still allowed
/// (nested `minItems` could otherwise ask for billions).
struct Words {
    candidates: Vec<String>,
    /// The candidates are capitalised words the message names, not a fallback.
    proper: bool,
    next: usize,
    budget: usize,
}

impl Words {
    fn new(text: &str) -> Self {
        let mut candidates = Vec::new();
        let mut last = None;
        let mut sentence_start = true;
        for raw in text.split_whitespace() {
            let word = raw.trim_matches(|c: char| !c.is_alphanumeric());
            if !word.is_empty() {
                let capital = word.chars().next().is_some_and(char::is_uppercase);
                if capital && !sentence_start && word != "I" {
                    candidates.push(word.to_string());
                }
                last = Some(word.to_string());
                sentence_start = false;
            }
            if raw.ends_with(['.', '!', '?', ':']) {
                sentence_start = true;
            }
        }
        let proper = !candidates.is_empty();
        if candidates.is_empty() {
            candidates.push(last.unwrap_or_else(|| "sim".to_string()));
        }
        Self { candidates, proper, next: 0, budget: MAX_VALUES }
    }

    fn take(&mut self) -> String {
        let w = self.candidates[self.next % self.candidates.len()].clone();
        self.next += 1;
        w
    }
}

const MAX_DEPTH: usize = 16;
const MAX_VALUES: usize = 1000;

fn fill(schema: &Value, words: &mut Words, depth: usize) -> Value {
    let Some(s) = schema.as_object() else {
        return Value::Object(Map::new());
    };
    if words.budget == 0 || depth > MAX_DEPTH {
        return Value::Null;
    }
    words.budget -= 1;
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    if let Some(first) = s.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = s.get(key).and_then(Value::as_array).and_then(|b| b.first()) {
            return fill(first, words, depth + 1);
        }
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ => "string",
    };
    match ty {
        "object" => {
            let mut out = Map::new();
            let Some(props) = s.get("properties").and_then(Value::as_object) else {
                return Value::Object(out);
            };
            let required: Option<Vec<&str>> =
                s.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect());
            for (name, prop) in props {
                if required.as_ref().is_none_or(|r| r.contains(&name.as_str())) {
                    out.insert(name.clone(), fill(prop, words, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let n = s.get("minItems").and_then(Value::as_u64).unwrap_or(0).min(16);
            let item = s.get("items").unwrap_or(&Value::Null);
            Value::Array((0..n).map(|_| fill(item, words, depth + 1)).collect())
        }
        "integer" => {
            let min = s.get("minimum").and_then(Value::as_f64).unwrap_or(0.0);
            Value::from(min.ceil().clamp(-9e15, 9e15) as i64)
        }
        "number" => {
            let min = s.get("minimum").and_then(Value::as_f64).unwrap_or(0.0);
            if min == 0.0 { Value::from(0) } else { Value::from(min) }
        }
        "boolean" => Value::Bool(false),
        "null" => Value::Null,
        _ => Value::String(words.take()),
    }
}
