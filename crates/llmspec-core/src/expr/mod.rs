//! Expressions in CEL, the Common Expression Language (docs/expressions.md): `expect.that`,
//! `require`, threshold conditions and computed captures.
//!
//! An expression is parsed and checked when the spec is loaded, so an unknown name, a wrong
//! argument count or an obvious type mismatch is a spec error at file:line:col, before anything
//! is sent. What it reads is bound as JSON when it is evaluated.

pub mod bindings;
mod check;
mod functions;
mod value;

pub use check::{MeasuredCall, Ty};

use crate::metrics::catalog::{MetricName, ScalarName, SeriesName};
use crate::vocab::Loc;
use cel::common::ast::{CallExpr, EntryExpr, Expr, IdedExpr, LiteralValue};
use cel::{Context, Env};
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

/// Longer expressions are refused: the parser recurses on chains of operators, and a spec
/// must not be able to exhaust its stack.
pub const MAX_LENGTH: usize = 4096;
/// Deeper expressions are refused before they are checked or evaluated, for the same reason.
pub const MAX_DEPTH: usize = 32;

/// Where an expression is written, which decides what it can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `expect.that`: the response, the request, the metrics, vars, captures, earlier tests.
    Expect,
    /// A computed capture: as `expect`, and it may give any value.
    Capture,
    /// `require`: vars, captures and earlier tests; nothing is sent yet.
    Require,
    /// A threshold condition: the run's series and numbers, and all of the above but one response.
    Threshold,
}

/// The names an expression can use at its place in the spec.
#[derive(Debug, Default, Clone)]
pub struct Names {
    pub vars: Vec<String>,
    pub captures: Vec<String>,
    /// Earlier tests of the suite.
    pub tests: Vec<String>,
    /// Sampled series (`sample:`) and step values (`as:`) of a soak test.
    pub samples: Vec<String>,
    pub steps: Vec<String>,
}

/// Where the text was written in the spec file, to point into it.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub loc: Loc,
    /// The scalar is plain (unquoted): its columns are the file's columns.
    pub plain: bool,
}

#[derive(Debug, Clone)]
pub struct Expression {
    /// As written: a JUnit case name when it is a threshold.
    pub text: String,
    pub loc: Loc,
    ast: IdedExpr,
    /// Calls answered with a measured number before evaluation.
    pub measured: Vec<MeasuredCall>,
    /// Earlier tests it reads by name.
    pub tests: BTreeSet<String>,
    /// Top-level names and captures it reads.
    pub reads: BTreeSet<String>,
    /// It reads the stream's events, which are then kept.
    pub reads_events: bool,
}

fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // Only the strings extension: the lists one brings `lists.range`, which lets a short
        // expression loop a million times.
        let _ = env.add_extension(cel::extensions::strings);
        Arc::new(env)
    })
    .clone()
}

/// The types of what an expression of `kind` can read.
fn roots(kind: Kind, names: &Names, names_tests: bool) -> Vec<(String, Ty)> {
    let metrics = Ty::Record(MetricName::NAMES.iter().map(|n| (n.to_string(), Ty::Double)).collect());
    let headers = Ty::Dict(Box::new(Ty::String));
    let response = Ty::record(&[
        ("status", Ty::Int),
        ("headers", headers.clone()),
        ("body", Ty::Dyn),
        ("text", Ty::String),
        ("content", Ty::String),
        ("reasoning", Ty::String),
        ("finish_reason", Ty::Dyn),
        ("tool_calls", Ty::List(Box::new(Ty::Dyn))),
        ("events", Ty::List(Box::new(Ty::Dyn))),
    ]);
    let request = Ty::record(&[("method", Ty::String), ("url", Ty::String), ("headers", headers), ("body", Ty::Dyn)]);
    let test_record =
        Ty::record(&[("response", response.clone()), ("request", request.clone()), ("metrics", metrics.clone())]);
    let dyn_record = |keys: &[String]| Ty::Record(keys.iter().map(|k| (k.clone(), Ty::Dyn)).collect());
    let mut roots: Vec<(String, Ty)> = vec![
        ("vars".into(), dyn_record(&names.vars)),
        ("captures".into(), dyn_record(&names.captures)),
        // Typed only when the text names it: the type grows with the suite, and a suite of
        // thousands of instances must not pay for it in every expression.
        (
            "tests".into(),
            if names_tests {
                Ty::Record(names.tests.iter().map(|t| (t.clone(), test_record.clone())).collect())
            } else {
                Ty::Record(vec![])
            },
        ),
    ];
    match kind {
        Kind::Expect | Kind::Capture => {
            roots.push(("response".into(), response));
            roots.push(("request".into(), request));
            roots.push(("metrics".into(), metrics.clone()));
            roots.push(("baseline".into(), Ty::record(&[("metrics", metrics)])));
        }
        Kind::Require => roots.push(("baseline".into(), Ty::record(&[("metrics", metrics)]))),
        Kind::Threshold => {
            let scalars: Vec<(String, Ty)> = ScalarName::NAMES.iter().map(|n| (n.to_string(), Ty::Double)).collect();
            let mut previous = scalars.clone();
            previous.push(("metrics".into(), metrics));
            roots.push(("baseline".into(), Ty::Record(previous)));
            roots.extend(scalars);
            roots.extend(SeriesName::NAMES.iter().map(|n| (n.to_string(), Ty::Series)));
            roots.extend(names.samples.iter().map(|n| (n.clone(), Ty::Series)));
            roots.extend(names.steps.iter().map(|n| (n.clone(), Ty::Double)));
        }
    }
    // Vars and captures are also names of their own, unless a built-in name has them.
    for name in names.vars.iter().chain(&names.captures) {
        if !roots.iter().any(|(n, _)| n == name) {
            roots.push((name.clone(), Ty::Dyn));
        }
    }
    roots
}

/// `${name}` outside quotes becomes the name itself, so that the reference syntax of the
/// rest of the spec works here too. Returns the text and, for each byte, where it was.
fn plain_references(text: &str) -> (String, Vec<usize>) {
    let (mut out, mut origin) = (String::with_capacity(text.len()), Vec::with_capacity(text.len()));
    let mut quote: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) => {
                if c == '\\' {
                    if let Some((j, next)) = chars.next() {
                        push(&mut out, &mut origin, c, i);
                        push(&mut out, &mut origin, next, j);
                        continue;
                    }
                } else if c == q {
                    quote = None;
                }
                push(&mut out, &mut origin, c, i);
            }
            None if c == '$' && text[i + 1..].starts_with('{') => match text[i + 2..].find('}') {
                Some(end) => {
                    let name = &text[i + 2..i + 2 + end];
                    for (k, nc) in name.char_indices() {
                        push(&mut out, &mut origin, nc, i + 2 + k);
                    }
                    while chars.peek().is_some_and(|(j, _)| *j <= i + 2 + end) {
                        chars.next();
                    }
                }
                None => push(&mut out, &mut origin, c, i),
            },
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                push(&mut out, &mut origin, c, i);
            }
        }
    }
    origin.push(text.len());
    (out, origin)
}

fn push(out: &mut String, origin: &mut Vec<usize>, c: char, at: usize) {
    out.push(c);
    origin.extend(std::iter::repeat_n(at, c.len_utf8()));
}

/// A byte offset of the written text → a place in the file.
fn locate(origin: Origin, text: &str, byte: usize) -> (Loc, Option<usize>) {
    let byte = byte.min(text.len());
    let before = &text[..text.floor_char_boundary(byte)];
    let column = before.chars().count() + 1;
    if origin.plain && !text.contains('\n') {
        (Loc { line: origin.loc.line, col: origin.loc.col + column - 1 }, None)
    } else {
        (origin.loc, Some(column))
    }
}

/// Parses on a thread with a large stack: the parser recurses once per operator of a chain.
fn parse(text: String) -> Result<(IdedExpr, cel::common::ast::SourceInfo), Vec<((isize, isize), String)>> {
    let job = std::thread::Builder::new().stack_size(64 << 20).spawn(move || {
        env().parser().parse_with_source_info(&text).map_err(|errors| {
            errors.errors.into_iter().map(|e| (e.pos, e.msg.trim_start_matches("Syntax error: ").to_string())).collect()
        })
    });
    match job.map(|handle| handle.join()) {
        Ok(Ok(result)) => result,
        _ => Err(vec![((1, 1), "the expression could not be parsed".into())]),
    }
}

fn depth(root: &IdedExpr) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&IdedExpr, usize)> = vec![(root, 1)];
    while let Some((e, d)) = stack.pop() {
        deepest = deepest.max(d);
        children(e, &mut |c| stack.push((c, d + 1)));
    }
    deepest
}

fn children<'a>(e: &'a IdedExpr, visit: &mut dyn FnMut(&'a IdedExpr)) {
    match &e.expr {
        Expr::Call(c) => {
            if let Some(t) = &c.target {
                visit(t);
            }
            c.args.iter().for_each(|a| visit(a));
        }
        Expr::Select(s) => visit(&s.operand),
        Expr::List(l) => l.elements.iter().for_each(|x| visit(x)),
        Expr::Map(m) => {
            for entry in &m.entries {
                if let EntryExpr::MapEntry(me) = &entry.expr {
                    visit(&me.key);
                    visit(&me.value);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let EntryExpr::StructField(f) = &entry.expr {
                    visit(&f.value);
                }
            }
        }
        Expr::Comprehension(c) => {
            for x in [&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result] {
                visit(x);
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn children_mut(e: &mut IdedExpr, visit: &mut dyn FnMut(&mut IdedExpr)) {
    match &mut e.expr {
        Expr::Call(c) => {
            if let Some(t) = c.target.as_deref_mut() {
                visit(t);
            }
            c.args.iter_mut().for_each(|a| visit(a));
        }
        Expr::Select(s) => visit(&mut s.operand),
        Expr::List(l) => l.elements.iter_mut().for_each(|x| visit(x)),
        Expr::Map(m) => {
            for entry in &mut m.entries {
                if let EntryExpr::MapEntry(me) = &mut entry.expr {
                    visit(&mut me.key);
                    visit(&mut me.value);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &mut s.entries {
                if let EntryExpr::StructField(f) = &mut entry.expr {
                    visit(&mut f.value);
                }
            }
        }
        Expr::Comprehension(c) => {
            for x in [&mut c.iter_range, &mut c.accu_init, &mut c.loop_cond, &mut c.loop_step, &mut c.result] {
                visit(x);
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// After the check: arithmetic that mixes ints and doubles, statistics of lists, and our list
/// functions called as methods, all become calls of our functions.
fn rewrite(e: &mut IdedExpr, measured: &[MeasuredCall]) {
    children_mut(e, &mut |c| rewrite(c, measured));
    if measured.iter().any(|m| m.id == e.id) {
        return;
    }
    let Expr::Call(call) = &mut e.expr else { return };
    // `map` and `filter` grow their result with `@result + [x]`: the interpreter appends in
    // place only when it sees CEL's own `+`, so that one stays (both sides are lists anyway).
    let accumulates = call.args.iter().any(|a| matches!(&a.expr, Expr::Ident(n) if n.starts_with('@')));
    if accumulates {
        return;
    }
    if call.func_name == "split" && call.target.is_some() {
        // Our split caps the number of pieces: a long text cut at every character would make
        // a list of millions of values.
        if let Some(target) = call.target.take() {
            call.args.insert(0, *target);
        }
        call.func_name = functions::SPLIT.to_string();
        return;
    }
    let renamed = match call.func_name.as_str() {
        "_+_" => Some(functions::ADD),
        "_-_" => Some(functions::SUB),
        "_*_" => Some(functions::MUL),
        "_/_" => Some(functions::DIV),
        _ => None,
    };
    if let Some(name) = renamed {
        call.func_name = name.to_string();
        return;
    }
    if matches!(call.func_name.as_str(), "sorted" | "unique" | "monotonic") {
        if let Some(target) = call.target.take() {
            call.args.insert(0, *target);
        }
        return;
    }
    if call.target.is_none() && call.args.len() == 1 && check::is_statistic(&call.func_name) {
        let name = std::mem::take(&mut call.func_name);
        let list = std::mem::take(&mut call.args);
        let id = e.id;
        *call = CallExpr {
            func_name: functions::STAT.to_string(),
            target: None,
            args: list
                .into_iter()
                .chain([IdedExpr { id, expr: Expr::Literal(LiteralValue::String(name.into())) }])
                .collect(),
        };
    }
}

impl Expression {
    /// Parses and checks `text`; every problem found, at its place in the file.
    pub fn compile(text: &str, origin: Origin, kind: Kind, names: &Names) -> Result<Expression, Vec<(Loc, String)>> {
        let at = |byte: usize, message: String| {
            let (loc, column) = locate(origin, text, byte);
            let message = match column {
                Some(c) => format!("{message} (column {c} of the expression)"),
                None => message,
            };
            (loc, message)
        };
        if text.trim().is_empty() {
            return Err(vec![(origin.loc, "an empty expression".into())]);
        }
        if text.len() > MAX_LENGTH {
            return Err(vec![(origin.loc, format!("an expression is at most {MAX_LENGTH} bytes long"))]);
        }
        let (source, byte_origin) = plain_references(text);
        let (mut ast, info) = parse(source.clone()).map_err(|errors| {
            errors
                .into_iter()
                .map(|((line, col), msg)| {
                    // The parser counts lines and characters from 1; find the byte it means.
                    let line_start: usize =
                        source.split_inclusive('\n').take(line.max(1) as usize - 1).map(str::len).sum();
                    let rest = &source[line_start.min(source.len())..];
                    let byte =
                        line_start + rest.char_indices().nth(col.max(1) as usize - 1).map_or(rest.len(), |(b, _)| b);
                    let message = crate::vocab::text::trim_middle(&msg, 300);
                    at(byte_origin.get(byte).copied().unwrap_or(text.len()), format!("in this expression: {message}"))
                })
                .collect::<Vec<_>>()
        })?;
        if depth(&ast) > MAX_DEPTH {
            return Err(vec![(origin.loc, format!("this expression nests deeper than {MAX_DEPTH} levels: split it"))]);
        }
        let roots = roots(kind, names, source.contains("tests"));
        let mut checker = check::Checker::new(&roots);
        let result = checker.check(&ast);
        let wants_truth = kind != Kind::Capture;
        if wants_truth && !matches!(result, Ty::Bool | Ty::Dyn) {
            checker.problems.push((ast.id, format!("this expression gives {}, not true or false", result.describe())));
        }
        if !checker.problems.is_empty() {
            let byte_of = |id: u64| {
                let start = info.offset_for(id).map_or(0, |(start, _)| start as usize);
                byte_origin.get(start).copied().unwrap_or(0)
            };
            let mut problems: Vec<(Loc, String)> =
                checker.problems.into_iter().map(|(id, message)| at(byte_of(id), message)).collect();
            problems.dedup();
            return Err(problems);
        }
        let measured = std::mem::take(&mut checker.measured);
        rewrite(&mut ast, &measured);
        Ok(Expression {
            text: text.trim().to_string(),
            loc: origin.loc,
            ast,
            measured,
            tests: checker.tests,
            reads: checker.reads,
            reads_events: checker.reads_events,
        })
    }

    /// The value, with `bindings` as the names it reads and `measure` answering the measured
    /// calls (thresholds). An error says what could not be evaluated.
    pub fn evaluate(
        &self,
        bindings: &[(&str, &serde_json::Value)],
        measure: &dyn Fn(&MeasuredCall) -> Result<f64, String>,
    ) -> Result<serde_json::Value, String> {
        let ast = self.measured_ast(measure)?;
        let ctx = self.context(bindings)?;
        resolve(&ast, &ctx)
    }

    /// For a comparison that does not hold, the values of its two sides, for the report:
    /// `0.91 < 0.6`.
    pub fn sides(
        &self,
        bindings: &[(&str, &serde_json::Value)],
        measure: &dyn Fn(&MeasuredCall) -> Result<f64, String>,
    ) -> Option<String> {
        let ast = self.measured_ast(measure).ok()?;
        let Expr::Call(call) = &ast.expr else { return None };
        let op = match call.func_name.as_str() {
            "_==_" => "==",
            "_!=_" => "!=",
            "_<_" => "<",
            "_<=_" => "<=",
            "_>_" => ">",
            "_>=_" => ">=",
            _ => return None,
        };
        let [left, right] = call.args.as_slice() else { return None };
        let ctx = self.context(bindings).ok()?;
        let shown = |side: &IdedExpr| resolve(side, &ctx).map(|v| crate::vocab::text::trim_middle(&v.to_string(), 200));
        Some(format!("{} {op} {}", shown(left).ok()?, shown(right).ok()?))
    }

    /// The expression with its measured calls answered.
    fn measured_ast(&self, measure: &dyn Fn(&MeasuredCall) -> Result<f64, String>) -> Result<IdedExpr, String> {
        let mut ast = self.ast.clone();
        for call in &self.measured {
            let value = measure(call)?;
            replace(&mut ast, call.id, &Expr::Literal(LiteralValue::Double(value.into())));
        }
        Ok(ast)
    }

    fn context(&self, bindings: &[(&str, &serde_json::Value)]) -> Result<Context<'static, 'static>, String> {
        let mut ctx = Context::with_env(env());
        functions::register(&mut ctx)?;
        // Only what the expression reads is converted: a large earlier record or answer costs
        // nothing to an expression that does not name it.
        for (name, value) in bindings.iter().filter(|(name, _)| self.reads.contains(*name)) {
            ctx.add_variable_from_value(*name, value::to_cel(value));
        }
        Ok(ctx)
    }

    /// The vars and captures it read, as ` (name = value, ...)`, for a skip reason.
    pub fn values_read(&self, bindings: &[(&str, &serde_json::Value)]) -> String {
        let shown: Vec<String> = bindings
            .iter()
            .filter(|(name, _)| self.reads.contains(*name) && !matches!(*name, "vars" | "captures" | "tests"))
            .map(|(name, value)| format!("{name} = {}", crate::vocab::text::trim_middle(&value.to_string(), 60)))
            .collect();
        if shown.is_empty() { String::new() } else { format!(" ({})", shown.join(", ")) }
    }

    /// Whether it holds; an error when it cannot be evaluated or is not true or false.
    pub fn holds(
        &self,
        bindings: &[(&str, &serde_json::Value)],
        measure: &dyn Fn(&MeasuredCall) -> Result<f64, String>,
    ) -> Result<bool, String> {
        match self.evaluate(bindings, measure)? {
            serde_json::Value::Bool(b) => Ok(b),
            other => {
                Err(format!("gives {}, not true or false", crate::vocab::text::trim_middle(&other.to_string(), 100)))
            }
        }
    }
}

fn resolve(ast: &IdedExpr, ctx: &Context<'_, '_>) -> Result<serde_json::Value, String> {
    match cel::Value::resolve(ast, ctx) {
        Ok(v) => Ok(value::to_json(&v)),
        Err(e) => Err(crate::vocab::text::trim_middle(&e.to_string(), 300)),
    }
}

/// Puts `with` in place of the node `id` (ids are unique in a parsed expression).
fn replace(e: &mut IdedExpr, id: u64, with: &Expr) {
    if e.id == id {
        e.expr = with.clone();
        return;
    }
    children_mut(e, &mut |c| replace(c, id, with));
}

#[cfg(test)]
mod tests;
