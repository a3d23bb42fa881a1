//! Per-request metrics, as defined in docs/metrics.md (vLLM's definitions).

use super::catalog::MetricName;
use crate::observed::Observed;
use crate::vocab::compare::Unit;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestMetrics {
    /// Sending the request → the response headers.
    pub ttfb: Duration,
    /// Sending the request → the first chunk carrying output. Streams only.
    pub ttft: Option<Duration>,
    /// Sending the request → the last chunk carrying output (streams), or the end of the
    /// body (non-streaming).
    pub e2e: Duration,
    /// Sending the request → the end of the response (`[DONE]` for streams).
    pub latency: Duration,
    /// (e2e − ttft) / (output_tokens − 1), when there are at least 2 tokens. Streams only.
    pub tpot: Option<Duration>,
    /// Gaps between successive chunks carrying output, between the arrivals that were kept
    /// (`ReadOptions::max_kept_arrivals`, 100 000 by default). Streams only.
    pub chunk_gaps: Vec<Duration>,
    /// The largest gap between chunks carrying output, over the whole stream.
    pub max_gap: Option<Duration>,
    /// The mean gap between chunks carrying output, over the whole stream.
    pub mean_gap: Option<Duration>,
    pub output_tokens: Option<u64>,
    /// The token count is the number of output chunks, because `usage` was missing.
    pub tokens_estimated: bool,
    /// output_tokens / e2e.
    pub tokens_per_second: Option<f64>,
    /// Events received (streams only; `[DONE]` excluded).
    pub chunks: usize,
    /// Opening the connection, when one was opened for the request.
    pub connect: Option<Duration>,
}

impl RequestMetrics {
    pub fn of(obs: &Observed) -> RequestMetrics {
        let usage_tokens =
            obs.json.as_ref().and_then(|j| j.pointer("/usage/completion_tokens")).and_then(serde_json::Value::as_u64);
        let Some(stream) = &obs.stream else {
            return RequestMetrics {
                ttfb: obs.ttfb,
                e2e: obs.latency,
                latency: obs.latency,
                output_tokens: usage_tokens,
                tokens_per_second: usage_tokens.and_then(|n| per_second(n, obs.latency)),
                connect: obs.connect,
                ..RequestMetrics::default()
            };
        };
        let out = &stream.output;
        let ttft = out.first;
        let e2e = out.last.unwrap_or(obs.latency);
        let (output_tokens, tokens_estimated) = match usage_tokens {
            Some(n) => (Some(n), false),
            None if out.count > 0 => (Some(out.count as u64), true),
            None => (None, false),
        };
        let tpot = match (ttft, output_tokens) {
            (Some(first), Some(n)) if n > 1 => Some((e2e - first) / (n - 1) as u32),
            _ => None,
        };
        RequestMetrics {
            ttfb: obs.ttfb,
            ttft,
            e2e,
            latency: obs.latency,
            tpot,
            chunk_gaps: out.kept.windows(2).map(|w| w[1].saturating_sub(w[0])).collect(),
            max_gap: out.max_gap,
            mean_gap: out.mean_gap(),
            output_tokens,
            tokens_estimated,
            tokens_per_second: output_tokens.and_then(|n| per_second(n, e2e)),
            chunks: stream.event_count,
            connect: obs.connect,
        }
    }

    /// A metric in seconds for times. `None` when it was not measured (a TTFT on a
    /// non-streaming answer, a TPOT with one token).
    pub fn get(&self, name: MetricName) -> Option<f64> {
        let secs = |d: Duration| d.as_secs_f64();
        match name {
            MetricName::Ttfb => Some(secs(self.ttfb)),
            MetricName::Ttft => self.ttft.map(secs),
            MetricName::E2e => Some(secs(self.e2e)),
            MetricName::Latency => Some(secs(self.latency)),
            MetricName::Tpot => self.tpot.map(secs),
            MetricName::MaxGap => self.max_gap.map(secs),
            MetricName::MeanGap => self.mean_gap.map(secs),
            MetricName::OutputTokens => self.output_tokens.map(|n| n as f64),
            MetricName::TokensPerSecond => self.tokens_per_second,
            MetricName::Chunks => Some(self.chunks as f64),
            MetricName::Connect => self.connect.map(secs),
        }
    }

    /// Everything measured, for JUnit properties (times in milliseconds).
    pub fn properties(&self) -> Vec<(String, String)> {
        let mut props = vec![];
        for &name in MetricName::ALL {
            if let Some(v) = self.get(name) {
                let (key, value) = match name.unit() {
                    Unit::Seconds => (format!("{name}_ms"), format!("{:.3}", v * 1e3)),
                    _ => (name.to_string(), crate::vocab::compare::trim_float(v)),
                };
                props.push((key, value));
            }
        }
        if self.tokens_estimated {
            props.push(("output_tokens_source".into(), "estimate: output chunks (no usage)".into()));
        }
        props
    }
}

fn per_second(tokens: u64, over: Duration) -> Option<f64> {
    (over.as_secs_f64() > 0.0).then(|| tokens as f64 / over.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::StreamObservation;
    use serde_json::json;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn stream_metrics_follow_the_definitions() {
        let obs = Observed {
            ttfb: ms(5),
            latency: ms(400),
            json: Some(json!({"usage": {"completion_tokens": 4}})),
            stream: Some(StreamObservation {
                event_count: 6,
                output: [ms(100), ms(150), ms(250), ms(400)].into_iter().collect(),
                ..StreamObservation::default()
            }),
            ..Observed::default()
        };
        let m = RequestMetrics::of(&obs);
        assert_eq!(m.ttft, Some(ms(100)));
        assert_eq!(m.e2e, ms(400));
        assert_eq!(m.tpot, Some(ms(100)));
        assert_eq!(m.chunk_gaps, vec![ms(50), ms(100), ms(150)]);
        assert_eq!(m.max_gap, Some(ms(150)));
        assert_eq!(m.mean_gap, Some(ms(100)));
        assert_eq!(m.tokens_per_second, Some(10.0));
        assert_eq!(m.chunks, 6);
        assert!(!m.tokens_estimated);
    }

    #[test]
    fn without_usage_chunks_are_counted_and_flagged() {
        let obs = Observed {
            latency: ms(300),
            stream: Some(StreamObservation {
                output: [ms(100), ms(200), ms(300)].into_iter().collect(),
                ..Default::default()
            }),
            ..Observed::default()
        };
        let m = RequestMetrics::of(&obs);
        assert_eq!((m.output_tokens, m.tokens_estimated), (Some(3), true));
        assert!(m.properties().iter().any(|(k, _)| k == "output_tokens_source"));
    }

    #[test]
    fn non_streaming_gets_ttfb_e2e_and_rate() {
        let obs = Observed {
            ttfb: ms(10),
            latency: ms(500),
            json: Some(json!({"usage": {"completion_tokens": 50}})),
            ..Observed::default()
        };
        let m = RequestMetrics::of(&obs);
        assert_eq!((m.ttft, m.e2e, m.tokens_per_second), (None, ms(500), Some(100.0)));
        assert_eq!(m.get(MetricName::Ttft), None);
    }
}
