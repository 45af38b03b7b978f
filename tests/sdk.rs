//! End to end with the official OpenAI SDKs (Python `openai`, Node `openai`) as real clients:
//! a plain completion, a streamed one and one with tools, through the gateway to the mock.
//!
//! `.ci/run` installs both SDKs. On a machine without them these tests say loudly that they
//! were skipped and why; under `CI=true` a missing SDK is a failure.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{MockUpstream, Reply, TestGateway, CLIENT_KEY};
use serde_json::json;

fn tool_call_reply() -> Reply {
    Reply::ok(json!({
        "id": "gen-2-tools", "provider": "OpenAI", "model": "openai/gpt-4o", "object": "chat.completion", "created": 1,
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15, "cost": 0.0001, "is_byok": false}
    }))
}

fn available(check: &mut Command, what: &str) -> bool {
    let ok = check.output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{what} is not installed, and CI=true: .ci/run must install it"
        );
        eprintln!("\n*** SKIPPED: {what} is not installed on this machine; run .ci/run (or see README) to install it ***\n");
    }
    ok
}

/// Scripts the mock for the SDK scenario and checks what it received afterwards.
async fn run_scenario(mut cmd: Command, label: &str) {
    let mock = MockUpstream::start().await;
    mock.push(Reply::ok(common::mock::chat_completion()));
    mock.push(Reply::chat_stream(3, Duration::from_millis(20)));
    mock.push(tool_call_reply());
    let gw = TestGateway::start(&mock).await;
    cmd.env("ORGUARD_BASE_URL", gw.url("/v1"))
        .env("ORGUARD_CLIENT_KEY", CLIENT_KEY);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{label} failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("4 passed, 0 failed"), "{stdout}");

    let got = mock.requests();
    assert_eq!(
        got.len(),
        3,
        "the refused request never reached the upstream"
    );
    assert_eq!(got[0].json()["messages"][0]["content"], "Say hello");
    assert_eq!(got[1].json()["stream"], true);
    let tools = &got[2].json()["tools"];
    assert_eq!(
        tools[0]["function"]["name"], "get_weather",
        "tools forwarded intact"
    );
    for r in &got {
        assert_eq!(r.path, "/api/v1/chat/completions");
        assert_eq!(
            r.headers["authorization"],
            format!("Bearer {}", common::upstream_key())
        );
        assert!(
            r.headers
                .keys()
                .all(|k| !k.as_str().starts_with("x-stainless")),
            "{label}: SDK headers dropped"
        );
    }
}

#[tokio::test]
async fn python_openai_sdk() {
    if !available(
        Command::new("python3").args(["-c", "import openai"]),
        "the Python `openai` package",
    ) {
        return;
    }
    let mut cmd = Command::new("python3");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/python_sdk.py"));
    run_scenario(cmd, "python sdk").await;
}

#[tokio::test]
async fn node_openai_sdk() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/node");
    let installed = dir.join("node_modules/openai/package.json");
    if !available(
        Command::new("test").arg("-f").arg(&installed),
        "the Node `openai` package (npm ci in tests/sdk/node)",
    ) {
        return;
    }
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("sdk_test.mjs")).current_dir(&dir);
    run_scenario(cmd, "node sdk").await;
}
