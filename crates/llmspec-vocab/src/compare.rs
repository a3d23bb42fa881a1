//! The one comparison syntax: `< 5s`, `>= 2`, `== 100%`, `!= 0`.
//!
//! Used by latency bounds, lengths and (later) metric bounds and thresholds, so that a spec
//! author learns it once.

use crate::units::{format_duration, parse_duration, parse_rate};
use std::fmt;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    pub fn holds(self, lhs: f64, rhs: f64) -> bool {
        match self {
            Op::Lt => lhs < rhs,
            Op::Le => lhs <= rhs,
            Op::Gt => lhs > rhs,
            Op::Ge => lhs >= rhs,
            Op::Eq => lhs == rhs,
            Op::Ne => lhs != rhs,
        }
    }
}

/// What the right-hand side measures; the left-hand side must measure the same thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    /// Written with `%`, stored as a fraction (`0.1%` is 0.001).
    Fraction,
    /// A change per unit of time (`50/h`, `1/s`), stored per second.
    PerSecond,
    Plain,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    pub op: Op,
    pub rhs: f64,
    pub unit: Unit,
}

impl Comparison {
    pub fn parse(text: &str) -> Result<Comparison, String> {
        let t = text.trim();
        let (op, rest) = [("<=", Op::Le), (">=", Op::Ge), ("==", Op::Eq), ("!=", Op::Ne), ("<", Op::Lt), (">", Op::Gt)]
            .into_iter()
            .find_map(|(sym, op)| t.strip_prefix(sym).map(|rest| (op, rest.trim())))
            .ok_or_else(|| format!("`{t}` is not a comparison: write it as `< 5s`, `>= 2` or `== 100%`"))?;
        let (rhs, unit) = parse_quantity(rest).map_err(|e| format!("in `{t}`: {e}"))?;
        Ok(Comparison { op, rhs, unit })
    }

    pub fn holds(&self, lhs: f64) -> bool {
        self.op.holds(lhs, self.rhs)
    }

    /// A bound on a duration.
    pub fn holds_for(&self, d: Duration) -> bool {
        self.holds(d.as_secs_f64())
    }

    pub fn format_value(&self, value: f64) -> String {
        format_quantity(value, self.unit)
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.symbol(), format_quantity(self.rhs, self.unit))
    }
}

/// `5s` → (5.0, Seconds), `0.1%` → (0.001, Fraction), `50` → (50.0, Plain).
pub fn parse_quantity(text: &str) -> Result<(f64, Unit), String> {
    let t = text.trim();
    if let Some(pct) = t.strip_suffix('%') {
        let v = finite(pct.trim()).ok_or_else(|| format!("`{t}` is not a percentage"))?;
        return Ok((v / 100.0, Unit::Fraction));
    }
    if let Ok(v) = t.parse::<f64>() {
        // `inf`, `NaN` and `1e400` parse as numbers, but no measure is compared with them.
        return if v.is_finite() { Ok((v, Unit::Plain)) } else { Err(format!("`{t}` is not a finite number")) };
    }
    if let Some(rate) = parse_rate(t) {
        return rate.map(|per_second| (per_second, Unit::PerSecond));
    }
    parse_duration(t)
        .map(|d| (d.as_secs_f64(), Unit::Seconds))
        .map_err(|_| format!("`{t}` is neither a number, a percentage nor a duration (250ms, 5s, 2m)"))
}

fn finite(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

pub fn format_quantity(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Seconds => match Duration::try_from_secs_f64(value.max(0.0)) {
            Ok(d) => format_duration(d),
            Err(_) => format!("{}s", trim_float(value)),
        },
        Unit::Fraction => format!("{}%", trim_float(value * 100.0)),
        Unit::PerSecond => format!("{}/h", trim_float(value * 3600.0)),
        Unit::Plain => trim_float(value),
    }
}

/// `"3.000"` → `"3"`, `"2.500"` → `"2.5"`.
pub fn trim_float_str(s: &str) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.to_string() }
}

/// `3.0` → `3`, `2.50` → `2.5`, at most 3 decimals.
pub fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_kinds() {
        let c = Comparison::parse("< 5s").unwrap();
        assert_eq!((c.op, c.rhs, c.unit), (Op::Lt, 5.0, Unit::Seconds));
        let c = Comparison::parse(">=2").unwrap();
        assert_eq!((c.op, c.rhs, c.unit), (Op::Ge, 2.0, Unit::Plain));
        let c = Comparison::parse("== 100%").unwrap();
        assert_eq!((c.op, c.rhs, c.unit), (Op::Eq, 1.0, Unit::Fraction));
        let c = Comparison::parse("< 0.1%").unwrap();
        assert!((c.rhs - 0.001).abs() < 1e-12);
        let c = Comparison::parse("<= 250ms").unwrap();
        assert_eq!(c.rhs, 0.25);
        let c = Comparison::parse("< 50/h").unwrap();
        assert_eq!((c.unit, c.to_string()), (Unit::PerSecond, "< 50/h".to_string()));
        assert!(Comparison::parse("< 5/week").is_err());
    }

    #[test]
    fn evaluates() {
        let c = Comparison::parse("< 5s").unwrap();
        assert!(c.holds_for(Duration::from_millis(4999)));
        assert!(!c.holds_for(Duration::from_secs(5)));
        assert!(Comparison::parse("!= 0").unwrap().holds(1.0));
        assert!(Comparison::parse("== 3").unwrap().holds(3.0));
    }

    #[test]
    fn refuses_nonsense_with_a_hint() {
        assert!(Comparison::parse("5s").unwrap_err().contains("not a comparison"));
        assert!(Comparison::parse("< fast").unwrap_err().contains("neither a number"));
        assert!(Comparison::parse("=> 3").is_err());
        for text in ["< inf", "> NaN", "< 1e400", "< inf%", "< NaN/h", "< 1e400/s", "< 10000000000000000000s"] {
            assert!(Comparison::parse(text).is_err(), "{text}");
        }
        assert_eq!(format_quantity(f64::INFINITY, Unit::Seconds), "infs");
    }

    #[test]
    fn displays_in_the_written_units() {
        assert_eq!(Comparison::parse("< 5s").unwrap().to_string(), "< 5.00s");
        assert_eq!(Comparison::parse("< 0.1%").unwrap().to_string(), "< 0.1%");
        assert_eq!(Comparison::parse(">= 2").unwrap().to_string(), ">= 2");
    }
}
