//! Scores the PHI detectors against the independent corpus of `tests/phi_corpus` (issue #19).
//!
//! The corpus is generated from the identifiers' specifications without looking at the
//! detectors; this file is the only place the two meet.
//!
//! Scoring covers the PHI types only (a phone number found as `PHONE` in a hard negative is
//! that detector's business, scored by `detection_corpus.rs`):
//! * **Recall.** An expected value is found when one span whose `kinds()` include its type
//!   covers every alphanumeric byte of it.
//! * **Precision.** Every (span, PHI type) pair counts once: a true positive when the span
//!   overlaps an expected value of that type in the same sample, else a false positive.
//! * **Hard negatives.** Flagged when any span carries a PHI type.
//!
//! Bars (issue #19): 100 % recall on the checksummed types (`US_NPI`, `US_DEA`), ≥ 99 % recall
//! and ≥ 97 % precision over all PHI types, ≤ 1 % of hard negatives flagged.

// Test code may unwrap; the lints guard the gateway, not its tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod phi_corpus;

use std::collections::BTreeMap;

use orguard::redact::detectors::PHI;
use orguard::redact::{Detectors, Span};
use phi_corpus::{generate, Sample, DEFAULT_SEED};

const PER_TYPE: usize = 400;

#[derive(Default, Debug)]
struct Score {
    expected: usize,
    found: usize,
    tp: usize,
    fp: usize,
}

fn covers(span: &Span, kind: &str, text: &str, start: usize, end: usize) -> bool {
    span.kinds().any(|k| k == kind)
        && (start..end).all(|i| {
            !text.as_bytes()[i].is_ascii_alphanumeric() || (span.start <= i && i < span.end)
        })
}

fn score(
    detectors: &Detectors,
    samples: &[Sample],
) -> (BTreeMap<&'static str, Score>, usize, usize, Vec<String>) {
    let mut by_type: BTreeMap<&'static str, Score> =
        PHI.iter().map(|k| (*k, Score::default())).collect();
    let (mut negatives, mut flagged) = (0, 0);
    let mut misses = Vec::new();
    for s in samples {
        let spans = detectors.find(&s.text);
        for e in &s.expected {
            let entry = by_type.entry(e.kind).or_default();
            entry.expected += 1;
            let at = s
                .text
                .find(&e.value)
                .expect("the corpus embeds every value verbatim");
            if spans
                .iter()
                .any(|sp| covers(sp, e.kind, &s.text, at, at + e.value.len()))
            {
                entry.found += 1;
            } else {
                misses.push(format!("missed {}: {:?}", e.kind, s.text));
            }
        }
        let mut any_phi = false;
        for sp in &spans {
            for k in sp.kinds().filter(|k| PHI.contains(k)) {
                any_phi = true;
                let hit = s.expected.iter().any(|e| {
                    e.kind == k
                        && s.text
                            .match_indices(&e.value)
                            .any(|(i, v)| i < sp.end && sp.start < i + v.len())
                });
                let entry = by_type.entry(k).or_default();
                if hit {
                    entry.tp += 1;
                } else {
                    entry.fp += 1;
                    misses.push(format!("false {k}: {:?}", s.text));
                }
            }
        }
        if s.hard_negative {
            negatives += 1;
            if any_phi {
                flagged += 1;
            }
        }
    }
    (by_type, negatives, flagged, misses)
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

#[test]
fn phi_detectors_meet_the_issue_19_bars_on_the_independent_corpus() {
    let detectors = Detectors::new(&[], &[]).unwrap();
    let samples = generate(DEFAULT_SEED, PER_TYPE);
    let (by_type, negatives, flagged, misses) = score(&detectors, &samples);
    let mut report = String::new();
    let (mut exp, mut found, mut tp, mut fp) = (0, 0, 0, 0);
    for (k, s) in &by_type {
        report.push_str(&format!(
            "{k:<16} recall {:>6.2}% ({}/{})  precision {:>6.2}% (tp {}, fp {})\n",
            100.0 * ratio(s.found, s.expected),
            s.found,
            s.expected,
            100.0 * ratio(s.tp, s.tp + s.fp),
            s.tp,
            s.fp
        ));
        exp += s.expected;
        found += s.found;
        tp += s.tp;
        fp += s.fp;
    }
    let recall = ratio(found, exp);
    let precision = ratio(tp, tp + fp);
    let flag_rate = ratio(flagged, negatives);
    report.push_str(&format!(
        "overall recall {:.2}%, precision {:.2}%, hard negatives flagged {:.2}% ({flagged}/{negatives})\n",
        100.0 * recall,
        100.0 * precision,
        100.0 * flag_rate
    ));
    for m in misses.iter().take(20) {
        report.push_str(m);
        report.push('\n');
    }
    println!("{report}");
    for k in ["US_NPI", "US_DEA"] {
        let s = &by_type[k];
        assert_eq!(
            s.found, s.expected,
            "{k}: checksummed types need 100 % recall\n{report}"
        );
    }
    assert!(recall >= 0.99, "overall recall below 99 %\n{report}");
    assert!(precision >= 0.97, "overall precision below 97 %\n{report}");
    assert!(
        flag_rate <= 0.01,
        "more than 1 % of hard negatives flagged\n{report}"
    );
    // Every PHI type is exercised.
    assert!(by_type.values().all(|s| s.expected >= PER_TYPE));
}

#[test]
fn phi_corpus_checks_itself_against_the_specifications() {
    use phi_corpus::{dea_check, npi_valid, Rng};
    // CMS's worked NPI example and a DEA example computed by hand.
    assert!(npi_valid("1234567893"));
    assert!(!npi_valid("1234567890"));
    assert_eq!(dea_check(&[1, 2, 3, 4, 5, 6]), 3);
    let mut rng = Rng::new(7);
    for _ in 0..200 {
        assert!(npi_valid(&phi_corpus::npi(&mut rng)));
        assert!(!npi_valid(&phi_corpus::npi_invalid(&mut rng)));
        let m = phi_corpus::mbi(&mut rng, false);
        assert_eq!(m.len(), 11);
        assert!(!m.contains(['S', 'L', 'O', 'I', 'B', 'Z']), "{m}");
    }
    assert_eq!(generate(DEFAULT_SEED, 3), generate(DEFAULT_SEED, 3));
}
