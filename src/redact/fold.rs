//! The text a reader would see, for text written to be missed by a scanner.
//!
//! A model (or whatever program reads the upstream's output) reads `sk\u002dor…` inside a
//! JSON string as `sk-or…`, `canary%40example.org` in a URL as an address, a fullwidth `＠`
//! as `@`, and ignores zero-width and combining characters inserted into a value. The
//! detectors match the plain forms, so [`fold`] rewrites a copy of the text into them:
//! JSON escapes decoded (leniently: lone surrogates become U+FFFD), `%XX` decoded, the
//! fullwidth ASCII block mapped to ASCII, Unicode dashes to `-`, line and paragraph separators to a newline, other
//! scripts' decimal digits to ASCII digits, and invisible
//! (format) characters and combining marks dropped. A value found only in the folded copy
//! cannot be rewritten where it sits; the inspection refuses it.
//!
//! Folding runs only when the text holds a character it would change, so plain ASCII
//! prose costs one byte scan.

/// The folded copy of `s`, or `None` when folding would not change it.
pub fn fold(s: &str) -> Option<String> {
    if !needs_folding(s) {
        return None;
    }
    let unescaped = json_unescape(s);
    let decoded = percent_decode(&unescaped).unwrap_or(unescaped);
    let mut out = String::with_capacity(decoded.len());
    // ASCII never folds: copy its runs whole and look only at the other characters.
    let mut rest = decoded.as_str();
    while let Some((at, c)) = next_non_ascii(rest) {
        out.push_str(&rest[..at]);
        if let Some(c) = fold_char(c) {
            out.push(c);
        }
        rest = &rest[at + c.len_utf8()..];
    }
    out.push_str(rest);
    (out != s).then_some(out)
}

/// Whether [`fold`] could change `s`, decided without copying it. Prose is full of `%`
/// ("up 12.5% on the quarter"); only a `%` that [`percent_decode`] would decode counts, so
/// such text is not folded and scanned a second time for nothing.
fn needs_folding(s: &str) -> bool {
    let bytes = s.as_bytes();
    for at in memchr::memchr2_iter(b'\\', b'%', bytes) {
        let changes = match bytes.get(at) {
            // Every backslash but a last one is read as (or dropped from) an escape.
            Some(b'\\') => at + 1 < bytes.len(),
            _ => percent_escape_at(bytes, at).is_some(),
        };
        if changes {
            return true;
        }
    }
    let mut rest = s;
    while let Some((at, c)) = next_non_ascii(rest) {
        if fold_char(c) != Some(c) {
            return true;
        }
        rest = &rest[at + c.len_utf8()..];
    }
    false
}

/// The first character of `s` outside ASCII, with its byte offset.
fn next_non_ascii(s: &str) -> Option<(usize, char)> {
    let at = crate::byte_class::first_non_ascii(s.as_bytes())?;
    s.get(at..)?.chars().next().map(|c| (at, c))
}

/// The byte a `%XX` sequence starting at `at` stands for, if it is one.
fn percent_escape_at(bytes: &[u8], at: usize) -> Option<u8> {
    let hex = bytes.get(at + 1..at + 3)?;
    u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// One character as a reader sees it: `None` for characters that do not show.
fn fold_char(c: char) -> Option<char> {
    let u = u32::from(c);
    match u {
        // Fullwidth ASCII variants (`＠`, `－`, `ｓ`).
        0xFF01..=0xFF5E => char::from_u32(u - 0xFEE0),
        // Hyphens, dashes and minus signs.
        0x2010..=0x2015 | 0x2212 | 0xFE58 | 0xFE63 => Some('-'),
        0xFE6B => Some('@'),
        0x2024 | 0xFE52 => Some('.'),
        0x2028 | 0x2029 => Some('\n'),
        // The mathematical bold, double-struck, sans-serif and monospace digits.
        0x1D7CE..=0x1D7FF => char::from_u32((u - 0x1D7CE) % 10 + u32::from(b'0')),
        // Superscript, subscript and circled digits (their compatibility forms are digits).
        0x2070 => Some('0'),
        0x00B9 => Some('1'),
        0x00B2 => Some('2'),
        0x00B3 => Some('3'),
        0x2074..=0x2079 => char::from_u32(u - 0x2070 + u32::from(b'0')),
        0x2080..=0x2089 => char::from_u32(u - 0x2080 + u32::from(b'0')),
        0x24EA | 0x24FF => Some('0'),
        0x2460..=0x2468 => char::from_u32(u - 0x2460 + u32::from(b'1')),
        0x2776..=0x277E => char::from_u32(u - 0x2776 + u32::from(b'1')),
        0x2780..=0x2788 => char::from_u32(u - 0x2780 + u32::from(b'1')),
        0x278A..=0x2792 => char::from_u32(u - 0x278A + u32::from(b'1')),
        // Soft hyphen, zero-width and direction marks, word joiners, BOM, variation
        // selectors, Mongolian vowel separator, Hangul fillers, combining grapheme joiner.
        0x00AD
        | 0x034F
        | 0x061C
        | 0x115F
        | 0x1160
        | 0x17B4
        | 0x17B5
        | 0x180E
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x2064
        | 0x206A..=0x206F
        | 0xFE00..=0xFE0F
        | 0xFEFF
        | 0x3164
        | 0xFFA0 => None,
        // Combining marks a value can be sprinkled with.
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F => {
            None
        }
        // Decimal digits of other scripts, which a model reads as digits.
        _ => script_digit(u).or(Some(c)),
    }
}

/// The zero of each script's decimal digits (Unicode's `Nd` blocks, ten code points from
/// each zero) that [`fold_char`] maps to ASCII, in order.
const DIGIT_ZEROS: [u32; 31] = [
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1B50, 0x1BB0,
    0x1C40, 0x1C50, 0xA8D0, 0xA900, 0xA9D0, 0xAA50, 0xABF0,
];

/// The ASCII digit of `u`, a decimal digit of one of [`DIGIT_ZEROS`]' scripts.
fn script_digit(u: u32) -> Option<char> {
    let block = DIGIT_ZEROS
        .partition_point(|zero| *zero <= u)
        .checked_sub(1)?;
    let value = u - DIGIT_ZEROS.get(block)?;
    let value = u8::try_from(value).ok().filter(|v| *v < 10)?;
    Some(char::from(b'0' + value))
}

/// JSON string escapes decoded, leniently: what a JSON parser that accepts lone
/// surrogates (JavaScript's, Python's) would read.
pub fn json_unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let Ok(hi) = u32::from_str_radix(&hex, 16) else {
                    out.push_str("\\u");
                    out.push_str(&hex);
                    continue;
                };
                // A surrogate pair written as two escapes.
                if (0xD800..0xDC00).contains(&hi) {
                    let mut ahead = chars.clone();
                    if ahead.next() == Some('\\') && ahead.next() == Some('u') {
                        let lo_hex: String = ahead.by_ref().take(4).collect();
                        if let Ok(lo) = u32::from_str_radix(&lo_hex, 16) {
                            if (0xDC00..0xE000).contains(&lo) {
                                let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                                chars = ahead;
                                continue;
                            }
                        }
                    }
                }
                out.push(char::from_u32(hi).unwrap_or('\u{FFFD}'));
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// `%XX` sequences decoded; `None` when there are none.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut changed = false;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if let Some(v) = percent_escape_at(bytes, i) {
                out.push(v);
                i += 3;
                changed = true;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    if !changed {
        return None;
    }
    // An escape that is not UTF-8 (`%FF`) becomes U+FFFD, as a lenient URL decoder reads
    // it; it must not undo the decoding of every other escape in the string.
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_of_other_scripts_read_as_digits() {
        for (written, read) in [
            ("٤٥٣٢", "4532"),
            ("۴۵۳۲", "4532"),
            ("४५३२", "4532"),
            ("๔๕๓๒", "4532"),
            ("໔໕໓໒", "4532"),
            ("၄၅၃၂", "4532"),
            ("៤៥៣២", "4532"),
            ("꧔꧕꧓꧒", "4532"),
            ("⁴⁵³²", "4532"),
            ("₄₅₃₂", "4532"),
            ("④⑤③②⓪", "45320"),
            ("𝟒𝟓𝟑𝟐", "4532"),
        ] {
            assert_eq!(fold(written).as_deref(), Some(read), "{written}");
        }
        // Every block's ten digits, and nothing past them.
        for zero in DIGIT_ZEROS {
            for d in 0..10 {
                let c = char::from_u32(zero + d).unwrap();
                assert_eq!(fold_char(c), char::from_digit(d, 10), "{c:?}");
            }
        }
        assert_eq!(script_digit(0x0E5A), None);
    }

    #[test]
    fn folds_what_a_reader_would_read() {
        assert_eq!(fold("plain ascii prose"), None);
        assert_eq!(fold("sk\\u002dor").as_deref(), Some("sk-or"));
        assert_eq!(fold("a\\ud800b").as_deref(), Some("a\u{FFFD}b"));
        assert_eq!(fold("\\ud83d\\ude00").as_deref(), Some("😀"));
        assert_eq!(
            fold("jane%40example.org").as_deref(),
            Some("jane@example.org")
        );
        assert_eq!(
            fold("jane＠example．org").as_deref(),
            Some("jane@example.org")
        );
        assert_eq!(
            fold("ja\u{200B}ne@exa\u{0301}mple.org").as_deref(),
            Some("jane@example.org")
        );
        assert_eq!(fold("sk\u{2011}or").as_deref(), Some("sk-or"));
        // Text with nothing to fold stays as it is, whatever its script.
        assert_eq!(fold("データを送信しました"), None);
        assert_eq!(fold("Grüße aus Köln"), None);
        // A `%` or `\\` that decodes to nothing else is not worth a second scan.
        assert_eq!(
            fold("up 12.5% — no, 13%"),
            Some("up 12.5% - no, 13%".to_owned())
        );
        assert_eq!(fold("up 12.5% on the year, 100%"), None);
        assert!(!needs_folding("up 12.5% on the year, 100%"));
        assert!(!needs_folding("a trailing backslash \\"));
        assert!(needs_folding("C:\\Users"));
        assert!(needs_folding("%2B"));
        assert!(needs_folding("a\u{00AD}b"));
    }

    /// The quick check never says "nothing to fold" for text that folding changes.
    #[test]
    fn the_quick_check_agrees_with_folding() {
        let pieces = [
            "a", "é", "%", "%4", "%40", "%+f", "%zz", "\\", "\\u002d", "—", "\u{200B}", "＠", "ｓ",
            "\u{0301}", "9", " ", "日本",
        ];
        // Every string of up to three pieces.
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let s = format!("{a}{b}{c}");
                    let unescaped = json_unescape(&s);
                    let decoded = percent_decode(&unescaped).unwrap_or(unescaped);
                    let folded: String = decoded.chars().filter_map(fold_char).collect();
                    assert_eq!(fold(&s), (folded != s).then_some(folded), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn percent_decoding_keeps_text_that_is_not_an_escape() {
        assert_eq!(percent_decode("100% sure"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff").as_deref(), Some("\u{FFFD}"));
        // One escape that is not UTF-8 leaves the others decoded.
        assert_eq!(
            percent_decode("bob%40example.com %FF %C0").as_deref(),
            Some("bob@example.com \u{FFFD} \u{FFFD}")
        );
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
    }
}
