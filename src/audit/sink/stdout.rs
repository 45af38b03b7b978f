//! Records as JSON lines on stdout, for log collectors. The chain starts afresh with each
//! process (the collector holds the history); logs go to stderr, so stdout stays clean.

use std::io::Write;

use super::Sealed;
use crate::audit::AuditError;

pub struct StdoutSink;

impl StdoutSink {
    pub fn write(&mut self, batch: &[Sealed]) -> Result<(), AuditError> {
        let mut out = std::io::stdout().lock();
        for record in batch {
            out.write_all(record.line.as_bytes())
                .map_err(AuditError::io)?;
            out.write_all(b"\n").map_err(AuditError::io)?;
        }
        out.flush().map_err(AuditError::io)
    }
}
