//! `orguard audit verify`: re-walk a chain and say where it breaks.
//!
//! The walk is pure over `(position, line)` pairs, so files, rotated directories and
//! Postgres rows are checked by the same code. For each record: the line parses, its `hash`
//! matches its canonical form (nothing edited), `seq` is one more than the previous record's
//! (nothing removed, nothing reordered), and `prev` is the previous record's `hash`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde_json::{Map, Value};

use super::chain::{hash_of, GENESIS};
use super::sink::file::list_files;

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
        if self.findings.is_empty() {
            let _ = writeln!(out, "  OK: every hash matches and every link holds");
        }
        for (i, f) in self.findings.iter().enumerate() {
            let label = if i == 0 { "FIRST BREAK" } else { "BREAK" };
            let _ = writeln!(
                out,
                "  {label} at {}:{}: {}",
                f.at.source, f.at.line, f.problem
            );
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
    let mut report = Report {
        chain: chain.to_owned(),
        ..Report::default()
    };
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
        report.last_seq = Some(seq);
        prev = Some((seq, hash));
    }
    report
}

/// Verifies a file, or every audit file of a directory in chain order.
pub fn verify_path(path: &Path, allow_partial_start: bool) -> std::io::Result<Report> {
    let files = if path.is_dir() {
        list_files(path)?
    } else {
        vec![path.to_path_buf()]
    };
    let mut contents = Vec::new();
    for f in &files {
        contents.push((f.display().to_string(), std::fs::read(f)?));
    }
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
            torn.push(Finding {
                at: Position {
                    source: name.clone(),
                    line: bytes.iter().filter(|b| **b == b'\n').count() + 1,
                },
                problem: "torn last line (no newline): a write was cut short, e.g. by a crash"
                    .to_owned(),
            });
        }
    }
    let mut report = walk(&path.display().to_string(), lines, allow_partial_start);
    report.findings.extend(torn);
    Ok(report)
}

/// Verifies every replica's chain in a Postgres table.
pub async fn verify_postgres(
    url: &str,
    table: &str,
    allow_partial_start: bool,
) -> Result<Vec<Report>, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    // Detached on purpose: ends with the client.
    #[expect(
        clippy::disallowed_methods,
        reason = "the connection task ends with the client"
    )]
    tokio::spawn(connection);
    let replicas = client
        .query(
            &format!("SELECT DISTINCT replica FROM {table} ORDER BY replica"),
            &[],
        )
        .await
        .map_err(|e| format!("cannot read {table}: {e}"))?;
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
            .map_err(|e| format!("cannot read {table}: {e}"))?;
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
        let mut report = walk(
            &format!("{table} replica {replica}"),
            lines.iter().map(|(p, l, ..)| (p.clone(), l.as_bytes())),
            allow_partial_start,
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
