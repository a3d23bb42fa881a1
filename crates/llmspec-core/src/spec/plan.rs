//! The checked spec: everything parsed, compiled and resolved, ready to run.

use super::diag::Source;
use super::yaml::Loc;
use crate::expect::judge::JudgePlan;
use crate::expect::threshold::Threshold;
use crate::expect::{ExpectPlan, JsonQuery};
pub use crate::metrics::catalog::SweepAxis;
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

impl Plan {
    /// A digest of what the run was asked to do: every suite's text and variables (a secret's
    /// value left out). Shards that report different digests ran different specs.
    pub fn digest(&self) -> String {
        let mut text = String::new();
        for suite in &self.suites {
            text.push_str(&suite.source.text);
            for (name, value) in &suite.vars {
                // A secret is looked for in the text itself, not in its JSON spelling, where
                // quotes and backslashes would be escaped.
                let raw = value.as_str().map_or_else(|| value.to_string(), str::to_string);
                let secret = self.secrets.iter().any(|s| !s.is_empty() && raw.contains(s.as_str()));
                text.push_str(&format!("\u{0}{name}={}", if secret { "(secret)" } else { &raw }));
            }
            text.push('\u{0}');
        }
        format!("{:016x}", crate::vocab::random::fnv1a(text.as_bytes()))
    }
}

#[derive(Debug)]
pub struct SuitePlan {
    pub name: String,
    pub description: Option<String>,
    pub source: Arc<Source>,
    pub tests: Vec<Arc<TestPlan>>,
    /// How this suite's requests verify servers and identify the client.
    pub tls: TlsOptions,
    /// The suite's variables after the command line's, for expressions (`vars.name`).
    pub vars: serde_json::Map<String, serde_json::Value>,
}

/// How the client verifies servers and proves who it is. The default verifies against the
/// system's roots and sends no client certificate. Set by `defaults.tls` and the command line
/// (which wins, field by field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsOptions {
    /// PEM file of the CA certificates to trust instead of the system's (`--cacert`).
    pub cacert: Option<std::path::PathBuf>,
    /// PEM file of the client certificate for mutual TLS (`--cert`); it may hold the key too.
    pub cert: Option<std::path::PathBuf>,
    /// PEM file of the client certificate's private key (`--key`).
    pub key: Option<std::path::PathBuf>,
    /// Accept any server certificate (`--insecure`).
    pub insecure: bool,
}

impl TlsOptions {
    /// The command line's settings over a suite's.
    pub fn over(&self, suite: &TlsOptions) -> TlsOptions {
        TlsOptions {
            cacert: self.cacert.clone().or_else(|| suite.cacert.clone()),
            cert: self.cert.clone().or_else(|| suite.cert.clone()),
            key: self.key.clone().or_else(|| suite.key.clone()),
            insecure: self.insecure || suite.insecure,
        }
    }
}

#[derive(Debug)]
pub struct TestPlan {
    pub name: String,
    /// The variables of this instance of a `matrix` or `data` test, which expressions read like
    /// the suite's (and before them).
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub loc: Loc,
    pub tags: Vec<String>,
    pub skip: Option<String>,
    /// Conditions checked just before the test runs; one that does not hold skips it.
    pub require: Vec<crate::expr::Expression>,
    pub advisory: bool,
    /// The request and its expectations (absent for a test made of steps).
    pub exchange: Option<Exchange>,
    pub steps: Vec<StepPlan>,
    pub captures: Vec<CapturePlan>,
    /// Many requests instead of one (`repeat`, `load` or `soak`).
    pub load: Option<LoadPlan>,
    pub samples: Vec<SamplePlan>,
    pub thresholds: Vec<Threshold>,
    /// Rubric questions put to a chat model about the answer (`expect.judge`).
    pub judges: Vec<JudgePlan>,
}

/// A request and what its answer must satisfy.
#[derive(Debug)]
pub struct Exchange {
    pub loc: Loc,
    pub request: RequestPlan,
    pub expect: ExpectPlan,
}

#[derive(Debug)]
pub struct StepPlan {
    pub loc: Loc,
    pub kind: StepKind,
    /// Records the step's duration (or a background process's pid) under this name.
    pub as_name: Option<String>,
}

#[derive(Debug)]
pub enum StepKind {
    /// May hold `${...}` references to earlier captures and steps.
    Exec {
        command: Vec<String>,
        background: bool,
        timeout: Duration,
        expect_exit: i64,
    },
    Sleep(Duration),
    WaitUntil {
        exchange: Exchange,
        timeout: Duration,
        every: Duration,
        from: Option<String>,
    },
}

#[derive(Debug)]
pub struct SamplePlan {
    pub name: String,
    pub loc: Loc,
    pub source: SampleSource,
    pub every: Duration,
    pub scale: f64,
}

#[derive(Debug)]
pub enum SampleSource {
    /// The URL may hold `${...}` references.
    Prometheus {
        url: String,
        metric: String,
        labels: std::collections::BTreeMap<String, String>,
    },
    /// The pid may hold `${...}` references.
    Process {
        pid: Option<String>,
        name: Option<String>,
    },
    Command(Vec<String>),
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
    /// Closed loops: the workers start one after another over this span, which is not
    /// measured; the stop's duration counts after it.
    pub ramp: Duration,
    pub seed: u64,
    /// Soak runs: cut the aggregates into windows of this length (default: a sixth).
    pub window: Option<Duration>,
    /// Soak runs: samples before this are left out of slopes (default: one window).
    pub fit_after: Option<Duration>,
    pub soak: bool,
    /// The rows requests are drawn from (`load.dataset`).
    pub dataset: Option<Arc<DatasetPlan>>,
    /// Which of the requests this process sends (all, unless the run is sharded).
    pub share: Share,
    /// A capacity search: the load is run once per step, each step with its own load value
    /// and `stop`; `concurrency` or `rate` above are replaced by the step's.
    pub sweep: Option<SweepPlan>,
}

/// Which of a load's requests this process sends: request `first`, then every `step`-th. One
/// process sends them all; shard k of n sends k-1, k-1+n, ..., so the shards together send
/// exactly the unsharded requests under the same indexes (warm-up, dataset rows, examples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub first: u64,
    pub step: u64,
}

impl Share {
    pub const ALL: Share = Share { first: 0, step: 1 };

    /// The index of this process's `i`-th request.
    pub fn nth(self, i: u64) -> u64 {
        self.first.saturating_add(self.step.max(1).saturating_mul(i))
    }

    /// How many of `requests` are this process's.
    pub fn count(self, requests: u64) -> u64 {
        requests.saturating_sub(self.first).div_ceil(self.step.max(1))
    }

    /// The indexes this process sends of a load that stops after a count (none for a duration).
    pub fn indexes(self, stop: Stop) -> impl Iterator<Item = u64> {
        let n = match stop {
            Stop::Requests(n) => self.count(n),
            Stop::Duration(_) => 0,
        };
        (0..n).map(move |i| self.nth(i))
    }
}

#[derive(Debug, Clone)]
pub struct SweepPlan {
    pub axis: SweepAxis,
    /// The load of each step, rising; whole numbers for concurrency.
    pub levels: Vec<f64>,
    /// How long each step lasts (its warm-up included).
    pub step: Stop,
}

impl LoadPlan {
    /// The most requests in flight at once (each holds a connection), over every step of a
    /// sweep; `None` for an open loop without a cap, whose answers alone decide it.
    pub fn most_in_flight(&self) -> Option<u64> {
        match &self.sweep {
            Some(sweep) if sweep.axis == SweepAxis::Concurrency => {
                sweep.levels.iter().copied().reduce(f64::max).map(|c| c as u64)
            }
            _ => self.concurrency.map(|c| c as u64),
        }
    }

    /// The plan of one step of a sweep: the step's load in place of the sweep's.
    pub fn at_step(&self, sweep: &SweepPlan, level: f64) -> LoadPlan {
        let (concurrency, rate) = match sweep.axis {
            SweepAxis::Concurrency => (Some(level as usize), None),
            SweepAxis::Rate => (self.concurrency, Some(level)),
        };
        LoadPlan { stop: sweep.step, concurrency, rate, sweep: None, ..self.clone() }
    }
}

/// The rows a load test draws its requests from, checked against its request.
#[derive(Debug)]
pub struct DatasetPlan {
    pub rows: Arc<super::dataset::Rows>,
    /// Indexes into `rows`, in the order they are drawn; drawing starts again at the first
    /// when they run out.
    pub order: Vec<u32>,
    /// Each row is a conversation: its `turns` are sent one after the other by one worker,
    /// with the answers so far in `messages`.
    pub conversations: bool,
}

impl TestPlan {
    /// Names this test takes from earlier tests (`${name}` in what it sends or runs).
    pub fn references(&self) -> std::collections::BTreeSet<String> {
        let mut texts: Vec<&str> = vec![];
        let mut json: Vec<&serde_json::Value> = vec![];
        let requests =
            self.exchange.iter().map(|e| &e.request).chain(self.steps.iter().filter_map(|s| match &s.kind {
                StepKind::WaitUntil { exchange, .. } => Some(&exchange.request),
                _ => None,
            }));
        for r in requests {
            texts.push(&r.url);
            texts.extend(r.headers.iter().map(|(_, v)| v.as_str()));
            match &r.body {
                Body::Json(v) => json.push(v),
                Body::Raw(t) => texts.push(t),
                Body::None => {}
            }
        }
        for s in &self.steps {
            if let StepKind::Exec { command, .. } = &s.kind {
                texts.extend(command.iter().map(String::as_str));
            }
        }
        for s in &self.samples {
            match &s.source {
                SampleSource::Prometheus { url, .. } => texts.push(url),
                SampleSource::Process { pid: Some(p), .. } => texts.push(p),
                _ => {}
            }
        }
        let mut names: std::collections::BTreeSet<String> =
            self.expressions().flat_map(|e| e.reads.iter().chain(&e.tests).cloned()).collect();
        let mut add = |t: &str| {
            for seg in crate::spec::interp::parse(t).unwrap_or_default() {
                if let crate::spec::interp::Segment::Ref { name, env: false, .. } = seg {
                    names.insert(name);
                }
            }
        };
        texts.into_iter().for_each(&mut add);
        let mut stack = json;
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::String(s) => add(s),
                serde_json::Value::Array(items) => stack.extend(items),
                serde_json::Value::Object(map) => {
                    map.keys().for_each(|k| add(k));
                    stack.extend(map.values());
                }
                _ => {}
            }
        }
        names
    }

    /// Names this test makes available to later ones: its captures and its steps' `as` names.
    pub fn provides(&self) -> impl Iterator<Item = &str> {
        let own_record = std::iter::once(self.name.as_str());
        self.captures
            .iter()
            .map(|c| c.name.as_str())
            .chain(self.steps.iter().filter_map(|s| s.as_name.as_deref()))
            .chain(own_record)
    }

    /// Every expression of the test: conditions, `expect.that`, computed captures and
    /// threshold conditions.
    pub fn expressions(&self) -> impl Iterator<Item = &crate::expr::Expression> {
        let waited = self.steps.iter().filter_map(|s| match &s.kind {
            StepKind::WaitUntil { exchange, .. } => Some(exchange),
            _ => None,
        });
        let that = self.exchange.iter().chain(waited).flat_map(|e| e.expect.that.iter());
        let captures = self.captures.iter().filter_map(|c| match &c.from {
            CaptureSource::Expr(e) => Some(e),
            _ => None,
        });
        let thresholds = self.thresholds.iter().filter_map(|t| t.condition());
        self.require.iter().chain(that).chain(captures).chain(thresholds)
    }
}

impl LoadPlan {
    /// One request; the base the other shapes are written from.
    pub fn once() -> LoadPlan {
        LoadPlan {
            stop: Stop::Requests(1),
            concurrency: Some(1),
            rate: None,
            arrival: Arrival::Constant,
            warmup: 0,
            ramp: Duration::ZERO,
            seed: 1,
            window: None,
            fit_after: None,
            soak: false,
            dataset: None,
            share: Share::ALL,
            sweep: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    Requests(u64),
    Duration(Duration),
}

impl Stop {
    /// The same stop for a load that first spends `ramp` ramping up: a duration counts after
    /// it, a number of requests includes those sent during it.
    pub fn after(self, ramp: Duration) -> Stop {
        match self {
            Stop::Duration(d) => Stop::Duration(d.saturating_add(ramp)),
            requests => requests,
        }
    }
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
    pub default: Option<serde_json::Value>,
}

#[derive(Debug)]
pub enum CaptureSource {
    Json(JsonQuery),
    /// Computed from the response by an expression.
    Expr(crate::expr::Expression),
    Header(String),
    Regex(Regex),
}
