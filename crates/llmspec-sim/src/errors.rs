//! Error answers shaped like vLLM's: `{"error":{"message","type","param","code"}}`.
//!
//! vLLM spells the type two ways: `BadRequestError` for semantic errors and `Bad Request` for
//! request-validation errors (invalid JSON, a missing field, a wrong type), whose message is
//! a pydantic error rendering. Both are reproduced because clients and specs match on them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
}

impl ApiError {
    /// A semantic 400 with vLLM's `(parameter=…, value=…)` suffix.
    pub fn invalid(message: &str, param: &str, value: Option<&str>) -> Self {
        let message = match value {
            Some(v) => format!("{message} (parameter={param}, value={v})"),
            None => format!("{message} (parameter={param})"),
        };
        Self { status: StatusCode::BAD_REQUEST, message, kind: "BadRequestError", param: Some(param.to_string()) }
    }

    /// A semantic 400 that names no parameter.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into(), kind: "BadRequestError", param: None }
    }

    /// A request-validation 400, rendered the way vLLM renders one pydantic error.
    /// `input` is already in Python repr form.
    pub fn validation(error_type: &str, loc: &str, msg: &str, input: &str) -> Self {
        Self::validation_with_ctx(error_type, loc, msg, input, None)
    }

    pub fn validation_with_ctx(error_type: &str, loc: &str, msg: &str, input: &str, ctx: Option<&str>) -> Self {
        let ctx = ctx.map(|c| format!(", 'ctx': {{'error': {}}}", py_str(c))).unwrap_or_default();
        Self {
            status: StatusCode::BAD_REQUEST,
            message: format!(
                "1 validation error:\n  {{'type': '{error_type}', 'loc': '{loc}', 'msg': {}, 'input': {input}{ctx}}}",
                py_str(msg)
            ),
            kind: "Bad Request",
            param: Some(loc.to_string()),
        }
    }

    pub fn unknown_model(requested: &str, served: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("The model `{requested}` does not exist. Valid aliases: {served}."),
            kind: "NotFoundError",
            param: Some("model".into()),
        }
    }

    pub fn internal() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "Internal server error".into(),
            kind: "InternalServerError",
            param: None,
        }
    }

    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.status.as_u16(),
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// FastAPI's routing errors (`{"detail": …}`), which vLLM leaves untouched.
pub(crate) fn detail(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "detail": text }))).into_response()
}

/// Python's repr of a string: single quotes unless the text holds one and no double quote.
pub(crate) fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's repr of a JSON value as pydantic shows it in an error's `input`.
pub(crate) fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_str(s),
        Value::Array(a) => py_str(&format!("<list of {} items>", a.len())),
        Value::Object(o) => py_str(&format!("<dict of {} items>", o.len())),
    }
}
