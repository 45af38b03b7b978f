//! Client authentication through HTTP: only configured, enabled, unexpired keys get through.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use common::gateway::{config_toml, error_of};
use common::{chat_body, sha256_hex, upstream_key, MockUpstream, TestGateway};

async fn status_and_code(gw: &TestGateway, auth: Option<&str>) -> (u16, String, String) {
    let mut req = gw
        .client
        .post(gw.url("/api/v1/chat/completions"))
        .header("content-type", "application/json");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let r = req
        .body(chat_body("openai/gpt-4o").to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert!(r.headers().contains_key("x-request-id"));
    if status == 401 {
        assert_eq!(r.headers()["x-should-retry"], "false");
    }
    let (t, c) = if status == 200 {
        (String::new(), String::new())
    } else {
        error_of(r).await
    };
    (status, t, c)
}

#[tokio::test]
async fn only_valid_keys_are_admitted() {
    let mock = MockUpstream::start().await;
    let extra = format!(
        r#"
[[keys]]
id = "old"
service = "billing"
sha256 = "{}"
expires = "2020-01-01T00:00:00Z"

[[keys]]
id = "off"
service = "billing"
sha256 = "{}"
disabled = true
"#,
        sha256_hex("ogk_expired_key"),
        sha256_hex("ogk_disabled_key")
    );
    let gw = TestGateway::start_with(&mock, &extra).await;
    let upstream_shaped = format!("Bearer {}", upstream_key());
    let cases: [(Option<&str>, &str); 8] = [
        (None, "missing_api_key"),
        (Some("Bearer"), "missing_api_key"),
        (Some("Basic b2drX3Rlc3Q="), "missing_api_key"),
        (Some("Bearer ogk_test_client_alphA"), "invalid_api_key"),
        (Some("Bearer ogk_test_client_alpha_"), "invalid_api_key"),
        (Some("Bearer ogk_expired_key"), "key_expired"),
        (Some("Bearer ogk_disabled_key"), "key_disabled"),
        (Some(upstream_shaped.as_str()), "upstream_key_not_accepted"),
    ];
    for (auth, code) in cases {
        let (status, kind, got) = status_and_code(&gw, auth).await;
        assert_eq!(
            (status, kind.as_str(), got.as_str()),
            (401, "authentication_error", code),
            "{auth:?}"
        );
    }
    assert_eq!(mock.count(), 0, "refused requests never reach the upstream");
    let (status, _, _) = status_and_code(&gw, Some("bearer ogk_test_client_alpha")).await;
    assert_eq!(status, 200);
    let (status, _, _) = status_and_code(&gw, Some("Bearer ogk_test_client_beta")).await;
    assert_eq!(status, 200);
    assert_eq!(mock.count(), 2);
    // A service without a [services] entry sends no attribution headers.
    assert!(mock.last().headers.get("http-referer").is_none());
}

#[tokio::test]
async fn the_error_message_does_not_echo_the_presented_key() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::from_toml(&config_toml(&mock, ""), Some(upstream_key())).await;
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .bearer_auth("ogk_canary_value_123")
        .body(chat_body("m").to_string())
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(!text.contains("canary_value"), "{text}");
}
