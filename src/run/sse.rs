//! A server-sent events parser over raw bytes (WHATWG rules, as OpenAI's client follows them).
//!
//! Hand-written because the timing matters: the caller timestamps each network chunk when it
//! arrives and only then hands it here, so every event knows the chunk it came in. Bytes, not
//! text, are buffered: a UTF-8 character can be split across two chunks.

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SseEvent {
    /// The `event:` field, when one was sent (OpenAI-style servers rarely send one).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    event: Option<String>,
    /// Comment lines (`: ping`), which servers send as keep-alives.
    pub comments: usize,
}

impl SseParser {
    /// Feeds one network chunk; complete events are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        let mut i = 0;
        while i < self.buf.len() {
            match self.buf[i] {
                b'\n' => {
                    self.line(start, i, out);
                    start = i + 1;
                }
                b'\r' => {
                    // A CR at the very end may be the first half of a CRLF split across chunks.
                    if i + 1 == self.buf.len() {
                        break;
                    }
                    self.line(start, i, out);
                    if self.buf[i + 1] == b'\n' {
                        i += 1;
                    }
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        self.buf.drain(..start);
    }

    /// The body ended: a last line without a terminator still counts, and a pending event is
    /// dispatched (servers that omit the final blank line are common).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.buf.is_empty() {
            let end = self.buf.len() - usize::from(self.buf.ends_with(b"\r"));
            self.line(0, end, out);
            self.buf.clear();
        }
        self.dispatch(out);
    }

    fn line(&mut self, start: usize, end: usize, out: &mut Vec<SseEvent>) {
        let line = &self.buf[start..end];
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(p) => {
                let v = &line[p + 1..];
                (&line[..p], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                let value = value.to_vec();
                self.data.extend_from_slice(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent { event: self.event.take(), data: String::from_utf8_lossy(&self.data).into_owned() });
        }
        self.data.clear();
        self.has_data = false;
        self.event = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> (Vec<SseEvent>, usize) {
        let mut p = SseParser::default();
        let mut out = vec![];
        for c in chunks {
            p.push(c, &mut out);
        }
        p.finish(&mut out);
        (out, p.comments)
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
}
