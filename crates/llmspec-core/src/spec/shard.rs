//! One run split over several processes (`--shard k/n`): CI parallel jobs, a Kubernetes Indexed
//! Job. Each functional test runs on one shard, chosen by a stable hash of its suite and name;
//! each load or soak test runs on every shard with a share of its requests, concurrency and rate,
//! so that the shards together send what one process would have sent.

use super::plan::{LoadPlan, Share, Stop, SuitePlan, TestPlan};
use crate::vocab::random::fnv1a;

/// Shard `index + 1` of `total`; `index` counts from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
}

/// More shards than this is a typo, not a deployment.
pub const MAX_SHARDS: u32 = 1024;

impl Shard {
    /// `2/4`: the second of four shards.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let usage = || format!("`{text}` is not a shard: write k/n, e.g. 2/4 for the second of four");
        let (k, n) = text.trim().split_once('/').ok_or_else(usage)?;
        let (k, n): (u32, u32) = (k.trim().parse().map_err(|_| usage())?, n.trim().parse().map_err(|_| usage())?);
        Shard::one_based(k, n)
    }

    /// Shard `k` (1 to n) of `n`.
    pub fn one_based(k: u32, n: u32) -> Result<Shard, String> {
        if n == 0 || n > MAX_SHARDS {
            return Err(format!("a run is split into 1 to {MAX_SHARDS} shards, not {n}"));
        }
        if k == 0 || k > n {
            return Err(format!("shard {k}/{n} does not exist: shards are numbered 1 to {n}"));
        }
        Ok(Shard { index: k - 1, total: n })
    }

    /// Whether this shard runs a test that sends one request (or a few steps). Lifecycle tests
    /// (restarts, commands) act on the deployment itself, and capacity searches judge each step
    /// as it runs: they run on the first shard only.
    pub fn owns(&self, suite: &SuitePlan, test: &TestPlan) -> bool {
        if !test.steps.is_empty() || test.load.as_ref().is_some_and(|l| l.sweep.is_some()) {
            return self.index == 0;
        }
        self.index == owner(&suite.name, &test.name, self.total)
    }

    /// This shard's part of a load: every `total`-th request from its own, a share of the
    /// concurrency, and its own arrivals at a share of the rate. None when the part is empty
    /// (fewer requests or workers than shards).
    pub fn part(&self, plan: &LoadPlan) -> Option<LoadPlan> {
        // A capacity search runs whole on the first shard: each step's knee is judged as it
        // runs, so its steps cannot wait for the other shards' parts.
        if plan.sweep.is_some() {
            return (self.index == 0).then(|| plan.clone());
        }
        // The shards that take part: no more than the workers, nor than the requests. The
        // others have no part, and the parts of those that do add up to the whole.
        let mut active = u64::from(self.total);
        if let Some(c) = plan.concurrency {
            active = active.min(c as u64);
        }
        if let Stop::Requests(requests) = plan.stop {
            active = active.min(requests);
        }
        let k = u64::from(self.index);
        if k >= active {
            return None;
        }
        let concurrency = plan.concurrency.map(|c| split(c as u64, k, active) as usize);
        Some(LoadPlan {
            concurrency,
            share: Share { first: k, step: active },
            // Independent Poisson arrivals at rate/n each add up to one Poisson process at rate.
            seed: plan.seed.wrapping_add(k),
            ..plan.clone()
        })
    }
}

/// The 0-based shard of a test: the same on every machine, in every run.
pub fn owner(suite: &str, test: &str, total: u32) -> u32 {
    let key = format!("{suite}\u{0}{test}");
    (fnv1a(key.as_bytes()) % u64::from(total.max(1))) as u32
}

/// Part `k` of `n` of `whole`, the first parts one larger when it does not divide evenly.
fn split(whole: u64, k: u64, n: u64) -> u64 {
    whole / n + u64::from(k < whole % n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_written_k_of_n() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 1, total: 4 }));
        assert_eq!(Shard::parse(" 1 / 1 "), Ok(Shard { index: 0, total: 1 }));
        for bad in ["0/4", "5/4", "1/0", "2", "a/b", "-1/3", "1/5000"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert!(Shard::parse("5/4").unwrap_err().contains("numbered 1 to 4"));
    }

    #[test]
    fn every_test_has_exactly_one_owner_and_the_owners_spread() {
        let mut counts = [0u32; 4];
        for i in 0..400 {
            let owner = owner("suite", &format!("test {i}"), 4);
            counts[owner as usize] += 1;
        }
        assert!(counts.iter().all(|c| (60..=140).contains(c)), "{counts:?}");
        assert_eq!(
            owner("vllm-medium basics", "01 health check", 4),
            owner("vllm-medium basics", "01 health check", 4)
        );
    }

    #[test]
    fn the_parts_of_a_load_add_up_to_the_whole() {
        let plan = LoadPlan { stop: Stop::Requests(10), concurrency: Some(5), ..LoadPlan::once() };
        let parts: Vec<LoadPlan> = (0..3).filter_map(|k| Shard { index: k, total: 3 }.part(&plan)).collect();
        assert_eq!(parts.iter().map(|p| p.concurrency.unwrap_or(0)).sum::<usize>(), 5);
        let mut sent: Vec<u64> = parts.iter().flat_map(|p| p.share.indexes(p.stop)).collect();
        sent.sort_unstable();
        assert_eq!(sent, (0..10).collect::<Vec<_>>(), "each request exactly once, with its own index");
        assert_eq!(parts.iter().map(|p| p.seed).collect::<Vec<_>>(), vec![1, 2, 3], "own arrivals per shard");
        // Two workers cannot be split four ways: two shards have no part, and the two that do
        // send every request between them.
        let small = LoadPlan { concurrency: Some(2), ..plan.clone() };
        let parts: Vec<LoadPlan> = (0..4).filter_map(|k| Shard { index: k, total: 4 }.part(&small)).collect();
        assert_eq!(parts.len(), 2);
        let mut sent: Vec<u64> = parts.iter().flat_map(|p| p.share.indexes(p.stop)).collect();
        sent.sort_unstable();
        assert_eq!(sent, (0..10).collect::<Vec<_>>());
        // `repeat: 10` is one worker: one shard sends it all.
        let repeat = LoadPlan { concurrency: Some(1), ..plan.clone() };
        let parts: Vec<LoadPlan> = (0..4).filter_map(|k| Shard { index: k, total: 4 }.part(&repeat)).collect();
        assert_eq!(parts.iter().map(|p| p.share.count(10)).collect::<Vec<_>>(), vec![10]);
        // Fewer requests than shards: each request on a shard of its own.
        let few = LoadPlan { stop: Stop::Requests(2), concurrency: None, rate: Some(10.0), ..plan };
        let parts: Vec<LoadPlan> = (0..4).filter_map(|k| Shard { index: k, total: 4 }.part(&few)).collect();
        assert_eq!(parts.iter().map(|p| (p.share.first, p.share.step)).collect::<Vec<_>>(), vec![(0, 2), (1, 2)]);
    }
}
