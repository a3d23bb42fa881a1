//! A deterministic OpenAI-compatible server that behaves like vLLM 0.32, for tests and
//! benchmarks that must not depend on a real model.
//!
//! Routes: `GET /health`, `GET /ping`, `GET /version`, `GET /v1/models`,
//! `POST /v1/chat/completions`, `POST /v1/completions`, `POST /tokenize`, `POST /detokenize`.
//! Unknown routes and methods get FastAPI's `{"detail": …}` bodies, like vLLM.
//!
//! Per-request headers override the configuration: `x-sim-latency`, `x-sim-ttft`,
//! `x-sim-chunk-delay` (durations such as `250ms`, at most 1h), `x-sim-tokens-per-chunk`,
//! `x-sim-output-tokens` (whole numbers ≥ 1), and `x-sim-fault` (see [`Fault`]).
//! The token arithmetic is documented in `text.rs`, the tool-call rules in `tools.rs`,
//! logprobs, `logit_bias` and `response_format` in `options.rs`, the simulated judge (a
//! `json_schema` with a `verdict` property) in `judge.rs`.

mod answer;
mod app;
mod chat;
mod completions;
mod config;
mod conn;
mod errors;
mod fault;
mod gate;
mod jsonfmt;
mod judge;
mod knobs;
mod options;
mod request;
mod respond;
mod server;
mod spliced;
mod stream;
mod text;
mod tokenize;
mod tools;

#[cfg(test)]
mod tests;

pub use config::SimConfig;
pub use fault::{Fault, HEADER_FAULT};
pub use knobs::{
    HEADER_CAPACITY, HEADER_CHUNK_DELAY, HEADER_LATENCY, HEADER_OUTPUT_TOKENS, HEADER_TOKENS_PER_CHUNK, HEADER_TTFT,
};
pub use server::{SimHandle, listen, run_blocking, serve, spawn};
