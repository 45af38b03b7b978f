//! `orguard policy explain`: what the gateway would do with a request, without sending it.

use std::path::Path;
use std::process::ExitCode;

use axum::http::{HeaderMap, HeaderValue};

use crate::config::{self, Source};
use crate::keys::Caller;
use crate::plan::{self, PlanError};
use crate::policy::{class::CLASS_HEADER, explain};
use crate::request::Endpoint;

pub fn run(
    source: &Source,
    key_id: &str,
    class: Option<&str>,
    endpoint: Endpoint,
    request: &Path,
) -> ExitCode {
    let snapshot = match config::load(source) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("orguard: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(record) = snapshot.keys.records().iter().find(|k| &*k.id == key_id) else {
        eprintln!(
            "orguard: no key with id {key_id:?} in {}",
            source.describe()
        );
        return ExitCode::from(2);
    };
    let bytes = match read_request(request) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("orguard: cannot read {}: {e}", request.display());
            return ExitCode::from(2);
        }
    };
    let mut headers = HeaderMap::new();
    if let Some(class) = class {
        match HeaderValue::from_str(class) {
            Ok(v) => {
                headers.insert(CLASS_HEADER, v);
            }
            Err(_) => {
                eprintln!("orguard: --class {class:?} is not a valid header value");
                return ExitCode::from(2);
            }
        }
    }
    let caller = Caller::from_record(record);
    // The server's own plan phase: the printed body is the sealed bytes it would send.
    let (text, code) = match plan::plan(&snapshot, &caller, &headers, endpoint, &bytes) {
        Ok(planned) => (
            explain::render_plan(&planned.plan, planned.sealed.body()),
            ExitCode::SUCCESS,
        ),
        Err(refusal) => {
            let text = match &refusal.error {
                PlanError::Denied(d) => explain::render_denial(d),
                other => format!("decision: DENY (400)\nreason:   {other}\n"),
            };
            (text, ExitCode::from(1))
        }
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).is_err() {
        return ExitCode::FAILURE;
    }
    code
}

/// The request body from a file, or from stdin when the path is `-` (so a reviewer can pipe
/// a captured body in without writing it to disk).
fn read_request(path: &Path) -> std::io::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)?;
        return Ok(bytes);
    }
    std::fs::read(path)
}
