//! An incremental SSE line scanner: feeds on chunks as they arrive and reports complete
//! lines, keeping only the trailing partial line. It never holds more than one line.

use bytes::BytesMut;

/// One complete SSE line, classified.
#[derive(Debug, PartialEq, Eq)]
pub enum SseLine<'a> {
    /// `data: ...` (payload without the field name and the optional single space).
    Data(&'a [u8]),
    /// `: ...` keep-alive or comment.
    Comment,
    /// An empty line: the end of an event.
    Blank,
    /// `event:`, `id:`, `retry:` or anything else.
    Other,
}

/// Scans chunks for lines, whatever way the upstream split them.
#[derive(Debug, Default)]
pub struct LineScanner {
    partial: BytesMut,
    /// A non-blank line has been seen since the last blank line.
    mid_event: bool,
}

impl LineScanner {
    /// Feeds one chunk, calling `on_line` for each line it completes.
    pub fn feed(&mut self, chunk: &[u8], mut on_line: impl FnMut(SseLine<'_>)) {
        let mut rest = chunk;
        while let Some(pos) = memchr::memchr(b'\n', rest) {
            let (line, tail) = rest.split_at(pos);
            rest = tail.get(1..).unwrap_or_default();
            if self.partial.is_empty() {
                self.emit(line, &mut on_line);
            } else {
                self.partial.extend_from_slice(line);
                let joined = std::mem::take(&mut self.partial);
                self.emit(&joined, &mut on_line);
            }
        }
        self.partial.extend_from_slice(rest);
    }

    fn emit(&mut self, line: &[u8], on_line: &mut impl FnMut(SseLine<'_>)) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let kind = if line.is_empty() {
            SseLine::Blank
        } else if line.starts_with(b":") {
            SseLine::Comment
        } else if let Some(payload) = line.strip_prefix(b"data:") {
            SseLine::Data(payload.strip_prefix(b" ").unwrap_or(payload))
        } else {
            SseLine::Other
        };
        self.mid_event = !matches!(kind, SseLine::Blank);
        on_line(kind);
    }

    /// What must be written before a new event so it is not glued to a half-sent one.
    pub fn separator(&self) -> &'static [u8] {
        if !self.partial.is_empty() {
            b"\n\n"
        } else if self.mid_event {
            b"\n"
        } else {
            b""
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> Vec<String> {
        let mut scanner = LineScanner::default();
        let mut out = Vec::new();
        for c in chunks {
            scanner.feed(c, |l| {
                out.push(match l {
                    SseLine::Data(d) => format!("data {}", String::from_utf8_lossy(d)),
                    SseLine::Comment => "comment".into(),
                    SseLine::Blank => "blank".into(),
                    SseLine::Other => "other".into(),
                })
            });
        }
        out
    }

    #[test]
    fn lines_split_anywhere_are_reassembled() {
        let whole: &[u8] =
            b": OPENROUTER PROCESSING\n\ndata: {\"a\":1}\r\n\nevent: x\ndata:[DONE]\n\n";
        let expected = lines(&[whole]);
        assert_eq!(
            expected,
            [
                "comment",
                "blank",
                "data {\"a\":1}",
                "blank",
                "other",
                "data [DONE]",
                "blank"
            ]
        );
        for split in 0..whole.len() {
            let (a, b) = whole.split_at(split);
            assert_eq!(lines(&[a, b]), expected, "split at {split}");
        }
        let bytes: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(lines(&bytes), expected);
    }

    #[test]
    fn separator_depends_on_position() {
        let mut s = LineScanner::default();
        s.feed(b"data: {}\n\n", |_| {});
        assert_eq!(s.separator(), b"");
        s.feed(b"data: {\"x\"", |_| {});
        assert_eq!(s.separator(), b"\n\n");
        let mut s = LineScanner::default();
        s.feed(b"data: {}\n", |_| {});
        assert_eq!(s.separator(), b"\n");
    }
}
