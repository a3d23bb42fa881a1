//! llmspec's spec runner: declarative YAML test specs for OpenAI-compatible LLM servers.
//!
//! Data flows one way: `spec` (files → checked plan) → `run` (plan → events) → `report`
//! (events → console, JUnit, JSON, HTML, plots). `merge` is the other source of events: the
//! `--json` results of a run's shards, added up. `expect` judges what `run` observed. The command line
//! and the simulator live in their own crates, so this one never depends on a server framework.

pub mod exit;
pub(crate) mod expect;
pub(crate) mod expr;
pub mod merge;
pub mod metrics;
pub(crate) mod observed;
pub mod redact;
pub mod report;
pub mod run;
pub mod spec;

/// The editor schema of spec files (`llmspec schema`), generated from the spec types.
pub use spec::schema;

/// The shared vocabulary, a crate of its own so that it can import nothing of ours.
pub use llmspec_vocab as vocab;
