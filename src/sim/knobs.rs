//! Per-request timing, length and fault settings: the configuration, overridden by
//! `x-sim-*` request headers so that one simulator can serve many differently-shaped tests.

use std::time::Duration;

use axum::http::HeaderMap;

use super::config::SimConfig;
use super::errors::ApiError;
use crate::vocab::units::parse_duration;

pub const HEADER_LATENCY: &str = "x-sim-latency";
pub const HEADER_TTFT: &str = "x-sim-ttft";
pub const HEADER_CHUNK_DELAY: &str = "x-sim-chunk-delay";
pub const HEADER_TOKENS_PER_CHUNK: &str = "x-sim-tokens-per-chunk";
pub const HEADER_OUTPUT_TOKENS: &str = "x-sim-output-tokens";
pub const HEADER_FAULT: &str = "x-sim-fault";

/// A deliberate misbehaviour, chosen with `x-sim-fault`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The connection is cut after a few chunks: the client sees a broken body.
    ResetMidStream,
    /// After a few chunks nothing more is sent; the connection is closed after 60 s.
    Stall,
    /// A normal stream without the final `data: [DONE]`.
    NoDone,
    /// After a few chunks, a vLLM error event then `[DONE]`; the status stays 200.
    ErrorEvent,
    /// One `data:` line with invalid JSON in the middle of the stream.
    MalformedChunk,
    /// A 500 with a vLLM error body, before the request is even validated.
    Status500,
    /// The connection is closed without any response.
    Drop,
    /// A valid 200 answer of about 10 MB.
    HugeBody,
    /// Bytes that are not UTF-8 inside the answer text: in the JSON body, or in one extra
    /// chunk of a stream (the rest of the stream is intact).
    InvalidUtf8,
    /// A few chunks, then valid chunks as fast as the client reads them, until it goes away.
    /// Without streaming, a JSON body whose text never ends.
    Endless,
    /// One `data:` line of about 5 MB (a valid chunk) in the middle of a stream; without
    /// streaming, an answer of about 5 MB on one line.
    HugeLine,
    /// Status and headers only after `x-sim-latency`, or after 60 s when none is set; the
    /// answer then comes as usual.
    SlowHeaders,
    /// A 200 with an HTML page, as a proxy or a web server in front of the model sends.
    NonJson200,
    /// A 200 with an empty body.
    Empty200,
}

impl Fault {
    pub const ALL: [(&'static str, Fault); 14] = [
        ("reset-mid-stream", Fault::ResetMidStream),
        ("stall", Fault::Stall),
        ("no-done", Fault::NoDone),
        ("error-event", Fault::ErrorEvent),
        ("malformed-chunk", Fault::MalformedChunk),
        ("status-500", Fault::Status500),
        ("drop", Fault::Drop),
        ("huge-body", Fault::HugeBody),
        ("invalid-utf8", Fault::InvalidUtf8),
        ("endless", Fault::Endless),
        ("huge-line", Fault::HugeLine),
        ("slow-headers", Fault::SlowHeaders),
        ("non-json-200", Fault::NonJson200),
        ("empty-200", Fault::Empty200),
    ];

    fn parse(name: &str) -> Option<Fault> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// For the `--fault` flag: the fault, or the list of valid names.
    pub fn from_name(name: &str) -> Result<Fault, String> {
        Self::parse(name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
            format!("unknown fault `{name}`; valid faults: {}", names.join(", "))
        })
    }
}

/// How long a stalled response stays open.
pub const STALL_FOR: Duration = Duration::from_secs(60);
/// Content chunks sent before a mid-stream fault.
pub const FAULT_AFTER_CHUNKS: u64 = 3;
/// Size of the `huge-body` answer text.
pub const HUGE_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Size of the text inside the `huge-line` line.
pub const HUGE_LINE_BYTES: usize = 5 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct Knobs {
    pub latency: Duration,
    pub ttft: Duration,
    pub chunk_delay: Duration,
    pub tokens_per_chunk: u64,
    pub output_tokens: u64,
    pub fault: Option<Fault>,
    /// Write the server's send time into each streamed chunk (`--stamp`).
    pub stamp: bool,
}

impl Knobs {
    pub fn new(cfg: &SimConfig, headers: &HeaderMap) -> Result<Self, ApiError> {
        let duration = |name: &str, default: Duration| -> Result<Duration, ApiError> {
            match header(headers, name)? {
                None => Ok(default),
                Some(v) => header_duration(v).map_err(|e| ApiError::invalid(&e, name, Some(v))),
            }
        };
        let count = |name: &str, default: u32| -> Result<u64, ApiError> {
            match header(headers, name)? {
                None => Ok(u64::from(default)),
                Some(v) => match v.trim().parse::<u32>() {
                    Ok(n) if n >= 1 => Ok(u64::from(n)),
                    _ => Err(ApiError::invalid(&format!("{name} must be a whole number of at least 1"), name, Some(v))),
                },
            }
        };
        let fault = match header(headers, HEADER_FAULT)? {
            None => cfg.fault,
            Some(v) => Some(Fault::parse(v.trim()).ok_or_else(|| {
                let names: Vec<&str> = Fault::ALL.iter().map(|(n, _)| *n).collect();
                ApiError::invalid(
                    &format!("unknown fault `{v}`; valid faults: {}", names.join(", ")),
                    HEADER_FAULT,
                    None,
                )
            })?),
        };
        Ok(Self {
            latency: duration(HEADER_LATENCY, cfg.latency)?,
            ttft: duration(HEADER_TTFT, cfg.ttft)?,
            chunk_delay: duration(HEADER_CHUNK_DELAY, cfg.chunk_delay)?,
            tokens_per_chunk: count(HEADER_TOKENS_PER_CHUNK, cfg.tokens_per_chunk)?,
            output_tokens: count(HEADER_OUTPUT_TOKENS, cfg.output_tokens)?,
            fault,
            stamp: cfg.stamp,
        })
    }
}

/// Longest duration a header may ask for; also keeps the parse clear of float overflow.
const MAX_HEADER_DURATION: Duration = Duration::from_secs(3600);

fn header_duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    if v.len() > 12 {
        return Err(format!("`{v}` is too long for a duration"));
    }
    let d = parse_duration(v)?;
    if d > MAX_HEADER_DURATION {
        return Err(format!("`{v}` is longer than 1h"));
    }
    Ok(d)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| ApiError::invalid("header value is not visible ASCII", name, None)),
    }
}
