//! Hostile servers: for every way a server can misbehave, the real binary runs a suite of the
//! hostile test then a plain one, against a simulator in its own process. Each case checks
//! that the hostile test's verdict says why, that the JUnit report is written and valid, that
//! the next test still ran and passed, and that llmspec's memory stayed bounded (its peak
//! resident memory, measured by GNU time when it exits).

use crate::support::{SimProcess, TempDir, assert_valid_junit, llmspec_peak_rss};

/// Peak memory allowed to a run whose answers are all small or cut short by a limit. A plain
/// run of the debug binary peaks near 20 MiB; the rest is room for the limits of the read path
/// (1 MiB per SSE line and event, capped kept events and texts).
const BOUNDED_KIB: u64 = 64 * 1024;
/// Peak memory allowed to a run that must read a whole 10 MB answer: the bytes, their text,
/// and the parsed JSON.
const TEN_MEGABYTE_ANSWER_KIB: u64 = 96 * 1024;
/// The simulator's own memory, whatever it sent.
const SIM_KIB: u64 = 64 * 1024;

/// How the hostile request asks for its answer.
#[derive(Clone, Copy)]
enum Mode {
    Streamed,
    Plain,
}

struct Case<'a> {
    fault: &'a str,
    mode: Mode,
    /// The suite's request timeout.
    timeout: &'a str,
    /// The hostile test's verdict word: `ERROR` or `FAIL`.
    verdict: &'a str,
    /// Texts its explanation must contain.
    why: &'a [&'a str],
    peak_kib: u64,
}

impl Case<'_> {
    fn spec(&self) -> String {
        let stream = matches!(self.mode, Mode::Streamed);
        format!(
            r#"suite: hostile
defaults:
  timeout: {timeout}
tests:
  - name: hostile {fault}
    request:
      POST: /v1/chat/completions
      stream: {stream}
      idle_timeout: 1s
      headers: {{ x-sim-fault: {fault} }}
      json: {{ messages: [{{ role: user, content: hi }}], max_tokens: 8 }}
    expect:
      status: 200
      json:
        $.object: chat.completion
  - name: next test
    request:
      POST: /v1/chat/completions
      json: {{ messages: [{{ role: user, content: hi }}], max_tokens: 4 }}
    expect:
      status: 200
      json:
        $.choices[0].message.content: {{ not_empty: true }}
"#,
            fault = self.fault,
            timeout = self.timeout,
        )
    }

    /// Runs the suite and checks the four things every case must hold; returns the simulator,
    /// for more checks.
    fn check(&self) -> SimProcess {
        let sim = SimProcess::start(&[]);
        let dir = TempDir::new();
        let spec = dir.write("hostile.yaml", &self.spec());
        let junit = dir.path("junit.xml");
        let (out, peak_kib) = llmspec_peak_rss(&[
            "run",
            spec.to_str().unwrap(),
            "--base-url",
            &sim.url(),
            "--junit",
            junit.to_str().unwrap(),
        ]);
        let report = format!("{}\n{}\npeak RSS {} KiB", out.stdout, out.stderr, peak_kib);
        eprintln!("{}: peak RSS of llmspec {} KiB", self.fault, peak_kib);

        // (a) the verdict says why.
        let hostile = format!("{} hostile {}", self.verdict, self.fault);
        assert!(out.stdout.contains(&hostile), "expected `{hostile}`:\n{report}");
        let explanation = verdict_text(&out.stdout, &format!("hostile {}", self.fault));
        for why in self.why {
            assert!(explanation.contains(why), "the verdict does not say `{why}`:\n{report}");
        }
        // (b) the JUnit report is written and valid.
        assert!(junit.exists(), "no JUnit report:\n{report}");
        assert_valid_junit(&junit);
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert!(xml.contains(&format!("name=\"hostile {}\"", self.fault)), "{xml}");
        // (c) the next test still ran, and passed.
        assert!(out.stdout.contains("PASS next test"), "the next test did not pass:\n{report}");
        let code = if self.verdict == "ERROR" { 3 } else { 1 };
        assert_eq!(out.code, code, "{report}");
        // (d) memory stayed bounded, in the simulator and in llmspec.
        let sim_kib = sim.metric("process_resident_memory_bytes") as u64 / 1024;
        assert!(sim_kib < SIM_KIB, "the simulator holds {sim_kib} KiB after the run");
        assert_eq!(responses_left(&sim), 0.0, "a response outlived its client");
        assert!(peak_kib < self.peak_kib, "llmspec peaked at {peak_kib} KiB (bound {} KiB):\n{report}", self.peak_kib);
        sim
    }
}

/// The simulator's responses still in flight, once it has seen the client go (at most 5 s).
fn responses_left(sim: &SimProcess) -> f64 {
    let mut left = sim.metric("llmspec_sim:responses_in_flight");
    for _ in 0..100 {
        if left == 0.0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        left = sim.metric("llmspec_sim:responses_in_flight");
    }
    left
}

/// The lines the console prints for one test: its verdict line and the indented ones below.
fn verdict_text(stdout: &str, test: &str) -> String {
    let mut lines = stdout.lines().skip_while(|l| !l.contains(test));
    let first = lines.next().unwrap_or_default();
    let rest: Vec<&str> = lines.take_while(|l| l.starts_with("    ") || l.is_empty()).collect();
    format!("{first}\n{}", rest.join("\n"))
}

fn case(fault: &str, mode: Mode, verdict: &str, why: &[&str]) -> SimProcess {
    Case { fault, mode, timeout: "3s", verdict, why, peak_kib: BOUNDED_KIB }.check()
}

#[test]
fn a_connection_reset_mid_stream() {
    case("reset-mid-stream", Mode::Streamed, "ERROR", &["the stream broke after"]);
}

#[test]
fn a_malformed_chunk() {
    case("malformed-chunk", Mode::Streamed, "ERROR", &["the stream is malformed", "is not JSON"]);
}

#[test]
fn invalid_utf8_in_a_body() {
    case("invalid-utf8", Mode::Plain, "ERROR", &["not valid UTF-8 at byte"]);
}

#[test]
fn invalid_utf8_in_a_stream() {
    case("invalid-utf8", Mode::Streamed, "ERROR", &["not valid UTF-8 at byte"]);
}

#[test]
fn an_endless_stream() {
    case("endless", Mode::Streamed, "ERROR", &["did not finish within 3.00s", "(timeout)"]);
}

#[test]
fn a_five_megabyte_line() {
    case("huge-line", Mode::Streamed, "ERROR", &["longer than 1 MiB", "--max-line-bytes"]);
}

#[test]
fn headers_that_never_come() {
    case("slow-headers", Mode::Plain, "ERROR", &["within 3.00s (timeout)"]);
}

#[test]
fn a_ten_megabyte_event() {
    // The limit stops the read after 1 MiB; the longer timeout only keeps a loaded machine from
    // turning the verdict into a timeout.
    Case {
        fault: "huge-body",
        mode: Mode::Streamed,
        timeout: "20s",
        verdict: "ERROR",
        why: &["longer than 1 MiB", "--max-line-bytes"],
        peak_kib: BOUNDED_KIB,
    }
    .check();
}

/// A valid 10 MB answer is no fault: it is read whole and judged, in bounded memory.
#[test]
fn a_ten_megabyte_body_is_read_in_bounded_memory() {
    let sim = SimProcess::start(&[]);
    let dir = TempDir::new();
    // Time enough to parse 10 MB with a debug build on a busy machine.
    let case = Case { fault: "huge-body", mode: Mode::Plain, timeout: "30s", verdict: "PASS", why: &[], peak_kib: 0 };
    let spec = dir.write("hostile.yaml", &case.spec());
    let junit = dir.path("junit.xml");
    let (out, peak_kib) = llmspec_peak_rss(&[
        "run",
        spec.to_str().unwrap(),
        "--base-url",
        &sim.url(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    eprintln!("huge-body (plain): peak RSS of llmspec {peak_kib} KiB");
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("PASS hostile huge-body") && out.stdout.contains("PASS next test"), "{}", out.stdout);
    assert_valid_junit(&junit);
    assert!(peak_kib < TEN_MEGABYTE_ANSWER_KIB, "llmspec peaked at {peak_kib} KiB");
}

#[test]
fn an_error_event() {
    case(
        "error-event",
        Mode::Streamed,
        "ERROR",
        &["the server sent an error inside the stream", "Internal server error"],
    );
}

#[test]
fn a_server_error() {
    case("status-500", Mode::Plain, "FAIL", &["status: expected 200", "response: 500"]);
}

#[test]
fn a_200_that_is_not_json() {
    case("non-json-200", Mode::Plain, "FAIL", &["a body that is not JSON", "<!DOCTYPE html>"]);
}

#[test]
fn an_empty_200() {
    case("empty-200", Mode::Plain, "FAIL", &["a body that is not JSON (the body is empty)"]);
}

/// The request reached the server, which closed the connection without a byte of answer: an
/// error verdict, and the request is not sent again (a resend is only for a kept-alive
/// connection the server had closed before the request went out).
#[test]
fn a_connection_dropped_before_any_answer() {
    let sim = case("drop", Mode::Plain, "ERROR", &["connection closed before message completed"]);
    assert_eq!(
        sim.metric("llmspec_sim:requests_total"),
        2.0,
        "the dropped request was sent once, the next test's once"
    );
}
