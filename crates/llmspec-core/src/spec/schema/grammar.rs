//! The string grammars of a spec — durations, rates, comparisons, threshold bounds — as the
//! regular expressions of the editor schema's `pattern`s.
//!
//! Names come from the metric catalog, so a new metric or statistic reaches the schema without
//! being written here. The patterns must mean the same in ECMA-262 (editors) and in Rust's
//! `regex` (the tests below hold them against the parsers): no look-around, and ASCII classes
//! spelled out, since `\d` is ASCII in one and Unicode in the other.

use crate::metrics::catalog::{ScalarName, SeriesName, Statistic};
use crate::spec::limits;
use crate::vocab::compare::Unit;

/// A finite number as Rust's `f64` parser reads it (what `< 50` and `== 100%` hold).
const NUMBER: &str = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?";
const DURATION_UNIT: &str = "(?:us|µs|ms|s|min|m|h)";
const RATE_UNIT: &str = "(?:s|min|m|h|d)";
/// Each unit of a rate, and its length in seconds.
const RATE_UNITS: [(&str, u64); 4] = [("s", 1), ("(?:min|m)", 60), ("h", 3600), ("d", 86400)];
const OP: &str = "(?:<=|>=|==|!=|<|>)";
/// `p50`, `p99.9`: any percentile from 0 to 100.
const PERCENTILE: &str = r"p0*(?:100(?:\.0*)?|[0-9]{1,2}(?:\.[0-9]*)?|\.[0-9]+)";
/// A sampled series or a step, as a threshold names it: the spec chooses these names.
const NAME: &str = r"[A-Za-z0-9_.]+(?: +[A-Za-z0-9_.]+)*";
/// A `${...}` reference is replaced before the value is read, so nothing can be said about it.
const REFERENCE: &str = r"\$\{";
/// A quantity given by one variable, `${capacity_min}`, which the spec replaces when it loads.
const ONE_REFERENCE: &str = r"\$\{[^}]*\}";

const UNITS: [Unit; 4] = [Unit::Seconds, Unit::Fraction, Unit::PerSecond, Unit::Plain];

fn either<S: AsRef<str>>(alternatives: impl IntoIterator<Item = S>) -> String {
    let all: Vec<String> = alternatives.into_iter().map(|a| a.as_ref().to_string()).collect();
    format!("(?:{})", all.join("|"))
}

/// The whole text, blanks around allowed (every parser trims).
fn whole(body: &str) -> String {
    format!(r"^\s*{body}\s*$")
}

/// The whole text, or any text holding a reference.
fn whole_or_reference(body: &str) -> String {
    format!("{}|{REFERENCE}", whole(body))
}

fn quantity(unit: Unit) -> String {
    match unit {
        Unit::Seconds => duration_quantity(),
        Unit::Fraction => format!(r"{NUMBER}\s*%"),
        Unit::PerSecond => format!(r"{NUMBER}\s*/\s*{RATE_UNIT}"),
        Unit::Plain => NUMBER.to_string(),
    }
}

fn any_quantity() -> String {
    either(UNITS.map(quantity))
}

/// Digits for a number from 0 to `max` included: any fraction below it, none above it, leading
/// zeros allowed. A pattern reads digits, not amounts: this is how it holds a limit.
fn at_most(max: u64) -> String {
    let digits = max.to_string();
    let mut below = vec![];
    if digits.len() > 1 {
        below.push(format!("[0-9]{{1,{}}}", digits.len() - 1));
    }
    for (i, d) in digits.bytes().enumerate() {
        let rest = digits.len() - i - 1;
        match (d - b'0', rest) {
            (0, _) => {}
            (d, 0) => below.push(format!("{}[0-{}]", &digits[..i], d - 1)),
            (d, 1) => below.push(format!("{}[0-{}][0-9]", &digits[..i], d - 1)),
            (d, rest) => below.push(format!("{}[0-{}][0-9]{{{rest}}}", &digits[..i], d - 1)),
        }
    }
    format!(r"0*(?:{}(?:\.[0-9]*)?|{digits}(?:\.0*)?|\.[0-9]+)", either(below))
}

/// A duration in its unit, up to the longest accepted (30 days: `720h`, `43200m`, `2592000s`...).
fn duration_quantity() -> String {
    let longest = crate::vocab::units::MAX_DURATION.as_secs();
    let units = [
        ("h", longest / 3600),
        ("(?:min|m)", longest / 60),
        ("s", longest),
        ("ms", longest * 1_000),
        ("(?:us|µs)", longest * 1_000_000),
    ];
    either(units.map(|(unit, max)| format!(r"{}\s*{unit}", at_most(max))))
}

/// `250ms`, `5s`, `1.5s`, `2m`, `1h`, `10us`.
pub fn duration() -> String {
    whole_or_reference(&quantity(Unit::Seconds))
}

/// A duration of zero, which a timeout, a period or a run's length cannot be.
pub fn zero_duration() -> String {
    whole(&format!(r"(?:0+(?:\.0*)?|\.0+)\s*{DURATION_UNIT}"))
}

/// `5/s`, `120/m`, `3600/h`, `2/d`, or a number of requests per second, up to the fastest the
/// client keeps. A number with an exponent is left unbounded.
pub fn rate() -> String {
    let fastest = limits::MAX_RATE_PER_SECOND as u64;
    let per_unit = RATE_UNITS.map(|(unit, seconds)| format!(r"{}\s*/\s*{unit}", at_most(fastest * seconds)));
    let exponent = format!(r"[0-9]*\.?[0-9]+[eE][+-]?[0-9]+(?:\s*/\s*{RATE_UNIT})?");
    whole_or_reference(&format!(r"\+?{}", either(per_unit.into_iter().chain([at_most(fastest), exponent]))))
}

/// A rate of zero, which starts nothing.
pub fn zero_rate() -> String {
    whole(&format!(r"\+?(?:0+(?:\.0*)?|\.0+)(?:[eE][+-]?[0-9]+)?(?:\s*/\s*{RATE_UNIT})?"))
}

/// The slowest rate accepted: one request in the longest duration.
pub fn slowest_rate() -> f64 {
    1.0 / crate::vocab::units::MAX_DURATION.as_secs_f64()
}

pub const FASTEST_RATE: f64 = limits::MAX_RATE_PER_SECOND;

/// `< 5s`, `>= 2`, `== 100%`: a comparison whose quantity is of `unit`, or of any kind.
pub fn comparison(unit: Option<Unit>) -> String {
    let quantity = unit.map_or_else(any_quantity, quantity);
    whole_or_reference(&format!(r"{OP}\s*{quantity}"))
}

/// `function(argument)`, blanks allowed inside.
fn call(function: &str, argument: &str) -> String {
    format!(r"{function}\s*\(\s*{argument}\s*\)")
}

fn bound(value: &str, quantity: &str) -> String {
    format!(r"{value}\s*{OP}\s*{quantity}")
}

/// The statistics of a request series that are names; `pNN` takes any percentile besides.
pub fn named_series_statistics() -> impl Iterator<Item = &'static str> {
    Statistic::FOR_SERIES.iter().copied().filter(|s| !matches!(Statistic::parse(s), Some(Statistic::Percentile(_))))
}

fn series_functions() -> String {
    either(named_series_statistics().chain([PERCENTILE]))
}

/// A bound over the built-in names, each with the quantity its unit takes (docs/thresholds.md):
/// `p99(latency) < 5s`, `mean(tokens_per_second) > 50`, `error_rate < 0.1%`, `drift(ttft) < 10%`.
pub fn threshold_bound() -> String {
    let mut forms = vec![];
    for unit in UNITS {
        let series: Vec<&str> = SeriesName::ALL.iter().filter(|s| s.unit() == unit).map(|s| s.name()).collect();
        if !series.is_empty() {
            forms.push(bound(&call(&series_functions(), &either(&series)), &quantity(unit)));
        }
        let scalars: Vec<&str> = ScalarName::ALL.iter().filter(|s| s.unit() == unit).map(|s| s.name()).collect();
        if !scalars.is_empty() {
            // A per-second rate may also be written as a plain number of requests per second.
            let quantity =
                if unit == Unit::PerSecond { either([quantity(unit), quantity(Unit::Plain)]) } else { quantity(unit) };
            forms.push(bound(&either(&scalars), &quantity));
        }
    }
    forms.push(bound(&call("drift", &either(SeriesName::NAMES)), &quantity(Unit::Fraction)));
    whole(&either(forms))
}

/// A bound over the highest load of a sweep at which every threshold held: a number of
/// requests in flight (`capacity(concurrency) >= 20`), or a rate (`capacity(rate) >= 4/s`,
/// also as a plain number per second).
pub fn capacity_threshold(unit: Unit) -> String {
    let (axis, quantity) = match unit {
        Unit::PerSecond => ("rate", either([quantity(Unit::PerSecond), quantity(Unit::Plain), ONE_REFERENCE.into()])),
        _ => ("concurrency", either([quantity(Unit::Plain), ONE_REFERENCE.into()])),
    };
    whole(&bound(&call("capacity", axis), &quantity))
}

/// A bound over a series the test samples (`max(rss_mb) < 2000`, `slope(rss_mb) < 50/h`).
pub fn sampled_threshold() -> String {
    let statistics = call(&either(Statistic::FOR_SAMPLES), NAME);
    whole(&either([bound(&statistics, NUMBER), bound(&call("slope", NAME), &quantity(Unit::PerSecond))]))
}

/// A bound over a duration a step of the test recorded with `as` (`recovery < 30s`).
pub fn step_threshold() -> String {
    whole(&bound(NAME, &quantity(Unit::Seconds)))
}

/// A built-in scalar name opening a threshold: it is never a step's name.
pub fn scalar_first() -> String {
    format!(r"^\s*{}\s*[<>=!]", either(ScalarName::NAMES))
}

/// What llmspec reads as a bound rather than a condition: a simple name or call, operators, and
/// a quantity. Anything else with an operator is a condition in CEL.
pub fn looks_like_a_bound() -> String {
    format!(r"^\s*[A-Za-z0-9_(). ]*\s*[<>=!]+\s*{}\s*$", any_quantity())
}

/// A threshold holds at least one comparison operator, bound or condition.
pub const HAS_OPERATOR: &str = "[<>=!]";

/// A JSONPath query (RFC 9535) starts at the root, `$`.
pub const JSON_PATH: &str = r"^\$";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::compare::Comparison;
    use crate::vocab::units::{parse_duration, parse_positive_duration};
    use regex::Regex;

    fn matches(pattern: &str, text: &str) -> bool {
        Regex::new(pattern).unwrap().is_match(text)
    }

    const DURATIONS: &[&str] = &[
        "250ms",
        "5s",
        "1.5s",
        "2m",
        "1min",
        "1h",
        "10us",
        "3µs",
        " 5s ",
        "5 s",
        ".5s",
        "5.s",
        "0s",
        "0.0s",
        "0.01s",
        "5",
        "5 sec",
        "5S",
        "fast",
        "",
        "s",
        "1e3s",
        "-5s",
        "+5s",
        "1.2.3s",
        ".s",
        "5 m s",
        "5d",
        "infs",
        "NaNs",
        "720h",
        "721h",
        "720.0h",
        "720.5h",
        "719.99h",
        "00720h",
        "43200m",
        "43201min",
        "2592000s",
        "2592001s",
        "2592000000ms",
        "2592000001ms",
        "2592000000000us",
        "2592000000001us",
        "100000000h",
    ];

    /// A positive duration, as the schema says it: a duration, and not zero.
    fn positive(text: &str) -> bool {
        matches(&duration(), text) && !matches(&zero_duration(), text)
    }

    #[test]
    fn durations_agree_with_the_parser() {
        for text in DURATIONS {
            assert_eq!(matches(&duration(), text), parse_duration(text).is_ok(), "duration {text:?}");
            assert_eq!(positive(text), parse_positive_duration(text).is_ok(), "positive duration {text:?}");
        }
        assert!(matches(&duration(), "${timeout}") && positive("${t}s"));
    }

    #[test]
    fn limits_are_held_digit_by_digit() {
        let at_most_720 = Regex::new(&format!("^{}$", at_most(720))).unwrap();
        for (text, within) in [
            ("0", true),
            ("7", true),
            ("99", true),
            ("699", true),
            ("709.9", true),
            ("719", true),
            ("720", true),
            ("720.000", true),
            ("0720", true),
            (".5", true),
            ("720.01", false),
            ("721", false),
            ("730", false),
            ("800", false),
            ("1000", false),
        ] {
            assert_eq!(at_most_720.is_match(text), within, "{text}");
        }
    }

    #[test]
    fn rates_agree_with_the_check() {
        for text in [
            "5/s",
            "120/m",
            "120/min",
            "3600/h",
            "2/d",
            "5 / s",
            " 10 ",
            "10",
            "0.5",
            "+5/s",
            "1e2/s",
            "5/week",
            "0/s",
            "0",
            "-5/s",
            "fast",
            "",
            "5/",
            "/s",
            "inf/s",
            "NaN",
            "0.0/h",
            ".5/s",
            "100000/s",
            "100001/s",
            "6000000/m",
            "6000001/min",
            "360000000/h",
            "360000001/h",
            "8640000000/d",
            "8640000001/d",
            "100000",
            "100001",
            "0e3/s",
        ] {
            let mut problems = vec![];
            let spanned = crate::spec::de::Spanned { value: text.to_string(), loc: Default::default() };
            let accepted = crate::spec::check::rate(&spanned, &mut problems).is_some();
            let schema = matches(&rate(), text) && !matches(&zero_rate(), text);
            assert_eq!(schema, accepted, "rate {text:?}");
        }
    }

    #[test]
    fn comparisons_agree_with_the_parser() {
        let texts = [
            "< 5s",
            "<5s",
            "<= 250ms",
            ">= 2",
            "== 100%",
            "!= 0",
            "> 50/h",
            "< 0.1 %",
            "> -3",
            "== 1e3",
            "< .5",
            "5s",
            "=> 3",
            "= 3",
            "< fast",
            "< inf",
            "<< 5",
            "< = 5",
            "< 5 parsecs",
            "<",
            "",
            "≤ 5",
            "< 5/week",
            "< 720h",
            "< 721h",
        ];
        for text in texts {
            let parsed = Comparison::parse(text);
            assert_eq!(matches(&comparison(None), text), parsed.is_ok(), "comparison {text:?}");
            for unit in UNITS {
                let expected = parsed.as_ref().is_ok_and(|c| c.unit == unit);
                assert_eq!(matches(&comparison(Some(unit)), text), expected, "{unit:?} comparison {text:?}");
            }
        }
    }
}
