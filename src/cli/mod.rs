//! The command line: `orguard [serve]`, `orguard keys new`.

mod keys;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Source, CONFIG_PATH_ENV};

#[derive(Debug, Parser)]
#[command(
    name = "orguard",
    version,
    about = "Policy-enforcing gateway for LLM traffic in front of OpenRouter"
)]
pub struct Cli {
    /// Config file (TOML). Without it, the embedded example config is used.
    #[arg(long, global = true, env = CONFIG_PATH_ENV)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Manage client keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new random client key (shown once) and the config entry that admits it.
    New {
        /// The service the key belongs to.
        #[arg(long)]
        service: String,
        /// Key id for logs and audit (default: SERVICE-YYYYMMDD).
        #[arg(long)]
        id: Option<String>,
        /// Days until the key expires (written as `expires`).
        #[arg(long, default_value_t = 90)]
        expires_in_days: u32,
    },
}

impl Cli {
    fn source(&self) -> Source {
        self.config.clone().map_or(Source::Embedded, Source::File)
    }
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let source = cli.source();
    match cli.command {
        None | Some(Command::Serve) => serve::run(&source),
        Some(Command::Keys {
            command:
                KeysCommand::New {
                    service,
                    id,
                    expires_in_days,
                },
        }) => keys::new(&service, id.as_deref(), expires_in_days),
    }
}
