//! The gateway under test, in process: the same `server::app` and `server::serve` the binary
//! runs, on 127.0.0.1 port 0.

use std::net::SocketAddr;
use std::time::Duration;

use super::{sha256_hex, upstream_key, MockUpstream};

pub const CLIENT_KEY: &str = "ogk_test_client_alpha";
pub const OTHER_KEY: &str = "ogk_test_client_beta";

pub struct TestGateway {
    pub addr: SocketAddr,
    /// The operator listener (`server::admin::app`), always started in tests.
    pub admin_addr: SocketAddr,
    pub client: reqwest::Client,
    /// The audit directory (`AUDIT_DIR` in the config text is replaced by it).
    pub audit_dir: tempfile::TempDir,
    pub state: orguard::state::AppState,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A config pointing at `mock`, with two services and keys, plus `extra` TOML appended
/// (which may add tables, or override nothing already set).
pub fn config_toml(mock: &MockUpstream, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_body_bytes = 65536
max_decompressed_bytes = 262144
max_json_depth = 32
body_timeout_ms = 1000
drain_seconds = 5

[upstream]
base_url = "{base}"
allow_insecure_http = true
first_byte_timeout_ms = 3000
idle_timeout_ms = 1500
total_timeout_ms = 20000
passthrough_paths = ["/generation"]
credit_poll_seconds = 0
providers_refresh_seconds = 0
models_refresh_seconds = 0

[audit]
dir = "AUDIT_DIR"

# Retries and breakers off unless a test turns them on (tests/resilience.rs).
[resilience]
max_retries = 0
backoff_base_ms = 20
backoff_max_ms = 200
breaker_threshold = 1000
breaker_cooldown_ms = 30000

[services.billing]
http_referer = "https://billing.example.com"
title = "Billing Assistant"

[policy]
user_hmac_key_file = "HMAC_KEY_FILE"

[classes.public]
models = ["*"]
data_collection = "allow"
allow_free_models = true
max_tokens = 4096

[classes.internal]
models = ["*"]
max_tokens = 4096
redact = "redact"

[classes.confidential]
models = ["anthropic/claude-*", "openai/gpt-4o*"]
providers = ["anthropic", "openai"]
zdr = true
max_tokens = 2048
redact = "placeholder"
redact_types = {{ US_SSN = "block", IBAN = "hash" }}

[classes.restricted]
models = ["meta-llama/llama-3.1-70b-instruct"]
providers = ["deepinfra"]
require_byok = true
zdr = true
max_tokens = 1024

# Tests declare every class with X-Data-Classification, `public` included, so this key's
# floor is written down (min_class defaults to the key's default_class).
[[keys]]
id = "billing-1"
service = "billing"
sha256 = "{alpha}"
min_class = "public"

[[keys]]
id = "search-1"
service = "search"
sha256 = "{beta}"
default_class = "public"
{extra}
"#,
        base = mock.base_url(),
        alpha = sha256_hex(CLIENT_KEY),
        beta = sha256_hex(OTHER_KEY),
    )
}

impl TestGateway {
    pub async fn start(mock: &MockUpstream) -> Self {
        Self::start_with(mock, "").await
    }

    pub async fn start_with(mock: &MockUpstream, extra: &str) -> Self {
        Self::from_toml(&config_toml(mock, extra), Some(upstream_key())).await
    }

    pub async fn from_toml(toml: &str, api_key: Option<String>) -> Self {
        let audit_dir = tempfile::tempdir().unwrap();
        let toml = toml.replace("AUDIT_DIR", &audit_dir.path().display().to_string());
        let key_file = audit_dir.path().join("hmac.key");
        std::fs::write(&key_file, "test organisation hmac key").unwrap();
        let toml = toml.replace("HMAC_KEY_FILE", &key_file.display().to_string());
        let snapshot = orguard::config::from_toml(&toml, api_key).expect("test config is valid");
        let drain = snapshot.server.drain;
        let state = orguard::state::AppState::new(snapshot).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = orguard::server::app(state.clone());
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin_addr = admin.local_addr().unwrap();
        let admin_app = orguard::server::admin::app(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(admin, admin_app).await;
        });
        state.start_background();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            let _ = orguard::server::serve(listener, app, shutdown, drain).await;
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        TestGateway {
            addr,
            admin_addr,
            client,
            audit_dir,
            state,
            _stop: stop,
        }
    }

    /// Stops the server and closes the audit writer (releasing its directory), as a
    /// process exit would.
    pub async fn shutdown(self) {
        let TestGateway { state, _stop, .. } = self;
        drop(_stop);
        state.audit.close().await;
    }

    /// Every audit record written so far (waits for the queue to drain first).
    pub async fn audit_records(&self) -> Vec<serde_json::Value> {
        // A no-wait record is written with the next batch, whenever the writer gets to
        // it: on a loaded machine (the suite runs tests in parallel) that can take a while.
        // Wait for the writer to take everything queued so far (the queue emptying was
        // not enough: the batch it took may still be on its way to the file), then read
        // until two reads 100 ms apart agree, for up to five seconds.
        let read = || {
            let mut out = Vec::new();
            let files =
                orguard::audit::sink::file::list_files(self.audit_dir.path()).unwrap_or_default();
            for f in files {
                for line in std::fs::read_to_string(f).unwrap().lines() {
                    out.push(serde_json::from_str(line).unwrap());
                }
            }
            out
        };
        let started = std::time::Instant::now();
        // Every record queued before now is in the file after this (a refusal's record is
        // queued before its response leaves); records queued later (a stream's end) are
        // waited for below.
        tokio::time::timeout(Duration::from_secs(5), self.state.audit.flush())
            .await
            .ok();
        let mut last: Vec<serde_json::Value> = read();
        while started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = read();
            if now.len() == last.len() {
                return now;
            }
            last = now;
        }
        last
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The `/metrics` page.
    pub async fn metrics(&self) -> String {
        let r = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin_addr, path)
    }

    /// POST `body` (raw bytes) to `path` with the test client key and JSON content type.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(self.url(path))
            .bearer_auth(CLIENT_KEY)
            .header("content-type", "application/json")
    }

    pub async fn chat(&self, body: &serde_json::Value) -> reqwest::Response {
        self.post("/api/v1/chat/completions")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }
}

/// Reads an OpenAI-shaped error body and returns `(type, code)`.
pub async fn error_of(response: reqwest::Response) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let e = &v["error"];
    assert!(e["message"].is_string(), "error has a message: {v}");
    (
        e["type"].as_str().unwrap().to_owned(),
        e["code"].as_str().unwrap().to_owned(),
    )
}
