//! The binary: config loading (file, env, embedded default), refusal of invalid configs,
//! `keys new`, SIGTERM draining, and logs that never carry secrets or prompt text.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::io::Write;
use std::time::Duration;

use common::process::{command, GatewayProcess};
use common::{upstream_key, MockUpstream, Reply};
use futures_util::StreamExt;
use serde_json::json;

fn write_config(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("orguard.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

/// Points the binary at the mock; returns its audit directory (under the temp dir).
fn mock_env(cmd: &mut std::process::Command, mock: &MockUpstream) -> std::path::PathBuf {
    let audit = tempfile::tempdir().unwrap().keep();
    cmd.env("ORGUARD_AUDIT__DIR", &audit)
        .env("ORGUARD_SERVER__LISTEN", "127.0.0.1:0")
        // The credit watch would take the mock's first scripted reply.
        .env("ORGUARD_UPSTREAM__CREDIT_POLL_SECONDS", "0")
        .env("ORGUARD_UPSTREAM__PROVIDERS_REFRESH_SECONDS", "0")
        .env("ORGUARD_UPSTREAM__MODELS_REFRESH_SECONDS", "0")
        .env("ORGUARD_UPSTREAM__BASE_URL", mock.base_url())
        .env("ORGUARD_UPSTREAM__ALLOW_INSECURE_HTTP", "true")
        .env("OPENROUTER_API_KEY", upstream_key());
    audit
}

#[test]
fn invalid_config_refuses_to_start_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, "[server]\nlisten = \"127.0.0.1:0\"\ndrain_secs = 5\n");
    let out = command().arg("--config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("drain_secs"), "{err}");

    // Env layer: a plain-http upstream without the explicit opt-in.
    let out = command()
        .env("ORGUARD_UPSTREAM__BASE_URL", "http://127.0.0.1:9/api/v1")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("upstream.base_url") && err.contains("plain http"),
        "{err}"
    );

    // Wrong type from env.
    let out = command()
        .env("ORGUARD_SERVER__MAX_BODY_BYTES", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_body_bytes"));

    // A config file that does not exist is an error, not a silent fallback.
    let out = command()
        .env("ORGUARD_CONFIG", dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[tokio::test]
async fn embedded_default_serves_the_demo_key_and_env_overrides_apply() {
    let mock = MockUpstream::start().await;
    let mut cmd = command();
    mock_env(&mut cmd, &mock);
    let gw = GatewayProcess::spawn(cmd);
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(gw.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client.get(gw.url("/readyz")).send().await.unwrap().status(),
        200
    );
    let r = client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("ogk_demo_local_only")
        .json(&common::chat_body("openai/gpt-4o"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = mock.last();
    assert_eq!(
        got.headers["x-title"], "orguard demo",
        "the example config's service headers"
    );
    assert!(
        gw.logs().contains("demo key"),
        "the demo key is warned about:\n{}",
        gw.logs()
    );
}

/// Each thread of process `pid`: its name, niceness and scheduling policy, from
/// `/proc/PID/task/TID/stat` (fields 19 and 41; the name may hold spaces, so fields are
/// counted after its closing parenthesis).
#[cfg(target_os = "linux")]
fn threads(pid: u32) -> Vec<(String, i64, u64)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = task.unwrap().path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue; // the thread ended
        };
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let rest: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .collect();
        out.push((
            comm.trim().to_owned(),
            rest[16].parse().unwrap(),
            rest[38].parse().unwrap(),
        ));
    }
    out
}

/// The audit writer runs under `SCHED_BATCH` (policy 3) at the process's own niceness, so
/// that queuing a record does not preempt the request worker that queued it; the request
/// workers keep the default policy (0). The process runs at nice 5, so keeping the
/// niceness is shown at a value other than the default (and is not privileged: raising a
/// thread back to 0 would be refused).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_audit_writer_thread_runs_under_sched_batch_at_the_process_niceness() {
    let mock = MockUpstream::start().await;
    // `nice` execs the binary: same process, niceness 5.
    let mut cmd = common::process::command_through("nice", &["-n", "5"]);
    mock_env(&mut cmd, &mock);
    let gw = GatewayProcess::spawn(cmd);
    let pid = gw.child.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let found = loop {
        let found = threads(pid);
        let writer_set = found
            .iter()
            .any(|(name, _, policy)| name == "orguard-audit" && *policy == 3);
        if writer_set || std::time::Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let nice = |name: &str| {
        found
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, nice, policy)| (*nice, *policy))
    };
    let (main_nice, main_policy) = nice("orguard").expect("the main thread");
    assert_eq!(main_nice, 5, "started under `nice -n 5`: {found:?}");
    // Run under another policy (a real-time or batch test runner), the process inherits
    // it and the writer must keep it.
    let writer_policy = if main_policy == 0 { 3 } else { main_policy };
    assert_eq!(
        nice("orguard-audit"),
        Some((main_nice, writer_policy)),
        "the writer is SCHED_BATCH at the process's niceness: {found:?}"
    );
    assert_eq!(
        nice("tokio-rt-worker"),
        Some((main_nice, main_policy)),
        "request workers keep the process's policy: {found:?}"
    );
}

#[tokio::test]
async fn keys_new_prints_a_working_key_and_config_entry() {
    let out = command()
        .args([
            "keys",
            "new",
            "--service",
            "billing",
            "--id",
            "billing-2026",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let key = text
        .split_whitespace()
        .find(|w| w.starts_with("ogk_"))
        .expect("a key is printed")
        .to_owned();
    assert!(
        text.contains("id = \"billing-2026\"") && text.contains("service = \"billing\""),
        "{text}"
    );
    assert!(
        text.contains(&format!("sha256 = \"{}\"", common::sha256_hex(&key))),
        "{text}"
    );
    assert!(text.contains("expires = \"20"), "{text}");
    // A second call gives a different key.
    let again = command()
        .args(["keys", "new", "--service", "billing"])
        .output()
        .unwrap();
    assert!(!String::from_utf8(again.stdout).unwrap().contains(&key));

    // The printed snippet, pasted into a config, admits the key.
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let snippet: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = write_config(
        &dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[classes.internal]\nmodels = [\"*\"]\n{snippet}"
        ),
    );
    let mut cmd = command();
    mock_env(&mut cmd, &mock);
    cmd.arg("--config").arg(&path);
    let gw = GatewayProcess::spawn(cmd);
    let client = reqwest::Client::new();
    let r = client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&common::chat_body("openai/gpt-4o"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth("ogk_demo_local_only")
        .json(&common::chat_body("openai/gpt-4o"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "the file config replaces the embedded one entirely"
    );
}

#[tokio::test]
async fn sigterm_drains_a_live_stream_then_exits_zero() {
    let mock = MockUpstream::start().await;
    mock.push(Reply::chat_stream(10, Duration::from_millis(150)));
    let mut cmd = command();
    let audit_dir = mock_env(&mut cmd, &mock);
    let mut gw = GatewayProcess::spawn(cmd);
    let client = reqwest::Client::new();
    let r = client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth("ogk_demo_local_only")
        .json(&json!({"model": "openai/gpt-4o", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    gw.terminate();
    // New connections are refused soon after the signal...
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        client
            .get(gw.url("/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_err(),
        "stopped accepting"
    );
    // ...while the stream in flight runs to completion.
    let mut text = String::from_utf8_lossy(&first).into_owned();
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(
        text.contains("tok9") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    let code = tokio::task::spawn_blocking(move || {
        let code = gw.wait_exit(Duration::from_secs(10));
        (code, gw.logs())
    })
    .await
    .unwrap();
    assert_eq!(code.0, Some(0), "logs:\n{}", code.1);
    // Nothing was lost: the stream's response record was written before the exit.
    let report = orguard::audit::verify::verify_path(&audit_dir, false).unwrap();
    assert!(report.ok(), "{}", report.render());
    assert_eq!(
        report.by_type.get("response"),
        Some(&1),
        "{}",
        report.render()
    );
}

#[tokio::test]
async fn sigterm_exits_at_the_drain_deadline_when_a_stream_never_ends() {
    let mock = MockUpstream::start().await;
    mock.push(Reply::Sse {
        chunks: vec![(Duration::ZERO, "data: {}\n\n".into())],
        ending: common::StreamEnding::Hang,
    });
    let mut cmd = command();
    mock_env(&mut cmd, &mock);
    cmd.env("ORGUARD_SERVER__DRAIN_SECONDS", "1")
        .env("ORGUARD_UPSTREAM__IDLE_TIMEOUT_MS", "60000");
    let mut gw = GatewayProcess::spawn(cmd);
    let client = reqwest::Client::new();
    let r = client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth("ogk_demo_local_only")
        .json(&json!({"model": "openai/gpt-4o", "stream": true, "messages": []}))
        .send()
        .await
        .unwrap();
    let mut body = r.bytes_stream();
    body.next().await.unwrap().unwrap();
    gw.terminate();
    let started = std::time::Instant::now();
    let code = tokio::task::spawn_blocking(move || gw.wait_exit(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "it drained for the deadline first ({waited:?})"
    );
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test]
async fn logs_never_carry_keys_prompts_or_completions() {
    let mock = MockUpstream::start().await;
    let canaries = [
        "jane.canary@example.com",
        "+44 20 7946 0958",
        "canary-prompt-text",
        "Hello from the mock",
    ];
    let client_secret = format!("sk-or-v1-{}", "c0".repeat(32));
    let mut cmd = command();
    let audit_dir = mock_env(&mut cmd, &mock);
    cmd.env("RUST_LOG", "trace")
        .env("ORGUARD_LOG__FORMAT", "json");
    let gw = GatewayProcess::spawn(cmd);
    let client = reqwest::Client::new();
    let body = json!({"model": "openai/gpt-4o", "user": canaries[0],
        "messages": [{"role": "user", "content": format!("{} {} {}", canaries[0], canaries[1], canaries[2])}]});
    let r = client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth("ogk_demo_local_only")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap();
    // A secret in the prompt is blocked (and its value appears nowhere).
    let mut with_secret = body.clone();
    with_secret["messages"][0]["content"] = json!(format!("{} {client_secret}", canaries[2]));
    let r = client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth("ogk_demo_local_only")
        .json(&with_secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        !r.text().await.unwrap().contains("c0c0"),
        "the error names the type, not the value"
    );
    // Refused ones too: an upstream key as bearer, a bad body, a stream.
    let r = client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(&client_secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let bad = format!(r#"{{"model":"a","model":"{}"}}"#, canaries[2]);
    let r = client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth("ogk_demo_local_only")
        .header("content-type", "application/json")
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    mock.push(Reply::chat_stream(3, Duration::from_millis(10)));
    let mut stream_body = body.clone();
    stream_body["stream"] = json!(true);
    let r = client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth("ogk_demo_local_only")
        .json(&stream_body)
        .send()
        .await
        .unwrap();
    r.text().await.unwrap();
    // A value in a path no route matches, in a model id's path and in a query string:
    // the access log names the route, never the path as sent.
    let path_canary = "path.canary%40example.org";
    for (method, path, status) in [
        (
            "POST",
            format!("/api/v1/chat/completions/{path_canary}"),
            404,
        ),
        ("GET", format!("/v1/{path_canary}"), 404),
        ("GET", format!("/v1/models/openai/{path_canary}"), 404),
        // The query string is scanned like body text: the address in it is refused.
        ("GET", format!("/v1/models?q={path_canary}"), 403),
        // The method is client text too: a token of the client's choosing.
        ("METHOD.CANARY", "/v1/models".to_owned(), 405),
    ] {
        let url = gw.url(&path);
        let request = match method {
            "POST" => client.post(url).json(&body),
            "GET" => client.get(url),
            other => client.request(reqwest::Method::from_bytes(other.as_bytes()).unwrap(), url),
        };
        let r = request
            .bearer_auth("ogk_demo_local_only")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{method} {path}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut logs = gw.logs();
    assert!(
        logs.contains("\"route\":\"unrouted\"") && logs.contains("\"route\":\"/v1/models/{*id}\""),
        "404s are logged by route:\n{logs}"
    );
    // The audit trail is held to the same standard as the logs.
    for f in std::fs::read_dir(&audit_dir).unwrap() {
        logs.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap());
    }
    assert!(
        logs.contains("\"type\":\"request\""),
        "the audit trail was written"
    );
    assert!(
        logs.contains("request served") && logs.contains("stream ended"),
        "the log has request lines:\n{logs}"
    );
    assert!(
        logs.contains("\"request_id\":\"req_"),
        "JSON lines carry the request id:\n{logs}"
    );
    assert!(
        logs.contains("call completed")
            && logs.contains("\"generation_id\":\"gen-1739458867")
            && logs.contains("\"completion_tokens\":4")
            && logs
                .lines()
                .any(|l| l.contains("call completed") && l.contains("\"user\":\"u_")),
        "one summary line per call with generation id, model, tokens, cost and the user's pseudonym:\n{logs}"
    );
    for canary in canaries.iter().copied().chain([
        client_secret.as_str(),
        upstream_key().as_str(),
        "ogk_demo_local_only",
        "tok1",
        "path.canary",
        "METHOD.CANARY",
    ]) {
        assert!(
            !logs.contains(canary),
            "{canary} leaked into the logs:\n{logs}"
        );
    }
}

#[tokio::test]
async fn sighup_reloads_the_config_and_keeps_it_when_invalid() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key_a = "ogk_reload_key_a";
    let key_b = "ogk_reload_key_b";
    let config = |key: &str, extra: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[classes.internal]\nmodels = [\"*\"]\n{extra}\n[[keys]]\nid = \"k\"\nservice = \"s\"\nsha256 = \"{}\"\n",
            common::sha256_hex(key)
        )
    };
    let path = write_config(&dir, &config(key_a, ""));
    let mut cmd = command();
    mock_env(&mut cmd, &mock);
    cmd.arg("--config").arg(&path);
    let gw = GatewayProcess::spawn(cmd);
    let client = reqwest::Client::new();
    let status = |key: &'static str| {
        let req = client
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&common::chat_body("openai/gpt-4o"))
            .send();
        async move { req.await.unwrap().status().as_u16() }
    };
    assert_eq!(status(key_a).await, 200);
    assert_eq!(status(key_b).await, 401);
    let hup = |pid: u32| {
        assert!(std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success())
    };

    // Rotate: the file now admits key B only.
    std::fs::write(&path, config(key_b, "")).unwrap();
    hup(gw.child.id());
    let mut reloaded = false;
    for _ in 0..50 {
        if status(key_b).await == 200 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded, "SIGHUP reloaded the config:\n{}", gw.logs());
    assert_eq!(status(key_a).await, 401);

    // An invalid file is rejected and the running config stays.
    std::fs::write(&path, config(key_a, "bogus_key = 1")).unwrap();
    hup(gw.child.id());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status(key_b).await, 200);
    assert_eq!(status(key_a).await, 401);
    assert!(
        gw.logs().contains("config reload rejected"),
        "{}",
        gw.logs()
    );
}

#[tokio::test]
async fn the_stdout_audit_sink_writes_a_verifiable_chain() {
    let mock = MockUpstream::start().await;
    let mut cmd = command();
    mock_env(&mut cmd, &mock);
    cmd.env("ORGUARD_AUDIT__SINK", "stdout");
    let mut gw = GatewayProcess::spawn(cmd);
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let r = client
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth("ogk_demo_local_only")
            .json(&common::chat_body("openai/gpt-4o"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    gw.terminate();
    let out = tokio::task::spawn_blocking(move || {
        let code = gw.wait_exit(Duration::from_secs(10));
        let mut stdout = String::new();
        std::io::Read::read_to_string(gw.child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
        (code, stdout)
    })
    .await
    .unwrap();
    assert_eq!(out.0, Some(0));
    let lines: Vec<&str> = out.1.lines().collect();
    assert_eq!(lines.len(), 6, "{}", out.1);
    let positions = lines.iter().enumerate().map(|(i, l)| {
        (
            orguard::audit::verify::Position {
                source: "stdout".into(),
                line: i + 1,
            },
            l.as_bytes(),
        )
    });
    let report = orguard::audit::verify::walk("stdout", positions, false);
    assert!(report.ok(), "{}", report.render());
}

/// The variables a kubelet injects for a Service named `orguard` (service links).
const SERVICE_LINKS: [(&str, &str); 8] = [
    ("ORGUARD_PORT", "tcp://10.0.0.1:8080"),
    ("ORGUARD_SERVICE_HOST", "10.0.0.1"),
    ("ORGUARD_SERVICE_PORT", "8080"),
    ("ORGUARD_SERVICE_PORT_HTTP", "8080"),
    ("ORGUARD_PORT_8080_TCP", "tcp://10.0.0.1:8080"),
    ("ORGUARD_PORT_8080_TCP_PROTO", "tcp"),
    ("ORGUARD_PORT_8080_TCP_PORT", "8080"),
    ("ORGUARD_PORT_8080_TCP_ADDR", "10.0.0.1"),
];

/// Kubernetes service links are not config: the gateway starts, serves, and says at debug
/// level which variables it ignored (names only); `check` passes the config too.
#[tokio::test]
async fn kubernetes_service_link_variables_are_ignored() {
    let mock = MockUpstream::start().await;
    let mut cmd = command();
    mock_env(&mut cmd, &mock);
    cmd.envs(SERVICE_LINKS)
        .env("ORGUARD_LOG__LEVEL", "orguard=debug")
        .arg("serve");
    let gw = GatewayProcess::spawn(cmd);
    let client = reqwest::Client::new();
    let r = client.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth("ogk_demo_local_only")
        .json(&common::chat_body("openai/gpt-4o"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "the documented ORGUARD_<SECTION>__<KEY> still apply"
    );
    let logs = gw.logs();
    assert!(
        logs.contains("ignoring an ORGUARD_ variable")
            && logs.contains("ORGUARD_PORT_8080_TCP_PROTO"),
        "{logs}"
    );
    assert!(!logs.contains("10.0.0.1"), "values are not logged:\n{logs}");

    let audit = tempfile::tempdir().unwrap();
    let mut check = command();
    check
        .envs(SERVICE_LINKS)
        .env("ORGUARD_AUDIT__DIR", audit.path())
        .arg("check")
        .arg("--no-test-request");
    let out = check.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let config_line = text
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("config"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(config_line.starts_with("PASS"), "{text}");
}

/// Reloads are visible: counted by result, the last applied one timestamped, a rejected
/// one shown on `/readyz` (still 200: the previous config serves), and a change that
/// needs a restart warned about.
#[tokio::test]
async fn sighup_reloads_are_counted_shown_on_readyz_and_restart_only_changes_warned() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = |extra: &str| {
        format!(
            "[classes.internal]\nmodels = [\"*\"]\n{extra}\n[[keys]]\nid = \"k\"\nservice = \"s\"\nsha256 = \"{}\"\n",
            common::sha256_hex("ogk_reload_metrics")
        )
    };
    let path = write_config(&dir, &config(""));
    let mut cmd = command();
    mock_env(&mut cmd, &mock);
    cmd.arg("--config").arg(&path);
    let gw = GatewayProcess::spawn(cmd);
    let client = reqwest::Client::new();
    let hup = || {
        assert!(std::process::Command::new("kill")
            .args(["-HUP", &gw.child.id().to_string()])
            .status()
            .unwrap()
            .success())
    };
    let metrics = || async {
        client
            .get(gw.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let sample = |text: &str, series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };
    let loaded_at = "orguard_config_last_reload_success_timestamp_seconds";
    let text = metrics().await;
    assert_eq!(
        sample(&text, "orguard_config_reloads_total{result=\"rejected\"}"),
        0.0
    );
    let started_at = sample(&text, loaded_at);
    assert!(started_at > 1.7e9, "{text}");

    // A rejected reload: counted, and on /readyz until a reload is applied. The counter
    // moves last, so once it has moved /readyz must already show the rejection.
    std::fs::write(&path, config("[server]\ndrain_secs = 3\n")).unwrap();
    hup();
    let mut counted = false;
    for _ in 0..100 {
        let text = metrics().await;
        if sample(&text, "orguard_config_reloads_total{result=\"rejected\"}") == 1.0 {
            assert_eq!(sample(&text, loaded_at), started_at);
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(counted, "{}", gw.logs());
    let r = client.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the previous config still serves");
    let readyz: serde_json::Value = r.json().await.unwrap();
    let shown = readyz["checks"]["config"].as_str().unwrap();
    assert!(
        shown.contains("reload rejected") && shown.contains("drain_secs"),
        "{readyz}"
    );

    // An applied reload that changes a start-only setting: applied, warned, pending.
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(&path, config("[admin]\nlisten = \"127.0.0.1:0\"\n")).unwrap();
    hup();
    let mut applied = false;
    for _ in 0..100 {
        let text = metrics().await;
        if sample(&text, "orguard_config_reloads_total{result=\"applied\"}") == 1.0 {
            assert!(sample(&text, loaded_at) > started_at, "{text}");
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(applied, "{}", gw.logs());
    let readyz: serde_json::Value = client
        .get(gw.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readyz["checks"]["config"], "ok", "{readyz}");
    assert_eq!(
        readyz["checks"]["restart_pending"],
        json!(["admin.listen"]),
        "{readyz}"
    );
    let logs = gw.logs();
    let warning = logs
        .lines()
        .find(|l| l.contains("need a restart"))
        .unwrap_or_else(|| panic!("no restart warning:\n{logs}"));
    assert!(
        warning.contains("WARN") && warning.contains("admin.listen"),
        "{warning}"
    );
}

/// `keys new` writes every field it sets; without `--min-class` the key cannot declare
/// itself below its default class (min_class defaults to default_class).
#[tokio::test]
async fn keys_new_sets_classes_and_limits_and_a_key_cannot_declare_itself_lower() {
    let new_key = |args: &[&str]| {
        let out = command()
            .args(["keys", "new", "--service", "billing"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let key = text
            .split_whitespace()
            .find(|w| w.starts_with("ogk_"))
            .unwrap()
            .to_owned();
        (key, text)
    };
    let (_, text) = new_key(&[
        "--id",
        "billing-x",
        "--default-class",
        "confidential",
        "--min-class",
        "internal",
        "--budget-usd",
        "12.5",
        "--rpm",
        "30",
        "--expires-days",
        "10",
    ]);
    for field in [
        "default_class = \"confidential\"",
        "min_class = \"internal\"",
        "budget_usd = 12.5",
        "rpm = 30",
        "expires = \"20",
        "created = \"20",
    ] {
        assert!(text.contains(field), "{field} in:\n{text}");
    }
    let expires = text
        .lines()
        .find_map(|l| l.strip_prefix("expires = \""))
        .unwrap()
        .trim_end_matches('"');
    let expires =
        time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let days = (expires - time::OffsetDateTime::now_utc()).whole_days();
    assert!((9..=10).contains(&days), "{days}");
    // A floor above the default, or an unknown class, is refused.
    for bad in [
        &["--default-class", "internal", "--min-class", "restricted"][..],
        &["--default-class", "secret"][..],
        &["--rpm", "0"][..],
    ] {
        let out = command()
            .args(["keys", "new", "--service", "billing"])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }

    // Pasted into a config: the default key's floor is its default class.
    let (plain, plain_text) = new_key(&["--id", "billing-plain"]);
    assert!(
        plain_text.contains("default_class = \"internal\"")
            && plain_text.contains("min_class = \"internal\""),
        "{plain_text}"
    );
    let (lowered, lowered_text) = new_key(&["--id", "billing-low", "--min-class", "public"]);
    let snippet = |text: &str| -> String {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("min_class"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // `min_class` lines are dropped from the plain key's entry: the default applies.
    let path = write_config(
        &dir,
        &format!(
            "[classes.public]\nmodels = [\"*\"]\ndata_collection = \"allow\"\n[classes.internal]\nmodels = [\"openai/*\"]\n{}{}min_class = \"public\"\n",
            snippet(&plain_text),
            snippet(&lowered_text)
        ),
    );
    // The lowered key's entry keeps its floor (appended last, after its own fields).
    let mut cmd = command();
    mock_env(&mut cmd, &mock);
    cmd.arg("--config").arg(&path);
    let gw = GatewayProcess::spawn(cmd);
    let client = reqwest::Client::new();
    let send = |key: &str| {
        client
            .post(gw.url("/v1/chat/completions"))
            .bearer_auth(key)
            .header("x-data-classification", "public")
            .json(&common::chat_body("anthropic/claude-3.5-sonnet"))
            .send()
    };
    let r = send(&plain).await.unwrap();
    assert_eq!(
        r.status(),
        403,
        "declaring public does not take the key below internal"
    );
    assert!(r.text().await.unwrap().contains("model_not_allowed"));
    let r = send(&lowered).await.unwrap();
    assert_eq!(r.status(), 200, "a floor written down is honoured");
}
