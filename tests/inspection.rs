//! Nothing leaves unread (DESIGN.md §4, README "What orguard reads"): every string, key and
//! long number of the forwarded body, on every endpoint, and every forwarded header, is
//! inspected — or the request is refused. Everything here goes through HTTP to a mock
//! upstream that records what it received.
//!
//! The caller is a `public` key: a value the scanner did not read would go upstream
//! verbatim to a model of that class, so "the class was raised" is visible in the audit and
//! "the value was removed" in what the mock received.

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
use common::{sha256_hex, upstream_key, MockUpstream, Recorded, TestGateway};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{json, Map, Value};

/// A key whose default and minimum class is `public`.
const PUBLIC_KEY: &str = "ogk_test_inspection_public";

/// A canary secret: an OpenRouter key shape, built at run time so no key-shaped literal
/// sits in the tree.
fn secret() -> String {
    format!("sk-or-v1-{}", "c0ffee42".repeat(8))
}

const EMAIL: &str = "canary.person@example.org";

async fn gateway(mock: &MockUpstream, class_extra: &str) -> TestGateway {
    TestGateway::from_toml(&gateway_toml(mock, class_extra), Some(upstream_key())).await
}

fn gateway_toml(mock: &MockUpstream, class_extra: &str) -> String {
    config_toml(
        mock,
        &format!(
            "[[keys]]\nid = \"public-1\"\nservice = \"search\"\nsha256 = \"{}\"\ndefault_class = \"public\"\nmin_class = \"public\"\n",
            sha256_hex(PUBLIC_KEY)
        ),
    )
    // Legacy completions are off by default; these tests need every endpoint.
    .replace(
        "[classes.public]\n",
        &format!("[classes.public]\nallow_legacy_completions = true\n{class_extra}"),
    )
    .replace(
        "[classes.confidential]\n",
        "[classes.confidential]\nallow_legacy_completions = true\n",
    )
}

async fn post(
    gw: &TestGateway,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, Value, String) {
    let mut r = gw
        .client
        .post(gw.url(path))
        .bearer_auth(PUBLIC_KEY)
        .header("content-type", "application/json");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let response = r.body(body.to_string()).send().await.unwrap();
    let status = response.status().as_u16();
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        id,
    )
}

/// Everything the upstream received, as text: bodies and headers.
fn received(requests: &[Recorded]) -> String {
    let mut out = String::new();
    for r in requests {
        out.push_str(&String::from_utf8_lossy(&r.body));
        for (k, v) in &r.headers {
            out.push_str(k.as_str());
            out.push_str(&String::from_utf8_lossy(v.as_bytes()));
        }
    }
    out
}

/// The pieces of `value` that would show it was forwarded: its runs of ASCII letters and
/// digits that hold a digit or are six or more long (not a label such as `card`).
fn fragments(value: &str) -> Vec<&str> {
    value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|f| f.len() >= 4 && (f.len() >= 6 || f.bytes().any(|b| b.is_ascii_digit())))
        .collect()
}

/// Each case is refused, or forwarded with the value rewritten whole (found as written,
/// it is redacted like any other): no fragment of it reaches the upstream.
async fn assert_withheld(
    gw: &TestGateway,
    mock: &MockUpstream,
    cases: impl IntoIterator<Item = (&'static str, String)>,
) {
    for (name, value) in cases {
        let before = mock.count();
        let content = format!("please keep this: {value} thanks");
        let body =
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": content}]});
        let (status, err, _) = post(gw, CHAT, &body, &[]).await;
        let sent = mock.requests().split_off(before);
        if sent.is_empty() {
            assert!(matches!(status, 403 | 422), "{name}: {status} {err}");
            let e = err.to_string();
            assert!(
                fragments(&value).iter().all(|f| !e.contains(f)),
                "{name}: the error repeats the value: {err}"
            );
        } else {
            let forwarded = received(&sent);
            let leaked: Vec<_> = fragments(&value)
                .into_iter()
                .filter(|f| forwarded.contains(f))
                .collect();
            assert!(
                leaked.is_empty(),
                "{name}: forwarded ({status}) with {leaked:?}: {forwarded}"
            );
        }
    }
}

/// Each text is forwarded as written: not refused, not rewritten.
async fn assert_forwarded_unchanged(
    gw: &TestGateway,
    mock: &MockUpstream,
    texts: impl IntoIterator<Item = (&'static str, &'static str)>,
) {
    for (name, content) in texts {
        let before = mock.count();
        let body =
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": content}]});
        let (status, err, _) = post(gw, CHAT, &body, &[]).await;
        assert_eq!(status, 200, "{name}: {err}");
        let sent = mock.requests().split_off(before);
        let forwarded: Value = serde_json::from_slice(&sent[0].body).unwrap();
        assert_eq!(forwarded["messages"][0]["content"], content, "{name}");
    }
}

/// Puts `value` where `@@` stands in `template`, as a JSON string (or as an object key).
fn fill(template: &Value, value: &str) -> Value {
    match template {
        Value::String(s) => Value::String(s.replace("@@", value)),
        Value::Array(items) => Value::Array(items.iter().map(|i| fill(i, value)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.replace("@@", value), fill(v, value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

const CHAT: &str = "/api/v1/chat/completions";
const COMPLETIONS: &str = "/api/v1/completions";
const EMBEDDINGS: &str = "/api/v1/embeddings";
const RESPONSES: &str = "/api/v1/responses";

/// Every field the OpenAI and OpenRouter references list that carries client text, per
/// endpoint, with `@@` where the value goes. `model` is allowed in every class involved.
fn field_table() -> Vec<(&'static str, &'static str, Value)> {
    let m = "openai/gpt-4o";
    let user =
        |content: Value| json!({"model": m, "messages": [{"role": "user", "content": content}]});
    let with = |extra: Value| {
        let mut b = user(json!("hello"));
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let args = json!({"to": "@@", "n": 1}).to_string();
    let fn_tool = json!([{"type": "function", "function": {"name": "lookup", "description": "@@", "parameters": {"type": "object", "properties": {"q": {"type": "string", "description": "@@", "enum": ["@@"]}}}}}]);
    vec![
        // Chat completions.
        ("chat: user content", CHAT, user(json!("write to @@ today"))),
        (
            "chat: system content",
            CHAT,
            json!({"model": m, "messages": [{"role": "system", "content": "@@"}, {"role": "user", "content": "hi"}]}),
        ),
        (
            "chat: developer content",
            CHAT,
            json!({"model": m, "messages": [{"role": "developer", "content": "@@"}, {"role": "user", "content": "hi"}]}),
        ),
        (
            "chat: text part",
            CHAT,
            user(json!([{"type": "text", "text": "@@"}])),
        ),
        (
            "chat: name",
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "name": "@@", "content": "hi"}]}),
        ),
        (
            "chat: assistant refusal field",
            CHAT,
            json!({"model": m, "messages": [{"role": "assistant", "content": null, "refusal": "@@"}, {"role": "user", "content": "hi"}]}),
        ),
        (
            "chat: refusal part",
            CHAT,
            json!({"model": m, "messages": [{"role": "assistant", "content": [{"type": "refusal", "refusal": "@@"}]}, {"role": "user", "content": "hi"}]}),
        ),
        (
            "chat: reasoning",
            CHAT,
            json!({"model": m, "messages": [{"role": "assistant", "content": "ok", "reasoning": "@@"}, {"role": "user", "content": "hi"}]}),
        ),
        (
            "chat: reasoning_details",
            CHAT,
            json!({"model": m, "messages": [{"role": "assistant", "content": "ok", "reasoning_details": [{"type": "reasoning.text", "text": "@@"}]}, {"role": "user", "content": "hi"}]}),
        ),
        (
            "chat: tool call arguments",
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "send", "arguments": args}}]}, {"role": "tool", "tool_call_id": "call_1", "content": "done"}]}),
        ),
        (
            "chat: tool call name",
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "@@", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "call_1", "content": "done"}]}),
        ),
        (
            "chat: tool result",
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "send", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "@@"}]}]}),
        ),
        (
            "chat: legacy function_call",
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "function_call": {"name": "send", "arguments": args}}]}),
        ),
        ("chat: tools", CHAT, with(json!({"tools": fn_tool}))),
        (
            "chat: legacy functions",
            CHAT,
            with(
                json!({"functions": [{"name": "lookup", "description": "@@", "parameters": {"type": "object"}}]}),
            ),
        ),
        (
            "chat: tool_choice name",
            CHAT,
            with(
                json!({"tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}], "tool_choice": {"type": "function", "function": {"name": "@@"}}}),
            ),
        ),
        (
            "chat: response_format schema",
            CHAT,
            with(
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "description": "@@"}}}}),
            ),
        ),
        (
            "chat: prediction",
            CHAT,
            with(json!({"prediction": {"type": "content", "content": "@@"}})),
        ),
        ("chat: stop string", CHAT, with(json!({"stop": "@@"}))),
        (
            "chat: stop list",
            CHAT,
            with(json!({"stop": ["END", "@@"]})),
        ),
        (
            "chat: metadata value",
            CHAT,
            with(json!({"metadata": {"customer": "@@"}})),
        ),
        (
            "chat: metadata key",
            CHAT,
            with(json!({"metadata": {"@@": "x"}})),
        ),
        ("chat: user", CHAT, with(json!({"user": "@@"}))),
        ("chat: session_id", CHAT, with(json!({"session_id": "@@"}))),
        (
            "chat: prompt_cache_key",
            CHAT,
            with(json!({"prompt_cache_key": "@@"})),
        ),
        (
            "chat: file part filename",
            CHAT,
            user(
                json!([{"type": "text", "text": "read this"}, {"type": "file", "file": {"filename": "@@.pdf", "file_id": "file-1"}}]),
            ),
        ),
        (
            "chat: image url",
            CHAT,
            user(
                json!([{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "https://img.example.com/a.png?owner=@@"}}]),
            ),
        ),
        (
            "chat: unknown top-level field",
            CHAT,
            with(json!({"x_custom": {"deep": [{"note": "@@"}]}})),
        ),
        (
            "chat: unknown key deep",
            CHAT,
            with(json!({"x_custom": {"deep": [{"@@": 1}]}})),
        ),
        (
            "chat: unknown message field",
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": "hi", "x_note": "@@"}]}),
        ),
        (
            "chat: unknown part type",
            CHAT,
            user(json!([{"type": "x_new", "payload": {"v": "@@"}}])),
        ),
        // Legacy completions.
        (
            "completions: prompt",
            COMPLETIONS,
            json!({"model": m, "prompt": "@@"}),
        ),
        (
            "completions: prompt list",
            COMPLETIONS,
            json!({"model": m, "prompt": ["a", "@@"]}),
        ),
        (
            "completions: suffix",
            COMPLETIONS,
            json!({"model": m, "prompt": "a", "suffix": "@@"}),
        ),
        (
            "completions: stop",
            COMPLETIONS,
            json!({"model": m, "prompt": "a", "stop": ["@@"]}),
        ),
        (
            "completions: metadata",
            COMPLETIONS,
            json!({"model": m, "prompt": "a", "metadata": {"k": "@@"}}),
        ),
        // Embeddings.
        (
            "embeddings: input",
            EMBEDDINGS,
            json!({"model": m, "input": "@@"}),
        ),
        (
            "embeddings: input list",
            EMBEDDINGS,
            json!({"model": m, "input": ["a", "@@"]}),
        ),
        (
            "embeddings: user",
            EMBEDDINGS,
            json!({"model": m, "input": "a", "user": "@@"}),
        ),
        // Responses.
        (
            "responses: input string",
            RESPONSES,
            json!({"model": m, "input": "@@"}),
        ),
        (
            "responses: instructions",
            RESPONSES,
            json!({"model": m, "input": "hi", "instructions": "@@"}),
        ),
        (
            "responses: message input_text",
            RESPONSES,
            json!({"model": m, "input": [{"role": "user", "content": [{"type": "input_text", "text": "@@"}]}]}),
        ),
        (
            "responses: typed message",
            RESPONSES,
            json!({"model": m, "input": [{"type": "message", "role": "user", "content": "@@"}]}),
        ),
        (
            "responses: assistant output_text",
            RESPONSES,
            json!({"model": m, "input": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "@@", "annotations": []}]}, {"role": "user", "content": "hi"}]}),
        ),
        (
            "responses: function_call arguments",
            RESPONSES,
            json!({"model": m, "input": [{"type": "function_call", "call_id": "c1", "name": "send", "arguments": args}, {"type": "function_call_output", "call_id": "c1", "output": "ok"}]}),
        ),
        (
            "responses: function_call_output string",
            RESPONSES,
            json!({"model": m, "input": [{"type": "function_call", "call_id": "c1", "name": "send", "arguments": "{}"}, {"type": "function_call_output", "call_id": "c1", "output": "@@"}]}),
        ),
        (
            "responses: function_call_output parts",
            RESPONSES,
            json!({"model": m, "input": [{"type": "function_call", "call_id": "c1", "name": "send", "arguments": "{}"}, {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "@@"}]}]}),
        ),
        (
            "responses: reasoning summary",
            RESPONSES,
            json!({"model": m, "input": [{"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "@@"}]}, {"role": "user", "content": "hi"}]}),
        ),
        (
            "responses: text.format schema",
            RESPONSES,
            json!({"model": m, "input": "hi", "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object", "description": "@@"}}}}),
        ),
        (
            "responses: prompt.variables",
            RESPONSES,
            json!({"model": m, "input": "hi", "prompt": {"id": "pmpt_1", "variables": {"who": "@@"}}}),
        ),
        (
            "responses: tools",
            RESPONSES,
            json!({"model": m, "input": "hi", "tools": [{"type": "function", "name": "lookup", "description": "@@", "parameters": {"type": "object"}}]}),
        ),
        (
            "responses: metadata",
            RESPONSES,
            json!({"model": m, "input": "hi", "metadata": {"k": "@@"}}),
        ),
    ]
}

#[tokio::test]
async fn every_documented_field_refuses_a_secret_and_never_forwards_an_email() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let canary = secret();
    for (name, path, template) in field_table() {
        // A secret: refused, nothing forwarded, and the error does not repeat it.
        let before = mock.count();
        let (status, body, _) = post(&gw, path, &fill(&template, &canary), &[]).await;
        assert_eq!(status, 403, "{name}: a secret must be refused: {body}");
        assert_eq!(body["error"]["code"], "secret_blocked", "{name}: {body}");
        assert!(
            !body.to_string().contains(&canary),
            "{name}: the error repeats the secret"
        );
        assert_eq!(
            mock.count(),
            before,
            "{name}: a request with a secret went upstream"
        );

        // An e-mail: removed from what is forwarded with the class raised, or refused.
        let before = mock.count();
        let (status, body, id) = post(&gw, path, &fill(&template, EMAIL), &[]).await;
        let sent = mock.requests().split_off(before);
        assert!(
            !received(&sent).contains(EMAIL),
            "{name}: the e-mail reached the upstream"
        );
        assert!(
            !body.to_string().contains(EMAIL) || status < 400,
            "{name}: the error repeats the e-mail"
        );
        if sent.is_empty() {
            assert!(
                (400..500).contains(&status),
                "{name}: not forwarded, yet {status}: {body}"
            );
        } else {
            let records = gw.audit_records().await;
            let request = records
                .iter()
                .find(|r| r["type"] == "request" && r["request_id"] == id.as_str())
                .unwrap_or_else(|| panic!("{name}: no request record"));
            assert_eq!(
                request["class"], "confidential",
                "{name}: the e-mail did not raise the class"
            );
        }
    }
}

#[tokio::test]
async fn digits_sent_as_json_numbers_are_inspected() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    for (name, extra) in [
        (
            "card as a number",
            json!({"x_payment": {"card": 4111111111111111u64}}),
        ),
        (
            "ssn as a number",
            json!({"x_patient": {"ssn": 123456789u64}}),
        ),
        (
            "card as a metadata key",
            json!({"metadata": {"4111111111111111": "x"}}),
        ),
    ] {
        let mut body =
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, err, _) = post(&gw, CHAT, &body, &[]).await;
        assert!(status == 403, "{name}: {status} {err}");
        let code = err["error"]["code"].as_str().unwrap_or_default();
        assert!(
            code == "unredactable_field" || code == "pii_blocked",
            "{name}: {err}"
        );
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("4111111111111111") && !message.contains("123456789"),
            "{name}: {message}"
        );
    }
    assert_eq!(mock.count(), 0, "nothing was forwarded");
    // Short numbers (temperatures, seeds, token counts) are not values.
    let body = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2, "seed": 42, "top_logprobs": 3});
    let (status, _, _) = post(&gw, CHAT, &body, &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_value_under_a_key_names_its_path_not_the_value() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let body = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}], "metadata": {"jane.doe@example.com": "x"}});
    let (status, err, _) = post(&gw, CHAT, &body, &[]).await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "unredactable_field");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("`$.metadata.*`"), "{message}");
    assert!(!message.contains("jane"), "{message}");
    let records = gw.audit_records().await;
    let denied = records
        .iter()
        .find(|r| r["type"] == "denied")
        .expect("the denial is audited");
    assert!(!denied.to_string().contains("jane"), "{denied}");
}

#[tokio::test]
async fn malformed_known_fields_are_a_400_with_the_path() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let m = "openai/gpt-4o";
    for (path, body, at) in [
        (
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": {"text": "hi"}}]}),
            "$.messages[0].content",
        ),
        (
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": ["hi"]}]}),
            "$.messages[0].content[0]",
        ),
        (
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": [["hi"]]}]}),
            "$.messages[0].content[0]",
        ),
        (
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": [{"type": "text", "text": ["hi"]}]}]}),
            "$.messages[0].content[0].text",
        ),
        (
            CHAT,
            json!({"model": m, "messages": {"role": "user", "content": "hi"}}),
            "$.messages",
        ),
        (
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": "hi"}], "stop": [["x"]]}),
            "$.stop[0]",
        ),
        (
            CHAT,
            json!({"model": m, "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": {"q": 1}}}]}]}),
            "$.messages[0].tool_calls[0].function.arguments",
        ),
        (
            RESPONSES,
            json!({"model": m, "input": "hi", "instructions": ["be brief"]}),
            "$.instructions",
        ),
        (
            RESPONSES,
            json!({"model": m, "input": [{"role": "user", "content": {"x": 1}}]}),
            "$.input[0].content",
        ),
        (
            RESPONSES,
            json!({"model": m, "input": [{"type": "function_call_output", "call_id": "c", "output": {"x": 1}}]}),
            "$.input[0].output",
        ),
        (
            COMPLETIONS,
            json!({"model": m, "prompt": [["nested", "strings"]]}),
            "$.prompt[0]",
        ),
        (
            COMPLETIONS,
            json!({"model": m, "prompt": {"text": "hi"}}),
            "$.prompt",
        ),
        (
            EMBEDDINGS,
            json!({"model": m, "input": [{"text": "hi"}]}),
            "$.input[0]",
        ),
    ] {
        let (status, err, _) = post(&gw, path, &body, &[]).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert_eq!(err["error"]["type"], "invalid_request_error", "{err}");
        assert_eq!(err["error"]["code"], "invalid_field_type", "{err}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("`{at}`")), "{body}: {message}");
    }
    assert_eq!(mock.count(), 0, "nothing malformed was forwarded");
    let denied = gw
        .audit_records()
        .await
        .iter()
        .filter(|r| r["type"] == "denied")
        .count();
    assert_eq!(denied, 13, "every refusal is audited");
    // Valid shapes of the same fields pass (token ids: see the uninspectable content).
    for (path, body) in [(
        CHAT,
        json!({"model": m, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "stop": null}),
    )] {
        let (status, err, _) = post(&gw, path, &body, &[]).await;
        assert_eq!(status, 200, "{body}: {err}");
    }
}

#[tokio::test]
async fn uninspectable_content_passes_only_where_the_class_allows_it() {
    let png = format!("data:image/png;base64,{}", "iVBORw0KGgo".repeat(40));
    let image = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": png}}]}]});
    let audio = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg".repeat(60), "format": "wav"}}]}]});
    let file = json!({"model": "openai/gpt-4o", "input": [{"role": "user", "content": [{"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQK"}]}]});
    // Token ids: the upstream decodes them into text with a tokenizer orguard does not have.
    let tokens = json!({"model": "openai/text-embedding-3-small", "input": [[19, 2546, 15], [4]]});
    let prompt_tokens = json!({"model": "openai/gpt-4o", "prompt": [1, 2, 3]});
    // A file as a data: URL inside a message's text is a file all the same.
    let pdf_in_text = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "summarise data:application/pdf;base64,JVBERi0xLjQK please"}]});
    // Default: refused, naming the place and the setting.
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    for (path, body, at, setting) in [
        (CHAT, &image, "$.messages[0].content[1]", "allow_images"),
        (CHAT, &audio, "$.messages[0].content[0]", "allow_audio"),
        (RESPONSES, &file, "$.input[0].content[0]", "allow_files"),
        (EMBEDDINGS, &tokens, "$.input[0]", "allow_token_input"),
        (
            COMPLETIONS,
            &prompt_tokens,
            "$.prompt[0]",
            "allow_token_input",
        ),
        (CHAT, &pdf_in_text, "$.messages[0].content", "allow_files"),
    ] {
        let (status, err, _) = post(&gw, path, body, &[]).await;
        assert_eq!(status, 403, "{err}");
        assert_eq!(err["error"]["code"], "uninspectable_content");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(at) && message.contains(setting),
            "{message}"
        );
    }
    assert_eq!(mock.count(), 0);
    // Allowed by the class: forwarded as sent; the text beside it is still inspected.
    let mock = MockUpstream::start().await;
    let gw = gateway(
        &mock,
        "allow_images = true\nallow_audio = true\nallow_files = true\nallow_token_input = true\n",
    )
    .await;
    for (path, body) in [(EMBEDDINGS, &tokens), (COMPLETIONS, &prompt_tokens)] {
        let (status, err, _) = post(&gw, path, body, &[]).await;
        assert_eq!(status, 200, "{err}");
        let sent = mock.last().json();
        let field = if path == EMBEDDINGS {
            "input"
        } else {
            "prompt"
        };
        assert_eq!(sent[field], body[field], "token ids are forwarded as sent");
    }
    let (status, err, _) = post(&gw, CHAT, &image, &[]).await;
    assert_eq!(status, 200, "{err}");
    assert_eq!(
        mock.last().json()["messages"][0]["content"][1]["image_url"]["url"],
        png.as_str()
    );
    let mut with_secret = image.clone();
    with_secret["messages"][0]["content"][0]["text"] = json!(format!("key {}", secret()));
    let (status, _, _) = post(&gw, CHAT, &with_secret, &[]).await;
    assert_eq!(status, 403);
    // A URL is text: an e-mail in it raises the class, whose default keeps images out.
    let mut url = image.clone();
    url["messages"][0]["content"][1]["image_url"]["url"] =
        json!(format!("https://img.example.com/x.png?u={EMAIL}"));
    let before = mock.count();
    let (status, err, _) = post(&gw, CHAT, &url, &[]).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (403, Some("uninspectable_content")),
        "{err}"
    );
    assert_eq!(mock.count(), before);
}

#[tokio::test]
async fn only_allowlisted_headers_go_upstream_and_they_are_inspected() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let body = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, _) = post(
        &gw,
        CHAT,
        &body,
        &[
            ("x-session-id", "session-42"),
            ("x-custom-note", "not forwarded"),
            ("openai-organization", "org-1"),
            ("x-stainless-lang", "python"),
            ("cookie", "a=b"),
            ("x-anthropic-beta", "x"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let headers = mock.last().headers;
    assert_eq!(headers.get("x-session-id").unwrap(), "session-42");
    for dropped in [
        "x-custom-note",
        "openai-organization",
        "x-stainless-lang",
        "cookie",
        "x-anthropic-beta",
    ] {
        assert!(headers.get(dropped).is_none(), "{dropped} was forwarded");
    }
    // Another client's key, or any secret, in a forwarded header: refused.
    let before = mock.count();
    let other_key = format!("ogk_{}", "Zq8v".repeat(8));
    for value in [secret(), other_key] {
        let (status, err, _) = post(&gw, CHAT, &body, &[("x-session-id", value.as_str())]).await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (403, Some("secret_blocked")),
            "{err}"
        );
    }
    // An e-mail there raises the class and cannot be rewritten in a header: refused.
    let (status, err, _) = post(&gw, CHAT, &body, &[("x-session-id", EMAIL)]).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (403, Some("unredactable_field")),
        "{err}"
    );
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("header x-session-id"));
    assert_eq!(mock.count(), before);
    // Sent twice: the upstream might read the other copy.
    let r = gw
        .client
        .post(gw.url(CHAT))
        .bearer_auth(PUBLIC_KEY)
        .header("content-type", "application/json")
        .header("x-session-id", "a")
        .header("x-session-id", "b")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = gw
        .client
        .post(gw.url(CHAT))
        .header("authorization", format!("Bearer {PUBLIC_KEY}"))
        .header("authorization", "Bearer ogk_someone_else_entirely")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(common::gateway::error_of(r).await.1, "invalid_header");
    assert_eq!(mock.count(), before);
}

// === property: a canary anywhere never reaches the upstream ===

/// A small deterministic generator of valid bodies per endpoint. It does not know where the
/// scanner looks: it builds documented shapes, then the test puts the canary at a random
/// string or key.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn word(&mut self) -> String {
        const WORDS: [&str; 12] = [
            "alpha",
            "report",
            "Quartal",
            "résumé",
            "数据",
            "note",
            "delta",
            "plan",
            "Übersicht",
            "summary",
            "ticket",
            "draft",
        ];
        WORDS[self.below(WORDS.len())].to_owned()
    }
    fn text(&mut self) -> String {
        (0..1 + self.below(5))
            .map(|_| self.word())
            .collect::<Vec<_>>()
            .join(" ")
    }
    fn data(&mut self, depth: usize) -> Value {
        match if depth > 2 {
            self.below(3)
        } else {
            self.below(5)
        } {
            0 => json!(self.text()),
            1 => json!(self.below(1000)),
            2 => json!(self.below(2) == 0),
            3 => Value::Array(
                (0..1 + self.below(3))
                    .map(|_| self.data(depth + 1))
                    .collect(),
            ),
            _ => {
                let mut m = Map::new();
                for _ in 0..1 + self.below(3) {
                    m.insert(
                        format!("{}_{}", self.word(), self.below(99)),
                        self.data(depth + 1),
                    );
                }
                Value::Object(m)
            }
        }
    }
    fn part(&mut self, responses: bool) -> Value {
        let t = if responses { "input_text" } else { "text" };
        json!({"type": t, "text": self.text()})
    }
    fn chat(&mut self) -> Value {
        let mut messages = vec![json!({"role": "system", "content": self.text()})];
        for _ in 0..1 + self.below(3) {
            messages.push(match self.below(4) {
                0 => json!({"role": "user", "content": self.text()}),
                1 => json!({"role": "user", "content": [self.part(false), self.part(false)]}),
                2 => json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": json!({"q": self.text(), "opts": self.data(1)}).to_string()}}]}),
                _ => json!({"role": "assistant", "content": self.text(), "refusal": null}),
            });
        }
        messages.push(json!({"role": "user", "content": self.text()}));
        let mut body = json!({"model": "openai/gpt-4o", "messages": messages});
        if self.below(2) == 0 {
            body["tools"] = json!([{"type": "function", "function": {"name": "lookup", "description": self.text(), "parameters": {"type": "object", "properties": {"q": {"type": "string", "description": self.text()}}}}}]);
        }
        if self.below(2) == 0 {
            body["metadata"] = json!({"team": self.text(), "ticket": self.word()});
        }
        if self.below(2) == 0 {
            body["stop"] = json!([self.word()]);
        }
        if self.below(2) == 0 {
            body["x_extension"] = self.data(0);
        }
        body
    }
    fn responses(&mut self) -> Value {
        let mut input = vec![json!({"role": "user", "content": [self.part(true)]})];
        if self.below(2) == 0 {
            input.push(json!({"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": json!({"q": self.text()}).to_string()}));
            input.push(json!({"type": "function_call_output", "call_id": "c1", "output": if self.below(2) == 0 { json!(self.text()) } else { json!([self.part(true)]) }}));
        }
        let mut body =
            json!({"model": "openai/gpt-4o", "input": input, "instructions": self.text()});
        if self.below(2) == 0 {
            body["text"] = json!({"format": {"type": "json_schema", "name": "out", "schema": {"type": "object", "description": self.text()}}});
        }
        if self.below(2) == 0 {
            body["x_extension"] = self.data(0);
        }
        body
    }
    fn body(&mut self) -> (&'static str, Value) {
        match self.below(4) {
            0 => (CHAT, self.chat()),
            1 => (RESPONSES, self.responses()),
            2 => (
                COMPLETIONS,
                json!({"model": "openai/gpt-4o", "prompt": if self.below(2) == 0 { json!(self.text()) } else { json!([self.text(), self.text()]) }, "suffix": self.text()}),
            ),
            _ => (
                EMBEDDINGS,
                json!({"model": "openai/gpt-4o", "input": [self.text(), self.text()], "x_extension": self.data(0)}),
            ),
        }
    }
}

/// Every string and key position of `v`, as a count; `plant` puts `canary` at the n-th.
fn positions(v: &Value) -> usize {
    match v {
        Value::String(_) => 1,
        Value::Array(items) => items.iter().map(positions).sum(),
        Value::Object(m) => m.iter().map(|(_, v)| 1 + positions(v)).sum(),
        _ => 0,
    }
}

fn plant(v: &mut Value, n: &mut usize, canary: &str, rng: &mut Gen) -> bool {
    match v {
        Value::String(s) => {
            if *n == 0 {
                // Tool-call arguments are JSON in a string: plant inside them too.
                if let Ok(mut inner @ Value::Object(_)) = serde_json::from_str::<Value>(s) {
                    let mut k = rng.below(positions(&inner).max(1));
                    if plant(&mut inner, &mut k, canary, rng) {
                        *s = inner.to_string();
                        return true;
                    }
                }
                *s = format!("{s} {canary} {}", rng.word());
                return true;
            }
            *n -= 1;
            false
        }
        Value::Array(items) => items.iter_mut().any(|i| plant(i, n, canary, rng)),
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if *n == 0 {
                    let val = m.shift_remove(&k).unwrap_or(Value::Null);
                    m.insert(format!("{k}{canary}"), val);
                    return true;
                }
                *n -= 1;
                if let Some(val) = m.get_mut(&k) {
                    if plant(val, n, canary, rng) {
                        return true;
                    }
                }
            }
            false
        }
        _ => false,
    }
}

#[test]
fn property_a_canary_anywhere_never_reaches_the_upstream() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mock = rt.block_on(MockUpstream::start());
    let gw = rt.block_on(gateway(&mock, ""));
    let canary_secret = secret();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&(any::<u64>(), any::<bool>()), |(seed, use_email)| {
        let mut rng = Gen(seed);
        let (path, mut body) = rng.body();
        let spots = positions(&body);
        let mut n = rng.below(spots);
        let canary = if use_email {
            EMAIL
        } else {
            canary_secret.as_str()
        };
        prop_assert!(plant(&mut body, &mut n, canary, &mut rng), "planted");
        prop_assert!(body.to_string().contains(canary));
        let before = mock.count();
        let (status, response, id) = rt.block_on(post(&gw, path, &body, &[]));
        let sent = mock.requests().split_off(before);
        prop_assert!(
            !received(&sent).contains(canary),
            "the canary reached the upstream from {} ({}): {}",
            path,
            status,
            body
        );
        if use_email && !sent.is_empty() {
            let records = rt.block_on(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                gw.audit_records().await
            });
            let class = records
                .iter()
                .find(|r| r["type"] == "request" && r["request_id"] == id.as_str())
                .map(|r| r["class"].clone());
            prop_assert_eq!(class, Some(json!("confidential")), "{}", body);
        } else if !use_email {
            // Refused: 403 secret_blocked, or 400 where the canary broke a required field
            // (a renamed `model` key) before any scan.
            prop_assert!(status == 403 || status == 400, "{} {}", status, response);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// === evasions found by an adversarial review ===

/// The canaries written so that a plain scan of the text as sent would miss them, each in a
/// class that lets images, audio and files through (the most permissive setting).
#[tokio::test]
async fn values_written_to_evade_the_scan_are_refused() {
    let mock = MockUpstream::start().await;
    let gw = gateway(
        &mock,
        "allow_images = true\nallow_audio = true\nallow_files = true\n",
    )
    .await;
    let sec = secret();
    let upper = sec.to_uppercase();
    let escaped = sec.replace('-', "\\u002d");
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let m = "openai/gpt-4o";
    let chat =
        |content: Value| json!({"model": m, "messages": [{"role": "user", "content": content}]});
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "text that starts like a data URL",
            CHAT,
            chat(
                json!([{"type": "text", "text": format!("data:image/png;base64,here is {sec} and {EMAIL} ")}]),
            ),
        ),
        (
            "metadata that starts like a data URL",
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": "hi"}], "metadata": {"n": format!("data:image/png;base64, {sec} ")}}),
        ),
        (
            "image URL that is text, not base64",
            CHAT,
            chat(
                json!([{"type": "image_url", "image_url": {"url": format!("data:image/png;base64, {sec} ")}}]),
            ),
        ),
        (
            "base64-looking detail of an image part",
            CHAT,
            chat(
                json!([{"type": "image_url", "image_url": {"url": "https://img.example.com/a.png", "detail": format!("{}\n{sec}\n{}", "A".repeat(300), "A".repeat(300))}}]),
            ),
        ),
        (
            "audio format padded with base64 letters",
            CHAT,
            chat(
                json!([{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": format!("{}\n{sec}\n", "A".repeat(300))}}]),
            ),
        ),
        (
            "a text file as base64",
            CHAT,
            chat(
                json!([{"type": "file", "file": {"filename": "notes.txt", "file_data": format!("data:text/plain;base64,{}", b64(&format!("key {sec}\n")))}}]),
            ),
        ),
        (
            "a secret labelled as an image",
            CHAT,
            chat(
                json!([{"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", b64(&format!(" {sec} ")))}}]),
            ),
        ),
        (
            "a secret labelled as an image inside text",
            CHAT,
            chat(json!(format!(
                "see data:image/png;base64,{} ok",
                b64(&format!(" {sec} "))
            ))),
        ),
        (
            "upper-case model id the policy lower-cases",
            CHAT,
            json!({"model": format!("OPENAI/{upper}"), "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "upper-case fallback model",
            CHAT,
            json!({"model": m, "models": [format!("OPENAI/{upper}")], "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "upper-case provider slug",
            CHAT,
            json!({"model": m, "provider": {"only": [upper.clone()]}, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "model variant",
            CHAT,
            json!({"model": format!("openai/gpt-4o:{sec}"), "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "e-mail in a model id",
            CHAT,
            json!({"model": format!("openai/{EMAIL}"), "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "escaped secret in arguments serde rejects",
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": format!("{{\"k\":\"{escaped}\",\"x\":1e999}}")}}]}]}),
        ),
        (
            "escaped secret in Responses arguments serde rejects",
            RESPONSES,
            json!({"model": m, "input": [{"type": "function_call", "call_id": "c1", "name": "f", "arguments": format!("{{\"k\":\"{escaped}\",\"x\":\"\\ud800\"}}")}]}),
        ),
        (
            "double-encoded arguments",
            CHAT,
            json!({"model": m, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": json!({"inner": json!({"k": "\u{1}"}).to_string().replace("\\u0001", &escaped)}).to_string()}}]}]}),
        ),
        (
            "zero-width space inside the e-mail",
            CHAT,
            chat(json!(format!(
                "mail {} now",
                EMAIL.replace("@", "\u{200B}@")
            ))),
        ),
        (
            "fullwidth at sign",
            CHAT,
            chat(json!(format!("mail {} now", EMAIL.replace('@', "＠")))),
        ),
        (
            "percent-encoded e-mail in a URL",
            CHAT,
            chat(
                json!([{"type": "image_url", "image_url": {"url": format!("https://img.example.com/a.png?u={}", EMAIL.replace('@', "%40"))}}]),
            ),
        ),
        (
            "soft hyphens inside the secret",
            CHAT,
            chat(json!(format!("key {} ", sec.replacen('-', "\u{AD}-", 2)))),
        ),
        (
            "percent-encoded e-mail beside an escape that is not UTF-8",
            CHAT,
            chat(json!(format!(
                "mail {} please %FF",
                EMAIL.replace('@', "%40")
            ))),
        ),
        (
            "percent-encoded secret beside an overlong escape",
            CHAT,
            chat(json!(format!("key {} %C0", sec.replace('-', "%2D")))),
        ),
        (
            "percent-encoded e-mail in a model id",
            CHAT,
            json!({"model": format!("openai/gpt-4o-{}", EMAIL.replace('@', "%40")), "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ];
    let encoded_email = EMAIL.replace('@', "%40");
    let encoded_secret = sec.replace('-', "%2D");
    for (name, path, body) in cases {
        let before = mock.count();
        let (status, err, _) = post(&gw, path, &body, &[]).await;
        let sent = mock.requests().split_off(before);
        let text = received(&sent);
        assert!(
            !text.contains(&sec)
                && !text.to_lowercase().contains(&sec)
                && !text.contains(EMAIL)
                && !text.contains(&encoded_email)
                && !text.contains(&encoded_secret),
            "{name}: the value reached the upstream ({status}): {text}"
        );
        if sent.is_empty() {
            assert!((400..500).contains(&status), "{name}: {status} {err}");
            let e = err.to_string().to_lowercase();
            assert!(
                !e.contains(&sec) && !e.contains(EMAIL),
                "{name}: the error repeats the value: {err}"
            );
        }
    }
    let audit = std::fs::read_dir(gw.audit_dir.path())
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .collect::<String>()
        .to_lowercase();
    assert!(
        !audit.contains(&sec)
            && !audit.contains(EMAIL)
            && !audit.contains(&encoded_email.to_lowercase())
            && !audit.contains(&encoded_secret.to_lowercase()),
        "a value reached the audit trail"
    );
}

/// An invisible character late in a value: the text as written holds only its head, which
/// the detectors still find, so counting values per type sees nothing hidden. Redacting
/// that head would forward the tail; the value as a reader sees it is rewritten whole
/// (over the invisible character) or refused, and none of it is forwarded.
#[tokio::test]
async fn an_invisible_character_late_in_a_value_leaves_none_of_it_behind() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let (head, tail) = ("Zq8xW3vN7pL2mK9rT4yB6cJ1hF5dG0sA", "Xe7Ui2Oo4Rt9");
    for (name, content, rest) in [
        (
            "assigned key",
            format!("config: api_key = {head}\u{200B}{tail}\n"),
            tail,
        ),
        (
            "soft hyphen in a password",
            format!("export DB_PASSWORD={head}\u{AD}{tail}\n"),
            tail,
        ),
        (
            "a name after its honorific",
            "Dear Mr. Jo\u{200B}hn Smith, thanks for the call.".to_owned(),
            "hn Smith",
        ),
    ] {
        let before = mock.count();
        let body =
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": content}]});
        let (status, err, _) = post(&gw, CHAT, &body, &[]).await;
        let text = received(&mock.requests().split_off(before));
        assert!(
            !text.contains(rest),
            "{name}: part of the value reached the upstream ({status} {err}): {text}"
        );
        assert!(matches!(status, 200 | 403), "{name}: {status} {err}");
    }
}

/// Characters a reader skips or reads as Latin: a control character inside a key, Cyrillic
/// and Greek letters drawn like Latin ones in a key's prefix or an address, mathematical
/// and circled letters. Each request is refused and nothing reaches the upstream; prose in
/// those scripts, and a tab or a line break, pass unchanged.
#[tokio::test]
async fn look_alike_letters_and_control_characters_do_not_hide_a_value() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let sec = secret();
    let (user, domain) = EMAIL.split_once('@').unwrap();
    // Latin letters replaced by the Cyrillic ones drawn the same (Unicode's confusables).
    let cyrillic = |s: &str| {
        s.chars()
            .map(|c| match c {
                'a' => 'а',
                'e' => 'е',
                'o' => 'о',
                'p' => 'р',
                'c' => 'с',
                's' => 'ѕ',
                'x' => 'х',
                other => other,
            })
            .collect::<String>()
    };
    let styled = |s: &str, base: u32| {
        s.chars()
            .map(|c| match c {
                'a'..='z' => char::from_u32(base + 26 + u32::from(c) - u32::from('a')).unwrap(),
                other => other,
            })
            .collect::<String>()
    };
    let cases = [
        ("NUL inside the key", sec.replacen("-v1-", "-v1-\u{0}", 1)),
        ("DEL inside the key", sec.replacen("-v1-", "-v1\u{7F}-", 1)),
        (
            "escape character inside the key",
            format!("{}\u{1B}{}", &sec[..20], &sec[20..]),
        ),
        (
            "C1 control inside the key",
            format!("{}\u{85}{}", &sec[..12], &sec[12..]),
        ),
        ("Cyrillic s in the key's prefix", sec.replacen('s', "ѕ", 1)),
        (
            "Cyrillic prefix",
            format!("{}{}", cyrillic("sk-or"), &sec[5..]),
        ),
        (
            "Greek omicron in the key's prefix",
            sec.replacen('o', "ο", 1),
        ),
        (
            "Cyrillic a in the address",
            format!("{}@{domain}", cyrillic(user)),
        ),
        ("every letter of the address Cyrillic", cyrillic(EMAIL)),
        (
            "mathematical bold prefix",
            format!("{}{}", styled("sk-or", 0x1D400), &sec[5..]),
        ),
        (
            "circled prefix",
            format!("{}{}", styled("sk", 0x24B6), &sec[2..]),
        ),
        (
            "a NEL between a look-alike and the rest",
            format!("{}\u{85}{}", "ѕ", &sec[1..]),
        ),
        (
            "tag characters",
            sec.chars()
                .map(|c| char::from_u32(0xE0000 + u32::from(c)).unwrap())
                .collect(),
        ),
        ("Cyrillic k", sec.replacen('k', "к", 1)),
        ("Kelvin sign", "A\u{212A}IAIOSFODNN7EXAMPLQ".to_owned()),
        (
            "an all-letter access key wholly in Cyrillic",
            "АКІАВСЕНКМОРТХАВСЕНМ".to_owned(),
        ),
        ("look-alikes inside a base64 data URL", {
            use base64::Engine as _;
            let inner = sec.replacen('s', "ѕ", 1);
            format!(
                "data:text/plain;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(inner)
            )
        }),
        (
            "SSN with Armenian hyphens",
            "SSN 536\u{58A}22\u{58A}1234".to_owned(),
        ),
        ("card in Adlam digits", "card 𞥔𞥕𞥓𞥒𞥐𞥑𞥕𞥑𞥑𞥒𞥘𞥓𞥐𞥓𞥖𞥖".to_owned()),
    ];
    assert_withheld(&gw, &mock, cases).await;
    let ordinary = [
        (
            "Russian prose",
            "Сорок пять рублей за кофе, спасибо! Заказ на 3 персоны.",
        ),
        ("Greek prose", "Καλημέρα σας, Ορέστη. Η ΑΘΗΝΑ είναι όμορφη."),
        (
            "a mixed word that holds no value",
            "Установите Windows-сервер и Exсel",
        ),
        ("tabs and line breaks", "a\tb\r\nc"),
        (
            "a document number in Cyrillic capitals",
            "Свидетельство АВ1234563 выдано в 2020 году.",
        ),
        ("Greek capitals", "Πιστοποιητικό ΑΒ1234563 εκδόθηκε."),
    ];
    assert_forwarded_unchanged(&gw, &mock, ordinary).await;
}

/// What a second black-box review got past the fold: every invisible and format
/// character (not only the common ones), combining marks of any script on a value, styled
/// letters and a fullwidth `＠` beside a look-alike, look-alikes and modifier forms the
/// first table lacked, and more scripts' digits. The characters are written here from
/// their code points, not taken from the fold's tables.
#[tokio::test]
async fn invisible_characters_marks_and_rarer_look_alikes_do_not_hide_a_value() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let sec = secret();
    let hex = &sec["sk-or-v1-".len()..];
    let at = |s: &str, i: usize, c: u32| {
        let c = char::from_u32(c).unwrap();
        format!("{}{c}{}", &s[..i], &s[i..])
    };
    // Each digit of `digits` written from the block whose zero is `zero`.
    let digits_in = |digits: &str, zero: u32| -> String {
        digits
            .chars()
            .map(|d| match d.to_digit(10) {
                Some(v) => char::from_u32(zero + v).unwrap(),
                None => d,
            })
            .collect()
    };
    let fullwidth = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(u32::from(c) + 0xFEE0).unwrap(),
                other => other,
            })
            .collect()
    };
    let card = "4532 0151 1283 0366";
    let aws = "AKIAIOSFODNN7EXAMPLQ";
    let cases = [
        ("left-to-right isolate in the key", at(&sec, 2, 0x2066)),
        ("pop directional isolate in the card", at(card, 9, 0x2069)),
        (
            "variation selector 17 in the address",
            at(EMAIL, 5, 0xE0100),
        ),
        ("unassigned tag-plane character", at(&sec, 6, 0xE0080)),
        (
            "musical formatting character in the access key",
            at(aws, 4, 0x1D173),
        ),
        ("hieroglyph format control", at(&sec, 3, 0x13430)),
        ("Arabic number sign inside the card", at(card, 5, 0x0600)),
        ("Cyrillic combining mark in the key", at(&sec, 2, 0x0483)),
        (
            "kana voicing mark in the SSN",
            at("SSN 536-22-1234", 9, 0x3099),
        ),
        ("Hebrew accent in the address", at(EMAIL, 3, 0x0591)),
        (
            "fullwidth key with one Cyrillic o",
            fullwidth(&sec).replacen('\u{FF4F}', "\u{043E}", 1),
        ),
        (
            "fullwidth at sign among look-alikes",
            "mail \u{0458}\u{043E}\u{0435}1984\u{FF20}\u{0445}\u{043E}.\u{0456}\u{043E}".to_owned(),
        ),
        (
            "small at sign among look-alikes",
            "mail \u{0458}\u{043E}\u{0435}1984\u{FE6B}\u{0445}\u{043E}.\u{0456}\u{043E}".to_owned(),
        ),
        (
            "Coptic small o in the prefix",
            sec.replacen('o', "\u{2C9F}", 1),
        ),
        (
            "Lisu L in the access key",
            "AKIA6\u{A4E1}3VFZ5ZFKKIBJ5J".to_owned(),
        ),
        (
            "superscript minus signs",
            format!("sk\u{207B}or\u{207B}v1\u{207B}{hex}"),
        ),
        (
            "parenthesised letters",
            format!("\u{24AE}\u{24A6}-or-v1-{hex}"),
        ),
        (
            "subscript p in a GitHub token",
            "gh\u{209A}_n0meq7WJjjIBAzupGhv7Ib3M03NBQNSgPwlU".to_owned(),
        ),
        (
            "double-circled digits",
            card.chars()
                .map(|d| match d.to_digit(10) {
                    Some(0) => '\u{24EA}',
                    Some(v) => char::from_u32(0x24F5 + v - 1).unwrap(),
                    None => d,
                })
                .collect(),
        ),
        (
            "Tai Tham digits",
            format!("card {}", digits_in(card, 0x1A90)),
        ),
        ("Kawi digits", format!("card {}", digits_in(card, 0x11F50))),
        (
            "Nag Mundari digits",
            format!("card {}", digits_in(card, 0x1E4F0)),
        ),
        (
            "tag commas between a card's groups",
            card.replace(' ', "\u{E002C}"),
        ),
        ("a tag space before the at sign", at(EMAIL, 13, 0xE0020)),
        (
            "small capitals in the key's prefix",
            format!("\u{A731}\u{1D0B}-or-v1-{hex}"),
        ),
        ("an access key in small capitals", "\u{1D00}\u{1D0B}\u{026A}\u{1D00}IOSFODNN7EXAMPLQ".to_owned()),
        ("a tag space inside the access key", at(aws, 4, 0xE0020)),
        (
            "an HTML-escaped key",
            sec.replace('-', "&#45;").replacen('s', "&#x73;", 1),
        ),
        ("an HTML-escaped address", EMAIL.replace('@', "&commat;")),
        ("fraction slashes between a card's groups", card.replace(' ', "\u{2044}")),
        (
            "a 1024-bit RSA key's body, without its header",
            "MIICXAIBAAKBgQCqGKukO1De7zhZj6+H0qtjTkVxwTCpvKe4eCZ0FPqri0cb2JZfXJ/DgYSF6vUp\n\
             wmJG8wVQZKjeGcjDOL5UlsuusFncCzWBQ7RKNUSesmQRMSGkVb1/3j+skZ6UtW+5u09lHNsj6tQ5\n"
                .to_owned(),
        ),
        (
            "a private key whose header is spelled in look-alikes",
            "-----\u{0412}\u{0415}\u{0262}\u{0399}\u{039D} \u{0280}\u{0405}\u{0391} \u{03A1}\u{0280}\u{0399}\u{13D9}\u{0391}\u{03A4}\u{0395} \u{039A}\u{0395}\u{03A5}-----\n\
             MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunV\n\
             TLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18g\n-----"
                .to_owned(),
        ),
    ];
    assert_withheld(&gw, &mock, cases).await;
    // Marks on their own script's letters, and Turkish dotless i: forwarded as written.
    let ordinary = [
        ("Hebrew with points", "\u{05E9}\u{05B8}\u{05C1}\u{05DC}\u{05D5}\u{05B9}\u{05DD} \u{05E2}\u{05D5}\u{05DC}\u{05DD}"),
        ("Hindi", "\u{0928}\u{092E}\u{0938}\u{094D}\u{0924}\u{0947} \u{0926}\u{0941}\u{0928}\u{093F}\u{092F}\u{093E}"),
        ("Japanese with voicing marks", "\u{304B}\u{3099}\u{304D}\u{3099} \u{30C6}\u{30B9}\u{30C8}"),
        ("Turkish", "Kap\u{0131}y\u{0131} kapat, l\u{00FC}tfen. S\u{0131}cak."),
        (
            "a Japanese price list typed in full width",
            "\u{308a}\u{3093}\u{3054}\u{ff20}\u{ff11}\u{ff12}\u{ff10}\u{5186}\u{ff0e}\u{307f}\u{304b}\u{3093}\u{ff20}\u{ff18}\u{ff10}\u{5186}",
        ),
        (
            "thanks to a name, in Chinese",
            "\u{611f}\u{8c22}@\u{5f20}\u{4e09}.\u{660e}\u{5929}\u{89c1}",
        ),
        ("a matrix product in code", "attn = (q@k.transpose(-2, -1)) * self.scale"),
        ("file names with an at sign", "Use hero@large.png, logo@dark.svg and data@v2.json"),
        ("a Kotlin data class", "data class User(val name: String, val age: Int)"),
        (
            "settings about a secret",
            "secretary: \"Mary Ann Evans-Cross\"\npassword_policy: \"min length 12, one symbol\"\nsecret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
        ),
        ("fish and chips", "fish & chips &c., R&D; a &lt; b"),
        ("Arabic with vowel marks", "\u{0645}\u{064E}\u{0631}\u{0652}\u{062D}\u{064E}\u{0628}\u{064B}\u{0627}"),
    ];
    assert_forwarded_unchanged(&gw, &mock, ordinary).await;
}

/// A value written the way its writer's script writes it (a phone number in full-width or
/// Arabic-Indic digits, an address in full-width letters) is redacted where it stands, like
/// its ASCII form: not refused as written to evade inspection. The text around it is kept.
#[tokio::test]
async fn values_in_other_digits_and_full_width_are_redacted_in_place() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    for (content, value, kept) in [
        (
            "\u{304A}\u{554F}\u{3044}\u{5408}\u{308F}\u{305B}\u{306F}\u{FF10}\u{FF13}\u{FF0D}\u{FF11}\u{FF12}\u{FF13}\u{FF14}\u{FF0D}\u{FF15}\u{FF16}\u{FF17}\u{FF18}\u{307E}\u{3067}",
            "\u{FF15}\u{FF16}\u{FF17}\u{FF18}",
            "\u{304A}\u{554F}\u{3044}\u{5408}\u{308F}\u{305B}\u{306F}",
        ),
        (
            "\u{0627}\u{062A}\u{0635}\u{0644} \u{0628}\u{064A} +\u{0669}\u{0667}\u{0661} \u{0665}\u{0660} \u{0661}\u{0662}\u{0663} \u{0664}\u{0665}\u{0666}\u{0667}",
            "\u{0664}\u{0665}\u{0666}\u{0667}",
            "\u{0627}\u{062A}\u{0635}\u{0644}",
        ),
        (
            "\u{30E1}\u{30FC}\u{30EB} \u{FF54}\u{FF41}\u{FF4E}\u{FF41}\u{FF4B}\u{FF41}\u{FF20}\u{FF45}\u{FF58}\u{FF41}\u{FF4D}\u{FF50}\u{FF4C}\u{FF45}\u{FF0E}\u{FF43}\u{FF4F}\u{FF0E}\u{FF4A}\u{FF50}",
            "\u{FF54}\u{FF41}\u{FF4E}\u{FF41}\u{FF4B}\u{FF41}",
            "\u{30E1}\u{30FC}\u{30EB}",
        ),
        // An escape elsewhere in the string does not take the value's place away.
        (
            "Tom &amp; Jerry: \u{FF4A}\u{FF41}\u{FF4E}\u{FF45}\u{FF20}example.com",
            "\u{FF4A}\u{FF41}\u{FF4E}\u{FF45}",
            "Tom &amp; Jerry",
        ),
        (
            "100%25 sure, tel \u{FF10}\u{FF13}\u{FF0D}\u{FF11}\u{FF12}\u{FF13}\u{FF14}\u{FF0D}\u{FF15}\u{FF16}\u{FF17}\u{FF18}",
            "\u{FF15}\u{FF16}\u{FF17}\u{FF18}",
            "100%25 sure",
        ),
    ] {
        let before = mock.count();
        let body =
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": content}]});
        let (status, err, _) = post(&gw, CHAT, &body, &[]).await;
        assert_eq!(status, 200, "{content}: {err}");
        let sent = mock.requests().split_off(before);
        let forwarded: Value = serde_json::from_slice(&sent[0].body).unwrap();
        let text = forwarded["messages"][0]["content"].as_str().unwrap();
        assert!(!text.contains(value), "{content}: forwarded {text}");
        assert!(text.contains(kept) && text.contains('['), "{content}: forwarded {text}");
    }
    // The same value once as written and once in an escape: the escaped one has no place,
    // and the request is refused.
    let before = mock.count();
    let content = "jane\u{FF20}example.com and jane%40example.com";
    let body =
        json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": content}]});
    let (status, err, _) = post(&gw, CHAT, &body, &[]).await;
    assert_eq!(status, 403, "{err}");
    assert_eq!(mock.count(), before);
}

/// Internationalised addresses (a local part or a domain outside ASCII) are addresses:
/// redacted like any other, whole, and not refused as written to evade inspection when
/// their letters include ones drawn like Latin letters (`андрей`: а, е).
#[tokio::test]
async fn internationalised_addresses_are_redacted_whole() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    for (address, local) in [
        ("\u{0430}\u{043D}\u{0434}\u{0440}\u{0435}\u{0439}@mail.ru", "\u{043D}\u{0434}"),
        ("\u{043F}\u{043E}\u{0447}\u{0442}\u{0430}@mail.ru", "\u{043F}\u{043E}\u{0447}"),
        (
            "\u{0438}\u{0432}\u{0430}\u{043D}@\u{043F}\u{0440}\u{0438}\u{043C}\u{0435}\u{0440}.\u{0440}\u{0444}",
            "\u{0438}\u{0432}",
        ),
        ("jos\u{00E9}@example.com", "jos"),
        ("m\u{00FC}ller@example.de", "ller"),
        (
            "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}@example.com",
            "\u{062E}\u{0648}",
        ),
        ("\u{30B8}\u{30E7}\u{30F3}\u{30FB}\u{30B9}\u{30DF}\u{30B9}@example.jp", "\u{30B8}\u{30E7}"),
        ("o\u{2019}brien@example.ie", "brien"),
        ("To:canary.person@example.org", "canary"),
        ("canary.person@example.org\u{3067}\u{3059}", "canary"),
        ("\u{8BF7}\u{53D1}\u{5230}canary.person@example.org\u{8C22}", "canary"),
        ("\u{0399}\u{03C9}\u{03AC}\u{03BD}\u{03BD}\u{03B7}\u{03C2}@example.gr", "\u{03BD}\u{03BD}"),
    ] {
        let before = mock.count();
        let content = format!("please write to {address} today");
        let body =
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": content}]});
        let (status, err, _) = post(&gw, CHAT, &body, &[]).await;
        assert_eq!(status, 200, "{address}: {err}");
        let sent = mock.requests().split_off(before);
        let forwarded: Value = serde_json::from_slice(&sent[0].body).unwrap();
        let text = forwarded["messages"][0]["content"].as_str().unwrap();
        assert!(
            !text.contains('@') && !text.contains(local),
            "{address}: forwarded {text:?}"
        );
    }
}

/// A key in base64 is the key: a Kubernetes Secret pasted into a chat, a Docker `auth`
/// (`user:key`), a connection string in the URL-safe alphabet, an env file wrapped as
/// `base64` prints it; so is a key broken over two lines. Each is refused or redacted
/// whole, nothing of its base64 reaches the upstream; a manifest whose base64 holds no
/// credential goes through unchanged.
#[tokio::test]
async fn keys_in_base64_never_reach_the_upstream() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let key = secret();
    // Under names that are not a credential's: a random-looking value assigned to
    // `API_KEY` or `auth` is a secret already, base64 or not.
    assert_withheld(
        &gw,
        &mock,
        [
            (
                "a Kubernetes Secret",
                format!(
                    "apiVersion: v1\nkind: Secret\ndata:\n  openrouter: {}\n",
                    STANDARD.encode(&key)
                ),
            ),
            (
                "a Docker login",
                format!(
                    "docker login left {} in config.json",
                    STANDARD.encode(format!("bot:{key}"))
                ),
            ),
            (
                "a database URL, URL-safe",
                URL_SAFE_NO_PAD.encode("postgresql://app:Xk9pW2mQ7rT4vB@db.internal:5432/app"),
            ),
            (
                "an env file, wrapped at 64 columns",
                STANDARD
                    .encode(format!(
                        "APP_NAME=demo\nLOG_LEVEL=info\nOPENROUTER_KEY={key}\n"
                    ))
                    .as_bytes()
                    .chunks(64)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            (
                "a key broken over two lines",
                format!("{}\n{}", &key[..30], &key[30..]),
            ),
        ],
    )
    .await;
    // Under a name that is not a credential's (under `API_KEY` any random-looking value is
    // one, base64 or not).
    let clean = format!(
        "kind: Secret\ndata:\n  ENDPOINT: {}\n",
        STANDARD.encode("https://api.example.com/v1/models")
    );
    assert_forwarded_unchanged(
        &gw,
        &mock,
        [(
            "base64 without a credential",
            &*Box::leak(clean.into_boxed_str()),
        )],
    )
    .await;
}

#[tokio::test]
async fn get_routes_inspect_their_query_and_headers() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let sec = secret();
    for (url, header) in [
        (format!("/v1/models?k={sec}"), None),
        (
            format!("/v1/models?note={}", EMAIL.replace('@', "%40")),
            None,
        ),
        (
            "/v1/models".to_owned(),
            Some(("x-session-id", EMAIL.to_owned())),
        ),
        (
            "/v1/models".to_owned(),
            Some(("accept", format!("application/json, {sec}"))),
        ),
        (format!("/api/v1/generation?id={sec}"), None),
        (
            "/api/v1/generation?id=gen-1".to_owned(),
            Some(("x-session-id", EMAIL.to_owned())),
        ),
    ] {
        let mut r = gw.client.get(gw.url(&url)).bearer_auth(PUBLIC_KEY);
        if let Some((k, v)) = &header {
            r = r.header(*k, v.as_str());
        }
        let response = r.send().await.unwrap();
        assert_eq!(response.status(), 403, "{url} {header:?}");
        let body = response.text().await.unwrap();
        assert!(!body.contains(&sec) && !body.contains(EMAIL), "{body}");
    }
    assert_eq!(mock.count(), 0, "nothing reached the upstream");
    let r = gw
        .client
        .get(gw.url("/v1/models?supported_parameters=tools"))
        .bearer_auth(PUBLIC_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "an ordinary query still passes");
}

#[test]
fn real_model_ids_and_provider_slugs_are_not_values() {
    // Routing fields refuse any detected value, so a detector firing on a real id would
    // make that model unusable. Ids from OpenRouter's catalogue and docs.
    let d = orguard::redact::Detectors::new(&[], &[]).unwrap();
    for id in [
        "openai/gpt-4o-2024-08-06",
        "openai/gpt-4o-mini-2024-07-18",
        "anthropic/claude-3.5-sonnet-20240620",
        "anthropic/claude-sonnet-4.5",
        "meta-llama/llama-3.1-405b-instruct",
        "meta-llama/llama-3.3-70b-instruct:free",
        "google/gemini-2.5-pro-preview-05-06",
        "mistralai/mistral-7b-instruct-v0.3",
        "deepseek/deepseek-r1-0528",
        "qwen/qwen-2.5-72b-instruct",
        "x-ai/grok-4",
        "nousresearch/hermes-3-llama-3.1-405b",
        "google-vertex/europe-west1",
        "amazon-bedrock",
        "deepinfra/turbo",
        "openai/priority",
        "together/fp8",
    ] {
        assert!(d.find(id).is_empty(), "{id}: {:?}", d.find(id));
    }
}

/// The check digit that makes `payload` Luhn-valid (ISO/IEC 7812-1, written here from the
/// standard, not taken from the gateway).
fn luhn_complete(payload: &str) -> String {
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    format!("{payload}{}", (10 - sum % 10) % 10)
}

/// Card numbers, SSNs and credentials in the forms people (and attackers) write them when a
/// scanner is in the way, each still plain to a reader: none may reach the upstream, in the
/// form written or as bare digits.
#[tokio::test]
async fn values_in_the_forms_people_write_them_never_reach_the_upstream() {
    use base64::Engine as _;
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let visa = luhn_complete("453201511283036");
    let mc = luhn_complete("522222000012345");
    let groups = |n: &str, sep: &str| {
        n.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(sep)
    };
    let arabic: String = visa
        .chars()
        .map(|c| char::from_u32(0x0660 + c.to_digit(10).unwrap()).unwrap())
        .collect();
    let b64u = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let jwt = format!(
        "{}.{}.{}",
        b64u("{ \"alg\": \"HS256\", \"typ\": \"JWT\" }"),
        b64u("{\n  \"sub\": \"40721553\",\n  \"iat\": 1716239022\n}"),
        b64u("0123456789abcdef0123456789abcdef")
    );
    let jwk_d = b64u("a private scalar of thirty-two by");
    let alnum = |n: usize, seed: u64| -> String {
        let a = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz";
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(a[((x >> 33) % 62) as usize])
            })
            .collect()
    };
    let hex = |n: usize, seed: u64| -> String {
        alnum(n * 3, seed)
            .bytes()
            .map(|b| char::from(b"0123456789abcdef"[usize::from(b % 16)]))
            .take(n)
            .collect()
    };
    // (what the test calls it, the content sent, the value that must not arrive)
    let mut cases: Vec<(&str, String, String)> = vec![
        (
            "card glued to a letter",
            format!("card x{visa} exp 04/29"),
            visa.clone(),
        ),
        (
            "card glued with an underscore",
            format!("pan_{mc} ok"),
            mc.clone(),
        ),
        (
            "card groups with dots",
            format!("card {}", groups(&visa, ".")),
            groups(&visa, "."),
        ),
        (
            "card groups with slashes",
            format!("card {}", groups(&mc, "/")),
            groups(&mc, "/"),
        ),
        (
            "card groups with underscores",
            format!("card {}", groups(&visa, "_")),
            groups(&visa, "_"),
        ),
        (
            "card groups on lines of their own",
            format!("card:\n{}\nthanks", groups(&mc, "\n")),
            groups(&mc, "\n"),
        ),
        (
            "card groups with tabs",
            format!("card {}", groups(&visa, "\t")),
            groups(&visa, "\t"),
        ),
        (
            "card groups with no-break spaces",
            format!("card {}", groups(&visa, "\u{A0}")),
            groups(&visa, "\u{A0}"),
        ),
        (
            "card groups with thin spaces",
            format!("card {}", groups(&mc, "\u{2009}")),
            groups(&mc, "\u{2009}"),
        ),
        (
            "card groups with ideographic spaces",
            format!("カード {}", groups(&visa, "\u{3000}")),
            groups(&visa, "\u{3000}"),
        ),
        (
            "card in Arabic-Indic digits",
            format!("card {arabic}"),
            arabic.clone(),
        ),
        (
            "card in a URL path",
            format!("see https://shop.example/pay/{visa} now"),
            visa.clone(),
        ),
        (
            "card with letters right after it",
            format!("{visa}exp1229"),
            visa.clone(),
        ),
        (
            "card groups with mixed separators",
            format!("{} {}-{}/{}", &mc[..4], &mc[4..8], &mc[8..12], &mc[12..]),
            mc.clone(),
        ),
        (
            "card groups mixing dots and slashes",
            format!(
                "card {}.{}/{}_{}",
                &visa[..4],
                &visa[4..8],
                &visa[8..12],
                &visa[12..]
            ),
            visa.clone(),
        ),
        (
            "card followed by its expiry and CVV",
            format!("My Visa is {} 12/29 123", groups(&visa, " ")),
            groups(&visa, " "),
        ),
        (
            "card after its expiry",
            format!("exp 12/29 {mc}"),
            mc.clone(),
        ),
        (
            "card before a note in parentheses",
            format!("card {visa} (3DS)"),
            visa.clone(),
        ),
        (
            "card between path segments",
            format!("/pay/{visa}/confirm"),
            visa.clone(),
        ),
        (
            "card before a colon",
            format!("My card: {visa}: exp 12/29"),
            visa.clone(),
        ),
        (
            "card after a plus sign",
            format!("pay with +{visa}"),
            visa.clone(),
        ),
        (
            "dashed SSN followed by a number",
            "My SSN is 536-22-1234 2 kids".to_owned(),
            "536-22-1234".to_owned(),
        ),
        (
            "dashed SSN between path segments",
            "https://hr.example.com/employees/536-22-1234/w2.pdf".to_owned(),
            "536-22-1234".to_owned(),
        ),
        (
            "dashed SSN in a file name",
            "attached file_536-22-1234.pdf".to_owned(),
            "536-22-1234".to_owned(),
        ),
        (
            "dotted SSN after its label",
            "my SSN is 536.22.1234".to_owned(),
            "536.22.1234".to_owned(),
        ),
        (
            "Google OAuth access token",
            format!("token ya29.{} ok", alnum(90, 1)),
            format!("ya29.{}", alnum(90, 1)),
        ),
        (
            "Grafana service-account token",
            format!("glsa_{}_{}", alnum(32, 2), hex(8, 3)),
            format!("glsa_{}_{}", alnum(32, 2), hex(8, 3)),
        ),
        (
            "New Relic user key",
            format!("NEW_RELIC_API_KEY=NRAK-{}", alnum(27, 4).to_uppercase()),
            format!("NRAK-{}", alnum(27, 4).to_uppercase()),
        ),
        (
            "Postman API key",
            format!("PMAK-{}-{}", hex(24, 5), hex(34, 6)),
            format!("PMAK-{}-{}", hex(24, 5), hex(34, 6)),
        ),
        (
            "bcrypt hash",
            format!("hash $2b$12${}", alnum(53, 7)),
            alnum(53, 7),
        ),
        (
            "SHA-512-crypt hash",
            format!("root:$6$saltsalt${}:19000:0:99999:7:::", alnum(86, 8)),
            alnum(86, 8),
        ),
        (
            "JWT with spaced JSON",
            format!("id_token: {jwt}"),
            jwt.clone(),
        ),
        (
            "JSON Web Key, members sorted",
            format!("{{\"crv\":\"P-256\",\"d\":\"{jwk_d}\",\"kty\":\"EC\",\"x\":\"abc\"}}"),
            jwk_d.clone(),
        ),
    ];
    cases.push((
        "JSON Web Key, kty first",
        format!("{{\"kty\": \"RSA\", \"n\": \"AQAB\", \"d\": \"{jwk_d}\"}}"),
        jwk_d.clone(),
    ));
    for (name, content, value) in &cases {
        let body =
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": content}]});
        let before = mock.count();
        let (status, err, _) = post(&gw, CHAT, &body, &[]).await;
        let sent = mock.requests().split_off(before);
        let text = received(&sent);
        let digits: String = value.chars().filter(char::is_ascii_digit).collect();
        assert!(
            !text.contains(value.as_str()) && (digits.len() < 9 || !text.contains(&digits)),
            "{name}: the value reached the upstream ({status}): {text}"
        );
        if sent.is_empty() {
            assert!((400..500).contains(&status), "{name}: {status} {err}");
            assert!(!err.to_string().contains(value.as_str()), "{name}: {err}");
        }
    }
    // Content the model reads as one text: parts that split a value between them, and a
    // base64 `data:` URL inside a message's text.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let sec = secret();
    let halves = groups(&visa, " ");
    let (first, second) = halves.split_at(9);
    for (name, content, value) in [
        (
            "card split between two text parts",
            json!([{"type": "text", "text": format!("my card is {first}")}, {"type": "text", "text": second}]),
            visa.clone(),
        ),
        (
            "secret split between three text parts",
            json!([{"type": "text", "text": format!("key {}", &sec[..12])}, {"type": "text", "text": &sec[12..30]}, {"type": "text", "text": format!("{} ok", &sec[30..])}]),
            sec.clone(),
        ),
        (
            "data URL inside a message's text",
            json!(format!(
                "decode this: data:text/plain;base64,{} thanks",
                b64(&format!("the key is {sec}"))
            )),
            sec.clone(),
        ),
        (
            "data URL in capitals, wrapped at 76 columns",
            json!(format!("DATA:TEXT/PLAIN;BASE64,{}", {
                let e = b64(&format!(
                    "notes: the key is {sec} and more text to wrap the payload over lines"
                ));
                e.as_bytes()
                    .chunks(76)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect::<Vec<_>>()
                    .join("\r\n")
            })),
            sec.clone(),
        ),
        (
            "percent-encoded data URL",
            json!(format!(
                "data%3Atext%2Fplain%3Bbase64%2C{}",
                b64(&format!("key {sec}")).replace('=', "%3D")
            )),
            sec.clone(),
        ),
        (
            "unpadded data URL inside a text part",
            json!([{"type": "text", "text": format!("data:text/plain;base64,{}", b64(&format!("card {visa}")).trim_end_matches('='))}]),
            visa.clone(),
        ),
    ] {
        let body =
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": content}]});
        refused_whole(&gw, &mock, name, &body, &value).await;
    }
    // Split between messages, and between a system prompt and a user's text part.
    for (name, messages) in [
        (
            "card split between two user turns",
            json!([{"role": "user", "content": format!("my card is {first}")}, {"role": "user", "content": second}]),
        ),
        (
            "card split on a group boundary, no space at the seam",
            json!([{"role": "user", "content": format!("my card is {}", first.trim_end())}, {"role": "user", "content": second.trim_start()}]),
        ),
        (
            "card split between the system prompt and a text part",
            json!([{"role": "system", "content": format!("card {first}")}, {"role": "user", "content": [{"type": "text", "text": second}]}]),
        ),
    ] {
        let body = json!({"model": "openai/gpt-4o", "messages": messages});
        refused_whole(&gw, &mock, name, &body, &visa).await;
    }
    // A value whole in its own message, followed by another message, is redacted there,
    // not refused as split (the scan reads the two as one domain).
    let body = json!({"model": "openai/gpt-4o", "messages": [{"role": "system", "content": EMAIL}, {"role": "user", "content": "Hello there"}]});
    let before = mock.count();
    let (status, err, _) = post(&gw, CHAT, &body, &[]).await;
    assert_eq!(status, 200, "{err}");
    assert!(!received(&mock.requests().split_off(before)).contains(EMAIL));
    // Parts that only sit side by side pass.
    let body = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": "total 4532"}, {"type": "text", "text": " items"}]}]});
    let (status, err, _) = post(&gw, CHAT, &body, &[]).await;
    assert_eq!(status, 200, "{err}");
    numbers_are_read_as_the_upstream_reads_them(&gw, &mock, &visa).await;
    things_that_only_look_like_values_pass(&gw, &mock, &visa, groups).await;
}

/// `body` is refused and nothing of it reaches the upstream; the error does not repeat
/// `value`.
async fn refused_whole(
    gw: &TestGateway,
    mock: &MockUpstream,
    name: &str,
    body: &Value,
    value: &str,
) {
    let before = mock.count();
    let (status, err, _) = post(gw, CHAT, body, &[]).await;
    let sent = mock.requests().split_off(before);
    assert!(
        sent.is_empty() && (400..500).contains(&status),
        "{name}: forwarded ({status}): {}",
        received(&sent)
    );
    assert!(!err.to_string().contains(value), "{name}: {err}");
}

/// Numbers written as floats or with an exponent reach the upstream as the integer they
/// are (`4532015112830366.0`): they are read as such.
async fn numbers_are_read_as_the_upstream_reads_them(
    gw: &TestGateway,
    mock: &MockUpstream,
    visa: &str,
) {
    for (name, key, number, digits) in [
        (
            "card as a float",
            "card",
            format!("{visa}.0"),
            visa.to_owned(),
        ),
        (
            "card with an exponent",
            "card",
            format!("{}.{}e15", &visa[..1], &visa[1..]),
            visa.to_owned(),
        ),
        (
            "SSN with an exponent",
            "ssn",
            "5.36221234e8".to_owned(),
            "536221234".to_owned(),
        ),
    ] {
        let raw = format!(
            "{{\"model\":\"openai/gpt-4o\",\"messages\":[{{\"role\":\"user\",\"content\":\"hi\"}}],\"x_patient\":{{\"{key}\":{number}}}}}"
        );
        let before = mock.count();
        let response = gw
            .client
            .post(gw.url(CHAT))
            .bearer_auth(PUBLIC_KEY)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let sent = mock.requests().split_off(before);
        assert!(
            !received(&sent).contains(&digits) && !received(&sent).contains(&digits[..9]),
            "{name}: the number reached the upstream ({status})"
        );
        assert!(sent.is_empty() && status == 403, "{name}: {status}");
    }
}

/// The same shapes that are not values still pass, unchanged: a build number, a table row
/// (no card word: a table, not a card split over columns), a date with dots, an ordinary
/// word that starts like a hash, an invoice number glued to its label.
async fn things_that_only_look_like_values_pass(
    gw: &TestGateway,
    mock: &MockUpstream,
    visa: &str,
    groups: impl Fn(&str, &str) -> String,
) {
    for content in [
        "deploy build 2024.0315.1042.7781 tonight".to_owned(),
        format!("sensor readings:\n{}", groups(visa, "\t")),
        format!("build {}", groups(visa, ".")),
        "meeting on 15.03.2024".to_owned(),
        "the cost factor of $2b$ hashes is 12".to_owned(),
        format!("see ticket INV{visa} for details"),
        "the next messages list readings".to_owned(),
    ] {
        let content = content.as_str();
        let body =
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": content}]});
        let before = mock.count();
        let (status, err, _) = post(gw, CHAT, &body, &[]).await;
        assert_eq!(status, 200, "{content}: {err}");
        let text = received(&mock.requests().split_off(before));
        let as_json = serde_json::to_string(content).unwrap();
        let escaped = as_json.trim_matches('"');
        assert!(text.contains(escaped), "{content} was changed: {text}");
    }
}

/// A body large enough to take a while to scan (a third of a megabyte of phone numbers,
/// each checked against its numbering plan) is scanned off the async worker: a small
/// request sent meanwhile is answered long before it, on a runtime of one worker thread
/// (as a one-core sidecar runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_large_scan_does_not_stall_other_requests() {
    let mock = MockUpstream::start().await;
    let toml = gateway_toml(&mock, "")
        .replace("max_body_bytes = 65536", "max_body_bytes = 1048576")
        .replace(
            "max_decompressed_bytes = 262144",
            "max_decompressed_bytes = 1048576",
        );
    let gw = std::sync::Arc::new(TestGateway::from_toml(&toml, Some(upstream_key())).await);
    let phones = "+44 20 7946 0958, ".repeat(20_000);
    let big = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": phones}]});
    let started = std::time::Instant::now();
    let big_gw = std::sync::Arc::clone(&gw);
    let big_request = tokio::spawn(async move { post(&big_gw, CHAT, &big, &[]).await });
    // Small requests one after another while the big one is read, scanned and sent: none
    // waits for its scan.
    let small =
        json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hello"}]});
    let mut slowest = Duration::ZERO;
    while !big_request.is_finished() {
        let asked = std::time::Instant::now();
        let (status, err, _) = post(&gw, CHAT, &small, &[]).await;
        assert_eq!(status, 200, "{err}");
        slowest = slowest.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (big_status, _, _) = big_request.await.unwrap();
    let big_took = started.elapsed();
    assert_eq!(big_status, 200);
    assert!(
        slowest * 4 < big_took,
        "a small request took {slowest:?}, the big one {big_took:?}"
    );
}

/// A secret held as a JSON string under a key that names it (`{"api_key": "…"}`) in
/// tool-call arguments, metadata or any data is read with its key, as `api_key = …` is
/// in text: refused where secrets are blocked, redacted where the class redacts them.
/// Values under names that hold counts, hints or placeholders go as written.
#[tokio::test]
async fn secrets_held_as_json_values_under_their_names_never_reach_the_upstream() {
    let mock = MockUpstream::start().await;
    // Built at run time: no secret-shaped literal in the tree.
    let api_key = sha256_hex("named value canary")[..32].to_owned();
    let password = format!("Summer{}!x", 2000 + 24);
    let args = json!({"city": "Paris", "password": password, "api_key": api_key}).to_string();
    let bodies = [
        (
            "chat tool-call arguments",
            json!({"model": "openai/gpt-4o", "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "f", "arguments": args}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "ok"}]}),
        ),
        (
            "metadata",
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "go"}],
                "metadata": {"city": "Paris", "api_key": api_key, "db": {"password": password}}}),
        ),
        (
            "responses function_call arguments",
            json!({"model": "openai/gpt-4o", "input": [
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": args}]}),
        ),
    ];
    let paths = [
        "/api/v1/chat/completions",
        "/api/v1/chat/completions",
        "/api/v1/responses",
    ];
    // Blocked (the default for SECRET): refused, nothing forwarded, the value not repeated.
    let gw = gateway(&mock, "").await;
    for ((name, body), path) in bodies.iter().zip(paths) {
        let before = mock.count();
        let (status, err, _) = post(&gw, path, body, &[]).await;
        assert_eq!(status, 403, "{name}: {err}");
        assert_eq!(err["error"]["code"], "secret_blocked", "{name}: {err}");
        assert_eq!(mock.count(), before, "{name}: forwarded");
        let e = err.to_string();
        assert!(
            !e.contains(&api_key) && !e.contains(&password),
            "{name}: {e}"
        );
    }
    // Redacted: forwarded without the values, everything else as sent.
    let gw = gateway(&mock, "redact_types = { SECRET = \"redact\" }\n").await;
    for ((name, body), path) in bodies.iter().zip(paths) {
        let before = mock.count();
        let (status, err, _) = post(&gw, path, body, &[]).await;
        assert_eq!(status, 200, "{name}: {err}");
        let forwarded = received(&mock.requests().split_off(before));
        assert!(!forwarded.contains(&api_key), "{name}: {forwarded}");
        assert!(!forwarded.contains(&password), "{name}: {forwarded}");
        assert!(forwarded.contains("Paris"), "{name}: {forwarded}");
        assert!(forwarded.contains("[SECRET]"), "{name}: {forwarded}");
    }
    // Wherever the key stands, however it is spelled, however long the value.
    let gw = gateway(&mock, "").await;
    let long = sha256_hex("long").repeat(9)[..520].to_owned();
    let sha1 = &sha256_hex("commit")[..40];
    let sha256 = sha256_hex("token");
    let fullwidth: String = password
        .chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
        .collect();
    let chat = |extra: Value| {
        let mut body =
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "go"}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let hidden = [
        (
            "zero-width space in the key",
            chat(json!({"metadata": {"pass\u{200b}word": password}})),
        ),
        (
            "soft hyphen in the key",
            chat(json!({"metadata": {"to\u{ad}ken": api_key}})),
        ),
        (
            "Cyrillic a in the key",
            chat(json!({"metadata": {"p\u{430}ssword": password}})),
        ),
        (
            "full-width key",
            chat(
                json!({"metadata": {"\u{ff21}\u{ff30}\u{ff29}\u{ff3f}\u{ff2b}\u{ff25}\u{ff39}": api_key}}),
            ),
        ),
        (
            "camelCase key",
            chat(json!({"metadata": {"clientSecret": api_key}})),
        ),
        (
            "full-width value",
            chat(json!({"metadata": {"password": fullwidth}})),
        ),
        (
            "520 characters",
            chat(json!({"metadata": {"api_key": long}})),
        ),
        ("unknown top-level field", chat(json!({"api_key": api_key}))),
        (
            "an Authorization value with its scheme",
            chat(json!({"metadata": {"Authorization": format!("Bearer {api_key}")}})),
        ),
        (
            "a Basic credential in a headers object",
            chat(
                json!({"metadata": {"headers": {"authorization": format!("Basic {}", &sha256[..40])}}}),
            ),
        ),
        (
            "a bearer key",
            chat(json!({"metadata": {"bearer": api_key}})),
        ),
        (
            "unknown field of a message",
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi", "password": password}]}),
        ),
        (
            "unknown field of a content part",
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user",
                "content": [{"type": "text", "text": "hi", "password": password}]}]}),
        ),
        (
            "unknown field of a tool call",
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "go"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                    "api_key": api_key, "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "ok"}]}),
        ),
    ];
    for (name, body) in &hidden {
        let before = mock.count();
        let (status, err, _) = post(&gw, "/api/v1/chat/completions", body, &[]).await;
        assert_eq!(status, 403, "{name}: {err}");
        assert_eq!(mock.count(), before, "{name}: forwarded");
    }
    // What data holds under such keys that is not the secret (a black-box review's list of
    // what ordinary tool calls carry) passes as sent.
    let plain = json!({
        "token_count": "123456789012345",
        "api_key": "<your-api-key>",
        "password_hint": "my first dog 2019!",
        "key": "user:1234:profile",
        "token_type": "bearer",
        "secret_name": "prod/db-credentials",
        "passwordPolicy": "Minimum 12 characters, one digit",
        "apiKeyId": "key_8f14e45fceea167a",
        "apiKeyName": "prod-backend-2024",
        "secretName": "prod/db/password-2024",
        "secretId": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
        "tokenExpiresAt": "2024-05-12T10:30:00Z",
        "s3_key": "uploads/2024/05/12/report-final-v3.pdf",
        "object_key": "tenant-42/invoices/2024-05/inv-000123.pdf",
        "credentials": "./service-account-2024.json",
        "authorization_endpoint": "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        "secret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
        "token": "2024-05-12T10:30:00Z",
        "password_last_changed": "2024-05-12T08:00:00Z",
        "client_secret": "The secret ingredient is love",
        "next_page_token": "CiAKGjBpNDd2Nmg3dW5zN2xxY2Y4cmtmZzBkOBIAGAE",
        "nextPageToken": "CiAKGjBpNDd2Nmg3dW5zN2xxY2Y4cmtmZzBkOBIAGAE",
        "continuation_token": "eyJvZmZzZXQiOjEwMCwicGFnZSI6Mn0",
        "sync_token": "CPDAlvWDx70CEPDAlvWDx70CGAU",
        "cache_key": sha1,
        "token_hash": sha256,
        "secret_hash": sha256,
        "publicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8xOUetsCa8EfOlDEBAfREhJqspDoyEh6Szz",
        "token_address": "0x6B175474E89094C44Da98b954EedeAC495271d0F",
        "auth_provider": "google-oauth2|108204268033311374519",
        "storage_key": "01HZX3K9M7QJ4N8V2B6C5D1E0F",
        "partition_key": "USER#8f14e45fceea167a5a36dedd4bea2543",
        "auth_scheme": "AWS4-HMAC-SHA256",
        "openai_api_key": "env:OPENAI_API_KEY",
    });
    // A third review's list.
    let more = json!({
        "password": "the one on the sticky note",
        "db_password": "ask staff",
        "password_instructions": "Use the one-time code sent to your phone",
        "authorizationStatus": "approved",
        "authorization": "admin:write",
        "auth": "sso-okta-prod",
        "auth_model": "claude-3-haiku-20240307",
        "token_model": "text-embedding-3-large",
        "auth_request": "AR-20250304-000817",
        "secret_ref": "projects/my-proj/secrets/api-key/versions/2",
        "secret_project": "acme-prod-4411",
        "secretGroup": "grp-payments-prod-eu-west-1",
        "secret_location": "src/config.ts:42",
        "config.existingSecret": "oauth2-proxy-creds",
        "token0": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
        "tokenRef": "ref_4f8a2c1e9b7d3f5a6c8e",
        "accessTokenRef": "atr_9F3kLm2Pq8Rs4Tv6Wx1Yz0Ab",
        "authenticationContextClassReference": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        "auth_state": "Zm9vYmFyYmF6cXV4cXV1eA",
    });
    let mut plain = plain;
    plain
        .as_object_mut()
        .unwrap()
        .extend(more.as_object().unwrap().clone());
    passes_as_sent(&gw, &mock, &plain).await;
}

/// A chat request whose `metadata` is `m`.
fn with_metadata(m: &Value) -> Value {
    json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "go"}],
        "metadata": m})
}

/// A chat request whose one tool call's arguments are `args`, as JSON text.
fn with_tool_call_args(args: &Value) -> Value {
    json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "f", "arguments": args.to_string()}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]})
}

/// A chat request whose tool result is `content`.
fn with_tool_result(content: String) -> Value {
    json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": content}]})
}

/// `plain` goes upstream exactly as sent, as metadata and as tool-call arguments.
async fn passes_as_sent(gw: &TestGateway, mock: &MockUpstream, plain: &Value) {
    let before = mock.count();
    for body in [with_metadata(plain), with_tool_call_args(plain)] {
        let (status, err, _) = post(gw, "/api/v1/chat/completions", &body, &[]).await;
        assert_eq!(status, 200, "{err}");
    }
    let sent = mock.requests().split_off(before);
    let forwarded: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(&forwarded["metadata"], plain);
    let forwarded: Value = serde_json::from_slice(&sent[1].body).unwrap();
    let args = forwarded["messages"][1]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap();
    assert_eq!(&serde_json::from_str::<Value>(args).unwrap(), plain);
}

/// Posts `body` and asserts that it was refused as a secret, that nothing reached the
/// upstream, and that the refusal repeats none of `secrets`.
async fn refused_unforwarded(
    gw: &TestGateway,
    mock: &MockUpstream,
    body: &Value,
    secrets: &[&str],
    what: &str,
) {
    let before = mock.count();
    let (status, err, _) = post(gw, "/api/v1/chat/completions", body, &[]).await;
    assert_eq!(status, 403, "{what}: {err}");
    assert_eq!(err["error"]["code"], "secret_blocked", "{what}: {err}");
    assert_eq!(mock.count(), before, "{what}: forwarded");
    let e = err.to_string();
    assert!(secrets.iter().all(|s| !e.contains(s)), "{what}: {e}");
}

/// A secret's name need not be the key right above it: a list or an object held under the
/// name, and a name/value pair (HTTP header lists, Kubernetes `env`, Postman variables),
/// name their values too, in data and in tool-call arguments alike. Pairs and lists of
/// ordinary values pass as sent.
#[tokio::test]
async fn secrets_named_by_a_list_an_object_or_a_name_value_pair_never_reach_the_upstream() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    // Built at run time: no secret-shaped literal in the tree.
    let api_key = sha256_hex("pair canary")[..32].to_owned();
    let password = format!("Winter{}#q", 1990 + 7);
    let shapes = [
        ("a list under the name", json!({"api_key": [api_key]})),
        (
            "an object's value under the name",
            json!({"password": {"value": password}}),
        ),
        (
            "a list of objects under the name",
            json!({"client_secret": [{"Value": api_key}]}),
        ),
        (
            "an HTTP header list",
            json!({"headers": [{"name": "Content-Type", "value": "application/json"},
                {"name": "X-API-Key", "value": api_key}]}),
        ),
        (
            "an Authorization header in a list",
            json!({"headers": [{"name": "Authorization", "value": format!("Bearer {api_key}")}]}),
        ),
        (
            "a Kubernetes env list",
            json!({"env": [{"name": "LOG_LEVEL", "value": "debug"},
                {"name": "DB_PASSWORD", "value": password}]}),
        ),
        (
            "a Postman variable",
            json!({"variable": [{"key": "accessToken", "value": api_key, "type": "string"}]}),
        ),
    ];
    for (name, shape) in &shapes {
        for (place, body) in [
            ("metadata", with_metadata(shape)),
            ("tool call", with_tool_call_args(shape)),
            ("tool result", with_tool_result(shape.to_string())),
            (
                "pretty tool result",
                with_tool_result(serde_json::to_string_pretty(shape).unwrap()),
            ),
            (
                "tool result in a fenced block after a label",
                with_tool_result(format!("Result:\n```json\n{shape}\n```\ndone")),
            ),
            (
                "tool result encoded twice",
                with_tool_result(Value::String(shape.to_string()).to_string()),
            ),
            (
                "tool result with space before its colons",
                with_tool_result(shape.to_string().replace("\":", "\" :")),
            ),
            (
                "tool result with line breaks before its colons",
                with_tool_result(shape.to_string().replace("\":", "\"\n\t:")),
            ),
        ] {
            let what = format!("{name} in {place}");
            refused_unforwarded(&gw, &mock, &body, &[&api_key, &password], &what).await;
        }
    }
    // A key written twice in a tool result: a reader may take either value, so both are
    // judged (parsed as data, the last one wins); ordinary repeated keys still pass.
    for text in [
        format!(r#"{{"name": "DB_PASSWORD", "value": "{password}", "value": "x"}}"#),
        format!(r#"[{{"name": "X-API-Key", "value": ["{api_key}"], "value": "none"}}]"#),
        format!(
            r#"{{"env": [{{"name": "DB_PASSWORD", "value": "{password}", "value": "a", "value": "b"}}]}}"#
        ),
    ] {
        let body = with_tool_result(text.clone());
        refused_unforwarded(&gw, &mock, &body, &[&api_key, &password], &text).await;
    }
    // Names given as a list are read together, as several name keys are.
    let listed = json!({"name": ["color", "DB_PASSWORD"], "value": password});
    for body in [
        with_metadata(&listed),
        with_tool_call_args(&listed),
        with_tool_result(listed.to_string()),
    ] {
        let what = listed.to_string();
        refused_unforwarded(&gw, &mock, &body, &[&password], &what).await;
    }
    let repeated =
        r#"{"name": "color", "value": "red", "value": "blue", "tags": [1], "tags": [2]}"#;
    let (status, err, _) = post(
        &gw,
        "/api/v1/chat/completions",
        &with_tool_result(repeated.to_owned()),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{err}");
    // Redacted, the value goes and the pair's name and its neighbours stay.
    let redacting = gateway(&mock, "redact_types = { SECRET = \"redact\" }\n").await;
    let before = mock.count();
    let (status, err, _) = post(
        &redacting,
        "/api/v1/chat/completions",
        &with_tool_call_args(&shapes[3].1),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{err}");
    let forwarded = received(&mock.requests().split_off(before));
    assert!(!forwarded.contains(&api_key), "{forwarded}");
    assert!(forwarded.contains("X-API-Key") && forwarded.contains("application/json"));
    assert!(forwarded.contains("[SECRET]"), "{forwarded}");
    // Pairs, lists and values of ordinary data pass as sent.
    let plain = json!({
        "Tags": [{"Key": "Environment", "Value": "production-eu-west-1"},
            {"Key": "CostCenter", "Value": "CC-2024-00417"}],
        "headers": [{"name": "Accept", "value": "application/json"},
            {"name": "X-Request-Id", "value": "req_8f14e45fceea167a5a36"},
            {"name": "Authorization", "value": "Bearer <token>"}],
        "env": [{"name": "PASSWORD_MIN_LENGTH", "value": "12"},
            {"name": "SECRET_NAME", "value": "prod/db-credentials"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
        "token_ids": ["tok_history_2024", "tok_previous_2023"],
        "api_keys": [{"id": "key_8f14e45fceea167a", "name": "prod-backend-2024", "created": "2024-05-12T10:30:00Z"}],
        "password": {"min_length": 12, "require_digit": true, "value": "<set me>"},
        "secrets": [{"name": "stripe-key", "value": "projects/acme/secrets/stripe-key/versions/3"}],
    });
    passes_as_sent(&gw, &mock, &plain).await;
    // And in a tool result, where the JSON is text: as sent.
    let before = mock.count();
    let text = serde_json::to_string_pretty(&plain).unwrap();
    let (status, err, _) = post(
        &gw,
        "/api/v1/chat/completions",
        &with_tool_result(text.clone()),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{err}");
    let sent = mock.requests().split_off(before);
    let forwarded: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(forwarded["messages"][2]["content"], text);
    // Redacted in a tool result: the value goes, the JSON around it stays as written.
    let before = mock.count();
    let (status, err, _) = post(
        &redacting,
        "/api/v1/chat/completions",
        &with_tool_result(shapes[5].1.to_string()),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{err}");
    let sent = mock.requests().split_off(before);
    let forwarded: Value = serde_json::from_slice(&sent[0].body).unwrap();
    let content = forwarded["messages"][2]["content"].as_str().unwrap();
    assert!(!content.contains(&password), "{content}");
    let read: Value = serde_json::from_str(content).unwrap();
    assert_eq!(read["env"][1]["value"], "[SECRET]", "{content}");
    assert_eq!(read["env"][0]["value"], "debug", "{content}");
    // Found by its pair, redacted wherever else the text holds it too.
    let before = mock.count();
    let mut env = shapes[5].1.clone();
    env["cmd"] = json!(format!("mysql -uapp -p{password} -h db"));
    let (status, err, _) = post(
        &redacting,
        "/api/v1/chat/completions",
        &with_tool_result(format!("Output: {env}")),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{err}");
    let forwarded = received(&mock.requests().split_off(before));
    assert!(!forwarded.contains(&password), "{forwarded}");
}

/// JSON in a tool result is read however it is written (prose around it, several
/// documents, cut off, comments, trailing commas, single quotes, escapes or numbers strict
/// JSON refuses) and however deep it is encoded in strings (a command's JSON output held in
/// a `stdout` member, a secret manager's `SecretString`, JSON encoded three times): a pair
/// or a name in it names its value as in data. The same shapes of ordinary data pass as sent.
#[tokio::test]
async fn json_in_a_tool_result_is_read_however_it_is_written_or_nested() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let api_key = sha256_hex("lenient canary")[..32].to_owned();
    let password = format!("Autumn{}#z", 1990 + 3);
    let pair = json!({"name": "DB_PASSWORD", "value": password});
    let header =
        json!([{"name": "Accept", "value": "*/*"}, {"name": "X-API-Key", "value": api_key}]);
    let once = |v: &Value| Value::String(v.to_string()).to_string();
    let texts = [
        ("JSON in a member's string", json!({"stdout": pair.to_string()}).to_string()),
        ("JSON in a string in a string", json!({"result": {"stdout": once(&header)}}).to_string()),
        ("encoded three times", Value::String(once(&pair)).to_string()),
        ("encoded twice with line breaks before its colons", once(&pair).replace("\\\":", "\\\"\\n:")),
        ("escaped in a log line", format!("payload={}", once(&header).trim_matches('"'))),
        (
            "a secret manager's SecretString",
            json!({"Name": "prod/db", "SecretString": json!({"username": "app", "password": password}).to_string()}).to_string(),
        ),
        ("after a log level", format!("[INFO] {pair}")),
        ("before a brace in prose", format!("Result: {header} (took {{3}} ms)")),
        ("cut off", pair.to_string().trim_end_matches('}').to_owned()),
        ("with an invalid escape", format!(r#"{{"path": "C:\windows", "name": "DB_PASSWORD", "value": "{password}"}}"#)),
        ("with a lone surrogate", format!(r#"{{"note": "\ud800", "name": "DB_PASSWORD", "value": "{password}"}}"#)),
        ("with a number out of range", format!(r#"{{"n": 1e400, "name": "DB_PASSWORD", "value": "{password}"}}"#)),
        ("with a raw tab", format!("{{\"note\": \"a\tb\", \"name\": \"DB_PASSWORD\", \"value\": \"{password}\"}}")),
        ("with comments and a trailing comma", format!("{{ // the database\n \"name\": \"DB_PASSWORD\", /* prod */ \"value\": \"{password}\", }}")),
        ("in Python's repr", format!("{{'name': 'X-API-Key', 'value': '{api_key}'}}")),
        ("as one document per line", format!("{{\"a\": 1}}\n{pair}\n{{\"b\": 2}}")),
    ];
    for (what, text) in &texts {
        let body = with_tool_result(text.clone());
        refused_unforwarded(&gw, &mock, &body, &[&api_key, &password], what).await;
    }
    // A member's string that holds JSON is read in data too.
    let body = with_metadata(&json!({"stdout": pair.to_string()}));
    refused_unforwarded(
        &gw,
        &mock,
        &body,
        &[&password],
        "JSON in a string in metadata",
    )
    .await;
    // Ordinary data written the same ways passes as sent.
    let plain = json!({"name": "color", "value": "red"});
    for text in [
        format!("[INFO] {plain} (took {{3}} ms)"),
        json!({"stdout": once(&plain)}).to_string(),
        "{'name': 'LOG_LEVEL', 'value': 'debug', } // done".to_owned(),
        plain.to_string().trim_end_matches('}').to_owned(),
    ] {
        let before = mock.count();
        let (status, err, _) = post(
            &gw,
            "/api/v1/chat/completions",
            &with_tool_result(text.clone()),
            &[],
        )
        .await;
        assert_eq!(status, 200, "{text}: {err}");
        let sent = mock.requests().split_off(before);
        let forwarded: Value = serde_json::from_slice(&sent[0].body).unwrap();
        assert_eq!(forwarded["messages"][2]["content"], text);
    }
}

/// The shapes that name a value without a secret-naming key above it, as the exports and
/// APIs people paste write them: a pair with many members between its name and its value,
/// a value that is an object or a list of them, plural `values`, pair keys written with
/// look-alike letters or a stray space, a name written twice in tool-call arguments,
/// password managers' and identity servers' field records, parameter exports, and
/// "password" in more languages. In metadata, tool-call arguments and a tool result alike;
/// ordinary records of the same shapes pass as sent.
#[tokio::test]
async fn values_named_by_records_and_look_alike_keys_never_reach_the_upstream() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let api_key = sha256_hex("record canary")[..32].to_owned();
    let password = format!("Spring{}#k", 1990 + 4);
    let mut padded = serde_json::Map::new();
    padded.insert("name".into(), json!("DB_PASSWORD"));
    for i in 0..10 {
        padded.insert(format!("note{i}"), json!("plain"));
    }
    padded.insert("value".into(), json!(password));
    let shapes = [
        (
            "ten members between a name and its value",
            Value::Object(padded),
        ),
        (
            "an object as a pair's value",
            json!({"name": "DB_PASSWORD", "value": {"primary": password}}),
        ),
        (
            "objects in a list as a pair's value",
            json!({"name": "X-API-Key", "value": [{"current": "no", "secondary": api_key}]}),
        ),
        (
            "a plural values list",
            json!({"name": "DB_PASSWORD", "values": [password]}),
        ),
        (
            "a value key with a Cyrillic letter",
            json!({"name": "DB_PASSWORD", "v\u{0430}lue": password}),
        ),
        (
            "a fullwidth name key",
            json!({"\u{ff4e}\u{ff41}\u{ff4d}\u{ff45}": "DB_PASSWORD", "value": password}),
        ),
        (
            "a name key with a zero-width space",
            json!({"na\u{200b}me": "DB_PASSWORD", "value": password}),
        ),
        (
            "a value key with a trailing space",
            json!({"name": "DB_PASSWORD", "value ": password}),
        ),
        (
            "a 1Password field",
            json!({"id": "password", "type": "CONCEALED", "purpose": "PASSWORD", "label": "password", "value": password}),
        ),
        (
            "a Bitwarden custom field",
            json!({"name": "API key", "value": api_key, "type": 0}),
        ),
        (
            "a Keycloak credential",
            json!({"type": "password", "value": password, "temporary": false}),
        ),
        (
            "a parameter export",
            json!({"paramName": "db_password", "paramValue": password}),
        ),
        (
            "a field and its data",
            json!({"field": "api_token", "data": api_key}),
        ),
        (
            "a titled record",
            json!({"title": "Stripe secret", "content": api_key}),
        ),
        (
            "an env and its string value",
            json!({"env": "DB_PASSWORD", "stringValue": password}),
        ),
        (
            "a secret name and its initial value",
            json!({"secretName": "prod_api_key", "initialValue": api_key}),
        ),
        (
            "terraform output",
            json!({"db_password": {"sensitive": true, "type": "string", "value": password}}),
        ),
        (
            "terraform output of a map",
            json!({"db_passwords": {"sensitive": true, "type": ["map", "string"], "value": {"primary": api_key}}}),
        ),
        (
            "a named object under a secret's name",
            json!({"api_key": {"name": "prod", "value": api_key}}),
        ),
        (
            "a header list under a key with a neutral word",
            json!({"request_headers": [{"name": "X-API-Key", "value": api_key}]}),
        ),
        (
            "a kind and its value",
            json!({"kind": "password", "value": password}),
        ),
        (
            "a property and its value",
            json!({"property": "db.password", "value": password}),
        ),
        ("Italian", json!({"parola": password})),
        ("Turkish without its cedilla", json!({"sifre": password})),
        ("Hungarian", json!({"jelszo": password})),
        (
            "Danish",
            json!({"adgangskode": password, "kodeord": password}),
        ),
        ("Estonian", json!({"parool": password})),
        ("Croatian", json!({"lozinka": password})),
        ("Slovene", json!({"geslo": password})),
        (
            "keytool's passwords",
            json!({"storepass": password, "keypass": password, "keystore_pass": password}),
        ),
    ];
    for (name, shape) in &shapes {
        for (place, body) in [
            ("metadata", with_metadata(shape)),
            ("tool call", with_tool_call_args(shape)),
            ("tool result", with_tool_result(shape.to_string())),
        ] {
            let what = format!("{name} in {place}");
            refused_unforwarded(&gw, &mock, &body, &[&api_key, &password], &what).await;
        }
    }
    // A name written twice in tool-call arguments: parsed, the last would name the value.
    let args = format!(r#"{{"name": "DB_PASSWORD", "name": "x", "value": "{password}"}}"#);
    let body = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "f", "arguments": args}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]});
    refused_unforwarded(&gw, &mock, &body, &[&password], "a name written twice").await;
    // Ordinary records of the same shapes.
    let plain = json!({
        "articles": [{"title": "How to rotate an API token", "content": "Open the console and choose Rotate."}],
        "parts": [{"type": "text", "text": "hello world"}],
        "form": [{"label": "Password", "text": "Enter your password"},
            {"id": "username", "type": "STRING", "label": "username", "value": "alice"}],
        "settings": [{"name": "LOG_LEVEL", "value": {"level": "debug", "sampled": "yes"}},
            {"paramName": "timeout", "paramValue": "30"},
            {"name": "PASSWORD_MIN_LENGTH", "values": ["12", "16"]}],
        "credential": {"type": "password", "temporary": false, "value": "<set on first login>"},
    });
    passes_as_sent(&gw, &mock, &plain).await;
}

/// JSON read in text (a tool result, a pasted config) is judged as the same JSON parsed
/// from a tool call is: the key names the value, with the same exceptions for cursors, ids,
/// accounts and the like; a secret found is redacted to its end however long it is, and a
/// generated password's `(`, `[`, `<` or `>` does not make it look like code or a
/// placeholder. From a black-box review: 37 % of tool results carrying ordinary JSON were
/// refused, and a 4,268-character secret in text went upstream past its first 512 bytes.
#[tokio::test]
async fn json_in_text_is_judged_as_parsed_json_is() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    // Ordinary API answers: pass as sent, as text and as data.
    let plain = json!({
        "sync_token": "CPDAlvWDx70CEPDAlvWDx70CGAU=",
        "next_page_token": "CiAKGjBpNDd2Nmg3dW5zN2xxY2Y4cmtmZzBkOBIAGAE",
        "pagination_token": "eyJvZmZzZXQiOjEwMCwicGFnZSI6Mn0=",
        "token_account": "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU",
        "token_mint": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEG7b5ZBYpnB1",
        "token_hash": sha256_hex("hash"),
        "authorization_id": "4X927461LM1234567",
        "api_key_fingerprint": "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
        "password_expires_at": "2025-08-10T05:47:00Z",
        "grant_types": ["authorization_code", "refresh_token"],
        "api_key_header": "Authorization",
        "api_key_env": "OPENAI_API_KEY",
        "idempotency_key": "5f0c6a8e-6c2b-4a55-9d3e-0a9e3f2b7c11",
        "object_key": "tenant-42/invoices/2024-05/inv-000123.pdf",
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=RFNwdAIAAQAAABg6",
    });
    let before = mock.count();
    for body in [
        with_tool_result(plain.to_string()),
        with_tool_result(serde_json::to_string_pretty(&plain).unwrap()),
        with_metadata(&plain),
    ] {
        let (status, err, _) = post(&gw, "/api/v1/chat/completions", &body, &[]).await;
        assert_eq!(status, 200, "{err}");
    }
    let sent = mock.requests().split_off(before);
    let forwarded: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(forwarded["messages"][2]["content"], plain.to_string());
    let forwarded: Value = serde_json::from_slice(&sent[2].body).unwrap();
    assert_eq!(forwarded["metadata"], plain);
    // Secrets: refused wherever the JSON is, whatever symbols they hold.
    let hex = sha256_hex("json in text");
    let secrets = [
        ("encryption_key", hex[..44].to_owned()),
        ("webhookSigningKey", hex.clone()),
        ("ocp-apim-subscription-key", hex[..32].to_owned()),
        ("client_secret", format!("Xa{}!(hUn8+Bb$eroa", &hex[..4])),
        ("refresh_token", format!("UC6>9i}}Snm{}>?WG>*[V", &hex[..6])),
        ("api_key", format!("[sTU&}}]0z{}[&F[", &hex[..6])),
        ("jwtSecret", format!("?pZDH602VUu%S${}", &hex[..6])),
        ("geheimnis", hex[..28].to_owned()),
        ("clave_api", hex[..28].to_owned()),
        ("chiave_segreta", hex[..28].to_owned()),
        ("jeton_d_acces", hex[..28].to_owned()),
    ];
    for (key, value) in &secrets {
        let member = json!({"endpoint": "https://api.example.com", key.to_string(): value});
        for (place, body) in [
            ("tool result", with_tool_result(member.to_string())),
            ("metadata", with_metadata(&member)),
        ] {
            let before = mock.count();
            let (status, err, _) = post(&gw, "/api/v1/chat/completions", &body, &[]).await;
            assert_eq!(status, 403, "{key} in {place}: {err}");
            assert_eq!(mock.count(), before, "{key} in {place}: forwarded");
        }
    }
    // In other scripts, as keys of data.
    for key in [
        "токен",
        "Секрет",
        "トークン",
        "访问令牌",
        "密钥",
        "토큰",
        "clé_secrète",
    ] {
        let body = with_metadata(&json!({key: &hex[..28]}));
        let (status, err, _) = post(&gw, "/api/v1/chat/completions", &body, &[]).await;
        assert_eq!(status, 403, "{key}: {err}");
    }
    // Long secrets are redacted whole: in text past 512 bytes, in data past 4,096.
    let redacting = gateway(&mock, "redact_types = { SECRET = \"redact\" }\n").await;
    let long = (0..80)
        .map(|i| sha256_hex(&i.to_string()))
        .collect::<String>();
    let long = &long[..4300];
    for body in [
        with_tool_result(format!("session_token={long}")),
        with_tool_result(json!({"session_token": long}).to_string()),
        with_metadata(&json!({"session_token": long})),
    ] {
        let before = mock.count();
        let (status, err, _) = post(&redacting, "/api/v1/chat/completions", &body, &[]).await;
        assert_eq!(status, 200, "{err}");
        let forwarded = received(&mock.requests().split_off(before));
        assert!(forwarded.contains("[SECRET]"), "{forwarded}");
        assert!(!forwarded.contains(&long[600..640]), "a tail went upstream");
        assert!(
            !forwarded.contains(&long[4200..4240]),
            "a tail went upstream"
        );
    }
}

/// What a fifth black-box review slipped past the named-secret rules, each refused now:
/// escapes and line breaks inside JSON in text, words and padding after the secret, a
/// password that contains a placeholder word, unusual value keys and pair shapes, a key
/// in mixed case, a secret wrapped as a call or in angle brackets. Code and placeholders
/// still pass, and a secret held as an object key is not repeated in the refusal.
#[tokio::test]
async fn secrets_disguised_as_escapes_padding_code_or_pairs_are_refused() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let s = format!("Qx{}", &sha256_hex("disguise")[..22]);
    let refused = [
        (
            "an escape before it",
            with_tool_result(format!(r#"{{"password": "a\"{s}"}}"#)),
        ),
        (
            "a line break after the colon",
            with_tool_result(format!("{{\"password\":\n  \"{s}\"}}")),
        ),
        (
            "a line break before the colon",
            with_tool_result(format!("{{\"password\"\n: \"{s}\"}}")),
        ),
        (
            "words after it",
            with_metadata(&json!({"password": format!("{s} and a note")})),
        ),
        (
            "a placeholder word inside",
            with_tool_result("password = Somewhere#4821".into()),
        ),
        (
            "a raw value",
            with_metadata(&json!({"secrets": {"DB_PASSWORD": {"raw": s}}})),
        ),
        ("pw", with_metadata(&json!({"pw": s}))),
        (
            "a pair's object value",
            with_metadata(&json!({"name": "api_token", "value": {"plaintext": s}})),
        ),
        (
            "a pair with two names",
            with_metadata(&json!({"key": "api_key", "name": "x", "value": s})),
        ),
        (
            "a CloudFormation parameter",
            with_metadata(
                &json!({"Parameters": [{"ParameterKey": "DBPassword", "ParameterValue": s}]}),
            ),
        ),
        ("mixed case", with_metadata(&json!({"PaSsWoRd": s}))),
        (
            "a call around it",
            with_metadata(&json!({"password": format!("f({s})")})),
        ),
        (
            "an index around it",
            with_metadata(&json!({"password": format!("x[{s}]")})),
        ),
        (
            "angle brackets around it",
            with_metadata(&json!({"password": format!("<{s}>")})),
        ),
    ];
    for (name, body) in &refused {
        let before = mock.count();
        let (status, err, _) = post(&gw, "/api/v1/chat/completions", body, &[]).await;
        assert_eq!(status, 403, "{name}: {err}");
        assert_eq!(mock.count(), before, "{name}: forwarded");
    }
    // Padded past 64 KB of judged value (the body limit raised to hold it).
    let roomy = TestGateway::from_toml(
        &gateway_toml(&mock, "").replace("max_body_bytes = 65536", "max_body_bytes = 262144"),
        Some(upstream_key()),
    )
    .await;
    let body = with_metadata(&json!({"password": format!("{s}\n{}", "#".repeat(70_000))}));
    let before = mock.count();
    let (status, err, _) = post(&roomy, "/api/v1/chat/completions", &body, &[]).await;
    assert_eq!(status, 403, "padding: {err}");
    assert_eq!(mock.count(), before, "padding: forwarded");
    // Redacted, nothing after the escape is left.
    let redacting = gateway(&mock, "redact_types = { SECRET = \"redact\" }\n").await;
    let before = mock.count();
    let body = with_tool_result(format!(r#"{{"password": "abcdEFGH12\"{s}"}}"#));
    let (status, err, _) = post(&redacting, "/api/v1/chat/completions", &body, &[]).await;
    assert_eq!(status, 200, "{err}");
    let forwarded = received(&mock.requests().split_off(before));
    assert!(!forwarded.contains(&s[4..]), "{forwarded}");
    // A secret held as an object key cannot be redacted: refused, and not named in the
    // refusal even when it looks like a field name.
    let letters: String = sha256_hex("letters")
        .bytes()
        .map(|c| char::from(b'A' + c % 26))
        .collect();
    let key = format!("xoxb-{}", &letters[..20]);
    let (status, err, _) = post(
        &redacting,
        "/api/v1/chat/completions",
        &with_metadata(&json!({key.clone(): "1"})),
        &[],
    )
    .await;
    assert_eq!(status, 403, "{err}");
    assert!(!err.to_string().contains(&key[5..]), "{err}");
    // Code and placeholders under a password's name still pass.
    let plain = json!({
        "password": "getpass()",
        "db_password": "os.getenv(\"DB_PASSWORD\")",
        "api_key": "<your-api-key>",
        "secret": "config[\"db\"][\"password\"]",
        "token": "<YOUR_TOKEN_HERE>",
        // Named like pairs and mixed-case keys, but not: a sealed GitHub secret and the
        // name of a header.
        "repo_secret": {"secret_name": "DEPLOY_TOKEN", "key_id": "568250167242549743",
            "encrypted_value": "dUDO1eCPNNYMUWQSbXFsaowf7aHQvDiR1bCivIDemrQ+UBjh4+GK2QXrMAHj3YDX"},
        "apiKeyHeader": "X-Auth-Token",
    });
    passes_as_sent(&gw, &mock, &plain).await;
}

/// Code that assigns a call, an index or a method chain to a secret's name, and the marks
/// tools print for a value they withhold, are not secrets: a coding agent reading an
/// authentication module, a Terraform plan or a Rails log is not refused. A real value
/// beside them still is.
#[tokio::test]
async fn code_and_withheld_value_marks_are_not_secrets() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "").await;
    let lines = [
        "password = getpass.getpass(\"Password: \")",
        "password = getpass()",
        "password = request.form[\"password\"]",
        "password = hash_password(raw_password)",
        "hashed_password = bcrypt.hashpw(password.encode(), bcrypt.gensalt())",
        "const token = localStorage.getItem('token');",
        "const password = document.getElementById('password').value;",
        "password = params[:password]",
        "token: Optional[str] = None",
        "auth = HTTPBasicAuth(username, password)",
        "credential = DefaultAzureCredential()",
        "password = PasswordField('Password', validators=[DataRequired()])",
        "authToken = useSelector(state => state.auth.token)",
        "password: Yup.string().min(8, 'Too short').required('Required'),",
        "secret = base64.b64decode(encoded_secret)",
        "  ~ password = (sensitive value)",
        "\"password\"=>\"[FILTERED]\"",
        "encrypted_password: [FILTERED]",
        "{\"password\": \"(hidden)\"}",
        "Accepted publickey for git port 22 ssh2: auth=publickey",
    ];
    let more = [
        "token = tokenizer.encode(\"Hello world 123\")",
        "api_key = settings.get(\"OPENAI_API_KEY\", \"\")",
        "password = os.environ.get(\"DB_PASSWORD\")",
        "password: str = Field(..., min_length=8)",
        "$password = $request->input(\"password\");",
        "password = user&.password",
        "password = String::from_utf8(buf)?;",
        "{\"db_password\": {\"sensitive\": true, \"type\": \"string\", \"value\": \"(sensitive value)\"}}",
    ];
    for line in lines.iter().chain(&more) {
        let line = *line;
        let before = mock.count();
        let body = with_tool_result(line.to_owned());
        let (status, err, _) = post(&gw, "/api/v1/chat/completions", &body, &[]).await;
        assert_eq!(status, 200, "{line}: {err}");
        let sent = mock.requests().split_off(before);
        let forwarded: Value = serde_json::from_slice(&sent[0].body).unwrap();
        assert_eq!(forwarded["messages"][2]["content"], line);
    }
    let password = format!("Winter{}#q", 1990 + 11);
    for line in [
        format!("password = {password}"),
        format!("password = ({password})"),
        format!("password = \"{password}\"  # getpass()"),
        format!("auth = {password}x9"),
        format!("password = hash_password(\"{password}\")"),
        format!("password = getpass() or \"{password}\""),
        format!("PASSWORD = os.environ.get(\"DB_PASSWORD\", default=\"{password}\")"),
        format!("  ~ password = (sensitive value) -> \"{password}\""),
        format!("    password: str = \"{password}\""),
        format!("const password = process.env.DB_PASSWORD || \"{password}\";"),
        // Generated passwords holding what ends an unquoted value in prose and code.
        "DB_PASSWORD=GuF]DenLhi6X".to_owned(),
        "password: 4u,W!(hUn8x".to_owned(),
        "DB_PASSWORD=T)pb6f~{@Qa9".to_owned(),
        // Shaped like a call, but no code holds `}`, `@` or `*` between its brackets.
        "password = \"J(dxte}7=Xa@hxi)\"".to_owned(),
        "password: ?MO(TQ*O.[}PQIG)".to_owned(),
    ] {
        let body = with_tool_result(line.clone());
        refused_unforwarded(&gw, &mock, &body, &[&password], &line).await;
    }
}
