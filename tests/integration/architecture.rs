//! The crate and module graphs are what the README's Layout section says: every crate and every
//! top-level module of the spec runner is listed there, and each only depends on what is listed
//! below it. So data flows one way and no import ever goes back up.

use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level module → the top-level modules it names (`crate::x`, or `super::` chains that
/// climb to the crate root), tests left out.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = vec![];
    rust_files(src, &mut files);
    let crate_ref = Regex::new(r"crate::([a-z_][a-z0-9_]*)").unwrap();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(src).unwrap();
        let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let top = parts[0].trim_end_matches(".rs").to_string();
        if top == "main" || top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let depth = parts.len() - usize::from(parts.last().is_some_and(|f| f == "mod.rs"));
        let mut names: Vec<String> = crate_ref.captures_iter(code).map(|c| c[1].to_string()).collect();
        if depth >= 1 {
            let climb = Regex::new(&format!(r"\b{}([a-z_][a-z0-9_]*)", "super::".repeat(depth))).unwrap();
            names.extend(climb.captures_iter(code).map(|c| c[1].to_string()));
        }
        let edges = graph.entry(top.clone()).or_default();
        edges.extend(names.into_iter().filter(|n| *n != top && n != "super"));
    }
    graph
}

/// The Layout block of the README.
fn layout_block(readme: &str) -> String {
    let section = readme.split("## Layout").nth(1).expect("a Layout section in the README");
    section.split("```").nth(1).expect("a code block in the Layout section").to_string()
}

/// The workspace's crates in the order of the Layout block: `src/` is the binary `llmspec`,
/// `crates/<name>/` a library crate.
fn crate_order(block: &str) -> Vec<String> {
    let line = Regex::new(r"^(src/|crates/([a-z0-9-]+)/)\s").unwrap();
    block
        .lines()
        .filter_map(|l| line.captures(l))
        .map(|c| c.get(2).map_or("llmspec".to_string(), |m| m.as_str().to_string()))
        .collect()
}

/// The modules of one crate in the order of the indented lines under its line.
fn module_order(block: &str, krate: &str) -> Vec<String> {
    let module = Regex::new(r"^\s+([a-z_][a-z0-9_]*)(/|\.rs)\s").unwrap();
    block
        .lines()
        .skip_while(|l| !l.starts_with(&format!("crates/{krate}/")))
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .filter_map(|l| module.captures(l).map(|c| c[1].to_string()))
        .collect()
}

fn crate_src(root: &Path, krate: &str) -> PathBuf {
    if krate == "llmspec" { root.join("src") } else { root.join("crates").join(krate).join("src") }
}

/// The `llmspec-*` crates named in the `[dependencies]` table of a manifest.
fn workspace_dependencies(manifest: &str) -> Vec<String> {
    let table = manifest.split("\n[dependencies]").nth(1).unwrap_or_default();
    let table = table.split("\n[").next().unwrap_or_default();
    let name = Regex::new(r"(?m)^(llmspec-[a-z0-9-]+)").unwrap();
    name.captures_iter(table).map(|c| c[1].to_string()).collect()
}

#[test]
fn crates_depend_only_on_crates_below_them_in_the_readme_layout() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let order = crate_order(&layout_block(&std::fs::read_to_string(root.join("README.md")).unwrap()));
    let mut on_disk: Vec<String> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.push("llmspec".into());
    on_disk.sort();
    let mut listed = order.clone();
    listed.sort();
    assert_eq!(listed, on_disk, "the README's Layout must list every crate of the workspace");
    for (position, krate) in order.iter().enumerate() {
        let manifest = if krate == "llmspec" {
            root.join("Cargo.toml")
        } else {
            root.join("crates").join(krate).join("Cargo.toml")
        };
        for dependency in workspace_dependencies(&std::fs::read_to_string(manifest).unwrap()) {
            let below = order.iter().position(|c| *c == dependency).is_some_and(|p| p > position);
            assert!(below, "{krate} depends on {dependency}, which is not listed below it in the README's Layout");
        }
    }
}

/// Every crate's top-level modules form a DAG: Kahn's algorithm removes them all.
#[test]
fn no_crate_has_a_module_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for krate in crate_order(&layout_block(&std::fs::read_to_string(root.join("README.md")).unwrap())) {
        let mut graph = module_graph(&crate_src(root, &krate));
        let names: BTreeSet<String> = graph.keys().cloned().collect();
        graph.values_mut().for_each(|tos| tos.retain(|t| names.contains(t)));
        while let Some(leaf) = graph.iter().find(|(_, tos)| tos.is_empty()).map(|(m, _)| m.clone()) {
            graph.remove(&leaf);
            graph.values_mut().for_each(|tos| {
                tos.remove(&leaf);
            });
        }
        assert!(graph.is_empty(), "modules of {krate} in a cycle: {graph:?}");
    }
}

#[test]
fn the_spec_runner_has_no_server_framework_in_its_dependency_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["tree", "--offline", "-p", "llmspec-core", "-e", "normal", "--prefix", "none"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("reqwest"), "the tree is read: {tree}");
    for framework in ["axum ", "llmspec-sim "] {
        assert!(!tree.lines().any(|l| l.starts_with(framework)), "llmspec-core depends on {framework}:\n{tree}");
    }
}

#[test]
fn imports_only_go_down_the_readme_layout() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let graph = module_graph(&crate_src(root, "llmspec-core"));
    let order = module_order(&layout_block(&std::fs::read_to_string(root.join("README.md")).unwrap()), "llmspec-core");
    let position = |m: &str| order.iter().position(|o| o == m);
    let missing: Vec<&String> = graph.keys().filter(|m| position(m).is_none() && *m != "main" && *m != "lib").collect();
    assert!(missing.is_empty(), "modules missing from the README's Layout: {missing:?} (listed: {order:?})");
    let stale: Vec<&String> = order.iter().filter(|m| !graph.contains_key(*m) && *m != "main" && *m != "lib").collect();
    assert!(stale.is_empty(), "the README's Layout lists modules that do not exist: {stale:?}");
    let mut upward = vec![];
    for (from, tos) in &graph {
        for to in tos {
            if let (Some(a), Some(b)) = (position(from), position(to)) {
                if a >= b {
                    upward.push(format!("{from} -> {to}"));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that go up the README's Layout (a module may only import modules listed below it): {upward:?}\nthe graph: {graph:#?}"
    );
}
