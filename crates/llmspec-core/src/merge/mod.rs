//! `llmspec merge`: the `--json` results of a run's shards become the events of one run, so
//! that every reporter writes what one process would have written. Counts and histograms add
//! up exactly; each threshold of a load is judged again on the whole load; each functional test
//! comes from the shard that owns it. What makes the shards not one run (a missing shard, one
//! that ran other specs, one stopped early) is reported as an error of the merge itself.

mod read;

pub use read::ShardResults;

use crate::expect::threshold::Measurements;
use crate::expr::bindings::Known;
use crate::metrics::aggregate::Aggregate;
use crate::metrics::baseline::Baseline;
use crate::run::event::{Event, EventSink, RunSeries, Summary, TestOutcome, Verdict};
use crate::run::{load, sample};
use crate::spec::Plan;
use crate::spec::diag::Source;
use crate::spec::plan::{SuitePlan, TestPlan, TlsOptions};
use crate::spec::shard::Shard;
use crate::vocab::Loc;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Merges the shards' results against the plan they ran (loaded again from the same specs) and
/// tells the reporters. The shards are in any order.
pub fn merge(plan: &Plan, shards: &[ShardResults], baseline: Option<&Baseline>, events: &mut dyn EventSink) -> Summary {
    let mut summary = Summary::default();
    let total = plan.suites.iter().map(|s| s.tests.len()).sum();
    events.emit(&Event::RunStarted { suites: plan.suites.len(), tests: total });
    let problems = problems(&plan.digest(), shards);
    if !problems.is_empty() {
        let suite = merge_suite();
        events.emit(&Event::SuiteStarted { suite: &suite });
        for problem in &problems {
            let outcome = TestOutcome::bare(problem, Loc::default(), Verdict::Error(problem.clone()));
            summary.count(&outcome.verdict);
            events.emit(&Event::TestFinished { suite: &suite, outcome: &outcome });
        }
        events.emit(&Event::SuiteFinished { suite: &suite, duration: Duration::ZERO });
    }
    let total_shards = shards.iter().filter_map(|s| s.shard).map(|s| s.total).max().unwrap_or(1);
    for suite in &plan.suites {
        let mut known = Known::for_suite(suite.vars.clone(), suite.tests.iter().flat_map(|t| t.expressions()));
        let mut outcomes: Vec<TestOutcome> = vec![];
        for test in &suite.tests {
            known.baseline =
                baseline.and_then(|b| b.test(&suite.name, &test.name)).map_or(Value::Null, |m| m.as_json());
            known.refresh();
            let merged = match &test.load {
                // A capacity search ran whole on the first shard, which judged it.
                Some(load) if load.sweep.is_none() => {
                    let outcomes = merged_load(suite, test, shards, &known, baseline);
                    if test.advisory { outcomes.into_iter().map(crate::run::advise).collect() } else { outcomes }
                }
                _ => owned_results(suite, test, shards, total_shards),
            };
            for outcome in &merged {
                if let Some(record) = &outcome.record {
                    known.tests.insert(test.name.clone(), record.as_ref().clone());
                    known.refresh();
                }
            }
            outcomes.extend(merged);
        }
        if outcomes.is_empty() {
            continue;
        }
        events.emit(&Event::SuiteStarted { suite });
        for outcome in &outcomes {
            summary.count(&outcome.verdict);
            events.emit(&Event::TestFinished { suite, outcome });
        }
        let duration = shards.iter().filter_map(|s| s.suite_duration(&suite.name)).fold(Duration::ZERO, Duration::max);
        events.emit(&Event::SuiteFinished { suite, duration });
    }
    summary.duration = shards.iter().map(|s| s.duration).fold(Duration::ZERO, Duration::max);
    events.emit(&Event::RunFinished { summary: &summary });
    summary
}

/// Why these results are not the shards of one run.
pub fn problems(digest: &str, shards: &[ShardResults]) -> Vec<String> {
    let mut problems = vec![];
    let unsharded = shards.iter().filter(|s| s.shard.is_none()).count();
    if unsharded > 0 && shards.len() > 1 {
        problems.push(format!(
            "{unsharded} of the {} results were not made with --shard: only the shards of one run add up",
            shards.len()
        ));
    }
    let totals: Vec<u32> = shards.iter().filter_map(|s| s.shard).map(|s| s.total).collect();
    if let Some(&total) = totals.iter().max() {
        if totals.iter().any(|t| *t != total) {
            problems.push(format!("the shards were cut in different numbers: {totals:?}"));
        }
        for index in 0..total {
            let copies: Vec<&ShardResults> =
                shards.iter().filter(|s| s.shard == Some(Shard { index, total })).collect();
            match copies.len() {
                0 => problems
                    .push(format!("shard {}/{total} is missing: its part of every load is not counted", index + 1)),
                1 => {}
                n => problems.push(format!(
                    "shard {}/{total} is given {n} times ({}): its part would be counted twice",
                    index + 1,
                    copies.iter().map(|s| s.path.as_str()).collect::<Vec<_>>().join(", ")
                )),
            }
        }
    }
    for shard in shards {
        if shard.plan != digest {
            problems.push(format!(
                "{} ran other specs or variables (plan {}, here {digest}): merge in the same checkout, with the same --var",
                shard.path, shard.plan
            ));
        }
        if let Some(why) = &shard.stopped_early {
            problems.push(format!("{} stopped early ({why}): its counts are incomplete", shard.path));
        }
    }
    problems
}

/// The suite the merge's own problems are reported under.
fn merge_suite() -> SuitePlan {
    SuitePlan {
        name: "llmspec merge".into(),
        description: None,
        source: Arc::new(Source { path: "(merge)".into(), text: String::new() }),
        tests: vec![],
        tls: TlsOptions::default(),
        vars: Default::default(),
    }
}

/// A functional test's results (and its own thresholds) from the shard that owns it, or from a
/// shard that ran it because one of its tests needed it.
fn owned_results(suite: &SuitePlan, test: &TestPlan, shards: &[ShardResults], total: u32) -> Vec<TestOutcome> {
    let owner = (0..total).find(|&index| Shard { index, total }.owns(suite, test));
    let from_owner = shards.iter().find(|s| s.shard.map(|s| s.index) == owner).map(|s| s.outcomes(&suite.name, test));
    let any = || shards.iter().map(|s| s.outcomes(&suite.name, test)).find(|o| !o.is_empty());
    from_owner.filter(|o| !o.is_empty()).or_else(any).unwrap_or_default()
}

/// A load's parts added up, and its thresholds judged on the whole.
fn merged_load(
    suite: &SuitePlan,
    test: &Arc<TestPlan>,
    shards: &[ShardResults],
    known: &Known,
    baseline: Option<&Baseline>,
) -> Vec<TestOutcome> {
    let parts: Vec<(Option<Shard>, TestOutcome)> = shards
        .iter()
        .filter_map(|s| s.outcomes(&suite.name, test).into_iter().find(|o| o.name == test.name).map(|o| (s.shard, o)))
        .collect();
    let Some((_, first)) = parts.first() else { return vec![] };
    if parts.iter().all(|(_, o)| matches!(o.verdict, Verdict::Skipped(_))) {
        return vec![first.clone()];
    }
    let label = |shard: Option<Shard>| shard.map_or(String::new(), |s| format!("shard {}/{}: ", s.index + 1, s.total));
    let mut aggregate = Aggregate::default();
    let mut windows: Vec<Aggregate> = vec![];
    let mut requests: Vec<(f64, f64, bool)> = vec![];
    let mut samples = BTreeMap::new();
    let mut window = Duration::ZERO;
    let mut warnings: Vec<String> = vec![];
    let mut unfinished = None;
    let mut examples: Vec<crate::expect::Failure> = vec![];
    for (shard, part) in &parts {
        if let Some(a) = &part.aggregate {
            aggregate.merge(a);
        }
        if let Some(series) = &part.series {
            for (i, w) in series.windows.iter().enumerate() {
                if windows.len() <= i {
                    windows.resize_with(i + 1, Aggregate::default);
                }
                windows[i].merge(w);
            }
            requests.extend(series.requests.iter().copied());
            if samples.is_empty() {
                samples = series.samples.clone();
            }
            window = window.max(series.window);
        }
        for w in &part.warnings {
            let w = format!("{}{w}", label(*shard));
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        match &part.verdict {
            // A part that panicked has incomplete counts; an interrupted one is a problem of the
            // merge already (its shard stopped early). Every other verdict is judged on the whole.
            Verdict::Error(why) if unfinished.is_none() && why.starts_with("internal error") => {
                unfinished = Some(format!("{}{why}", label(*shard)));
            }
            // The failed requests each part showed as examples.
            Verdict::Failed(f) => {
                examples.extend(f.iter().filter(|f| f.check != crate::expect::Check::Requests).cloned())
            }
            _ => {}
        }
    }
    requests.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The whole load lasted as long as its longest part, which ran alongside the others.
    aggregate.duration =
        parts.iter().filter_map(|(_, o)| o.aggregate.as_ref().map(|a| a.duration)).fold(Duration::ZERO, Duration::max);
    let verdict = match unfinished {
        Some(why) => Verdict::Error(why),
        None => {
            let whole = load::LoadResult { aggregate: aggregate.clone(), ..Default::default() };
            match load::verdict(test, &whole) {
                Verdict::Failed(mut failures) => {
                    failures.extend(examples);
                    Verdict::Failed(failures)
                }
                other => other,
            }
        }
    };
    let plan = test.load.as_ref();
    let previous = baseline.and_then(|b| b.test(&suite.name, &test.name));
    let steps = BTreeMap::new();
    let measurements = Measurements {
        aggregate: &aggregate,
        windows: &windows,
        samples: &samples,
        fit_after: plan.and_then(|p| p.fit_after).unwrap_or(window).as_secs_f64(),
        steps: &steps,
        baseline: previous.and_then(|p| p.aggregate.as_ref()),
        capacity: None,
    };
    let thresholds = load::threshold_outcomes(test, &measurements, known);
    let mut properties = aggregate.properties();
    properties.extend(sample::properties(&samples));
    if let Some(previous) = previous {
        let changes = previous.changes(&properties);
        properties.extend(changes);
    }
    let outcome = TestOutcome {
        duration: parts.iter().map(|(_, o)| o.duration).fold(Duration::ZERO, Duration::max),
        properties,
        transcript: parts.iter().find_map(|(_, o)| o.transcript.clone()),
        warnings,
        series: Some(Arc::new(RunSeries { samples, windows, window, requests })),
        aggregate: Some(Arc::new(aggregate)),
        ..TestOutcome::bare(&test.name, test.loc, verdict)
    };
    let mut outcomes = vec![outcome];
    outcomes.extend(thresholds);
    outcomes
}

#[cfg(test)]
mod tests;
