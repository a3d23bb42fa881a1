//! Server-sent-event bodies, framed as vLLM frames them, and the broken bodies of the
//! mid-response faults.
//!
//! Every chunk is due at an absolute deadline counted from the request's start
//! (`ttft + i × chunk_delay` for the i-th chunk), so sleeps never accumulate drift, and
//! every chunk is its own body frame, which hyper flushes as soon as the body waits. A
//! stream holds only its plan and one timer: the text of a chunk is made when it is due.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep, sleep_until};

use super::answer::{Answer, Body};
use super::app::InFlight;
use super::fault::Fault;
use super::jsonfmt::push_str;
use super::knobs::{FAULT_AFTER_CHUNKS, HUGE_LINE_BYTES, Knobs, STALL_FOR};
use super::options;
use super::spliced::Filler;
use super::text::{self, Style};
use serde_json::Value;

/// The error event vLLM sends when generation fails after the stream started.
pub(crate) const ERROR_EVENT: &str = "data: {\"error\":{\"message\":\"Internal server error\",\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}\n\n";
const DONE: &str = "data: [DONE]\n\n";
/// What the `invalid-utf8` fault puts inside an answer text: a lone 0xFF and 0xFE, which never
/// occur in UTF-8, four bytes in.
pub(crate) const INVALID_UTF8: &[u8] = b"bad \xff\xfe bytes";
/// Chunks sent as one body frame by the `endless` fault.
const ENDLESS_CHUNKS_PER_FRAME: usize = 64;

/// Token counts reported in `usage`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Usage {
    pub prompt: u64,
    pub completion: u64,
    pub reasoning: u64,
}

impl Usage {
    pub fn push_json(&self, out: &mut String) {
        out.push_str(&format!(
            "{{\"prompt_tokens\":{},\"total_tokens\":{},\"completion_tokens\":{}",
            self.prompt,
            self.prompt + self.completion,
            self.completion
        ));
        if self.reasoning > 0 {
            out.push_str(&format!(",\"completion_tokens_details\":{{\"reasoning_tokens\":{}}}", self.reasoning));
        }
        out.push('}');
    }
}

/// Everything a stream needs to produce its events.
pub(crate) struct StreamPlan {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub fingerprint: &'static str,
    pub answer: Answer,
    /// One seed per choice.
    pub seeds: Vec<u64>,
    /// Per choice, the prompt echoed before the first chunk's text (completions).
    pub echoes: Vec<Option<String>>,
    /// One tool-call id per choice (chat tool calls only).
    pub tool_ids: Vec<String>,
    /// Present when the usage chunk is sent.
    pub usage: Option<Usage>,
    pub knobs: Knobs,
    pub start: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Role,
    Chunk(u64),
    ToolFinish,
    Usage,
    Done,
    Stalled,
    /// Inside the `huge-line` line; chunk `.0` follows it.
    HugeLine(u64),
    Endless,
    Fail(&'static str),
    End,
}

enum Emit {
    Frame(String),
    Bytes(Bytes),
    Skip,
    Fail(&'static str),
    End,
}

pub(crate) struct SseStream {
    plan: StreamPlan,
    prefix: String,
    step: Step,
    chunks: u64,
    reasoning_chunks: u64,
    fault_at: u64,
    fault_pending: bool,
    stall_until: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
    flushed_before_fail: bool,
    /// The rest of the `huge-line` line's text.
    filler: Option<Filler>,
    /// The frame the `endless` fault sends again and again.
    endless: Option<Bytes>,
    _in_flight: InFlight,
}

impl SseStream {
    pub fn new(plan: StreamPlan, in_flight: InFlight) -> Self {
        let object = match plan.answer.style {
            Style::Chat => "chat.completion.chunk",
            Style::Completion => "text_completion",
        };
        let mut prefix = String::with_capacity(128);
        prefix.push_str("data: {\"id\":");
        push_str(&mut prefix, &plan.id);
        prefix.push_str(&format!(",\"object\":\"{object}\",\"created\":{},\"model\":", plan.created));
        push_str(&mut prefix, &plan.model);
        prefix.push(',');

        let tpc = plan.knobs.tokens_per_chunk.max(1);
        let reasoning_chunks = plan.answer.reasoning.div_ceil(tpc);
        let body_chunks = match &plan.answer.body {
            Body::Text { emitted, .. } => emitted.div_ceil(tpc),
            Body::Tool { emitted: 0, .. } => 0,
            Body::Tool { emitted, .. } => 1 + (emitted - 1).div_ceil(tpc),
        };
        let chunks = reasoning_chunks + body_chunks;
        let fault_pending = plan.knobs.fault.is_some();
        let step = match plan.answer.style {
            Style::Chat => Step::Role,
            Style::Completion => Step::Chunk(0),
        };
        Self {
            prefix,
            step,
            chunks,
            reasoning_chunks,
            fault_at: FAULT_AFTER_CHUNKS.min(chunks.saturating_sub(1)),
            fault_pending,
            stall_until: None,
            sleep: None,
            flushed_before_fail: false,
            filler: None,
            endless: None,
            _in_flight: in_flight,
            plan,
        }
    }

    fn at(&self, offset: Duration) -> Instant {
        self.plan.start.checked_add(offset).unwrap_or_else(|| self.plan.start + Duration::from_secs(86_400 * 365))
    }

    fn chunk_deadline(&self, j: u64) -> Instant {
        let gaps = u32::try_from(j).unwrap_or(u32::MAX);
        let offset = self
            .plan
            .knobs
            .chunk_delay
            .checked_mul(gaps)
            .and_then(|d| d.checked_add(self.plan.knobs.ttft))
            .unwrap_or(Duration::MAX);
        self.at(offset)
    }

    fn deadline(&self) -> Option<Instant> {
        match self.step {
            Step::Role => Some(self.at(self.plan.knobs.ttft)),
            Step::Chunk(j) if j < self.chunks => Some(self.chunk_deadline(j)),
            Step::Stalled => self.stall_until,
            _ => None,
        }
    }

    fn is_tool(&self) -> bool {
        matches!(self.plan.answer.body, Body::Tool { .. })
    }

    fn after_chunks(&self) -> Step {
        if self.is_tool() { Step::ToolFinish } else { Step::Usage }
    }

    fn advance(&mut self) -> Emit {
        match self.step {
            Step::Role => {
                self.step = Step::Chunk(0);
                Emit::Frame(self.role_frame())
            }
            Step::Chunk(j) if j >= self.chunks => {
                self.step = self.after_chunks();
                Emit::Skip
            }
            Step::Chunk(j) => {
                if self.fault_pending
                    && j == self.fault_at
                    && let Some(emit) = self.fault()
                {
                    return emit;
                }
                self.step = if j + 1 < self.chunks { Step::Chunk(j + 1) } else { self.after_chunks() };
                Emit::Frame(self.chunk_frame(j))
            }
            Step::ToolFinish => {
                self.step = Step::Usage;
                Emit::Frame(self.tool_finish_frame())
            }
            Step::Usage => {
                self.step = Step::Done;
                match self.plan.usage {
                    Some(usage) => Emit::Frame(self.usage_frame(usage)),
                    None => Emit::Skip,
                }
            }
            Step::Done => {
                self.step = Step::End;
                if self.plan.knobs.fault == Some(Fault::NoDone) { Emit::End } else { Emit::Frame(DONE.to_string()) }
            }
            Step::Stalled => {
                self.step = Step::End;
                Emit::Fail("stalled response closed")
            }
            Step::HugeLine(next) => match self.filler.as_mut().and_then(Filler::next_piece) {
                Some(piece) => Emit::Bytes(piece),
                None => {
                    self.filler = None;
                    self.step = Step::Chunk(next);
                    Emit::Frame(self.text_chunk_ends().1.to_string())
                }
            },
            Step::Endless => match &self.endless {
                Some(frame) => Emit::Bytes(frame.clone()),
                None => Emit::End,
            },
            Step::Fail(why) => {
                self.step = Step::End;
                Emit::Fail(why)
            }
            Step::End => Emit::End,
        }
    }

    /// The fault due before chunk `fault_at`; `None` lets the chunk go out.
    fn fault(&mut self) -> Option<Emit> {
        self.fault_pending = false;
        match self.plan.knobs.fault? {
            Fault::ResetMidStream => {
                self.step = Step::End;
                Some(Emit::Fail("connection reset on purpose"))
            }
            Fault::Stall => {
                self.stall_until = Some(Instant::now() + STALL_FOR);
                self.step = Step::Stalled;
                Some(Emit::Skip)
            }
            Fault::ErrorEvent => {
                self.step = Step::Done;
                Some(Emit::Frame(ERROR_EVENT.to_string()))
            }
            Fault::MalformedChunk => {
                let mut s = self.prefix.clone();
                s.push_str("\"choices\":[{\"index\":0,\"delta\":{\"content\":\n\n");
                Some(Emit::Frame(s))
            }
            Fault::InvalidUtf8 => {
                let (open, close) = self.text_chunk_ends();
                Some(Emit::Bytes(Bytes::from([open.as_bytes(), INVALID_UTF8, close.as_bytes()].concat())))
            }
            Fault::HugeLine => {
                self.filler = Some(Filler::sized(HUGE_LINE_BYTES));
                self.step = Step::HugeLine(self.fault_at);
                Some(Emit::Frame(self.text_chunk_ends().0))
            }
            Fault::Endless => {
                let (open, close) = self.text_chunk_ends();
                let chunk = format!("{open} more{close}");
                self.endless = Some(Bytes::from(chunk.repeat(ENDLESS_CHUNKS_PER_FRAME)));
                self.step = Step::Endless;
                Some(Emit::Skip)
            }
            _ => None,
        }
    }

    /// A chunk of the first choice's answer text, cut open where its text goes: the part
    /// before the text, and the part after it.
    fn text_chunk_ends(&self) -> (String, &'static str) {
        let mut open = self.prefix.clone();
        match self.plan.answer.style {
            Style::Chat => {
                open.push_str("\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
                (open, "\"},\"logprobs\":null,\"finish_reason\":null,\"token_ids\":null}]}\n\n")
            }
            Style::Completion => {
                open.push_str("\"choices\":[{\"index\":0,\"text\":\"");
                (open, "\",\"logprobs\":null,\"finish_reason\":null,\"token_ids\":null}]}\n\n")
            }
        }
    }

    fn role_frame(&self) -> String {
        let mut out = String::new();
        for c in 0..self.plan.seeds.len() {
            out.push_str(&self.prefix);
            out.push_str(&format!(
                "\"choices\":[{{\"index\":{c},\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"logprobs\":null,\"finish_reason\":null}}],\"prompt_token_ids\":null,\"prompt_text\":null}}\n\n"
            ));
        }
        out
    }

    fn chunk_frame(&self, j: u64) -> String {
        let tpc = self.plan.knobs.tokens_per_chunk.max(1);
        let answer = &self.plan.answer;
        let last = j + 1 == self.chunks;
        let finish = (last && !self.is_tool()).then_some(answer.finish_reason);
        let mut out = String::with_capacity(256 * self.plan.seeds.len());
        for (c, seed) in self.plan.seeds.iter().enumerate() {
            let mut logprobs = None;
            out.push_str(&self.prefix);
            out.push_str(&format!("\"choices\":[{{\"index\":{c},"));
            if j < self.reasoning_chunks {
                let range = j * tpc..((j + 1) * tpc).min(answer.reasoning);
                let t = text::reasoning(range);
                out.push_str("\"delta\":{\"reasoning\":");
                push_str(&mut out, &t);
                out.push_str(",\"reasoning_content\":");
                push_str(&mut out, &t);
                out.push('}');
            } else {
                let k = j - self.reasoning_chunks;
                match &answer.body {
                    Body::Text { emitted, .. } => {
                        let range = k * tpc..((k + 1) * tpc).min(*emitted);
                        let mut t = answer.text_range(*seed, range.clone());
                        if k == 0
                            && let Some(Some(echo)) = self.plan.echoes.get(c)
                        {
                            t.insert_str(0, echo);
                        }
                        if answer.style == Style::Chat && answer.logprobs.is_some() {
                            logprobs = Some(range);
                        }
                        match answer.style {
                            Style::Chat => out.push_str("\"delta\":{\"content\":"),
                            Style::Completion => out.push_str("\"text\":"),
                        }
                        push_str(&mut out, &t);
                        if answer.style == Style::Chat {
                            out.push('}');
                        }
                    }
                    Body::Tool { call, .. } if k == 0 => {
                        let id = self.plan.tool_ids.get(c).map_or("", String::as_str);
                        out.push_str("\"delta\":{\"content\":null,\"tool_calls\":[{\"id\":");
                        push_str(&mut out, id);
                        out.push_str(",\"type\":\"function\",\"index\":0,\"function\":{\"name\":");
                        push_str(&mut out, &call.name);
                        out.push_str("}}]}");
                    }
                    Body::Tool { call, fragment_ends, emitted } => {
                        let first = (k - 1) * tpc;
                        let end = (k * tpc).min(emitted.saturating_sub(1));
                        let from = match first {
                            0 => 0,
                            f => fragment_ends.get(f as usize - 1).copied().unwrap_or(0),
                        };
                        let to = match end {
                            0 => 0,
                            e => fragment_ends.get(e as usize - 1).copied().unwrap_or(0),
                        };
                        let piece = call.arguments.get(from..to).unwrap_or("");
                        out.push_str("\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":");
                        push_str(&mut out, piece);
                        out.push_str("}}]}");
                    }
                }
            }
            match logprobs {
                Some(range) => {
                    let content = Value::Array(options::chat_entries(answer, *seed, range));
                    out.push_str(&format!(",\"logprobs\":{{\"content\":{content}}},"));
                }
                None => out.push_str(",\"logprobs\":null,"),
            }
            match finish {
                Some(f) => out.push_str(&format!("\"finish_reason\":\"{f}\",\"stop_reason\":null,")),
                None => out.push_str("\"finish_reason\":null,"),
            }
            out.push_str("\"token_ids\":null}]");
            if finish.is_some() && self.plan.usage.is_none() {
                out.push_str(",\"system_fingerprint\":");
                push_str(&mut out, self.plan.fingerprint);
            }
            out.push_str("}\n\n");
        }
        out
    }

    fn tool_finish_frame(&self) -> String {
        let mut out = String::new();
        for c in 0..self.plan.seeds.len() {
            out.push_str(&self.prefix);
            out.push_str(&format!(
                "\"choices\":[{{\"index\":{c},\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"{}\",\"stop_reason\":null}}]",
                self.plan.answer.finish_reason
            ));
            if self.plan.usage.is_none() {
                out.push_str(",\"system_fingerprint\":");
                push_str(&mut out, self.plan.fingerprint);
            }
            out.push_str("}\n\n");
        }
        out
    }

    fn usage_frame(&self, usage: Usage) -> String {
        let mut out = self.prefix.clone();
        out.push_str("\"choices\":[],\"usage\":");
        usage.push_json(&mut out);
        out.push_str(",\"system_fingerprint\":");
        push_str(&mut out, self.plan.fingerprint);
        out.push_str("}\n\n");
        out
    }
}

impl Stream for SseStream {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(deadline) = this.deadline()
                && deadline > Instant::now()
            {
                let sleep = this.sleep.get_or_insert_with(|| Box::pin(sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                ready!(sleep.as_mut().poll(cx));
            }
            match this.advance() {
                Emit::Frame(s) if this.plan.knobs.stamp && s.starts_with("data: {") => {
                    // The wall clock, not Instant: the client reading it runs in another process.
                    let us = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_micros();
                    let stamped = format!("data: {{\"sim_sent_us\":{us},{}", &s["data: {".len()..]);
                    return Poll::Ready(Some(Ok(Bytes::from(stamped))));
                }
                Emit::Frame(s) => return Poll::Ready(Some(Ok(Bytes::from(s)))),
                Emit::Bytes(b) => return Poll::Ready(Some(Ok(b))),
                Emit::Skip => {}
                Emit::Fail(why) => {
                    if !this.flushed_before_fail {
                        // Let hyper flush what was sent before the abort, or the client
                        // would see no response at all instead of a broken one.
                        this.flushed_before_fail = true;
                        this.step = Step::Fail(why);
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::ConnectionReset, why))));
                }
                Emit::End => return Poll::Ready(None),
            }
        }
    }
}

/// A body that sends `head`, optionally waits until `hang_until`, then fails, so that the
/// connection is aborted mid-body.
pub(crate) struct BrokenBody {
    head: Option<Bytes>,
    hang_until: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
    flushed: bool,
    done: bool,
    _in_flight: InFlight,
}

impl BrokenBody {
    pub fn new(head: Bytes, hang_until: Option<Instant>, in_flight: InFlight) -> Self {
        Self { head: Some(head), hang_until, sleep: None, flushed: false, done: false, _in_flight: in_flight }
    }
}

impl Stream for BrokenBody {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(head)));
        }
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(until) = this.hang_until {
            let sleep = this.sleep.get_or_insert_with(|| Box::pin(sleep_until(until)));
            ready!(sleep.as_mut().poll(cx));
        } else if !this.flushed {
            this.flushed = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.done = true;
        Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::ConnectionReset, "response cut on purpose"))))
    }
}
