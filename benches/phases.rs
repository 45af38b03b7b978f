//! Where a request's CPU goes: each pure step of the `plan` phase (`src/plan.rs`) timed on
//! its own, on request bodies shaped like `bench/run.sh`'s (`plain`: one long user message;
//! `rich`: system prompt, history, a tool call and its result, tool definitions, metadata)
//! at 1 KiB and 64 KiB, with varied generated text (`support::textgen`), not a repeated
//! paragraph.
//!
//! The baseline, measured in the same run, is what any proxy that rewrites a JSON body must
//! do at least: parse it into a tree and serialise it again (`baseline/serde_roundtrip`).
//! Read each step as a ratio to it.
//!
//! Steps that rewrite their input (`scan` normalises strings, `redact` rewrites them) get a
//! fresh copy per iteration outside the timed part (`iter_batched`).
//!
//! Run: `cargo bench --bench phases`.

// A benchmark may panic on setup failure; the lints guard the gateway, not its tools.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod support;

use std::sync::Arc;

use axum::http::HeaderMap;
use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput,
};
use orguard::keys::Caller;
use orguard::policy::{self, Class, ContentSignals};
use orguard::request::{parse, Endpoint};
use serde_json::Value;
use support::chat;

/// The shipped example config with every detected type on `redact`, SECRET included: the
/// generated text carries the odd credential and card number, as real traffic does, and a
/// refused body would stop after `scan` and time nothing of the later steps.
fn config() -> orguard::config::Snapshot {
    let example = orguard::config::EMBEDDED_EXAMPLE;
    let confidential =
        "redact_types = { US_SSN = \"block\", CREDIT_CARD = \"block\", IBAN = \"redact\" }";
    assert!(example.contains(confidential) && example.contains("[classes.internal]\n"));
    let every_type_redacted = example
        .replace(confidential, "redact_types = { SECRET = \"redact\" }")
        .replace(
            "[classes.internal]\n",
            "[classes.internal]\nredact_types = { SECRET = \"redact\" }\n",
        );
    orguard::config::from_toml(&every_type_redacted, Some("bench-upstream-key".into())).unwrap()
}

fn caller() -> Caller {
    Caller {
        key_id: Arc::from("demo"),
        service: Arc::from("demo"),
        default_class: Class::Internal,
        min_class: Class::Public,
        limits: Default::default(),
        allowed_models: Arc::from(Vec::new()),
        upstream_key: None,
    }
}

fn phases(c: &mut Criterion) {
    let config = config();
    let caller = caller();
    let headers = HeaderMap::new();
    let endpoint = Endpoint::ChatCompletions;
    let depth = config.server.max_json_depth;
    let detectors = &config.detectors;
    let mut group = c.benchmark_group("phase");
    for (name, bytes, rich) in [
        ("plain_1KiB", 1024, false),
        ("rich_1KiB", 1024, true),
        ("plain_64KiB", 64 * 1024, false),
        ("rich_64KiB", 64 * 1024, true),
    ] {
        let raw = chat::body(bytes, rich, 0x0bad_5eed + bytes as u64);
        group.throughput(Throughput::Bytes(raw.len() as u64));

        group.bench_with_input(
            BenchmarkId::new("baseline_serde_roundtrip", name),
            &raw,
            |b, raw| {
                b.iter(|| {
                    let v: Value = serde_json::from_slice(black_box(raw)).unwrap();
                    black_box(serde_json::to_vec(&v).unwrap())
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("parse", name), &raw, |b, raw| {
            b.iter(|| black_box(parse::parse(endpoint, black_box(raw), depth).unwrap()))
        });

        let parsed = parse::parse(endpoint, &raw, depth).unwrap();
        group.bench_with_input(BenchmarkId::new("scan", name), &parsed, |b, parsed| {
            b.iter_batched(
                || parsed.body.clone(),
                |mut body| {
                    black_box(orguard::redact::scan(detectors, endpoint, &mut body).unwrap())
                },
                BatchSize::SmallInput,
            )
        });

        let mut scanned = parsed.clone();
        let findings = orguard::redact::scan(detectors, endpoint, &mut scanned.body).unwrap();
        let signals = ContentSignals {
            pii_types: findings.pii_types(),
            phi_types: findings.phi_types(),
        };
        group.bench_function(BenchmarkId::new("classify", name), |b| {
            b.iter(|| {
                black_box(
                    policy::reasons::of(&config.policy, &caller, &headers, black_box(&signals))
                        .unwrap(),
                )
            })
        });
        let decision = policy::reasons::of(&config.policy, &caller, &headers, &signals).unwrap();
        // The policy takes the body it rewrites: each run gets its own copy, made outside
        // the timed part.
        group.bench_function(BenchmarkId::new("policy", name), |b| {
            b.iter_batched(
                || scanned.clone(),
                |mut request| {
                    black_box(
                        policy::plan(&config.policy, &caller, &mut request, decision.clone())
                            .unwrap(),
                    )
                },
                BatchSize::SmallInput,
            )
        });

        let plan = policy::plan(
            &config.policy,
            &caller,
            &mut scanned.clone(),
            decision.clone(),
        )
        .unwrap();
        let class = config
            .policy
            .class(plan.class)
            .map(|c| c.redaction.clone())
            .unwrap_or_default();
        group.bench_function(BenchmarkId::new("redact", name), |b| {
            b.iter_batched(
                || plan.body.clone(),
                |mut body| {
                    black_box(
                        orguard::redact::apply(
                            detectors,
                            endpoint,
                            &mut body,
                            &findings,
                            &class,
                            &config.policy.redact_key,
                        )
                        .unwrap(),
                    )
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function(BenchmarkId::new("seal", name), |b| {
            b.iter(|| black_box(orguard::plan::seal(&config, &plan, endpoint, &caller).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("plan_total", name), &raw, |b, raw| {
            b.iter(|| {
                black_box(
                    orguard::plan::plan(&config, &caller, &headers, endpoint, black_box(raw))
                        .map(|p| p.sealed.outbound.body)
                        .unwrap(),
                )
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = phases
}
criterion_main!(benches);
