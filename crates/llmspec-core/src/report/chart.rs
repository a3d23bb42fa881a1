//! Charts as SVG text, drawn with plotters: stacked time panels sharing one time axis, and
//! histograms. Each has a title, ticks and labelled axes with units, and a legend when it has
//! more than one layer. Callers pass text already sanitized: plotters escapes it for XML.

use crate::vocab::compare::trim_float_str;
use plotters::coord::Shift;
use plotters::prelude::*;
pub use plotters::style::RGBColor;

pub const BLUE: RGBColor = RGBColor(0x44, 0x77, 0xaa);
pub const RED: RGBColor = RGBColor(0xcc, 0x33, 0x11);
pub const DARK: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub const GREEN: RGBColor = RGBColor(0x22, 0x88, 0x33);
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);
const FONT: &str = "sans-serif";
/// Font sizes as plotters takes them: it writes 1/1.24 of these into the SVG, so 16 is 13 px.
const TITLE: f64 = 20.0;
const CAPTION: f64 = 17.0;
const LABEL: f64 = 15.0;
const AXIS: f64 = 16.0;

/// How a layer's points are drawn.
#[derive(Clone, Copy)]
pub enum Mark {
    /// One small dot per point (one request).
    Dots,
    /// A line through the points (a sampled series, a window statistic).
    Line,
}

pub struct Layer<'a> {
    pub label: String,
    pub points: &'a [(f64, f64)],
    pub mark: Mark,
    pub color: RGBColor,
}

/// One panel of a time chart: its own title and value axis, the shared time axis below.
pub struct Panel<'a> {
    pub title: String,
    pub y_label: String,
    pub layers: Vec<Layer<'a>>,
}

/// The size of a chart in pixels (SVG user units).
#[derive(Clone, Copy)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

/// A vertical line across every panel at `x`, named in the legend: a sweep's knee.
pub struct Marker {
    pub x: f64,
    pub label: String,
}

/// Panels stacked top to bottom over the same time range, `0..t_max` seconds.
pub fn time_panels(title: &str, t_max: f64, panels: &[Panel<'_>], panel: Size) -> Result<String, String> {
    stacked(title, ("time since the start (s)", 0.0..t_max.max(1e-3)), panels, panel, None)
}

/// Panels stacked top to bottom over one shared x axis (`x` names it and gives its range), with
/// an optional marker line across them.
pub fn stacked(
    title: &str,
    x: (&str, std::ops::Range<f64>),
    panels: &[Panel<'_>],
    panel: Size,
    marker: Option<&Marker>,
) -> Result<String, String> {
    let count = panels.len().max(1) as u32;
    // An empty title leaves the room to the page that holds the chart and already names it.
    let header = if title.is_empty() { 0 } else { 36 };
    let size = (panel.width, header + count * panel.height);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let body = if title.is_empty() {
            root.clone()
        } else {
            root.titled(title, (FONT, TITLE).into_font().color(&DARK)).map_err(draw_error)?
        };
        for (area, p) in body.split_evenly((panels.len().max(1), 1)).iter().zip(panels) {
            draw_panel(area, (x.0, x.1.clone()), p, marker)?;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    (x_label, x_range): (&str, std::ops::Range<f64>),
    p: &Panel<'_>,
    marker: Option<&Marker>,
) -> Result<(), String> {
    let (lo, hi) = value_range(p.layers.iter().flat_map(|l| l.points.iter().map(|q| q.1)));
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (FONT, CAPTION).into_font().color(&DARK))
        .margin(8)
        .margin_right(24)
        .x_label_area_size(46)
        .y_label_area_size(78)
        .build_cartesian_2d(x_range, lo..hi)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(GRID)
        .x_labels(10)
        .y_labels(6)
        .x_desc(x_label)
        .y_desc(p.y_label.as_str())
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .label_style((FONT, LABEL))
        .axis_desc_style((FONT, AXIS))
        .draw()
        .map_err(draw_error)?;
    for layer in &p.layers {
        let color = layer.color;
        let legend = move |(x, y): (i32, i32)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled());
        match layer.mark {
            Mark::Dots => {
                // Few requests get larger dots, so that each can be seen.
                let radius = if layer.points.len() > 1000 { 2 } else { 3 };
                let dots = layer.points.iter().map(move |&(t, v)| Circle::new((t, v), radius, color.mix(0.7).filled()));
                chart.draw_series(dots).map_err(draw_error)?.label(&layer.label).legend(legend);
            }
            Mark::Line if layer.points.len() > 1 => {
                let line = LineSeries::new(layer.points.iter().copied(), color.stroke_width(2));
                chart.draw_series(line).map_err(draw_error)?.label(&layer.label).legend(legend);
            }
            // A line needs two points: one is shown as a dot.
            Mark::Line => {
                let dots = layer.points.iter().map(move |&(t, v)| Circle::new((t, v), 4, color.filled()));
                chart.draw_series(dots).map_err(draw_error)?.label(&layer.label).legend(legend);
            }
        }
    }
    if let Some(m) = marker {
        let legend = |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 14, y)], RED.stroke_width(2));
        let line = LineSeries::new([(m.x, lo), (m.x, hi)], RED.stroke_width(2));
        chart.draw_series(line).map_err(draw_error)?.label(&m.label).legend(legend);
    }
    if p.layers.len() + usize::from(marker.is_some()) > 1 {
        chart
            .configure_series_labels()
            // A sweep's figures rise to the right, where its broken step is: the legend goes left.
            .position(if marker.is_some() { SeriesLabelPosition::UpperLeft } else { SeriesLabelPosition::UpperRight })
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .label_font((FONT, LABEL))
            .draw()
            .map_err(draw_error)?;
    }
    Ok(())
}

/// One bar of a histogram: values in `lo..hi`, how many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bin {
    pub lo: f64,
    pub hi: f64,
    pub count: u64,
}

/// Regroups recorded (value, count) pairs into `n` bars of equal width. When a few values lie
/// far out, they are left out so that the shape of the bulk stays visible: values beyond twice the 99.5th percentile's distance from the minimum are left out,
/// and counted in the second element.
pub fn bins(recorded: &[(f64, u64)], n: usize) -> (Vec<Bin>, u64) {
    let total: u64 = recorded.iter().map(|r| r.1).sum();
    let (Some(min), Some(max)) =
        (recorded.iter().map(|r| r.0).reduce(f64::min), recorded.iter().map(|r| r.0).reduce(f64::max))
    else {
        return (vec![], 0);
    };
    let mut seen = 0;
    let mut p995 = max;
    let mut sorted: Vec<(f64, u64)> = recorded.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (v, c) in &sorted {
        seen += c;
        if seen as f64 >= total as f64 * 0.995 {
            p995 = *v;
            break;
        }
    }
    let limit = min + 2.0 * (p995 - min);
    let top = if max > limit && p995 > min {
        sorted.iter().map(|r| r.0).filter(|v| *v <= limit).fold(p995, f64::max)
    } else {
        max
    };
    let n = n.max(1);
    let width = if top > min { (top - min) / n as f64 } else { 1.0 };
    let mut out: Vec<Bin> =
        (0..n).map(|i| Bin { lo: min + i as f64 * width, hi: min + (i + 1) as f64 * width, count: 0 }).collect();
    let mut left_out = 0;
    for &(v, c) in &sorted {
        if v > top {
            left_out += c;
            continue;
        }
        let i = (((v - min) / width) as usize).min(n - 1);
        out[i].count += c;
    }
    (out, left_out)
}

/// A histogram: one bar per bin, counts on the value axis.
pub fn histogram(title: &str, x_label: &str, bins: &[Bin], size: Size) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size.width, size.height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let lo = bins.first().map_or(0.0, |b| b.lo);
        let hi = bins.last().map_or(1.0, |b| b.hi).max(lo + 1e-9);
        let most = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1);
        let top = most + most.div_ceil(10);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, CAPTION).into_font().color(&DARK))
            .margin(8)
            .margin_right(20)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d(lo..hi, 0..top)
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .x_labels(8)
            .y_labels(6)
            .x_desc(x_label)
            .y_desc("requests")
            .x_label_formatter(&|v| tick(*v))
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, AXIS))
            .draw()
            .map_err(draw_error)?;
        let bars = bins.iter().filter(|b| b.count > 0).map(|b| {
            let gap = (b.hi - b.lo) * 0.08;
            Rectangle::new([(b.lo + gap, 0), (b.hi - gap, b.count)], BLUE.filled())
        });
        chart.draw_series(bars).map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

/// A value range with a little room above and below; a flat or empty series still gets one.
fn value_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        (0.0, 1.0)
    } else if (hi - lo).abs() < 1e-12 {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo.min(0.0).max(lo - (hi - lo) * 0.1), hi + (hi - lo) * 0.08)
    }
}

/// A tick label: as few digits as the magnitude needs.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    let text = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 || a == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    };
    trim_float_str(&text)
}

fn draw_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> String {
    format!("cannot draw a chart: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_show_the_digits_their_magnitude_needs() {
        assert_eq!(tick(1500.0), "1500");
        assert_eq!(tick(12.5), "12.5");
        assert_eq!(tick(2.0), "2");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(0.0012), "0.0012");
        assert_eq!(tick(0.0), "0");
    }

    #[test]
    fn bins_cover_the_values_and_leave_far_outliers_out() {
        let recorded: Vec<(f64, u64)> = (1..=1000).map(|v| (v as f64, 1)).chain([(1e6, 2)]).collect();
        let (bins, left_out) = super::bins(&recorded, 10);
        assert_eq!(bins.len(), 10);
        assert_eq!(left_out, 2);
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 1000);
        assert!(bins.last().is_some_and(|b| b.hi < 1001.0), "{bins:?}");
        let (one, _) = super::bins(&[(5.0, 3)], 4);
        assert_eq!(one.iter().map(|b| b.count).sum::<u64>(), 3);
        assert!(super::bins(&[], 4).0.is_empty());
    }

    #[test]
    fn a_time_chart_has_ticks_axis_labels_a_legend_and_escaped_text() {
        let dots: Vec<(f64, f64)> = (0..50).map(|i| (i as f64 * 0.1, 10.0 + i as f64)).collect();
        let line: Vec<(f64, f64)> = vec![(1.0, 20.0), (3.0, 40.0)];
        let panel = Panel {
            title: "latency <b>&".into(),
            y_label: "latency (ms)".into(),
            layers: vec![
                Layer { label: "request".into(), points: &dots, mark: Mark::Dots, color: BLUE },
                Layer { label: "window median".into(), points: &line, mark: Mark::Line, color: DARK },
            ],
        };
        let svg = time_panels("run", 5.0, &[panel], Size { width: 800, height: 260 }).unwrap_or_default();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("latency &lt;b&gt;&amp;") && !svg.contains("<b>"), "{svg}");
        for text in ["time since the start (s)", "latency (ms)", "window median", "request"] {
            assert!(svg.contains(text), "{text}");
        }
        // Several numbered ticks on each axis, not just the ends.
        let ticks = svg.matches("<text").count();
        assert!(ticks >= 10, "{ticks} labels");
        assert_eq!(svg.matches("<circle").count(), 50, "one dot per request");
    }
}
