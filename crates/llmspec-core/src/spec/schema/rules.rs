//! Rules between the keys of one mapping — exactly one of, not together, only with — that the
//! spec types cannot state by themselves. `#[schemars(transform = ...)]` adds them to the schema
//! of the type; `spec::check` enforces the same rules when a spec is loaded.

use schemars::Schema;
use serde_json::{Value, json};

/// The key is given, and not `null` (which the decoder reads as absent).
fn given(key: &str) -> Value {
    json!({"required": [key], "properties": {key: {"not": {"type": "null"}}}})
}

/// The list under `key` is given with at least one item.
fn given_list(key: &str) -> Value {
    json!({"required": [key], "properties": {key: {"type": "array", "minItems": 1}}})
}

/// The mapping under `key` is given with at least one entry.
fn given_map(key: &str) -> Value {
    json!({"required": [key], "properties": {key: {"type": "object", "minProperties": 1}}})
}

fn exactly_one(options: Vec<Value>) -> Value {
    json!({"oneOf": options})
}

fn not_together(a: Value, b: Value) -> Value {
    json!({"not": {"allOf": [a, b]}})
}

fn only_with(this: Value, that: Value) -> Value {
    json!({"if": this, "then": that})
}

fn definition(name: &str) -> Value {
    json!({"$ref": format!("#/$defs/{name}")})
}

/// Adds a rule the whole mapping must satisfy.
fn add(schema: &mut Schema, rule: Value) {
    match schema.get_mut("allOf").and_then(Value::as_array_mut) {
        Some(rules) => rules.push(rule),
        None => {
            schema.insert("allOf".into(), json!([rule]));
        }
    }
}

/// The keys of the schema's `properties`.
fn keys(schema: &Schema) -> Vec<String> {
    schema.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect()).unwrap_or_default()
}

/// What every item of the test's `expect.thresholds` must satisfy.
fn every_threshold(item: Value) -> Value {
    json!({"properties": {"expect": {"properties": {"thresholds": {"items": item}}}}})
}

pub fn test(schema: &mut Schema) {
    let runs_many = || json!({"anyOf": [given("repeat"), given("load"), given("soak")]});
    add(schema, exactly_one(vec![given("request"), given_list("steps")]));
    add(
        schema,
        json!({"not": {"anyOf": [
            {"allOf": [given("repeat"), given("load")]},
            {"allOf": [given("repeat"), given("soak")]},
            {"allOf": [given("load"), given("soak")]}
        ]}}),
    );
    add(schema, only_with(given_map("sample"), runs_many()));
    add(schema, not_together(runs_many(), given_map("capture")));
    add(schema, not_together(runs_many(), given_list("steps")));
    // A threshold may name a sampled series or a step only when the test has some: the names
    // themselves are the spec's, so the schema cannot check them one by one.
    let unless = |bound: &str| json!({"anyOf": [definition("ThresholdBound"), {"not": definition(bound)}]});
    add(schema, only_with(json!({"not": given_map("sample")}), every_threshold(unless("SampledThreshold"))));
    add(schema, only_with(json!({"not": given_list("steps")}), every_threshold(unless("StepThreshold"))));
    // `capacity(concurrency)` is measured by a concurrency sweep only, `capacity(rate)` by a
    // rate sweep only.
    for (axis, capacity) in [("concurrency", "ConcurrencyCapacity"), ("rate", "RateCapacity")] {
        let sweeps = json!({"required": ["load"], "properties": {"load": {
            "required": ["sweep"], "properties": {"sweep": given(axis)}
        }}});
        add(schema, only_with(json!({"not": sweeps}), every_threshold(unless(capacity))));
    }
}

pub fn request(schema: &mut Schema) {
    // The method keys are the upper-case ones.
    let methods = keys(schema).into_iter().filter(|k| k.chars().all(|c| c.is_ascii_uppercase()));
    add(schema, exactly_one(methods.map(|m| given(&m)).collect()));
    add(schema, not_together(given("json"), given("body")));
}

pub fn step(schema: &mut Schema) {
    add(schema, exactly_one(vec![given("exec"), given("sleep"), given("wait_until")]));
}

pub fn load(schema: &mut Schema) {
    add(schema, exactly_one(vec![given("requests"), given("duration"), given("sweep")]));
    let rate_sweep = json!({"required": ["sweep"], "properties": {"sweep": given("rate")}});
    add(schema, only_with(given("arrival"), json!({"anyOf": [given("rate"), rate_sweep]})));
    // A concurrency sweep sets the concurrency of each step; a rate sweep, the rate.
    let concurrency_sweep = json!({"required": ["sweep"], "properties": {"sweep": given("concurrency")}});
    add(schema, not_together(concurrency_sweep, json!({"anyOf": [given("concurrency"), given("rate")]})));
    add(schema, not_together(rate_sweep, given("rate")));
}

pub fn sweep(schema: &mut Schema) {
    add(schema, exactly_one(vec![given("concurrency"), given("rate")]));
    add(schema, exactly_one(vec![given("requests"), given("duration")]));
}

pub fn soak(schema: &mut Schema) {
    add(schema, exactly_one(vec![given("interval"), given("concurrency")]));
}

pub fn sample_source(schema: &mut Schema) {
    add(schema, exactly_one(vec![given("prometheus"), given("process"), given_list("command")]));
}

pub fn process_source(schema: &mut Schema) {
    add(schema, exactly_one(vec![given("pid"), given("name")]));
}

pub fn capture_from(schema: &mut Schema) {
    add(schema, exactly_one(vec![given("json"), given("header"), given("regex"), given("expr")]));
}

pub fn schema_expect(schema: &mut Schema) {
    add(schema, exactly_one(vec![given("schema"), given("file")]));
}

pub fn tool_call_expect(schema: &mut Schema) {
    add(schema, not_together(given("select"), given("index")));
}

/// A mapping of operators holds at least one.
pub fn predicate_ops(schema: &mut Schema) {
    let operators = keys(schema).into_iter().map(|k| given(&k)).collect::<Vec<_>>();
    add(schema, json!({"anyOf": operators}));
}
