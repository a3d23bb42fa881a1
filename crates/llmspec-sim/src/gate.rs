//! What wraps every route, as vLLM's middleware does: the API-key check of `--api-key` and the
//! `X-Request-Id` header of `--enable-request-id-headers`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use super::app::App;
use super::respond::{REQUEST_ID, unique_hex};

/// The paths vLLM guards with its API key; `/health`, `/metrics`, `/tokenize` and the others
/// stay open.
const GUARDED_PREFIXES: [&str; 4] = ["/v1", "/v2", "/inference", "/cohere"];

/// With `--api-key`: a guarded path without `Authorization: Bearer <key>` gets vLLM's
/// `401 {"error": "Unauthorized"}`. OPTIONS requests (CORS preflight) pass, as in vLLM.
pub(crate) async fn api_key(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(key) = app.cfg.api_key.as_deref() else {
        return next.run(request).await;
    };
    let guarded = GUARDED_PREFIXES.iter().any(|p| request.uri().path().starts_with(p));
    if !guarded || request.method() == Method::OPTIONS || bearer(&request) == Some(key) {
        return next.run(request).await;
    }
    (StatusCode::UNAUTHORIZED, Json(json!({"error": "Unauthorized"}))).into_response()
}

/// The token of an `Authorization: Bearer <token>` header; the scheme's case does not matter.
fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// With `--enable-request-id-headers`: every response carries `X-Request-Id`, the request's own
/// when it sent one, a new one otherwise.
pub(crate) async fn request_id(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if !app.cfg.enable_request_id_headers {
        return next.run(request).await;
    }
    let sent = request.headers().get(REQUEST_ID).cloned();
    let mut response = next.run(request).await;
    let id = sent.or_else(|| HeaderValue::from_str(&unique_hex()).ok());
    if let Some(id) = id {
        response.headers_mut().append(REQUEST_ID, id);
    }
    response
}
