//! The `orguard` binary: parse the command line and hand over to the library.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    orguard::cli::run(orguard::cli::Cli::parse())
}
