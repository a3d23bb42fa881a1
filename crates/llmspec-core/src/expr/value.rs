//! JSON in and out of CEL values.
//!
//! Our own conversion rather than the crate's serde bridge: that one turns every non-negative
//! JSON integer into an unsigned int, and CEL refuses `uint + int`, so `usage.total_tokens + 1`
//! would fail.

use cel::Value;
use cel::objects::{Key, Map};
use std::collections::HashMap;
use std::sync::Arc;

pub fn to_cel(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(items) => Value::List(Arc::new(items.iter().map(to_cel).collect())),
        serde_json::Value::Object(members) => {
            let map: HashMap<Key, Value> =
                members.iter().map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v))).collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

pub fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => (*i).into(),
        Value::UInt(u) => (*u).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::Bytes(b) => serde_json::Value::String(String::from_utf8_lossy(b).into_owned()),
        Value::List(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => {
            let mut members: Vec<(String, serde_json::Value)> = m
                .map
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Key::String(s) => s.to_string(),
                        Key::Int(i) => i.to_string(),
                        Key::Uint(u) => u.to_string(),
                        Key::Bool(b) => b.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(members.into_iter().collect())
        }
        other => serde_json::Value::String(format!("{other:?}")),
    }
}

/// A value in the words of a failure message: JSON, shortened.
pub fn show(v: &Value) -> String {
    crate::vocab::text::trim_middle(&to_json(v).to_string(), 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_stay_signed_and_round_trip() {
        let body = json!({"usage": {"total_tokens": 15, "ratio": 0.5}, "list": [1, "a", null, true], "big": u64::MAX});
        let cel = to_cel(&body);
        assert_eq!(to_json(&cel), body);
        let Value::Map(m) = cel else { panic!() };
        let Some(Value::Map(usage)) = m.map.get(&Key::String(Arc::new("usage".into()))) else { panic!() };
        assert_eq!(usage.map.get(&Key::String(Arc::new("total_tokens".into()))), Some(&Value::Int(15)));
    }
}
