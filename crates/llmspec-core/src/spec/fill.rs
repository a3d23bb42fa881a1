//! `{"$fill": {...}}` in a request body: a long text of a chosen size, made when the request is
//! sent (its size may come from a capture, `tokens: "${max_model_len}"`), for long-context
//! tests; with a `needle` placed at a chosen `depth`, for needle-in-a-haystack tests.

use serde_json::Value;

/// The key that marks a fill in a JSON body: a mapping with this one key.
pub const FILL: &str = "$fill";

const KEYS: &[&str] = &["tokens", "ratio", "chars_per_token", "text", "needle", "depth", "before", "after"];
const DEFAULT_TEXT: &str = "Lorem ipsum dolor sit amet. ";
/// A fill is held in memory, then in the request body: far past any context window already.
const MAX_CHARS: f64 = 64e6;

/// The settings of one fill, checked.
struct Fill<'a> {
    /// Characters of the whole string: before, filler, needle and after.
    chars: usize,
    text: &'a str,
    needle: &'a str,
    /// Where the needle starts in the filler: 0 its start, 1 its end.
    depth: f64,
    before: &'a str,
    after: &'a str,
}

/// The settings of a `$fill` mapping, when it is one.
pub fn spec_of(value: &Value) -> Option<&Value> {
    match value {
        Value::Object(map) if map.len() == 1 => map.get(FILL),
        _ => None,
    }
}

/// The string a `$fill` stands for; its settings have had their captures resolved.
pub fn make(spec: &Value) -> Result<Value, String> {
    Ok(Value::String(Fill::parse(spec)?.make()))
}

/// Problems of every `$fill` in a request body that can be seen before anything is sent: an
/// unknown key always, and every other mistake when the settings use no capture.
pub fn problems(body: &Value) -> Vec<String> {
    let mut out = vec![];
    let mut stack = vec![body];
    while let Some(value) = stack.pop() {
        if let Some(spec) = spec_of(value) {
            let known_now = !mentions_reference(spec);
            match Fill::parse(spec) {
                Err(e) if known_now || e.starts_with(UNKNOWN) || e.starts_with(NOT_A_MAPPING) => out.push(e),
                _ => {}
            }
            continue;
        }
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    out
}

const UNKNOWN: &str = "unknown `$fill` key";
const NOT_A_MAPPING: &str = "`$fill` takes a mapping";

fn mentions_reference(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains("${"),
        Value::Array(items) => items.iter().any(mentions_reference),
        Value::Object(map) => map.values().any(mentions_reference),
        _ => false,
    }
}

impl<'a> Fill<'a> {
    fn parse(spec: &'a Value) -> Result<Fill<'a>, String> {
        let Some(map) = spec.as_object() else {
            return Err(format!("{NOT_A_MAPPING} such as `{{ tokens: 8000 }}`, not {spec}"));
        };
        if let Some(key) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(crate::vocab::suggest::unknown("`$fill` key", key, KEYS, ""));
        }
        let number = |key: &str, default: Option<f64>| match (map.get(key), default) {
            (Some(v), _) => v.as_f64().ok_or_else(|| format!("`$fill` needs a number `{key}`, not {v}")),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(format!("`$fill` needs a number `{key}`")),
        };
        let text_of = |key: &str, default: &'a str| match map.get(key) {
            None => Ok(default),
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(v) => Err(format!("`$fill`'s `{key}` is a text, not {v}")),
        };
        let tokens = number("tokens", None)?;
        let ratio = number("ratio", Some(1.0))?;
        let per_token = number("chars_per_token", Some(4.0))?;
        let text = text_of("text", DEFAULT_TEXT)?;
        let needle = text_of("needle", "")?;
        let (before, after) = (text_of("before", "")?, text_of("after", "")?);
        let depth = number("depth", Some(0.5))?;
        if !(0.0..=1.0).contains(&depth) {
            return Err(format!(
                "`$fill`'s `depth` is where the needle goes, from 0 (the start of the filler) to 1 (its end), not {depth}"
            ));
        }
        if map.contains_key("depth") && needle.is_empty() {
            return Err("`$fill`'s `depth` places a `needle`: give the needle's text".into());
        }
        let size = tokens * ratio * per_token;
        if text.is_empty() || !size.is_finite() || size > MAX_CHARS {
            return Err("`$fill` asks for an empty text or more than 64 MB".into());
        }
        let chars = size.max(0.0) as usize;
        let fixed = [before, needle, after].iter().map(|t| t.chars().count()).sum::<usize>();
        if fixed > chars {
            return Err(format!(
                "`$fill` of {chars} characters cannot hold its `before`, `needle` and `after` ({fixed} characters)"
            ));
        }
        Ok(Fill { chars, text, needle, depth, before, after })
    }

    /// `before`, the filler cut where the needle goes, the needle, the rest of the filler,
    /// `after`: the filler reads on around the needle as if it were not there.
    fn make(&self) -> String {
        let fixed = [self.before, self.needle, self.after].iter().map(|t| t.chars().count()).sum::<usize>();
        let filler = self.chars - fixed;
        let at = word_start(self.text, (self.depth * filler as f64).round() as usize).min(filler);
        let mut out = String::with_capacity(self.chars + self.chars / 4);
        out.push_str(self.before);
        let mut cycle = self.text.chars().cycle();
        out.extend(cycle.by_ref().take(at));
        out.push_str(self.needle);
        out.extend(cycle.take(filler - at));
        out.push_str(self.after);
        out
    }
}

/// The start of the word of the repeated `text` that holds character `at`, so that a needle
/// does not cut a word in two; `at` itself when the text has no white space.
fn word_start(text: &str, at: usize) -> usize {
    let chars: Vec<char> = text.chars().collect();
    if !chars.iter().any(|c| c.is_whitespace()) {
        return at;
    }
    let mut i = at;
    while i > 0 && !chars[(i - 1) % chars.len()].is_whitespace() {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plain_fill_repeats_its_text_to_the_size_asked() {
        let s = make(&json!({"tokens": 10, "ratio": 0.5, "text": "ab"})).unwrap();
        assert_eq!(s, "abababababababababab");
        let s = make(&json!({"tokens": 3})).unwrap();
        assert_eq!(s, "Lorem ipsum ");
    }

    #[test]
    fn a_needle_goes_at_its_depth_and_the_total_length_is_kept() {
        let needle = "The secret word is ORCHID. ";
        let spec = json!({"tokens": 2000, "needle": needle, "depth": 0.35, "before": "Read this.\n", "after": "\nWhat is the secret word?"});
        let s = make(&spec).unwrap().as_str().unwrap().to_string();
        assert_eq!(s.chars().count(), 8000);
        assert!(s.starts_with("Read this.\nLorem ipsum"), "{}", &s[..40]);
        assert!(s.ends_with("\nWhat is the secret word?"));
        assert_eq!(s.matches("ORCHID").count(), 1);
        let filler = 8000 - "Read this.\n".len() - needle.len() - "\nWhat is the secret word?".len();
        let wanted = "Read this.\n".len() + (0.35 * filler as f64).round() as usize;
        let at = s.find(needle).unwrap();
        // Moved back to the start of a word: by less than one word of the text.
        assert!(at <= wanted && wanted - at < "ipsum ".len(), "needle at {at}, wanted about {wanted}");
        assert!(s[..at].ends_with(' '), "{}", &s[at - 20..at + 10]);
        // The filler reads on around the needle.
        let without = s.replacen(needle, "", 1);
        let plain = make(&json!({"tokens": 2000})).unwrap();
        let plain = plain.as_str().unwrap();
        assert!(plain.starts_with(&without["Read this.\n".len()..without.len() - "\nWhat is the secret word?".len()]));
    }

    #[test]
    fn depths_at_the_ends_and_text_without_spaces() {
        let at = |depth: f64, text: &str| {
            let s = make(&json!({"tokens": 25, "needle": "N", "depth": depth, "text": text})).unwrap();
            s.as_str().unwrap().find('N').unwrap()
        };
        assert_eq!(at(0.0, "ab"), 0);
        assert_eq!(at(1.0, "ab"), 99);
        assert_eq!(at(0.5, "ab"), 50);
        assert_eq!(at(0.5, "abcdefg "), 48);
    }

    #[test]
    fn mistakes_are_told() {
        let e = |spec: Value| make(&spec).unwrap_err();
        assert_eq!(e(json!({"tokens": 5, "neddle": "x"})), "unknown `$fill` key `neddle`; did you mean `needle`?");
        assert!(e(json!({"tokens": 5, "needle": "x", "depth": 1.5})).contains("from 0"));
        assert!(e(json!({"tokens": 5, "depth": 0.5})).contains("places a `needle`"));
        assert!(e(json!({"tokens": 1, "needle": "a long needle"})).contains("cannot hold"));
        assert!(e(json!({"tokens": 1, "before": 3})).contains("is a text"));
        assert!(e(json!({"ratio": 1})).contains("`tokens`"));
        assert!(e(json!({"tokens": 1e300})).contains("more than 64 MB"));
        assert!(e(json!("8000")).contains("takes a mapping"));
    }

    #[test]
    fn problems_are_found_before_sending_when_they_can_be() {
        let body = json!({"messages": [{"content": {"$fill": {"tokens": "${window}", "neddle": "x"}}},
            {"content": {"$fill": {"tokens": "${window}", "needle": "a long needle"}}},
            {"content": {"$fill": {"tokens": 1, "needle": "a long needle"}}}]});
        let p = problems(&body);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.iter().any(|m| m.contains("`neddle`")) && p.iter().any(|m| m.contains("cannot hold")), "{p:?}");
    }
}
