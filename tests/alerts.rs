//! The shipped alert rules: valid (`promtool check rules`), firing when they should
//! (`promtool test rules`), and written against metrics the gateway really exports.

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
use std::process::Command;

use common::{MockUpstream, TestGateway};

fn rules_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus")
}

#[test]
fn promtool_accepts_and_tests_the_rules() {
    if Command::new("promtool").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "promtool is missing and CI=true: .ci/run installs the prometheus package"
        );
        eprintln!("\n*** SKIPPED: promtool is not installed (apt-get install prometheus); the rules were not checked ***\n");
        return;
    }
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(rules_dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The anchor a Markdown heading gets (GitHub's rule, enough for our headings: lower case,
/// spaces to `-`, everything but letters, digits, `-` and `_` dropped).
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_links_to_its_own_runbook_section_and_every_link_resolves() {
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(rules_dir().join("alerts.yml")).unwrap())
            .unwrap();
    let runbooks =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/runbooks.md"))
            .unwrap();
    let anchors: Vec<String> = runbooks
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(slug)
        .collect();
    let mut alerts = Vec::new();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let Some(name) = rule["alert"].as_str() else {
                continue;
            };
            alerts.push(name.to_owned());
            let url = rule["annotations"]["runbook_url"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} has no runbook_url annotation"));
            let (file, anchor) = url
                .split_once('#')
                .unwrap_or_else(|| panic!("{name}: runbook_url {url} has no #anchor"));
            assert_eq!(file, "docs/runbooks.md", "{name}");
            assert_eq!(anchor, slug(name), "{name} links to its own section");
            assert!(
                anchors.iter().any(|a| a == anchor),
                "{name}: docs/runbooks.md has no section #{anchor}"
            );
        }
    }
    assert!(alerts.len() >= 15, "{alerts:?}");
    // No stale sections either: every runbook section belongs to an alert.
    for a in &anchors {
        assert!(
            alerts.iter().any(|n| slug(n) == *a),
            "docs/runbooks.md section #{a} has no alert rule"
        );
    }
    // Cross-links inside the runbooks resolve too.
    for (i, _) in runbooks.match_indices("](#") {
        let target: String = runbooks[i + 3..]
            .chars()
            .take_while(|c| *c != ')')
            .collect();
        assert!(anchors.contains(&target), "dangling link #{target}");
    }
}

#[test]
fn every_metric_the_rules_use_is_declared() {
    let rules = std::fs::read_to_string(rules_dir().join("alerts.yml")).unwrap();
    let declared =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/metrics.rs"))
            .unwrap();
    let mut names: Vec<String> = Vec::new();
    for (i, _) in rules.match_indices("orguard_") {
        let name: String = rules[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    assert!(names.len() >= 6, "{names:?}");
    for name in names {
        // Histograms are declared by their base name; Prometheus adds `_bucket`.
        let base = name.trim_end_matches("_bucket");
        assert!(
            declared.contains(&format!("\"{base}\"")),
            "the rules use {name}, which src/metrics.rs does not declare"
        );
    }
}

#[tokio::test]
async fn the_unlabelled_metrics_are_exported_from_the_start() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let text = gw
        .client
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "orguard_audit_failing",
        "orguard_audit_queue_depth",
        "orguard_upstream_credit_poll_success",
    ] {
        assert!(text.contains(&format!("# TYPE {name} gauge")), "{name}");
    }
}
