//! Resilience through HTTP: retries with backoff and `Retry-After`, fallback chains that
//! never leave policy, circuit breakers that open and recover, and load shedding.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::time::{Duration, Instant};

use common::gateway::{config_toml, error_of};
use common::{chat_body, upstream_key, MockUpstream, Reply, TestGateway};
use serde_json::{json, Value};
use sha2::Digest;

fn with(mock: &MockUpstream, settings: &str, extra: &str) -> String {
    let base = config_toml(mock, extra);
    let mut out = base
        .replace("max_retries = 0\n", "")
        .replace("breaker_threshold = 1000\n", "")
        .replace("breaker_cooldown_ms = 30000\n", "");
    out = out.replace("[resilience]\n", &format!("[resilience]\n{settings}\n"));
    out
}

fn upstream_error(status: u16) -> Reply {
    Reply::status(
        status,
        json!({"error": {"code": status, "message": "Provider returned error"}}),
    )
}

#[tokio::test]
async fn retries_on_5xx_and_429_then_succeeds() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::from_toml(
        &with(&mock, "max_retries = 3\nbreaker_threshold = 100", ""),
        Some(upstream_key()),
    )
    .await;
    mock.push(upstream_error(502));
    mock.push(upstream_error(429));
    mock.push(upstream_error(503));
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(mock.count(), 4);
    let records = gw.audit_records().await;
    let response = records.iter().find(|r| r["type"] == "response").unwrap();
    let attempts: Vec<(u64, &str)> = response["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["status"].as_u64().unwrap(),
                a["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (502, "http_error"),
            (429, "http_error"),
            (503, "http_error"),
            (200, "ok")
        ]
    );
    assert_eq!(response["outcome"], "completed");
    assert_eq!(
        records.iter().filter(|r| r["type"] == "request").count(),
        1,
        "a retry resends the same audited body"
    );
    // Every attempt sent the same bytes.
    let bodies: Vec<_> = mock.requests().into_iter().map(|r| r.body).collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn retries_stop_at_the_limit_and_the_last_error_is_passed_on() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::from_toml(
        &with(&mock, "max_retries = 2\nbreaker_threshold = 100", ""),
        Some(upstream_key()),
    )
    .await;
    mock.set_default(upstream_error(503));
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["error"]["message"], "Provider returned error",
        "the upstream's own error body"
    );
    assert_eq!(mock.count(), 3);
    // Not retried: client errors and policy-unsatisfiable 404s.
    let mock = MockUpstream::start().await;
    let gw = TestGateway::from_toml(
        &with(&mock, "max_retries = 2\nbreaker_threshold = 100", ""),
        Some(upstream_key()),
    )
    .await;
    // 401 and 402 refuse the gateway's own key or credit: the client sees 502/503 with the
    // operator's code (tests/upstream_failures.rs), and they are not retried either.
    for (status, seen) in [(400, 400), (401, 502), (402, 503), (404, 404)] {
        mock.push(upstream_error(status));
        assert_eq!(
            gw.chat(&chat_body("openai/gpt-4o")).await.status().as_u16(),
            seen
        );
    }
    assert_eq!(mock.count(), 4);
}

#[tokio::test]
async fn retry_after_is_honoured_and_backoff_is_bounded() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::from_toml(
        &with(
            &mock,
            "max_retries = 1\nbreaker_threshold = 100\nretry_after_cap_ms = 5000",
            "",
        ),
        Some(upstream_key()),
    )
    .await;
    mock.push(Reply::Json {
        status: 429,
        body: json!({"error": {"code": 429, "message": "slow down"}}),
        headers: vec![("retry-after".into(), "1".into())],
    });
    let started = Instant::now();
    assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 was honoured ({waited:?})"
    );
    assert!(waited < Duration::from_secs(4), "{waited:?}");

    // Without a hint, full jitter stays under the configured ceiling (20 ms base, 200 ms max).
    mock.push(upstream_error(502));
    mock.push(upstream_error(502));
    let gw = TestGateway::from_toml(
        &with(&mock, "max_retries = 2\nbreaker_threshold = 100", ""),
        Some(upstream_key()),
    )
    .await;
    let started = Instant::now();
    assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn fallbacks_are_tried_in_order_and_never_leave_policy() {
    let mock = MockUpstream::start().await;
    // Per model: gpt-4o → claude (confidential allows it) → llama (it does not: skipped).
    let extra = "[resilience.fallbacks]\n\"openai/gpt-4o\" = [\"anthropic/claude-3.5-sonnet\", \"meta-llama/llama-3.1-70b-instruct\"]\n";
    let toml = with(&mock, "max_retries = 0\nbreaker_threshold = 100", "")
        .replace("[resilience]\n", &format!("{extra}\n[resilience]\n"));
    let toml = toml.replace(&format!("{extra}\n[resilience]\n"), "[resilience]\n") + extra;
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    mock.push(upstream_error(502));
    mock.push(Reply::served_by(
        "Anthropic",
        "anthropic/claude-3.5-sonnet",
        false,
    ));
    let r = gw
        .post("/api/v1/chat/completions")
        .header("x-data-classification", "confidential")
        .body(chat_body("openai/gpt-4o").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-orguard-fallback"],
        "anthropic/claude-3.5-sonnet"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["model"], "anthropic/claude-3.5-sonnet",
        "the client sees which model served"
    );
    let sent: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, ["openai/gpt-4o", "anthropic/claude-3.5-sonnet"]);
    let records = gw.audit_records().await;
    let requests: Vec<&Value> = records.iter().filter(|r| r["type"] == "request").collect();
    assert_eq!(
        requests.len(),
        1,
        "one request record per client request, naming every body that may leave"
    );
    assert_eq!(requests[0]["model_requested"], "openai/gpt-4o");
    let fallback = &requests[0]["fallback_bodies"][0];
    assert_eq!(fallback["model"], "anthropic/claude-3.5-sonnet");
    let sent_body = &mock.requests()[1].body;
    assert_eq!(
        fallback["body_sha256"],
        hex::encode(sha2::Sha256::digest(sent_body.as_ref())),
        "the fallback's body was audited before it left"
    );
    let responses: Vec<&Value> = records.iter().filter(|r| r["type"] == "response").collect();
    assert_eq!(responses.len(), 1, "and one response record");
    assert_eq!(responses[0]["outcome"], "completed");
    assert_eq!(
        responses[0]["attempts"],
        json!([
            {"model": "openai/gpt-4o", "upstream": "openrouter", "provider": null,
             "status": 502, "outcome": "http_error"},
            {"model": "anthropic/claude-3.5-sonnet", "upstream": "openrouter",
             "provider": "Anthropic", "status": 200, "outcome": "ok"},
        ]),
        "the response record lists every attempt: model, upstream, provider, status, outcome"
    );

    // Both allowed models fail: the forbidden third one is never tried.
    mock.push(upstream_error(502));
    mock.push(upstream_error(503));
    let r = gw
        .post("/api/v1/chat/completions")
        .header("x-data-classification", "confidential")
        .body(chat_body("openai/gpt-4o").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let sent: Vec<String> = mock
        .requests()
        .iter()
        .skip(2)
        .map(|r| r.json()["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent, ["openai/gpt-4o", "anthropic/claude-3.5-sonnet"]);
    assert!(mock
        .requests()
        .iter()
        .all(|r| !r.json()["model"].as_str().unwrap().contains("llama")));
    // Still one request and one response record; an answer nobody could give is not
    // "completed", whatever status it was passed on with.
    let records = gw.audit_records().await;
    let count = |t: &str| records.iter().filter(|r| r["type"] == t).count();
    assert_eq!(
        (count("request"), count("response")),
        (2, 2),
        "{records:#?}"
    );
    let last = records.iter().rfind(|r| r["type"] == "response").unwrap();
    assert_eq!(last["status"], 503);
    assert_eq!(last["outcome"], "upstream_error");
    let statuses: Vec<u64> = last["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [502, 503]);
}

#[tokio::test]
async fn a_class_fallback_outside_the_class_is_a_config_error() {
    let mock = MockUpstream::start().await;
    let toml = config_toml(&mock, "").replace(
        "redact = \"placeholder\"\n",
        "redact = \"placeholder\"\nfallbacks = [\"mistralai/mistral-large\"]\n",
    );
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key.path(), "k").unwrap();
    let toml = toml
        .replace("AUDIT_DIR", "/tmp/x")
        .replace("HMAC_KEY_FILE", &key.path().display().to_string());
    let err = orguard::config::from_toml(&toml, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("classes.confidential.fallbacks[0]"),
        "{err}"
    );
}

#[tokio::test]
async fn the_breaker_opens_after_the_threshold_and_recovers_after_the_cooldown() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::from_toml(
        &with(
            &mock,
            "max_retries = 0\nbreaker_threshold = 3\nbreaker_cooldown_ms = 400",
            "",
        ),
        Some(upstream_key()),
    )
    .await;
    mock.set_default(upstream_error(502));
    for _ in 0..3 {
        assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 502);
    }
    assert_eq!(mock.count(), 3);
    // Open: refused without reaching the upstream, with a Retry-After.
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(error_of(r).await.1, "circuit_open");
    assert_eq!(mock.count(), 3);
    let ready: Value = gw
        .client
        .get(gw.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["open_circuits"], json!(["openai/gpt-4o"]));
    // Other models are unaffected.
    mock.push(Reply::ok(common::mock::chat_completion()));
    assert_eq!(
        gw.chat(&chat_body("openai/gpt-4o-mini")).await.status(),
        200
    );
    // After the cool-down one probe goes through; its success closes the breaker.
    tokio::time::sleep(Duration::from_millis(450)).await;
    mock.set_default(Reply::ok(common::mock::chat_completion()));
    assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    let ready: Value = gw
        .client
        .get(gw.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["open_circuits"], json!([]));
}

#[tokio::test]
async fn an_open_breaker_sends_traffic_to_the_fallback() {
    let mock = MockUpstream::start().await;
    let extra = "[resilience.fallbacks]\n\"openai/gpt-4o\" = [\"openai/gpt-4o-mini\"]\n";
    let toml = with(
        &mock,
        "max_retries = 0\nbreaker_threshold = 1\nbreaker_cooldown_ms = 60000",
        "",
    ) + extra;
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    mock.push(upstream_error(500));
    assert_eq!(
        gw.chat(&chat_body("openai/gpt-4o")).await.status(),
        200,
        "fell back to mini"
    );
    let n = mock.count();
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-orguard-fallback"], "openai/gpt-4o-mini");
    assert_eq!(mock.count(), n + 1, "the open model was skipped, not tried");
    assert_eq!(mock.last().json()["model"], "openai/gpt-4o-mini");
}

#[tokio::test]
async fn requests_beyond_the_in_flight_limit_are_shed_with_retry_after() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::from_toml(
        &with(&mock, "max_in_flight = 1\nqueue_timeout_ms = 150", ""),
        Some(upstream_key()),
    )
    .await;
    mock.push(Reply::chat_stream(5, Duration::from_millis(200)));
    let streaming = gw
        .chat(&json!({"model": "openai/gpt-4o", "stream": true, "messages": []}))
        .await;
    assert_eq!(streaming.status(), 200);
    let started = Instant::now();
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 503);
    assert!(
        started.elapsed() >= Duration::from_millis(140),
        "it waited for a slot first"
    );
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(error_of(r).await.1, "overloaded");
    // When the stream ends its slot is free again.
    streaming.text().await.unwrap();
    assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
}

#[tokio::test]
async fn a_reload_mid_run_swaps_policy_without_failing_requests() {
    let mock = MockUpstream::start().await;
    let toml = with(&mock, "max_retries = 0", "");
    let gw = std::sync::Arc::new(TestGateway::from_toml(&toml, Some(upstream_key())).await);
    mock.set_default(Reply::Delayed(
        Duration::from_millis(30),
        Box::new(Reply::ok(common::mock::chat_completion())),
    ));
    let mut tasks = Vec::new();
    for i in 0..40 {
        let gw = std::sync::Arc::clone(&gw);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 10)).await;
            gw.chat(&chat_body("openai/gpt-4o")).await.status().as_u16()
        }));
    }
    // Halfway through, tighten the internal class's token cap.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tightened = toml
        .replace(
            "[classes.internal]\nmodels = [\"*\"]\nmax_tokens = 4096",
            "[classes.internal]\nmodels = [\"*\"]\nmax_tokens = 100",
        )
        .replace("AUDIT_DIR", "/unused")
        .replace(
            "HMAC_KEY_FILE",
            &gw.audit_dir.path().join("hmac.key").display().to_string(),
        );
    let next = orguard::config::from_toml(&tightened, Some(upstream_key())).unwrap();
    gw.state.config.store(std::sync::Arc::new(next));
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200, "no request failed across the swap");
    }
    let caps: Vec<u64> = mock
        .requests()
        .iter()
        .map(|r| r.json()["max_tokens"].as_u64().unwrap())
        .collect();
    assert!(
        caps.contains(&4096) && caps.contains(&100),
        "both configs served requests: {caps:?}"
    );
    // Each request ran under one snapshot: its cap is one of the two, never a mix.
    assert!(caps.iter().all(|c| *c == 4096 || *c == 100));
    // Once the swap was made, new requests see only the new policy.
    assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    assert_eq!(mock.last().json()["max_tokens"], 100);
}
