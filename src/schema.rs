//! The editor schema of spec files, generated from the spec types.

use crate::spec::model::SuiteFile;

/// Pretty JSON, as checked in at `schemas/llmspec.schema.json`.
pub fn generate() -> String {
    let schema = schemars::schema_for!(SuiteFile);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
