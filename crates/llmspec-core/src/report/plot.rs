//! An SVG picture of a long run: request latency over time above, each sampled series (memory,
//! queue length, ...) below. For a one-hour soak, people would rather look than read.

use super::Reporter;
use super::sanitize::Sanitizer;
use crate::metrics::catalog::{SeriesName, Statistic};
use crate::run::event::{Event, RunSeries};
use std::fmt::Write;
use std::path::PathBuf;

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

impl Reporter for Plots {
    fn on(&mut self, event: &Event<'_>) -> Result<(), String> {
        let Event::TestFinished { suite, outcome } = event else { return Ok(()) };
        let Some(series) = &outcome.series else { return Ok(()) };
        // Names are masked before they become a file name: a secret in a test name must not
        // reach the file system either.
        let title = self.sanitizer.name(&outcome.name);
        let name: String = self
            .sanitizer
            .name(&format!("{}--{}", suite.name, outcome.name))
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        let path = self.dir.join(format!("{name}.svg"));
        self.sanitizer.write_file(&path, &svg(&title, series))?;
        self.written.push(path);
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<PathBuf>, String> {
        Ok(std::mem::take(&mut self.written))
    }
}

const W: f64 = 900.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;

/// The whole picture: one panel for latency, one per sampled series.
pub fn svg(title: &str, s: &RunSeries) -> String {
    let t_max =
        s.requests.iter().map(|r| r.0 + r.1).chain(s.samples.values().flatten().map(|p| p.0)).fold(1e-3, f64::max);
    let panels = 1 + s.samples.len();
    let height = 40.0 + panels as f64 * (PANEL + 40.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{LEFT}\" y=\"24\" font-size=\"16\">{}</text>\n",
        escape(title)
    );
    let latency: Vec<(f64, f64)> = s.requests.iter().map(|r| (r.0, r.1 * 1e3)).collect();
    let failed: Vec<(f64, f64)> = s.requests.iter().filter(|r| !r.2).map(|r| (r.0, r.1 * 1e3)).collect();
    let medians: Vec<(f64, f64)> = s
        .windows
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            w.stat(Statistic::Median, SeriesName::Latency).map(|v| ((i as f64 + 0.5) * s.window.as_secs_f64(), v * 1e3))
        })
        .collect();
    let mut top = 40.0;
    panel(
        &mut out,
        top,
        t_max,
        "latency (ms): requests, failed in red, window median as a line",
        &[(&latency, Style::Dots("#4477aa")), (&failed, Style::Dots("#cc3311")), (&medians, Style::Line("#222222"))],
    );
    for (name, points) in &s.samples {
        top += PANEL + 40.0;
        let fit = crate::metrics::series::fit(points)
            .map(|f| format!(" — least-squares slope over all samples {:.3}/h, R² {:.2}", f.slope * 3600.0, f.r2))
            .unwrap_or_default();
        panel(&mut out, top, t_max, &format!("{name}{fit}"), &[(points, Style::Line("#228833"))]);
    }
    out.push_str("</svg>\n");
    out
}

enum Style {
    Dots(&'static str),
    Line(&'static str),
}

fn panel(out: &mut String, top: f64, t_max: f64, label: &str, layers: &[(&Vec<(f64, f64)>, Style)]) {
    let values = layers.iter().flat_map(|(p, _)| p.iter().map(|q| q.1));
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo > hi {
        (0.0, 1.0)
    } else if (hi - lo).abs() < 1e-12 {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo.min(0.0).max(lo - (hi - lo) * 0.1), hi + (hi - lo) * 0.05)
    };
    let x = |t: f64| LEFT + t / t_max * (W - LEFT - RIGHT);
    let y = |v: f64| top + 20.0 + (1.0 - (v - lo) / (hi - lo)) * (PANEL - 20.0);
    let _ = writeln!(out, "<text x=\"{LEFT}\" y=\"{}\">{}</text>", top + 12.0, escape(label));
    let _ = writeln!(
        out,
        "<rect x=\"{LEFT}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
        top + 20.0,
        W - LEFT - RIGHT,
        PANEL - 20.0
    );
    for (v, label_y) in [(hi, y(hi) + 4.0), (lo, y(lo))] {
        let _ = writeln!(out, "<text x=\"{}\" y=\"{label_y}\" text-anchor=\"end\">{}</text>", LEFT - 6.0, short(v));
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}s</text>",
        W - RIGHT,
        top + PANEL + 14.0,
        short(t_max)
    );
    for (points, style) in layers {
        match style {
            Style::Dots(color) => {
                for (t, v) in points.iter().take(20_000) {
                    let _ =
                        writeln!(out, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.6\" fill=\"{color}\"/>", x(*t), y(*v));
                }
            }
            Style::Line(color) if points.len() > 1 => {
                let path: Vec<String> = points.iter().map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v))).collect();
                let _ = writeln!(
                    out,
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
                    path.join(" ")
                );
            }
            Style::Line(color) => {
                for (t, v) in points.iter() {
                    let _ = writeln!(out, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>", x(*t), y(*v));
                }
            }
        }
    }
}

fn short(v: f64) -> String {
    if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
