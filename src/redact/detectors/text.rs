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

/// A list of context words (lower case) with the set of bytes they start with, so that
/// [`contains_word`] tries a list only at the word starts that can begin one of its words
/// instead of comparing every word at every word start (the phone list has ~70).
pub(crate) struct Words {
    list: &'static [&'static str],
    /// Bit `b`: some word starts with the ASCII byte `b`.
    ascii_first: u128,
    /// Some word starts with a non-ASCII character (`電話`, `телефон`).
    non_ascii_first: bool,
}

impl Words {
    pub(crate) const fn new(list: &'static [&'static str]) -> Words {
        let mut ascii_first = 0u128;
        let mut non_ascii_first = false;
        let mut rest = list;
        while let [word, tail @ ..] = rest {
            if let [b, ..] = word.as_bytes() {
                if *b < 128 {
                    ascii_first |= 1 << *b;
                } else {
                    non_ascii_first = true;
                }
            }
            rest = tail;
        }
        Words {
            list,
            ascii_first,
            non_ascii_first,
        }
    }

    /// Whether a word of the list can start with `b` (already lower-cased).
    fn may_start_with(&self, b: u8) -> bool {
        if b < 128 {
            self.ascii_first >> b & 1 == 1
        } else {
            self.non_ascii_first
        }
    }
}

/// Whether one of `words` (lower-case ASCII) starts a word within the `len` bytes before
/// `end`. Used for the context rules ("SSN", "order #", "born on"): only candidates pay
/// for it, never the whole text.
pub(crate) fn context_before(text: &str, end: usize, len: usize, words: &Words) -> bool {
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
pub(crate) fn contains_word(window: &[u8], words: &Words) -> bool {
    let mut i = 0;
    while i < window.len() {
        let here = window.get(i).copied().unwrap_or_default();
        let prev_alpha = i > 0 && window.get(i - 1).is_some_and(u8::is_ascii_alphabetic);
        let first = here.to_ascii_lowercase();
        if !prev_alpha
            && (here.is_ascii_alphanumeric() || here >= 0x80)
            && words.may_start_with(first)
        {
            for w in words.list {
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

/// The length of the line break at `at` in `bytes` (`\n`, `\r\n`, or their escapes `\\n`,
/// `\\r\\n` as JSON-in-text writes them) with the next line's indentation; `None` when there
/// is none. A token or a base64 block wrapped over lines continues after it.
pub(crate) fn line_break_at(bytes: &[u8], at: usize) -> Option<usize> {
    let rest = bytes.get(at..)?;
    let newline = [&b"\r\n"[..], b"\n", b"\\r\\n", b"\\n"]
        .into_iter()
        .find(|nl| rest.starts_with(nl))?
        .len();
    let indent = rest
        .get(newline..)?
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    Some(newline + indent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_words_start_words() {
        assert!(context_before("my SSN is ", 10, 40, &Words::new(&["ssn"])));
        assert!(!context_before("glassness ", 10, 40, &Words::new(&["ssn"])));
        assert!(!context_before("prefer ", 7, 40, &Words::new(&["ref"])));
        assert!(!context_before("Antwort: ", 9, 3, &Words::new(&["t:"])));
    }

    /// Every word at every word start, as `contains_word` read before it had a first-byte
    /// set: the set may only skip starts where no word can match.
    fn every_word_everywhere(window: &[u8], words: &[&str]) -> bool {
        (0..window.len()).any(|i| {
            let here = window[i];
            let starts = !(i > 0 && window[i - 1].is_ascii_alphabetic())
                && (here.is_ascii_alphanumeric() || here >= 0x80);
            starts
                && words.iter().any(|w| {
                    let w = w.as_bytes();
                    let Some(s) = window.get(i..i + w.len()) else {
                        return false;
                    };
                    let closed = !w.last().is_some_and(u8::is_ascii_alphanumeric)
                        || window
                            .get(i + w.len())
                            .is_none_or(|b| !b.is_ascii_alphanumeric());
                    closed && s.eq_ignore_ascii_case(w)
                })
        })
    }

    proptest::proptest! {
        /// Windows built from the list's own words, their neighbours in the alphabet,
        /// capitals, digits, punctuation and non-ASCII text: a list that starts with a
        /// non-ASCII word (`電話`) or a digit must still be tried there.
        #[test]
        fn the_first_byte_set_skips_only_what_cannot_match(
            list in proptest::collection::vec(
                proptest::prop_oneof![
                    "[a-z]{1,6}",
                    "[a-z]{1,3}[ :.][a-z]{0,3}",
                    "[0-9][a-z]{0,2}",
                    proptest::strategy::Just("電話".to_owned()),
                    proptest::strategy::Just("téléphone".to_owned()),
                    proptest::strategy::Just("тел".to_owned()),
                ],
                0..6,
            ),
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    "[a-zA-Z]{1,6}",
                    "[ ,.:#(]{1,2}",
                    "[0-9]{1,3}",
                    proptest::strategy::Just("電話".to_owned()),
                    proptest::strategy::Just("Téléphone".to_owned()),
                    proptest::strategy::Just("тел".to_owned()),
                    proptest::strategy::Just("é".to_owned()),
                ],
                0..12,
            ),
            pick in proptest::collection::vec(0usize..6, 0..4),
        ) {
            // Some pieces are the list's own words, in any case, so matches do happen.
            let mut window = pieces.concat();
            for p in pick {
                if let Some(w) = list.get(p) {
                    window.push(' ');
                    window.push_str(&w.to_uppercase());
                }
            }
            let list: &'static [&'static str] =
                Box::leak(list.into_iter().map(|w| &*Box::leak(w.into_boxed_str())).collect());
            proptest::prop_assert_eq!(
                contains_word(window.as_bytes(), &Words::new(list)),
                every_word_everywhere(window.as_bytes(), list),
                "{:?} in {:?}", list, window
            );
        }
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
