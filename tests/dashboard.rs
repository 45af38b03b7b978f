//! The Grafana dashboard (`deploy/grafana/orguard.json`) queries only metrics orguard
//! exports: every name in every panel's expression appears on `/metrics` after a mix of
//! traffic, or — for families that only show once their event happens (an open breaker, a
//! refused account) — is registered under that exact name.

// Test code may unwrap; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::collections::BTreeSet;

use common::{chat_body, MockUpstream, Reply, TestGateway};
use serde_json::{json, Value};

fn dashboard() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/orguard.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `orguard_…` names in a PromQL expression, histogram series mapped to their family.
fn names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("orguard_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        out.insert(family.to_owned());
        rest = &tail[end..];
    }
    out
}

#[tokio::test]
async fn every_dashboard_query_uses_a_metric_orguard_exports() {
    let d = dashboard();
    let panels = d["panels"].as_array().unwrap();
    assert!(panels.len() >= 15, "one panel per concern");
    let mut wanted = BTreeSet::new();
    for p in panels {
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", p["title"]);
        for t in targets {
            let found = names(t["expr"].as_str().unwrap());
            assert!(!found.is_empty(), "{}: no orguard metric", p["title"]);
            wanted.extend(found);
        }
    }

    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    // Served, redacted, denied and served outside policy.
    assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    let mut pii = chat_body("openai/gpt-4o");
    pii["messages"][0]["content"] = json!("mail jane.doe@example.com about it");
    assert_eq!(gw.chat(&pii).await.status(), 200);
    let r = gw
        .client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth("ogk_nope")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    mock.push(Reply::served_by("Together", "openai/gpt-4o", false));
    let r = gw
        .post("/api/v1/chat/completions")
        .header("x-data-classification", "confidential")
        .body(chat_body("openai/gpt-4o").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);

    let page = gw.metrics().await;
    let exported: BTreeSet<String> = page
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/metrics.rs")).unwrap();
    let mut on_page = 0;
    for name in &wanted {
        if exported.contains(name) {
            on_page += 1;
        } else {
            assert!(
                source.contains(&format!("\"{name}\"")),
                "the dashboard queries {name}, which orguard does not export"
            );
        }
    }
    assert!(
        on_page * 4 >= wanted.len() * 3,
        "most dashboard metrics are on /metrics after this traffic: {on_page} of {}",
        wanted.len()
    );
    for gauge in [
        "orguard_build_info",
        "orguard_in_flight_requests",
        "orguard_queued_requests",
        "orguard_gateway_overhead_seconds",
    ] {
        assert!(exported.contains(gauge), "{gauge} is exported");
    }
    assert!(page.contains(&format!(
        "orguard_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
}
