//! Hand-written JSON output for the hot paths (stream chunks) and for tool arguments,
//! which vLLM renders with Python's separators (`{"city": "Paris"}`).

use serde_json::Value;

/// Appends `s` as a JSON string literal (non-ASCII kept as is).
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `value` as Python's `json.dumps(value, ensure_ascii=False)` writes it.
pub fn python_style(value: &Value) -> String {
    let mut out = String::new();
    push_python(&mut out, value);
    out
}

fn push_python(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_str(out, k);
                out.push_str(": ");
                push_python(out, v);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_python(out, v);
            }
            out.push(']');
        }
        Value::String(s) => push_str(out, s),
        other => out.push_str(&other.to_string()),
    }
}
