use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use clap::Parser;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{SimConfig, SimHandle, spawn};

fn config() -> SimConfig {
    SimConfig { port: 0, ..SimConfig::default() }
}

async fn start(cfg: SimConfig) -> SimHandle {
    spawn(cfg).await.expect("simulator binds")
}

/// A plain-HTTP client; reqwest is built without a TLS crypto provider of its own, so the
/// process's is installed first, as llmspec does.
pub(crate) fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy()
}

fn client() -> reqwest::Client {
    client_builder().timeout(Duration::from_secs(20)).build().expect("client")
}

async fn send(
    sim: &SimHandle,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Result<reqwest::Response, reqwest::Error> {
    let mut req = client()
        .post(format!("{}{path}", sim.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await
}

/// Status and JSON body of a non-streaming call.
async fn call(sim: &SimHandle, path: &str, body: Value) -> (u16, Value) {
    call_with(sim, path, body, &[]).await
}

async fn call_with(sim: &SimHandle, path: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let resp = send(sim, path, &body, headers).await.expect("response");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The `data:` payloads of a complete stream, in order.
async fn events(sim: &SimHandle, path: &str, body: Value, headers: &[(&str, &str)]) -> Vec<String> {
    let resp = send(sim, path, &body, headers).await.expect("response");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream; charset=utf-8");
    let text = resp.text().await.expect("complete body");
    split_events(&text)
}

fn split_events(text: &str) -> Vec<String> {
    assert!(text.is_empty() || text.ends_with("\n\n"), "events end with a blank line");
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data line: {e:?}")).to_string())
        .collect()
}

fn chunks(events: &[String]) -> Vec<Value> {
    events.iter().filter(|e| *e != "[DONE]").map(|e| serde_json::from_str(e).expect("chunk is JSON")).collect()
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1},
                "detailed": {"type": "boolean"}
            },
            "required": ["city", "unit", "days", "detailed"]
        }
    }}])
}

/// Content, reasoning, tool calls, finish reasons and usage put back together from chunks.
#[derive(Default, Debug)]
struct Assembled {
    role_chunks: usize,
    content: String,
    reasoning: String,
    tool_id: String,
    tool_name: String,
    arguments: String,
    finish_reasons: Vec<String>,
    usage: Option<Value>,
    ids: Vec<String>,
}

fn assemble(chunks: &[Value]) -> Assembled {
    let mut a = Assembled::default();
    for c in chunks {
        a.ids.push(c["id"].as_str().unwrap_or_default().to_string());
        if !c["usage"].is_null() {
            a.usage = Some(c["usage"].clone());
        }
        for choice in c["choices"].as_array().expect("choices array") {
            let d = &choice["delta"];
            if d["role"] == "assistant" {
                a.role_chunks += 1;
            }
            a.content += d["content"].as_str().unwrap_or_default();
            a.content += choice["text"].as_str().unwrap_or_default();
            a.reasoning += d["reasoning"].as_str().unwrap_or_default();
            for tc in d["tool_calls"].as_array().into_iter().flatten() {
                assert_eq!(tc["index"], 0);
                a.tool_id += tc["id"].as_str().unwrap_or_default();
                a.tool_name += tc["function"]["name"].as_str().unwrap_or_default();
                a.arguments += tc["function"]["arguments"].as_str().unwrap_or_default();
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                a.finish_reasons.push(f.to_string());
            }
        }
    }
    a
}

fn assert_error(body: &Value, kind: &str, param: Value, code: u16, message_part: &str) {
    let e = &body["error"];
    assert_eq!(e["type"], kind, "{body}");
    assert_eq!(e["param"], param, "{body}");
    assert_eq!(e["code"], code, "{body}");
    let message = e["message"].as_str().expect("message");
    assert!(message.contains(message_part), "{message:?} lacks {message_part:?}");
}

#[test]
fn defaults_equal_the_flag_defaults() {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimConfig,
    }
    assert_eq!(Cli::parse_from(["sim"]).sim, SimConfig::default());
    let cli = Cli::parse_from(["sim", "--ttft", "250ms", "--port", "0", "--reasoning"]);
    assert_eq!(cli.sim.ttft, Duration::from_millis(250));
    assert!(cli.sim.reasoning);
    assert!(Cli::try_parse_from(["sim", "--ttft", "5"]).is_err());
    assert!(Cli::try_parse_from(["sim", "--tokens-per-chunk", "0"]).is_err());
}

#[tokio::test]
async fn health_version_and_models() {
    let sim = start(SimConfig { model: "m1".into(), max_model_len: 1234, ..config() }).await;
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    let get = |path: &str| client().get(format!("{}{path}", sim.base_url())).send();
    let health = get("/health").await.expect("health");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("body"), "");
    let version: Value =
        serde_json::from_str(&get("/version").await.expect("version").text().await.expect("body")).expect("json");
    assert_eq!(version["version"], format!("llmspec-sim {}", env!("CARGO_PKG_VERSION")));
    let models: Value =
        serde_json::from_str(&get("/v1/models").await.expect("models").text().await.expect("body")).expect("json");
    assert_eq!(models["object"], "list");
    let m = &models["data"][0];
    assert_eq!(m["id"], "m1");
    assert_eq!(m["object"], "model");
    assert_eq!(m["owned_by"], "llmspec-sim");
    assert_eq!(m["root"], "m1");
    assert!(m["parent"].is_null());
    assert_eq!(m["max_model_len"], 1234);
    assert!(m["created"].is_u64());
}

#[tokio::test]
async fn routing_errors_use_fastapi_detail() {
    let sim = start(config()).await;
    let resp = client().get(format!("{}/v1/nope", sim.base_url())).send().await.expect("resp");
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.text().await.expect("body"), r#"{"detail":"Not Found"}"#);
    let resp = client().get(format!("{}/v1/chat/completions", sim.base_url())).send().await.expect("resp");
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.text().await.expect("body"), r#"{"detail":"Method Not Allowed"}"#);
}

#[tokio::test]
async fn chat_usage_and_finish_reason() {
    let sim = start(config()).await;
    // "Hello" = 5 chars = 2 tokens; 2 + (4 + 2) = 8.
    let (status, body) = call(&sim, "/v1/chat/completions", json!({"messages": user("Hello")})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().expect("id").starts_with("chatcmpl-"));
    assert_eq!(body["model"], "sim-model");
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["finish_reason"], "stop");
    let content = choice["message"]["content"].as_str().expect("content");
    assert_eq!(content.split(' ').count(), 16);
    assert!(content.ends_with('.'));
    assert_eq!(body["usage"]["prompt_tokens"], 8);
    assert_eq!(body["usage"]["completion_tokens"], 16);
    assert_eq!(body["usage"]["total_tokens"], 24);

    let (_, cut) =
        call(&sim, "/v1/chat/completions", json!({"model": "sim-model", "messages": user("Hello"), "max_tokens": 5}))
            .await;
    assert_eq!(cut["choices"][0]["finish_reason"], "length");
    assert_eq!(cut["usage"]["completion_tokens"], 5);
    assert_eq!(cut["usage"]["total_tokens"], 13);
    let cut_text = cut["choices"][0]["message"]["content"].as_str().expect("content");
    assert!(content.starts_with(cut_text.trim_end_matches('.')), "same words, fewer");
    assert!(!cut_text.ends_with('.'));

    let (_, exact) =
        call(&sim, "/v1/chat/completions", json!({"messages": user("Hello"), "max_completion_tokens": 16})).await;
    assert_eq!(exact["choices"][0]["finish_reason"], "stop");
    assert_eq!(exact["choices"][0]["message"]["content"], content, "deterministic");

    let (_, other) = call(&sim, "/v1/chat/completions", json!({"messages": user("Goodbye")})).await;
    assert_ne!(other["choices"][0]["message"]["content"], content);

    let (_, more) =
        call_with(&sim, "/v1/chat/completions", json!({"messages": user("Hello")}), &[("x-sim-output-tokens", "40")])
            .await;
    assert_eq!(more["usage"]["completion_tokens"], 40);
}

#[tokio::test]
async fn chat_prompt_counting_rule() {
    let sim = start(config()).await;
    let messages = json!([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Name three"}, {"type": "text", "text": " colors."}]},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "wizard", "content": "x"}
    ]);
    // 2 + (4+4) + (4+5) + (4 + 0 + 1 + 1) + (4+1) + (4+1)
    let (status, body) = call(&sim, "/v1/chat/completions", json!({"messages": messages})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["usage"]["prompt_tokens"], 35);

    let as_parts = json!([{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]);
    let (_, parts) = call(&sim, "/v1/chat/completions", json!({"messages": as_parts})).await;
    let (_, plain) = call(&sim, "/v1/chat/completions", json!({"messages": user("Hello")})).await;
    assert_eq!(parts["usage"], plain["usage"]);
    assert_eq!(parts["choices"][0]["message"]["content"], plain["choices"][0]["message"]["content"]);

    let tools = weather_tool();
    let tools_cost = (tools.to_string().chars().count() as u64).div_ceil(4);
    let (_, with_tools) =
        call(&sim, "/v1/chat/completions", json!({"messages": user("Hello"), "tools": tools, "tool_choice": "none"}))
            .await;
    assert_eq!(with_tools["usage"]["prompt_tokens"], 8 + tools_cost);
}

#[tokio::test]
async fn completions_usage_and_text() {
    let sim = start(config()).await;
    // 1 + ceil(24 / 4) = 7
    let (status, body) =
        call(&sim, "/v1/completions", json!({"prompt": "The capital of France is", "max_tokens": 4})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "text_completion");
    assert!(body["id"].as_str().expect("id").starts_with("cmpl-"));
    let choice = &body["choices"][0];
    let text = choice["text"].as_str().expect("text");
    assert!(text.starts_with(' '));
    assert_eq!(text.split_whitespace().count(), 4);
    assert_eq!(choice["finish_reason"], "length");
    assert_eq!(body["usage"]["prompt_tokens"], 7);
    assert_eq!(body["usage"]["completion_tokens"], 4);
    assert_eq!(body["usage"]["total_tokens"], 11);

    let (_, ids) = call(&sim, "/v1/completions", json!({"prompt": [1, 2, 3]})).await;
    assert_eq!(ids["usage"]["prompt_tokens"], 3);
    assert_eq!(ids["choices"][0]["finish_reason"], "stop");

    let (status, body) = call(&sim, "/v1/completions", json!({"prompt": ""})).await;
    assert_eq!(status, 400);
    assert_error(&body, "Bad Request", json!("body"), 400, "Either prompt or prompt_embeds");
}

#[tokio::test]
async fn n_choices_each_count() {
    let sim = start(config()).await;
    let (_, body) = call(&sim, "/v1/chat/completions", json!({"messages": user("Hi"), "n": 2, "max_tokens": 3})).await;
    let choices = body["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 2);
    assert_eq!(choices[1]["index"], 1);
    assert_eq!(body["usage"]["completion_tokens"], 6);
    let evs = events(
        &sim,
        "/v1/chat/completions",
        json!({"messages": user("Hi"), "n": 2, "max_tokens": 3, "stream": true}),
        &[],
    )
    .await;
    let a = assemble(&chunks(&evs));
    assert_eq!(a.role_chunks, 2);
    assert_eq!(a.finish_reasons, ["length", "length"]);
}

#[tokio::test]
async fn context_length_rules() {
    let sim = start(SimConfig { max_model_len: 64, ..config() }).await;
    // 2 + 4 + ceil(240 / 4) = 66 > 64
    let long = "abcd".repeat(60);
    let t = Instant::now();
    let (status, body) = call_with(
        &sim,
        "/v1/chat/completions",
        json!({"messages": user(&long), "stream": true}),
        &[("x-sim-ttft", "2s"), ("x-sim-latency", "2s")],
    )
    .await;
    assert!(t.elapsed() < Duration::from_millis(500), "refused before any delay");
    assert_eq!(status, 400);
    assert_error(
        &body,
        "BadRequestError",
        json!("input_tokens"),
        400,
        "This model's maximum context length is 64 tokens. However, your prompt contains at least 65 input tokens, which exceeds this limit even without any output tokens. Please reduce the length of the input prompt. (parameter=input_tokens, value=65)",
    );
    // Exactly the context: no room left, refused too.
    let (status, _) = call(&sim, "/v1/completions", json!({"prompt": "x".repeat(252)})).await;
    assert_eq!(status, 400);

    // 2 + 4 + 50 = 56 tokens; 56 + 20 > 64: cut to 8.
    let (status, body) =
        call(&sim, "/v1/chat/completions", json!({"messages": user(&"abcd".repeat(50)), "max_tokens": 20})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["usage"]["completion_tokens"], 8);
    assert_eq!(body["usage"]["total_tokens"], 64);
    assert_eq!(body["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn request_errors_have_vllm_shapes() {
    let sim = start(config()).await;
    let chat = "/v1/chat/completions";
    let cases: Vec<(Value, u16, &str, Value, &str)> = vec![
        (
            json!({"model": "no-such", "messages": user("hi")}),
            404,
            "NotFoundError",
            json!("model"),
            "The model `no-such` does not exist.",
        ),
        (
            json!({"messages": []}),
            400,
            "BadRequestError",
            Value::Null,
            "Cannot apply chat template to an empty conversation. Provide at least one message.",
        ),
        (
            json!({"model": "sim-model", "max_tokens": 3}),
            400,
            "Bad Request",
            json!("body.messages"),
            "'loc': 'body.messages', 'msg': 'Field required', 'input': '<dict of 2 items>'",
        ),
        (
            json!({"messages": user("hi"), "max_tokens": 200000}),
            400,
            "BadRequestError",
            json!("max_tokens"),
            "max_tokens=200000 cannot be greater than max_model_len=4096. Please request fewer output tokens. (parameter=max_tokens, value=200000)",
        ),
        (
            json!({"messages": user("hi"), "max_completion_tokens": 200000}),
            400,
            "BadRequestError",
            json!("max_completion_tokens"),
            "max_completion_tokens=200000 cannot be greater than max_model_len=4096.",
        ),
        (
            json!({"messages": user("hi"), "max_tokens": 0}),
            400,
            "BadRequestError",
            json!("max_tokens"),
            "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)",
        ),
        (
            json!({"messages": user("hi"), "max_tokens": -1}),
            400,
            "BadRequestError",
            json!("max_tokens"),
            "max_tokens must be at least 1, got -1.",
        ),
        (
            json!({"messages": user("hi"), "stream": false, "stream_options": {"include_usage": true}}),
            400,
            "BadRequestError",
            json!("stream_options"),
            "Stream options can only be defined when `stream=True`.",
        ),
        (
            json!({"messages": user("hi"), "tool_choice": "auto"}),
            400,
            "BadRequestError",
            json!("tool_choice"),
            "When using `tool_choice`, `tools` must be set. (parameter=tool_choice)",
        ),
        (
            json!({"messages": user("hi"), "tools": weather_tool(), "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
            400,
            "BadRequestError",
            json!("tool_choice"),
            "does not match any of the specified `tools`",
        ),
        (
            json!({"messages": user("hi"), "temperature": "hot"}),
            400,
            "Bad Request",
            json!("body.temperature"),
            "'type': 'float_parsing'",
        ),
        (json!({"messages": "hi"}), 400, "Bad Request", json!("body.messages"), "Input should be a valid list"),
        (json!({"messages": [{"content": "hi"}]}), 400, "Bad Request", json!("body.messages.0.role"), "Field required"),
        (
            json!({"messages": [{"role": "user", "content": 5}]}),
            400,
            "Bad Request",
            json!("body.messages.0.content"),
            "valid string",
        ),
        (json!([1, 2]), 400, "Bad Request", json!("body"), "Input should be a valid dictionary"),
    ];
    for (body, status, kind, param, message) in cases {
        let (got, answer) = call(&sim, chat, body.clone()).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert_error(&answer, kind, param, status, message);
    }

    let (status, body) = call(&sim, "/v1/completions", json!({"prompt": "x", "model": "nope"})).await;
    assert_eq!(status, 404);
    assert_error(&body, "NotFoundError", json!("model"), 404, "The model `nope` does not exist.");

    let raw = |body: &'static str, content_type: &'static str| {
        let url = format!("{}{chat}", sim.base_url());
        async move {
            let resp =
                client().post(url).header("content-type", content_type).body(body).send().await.expect("response");
            let status = resp.status().as_u16();
            let json: Value = serde_json::from_str(&resp.text().await.expect("body")).expect("json");
            (status, json)
        }
    };
    let (status, body) = raw(r#"{"messages": [1,"#, "application/json").await;
    assert_eq!(status, 400);
    assert_error(&body, "Bad Request", json!("body.15"), 400, "JSON decode error");
    let (status, body) = raw("", "application/json").await;
    assert_eq!(status, 400);
    assert_error(&body, "Bad Request", json!("body"), 400, "'type': 'missing', 'loc': 'body'");
    let (status, body) = raw(r#"{"messages":[]}"#, "application/x-www-form-urlencoded").await;
    assert_eq!(status, 400);
    assert_error(&body, "Bad Request", json!("body"), 400, "valid dictionary");

    let (status, body) = call_with(&sim, chat, json!({"messages": user("hi")}), &[("x-sim-fault", "boom")]).await;
    assert_eq!(status, 400);
    assert_error(
        &body,
        "BadRequestError",
        json!("x-sim-fault"),
        400,
        "reset-mid-stream, stall, no-done, error-event, malformed-chunk, status-500, drop, huge-body",
    );
    let (status, body) = call_with(&sim, chat, json!({"messages": user("hi")}), &[("x-sim-ttft", "soon")]).await;
    assert_eq!(status, 400);
    assert_error(&body, "BadRequestError", json!("x-sim-ttft"), 400, "soon");
    let (status, _) =
        call_with(&sim, chat, json!({"messages": user("hi")}), &[("x-sim-ttft", "99999999999999999999999h")]).await;
    assert_eq!(status, 400);
    let (status, _) = call_with(&sim, chat, json!({"messages": user("hi")}), &[("x-sim-tokens-per-chunk", "0")]).await;
    assert_eq!(status, 400);

    // No poisoned state after errors.
    let (status, _) = call(&sim, chat, json!({"messages": user("hi")})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn stream_frames_like_vllm() {
    let sim = start(config()).await;
    let evs =
        events(&sim, "/v1/chat/completions", json!({"messages": user("Hello"), "max_tokens": 5, "stream": true}), &[])
            .await;
    assert_eq!(evs.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(evs.iter().filter(|e| *e == "[DONE]").count(), 1);
    let cs = chunks(&evs);
    assert_eq!(cs.len(), 6, "role + 5 tokens, no usage chunk");
    assert_eq!(cs[0]["choices"][0]["delta"], json!({"role": "assistant", "content": ""}));
    for c in &cs {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], cs[0]["id"]);
        assert_eq!(c["created"], cs[0]["created"]);
        assert_eq!(c["model"], "sim-model");
        assert!(c.get("usage").is_none());
    }
    let last = cs.last().expect("last");
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert!(last["system_fingerprint"].is_string());
    let a = assemble(&cs);
    assert_eq!(a.finish_reasons, ["length"]);
    let (_, whole) = call(&sim, "/v1/chat/completions", json!({"messages": user("Hello"), "max_tokens": 5})).await;
    assert_eq!(a.content, whole["choices"][0]["message"]["content"].as_str().expect("content"));

    let evs = events(
        &sim,
        "/v1/chat/completions",
        json!({"messages": user("Hello"), "stream": true, "stream_options": {"include_usage": true}}),
        &[("x-sim-tokens-per-chunk", "5")],
    )
    .await;
    let cs = chunks(&evs);
    assert_eq!(cs.len(), 1 + 4 + 1, "role + ceil(16/5) + usage");
    let usage_chunk = cs.last().expect("usage chunk");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"], json!({"prompt_tokens": 8, "total_tokens": 24, "completion_tokens": 16}));
    let a = assemble(&cs);
    assert_eq!(a.finish_reasons, ["stop"]);
    assert_eq!(a.content, whole_content(&sim, "Hello").await);

    let evs = events(
        &sim,
        "/v1/completions",
        json!({"prompt": "1, 2, 3,", "max_tokens": 4, "stream": true, "stream_options": {"include_usage": true}}),
        &[],
    )
    .await;
    let cs = chunks(&evs);
    assert_eq!(cs.len(), 5, "4 tokens + usage, no role chunk");
    assert!(cs.iter().all(|c| c["object"] == "text_completion"));
    assert_eq!(cs[3]["choices"][0]["finish_reason"], "length");
    assert_eq!(cs[4]["usage"]["total_tokens"], 3 + 4);
}

async fn whole_content(sim: &SimHandle, prompt: &str) -> String {
    let (_, body) = call(sim, "/v1/chat/completions", json!({"messages": user(prompt)})).await;
    body["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn force_usage_and_reasoning() {
    let sim = start(SimConfig { force_usage: true, reasoning: true, ..config() }).await;
    let (_, body) = call(&sim, "/v1/chat/completions", json!({"messages": user("Hello")})).await;
    let message = &body["choices"][0]["message"];
    assert_eq!(message["reasoning"], "The user wants a short answer now.");
    assert_eq!(message["reasoning_content"], message["reasoning"]);
    assert_eq!(body["usage"]["completion_tokens"], 8 + 16);
    assert_eq!(body["usage"]["completion_tokens_details"]["reasoning_tokens"], 8);

    let evs = events(&sim, "/v1/chat/completions", json!({"messages": user("Hello"), "stream": true}), &[]).await;
    let cs = chunks(&evs);
    let a = assemble(&cs);
    assert!(a.usage.is_some(), "forced usage chunk");
    assert_eq!(a.reasoning, "The user wants a short answer now.");
    assert_eq!(a.content, message["content"].as_str().expect("content"));
    let first_content =
        cs.iter().position(|c| c["choices"][0]["delta"]["content"].as_str().is_some_and(|s| !s.is_empty()));
    let last_reasoning = cs.iter().rposition(|c| c["choices"][0]["delta"]["reasoning"].is_string());
    assert!(last_reasoning < first_content, "reasoning first");
    assert!(cs.iter().all(|c| {
        let d = &c["choices"][0]["delta"];
        d["reasoning"] == d["reasoning_content"]
    }));

    // A budget smaller than the reasoning: no content at all.
    let (_, short) = call(&sim, "/v1/chat/completions", json!({"messages": user("Hello"), "max_tokens": 3})).await;
    assert_eq!(short["choices"][0]["message"]["content"], "");
    assert_eq!(short["choices"][0]["message"]["reasoning"], "The user wants");
    assert_eq!(short["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn tool_calls_follow_the_choice() {
    let sim = start(config()).await;
    let ask =
        |choice: Value, text: &str| json!({"messages": user(text), "tools": weather_tool(), "tool_choice": choice});
    let expected = json!({"city": "Paris", "unit": "celsius", "days": 1, "detailed": false});

    let (_, body) = call(&sim, "/v1/chat/completions", ask(json!("required"), "What is the weather in Paris?")).await;
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "");
    let call0 = &choice["message"]["tool_calls"][0];
    assert_eq!(call0["type"], "function");
    assert_eq!(call0["function"]["name"], "get_weather");
    let id = call0["id"].as_str().expect("id");
    assert!(id.starts_with("chatcmpl-tool-") && id.len() == "chatcmpl-tool-".len() + 16);
    let args: Value = serde_json::from_str(call0["function"]["arguments"].as_str().expect("args")).expect("json args");
    assert_eq!(args, expected);

    let named = json!({"type": "function", "function": {"name": "get_weather"}});
    let (_, body) = call(&sim, "/v1/chat/completions", ask(named, "Tell me about Rome.")).await;
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "get_weather");

    let (_, body) = call(&sim, "/v1/chat/completions", ask(json!("auto"), "Is the weather nice in Oslo today?")).await;
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert!(body["choices"][0]["message"]["content"].is_null());
    let args: Value = serde_json::from_str(
        body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].as_str().expect("args"),
    )
    .expect("json");
    assert_eq!(args["city"], "Oslo");

    let (_, body) = call(&sim, "/v1/chat/completions", ask(json!("auto"), "Say hello.")).await;
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["choices"][0]["message"].get("tool_calls").is_none());

    let (_, body) = call(&sim, "/v1/chat/completions", ask(json!("none"), "What is the weather in Paris?")).await;
    assert!(body["choices"][0]["message"].get("tool_calls").is_none());

    // After a tool result the model answers with text.
    let history = json!({"tools": weather_tool(), "messages": [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "x", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "x", "content": "sunny"}
    ]});
    let (_, body) = call(&sim, "/v1/chat/completions", history).await;
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["choices"][0]["message"]["content"].as_str().is_some_and(|c| !c.is_empty()));

    // Cut by max_tokens: raw text, no tool_calls, "length".
    let mut cut = ask(json!("required"), "What is the weather in Paris?");
    cut["max_tokens"] = json!(5);
    let (_, body) = call(&sim, "/v1/chat/completions", cut).await;
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert!(body["choices"][0]["message"].get("tool_calls").is_none());
    assert!(body["choices"][0]["message"]["content"].as_str().expect("text").starts_with("<tool_call>"));
}

#[tokio::test]
async fn streamed_tool_call_fragments_join_to_the_arguments() {
    let sim = start(config()).await;
    let body = json!({
        "messages": user("Weather for Paris please"),
        "tools": weather_tool(),
        "tool_choice": "required",
        "stream": true,
        "stream_options": {"include_usage": true}
    });
    let evs = events(&sim, "/v1/chat/completions", body.clone(), &[]).await;
    let cs = chunks(&evs);
    let opening = &cs[1]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(opening["type"], "function");
    assert_eq!(opening["function"]["name"], "get_weather");
    assert!(opening["id"].as_str().is_some_and(|id| id.starts_with("chatcmpl-tool-")));
    let fragments =
        cs.iter().filter(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].is_string()).count();
    assert!(fragments > 3, "arguments arrive in several pieces");
    let a = assemble(&cs);
    assert_eq!(a.finish_reasons, ["tool_calls"]);
    assert!(a.content.is_empty());
    let finish = &cs[cs.len() - 2]["choices"][0];
    assert_eq!(finish["delta"], json!({}));

    let mut plain = body;
    plain["stream"] = json!(false);
    plain.as_object_mut().expect("object").remove("stream_options");
    let (_, whole) = call(&sim, "/v1/chat/completions", plain).await;
    let whole_args = whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].as_str().expect("args");
    assert_eq!(a.arguments, whole_args);
    let parsed: Value = serde_json::from_str(&a.arguments).expect("joined fragments are JSON");
    assert_eq!(parsed["city"], "Paris");
    assert_eq!(a.usage.expect("usage")["completion_tokens"], whole["usage"]["completion_tokens"]);
}

async fn timed_stream(sim: &SimHandle, headers: &[(&str, &str)], max_tokens: u64) -> (Duration, Vec<Duration>) {
    let body = json!({"messages": user("Time me"), "stream": true, "max_tokens": max_tokens});
    let t0 = Instant::now();
    let resp = send(sim, "/v1/chat/completions", &body, headers).await.expect("response");
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut content_times = Vec::new();
    while let Some(piece) = stream.next().await {
        buf.push_str(std::str::from_utf8(&piece.expect("body piece")).expect("utf-8"));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let data = event.trim_end().strip_prefix("data: ").expect("data line");
            if data == "[DONE]" {
                continue;
            }
            let chunk: Value = serde_json::from_str(data).expect("json");
            if chunk["choices"][0]["delta"]["content"].as_str().is_some_and(|s| !s.is_empty()) {
                content_times.push(t0.elapsed());
            }
        }
    }
    let ttft = content_times.first().copied().expect("some content");
    let gaps = content_times.windows(2).map(|w| w[1] - w[0]).collect();
    (ttft, gaps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_and_chunk_delay_are_honoured() {
    let sim = start(config()).await;
    let (ttft, _) = timed_stream(&sim, &[("x-sim-ttft", "200ms")], 3).await;
    assert!(ttft >= Duration::from_millis(200), "{ttft:?}");
    // Loose upper bounds: this checks the delays are applied, not how precisely (see
    // benches/timing_accuracy.rs), and CI machines are shared.
    assert!(ttft < Duration::from_secs(5), "{ttft:?}");

    let (ttft, gaps) = timed_stream(&sim, &[("x-sim-ttft", "50ms"), ("x-sim-chunk-delay", "40ms")], 6).await;
    assert!(ttft >= Duration::from_millis(50), "{ttft:?}");
    assert_eq!(gaps.len(), 5);
    let total: Duration = gaps.iter().sum();
    // The sum is the last arrival minus the first: a first chunk read late on a loaded machine
    // shortens it, so the floor only tells "the delay is applied" from "no delay" (~0 ms).
    assert!(total >= Duration::from_millis(120) && total < Duration::from_secs(5), "{gaps:?}");
    assert!(gaps.iter().filter(|g| **g > Duration::from_millis(20)).count() >= 3, "{gaps:?}");

    let t0 = Instant::now();
    let (status, _) =
        call_with(&sim, "/v1/chat/completions", json!({"messages": user("x")}), &[("x-sim-latency", "150ms")]).await;
    assert_eq!(status, 200);
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(150) && took < Duration::from_millis(400), "{took:?}");
}

fn stream_body() -> Value {
    json!({"messages": user("Fault me"), "stream": true, "max_tokens": 10})
}

#[tokio::test]
async fn fault_reset_mid_stream_breaks_the_body() {
    let sim = start(config()).await;
    let resp = send(&sim, "/v1/chat/completions", &stream_body(), &[("x-sim-fault", "reset-mid-stream")])
        .await
        .expect("headers arrive");
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut got = String::new();
    let mut broken = false;
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(b) => got.push_str(&String::from_utf8_lossy(&b)),
            Err(_) => {
                broken = true;
                break;
            }
        }
    }
    assert!(broken, "the client sees a broken body, not a clean end");
    assert!(got.contains("\"content\""), "some content came first");
    assert!(!got.contains("[DONE]"));

    let resp =
        send(&sim, "/v1/chat/completions", &json!({"messages": user("x")}), &[("x-sim-fault", "reset-mid-stream")])
            .await
            .expect("headers arrive");
    assert!(resp.text().await.is_err(), "non-streaming body broken too");
}

#[tokio::test]
async fn fault_stall_goes_quiet_but_stays_open() {
    let sim = start(config()).await;
    let resp =
        send(&sim, "/v1/chat/completions", &stream_body(), &[("x-sim-fault", "stall")]).await.expect("headers arrive");
    let mut stream = resp.bytes_stream();
    let mut got = String::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(400), stream.next()).await {
            Ok(Some(Ok(b))) => got.push_str(&String::from_utf8_lossy(&b)),
            Ok(other) => panic!("the stream ended instead of stalling: {other:?}"),
            Err(_) => break,
        }
    }
    let evs = split_events(&got);
    assert_eq!(evs.len(), 4, "role + 3 content chunks, then silence: {evs:?}");
}

#[tokio::test]
async fn fault_no_done_error_event_and_malformed_chunk() {
    let sim = start(config()).await;
    let chat = "/v1/chat/completions";

    let evs = events(&sim, chat, stream_body(), &[("x-sim-fault", "no-done")]).await;
    assert!(!evs.iter().any(|e| e == "[DONE]"));
    assert_eq!(assemble(&chunks(&evs)).finish_reasons, ["length"]);

    let evs = events(&sim, chat, stream_body(), &[("x-sim-fault", "error-event")]).await;
    assert_eq!(evs.last().map(String::as_str), Some("[DONE]"));
    let error: Value = serde_json::from_str(&evs[evs.len() - 2]).expect("json");
    assert_eq!(
        error,
        json!({"error": {"message": "Internal server error", "type": "InternalServerError", "param": null, "code": 500}})
    );
    assert!(evs.len() >= 4, "some chunks came first");
    assert!(assemble(&chunks(&evs[..evs.len() - 2])).finish_reasons.is_empty());

    let evs = events(&sim, chat, stream_body(), &[("x-sim-fault", "malformed-chunk")]).await;
    let bad: Vec<_> = evs.iter().filter(|e| *e != "[DONE]" && serde_json::from_str::<Value>(e).is_err()).collect();
    assert_eq!(bad.len(), 1, "{evs:?}");
    assert_eq!(evs.last().map(String::as_str), Some("[DONE]"));
    let good: Vec<Value> = evs.iter().filter_map(|e| serde_json::from_str(e).ok()).collect();
    assert_eq!(assemble(&good).content.split(' ').count(), 10, "nothing lost around the bad line");
}

#[tokio::test]
async fn fault_status_500_drop_and_huge_body() {
    let sim = start(config()).await;
    let chat = "/v1/chat/completions";
    let (status, body) = call_with(&sim, chat, json!({"messages": user("x")}), &[("x-sim-fault", "status-500")]).await;
    assert_eq!(status, 500);
    assert_error(&body, "InternalServerError", Value::Null, 500, "Internal server error");

    let dropped = send(&sim, chat, &json!({"messages": user("x")}), &[("x-sim-fault", "drop")]).await;
    assert!(dropped.is_err(), "no response at all");
    let dropped = send(&sim, chat, &stream_body(), &[("x-sim-fault", "drop")]).await;
    assert!(dropped.is_err(), "no response at all");

    let resp =
        send(&sim, chat, &json!({"messages": user("x")}), &[("x-sim-fault", "huge-body")]).await.expect("response");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("whole body");
    assert!(text.len() >= 10 * 1024 * 1024 && text.len() < 11 * 1024 * 1024, "{}", text.len());
    let body: Value = serde_json::from_str(&text).expect("valid JSON");
    let content = body["choices"][0]["message"]["content"].as_str().expect("content");
    assert_eq!(body["usage"]["completion_tokens"], content.split(' ').count());

    let evs = events(&sim, chat, stream_body(), &[("x-sim-fault", "huge-body")]).await;
    assert_eq!(evs.last().map(String::as_str), Some("[DONE]"));
    assert!(assemble(&chunks(&evs)).content.len() >= 10 * 1024 * 1024);

    let (status, _) = call(&sim, chat, json!({"messages": user("x")})).await;
    assert_eq!(status, 200, "server unharmed");
}

/// The simulator's count of generation responses not finished yet.
async fn in_flight(sim: &SimHandle) -> u64 {
    let text = client().get(format!("{}/metrics", sim.base_url())).send().await.expect("metrics").text().await;
    let text = text.expect("metrics body");
    let line = text.lines().find(|l| l.starts_with("llmspec_sim:responses_in_flight ")).expect("in-flight gauge");
    line.rsplit(' ').next().and_then(|n| n.parse().ok()).expect("a count")
}

/// Waits (at most 5 s) for every response to be finished, and returns what is left.
async fn settle(sim: &SimHandle) -> u64 {
    let mut left = in_flight(sim).await;
    for _ in 0..250 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = in_flight(sim).await;
    }
    left
}

/// The raw bytes of a complete body.
async fn raw_body(sim: &SimHandle, body: &Value, fault: &str) -> (u16, String, Vec<u8>) {
    let resp = send(sim, "/v1/chat/completions", body, &[("x-sim-fault", fault)]).await.expect("response");
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").map_or("", |v| v.to_str().unwrap_or("")).to_string();
    (status, content_type, resp.bytes().await.expect("whole body").to_vec())
}

#[tokio::test]
async fn fault_invalid_utf8_in_a_body_and_in_a_stream() {
    let sim = start(config()).await;
    let (status, content_type, body) = raw_body(&sim, &json!({"messages": user("x")}), "invalid-utf8").await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let bad = std::str::from_utf8(&body).expect_err("not UTF-8");
    let text_at = body.windows(11).position(|w| w == b"\"content\":\"").expect("a content string") + 11;
    assert_eq!(bad.valid_up_to(), text_at + 4, "the bad bytes are inside the answer text, 4 bytes in");
    let repaired: Value = serde_json::from_slice(&String::from_utf8_lossy(&body).into_owned().into_bytes())
        .expect("valid JSON around the bad bytes");
    assert!(repaired["choices"][0]["message"]["content"].as_str().expect("content").starts_with("bad \u{fffd}"));

    let (status, content_type, body) = raw_body(&sim, &stream_body(), "invalid-utf8").await;
    assert_eq!((status, content_type.as_str()), (200, "text/event-stream; charset=utf-8"));
    let events: Vec<&[u8]> = body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let broken: Vec<_> = events.iter().filter(|e| std::str::from_utf8(e).is_err()).collect();
    assert_eq!(broken.len(), 1, "one event carries the bad bytes");
    let lossy = String::from_utf8_lossy(broken[0]);
    let chunk: Value = serde_json::from_str(lossy.strip_prefix("data: ").expect("a data line")).expect("JSON");
    assert_eq!(chunk["choices"][0]["delta"]["content"], "bad \u{fffd}\u{fffd} bytes");
    let good: Vec<String> = events
        .iter()
        .filter_map(|e| std::str::from_utf8(e).ok())
        .map(|e| e.strip_prefix("data: ").expect("a data line").to_string())
        .collect();
    assert_eq!(good.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(assemble(&chunks(&good)).content.split(' ').count(), 10, "nothing lost around the bad event");
}

#[tokio::test]
async fn fault_huge_line_is_one_valid_five_megabyte_line() {
    let sim = start(config()).await;
    let chat = "/v1/chat/completions";
    let evs = events(&sim, chat, stream_body(), &[("x-sim-fault", "huge-line")]).await;
    assert_eq!(evs.last().map(String::as_str), Some("[DONE]"));
    let longest = evs.iter().map(String::len).max().unwrap_or(0);
    assert!((5 * 1024 * 1024..5 * 1024 * 1024 + 1024).contains(&longest), "{longest}");
    let a = assemble(&chunks(&evs));
    let words: Vec<&str> = a.content.split(' ').collect();
    assert!(words[3..5] == ["more", "more"] && words[2] != "more", "3 words, then the line: {}", &a.content[..40]);
    assert_eq!(a.finish_reasons, ["length"], "the stream goes on after the line");

    let (status, _, body) = raw_body(&sim, &json!({"messages": user("x")}), "huge-line").await;
    assert_eq!(status, 200);
    assert!(body.len() >= 5 * 1024 * 1024 && !body.contains(&b'\n'), "{}", body.len());
    let body: Value = serde_json::from_slice(&body).expect("valid JSON");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(settle(&sim).await, 0);
}

#[tokio::test]
async fn fault_endless_streams_until_the_client_leaves() {
    let sim = start(config()).await;
    let resp =
        send(&sim, "/v1/chat/completions", &stream_body(), &[("x-sim-fault", "endless")]).await.expect("headers");
    let mut stream = resp.bytes_stream();
    let (mut read, mut tail) = (0usize, Vec::new());
    // The simulator's memory while streaming is measured in its own process, by the
    // hostile-server suite; here, only that it goes on and on.
    const READ: usize = 32 * 1024 * 1024;
    while read < READ {
        let piece = stream.next().await.expect("no end").expect("no break");
        read += piece.len();
        if tail.len() < 64 * 1024 {
            tail.extend_from_slice(&piece);
        }
    }
    let text = String::from_utf8(tail).expect("UTF-8");
    let complete = &text[..text.rfind("\n\n").expect("whole events") + 2];
    let evs = split_events(complete);
    assert!(evs.len() > 100);
    assert!(!evs.iter().any(|e| e == "[DONE]"));
    assert!(assemble(&chunks(&evs)).finish_reasons.is_empty(), "valid chunks, none final");
    assert_eq!(in_flight(&sim).await, 1);
    drop(stream);
    assert_eq!(settle(&sim).await, 0, "the stream ended when the client went away");

    let resp = send(&sim, "/v1/chat/completions", &json!({"messages": user("x")}), &[("x-sim-fault", "endless")])
        .await
        .expect("headers");
    let mut stream = resp.bytes_stream();
    let mut head = Vec::new();
    while head.len() < 4 * 1024 * 1024 {
        head.extend_from_slice(&stream.next().await.expect("no end").expect("no break"));
    }
    let head = String::from_utf8(head).expect("UTF-8");
    assert!(head.starts_with('{') && head.contains("\"content\":\" more more"), "{}", &head[..200]);
    drop(stream);
    assert_eq!(settle(&sim).await, 0);
}

#[tokio::test]
async fn fault_slow_headers_answers_late_and_gives_up_with_the_client() {
    let sim = start(config()).await;
    let t0 = Instant::now();
    let resp = send(
        &sim,
        "/v1/chat/completions",
        &json!({"messages": user("x")}),
        &[("x-sim-fault", "slow-headers"), ("x-sim-latency", "300ms")],
    )
    .await
    .expect("response");
    assert!(t0.elapsed() >= Duration::from_millis(300), "headers after the delay");
    assert_eq!(resp.status(), 200);
    let body: Value = serde_json::from_str(&resp.text().await.expect("body")).expect("a normal answer");
    assert_eq!(body["object"], "chat.completion");
    let evs = events(
        &sim,
        "/v1/chat/completions",
        stream_body(),
        &[("x-sim-fault", "slow-headers"), ("x-sim-latency", "100ms")],
    )
    .await;
    assert_eq!(evs.last().map(String::as_str), Some("[DONE]"));

    let impatient = client_builder().timeout(Duration::from_millis(300)).build().expect("client");
    let gave_up = impatient
        .post(format!("{}/v1/chat/completions", sim.base_url()))
        .header("content-type", "application/json")
        .header("x-sim-fault", "slow-headers")
        .body(json!({"messages": user("x")}).to_string())
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()), "no headers for a minute");
    drop(impatient);
    assert_eq!(settle(&sim).await, 0, "the wait ended when the client went away");
}

#[tokio::test]
async fn fault_stall_lets_go_when_the_client_leaves() {
    let sim = start(config()).await;
    let resp = send(&sim, "/v1/chat/completions", &stream_body(), &[("x-sim-fault", "stall")]).await.expect("headers");
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.expect("a chunk").expect("no break");
    assert!(first.starts_with(b"data: "));
    assert_eq!(in_flight(&sim).await, 1);
    drop(stream);
    assert_eq!(settle(&sim).await, 0);
}

#[tokio::test]
async fn fault_non_json_and_empty_200() {
    let sim = start(config()).await;
    for body in [json!({"messages": user("x")}), stream_body()] {
        let (status, content_type, page) = raw_body(&sim, &body, "non-json-200").await;
        assert_eq!((status, content_type.as_str()), (200, "text/html; charset=utf-8"));
        assert!(page.starts_with(b"<!DOCTYPE html>") && serde_json::from_slice::<Value>(&page).is_err());

        let (status, content_type, empty) = raw_body(&sim, &body, "empty-200").await;
        assert_eq!((status, content_type.as_str(), empty.len()), (200, "application/json", 0));
    }
}

#[tokio::test]
async fn fault_drop_closes_the_connection_before_any_byte_of_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sim = start(config()).await;
    let body = json!({"messages": user("x")}).to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: sim\r\ncontent-type: application/json\r\n\
         x-sim-fault: drop\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut tcp = tokio::net::TcpStream::connect(sim.addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("request sent");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await.expect("closed");
    assert!(read.is_err() || answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    assert!(answer.is_empty(), "not one byte of answer: {:?}", String::from_utf8_lossy(&answer));
}

#[test]
fn every_fault_has_a_name_the_flag_accepts() {
    for (name, fault) in super::Fault::ALL {
        assert_eq!(super::Fault::from_name(name), Ok(fault));
    }
    let unknown = super::Fault::from_name("boom").expect_err("unknown");
    for name in ["invalid-utf8", "endless", "huge-line", "slow-headers", "non-json-200", "empty-200"] {
        assert!(unknown.contains(name), "{unknown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_streams() {
    let sim = start(config()).await;
    let client = client_builder().build().expect("client");
    let url = format!("{}/v1/chat/completions", sim.base_url());
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let body = json!({"messages": user(&format!("n{i}")), "stream": true, "max_tokens": 4});
                let resp = client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-sim-ttft", "300ms")
                    .header("x-sim-chunk-delay", "20ms")
                    .body(body.to_string())
                    .send()
                    .await?;
                resp.text().await
            })
        })
        .collect();
    for t in tasks {
        let text = t.await.expect("task").expect("stream");
        assert!(text.ends_with("data: [DONE]\n\n"));
    }
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[tokio::test]
async fn hostile_schemas_stay_cheap() {
    let sim = start(config()).await;
    let mut schema = json!({"type": "string"});
    for _ in 0..12 {
        schema = json!({"type": "array", "minItems": 16, "items": schema});
    }
    let tools = json!([{"type": "function", "function": {"name": "deep", "parameters": {
        "type": "object", "properties": {"x": schema}, "required": ["x"]
    }}}]);
    let t0 = Instant::now();
    let (status, body) = call(
        &sim,
        "/v1/chat/completions",
        json!({"messages": user("go"), "tools": tools, "tool_choice": "required", "max_tokens": 4000}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(t0.elapsed() < Duration::from_secs(2));
    let args = body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].as_str().unwrap_or("");
    assert!(args.len() < 64 * 1024, "{}", args.len());
}

#[tokio::test]
async fn chat_logprobs_plain_streamed_and_refused() {
    let sim = start(config()).await;
    let ask = |extra: Value| {
        let mut body = json!({"messages": user("Say hello."), "max_tokens": 6});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let (status, off) = call(&sim, "/v1/chat/completions", ask(json!({"logprobs": false}))).await;
    assert_eq!(status, 200);
    assert!(off["choices"][0]["logprobs"].is_null());

    let (status, on) = call(&sim, "/v1/chat/completions", ask(json!({"logprobs": true, "top_logprobs": 5}))).await;
    assert_eq!(status, 200);
    let content = on["choices"][0]["logprobs"]["content"].as_array().expect("content list");
    assert_eq!(content.len(), 6, "one entry per token");
    let joined: String = content.iter().map(|e| e["token"].as_str().unwrap()).collect();
    assert_eq!(joined, on["choices"][0]["message"]["content"].as_str().unwrap());
    for e in content {
        let token = e["token"].as_str().unwrap();
        assert!(e["logprob"].as_f64().unwrap() <= 0.0);
        let bytes: Vec<u8> = e["bytes"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect();
        assert_eq!(bytes, token.as_bytes());
        let top = e["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 5);
        assert_eq!(top[0]["token"], e["token"], "greedy: the sampled token is the most likely");
        assert!(top.iter().all(|t| t["logprob"].as_f64().unwrap() <= e["logprob"].as_f64().unwrap()));
    }
    let (_, again) = call(&sim, "/v1/chat/completions", ask(json!({"logprobs": true, "top_logprobs": 5}))).await;
    assert_eq!(again["choices"][0]["logprobs"], on["choices"][0]["logprobs"], "deterministic");

    let evs = chunks(
        &events(
            &sim,
            "/v1/chat/completions",
            ask(json!({"stream": true, "logprobs": true, "top_logprobs": 2})),
            &[("x-sim-tokens-per-chunk", "2")],
        )
        .await,
    );
    let streamed: Vec<Value> = evs
        .iter()
        .filter(|c| c["choices"][0]["delta"]["content"].as_str().is_some_and(|t| !t.is_empty()))
        .flat_map(|c| c["choices"][0]["logprobs"]["content"].as_array().cloned().expect("content chunk has logprobs"))
        .collect();
    assert_eq!(streamed.len(), 6);
    assert_eq!(streamed[0]["token"], content[0]["token"]);

    let (status, err) = call(&sim, "/v1/chat/completions", ask(json!({"logprobs": true, "top_logprobs": 21}))).await;
    assert_eq!(status, 400);
    assert_error(&err, "BadRequestError", Value::Null, 400, "greater than max allowed: 20");
    let evs =
        events(&sim, "/v1/chat/completions", ask(json!({"stream": true, "logprobs": true, "top_logprobs": 21})), &[])
            .await;
    assert_eq!(evs.len(), 2);
    assert!(evs[0].contains("\"error\""));
    assert_eq!(evs[1], "[DONE]");
    let (status, _) = call(&sim, "/v1/chat/completions", ask(json!({"top_logprobs": 3}))).await;
    assert_eq!(status, 400, "top_logprobs needs logprobs");
}

#[tokio::test]
async fn completion_logprobs_and_echo() {
    let sim = start(config()).await;
    let (status, body) = call(
        &sim,
        "/v1/completions",
        json!({"prompt": "Hello, my name is", "echo": true, "logprobs": 1, "max_tokens": 5}),
    )
    .await;
    assert_eq!(status, 200);
    let choice = &body["choices"][0];
    let text = choice["text"].as_str().unwrap();
    assert!(text.starts_with("Hello, my name is "), "{text}");
    let lp = &choice["logprobs"];
    let tokens: Vec<&str> = lp["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(tokens.concat(), text);
    assert_eq!(tokens.len(), 5 + 5, "17 prompt characters are 5 pieces, then 5 answer tokens");
    assert!(lp["token_logprobs"][0].is_null());
    assert!(lp["top_logprobs"][0].is_null());
    for top in &lp["top_logprobs"].as_array().unwrap()[1..] {
        assert_eq!(top.as_object().unwrap().len(), 1);
    }
    let offsets: Vec<u64> = lp["text_offset"].as_array().unwrap().iter().map(|o| o.as_u64().unwrap()).collect();
    assert_eq!(offsets[..3], [0, 4, 8]);

    let (_, plain) = call(&sim, "/v1/completions", json!({"prompt": "Hello", "max_tokens": 3})).await;
    assert!(plain["choices"][0]["logprobs"].is_null());
    let (status, _) = call(&sim, "/v1/completions", json!({"prompt": "Hello", "logprobs": 21})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn response_format_json_object_and_schema() {
    let sim = start(config()).await;
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
        "required": ["answer"], "additionalProperties": false});
    let ask =
        |format: Value| json!({"messages": user("Is the sky blue?"), "response_format": format, "max_tokens": 64});

    let (status, body) = call(&sim, "/v1/chat/completions", ask(json!({"type": "json_object"}))).await;
    assert_eq!(status, 200);
    let parsed: Value = serde_json::from_str(body["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(parsed.is_object());

    let format = json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}});
    let (status, body) = call(&sim, "/v1/chat/completions", ask(format.clone())).await;
    assert_eq!(status, 200);
    let content = body["choices"][0]["message"]["content"].as_str().unwrap().to_string();
    assert_eq!(serde_json::from_str::<Value>(&content).unwrap(), json!({"answer": "yes"}));
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["completion_tokens"], content.chars().count().div_ceil(4) as u64);

    let mut streamed = ask(format);
    streamed["stream"] = json!(true);
    let evs = chunks(&events(&sim, "/v1/chat/completions", streamed, &[]).await);
    let pieces: Vec<&str> =
        evs.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).filter(|t| !t.is_empty()).collect();
    assert!(pieces.len() > 1, "the JSON is split across chunks");
    assert_eq!(pieces.concat(), content);

    for bad in [
        json!({"type": "json_schema"}),
        json!({"type": "sound"}),
        json!({"type": "json_schema", "json_schema": {"name": "broken", "schema": {"type": "hiccup"}}}),
        json!({"type": "json_schema", "json_schema": {"name": "broken", "schema": "not an object"}}),
    ] {
        let (status, err) = call(&sim, "/v1/chat/completions", ask(bad.clone())).await;
        assert_eq!(status, 400, "{bad}");
        assert!(err["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(err["error"]["code"], 400);
    }
}

#[tokio::test]
async fn batched_completion_prompts() {
    let sim = start(config()).await;
    let (status, body) = call(
        &sim,
        "/v1/completions",
        json!({"prompt": ["Hello, my name is", "Hello, my name is", "Other"], "max_tokens": 5, "n": 2}),
    )
    .await;
    assert_eq!(status, 200);
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 6);
    for (i, c) in choices.iter().enumerate() {
        assert_eq!(c["index"], i);
        assert!(!c["text"].as_str().unwrap().is_empty());
    }
    assert_eq!(choices[0]["text"], choices[2]["text"], "equal prompts, equal answers");
    assert_ne!(choices[0]["text"], choices[4]["text"]);
    // 1 + ceil(17 / 4) = 6, twice, and 1 + ceil(5 / 4) = 3.
    assert_eq!(body["usage"]["prompt_tokens"], 15);
    assert_eq!(body["usage"]["completion_tokens"], 30);
}

#[tokio::test]
async fn tokenize_and_logit_bias() {
    let sim = start(config()).await;
    let (status, body) = call(&sim, "/tokenize", json!({"prompt": "Hello, my name is"})).await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 6, "the same count as a completions prompt");
    assert_eq!(body["tokens"].as_array().unwrap().len(), 6);
    assert_eq!(body["tokens"][0], 2, "<bos>");
    assert_eq!(body["max_model_len"], config().max_model_len);
    let (_, bare) = call(&sim, "/tokenize", json!({"prompt": "6", "add_special_tokens": false})).await;
    assert_eq!(bare["count"], 1);
    let (_, chat) = call(&sim, "/tokenize", json!({"messages": user("Hello there")})).await;
    let (_, answered) =
        call(&sim, "/v1/chat/completions", json!({"messages": user("Hello there"), "max_tokens": 1})).await;
    assert_eq!(chat["count"], answered["usage"]["prompt_tokens"]);
    let (status, _) = call(&sim, "/tokenize", json!({"prompt": "x", "model": "nope"})).await;
    assert_eq!(status, 404);

    // Ban every word of an answer: none of them comes back.
    let ask = |bias: Value| json!({"prompt": "1, 2, 3, 4, 5,", "max_tokens": 8, "logit_bias": bias});
    let (_, free) = call(&sim, "/v1/completions", ask(json!({}))).await;
    let text = free["choices"][0]["text"].as_str().unwrap().to_string();
    let mut bias = serde_json::Map::new();
    for w in text.split_whitespace() {
        let w = w.trim_end_matches('.');
        let (_, ids) = call(&sim, "/tokenize", json!({"prompt": w, "add_special_tokens": false})).await;
        if ids["count"] == 1 {
            bias.insert(ids["tokens"][0].to_string(), json!(-100));
        }
    }
    assert!(!bias.is_empty());
    let banned_words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.trim_end_matches('.').to_string())
        .filter(|w| w.chars().count() <= 4)
        .collect();
    let (status, biased) = call(&sim, "/v1/completions", ask(Value::Object(bias))).await;
    assert_eq!(status, 200);
    let biased_text = biased["choices"][0]["text"].as_str().unwrap();
    for w in biased_text.split_whitespace() {
        assert!(!banned_words.contains(&w.trim_end_matches('.').to_string()), "{w} was banned: {biased_text}");
    }

    let chat_bias = |bias: Value| json!({"messages": user("Hello"), "max_tokens": 1, "logit_bias": bias});
    let (status, err) = call(&sim, "/v1/chat/completions", chat_bias(json!({"999999": 1}))).await;
    assert_eq!(status, 400);
    assert_error(
        &err,
        "BadRequestError",
        Value::Null,
        400,
        "[999999] in logit_bias contain out-of-vocab token ids. Vocabulary size: 262144",
    );
    let (status, err) = call(&sim, "/v1/chat/completions", chat_bias(json!({"not-a-token": 1}))).await;
    assert_eq!(status, 400);
    assert!(err["error"]["message"].as_str().unwrap().contains("not-a-token"));
    let (status, err) = call(&sim, "/v1/chat/completions", chat_bias(json!({"10": "high"}))).await;
    assert_eq!(status, 400);
    assert!(err["error"]["message"].as_str().unwrap().contains("logit_bias"));
}

#[tokio::test]
async fn seed_bounds_and_vocabulary_checks() {
    let sim = start(config()).await;
    let base = sim.base_url();
    let raw = |seed: &str| {
        let base = base.clone();
        let body =
            format!(r#"{{"messages": [{{"role": "user", "content": "Hello"}}], "seed": {seed}, "max_tokens": 1}}"#);
        async move {
            let resp = client()
                .post(format!("{base}/v1/chat/completions"))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("response");
            {
                let status = resp.status().as_u16();
                (status, serde_json::from_str::<Value>(&resp.text().await.expect("body")).expect("json"))
            }
        }
    };
    let (status, err) = raw("9223372036854775808").await;
    assert_eq!(status, 400);
    assert!(err["error"]["message"].as_str().unwrap().contains("less_than_equal"), "{err}");
    let (status, err) = raw("-9223372036854775809").await;
    assert_eq!(status, 400);
    assert!(err["error"]["message"].as_str().unwrap().contains("greater_than_equal"), "{err}");
    assert_eq!(raw("42").await.0, 200);

    let (status, err) = call(&sim, "/v1/completions", json!({"prompt": [999999], "max_tokens": 1})).await;
    assert_eq!(status, 400);
    assert_error(&err, "BadRequestError", Value::Null, 400, "Token id 999999 is out of vocabulary");
    for ids in [json!([999999]), json!([-1])] {
        let (status, _) = call(
            &sim,
            "/v1/chat/completions",
            json!({"messages": user("Hello"), "stop_token_ids": ids, "max_tokens": 1}),
        )
        .await;
        assert_eq!(status, 400);
    }
    let (status, _) =
        call(&sim, "/v1/chat/completions", json!({"messages": user("Hello"), "stop_token_ids": [5], "max_tokens": 1}))
            .await;
    assert_eq!(status, 200);
}

async fn get_with(sim: &SimHandle, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().get(format!("{}{path}", sim.base_url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("response")
}

#[tokio::test]
async fn an_api_key_guards_the_v1_routes_only() {
    let sim = start(SimConfig { api_key: Some("sk-right".into()), ..config() }).await;
    for path in ["/health", "/metrics", "/version", "/ping"] {
        assert_eq!(get_with(&sim, path, &[]).await.status(), 200, "{path} stays open");
    }
    let (status, _) = call(&sim, "/tokenize", json!({"prompt": "hi"})).await;
    assert_eq!(status, 200, "vLLM leaves /tokenize open");
    let anonymous = get_with(&sim, "/v1/models", &[]).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.text().await.expect("body"), r#"{"error":"Unauthorized"}"#);
    for wrong in ["Bearer sk-wrong", "sk-right", "Basic sk-right", "Bearer"] {
        assert_eq!(get_with(&sim, "/v1/models", &[("authorization", wrong)]).await.status(), 401, "{wrong}");
    }
    for right in ["Bearer sk-right", "bearer sk-right"] {
        assert_eq!(get_with(&sim, "/v1/models", &[("authorization", right)]).await.status(), 200, "{right}");
    }
    let (status, body) = call(&sim, "/v1/completions", json!({"prompt": "hi", "max_tokens": 1})).await;
    assert_eq!((status, body), (401, json!({"error": "Unauthorized"})));
    let (status, _) = call_with(
        &sim,
        "/v1/completions",
        json!({"prompt": "hi", "max_tokens": 1}),
        &[("authorization", "Bearer sk-right")],
    )
    .await;
    assert_eq!(status, 200);
    let preflight =
        client().request(reqwest::Method::OPTIONS, format!("{}/v1/models", sim.base_url())).send().await.expect("resp");
    assert_ne!(preflight.status(), 401, "CORS preflights pass, as in vLLM");

    let open = start(config()).await;
    assert_eq!(get_with(&open, "/v1/models", &[]).await.status(), 200, "no key, no guard");
}

#[tokio::test]
async fn the_request_id_names_the_answer_and_is_echoed_when_asked() {
    let sim = start(config()).await;
    let (_, chat) = call_with(
        &sim,
        "/v1/chat/completions",
        json!({"messages": user("hi"), "max_tokens": 2}),
        &[("x-request-id", "trace-42")],
    )
    .await;
    assert_eq!(chat["id"], "chatcmpl-trace-42");
    let (_, completion) =
        call_with(&sim, "/v1/completions", json!({"prompt": "hi", "max_tokens": 2}), &[("x-request-id", "trace-43")])
            .await;
    assert_eq!(completion["id"], "cmpl-trace-43");
    let streamed = events(
        &sim,
        "/v1/chat/completions",
        json!({"messages": user("hi"), "max_tokens": 2, "stream": true}),
        &[("x-request-id", "trace-44")],
    )
    .await;
    assert!(chunks(&streamed).iter().all(|c| c["id"] == "chatcmpl-trace-44"));
    let (_, unnamed) = call(&sim, "/v1/chat/completions", json!({"messages": user("hi"), "max_tokens": 2})).await;
    assert!(unnamed["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let plain = get_with(&sim, "/health", &[("x-request-id", "trace-45")]).await;
    assert!(plain.headers().get("x-request-id").is_none(), "vLLM echoes only with --enable-request-id-headers");

    let echoing = start(SimConfig { enable_request_id_headers: true, api_key: Some("k".into()), ..config() }).await;
    let echoed = get_with(&echoing, "/health", &[("x-request-id", "trace-46")]).await;
    assert_eq!(echoed.headers()["x-request-id"], "trace-46");
    let fresh = get_with(&echoing, "/health", &[]).await;
    let fresh = fresh.headers()["x-request-id"].to_str().unwrap().to_string();
    let other = get_with(&echoing, "/health", &[]).await;
    assert!(!fresh.is_empty() && fresh != other.headers()["x-request-id"], "a new id for each response");
    let refused = get_with(&echoing, "/v1/models", &[("x-request-id", "trace-47")]).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["x-request-id"], "trace-47", "a refused request keeps its id");
}

#[tokio::test]
async fn detokenize_gives_back_what_tokenize_was_shown() {
    let sim = start(config()).await;
    let sentence = "The quick brown fox jumps over the lazy dog.";
    let (_, ids) = call(&sim, "/tokenize", json!({"prompt": sentence, "add_special_tokens": false})).await;
    let (status, text) = call(&sim, "/detokenize", json!({"tokens": ids["tokens"], "model": "sim-model"})).await;
    assert_eq!(status, 200);
    assert_eq!(text, json!({"prompt": sentence}));
    let (_, with_bos) = call(&sim, "/tokenize", json!({"prompt": sentence})).await;
    let (_, text) = call(&sim, "/detokenize", json!({"tokens": with_bos["tokens"]})).await;
    assert_eq!(text["prompt"], format!("<bos>{sentence}"));
    let (_, chat) = call(&sim, "/tokenize", json!({"messages": user("Hello there")})).await;
    let (_, text) = call(&sim, "/detokenize", json!({"tokens": chat["tokens"]})).await;
    assert!(text["prompt"].as_str().unwrap().contains("<start_of_turn>"), "{text}");
    assert!(text["prompt"].as_str().unwrap().contains("Hello there"), "{text}");
    let (_, never_shown) = call(&sim, "/detokenize", json!({"tokens": [262_000]})).await;
    assert_eq!(never_shown["prompt"], "<unk>");
    let (_, empty) = call(&sim, "/detokenize", json!({"tokens": []})).await;
    assert_eq!(empty["prompt"], "");

    let (status, err) = call(&sim, "/detokenize", json!({"tokens": [-1]})).await;
    assert_eq!(status, 400);
    assert_error(&err, "Bad Request", json!("body.tokens.0"), 400, "greater than or equal to 0");
    let (status, err) = call(&sim, "/detokenize", json!({"tokens": [262_144]})).await;
    assert_eq!(status, 400);
    assert_error(&err, "BadRequestError", Value::Null, 400, "Token id 262144 is out of vocabulary");
    let (status, err) = call(&sim, "/detokenize", json!({"prompt": "x"})).await;
    assert_eq!(status, 400);
    assert_error(&err, "Bad Request", json!("body.tokens"), 400, "Field required");
    let (status, _) = call(&sim, "/detokenize", json!({"tokens": [2], "model": "nope"})).await;
    assert_eq!(status, 404);
}

/// The value of a Prometheus counter, over all its label sets.
async fn counter(sim: &SimHandle, name: &str) -> f64 {
    let text = get_with(sim, "/metrics", &[]).await.text().await.expect("metrics body");
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn token_counters_rise_with_every_answer() {
    let sim = start(config()).await;
    assert_eq!(counter(&sim, "vllm:generation_tokens_total").await, 0.0);
    let (_, one) = call(&sim, "/v1/completions", json!({"prompt": "Hello, my name is", "max_tokens": 5})).await;
    assert_eq!(counter(&sim, "vllm:generation_tokens_total").await, 5.0);
    assert_eq!(counter(&sim, "vllm:prompt_tokens_total").await, one["usage"]["prompt_tokens"].as_f64().unwrap());
    let (_, batch) =
        call(&sim, "/v1/completions", json!({"prompt": ["a", "b"], "n": 2, "max_tokens": 3, "temperature": 0.7})).await;
    assert_eq!(batch["usage"]["completion_tokens"], 12);
    assert_eq!(counter(&sim, "vllm:generation_tokens_total").await, 17.0);
    events(&sim, "/v1/chat/completions", json!({"messages": user("hi"), "max_tokens": 4, "stream": true}), &[]).await;
    assert_eq!(counter(&sim, "vllm:generation_tokens_total").await, 21.0);
    let (status, _) = call(&sim, "/v1/completions", json!({"prompt": [999_999], "max_tokens": 5})).await;
    assert_eq!(status, 400);
    assert_eq!(counter(&sim, "vllm:generation_tokens_total").await, 21.0, "a refused request generates nothing");
}

#[tokio::test]
async fn a_seed_steers_sampling_but_not_greedy_decoding() {
    let sim = start(config()).await;
    let answer = |temperature: f64, seed: Option<u64>| {
        let mut body = json!({"messages": user("Tell me a story."), "max_tokens": 8, "temperature": temperature});
        if let Some(seed) = seed {
            body["seed"] = json!(seed);
        }
        let sim = &sim;
        async move { call(sim, "/v1/chat/completions", body).await.1["choices"][0]["message"]["content"].clone() }
    };
    assert_ne!(answer(1.0, Some(1)).await, answer(1.0, Some(2)).await, "another seed, another sample");
    assert_eq!(answer(1.0, Some(1)).await, answer(1.0, Some(1)).await, "the same seed, the same sample");
    assert_eq!(answer(0.0, Some(1)).await, answer(0.0, Some(2)).await, "greedy decoding ignores the seed");
    assert_eq!(answer(0.0, None).await, answer(0.0, Some(3)).await);
    assert_eq!(answer(0.7, None).await, answer(0.7, None).await, "without a seed the simulator stays reproducible");
    let streamed = events(
        &sim,
        "/v1/chat/completions",
        json!({"messages": user("Tell me a story."), "max_tokens": 8, "temperature": 1.0, "seed": 2, "stream": true}),
        &[],
    )
    .await;
    assert_eq!(json!(assemble(&chunks(&streamed)).content), answer(1.0, Some(2)).await, "streamed or not");
}

/// A gauge of the simulator's `/metrics`, by name (its labels left out).
async fn gauge(sim: &SimHandle, name: &str) -> f64 {
    let text = client().get(format!("{}/metrics", sim.base_url())).send().await.expect("metrics").text().await;
    let text = text.expect("metrics body");
    let line = text.lines().find(|l| l.starts_with(name) && !l.starts_with('#')).expect("gauge");
    line.rsplit(' ').next().and_then(|n| n.parse().ok()).expect("a number")
}

#[tokio::test]
async fn beyond_its_capacity_requests_wait_in_the_gauges() {
    let sim = start(SimConfig { capacity: 2, ..config() }).await;
    let body = json!({"messages": user("x"), "stream": true});
    let mut open = vec![];
    for _ in 0..5 {
        open.push(send(&sim, "/v1/chat/completions", &body, &[("x-sim-fault", "stall")]).await.expect("headers"));
    }
    assert_eq!(gauge(&sim, "vllm:num_requests_running").await, 2.0);
    assert_eq!(gauge(&sim, "vllm:num_requests_waiting").await, 3.0);
    assert_eq!(gauge(&sim, "vllm:kv_cache_usage_perc").await, 1.0);
    drop(open);
    assert_eq!(settle(&sim).await, 0);
    assert_eq!(gauge(&sim, "vllm:num_requests_waiting").await, 0.0);
}

#[test]
fn crowding_slows_every_delay_in_proportion() {
    let headers = HeaderMap::new();
    let cfg =
        SimConfig { capacity: 8, ttft: Duration::from_millis(100), chunk_delay: Duration::from_millis(10), ..config() };
    let mut knobs = crate::knobs::Knobs::new(&cfg, &headers).expect("knobs");
    knobs.crowded(8);
    assert_eq!((knobs.ttft, knobs.chunk_delay), (Duration::from_millis(100), Duration::from_millis(10)), "at capacity");
    knobs.crowded(12);
    assert_eq!((knobs.ttft, knobs.chunk_delay), (Duration::from_millis(150), Duration::from_millis(15)));
    let mut header = HeaderMap::new();
    header.insert(crate::HEADER_CAPACITY, "3".parse().expect("value"));
    let mut knobs = crate::knobs::Knobs::new(&config(), &header).expect("knobs");
    knobs.ttft = Duration::from_millis(30);
    knobs.crowded(6);
    assert_eq!(knobs.ttft, Duration::from_millis(60), "x-sim-capacity sets it per request");
    let mut unlimited =
        crate::knobs::Knobs::new(&SimConfig { ttft: Duration::from_millis(30), ..config() }, &headers).expect("knobs");
    unlimited.crowded(1000);
    assert_eq!(unlimited.ttft, Duration::from_millis(30), "no capacity, no slowdown");
}
