//! Typed decoding of a [`Node`] tree through serde, with errors that know their line.
//!
//! The spec types derive `Deserialize` (and `JsonSchema`), so the editor schema and the parser
//! share one source of truth. Errors raised by serde carry no position; every access below
//! stamps the position of the node it was reading when the error passes through it.

use super::yaml::{Loc, Node, Value};
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub loc: Option<Loc>,
    pub message: String,
    /// What went wrong, for the decisions made on it (the message is for people).
    pub kind: DeErrorKind,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum DeErrorKind {
    /// A key or value that is not allowed there, and the allowed one it is closest to.
    Unknown { suggestion: Option<String> },
    /// A required key is absent.
    Missing(String),
    #[default]
    Other,
}

impl DeError {
    /// Whether this error already told the reader to write `key`.
    pub fn suggests(&self, key: &str) -> bool {
        matches!(&self.kind, DeErrorKind::Unknown { suggestion: Some(s) } if s == key)
    }
}

impl DeError {
    /// Stamps a position unless a deeper one is already known.
    fn at(mut self, loc: Loc) -> DeError {
        self.loc.get_or_insert(loc);
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError { loc: None, message: msg.to_string(), kind: DeErrorKind::Other }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut message = format!("unknown key `{field}`");
        let suggestion = crate::vocab::suggest::closest(field, expected.iter().copied());
        match suggestion {
            Some(best) => message.push_str(&format!("; did you mean `{best}`?")),
            None if !expected.is_empty() => message.push_str(&format!("; expected one of: {}", expected.join(", "))),
            None => {}
        }
        DeError { loc: None, message, kind: DeErrorKind::Unknown { suggestion: suggestion.map(str::to_string) } }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut message = format!("unknown value `{variant}`");
        let suggestion = crate::vocab::suggest::closest(variant, expected.iter().copied());
        match suggestion {
            Some(best) => message.push_str(&format!("; did you mean `{best}`?")),
            None => message.push_str(&format!("; expected one of: {}", expected.join(", "))),
        }
        DeError { loc: None, message, kind: DeErrorKind::Unknown { suggestion: suggestion.map(str::to_string) } }
    }

    fn missing_field(field: &'static str) -> Self {
        DeError { loc: None, message: format!("missing key `{field}`"), kind: DeErrorKind::Missing(field.to_string()) }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        // Serde's words for YAML's `~`, lists and mappings are Rust's, not the spec writer's.
        let found = match unexp {
            de::Unexpected::Unit => "null".to_string(),
            de::Unexpected::Seq => "a list".to_string(),
            de::Unexpected::Map => "a mapping".to_string(),
            other => other.to_string(),
        };
        <DeError as de::Error>::custom(format!("expected {exp}, found {found}"))
    }
}

/// Decodes a node into `T`.
pub fn from_node<'a, T: serde::Deserialize<'a>>(node: &'a Node) -> Result<T, DeError> {
    T::deserialize(node).map_err(|e| e.at(node.loc))
}

/// Decodes a node into `T`, collecting every decoding error rather than the first: after each
/// error the offending entry is set aside and decoding starts again. The value is returned
/// (without the broken entries) so later checks can report their problems too.
pub fn from_node_collecting<T: for<'a> serde::Deserialize<'a>>(node: &Node, errors: &mut Vec<DeError>) -> Option<T> {
    let mut node = node.clone();
    let mut removed: Vec<String> = vec![];
    // Each round removes one entry, so this ends; the bound only caps pathological files.
    for _ in 0..100 {
        match from_node::<T>(&node) {
            Ok(value) => return Some(value),
            Err(e) => {
                let follows_removal = matches!(&e.kind, DeErrorKind::Missing(k) if removed.contains(k));
                // `reqest` with a hint for `request` explains the missing `request` too.
                if let DeErrorKind::Unknown { suggestion: Some(hint) } = &e.kind {
                    removed.push(hint.clone());
                }
                let loc = e.loc;
                if !follows_removal {
                    errors.push(e);
                }
                match loc.and_then(|loc| remove_entry_at(&mut node, loc)) {
                    Some(key) => removed.push(key),
                    None => return None,
                }
            }
        }
    }
    None
}

/// Removes the innermost mapping entry (or list item) holding `loc`; returns its key.
fn remove_entry_at(node: &mut Node, loc: Loc) -> Option<String> {
    match &mut node.value {
        Value::Map(entries) => {
            for i in 0..entries.len() {
                if !(entries[i].0.loc == loc || contains(&entries[i].1, loc)) {
                    continue;
                }
                if let Some(key) = remove_entry_at(&mut entries[i].1, loc) {
                    return Some(key);
                }
                let (key, _) = entries.remove(i);
                return Some(key.scalar_text());
            }
            None
        }
        Value::Seq(items) => {
            let i = items.iter().position(|item| contains(item, loc))?;
            if let Some(key) = remove_entry_at(&mut items[i], loc) {
                return Some(key);
            }
            items.remove(i);
            Some(String::new())
        }
        _ => None,
    }
}

fn contains(node: &Node, loc: Loc) -> bool {
    node.loc == loc
        || match &node.value {
            Value::Map(entries) => entries.iter().any(|(k, v)| k.loc == loc || contains(v, loc)),
            Value::Seq(items) => items.iter().any(|i| contains(i, loc)),
            _ => false,
        }
}

/// A value together with the position it was written at.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub loc: Loc,
}

const SPANNED: &str = "$llmspec::Spanned";
const SPANNED_FIELDS: &[&str] = &["$line", "$col", "$value"];

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Spanned<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Spanned<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Spanned<T>, A::Error> {
                let (mut line, mut col, mut value) = (0, 0, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "$line" => line = map.next_value()?,
                        "$col" => col = map.next_value()?,
                        _ => value = Some(map.next_value()?),
                    }
                }
                let value = value.ok_or_else(|| de::Error::custom("spanned value without a value"))?;
                Ok(Spanned { value, loc: Loc { line, col } })
            }
        }
        d.deserialize_struct(SPANNED, SPANNED_FIELDS, V(std::marker::PhantomData))
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str { text, .. } => visitor.visit_borrowed_str(text),
            Value::Seq(items) => visitor.visit_seq(SeqAccess { items: items.iter() }),
            Value::Map(entries) => visitor.visit_map(MapAccess { entries: entries.iter(), value: None }),
        };
        result.map_err(|e| e.at(self.loc))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// Scalars are accepted where text is expected (`X-Count: 5` is a header value "5").
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.value {
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
                visitor.visit_string::<DeError>(self.scalar_text()).map_err(|e: DeError| e.at(self.loc))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == SPANNED {
            return visitor.visit_map(SpannedAccess { node: self, step: 0 });
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = match &self.value {
            Value::Str { text, .. } => visitor.visit_enum(text.as_str().into_deserializer()),
            Value::Map(entries) if entries.len() == 1 => {
                visitor.visit_enum(EnumAccess { key: &entries[0].0, value: &entries[0].1 })
            }
            _ => {
                Err(<DeError as de::Error>::custom(format!("expected one of the allowed names, found {}", self.kind())))
            }
        };
        result.map_err(|e| e.at(self.loc))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier
    }
}

struct SeqAccess<'de> {
    items: std::slice::Iter<'de, Node>,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'de> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(item) => seed.deserialize(item).map(Some).map_err(|e| e.at(item.loc)),
            None => Ok(None),
        }
    }
}

struct MapAccess<'de> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    value: Option<&'de Node>,
}

impl<'de> de::MapAccess<'de> for MapAccess<'de> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key).map(Some).map_err(|e| e.at(key.loc))
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let value = self.value.take().ok_or_else(|| <DeError as de::Error>::custom("a value without a key"))?;
        seed.deserialize(value).map_err(|e| e.at(value.loc))
    }
}

struct EnumAccess<'de> {
    key: &'de Node,
    value: &'de Node,
}

impl<'de> de::EnumAccess<'de> for EnumAccess<'de> {
    type Error = DeError;
    type Variant = &'de Node;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, &'de Node), DeError> {
        let variant = seed.deserialize(self.key).map_err(|e| e.at(self.key.loc))?;
        Ok((variant, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for &'de Node {
    type Error = DeError;
    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self).map_err(|e| e.at(self.loc))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

/// Feeds `Spanned<T>` its position and then its value.
struct SpannedAccess<'de> {
    node: &'de Node,
    step: usize,
}

impl<'de> de::MapAccess<'de> for SpannedAccess<'de> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some(key) = SPANNED_FIELDS.get(self.step) else {
            return Ok(None);
        };
        seed.deserialize((*key).into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        self.step += 1;
        match self.step {
            1 => seed.deserialize((self.node.loc.line as u64).into_deserializer()),
            2 => seed.deserialize((self.node.loc.col as u64).into_deserializer()),
            _ => seed.deserialize(self.node).map_err(|e| e.at(self.node.loc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml::parse;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields are only decoded")]
    struct Thing {
        name: Spanned<String>,
        count: Option<u16>,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[test]
    fn decodes_with_positions() {
        let n = parse("name: x\ncount: 3\ntags: [a, 2]\n").unwrap();
        let t: Thing = from_node(&n).unwrap();
        assert_eq!(t.name.value, "x");
        assert_eq!(t.name.loc, Loc { line: 1, col: 7 });
        assert_eq!(t.tags, vec!["a", "2"]);
    }

    #[test]
    fn unknown_keys_point_at_the_key_and_suggest() {
        let n = parse("name: x\ncuont: 3\n").unwrap();
        let e = from_node::<Thing>(&n).unwrap_err();
        assert_eq!(e.loc, Some(Loc { line: 2, col: 1 }));
        assert_eq!(e.message, "unknown key `cuont`; did you mean `count`?");
    }

    #[test]
    fn wrong_types_point_at_the_value() {
        let n = parse("name: x\ncount: lots\n").unwrap();
        let e = from_node::<Thing>(&n).unwrap_err();
        assert_eq!(e.loc, Some(Loc { line: 2, col: 8 }));
        assert!(e.message.contains("expected u16"), "{}", e.message);
        let n = parse("count: 70000\nname: x\n").unwrap();
        assert!(from_node::<Thing>(&n).is_err());
    }

    #[test]
    fn collects_every_decoding_error() {
        let n = parse("name: x\ncuont: 3\ntags: {a: 1}\ncount: many\n").unwrap();
        let mut errors = vec![];
        let t: Option<Thing> = from_node_collecting(&n, &mut errors);
        let lines: Vec<_> = errors.iter().map(|e| e.loc.unwrap().line).collect();
        assert_eq!(lines, vec![2, 3, 4], "{errors:?}");
        assert_eq!(t.unwrap().name.value, "x");
    }

    #[test]
    fn a_removed_required_key_is_not_reported_twice() {
        let n = parse("name: [1]\n").unwrap();
        let mut errors = vec![];
        let t: Option<Thing> = from_node_collecting(&n, &mut errors);
        assert!(t.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn missing_keys_point_at_the_mapping() {
        let n = parse("x:\n  count: 1\n").unwrap();
        let e = from_node::<Thing>(n.get("x").unwrap()).unwrap_err();
        assert_eq!(e.message, "missing key `name`");
        assert_eq!(e.loc, Some(Loc { line: 2, col: 3 }));
    }
}
