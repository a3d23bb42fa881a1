//! Keeps secrets out of every output: console, JUnit, JSON, plots and logs.
//!
//! Redaction works on values, not on field names, so a secret is also caught where a server
//! echoes it back inside an error message. A secret travels in more than one spelling: escaped
//! inside a JSON body, percent-encoded in a query, base64-encoded in `Authorization: Basic`,
//! escaped in XML. Every spelling is registered when the secret is, before the first byte of any
//! report is written.
//!
//! Text is sometimes shortened before it reaches a report (a 10 MB body in a failure message).
//! A cut can fall inside a secret and leave its first or last characters on either side of the
//! cut marker, where whole-value matching no longer sees them; the characters next to a cut that
//! begin or end a secret are masked too.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::sync::RwLock;

pub const MASK: &str = "***";

/// Every byte but RFC 3986's unreserved characters, as `encodeURIComponent` escapes them.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Shorter base64 runs than this match too much unrelated text to be worth masking.
const MIN_BASE64_CORE: usize = 4;

#[derive(Debug, Default)]
pub struct Redactor {
    /// Every spelling of every secret, longest first, so a secret that contains another is
    /// masked whole.
    forms: RwLock<Vec<String>>,
}

impl Redactor {
    pub fn new(values: impl IntoIterator<Item = String>) -> Redactor {
        let r = Redactor::default();
        for v in values {
            r.add(&v);
        }
        r
    }

    pub fn add(&self, value: &str) {
        // One or two characters would mask half of every report; such "secrets" protect nothing.
        if value.chars().count() < 3 {
            return;
        }
        let mut forms = self.forms.write().unwrap_or_else(|e| e.into_inner());
        if forms.iter().any(|f| f == value) {
            return;
        }
        for form in spellings(value) {
            if form.chars().count() >= 3 && !forms.contains(&form) {
                forms.push(form);
            }
        }
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    /// A header value is secret as a whole, and so is its credential after a scheme
    /// (`Bearer abc`: both `Bearer abc` and `abc`).
    pub fn add_header_value(&self, value: &str) {
        self.add(value);
        if let Some((_, credential)) = value.split_once(' ') {
            self.add(credential.trim());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.forms.read().map_or(true, |f| f.is_empty())
    }

    /// Whether any spelling of any secret appears in `text`.
    pub fn leaks(&self, text: &str) -> bool {
        let forms = self.forms.read().unwrap_or_else(|e| e.into_inner());
        forms.iter().any(|f| text.contains(f.as_str()))
    }

    pub fn redact(&self, text: &str) -> String {
        let forms = self.forms.read().unwrap_or_else(|e| e.into_inner());
        if forms.is_empty() {
            return text.to_string();
        }
        let mut out = text.to_string();
        for f in forms.iter() {
            if out.contains(f.as_str()) {
                out = out.replace(f.as_str(), MASK);
            }
        }
        if out.contains(crate::vocab::text::CUT_OPEN) {
            out = mask_cut_fragments(&out, &forms);
        }
        out
    }
}

/// The spellings under which a secret can appear in what was sent or received.
fn spellings(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    if let Ok(json) = serde_json::to_string(secret) {
        forms.push(json[1..json.len() - 1].to_string());
    }
    let percent = utf8_percent_encode(secret, URI_COMPONENT).to_string();
    forms.push(percent.replace("%20", "+"));
    forms.push(percent.to_ascii_lowercase_escapes());
    forms.push(percent);
    forms.push(xml_escaped(secret));
    forms.extend(base64_cores(secret.as_bytes()));
    forms.dedup();
    forms
}

trait LowercaseEscapes {
    fn to_ascii_lowercase_escapes(&self) -> String;
}

impl LowercaseEscapes for String {
    /// `%2F` and `%2f` are the same byte; servers and proxies use both.
    fn to_ascii_lowercase_escapes(&self) -> String {
        let mut out = String::with_capacity(self.len());
        let mut rest = self.as_str();
        while let Some(at) = rest.find('%') {
            out.push_str(&rest[..at]);
            let esc = rest.get(at..at + 3).unwrap_or(&rest[at..]);
            out.push_str(&esc.to_ascii_lowercase());
            rest = &rest[at + esc.len()..];
        }
        out.push_str(rest);
        out
    }
}

fn xml_escaped(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// The base64 characters that depend on the secret alone, for each of the three positions it
/// can take relative to base64's 3-byte groups: `user:secret` in a Basic header encodes the
/// secret at an offset the redactor cannot know in advance.
fn base64_cores(secret: &[u8]) -> Vec<String> {
    let mut cores = vec![];
    for offset in 0..3usize {
        let mut bytes = vec![0u8; offset];
        bytes.extend_from_slice(secret);
        let first = (offset * 8).div_ceil(6);
        let last = (bytes.len() * 8) / 6;
        if last < first + MIN_BASE64_CORE {
            continue;
        }
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&bytes);
            if let Some(core) = encoded.get(first..last) {
                cores.push(core.to_string());
            }
        }
    }
    cores
}

/// Masks what is left of a secret on either side of a cut marker: the longest piece before the
/// marker that begins some spelling, and the longest piece after it that ends one.
fn mask_cut_fragments(text: &str, forms: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find(crate::vocab::text::CUT_OPEN) {
        let Some(close_rel) = rest[open..].find(crate::vocab::text::CUT_CLOSE) else { break };
        let close = open + close_rel + crate::vocab::text::CUT_CLOSE.len();
        let before = &rest[..open];
        let keep = before.len() - longest_suffix_that_starts_a_form(before, forms);
        out.push_str(&before[..keep]);
        if keep < before.len() {
            out.push_str(MASK);
        }
        out.push_str(&rest[open..close]);
        let after = &rest[close..];
        let cut = longest_prefix_that_ends_a_form(after, forms);
        if cut > 0 {
            out.push_str(MASK);
        }
        rest = &after[cut..];
    }
    out.push_str(rest);
    out
}

fn longest_suffix_that_starts_a_form(text: &str, forms: &[String]) -> usize {
    let mut best = 0;
    for f in forms {
        for (i, _) in f.char_indices().skip(1) {
            let start = &f[..i];
            if start.len() > best && text.ends_with(start) {
                best = start.len();
            }
        }
    }
    best
}

fn longest_prefix_that_ends_a_form(text: &str, forms: &[String]) -> usize {
    let mut best = 0;
    for f in forms {
        for (i, _) in f.char_indices().skip(1) {
            let end = &f[i..];
            if end.len() > best && text.starts_with(end) {
                best = end.len();
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::text::trim_middle;

    #[test]
    fn masks_every_occurrence_and_the_credential_alone() {
        let r = Redactor::new(["hunter22".to_string()]);
        r.add_header_value("Bearer sk-abc123");
        assert_eq!(r.redact("pw=hunter22 again hunter22"), "pw=*** again ***");
        assert_eq!(r.redact("Authorization: Bearer sk-abc123"), "Authorization: ***");
        assert_eq!(r.redact("echo: sk-abc123"), "echo: ***");
        assert_eq!(r.redact("nothing here"), "nothing here");
    }

    #[test]
    fn ignores_trivial_values() {
        let r = Redactor::new(["".to_string(), "a".to_string()]);
        assert_eq!(r.redact("a b c"), "a b c");
    }

    const SECRET: &str = "s3cr\"et/va lue+&<x>";

    #[test]
    fn masks_every_spelling() {
        let r = Redactor::new([SECRET.to_string()]);
        let json = serde_json::to_string(&serde_json::json!({ "k": SECRET })).unwrap_or_default();
        assert!(!r.leaks(&r.redact(&json)), "{json}");
        let query = format!("?k={}", utf8_percent_encode(SECRET, URI_COMPONENT));
        assert!(!r.redact(&query).contains("s3cr"), "{}", r.redact(&query));
        let form = query.replace("%20", "+");
        assert!(!r.redact(&form).contains("s3cr"));
        let lower = query.to_ascii_lowercase_escapes();
        assert!(!r.redact(&lower).contains("s3cr"));
        assert!(!r.redact(&xml_escaped(SECRET)).contains("s3cr"));
        for user in ["", "u", "us", "use", "admin"] {
            let basic = STANDARD_NO_PAD.encode(format!("{user}:{SECRET}"));
            let shown = r.redact(&format!("Authorization: Basic {basic}"));
            assert!(shown.contains(MASK), "user {user:?}: {shown}");
            // What is left beside the mask carries at most a few bits of the secret.
            assert!(shown.len() < "Authorization: Basic ".len() + 12 + user.len() * 2, "{shown}");
        }
    }

    #[test]
    fn a_cut_inside_a_secret_leaves_none_of_it() {
        let secret = "sk-live-0123456789abcdef";
        let r = Redactor::new([secret.to_string()]);
        for pad in 0..40 {
            let text = format!("{}{secret}{}", "x".repeat(pad), "y".repeat(60 - pad));
            let shown = r.redact(&trim_middle(&text, 30));
            for n in 3..secret.len() {
                for piece in secret.as_bytes().windows(n).filter_map(|w| std::str::from_utf8(w).ok()) {
                    assert!(!shown.contains(piece), "pad {pad}: {piece:?} in {shown}");
                }
            }
        }
    }
}
