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
