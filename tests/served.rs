//! After the response: a provider, model or BYOK state outside policy is caught on the JSON
//! body and on every stream event, then blocked or flagged per `on_violation`. Also the
//! filtered model list, the self-hosted upstream, and `policy explain` agreeing with the
//! server.

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
use std::time::Duration;

use common::gateway::{config_toml, error_of};
use common::process::command;
use common::{upstream_key, MockUpstream, Reply, TestGateway, CLIENT_KEY};
use futures_util::StreamExt;
use serde_json::{json, Value};

fn body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello"}]})
}

async fn send(gw: &TestGateway, class: &str, body: &Value) -> reqwest::Response {
    gw.post("/api/v1/chat/completions")
        .header("x-data-classification", class)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn text_of(r: reqwest::Response) -> String {
    let mut s = r.bytes_stream();
    let mut out = String::new();
    while let Some(c) = s.next().await {
        out.push_str(&String::from_utf8_lossy(&c.unwrap()));
    }
    out
}

#[tokio::test]
async fn a_response_from_a_provider_outside_the_class_is_withheld() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    // Allowed: display names map to the class's slugs.
    for provider in ["OpenAI", "Anthropic", "openai"] {
        mock.push(Reply::served_by(provider, "openai/gpt-4o", false));
        assert_eq!(
            send(&gw, "confidential", &body("openai/gpt-4o", false))
                .await
                .status(),
            200,
            "{provider}"
        );
    }
    for (provider, model) in [
        ("Together", "openai/gpt-4o"),
        ("Azure", "openai/gpt-4o"),
        ("OpenAI", "openai/gpt-4o:free"),
        ("OpenAI", "mistralai/mistral-large"),
    ] {
        mock.push(Reply::served_by(provider, model, false));
        let r = send(&gw, "confidential", &body("openai/gpt-4o", false)).await;
        assert_eq!(r.status(), 502, "{provider} {model}");
        assert!(r.headers().contains_key("x-request-id"));
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("Hello from the mock"),
            "the body is withheld: {text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], "policy_violation");
        assert_eq!(v["error"]["type"], "policy_violation");
    }
}

#[tokio::test]
async fn flag_mode_lets_the_response_through() {
    let mock = MockUpstream::start().await;
    let toml = config_toml(&mock, "").replace(
        "max_tokens = 2048",
        "max_tokens = 2048\non_violation = \"flag\"",
    );
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    mock.push(Reply::served_by("Together", "openai/gpt-4o", false));
    let r = send(&gw, "confidential", &body("openai/gpt-4o", false)).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Hello from the mock"));
}

#[tokio::test]
async fn byok_classes_need_proof_in_usage() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let model = "meta-llama/llama-3.1-70b-instruct";
    mock.push(Reply::served_by("DeepInfra", model, true));
    assert_eq!(
        send(&gw, "restricted", &body(model, false)).await.status(),
        200
    );
    assert_eq!(mock.last().json()["provider"]["only"], json!(["deepinfra"]));
    mock.push(Reply::served_by("DeepInfra", model, false));
    let r = send(&gw, "restricted", &body(model, false)).await;
    assert_eq!(r.status(), 502);
    assert_eq!(error_of(r).await.1, "policy_violation");
    // No usage at all is no proof either.
    let mut no_usage = common::mock::chat_completion();
    no_usage["provider"] = json!("DeepInfra");
    no_usage["model"] = json!(model);
    no_usage.as_object_mut().unwrap().remove("usage");
    mock.push(Reply::ok(no_usage));
    assert_eq!(
        send(&gw, "restricted", &body(model, false)).await.status(),
        502
    );
}

#[tokio::test]
async fn a_stream_from_the_wrong_provider_is_cut_before_any_of_its_content() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    mock.push(Reply::stream_served_by(
        "Together",
        "openai/gpt-4o",
        5,
        Duration::from_millis(20),
        false,
    ));
    let r = send(&gw, "confidential", &body("openai/gpt-4o", true)).await;
    assert_eq!(
        r.status(),
        200,
        "the status line goes out before the first event"
    );
    let text = text_of(r).await;
    assert!(
        !text.contains("tok0"),
        "no content from the wrong provider reached the client: {text}"
    );
    assert!(!text.contains("[DONE]"));
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    let v: Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(v["error"]["metadata"]["error_type"], "policy_violation");
    assert_eq!(v["choices"][0]["finish_reason"], "error");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(mock.stream_cancelled(), "the upstream stream was dropped");

    // A switch mid-stream is caught on the chunk where it happens.
    let ok = json!({"provider": "OpenAI", "model": "openai/gpt-4o", "choices": [{"index": 0, "delta": {"content": "good "}}]});
    let bad = json!({"provider": "Together", "model": "openai/gpt-4o", "choices": [{"index": 0, "delta": {"content": "leaked"}}]});
    mock.push(Reply::Sse {
        chunks: vec![
            (Duration::ZERO, format!("data: {ok}\n\n")),
            (
                Duration::from_millis(30),
                format!("data: {bad}\n\ndata: [DONE]\n\n"),
            ),
        ],
        ending: common::StreamEnding::Close,
    });
    let text = text_of(send(&gw, "confidential", &body("openai/gpt-4o", true)).await).await;
    assert!(text.contains("good ") && !text.contains("leaked"), "{text}");
    assert!(text.contains("policy_violation"));
}

#[tokio::test]
async fn a_stream_without_byok_proof_ends_in_an_error_instead_of_done() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let model = "meta-llama/llama-3.1-70b-instruct";
    mock.push(Reply::stream_served_by(
        "DeepInfra",
        model,
        3,
        Duration::from_millis(10),
        true,
    ));
    let text = text_of(send(&gw, "restricted", &body(model, true)).await).await;
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    mock.push(Reply::stream_served_by(
        "DeepInfra",
        model,
        3,
        Duration::from_millis(10),
        false,
    ));
    let text = text_of(send(&gw, "restricted", &body(model, true)).await).await;
    assert!(
        !text.contains("[DONE]") && !text.contains("\"usage\""),
        "the unproven usage chunk is withheld: {text}"
    );
    assert!(text.contains("byok_not_proven"), "{text}");
}

#[tokio::test]
async fn the_model_list_is_filtered_to_the_class() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let listing = json!({"data": [
        {"id": "openai/gpt-4o", "name": "GPT-4o"},
        {"id": "anthropic/claude-3.5-sonnet"},
        {"id": "meta-llama/llama-3.1-70b-instruct"},
        {"id": "openai/gpt-4o:free"},
        {"id": "openrouter/auto"},
        {"id": 42},
    ]});
    let ids = |v: &Value| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].to_string())
            .collect::<Vec<_>>()
    };
    mock.push(Reply::ok(listing.clone()));
    let r = gw
        .client
        .get(gw.url("/v1/models"))
        .bearer_auth(CLIENT_KEY)
        .header("x-data-classification", "confidential")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        ids(&v),
        ["\"openai/gpt-4o\"", "\"anthropic/claude-3.5-sonnet\""]
    );
    assert_eq!(
        v["data"][0]["name"], "GPT-4o",
        "entries are passed on whole"
    );
    mock.push(Reply::ok(listing));
    let v: Value = gw
        .client
        .get(gw.url("/api/v1/models"))
        .bearer_auth(common::OTHER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["data"].as_array().unwrap().len(),
        4,
        "public allows every regular model and :free, not routers"
    );
}

#[tokio::test]
async fn a_class_can_be_routed_to_a_self_hosted_upstream() {
    let openrouter = MockUpstream::start().await;
    let local = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("local.key");
    std::fs::File::create(&key_file)
        .unwrap()
        .write_all(b"local-secret\n")
        .unwrap();
    let toml = config_toml(&openrouter, &format!(
        "[upstreams.selfhosted]\nbase_url = \"{}\"\nallow_insecure_http = true\napi_key_file = \"{}\"\nmodel_map = {{ \"meta-llama/llama-3.1-70b-instruct\" = \"llama3.1:70b\" }}\n",
        local.base_url(),
        key_file.display()
    ))
    .replace("require_byok = true", "upstream = \"selfhosted\"");
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    local.push(Reply::served_by("", "llama3.1:70b", false));
    let mut req = body("Meta-Llama/Llama-3.1-70B-Instruct", false);
    req["provider"] = json!({"only": ["deepinfra"]});
    req["models"] = json!(["meta-llama/llama-3.1-70b-instruct"]);
    let r = send(&gw, "restricted", &req).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        openrouter.count(),
        0,
        "restricted data never reached OpenRouter"
    );
    let got = local.last();
    let forwarded = got.json();
    assert_eq!(forwarded["model"], "llama3.1:70b");
    assert!(
        forwarded.get("provider").is_none() && forwarded.get("models").is_none(),
        "{forwarded}"
    );
    assert_eq!(forwarded["max_tokens"], 1024);
    assert_eq!(got.headers["authorization"], "Bearer local-secret");
    assert!(got.headers.get("x-title").is_none());
}

/// A fallback served by a self-hosted upstream answers under that server's own name for the
/// fallback model; the response check accepts it as it accepts the primary's.
#[tokio::test]
async fn a_self_hosted_fallback_is_accepted_under_its_own_name() {
    let openrouter = MockUpstream::start().await;
    let local = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("local.key");
    std::fs::write(&key_file, "local-secret\n").unwrap();
    let toml = config_toml(&openrouter, &format!(
        "[upstreams.selfhosted]\nbase_url = \"{}\"\nallow_insecure_http = true\napi_key_file = \"{}\"\nmodel_map = {{ \"meta-llama/llama-3.1-70b-instruct\" = \"llama3.1:70b\", \"meta-llama/llama-3.1-8b-instruct\" = \"llama3.1:8b\" }}\n",
        local.base_url(),
        key_file.display()
    ))
    .replace(
        "models = [\"meta-llama/llama-3.1-70b-instruct\"]",
        "models = [\"meta-llama/llama-3.1-70b-instruct\", \"meta-llama/llama-3.1-8b-instruct\"]\nfallbacks = [\"meta-llama/llama-3.1-8b-instruct\"]\non_violation = \"block\"",
    )
    .replace("require_byok = true", "upstream = \"selfhosted\"");
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    local.push(Reply::status(
        500,
        json!({"error": {"message": "overloaded"}}),
    ));
    local.push(Reply::served_by("", "llama3.1:8b", false));
    let r = send(
        &gw,
        "restricted",
        &body("meta-llama/llama-3.1-70b-instruct", false),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent: Vec<Value> = local.requests().iter().map(|r| r.json()).collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["model"], "llama3.1:70b");
    assert_eq!(sent[1]["model"], "llama3.1:8b");
    assert_eq!(openrouter.count(), 0);
}

#[tokio::test]
async fn policy_explain_prints_what_the_server_forwards() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("hmac.key");
    std::fs::write(&key, "explain test key").unwrap();
    let toml = config_toml(&mock, "")
        .replace("AUDIT_DIR", &dir.path().join("audit").display().to_string())
        .replace("HMAC_KEY_FILE", &key.display().to_string());
    let path = dir.path().join("orguard.toml");
    std::fs::write(&path, &toml).unwrap();
    let request = json!({"model": " OpenAI/GPT-4o ", "max_tokens": 99999, "user": "jane@example.com",
        "provider": {"allow_fallbacks": true, "only": ["openai", "together"]}, "debug": {"echo_upstream_body": true},
        "messages": [{"role": "user", "content": "hi"}]});
    let req_path = dir.path().join("request.json");
    std::fs::write(&req_path, request.to_string()).unwrap();

    let out = command()
        .env("OPENROUTER_API_KEY", upstream_key())
        .args([
            "--config",
            path.to_str().unwrap(),
            "policy",
            "explain",
            "--key-id",
            "billing-1",
            "--class",
            "confidential",
            req_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    for line in [
        "decision: ALLOW",
        "class:    confidential",
        "provider.only.filtered",
        "provider.allow_fallbacks.overridden",
        "tokens.clamped",
        "debug.stripped",
        "user.pseudonymised",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    assert_eq!(mock.count(), 0, "explain sends nothing");
    let printed: Value =
        serde_json::from_str(text.split_once("forwarded body:\n").unwrap().1).unwrap();

    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    assert_eq!(send(&gw, "confidential", &request).await.status(), 200);
    assert_eq!(
        mock.last().json(),
        printed,
        "explain and the server make the same decision"
    );

    let denied = json!({"model": "openrouter/auto", "messages": []});
    std::fs::write(&req_path, denied.to_string()).unwrap();
    let out = command()
        .args([
            "--config",
            path.to_str().unwrap(),
            "policy",
            "explain",
            "--key-id",
            "billing-1",
            req_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("DENY (403 router_not_allowed)"), "{text}");
}

#[tokio::test]
async fn provider_names_are_learned_from_the_upstream() {
    let mock = MockUpstream::start().await;
    // The gateway's first upstream call is the refresh.
    mock.push(Reply::ok(json!({"data": [{"name": "Acme Cloud", "slug": "acme"}, {"name": "OpenAI", "slug": "openai"}]})));
    let toml = config_toml(&mock, "")
        .replace(
            "providers_refresh_seconds = 0\n",
            "providers_refresh_seconds = 3600\n",
        )
        .replace(
            "providers = [\"anthropic\", \"openai\"]",
            "providers = [\"anthropic\", \"openai\", \"acme\"]",
        );
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    for _ in 0..100 {
        if !gw.state.provider_names.load().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(mock.requests()[0].path, "/api/v1/providers");
    // Without the refresh "Acme Cloud" would be guessed as `acme-cloud` and blocked.
    mock.push(Reply::served_by("Acme Cloud", "openai/gpt-4o", false));
    assert_eq!(
        send(&gw, "confidential", &body("openai/gpt-4o", false))
            .await
            .status(),
        200
    );
    mock.push(Reply::served_by("Unknown Host Co", "openai/gpt-4o", false));
    assert_eq!(
        send(&gw, "confidential", &body("openai/gpt-4o", false))
            .await
            .status(),
        502
    );
}
