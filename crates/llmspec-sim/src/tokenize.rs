//! `POST /tokenize`, vLLM's tokenizer route: `{"prompt": …}` or `{"messages": […]}` gives
//! `{"count", "max_model_len", "tokens", "token_strs"}`.
//!
//! The count follows the simulator's token arithmetic (`text.rs`): a prompt is its text's
//! 4-character pieces, after `<bos>` (id 2) unless `add_special_tokens` is false; messages
//! cost what a chat prompt costs. A piece's id is `text::token_id`, the id `logit_bias`
//! and the answer's words use too (a word's id is the id of the word alone, so "the",
//! " the" and "The" share one).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::app::App;
use super::chat::read_messages;
use super::errors::{ApiError, py_str};
use super::request::{self, present};
use super::text;

pub(crate) async fn tokenize(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    match answer(&app, &headers, &body) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
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
            ids.push(105);
            ids.push(text::token_id(m.get("role").and_then(Value::as_str).unwrap_or("")));
            if let Some(Value::String(content)) = m.get("content") {
                ids.extend(text::pieces(content).into_iter().map(text::token_id));
            }
            ids.push(106);
            ids.push(text::token_id("\n"));
        }
        ids.push(105);
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
                    &super::errors::py_repr(other),
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
        ids.extend(text::pieces(&prompt).into_iter().map(text::token_id));
        ids
    };
    Ok(json!({
        "count": tokens.len(),
        "max_model_len": cfg.max_model_len,
        "tokens": tokens,
        "token_strs": null,
    }))
}
