//! Protected health information (issue #19): the identifiers HIPAA's Safe Harbor list names
//! that have a published format, each validated by its own rule.
//!
//! - `US_NPI`: CMS National Provider Identifier, 10 digits starting with 1 or 2, whose last
//!   digit is the Luhn check digit over `80840` + the first nine (the ISO 7812 card-issuer
//!   prefix CMS registered). One random 10-digit number in ten passes the check, so an NPI
//!   also needs a provider word near it, and a phone word near it without an explicit "NPI"
//!   makes it a phone number.
//! - `US_DEA`: DEA registration number, a registrant-type letter, a second letter and seven
//!   digits; the seventh is `(d1+d3+d5 + 2·(d2+d4+d6)) mod 10`. The checksum and the letter
//!   set are specific enough to stand without context; ids labelled as orders are skipped.
//! - `US_MBI`: CMS Medicare Beneficiary Identifier, 11 characters by position
//!   (`C A AN N A AN N A A N N`, letters without S L O I B Z), optionally dashed `4-3-4`. No
//!   checksum, but the alternation of position classes rarely occurs by chance.
//! - `MRN`, `HEALTH_PLAN_ID`: record, patient, member and subscriber numbers have no format
//!   of their own; they are found only right after their labels.
//! - `DIAGNOSIS_CODE`: ICD-10-CM shape `[A-Z][0-9][0-9AB](.[0-9A-TV-Z]{1,4})?` (U codes such
//!   as U07.1 and U09.9 are the special-purpose chapter), only in the
//!   window after a diagnosis word (`dx`, `diagnosis`, `ICD-10`, `diagnosed with`): the bare
//!   shape is also a seat number, a paper size or a grid square.
//!
//! The labels come through the shared word pass ([`WORDS`]); the three formatted numbers
//! come from [`scan`], a byte walk over digit runs that costs one comparison per byte on
//! text without digits.

use regex::Regex;

use super::{cards, text, Hit, Kind};

pub const US_NPI: Kind = "US_NPI";
pub const US_DEA: Kind = "US_DEA";
pub const US_MBI: Kind = "US_MBI";
pub const MRN: Kind = "MRN";
pub const HEALTH_PLAN_ID: Kind = "HEALTH_PLAN_ID";
pub const DIAGNOSIS_CODE: Kind = "DIAGNOSIS_CODE";

/// Every PHI type: a request carrying any of them is raised to `policy.phi_raises_to`.
pub const PHI: [Kind; 6] = [US_NPI, US_DEA, US_MBI, MRN, HEALTH_PLAN_ID, DIAGNOSIS_CODE];

/// Whether `kind` is one of the PHI types.
pub fn is_phi(kind: &str) -> bool {
    PHI.contains(&kind)
}

/// What a label found by the word pass introduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    Record,
    Plan,
    Diagnosis,
}

/// Labels (lower case; matched ASCII case-insensitively at word starts by the shared pass).
pub(crate) const WORDS: &[(&str, Label)] = &[
    ("mrn", Label::Record),
    ("mr#", Label::Record),
    ("medical record", Label::Record),
    ("med rec", Label::Record),
    ("med. rec", Label::Record),
    ("patient id", Label::Record),
    ("patient identifier", Label::Record),
    ("patient number", Label::Record),
    ("patient no", Label::Record),
    ("patient #", Label::Record),
    ("pt id", Label::Record),
    ("pt #", Label::Record),
    ("chart number", Label::Record),
    ("chart no", Label::Record),
    ("chart #", Label::Record),
    ("hospital number", Label::Record),
    ("hospital no", Label::Record),
    ("member id", Label::Plan),
    ("member #", Label::Plan),
    ("member number", Label::Plan),
    ("member no", Label::Plan),
    ("subscriber id", Label::Plan),
    ("subscriber #", Label::Plan),
    ("subscriber number", Label::Plan),
    ("subscriber no", Label::Plan),
    ("health plan", Label::Plan),
    ("insurance id", Label::Plan),
    ("insurance member", Label::Plan),
    ("insurance number", Label::Plan),
    ("beneficiary id", Label::Plan),
    ("beneficiary number", Label::Plan),
    ("medicaid id", Label::Plan),
    ("medicaid number", Label::Plan),
    ("medicaid #", Label::Plan),
    ("insured id", Label::Plan),
    ("dx", Label::Diagnosis),
    ("ddx", Label::Diagnosis),
    ("diagnos", Label::Diagnosis),
    ("icd", Label::Diagnosis),
];

/// Words that make a Luhn-valid 10-digit number an NPI. "NPI" itself is strong enough to
/// overrule a phone word; the others name who holds an NPI.
const NPI_STRONG: text::Words = text::Words::new(&["npi", "national provider", "nppes"]);
const NPI_WEAK: text::Words = text::Words::new(&[
    "provider",
    "prescriber",
    "prescribing",
    "physician",
    "doctor",
    "dr",
    "clinician",
    "practitioner",
    "rendering",
    "referring",
    "attending",
    "ordering",
    "billing",
    "pharmacist",
    "pharmacy",
    "surgeon",
    "therapist",
    "nurse",
    "md",
    "dds",
]);
/// Words that make a number near them a phone number.
const PHONE_WORDS: text::Words = text::Words::new(&[
    "call", "phone", "tel", "fax", "cell", "mobile", "pager", "contact", "text", "dial", "reach",
    "ring", "ext",
]);
/// Labels that make the value after them an order or reference id.
const ID_WORDS: text::Words = text::Words::new(&[
    "order",
    "invoice",
    "tracking",
    "ref",
    "reference",
    "ticket",
    "sku",
    "serial",
    "confirmation",
    "booking",
    "shipment",
    "transaction",
    "part",
    "item",
    "batch",
    "lot",
    "po",
]);

/// DEA registrant-type letters (first letter of the number).
const DEA_FIRST: &[u8] = b"ABCDEFGHJKLMPRSTUX";

/// Whether a 10-digit string is an NPI: starts with 1 or 2, Luhn-valid behind `80840`.
pub fn npi(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() != 10 || !b.iter().all(u8::is_ascii_digit) || !matches!(b.first(), Some(b'1' | b'2'))
    {
        return false;
    }
    let digits: Vec<u32> = b"80840"
        .iter()
        .chain(b.iter())
        .map(|c| u32::from(c - b'0'))
        .collect();
    cards::luhn_digits(&digits)
}

/// Whether a string is a DEA registration number (registrant letter, letter, 7 digits with
/// the check digit).
pub fn dea(value: &str) -> bool {
    let b = value.as_bytes();
    let [first, second, digits @ ..] = b else {
        return false;
    };
    if digits.len() != 7
        || !DEA_FIRST.contains(first)
        || !second.is_ascii_uppercase()
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let d: Vec<u32> = digits.iter().map(|c| u32::from(c - b'0')).collect();
    let at = |i: usize| d.get(i).copied().unwrap_or_default();
    (at(0) + at(2) + at(4) + 2 * (at(1) + at(3) + at(5))) % 10 == at(6)
}

/// An MBI letter: upper case, not S, L, O, I, B or Z (they read like digits).
fn mbi_letter(c: u8) -> bool {
    c.is_ascii_uppercase() && !matches!(c, b'S' | b'L' | b'O' | b'I' | b'B' | b'Z')
}

/// Whether 11 characters (dashes removed) follow the MBI position rules.
pub fn mbi(value: &str) -> bool {
    let b: Vec<u8> = value.bytes().filter(|c| *c != b'-').collect();
    if b.len() != 11 {
        return false;
    }
    // C A AN N A AN N A A N N
    const RULE: &[u8; 11] = b"CAxNAxNAANN";
    b.iter().zip(RULE).all(|(c, r)| match r {
        b'C' => (b'1'..=b'9').contains(c),
        b'A' => mbi_letter(*c),
        b'N' => c.is_ascii_digit(),
        _ => c.is_ascii_digit() || mbi_letter(*c),
    })
}

/// The length of an MBI starting at `i` (11 plain or 13 dashed `4-3-4`), if one does.
fn mbi_at(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    for len in [11, 13] {
        let Some(s) = b.get(i..i + len) else { continue };
        let dashed = len == 13;
        let shape_ok = !dashed || (s.get(4) == Some(&b'-') && s.get(8) == Some(&b'-'));
        let body_ok = s
            .iter()
            .enumerate()
            .all(|(k, c)| (dashed && (k == 4 || k == 8)) || c.is_ascii_alphanumeric());
        if shape_ok
            && body_ok
            && text::word_end(text, i + len)
            && text.get(i..i + len).is_some_and(mbi)
        {
            return Some(len);
        }
    }
    None
}

/// Whether the value at `start` carries an order/reference label just before it.
fn labelled_id(text: &str, start: usize) -> bool {
    (text::before(text, start) == Some(b'#') && !text::context_before(text, start, 24, &NPI_STRONG))
        || text::context_before(text, start, 20, &ID_WORDS)
}

/// Scans `text` for NPI, DEA and MBI numbers: one walk over digit runs.
pub(crate) fn scan(text: &str, out: &mut Vec<Hit>) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut digits = crate::byte_class::digits(b);
    while let Some(d0) = digits.next_from(i) {
        let mut e = d0;
        while b.get(e).is_some_and(u8::is_ascii_digit) {
            e += 1;
        }
        i = e;
        // MBIs start with a digit at a word start.
        if text::word_start(text, d0) {
            if let Some(len) = mbi_at(text, d0) {
                out.push(Hit::new(d0, d0 + len, US_MBI));
                i = d0 + len;
                continue;
            }
        }
        let len = e - d0;
        if len == 10 && text::word_start(text, d0) && free_after(text, e) {
            let value = text.get(d0..e).unwrap_or_default();
            if npi(value) && npi_context(text, d0, e) && !labelled_id(text, d0) {
                out.push(Hit::new(d0, e, US_NPI));
            }
        } else if len == 7 && d0 >= 2 && free_after(text, e) {
            let s = d0 - 2;
            if text::word_start(text, s) {
                let value = text.get(s..e).unwrap_or_default();
                if dea(value) && !labelled_id(text, s) {
                    out.push(Hit::new(s, e, US_DEA));
                }
            }
        }
    }
}

/// Whether the value ending at `e` is not glued to more of an identifier (`-`/`/`/`.`
/// followed by an alphanumeric continues it; a sentence's full stop does not).
fn free_after(text: &str, e: usize) -> bool {
    match text::at(text, e) {
        None => true,
        Some(c) if text::is_word(c) || c >= 0x80 => false,
        Some(b'-' | b'/' | b'.' | b':') => {
            !text::at(text, e + 1).is_some_and(|c| c.is_ascii_alphanumeric())
        }
        Some(_) => true,
    }
}

/// Whether an NPI-shaped number has a provider word near it and no phone word outweighs it.
fn npi_context(text: &str, start: usize, end: usize) -> bool {
    if text::context_before(text, start, 48, &NPI_STRONG) {
        return true;
    }
    let after = text::window_after(text, end, 24).as_bytes();
    if text::contains_word(after, &NPI_STRONG) {
        return true;
    }
    let weak = text::context_before(text, start, 64, &NPI_WEAK);
    weak && !text::context_before(text, start, 32, &PHONE_WORDS)
}

/// The compiled label rules.
pub(crate) struct Labels {
    /// Record and plan ids: filler after the label, then the value.
    id: Regex,
    /// One ICD-10-CM code, searched in the window after a diagnosis word.
    icd: Regex,
}

impl Labels {
    pub(crate) fn new() -> Result<Labels, String> {
        let b = r"(?-u:\b)";
        let id = Regex::new(&format!(
            r"^(?:[\s:#=.\-]+|(?i:id|number|num|no|nr|is|was|identifier|card){b})*((?:[A-Z]{{1,4}}-?)?[0-9][0-9A-Z\-]{{2,18}}[0-9A-Z]){b}"
        ))
        .map_err(|e| e.to_string())?;
        let icd = Regex::new(&format!(
            r"{b}([A-Z][0-9][0-9AB](?:\.[0-9A-TV-Z]{{1,4}})?)(?:[^A-Za-z0-9.\-]|\.(?:[^A-Za-z0-9]|$)|$)"
        ))
        .map_err(|e| e.to_string())?;
        Ok(Labels { id, icd })
    }

    /// The value after the label at `start..end`. `scanned` is how far a diagnosis label's
    /// window has already been searched in this text: labels closer together than the
    /// window (`dx A00 dx A00 …`) search only what the last one did not, so a text costs
    /// one search of each byte and reports each code once, however dense the labels.
    pub(crate) fn find(
        &self,
        text: &str,
        label: Label,
        (start, end): (usize, usize),
        scanned: &mut usize,
        out: &mut Vec<Hit>,
    ) {
        if !text::word_start(text, start) {
            return;
        }
        match label {
            Label::Record | Label::Plan => {
                // `dx`, `mrn` must be whole words; longer labels may run on (`diagnosed`).
                let window = text::window_after(text, end, 64);
                let Some(caps) = self.id.captures(window) else {
                    return;
                };
                let Some(v) = caps.get(1) else { return };
                let digits = v.as_str().bytes().filter(u8::is_ascii_digit).count();
                if digits >= 4 && v.start() <= 24 {
                    let kind = if label == Label::Record {
                        MRN
                    } else {
                        HEALTH_PLAN_ID
                    };
                    out.push(Hit::new(end + v.start(), end + v.end(), kind));
                }
            }
            Label::Diagnosis => {
                let word = text.get(start..end).unwrap_or_default();
                if word.len() <= 3 && !text::word_end(text, end) {
                    // `dx` and `icd` are whole words (or `ICD-10`, `Dx:`), not `dxf`.
                    return;
                }
                let to = text::floor(text, end.saturating_add(96));
                // Resume where the last window stopped, backed off to the start of the
                // word it cut (a code's `\b` must see what precedes it).
                let mut from = end.max(*scanned).min(to);
                let bytes = text.as_bytes();
                while from > end
                    && bytes
                        .get(from - 1)
                        .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
                {
                    from -= 1;
                }
                let already = *scanned;
                *scanned = (*scanned).max(to);
                let window = text.get(from..to).unwrap_or_default();
                for caps in self.icd.captures_iter(window) {
                    // `B12` is the vitamin (no ICD-10-CM category has that number).
                    if let Some(v) = caps.get(1).filter(|v| v.as_str() != "B12") {
                        // One the last window held whole was reported then; one it cut
                        // at its end is reported again, whole.
                        if from + v.end() >= already {
                            out.push(Hit::new(from + v.start(), from + v.end(), DIAGNOSIS_CODE));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str) -> Vec<(Kind, String)> {
        let labels = Labels::new().unwrap();
        let lower = t.to_ascii_lowercase();
        let mut out = Vec::new();
        for (w, label) in WORDS {
            for (i, _) in lower.match_indices(w) {
                labels.find(t, *label, (i, i + w.len()), &mut 0, &mut out);
            }
        }
        scan(t, &mut out);
        out.iter()
            .map(|h| (h.kind, t[h.start..h.end].to_owned()))
            .collect()
    }

    #[test]
    fn npi_check_digit() {
        // CMS's worked example: 123456789 → check digit 3.
        assert!(npi("1234567893"));
        assert!(!npi("1234567890"));
        assert!(!npi("3234567893"));
        assert!(!npi("123456789"));
    }

    #[test]
    fn dea_check_digit() {
        // 1+4+9 = 14; 2*(3+5+7)... worked: AB1234563 → (1+3+5) + 2*(2+4+6) = 33 → 3.
        assert!(dea("AB1234563"));
        assert!(!dea("AB1234564"));
        assert!(!dea("IB1234563"));
        assert!(!dea("A11234563"));
    }

    #[test]
    fn mbi_positions() {
        assert!(mbi("1EG4TE5MK73"));
        assert!(mbi("1EG4-TE5-MK73"));
        assert!(!mbi("1EG4TE5MK7"));
        assert!(!mbi("0EG4TE5MK73"));
        assert!(!mbi("1SG4TE5MK73"));
        assert!(!mbi("1EG4TE5MKA3"));
    }

    #[test]
    fn formatted_numbers_in_text() {
        assert_eq!(
            run("Prescriber NPI: 1234567893, DEA AB1234563."),
            vec![
                (US_NPI, "1234567893".to_owned()),
                (US_DEA, "AB1234563".to_owned())
            ]
        );
        assert_eq!(
            run("Medicare ID 1EG4-TE5-MK73 on file"),
            vec![(US_MBI, "1EG4-TE5-MK73".to_owned())]
        );
        // Luhn-valid but no provider near it, or a phone number, or an order id.
        assert!(run("the value is 1234567893").is_empty());
        assert!(run("Dr. Roe, call 1234567893").is_empty());
        assert!(run("provider order 1234567893").is_empty());
        assert!(run("NPI 1234567890").is_empty());
    }

    #[test]
    fn labelled_ids_and_diagnoses() {
        assert_eq!(
            run("MRN: 00482913 admitted"),
            vec![(MRN, "00482913".to_owned())]
        );
        assert_eq!(
            run("Patient ID P-0012345"),
            vec![(MRN, "P-0012345".to_owned())]
        );
        assert_eq!(
            run("Member ID: XGH882910033"),
            vec![(HEALTH_PLAN_ID, "XGH882910033".to_owned())]
        );
        let found = run("Dx: E11.9, I10 and Z79.4.");
        assert_eq!(
            found,
            vec![
                (DIAGNOSIS_CODE, "E11.9".to_owned()),
                (DIAGNOSIS_CODE, "I10".to_owned()),
                (DIAGNOSIS_CODE, "Z79.4".to_owned())
            ]
        );
        assert!(run("seat E11 on the A4 paper").is_empty());
        assert!(run("dxf file E11.9").is_empty());
        assert!(run("member id pending").is_empty());
    }
}
