//! SSE framing helpers: cutting a byte stream into whole lines, and classifying a line.
//!
//! The tap forwards only whole lines. When the upstream ends a chunk mid-line (rare: it
//! flushes per event), the tail waits for the next chunk. That is what lets the tap inspect
//! every event before the client sees any of it, cut a stream exactly at an event boundary,
//! and (later) rewrite placeholders that straddle chunks.

use bytes::{Bytes, BytesMut};

/// One SSE line, classified.
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

/// Classifies one line (with or without its `\n` / `\r\n`).
pub fn classify(line: &[u8]) -> SseLine<'_> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        SseLine::Blank
    } else if line.starts_with(b":") {
        SseLine::Comment
    } else if let Some(payload) = line.strip_prefix(b"data:") {
        SseLine::Data(payload.strip_prefix(b" ").unwrap_or(payload))
    } else {
        SseLine::Other
    }
}

/// A line longer than the buffer allows: the upstream is not speaking SSE.
#[derive(Debug, PartialEq, Eq)]
pub struct LineTooLong;

/// Holds the unfinished tail of the stream between chunks.
#[derive(Debug)]
pub struct LineBuffer {
    partial: BytesMut,
    max_line: usize,
}

impl LineBuffer {
    pub fn new(max_line: usize) -> Self {
        Self {
            partial: BytesMut::new(),
            max_line,
        }
    }

    /// Takes a chunk; returns the bytes that now form whole lines (ending in `\n`), if any.
    /// When nothing was pending and the chunk ends on a line boundary (the common case),
    /// the chunk itself is returned without copying.
    pub fn push(&mut self, chunk: Bytes) -> Result<Option<Bytes>, LineTooLong> {
        let Some(last) = memchr::memrchr(b'\n', &chunk) else {
            self.partial.extend_from_slice(&chunk);
            return if self.partial.len() > self.max_line {
                Err(LineTooLong)
            } else {
                Ok(None)
            };
        };
        let split = last + 1;
        let whole = if self.partial.is_empty() {
            chunk.slice(..split)
        } else {
            self.partial
                .extend_from_slice(chunk.get(..split).unwrap_or_default());
            self.partial.split().freeze()
        };
        self.partial
            .extend_from_slice(chunk.get(split..).unwrap_or_default());
        if self.partial.len() > self.max_line {
            return Err(LineTooLong);
        }
        Ok(Some(whole))
    }

    /// The unterminated tail left when the stream ends.
    pub fn take_rest(&mut self) -> Option<Bytes> {
        (!self.partial.is_empty()).then(|| self.partial.split().freeze())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(b": OPENROUTER PROCESSING\n"), SseLine::Comment);
        assert_eq!(classify(b"\r\n"), SseLine::Blank);
        assert_eq!(
            classify(b"data: {\"a\":1}\r\n"),
            SseLine::Data(b"{\"a\":1}")
        );
        assert_eq!(classify(b"data:[DONE]"), SseLine::Data(b"[DONE]"));
        assert_eq!(classify(b"event: x\n"), SseLine::Other);
    }

    #[test]
    fn a_line_that_never_ends_is_refused() {
        let mut b = LineBuffer::new(10);
        assert_eq!(b.push(Bytes::from_static(b"data: 12")), Ok(None));
        assert_eq!(b.push(Bytes::from_static(b"3456")), Err(LineTooLong));
    }

    proptest! {
        #[test]
        fn whole_lines_come_out_in_order_however_the_stream_is_split(
            lines in proptest::collection::vec("[a-z: ]{0,12}", 0..12),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect::<String>() + "tail";
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut buf = LineBuffer::new(1 << 20);
            let mut out = Vec::new();
            let mut at = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                if let Some(whole) = buf.push(Bytes::copy_from_slice(&bytes[at..cut])).unwrap() {
                    prop_assert!(whole.ends_with(b"\n"));
                    out.extend_from_slice(&whole);
                }
                at = cut;
            }
            let rest = buf.take_rest();
            prop_assert_eq!(&out[..], &bytes[..bytes.len() - 4]);
            prop_assert_eq!(rest.as_deref(), Some(&b"tail"[..]));
        }
    }
}
