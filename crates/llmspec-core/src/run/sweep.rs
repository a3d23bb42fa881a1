//! A capacity search (`load.sweep`): the test's load run once per step, the load rising, until
//! a step breaks. The knee is the highest step at which every threshold held and the requests
//! passed their checks; `capacity(concurrency)` and `capacity(rate)` bound it.
//!
//! What a broken step's failed requests mean: they are the evidence of the limit, not a
//! failure of the test. What the test fails on is its thresholds, reported as measured at the
//! knee (the breaking step's value beside them), and the `capacity()` bounds.

use super::event::{RunSeries, StepThreshold, SweepResult, SweepStep, TestOutcome, ThresholdResult, Verdict};
use super::feed::Feed;
use super::load::{self, LoadResult, Progress};
use crate::expect::threshold::{Measurements, Threshold};
use crate::expr::bindings::Known;
use crate::metrics::catalog::{ScalarName, SeriesName, Statistic};
use crate::spec::plan::{LoadPlan, SweepPlan, TestPlan};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The steps run, and why the search ended early when it did.
pub struct Swept {
    pub steps: Vec<SweepStep>,
    /// A request that did not pass, shown with the test: the breaking step's first, or else
    /// the first of any step.
    pub transcript: Option<super::event::Transcript>,
    /// Every measured request: (seconds since the sweep started, latency, passed).
    pub timeline: Vec<(f64, f64, bool)>,
    /// A signal, or a request task that panicked, cut the search: no knee is claimed.
    pub cut: Option<String>,
}

/// What a step needs besides its load: the run's context, shared by every step.
pub struct Context<'a> {
    pub lanes: Arc<super::lanes::Lanes>,
    pub test: &'a Arc<TestPlan>,
    pub feed: Arc<Feed>,
    pub stop: watch::Receiver<Option<super::event::StopReason>>,
    pub known: &'a Known,
    pub captures: &'a HashMap<String, Value>,
    /// Samples of the whole sweep so far, for thresholds over sampled series.
    pub sampling: &'a super::sample::Sampling,
    /// The instant the samples' times count from.
    pub start: Instant,
}

/// Runs the steps in order, stopping after the first that breaks.
pub async fn run(ctx: Context<'_>, plan: &LoadPlan, sweep: &SweepPlan, progress: &mut dyn FnMut(&Progress)) -> Swept {
    let start = ctx.start;
    let mut swept = Swept { steps: vec![], transcript: None, timeline: vec![], cut: None };
    for (i, &level) in sweep.levels.iter().enumerate() {
        let label =
            format!("{} {} (step {} of {})", sweep.axis.name(), sweep.axis.show(level), i + 1, sweep.levels.len());
        let mut on_progress = |p: &Progress| progress(&Progress { step: Some(label.clone()), ..p.clone() });
        let step_plan = plan.at_step(sweep, level);
        let started_s = start.elapsed().as_secs_f64();
        let context = (ctx.known.clone(), ctx.captures.clone());
        let result = load::run(
            ctx.lanes.clone(),
            ctx.test.clone(),
            ctx.feed.clone(),
            &step_plan,
            ctx.stop.clone(),
            &mut on_progress,
            context,
        )
        .await;
        let ended_s = start.elapsed().as_secs_f64();
        append_timeline(&mut swept.timeline, &result.timeline, started_s, load::MAX_TIMELINE);
        if let Some(panic) = &result.panicked {
            swept.cut = Some(format!("internal error: a request task panicked ({panic}); the counts are incomplete"));
        } else if result.interrupted {
            swept.cut = Some(format!("interrupted at {} {}", sweep.axis.name(), sweep.axis.show(level)));
        }
        let samples = within(ctx.sampling.so_far(), started_s, ended_s);
        let step = judge_step(ctx.test, &result, level, (started_s, ended_s), &samples, ctx.known);
        let held = step.held;
        if let Some((_, _, t)) = result.examples.into_iter().next()
            && (!held || swept.transcript.is_none())
        {
            swept.transcript = Some(t);
        }
        swept.steps.push(step);
        if !held || swept.cut.is_some() {
            break;
        }
    }
    swept
}

/// A step's requests on the search's clock; the whole search keeps as many for the plot as one
/// load does (`cap`), the first ones.
fn append_timeline(timeline: &mut Vec<(f64, f64, bool)>, step: &[(f64, f64, bool)], started_s: f64, cap: usize) {
    let room = cap.saturating_sub(timeline.len());
    timeline.extend(step.iter().take(room).map(|&(t, latency, passed)| (started_s + t, latency, passed)));
}

/// The samples taken while a step ran.
fn within(samples: BTreeMap<String, Vec<(f64, f64)>>, from: f64, to: f64) -> BTreeMap<String, Vec<(f64, f64)>> {
    samples.into_iter().map(|(k, v)| (k, v.into_iter().filter(|(t, _)| (from..=to).contains(t)).collect())).collect()
}

/// One step's thresholds and requests: did the step hold?
fn judge_step(
    test: &TestPlan,
    result: &LoadResult,
    level: f64,
    (started_s, ended_s): (f64, f64),
    samples: &BTreeMap<String, Vec<(f64, f64)>>,
    known: &Known,
) -> SweepStep {
    let steps = BTreeMap::new();
    let m = Measurements {
        aggregate: &result.aggregate,
        windows: &[],
        samples,
        fit_after: 0.0,
        steps: &steps,
        baseline: None,
        capacity: None,
    };
    let thresholds: Vec<StepThreshold> = test
        .thresholds
        .iter()
        .filter(|t| searched(t))
        .map(|t| {
            let result = t.evaluate(&m, known);
            let measured = match t.condition() {
                Some(_) => Some(result.clone().unwrap_or_else(|e| e)),
                None => t.measure(&m).map(|v| t.show(v)),
            };
            StepThreshold { text: t.text.clone(), limit: t.limit(), measured, held: result.is_ok() }
        })
        .collect();
    let requests_broke = match load::verdict(test, result) {
        Verdict::Passed => None,
        other => Some(other.headline()),
    };
    SweepStep {
        load: level,
        started_s,
        ended_s,
        aggregate: Arc::new(result.aggregate.clone()),
        held: requests_broke.is_none() && thresholds.iter().all(|t| t.held),
        thresholds,
        requests_broke,
        warnings: result.warnings.clone(),
    }
}

/// A threshold that is a criterion of the search: every one but `capacity()` (measured by the
/// search itself) and the conditions on the previous run (which say nothing of this load).
fn searched(t: &Threshold) -> bool {
    !t.is_capacity() && !t.condition().is_some_and(|c| c.reads.contains("baseline"))
}

/// The knee of steps run in order: the last one held before the first that broke, and whether
/// one broke (the limit was found).
pub fn knee(held: &[bool]) -> (Option<usize>, bool) {
    match held.iter().position(|h| !h) {
        Some(0) => (None, true),
        Some(broke) => (Some(broke - 1), true),
        None if held.is_empty() => (None, false),
        None => (Some(held.len() - 1), false),
    }
}

/// The test's outcomes: its own (the sweep, the knee's aggregate), then one per threshold.
pub fn outcomes(
    test: &TestPlan,
    sweep: &SweepPlan,
    swept: Swept,
    series: BTreeMap<String, Vec<(f64, f64)>>,
    duration: Duration,
    known: &Known,
    previous: Option<&crate::metrics::baseline::Measured>,
) -> Vec<TestOutcome> {
    let held: Vec<bool> = swept.steps.iter().map(|s| s.held).collect();
    let (knee, broke) = knee(&held);
    let result = Arc::new(SweepResult {
        axis: sweep.axis,
        planned: sweep.levels.clone(),
        knee: if swept.cut.is_some() { None } else { knee },
        limit_found: broke && swept.cut.is_none(),
        steps: swept.steps,
        cut: swept.cut.clone(),
    });
    let axis = sweep.axis;
    let at = |step: &SweepStep| format!("{} {}", axis.name(), axis.show(step.load));
    // The thresholds are shown as measured at the knee; without one, at the step that broke.
    let shown = result.knee.or(if result.steps.is_empty() { None } else { Some(0) });
    let shown_step = shown.and_then(|i| result.steps.get(i));
    let mut warnings: Vec<String> =
        result.steps.iter().flat_map(|s| s.warnings.iter().map(move |w| format!("at {}: {w}", at(s)))).collect();
    let verdict = match (&swept.cut, shown_step) {
        (Some(why), _) => Verdict::Error(why.clone()),
        (None, None) => Verdict::Error("the sweep ran no step".into()),
        (None, Some(s)) if s.aggregate.count == 0 => {
            Verdict::Error(format!("no request completed at {}: nothing was measured", at(s)))
        }
        (None, Some(s)) if result.knee.is_none() => Verdict::Failed(vec![crate::expect::Failure {
            check: crate::expect::Check::Threshold,
            loc: test.loc,
            subject: "capacity".into(),
            expected: format!("the lowest step, {}, to hold", at(s)),
            actual: format!("it broke: {}", s.broken().join("; ")),
        }]),
        (None, Some(_)) => Verdict::Passed,
    };
    if let (None, false, Some(last), Some(_)) = (&swept.cut, result.limit_found, result.steps.last(), result.knee) {
        warnings.push(format!(
            "the search did not find the limit: every step held, up to {}; add higher steps to find it",
            at(last)
        ));
    }
    let mut properties = shown_step.map(|s| s.aggregate.properties()).unwrap_or_default();
    // The previous run's knee step against this one's, as for any load test.
    if let Some(previous) = previous {
        let changes = previous.changes(&properties);
        properties.extend(changes);
    }
    properties.extend(sweep_properties(&result));
    let capacity = result.capacity();
    let steps_values = BTreeMap::new();
    let aggregate = shown_step.map(|s| s.aggregate.clone());
    let empty = crate::metrics::aggregate::Aggregate::default();
    let shown_samples = shown_step.map(|s| within(series.clone(), s.started_s, s.ended_s)).unwrap_or_default();
    let m = Measurements {
        aggregate: aggregate.as_deref().unwrap_or(&empty),
        windows: &[],
        samples: &shown_samples,
        fit_after: 0.0,
        steps: &steps_values,
        baseline: previous.and_then(|p| p.aggregate.as_ref()),
        capacity,
    };
    let mut thresholds = load::threshold_outcomes(test, &m, known);
    for (outcome, t) in thresholds.iter_mut().zip(&test.thresholds) {
        match &result.cut {
            // A search cut short says nothing of the deployment's limit.
            Some(why) => {
                outcome.verdict = Verdict::Skipped(format!("not judged: the search was cut short ({why})"));
                outcome.threshold = Some(ThresholdResult { limit: t.limit(), measured: None });
                outcome.properties.retain(|(k, _)| k != "measured");
            }
            None => annotate(outcome, t, &result, shown, axis),
        }
    }
    let outcome = TestOutcome {
        duration,
        properties,
        transcript: swept.transcript,
        warnings,
        series: Some(Arc::new(RunSeries {
            samples: series,
            windows: vec![],
            window: Duration::ZERO,
            requests: swept.timeline,
        })),
        aggregate,
        sweep: Some(result),
        ..TestOutcome::bare(&test.name, test.loc, verdict)
    };
    let mut outcomes = vec![outcome];
    outcomes.extend(thresholds);
    outcomes
}

/// A threshold's outcome says where it was measured, and what the breaking step measured:
/// `48ms at concurrency 8; 72ms at 12, where it broke`.
fn annotate(
    outcome: &mut TestOutcome,
    t: &Threshold,
    result: &SweepResult,
    shown: Option<usize>,
    axis: crate::spec::plan::SweepAxis,
) {
    if t.is_capacity() {
        let context = match (result.breaking(), result.limit_found) {
            (Some(b), true) if result.knee.is_none() => format!(" (the lowest step, {}, broke)", axis.show(b.load)),
            (Some(b), true) => format!(" (broke at {})", axis.show(b.load)),
            (_, false) if result.knee.is_some() => " (every step held: the limit is higher)".into(),
            _ => String::new(),
        };
        if let Some(ThresholdResult { measured: Some(m), .. }) = &mut outcome.threshold {
            m.push_str(&context);
        }
        if let Verdict::Failed(failures) = &mut outcome.verdict {
            for f in failures {
                f.actual.push_str(&context);
            }
        }
        return;
    }
    if !searched(t) {
        return;
    }
    let Some(step) = shown.and_then(|i| result.steps.get(i)) else { return };
    let mut context = format!(" at {} {}", axis.name(), axis.show(step.load));
    if result.knee.is_none() {
        context.push_str(", the lowest step");
    }
    let breaking = result.breaking().filter(|b| !std::ptr::eq(*b, step));
    if let Some(b) = breaking {
        let measured = b.thresholds.iter().find(|s| s.text == t.text).and_then(|s| s.measured.clone());
        let held = b.thresholds.iter().any(|s| s.text == t.text && s.held);
        let value = measured.unwrap_or_else(|| "not measured".into());
        let why = if held { "" } else { ", where it broke" };
        context.push_str(&format!("; {value} at {}{why}", axis.show(b.load)));
        outcome.properties.push(("breaking_step".into(), format!("{} {}", axis.name(), axis.show(b.load))));
        outcome.properties.push(("breaking_measured".into(), value));
    }
    outcome.properties.push(("measured_at".into(), format!("{} {}", axis.name(), axis.show(step.load))));
    if let Some(ThresholdResult { measured: Some(m), .. }) = &mut outcome.threshold {
        m.push_str(&context);
    }
    if let Verdict::Failed(failures) = &mut outcome.verdict {
        for f in failures {
            f.actual.push_str(&context);
        }
    }
}

/// The knee and each step, as JUnit properties: `knee_concurrency`, `step_1_concurrency`,
/// `step_1_p50_ttft_ms`, `step_1_broken`...
fn sweep_properties(result: &SweepResult) -> Vec<(String, String)> {
    let axis = result.axis.name();
    let mut props = vec![
        (format!("knee_{axis}"), result.capacity().map_or_else(|| "none".into(), |v| result.axis.show(v))),
        ("limit_found".into(), result.limit_found.to_string()),
        ("sweep_steps".into(), format!("{} of {}", result.steps.len(), result.planned.len())),
    ];
    for (i, step) in result.steps.iter().enumerate() {
        let n = i + 1;
        let agg = &step.aggregate;
        props.push((format!("step_{n}_{axis}"), result.axis.show(step.load)));
        props.push((format!("step_{n}_requests"), agg.count.to_string()));
        props.push((format!("step_{n}_errors"), (agg.errors + agg.failed).to_string()));
        for (statistic, series) in [
            (Statistic::Median, SeriesName::Latency),
            (Statistic::Percentile(99.0), SeriesName::Latency),
            (Statistic::Median, SeriesName::Ttft),
            (Statistic::Percentile(99.0), SeriesName::Ttft),
        ] {
            if let Some(v) = agg.stat(statistic, series) {
                props.push((format!("step_{n}_{statistic}_{series}_ms"), format!("{:.3}", v * 1e3)));
            }
        }
        if let Some(v) = agg.scalar(ScalarName::ReqPerS) {
            props.push((format!("step_{n}_req_per_s"), format!("{v:.3}")));
        }
        props.push((format!("step_{n}_held"), step.held.to_string()));
        let broken = step.broken();
        if !broken.is_empty() {
            props.push((format!("step_{n}_broken"), broken.join("; ")));
        }
    }
    props
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knee_is_the_last_step_held_before_the_first_broken() {
        assert_eq!(knee(&[true, true, true, false]), (Some(2), true));
        assert_eq!(knee(&[true, false]), (Some(0), true));
        // A step after a broken one is never run; were it, it would not move the knee.
        assert_eq!(knee(&[true, false, true]), (Some(0), true));
    }

    #[test]
    fn the_requests_of_every_step_share_one_clock_and_one_bound() {
        let mut timeline = vec![];
        append_timeline(&mut timeline, &[(0.0, 0.1, true), (0.5, 0.2, true)], 0.0, 3);
        append_timeline(&mut timeline, &[(0.25, 0.3, false), (0.75, 0.4, true)], 2.0, 3);
        assert_eq!(timeline, [(0.0, 0.1, true), (0.5, 0.2, true), (2.25, 0.3, false)]);
        append_timeline(&mut timeline, &[(0.0, 0.5, true)], 4.0, 3);
        assert_eq!(timeline.len(), 3);
    }

    #[test]
    fn nothing_held_means_no_knee() {
        assert_eq!(knee(&[false]), (None, true));
        assert_eq!(knee(&[]), (None, false));
    }

    #[test]
    fn all_held_means_the_limit_was_not_found() {
        assert_eq!(knee(&[true, true, true]), (Some(2), false));
        assert_eq!(knee(&[true]), (Some(0), false));
    }
}
