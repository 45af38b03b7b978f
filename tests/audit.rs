//! The audit trail through HTTP: every request is recorded before it leaves, records link
//! into one verifiable chain under concurrency and across restarts, tampering is found and
//! located, and an unwritable sink fails requests closed.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::gateway::{config_toml, error_of};
use common::process::command;
use common::{chat_body, upstream_key, MockUpstream, Reply, TestGateway};
use orguard::audit::verify::verify_path;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn audit_files(dir: &Path) -> Vec<std::path::PathBuf> {
    orguard::audit::sink::file::list_files(dir).unwrap()
}

fn verify_cli(target: &Path) -> (i32, String) {
    let out = command()
        .args(["audit", "verify"])
        .arg(target)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[tokio::test]
async fn concurrent_requests_form_one_valid_chain_with_linked_records() {
    let mock = MockUpstream::start().await;
    mock.set_default(Reply::ok(common::mock::chat_completion()));
    let gw = Arc::new(TestGateway::start(&mock).await);
    let n = 40;
    let mut tasks = Vec::new();
    for i in 0..n {
        let gw = Arc::clone(&gw);
        tasks.push(tokio::spawn(async move {
            let body = if i % 4 == 0 {
                json!({"model": "openai/gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]})
            } else {
                chat_body("openai/gpt-4o")
            };
            let r = gw.chat(&body).await;
            assert_eq!(r.status(), 200);
            let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
            r.bytes().await.unwrap();
            id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let records = gw.audit_records().await;
    assert_eq!(
        records.len(),
        2 * n,
        "a request and a response record per request"
    );
    let report = verify_path(gw.audit_dir.path(), false).unwrap();
    assert!(report.ok(), "{}", report.render());
    assert_eq!(report.records as usize, 2 * n);

    let mut by_id: HashMap<String, Vec<&Value>> = HashMap::new();
    for r in &records {
        by_id
            .entry(r["request_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(r);
    }
    for id in &ids {
        let pair = &by_id[id];
        assert_eq!(pair.len(), 2, "{id}");
        assert_eq!(pair[0]["type"], "request", "the request record comes first");
        assert_eq!(pair[1]["type"], "response");
        let (req, resp) = (pair[0], pair[1]);
        assert!(req["seq"].as_u64() < resp["seq"].as_u64());
        for field in ["ts", "key_id", "service", "class", "prev", "hash"] {
            assert!(req[field].is_string(), "{field}: {req}");
        }
        assert_eq!(req["key_id"], "billing-1");
        assert_eq!(req["class"], "internal");
        assert_eq!(req["model_requested"], "openai/gpt-4o");
        assert_eq!(req["model_forwarded"], "openai/gpt-4o");
        assert_eq!(req["prompt_sha256"].as_str().unwrap().len(), 64);
        assert_eq!(req["body_sha256"].as_str().unwrap().len(), 64);
        assert!(req["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "provider.pinned"));
        assert_eq!(resp["status"], 200);
        assert_eq!(resp["generation_id"], "gen-1739458867-kUKFjpDGCEBBvK6V46PX");
        assert_eq!(resp["provider"], "OpenAI");
        assert_eq!(resp["prompt_tokens"], 3);
        assert_eq!(resp["completion_tokens"], 4);
        assert_eq!(resp["cost"], 0.00002);
        assert_eq!(resp["is_byok"], false);
    }
}

#[tokio::test]
async fn streamed_responses_are_audited_when_the_stream_ends() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    mock.push(Reply::chat_stream(3, Duration::from_millis(10)));
    let r = gw
        .chat(&json!({"model": "openai/gpt-4o", "stream": true, "messages": []}))
        .await;
    r.text().await.unwrap();
    let records = gw.audit_records().await;
    let resp = records.iter().find(|r| r["type"] == "response").unwrap();
    assert_eq!(resp["outcome"], "completed");
    assert_eq!(resp["generation_id"], "gen-1-abc");
    assert_eq!(resp["completion_tokens"], 3);
    assert_eq!(resp["cost"], 0.0001);
}

#[tokio::test]
async fn the_request_record_is_on_disk_before_the_upstream_sees_the_request() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let dir = gw.audit_dir.path().to_path_buf();
    let checked = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&checked);
    mock.on_request(move |req| {
        let body_sha = hex::encode(Sha256::digest(&req.body));
        let on_disk: String = audit_files(&dir)
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        assert!(
            on_disk.contains(&format!("\"body_sha256\":\"{body_sha}\"")),
            "no request record for this body yet:\n{on_disk}"
        );
        seen.fetch_add(1, Ordering::SeqCst);
    });
    for _ in 0..3 {
        assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    }
    assert_eq!(checked.load(Ordering::SeqCst), 3);
}

/// The counter on `/metrics`, 0 when absent.
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_response_record_is_synced_by_the_next_request_not_by_an_fsync_of_its_own() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let before = counter(&gw.metrics().await, "orguard_audit_fsyncs_total");
    let n = 20;
    for _ in 0..n {
        assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    }
    // The last response record is synced by the deferred sync, not left unsynced.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let syncs = counter(&gw.metrics().await, "orguard_audit_fsyncs_total") - before;
    // One fsync per request record (the response before it rides along), plus the last
    // response's deferred one; a slow gap (over 10 ms) between a response and the next
    // request adds one. One fsync per record would be 2n.
    assert!(
        syncs > n && syncs < 2 * n,
        "{syncs} fsyncs for {n} requests one at a time"
    );
    let report = verify_path(gw.audit_dir.path(), false).unwrap();
    assert_eq!(report.records, 2 * n);
}

/// A refusal's record is queued before its response leaves, without waiting for the sink;
/// `flush` returns once it is in the file: what a reader of the trail (the tests'
/// `audit_records`, an operator's tool) waits on instead of guessing with sleeps.
#[tokio::test]
async fn a_flush_returns_once_every_queued_record_is_in_the_file() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    for i in 0..5 {
        let body = json!({"model": "openai/gpt-4o",
            "messages": [{"role": "user", "content": format!("key sk-or-v1-{}", "cd".repeat(32))}]});
        assert_eq!(gw.chat(&body).await.status(), 403, "request {i}");
        gw.state.audit.flush().await;
        let denied = audit_files(gw.audit_dir.path())
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|l| l.contains("\"type\":\"denied\""))
            .count();
        assert_eq!(denied, i + 1, "request {i}");
    }
}

#[tokio::test]
async fn denials_and_violations_are_audited_without_content() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let secret = format!("sk-or-v1-{}", "ab".repeat(32));
    let body = json!({"model": "openrouter/auto", "user": "jane.canary@example.com",
        "messages": [{"role": "user", "content": format!("call +1 415 555 0100, mail jane.canary@example.com, key {secret}")}]});
    let r = gw.chat(&body).await;
    assert_eq!(r.status(), 403);
    mock.push(Reply::served_by("Together", "openai/gpt-4o", false));
    let mut ok = body.clone();
    ok["model"] = json!("openai/gpt-4o");
    ok["messages"][0]["content"] = json!("call +1 415 555 0100, mail jane.canary@example.com");
    let r = gw
        .post("/api/v1/chat/completions")
        .header("x-data-classification", "confidential")
        .body(ok.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let r = gw
        .client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth("ogk_nope")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let mut with_secret = ok.clone();
    with_secret["messages"][0]["content"] = json!(format!("deploy with {secret}"));
    let r = gw.chat(&with_secret).await;
    assert_eq!(r.status(), 403);

    let records = gw.audit_records().await;
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "denied",
            "request",
            "violation",
            "response",
            "denied",
            "denied"
        ],
        "{records:#?}"
    );
    // A blocked type is refused before the routing rules are applied.
    assert_eq!(records[0]["code"], "secret_blocked");
    assert!(
        records[1]["user"].as_str().unwrap().starts_with("u_"),
        "the end user is recorded by pseudonym only"
    );
    assert_eq!(records[0]["status"], 403);
    assert_eq!(records[2]["violation"], "served_provider_not_allowed");
    assert_eq!(records[2]["served"], "Together");
    assert_eq!(records[2]["action"], "block");
    assert_eq!(records[3]["status"], 502);
    assert_eq!(
        records[3]["outcome"], "cut_by_policy",
        "the gateway withheld the answer: a policy outcome, not an upstream error"
    );
    assert_eq!(
        records[3]["provider"], "Together",
        "what was served (and billed) is still recorded"
    );
    assert_eq!(records[3]["cost"], 0.00002);
    assert_eq!(records[4]["code"], "invalid_api_key");
    assert_eq!(records[4]["key_id"], Value::Null);
    assert_eq!(records[5]["code"], "secret_blocked");
    assert!(
        records[5]["reason"].as_str().unwrap().contains("SECRET"),
        "the audit names the type found"
    );
    let all = serde_json::to_string(&records).unwrap();
    for canary in [
        "jane.canary",
        "555 0100",
        secret.as_str(),
        "ogk_nope",
        "ogk_test",
        &upstream_key(),
    ] {
        assert!(
            !all.contains(canary),
            "{canary} leaked into the audit trail"
        );
    }
    assert!(verify_path(gw.audit_dir.path(), false).unwrap().ok());
}

#[tokio::test]
async fn tampering_is_found_and_located() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    for _ in 0..3 {
        gw.chat(&chat_body("openai/gpt-4o"))
            .await
            .text()
            .await
            .unwrap();
    }
    let records = gw.audit_records().await;
    assert_eq!(records.len(), 6);
    let file = audit_files(gw.audit_dir.path()).pop().unwrap();
    let original = std::fs::read_to_string(&file).unwrap();
    let (code, text) = verify_cli(gw.audit_dir.path());
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("6 records"), "{text}");

    let lines: Vec<&str> = original.lines().collect();
    let write = |s: String| std::fs::write(&file, s).unwrap();
    let join = |l: &[&str]| l.iter().map(|x| format!("{x}\n")).collect::<String>();

    // One byte of one record (the model name of record 3).
    let edited = lines[2].replacen("openai/gpt-4o", "openai/gpt-4p", 1);
    assert_ne!(edited, lines[2]);
    let mut t = lines.clone();
    t[2] = &edited;
    write(join(&t));
    let (code, text) = verify_cli(&file);
    assert_eq!(code, 1);
    assert!(
        text.contains(&format!("FIRST BREAK at {}:3", file.display())) && text.contains("altered"),
        "{text}"
    );

    // A deleted line.
    let mut t = lines.clone();
    t.remove(3);
    write(join(&t));
    let (code, text) = verify_cli(&file);
    assert_eq!(code, 1);
    assert!(
        text.contains(":4: missing records: expected seq 4, found 5"),
        "{text}"
    );

    // Two lines swapped.
    let mut t = lines.clone();
    t.swap(1, 2);
    write(join(&t));
    let (code, text) = verify_cli(&file);
    assert_eq!(code, 1);
    assert!(
        text.contains("FIRST BREAK") && text.contains(":2:"),
        "{text}"
    );

    // The last line truncated: what a crash mid-write leaves (that record was never
    // acknowledged), so it is reported as a note, not as tampering; a cut at a record
    // boundary is found with a witness (tests/audit_evidence.rs).
    let mut cut = join(&lines);
    cut.truncate(cut.len() - 20);
    write(cut);
    let (code, text) = verify_cli(&file);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("NOTE") && text.contains(":6: torn"), "{text}");
    // A torn line anywhere but at the end of a file is a broken record.
    let mut t = lines.clone();
    let half = &lines[2][..lines[2].len() / 2];
    t[2] = half;
    write(join(&t));
    let (code, text) = verify_cli(&file);
    assert_eq!(code, 1);
    assert!(text.contains(":3: not a complete JSON record"), "{text}");
}

#[tokio::test]
async fn an_unwritable_sink_fails_requests_closed() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the audit directory should be: every write fails.
    let blocked = dir.path().join("not-a-dir");
    std::fs::write(&blocked, b"x").unwrap();
    let toml = config_toml(&mock, "").replace("AUDIT_DIR", &blocked.display().to_string());
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["x-should-retry"], "false");
    assert_eq!(error_of(r).await.1, "audit_unavailable");
    let r = gw
        .chat(&json!({"model": "openai/gpt-4o", "stream": true, "messages": []}))
        .await;
    assert_eq!(r.status(), 503);
    assert_eq!(mock.count(), 0, "nothing reached the upstream");
    let ready = gw.client.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("failing"));

    // fail_open forwards anyway.
    let open = toml.replace("[audit]\n", "[audit]\nfail_open = true\n");
    let gw = TestGateway::from_toml(&open, Some(upstream_key())).await;
    assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    assert_eq!(mock.count(), 1);
}

#[tokio::test]
async fn a_restart_continues_the_chain_and_a_torn_tail_is_reported() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config_toml(&mock, "").replace("AUDIT_DIR", &dir.path().display().to_string());
    {
        let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
        gw.chat(&chat_body("openai/gpt-4o"))
            .await
            .text()
            .await
            .unwrap();
        gw.audit_records().await;
        gw.shutdown().await;
    }
    {
        let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
        gw.chat(&chat_body("openai/gpt-4o"))
            .await
            .text()
            .await
            .unwrap();
        gw.audit_records().await;
        gw.shutdown().await;
    }
    let report = verify_path(dir.path(), false).unwrap();
    assert!(report.ok(), "{}", report.render());
    assert_eq!(
        (report.records, report.last_seq),
        (4, Some(4)),
        "one chain across restarts"
    );

    // A crash mid-write leaves a torn line; the next start does not append to it.
    let last = audit_files(dir.path()).pop().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap();
    std::io::Write::write_all(&mut f, br#"{"type":"request","seq":5,"pr"#).unwrap();
    drop(f);
    let torn_len = std::fs::metadata(&last).unwrap().len();
    {
        let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
        assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
        gw.audit_records().await;
        gw.shutdown().await;
    }
    assert_eq!(
        std::fs::metadata(&last).unwrap().len(),
        torn_len,
        "the torn file was left as it was"
    );
    assert_eq!(
        audit_files(dir.path()).len(),
        2,
        "the chain continued in a new file"
    );
    let report = verify_path(dir.path(), false).unwrap();
    assert_eq!(report.last_seq, Some(6));
    // A crash artifact, reported but not a break: the chain itself is whole.
    assert!(report.ok(), "{}", report.render());
    assert_eq!(report.notes.len(), 1, "{}", report.render());
    assert!(report.notes[0].contains("torn"), "{}", report.render());
}

#[tokio::test]
async fn postgres_sink_appends_only_and_replicas_keep_their_own_chains() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    let table = common::unique_table();
    let mock = MockUpstream::start().await;
    let pg = |replica: &str| {
        config_toml(&mock, "").replace(
            "[audit]\ndir = \"AUDIT_DIR\"\n",
            &format!("[audit]\nsink = \"postgres\"\npostgres_url = \"{url}\"\npostgres_table = \"{table}\"\nreplica_id = \"{replica}\"\n"),
        )
    };
    let a = TestGateway::from_toml(&pg("replica-a"), Some(upstream_key())).await;
    let b = TestGateway::from_toml(&pg("replica-b"), Some(upstream_key())).await;
    let mut tasks = Vec::new();
    let (a, b) = (Arc::new(a), Arc::new(b));
    for i in 0..10 {
        let gw = if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        tasks.push(tokio::spawn(async move {
            gw.chat(&chat_body("openai/gpt-4o")).await.status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    // A response record is written after its answer went back: wait until both replicas'
    // ten records are in (a fixed pause was too short for a loaded CI machine).
    let mut reports = Vec::new();
    for _ in 0..100 {
        reports = orguard::audit::verify::verify_postgres(&url, &table, &Default::default())
            .await
            .unwrap();
        if reports.len() == 2 && reports.iter().all(|r| r.records >= 10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert!(r.ok(), "{}", r.render());
        assert_eq!(r.records, 10, "{}", r.render());
    }
    let out = command()
        .args(["audit", "verify", &url, "--table", &table])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    for sql in [
        format!("UPDATE {table} SET kind = 'x'"),
        format!("DELETE FROM {table} WHERE seq = 1"),
        format!("TRUNCATE {table}"),
    ] {
        let err = client.batch_execute(&sql).await.unwrap_err();
        assert!(format!("{err:?}").contains("append-only"), "{sql}: {err:?}");
    }
    let count: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 20);
    client
        .batch_execute(&format!(
            "DROP TABLE {table}; DROP FUNCTION {table}_append_only()"
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreachable_database_fails_requests_closed() {
    let mock = MockUpstream::start().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let toml = config_toml(&mock, "").replace(
        "[audit]\ndir = \"AUDIT_DIR\"\n",
        &format!(
            "[audit]\nsink = \"postgres\"\npostgres_url = \"postgres://postgres@{dead}/test\"\n"
        ),
    );
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 503);
    assert_eq!(error_of(r).await.1, "audit_unavailable");
    assert_eq!(mock.count(), 0);
}

#[tokio::test]
async fn rotation_keeps_one_chain_across_files_and_interval_fsync_writes_too() {
    let mock = MockUpstream::start().await;
    let toml = config_toml(&mock, "").replace(
        "[audit]\n",
        "[audit]\nrotate_bytes = 4096\nfsync = \"interval\"\nfsync_interval_ms = 50\n",
    );
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    for _ in 0..12 {
        assert_eq!(gw.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    }
    gw.audit_records().await;
    let files = audit_files(gw.audit_dir.path());
    assert!(files.len() >= 3, "{files:?}");
    let report = verify_path(gw.audit_dir.path(), false).unwrap();
    assert!(report.ok(), "{}", report.render());
    assert_eq!(report.records, 24);
    // Each file after the first starts where the previous one ended.
    let first_line = std::fs::read_to_string(&files[1])
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let first: Value = serde_json::from_str(&first_line).unwrap();
    let name = files[1].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with(&format!("audit-{:016}-", first["seq"].as_u64().unwrap())),
        "{name}"
    );
}

#[tokio::test]
async fn retention_removes_old_files_but_keeps_cost_data_longer() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let base = config_toml(&mock, "").replace("AUDIT_DIR", &dir.path().display().to_string());
    let toml = |retention: &str| {
        base.replace(
            "[audit]\n",
            &format!("[audit]\nrotate_bytes = 4096\n{retention}\n"),
        )
    };
    {
        let gw = TestGateway::from_toml(&toml("retention_days = 0"), Some(upstream_key())).await;
        for _ in 0..8 {
            gw.chat(&chat_body("openai/gpt-4o"))
                .await
                .text()
                .await
                .unwrap();
        }
        gw.audit_records().await;
        gw.shutdown().await;
    }
    let before = audit_files(dir.path());
    assert!(before.len() >= 3);
    let ten_days_ago = std::time::SystemTime::now() - Duration::from_secs(10 * 86_400);
    for f in &before[..2] {
        std::fs::File::options()
            .append(true)
            .open(f)
            .unwrap()
            .set_modified(ten_days_ago)
            .unwrap();
    }
    // Operational retention 5 days, cost data 30: the old files hold responses, so they stay.
    {
        let gw = TestGateway::from_toml(
            &toml("retention_days = 5\nfinancial_retention_days = 30"),
            Some(upstream_key()),
        )
        .await;
        for _ in 0..4 {
            gw.chat(&chat_body("openai/gpt-4o"))
                .await
                .text()
                .await
                .unwrap();
        }
        gw.audit_records().await;
        gw.shutdown().await;
    }
    assert!(
        audit_files(dir.path()).contains(&before[0]),
        "cost data is kept for financial_retention_days"
    );
    // Cost retention 7 days: now they go, and the rest still verifies from where it starts.
    {
        let gw = TestGateway::from_toml(
            &toml("retention_days = 5\nfinancial_retention_days = 7"),
            Some(upstream_key()),
        )
        .await;
        for _ in 0..4 {
            gw.chat(&chat_body("openai/gpt-4o"))
                .await
                .text()
                .await
                .unwrap();
        }
        gw.audit_records().await;
        gw.shutdown().await;
    }
    let after = audit_files(dir.path());
    assert!(
        !after.contains(&before[0]) && !after.contains(&before[1]),
        "{after:?}"
    );
    assert!(
        !verify_path(dir.path(), false).unwrap().ok(),
        "without the first files the chain no longer starts at 1"
    );
    let report = verify_path(dir.path(), true).unwrap();
    assert!(report.ok(), "{}", report.render());
}

#[tokio::test]
async fn a_client_that_leaves_still_gets_its_response_record() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    // Non-streamed: the client gives up while the upstream is still working.
    mock.push(Reply::Delayed(
        Duration::from_millis(800),
        Box::new(Reply::ok(common::mock::chat_completion())),
    ));
    let r = gw
        .post("/api/v1/chat/completions")
        .timeout(Duration::from_millis(200))
        .body(chat_body("openai/gpt-4o").to_string())
        .send()
        .await;
    assert!(r.is_err(), "the client timed out");
    // Wait for that request's record before queueing the stream: on a loaded machine the
    // first request may not have reached the upstream yet, and the stream's request would
    // then take the delayed plain reply meant for it (and complete).
    wait_for_responses(&gw, 1).await;
    mock.drop_pending();
    // Streamed: the client reads one event and leaves (the stream would run for 10 s, so
    // even a heavily loaded machine cannot see it complete first).
    mock.push(Reply::chat_stream(200, Duration::from_millis(50)));
    let r = gw
        .chat(&json!({"model": "openai/gpt-4o", "stream": true, "messages": []}))
        .await;
    let mut s = r.bytes_stream();
    futures_util::StreamExt::next(&mut s).await;
    drop(s);
    // The server notices the closed socket on its next write: wait for the record rather
    // than for a fixed time (a loaded machine is slower than any fixed wait).
    let records = wait_for_responses(&gw, 2).await;
    // In either order: which of the two the gateway notices first depends on the load.
    let mut responses: Vec<(String, u64)> = records
        .iter()
        .filter(|r| r["type"] == "response")
        .map(|r| {
            (
                r["outcome"].as_str().unwrap_or_default().to_owned(),
                r["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    responses.sort_by_key(|r| std::cmp::Reverse(r.1));
    let cancelled = "client_cancelled".to_owned();
    assert_eq!(
        responses,
        vec![(cancelled.clone(), 499), (cancelled, 200)],
        "{records:#?}"
    );
    assert!(verify_path(gw.audit_dir.path(), false).unwrap().ok());
}

/// The audit's records once it holds at least `n` response records (or after 10 s: the
/// caller's assertion then says what was there).
async fn wait_for_responses(gw: &TestGateway, n: usize) -> Vec<Value> {
    let mut records = gw.audit_records().await;
    for _ in 0..100 {
        if records.iter().filter(|r| r["type"] == "response").count() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        records = gw.audit_records().await;
    }
    records
}

/// Clients that give up at every point of the request — while the request record is being
/// stored included — still leave one `response` record per forwarded `request` record.
#[tokio::test]
async fn every_request_record_is_answered_whenever_the_client_leaves() {
    use futures_util::StreamExt;
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let body = chat_body("openai/gpt-4o").to_string();
    // How long a whole request takes on this machine (audit fsync included), so the
    // cancellations below are spread over the whole path however fast or slow it is.
    let mut full = Duration::ZERO;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let r = gw
            .post("/api/v1/chat/completions")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        r.bytes().await.unwrap();
        full = full.max(started.elapsed());
    }
    let span_us = u64::try_from(full.as_micros()).unwrap().max(1_000) * 2;
    let calls = (0..240u64).map(|i| {
        let gw = &gw;
        let body = body.clone();
        async move {
            // Timeouts from 50 µs to twice a whole request.
            let _ = gw
                .post("/api/v1/chat/completions")
                .timeout(Duration::from_micros(50 + (i * 997) % span_us))
                .body(body)
                .send()
                .await;
        }
    });
    futures_util::stream::iter(calls)
        .buffer_unordered(24)
        .collect::<Vec<()>>()
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let records = gw.audit_records().await;
    let ids = |kind: &str| -> std::collections::BTreeSet<String> {
        records
            .iter()
            .filter(|r| r["type"] == kind)
            .filter_map(|r| r["request_id"].as_str().map(str::to_owned))
            .collect()
    };
    let (requests, responses) = (ids("request"), ids("response"));
    assert!(
        !requests.is_empty(),
        "some requests got as far as the audit"
    );
    let unanswered: Vec<_> = requests.difference(&responses).collect();
    assert!(
        unanswered.is_empty(),
        "{} of {} request records have no response record",
        unanswered.len(),
        requests.len()
    );
    assert!(verify_path(gw.audit_dir.path(), false).unwrap().ok());
}

#[tokio::test]
async fn two_processes_cannot_share_one_audit_directory() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config_toml(&mock, "").replace("AUDIT_DIR", &dir.path().display().to_string());
    let first = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    assert_eq!(first.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    let second = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    let r = second.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(
        r.status(),
        503,
        "the second writer fails closed instead of interleaving chains"
    );
    assert_eq!(first.chat(&chat_body("openai/gpt-4o")).await.status(), 200);
    first.audit_records().await;
    assert!(verify_path(dir.path(), false).unwrap().ok());
}

#[tokio::test]
async fn prompt_hashes_are_keyed_when_a_key_file_is_set() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    std::fs::write(&key, "an audit hmac key\n").unwrap();
    let plain = TestGateway::start(&mock).await;
    let keyed_toml = config_toml(&mock, "").replace(
        "[audit]\n",
        &format!("[audit]\nhmac_key_file = \"{}\"\n", key.display()),
    );
    let keyed = TestGateway::from_toml(&keyed_toml, Some(upstream_key())).await;
    let body = chat_body("openai/gpt-4o");
    plain.chat(&body).await.text().await.unwrap();
    keyed.chat(&body).await.text().await.unwrap();
    let a = plain
        .audit_records()
        .await
        .into_iter()
        .find(|r| r["type"] == "request")
        .unwrap();
    let b = keyed
        .audit_records()
        .await
        .into_iter()
        .find(|r| r["type"] == "request")
        .unwrap();
    assert_eq!(a["prompt_hash"], "sha256");
    assert_eq!(b["prompt_hash"], "hmac-sha256");
    // Plain SHA-256 of the canonical prompt fields, as documented; the keyed one differs.
    let canonical = orguard::audit::chain::canonical(&json!({"messages": body["messages"]}));
    assert_eq!(
        a["prompt_sha256"],
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    assert_ne!(a["prompt_sha256"], b["prompt_sha256"]);
    assert_eq!(
        a["body_sha256"], b["body_sha256"],
        "the same body was forwarded"
    );
}

/// Tool-call arguments are JSON inside a string, which the scan parses and writes back
/// compact: the prompt hash is taken over them as written back, so the same call hashes the
/// same however the client spaced it, and an auditor recomputes it from the compact form.
/// (Taking the hash before the scan hashed the spacing instead.)
#[tokio::test]
async fn the_prompt_hash_reads_tool_call_arguments_as_the_scan_writes_them_back() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let with_arguments = |arguments: &str| {
        json!({
            "model": "openai/gpt-4o",
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "tool_calls": [{
                    "id": "c1", "type": "function",
                    "function": {"name": "get", "arguments": arguments}
                }]},
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
            ]
        })
    };
    let spaced = with_arguments("{\"city\": \"Paris\",  \"days\": 1.50}");
    let compact = with_arguments("{\"city\":\"Paris\",\"days\":1.5}");
    for body in [&spaced, &compact] {
        let r = gw.chat(body).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let hashes: Vec<Value> = gw
        .audit_records()
        .await
        .into_iter()
        .filter(|r| r["type"] == "request")
        .map(|r| r["prompt_sha256"].clone())
        .collect();
    assert_eq!(hashes.len(), 2);
    let canonical = orguard::audit::chain::canonical(&json!({"messages": compact["messages"]}));
    let expected = hex::encode(Sha256::digest(canonical.as_bytes()));
    assert_eq!(hashes, [expected.clone(), expected]);
}

#[tokio::test]
async fn denied_records_name_the_route_and_the_model_asked_for_never_a_detected_value() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    // A model the class does not allow: the record says which one was asked for.
    let r = gw.chat(&chat_body("openrouter/auto")).await;
    assert_eq!(r.status(), 403);
    // A model id carrying a key: refused, and the id is not repeated in the audit.
    let secret = format!("sk-or-v1-{}", "cd".repeat(32));
    let r = gw.chat(&chat_body(&format!("openai/{secret}"))).await;
    assert_eq!(r.status(), 403);
    // A model id that is not one (spaces, mixed punctuation): whatever the client put
    // there, in a shape no detector need know; refused, and not repeated either.
    let odd = "x/some private words here";
    let r = gw.chat(&chat_body(odd)).await;
    let status = r.status();
    assert_eq!(status, 400, "{}", r.text().await.unwrap());
    // An unknown variant suffix is the client's text: neither the error nor the record
    // repeats it; the record keeps the id before it.
    let r = gw
        .chat(&chat_body("openai/gpt-4o:hunter2-of-the-ceo"))
        .await;
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("variant_not_allowed") && !text.contains("hunter2"),
        "{text}"
    );
    let denied: Vec<Value> = gw
        .audit_records()
        .await
        .into_iter()
        .filter(|r| r["type"] == "denied")
        .collect();
    assert_eq!(denied.len(), 4, "{denied:#?}");
    assert_eq!(
        denied[3]["model_requested"], "openai/gpt-4o",
        "{}",
        denied[3]
    );
    assert!(!denied[3].to_string().contains("hunter2"), "{}", denied[3]);
    assert!(denied[2].get("model_requested").is_none(), "{}", denied[2]);
    assert!(
        !denied[2].to_string().contains("private words"),
        "{}",
        denied[2]
    );
    assert_eq!(denied[0]["endpoint"], "chat_completions");
    assert_eq!(denied[0]["model_requested"], "openrouter/auto");
    assert_eq!(denied[1]["endpoint"], "chat_completions");
    assert!(denied[1].get("model_requested").is_none(), "{}", denied[1]);
    assert!(!denied[1].to_string().contains(&secret[10..]));
}

/// Every record names the client's address: the socket's peer by default, whatever
/// `X-Forwarded-For` says; behind `server.trusted_proxy_hops` proxies, the entry the
/// outermost of them appended, with the peer beside it. The header's text never reaches
/// the trail, only a parsed address.
#[tokio::test]
async fn every_record_carries_the_client_address_and_trusts_forwarded_for_only_as_configured() {
    let mock = MockUpstream::start().await;
    mock.set_default(Reply::ok(common::mock::chat_completion()));

    // No trusted proxy: the header is the client's own text and is ignored.
    let gw = TestGateway::start(&mock).await;
    let r = gw
        .post("/api/v1/chat/completions")
        .header("x-forwarded-for", "203.0.113.9")
        .body(chat_body("openai/gpt-4o").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = gw
        .client
        .post(gw.url("/api/v1/chat/completions"))
        .header("x-forwarded-for", "203.0.113.9")
        .body(chat_body("openai/gpt-4o").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no key: refused and audited as denied");
    let records = gw.audit_records().await;
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["request", "response", "denied"], "{records:#?}");
    for r in &records {
        assert_eq!(r["client"], "127.0.0.1", "{r}");
        assert!(r.get("peer").is_none(), "{r}");
    }

    // One trusted proxy (a load balancer that appends the address it saw).
    let toml = config_toml(&mock, "").replace(
        "drain_seconds = 5\n",
        "drain_seconds = 5\ntrusted_proxy_hops = 1\n",
    );
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    for xff in [
        "6.6.6.6, 203.0.113.9",
        "alice@example.com",
        "[2001:db8::7]:4711",
    ] {
        let r = gw
            .post("/api/v1/chat/completions")
            .header("x-forwarded-for", xff)
            .body(chat_body("openai/gpt-4o").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let records = gw.audit_records().await;
    let clients: Vec<(&str, Option<&str>)> = records
        .iter()
        .map(|r| (r["client"].as_str().unwrap(), r["peer"].as_str()))
        .collect();
    assert_eq!(
        clients,
        [
            ("203.0.113.9", Some("127.0.0.1")),
            ("203.0.113.9", Some("127.0.0.1")),
            // Not an address: the peer is the only fact left.
            ("127.0.0.1", None),
            ("127.0.0.1", None),
            ("2001:db8::7", Some("127.0.0.1")),
            ("2001:db8::7", Some("127.0.0.1")),
        ],
        "the rightmost entry (the proxy's), never the client-written one to its left"
    );
    let text: String = audit_files(gw.audit_dir.path())
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(
        !text.contains("alice"),
        "header text never reaches the trail"
    );
    assert!(!text.contains("6.6.6.6"));
}

/// The README's outcome table is the vocabulary: every value the gateway can write is
/// documented there, and nothing else is.
#[test]
fn the_readme_documents_every_outcome() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("| outcome | meaning |"))
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('`').nth(1))
        .collect();
    let written: Vec<&str> = orguard::audit::record::Outcome::ALL
        .iter()
        .map(|o| o.as_str())
        .collect();
    assert_eq!(table, written);
}
