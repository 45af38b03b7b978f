//! Independent detection corpus for issue #14.
//!
//! A deterministic generator of labelled text built from the formats' own specifications
//! (card networks' IIN ranges + Luhn, ISO 13616 IBAN registry + ISO 7064 mod 97-10, SSA SSN
//! rules, national numbering plans, the issuers' published token formats, …). It deliberately
//! knows nothing about orguard's detectors: no `orguard` import, no shared regexes. Everything
//! random comes from the tiny seeded [`Rng`] here, so a seed always gives the same corpus on
//! every platform and toolchain.
//!
//! Used by `tests/detection_corpus.rs` (scores) and, through
//! `#[path = "../tests/corpus/mod.rs"] mod corpus;`, by benchmarks ([`varied_text`]). This
//! module therefore holds no `#[test]`s and must not use `unwrap`/`expect`/`panic!`.
//!
//! Sample shape: [`Sample::text`] embeds every [`Expected::value`] verbatim. Clean samples
//! have no expected values; `hard_negative` marks clean samples built around a lookalike
//! (version strings, UUIDs, tracking numbers, Luhn-invalid card shapes, …), recorded in
//! [`Sample::decoy`].
#![allow(dead_code)]

mod carriers;
mod evasions;
mod negatives;
mod secrets;
mod values;

/// One value a detector is expected to find in a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The orguard type name (DESIGN.md §4).
    pub kind: &'static str,
    /// The value exactly as it appears in the text. For `SECRET` this is the secret's core
    /// (the token, the password of a connection string, the key body of a PEM block, the
    /// token segment of a webhook URL): the part that must not leave the gateway.
    pub value: String,
}

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub text: String,
    pub expected: Vec<Expected>,
    /// What generated the value, e.g. `CREDIT_CARD/amex`, `SECRET/github_pat`, `neg/uuid`.
    pub family: &'static str,
    /// The setting the value was embedded in, e.g. `chat_de`, `json_pretty`, `env_file`.
    pub carrier: &'static str,
    /// A clean sample built around a lookalike that must not be flagged with any type.
    pub hard_negative: bool,
    /// For hard negatives: the lookalike itself (for reports and self-checks).
    pub decoy: Option<String>,
}

/// The seed the scoring test uses.
pub const DEFAULT_SEED: u64 = 0x0014_C0DE_5EED_2024;

pub const DIGITS: &str = "0123456789";
pub const HEX: &str = "0123456789abcdef";
pub const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
pub const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const BASE62: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub const B64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
pub const BASE32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
pub const UPPER_ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// splitmix64: tiny, fast, and fixed forever (no `rand` version can change the corpus).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough integer in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// Integer in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// `n` characters drawn from an ASCII alphabet.
    pub fn chars(&mut self, alphabet: &str, n: usize) -> String {
        let a = alphabet.as_bytes();
        (0..n).map(|_| char::from(a[self.below(a.len())])).collect()
    }

    pub fn digits(&mut self, n: usize) -> String {
        self.chars(DIGITS, n)
    }

    /// A digit string of length `n` whose first digit is in `first`.
    pub fn digits_from(&mut self, first: &str, n: usize) -> String {
        let mut s = self.chars(first, 1);
        s.push_str(&self.digits(n.saturating_sub(1)));
        s
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next_u64() >> 56) as u8).collect()
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Luhn check digit for `payload` (the number without its last digit).
pub fn luhn_check_digit(payload: &str) -> char {
    let mut sum = 0u32;
    for (i, c) in payload.bytes().rev().enumerate() {
        let mut d = u32::from(c.wrapping_sub(b'0'));
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// Whether the digits of `number` (separators ignored) pass the Luhn check.
pub fn luhn_valid(number: &str) -> bool {
    let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 2 {
        return false;
    }
    let mut sum = 0;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut d = *d;
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// ISO 7064 mod 97-10 remainder of an alphanumeric string (letters A=10 … Z=35).
pub fn mod97(s: &str) -> u32 {
    let mut r = 0u32;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            r = (r * 10 + d) % 97;
        } else if c.is_ascii_uppercase() {
            r = (r * 100 + (c as u32 - 'A' as u32 + 10)) % 97;
        }
    }
    r
}

/// The two IBAN check digits for a country and BBAN.
pub fn iban_check_digits(country: &str, bban: &str) -> String {
    let r = mod97(&format!("{bban}{country}00"));
    format!("{:02}", 98 - r)
}

/// Whether an IBAN (spaces allowed) passes mod 97.
pub fn iban_valid(iban: &str) -> bool {
    let compact: String = iban
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if compact.len() < 5 || !compact.is_ascii() {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    mod97(&format!("{tail}{head}")) == 1
}

/// Base64 (RFC 4648), standard or URL-safe alphabet, with or without padding.
pub fn base64(data: &[u8], url: bool, pad: bool) -> String {
    let alphabet = if url { B64URL } else { B64 }.as_bytes();
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let take = chunk.len() + 1;
        for i in 0..4 {
            if i < take {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// A text snippet carrying one or more values, before it is put into a carrier.
#[derive(Debug, Clone)]
pub struct Snippet {
    pub text: String,
    /// Line-oriented (a config line, code line or multi-line block): may also go into file
    /// carriers (`.env`, YAML, shell, …). Prose snippets go only into prose-ish carriers.
    pub line: bool,
}

impl Snippet {
    pub fn prose(text: impl Into<String>) -> Self {
        Snippet {
            text: text.into(),
            line: false,
        }
    }

    pub fn line(text: impl Into<String>) -> Self {
        Snippet {
            text: text.into(),
            line: true,
        }
    }
}

/// Fills `{v}` in a template.
pub fn fill(template: &str, value: &str) -> String {
    template.replace("{v}", value)
}

/// Wraps a snippet in a carrier and records it as a positive sample.
pub fn push(
    out: &mut Vec<Sample>,
    rng: &mut Rng,
    snippet: Snippet,
    expected: Vec<Expected>,
    family: &'static str,
) {
    let (text, carrier) = carriers::wrap(rng, &snippet);
    out.push(Sample {
        text,
        expected,
        family,
        carrier,
        hard_negative: false,
        decoy: None,
    });
}

pub fn expect(kind: &'static str, value: impl Into<String>) -> Vec<Expected> {
    vec![Expected {
        kind,
        value: value.into(),
    }]
}

/// The whole corpus for a seed: a few thousand samples, positives first by type, then
/// clean samples and hard negatives.
pub fn generate(seed: u64) -> Vec<Sample> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(4000);
    values::cards(&mut rng, &mut out, 180);
    values::ibans(&mut rng, &mut out, 150);
    values::ssns(&mut rng, &mut out, 120);
    values::emails(&mut rng, &mut out, 150);
    values::phones(&mut rng, &mut out, 260);
    values::ips(&mut rng, &mut out, 120);
    secrets::secrets(&mut rng, &mut out, 16);
    values::dobs(&mut rng, &mut out, 90);
    values::passports(&mut rng, &mut out, 60);
    values::driver_licenses(&mut rng, &mut out, 80);
    values::persons(&mut rng, &mut out, 120);
    values::addresses(&mut rng, &mut out, 110);
    values::records(&mut rng, &mut out, 60);
    negatives::clean(&mut rng, &mut out, 400);
    negatives::hard(&mut rng, &mut out, 300);
    evasions::evasions(&mut rng, &mut out, 120);
    out
}

/// FNV-1a over every field of every sample: a stable fingerprint of a corpus.
pub fn corpus_hash(samples: &[Sample]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for s in samples {
        eat(s.text.as_bytes());
        eat(s.family.as_bytes());
        eat(s.carrier.as_bytes());
        eat(&[u8::from(s.hard_negative)]);
        for e in &s.expected {
            eat(e.kind.as_bytes());
            eat(e.value.as_bytes());
        }
    }
    h
}

/// About `bytes` of varied text (clean and value-bearing samples, mixed carriers and
/// languages) for throughput benchmarks: never one repeated paragraph.
pub fn varied_text(seed: u64, bytes: usize) -> String {
    let samples = generate(seed);
    let mut rng = Rng::new(seed ^ 0x5A5A_5A5A_5A5A_5A5A);
    let mut order: Vec<usize> = (0..samples.len()).collect();
    rng.shuffle(&mut order);
    let mut out = String::with_capacity(bytes + 2048);
    let mut i = 0;
    while out.len() < bytes && !order.is_empty() {
        if i == order.len() {
            rng.shuffle(&mut order);
            i = 0;
        }
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&samples[order[i]].text);
        i += 1;
    }
    out
}

/// The registry length of a country's IBAN, if the corpus knows the country.
pub fn values_iban_length(country: &str) -> Option<usize> {
    values::IBAN_COUNTRIES
        .iter()
        .find(|(c, _)| *c == country)
        .map(|(_, structure)| values::iban_length(structure))
}
