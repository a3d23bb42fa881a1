//! Streamed chunks → the response a non-streaming request would have got, so that the same
//! JSONPath assertions work on both.
//!
//! Content, text and reasoning deltas concatenate; tool calls merge by `index` (id, type and
//! name from the fragments that carry them, arguments concatenated); the last non-null
//! `usage` wins; `finish_reason` is the last one sent for each choice.
//!
//! What is kept is bounded, so an endless or hostile stream cannot grow it without end: text up
//! to a byte budget (every string kept counts against it: roles, ids and finish reasons too), at
//! most `MAX_CHOICES` choices and `MAX_TOOL_CALLS` tool calls in all.
//! The rest is counted, and `cut()` says what was left out.

use super::chunk::{ChoiceDelta, Chunk};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Choices kept; a request asks for `n` of them, rarely more than a few.
pub const MAX_CHOICES: usize = 1024;
/// Tool calls kept, all choices together.
pub const MAX_TOOL_CALLS: usize = 1024;

#[derive(Default)]
struct Choice {
    role: Option<String>,
    content: Option<String>,
    text: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    tool_calls: BTreeMap<u64, ToolCall>,
    finish_reason: Option<Value>,
}

#[derive(Default)]
struct ToolCall {
    id: Option<String>,
    kind: Option<String>,
    name: String,
    arguments: String,
}

/// Text kept so far against a byte budget, and what was left out.
struct Budget {
    left: usize,
    limit: usize,
    bytes_not_kept: u64,
    tool_calls: usize,
    tool_calls_not_kept: usize,
}

impl Budget {
    fn append(&mut self, slot: &mut String, text: &str) {
        let mut take = text.len().min(self.left);
        while !text.is_char_boundary(take) {
            take -= 1;
        }
        slot.push_str(&text[..take]);
        self.left -= take;
        if take < text.len() {
            // Nothing after a cut: later short deltas must not slip into the gap.
            self.left = 0;
            self.bytes_not_kept += (text.len() - take) as u64;
        }
    }

    /// Appends to an optional text, when there is text to append.
    fn append_str(&mut self, slot: &mut Option<String>, text: Option<&str>) {
        if let Some(text) = text {
            self.append(slot.get_or_insert_with(String::new), text);
        }
    }

    /// Replaces a string whose last value is the one that counts (a role, an id): only its
    /// growth is charged, and a value the budget cannot hold leaves the old one.
    fn replace(&mut self, slot: &mut Option<String>, text: &str) {
        if slot.as_deref() == Some(text) {
            return;
        }
        if self.charge_growth(slot.as_ref().map_or(0, String::len), text.len()) {
            *slot = Some(text.to_string());
        }
    }

    fn replace_value(&mut self, slot: &mut Option<Value>, value: &Value) {
        if slot.as_ref() == Some(value) {
            return;
        }
        let old = slot.as_ref().map_or(0, super::stream::heap_bytes);
        if self.charge_growth(old, super::stream::heap_bytes(value)) {
            *slot = Some(value.clone());
        }
    }

    fn charge_growth(&mut self, old: usize, new: usize) -> bool {
        let growth = new.saturating_sub(old);
        if growth > self.left {
            self.left = 0;
            self.bytes_not_kept += new as u64;
            return false;
        }
        self.left -= growth;
        true
    }
}

/// Builds the answer chunk by chunk, so a stream never needs to be held whole in memory.
pub struct Reassembler {
    head: Map<String, Value>,
    completions: bool,
    choices: BTreeMap<u64, Choice>,
    usage: Value,
    fingerprint: Option<Value>,
    /// How many `finish_reason`s each choice received (a conforming stream sends one).
    pub finish_counts: BTreeMap<u64, usize>,
    /// A chunk with a non-null `usage` arrived.
    pub usage_seen: bool,
    started: bool,
    budget: Budget,
    choices_not_kept: usize,
}

impl Default for Reassembler {
    fn default() -> Reassembler {
        Reassembler::new(super::http::MAX_ANSWER_BYTES)
    }
}

impl Reassembler {
    /// Keeps at most `max_answer_bytes` of text, all fields and choices together.
    pub fn new(max_answer_bytes: usize) -> Reassembler {
        Reassembler {
            head: Map::new(),
            completions: false,
            choices: BTreeMap::new(),
            usage: Value::Null,
            fingerprint: None,
            finish_counts: BTreeMap::new(),
            usage_seen: false,
            started: false,
            budget: Budget {
                left: max_answer_bytes,
                limit: max_answer_bytes,
                bytes_not_kept: 0,
                tool_calls: 0,
                tool_calls_not_kept: 0,
            },
            choices_not_kept: 0,
        }
    }

    /// What was left out of the answer, one sentence each; empty when it is whole.
    pub fn cut(&self) -> Vec<String> {
        let mut cut = vec![];
        if self.budget.bytes_not_kept > 0 {
            cut.push(format!(
                "the answer's text is larger than {}, the limit for a reassembled answer ({}): {} more bytes were counted, not kept",
                crate::vocab::units::format_size(self.budget.limit),
                super::http::Limit::AnswerBytes.how_set(),
                self.budget.bytes_not_kept
            ));
        }
        if self.choices_not_kept > 0 {
            cut.push(format!(
                "the stream has choices past the first {MAX_CHOICES}: {} chunks of other choices were counted, not kept",
                self.choices_not_kept
            ));
        }
        if self.budget.tool_calls_not_kept > 0 {
            cut.push(format!(
                "the stream has more than {MAX_TOOL_CALLS} tool calls: {} fragments of others were counted, not kept",
                self.budget.tool_calls_not_kept
            ));
        }
        cut
    }

    /// Adds a parsed chunk.
    pub fn absorb(&mut self, chunk: &Value) {
        self.absorb_head(chunk);
        self.absorb_chunk(&Chunk::of(chunk));
    }

    /// Whether the first chunk was seen: later ones need no tree (see [`Chunk::parse`]).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Takes the answer's id, creation time, model and kind from the first chunk.
    pub fn absorb_head(&mut self, chunk: &Value) {
        if self.started {
            return;
        }
        self.started = true;
        self.completions = chunk.get("object").and_then(Value::as_str) == Some("text_completion");
        for key in ["id", "created", "model"] {
            if let Some(v) = chunk.get(key) {
                self.head.insert(key.into(), v.clone());
            }
        }
    }

    /// Adds a chunk's usage, fingerprint and deltas.
    pub fn absorb_chunk(&mut self, chunk: &Chunk<'_>) {
        if let Some(u) = &chunk.usage {
            self.usage = u.clone().into_owned();
            self.usage_seen = true;
        }
        if let Some(f) = &chunk.system_fingerprint {
            self.fingerprint = Some(f.clone().into_owned());
        }
        for c in chunk.choices() {
            let index = c.index.unwrap_or(0);
            if !self.choices.contains_key(&index) && self.choices.len() >= MAX_CHOICES {
                self.choices_not_kept += 1;
                continue;
            }
            if c.finish_reason.is_some() {
                *self.finish_counts.entry(index).or_default() += 1;
            }
            let choice = self.choices.entry(index).or_default();
            absorb(choice, c, &mut self.budget);
        }
    }

    /// The answer in the shape a non-streaming request would have got.
    pub fn response(&self) -> Value {
        let mut out = self.head.clone();
        let choices: Vec<Value> = self.choices.iter().map(|(i, c)| render(*i, c, self.completions)).collect();
        out.insert("object".into(), json!(if self.completions { "text_completion" } else { "chat.completion" }));
        out.insert("choices".into(), Value::Array(choices));
        out.insert("usage".into(), self.usage.clone());
        if let Some(f) = &self.fingerprint {
            out.insert("system_fingerprint".into(), f.clone());
        }
        Value::Object(out)
    }
}

/// The whole list at once (tests and small streams).
pub fn reassemble(chunks: &[Value]) -> Value {
    let mut r = Reassembler::default();
    chunks.iter().for_each(|c| r.absorb(c));
    r.response()
}

/// The property a property test and a fuzzer check on any sequence of JSON chunks: reassembly
/// does not panic and keeps no more text than its budget. Returns what went wrong, if anything.
pub fn check_reassembly(chunks: &[Value], max_answer_bytes: usize) -> Result<(), String> {
    let mut r = Reassembler::new(max_answer_bytes);
    chunks.iter().for_each(|c| r.absorb(c));
    let answer = r.response();
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let kept: usize = r
        .choices
        .values()
        .map(|c| {
            [&c.content, &c.text, &c.reasoning_content, &c.reasoning, &c.role].into_iter().map(text).sum::<usize>()
                + c.tool_calls
                    .values()
                    .map(|t| t.name.len() + t.arguments.len() + text(&t.id) + text(&t.kind))
                    .sum::<usize>()
        })
        .sum();
    if kept > max_answer_bytes {
        return Err(format!("{kept} bytes of text kept, above the budget {max_answer_bytes}"));
    }
    if r.choices.len() > MAX_CHOICES || r.choices.values().map(|c| c.tool_calls.len()).sum::<usize>() > MAX_TOOL_CALLS {
        return Err("more choices or tool calls than their caps".into());
    }
    if !answer.is_object() {
        return Err(format!("the answer is not an object: {answer}"));
    }
    Ok(())
}

/// A fuzzer's entry: the bytes are JSON chunks, one per line; lines that are not JSON are
/// skipped, as the stream reader reports them instead of reassembling them. Each line is also
/// read both ways a chunk can be read, which must agree.
pub fn fuzz_one(data: &[u8]) -> Result<(), String> {
    for line in data.split(|&b| b == b'\n').filter_map(|l| std::str::from_utf8(l).ok()) {
        super::chunk::check_same_reading(line)?;
    }
    let chunks: Vec<Value> = data.split(|&b| b == b'\n').filter_map(|l| serde_json::from_slice(l).ok()).collect();
    check_reassembly(&chunks, 64)
}

/// Adds one chunk's choice.
fn absorb(choice: &mut Choice, c: &ChoiceDelta<'_>, budget: &mut Budget) {
    budget.append_str(&mut choice.text, c.text.as_deref());
    if let Some(f) = &c.finish_reason {
        budget.replace_value(&mut choice.finish_reason, f);
    }
    let Some(delta) = &c.delta else { return };
    if let Some(role) = &delta.role {
        budget.replace(&mut choice.role, role);
    }
    budget.append_str(&mut choice.content, delta.content.as_deref());
    budget.append_str(&mut choice.reasoning_content, delta.reasoning_content.as_deref());
    budget.append_str(&mut choice.reasoning, delta.reasoning.as_deref());
    for (n, tc) in delta.tool_calls.iter().flatten().enumerate() {
        let index = tc.index.unwrap_or(n as u64);
        if !choice.tool_calls.contains_key(&index) {
            if budget.tool_calls >= MAX_TOOL_CALLS {
                budget.tool_calls_not_kept += 1;
                continue;
            }
            budget.tool_calls += 1;
        }
        let call = choice.tool_calls.entry(index).or_default();
        if let Some(id) = tc.id.as_deref().filter(|s| !s.is_empty()) {
            budget.replace(&mut call.id, id);
        }
        if let Some(t) = &tc.kind {
            budget.replace(&mut call.kind, t);
        }
        // Names normally arrive whole, once; concatenating tolerates servers that split them.
        if let Some(f) = &tc.function {
            if let Some(name) = &f.name {
                budget.append(&mut call.name, name);
            }
            if let Some(args) = &f.arguments {
                budget.append(&mut call.arguments, args);
            }
        }
    }
}

fn render(index: u64, c: &Choice, completions: bool) -> Value {
    let finish = c.finish_reason.clone().unwrap_or(Value::Null);
    if completions {
        return json!({"index": index, "text": c.text.clone().unwrap_or_default(), "finish_reason": finish});
    }
    let mut message = Map::new();
    message.insert("role".into(), json!(c.role.clone().unwrap_or_else(|| "assistant".into())));
    message.insert("content".into(), c.content.clone().map_or(Value::Null, Value::String));
    if let Some(r) = &c.reasoning_content {
        message.insert("reasoning_content".into(), json!(r));
    }
    if let Some(r) = &c.reasoning {
        message.insert("reasoning".into(), json!(r));
    }
    if !c.tool_calls.is_empty() {
        let calls: Vec<Value> = c
            .tool_calls
            .values()
            .map(|t| {
                json!({
                    "id": t.id,
                    "type": t.kind.clone().unwrap_or_else(|| "function".into()),
                    "function": {"name": t.name, "arguments": t.arguments},
                })
            })
            .collect();
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    json!({"index": index, "message": Value::Object(message), "finish_reason": finish})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::chunk::carries_output;

    fn chunk(delta: Value, finish: Value) -> Value {
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    #[test]
    fn content_and_usage_as_a_non_streamed_response() {
        let chunks = vec![
            chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            chunk(json!({"content": "Hel"}), Value::Null),
            chunk(json!({"content": "lo"}), json!("stop")),
            json!({"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
        ];
        let r = reassemble(&chunks);
        assert_eq!(r["object"], "chat.completion");
        assert_eq!(r["choices"][0]["message"], json!({"role": "assistant", "content": "Hello"}));
        assert_eq!(r["choices"][0]["finish_reason"], "stop");
        assert_eq!(r["usage"]["completion_tokens"], 2);
        assert!(!carries_output(&chunks[0]));
        assert!(carries_output(&chunks[1]));
        assert!(!carries_output(&chunks[3]));
        let mut r = Reassembler::default();
        chunks.iter().for_each(|c| r.absorb(c));
        assert_eq!(r.finish_counts, BTreeMap::from([(0, 1)]));
        assert!(r.usage_seen);
    }

    #[test]
    fn tool_calls_merge_by_index() {
        let chunks = vec![
            chunk(json!({"role": "assistant"}), Value::Null),
            chunk(
                json!({"tool_calls": [{"index": 0, "id": "call-1", "type": "function", "function": {"name": "get_weather"}}]}),
                Value::Null,
            ),
            chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"ci"}}]}), Value::Null),
            chunk(
                json!({"tool_calls": [{"index": 1, "id": "call-2", "function": {"name": "other", "arguments": "{}"}}]}),
                Value::Null,
            ),
            chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "ty\": \"Paris\"}"}}]}), Value::Null),
            chunk(json!({}), json!("tool_calls")),
        ];
        let r = reassemble(&chunks);
        let calls = &r["choices"][0]["message"]["tool_calls"];
        assert_eq!(
            calls[0],
            json!({"id": "call-1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}})
        );
        assert_eq!(calls[1]["function"]["name"], "other");
        assert_eq!(r["choices"][0]["message"]["content"], Value::Null);
        assert!(carries_output(&chunks[2]));
    }

    #[test]
    fn reasoning_keeps_the_servers_field_name() {
        let chunks = vec![
            chunk(json!({"reasoning_content": "think"}), Value::Null),
            chunk(json!({"content": "answer"}), json!("stop")),
        ];
        let r = reassemble(&chunks);
        assert_eq!(r["choices"][0]["message"]["reasoning_content"], "think");
        assert!(r["choices"][0]["message"].get("reasoning").is_none());
        assert!(carries_output(&chunks[0]));
    }

    #[test]
    fn completions_chunks() {
        let chunks = vec![
            json!({"id": "x", "object": "text_completion", "choices": [{"index": 0, "text": " 4", "finish_reason": null}]}),
            json!({"id": "x", "object": "text_completion", "choices": [{"index": 0, "text": ",", "finish_reason": "length"}]}),
        ];
        let r = reassemble(&chunks);
        assert_eq!(r["choices"][0], json!({"index": 0, "text": " 4,", "finish_reason": "length"}));
        assert_eq!(r["object"], "text_completion");
    }

    #[test]
    fn choices_and_tool_calls_past_their_caps_are_counted_not_kept() {
        let mut r = Reassembler::default();
        for i in 0..(MAX_CHOICES as u64 + 5) {
            r.absorb(&json!({"choices": [{"index": i, "delta": {"content": "x"}, "finish_reason": "stop"}]}));
        }
        // Tool calls count over all choices: spread over two, the cap still holds.
        for i in 0..(MAX_TOOL_CALLS as u64 + 3) {
            let call = json!({"index": i, "function": {"name": "f"}});
            r.absorb(&json!({"choices": [{"index": i % 2, "delta": {"tool_calls": [call]}}]}));
        }
        let answer = r.response();
        let choices = answer["choices"].as_array().unwrap();
        assert_eq!(choices.len(), MAX_CHOICES);
        let calls: usize = choices.iter().filter_map(|c| c["message"]["tool_calls"].as_array()).map(Vec::len).sum();
        assert_eq!(calls, MAX_TOOL_CALLS);
        assert_eq!(r.finish_counts.len(), MAX_CHOICES);
        let cut = r.cut();
        assert!(cut.iter().any(|c| c.contains("5 chunks of other choices")), "{cut:?}");
        assert!(cut.iter().any(|c| c.contains("3 fragments")), "{cut:?}");
    }

    #[test]
    fn replaced_strings_count_against_the_budget_too() {
        // A role, an id or a finish reason is replaced rather than appended, but a hostile
        // stream could still send a large one for each of many choices.
        let mut r = Reassembler::new(100);
        for i in 0..10u64 {
            let big = "r".repeat(60);
            r.absorb(&json!({"choices": [{"index": i, "delta": {"role": big}, "finish_reason": big}]}));
        }
        let kept: usize = r.choices.values().map(|c| c.role.as_ref().map_or(0, String::len)).sum();
        assert!(kept <= 100, "{kept}");
        assert!(r.cut().iter().any(|c| c.contains("--max-answer-bytes")), "{:?}", r.cut());
        // The same role again and again costs nothing more.
        let mut r = Reassembler::new(20);
        for _ in 0..1000 {
            r.absorb(&json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}));
        }
        assert!(r.cut().is_empty(), "{:?}", r.cut());
    }
}
