//! Signed checkpoints: Ed25519 signatures over the chain's head, written into the chain.
//!
//! The hash chain alone proves only that records were not edited *in place*: whoever can
//! write the audit volume can cut the tail or re-hash a whole chain. A checkpoint signs the
//! head (the seq and hash of the record just before it) with a key the audit volume does not
//! hold, so a re-hashed chain no longer matches any signature, and a copy of a checkpoint
//! kept elsewhere (a witness, `witness.rs`) shows how long the chain was.
//!
//! **The signed byte string** (version 1, UTF-8, every line ending in `\n`):
//!
//! ```text
//! orguard-checkpoint-v1
//! <replica>
//! <head seq, decimal>
//! <head hash, 64 lowercase hex>
//! <time, RFC 3339 UTC as in the record's `ts`>
//! <key id, 16 lowercase hex>
//! ```
//!
//! The key id is the first 16 hex digits of SHA-256 over the 32-byte public key. The
//! checkpoint record carries these fields as `replica`, `head_seq`, `head_hash`, `ts`,
//! `key_id`, plus `format`, `public_key` (64 hex) and `signature` (128 hex). Its own
//! `seq` is `head_seq + 1` and its `prev` is `head_hash`, so it is chained like any record.
//! A new format gets a new first line; verifiers refuse formats they do not know.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::chain::Link;
use super::record::{Fields, Kind, Record};

/// The first line of the signed string, and the record's `format`.
pub const FORMAT: &str = "orguard-checkpoint-v1";

/// Why a key could not be read, written or used. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {kind}")]
    Read {
        path: String,
        kind: std::io::ErrorKind,
    },
    #[error("{path} is not an orguard Ed25519 key (expected 64 hex digits)")]
    Malformed { path: String },
    #[error("cannot write {path}: {kind}")]
    Write {
        path: String,
        kind: std::io::ErrorKind,
    },
    #[error("{path} already exists; refusing to overwrite a key")]
    Exists { path: String },
}

/// What one checkpoint says, before or after signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub replica: String,
    pub seq: u64,
    pub hash: String,
    pub time: String,
    pub key_id: String,
}

/// The exact bytes signed (see the module doc). Replica ids never hold a newline (checked
/// when the config is compiled), so each field stays on its own line.
pub fn signed_bytes(head: &Head) -> Vec<u8> {
    format!(
        "{FORMAT}\n{}\n{}\n{}\n{}\n{}\n",
        head.replica, head.seq, head.hash, head.time, head.key_id
    )
    .into_bytes()
}

/// The key id of a public key: 16 hex digits, enough to tell keys apart in a report.
pub fn key_id(public: &VerifyingKey) -> String {
    let digest = hex::encode(Sha256::digest(public.as_bytes()));
    digest.get(..16).unwrap_or_default().to_owned()
}

/// The signing key, loaded once at start. `Debug` shows the key id only.
pub struct Signer {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(&key.verifying_key());
        Self { key, key_id }
    }

    /// Reads a private key file written by `orguard audit keygen`.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        Ok(Self::from_seed(read_hex32(path)?))
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The checkpoint record for the chain ending at `head`, not yet sealed.
    pub fn checkpoint(&self, replica: &str, head: &Link, time: &str) -> Record {
        let head = Head {
            replica: replica.to_owned(),
            seq: head.seq,
            hash: head.hash.clone(),
            time: time.to_owned(),
            key_id: self.key_id.clone(),
        };
        let signature = self.key.sign(&signed_bytes(&head));
        let mut m = Fields::with_capacity(12);
        m.set("type", Value::from(Kind::Checkpoint.as_str()));
        m.set("format", Value::from(FORMAT));
        m.set("ts", Value::from(head.time));
        m.set("replica", Value::from(head.replica));
        m.set("head_seq", Value::from(head.seq));
        m.set("head_hash", Value::from(head.hash));
        m.set("key_id", Value::from(head.key_id));
        m.set(
            "public_key",
            Value::from(hex::encode(self.public().as_bytes())),
        );
        m.set("signature", Value::from(hex::encode(signature.to_bytes())));
        Record {
            kind: Kind::Checkpoint,
            fields: m,
        }
    }
}

/// A checkpoint read back from a chain, a witness or a bundle.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub head: Head,
    /// The checkpoint record's own place in the chain.
    pub seq: u64,
    pub hash: String,
    pub public_key: String,
    pub signature: String,
    pub format: String,
}

impl Checkpoint {
    /// Reads the checkpoint fields of a parsed record (`None` if it is not one).
    pub fn from_record(record: &Map<String, Value>) -> Option<Self> {
        if record.get("type").and_then(Value::as_str) != Some(Kind::Checkpoint.as_str()) {
            return None;
        }
        let s = |k: &str| {
            record
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let n = |k: &str| record.get(k).and_then(Value::as_u64).unwrap_or_default();
        Some(Self {
            head: Head {
                replica: s("replica"),
                seq: n("head_seq"),
                hash: s("head_hash"),
                time: s("ts"),
                key_id: s("key_id"),
            },
            seq: n("seq"),
            hash: s("hash"),
            public_key: s("public_key"),
            signature: s("signature"),
            format: s("format"),
        })
    }

    /// Checks the signature, against `pinned` when the verifier was given a key (else
    /// against the key the record names, which proves integrity but not whose key it is).
    pub fn check(&self, pinned: Option<&VerifyingKey>) -> Result<(), SignatureProblem> {
        if self.format != FORMAT {
            return Err(SignatureProblem::UnknownFormat(self.format.clone()));
        }
        let own = parse_public(&self.public_key).ok_or(SignatureProblem::BadKey)?;
        if key_id(&own) != self.head.key_id {
            return Err(SignatureProblem::KeyIdMismatch);
        }
        if let Some(pinned) = pinned {
            if pinned != &own {
                return Err(SignatureProblem::NotPinnedKey {
                    found: self.head.key_id.clone(),
                    pinned: key_id(pinned),
                });
            }
        }
        let bytes: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(SignatureProblem::Invalid)?;
        own.verify(&signed_bytes(&self.head), &Signature::from_bytes(&bytes))
            .map_err(|_| SignatureProblem::Invalid)
    }
}

/// Why a checkpoint's signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    #[error("unknown checkpoint format {0:?}")]
    UnknownFormat(String),
    #[error("its public_key is not an Ed25519 key")]
    BadKey,
    #[error("its key_id does not belong to its public_key")]
    KeyIdMismatch,
    #[error("signed by key {found}, not by the given public key {pinned} (key swapped)")]
    NotPinnedKey { found: String, pinned: String },
    #[error("the signature does not verify (checkpoint forged or altered)")]
    Invalid,
}

/// Parses 64 hex digits into a public key.
pub fn parse_public(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Reads a public key file (64 hex digits).
pub fn load_public(path: &Path) -> Result<VerifyingKey, KeyError> {
    let bytes = read_hex32(path)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Malformed {
        path: path.display().to_string(),
    })
}

fn read_hex32(path: &Path) -> Result<[u8; 32], KeyError> {
    let text = std::fs::read_to_string(path).map_err(|e| KeyError::Read {
        path: path.display().to_string(),
        kind: e.kind(),
    })?;
    hex::decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| KeyError::Malformed {
            path: path.display().to_string(),
        })
}

/// Writes a new key pair: `private` (mode 0600, created, never overwritten) and
/// `<private>.pub`. Returns the public key file's path and the key id. The private key is
/// written once and never printed.
pub fn generate(private: &Path) -> Result<(std::path::PathBuf, String), KeyError> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let public_path = {
        let mut p = private.as_os_str().to_owned();
        p.push(".pub");
        std::path::PathBuf::from(p)
    };
    for p in [private, public_path.as_path()] {
        if p.exists() {
            return Err(KeyError::Exists {
                path: p.display().to_string(),
            });
        }
    }
    let write_err = |p: &Path| {
        let path = p.display().to_string();
        move |e: std::io::Error| KeyError::Write {
            path,
            kind: e.kind(),
        }
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Created 0600, not chmod-ed after: there is no moment when others may read it.
        options.mode(0o600);
    }
    let mut file = options.open(private).map_err(write_err(private))?;
    let mut text = hex::encode(key.to_bytes());
    text.push('\n');
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(write_err(private))?;
    let public = key.verifying_key();
    std::fs::write(
        &public_path,
        format!("{}\n", hex::encode(public.as_bytes())),
    )
    .map_err(write_err(&public_path))?;
    Ok((public_path, key_id(&public)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> Head {
        Head {
            replica: "gw-1".into(),
            seq: 41,
            hash: "ab".repeat(32),
            time: "2026-12-01T10:00:00Z".into(),
            key_id: "0123456789abcdef".into(),
        }
    }

    /// The signed byte string is a published format: changing it breaks every verifier
    /// outside orguard, so it is pinned byte for byte (and must get a new version line).
    #[test]
    fn the_signed_byte_string_is_stable() {
        let golden = "orguard-checkpoint-v1\ngw-1\n41\nabababababababababababababababababababababababababababababababab\n2026-12-01T10:00:00Z\n0123456789abcdef\n";
        assert_eq!(String::from_utf8(signed_bytes(&head())).unwrap(), golden);
    }

    /// A signature from a fixed seed is deterministic (Ed25519), so the whole signing path
    /// — key id derivation, byte string, signature encoding — is pinned too.
    #[test]
    fn a_fixed_key_gives_a_fixed_signature() {
        let signer = Signer::from_seed([7; 32]);
        let link = Link {
            seq: 41,
            hash: "ab".repeat(32),
        };
        let record = signer.checkpoint("gw-1", &link, "2026-12-01T10:00:00Z");
        let cp = Checkpoint::from_record(&record.fields.to_map()).unwrap();
        assert_eq!(cp.head.key_id, signer.key_id());
        assert_eq!(cp.head.key_id.len(), 16);
        cp.check(None).unwrap();
        cp.check(Some(&signer.public())).unwrap();
        let other = Signer::from_seed([8; 32]);
        assert!(matches!(
            cp.check(Some(&other.public())),
            Err(SignatureProblem::NotPinnedKey { .. })
        ));
        let mut forged = cp;
        forged.head.seq = 40;
        assert_eq!(forged.check(None), Err(SignatureProblem::Invalid));
        let again = signer.checkpoint("gw-1", &link, "2026-12-01T10:00:00Z");
        assert_eq!(record.fields["signature"], again.fields["signature"]);
    }

    #[test]
    fn the_debug_form_shows_no_key_material() {
        let signer = Signer::from_seed([7; 32]);
        let shown = format!("{signer:?}");
        assert!(!shown.contains(&hex::encode([7u8; 32])), "{shown}");
        assert!(shown.contains(signer.key_id()));
    }
}
