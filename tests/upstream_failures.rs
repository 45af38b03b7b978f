//! Upstream failures that explain themselves: a refusal of the gateway's own OpenRouter
//! account is the gateway's error (not the app's 401 or budget), and an answer given after
//! the gateway's own retries and fallbacks tells the SDK not to run the chain again.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::process::Command;

use common::gateway::{config_toml, error_of};
use common::{chat_body, upstream_key, MockUpstream, Reply, TestGateway, CLIENT_KEY};
use serde_json::json;

/// The test config with `[resilience]` settings of the test's own.
fn with_retries(mock: &MockUpstream, settings: &str) -> String {
    config_toml(mock, "")
        .replace("max_retries = 0\n", "")
        .replace("[resilience]\n", &format!("[resilience]\n{settings}\n"))
}

fn upstream_error(status: u16, message: &str) -> Reply {
    Reply::status(
        status,
        json!({"error": {"code": status, "message": message}}),
    )
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

#[tokio::test]
async fn the_gateways_own_key_or_credit_failing_is_not_the_apps_401_or_budget() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let get = |path: &str| gw.client.get(gw.url(path)).bearer_auth(CLIENT_KEY).send();
    let cases = [
        (401, "User not found.", 502, "upstream_key_rejected"),
        (
            403,
            "Only management keys can perform this operation",
            502,
            "upstream_key_rejected",
        ),
        (
            402,
            "This request requires more credits, or fewer max_tokens.",
            503,
            "upstream_credit_exhausted",
        ),
    ];
    for (upstream, message, status, code) in cases {
        mock.set_default(upstream_error(upstream, message));
        // Inference, the model list and a passthrough path alike.
        let answers = [
            gw.chat(&chat_body("openai/gpt-4o")).await,
            get("/v1/models").await.unwrap(),
            get("/api/v1/generation?id=gen-1").await.unwrap(),
        ];
        for r in answers {
            assert_eq!(r.status(), status, "upstream {upstream}");
            assert_eq!(
                r.headers()["x-should-retry"],
                "false",
                "upstream {upstream}"
            );
            let text = r.text().await.unwrap();
            assert!(
                !text.contains(message),
                "the upstream body is not relayed: {text}"
            );
            assert!(!text.contains(&upstream_key()), "no key material: {text}");
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["error"]["type"], "upstream_error", "{text}");
            assert_eq!(v["error"]["code"], code, "{text}");
            assert!(
                v["error"]["message"].as_str().unwrap().contains("operator"),
                "{text}"
            );
        }
    }
    let series = |code: &str| format!("orguard_upstream_key_errors_total{{code=\"{code}\"}}");
    assert_eq!(sample(&gw, &series("upstream_key_rejected")).await, 6.0);
    assert_eq!(sample(&gw, &series("upstream_credit_exhausted")).await, 3.0);
    // Not the app's refusals: no denial is counted for them.
    for code in [
        "upstream_key_rejected",
        "upstream_credit_exhausted",
        "invalid_api_key",
    ] {
        let denial = format!("orguard_denials_total{{code=\"{code}\"}}");
        assert_eq!(sample(&gw, &denial).await, 0.0, "{code}");
    }
    // The audit's response records say what the app was answered.
    let statuses: Vec<u64> = gw
        .audit_records()
        .await
        .iter()
        .filter(|r| r["type"] == "response")
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [502, 502, 503]);

    // A 403 about the request's content (moderation, guardrail) stays the upstream's
    // answer: the app can change its request.
    let moderation = json!({"error": {"code": 403, "message": "flagged",
        "metadata": {"reasons": ["harassment"], "flagged_input": "...", "provider_name": "OpenAI"}}});
    mock.set_default(Reply::status(403, moderation));
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["message"],
        "flagged"
    );
}

#[tokio::test]
async fn an_answer_after_the_gateways_retries_and_fallbacks_is_final() {
    let mock = MockUpstream::start().await;
    mock.set_default(upstream_error(503, "Provider returned error"));
    let toml = with_retries(&mock, "max_retries = 2")
        + "\n[resilience.fallbacks]\n\"openai/gpt-4o\" = [\"anthropic/claude-3.5-sonnet\"]\n";
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 503, "the upstream's own status is passed on");
    assert_eq!(r.headers()["x-should-retry"], "false");
    // Three attempts on each of the two models, and no more.
    assert_eq!(mock.count(), 6);

    // No answer at all (the upstream is unreachable): the gateway's error is final too.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/api/v1", closed.local_addr().unwrap());
    drop(closed);
    let toml = with_retries(&mock, "max_retries = 1").replace(&mock.base_url(), &dead);
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["x-should-retry"], "false");
    assert_eq!(
        error_of(r).await,
        (
            "upstream_error".to_owned(),
            "upstream_unreachable".to_owned()
        )
    );
}

/// One call of the official Python SDK (which retries 5xx twice by default) against an
/// upstream that always fails: the upstream sees the gateway's attempts once, not once per
/// SDK retry.
#[tokio::test]
async fn one_sdk_call_is_one_run_of_the_gateways_retries() {
    let python = Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !python {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the Python `openai` package is not installed, and CI=true: .ci/run must install it"
        );
        eprintln!("\n*** SKIPPED: the Python `openai` package is not installed on this machine; run .ci/run to install it ***\n");
        return;
    }
    let mock = MockUpstream::start().await;
    mock.set_default(upstream_error(503, "Provider returned error"));
    let toml = with_retries(&mock, "max_retries = 2");
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    let script = r#"
import os, openai
client = openai.OpenAI(base_url=os.environ["ORGUARD_BASE_URL"], api_key=os.environ["ORGUARD_CLIENT_KEY"])
try:
    client.chat.completions.create(model="openai/gpt-4o", messages=[{"role": "user", "content": "hi"}])
    print("no error")
except openai.APIStatusError as e:
    print("status", e.status_code)
"#;
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script])
        .env("ORGUARD_BASE_URL", gw.url("/v1"))
        .env("ORGUARD_CLIENT_KEY", CLIENT_KEY);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("status 503"),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        mock.count(),
        3,
        "one SDK call, one run of the gateway's 3 attempts"
    );
}
