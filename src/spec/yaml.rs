//! YAML text → a tree of [`Node`]s that remember where they came from.
//!
//! We parse to our own tree rather than straight into typed structs so that every later stage
//! (interpolation, typed decoding, semantic checks) can point at the exact line and column of a
//! value, and so that one bad test does not hide the errors of the next one.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::HashMap;

/// A position in a spec file: 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Loc {
    pub line: usize,
    pub col: usize,
}

impl Loc {
    fn from_span(span: Span) -> Loc {
        Loc { line: span.start.line(), col: span.start.col() + 1 }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// `plain` is true for unquoted scalars: only those may be re-read as numbers after
    /// interpolation, and only those let us point at a column inside the text.
    Str {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub loc: Loc,
}

impl Node {
    pub fn new(value: Value, loc: Loc) -> Node {
        Node { value, loc }
    }

    pub fn str(text: impl Into<String>, loc: Loc) -> Node {
        Node::new(Value::Str { text: text.into(), plain: false }, loc)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(entries) => entries.iter_mut().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// What the value is, in the words of an error message.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str { .. } => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The value as JSON; mapping keys become strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str { text, .. } => J::String(text.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(entries.iter().map(|(k, v)| (k.scalar_text(), v.to_json())).collect()),
        }
    }

    /// A scalar as text, the way it would be written in YAML.
    pub fn scalar_text(&self) -> String {
        match &self.value {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str { text, .. } => text.clone(),
            Value::Seq(_) | Value::Map(_) => self.to_json().to_string(),
        }
    }
}

/// A YAML syntax error: where, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub loc: Loc,
    pub message: String,
}

/// Parses one YAML document. An empty file gives a null node.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| SyntaxError {
            loc: Loc { line: e.marker().line(), col: e.marker().col() + 1 },
            message: e.info().to_string(),
        })?;
        builder.push(event, span)?;
    }
    Ok(builder.root.unwrap_or(Node::new(Value::Null, Loc { line: 1, col: 1 })))
}

enum Open {
    Seq(Node, usize),
    Map(Node, usize, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
}

impl Builder {
    fn push(&mut self, event: Event<'_>, span: Span) -> Result<(), SyntaxError> {
        let loc = Loc::from_span(span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(SyntaxError {
                        loc,
                        message: "a spec file holds one YAML document; split this one into two files".into(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = if style == ScalarStyle::Plain && tag.is_none() {
                    resolve_plain(&text)
                } else {
                    Value::Str { text: text.into_owned(), plain: false }
                };
                self.complete(Node::new(value, loc), anchor)?;
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or(SyntaxError { loc, message: "this alias names no anchor defined before it".into() })?;
                self.complete(Node { loc, ..node }, 0)?;
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open::Seq(Node::new(Value::Seq(vec![]), loc), anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Map(Node::new(Value::Map(vec![]), loc), anchor, None))
            }
            Event::SequenceEnd => {
                if let Some(Open::Seq(node, anchor)) = self.stack.pop() {
                    self.complete(node, anchor)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Open::Map(node, anchor, _)) = self.stack.pop() {
                    self.complete(node, anchor)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(seq, _)) => {
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Open::Map(map, _, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if let Value::Map(entries) = &mut map.value {
                        if entries.iter().any(|(k, _)| k.value == key.value) {
                            return Err(SyntaxError {
                                loc: key.loc,
                                message: format!("duplicate key `{}`", key.scalar_text()),
                            });
                        }
                        entries.push((key, node));
                    }
                }
            },
        }
        Ok(())
    }
}

/// YAML 1.2 core-schema resolution of an unquoted scalar.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | "+.inf" => return Value::Float(f64::INFINITY),
        "-.inf" => return Value::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let numeric = text.trim_start_matches(['-', '+']);
    if !numeric.is_empty() && numeric.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Int(i);
        }
    }
    let looks_float = numeric.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && numeric.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && numeric.bytes().any(|b| b.is_ascii_digit());
    if looks_float {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str { text: text.to_string(), plain: true }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_located_tree() {
        let n = parse("a: 1\nb:\n  - x\n  - 'y'\n  - 2.5\nc: true\nd: ~\n").unwrap();
        assert_eq!(n.get("a").unwrap().value, Value::Int(1));
        let b = n.get("b").unwrap();
        assert_eq!(b.loc, Loc { line: 3, col: 3 });
        let Value::Seq(items) = &b.value else { panic!() };
        assert_eq!(items[0].value, Value::Str { text: "x".into(), plain: true });
        assert_eq!(items[1].value, Value::Str { text: "y".into(), plain: false });
        assert_eq!(items[2].value, Value::Float(2.5));
        assert_eq!(n.get("c").unwrap().value, Value::Bool(true));
        assert_eq!(n.get("d").unwrap().value, Value::Null);
    }

    #[test]
    fn reports_duplicate_keys_where_they_are() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.loc, Loc { line: 3, col: 1 });
        assert!(e.message.contains("duplicate key `a`"));
    }

    #[test]
    fn reports_syntax_errors_with_a_position() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.loc.line >= 1, "{e:?}");
    }

    #[test]
    fn resolves_anchors() {
        let n = parse("base: &b {x: 1}\nuse: *b\n").unwrap();
        assert_eq!(n.get("use").unwrap().get("x").unwrap().value, Value::Int(1));
    }

    #[test]
    fn keeps_quoted_numbers_as_strings() {
        let n = parse("a: '100'\nb: 100\nc: 1e3\nd: 5s\n").unwrap();
        assert!(matches!(n.get("a").unwrap().value, Value::Str { .. }));
        assert_eq!(n.get("b").unwrap().value, Value::Int(100));
        assert_eq!(n.get("c").unwrap().value, Value::Float(1000.0));
        assert!(matches!(n.get("d").unwrap().value, Value::Str { .. }));
    }
}
