//! Denials that explain themselves, and answers that say what was done: a refusal names the
//! request's class, why it has that class (header, key default, min_class, or detected
//! types — never values) and what the class allows; a forwarded answer carries
//! `x-orguard-class` and `x-orguard-decisions`. Also `GET /models/{id}` (the SDKs'
//! `models.retrieve`) and `policy explain` reading the request from stdin.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::gateway::config_toml;
use common::process::command;
use common::{upstream_key, MockUpstream, Reply, TestGateway, CLIENT_KEY};
use serde_json::{json, Value};

const EMAIL: &str = "jane.doe@example.com";

fn with_email(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": format!("Write to {EMAIL} about the invoice")}]})
}

async fn error_body(r: reqwest::Response) -> Value {
    serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap()["error"].clone()
}

#[tokio::test]
async fn a_class_raised_by_content_is_explained_in_the_denial() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    // billing-1 defaults to internal (models "*"); the e-mail makes it confidential.
    let r = gw.chat(&with_email("google/gemini-2.0-flash-001")).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-orguard-class"], "confidential");
    assert_eq!(r.headers()["x-should-retry"], "false");
    let e = error_body(r).await;
    assert_eq!(e["code"], "model_not_allowed");
    assert_eq!(e["type"], "policy_violation");
    assert_eq!(
        e["message"],
        "model google/gemini-2.0-flash-001 is not allowed for class confidential \
         (request class confidential: the key's default class is internal, raised to \
         confidential by detected EMAIL; class confidential allows models \
         anthropic/claude-*, openai/gpt-4o*)"
    );
    assert_eq!(mock.count(), 0, "nothing was forwarded");

    // The audit's denial says the same, with the type and never the value.
    let records = gw.audit_records().await;
    let denied = records.iter().find(|r| r["type"] == "denied").unwrap();
    assert_eq!(denied["class"], "confidential");
    let line = denied.to_string();
    assert!(line.contains("detected EMAIL"), "{line}");
    assert!(!line.contains(EMAIL), "{line}");
}

#[tokio::test]
async fn a_declared_class_and_a_key_minimum_are_named() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start_with(
        &mock,
        r#"
[[keys]]
id = "phi-1"
service = "phi"
sha256 = "SHA"
default_class = "confidential"
min_class = "confidential"
"#
        .replace("SHA", &common::sha256_hex("ogk_test_phi_key"))
        .as_str(),
    )
    .await;
    let body = json!({"model": "google/gemini-2.0-flash-001", "messages": [{"role": "user", "content": "hi"}]});
    let r = gw.chat(&body).await;
    assert_eq!(r.status(), 200, "internal allows google/*");

    let r = gw
        .post("/v1/chat/completions")
        .header("X-Data-Classification", "confidential")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let message = error_body(r).await["message"].as_str().unwrap().to_owned();
    assert!(
        message.ends_with(
            "(request class confidential: declared confidential in X-Data-Classification; \
             class confidential allows models anthropic/claude-*, openai/gpt-4o*)"
        ),
        "{message}"
    );

    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("ogk_test_phi_key")
        .header("X-Data-Classification", "public")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let message = error_body(r).await["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains(
            "declared public in X-Data-Classification, raised to the key's min_class confidential"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn answers_carry_the_class_and_what_was_changed() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;

    let mut body = with_email("openai/gpt-4o");
    body["max_tokens"] = json!(99_999);
    let r = gw.chat(&body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-orguard-class"], "confidential");
    let decisions = r.headers()["x-orguard-decisions"]
        .to_str()
        .unwrap()
        .to_owned();
    for tag in [
        "class_raised_by_content",
        "provider_pinned",
        "max_tokens_clamped",
        "redacted:EMAIL",
    ] {
        assert!(
            decisions.split(',').any(|d| d == tag),
            "{tag} in {decisions}"
        );
    }
    assert!(!decisions.contains("jane"), "{decisions}");
    assert!(
        mock.last().json()["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("[EMAIL_1]"),
        "the upstream saw the placeholder"
    );

    // A stream carries them too, before its first byte.
    mock.push(Reply::chat_stream(2, Duration::from_millis(5)));
    let mut plain = common::chat_body("openai/gpt-4o-mini");
    plain["stream"] = json!(true);
    let r = gw.chat(&plain).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-orguard-class"], "internal");
    assert_eq!(
        r.headers()["x-orguard-decisions"],
        "provider_pinned,max_tokens_injected"
    );
    let _ = r.bytes().await.unwrap();
}

#[tokio::test]
async fn models_retrieve_returns_one_model_or_a_404() {
    let mock = MockUpstream::start().await;
    mock.route(
        "/api/v1/models",
        Reply::ok(json!({"data": [
            {"id": "openai/gpt-4o", "name": "GPT-4o", "pricing": {"prompt": "0.0000025", "completion": "0.00001"}},
            {"id": "google/gemini-2.0-flash-001", "name": "Gemini 2.0 Flash"}
        ]})),
    );
    let gw = TestGateway::start(&mock).await;
    let get = |path: &str, class: &str| {
        gw.client
            .get(gw.url(path))
            .bearer_auth(CLIENT_KEY)
            .header("X-Data-Classification", class)
            .send()
    };

    // The id sent raw (as the SDKs do) and percent-encoded, under both prefixes.
    for path in [
        "/v1/models/openai/gpt-4o",
        "/api/v1/models/openai%2Fgpt-4o",
        "/v1/models/OpenAI%2FGPT-4o",
    ] {
        let r = get(path, "confidential").await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["id"], "openai/gpt-4o", "{path}");
        assert_eq!(v["pricing"]["prompt"], "0.0000025");
    }

    // Listed upstream, but not for this class: a 404, as if it did not exist.
    let r = get("/v1/models/google%2Fgemini-2.0-flash-001", "confidential")
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-should-retry"], "false");
    let e = error_body(r).await;
    assert_eq!(e["code"], "model_not_found");
    assert_eq!(e["type"], "invalid_request_error");
    assert_eq!(
        e["message"],
        "model google/gemini-2.0-flash-001 is not available to class confidential"
    );
    let r = get("/v1/models/google/gemini-2.0-flash-001", "internal")
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "internal may use it");

    // Not listed at all, and an id that is not a model id: neither is echoed (a path can
    // hold anything, a key included).
    let r = get("/v1/models/openai/gpt-5", "internal").await.unwrap();
    assert_eq!(r.status(), 404);
    let e = error_body(r).await;
    assert_eq!(
        e["message"],
        "this model is not available to class internal"
    );
    let canary = "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let r = get(&format!("/v1/models/evil/{canary}"), "internal")
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(!r.text().await.unwrap().contains("0123456789abcdef"));
    let r = get("/v1/models/jane%40example.com%20x", "internal")
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e = error_body(r).await;
    assert_eq!(
        e["message"],
        "this model is not available to class internal"
    );

    // Still authenticated like every route.
    let r = gw
        .client
        .get(gw.url("/v1/models/openai/gpt-4o"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn policy_explain_reads_stdin_and_explains_the_class_on_deny() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("hmac.key");
    std::fs::write(&key, "explain test key").unwrap();
    let toml = config_toml(&mock, "")
        .replace("AUDIT_DIR", &dir.path().join("audit").display().to_string())
        .replace("HMAC_KEY_FILE", &key.display().to_string());
    let path = dir.path().join("orguard.toml");
    std::fs::write(&path, &toml).unwrap();

    let explain = |body: &Value| {
        let mut child = command()
            .env("OPENROUTER_API_KEY", upstream_key())
            .args(["--config", path.to_str().unwrap()])
            .args(["policy", "explain", "--key-id", "billing-1", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };

    let (code, text) = explain(&with_email("google/gemini-2.0-flash-001"));
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(
        text,
        "decision: DENY (403 model_not_allowed)\n\
         reason:   model google/gemini-2.0-flash-001 is not allowed for class confidential\n\
         class:    confidential\n\
         because:  the key's default class is internal, raised to confidential by detected EMAIL\n\
         class confidential allows models: anthropic/claude-*, openai/gpt-4o*\n"
    );

    let (code, text) = explain(&with_email("openai/gpt-4o"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("class:    confidential"), "{text}");
    assert!(text.contains("[EMAIL_1]"), "{text}");
    assert!(!text.contains(EMAIL), "{text}");
    assert_eq!(mock.count(), 0, "explain sends nothing");
}
