//! Per-request timing, length and fault settings: the configuration, overridden by
//! `x-sim-*` request headers so that one simulator can serve many differently-shaped tests.

use std::time::Duration;

use axum::http::HeaderMap;

use super::config::SimConfig;
use super::errors::ApiError;
use super::fault::{Fault, HEADER_FAULT};
use llmspec_vocab::units::parse_duration;

pub const HEADER_LATENCY: &str = "x-sim-latency";
pub const HEADER_TTFT: &str = "x-sim-ttft";
pub const HEADER_CHUNK_DELAY: &str = "x-sim-chunk-delay";
pub const HEADER_TOKENS_PER_CHUNK: &str = "x-sim-tokens-per-chunk";
pub const HEADER_OUTPUT_TOKENS: &str = "x-sim-output-tokens";
pub const HEADER_CAPACITY: &str = "x-sim-capacity";

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
    /// Requests served at full speed at once (`--capacity`); 0: no limit.
    pub capacity: u64,
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
            capacity: match header(headers, HEADER_CAPACITY)? {
                None => u64::from(cfg.capacity),
                Some(_) => count(HEADER_CAPACITY, cfg.capacity.max(1))?,
            },
        })
    }

    /// Beyond its capacity a server slows down: every delay grows by the share of requests in
    /// flight over the slots, as a batch that grows makes each step of every sequence slower.
    pub fn crowded(&mut self, in_flight: u64) {
        if self.capacity == 0 || in_flight <= self.capacity {
            return;
        }
        let factor = in_flight as f64 / self.capacity as f64;
        for delay in [&mut self.latency, &mut self.ttft, &mut self.chunk_delay] {
            *delay = delay.mul_f64(factor);
        }
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
