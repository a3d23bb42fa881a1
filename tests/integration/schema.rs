//! The editor schema is generated from the spec types, checked in, and true to the examples.

use crate::support::llmspec;
use std::path::Path;

fn spec_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            spec_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

#[test]
fn the_checked_in_schema_matches_the_types() {
    let generated = llmspec(&["schema"]).stdout;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let checked_in = std::fs::read_to_string(root.join("schemas/llmspec.schema.json")).unwrap();
    assert!(
        generated.trim() == checked_in.trim(),
        "schemas/llmspec.schema.json is out of date: run `cargo run -- schema > schemas/llmspec.schema.json`"
    );
}

#[test]
fn every_example_spec_declares_and_satisfies_the_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("schemas/llmspec.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut files = vec![];
    spec_files(&root.join("specs"), &mut files);
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.lines().next().is_some_and(|l| l.starts_with("# yaml-language-server: $schema=")),
            "{} does not start with the yaml-language-server schema line",
            file.display()
        );
        let relative = text.lines().next().unwrap().trim_start_matches("# yaml-language-server: $schema=");
        assert!(
            file.parent().unwrap().join(relative).exists(),
            "{}: the schema path {relative} does not exist",
            file.display()
        );
        let json = llmspec_core::spec::yaml::parse(&text).unwrap().to_json();
        let errors: Vec<String> = validator.iter_errors(&json).map(|e| format!("{}: {e}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{} does not satisfy the schema: {errors:?}", file.display());
    }
}
