//! Criterion micro-benchmarks of the per-request hot path, on the same bodies:
//! - `detect/*`: the redaction scan over 1, 8 and 64 KiB of chat text (throughput in MB/s);
//! - `request/*`: strict parse + scan + policy + redaction + audit record serialisation of
//!   a ~1 KiB and an ~8 KiB chat request, through the same `pipeline::prepare` the server runs;
//! - `audit/seal`: sealing one `request` record into the hash chain (canonical form, SHA-256,
//!   the line written), which the audit writer does for every record every request waits on;
//!   `audit/baseline_to_string` serialises the same record with plain `serde_json`.
//!
//! Run: `cargo bench --bench hot_path`.

// A benchmark may panic on setup failure; the lints guard the gateway, not its tools.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

use std::sync::Arc;

use axum::http::HeaderMap;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use orguard::keys::Caller;
use orguard::policy::Class;
use orguard::request::Endpoint;
use serde_json::json;

/// Ordinary chat text with a little personal data sprinkled in, as requests look.
fn text(bytes: usize) -> String {
    let para = "The quarterly report is attached; revenue grew 12% and churn fell to 3.1%. \
        Please review section 4 before Thursday's sync with the platform team. \
        Contact jane.doe@example.com or +1 415 555 0100 if anything is unclear. \
        Build 2024.11.3 fixed the pagination bug in the orders API (commit 9f2c1e7). ";
    let mut s = String::with_capacity(bytes + para.len());
    while s.len() < bytes {
        s.push_str(para);
    }
    s.truncate(bytes);
    s
}

fn config() -> orguard::config::Snapshot {
    orguard::config::from_toml(
        orguard::config::EMBEDDED_EXAMPLE,
        Some("bench-upstream-key".into()),
    )
    .unwrap()
}

fn detect(c: &mut Criterion) {
    let d = orguard::redact::Detectors::new(&[], &[]).unwrap();
    let mut group = c.benchmark_group("detect");
    for kib in [1usize, 8, 64] {
        let t = text(kib * 1024);
        group.throughput(Throughput::Bytes(t.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{kib}KiB")),
            &t,
            |b, t| b.iter(|| black_box(d.find(black_box(t)))),
        );
        // Baseline in the same run: JSON-escaping the same text, one cheap pass over it.
        group.bench_with_input(
            BenchmarkId::new("baseline_json_escape", format!("{kib}KiB")),
            &t,
            |b, t| b.iter(|| black_box(serde_json::to_string(black_box(t)).unwrap())),
        );
    }
    group.finish();
}

fn request(c: &mut Criterion) {
    let config = config();
    let caller = Caller {
        key_id: Arc::from("demo"),
        service: Arc::from("demo"),
        default_class: Class::Internal,
        min_class: Class::Public,
        limits: Default::default(),
        allowed_models: Arc::from(Vec::new()),
        upstream_key: None,
    };
    let headers = HeaderMap::new();
    let mut group = c.benchmark_group("request");
    for kib in [1usize, 8] {
        let body = json!({"model": "openai/gpt-4o", "temperature": 0.2, "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": text(kib * 1024 - 150)}]})
        .to_string();
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(format!("{kib}KiB")), &body, |b, body| {
            b.iter(|| {
                // The whole plan phase, as the server runs it: parse to sealed bytes.
                let planned = orguard::plan::plan(&config, &caller, &headers, Endpoint::ChatCompletions, body.as_bytes()).unwrap();
                let line = orguard::audit::chain::canonical(&json!({"type": "request", "body_len": planned.sealed.body().len(), "decisions": planned.plan.fired.len()}));
                black_box((planned.sealed.outbound.body, line))
            })
        });
    }
    group.finish();
}

fn audit(c: &mut Criterion) {
    use orguard::audit::chain::{seal, seal_fields, Link};
    use orguard::audit::record::{self, RequestFacts, Subject};
    let subject = Subject {
        request_id: "req_0123456789abcdef01234567",
        key_id: Some("billing-20261202"),
        service: Some("billing"),
        class: Some("confidential"),
        client: Some("10.1.2.3"),
        peer: None,
    };
    let models = ["openai/gpt-4o-mini".to_owned()];
    let providers = ["openai".to_owned(), "anthropic".to_owned()];
    let facts = RequestFacts {
        endpoint: "chat_completions",
        stream: false,
        upstream: "openrouter",
        model_requested: "openai/gpt-4o",
        model_forwarded: "openai/gpt-4o",
        models: &models,
        providers: Some(&providers),
        prompt_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        prompt_hash: "hmac-sha256",
        body_sha256: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
        redactions: &[("EMAIL", 1)],
        decisions: &["models.allowed", "provider.pinned", "tokens.injected"],
        raised_by: &[],
        user: Some("u_3f2a9c1b0d4e5f60718293a4b5c6d7e8"),
        fallback_bodies: &[],
        capture_sha256: None,
    };
    let rec = record::request(&subject, time::OffsetDateTime::now_utc(), &facts);
    let link = Link {
        seq: 41,
        hash: "ab".repeat(32),
    };
    let mut group = c.benchmark_group("audit");
    // The same record as a JSON object, sealed by the general path (tools, tests).
    let map = rec.fields.to_map();
    group.bench_function("seal", |b| {
        b.iter(|| black_box(seal(black_box(map.clone()), &link)))
    });
    // What the writer does: seals the record it holds (no copy), fields already in order.
    let mut held = rec.fields;
    group.bench_function("seal_fields", |b| {
        b.iter(|| black_box(seal_fields(black_box(&mut held), &link)))
    });
    group.bench_function("baseline_to_string", |b| {
        b.iter(|| black_box(serde_json::to_string(black_box(&map.clone())).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, detect, request, audit);
criterion_main!(benches);
