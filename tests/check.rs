//! `orguard check` against the mock upstream in good and bad states, with exit codes.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use common::process::command;
use common::{sha256_hex, upstream_key, MockUpstream, Reply};
use serde_json::{json, Value};

struct Setup {
    mock: MockUpstream,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let toml = format!(
        "[upstream]\nbase_url = \"{}\"\nallow_insecure_http = true\n\n[audit]\ndir = \"{}\"\n\n[classes.internal]\nmodels = [\"openai/gpt-4o\", \"anthropic/*\"]\n\n[[keys]]\nid = \"svc-1\"\nservice = \"svc\"\nsha256 = \"{}\"\ncreated = \"{}\"\nexpires = \"{}\"\n",
        mock.base_url(),
        dir.path().join("audit").display(),
        sha256_hex("ogk_check_test_key"),
        fmt(now - time::Duration::days(3)),
        fmt(now + time::Duration::days(80)),
    );
    std::fs::write(dir.path().join("orguard.toml"), toml).unwrap();
    Setup { mock, dir }
}

fn key_reply(limit: Value, remaining: Value) -> Reply {
    Reply::ok(
        json!({"data": {"label": "gw", "limit": limit, "usage": 1.0, "limit_remaining": remaining, "is_free_tier": false}}),
    )
}

fn models_reply(ids: &[&str]) -> Reply {
    Reply::ok(json!({"data": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()}))
}

async fn check(s: &Setup, extra: &[&str]) -> (i32, String) {
    let mut cmd = command();
    cmd.env("OPENROUTER_API_KEY", upstream_key())
        .arg("--config")
        .arg(s.dir.path().join("orguard.toml"))
        .arg("check")
        .args(extra);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn line<'a>(text: &'a str, check: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(check))
        .unwrap_or_else(|| panic!("no {check} line in:\n{text}"))
}

#[tokio::test]
async fn a_healthy_setup_passes() {
    let s = setup().await;
    s.mock.push(key_reply(json!(100.0), json!(60.0)));
    s.mock.push(models_reply(&[
        "openai/gpt-4o",
        "anthropic/claude-3.5-sonnet",
    ]));
    s.mock.push(Reply::ok(common::mock::chat_completion()));
    let (code, text) = check(&s, &[]).await;
    assert_eq!(code, 0, "{text}");
    for c in [
        "config",
        "upstream_auth",
        "credit_limit",
        "credit_remaining",
        "models_exist",
        "test_request",
        "audit_sink",
        "client_keys",
    ] {
        assert!(line(&text, c).starts_with("PASS"), "{c}:\n{text}");
    }
    assert!(
        line(&text, "upstream_url").starts_with("WARN"),
        "plain http is only a warning when explicitly allowed"
    );
    let paths: Vec<String> = s.mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        ["/api/v1/key", "/api/v1/models", "/api/v1/chat/completions"]
    );
    assert_eq!(s.mock.last().json()["max_tokens"], 1);
}

#[tokio::test]
async fn a_rejected_key_fails() {
    let s = setup().await;
    s.mock.push(Reply::status(
        401,
        json!({"error": {"code": 401, "message": "User not found."}}),
    ));
    s.mock.push(models_reply(&[
        "openai/gpt-4o",
        "anthropic/claude-3.5-sonnet",
    ]));
    let (code, text) = check(&s, &["--no-test-request"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(line(&text, "upstream_auth").starts_with("FAIL"));
    assert!(!text.contains(&upstream_key()), "the key is never printed");
}

#[tokio::test]
async fn no_credit_limit_warns_and_no_credit_fails() {
    let s = setup().await;
    s.mock.push(key_reply(Value::Null, Value::Null));
    s.mock.push(models_reply(&[
        "openai/gpt-4o",
        "anthropic/claude-3.5-sonnet",
    ]));
    let (code, text) = check(&s, &["--no-test-request"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(line(&text, "credit_limit").starts_with("WARN"));
    s.mock.push(key_reply(json!(10.0), json!(0.0)));
    s.mock.push(models_reply(&[
        "openai/gpt-4o",
        "anthropic/claude-3.5-sonnet",
    ]));
    let (code, text) = check(&s, &["--no-test-request"]).await;
    assert_eq!(code, 1);
    assert!(
        line(&text, "credit_remaining").starts_with("FAIL"),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_model_fails() {
    let s = setup().await;
    s.mock.push(key_reply(json!(100.0), json!(60.0)));
    s.mock.push(models_reply(&["anthropic/claude-3.5-sonnet"]));
    let (code, text) = check(&s, &["--no-test-request", "--json"]).await;
    assert_eq!(code, 1, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let models = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "models_exist")
        .unwrap();
    assert_eq!(models["status"], "FAIL");
    assert!(models["detail"]
        .as_str()
        .unwrap()
        .contains("openai/gpt-4o (internal)"));
    assert!(v["summary"]["fail"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn a_planted_key_in_the_scanned_tree_fails_without_being_printed() {
    let s = setup().await;
    let tree = s.dir.path().join("app");
    std::fs::create_dir_all(tree.join("src")).unwrap();
    std::fs::write(tree.join("src/ok.py"), "client = OpenAI(base_url=URL)\n").unwrap();
    let planted = format!("sk-or-v1-{}", "7e".repeat(32));
    std::fs::write(
        tree.join("src/settings.py"),
        format!("# config\nOPENROUTER_KEY = '{planted}'\n"),
    )
    .unwrap();
    s.mock.push(key_reply(json!(100.0), json!(60.0)));
    s.mock.push(models_reply(&[
        "openai/gpt-4o",
        "anthropic/claude-3.5-sonnet",
    ]));
    let (code, text) = check(&s, &["--no-test-request", "--scan", tree.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{text}");
    let scan = line(&text, "secret_scan");
    assert!(
        scan.starts_with("FAIL") && scan.contains("settings.py:2"),
        "{scan}"
    );
    assert!(
        !text.contains("7e7e7e"),
        "the secret itself is never printed"
    );
}

#[tokio::test]
async fn the_state_store_and_key_budgets_are_checked() {
    let s = setup().await;
    // In memory with no budget: PASS for the store, a WARN for the unbudgeted key.
    let (_, text) = check(&s, &["--no-test-request"]).await;
    assert!(line(&text, "state").starts_with("PASS"), "{text}");
    assert!(line(&text, "key_budget").starts_with("WARN"), "{text}");
    // A Redis that does not answer is a FAIL, and its URL (with a password) is not printed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let path = s.dir.path().join("orguard.toml");
    let mut toml = std::fs::read_to_string(&path).unwrap();
    toml = toml.replace("created = ", "budget_usd = 5.0\ncreated = ");
    toml.push_str(&format!(
        "\n[state]\nbackend = \"redis\"\nredis_url = \"redis://:hunter2@127.0.0.1:{port}/0\"\n"
    ));
    std::fs::write(&path, toml).unwrap();
    s.mock.push(key_reply(json!(100.0), json!(60.0)));
    s.mock.push(models_reply(&["openai/gpt-4o"]));
    let (code, text) = check(&s, &["--no-test-request"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(line(&text, "state").starts_with("FAIL"), "{text}");
    assert!(!text.contains("key_budget"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn a_services_own_upstream_key_is_checked_with_that_key() {
    let s = setup().await;
    let service_key = format!("sk-or-v1-{}", "4d".repeat(32));
    let file = s.dir.path().join("svc.openrouter.key");
    std::fs::write(&file, &service_key).unwrap();
    let path = s.dir.path().join("orguard.toml");
    let toml = std::fs::read_to_string(&path).unwrap().replace(
        "created = ",
        &format!("upstream_key_file = \"{}\"\ncreated = ", file.display()),
    );
    std::fs::write(&path, toml).unwrap();
    s.mock.push(key_reply(json!(100.0), json!(60.0)));
    s.mock.push(models_reply(&["openai/gpt-4o"]));
    s.mock.push(key_reply(json!(null), json!(null)));
    let (_, text) = check(&s, &["--no-test-request"]).await;
    assert!(line(&text, "service_key").starts_with("WARN"), "{text}");
    assert!(line(&text, "service_key").contains("svc-1"), "{text}");
    let asked = s.mock.requests();
    let service = asked
        .iter()
        .filter(|r| r.path == "/api/v1/key")
        .nth(1)
        .expect("the service key was checked");
    assert_eq!(
        service.headers["authorization"],
        format!("Bearer {service_key}").as_str()
    );
    assert!(!text.contains(&service_key) && !text.contains("sk-or-v1-4d"));
    // A rejected service key is a FAIL.
    s.mock.push(key_reply(json!(100.0), json!(60.0)));
    s.mock.push(models_reply(&["openai/gpt-4o"]));
    s.mock.push(Reply::status(
        401,
        json!({"error": {"message": "no", "code": 401}}),
    ));
    let (code, text) = check(&s, &["--no-test-request"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(line(&text, "service_key").starts_with("FAIL"), "{text}");
}
