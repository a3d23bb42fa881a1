//! Time series of samples (memory, queue length, ...) and what is computed from them.

use super::catalog::Statistic;

/// A least-squares line through (seconds, value) points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Value units per second.
    pub slope: f64,
    pub intercept: f64,
    /// Share of the variance the line explains (1 = a perfect line; near 0 = noise).
    pub r2: f64,
    pub points: usize,
}

/// Needs two distinct times; `None` otherwise.
pub fn fit(points: &[(f64, f64)]) -> Option<Fit> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_v = points.iter().map(|p| p.1).sum::<f64>() / n;
    let stt: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    if stt <= 0.0 {
        return None;
    }
    let stv: f64 = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_v)).sum();
    let slope = stv / stt;
    let intercept = mean_v - slope * mean_t;
    let svv: f64 = points.iter().map(|p| (p.1 - mean_v).powi(2)).sum();
    let residual: f64 = points.iter().map(|p| (p.1 - (intercept + slope * p.0)).powi(2)).sum();
    let r2 = if svv > 0.0 { 1.0 - residual / svv } else { 1.0 };
    Some(Fit { slope, intercept, r2, points: points.len() })
}

/// min, max, mean, first, last of a series; `None` for the statistics of distributions.
pub fn stat(points: &[(f64, f64)], statistic: Statistic) -> Option<f64> {
    let values = points.iter().map(|p| p.1);
    match statistic {
        Statistic::Min => values.reduce(f64::min),
        Statistic::Max => values.reduce(f64::max),
        Statistic::Mean => (!points.is_empty()).then(|| values.sum::<f64>() / points.len() as f64),
        Statistic::First => points.first().map(|p| p.1),
        Statistic::Last => points.last().map(|p| p.1),
        Statistic::Median | Statistic::Percentile(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_a_line_and_tells_how_well() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 100.0 + 2.0 * i as f64)).collect();
        let f = fit(&pts).unwrap();
        assert!((f.slope - 2.0).abs() < 1e-9 && (f.intercept - 100.0).abs() < 1e-9 && (f.r2 - 1.0).abs() < 1e-9);
        let flat = [(0.0, 5.0), (1.0, 5.0), (2.0, 5.0)];
        assert_eq!(fit(&flat).unwrap().slope, 0.0);
        let noise = [(0.0, 1.0), (1.0, 3.0), (2.0, 1.0), (3.0, 3.0)];
        assert!(fit(&noise).unwrap().r2 < 0.5);
        assert!(fit(&[(1.0, 1.0)]).is_none());
        assert!(fit(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
    }

    #[test]
    fn simple_statistics() {
        let pts = [(0.0, 3.0), (1.0, 1.0), (2.0, 2.0)];
        assert_eq!(stat(&pts, Statistic::Min), Some(1.0));
        assert_eq!(stat(&pts, Statistic::Max), Some(3.0));
        assert_eq!(stat(&pts, Statistic::Mean), Some(2.0));
        assert_eq!(stat(&pts, Statistic::Last), Some(2.0));
        assert_eq!(stat(&[], Statistic::Max), None);
    }
}
