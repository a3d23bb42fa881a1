//! Generation options beyond the token budget: `logprobs` / `top_logprobs`, `logit_bias`
//! and `response_format`, checked as vLLM checks them.
//!
//! * Log-probabilities are deterministic: each answer token gets a value in (-3, 0], and
//!   its alternatives are the token itself (the greedy pick) followed by other words with
//!   lower values. More than [`MAX_LOGPROBS`] alternatives is refused the way vLLM refuses
//!   them once generation starts: a 400, or an error event in a stream that already began.
//! * `logit_bias`: keys are token ids (see `/tokenize`; a word's id is the id of the word
//!   itself, `text::token_id`), values numbers. A bias of -100 bans the token: the answer
//!   never uses a word with that id. Ids outside the vocabulary are refused like the
//!   logprob count.
//! * `response_format`: `json_object` answers a small JSON object, `json_schema` a JSON
//!   document filled from the schema by the tool-argument filler; the text is sent in
//!   pieces of 4 characters, one token each. A schema with a `verdict` property gets the
//!   simulated judge's verdict instead (`judge.rs`).

use serde_json::Value;

use super::errors::{ApiError, py_repr};
use super::jsonfmt;
use super::request::{Object, lax_int, present};
use super::text;
use super::tools;

/// vLLM's default `--max-logprobs`.
pub const MAX_LOGPROBS: i64 = 20;

/// The options, and an error that vLLM raises only when generation starts.
#[derive(Default)]
pub(crate) struct Options {
    pub logprobs: Option<u64>,
    pub banned: Vec<u64>,
    pub late_error: Option<ApiError>,
}

fn int_field(obj: &Object, name: &str) -> Result<Option<i64>, ApiError> {
    match present(obj, name) {
        None => Ok(None),
        Some(v) => lax_int(v).map(Some).ok_or_else(|| {
            ApiError::validation("int_parsing", &format!("body.{name}"), "Input should be a valid integer", &py_repr(v))
        }),
    }
}

fn too_many(n: i64) -> ApiError {
    ApiError::bad_request(format!(
        "Requested sample logprobs of {n}, which is greater than max allowed: {MAX_LOGPROBS}"
    ))
}

/// Chat: `logprobs` (boolean) and `top_logprobs` (0 to 20 alternatives).
pub(crate) fn chat(obj: &Object) -> Result<Options, ApiError> {
    let wanted = match present(obj, "logprobs") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(ApiError::validation(
                "bool_type",
                "body.logprobs",
                "Input should be a valid boolean",
                &py_repr(v),
            ));
        }
    };
    let top = int_field(obj, "top_logprobs")?;
    let mut options = Options::default();
    if let Some(k) = top {
        if k < 0 && k != -1 {
            return Err(ApiError::invalid("`top_logprobs` must be a positive value.", "top_logprobs", None));
        }
        if !wanted && k != 0 {
            return Err(ApiError::invalid(
                "when using `top_logprobs`, `logprobs` must be set to true.",
                "top_logprobs",
                None,
            ));
        }
    }
    if wanted {
        let k = top.unwrap_or(0).max(0);
        if k > MAX_LOGPROBS {
            options.late_error = Some(too_many(k));
        }
        options.logprobs = Some(k.min(MAX_LOGPROBS) as u64);
    }
    logit_bias(obj, &mut options)?;
    stop_token_ids(obj, &mut options)?;
    Ok(options)
}

/// Completions: `logprobs` is the number of alternatives (0 to 20).
pub(crate) fn completion(obj: &Object) -> Result<Options, ApiError> {
    let mut options = Options::default();
    if let Some(k) = int_field(obj, "logprobs")? {
        if k < 0 {
            return Err(ApiError::invalid("`logprobs` must be a positive value.", "logprobs", None));
        }
        if k > MAX_LOGPROBS {
            options.late_error = Some(too_many(k));
        }
        options.logprobs = Some(k.min(MAX_LOGPROBS) as u64);
    }
    logit_bias(obj, &mut options)?;
    stop_token_ids(obj, &mut options)?;
    Ok(options)
}

/// `stop_token_ids` must be token ids of the vocabulary.
fn stop_token_ids(obj: &Object, options: &mut Options) -> Result<(), ApiError> {
    let Some(raw) = present(obj, "stop_token_ids") else {
        return Ok(());
    };
    let Some(items) = raw.as_array() else {
        return Err(ApiError::validation(
            "list_type",
            "body.stop_token_ids",
            "Input should be a valid list",
            &py_repr(raw),
        ));
    };
    let mut bad = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(id) = lax_int(item) else {
            return Err(ApiError::validation(
                "int_parsing",
                &format!("body.stop_token_ids.{i}"),
                "Input should be a valid integer",
                &py_repr(item),
            ));
        };
        if id < 0 || id as u64 >= text::VOCAB_SIZE {
            bad.push(id.to_string());
        }
    }
    if !bad.is_empty() && options.late_error.is_none() {
        options.late_error = Some(ApiError::bad_request(format!(
            "token_id(s) [{}] in stop_token_ids contain out-of-vocab token ids. Vocabulary size: {}",
            bad.join(", "),
            text::VOCAB_SIZE
        )));
    }
    Ok(())
}

fn logit_bias(obj: &Object, options: &mut Options) -> Result<(), ApiError> {
    let Some(raw) = present(obj, "logit_bias") else {
        return Ok(());
    };
    let Some(map) = raw.as_object() else {
        return Err(ApiError::validation(
            "dict_type",
            "body.logit_bias",
            "Input should be a valid dictionary",
            &py_repr(raw),
        ));
    };
    let mut ids = Vec::with_capacity(map.len());
    for (key, value) in map {
        let bias = match value {
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::String(s) if s.trim().parse::<f64>().is_ok() => s.trim().parse::<f64>().unwrap_or(0.0),
            other => {
                let (t, msg) = if other.is_string() {
                    ("float_parsing", "Input should be a valid number, unable to parse string as a number")
                } else {
                    ("float_type", "Input should be a valid number")
                };
                return Err(ApiError::validation(t, &format!("body.logit_bias.{key}"), msg, &py_repr(other)));
            }
        };
        ids.push((key, bias));
    }
    let mut out_of_vocab = Vec::new();
    for (key, bias) in ids {
        let Ok(id) = key.trim().parse::<i64>() else {
            return Err(ApiError::invalid(
                &format!(
                    "Found token_id {} in logit_bias that is not an integer or string representing an integer",
                    super::errors::py_str(key)
                ),
                "logit_bias",
                None,
            ));
        };
        if id < 0 || id as u64 >= text::VOCAB_SIZE {
            out_of_vocab.push(id.to_string());
        } else if bias <= -100.0 {
            options.banned.push(id as u64);
        }
    }
    if !out_of_vocab.is_empty() && options.late_error.is_none() {
        options.late_error = Some(ApiError::bad_request(format!(
            "token_id(s) [{}] in logit_bias contain out-of-vocab token ids. Vocabulary size: {}",
            out_of_vocab.join(", "),
            text::VOCAB_SIZE
        )));
    }
    Ok(())
}

const SCHEMA_TYPES: [&str; 7] = ["object", "array", "string", "number", "integer", "boolean", "null"];

/// The JSON answer `response_format` asks for, or `None` for plain text.
pub(crate) fn response_format(obj: &Object, user_text: &str) -> Result<Option<String>, ApiError> {
    let Some(raw) = present(obj, "response_format") else {
        return Ok(None);
    };
    let Some(format) = raw.as_object() else {
        return Err(ApiError::validation(
            "model_attributes_type",
            "body.response_format",
            "Input should be a valid dictionary or object to extract fields from",
            &py_repr(raw),
        ));
    };
    let kind = match format.get("type") {
        Some(Value::String(t)) => t.as_str(),
        None => {
            return Err(ApiError::validation("missing", "body.response_format.type", "Field required", &py_repr(raw)));
        }
        Some(other) => {
            return Err(ApiError::validation(
                "literal_error",
                "body.response_format.type",
                "Input should be 'text', 'json_object', 'json_schema' or 'structural_tag'",
                &py_repr(other),
            ));
        }
    };
    match kind {
        "text" | "structural_tag" => Ok(None),
        "json_object" => {
            let schema = serde_json::json!({"type": "object", "properties": {"answer": {"type": "string"}}});
            Ok(Some(jsonfmt::python_style(&tools::fill_schema(&schema, user_text))))
        }
        "json_schema" => {
            let Some(spec) = present(format, "json_schema") else {
                return Err(ApiError::invalid(
                    "When response_format type is 'json_schema', the 'json_schema' field must be provided.",
                    "response_format",
                    None,
                ));
            };
            let Some(spec) = spec.as_object() else {
                return Err(ApiError::validation(
                    "model_type",
                    "body.response_format.json_schema",
                    "Input should be a valid dictionary or instance of JsonSchemaResponseFormat",
                    &py_repr(spec),
                ));
            };
            if !matches!(spec.get("name"), Some(Value::String(_))) {
                return Err(ApiError::validation(
                    "missing",
                    "body.response_format.json_schema.name",
                    "Field required",
                    &py_repr(&Value::Object(spec.clone())),
                ));
            }
            let schema = match spec.get("schema").or_else(|| spec.get("json_schema")) {
                None | Some(Value::Null) => Value::Object(Default::default()),
                Some(s) => s.clone(),
            };
            check_schema(&schema, 0)?;
            if super::judge::asks_for_verdict(&schema) {
                return Ok(Some(jsonfmt::python_style(&super::judge::verdict(user_text))));
            }
            Ok(Some(jsonfmt::python_style(&tools::fill_schema(&schema, user_text))))
        }
        other => Err(ApiError::validation(
            "literal_error",
            "body.response_format.type",
            "Input should be 'text', 'json_object', 'json_schema' or 'structural_tag'",
            &super::errors::py_str(other),
        )),
    }
}

fn invalid_schema(why: &str) -> ApiError {
    ApiError::invalid(&format!("Invalid JSON schema: {why}"), "response_format", None)
}

/// The schema checks a grammar compiler would fail on: a schema that is not an object,
/// and unknown types, anywhere in the tree.
fn check_schema(schema: &Value, depth: usize) -> Result<(), ApiError> {
    if depth > 64 {
        return Err(invalid_schema("the schema nests too deeply"));
    }
    let s = match schema {
        Value::Object(s) => s,
        Value::Bool(_) if depth > 0 => return Ok(()),
        other => return Err(invalid_schema(&format!("a schema must be an object, got {other}"))),
    };
    let known = |t: &Value| t.as_str().is_some_and(|t| SCHEMA_TYPES.contains(&t));
    match s.get("type") {
        None => {}
        Some(Value::Array(ts)) if ts.iter().all(known) => {}
        Some(t) if known(t) => {}
        Some(t) => return Err(invalid_schema(&format!("unknown type {t}"))),
    }
    if let Some(props) = s.get("properties") {
        let Some(props) = props.as_object() else {
            return Err(invalid_schema("`properties` must be an object"));
        };
        for p in props.values() {
            check_schema(p, depth + 1)?;
        }
    }
    if let Some(items) = s.get("items") {
        check_schema(items, depth + 1)?;
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = s.get(key) {
            let Some(branches) = branches.as_array() else {
                return Err(invalid_schema(&format!("`{key}` must be an array")));
            };
            for b in branches {
                check_schema(b, depth + 1)?;
            }
        }
    }
    Ok(())
}

fn bytes(token: &str) -> Value {
    Value::Array(token.bytes().map(Value::from).collect())
}

/// Chat `logprobs.content` entries for answer tokens `range` of the choice seeded `seed`.
pub(crate) fn chat_entries(answer: &super::answer::Answer, seed: u64, range: std::ops::Range<u64>) -> Vec<Value> {
    let k = answer.logprobs.unwrap_or(0);
    range
        .map(|i| {
            let token = answer.token_text(seed, i);
            let lp = text::logprob(seed, i);
            let top: Vec<Value> = text::alternatives(seed, i, &token, lp, k)
                .into_iter()
                .map(|(t, l)| serde_json::json!({"token": t, "logprob": l, "bytes": bytes(&t)}))
                .collect();
            serde_json::json!({"token": token, "logprob": lp, "bytes": bytes(&token), "top_logprobs": top})
        })
        .collect()
}

/// Completions logprobs: for the echoed prompt (its first token has none), then the
/// answer tokens `0..emitted`.
pub(crate) fn completion_logprobs(
    answer: &super::answer::Answer,
    seed: u64,
    emitted: u64,
    echoed: Option<(&str, u64)>,
) -> Value {
    let k = answer.logprobs.unwrap_or(0).max(1);
    let mut tokens = Vec::new();
    let mut token_logprobs = Vec::new();
    let mut top_logprobs = Vec::new();
    let mut text_offset = Vec::new();
    let mut offset = 0usize;
    let mut push = |token: String, lp: Option<f64>, top: Value| {
        text_offset.push(Value::from(offset));
        offset += token.chars().count();
        tokens.push(Value::String(token));
        token_logprobs.push(lp.map_or(Value::Null, Value::from));
        top_logprobs.push(top);
    };
    let dict = |alts: Vec<(String, f64)>| Value::Object(alts.into_iter().map(|(t, l)| (t, Value::from(l))).collect());
    if let Some((prompt, prompt_seed)) = echoed {
        for (j, piece) in text::pieces(prompt).into_iter().enumerate() {
            if j == 0 {
                push(piece.to_string(), None, Value::Null);
            } else {
                let lp = text::logprob(prompt_seed, j as u64);
                push(piece.to_string(), Some(lp), dict(text::alternatives(prompt_seed, j as u64, piece, lp, k)));
            }
        }
    }
    for i in 0..emitted {
        let token = answer.token_text(seed, i);
        let lp = text::logprob(seed, i);
        let top = dict(text::alternatives(seed, i, &token, lp, k));
        push(token, Some(lp), top);
    }
    serde_json::json!({
        "text_offset": text_offset,
        "token_logprobs": token_logprobs,
        "tokens": tokens,
        "top_logprobs": top_logprobs,
    })
}
