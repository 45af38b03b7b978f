//! Postgres over TLS, through the `orguard` binary against the real local PostgreSQL: the
//! audit sink, the checkpoint witness, `orguard audit verify` and `orguard check` with libpq's
//! `sslmode`/`sslrootcert` in the URL. The server's certificate comes from a CA the tests
//! make (tests/common/pg_tls.rs) and names `localhost` only.

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
use std::time::Duration;

use common::gateway::error_of;
use common::pg_tls::{self, PgTls};
use common::process::{command, GatewayProcess};
use common::{chat_body, upstream_key, MockUpstream};

/// A password the test database ignores (trust auth), to show it is never printed.
const PASSWORD: &str = "s3cret-pw-9f2c";

/// `orguard` started with the embedded config, `mock` as the upstream and `env` on top.
async fn gateway(
    mock: &MockUpstream,
    env: &[(&str, String)],
) -> (GatewayProcess, tempfile::TempDir) {
    let audit = tempfile::tempdir().unwrap();
    let mut cmd = command();
    base_env(&mut cmd, mock, audit.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let gw = tokio::task::spawn_blocking(move || GatewayProcess::spawn(cmd))
        .await
        .unwrap();
    (gw, audit)
}

fn base_env(cmd: &mut std::process::Command, mock: &MockUpstream, audit: &Path) {
    cmd.env("ORGUARD_AUDIT__DIR", audit)
        .env("ORGUARD_SERVER__LISTEN", "127.0.0.1:0")
        .env("ORGUARD_UPSTREAM__CREDIT_POLL_SECONDS", "0")
        .env("ORGUARD_UPSTREAM__PROVIDERS_REFRESH_SECONDS", "0")
        .env("ORGUARD_UPSTREAM__MODELS_REFRESH_SECONDS", "0")
        .env("ORGUARD_UPSTREAM__BASE_URL", mock.base_url())
        .env("ORGUARD_UPSTREAM__ALLOW_INSECURE_HTTP", "true")
        .env("OPENROUTER_API_KEY", upstream_key());
}

/// The postgres sink at `url` into `table`.
fn sink(url: &str, table: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ORGUARD_AUDIT__SINK", "postgres".to_owned()),
        ("ORGUARD_AUDIT__POSTGRES_URL", url.to_owned()),
        ("ORGUARD_AUDIT__POSTGRES_TABLE", table.to_owned()),
    ]
}

async fn chat(gw: &GatewayProcess) -> reqwest::Response {
    reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("ogk_demo_local_only")
        .json(&chat_body("openai/gpt-4o"))
        .send()
        .await
        .unwrap()
}

/// Runs `orguard ARGS` with `env`: (exit code, stdout, stderr).
async fn orguard(args: &[&str], env: &[(&str, String)]) -> (i32, String, String) {
    let mut cmd = command();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
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

/// Waits up to 5 s for `needle` in the gateway's log.
async fn logged(gw: &GatewayProcess, needle: &str) -> bool {
    for _ in 0..100 {
        if gw.logs().contains(needle) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The sessions `application_name` has open, as the server sees them: TLS or not.
async fn sessions_tls(pg: &PgTls, application_name: &str) -> Vec<bool> {
    pg.client()
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = $1",
            &[&application_name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn count(pg: &PgTls, table: &str) -> i64 {
    pg.client()
        .await
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

async fn drop_table(pg: &PgTls, table: &str) {
    pg.client()
        .await
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {table}; DROP FUNCTION IF EXISTS {table}_append_only()"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn verify_full_audits_over_tls_and_verify_and_check_read_over_tls_too() {
    let Some(pg) = pg_tls::tls_postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = pg.ca_file(dir.path());
    let table = common::unique_table();
    let app = table.replace("orguard_audit_test", "orguard-tls");
    let url = pg.url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}&application_name={app}",
            ca.display()
        ),
    );
    let mock = MockUpstream::start().await;
    let (gw, _audit) = gateway(&mock, &sink(&url, &table)).await;
    let r = chat(&gw).await;
    assert_eq!(r.status(), 200, "{}", gw.logs());
    r.bytes().await.unwrap();

    // The records landed, over a connection the server says is TLS.
    let mut records = 0;
    for _ in 0..100 {
        records = count(pg, &table).await;
        if records >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(records, 2, "request and response records");
    let sessions = sessions_tls(pg, &app).await;
    assert!(
        !sessions.is_empty(),
        "the gateway's audit connection is open"
    );
    assert!(sessions.iter().all(|tls| *tls), "{sessions:?}");

    // The auditor's side: the same URL works for `audit verify`.
    let (code, out, err) = orguard(&["audit", "verify", &url, "--table", &table], &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("records 2") || out.contains("2 records"),
        "{out}"
    );

    // The certificate names localhost, not 127.0.0.1: verify-full refuses that host,
    // verify-ca (the chain only) accepts it.
    let by_ip = |mode: &str| {
        pg.url(
            "127.0.0.1",
            &format!("sslmode={mode}&sslrootcert={}", ca.display()),
        )
        .replacen('@', &format!(":{PASSWORD}@"), 1)
    };
    let (code, out, err) = orguard(
        &["audit", "verify", &by_ip("verify-full"), "--table", &table],
        &[],
    )
    .await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("TLS certificate problem")
            && err.contains("not valid for host 127.0.0.1")
            && err.contains("localhost"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD) && !out.contains(PASSWORD), "{err}");
    let (code, out, err) = orguard(
        &["audit", "verify", &by_ip("verify-ca"), "--table", &table],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");

    // `orguard check` names the transport of the audit database.
    let audit = tempfile::tempdir().unwrap();
    let mut env = sink(&url, &table);
    env.extend([
        ("ORGUARD_AUDIT__DIR", audit.path().display().to_string()),
        ("ORGUARD_UPSTREAM__BASE_URL", mock.base_url()),
        ("ORGUARD_UPSTREAM__ALLOW_INSECURE_HTTP", "true".to_owned()),
        ("OPENROUTER_API_KEY", upstream_key()),
    ]);
    let (_, out, _) = orguard(&["check", "--no-test-request"], &env).await;
    let line = out
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("audit_sink"))
        .unwrap_or_else(|| panic!("no audit_sink line:\n{out}"));
    assert!(
        line.starts_with("PASS")
            && line.contains("over TLS")
            && line.contains("certificate and host name verified (sslmode=verify-full)"),
        "{line}"
    );

    drop(gw);
    drop_table(pg, &table).await;
}

#[tokio::test]
async fn a_certificate_the_ca_did_not_sign_or_another_host_fails_requests_closed() {
    let Some(pg) = pg_tls::tls_postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, pg_tls::new_ca("not the server's CA").0.pem()).unwrap();
    let ca = pg.ca_file(dir.path());
    let table = common::unique_table();
    let mock = MockUpstream::start().await;

    for (host, root, problem) in [
        (
            "localhost",
            &other_ca,
            "is not signed by a CA in sslrootcert",
        ),
        ("127.0.0.1", &ca, "is not valid for host 127.0.0.1"),
    ] {
        let url = pg
            .url(
                host,
                &format!("sslmode=verify-full&sslrootcert={}", root.display()),
            )
            .replacen('@', &format!(":{PASSWORD}@"), 1);
        let (gw, _audit) = gateway(&mock, &sink(&url, &table)).await;
        let r = chat(&gw).await;
        assert_eq!(r.status(), 503, "{host}");
        assert_eq!(error_of(r).await.1, "audit_unavailable");
        assert!(
            logged(&gw, problem).await,
            "the log names the certificate problem ({problem}):\n{}",
            gw.logs()
        );
        assert!(
            gw.logs().contains("TLS certificate problem"),
            "{}",
            gw.logs()
        );
        assert!(!gw.logs().contains(PASSWORD), "{}", gw.logs());
    }
    assert_eq!(mock.count(), 0, "nothing unaudited went upstream");
    drop_table(pg, &table).await;
}

/// A server that answers the SSLRequest with "no" (as Postgres with `ssl = off` does), and
/// reports for each connection whether the client went on in plaintext.
async fn server_without_tls() -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 8];
                if tcp.read_exact(&mut request).await.is_err() {
                    return;
                }
                // Length 8, code 80877103: the SSLRequest.
                assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47]);
                tcp.write_all(b"N").await.unwrap();
                let mut next = [0u8; 64];
                let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut next))
                    .await
                    .map_or(0, |r| r.unwrap_or(0));
                let _ = tx.send(n > 0);
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn require_refuses_a_server_without_tls_and_prefer_falls_back_to_plaintext() {
    let (addr, mut plaintext) = server_without_tls().await;
    let url = |mode: &str| format!("postgres://orguard:{PASSWORD}@{addr}/audit?sslmode={mode}");
    for mode in ["require", "verify-full"] {
        let (code, out, err) = orguard(&["audit", "verify", &url(mode), "--table", "t"], &[]).await;
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains(&format!(
                "the server does not offer TLS, and sslmode={mode} requires it"
            )),
            "{err}"
        );
        assert!(!err.contains(PASSWORD), "{err}");
        assert_eq!(
            plaintext.recv().await,
            Some(false),
            "{mode}: no plaintext startup"
        );
    }
    // prefer (the default) goes on without TLS, as libpq does.
    for url in [url("prefer"), format!("postgres://orguard@{addr}/audit")] {
        let (code, _, _) = orguard(&["audit", "verify", &url, "--table", "t"], &[]).await;
        assert_eq!(code, 2);
        assert_eq!(
            plaintext.recv().await,
            Some(true),
            "{url}: plaintext startup"
        );
    }

    // The sink fails closed on it.
    let mock = MockUpstream::start().await;
    let (gw, _audit) = gateway(&mock, &sink(&url("require"), "orguard_audit")).await;
    let r = chat(&gw).await;
    assert_eq!(r.status(), 503);
    assert_eq!(error_of(r).await.1, "audit_unavailable");
    assert!(
        logged(&gw, "the server does not offer TLS").await,
        "{}",
        gw.logs()
    );
    assert!(!gw.logs().contains(PASSWORD));
    assert_eq!(mock.count(), 0);
}

#[tokio::test]
async fn the_witness_table_takes_checkpoints_over_tls() {
    let Some(pg) = pg_tls::tls_postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = pg.ca_file(dir.path());
    let table = common::unique_table().replace("audit_test", "witness_test");
    let app = table.replace("orguard_witness_test", "orguard-witness-tls");
    let url = pg.url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}&application_name={app}",
            ca.display()
        ),
    );
    let key = dir.path().join("signing.key");
    let (code, out, err) = orguard(&["audit", "keygen", "--out", key.to_str().unwrap()], &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    let public = dir.path().join("signing.key.pub");

    let mock = MockUpstream::start().await;
    let (gw, audit) = gateway(
        &mock,
        &[
            ("ORGUARD_AUDIT__SIGNING_KEY_FILE", key.display().to_string()),
            ("ORGUARD_AUDIT__CHECKPOINT_EVERY_RECORDS", "2".to_owned()),
            ("ORGUARD_AUDIT__WITNESS_POSTGRES_URL", url.clone()),
            ("ORGUARD_AUDIT__WITNESS_POSTGRES_TABLE", table.clone()),
        ],
    )
    .await;
    for _ in 0..2 {
        let r = chat(&gw).await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    let mut witnessed: i64 = 0;
    for _ in 0..100 {
        if let Ok(row) = pg
            .client()
            .await
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
        {
            witnessed = row.get(0);
            if witnessed >= 1 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        witnessed >= 1,
        "a checkpoint reached the witness:\n{}",
        gw.logs()
    );
    let sessions = sessions_tls(pg, &app).await;
    assert!(!sessions.is_empty(), "the witness connection is open");
    assert!(sessions.iter().all(|tls| *tls), "{sessions:?}");

    gw.terminate();
    let mut gw = gw;
    assert_eq!(gw.wait_exit(Duration::from_secs(10)), Some(0));
    let (code, out, err) = orguard(
        &[
            "audit",
            "verify",
            audit.path().to_str().unwrap(),
            "--public-key",
            public.to_str().unwrap(),
            "--witness",
            &url,
            "--witness-table",
            &table,
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("witness"), "{out}");
    drop_table(pg, &table).await;
}

#[test]
fn an_unknown_sslmode_is_refused_at_load_naming_the_key() {
    let out = command()
        .env(
            "ORGUARD_AUDIT__POSTGRES_URL",
            format!("postgres://orguard:{PASSWORD}@db/audit?sslmode=verify_full"),
        )
        .env("ORGUARD_AUDIT__SINK", "postgres")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("audit.postgres_url: sslmode \"verify_full\" is not one of disable, prefer, require, verify-ca, verify-full"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
}
