//! The simulated model's words and its token arithmetic.
//!
//! # Token counting
//!
//! Specs size prompts with these rules, so they are part of the contract:
//!
//! * a text costs `ceil(chars / 4)` tokens, where `chars` counts Unicode scalar values
//!   (the empty text costs 0);
//! * a chat prompt costs [`CHAT_OVERHEAD`] (2) plus, for every message,
//!   [`MESSAGE_OVERHEAD`] (4) + the cost of its text. A message's text is its string
//!   `content`, or the concatenation of the `text` of its `{"type":"text"}` parts; other
//!   parts cost nothing. An assistant message's `tool_calls` add the cost of each
//!   function's name and of its arguments string. When `tools` are given, the compact
//!   JSON of the `tools` array adds its cost once;
//! * a completion prompt costs [`COMPLETION_OVERHEAD`] (1, like vLLM's `<bos>`) plus the
//!   cost of the text; a prompt given as token ids costs one token per id;
//! * the answer is one word per token, so `completion_tokens` is the number of words
//!   sent (reasoning words included), and `total_tokens = prompt_tokens + completion_tokens`.
//!
//! # Answer text
//!
//! Words come from a fixed list, picked by a hash of the prompt and the word's position,
//! so equal prompts get equal answers. A chat answer starts with a capital and no
//! leading space; a completion's tokens all start with a space (as vLLM's completions
//! continue a prompt). The word that ends the natural answer carries a full stop, so a
//! text cut by `max_tokens` never ends with one.

pub const CHAT_OVERHEAD: u64 = 2;
pub const MESSAGE_OVERHEAD: u64 = 4;
pub const COMPLETION_OVERHEAD: u64 = 1;

/// The fixed reasoning text, one token per entry.
pub const REASONING: [&str; 8] = ["The", " user", " wants", " a", " short", " answer", " now", "."];

const WORDS: [&str; 64] = [
    "the", "model", "answers", "with", "a", "steady", "stream", "of", "plain", "words", "that", "follow", "one",
    "another", "in", "order", "and", "each", "word", "is", "chosen", "from", "small", "list", "so", "tests", "can",
    "count", "them", "while", "server", "keeps", "time", "for", "every", "chunk", "it", "sends", "back", "to",
    "client", "which", "reads", "line", "by", "until", "done", "arrives", "some", "data", "moves", "quickly", "other",
    "parts", "wait", "calm", "river", "light", "stone", "green", "field", "open", "sky", "north",
];

/// Tokens of a text: `ceil(chars / 4)`.
pub fn text_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// FNV-1a, stable across runs and platforms (unlike the std hasher).
#[derive(Clone, Copy, Debug)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so that ("ab","c") and ("a","bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The seed of choice `index` of an answer whose prompt hashed to `prompt_seed`.
pub fn choice_seed(prompt_seed: u64, index: u32) -> u64 {
    splitmix(prompt_seed ^ u64::from(index).wrapping_mul(0x9e37_79b9))
}

/// The vocabulary size reported in errors; token ids run from 0 to `VOCAB_SIZE - 1`.
pub const VOCAB_SIZE: u64 = 262_144;
/// Ids below this are special tokens (`<bos>` is 2).
const FIRST_TEXT_ID: u64 = 1000;
pub const BOS_ID: u64 = 2;

/// The id of a piece of text: a hash of its trimmed, lower-cased form, so that "the",
/// " the" and "The" share an id. A word of the answer has the id of the word itself.
pub fn token_id(piece: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(piece.trim().to_lowercase().as_bytes());
    FIRST_TEXT_ID + h.finish() % (VOCAB_SIZE - FIRST_TEXT_ID)
}

/// The pieces a text is counted as: runs of 4 characters (the last may be shorter).
pub fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / 4 + 1);
    let mut start = 0;
    for (n, (i, _)) in text.char_indices().enumerate() {
        if n > 0 && n % 4 == 0 {
            out.push(&text[start..i]);
            start = i;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Word `i` of the answer seeded `seed`, skipping words whose id is in `banned`
/// (unless every word is banned).
fn word(seed: u64, i: u64, banned: &[u64]) -> &'static str {
    let mut x = splitmix(seed.wrapping_add(i));
    for _ in 0..4 * WORDS.len() {
        let w = WORDS[(x % WORDS.len() as u64) as usize];
        if banned.is_empty() || !banned.contains(&token_id(w)) {
            return w;
        }
        x = splitmix(x);
    }
    WORDS[(splitmix(seed.wrapping_add(i)) % WORDS.len() as u64) as usize]
}

/// A deterministic log-probability in (-3, 0] for token `i` of choice `seed`.
pub fn logprob(seed: u64, i: u64) -> f64 {
    let x = splitmix(seed ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d)) % 3000;
    -(x as f64) / 1000.0
}

/// `k` alternatives for position `i`: the sampled token first (greedy), then other words
/// with decreasing, lower log-probabilities.
pub fn alternatives(seed: u64, i: u64, chosen: &str, chosen_logprob: f64, k: u64) -> Vec<(String, f64)> {
    let mut out = Vec::with_capacity(k as usize);
    if k == 0 {
        return out;
    }
    out.push((chosen.to_string(), chosen_logprob));
    let space = if chosen.starts_with(' ') { " " } else { "" };
    let mut x = splitmix(seed.wrapping_add(i) ^ 0x5bd1_e995);
    let mut lp = chosen_logprob;
    let mut n = 0;
    while (out.len() as u64) < k && n < 4 * WORDS.len() {
        n += 1;
        x = splitmix(x);
        let alt = format!("{space}{}", WORDS[(x % WORDS.len() as u64) as usize]);
        if out.iter().any(|(t, _)| *t == alt) {
            continue;
        }
        lp -= 0.25 + (x % 1000) as f64 / 1000.0;
        out.push((alt, lp));
    }
    let mut extra = 0;
    while (out.len() as u64) < k {
        extra += 1;
        lp -= 0.5;
        out.push((format!("{space}<unused{extra}>"), lp));
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Chat,
    Completion,
}

/// Appends token `i` of an answer whose natural length is `natural` tokens.
pub fn push_token(out: &mut String, style: Style, seed: u64, i: u64, natural: u64, banned: &[u64]) {
    let w = word(seed, i, banned);
    match (style, i) {
        (Style::Chat, 0) => {
            let mut chars = w.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        }
        _ => {
            out.push(' ');
            out.push_str(w);
        }
    }
    if i + 1 == natural {
        out.push('.');
    }
}

/// Tokens `range` of an answer, concatenated.
pub fn tokens(style: Style, seed: u64, range: std::ops::Range<u64>, natural: u64, banned: &[u64]) -> String {
    let mut out = String::with_capacity((range.end - range.start) as usize * 8);
    for i in range {
        push_token(&mut out, style, seed, i, natural, banned);
    }
    out
}

/// Reasoning tokens `range`, concatenated.
pub fn reasoning(range: std::ops::Range<u64>) -> String {
    let mut out = String::new();
    for i in range {
        if let Some(t) = REASONING.get(i as usize) {
            out.push_str(t);
        }
    }
    out
}

/// How many answer tokens make at least `bytes` bytes of text.
pub fn tokens_for_bytes(style: Style, seed: u64, bytes: usize) -> u64 {
    let mut len = 0;
    let mut n = 0;
    while len < bytes {
        len += word(seed, n, &[]).len() + usize::from(style == Style::Completion || n > 0);
        n += 1;
    }
    n
}
