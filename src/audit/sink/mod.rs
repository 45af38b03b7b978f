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

    /// Writes `batch` durably (for `fsync = always`, one fsync for the whole batch).
    pub async fn write(&mut self, batch: &[Sealed]) -> Result<(), AuditError> {
        match self {
            Sink::File(s) => s.write(batch).await,
            Sink::Stdout(s) => s.write(batch),
            Sink::Postgres(s) => s.write(batch).await,
        }
    }

    /// Makes everything written so far durable (the `interval` fsync tick, and shutdown).
    pub async fn sync(&mut self) -> Result<(), AuditError> {
        match self {
            Sink::File(s) => s.sync().await,
            Sink::Stdout(_) | Sink::Postgres(_) => Ok(()),
        }
    }
}
