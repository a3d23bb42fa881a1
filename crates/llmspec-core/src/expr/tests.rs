use super::*;
use serde_json::{Value, json};

fn names() -> Names {
    Names {
        vars: vec!["model".into(), "window".into()],
        captures: vec!["first_answer".into()],
        tests: vec!["baseline".into(), "03 chat".into()],
        samples: vec!["rss_mb".into()],
        steps: vec!["recovery".into()],
    }
}

fn origin() -> Origin {
    Origin { loc: Loc { line: 7, col: 11 }, plain: true }
}

fn compile(kind: Kind, text: &str) -> Result<Expression, Vec<(Loc, String)>> {
    Expression::compile(text, origin(), kind, &names())
}

fn no_measure(_: &MeasuredCall) -> Result<f64, String> {
    Err("nothing measured".into())
}

fn response() -> Value {
    json!({
        "status": 200,
        "headers": {"content-type": "application/json"},
        "body": {"usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                 "choices": [{"message": {"content": "Paris is the capital."}}]},
        "content": "Paris is the capital.",
        "tool_calls": [],
    })
}

fn eval(kind: Kind, text: &str) -> Result<Value, String> {
    let e = compile(kind, text).map_err(|p| format!("{p:?}"))?;
    let (resp, metrics, vars) =
        (response(), json!({"latency": 0.8, "ttft": 0.1}), json!({"model": "m", "window": 4096}));
    let tests = json!({"baseline": {"metrics": {"latency": 0.5}}});
    let first = json!("Paris is the capital.");
    let window = json!(4096);
    let bindings = [
        ("response", &resp),
        ("metrics", &metrics),
        ("vars", &vars),
        ("tests", &tests),
        ("first_answer", &first),
        ("window", &window),
    ];
    e.evaluate(&bindings, &no_measure)
}

#[test]
fn everyday_checks_evaluate() {
    for (text, want) in [
        (
            "response.body.usage.total_tokens == response.body.usage.prompt_tokens + response.body.usage.completion_tokens",
            json!(true),
        ),
        ("response.content == first_answer", json!(true)),
        ("response.content == ${first_answer}", json!(true)),
        ("metrics.latency < 2 * tests.baseline.metrics.latency", json!(true)),
        ("metrics.latency < 1.5 * tests.baseline.metrics.latency", json!(false)),
        ("response.content.contains('Paris') && response.status == 200", json!(true)),
        ("[3, 1, 2].sorted() == [1, 2, 3] && sorted([2, 1]) == [1, 2]", json!(true)),
        ("[1, 2, 2].monotonic() && !monotonic([2, 1]) && monotonic([3, 1], 'decreasing')", json!(true)),
        ("unique([1, 1, 2]) == [1, 2]", json!(true)),
        ("[1, 2, 3].all(x, x > 0) && [1, 2, 3].exists(x, x == 2)", json!(true)),
        ("[1, 2, 3].map(x, x * 2) == [2, 4, 6] && [1, 2, 3].filter(x, x > 1).size() == 2", json!(true)),
        ("p50([1, 5, 3]) == 3.0 && max([1, 5, 3]) == 5.0 && mean([1, 2, 3]) == 2.0", json!(true)),
        ("seconds('250ms') == 0.25", json!(true)),
        ("json('{\"city\": \"Paris\"}').city == 'Paris'", json!(true)),
        ("window > 70000", json!(false)),
        ("response.headers['content-type'].startsWith('application/')", json!(true)),
        // Every function docs/expressions.md lists, beyond the ones above.
        ("has(response.body.usage) && !has(response.body.nope)", json!(true)),
        ("response.body.?nope.orValue(0) == 0", json!(true)),
        ("[1, 2, 3].exists_one(x, x == 2) && [1, 2, 3].map(x, x > 1, x * 10) == [20, 30]", json!(true)),
        (
            "'%s!'.format(['a']) == 'a!' && ['a', 'b'].join('-') == 'a-b' && ' A '.trim().lowerAscii() == 'a'",
            json!(true),
        ),
        ("'abc'.substring(1) == 'bc' && 'abc'.indexOf('c') == 2 && 'abc'.charAt(0) == 'a'", json!(true)),
        ("sum([1, 2]) == 3.0 && first([4, 5]) == 4.0 && last([4, 5]) == 5.0 && median([1, 9, 5]) == 5.0", json!(true)),
        ("int('42') + 1 == 43 && double(1) + 0.5 == 1.5 && string(2) == '2'", json!(true)),
    ] {
        assert_eq!(eval(Kind::Expect, text), Ok(want), "{text}");
    }
    assert_eq!(eval(Kind::Capture, "response.body.usage.total_tokens * 2"), Ok(json!(30)));
    assert_eq!(eval(Kind::Capture, "'a' + 'b'"), Ok(json!("ab")));
}

#[test]
fn mistakes_are_found_before_anything_runs_with_their_column() {
    let problems = |text: &str| compile(Kind::Expect, text).err().unwrap_or_default();
    let p = problems("respnse.status == 200");
    assert_eq!(p, vec![(Loc { line: 7, col: 11 }, "unknown name `respnse`; did you mean `response`?".into())]);
    let p = problems("response.stauts == 200");
    assert_eq!(p[0].1, "unknown field `stauts`; did you mean `status`?");
    assert_eq!(p[0].0.line, 7);
    let p = problems("size(1, 2) == 1");
    assert_eq!(p[0].1, "`size` takes 1 argument, not 2");
    let p = problems("metrics.ttfx < 1");
    assert!(p[0].1.contains("did you mean `ttf"), "{p:?}");
    assert!(problems("response.status == 'ok'")[0].1.contains("never equal"));
    assert!(problems("response.content - 1 > 0")[0].1.contains("takes numbers"));
    assert!(problems("[1].all(x)")[0].1.contains("takes a variable name and a condition"));
    assert!(problems("lenght(response.content) > 0")[0].1.contains("unknown function `lenght`"));
    assert!(problems("response.status")[0].1.contains("not true or false"));
    assert!(problems("tests.nope.metrics.latency < 1")[0].1.contains("unknown field `nope`"));
    assert!(problems("tests['03 chat'].metrics.latency < 1").is_empty());
    let p = problems("response.status == ");
    assert!(p[0].1.starts_with("in this expression:"), "{p:?}");
    // Thresholds: series only through a statistic.
    let t = |text: &str| compile(Kind::Threshold, text).err().unwrap_or_default();
    assert!(t("p50(latency) < 2 * tests.baseline.metrics.latency").is_empty());
    assert!(t("p50(latncy) < 1")[0].1.contains("did you mean `latency`"), "{:?}", t("p50(latncy) < 1"));
    assert!(t("latency < 1")[0].1.contains("cannot order a series"), "{:?}", t("latency < 1"));
    assert!(t("p50(latency) > 0 && slope(rss_mb) < 1 && error_rate < 0.01 && recovery < 30").is_empty());
    assert!(compile(Kind::Require, "response.status == 200").is_err(), "no response before the request");
}

#[test]
fn positions_point_into_the_file() {
    let p = compile(Kind::Expect, "response.status == 200 && respnse.x").unwrap_err();
    assert_eq!(p[0].0, Loc { line: 7, col: 11 + 26 });
    let quoted = Origin { loc: Loc { line: 3, col: 5 }, plain: false };
    let p = Expression::compile("respnse.x", quoted, Kind::Expect, &names()).unwrap_err();
    assert_eq!(
        p[0],
        (
            Loc { line: 3, col: 5 },
            "unknown name `respnse`; did you mean `response`? (column 1 of the expression)".into()
        )
    );
}

#[test]
fn thresholds_read_measured_numbers() {
    let e = compile(Kind::Threshold, "p50(latency) < 2 * tests.baseline.metrics.latency && p99(ttft) > 0").unwrap();
    assert_eq!(e.measured.len(), 2);
    assert!(e.tests.contains("baseline"));
    let tests = json!({"baseline": {"metrics": {"latency": 0.5}}});
    let measure = |m: &MeasuredCall| Ok(if m.of == "ttft" { 0.2 } else { 0.9 });
    assert_eq!(e.holds(&[("tests", &tests)], &measure), Ok(true));
    let slow = |m: &MeasuredCall| Ok(if m.of == "ttft" { 0.2 } else { 1.1 });
    assert_eq!(e.holds(&[("tests", &tests)], &slow), Ok(false));
    assert_eq!(e.holds(&[("tests", &tests)], &no_measure), Err("nothing measured".into()));
}

#[test]
fn hostile_expressions_are_refused_or_fail_cleanly() {
    let chain = vec!["1"; 3000].join("+");
    assert!(compile(Kind::Capture, &chain).unwrap_err()[0].1.contains("at most"));
    let chain = vec!["1"; 1500].join("+");
    assert!(compile(Kind::Capture, &chain).unwrap_err()[0].1.contains("nests deeper"));
    let nested = format!("{}1{}", "(".repeat(2000), ")".repeat(2000));
    assert!(compile(Kind::Capture, &nested).is_err());
    let wide = format!("{}+", " ".repeat(4000));
    assert!(compile(Kind::Capture, &wide).is_err());
    assert!(compile(Kind::Capture, "[1].map(x, [1].map(y, [1].map(z, z)))").unwrap_err()[0].1.contains("nested"));
    for text in ["1 / 0", "9223372036854775807 + 1", "'a'.matches('(')", "[1][5]", "int(1e300)", "response.body.nope"] {
        assert!(eval(Kind::Capture, text).is_err(), "{text}");
    }
    assert!(compile(Kind::Capture, "").is_err());
}

#[test]
fn references_inside_quotes_stay_text() {
    assert_eq!(
        eval(Kind::Capture, "'${first_answer}' + ${first_answer}"),
        Ok(json!("${first_answer}Paris is the capital."))
    );
    assert_eq!(eval(Kind::Capture, "\"${x}\""), Ok(json!("${x}")));
}

/// Random token soup, the shape of hostile or mistyped specs: every one is compiled, and
/// those that compile are evaluated; none panics or hangs.
#[test]
fn random_expressions_never_panic() {
    const TOKENS: &[&str] = &[
        "response",
        ".",
        "status",
        "body",
        "content",
        "metrics",
        "latency",
        "tests",
        "[",
        "]",
        "(",
        ")",
        "'a'",
        "\"${x}\"",
        "${first_answer}",
        "1",
        "2.5",
        "-",
        "+",
        "*",
        "/",
        "%",
        "==",
        "<",
        "&&",
        "||",
        "!",
        "?",
        ":",
        "size",
        "all",
        "exists",
        "map",
        "filter",
        "x",
        ",",
        "p50",
        "sorted",
        "json",
        "{",
        "}",
        "null",
        "true",
        "in",
        "has",
        "matches",
        "'(?i)a'",
        "9223372036854775807",
        "1e999",
        " ",
        "\n",
        "é",
        "\u{0}",
    ];
    let mut random = crate::vocab::random::SplitMix(7);
    for kind in [Kind::Expect, Kind::Capture, Kind::Threshold, Kind::Require] {
        for _ in 0..300 {
            let n = 1 + random.below(24) as usize;
            let text: String = (0..n).map(|_| TOKENS[random.below(TOKENS.len() as u64) as usize]).collect();
            if let Ok(e) = Expression::compile(&text, origin(), kind, &names()) {
                let _ = e.evaluate(&[("response", &response())], &|_| Ok(1.0));
            }
        }
    }
}

/// Long lists from a server cost linear time: `map`/`filter` append in place, `unique` hashes,
/// and `split` refuses to make more than its cap of pieces.
#[test]
fn long_lists_stay_linear_and_splits_are_capped() {
    let data: Vec<u64> = (0..50_000).collect();
    let body = json!({"body": {"data": data}, "text": "ab".repeat(100_001)});
    let e = compile(Kind::Capture, "[size(response.body.data.map(x, x + 1)), size(response.body.data.filter(x, x % 2 == 0)), size(unique(response.body.data))]").unwrap();
    assert_eq!(e.evaluate(&[("response", &body)], &no_measure), Ok(json!([50_000, 25_000, 50_000])));
    let e = compile(Kind::Capture, "size(response.text.split(''))").unwrap();
    assert!(e.evaluate(&[("response", &body)], &no_measure).unwrap_err().contains("more than 100000 pieces"));
    let e = compile(Kind::Capture, "'a,b,c'.split(',') == ['a', 'b', 'c'] && 'a,b,c'.split(',', 2) == ['a', 'b,c']")
        .unwrap();
    assert_eq!(e.evaluate(&[], &no_measure), Ok(json!(true)));
}
