//! What was observed of one request: the response as received and when things happened.
//!
//! The runner fills it in; expectations and reports only read it.

use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<serde_json::Value>,
    /// Why the body is not JSON, when it is not.
    pub json_error: Option<String>,
    /// From sending the request to the end of the body.
    pub latency: Duration,
    /// From sending the request to the response headers.
    pub ttfb: Duration,
    /// The instant the request was sent: every duration here counts from it.
    pub sent_at: Option<std::time::Instant>,
    /// Present when the answer was a `text/event-stream`; `json` is then the reassembled
    /// response.
    pub stream: Option<StreamObservation>,
}

/// A streamed answer as it arrived.
#[derive(Debug, Clone, Default)]
pub struct StreamObservation {
    /// Every `data:` event parsed as JSON, in order (`[DONE]` excluded), when they were kept
    /// (a spec that checks `expect.events` keeps them; load runs do not).
    pub events: Vec<serde_json::Value>,
    /// Events received (`[DONE]` excluded).
    pub event_count: usize,
    /// When the events that carried output (content, reasoning, tool calls) arrived, from
    /// sending the request (the arrival of the network chunk that held them).
    pub output_arrivals: Vec<Duration>,
    /// A chunk with a non-null `usage` arrived.
    pub usage_seen: bool,
    /// How many `finish_reason`s each choice received.
    pub finish_counts: std::collections::BTreeMap<u64, usize>,
    pub done: bool,
    /// The `error` object of an error event sent inside the stream.
    pub error_event: Option<serde_json::Value>,
    /// The first event that was not JSON.
    pub malformed: Option<String>,
    /// Comment lines (keep-alives).
    pub comments: usize,
    pub network_chunks: usize,
    pub bytes: usize,
    pub end: StreamEnd,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum StreamEnd {
    /// `data: [DONE]` arrived.
    Done,
    /// The body ended cleanly without `[DONE]`.
    #[default]
    Eof,
    /// The connection broke.
    Broken(String),
    /// Nothing arrived for this long.
    Stalled(Duration),
    /// The request's timeout ran out.
    TimedOut,
}

impl Observed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}
