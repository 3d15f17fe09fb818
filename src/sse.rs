//! Server-sent events: an incremental parser for upstream bytes and the
//! encoder for what Veil sends. Only `data` (and `event`) fields matter to a
//! chat completion stream; comments and ids are skipped. Lines may end in
//! `\n`, `\r\n` or `\r`, split anywhere across network chunks.

use bytes::{Buf, Bytes, BytesMut};

/// Longest event Veil accepts from upstream before calling the stream broken.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: Bytes,
}

#[derive(Debug, thiserror::Error)]
#[error("server-sent event larger than {MAX_EVENT_BYTES} bytes")]
pub struct EventTooLarge;

/// Incremental parser; feed bytes with [`SseParser::push`], take events with
/// [`SseParser::next_event`].
#[derive(Debug, Default)]
pub struct SseParser {
    buf: BytesMut,
    data: BytesMut,
    has_data: bool,
    event: Option<String>,
    /// The previous chunk ended in `\r`; a `\n` at the start of the next one
    /// belongs to the same line ending.
    skip_lf: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), EventTooLarge> {
        let mut chunk = chunk;
        if self.skip_lf && !chunk.is_empty() {
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
            self.skip_lf = false;
        }
        if self.buf.len() + self.data.len() + chunk.len() > MAX_EVENT_BYTES {
            return Err(EventTooLarge);
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The next complete event, if the buffered bytes hold one.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            let end = memchr::memchr2(b'\n', b'\r', &self.buf)?;
            let line = self.buf.split_to(end);
            let terminator = self.buf[0];
            self.buf.advance(1);
            if terminator == b'\r' {
                match self.buf.first() {
                    Some(b'\n') => self.buf.advance(1),
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            if let Some(event) = self.line(&line) {
                return Some(event);
            }
        }
    }

    /// At end of input: an event whose blank line never came is still
    /// dispatched (servers that close right after the last `data:` line).
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            if let Some(event) = self.line(&line) {
                return Some(event);
            }
        }
        self.line(b"")
    }

    fn line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            if !self.has_data {
                self.event = None;
                return None;
            }
            self.has_data = false;
            let mut data = std::mem::take(&mut self.data);
            data.truncate(data.len().saturating_sub(1)); // the last '\n'
            return Some(SseEvent { event: self.event.take(), data: data.freeze() });
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                self.data.extend_from_slice(value);
                self.data.extend_from_slice(b"\n");
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
        None
    }
}

/// `data: <payload>\n\n` as one buffer.
pub fn encode_data(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\n\n");
    out.freeze()
}

/// The stream terminator.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.push(chunk).unwrap();
            while let Some(e) = parser.next_event() {
                out.push(String::from_utf8(e.data.to_vec()).unwrap());
            }
        }
        out.extend(parser.finish().map(|e| String::from_utf8(e.data.to_vec()).unwrap()));
        out
    }

    #[test]
    fn parses_events_split_anywhere() {
        let text = b"data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":2}\r\n\r\ndata: [DONE]\n\n";
        for split in 0..text.len() {
            let (a, b) = text.split_at(split);
            assert_eq!(
                parse_all(&[a, b]),
                vec!["{\"a\":1}", "{\"b\":2}", "[DONE]"],
                "split {split}"
            );
        }
    }

    #[test]
    fn bare_cr_line_endings_and_multiline_data() {
        assert_eq!(parse_all(&[b"data: a\rdata: b\r\r"]), vec!["a\nb"]);
        assert_eq!(parse_all(&[b"data:x\r", b"\n\r\n"]), vec!["x"]);
    }

    #[test]
    fn event_names_are_kept_and_unterminated_tail_is_flushed() {
        let mut parser = SseParser::new();
        parser.push(b"event: error\ndata: boom\n\ndata: tail").unwrap();
        let first = parser.next_event().unwrap();
        assert_eq!(first.event.as_deref(), Some("error"));
        assert_eq!(&first.data[..], b"boom");
        assert!(parser.next_event().is_none());
        assert_eq!(&parser.finish().unwrap().data[..], b"tail");
    }

    #[test]
    fn oversized_events_are_refused() {
        let mut parser = SseParser::new();
        assert!(parser.push(&vec![b'a'; MAX_EVENT_BYTES + 1]).is_err());
    }
}
