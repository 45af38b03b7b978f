//! Where sealed records go. Each sink writes a batch of lines durably (per its fsync policy)
//! and can tell the end of the chain it holds, so a restart continues it.

pub mod file;
mod postgres;
mod stdout;

pub use file::{FileSink, Fsync};
pub(crate) use postgres::connect as connect_postgres;
pub use postgres::{valid_table, PostgresSink};
pub use stdout::StdoutSink;

use super::chain::Link;
use super::AuditError;

/// A sealed record, ready to be written.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub seq: u64,
    pub hash: String,
    pub prev: String,
    pub kind: &'static str,
    pub ts: String,
    pub request_id: String,
    /// The canonical line (no newline).
    pub line: String,
}

/// Whether a batch must be on disk before [`Sink::write`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Someone waits on it (a request record, a checkpoint about to go to witnesses): with
    /// `fsync = always` it is synced before the write returns.
    Now,
    /// Nobody waits on it (responses, denials): written now, synced with the next batch
    /// that is waited on or by the writer's deferred sync, whichever comes first.
    Soon,
}

/// The configured sink.
pub enum Sink {
    File(FileSink),
    Stdout(StdoutSink),
    Postgres(PostgresSink),
}

impl Sink {
    /// The end of the chain already stored (genesis when empty). Also opens the sink.
    pub async fn tail(&mut self) -> Result<Link, AuditError> {
        match self {
            Sink::File(s) => s.tail().await,
            Sink::Stdout(_) => Ok(Link::genesis()),
            Sink::Postgres(s) => s.tail().await,
        }
    }

    /// Writes `batch`; with [`Durability::Now`] durably (for `fsync = always`, one fsync
    /// for the whole batch: group commit).
    pub async fn write(
        &mut self,
        batch: &[Sealed],
        durability: Durability,
    ) -> Result<(), AuditError> {
        match self {
            Sink::File(s) => s.write(batch, durability).await,
            Sink::Stdout(s) => s.write(batch),
            Sink::Postgres(s) => s.write(batch).await,
        }
    }

    /// Whether records were written with `fsync = always` that are not synced yet
    /// ([`Durability::Soon`]): the writer syncs them within its deferred-sync delay.
    pub fn unsynced(&self) -> bool {
        match self {
            Sink::File(s) => s.unsynced(),
            Sink::Stdout(_) | Sink::Postgres(_) => false,
        }
    }

    /// Whether records of a file given up after a failed write or sync are not known to be
    /// on disk yet (the audit is reported failing until they are).
    pub fn holds_failed_file(&self) -> bool {
        match self {
            Sink::File(s) => s.holds_failed_file(),
            Sink::Stdout(_) | Sink::Postgres(_) => false,
        }
    }

    /// fsyncs done so far (0 for sinks that do not sync files).
    pub fn syncs(&self) -> u64 {
        match self {
            Sink::File(s) => s.syncs(),
            Sink::Stdout(_) | Sink::Postgres(_) => 0,
        }
    }

    /// Makes everything written so far durable (the `interval` fsync tick, the deferred
    /// sync, and shutdown).
    pub async fn sync(&mut self) -> Result<(), AuditError> {
        match self {
            Sink::File(s) => s.sync().await,
            Sink::Stdout(_) | Sink::Postgres(_) => Ok(()),
        }
    }
}
