//! The command line: `orguard [serve]`, `orguard keys new`.

mod audit;
mod check;
mod explain;
mod keys;
mod provision;
mod report;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Source, CONFIG_PATH_ENV};
use crate::request::Endpoint;

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
    /// Production readiness: PASS/WARN/FAIL lines, exit code 1 on any FAIL.
    Check {
        /// Also scan the files under this directory for secret-shaped strings.
        #[arg(long)]
        scan: Option<PathBuf>,
        /// Machine-readable output for CI gates.
        #[arg(long)]
        json: bool,
        /// Warn when the upstream key has less credit left than this (USD).
        #[arg(long, default_value_t = 5.0)]
        min_credit: f64,
        /// Skip the 1-token test request (it costs a fraction of a cent).
        #[arg(long)]
        no_test_request: bool,
    },
    /// Print the Markdown data-handling report for auditors (from the config alone).
    Report,
    /// Work with the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Inspect the policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Re-walk the hash chain of an audit file, an audit directory (all rotated files in
    /// order) or a Postgres table (every replica's chain). For a file trail, every encrypted
    /// capture a record references must exist and hash as recorded. Exit code 0 = intact,
    /// 1 = broken.
    Verify {
        /// A file, a directory, or a postgres:// URL.
        target: String,
        /// The table, for a Postgres target.
        #[arg(long, default_value = "orguard_audit")]
        table: String,
        /// Accept a chain that starts after seq 1 (older files removed by retention).
        #[arg(long)]
        allow_partial_start: bool,
        /// Accept a trail with no records (otherwise that is a failure: exit 1).
        #[arg(long)]
        allow_empty: bool,
        /// The Ed25519 public key the checkpoints must be signed with (`audit keygen`).
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// Checkpoints kept by a witness: a directory, a file, or a postgres:// URL.
        #[arg(long)]
        witness: Option<String>,
        /// The table, for a Postgres witness.
        #[arg(long, default_value = "orguard_audit_witness")]
        witness_table: String,
    },
    /// Write a new Ed25519 key pair for signed checkpoints: FILE (private, mode 0600) and
    /// FILE.pub. The private key is never printed.
    Keygen {
        /// Where to write the private key; the public key goes to FILE.pub.
        #[arg(long)]
        out: PathBuf,
    },
    /// Decrypt an encrypted capture (`<audit dir>/captures/*.age`) with the auditor's age
    /// identity file (`AGE-SECRET-KEY-1…`, as `age-keygen` writes it). Run it on the
    /// auditor's machine: the gateway never holds the identity.
    Decrypt {
        /// The capture file.
        capture: PathBuf,
        /// The age identity file.
        #[arg(long)]
        identity: PathBuf,
        /// Write the plaintext here (mode 0600) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a self-contained bundle of one period for an auditor: the records, the
    /// checkpoints that sign them, the public key and a manifest.
    Export {
        /// An audit file or directory (file sink), or a postgres:// URL (Postgres sink; libpq's
        /// sslmode and sslrootcert work as for the sink).
        target: String,
        /// The table, for a Postgres target.
        #[arg(long, default_value = "orguard_audit")]
        table: String,
        /// The replica whose chain to export, for a Postgres table that holds several.
        #[arg(long)]
        replica: Option<String>,
        /// First day (YYYY-MM-DD, UTC) or an RFC 3339 time.
        #[arg(long)]
        from: String,
        /// Last day, included (YYYY-MM-DD), or an RFC 3339 time, excluded.
        #[arg(long)]
        to: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the decision for a request body, the rules that fired and the exact body that
    /// would be forwarded. Sends nothing. Exit code 0 = allowed, 1 = denied.
    Explain {
        /// The id of the client key the request would come with.
        #[arg(long)]
        key_id: String,
        /// The class the request declares (X-Data-Classification).
        #[arg(long)]
        class: Option<String>,
        /// The endpoint: chat, completions, embeddings or responses.
        #[arg(long, default_value = "chat", value_parser = parse_endpoint)]
        endpoint: Endpoint,
        /// The request body: a JSON file, or `-` to read it from stdin.
        request: PathBuf,
    },
}

fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    match s {
        "chat" | "chat/completions" => Ok(Endpoint::ChatCompletions),
        "completions" => Ok(Endpoint::Completions),
        "embeddings" => Ok(Endpoint::Embeddings),
        "responses" => Ok(Endpoint::Responses),
        other => Err(format!("unknown endpoint {other:?}")),
    }
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
        #[arg(long, alias = "expires-in-days", default_value_t = 90)]
        expires_days: u32,
        /// Class of the key's requests that declare none.
        #[arg(long, default_value = "internal")]
        default_class: String,
        /// Lowest class the key's requests may declare (default: the default class).
        #[arg(long)]
        min_class: Option<String>,
        /// Spend limit in USD per month (`budget_usd`); unset: no budget.
        #[arg(long)]
        budget_usd: Option<f64>,
        /// Requests per minute; unset: unlimited.
        #[arg(long)]
        rpm: Option<u64>,
    },
    /// Create a service's own OpenRouter key with a credit limit (management API; the
    /// management key comes from OPENROUTER_MANAGEMENT_KEY). The key is written to a file
    /// (mode 0600), never printed.
    Provision {
        #[arg(long)]
        service: String,
        /// Credit limit in USD, enforced by OpenRouter.
        #[arg(long)]
        limit: f64,
        /// When the limit resets: daily, weekly or monthly (default: never).
        #[arg(long)]
        reset: Option<String>,
        /// Where to write the key (default: SERVICE.openrouter.key).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Replace a service's OpenRouter key: create the new one (same limit), write it over
    /// the key file, wait for the replicas to reload, then disable the old one.
    RotateUpstream {
        #[arg(long)]
        service: String,
        /// Hash of the key being replaced (printed by provision).
        #[arg(long)]
        old_hash: String,
        /// The key file the config names in upstream_key_file.
        #[arg(long)]
        file: PathBuf,
        /// Seconds to wait before disabling the old key (reload every replica meanwhile).
        #[arg(long, default_value_t = 300)]
        grace_seconds: u64,
    },
}

impl Cli {
    fn source(&self) -> Source {
        self.config.clone().map_or(Source::Embedded, Source::File)
    }
}

/// Writes a command's result to stdout; a closed or failing stdout is a failed command.
fn print(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
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
                    expires_days,
                    default_class,
                    min_class,
                    budget_usd,
                    rpm,
                },
        }) => keys::new(&keys::NewKey {
            service,
            id,
            expires_days,
            default_class,
            min_class,
            budget_usd,
            rpm,
        }),
        Some(Command::Keys {
            command:
                KeysCommand::Provision {
                    service,
                    limit,
                    reset,
                    out,
                },
        }) => provision::provision(
            &source,
            &provision::Provision {
                service,
                limit_usd: limit,
                reset,
                out,
            },
        ),
        Some(Command::Keys {
            command:
                KeysCommand::RotateUpstream {
                    service,
                    old_hash,
                    file,
                    grace_seconds,
                },
        }) => provision::rotate(
            &source,
            &provision::Rotate {
                service,
                old_hash,
                file,
                grace: std::time::Duration::from_secs(grace_seconds),
            },
        ),
        Some(Command::Report) => report::run(&source),
        Some(Command::Check {
            scan,
            json,
            min_credit,
            no_test_request,
        }) => check::run(
            &source,
            &check::Options {
                scan,
                json,
                min_credit,
                test_request: !no_test_request,
            },
        ),
        Some(Command::Audit {
            command:
                AuditCommand::Verify {
                    target,
                    table,
                    allow_partial_start,
                    allow_empty,
                    public_key,
                    witness,
                    witness_table,
                },
        }) => audit::verify(&audit::VerifyArgs {
            target,
            table,
            allow_partial_start,
            allow_empty,
            public_key,
            witness,
            witness_table,
        }),
        Some(Command::Audit {
            command: AuditCommand::Keygen { out },
        }) => audit::keygen(&out),
        Some(Command::Audit {
            command:
                AuditCommand::Decrypt {
                    capture,
                    identity,
                    out,
                },
        }) => audit::decrypt(&capture, &identity, out.as_deref()),
        Some(Command::Audit {
            command:
                AuditCommand::Export {
                    target,
                    table,
                    replica,
                    from,
                    to,
                    out,
                },
        }) => audit::export(&target, &table, replica.as_deref(), &from, &to, &out),
        Some(Command::Policy {
            command:
                PolicyCommand::Explain {
                    key_id,
                    class,
                    endpoint,
                    request,
                },
        }) => explain::run(&source, &key_id, class.as_deref(), endpoint, &request),
    }
}
