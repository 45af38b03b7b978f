//! `orguard audit verify PATH|postgres-url`.

use std::path::Path;
use std::process::ExitCode;

use crate::audit::verify;

pub fn verify(target: &str, table: &str, allow_partial_start: bool) -> ExitCode {
    let reports = if target.starts_with("postgres://") || target.starts_with("postgresql://") {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("orguard: cannot start the async runtime: {e}");
                return ExitCode::from(2);
            }
        };
        match runtime.block_on(verify::verify_postgres(target, table, allow_partial_start)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("orguard: {}", crate::secret::mask_text(&e));
                return ExitCode::from(2);
            }
        }
    } else {
        match verify::verify_path(Path::new(target), allow_partial_start) {
            Ok(r) => vec![r],
            Err(e) => {
                eprintln!("orguard: cannot read {target}: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let mut text = String::new();
    for r in &reports {
        text.push_str(&r.render());
    }
    if reports.is_empty() {
        text.push_str("no audit records found\n");
    }
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if reports.iter().all(verify::Report::ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
