//! JSON Schema checks: on any selected value, and on tool-call arguments.

use super::JsonQuery;
use serde_json::Value;

/// A compiled schema.
pub struct Schema(jsonschema::Validator);

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schema")
    }
}

impl Schema {
    pub fn compile(schema: &Value) -> Result<Schema, String> {
        jsonschema::validator_for(schema).map(Schema).map_err(|e| format!("invalid JSON Schema: {e}"))
    }

    /// Every violation as `at <instance path>: <message>`, at most a handful.
    pub fn violations(&self, instance: &Value) -> Vec<String> {
        self.0
            .iter_errors(instance)
            .take(5)
            .map(|e| {
                let path = e.instance_path().to_string();
                let at = if path.is_empty() { "/".to_string() } else { path };
                format!("at {at}: {e}")
            })
            .collect()
    }
}

/// `expect.schema` entry: the value selected by `at` (parsed first when it is a JSON string and
/// `parse` is set) must validate.
#[derive(Debug)]
pub struct SchemaCheck {
    pub loc: crate::vocab::Loc,
    pub at: JsonQuery,
    pub parse: bool,
    pub schema: Schema,
    /// Where the schema came from, for messages: `inline` or a file name.
    pub origin: String,
}

impl SchemaCheck {
    pub fn evaluate(&self, json: Option<&Value>) -> Result<(), (String, String)> {
        let expected = format!("a value at {} valid against the {} schema", self.at.text, self.origin);
        let selected = json.and_then(|j| self.at.select(j));
        let Some(selected) = selected else {
            return Err((expected, "nothing (no match)".into()));
        };
        let instance = if self.parse {
            match selected.as_str().map(serde_json::from_str::<Value>) {
                Some(Ok(v)) => v,
                Some(Err(e)) => {
                    return Err((expected, format!("a string that is not JSON ({e}): {}", short(&selected))));
                }
                None => return Err((expected, format!("not a string: {}", short(&selected)))),
            }
        } else {
            selected
        };
        let violations = self.schema.violations(&instance);
        if violations.is_empty() {
            Ok(())
        } else {
            Err((expected, format!("{} — {}", short(&instance), violations.join("; "))))
        }
    }
}

fn short(v: &Value) -> String {
    crate::vocab::text::trim_middle(&v.to_string(), 300)
}
