//! One HTTP exchange: send a rendered request, read the answer, time it.

mod resolve;
mod reuse;
mod tls;

pub use resolve::{HostResolver, ResolveError};

pub use tls::TlsOptions;

use crate::observed::Observed;
use std::time::{Duration, Instant};

/// Default `max_body_bytes`. A body is held and parsed as JSON, which takes up to some 17 times
/// its size for a pathological document (`[0,0,0,...]`): 16 MiB keeps that under 300 MB, and
/// chat and completion answers are far smaller.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A request with every reference resolved, ready to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Shared, not copied, by every request of a load test that sends it.
    pub body: Option<bytes::Bytes>,
    pub timeout: Duration,
    pub read: ReadOptions,
}

/// What to keep of an answer while reading it, and the most a hostile answer can make us hold.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Longest silence allowed between two chunks of a streamed answer.
    pub idle_timeout: Duration,
    /// Keep every streamed event (for `expect.events`).
    pub keep_events: bool,
    /// Bytes of a streamed answer's raw text to keep (for `expect.body` and transcripts).
    pub keep_raw: usize,
    /// Longest line of an event stream (`--max-line-bytes`); a longer one ends the stream as an
    /// error.
    pub max_line_bytes: usize,
    /// Largest data of one event (`--max-event-bytes`); a larger one ends the stream as an error.
    pub max_event_bytes: usize,
    /// Memory the kept events may take as parsed JSON, estimated from their shape
    /// (`--max-kept-events-bytes`). Events past it are counted, not kept, and the stream gets
    /// no verdict on its events.
    pub max_kept_events_bytes: usize,
    /// Bytes of reassembled text: content, reasoning, completion text, tool-call names and
    /// arguments, all choices together (`--max-answer-bytes`). Text past it is counted, not
    /// kept, and the answer gets no verdict.
    pub max_answer_bytes: usize,
    /// Arrival times of output chunks kept for the distribution of chunk gaps. TTFT, TPOT, e2e,
    /// max and mean gap stay exact past it (running statistics); only the pooled `chunk_gap`
    /// distribution of a load run then sees the first gaps of the request.
    pub max_kept_arrivals: usize,
    /// Largest non-streamed body (`--max-body-bytes`); a larger one is an error.
    pub max_body_bytes: usize,
}

/// Default `max_line_bytes`. One OpenAI-style chunk is a few hundred bytes; 1 MiB holds a whole
/// 32k-token answer sent as a single event even when every character is JSON-escaped.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Default `max_event_bytes`: the same reasoning as `MAX_LINE_BYTES`, for data split over lines.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Default `max_kept_events_bytes`: a 4096-token answer streamed token by token takes about
/// 6 MiB as parsed events; 32 MiB leaves room for long reasoning answers.
pub const MAX_KEPT_EVENTS_BYTES: usize = 32 * 1024 * 1024;
/// Default `max_answer_bytes`: 16 MiB is some four million tokens of text, far past any
/// context window.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// Default `max_kept_arrivals`: 100 000 timestamps (1.6 MB) cover any real answer.
pub const MAX_KEPT_ARRIVALS: usize = 100_000;

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            idle_timeout: crate::spec::check::DEFAULT_IDLE_TIMEOUT,
            keep_events: true,
            keep_raw: 1024 * 1024,
            max_line_bytes: MAX_LINE_BYTES,
            max_event_bytes: MAX_EVENT_BYTES,
            max_kept_events_bytes: MAX_KEPT_EVENTS_BYTES,
            max_answer_bytes: MAX_ANSWER_BYTES,
            max_kept_arrivals: MAX_KEPT_ARRIVALS,
            max_body_bytes: MAX_BODY_BYTES,
        }
    }
}

impl ReadOptions {
    pub fn sse_limits(&self) -> super::sse::SseLimits {
        super::sse::SseLimits { max_line_bytes: self.max_line_bytes, max_event_bytes: self.max_event_bytes }
    }
}

/// The limits a hostile answer can run into, named as a person sets them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    LineBytes,
    EventBytes,
    KeptEventsBytes,
    AnswerBytes,
}

impl Limit {
    /// The command-line option that sets it.
    pub fn flag(self) -> &'static str {
        match self {
            Limit::LineBytes => "--max-line-bytes",
            Limit::EventBytes => "--max-event-bytes",
            Limit::KeptEventsBytes => "--max-kept-events-bytes",
            Limit::AnswerBytes => "--max-answer-bytes",
        }
    }

    pub fn how_set(self) -> String {
        format!("set with {}", self.flag())
    }
}

/// Why no complete response was observed. Always a sentence a person can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportError(pub String);

/// The client every request of a run goes through (it keeps connections alive between them).
pub fn client(tls: &TlsOptions) -> Result<reqwest::Client, String> {
    client_from(tls, None)
}

/// A client whose connections leave from `source` (`--local-addr`), or from the address the
/// system picks.
pub fn client_from(tls: &TlsOptions, source: Option<std::net::IpAddr>) -> Result<reqwest::Client, String> {
    // ring: small, and no C library of its own to build, which keeps the static binary small.
    // Installed once for the process; a second call finds it there.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder()
        .user_agent(concat!("llmspec/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(std::sync::Arc::new(HostResolver::default()))
        .local_address(source)
        // reqwest aborts a connection whose data or keep-alive probes go unacknowledged for
        // 30 s. With tens of thousands of streams the acknowledgements of a busy machine come
        // later than that, and healthy streams waiting for their first token were cut ("Connection
        // timed out"). Silence is judged by `idle_timeout` and the request's timeout instead; the
        // keep-alive probes stay, so a peer that is gone is still found.
        .tcp_user_timeout(None)
        .connector_layer(reuse::NoteConnections);
    // The Mozilla roots built in stand beside the system's (a machine's own and its company's
    // CAs), so that an image or a machine without any CA bundle still verifies public servers.
    // `--cacert` trusts its CAs and no others: then none are added.
    let builder = match &tls.cacert {
        Some(_) => builder,
        None => builder.tls_certs_merge(
            webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok()),
        ),
    };
    tls.apply(builder)?.build().map_err(|e| format!("cannot set up the HTTP client: {}", root_cause(&e)))
}

fn build(client: &reqwest::Client, out: &Outgoing) -> Result<reqwest::Request, TransportError> {
    let mut builder = client.request(out.method.clone(), &out.url).timeout(out.timeout);
    for (name, value) in &out.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &out.body {
        builder = builder.body(body.clone());
    }
    builder.build().map_err(|e| TransportError(format!("cannot build the request to {}: {}", out.url, root_cause(&e))))
}

/// A kept-alive connection that the server closed (llama-server closes idle ones) while we
/// sent a request on it fails before any answer, and says nothing about the server's health:
/// such a request is sent once more, on a new connection. The same failure on a connection made
/// for the request is the server's doing, and is reported.
fn closed_before_answering(e: &reqwest::Error) -> bool {
    !e.is_timeout() && !e.is_connect() && root_cause(e).contains("connection closed before message completed")
}

/// Why a failed attempt may be sent again: it went out on a kept-alive connection that was
/// already closed. `made` lists the connections opened for the attempt.
fn resend_reason(e: &reqwest::Error, made: &[reuse::Made]) -> Option<String> {
    if !closed_before_answering(e) {
        return None;
    }
    let used = reuse::connection_of(e)?;
    (!made.iter().any(|m| m.local == used)).then(|| {
        format!(
            "sent twice: the kept-alive connection from {used} was closed by the server before it answered ({}); sent again on a new connection",
            root_cause(e)
        )
    })
}

pub async fn exchange(client: &reqwest::Client, out: &Outgoing) -> Result<Observed, TransportError> {
    let mut start = Instant::now();
    let (mut sent, mut made) = reuse::noting_connections(client.execute(build(client, out)?)).await;
    let mut resent = None;
    if let Some(reason) = sent.as_ref().err().and_then(|e| resend_reason(e, &made)) {
        start = Instant::now();
        (sent, made) = reuse::noting_connections(client.execute(build(client, out)?)).await;
        resent = Some(reason);
    }
    let connect = made.iter().map(|m| m.took).reduce(|a, b| a + b);
    let mut response = sent.map_err(|e| describe(&e, out, None))?;
    let ttfb = start.elapsed();
    let status = response.status().as_u16();
    let version = format!("{:?}", response.version());
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect::<Vec<_>>();
    let is_stream = headers_of(&headers, "content-type").is_some_and(|ct| ct.starts_with("text/event-stream"));
    if is_stream {
        let (stream, raw, answer) = super::stream::read(&mut response, start, &out.read).await;
        let latency = start.elapsed();
        return Ok(Observed {
            version,
            status,
            headers,
            body: raw,
            json: Some(answer),
            json_error: None,
            latency,
            ttfb,
            sent_at: Some(start),
            connect,
            stream: Some(stream),
            resent,
        });
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > out.read.max_body_bytes {
                    return Err(TransportError(format!(
                        "the response body is larger than {}, the limit for one body (set with --max-body-bytes); stopped reading it",
                        crate::vocab::units::format_size(out.read.max_body_bytes)
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(describe(&e, out, Some(body.len()))),
        }
    }
    let latency = start.elapsed();
    let body = String::from_utf8(body).map_err(|e| {
        TransportError(format!(
            "the response body ({status}, {} bytes) is not valid UTF-8 at byte {}",
            e.as_bytes().len(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    let (json, json_error) = if body.trim().is_empty() {
        (None, None)
    } else {
        match serde_json::from_str(&body) {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    Ok(Observed {
        version,
        status,
        headers,
        body,
        json,
        json_error,
        latency,
        ttfb,
        sent_at: Some(start),
        connect,
        stream: None,
        resent,
    })
}

fn headers_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The request's own timeout ran out. reqwest also counts as a timeout a socket that timed out
/// underneath (the kernel gave up retransmitting, or a host never answered a connect): that is a
/// broken connection with its cause, however much of the timeout was left.
pub fn ran_out_of_time(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut) {
            return false;
        }
        source = cause.source();
    }
    e.is_timeout()
}

fn describe(e: &reqwest::Error, out: &Outgoing, body_bytes: Option<usize>) -> TransportError {
    let cause = tls::explain(e).unwrap_or_else(|| root_cause(e));
    TransportError(if ran_out_of_time(e) {
        format!(
            "no complete response from {} within {} (timeout)",
            out.url,
            crate::vocab::units::format_duration(out.timeout)
        )
    } else if e.is_connect() {
        format!("cannot connect to {}: {cause}", out.url)
    } else if let Some(n) = body_bytes {
        format!("the connection broke after {n} bytes of the response body: {cause}")
    } else {
        format!("request to {} failed: {cause}", out.url)
    })
}

/// reqwest wraps the interesting cause ("connection refused") a few levels down.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut messages = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let m = s.to_string();
        if !messages.iter().any(|prev| prev.contains(&m)) {
            messages.push(m);
        }
        source = s.source();
    }
    messages.last().cloned().unwrap_or_default()
}
