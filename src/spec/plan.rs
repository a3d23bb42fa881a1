//! The checked spec: everything parsed, compiled and resolved, ready to run.

use super::diag::Source;
use super::yaml::Loc;
use crate::expect::threshold::Threshold;
use crate::expect::{ExpectPlan, JsonQuery};
pub use crate::spec::model::Arrival;
use regex::Regex;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Plan {
    pub suites: Vec<SuitePlan>,
    /// Values never to be printed (secrets and the values of secret headers).
    pub secrets: Vec<String>,
}

#[derive(Debug)]
pub struct SuitePlan {
    pub name: String,
    pub description: Option<String>,
    pub source: Arc<Source>,
    pub tests: Vec<Arc<TestPlan>>,
}

#[derive(Debug)]
pub struct TestPlan {
    pub name: String,
    pub loc: Loc,
    pub tags: Vec<String>,
    pub skip: Option<String>,
    pub request: RequestPlan,
    pub expect: ExpectPlan,
    pub captures: Vec<CapturePlan>,
    /// Many requests instead of one (`repeat` or `load`).
    pub load: Option<LoadPlan>,
    pub thresholds: Vec<Threshold>,
}

#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub stop: Stop,
    /// Requests in flight at once: the closed loop's workers, or the open loop's cap.
    pub concurrency: Option<usize>,
    /// Requests started per second (open loop).
    pub rate: Option<f64>,
    pub arrival: Arrival,
    pub warmup: u64,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    Requests(u64),
    Duration(Duration),
}

#[derive(Debug, Clone)]
pub struct RequestPlan {
    pub method: reqwest::Method,
    /// May still hold `${capture}` references, resolved when the request is sent.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub timeout: Duration,
    /// Lower-case names of headers whose values are never printed.
    pub secret_headers: Vec<String>,
    /// The spec asked for a streamed answer (`stream: true`).
    pub stream: bool,
    /// Longest silence allowed between two chunks of a streamed answer.
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(serde_json::Value),
    Raw(String),
}

#[derive(Debug)]
pub struct CapturePlan {
    pub name: String,
    pub loc: Loc,
    pub from: CaptureSource,
}

#[derive(Debug)]
pub enum CaptureSource {
    Json(JsonQuery),
    Header(String),
    Regex(Regex),
}
