//! Reads a `text/event-stream` body, timestamping every network chunk as it arrives.

use super::http::ReadOptions;
use super::reassemble::{Reassembler, carries_output};
use super::sse::{SseEvent, SseParser};
use crate::observed::{StreamEnd, StreamObservation};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Reads the stream to its end; returns what was observed, the raw text (up to
/// `opts.keep_raw` bytes) and the reassembled answer.
pub async fn read(
    response: &mut reqwest::Response,
    start: Instant,
    opts: &ReadOptions,
) -> (StreamObservation, String, Value) {
    let mut obs = StreamObservation::default();
    let mut raw = Vec::new();
    let mut parser = SseParser::default();
    let mut events: Vec<SseEvent> = Vec::new();
    let mut answer = Reassembler::default();
    let mut sink = Sink { obs: &mut obs, answer: &mut answer, keep_events: opts.keep_events };
    let idle = opts.idle_timeout;
    let end = loop {
        let next = match tokio::time::timeout(idle, response.chunk()).await {
            Err(_) => break StreamEnd::Stalled(idle),
            Ok(Err(e)) if e.is_timeout() => break StreamEnd::TimedOut,
            Ok(Err(e)) => break StreamEnd::Broken(super::http::root_cause(&e)),
            Ok(Ok(None)) => {
                parser.finish(&mut events);
                let at = start.elapsed();
                if sink.absorb(&mut events, at) {
                    break StreamEnd::Done;
                }
                break StreamEnd::Eof;
            }
            Ok(Ok(Some(bytes))) => bytes,
        };
        // Timestamp first: parsing time must not count against the server.
        let at = start.elapsed();
        sink.obs.network_chunks += 1;
        sink.obs.bytes += next.len();
        if raw.len() < opts.keep_raw {
            raw.extend_from_slice(&next[..next.len().min(opts.keep_raw - raw.len())]);
        }
        parser.push(&next, &mut events);
        if sink.absorb(&mut events, at) {
            break StreamEnd::Done;
        }
    };
    obs.end = end;
    obs.comments = parser.comments;
    obs.usage_seen = answer.usage_seen;
    obs.finish_counts = std::mem::take(&mut answer.finish_counts);
    (obs, String::from_utf8_lossy(&raw).into_owned(), answer.response())
}

struct Sink<'a> {
    obs: &'a mut StreamObservation,
    answer: &'a mut Reassembler,
    keep_events: bool,
}

impl Sink<'_> {
    /// Records parsed events; true once `[DONE]` arrived.
    fn absorb(&mut self, events: &mut Vec<SseEvent>, at: Duration) -> bool {
        for event in events.drain(..) {
            if event.data.trim() == "[DONE]" {
                self.obs.done = true;
                return true;
            }
            self.obs.event_count += 1;
            match serde_json::from_str::<Value>(&event.data) {
                Ok(chunk) => {
                    if chunk.get("error").is_some() || event.event.as_deref() == Some("error") {
                        self.obs
                            .error_event
                            .get_or_insert_with(|| chunk.get("error").cloned().unwrap_or(chunk.clone()));
                    }
                    if carries_output(&chunk) {
                        self.obs.output_arrivals.push(at);
                    }
                    self.answer.absorb(&chunk);
                    if self.keep_events {
                        self.obs.events.push(chunk);
                    }
                }
                Err(e) => {
                    let shown = crate::text::trim_middle(&event.data, 200);
                    let n = self.obs.event_count;
                    self.obs.malformed.get_or_insert(format!("event {n} is not JSON ({e}): {shown}"));
                }
            }
        }
        false
    }
}
