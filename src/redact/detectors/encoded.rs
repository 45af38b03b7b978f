//! Vendor secrets written in base64: a Kubernetes Secret's `data:` values, a Docker
//! `config.json` `auth` (`user:token`), a Helm value, a CI variable pasted as stored.
//!
//! A person asking why a deployment cannot reach its API pastes the manifest, and every
//! value in it is the key in base64: `c2stb3ItdjEt…` is `sk-or-v1-…`. The vendor rules
//! never see it. Decoding every base64-looking run would cost a pass over images and hashes
//! on every request, so the word pass looks instead for what each vendor prefix *becomes*
//! in base64: at each of the three byte alignments a prefix can have inside the encoded
//! data, the characters that depend on the prefix's bytes alone are fixed (`sk-or-v1-` at
//! the start is always `c2stb3ItdjEt`). Only where one of those is found is the enclosing
//! base64 run decoded, and the decoded text is searched by the vendor and assignment rules;
//! a secret in it makes the whole run a secret. A run that decodes to anything else (a
//! picture, a hash, random bytes that happen to hold the characters) is left alone, so the
//! literals cost little but their place in the word automaton (0.998×–1.007× the
//! instructions per request on the benchmark bodies). Each run is decoded once and a run
//! longer than [`REACH`] is not read, so a flood of forms costs what scanning the decoded
//! text as written would; the decoded text is not searched for base64 forms again.
//!
//! Not covered: a prefix of three characters after other bytes (`user:sk-…`: its base64
//! has fewer than four characters of its own), and tokens with no prefix at all (Telegram
//! bot tokens, Mailchimp keys).

use std::sync::LazyLock;

use base64::Engine as _;

/// The base64 forms of the vendor prefixes (`secrets::encodable_literals`) at each
/// alignment, in the standard and the URL-safe alphabet, built once. A prefix of three bytes
/// has one (at a 3-byte boundary: `sk-` is `c2st`); longer ones have three.
static FORMS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut forms: Vec<String> = Vec::new();
    for prefix in super::secrets::encodable_literals() {
        for align in 0..3 {
            let Some(literal) = fixed_chars(prefix.as_bytes(), align) else {
                continue;
            };
            let url_safe = literal.replace('+', "-").replace('/', "_");
            for literal in [literal, url_safe] {
                if !forms.contains(&literal) {
                    forms.push(literal);
                }
            }
        }
    }
    forms
});

/// The characters of base64 that depend only on `prefix` when it is preceded by `align`
/// bytes (0, 1 or 2) since the last 3-byte boundary; `None` when fewer than four are.
fn fixed_chars(prefix: &[u8], align: usize) -> Option<String> {
    let mut data = vec![0u8; align];
    data.extend_from_slice(prefix);
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&data);
    // Character i covers bits [6i, 6i + 6); the prefix's bits are [8·align, 8·(align+len)).
    let first = (8 * align).div_ceil(6);
    let last = 8 * (align + prefix.len()) / 6;
    let literal = encoded.get(first..last)?;
    (literal.len() >= 4).then(|| literal.to_owned())
}

/// The literals the word pass looks for.
pub(crate) fn literals() -> impl Iterator<Item = &'static str> {
    FORMS.iter().map(String::as_str)
}

/// How far around a literal a run is followed: a key in base64 is at most a few hundred
/// characters; a run longer than this (a picture) is not read.
const REACH: usize = 4096;

fn base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

/// The base64 run around `at` (its padding included), or `None` when it reaches further than
/// [`REACH`] back (the literal is deep inside something long that is not a credential).
pub(crate) fn run_around(text: &str, at: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let floor = at.saturating_sub(REACH);
    let mut start = at;
    while start > 0 && bytes.get(start - 1).copied().is_some_and(base64_char) {
        start -= 1;
        if start < floor {
            return None;
        }
    }
    let ceiling = at.saturating_add(REACH).min(bytes.len());
    let mut end = at;
    while end < ceiling && bytes.get(end).copied().is_some_and(base64_char) {
        end += 1;
    }
    while end < bytes.len() && end - start < REACH * 2 && bytes.get(end) == Some(&b'=') {
        end += 1;
    }
    Some((start, end))
}

/// Where the base64 run that `at` is in ends (however far).
pub(crate) fn run_end(text: &str, at: usize) -> usize {
    let bytes = text.as_bytes();
    let mut end = at;
    while bytes.get(end).copied().is_some_and(base64_char) {
        end += 1;
    }
    end
}

/// The text `run` decodes to (standard or URL-safe alphabet, padded or not), with bytes that
/// are not UTF-8 replaced; `None` when it is not base64.
pub(crate) fn decode(run: &str) -> Option<String> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let body = run.trim_end_matches('=');
    // A run cut short by REACH (or with a stray last character) decodes whole bytes only.
    let body = if body.len() % 4 == 1 {
        body.get(..body.len() - 1)?
    } else {
        body
    };
    let alphabet = if body.contains(['-', '_']) {
        &base64::alphabet::URL_SAFE
    } else {
        &base64::alphabet::STANDARD
    };
    let bytes = GeneralPurpose::new(alphabet, config).decode(body).ok()?;
    Some(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_characters_are_those_of_every_encoding() {
        // `sk-or-v1-` after 0, 1 and 2 arbitrary bytes: the fixed part is in each encoding.
        for lead in [&b""[..], b"u", b"us", b"\xff", b"\x00\xfe"] {
            let mut data = lead.to_vec();
            data.extend_from_slice(b"sk-or-v1-0123");
            let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
            let fixed = fixed_chars(b"sk-or-v1-", lead.len()).unwrap();
            assert!(encoded.contains(&fixed), "{lead:?}: {fixed} in {encoded}");
        }
        assert_eq!(fixed_chars(b"sk-or-v1-", 0).unwrap(), "c2stb3ItdjEt");
        assert_eq!(fixed_chars(b"ab", 0), None);
    }

    #[test]
    fn every_vendor_prefix_has_its_forms() {
        for form in ["Z2hwX", "c2st", "c2stb3ItdjEt", "Z2l0aHViX3BhdF"] {
            assert!(FORMS.iter().any(|f| f == form), "{form}");
        }
        assert!(FORMS.iter().all(|f| f.len() >= 4));
    }

    #[test]
    fn runs_and_decoding() {
        let text = "data:\n  KEY: c2stb3ItdjEtYWJj\n";
        let at = text.find("c2st").unwrap();
        let (s, e) = run_around(text, at + 3).unwrap();
        assert_eq!(&text[s..e], "c2stb3ItdjEtYWJj");
        assert_eq!(decode(&text[s..e]).unwrap(), "sk-or-v1-abc");
        assert_eq!(decode("c2stb3ItdjEtYWI=").unwrap(), "sk-or-v1-ab");
        assert_eq!(decode("c2stb3ItdjEtYWI").unwrap(), "sk-or-v1-ab");
        let long = format!("{} tail", "A".repeat(REACH * 2));
        assert_eq!(run_around(&long, REACH + 10), None);
        assert_eq!(run_end(&long, REACH + 10), REACH * 2);
    }
}
