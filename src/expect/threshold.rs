//! Thresholds: k6-style bounds on the aggregate of a test's requests.
//!
//! `<function>(<series>) <op> <quantity>` or `<scalar> <op> <quantity>`, e.g.
//! `p99(latency) < 5s`, `mean(tokens_per_second) > 50`, `error_rate < 0.1%`. The grammar is in
//! docs/thresholds.md.

use crate::metrics::aggregate::{Aggregate, SCALARS, SERIES, scalar_unit};
use crate::spec::compare::{Comparison, Unit};
use crate::spec::yaml::Loc;
use crate::suggest::closest;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `p99(latency)`, `mean(ttft)`, `max(chunk_gap)`.
    Stat { function: String, series: String },
    /// `error_rate`, `req_per_s`, ...
    Scalar(String),
}

#[derive(Debug, Clone)]
pub struct Threshold {
    pub loc: Loc,
    /// As written, normalised: the JUnit test case name.
    pub text: String,
    pub expr: Expr,
    pub bound: Comparison,
    pub unit: Unit,
}

const FUNCTIONS: &[&str] = &["min", "max", "mean", "avg", "median", "p50", "p90", "p95", "p99", "p99.9"];

impl Threshold {
    pub fn parse(text: &str, loc: Loc) -> Result<Threshold, String> {
        let t = text.trim();
        let op_at = t.find(['<', '>', '=', '!']).ok_or_else(|| {
            format!("`{t}` is not a threshold: write it as `p99(latency) < 5s` or `error_rate < 0.1%`")
        })?;
        let (lhs, rhs) = t.split_at(op_at);
        let lhs = lhs.trim();
        let expr = match lhs.split_once('(') {
            Some((function, rest)) => {
                let series =
                    rest.strip_suffix(')').ok_or_else(|| format!("`{lhs}` lacks its closing parenthesis"))?.trim();
                let function = function.trim();
                let known_p = function
                    .strip_prefix('p')
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| (0.0..=100.0).contains(&q));
                if !known_p && !FUNCTIONS.contains(&function) {
                    return Err(unknown("function", function, FUNCTIONS, "pNN (any percentile)"));
                }
                if !SERIES.iter().any(|(n, _, _)| *n == series) {
                    let names: Vec<&str> = SERIES.iter().map(|(n, _, _)| *n).collect();
                    return Err(unknown("series", series, &names, ""));
                }
                Expr::Stat { function: function.to_string(), series: series.to_string() }
            }
            None => {
                if !SCALARS.contains(&lhs) {
                    let mut names: Vec<&str> = SCALARS.to_vec();
                    names.extend(SERIES.iter().map(|(n, _, _)| *n));
                    let mut message = unknown("value", lhs, SCALARS, "");
                    if SERIES.iter().any(|(n, _, _)| *n == lhs) {
                        message = format!("`{lhs}` is a distribution: bound one of its statistics, e.g. `p99({lhs})`");
                    }
                    return Err(message);
                }
                Expr::Scalar(lhs.to_string())
            }
        };
        let bound = Comparison::parse(rhs)?;
        let unit = match &expr {
            Expr::Stat { series, .. } => {
                SERIES.iter().find(|(n, _, _)| n == series).map(|(_, u, _)| *u).unwrap_or(Unit::Plain)
            }
            Expr::Scalar(name) => scalar_unit(name),
        };
        let compatible = bound.unit == unit || (unit == Unit::Fraction && bound.unit == Unit::Plain);
        if !compatible {
            let want = match unit {
                Unit::Seconds => "a duration, e.g. `< 2s`",
                Unit::Fraction => "a percentage, e.g. `< 0.1%`",
                Unit::Plain => "a number, e.g. `> 50`",
            };
            return Err(format!("`{lhs}` is bounded by {want}, not `{}`", rhs.trim()));
        }
        let name = match &expr {
            Expr::Stat { function, series } => format!("{function}({series})"),
            Expr::Scalar(name) => name.clone(),
        };
        let quantity = rhs.trim().trim_start_matches(['<', '>', '=', '!']).trim();
        Ok(Threshold { loc, text: format!("{name} {} {quantity}", bound.op.symbol()), expr, bound, unit })
    }

    /// The measured value, or `None` when nothing was measured (no streamed request for a TTFT).
    pub fn measure(&self, agg: &Aggregate) -> Option<f64> {
        match &self.expr {
            Expr::Stat { function, series } => agg.stat(function, series),
            Expr::Scalar(name) => agg.scalar(name),
        }
    }

    /// `Ok(measured)` when the bound holds; `Err(what was measured)` when it does not.
    pub fn evaluate(&self, agg: &Aggregate) -> Result<String, String> {
        match self.measure(agg) {
            Some(v) if self.bound.holds(v) => Ok(self.show(v)),
            Some(v) => Err(self.show(v)),
            None => Err("not measured: no request produced this value".into()),
        }
    }

    pub fn show(&self, v: f64) -> String {
        crate::spec::compare::format_quantity(v, self.unit)
    }

    /// True when this threshold states how many requests may fail.
    pub fn bounds_errors(&self) -> bool {
        matches!(&self.expr, Expr::Scalar(n) if matches!(n.as_str(), "error_rate" | "success_rate" | "errors" | "failures" | "successes" | "goodput" | "goodput_rate"))
    }
}

fn unknown(kind: &str, name: &str, known: &[&str], extra: &str) -> String {
    let list = if extra.is_empty() { known.join(", ") } else { format!("{}, {extra}", known.join(", ")) };
    match closest(name, known.iter().copied()) {
        Some(best) => format!("unknown {kind} `{name}`; did you mean `{best}`?"),
        None => format!("unknown {kind} `{name}`; use one of: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::RequestMetrics;
    use crate::metrics::aggregate::Class;
    use std::time::Duration;

    fn parse(t: &str) -> Result<Threshold, String> {
        Threshold::parse(t, Loc::default())
    }

    #[test]
    fn parses_the_issue_examples() {
        for t in [
            "p99(latency) < 5s",
            "p50(ttft) < 1s",
            "mean(tokens_per_second) > 50",
            "error_rate < 0.1%",
            "success_rate == 100%",
            "p99.9(chunk_gap) <= 200ms",
            "req_per_s >= 2",
            "error_rate < 0.001",
        ] {
            assert!(parse(t).is_ok(), "{t}: {:?}", parse(t).err());
        }
        assert_eq!(parse("p99( latency )<5s").unwrap().text, "p99(latency) < 5s");
    }

    #[test]
    fn explains_mistakes() {
        assert_eq!(parse("p99(latncy) < 5s").unwrap_err(), "unknown series `latncy`; did you mean `latency`?");
        assert!(parse("q99(latency) < 5s").unwrap_err().starts_with("unknown function `q99`"));
        assert_eq!(
            parse("latency < 5s").unwrap_err(),
            "`latency` is a distribution: bound one of its statistics, e.g. `p99(latency)`"
        );
        assert_eq!(
            parse("p99(latency) < 5").unwrap_err(),
            "`p99(latency)` is bounded by a duration, e.g. `< 2s`, not `< 5`"
        );
        assert!(parse("error_rate").unwrap_err().contains("not a threshold"));
        assert!(parse("error_rate < 5s").is_err());
    }

    #[test]
    fn evaluates_against_an_aggregate() {
        let mut agg = Aggregate::default();
        for ms in [100, 200, 300, 400, 5000] {
            let m = RequestMetrics { latency: Duration::from_millis(ms), ..RequestMetrics::default() };
            agg.record(Class::Good, Some(200), Some(&m), None);
        }
        agg.record(Class::Error, None, None, None);
        assert_eq!(parse("p50(latency) < 2s").unwrap().evaluate(&agg), Ok("300ms".into()));
        assert_eq!(parse("p99(latency) < 2s").unwrap().evaluate(&agg), Err("5.00s".into()));
        assert_eq!(parse("error_rate < 0.1%").unwrap().evaluate(&agg), Err("16.667%".into()));
        assert!(parse("p50(ttft) < 1s").unwrap().evaluate(&agg).unwrap_err().starts_with("not measured"));
    }
}
