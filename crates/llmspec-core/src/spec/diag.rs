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

/// Longest message shown, in characters.
const MAX_MESSAGE: usize = 1000;

/// A problem found in a spec before anything is sent.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub source: Arc<Source>,
    pub loc: Loc,
    pub message: String,
    /// About the whole file (unreadable, not a file): shown with its path and no position.
    pub whole_file: bool,
}

impl Diagnostic {
    /// Messages quote what was written; a huge value is cut in the middle.
    pub fn new(source: &Arc<Source>, loc: Loc, message: impl Into<String>) -> Diagnostic {
        let message = crate::vocab::text::trim_middle(&message.into(), MAX_MESSAGE);
        Diagnostic { source: source.clone(), loc, message, whole_file: false }
    }

    /// A problem with the whole file. Its position is the file's start, so that reports that
    /// need a line number (JUnit) have a valid one, but it is shown without one.
    pub fn whole_file(source: &Arc<Source>, message: impl Into<String>) -> Diagnostic {
        Diagnostic { whole_file: true, ..Diagnostic::new(source, Loc { line: 1, col: 1 }, message) }
    }

    pub fn render(&self) -> String {
        let loc = if self.whole_file { Loc::default() } else { self.loc };
        format!("error: {}\n{}", self.message, snippet(&self.source, loc))
    }

    /// `file:line:col`, or the file alone for a problem with the whole file.
    pub fn location(&self) -> String {
        match self.loc.line {
            _ if self.whole_file => self.source.path.clone(),
            0 => self.source.path.clone(),
            _ => format!("{}:{}:{}", self.source.path, self.loc.line, self.loc.col),
        }
    }
}

/// The `--> file:line:col` header, the source line and a caret under the token at `loc`.
pub fn snippet(source: &Source, loc: Loc) -> String {
    let mut out = String::new();
    let gutter = loc.line.to_string().len();
    let pad = " ".repeat(gutter);
    if loc.line == 0 {
        let _ = writeln!(out, "{pad}--> {}", source.path);
        return out;
    }
    let _ = writeln!(out, "{pad}--> {}:{}:{}", source.path, loc.line, loc.col);
    if let Some(line) = source.line(loc.line) {
        let (text, col) = visible_part(line, loc.col.max(1) - 1);
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
        let _ = writeln!(out, "{pad} | {}{}", " ".repeat(col), "^".repeat(token.clamp(1, SHOWN_LINE)));
    }
    out
}

/// Characters of a source line shown around the column pointed at.
const SHOWN_LINE: usize = 160;

/// A long line is shown around `col` only, cut with `…`: the part shown and the column in it.
fn visible_part(line: &str, col: usize) -> (String, usize) {
    let count = line.chars().count();
    if count <= SHOWN_LINE {
        return (line.to_string(), col);
    }
    let start = col.saturating_sub(SHOWN_LINE / 2).min(count.saturating_sub(SHOWN_LINE));
    let mut shown: String = line.chars().skip(start).take(SHOWN_LINE).collect();
    let mut col = col - start;
    if start > 0 {
        shown.insert(0, '…');
        col += 1;
    }
    if start + SHOWN_LINE < count {
        shown.push('…');
    }
    (shown, col)
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

    #[test]
    fn long_lines_and_whole_files_are_shown_briefly() {
        let text = format!("{}x{}\n", "[".repeat(5000), "]".repeat(5000));
        let source = Arc::new(Source { path: "s.yaml".into(), text });
        let d = Diagnostic::new(&source, Loc { line: 1, col: 5001 }, "m".repeat(5000));
        let shown = d.render();
        assert!(shown.len() < 2000, "{shown}");
        assert!(shown.contains("…[[[") && shown.contains("[x]") && shown.contains("]]]…"), "{shown}");
        let caret = shown.lines().last().unwrap();
        let column = |line: &str, c: char| line.chars().position(|x| x == c);
        assert_eq!(column(caret, '^'), column(shown.lines().nth(3).unwrap(), 'x'));
        let d = Diagnostic::whole_file(&source, "cannot read this file");
        assert_eq!(d.render(), "error: cannot read this file\n --> s.yaml\n");
        assert_eq!(d.location(), "s.yaml");
    }
}
