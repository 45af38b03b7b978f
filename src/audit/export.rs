//! `orguard audit export`: a self-contained bundle of one period, for an auditor offline.
//!
//! The bundle is one JSON object (canonical form, so it is byte-stable):
//!
//! - `format`: `orguard-audit-bundle-v1`;
//! - `records`: the chain's lines, verbatim, from the first record whose `ts` falls in the
//!   period up to and including the first checkpoint at or after its end — that checkpoint
//!   signs a head which, through the hash chain, covers every record before it;
//! - `public_key`: the key the checkpoints name (the auditor should compare it with the one
//!   they were given, and pass that with `--public-key`);
//! - `manifest`: the period, record counts (all and per type, and how many fall inside the
//!   period), the first record's `seq`/`prev`, the last record's `seq`/`hash`, the number of
//!   checkpoints and `unsigned_tail` (records after the last checkpoint, when the chain had
//!   none after the period yet).
//!
//! The target is a file sink's file or directory, or a Postgres table (`postgres://…` with
//! `--table`): a table holds one chain per replica, and a bundle holds one chain, so a
//! table with several replicas needs `--replica`.
//!
//! `orguard audit verify BUNDLE` re-walks it (a chain starting after seq 1 is expected) and
//! checks the manifest against the records.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::chain::canonical;
use super::sink::file::list_files;

pub const FORMAT: &str = "orguard-audit-bundle-v1";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::ErrorKind),
    #[error("cannot write {0}: {1}")]
    Write(String, std::io::ErrorKind),
    #[error("{0:?} is not a date (YYYY-MM-DD) or an RFC 3339 time")]
    Date(String),
    #[error("no records between {0} and {1}")]
    Empty(String, String),
    /// The message never holds the URL (it may carry a password).
    #[error("cannot read the audit table: {0}")]
    Postgres(String),
    #[error("{0:?} is not a table name (a lowercase SQL identifier)")]
    Table(String),
    #[error("the table holds the chains of several replicas ({0}); pick one with --replica")]
    Replicas(String),
    #[error("the table holds no records of replica {0:?} (it holds: {1})")]
    NoReplica(String, String),
}

/// Where the records come from.
pub enum Source<'a> {
    /// A file sink's file, or its directory (every file, in order).
    Files(&'a Path),
    /// A Postgres sink's table; `replica` may be left out when the table holds one chain.
    Postgres {
        url: &'a str,
        table: &'a str,
        replica: Option<&'a str>,
    },
}

/// Parses `--from`/`--to`: a date means its midnight UTC; `end_of_day` moves a bare date to
/// the next midnight, so `--to 2026-12-31` includes that whole day.
pub fn parse_time(text: &str, end_of_day: bool) -> Result<OffsetDateTime, ExportError> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).map_err(|_| ExportError::Date(text.to_owned()))?;
    let date = if end_of_day {
        date.next_day()
            .ok_or_else(|| ExportError::Date(text.to_owned()))?
    } else {
        date
    };
    Ok(date.midnight().assume_utc())
}

/// What an export wrote.
#[derive(Debug)]
pub struct Summary {
    pub records: usize,
    pub period_records: usize,
    pub checkpoints: usize,
    pub unsigned_tail: usize,
}

/// Writes the bundle for records with `from <= ts < to` from `source`.
pub fn export(
    source: &Source<'_>,
    from: OffsetDateTime,
    to: OffsetDateTime,
    out: &Path,
) -> Result<Summary, ExportError> {
    let (label, lines) = match source {
        Source::Files(target) => (target.display().to_string(), read_files(target)?),
        Source::Postgres {
            url,
            table,
            replica,
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| ExportError::Postgres(e.to_string()))?;
            let (replica, lines) = runtime.block_on(read_table(url, table, *replica))?;
            (format!("postgres table {table}, replica {replica}"), lines)
        }
    };
    let lines = lines
        .into_iter()
        .filter_map(|line| {
            let record = serde_json::from_str::<Map<String, Value>>(&line).ok()?;
            Some((line, record))
        })
        .collect();
    bundle(&label, lines, from, to, out)
}

/// The complete lines of a file sink's file, or of every file of its directory in order.
fn read_files(target: &Path) -> Result<Vec<String>, ExportError> {
    let read_err = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| ExportError::Read(p, e.kind())
    };
    let files = if target.is_dir() {
        list_files(target).map_err(read_err(target))?
    } else {
        vec![target.to_path_buf()]
    };
    let mut lines = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(read_err(f))?;
        for line in text.split_inclusive('\n') {
            // Only complete lines: a torn tail is not part of the chain.
            if let Some(line) = line.strip_suffix('\n') {
                lines.push(line.to_owned());
            }
        }
    }
    Ok(lines)
}

/// One replica's chain from a Postgres sink's table, in `seq` order: the replica's name
/// and the exact lines that were hashed (the `record` column).
async fn read_table(
    url: &str,
    table: &str,
    replica: Option<&str>,
) -> Result<(String, Vec<String>), ExportError> {
    if !crate::audit::sink::valid_table(table) {
        return Err(ExportError::Table(table.to_owned()));
    }
    let db_err = |e: tokio_postgres::Error| ExportError::Postgres(crate::postgres::with_causes(&e));
    let client = crate::postgres::connect(url, "audit export")
        .await
        .map_err(|e| ExportError::Postgres(e.to_string()))?;
    let replicas: Vec<String> = client
        .query(
            &format!("SELECT DISTINCT replica FROM {table} ORDER BY replica"),
            &[],
        )
        .await
        .map_err(db_err)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let replica = match (replica, replicas.as_slice()) {
        (Some(r), all) if all.iter().any(|a| a == r) => r.to_owned(),
        (Some(r), all) => return Err(ExportError::NoReplica(r.to_owned(), all.join(", "))),
        (None, [only]) => only.clone(),
        (None, []) => return Err(ExportError::NoReplica(String::new(), String::new())),
        (None, all) => return Err(ExportError::Replicas(all.join(", "))),
    };
    let lines = client
        .query(
            &format!("SELECT record FROM {table} WHERE replica = $1 ORDER BY seq"),
            &[&replica],
        )
        .await
        .map_err(db_err)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok((replica, lines))
}

/// The bundle of `lines` (a whole chain, in order) for the period `from..to`.
fn bundle(
    source: &str,
    lines: Vec<(String, Map<String, Value>)>,
    from: OffsetDateTime,
    to: OffsetDateTime,
    out: &Path,
) -> Result<Summary, ExportError> {
    let ts = |r: &Map<String, Value>| {
        r.get("ts")
            .and_then(Value::as_str)
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    };
    let in_period = |r: &Map<String, Value>| ts(r).is_some_and(|t| t >= from && t < to);
    let fmt = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let first = lines
        .iter()
        .position(|(_, r)| in_period(r))
        .ok_or_else(|| ExportError::Empty(fmt(from), fmt(to)))?;
    let last_in = lines
        .iter()
        .rposition(|(_, r)| in_period(r))
        .unwrap_or(first);
    let is_checkpoint =
        |r: &Map<String, Value>| r.get("type").and_then(Value::as_str) == Some("checkpoint");
    // Extend to the checkpoint that signs the period's last record, if there is one yet.
    let end = lines
        .iter()
        .enumerate()
        .skip(last_in)
        .find(|(_, (_, r))| is_checkpoint(r))
        .map_or(last_in, |(i, _)| i);
    let chosen = lines.get(first..=end).unwrap_or_default();
    let period_records = chosen.iter().filter(|(_, r)| in_period(r)).count();
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    for (_, r) in chosen {
        let t = r.get("type").and_then(Value::as_str).unwrap_or("?");
        *by_type.entry(t.to_owned()).or_default() += 1;
    }
    let checkpoints: Vec<&Map<String, Value>> = chosen
        .iter()
        .map(|(_, r)| r)
        .filter(|r| is_checkpoint(r))
        .collect();
    let unsigned_tail = chosen
        .iter()
        .rev()
        .take_while(|(_, r)| !is_checkpoint(r))
        .count();
    let public_key = checkpoints
        .last()
        .and_then(|c| c.get("public_key"))
        .cloned()
        .unwrap_or(Value::Null);
    let field = |i: usize, k: &str| {
        chosen
            .get(i)
            .and_then(|(_, r)| r.get(k))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let last = chosen.len().saturating_sub(1);
    let manifest = json!({
        "source": source,
        "from": fmt(from),
        "to": fmt(to),
        "exported_at": fmt(OffsetDateTime::now_utc()),
        "records": chosen.len(),
        "period_records": period_records,
        "by_type": by_type,
        "first": {"seq": field(0, "seq"), "prev": field(0, "prev")},
        "last": {"seq": field(last, "seq"), "hash": field(last, "hash")},
        "checkpoints": checkpoints.len(),
        "unsigned_tail": unsigned_tail,
        "replica": checkpoints.last().and_then(|c| c.get("replica")).cloned().unwrap_or(Value::Null),
    });
    let bundle = json!({
        "format": FORMAT,
        "manifest": manifest,
        "public_key": public_key,
        "records": chosen.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
    });
    let mut text = canonical(&bundle);
    text.push('\n');
    std::fs::write(out, text)
        .map_err(|e| ExportError::Write(out.display().to_string(), e.kind()))?;
    Ok(Summary {
        records: chosen.len(),
        period_records,
        checkpoints: checkpoints.len(),
        unsigned_tail,
    })
}

/// A bundle read back: its lines and manifest, or `None` if `bytes` is not a bundle.
pub struct Bundle {
    pub manifest: Map<String, Value>,
    pub public_key: Option<String>,
    pub records: Vec<String>,
}

pub fn parse(bytes: &[u8]) -> Option<Bundle> {
    let v: Map<String, Value> = serde_json::from_slice(bytes).ok()?;
    if v.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return None;
    }
    Some(Bundle {
        manifest: v.get("manifest")?.as_object()?.clone(),
        public_key: v
            .get("public_key")
            .and_then(Value::as_str)
            .map(str::to_owned),
        records: v
            .get("records")?
            .as_array()?
            .iter()
            .filter_map(|l| l.as_str().map(str::to_owned))
            .collect(),
    })
}
