//! `/metrics` after a scripted mix of requests: exact counter values and histogram counts,
//! labels that carry no secrets or prompt text, and the upstream credit watch.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::time::Duration;

use common::gateway::config_toml;
use common::{chat_body, upstream_key, MockUpstream, Reply, TestGateway};
use serde_json::json;

/// The value of one sample, by its exact name and label set as Prometheus prints it.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// The metrics page once the credit watch's first poll has succeeded (at most ~2 s).
async fn metrics_once_polled(gw: &TestGateway) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = gw.metrics().await;
        if text
            .lines()
            .any(|l| l == "orguard_upstream_credit_poll_success 1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    text
}

#[tokio::test]
async fn metrics_count_a_scripted_mix_exactly() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let post = |class: &'static str, body: serde_json::Value| {
        let req = gw
            .post("/api/v1/chat/completions")
            .header("x-data-classification", class)
            .body(body.to_string());
        async move { req.send().await.unwrap() }
    };
    // Two allowed, served by OpenAI.
    for _ in 0..2 {
        assert_eq!(
            post("internal", chat_body("openai/gpt-4o")).await.status(),
            200
        );
    }
    // One denied by policy.
    assert_eq!(
        post("internal", chat_body("openrouter/auto"))
            .await
            .status(),
        403
    );
    // One redacted (an email raises it to confidential; placeholder).
    let with_email = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "mail secret-person@example.com"}]});
    assert_eq!(post("internal", with_email).await.status(), 200);
    // One failed upstream.
    mock.push(Reply::status(
        502,
        json!({"error": {"code": 502, "message": "Provider returned error"}}),
    ));
    assert_eq!(
        post("internal", chat_body("openai/gpt-4o")).await.status(),
        502
    );
    // One streamed.
    mock.push(Reply::chat_stream(3, Duration::from_millis(5)));
    let streamed = json!({"model": "openai/gpt-4o", "stream": true, "messages": []});
    post("internal", streamed).await.text().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let r = gw.client.get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().await.unwrap();
    let ok = r#"orguard_requests_total{class="internal",endpoint="chat_completions",model="openai/gpt-4o",provider="OpenAI",status="200"}"#;
    assert_eq!(sample(&text, ok), 3.0, "two plain and one streamed");
    let conf = r#"orguard_requests_total{class="confidential",endpoint="chat_completions",model="openai/gpt-4o",provider="OpenAI",status="200"}"#;
    assert_eq!(sample(&text, conf), 1.0);
    let failed = r#"orguard_requests_total{class="internal",endpoint="chat_completions",model="openai/gpt-4o",provider="none",status="502"}"#;
    assert_eq!(sample(&text, failed), 1.0);
    assert_eq!(
        sample(&text, r#"orguard_denials_total{code="router_not_allowed"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, r#"orguard_redactions_total{type="EMAIL"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, r#"orguard_upstream_attempts_total{outcome="200"}"#),
        4.0
    );
    assert_eq!(
        sample(&text, r#"orguard_upstream_attempts_total{outcome="502"}"#),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"orguard_request_duration_seconds_count{model="openai/gpt-4o",phase="total"}"#
        ),
        5.0
    );
    assert_eq!(
        sample(
            &text,
            r#"orguard_request_duration_seconds_count{model="openai/gpt-4o",phase="ttfb"}"#
        ),
        5.0
    );
    assert_eq!(
        sample(
            &text,
            r#"orguard_request_duration_seconds_bucket{model="openai/gpt-4o",phase="total",le="60"}"#
        ),
        5.0
    );
    // Tokens and cost: three mock completions (3+4 tokens, $0.00002) and a stream (3+3, $0.0001).
    assert_eq!(
        sample(
            &text,
            r#"orguard_tokens_total{direction="prompt",key_id="billing-1",model="openai/gpt-4o"}"#
        ),
        12.0
    );
    assert_eq!(
        sample(
            &text,
            r#"orguard_tokens_total{direction="completion",key_id="billing-1",model="openai/gpt-4o"}"#
        ),
        15.0
    );
    assert!(
        (sample(
            &text,
            r#"orguard_cost_usd_total{key_id="billing-1",model="openai/gpt-4o"}"#
        ) - 0.00016)
            .abs()
            < 1e-12
    );
    assert_eq!(
        sample(&text, r#"orguard_audit_records_total{result="written"}"#),
        11.0,
        "{text}"
    );
    assert_eq!(sample(&text, "orguard_audit_failing"), 0.0);
    // No secrets or prompt text in any label.
    for canary in [
        "secret-person",
        "example.com",
        common::CLIENT_KEY,
        &upstream_key(),
    ] {
        assert!(!text.contains(canary), "{canary} in /metrics");
    }
}

#[tokio::test]
async fn violations_fallbacks_and_open_breakers_are_counted() {
    let mock = MockUpstream::start().await;
    let toml = config_toml(
        &mock,
        "[resilience.fallbacks]\n\"openai/gpt-4o\" = [\"openai/gpt-4o-mini\"]\n",
    )
    .replace("breaker_threshold = 1000\n", "breaker_threshold = 1\n");
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    mock.push(Reply::served_by("Together", "openai/gpt-4o", false));
    let r = gw
        .post("/api/v1/chat/completions")
        .header("x-data-classification", "confidential")
        .body(chat_body("openai/gpt-4o").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    mock.push(Reply::status(
        500,
        json!({"error": {"code": 500, "message": "x"}}),
    ));
    assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    let text = gw.metrics().await;
    assert_eq!(
        sample(
            &text,
            r#"orguard_violations_total{action="block",kind="served_provider_not_allowed"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"orguard_fallbacks_total{model="openai/gpt-4o-mini"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(&text, r#"orguard_circuit_open{model="openai/gpt-4o"}"#),
        1.0
    );
}

#[tokio::test]
async fn the_credit_watch_exports_the_upstream_keys_state() {
    let mock = MockUpstream::start().await;
    // The first upstream call of the gateway is the credit poll.
    mock.push(Reply::ok(json!({"data": {"label": "gateway", "limit": 100.0, "usage": 12.5, "limit_remaining": 87.5, "usage_daily": 1.25}})));
    let toml =
        config_toml(&mock, "").replace("credit_poll_seconds = 0\n", "credit_poll_seconds = 3600\n");
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    let text = metrics_once_polled(&gw).await;
    assert_eq!(
        sample(
            &text,
            r#"orguard_upstream_credit_usd{field="limit_remaining"}"#
        ),
        87.5
    );
    assert_eq!(
        sample(&text, r#"orguard_upstream_credit_usd{field="usage_daily"}"#),
        1.25
    );
    assert_eq!(mock.requests()[0].path, "/api/v1/key");
    assert_eq!(
        mock.requests()[0].headers["authorization"],
        format!("Bearer {}", upstream_key())
    );
}

#[tokio::test]
async fn the_account_balance_is_polled_with_the_management_key_only() {
    let mock = MockUpstream::start().await;
    mock.route(
        "/api/v1/key",
        Reply::ok(json!({"data": {"label": "gateway", "limit": 100.0, "usage": 1.0, "limit_remaining": 99.0, "usage_daily": 0.5}})),
    );
    mock.route(
        "/api/v1/credits",
        Reply::ok(json!({"data": {"total_credits": 250.0, "total_usage": 200.5}})),
    );
    let dir = tempfile::tempdir().unwrap();
    let management = format!("sk-or-v1-{}", "3e".repeat(32));
    let file = dir.path().join("management.key");
    std::fs::write(&file, &management).unwrap();
    let toml = config_toml(&mock, "")
        .replace("credit_poll_seconds = 0\n", "credit_poll_seconds = 3600\n")
        .replace(
            "allow_insecure_http = true\n",
            &format!(
                "allow_insecure_http = true\nmanagement_key_file = \"{}\"\n",
                file.display()
            ),
        );
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    let text = metrics_once_polled(&gw).await;
    assert_eq!(
        sample(&text, "orguard_upstream_account_usd{field=\"balance\"}"),
        49.5
    );
    assert_eq!(
        sample(
            &text,
            "orguard_upstream_account_usd{field=\"total_credits\"}"
        ),
        250.0
    );
    assert!(!text.contains("sk-or-"));
    // The management key went only to /credits; /key got the gateway's key.
    for r in mock.requests() {
        let auth = r.headers["authorization"].to_str().unwrap().to_owned();
        if r.path == "/api/v1/credits" {
            assert_eq!(auth, format!("Bearer {management}"));
        } else {
            assert!(
                !auth.contains(&management),
                "{} carried the management key",
                r.path
            );
        }
    }
    // An inference request never carries it.
    assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    assert_eq!(
        mock.last().headers["authorization"],
        format!("Bearer {}", upstream_key()).as_str()
    );
}

/// `/metrics` shows every key's spend and the account's credit: with an operator listener
/// configured, it is served there only, and the client port answers 404.
#[tokio::test]
async fn with_an_admin_listener_metrics_are_served_only_there() {
    let mock = MockUpstream::start().await;
    let extra = "\n[admin]\nlisten = \"127.0.0.1:0\"\n";
    let gw = TestGateway::start_with(&mock, extra).await;
    let client_port = gw.client.get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(client_port.status(), 404);
    let body = client_port.text().await.unwrap();
    assert!(!body.contains("orguard_"), "{body}");
    for path in ["/api/v1/metrics", "/v1/metrics"] {
        let r = gw.client.get(gw.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let admin = gw
        .client
        .get(gw.admin_url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    assert!(admin
        .text()
        .await
        .unwrap()
        .contains("orguard_audit_queue_depth"));
    // The probes stay on both listeners.
    let health = gw.client.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    // Without `admin.listen`, the client port still serves it (one-listener setups).
    let plain = TestGateway::start(&mock).await;
    assert!(plain.metrics().await.contains("orguard_audit_queue_depth"));
}
