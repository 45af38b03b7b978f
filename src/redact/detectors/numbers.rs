//! The digit scan: one pass over the bytes finds every run of digit groups (`+49 (0)30
//! 1234567`, `4111-1111-1111-1111`, `192.168.0.1`, `2024-03-15`) and hands each run to the
//! number detectors in a fixed order, so one run gets one reading:
//!
//! 1. IBAN-shaped runs (two capitals and two digits before) belong to the IBAN check, valid
//!    or not; their digit groups are never phones or cards.
//! 2. Runs glued to a word (`A-2024-123456`, `1Z999…`, `v1.2.3`, `/users/12345`, `12:30`) are
//!    identifiers or times and are skipped.
//! 3. Dot runs: four groups are an IPv4 candidate, dates and version strings are barriers.
//!    `-`/`/` dates are barriers too (a date of birth is found by its context word instead).
//! 4. Between barriers: card (IIN, length, Luhn; not after an order/invoice/tracking label),
//!    SSN (dashed, or spaced/bare after an SSN word), then phone (libphonenumber).
//! 5. A short number followed by a word may start a street address.

use smallvec::SmallVec;

use super::{
    address::Address, cards, iban, ip, phone, ssn, text, Hit, CREDIT_CARD, IBAN, IP_ADDRESS, PHONE,
    SECRET, US_SSN,
};

/// Labels that make the number right after them an order, invoice, tracking or reference
/// number (lower case; the label must be the last word before the number, give or take
/// `#`, `:`, `no.`, `number`). Two-letter labels are only taken in capitals (`PO`, `ID`):
/// in lower case they are ordinary syllables of prose.
const ID_WORDS: &[&str] = &[
    "order",
    "invoice",
    "inv",
    "tracking",
    "track",
    "ref",
    "reference",
    "ticket",
    "case",
    "confirmation",
    "booking",
    "shipment",
    "awb",
    "waybill",
    "transaction",
    "txn",
    "sku",
    "serial",
    "bestellung",
    "bestellnummer",
    "rechnung",
    "rechnungsnummer",
    "commande",
    "facture",
    "pedido",
    "factura",
    "ordine",
    "fattura",
    "parcel",
    "package",
    "consignment",
    "receipt",
    "policy",
    "account",
    "acct",
    "item",
    "part",
    "model",
    "batch",
    "lot",
    "isbn",
    "issn",
    "ean",
    "upc",
    "gtin",
];
const ID_CAPS: &[&str] = &[
    "PO", "P.O", "ID", "Id", "No", "NO", "REF", "INV", "SKU", "PNR",
];

/// Whether the number starting at `start` carries an identifier label.
fn labelled_id(text: &str, start: usize) -> bool {
    if text::before(text, start) == Some(b'#') {
        return true;
    }
    let from = text::ceil(text, start.saturating_sub(40));
    let mut w = text.get(from..start).unwrap_or_default();
    let trim = |s: &str| {
        s.trim_end_matches([' ', '#', ':', '.', '-', '\t', '(', '='])
            .len()
    };
    w = w.get(..trim(w)).unwrap_or_default();
    let last_word = |w: &str| -> String {
        w.rsplit(|c: char| !(c.is_alphanumeric() || c == '.'))
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    // `Customer ID 4111…`: an identifier label in capitals on its own.
    if ID_CAPS.contains(&last_word(w).as_str()) {
        return true;
    }
    // `transaction id`, `order no.`: a qualifier after an identifier word, in any case.
    for suffix in [
        "number", "nummer", "numero", "num", "no", "nr", "n°", "nº", "id",
    ] {
        let n = w.len().saturating_sub(suffix.len());
        if w.get(n..).is_some_and(|t| t.eq_ignore_ascii_case(suffix)) && text::word_start(w, n) {
            w = w.get(..n).unwrap_or_default();
            w = w.get(..trim(w)).unwrap_or_default();
            break;
        }
    }
    let last = w
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '.'))
        .next()
        .unwrap_or_default();
    ID_CAPS.contains(&last) || ID_WORDS.iter().any(|l| l.eq_ignore_ascii_case(last))
}

/// The separator character at `at` between the digit groups of one run, and its length in
/// bytes: ` - . ( ) / _`, or a Unicode space (no-break, thin, narrow no-break, ideographic…),
/// which a reader sees as the gap between groups that a space is.
fn sep_at(b: &[u8], at: usize) -> Option<usize> {
    match b.get(at..).unwrap_or_default() {
        [b' ' | b'-' | b'.' | b'(' | b')' | b'/' | b'_', ..] => Some(1),
        [0xC2, 0xA0, ..] => Some(2),
        [0xE1, 0x9A, 0x80, ..]
        | [0xE2, 0x80, 0x80..=0x8A | 0xAF, ..]
        | [0xE2, 0x81, 0x9F, ..]
        | [0xE3, 0x80, 0x80, ..] => Some(3),
        _ => None,
    }
}

/// One run of digit groups.
struct Run<'t> {
    text: &'t str,
    /// Where the run starts, a leading `+` or `(` included.
    lead: usize,
    groups: Groups,
}

/// At most this many groups make one run (the scanner stops extending a run there).
const MAX_GROUPS: usize = 12;

/// A run's digit groups, `(start, end)` each: on the stack, since a run has at most
/// [`MAX_GROUPS`] and a text holds many runs.
type Groups = SmallVec<[(usize, usize); MAX_GROUPS]>;

impl Run<'_> {
    /// The separator between groups `k` and `k + 1`, a Unicode space read as ` `.
    fn sep(&self, k: usize) -> &str {
        match (self.groups.get(k), self.groups.get(k + 1)) {
            (Some(a), Some(b)) => {
                let sep = self.text.get(a.1..b.0).unwrap_or_default();
                if sep.len() > 1 && sep.chars().count() == 1 && sep.chars().all(char::is_whitespace)
                {
                    " "
                } else {
                    sep
                }
            }
            _ => "",
        }
    }
    fn size(&self, k: usize) -> usize {
        self.groups.get(k).map_or(0, |g| g.1 - g.0)
    }
    fn start(&self, k: usize) -> usize {
        if k == 0 {
            self.lead
        } else {
            self.groups.get(k).map_or(0, |g| g.0)
        }
    }
    fn end(&self, k: usize) -> usize {
        self.groups.get(k).map_or(0, |g| g.1)
    }
    fn value(&self, k: usize) -> u32 {
        let (s, e) = self.groups.get(k).copied().unwrap_or_default();
        self.text
            .get(s..e)
            .and_then(|v| v.get(..v.len().min(9)))
            .and_then(|v| v.parse().ok())
            .unwrap_or(u32::MAX)
    }
}

/// Scans `text` for every number-shaped value.
pub(crate) fn scan(text: &str, address: &Address, out: &mut Vec<Hit>) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut digits = crate::byte_class::digits(b);
    while let Some(d0) = digits.next_from(i) {
        // 1. IBANs claim their whole run.
        if d0 >= 2
            && b.get(d0 - 1).is_some_and(u8::is_ascii_uppercase)
            && b.get(d0 - 2).is_some_and(u8::is_ascii_uppercase)
        {
            if let Some(found) = iban::read(text, d0 - 2) {
                if found.valid {
                    out.push(Hit::new(d0 - 2, found.end, IBAN));
                }
                i = found.end.max(d0 + 1);
                continue;
            }
        }
        let prev = text::before(text, d0);
        let prev2 = d0.checked_sub(2).and_then(|j| b.get(j).copied());
        let lead = match prev {
            Some(b'+' | b'(') => d0 - 1,
            _ => d0,
        };
        let glued_before = match prev {
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => true,
            // Only a letter glues (`№`, `：`, `は` in unspaced scripts do not).
            Some(c) if c >= 0x80 => text::char_before(text, d0).is_some_and(text::word_char),
            Some(b'-' | b'.' | b'/' | b'\\') => prev2.is_some_and(|c| c.is_ascii_alphanumeric()),
            Some(b':') => prev2.is_some_and(|c| c.is_ascii_digit()),
            _ => false,
        };
        // Extend the run over groups joined by short separators. The groups are pushed
        // where they stay (a run is built in place, not moved: it is ~200 bytes).
        let mut run = Run {
            text,
            lead,
            groups: Groups::new(),
        };
        let mut digit_count = 0;
        let mut j = d0;
        loop {
            let gs = j;
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            digit_count += j - gs;
            let groups = &mut run.groups;
            groups.push((gs, j));
            let mut k = j;
            let mut seps = 0;
            let mut spaces = 0;
            while seps < 3 {
                let Some(n) = sep_at(b, k) else { break };
                spaces += usize::from(n > 1 || b.get(k) == Some(&b' '));
                seps += 1;
                k += n;
            }
            let one_space = spaces <= 1;
            if k > j
                && one_space
                && b.get(k).is_some_and(u8::is_ascii_digit)
                && groups.len() < MAX_GROUPS
            {
                j = k;
            } else {
                break;
            }
        }
        i = j;
        // A short number before a word may start an address (`221B Baker Street`).
        if let Some(&(gs, ge)) = run.groups.last() {
            let after = b.get(ge..ge + 3).unwrap_or_default();
            let word_follows = match after {
                [b' ', c, ..] => c.is_ascii_alphabetic(),
                [c, b' ', d] => c.is_ascii_alphabetic() && d.is_ascii_uppercase(),
                _ => false,
            };
            if ge - gs <= 5 && word_follows && (run.groups.len() > 1 || !glued_before) {
                address.number_first(text, gs, out);
            }
        }
        let after = b.get(j).copied();
        let after2 = b.get(j + 1).copied();
        // Telegram bot tokens: `123456789:AA…` (35 characters after the colon), alone or in
        // the Bot API's URL form `…/bot<token>/getMe`.
        let bot_url = text.get(..d0).is_some_and(|t| t.ends_with("/bot"));
        if run.groups.len() == 1
            && (8..=10).contains(&run.size(0))
            && after == Some(b':')
            && (!glued_before || bot_url)
        {
            telegram(text, d0, j, out);
            continue;
        }
        // `4111_1111_1111_1111`, `4111\n1111\n…`: card groups split by what joins no
        // other number.
        if run.groups.len() == 1 && run.size(0) == 4 {
            if let Some(end) = split_card(text, d0, out) {
                i = end;
                continue;
            }
        }
        let glued_after = match after {
            Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b':' => true,
            Some(b'-' | b'/') => after2.is_some_and(|c| c.is_ascii_alphanumeric()),
            _ => false,
        };
        // A number glued to a word is an identifier (`A-2024-123456`, `v1.2.3`), unless it
        // is a whole card or a dashed SSN glued to a letter or a path (`x4492…`,
        // `card_4492…`, `/pay/4492…`, `file_219-09-9999.pdf`), or a card with letters
        // right after it (`4492…exp1227`): a reader still sees the value, and no
        // identifier scheme yields a network's prefix, length and Luhn digit (or an issued
        // SSN's dashed shape) by chance often enough to matter. Glued on both sides
        // (inside a hex digest), it stays an identifier.
        if glued_before || glued_after && after.is_some_and(|c| c.is_ascii_alphabetic()) {
            // Most glued numbers (ids, versions, hex) are shorter than an SSN: they stop at
            // the count, before any check that reads the text.
            let last = run.groups.len() - 1;
            // Inside a token (`…f4532…c`, a hex digest) rather than between path segments
            // (`/pay/4532…/confirm`) or before punctuation (`4532…:`).
            let both = prev.is_some_and(|c| c.is_ascii_alphanumeric())
                && after.is_some_and(|c| c.is_ascii_alphanumeric());
            if both || prev == Some(b':') || digit_count < 9 {
                continue;
            }
            if card_in(&run, 0, last, CARD_SEPS) {
                report_card(&run, 0, last, out);
            } else if let Some((s, e)) = card_beside(&run, 0, last) {
                // `card 4532… (3DS)`: the card, then a number glued to a word.
                report_card(&run, s, e, out);
            } else if glued_before
                && run.groups.iter().map(|g| g.1 - g.0).eq([3, 2, 4])
                && run.sep(0) == "-"
                && run.sep(1) == "-"
                && ssn::ssn(text.get(d0..j).unwrap_or_default())
                && !labelled_id(text, d0)
            {
                out.push(Hit::new(d0, j, US_SSN));
            }
            continue;
        }
        // Nothing under seven digits is a card, an SSN or a phone number; only four dotted
        // groups (an IPv4 address) can be shorter. Most numbers in text (years, amounts,
        // counts, times) end here.
        if digit_count < 7 && run.groups.len() < 4 {
            continue;
        }
        classify(&run, glued_after, out);
    }
}

/// The separators that split a card's groups in [`split_card`] and nowhere else: a run of
/// digit groups joined by them is no phone, date or address.
fn split_sep(b: &[u8], at: usize) -> Option<usize> {
    match b.get(at..).unwrap_or_default() {
        [b'\r', b'\n', ..] => Some(2),
        [b'\n' | b'\t' | b'\r', ..] => Some(1),
        _ => None,
    }
}

/// A card whose four-digit groups (or Amex's 4-6-5) are split by one [`split_sep`]
/// separator throughout, from `start`, after a card word (a column of numbers in a table
/// has the same shape); where it ends when it is one.
fn split_card(text: &str, start: usize, out: &mut Vec<Hit>) -> Option<usize> {
    let b = text.as_bytes();
    let split = split_sep(b, start + 4)
        .is_some_and(|n| b.get(start + 4 + n).is_some_and(u8::is_ascii_digit));
    if !split || !cards::context_before(text, start) {
        return None;
    }
    let mut groups = Groups::new();
    let mut sep: &[u8] = &[];
    let mut j = start;
    loop {
        let gs = j;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        groups.push((gs, j));
        let Some(n) = split_sep(b, j) else { break };
        let this = b.get(j..j + n).unwrap_or_default();
        if groups.len() > 1 && this != sep
            || !b.get(j + n).is_some_and(u8::is_ascii_digit)
            || groups.len() == 5
        {
            break;
        }
        sep = this;
        j += n;
    }
    let glued_after = b.get(j).is_some_and(|c| c.is_ascii_alphanumeric());
    if groups.len() < 3 || glued_after {
        return None;
    }
    let run = Run {
        text,
        lead: start,
        groups,
    };
    let last = run.groups.len() - 1;
    let sep = run.sep(0).to_owned();
    if !card_in(&run, 0, last, &[sep.as_str()]) {
        return None;
    }
    report_card(&run, 0, last, out);
    Some(j)
}

fn telegram(text: &str, start: usize, colon: usize, out: &mut Vec<Hit>) {
    let b = text.as_bytes();
    let body = colon + 1;
    let mut e = body;
    while b
        .get(e)
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
    {
        e += 1;
    }
    let bot_url = text.get(..start).is_some_and(|t| t.ends_with("/bot"));
    if e - body == 35 && (bot_url || text::word_start(text, start)) {
        out.push(Hit::new(start, e, SECRET));
    }
}

/// Whether the value at `at` is a field of a CSV row whose header line (the line before)
/// names that column with one of `words` (`id,name,phone` over `7,Ana,4155550132`): a
/// column header is the value's label, only further away than a label in prose.
///
/// Both lines are looked for within [`ROW`] bytes: a row or header longer than that is not
/// read, and a search that went back to the start of the text would make every number in a
/// long line cost the whole line (quadratic in the text).
fn column_named(text: &str, at: usize, words: &text::Words) -> bool {
    const ROW: usize = 512;
    // The line break that starts the value's row, within ROW bytes.
    let from = text::ceil(text, at.saturating_sub(ROW + 1));
    let Some(nl) = text.get(from..at).and_then(|w| w.rfind('\n')) else {
        return false;
    };
    let line_start = from + nl + 1;
    let row_before = text.get(line_start..at).unwrap_or_default();
    if !(row_before.is_empty() || row_before.ends_with(',')) {
        return false;
    }
    let column = row_before.matches(',').count();
    // The header: the line before, also at most ROW bytes (the text's first line, or one
    // that starts after a line break within reach).
    let header_end = line_start - 1;
    let from = text::ceil(text, header_end.saturating_sub(ROW + 1));
    let window = text.get(from..header_end).unwrap_or_default();
    let header = match window.rfind('\n') {
        Some(nl) => window.get(nl + 1..).unwrap_or_default(),
        None if from == 0 => window,
        None => return false,
    };
    header.len() <= ROW
        && header
            .split(',')
            .nth(column)
            .is_some_and(|name| text::contains_word(name.trim().as_bytes(), words))
}

/// Whether groups `k..k+3` form a date (`2024-03-15`, `15.03.2024`, `03/15/24`).
fn date(run: &Run<'_>, k: usize) -> bool {
    let (a, b, c) = (run.value(k), run.value(k + 1), run.value(k + 2));
    let (sa, sb, sc) = (run.size(k), run.size(k + 1), run.size(k + 2));
    let ymd = sa == 4 && (1..=12).contains(&b) && (1..=31).contains(&c) && sb <= 2 && sc <= 2;
    let dmy = sa <= 2
        && sb <= 2
        && (sc == 4 || sc == 2)
        && (1..=31).contains(&a)
        && (1..=31).contains(&b)
        && (a <= 12 || b <= 12);
    ymd || dmy
}

/// Reads one run: a whole card first (its groups may mix separators, dots included, which
/// would otherwise split the run into stretches), then barriers, then each stretch between
/// them.
fn classify(run: &Run<'_>, glued_after: bool, out: &mut Vec<Hit>) {
    let n = run.groups.len();
    if !glued_after
        && n >= 2
        && (0..n - 1).any(|g| run.sep(g) == ".")
        && card_in(run, 0, n - 1, CARD_SEPS_WITH_DOT)
        && cards::context_before(run.text, run.lead)
    {
        report_card(run, 0, n - 1, out);
        return;
    }
    let mut barrier: SmallVec<[bool; MAX_GROUPS]> = smallvec::smallvec![false; n];
    let mut k = 0;
    while k < n {
        // A maximal stretch of groups joined by one kind of separator.
        let sep = run.sep(k);
        let mut e = k;
        while e + 1 < n && run.sep(e) == sep {
            e += 1;
        }
        let len = e - k + 1;
        if sep == "." && len >= 2 {
            let sizes: SmallVec<[usize; MAX_GROUPS]> = (k..=e).map(|g| run.size(g)).collect();
            let dotted_phone = sizes[..] == [3, 3, 4] || sizes[..] == [2, 2, 2, 2, 2];
            if !dotted_phone {
                let s = run.groups.get(k).map_or(0, |g| g.0);
                // `ipv4` reads what follows itself: `10.0.0.1:8080` and `/24` are addresses,
                // `1.2.3.4-beta` is not.
                if len == 4 && ip::ipv4(run.text, s, run.end(e)) {
                    out.push(Hit::new(s, run.end(e), IP_ADDRESS));
                } else if len >= 3
                    && card_in(run, k, e, &["."])
                    && cards::context_before(run.text, s)
                {
                    // `card 4111.1111.1111.1111`: after a card word, since a dotted number
                    // of that shape may be a build or version number.
                    report_card(run, k, e, out);
                } else if sizes[..] == [3, 2, 4]
                    && text::context_before(run.text, s, 40, &ssn::CONTEXT)
                    && ssn::ssn(run.text.get(s..run.end(e)).unwrap_or_default())
                {
                    // `SSN 536.22.1234`: dotted, as spaced, only after an SSN word.
                    out.push(Hit::new(s, run.end(e), US_SSN));
                }
                barrier.iter_mut().skip(k).take(len).for_each(|x| *x = true);
            }
        } else if (sep == "-" || sep == "/" || sep == ".") && len == 3 && date(run, k) {
            barrier.iter_mut().skip(k).take(3).for_each(|x| *x = true);
        } else if (sep == "-" || sep == "/") && len >= 3 {
            // Dates inside a longer stretch (`2024-03-15-01`): mark each date triple.
            for d in k..=e.saturating_sub(2) {
                if date(run, d) {
                    barrier.iter_mut().skip(d).take(3).for_each(|x| *x = true);
                }
            }
        }
        k = e + 1;
    }
    let mut k = 0;
    while k < n {
        if barrier.get(k).copied().unwrap_or(true) {
            k += 1;
            continue;
        }
        let mut e = k;
        while e + 1 < n && !barrier.get(e + 1).copied().unwrap_or(true) {
            e += 1;
        }
        let last = e + 1 == n;
        stretch(run, k, e, glued_after && last, out);
        k = e + 1;
    }
}

/// Separators a card's groups may be split by, in any mix (`4532 0151-1283/0366`), without
/// a card word before them; a dot (`4532.0151…`, also a version's separator) needs one.
const CARD_SEPS: &[&str] = &[" ", "-", "/", "_"];
const CARD_SEPS_WITH_DOT: &[&str] = &[" ", "-", "/", "_", "."];

/// Whether groups `a..=b` spell a payment card: each separator one of `seps` (none for a
/// single group), a shape cards are printed in, and a network's prefix, length and Luhn
/// check digit.
fn card_in(run: &Run<'_>, a: usize, b: usize, seps: &[&str]) -> bool {
    let sizes: SmallVec<[usize; MAX_GROUPS]> = (a..=b).map(|g| run.size(g)).collect();
    let total: usize = sizes.iter().sum();
    if !(12..=19).contains(&total)
        || !cards::card_shape(&sizes)
        || (a..b).any(|g| !seps.contains(&run.sep(g)))
    {
        return false;
    }
    // A card has at most 19 digits (checked above).
    let digits: SmallVec<[u32; 19]> = (a..=b)
        .filter_map(|g| run.groups.get(g))
        .flat_map(|&(s, e)| run.text.get(s..e).unwrap_or_default().chars())
        .filter_map(|c| c.to_digit(10))
        .collect();
    cards::card(&digits)
}

/// Reports groups `s..=e` as a card unless an identifier label stands right before them
/// (`order # 4111…`, see [`labelled_id`]); whether it did.
fn report_card(run: &Run<'_>, s: usize, e: usize, out: &mut Vec<Hit>) -> bool {
    if labelled_id(run.text, run.start(s)) {
        return false;
    }
    let from = run.groups.get(s).map_or(0, |g| g.0);
    out.push(Hit::new(from, run.end(e), CREDIT_CARD));
    true
}

/// A card at the start or the end of groups `a..=b`, beside numbers of other shapes: an
/// expiry date, a CVV, a reference (`4532 0151 1283 0366 12/29 123`, `exp 12/29
/// 4532015112830366`). Only where the group next to it is not a four-digit one, and never
/// inside a stretch that is card-shaped as a whole (`6280 4451 4141 2341 5` that failed
/// its check is a mistyped card, not a card and a digit; a tracking number of five
/// four-digit groups holds no card).
fn card_beside(run: &Run<'_>, a: usize, b: usize) -> Option<(usize, usize)> {
    let sizes: SmallVec<[usize; MAX_GROUPS]> = (a..=b).map(|g| run.size(g)).collect();
    let digits = |s: usize, e: usize| (s..=e).map(|g| run.size(g)).sum::<usize>();
    let fits =
        |s: usize, e: usize| (12..=19).contains(&digits(s, e)) && card_in(run, s, e, CARD_SEPS);
    if cards::card_shape(&sizes) {
        // A sixteen-digit card and the three digits after it (`4532 0151 1283 0366 123`:
        // its CVV, an amount) are shaped as a nineteen-digit card; when the whole failed
        // its check, the card is the first four groups.
        return (sizes[..] == [4, 4, 4, 4, 3] && fits(a, b - 1)).then(|| (a, b - 1));
    }
    // The longest window first: from the start, then to the end.
    if let Some(e) = (a..b).rev().find(|&e| run.size(e + 1) != 4 && fits(a, e)) {
        return Some((a, e));
    }
    (a + 1..=b)
        .find(|&s| run.size(s - 1) != 4 && fits(s, b))
        .map(|s| (s, b))
}

/// A dashed SSN at the start or the end of groups `a..=b`, other numbers beside it
/// (`536-22-1234 2 kids`).
fn ssn_within(run: &Run<'_>, a: usize, b: usize) -> Option<(usize, usize)> {
    let dashed = |s: usize| {
        (s..s + 3).map(|g| run.size(g)).eq([3, 2, 4])
            && run.sep(s) == "-"
            && run.sep(s + 1) == "-"
            && s + 2 <= b
            && ssn::ssn(
                run.text
                    .get(run.groups.get(s).map_or(0, |g| g.0)..run.end(s + 2))
                    .unwrap_or_default(),
            )
    };
    if b >= a + 3 && dashed(a) && run.sep(a + 2) != "-" {
        return Some((a, a + 2));
    }
    if b >= a + 3 && dashed(b - 2) && run.sep(b - 3) != "-" {
        return Some((b - 2, b));
    }
    None
}

/// Card, SSN, then phone over groups `a..=b`.
fn stretch(run: &Run<'_>, a: usize, b: usize, glued_after: bool, out: &mut Vec<Hit>) {
    let text = run.text;
    // A number of 16 or more digits after `+` is no phone number (E.164 has at most 15):
    // it may be a card. A card or a dashed SSN may stand among other numbers.
    let card_plus = text::at(text, run.start(a)) != Some(b'+')
        || (a..=b).map(|g| run.size(g)).sum::<usize>() >= 16;
    if card_plus && !card_in(run, a, b, CARD_SEPS) && b > a {
        if let Some((s, e)) = card_beside(run, a, b) {
            if report_card(run, s, e, out) {
                return;
            }
        }
        if let Some((s, e)) = ssn_within(run, a, b) {
            let from = run.groups.get(s).map_or(0, |g| g.0);
            out.push(Hit::new(from, run.end(e), US_SSN));
            return;
        }
    }
    if glued_after && !card_in(run, a, b, CARD_SEPS) {
        return;
    }
    let sizes: SmallVec<[usize; MAX_GROUPS]> = (a..=b).map(|g| run.size(g)).collect();
    let sizes = &sizes[..];
    let seps: SmallVec<[&str; MAX_GROUPS]> = (a..b).map(|g| run.sep(g)).collect();
    let seps = &seps[..];
    let total: usize = sizes.iter().sum();
    let start = run.start(a);
    let first_digit = run.groups.get(a).map_or(0, |g| g.0);
    let plus = text::at(text, start) == Some(b'+');
    let same_sep = seps.windows(2).all(|w| w.first() == w.get(1));
    let labelled_id = || labelled_id(text, start);
    // Cards.
    if card_plus && card_in(run, a, b, CARD_SEPS) {
        report_card(run, a, b, out);
        return;
    }
    // SSNs.
    let ssn_context = || text::context_before(text, start, 40, &ssn::CONTEXT);
    let ssn_span = text.get(first_digit..run.end(b)).unwrap_or_default();
    if !plus && sizes == [3, 2, 4] && same_sep {
        match seps.first() {
            Some(&"-") => {
                if ssn::ssn(ssn_span) {
                    out.push(Hit::new(first_digit, run.end(b), US_SSN));
                }
                return;
            }
            Some(&" ") if ssn_context() => {
                if ssn::ssn(ssn_span) {
                    out.push(Hit::new(first_digit, run.end(b), US_SSN));
                }
                return;
            }
            _ => {}
        }
    }
    if !plus && sizes == [9] && ssn_context() {
        if ssn::ssn(ssn_span) {
            out.push(Hit::new(first_digit, run.end(b), US_SSN));
        }
        return;
    }
    // Phones. Digits grouped the way cards are printed (4-4-4-4…, 4-6-5, 4-6-4) that failed
    // the card check are a mistyped or invalid card, not a phone: no numbering plan groups
    // digits like that, and a prefix of them must not be read as one either.
    let card_grouped = sizes.len() >= 3 && (13..=19).contains(&total) && cards::card_shape(sizes);
    if total < 7 || card_grouped || (!plus && labelled_id()) {
        return;
    }
    let context = text::context_before(text, start, 32, &phone::CONTEXT)
        || column_named(text, first_digit, &phone::CONTEXT);
    // No numbering plan writes more than a few one-digit groups; without a phone word such
    // a run (`0 0 0 0 …`) is not worth the plan's parser, which made two megabytes of it
    // cost seconds of CPU.
    if !context && sizes.iter().filter(|s| **s == 1).count() > 3 {
        return;
    }
    let paren = text::at(text, start) == Some(b'(');
    let mut e = b;
    // The whole stretch first, then without trailing groups (`call 415 555 0100 1600 …`).
    for _ in 0..3 {
        let sub = &sizes[..=(e - a)];
        let sub_seps = seps.get(..(e - a)).unwrap_or_default();
        let digits: usize = sub.iter().sum();
        if digits < 7 {
            break;
        }
        let zero = text::at(text, first_digit) == Some(b'0');
        let shaped = phone::shaped(sub, sub_seps, paren)
            && (zero || !matches!(sub.len(), 2))
            && (zero || sub == [3, 3, 4] || sub == [1, 3, 3, 4]);
        let candidate = text.get(start..run.end(e)).unwrap_or_default();
        let nanp_only = shaped && !context && !zero;
        // `98765 43210`: the Indian mobile grouping, checked against the Indian plan only.
        let india = !plus
            && !zero
            && sub == [5, 5]
            && phone::shaped(sub, sub_seps, paren)
            && phone::valid_india(candidate);
        if india
            || (plus || context || shaped)
                && phone::valid_in(candidate, context || shaped, nanp_only)
        {
            out.push(Hit::new(start, run.end(e), PHONE));
            return;
        }
        if e == a {
            break;
        }
        e -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::*;

    fn run(t: &str) -> Vec<(Kind, String)> {
        let a = Address::new().unwrap();
        let mut out = Vec::new();
        scan(t, &a, &mut out);
        out.iter()
            .map(|h| (h.kind, t[h.start..h.end].to_owned()))
            .collect()
    }

    #[test]
    fn phones_in_their_plans() {
        for (t, v) in [
            ("Ruf an: +49 (0)30 1234567", "+49 (0)30 1234567"),
            ("Tel. 030 12345678", "030 12345678"),
            ("+44 20 7946 0958", "+44 20 7946 0958"),
            ("office 020 7946 0958 today", "020 7946 0958"),
            ("(555) 123-4567", "(555) 123-4567"),
            ("at 555.123.4567.", "555.123.4567"),
            ("+91 98765 43210", "+91 98765 43210"),
            ("+55 11 91234-5678", "+55 11 91234-5678"),
            ("電話 03-1234-5678", "03-1234-5678"),
            ("+61 2 9876 5432", "+61 2 9876 5432"),
            ("212-555-0147", "212-555-0147"),
            ("call 4155550132 now", "4155550132"),
        ] {
            let found = run(t);
            assert!(found.contains(&(PHONE, v.to_owned())), "{t}: {found:?}");
        }
    }

    #[test]
    fn numbers_that_are_not_phones() {
        for t in [
            "version 10.0.19041.1",
            "v1.2.3.4",
            "on 2024-03-15 at 10:22:31",
            "updated 15.03.2024",
            "Order #A-2024-123456 shipped",
            "order number 4155550132",
            "tracking 1Z999AA10123456784",
            "total $1,234.56",
            "table has 1234567 rows",
            "port 8080, pid 12345, uptime 12:30:45",
            "DE89 3704 0044 0532 0130 01",
            "1.2.3.4.5",
            "id 550e8400-e29b-41d4-a716-446655440000",
            "ts 1700000000123",
            "123 45 6789",
        ] {
            let found = run(t);
            assert!(found.is_empty(), "{t}: {found:?}");
        }
    }

    #[test]
    fn ssn_forms() {
        assert_eq!(
            run("SSN 123-45-6789"),
            vec![(US_SSN, "123-45-6789".to_owned())]
        );
        assert_eq!(run("123-45-6789"), vec![(US_SSN, "123-45-6789".to_owned())]);
        assert_eq!(
            run("my SSN is 123 45 6789"),
            vec![(US_SSN, "123 45 6789".to_owned())]
        );
        assert_eq!(
            run("social security number: 123456789"),
            vec![(US_SSN, "123456789".to_owned())]
        );
        assert!(run("SSN 000-12-3456 and 900 12 3456").is_empty());
        assert!(run("SSN 666123456").is_empty());
    }

    #[test]
    fn cards_and_ids() {
        assert_eq!(
            run("card 4111 1111 1111 1111."),
            vec![(CREDIT_CARD, "4111 1111 1111 1111".to_owned())]
        );
        assert_eq!(
            run("amex 3782-822463-10005"),
            vec![(CREDIT_CARD, "3782-822463-10005".to_owned())]
        );
        assert!(run("order # 4111 1111 1111 1111").is_empty());
        assert!(run("invoice no. 4111111111111111").is_empty());
    }

    #[test]
    fn ips() {
        assert_eq!(
            run("host 10.1.2.3 down"),
            vec![(IP_ADDRESS, "10.1.2.3".to_owned())]
        );
        assert_eq!(
            run("db 10.1.2.3:5432"),
            vec![(IP_ADDRESS, "10.1.2.3".to_owned())]
        );
        assert_eq!(
            run("net 10.1.0.0/16"),
            vec![(IP_ADDRESS, "10.1.0.0".to_owned())]
        );
        assert!(run("pkg==1.2.3.4").is_empty());
        assert!(run("1.2.3.4-beta").is_empty());
    }
}
