//! Throughput of the whole detection pass (`Detectors::find`) over varied, realistic text at
//! 1, 8 and 64 KiB, next to the machine's floor for one pass over the same bytes
//! (`memchr::memmem::find_iter` for a needle that never occurs) and the pre-#14 detectors;
//! and over adversarial text (long lines of digit shapes), whose throughput must not fall
//! with its size.
//!
//! Run: `cargo bench --bench detect -- --warm-up-time 1 --measurement-time 3`.

// A benchmark may panic on setup failure; the lints guard the gateway, not its tools.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod support;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use support::{old_detectors::Old, textgen};

fn detect(c: &mut Criterion) {
    let new = orguard::redact::Detectors::new(&[], &[]).unwrap();
    let old = Old::new();
    let finder = memchr::memmem::Finder::new(b"\x00zq\x01");
    let mut group = c.benchmark_group("detect");
    for kib in [1usize, 8, 64] {
        // Several different texts per size, so no single paragraph dominates.
        let texts: Vec<String> = (0..8)
            .map(|s| textgen::text(kib * 1024, 0x00D3_7EC7 + s))
            .collect();
        let bytes: usize = texts.iter().map(String::len).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        let id = |name: &str| BenchmarkId::new(name, format!("{kib}KiB"));
        group.bench_function(id("find"), |b| {
            b.iter(|| {
                texts
                    .iter()
                    .map(|t| new.find(black_box(t)).len())
                    .sum::<usize>()
            })
        });
        group.bench_function(id("memmem_floor"), |b| {
            b.iter(|| {
                texts
                    .iter()
                    .map(|t| finder.find_iter(black_box(t.as_bytes())).count())
                    .sum::<usize>()
            })
        });
        if kib <= 8 {
            group.bench_function(id("old_find"), |b| {
                b.iter(|| texts.iter().map(|t| old.find(black_box(t))).sum::<usize>())
            });
        }
    }
    group.finish();
    // Text written to be slow: one long line of the shapes the digit scan works hardest on
    // (single digits between spaces, tabs or dots: every run a phone candidate). Throughput
    // must not fall with size; a search that looked back to the start of the line for each
    // candidate made 2 MB of `1 1 1 …` cost 24 s of CPU, and the numbering plan's parser
    // on every run of `0 0 0 …` (a trunk prefix) 21 s. Also a vendor prefix repeated: each
    // occurrence started a 512-byte match (`sk-` is made of its own body characters) or a
    // 512-byte look for a gap to join over (`ghp_`): a megabyte cost 1.0 s and 0.3 s. And
    // `auth=` repeated: every name read the rest of the text as its value (272 s a megabyte).
    let mut group = c.benchmark_group("detect_adversarial");
    for kib in [64usize, 512] {
        for (name, unit) in [
            ("digit_space", "1 "),
            ("zero_space", "0 "),
            ("digit_tab", "1\t"),
            ("digit_dot", "1."),
            ("sk_prefix", "sk-"),
            ("sk_prefix_digit", "sk-1-"),
            ("ghp_prefix", "ghp_"),
            ("auth_assign", "auth="),
        ] {
            let text = unit.repeat(kib * 1024 / unit.len());
            group.throughput(Throughput::Bytes(text.len() as u64));
            group.bench_function(BenchmarkId::new(name, format!("{kib}KiB")), |b| {
                b.iter(|| new.find(black_box(&text)).len())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, detect);
criterion_main!(benches);
