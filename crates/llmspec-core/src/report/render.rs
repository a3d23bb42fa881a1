//! The text of a verdict, shared by the console and the JUnit body so both say the same.
//! Everything is built through the [`Sanitizer`]: bodies are masked, then shortened.

use super::sanitize::Sanitizer;
use crate::expect::Failure;
use crate::run::event::{TestOutcome, ThresholdResult, Transcript, Verdict};
use crate::spec::diag::{Source, snippet};
use crate::vocab::units::format_duration;
use std::fmt::Write;

/// Bodies shown in a transcript: the start and the end of anything longer.
const BODY_CHARS: usize = 2000;
/// A header value shown in a transcript, the same way (a server may send long ones).
const HEADER_CHARS: usize = 500;

/// Every failure with its spec snippet, then the exchange that produced them.
pub fn failure_detail(source: &Source, outcome: &TestOutcome, s: &Sanitizer) -> String {
    let mut out = failures(source, outcome, s);
    if let Some(t) = &outcome.transcript {
        out.push_str(&transcript(t, s));
    }
    out
}

/// Every failure with its spec snippet, or the error and where it happened; empty for a test
/// that passed or was skipped.
pub fn failures(source: &Source, outcome: &TestOutcome, s: &Sanitizer) -> String {
    let mut out = String::new();
    match &outcome.verdict {
        Verdict::Failed(failures) | Verdict::Advisory(failures) => {
            for f in failures {
                out.push_str(&one_failure(source, f));
                out.push('\n');
            }
        }
        Verdict::Error(message) => {
            let _ = writeln!(out, "error: {message}");
            out.push_str(&snippet(source, outcome.loc));
            out.push('\n');
        }
        _ => {}
    }
    s.text(&out)
}

/// How long a test took; for a threshold, which has no duration of its own, what it measured.
pub fn shown_time(outcome: &TestOutcome) -> String {
    match &outcome.threshold {
        // A name written with variables does not show the limit they give.
        Some(ThresholdResult { measured: Some(v), limit }) if outcome.name.contains("${") => {
            format!("measured {v}, limit {limit}")
        }
        Some(ThresholdResult { measured: Some(v), .. }) => format!("measured {v}"),
        Some(ThresholdResult { measured: None, .. }) => "not measured".into(),
        None => format_duration(outcome.duration),
    }
}

pub fn one_failure(source: &Source, f: &Failure) -> String {
    let mut out = format!("error: {}: expected {}\n", f.subject, f.expected);
    out.push_str(&snippet(source, f.loc));
    let pad = " ".repeat(f.loc.line.to_string().len());
    let _ = writeln!(out, "{pad} = expected: {}", f.expected);
    let _ = writeln!(out, "{pad} =   actual: {}", f.actual);
    out
}

pub fn transcript(t: &Transcript, s: &Sanitizer) -> String {
    if t.request.is_empty() {
        return s.text(&t.notes.iter().map(|n| format!("{n}\n")).collect::<String>());
    }
    let mut out = format!("request: {}\n", t.request);
    headers(&mut out, &t.request_headers, s);
    if let Some(body) = &t.request_body {
        let _ = writeln!(out, "request body: {}", s.excerpt(body, BODY_CHARS));
    }
    match t.status {
        Some(status) => {
            let _ = writeln!(out, "response: {status}, {} bytes", t.response_bytes);
            if let Some(line) = &t.status_line {
                let _ = writeln!(out, "  {}", s.excerpt(line, HEADER_CHARS));
            }
            headers(&mut out, &t.response_headers, s);
            if !t.response_body.is_empty() {
                let _ = writeln!(out, "response body: {}", s.excerpt(&t.response_body, BODY_CHARS));
            }
        }
        None => out.push_str("response: none\n"),
    }
    if let Some(why) = &t.resent {
        let _ = writeln!(out, "{why}");
    }
    s.text(&out)
}

/// One indented line per header, under the line of the request or the response.
fn headers(out: &mut String, headers: &[(String, String)], s: &Sanitizer) {
    for (name, value) in headers {
        let _ = writeln!(out, "  {}: {}", s.name(name), s.excerpt(value, HEADER_CHARS));
    }
}
