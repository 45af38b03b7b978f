//! The text a reader would see, for text written to be missed by a scanner.
//!
//! A model (or whatever program reads the upstream's output) reads `sk\u002dor…` inside a
//! JSON string as `sk-or…`, `canary%40example.org` in a URL as an address, a fullwidth `＠`
//! as `@`, and ignores zero-width and combining characters inserted into a value. The
//! detectors match the plain forms, so [`fold`] rewrites a copy of the text into them:
//! JSON escapes decoded (leniently: lone surrogates become U+FFFD), `%XX` decoded, the
//! fullwidth ASCII block and the mathematical and circled letters mapped to ASCII, Unicode
//! dashes to `-`, line and paragraph separators to a newline, other scripts' decimal
//! digits to ASCII digits, and invisible (format) characters, combining marks and control
//! characters (a NUL, a DEL, the C1 block; not tab, line feed or carriage return) dropped.
//!
//! Letters drawn like Latin ones (Cyrillic `ѕ о р`, Greek `ο Α`, Armenian, Cherokee, Coptic,
//! Lisu, Latin small capitals) are read as Latin only inside a *mixed* word: one (between
//! white space a reader sees) that also holds an ASCII letter or an `@`, or that has eight
//! or more letters, all of them look-alikes. `ѕk-or-v1-…`, `jаne@example.org` and an
//! all-letter key in Cyrillic capitals are such words; Russian or Greek prose, and a
//! document number in Cyrillic capitals (`АВ1234563`), are not, so they are neither
//! rewritten nor scanned a second time. These are look-alikes from Unicode's confusables
//! list (UTS #39) whose prototype is one Latin letter. Tag characters, letterlike symbols,
//! Roman numerals, modifier, squared and regional-indicator letters read as the ASCII they
//! stand for.
//!
//! [`fold_aligned`] keeps where each folded character came from, so the inspection can
//! rewrite a value found only in the folded copy over the characters it was read from;
//! where escapes were decoded (or for what tag characters spell) it has no such place and
//! the inspection refuses it. Folding runs only when the text holds a character it would
//! change, so plain ASCII prose costs one byte scan.

/// The folded copy of `s`, or `None` when folding would not change it.
pub fn fold(s: &str) -> Option<String> {
    fold_aligned(s).map(|f| f.text)
}

/// A folded text, and where its characters stand in the text it was folded from.
#[derive(Debug)]
pub struct Folded {
    pub text: String,
    /// The length of the first line of `text`, the folded text proper; the lines after it
    /// are the other readings (see [`append_other_readings`]).
    main: usize,
    /// `(offset in text, offset in the original)` where each run of characters read one
    /// for one starts; `None` when escapes were decoded (a character then stands for
    /// several of the original's, and a span of the folded text has no place in it).
    runs: Option<Vec<(usize, usize)>>,
    /// Where the small capitals' lower-case reading starts, when there is one: it is laid
    /// out as the folded text proper, shifted.
    lower_case: Option<usize>,
}

impl Folded {
    /// Whether every span of the folded text has a place in the original (no escapes were
    /// decoded).
    pub fn aligned(&self) -> bool {
        self.runs.is_some()
    }

    /// Where `start..end`, a span of [`Self::text`], stands in the original: over every
    /// character it was read from, the dropped ones between them included. `None` for a
    /// span of what the tag characters spell (it stands nowhere) or when escapes were
    /// decoded.
    pub fn original(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        let runs = self.runs.as_ref()?;
        let shift = match self.lower_case {
            Some(from) if start >= from => from,
            _ => 0,
        };
        let (start, end) = (start - shift, end - shift);
        if end > self.main {
            return None;
        }
        let at = |x: usize| {
            let i = runs.partition_point(|(out, _)| *out <= x).checked_sub(1)?;
            let (out, src) = runs.get(i)?;
            Some(src + (x - out))
        };
        Some((at(start)?, at(end)?))
    }
}

/// [`fold`], keeping where each character of the folded text came from.
pub fn fold_aligned(s: &str) -> Option<Folded> {
    if !needs_folding(s) {
        return None;
    }
    let decoded = decode(s);
    let aligned = decoded == s;
    read_aligned(s, &decoded, aligned)
}

/// [`fold_aligned`] without decoding escapes: each value found in it has a place in `s`,
/// even when an escape elsewhere in `s` (`Tom &amp; Jerry`) left the full fold without one.
pub fn fold_as_written(s: &str) -> Option<Folded> {
    read_aligned(s, s, true)
}

fn read_aligned(s: &str, decoded: &str, aligned: bool) -> Option<Folded> {
    let mut out = String::with_capacity(decoded.len());
    let mut runs = vec![(0, 0)];
    // Plain ASCII never folds: copy its runs whole and look only at the other characters.
    let mut reader = Reader::default();
    let mut copied = 0;
    let mut small_capitals = Vec::new();
    for (at, c) in foldable_chars(decoded) {
        out.push_str(decoded.get(copied..at).unwrap_or_default());
        copied = at + c.len_utf8();
        match reader.read(decoded, at, c) {
            // Kept as it is: the run of characters read one for one goes on.
            Some(read) if read == c => out.push(c),
            read => {
                if let Some(read) = read {
                    if small_capital(c) {
                        small_capitals.push(out.len());
                    }
                    runs.push((out.len(), at));
                    out.push(read);
                }
                runs.push((out.len(), copied));
            }
        }
    }
    out.push_str(decoded.get(copied..).unwrap_or_default());
    let main = out.len();
    let lower_case = (!small_capitals.is_empty()).then_some(main + 1);
    append_other_readings(&mut out, decoded, &small_capitals);
    (out != s).then_some(Folded {
        text: out,
        main,
        runs: aligned.then_some(runs),
        lower_case,
    })
}

/// Adds, each on a line of its own, the readings of `decoded` that one folded text cannot
/// hold: what its tag characters spell, and `out` with its small capitals read as lower
/// case (`ꜱᴋ-or-…` is `sk-or-…` to a reader as much as `SK-OR-…`; vendor prefixes are
/// matched in their own case, and AWS's are upper case, OpenRouter's lower).
fn append_other_readings(out: &mut String, decoded: &str, small_capitals: &[usize]) {
    if !small_capitals.is_empty() {
        let mut lower = out.clone().into_bytes();
        for at in small_capitals {
            if let Some(b) = lower.get_mut(*at) {
                b.make_ascii_lowercase();
            }
        }
        if let Ok(lower) = String::from_utf8(lower) {
            out.push('\n');
            out.push_str(&lower);
        }
    }
    if let Some(message) = tag_message(decoded) {
        out.push('\n');
        out.push_str(&message);
    }
}

/// Latin small capitals (phonetic letters drawn as capitals at the height of lower case),
/// which [`latin_look_alike`] reads as capitals.
fn small_capital(c: char) -> bool {
    matches!(
        c,
        'ᴀ' | 'ʙ'
            | 'ᴄ'
            | 'ᴅ'
            | 'ᴇ'
            | 'ɢ'
            | 'ʜ'
            | 'ɪ'
            | 'ᴊ'
            | 'ᴋ'
            | 'ʟ'
            | 'ᴍ'
            | 'ɴ'
            | 'ᴏ'
            | 'ᴘ'
            | 'ʀ'
            | 'ꜱ'
            | 'ᴛ'
            | 'ᴜ'
            | 'ᴠ'
            | 'ᴡ'
            | 'ʏ'
            | 'ᴢ'
            | 'ꜰ'
            | 'ꞯ'
    )
}

/// What the tag characters in `s` spell (U+E0020..E007E are invisible ASCII, which some
/// models read: "ASCII smuggling"), or `None` when it has none. Folding drops them where
/// they stand, since one inside a visible value (a tag space between a card's groups)
/// must not split it, and adds what they spell on a line of its own, so that a value
/// written wholly in them is scanned too.
fn tag_message(s: &str) -> Option<String> {
    // Tag characters are four bytes starting F3 A0.
    memchr::memmem::find(s.as_bytes(), &[0xF3, 0xA0])?;
    let message: String = s
        .chars()
        .filter_map(|c| match u32::from(c) {
            u @ 0xE0020..=0xE007E => char::from_u32(u - 0xE0000),
            _ => None,
        })
        .collect();
    (!message.is_empty()).then_some(message)
}

/// `s` with its escapes decoded as a reader (or the program that shows it) decodes them:
/// JSON escapes, `%XX`, then HTML character references, then any `%XX` those spelled
/// (`&#37;40`).
fn decode(s: &str) -> String {
    let mut decoded = json_unescape(s);
    // Escapes escaped again (`%252D`, `&amp;#45;`, `&#37;40`) read as the first layer, then
    // the next: a few rounds, each only while one changes something.
    for _ in 0..3 {
        let percent = percent_decode(&decoded);
        let html = html_decode(percent.as_deref().unwrap_or(&decoded));
        match (percent, html) {
            (_, Some(next)) | (Some(next), None) => decoded = next,
            (None, None) => break,
        }
    }
    decoded
}

/// Whether [`fold`] could change `s`, decided without copying it. Prose is full of `%`
/// ("up 12.5% on the quarter") and `&`; only one that [`percent_decode`] or
/// [`html_decode`] would decode counts, so such text is not folded and scanned a second
/// time for nothing.
fn needs_folding(s: &str) -> bool {
    let bytes = s.as_bytes();
    for at in memchr::memchr3_iter(b'\\', b'%', b'&', bytes) {
        let changes = match bytes.get(at) {
            // Every backslash but a last one is read as (or dropped from) an escape.
            Some(b'\\') => at + 1 < bytes.len(),
            Some(b'&') => html_reference_at(s, at).is_some(),
            _ => percent_escape_at(bytes, at).is_some(),
        };
        if changes {
            return true;
        }
    }
    let mut reader = Reader::default();
    foldable_chars(s).any(|(at, c)| reader.read(s, at, c) != Some(c))
}

/// Each character of `s` that may fold (outside printable ASCII), with its byte offset.
fn foldable_chars(s: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let mut cursor = crate::byte_class::foldable(s.as_bytes());
    let mut from = 0;
    std::iter::from_fn(move || {
        let at = cursor.next_from(from)?;
        let c = s.get(at..)?.chars().next()?;
        from = at + c.len_utf8();
        Some((at, c))
    })
}

/// Reads the characters [`foldable_chars`] yields, in order, remembering what a character
/// depends on: the word it is in (for look-alikes) and the character it sits on (for
/// combining marks).
#[derive(Default)]
struct Reader {
    words: MixedWords,
    /// Where the last character read ended: text between it and the next is plain ASCII.
    read_to: usize,
    /// Whether the last character that shows and is not a mark reads as ASCII: a
    /// combining mark on it is a mark sprinkled on a value (`s\u{0483}k-or`), not part of
    /// another script's spelling, and is dropped.
    on_ascii: bool,
}

impl Reader {
    /// `c`, at byte `at` of `text`, as a reader reads it: `None` for what does not show.
    fn read(&mut self, text: &str, at: usize, c: char) -> Option<char> {
        if at > self.read_to {
            self.on_ascii = true;
        }
        self.read_to = at + c.len_utf8();
        let read = if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            None
        } else {
            match latin_look_alike(c) {
                Some(latin) if self.words.mixed(text, at) => Some(latin),
                Some(_) => Some(c),
                None => fold_char(c),
            }
        };
        match read {
            Some(r) if r == c && unicode_normalization::char::is_combining_mark(c) => {
                (!self.on_ascii).then_some(c)
            }
            Some(r) => {
                self.on_ascii = r.is_ascii();
                Some(r)
            }
            None => None,
        }
    }
}

/// Whether the word around an offset is mixed (see the module doc), remembered for the
/// word last asked about: every look-alike of a word asks, and each word is read once, so
/// a long text costs one pass however its look-alikes fall.
#[derive(Default)]
struct MixedWords {
    /// The end of the word last asked about, and whether it is mixed.
    last: Option<(usize, bool)>,
}

impl MixedWords {
    fn mixed(&mut self, text: &str, at: usize) -> bool {
        // Offsets are asked in order, so one before the last word's end is inside it.
        if let Some((_, mixed)) = self.last.filter(|(end, _)| at < *end) {
            return mixed;
        }
        let before = text.get(..at).unwrap_or_default();
        let after = text.get(at..).unwrap_or_default();
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| splits_words(*c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let end = after
            .char_indices()
            .find(|(_, c)| splits_words(*c))
            .map_or(text.len(), |(i, _)| at + i);
        let word = text.get(start..end).unwrap_or_default();
        let mixed = word.chars().any(reads_latin) || {
            // A word drawn wholly in look-alikes (`АКІАВСЕНКМОРТХАВСЕНМ`): long ones only,
            // since short words of Russian or Greek are often made of them (`сор`, `ОАО`).
            let mut look_alikes = 0;
            let whole = word.chars().filter(|c| c.is_alphabetic()).all(|c| {
                look_alikes += 1;
                latin_look_alike(c).is_some()
            });
            whole && look_alikes >= LONG_LOOK_ALIKE_WORD
        };
        self.last = Some((end, mixed));
        mixed
    }
}

/// Whether `c` makes its word mixed: an ASCII letter or `@`, or a styled one (`ｓ`, `𝐬`,
/// `＠`) that reads as one. Look-alikes do not: they are what is being decided.
fn reads_latin(c: char) -> bool {
    let latin = |r: char| r.is_ascii_alphabetic() || r == '@';
    latin(c) || (!c.is_ascii() && latin_look_alike(c).is_none() && fold_char(c).is_some_and(latin))
}

/// How many letters a word written only in look-alikes needs to be read as Latin.
const LONG_LOOK_ALIKE_WORD: usize = 8;

/// White space that separates words for the mixed-word test: white space a reader sees.
/// Controls that are white space (VT, FF, NEL) are dropped by folding, so they join.
fn splits_words(c: char) -> bool {
    c.is_whitespace() && !c.is_control()
}

/// The Latin letter a Cyrillic, Greek or Armenian letter is drawn as (Unicode's
/// confusables, UTS #39, where the prototype is one Latin letter).
fn latin_look_alike(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic.
        'а' => 'a',
        'е' => 'e',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'у' | 'ү' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'і' => 'i',
        'ј' => 'j',
        'һ' => 'h',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ӏ' => 'l',
        'ѵ' => 'v',
        'к' => 'k',
        'г' => 'r',
        'ь' | 'Ь' => 'b',
        'т' => 't',
        'м' => 'm',
        'А' => 'A',
        'В' => 'B',
        'Е' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'Х' => 'X',
        'Ү' => 'Y',
        'Ѕ' => 'S',
        'І' | 'Ӏ' => 'I',
        'Ј' => 'J',
        'Ԛ' => 'Q',
        'Ԝ' => 'W',
        'Ѵ' => 'V',
        'Ԍ' => 'G',
        'Ԁ' => 'D',
        // Greek.
        'ο' => 'o',
        'ν' => 'v',
        'ρ' => 'p',
        'ι' => 'i',
        'κ' => 'k',
        'α' => 'a',
        'ς' | 'ϲ' => 'c',
        'χ' => 'x',
        'τ' => 't',
        'υ' => 'u',
        'γ' => 'y',
        'Ϲ' => 'C',
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        'ϳ' => 'j',
        // Armenian.
        'օ' => 'o',
        'ս' => 'u',
        'հ' => 'h',
        'ո' => 'n',
        'զ' => 'q',
        'ց' => 'g',
        'Ս' => 'U',
        'Օ' => 'O',
        'Լ' => 'L',
        // Latin's dotless and phonetic letters drawn like plain ones.
        'ı' | 'ɩ' => 'i',
        'ȷ' => 'j',
        'ɑ' => 'a',
        'ſ' => 'f',
        // Latin's own small capitals and script g (phonetic letters, not prose).
        'ɡ' => 'g',
        'ᴀ' => 'A',
        'ʙ' => 'B',
        'ᴄ' => 'C',
        'ᴅ' => 'D',
        'ᴇ' => 'E',
        'ɢ' => 'G',
        'ʜ' => 'H',
        'ɪ' => 'I',
        'ᴊ' => 'J',
        'ᴋ' => 'K',
        'ʟ' => 'L',
        'ᴍ' => 'M',
        'ɴ' => 'N',
        'ᴏ' => 'O',
        'ᴘ' => 'P',
        'ʀ' => 'R',
        'ꜱ' => 'S',
        'ᴛ' => 'T',
        'ᴜ' => 'U',
        'ᴠ' => 'V',
        'ᴡ' => 'W',
        'ʏ' => 'Y',
        'ᴢ' => 'Z',
        'ꜰ' => 'F',
        'ꞯ' => 'Q',
        // Cherokee, Coptic and Lisu capitals drawn as Latin ones.
        'Ꭺ' | 'Ⲁ' | 'ꓮ' => 'A',
        'Ᏼ' | 'Ⲃ' | 'ꓐ' => 'B',
        'Ꮯ' | 'Ⲥ' | 'ꓚ' => 'C',
        'Ꭼ' | 'Ⲉ' | 'ꓰ' => 'E',
        'Ꮋ' | 'Ⲏ' | 'ꓧ' => 'H',
        'Ꮖ' | 'Ⲓ' | 'ꓲ' => 'I',
        'Ꭻ' | 'ꓙ' => 'J',
        'Ꮶ' | 'Ⲕ' | 'ꓗ' => 'K',
        'Ꮇ' | 'Ⲙ' | 'ꓟ' => 'M',
        'Ⲛ' | 'ꓠ' => 'N',
        'Ⲟ' | 'ꓳ' => 'O',
        'Ꮲ' | 'Ⲣ' | 'ꓑ' => 'P',
        'Ꮪ' | 'ꓢ' => 'S',
        'Ꭲ' | 'Ⲧ' | 'ꓔ' => 'T',
        'Ꮩ' | 'ꓦ' => 'V',
        'Ꮃ' | 'ꓪ' => 'W',
        'Ⲭ' | 'ꓫ' => 'X',
        'Ꮓ' | 'ꓜ' => 'Z',
        'Ꭰ' | 'ꓓ' => 'D',
        'Ꮐ' | 'ꓖ' => 'G',
        'Ꮮ' | 'ꓡ' => 'L',
        'Ꮢ' | 'ꓣ' => 'R',
        'ꓝ' => 'F',
        'ꓴ' => 'U',
        'ꓬ' => 'Y',
        'Ꭹ' => 'y',
        'Ꮞ' => '4',
        'Ꮾ' => '6',
        // Coptic small letters.
        'ⲁ' => 'a',
        'ⲉ' => 'e',
        'ⲓ' => 'i',
        'ⲕ' => 'k',
        'ⲙ' => 'm',
        'ⲛ' => 'n',
        'ⲟ' => 'o',
        'ⲣ' => 'p',
        'ⲥ' => 'c',
        'ⲧ' => 't',
        'ⲭ' => 'x',
        // Cherokee small letters are drawn as small capitals of the capitals above.
        '\u{AB70}'..='\u{ABBF}' => {
            let capital = char::from_u32(u32::from(c) - 0xAB70 + 0x13A0)?;
            return latin_look_alike(capital).map(|l| l.to_ascii_lowercase());
        }
        _ => return None,
    })
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
        // Letterlike symbols, Roman numerals, modifier letters, squared, parenthesised
        // and segmented forms: what their compatibility decomposition (NFKC) reads, when
        // that is one ASCII letter or digit (`K` Kelvin, `ℎ` of math italic, `Ⅰ`, `ᵏ`,
        // `🄰`, `⑷`, `⒋`, `🯴`).
        0x02B0..=0x02D6
        | 0x02D8..=0x02FF
        | 0x1D2C..=0x1D6A
        | 0x1D78
        | 0x1D9B..=0x1DBF
        | 0x2071
        | 0x207F
        | 0x2090..=0x209C
        | 0x2C7C..=0x2C7D
        | 0xA770
        | 0xA7F2..=0xA7F4
        | 0xA7F8..=0xA7F9
        | 0xAB5C..=0xAB5F
        | 0xAB69
        | 0x10780..=0x107BA
        | 0x2100..=0x218F
        | 0x2474..=0x24B5
        | 0x1F100..=0x1F10A
        | 0x1F10D..=0x1F14F
        | 0x1F16A..=0x1F16F
        | 0x1F18A..=0x1F1E5
        | 0x1FBF0..=0x1FBF9 => compatibility_ascii(c).or(Some(c)),
        // Negative circled and negative squared letters (no decomposition).
        0x1F150..=0x1F169 => char::from_u32(u - 0x1F150 + u32::from(b'A')),
        0x1F170..=0x1F189 => char::from_u32(u - 0x1F170 + u32::from(b'A')),
        // Dingbat zeros, and the regional indicators flags are written with.
        0x1F10B | 0x1F10C => Some('0'),
        0x1F1E6..=0x1F1FF => char::from_u32(u - 0x1F1E6 + u32::from(b'A')),
        // The mathematical letters: thirteen styles (bold, italic, script, fraktur,
        // double-struck, sans-serif, monospace…) of `A`–`Z` then `a`–`z`, 52 code points
        // each. The few unassigned ones (their letters live in Letterlike Symbols) never
        // occur in valid text.
        0x1D400..=0x1D6A3 => {
            let i = u8::try_from((u - 0x1D400) % 52).ok()?;
            Some(char::from(if i < 26 { b'A' + i } else { b'a' + i - 26 }))
        }
        // Circled letters.
        0x24B6..=0x24CF => char::from_u32(u - 0x24B6 + u32::from(b'A')),
        0x24D0..=0x24E9 => char::from_u32(u - 0x24D0 + u32::from(b'a')),
        // Hyphens, dashes and minus signs (Unicode's dash punctuation, and the minus
        // signs drawn like it).
        0x2010..=0x2015
        | 0x2212
        | 0xFE58
        | 0xFE63
        | 0x058A
        | 0x05BE
        | 0x1400
        | 0x1806
        | 0x2E17
        | 0x2E1A
        | 0x2E3A
        | 0x2E3B
        | 0x2E40
        | 0x2E5D
        | 0x301C
        | 0x3030
        | 0x30A0
        | 0xFE31
        | 0xFE32
        | 0x10EAD
        | 0x02D7
        | 0x2043
        | 0x2796
        | 0x207B
        | 0x208B => Some('-'),
        0x207A | 0x208A => Some('+'),
        // The Braille blank reads as a space.
        0x2800 => Some(' '),
        0xFE6B => Some('@'),
        // Full stops, the ideographic ones included (IDNA reads them as a domain's dots).
        0x2024 | 0xFE52 | 0x3002 | 0xFF61 => Some('.'),
        // Fraction and division slashes.
        0x2044 | 0x2215 => Some('/'),
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
        // Double-circled digits, and the Ethiopic and New Tai Lue digits one to nine
        // (numbers with digit values, though not decimal digits).
        0x24F5..=0x24FD => char::from_u32(u - 0x24F5 + u32::from(b'1')),
        0x1369..=0x1371 => char::from_u32(u - 0x1369 + u32::from(b'1')),
        0x19DA => Some('1'),
        0x2776..=0x277E => char::from_u32(u - 0x2776 + u32::from(b'1')),
        0x2780..=0x2788 => char::from_u32(u - 0x2780 + u32::from(b'1')),
        0x278A..=0x2792 => char::from_u32(u - 0x278A + u32::from(b'1')),
        // Characters that do not show: Unicode's default-ignorable code points (soft
        // hyphen, zero-width and direction marks and isolates, word joiners, BOM,
        // variation selectors, Hangul fillers, Mongolian and shorthand format controls,
        // musical formatting, the unassigned and tag planes' rest) and its other format
        // characters (prepended number signs, interlinear annotation, hieroglyph
        // controls), plus two that draw nothing (Khitan filler, the null notehead).
        0x00AD
        | 0x034F
        | 0x061C
        | 0x115F
        | 0x1160
        | 0x17B4
        | 0x17B5
        | 0x180B..=0x180F
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x206F
        | 0x3164
        | 0xFE00..=0xFE0F
        | 0xFEFF
        | 0xFFA0
        | 0xFFF0..=0xFFFB
        | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF
        | 0x0600..=0x0605
        | 0x06DD
        | 0x070F
        | 0x0890
        | 0x0891
        | 0x08E2
        | 0x110BD
        | 0x110CD
        | 0x13430..=0x1345F
        | 0x16FE4
        | 0x1D159 => None,
        // Private-use characters (a font's icons, or nothing) and noncharacters: neither
        // is text a reader reads as part of a value.
        0xE000..=0xF8FF | 0xF0000..=0x10FFFF | 0xFDD0..=0xFDEF => None,
        _ if u & 0xFFFE == 0xFFFE => None,
        // Combining marks a value can be sprinkled with (whatever they sit on; any other
        // mark is dropped when it sits on ASCII: see `Reader`).
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F => {
            None
        }
        // Decimal digits of other scripts, which a model reads as digits.
        _ => script_digit(u).or(Some(c)),
    }
}

/// `c`'s compatibility decomposition when it is one ASCII letter or digit (a parenthesised
/// `⑷` or a `⒋` with its full stop reads as its digit).
fn compatibility_ascii(c: char) -> Option<char> {
    let mut read = None;
    let mut others = 0;
    unicode_normalization::char::decompose_compatible(c, |d| {
        if d.is_ascii_alphanumeric() && read.is_none() {
            read = Some(d);
        } else if !matches!(d, '(' | ')' | '.') {
            others += 1;
        }
    });
    read.filter(|_| others == 0)
}

/// The zero of each script's decimal digits (Unicode's `Nd` blocks, ten code points from
/// each zero) that [`fold_char`] maps to ASCII, in order.
const DIGIT_ZEROS: [u32; 68] = [
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0x104A0, 0x10D30, 0x10D40, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0,
    0x11650, 0x116C0, 0x116D0, 0x116DA, 0x11730, 0x118E0, 0x11950, 0x11BF0, 0x11C50, 0x11D50,
    0x11DA0, 0x11F50, 0x16130, 0x16A60, 0x16AC0, 0x16B50, 0x16D70, 0x1CCF0, 0x1E140, 0x1E2F0,
    0x1E4F0, 0x1E5F1, 0x1E950,
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
            // JavaScript's and C's `\x2d`, and JavaScript's and Rust's `\u{2d}`.
            Some('x') => {
                let hex: String = chars.clone().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(v) if hex.len() == 2 => {
                        chars.nth(1);
                        out.push(char::from(v));
                    }
                    _ => out.push('x'),
                }
            }
            Some('u') if chars.peek() == Some(&'{') => {
                let body: String = chars
                    .clone()
                    .skip(1)
                    .take_while(|c| *c != '}')
                    .take(7)
                    .collect();
                match u32::from_str_radix(&body, 16).ok().and_then(char::from_u32) {
                    Some(c) if chars.clone().nth(body.len() + 1) == Some('}') => {
                        chars.nth(body.len() + 1);
                        out.push(c);
                    }
                    _ => out.push('u'),
                }
            }
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

/// The character an HTML character reference starting at byte `at` (its `&`) stands for,
/// and the reference's length: `&#64;`, `&#x40;` (the `;` optional, as browsers read
/// them), and the named references that spell ASCII punctuation, dashes, spaces, or a
/// letter in a mathematical style (`&commat;`, `&hyphen;`, `&nbsp;`, `&sopf;`).
fn html_reference_at(s: &str, at: usize) -> Option<(char, usize)> {
    let rest = s.get(at + 1..)?;
    if let Some(number) = rest.strip_prefix('#') {
        let (digits, radix, skip) = match number.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (number, 10, 1),
        };
        let len = digits
            .bytes()
            .take(8)
            .take_while(|b| (*b as char).is_digit(radix))
            .count();
        if len == 0 {
            return None;
        }
        let value = u32::from_str_radix(digits.get(..len)?, radix).ok()?;
        let c = char::from_u32(value).unwrap_or('\u{FFFD}');
        let semi = usize::from(digits.as_bytes().get(len) == Some(&b';'));
        return Some((c, 1 + skip + len + semi));
    }
    let len = rest
        .bytes()
        .take(12)
        .take_while(u8::is_ascii_alphanumeric)
        .count();
    let name = rest.get(..len)?;
    if rest.as_bytes().get(len) != Some(&b';') {
        return None;
    }
    let c = named_reference(name)?;
    Some((c, 1 + len + 1))
}

/// The named references (HTML's list) a value can be spelled with.
fn named_reference(name: &str) -> Option<char> {
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "excl" => '!',
        "num" => '#',
        "dollar" => '$',
        "percnt" => '%',
        "lpar" => '(',
        "rpar" => ')',
        "ast" | "midast" => '*',
        "plus" => '+',
        "comma" => ',',
        "period" => '.',
        "sol" => '/',
        "colon" => ':',
        "semi" => ';',
        "equals" => '=',
        "quest" => '?',
        "commat" => '@',
        "lsqb" | "lbrack" => '[',
        "bsol" => '\\',
        "rsqb" | "rbrack" => ']',
        "Hat" => '^',
        "lowbar" | "UnderBar" => '_',
        "grave" | "DiacriticalGrave" => '`',
        "lcub" | "lbrace" => '{',
        "verbar" | "vert" | "VerticalLine" => '|',
        "rcub" | "rbrace" => '}',
        "hyphen" | "dash" => '-',
        "minus" | "ndash" | "mdash" => '-',
        "nbsp" | "NonBreakingSpace" | "ensp" | "emsp" | "thinsp" | "numsp" => ' ',
        "Tab" => '\t',
        "NewLine" => '\n',
        "shy" | "zwj" | "zwnj" | "lrm" | "rlm" | "NoBreak" | "ZeroWidthSpace"
        | "InvisibleTimes" | "it" | "InvisibleComma" | "ic" | "af" | "ApplyFunction" => '\u{200B}',
        _ => {
            // `&Aopf;` `&ascr;` `&Bfr;`: double-struck, script and fraktur letters.
            let letter = name.chars().next().filter(char::is_ascii_alphabetic)?;
            let style = name.get(1..)?;
            return matches!(style, "opf" | "scr" | "fr").then_some(letter);
        }
    })
}

/// HTML character references decoded (see [`html_reference_at`]); `None` when there are
/// none. What a page or a Markdown renderer shows, and what a model reads.
pub fn html_decode(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut copied = 0;
    for at in memchr::memchr_iter(b'&', s.as_bytes()) {
        if at < copied {
            continue;
        }
        let Some((c, len)) = html_reference_at(s, at) else {
            continue;
        };
        out.push_str(s.get(copied..at).unwrap_or_default());
        out.push(c);
        copied = at + len;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(s.get(copied..).unwrap_or_default());
    Some(out)
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

    /// Folding written the slow way: every character on its own, each word's script mix
    /// decided from the whole word, each mark's base found by looking back.
    fn reference_fold(s: &str) -> String {
        let decoded = decode(s);
        let mut out = String::new();
        let mut small_capitals = Vec::new();
        for word in decoded.split_inclusive(splits_words) {
            let letters: Vec<char> = word.chars().filter(|c| c.is_alphabetic()).collect();
            let mixed = word.chars().any(reads_latin)
                || (letters.len() >= LONG_LOOK_ALIKE_WORD
                    && letters.iter().all(|c| latin_look_alike(*c).is_some()));
            for c in word.chars() {
                if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
                    continue;
                }
                let read = match latin_look_alike(c) {
                    Some(latin) if mixed => Some(latin),
                    Some(_) => Some(c),
                    None => fold_char(c),
                };
                let Some(read) = read else { continue };
                let mark = read == c && unicode_normalization::char::is_combining_mark(c);
                // The base a mark sits on: the last character kept that is not a mark.
                let base = out
                    .chars()
                    .rev()
                    .find(|k| !unicode_normalization::char::is_combining_mark(*k));
                if mark && base.is_some_and(|b| b.is_ascii()) {
                    continue;
                }
                if read != c && small_capital(c) {
                    small_capitals.push(out.len());
                }
                out.push(read);
            }
        }
        append_other_readings(&mut out, &decoded, &small_capitals);
        out
    }

    #[test]
    fn look_alikes_read_as_latin_in_mixed_words_only() {
        // A Cyrillic `ѕ` and `о` in a key's prefix, a Cyrillic `а` in an address, a Greek
        // capital in an identifier: each word also holds Latin letters or digits.
        assert_eq!(fold("ѕk-оr-v1-ab12").as_deref(), Some("sk-or-v1-ab12"));
        assert_eq!(
            fold("mail jаne@example.org").as_deref(),
            Some("mail jane@example.org")
        );
        assert_eq!(fold("ΑKIA1234").as_deref(), Some("AKIA1234"));
        // Every letter a look-alike: the `@` still marks it.
        assert_eq!(
            fold("јаnе@ехаmрlе.соm").as_deref(),
            Some("jane@example.com")
        );
        // Russian and Greek prose is left as it is, and not scanned twice.
        assert_eq!(fold("Сорок пять рублей за кофе"), None);
        assert_eq!(fold("Καλημέρα σας, Ορέστη"), None);
        assert!(!needs_folding("Привет, как дела? Это ваш заказ."));
        // A mixed word beside pure ones: only it changes.
        assert_eq!(
            fold("пароль: раѕѕw0rd сорок").as_deref(),
            Some("пароль: passw0rd сорок")
        );
        // Digits alone do not make a word mixed: a document number in Cyrillic capitals
        // (`АВ1234563`) is not a DEA number.
        assert_eq!(fold("Свидетельство АВ1234563 выдано"), None);
        // A long word wholly of look-alikes does; a short one does not.
        assert_eq!(
            fold("key АКІАВСЕНКМОРТХАВСЕНМ").as_deref(),
            Some("key AKIABCEHKMOPTXABCEHM")
        );
        assert_eq!(fold("СССР"), None);
        // White space that folding drops does not split a word.
        assert_eq!(fold("ѕ\u{85}k-or").as_deref(), Some("sk-or"));
        assert_eq!(fold("ѕ\u{b}k-or").as_deref(), Some("sk-or"));
        // Letters missing from the first list.
        assert_eq!(fold("ѕк-or").as_deref(), Some("sk-or"));
        assert_eq!(fold("χoxb-1").as_deref(), Some("xoxb-1"));
        assert_eq!(fold("ᴀᴋɪᴀIOSF").as_deref(), Some("AKIAIOSF\nakiaIOSF"));
        assert_eq!(fold("ꜱᴋ-or").as_deref(), Some("SK-or\nsk-or"));
        assert_eq!(fold("ᎪᏦIᎪ1").as_deref(), Some("AKIA1"));
    }

    #[test]
    fn control_characters_and_styled_letters_read_as_a_reader_sees_them() {
        assert_eq!(fold("sk-or\u{0}-v1").as_deref(), Some("sk-or-v1"));
        assert_eq!(fold("sk-or\\u0000-v1").as_deref(), Some("sk-or-v1"));
        assert_eq!(
            fold("sk\u{7f}-or\u{85}-v1\u{1b}").as_deref(),
            Some("sk-or-v1")
        );
        assert_eq!(fold("tab\tand\nnew\r\nline"), None);
        assert_eq!(fold("𝐬𝐤-𝘰𝘳-𝚟𝟷").as_deref(), Some("sk-or-v1"));
        assert_eq!(fold("ⓢⓚ-Ⓞⓡ").as_deref(), Some("sk-Or"));
        // Tag characters, letterlike symbols, Roman numerals, modifier, squared and
        // regional-indicator letters, other digits, dashes, blanks and format controls.
        let tags: String = "sk-or"
            .chars()
            .map(|c| char::from_u32(0xE0000 + u32::from(c)).unwrap())
            .collect();
        assert_eq!(fold(&tags).as_deref(), Some("\nsk-or"));
        // A tag space or comma inside a visible value does not split it.
        let (space, comma) = ('\u{E0020}', '\u{E002C}');
        assert_eq!(
            fold(&format!("4532{comma}0151 jane{space}@example.org")).as_deref(),
            Some("45320151 jane@example.org\n, ")
        );
        // HTML character references, decimal, hexadecimal and named.
        assert_eq!(fold("sk&#45;or&#x2D;v1").as_deref(), Some("sk-or-v1"));
        assert_eq!(
            fold("jane&commat;example&period;org").as_deref(),
            Some("jane@example.org")
        );
        assert_eq!(fold("&sopf;&kscr;-or").as_deref(), Some("sk-or"));
        assert_eq!(fold("&#37;40").as_deref(), Some("@"));
        assert_eq!(fold("sk%252Dor&amp;#45;v1").as_deref(), Some("sk-or-v1"));
        assert_eq!(fold("sk\\x2dor\\u{2d}v1").as_deref(), Some("sk-or-v1"));
        assert_eq!(fold("a\\xZZ \\u{zz}").as_deref(), Some("axZZ u{zz}"));
        assert_eq!(
            fold("fish & chips &c. &amp;"),
            Some("fish & chips &c. &".to_owned())
        );
        assert!(!needs_folding("fish & chips &c. R&D"));
        assert_eq!(fold("A\u{212A}IA").as_deref(), Some("AKIA"));
        assert_eq!(fold("AKⅠA").as_deref(), Some("AKIA"));
        assert_eq!(fold("𝑔ℎ𝑝_1").as_deref(), Some("ghp_1"));
        assert_eq!(fold("𝔸ℕℙℚ").as_deref(), Some("ANPQ"));
        assert_eq!(fold("ˢᵏ-or").as_deref(), Some("sk-or"));
        assert_eq!(fold("🄰🄺🅸🅰").as_deref(), Some("AKIA"));
        assert_eq!(fold("🇸🇰-or").as_deref(), Some("SK-or"));
        assert_eq!(fold("⑷⑸⒊🄋🯴").as_deref(), Some("45304"));
        assert_eq!(fold("𞥔𞥕").as_deref(), Some("45"));
        assert_eq!(fold("123֊45〜6789").as_deref(), Some("123-45-6789"));
        assert_eq!(fold("4532⠀0151").as_deref(), Some("4532 0151"));
        assert_eq!(
            fold("s\u{FFF9}k\u{1BCA0}-\u{180B}or").as_deref(),
            Some("sk-or")
        );
        // A multi-digit parenthesised number is not one digit.
        assert_eq!(fold("⑽"), None);
    }

    #[test]
    fn what_a_review_got_past_the_first_fold() {
        // Every default-ignorable and format character, not only the common ones.
        for hidden in [
            '\u{2066}',
            '\u{2069}',
            '\u{2065}',
            '\u{E0100}',
            '\u{E01EF}',
            '\u{E0000}',
            '\u{E0080}',
            '\u{FFF0}',
            '\u{1D173}',
            '\u{13430}',
            '\u{16FE4}',
            '\u{1D159}',
            '\u{0600}',
        ] {
            assert_eq!(
                fold(&format!("sk{hidden}-or")).as_deref(),
                Some("sk-or"),
                "{hidden:?}"
            );
        }
        // Any combining mark on ASCII is dropped; on its own script's letter it stays.
        assert_eq!(fold("sk\u{0483}-or").as_deref(), Some("sk-or"));
        assert_eq!(
            fold("sk\u{E000}-o\u{FFFF}r\u{FDD0}").as_deref(),
            Some("sk-or")
        );
        assert_eq!(fold("123-4\u{3099}5").as_deref(), Some("123-45"));
        assert_eq!(fold("a\u{0591}\u{0592}b").as_deref(), Some("ab"));
        assert_eq!(fold("שָׁלוֹם"), None);
        assert_eq!(fold("नमस्ते दुनिया"), None);
        assert_eq!(fold("が\u{3099}"), None);
        // Styled letters and a fullwidth or small `@` make a word mixed.
        assert_eq!(fold("ｓｋ－оｒ").as_deref(), Some("sk-or"));
        assert_eq!(fold("𝐠𝐡𝐩е_1").as_deref(), Some("ghpe_1"));
        assert_eq!(fold("јое1984＠хо.іо").as_deref(), Some("joe1984@xo.io"));
        assert_eq!(fold("јое1984﹫хо.іо").as_deref(), Some("joe1984@xo.io"));
        // Look-alikes the first table lacked.
        assert_eq!(fold("sk-ⲟr").as_deref(), Some("sk-or"));
        assert_eq!(fold("AKIA6ꓡ3V").as_deref(), Some("AKIA6L3V"));
        assert_eq!(fold("Ꭰx ꮃx ըx").as_deref(), Some("Dx wx ըx"));
        assert_eq!(fold("ıȷɑſx").as_deref(), Some("ijafx"));
        // Modifier and subscript letters, minus signs, parenthesised letters.
        assert_eq!(fold("sk⁻or₋v1").as_deref(), Some("sk-or-v1"));
        assert_eq!(fold("ghₚ_1").as_deref(), Some("ghp_1"));
        assert_eq!(fold("ᶜᶠⁱⁿᶻⱽⱼ").as_deref(), Some("cfinzVj"));
        assert_eq!(fold("⒮⒦").as_deref(), Some("sk"));
        assert_eq!(fold("⁺44").as_deref(), Some("+44"));
        // Double-circled, Ethiopic and other scripts' digits.
        assert_eq!(fold("⓸⓹⓷⓶").as_deref(), Some("4532"));
        assert_eq!(fold("፬፭").as_deref(), Some("45"));
        assert_eq!(fold("᪔᪕᪓᪒").as_deref(), Some("4532"));
        assert_eq!(fold("\u{11F54}\u{1E4F5}").as_deref(), Some("45"));
    }

    /// A span of the folded text stands, in the original, over every character it was read
    /// from and the dropped ones between them.
    #[test]
    fn folded_spans_map_back_to_the_original() {
        let s = "call ０３－１２\u{200B}３４ or ѕk-or now";
        let f = fold_aligned(s).unwrap();
        let at = |needle: &str| {
            let i = f.text.find(needle).unwrap();
            let (a, b) = f.original(i, i + needle.len()).unwrap();
            &s[a..b]
        };
        assert_eq!(at("03-1234"), "０３－１２\u{200B}３４");
        assert_eq!(at("sk-or"), "ѕk-or");
        assert_eq!(at("call"), "call");
        assert_eq!(at("now"), "now");
        // Small capitals' lower-case line maps like the first; escapes and tag characters
        // have no place in the original.
        let s = "key ꜱᴋ-or";
        let f = fold_aligned(s).unwrap();
        let i = f.text.rfind("sk-or").unwrap();
        assert_eq!(f.original(i, i + 5).map(|(a, b)| &s[a..b]), Some("ꜱᴋ-or"));
        let f = fold_aligned("sk\\u002dor").unwrap();
        assert_eq!(f.original(0, 5), None);
        let f = fold_aligned("x\u{E0061}").unwrap();
        assert_eq!(f.text, "x\na");
        assert_eq!(f.original(2, 3), None);
    }

    /// Each listed zero starts ten numeric characters (Rust's own Unicode tables agree).
    #[test]
    fn every_digit_block_is_ten_numbers() {
        for zero in DIGIT_ZEROS {
            for d in 0..10 {
                let c = char::from_u32(zero + d).unwrap();
                assert!(c.is_numeric(), "{c:?} of U+{zero:X}");
            }
        }
        assert!(DIGIT_ZEROS.windows(2).all(|w| w[0] + 10 <= w[1]));
    }

    /// The quick check never says "nothing to fold" for text that folding changes.
    #[test]
    fn the_quick_check_agrees_with_folding() {
        let pieces = [
            "a",
            "é",
            "%",
            "%4",
            "%40",
            "%+f",
            "%zz",
            "\\",
            "\\u002d",
            "—",
            "\u{200B}",
            "＠",
            "ｓ",
            "\u{0301}",
            "9",
            " ",
            "日本",
            "\u{0}",
            "\u{7F}",
            "\u{85}",
            "\t",
            "ѕ",
            "о",
            "Α",
            "@",
            "да",
            "٣",
            "𝐬",
            "ⓚ",
            "АКІАВСЕН",
            "ℎ",
            "\u{E0061}",
            "\u{E0020}",
            "&#64;",
            "&amp;",
            "&",
            "。",
            "⑽",
            "\u{b}",
            "\u{0483}",
            "\u{3099}",
            "к",
            "ｘ",
            "\u{2066}",
            "⓵",
            "ⲟ",
            "ᴋ",
        ];
        // Every string of up to three pieces.
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let s = format!("{a}{b}{c}");
                    let folded = reference_fold(&s);
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
