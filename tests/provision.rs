//! `orguard keys provision` and `orguard keys rotate-upstream` against a mock of the
//! OpenRouter management API: what is sent, what is written (mode 0600), what is printed
//! (never the key).

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
use common::{MockUpstream, Reply};
use serde_json::json;

fn management_key() -> String {
    format!("sk-or-v1-{}", "9d".repeat(32))
}

fn created_key(n: u8) -> String {
    format!("sk-or-v1-{}", format!("{n:02x}").repeat(32))
}

struct Setup {
    mock: MockUpstream,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[upstream]\nbase_url = \"{}\"\nallow_insecure_http = true\n",
        mock.base_url()
    );
    std::fs::write(dir.path().join("orguard.toml"), toml).unwrap();
    Setup { mock, dir }
}

async fn run(s: &Setup, args: &[&str], with_key: bool) -> (i32, String, String) {
    let mut cmd = command();
    cmd.arg("--config")
        .arg(s.dir.path().join("orguard.toml"))
        .arg("keys")
        .args(args);
    if with_key {
        cmd.env("OPENROUTER_MANAGEMENT_KEY", management_key());
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `keys provision --service billing --limit LIMIT --out OUT`.
async fn provision(s: &Setup, limit: &str, out: &str, with_key: bool) -> (i32, String, String) {
    run(
        s,
        &[
            "provision",
            "--service",
            "billing",
            "--limit",
            limit,
            "--out",
            out,
        ],
        with_key,
    )
    .await
}

fn create_reply(n: u8, hash: &str) -> Reply {
    Reply::status(
        201,
        json!({"data": {"hash": hash, "name": "orguard-billing", "limit": 50.0, "limit_reset": "monthly", "disabled": false}, "key": created_key(n)}),
    )
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn provision_creates_a_limited_key_and_writes_it_privately() {
    let s = setup().await;
    s.mock.push(create_reply(1, "hash0001"));
    let out = s.dir.path().join("billing.key");
    let out_s = out.display().to_string();
    let (code, stdout, stderr) = run(
        &s,
        &[
            "provision",
            "--service",
            "billing",
            "--limit",
            "50",
            "--reset",
            "monthly",
            "--out",
            &out_s,
        ],
        true,
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let sent = s.mock.last();
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/api/v1/keys")
    );
    assert_eq!(
        sent.headers["authorization"],
        format!("Bearer {}", management_key()).as_str()
    );
    assert_eq!(
        sent.json(),
        json!({"name": "orguard-billing", "limit": 50.0, "limit_reset": "monthly"})
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().trim(),
        created_key(1)
    );
    #[cfg(unix)]
    assert_eq!(mode(&out), 0o600);
    // The snippet names the file and the hash; no key is printed anywhere.
    assert!(
        stdout.contains(&format!("upstream_key_file = \"{out_s}\"")),
        "{stdout}"
    );
    assert!(stdout.contains("hash0001"));
    for text in [&stdout, &stderr] {
        assert!(!text.contains(&created_key(1)) && !text.contains(&management_key()));
    }
    // The snippet is valid config for a key entry that uses the file.
    let line = stdout
        .lines()
        .find(|l| l.starts_with("upstream_key_file"))
        .unwrap();
    let toml = format!(
        "[[keys]]\nid = \"billing-1\"\nservice = \"billing\"\nsha256 = \"{}\"\n{line}\n",
        "ab".repeat(32)
    );
    let snap = orguard::config::from_toml(&toml, None).unwrap();
    assert!(snap.keys.records()[0].upstream_key.is_some());

    // An existing file is never overwritten by provision.
    let (code, _, stderr) = provision(&s, "50", &out_s, true).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("rotate-upstream"), "{stderr}");
}

#[tokio::test]
async fn provision_refuses_without_a_management_key_or_on_api_errors() {
    let s = setup().await;
    let out = s.dir.path().join("k").display().to_string();
    let (code, _, stderr) = provision(&s, "5", &out, false).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("OPENROUTER_MANAGEMENT_KEY"), "{stderr}");
    assert_eq!(s.mock.count(), 0);
    s.mock.push(Reply::status(
        401,
        json!({"error": {"message": "bad key", "code": 401}}),
    ));
    let (code, _, stderr) = provision(&s, "5", &out, true).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(!std::path::Path::new(&out).exists());
    let before = s.mock.count();
    for (service, bad, why) in [
        ("billing", vec!["--limit=-1"], "--limit"),
        (
            "billing",
            vec!["--limit", "5", "--reset", "hourly"],
            "--reset",
        ),
        ("bad name", vec!["--limit", "5"], "--service"),
    ] {
        let mut args = vec!["provision", "--service", service, "--out", out.as_str()];
        args.extend(bad);
        let (code, _, stderr) = run(&s, &args, true).await;
        assert_eq!(code, 1);
        assert!(stderr.contains(why), "{stderr}");
    }
    assert_eq!(s.mock.count(), before, "refused before any call");
    assert!(!std::path::Path::new(&out).exists());

    // A key that cannot be written is disabled upstream rather than left live.
    s.mock.push(create_reply(3, "hash0003"));
    s.mock.push(Reply::ok(
        json!({"data": {"hash": "hash0003", "disabled": true}}),
    ));
    let unwritable = s
        .dir
        .path()
        .join("no-such-dir")
        .join("k")
        .display()
        .to_string();
    let (code, _, stderr) = provision(&s, "5", &unwritable, true).await;
    assert_eq!(code, 1, "{stderr}");
    let last = s.mock.last();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("PATCH", "/api/v1/keys/hash0003")
    );
    assert_eq!(last.json(), json!({"disabled": true}));
}

#[tokio::test]
async fn rotate_upstream_replaces_the_key_then_disables_the_old_one() {
    let s = setup().await;
    let file = s.dir.path().join("billing.key");
    std::fs::write(&file, format!("{}\n", created_key(1))).unwrap();
    s.mock.push(Reply::ok(
        json!({"data": {"hash": "hash0001", "limit": 50.0, "limit_reset": "monthly"}}),
    ));
    s.mock.push(create_reply(2, "hash0002"));
    s.mock.push(Reply::ok(
        json!({"data": {"hash": "hash0001", "disabled": true}}),
    ));
    let file_s = file.display().to_string();
    let (code, stdout, stderr) = run(
        &s,
        &[
            "rotate-upstream",
            "--service",
            "billing",
            "--old-hash",
            "hash0001",
            "--file",
            &file_s,
            "--grace-seconds",
            "0",
        ],
        true,
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let calls: Vec<(String, String)> = s
        .mock
        .requests()
        .iter()
        .map(|r| (r.method.to_string(), r.path.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET".to_owned(), "/api/v1/keys/hash0001".to_owned()),
            ("POST".to_owned(), "/api/v1/keys".to_owned()),
            ("PATCH".to_owned(), "/api/v1/keys/hash0001".to_owned()),
        ]
    );
    let requests = s.mock.requests();
    // The replacement keeps the old limit and reset; the old key is disabled, not deleted.
    assert_eq!(
        requests[1].json(),
        json!({"name": "orguard-billing", "limit": 50.0, "limit_reset": "monthly"})
    );
    assert_eq!(requests[2].json(), json!({"disabled": true}));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        created_key(2)
    );
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    assert!(
        stdout.contains("hash0002") && stderr.contains("reload"),
        "{stdout}\n{stderr}"
    );
    for text in [&stdout, &stderr] {
        assert!(!text.contains(&created_key(2)) && !text.contains(&created_key(1)));
    }

    // If the new key cannot be created, the old file and key stay as they were.
    s.mock.clear();
    s.mock.push(Reply::ok(
        json!({"data": {"hash": "hash0002", "limit": 50.0}}),
    ));
    s.mock
        .push(Reply::status(500, json!({"error": {"message": "boom"}})));
    let (code, _, _) = run(
        &s,
        &[
            "rotate-upstream",
            "--service",
            "billing",
            "--old-hash",
            "hash0002",
            "--file",
            &file_s,
            "--grace-seconds",
            "0",
        ],
        true,
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        created_key(2)
    );
    assert_eq!(s.mock.count(), 2, "no PATCH after a failed create");
}
