//! Logging: `tracing` to stderr, text or JSON, with key-shaped strings masked on the way out.
//!
//! Nothing logs request bodies or headers by construction; the masking writer is the second
//! line of defence, for a key that reaches a log line through some path nobody foresaw.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::secret::mask_keys;

/// Installs the global subscriber. `RUST_LOG` overrides `level`.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(MaskingStderr)
        .with_ansi(ansi)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// A `MakeWriter` for stderr that masks credentials in every formatted event.
#[derive(Clone, Copy)]
pub struct MaskingStderr;

impl<'a> MakeWriter<'a> for MaskingStderr {
    type Writer = MaskingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        MaskingWriter
    }
}

pub struct MaskingWriter;

impl Write for MaskingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The fmt layer hands over one whole event per write, so a key cannot be split
        // across two calls.
        let mut stderr = io::stderr().lock();
        match mask_keys(buf) {
            Some(masked) => stderr.write_all(&masked)?,
            None => stderr.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
