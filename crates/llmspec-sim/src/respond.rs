//! The parts of answering that chat and completions share: per-request settings and the
//! faults that strike before validation, then turning a planned answer into a response
//! (latency, the JSON body, the event stream, and the faults that break a response).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::{Body as HttpBody, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use super::answer::{Answer, Body};
use super::app::InFlight;
use super::config::SimConfig;
use super::conn::ConnControl;
use super::errors::ApiError;
use super::fault::Fault;
use super::knobs::{HUGE_BODY_BYTES, HUGE_LINE_BYTES, Knobs, STALL_FOR};
use super::options;
use super::request::{self, Object, Streaming};
use super::spliced::{Filler, SplicedBody, split_in_text};
use super::stream::{BrokenBody, INVALID_UTF8, SseStream, StreamPlan, Usage};
use super::text::{self, Style};

pub(crate) const FINGERPRINT: &str = concat!("llmspec-sim-", env!("CARGO_PKG_VERSION"));
/// The header whose value names the answer (`chatcmpl-<id>`), as vLLM's request id.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// A request that passed the shared checks.
pub(crate) struct Front {
    pub knobs: Knobs,
    /// The request's `X-Request-Id`, which names the answer (`chatcmpl-<id>`), as in vLLM.
    pub request_id: Option<String>,
    pub obj: Object,
    pub streaming: Streaming,
    pub start: Instant,
}

/// Why a request got no answer from the model.
pub(crate) enum Refusal {
    Error(ApiError),
    /// The `drop` fault: the connection is already condemned.
    Dropped,
    /// A fault that answers in place of the model (`non-json-200`, `empty-200`).
    Canned(Box<Response>),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Error(e)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Error(e) => e.into_response(),
            // Never written: the connection fails first.
            Refusal::Dropped => StatusCode::NO_CONTENT.into_response(),
            Refusal::Canned(response) => *response,
        }
    }
}

/// Reads the `x-sim-*` headers, applies the faults that need no valid request, decodes
/// the body and runs the shared type checks.
pub(crate) fn front(cfg: &SimConfig, conn: &ConnControl, headers: &HeaderMap, body: &[u8]) -> Result<Front, Refusal> {
    let start = Instant::now();
    let knobs = Knobs::new(cfg, headers)?;
    match knobs.fault {
        Some(Fault::Drop) => {
            conn.kill();
            return Err(Refusal::Dropped);
        }
        Some(Fault::Status500) => return Err(ApiError::internal().into()),
        Some(Fault::NonJson200) => return Err(Refusal::Canned(Box::new(html_page()))),
        Some(Fault::Empty200) => return Err(Refusal::Canned(Box::new(empty_json()))),
        _ => {}
    }
    let obj = request::parse_body(headers, body)?;
    request::check_types(&obj)?;
    let streaming = request::streaming(&obj)?;
    let request_id = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_string);
    Ok(Front { knobs, request_id, obj, streaming, start })
}

/// A validated request and the answer planned for it.
pub(crate) struct Job {
    pub front: Front,
    pub model: String,
    pub force_usage: bool,
    pub prompt_tokens: u64,
    /// One entry per prompt (completions may batch several); each gets `choices` choices.
    pub prompts: Vec<Prompt>,
    pub choices: u32,
    pub answer: Answer,
    /// An error vLLM raises once generation starts: a 400, or an error event in a stream.
    pub late_error: Option<ApiError>,
}

/// A prompt's seed, and its text when it is echoed.
pub(crate) struct Prompt {
    pub seed: u64,
    pub echo: Option<String>,
}

/// The life of a generation request: count it, read its front matter, plan the answer with
/// `plan` (chat or completions), send it.
pub(crate) async fn handle(
    app: &super::app::App,
    conn: &ConnControl,
    headers: &HeaderMap,
    body: &[u8],
    plan: fn(&super::app::App, Front) -> Result<Job, ApiError>,
) -> Response {
    let in_flight = app.on_generation();
    let mut front = match front(&app.cfg, conn, headers, body) {
        Ok(front) => front,
        Err(refusal) => return refusal.into_response(),
    };
    front.knobs.crowded(app.responses_in_flight());
    if front.knobs.fault == Some(Fault::SlowHeaders) {
        // Dropped with the handler when the client goes away, so nothing waits for nobody.
        let wait = if front.knobs.latency.is_zero() { STALL_FOR } else { front.knobs.latency };
        sleep_until(at(front.start, wait)).await;
        front.knobs.latency = Duration::ZERO;
    }
    match plan(app, front) {
        Ok(job) => {
            if job.late_error.is_none() {
                let answers = job.prompts.len() as u64 * u64::from(job.choices);
                app.on_tokens(job.prompt_tokens, job.answer.completion_tokens() * answers);
            }
            reply(job, in_flight).await
        }
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn reply(mut job: Job, in_flight: InFlight) -> Response {
    let style = job.answer.style;
    let base_id = job.front.request_id.clone().unwrap_or_else(unique_hex);
    let id = match style {
        Style::Chat => format!("chatcmpl-{base_id}"),
        Style::Completion => format!("cmpl-{base_id}"),
    };
    if let Some(e) = job.late_error.take() {
        return late_error(e, job.front.streaming.stream);
    }
    let sampled = request::sampling_seed(&job.front.obj).map_or(0, text::splitmix);
    let mut seeds: Vec<u64> = job
        .prompts
        .iter()
        .flat_map(|p| (0..job.choices).map(move |c| text::choice_seed(p.seed ^ sampled, c)))
        .collect();
    let echoes: Vec<Option<String>> =
        job.prompts.iter().flat_map(|p| (0..job.choices).map(move |_| p.echo.clone())).collect();
    let tool_ids: Vec<String> = match job.answer.body {
        Body::Tool { .. } => seeds.iter().map(|_| format!("chatcmpl-tool-{}", unique_hex())).collect(),
        Body::Text { .. } => Vec::new(),
    };
    if job.front.knobs.fault == Some(Fault::HugeBody) {
        make_huge(&mut job, seeds.first().copied().unwrap_or(0));
        seeds.truncate(1);
    }
    let per_choice = job.answer.completion_tokens();
    let usage = Usage {
        prompt: job.prompt_tokens,
        completion: per_choice * seeds.len() as u64,
        reasoning: job.answer.reasoning * seeds.len() as u64,
    };
    let created = unix_now();

    if job.front.streaming.stream {
        let send_usage = job.front.streaming.include_usage || job.force_usage;
        let plan = StreamPlan {
            id,
            created,
            model: job.model,
            fingerprint: FINGERPRINT,
            answer: job.answer,
            seeds,
            echoes,
            tool_ids,
            usage: send_usage.then_some(usage),
            knobs: job.front.knobs,
            start: job.front.start,
        };
        let mut response = HttpBody::from_stream(SseStream::new(plan, in_flight)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
        return response;
    }

    if !job.front.knobs.latency.is_zero() {
        sleep_until(at(job.front.start, job.front.knobs.latency)).await;
    }
    let body = match style {
        Style::Chat => chat_body(&job, &id, created, &seeds, &tool_ids, usage),
        Style::Completion => completion_body(&job, &id, created, &seeds, &echoes, usage),
    };
    match job.front.knobs.fault {
        Some(fault @ (Fault::ResetMidStream | Fault::Stall | Fault::MalformedChunk)) => {
            broken_json(&body, fault, in_flight)
        }
        Some(Fault::InvalidUtf8) => invalid_utf8_json(&body),
        Some(Fault::HugeLine) => spliced_json(&body, Filler::sized(HUGE_LINE_BYTES), in_flight),
        Some(Fault::Endless) => spliced_json(&body, Filler::endless(), in_flight),
        _ => Json(body).into_response(),
    }
}

/// The `non-json-200` fault: the page a web server or proxy shows in front of a model that is
/// not there.
fn html_page() -> Response {
    let page = "<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n\
                <body><h1>Welcome to nginx!</h1></body></html>\n";
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// The `empty-200` fault: success, a JSON content type, and nothing.
fn empty_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], "").into_response()
}

/// The `invalid-utf8` fault without streaming: the answer with [`INVALID_UTF8`] at the start
/// of its text.
fn invalid_utf8_json(body: &Value) -> Response {
    let (head, tail) = split_in_text(&body.to_string());
    let bytes = [&head[..], INVALID_UTF8, &tail[..]].concat();
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// The answer with `filler` at the start of its text: `huge-line`, `endless`.
fn spliced_json(body: &Value, filler: Filler, in_flight: InFlight) -> Response {
    let (head, tail) = split_in_text(&body.to_string());
    let mut response = HttpBody::from_stream(SplicedBody::new(head, filler, tail, in_flight)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The `huge-body` fault: one plain answer of about 10 MB, sent in one piece.
fn make_huge(job: &mut Job, seed: u64) {
    let style = job.answer.style;
    let tokens = text::tokens_for_bytes(style, seed, HUGE_BODY_BYTES);
    job.answer = Answer::plan(style, false, tokens, None, tokens);
    job.choices = 1;
    job.prompts.truncate(1);
    let knobs = &mut job.front.knobs;
    knobs.tokens_per_chunk = tokens;
    knobs.ttft = Duration::ZERO;
    knobs.chunk_delay = Duration::ZERO;
    knobs.fault = None;
}

fn usage_json(usage: Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt,
        "total_tokens": usage.prompt + usage.completion,
        "completion_tokens": usage.completion,
        "prompt_tokens_details": null,
        "completion_tokens_details": (usage.reasoning > 0)
            .then(|| json!({"reasoning_tokens": usage.reasoning})),
    })
}

fn chat_body(job: &Job, id: &str, created: u64, seeds: &[u64], tool_ids: &[String], usage: Usage) -> Value {
    let answer = &job.answer;
    let reasoning = answer.reasoning_text();
    let choices: Vec<Value> = seeds
        .iter()
        .enumerate()
        .map(|(c, seed)| {
            let mut message = json!({
                "role": "assistant",
                "refusal": null,
                "annotations": null,
                "audio": null,
                "function_call": null,
                "reasoning": reasoning,
            });
            match answer.complete_call() {
                Some(call) => {
                    message["content"] = if call.empty_content { json!("") } else { Value::Null };
                    message["tool_calls"] = json!([{
                        "id": tool_ids.get(c).map_or("", String::as_str),
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }]);
                }
                None => message["content"] = Value::String(answer.full_text(*seed)),
            }
            if reasoning.is_some() {
                message["reasoning_content"] = json!(reasoning);
            }
            let logprobs = match (answer.logprobs, &answer.body) {
                (None, _) => Value::Null,
                (Some(_), Body::Text { emitted, .. }) => {
                    json!({"content": options::chat_entries(answer, *seed, 0..*emitted)})
                }
                (Some(_), Body::Tool { .. }) => json!({"content": []}),
            };
            json!({
                "index": c,
                "message": message,
                "logprobs": logprobs,
                "finish_reason": answer.finish_reason,
                "stop_reason": null,
                "token_ids": null,
            })
        })
        .collect();
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": job.model,
        "choices": choices,
        "service_tier": null,
        "system_fingerprint": FINGERPRINT,
        "usage": usage_json(usage),
        "prompt_logprobs": null,
        "prompt_token_ids": null,
        "kv_transfer_params": null,
    })
}

fn completion_body(job: &Job, id: &str, created: u64, seeds: &[u64], echoes: &[Option<String>], usage: Usage) -> Value {
    let answer = &job.answer;
    let choices: Vec<Value> = seeds
        .iter()
        .enumerate()
        .map(|(c, seed)| {
            let echo = echoes.get(c).and_then(Option::as_deref);
            let prompt_seed = job.prompts.get(c / job.choices.max(1) as usize).map_or(0, |p| p.seed);
            let logprobs = match (answer.logprobs, &answer.body) {
                (Some(_), Body::Text { emitted, .. }) => {
                    options::completion_logprobs(answer, *seed, *emitted, echo.map(|e| (e, prompt_seed)))
                }
                _ => Value::Null,
            };
            json!({
                "index": c,
                "text": format!("{}{}", echo.unwrap_or(""), answer.full_text(*seed)),
                "logprobs": logprobs,
                "finish_reason": job.answer.finish_reason,
                "stop_reason": null,
                "token_ids": null,
                "prompt_logprobs": null,
                "prompt_token_ids": null,
            })
        })
        .collect();
    json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": job.model,
        "choices": choices,
        "service_tier": null,
        "system_fingerprint": FINGERPRINT,
        "usage": usage_json(usage),
        "kv_transfer_params": null,
    })
}

/// An error raised when generation starts: vLLM has already sent the stream's headers,
/// so a stream gets the error as a data event, then `[DONE]`.
fn late_error(e: ApiError, stream: bool) -> Response {
    if !stream {
        return e.into_response();
    }
    let text = format!("data: {}\n\ndata: [DONE]\n\n", e.body());
    let mut response = HttpBody::from(text).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    response
}

/// A non-streaming answer broken by a fault: the first half of the JSON, then an abort
/// (`reset-mid-stream`), a hang then an abort (`stall`), or a clean end (`malformed-chunk`).
fn broken_json(body: &Value, fault: Fault, in_flight: InFlight) -> Response {
    let mut bytes = body.to_string().into_bytes();
    bytes.truncate(bytes.len() / 2);
    let head = Bytes::from(bytes);
    let mut response = match fault {
        Fault::MalformedChunk => HttpBody::from(head).into_response(),
        Fault::Stall => {
            HttpBody::from_stream(BrokenBody::new(head, Some(Instant::now() + STALL_FOR), in_flight)).into_response()
        }
        _ => HttpBody::from_stream(BrokenBody::new(head, None, in_flight)).into_response(),
    };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn at(start: Instant, offset: Duration) -> Instant {
    start.checked_add(offset).unwrap_or_else(|| start + Duration::from_secs(86_400 * 365))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// 16 hex digits, different for every call in this process and across processes.
pub(crate) fn unique_hex() -> String {
    static BASE: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
            ^ u64::from(std::process::id()).rotate_left(32)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}", text::splitmix(base.wrapping_add(n)))
}
