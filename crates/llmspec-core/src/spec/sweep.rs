//! `load.sweep`: the steps of a capacity search, checked into a [`SweepPlan`].

use super::check::{Problem, positive_duration, rate};
use super::de::Spanned;
use super::limits;
use super::model::{self, SweepSteps};
use super::plan::{Arrival, LoadPlan, Stop, SweepAxis, SweepPlan};

/// A load with a `sweep`: the other keys of `load` that still apply (`warmup`, `arrival`,
/// `seed`, `dataset`, and `concurrency` as the cap of a rate sweep) and the steps.
pub(super) fn load(raw: Spanned<model::Load>, problems: &mut Vec<Problem>) -> Option<LoadPlan> {
    let loc = raw.loc;
    let l = raw.value;
    let sweep = l.sweep?;
    let before = problems.len();
    if l.requests.is_some() || l.duration.is_some() {
        problems.push((
            loc,
            "a sweep sets the length of each step: give `requests` or `duration` under `sweep`, not beside it".into(),
        ));
    }
    let s = sweep.value;
    let step = match (s.requests, s.duration) {
        (Some(n), None) if n == 0 || n > limits::MAX_REQUESTS => {
            problems.push((sweep.loc, format!("`requests` must be between 1 and {}", limits::MAX_REQUESTS)));
            None
        }
        (Some(n), None) => Some(Stop::Requests(n)),
        (None, Some(d)) => positive_duration(&d, problems).map(Stop::Duration),
        _ => {
            problems.push((
                sweep.loc,
                "each step of a sweep ends after `requests: N` or after `duration: D`: give exactly one".into(),
            ));
            None
        }
    };
    let (axis, steps) = match (s.concurrency, s.rate) {
        (Some(c), None) => (SweepAxis::Concurrency, c),
        (None, Some(r)) => (SweepAxis::Rate, r),
        _ => {
            problems.push((sweep.loc, "a sweep raises `concurrency` or `rate`: give exactly one".into()));
            return None;
        }
    };
    match axis {
        SweepAxis::Concurrency if l.concurrency.is_some() || l.rate.is_some() => problems.push((
            loc,
            "a concurrency sweep sets the concurrency of each step: `load.concurrency` and `load.rate` do not apply"
                .into(),
        )),
        SweepAxis::Concurrency if l.arrival.is_some() => {
            problems.push((loc, "`arrival` spaces the starts of a rate; a concurrency sweep has none to space".into()))
        }
        SweepAxis::Rate if l.rate.is_some() => {
            problems.push((loc, "a rate sweep sets the rate of each step: `load.rate` does not apply".into()))
        }
        _ => {}
    }
    if l.concurrency.is_some_and(|c| c == 0 || c > limits::MAX_CONCURRENCY) {
        problems.push((loc, format!("`concurrency` must be between 1 and {}", limits::MAX_CONCURRENCY)));
    }
    let levels = levels(axis, &steps, problems)?;
    let step = step?;
    let warmup = l.warmup.unwrap_or(0);
    if let Stop::Requests(n) = step
        && warmup >= n
    {
        problems.push((
            loc,
            format!("`warmup` ({warmup}) applies to each step and leaves none of its {n} requests to measure"),
        ));
    }
    if let (Stop::Requests(n), SweepAxis::Concurrency) = (step, axis) {
        let highest = levels.last().copied().unwrap_or(0.0);
        if (n as f64) < highest {
            problems.push((
                sweep.loc,
                format!(
                    "each step sends {n} requests: a step of concurrency {} never has that many in flight; \
                     send at least as many requests as the highest concurrency",
                    axis.show(highest)
                ),
            ));
        }
    }
    let steps_count = levels.len() as u64;
    match step {
        Stop::Requests(n) if n.saturating_mul(steps_count) > limits::MAX_REQUESTS => problems.push((
            sweep.loc,
            format!("{steps_count} steps of {n} requests exceed the {} requests a test may send", limits::MAX_REQUESTS),
        )),
        Stop::Duration(d) if d.as_secs_f64() * steps_count as f64 > limits::MAX_DURATION.as_secs_f64() => problems
            .push((
                sweep.loc,
                format!(
                    "{steps_count} steps of {} exceed the longest run, {}",
                    crate::vocab::units::format_duration(d),
                    crate::vocab::units::format_duration(limits::MAX_DURATION)
                ),
            )),
        _ => {}
    }
    let ramp = super::check::ramp(l.ramp.as_ref(), axis == SweepAxis::Rate, problems);
    (problems.len() == before).then(|| LoadPlan {
        stop: step,
        ramp: ramp.unwrap_or_default(),
        // A rate sweep may cap the requests in flight; a concurrency sweep sets them per step.
        concurrency: l.concurrency.filter(|_| axis == SweepAxis::Rate).map(|c| c as usize),
        rate: None,
        arrival: l.arrival.unwrap_or(Arrival::Constant),
        warmup,
        seed: l.seed.unwrap_or(1),
        sweep: Some(SweepPlan { axis, levels, step }),
        ..LoadPlan::once()
    })
}

/// The load of every step, rising, at most [`limits::MAX_SWEEP_STEPS`] of them.
fn levels(axis: SweepAxis, raw: &Spanned<SweepSteps>, problems: &mut Vec<Problem>) -> Option<Vec<f64>> {
    let loc = raw.loc;
    let level = |text: &str, problems: &mut Vec<Problem>| -> Option<f64> {
        match axis {
            SweepAxis::Concurrency => match text.trim().parse::<u64>() {
                Ok(c) if (1..=limits::MAX_CONCURRENCY).contains(&c) => Some(c as f64),
                _ => {
                    let message = format!(
                        "`{text}` is not a concurrency: a whole number between 1 and {}",
                        limits::MAX_CONCURRENCY
                    );
                    problems.push((loc, message));
                    None
                }
            },
            SweepAxis::Rate => rate(&Spanned { value: text.to_string(), loc }, problems),
        }
    };
    let too_many = || {
        (
            loc,
            format!("a sweep has at most {} steps: use fewer, or a larger `factor` or `step`", limits::MAX_SWEEP_STEPS),
        )
    };
    let levels = match &raw.value {
        SweepSteps::List(items) => {
            if items.is_empty() {
                problems.push((loc, "a sweep needs at least one step".into()));
                return None;
            }
            if items.len() > limits::MAX_SWEEP_STEPS {
                problems.push(too_many());
                return None;
            }
            let parsed: Vec<Option<f64>> = items.iter().map(|t| level(t, problems)).collect();
            parsed.into_iter().collect::<Option<Vec<f64>>>()?
        }
        SweepSteps::Range { from, to, factor, step } => {
            let (first, last) = (level(from, problems)?, level(to, problems)?);
            if first > last {
                problems.push((loc, format!("a sweep rises: `from` ({from}) is above `to` ({to})")));
                return None;
            }
            let next: Box<dyn Fn(f64) -> f64> = match (factor, step) {
                (Some(f), None) if f.is_finite() && *f > 1.0 => {
                    let f = *f;
                    Box::new(move |v| v * f)
                }
                (Some(f), None) => {
                    problems.push((loc, format!("`factor` must be above 1, not {f}")));
                    return None;
                }
                (None, Some(s)) => {
                    let s = level(s, problems)?;
                    Box::new(move |v| v + s)
                }
                _ => {
                    problems.push((loc, "a range of steps grows by `factor` or by `step`: give exactly one".into()));
                    return None;
                }
            };
            let mut levels = vec![first];
            let mut v = first;
            loop {
                v = next(v);
                if axis == SweepAxis::Concurrency {
                    // Whole requests in flight, and always at least one more than before.
                    v = v.round().max(levels[levels.len() - 1] + 1.0);
                }
                // Within rounding of `to` counts as `to`, which always ends the range.
                if v >= last * (1.0 - 1e-9) {
                    break;
                }
                if levels.len() >= limits::MAX_SWEEP_STEPS {
                    problems.push(too_many());
                    return None;
                }
                levels.push(v);
            }
            if levels[levels.len() - 1] < last {
                levels.push(last);
            }
            if levels.len() > limits::MAX_SWEEP_STEPS {
                problems.push(too_many());
                return None;
            }
            levels
        }
    };
    if let Some(w) = levels.windows(2).find(|w| w[1] <= w[0]) {
        problems.push((
            loc,
            format!(
                "the steps of a sweep rise, one after the other: {} comes after {}",
                axis.show(w[1]),
                axis.show(w[0])
            ),
        ));
        return None;
    }
    Some(levels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Loc;

    fn steps(axis: SweepAxis, value: SweepSteps) -> Result<Vec<f64>, Vec<String>> {
        let mut problems = vec![];
        levels(axis, &Spanned { value, loc: Loc::default() }, &mut problems)
            .ok_or_else(|| problems.into_iter().map(|(_, m)| m).collect())
    }

    fn range(from: &str, to: &str, factor: Option<f64>, step: Option<&str>) -> SweepSteps {
        SweepSteps::Range { from: from.into(), to: to.into(), factor, step: step.map(str::to_string) }
    }

    fn list(items: &[&str]) -> SweepSteps {
        SweepSteps::List(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn a_range_grows_by_its_factor_and_ends_at_to() {
        let c = SweepAxis::Concurrency;
        assert_eq!(steps(c, range("1", "64", Some(2.0), None)).unwrap(), [1., 2., 4., 8., 16., 32., 64.]);
        assert_eq!(steps(c, range("1", "20", Some(2.0), None)).unwrap(), [1., 2., 4., 8., 16., 20.]);
        assert_eq!(steps(c, range("1", "4", Some(1.2), None)).unwrap(), [1., 2., 3., 4.], "always one more");
        assert_eq!(steps(c, range("2", "10", None, Some("4"))).unwrap(), [2., 6., 10.]);
        assert_eq!(steps(c, range("5", "5", Some(2.0), None)).unwrap(), [5.]);
        let r = steps(SweepAxis::Rate, range("1/s", "4/s", Some(2.0), None)).unwrap();
        assert_eq!(r, [1., 2., 4.]);
        assert_eq!(steps(SweepAxis::Rate, range("60/m", "3/s", None, Some("1/s"))).unwrap(), [1., 2., 3.]);
    }

    #[test]
    fn a_list_rises_and_holds_loads_of_its_kind() {
        let c = SweepAxis::Concurrency;
        assert_eq!(steps(c, list(&["1", "2", "4"])).unwrap(), [1., 2., 4.]);
        assert!(steps(c, list(&["4", "2"])).unwrap_err()[0].contains("2 comes after 4"));
        assert!(steps(c, list(&["4", "4"])).is_err());
        assert!(steps(c, list(&["2.5"])).unwrap_err()[0].contains("not a concurrency"));
        assert!(steps(c, list(&["0"])).is_err());
        assert!(steps(c, list(&[])).unwrap_err()[0].contains("at least one step"));
        assert!(steps(c, list(&["4/s"])).is_err());
        assert_eq!(steps(SweepAxis::Rate, list(&["1/s", "120/m", "4"])).unwrap(), [1., 2., 4.]);
        assert!(steps(SweepAxis::Rate, list(&["fast"])).unwrap_err()[0].contains("is not a rate"));
    }

    #[test]
    fn the_number_of_steps_is_bounded() {
        let c = SweepAxis::Concurrency;
        let many: Vec<String> = (1..=limits::MAX_SWEEP_STEPS + 1).map(|i| i.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(steps(c, list(&many)).unwrap_err()[0].contains("at most 64 steps"));
        assert!(steps(c, list(&many[..limits::MAX_SWEEP_STEPS])).is_ok());
        assert!(steps(c, range("1", "10000", None, Some("1"))).unwrap_err()[0].contains("at most 64 steps"));
        assert!(steps(c, range("1", "10000", Some(1.0), None)).unwrap_err()[0].contains("above 1"));
        assert!(steps(c, range("8", "2", Some(2.0), None)).unwrap_err()[0].contains("is above `to`"));
        assert!(steps(c, range("1", "8", Some(2.0), Some("1"))).unwrap_err()[0].contains("exactly one"));
        // A tiny factor on rates cannot loop for ever: it hits the bound.
        assert!(steps(SweepAxis::Rate, range("1/s", "100000/s", Some(1.000001), None)).is_err());
    }
}
