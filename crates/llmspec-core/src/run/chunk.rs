//! One streamed chunk, as much of it as the reader uses: each choice's deltas, the usage, the
//! fingerprint, and whether it carries an error.
//!
//! Two ways in, one shape out, so that reassembly has a single definition:
//! - [`Chunk::parse`] reads the event's JSON text straight into these fields. The text of a
//!   delta points into the event (no tree, no copy unless it holds escapes), and members the
//!   reader does not use are skipped without being built. It is the path of the millions of
//!   chunks a load test reads, and it is strict: a member of an unexpected type or a repeated
//!   key fails it.
//! - [`Chunk::of`] reads an already parsed tree leniently, as servers are read everywhere else:
//!   a member of the wrong type is ignored. It serves every chunk the strict path refuses, and
//!   every chunk whose tree is needed anyway (kept events, errors, the first chunk's head).
//!
//! For any chunk the strict path accepts, both give the same `Chunk`; a property test and the
//! fuzzer check it ([`check_same_reading`]).

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::borrow::Cow;
use std::marker::PhantomData;

// Every member may be missing (`default`), and the fields borrow from the event's text
// (`'de: 'a`).
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, bound(deserialize = "'de: 'a"))]
pub struct Chunk<'a> {
    #[serde(deserialize_with = "objects")]
    pub choices: Option<Vec<ChoiceDelta<'a>>>,
    /// Only a non-null one.
    pub usage: Option<Cow<'a, Value>>,
    pub system_fingerprint: Option<Cow<'a, Value>>,
    /// The chunk has an `error` member, whatever its value.
    #[serde(deserialize_with = "present")]
    pub error: bool,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, bound(deserialize = "'de: 'a"))]
pub struct ChoiceDelta<'a> {
    pub index: Option<u64>,
    /// Legacy completions stream their text here.
    pub text: Option<Text<'a>>,
    pub finish_reason: Option<Cow<'a, Value>>,
    #[serde(deserialize_with = "object")]
    pub delta: Option<Delta<'a>>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, bound(deserialize = "'de: 'a"))]
pub struct Delta<'a> {
    pub role: Option<Text<'a>>,
    pub content: Option<Text<'a>>,
    pub reasoning_content: Option<Text<'a>>,
    pub reasoning: Option<Text<'a>>,
    #[serde(deserialize_with = "objects")]
    pub tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, bound(deserialize = "'de: 'a"))]
pub struct ToolCallDelta<'a> {
    pub index: Option<u64>,
    pub id: Option<Text<'a>>,
    #[serde(rename = "type")]
    pub kind: Option<Text<'a>>,
    #[serde(deserialize_with = "object")]
    pub function: Option<FunctionDelta<'a>>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default, bound(deserialize = "'de: 'a"))]
pub struct FunctionDelta<'a> {
    pub name: Option<Text<'a>>,
    pub arguments: Option<Text<'a>>,
}

/// A string of the event, borrowed from its text when it holds no escape. (serde's `Cow<str>`
/// is always a copy unless it is a field of its own: inside an `Option` it copies.)
#[derive(Debug, Clone, PartialEq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text<'a>, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(Visit)
    }
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// A JSON object read into `T`. A derived struct also accepts an array of its fields in order,
/// which the lenient reading does not: refusing it keeps the two readings the same.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Object<T>, D::Error> {
        struct Visit<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Visit<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        deserializer.deserialize_map(Visit(PhantomData)).map(Object)
    }
}

fn object<'de, T: Deserialize<'de>, D: Deserializer<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    Ok(Option::<Object<T>>::deserialize(deserializer)?.map(|Object(o)| o))
}

fn objects<'de, T: Deserialize<'de>, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<T>>, D::Error> {
    Ok(Option::<Vec<Object<T>>>::deserialize(deserializer)?.map(|all| all.into_iter().map(|Object(o)| o).collect()))
}

impl<'a> Chunk<'a> {
    /// The strict reading of an event's text; `None` when it is not JSON or not of the usual
    /// shape (then read it with [`Chunk::of`]).
    pub fn parse(text: &'a str) -> Option<Chunk<'a>> {
        serde_json::from_str::<Object<Chunk<'a>>>(text).ok().map(|Object(chunk)| chunk)
    }

    /// The lenient reading of a parsed chunk.
    pub fn of(chunk: &'a Value) -> Chunk<'a> {
        Chunk {
            choices: chunk.get("choices").and_then(Value::as_array).map(|c| c.iter().map(ChoiceDelta::of).collect()),
            usage: non_null(chunk.get("usage")),
            system_fingerprint: non_null(chunk.get("system_fingerprint")),
            error: chunk.get("error").is_some(),
        }
    }

    pub fn choices(&self) -> &[ChoiceDelta<'a>] {
        self.choices.as_deref().unwrap_or_default()
    }

    /// True when the chunk carries generated output: content, text, reasoning or a tool-call
    /// delta. A role-only first chunk does not.
    pub fn carries_output(&self) -> bool {
        let non_empty = |s: &Option<Text<'_>>| s.as_deref().is_some_and(|s| !s.is_empty());
        self.choices().iter().any(|c| {
            non_empty(&c.text)
                || c.delta.as_ref().is_some_and(|d| {
                    non_empty(&d.content)
                        || non_empty(&d.reasoning_content)
                        || non_empty(&d.reasoning)
                        || d.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
                })
        })
    }
}

/// [`Chunk::carries_output`] of a parsed chunk.
pub fn carries_output(chunk: &Value) -> bool {
    Chunk::of(chunk).carries_output()
}

impl<'a> ChoiceDelta<'a> {
    fn of(choice: &'a Value) -> ChoiceDelta<'a> {
        ChoiceDelta {
            index: choice.get("index").and_then(Value::as_u64),
            text: text(choice.get("text")),
            finish_reason: non_null(choice.get("finish_reason")),
            delta: choice.get("delta").filter(|d| d.is_object()).map(Delta::of),
        }
    }
}

impl<'a> Delta<'a> {
    fn of(delta: &'a Value) -> Delta<'a> {
        Delta {
            role: text(delta.get("role")),
            content: text(delta.get("content")),
            reasoning_content: text(delta.get("reasoning_content")),
            reasoning: text(delta.get("reasoning")),
            tool_calls: delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .map(|calls| calls.iter().map(ToolCallDelta::of).collect()),
        }
    }
}

impl<'a> ToolCallDelta<'a> {
    fn of(call: &'a Value) -> ToolCallDelta<'a> {
        ToolCallDelta {
            index: call.get("index").and_then(Value::as_u64),
            id: text(call.get("id")),
            kind: text(call.get("type")),
            function: call
                .get("function")
                .filter(|f| f.is_object())
                .map(|f| FunctionDelta { name: text(f.get("name")), arguments: text(f.get("arguments")) }),
        }
    }
}

fn text(value: Option<&Value>) -> Option<Text<'_>> {
    value.and_then(Value::as_str).map(|s| Text(Cow::Borrowed(s)))
}

fn non_null(value: Option<&Value>) -> Option<Cow<'_, Value>> {
    value.filter(|v| !v.is_null()).map(Cow::Borrowed)
}

/// The property the fast path rests on: when the strict reading accepts a text, it says what the
/// lenient reading of the same text says. Returns the difference, if any.
pub fn check_same_reading(text: &str) -> Result<(), String> {
    let (Some(strict), Ok(tree)) = (Chunk::parse(text), serde_json::from_str::<Value>(text)) else { return Ok(()) };
    let lenient = Chunk::of(&tree);
    if strict == lenient { Ok(()) } else { Err(format!("{text}: strict {strict:?}, lenient {lenient:?}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_usual_chunk_is_read_without_copying_its_text() {
        let text = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hello"},"logprobs":null,"finish_reason":null}]}"#;
        let chunk = Chunk::parse(text).unwrap();
        let content = chunk.choices()[0].delta.as_ref().unwrap().content.as_ref().unwrap();
        assert!(matches!(content.0, Cow::Borrowed("hello")));
        assert!(chunk.carries_output() && !chunk.error);
        check_same_reading(text).unwrap();
    }

    #[test]
    fn unusual_shapes_are_refused_by_the_strict_reading_and_read_leniently() {
        for text in [
            r#"{"choices":[{"delta":{"content":5}}]}"#,
            r#"{"choices":[{"index":-1,"delta":{"content":"a"}}]}"#,
            r#"{"choices":[7]}"#,
            r#"{"choices":[{"delta":{"tool_calls":["x"]}}]}"#,
            r#"[null,false]"#,
            r#"{"choices":[[0,"text"]]}"#,
            r#"{"choices":[],"choices":[{"delta":{"content":"a"}}]}"#,
        ] {
            assert!(Chunk::parse(text).is_none(), "{text}");
            let tree: Value = serde_json::from_str(text).unwrap();
            let _ = Chunk::of(&tree).carries_output();
        }
    }

    #[test]
    fn an_error_member_is_seen_even_when_null() {
        assert!(Chunk::parse(r#"{"error":null}"#).unwrap().error);
        assert!(Chunk::of(&serde_json::json!({"error": null})).error);
        check_same_reading(r#"{"error":null,"usage":null,"choices":null}"#).unwrap();
    }
}
