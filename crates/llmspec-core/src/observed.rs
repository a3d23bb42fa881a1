//! What was observed of one request: the response as received and when things happened.
//!
//! The runner fills it in; expectations and reports only read it.

use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The protocol of the response, as its status line writes it (`HTTP/1.1`).
    pub version: String,
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
    /// Time spent opening the connection the request went out on, when one was opened for it
    /// (none when a kept-alive connection was reused). Counted inside every time above.
    pub connect: Option<Duration>,
    /// Present when the answer was a `text/event-stream`; `json` is then the reassembled
    /// response.
    pub stream: Option<StreamObservation>,
    /// Why the request was sent a second time, when it was (a kept-alive connection the
    /// server had closed).
    pub resent: Option<String>,
}

/// A streamed answer as it arrived.
#[derive(Debug, Clone, Default)]
pub struct StreamObservation {
    /// Every `data:` event parsed as JSON, in order (`[DONE]` excluded), when they were kept
    /// (a spec that checks `expect.events` keeps them; load runs do not), up to
    /// `ReadOptions::max_kept_events_bytes`.
    pub events: Vec<serde_json::Value>,
    /// Events that were received but not kept, because of that limit.
    pub events_not_kept: usize,
    /// Events received (`[DONE]` excluded).
    pub event_count: usize,
    /// When the events that carried output (content, reasoning, tool calls) arrived, from
    /// sending the request (the arrival of the network chunk that held them).
    pub output: OutputTimes,
    /// A chunk with a non-null `usage` arrived.
    pub usage_seen: bool,
    /// How many `finish_reason`s each choice received.
    pub finish_counts: std::collections::BTreeMap<u64, usize>,
    pub done: bool,
    /// The `error` object of an error event sent inside the stream.
    pub error_event: Option<serde_json::Value>,
    /// The first event that was not JSON.
    pub malformed: Option<String>,
    /// What was kept only in part because it went past a limit, as sentences; checks on a
    /// partial answer would mislead, so such a stream gets no verdict.
    pub cut: Vec<String>,
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
    /// Reading stopped because the stream cannot be parsed further: a line or event over its
    /// limit, bytes that are not UTF-8. The sentence says which, where and how to change a
    /// limit.
    Abandoned(String),
}

/// Arrival times of the chunks that carried output, as running statistics (exact however long
/// the stream) plus the first arrivals themselves, for the distribution of gaps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputTimes {
    /// The first arrivals, at most the `keep` passed to `record`.
    pub kept: Vec<Duration>,
    pub count: usize,
    pub first: Option<Duration>,
    pub last: Option<Duration>,
    pub max_gap: Option<Duration>,
    /// The sum of all gaps between successive arrivals.
    pub total_gap: Duration,
}

impl OutputTimes {
    pub fn record(&mut self, at: Duration, keep: usize) {
        if let Some(last) = self.last {
            let gap = at.saturating_sub(last);
            self.max_gap = Some(self.max_gap.map_or(gap, |m| m.max(gap)));
            self.total_gap += gap;
        }
        self.first.get_or_insert(at);
        self.last = Some(at);
        self.count += 1;
        if self.kept.len() < keep {
            self.kept.push(at);
        }
    }

    pub fn mean_gap(&self) -> Option<Duration> {
        let gaps = self.count.checked_sub(1).filter(|&n| n > 0)?;
        Some(match u32::try_from(gaps) {
            Ok(n) => self.total_gap / n,
            Err(_) => self.total_gap.div_f64(gaps as f64),
        })
    }
}

impl FromIterator<Duration> for OutputTimes {
    /// Every arrival kept (tests and small streams).
    fn from_iter<I: IntoIterator<Item = Duration>>(arrivals: I) -> OutputTimes {
        let mut times = OutputTimes::default();
        arrivals.into_iter().for_each(|at| times.record(at, usize::MAX));
        times
    }
}

impl Observed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}
