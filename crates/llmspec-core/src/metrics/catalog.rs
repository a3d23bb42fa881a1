//! Every name a spec can give to something measured, each defined once with its spelling and
//! its unit: per-request metrics, the distributions of a load run, a run's single numbers, and
//! the statistics that reduce a distribution or a sampled series to one number.
//!
//! Parsing, "did you mean" lists, JSON keys and JUnit property names all come from these
//! tables, so a new name is added in one place.

use crate::vocab::compare::Unit;
use std::fmt;

/// Declares a closed set of names: the enum, its spellings in order, each one's unit and
/// description (its doc comment, which the editor schema shows), and the way back from a spelling.
macro_rules! named {
    ($(#[$doc:meta])* $ty:ident { $($(#[doc = $vdoc:literal])* $variant:ident = $name:literal in $unit:ident,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $ty {
            $($(#[doc = $vdoc])* $variant,)*
        }

        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant,)*];
            pub const NAMES: &'static [&'static str] = &[$($name,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)*
                }
            }

            pub fn unit(self) -> Unit {
                match self {
                    $($ty::$variant => Unit::$unit,)*
                }
            }

            /// The doc comment of the name, on one line.
            pub fn description(self) -> &'static str {
                match self {
                    $($ty::$variant => concat!($($vdoc),*).trim_ascii_start(),)*
                }
            }

            pub fn parse(name: &str) -> Option<$ty> {
                match name {
                    $($name => Some($ty::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named! {
    /// A per-request metric (docs/metrics.md), bounded under `expect.metrics`.
    MetricName {
        /// Sending the request → the response headers.
        Ttfb = "ttfb" in Seconds,
        /// Sending the request → the first chunk carrying output. Streams only.
        Ttft = "ttft" in Seconds,
        /// Sending the request → the last chunk carrying output, or the end of the body.
        E2e = "e2e" in Seconds,
        /// Sending the request → the end of the response.
        Latency = "latency" in Seconds,
        /// Time per output token after the first. Streams only.
        Tpot = "tpot" in Seconds,
        /// The largest gap between two chunks carrying output. Streams only.
        MaxGap = "max_gap" in Seconds,
        /// The mean gap between two chunks carrying output. Streams only.
        MeanGap = "mean_gap" in Seconds,
        /// Tokens generated: `usage.completion_tokens`, or the chunks carrying output when the
        /// answer has no usage (an estimate).
        OutputTokens = "output_tokens" in Plain,
        /// `output_tokens / e2e`: tokens generated per second, first-token wait included.
        TokensPerSecond = "tokens_per_second" in Plain,
        /// Events received; `[DONE]` is not one.
        Chunks = "chunks" in Plain,
        /// Opening the connection the request went out on (resolving, TCP, TLS), when it was
        /// opened for this request; a request on a kept-alive connection has none. Inside
        /// ttfb, ttft, e2e and latency, which count from the request's start.
        Connect = "connect" in Seconds,
    }
}

named! {
    /// A distribution kept over the requests of a load or soak run, as a mergeable histogram.
    SeriesName {
        Latency = "latency" in Seconds,
        Ttfb = "ttfb" in Seconds,
        Ttft = "ttft" in Seconds,
        E2e = "e2e" in Seconds,
        Tpot = "tpot" in Seconds,
        /// Every gap between two chunks carrying output, of every request.
        ChunkGap = "chunk_gap" in Seconds,
        TokensPerSecond = "tokens_per_second" in Plain,
        OutputTokens = "output_tokens" in Plain,
        /// How late each request left against its planned start (open-loop arrivals).
        ScheduleLag = "schedule_lag" in Seconds,
        /// Opening a connection, over the requests that opened one.
        Connect = "connect" in Seconds,
    }
}

impl SeriesName {
    /// Histograms store integers: times in µs, token rates in thousandths.
    pub fn scale(self) -> f64 {
        match self {
            SeriesName::TokensPerSecond => 1e3,
            SeriesName::OutputTokens => 1.0,
            _ => 1e6,
        }
    }

    /// The per-request metric recorded into this series, one value per request. The chunk
    /// gaps and the schedule lag are recorded otherwise.
    pub fn metric(self) -> Option<MetricName> {
        match self {
            SeriesName::Latency => Some(MetricName::Latency),
            SeriesName::Ttfb => Some(MetricName::Ttfb),
            SeriesName::Ttft => Some(MetricName::Ttft),
            SeriesName::E2e => Some(MetricName::E2e),
            SeriesName::Tpot => Some(MetricName::Tpot),
            SeriesName::TokensPerSecond => Some(MetricName::TokensPerSecond),
            SeriesName::OutputTokens => Some(MetricName::OutputTokens),
            SeriesName::Connect => Some(MetricName::Connect),
            SeriesName::ChunkGap | SeriesName::ScheduleLag => None,
        }
    }
}

named! {
    /// A single number of a load or soak run.
    ScalarName {
        Count = "count" in Plain,
        Successes = "successes" in Plain,
        Failures = "failures" in Plain,
        Errors = "errors" in Plain,
        ErrorRate = "error_rate" in Fraction,
        SuccessRate = "success_rate" in Fraction,
        /// Requests per second that met every bound.
        Goodput = "goodput" in PerSecond,
        /// The share of requests that met every bound.
        GoodputRate = "goodput_rate" in Fraction,
        ReqPerS = "req_per_s" in PerSecond,
        OutputTokensPerS = "output_tokens_per_s" in PerSecond,
        ClientCpuS = "client_cpu_s" in Seconds,
        ClientPeakRssMb = "client_peak_rss_mb" in Plain,
    }
}

impl ScalarName {
    /// True for the numbers that say how many requests may go wrong: a threshold on one of
    /// them states the run's tolerance for failures.
    pub fn counts_failures(self) -> bool {
        matches!(
            self,
            ScalarName::ErrorRate
                | ScalarName::SuccessRate
                | ScalarName::Errors
                | ScalarName::Failures
                | ScalarName::Successes
                | ScalarName::Goodput
                | ScalarName::GoodputRate
        )
    }
}

/// What reduces a distribution or a sampled series to one number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    Min,
    Max,
    Mean,
    Median,
    /// `p99`, `p99.9`: the value below which this percentage of the values lie.
    Percentile(f64),
    /// The first sample of a sampled series.
    First,
    /// The last sample of a sampled series.
    Last,
}

impl Statistic {
    /// Spellings for a distribution; `pNN` takes any percentile from 0 to 100.
    pub const FOR_SERIES: &'static [&'static str] =
        &["min", "max", "mean", "avg", "median", "p50", "p90", "p95", "p99"];
    /// Spellings for a sampled series (samples are few, so no percentiles).
    pub const FOR_SAMPLES: &'static [&'static str] = &["min", "max", "mean", "avg", "first", "last"];
    /// What the reports show for every distribution.
    pub const SHOWN: [Statistic; 7] = [
        Statistic::Min,
        Statistic::Mean,
        Statistic::Percentile(50.0),
        Statistic::Percentile(90.0),
        Statistic::Percentile(95.0),
        Statistic::Percentile(99.0),
        Statistic::Max,
    ];

    pub fn parse(name: &str) -> Option<Statistic> {
        match name {
            "min" => Some(Statistic::Min),
            "max" => Some(Statistic::Max),
            "mean" | "avg" => Some(Statistic::Mean),
            "median" => Some(Statistic::Median),
            "first" => Some(Statistic::First),
            "last" => Some(Statistic::Last),
            p => {
                let q: f64 = p.strip_prefix('p')?.parse().ok()?;
                (q.is_finite() && (0.0..=100.0).contains(&q)).then_some(Statistic::Percentile(q))
            }
        }
    }

    /// True when it applies to a distribution (a histogram keeps no order, so no first/last).
    pub fn for_series(self) -> bool {
        !matches!(self, Statistic::First | Statistic::Last)
    }

    /// True when it applies to a sampled series.
    pub fn for_samples(self) -> bool {
        !matches!(self, Statistic::Median | Statistic::Percentile(_))
    }
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statistic::Min => f.write_str("min"),
            Statistic::Max => f.write_str("max"),
            Statistic::Mean => f.write_str("mean"),
            Statistic::Median => f.write_str("median"),
            Statistic::Percentile(q) => write!(f, "p{q}"),
            Statistic::First => f.write_str("first"),
            Statistic::Last => f.write_str("last"),
        }
    }
}

/// What a capacity search raises, step by step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepAxis {
    /// Requests in flight (closed loop).
    Concurrency,
    /// Requests started per second (open loop).
    Rate,
}

impl SweepAxis {
    pub fn name(self) -> &'static str {
        match self {
            SweepAxis::Concurrency => "concurrency",
            SweepAxis::Rate => "rate",
        }
    }

    /// A step's load as a person reads it: `8`, `4/s`.
    pub fn show(self, value: f64) -> String {
        match self {
            SweepAxis::Concurrency => crate::vocab::compare::trim_float(value),
            SweepAxis::Rate => format!("{}/s", crate::vocab::compare::trim_float(value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back() {
        for m in MetricName::ALL {
            assert_eq!(MetricName::parse(m.name()), Some(*m));
        }
        for s in SeriesName::ALL {
            assert_eq!(SeriesName::parse(s.name()), Some(*s));
            assert!(s.metric().is_none_or(|m| m.unit() == s.unit()), "{s}");
        }
        for s in ScalarName::ALL {
            assert_eq!(ScalarName::parse(&s.to_string()), Some(*s));
        }
        assert_eq!(MetricName::NAMES.len(), MetricName::ALL.len());
    }

    #[test]
    fn every_metric_is_described_on_one_line() {
        for m in MetricName::ALL {
            let d = m.description();
            assert!(!d.is_empty() && !d.starts_with(' ') && !d.contains("  "), "{m}: {d:?}");
        }
        assert_eq!(MetricName::OutputTokens.description().matches("when the answer").count(), 1);
    }

    #[test]
    fn statistics_read_as_written() {
        assert_eq!(Statistic::parse("p99.9"), Some(Statistic::Percentile(99.9)));
        assert_eq!(Statistic::parse("p99.9").map(|s| s.to_string()), Some("p99.9".into()));
        assert_eq!(Statistic::parse("avg"), Some(Statistic::Mean));
        assert_eq!(Statistic::parse("p101"), None);
        assert_eq!(Statistic::parse("pNaN"), None);
        assert_eq!(Statistic::parse("q50"), None);
        for s in Statistic::FOR_SERIES {
            assert!(Statistic::parse(s).is_some_and(Statistic::for_series), "{s}");
        }
        for s in Statistic::FOR_SAMPLES {
            assert!(Statistic::parse(s).is_some_and(Statistic::for_samples), "{s}");
        }
    }
}
