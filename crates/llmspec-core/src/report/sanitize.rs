//! What leaves the process. Every reporter writes through one [`Sanitizer`]: secrets are masked
//! after the text is formatted and before it is shortened (so a cut never leaves part of a
//! secret), control characters a server sent are made visible instead of reaching a terminal or a
//! CI log, and files are written atomically with a last check for any secret spelling.

use crate::redact::Redactor;
use crate::vocab::text::trim_middle;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

#[derive(Clone)]
pub struct Sanitizer {
    redactor: Arc<Redactor>,
}

impl Sanitizer {
    pub fn new(redactor: Arc<Redactor>) -> Sanitizer {
        Sanitizer { redactor }
    }

    /// Text for any report: secrets masked, control characters shown as escapes (line breaks
    /// and tabs kept).
    pub fn text(&self, text: &str) -> String {
        escape_controls(&self.redactor.redact(text), false)
    }

    /// A long text shown in part: masked first, then shortened.
    pub fn excerpt(&self, text: &str, max_chars: usize) -> String {
        escape_controls(&trim_middle(&self.redactor.redact(text), max_chars), false)
    }

    /// A one-line name (test, suite, file name part): masked, every control character escaped.
    pub fn name(&self, text: &str) -> String {
        escape_controls(&self.redactor.redact(text), true)
    }

    /// A JSON document with every string and key masked (serde escapes control characters
    /// itself). Masking strings, not the serialized text, keeps the document valid.
    pub fn json(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.redactor.redact(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (self.redactor.redact(&k), self.json(v))).collect())
            }
            other => other,
        }
    }

    /// Writes a report file atomically. The reporters mask what they put in; this is the last
    /// look at the whole file, for any spelling that slipped through (masked at the cost of the
    /// file's format, which is the lesser harm).
    pub fn write_file(&self, path: &Path, contents: &str) -> Result<(), String> {
        if self.redactor.leaks(contents) {
            return write_atomically(path, self.redactor.redact(contents).as_bytes());
        }
        write_atomically(path, contents.as_bytes())
    }
}

/// Readers never see a half-written report: write beside it, then rename over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

/// Characters that can move the cursor, erase or recolour a terminal line, reorder displayed
/// text (bidirectional overrides), or make an XML report invalid.
fn is_hazard(c: char, one_line: bool) -> bool {
    match c {
        '\n' | '\t' => one_line,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{fffe}' | '\u{ffff}' => true,
        _ => false,
    }
}

fn escape_controls(text: &str, one_line: bool) -> String {
    if !text.chars().any(|c| is_hazard(c, one_line)) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if !is_hazard(c, one_line) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sanitizer(secrets: &[&str]) -> Sanitizer {
        Sanitizer::new(Arc::new(Redactor::new(secrets.iter().map(|s| s.to_string()))))
    }

    #[test]
    fn terminal_controls_become_visible() {
        let s = sanitizer(&[]);
        assert_eq!(s.text("ok\x1b[2K\rPASS\x07\0"), "ok\\x1b[2K\\rPASS\\x07\\x00");
        assert_eq!(s.text("two\nlines\ttab"), "two\nlines\ttab");
        assert_eq!(s.name("two\nlines"), "two\\nlines");
        assert_eq!(s.text("a\u{202e}b\u{9b}"), "a\\u{202e}b\\u{9b}");
    }

    #[test]
    fn masks_before_it_shortens() {
        let secret = "sk-0123456789abcdefghij";
        let s = sanitizer(&[secret]);
        for pad in 0..60 {
            let text = format!("{}{secret}{}", "x".repeat(pad), "y".repeat(80 - pad));
            let shown = s.excerpt(&text, 40);
            assert!(!shown.contains("0123") && !shown.contains("ghij"), "{shown}");
        }
    }

    #[test]
    fn json_strings_and_keys_are_masked_and_the_document_stays_valid() {
        let secret = "\"tok\\en";
        let s = sanitizer(&[secret]);
        let doc = serde_json::json!({ secret: [secret, format!("a{secret}b"), 3] });
        let text = serde_json::to_string(&s.json(doc)).unwrap_or_default();
        assert!(serde_json::from_str::<Value>(&text).is_ok(), "{text}");
        assert!(!s.redactor.leaks(&text), "{text}");
    }
}
