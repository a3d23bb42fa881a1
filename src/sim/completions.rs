//! `POST /v1/completions`: reading the prompt and planning the answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::answer::Answer;
use super::conn::ConnControl;
use super::errors::{ApiError, py_repr, py_str};
use super::request::{self, Object, present};
use super::respond::{self, Front, Job};
use super::server::App;
use super::text::{self, Fnv, Style};

pub(crate) async fn completions(
    State(app): State<Arc<App>>,
    ConnectInfo(conn): ConnectInfo<ConnControl>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond::handle(&app, &conn, &headers, &body, plan).await
}

fn plan(app: &App, front: Front) -> Result<Job, ApiError> {
    let cfg = &app.cfg;
    let obj = &front.obj;
    let (prompt_tokens, prompt_seed) = read_prompt(obj)?;
    let choices = request::choices(obj)?;
    request::check_model(obj, cfg)?;
    let requested = request::max_tokens(obj, cfg)?;
    request::check_prompt(prompt_tokens, cfg)?;
    let limit = request::output_limit(requested, prompt_tokens, cfg);
    let answer = Answer::plan(Style::Completion, false, front.knobs.output_tokens, None, limit);
    Ok(Job {
        model: cfg.model.clone(),
        force_usage: cfg.force_usage,
        prompt_tokens,
        prompt_seed,
        choices,
        answer,
        front,
    })
}

/// Prompt tokens and seed. A prompt is a string, token ids, or a one-element list of either.
fn read_prompt(obj: &Object) -> Result<(u64, u64), ApiError> {
    let empty = || {
        ApiError::validation(
            "value_error",
            "body",
            "Value error, Either prompt or prompt_embeds must be provided and non-empty.",
            &py_str(&format!("<dict of {} items>", obj.len())),
        )
    };
    let prompt = present(obj, "prompt").ok_or_else(empty)?;
    let prompt = match prompt {
        Value::Array(items) if items.len() == 1 && (items[0].is_string() || items[0].is_array()) => &items[0],
        Value::Array(items) if items.len() > 1 && items.iter().all(|i| i.is_string() || i.is_array()) => {
            return Err(ApiError::invalid(
                &format!("this simulator answers one prompt per request, got {}.", items.len()),
                "prompt",
                None,
            ));
        }
        other => other,
    };
    let mut hash = Fnv::default();
    match prompt {
        Value::String(s) if s.is_empty() => Err(empty()),
        Value::String(s) => {
            hash.write(s.as_bytes());
            Ok((text::COMPLETION_OVERHEAD + text::text_tokens(s), hash.finish()))
        }
        Value::Array(ids) if ids.is_empty() => Err(empty()),
        Value::Array(ids) if ids.iter().all(Value::is_u64) => {
            hash.write(prompt.to_string().as_bytes());
            Ok((ids.len() as u64, hash.finish()))
        }
        other => {
            Err(ApiError::validation("string_type", "body.prompt", "Input should be a valid string", &py_repr(other)))
        }
    }
}
