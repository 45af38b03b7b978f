//! Vendor secrets written in base64: a Kubernetes Secret's `data:` values, a Docker
//! `config.json` `auth` (`user:token`), a Helm value, a CI variable pasted as stored.
//!
//! A person asking why a deployment cannot reach its API pastes the manifest, and every
//! value in it is the key in base64: `c2stb3ItdjEt…` is `sk-or-v1-…`. The vendor rules
//! never see it. Decoding every base64-looking run would cost a pass over images and hashes
//! on every request, so the word pass looks instead for what each vendor prefix *becomes*
//! in base64: at each of the three byte alignments a prefix can have inside the encoded
//! data, the characters that depend on the prefix's bytes alone are fixed (`sk-or-v1-` at
//! the start is always `c2stb3ItdjEt`). Only where one of those is found is the enclosing
//! base64 run decoded, and the decoded text is searched by the vendor and assignment rules;
//! a secret in it makes the whole run a secret. A run that decodes to anything else (a
//! picture, a hash, random bytes that happen to hold the characters) is left alone, so the
//! literals cost little but their place in the word automaton (0.998×–1.007× the
//! instructions per request on the benchmark bodies). Each run is decoded once and a run
//! longer than [`REACH`] is not read, so a flood of forms costs what scanning the decoded
//! text as written would; the decoded text is not searched for base64 forms again.
//!
//! Not covered: a prefix of three characters after other bytes (`user:sk-…`: its base64
//! has fewer than four characters of its own), and tokens with no prefix at all (Telegram
//! bot tokens, Mailchimp keys).

use std::sync::LazyLock;

use base64::Engine as _;

/// The base64 forms of the vendor prefixes (`secrets::encodable_literals`) at each
/// alignment, in the standard and the URL-safe alphabet, built once. A prefix of three bytes
/// has one (at a 3-byte boundary: `sk-` is `c2st`); longer ones have three.
static FORMS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut forms: Vec<String> = Vec::new();
    for prefix in super::secrets::encodable_literals() {
        for align in 0..3 {
            let Some(literal) = fixed_chars(prefix.as_bytes(), align) else {
                continue;
            };
            let url_safe = literal.replace('+', "-").replace('/', "_");
            for literal in [literal, url_safe] {
                if !forms.contains(&literal) {
                    forms.push(literal);
                }
            }
        }
    }
    forms
});

/// The characters of base64 that depend only on `prefix` when it is preceded by `align`
/// bytes (0, 1 or 2) since the last 3-byte boundary; `None` when fewer than four are.
fn fixed_chars(prefix: &[u8], align: usize) -> Option<String> {
    let mut data = vec![0u8; align];
    data.extend_from_slice(prefix);
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&data);
    // Character i covers bits [6i, 6i + 6); the prefix's bits are [8·align, 8·(align+len)).
    let first = (8 * align).div_ceil(6);
    let last = 8 * (align + prefix.len()) / 6;
    let literal = encoded.get(first..last)?;
    (literal.len() >= 4).then(|| literal.to_owned())
}

/// The literals the word pass looks for.
pub(crate) fn literals() -> impl Iterator<Item = &'static str> {
    FORMS.iter().map(String::as_str)
}

/// How far back from a literal a run is followed: a credential's base64 starts within a
/// few kilobytes of any form inside it (a wrapped private key's header is its first line).
/// A run that goes back further (a picture) is not read.
const REACH: usize = 4096;

/// How much of a run is decoded: a bundle (certificates, then the key) stays well within
/// it; the rest of a longer run is still covered by a finding.
const DECODE_MAX: usize = 64 * 1024;

fn base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

/// A base64 run: one or more segments, each a line's base64 characters (with its padding
/// for the last), joined across the line breaks a wrapped block has (`\n`, `\r\n`, their
/// escapes, and the next line's indentation).
pub(crate) struct Run {
    /// A first line that is not a whole number of quanta: where the data starts after a
    /// label, or a line of prose; [`decode`] reads the run with it and without it.
    head: Option<(usize, usize)>,
    segments: Vec<(usize, usize)>,
}

impl Run {
    /// From the first segment's start (the head's, with `head`) to the last one's end.
    pub(crate) fn span(&self, head: bool) -> (usize, usize) {
        let first = self.segments.first().map_or(0, |s| s.0);
        let start = match self.head {
            Some((from, _)) if head => from,
            _ => first,
        };
        let end = self.segments.last().map_or(0, |s| s.1);
        (start, end)
    }

    /// Whether the run has a head line to try.
    pub(crate) fn has_head(&self) -> bool {
        self.head.is_some()
    }
}

/// The start of the segment that `at` is in or ends: base64 characters back from it, less
/// the `n` (or `r`) of a `\n` escape that ends the line above.
fn segment_start(bytes: &[u8], at: usize) -> usize {
    let mut start = at;
    while start > 0 && bytes.get(start - 1).copied().is_some_and(base64_char) {
        start -= 1;
    }
    if start > 0 && bytes.get(start - 1) == Some(&b'\\') && start < at {
        start += 1;
    }
    start
}

/// The end of the segment that starts at or before `at` (its padding included).
fn segment_end(bytes: &[u8], at: usize) -> usize {
    let mut end = at;
    while bytes.get(end).copied().is_some_and(base64_char) {
        end += 1;
    }
    while bytes.get(end) == Some(&b'=') {
        end += 1;
    }
    end
}

/// Where the line break (and indentation) that ends right before `at` starts.
fn break_before(bytes: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    while i > 0 && matches!(bytes.get(i - 1), Some(b' ' | b'\t')) {
        i -= 1;
    }
    for nl in [&b"\r\n"[..], b"\n", b"\\r\\n", b"\\n"] {
        if i >= nl.len() && bytes.get(i - nl.len()..i) == Some(nl) {
            return Some(i - nl.len());
        }
    }
    None
}

/// The base64 run around `at`, or `None` when its start is further than [`REACH`] back.
/// Lines above join while each is a whole number of base64 quanta (a multiple of four
/// characters: a wrapped block's full lines are; prose ending in a word, mostly, is not, and
/// joining it would shift the decoding); lines below join while the line above them is as
/// long as the block's first full line (a block's last line is shorter: what follows it is
/// not the block's).
pub(crate) fn run_around(text: &str, at: usize) -> Option<Run> {
    let bytes = text.as_bytes();
    let floor = at.saturating_sub(REACH);
    // Bounded: a run that reaches further back is not read (and not walked).
    let near = bytes.get(floor..at)?;
    if near.len() == REACH && near.iter().all(|b| base64_char(*b)) {
        return None;
    }
    let start = segment_start(bytes, at);
    let mut above_lines = Vec::new();
    let mut head = None;
    // Upwards, over full lines of 16 or more characters (narrower wrapping is not read: a
    // column of 4-character lines would be walked again for every form in it).
    let mut first = start;
    while let Some(above_end) = break_before(bytes, first) {
        let above = segment_start(bytes, above_end);
        let len = above_end - above;
        if len == 0 || above < floor {
            break;
        }
        if len < 16 || !len.is_multiple_of(4) {
            // The block's first line, after a label (`tls.key: LS0t…`), is as long as the
            // label leaves; or it is prose ending in a word. Decoded both ways.
            head = Some((above, above_end));
            break;
        }
        above_lines.push((above, above_end));
        first = above;
    }
    above_lines.reverse();
    let mut segments = above_lines;
    segments.push((start, segment_end(bytes, at)));
    // Downwards: the line after a full first line (16 characters or more, a label or
    // indentation included: a hard-wrapped `key: <base64>` has its first line's data
    // short), then while each line is as long as that second one (a block's last line is
    // shorter: what follows it is not the block's).
    let mut width = None;
    while let Some(&(from, to)) = segments.last() {
        let len = to - from;
        match width {
            None if segments.len() == 1 && line_length(bytes, from, to) >= 16 => {}
            None if segments.len() > 1 && len >= 16 => width = Some(len),
            Some(w) if len == w => {}
            _ => break,
        }
        let Some(gap) = super::text::line_break_at(bytes, to) else {
            break;
        };
        let next = to + gap;
        let next_end = segment_end(bytes, next);
        if next_end == next {
            break;
        }
        segments.push((next, next_end));
    }
    Some(Run { head, segments })
}

/// The length of the line a segment ends: from the line's start (after a line break, a
/// `\n` escape, or the text's start; at most 256 bytes back) to `to`.
fn line_length(bytes: &[u8], from: usize, to: usize) -> usize {
    let mut start = from;
    while start > 0 && from - start < 256 {
        match bytes.get(start - 1) {
            Some(b'\n') => break,
            Some(b'n') if start >= 2 && bytes.get(start - 2) == Some(&b'\\') => break,
            _ => start -= 1,
        }
    }
    to - start
}

/// Where each wrapped base64 block starts: a line that ends in 16 or more base64
/// characters, followed by a line break and more base64. A form
/// can straddle a block's line break (a 12-character form in a 64-column block does about
/// one time in five), so every block is read once, whether or not a form was seen in it.
pub(crate) fn block_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    let bytes = text.as_bytes();
    memchr::memchr2_iter(b'\n', b'\\', bytes).filter_map(move |i| {
        let line_end = if bytes.get(i) == Some(&b'\n') {
            if i > 0 && bytes.get(i - 1) == Some(&b'\r') {
                i - 1
            } else {
                i
            }
        } else if bytes.get(i + 1..i + 4) == Some(b"r\\n")
            || (bytes.get(i + 1) == Some(&b'n') && (i < 2 || bytes.get(i - 2..i) != Some(b"\\r")))
        {
            i
        } else {
            return None;
        };
        // Any length: a hard-wrapped `key: <base64>` has its first line's data short.
        let start = segment_start(bytes, line_end);
        if line_end - start < 16 {
            return None;
        }
        let next = line_end + super::text::line_break_at(bytes, line_end)?;
        (segment_end(bytes, next) >= next + 4).then_some(start)
    })
}

/// Where the base64 run that `at` is in ends on its line (however far).
pub(crate) fn run_end(text: &str, at: usize) -> usize {
    segment_end(text.as_bytes(), at)
}

/// The text `run` decodes to (standard or URL-safe alphabet, padded or not; its first
/// [`DECODE_MAX`] characters), with bytes that are not UTF-8 replaced; `None` when it is not
/// base64.
pub(crate) fn decode(text: &str, run: &Run, head: bool) -> Option<String> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    let mut body = String::new();
    let head = run.head.filter(|_| head);
    for &(from, to) in head.iter().chain(&run.segments) {
        let segment = text.get(from..to)?.trim_end_matches('=');
        let room = DECODE_MAX.saturating_sub(body.len());
        body.push_str(segment.get(..segment.len().min(room))?);
        if body.len() >= DECODE_MAX {
            break;
        }
    }
    // A run cut short (or with a stray last character) decodes whole bytes only.
    body.truncate(body.len() - usize::from(body.len() % 4 == 1));
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let alphabet = if body.contains(['-', '_']) {
        &base64::alphabet::URL_SAFE
    } else {
        &base64::alphabet::STANDARD
    };
    let bytes = GeneralPurpose::new(alphabet, config).decode(&body).ok()?;
    Some(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_characters_are_those_of_every_encoding() {
        // `sk-or-v1-` after 0, 1 and 2 arbitrary bytes: the fixed part is in each encoding.
        for lead in [&b""[..], b"u", b"us", b"\xff", b"\x00\xfe"] {
            let mut data = lead.to_vec();
            data.extend_from_slice(b"sk-or-v1-0123");
            let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
            let fixed = fixed_chars(b"sk-or-v1-", lead.len()).unwrap();
            assert!(encoded.contains(&fixed), "{lead:?}: {fixed} in {encoded}");
        }
        assert_eq!(fixed_chars(b"sk-or-v1-", 0).unwrap(), "c2stb3ItdjEt");
        assert_eq!(fixed_chars(b"ab", 0), None);
    }

    #[test]
    fn every_vendor_prefix_has_its_forms() {
        for form in ["Z2hwX", "c2st", "c2stb3ItdjEt", "Z2l0aHViX3BhdF"] {
            assert!(FORMS.iter().any(|f| f == form), "{form}");
        }
        assert!(FORMS.iter().all(|f| f.len() >= 4));
    }

    #[test]
    fn runs_and_decoding() {
        let text = "data:\n  KEY: c2stb3ItdjEtYWJj\n";
        let at = text.find("c2st").unwrap();
        let run = run_around(text, at + 3).unwrap();
        let (s, e) = run.span(false);
        assert_eq!(&text[s..e], "c2stb3ItdjEtYWJj");
        assert_eq!(decode(text, &run, false).unwrap(), "sk-or-v1-abc");
        let text = "c2stb3ItdjEtYWI=";
        assert_eq!(
            decode(text, &run_around(text, 0).unwrap(), false).unwrap(),
            "sk-or-v1-ab"
        );
        let long = format!("{} tail", "A".repeat(REACH * 2));
        assert!(run_around(&long, REACH + 10).is_none());
        assert_eq!(run_end(&long, REACH + 10), REACH * 2);
    }

    #[test]
    fn a_wrapped_block_is_one_run() {
        let data = "x".repeat(40) + "\nsk-or-v1-0123456789abcdef and more text after it";
        let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
        for nl in ["\n", "\r\n", "\n    ", "\\n"] {
            let wrapped: Vec<&str> = b64
                .as_bytes()
                .chunks(16)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            let text = format!("see below\nsecret: {}\nthanks, bye", wrapped.join(nl));
            let at = text.find(wrapped[3]).unwrap();
            let run = run_around(&text, at).unwrap();
            let (s, e) = run.span(false);
            assert_eq!(s, text.find(wrapped[0]).unwrap(), "{nl:?}");
            assert_eq!(&text[e..], "\nthanks, bye", "{nl:?}");
            assert_eq!(decode(&text, &run, false).unwrap(), data, "{nl:?}");
            let starts: Vec<usize> = block_starts(&text).collect();
            assert_eq!(starts.first(), Some(&s), "{nl:?}");
        }
    }
}
