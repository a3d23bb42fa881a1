//! `expect.judge` checked before anything is sent: a rubric, a judge URL that is an http(s)
//! URL, a score bound from 0 to 1, a positive timeout and a token budget in range.

use super::check::{Context, Problem, positive_duration};
use super::de::Spanned;
use super::model::{JudgeSpec, Judges};
use super::yaml::{Node, Value};
use crate::expect::judge::{self, DEFAULT_MAX_TOKENS, JudgePlan, MAX_MAX_TOKENS};

/// The judges' `api_key` values written in a test (after interpolation), wherever a `judge`
/// stands: they are secrets from the start, so a diagnostic that quotes their line masks them.
pub fn api_keys(node: &Node, out: &mut Vec<String>) {
    match &node.value {
        Value::Map(entries) => {
            for (key, value) in entries {
                if key.as_str() == Some("judge") {
                    let judges = match &value.value {
                        Value::Seq(items) => items.iter().collect(),
                        _ => vec![value],
                    };
                    let scalar = |n: &&Node| !matches!(n.value, Value::Map(_) | Value::Seq(_) | Value::Null);
                    let keys = judges.into_iter().filter_map(|j| j.get("api_key")).filter(scalar);
                    out.extend(keys.map(Node::scalar_text).filter(|k| !k.is_empty()));
                }
                api_keys(value, out);
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| api_keys(i, out)),
        _ => {}
    }
}

/// The judges of one test, in the order written.
pub fn judges(raw: Option<Spanned<Judges>>, ctx: &Context<'_>, problems: &mut Vec<Problem>) -> Vec<JudgePlan> {
    let Some(raw) = raw else { return vec![] };
    let specs = match raw.value {
        Judges::One(spec) => vec![Spanned { value: *spec, loc: raw.loc }],
        Judges::Many(list) if list.is_empty() => {
            problems.push((raw.loc, "`judge` is an empty list: give at least one judge, or leave the key out".into()));
            vec![]
        }
        Judges::Many(list) => list,
    };
    let several = specs.len() > 1;
    specs.into_iter().enumerate().filter_map(|(i, spec)| one(spec, i + 1, several, ctx, problems)).collect()
}

fn one(
    raw: Spanned<JudgeSpec>,
    number: usize,
    several: bool,
    ctx: &Context<'_>,
    problems: &mut Vec<Problem>,
) -> Option<JudgePlan> {
    let before = problems.len();
    let loc = raw.loc;
    let s = raw.value;
    if s.rubric.value.trim().is_empty() {
        problems.push((s.rubric.loc, "a judge's `rubric` is empty: say what the answer must satisfy".into()));
    }
    let min_score = s.min_score.and_then(|m| {
        if (0.0..=1.0).contains(&m.value) {
            Some(m.value)
        } else {
            problems.push((m.loc, format!("`min_score` is a score from 0 to 1, not {}", m.value)));
            None
        }
    });
    let own_server = s.base_url.is_none();
    let url = match (&s.base_url, ctx.base_url) {
        (Some(base), _) => {
            judge::endpoint(&base.value).map_err(|e| problems.push((base.loc, format!("judge `base_url`: {e}"))))
        }
        (None, Some(base)) => judge::endpoint(base).map_err(|e| {
            problems
                .push((loc, format!("the judge would ask the suite's base URL, but {e}; give the judge a `base_url`")))
        }),
        (None, None) => {
            problems.push((
                loc,
                "a judge needs a server: give it a `base_url`, or set `defaults.base_url` or --base-url".into(),
            ));
            Err(())
        }
    };
    let timeout = s.timeout.as_ref().map(|t| positive_duration(t, problems));
    let max_tokens = match s.max_tokens {
        Some(m) if m.value == 0 || m.value > MAX_MAX_TOKENS => {
            problems
                .push((m.loc, format!("a judge's `max_tokens` is between 1 and {MAX_MAX_TOKENS}, not {}", m.value)));
            DEFAULT_MAX_TOKENS
        }
        Some(m) => m.value,
        None => DEFAULT_MAX_TOKENS,
    };
    for (key, value) in [("model", &s.model), ("api_key", &s.api_key)] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            problems.push((loc, format!("a judge's `{key}` is empty: give a value or leave the key out")));
        }
    }
    if problems.len() != before {
        return None;
    }
    Some(JudgePlan {
        loc: s.rubric.loc,
        label: if several { format!("judge {number}") } else { "judge".into() },
        property: format!("judge_{number}"),
        rubric: s.rubric.value.trim().to_string(),
        strict: s.strict == Some(true),
        min_score,
        url: url.ok()?,
        own_server,
        model: s.model,
        api_key: s.api_key,
        timeout: timeout.flatten(),
        max_tokens,
    })
}

#[cfg(test)]
mod tests {

    use crate::spec::load::tests::load_text;

    fn spec(judge: &str) -> String {
        format!(
            "suite: s\ndefaults: {{ base_url: http://127.0.0.1:9 }}\ntests:\n  - name: t\n    request: {{ POST: /v1/chat/completions, json: {{ model: m, messages: [] }} }}\n    expect:\n      judge: {judge}\n"
        )
    }

    #[test]
    fn a_judge_takes_the_suite_server_and_its_defaults() {
        let plan = load_text(&spec("{ rubric: \"Coherent.\" }")).unwrap();
        let j = &plan.tests[0].judges[0];
        assert_eq!(j.url, "http://127.0.0.1:9/v1/chat/completions");
        assert!(j.own_server && !j.strict && j.min_score.is_none() && j.timeout.is_none());
        assert_eq!((j.label.as_str(), j.property.as_str(), j.loc.line), ("judge", "judge_1", 7));
        let plan = load_text(&spec(
            "[ { rubric: a, base_url: \"http://judge:8000/v1\", strict: true, min_score: 0.7, timeout: 5s, max_tokens: 64 }, { rubric: b } ]",
        ))
        .unwrap();
        let [a, b] = &plan.tests[0].judges[..] else { panic!("two judges") };
        assert_eq!(a.url, "http://judge:8000/v1/chat/completions");
        assert!(!a.own_server && a.strict && a.min_score == Some(0.7) && a.max_tokens == 64);
        assert_eq!((a.label.as_str(), b.label.as_str(), b.property.as_str()), ("judge 1", "judge 2", "judge_2"));
    }

    #[test]
    fn a_broken_judge_is_a_spec_error_at_its_line() {
        let cases = [
            ("{ rubric: a, strickt: true }", "7:", "unknown key `strickt`; did you mean `strict`?"),
            (
                "{ rubric: a, base_url: \"judge:8000\" }",
                "7:",
                "judge `base_url`: `judge:8000` is not an http:// or https:// URL",
            ),
            ("{ rubric: a, min_score: 1.5 }", "7:", "`min_score` is a score from 0 to 1, not 1.5"),
            ("{ rubric: a, min_score: -0.1 }", "7:", "`min_score` is a score from 0 to 1"),
            ("{ rubric: a, min_score: high }", "7:", "expected"),
            ("{ rubric: \"  \" }", "7:", "`rubric` is empty"),
            ("{ strict: true }", "7:", "missing key `rubric`"),
            ("{ rubric: a, timeout: 0s }", "7:", "longer than zero"),
            ("{ rubric: a, max_tokens: 0 }", "7:", "`max_tokens` is between 1 and 65536"),
            ("{ rubric: a, api_key: \"\" }", "7:", "`api_key` is empty"),
            ("[]", "7:", "empty list"),
            ("judge everything", "7:", "a judge (a mapping with `rubric`), or a list of them"),
        ];
        for (judge, at, expected) in cases {
            let e = load_text(&spec(judge)).expect_err(judge);
            assert!(e.iter().any(|m| m.starts_with(at) && m.contains(expected)), "{judge}: {e:?}");
        }
    }

    #[test]
    fn a_judge_needs_one_answer_and_a_server() {
        let base = "suite: s\ntests:\n  - name: t\n";
        let cases = [
            (
                "    request: { POST: \"http://127.0.0.1:9/v1/completions\", json: {} }\n    expect: { judge: { rubric: a } }\n",
                "a judge needs a server",
            ),
            (
                "    request: { POST: \"http://127.0.0.1:9/x\" }\n    repeat: 3\n    expect: { judge: { rubric: a, base_url: \"http://127.0.0.1:9\" } }\n",
                "cannot be combined with `repeat`, `load` or `soak`",
            ),
            (
                "    steps: [ { sleep: 1ms } ]\n    expect: { judge: { rubric: a, base_url: \"http://127.0.0.1:9\" } }\n",
                "a test made of `steps` has no answer",
            ),
            (
                "    steps: [ { wait_until: { timeout: 1s, request: { GET: \"http://127.0.0.1:9/\" }, expect: { judge: { rubric: a } } } } ]\n",
                "not inside `wait_until`",
            ),
        ];
        for (test, expected) in cases {
            let e = load_text(&format!("{base}{test}")).expect_err(test);
            assert!(e.iter().any(|m| m.contains(expected)), "{test}: {e:?}");
        }
    }
}
