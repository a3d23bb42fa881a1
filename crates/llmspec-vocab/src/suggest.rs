//! "Did you mean" hints for misspelt keys, names and variables.

/// Longest word or candidate compared.
const MAX_WORD: usize = 64;

/// The candidate closest to `word`, when it is close enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    // The distance costs the product of the lengths: nobody misspells a name that long.
    if word.chars().count() > MAX_WORD {
        return None;
    }
    candidates
        .into_iter()
        .filter(|c| c.chars().count() <= MAX_WORD)
        // The distance is at least the difference in length: skip what cannot be close.
        .filter(|c| c.chars().count().abs_diff(word.chars().count()) <= limit)
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `unknown {kind} \`{name}\`` and then the closest known name, or every known name (and `more`,
/// when other forms are accepted too) when none is close.
pub fn unknown(kind: &str, name: &str, known: &[&str], more: &str) -> String {
    match closest(name, known.iter().copied()) {
        Some(best) => format!("unknown {kind} `{name}`; did you mean `{best}`?"),
        None if more.is_empty() => format!("unknown {kind} `{name}`; use one of: {}", known.join(", ")),
        None => format!("unknown {kind} `{name}`; use one of: {}, {more}", known.join(", ")),
    }
}

/// Damerau–Levenshtein distance (adjacent swaps count as one edit: `cuont` → `count`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for j in 0..=b.len() {
        d[0][j] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(closest("cuont", ["count", "name"]), Some("count"));
        assert_eq!(closest("expct", ["expect", "request"]), Some("expect"));
        assert_eq!(closest("lateny", ["latency", "status"]), Some("latency"));
        assert_eq!(closest("zzz", ["count", "name"]), None);
        let long = "a".repeat(100_000);
        assert_eq!(closest(&long, [long.as_str()]), None);
    }
}
