//! `orguard keys new`: a fresh random client key and the config snippet that admits it.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every orguard client key, so a leaked one is recognisable (and scannable).
pub const KEY_PREFIX: &str = "ogk_";

/// A newly minted key. `key` is shown once and never stored by orguard.
pub struct GeneratedKey {
    pub key: String,
    pub sha256: String,
}

/// 32 bytes from the OS RNG, base64url without padding.
pub fn generate() -> GeneratedKey {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let key = format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    let sha256 = hex::encode(Sha256::digest(key.as_bytes()));
    GeneratedKey { key, sha256 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_matches() {
        let a = generate();
        let b = generate();
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with(KEY_PREFIX));
        assert_eq!(a.key.len(), KEY_PREFIX.len() + 43);
        assert_eq!(a.sha256, hex::encode(Sha256::digest(a.key.as_bytes())));
    }
}
