//! The one duration syntax and the one number syntax shared by specs, thresholds and the CLI.
//!
//! Durations are a number followed by a unit: `250ms`, `1.5s`, `2m`, `1h` (also `us`).
//! A bare number is refused, because `timeout: 5` is ambiguous between seconds and milliseconds.

/// Longest duration accepted anywhere (timeouts, soaks, intervals): 30 days. Longer values are
/// typing mistakes, and adding them to the clock could overflow it.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
use std::time::Duration;

/// Parses `250ms`, `5s`, `1.5s`, `2m`, `1h`, `10us`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{t}` has no unit: write it as 250ms, 5s, 2m or 1h"))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("`{t}` is not a duration: write it as 250ms, 5s, 2m or 1h"))?;
    let scale = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other
            if other.starts_with(['e', 'E'])
                && other[1..].starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') =>
        {
            return Err(format!("`{t}` is not a duration: write it without an exponent, as 250ms, 5s, 2m or 1h"));
        }
        other => {
            return Err(format!("unknown duration unit `{other}` in `{t}`: use ms, s, m or h"));
        }
    };
    let too_long =
        || format!("`{t}` is too long a duration: the longest accepted is {}", format_duration(MAX_DURATION));
    let duration = Duration::try_from_secs_f64(value * scale).map_err(|_| too_long())?;
    if duration > MAX_DURATION {
        return Err(too_long());
    }
    Ok(duration)
}

/// A duration that must be longer than zero: a timeout, an interval, a run's length.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        Ok(d) if d.is_zero() => Err("this duration must be longer than zero".into()),
        other => other,
    }
}

/// A rate, `50/h`, `5/s`, `120/m` (or `/min`), `2/d`, in events per second. Without `/`, `None`:
/// whether a plain number is a rate depends on where it is written.
pub fn parse_rate(text: &str) -> Option<Result<f64, String>> {
    let t = text.trim();
    let (n, per) = t.split_once('/')?;
    let seconds = match per.trim() {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Some(Err(format!("`{t}`: a rate is written per s, m, h or d, e.g. `50/h`"))),
    };
    Some(match n.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v / seconds),
        _ => Err(format!("`{t}` is not a rate such as `50/h`")),
    })
}

/// Renders a duration the way a person reads it: `850ms`, `1.25s`, `2m05s`.
/// A size in bytes: `4096`, `64KiB`, `1MiB`, `2GiB` (also `KB`, `MB`, `GB` as powers of 1000).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 =
        number.parse().map_err(|_| format!("`{text}` is not a size: write it as 4096, 64KiB, 1MiB or 2GiB"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(format!("`{other}` is not a size unit: use B, KiB, MiB or GiB")),
    };
    n.checked_mul(scale)
        .and_then(|b| usize::try_from(b).ok())
        .filter(|b| *b > 0)
        .ok_or_else(|| format!("`{text}` is not a usable size: it must be above zero and fit in memory"))
}

/// `1 MiB`, `64 KiB` or `300 bytes`, for limits in messages.
pub fn format_size(bytes: usize) -> String {
    const KIB: usize = 1024;
    match bytes {
        0 => "0 bytes".into(),
        b if b % (KIB * KIB) == 0 => format!("{} MiB", b / (KIB * KIB)),
        b if b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.0}µs", s * 1e6)
    } else if s < 1.0 {
        let ms = s * 1e3;
        if ms < 10.0 { format!("{ms:.2}ms") } else { format!("{ms:.0}ms") }
    } else if s < 59.995 {
        format!("{s:.2}s")
    } else {
        // Whole seconds first, then split: rounding each part alone printed 119.6 s as `1m60s`.
        let total = s.round() as u64;
        let (h, m, sec) = (total / 3600, total / 60 % 60, total % 60);
        if h > 0 { format!("{h}h{m:02}m{sec:02}s") } else { format!("{m}m{sec:02}s") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_not_a_positive_duration() {
        assert_eq!(parse_positive_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_positive_duration("0s").is_err());
        assert!(parse_positive_duration("0").is_err());
    }

    #[test]
    fn reads_rates_per_unit_of_time() {
        assert_eq!(parse_rate("120/m"), Some(Ok(2.0)));
        assert_eq!(parse_rate(" 3600 / h "), Some(Ok(1.0)));
        assert_eq!(parse_rate("5"), None);
        assert!(parse_rate("5/fortnight").is_some_and(|r| r.is_err()));
        assert!(parse_rate("inf/s").is_some_and(|r| r.is_err()));
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1TB").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }

    #[test]
    fn formats_without_sixty_seconds() {
        let f = |s: f64| format_duration(Duration::from_secs_f64(s));
        assert_eq!(f(119.6), "2m00s");
        assert_eq!(f(59.999), "1m00s");
        assert_eq!(f(59.5), "59.50s");
        assert_eq!(f(3725.0), "1h02m05s");
        assert_eq!(f(0.0123), "12ms");
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("10us").unwrap(), Duration::from_micros(10));
        assert_eq!(parse_duration(" 5s ").unwrap(), Duration::from_secs(5));
    }

    #[test]
    fn refuses_bare_numbers_and_unknown_units() {
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("unknown duration unit"));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999999h").unwrap_err().contains("too long"));
    }

    #[test]
    fn refuses_extreme_durations() {
        for text in ["10000000000000000000s", "721h", "1e400s", "1e3s", "-5s", "NaNs", "infs", "inf", ".s", "1.2.3s"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
        assert!(parse_duration("10000000000000000000s").unwrap_err().contains("longest accepted is"));
        assert!(parse_duration("1e400s").unwrap_err().contains("without an exponent"));
        assert_eq!(parse_duration("720h").unwrap(), MAX_DURATION);
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_micros(2500)), "2.50ms");
        assert_eq!(format_duration(Duration::from_millis(1250)), "1.25s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    }
}
