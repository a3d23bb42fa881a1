//! Keeps secrets out of every output: console, JUnit, JSON and logs.
//!
//! Redaction works on values, not on field names, so a secret is also caught where a server
//! echoes it back inside an error message.

use std::sync::RwLock;

pub const MASK: &str = "***";

#[derive(Debug, Default)]
pub struct Redactor {
    values: RwLock<Vec<String>>,
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
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        if !values.iter().any(|v| v == value) {
            values.push(value.to_string());
            // Longest first, so a secret that contains another is masked whole.
            values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    /// A header value is secret as a whole, and so is its credential after a scheme
    /// (`Bearer abc`: both `Bearer abc` and `abc`).
    pub fn add_header_value(&self, value: &str) {
        self.add(value);
        if let Some((_, credential)) = value.split_once(' ') {
            self.add(credential.trim());
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for v in values.iter() {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), MASK);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
