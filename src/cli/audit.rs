//! `orguard audit verify|keygen|decrypt|export`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::audit::{capture, checkpoint, export, verify, witness};

/// What `audit verify` was asked to check.
pub struct VerifyArgs {
    pub target: String,
    pub table: String,
    pub allow_partial_start: bool,
    pub allow_empty: bool,
    pub public_key: Option<PathBuf>,
    pub witness: Option<String>,
    pub witness_table: String,
}

fn is_postgres(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn fail(message: &str) -> ExitCode {
    eprintln!("orguard: {}", crate::secret::mask_text(message));
    ExitCode::from(2)
}

pub fn verify(args: &VerifyArgs) -> ExitCode {
    let public_key = match args.public_key.as_deref().map(checkpoint::load_public) {
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => return fail(&e.to_string()),
        None => None,
    };
    let witness = match &args.witness {
        Some(w) => {
            match runtime().and_then(|rt| rt.block_on(witness::read(w, &args.witness_table))) {
                Ok(records) => records,
                Err(e) => return fail(&e),
            }
        }
        None => Vec::new(),
    };
    let options = verify::Options {
        allow_partial_start: args.allow_partial_start,
        allow_empty: args.allow_empty,
        public_key,
        witness,
    };
    let target = args.target.as_str();
    let reports = if is_postgres(target) {
        match runtime()
            .and_then(|rt| rt.block_on(verify::verify_postgres(target, &args.table, &options)))
        {
            Ok(r) => r,
            Err(e) => return fail(&e),
        }
    } else {
        let path = Path::new(target);
        if !path.exists() {
            return fail(&format!("cannot read {target}: it does not exist"));
        }
        let bundle = if path.is_file() {
            std::fs::read(path).ok().and_then(|b| export::parse(&b))
        } else {
            None
        };
        match bundle {
            Some(b) => vec![verify::verify_bundle(target, &b, &options)],
            None => match verify::verify_path_with(path, &options) {
                Ok(mut r) => {
                    verify_captures(path, &mut r);
                    vec![r]
                }
                Err(e) => return fail(&format!("cannot read {target}: {e}")),
            },
        }
    };
    let mut text = String::new();
    for r in &reports {
        text.push_str(&r.render());
    }
    let empty_ok = !reports.is_empty() || args.allow_empty;
    if reports.is_empty() {
        text.push_str("no audit records found (use --allow-empty if that is expected)\n");
    }
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if empty_ok && reports.iter().all(verify::Report::ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Adds a finding for each capture the records of a file trail reference that is missing
/// or does not hash to the recorded SHA-256 (the records' own hashes are checked by the
/// chain walk, so a capture swapped along with its record's hash breaks the chain there).
fn verify_captures(path: &Path, report: &mut verify::Report) {
    let (dir, files) = if path.is_dir() {
        (
            path.to_path_buf(),
            crate::audit::sink::file::list_files(path).unwrap_or_default(),
        )
    } else {
        (
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
            vec![path.to_path_buf()],
        )
    };
    let (checked, problems) = capture::verify_files(&dir, &files);
    for problem in problems {
        report.findings.push(verify::Finding {
            at: verify::Position {
                source: dir.join(capture::DIR).display().to_string(),
                line: 0,
            },
            problem,
        });
    }
    if checked > 0 {
        report.notes.push(format!(
            "{checked} encrypted captures checked against their records"
        ));
    }
}

/// Decrypts one capture with an age identity file, to `out` (created 0600, never over an
/// existing file) or stdout. Errors name files, never key material or plaintext.
pub fn decrypt(capture_file: &Path, identity: &Path, out: Option<&Path>) -> ExitCode {
    let ciphertext = match std::fs::read(capture_file) {
        Ok(c) => c,
        Err(e) => {
            return fail(&format!(
                "cannot read {}: {}",
                capture_file.display(),
                e.kind()
            ))
        }
    };
    let plaintext = match capture::decrypt(&ciphertext, identity) {
        Ok(p) => p,
        Err(e) => return fail(&format!("{}: {e}", capture_file.display())),
    };
    let written = match out {
        Some(out) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            options
                .open(out)
                .and_then(|mut f| f.write_all(&plaintext).and_then(|()| f.sync_all()))
                .map_err(|e| format!("cannot write {}: {}", out.display(), e.kind()))
        }
        None => std::io::stdout()
            .lock()
            .write_all(&plaintext)
            .map_err(|e| format!("cannot write to stdout: {}", e.kind())),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Writes a new signing key pair. Prints where the public key is and its id; the private
/// key is only ever in its file.
pub fn keygen(out: &Path) -> ExitCode {
    match checkpoint::generate(out) {
        Ok((public, key_id)) => {
            let _ = writeln!(
                std::io::stdout().lock(),
                "private key: {} (mode 0600; set audit.signing_key_file to it)\npublic key:  {}\nkey id:      {key_id}",
                out.display(),
                public.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

pub fn export(
    target: &str,
    table: &str,
    replica: Option<&str>,
    from: &str,
    to: &str,
    out: &Path,
) -> ExitCode {
    let source = if is_postgres(target) {
        export::Source::Postgres {
            url: target,
            table,
            replica,
        }
    } else {
        export::Source::Files(Path::new(target))
    };
    let range =
        export::parse_time(from, false).and_then(|f| Ok((f, export::parse_time(to, true)?)));
    let result = range.and_then(|(f, t)| export::export(&source, f, t, out));
    match result {
        Ok(s) => {
            let _ = writeln!(
                std::io::stdout().lock(),
                "wrote {}: {} records ({} in the period), {} checkpoints, {} unsigned at the end",
                out.display(),
                s.records,
                s.period_records,
                s.checkpoints,
                s.unsigned_tail
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}
