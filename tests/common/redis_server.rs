//! Real Redis for the shared-state tests: the machine's server on 127.0.0.1:6379 (each test
//! under its own key prefix, removed afterwards), or a private `redis-server` on a free port
//! for tests that kill it. Never a mock of Redis.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The test Redis, or `None` with a loud SKIPPED line. Under `CI=true` a missing Redis is a
/// failure, never a skip.
pub async fn redis_url() -> Option<String> {
    let url = std::env::var("ORGUARD_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned());
    match ping(&url).await {
        Ok(()) => Some(url),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "Redis at {url} is unreachable and CI=true: {e}"
            );
            eprintln!("\n*** SKIPPED: Redis at {url} is unreachable ({e}); start it to run the shared-state tests ***\n");
            None
        }
    }
}

async fn ping(url: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut c = tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| "timed out".to_owned())?
    .map_err(|e| e.to_string())?;
    redis::cmd("PING")
        .query_async::<String>(&mut c)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A key prefix no other test run uses.
pub fn unique_prefix() -> String {
    format!("orguard-test-{}", hex::encode(rand::random::<[u8; 6]>()))
}

/// Every key under `prefix`.
pub async fn keys(url: &str, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut c)
        .await
        .unwrap()
}

/// The integer value of `key` (0 when missing).
pub async fn get_i64(url: &str, key: &str) -> i64 {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("GET")
        .arg(key)
        .query_async::<Option<i64>>(&mut c)
        .await
        .unwrap()
        .unwrap_or(0)
}

/// Removes every key under `prefix`.
pub async fn cleanup(url: &str, prefix: &str) {
    let found = keys(url, prefix).await;
    if found.is_empty() {
        return;
    }
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(&found)
        .query_async(&mut c)
        .await
        .unwrap();
}

/// A private `redis-server` this test may kill and restart.
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts one on a free port, or `None` (SKIPPED, or a failure under CI) when the
    /// `redis-server` binary is not installed.
    pub async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut own = OwnRedis { port, child: None };
        if let Err(e) = own.spawn().await {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "cannot start redis-server and CI=true: {e}"
            );
            eprintln!("\n*** SKIPPED: cannot start redis-server ({e}); install Redis to run the failure-mode tests ***\n");
            return None;
        }
        Some(own)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    async fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        self.child = Some(child);
        for _ in 0..100 {
            if ping(&self.url()).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err("redis-server did not answer".to_owned())
    }

    /// Kills the server (SIGKILL: no goodbye to connected clients).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) {
        self.spawn().await.unwrap();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
