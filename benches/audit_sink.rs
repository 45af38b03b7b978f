//! Audit file-sink throughput: records/s through the real writer (seal, batch, write, fsync)
//! with `fsync = always` (group commit) and `fsync = interval`, at 1 and 64 concurrent
//! appenders. The figures that matter are ratios measured in the same run: how much
//! durability costs, and how much group commit recovers under concurrency.
//!
//! Run: `cargo bench --bench audit_sink`. Under `cargo test` it runs a short smoke pass.

// A benchmark may panic on setup failure; the lints guard the gateway, not its tools.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orguard::audit::record::{self, RequestFacts, Subject};
use orguard::audit::sink::Fsync;
use orguard::audit::{AuditSettings, SinkSettings};

fn settings(dir: &std::path::Path, fsync: Fsync) -> AuditSettings {
    AuditSettings {
        sink: SinkSettings::File {
            dir: dir.to_path_buf(),
            fsync,
            rotate_bytes: 1 << 30,
            retention_days: 0,
            financial_retention_days: 0,
        },
        fail_open: false,
        queue_capacity: 8192,
        hmac_key: None,
        replica: "bench".to_owned(),
        checkpoints: None,
        capture: None,
    }
}

fn a_record(i: u64) -> record::Record {
    let id = format!("req_{i:024x}");
    let subject = Subject {
        request_id: &id,
        key_id: Some("billing-1"),
        service: Some("billing"),
        class: Some("confidential"),
        client: Some("10.1.2.3"),
        peer: None,
    };
    let models = vec!["openai/gpt-4o".to_owned()];
    let providers = vec!["openai".to_owned(), "anthropic".to_owned()];
    let facts = RequestFacts {
        endpoint: "chat_completions",
        stream: false,
        upstream: "openrouter",
        model_requested: "openai/gpt-4o",
        model_forwarded: "openai/gpt-4o",
        models: &models,
        providers: Some(&providers),
        prompt_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        prompt_hash: "sha256",
        body_sha256: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
        redactions: &[("EMAIL", 1)],
        decisions: &["models.allowed", "provider.pinned", "tokens.injected"],
        raised_by: &[],
        user: Some("u_3f2a9c1b0d4e5f60718293a4b5c6d7e8"),
        fallback_bodies: &[],
        capture_sha256: None,
    };
    record::request(&subject, time::OffsetDateTime::now_utc(), &facts)
}

async fn run(fsync: Fsync, concurrency: usize, duration: Duration) -> f64 {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let writer = settings(dir.path(), fsync).start();
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let writer = writer.clone();
        let count = Arc::clone(&count);
        tasks.push(tokio::spawn(async move {
            let mut i = t as u64 * 1_000_000;
            while start.elapsed() < duration {
                writer.append(a_record(i)).await.expect("append");
                count.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = start.elapsed().as_secs_f64();
    writer.close().await;
    let report = orguard::audit::verify::verify_path(dir.path(), false).expect("verify");
    assert!(report.ok(), "{}", report.render());
    count.load(Ordering::Relaxed) as f64 / elapsed
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let duration = if full {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(200)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cases = [
        (
            "fsync=interval(1s)",
            Fsync::Interval(Duration::from_secs(1)),
        ),
        ("fsync=always", Fsync::Always),
    ];
    let mut results = Vec::new();
    for concurrency in [1, 64] {
        for (name, fsync) in cases {
            let rps = rt.block_on(run(fsync, concurrency, duration));
            results.push((name, concurrency, rps));
            println!("{name:<20} concurrency {concurrency:>3}: {rps:>10.0} records/s");
        }
    }
    let get = |n: &str, c: usize| {
        results
            .iter()
            .find(|r| r.0 == n && r.1 == c)
            .map_or(f64::NAN, |r| r.2)
    };
    println!(
        "ratios: always/interval at 1 = {:.3}, at 64 = {:.3}; always 64/1 (group commit gain) = {:.1}x",
        get("fsync=always", 1) / get("fsync=interval(1s)", 1),
        get("fsync=always", 64) / get("fsync=interval(1s)", 64),
        get("fsync=always", 64) / get("fsync=always", 1),
    );
}
