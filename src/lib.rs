//! llmspec: declarative YAML test specs for OpenAI-compatible LLM servers.
//!
//! Data flows one way: `spec` (files → checked plan) → `run` (plan → events) → `report`
//! (events → console, JUnit). `expect` judges what `run` observed; `sim` is a built-in server
//! to test against.

pub mod cli;
pub(crate) mod exit;
pub(crate) mod expect;
pub mod metrics;
pub(crate) mod observed;
pub(crate) mod redact;
pub(crate) mod report;
pub mod run;
pub(crate) mod schema;
pub mod sim;
pub mod spec;
pub mod vocab;
