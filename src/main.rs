//! The `orguard` binary: parse the command line and hand over to the library.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// The profile of the whole request path put about a fifth of orguard's CPU into the system
/// allocator (many small, short-lived buffers per request, freed on other threads).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    orguard::cli::run(orguard::cli::Cli::parse())
}
