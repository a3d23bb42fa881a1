//! Reads a `text/event-stream` body, timestamping every network chunk as it arrives.
//!
//! What it holds is bounded whatever the server sends (defaults in `http`): the raw text up to
//! `keep_raw`, a line and an event up to `max_line_bytes` / `max_event_bytes`, kept events up to
//! `max_kept_events_bytes` of estimated memory, the reassembled text up to `max_answer_bytes`,
//! `max_kept_arrivals` timestamps, plus one network chunk. Everything past that is counted.

use super::chunk::Chunk;
use super::http::{Limit, ReadOptions};
use super::reassemble::Reassembler;
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
    let mut raw = Vec::new();
    let mut parser = SseParser::new(opts.sse_limits());
    let mut events: Vec<SseEvent> = Vec::new();
    let mut sink = Sink::new(opts);
    let idle = opts.idle_timeout;
    // One timer for the whole stream, moved only when it fires: re-arming it for every chunk
    // would cost a timer-wheel insertion per token.
    let stall = tokio::time::sleep(idle);
    tokio::pin!(stall);
    let mut last_chunk = Instant::now();
    let end = loop {
        let next = tokio::select! {
            biased;
            next = response.chunk() => next,
            () = &mut stall => {
                let quiet_until = last_chunk + idle;
                if Instant::now() >= quiet_until {
                    break StreamEnd::Stalled(idle);
                }
                stall.as_mut().reset(quiet_until.into());
                continue;
            }
        };
        let next = match next {
            Err(e) if super::http::ran_out_of_time(&e) => break StreamEnd::TimedOut,
            Err(e) => break StreamEnd::Broken(super::http::root_cause(&e)),
            Ok(None) => {
                let parsed = parser.finish(&mut events);
                let at = start.elapsed();
                if sink.absorb(&mut events, at) {
                    break StreamEnd::Done;
                }
                match parsed {
                    Ok(()) => break StreamEnd::Eof,
                    Err(e) => break StreamEnd::Abandoned(e.to_string()),
                }
            }
            Ok(Some(bytes)) => bytes,
        };
        // Timestamp first: parsing time must not count against the server.
        last_chunk = Instant::now();
        let at = last_chunk - start;
        sink.obs.network_chunks += 1;
        sink.obs.bytes += next.len();
        if raw.len() < opts.keep_raw {
            raw.extend_from_slice(&next[..next.len().min(opts.keep_raw - raw.len())]);
        }
        let parsed = parser.push(&next, &mut events);
        // Events completed before a parse error still count.
        if sink.absorb(&mut events, at) {
            break StreamEnd::Done;
        }
        if let Err(e) = parsed {
            break StreamEnd::Abandoned(e.to_string());
        }
    };
    let (mut obs, answer) = sink.finish();
    obs.end = end;
    obs.comments = parser.comments;
    (obs, raw_text(raw), answer)
}

/// The kept raw bytes as text. Invalid UTF-8 is reported by the parser with its offset; here a
/// character cut by `keep_raw` is dropped rather than shown as a replacement character.
fn raw_text(raw: Vec<u8>) -> String {
    match String::from_utf8(raw) {
        Ok(text) => text,
        Err(e) => {
            let (valid, cut_at_the_end) = (e.utf8_error().valid_up_to(), e.utf8_error().error_len().is_none());
            let mut bytes = e.into_bytes();
            if cut_at_the_end {
                bytes.truncate(valid);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }
}

/// Takes parsed events into the observation and the answer, within the limits.
pub struct Sink {
    obs: StreamObservation,
    answer: Reassembler,
    keep_events: bool,
    kept_events_bytes: usize,
    max_kept_events_bytes: usize,
    max_kept_arrivals: usize,
}

impl Sink {
    pub fn new(opts: &ReadOptions) -> Sink {
        Sink {
            obs: StreamObservation::default(),
            answer: Reassembler::new(opts.max_answer_bytes),
            keep_events: opts.keep_events,
            kept_events_bytes: 0,
            max_kept_events_bytes: opts.max_kept_events_bytes,
            max_kept_arrivals: opts.max_kept_arrivals,
        }
    }

    /// Records parsed events; true once `[DONE]` arrived.
    pub fn absorb(&mut self, events: &mut Vec<SseEvent>, at: Duration) -> bool {
        for event in events.drain(..) {
            if event.data.trim() == "[DONE]" {
                self.obs.done = true;
                return true;
            }
            self.obs.event_count += 1;
            // Most chunks need no tree: only kept events, errors and the first chunk's head do.
            let needs_tree = self.keep_events || !self.answer.started() || event.event.as_deref() == Some("error");
            if let Some(chunk) = (!needs_tree).then(|| Chunk::parse(&event.data)).flatten().filter(|c| !c.error) {
                self.take(&chunk, at);
                continue;
            }
            match serde_json::from_str::<Value>(&event.data) {
                Ok(tree) => {
                    let chunk = Chunk::of(&tree);
                    if chunk.error || event.event.as_deref() == Some("error") {
                        self.obs.error_event.get_or_insert_with(|| tree.get("error").cloned().unwrap_or(tree.clone()));
                    }
                    self.answer.absorb_head(&tree);
                    self.take(&chunk, at);
                    if self.keep_events {
                        self.keep(tree);
                    }
                }
                Err(e) => {
                    // Whole: the event is bounded by its limit, and the output layer redacts
                    // secrets before it shortens anything.
                    let n = self.obs.event_count;
                    self.obs.malformed.get_or_insert_with(|| format!("event {n} is not JSON ({e}): {}", event.data));
                }
            }
        }
        false
    }

    fn take(&mut self, chunk: &Chunk<'_>, at: Duration) {
        if chunk.carries_output() {
            self.obs.output.record(at, self.max_kept_arrivals);
        }
        self.answer.absorb_chunk(chunk);
    }

    fn keep(&mut self, chunk: Value) {
        let size = heap_bytes(&chunk);
        if self.obs.events_not_kept == 0 && self.kept_events_bytes + size <= self.max_kept_events_bytes {
            self.kept_events_bytes += size;
            self.obs.events.push(chunk);
        } else {
            // Once one is left out, later ones are too: `events` stays a prefix of the stream.
            self.obs.events_not_kept += 1;
        }
    }

    /// The observation, with what was cut, and the reassembled answer.
    pub fn finish(mut self) -> (StreamObservation, Value) {
        if self.obs.events_not_kept > 0 {
            self.obs.cut.push(format!(
                "the events take more than {} as parsed JSON, the limit for kept events ({}): the first {} were kept, {} more were counted",
                crate::vocab::units::format_size(self.max_kept_events_bytes),
                Limit::KeptEventsBytes.how_set(),
                self.obs.events.len(),
                self.obs.events_not_kept
            ));
        }
        self.obs.cut.extend(self.answer.cut());
        self.obs.usage_seen = self.answer.usage_seen;
        self.obs.finish_counts = std::mem::take(&mut self.answer.finish_counts);
        (self.obs, self.answer.response())
    }
}

/// An estimate of the memory a parsed JSON value takes: its node, the text of its strings and
/// keys, and per-entry overhead of arrays and maps (slightly above serde_json's real layout).
pub fn heap_bytes(value: &Value) -> usize {
    const NODE: usize = std::mem::size_of::<Value>();
    const ENTRY: usize = std::mem::size_of::<String>() + 3 * std::mem::size_of::<usize>();
    NODE + match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(heap_bytes).sum::<usize>(),
        Value::Object(map) => map.iter().map(|(k, v)| ENTRY + k.len() + heap_bytes(v)).sum::<usize>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(data: &str) -> SseEvent {
        SseEvent { event: None, data: data.into() }
    }

    fn content(text: &str) -> String {
        json!({"choices": [{"index": 0, "delta": {"content": text}}]}).to_string()
    }

    #[test]
    fn a_malformed_event_is_reported_whole() {
        let mut sink = Sink::new(&ReadOptions::default());
        let long = format!("{{not json {}", "x".repeat(5000));
        sink.absorb(&mut vec![event(&long)], Duration::ZERO);
        let (obs, _) = sink.finish();
        let m = obs.malformed.unwrap();
        assert!(m.starts_with("event 1 is not JSON") && m.ends_with(&long), "{}", m.len());
    }

    #[test]
    fn kept_events_stop_at_their_budget_and_the_rest_is_counted() {
        let one = heap_bytes(&serde_json::from_str(&content("hello")).unwrap());
        let opts = ReadOptions { max_kept_events_bytes: one * 10, ..ReadOptions::default() };
        let mut sink = Sink::new(&opts);
        let mut events: Vec<SseEvent> = (0..25).map(|_| event(&content("hello"))).collect();
        sink.absorb(&mut events, Duration::ZERO);
        let (obs, answer) = sink.finish();
        assert_eq!((obs.events.len(), obs.events_not_kept, obs.event_count), (10, 15, 25));
        assert_eq!(obs.output.count, 25);
        assert_eq!(answer["choices"][0]["message"]["content"].as_str().map(str::len), Some(125));
        assert_eq!(obs.cut.len(), 1);
        assert!(obs.cut[0].contains("--max-kept-events-bytes") && obs.cut[0].contains("15 more"), "{:?}", obs.cut);
    }

    #[test]
    fn the_answer_text_stops_at_its_budget() {
        let opts = ReadOptions { max_answer_bytes: 14, ..ReadOptions::default() };
        let mut sink = Sink::new(&opts);
        let mut events: Vec<SseEvent> = (0..5).map(|_| event(&content("héllo"))).collect();
        sink.absorb(&mut events, Duration::ZERO);
        let (obs, answer) = sink.finish();
        // "héllo" is 6 bytes: two fit, and the third is cut before the é it cannot hold whole;
        // nothing is kept after the cut.
        assert_eq!(answer["choices"][0]["message"]["content"], "héllohélloh");
        assert!(
            obs.cut.iter().any(|c| c.contains("--max-answer-bytes") && c.contains("17 more bytes")),
            "{:?}",
            obs.cut
        );
    }

    #[test]
    fn arrival_statistics_stay_exact_past_the_kept_timestamps() {
        let opts = ReadOptions { max_kept_arrivals: 3, ..ReadOptions::default() };
        let mut sink = Sink::new(&opts);
        for ms in [10, 20, 40, 45, 145, 150] {
            sink.absorb(&mut vec![event(&content("x"))], Duration::from_millis(ms));
        }
        let (obs, _) = sink.finish();
        let t = &obs.output;
        assert_eq!(t.kept, vec![Duration::from_millis(10), Duration::from_millis(20), Duration::from_millis(40)]);
        assert_eq!((t.count, t.first, t.last), (6, Some(Duration::from_millis(10)), Some(Duration::from_millis(150))));
        assert_eq!(t.max_gap, Some(Duration::from_millis(100)));
        assert_eq!(t.mean_gap(), Some(Duration::from_millis(28)));
        assert!(obs.cut.is_empty(), "fewer kept timestamps cut nothing a check reads");
    }

    #[test]
    fn heap_estimate_grows_with_shape_not_only_text() {
        let flat = heap_bytes(&json!("aaaaaaaaaa"));
        let nested = heap_bytes(&json!([[], [], [], []]));
        assert!(nested > flat, "{nested} vs {flat}");
    }

    #[test]
    fn a_raw_text_cut_inside_a_character_drops_it() {
        assert_eq!(raw_text("abé".as_bytes()[..3].to_vec()), "ab");
        assert_eq!(raw_text(b"a\xffb".to_vec()), "a\u{fffd}b");
    }
}
