//! The functions llmspec adds to CEL, and the arithmetic it uses instead of CEL's.
//!
//! CEL refuses `2 * 0.5` (int times double). A spec author writes `2 * baseline` without
//! thinking of types, so the checker rewrites `+ - * /` into the `__add`-style functions
//! below: two ints stay an int (overflow is an error), any double makes a double, and `+` still
//! joins strings and lists.

use super::value;
use cel::extractors::Arguments;
use cel::{Context, ExecutionError, Value};
use std::cmp::Ordering;
use std::sync::Arc;

pub const ADD: &str = "__add";
pub const SUB: &str = "__sub";
pub const MUL: &str = "__mul";
pub const DIV: &str = "__div";
/// `__stat(list, "p50")`: a statistic of a list of numbers.
pub const STAT: &str = "__stat";
/// `text.split(sep[, n])`, with at most [`MAX_PIECES`] pieces.
pub const SPLIT: &str = "__split";
/// More pieces than this is an error, not a list: expressions stay cheap whatever the answer.
pub const MAX_PIECES: usize = 100_000;

/// Registers every function of ours on a root context.
pub fn register(ctx: &mut Context<'_, '_>) -> Result<(), String> {
    let declared = [
        ctx.add_function(ADD, |Arguments(a): Arguments| arithmetic("+", &a)),
        ctx.add_function(SUB, |Arguments(a): Arguments| arithmetic("-", &a)),
        ctx.add_function(MUL, |Arguments(a): Arguments| arithmetic("*", &a)),
        ctx.add_function(DIV, |Arguments(a): Arguments| arithmetic("/", &a)),
        ctx.add_function(STAT, |Arguments(a): Arguments| stat(&a)),
        ctx.add_function("sorted", |Arguments(a): Arguments| sorted(&a)),
        ctx.add_function("unique", |Arguments(a): Arguments| unique(&a)),
        ctx.add_function("monotonic", |Arguments(a): Arguments| monotonic(&a)),
        ctx.add_function("seconds", |Arguments(a): Arguments| seconds(&a)),
        ctx.add_function("json", |Arguments(a): Arguments| json(&a)),
        ctx.add_function(SPLIT, |Arguments(a): Arguments| split(&a)),
    ];
    declared.into_iter().collect::<Result<Vec<()>, _>>().map(|_| ()).map_err(|e| format!("{e:?}"))
}

fn fail(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        _ => None,
    }
}

fn arithmetic(op: &str, args: &[Value]) -> Result<Value, ExecutionError> {
    let [a, b] = args else { return Err(fail(op, "takes two operands")) };
    if let (Some(x), Some(y)) = (int(a), int(b)) {
        let result = match op {
            "+" => x.checked_add(y),
            "-" => x.checked_sub(y),
            "*" => x.checked_mul(y),
            _ if y == 0 => return Err(ExecutionError::DivisionByZero(Value::Int(x))),
            _ => x.checked_div(y),
        };
        return result.map(Value::Int).ok_or_else(|| fail(op, format!("{x} {op} {y} overflows")));
    }
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return Ok(Value::Float(match op {
            "+" => x + y,
            "-" => x - y,
            "*" => x * y,
            _ => x / y,
        }));
    }
    match (op, a, b) {
        ("+", Value::String(x), Value::String(y)) => Ok(Value::String(Arc::new(format!("{x}{y}")))),
        ("+", Value::List(x), Value::List(y)) => Ok(Value::List(Arc::new(x.iter().chain(y.iter()).cloned().collect()))),
        _ => Err(fail(op, format!("cannot apply `{op}` to {} and {}", value::show(a), value::show(b)))),
    }
}

fn list<'a>(
    function: &str,
    args: &'a [Value],
    arity: std::ops::RangeInclusive<usize>,
) -> Result<&'a [Value], ExecutionError> {
    if !arity.contains(&args.len()) {
        return Err(fail(function, format!("takes {} arguments, not {}", arity.start(), args.len())));
    }
    match args.first() {
        Some(Value::List(items)) => Ok(items),
        other => Err(fail(function, format!("takes a list, not {}", other.map_or("nothing".into(), value::show)))),
    }
}

fn numbers(function: &str, items: &[Value]) -> Result<Vec<f64>, ExecutionError> {
    items
        .iter()
        .map(|v| number(v).ok_or_else(|| fail(function, format!("{} is not a number", value::show(v)))))
        .collect()
}

/// min, max, mean, median, sum, first, last and any percentile (`p99.9`) of a list.
fn stat(args: &[Value]) -> Result<Value, ExecutionError> {
    let [Value::List(items), Value::String(name)] = args else { return Err(fail("stat", "takes a list and a name")) };
    let mut xs = numbers(name, items)?;
    if xs.is_empty() {
        return Err(fail(name, "the list is empty"));
    }
    let result = match name.as_str() {
        "sum" => xs.iter().sum(),
        "first" => xs[0],
        "last" => xs[xs.len() - 1],
        "mean" | "avg" => xs.iter().sum::<f64>() / xs.len() as f64,
        other => {
            xs.sort_by(f64::total_cmp);
            let q = match other {
                "min" => 0.0,
                "max" => 100.0,
                "median" => 50.0,
                p => p
                    .strip_prefix('p')
                    .and_then(|q| q.parse::<f64>().ok())
                    .ok_or_else(|| fail(p, "unknown statistic"))?,
            };
            // Nearest rank, as the histograms of load runs report.
            let rank = ((q / 100.0) * xs.len() as f64).ceil().max(1.0) as usize;
            xs[rank.min(xs.len()) - 1]
        }
    };
    Ok(Value::Float(result))
}

fn compare(a: &Value, b: &Value) -> Result<Ordering, ExecutionError> {
    match (number(a), number(b), a, b) {
        (Some(x), Some(y), _, _) => Ok(x.total_cmp(&y)),
        (_, _, Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (_, _, Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        _ => Err(fail("sorted", format!("cannot order {} and {}", value::show(a), value::show(b)))),
    }
}

fn sorted(args: &[Value]) -> Result<Value, ExecutionError> {
    let items = list("sorted", args, 1..=1)?;
    let mut out = items.to_vec();
    let mut problem = None;
    out.sort_by(|a, b| {
        compare(a, b).unwrap_or_else(|e| {
            problem.get_or_insert(e);
            Ordering::Equal
        })
    });
    match problem {
        Some(e) => Err(e),
        None => Ok(Value::List(Arc::new(out))),
    }
}

/// The list without repeats, first occurrences kept in order.
fn unique(args: &[Value]) -> Result<Value, ExecutionError> {
    let items = list("unique", args, 1..=1)?;
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    let out: Vec<Value> = items.iter().filter(|item| seen.insert(value::to_json(item).to_string())).cloned().collect();
    Ok(Value::List(Arc::new(out)))
}

fn split(args: &[Value]) -> Result<Value, ExecutionError> {
    let (text, separator, most) = match args {
        [Value::String(t), Value::String(s)] => (t, s, None),
        [Value::String(t), Value::String(s), Value::Int(n)] => (t, s, Some(*n)),
        _ => return Err(fail("split", "takes text, a separator and an optional count")),
    };
    let pieces: Vec<&str> = match most {
        Some(n) if n >= 0 => text.splitn(n as usize, separator.as_str()).take(MAX_PIECES + 1).collect(),
        _ if separator.is_empty() => {
            text.char_indices().map(|(i, c)| &text[i..i + c.len_utf8()]).take(MAX_PIECES + 1).collect()
        }
        _ => text.split(separator.as_str()).take(MAX_PIECES + 1).collect(),
    };
    if pieces.len() > MAX_PIECES {
        return Err(fail("split", format!("gives more than {MAX_PIECES} pieces")));
    }
    Ok(Value::List(Arc::new(pieces.into_iter().map(|p| Value::String(Arc::new(p.to_string()))).collect())))
}

/// `monotonic(list)`: never goes down; `monotonic(list, "decreasing")`: never goes up.
fn monotonic(args: &[Value]) -> Result<Value, ExecutionError> {
    let items = list("monotonic", args, 1..=2)?;
    let wanted = match args.get(1) {
        None => Ordering::Less,
        Some(Value::String(s)) if s.as_str() == "increasing" => Ordering::Less,
        Some(Value::String(s)) if s.as_str() == "decreasing" => Ordering::Greater,
        Some(other) => {
            return Err(fail(
                "monotonic",
                format!("the direction is \"increasing\" or \"decreasing\", not {}", value::show(other)),
            ));
        }
    };
    for pair in items.windows(2) {
        let order = compare(&pair[0], &pair[1])?;
        if order != Ordering::Equal && order != wanted {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

/// `seconds("250ms")` = 0.25: times are numbers of seconds in expressions.
fn seconds(args: &[Value]) -> Result<Value, ExecutionError> {
    match args {
        [Value::String(s)] => crate::vocab::units::parse_duration(s)
            .map(|d| Value::Float(d.as_secs_f64()))
            .map_err(|e| fail("seconds", e)),
        _ => Err(fail("seconds", "takes a duration written as text, e.g. seconds(\"250ms\")")),
    }
}

/// `json(text)`: text that holds JSON (a tool call's arguments), as a value.
fn json(args: &[Value]) -> Result<Value, ExecutionError> {
    match args {
        [Value::String(s)] => serde_json::from_str::<serde_json::Value>(s)
            .map(|v| value::to_cel(&v))
            .map_err(|e| fail("json", format!("not JSON: {e}"))),
        _ => Err(fail("json", "takes text")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(xs: &[f64]) -> Value {
        Value::List(Arc::new(xs.iter().map(|x| Value::Float(*x)).collect()))
    }

    #[test]
    fn arithmetic_mixes_ints_and_doubles() {
        assert_eq!(arithmetic("*", &[Value::Int(2), Value::Float(0.5)]), Ok(Value::Float(1.0)));
        assert_eq!(arithmetic("+", &[Value::Int(2), Value::Int(3)]), Ok(Value::Int(5)));
        assert_eq!(arithmetic("/", &[Value::Int(7), Value::Int(2)]), Ok(Value::Int(3)));
        assert!(arithmetic("/", &[Value::Int(7), Value::Int(0)]).is_err());
        assert!(arithmetic("+", &[Value::Int(i64::MAX), Value::Int(1)]).is_err());
        assert!(arithmetic("-", &[Value::String(Arc::new("a".into())), Value::Int(1)]).is_err());
    }

    #[test]
    fn statistics_of_lists() {
        let xs = l(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        let s = |name: &str| stat(&[xs.clone(), Value::String(Arc::new(name.into()))]);
        assert_eq!(s("p50"), Ok(Value::Float(3.0)));
        assert_eq!(s("max"), Ok(Value::Float(5.0)));
        assert_eq!(s("min"), Ok(Value::Float(1.0)));
        assert_eq!(s("mean"), Ok(Value::Float(3.0)));
        assert_eq!(s("sum"), Ok(Value::Float(15.0)));
        assert_eq!(s("first"), Ok(Value::Float(5.0)));
        assert!(stat(&[l(&[]), Value::String(Arc::new("p50".into()))]).is_err());
    }

    #[test]
    fn list_functions() {
        assert_eq!(sorted(&[l(&[3.0, 1.0, 2.0])]), Ok(l(&[1.0, 2.0, 3.0])));
        assert_eq!(unique(&[l(&[3.0, 1.0, 3.0])]), Ok(l(&[3.0, 1.0])));
        assert_eq!(monotonic(&[l(&[1.0, 1.0, 2.0])]), Ok(Value::Bool(true)));
        assert_eq!(monotonic(&[l(&[1.0, 0.5])]), Ok(Value::Bool(false)));
        let down = Value::String(Arc::new("decreasing".into()));
        assert_eq!(monotonic(&[l(&[3.0, 2.0, 2.0]), down]), Ok(Value::Bool(true)));
        let mixed = Value::List(Arc::new(vec![Value::Int(1), Value::String(Arc::new("a".into()))]));
        assert!(sorted(&[mixed]).is_err());
    }
}
