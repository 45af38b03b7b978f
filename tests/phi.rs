//! Restricted/PHI end to end through HTTP (issue #19): health identifiers in a prompt raise
//! the request to `policy.phi_raises_to`, which routes it to the restricted class's own
//! upstream; the response headers, the denial message and the audit say which types did it.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use common::gateway::config_toml;
use common::{sha256_hex, upstream_key, MockUpstream, Reply, TestGateway};
use serde_json::{json, Value};

/// A key whose default class is `confidential`.
const CONFIDENTIAL_KEY: &str = "og-test-confidential-key-0001";

const PROMPT: &str =
    "Summarise the visit. Seen by Dr. Roe, NPI 1234567893. Dx: E11.9, follow up in 3 months.";

/// The test config with PHI raising to `restricted`, whose requests go to a self-hosted
/// upstream (`local`), never to OpenRouter.
fn phi_config(openrouter: &MockUpstream, local: &MockUpstream) -> String {
    let extra = format!(
        "[upstreams.selfhosted]\nbase_url = \"{}\"\nallow_insecure_http = true\n\n\
         [[keys]]\nid = \"clinic-1\"\nservice = \"clinic\"\nsha256 = \"{}\"\ndefault_class = \"confidential\"\n",
        local.base_url(),
        sha256_hex(CONFIDENTIAL_KEY),
    );
    config_toml(openrouter, &extra)
        .replace("require_byok = true", "upstream = \"selfhosted\"")
        .replace("[policy]\n", "[policy]\nphi_raises_to = \"restricted\"\n")
}

async fn send(gw: &TestGateway, model: &str) -> reqwest::Response {
    let body = json!({"model": model, "messages": [{"role": "user", "content": PROMPT}]});
    reqwest::Client::new()
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(CONFIDENTIAL_KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_npi_and_a_diagnosis_from_a_confidential_key_go_only_to_the_restricted_upstream() {
    let openrouter = MockUpstream::start().await;
    let local = MockUpstream::start().await;
    let gw = TestGateway::from_toml(&phi_config(&openrouter, &local), Some(upstream_key())).await;
    local.push(Reply::served_by(
        "",
        "meta-llama/llama-3.1-70b-instruct",
        false,
    ));

    let r = send(&gw, "meta-llama/llama-3.1-70b-instruct").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-orguard-class"], "restricted");
    let decisions = r.headers()["x-orguard-decisions"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(decisions.contains("class_raised_by_phi"), "{decisions}");
    assert_eq!(openrouter.count(), 0, "PHI never reached OpenRouter");
    assert_eq!(local.count(), 1, "the restricted class's upstream got it");

    let records = gw.audit_records().await;
    let request = records
        .iter()
        .find(|r| r["type"] == "request")
        .expect("a request record");
    assert_eq!(request["class"], "restricted");
    assert_eq!(request["upstream"], "selfhosted");
    assert_eq!(
        request["class_raised_by"],
        json!(["DIAGNOSIS_CODE", "US_NPI"])
    );
    assert!(request["decisions"]
        .as_array()
        .unwrap()
        .contains(&Value::from("class.phi_raise")));
    // Types only: the identifiers themselves are in no record.
    let all = serde_json::to_string(&records).unwrap();
    assert!(!all.contains("1234567893") && !all.contains("E11.9"));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_denial_after_the_phi_raise_names_the_types_that_raised_it() {
    let openrouter = MockUpstream::start().await;
    let local = MockUpstream::start().await;
    let gw = TestGateway::from_toml(&phi_config(&openrouter, &local), Some(upstream_key())).await;

    // Allowed for confidential, not for restricted.
    let r = send(&gw, "openai/gpt-4o").await;
    assert_eq!(r.status(), 403);
    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(v["error"]["code"], "model_not_allowed");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "the key's default class is confidential, raised to restricted by detected PHI DIAGNOSIS_CODE, US_NPI"
        ),
        "{message}"
    );
    assert_eq!(openrouter.count() + local.count(), 0);

    let records = gw.audit_records().await;
    let denied = records
        .iter()
        .find(|r| r["type"] == "denied")
        .expect("a denied record");
    assert_eq!(denied["class"], "restricted");
    let reason = denied["reason"].as_str().unwrap();
    assert!(
        reason.contains("by detected PHI DIAGNOSIS_CODE, US_NPI"),
        "{reason}"
    );
    assert!(!reason.contains("1234567893"));
    gw.shutdown().await;
}
