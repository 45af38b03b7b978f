//! The detectors as they were before issue #14 (a `RegexSet` pre-pass, then every reported
//! pattern re-run over the whole text), kept verbatim so the bench measures the old cost
//! on the same input in the same run.
//!
//! All patterns are compiled once into one [`RegexSet`]: a text with nothing in it costs one
//! pass. Only the patterns the set reports are run again to find spans.

use std::net::Ipv6Addr;

use regex::{Regex, RegexSet};

/// A detector's stable type name.
pub type Kind = &'static str;

pub const EMAIL: Kind = "EMAIL";
pub const PHONE: Kind = "PHONE";
pub const CREDIT_CARD: Kind = "CREDIT_CARD";
pub const IBAN: Kind = "IBAN";
pub const US_SSN: Kind = "US_SSN";
pub const IP_ADDRESS: Kind = "IP_ADDRESS";
pub const SECRET: Kind = "SECRET";
pub const PERSON: Kind = "PERSON";
pub const ADDRESS: Kind = "ADDRESS";

/// Every built-in type, in precedence order for overlapping matches.
pub const BUILT_IN: [Kind; 9] = [
    SECRET,
    CREDIT_CARD,
    IBAN,
    US_SSN,
    EMAIL,
    PHONE,
    IP_ADDRESS,
    ADDRESS,
    PERSON,
];

/// How a candidate match is confirmed.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    None,
    Luhn,
    Iban,
    Ssn,
    Ipv4,
    Ipv6,
    Phone,
    /// High-entropy value of a `password=`-style assignment (capture group 1).
    Assignment,
}

/// One pattern: the type it finds, the regex, which capture group is the value, and how
/// candidates are confirmed.
pub struct Pattern {
    pub kind: Kind,
    pub regex: Regex,
    pub group: usize,
    pub check: Check,
}

/// The built-in patterns. Kept in one table so the set and the individual regexes can never
/// disagree.
pub fn built_in() -> Vec<(Kind, &'static str, usize, Check)> {
    vec![
        // Credentials first: they must win overlaps (a key can contain digit runs).
        (SECRET, r"\bsk-or-v1-[0-9a-f]{64}\b", 0, Check::None),
        (SECRET, r"\bsk-ant-[A-Za-z0-9_-]{20,}", 0, Check::None),
        (
            SECRET,
            r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
            0,
            Check::None,
        ),
        (SECRET, r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", 0, Check::None),
        (
            SECRET,
            r"(?i)aws.{0,24}(?:secret|private).{0,24}?[=:]\s*[\x22']?([A-Za-z0-9/+]{40})\b",
            1,
            Check::None,
        ),
        (SECRET, r"\bgh[pousr]_[A-Za-z0-9]{36}\b", 0, Check::None),
        (SECRET, r"\bgithub_pat_[A-Za-z0-9_]{22,}\b", 0, Check::None),
        (SECRET, r"\bxox[abposr]-[A-Za-z0-9-]{10,}", 0, Check::None),
        (SECRET, r"\b[rs]k_live_[A-Za-z0-9]{16,}\b", 0, Check::None),
        (
            SECRET,
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
            0,
            Check::None,
        ),
        (
            SECRET,
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
            0,
            Check::None,
        ),
        (SECRET, r"\bogk_[A-Za-z0-9_-]{20,}", 0, Check::None),
        (
            SECRET,
            r#"(?i)\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth[_-]?token|client[_-]?secret|private[_-]?key)\b["']?\s*[:=]\s*["']?([^\s"',;}{]{8,})"#,
            1,
            Check::Assignment,
        ),
        (CREDIT_CARD, r"\b\d(?:[ -]?\d){12,18}\b", 0, Check::Luhn),
        (
            IBAN,
            r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
            0,
            Check::Iban,
        ),
        (US_SSN, r"\b\d{3}[- ]\d{2}[- ]\d{4}\b", 0, Check::Ssn),
        (
            EMAIL,
            r"(?i)\b[a-z0-9._%+-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*\.[a-z]{2,24}\b",
            0,
            Check::None,
        ),
        (
            PHONE,
            r"(?:\+[1-9]\d{0,2}|\(\d{2,4}\)|\b\d{1,4})(?:[ .-]\(?\d{1,4}\)?){2,6}\b|\+[1-9]\d{7,14}\b",
            0,
            Check::Phone,
        ),
        (IP_ADDRESS, r"\b(?:\d{1,3}\.){3}\d{1,3}\b", 0, Check::Ipv4),
        (
            IP_ADDRESS,
            r"(?i)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}",
            0,
            Check::Ipv6,
        ),
        (
            ADDRESS,
            r"\b\d{1,5} (?:[A-Z][a-z]+ ){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Square|Sq)\b\.?(?:,? (?:Apt|Suite|Unit) \w+)?",
            0,
            Check::None,
        ),
        (
            PERSON,
            r"(?:(?i:my name is|name is|name:|signed,|regards,|dear|mr\.?|mrs\.?|ms\.?|dr\.?|patient|customer|employee)\s+)([A-Z][a-z]+(?: [A-Z][a-z]+){1,2})\b",
            1,
            Check::None,
        ),
    ]
}

/// Compiles the built-in table. The patterns are constants: a failure is a programming
/// error caught by the unit tests, so it is reported rather than unwrapped.
pub fn compile(extra: &[(Kind, String)]) -> Result<(RegexSet, Vec<Pattern>), regex::Error> {
    let mut sources = Vec::new();
    let mut patterns = Vec::new();
    for (kind, src, group, check) in built_in() {
        sources.push(src.to_owned());
        patterns.push(Pattern {
            kind,
            regex: Regex::new(src)?,
            group,
            check,
        });
    }
    for (kind, src) in extra {
        sources.push(src.clone());
        patterns.push(Pattern {
            kind,
            regex: Regex::new(src)?,
            group: 0,
            check: Check::None,
        });
    }
    Ok((RegexSet::new(&sources)?, patterns))
}

/// Whether a candidate (the matched value, within `text` at `start..end`) is real.
pub fn confirm(check: Check, text: &str, start: usize, end: usize) -> bool {
    let value = text.get(start..end).unwrap_or_default();
    let before = text.get(..start).unwrap_or_default();
    let after = text.get(end..).unwrap_or_default();
    match check {
        Check::None => true,
        Check::Luhn => luhn(value) && plausible_card_prefix(value),
        Check::Iban => iban(value),
        Check::Ssn => ssn(value),
        Check::Ipv4 => ipv4(value, before, after),
        Check::Ipv6 => {
            value.matches(':').count() >= 2
                && value.parse::<Ipv6Addr>().is_ok()
                && !after.starts_with(|c: char| c.is_ascii_alphanumeric())
        }
        Check::Phone => phone(value, before, after),
        Check::Assignment => assignment(value),
    }
}

fn digits(value: &str) -> Vec<u32> {
    value.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// The Luhn checksum over the digits of `value`.
pub fn luhn(value: &str) -> bool {
    let d = digits(value);
    if !(13..=19).contains(&d.len()) {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                if x * 2 > 9 {
                    x * 2 - 9
                } else {
                    x * 2
                }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Issuer prefixes of the major networks; random Luhn-valid digit runs rarely match them.
fn plausible_card_prefix(value: &str) -> bool {
    let d: String = value.chars().filter(char::is_ascii_digit).collect();
    let p2: u32 = d.get(..2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let p4: u32 = d.get(..4).and_then(|s| s.parse().ok()).unwrap_or(0);
    d.starts_with('4')
        || (51..=55).contains(&p2)
        || (2221..=2720).contains(&p4)
        || p2 == 34
        || p2 == 37
        || p2 == 35
        || d.starts_with("6011")
        || d.starts_with("65")
        || (300..=305).contains(&(p4 / 10))
        || p2 == 36
        || p2 == 62
}

/// IBAN lengths by country (ISO 13616 registry, the common subset).
const IBAN_LENGTHS: [(&str, usize); 40] = [
    ("AD", 24),
    ("AE", 23),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GI", 23),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("RO", 24),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
];

/// Country length and the ISO 7064 mod-97 check.
pub fn iban(value: &str) -> bool {
    let s: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(country) = s.get(..2) else {
        return false;
    };
    let Some(&(_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| *c == country) else {
        return false;
    };
    if s.len() != len {
        return false;
    }
    let rearranged = format!(
        "{}{}",
        s.get(4..).unwrap_or_default(),
        s.get(..4).unwrap_or_default()
    );
    let mut rem: u64 = 0;
    for c in rearranged.chars() {
        let v = match c.to_digit(36) {
            Some(v) => v as u64,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Area 000, 666 and 900–999, group 00 and serial 0000 are never issued.
pub fn ssn(value: &str) -> bool {
    let d = digits(value);
    if d.len() != 9 {
        return false;
    }
    let area = d.iter().take(3).fold(0, |a, x| a * 10 + x);
    let group = d.iter().skip(3).take(2).fold(0, |a, x| a * 10 + x);
    let serial = d.iter().skip(5).fold(0, |a, x| a * 10 + x);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Version strings (`v10.2.3.4`, `version 1.2.3.4`) and longer dotted runs are not
/// addresses.
fn ipv4(value: &str, before: &str, after: &str) -> bool {
    let octets_ok = value
        .split('.')
        .all(|o| o.parse::<u16>().is_ok_and(|n| n <= 255) && !(o.len() > 1 && o.starts_with('0')));
    let dotted_run = after.starts_with('.')
        && after
            .get(1..2)
            .is_some_and(|c| c.chars().all(|c| c.is_ascii_digit()))
        || before.ends_with('.')
            && before
                .get(before.len().saturating_sub(2)..before.len().saturating_sub(1))
                .is_some_and(|c| c.chars().all(|c| c.is_ascii_digit()));
    let context: String = before
        .chars()
        .rev()
        .take(16)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<String>()
        .to_ascii_lowercase();
    let versioned = context.trim_end().ends_with('v')
        || ["version", "release", "build", "firmware", "ver.", "v."]
            .iter()
            .any(|w| context.contains(w));
    octets_ok && !dotted_run && !versioned
}

/// 8–15 digits, not part of a longer number, not a date or an ISO timestamp.
fn phone(value: &str, before: &str, after: &str) -> bool {
    let n = digits(value).len();
    let glued = before.ends_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.' || c == '/')
        || after.starts_with(|c: char| c.is_ascii_digit() || c == ':' || c == '/' || c == '-');
    let date_like = value.len() == 10
        && value.chars().filter(|c| *c == '-').count() == 2
        && value
            .get(..4)
            .is_some_and(|y| y.starts_with("19") || y.starts_with("20"));
    let dotted_version = value.contains('.')
        && !value.contains(' ')
        && !value.starts_with('+')
        && !value.contains('(');
    // `123-45-6789` is the SSN shape; the SSN detector decides.
    let ssn_shape = value.len() == 11
        && value.bytes().enumerate().all(|(i, b)| {
            if i == 3 || i == 6 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    (9..=15).contains(&n) && !glued && !date_like && !dotted_version && !ssn_shape
}

/// A secret-looking value: long enough, mixed character classes, high entropy, and not an
/// obvious placeholder.
fn assignment(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if [
        "xxxx", "****", "<", "[", "${", "{{", "changeme", "example", "your",
    ]
    .iter()
    .any(|p| lower.contains(p))
    {
        return false;
    }
    let classes = [
        value.chars().any(|c| c.is_ascii_lowercase()),
        value.chars().any(|c| c.is_ascii_uppercase()),
        value.chars().any(|c| c.is_ascii_digit()),
        value.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    classes.iter().filter(|b| **b).count() >= 2 && entropy(value) >= 3.0
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0u32) += 1;
    }
    let n = s.chars().count() as f64;
    counts
        .values()
        .map(|&k| {
            let p = f64::from(k) / n;
            -p * p.log2()
        })
        .sum()
}

/// The old `Detectors::find`, without overlap merging (a negligible cost).
pub struct Old {
    set: RegexSet,
    patterns: Vec<Pattern>,
}

impl Old {
    pub fn new() -> Old {
        let (set, patterns) = compile(&[]).expect("old table compiles");
        Old { set, patterns }
    }

    pub fn find(&self, text: &str) -> usize {
        let mut n = 0;
        if text.len() < 6 {
            return 0;
        }
        for i in self.set.matches(text).iter() {
            let p = &self.patterns[i];
            if p.group == 0 {
                for m in p.regex.find_iter(text) {
                    n += usize::from(confirm(p.check, text, m.start(), m.end()));
                }
            } else {
                for caps in p.regex.captures_iter(text) {
                    if let Some(m) = caps.get(p.group) {
                        n += usize::from(confirm(p.check, text, m.start(), m.end()));
                    }
                }
            }
        }
        n
    }
}
