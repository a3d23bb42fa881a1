//! Which shard this process is, from the command line or from the CI engine that started it,
//! and when it starts, so that parallel jobs load the server together.

use clap::Args;
use llmspec_core::spec::shard::Shard;
use std::time::{Duration, SystemTime};

#[derive(Args, Default)]
pub struct ShardArgs {
    /// Run shard K of N (e.g. 2/4): functional tests are divided by a stable hash of their
    /// names, loads by their requests, concurrency and rate. Without it, GitLab's
    /// CI_NODE_INDEX/CI_NODE_TOTAL (`parallel:`) or Kubernetes' JOB_COMPLETION_INDEX (with
    /// --shard-total) are read. `--shard 1/1` runs everything.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// How many shards a Kubernetes Indexed Job runs (its `completions`), for
    /// JOB_COMPLETION_INDEX; also read from LLMSPEC_SHARD_TOTAL.
    #[arg(long, value_name = "N")]
    pub shard_total: Option<u32>,
    /// Wait until this UTC time before the first test (RFC 3339, e.g. 2026-11-30T14:05:00Z, or
    /// a time plus a delay, e.g. "$CI_PIPELINE_CREATED_AT+3m"), so that shards start together.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
}

/// The shard this process runs, and where that came from (for the console), or why the
/// settings make no sense.
pub fn resolve(args: &ShardArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<(Shard, String)>, String> {
    if let Some(shard) = args.shard {
        return Ok((shard.total > 1).then(|| (shard, "--shard".to_string())));
    }
    let number = |name: &str| -> Result<Option<u32>, String> {
        match env(name).filter(|v| !v.trim().is_empty()) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| format!("{name}={v} is not a whole number")),
        }
    };
    if let (Some(k), Some(n)) = (number("CI_NODE_INDEX")?, number("CI_NODE_TOTAL")?) {
        let shard = Shard::one_based(k, n).map_err(|e| format!("CI_NODE_INDEX/CI_NODE_TOTAL: {e}"))?;
        return Ok((shard.total > 1).then(|| (shard, "CI_NODE_INDEX and CI_NODE_TOTAL".to_string())));
    }
    if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        let total = match args.shard_total {
            Some(n) => Some(n),
            None => number("LLMSPEC_SHARD_TOTAL")?,
        };
        let Some(total) = total else {
            return Err(format!(
                "JOB_COMPLETION_INDEX={index} is set, but not how many shards there are: give --shard-total N \
                 (or LLMSPEC_SHARD_TOTAL), or --shard 1/1 to run everything"
            ));
        };
        let shard = Shard::one_based(index.saturating_add(1), total)
            .map_err(|e| format!("JOB_COMPLETION_INDEX (from 0) with {total} shards: {e}"))?;
        return Ok((shard.total > 1).then(|| (shard, "JOB_COMPLETION_INDEX".to_string())));
    }
    Ok(None)
}

/// Waiting longer than this is a mistake in the time, not a plan.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

/// `2026-11-30T14:05:00Z`, or that plus a delay: `2026-11-30T14:05:00Z+3m`.
pub fn start_time(text: &str) -> Result<SystemTime, String> {
    let text = text.trim();
    let usage = |why: String| {
        format!("--start-at `{text}`: {why}; write a UTC time such as 2026-11-30T14:05:00Z, optionally +3m")
    };
    // The date has dashes of its own: a delay follows the last `+` after the time, when what
    // follows is a duration (`+02:00`, an offset, is not: only UTC is taken).
    let (time, delay) = match text.rfind('+') {
        Some(at) if at > 10 => {
            let suffix = &text[at + 1..];
            if llmspec_core::vocab::units::parse_duration(suffix).is_err() {
                return Err(usage(format!("`+{suffix}` is not a delay (only UTC times are taken, ending in Z)")));
            }
            (&text[..at], Some(suffix))
        }
        _ => (text, None),
    };
    let mut start = humantime::parse_rfc3339_weak(time).map_err(|e| usage(e.to_string()))?;
    if let Some(delay) = delay {
        let delay = llmspec_core::vocab::units::parse_duration(delay).map_err(usage)?;
        start += delay;
    }
    Ok(start)
}

/// How long to wait from `now` for `start`, or why not to: too far ahead, or already past
/// (then the run starts at once and says how late it is).
pub fn wait_for(start: SystemTime, now: SystemTime) -> Result<Result<Duration, Duration>, String> {
    match start.duration_since(now) {
        Ok(wait) if wait > LONGEST_WAIT => Err(format!(
            "--start-at is {} ahead; more than a day is surely a mistake",
            humantime::format_duration(Duration::from_secs(wait.as_secs()))
        )),
        Ok(wait) => Ok(Ok(wait)),
        Err(past) => Ok(Err(past.duration())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn the_flag_wins_then_gitlab_then_kubernetes() {
        let args = ShardArgs { shard: Shard::parse("2/3").ok(), ..ShardArgs::default() };
        let gitlab = env_of(&[("CI_NODE_INDEX", "4"), ("CI_NODE_TOTAL", "4")]);
        assert_eq!(resolve(&args, &gitlab), Ok(Some((Shard { index: 1, total: 3 }, "--shard".into()))));
        let none = ShardArgs::default();
        assert_eq!(resolve(&none, &gitlab).map(|s| s.map(|s| s.0)), Ok(Some(Shard { index: 3, total: 4 })));
        let k8s = env_of(&[("JOB_COMPLETION_INDEX", "0"), ("LLMSPEC_SHARD_TOTAL", "4")]);
        assert_eq!(resolve(&none, &k8s).map(|s| s.map(|s| s.0)), Ok(Some(Shard { index: 0, total: 4 })));
        let with_flag = ShardArgs { shard_total: Some(2), ..ShardArgs::default() };
        let k8s = env_of(&[("JOB_COMPLETION_INDEX", "1")]);
        assert_eq!(resolve(&with_flag, &k8s).map(|s| s.map(|s| s.0)), Ok(Some(Shard { index: 1, total: 2 })));
        assert!(resolve(&none, &k8s).unwrap_err().contains("--shard-total"));
        assert_eq!(resolve(&none, &env_of(&[])), Ok(None));
        let one = ShardArgs { shard: Shard::parse("1/1").ok(), ..ShardArgs::default() };
        assert_eq!(resolve(&one, &gitlab), Ok(None), "1/1 turns sharding off");
        assert!(resolve(&none, &env_of(&[("CI_NODE_INDEX", "5"), ("CI_NODE_TOTAL", "4")])).is_err());
        assert!(resolve(&none, &env_of(&[("CI_NODE_INDEX", "x"), ("CI_NODE_TOTAL", "4")])).is_err());
    }

    #[test]
    fn start_times_are_utc_with_an_optional_delay() {
        let base = start_time("2026-11-30T14:05:00Z").expect("a time");
        assert_eq!(start_time("2026-11-30T14:05:00Z+3m"), Ok(base + Duration::from_secs(180)));
        assert!(start_time("tomorrow").is_err());
        assert!(start_time("2026-11-30T14:05:00Z+soon").is_err());
        let offset = start_time("2026-11-30T14:05:00+02:00").unwrap_err();
        assert!(offset.contains("UTC"), "an offset is refused with the form to write: {offset}");
        assert_eq!(wait_for(base, base - Duration::from_secs(30)), Ok(Ok(Duration::from_secs(30))));
        assert_eq!(wait_for(base, base + Duration::from_secs(5)), Ok(Err(Duration::from_secs(5))));
        assert!(wait_for(base + Duration::from_secs(2 * 86400), base).is_err());
    }
}
