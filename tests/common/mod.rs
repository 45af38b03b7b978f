//! Shared test harness: a scriptable mock OpenRouter and an in-process gateway, both on
//! 127.0.0.1 port 0, so tests run in parallel and never touch the network.

#![allow(dead_code, unused_imports)]

pub mod gateway;
pub mod mock;
pub mod pg_tls;
pub mod process;
pub mod redis_server;
pub mod tls;

pub use gateway::{TestGateway, CLIENT_KEY, OTHER_KEY};
pub use mock::{MockUpstream, Recorded, Reply, StreamEnding};

use sha2::{Digest, Sha256};

/// The upstream key the gateway under test holds. Built at run time so no key-shaped
/// literal sits in the tree.
pub fn upstream_key() -> String {
    format!("sk-or-v1-{}", "5a".repeat(32))
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A minimal chat completion body.
pub fn chat_body(model: &str) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": "Say hello"}],
    })
}

/// A forwarded body without the fields the policy stage always writes (`provider`, the
/// injected token limit), for tests about faithful forwarding of everything else.
pub fn without_policy_fields(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(m) = v.as_object_mut() {
        for f in ["provider", "max_tokens", "max_output_tokens"] {
            m.remove(f);
        }
    }
    v
}

/// The test PostgreSQL (trust auth, database `test`), or `None` with a loud SKIPPED line.
/// Under `CI=true` a missing database is a failure, never a skip.
pub async fn postgres_url() -> Option<String> {
    let url = std::env::var("ORGUARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok(_) => Some(url),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "PostgreSQL at {url} is unreachable and CI=true: {e}"
            );
            eprintln!("\n*** SKIPPED: PostgreSQL at {url} is unreachable ({e}); start it to run the Postgres audit tests ***\n");
            None
        }
    }
}

/// A table name no other test run uses.
pub fn unique_table() -> String {
    format!(
        "orguard_audit_test_{}",
        hex::encode(rand::random::<[u8; 6]>())
    )
}
