//! Messages that point into a spec file, rendered the same way on a terminal and in JUnit:
//!
//! ```text
//! error: unknown key `cuont`; did you mean `count`?
//!   --> specs/chat.yaml:12:5
//!    |
//! 12 |     cuont: 3
//!    |     ^^^^^
//! ```

use super::yaml::Loc;
use std::fmt::Write;
use std::sync::Arc;

/// A spec file's name (as given on the command line) and text.
#[derive(Debug)]
pub struct Source {
    pub path: String,
    pub text: String,
}

impl Source {
    pub fn line(&self, n: usize) -> Option<&str> {
        self.text.lines().nth(n.checked_sub(1)?)
    }
}

/// A problem found in a spec before anything is sent.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub source: Arc<Source>,
    pub loc: Loc,
    pub message: String,
}

impl Diagnostic {
    pub fn new(source: &Arc<Source>, loc: Loc, message: impl Into<String>) -> Diagnostic {
        Diagnostic { source: source.clone(), loc, message: message.into() }
    }

    pub fn render(&self) -> String {
        format!("error: {}\n{}", self.message, snippet(&self.source, self.loc))
    }

    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.source.path, self.loc.line, self.loc.col)
    }
}

/// The `--> file:line:col` header, the source line and a caret under the token at `loc`.
pub fn snippet(source: &Source, loc: Loc) -> String {
    let mut out = String::new();
    let gutter = loc.line.to_string().len();
    let pad = " ".repeat(gutter);
    let _ = writeln!(out, "{pad}--> {}:{}:{}", source.path, loc.line, loc.col);
    if let Some(text) = source.line(loc.line) {
        let col = loc.col.max(1) - 1;
        let rest: Vec<char> = text.chars().skip(col).collect();
        // A token ends at a blank, a flow separator, or a mapping colon (`key: value`); colons
        // and brackets inside a JSONPath key belong to it.
        let token = (0..rest.len())
            .find(|&i| {
                matches!(rest[i], ' ' | '\t' | ',' | '}')
                    || (rest[i] == ':' && rest.get(i + 1).is_none_or(|c| *c == ' '))
            })
            .unwrap_or(rest.len());
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{} | {}", loc.line, text);
        let _ = writeln!(out, "{pad} | {}{}", " ".repeat(col), "^".repeat(token.max(1)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_the_token() {
        let source = Arc::new(Source { path: "s.yaml".into(), text: "a: 1\n  cuont: 3\n".into() });
        let d = Diagnostic::new(&source, Loc { line: 2, col: 3 }, "unknown key `cuont`");
        assert_eq!(d.render(), "error: unknown key `cuont`\n --> s.yaml:2:3\n  |\n2 |   cuont: 3\n  |   ^^^^^\n");
    }
}
