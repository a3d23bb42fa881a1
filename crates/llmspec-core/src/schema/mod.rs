//! The editor schema of spec files, generated from the spec types.

pub mod fields;
pub mod grammar;

use crate::spec::model::SuiteFile;
use serde_json::{Value, json};

/// Pretty JSON, as checked in at `schemas/llmspec.schema.json`.
pub fn generate() -> String {
    serde_json::to_string_pretty(&schema()).unwrap_or_default()
}

/// The schema as a JSON value.
pub fn schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(SuiteFile)).unwrap_or_default();
    allow_references(&mut schema);
    if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
        defs.insert(
            "Reference".into(),
            json!({
                "description": "A whole `${name}` or `${env.NAME:-default}` reference, replaced by a value of the right type.",
                "type": "string",
                "pattern": "^\\$\\{.+\\}$"
            }),
        );
    }
    schema
}

/// Numbers and booleans may be written as a whole reference (`requests: "${n}"`), which
/// interpolation turns into a value of the right type before decoding.
fn allow_references(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let typed = match map.get("type") {
                Some(Value::String(t)) => matches!(t.as_str(), "integer" | "number" | "boolean"),
                Some(Value::Array(ts)) => {
                    ts.iter().any(|t| matches!(t.as_str(), Some("integer" | "number" | "boolean")))
                }
                _ => false,
            };
            if typed {
                let original = Value::Object(std::mem::take(map));
                let description = original.get("description").cloned();
                map.insert("anyOf".into(), json!([original, {"$ref": "#/$defs/Reference"}]));
                if let Some(d) = description {
                    map.insert("description".into(), d);
                }
                return;
            }
            map.values_mut().for_each(allow_references);
        }
        Value::Array(items) => items.iter_mut().for_each(allow_references),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_described() {
        fn walk(v: &Value, at: &str, missing: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::Object(properties)) = map.get("properties") {
                        for (key, property) in properties {
                            // Properties inside rules (`given`, `then`) only restate a key.
                            let restated = at.contains("allOf") || at.contains("/if") || at.contains("/then");
                            if property.get("description").is_none() && !restated {
                                missing.push(format!("{at}/{key}"));
                            }
                        }
                    }
                    for (key, value) in map {
                        walk(value, &format!("{at}/{key}"), missing);
                    }
                }
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(item, &format!("{at}/{i}"), missing);
                    }
                }
                _ => {}
            }
        }
        let mut missing = vec![];
        walk(&schema(), "", &mut missing);
        assert!(missing.is_empty(), "keys without a description: {missing:#?}");
    }
}
