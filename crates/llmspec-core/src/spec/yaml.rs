//! YAML text → a tree of [`Node`]s that remember where they came from.
//!
//! We parse to our own tree rather than straight into typed structs so that every later stage
//! (interpolation, typed decoding, semantic checks) can point at the exact line and column of a
//! value, and so that one bad test does not hide the errors of the next one.

use super::limits;
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::{HashMap, HashSet};

pub use crate::vocab::Loc;

fn loc_of(span: Span) -> Loc {
    Loc { line: span.start.line(), col: span.start.col() + 1 }
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
///
/// The tree is bounded (see [`limits`]): nesting, node count and text after alias expansion.
/// Crossing a bound is a syntax error at the node, alias or anchor that crosses it, and parsing
/// stops there, so a hostile file costs no more than the bounds allow.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            let loc = Loc { line: e.marker().line(), col: e.marker().col() + 1 };
            // The parser has a nesting bound of its own, lower than ours for some constructs.
            let message =
                if e.info() == "recursion limit exceeded" { too_deep("this collection") } else { e.info().to_string() };
            SyntaxError { loc, message }
        })?;
        builder.push(event, span)?;
    }
    Ok(builder.root.unwrap_or(Node::new(Value::Null, Loc { line: 1, col: 1 })))
}

/// What a subtree costs: its nodes, its scalar bytes, and how many collections deep it goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    pub nodes: usize,
    pub bytes: usize,
    pub nesting: usize,
}

impl Size {
    /// Measures a tree without recursion (the tree may come from anywhere).
    pub fn of(node: &Node) -> Size {
        let mut size = Size::default();
        let mut stack = vec![(node, 0usize)];
        while let Some((n, depth)) = stack.pop() {
            size.nodes += 1;
            match &n.value {
                Value::Str { text, .. } => size.bytes += text.len(),
                Value::Seq(items) => {
                    size.nesting = size.nesting.max(depth + 1);
                    stack.extend(items.iter().map(|i| (i, depth + 1)));
                }
                Value::Map(entries) => {
                    size.nesting = size.nesting.max(depth + 1);
                    for (k, v) in entries {
                        stack.push((k, depth + 1));
                        stack.push((v, depth + 1));
                    }
                }
                _ => {}
            }
        }
        size
    }
}

/// A mapping key as compared for duplicates: `a` and `'a'` are the same key.
fn key_identity(key: &Node) -> String {
    match &key.value {
        Value::Str { text, .. } => format!("s{text}"),
        Value::Seq(_) | Value::Map(_) => format!("c{}", key.to_json()),
        _ => format!("{}{}", key.kind(), key.scalar_text()),
    }
}

struct Frame {
    node: Node,
    anchor: usize,
    /// Nodes and bytes counted before this collection began.
    nodes_before: usize,
    bytes_before: usize,
    /// Deepest nesting among the children completed so far.
    inner_nesting: usize,
    /// Mappings: the key waiting for its value, and the keys seen.
    pending_key: Option<Node>,
    keys: HashSet<String>,
    /// Mappings: what a `<<` key merges in, and where it was written among the entries. It is
    /// applied when the mapping ends, so that keys written after `<<` win too.
    merge: Option<(usize, Node)>,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, Size)>,
    root: Option<Node>,
    documents: usize,
    /// Everything built so far, aliases and stored anchors included.
    nodes: usize,
    bytes: usize,
}

impl Builder {
    fn push(&mut self, event: Event<'_>, span: Span) -> Result<(), SyntaxError> {
        let loc = loc_of(span);
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
                let size = Size { nodes: 1, bytes: text.len(), nesting: 0 };
                self.charge(size, loc, "this value")?;
                let value = if style == ScalarStyle::Plain && tag.is_none() {
                    resolve_plain(&text)
                } else {
                    Value::Str { text: text.into_owned(), plain: false }
                };
                self.complete(Node::new(value, loc), anchor, size)?;
            }
            Event::Alias(id) => {
                let size = self
                    .anchors
                    .get(&id)
                    .map(|(_, s)| *s)
                    .ok_or(SyntaxError { loc, message: "this alias names no anchor defined before it".into() })?;
                if self.stack.len() + size.nesting > limits::MAX_NESTING {
                    return Err(SyntaxError { loc, message: too_deep("this alias") });
                }
                // Counted before it is copied: the copy is what a bomb would blow up.
                self.charge(size, loc, "this alias")?;
                let node = self.anchors.get(&id).map(|(n, _)| Node { loc, ..n.clone() });
                let node =
                    node.ok_or(SyntaxError { loc, message: "this alias names no anchor defined before it".into() })?;
                self.complete(node, 0, size)?;
            }
            Event::SequenceStart(anchor, _) => self.open(Value::Seq(vec![]), anchor, loc)?,
            Event::MappingStart(anchor, _) => self.open(Value::Map(vec![]), anchor, loc)?,
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(mut frame) = self.stack.pop() {
                    frame.apply_merge();
                    let size = Size {
                        nodes: self.nodes - frame.nodes_before,
                        bytes: self.bytes - frame.bytes_before,
                        nesting: frame.inner_nesting + 1,
                    };
                    self.complete(frame.node, frame.anchor, size)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn open(&mut self, value: Value, anchor: usize, loc: Loc) -> Result<(), SyntaxError> {
        if self.stack.len() >= limits::MAX_NESTING {
            return Err(SyntaxError { loc, message: too_deep("this collection") });
        }
        let (nodes_before, bytes_before) = (self.nodes, self.bytes);
        self.charge(Size { nodes: 1, bytes: 0, nesting: 1 }, loc, "this collection")?;
        self.stack.push(Frame {
            node: Node::new(value, loc),
            anchor,
            nodes_before,
            bytes_before,
            inner_nesting: 0,
            pending_key: None,
            keys: HashSet::new(),
            merge: None,
        });
        Ok(())
    }

    /// Counts what `what` adds to the tree, refusing it when a bound is crossed.
    fn charge(&mut self, size: Size, loc: Loc, what: &str) -> Result<(), SyntaxError> {
        self.nodes = self.nodes.saturating_add(size.nodes);
        self.bytes = self.bytes.saturating_add(size.bytes);
        let expands = if what == "this alias" || what == "this anchor" { " (aliases copy what they name)" } else { "" };
        if self.nodes > limits::MAX_NODES {
            let message = format!(
                "{what} makes the file larger than {} YAML nodes{expands}; a spec file may hold at most {}",
                limits::MAX_NODES,
                limits::MAX_NODES
            );
            return Err(SyntaxError { loc, message });
        }
        if self.bytes > limits::MAX_TEXT_BYTES {
            let message = format!(
                "{what} makes the file's text longer than {} MiB{expands}; a spec file may hold at most {} MiB of text",
                limits::MAX_TEXT_BYTES >> 20,
                limits::MAX_TEXT_BYTES >> 20
            );
            return Err(SyntaxError { loc, message });
        }
        Ok(())
    }

    fn complete(&mut self, node: Node, anchor: usize, size: Size) -> Result<(), SyntaxError> {
        if anchor != 0 {
            // The anchor keeps its own copy of the node: that copy counts too.
            self.charge(size, node.loc, "this anchor")?;
            self.anchors.insert(anchor, (node.clone(), size));
        }
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        frame.inner_nesting = frame.inner_nesting.max(size.nesting);
        match &mut frame.node.value {
            Value::Seq(items) => items.push(node),
            Value::Map(entries) => match frame.pending_key.take() {
                None => frame.pending_key = Some(node),
                Some(key) if is_merge_key(&key) => {
                    if frame.merge.is_some() {
                        return Err(SyntaxError {
                            loc: key.loc,
                            message: "a second `<<` in this mapping; merge several mappings with one `<<: [*a, *b]`"
                                .into(),
                        });
                    }
                    check_merge_source(&node)?;
                    frame.merge = Some((entries.len(), node));
                }
                Some(key) => {
                    if !frame.keys.insert(key_identity(&key)) {
                        return Err(SyntaxError {
                            loc: key.loc,
                            message: format!("duplicate key `{}`", key.scalar_text()),
                        });
                    }
                    entries.push((key, node));
                }
            },
            _ => {}
        }
        Ok(())
    }
}

/// YAML 1.1's merge key: a plain `<<` (quoted, it is an ordinary key).
fn is_merge_key(key: &Node) -> bool {
    matches!(&key.value, Value::Str { text, plain: true } if text == "<<")
}

/// `<<` merges a mapping, or a list of mappings.
fn check_merge_source(node: &Node) -> Result<(), SyntaxError> {
    let wrong = match &node.value {
        Value::Map(_) => None,
        Value::Seq(items) => items.iter().find(|i| !matches!(i.value, Value::Map(_))),
        _ => Some(node),
    };
    match wrong {
        None => Ok(()),
        Some(n) => Err(SyntaxError {
            loc: n.loc,
            message: format!("`<<` merges a mapping or a list of mappings (`<<: *defaults`), not {}", n.kind()),
        }),
    }
}

impl Frame {
    /// Puts the merged entries where `<<` was written. Keys written in the mapping itself win,
    /// and among merged mappings the first one listed wins (YAML 1.1 merge semantics). Entries
    /// keep the position they were written at, inside the anchored mapping.
    fn apply_merge(&mut self) {
        let Some((at, source)) = self.merge.take() else { return };
        let sources = match source.value {
            Value::Seq(items) => items,
            other => vec![Node::new(other, source.loc)],
        };
        let mut merged = vec![];
        for source in sources {
            if let Value::Map(entries) = source.value {
                for (key, value) in entries {
                    if self.keys.insert(key_identity(&key)) {
                        merged.push((key, value));
                    }
                }
            }
        }
        if let Value::Map(entries) = &mut self.node.value {
            let at = at.min(entries.len());
            entries.splice(at..at, merged);
        }
    }
}

fn too_deep(what: &str) -> String {
    format!(
        "{what} is nested more than {} levels deep; a spec file allows at most {} levels of lists and mappings",
        limits::MAX_NESTING,
        limits::MAX_NESTING
    )
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

    fn keys(node: &Node) -> Vec<String> {
        let Value::Map(entries) = &node.value else { panic!("{node:?}") };
        entries.iter().map(|(k, _)| k.scalar_text()).collect()
    }

    #[test]
    fn merge_keys_merge_where_written_and_explicit_keys_win() {
        let text = "base: &b\n  x: 1\n  y: 2\nuse:\n  w: 0\n  <<: *b\n  y: 3\n";
        let n = parse(text).unwrap();
        let used = n.get("use").unwrap();
        assert_eq!(keys(used), ["w", "x", "y"]);
        assert_eq!(used.get("y").unwrap().value, Value::Int(3));
        // A merged value points at where it was written, in the anchored mapping.
        let x = used.get("x").unwrap();
        assert_eq!((x.value.clone(), x.loc), (Value::Int(1), Loc { line: 2, col: 6 }));
    }

    #[test]
    fn a_list_of_merged_mappings_gives_the_first_its_say() {
        let text = "a: &a { k: from-a, only_a: 1 }\nb: &b { k: from-b, only_b: 2 }\nc: { <<: [*a, *b, { k: inline, z: 3 }] }\n";
        let n = parse(text).unwrap();
        let c = n.get("c").unwrap();
        assert_eq!(keys(c), ["k", "only_a", "only_b", "z"]);
        assert_eq!(c.get("k").unwrap().as_str(), Some("from-a"));
        // Merges nest: a merged mapping may hold merged entries itself.
        let n = parse("a: &a { x: 1 }\nb: &b { <<: *a, y: 2 }\nc: { <<: *b }\n").unwrap();
        assert_eq!(keys(n.get("c").unwrap()), ["x", "y"]);
    }

    #[test]
    fn merge_keys_take_only_mappings_and_a_quoted_one_is_a_key() {
        let e = parse("a: 1\nb: { <<: text }\n").unwrap_err();
        assert!(e.message.contains("`<<` merges a mapping or a list of mappings"), "{e:?}");
        assert!(e.message.ends_with("not a string"), "{e:?}");
        assert_eq!(e.loc, Loc { line: 2, col: 10 });
        let e = parse("a: &a { x: 1 }\nb: { <<: [*a, 3] }\n").unwrap_err();
        assert!(e.message.ends_with("not an integer"), "{e:?}");
        assert_eq!(e.loc, Loc { line: 2, col: 15 });
        let e = parse("a: &a { x: 1 }\nb: { <<: *a, <<: *a }\n").unwrap_err();
        assert!(e.message.contains("a second `<<`"), "{e:?}");
        let n = parse("b: { '<<': 1, x: 2 }\n").unwrap();
        assert_eq!(keys(n.get("b").unwrap()), ["<<", "x"]);
        // Duplicates among written keys are still errors.
        let e = parse("a: &a { x: 1 }\nb: { <<: *a, y: 1, y: 2 }\n").unwrap_err();
        assert!(e.message.contains("duplicate key `y`"), "{e:?}");
    }

    #[test]
    fn keeps_quoted_numbers_as_strings() {
        let n = parse("a: '100'\nb: 100\nc: 1e3\nd: 5s\n").unwrap();
        assert!(matches!(n.get("a").unwrap().value, Value::Str { .. }));
        assert_eq!(n.get("b").unwrap().value, Value::Int(100));
        assert_eq!(n.get("c").unwrap().value, Value::Float(1000.0));
        assert!(matches!(n.get("d").unwrap().value, Value::Str { .. }));
    }

    /// "Billion laughs": each level names the previous one ten times.
    pub fn alias_bomb(levels: usize) -> String {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..levels {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        text
    }

    #[test]
    fn an_alias_bomb_stops_at_the_alias_that_crosses_the_bound() {
        let e = parse(&alias_bomb(9)).unwrap_err();
        assert!(e.message.contains("this alias makes the file larger than 250000 YAML nodes"), "{e:?}");
        // 10 + 110 + 1110 + 11110 + 111110 nodes fit; the sixth level's aliases do not.
        assert_eq!(e.loc.line, 6, "{e:?}");
    }

    #[test]
    fn a_bomb_of_long_strings_is_bounded_by_its_text() {
        let long = "x".repeat(1 << 20);
        let text = format!("a: &a {long}\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n");
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("text longer than 16 MiB"), "{e:?}");
        assert_eq!(e.loc.line, 2);
    }

    #[test]
    fn anchors_count_what_they_keep() {
        // Nested anchors each keep a copy of everything inside them.
        let open: String = (0..120).map(|i| format!("&n{i} [")).collect();
        let text = format!("{open}{}{}", vec!["x"; 5000].join(", "), "]".repeat(120));
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("this anchor makes the file larger"), "{e:?}");
    }

    #[test]
    fn deep_nesting_is_refused_before_any_stack_runs_out() {
        let block: String = (0..2000).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        for text in ["[".repeat(100_000), "{".repeat(100_000), "- ".repeat(100_000), block] {
            let e = parse(&text).unwrap_err();
            assert!(e.message.contains("nested more than 128 levels"), "{e:?}");
        }
        let ok = "[".repeat(128) + &"]".repeat(128);
        assert!(parse(&ok).is_ok());
        assert!(parse(&("[".repeat(129) + &"]".repeat(129))).is_err());
    }

    #[test]
    fn aliases_cannot_nest_deeper_than_the_limit() {
        // A 100-deep anchor used 100 levels down would be 200 deep.
        let deep = "[".repeat(100) + &"]".repeat(100);
        let text = format!("a: &d {deep}\nb: {}*d{}\n", "[".repeat(100), "]".repeat(100));
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("this alias is nested more than 128"), "{e:?}");
        assert_eq!(e.loc.line, 2);
    }

    #[test]
    fn many_keys_are_checked_for_duplicates_in_linear_time() {
        let text: String = (0..100_000).map(|i| format!("k{i}: {i}\n")).collect();
        assert!(parse(&text).is_ok());
        let e = parse("a: 1\n'a': 2\n").unwrap_err();
        assert!(e.message.contains("duplicate key `a`"), "{e:?}");
    }
}
