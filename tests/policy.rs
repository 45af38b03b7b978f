//! The policy through HTTP: what the mock upstream receives is always compliant, refusals
//! carry the documented status and code, and responses served outside policy are caught.
//! Each rule is tried the straight way and the ways around it.

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
use common::{sha256_hex, upstream_key, MockUpstream, TestGateway};
use serde_json::{json, Value};

const PHI_KEY: &str = "ogk_test_phi_service";

fn phi_key_toml() -> String {
    format!(
        "[[keys]]\nid = \"phi-1\"\nservice = \"phi\"\nsha256 = \"{}\"\ndefault_class = \"confidential\"\nmin_class = \"confidential\"\n",
        sha256_hex(PHI_KEY)
    )
}

async fn gateway(mock: &MockUpstream) -> TestGateway {
    TestGateway::start_with(mock, &phi_key_toml()).await
}

/// POSTs a chat body with a class header (or none) and the given key.
async fn send(gw: &TestGateway, key: &str, class: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = gw
        .client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json");
    if let Some(c) = class {
        req = req.header("x-data-classification", c);
    }
    req.body(body.to_string()).send().await.unwrap()
}

fn msg(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

/// Asserts a refusal: status, code, and `x-should-retry: false`.
async fn refused(r: reqwest::Response, status: u16, code: &str) {
    assert_eq!(r.status().as_u16(), status, "expected {code}");
    assert_eq!(r.headers()["x-should-retry"], "false", "{code}");
    let (kind, got) = error_of(r).await;
    assert_eq!(got, code);
    let want_kind = if status == 403 {
        "policy_violation"
    } else {
        "invalid_request_error"
    };
    assert_eq!(kind, want_kind, "{code}");
}

/// The invariant behind every test here: whatever reached the upstream for a confidential
/// request is inside the confidential class.
fn assert_confidential_compliant(body: &Value) {
    let model = body["model"].as_str().unwrap();
    assert!(
        model.starts_with("anthropic/claude-") || model.starts_with("openai/gpt-4o"),
        "{model}"
    );
    assert!(!model.contains(':'), "{model}");
    let p = &body["provider"];
    for s in p["only"].as_array().unwrap() {
        assert!(
            ["anthropic", "openai"].contains(&s.as_str().unwrap()),
            "{p}"
        );
    }
    assert_eq!(p["allow_fallbacks"], false);
    assert_eq!(p["require_parameters"], true);
    assert_eq!(p["data_collection"], "deny");
    assert_eq!(p["zdr"], true);
    assert!(body["max_tokens"].as_u64().unwrap() <= 2048);
    assert!(
        body.get("debug").is_none() && body.get("trace").is_none() && body.get("route").is_none()
    );
}

#[tokio::test]
async fn the_class_comes_from_header_key_default_and_key_minimum() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock).await;
    // Default class of billing-1 is internal (models "*", any provider).
    assert_eq!(
        send(
            &gw,
            common::CLIENT_KEY,
            None,
            &msg("mistralai/mistral-large")
        )
        .await
        .status(),
        200
    );
    // Declared confidential: the model must be in the confidential list.
    refused(
        send(
            &gw,
            common::CLIENT_KEY,
            Some("CONFIDENTIAL"),
            &msg("mistralai/mistral-large"),
        )
        .await,
        403,
        "model_not_allowed",
    )
    .await;
    // A PHI key cannot declare itself down to public.
    refused(
        send(
            &gw,
            PHI_KEY,
            Some("public"),
            &msg("mistralai/mistral-large"),
        )
        .await,
        403,
        "model_not_allowed",
    )
    .await;
    let r = send(
        &gw,
        PHI_KEY,
        Some("public"),
        &msg("anthropic/claude-3.5-sonnet"),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_confidential_compliant(&mock.last().json());
    // Unknown or doubled declarations are refused rather than guessed.
    for bad in ["secret", "confidentiaI", "publіc", ""] {
        refused(
            send(&gw, common::CLIENT_KEY, Some(bad), &msg("openai/gpt-4o")).await,
            400,
            "invalid_classification",
        )
        .await;
    }
    let r = gw
        .post("/api/v1/chat/completions")
        .header("x-data-classification", "public")
        .header("x-data-classification", "restricted")
        .body(msg("openai/gpt-4o").to_string())
        .send()
        .await
        .unwrap();
    refused(r, 400, "invalid_classification").await;
    assert_eq!(mock.count(), 2);
}

#[tokio::test]
async fn model_rules_and_the_ways_around_them() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock).await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (msg("openai/o1"), 403, "model_not_allowed"),
        (msg("anthrоpic/claude-3.5-sonnet"), 400, "invalid_model"), // Cyrillic о
        (
            msg("anthropic/claude\u{200b}-3.5-sonnet"),
            400,
            "invalid_model",
        ),
        (
            msg("anthropic/claude-3.5-sonnet\u{0007}"),
            400,
            "invalid_model",
        ),
        (msg("claude-3.5-sonnet"), 400, "invalid_model"),
        (
            msg("anthropic/claude-3.5-sonnet:free"),
            403,
            "free_model_not_allowed",
        ),
        (
            msg("ANTHROPIC/Claude-3.5-Sonnet:FREE"),
            403,
            "free_model_not_allowed",
        ),
        (msg("openai/gpt-4o:online"), 403, "web_not_allowed"),
        (msg("openai/gpt-4o:nitro"), 403, "tier_not_allowed"),
        (msg("openai/gpt-4o:floor"), 403, "tier_not_allowed"),
        (msg("openai/gpt-4o:turbo"), 403, "variant_not_allowed"),
        (msg("openrouter/auto"), 403, "router_not_allowed"),
        (msg("openrouter/free"), 403, "router_not_allowed"),
        (
            msg("~anthropic/claude-sonnet-latest"),
            403,
            "router_not_allowed",
        ),
        (msg("@preset/cheap"), 403, "preset_not_allowed"),
        (
            msg("anthropic/claude-3.5-sonnet@preset/cheap"),
            403,
            "preset_not_allowed",
        ),
        (
            json!({"model": "anthropic/claude-3.5-sonnet", "preset": "cheap", "messages": []}),
            403,
            "preset_not_allowed",
        ),
        (
            json!({"model": "anthropic/claude-3.5-sonnet", "models": ["openai/gpt-4o", "meta-llama/llama-3-8b"], "messages": []}),
            403,
            "model_not_allowed",
        ),
        (
            json!({"model": "anthropic/claude-3.5-sonnet", "models": ["openai/gpt-4o:free"], "messages": []}),
            403,
            "free_model_not_allowed",
        ),
        (
            json!({"model": "anthropic/claude-3.5-sonnet", "models": ["openrouter/auto"], "messages": []}),
            403,
            "router_not_allowed",
        ),
        (
            json!({"model": "anthropic/claude-3.5-sonnet", "models": ["openai/gpt-4o", "openai/gpt-4o", "openai/gpt-4o", "openai/gpt-4o"], "messages": []}),
            400,
            "too_many_models",
        ),
        (
            json!({"model": ["anthropic/claude-3.5-sonnet"], "messages": []}),
            400,
            "invalid_field_type",
        ),
        (
            json!({"model": "anthropic/claude-3.5-sonnet", "models": [1], "messages": []}),
            400,
            "invalid_field_type",
        ),
    ];
    for (body, status, code) in cases {
        refused(send(&gw, PHI_KEY, None, &body).await, status, code).await;
    }
    // Duplicate keys: the checked and the forwarded model cannot differ.
    let r = gw
        .client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(PHI_KEY)
        .header("content-type", "application/json")
        .body(r#"{"model":"anthropic/claude-3.5-sonnet","mod\u0065l":"openai/o1","messages":[]}"#)
        .send()
        .await
        .unwrap();
    refused(r, 400, "duplicate_key").await;
    assert_eq!(
        mock.count(),
        0,
        "the mock never received a non-compliant body"
    );

    // Case and surrounding whitespace are normalised, and the normalised id is forwarded.
    let body = json!({"model": "  Anthropic/Claude-3.5-Sonnet ", "models": [" OPENAI/gpt-4o"], "messages": []});
    assert_eq!(send(&gw, PHI_KEY, None, &body).await.status(), 200);
    let got = mock.last().json();
    assert_eq!(got["model"], "anthropic/claude-3.5-sonnet");
    assert_eq!(got["models"], json!(["openai/gpt-4o"]));
    assert_confidential_compliant(&got);
}

#[tokio::test]
async fn provider_pinning_cannot_be_widened() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock).await;
    let widen = json!({
        "model": "openai/gpt-4o",
        "messages": [],
        "provider": {"only": ["openai", "together"], "order": ["together", "openai"], "allow_fallbacks": true,
            "require_parameters": false, "data_collection": "allow", "zdr": false, "ignore": ["azure"]},
    });
    assert_eq!(send(&gw, PHI_KEY, None, &widen).await.status(), 200);
    let got = mock.last().json();
    assert_confidential_compliant(&got);
    assert_eq!(got["provider"]["only"], json!(["openai"]));
    assert_eq!(got["provider"]["order"], json!(["openai"]));
    assert_eq!(
        got["provider"]["ignore"],
        json!(["azure"]),
        "narrowing preferences are kept"
    );

    // No provider at all: the class list is written.
    assert_eq!(
        send(&gw, PHI_KEY, None, &msg("openai/gpt-4o"))
            .await
            .status(),
        200
    );
    assert_eq!(
        mock.last().json()["provider"]["only"],
        json!(["anthropic", "openai"])
    );

    let n = mock.count();
    let refusals: Vec<(Value, u16, &str)> = vec![
        (json!({"only": ["together"]}), 403, "provider_not_allowed"),
        (
            json!({"only": ["openai/priority"]}),
            403,
            "provider_not_allowed",
        ),
        (json!({"zrd": true}), 400, "unknown_provider_field"),
        (json!({"only": "openai"}), 400, "invalid_provider_field"),
        (
            json!({"only": ["OpenAI Inc"]}),
            400,
            "invalid_provider_field",
        ),
        (
            json!({"allow_fallbacks": "false"}),
            400,
            "invalid_provider_field",
        ),
        (json!("openai"), 400, "invalid_field_type"),
        (json!(["openai"]), 400, "invalid_field_type"),
    ];
    for (provider, status, code) in refusals {
        let body = json!({"model": "openai/gpt-4o", "messages": [], "provider": provider});
        refused(send(&gw, PHI_KEY, None, &body).await, status, code).await;
    }
    assert_eq!(mock.count(), n);

    // With client_overrides = "deny", a widening attempt is refused instead of overridden.
    let toml = config_toml(&mock, &phi_key_toml())
        .replace("[policy]\n", "[policy]\nclient_overrides = \"deny\"\n");
    let strict = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    for provider in [
        json!({"allow_fallbacks": true}),
        json!({"data_collection": "allow"}),
        json!({"zdr": false}),
        json!({"only": ["openai", "together"]}),
    ] {
        let body = json!({"model": "openai/gpt-4o", "messages": [], "provider": provider});
        refused(
            send(&strict, PHI_KEY, None, &body).await,
            403,
            "provider_override_denied",
        )
        .await;
    }
    assert_eq!(mock.count(), n);
}

#[tokio::test]
async fn features_that_leave_the_pinned_provider() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock).await;
    let refusals: Vec<(Value, &str)> = vec![
        (json!({"plugins": [{"id": "web"}]}), "plugin_not_allowed"),
        (json!({"plugins": [{"id": "fusion"}]}), "plugin_not_allowed"),
        (
            json!({"tools": [{"type": "openrouter:web_search"}]}),
            "server_tool_not_allowed",
        ),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f"}}, {"type": "web_search_preview"}]}),
            "server_tool_not_allowed",
        ),
        (
            json!({"web_search_options": {"search_context_size": "low"}}),
            "web_not_allowed",
        ),
    ];
    for (extra, code) in refusals {
        let mut body = msg("openai/gpt-4o");
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        refused(send(&gw, PHI_KEY, None, &body).await, 403, code).await;
    }
    assert_eq!(mock.count(), 0);

    let body = json!({
        "model": "openai/gpt-4o", "messages": [], "user": "jane.doe@example.com",
        "debug": {"echo_upstream_body": true}, "trace": {"trace_id": "t-1"}, "route": "fallback",
        "plugins": [{"id": "context-compression", "enabled": false}],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    });
    let r = gw
        .client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(PHI_KEY)
        .header("content-type", "application/json")
        .header("x-openrouter-cache", "true")
        .header("x-openrouter-cache-ttl", "3600")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = mock.last();
    let forwarded = got.json();
    assert_confidential_compliant(&forwarded);
    let user = forwarded["user"].as_str().unwrap();
    assert!(user.starts_with("u_") && !user.contains("jane"), "{user}");
    assert_eq!(forwarded["tools"][0]["function"]["name"], "lookup");
    assert!(
        got.headers.get("x-openrouter-cache").is_none(),
        "cache headers need allow_cache"
    );

    // The same end user maps to the same pseudonym.
    send(&gw, PHI_KEY, None, &body).await;
    assert_eq!(mock.last().json()["user"], user);
}

#[tokio::test]
async fn token_caps() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock).await;
    let with = |field: &str, v: Value| {
        let mut b = msg("openai/gpt-4o");
        b[field] = v;
        b
    };
    assert_eq!(
        send(&gw, PHI_KEY, None, &msg("openai/gpt-4o"))
            .await
            .status(),
        200
    );
    assert_eq!(mock.last().json()["max_tokens"], 2048, "injected");
    assert_eq!(
        send(&gw, PHI_KEY, None, &with("max_tokens", json!(100_000)))
            .await
            .status(),
        200
    );
    assert_eq!(mock.last().json()["max_tokens"], 2048, "clamped");
    assert_eq!(
        send(
            &gw,
            PHI_KEY,
            None,
            &with("max_completion_tokens", json!(9000))
        )
        .await
        .status(),
        200
    );
    let got = mock.last().json();
    assert_eq!(got["max_completion_tokens"], 2048);
    assert!(
        got.get("max_tokens").is_none(),
        "the client's own field is the one capped"
    );
    assert_eq!(
        send(
            &gw,
            PHI_KEY,
            None,
            &with("reasoning", json!({"max_tokens": 50_000}))
        )
        .await
        .status(),
        200
    );
    assert_eq!(mock.last().json()["reasoning"]["max_tokens"], 2048);
    // Anthropic's own spelling of a reasoning budget goes through to the provider: capped
    // the same way.
    assert_eq!(
        send(
            &gw,
            PHI_KEY,
            None,
            &with(
                "thinking",
                json!({"type": "enabled", "budget_tokens": 64_000})
            )
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        mock.last().json()["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    for (v, code) in [
        (json!("100"), "invalid_field_type"),
        (json!(-1), "invalid_field_type"),
        (json!(1.5), "invalid_field_type"),
        (json!(1e12), "invalid_field_type"),
        (json!(0), "invalid_max_tokens"),
        (json!(1_000_000_000_000u64), "invalid_max_tokens"),
    ] {
        refused(
            send(&gw, PHI_KEY, None, &with("max_tokens", v)).await,
            400,
            code,
        )
        .await;
    }
    refused(
        send(
            &gw,
            PHI_KEY,
            None,
            &with("reasoning", json!({"max_tokens": "lots"})),
        )
        .await,
        400,
        "invalid_max_tokens",
    )
    .await;

    let toml = config_toml(&mock, &phi_key_toml())
        .replace("[policy]\n", "[policy]\nover_cap = \"deny\"\n");
    let strict = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    let n = mock.count();
    refused(
        send(&strict, PHI_KEY, None, &with("max_tokens", json!(4000))).await,
        403,
        "max_tokens_exceeds_cap",
    )
    .await;
    assert_eq!(mock.count(), n);
    assert_eq!(
        send(&strict, PHI_KEY, None, &with("max_tokens", json!(2048)))
            .await
            .status(),
        200
    );
}

/// A limit sent only under another endpoint's spelling is capped, and the endpoint's own
/// field is set beside it: the upstream may ignore the alias, and the class cap with it.
#[tokio::test]
async fn an_alias_the_endpoint_does_not_document_still_gets_the_endpoints_own_limit() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock).await;
    let r = gw
        .post("/api/v1/responses")
        .header("x-data-classification", "internal")
        .body(json!({"model": "openai/gpt-4o", "input": "hi", "max_tokens": 5}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let got = mock.last().json();
    assert_eq!(got["max_output_tokens"], 5, "{got}");
    assert_eq!(got["max_tokens"], 5, "{got}");

    let r = gw
        .post("/api/v1/chat/completions")
        .header("x-data-classification", "internal")
        .body(
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}],
                "max_output_tokens": 99999})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let got = mock.last().json();
    assert_eq!(got["max_tokens"], 4096, "{got}");
    assert_eq!(got["max_output_tokens"], 4096, "{got}");
}
