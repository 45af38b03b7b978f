//! Full audit encrypted to the auditor (issue #19): a class with `capture = "encrypted"`
//! stores the request as forwarded and the response as delivered (a stream assembled),
//! encrypted with age to `audit.capture_recipients`; the records carry the ciphertext's
//! SHA-256, `audit verify` checks the files, and `audit decrypt` opens them with the
//! auditor's identity. Everything here goes through HTTP and the binary.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use age::secrecy::ExposeSecret;
use common::gateway::config_toml;
use common::process::command;
use common::{sha256_hex, upstream_key, MockUpstream, Reply, TestGateway};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A key whose default class is `confidential`.
const CONFIDENTIAL_KEY: &str = "og-test-confidential-key-0001";
const MODEL: &str = "meta-llama/llama-3.1-70b-instruct";
const PROMPT: &str =
    "Summarise the visit. Seen by Dr. Roe, NPI 1234567893. Dx: E11.9, follow up in 3 months.";

/// PHI raises to `restricted`, which goes to a self-hosted upstream (`local`) and captures
/// to `recipient`.
fn capture_config(openrouter: &MockUpstream, local: &MockUpstream, recipient: &str) -> String {
    let extra = format!(
        "[upstreams.selfhosted]\nbase_url = \"{}\"\nallow_insecure_http = true\n\n\
         [[keys]]\nid = \"clinic-1\"\nservice = \"clinic\"\nsha256 = \"{}\"\ndefault_class = \"confidential\"\n",
        local.base_url(),
        sha256_hex(CONFIDENTIAL_KEY),
    );
    config_toml(openrouter, &extra)
        .replace(
            "require_byok = true",
            "upstream = \"selfhosted\"\ncapture = \"encrypted\"",
        )
        .replace("[policy]\n", "[policy]\nphi_raises_to = \"restricted\"\n")
        .replace(
            "[audit]\n",
            &format!("[audit]\ncapture_recipients = [\"{recipient}\"]\n"),
        )
}

/// A fresh auditor identity, written to an identity file as `age-keygen` would.
fn auditor(dir: &Path) -> (String, PathBuf) {
    let identity = age::x25519::Identity::generate();
    let file = dir.join("auditor.key");
    std::fs::write(
        &file,
        format!(
            "# created: by the test\n# public key: {}\n{}\n",
            identity.to_public(),
            identity.to_string().expose_secret()
        ),
    )
    .unwrap();
    (identity.to_public().to_string(), file)
}

async fn send(gw: &TestGateway, stream: bool) -> reqwest::Response {
    let body = json!({"model": MODEL, "stream": stream,
        "messages": [{"role": "user", "content": PROMPT}]});
    reqwest::Client::new()
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(CONFIDENTIAL_KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// The records of `request_id`, once its `response` record is written (the response
/// capture is encrypted and fsynced first, off the async workers).
async fn records_of(gw: &TestGateway, request_id: &str) -> (Value, Value) {
    for _ in 0..50 {
        let records = gw.audit_records().await;
        let find = |t: &str| {
            records
                .iter()
                .find(|r| r["type"] == t && r["request_id"] == request_id)
                .cloned()
        };
        if let (Some(req), Some(resp)) = (find("request"), find("response")) {
            return (req, resp);
        }
    }
    panic!("no request/response records for {request_id}");
}

/// Waits until `request_id`'s `response` record is in the file trail at `dir`.
async fn response_written(dir: &Path, request_id: &str) {
    let needle = format!(r#""request_id":"{request_id}""#);
    for _ in 0..100 {
        let found = orguard::audit::sink::file::list_files(dir)
            .unwrap_or_default()
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .any(|t| {
                t.lines()
                    .any(|l| l.contains(&needle) && l.contains(r#""type":"response""#))
            });
        if found {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no response record for {request_id}");
}

fn decrypt_cli(capture: &Path, identity: &Path) -> Vec<u8> {
    let out = command()
        .args(["audit", "decrypt"])
        .arg(capture)
        .arg("--identity")
        .arg(identity)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn verify_cli(dir: &Path) -> (i32, String) {
    let out = command()
        .args(["audit", "verify"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Checks one capture: it exists, hashes to the recorded SHA-256, holds no plaintext, and
/// decrypts (with the binary and the auditor's identity) to `expected`.
fn check_capture(dir: &Path, record: &Value, part: &str, identity: &Path, expected: &[u8]) {
    let id = record["request_id"].as_str().unwrap();
    let path = dir.join("captures").join(format!("{id}.{part}.age"));
    let ciphertext = std::fs::read(&path).unwrap();
    assert_eq!(
        record["capture_sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(&ciphertext)),
        "{part} record carries the ciphertext's hash"
    );
    assert!(ciphertext.starts_with(b"age-encryption.org/v1\n"));
    assert!(
        memchr::memmem::find(&ciphertext, b"1234567893").is_none(),
        "no plaintext on disk"
    );
    assert_eq!(
        decrypt_cli(&path, identity),
        expected,
        "{part} decrypts exactly"
    );
}

#[tokio::test]
async fn captures_decrypt_to_the_forwarded_request_and_the_delivered_response() {
    let openrouter = MockUpstream::start().await;
    let local = MockUpstream::start().await;
    let keys = tempfile::tempdir().unwrap();
    let (recipient, identity) = auditor(keys.path());
    let gw = TestGateway::from_toml(
        &capture_config(&openrouter, &local, &recipient),
        Some(upstream_key()),
    )
    .await;
    let dir = gw.audit_dir.path().to_path_buf();

    // Non-streamed.
    local.push(Reply::served_by("", MODEL, false));
    let r = send(&gw, false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-orguard-class"], "restricted");
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let delivered = r.bytes().await.unwrap();
    let forwarded = local.last().body;
    let (req, resp) = records_of(&gw, &id).await;
    check_capture(&dir, &req, "request", &identity, &forwarded);
    check_capture(&dir, &resp, "response", &identity, &delivered);
    assert_eq!(
        req["body_sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(&forwarded))
    );

    // Streamed: the events as the client got them, assembled.
    local.push(Reply::stream_served_by(
        "",
        MODEL,
        4,
        Duration::from_millis(5),
        false,
    ));
    let r = send(&gw, true).await;
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let delivered = r.bytes().await.unwrap();
    assert!(delivered.ends_with(b"data: [DONE]\n\n"));
    let forwarded = local.last().body;
    let (req, resp) = records_of(&gw, &id).await;
    assert_eq!(req["stream"], true);
    check_capture(&dir, &req, "request", &identity, &forwarded);
    check_capture(&dir, &resp, "response", &identity, &delivered);

    // The chain covers the hashes, and verify checks the files against them.
    // Closed first, as at a process exit (the audit directory stays with `gw`).
    gw.state.audit.close().await;
    let (code, out) = verify_cli(&dir);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 encrypted captures checked"), "{out}");

    // One flipped byte in a capture is found, and named.
    let victim = dir.join("captures").join(format!("{id}.response.age"));
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&victim, &bytes).unwrap();
    let (code, out) = verify_cli(&dir);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{id}.response.age")), "{out}");
    // A tampered capture does not decrypt either (age authenticates every chunk).
    let out = command()
        .args(["audit", "decrypt"])
        .arg(&victim)
        .arg("--identity")
        .arg(&identity)
        .output()
        .unwrap();
    assert!(!out.status.success());

    // A missing capture is found, and named.
    let gone = dir.join("captures").join(format!("{id}.request.age"));
    std::fs::remove_file(&gone).unwrap();
    let (code, out) = verify_cli(&dir);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("{id}.request.age: missing")), "{out}");
}

#[tokio::test]
async fn classes_that_do_not_capture_write_no_capture() {
    let openrouter = MockUpstream::start().await;
    let local = MockUpstream::start().await;
    let keys = tempfile::tempdir().unwrap();
    let (recipient, _) = auditor(keys.path());
    let gw = TestGateway::from_toml(
        &capture_config(&openrouter, &local, &recipient),
        Some(upstream_key()),
    )
    .await;
    openrouter.push(Reply::ok(common::mock::chat_completion()));
    let r = gw.chat(&common::chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 200);
    let records = gw.audit_records().await;
    assert!(records.iter().all(|r| r.get("capture_sha256").is_none()));
    assert!(!gw.audit_dir.path().join("captures").exists());
}

#[tokio::test]
async fn a_capture_that_cannot_be_written_refuses_the_request() {
    let openrouter = MockUpstream::start().await;
    let local = MockUpstream::start().await;
    let keys = tempfile::tempdir().unwrap();
    let (recipient, _) = auditor(keys.path());
    let gw = TestGateway::from_toml(
        &capture_config(&openrouter, &local, &recipient),
        Some(upstream_key()),
    )
    .await;
    // A file where the captures directory should be: the write fails (even as root).
    std::fs::write(gw.audit_dir.path().join("captures"), b"").unwrap();
    local.push(Reply::served_by("", MODEL, false));
    let r = send(&gw, false).await;
    assert_eq!(r.status(), 503);
    assert_eq!(local.count(), 0, "nothing was sent");
    let records = gw.audit_records().await;
    assert!(records.iter().all(|r| r["type"] != "request"));
}

#[test]
fn capture_config_errors_name_the_key() {
    let openrouter_url = "http://127.0.0.1:9";
    let base = |recipients: &str, capture: &str| {
        format!(
            "[upstream]\nbase_url = \"{openrouter_url}\"\nallow_insecure_http = true\n\
             [audit]\ndir = \"/tmp/unused-audit\"\ncapture_recipients = {recipients}\n\
             [classes.public]\nmodels = [\"*\"]\ncapture = \"{capture}\"\n\
             [[keys]]\nid = \"k\"\nservice = \"s\"\nsha256 = \"{}\"\n",
            sha256_hex("og-k")
        )
    };
    let err = |toml: String| {
        orguard::config::from_toml(&toml, Some(upstream_key()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let e = err(base("[]", "encrypted"));
    assert!(e.contains("classes.public.capture"), "{e}");
    assert!(e.contains("audit.capture_recipients"), "{e}");
    let e = err(base("[\"age1notakey\"]", "off"));
    assert!(e.contains("audit.capture_recipients[0]"), "{e}");
    let e = err(base("[]", "plaintext"));
    assert!(e.contains("classes.public.capture"), "{e}");
    let ok = age::x25519::Identity::generate().to_public().to_string();
    let e = err(base(&format!("[\"{ok}\"]"), "encrypted"));
    assert!(!e.contains("capture"), "{e}");
}

#[tokio::test]
async fn retention_removes_captures_with_their_records() {
    let openrouter = MockUpstream::start().await;
    let local = MockUpstream::start().await;
    local.set_default(Reply::served_by("", MODEL, false));
    let keys = tempfile::tempdir().unwrap();
    let (recipient, _) = auditor(keys.path());
    let dir = tempfile::tempdir().unwrap();
    let base = capture_config(&openrouter, &local, &recipient)
        .replace("AUDIT_DIR", &dir.path().display().to_string());
    let toml = |retention: &str| {
        base.replace(
            "[audit]\n",
            &format!("[audit]\nrotate_bytes = 4096\n{retention}\n"),
        )
    };
    let audit_dir = dir.path().to_path_buf();
    let run = |toml: String, n: usize| {
        let audit_dir = audit_dir.clone();
        async move {
            let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
            for _ in 0..n {
                let r = send(&gw, false).await;
                assert_eq!(r.status(), 200);
                let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
                r.bytes().await.unwrap();
                response_written(&audit_dir, &id).await;
            }
            gw.state.audit.close().await;
        }
    };
    run(toml("retention_days = 0"), 6).await;
    let files = orguard::audit::sink::file::list_files(dir.path()).unwrap();
    assert!(files.len() >= 3, "{files:?}");
    let referenced = |f: &Path| -> Vec<String> {
        std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .filter_map(orguard::audit::capture::reference)
            .map(|(name, _)| name)
            .collect()
    };
    let old: Vec<String> = files[..2].iter().flat_map(|f| referenced(f)).collect();
    assert!(!old.is_empty());
    let ten_days_ago = std::time::SystemTime::now() - Duration::from_secs(10 * 86_400);
    for f in &files[..2] {
        std::fs::File::options()
            .append(true)
            .open(f)
            .unwrap()
            .set_modified(ten_days_ago)
            .unwrap();
    }
    run(toml("retention_days = 5\nfinancial_retention_days = 7"), 2).await;
    let captures = dir.path().join("captures");
    for name in &old {
        assert!(
            !captures.join(name).exists(),
            "{name} went with its records"
        );
    }
    let after = orguard::audit::sink::file::list_files(dir.path()).unwrap();
    let kept: Vec<String> = after.iter().flat_map(|f| referenced(f)).collect();
    assert!(!kept.is_empty());
    for name in &kept {
        assert!(
            captures.join(name).exists(),
            "{name} is kept with its records"
        );
    }
    let out = command()
        .args(["audit", "verify", "--allow-partial-start"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
