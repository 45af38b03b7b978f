//! `orguard policy explain`: what the gateway would do with a request, without sending it.

use std::path::Path;
use std::process::ExitCode;

use axum::http::{HeaderMap, HeaderValue};

use crate::config::{self, Source};
use crate::error_code::ErrorCode;
use crate::keys::Caller;
use crate::plan::{self, PlanError};
use crate::policy::{class::CLASS_HEADER, explain};
use crate::redact::presidio::{self, AnalyzerError};
use crate::redact::Analysis;
use crate::request::parse;
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
    // The server's own analyze and plan phases: the printed body is the sealed bytes it
    // would send.
    let analysis = match analyze(&snapshot, endpoint, &bytes) {
        Ok(analysis) => analysis,
        Err(e) => {
            let text = format!(
                "decision: DENY (503 {})\nreason:   {e}\n",
                ErrorCode::DetectorUnavailable.as_str()
            );
            return print(&text, ExitCode::from(1));
        }
    };
    let planned = parse::parse(endpoint, &bytes, snapshot.server.max_json_depth)
        .map_err(plan::Refusal::from)
        .and_then(|parsed| plan::plan_parsed(&snapshot, &caller, &headers, parsed, &analysis));
    let (text, code) = match planned {
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
    print(&text, code)
}

fn print(text: &str, code: ExitCode) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).is_err() {
        return ExitCode::FAILURE;
    }
    code
}

/// The server's `analyze` phase: the Presidio analyzer's findings when one is configured,
/// with its failure mode. A body that does not parse is left to the plan to refuse.
fn analyze(
    snapshot: &config::Snapshot,
    endpoint: Endpoint,
    bytes: &[u8],
) -> Result<Analysis, AnalyzerError> {
    let Some(settings) = &snapshot.presidio else {
        return Ok(Analysis::default());
    };
    let Ok(mut parsed) = parse::parse(endpoint, bytes, snapshot.server.max_json_depth) else {
        return Ok(Analysis::default());
    };
    let document = presidio::Document::of(parsed.endpoint, &mut parsed.body);
    if document.is_empty() {
        return Ok(Analysis::default());
    }
    let answer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|_| AnalyzerError::Unreachable)
        .and_then(|rt| {
            let client = presidio::client().map_err(|_| AnalyzerError::Unreachable)?;
            rt.block_on(presidio::analyze(&client, settings, &document))
        });
    match (answer, settings.on_error) {
        (Ok(analysis), _) => Ok(analysis),
        (Err(_), presidio::OnError::FailOpen) => Ok(Analysis::skipped()),
        (Err(e), presidio::OnError::FailClosed) => Err(e),
    }
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
