//! Reading one value out of a Prometheus text exposition (`/metrics`).
//!
//! Hand-written: the crate for this format (prometheus-parse 0.2) only accepts `\w+` metric
//! names, and every vLLM metric has a colon in its name (`vllm:num_requests_running`).

use std::collections::BTreeMap;

/// A sample line: `name{label="value",...} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

pub fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(body)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    Some(Sample { name, labels, value })
}

/// Labels up to the closing `}`; values may hold escaped quotes, commas and braces.
fn parse_labels(mut s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        let mut chars = s[eq + 1..].trim_start().strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                other => value.push(other),
            }
        };
        let quoted = s[eq + 1..].trim_start();
        s = &quoted[1 + end + 1..];
        labels.insert(key, value);
    }
}

/// The sum of every sample named `name` whose labels include all of `want` (gauges of several
/// engines or processes add up).
pub fn value(text: &str, name: &str, want: &BTreeMap<String, String>) -> Option<f64> {
    let mut found = None;
    for sample in text.lines().filter_map(parse_line) {
        if sample.name == name && want.iter().all(|(k, v)| sample.labels.get(k) == Some(v)) {
            *found.get_or_insert(0.0) += sample.value;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const VLLM: &str = r#"# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="gemma-3-270m"} 3.0
vllm:kv_cache_usage_perc{engine="0",model_name="gemma-3-270m"} 0.125
process_resident_memory_bytes 2.07e+09
http_requests_total{handler="/v1/chat/completions",method="POST",status="2xx"} 12.0
http_requests_total{handler="/v1/chat/completions",method="POST",status="4xx"} 2.0
weird{msg="a \"quoted\", {braced} value"} 7 1700000000000
"#;

    #[test]
    fn reads_vllm_metrics_with_colons_and_labels() {
        let none = BTreeMap::new();
        assert_eq!(value(VLLM, "vllm:num_requests_running", &none), Some(3.0));
        assert_eq!(value(VLLM, "process_resident_memory_bytes", &none), Some(2.07e9));
        assert_eq!(value(VLLM, "http_requests_total", &none), Some(14.0));
        let ok = BTreeMap::from([("status".to_string(), "2xx".to_string())]);
        assert_eq!(value(VLLM, "http_requests_total", &ok), Some(12.0));
        assert_eq!(value(VLLM, "weird", &none), Some(7.0));
        assert_eq!(value(VLLM, "absent", &none), None);
        let w = parse_line(VLLM.lines().last().unwrap()).unwrap();
        assert_eq!(w.labels["msg"], r#"a "quoted", {braced} value"#);
    }
}
