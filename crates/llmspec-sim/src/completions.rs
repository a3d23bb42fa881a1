//! `POST /v1/completions`: reading the prompts and planning the answer. A list of prompts
//! is a batch: each prompt gets `n` choices, numbered in order, and `usage` sums them all.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::answer::Answer;
use super::app::App;
use super::conn::ConnControl;
use super::errors::{ApiError, py_repr, py_str};
use super::options;
use super::request::{self, Object, present};
use super::respond::{self, Front, Job, Prompt};
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
    let prompts = read_prompts(obj)?;
    let choices = request::choices(obj)?;
    let options = options::completion(obj)?;
    let first_text = prompts.first().and_then(|p| p.text.clone()).unwrap_or_default();
    let json = options::response_format(obj, &first_text)?;
    request::check_model(obj, cfg)?;
    let requested = request::max_tokens(obj, cfg)?;
    let longest = prompts.iter().map(|p| p.tokens).max().unwrap_or(0);
    request::check_prompt(longest, cfg)?;
    let limit = request::output_limit(requested, longest, cfg);
    let mut answer = match json {
        Some(json) => Answer::plan_fixed(Style::Completion, false, json, limit),
        None => Answer::plan(Style::Completion, false, front.knobs.output_tokens, None, limit),
    };
    answer.banned = options.banned;
    answer.logprobs = options.logprobs;
    let mut late_error = options.late_error;
    if late_error.is_none()
        && let Some(id) = prompts.iter().filter_map(|p| p.max_id).max().filter(|id| *id >= text::VOCAB_SIZE)
    {
        late_error = Some(ApiError::bad_request(format!("Token id {id} is out of vocabulary")));
    }
    let echo = request::flag(obj, "echo");
    Ok(Job {
        model: cfg.model.clone(),
        force_usage: cfg.force_usage,
        prompt_tokens: prompts.iter().map(|p| p.tokens).sum(),
        prompts: prompts
            .into_iter()
            .map(|p| Prompt { seed: p.seed, echo: if echo { Some(p.text.unwrap_or_default()) } else { None } })
            .collect(),
        choices,
        answer,
        late_error,
        front,
    })
}

struct ReadPrompt {
    tokens: u64,
    seed: u64,
    /// The text of a string prompt.
    text: Option<String>,
    /// The largest id of a prompt given as token ids.
    max_id: Option<u64>,
}

/// The prompts: a string, token ids, or a list of either (a batch, one answer each).
fn read_prompts(obj: &Object) -> Result<Vec<ReadPrompt>, ApiError> {
    let empty = || {
        ApiError::validation(
            "value_error",
            "body",
            "Value error, Either prompt or prompt_embeds must be provided and non-empty.",
            &py_str(&format!("<dict of {} items>", obj.len())),
        )
    };
    let prompt = present(obj, "prompt").ok_or_else(empty)?;
    match prompt {
        Value::Array(items) if !items.is_empty() && items.iter().all(|i| i.is_string() || i.is_array()) => {
            items.iter().map(|p| read_prompt(p, &empty)).collect()
        }
        other => Ok(vec![read_prompt(other, &empty)?]),
    }
}

fn read_prompt(prompt: &Value, empty: &dyn Fn() -> ApiError) -> Result<ReadPrompt, ApiError> {
    let mut hash = Fnv::default();
    match prompt {
        Value::String(s) if s.is_empty() => Err(empty()),
        Value::String(s) => {
            hash.write(s.as_bytes());
            Ok(ReadPrompt {
                tokens: text::COMPLETION_OVERHEAD + text::text_tokens(s),
                seed: hash.finish(),
                text: Some(s.clone()),
                max_id: None,
            })
        }
        Value::Array(ids) if ids.is_empty() => Err(empty()),
        Value::Array(ids) if ids.iter().all(Value::is_u64) => {
            hash.write(prompt.to_string().as_bytes());
            let max_id = ids.iter().filter_map(Value::as_u64).max();
            Ok(ReadPrompt { tokens: ids.len() as u64, seed: hash.finish(), text: None, max_id })
        }
        other => {
            Err(ApiError::validation("string_type", "body.prompt", "Input should be a valid string", &py_repr(other)))
        }
    }
}
