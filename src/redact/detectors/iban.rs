//! IBANs (ISO 13616): the country's registered length, then the ISO 7064 mod-97 check.
//!
//! An IBAN-shaped run that fails the check is still *claimed* by this detector: its digit
//! groups are not handed to the phone, card or SSN detectors (an invalid IBAN is not a
//! phone number).

use super::text;

/// IBAN lengths by country: the SWIFT IBAN registry (ISO 13616), every country listed.
const LENGTHS: [(&[u8; 2], usize); 89] = [
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HN", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

fn length(country: &[u8]) -> Option<usize> {
    LENGTHS
        .iter()
        .find(|(c, _)| c.as_slice() == country)
        .map(|(_, l)| *l)
}

/// Country length and the ISO 7064 mod-97 check (spaces ignored).
pub fn iban(value: &str) -> bool {
    let s: Vec<u8> = value.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    s.get(..2).and_then(length) == Some(s.len()) && mod97(&s)
}

fn mod97(s: &[u8]) -> bool {
    let (head, tail) = s.split_at(4.min(s.len()));
    let mut rem: u32 = 0;
    for &b in tail.iter().chain(head) {
        let Some(v) = char::from(b).to_digit(36) else {
            return false;
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// What was found at an IBAN-shaped place: the byte range it covers and whether it checks.
pub(crate) struct Found {
    pub end: usize,
    pub valid: bool,
}

/// Reads an IBAN starting at `start` (two upper-case letters, two digits, then up to 30
/// letters or digits, optionally in groups separated by single spaces). `None` when the
/// country is unknown or the run is too short to be an IBAN attempt.
pub(crate) fn read(text: &str, start: usize) -> Option<Found> {
    let b = text.as_bytes();
    let country = b.get(start..start + 2)?;
    if !country.iter().all(u8::is_ascii_uppercase) || !text::word_start(text, start) {
        return None;
    }
    let len = length(country)?;
    let mut chars: Vec<u8> = Vec::with_capacity(34);
    let mut i = start;
    let mut end = start;
    while chars.len() < len {
        match b.get(i) {
            Some(c) if c.is_ascii_digit() || c.is_ascii_uppercase() => {
                chars.push(*c);
                i += 1;
                end = i;
            }
            Some(b' ')
                if chars.len() >= 4 && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) =>
            {
                i += 1
            }
            _ => break,
        }
    }
    if chars.len() < 12 || !chars.get(2..4)?.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let valid = chars.len() == len && text::word_end(text, end) && mod97(&chars);
    Some(Found { end, valid })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IBAN with correct check digits for `country` and `bban`.
    fn make(country: &str, bban: &str) -> String {
        (2..99)
            .map(|c| format!("{country}{c:02}{bban}"))
            .find(|s| iban(s))
            .unwrap()
    }

    #[test]
    fn known_and_generated() {
        assert!(iban("GB82 WEST 1234 5698 7654 32"));
        assert!(iban("DE89370400440532013000"));
        assert!(!iban("GB82 WEST 1234 5698 7654 33"));
        assert!(!iban("XX82WEST12345698765432"));
        for (c, l) in LENGTHS {
            let country = std::str::from_utf8(c).unwrap();
            let v = make(country, &"1234567890".repeat(4)[..l - 4]);
            assert!(iban(&v), "{v}");
            let found = read(&v, 0).unwrap();
            assert!(found.valid && found.end == v.len(), "{v}");
        }
    }

    #[test]
    fn invalid_ones_are_claimed_but_not_valid() {
        let t = "pay DE89 3704 0044 0532 0130 01 now";
        let f = read(t, 4).unwrap();
        assert!(!f.valid);
        assert_eq!(&t[4..f.end], "DE89 3704 0044 0532 0130 01");
    }
}
