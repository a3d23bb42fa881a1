//! What the simulated model says for one request: how many reasoning and answer tokens
//! fit in the output budget, whether a tool call survives, and the finish reason.
//!
//! The natural answer is the fixed reasoning text (with `--reasoning`, chat only) followed
//! by either `output_tokens` words or one tool call. A tool call costs one token for its
//! name plus one per argument fragment of [`FRAGMENT_CHARS`] characters. The budget is
//! spent in that order; when it runs out the answer is cut and `finish_reason` is
//! `"length"`. A cut tool call is, like vLLM's, returned as raw text without `tool_calls`
//! in a non-streaming answer; a stream has already sent the fragments that fit.

use super::text::{self, Style};
use super::tools::ToolCall;

/// Characters of the arguments string per streamed fragment (one token each).
pub const FRAGMENT_CHARS: usize = 4;

#[derive(Clone, Debug)]
pub(crate) enum Body {
    Text {
        /// Answer tokens sent.
        emitted: u64,
        /// Length of the uncut answer (the word at `natural - 1` ends the sentence).
        natural: u64,
    },
    Tool {
        call: ToolCall,
        /// Byte offsets where the argument fragments end.
        fragment_ends: Vec<usize>,
        /// Tool tokens sent: 1 for the name, then one per fragment.
        emitted: u64,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub style: Style,
    pub reasoning: u64,
    pub body: Body,
    pub finish_reason: &'static str,
    /// A fixed answer text (structured output), sent in pieces of [`FRAGMENT_CHARS`]
    /// characters, one token each, instead of words.
    pub fixed: Option<Fixed>,
    /// Token ids the words must avoid (`logit_bias` of -100).
    pub banned: Vec<u64>,
    /// Log-probabilities asked for: the number of alternatives per token.
    pub logprobs: Option<u64>,
}

#[derive(Clone, Debug)]
pub(crate) struct Fixed {
    pub text: String,
    /// Byte offsets where the pieces end.
    pub ends: Vec<usize>,
}

impl Answer {
    pub fn plan(style: Style, reasoning: bool, output_tokens: u64, tool: Option<ToolCall>, limit: u64) -> Self {
        let natural_reasoning = if reasoning { text::REASONING.len() as u64 } else { 0 };
        let reasoning = natural_reasoning.min(limit);
        let room = limit - reasoning;
        let (body, natural_body) = match tool {
            None => (Body::Text { emitted: output_tokens.min(room), natural: output_tokens }, output_tokens),
            Some(call) => {
                let fragment_ends = fragment_ends(&call.arguments);
                let natural = 1 + fragment_ends.len() as u64;
                (Body::Tool { call, fragment_ends, emitted: natural.min(room) }, natural)
            }
        };
        let finish_reason = if natural_reasoning + natural_body > limit {
            "length"
        } else {
            match &body {
                Body::Tool { call, .. } => call.finish_reason,
                Body::Text { .. } => "stop",
            }
        };
        Self { style, reasoning, body, finish_reason, fixed: None, banned: Vec::new(), logprobs: None }
    }

    /// An answer whose text is `fixed` (for example a JSON document), cut by `limit`.
    pub fn plan_fixed(style: Style, reasoning: bool, fixed: String, limit: u64) -> Self {
        let ends = fragment_ends(&fixed);
        let mut answer = Self::plan(style, reasoning, ends.len() as u64, None, limit);
        answer.fixed = Some(Fixed { text: fixed, ends });
        answer
    }

    /// The text of answer token `i` (words, or a piece of the fixed text).
    pub fn token_text(&self, seed: u64, i: u64) -> String {
        self.text_range(seed, i..i + 1)
    }

    /// Answer tokens `range`, concatenated.
    pub fn text_range(&self, seed: u64, range: std::ops::Range<u64>) -> String {
        match (&self.fixed, &self.body) {
            (Some(f), _) => {
                let at = |k: u64| match k {
                    0 => 0,
                    k => f.ends.get(k as usize - 1).copied().unwrap_or(f.text.len()),
                };
                f.text.get(at(range.start)..at(range.end)).unwrap_or("").to_string()
            }
            (None, Body::Text { natural, .. }) => text::tokens(self.style, seed, range, *natural, &self.banned),
            (None, Body::Tool { .. }) => String::new(),
        }
    }

    pub fn completion_tokens(&self) -> u64 {
        self.reasoning
            + match &self.body {
                Body::Text { emitted, .. } | Body::Tool { emitted, .. } => *emitted,
            }
    }

    /// A tool call that fit entirely.
    pub fn complete_call(&self) -> Option<&ToolCall> {
        match &self.body {
            Body::Tool { call, fragment_ends, emitted } if *emitted == 1 + fragment_ends.len() as u64 => Some(call),
            _ => None,
        }
    }

    /// The answer text of a non-streaming reply (for a cut tool call, its raw form).
    pub fn full_text(&self, seed: u64) -> String {
        match &self.body {
            Body::Text { emitted, .. } => self.text_range(seed, 0..*emitted),
            Body::Tool { call, emitted, .. } => {
                let raw = format!(
                    "<tool_call>\n{{\"name\": \"{}\", \"arguments\": {}}}\n</tool_call>",
                    call.name, call.arguments
                );
                raw.chars().take(*emitted as usize * FRAGMENT_CHARS).collect()
            }
        }
    }

    pub fn reasoning_text(&self) -> Option<String> {
        (self.reasoning > 0).then(|| text::reasoning(0..self.reasoning))
    }
}

fn fragment_ends(arguments: &str) -> Vec<usize> {
    let mut ends = Vec::with_capacity(arguments.len() / FRAGMENT_CHARS + 1);
    let mut count = 0;
    for (i, c) in arguments.char_indices() {
        count += 1;
        if count % FRAGMENT_CHARS == 0 {
            ends.push(i + c.len_utf8());
        }
    }
    if count % FRAGMENT_CHARS != 0 || count == 0 {
        ends.push(arguments.len());
    }
    ends
}
