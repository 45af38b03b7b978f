//! Soak: minutes of mixed traffic (plain and streamed, with injected upstream failures:
//! 5xx, 429, slow answers, streams that break) through the real gateway against the mock.
//! It checks that every request got an answer, that memory stays flat, and that the audit
//! chain verifies at the end, and prints the figures.
//!
//! Run: `cargo bench --bench soak` (2 minutes). Under `cargo test` it runs for 3 seconds.

// A benchmark may panic on setup failure; the lints guard the gateway, not its tools.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    dead_code,
    unused_imports,
    clippy::disallowed_types
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{chat_body, upstream_key, MockUpstream, Reply, StreamEnding, TestGateway};
use serde_json::json;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn reply(i: u64) -> Reply {
    match i % 20 {
        0 => Reply::status(
            502,
            json!({"error": {"code": 502, "message": "Provider returned error"}}),
        ),
        1 => Reply::Json {
            status: 429,
            body: json!({"error": {"code": 429, "message": "slow down"}}),
            headers: vec![("retry-after-ms".into(), "20".into())],
        },
        2 => Reply::Delayed(
            Duration::from_millis(150),
            Box::new(Reply::ok(common::mock::chat_completion())),
        ),
        3 => Reply::Sse {
            chunks: vec![(
                Duration::ZERO,
                "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n".into(),
            )],
            ending: StreamEnding::Cut,
        },
        4..=8 => Reply::chat_stream(5, Duration::from_millis(5)),
        _ => Reply::ok(common::mock::chat_completion()),
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let duration = if full {
        Duration::from_secs(120)
    } else {
        Duration::from_secs(3)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mock = MockUpstream::start().await;
        let toml = common::gateway::config_toml(&mock, "")
            .replace("max_retries = 0\n", "max_retries = 2\n")
            .replace("breaker_threshold = 1000\n", "breaker_threshold = 50\n")
            .replace("breaker_cooldown_ms = 30000\n", "breaker_cooldown_ms = 200\n");
        let gw = Arc::new(TestGateway::from_toml(&toml, Some(upstream_key())).await);
        let mock = Arc::new(mock);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Keep the mock's script topped up with a deterministic mix.
        let feeder = {
            let (mock, stop) = (Arc::clone(&mock), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    while mock.pending() < 200 {
                        mock.push(reply(i));
                        i += 1;
                    }
                    mock.clear();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let statuses: Arc<Mutex<BTreeMap<u16, u64>>> = Arc::default();
        let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let start = Instant::now();
        let rss_start = rss_kib();
        let mut rss_mid = 0;
        let mut clients = Vec::new();
        for c in 0..16u64 {
            let (gw, statuses, sent, failed) = (Arc::clone(&gw), Arc::clone(&statuses), Arc::clone(&sent), Arc::clone(&failed));
            clients.push(tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < duration {
                    let stream = (c + n).is_multiple_of(3);
                    let mut body = chat_body("openai/gpt-4o");
                    body["stream"] = json!(stream);
                    sent.fetch_add(1, Ordering::Relaxed);
                    match gw.chat(&body).await.text_with_status().await {
                        Some(status) => *statuses.lock().unwrap().entry(status).or_default() += 1,
                        None => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    n += 1;
                }
            }));
        }
        tokio::time::sleep(duration / 3).await;
        rss_mid = rss_mid.max(rss_kib());
        for c in clients {
            c.await.unwrap();
        }
        let rss_end = rss_kib();
        stop.store(true, Ordering::Relaxed);
        feeder.await.unwrap();
        let elapsed = start.elapsed().as_secs_f64();
        gw.audit_records().await;
        let report = orguard::audit::verify::verify_path(gw.audit_dir.path(), false).unwrap();
        let total = sent.load(Ordering::Relaxed);
        let no_answer = failed.load(Ordering::Relaxed);
        println!("soak: {total} requests in {elapsed:.0} s ({:.0}/s), statuses {:?}, without an answer {no_answer}", total as f64 / elapsed, statuses.lock().unwrap());
        println!("soak: RSS {rss_start} KiB at start, {rss_mid} KiB at 1/3, {rss_end} KiB at the end (end/third = {:.2})", rss_end as f64 / rss_mid.max(1) as f64);
        println!("soak: audit {} records, chain {}", report.records, if report.ok() { "verifies" } else { "BROKEN" });
        assert_eq!(no_answer, 0, "every request got an answer");
        assert!(report.ok(), "{}", report.render());
        if full {
            assert!((rss_end as f64) < rss_mid as f64 * 1.5, "memory grew from {rss_mid} to {rss_end} KiB");
        }
    });
}

/// Reads a whole answer, streamed or not; `None` if the connection failed.
trait TextWithStatus {
    async fn text_with_status(self) -> Option<u16>;
}

impl TextWithStatus for reqwest::Response {
    async fn text_with_status(self) -> Option<u16> {
        let status = self.status().as_u16();
        self.text().await.ok().map(|_| status)
    }
}
