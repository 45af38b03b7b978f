//! Phone numbers, validated against the numbering plans of libphonenumber (the `phonenumber`
//! crate) rather than hand-written shapes.
//!
//! The library is slow next to a byte scan (a parse is microseconds), so it only ever sees
//! candidates the digit scan in `numbers` picked: 7–15 digits in groups. Decisions:
//! - `+CC …` and `00CC …` numbers are parsed as international and accepted when valid for
//!   their country; a trunk `(0)` after the country code (`+49 (0)30 …`) is dropped first.
//! - National numbers have no country, so they are tried against [`REGIONS`] and accepted if
//!   valid in any. Most 7–12 digit runs are valid *somewhere*, so a national number also
//!   needs either a phone word before it (`tel`, `call`, `Telefon`…) or a shape people only
//!   write phone numbers in: `(555) 123-4567`, `555-123-4567`, `555.123.4567`,
//!   `555 123 4567`, or a trunk `0` with groups (`030 12345678`, `020 7946 0958`,
//!   `03-1234-5678`, `06 12 34 56 78`).
//! - The North American shape is accepted on shape alone (area code 2–9): people write
//!   fictional `555` numbers and new area codes as they write real ones.

use phonenumber::country::Id;

use super::text;

/// Regions tried for national-format numbers, most common first.
const REGIONS: &[Id] = &[
    Id::US,
    Id::GB,
    Id::DE,
    Id::FR,
    Id::IN,
    Id::BR,
    Id::JP,
    Id::AU,
    Id::IT,
    Id::ES,
    Id::NL,
    Id::PL,
    Id::SE,
    Id::AT,
    Id::CH,
    Id::BE,
    Id::IE,
    Id::MX,
    Id::CA,
];

/// Words that announce a phone number (lower case, at a word start). Bare "number", "no.",
/// "numéro" are not among them: they label passports, licences, orders and accounts as
/// often as phones.
pub(crate) const CONTEXT: text::Words = text::Words::new(&[
    "tel",
    "phone",
    "telephone",
    "phones",
    "call",
    "called",
    "calling",
    "mobile",
    "cellphone",
    "telefonnummer",
    "handynummer",
    "mobilnummer",
    "tel.:",
    "mob",
    "cell",
    "fax",
    "whatsapp",
    "sms",
    "text me",
    "contact",
    "reach",
    "dial",
    "ring",
    "hotline",
    "telefon",
    "téléphone",
    "tél",
    "portable",
    "handy",
    "móvil",
    "movil",
    "telefono",
    "teléfono",
    "cellulare",
    "celular",
    "rufnummer",
    // Calls to action in the languages the gateway sees most ("ruf mich … an", "llámame
    // al", "me liga no", "joindre au", "appelez").
    "ruf",
    "anrufen",
    "llámame",
    "llamar",
    "liga",
    "ligue",
    "joindre",
    "appelez",
    "appelle",
    "chiamami",
    "bel",
    "line",
    "landline",
    // Signature blocks: `T: …`, `M: …`.
    "t:",
    "m:",
    // "Phone" in Japanese/Chinese, Korean, Hindi and Russian.
    "電話",
    "电话",
    "전화",
    "फ़ोन",
    "फोन",
    "телефон",
    "тел",
    "☎",
    "📞",
]);

/// Whether `candidate` (digits with their separators, `+` included) is a valid number.
/// `shaped` says the national form has a phone shape or context (see the module doc).
pub(crate) fn valid(candidate: &str, national_ok: bool) -> bool {
    valid_in(candidate, national_ok, false)
}

/// [`valid`], with `nanp_only` when only the North American shape made the national form
/// acceptable (then only the US and Canadian plans are tried).
pub(crate) fn valid_in(candidate: &str, national_ok: bool, nanp_only: bool) -> bool {
    let digits = candidate.bytes().filter(u8::is_ascii_digit).count();
    if !(7..=15).contains(&digits) {
        return false;
    }
    if candidate.starts_with('+') {
        let normalised = candidate.replacen("(0)", "", 1);
        return digits >= 8
            && phonenumber::parse(None, &normalised).is_ok_and(|n| phonenumber::is_valid(&n));
    }
    if candidate.starts_with("00") {
        let normalised = format!("+{}", candidate.get(2..).unwrap_or_default());
        return valid_in(&normalised, national_ok, false);
    }
    if !national_ok || digits > 12 {
        return false;
    }
    // A parse costs microseconds: try only the plans the shape allows. A trunk `0` rules
    // out the North American plan; ten digits without it are tried there first.
    let trunk = candidate.trim_start_matches('(').starts_with('0');
    if nanp_only {
        // The North American shape alone: `(555) 123-4567` is written in chat as real
        // numbers are (fictional 555 numbers, new area codes the metadata lags behind), and
        // the shape is specific enough. The area code must still start with 2–9.
        let area = candidate
            .trim_start_matches(['1', '-', ' ', '.'])
            .trim_start_matches('(');
        return area
            .bytes()
            .next()
            .is_some_and(|b| (b'2'..=b'9').contains(&b));
    }
    let regions: &[Id] = match (trunk, nanp_only) {
        (_, true) => &[Id::US, Id::CA],
        (true, false) => REGIONS.get(1..).unwrap_or_default(),
        (false, false) => REGIONS,
    };
    regions
        .iter()
        .filter(|r| !(trunk && matches!(r, Id::CA | Id::MX)))
        .any(|r| phonenumber::parse(Some(*r), candidate).is_ok_and(|n| phonenumber::is_valid(&n)))
}

/// Whether a national-format number is valid in the Indian plan.
pub(crate) fn valid_india(candidate: &str) -> bool {
    phonenumber::parse(Some(Id::IN), candidate).is_ok_and(|n| phonenumber::is_valid(&n))
}

/// Whether digit groups (sizes, and the separators between them) have a shape people only
/// use for phone numbers.
pub(crate) fn shaped(groups: &[usize], seps: &[&str], leading_paren: bool) -> bool {
    let same_sep = seps.windows(2).all(|w| w.first() == w.get(1));
    // North American: (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567, 1-555-…
    let nanp = match groups {
        [3, 3, 4] => same_sep || leading_paren,
        [1, 3, 3, 4] => same_sep,
        _ => false,
    };
    // Indian mobiles are written 5 + 5 (`98765 43210`, libphonenumber's national format).
    let india_mobile = groups == [5, 5] && same_sep;
    nanp || india_mobile || trunk(groups)
}

/// A trunk-0 national number in groups is checked by the caller (`0` first); here only the
/// grouping: two or more groups, none longer than 8.
fn trunk(groups: &[usize]) -> bool {
    groups.len() >= 2 && groups.iter().all(|g| *g <= 8) && groups != [3, 2, 4]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        for n in [
            "+49 (0)30 1234567",
            "+44 20 7946 0958",
            "+91 98765 43210",
            "+55 11 91234-5678",
            "+61 2 9876 5432",
            "+33 1 42 68 53 00",
            "+1 415 555 0132",
            "0049 30 12345678",
        ] {
            assert!(valid(n, false), "{n}");
        }
        for n in [
            "030 12345678",
            "020 7946 0958",
            "(555) 123-4567",
            "555.123.4567",
            "03-1234-5678",
            "06 12 34 56 78",
        ] {
            assert!(valid(n, true), "{n}");
            assert!(!valid(n, false), "{n}");
        }
        assert!(!valid("+49 1", false));
        assert!(!valid("+1 000 000 0000", false));
    }
}
