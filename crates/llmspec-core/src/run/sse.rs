//! A server-sent events parser over raw bytes (WHATWG rules, as OpenAI's client follows them).
//!
//! Hand-written because the timing matters: the caller timestamps each network chunk when it
//! arrives and only then hands it here, so every event knows the chunk it came in. Bytes, not
//! text, are buffered: a UTF-8 character can be split across two chunks.
//!
//! A hostile server must not be able to make it slow or large: each byte is examined once
//! however the stream is chunked, and a line or an event above its limit stops the parse.

use super::http::Limit;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SseEvent {
    /// The `event:` field, when one was sent (OpenAI-style servers rarely send one).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The most a parser holds: a line still without its terminator, and an event's data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SseLimits {
    pub max_line_bytes: usize,
    pub max_event_bytes: usize,
}

/// Why the stream cannot be parsed further. Offsets count bytes from the start of the body.
#[derive(Debug, Clone, PartialEq)]
pub enum SseError {
    LineTooLong { line_at: u64, limit: usize },
    EventTooLarge { line_at: u64, limit: usize },
    NotUtf8 { at: u64 },
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SseError::LineTooLong { line_at, limit } => write!(
                f,
                "the line that starts at byte {line_at} is longer than {}, the limit for one line ({})",
                crate::vocab::units::format_size(*limit),
                Limit::LineBytes.how_set()
            ),
            SseError::EventTooLarge { line_at, limit } => write!(
                f,
                "the event that the line at byte {line_at} adds to is larger than {}, the limit for one event's data ({})",
                crate::vocab::units::format_size(*limit),
                Limit::EventBytes.how_set()
            ),
            SseError::NotUtf8 { at } => write!(f, "the stream is not valid UTF-8 at byte {at}"),
        }
    }
}

#[derive(Debug)]
pub struct SseParser {
    limits: SseLimits,
    /// The current line so far (and possibly a final CR whose LF may be in the next chunk).
    buf: Vec<u8>,
    /// How much of `buf` was already searched for a line end: the next chunk resumes there, so
    /// a long line delivered in small chunks is not rescanned from its start every time.
    scanned: usize,
    /// Offset in the body of `buf[0]`.
    consumed: u64,
    data: String,
    has_data: bool,
    event: Option<String>,
    failed: Option<SseError>,
    examined: u64,
    /// Comment lines (`: ping`), which servers send as keep-alives.
    pub comments: usize,
}

impl SseParser {
    pub fn new(limits: SseLimits) -> SseParser {
        SseParser {
            limits,
            buf: Vec::new(),
            scanned: 0,
            consumed: 0,
            data: String::new(),
            has_data: false,
            event: None,
            failed: None,
            examined: 0,
            comments: 0,
        }
    }

    /// Feeds one network chunk; complete events are appended to `out`, including those that
    /// came before an error in the same chunk. After an error every call returns it again.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        self.check_failed()?;
        self.buf.extend_from_slice(chunk);
        let result = self.scan(out);
        self.remember(result)
    }

    /// The body ended: a last line without a terminator still counts, and a pending event is
    /// dispatched (servers that omit the final blank line are common).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        self.check_failed()?;
        let mut result = Ok(());
        if !self.buf.is_empty() {
            let end = self.buf.len() - usize::from(self.buf.ends_with(b"\r"));
            result = self.line(0, end, out);
            self.buf.clear();
            self.scanned = 0;
        }
        if result.is_ok() {
            self.dispatch(out);
        }
        self.remember(result)
    }

    /// Bytes looked at while searching for line ends: the body's length once each, whatever
    /// the chunking (a CR at the end of a chunk is looked at again with the next one).
    pub fn bytes_examined(&self) -> u64 {
        self.examined
    }

    /// Bytes held for lines and events not yet complete.
    pub fn bytes_held(&self) -> usize {
        self.buf.capacity() + self.data.capacity()
    }

    fn check_failed(&self) -> Result<(), SseError> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn remember(&mut self, result: Result<(), SseError>) -> Result<(), SseError> {
        if let Err(e) = &result {
            self.failed = Some(e.clone());
            // Nothing more will be parsed: give the memory back now.
            self.buf = Vec::new();
            self.data = String::new();
        }
        result
    }

    fn scan(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut start = 0;
        let mut i = self.scanned;
        while i < self.buf.len() {
            self.examined += 1;
            match self.buf[i] {
                b'\n' => {
                    self.line(start, i, out)?;
                    start = i + 1;
                }
                b'\r' => {
                    // A CR at the very end may be the first half of a CRLF split across chunks.
                    if i + 1 == self.buf.len() {
                        break;
                    }
                    self.line(start, i, out)?;
                    if self.buf[i + 1] == b'\n' {
                        i += 1;
                        self.examined += 1;
                    }
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        self.scanned = i - start;
        self.buf.drain(..start);
        self.consumed += start as u64;
        let pending = self.buf.len() - usize::from(self.buf.ends_with(b"\r"));
        if pending > self.limits.max_line_bytes {
            return Err(SseError::LineTooLong { line_at: self.consumed, limit: self.limits.max_line_bytes });
        }
        Ok(())
    }

    fn line(&mut self, start: usize, end: usize, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let line_at = self.consumed + start as u64;
        if end - start > self.limits.max_line_bytes {
            return Err(SseError::LineTooLong { line_at, limit: self.limits.max_line_bytes });
        }
        let line = &self.buf[start..end];
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            self.comments += 1;
            return Ok(());
        }
        let (field, value, value_at) = match line.iter().position(|&b| b == b':') {
            Some(p) => {
                let v = &line[p + 1..];
                let skip = usize::from(v.starts_with(b" "));
                (&line[..p], &v[skip..], p + 1 + skip)
            }
            None => (line, &b""[..], line.len()),
        };
        let text = || {
            std::str::from_utf8(value)
                .map_err(|e| SseError::NotUtf8 { at: line_at + (value_at + e.valid_up_to()) as u64 })
        };
        match field {
            b"data" => {
                let value = text()?;
                let grown = self.data.len() + usize::from(self.has_data) + value.len();
                if grown > self.limits.max_event_bytes {
                    return Err(SseError::EventTooLarge { line_at, limit: self.limits.max_event_bytes });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(text()?.to_string()),
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent { event: self.event.take(), data: std::mem::take(&mut self.data) });
        }
        self.data.clear();
        self.has_data = false;
        self.event = None;
    }
}

/// Parses a whole body delivered in the given chunks: the events, the comment count and how it
/// ended. One entry point for tests, property tests and fuzzing.
pub fn parse_chunked(limits: SseLimits, chunks: &[&[u8]]) -> (Vec<SseEvent>, usize, Result<(), SseError>) {
    let mut parser = SseParser::new(limits);
    let mut out = vec![];
    let mut result = Ok(());
    for c in chunks {
        result = parser.push(c, &mut out);
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = parser.finish(&mut out);
    }
    (out, parser.comments, result)
}

/// The properties a property test and a fuzzer check on any body and any chunking: the same
/// events, comments and outcome as when the body arrives whole, and no more memory held than
/// the limits allow. Returns what differs, if anything.
pub fn check_chunking(limits: SseLimits, body: &[u8], split_points: &[usize]) -> Result<(), String> {
    let mut cuts: Vec<usize> =
        split_points.iter().map(|&p| if body.is_empty() { 0 } else { p % (body.len() + 1) }).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut chunks = vec![];
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&body.len())) {
        chunks.push(&body[from..cut]);
        from = cut;
    }
    let whole = parse_chunked(limits, &[body]);
    let mut parser = SseParser::new(limits);
    let mut events = vec![];
    let mut result = Ok(());
    let largest_chunk = chunks.iter().map(|c| c.len()).max().unwrap_or(0);
    let bound = 2 * (limits.max_line_bytes + 1 + largest_chunk) + 2 * limits.max_event_bytes;
    for chunk in &chunks {
        result = parser.push(chunk, &mut events);
        if parser.bytes_held() > bound {
            return Err(format!("{} bytes held, above the bound {bound}", parser.bytes_held()));
        }
        if result.is_err() {
            break;
        }
    }
    if result.is_ok() {
        result = parser.finish(&mut events);
    }
    if parser.bytes_examined() > body.len() as u64 + chunks.len() as u64 {
        return Err(format!("{} bytes examined for a body of {}", parser.bytes_examined(), body.len()));
    }
    let chunked = (events, parser.comments, result);
    if chunked != whole {
        return Err(format!("chunked at {cuts:?}: {chunked:?}\nwhole: {whole:?}"));
    }
    Ok(())
}

/// A fuzzer's entry: the first bytes choose the limits and the split points, the rest is the
/// body.
pub fn fuzz_one(data: &[u8]) -> Result<(), String> {
    let Some((&[line, event, splits], body)) = data.split_first_chunk::<3>() else { return Ok(()) };
    let limits = SseLimits { max_line_bytes: usize::from(line) + 1, max_event_bytes: usize::from(event) + 1 };
    let points: Vec<usize> = (0..usize::from(splits % 16)).map(|k| k * 7919 + usize::from(splits)).collect();
    check_chunking(limits, body, &points)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: SseLimits = SseLimits { max_line_bytes: 1 << 20, max_event_bytes: 1 << 20 };

    fn parse_chunks(chunks: &[&[u8]]) -> (Vec<SseEvent>, usize) {
        let (events, comments, result) = parse_chunked(ROOMY, chunks);
        assert_eq!(result, Ok(()));
        (events, comments)
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn several_events_in_one_chunk() {
        let (e, _) = parse_chunks(&[b"data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n"]);
        assert_eq!(data(&e), vec!["{\"a\":1}", "{\"a\":2}", "[DONE]"]);
    }

    #[test]
    fn lines_split_across_chunks() {
        let (e, _) = parse_chunks(&[b"da", b"ta: {\"content\":\"hel", b"lo\"}\n", b"\n"]);
        assert_eq!(data(&e), vec!["{\"content\":\"hello\"}"]);
    }

    #[test]
    fn utf8_split_across_chunks() {
        let s = "data: é\n\n".as_bytes();
        let (e, _) = parse_chunks(&[&s[..7], &s[7..]]);
        assert_eq!(data(&e), vec!["é"]);
    }

    #[test]
    fn crlf_even_when_split_between_cr_and_lf() {
        let (e, _) = parse_chunks(&[b"data: 1\r", b"\n\r\ndata: 2\r\n\r\n"]);
        assert_eq!(data(&e), vec!["1", "2"]);
        let (e, _) = parse_chunks(&[b"data: 1\r\rdata: 2\r\r"]);
        assert_eq!(data(&e), vec!["1", "2"]);
        let (e, _) = parse_chunks(&[b"data: 1\r", b"\r", b"data: 2\r", b"\n", b"\r", b"\n"]);
        assert_eq!(data(&e), vec!["1", "2"]);
    }

    #[test]
    fn comments_and_keepalives_are_counted_not_dispatched() {
        let (e, comments) = parse_chunks(&[b": ping\n\n:keep-alive\ndata: x\n\n"]);
        assert_eq!(data(&e), vec!["x"]);
        assert_eq!(comments, 2);
    }

    #[test]
    fn multi_line_data_and_event_names() {
        let (e, _) = parse_chunks(&[b"event: error\ndata: a\ndata:b\n\n"]);
        assert_eq!(e, vec![SseEvent { event: Some("error".into()), data: "a\nb".into() }]);
    }

    #[test]
    fn a_last_event_without_blank_line_still_counts() {
        let (e, _) = parse_chunks(&[b"data: 1\n\ndata: [DONE]"]);
        assert_eq!(data(&e), vec!["1", "[DONE]"]);
    }

    #[test]
    fn a_long_line_in_small_chunks_is_examined_once() {
        // 4 MB in 100-byte chunks: rescanning the line from its start on every chunk would
        // examine about 80 GB; resuming where the last scan stopped examines each byte once.
        let limits = SseLimits { max_line_bytes: 8 << 20, max_event_bytes: 8 << 20 };
        let mut parser = SseParser::new(limits);
        let mut out = vec![];
        let line = [b"data: ".as_slice(), &vec![b'x'; 4_000_000], b"\n\n"].concat();
        for chunk in line.chunks(100) {
            parser.push(chunk, &mut out).unwrap();
        }
        parser.finish(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 4_000_000);
        assert!(parser.bytes_examined() <= line.len() as u64 + 2, "{} examined", parser.bytes_examined());
    }

    #[test]
    fn a_line_over_the_limit_stops_the_parse_however_it_arrives() {
        let limits = SseLimits { max_line_bytes: 10, max_event_bytes: 100 };
        let body = b"data: 1\n\n: a comment that is too long\ndata: 2\n\n";
        let whole = parse_chunked(limits, &[body]);
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        let split = parse_chunked(limits, &bytes);
        assert_eq!(whole, split);
        assert_eq!(data(&whole.0), vec!["1"]);
        assert_eq!(whole.2, Err(SseError::LineTooLong { line_at: 9, limit: 10 }));
        let text = whole.2.unwrap_err().to_string();
        assert!(text.contains("byte 9") && text.contains("10 bytes") && text.contains("--max-line-bytes"), "{text}");
    }

    #[test]
    fn a_partial_line_over_the_limit_is_refused_before_it_ends() {
        let limits = SseLimits { max_line_bytes: 1000, max_event_bytes: 1000 };
        let mut parser = SseParser::new(limits);
        let mut out = vec![];
        let mut result = Ok(());
        for _ in 0..1000 {
            result = parser.push(&[b'x'; 100], &mut out);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SseError::LineTooLong { line_at: 0, limit: 1000 }));
        assert!(parser.bytes_held() <= 1100, "{}", parser.bytes_held());
        assert!(parser.push(b"\n", &mut out).is_err(), "a failed parse stays failed");
    }

    #[test]
    fn an_event_over_the_limit_is_refused() {
        let limits = SseLimits { max_line_bytes: 100, max_event_bytes: 15 };
        let (events, _, result) = parse_chunked(limits, &[b"data: 12345678\ndata: 1234567\n\n"]);
        assert!(events.is_empty());
        assert_eq!(result, Err(SseError::EventTooLarge { line_at: 15, limit: 15 }));
        assert!(result.unwrap_err().to_string().contains("--max-event-bytes"));
        // Exactly at the limit is fine: 8 + 1 + 6 bytes.
        let (events, _, result) = parse_chunked(limits, &[b"data: 12345678\ndata: 123456\n\n"]);
        assert_eq!((data(&events), result), (vec!["12345678\n123456"], Ok(())));
    }

    #[test]
    fn invalid_utf8_gives_the_offset_of_the_bad_byte() {
        let body = b"data: ok\n\ndata: {\"a\":\"\xff\"}\n\n";
        let (events, _, result) = parse_chunked(ROOMY, &[body]);
        assert_eq!(data(&events), vec!["ok"]);
        assert_eq!(result, Err(SseError::NotUtf8 { at: 22 }));
        assert_eq!(body[22], 0xff);
        // A character cut by the end of the stream is invalid too.
        let (_, _, result) = parse_chunked(ROOMY, &[b"data: \xc3"]);
        assert_eq!(result, Err(SseError::NotUtf8 { at: 6 }));
    }
}
