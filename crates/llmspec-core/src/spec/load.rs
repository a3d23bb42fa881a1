//! Spec files → a [`Plan`], or every problem found in them.
//!
//! Order of work for one file: YAML → node tree; variables resolved; references interpolated;
//! each part decoded into the typed model on its own (so one broken test does not hide the
//! next); then the semantic checks of [`check`].

use super::check::{self, Context, Problem};
use super::dataset::{DataFiles, Rows};
use super::de::{DeError, from_node_collecting};
use super::diag::{Diagnostic, Source};
use super::draw;
use super::embedded::Embedded;
use super::files::{self, Unreadable};
use super::interp::{Budget, InterpError, Scope};
use super::limits;
use super::matrix::{self, Expander};
use super::model::{SuiteFile, Test};
use super::plan::{Plan, SuitePlan, TlsOptions};
use super::yaml::{self, Loc, Node, Value, resolve_plain};
use crate::expect::threshold::{Names as ThresholdNames, looks_like_a_bound};
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
    /// `--cacert`, `--cert`, `--key`, `--insecure`: override `defaults.tls`, field by field.
    pub tls: &'a TlsOptions,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Files carried inside the program (the packs), found under their names before the disk.
    pub embedded: Embedded,
}

/// Why a set of spec files could not be loaded: every problem, and every secret value known at
/// that point (from `--secret` and from the suites' `secrets:`), so that whoever prints the
/// problems can mask the secrets a message quotes.
#[derive(Debug)]
pub struct SpecErrors {
    pub diagnostics: Vec<Diagnostic>,
    pub secrets: Vec<String>,
}

/// Loads every spec file under `paths` (directories are walked for *.yaml and *.yml, in name
/// order). All problems of all files are returned together.
pub fn load(paths: &[PathBuf], opts: &LoadOptions<'_>) -> Result<Plan, SpecErrors> {
    let mut plan = Plan::default();
    let mut diagnostics = vec![];
    let mut secrets: Vec<String> = opts.secrets.iter().map(|(_, v)| v.clone()).filter(|v| !v.is_empty()).collect();
    let mut suite_names: HashMap<String, String> = HashMap::new();
    let mut path_problems = vec![];
    let files = files::spec_files(paths, opts.embedded, &mut path_problems);
    diagnostics.extend(path_problems.into_iter().map(|p| file_problem(&p.path, p.message)));
    for file in files {
        let text = match opts.embedded.read_text_of(&file, &files::SPEC_FILE) {
            Ok(t) => t,
            Err(Unreadable { message, at: None }) => {
                diagnostics.push(file_problem(&file, message));
                continue;
            }
            Err(Unreadable { message, at: Some((loc, text)) }) => {
                let source = Arc::new(Source { path: file.display().to_string(), text });
                diagnostics.push(Diagnostic::new(&source, loc, message));
                continue;
            }
        };
        let source = Arc::new(Source { path: file.display().to_string(), text });
        match load_suite(&source, opts) {
            Ok((suite, suite_secrets)) => {
                if let Some(other) = suite_names.insert(suite.name.clone(), source.path.clone()) {
                    let message =
                        format!("suite `{}` is also defined in {other}; suite names must be unique", suite.name);
                    diagnostics.push(Diagnostic::new(&source, Loc { line: 1, col: 1 }, message));
                }
                secrets.extend(suite_secrets);
                plan.suites.push(suite);
            }
            Err(mut e) => {
                diagnostics.append(&mut e.diagnostics);
                secrets.append(&mut e.secrets);
            }
        }
    }
    if diagnostics.is_empty() {
        plan.secrets = secrets;
        Ok(plan)
    } else {
        Err(SpecErrors { diagnostics, secrets })
    }
}

/// A problem with a whole file or directory: no position, no text to show.
fn file_problem(path: &Path, message: String) -> Diagnostic {
    let source = Arc::new(Source { path: path.display().to_string(), text: String::new() });
    Diagnostic::whole_file(&source, message)
}

/// One file → its suite and the secret values it defines.
/// A suite's TLS files, relative to its spec file; a file that does not exist is a spec error.
fn suite_tls(tls: Option<&crate::spec::model::Tls>, dir: &Path, problems: &mut Vec<(Loc, String)>) -> TlsOptions {
    let Some(tls) = tls else { return TlsOptions::default() };
    let mut file = |f: &Option<crate::spec::de::Spanned<String>>| {
        let f = f.as_ref()?;
        let path = dir.join(&f.value);
        if !path.is_file() {
            problems.push((f.loc, format!("no such file: {}", path.display())));
        }
        Some(path)
    };
    TlsOptions { cacert: file(&tls.cacert), cert: file(&tls.cert), key: file(&tls.key), insecure: tls.insecure }
}

pub fn load_suite(source: &Arc<Source>, opts: &LoadOptions<'_>) -> Result<(SuitePlan, Vec<String>), SpecErrors> {
    let diag = |(loc, message): Problem| Diagnostic::new(source, loc, message);
    let fail = |problem: Problem| SpecErrors { diagnostics: vec![diag(problem)], secrets: vec![] };
    let mut root = yaml::parse(&source.text).map_err(|e| fail((e.loc, e.message)))?;
    if !matches!(root.value, Value::Map(_)) {
        let message = "a spec file is a mapping with at least `suite:` and `tests:`";
        return Err(fail((root.loc, message.into())));
    }
    let mut problems: Vec<Problem> = vec![];
    let mut interp_errors: Vec<InterpError> = vec![];
    let budget = Budget::default();
    let (vars, mut secrets) = resolve_vars(&root, opts, &budget, &mut interp_errors);
    let vars_json: serde_json::Map<String, serde_json::Value> =
        vars.iter().map(|(name, node)| (name.clone(), node.to_json())).collect();

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
    // Instances of a test (`matrix`, `data`) capture under the same names as the test.
    let step_names = |t: &Node| -> Vec<String> {
        match t.get("steps").map(|s| &s.value) {
            Some(Value::Seq(steps)) => steps.iter().filter_map(|s| s.get("as").map(Node::scalar_text)).collect(),
            _ => vec![],
        }
    };
    let provided = |t: &Node| -> Vec<String> {
        let mut names = match t.get("capture").map(|c| &c.value) {
            Some(Value::Map(entries)) => entries.iter().map(|(k, _)| k.scalar_text()).collect(),
            _ => vec![],
        };
        names.extend(step_names(t));
        names
    };
    let captures_by_test: Vec<Vec<String>> = test_nodes.iter().map(provided).collect();
    let all_captures: BTreeSet<String> = captures_by_test.iter().flatten().cloned().collect();
    let mut scope = Scope {
        vars,
        env: opts.env,
        captures: BTreeSet::new(),
        later_captures: all_captures,
        allow_captures: false,
        row_fields: BTreeSet::new(),
        budget: &budget,
    };
    let dir = Path::new(&source.path).parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut data_files = DataFiles::new(&dir, opts.embedded);
    // Problems found inside data files, each at its own file and line.
    let mut data_diagnostics: Vec<Diagnostic> = vec![];
    let mut instances = {
        let mut expander = Expander::new(&mut scope, &mut data_files);
        let instances = expander.expand(test_nodes);
        problems.append(&mut expander.problems);
        interp_errors.append(&mut expander.interp_errors);
        data_diagnostics.append(&mut expander.diagnostics);
        instances
    };
    let captures_by_test: Vec<Vec<String>> = instances.iter().map(|i| provided(&i.node)).collect();

    // Defaults end up in requests, which are rendered again at run time: keep escapes.
    if let Some(defaults) = root.get_mut("defaults") {
        scope.interpolate(defaults, 1, true, &mut interp_errors);
    }
    for key in ["suite", "description"] {
        if let Some(n) = root.get_mut(key) {
            scope.interpolate(n, 1, false, &mut interp_errors);
        }
    }
    // The rows of each test's `load.dataset`, when it has one.
    let mut datasets: Vec<Option<Arc<Rows>>> = Vec::with_capacity(instances.len());
    // Thresholds as written, before variables: their JUnit names stay the same whatever the
    // variables are on a given machine, so CI history stays continuous.
    let mut threshold_texts: Vec<Vec<String>> = Vec::with_capacity(instances.len());
    for (i, instance) in instances.iter_mut().enumerate() {
        let hidden = matrix::enter(&mut scope, &instance.vars);
        let rows = draw::file_node(&instance.node).cloned().and_then(|mut file| {
            scope.interpolate(&mut file, 4, false, &mut interp_errors);
            let name = file.as_str()?.to_string();
            data_files.get(&name, file.loc, &mut problems, &mut data_diagnostics)
        });
        // A row's fields are resolved per request, at run time: they hide variables of the
        // same name in this test.
        let fields = rows.as_deref().map(draw::fields).unwrap_or_default();
        let hidden_by_fields: Vec<(String, Option<Node>)> =
            fields.iter().map(|f| (f.clone(), scope.vars.remove(f))).collect();
        let test = &mut instance.node;
        threshold_texts.push(written_thresholds(test));
        let own_steps = step_names(test);
        let bounds =
            ThresholdNames { samples: sample_names(test), steps: own_steps.clone(), ..ThresholdNames::default() };
        if let Value::Map(entries) = &mut test.value {
            for (key, value) in entries.iter_mut() {
                // Expressions are not templates: `${name}` in one is a name, read when it runs.
                if key.as_str() == Some("require") {
                    continue;
                }
                let expressions = detach_expressions(key.as_str(), value, &bounds);
                // What is sent or run late enough to use captures (and this test's own steps).
                let late = matches!(key.as_str(), Some("request" | "expect" | "steps" | "sample"));
                scope.allow_captures = late;
                let before = scope.captures.clone();
                if key.as_str() == Some("steps") {
                    scope.captures.extend(own_steps.iter().cloned());
                }
                if key.as_str() == Some("request") {
                    scope.captures.extend(fields.iter().cloned());
                } else {
                    scope.row_fields.clone_from(&fields);
                }
                // Inside the file's mapping, the `tests` list and the test's mapping.
                scope.interpolate(value, 3, late, &mut interp_errors);
                reattach_expressions(key.as_str(), value, expressions);
                scope.captures = before;
                scope.row_fields.clear();
            }
        }
        matrix::restore(&mut scope, hidden_by_fields);
        matrix::restore(&mut scope, hidden);
        datasets.push(rows);
        scope.captures.extend(captures_by_test[i].iter().cloned());
        scope.later_captures.retain(|c| !scope.captures.contains(c));
    }
    matrix::finish_names(&mut instances);
    let (tests, instance_vars): (Vec<Node>, Vec<serde_json::Map<String, serde_json::Value>>) = instances
        .into_iter()
        .map(|i| (i.node, i.vars.iter().map(|(name, value)| (name.clone(), value.to_json())).collect()))
        .unzip();
    // Literal values of secret headers are secret from the start: a diagnostic that quotes
    // their line must not show the credential.
    let extra_secret_headers: Vec<String> = match root.get("defaults").and_then(|d| d.get("secret_headers")) {
        Some(Node { value: Value::Seq(items), .. }) => {
            items.iter().filter_map(|h| h.as_str()).map(str::to_lowercase).collect()
        }
        _ => vec![],
    };
    for node in std::iter::once(&root).chain(tests.iter()) {
        literal_secret_headers(node, &extra_secret_headers, &mut secrets);
    }
    tests.iter().for_each(|test| super::judge::api_keys(test, &mut secrets));
    // Finding a column reads the line: only for the problems that will be shown.
    let unshown_interp_errors = interp_errors.len().saturating_sub(limits::MAX_PROBLEMS + 1);
    interp_errors.truncate(limits::MAX_PROBLEMS + 1);
    problems.extend(interp_errors.into_iter().map(|e| (offset_loc(source, e.node_loc, e.offset), e.message)));

    let mut decode_errors = vec![];
    let suite: Option<SuiteFile> = from_node_collecting(&root, &mut decode_errors);
    let defaults = suite.as_ref().map(|s| &s.defaults);
    let timeout = match defaults.and_then(|d| d.timeout.as_ref()) {
        _ if opts.timeout.is_some() => opts.timeout.unwrap_or(DEFAULT_TIMEOUT),
        Some(t) => check::positive_duration(t, &mut problems).unwrap_or(DEFAULT_TIMEOUT),
        None => DEFAULT_TIMEOUT,
    };
    let headers: Vec<(String, String)> =
        defaults.map(|d| d.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    let secret_headers: Vec<String> = defaults.map(|d| d.secret_headers.clone()).unwrap_or_default();
    let base_url = opts.base_url.or_else(|| defaults.and_then(|d| d.base_url.as_ref()).map(|b| b.value.as_str()));
    let tls = opts.tls.over(&suite_tls(defaults.and_then(|d| d.tls.as_ref()), &dir, &mut problems));
    let mut ctx = Context {
        dir: &dir,
        embedded: opts.embedded,
        base_url,
        timeout,
        headers: &headers,
        secret_headers: &secret_headers,
        names: crate::expr::Names { vars: vars_json.keys().cloned().collect(), ..Default::default() },
    };

    let mut plans = vec![];
    let mut names: HashMap<String, usize> = HashMap::new();
    let suite_vars = ctx.names.vars.clone();
    for (i, (node, rows)) in tests.iter().zip(datasets).enumerate() {
        if i > 0 {
            ctx.names.captures.extend(captures_by_test[i - 1].iter().cloned());
        }
        ctx.names.vars = suite_vars.iter().chain(instance_vars[i].keys()).cloned().collect();
        let before = decode_errors.len();
        let Some(mut test) = from_node_collecting::<Test>(node, &mut decode_errors) else {
            continue;
        };
        let dataset = test.load.as_mut().and_then(|l| l.value.dataset.take());
        let misspelt = decode_errors[before..].iter().any(|e| e.suggests("request"));
        if let Some(first) = names.insert(test.name.value.clone(), test.name.loc.line) {
            problems.push((
                test.name.loc,
                format!(
                    "test name `{}` is already used at line {first}; names must be unique in a suite",
                    test.name.value
                ),
            ));
        }
        let name = test.name.value.clone();
        if let Some(mut plan) = check::test(test, &ctx, misspelt, &mut problems) {
            plan.vars = instance_vars[i].clone();
            if plan.thresholds.len() == threshold_texts[i].len() {
                for (threshold, written) in plan.thresholds.iter_mut().zip(&threshold_texts[i]) {
                    if written.contains("${") {
                        threshold.text = written.trim().to_string();
                    }
                }
            }
            if let (Some(dataset), Some(rows)) = (dataset, rows) {
                draw::attach(&mut plan, dataset, rows, &mut problems, &mut data_diagnostics);
            }
            plans.push(Arc::new(plan));
        }
        ctx.names.tests.push(name);
    }
    problems.extend(decode_errors.into_iter().map(|e| de_problem(e, root.loc)));
    if tests.is_empty() && problems.is_empty() && suite.is_some() {
        problems.push((root.get("tests").map_or(root.loc, |t| t.loc), "this suite has no tests".into()));
    }
    match suite {
        Some(suite) if problems.is_empty() && data_diagnostics.is_empty() => Ok((
            SuitePlan {
                name: suite.suite.value,
                description: suite.description,
                source: source.clone(),
                tests: plans,
                tls,
                vars: vars_json,
            },
            secrets,
        )),
        _ => {
            problems.sort_by_key(|(loc, _)| *loc);
            problems.dedup();
            let lines_with_other: HashSet<usize> =
                problems.iter().filter(|(_, m)| m != check::NO_OPERATOR).map(|(l, _)| l.line).collect();
            problems.retain(|(l, m)| m != check::NO_OPERATOR || !lines_with_other.contains(&l.line));
            let more = problems.len().saturating_sub(limits::MAX_PROBLEMS) + unshown_interp_errors;
            problems.truncate(limits::MAX_PROBLEMS);
            let mut diagnostics: Vec<Diagnostic> = problems.into_iter().map(diag).collect();
            diagnostics.append(&mut data_diagnostics);
            if more > 0 {
                let message = format!("and {more} more problems in this file, not shown");
                diagnostics.push(Diagnostic::whole_file(source, message));
            }
            Err(SpecErrors { diagnostics, secrets })
        }
    }
}

/// The names under a test's `sample`.
fn sample_names(test: &Node) -> Vec<String> {
    match test.get("sample").map(|s| &s.value) {
        Some(Value::Map(entries)) => entries.iter().map(|(k, _)| k.scalar_text()).collect(),
        _ => vec![],
    }
}

/// The test's thresholds as written in the file.
fn written_thresholds(test: &Node) -> Vec<String> {
    match test.get("expect").and_then(|e| e.get("thresholds")).map(|t| &t.value) {
        Some(Value::Seq(items)) => items.iter().map(Node::scalar_text).collect(),
        _ => vec![],
    }
}

/// Takes out of a test's `key` the expressions it holds (`expect.that`, threshold conditions,
/// a capture's `expr`, a `wait_until` step's `expect.that`), leaving null in their place, so
/// that interpolation leaves them as written: `${name}` in an expression is a name.
fn detach_expressions(key: Option<&str>, value: &mut Node, bounds: &ThresholdNames) -> Vec<Node> {
    let mut taken = vec![];
    let mut take = |node: &mut Node| taken.push(std::mem::replace(node, Node::new(Value::Null, node.loc)));
    let expectations = |expect: &mut Node, take: &mut dyn FnMut(&mut Node)| {
        if let Some(that) = expect.get_mut("that") {
            take(that);
        }
        if let Some(Node { value: Value::Seq(items), .. }) = expect.get_mut("thresholds") {
            for item in items.iter_mut().filter(|t| !looks_like_a_bound(&t.scalar_text(), bounds)) {
                take(item);
            }
        }
    };
    match (key, &mut value.value) {
        (Some("expect"), _) => expectations(value, &mut take),
        (Some("capture"), Value::Map(captures)) => {
            for (_, capture) in captures.iter_mut() {
                if let Some(expr) = capture.get_mut("expr") {
                    take(expr);
                }
            }
        }
        (Some("steps"), Value::Seq(steps)) => {
            for expect in steps.iter_mut().filter_map(|s| s.get_mut("wait_until")?.get_mut("expect")) {
                expectations(expect, &mut take);
            }
        }
        _ => {}
    }
    taken
}

/// Puts back what [`detach_expressions`] took, in the same order.
fn reattach_expressions(key: Option<&str>, value: &mut Node, taken: Vec<Node>) {
    let mut taken = taken.into_iter();
    let mut put = |node: &mut Node| {
        if let Some(original) = taken.next() {
            *node = original;
        }
    };
    let expectations = |expect: &mut Node, put: &mut dyn FnMut(&mut Node)| {
        if let Some(that) = expect.get_mut("that") {
            put(that);
        }
        if let Some(Node { value: Value::Seq(items), .. }) = expect.get_mut("thresholds") {
            for item in items.iter_mut().filter(|t| matches!(t.value, Value::Null)) {
                put(item);
            }
        }
    };
    match (key, &mut value.value) {
        (Some("expect"), _) => expectations(value, &mut put),
        (Some("capture"), Value::Map(captures)) => {
            for (_, capture) in captures.iter_mut() {
                if let Some(expr) = capture.get_mut("expr") {
                    put(expr);
                }
            }
        }
        (Some("steps"), Value::Seq(steps)) => {
            for expect in steps.iter_mut().filter_map(|s| s.get_mut("wait_until")?.get_mut("expect")) {
                expectations(expect, &mut put);
            }
        }
        _ => {}
    }
}

/// The values of secret headers (`Authorization`, `defaults.secret_headers`, ...) written in
/// the file, wherever a `headers` mapping stands. Values still waiting for a capture are left
/// for the runner, which registers them when the capture is taken.
fn literal_secret_headers(node: &Node, extra: &[String], out: &mut Vec<String>) {
    match &node.value {
        Value::Map(entries) => {
            for (key, value) in entries {
                if let (Some("headers"), Value::Map(headers)) = (key.as_str(), &value.value) {
                    for (name, v) in headers {
                        let name = name.scalar_text().to_lowercase();
                        let secret = check::ALWAYS_SECRET_HEADERS.contains(&name.as_str()) || extra.contains(&name);
                        if let (true, Some(text)) = (secret, v.as_str()) {
                            if !text.contains("${") {
                                out.push(text.to_string());
                            }
                        }
                    }
                }
                literal_secret_headers(value, extra, out);
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| literal_secret_headers(i, extra, out)),
        _ => {}
    }
}

/// `vars` and `secrets` of the file, resolved in the order written, after `--var`/`--secret`.
fn resolve_vars(
    root: &Node,
    opts: &LoadOptions<'_>,
    budget: &Budget,
    errors: &mut Vec<InterpError>,
) -> (HashMap<String, Node>, Vec<String>) {
    let cli = |(k, v): &(String, String)| (k.clone(), Node::new(resolve_plain(v), Loc::default()));
    // A secret is text as given: `--secret pin=00123456` must not be sent as the number 123456
    // (nor escape the masking, which knows the text).
    let text = |(k, v): &(String, String)| (k.clone(), Node::str(v.clone(), Loc::default()));
    let overridden: HashMap<String, Node> = opts.vars.iter().map(cli).chain(opts.secrets.iter().map(text)).collect();
    let mut scope = Scope {
        vars: overridden.clone(),
        env: opts.env,
        captures: BTreeSet::new(),
        later_captures: BTreeSet::new(),
        allow_captures: false,
        row_fields: BTreeSet::new(),
        budget,
    };
    let mut secrets = vec![];
    for section in ["secrets", "vars"] {
        let Some(Value::Map(entries)) = root.get(section).map(|n| &n.value) else {
            continue;
        };
        for (key, value) in entries {
            let name = key.scalar_text();
            if section == "secrets" {
                // A literal secret stays secret even when the command line replaces it.
                let literal = value.scalar_text();
                if matches!(value.value, Value::Str { .. }) && !literal.is_empty() && !literal.contains("${") {
                    secrets.push(literal);
                }
                if let Some(given) = overridden.get(&name) {
                    secrets.push(given.scalar_text());
                }
            }
            if overridden.contains_key(&name) {
                continue;
            }
            let mut value = value.clone();
            scope.interpolate(&mut value, 2, false, errors);
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// Loads one spec text; the problems' messages on failure.
    pub(crate) fn load_text(text: &str) -> Result<SuitePlan, Vec<String>> {
        let opts = LoadOptions {
            vars: &[],
            secrets: &[],
            base_url: None,
            timeout: None,
            tls: &Default::default(),
            env: &no_env,
            embedded: Default::default(),
        };
        let source = Arc::new(Source { path: "t.yaml".into(), text: text.into() });
        load_suite(&source, &opts)
            .map(|(s, _)| s)
            .map_err(|e| e.diagnostics.iter().map(|d| format!("{}:{}: {}", d.loc.line, d.loc.col, d.message)).collect())
    }

    const TEST: &str = "tests:\n  - name: t\n    request: { GET: \"http://127.0.0.1:9/${v40}\" }\n";

    #[test]
    fn variables_that_double_each_other_are_bounded() {
        let mut text = String::from("suite: s\nvars:\n  v0: xxxxxxxxxxxxxxxx\n");
        for i in 1..=40 {
            text.push_str(&format!("  v{i}: \"${{v{}}}${{v{}}}\"\n", i - 1, i - 1));
        }
        text.push_str(TEST);
        let e = load_text(&text).unwrap_err();
        assert!(e.iter().any(|m| m.contains("references expand this file beyond")), "{e:?}");
    }

    #[test]
    fn whole_references_to_collections_are_bounded_in_size_and_nesting() {
        // Each variable holds the previous one twice: 2^40 nodes if nothing stops it.
        let mut text = String::from("suite: s\nvars:\n  v0: [x]\n");
        for i in 1..=40 {
            text.push_str(&format!("  v{i}: [\"${{v{}}}\", \"${{v{}}}\"]\n", i - 1, i - 1));
        }
        text.push_str(TEST);
        let e = load_text(&text).unwrap_err();
        assert!(e.iter().any(|m| m.contains("references expand this file beyond")), "{e:?}");
        // Each variable nests the previous one a level deeper.
        let mut text = String::from("suite: s\nvars:\n  v0: [x]\n");
        for i in 1..=200 {
            text.push_str(&format!("  v{i}: [\"${{v{}}}\"]\n", i - 1));
        }
        text.push_str(TEST);
        let e = load_text(&text).unwrap_err();
        assert!(e.iter().any(|m| m.contains("would nest the file more than 128 levels")), "{e:?}");
    }

    #[test]
    fn defaults_nested_in_defaults_are_bounded() {
        let deep = "${env.NOPE:-".repeat(10_000) + "x" + &"}".repeat(10_000);
        let text = format!("suite: s\nvars:\n  a: \"{deep}\"\n{TEST}");
        let e = load_text(&text).unwrap_err();
        assert!(e.iter().any(|m| m.contains("nested more than 16 deep in defaults")), "{e:?}");
    }

    #[test]
    fn extreme_durations_rates_and_counts_are_spec_errors() {
        let cases = [
            ("request: { GET: /x, timeout: 10000000000000000000s }", "too long a duration"),
            ("request: { GET: /x, timeout: 0s }", "longer than zero"),
            ("request: { GET: /x, idle_timeout: 0ms }", "longer than zero"),
            ("request: { GET: /x, timeout: 1e400s }", "without an exponent"),
            ("request: { GET: /x, timeout: -5s }", "not a duration"),
            ("request: { GET: /x }\n    load: { requests: 5, rate: 1e-20/s }", "out of range"),
            ("request: { GET: /x }\n    load: { requests: 5, rate: 1e9/s }", "out of range"),
            ("request: { GET: /x }\n    load: { requests: 5, rate: inf/s }", "not a rate"),
            ("request: { GET: /x }\n    load: { requests: 5, rate: NaN }", "not a rate"),
            ("request: { GET: /x }\n    load: { duration: 0s }", "longer than zero"),
            ("request: { GET: /x }\n    load: { requests: 9223372036854775807 }", "at most 1000000000"),
            (
                "request: { GET: /x }\n    load: { requests: 5, concurrency: 9223372036854775807 }",
                "between 1 and 1000000",
            ),
            ("request: { GET: /x }\n    repeat: 9223372036854775807", "between 1 and 1000000000"),
            ("request: { GET: /x }\n    soak: { duration: 1000h, interval: 1s }", "too long a duration"),
            ("request: { GET: /x }\n    soak: { duration: 1h, concurrency: 1000001 }", "between 1 and 1000000"),
            (
                "request: { GET: /x }\n    load: { requests: 5, rate: 5/s, ramp: 2s }",
                "open loop's starts are already spread",
            ),
            ("request: { GET: /x }\n    load: { requests: 5, concurrency: 2, ramp: 0s }", "longer than zero"),
            (
                "request: { GET: /x }\n    load: { ramp: 1s, sweep: { rate: [1/s, 2/s], requests: 4 } }",
                "open loop's starts are already spread",
            ),
            ("request: { GET: /x }\n    soak: { duration: 2s, interval: 500ms, window: 1ms }", "at most 120 windows"),
            ("request: { GET: /x }\n    soak: { duration: 1h, interval: 1s, window: 0s }", "longer than zero"),
            ("request: { GET: /x }\n    expect: { json: { $.a: { lt: 1e400 } } }", "needs a finite number"),
            ("request: { GET: /x }\n    expect: { json: { $.a: { gte: .inf } } }", "needs a finite number"),
            ("request: { GET: /x }\n    expect: { latency: < 1e400 }", "not a finite number"),
            ("steps: [ { wait_until: { timeout: 10000000000000000000s, request: { GET: /x } } } ]", "too long"),
            ("steps: [ { wait_until: { timeout: 5s, every: 0s, request: { GET: /x } } } ]", "longer than zero"),
            ("steps: [ { sleep: 1e400s } ]", "without an exponent"),
            ("steps: [ { exec: { command: [true], timeout: 0s } } ]", "longer than zero"),
        ];
        for (test, expected) in cases {
            let text =
                format!("suite: s\ndefaults: {{ base_url: http://127.0.0.1:9 }}\ntests:\n  - name: t\n    {test}\n");
            let e = load_text(&text).expect_err(test);
            assert!(e.iter().any(|m| m.contains(expected)), "{test}: {e:?}");
        }
    }

    #[test]
    fn a_ramp_applies_to_every_step_of_a_concurrency_sweep() {
        let text = "suite: s\ndefaults: { base_url: http://127.0.0.1:9 }\ntests:\n  - name: t\n    request: { GET: /x }\n    load: { ramp: 500ms, sweep: { concurrency: [2, 4], requests: 8 } }\n";
        let suite = load_text(text).unwrap();
        let plan = suite.tests[0].load.as_ref().unwrap();
        let sweep = plan.sweep.as_ref().unwrap();
        for level in [2.0, 4.0] {
            assert_eq!(plan.at_step(sweep, level).ramp, std::time::Duration::from_millis(500));
        }
    }

    #[test]
    fn secrets_are_known_even_when_loading_fails() {
        let env = |n: &str| (n == "API_KEY").then(|| "from-env-123".to_string());
        let given = [("cli".to_string(), "from-cli-456".to_string())];
        let overridden = [("literal".to_string(), "replaced".to_string())];
        let opts = LoadOptions {
            vars: &overridden,
            secrets: &given,
            base_url: None,
            timeout: None,
            tls: &Default::default(),
            env: &env,
            embedded: Default::default(),
        };
        let text = "suite: s\nsecrets:\n  literal: lit-789\n  key: ${env.API_KEY}\ntests:\n  - name: t\n    request: { GET: /x, timeout: lit-789 }\n";
        let dir = std::env::temp_dir().join(format!("llmspec-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.yaml");
        std::fs::write(&path, text).unwrap();
        let e = load(&[path], &opts).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        for secret in ["from-cli-456", "lit-789", "from-env-123", "replaced"] {
            assert!(e.secrets.iter().any(|s| s == secret), "{secret} missing from {:?}", e.secrets);
        }
        assert!(!e.diagnostics.is_empty());
    }

    #[test]
    fn many_problems_are_cut_short() {
        // Each unknown reference would be compared with every variable for a suggestion.
        let vars: String = (0..5_000).map(|i| format!("  variable_{i}: {i}\n")).collect();
        let refs: String = (0..5_000).map(|i| format!("\"${{unknown_{i}}}\", ")).collect();
        let text = format!(
            "suite: s\nvars:\n{vars}tests:\n  - name: t\n    request: {{ GET: http://127.0.0.1:9/, json: [{refs}] }}\n"
        );
        let e = load_text(&text).unwrap_err();
        assert_eq!(e.len(), limits::MAX_PROBLEMS + 1, "{:?}", &e[..3]);
        assert!(e[limits::MAX_PROBLEMS].contains("and 4900 more problems in this file"), "{e:?}");
    }

    #[test]
    fn a_null_header_removes_the_default_and_an_empty_one_is_sent_empty() {
        let text = "suite: s\ndefaults:\n  base_url: http://127.0.0.1:9\n  headers: { Authorization: Bearer sk-1, X-Team: qa }\ntests:\n  - name: anonymous\n    request: { GET: /v1/models, headers: { authorization: null, X-Absent: ~, X-Tenant: \"${env.TENANT:-}\" } }\n  - name: empty\n    request: { GET: /v1/models, headers: { Authorization: \"\" } }\n  - name: default\n    request: { GET: /v1/models }\n";
        let plan = load_text(text).unwrap();
        let headers = |i: usize| {
            let exchange = plan.tests[i].exchange.as_ref().unwrap();
            exchange.request.headers.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>()
        };
        assert_eq!(headers(0), ["X-Team=qa"]);
        assert_eq!(headers(1), ["X-Team=qa", "Authorization="]);
        assert_eq!(headers(2), ["Authorization=Bearer sk-1", "X-Team=qa"]);
        // A default header cannot be null: there is nothing for it to remove.
        let e = load_text(&text.replace("X-Team: qa", "X-Team: ~")).unwrap_err();
        assert!(e.iter().any(|m| m.starts_with("4:") && m.ends_with("expected a string, found null")), "{e:?}");
    }

    #[test]
    fn a_tool_call_check_selects_calls_one_way() {
        let spec = |tool_call: &str| {
            format!(
                "suite: s\ntests:\n  - name: t\n    request: {{ GET: http://127.0.0.1:9/ }}\n    expect:\n      tool_call: {tool_call}\n"
            )
        };
        let plan = load_text(&spec("{ name: f, select: all }")).unwrap();
        let check = plan.tests[0].exchange.as_ref().unwrap().expect.tool_call.as_ref().unwrap();
        assert_eq!(check.selection, crate::expect::tools::Selection::All);
        let plan = load_text(&spec("{ index: 2 }")).unwrap();
        let check = plan.tests[0].exchange.as_ref().unwrap().expect.tool_call.as_ref().unwrap();
        assert_eq!(check.selection, crate::expect::tools::Selection::Index(2));
        let e = load_text(&spec("{ select: any, index: 1 }")).unwrap_err();
        assert!(e.iter().any(|m| m.contains("`select` or `index`, not both")), "{e:?}");
        let e = load_text(&spec("{ select: every }")).unwrap_err();
        assert!(e.iter().any(|m| m.contains("unknown value `every`")), "{e:?}");
    }

    #[test]
    fn requirements_are_checked_when_the_spec_is_loaded() {
        let spec = |require: &str| {
            format!(
                "suite: s\nvars: {{ big: 9, word: abc }}\ntests:\n  - name: p\n    request: {{ GET: http://127.0.0.1:9/ }}\n    capture: {{ window: $.w }}\n  - name: t\n    require: [{require}]\n    request: {{ GET: http://127.0.0.1:9/ }}\n"
            )
        };
        // Conditions are CEL: mistakes are found at load, with what was meant.
        for (bad, says) in [
            ("\"${window} >\"", "in this expression"),
            ("\"> 5\"", "in this expression"),
            ("\"${window} => 5\"", "in this expression"),
            ("\"windw > 5\"", "did you mean `window`"),
            ("\"word > 5\"", ""),
            ("\"response.status == 200\"", "unknown name `response`"),
            ("\"size(window, 2) > 1\"", "takes 1 argument"),
        ] {
            let e = load_text(&spec(bad)).err().unwrap_or_default();
            if says.is_empty() {
                assert!(e.is_empty(), "{bad}: {e:?}");
            } else {
                assert!(e.iter().any(|m| m.contains(says)), "{bad}: {e:?}");
            }
        }
        let plan = load_text(&spec("\"${window} >= 70000\", \"big != 1 && vars.word == 'abc'\"")).unwrap();
        let r = &plan.tests[1].require;
        let no_measure = |_: &crate::expr::MeasuredCall| Err("none".to_string());
        let mut known = crate::expr::bindings::Known::for_suite(plan.vars.clone(), std::iter::empty());
        known.captures.insert("window".into(), serde_json::json!(4096));
        known.refresh();
        assert_eq!(r[0].holds(&known.bindings(), &no_measure), Ok(false));
        assert_eq!(r[0].values_read(&known.bindings()), " (window = 4096)");
        assert_eq!(r[1].holds(&known.bindings(), &no_measure), Ok(true));
        known.captures.insert("window".into(), serde_json::json!("big"));
        known.refresh();
        assert!(r[0].holds(&known.bindings(), &no_measure).is_err());
    }

    /// A load test reads its gauges every second, a soak every five, unless `every` says.
    #[test]
    fn samples_are_read_every_second_in_a_load_and_every_five_in_a_soak() {
        let test = |shape: &str| {
            format!(
                "suite: s\ndefaults: {{ base_url: \"http://127.0.0.1:1\" }}\ntests:\n  - name: t\n    {shape}\n    sample:\n      running: {{ prometheus: {{ metric: m }} }}\n    request: {{ GET: /x }}\n"
            )
        };
        let every = |shape: &str| match load_text(&test(shape)) {
            Ok(plan) => plan.tests[0].samples[0].every,
            Err(e) => panic!("{shape}: {e:?}"),
        };
        assert_eq!(every("load: { requests: 10, concurrency: 2 }"), std::time::Duration::from_secs(1));
        assert_eq!(every("soak: { duration: 1h, concurrency: 2 }"), std::time::Duration::from_secs(5));
        assert_eq!(
            every("load: { requests: 10, rate: 4/s }"),
            std::time::Duration::from_millis(250),
            "or the interval of a rate"
        );
    }
}
