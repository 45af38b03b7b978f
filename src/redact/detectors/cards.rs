//! Payment card numbers: the networks' published IIN ranges and lengths, then Luhn.
//!
//! A digit run is a card only when its issuer prefix belongs to a network *and* its length is
//! one that network issues *and* the Luhn check digit is right. Order, invoice and tracking
//! numbers are refused by their labels (see `numbers`), not here.

use super::text;

/// Words that say a card number follows (within ~64 bytes): needed only for the shapes a
/// number of another kind shares with a card (groups on lines of their own, or split by
/// tabs or dots, as in a table or a build number).
const CONTEXT: text::Words = text::Words::new(&[
    "card",
    "cards",
    "cc",
    "ccn",
    "pan",
    "visa",
    "mastercard",
    "amex",
    "discover",
    "maestro",
    "unionpay",
    "jcb",
    "credit",
    "debit",
    "charge",
    "payment",
    "karte",
    "kartennummer",
    "kreditkarte",
    "carte",
    "tarjeta",
    "cartão",
    "cartao",
    "carta",
    "カード",
    "卡号",
    "카드",
    "карта",
    "карты",
]);

/// Whether a card word stands within 64 bytes before `at`.
pub(crate) fn context_before(text: &str, at: usize) -> bool {
    text::context_before(text, at, 64, &CONTEXT)
}

/// The Luhn checksum over the ASCII digits of `value` (other characters are ignored); 12 to
/// 19 digits, the lengths any network issues.
pub fn luhn(value: &str) -> bool {
    let d: Vec<u32> = value.chars().filter_map(|c| c.to_digit(10)).collect();
    (12..=19).contains(&d.len()) && luhn_digits(&d)
}

pub(crate) fn luhn_digits(d: &[u32]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| match (i % 2 == 1, x * 2) {
            (true, y) if y > 9 => y - 9,
            (true, y) => y,
            (false, _) => x,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The number formed by the first `n` digits.
fn prefix(d: &[u32], n: usize) -> u32 {
    d.iter().take(n).fold(0, |a, x| a * 10 + x)
}

/// Whether some network issues cards with this prefix at this length (published IIN
/// tables: Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro, Mir, RuPay,
/// Verve, Troy).
pub(crate) fn network(d: &[u32]) -> bool {
    let len = d.len();
    let (p1, p2, p3, p4, p6) = (
        prefix(d, 1),
        prefix(d, 2),
        prefix(d, 3),
        prefix(d, 4),
        prefix(d, 6),
    );
    let ranges: [(bool, std::ops::RangeInclusive<usize>); 12] = [
        // Visa: 13, 16 and 19 digits.
        (
            p1 == 4 && len != 14 && len != 15 && len != 17 && len != 18,
            13..=19,
        ),
        // Mastercard, including the 2-series.
        (
            (51..=55).contains(&p2) || (2221..=2720).contains(&p4),
            16..=16,
        ),
        // American Express.
        (p2 == 34 || p2 == 37, 15..=15),
        // Discover and its partner ranges.
        (
            p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622126..=622925).contains(&p6),
            16..=19,
        ),
        // Diners Club International.
        (
            (300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39,
            14..=19,
        ),
        // JCB.
        ((3528..=3589).contains(&p4), 16..=19),
        // UnionPay.
        (p2 == 62, 16..=19),
        // Maestro (50, 56–69).
        (p2 == 50 || (56..=69).contains(&p2), 12..=19),
        // Mir.
        ((2200..=2204).contains(&p4), 16..=19),
        // RuPay.
        (
            p2 == 60 || p2 == 65 || p2 == 81 || p2 == 82 || p3 == 508,
            16..=16,
        ),
        // Verve.
        (
            (506099..=506198).contains(&p6) || (650002..=650027).contains(&p6),
            16..=19,
        ),
        // Troy.
        (p4 == 9792, 16..=16),
    ];
    ranges
        .iter()
        .any(|(prefix_ok, lens)| *prefix_ok && lens.contains(&len))
}

/// A card: network prefix and length, and Luhn.
pub(crate) fn card(d: &[u32]) -> bool {
    (12..=19).contains(&d.len()) && network(d) && luhn_digits(d)
}

/// Whether the digit groups have a shape cards are written in: one run, or groups of four
/// (the last shorter), or Amex/Diners 4-6-5 / 4-6-4.
pub(crate) fn card_shape(groups: &[usize]) -> bool {
    match groups {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] => true,
        [init @ .., last] => init.iter().all(|g| *g == 4) && (1..=4).contains(last),
        [] => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u32> {
        s.chars().filter_map(|c| c.to_digit(10)).collect()
    }

    /// Appends the check digit that makes `body` Luhn-valid.
    pub(crate) fn complete(body: &str) -> String {
        (0..10)
            .map(|c| format!("{body}{c}"))
            .find(|s| luhn_digits(&digits(s)))
            .unwrap()
    }

    #[test]
    fn every_network_range_is_found_at_its_lengths() {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut rnd = |n: usize| -> String {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    char::from(b'0' + (seed % 10) as u8)
                })
                .collect()
        };
        let table: &[(&str, &[usize])] = &[
            ("4", &[13, 16, 19]),
            ("51", &[16]),
            ("55", &[16]),
            ("2221", &[16]),
            ("2720", &[16]),
            ("34", &[15]),
            ("37", &[15]),
            ("6011", &[16, 19]),
            ("644", &[16]),
            ("65", &[16, 19]),
            ("622126", &[16]),
            ("300", &[14, 16]),
            ("36", &[14]),
            ("38", &[16]),
            ("3528", &[16, 19]),
            ("3589", &[16]),
            ("62", &[16, 19]),
            ("5018", &[12, 16, 19]),
            ("6304", &[16]),
            ("6759", &[18]),
            ("2200", &[16]),
            ("508", &[16]),
            ("506099", &[16]),
            ("650002", &[16]),
            ("9792", &[16]),
            ("81", &[16]),
        ];
        for (iin, lens) in table {
            for len in *lens {
                for _ in 0..5 {
                    let n = complete(&format!("{iin}{}", rnd(len - iin.len() - 1)));
                    assert!(card(&digits(&n)), "{n}");
                    assert!(luhn(&n));
                }
            }
        }
        // Luhn-valid but no network or wrong length.
        for bad in ["1", "7", "99", "4"] {
            let n = complete(&format!("{bad}{}", rnd(if bad == "4" { 13 } else { 14 })));
            assert!(!card(&digits(&n)), "{n}");
        }
    }

    #[test]
    fn shapes() {
        assert!(card_shape(&[4, 4, 4, 4]));
        assert!(card_shape(&[4, 6, 5]));
        assert!(card_shape(&[16]));
        assert!(!card_shape(&[3, 3, 4, 6]));
    }
}
