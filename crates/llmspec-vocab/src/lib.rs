//! The shared vocabulary: what every part of llmspec speaks of, and which imports nothing of
//! ours. Positions in spec files, comparisons and quantities (durations, rates, percentages,
//! sizes), JSON types, and text and number formatting.

pub mod compare;
pub mod random;
pub mod suggest;
pub mod text;
pub mod units;

use schemars::JsonSchema;
use serde::Deserialize;

/// A position in a spec file: 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Loc {
    pub line: usize,
    pub col: usize,
}

/// The JSON types a spec can ask for (`type: string`).
#[derive(Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    Null,
}
