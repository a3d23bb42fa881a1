//! Thresholds: k6-style bounds on the aggregate of a test's requests.
//!
//! `<function>(<series>) <op> <quantity>` or `<scalar> <op> <quantity>`, e.g.
//! `p99(latency) < 5s`, `mean(tokens_per_second) > 50`, `error_rate < 0.1%`. The grammar is in
//! docs/thresholds.md.

use crate::expr::Expression;
use crate::expr::bindings::Known;
use crate::metrics::aggregate::Aggregate;
use crate::metrics::catalog::{ScalarName, SeriesName, Statistic, SweepAxis};
use crate::vocab::Loc;
use crate::vocab::compare::{Comparison, Unit, format_quantity};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `p99(latency)`, `mean(ttft)`, `max(chunk_gap)`: a statistic of the requests.
    Stat { statistic: Statistic, series: SeriesName },
    /// `error_rate`, `req_per_s`, ...
    Scalar(ScalarName),
    /// `max(rss_mb)`, `last(queue)`: a statistic of a sampled series (named by the spec).
    Sampled { statistic: Statistic, name: String },
    /// `slope(rss_mb)`: least-squares slope of a sampled series after the warm-up window.
    Slope(String),
    /// `drift(latency)`: the last time window's median against the first's.
    Drift(SeriesName),
    /// `recovery`: a value a step recorded with `as:`.
    Step(String),
    /// `capacity(concurrency)`: the highest load of a sweep at which every threshold held.
    Capacity(SweepAxis),
}

/// Names a threshold may use besides the built-in ones.
#[derive(Debug, Default, Clone)]
pub struct Names {
    pub samples: Vec<String>,
    pub steps: Vec<String>,
    /// What the test's sweep raises, when it has one: `capacity()` of that only.
    pub sweep: Option<SweepAxis>,
    /// The test has a sweep that did not check: its problems are reported, so `capacity()` is
    /// not judged against it again.
    pub sweep_written: bool,
}

/// Everything a threshold can be computed from.
pub struct Measurements<'a> {
    pub aggregate: &'a Aggregate,
    /// Aggregates of consecutive time windows (soak runs).
    pub windows: &'a [Aggregate],
    /// Sampled series: (seconds since the start, value).
    pub samples: &'a BTreeMap<String, Vec<(f64, f64)>>,
    /// Samples before this many seconds are left out of slopes (warm-up).
    pub fit_after: f64,
    pub steps: &'a BTreeMap<String, f64>,
    /// The same test's aggregate in the previous run (`--baseline`).
    pub baseline: Option<&'a Aggregate>,
    /// A sweep's knee: the highest load at which every threshold held; `None` when no step
    /// held or the test is no sweep.
    pub capacity: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Threshold {
    pub loc: Loc,
    /// As written, normalised: the JUnit test case name (never a measured number).
    pub text: String,
    pub rule: Rule,
}

#[derive(Debug, Clone)]
pub enum Rule {
    /// `p99(latency) < 5s`: one measured value and its bound.
    Bound { expr: Expr, bound: Comparison, unit: Unit },
    /// A CEL condition over measured values: `p50(latency) < 2 * tests.single.metrics.latency`.
    Condition(Box<Expression>),
}

/// `name(arg) <op> quantity` or `name <op> quantity`: the shape of a bound. Anything else is a
/// condition in CEL.
/// A bound names a scalar, a step, or a function of the threshold grammar on its left
/// (`p99(…)`, `slope(…)`), and has a quantity (or one variable) on its right; anything else is
/// CEL.
pub fn looks_like_a_bound(text: &str, names: &Names) -> bool {
    let Some(op_at) = text.find(['<', '>', '=', '!']) else { return true };
    let (lhs, rhs) = text.split_at(op_at);
    let lhs = lhs.trim();
    let known_left = match lhs.split_once('(') {
        Some((function, rest)) => {
            let function = function.trim();
            // `name(series)`: the grammar's form, whose parser names an unknown function.
            let simple = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || "_.".contains(c));
            simple(function) && rest.trim_end().strip_suffix(')').is_some_and(|arg| simple(arg.trim()))
        }
        // A series named alone is a bound written wrong: the bound's parser says how to fix it.
        // (A name with a unit on the right, `recovery < 30s`, is not CEL either.)
        None => {
            let quantity = rhs.trim_start_matches(['<', '>', '=', '!']).trim();
            let with_unit = crate::vocab::compare::parse_quantity(quantity).is_ok_and(|(_, unit)| unit != Unit::Plain);
            ScalarName::parse(lhs).is_some()
                || SeriesName::parse(lhs).is_some()
                || names.steps.iter().chain(&names.samples).any(|s| s == lhs)
                || (with_unit && lhs.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        }
    };
    let quantity = rhs.trim_start_matches(['<', '>', '=', '!']).trim();
    // `< ${p50_max}`: a variable that gives the quantity when the spec is loaded.
    let one_reference = quantity.starts_with("${") && quantity.ends_with('}') && quantity.matches("${").count() == 1;
    known_left && (one_reference || crate::vocab::compare::parse_quantity(quantity).is_ok())
}

impl Threshold {
    /// A bound in the threshold grammar (docs/thresholds.md), or else a CEL condition.
    pub fn compile(
        text: &str,
        origin: crate::expr::Origin,
        names: &Names,
        known: &crate::expr::Names,
    ) -> Result<Threshold, Vec<(Loc, String)>> {
        if looks_like_a_bound(text, names) {
            return Threshold::parse(text, origin.loc, names).map_err(|e| vec![(origin.loc, e)]);
        }
        let mut known = known.clone();
        known.samples = names.samples.clone();
        known.steps = names.steps.clone();
        let condition = Expression::compile(text, origin, crate::expr::Kind::Threshold, &known)?;
        Ok(Threshold { loc: origin.loc, text: condition.text.clone(), rule: Rule::Condition(Box::new(condition)) })
    }

    pub fn parse(text: &str, loc: Loc, names: &Names) -> Result<Threshold, String> {
        let t = text.trim();
        let op_at = t.find(['<', '>', '=', '!']).ok_or_else(|| {
            format!("`{t}` is not a threshold: write it as `p99(latency) < 5s` or `error_rate < 0.1%`")
        })?;
        let (lhs, rhs) = t.split_at(op_at);
        let lhs = lhs.trim();
        let sample_names: Vec<&str> = names.samples.iter().map(String::as_str).collect();
        let series_named = |arg: &str| {
            SeriesName::parse(arg).ok_or_else(|| {
                let known: Vec<&str> = SeriesName::NAMES.iter().chain(&sample_names).copied().collect();
                crate::vocab::suggest::unknown("series", arg, &known, "")
            })
        };
        let (expr, unit) = match lhs.split_once('(') {
            Some((function, rest)) => {
                let arg =
                    rest.strip_suffix(')').ok_or_else(|| format!("`{lhs}` lacks its closing parenthesis"))?.trim();
                let function = function.trim();
                let is_sample = sample_names.contains(&arg);
                match function {
                    "capacity" => capacity(arg, names)?,
                    "slope" => {
                        if !is_sample {
                            return Err(format!("slope() applies to a sampled series (under `sample:`), not `{arg}`"));
                        }
                        (Expr::Slope(arg.into()), Unit::PerSecond)
                    }
                    "drift" => (Expr::Drift(series_named(arg)?), Unit::Fraction),
                    f if is_sample => {
                        let statistic = Statistic::parse(f).filter(|s| s.for_samples()).ok_or_else(|| {
                            crate::vocab::suggest::unknown(
                                "function for a sampled series",
                                f,
                                Statistic::FOR_SAMPLES,
                                "slope",
                            )
                        })?;
                        (Expr::Sampled { statistic, name: arg.into() }, Unit::Plain)
                    }
                    f => {
                        let statistic = Statistic::parse(f).filter(|s| s.for_series()).ok_or_else(|| {
                            crate::vocab::suggest::unknown(
                                "function",
                                f,
                                Statistic::FOR_SERIES,
                                "pNN (any percentile), slope, drift",
                            )
                        })?;
                        let series = series_named(arg)?;
                        (Expr::Stat { statistic, series }, series.unit())
                    }
                }
            }
            None => match ScalarName::parse(lhs) {
                Some(scalar) => (Expr::Scalar(scalar), scalar.unit()),
                None if names.steps.iter().any(|s| s == lhs) => (Expr::Step(lhs.into()), Unit::Seconds),
                None if SeriesName::parse(lhs).is_some() || sample_names.contains(&lhs) => {
                    return Err(format!(
                        "`{lhs}` is a series: bound one of its statistics, e.g. `p99({lhs})` or `max({lhs})`"
                    ));
                }
                None => {
                    let known: Vec<&str> =
                        ScalarName::NAMES.iter().copied().chain(names.steps.iter().map(String::as_str)).collect();
                    return Err(crate::vocab::suggest::unknown("value", lhs, &known, ""));
                }
            },
        };
        let bound = Comparison::parse(rhs)?;
        // A per-second rate may be written `> 4/s` or `> 4`; a share always takes `%`, so that
        // `goodput_rate >= 95` cannot silently mean 9,500 %.
        let per_second_as_number =
            unit == Unit::PerSecond && bound.unit == Unit::Plain && !matches!(expr, Expr::Slope(_));
        if matches!(expr, Expr::Capacity(SweepAxis::Concurrency)) && bound.unit != Unit::Plain {
            return Err(format!(
                "`{lhs}` is a number of requests in flight, bounded by a number, e.g. `>= 20`, not `{}`",
                rhs.trim()
            ));
        }
        if bound.unit != unit && !per_second_as_number {
            let want = match unit {
                Unit::Seconds => "a duration, e.g. `< 2s`",
                Unit::Fraction => "a percentage, e.g. `< 0.1%` (a share is always written with %)",
                Unit::PerSecond if matches!(expr, Expr::Slope(_)) => "a rate of change, e.g. `< 50/h`",
                Unit::PerSecond if matches!(expr, Expr::Capacity(_)) => "a rate, e.g. `>= 4/s`",
                Unit::PerSecond => "a rate, e.g. `> 4/s` or `> 240/min`",
                Unit::Plain => "a number, e.g. `> 50`",
            };
            return Err(format!("`{lhs}` is bounded by {want}, not `{}`", rhs.trim()));
        }
        let name = match &expr {
            Expr::Stat { statistic, series } => format!("{statistic}({series})"),
            Expr::Sampled { statistic, name } => format!("{statistic}({name})"),
            Expr::Slope(n) => format!("slope({n})"),
            Expr::Drift(n) => format!("drift({n})"),
            Expr::Scalar(n) => n.to_string(),
            Expr::Step(n) => n.clone(),
            Expr::Capacity(axis) => format!("capacity({})", axis.name()),
        };
        let quantity = rhs.trim().trim_start_matches(['<', '>', '=', '!']).trim();
        let text = format!("{name} {} {quantity}", bound.op.symbol());
        Ok(Threshold { loc, text, rule: Rule::Bound { expr, bound, unit } })
    }

    /// The condition, when it is one.
    pub fn condition(&self) -> Option<&Expression> {
        match &self.rule {
            Rule::Condition(c) => Some(c),
            Rule::Bound { .. } => None,
        }
    }

    /// What must hold, for reports: `< 5s`, or `true` for a condition.
    pub fn limit(&self) -> String {
        match &self.rule {
            // A sweep's load is shown as the sweep writes it (`>= 4/s`), not in the unit of
            // slow rates (`/h`).
            Rule::Bound { bound, expr: Expr::Capacity(axis), .. } => {
                format!("{} {}", bound.op.symbol(), axis.show(bound.rhs))
            }
            Rule::Bound { bound, .. } => bound.to_string(),
            Rule::Condition(_) => "true".into(),
        }
    }

    /// The measured value of a bound, or `None` when nothing was measured (no streamed request
    /// for a TTFT) or when it is a condition.
    pub fn measure(&self, m: &Measurements<'_>) -> Option<f64> {
        match &self.rule {
            Rule::Bound { expr, .. } => measure(expr, m),
            Rule::Condition(_) => None,
        }
    }

    /// `Ok(measured)` when it holds; `Err(what was measured)` when it does not. A condition
    /// reads `known` (vars, captures, earlier tests) besides the measurements.
    pub fn evaluate(&self, m: &Measurements<'_>, known: &Known) -> Result<String, String> {
        let (expr, bound, unit) = match &self.rule {
            Rule::Bound { expr, bound, unit } => (expr, bound, *unit),
            Rule::Condition(c) => return evaluate_condition(c, m, known),
        };
        let shown = |v: f64| match expr {
            Expr::Capacity(axis) => axis.show(v),
            Expr::Slope(name) => match fit(m, name) {
                Some(f) => format!("{} (R² {:.2}, {} samples)", format_quantity(v, unit), f.r2, f.points),
                None => format_quantity(v, unit),
            },
            _ => format_quantity(v, unit),
        };
        match measure(expr, m) {
            Some(v) if bound.holds(v) => Ok(shown(v)),
            Some(v) => Err(shown(v)),
            None => Err(not_measured(expr).into()),
        }
    }

    pub fn show(&self, v: f64) -> String {
        match &self.rule {
            Rule::Bound { expr: Expr::Capacity(axis), .. } => axis.show(v),
            Rule::Bound { unit, .. } => format_quantity(v, *unit),
            Rule::Condition(_) => crate::vocab::compare::trim_float(v),
        }
    }

    /// True when this threshold states how many requests may fail.
    pub fn bounds_errors(&self) -> bool {
        match &self.rule {
            Rule::Bound { expr, .. } => matches!(expr, Expr::Scalar(n) if n.counts_failures()),
            // A condition on the previous run is skipped without one: it never excuses errors.
            Rule::Condition(c) => {
                !c.reads.contains("baseline")
                    && ScalarName::ALL.iter().any(|n| n.counts_failures() && c.reads.contains(n.name()))
            }
        }
    }
}

fn not_measured(expr: &Expr) -> &'static str {
    match expr {
        Expr::Slope(_) => "not measured: fewer than 2 samples after the warm-up window",
        Expr::Drift(_) => "not measured: no time windows with samples",
        Expr::Step(_) => "not measured: the step did not complete",
        Expr::Capacity(_) => "not measured: no step of the sweep held",
        _ => "not measured: no request produced this value",
    }
}

/// The measured calls of a condition, as the bound they would be on their own.
fn measured_expr(call: &crate::expr::MeasuredCall, m: &Measurements<'_>) -> Result<Expr, String> {
    let of = call.of.as_str();
    let unknown = || format!("`{}({of})` cannot be measured", call.function);
    Ok(match call.function.as_str() {
        "slope" => Expr::Slope(of.to_string()),
        "drift" => Expr::Drift(SeriesName::parse(of).ok_or_else(unknown)?),
        f => {
            let statistic = Statistic::parse(f).ok_or_else(unknown)?;
            match SeriesName::parse(of) {
                Some(series) if !m.samples.contains_key(of) => Expr::Stat { statistic, series },
                _ => Expr::Sampled { statistic, name: of.to_string() },
            }
        }
    })
}

fn evaluate_condition(c: &Expression, m: &Measurements<'_>, known: &Known) -> Result<String, String> {
    let mut seen: Vec<String> = vec![];
    let no_samples = BTreeMap::new();
    let previous = m.baseline.map(|aggregate| Measurements {
        aggregate,
        windows: &[],
        samples: &no_samples,
        fit_after: 0.0,
        steps: m.steps,
        baseline: None,
        capacity: None,
    });
    let measure_call = |call: &crate::expr::MeasuredCall| -> Result<f64, String> {
        let (on, what) = match (&previous, call.baseline) {
            (_, false) => (m, ""),
            (Some(previous), true) => (previous, "baseline."),
            (None, true) => return Err("no baseline for this test (--baseline)".into()),
        };
        let expr = measured_expr(call, on)?;
        measure(&expr, on).ok_or_else(|| format!("{what}{}({}) {}", call.function, call.of, not_measured(&expr)))
    };
    let scalars: Vec<(String, serde_json::Value)> = ScalarName::ALL
        .iter()
        .filter_map(|n| m.aggregate.scalar(*n).map(|v| (n.name().to_string(), serde_json::json!(v))))
        .chain(m.steps.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))))
        .collect();
    let mut bindings = known.bindings();
    bindings.extend(scalars.iter().map(|(k, v)| (k.as_str(), v)));
    for call in &c.measured {
        if let Ok(v) = measure_call(call) {
            let on = if call.baseline { "baseline." } else { "" };
            seen.push(format!("{on}{}({}) = {}", call.function, call.of, crate::vocab::compare::trim_float(v)));
        }
    }
    let values = if seen.is_empty() { String::new() } else { format!(" ({})", seen.join(", ")) };
    match c.holds(&bindings, &measure_call) {
        Ok(true) => Ok(format!("true{values}")),
        Ok(false) => Err(format!("false{values}")),
        Err(e) => Err(format!("not evaluated: {e}")),
    }
}

/// The measured value, or `None` when nothing was measured.
fn measure(expr: &Expr, m: &Measurements<'_>) -> Option<f64> {
    match expr {
        Expr::Stat { statistic, series } => m.aggregate.stat(*statistic, *series),
        Expr::Scalar(name) => m.aggregate.scalar(*name),
        Expr::Sampled { statistic, name } => crate::metrics::series::stat(m.samples.get(name)?, *statistic),
        Expr::Slope(name) => fit(m, name).map(|f| f.slope),
        Expr::Drift(series) => {
            let median = |a: &Aggregate| a.stat(Statistic::Median, *series);
            let first = m.windows.iter().find_map(median)?;
            let last = m.windows.iter().rev().find_map(median)?;
            (first > 0.0).then(|| (last - first) / first)
        }
        Expr::Step(name) => m.steps.get(name).copied(),
        Expr::Capacity(_) => m.capacity,
    }
}

/// `capacity(concurrency)` or `capacity(rate)`, in a test that sweeps that.
fn capacity(arg: &str, names: &Names) -> Result<(Expr, Unit), String> {
    let axis = match arg {
        "concurrency" => SweepAxis::Concurrency,
        "rate" => SweepAxis::Rate,
        other => {
            return Err(crate::vocab::suggest::unknown("capacity", other, &["concurrency", "rate"], ""));
        }
    };
    match names.sweep {
        Some(swept) if swept != axis => Err(format!(
            "capacity({}) is measured by a sweep of `{}`; this test sweeps `{}`: bound capacity({})",
            axis.name(),
            axis.name(),
            swept.name(),
            swept.name()
        )),
        None if !names.sweep_written => Err(format!(
            "capacity({}) is the highest load at which every threshold held: it is measured by a `load.sweep` \
             of `{}`, which this test does not have",
            axis.name(),
            axis.name()
        )),
        _ => Ok((Expr::Capacity(axis), if axis == SweepAxis::Rate { Unit::PerSecond } else { Unit::Plain })),
    }
}

impl Threshold {
    /// The highest load at which a sweep held, not a measure of one step's requests.
    pub fn is_capacity(&self) -> bool {
        matches!(&self.rule, Rule::Bound { expr: Expr::Capacity(_), .. })
    }
}

/// The line fitted for a `slope()` threshold, on the samples after the warm-up.
pub fn fit(m: &Measurements<'_>, name: &str) -> Option<crate::metrics::series::Fit> {
    let points: Vec<(f64, f64)> = m.samples.get(name)?.iter().copied().filter(|(t, _)| *t >= m.fit_after).collect();
    crate::metrics::series::fit(&points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::bindings::Known;
    use crate::metrics::RequestMetrics;
    use crate::metrics::aggregate::Class;
    use std::time::Duration;

    fn parse(t: &str) -> Result<Threshold, String> {
        let names = Names { samples: vec!["rss_mb".into()], steps: vec!["recovery".into()], ..Names::default() };
        Threshold::parse(t, Loc::default(), &names)
    }

    fn measure<'a>(
        agg: &'a Aggregate,
        samples: &'a BTreeMap<String, Vec<(f64, f64)>>,
        steps: &'a BTreeMap<String, f64>,
    ) -> Measurements<'a> {
        Measurements { aggregate: agg, windows: &[], samples, fit_after: 10.0, steps, baseline: None, capacity: None }
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
            "goodput > 4/s",
            "goodput >= 240/min",
            "goodput_rate >= 95%",
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
            "`latency` is a series: bound one of its statistics, e.g. `p99(latency)` or `max(latency)`"
        );
        assert_eq!(
            parse("p99(latency) < 5").unwrap_err(),
            "`p99(latency)` is bounded by a duration, e.g. `< 2s`, not `< 5`"
        );
        assert!(parse("error_rate").unwrap_err().contains("not a threshold"));
        assert!(parse("error_rate < 5s").is_err());
        assert_eq!(
            parse("slope(latency) < 5/h").unwrap_err(),
            "slope() applies to a sampled series (under `sample:`), not `latency`"
        );
        assert!(parse("slope(rss_mb) < 50").unwrap_err().contains("a rate of change"));
        assert!(parse("rss_mb < 50").unwrap_err().contains("is a series"));
        assert!(parse("recovery < 30").is_err());
        assert_eq!(
            parse("goodput_rate >= 95").unwrap_err(),
            "`goodput_rate` is bounded by a percentage, e.g. `< 0.1%` (a share is always written with %), not `>= 95`"
        );
        assert!(parse("error_rate < 0.001").is_err());
        assert!(parse("p50(latency) < 2/s").is_err());
    }

    #[test]
    fn capacity_bounds_the_knee_of_the_sweep_the_test_has() {
        let sweep = |axis| Names { sweep: Some(axis), ..Names::default() };
        let concurrency = sweep(SweepAxis::Concurrency);
        let c = Threshold::parse("capacity( concurrency ) >= 20", Loc::default(), &concurrency).unwrap();
        assert_eq!(
            (c.text.as_str(), c.limit(), c.is_capacity()),
            ("capacity(concurrency) >= 20", ">= 20".into(), true)
        );
        let rate = Threshold::parse("capacity(rate) >= 240/min", Loc::default(), &sweep(SweepAxis::Rate)).unwrap();
        assert_eq!(rate.limit(), ">= 4/s", "a rate is shown per second, as a sweep writes it");
        assert!(Threshold::parse("capacity(rate) >= 4", Loc::default(), &sweep(SweepAxis::Rate)).is_ok());
        assert!(
            Threshold::parse("capacity(rate) >= 4/s", Loc::default(), &concurrency)
                .unwrap_err()
                .contains("this test sweeps `concurrency`")
        );
        assert!(
            Threshold::parse("capacity(concurrency) >= 2", Loc::default(), &Names::default())
                .unwrap_err()
                .contains("which this test does not have")
        );
        assert!(
            Threshold::parse("capacity(concurency) >= 2", Loc::default(), &concurrency)
                .unwrap_err()
                .contains("did you mean `concurrency`")
        );
        assert!(Threshold::parse("capacity(concurrency) >= 2s", Loc::default(), &concurrency).is_err());
        // A sweep that did not check reports its own problems: capacity() is not judged again.
        let unchecked = Names { sweep_written: true, ..Names::default() };
        assert!(Threshold::parse("capacity(rate) >= 1/s", Loc::default(), &unchecked).is_ok());

        let agg = Aggregate::default();
        let (samples, steps) = (BTreeMap::new(), BTreeMap::new());
        let at = |capacity| Measurements { capacity, ..measure(&agg, &samples, &steps) };
        assert_eq!(c.evaluate(&at(Some(32.0)), &Known::default()), Ok("32".into()));
        assert_eq!(c.evaluate(&at(Some(16.0)), &Known::default()), Err("16".into()));
        assert_eq!(c.evaluate(&at(None), &Known::default()), Err("not measured: no step of the sweep held".into()));
        assert_eq!(
            rate.evaluate(&Measurements { capacity: Some(4.0), ..at(None) }, &Known::default()),
            Ok("4/s".into())
        );
    }

    #[test]
    fn soak_and_step_values() {
        let agg = Aggregate::default();
        let leak: Vec<(f64, f64)> = (0..60).map(|i| (i as f64, 100.0 + i as f64 / 60.0)).collect();
        let samples = BTreeMap::from([("rss_mb".to_string(), leak)]);
        let steps = BTreeMap::from([("recovery".to_string(), 12.5)]);
        let m = measure(&agg, &samples, &steps);
        assert_eq!(
            parse("slope(rss_mb) < 50/h").unwrap().evaluate(&m, &Known::default()).unwrap_err(),
            "60/h (R² 1.00, 50 samples)"
        );
        assert!(parse("slope(rss_mb) < 100/h").unwrap().evaluate(&m, &Known::default()).is_ok());
        assert_eq!(parse("max(rss_mb) < 200").unwrap().evaluate(&m, &Known::default()), Ok("100.983".into()));
        assert_eq!(parse("recovery < 30s").unwrap().evaluate(&m, &Known::default()), Ok("12.50s".into()));
        assert!(
            parse("drift(latency) < 20%")
                .unwrap()
                .evaluate(&m, &Known::default())
                .unwrap_err()
                .contains("no time windows")
        );
    }

    #[test]
    fn evaluates_against_an_aggregate() {
        let mut agg = Aggregate::default();
        for ms in [100, 200, 300, 400, 5000] {
            let m = RequestMetrics { latency: Duration::from_millis(ms), ..RequestMetrics::default() };
            agg.record(Class::Good, Some(200), Some(&m), None);
        }
        agg.record(Class::Error, None, None, None);
        let (samples, steps) = (BTreeMap::new(), BTreeMap::new());
        let m = measure(&agg, &samples, &steps);
        assert_eq!(parse("p50(latency) < 2s").unwrap().evaluate(&m, &Known::default()), Ok("300ms".into()));
        assert_eq!(parse("p99(latency) < 2s").unwrap().evaluate(&m, &Known::default()), Err("5.00s".into()));
        assert_eq!(parse("error_rate < 0.1%").unwrap().evaluate(&m, &Known::default()), Err("16.667%".into()));
        assert!(
            parse("p50(ttft) < 1s").unwrap().evaluate(&m, &Known::default()).unwrap_err().starts_with("not measured")
        );
    }
}
