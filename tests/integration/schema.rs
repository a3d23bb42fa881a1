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

/// Probes of the corpus that `llmspec validate` refuses while the schema accepts them, because
/// what is wrong cannot be said in a JSON Schema; docs/schema.md explains each kind. A probe is
/// listed here only as long as the two disagree on it.
const THE_SCHEMA_CANNOT_TELL: &[(&str, &str)] = &[
    // Not in the file.
    ("relative-path-without-base-url.yaml", "`--base-url` on the command line may give the base URL"),
    ("prometheus-without-base-url.yaml", "`--base-url` on the command line may give the base URL"),
    ("tls-missing-file.yaml", "whether a file exists is a question for the file system"),
    ("schema-check-missing-file.yaml", "whether a file exists is a question for the file system"),
    ("undefined-variable.yaml", "a reference names a var, a secret, a `--var`, an environment variable or a capture"),
    // Relations between values: a schema compares shapes, never one value with another.
    ("capture-used-too-early.yaml", "a capture may be used only after the test that makes it: an order between tests"),
    ("duplicate-test-names.yaml", "`uniqueItems` compares whole items, not one key of each"),
    ("threshold-unknown-step.yaml", "the schema knows that the test records steps, not their `as` names"),
    ("soak-too-many-windows.yaml", "a soak holds at most 120 windows: `duration` divided by `window`"),
    // Languages a regular expression cannot parse (nested brackets, names defined elsewhere).
    ("require-bad-condition.yaml", "CEL"),
    ("that-unknown-name.yaml", "CEL, with names from vars, captures and earlier tests"),
    ("capture-expr-bad.yaml", "CEL"),
    ("threshold-bad-condition.yaml", "a threshold that is not a plain bound is CEL"),
    ("json-path-broken.yaml", "JSONPath beyond its leading `$`"),
    ("regex-invalid.yaml", "Rust regular expressions, which ECMA-262's `format: regex` would misjudge"),
    // YAML values that JSON has no form for.
    ("sample-infinite-scale.yaml", "`.inf` has no JSON form: the file read as JSON holds null"),
    // Magnitudes that digit patterns cannot bound.
    ("rate-too-slow.yaml", "the slowest rate, one request in 720h, has no finite decimal form per s, m or h"),
    ("rate-exponent-too-fast.yaml", "a number with an exponent has any number of digits"),
];

/// The probes of `dir`, in name order.
fn probes(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_schema_and_validate_agree_on_the_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = Path::new("tests/data/schema-corpus");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("schemas/llmspec.schema.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut seen = vec![];
    let mut disagreements = vec![];
    let mut agreeing_but_listed = vec![];
    for (dir, valid) in [("valid", true), ("invalid", false)] {
        for file in probes(&root.join(corpus).join(dir)) {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let relative = corpus.join(dir).join(&name);
            let text = std::fs::read_to_string(&file).unwrap();
            // The corpus is right first: each probe is as valid as its folder says, and an invalid
            // one is refused for the reason it was written for.
            let out = llmspec(&["validate", relative.to_str().unwrap()]);
            assert_eq!(out.code, if valid { 0 } else { 2 }, "{dir}/{name}: validate said {}", out.stderr);
            if let Some(reason) = text.lines().find_map(|l| l.strip_prefix("# error: ")) {
                assert!(!valid, "{dir}/{name}: a valid probe names an error");
                assert!(out.stderr.contains(reason), "{dir}/{name}: expected `{reason}` in {}", out.stderr);
            } else {
                assert!(valid, "{dir}/{name}: an invalid probe says which error it expects (`# error: ...`)");
            }
            let errors: Vec<String> = match llmspec_core::spec::yaml::parse(&text) {
                Ok(tree) => {
                    validator.iter_errors(&tree.to_json()).map(|e| format!("{}: {e}", e.instance_path())).collect()
                }
                Err(e) => vec![format!("line {}: {}", e.loc.line, e.message)],
            };
            let listed = THE_SCHEMA_CANNOT_TELL.iter().any(|(probe, _)| *probe == name);
            // The schema may let a mistake through, never refuse a valid spec.
            assert!(!(valid && listed), "{dir}/{name}: a valid probe cannot be a known difference");
            match (errors.is_empty() == valid, listed) {
                (true, false) | (false, true) => {}
                (true, true) => agreeing_but_listed.push(name.clone()),
                (false, false) if valid => {
                    disagreements.push(format!("{dir}/{name}: the schema refuses it: {errors:?}"))
                }
                (false, false) => disagreements.push(format!("{dir}/{name}: the schema accepts it")),
            }
            seen.push(name);
        }
    }
    assert!(seen.len() >= 50, "the corpus has {} probes", seen.len());
    assert!(disagreements.is_empty(), "the schema and validate disagree:\n{}", disagreements.join("\n"));
    assert!(
        agreeing_but_listed.is_empty(),
        "the schema now agrees with validate on {agreeing_but_listed:?}: take them out of THE_SCHEMA_CANNOT_TELL"
    );
    let docs = std::fs::read_to_string(root.join("docs/schema.md")).unwrap();
    for (probe, _) in THE_SCHEMA_CANNOT_TELL {
        assert!(seen.iter().any(|s| s == probe), "{probe} is listed but not in the corpus");
        assert!(docs.contains(probe), "docs/schema.md does not mention {probe}");
    }
}
