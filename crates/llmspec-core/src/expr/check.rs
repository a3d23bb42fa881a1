//! The checker: every name, field, function, argument count and obvious type mismatch of an
//! expression, found before anything is sent. The `cel` crate only finds them while
//! evaluating, without a position; this walk knows the shape of what llmspec binds.

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use std::collections::BTreeSet;

/// What the checker knows of a value.
#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    Bool,
    Int,
    Double,
    String,
    Null,
    List(Box<Ty>),
    /// Known fields; any other is a mistake worth a "did you mean".
    Record(Vec<(String, Ty)>),
    /// Any key (headers, a JSON object).
    Dict(Box<Ty>),
    /// A distribution or a sampled series of a load run: only a statistic of it is a number.
    Series,
    /// Not known before the run (a JSON body).
    Dyn,
}

impl Ty {
    pub fn record(fields: &[(&str, Ty)]) -> Ty {
        Ty::Record(fields.iter().map(|(k, t)| (k.to_string(), t.clone())).collect())
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Ty::Bool => "a boolean",
            Ty::Int | Ty::Double => "a number",
            Ty::String => "text",
            Ty::Null => "null",
            Ty::List(_) => "a list",
            Ty::Record(_) | Ty::Dict(_) => "a map",
            Ty::Series => "a series (use a statistic of it, e.g. p50(latency))",
            Ty::Dyn => "a value",
        }
    }

    fn numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Double | Ty::Dyn)
    }
}

/// A call the run answers with a measured number: `p99(latency)`, `slope(rss_mb)`.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredCall {
    pub id: u64,
    /// The function as written: `p99`, `mean`, `slope`, `drift`.
    pub function: String,
    /// The series or sampled series.
    pub of: String,
    /// Of the previous run (`baseline.p50(latency)`).
    pub baseline: bool,
}

pub struct Checker<'a> {
    pub roots: &'a [(String, Ty)],
    pub problems: Vec<(u64, String)>,
    pub measured: Vec<MeasuredCall>,
    /// Earlier tests read by name (`tests.x`, `tests["a b"]`).
    pub tests: BTreeSet<String>,
    /// Top-level names read (a capture by its own name, `captures`, `response`, ...).
    pub reads: BTreeSet<String>,
    /// `response.events` is read: the stream's events must be kept.
    pub reads_events: bool,
    bound: Vec<String>,
    comprehensions: usize,
}

/// Statistics of a list or of a series: `p` followed by a number is any percentile.
pub fn is_statistic(name: &str) -> bool {
    matches!(name, "min" | "max" | "mean" | "avg" | "median" | "sum" | "first" | "last")
        || name.strip_prefix('p').and_then(|q| q.parse::<f64>().ok()).is_some_and(|q| (0.0..=100.0).contains(&q))
}

const MACROS: &[&str] = &["all", "exists", "exists_one", "map", "filter"];

/// Functions called as `f(x)`: the number of arguments they take and what they give.
fn global(name: &str) -> Option<(std::ops::RangeInclusive<usize>, Ty)> {
    Some(match name {
        "size" => (1..=1, Ty::Int),
        "int" | "uint" => (1..=1, Ty::Int),
        "double" => (1..=1, Ty::Double),
        "string" => (1..=1, Ty::String),
        "bool" => (1..=1, Ty::Bool),
        "dyn" | "type" | "bytes" | "json" => (1..=1, Ty::Dyn),
        "matches" => (2..=2, Ty::Bool),
        "sorted" | "unique" => (1..=1, Ty::List(Box::new(Ty::Dyn))),
        "monotonic" => (1..=2, Ty::Bool),
        "seconds" => (1..=1, Ty::Double),
        s if is_statistic(s) => (1..=1, Ty::Double),
        _ => return None,
    })
}

/// Functions called as `x.f(...)`.
fn member(name: &str) -> Option<(std::ops::RangeInclusive<usize>, Ty)> {
    Some(match name {
        "size" => (0..=0, Ty::Int),
        "contains" | "startsWith" | "endsWith" | "matches" => (1..=1, Ty::Bool),
        "lowerAscii" | "upperAscii" | "trim" | "reverse" => (0..=0, Ty::String),
        "replace" => (2..=3, Ty::String),
        "split" => (1..=2, Ty::List(Box::new(Ty::String))),
        "join" => (0..=1, Ty::String),
        "substring" => (1..=2, Ty::String),
        "indexOf" | "lastIndexOf" => (1..=2, Ty::Int),
        "charAt" => (1..=1, Ty::String),
        "format" => (1..=1, Ty::String),
        "sorted" | "unique" => (0..=0, Ty::List(Box::new(Ty::Dyn))),
        "monotonic" => (0..=1, Ty::Bool),
        "orValue" => (1..=1, Ty::Dyn),
        "hasValue" => (0..=0, Ty::Bool),
        "value" => (0..=0, Ty::Dyn),
        _ => return None,
    })
}

const GLOBAL_NAMES: &[&str] = &[
    "size",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "dyn",
    "type",
    "bytes",
    "json",
    "matches",
    "sorted",
    "unique",
    "monotonic",
    "seconds",
    "min",
    "max",
    "mean",
    "median",
    "sum",
    "first",
    "last",
    "p50",
    "p90",
    "p95",
    "p99",
];
const MEMBER_NAMES: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "lowerAscii",
    "upperAscii",
    "trim",
    "reverse",
    "replace",
    "split",
    "join",
    "substring",
    "indexOf",
    "lastIndexOf",
    "charAt",
    "format",
    "sorted",
    "unique",
    "monotonic",
    "orValue",
    "hasValue",
    "value",
    "all",
    "exists",
    "exists_one",
    "map",
    "filter",
];

impl<'a> Checker<'a> {
    pub fn new(roots: &'a [(String, Ty)]) -> Checker<'a> {
        Checker {
            roots,
            problems: vec![],
            measured: vec![],
            tests: BTreeSet::new(),
            reads: BTreeSet::new(),
            reads_events: false,
            bound: vec![],
            comprehensions: 0,
        }
    }

    fn problem(&mut self, id: u64, message: String) -> Ty {
        self.problems.push((id, message));
        Ty::Dyn
    }

    fn root(&self, name: &str) -> Option<&Ty> {
        self.roots.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    pub fn check(&mut self, e: &IdedExpr) -> Ty {
        match &e.expr {
            Expr::Literal(l) => match l {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Int(_) | LiteralValue::UInt(_) => Ty::Int,
                LiteralValue::Double(_) => Ty::Double,
                LiteralValue::String(_) => Ty::String,
                LiteralValue::Bytes(_) => Ty::Dyn,
                LiteralValue::Null => Ty::Null,
            },
            Expr::Ident(name) => {
                if self.bound.contains(name) || name.starts_with('@') {
                    return Ty::Dyn;
                }
                self.reads.insert(name.clone());
                match self.root(name) {
                    Some(t) => t.clone(),
                    None => {
                        let known: Vec<&str> = self.roots.iter().map(|(n, _)| n.as_str()).collect();
                        self.problem(e.id, crate::vocab::suggest::unknown("name", name, &known, ""))
                    }
                }
            }
            Expr::Select(s) => {
                let operand = self.check(&s.operand);
                if let Expr::Ident(n) = &s.operand.expr {
                    if !self.bound.contains(n) {
                        match n.as_str() {
                            "tests" => {
                                self.tests.insert(s.field.clone());
                            }
                            "captures" | "vars" => {
                                self.reads.insert(s.field.clone());
                            }
                            "response" if s.field == "events" => self.reads_events = true,
                            _ => {}
                        }
                    }
                }
                let field = self.field(e.id, &operand, &s.field);
                if s.test { Ty::Bool } else { field }
            }
            Expr::Call(c) => self.call(e, &c.func_name, c.target.as_deref(), &c.args),
            Expr::List(l) => {
                let types: Vec<Ty> = l.elements.iter().map(|x| self.check(x)).collect();
                let first = types.first().cloned().unwrap_or(Ty::Dyn);
                Ty::List(Box::new(if types.iter().all(|t| *t == first) { first } else { Ty::Dyn }))
            }
            Expr::Map(m) => {
                for entry in &m.entries {
                    if let EntryExpr::MapEntry(me) = &entry.expr {
                        self.check(&me.key);
                        self.check(&me.value);
                    }
                }
                Ty::Dict(Box::new(Ty::Dyn))
            }
            Expr::Struct(s) => {
                self.problem(e.id, format!("`{}{{…}}` builds a message type; expressions have none", s.type_name))
            }
            Expr::Comprehension(c) => {
                self.comprehensions += 1;
                if self.comprehensions > 2 {
                    self.problems
                        .push((e.id, "more than two nested all/exists/map/filter: flatten the expression".into()));
                }
                let range = self.check(&c.iter_range);
                if !matches!(range, Ty::List(_) | Ty::Dict(_) | Ty::Record(_) | Ty::Dyn) {
                    self.problems.push((
                        e.id,
                        format!("all/exists/map/filter go over a list or a map, not {}", range.describe()),
                    ));
                }
                self.check(&c.accu_init);
                let before = self.bound.len();
                self.bound.push(c.iter_var.clone());
                self.bound.extend(c.iter_var2.clone());
                self.bound.push(c.accu_var.clone());
                self.check(&c.loop_cond);
                self.check(&c.loop_step);
                let result = self.check(&c.result);
                self.bound.truncate(before);
                self.comprehensions -= 1;
                result
            }
            Expr::Unspecified => Ty::Dyn,
        }
    }

    fn field(&mut self, id: u64, of: &Ty, field: &str) -> Ty {
        match of {
            Ty::Record(fields) => match fields.iter().find(|(n, _)| n == field) {
                Some((_, t)) => t.clone(),
                None if fields.is_empty() => self
                    .problem(id, format!("unknown field `{field}`: none is known here (a test is known after it ran)")),
                None => {
                    let known: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                    self.problem(id, crate::vocab::suggest::unknown("field", field, &known, ""))
                }
            },
            Ty::Dict(v) => (**v).clone(),
            Ty::Dyn => Ty::Dyn,
            other => self.problem(id, format!("{} has no field `{field}`", other.describe())),
        }
    }

    fn call(&mut self, e: &IdedExpr, name: &str, target: Option<&IdedExpr>, args: &[IdedExpr]) -> Ty {
        match (name, target, args) {
            ("_&&_" | "_||_", None, _) | ("!_", None, _) | ("@not_strictly_false", None, _) => {
                for a in args {
                    let t = self.check(a);
                    if !matches!(t, Ty::Bool | Ty::Dyn) {
                        self.problems
                            .push((a.id, format!("`&&`, `||` and `!` take true or false, not {}", t.describe())));
                    }
                }
                Ty::Bool
            }
            ("_==_" | "_!=_", None, [a, b]) => {
                let (x, y) = (self.check(a), self.check(b));
                let mismatch = (x.numeric() && y == Ty::String && x != Ty::Dyn)
                    || (y.numeric() && x == Ty::String && y != Ty::Dyn);
                if mismatch {
                    self.problems.push((e.id, format!("compares {} with {}: never equal", x.describe(), y.describe())));
                }
                Ty::Bool
            }
            ("_<_" | "_<=_" | "_>_" | "_>=_", None, [a, b]) => {
                let (x, y) = (self.check(a), self.check(b));
                let comparable = (x.numeric() && y.numeric())
                    || (matches!(x, Ty::String | Ty::Dyn) && matches!(y, Ty::String | Ty::Dyn));
                if !comparable {
                    self.problems.push((e.id, format!("cannot order {} and {}", x.describe(), y.describe())));
                }
                Ty::Bool
            }
            ("_+_" | "_-_" | "_*_" | "_/_" | "_%_", None, [a, b]) => {
                let (x, y) = (self.check(a), self.check(b));
                let joins = name == "_+_"
                    && matches!(
                        (&x, &y),
                        (Ty::String, Ty::String | Ty::Dyn)
                            | (Ty::Dyn, Ty::String)
                            | (Ty::List(_), Ty::List(_) | Ty::Dyn)
                            | (Ty::Dyn, Ty::List(_))
                    );
                if joins {
                    return if matches!(x, Ty::String) || matches!(y, Ty::String) { Ty::String } else { x };
                }
                if !(x.numeric() && y.numeric()) {
                    let op = &name[1..name.len() - 1];
                    return self
                        .problem(e.id, format!("`{op}` takes numbers, not {} and {}", x.describe(), y.describe()));
                }
                match (x, y) {
                    (Ty::Int, Ty::Int) => Ty::Int,
                    (Ty::Dyn, _) | (_, Ty::Dyn) => Ty::Dyn,
                    _ => Ty::Double,
                }
            }
            ("-_", None, [a]) => {
                let t = self.check(a);
                if !t.numeric() {
                    self.problems.push((e.id, format!("`-` takes a number, not {}", t.describe())));
                }
                t
            }
            ("_?_:_", None, [c, a, b]) => {
                self.check(c);
                let (x, y) = (self.check(a), self.check(b));
                if x == y { x } else { Ty::Dyn }
            }
            ("_[_]" | "_[?_]", None, [of, index]) => {
                let container = self.check(of);
                let key = self.check(index);
                if let (Expr::Ident(root), Expr::Literal(LiteralValue::String(s))) = (&of.expr, &index.expr) {
                    if root == "tests" && !self.bound.contains(root) {
                        self.tests.insert(s.to_string());
                    }
                }
                match (&container, &index.expr) {
                    (Ty::List(item), _) => {
                        if !matches!(key, Ty::Int | Ty::Dyn) {
                            self.problems
                                .push((index.id, format!("a list is indexed by a number, not {}", key.describe())));
                        }
                        (**item).clone()
                    }
                    (Ty::Record(_), Expr::Literal(LiteralValue::String(s))) => {
                        self.field(index.id, &container, &s.to_string())
                    }
                    (Ty::Record(_) | Ty::Dict(_) | Ty::Dyn, _) => match container {
                        Ty::Dict(v) => *v,
                        _ => Ty::Dyn,
                    },
                    (Ty::String, _) => self.problem(e.id, "text is not indexed: use substring() or charAt()".into()),
                    (other, _) => self.problem(e.id, format!("{} is not indexed", other.describe())),
                }
            }
            ("@in", None, [a, b]) => {
                self.check(a);
                let container = self.check(b);
                if !matches!(container, Ty::List(_) | Ty::Record(_) | Ty::Dict(_) | Ty::Dyn) {
                    self.problems.push((e.id, format!("`in` looks in a list or a map, not {}", container.describe())));
                }
                Ty::Bool
            }
            (n, _, _) if n.starts_with('@') || n.starts_with('_') => {
                args.iter().for_each(|a| {
                    self.check(a);
                });
                Ty::Dyn
            }
            (n, None, _) if MACROS.contains(&n) => self.problem(e.id, macro_usage(n)),
            (n, Some(t), _) if MACROS.contains(&n) => {
                self.check(t);
                self.problem(e.id, macro_usage(n))
            }
            (n, Some(t), [series])
                if is_statistic(n)
                    && matches!(&t.expr, Expr::Ident(b) if b == "baseline")
                    && self.root("baseline").is_some() =>
            {
                self.reads.insert("baseline".into());
                self.measured_call(e.id, n, series, true)
            }
            (n, None, [series]) if (is_statistic(n) || n == "slope" || n == "drift") && self.names_series(series) => {
                self.measured_call(e.id, n, series, false)
            }
            ("capacity", None, _) => self.problem(
                e.id,
                "capacity() is a bound of its own, not part of a condition: write `capacity(concurrency) >= 20`, \
                 with a variable as `${name}`"
                    .into(),
            ),
            ("slope" | "drift", None, _) => {
                self.problem(e.id, format!("`{name}` applies to a series of a load or soak test, e.g. {name}(latency)"))
            }
            (n, None, _) => match global(n) {
                Some((arity, result)) => {
                    self.arity(e.id, n, &arity, args.len());
                    for a in args {
                        let t = self.check(a);
                        if t == Ty::Series {
                            self.problems.push((a.id, format!("`{n}` does not take a series; use a statistic of it")));
                        }
                    }
                    result
                }
                None => self
                    .problem(e.id, crate::vocab::suggest::unknown("function", n, GLOBAL_NAMES, "pNN (any percentile)")),
            },
            (n, Some(t), _) => {
                let of = self.check(t);
                match member(n) {
                    Some((arity, result)) => {
                        self.arity(e.id, n, &arity, args.len());
                        if matches!(
                            n,
                            "contains" | "startsWith" | "endsWith" | "matches" | "lowerAscii" | "upperAscii" | "trim"
                        ) && !matches!(of, Ty::String | Ty::Dyn)
                        {
                            self.problems.push((e.id, format!("`{n}` applies to text, not {}", of.describe())));
                        }
                        for a in args {
                            self.check(a);
                        }
                        result
                    }
                    None => self.problem(e.id, crate::vocab::suggest::unknown("method", n, MEMBER_NAMES, "")),
                }
            }
        }
    }

    fn arity(&mut self, id: u64, name: &str, arity: &std::ops::RangeInclusive<usize>, given: usize) {
        if !arity.contains(&given) {
            let want = if arity.start() == arity.end() {
                format!("{}", arity.start())
            } else {
                format!("{} to {}", arity.start(), arity.end())
            };
            let s = if *arity.end() == 1 { "" } else { "s" };
            self.problems.push((id, format!("`{name}` takes {want} argument{s}, not {given}")));
        }
    }

    /// True when the argument names a series the run measures (thresholds only).
    fn names_series(&self, arg: &IdedExpr) -> bool {
        matches!(&arg.expr, Expr::Ident(n) if !self.bound.contains(n) && self.root(n) == Some(&Ty::Series))
    }

    fn measured_call(&mut self, id: u64, function: &str, series: &IdedExpr, baseline: bool) -> Ty {
        let Expr::Ident(of) = &series.expr else {
            return self.problem(id, format!("`{function}` takes the name of a series, e.g. {function}(latency)"));
        };
        if self.root(of) != Some(&Ty::Series) {
            let known: Vec<&str> =
                self.roots.iter().filter(|(_, t)| *t == Ty::Series).map(|(n, _)| n.as_str()).collect();
            return self.problem(series.id, crate::vocab::suggest::unknown("series", of, &known, ""));
        }
        self.measured.push(MeasuredCall { id, function: function.to_string(), of: of.clone(), baseline });
        Ty::Double
    }
}

fn macro_usage(name: &str) -> String {
    match name {
        "map" => "`map` takes a variable name and a value: `list.map(x, x * 2)`".into(),
        "filter" => "`filter` takes a variable name and a condition: `list.filter(x, x > 0)`".into(),
        n => format!("`{n}` takes a variable name and a condition: `list.{n}(x, x > 0)`"),
    }
}
