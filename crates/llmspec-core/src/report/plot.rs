//! An SVG picture of a long run: request latency over time above, each sampled series (memory,
//! queue length, ...) below. For a one-hour soak, people would rather look than read. A capacity
//! search gets a second picture: latency, TTFT and throughput against the load, with its knee.

use super::Reporter;
use super::chart::{self, BLUE, DARK, GREEN, Layer, Mark, Panel, RED, Size};
use super::sanitize::Sanitizer;
use crate::metrics::catalog::{SeriesName, Statistic};
use crate::run::event::{Event, RunSeries, SweepResult};
use std::path::PathBuf;

/// Requests drawn as dots in a plot file; a longer run shows its first ones.
const FILE_DOTS: usize = 20_000;

pub struct Plots {
    dir: PathBuf,
    sanitizer: Sanitizer,
    /// Files written, to tell the user where they are.
    written: Vec<PathBuf>,
}

impl Plots {
    pub fn new(dir: PathBuf, sanitizer: Sanitizer) -> Plots {
        Plots { dir, sanitizer, written: vec![] }
    }
}

/// The plot's file name for a test of a suite: `<suite>--<test>.svg`, masked, with every
/// character but letters, digits, `-` and `_` replaced by `_`. Other reports link to it.
pub fn file_name(sanitizer: &Sanitizer, suite: &str, test: &str) -> String {
    // Names are masked before they become a file name: a secret in a test name must not
    // reach the file system either.
    let name: String = sanitizer
        .name(&format!("{suite}--{test}"))
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("{name}.svg")
}

/// The file of a capacity search's knee picture, beside its time picture.
pub fn knee_file_name(sanitizer: &Sanitizer, suite: &str, test: &str) -> String {
    file_name(sanitizer, suite, test).replace(".svg", "--knee.svg")
}

impl Reporter for Plots {
    fn on(&mut self, event: &Event<'_>) -> Result<(), String> {
        let Event::TestFinished { suite, outcome } = event else { return Ok(()) };
        let Some(series) = &outcome.series else { return Ok(()) };
        let title = self.sanitizer.name(&outcome.name);
        let path = self.dir.join(file_name(&self.sanitizer, &suite.name, &outcome.name));
        self.sanitizer.write_file(&path, &svg(&title, series, FILE_DOTS, 900)?)?;
        self.written.push(path);
        if let Some(sweep) = &outcome.sweep {
            let path = self.dir.join(knee_file_name(&self.sanitizer, &suite.name, &outcome.name));
            self.sanitizer.write_file(&path, &knee_svg(&format!("{title}: capacity"), sweep, 900)?)?;
            self.written.push(path);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<PathBuf>, String> {
        Ok(std::mem::take(&mut self.written))
    }
}

/// The whole picture: one panel for latency, one per sampled series, `width` pixels wide.
/// At most `max_dots` requests are drawn, spread evenly over the run.
pub fn svg(title: &str, s: &RunSeries, max_dots: usize, width: u32) -> Result<String, String> {
    let t_max =
        s.requests.iter().map(|r| r.0 + r.1).chain(s.samples.values().flatten().map(|p| p.0)).fold(1e-3, f64::max);
    let step = s.requests.len().div_ceil(max_dots.max(1)).max(1);
    let shown = s.requests.iter().step_by(step);
    let passed: Vec<(f64, f64)> = shown.clone().filter(|r| r.2).map(|r| (r.0, r.1 * 1e3)).collect();
    let failed: Vec<(f64, f64)> = shown.filter(|r| !r.2).map(|r| (r.0, r.1 * 1e3)).collect();
    let medians: Vec<(f64, f64)> = s
        .windows
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            w.stat(Statistic::Median, SeriesName::Latency).map(|v| ((i as f64 + 0.5) * s.window.as_secs_f64(), v * 1e3))
        })
        .collect();
    let sampled = if step > 1 { format!(", one in {step} drawn") } else { String::new() };
    let mut layers = vec![Layer {
        label: format!("request ({} in all{sampled})", s.requests.len()),
        points: &passed,
        mark: Mark::Dots,
        color: BLUE,
    }];
    if !failed.is_empty() {
        layers.push(Layer { label: "failed request".into(), points: &failed, mark: Mark::Dots, color: RED });
    }
    if !medians.is_empty() {
        let window = crate::vocab::units::format_duration(s.window);
        layers.push(Layer {
            label: format!("median of each {window}"),
            points: &medians,
            mark: Mark::Line,
            color: DARK,
        });
    }
    let mut panels = vec![Panel { title: "latency of each request".into(), y_label: "latency (ms)".into(), layers }];
    for (name, points) in &s.samples {
        let fit = crate::metrics::series::fit(points)
            .map(|f| format!(" — least-squares slope {}/h, R² {:.2}", chart::tick(f.slope * 3600.0), f.r2))
            .unwrap_or_default();
        panels.push(Panel {
            title: format!("{name}{fit}"),
            y_label: name.clone(),
            layers: vec![Layer { label: name.clone(), points, mark: Mark::Line, color: GREEN }],
        });
    }
    chart::time_panels(title, t_max, &panels, Size { width, height: 280 })
}

/// A capacity search against its load: median and 99th percentile of latency and of TTFT, and
/// the throughput, one point per step, with the knee marked and a broken step's points in red.
pub fn knee_svg(title: &str, sweep: &SweepResult, width: u32) -> Result<String, String> {
    let at = |f: &dyn Fn(&crate::metrics::aggregate::Aggregate) -> Option<f64>, held: bool| -> Vec<(f64, f64)> {
        sweep.steps.iter().filter(|s| s.held == held).filter_map(|s| f(&s.aggregate).map(|v| (s.load, v))).collect()
    };
    let ms = |series: SeriesName, statistic: Statistic| {
        move |a: &crate::metrics::aggregate::Aggregate| a.stat(statistic, series).map(|v| v * 1e3)
    };
    let per_s = |a: &crate::metrics::aggregate::Aggregate| a.scalar(crate::metrics::catalog::ScalarName::ReqPerS);
    let series =
        [("latency", SeriesName::Latency, "latency (ms)"), ("time to first token", SeriesName::Ttft, "TTFT (ms)")];
    let mut data: Vec<(String, String, Vec<(String, Vec<(f64, f64)>, chart::RGBColor, Mark)>)> = vec![];
    for (name, s, unit) in series {
        let p50 = at(&ms(s, Statistic::Median), true);
        let p99 = at(&ms(s, Statistic::Percentile(99.0)), true);
        let broke: Vec<(f64, f64)> = at(&ms(s, Statistic::Median), false)
            .into_iter()
            .chain(at(&ms(s, Statistic::Percentile(99.0)), false))
            .collect();
        if p50.is_empty() && broke.is_empty() {
            continue;
        }
        data.push((
            format!("{name} at each step"),
            unit.into(),
            vec![
                ("p50".into(), p50, BLUE, Mark::Line),
                ("p99".into(), p99, DARK, Mark::Line),
                ("the step that broke (p50, p99)".into(), broke, RED, Mark::Dots),
            ],
        ));
    }
    data.push((
        "throughput at each step".into(),
        "requests/s".into(),
        vec![
            ("req/s".into(), at(&per_s, true), GREEN, Mark::Line),
            ("the step that broke".into(), at(&per_s, false), RED, Mark::Dots),
        ],
    ));
    let panels: Vec<Panel<'_>> = data
        .iter()
        .map(|(title, unit, layers)| Panel {
            title: title.clone(),
            y_label: unit.clone(),
            layers: layers
                .iter()
                .filter(|l| !l.1.is_empty())
                .map(|(label, points, color, mark)| Layer { label: label.clone(), points, mark: *mark, color: *color })
                .collect(),
        })
        .collect();
    let axis = sweep.axis;
    let top = sweep.planned.iter().chain(sweep.steps.iter().map(|s| &s.load)).fold(1e-3_f64, |a, b| a.max(*b));
    let marker = sweep.capacity().map(|k| chart::Marker {
        x: k,
        label: match sweep.limit_found {
            true => format!("knee: {} {}", axis.name(), axis.show(k)),
            false => format!("{} {}: every step held", axis.name(), axis.show(k)),
        },
    });
    let unit = match axis {
        crate::metrics::catalog::SweepAxis::Concurrency => "concurrency (requests in flight)",
        crate::metrics::catalog::SweepAxis::Rate => "rate (requests started per second)",
    };
    chart::stacked(title, (unit, 0.0..top * 1.05), &panels, Size { width, height: 260 }, marker.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Redactor;
    use std::sync::Arc;

    #[test]
    fn file_names_are_stable_masked_and_plain() {
        let s = Sanitizer::new(Arc::new(Redactor::new(["sk-secret".to_string()])));
        assert_eq!(
            file_name(&s, "vllm-medium stability", "12 long-run stability"),
            "vllm-medium_stability--12_long-run_stability.svg"
        );
        let masked = file_name(&s, "suite", "uses sk-secret/../x");
        assert!(!masked.contains("sk-secret") && !masked.contains('/'), "{masked}");
    }

    #[test]
    fn a_long_run_draws_latency_failures_medians_and_each_sample_with_axes() {
        let requests: Vec<(f64, f64, bool)> = (0..300).map(|i| (i as f64 * 0.1, 0.05, i % 50 != 0)).collect();
        let mut samples = std::collections::BTreeMap::new();
        samples.insert("rss_mb".to_string(), (0..30).map(|i| (i as f64, 100.0 + i as f64)).collect());
        let series = RunSeries { samples, windows: vec![], window: std::time::Duration::from_secs(5), requests };
        let svg = svg("soak", &series, 100, 900).unwrap_or_default();
        assert!(svg.starts_with("<svg") && svg.contains("rss_mb"), "{svg}");
        assert!(svg.contains("latency (ms)") && svg.contains("time since the start (s)"));
        assert!(svg.contains("failed request") && svg.contains("one in 3 drawn"), "{svg}");
        assert!(svg.contains("slope 3600/h"), "{svg}");
        assert!(svg.matches("<circle").count() <= 100 + 1, "dots are capped");
    }
}
