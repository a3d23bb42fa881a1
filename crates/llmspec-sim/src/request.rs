//! Reading and validating the parts of a request body that chat and completions share,
//! in the order vLLM checks them: JSON decoding, field types, field validators, the
//! model name, then the token limits.

use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};

use super::config::SimConfig;
use super::errors::{ApiError, py_repr, py_str};

pub(crate) type Object = Map<String, Value>;

/// Decodes the body the way FastAPI does: JSON when the content type says so or is
/// absent, raw bytes otherwise (which then fail as "not a dictionary").
pub(crate) fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Object, ApiError> {
    if body.is_empty() {
        return Err(ApiError::validation("missing", "body", "Field required", "'None'"));
    }
    let is_json = match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => {
            let essence = v.to_str().unwrap_or("").split(';').next().unwrap_or("");
            let essence = essence.trim().to_ascii_lowercase();
            essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
        }
    };
    if !is_json {
        let shown: String = String::from_utf8_lossy(body).chars().take(64).collect();
        return Err(not_a_dict(&format!("b{}", py_str(&shown))));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(other) => Err(not_a_dict(&py_repr(&other))),
        Err(e) => {
            let offset = byte_offset(body, e.line(), e.column());
            let text = e.to_string();
            let reason = text.split(" at line ").next().unwrap_or(&text);
            Err(ApiError::validation_with_ctx(
                "json_invalid",
                &format!("body.{offset}"),
                "JSON decode error",
                "'<dict of 0 items>'",
                Some(reason),
            ))
        }
    }
}

fn not_a_dict(input: &str) -> ApiError {
    ApiError::validation(
        "model_attributes_type",
        "body",
        "Input should be a valid dictionary or object to extract fields from",
        input,
    )
}

/// serde reports 1-based line and column; Python reports a 0-based offset.
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in body.split(|b| *b == b'\n').enumerate() {
        if i + 1 >= line {
            break;
        }
        offset += l.len() + 1;
    }
    (offset + column.saturating_sub(1)).min(body.len())
}

const FLOAT_FIELDS: [&str; 7] =
    ["temperature", "top_p", "min_p", "presence_penalty", "frequency_penalty", "repetition_penalty", "length_penalty"];
const INT_FIELDS: [&str; 5] = ["max_tokens", "max_completion_tokens", "n", "seed", "top_k"];
const BOOL_FIELDS: [&str; 3] = ["stream", "echo", "ignore_eos"];

/// The type checks pydantic applies (in its lax mode) to the fields the simulator reads
/// or that specs commonly send wrong.
pub(crate) fn check_types(obj: &Object) -> Result<(), ApiError> {
    for name in FLOAT_FIELDS {
        if let Some(v) = present(obj, name) {
            let ok = match v {
                Value::Number(_) | Value::Bool(_) => true,
                Value::String(s) => s.trim().parse::<f64>().is_ok(),
                _ => false,
            };
            if !ok {
                let (t, msg) = if v.is_string() {
                    ("float_parsing", "Input should be a valid number, unable to parse string as a number")
                } else {
                    ("float_type", "Input should be a valid number")
                };
                return Err(field_error(t, name, msg, v));
            }
        }
    }
    if let Some(Value::Number(n)) = present(obj, "seed") {
        let f = n.as_f64().unwrap_or(0.0);
        if n.as_i64().is_none() && f.fract() == 0.0 {
            let (t, msg, ctx) = if f > 0.0 {
                ("less_than_equal", "Input should be less than or equal to 9223372036854775807", "le")
            } else {
                ("greater_than_equal", "Input should be greater than or equal to -9223372036854775808", "ge")
            };
            let bound = if f > 0.0 { i64::MAX } else { i64::MIN };
            let mut e = field_error(t, "seed", msg, &Value::Number(n.clone()));
            e.message = e.message.replacen("}", &format!(", 'ctx': {{'{ctx}': {bound}}}}}"), 1);
            return Err(e);
        }
    }
    for name in INT_FIELDS {
        if let Some(v) = present(obj, name)
            && lax_int(v).is_none()
        {
            let (t, msg) = match v {
                Value::String(_) => {
                    ("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
                }
                Value::Number(_) => {
                    ("int_from_float", "Input should be a valid integer, got a number with a fractional part")
                }
                _ => ("int_type", "Input should be a valid integer"),
            };
            return Err(field_error(t, name, msg, v));
        }
    }
    for name in BOOL_FIELDS {
        if let Some(v) = present(obj, name)
            && lax_bool(v).is_none()
        {
            let (t, msg) = if v.is_string() {
                ("bool_parsing", "Input should be a valid boolean, unable to interpret input")
            } else {
                ("bool_type", "Input should be a valid boolean")
            };
            return Err(field_error(t, name, msg, v));
        }
    }
    if let Some(v) = present(obj, "model")
        && !v.is_string()
    {
        return Err(field_error("string_type", "model", "Input should be a valid string", v));
    }
    if let Some(v) = present(obj, "stream_options")
        && !v.is_object()
    {
        return Err(field_error(
            "model_type",
            "stream_options",
            "Input should be a valid dictionary or instance of StreamOptions",
            v,
        ));
    }
    Ok(())
}

fn field_error(error_type: &str, field: &str, msg: &str, v: &Value) -> ApiError {
    ApiError::validation(error_type, &format!("body.{field}"), msg, &py_repr(v))
}

/// A field that is present and not null.
pub(crate) fn present<'a>(obj: &'a Object, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

/// An integer as vLLM accepts one: a number without a fraction, a bool, or a numeric string.
pub(crate) fn lax_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64)
        }),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lax_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Some(false),
            Some(1.0) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
            "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// An integer field, after [`check_types`] accepted it.
pub(crate) fn int(obj: &Object, name: &str) -> Option<i64> {
    present(obj, name).and_then(lax_int)
}

/// The `seed` of a request that samples, which vLLM's answer then depends on; at temperature 0
/// (greedy decoding) a seed changes nothing. Without a seed the simulator still answers the
/// same prompt the same way, where a real sampler would not.
pub(crate) fn sampling_seed(obj: &Object) -> Option<u64> {
    let temperature = match present(obj, "temperature") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
        _ => None,
    };
    // vLLM's own threshold for greedy sampling.
    let greedy = temperature.is_some_and(|t| t < 1e-5);
    if greedy { None } else { int(obj, "seed").map(|s| s as u64) }
}

/// A boolean field, after [`check_types`] accepted it; absent is false.
pub(crate) fn flag(obj: &Object, name: &str) -> bool {
    present(obj, name).and_then(lax_bool).unwrap_or(false)
}

/// What the stream options ask for.
pub(crate) struct Streaming {
    pub stream: bool,
    pub include_usage: bool,
}

/// vLLM refuses non-empty `stream_options` on a request that does not stream.
pub(crate) fn streaming(obj: &Object) -> Result<Streaming, ApiError> {
    let stream = flag(obj, "stream");
    let options = present(obj, "stream_options").and_then(Value::as_object);
    if options.is_some_and(|o| !o.is_empty()) && !stream {
        return Err(ApiError::invalid(
            "Stream options can only be defined when `stream=True`.",
            "stream_options",
            None,
        ));
    }
    let include_usage = options.and_then(|o| o.get("include_usage")).and_then(lax_bool).unwrap_or(false);
    Ok(Streaming { stream, include_usage })
}

/// The model may be omitted; any other name than the served one is a 404.
pub(crate) fn check_model(obj: &Object, cfg: &SimConfig) -> Result<(), ApiError> {
    match present(obj, "model").and_then(Value::as_str) {
        Some(name) if name != cfg.model => Err(ApiError::unknown_model(name, &cfg.model)),
        _ => Ok(()),
    }
}

/// Number of choices; vLLM's `n`.
pub(crate) fn choices(obj: &Object) -> Result<u32, ApiError> {
    const MAX_N: i64 = 128;
    match int(obj, "n") {
        None => Ok(1),
        Some(n) if n < 1 => {
            Err(ApiError::invalid(&format!("n must be at least 1, got {n}."), "n", Some(&n.to_string())))
        }
        Some(n) if n > MAX_N => Err(ApiError::invalid(
            &format!("n must be at most {MAX_N} in this simulator, got {n}."),
            "n",
            Some(&n.to_string()),
        )),
        Some(n) => Ok(n as u32),
    }
}

/// The requested output limit (`max_completion_tokens` wins over `max_tokens`),
/// checked against the context length as vLLM does.
pub(crate) fn max_tokens(obj: &Object, cfg: &SimConfig) -> Result<Option<u64>, ApiError> {
    let mut chosen = None;
    for field in ["max_completion_tokens", "max_tokens"] {
        if let Some(v) = int(obj, field) {
            if v > i64::from(cfg.max_model_len) {
                return Err(ApiError::invalid(
                    &format!(
                        "{field}={v} cannot be greater than max_model_len={}. Please request fewer output tokens.",
                        cfg.max_model_len
                    ),
                    field,
                    Some(&v.to_string()),
                ));
            }
            chosen = chosen.or(Some(v));
        }
    }
    match chosen {
        Some(v) if v < 1 => Err(ApiError::invalid(
            &format!("max_tokens must be at least 1, got {v}."),
            "max_tokens",
            Some(&v.to_string()),
        )),
        other => Ok(other.map(|v| v as u64)),
    }
}

/// A prompt that leaves no room for output is refused before any generation. Like vLLM,
/// the reported count stops at `max_model_len + 1`.
pub(crate) fn check_prompt(prompt_tokens: u64, cfg: &SimConfig) -> Result<(), ApiError> {
    let limit = u64::from(cfg.max_model_len);
    if prompt_tokens < limit {
        return Ok(());
    }
    let shown = prompt_tokens.min(limit + 1);
    Err(ApiError::invalid(
        &format!(
            "This model's maximum context length is {limit} tokens. However, your prompt contains at least {shown} input tokens, which exceeds this limit even without any output tokens. Please reduce the length of the input prompt."
        ),
        "input_tokens",
        Some(&shown.to_string()),
    ))
}

/// Output room: the request's limit, silently cut to what the context leaves.
pub(crate) fn output_limit(requested: Option<u64>, prompt_tokens: u64, cfg: &SimConfig) -> u64 {
    let room = u64::from(cfg.max_model_len).saturating_sub(prompt_tokens);
    requested.map_or(room, |r| r.min(room))
}
