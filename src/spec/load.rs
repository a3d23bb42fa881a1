//! Spec files → a [`Plan`], or every problem found in them.
//!
//! Order of work for one file: YAML → node tree; variables resolved; references interpolated;
//! each part decoded into the typed model on its own (so one broken test does not hide the
//! next); then the semantic checks of [`check`].

use super::check::{self, Context, Problem};
use super::de::{DeError, from_node_collecting};
use super::diag::{Diagnostic, Source};
use super::interp::{InterpError, Scope};
use super::model::{SuiteFile, Test};
use super::plan::{Plan, SuitePlan};
use super::yaml::{self, Loc, Node, Value, resolve_plain};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

pub struct LoadOptions<'a> {
    /// `--var name=value`: overrides the suite's `vars`.
    pub vars: &'a [(String, String)],
    /// `--secret name=value`: like `--var`, never printed.
    pub secrets: &'a [(String, String)],
    /// `--base-url`: overrides `defaults.base_url`.
    pub base_url: Option<&'a str>,
    /// `--timeout`: replaces the suite's default timeout.
    pub timeout: Option<Duration>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Loads every spec file under `paths` (directories are walked for *.yaml and *.yml, in name
/// order). All problems of all files are returned together.
pub fn load(paths: &[PathBuf], opts: &LoadOptions<'_>) -> Result<Plan, Vec<Diagnostic>> {
    let mut plan = Plan::default();
    let mut diagnostics = vec![];
    plan.secrets.extend(opts.secrets.iter().map(|(_, v)| v.clone()).filter(|v| !v.is_empty()));
    let mut suite_names: HashMap<String, String> = HashMap::new();
    for file in spec_files(paths, &mut diagnostics) {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                diagnostics.push(file_problem(&file, format!("cannot read this file: {e}")));
                continue;
            }
        };
        let source = Arc::new(Source { path: file.display().to_string(), text });
        match load_suite(&source, opts) {
            Ok((suite, secrets)) => {
                if let Some(other) = suite_names.insert(suite.name.clone(), source.path.clone()) {
                    let message =
                        format!("suite `{}` is also defined in {other}; suite names must be unique", suite.name);
                    diagnostics.push(Diagnostic::new(&source, Loc { line: 1, col: 1 }, message));
                }
                plan.secrets.extend(secrets);
                plan.suites.push(suite);
            }
            Err(mut d) => diagnostics.append(&mut d),
        }
    }
    if diagnostics.is_empty() { Ok(plan) } else { Err(diagnostics) }
}

fn spec_files(paths: &[PathBuf], diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut files = vec![];
    for path in paths {
        if path.is_dir() {
            let before = files.len();
            walk(path, &mut files);
            files[before..].sort();
            if files.len() == before {
                diagnostics.push(file_problem(path, "this directory holds no *.yaml or *.yml file".into()));
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            diagnostics.push(file_problem(path, "no such file or directory".into()));
        }
    }
    let mut seen = HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    files
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, files);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            files.push(path);
        }
    }
}

fn file_problem(path: &Path, message: String) -> Diagnostic {
    let source = Arc::new(Source { path: path.display().to_string(), text: String::new() });
    Diagnostic::new(&source, Loc::default(), message)
}

/// One file → its suite and the secret values it defines.
pub fn load_suite(source: &Arc<Source>, opts: &LoadOptions<'_>) -> Result<(SuitePlan, Vec<String>), Vec<Diagnostic>> {
    let diag = |(loc, message): Problem| Diagnostic::new(source, loc, message);
    let mut root = yaml::parse(&source.text).map_err(|e| vec![diag((e.loc, e.message))])?;
    if !matches!(root.value, Value::Map(_)) {
        let message = "a spec file is a mapping with at least `suite:` and `tests:`";
        return Err(vec![diag((root.loc, message.into()))]);
    }
    let mut problems: Vec<Problem> = vec![];
    let mut interp_errors: Vec<InterpError> = vec![];
    let (vars, secrets) = resolve_vars(&root, opts, &mut interp_errors);

    let test_nodes = match root.get_mut("tests").map(|t| std::mem::replace(&mut t.value, Value::Seq(vec![]))) {
        Some(Value::Seq(items)) => items,
        Some(other) => {
            problems.push((
                root.get("tests").map_or(root.loc, |t| t.loc),
                format!("`tests` is a list of tests, not {}", Node::new(other, Loc::default()).kind()),
            ));
            vec![]
        }
        None => vec![],
    };
    // What each test makes available to later ones: its captures and its steps' `as` names.
    let step_names = |t: &Node| -> Vec<String> {
        match t.get("steps").map(|s| &s.value) {
            Some(Value::Seq(steps)) => steps.iter().filter_map(|s| s.get("as").map(Node::scalar_text)).collect(),
            _ => vec![],
        }
    };
    let captures_by_test: Vec<Vec<String>> = test_nodes
        .iter()
        .map(|t| {
            let mut names = match t.get("capture").map(|c| &c.value) {
                Some(Value::Map(entries)) => entries.iter().map(|(k, _)| k.scalar_text()).collect(),
                _ => vec![],
            };
            names.extend(step_names(t));
            names
        })
        .collect();
    let all_captures: BTreeSet<String> = captures_by_test.iter().flatten().cloned().collect();
    let mut scope =
        Scope { vars, env: opts.env, captures: BTreeSet::new(), later_captures: all_captures, allow_captures: false };

    // Defaults end up in requests, which are rendered again at run time: keep escapes.
    if let Some(defaults) = root.get_mut("defaults") {
        scope.interpolate(defaults, true, &mut interp_errors);
    }
    for key in ["suite", "description"] {
        if let Some(n) = root.get_mut(key) {
            scope.interpolate(n, false, &mut interp_errors);
        }
    }
    let mut tests = test_nodes;
    for (i, test) in tests.iter_mut().enumerate() {
        let own_steps = step_names(test);
        if let Value::Map(entries) = &mut test.value {
            for (key, value) in entries.iter_mut() {
                // What is sent or run late enough to use captures (and this test's own steps).
                let late = matches!(key.as_str(), Some("request" | "steps" | "sample" | "require"));
                scope.allow_captures = late;
                let before = scope.captures.clone();
                if key.as_str() == Some("steps") {
                    scope.captures.extend(own_steps.iter().cloned());
                }
                scope.interpolate(value, late, &mut interp_errors);
                scope.captures = before;
            }
        }
        scope.captures.extend(captures_by_test[i].iter().cloned());
        scope.later_captures.retain(|c| !scope.captures.contains(c));
    }
    problems.extend(interp_errors.into_iter().map(|e| (offset_loc(source, e.node_loc, e.offset), e.message)));

    let mut decode_errors = vec![];
    let suite: Option<SuiteFile> = from_node_collecting(&root, &mut decode_errors);
    let defaults = suite.as_ref().map(|s| &s.defaults);
    let timeout = match defaults.and_then(|d| d.timeout.as_ref()) {
        _ if opts.timeout.is_some() => opts.timeout.unwrap_or(DEFAULT_TIMEOUT),
        Some(t) => check::duration(t, &mut problems).unwrap_or(DEFAULT_TIMEOUT),
        None => DEFAULT_TIMEOUT,
    };
    let headers: Vec<(String, String)> =
        defaults.map(|d| d.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    let secret_headers: Vec<String> = defaults.map(|d| d.secret_headers.clone()).unwrap_or_default();
    let base_url = opts.base_url.or_else(|| defaults.and_then(|d| d.base_url.as_ref()).map(|b| b.value.as_str()));
    let dir = Path::new(&source.path).parent().unwrap_or(Path::new(".")).to_path_buf();
    let ctx = Context { dir: &dir, base_url, timeout, headers: &headers, secret_headers: &secret_headers };

    let mut plans = vec![];
    let mut names: HashMap<String, usize> = HashMap::new();
    for node in &tests {
        let before = decode_errors.len();
        let Some(test) = from_node_collecting::<Test>(node, &mut decode_errors) else {
            continue;
        };
        let misspelt = decode_errors[before..].iter().any(|e| e.message.contains("did you mean `request`"));
        if let Some(first) = names.insert(test.name.value.clone(), test.name.loc.line) {
            problems.push((
                test.name.loc,
                format!(
                    "test name `{}` is already used at line {first}; names must be unique in a suite",
                    test.name.value
                ),
            ));
        }
        if let Some(plan) = check::test(test, &ctx, misspelt, &mut problems) {
            plans.push(Arc::new(plan));
        }
    }
    problems.extend(decode_errors.into_iter().map(|e| de_problem(e, root.loc)));
    if tests.is_empty() && problems.is_empty() && suite.is_some() {
        problems.push((root.get("tests").map_or(root.loc, |t| t.loc), "this suite has no tests".into()));
    }
    match suite {
        Some(suite) if problems.is_empty() => Ok((
            SuitePlan { name: suite.suite.value, description: suite.description, source: source.clone(), tests: plans },
            secrets,
        )),
        _ => {
            problems.sort_by_key(|(loc, _)| *loc);
            problems.dedup();
            let lines_with_other: HashSet<usize> =
                problems.iter().filter(|(_, m)| m != check::NO_OPERATOR).map(|(l, _)| l.line).collect();
            problems.retain(|(l, m)| m != check::NO_OPERATOR || !lines_with_other.contains(&l.line));
            Err(problems.into_iter().map(diag).collect())
        }
    }
}

/// `vars` and `secrets` of the file, resolved in the order written, after `--var`/`--secret`.
fn resolve_vars(
    root: &Node,
    opts: &LoadOptions<'_>,
    errors: &mut Vec<InterpError>,
) -> (HashMap<String, Node>, Vec<String>) {
    let cli = |(k, v): &(String, String)| (k.clone(), Node::new(resolve_plain(v), Loc::default()));
    let overridden: HashMap<String, Node> = opts.vars.iter().chain(opts.secrets).map(cli).collect();
    let mut scope = Scope {
        vars: overridden.clone(),
        env: opts.env,
        captures: BTreeSet::new(),
        later_captures: BTreeSet::new(),
        allow_captures: false,
    };
    let mut secrets = vec![];
    for section in ["secrets", "vars"] {
        let Some(Value::Map(entries)) = root.get(section).map(|n| &n.value) else {
            continue;
        };
        for (key, value) in entries {
            let name = key.scalar_text();
            if overridden.contains_key(&name) {
                continue;
            }
            let mut value = value.clone();
            scope.interpolate(&mut value, false, errors);
            if section == "secrets" {
                let text = value.scalar_text();
                if !text.is_empty() && value.value != Value::Null {
                    secrets.push(text);
                }
            }
            scope.vars.insert(name, value);
        }
    }
    (scope.vars, secrets)
}

fn de_problem(e: DeError, fallback: Loc) -> Problem {
    (e.loc.unwrap_or(fallback), e.message)
}

/// Points inside a one-line scalar at the reference itself, when the text allows it.
fn offset_loc(source: &Source, loc: Loc, offset: usize) -> Loc {
    let Some(line) = source.line(loc.line) else {
        return loc;
    };
    let rest: String = line.chars().skip(loc.col.saturating_sub(1)).collect();
    let quote = usize::from(rest.starts_with(['"', '\'']));
    match rest.get(quote..quote + offset + 2) {
        Some(prefix) if prefix.ends_with("${") || prefix.ends_with('$') => {
            Loc { line: loc.line, col: loc.col + quote + offset }
        }
        _ => loc,
    }
}
