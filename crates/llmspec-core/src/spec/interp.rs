//! `${...}` references: `${env.NAME}`, `${env.NAME:-default}`, `${var}`, `${var:-default}`.
//!
//! Two phases. At load time every reference to the environment, to `vars`, `secrets` or
//! `--var` is replaced, and a reference to nothing is an error. References to captures (values
//! taken from an earlier response) can only be known at run time: they are checked to exist
//! at load time and stay in the request until it is sent. `$${` writes a literal `${`.

use super::fill;
use super::limits;
use super::yaml::{Node, Size, Value, resolve_plain};
use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Lit(String),
    Ref { name: String, env: bool, default: Option<String> },
}

/// Splits a string into literal text and references. `$${` is kept as a literal `${`.
pub fn parse(text: &str) -> Result<Vec<Segment>, String> {
    let mut out = vec![];
    let mut lit = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        lit.push_str(&rest[..i]);
        let after = &rest[i..];
        if after.starts_with("$${") {
            lit.push_str("${");
            rest = &after[3..];
        } else if let Some(body) = after.strip_prefix("${") {
            let end = closing_brace(body).ok_or_else(|| format!("`${{` without a closing `}}` in `{text}`"))?;
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n.trim(), Some(d.to_string())),
                None => (inner.trim(), None),
            };
            let (name, env) = match name.strip_prefix("env.") {
                Some(n) => (n, true),
                None => (name, false),
            };
            if !is_name(name) {
                return Err(format!(
                    "`${{{inner}}}` is not a reference: write `${{name}}` or `${{env.NAME:-default}}`"
                ));
            }
            if !lit.is_empty() {
                out.push(Segment::Lit(std::mem::take(&mut lit)));
            }
            out.push(Segment::Ref { name: name.to_string(), env, default });
            rest = &body[end + 1..];
        } else {
            lit.push('$');
            rest = &after[1..];
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(Segment::Lit(lit));
    }
    Ok(out)
}

/// Whether `${name}` can name this: letters, digits, `_` and `-`.
pub fn is_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The `}` closing a reference, skipping references nested in its default.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0;
    let bytes = body.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// What a reference can resolve to at load time.
pub struct Scope<'a> {
    pub vars: HashMap<String, Node>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Captures made by earlier tests: allowed, resolved at run time.
    pub captures: BTreeSet<String>,
    /// Captures made by later tests: named in a clearer error.
    pub later_captures: BTreeSet<String>,
    /// Only requests are sent late enough to use captures.
    pub allow_captures: bool,
    /// Fields of the rows a load test draws its requests from: each request takes its own
    /// row, so only `request` may use them (as captures); anywhere else they are an error.
    pub row_fields: BTreeSet<String>,
    /// What references may still add to the file, shared by every pass over it.
    pub budget: &'a Budget,
}

/// Unknown names that get a "did you mean": each is compared with every variable.
const MAX_SUGGESTIONS: usize = 10;

/// What `${...}` references may add to one file's tree, on top of what YAML built: values
/// that name other values can double at each step, so expansion is bounded like aliases are.
#[derive(Debug, Default)]
pub struct Budget {
    nodes: Cell<usize>,
    bytes: Cell<usize>,
    exhausted: Cell<bool>,
    /// Suggestions compare a name with every variable: only the first problems get one.
    suggestions: Cell<usize>,
}

impl Budget {
    fn charge(&self, nodes: usize, bytes: usize) -> Result<(), String> {
        if self.exhausted.get() {
            return Err(Budget::message());
        }
        self.nodes.set(self.nodes.get().saturating_add(nodes));
        self.bytes.set(self.bytes.get().saturating_add(bytes));
        if self.nodes.get() > limits::MAX_NODES || self.bytes.get() > limits::MAX_TEXT_BYTES {
            // Later references fail at once: each would cost work before it could be refused.
            self.exhausted.set(true);
            return Err(Budget::message());
        }
        Ok(())
    }

    fn may_suggest(&self) -> bool {
        self.suggestions.set(self.suggestions.get() + 1);
        self.suggestions.get() <= MAX_SUGGESTIONS
    }

    fn message() -> String {
        format!(
            "`${{...}}` references expand this file beyond {} nodes or {} MiB of text (values that name other values multiply); that is the most a spec file may hold",
            limits::MAX_NODES,
            limits::MAX_TEXT_BYTES >> 20
        )
    }
}

/// An interpolation error, at the node it concerns (with the byte offset of the reference).
#[derive(Debug, Clone, PartialEq)]
pub struct InterpError {
    pub node_loc: super::yaml::Loc,
    pub offset: usize,
    pub message: String,
}

impl Scope<'_> {
    /// Replaces load-time references everywhere under `node`, which sits inside `nesting`
    /// collections. With `keep_escapes`, `$${` stays as written and capture references stay,
    /// for the run-time pass.
    pub fn interpolate(&self, node: &mut Node, nesting: usize, keep_escapes: bool, errors: &mut Vec<InterpError>) {
        match &mut node.value {
            Value::Seq(items) => items.iter_mut().for_each(|n| self.interpolate(n, nesting + 1, keep_escapes, errors)),
            Value::Map(entries) => {
                for (k, v) in entries.iter_mut() {
                    self.interpolate(k, nesting + 1, keep_escapes, errors);
                    self.interpolate(v, nesting + 1, keep_escapes, errors);
                }
            }
            Value::Str { text, plain } if text.contains('$') => {
                let plain = *plain;
                match self.resolve_str(text, plain, keep_escapes, nesting, 0) {
                    Ok(Some(value)) => node.value = value,
                    Ok(None) => {}
                    Err((offset, message)) => errors.push(InterpError { node_loc: node.loc, offset, message }),
                }
            }
            _ => {}
        }
    }

    /// `defaults`: how many `:-` defaults this text is nested in.
    fn resolve_str(
        &self,
        text: &str,
        plain: bool,
        keep_escapes: bool,
        nesting: usize,
        defaults: usize,
    ) -> Result<Option<Value>, (usize, String)> {
        if defaults > limits::MAX_DEFAULT_NESTING {
            let message = format!(
                "references are nested more than {} deep in defaults (`${{a:-${{b:-...}}}}`)",
                limits::MAX_DEFAULT_NESTING
            );
            return Err((text.find("${").unwrap_or(0), message));
        }
        let segments = parse(text).map_err(|m| (text.find("${").unwrap_or(0), m))?;
        let offset_of = |name: &str| text.find(&format!("{{{name}")).map_or(0, |i| i.saturating_sub(1));
        // A string that is one reference takes the referenced value with its type (YAML forces
        // quotes inside `{ }`, so quoting cannot be what decides).
        if let [Segment::Ref { name, env, default }] = segments.as_slice() {
            let at = |m| (offset_of(name), m);
            match self.lookup(name, *env, default.as_deref()).map_err(at)? {
                Some(Resolved::Node(n)) => {
                    let size = Size::of(n);
                    if nesting + size.nesting > limits::MAX_NESTING {
                        let message = format!(
                            "`${{{name}}}` here would nest the file more than {} levels deep; a spec file allows at most {}",
                            limits::MAX_NESTING,
                            limits::MAX_NESTING
                        );
                        return Err(at(message));
                    }
                    self.budget.charge(size.nodes, size.bytes).map_err(at)?;
                    return Ok(Some(escaped(n.value.clone(), keep_escapes)));
                }
                Some(Resolved::Text(t)) => {
                    self.budget.charge(1, t.len()).map_err(at)?;
                    return Ok(Some(escaped(resolve_plain(&t), keep_escapes)));
                }
                Some(Resolved::Default(d)) if !d.contains('$') => {
                    self.budget.charge(1, d.len()).map_err(at)?;
                    return Ok(Some(resolve_plain(&d)));
                }
                Some(Resolved::Default(d)) => {
                    let resolved = self.resolve_str(&d, plain, keep_escapes, nesting, defaults + 1)?;
                    return Ok(Some(resolved.unwrap_or(Value::Str { text: d, plain: false })));
                }
                None => return Ok(None),
            }
        }
        let mut out = String::new();
        let mut runtime = false;
        for seg in &segments {
            match seg {
                Segment::Lit(l) if keep_escapes => out.push_str(&l.replace("${", "$${")),
                Segment::Lit(l) => out.push_str(l),
                Segment::Ref { name, env, default } => {
                    let at = |m| (offset_of(name), m);
                    match self.lookup(name, *env, default.as_deref()).map_err(at)? {
                        Some(Resolved::Default(d)) => {
                            match self.resolve_str(&d, false, keep_escapes, nesting, defaults + 1)? {
                                Some(value) => out.push_str(&Node::new(value, Default::default()).scalar_text()),
                                None => out.push_str(&d),
                            }
                        }
                        Some(r) => {
                            // Counted before it is written out: a collection becomes its JSON.
                            let size = r.size();
                            self.budget.charge(size.nodes, size.bytes).map_err(at)?;
                            let t = r.text();
                            self.budget.charge(0, t.len().saturating_sub(size.bytes)).map_err(at)?;
                            out.push_str(&if keep_escapes { t.replace("${", "$${") } else { t });
                        }
                        None => {
                            runtime = true;
                            out.push_str(&format!("${{{name}}}"));
                        }
                    }
                }
            }
        }
        debug_assert!(!runtime || keep_escapes);
        Ok(Some(Value::Str { text: out, plain: false }))
    }

    /// `Ok(None)`: a capture, left for run time.
    fn lookup(&self, name: &str, env: bool, default: Option<&str>) -> Result<Option<Resolved<'_>>, String> {
        if env {
            return match ((self.env)(name), default) {
                (Some(v), _) => Ok(Some(Resolved::Text(v))),
                (None, Some(d)) => Ok(Some(Resolved::Default(d.to_string()))),
                (None, None) => Err(format!(
                    "environment variable `{name}` is not set and has no default (write `${{env.{name}:-default}}`)"
                )),
            };
        }
        if let Some(node) = self.vars.get(name) {
            return Ok(Some(Resolved::Node(node)));
        }
        if self.row_fields.contains(name) {
            return Err(format!(
                "`{name}` is a field of this load test's dataset: only `request` can use it, since each request takes its own row"
            ));
        }
        if self.captures.contains(name) || self.later_captures.contains(name) {
            if !self.allow_captures {
                return Err(format!(
                    "`{name}` is a capture: write `${{{name}}}` in `request`, `expect`, `steps` or `sample`, or `{name}` in an expression"
                ));
            }
        }
        if self.captures.contains(name) {
            return Ok(None);
        }
        if let Some(d) = default {
            return Ok(Some(Resolved::Default(d.to_string())));
        }
        if self.later_captures.contains(name) {
            return Err(format!(
                "`{name}` is captured by a later test; a test can only use captures of the tests before it"
            ));
        }
        let known = self.vars.keys().chain(self.captures.iter()).map(String::as_str);
        let suggestion = if self.budget.may_suggest() { crate::vocab::suggest::closest(name, known) } else { None };
        Err(match suggestion {
            Some(best) => format!("unknown variable `{name}`; did you mean `{best}`?"),
            None => format!(
                "unknown variable `{name}`: define it under `vars:`, pass `--var {name}=...`, or capture it in an earlier test"
            ),
        })
    }
}

/// A value put where `${` will be read again at run time (a request) keeps its own `${` as
/// text: a prompt that shows a template literal must be sent as written, not taken for a
/// capture.
fn escaped(value: Value, keep_escapes: bool) -> Value {
    if !keep_escapes {
        return value;
    }
    let escape = |node: Node| Node { value: escaped(node.value, true), ..node };
    match value {
        Value::Str { text, plain } if text.contains("${") => Value::Str { text: text.replace("${", "$${"), plain },
        Value::Seq(items) => Value::Seq(items.into_iter().map(escape).collect()),
        Value::Map(entries) => Value::Map(entries.into_iter().map(|(k, v)| (escape(k), escape(v))).collect()),
        other => other,
    }
}

enum Resolved<'a> {
    Node(&'a Node),
    Text(String),
    /// A default, itself a template that may hold references.
    Default(String),
}

impl Resolved<'_> {
    fn text(&self) -> String {
        match self {
            Resolved::Node(n) => n.scalar_text(),
            Resolved::Text(t) | Resolved::Default(t) => t.clone(),
        }
    }

    fn size(&self) -> Size {
        match self {
            Resolved::Node(n) => Size::of(n),
            Resolved::Text(t) | Resolved::Default(t) => Size { nodes: 1, bytes: t.len(), nesting: 0 },
        }
    }
}

/// The run-time pass over a request value: captures are substituted and `$${` unescaped.
pub fn render(
    value: &serde_json::Value,
    captures: &HashMap<String, serde_json::Value>,
) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    if let Some(spec) = fill::spec_of(value) {
        return fill::make(&render(spec, captures)?);
    }
    Ok(match value {
        J::String(s) => render_value(s, captures)?,
        J::Array(items) => J::Array(items.iter().map(|v| render(v, captures)).collect::<Result<_, _>>()?),
        J::Object(map) => J::Object(
            map.iter()
                .map(|(k, v)| Ok((render_str(k, captures)?, render(v, captures)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// A string that is exactly one capture reference takes the captured JSON value with its type.
fn render_value(text: &str, captures: &HashMap<String, serde_json::Value>) -> Result<serde_json::Value, String> {
    if !text.contains('$') {
        return Ok(text.into());
    }
    if let [Segment::Ref { name, .. }] = parse(text)?.as_slice() {
        return captures.get(name).cloned().ok_or_else(|| missing_capture(name));
    }
    render_str(text, captures).map(Into::into)
}

pub fn render_str(text: &str, captures: &HashMap<String, serde_json::Value>) -> Result<String, String> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::new();
    for seg in parse(text)? {
        match seg {
            Segment::Lit(l) => out.push_str(&l),
            Segment::Ref { name, .. } => match captures.get(&name) {
                Some(serde_json::Value::String(s)) => out.push_str(s),
                Some(v) => out.push_str(&v.to_string()),
                None => return Err(missing_capture(&name)),
            },
        }
    }
    Ok(out)
}

fn missing_capture(name: &str) -> String {
    format!("`${{{name}}}` has no value: the test that captures `{name}` did not run to the end or did not find it")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml::parse as yaml;

    fn scope<'a>(env: &'a dyn Fn(&str) -> Option<String>) -> Scope<'a> {
        let vars = yaml("max: 100\nmodel: m1\n").unwrap();
        let Value::Map(entries) = vars.value else { panic!() };
        Scope {
            vars: entries.into_iter().map(|(k, v)| (k.scalar_text(), v)).collect(),
            env,
            captures: ["model_id".to_string()].into(),
            later_captures: ["later".to_string()].into(),
            allow_captures: true,
            row_fields: ["field".to_string()].into(),
            budget: Box::leak(Box::default()),
        }
    }

    fn run(text: &str, keep: bool) -> (Node, Vec<InterpError>) {
        let env = |n: &str| (n == "HOME_URL").then(|| "http://h:1".to_string());
        let s = scope(&env);
        let mut node = yaml(text).unwrap();
        let mut errors = vec![];
        s.interpolate(&mut node, 0, keep, &mut errors);
        (node, errors)
    }

    #[test]
    fn parses_segments() {
        assert_eq!(
            parse("a ${b} $${c} ${env.D:-x:y}").unwrap(),
            vec![
                Segment::Lit("a ".into()),
                Segment::Ref { name: "b".into(), env: false, default: None },
                Segment::Lit(" ${c} ".into()),
                Segment::Ref { name: "D".into(), env: true, default: Some("x:y".into()) },
            ]
        );
        assert!(parse("${unclosed").is_err());
        assert!(parse("${a b}").is_err());
        assert_eq!(parse("cost: $5").unwrap(), vec![Segment::Lit("cost: $5".into())]);
    }

    #[test]
    fn whole_references_keep_their_type() {
        let (n, e) = run("a: ${max}\nb: '${max}'\nc: ${env.NOPE:-64}\nd: n=${max}\n", false);
        assert!(e.is_empty());
        assert_eq!(n.get("a").unwrap().value, Value::Int(100));
        assert_eq!(n.get("b").unwrap().value, Value::Int(100));
        assert_eq!(n.get("c").unwrap().value, Value::Int(64));
        assert_eq!(n.get("d").unwrap().as_str(), Some("n=100"));
    }

    #[test]
    fn environment_and_defaults() {
        let (n, e) = run("u: ${env.HOME_URL}/v1\nk: ${env.KEY:-}\n", false);
        assert!(e.is_empty());
        assert_eq!(n.get("u").unwrap().as_str(), Some("http://h:1/v1"));
        assert_eq!(n.get("k").unwrap().value, Value::Null);
    }

    #[test]
    fn missing_variables_are_errors_never_empty_strings() {
        let (_, e) = run("a: x ${modle}\nb: ${env.MISSING}\nc: ${later}\n", false);
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].message, "unknown variable `modle`; did you mean `model`?");
        assert_eq!(e[0].offset, 2);
        assert!(e[1].message.contains("`MISSING` is not set"));
        assert!(e[2].message.contains("captured by a later test"));
    }

    #[test]
    fn defaults_may_be_references() {
        let (n, e) =
            run("a: ${env.NOPE:-${model_id}}\nb: ${env.HOME_URL:-${model_id}}\nc: x-${env.NOPE:-${max}}\n", true);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(n.get("a").unwrap().as_str(), Some("${model_id}"));
        assert_eq!(n.get("b").unwrap().as_str(), Some("http://h:1"));
        assert_eq!(n.get("c").unwrap().as_str(), Some("x-100"));
    }

    #[test]
    fn a_value_holding_a_reference_is_sent_as_written() {
        let env = |n: &str| (n == "TEMPLATE").then(|| "env ${x}".to_string());
        let mut s = scope(&env);
        s.vars.insert("code".into(), yaml("[\"const s = `${name}`\"]").unwrap());
        let mut node = yaml("a: ${code}\nb: ${env.TEMPLATE}\nc: x ${code}\n").unwrap();
        let mut errors = vec![];
        s.interpolate(&mut node, 0, true, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let sent = render(&node.to_json(), &HashMap::new()).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"a": ["const s = `${name}`"], "b": "env ${x}", "c": "x [\"const s = `${name}`\"]"})
        );
    }

    #[test]
    fn fields_of_a_load_dataset_are_for_requests_only() {
        let (_, e) = run("a: ${field}\n", false);
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("`field` is a field of this load test's dataset"), "{e:?}");
    }

    #[test]
    fn fill_sizes_a_long_prompt_at_run_time() {
        let body = serde_json::json!({"content": {"$fill": {"tokens": "${window}", "ratio": 0.5, "text": "ab"}}});
        let caps = HashMap::from([("window".to_string(), serde_json::json!(10))]);
        assert_eq!(render(&body, &caps).unwrap()["content"], "abababababababababab");
    }

    #[test]
    fn captures_stay_for_run_time() {
        let (n, e) = run("m: ${model_id}\ns: $${lit} ${model}\n", true);
        assert!(e.is_empty());
        let json = n.to_json();
        assert_eq!(json["m"], "${model_id}");
        assert_eq!(json["s"], "$${lit} m1");
        let caps = HashMap::from([("model_id".to_string(), serde_json::json!({"id": 7}))]);
        let out = render(&json, &caps).unwrap();
        assert_eq!(out["m"], serde_json::json!({"id": 7}));
        assert_eq!(out["s"], "${lit} m1");
        assert!(render(&json, &HashMap::new()).unwrap_err().contains("has no value"));
    }
}
