//! Secrets in memory, and masking of key-shaped strings in anything we print.

use std::fmt;

/// A secret string (the upstream API key). It has no `Serialize`, and `Debug` prints `***`,
/// so it cannot end up in a log line or a config dump by accident. Shared, so the per-request
/// copies (a service's own key travels with its caller and each attempt) copy no bytes.
#[derive(Clone)]
pub struct Secret(std::sync::Arc<str>);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(std::sync::Arc::from(value))
    }

    /// The only way to read the value; call it where the value leaves for the upstream.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// HMAC-SHA-256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;
    // HMAC takes keys of any length, so construction cannot fail; the fallback only keeps
    // the signature total.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Prefixes of credentials that must never appear in a log line, whatever logged them.
const MASKED_PREFIXES: [&[u8]; 2] = [b"sk-or-", b"ogk_"];

/// Replaces the body of every key-shaped token in `line` with `***`, keeping the prefix so a
/// reader can still tell which kind of key leaked. Returns `None` when nothing matched, so
/// the common case copies nothing.
pub fn mask_keys(line: &[u8]) -> Option<Vec<u8>> {
    let mut hits = MASKED_PREFIXES
        .iter()
        .filter_map(|p| memchr::memmem::find(line, p).map(|_| *p))
        .peekable();
    hits.peek()?;
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let rest = line.get(i..).unwrap_or_default();
        if let Some(prefix) = MASKED_PREFIXES.iter().find(|p| rest.starts_with(p)) {
            out.extend_from_slice(prefix);
            out.extend_from_slice(b"***");
            i += prefix.len();
            while line
                .get(i)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            {
                i += 1;
            }
        } else {
            out.extend(line.get(i).copied());
            i += 1;
        }
    }
    Some(out)
}

/// [`mask_keys`] for text.
pub fn mask_text(text: &str) -> String {
    match mask_keys(text.as_bytes()) {
        Some(masked) => String::from_utf8_lossy(&masked).into_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_key_bodies() {
        let line = b"upstream said: bad key sk-or-v1-0123abcd, client ogk_Zx-9_a. done";
        let masked = String::from_utf8(mask_keys(line).unwrap()).unwrap();
        assert_eq!(
            masked,
            "upstream said: bad key sk-or-***, client ogk_***. done"
        );
        assert!(mask_keys(b"nothing to see").is_none());
    }

    #[test]
    fn debug_hides_the_value() {
        assert_eq!(format!("{:?}", Secret::new("sk-or-v1-x".into())), "***");
    }
}
