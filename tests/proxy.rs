//! Faithful forwarding: what reaches the mock upstream, and what comes back to the client.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use common::gateway::error_of;
use common::{chat_body, upstream_key, MockUpstream, Reply, TestGateway, CLIENT_KEY};
use serde_json::json;

#[tokio::test]
async fn chat_completion_is_forwarded_with_gateway_key_and_service_headers() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let body = json!({
        "model": "openai/gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "some_future_field": {"nested": [1, 2.5, "x", null, true]},
    });
    let response = gw
        .post("/api/v1/chat/completions")
        .header("x-stainless-lang", "python")
        .header("x-stainless-retry-count", "0")
        .header("openai-organization", "org-123")
        .header("x-openrouter-cache", "true")
        .header("x-openrouter-cache-ttl", "600")
        .header("cookie", "session=abc")
        .header("x-session-id", "conv-42")
        .header("accept", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(request_id.starts_with("req_"), "{request_id}");
    assert_eq!(
        response.headers()["x-generation-id"],
        "gen-1739458867-kUKFjpDGCEBBvK6V46PX"
    );
    assert!(
        response.headers().get("set-cookie").is_none(),
        "upstream cookies are not relayed"
    );
    let reply: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "Hello from the mock"
    );

    let got = mock.last();
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/api/v1/chat/completions");
    assert_eq!(
        common::without_policy_fields(got.json()),
        body,
        "unknown fields and values pass through unchanged"
    );
    assert_eq!(
        got.json()["provider"]["require_parameters"],
        true,
        "the policy stage wrote provider"
    );
    let mut names: Vec<&str> = got.headers.keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "accept",
            "authorization",
            "content-length",
            "content-type",
            "host",
            "http-referer",
            "user-agent",
            "x-openrouter-title",
            "x-session-id",
            "x-title"
        ],
        "exactly these headers go upstream"
    );
    assert!(got.headers["user-agent"]
        .to_str()
        .unwrap()
        .starts_with("orguard/"));
    let h = &got.headers;
    assert_eq!(h["authorization"], format!("Bearer {}", upstream_key()));
    assert_eq!(h["http-referer"], "https://billing.example.com");
    assert_eq!(h["x-openrouter-title"], "Billing Assistant");
    assert_eq!(h["x-title"], "Billing Assistant");
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["x-session-id"], "conv-42");
    for absent in [
        "x-stainless-lang",
        "x-stainless-retry-count",
        "openai-organization",
        "x-openrouter-cache",
        "x-openrouter-cache-ttl",
        "cookie",
    ] {
        assert!(h.get(absent).is_none(), "{absent} must not be forwarded");
    }
    for (_, v) in h {
        assert!(
            !v.to_str().unwrap_or_default().contains(CLIENT_KEY),
            "the client key never goes upstream"
        );
    }
}

#[tokio::test]
async fn key_order_of_the_body_is_preserved() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let raw = r#"{"zz":1,"model":"openai/gpt-4o","aa":{"y":1,"b":2},"messages":[{"role":"user","content":"hi"}]}"#;
    let r = gw
        .post("/v1/chat/completions")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let forwarded = String::from_utf8(mock.last().body.to_vec()).unwrap();
    let prefix = raw.strip_suffix('}').unwrap();
    assert!(
        forwarded.starts_with(prefix),
        "client fields keep their order and come first: {forwarded}"
    );
}

#[tokio::test]
async fn every_inference_route_under_both_prefixes() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let cases = [
        ("chat/completions", chat_body("openai/gpt-4o")),
        (
            "completions",
            json!({"model": "openai/gpt-3.5-turbo-instruct", "prompt": "Once"}),
        ),
        (
            "embeddings",
            json!({"model": "openai/text-embedding-3-small", "input": "hello"}),
        ),
        (
            "responses",
            json!({"model": "openai/gpt-4o", "input": "hello"}),
        ),
    ];
    for prefix in ["/api/v1", "/v1"] {
        for (path, body) in &cases {
            // Public: the one class of the test config that may use legacy /completions.
            let r = gw
                .post(&format!("{prefix}/{path}"))
                .header("x-data-classification", "public")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{prefix}/{path}");
            let got = mock.last();
            assert_eq!(got.path, format!("/api/v1/{path}"));
            assert_eq!(common::without_policy_fields(got.json()), *body);
        }
    }
    for prefix in ["/api/v1", "/v1"] {
        let r = gw
            .client
            .get(gw.url(&format!("{prefix}/models")))
            .bearer_auth(CLIENT_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let got = mock.last();
        assert_eq!(
            (got.method.as_str(), got.path.as_str()),
            ("GET", "/api/v1/models")
        );
        assert!(got.body.is_empty());
    }
}

#[tokio::test]
async fn unlisted_paths_are_not_proxied_and_listed_ones_are_get_only() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    for path in [
        "/api/v1/keys",
        "/api/v1/credits",
        "/v1/auth/key",
        "/api/v1/messages",
        "/api/v1/chat/completions/x",
        "/admin",
        "/api/v1generation",
    ] {
        let r = gw
            .client
            .get(gw.url(path))
            .bearer_auth(CLIENT_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers().contains_key("x-request-id"));
        assert_eq!(error_of(r).await.1, "not_found");
    }
    let r = gw
        .post("/api/v1/messages")
        .body(chat_body("x").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(mock.count(), 0, "nothing reached the upstream");

    let r = gw
        .client
        .get(gw.url("/api/v1/generation?id=gen-1"))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(mock.last().path, "/api/v1/generation?id=gen-1");
    let r = gw
        .post("/api/v1/generation")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = gw
        .client
        .get(gw.url("/api/v1/generation"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "passthrough paths still need a client key");
    assert_eq!(mock.count(), 1);

    let r = gw
        .client
        .get(gw.url("/api/v1/chat/completions"))
        .bearer_auth(CLIENT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(error_of(r).await.1, "method_not_allowed");
}

#[tokio::test]
async fn upstream_errors_pass_through_with_status_and_body() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let upstream_error = json!({"error": {"code": 404, "message": "No endpoints found matching your data policy",
        "metadata": {"error_type": "not_found"}}, "user_id": "user_x"});
    mock.push(Reply::status(404, upstream_error.clone()));
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), upstream_error);

    mock.push(Reply::Json {
        status: 429,
        body: json!({"error": {"code": 429, "message": "Rate limit exceeded"}}),
        headers: vec![("retry-after".into(), "7".into())],
    });
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
}

#[tokio::test]
async fn unreachable_and_slow_upstreams_get_gateway_errors() {
    let mock = MockUpstream::start().await;
    // A port nothing listens on: bind, note it, drop it.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let toml = common::gateway::config_toml(&mock, "")
        .replace(&mock.base_url(), &format!("http://{dead}/api/v1"));
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["x-should-retry"], "true");
    assert_eq!(
        error_of(r).await,
        ("upstream_error".into(), "upstream_unreachable".into())
    );

    let gw = TestGateway::start(&mock).await;
    mock.push(Reply::Delayed(
        std::time::Duration::from_secs(5),
        Box::new(Reply::ok(json!({}))),
    ));
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 504);
    assert_eq!(error_of(r).await.1, "upstream_timeout");
}

#[tokio::test]
async fn without_an_upstream_key_requests_fail_and_readyz_says_why() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::from_toml(&common::gateway::config_toml(&mock, ""), None).await;
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["x-should-retry"], "false");
    assert_eq!(error_of(r).await.1, "upstream_not_configured");
    assert_eq!(mock.count(), 0);
    let r = gw.client.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "not_ready");

    let gw = TestGateway::start(&mock).await;
    let r = gw.client.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = gw.client.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
}
