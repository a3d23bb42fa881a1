//! `POST /v1/chat/completions`: reading the conversation and planning the answer.

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
use super::tools::{self, Turn};

pub(crate) async fn chat_completions(
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
    let conversation = read_messages(obj)?;
    let tools = tools::parse(obj)?;
    let choices = request::choices(obj)?;
    let options = options::chat(obj)?;
    let json = options::response_format(obj, &conversation.last_user_text)?;
    request::check_model(obj, cfg)?;
    if conversation.messages == 0 {
        return Err(ApiError::bad_request(
            "Cannot apply chat template to an empty conversation. Provide at least one message.",
        ));
    }
    let requested = request::max_tokens(obj, cfg)?;
    let tools_tokens = present(obj, "tools").map_or(0, |t| text::text_tokens(&t.to_string()));
    let prompt_tokens = conversation.tokens + tools_tokens;
    request::check_prompt(prompt_tokens, cfg)?;
    let limit = request::output_limit(requested, prompt_tokens, cfg);
    let call = if cfg.no_tool_calls {
        None
    } else {
        tools::decide(
            &tools,
            &Turn { last_user_text: &conversation.last_user_text, ends_with_user: conversation.ends_with_user },
        )
    };
    let mut answer = match (call, json) {
        (None, Some(json)) => Answer::plan_fixed(Style::Chat, cfg.reasoning, json, limit),
        (call, _) => Answer::plan(Style::Chat, cfg.reasoning, front.knobs.output_tokens, call, limit),
    };
    answer.banned = options.banned;
    answer.logprobs = options.logprobs;
    Ok(Job {
        model: cfg.model.clone(),
        force_usage: cfg.force_usage,
        prompt_tokens,
        prompts: vec![Prompt { seed: conversation.seed, echo: None }],
        choices,
        answer,
        late_error: options.late_error,
        front,
    })
}

pub(crate) struct Conversation {
    pub messages: usize,
    pub tokens: u64,
    pub seed: u64,
    pub last_user_text: String,
    pub ends_with_user: bool,
}

pub(crate) fn read_messages(obj: &Object) -> Result<Conversation, ApiError> {
    let items = match obj.get("messages") {
        None => {
            return Err(ApiError::validation(
                "missing",
                "body.messages",
                "Field required",
                &py_str(&format!("<dict of {} items>", obj.len())),
            ));
        }
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApiError::validation(
                "list_type",
                "body.messages",
                "Input should be a valid list",
                &py_repr(other),
            ));
        }
    };
    let mut hash = Fnv::default();
    let mut tokens = text::CHAT_OVERHEAD;
    let mut last_user_text = String::new();
    let mut last_role = "";
    for (i, m) in items.iter().enumerate() {
        let loc = |field: &str| format!("body.messages.{i}{field}");
        let Some(m) = m.as_object() else {
            return Err(ApiError::validation("dict_type", &loc(""), "Input should be a valid dictionary", &py_repr(m)));
        };
        let role = match m.get("role") {
            Some(Value::String(r)) => r.as_str(),
            None => {
                return Err(ApiError::validation(
                    "missing",
                    &loc(".role"),
                    "Field required",
                    &py_str(&format!("<dict of {} items>", m.len())),
                ));
            }
            Some(other) => {
                return Err(ApiError::validation(
                    "string_type",
                    &loc(".role"),
                    "Input should be a valid string",
                    &py_repr(other),
                ));
            }
        };
        let content = message_text(m.get("content")).map_err(|bad| {
            ApiError::validation("string_type", &loc(".content"), "Input should be a valid string", &py_repr(bad))
        })?;
        tokens += text::MESSAGE_OVERHEAD + text::text_tokens(&content);
        if let Some(Value::Array(calls)) = m.get("tool_calls") {
            for call in calls {
                let function = call.get("function");
                let name = function.and_then(|f| f.get("name")).and_then(Value::as_str).unwrap_or("");
                let arguments = match function.and_then(|f| f.get("arguments")) {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                tokens += text::text_tokens(name) + text::text_tokens(&arguments);
                hash.write(name.as_bytes());
                hash.write(arguments.as_bytes());
            }
        }
        hash.write(role.as_bytes());
        hash.write(content.as_bytes());
        if role == "user" {
            last_user_text = content;
        }
        last_role = role;
    }
    Ok(Conversation {
        messages: items.len(),
        tokens,
        seed: hash.finish(),
        last_user_text,
        ends_with_user: last_role == "user",
    })
}

/// The text of a message's `content`: a string, or the `text` of its text parts.
fn message_text(content: Option<&Value>) -> Result<String, &Value> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for part in parts {
                let Some(p) = part.as_object() else {
                    return Err(part);
                };
                if p.get("type").and_then(Value::as_str) == Some("text") {
                    match p.get("text") {
                        Some(Value::String(t)) => out.push_str(t),
                        _ => return Err(part),
                    }
                }
            }
            Ok(out)
        }
        Some(other) => Err(other),
    }
}
