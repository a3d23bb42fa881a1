//! The module graph is what the README's Layout section says: every top-level module of `src/`
//! is listed there, and a module only imports modules listed below it. So data flows one way and
//! no import ever goes back up.

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

/// The modules in the order of the README's Layout block (`src/x/` or `src/x.rs` lines).
fn layout_order(readme: &str) -> Vec<String> {
    let section = readme.split("## Layout").nth(1).expect("a Layout section in the README");
    let block = section.split("```").nth(1).expect("a code block in the Layout section");
    let line = Regex::new(r"^src/([a-z_][a-z0-9_]*)(/|\.rs)").unwrap();
    block.lines().filter_map(|l| line.captures(l.trim()).map(|c| c[1].to_string())).collect()
}

#[test]
fn imports_only_go_down_the_readme_layout() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let graph = module_graph(&root.join("src"));
    let order = layout_order(&std::fs::read_to_string(root.join("README.md")).unwrap());
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
