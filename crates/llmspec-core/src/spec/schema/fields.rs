//! Schemas of the spec values that are text with a grammar (durations, rates, comparisons,
//! thresholds, JSONPath) or keys from a closed vocabulary (metric names), for the
//! `#[schemars(with = ...)]` attributes of the spec types. Each is a named definition, so an
//! editor shows its description wherever it is used.

use super::grammar;
use crate::metrics::catalog::{MetricName, ScalarName, SeriesName, Statistic};
use crate::vocab::compare::Unit;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::Map;
use std::borrow::Cow;

/// Declares a type whose schema is a fixed definition.
macro_rules! definition {
    ($(#[$doc:meta])* $ty:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $ty;

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

definition! {
    /// Any duration, zero included (a `sleep`, a warm-up).
    Duration => json_schema!({
        "description": "A number and a unit: `us`, `ms`, `s`, `m` (or `min`), `h`, e.g. `250ms`, `5s`, `2m`, `1h`. \
            A bare number is refused: `5` could be seconds or milliseconds. At most 30 days.",
        "type": "string",
        "pattern": grammar::duration(),
        "patternErrorMessage": "a duration such as 250ms, 5s, 2m or 1h, at most 720h",
        "examples": ["250ms", "5s", "2m", "1h"]
    })
}

definition! {
    /// A duration where zero means nothing useful: a timeout, a period, a run's length.
    PositiveDuration => json_schema!({
        "description": "A duration longer than zero: a number and a unit, `us`, `ms`, `s`, `m` (or `min`), `h`, \
            e.g. `250ms`, `5s`, `2m`, `1h`. At most 30 days.",
        "type": "string",
        "pattern": grammar::duration(),
        "patternErrorMessage": "a duration such as 500ms, 30s, 2m or 1h, at most 720h",
        "not": {"pattern": grammar::zero_duration()},
        "examples": ["500ms", "30s", "2m", "1h"]
    })
}

definition! {
    /// The pace of an open-loop load.
    Rate => json_schema!({
        "description": "Requests started per unit of time: `5/s`, `120/m`, `3600/h`, `2/d`, or a number of requests \
            per second. Above zero, at most 100000/s.",
        "anyOf": [
            {
                "type": "string",
                "pattern": grammar::rate(),
                "patternErrorMessage": "a rate such as 5/s, 120/m, 3600/h or 2/d, at most 100000/s",
                "not": {"pattern": grammar::zero_rate()}
            },
            {"type": "number", "minimum": grammar::slowest_rate(), "maximum": grammar::FASTEST_RATE}
        ],
        "examples": ["5/s", "120/m", "3600/h"]
    })
}

/// The steps of a concurrency sweep: a rising list of whole numbers, or a range.
pub struct ConcurrencySteps;

impl JsonSchema for ConcurrencySteps {
    fn schema_name() -> Cow<'static, str> {
        "ConcurrencySteps".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let level = json_schema!({"type": "integer", "minimum": 1, "maximum": crate::spec::limits::MAX_CONCURRENCY});
        sweep_steps(
            "Requests in flight at each step, rising: a list such as `[1, 2, 4, 8]`, or `from`, `to` and \
            `factor` (multiplied) or `step` (added); `to` is always the last step.",
            level.clone(),
            level,
        )
    }
}

/// The steps of a rate sweep: a rising list of rates, or a range.
pub struct RateSteps;

impl JsonSchema for RateSteps {
    fn schema_name() -> Cow<'static, str> {
        "RateSteps".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let rate = generator.subschema_for::<Rate>();
        sweep_steps(
            "Requests started per unit of time at each step, rising: a list such as `[1/s, 2/s, 4/s]`, or \
            `from`, `to` and `factor` (multiplied) or `step` (added); `to` is always the last step.",
            rate.clone(),
            rate,
        )
    }
}

fn sweep_steps(description: &str, level: Schema, step: Schema) -> Schema {
    let max = crate::spec::limits::MAX_SWEEP_STEPS;
    json_schema!({
        "description": description,
        "anyOf": [
            {"type": "array", "items": level, "minItems": 1, "maxItems": max},
            {
                "type": "object",
                "additionalProperties": false,
                "required": ["from", "to"],
                "properties": {
                    "from": {"description": "The first step's load.", "allOf": [level]},
                    "to": {"description": "The last step's load.", "allOf": [level]},
                    "factor": {"description": "Each step's load is the previous one's times this (above 1).", "type": "number", "exclusiveMinimum": 1},
                    "step": {"description": "Each step's load is the previous one's plus this.", "allOf": [step]}
                },
                "oneOf": [{"required": ["factor"]}, {"required": ["step"]}]
            }
        ]
    })
}

definition! {
    /// A bound on the highest load of a concurrency sweep at which every threshold held.
    ConcurrencyCapacity => json_schema!({
        "description": "The highest concurrency of the sweep at which every threshold held, bounded by a number: \
            `capacity(concurrency) >= 20`. Only in a test with `load.sweep.concurrency`.",
        "type": "string",
        "pattern": grammar::capacity_threshold(Unit::Plain),
        "patternErrorMessage": "a bound such as `capacity(concurrency) >= 20`"
    })
}

definition! {
    /// A bound on the highest rate of a rate sweep at which every threshold held.
    RateCapacity => json_schema!({
        "description": "The highest rate of the sweep at which every threshold held, bounded by a rate: \
            `capacity(rate) >= 4/s`. Only in a test with `load.sweep.rate`.",
        "type": "string",
        "pattern": grammar::capacity_threshold(Unit::PerSecond),
        "patternErrorMessage": "a bound such as `capacity(rate) >= 4/s`"
    })
}

definition! {
    /// A bound on a time.
    DurationBound => json_schema!({
        "description": "A comparison with a duration: `<`, `<=`, `>`, `>=`, `==` or `!=`, then e.g. `250ms`, `5s`, `2m`.",
        "type": "string",
        "pattern": grammar::comparison(Some(Unit::Seconds)),
        "patternErrorMessage": "a comparison with a duration, such as `< 5s` or `<= 250ms`",
        "examples": ["< 5s", "<= 250ms"]
    })
}

definition! {
    /// A bound on a count or a plain number.
    NumberBound => json_schema!({
        "description": "A comparison with a number: `<`, `<=`, `>`, `>=`, `==` or `!=`, then a number.",
        "type": "string",
        "pattern": grammar::comparison(Some(Unit::Plain)),
        "patternErrorMessage": "a comparison with a number, such as `>= 2` or `> 50`",
        "examples": [">= 2", "> 50"]
    })
}

definition! {
    /// Where a value of the answer is read.
    JsonPath => json_schema!({
        "description": "A JSONPath query (RFC 9535) from the root `$`, e.g. `$.choices[0].message.content`.",
        "type": "string",
        "pattern": grammar::JSON_PATH,
        "patternErrorMessage": "a JSONPath starts with `$`, e.g. `$.choices[0].message.content`",
        "examples": ["$.choices[0].message.content", "$.usage.completion_tokens"]
    })
}

definition! {
    /// A condition in CEL (`require`, `expect.that`) or a computed value (`capture.expr`).
    Expression => json_schema!({
        "description": "An expression in CEL (docs/expressions.md): the response, the request, the metrics, vars, \
            captures and earlier tests by name, e.g. `response.body.usage.completion_tokens <= 16`.",
        "type": "string",
        "examples": ["response.status == 200", "size(response.body.choices) == 1"]
    })
}

definition! {
    /// A threshold over the built-in names: the schema knows every name and the unit it takes.
    ThresholdBound => json_schema!({
        "description": "A bound over a built-in series or number, with the quantity its unit takes.",
        "type": "string",
        "pattern": grammar::threshold_bound(),
        "patternErrorMessage": "a bound such as `p99(latency) < 5s`, `error_rate < 0.1%` or `mean(tokens_per_second) > 50`; see the names in docs/thresholds.md"
    })
}

definition! {
    /// A threshold over a series the test samples: its name is the spec's.
    SampledThreshold => json_schema!({
        "description": "A bound over a series sampled by this test (`sample:`): `min`, `max`, `mean`, `avg`, `first` \
            or `last` with a number, `slope` with a rate such as `50/h`.",
        "type": "string",
        "pattern": grammar::sampled_threshold(),
        "patternErrorMessage": "a bound over a sampled series, such as `max(rss_mb) < 2000` or `slope(rss_mb) < 50/h`"
    })
}

definition! {
    /// A threshold over a step's recorded duration: its name is the spec's.
    StepThreshold => json_schema!({
        "description": "A bound over a duration a step of this test recorded with `as`, e.g. `recovery < 30s`.",
        "type": "string",
        "pattern": grammar::step_threshold(),
        "patternErrorMessage": "a bound over a step's duration, such as `recovery < 30s`",
        "not": {"pattern": grammar::scalar_first()}
    })
}

definition! {
    /// A threshold that is not a plain bound.
    ThresholdCondition => json_schema!({
        "description": "A condition in CEL over the measured values (docs/expressions.md), e.g. \
            `p99(ttft) < 4 * p50(ttft)`. A text that reads as a plain bound is one, and must name known values.",
        "type": "string",
        "pattern": grammar::HAS_OPERATOR,
        "patternErrorMessage": "a threshold compares: `p99(latency) < 5s`",
        "not": {"pattern": grammar::looks_like_a_bound()}
    })
}

/// One entry of `expect.thresholds`: a bound in the grammar of docs/thresholds.md, or a condition.
pub struct Threshold;

impl JsonSchema for Threshold {
    fn schema_name() -> Cow<'static, str> {
        "Threshold".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let quoted = |names: &[&str]| names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        let series_functions: Vec<&str> = grammar::named_series_statistics().collect();
        let description = format!(
            "A bound on the aggregate of the test's requests, `value op quantity` (docs/thresholds.md). The value \
             is `function(series)` with function {} or `pNN` (`p99`, `p99.9`) and series {}; a number of the run: \
             {}; `drift(series)`; a sampled series' {} or `slope`; a step's `as` name; or, in a sweep, `capacity(concurrency)` or \
             `capacity(rate)`. The quantity is a \
             duration for times (`5s`), a percentage for shares (`0.1%`), a rate for per-second values (`4/s`), \
             a number for counts. Any other text with an operator is a condition in CEL (docs/expressions.md).",
            quoted(&series_functions),
            quoted(SeriesName::NAMES),
            quoted(ScalarName::NAMES),
            quoted(Statistic::FOR_SAMPLES),
        );
        let alternatives = [
            generator.subschema_for::<ThresholdBound>(),
            generator.subschema_for::<SampledThreshold>(),
            generator.subschema_for::<StepThreshold>(),
            generator.subschema_for::<ConcurrencyCapacity>(),
            generator.subschema_for::<RateCapacity>(),
            generator.subschema_for::<ThresholdCondition>(),
        ];
        json_schema!({
            "description": description,
            "anyOf": alternatives,
            "examples": [
                "p99(latency) < 5s",
                "mean(tokens_per_second) > 50",
                "error_rate < 0.1%",
                "success_rate == 100%",
                "req_per_s >= 4/s",
                "drift(latency) < 20%",
                "capacity(concurrency) >= 20",
                "p99(ttft) < 4 * p50(ttft)"
            ]
        })
    }
}

/// `expect.metrics`: a bound per metric, keyed by the metric's name.
pub struct MetricBounds;

impl JsonSchema for MetricBounds {
    fn schema_name() -> Cow<'static, str> {
        "MetricBounds".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut properties = Map::new();
        for metric in MetricName::ALL {
            let mut bound = match metric.unit() {
                Unit::Seconds => generator.subschema_for::<DurationBound>(),
                Unit::Plain => generator.subschema_for::<NumberBound>(),
                unit => json_schema!({"type": "string", "pattern": grammar::comparison(Some(unit))}),
            };
            bound.insert("description".into(), metric.description().into());
            properties.insert(metric.name().into(), bound.to_value());
        }
        json_schema!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false
        })
    }
}

/// JSONPath queries and what their results must satisfy (`expect.json`, `expect.events`,
/// `tool_call.arguments`).
pub struct JsonChecks;

impl JsonSchema for JsonChecks {
    fn schema_name() -> Cow<'static, str> {
        "JsonChecks".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let predicate = generator.subschema_for::<crate::spec::model::Predicate>();
        json_schema!({
            "type": "object",
            "propertyNames": {
                "pattern": grammar::JSON_PATH,
                "patternErrorMessage": "a JSONPath starts with `$`, e.g. `$.choices[0].message.content`"
            },
            "additionalProperties": predicate
        })
    }
}

/// A request's JSON body: any JSON, where a mapping whose only key is `$fill` stands for a long
/// text made when the request is sent (`spec::fill`).
pub struct JsonBody;

impl JsonSchema for JsonBody {
    fn schema_name() -> Cow<'static, str> {
        "JsonBody".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let fill = generator.subschema_for::<Fill>();
        json_schema!({
            "if": {"type": "object", "required": [crate::spec::fill::FILL], "maxProperties": 1},
            "then": {"properties": {crate::spec::fill::FILL: fill}},
            "else": {
                "additionalProperties": {"$ref": "#/$defs/JsonBody"},
                "items": {"$ref": "#/$defs/JsonBody"}
            }
        })
    }
}

definition! {
    /// The settings of a `$fill`. Its values are JSON as written, not decoded: a text is a
    /// string, a number a number.
    Fill => json_schema!({
        "description": "A text of about `tokens × ratio` tokens, made when the request is sent (docs/specs.md).",
        "type": "object",
        "properties": {
            "tokens": {"type": "number", "description": "The size, in tokens (a number, or a `${capture}` holding one)."},
            "ratio": {"type": "number", "description": "A factor on `tokens`: `0.9` stays under a window, `1.5` goes past it (default 1)."},
            "chars_per_token": {"type": "number", "description": "Characters counted per token (default 4)."},
            "text": {"type": "string", "minLength": 1, "description": "The filler, repeated as often as needed."},
            "needle": {"type": "string", "description": "A text placed once inside the filler."},
            "depth": {
                "type": "number", "minimum": 0, "maximum": 1,
                "description": "Where the needle goes: 0 at the start of the filler, 1 at its end (default 0.5)."
            },
            "before": {"type": "string", "description": "A text that opens the string (the question, typically)."},
            "after": {"type": "string", "description": "A text that closes the string."}
        },
        "required": ["tokens"],
        "dependentRequired": {"depth": ["needle"]},
        "additionalProperties": false
    })
}

definition! {
    /// An inline JSON Schema of `expect.schema`.
    InlineSchema => json_schema!({
        "description": "A JSON Schema, inline, or a whole reference to a variable holding one. Without `$schema` \
            it is read as Draft 2020-12.",
        "anyOf": [
            {"type": "object", "required": ["$schema"]},
            {"$ref": "https://json-schema.org/draft/2020-12/schema"},
            {"$ref": "#/$defs/Reference"}
        ]
    })
}
