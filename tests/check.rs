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

fn edit_config(s: &Setup, edit: impl FnOnce(String) -> String) {
    let path = s.dir.path().join("orguard.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(toml)).unwrap();
}

fn count(text: &str, check: &str, status: &str) -> usize {
    text.lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(check) && l.starts_with(status))
        .count()
}

/// A config whose keys can reach no class table denies every request: FAIL, as does a
/// key whose default class has no table.
#[tokio::test]
async fn configs_that_deny_everything_fail() {
    let s = setup().await;
    // The key's class (internal, its default and floor) has no table; only public does.
    edit_config(&s, |t| t.replace("[classes.internal]", "[classes.public]"));
    let (code, text) = check(&s, &["--no-test-request"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(line(&text, "class_tables").starts_with("FAIL"), "{text}");
    let key = line(&text, "key_class");
    assert!(
        key.starts_with("FAIL") && key.contains("svc-1") && key.contains("internal"),
        "{text}"
    );

    // A higher class is reachable (by declaring it), but the default still has no table.
    edit_config(&s, |t| {
        t.replace("[classes.public]", "[classes.confidential]")
    });
    s.mock.push(key_reply(json!(100.0), json!(60.0)));
    s.mock.push(models_reply(&[
        "openai/gpt-4o",
        "anthropic/claude-3.5-sonnet",
    ]));
    let (code, text) = check(&s, &["--no-test-request"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(!text.contains("class_tables"), "{text}");
    assert!(line(&text, "key_class").starts_with("FAIL"), "{text}");
}

/// A key whose floor is below its default class can declare itself lower: a WARN.
#[tokio::test]
async fn a_key_that_may_declare_a_lower_class_warns() {
    let s = setup().await;
    s.mock.push(key_reply(json!(100.0), json!(60.0)));
    s.mock.push(models_reply(&[
        "openai/gpt-4o",
        "anthropic/claude-3.5-sonnet",
    ]));
    let (_, text) = check(&s, &["--no-test-request"]).await;
    assert!(
        !text.contains("key_min_class"),
        "the default floor is the default class:\n{text}"
    );
    edit_config(&s, |t| {
        t.replace("created = ", "min_class = \"public\"\ncreated = ")
    });
    s.mock.push(key_reply(json!(100.0), json!(60.0)));
    s.mock.push(models_reply(&[
        "openai/gpt-4o",
        "anthropic/claude-3.5-sonnet",
    ]));
    let (code, text) = check(&s, &["--no-test-request"]).await;
    assert_eq!(code, 0, "{text}");
    let warn = line(&text, "key_min_class");
    assert!(
        warn.starts_with("WARN") && warn.contains("svc-1") && warn.contains("public"),
        "{text}"
    );
}

/// The test request is planned as a real one (provider pinning, caps) and its response is
/// checked as a real one: a provider outside the class, or no BYOK proof where the class
/// requires it, is a FAIL.
#[tokio::test]
async fn the_test_request_follows_the_class_policy() {
    let s = setup().await;
    edit_config(&s, |t| {
        t.replace(
            "models = [\"openai/gpt-4o\", \"anthropic/*\"]",
            "models = [\"openai/gpt-4o\", \"anthropic/*\"]\nproviders = [\"openai\"]\nzdr = true",
        ) + "\n[classes.restricted]\nmodels = [\"meta-llama/llama-3.1-70b-instruct\"]\nproviders = [\"deepinfra\"]\nrequire_byok = true\n"
    });
    let models = models_reply(&[
        "openai/gpt-4o",
        "anthropic/claude-3.5-sonnet",
        "meta-llama/llama-3.1-70b-instruct",
    ]);
    let served_by = |provider: &str, model: &str, byok: bool| {
        let mut v = common::mock::chat_completion();
        v["provider"] = json!(provider);
        v["model"] = json!(model);
        v["usage"]["is_byok"] = json!(byok);
        Reply::ok(v)
    };
    // Served within policy: PASS for both classes.
    s.mock.push(key_reply(json!(100.0), json!(60.0)));
    s.mock.push(models.clone());
    s.mock.push(served_by("OpenAI", "openai/gpt-4o", false));
    s.mock.push(served_by(
        "DeepInfra",
        "meta-llama/llama-3.1-70b-instruct",
        true,
    ));
    let (code, text) = check(&s, &[]).await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(count(&text, "test_request", "PASS"), 2, "{text}");
    let sent: Vec<Value> = s
        .mock
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/chat/completions")
        .map(|r| r.json())
        .collect();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0]["provider"]["only"],
        json!(["openai"]),
        "{}",
        sent[0]
    );
    assert_eq!(sent[0]["provider"]["zdr"], true, "{}", sent[0]);
    assert_eq!(sent[0]["provider"]["allow_fallbacks"], false, "{}", sent[0]);
    assert_eq!(
        sent[1]["provider"]["only"],
        json!(["deepinfra"]),
        "{}",
        sent[1]
    );
    assert_eq!(sent[0]["max_tokens"], 1);

    // Served by another provider, and without BYOK proof: FAIL, named.
    s.mock.push(key_reply(json!(100.0), json!(60.0)));
    s.mock.push(models);
    s.mock.push(served_by("DeepInfra", "openai/gpt-4o", false));
    s.mock.push(served_by(
        "DeepInfra",
        "meta-llama/llama-3.1-70b-instruct",
        false,
    ));
    let (code, text) = check(&s, &[]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("served_provider_not_allowed"), "{text}");
    assert!(text.contains("byok_not_proven"), "{text}");
    assert_eq!(count(&text, "test_request", "FAIL"), 2, "{text}");
}

/// A private CA: without `upstream.ca_file` the connection fails and `check` says it is the
/// certificate (so does the gateway's log, never the client's error); with it, it works.
#[tokio::test]
async fn a_private_ca_is_trusted_through_ca_file_and_certificate_failures_say_so() {
    let s = setup().await;
    let tls = common::tls::TlsFront::start(s.mock.addr).await;
    edit_config(&s, |t| t.replace(&s.mock.base_url(), &tls.base_url()));
    let (code, text) = check(&s, &["--no-test-request"]).await;
    assert_eq!(code, 1, "{text}");
    let auth = line(&text, "upstream_auth");
    assert!(
        auth.starts_with("FAIL") && auth.contains("certificate"),
        "the cause is named:\n{text}"
    );
    assert!(!text.contains(&upstream_key()));

    // The gateway: the client gets a plain upstream error, the log has the cause.
    let audit = tempfile::tempdir().unwrap();
    let mut cmd = common::process::command();
    cmd.env("OPENROUTER_API_KEY", upstream_key())
        .env("ORGUARD_SERVER__LISTEN", "127.0.0.1:0")
        .env("ORGUARD_AUDIT__DIR", audit.path())
        .env("ORGUARD_UPSTREAM__BASE_URL", tls.base_url())
        .env("ORGUARD_UPSTREAM__CREDIT_POLL_SECONDS", "0")
        .env("ORGUARD_UPSTREAM__PROVIDERS_REFRESH_SECONDS", "0")
        .env("ORGUARD_UPSTREAM__MODELS_REFRESH_SECONDS", "0")
        .env("ORGUARD_RESILIENCE__MAX_RETRIES", "0");
    let gw = tokio::task::spawn_blocking(move || common::process::GatewayProcess::spawn(cmd))
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("ogk_demo_local_only")
        .json(&common::chat_body("openai/gpt-4o"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error(), "{}", r.status());
    let body = r.text().await.unwrap().to_ascii_lowercase();
    assert!(
        !body.contains("certificate") && !body.contains("127.0.0.1") && !body.contains("issuer"),
        "no cause in the client error: {body}"
    );
    let mut logged = false;
    for _ in 0..50 {
        if gw.logs().contains("TLS certificate") {
            logged = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(logged, "the log names the cause:\n{}", gw.logs());

    // Trusting the CA through upstream.ca_file.
    let ca = s.dir.path().join("private-ca.pem");
    std::fs::write(&ca, &tls.ca_pem).unwrap();
    edit_config(&s, |t| {
        t.replace(
            "[upstream]\n",
            &format!("[upstream]\nca_file = \"{}\"\n", ca.display()),
        )
    });
    s.mock.push(key_reply(json!(100.0), json!(60.0)));
    s.mock.push(models_reply(&[
        "openai/gpt-4o",
        "anthropic/claude-3.5-sonnet",
    ]));
    let (code, text) = check(&s, &["--no-test-request"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(line(&text, "upstream_auth").starts_with("PASS"), "{text}");
    assert!(line(&text, "upstream_url").starts_with("PASS"), "{text}");
}

/// A connection refused is named as such.
#[tokio::test]
async fn an_unreachable_upstream_names_the_cause() {
    let s = setup().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    edit_config(&s, |t| {
        t.replace(
            &s.mock.base_url(),
            &format!("http://127.0.0.1:{port}/api/v1"),
        )
    });
    let (code, text) = check(&s, &["--no-test-request"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        line(&text, "upstream_auth").contains("connection refused"),
        "{text}"
    );
}
