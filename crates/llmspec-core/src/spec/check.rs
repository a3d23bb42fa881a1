//! Typed spec → plan: every JSONPath, regex, duration and comparison is compiled here, and
//! every problem is collected with its position instead of stopping at the first.

use super::de::Spanned;
use super::limits;
use super::model::{self, Capture, Predicate as RawPredicate};
use super::plan::{
    Arrival, Body, CapturePlan, CaptureSource, Exchange, LoadPlan, RequestPlan, SamplePlan, SampleSource, StepKind,
    StepPlan, Stop, TestPlan,
};
use super::yaml::Loc;
use crate::expect::predicate::{Check, Predicate};
use crate::expect::schema::{Schema, SchemaCheck};
use crate::expect::stream::{MetricBound, StreamCheck};
use crate::expect::threshold::{Names, Threshold};
use crate::expect::tools::{Selection, ToolCallCheck};
use crate::expect::{ExpectPlan, HeaderCheck, JsonCheck, JsonQuery};
use crate::metrics::catalog::MetricName;
use crate::vocab::compare::{Comparison, Op, Unit};
use crate::vocab::units::{parse_duration, parse_positive_duration};
use regex::Regex;
use std::time::Duration;

/// Headers whose values are secret whatever the spec says.
pub const ALWAYS_SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"];

/// Reported only when nothing else is wrong on the same line (a misspelt operator is
/// reported as such, and removing it leaves an empty predicate behind).
pub const NO_OPERATOR: &str = "this predicate has no operator: use one of eq, ne, lt, lte, gt, gte, contains, matches, exists, not_empty, length, type, one_of, not";

/// What a test inherits from its suite and the command line.
pub struct Context<'a> {
    /// The spec file's directory: schema files are relative to it.
    pub dir: &'a std::path::Path,
    /// Where a schema file beside an embedded spec is found.
    pub embedded: super::embedded::Embedded,
    pub base_url: Option<&'a str>,
    pub timeout: Duration,
    pub headers: &'a [(String, String)],
    pub secret_headers: &'a [String],
    /// What expressions of the test being checked can read: vars, earlier captures and tests.
    pub names: crate::expr::Names,
}

/// Silence allowed between two chunks of a stream unless the spec says otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A problem, at a position in the file being checked.
pub type Problem = (Loc, String);

/// `request_misspelt`: an unknown key already said "did you mean `request`", so a missing
/// request needs no second message.
pub fn test(
    mut raw: model::Test,
    ctx: &Context<'_>,
    request_misspelt: bool,
    problems: &mut Vec<Problem>,
) -> Option<TestPlan> {
    let before = problems.len();
    let raw_thresholds = std::mem::take(&mut raw.expect.thresholds);
    let raw_judges = raw.expect.judge.take();
    let judge_loc = raw_judges.as_ref().map(|j| j.loc);
    let exchange = match (raw.request, raw.steps.is_empty()) {
        (Some(request), true) => exchange(request, raw.expect, ctx, problems),
        (None, false) => None,
        (Some(request), false) => {
            problems.push((request.loc, "a test has a `request` or `steps`, not both".into()));
            None
        }
        (None, true) => {
            if !request_misspelt {
                problems.push((raw.name.loc, "a test needs a `request` (or lifecycle `steps`)".into()));
            }
            None
        }
    };
    let steps: Vec<StepPlan> = raw.steps.into_iter().filter_map(|s| step(s, ctx, problems)).collect();
    let captures: Vec<CapturePlan> =
        raw.capture.into_iter().filter_map(|(name, c)| capture(name, c, ctx, problems)).collect();
    let sweep_written = raw.load.as_ref().is_some_and(|l| l.value.sweep.is_some());
    let many = [raw.repeat.is_some(), raw.load.is_some(), raw.soak.is_some()].iter().filter(|b| **b).count();
    let load = match (raw.repeat, raw.load, raw.soak) {
        _ if many > 1 => {
            problems.push((raw.name.loc, "a test has one of `repeat`, `load` or `soak`, not several".into()));
            None
        }
        (Some(n), _, _) if n.value == 0 || n.value > limits::MAX_REQUESTS => {
            problems.push((n.loc, format!("`repeat` must be between 1 and {}", limits::MAX_REQUESTS)));
            None
        }
        (Some(n), _, _) => Some(LoadPlan { stop: Stop::Requests(n.value), ..LoadPlan::once() }),
        (_, Some(l), _) => load(l, problems),
        (_, _, Some(s)) => soak(s, problems),
        _ => None,
    };
    let samples: Vec<SamplePlan> =
        raw.sample.into_iter().filter_map(|(name, s)| sample(name, s, ctx, load.as_ref(), problems)).collect();
    if !samples.is_empty() && load.is_none() {
        problems.push((
            samples[0].loc,
            "samples are taken while a test runs for a while: use them with `soak` or `load`".into(),
        ));
    }
    let names = Names {
        samples: samples.iter().map(|s| s.name.clone()).collect(),
        steps: steps.iter().filter_map(|s| s.as_name.clone()).collect(),
        sweep: load.as_ref().and_then(|l| l.sweep.as_ref()).map(|s| s.axis),
        sweep_written,
    };
    let thresholds = raw_thresholds
        .into_iter()
        .filter_map(|t| {
            let origin = crate::expr::Origin { loc: t.loc, plain: false };
            Threshold::compile(&t.value, origin, &names, &ctx.names).map_err(|e| problems.extend(e)).ok()
        })
        .collect();
    if load.is_some() && !captures.is_empty() {
        problems.push((
            raw.name.loc,
            "a test that sends many requests (`repeat`, `load`, `soak`) cannot `capture`: capture in a test of its own"
                .into(),
        ));
    }
    if load.is_some() && !steps.is_empty() {
        problems.push((
            raw.name.loc,
            "lifecycle `steps` run once: they cannot be combined with `repeat`, `load` or `soak`".into(),
        ));
    }
    let judges = super::judge::judges(raw_judges, ctx, problems);
    if let Some(at) = judge_loc {
        if load.is_some() {
            problems.push((
                at,
                "a judge is asked about one answer: it cannot be combined with `repeat`, `load` or `soak`".into(),
            ));
        } else if !steps.is_empty() {
            problems.push((
                at,
                "a judge is asked about the answer to the test's `request`; a test made of `steps` has no answer"
                    .into(),
            ));
        }
    }
    let require = raw.require.iter().filter_map(|r| expression(r, crate::expr::Kind::Require, ctx, problems)).collect();
    (problems.len() == before).then(|| TestPlan {
        vars: serde_json::Map::new(),
        name: raw.name.value,
        loc: raw.name.loc,
        tags: raw.tags,
        skip: raw.skip,
        require,
        advisory: raw.advisory == Some(true),
        exchange,
        steps,
        captures,
        load,
        samples,
        thresholds,
        judges,
    })
}

fn exchange(
    request: Spanned<model::Request>,
    expect: model::Expect,
    ctx: &Context<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Exchange> {
    let loc = request.loc;
    let request = self::request(request, ctx, problems);
    let expect = self::expect(expect, ctx, problems);
    Some(Exchange { loc, request: request?, expect })
}

fn step(raw: Spanned<model::Step>, ctx: &Context<'_>, problems: &mut Vec<Problem>) -> Option<StepPlan> {
    let loc = raw.loc;
    let s = raw.value;
    let as_name = s.as_name.map(|n| n.value);
    let kind = match (s.exec, s.sleep, s.wait_until) {
        (Some(e), None, None) => {
            if e.command.is_empty() || e.command[0].is_empty() {
                problems.push((loc, "`exec` needs a program to run".into()));
                return None;
            }
            let timeout = match &e.timeout {
                Some(t) => {
                    parse_positive_duration(t).map_err(|m| problems.push((loc, format!("exec timeout: {m}")))).ok()?
                }
                None => Duration::from_secs(60),
            };
            StepKind::Exec {
                command: e.command,
                background: e.background,
                timeout,
                expect_exit: e.expect_exit.unwrap_or(0),
            }
        }
        (None, Some(d), None) => StepKind::Sleep(duration(&d, problems)?),
        (None, None, Some(w)) => {
            if let Some(judge) = &w.expect.judge {
                problems
                    .push((judge.loc, "a judge is asked about a test's own answer, not inside `wait_until`".into()));
            }
            let timeout = positive_duration(&w.timeout, problems);
            let every = match &w.every {
                Some(e) => positive_duration(e, problems),
                None => Some(Duration::from_secs(1)),
            };
            let exchange = exchange(w.request, w.expect, ctx, problems);
            StepKind::WaitUntil { exchange: exchange?, timeout: timeout?, every: every?, from: w.from.map(|f| f.value) }
        }
        _ => {
            problems.push((loc, "a step is exactly one of `exec`, `sleep` or `wait_until`".into()));
            return None;
        }
    };
    Some(StepPlan { loc, kind, as_name })
}

fn soak(raw: Spanned<model::Soak>, problems: &mut Vec<Problem>) -> Option<LoadPlan> {
    let s = raw.value;
    let total = positive_duration(&s.duration, problems)?;
    let (rate, concurrency) = match (&s.interval, s.concurrency) {
        (Some(i), None) => {
            let every = duration(i, problems)?;
            if every.is_zero() {
                problems.push((i.loc, "`interval` must be longer than zero".into()));
                return None;
            }
            (Some(1.0 / every.as_secs_f64()), None)
        }
        (None, Some(c)) if c > 0 && c <= limits::MAX_CONCURRENCY => (None, Some(c as usize)),
        (None, Some(_)) => {
            problems.push((raw.loc, format!("`concurrency` must be between 1 and {}", limits::MAX_CONCURRENCY)));
            return None;
        }
        _ => {
            problems.push((
                raw.loc,
                "a soak sends one request every `interval`, or holds `concurrency` requests in flight: give one".into(),
            ));
            return None;
        }
    };
    let window = match &s.window {
        Some(w) => Some(positive_duration(w, problems)?),
        None => None,
    };
    if let (Some(w), Some(raw)) = (window, &s.window) {
        if total.as_secs_f64() / w.as_secs_f64() > limits::MAX_WINDOWS as f64 {
            problems.push((
                raw.loc,
                format!(
                    "a soak holds at most {} windows: make `window` at least {} for this duration",
                    limits::MAX_WINDOWS,
                    crate::vocab::units::format_duration(total / limits::MAX_WINDOWS as u32)
                ),
            ));
            return None;
        }
    }
    let fit_after = match &s.warmup {
        Some(w) => Some(duration(w, problems)?),
        None => None,
    };
    Some(LoadPlan { stop: Stop::Duration(total), concurrency, rate, window, fit_after, soak: true, ..LoadPlan::once() })
}

fn sample(
    name: String,
    raw: Spanned<model::SampleSource>,
    ctx: &Context<'_>,
    load: Option<&LoadPlan>,
    problems: &mut Vec<Problem>,
) -> Option<SamplePlan> {
    let loc = raw.loc;
    let s = raw.value;
    let source = match (s.prometheus, s.process, s.command) {
        (Some(p), None, None) => {
            let path = p.path.unwrap_or_else(|| "/metrics".into());
            let Some(url) = crate::vocab::text::join_url(ctx.base_url, &path) else {
                problems.push((
                    loc,
                    "a Prometheus path needs a base URL: set `defaults.base_url` or give a full URL".into(),
                ));
                return None;
            };
            SampleSource::Prometheus { url, metric: p.metric, labels: p.labels }
        }
        (None, Some(p), None) => {
            let pid = p.pid.map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
            if pid.is_none() == p.name.is_none() {
                problems.push((loc, "a process is named by exactly one of `pid` or `name`".into()));
                return None;
            }
            SampleSource::Process { pid, name: p.name }
        }
        (None, None, Some(c)) if !c.is_empty() => SampleSource::Command(c),
        _ => {
            problems.push((loc, "a sample comes from exactly one of `prometheus`, `process` or `command`".into()));
            return None;
        }
    };
    let interval = load.and_then(|l| l.rate).and_then(|r| Duration::try_from_secs_f64(1.0 / r).ok());
    // A soak lasts hours; a load test, seconds to minutes, in which a gauge such as the queue
    // of waiting requests moves second by second.
    let longest = if load.is_some_and(|l| !l.soak) { Duration::from_secs(1) } else { Duration::from_secs(5) };
    let every = match &s.every {
        Some(e) => duration(e, problems)?,
        None => interval.map_or(longest, |i| i.min(longest)),
    };
    if every.is_zero() {
        problems.push((loc, "`every` must be longer than zero".into()));
        return None;
    }
    let scale = s.scale.unwrap_or(1.0);
    if !scale.is_finite() {
        problems.push((loc, format!("`scale` must be a finite number, not {scale}")));
        return None;
    }
    Some(SamplePlan { name, loc, source, every, scale })
}

fn load(raw: Spanned<model::Load>, problems: &mut Vec<Problem>) -> Option<LoadPlan> {
    if raw.value.sweep.is_some() {
        return super::sweep::load(raw, problems);
    }
    let l = raw.value;
    let stop = match (l.requests, l.duration) {
        (Some(0), None) => {
            problems.push((raw.loc, "`requests` must be at least 1".into()));
            return None;
        }
        (Some(n), None) if n > limits::MAX_REQUESTS => {
            problems.push((raw.loc, format!("`requests` must be at most {}", limits::MAX_REQUESTS)));
            return None;
        }
        (Some(n), None) => Stop::Requests(n),
        (None, Some(d)) => Stop::Duration(positive_duration(&d, problems)?),
        _ => {
            problems.push((raw.loc, "a load ends after `requests: N` or after `duration: D`: give exactly one".into()));
            return None;
        }
    };
    let rate = match l.rate {
        Some(r) => Some(rate(&r, problems)?),
        None => None,
    };
    if l.concurrency.is_some_and(|c| c == 0 || c > limits::MAX_CONCURRENCY) {
        problems.push((raw.loc, format!("`concurrency` must be between 1 and {}", limits::MAX_CONCURRENCY)));
        return None;
    }
    let concurrency = match (l.concurrency, rate) {
        (None, None) => Some(1),
        (c, _) => c.map(|c| c as usize),
    };
    if l.arrival.is_some() && rate.is_none() {
        problems.push((
            raw.loc,
            "`arrival` spaces the starts of a `rate`; without `rate` there is nothing to space".into(),
        ));
    }
    let ramp = ramp(l.ramp.as_ref(), rate.is_some(), problems)?;
    Some(LoadPlan {
        stop,
        concurrency,
        rate,
        arrival: l.arrival.unwrap_or(Arrival::Constant),
        warmup: l.warmup.unwrap_or(0),
        ramp,
        seed: l.seed.unwrap_or(1),
        ..LoadPlan::once()
    })
}

/// `load.ramp`: only closed loops have workers to start one after another.
pub(crate) fn ramp(raw: Option<&Spanned<String>>, open_loop: bool, problems: &mut Vec<Problem>) -> Option<Duration> {
    let Some(raw) = raw else { return Some(Duration::ZERO) };
    if open_loop {
        problems.push((
            raw.loc,
            "`ramp` starts a closed loop's workers one after another; an open loop's starts are already spread by its `rate`".into(),
        ));
        return None;
    }
    let ramp = positive_duration(raw, problems)?;
    if ramp > limits::MAX_DURATION {
        problems.push((
            raw.loc,
            format!("`ramp` must be at most {}", crate::vocab::units::format_duration(limits::MAX_DURATION)),
        ));
        return None;
    }
    Some(ramp)
}

/// `5/s`, `120/m`, `3600/h`, `2/d`, or a plain number of requests per second.
pub(crate) fn rate(raw: &Spanned<String>, problems: &mut Vec<Problem>) -> Option<f64> {
    let text = raw.value.trim();
    let per_second =
        crate::vocab::units::parse_rate(text).unwrap_or_else(|| text.parse::<f64>().map_err(|e| e.to_string()));
    let per_second = match per_second {
        Ok(v) if v > 0.0 && v.is_finite() => v,
        _ => {
            problems.push((raw.loc, format!("`{text}` is not a rate: write it as `5/s`, `120/m` or `3600/h`")));
            return None;
        }
    };
    // The spacing of two starts must be a duration we accept, and not shorter than the client
    // can keep.
    let slowest = 1.0 / limits::MAX_DURATION.as_secs_f64();
    if !(slowest..=limits::MAX_RATE_PER_SECOND).contains(&per_second) {
        problems.push((
            raw.loc,
            format!(
                "`{text}` is out of range: a rate is between one request in {} and {}/s",
                crate::vocab::units::format_duration(limits::MAX_DURATION),
                limits::MAX_RATE_PER_SECOND
            ),
        ));
        return None;
    }
    Some(per_second)
}

fn request(raw: Spanned<model::Request>, ctx: &Context<'_>, problems: &mut Vec<Problem>) -> Option<RequestPlan> {
    let loc = raw.loc;
    let r = raw.value;
    let methods = [
        (reqwest::Method::GET, r.get),
        (reqwest::Method::POST, r.post),
        (reqwest::Method::PUT, r.put),
        (reqwest::Method::PATCH, r.patch),
        (reqwest::Method::DELETE, r.delete),
        (reqwest::Method::HEAD, r.head),
        (reqwest::Method::OPTIONS, r.options),
    ];
    let mut given: Vec<(reqwest::Method, Spanned<String>)> =
        methods.into_iter().filter_map(|(m, target)| target.map(|t| (m, t))).collect();
    if given.len() != 1 {
        let message = if given.is_empty() {
            "a request needs a method and a target, e.g. `POST: /v1/chat/completions`"
        } else {
            "a request has exactly one method key (GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS)"
        };
        problems.push((given.get(1).map_or(loc, |(_, t)| t.loc), message.into()));
        return None;
    }
    let (method, target) = given.remove(0);
    let Some(url) = crate::vocab::text::join_url(ctx.base_url, &target.value) else {
        problems.push((
            target.loc,
            "a relative path needs a base URL: set `defaults.base_url` or pass `--base-url`".into(),
        ));
        return None;
    };
    if let Some(json) = &r.json {
        problems.extend(super::fill::problems(json).into_iter().map(|m| (loc, m)));
    }
    if r.json.is_some() && r.body.is_some() {
        problems.push((loc, "a request has a `json` body or a raw `body`, not both".into()));
    }
    let timeout = match r.timeout {
        Some(t) => positive_duration(&t, problems).unwrap_or(ctx.timeout),
        None => ctx.timeout,
    };
    let mut headers: Vec<(String, String)> = ctx.headers.to_vec();
    for (name, value) in r.headers {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        // `null` only takes the default away.
        if let Some(value) = value {
            headers.push((name, value));
        }
    }
    let stream = r.stream == Some(true);
    let body = match (r.json, r.body) {
        (Some(mut json), _) => {
            if let (true, Some(obj)) = (stream, json.as_object_mut()) {
                obj.entry("stream").or_insert(true.into());
                if r.include_usage != Some(false) {
                    obj.entry("stream_options").or_insert(serde_json::json!({"include_usage": true}));
                }
            }
            Body::Json(json)
        }
        (None, Some(raw)) => Body::Raw(raw),
        (None, None) => Body::None,
    };
    let idle_timeout = match r.idle_timeout {
        Some(t) => positive_duration(&t, problems).unwrap_or(DEFAULT_IDLE_TIMEOUT),
        None => DEFAULT_IDLE_TIMEOUT,
    };
    let secret_headers = ALWAYS_SECRET_HEADERS
        .iter()
        .map(|h| h.to_string())
        .chain(ctx.secret_headers.iter().map(|h| h.to_lowercase()))
        .collect();
    Some(RequestPlan { method, url, headers, body, timeout, secret_headers, stream, idle_timeout })
}

fn json_checks(map: model::OrderedMap<Spanned<RawPredicate>>, problems: &mut Vec<Problem>) -> Vec<JsonCheck> {
    map.0
        .into_iter()
        .filter_map(|(path, p)| {
            let query = JsonQuery::compile(&path.value).map_err(|e| problems.push((path.loc, e))).ok();
            let predicate = predicate(p, problems)?;
            Some(JsonCheck { loc: path.loc, query: query?, predicate })
        })
        .collect()
}

fn expect(raw: model::Expect, ctx: &Context<'_>, problems: &mut Vec<Problem>) -> ExpectPlan {
    let status = raw.status.map(|s| (s.loc, s.value.0));
    let headers = raw
        .headers
        .0
        .into_iter()
        .filter_map(|(name, p)| {
            let predicate = predicate(p, problems)?;
            Some(HeaderCheck { loc: name.loc, name: name.value.to_lowercase(), predicate })
        })
        .collect();
    let json = json_checks(raw.json, problems);
    let body = raw.body.and_then(|p| {
        let loc = p.loc;
        predicate(p, problems).map(|pred| (loc, pred))
    });
    let latency = raw.latency.and_then(|l| {
        let c = comparison(&l, problems)?;
        if c.unit != Unit::Seconds {
            problems.push((l.loc, format!("a latency bound needs a duration, e.g. `< 5s`, not `{}`", l.value)));
            return None;
        }
        Some((l.loc, c))
    });
    let metrics = raw.metrics.0.into_iter().filter_map(|(name, bound)| metric_bound(name, bound, problems)).collect();
    let stream = raw.stream.map(|s| stream_check(s, problems));
    let events = json_checks(raw.events, problems);
    let tool_call = raw.tool_call.map(|t| {
        let selection = match (t.value.select, &t.value.index) {
            (Some(_), Some(index)) => {
                problems.push((index.loc, "a `tool_call` check takes `select` or `index`, not both".into()));
                Selection::First
            }
            (_, Some(index)) => Selection::Index(usize::try_from(index.value).unwrap_or(usize::MAX)),
            (Some(model::ToolSelect::Any), None) => Selection::Any,
            (Some(model::ToolSelect::All), None) => Selection::All,
            (Some(model::ToolSelect::First) | None, None) => Selection::First,
        };
        ToolCallCheck {
            loc: t.loc,
            name: t.value.name,
            selection,
            match_schema: t.value.arguments_match_schema == Some(true),
            arguments: json_checks(t.value.arguments, problems),
        }
    });
    let no_tool_call = raw.no_tool_call.filter(|n| n.value).map(|n| n.loc);
    let schema = raw.schema.into_iter().filter_map(|s| schema_check(s, ctx, problems)).collect();
    let that = raw.that.iter().filter_map(|t| expression(t, crate::expr::Kind::Expect, ctx, problems)).collect();
    ExpectPlan { status, headers, json, body, latency, metrics, stream, events, tool_call, no_tool_call, schema, that }
}

fn metric_bound(name: Spanned<String>, bound: Spanned<String>, problems: &mut Vec<Problem>) -> Option<MetricBound> {
    let Some(metric) = MetricName::parse(&name.value) else {
        problems.push((name.loc, crate::vocab::suggest::unknown("metric", &name.value, MetricName::NAMES, "")));
        return None;
    };
    let c = bounded(&bound, metric.unit(), problems)?;
    Some(MetricBound { loc: bound.loc, name: metric, bound: c })
}

/// A comparison whose quantity must be of `unit` (a duration for times, a number for counts).
fn bounded(raw: &Spanned<String>, unit: Unit, problems: &mut Vec<Problem>) -> Option<Comparison> {
    let c = comparison(raw, problems)?;
    if c.unit != unit {
        let hint = if unit == Unit::Seconds { "a duration, e.g. `< 1s`" } else { "a number, e.g. `>= 2`" };
        problems.push((raw.loc, format!("this bound takes {hint}, not `{}`", raw.value)));
        return None;
    }
    Some(c)
}

fn stream_check(raw: Spanned<model::StreamExpect>, problems: &mut Vec<Problem>) -> StreamCheck {
    let s = raw.value;
    let mut bound = |b: Option<Spanned<String>>, unit| b.and_then(|b| bounded(&b, unit, problems).map(|c| (b.loc, c)));
    let chunks = bound(s.chunks, Unit::Plain);
    let max_gap = bound(s.max_gap, Unit::Seconds);
    let error = s.error.and_then(|p| {
        let loc = p.loc;
        predicate(p, problems).map(|pred| (loc, pred))
    });
    StreamCheck {
        loc: raw.loc,
        done: s.done,
        chunks,
        max_gap,
        usage: s.usage,
        error,
        one_finish_reason: s.one_finish_reason,
    }
}

fn schema_check(
    raw: Spanned<model::SchemaExpect>,
    ctx: &Context<'_>,
    problems: &mut Vec<Problem>,
) -> Option<SchemaCheck> {
    let loc = raw.loc;
    let s = raw.value;
    let at_text = s.at.as_ref().map_or("$", |a| a.value.as_str());
    let at = JsonQuery::compile(at_text).map_err(|e| problems.push((s.at.as_ref().map_or(loc, |a| a.loc), e))).ok();
    let (schema, origin) = match (s.schema, s.file) {
        (Some(schema), None) => (schema, "inline".to_string()),
        (None, Some(file)) => {
            let path = ctx.dir.join(&file.value);
            let text = ctx
                .embedded
                .read_text_of(&path, &super::files::SPEC_FILE)
                .map_err(|e| problems.push((file.loc, format!("schema file {}: {}", path.display(), e.message))))
                .ok()?;
            let parsed = super::yaml::parse(&text)
                .map_err(|e| {
                    problems
                        .push((file.loc, format!("schema file {}: line {}: {}", path.display(), e.loc.line, e.message)))
                })
                .ok()?;
            (parsed.to_json(), file.value)
        }
        _ => {
            problems.push((loc, "a schema check takes exactly one of `schema` (inline) or `file`".into()));
            return None;
        }
    };
    let compiled = Schema::compile(&schema).map_err(|e| problems.push((loc, e))).ok()?;
    Some(SchemaCheck { loc, at: at?, parse: s.parse == Some(true), schema: compiled, origin })
}

pub fn predicate(raw: Spanned<RawPredicate>, problems: &mut Vec<Problem>) -> Option<Predicate> {
    let loc = raw.loc;
    let ops = match raw.value {
        RawPredicate::Equals(v) => return Some(Predicate(vec![Check::Eq(v)])),
        RawPredicate::Ops(ops) => *ops,
    };
    let before = problems.len();
    let mut checks = vec![];
    // `lt: .nan` would never hold and `lt: .inf` always: both are mistakes.
    let mut num = |op: Op, v: f64| {
        if v.is_finite() {
            return Some(Check::Num(Comparison { op, rhs: v, unit: Unit::Plain }));
        }
        problems.push((loc, format!("`{}` needs a finite number, not {v}", op.symbol())));
        None
    };
    checks.extend(ops.eq.map(Check::Eq));
    checks.extend(ops.ne.map(Check::Ne));
    checks.extend(ops.lt.and_then(|v| num(Op::Lt, v)));
    checks.extend(ops.lte.and_then(|v| num(Op::Le, v)));
    checks.extend(ops.gt.and_then(|v| num(Op::Gt, v)));
    checks.extend(ops.gte.and_then(|v| num(Op::Ge, v)));
    checks.extend(ops.contains.map(Check::Contains));
    if let Some(re) = ops.matches {
        if re.value.contains("${") {
            problems.push((
                re.loc,
                "a pattern cannot hold a capture: compare with `eq` or `contains`, or write `expect.that` with `.contains(name)`".into(),
            ));
        } else {
            checks.extend(regex(&re, problems).map(Check::Matches));
        }
    }
    checks.extend(ops.exists.map(Check::Exists));
    checks.extend(ops.not_empty.map(Check::NotEmpty));
    for bound in [ops.length, ops.count].into_iter().flatten() {
        checks.extend(comparison(&Spanned { value: bound.value.0, loc: bound.loc }, problems).map(Check::Length));
    }
    checks.extend(ops.type_.map(Check::Type));
    checks.extend(ops.one_of.map(Check::OneOf));
    if let Some(inner) = ops.not {
        checks.extend(predicate(*inner, problems).map(|p| Check::Not(Box::new(p))));
    }
    if checks.is_empty() && problems.len() == before {
        problems.push((loc, NO_OPERATOR.into()));
    }
    (problems.len() == before).then_some(Predicate(checks))
}

/// An expression of `kind` written at `raw`, checked against what it can read there.
fn expression(
    raw: &Spanned<String>,
    kind: crate::expr::Kind,
    ctx: &Context<'_>,
    problems: &mut Vec<Problem>,
) -> Option<crate::expr::Expression> {
    let origin = crate::expr::Origin { loc: raw.loc, plain: false };
    crate::expr::Expression::compile(&raw.value, origin, kind, &ctx.names).map_err(|e| problems.extend(e)).ok()
}

fn capture(name: String, raw: Spanned<Capture>, ctx: &Context<'_>, problems: &mut Vec<Problem>) -> Option<CapturePlan> {
    let loc = raw.loc;
    let default = match &raw.value {
        Capture::From(f) => f.default.clone(),
        Capture::Json(_) => None,
    };
    let from = match raw.value {
        Capture::Json(path) => {
            CaptureSource::Json(JsonQuery::compile(&path).map_err(|e| problems.push((loc, e))).ok()?)
        }
        Capture::From(f) => match (f.json, f.header, f.regex, f.expr) {
            (None, None, None, Some(text)) => CaptureSource::Expr(expression(
                &Spanned { value: text, loc },
                crate::expr::Kind::Capture,
                ctx,
                problems,
            )?),
            (Some(path), None, None, None) => {
                CaptureSource::Json(JsonQuery::compile(&path).map_err(|e| problems.push((loc, e))).ok()?)
            }
            (None, Some(h), None, None) => CaptureSource::Header(h.to_lowercase()),
            (None, None, Some(re), None) => CaptureSource::Regex(regex(&Spanned { value: re, loc }, problems)?),
            _ => {
                problems.push((loc, "a capture takes exactly one of `json`, `header`, `regex` or `expr`".into()));
                return None;
            }
        },
    };
    Some(CapturePlan { name, loc, from, default })
}

pub fn duration(raw: &Spanned<String>, problems: &mut Vec<Problem>) -> Option<Duration> {
    parse_duration(&raw.value).map_err(|e| problems.push((raw.loc, e))).ok()
}

/// A duration where zero means nothing useful (a timeout, a period, a run's length).
pub fn positive_duration(raw: &Spanned<String>, problems: &mut Vec<Problem>) -> Option<Duration> {
    parse_positive_duration(&raw.value).map_err(|e| problems.push((raw.loc, e))).ok()
}

pub fn comparison(raw: &Spanned<String>, problems: &mut Vec<Problem>) -> Option<Comparison> {
    Comparison::parse(&raw.value).map_err(|e| problems.push((raw.loc, e))).ok()
}

fn regex(raw: &Spanned<String>, problems: &mut Vec<Problem>) -> Option<Regex> {
    Regex::new(&raw.value)
        .map_err(|e| {
            // The crate's message repeats the pattern with a caret; its last line says what is wrong.
            let text = e.to_string();
            let why = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .last()
                .unwrap_or("")
                .trim_start_matches("error: ");
            problems.push((raw.loc, format!("invalid regular expression `{}`: {why}", raw.value)))
        })
        .ok()
}
