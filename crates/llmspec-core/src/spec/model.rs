//! The spec language as Rust types: what a suite file may contain.
//!
//! These types are decoded from YAML and also generate `schemas/llmspec.schema.json`, so the
//! doc comments below are what an editor shows while a spec is being written.

use super::de::Spanned;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

mod judge;
pub use judge::{JudgeSpec, Judges};

/// One spec file: a suite of tests that run in order against one server.
#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
#[schemars(title = "llmspec suite")]
// `vars`, `secrets` and `tests` are read from the located tree (interpolation needs positions,
// tests are decoded one by one); they are declared here for the schema and the unknown-key check.
#[allow(dead_code)]
pub struct SuiteFile {
    /// The suite's name; JUnit shows it as the class name of every test.
    pub suite: Spanned<String>,
    /// What the suite checks, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Variables for `${name}` references. Values may themselves use `${env.NAME:-default}`.
    /// `--var name=value` on the command line overrides them.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Like `vars`, but their values are replaced by `***` in every report and log.
    #[serde(default)]
    pub secrets: BTreeMap<String, serde_json::Value>,
    /// Settings shared by every test of the suite.
    #[serde(default)]
    pub defaults: Defaults,
    /// The tests, run in the order written.
    #[schemars(length(min = 1))]
    pub tests: Vec<Test>,
}

#[derive(Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Prefix of every request path, e.g. `http://localhost:8000`. `--base-url` overrides it.
    #[serde(default)]
    pub base_url: Option<Spanned<String>>,
    /// Time allowed for each request, e.g. `60s` (default 60s). `--timeout` overrides it.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::PositiveDuration>")]
    pub timeout: Option<Spanned<String>>,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Header names whose values are never printed. Authorization, Proxy-Authorization,
    /// Cookie, X-Api-Key and Api-Key are always secret.
    #[serde(default)]
    pub secret_headers: Vec<String>,
    /// TLS for this suite's requests; `--cacert`, `--cert`, `--key` and `--insecure` win.
    #[serde(default)]
    pub tls: Option<Tls>,
}

/// TLS settings of a suite. Paths are relative to the spec file.
#[derive(Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM file of the CA certificates to trust instead of the system's.
    #[serde(default)]
    pub cacert: Option<Spanned<String>>,
    /// PEM file of the client certificate, for mutual TLS (it may hold the key too).
    #[serde(default)]
    pub cert: Option<Spanned<String>>,
    /// PEM file of the client certificate's private key.
    #[serde(default)]
    pub key: Option<Spanned<String>>,
    /// Accept any server certificate. Only for test deployments: a warning is printed.
    #[serde(default)]
    pub insecure: bool,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::spec::schema::rules::test)]
// `description` is for people and the schema; the runner has nothing to do with it.
#[allow(dead_code)]
pub struct Test {
    /// Unique within the suite; the JUnit test name.
    pub name: Spanned<String>,
    /// Labels for `--tag` selection, e.g. `[critical, quick]`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// What the test checks, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Report the test as skipped, with this reason, instead of running it.
    #[serde(default)]
    pub skip: Option<String>,
    /// Run only when these conditions (CEL, docs/expressions.md) hold, else report the test as
    /// skipped with the reason, e.g. `window > 70000` with `window` a capture. Evaluated just
    /// before the test runs.
    #[serde(default)]
    #[schemars(with = "Vec<crate::spec::schema::fields::Expression>")]
    pub require: Vec<Spanned<String>>,
    /// `true`: expectations that do not hold are reported as warnings (console `WARN`, JUnit
    /// property `advisory` and `<system-err>`) and never fail the run.
    #[serde(default)]
    pub advisory: Option<bool>,
    /// Send the request this many times, one after the other; every answer is checked and
    /// the measurements are aggregated (for `thresholds`).
    #[serde(default)]
    #[schemars(range(min = 1, max = super::limits::MAX_REQUESTS))]
    pub repeat: Option<Spanned<u64>>,
    /// Send the request many times, concurrently or at a rate; every answer is checked and the
    /// measurements are aggregated (for `thresholds`).
    #[serde(default)]
    pub load: Option<Spanned<Load>>,
    /// Keep sending the request for a long time, cut into time windows, while sampling the
    /// server (`sample`). For stability and leak tests.
    #[serde(default)]
    pub soak: Option<Spanned<Soak>>,
    /// Series sampled from the server while the test runs (with `soak` or `load`).
    #[serde(default)]
    pub sample: BTreeMap<String, Spanned<SampleSource>>,
    /// Lifecycle steps run in order instead of a request: `exec`, `sleep`, `wait_until`.
    #[serde(default)]
    pub steps: Vec<Spanned<Step>>,
    /// The HTTP request to send (not with `steps`).
    #[serde(default)]
    pub request: Option<Spanned<Request>>,
    /// What the response must satisfy. Every check is evaluated and reported.
    #[serde(default)]
    pub expect: Expect,
    /// Values taken from the response for later tests of the suite, used as `${name}`.
    #[serde(default)]
    pub capture: BTreeMap<String, Spanned<Capture>>,
    /// Run the test once per combination of these variables' values (in the order written),
    /// each available as `${name}`: `{ model: [a, b], temperature: [0, 0.7] }`. Each instance
    /// is its own test, named from its values: `chat [model=a, temperature=0]`.
    // Read from the located tree before the test is decoded; declared for the schema.
    #[serde(default)]
    pub matrix: Option<OrderedMap<Vec<serde_json::Value>>>,
    /// Run the test once per row, the row's fields available as `${name}`: a data file
    /// relative to the spec (`.jsonl`, `.csv` with a header row, `.yaml`/`.json` holding a
    /// list of mappings), `{ file, name: <field naming each instance> }`, or a list of rows.
    #[serde(default)]
    pub data: Option<DataSource>,
}

/// Where the rows of a data-driven test come from.
#[derive(Deserialize, JsonSchema, Debug)]
#[serde(untagged)]
// Read from the located tree (rows become variables before the test is decoded); declared for
// the schema.
#[allow(dead_code)]
pub enum DataSource {
    /// A data file, relative to the spec file.
    File(String),
    /// A data file and the field that names each instance (by default `name`, then `id`,
    /// then the row number).
    Named(DataFile),
    /// Rows written in the spec.
    Rows(Vec<BTreeMap<String, serde_json::Value>>),
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct DataFile {
    /// `.jsonl`, `.csv` (with a header row), `.yaml`, `.yml` or `.json`, relative to the spec.
    pub file: String,
    /// The field whose value names each instance: `chat [<value>]`.
    #[serde(default)]
    pub name: Option<String>,
}

/// Exactly one of the method keys, whose value is a path (joined to `base_url`) or a full URL.
#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::spec::schema::rules::request)]
pub struct Request {
    /// Send a GET request to this path (joined to `base_url`) or full URL, e.g. `GET: /v1/models`.
    #[serde(rename = "GET", default)]
    pub get: Option<Spanned<String>>,
    /// Send a POST request to this path (joined to `base_url`) or full URL, e.g. `POST: /v1/chat/completions`.
    #[serde(rename = "POST", default)]
    pub post: Option<Spanned<String>>,
    /// Send a PUT request to this path (joined to `base_url`) or full URL.
    #[serde(rename = "PUT", default)]
    pub put: Option<Spanned<String>>,
    /// Send a PATCH request to this path (joined to `base_url`) or full URL.
    #[serde(rename = "PATCH", default)]
    pub patch: Option<Spanned<String>>,
    /// Send a DELETE request to this path (joined to `base_url`) or full URL.
    #[serde(rename = "DELETE", default)]
    pub delete: Option<Spanned<String>>,
    /// Send a HEAD request (headers only, no body) to this path (joined to `base_url`) or full URL.
    #[serde(rename = "HEAD", default)]
    pub head: Option<Spanned<String>>,
    /// Send an OPTIONS request to this path (joined to `base_url`) or full URL.
    #[serde(rename = "OPTIONS", default)]
    pub options: Option<Spanned<String>>,
    /// Request headers, added to (and overriding) the suite's default headers. `null` removes
    /// a default header from this request; `""` sends it empty.
    #[serde(default)]
    pub headers: BTreeMap<String, Option<String>>,
    /// A JSON body, written as YAML. Sets `Content-Type: application/json` unless given.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::JsonBody>")]
    pub json: Option<serde_json::Value>,
    /// A raw body, sent as written (for malformed-JSON tests, for example).
    #[serde(default)]
    pub body: Option<String>,
    /// Time allowed for this request, overriding the suite default.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::PositiveDuration>")]
    pub timeout: Option<Spanned<String>>,
    /// `true`: ask for a streamed answer (adds `"stream": true` and
    /// `"stream_options": {"include_usage": true}` to the JSON body unless present) and read it
    /// as server-sent events, timing every chunk.
    #[serde(default)]
    pub stream: Option<bool>,
    /// With `stream: true`: `false` leaves `stream_options.include_usage` out of the body.
    #[serde(default)]
    pub include_usage: Option<bool>,
    /// With a streamed answer: the longest silence allowed between two chunks (default 30s).
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::PositiveDuration>")]
    pub idle_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The expected HTTP status: one code, or a list of accepted codes.
    #[serde(default)]
    pub status: Option<Spanned<Status>>,
    /// Response headers (names are case-insensitive) and what their values must satisfy.
    #[serde(default)]
    pub headers: OrderedMap<Spanned<Predicate>>,
    /// JSONPath (RFC 9535) queries on the response body and what their results must satisfy.
    #[serde(default)]
    #[schemars(with = "crate::spec::schema::fields::JsonChecks")]
    pub json: OrderedMap<Spanned<Predicate>>,
    /// What the raw response body text must satisfy, e.g. `{ matches: "(?i)paris" }`.
    #[serde(default)]
    pub body: Option<Spanned<Predicate>>,
    /// A bound on the whole request's duration, e.g. `< 5s`.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::DurationBound>")]
    pub latency: Option<Spanned<String>>,
    /// Bounds on per-request metrics (see docs/metrics.md): `ttfb`, `ttft`, `e2e`, `latency`,
    /// `tpot`, `max_gap`, `mean_gap`, `output_tokens`, `tokens_per_second`, `chunks`.
    #[serde(default)]
    #[schemars(with = "crate::spec::schema::fields::MetricBounds")]
    pub metrics: OrderedMap<Spanned<String>>,
    /// Properties of a streamed answer.
    #[serde(default)]
    pub stream: Option<Spanned<StreamExpect>>,
    /// JSONPath checks on the list of streamed events (each event's JSON; `[DONE]` excluded).
    #[serde(default)]
    #[schemars(with = "crate::spec::schema::fields::JsonChecks")]
    pub events: OrderedMap<Spanned<Predicate>>,
    /// The answer must call a tool (streamed or not).
    #[serde(default)]
    pub tool_call: Option<Spanned<ToolCallExpect>>,
    /// `true`: the answer must call no tool.
    #[serde(default)]
    pub no_tool_call: Option<Spanned<bool>>,
    /// JSON Schema checks on values of the answer.
    #[serde(default)]
    pub schema: Vec<Spanned<SchemaExpect>>,
    /// Conditions in CEL that must be true (docs/expressions.md), e.g.
    /// `response.body.usage.total_tokens == response.body.usage.prompt_tokens + response.body.usage.completion_tokens`.
    #[serde(default)]
    #[schemars(with = "Vec<crate::spec::schema::fields::Expression>")]
    pub that: Vec<Spanned<String>>,
    /// Bounds on the aggregate of all the test's requests, each reported as its own JUnit
    /// test case: `p99(latency) < 5s`, `mean(tokens_per_second) > 50`, `error_rate < 0.1%`.
    /// Grammar in docs/thresholds.md.
    #[serde(default)]
    #[schemars(with = "Vec<crate::spec::schema::fields::Threshold>")]
    pub thresholds: Vec<Spanned<String>>,
    /// Rubric questions put to a chat model about the answer, with its verdict and reasoning in
    /// the report. Advisory unless `strict: true`. See docs/specs.md.
    #[serde(default)]
    pub judge: Option<Spanned<Judges>>,
}

#[derive(Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct StreamExpect {
    /// `true`: the stream ended with `data: [DONE]`. Without this key a missing `[DONE]` is an
    /// error verdict.
    #[serde(default)]
    pub done: Option<bool>,
    /// Bound on the number of events (`[DONE]` excluded), e.g. `">= 2"`.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::NumberBound>")]
    pub chunks: Option<Spanned<String>>,
    /// Bound on the largest gap between chunks carrying output, e.g. `< 1s`.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::DurationBound>")]
    pub max_gap: Option<Spanned<String>>,
    /// `true`: a chunk carrying `usage` arrived; `false`: none did.
    #[serde(default)]
    pub usage: Option<bool>,
    /// On the `error` object sent inside the stream. Without this key such an event is an
    /// error verdict.
    #[serde(default)]
    pub error: Option<Spanned<Predicate>>,
    /// `true`: every choice received exactly one `finish_reason`.
    #[serde(default)]
    pub one_finish_reason: Option<bool>,
}

/// Checks on a tool call of the first choice (`choices[0].message.tool_calls`). With several
/// calls, `select` or `index` says which are judged.
#[derive(Deserialize, JsonSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::spec::schema::rules::tool_call_expect)]
pub struct ToolCallExpect {
    /// The function that must be called (any function when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Which calls are judged: `first` (default), the first call of `name` (the first call
    /// when `name` is absent), the others ignored; `any`, at least one call of `name` must pass;
    /// `all`, every call must be a call of `name` and pass.
    #[serde(default)]
    pub select: Option<ToolSelect>,
    /// Judge the call at this position instead (0 is the first), which must be a call of
    /// `name` when `name` is given.
    #[serde(default)]
    pub index: Option<Spanned<u64>>,
    /// `true`: the arguments must validate against the JSON Schema in the request's
    /// `tools[].function.parameters` for that function.
    #[serde(default)]
    pub arguments_match_schema: Option<bool>,
    /// JSONPath checks on the parsed arguments, e.g. `$.city: { matches: "(?i)paris" }`.
    #[serde(default)]
    #[schemars(with = "crate::spec::schema::fields::JsonChecks")]
    pub arguments: OrderedMap<Spanned<Predicate>>,
}

/// Which tool calls a `tool_call` check judges.
#[derive(Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ToolSelect {
    First,
    Any,
    All,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::spec::schema::rules::schema_expect)]
pub struct SchemaExpect {
    /// JSONPath of the value to check (default `$`, the whole body).
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::JsonPath>")]
    pub at: Option<Spanned<String>>,
    /// `true`: the value is a string holding JSON (e.g. `message.content` under
    /// `response_format`); it is parsed before validation.
    #[serde(default)]
    pub parse: Option<bool>,
    /// The JSON Schema, inline.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::InlineSchema>")]
    pub schema: Option<serde_json::Value>,
    /// Or a JSON (or YAML) schema file, relative to this spec file.
    #[serde(default)]
    pub file: Option<Spanned<String>>,
}

/// How many requests, how many at once, at what pace. A load always ends by itself: give
/// `requests` or `duration`.
#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::spec::schema::rules::load)]
pub struct Load {
    /// Send this many requests (warm-up included).
    #[serde(default)]
    #[schemars(range(min = 1, max = super::limits::MAX_REQUESTS))]
    pub requests: Option<u64>,
    /// Or keep sending for this long, e.g. `2m`.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::PositiveDuration>")]
    pub duration: Option<Spanned<String>>,
    /// Requests in flight at once. Alone: a closed loop (each worker sends its next request
    /// when the previous one is answered). With `rate`: a cap on the open loop.
    #[serde(default)]
    #[schemars(range(min = 1, max = super::limits::MAX_CONCURRENCY))]
    pub concurrency: Option<u64>,
    /// Requests started per unit of time, whatever the answers do (open loop): `5/s`, `120/m`.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::Rate>")]
    pub rate: Option<Spanned<String>>,
    /// Spacing of the starts with `rate`: `constant` (default) or `poisson` (random, seeded).
    #[serde(default)]
    pub arrival: Option<Arrival>,
    /// The first requests warm the server up and are left out of the aggregates.
    #[serde(default)]
    pub warmup: Option<u64>,
    /// Closed loops: start the workers one after another over this span (`10s`), so that
    /// their connections open gradually instead of all at once. Requests that start during
    /// the ramp are sent and judged, not measured; `duration` counts after it.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::PositiveDuration>")]
    pub ramp: Option<Spanned<String>>,
    /// Seed of the `poisson` arrivals, for repeatable runs (default 1).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Rows the requests are drawn from: each request takes the next row, whose fields are
    /// `${name}` in `request`. Rows with `turns` (a list of user messages) are conversations:
    /// each worker sends their turns one after the other, carrying the answers over.
    #[serde(default)]
    pub dataset: Option<Spanned<LoadDataset>>,
    /// A capacity search: raise the load step by step until a threshold breaks, and report the
    /// highest step at which every threshold held (`capacity(concurrency)`, `capacity(rate)`).
    /// Replaces `requests`, `duration` and, for a concurrency sweep, `concurrency`; `warmup`
    /// applies to every step.
    #[serde(default)]
    pub sweep: Option<Spanned<Sweep>>,
}

/// The steps of a capacity search and how long each lasts. Steps run in rising order; the
/// search stops at the first step where a threshold, or a request's checks, do not hold.
#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::spec::schema::rules::sweep)]
pub struct Sweep {
    /// Requests in flight at each step (closed loop), rising: `[1, 2, 4, 8, 16]`, or
    /// `{ from: 1, to: 64, factor: 2 }`.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::ConcurrencySteps>")]
    pub concurrency: Option<Spanned<SweepSteps>>,
    /// Requests started per unit of time at each step (open loop), rising: `[1/s, 2/s, 4/s]`,
    /// or `{ from: 1/s, to: 16/s, factor: 2 }`. `load.concurrency` caps the requests in flight.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::RateSteps>")]
    pub rate: Option<Spanned<SweepSteps>>,
    /// Each step sends this many requests (its warm-up included).
    #[serde(default)]
    #[schemars(range(min = 1, max = super::limits::MAX_REQUESTS))]
    pub requests: Option<u64>,
    /// Or each step lasts this long, e.g. `30s`.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::PositiveDuration>")]
    pub duration: Option<Spanned<String>>,
}

/// The load of each step: a list, or a range from `from` to `to` (included) by `factor` or by
/// `step`. Values are kept as written (a number or a rate) and read by `spec::check`.
#[derive(Debug)]
pub enum SweepSteps {
    List(Vec<String>),
    Range { from: String, to: String, factor: Option<f64>, step: Option<String> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepRange {
    from: Level,
    to: Level,
    #[serde(default)]
    factor: Option<f64>,
    #[serde(default)]
    step: Option<Level>,
}

/// One load value as written: a number or a text such as `4/s`.
struct Level(String);

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Level;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a rate such as `4/s`")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Level, E> {
                Ok(Level(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Level, E> {
                Ok(Level(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Level, E> {
                Ok(Level(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Level, E> {
                Ok(Level(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for SweepSteps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SweepSteps;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of steps, or a mapping with `from`, `to` and `factor` or `step`")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<SweepSteps, A::Error> {
                let levels = Vec::<Level>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(SweepSteps::List(levels.into_iter().map(|l| l.0).collect()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SweepSteps, A::Error> {
                let r = SweepRange::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(SweepSteps::Range { from: r.from.0, to: r.to.0, factor: r.factor, step: r.step.map(|s| s.0) })
            }
        }
        d.deserialize_any(V)
    }
}

/// A load test's dataset: a file name, or a mapping with the order to draw rows in.
#[derive(Debug)]
pub struct LoadDataset {
    /// Read from the located tree, before the test's references are resolved (the rows'
    /// fields are references in its request); decoded here for its type only.
    #[allow(dead_code)]
    pub file: String,
    pub order: Order,
    pub seed: Option<u64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct LoadDatasetMap {
    /// `.jsonl`, `.csv` (with a header row), `.yaml`, `.yml` or `.json`, relative to the spec.
    file: String,
    /// `sequential` (default): rows in the file's order; `shuffled`: in an order drawn from
    /// `seed`. Both start again from the first when the rows run out.
    #[serde(default)]
    order: Option<Order>,
    /// Seed of the `shuffled` order, for repeatable runs (default 1).
    #[serde(default)]
    seed: Option<u64>,
}

#[derive(Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    #[default]
    Sequential,
    Shuffled,
}

impl<'de> Deserialize<'de> for LoadDataset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LoadDataset;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a data file, or a mapping with `file`, `order` and `seed`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LoadDataset, E> {
                Ok(LoadDataset { file: v.to_string(), order: Order::Sequential, seed: None })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LoadDataset, A::Error> {
                let m = LoadDatasetMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(LoadDataset { file: m.file, order: m.order.unwrap_or_default(), seed: m.seed })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for LoadDataset {
    fn schema_name() -> Cow<'static, str> {
        "LoadDataset".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let map = generator.subschema_for::<LoadDatasetMap>();
        json_schema!({
            "description": "A data file relative to the spec (`.jsonl`, `.csv`, `.yaml`, `.json`), or a mapping with `file`, `order` and `seed`.",
            "anyOf": [{"type": "string"}, map]
        })
    }
}

/// A long run: one request every `interval`, or `concurrency` requests in flight, for
/// `duration` (`--soak-duration` on the command line can shorten it).
#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::spec::schema::rules::soak)]
pub struct Soak {
    /// How long, e.g. `1h`.
    #[schemars(with = "crate::spec::schema::fields::PositiveDuration")]
    pub duration: Spanned<String>,
    /// Send one request every this long (an open loop), e.g. `30s`.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::PositiveDuration>")]
    pub interval: Option<Spanned<String>>,
    /// Or hold this many requests in flight (a closed loop).
    #[serde(default)]
    #[schemars(range(min = 1, max = super::limits::MAX_CONCURRENCY))]
    pub concurrency: Option<u64>,
    /// Length of the time windows the aggregates are cut into (default: a sixth of `duration`).
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::PositiveDuration>")]
    pub window: Option<Spanned<String>>,
    /// Samples taken before this are left out of slopes (default: one window).
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::Duration>")]
    pub warmup: Option<Spanned<String>>,
}

/// Where a sampled value comes from: exactly one of `prometheus`, `process` or `command`.
#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::spec::schema::rules::sample_source)]
pub struct SampleSource {
    /// A metric of a Prometheus text endpoint.
    #[serde(default)]
    pub prometheus: Option<PrometheusSource>,
    /// Resident memory (MB) of a local process and its children, from /proc.
    #[serde(default)]
    pub process: Option<ProcessSource>,
    /// A command whose output's first number is the value (needs `--allow-exec`), e.g.
    /// `[docker, stats, --no-stream, --format, "{{.MemUsage}}", my-vllm]`; a unit after the
    /// number (KiB, MiB, GiB, kB, MB, GB) converts the value to MB.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Sampling period (default 5s, or the soak interval if shorter).
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::PositiveDuration>")]
    pub every: Option<Spanned<String>>,
    /// Multiply the value by this, e.g. `1e-6` for bytes → MB.
    #[serde(default)]
    pub scale: Option<f64>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSource {
    /// Path on the suite's base URL (default `/metrics`), or a full URL.
    #[serde(default)]
    pub path: Option<String>,
    /// The metric name, e.g. `process_resident_memory_bytes` or `vllm:num_requests_running`.
    pub metric: String,
    /// Only samples with these labels count; matching samples are summed.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::spec::schema::rules::process_source)]
pub struct ProcessSource {
    /// A process id (a number, or a `${capture}` from a `exec` step with `background: true`).
    #[serde(default)]
    pub pid: Option<serde_json::Value>,
    /// Or every process whose command name or command line contains this.
    #[serde(default)]
    pub name: Option<String>,
}

/// One lifecycle step: exactly one of `exec`, `sleep` or `wait_until`.
#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::spec::schema::rules::step)]
pub struct Step {
    /// Run a command (no shell): a list of words, or a mapping. Needs `--allow-exec`.
    #[serde(default)]
    pub exec: Option<Exec>,
    /// Wait this long, e.g. `2s`.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::Duration>")]
    pub sleep: Option<Spanned<String>>,
    /// Repeat a request every `every` until its expectations hold or `timeout` runs out.
    #[serde(default)]
    pub wait_until: Option<WaitUntil>,
    /// Record this step's duration under this name, for thresholds (`recovery < 30s`) and
    /// later steps (`${recovery}`, in seconds). An `exec` with `background: true` records the
    /// process id instead.
    #[serde(default, rename = "as")]
    pub as_name: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exec {
    pub command: Vec<String>,
    pub background: bool,
    pub timeout: Option<String>,
    pub expect_exit: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExecMap {
    /// The program and its arguments.
    #[schemars(length(min = 1), extend("prefixItems" = [{"minLength": 1}]))]
    command: Vec<String>,
    /// Start it and go on without waiting (its pid is recorded by `as`).
    #[serde(default)]
    background: Option<bool>,
    /// Longest run allowed (default 60s).
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::PositiveDuration>")]
    timeout: Option<String>,
    /// The exit status that counts as success (default 0).
    #[serde(default)]
    expect_exit: Option<i64>,
}

impl<'de> Deserialize<'de> for Exec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Exec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a command as a list of words, or a mapping with `command`")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Exec, A::Error> {
                let command = Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Exec { command, background: false, timeout: None, expect_exit: None })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Exec, A::Error> {
                let m = ExecMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Exec {
                    command: m.command,
                    background: m.background == Some(true),
                    timeout: m.timeout,
                    expect_exit: m.expect_exit,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Exec {
    fn schema_name() -> Cow<'static, str> {
        "Exec".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let map = generator.subschema_for::<ExecMap>();
        json_schema!({
            "description": "A command as a list of words (no shell), or a mapping with `command`.",
            "anyOf": [{"type": "array", "items": {"type": "string"}, "minItems": 1, "prefixItems": [{"minLength": 1}]}, map]
        })
    }
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct WaitUntil {
    /// The request to send again and again.
    pub request: Spanned<Request>,
    /// What its answer must satisfy for the wait to end.
    #[serde(default)]
    pub expect: Expect,
    /// Give up after this long, e.g. `60s`.
    #[schemars(with = "crate::spec::schema::fields::PositiveDuration")]
    pub timeout: Spanned<String>,
    /// Try again after this long (default 1s).
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::PositiveDuration>")]
    pub every: Option<Spanned<String>>,
    /// Measure from the start of an earlier step (its `as` name) instead of this one's.
    #[serde(default)]
    pub from: Option<Spanned<String>>,
}

/// How the starts of an open-loop load are spaced.
#[derive(Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    Constant,
    Poisson,
}

/// One status code or a list of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Status(pub Vec<u16>);

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Status;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status code or a list of them")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Status, E> {
                code(v).map(|c| Status(vec![c]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Status, E> {
                self.visit_i64(v as i64)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Status, A::Error> {
                let mut codes = vec![];
                while let Some(c) = seq.next_element::<i64>()? {
                    codes.push(code(c)?);
                }
                if codes.is_empty() {
                    return Err(de::Error::custom("the list of accepted status codes is empty"));
                }
                Ok(Status(codes))
            }
        }
        fn code<E: de::Error>(v: i64) -> Result<u16, E> {
            u16::try_from(v)
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| E::custom(format!("{v} is not an HTTP status code (100 to 599)")))
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Status {
    fn schema_name() -> Cow<'static, str> {
        "Status".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "One HTTP status code, or a list of accepted codes.",
            "anyOf": [
                {"type": "integer", "minimum": 100, "maximum": 599},
                {"type": "array", "items": {"type": "integer", "minimum": 100, "maximum": 599}, "minItems": 1}
            ]
        })
    }
}

/// A check on one value. A plain value means "equals"; a mapping combines operators, all of
/// which must hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    Equals(serde_json::Value),
    Ops(Box<PredicateOps>),
}

/// Operators of a predicate. Several in one mapping must all hold.
#[derive(Deserialize, JsonSchema, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::spec::schema::rules::predicate_ops)]
pub struct PredicateOps {
    /// Equal to this value (JSON equality; 1 and 1.0 are equal).
    #[serde(default)]
    pub eq: Option<serde_json::Value>,
    /// Not equal to this value.
    #[serde(default)]
    pub ne: Option<serde_json::Value>,
    /// Less than this number.
    #[serde(default)]
    pub lt: Option<f64>,
    /// Less than or equal to this number.
    #[serde(default)]
    pub lte: Option<f64>,
    /// Greater than this number.
    #[serde(default)]
    pub gt: Option<f64>,
    /// Greater than or equal to this number.
    #[serde(default)]
    pub gte: Option<f64>,
    /// A string containing this text, or a list containing this element.
    #[serde(default)]
    pub contains: Option<serde_json::Value>,
    /// A string matching this regular expression (Rust regex syntax; `(?i)` for any case).
    #[serde(default)]
    pub matches: Option<Spanned<String>>,
    /// `true`: the query finds something; `false`: it finds nothing.
    #[serde(default)]
    pub exists: Option<bool>,
    /// `true`: a non-empty string, list or object (and not null).
    #[serde(default)]
    pub not_empty: Option<bool>,
    /// The length of a string, list or object: a number, or a comparison such as `>= 1`.
    #[serde(default)]
    pub length: Option<Spanned<Bound>>,
    /// Same as `length`.
    #[serde(default)]
    pub count: Option<Spanned<Bound>>,
    /// The JSON type.
    #[serde(default, rename = "type")]
    pub type_: Option<JsonType>,
    /// Equal to one of these values.
    #[serde(default)]
    pub one_of: Option<Vec<serde_json::Value>>,
    /// Holds when the predicate inside does not.
    #[serde(default)]
    pub not: Option<Box<Spanned<Predicate>>>,
}

impl<'de> Deserialize<'de> for Predicate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Predicate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value to compare with, or a mapping of operators")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Predicate, A::Error> {
                PredicateOps::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|o| Predicate::Ops(Box::new(o)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Predicate, A::Error> {
                serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Predicate::Equals)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Predicate, E> {
                Ok(Predicate::Equals(serde_json::Value::Null))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Predicate, E> {
                Ok(Predicate::Equals(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Predicate, E> {
                Ok(Predicate::Equals(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Predicate, E> {
                Ok(Predicate::Equals(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Predicate, E> {
                Ok(Predicate::Equals(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Predicate, E> {
                Ok(Predicate::Equals(v.into()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Predicate {
    fn schema_name() -> Cow<'static, str> {
        "Predicate".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let ops = generator.subschema_for::<PredicateOps>();
        json_schema!({
            "description": "A value the result must equal, or a mapping of operators that must all hold.",
            "anyOf": [ops, {"type": ["string", "number", "integer", "boolean", "array", "null"]}]
        })
    }
}

/// A length bound: an exact number, or a comparison such as `>= 1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound(pub String);

impl<'de> Deserialize<'de> for Bound {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bound;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a comparison such as `>= 1`")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bound, E> {
                Ok(Bound(format!("== {v}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bound, E> {
                Ok(Bound(format!("== {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bound, E> {
                Ok(Bound(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Bound {
    fn schema_name() -> Cow<'static, str> {
        "Bound".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An exact number, or a comparison such as `>= 1`.",
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {
                    "type": "string",
                    "pattern": crate::spec::schema::grammar::comparison(None),
                    "patternErrorMessage": "a comparison such as `>= 1` or `< 10`"
                }
            ]
        })
    }
}

pub use crate::vocab::JsonType;

/// Where a captured value comes from: a JSONPath string (`$.data[0].id`), or a mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum Capture {
    Json(String),
    From(CaptureFrom),
}

#[derive(Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
#[schemars(transform = crate::spec::schema::rules::capture_from)]
pub struct CaptureFrom {
    /// A JSONPath on the response body; the first match is captured with its JSON type.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::JsonPath>")]
    pub json: Option<String>,
    /// A response header's value.
    #[serde(default)]
    pub header: Option<String>,
    /// A regular expression on the body; the first group (or the whole match) is captured.
    #[serde(default)]
    pub regex: Option<String>,
    /// A CEL expression computed from the response (docs/expressions.md), e.g.
    /// `response.body.usage.prompt_tokens + response.body.usage.completion_tokens`.
    #[serde(default)]
    #[schemars(with = "Option<crate::spec::schema::fields::Expression>")]
    pub expr: Option<String>,
    /// The value when the source finds nothing (instead of failing the test).
    #[serde(default)]
    pub default: Option<serde_json::Value>,
}

impl<'de> Deserialize<'de> for Capture {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Capture;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSONPath string, or a mapping with `json`, `header` or `regex`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Capture, E> {
                Ok(Capture::Json(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Capture, A::Error> {
                CaptureFrom::deserialize(de::value::MapAccessDeserializer::new(map)).map(Capture::From)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Capture {
    fn schema_name() -> Cow<'static, str> {
        "Capture".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let from = generator.subschema_for::<CaptureFrom>();
        let path = generator.subschema_for::<crate::spec::schema::fields::JsonPath>();
        json_schema!({
            "description": "A JSONPath on the body (`$.data[0].id`), or a mapping naming the source.",
            "anyOf": [path, from]
        })
    }
}

/// A mapping that keeps the order it was written in (checks are reported in that order).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(Spanned<String>, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(vec![])
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedMap<V>, A::Error> {
                let mut entries = vec![];
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(OrderedMap(entries))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}

impl<V: JsonSchema> JsonSchema for OrderedMap<V> {
    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", V::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<V>();
        json_schema!({"type": "object", "additionalProperties": value})
    }
}
