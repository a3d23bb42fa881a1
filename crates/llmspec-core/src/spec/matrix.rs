//! One test written, many run: `matrix` (every combination of some variables' values, in the
//! order written) and `data` (one instance per row of a data file or of an inline list) expand
//! a test into instances. Each instance has its own variables, usable as `${name}` anywhere in
//! the test, and its own name, made from them: `03 chat [model=qwen3-32b, temperature=0]`.

use super::dataset::{self, DataFiles};
use super::diag::Diagnostic;
use super::interp::{self, InterpError, Scope, Segment};
use super::limits;
use super::yaml::{Loc, Node, Size, Value};
use crate::vocab::random::fnv1a;
use std::collections::{BTreeSet, HashMap, HashSet};

pub const MATRIX: &str = "matrix";
pub const DATA: &str = "data";

type Problem = (Loc, String);

/// One test to decode and run: a test as written, or one instance of it.
pub struct Instance {
    pub node: Node,
    /// The instance's own variables.
    pub vars: Vec<(String, Node)>,
    /// How its name is completed once the test's references are resolved.
    pub naming: Option<Naming>,
}

pub struct Naming {
    /// The written test it comes from (its position in the file): names are made unique
    /// among the instances of one test.
    pub test: usize,
    /// Its position among the test's instances, from 1.
    pub number: usize,
    /// Shown after the name as ` [model=a, row 3]`: the variables the name does not show.
    pub label: Vec<String>,
}

/// What expanding a file's tests needs and reports into.
pub struct Expander<'a, 's, 'f> {
    pub scope: &'s mut Scope<'a>,
    pub files: &'f mut DataFiles,
    pub problems: Vec<Problem>,
    pub interp_errors: Vec<InterpError>,
    /// Problems inside data files.
    pub diagnostics: Vec<Diagnostic>,
    /// Nodes in all the copies made so far.
    nodes: usize,
}

/// One row of `data`: its variables and how an instance name shows it.
struct DataRow {
    vars: Vec<(String, Node)>,
    label: String,
    /// The field the label comes from: a name that uses it needs no label.
    label_field: Option<String>,
}

impl<'a, 's, 'f> Expander<'a, 's, 'f> {
    pub fn new(scope: &'s mut Scope<'a>, files: &'f mut DataFiles) -> Self {
        Expander { scope, files, problems: vec![], interp_errors: vec![], diagnostics: vec![], nodes: 0 }
    }

    /// The tests of a file as they will run: each test alone, or its instances in order.
    pub fn expand(&mut self, tests: Vec<Node>) -> Vec<Instance> {
        let mut out = vec![];
        for (i, test) in tests.into_iter().enumerate() {
            out.extend(self.instances(i, test));
        }
        out
    }

    fn instances(&mut self, index: usize, mut test: Node) -> Vec<Instance> {
        let (matrix, data) = match &mut test.value {
            Value::Map(entries) => {
                let mut take = |key: &str| {
                    let at = entries.iter().position(|(k, _)| k.as_str() == Some(key))?;
                    Some(entries.remove(at).1)
                };
                (take(MATRIX), take(DATA))
            }
            _ => (None, None),
        };
        if matrix.is_none() && data.is_none() {
            return vec![Instance { node: test, vars: vec![], naming: None }];
        }
        let before = self.problems.len() + self.interp_errors.len() + self.diagnostics.len();
        let matrix = matrix.map(|m| self.matrix(m)).unwrap_or_default();
        let data_loc = data.as_ref().map(|d| d.loc);
        let rows = data.map(|d| self.data(d));
        if self.problems.len() + self.interp_errors.len() + self.diagnostics.len() > before {
            return vec![];
        }
        let at = data_loc.unwrap_or(test.loc);
        let mut count = matrix.iter().try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()));
        if let Some(rows) = &rows {
            count = count.and_then(|n| n.checked_mul(rows.len()));
            let fields: BTreeSet<&str> = rows.iter().flat_map(|r| r.vars.iter().map(|(n, _)| n.as_str())).collect();
            if let Some((name, _)) = matrix.iter().find(|(name, _)| fields.contains(name.as_str())) {
                let message = format!("`{name}` is both a matrix variable and a field of the data rows: rename one");
                self.problems.push((at, message));
                return vec![];
            }
        }
        let count = match count {
            Some(n) if n <= limits::MAX_INSTANCES => n,
            _ => {
                let message = format!(
                    "`matrix` and `data` make this test more than {} instances; split it into several tests",
                    limits::MAX_INSTANCES
                );
                self.problems.push((at, message));
                return vec![];
            }
        };
        let copies = Size::of(&test).nodes.saturating_mul(count);
        self.nodes = self.nodes.saturating_add(copies);
        if self.nodes > limits::MAX_INSTANCE_NODES {
            let message = format!(
                "the instances of this file's tests (`matrix`, `data`) would hold more than {} YAML nodes; make the tests or their data smaller",
                limits::MAX_INSTANCE_NODES
            );
            self.problems.push((at, message));
            return vec![];
        }
        let named = names_used(&test);
        let rows = rows.unwrap_or_else(|| vec![DataRow { vars: vec![], label: String::new(), label_field: None }]);
        let combinations = count / rows.len().max(1);
        let mut out = Vec::with_capacity(count);
        for combination in 0..combinations {
            let picks = pick(&matrix, combination);
            for row in &rows {
                let mut vars: Vec<(String, Node)> = picks.iter().map(|(n, v)| (n.to_string(), (*v).clone())).collect();
                vars.extend(row.vars.iter().cloned());
                let mut label: Vec<String> = picks
                    .iter()
                    .filter(|(name, _)| !named.contains(*name))
                    .map(|(name, value)| format!("{name}={}", short(value)))
                    .collect();
                let shown = row.label_field.as_ref().is_some_and(|f| named.contains(f.as_str()));
                if !row.label.is_empty() && !shown {
                    label.push(row.label.clone());
                }
                let naming = Naming { test: index, number: out.len() + 1, label };
                out.push(Instance { node: test.clone(), vars, naming: Some(naming) });
            }
        }
        out
    }

    /// `matrix:` → each variable with its values, in the order written.
    fn matrix(&mut self, mut node: Node) -> Vec<(String, Vec<Node>)> {
        self.scope.interpolate(&mut node, 3, false, &mut self.interp_errors);
        let Value::Map(entries) = node.value else {
            let message = "`matrix` maps variable names to lists of values, e.g. `matrix: { model: [a, b] }`";
            self.problems.push((node.loc, message.into()));
            return vec![];
        };
        if entries.is_empty() {
            self.problems.push((node.loc, "`matrix` names no variable".into()));
        }
        let mut out = vec![];
        for (key, values) in entries {
            let name = key.scalar_text();
            if !interp::is_name(&name) {
                let message = format!(
                    "`{name}` cannot be written as `${{...}}`: a variable's name has letters, digits, `_` and `-` only"
                );
                self.problems.push((key.loc, message));
                continue;
            }
            match values.value {
                Value::Seq(items) if items.is_empty() => {
                    self.problems.push((values.loc, format!("`{name}` lists no values: the test would never run")));
                }
                Value::Seq(items) => out.push((name, items)),
                _ => {
                    let message = format!("`{name}` lists the values to try: write a list, e.g. `{name}: [a, b]`");
                    self.problems.push((values.loc, message));
                }
            }
        }
        out
    }

    /// `data:` → its rows: a file's name, a mapping `{ file, name }`, or a list of mappings.
    fn data(&mut self, mut node: Node) -> Vec<DataRow> {
        self.scope.interpolate(&mut node, 3, false, &mut self.interp_errors);
        match &node.value {
            Value::Str { text, .. } => self.file_rows(text, node.loc, None),
            Value::Map(entries) => {
                let mut file = None;
                let mut name_field = None;
                for (key, value) in entries {
                    match (key.as_str(), value.as_str()) {
                        (Some("file"), Some(f)) => file = Some((f.to_string(), value.loc)),
                        (Some("name"), Some(n)) => name_field = Some(n.to_string()),
                        (Some(k @ ("file" | "name")), None) => {
                            self.problems.push((value.loc, format!("`data.{k}` is a string, not {}", value.kind())));
                        }
                        _ => {
                            let message =
                                crate::vocab::suggest::unknown("key", &key.scalar_text(), &["file", "name"], "");
                            self.problems.push((key.loc, message));
                        }
                    }
                }
                match file {
                    Some((file, loc)) => self.file_rows(&file, loc, name_field),
                    None => {
                        self.problems.push((node.loc, "`data` needs a `file`".into()));
                        vec![]
                    }
                }
            }
            Value::Seq(items) if items.is_empty() => {
                self.problems.push((node.loc, "`data` lists no rows: the test would never run".into()));
                vec![]
            }
            Value::Seq(items) => {
                let mut rows = vec![];
                for (i, item) in items.iter().enumerate() {
                    let Value::Map(entries) = &item.value else {
                        let message = format!("a row of `data` is a mapping of names to values, not {}", item.kind());
                        self.problems.push((item.loc, message));
                        continue;
                    };
                    let vars: Vec<(String, Node)> = entries.iter().map(|(k, v)| (k.scalar_text(), v.clone())).collect();
                    if let Some((bad, _)) = vars.iter().find(|(n, _)| !interp::is_name(n)) {
                        let message = format!(
                            "`{bad}` cannot be written as `${{...}}`: a variable's name has letters, digits, `_` and `-` only"
                        );
                        self.problems.push((item.loc, message));
                        continue;
                    }
                    // Without `data.name` a row always has a label (at worst its number).
                    rows.extend(labelled(vars, i + 1, None).ok());
                }
                rows
            }
            _ => {
                let message = format!(
                    "`data` is a data file (`data: prompts.jsonl`), `{{ file: ..., name: field }}` or a list of rows, not {}",
                    node.kind()
                );
                self.problems.push((node.loc, message));
                vec![]
            }
        }
    }

    fn file_rows(&mut self, file: &str, loc: Loc, name_field: Option<String>) -> Vec<DataRow> {
        let Some(rows) = self.files.get(file, loc, &mut self.problems, &mut self.diagnostics) else { return vec![] };
        if rows.rows.len() > limits::MAX_INSTANCES {
            let message = format!(
                "{} has {} rows: a test makes at most {} instances (a load test can draw from more with `load.dataset`)",
                rows.file,
                rows.rows.len(),
                limits::MAX_INSTANCES
            );
            self.problems.push((loc, message));
            return vec![];
        }
        let mut out = vec![];
        let mut unnamed = vec![];
        for (i, row) in rows.rows.iter().enumerate() {
            let vars = row.fields.iter().map(|(n, v)| (n.clone(), dataset::to_node(v))).collect();
            match labelled(vars, i + 1, name_field.as_deref()) {
                Ok(r) => out.push(r),
                Err(message) => unnamed.push((row.line, message)),
            }
        }
        unnamed.truncate(limits::MAX_PROBLEMS);
        self.diagnostics.extend(rows.problems_at(unnamed));
        out
    }
}

/// A row with its label: the field `name_field` names, else its `name` or `id`, else its number.
fn labelled(vars: Vec<(String, Node)>, number: usize, name_field: Option<&str>) -> Result<DataRow, String> {
    let scalar = |field: &str| {
        vars.iter()
            .find(|(n, _)| n == field)
            .map(|(_, v)| v)
            .filter(|v| !matches!(v.value, Value::Seq(_) | Value::Map(_) | Value::Null))
            .filter(|v| v.as_str().is_none_or(|t| !t.trim().is_empty()))
            .map(short)
    };
    let (label, label_field) = match name_field {
        Some(field) => match scalar(field) {
            Some(label) => (label, Some(field.to_string())),
            None => {
                return Err(format!(
                    "this row has no text or number in `{field}`, which names the instances (`data.name`)"
                ));
            }
        },
        None => match ["name", "id"].into_iter().find_map(|f| scalar(f).map(|l| (l, f))) {
            Some((label, field)) => (label, Some(field.to_string())),
            None => (format!("row {number}"), None),
        },
    };
    Ok(DataRow { vars, label, label_field })
}

/// The values of combination `n`: the first variable changes slowest, as in nested loops
/// written in the matrix's order.
fn pick(matrix: &[(String, Vec<Node>)], mut n: usize) -> Vec<(&str, &Node)> {
    let mut picks = Vec::with_capacity(matrix.len());
    for (name, values) in matrix.iter().rev() {
        picks.push((name.as_str(), &values[n % values.len()]));
        n /= values.len();
    }
    picks.reverse();
    picks
}

/// The variables a test's name refers to: those it shows itself.
fn names_used(test: &Node) -> HashSet<String> {
    let text = test.get("name").and_then(Node::as_str).unwrap_or("");
    interp::parse(text)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| match s {
            Segment::Ref { name, env: false, .. } => Some(name),
            _ => None,
        })
        .collect()
}

/// Longest value shown whole in an instance name, in characters.
const SHOWN_VALUE: usize = 40;
/// Characters kept of a longer value, before its digest.
const KEPT_PREFIX: usize = 24;

/// A value as an instance name shows it: on one line, short, and the same on every run. A
/// mapping shows its `name` or `id` when it has one; a long value keeps its start and a
/// digest of the whole, so two long values that start alike still differ.
pub fn short(value: &Node) -> String {
    let named = |key| value.get(key).filter(|v| !matches!(v.value, Value::Seq(_) | Value::Map(_)));
    let text = match &value.value {
        Value::Map(_) => {
            named("name").or_else(|| named("id")).map_or_else(|| value.to_json().to_string(), Node::scalar_text)
        }
        Value::Str { text, .. } if text.is_empty() => "\"\"".into(),
        _ => value.scalar_text(),
    };
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= SHOWN_VALUE {
        return one_line;
    }
    let head: String = one_line.chars().take(KEPT_PREFIX).collect();
    format!("{}…{:08x}", head.trim_end(), fnv1a(text.as_bytes()) as u32)
}

/// Completes the names of instances whose test references are resolved: the label, then a
/// number for an instance whose name another instance of the same test already has.
pub fn finish_names(instances: &mut [Instance]) {
    let mut taken: HashMap<usize, HashSet<String>> = HashMap::new();
    for instance in instances.iter_mut() {
        let Some(naming) = &instance.naming else { continue };
        let Some(name) = instance.node.get_mut("name") else { continue };
        let Value::Str { text, .. } = &mut name.value else { continue };
        let mut label = naming.label.clone();
        let mut full = with_label(text, &label);
        let siblings = taken.entry(naming.test).or_default();
        if siblings.contains(&full) {
            label.push(format!("#{}", naming.number));
            full = with_label(text, &label);
        }
        siblings.insert(full.clone());
        *text = full;
    }
}

fn with_label(name: &str, label: &[String]) -> String {
    if label.is_empty() { name.to_string() } else { format!("{name} [{}]", label.join(", ")) }
}

/// Puts an instance's variables in scope; returns what they hide, for [`restore`].
pub fn enter(scope: &mut Scope<'_>, vars: &[(String, Node)]) -> Vec<(String, Option<Node>)> {
    vars.iter().map(|(name, value)| (name.clone(), scope.vars.insert(name.clone(), value.clone()))).collect()
}

pub fn restore(scope: &mut Scope<'_>, hidden: Vec<(String, Option<Node>)>) {
    for (name, value) in hidden.into_iter().rev() {
        match value {
            Some(v) => scope.vars.insert(name, v),
            None => scope.vars.remove(&name),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::interp::Budget;
    use crate::spec::yaml::parse;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// Expands the tests of `text` (a YAML list of tests) and completes their names as the
    /// loader does; the names and each instance's variables as JSON, or the problems.
    fn expand(text: &str, dir: &std::path::Path) -> Result<Vec<(String, serde_json::Value)>, Vec<String>> {
        let budget = Budget::default();
        let vars = parse("suite_model: from-suite\n").unwrap();
        let Value::Map(entries) = vars.value else { panic!() };
        let mut scope = Scope {
            vars: entries.into_iter().map(|(k, v)| (k.scalar_text(), v)).collect(),
            env: &no_env,
            captures: BTreeSet::new(),
            later_captures: BTreeSet::new(),
            allow_captures: false,
            row_fields: BTreeSet::new(),
            budget: &budget,
        };
        let mut files = DataFiles::new(dir, Default::default());
        let Value::Seq(tests) = parse(text).unwrap().value else { panic!() };
        let mut ex = Expander::new(&mut scope, &mut files);
        let mut instances = ex.expand(tests);
        let problems: Vec<String> = ex
            .problems
            .iter()
            .map(|(l, m)| format!("{}: {m}", l.line))
            .chain(ex.interp_errors.iter().map(|e| e.message.clone()))
            .chain(ex.diagnostics.iter().map(|d| format!("{}: {}", d.location(), d.message)))
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        for instance in &mut instances {
            let hidden = enter(&mut scope, &instance.vars);
            let mut errors = vec![];
            scope.interpolate(&mut instance.node, 2, false, &mut errors);
            assert!(errors.is_empty(), "{errors:?}");
            restore(&mut scope, hidden);
        }
        finish_names(&mut instances);
        Ok(instances
            .iter()
            .map(|i| {
                let vars = serde_json::Value::Object(i.vars.iter().map(|(k, v)| (k.clone(), v.to_json())).collect());
                (i.node.get("name").unwrap().scalar_text(), vars)
            })
            .collect())
    }

    fn names(text: &str) -> Vec<String> {
        expand(text, std::path::Path::new(".")).unwrap().into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn a_matrix_runs_every_combination_in_the_order_written() {
        let got = expand(
            "- name: chat\n  matrix: { model: [a, b], temperature: [0, 0.7], stream: [true] }\n",
            std::path::Path::new("."),
        )
        .unwrap();
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "chat [model=a, temperature=0, stream=true]",
                "chat [model=a, temperature=0.7, stream=true]",
                "chat [model=b, temperature=0, stream=true]",
                "chat [model=b, temperature=0.7, stream=true]",
            ]
        );
        assert_eq!(got[1].1, serde_json::json!({"model": "a", "temperature": 0.7, "stream": true}));
    }

    #[test]
    fn a_name_that_shows_a_variable_leaves_it_out_of_the_label() {
        assert_eq!(
            names("- name: \"chat ${model}\"\n  matrix: { model: [a, b], n: [1] }\n"),
            ["chat a [n=1]", "chat b [n=1]"]
        );
        assert_eq!(names("- name: \"chat ${model}\"\n  matrix: { model: [a, b] }\n"), ["chat a", "chat b"]);
    }

    #[test]
    fn values_are_shown_short_and_stable() {
        let long = "x".repeat(30) + &"y".repeat(30);
        let got = names(&format!(
            "- name: t\n  matrix:\n    model: [{{ name: qwen, max: 5 }}, {{ max: 5 }}, \"{long}\", \"two\\nlines\", \"\"]\n"
        ));
        assert_eq!(got[0], "t [model=qwen]");
        assert_eq!(got[1], "t [model={\"max\":5}]");
        assert!(got[2].starts_with(&format!("t [model={}…", "x".repeat(24))), "{got:?}");
        assert_eq!(got[2].chars().count(), "t [model=]".len() + 24 + 1 + 8);
        assert_eq!(got[3], "t [model=two lines]");
        // The example of docs/specs.md.
        let doc = Node::str("Summarize the following article in three sentences.", Loc::default());
        assert_eq!(short(&doc), "Summarize the following…73651e35");
        assert_eq!(got[4], "t [model=\"\"]");
        // The same value gives the same name on every run; a different tail, a different one.
        assert_eq!(names(&format!("- name: t\n  matrix: {{ model: [\"{long}\"] }}\n"))[0], got[2]);
        let other = "x".repeat(30) + &"z".repeat(30);
        assert_ne!(names(&format!("- name: t\n  matrix: {{ model: [\"{other}\"] }}\n"))[0], got[2]);
    }

    #[test]
    fn instances_that_would_share_a_name_are_numbered() {
        assert_eq!(
            names("- name: t\n  matrix: { n: [1, 1.0, \"1\", 2] }\n"),
            ["t [n=1]", "t [n=1, #2]", "t [n=1, #3]", "t [n=2]"]
        );
        assert_eq!(names("- name: \"t ${n}\"\n  matrix: { n: [1, 1.0] }\n"), ["t 1", "t 1 [#2]"]);
    }

    #[test]
    fn inline_rows_are_named_by_name_id_or_number_and_multiply_the_matrix() {
        let got = expand(
            "- name: t\n  matrix: { model: [a, b] }\n  data:\n    - { id: hello, prompt: Hi }\n    - { prompt: Bye }\n",
            std::path::Path::new("."),
        )
        .unwrap();
        let got_names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(got_names, ["t [model=a, hello]", "t [model=a, row 2]", "t [model=b, hello]", "t [model=b, row 2]"]);
        assert_eq!(got[3].1, serde_json::json!({"model": "b", "prompt": "Bye"}));
        assert_eq!(names("- name: \"t ${id}\"\n  data: [{ id: x }, { id: y }]\n"), ["t x", "t y"]);
        // An empty or missing name falls back on the next field, then on the row's number.
        assert_eq!(names("- name: t\n  data: [{ name: \"\", id: 7 }, { id: \" \" }]\n"), ["t [7]", "t [row 2]"]);
    }

    #[test]
    fn broken_matrices_and_data_are_spec_errors() {
        let dot = std::path::Path::new(".");
        let cases = [
            ("matrix: [a, b]", "maps variable names to lists of values"),
            ("matrix: { model: a }", "write a list, e.g. `model: [a, b]`"),
            ("matrix: { model: [] }", "lists no values"),
            ("matrix: { \"my model\": [a] }", "cannot be written as `${...}`"),
            ("matrix: { model: [\"${nope}\"] }", "unknown variable `nope`"),
            ("data: []", "lists no rows"),
            ("data: [a]", "a row of `data` is a mapping"),
            ("data: { fil: x.jsonl }", "unknown key `fil`; did you mean `file`?"),
            ("data: prompts.txt", "the format of a data file follows its extension"),
            ("data: missing.jsonl", "no such data file: ./missing.jsonl"),
            ("matrix: { a: [1] }\n  data: [{ a: 2 }]", "`a` is both a matrix variable and a field of the data rows"),
        ];
        for (test, expected) in cases {
            let e = expand(&format!("- name: t\n  {test}\n"), dot).expect_err(test);
            assert!(e.iter().any(|m| m.contains(expected)), "{test}: {e:?}");
        }
        let big = format!("- name: t\n  matrix: {{ a: [{}], b: [{}] }}\n", ["1"; 101].join(","), ["1"; 100].join(","));
        let e = expand(&big, dot).unwrap_err();
        assert!(e[0].contains("more than 10000 instances"), "{e:?}");
    }

    #[test]
    fn copies_of_tests_are_bounded_in_nodes() {
        // 5000 instances of a test of some 1000 nodes: five million nodes.
        let body = vec!["x"; 1000].join(", ");
        let text =
            format!("- name: t\n  matrix: {{ a: [{}] }}\n  request: {{ json: [{body}] }}\n", vec!["1"; 5000].join(","));
        let e = expand(&text, std::path::Path::new(".")).unwrap_err();
        assert!(e[0].contains("would hold more than 1000000 YAML nodes"), "{e:?}");
    }
}
