//! Aggregates over many requests: counters and mergeable HDR histograms.
//!
//! Histograms keep memory fixed however long a soak runs, and two of them (from two workers or
//! two machines) merge exactly: [`Series::to_json`] writes every non-empty bucket, and
//! re-recording a bucket's value into an identically configured histogram lands in the same
//! bucket.

use super::RequestMetrics;
use super::catalog::{ScalarName, SeriesName, Statistic};
use crate::vocab::compare::Unit;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// How one request ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Every check held, bounds on latency and metrics included.
    Good,
    /// The answer was right, but a latency or metric bound did not hold.
    Slow,
    /// A functional check did not hold (status, body, JSON, tool call, ...).
    Failed,
    /// No verdict: connection refused, timeout, broken stream.
    Error,
}

#[derive(Clone)]
pub struct Series {
    /// u32 counts: four billion samples per bucket is plenty, and it halves the memory
    /// (a soak keeps one aggregate per time window).
    hist: Histogram<u32>,
    scale: f64,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Series(n={})", self.hist.len())
    }
}

/// Up to one hour in µs (or 3.6 million tokens/s in milli-tokens/s) at 3 significant digits.
const HIGH: u64 = 3_600_000_000;

impl Series {
    fn new(scale: f64) -> Series {
        let hist = Histogram::new_with_bounds(1, HIGH, 3)
            .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()));
        Series { hist, scale }
    }

    pub fn record(&mut self, value: f64) {
        if value.is_finite() && value >= 0.0 {
            self.hist.saturating_record(((value * self.scale).round() as u64).max(1));
        }
    }

    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// The value at a quantile (0..=1), in the series' unit (seconds for times).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        (!self.is_empty()).then(|| self.hist.value_at_quantile(q) as f64 / self.scale)
    }

    pub fn min(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.hist.min() as f64 / self.scale)
    }

    pub fn max(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.hist.max() as f64 / self.scale)
    }

    pub fn mean(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.hist.mean() / self.scale)
    }

    /// Every non-empty bucket: (its value in the series' unit, how many values it holds), for
    /// drawing the distribution.
    pub fn recorded(&self) -> Vec<(f64, u64)> {
        self.hist
            .iter_recorded()
            .map(|v| (v.value_iterated_to() as f64 / self.scale, u64::from(v.count_at_value())))
            .collect()
    }

    pub fn merge(&mut self, other: &Series) {
        let _ = self.hist.add(&other.hist);
    }

    pub fn to_json(&self) -> Value {
        let counts: Vec<Value> =
            self.hist.iter_recorded().map(|v| json!([v.value_iterated_to(), v.count_at_value()])).collect();
        json!({"scale": self.scale, "low": 1, "high": HIGH, "significant_digits": 3, "counts": counts})
    }

    pub fn from_json(v: &Value) -> Option<Series> {
        let mut s = Series::new(v.get("scale")?.as_f64()?);
        for pair in v.get("counts")?.as_array()? {
            let count = u32::try_from(pair.get(1)?.as_u64()?).unwrap_or(u32::MAX);
            s.hist.saturating_record_n(pair.get(0)?.as_u64()?, count);
        }
        Some(s)
    }
}

#[derive(Debug, Clone)]
pub struct Aggregate {
    pub count: u64,
    pub good: u64,
    pub slow: u64,
    pub failed: u64,
    pub errors: u64,
    pub output_tokens: u64,
    pub status: BTreeMap<u16, u64>,
    pub series: BTreeMap<SeriesName, Series>,
    /// The measured window: from the first request sent after warm-up to the last answer.
    pub duration: Duration,
    /// CPU time the client used during the run (user + system), when the OS tells it.
    pub client_cpu: Option<Duration>,
    /// The client process's highest resident memory so far, in bytes.
    pub client_peak_rss: Option<u64>,
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate {
            count: 0,
            good: 0,
            slow: 0,
            failed: 0,
            errors: 0,
            output_tokens: 0,
            status: BTreeMap::new(),
            series: SeriesName::ALL.iter().map(|name| (*name, Series::new(name.scale()))).collect(),
            duration: Duration::ZERO,
            client_cpu: None,
            client_peak_rss: None,
        }
    }
}

impl Aggregate {
    pub fn record(
        &mut self,
        class: Class,
        status: Option<u16>,
        m: Option<&RequestMetrics>,
        schedule_lag: Option<Duration>,
    ) {
        self.count += 1;
        match class {
            Class::Good => self.good += 1,
            Class::Slow => self.slow += 1,
            Class::Failed => self.failed += 1,
            Class::Error => self.errors += 1,
        }
        if let Some(s) = status {
            *self.status.entry(s).or_default() += 1;
        }
        if let Some(lag) = schedule_lag {
            self.put(SeriesName::ScheduleLag, lag.as_secs_f64());
        }
        // A request with no verdict (refused, timed out, broken stream) measured the failure, not
        // the server's speed: its timings and tokens stay out of every statistic.
        let Some(m) = m.filter(|_| class != Class::Error) else { return };
        self.output_tokens += m.output_tokens.unwrap_or(0);
        for gap in &m.chunk_gaps {
            self.put(SeriesName::ChunkGap, gap.as_secs_f64());
        }
        for &name in SeriesName::ALL {
            if let Some(v) = name.metric().and_then(|metric| m.get(metric)) {
                self.put(name, v);
            }
        }
    }

    fn put(&mut self, name: SeriesName, value: f64) {
        if let Some(s) = self.series.get_mut(&name) {
            s.record(value);
        }
    }

    /// Adds another aggregate's counts and distributions, saturating: the other may have been
    /// read from a file.
    pub fn merge(&mut self, other: &Aggregate) {
        self.count = self.count.saturating_add(other.count);
        self.good = self.good.saturating_add(other.good);
        self.slow = self.slow.saturating_add(other.slow);
        self.failed = self.failed.saturating_add(other.failed);
        self.errors = self.errors.saturating_add(other.errors);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        for (k, v) in &other.status {
            let mine = self.status.entry(*k).or_default();
            *mine = mine.saturating_add(*v);
        }
        for (name, s) in &other.series {
            if let Some(mine) = self.series.get_mut(name) {
                mine.merge(s);
            }
        }
        self.duration = self.duration.max(other.duration);
        self.client_cpu = match (self.client_cpu, other.client_cpu) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        };
        self.client_peak_rss = self.client_peak_rss.max(other.client_peak_rss);
    }

    fn rate(&self, n: u64) -> Option<f64> {
        (self.count > 0).then(|| n as f64 / self.count as f64)
    }

    fn per_second(&self, n: u64) -> Option<f64> {
        (self.duration > Duration::ZERO).then(|| n as f64 / self.duration.as_secs_f64())
    }

    pub fn scalar(&self, name: ScalarName) -> Option<f64> {
        match name {
            ScalarName::Count => Some(self.count as f64),
            ScalarName::Successes => Some((self.good + self.slow) as f64),
            ScalarName::Failures => Some(self.failed as f64),
            ScalarName::Errors => Some(self.errors as f64),
            ScalarName::ErrorRate => self.rate(self.failed + self.errors),
            ScalarName::SuccessRate => self.rate(self.good + self.slow),
            ScalarName::Goodput => self.per_second(self.good),
            ScalarName::GoodputRate => self.rate(self.good),
            ScalarName::ReqPerS => self.per_second(self.count),
            ScalarName::OutputTokensPerS => self.per_second(self.output_tokens),
            ScalarName::ClientCpuS => self.client_cpu.map(|d| d.as_secs_f64()),
            ScalarName::ClientPeakRssMb => self.client_peak_rss.map(|b| b as f64 / (1024.0 * 1024.0)),
        }
    }

    /// `p99(latency)`, `mean(ttft)`, ...: a statistic of a distribution. `None` when nothing
    /// was recorded, and for first/last, which a histogram does not keep.
    pub fn stat(&self, statistic: Statistic, series: SeriesName) -> Option<f64> {
        let s = self.series.get(&series)?;
        match statistic {
            Statistic::Min => s.min(),
            Statistic::Max => s.max(),
            Statistic::Mean => s.mean(),
            Statistic::Median => s.quantile(0.5),
            Statistic::Percentile(q) => s.quantile(q / 100.0),
            Statistic::First | Statistic::Last => None,
        }
    }

    /// Every aggregate, for JUnit properties: times in milliseconds.
    pub fn properties(&self) -> Vec<(String, String)> {
        let mut props: Vec<(String, String)> = vec![];
        for &name in ScalarName::ALL {
            if let Some(v) = self.scalar(name) {
                let shown = match name.unit() {
                    Unit::Fraction => format!("{:.6}", v),
                    _ => format!("{:.3}", v),
                };
                props.push((name.to_string(), crate::vocab::compare::trim_float_str(&shown)));
            }
        }
        for (&name, s) in &self.series {
            if s.is_empty() {
                continue;
            }
            let seconds = name.unit() == Unit::Seconds;
            let suffix = if seconds { "_ms" } else { "" };
            let factor = if seconds { 1e3 } else { 1.0 };
            for f in Statistic::SHOWN {
                if let Some(v) = self.stat(f, name) {
                    props.push((format!("{f}_{name}{suffix}"), format!("{:.3}", v * factor)));
                }
            }
        }
        for (code, n) in &self.status {
            props.push((format!("status_{code}"), n.to_string()));
        }
        props
    }

    pub fn to_json(&self) -> Value {
        let series: serde_json::Map<String, Value> =
            self.series.iter().filter(|(_, s)| !s.is_empty()).map(|(k, s)| (k.to_string(), s.to_json())).collect();
        let scalars: serde_json::Map<String, Value> =
            ScalarName::ALL.iter().filter_map(|n| self.scalar(*n).map(|v| (n.to_string(), json!(v)))).collect();
        json!({
            "count": self.count, "good": self.good, "slow": self.slow, "failed": self.failed, "errors": self.errors,
            "output_tokens": self.output_tokens,
            "status": self.status.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "duration_s": self.duration.as_secs_f64(),
            "client_cpu_s": self.client_cpu.map(|d| d.as_secs_f64()),
            "client_peak_rss_bytes": self.client_peak_rss,
            "scalars": scalars,
            "histograms": series,
        })
    }

    pub fn from_json(v: &Value) -> Option<Aggregate> {
        let mut a = Aggregate::default();
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        (a.count, a.good, a.slow, a.failed, a.errors, a.output_tokens) =
            (n("count"), n("good"), n("slow"), n("failed"), n("errors"), n("output_tokens"));
        for (k, c) in v.get("status")?.as_object()? {
            a.status.insert(k.parse().ok()?, c.as_u64()?);
        }
        // Results read back may come from anywhere: a negative, infinite or huge number is refused,
        // never a panic.
        a.duration = Duration::try_from_secs_f64(v.get("duration_s")?.as_f64()?).ok()?;
        a.client_cpu = v.get("client_cpu_s").and_then(Value::as_f64).and_then(|s| Duration::try_from_secs_f64(s).ok());
        a.client_peak_rss = v.get("client_peak_rss_bytes").and_then(Value::as_u64);
        for (name, s) in v.get("histograms")?.as_object()? {
            let slot = SeriesName::parse(name).and_then(|name| a.series.get_mut(&name));
            if let (Some(slot), Some(series)) = (slot, Series::from_json(s)) {
                *slot = series;
            }
        }
        Some(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(latency_ms: u64, tokens: u64) -> RequestMetrics {
        let l = Duration::from_millis(latency_ms);
        RequestMetrics {
            latency: l,
            e2e: l,
            ttft: Some(l / 4),
            output_tokens: Some(tokens),
            tokens_per_second: Some(tokens as f64 / l.as_secs_f64()),
            chunk_gaps: vec![Duration::from_millis(10), Duration::from_millis(30)],
            ..RequestMetrics::default()
        }
    }

    #[test]
    fn counts_rates_and_percentiles() {
        let mut a = Aggregate::default();
        for i in 1..=100 {
            a.record(Class::Good, Some(200), Some(&metrics(i * 10, 10)), None);
        }
        a.record(Class::Error, None, None, None);
        a.duration = Duration::from_secs(10);
        assert_eq!(a.scalar(ScalarName::Count), Some(101.0));
        assert!((a.scalar(ScalarName::ErrorRate).unwrap() - 1.0 / 101.0).abs() < 1e-12);
        assert_eq!(a.scalar(ScalarName::ReqPerS), Some(10.1));
        assert_eq!(a.scalar(ScalarName::OutputTokensPerS), Some(100.0));
        let p50 = a.stat(Statistic::Percentile(50.0), SeriesName::Latency).unwrap();
        assert!((p50 - 0.5).abs() < 0.001, "{p50}");
        let p99 = a.stat(Statistic::Percentile(99.0), SeriesName::Latency).unwrap();
        assert!((p99 - 0.99).abs() < 0.001, "{p99}");
        assert_eq!(a.series[&SeriesName::ChunkGap].len(), 200);
        assert!((a.stat(Statistic::Max, SeriesName::ChunkGap).unwrap() - 0.030).abs() < 1e-4);
        assert_eq!(a.stat(Statistic::Last, SeriesName::Latency), None);
    }

    #[test]
    fn merging_serialized_aggregates_is_exact() {
        let (mut a, mut b, mut whole) = (Aggregate::default(), Aggregate::default(), Aggregate::default());
        for i in 1..=500u64 {
            let m = metrics(i * 7 % 1000 + 1, i % 13);
            let target = if i % 2 == 0 { &mut a } else { &mut b };
            target.record(Class::Good, Some(200), Some(&m), Some(Duration::from_micros(i)));
            whole.record(Class::Good, Some(200), Some(&m), Some(Duration::from_micros(i)));
        }
        let a2 = Aggregate::from_json(&a.to_json()).unwrap();
        let b2 = Aggregate::from_json(&serde_json::from_str(&b.to_json().to_string()).unwrap()).unwrap();
        let mut merged = a2;
        merged.merge(&b2);
        for &name in SeriesName::ALL {
            for f in Statistic::SHOWN {
                assert_eq!(merged.stat(f, name), whole.stat(f, name), "{f}({name})");
            }
        }
        assert_eq!(merged.count, 500);
        assert_eq!(merged.output_tokens, whole.output_tokens);
    }
}
