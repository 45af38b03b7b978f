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

/// Whether `c` continues a word the way a letter does.
///
/// Why not simply "any non-ASCII byte": Chinese and Japanese are written without spaces and
/// Korean glues its particles to the word before, so in `カード番号は4111…です` or
/// `振込先IBAN：DE89…` the ideographs, kana and fullwidth punctuation around the value are
/// its neighbours, not part of it. Following UAX #29 (word boundaries), a digit or Latin
/// letter next to an ideograph, kana, Hangul or Thai character, or next to any symbol or
/// punctuation, is at a word edge; next to another alphabetic letter (`é`, `ß`, Cyrillic)
/// it is not.
pub(crate) fn word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    // Combining marks continue the letter they follow (`e` + U+0301).
    if ('\u{300}'..='\u{36f}').contains(&c) {
        return true;
    }
    c.is_alphanumeric() && !unspaced_script(c)
}

/// Scripts written without spaces between words (or with particles glued to them): Han,
/// kana, Hangul, Thai, Lao, Khmer, Myanmar, and the CJK symbol and fullwidth blocks.
fn unspaced_script(c: char) -> bool {
    matches!(c,
        '\u{0E00}'..='\u{0EFF}'     // Thai, Lao
        | '\u{1000}'..='\u{109F}'   // Myanmar
        | '\u{1100}'..='\u{11FF}'   // Hangul Jamo
        | '\u{1780}'..='\u{17FF}'   // Khmer
        | '\u{2E80}'..='\u{33FF}'   // CJK radicals, symbols, kana, Hangul compatibility
        | '\u{3400}'..='\u{4DBF}'   // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK unified ideographs
        | '\u{A960}'..='\u{A97F}'   // Hangul Jamo extended-A
        | '\u{AC00}'..='\u{D7FF}'   // Hangul syllables and Jamo extended-B
        | '\u{F900}'..='\u{FAFF}'   // CJK compatibility ideographs
        | '\u{FF00}'..='\u{FFEF}'   // halfwidth and fullwidth forms (kana, punctuation)
        | '\u{20000}'..='\u{3FFFF}' // CJK extensions B–H
    )
}

/// The char that ends just before byte `i`, if any.
pub(crate) fn char_before(text: &str, i: usize) -> Option<char> {
    text.get(..i)?.chars().next_back()
}

/// The char that starts at byte `i`, if any.
pub(crate) fn char_at(text: &str, i: usize) -> Option<char> {
    text.get(i..)?.chars().next()
}

/// Whether `i` starts a word: the char before it (if any) does not continue a word (see
/// [`word_char`]), so `ésk-…` is not a key prefix but `キーsk-…` is.
pub(crate) fn word_start(text: &str, i: usize) -> bool {
    match before(text, i) {
        None => true,
        Some(b) if b < 0x80 => !is_word(b),
        Some(_) => !char_before(text, i).is_none_or(word_char),
    }
}

/// Whether `i` ends a word (the char at `i` does not continue a word).
pub(crate) fn word_end(text: &str, i: usize) -> bool {
    match at(text, i) {
        None => true,
        Some(b) if b < 0x80 => !is_word(b),
        Some(_) => !char_at(text, i).is_none_or(word_char),
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
    let mut start = ceil(text, end.saturating_sub(len));
    // A window that starts inside a word must not read that word's tail as a word
    // (`…Antwort:` cut to `t:`).
    while start < end && before(text, start).is_some_and(|b| b.is_ascii_alphanumeric()) {
        start += 1;
    }
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
        assert!(!context_before("Antwort: ", 9, 3, &["t:"]));
    }

    #[test]
    fn unspaced_scripts_are_word_edges() {
        let t = "カード番号は4111です";
        let d = t.find('4').unwrap();
        assert!(word_start(t, d) && word_end(t, d + 4));
        assert!(word_start("IBAN：DE89", "IBAN：".len()));
        assert!(!word_start("ésk", "é".len()));
        assert!(!word_end("abcé", 3));
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
