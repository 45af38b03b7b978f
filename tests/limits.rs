//! Per-key budgets, rate limits, model narrowing and per-service upstream keys, through the
//! HTTP entry point, on the in-process (memory) counters. The same rules shared through
//! Redis by several processes are in `limits_redis.rs`.

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

use common::gateway::error_of;
use common::mock::chat_completion;
use common::{chat_body, sha256_hex, upstream_key, MockUpstream, Reply, TestGateway};
use serde_json::{json, Value};

/// A key with limits, appended to the shared test config.
const LIMITED_KEY: &str = "ogk_test_client_limited";
const ADMIN_TOKEN: &str = "test-admin-token";

/// `[[keys]]` for [`LIMITED_KEY`] with `fields`, plus the admin token and `extra` tables.
fn limited(fields: &str, extra: &str) -> String {
    format!(
        "\n[[keys]]\nid = \"limited-1\"\nservice = \"billing\"\nsha256 = \"{}\"\n{fields}\n\n[admin]\ntoken_sha256 = \"{}\"\n{extra}\n",
        sha256_hex(LIMITED_KEY),
        sha256_hex(ADMIN_TOKEN),
    )
}

/// Output at 0.1 USD per million tokens: the internal class's 4096-token cap reserves
/// 4096 × 100 nano-dollars = $0.0004096 per request.
const GPT4O_PRICE: &str = "[prices.\"openai/gpt-4o\"]\nprompt = 0.0\ncompletion = 0.1\n";

/// A completion that cost `cost` USD (or reports no cost at all).
fn costing(cost: Option<f64>) -> Value {
    let mut body = chat_completion();
    match cost {
        Some(c) => body["usage"]["cost"] = json!(c),
        None => {
            body["usage"].as_object_mut().unwrap().remove("cost");
        }
    }
    body
}

async fn send_as(gw: &TestGateway, key: &str, body: &Value) -> reqwest::Response {
    gw.client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// A slow upstream, then `first` from the limited key and, while it is still in flight, a
/// plain request: the statuses of both (the second shows what the first holds reserved).
async fn beside_one_in_flight(gw: &TestGateway, mock: &MockUpstream, first: &Value) -> (u16, u16) {
    mock.set_default(Reply::Delayed(
        Duration::from_millis(300),
        Box::new(Reply::ok(costing(Some(0.0)))),
    ));
    let (a, b) = tokio::join!(send_as(gw, LIMITED_KEY, first), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        send_as(gw, LIMITED_KEY, &chat_body("openai/gpt-4o")).await
    });
    (a.status().as_u16(), b.status().as_u16())
}

async fn admin_keys(gw: &TestGateway) -> Value {
    let r = gw
        .client
        .get(gw.admin_url("/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn key_entry<'a>(admin: &'a Value, id: &str) -> &'a Value {
    admin["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("no key {id} in {admin}"))
}

#[tokio::test]
async fn a_key_over_its_budget_gets_402_and_nothing_is_forwarded() {
    let mock = MockUpstream::start().await;
    mock.set_default(Reply::ok(costing(Some(0.0004))));
    let gw = TestGateway::start_with(&mock, &limited("budget_usd = 0.001", GPT4O_PRICE)).await;
    let body = chat_body("openai/gpt-4o");
    // 0 → 0.0004 → 0.0008 → 0.0012: the third is admitted (0.0008 < 0.001), the fourth not.
    for i in 0..3 {
        let r = send_as(&gw, LIMITED_KEY, &body).await;
        assert_eq!(r.status(), 200, "request {i}");
        r.bytes().await.unwrap();
    }
    let r = send_as(&gw, LIMITED_KEY, &body).await;
    assert_eq!(r.status(), 402);
    assert_eq!(r.headers()["x-should-retry"], "false");
    assert_eq!(
        error_of(r).await,
        ("rate_limit_error".to_owned(), "budget_exceeded".to_owned())
    );
    // No other route or prefix gets around it: the other base URL, other endpoints, a
    // streamed request.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let embedding = json!({"model": "openai/text-embedding-3-small", "input": "hi"});
    for (path, b) in [
        ("/v1/chat/completions", &body),
        ("/api/v1/chat/completions", &streamed),
        ("/api/v1/embeddings", &embedding),
    ] {
        let r = gw
            .client
            .post(gw.url(path))
            .bearer_auth(LIMITED_KEY)
            .header("content-type", "application/json")
            .body(b.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 402, "{path}");
    }
    assert_eq!(mock.count(), 3, "the refused requests never went upstream");
    // Another key of the same service is not affected.
    assert_eq!(gw.chat(&body).await.status(), 200);

    // The spend is visible to operators, the key is not.
    let admin = admin_keys(&gw).await;
    let entry = key_entry(&admin, "limited-1");
    let budget = &entry["budget"];
    assert!(
        (budget["spent_usd"].as_f64().unwrap() - 0.0012).abs() < 1e-12,
        "{entry}"
    );
    assert!((budget["remaining_usd"].as_f64().unwrap() + 0.0002).abs() < 1e-12);
    assert_eq!(budget["reserved_usd"], 0.0);
    assert_eq!(budget["period"], "month");
    let text = admin.to_string();
    assert!(!text.contains(&sha256_hex(LIMITED_KEY)) && !text.contains(LIMITED_KEY));

    // Every refusal is audited as a denial with its code.
    let records = gw.audit_records().await;
    let denied: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "denied" && r["key_id"] == "limited-1")
        .collect();
    assert_eq!(denied.len(), 4);
    for d in denied {
        assert_eq!(
            (&d["code"], &d["status"]),
            (&json!("budget_exceeded"), &json!(402))
        );
    }
}

#[tokio::test]
async fn a_parallel_burst_overshoots_by_at_most_one_reservation() {
    let mock = MockUpstream::start().await;
    // Slow answers: every request of the burst is in flight before any settles.
    mock.set_default(Reply::Delayed(
        Duration::from_millis(300),
        Box::new(Reply::ok(costing(Some(0.0004)))),
    ));
    let gw = TestGateway::start_with(&mock, &limited("budget_usd = 0.001", GPT4O_PRICE)).await;
    let body = chat_body("openai/gpt-4o");
    let burst = (0..12).map(|_| send_as(&gw, LIMITED_KEY, &body));
    let statuses: Vec<u16> = futures_util::future::join_all(burst)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 402).count();
    // Reservations of $0.0004096: admitted at 0, 0.41 and 0.82 (all below 1.0), then full.
    assert_eq!((ok, refused), (3, 9), "{statuses:?}");
    assert_eq!(mock.count(), 3);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let admin = admin_keys(&gw).await;
    let spent = key_entry(&admin, "limited-1")["budget"]["spent_usd"]
        .as_f64()
        .unwrap();
    assert!((spent - 0.0012).abs() < 1e-12, "{spent}");
    assert!(
        spent <= 0.001 + 0.0004096,
        "overshoot beyond one reservation"
    );
}

#[tokio::test]
async fn a_missing_cost_is_estimated_from_the_price_and_marked() {
    let mock = MockUpstream::start().await;
    // 3 prompt + 4 completion tokens, no cost.
    mock.set_default(Reply::ok(costing(None)));
    let prices = "[prices.\"openai/gpt-4o\"]\nprompt = 2.0\ncompletion = 10.0\n";
    let gw = TestGateway::start_with(&mock, &limited("budget_usd = 5.0", prices)).await;
    let r = send_as(&gw, LIMITED_KEY, &chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    // 3 × $2/M + 4 × $10/M = $0.000046.
    let records = gw.audit_records().await;
    let response = records
        .iter()
        .find(|r| r["type"] == "response" && r["key_id"] == "limited-1")
        .unwrap();
    assert!(
        (response["cost"].as_f64().unwrap() - 0.000046).abs() < 1e-12,
        "{response}"
    );
    assert_eq!(response["cost_estimated"], true);
    let admin = admin_keys(&gw).await;
    let spent = key_entry(&admin, "limited-1")["budget"]["spent_usd"]
        .as_f64()
        .unwrap();
    assert!((spent - 0.000046).abs() < 1e-12);

    // A reported cost is taken as it is and not marked.
    mock.set_default(Reply::ok(costing(Some(0.5))));
    let r = send_as(&gw, LIMITED_KEY, &chat_body("openai/gpt-4o")).await;
    r.bytes().await.unwrap();
    let records = gw.audit_records().await;
    let last = records
        .iter()
        .rev()
        .find(|r| r["type"] == "response")
        .unwrap();
    assert_eq!(last["cost"], 0.5);
    assert!(last.get("cost_estimated").is_none());
}

#[tokio::test]
async fn prices_are_learned_from_the_upstream_catalog() {
    let mock = MockUpstream::start().await;
    mock.route(
        "/api/v1/models",
        Reply::ok(json!({"data": [
            {"id": "openai/gpt-4o", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}
        ]})),
    );
    mock.set_default(Reply::ok(costing(None)));
    let toml = common::gateway::config_toml(&mock, &limited("budget_usd = 1.0", "")).replace(
        "models_refresh_seconds = 0",
        "models_refresh_seconds = 3600",
    );
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    for _ in 0..250 {
        if !gw.state.prices.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gw.state.prices.len(), 1, "the catalog was fetched");
    let r = send_as(&gw, LIMITED_KEY, &chat_body("openai/gpt-4o")).await;
    r.bytes().await.unwrap();
    let records = gw.audit_records().await;
    let response = records.iter().find(|r| r["type"] == "response").unwrap();
    // 3 × $1/M + 4 × $2/M = $0.000011.
    assert!(
        (response["cost"].as_f64().unwrap() - 0.000011).abs() < 1e-12,
        "{response}"
    );
    assert_eq!(response["cost_estimated"], true);
}

#[tokio::test]
async fn streamed_spend_is_settled_from_the_final_usage_chunk() {
    let mock = MockUpstream::start().await;
    mock.set_default(Reply::chat_stream(3, Duration::from_millis(5)));
    let gw = TestGateway::start_with(&mock, &limited("budget_usd = 0.00025", GPT4O_PRICE)).await;
    let mut body = chat_body("openai/gpt-4o");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(100);
    // Each stream reports cost 0.0001: 0 → 0.0001 → 0.0002 → 0.0003, then refused.
    for _ in 0..3 {
        let r = send_as(&gw, LIMITED_KEY, &body).await;
        assert_eq!(r.status(), 200);
        let text = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
        assert!(text.contains("[DONE]"));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = send_as(&gw, LIMITED_KEY, &body).await;
    assert_eq!(r.status(), 402);
    let admin = admin_keys(&gw).await;
    let spent = key_entry(&admin, "limited-1")["budget"]["spent_usd"]
        .as_f64()
        .unwrap();
    assert!((spent - 0.0003).abs() < 1e-12, "{spent}");
}

#[tokio::test]
async fn rpm_refuses_with_429_and_retry_after() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start_with(&mock, &limited("rpm = 2", "")).await;
    let body = chat_body("openai/gpt-4o");
    for _ in 0..2 {
        assert_eq!(send_as(&gw, LIMITED_KEY, &body).await.status(), 200);
    }
    let r = send_as(&gw, LIMITED_KEY, &body).await;
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // The SDKs may retry this one after the wait.
    assert_eq!(r.headers()["x-should-retry"], "true");
    assert_eq!(
        error_of(r).await,
        ("rate_limit_error".to_owned(), "rate_limited".to_owned())
    );
    assert_eq!(mock.count(), 2);
    // A throttled key is refused before its body is even read: a broken body gets 429 too.
    let r = gw
        .client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(LIMITED_KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // Nor does another prefix or route get more: /v1 and the model list count too.
    for path in ["/v1/models", "/api/v1/models"] {
        let r = gw
            .client
            .get(gw.url(path))
            .bearer_auth(LIMITED_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429, "{path}");
    }
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(LIMITED_KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(mock.count(), 2);
    // Other keys have their own counters.
    assert_eq!(gw.chat(&body).await.status(), 200);
    let admin = admin_keys(&gw).await;
    let rate = &key_entry(&admin, "limited-1")["rate"];
    assert_eq!(
        (rate["rpm"].as_u64(), rate["rpm_used"].as_f64()),
        (Some(2), Some(2.0))
    );
}

/// `rpm = 1`: the next slot frees a minute after the first request, whatever second of the
/// clock minute it came in — never the 119 s a fixed-minute counter answered — and the
/// message names the same wait as the header.
#[tokio::test]
async fn rpm_is_a_sliding_minute_and_retry_after_never_exceeds_it() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start_with(&mock, &limited("rpm = 1", "")).await;
    let body = chat_body("openai/gpt-4o");
    assert_eq!(send_as(&gw, LIMITED_KEY, &body).await.status(), 200);
    for _ in 0..3 {
        let r = send_as(&gw, LIMITED_KEY, &body).await;
        assert_eq!(r.status(), 429);
        let retry_after: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((55..=60).contains(&retry_after), "{retry_after}");
        let v: Value = r.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("retry after {retry_after} s")),
            "{message} vs Retry-After: {retry_after}"
        );
    }
    // The admin view counts the same window: one request in the last minute.
    let admin = admin_keys(&gw).await;
    let rate = &key_entry(&admin, "limited-1")["rate"];
    assert_eq!(rate["rpm_used"], 1);
    assert_eq!(mock.count(), 1);
}

#[tokio::test]
async fn tpm_counts_the_tokens_of_finished_requests() {
    let mock = MockUpstream::start().await;
    // Each completion uses 3 + 4 = 7 tokens.
    let gw = TestGateway::start_with(&mock, &limited("tpm = 10", "")).await;
    let body = chat_body("openai/gpt-4o");
    // 0 < 10: admitted (then 7); 7 < 10: admitted (then 14); 14 ≥ 10: refused.
    for _ in 0..2 {
        let r = send_as(&gw, LIMITED_KEY, &body).await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    let r = send_as(&gw, LIMITED_KEY, &body).await;
    assert_eq!(r.status(), 429);
    let (_, code) = error_of(r).await;
    assert_eq!(code, "rate_limited");
    assert_eq!(mock.count(), 2);
}

#[tokio::test]
async fn admin_keys_needs_the_admin_token() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start_with(&mock, &limited("", "")).await;
    let url = gw.admin_url("/admin/keys");
    for auth in [None, Some("wrong"), Some(CLIENT_KEY_FOR_ADMIN)] {
        let mut req = gw.client.get(&url);
        if let Some(a) = auth {
            req = req.bearer_auth(a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let body = r.text().await.unwrap();
        assert!(!body.contains("billing-1"), "nothing is listed: {body}");
    }
    let admin = admin_keys(&gw).await;
    assert_eq!(admin["backend"], "memory");
    assert_eq!(admin["keys"].as_array().unwrap().len(), 3);
    // The admin routes are not on the client listener.
    let r = gw
        .client
        .get(gw.url("/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Without a configured token the endpoint is closed to everyone.
    let closed = TestGateway::start(&mock).await;
    let r = closed
        .client
        .get(closed.admin_url("/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

const CLIENT_KEY_FOR_ADMIN: &str = common::CLIENT_KEY;

#[tokio::test]
async fn budget_gauges_are_exported_per_key() {
    let mock = MockUpstream::start().await;
    mock.set_default(Reply::ok(costing(Some(0.0004))));
    let gw = TestGateway::start_with(&mock, &limited("budget_usd = 0.001", GPT4O_PRICE)).await;
    let r = send_as(&gw, LIMITED_KEY, &chat_body("openai/gpt-4o")).await;
    r.bytes().await.unwrap();
    let text = gw.metrics().await;
    let value = |field: &str| -> f64 {
        let series = format!("orguard_budget_usd{{field=\"{field}\",key_id=\"limited-1\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    };
    assert!((value("limit") - 0.001).abs() < 1e-12);
    assert!((value("spent") - 0.0004).abs() < 1e-12);
    assert!((value("remaining") - 0.0006).abs() < 1e-12);
}

#[tokio::test]
async fn a_keys_allowed_models_narrow_its_class_and_cannot_be_bypassed() {
    let mock = MockUpstream::start().await;
    // The internal class allows every model; this key only openai/gpt-4o*.
    let gw = TestGateway::start_with(
        &mock,
        &limited(
            "allowed_models = [\"openai/gpt-4o*\"]",
            "[resilience.fallbacks]\n\"openai/gpt-4o\" = [\"anthropic/claude-3.5-sonnet\", \"openai/gpt-4o-mini\"]\n",
        ),
    )
    .await;
    for model in [
        "openai/gpt-4o",
        " OpenAI/GPT-4o-Mini ",
        "openai/gpt-4o:nitro",
    ] {
        let r = send_as(&gw, LIMITED_KEY, &chat_body(model)).await;
        // :nitro is the class's call (internal does not allow tiers), not the key's.
        let want = if model.ends_with(":nitro") { 403 } else { 200 };
        assert_eq!(r.status(), want, "{model}");
    }
    for model in [
        "anthropic/claude-3.5-sonnet",
        " ANTHROPIC/Claude-3.5-Sonnet",
        "openai/gpt-3.5-turbo",
        "openai/gpt-4",
        "openrouter/auto",
    ] {
        let r = send_as(&gw, LIMITED_KEY, &chat_body(model)).await;
        assert_eq!(r.status(), 403, "{model}");
        let code = error_of(r).await.1;
        // The router is refused by its class already; the rest by the key's list.
        let want = if model == "openrouter/auto" {
            "router_not_allowed"
        } else {
            "model_not_allowed"
        };
        assert_eq!(code, want, "{model}");
    }
    // A look-alike (Cyrillic о) never gets as far as the key's list: it is not a model id.
    let r = send_as(&gw, LIMITED_KEY, &chat_body("openai/gpt-4\u{043e}")).await;
    assert_eq!(r.status(), 400);
    // /models lists only what the key may use.
    mock.route(
        "/api/v1/models",
        Reply::ok(
            json!({"data": [{"id": "openai/gpt-4o"}, {"id": "anthropic/claude-3.5-sonnet"}]}),
        ),
    );
    let listed: Value = gw
        .client
        .get(gw.url("/api/v1/models"))
        .bearer_auth(LIMITED_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([{"id": "openai/gpt-4o"}]));
    // The OpenRouter fallback list is checked too.
    let mut body = chat_body("openai/gpt-4o");
    body["models"] = json!(["openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet"]);
    let r = send_as(&gw, LIMITED_KEY, &body).await;
    assert_eq!(r.status(), 403);
    assert_eq!(error_of(r).await.1, "model_not_allowed");
    // Another key of the same class is not narrowed.
    assert_eq!(
        gw.chat(&chat_body("anthropic/claude-3.5-sonnet"))
            .await
            .status(),
        200
    );

    // The gateway's own fallback chain skips models outside the key's list.
    mock.clear();
    mock.push(Reply::status(
        503,
        json!({"error": {"message": "down", "code": 503}}),
    ));
    let r = send_as(&gw, LIMITED_KEY, &chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 200);
    let models: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(models, ["openai/gpt-4o", "openai/gpt-4o-mini"]);
}

#[tokio::test]
async fn a_service_key_goes_to_openrouter_only_and_never_to_another_upstream() {
    let mock = MockUpstream::start().await;
    let selfhosted = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let service_key = format!("sk-or-v1-{}", "7c".repeat(32));
    let key_file = dir.path().join("billing.key");
    std::fs::write(&key_file, format!("{service_key}\n")).unwrap();
    let extra = format!(
        "[upstreams.selfhosted]\nbase_url = \"{}\"\nallow_insecure_http = true\n",
        selfhosted.base_url()
    );
    let toml = common::gateway::config_toml(
        &mock,
        &limited(
            &format!("upstream_key_file = \"{}\"", key_file.display()),
            &extra,
        ),
    )
    .replace("require_byok = true", "upstream = \"selfhosted\"");
    selfhosted.set_default(Reply::served_by(
        "",
        "meta-llama/llama-3.1-70b-instruct",
        false,
    ));
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    // OpenRouter traffic of this key carries the service's own key…
    assert_eq!(
        send_as(&gw, LIMITED_KEY, &chat_body("openai/gpt-4o"))
            .await
            .status(),
        200
    );
    assert_eq!(
        mock.last().headers["authorization"],
        format!("Bearer {service_key}").as_str()
    );
    // …other keys still the gateway's.
    assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    assert_eq!(
        mock.last().headers["authorization"],
        format!("Bearer {}", upstream_key()).as_str()
    );
    // Restricted data routed to the self-hosted upstream never carries an OpenRouter key.
    let r = gw
        .client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(LIMITED_KEY)
        .header("content-type", "application/json")
        .header("x-data-classification", "restricted")
        .body(chat_body("meta-llama/llama-3.1-70b-instruct").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = selfhosted.last();
    let auth = seen
        .headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(!auth.contains("sk-or-"), "{auth}");
    // The admin view says the key has its own upstream key, and shows neither key.
    let admin = admin_keys(&gw).await;
    assert_eq!(key_entry(&admin, "limited-1")["own_upstream_key"], true);
    assert!(!admin.to_string().contains("sk-or-"));
}

#[tokio::test]
async fn limits_are_validated_at_start() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac.key");
    std::fs::write(&hmac, "k").unwrap();
    let config_toml = |m: &MockUpstream, extra: &str| {
        common::gateway::config_toml(m, extra).replace("HMAC_KEY_FILE", &hmac.display().to_string())
    };
    for (fields, problem) in [
        ("budget_usd = -1.0", "budget_usd"),
        ("budget_period = \"week\"", "budget_period"),
        ("rpm = 0", "rpm"),
        ("allowed_models = [\"bad model\"]", "allowed_models[0]"),
    ] {
        let toml = config_toml(&mock, &limited(fields, ""));
        let err = orguard::config::from_toml(&toml, None).unwrap_err();
        assert!(err.to_string().contains(problem), "{fields}: {err}");
    }
    let toml = config_toml(&mock, "[state]\nbackend = \"redis\"\n");
    let err = orguard::config::from_toml(&toml, None).unwrap_err();
    assert!(err.to_string().contains("state.redis_url"), "{err}");
    // A Redis URL's password is never printed, whatever is wrong with the URL.
    for url in [
        "http://user:hunter2@host",
        "redis://:hunter2@host:notaport/0",
        "redis://:hunter2@",
    ] {
        let toml = config_toml(
            &mock,
            &format!("[state]\nbackend = \"redis\"\nredis_url = \"{url}\"\n"),
        );
        let err = orguard::config::from_toml(&toml, None).unwrap_err();
        assert!(err.to_string().contains("state.redis_url"), "{url}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

#[tokio::test]
async fn what_the_upstream_may_have_billed_is_charged_and_what_it_refused_is_not() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start_with(&mock, &limited("budget_usd = 1.0", GPT4O_PRICE)).await;
    let spent = || async {
        let admin = admin_keys(&gw).await;
        key_entry(&admin, "limited-1")["budget"]["spent_usd"]
            .as_f64()
            .unwrap()
    };
    // Refused upstream (no usage): nothing is charged.
    mock.push(Reply::status(
        400,
        json!({"error": {"message": "bad request", "code": 400}}),
    ));
    let mut body = chat_body("openai/gpt-4o");
    body["max_tokens"] = json!(100);
    let r = send_as(&gw, LIMITED_KEY, &body).await;
    assert_eq!(r.status(), 400);
    r.bytes().await.unwrap();
    assert_eq!(spent().await, 0.0);
    // A stream that started (2xx) and then stalled without usage: the upstream may have
    // billed it, so the whole reservation is charged (100 tokens × $0.1/M = $0.00001).
    mock.push(Reply::Sse {
        chunks: vec![(
            Duration::ZERO,
            "data: {\"id\":\"gen-1\",\"provider\":\"OpenAI\",\"model\":\"openai/gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n".to_owned(),
        )],
        ending: common::StreamEnding::Hang,
    });
    body["stream"] = json!(true);
    let r = send_as(&gw, LIMITED_KEY, &body).await;
    assert_eq!(r.status(), 200);
    r.bytes().await.ok();
    let mut charged = 0.0;
    for _ in 0..100 {
        charged = spent().await;
        if charged > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!((charged - 0.00001).abs() < 1e-12, "{charged}");
    let records = gw.audit_records().await;
    let last = records
        .iter()
        .rev()
        .find(|r| r["type"] == "response")
        .unwrap();
    assert_eq!(last["cost_estimated"], true, "{last}");
}

#[tokio::test]
async fn the_reservation_covers_every_choice_and_the_largest_cap() {
    let mock = MockUpstream::start().await;
    // A $0.0005 budget: a plain request (reserves $0.0004096) would still fit beside a small one.
    let gw = TestGateway::start_with(&mock, &limited("budget_usd = 0.0005", GPT4O_PRICE)).await;
    // max_tokens 10 but max_completion_tokens 4096 and n = 2: reserves 2 × 4096 tokens.
    let mut big = chat_body("openai/gpt-4o");
    big["max_tokens"] = json!(10);
    big["max_completion_tokens"] = json!(4096);
    big["n"] = json!(2);
    // The first request's reservation ($0.0008192) already exceeds the budget.
    assert_eq!(beside_one_in_flight(&gw, &mock, &big).await, (200, 402));
}

#[tokio::test]
async fn a_model_of_unknown_price_never_lowers_the_reservation() {
    let mock = MockUpstream::start().await;
    // $100 per million output tokens: 4096 tokens reserve $0.41, above the $0.10 reserved
    // for a model of unknown price.
    let prices = "[prices.\"openai/gpt-4o\"]\ncompletion = 100.0\n";
    let gw = TestGateway::start_with(&mock, &limited("budget_usd = 0.3", prices)).await;
    // The fallback list names a model without a price.
    let mut listed = chat_body("openai/gpt-4o");
    listed["models"] = json!(["anthropic/claude-3.5-sonnet"]);
    // The first holds $0.41 (the known price), not $0.10: the budget is taken.
    assert_eq!(beside_one_in_flight(&gw, &mock, &listed).await, (200, 402));
}

/// One sample of the metrics page (read on the operator listener), 0 when absent.
async fn sample(gw: &TestGateway, series: &str) -> f64 {
    let text = gw
        .client
        .get(gw.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// The model list and passthrough paths refuse through the same edge as inference: every
/// 401 and 429 there is counted in `orguard_denials_total` and audited as `denied`.
#[tokio::test]
async fn refusals_on_the_model_list_and_passthrough_are_counted_and_audited() {
    let mock = MockUpstream::start().await;
    mock.set_default(Reply::ok(json!({"data": []})));
    let gw = TestGateway::start_with(&mock, &limited("rpm = 1", "")).await;
    let get = |path: &str, key: Option<&str>| {
        let mut req = gw.client.get(gw.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send()
    };
    // Unauthenticated, on both routes.
    for path in ["/v1/models", "/api/v1/generation?id=gen-1"] {
        assert_eq!(get(path, None).await.unwrap().status(), 401, "{path}");
        let r = get(path, Some("ogk_not_a_key")).await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    // Over rpm, on both routes: the first request passes, the next ones are refused.
    assert_eq!(
        get("/v1/models", Some(LIMITED_KEY)).await.unwrap().status(),
        200
    );
    for path in ["/v1/models", "/api/v1/generation?id=gen-1"] {
        let r = get(path, Some(LIMITED_KEY)).await.unwrap();
        assert_eq!(r.status(), 429, "{path}");
    }
    assert_eq!(mock.count(), 1);
    assert_eq!(
        sample(&gw, r#"orguard_denials_total{code="missing_api_key"}"#).await,
        2.0
    );
    assert_eq!(
        sample(&gw, r#"orguard_denials_total{code="invalid_api_key"}"#).await,
        2.0
    );
    assert_eq!(
        sample(&gw, r#"orguard_denials_total{code="rate_limited"}"#).await,
        2.0
    );
    let denied: Vec<Value> = gw
        .audit_records()
        .await
        .into_iter()
        .filter(|r| r["type"] == "denied")
        .collect();
    let codes = |code: &str| denied.iter().filter(|r| r["code"] == code).count();
    assert_eq!(
        (
            codes("missing_api_key"),
            codes("invalid_api_key"),
            codes("rate_limited")
        ),
        (2, 2, 2),
        "{denied:?}"
    );
    for r in denied.iter().filter(|r| r["code"] == "rate_limited") {
        assert_eq!(
            (r["key_id"].as_str(), r["status"].as_u64()),
            (Some("limited-1"), Some(429))
        );
    }
    // The admitted request is no refusal: nothing else was recorded as denied.
    assert_eq!(denied.len(), 6);
}

/// The memory backend rebuilds each key's spend from the audit trail when it starts: a key
/// past its budget is still refused after a restart (it used to get its budget again).
#[tokio::test]
async fn a_restart_does_not_hand_a_key_its_budget_again() {
    let mock = MockUpstream::start().await;
    mock.set_default(Reply::ok(costing(Some(0.0004))));
    let audit = tempfile::tempdir().unwrap();
    let toml = common::gateway::config_toml(&mock, &limited("budget_usd = 0.001", GPT4O_PRICE))
        .replace("AUDIT_DIR", &audit.path().display().to_string());
    let body = chat_body("openai/gpt-4o");
    let first = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    for i in 0..3 {
        let r = send_as(&first, LIMITED_KEY, &body).await;
        assert_eq!(r.status(), 200, "request {i}");
        r.bytes().await.unwrap();
    }
    assert_eq!(send_as(&first, LIMITED_KEY, &body).await.status(), 402);
    first.shutdown().await;

    // The same audit directory, a new process's state.
    let second = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    let r = send_as(&second, LIMITED_KEY, &body).await;
    assert_eq!(r.status(), 402);
    assert_eq!(
        error_of(r).await,
        ("rate_limit_error".to_owned(), "budget_exceeded".to_owned())
    );
    assert_eq!(
        mock.count(),
        3,
        "nothing more was forwarded after the restart"
    );
    // The admin view shows the rebuilt spend; other keys were not charged for it.
    let admin = admin_keys(&second).await;
    let spent = key_entry(&admin, "limited-1")["budget"]["spent_usd"]
        .as_f64()
        .unwrap();
    assert!((spent - 0.0012).abs() < 1e-12, "{spent}");
    assert_eq!(second.chat(&body).await.status(), 200);
}

/// A key with a $0.001 budget whose calls cost $0.0004, audited to a fresh postgres table
/// (`audit` adds to the `[audit]` section).
fn postgres_budget_toml(mock: &MockUpstream, url: &str, audit: &str) -> String {
    mock.set_default(Reply::ok(costing(Some(0.0004))));
    let table = common::unique_table();
    common::gateway::config_toml(mock, &limited("budget_usd = 0.001", GPT4O_PRICE)).replace(
        "[audit]\ndir = \"AUDIT_DIR\"\n",
        &format!("[audit]\nsink = \"postgres\"\npostgres_url = \"{url}\"\npostgres_table = \"{table}\"\n{audit}"),
    )
}

/// The same with the postgres audit sink: the spend is read back from its `response` rows.
#[tokio::test]
async fn a_restart_reads_the_spend_back_from_the_postgres_audit() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    let mock = MockUpstream::start().await;
    let toml = postgres_budget_toml(&mock, &url, "replica_id = \"r1\"\n");
    let body = chat_body("openai/gpt-4o");
    let first = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    for i in 0..3 {
        let r = send_as(&first, LIMITED_KEY, &body).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 200, "request {i}: {text}");
    }
    first.shutdown().await;
    let second = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    assert_eq!(send_as(&second, LIMITED_KEY, &body).await.status(), 402);
    assert_eq!(mock.count(), 3);
}

/// A table that does not exist yet holds no charges: on a first start the spend history is
/// read while the audit writer may still be creating the table, and that read used to fail
/// the budget closed (503 on the first requests of a new deployment, now and then). Here the
/// table is never created (`postgres_create = false`, the audit failing open), so the read
/// always finds it missing: the budgeted key is served, not refused.
#[tokio::test]
async fn a_missing_audit_table_is_no_spend_not_an_outage() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    let mock = MockUpstream::start().await;
    let toml = postgres_budget_toml(&mock, &url, "postgres_create = false\nfail_open = true\n");
    let gateway = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    let r = send_as(&gateway, LIMITED_KEY, &chat_body("openai/gpt-4o")).await;
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(mock.count(), 1);
}
