//! Keeps secrets out of every output: console, JUnit, JSON, HTML, plots and logs.
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

/// Schemes of `Authorization`-style headers whose credential follows a space.
const AUTH_SCHEMES: &[&str] = &["Bearer", "Basic", "Token", "Digest", "ApiKey", "Api-Key", "Key", "Negotiate", "OAuth"];

/// The query's percent-encode set (WHATWG URL, as the `url` crate applies it to a query):
/// most characters stay as they are, so a secret in a URL is only partly encoded.
const QUERY: &AsciiSet = &percent_encoding::CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>').add(b'\'');
/// The path's set, for a secret in a URL path.
const PATH: &AsciiSet = &QUERY.add(b'?').add(b'`').add(b'{').add(b'}');

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
        // A secret mapping or list (`creds: { user: u, password: p }`) is secret member by
        // member: a server echoes fields one at a time, and in its own key order.
        if value.starts_with(['{', '[']) {
            if let Ok(structured) = serde_json::from_str::<serde_json::Value>(value) {
                for member in scalars(&structured) {
                    self.add(&member);
                }
            }
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

    /// A header value is secret as a whole, and so is its credential after an authentication
    /// scheme (`Bearer abc`: both `Bearer abc` and `abc`). Only after a scheme: splitting any
    /// value at its first space would make every ordinary word after it a "secret".
    pub fn add_header_value(&self, value: &str) {
        self.add(value);
        if let Some((scheme, credential)) = value.split_once(' ') {
            if AUTH_SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
                self.add(credential.trim());
            }
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
        if out.contains(ELLIPSIS) {
            out = mask_cut_fragments(&out, &forms);
        }
        out
    }
}

/// The spellings under which a secret can appear in what was sent or received.
fn spellings(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    forms.extend(json_spellings(secret));
    for set in [URI_COMPONENT, QUERY, PATH] {
        let percent = utf8_percent_encode(secret, set).to_string();
        forms.push(percent.replace("%20", "+"));
        forms.push(percent.to_ascii_lowercase_escapes());
        forms.push(percent);
    }
    forms.extend(html_spellings(secret));
    forms.extend(base64_cores(secret.as_bytes()));
    forms.sort();
    forms.dedup();
    forms
}

/// The inside of a JSON string as JSON writers spell it: serde's minimal escapes, and the extra
/// escapes of Python's `ensure_ascii` (`\u00e4`, in either case), Go's HTML-safe `\u003c`,
/// `\u003e`, `\u0026`, and PHP's `\/`.
fn json_spellings(secret: &str) -> Vec<String> {
    let Ok(quoted) = serde_json::to_string(secret) else { return vec![] };
    let minimal = quoted[1..quoted.len() - 1].to_string();
    let escape = |text: &str, c: char, upper: bool| -> String {
        let mut units = [0u16; 2];
        let code: String = c
            .encode_utf16(&mut units)
            .iter()
            .map(|u| if upper { format!("\\u{u:04X}") } else { format!("\\u{u:04x}") })
            .collect();
        text.replace(c, &code)
    };
    let mut forms = vec![minimal.clone()];
    for upper in [false, true] {
        let mut ascii = minimal.clone();
        for c in secret.chars().filter(|c| !c.is_ascii()) {
            ascii = escape(&ascii, c, upper);
        }
        let mut html_safe = ascii.clone();
        for c in ['<', '>', '&'] {
            html_safe = escape(&html_safe, c, upper);
        }
        forms.push(html_safe.replace('/', "\\/"));
        forms.push(html_safe);
        forms.push(ascii.replace('/', "\\/"));
        forms.push(ascii);
    }
    forms.push(minimal.replace('/', "\\/"));
    forms
}

/// HTML and XML escapes: named entities, and the numeric ones that Python's `html.escape` and
/// other tools write for quotes.
fn html_spellings(secret: &str) -> Vec<String> {
    let named = secret.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    vec![
        named.replace('"', "&quot;").replace('\'', "&apos;"),
        named.replace('"', "&quot;").replace('\'', "&#x27;"),
        named.replace('"', "&#34;").replace('\'', "&#39;"),
        named.replace('"', "&quot;").replace('\'', "&#39;"),
    ]
}

/// Every string and number inside a structured secret.
fn scalars(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Number(n) => vec![n.to_string()],
        serde_json::Value::Array(items) => items.iter().flat_map(scalars).collect(),
        serde_json::Value::Object(map) => map.values().flat_map(scalars).collect(),
        _ => vec![],
    }
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

/// Every cut is marked with an ellipsis: a shortened text's `… [N characters cut] …`, a
/// diagnostic's window on a long source line (`…ve-0123…`).
const ELLIPSIS: char = '…';

/// Pieces shorter than this beside a cut are left alone: two characters say next to nothing of
/// a secret, and masking them would blot ordinary words next to every ellipsis.
const MIN_FRAGMENT: usize = 3;

/// Masks what is left of a secret on either side of a cut: the longest piece just before an
/// ellipsis that begins some spelling, and the longest piece just after one that ends a
/// spelling (one space between the piece and the ellipsis allowed).
fn mask_cut_fragments(text: &str, forms: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(ELLIPSIS) {
        let before = &rest[..at];
        let (body, space) = before.strip_suffix(' ').map_or((before, ""), |b| (b, " "));
        let keep = body.len() - longest_suffix_that_starts_a_form(body, forms);
        out.push_str(&body[..keep]);
        if keep < body.len() {
            out.push_str(MASK);
        }
        out.push_str(space);
        out.push(ELLIPSIS);
        let after = &rest[at + ELLIPSIS.len_utf8()..];
        // The cut marker's own text (`… [N characters cut] …`) sits between two ellipses.
        let (lead, after) = match after.strip_prefix(' ') {
            Some(a) => (" ", a),
            None => ("", after),
        };
        out.push_str(lead);
        let cut = if after.starts_with('[') || after.starts_with(ELLIPSIS) {
            0
        } else {
            longest_prefix_that_ends_a_form(after, forms)
        };
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
        for (i, _) in f.char_indices().skip(MIN_FRAGMENT) {
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
            if end.chars().count() >= MIN_FRAGMENT && end.len() > best && text.starts_with(end) {
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
        for html in html_spellings(SECRET) {
            assert!(!r.redact(&html).contains("s3cr"), "{html}");
        }
        for user in ["", "u", "us", "use", "admin"] {
            let basic = STANDARD_NO_PAD.encode(format!("{user}:{SECRET}"));
            let shown = r.redact(&format!("Authorization: Basic {basic}"));
            assert!(shown.contains(MASK), "user {user:?}: {shown}");
            // What is left beside the mask carries at most a few bits of the secret.
            assert!(shown.len() < "Authorization: Basic ".len() + 12 + user.len() * 2, "{shown}");
        }
    }

    /// How real servers echo a secret: each must be masked.
    #[test]
    fn masks_what_servers_really_write() {
        let echoes = [
            ("S3cure!Pass word", "key=S3cure!Pass%20word"),
            ("pässwörd-123456", r#""p\u00e4ssw\u00f6rd-123456""#),
            ("pässwörd-123456", r#""p\u00E4ssw\u00F6rd-123456""#),
            ("abc&def<ghi>jkl", r#""abc\u0026def\u003cghi\u003ejkl""#),
            ("AbCd/EfGh/IjKl", r#""AbCd\/EfGh\/IjKl""#),
            ("it's-a-secret-42", "it&#x27;s-a-secret-42"),
            ("it's-a-secret-42", "it&#39;s-a-secret-42"),
        ];
        for (secret, echo) in echoes {
            let r = Redactor::new([secret.to_string()]);
            assert_eq!(r.redact(echo).matches(MASK).count(), 1, "{secret:?} in {echo:?}: {}", r.redact(echo));
        }
    }

    #[test]
    fn a_structured_secret_is_secret_member_by_member() {
        let r = Redactor::new([r#"{"user":"admin","password":"Hunter2-Obj-Secret","pin":123456}"#.to_string()]);
        assert_eq!(
            r.redact(r#"{"password": "Hunter2-Obj-Secret", "user": "admin", "pin": 123456}"#),
            r#"{"password": "***", "user": "***", "pin": ***}"#
        );
    }

    #[test]
    fn only_an_authentication_scheme_is_split_off() {
        let r = Redactor::default();
        r.add_header_value("S3cure!Pass word");
        r.add_header_value("Token abc123xyz");
        assert_eq!(r.redact("a word, abc123xyz"), "a word, ***");
    }

    #[test]
    fn a_diagnostic_window_cut_inside_a_secret_leaves_none_of_it() {
        let r = Redactor::new(["sk-live-0123456789abcdefghij".to_string()]);
        assert_eq!(r.redact("8 | …ve-0123456789abcdefghij&pad=…"), "8 | …***&pad=…");
        assert_eq!(r.redact("x=sk-live-0123…"), "x=***…");
        assert_eq!(r.redact("  … load test: 3 done"), "  … load test: 3 done");
    }

    #[test]
    fn a_cut_inside_a_secret_leaves_none_of_it() {
        let secret = "sk-live-0123456789abcdef";
        let r = Redactor::new([secret.to_string()]);
        for pad in 0..40 {
            let text = format!("{}{secret}{}", "x".repeat(pad), "y".repeat(60 - pad));
            let shown = r.redact(&trim_middle(&text, 30));
            for n in MIN_FRAGMENT..secret.len() {
                for piece in secret.as_bytes().windows(n).filter_map(|w| std::str::from_utf8(w).ok()) {
                    assert!(!shown.contains(piece), "pad {pad}: {piece:?} in {shown}");
                }
            }
        }
    }
}
