//! `expect.judge` as written: one rubric question put to a chat model about the answer, or a
//! list of them.

use super::super::de::Spanned;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// One judge (a mapping) or several (a list of mappings), each with its own rubric.
#[derive(Debug)]
pub enum Judges {
    One(Box<JudgeSpec>),
    Many(Vec<Spanned<JudgeSpec>>),
}

/// A question put to an OpenAI-compatible chat model about the answer: it reads the request's
/// question, the answer and the rubric, and gives a verdict `pass` or `fail` with its reasoning.
#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct JudgeSpec {
    /// What the answer must satisfy, in words: "The answer is coherent with the question and
    /// contains no invented facts."
    pub rubric: Spanned<String>,
    /// `true`: a failing verdict fails the test, and a judge that gives no verdict is an error.
    /// By default (`false`) both are warnings and the test keeps its verdict.
    #[serde(default)]
    pub strict: Option<bool>,
    /// Also require a score (0 to 1) of at least this much from the judge.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_score: Option<Spanned<f64>>,
    /// The judge's OpenAI-compatible base URL, e.g. `http://judge:8000/v1` (asked at
    /// `/chat/completions` below it, or `/v1/chat/completions` when it does not end in `/v1`).
    /// Default: the suite's base URL, the server under test, with the request's credentials.
    #[serde(default)]
    pub base_url: Option<Spanned<String>>,
    /// The judge's model (default: the `model` of the request being judged).
    #[serde(default)]
    pub model: Option<String>,
    /// Sent as `Authorization: Bearer ...` to the judge; never printed.
    #[serde(default)]
    pub api_key: Option<String>,
    /// Time allowed for the judge's answer (default: the judged request's timeout).
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Most tokens the judge may write (default 512).
    #[serde(default)]
    #[schemars(range(min = 1, max = 65536))]
    pub max_tokens: Option<Spanned<u64>>,
}

impl<'de> Deserialize<'de> for Judges {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Judges;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a judge (a mapping with `rubric`), or a list of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Judges, A::Error> {
                JudgeSpec::deserialize(de::value::MapAccessDeserializer::new(map)).map(|j| Judges::One(Box::new(j)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Judges, A::Error> {
                Vec::<Spanned<JudgeSpec>>::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Judges::Many)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Judges {
    fn schema_name() -> Cow<'static, str> {
        "Judges".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<JudgeSpec>();
        json_schema!({
            "description": "A judge (a mapping with `rubric`), or a list of judges, each asked on its own.",
            "anyOf": [one, {"type": "array", "items": one, "minItems": 1}]
        })
    }
}
