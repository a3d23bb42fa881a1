//! Why a singular JSONPath (`$.choices[0].message.content`) found nothing: where it stopped
//! matching, and the key that was probably meant.

use serde_json::Value;

/// Keys listed when none is close to the one asked for.
const KEYS_SHOWN: usize = 10;

/// One step of a singular query: a member name or an array index.
#[derive(Debug, PartialEq)]
enum Step {
    Name(String),
    Index(i64),
}

/// Where `query` (singular, already checked by the JSONPath parser) stops matching in `root`,
/// in words: `$.choices[0].message has no key `contnet`; did you mean `content`?`. `None` when
/// the query is not one this reads, or when it matches after all.
pub fn explain(query: &str, root: &Value) -> Option<String> {
    let mut current = root;
    let mut at = String::from("$");
    for step in steps(query)? {
        let next = match (&step, current) {
            (Step::Name(name), Value::Object(map)) => match map.get(name) {
                Some(v) => v,
                None => return Some(missing_key(&at, name, map)),
            },
            (Step::Index(i), Value::Array(items)) => {
                let position = if *i < 0 { i64::try_from(items.len()).ok()?.checked_add(*i) } else { Some(*i) };
                match position.and_then(|p| usize::try_from(p).ok()).and_then(|p| items.get(p)) {
                    Some(v) => v,
                    None => {
                        let n = items.len();
                        let elements = if n == 1 { "element" } else { "elements" };
                        return Some(format!("{at} has {n} {elements}, none at index {i}"));
                    }
                }
            }
            (Step::Name(name), other) => return Some(format!("{at} is {}, not a mapping with `{name}`", kind(other))),
            (Step::Index(i), other) => return Some(format!("{at} is {}, not a list with an index {i}", kind(other))),
        };
        match &step {
            Step::Name(name) if is_shorthand(name) => at.push_str(&format!(".{name}")),
            Step::Name(name) => at.push_str(&format!("[{}]", serde_json::to_string(name).ok()?)),
            Step::Index(i) => at.push_str(&format!("[{i}]")),
        }
        current = next;
    }
    None
}

fn missing_key(at: &str, name: &str, map: &serde_json::Map<String, Value>) -> String {
    if map.is_empty() {
        return format!("{at} is an empty mapping, with no key `{name}`");
    }
    if let Some(best) = crate::vocab::suggest::closest(name, map.keys().map(String::as_str)) {
        return format!("{at} has no key `{name}`; did you mean `{best}`?");
    }
    let mut keys: Vec<&str> = map.keys().map(String::as_str).take(KEYS_SHOWN).collect();
    if map.len() > KEYS_SHOWN {
        keys.push("...");
    }
    format!("{at} has no key `{name}`; its keys: {}", keys.join(", "))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A name written after a dot in RFC 9535 (`$.name`), rather than in brackets.
fn is_shorthand(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_') && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// The steps of a singular query: `.name`, `['name']`, `["name"]`, `[3]`, `[-1]`.
fn steps(query: &str) -> Option<Vec<Step>> {
    let mut rest = query.trim().strip_prefix('$')?;
    let mut out = vec![];
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = r[..end].trim();
            if name.is_empty() {
                return None;
            }
            out.push(Step::Name(name.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let r = r.trim_start();
            let (step, after) = match r.chars().next()? {
                quote @ ('\'' | '"') => {
                    let (name, after) = quoted(&r[1..], quote)?;
                    (Step::Name(name), after)
                }
                _ => {
                    let end = r.find(']')?;
                    (Step::Index(r[..end].trim().parse().ok()?), &r[end..])
                }
            };
            rest = after.trim_start().strip_prefix(']')?;
            out.push(step);
        } else {
            return None;
        }
    }
    Some(out)
}

/// A string literal's text up to its closing `quote`, and what follows it. Escapes other than
/// a backslash before a character (`\'`, `\\`) are left to the JSONPath parser: no hint then.
fn quoted(text: &str, quote: char) -> Option<(String, &str)> {
    let mut name = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                (_, e @ ('\\' | '\'' | '"' | '/')) => name.push(e),
                _ => return None,
            },
            c if c == quote => return Some((name, &text[i + c.len_utf8()..])),
            c => name.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer() -> Value {
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}], "usage": {"total_tokens": 3}, "my key": {"a": 1}})
    }

    #[test]
    fn a_misspelt_key_gets_the_closest_one_at_the_level_where_the_path_stopped() {
        let why = |q: &str| explain(q, &answer());
        assert_eq!(
            why("$.choices[0].message.contnet").as_deref(),
            Some("$.choices[0].message has no key `contnet`; did you mean `content`?")
        );
        assert_eq!(why("$.choises[0].index").as_deref(), Some("$ has no key `choises`; did you mean `choices`?"));
        assert_eq!(
            why("$['choices'][0][\"mesage\"]").as_deref(),
            Some("$.choices[0] has no key `mesage`; did you mean `message`?")
        );
        assert_eq!(why("$['my key'].bb").as_deref(), Some("$[\"my key\"] has no key `bb`; its keys: a"));
        assert_eq!(why("$.usage.zzz").as_deref(), Some("$.usage has no key `zzz`; its keys: total_tokens"));
    }

    #[test]
    fn indexes_and_kinds_are_told_too() {
        let why = |q: &str| explain(q, &answer());
        assert_eq!(why("$.choices[3].index").as_deref(), Some("$.choices has 1 element, none at index 3"));
        assert_eq!(why("$.choices[-2]").as_deref(), Some("$.choices has 1 element, none at index -2"));
        assert_eq!(why("$.choices[-1].message.role"), None);
        assert_eq!(why("$.usage[0]").as_deref(), Some("$.usage is a mapping, not a list with an index 0"));
        assert_eq!(why("$.choices.index").as_deref(), Some("$.choices is a list, not a mapping with `index`"));
        assert_eq!(
            why("$.choices[0].message.content.x").as_deref(),
            Some("$.choices[0].message.content is a string, not a mapping with `x`")
        );
        assert_eq!(explain("$.a", &json!({})).as_deref(), Some("$ is an empty mapping, with no key `a`"));
    }

    #[test]
    fn many_keys_are_cut_short_and_unread_queries_get_no_hint() {
        let wide: serde_json::Map<String, Value> = (0..30).map(|i| (format!("key{i:02}"), json!(i))).collect();
        let why = explain("$.zzzzzz", &Value::Object(wide)).unwrap();
        assert!(why.ends_with("key09, ..."), "{why}");
        assert_eq!(explain("$['\\u0041']", &answer()), None);
        assert_eq!(explain("$.usage.total_tokens", &answer()), None);
    }
}
