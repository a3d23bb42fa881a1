//! GitHub Actions workflow commands (`::warning file=…,line=…::…` on stdout, when
//! GITHUB_ACTIONS=true): what JUnit readers on GitHub never show. An advisory test passes, so
//! action-junit-report annotates nothing for it; each of its failed expectations becomes a
//! warning at its own line here, as does each doubt about a measurement.
//!
//! Failures get no `::error` line: the JUnit report already gives one annotation per failed
//! test through action-junit-report, and the same failure twice on a pull request is noise.

use super::Reporter;
use super::location::Locator;
use super::sanitize::Sanitizer;
use crate::run::event::{Event, Verdict};
use std::io::Write;

pub struct GithubAnnotations<W: Write> {
    out: W,
    sanitizer: Sanitizer,
    locator: Locator,
}

impl<W: Write> GithubAnnotations<W> {
    pub fn new(out: W, sanitizer: Sanitizer, locator: Locator) -> Self {
        GithubAnnotations { out, sanitizer, locator }
    }

    fn warning(&mut self, file: &str, line: usize, title: &str, message: &str) {
        let command = format!(
            "::warning file={},line={line},title={}::{}\n",
            property(&self.sanitizer.name(file)),
            property(&self.sanitizer.name(title)),
            data(&self.sanitizer.text(message)),
        );
        // Like the console: a closed stdout must not cost the run its file reports.
        let _ = self.out.write_all(command.as_bytes());
        let _ = self.out.flush();
    }
}

impl<W: Write> Reporter for GithubAnnotations<W> {
    fn on(&mut self, event: &Event<'_>) -> Result<(), String> {
        let Event::TestFinished { suite, outcome } = event else { return Ok(()) };
        let file = self.locator.spec(&suite.source.path);
        if let Verdict::Advisory(failures) = &outcome.verdict {
            let title = format!("advisory: {}", outcome.name);
            for f in failures {
                let message = format!("{}: expected {}, got {}", f.subject, f.expected, f.actual);
                self.warning(&file, f.loc.line, &title, &message);
            }
        }
        for w in &outcome.warnings {
            self.warning(&file, outcome.loc.line, &format!("measurement: {}", outcome.name), w);
        }
        Ok(())
    }
}

/// A workflow command's message: line breaks and `%` escaped, as the runner unescapes them.
fn data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`, which end a property.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_would_end_a_command_or_a_property() {
        assert_eq!(data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(property("a: b, c"), "a%3A b%2C c");
    }
}
