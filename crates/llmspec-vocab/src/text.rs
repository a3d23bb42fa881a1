//! Small text helpers for reports.

/// The marker of a cut: `… [N characters cut] …`. The redactor looks for it, because a cut
/// inside a secret leaves pieces of it on either side.
pub const CUT_OPEN: &str = " … [";
pub const CUT_CLOSE: &str = " characters cut] … ";

/// Keeps the start and the end of a long text, at most `max` characters, marking the cut.
pub fn trim_middle(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max * 2 / 3).collect();
    let tail: String = text.chars().skip(count - max / 3).collect();
    let cut = count - head.chars().count() - tail.chars().count();
    format!("{head}{CUT_OPEN}{cut}{CUT_CLOSE}{tail}")
}

/// An absolute URL as is, or a path joined to a base URL with exactly one `/` between them;
/// `None` when the path is relative and there is no base.
pub fn join_url(base: Option<&str>, path: &str) -> Option<String> {
    if path.starts_with("http://") || path.starts_with("https://") {
        return Some(path.to_string());
    }
    Some(format!("{}/{}", base?.trim_end_matches('/'), path.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_long_text_only() {
        assert_eq!(trim_middle("short", 10), "short");
        let long = "a".repeat(50) + &"b".repeat(50);
        let t = trim_middle(&long, 30);
        assert!(t.starts_with(&"a".repeat(20)) && t.ends_with(&"b".repeat(10)), "{t}");
        assert!(t.contains("[70 characters cut]"), "{t}");
    }

    #[test]
    fn joins_paths_to_a_base_with_one_slash() {
        assert_eq!(join_url(Some("http://h:1/"), "/v1/models").as_deref(), Some("http://h:1/v1/models"));
        assert_eq!(join_url(Some("http://h:1/v1"), "models").as_deref(), Some("http://h:1/v1/models"));
        assert_eq!(join_url(None, "https://x/metrics").as_deref(), Some("https://x/metrics"));
        assert_eq!(join_url(None, "/metrics"), None);
    }
}
