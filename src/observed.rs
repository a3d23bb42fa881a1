//! What was observed of one request: the response as received and when things happened.
//!
//! The runner fills it in; expectations and reports only read it.

use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<serde_json::Value>,
    /// Why the body is not JSON, when it is not.
    pub json_error: Option<String>,
    /// From sending the request to the end of the body.
    pub latency: Duration,
    /// From sending the request to the response headers.
    pub ttfb: Duration,
}

impl Observed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
