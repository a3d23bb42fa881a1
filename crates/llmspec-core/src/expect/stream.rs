//! Checks on a streamed answer and bounds on per-request metrics.

use super::predicate::Predicate;
use super::{Check, Failure};
use crate::metrics::RequestMetrics;
use crate::metrics::catalog::MetricName;
use crate::observed::Observed;
use crate::vocab::Loc;
use crate::vocab::compare::Comparison;

#[derive(Debug, Default)]
pub struct StreamCheck {
    pub loc: Loc,
    /// `[DONE]` arrived (true) or must not have (false).
    pub done: Option<bool>,
    /// Bound on the number of events (`[DONE]` excluded).
    pub chunks: Option<(Loc, Comparison)>,
    /// Bound on the largest gap between chunks carrying output.
    pub max_gap: Option<(Loc, Comparison)>,
    /// A chunk carrying `usage` arrived (true) or none did (false).
    pub usage: Option<bool>,
    /// On the `error` object sent inside the stream (absent: "nothing").
    pub error: Option<(Loc, Predicate)>,
    /// Every choice received exactly one `finish_reason`.
    pub one_finish_reason: Option<bool>,
}

impl StreamCheck {
    pub fn evaluate(&self, obs: &Observed, metrics: &RequestMetrics, failures: &mut Vec<Failure>) {
        let mut fail = |check: Check, loc: Loc, subject: &str, expected: String, actual: String| {
            failures.push(Failure { check, loc, subject: subject.into(), expected, actual })
        };
        let Some(s) = &obs.stream else {
            let ct = obs.header("content-type").unwrap_or("none");
            fail(
                Check::Stream,
                self.loc,
                "stream",
                "a text/event-stream answer".into(),
                format!("a plain answer (content-type: {ct})"),
            );
            return;
        };
        if let Some(want) = self.done {
            if s.done != want {
                let says = |d: bool| if d { "data: [DONE] at the end" } else { "no data: [DONE]" };
                fail(Check::Stream, self.loc, "stream done", says(want).into(), says(s.done).into());
            }
        }
        if let Some((loc, bound)) = &self.chunks {
            if !bound.holds(s.event_count as f64) {
                fail(Check::Stream, *loc, "stream chunks", bound.to_string(), s.event_count.to_string());
            }
        }
        if let Some((loc, bound)) = &self.max_gap {
            match metrics.max_gap {
                Some(gap) if bound.holds_for(gap) => {}
                Some(gap) => fail(
                    Check::StreamGap,
                    *loc,
                    "stream max_gap",
                    bound.to_string(),
                    bound.format_value(gap.as_secs_f64()),
                ),
                None => fail(
                    Check::StreamGap,
                    *loc,
                    "stream max_gap",
                    bound.to_string(),
                    "no gap: fewer than 2 chunks carried output".into(),
                ),
            }
        }
        if let Some(want) = self.usage {
            let got = s.usage_seen;
            if got != want {
                let says = |u: bool| if u { "a usage chunk" } else { "no usage chunk" };
                fail(Check::Stream, self.loc, "stream usage", says(want).into(), says(got).into());
            }
        }
        if let Some((loc, predicate)) = &self.error {
            if let Err(m) = predicate.evaluate(s.error_event.as_ref()) {
                fail(Check::Stream, *loc, "stream error event", m.expected, m.actual);
            }
        }
        if self.one_finish_reason == Some(true) {
            let counts = &s.finish_counts;
            if counts.is_empty() || counts.values().any(|&n| n != 1) {
                let actual = if counts.is_empty() {
                    "no finish_reason".to_string()
                } else {
                    counts.iter().map(|(i, n)| format!("choice {i}: {n}")).collect::<Vec<_>>().join(", ")
                };
                fail(
                    Check::Stream,
                    self.loc,
                    "stream finish_reason",
                    "exactly one finish_reason per choice".into(),
                    actual,
                );
            }
        }
    }
}

/// `expect.metrics` entry, e.g. `ttft: < 1s`.
#[derive(Debug)]
pub struct MetricBound {
    pub loc: Loc,
    pub name: MetricName,
    pub bound: Comparison,
}

impl MetricBound {
    pub fn evaluate(&self, metrics: &RequestMetrics) -> Option<Failure> {
        let fail = |actual: String| Failure {
            check: Check::Metric,
            loc: self.loc,
            subject: self.name.to_string(),
            expected: self.bound.to_string(),
            actual,
        };
        match metrics.get(self.name) {
            Some(v) if self.bound.holds(v) => None,
            // A kept-alive connection cost nothing to open: there is nothing to bound.
            None if self.name == MetricName::Connect => None,
            Some(v) => {
                let counts_tokens = matches!(self.name, MetricName::OutputTokens | MetricName::TokensPerSecond);
                let estimate =
                    if counts_tokens && metrics.tokens_estimated { " (tokens estimated from chunks)" } else { "" };
                Some(fail(format!("{}{estimate}", self.bound.format_value(v))))
            }
            None => Some(fail(format!("not measured ({})", why_missing(self.name)))),
        }
    }
}

fn why_missing(name: MetricName) -> &'static str {
    match name {
        MetricName::Ttft => "no chunk carried output, or the answer was not streamed",
        MetricName::Tpot => "fewer than 2 output tokens, or the answer was not streamed",
        MetricName::MaxGap | MetricName::MeanGap => "fewer than 2 chunks carried output",
        MetricName::OutputTokens | MetricName::TokensPerSecond => "no usage in the answer and nothing streamed",
        MetricName::Ttfb | MetricName::E2e | MetricName::Latency | MetricName::Chunks | MetricName::Connect => {
            "the answer did not carry it"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_bound() -> MetricBound {
        let bound = crate::vocab::compare::Comparison::parse("< 1ms").unwrap();
        MetricBound { loc: crate::vocab::Loc::default(), name: MetricName::Connect, bound }
    }

    #[test]
    fn a_connect_bound_holds_when_no_connection_was_opened() {
        let reused = RequestMetrics::default();
        assert!(connect_bound().evaluate(&reused).is_none());
        let opened = RequestMetrics { connect: Some(std::time::Duration::from_millis(3)), ..RequestMetrics::default() };
        let failure = connect_bound().evaluate(&opened).expect("3 ms is over 1 ms");
        assert_eq!(failure.subject, "connect");
        // Every other metric that was not measured fails with its reason.
        let ttft = MetricBound { name: MetricName::Ttft, ..connect_bound() };
        assert!(ttft.evaluate(&reused).is_some_and(|f| f.actual.contains("not measured")));
    }
}
