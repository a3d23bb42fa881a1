//! Samples taken from the server while a test runs: a Prometheus metric, the memory of a local
//! process tree, or a command's output. Each source is read on its own period by its own task.

use crate::metrics::catalog::Statistic;
use crate::metrics::process::process_tree_rss_mb;
use crate::spec::interp::render_str;
use crate::spec::plan::{SamplePlan, SampleSource};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A sample source with every reference resolved.
pub struct Sampler {
    name: String,
    source: Source,
    every: Duration,
    scale: f64,
}

enum Source {
    Prometheus { url: String, metric: String, labels: BTreeMap<String, String> },
    Process { pid: Option<u32>, name: Option<String> },
    Command(Vec<String>),
}

impl Sampler {
    pub fn prepare(
        plans: &[SamplePlan],
        captures: &HashMap<String, Value>,
        allow_exec: bool,
    ) -> Result<Vec<Sampler>, String> {
        plans
            .iter()
            .map(|p| {
                let source = match &p.source {
                    SampleSource::Prometheus { url, metric, labels } => Source::Prometheus {
                        url: render_str(url, captures)?,
                        metric: metric.clone(),
                        labels: labels.clone(),
                    },
                    SampleSource::Process { pid, name } => {
                        let pid = match pid {
                            Some(p) => {
                                let text = render_str(p, captures)?;
                                Some(
                                    text.trim()
                                        .parse()
                                        .map_err(|_| format!("sample `{}`: `{text}` is not a process id", p))?,
                                )
                            }
                            None => None,
                        };
                        Source::Process { pid, name: name.clone() }
                    }
                    SampleSource::Command(words) => {
                        if !allow_exec {
                            return Err(format!("sample `{}` runs a command: refused without --allow-exec", p.name));
                        }
                        Source::Command(words.iter().map(|w| render_str(w, captures)).collect::<Result<_, _>>()?)
                    }
                };
                Ok(Sampler { name: p.name.clone(), source, every: p.every, scale: p.scale })
            })
            .collect()
    }

    async fn read(&self, client: &reqwest::Client) -> Option<f64> {
        let raw = match &self.source {
            Source::Prometheus { url, metric, labels } => {
                let text = bounded_text(client, url).await?;
                crate::metrics::prometheus::value(&text, metric, labels)
            }
            Source::Process { pid, name } => {
                // A scan of /proc reads a file per process: off the async workers.
                let (pid, name) = (*pid, name.clone());
                tokio::task::spawn_blocking(move || process_tree_rss_mb(pid, name.as_deref())).await.ok().flatten()
            }
            Source::Command(words) => {
                let run = tokio::process::Command::new(&words[0]).args(&words[1..]).kill_on_drop(true).output();
                let out = tokio::time::timeout(Duration::from_secs(10), run).await.ok()?.ok()?;
                first_quantity_mb(&String::from_utf8_lossy(&out.stdout))
            }
        };
        raw.map(|v| v * self.scale)
    }
}

type Series = BTreeMap<String, Vec<(f64, f64)>>;

pub struct Sampling {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    series: Arc<Mutex<Series>>,
}

/// Starts every sampler; times are seconds since `start`.
/// Largest metrics page read: vLLM's is some 100 KB; a page that never ends is cut here and not
/// used, so a hostile endpoint cannot grow llmspec's memory.
const MAX_METRICS_BYTES: usize = 8 * 1024 * 1024;

async fn bounded_text(client: &reqwest::Client, url: &str) -> Option<String> {
    let mut response = client.get(url).timeout(Duration::from_secs(5)).send().await.ok()?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > MAX_METRICS_BYTES {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).ok()
}

pub fn start(samplers: Vec<Sampler>, client: reqwest::Client, start: Instant) -> Sampling {
    let (stop, stopped) = watch::channel(false);
    let series = Arc::new(Mutex::new(Series::new()));
    let tasks = samplers
        .into_iter()
        .map(|sampler| {
            let (client, series, mut stopped) = (client.clone(), series.clone(), stopped.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(sampler.every);
                let mut last = false;
                while !last {
                    tokio::select! {
                        _ = tick.tick() => {}
                        // One reading at the end, so that a test shorter than `every` still
                        // shows how the server stood before and after it.
                        _ = stopped.wait_for(|s| *s) => last = true,
                    }
                    if let Some(v) = sampler.read(&client).await {
                        let t = start.elapsed().as_secs_f64();
                        if let Ok(mut s) = series.lock() {
                            s.entry(sampler.name.clone()).or_default().push((t, v));
                        }
                    }
                }
            })
        })
        .collect();
    drop(stopped);
    Sampling { stop, tasks, series }
}

impl Sampling {
    /// What was sampled until now, while the samplers go on.
    pub fn so_far(&self) -> Series {
        self.series.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub async fn stop(self) -> Series {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.series.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// For JUnit: how many samples, and first, last, min and max of each series.
pub fn properties(series: &Series) -> Vec<(String, String)> {
    let mut props = vec![];
    for (name, points) in series {
        props.push((format!("samples_{name}"), points.len().to_string()));
        for f in [Statistic::First, Statistic::Last, Statistic::Min, Statistic::Max] {
            if let Some(v) = crate::metrics::series::stat(points, f) {
                props.push((format!("{f}_{name}"), crate::vocab::compare::trim_float(v)));
            }
        }
        if let Some(fit) = crate::metrics::series::fit(points) {
            props.push((format!("slope_{name}_per_h"), crate::vocab::compare::trim_float(fit.slope * 3600.0)));
            props.push((format!("r2_{name}"), format!("{:.3}", fit.r2)));
        }
    }
    props
}

/// The first number of a command's output, in MB when a size unit follows it
/// (`1.5GiB / 8GiB` → 1536).
pub fn first_quantity_mb(text: &str) -> Option<f64> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let rest = &text[start..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let value: f64 = rest[..end].parse().ok()?;
    let unit: String = rest[end..].trim_start().chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let factor = match unit.as_str() {
        "B" => 1.0 / (1024.0 * 1024.0),
        "KiB" => 1.0 / 1024.0,
        "kB" | "KB" => 1e3 / 1e6,
        "MiB" => 1.0,
        "MB" => 1.0,
        "GiB" => 1024.0,
        "GB" => 1e3,
        _ => 1.0,
    };
    Some(value * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sizes_out_of_command_output() {
        assert_eq!(first_quantity_mb("1.5GiB / 8GiB"), Some(1536.0));
        assert_eq!(first_quantity_mb("mem: 512MiB"), Some(512.0));
        assert_eq!(first_quantity_mb("42\n"), Some(42.0));
        assert_eq!(first_quantity_mb("none"), None);
    }

    #[test]
    fn measures_a_process_tree() {
        let mb = process_tree_rss_mb(Some(std::process::id()), None).unwrap();
        assert!(mb > 1.0, "{mb}");
        assert_eq!(process_tree_rss_mb(None, Some("no-such-process-name-xyz")), None);
    }
}
