//! `orguard audit verify`: re-walk a chain and say where it breaks.
//!
//! The walk is pure over `(position, line)` pairs, so files, rotated directories and
//! Postgres rows are checked by the same code. For each record: the line parses, its `hash`
//! matches its canonical form (nothing edited), `seq` is one more than the previous record's
//! (nothing removed, nothing reordered), and `prev` is the previous record's `hash`.
//!
//! Then the evidence against whoever holds the audit volume (`checkpoint.rs`): every
//! `checkpoint` record's signature holds (against `--public-key` when given) and its signed
//! head is the record right before it (else the records were *rewritten*); a witnessed
//! checkpoint beyond the chain's end means the chain was *truncated*, and one whose hash is
//! not the chain's record at that seq means it was rewritten. Records after the last
//! checkpoint are reported as unsigned, not as tampering: a crash leaves exactly that.
//! An empty trail is a failure unless allowed, so a verification job cannot pass on a
//! trail that is gone.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;
use std::path::Path;

use serde_json::{Map, Value};

use ed25519_dalek::VerifyingKey;

use super::chain::{hash_of, GENESIS};
use super::checkpoint::{key_id, Checkpoint};
use super::sink::file::list_files;

/// What a verification checks beyond the links.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The chain may begin after seq 1 (older records removed by retention, or a bundle).
    pub allow_partial_start: bool,
    /// Zero records is not a failure.
    pub allow_empty: bool,
    /// The key checkpoints must be signed with.
    pub public_key: Option<VerifyingKey>,
    /// Checkpoint records kept by a witness (`witness::read`).
    pub witness: Vec<Map<String, Value>>,
}

impl Options {
    /// With a pinned key or a witness, a chain without a valid checkpoint is a failure.
    fn require_signatures(&self) -> bool {
        self.public_key.is_some() || !self.witness.is_empty()
    }
}

/// The last record of a chain, to be written down elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
    pub ts: String,
}

/// Where a line sits, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub source: String,
    pub line: usize,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub at: Position,
    pub problem: String,
}

/// The result of walking one chain.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub chain: String,
    pub records: u64,
    pub by_type: BTreeMap<String, u64>,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub findings: Vec<Finding>,
    /// Facts that are not failures (an unsigned tail after a crash).
    pub notes: Vec<String>,
    pub head: Option<Head>,
    /// The replica named by the chain's checkpoints.
    pub replica: Option<String>,
    pub checkpoints: u64,
    pub key_ids: BTreeSet<String>,
    /// The last valid checkpoint: its own seq, the head it signs, its time.
    pub last_checkpoint: Option<(u64, u64, String)>,
    /// The newest witnessed checkpoint that matched the chain: seq, time.
    pub witnessed: Option<(u64, String)>,
    pub pinned: Option<String>,
    /// Hashes of the records at the seqs a witness holds.
    seen: HashMap<u64, String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let types: Vec<String> = self
            .by_type
            .iter()
            .map(|(t, n)| format!("{t}={n}"))
            .collect();
        let _ = writeln!(
            out,
            "chain {}: {} records (seq {}..{}) [{}]",
            self.chain,
            self.records,
            self.first_seq.unwrap_or(0),
            self.last_seq.unwrap_or(0),
            types.join(", ")
        );
        if let Some(h) = &self.head {
            let _ = writeln!(
                out,
                "  head: replica {} seq {} hash {} time {}",
                self.replica.as_deref().unwrap_or("-"),
                h.seq,
                h.hash,
                h.ts
            );
        }
        if self.checkpoints > 0 {
            let keys: Vec<&str> = self.key_ids.iter().map(String::as_str).collect();
            let pinned = match &self.pinned {
                Some(k) => format!("pinned key {k}"),
                None => "key not pinned: pass --public-key to check whose key it is".to_owned(),
            };
            let _ = writeln!(
                out,
                "  signed: {} checkpoints by key {} ({pinned})",
                self.checkpoints,
                keys.join(", ")
            );
        }
        if let Some((seq, head, ts)) = &self.last_checkpoint {
            let _ = writeln!(
                out,
                "  last checkpoint: seq {seq}, signs head seq {head}, time {ts}"
            );
        }
        if let Some((seq, ts)) = &self.witnessed {
            let _ = writeln!(
                out,
                "  witness: newest witnessed checkpoint seq {seq} (time {ts}) is in the chain"
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "  NOTE: {n}");
        }
        if self.findings.is_empty() {
            let _ = writeln!(out, "  OK: every hash matches and every link holds");
        }
        for (i, f) in self.findings.iter().enumerate() {
            let label = if i == 0 { "FIRST BREAK" } else { "BREAK" };
            if f.at.line == 0 {
                let _ = writeln!(out, "  {label}: {}", f.problem);
            } else {
                let _ = writeln!(
                    out,
                    "  {label} at {}:{}: {}",
                    f.at.source, f.at.line, f.problem
                );
            }
        }
        out
    }
}

/// Walks `lines` in order. `allow_partial_start`: the chain may begin after seq 1 (older
/// records removed by retention).
pub fn walk<'a>(
    chain: &str,
    lines: impl IntoIterator<Item = (Position, &'a [u8])>,
    allow_partial_start: bool,
) -> Report {
    let options = Options {
        allow_partial_start,
        allow_empty: true,
        ..Options::default()
    };
    walk_with(chain, lines, &options)
}

/// Walks `lines` in order with every check of `options`.
pub fn walk_with<'a>(
    chain: &str,
    lines: impl IntoIterator<Item = (Position, &'a [u8])>,
    options: &Options,
) -> Report {
    let allow_partial_start = options.allow_partial_start;
    let mut report = Report {
        chain: chain.to_owned(),
        pinned: options.public_key.as_ref().map(key_id),
        ..Report::default()
    };
    let witnessed_seqs: BTreeSet<u64> = options
        .witness
        .iter()
        .filter_map(|w| w.get("seq").and_then(Value::as_u64))
        .collect();
    let mut prev: Option<(u64, String)> = None;
    for (at, line) in lines {
        let record: Map<String, Value> = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(_) => {
                report.findings.push(Finding {
                    at,
                    problem: "not a complete JSON record (edited or torn)".to_owned(),
                });
                continue;
            }
        };
        report.records += 1;
        let kind = record
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        *report.by_type.entry(kind).or_default() += 1;
        let seq = record.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let hash = record
            .get("hash")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let link = record
            .get("prev")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if hash_of(&record) != hash {
            report.findings.push(Finding {
                at: at.clone(),
                problem: format!(
                    "record seq {seq}: hash does not match its content (record altered)"
                ),
            });
        }
        match &prev {
            None => {
                report.first_seq = Some(seq);
                if seq == 1 && link != GENESIS {
                    report.findings.push(Finding {
                        at: at.clone(),
                        problem: "first record does not link to the genesis hash".to_owned(),
                    });
                } else if seq != 1 && !allow_partial_start {
                    report.findings.push(Finding {
                        at: at.clone(),
                        problem: format!("chain starts at seq {seq}, not 1: earlier records are missing (use --allow-partial-start for retention-pruned logs)"),
                    });
                }
            }
            Some((prev_seq, prev_hash)) => {
                if seq != prev_seq + 1 {
                    let what = if seq > prev_seq + 1 {
                        "missing records"
                    } else {
                        "records out of order"
                    };
                    report.findings.push(Finding {
                        at: at.clone(),
                        problem: format!("{what}: expected seq {}, found {seq}", prev_seq + 1),
                    });
                }
                if link != prev_hash {
                    report.findings.push(Finding { at: at.clone(), problem: format!("record seq {seq}: prev does not match the hash of the record before it (broken link)") });
                }
            }
        }
        if let Some(cp) = Checkpoint::from_record(&record) {
            check_checkpoint(&mut report, &at, &cp, prev.as_ref(), options);
        }
        if witnessed_seqs.contains(&seq) {
            report.seen.insert(seq, hash.clone());
        }
        report.head = Some(Head {
            seq,
            hash: hash.clone(),
            ts: record
                .get("ts")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        });
        report.last_seq = Some(seq);
        prev = Some((seq, hash));
    }
    finish(&mut report, options);
    report
}

/// A checkpoint in the chain: its signature holds, and it signs the record right before it.
fn check_checkpoint(
    report: &mut Report,
    at: &Position,
    cp: &Checkpoint,
    prev: Option<&(u64, String)>,
    options: &Options,
) {
    let seq = cp.seq;
    if let Err(problem) = cp.check(options.public_key.as_ref()) {
        report.findings.push(Finding {
            at: at.clone(),
            problem: format!("checkpoint seq {seq}: {problem}"),
        });
        return;
    }
    match &report.replica {
        Some(r) if *r != cp.head.replica => report.findings.push(Finding {
            at: at.clone(),
            problem: format!(
                "checkpoint seq {seq} is for replica {}, but this chain's checkpoints are for {r}",
                cp.head.replica
            ),
        }),
        Some(_) => {}
        None => report.replica = Some(cp.head.replica.clone()),
    }
    // A partial chain's first record has nothing before it to compare with.
    if let Some((prev_seq, prev_hash)) = prev {
        if cp.head.seq != *prev_seq || cp.head.hash != *prev_hash {
            report.findings.push(Finding {
                at: at.clone(),
                problem: format!(
                    "rewritten: checkpoint seq {seq} signs head seq {} hash {}, but the chain has seq {prev_seq} hash {prev_hash} there (records before it were rewritten)",
                    cp.head.seq, cp.head.hash
                ),
            });
            return;
        }
    }
    report.checkpoints += 1;
    report.key_ids.insert(cp.head.key_id.clone());
    report.last_checkpoint = Some((seq, cp.head.seq, cp.head.time.clone()));
}

/// Checks that need the whole chain: emptiness, signatures present, the unsigned tail, and
/// the witness.
fn finish(report: &mut Report, options: &Options) {
    let nowhere = Position {
        source: report.chain.clone(),
        line: 0,
    };
    if report.records == 0 {
        if !options.allow_empty {
            report.findings.push(Finding {
                at: nowhere.clone(),
                problem: "no audit records: the trail is empty or missing (use --allow-empty if that is expected)".to_owned(),
            });
        }
        return;
    }
    let last_seq = report.last_seq.unwrap_or(0);
    match &report.last_checkpoint {
        None if options.require_signatures() => report.findings.push(Finding {
            at: nowhere.clone(),
            problem: "no valid signed checkpoint in the chain: nothing here is signed (checkpoints removed, or signing was never enabled)".to_owned(),
        }),
        None => {}
        Some((cp_seq, _, ts)) if *cp_seq < last_seq => report.notes.push(format!(
            "{} records after the last checkpoint (seq {cp_seq}, {ts}) are not signed yet: normal after a crash or while the gateway runs; not evidence of tampering",
            last_seq - cp_seq
        )),
        Some(_) => {}
    }
    check_witness(report, options, &nowhere);
}

fn check_witness(report: &mut Report, options: &Options, nowhere: &Position) {
    let mut witnessed: Vec<Checkpoint> = Vec::new();
    for record in &options.witness {
        let Some(cp) = Checkpoint::from_record(record) else {
            continue;
        };
        if let Err(problem) = cp.check(options.public_key.as_ref()) {
            report.findings.push(Finding {
                at: nowhere.clone(),
                problem: format!(
                    "witness checkpoint seq {} (replica {}): {problem}",
                    cp.seq, cp.head.replica
                ),
            });
            continue;
        }
        witnessed.push(cp);
    }
    let replicas: BTreeSet<&str> = witnessed.iter().map(|c| c.head.replica.as_str()).collect();
    let replica = match &report.replica {
        Some(r) => r.clone(),
        None if replicas.len() == 1 => replicas
            .iter()
            .next()
            .map(|r| (*r).to_owned())
            .unwrap_or_default(),
        None => return,
    };
    let first = report.first_seq.unwrap_or(0);
    let last = report.last_seq.unwrap_or(0);
    let mut newest_matching: Option<(u64, String)> = None;
    let mut beyond: Option<&Checkpoint> = None;
    for cp in witnessed.iter().filter(|c| c.head.replica == replica) {
        if cp.seq > last {
            if beyond.is_none_or(|b| b.seq < cp.seq) {
                beyond = Some(cp);
            }
            continue;
        }
        if cp.seq < first {
            continue;
        }
        match report.seen.get(&cp.seq) {
            Some(h) if *h == cp.hash => {
                if newest_matching.as_ref().is_none_or(|(s, _)| *s < cp.seq) {
                    newest_matching = Some((cp.seq, cp.head.time.clone()));
                }
            }
            found => report.findings.push(Finding {
                at: nowhere.clone(),
                problem: format!(
                    "rewritten: the witness holds checkpoint seq {} (hash {}, signed {}), but the chain's record seq {} has hash {}",
                    cp.seq,
                    cp.hash,
                    cp.head.time,
                    cp.seq,
                    found.map_or("(none)", String::as_str)
                ),
            }),
        }
    }
    if let Some(cp) = beyond {
        report.findings.push(Finding {
            at: nowhere.clone(),
            problem: format!(
                "truncated: the chain ends at seq {last}, but the witness holds a checkpoint at seq {} (signed {}): at least {} records were cut from the end after seq {last}",
                cp.seq,
                cp.head.time,
                cp.seq - last
            ),
        });
    }
    report.witnessed = newest_matching;
}

/// Verifies a file, or every audit file of a directory in chain order.
pub fn verify_path(path: &Path, allow_partial_start: bool) -> std::io::Result<Report> {
    let options = Options {
        allow_partial_start,
        allow_empty: true,
        ..Options::default()
    };
    verify_path_with(path, &options)
}

/// [`verify_path`] with every check of `options`.
pub fn verify_path_with(path: &Path, options: &Options) -> std::io::Result<Report> {
    let files = if path.is_dir() {
        list_files(path)?
    } else {
        vec![path.to_path_buf()]
    };
    let mut contents = Vec::new();
    for f in &files {
        contents.push((f.display().to_string(), std::fs::read(f)?));
    }
    // A torn last line is what a crash mid-write leaves (the record was never acknowledged,
    // so its request never left): reported, but not as tampering.
    let mut torn = Vec::new();
    let mut lines = Vec::new();
    for (name, bytes) in &contents {
        let mut pieces: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        let tail = pieces.pop().unwrap_or_default();
        for (i, piece) in pieces.into_iter().enumerate() {
            lines.push((
                Position {
                    source: name.clone(),
                    line: i + 1,
                },
                piece,
            ));
        }
        if !tail.is_empty() {
            torn.push(format!(
                "{name}:{}: torn last line (no newline): a write was cut short by a crash; that record was never acknowledged",
                bytes.iter().filter(|b| **b == b'\n').count() + 1
            ));
        }
    }
    let mut report = walk_with(&path.display().to_string(), lines, options);
    report.notes.extend(torn);
    Ok(report)
}

/// Verifies an export bundle (`export.rs`): the chain it holds (which starts where the
/// period starts), its checkpoints, and its manifest. Without `--public-key` the bundle's
/// own key is used, which shows the bundle is intact but not whose key signed it.
pub fn verify_bundle(name: &str, bundle: &super::export::Bundle, options: &Options) -> Report {
    let mut options = options.clone();
    options.allow_partial_start = true;
    let from_bundle = options.public_key.is_none();
    if from_bundle {
        options.public_key = bundle
            .public_key
            .as_deref()
            .and_then(super::checkpoint::parse_public);
    }
    let mut report = walk_with(
        name,
        bundle.records.iter().enumerate().map(|(i, l)| {
            (
                Position {
                    source: name.to_owned(),
                    line: i + 1,
                },
                l.as_bytes(),
            )
        }),
        &options,
    );
    if from_bundle {
        report.pinned = None;
        report.notes.push(
            "checked against the public key inside the bundle: pass --public-key with the key you were given to pin it"
                .to_owned(),
        );
    }
    let m = &bundle.manifest;
    let n = |a: &str, b: Option<&str>| {
        let v = m.get(a);
        let v = match b {
            Some(b) => v.and_then(|v| v.get(b)),
            None => v,
        };
        v.cloned().unwrap_or(Value::Null)
    };
    let head = report.head.clone().unwrap_or_default();
    let expected = [
        ("records", n("records", None), Value::from(report.records)),
        (
            "checkpoints",
            n("checkpoints", None),
            Value::from(report.checkpoints),
        ),
        (
            "first.seq",
            n("first", Some("seq")),
            report.first_seq.map_or(Value::Null, Value::from),
        ),
        ("last.seq", n("last", Some("seq")), Value::from(head.seq)),
        ("last.hash", n("last", Some("hash")), Value::from(head.hash)),
    ];
    for (what, claimed, found) in expected {
        if claimed != found {
            report.findings.push(Finding {
                at: Position {
                    source: name.to_owned(),
                    line: 0,
                },
                problem: format!("manifest {what} says {claimed}, the records say {found}"),
            });
        }
    }
    report
}

/// Verifies every replica's chain in a Postgres table.
pub async fn verify_postgres(
    url: &str,
    table: &str,
    options: &Options,
) -> Result<Vec<Report>, String> {
    if !crate::audit::sink::valid_table(table) {
        return Err(format!(
            "{table:?} is not a table name (a lowercase SQL identifier)"
        ));
    }
    let client = crate::postgres::connect(url, "audit verify")
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let replicas = client
        .query(
            &format!("SELECT DISTINCT replica FROM {table} ORDER BY replica"),
            &[],
        )
        .await
        .map_err(|e| format!("cannot read {table}: {}", crate::postgres::with_causes(&e)))?;
    let mut reports = Vec::new();
    for row in replicas {
        let replica: String = row.get(0);
        let rows = client
            .query(
                &format!(
                    "SELECT seq, hash, prev, record FROM {table} WHERE replica = $1 ORDER BY seq"
                ),
                &[&replica],
            )
            .await
            .map_err(|e| format!("cannot read {table}: {}", crate::postgres::with_causes(&e)))?;
        let lines: Vec<(Position, String, i64, String, String)> = rows
            .iter()
            .map(|r| {
                let seq: i64 = r.get(0);
                (
                    Position {
                        source: format!("{table}[replica={replica}]"),
                        line: usize::try_from(seq).unwrap_or(0),
                    },
                    r.get(3),
                    seq,
                    r.get(1),
                    r.get(2),
                )
            })
            .collect();
        let mut report = walk_with(
            &format!("{table} replica {replica}"),
            lines.iter().map(|(p, l, ..)| (p.clone(), l.as_bytes())),
            options,
        );
        // The indexed columns must say what the hashed record says.
        for (at, line, seq, hash, prev) in &lines {
            let record: Map<String, Value> = serde_json::from_str(line).unwrap_or_default();
            let same = record.get("seq").and_then(Value::as_i64) == Some(*seq)
                && record.get("hash").and_then(Value::as_str) == Some(hash.as_str())
                && record.get("prev").and_then(Value::as_str) == Some(prev.as_str());
            if !same {
                report.findings.push(Finding {
                    at: at.clone(),
                    problem: "row columns disagree with the hashed record".to_owned(),
                });
            }
        }
        reports.push(report);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::audit::chain::{seal, Link};

    fn chain(n: usize) -> Vec<String> {
        let mut link = Link::genesis();
        let mut out = Vec::new();
        for i in 0..n {
            let (line, next) = seal(
                json!({"type": "request", "i": i})
                    .as_object()
                    .unwrap()
                    .clone(),
                &link,
            );
            out.push(line);
            link = next;
        }
        out
    }

    fn run(lines: &[String]) -> Report {
        walk(
            "t",
            lines.iter().enumerate().map(|(i, l)| {
                (
                    Position {
                        source: "t".into(),
                        line: i + 1,
                    },
                    l.as_bytes(),
                )
            }),
            false,
        )
    }

    #[test]
    fn an_intact_chain_verifies() {
        let r = run(&chain(5));
        assert!(r.ok(), "{}", r.render());
        assert_eq!((r.records, r.first_seq, r.last_seq), (5, Some(1), Some(5)));
    }

    #[test]
    fn deletions_swaps_and_edits_are_named() {
        let mut deleted = chain(5);
        deleted.remove(2);
        let r = run(&deleted);
        assert_eq!(r.findings[0].at.line, 3);
        assert!(
            r.findings[0].problem.contains("missing records"),
            "{}",
            r.render()
        );

        let mut swapped = chain(5);
        swapped.swap(1, 2);
        let r = run(&swapped);
        assert_eq!(r.findings[0].at.line, 2);

        let mut first_gone = chain(3);
        first_gone.remove(0);
        assert!(!run(&first_gone).ok());
    }

    proptest! {
        /// Changing any byte of any record makes verification fail, and the first finding
        /// is at or before the changed line... or the line right after (its `prev`).
        #[test]
        fn any_changed_byte_is_caught(n in 1usize..8, which in 0usize..8, pos in 0usize..400, byte in any::<u8>()) {
            let mut lines = chain(n);
            let which = which % n;
            let mut bytes = lines[which].clone().into_bytes();
            let pos = pos % bytes.len();
            prop_assume!(bytes[pos] != byte);
            bytes[pos] = byte;
            let changed = String::from_utf8_lossy(&bytes).into_owned();
            prop_assume!(changed != lines[which]);
            // Reformatting JSON (e.g. a space) does not change the content, so skip bytes
            // that leave the record semantically equal.
            let same = serde_json::from_str::<Value>(&changed).ok() == serde_json::from_str::<Value>(&lines[which]).ok();
            prop_assume!(!same);
            lines[which] = changed;
            let r = run(&lines);
            prop_assert!(!r.ok());
            prop_assert_eq!(r.findings[0].at.line, which + 1);
        }
    }
}
