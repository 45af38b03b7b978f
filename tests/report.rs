//! `orguard report` for the shipped example config, against a golden file. To accept an
//! intended change: `ORGUARD_UPDATE_GOLDEN=1 cargo test --test report`, then review the diff.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::path::Path;

#[test]
fn the_report_for_the_example_config_matches_the_golden_file() {
    let out = common::process::command().arg("report").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/report.md");
    if std::env::var("ORGUARD_UPDATE_GOLDEN").is_ok() {
        std::fs::write(&golden, &text).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(
        text, want,
        "the report changed; if intended, regenerate with ORGUARD_UPDATE_GOLDEN=1"
    );
    // It describes controls, never secrets.
    assert!(
        text.contains("```mermaid")
            && text.contains("| confidential |")
            && text.contains("| demo | demo |")
    );
    assert!(!text.contains("509b38af"), "no key hash in the report");
}

/// The report states the transport that is configured: orguard serves plain HTTP (it
/// terminates no TLS), and an `http://` upstream is flagged as unencrypted.
#[test]
fn the_report_states_plain_http_where_it_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orguard.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"0.0.0.0:8080\"\n[upstream]\nbase_url = \"http://llm-proxy.internal:8000/api/v1\"\nallow_insecure_http = true\n[classes.internal]\nmodels = [\"*\"]\n",
    )
    .unwrap();
    let out = common::process::command()
        .arg("--config")
        .arg(&path)
        .arg("report")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("|HTTPS|"),
        "no HTTPS claimed for the client hop:\n{text}"
    );
    assert!(
        text.contains("plain HTTP on `0.0.0.0:8080`") && text.contains("does not terminate TLS"),
        "{text}"
    );
    let upstream = text
        .lines()
        .find(|l| l.contains("orguard → OpenRouter"))
        .unwrap_or_else(|| panic!("no upstream transport line:\n{text}"));
    assert!(
        upstream.contains("plain HTTP, unencrypted")
            && upstream.contains("http://llm-proxy.internal:8000"),
        "{upstream}"
    );
    assert!(
        text.contains("PLAIN HTTP (unencrypted)"),
        "the diagram flags it too:\n{text}"
    );
}
