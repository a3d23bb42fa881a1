//! `POST /tokenize`, vLLM's tokenizer route: `{"prompt": …}` or `{"messages": […]}` gives
//! `{"count", "max_model_len", "tokens", "token_strs"}`; and `POST /detokenize`:
//! `{"tokens": […]}` gives `{"prompt": …}`.
//!
//! The count follows the simulator's token arithmetic (`text.rs`): a prompt is its text's
//! 4-character pieces, after `<bos>` (id 2) unless `add_special_tokens` is false; messages
//! cost what a chat prompt costs. A piece's id is `text::token_id`, the id `logit_bias`
//! and the answer's words use too (a word's id is the id of the word alone, so "the",
//! " the" and "The" share one).
//!
//! Ids are hashes, so `/detokenize` gives back the pieces `/tokenize` has handed out (the
//! latest text of each id), `<bos>`, `<start_of_turn>` and `<end_of_turn>` for the special
//! ids, and `<unk>` for an id it was never shown.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::app::App;
use super::chat::read_messages;
use super::errors::{ApiError, py_repr, py_str};
use super::request::{self, present};
use super::text;

pub(crate) async fn tokenize(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    match answer(&app, &headers, &body) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

pub(crate) async fn detokenize(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    match text_of(&app, &headers, &body) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Special ids of the chat prompt (Gemma's numbering, as the simulator's prompts use it).
const START_OF_TURN_ID: u64 = 105;
const END_OF_TURN_ID: u64 = 106;

fn text_of(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let obj = request::parse_body(headers, body)?;
    let ids = match present(&obj, "tokens") {
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApiError::validation(
                "list_type",
                "body.tokens",
                "Input should be a valid list",
                &py_repr(other),
            ));
        }
        None => {
            return Err(ApiError::validation(
                "missing",
                "body.tokens",
                "Field required",
                &py_str(&format!("<dict of {} items>", obj.len())),
            ));
        }
    };
    request::check_model(&obj, &app.cfg)?;
    let mut out = String::new();
    for (i, item) in ids.iter().enumerate() {
        let id = match item.as_i64() {
            Some(id) if id >= 0 => id as u64,
            Some(_) => {
                return Err(ApiError::validation(
                    "greater_than_equal",
                    &format!("body.tokens.{i}"),
                    "Input should be greater than or equal to 0",
                    &py_repr(item),
                ));
            }
            None => {
                return Err(ApiError::validation(
                    "int_type",
                    &format!("body.tokens.{i}"),
                    "Input should be a valid integer",
                    &py_repr(item),
                ));
            }
        };
        if id >= text::VOCAB_SIZE {
            return Err(ApiError::bad_request(format!("Token id {id} is out of vocabulary")));
        }
        match id {
            text::BOS_ID => out.push_str("<bos>"),
            START_OF_TURN_ID => out.push_str("<start_of_turn>"),
            END_OF_TURN_ID => out.push_str("<end_of_turn>"),
            _ => out.push_str(&app.piece(id).unwrap_or_else(|| "<unk>".into())),
        }
    }
    Ok(json!({ "prompt": out }))
}

fn answer(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let cfg = &app.cfg;
    let obj = request::parse_body(headers, body)?;
    request::check_types(&obj)?;
    let special = |default: bool| match present(&obj, "add_special_tokens") {
        Some(Value::Bool(b)) => *b,
        _ => default,
    };
    let tokens: Vec<u64> = if obj.contains_key("messages") {
        let conversation = read_messages(&obj)?;
        request::check_model(&obj, cfg)?;
        let mut ids = vec![text::BOS_ID];
        for m in obj.get("messages").and_then(Value::as_array).into_iter().flatten() {
            ids.push(START_OF_TURN_ID);
            ids.push(text::token_id(m.get("role").and_then(Value::as_str).unwrap_or("")));
            if let Some(Value::String(content)) = m.get("content") {
                ids.extend(learned(app, content));
            }
            ids.push(END_OF_TURN_ID);
            ids.push(text::token_id("\n"));
        }
        ids.push(START_OF_TURN_ID);
        ids.resize(conversation.tokens as usize, text::token_id("<pad>"));
        ids
    } else {
        let prompt = match present(&obj, "prompt") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(ApiError::validation(
                    "string_type",
                    "body.prompt",
                    "Input should be a valid string",
                    &py_repr(other),
                ));
            }
            None => {
                return Err(ApiError::validation(
                    "missing",
                    "body.prompt",
                    "Field required",
                    &py_str(&format!("<dict of {} items>", obj.len())),
                ));
            }
        };
        request::check_model(&obj, cfg)?;
        let mut ids = Vec::new();
        if special(true) {
            ids.push(text::BOS_ID);
        }
        ids.extend(learned(app, &prompt));
        ids
    };
    Ok(json!({
        "count": tokens.len(),
        "max_model_len": cfg.max_model_len,
        "tokens": tokens,
        "token_strs": null,
    }))
}

/// The ids of a text's pieces, remembered for `/detokenize`.
fn learned(app: &App, text: &str) -> Vec<u64> {
    let pieces = text::pieces(text);
    let ids: Vec<u64> = pieces.iter().map(|p| text::token_id(p)).collect();
    app.learn_pieces(ids.iter().copied().zip(pieces.iter().copied()));
    ids
}
