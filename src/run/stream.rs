//! Reads a `text/event-stream` body, timestamping every network chunk as it arrives.

use super::reassemble::carries_output;
use super::sse::{SseEvent, SseParser};
use crate::observed::{StreamEnd, StreamObservation};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Raw SSE text kept for `body` checks and transcripts; the events themselves are all kept.
const MAX_RAW_BYTES: usize = 1024 * 1024;

pub async fn read(response: &mut reqwest::Response, start: Instant, idle: Duration) -> (StreamObservation, String) {
    let mut obs = StreamObservation::default();
    let mut raw = Vec::new();
    let mut parser = SseParser::default();
    let mut events: Vec<SseEvent> = Vec::new();
    let end = loop {
        let next = match tokio::time::timeout(idle, response.chunk()).await {
            Err(_) => break StreamEnd::Stalled(idle),
            Ok(Err(e)) if e.is_timeout() => break StreamEnd::TimedOut,
            Ok(Err(e)) => break StreamEnd::Broken(super::http::root_cause(&e)),
            Ok(Ok(None)) => {
                parser.finish(&mut events);
                let at = start.elapsed();
                if absorb(&mut obs, &mut events, at) {
                    break StreamEnd::Done;
                }
                break StreamEnd::Eof;
            }
            Ok(Ok(Some(bytes))) => bytes,
        };
        // Timestamp first: parsing time must not count against the server.
        let at = start.elapsed();
        obs.network_chunks += 1;
        obs.bytes += next.len();
        if raw.len() < MAX_RAW_BYTES {
            raw.extend_from_slice(&next[..next.len().min(MAX_RAW_BYTES - raw.len())]);
        }
        parser.push(&next, &mut events);
        if absorb(&mut obs, &mut events, at) {
            break StreamEnd::Done;
        }
    };
    obs.end = end;
    obs.comments = parser.comments;
    (obs, String::from_utf8_lossy(&raw).into_owned())
}

/// Records parsed events; true once `[DONE]` arrived.
fn absorb(obs: &mut StreamObservation, events: &mut Vec<SseEvent>, at: Duration) -> bool {
    for event in events.drain(..) {
        if event.data.trim() == "[DONE]" {
            obs.done = true;
            return true;
        }
        match serde_json::from_str::<Value>(&event.data) {
            Ok(chunk) => {
                if chunk.get("error").is_some() || event.event.as_deref() == Some("error") {
                    obs.error_event.get_or_insert_with(|| chunk.get("error").cloned().unwrap_or(chunk.clone()));
                }
                if carries_output(&chunk) {
                    obs.output_arrivals.push(at);
                }
                obs.arrivals.push(at);
                obs.events.push(chunk);
            }
            Err(e) => {
                let shown = crate::text::trim_middle(&event.data, 200);
                obs.malformed.get_or_insert(format!("event {} is not JSON ({e}): {shown}", obs.events.len() + 1));
            }
        }
    }
    false
}
