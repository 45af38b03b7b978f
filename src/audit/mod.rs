//! The audit trail (DESIGN.md §5): hash-chained records, written before a request leaves.
//!
//! - [`record`] builds the records from typed facts (no request text can get in).
//! - [`chain`] is the pure canonical form and hash chain.
//! - [`writer`] is the single task that orders, seals and group-commits records.
//! - [`sink`] stores them: file (default), stdout, Postgres.
//! - [`checkpoint`] signs the chain's head (Ed25519); [`witness`] keeps copies elsewhere.
//! - [`capture`] encrypts full request/response captures to the auditor (age).
//! - [`verify`] re-walks a chain for `orguard audit verify`.

pub mod capture;
pub mod chain;
pub mod checkpoint;
pub mod export;
pub mod record;
pub mod sink;
pub mod verify;
pub mod witness;
mod writer;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use writer::{Health, Queued, Receipt, Slot, Writer};

use crate::request::Endpoint;
use crate::secret::Secret;

/// Why a record could not be stored. Cloneable: one failure answers a whole batch.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    #[error("audit sink I/O error: {0}")]
    Io(String),
    #[error("audit database error: {0}")]
    Postgres(String),
    #[error("the audit chain's last record in {0} does not verify; run `orguard audit verify` before starting")]
    CorruptTail(String),
    #[error("another process is writing to the audit directory {0}; each process needs its own (or use the postgres sink)")]
    Locked(String),
    #[error("the audit writer is not running")]
    Closed,
}

impl AuditError {
    pub fn io(e: std::io::Error) -> Self {
        AuditError::Io(e.kind().to_string())
    }

    pub fn postgres(e: tokio_postgres::Error) -> Self {
        // The message names tables and SQL states, never record contents.
        AuditError::Postgres(crate::secret::mask_text(&e.to_string()))
    }
}

/// Which sink, and its settings.
#[derive(Debug, Clone)]
pub enum SinkSettings {
    File {
        dir: PathBuf,
        fsync: sink::Fsync,
        rotate_bytes: u64,
        retention_days: u32,
        financial_retention_days: u32,
    },
    Stdout,
    Postgres {
        url: Secret,
        table: String,
        replica: String,
        create: bool,
    },
}

/// Validated audit settings.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub sink: SinkSettings,
    /// Forward even when the `request` record cannot be stored (logged loudly).
    pub fail_open: bool,
    pub queue_capacity: usize,
    /// Key for `prompt_sha256` (HMAC-SHA-256); plain SHA-256 without it.
    pub hmac_key: Option<Secret>,
    /// This process's chain name (checkpoints, witness files, the Postgres `replica`).
    pub replica: String,
    /// Signed checkpoints, when `audit.signing_key_file` is set.
    pub checkpoints: Option<CheckpointSettings>,
    /// Encrypted captures (`audit.capture_recipients`), set when some class captures.
    pub capture: Option<std::sync::Arc<capture::Capture>>,
}

/// Validated checkpoint settings.
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    pub signer: std::sync::Arc<checkpoint::Signer>,
    pub every_records: u64,
    pub every: Duration,
    pub witness: witness::WitnessSettings,
}

impl AuditSettings {
    /// Starts the writer task for these settings.
    pub fn start(&self) -> Writer {
        let (sink, interval) = match &self.sink {
            SinkSettings::File {
                dir,
                fsync,
                rotate_bytes,
                retention_days,
                financial_retention_days,
            } => {
                let interval = match fsync {
                    sink::Fsync::Interval(d) => Some(*d),
                    sink::Fsync::Always => None,
                };
                (
                    sink::Sink::File(sink::FileSink::new(
                        dir.clone(),
                        *fsync,
                        *rotate_bytes,
                        *retention_days,
                        *financial_retention_days,
                    )),
                    interval,
                )
            }
            SinkSettings::Stdout => (sink::Sink::Stdout(sink::StdoutSink), None),
            SinkSettings::Postgres {
                url,
                table,
                replica,
                create,
            } => (
                sink::Sink::Postgres(sink::PostgresSink::new(
                    url.expose().to_owned(),
                    table.clone(),
                    replica.clone(),
                    *create,
                )),
                None,
            ),
        };
        let checkpoints = self.checkpoints.as_ref().map(|c| writer::Checkpoints {
            signer: std::sync::Arc::clone(&c.signer),
            replica: self.replica.clone(),
            every_records: c.every_records,
            every: c.every,
            witness: c.witness.clone(),
        });
        Writer::start(sink, self.queue_capacity, interval, checkpoints)
    }

    pub fn describe(&self) -> String {
        match &self.sink {
            SinkSettings::File { dir, fsync, .. } => format!(
                "file {} (fsync {})",
                dir.display(),
                match fsync {
                    sink::Fsync::Always => "always".to_owned(),
                    sink::Fsync::Interval(d) => format!("every {} ms", d.as_millis()),
                }
            ),
            SinkSettings::Stdout => "stdout".to_owned(),
            SinkSettings::Postgres { table, replica, .. } => {
                format!("postgres table {table} (replica {replica})")
            }
        }
    }
}

/// The text fields an endpoint sends to the model, as they arrived, for `prompt_sha256`.
pub fn prompt_fields(endpoint: Endpoint) -> &'static [&'static str] {
    match endpoint {
        Endpoint::ChatCompletions => &["messages"],
        Endpoint::Completions => &["prompt"],
        Endpoint::Embeddings => &["input"],
        Endpoint::Responses => &["instructions", "input"],
    }
}

/// `prompt_sha256`: a hash of the canonical form of the original prompt fields, keyed
/// (HMAC) when a key is configured so short prompts cannot be confirmed by brute force.
/// Returns the hex digest and the algorithm name.
pub fn prompt_hash(
    body: &serde_json::Map<String, Value>,
    endpoint: Endpoint,
    key: Option<&Secret>,
) -> (String, &'static str) {
    let mut fields: Vec<(&str, &Value)> = prompt_fields(endpoint)
        .iter()
        .filter_map(|f| body.get(*f).map(|v| (*f, v)))
        .collect();
    match key {
        Some(k) => {
            use hmac::Mac;
            // HMAC takes keys of any length: construction cannot fail.
            let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(k.expose().as_bytes()) else {
                return (hex::encode([0u8; 32]), "hmac-sha256");
            };
            chain::hash_canonical_fields(&mut fields, &mut mac);
            (
                crate::hex_text::encode(mac.finalize().into_bytes()),
                "hmac-sha256",
            )
        }
        None => {
            let mut sha = Sha256::new();
            chain::hash_canonical_fields(&mut fields, &mut sha);
            (crate::hex_text::encode(sha.finalize()), "sha256")
        }
    }
}

/// How long `close` may take at shutdown.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash fed straight from the values equals the hash of the canonical text (what an
    /// auditor recomputes from the prompt), keyed and not, for every endpoint's fields.
    #[test]
    fn prompt_hash_is_the_hash_of_the_canonical_prompt() {
        let body: serde_json::Map<String, Value> = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"user","content":"héllo \"x\"\n","name":"a"}],
                "input":["b",{"z":1,"a":[true,null,1.5]}],"instructions":"be brief","prompt":"p"}"#,
        )
        .unwrap();
        let key = Secret::new("k".repeat(80));
        for endpoint in [
            Endpoint::ChatCompletions,
            Endpoint::Completions,
            Endpoint::Embeddings,
            Endpoint::Responses,
        ] {
            let mut fields: Vec<(&str, &Value)> = prompt_fields(endpoint)
                .iter()
                .filter_map(|f| body.get(*f).map(|v| (*f, v)))
                .collect();
            let text = chain::canonical_fields(&mut fields);
            assert_eq!(
                prompt_hash(&body, endpoint, None),
                (hex::encode(Sha256::digest(text.as_bytes())), "sha256")
            );
            assert_eq!(
                prompt_hash(&body, endpoint, Some(&key)),
                (
                    hex::encode(crate::secret::hmac_sha256(
                        key.expose().as_bytes(),
                        &[text.as_bytes()]
                    )),
                    "hmac-sha256"
                )
            );
        }
    }
}
