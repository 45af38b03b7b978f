//! Byte-level helpers shared by the detectors: ASCII word edges, bounded windows that
//! always end on a char boundary, and context-word lookups near a candidate.
//!
//! Every detector reports spans whose edges sit on ASCII bytes or come from a regex over
//! `&str`, so spans are always on char boundaries; the window helpers keep that true for
//! the slices handed to the validating regexes.

/// A byte that continues an ASCII word (`\w` without Unicode).
pub(crate) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The byte at `i`, if any.
pub(crate) fn at(text: &str, i: usize) -> Option<u8> {
    text.as_bytes().get(i).copied()
}

/// The byte just before `i`, if any.
pub(crate) fn before(text: &str, i: usize) -> Option<u8> {
    i.checked_sub(1).and_then(|j| at(text, j))
}

/// Whether `i` starts a word: the byte before it (if any) is not a letter or digit. Non-ASCII
/// letters before count as word bytes too, so `ésk-…` is not a key prefix.
pub(crate) fn word_start(text: &str, i: usize) -> bool {
    match before(text, i) {
        None => true,
        Some(b) => !(is_word(b) || b >= 0x80),
    }
}

/// Whether `i` ends a word (the byte at `i` is not a letter, digit or `_`).
pub(crate) fn word_end(text: &str, i: usize) -> bool {
    match at(text, i) {
        None => true,
        Some(b) => !(is_word(b) || b >= 0x80),
    }
}

/// The largest char boundary at or below `i`.
pub(crate) fn floor(text: &str, mut i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary at or above `i`.
pub(crate) fn ceil(text: &str, mut i: usize) -> usize {
    if i >= text.len() {
        return text.len();
    }
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// `text[start..start+len]`, shortened to a char boundary.
pub(crate) fn window_after(text: &str, start: usize, len: usize) -> &str {
    let end = floor(text, start.saturating_add(len));
    text.get(start..end).unwrap_or_default()
}

/// Whether one of `words` (lower-case ASCII) starts a word within the `len` bytes before
/// `end`. Used for the context rules ("SSN", "order #", "born on"): only candidates pay
/// for it, never the whole text.
pub(crate) fn context_before(text: &str, end: usize, len: usize, words: &[&str]) -> bool {
    let start = ceil(text, end.saturating_sub(len));
    let window = text.as_bytes().get(start..end).unwrap_or_default();
    contains_word(window, words)
}

/// Whether one of `words` (lower-case ASCII) occurs as a whole word in `window` (ASCII
/// case-folded). Only word starts are tried, so a 40-byte window costs a handful of
/// comparisons per word.
pub(crate) fn contains_word(window: &[u8], words: &[&str]) -> bool {
    let mut i = 0;
    while i < window.len() {
        let here = window.get(i).copied().unwrap_or_default();
        let prev_alpha = i > 0 && window.get(i - 1).is_some_and(u8::is_ascii_alphabetic);
        if !prev_alpha && (here.is_ascii_alphanumeric() || here >= 0x80) {
            let first = here.to_ascii_lowercase();
            for w in words {
                let w = w.as_bytes();
                if w.first() != Some(&first) {
                    continue;
                }
                let Some(s) = window.get(i..i + w.len()) else {
                    continue;
                };
                // A word ending in a letter or digit must end there too (`v` is not
                // `value`).
                let tail = window.get(i + w.len()).copied();
                let closed = !w.last().is_some_and(u8::is_ascii_alphanumeric)
                    || tail.is_none_or(|b| !b.is_ascii_alphanumeric());
                if closed && s.eq_ignore_ascii_case(w) {
                    return true;
                }
            }
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_words_start_words() {
        assert!(context_before("my SSN is ", 10, 40, &["ssn"]));
        assert!(!context_before("glassness ", 10, 40, &["ssn"]));
        assert!(!context_before("prefer ", 7, 40, &["ref"]));
    }

    #[test]
    fn windows_stay_on_char_boundaries() {
        let t = "aé€b";
        for i in 0..=t.len() {
            for n in 0..6 {
                let _ = window_after(t, floor(t, i), n);
            }
        }
    }
}
