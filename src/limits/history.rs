//! Rebuilding the memory backend's spend after a restart, from the audit trail.
//!
//! In memory, a key's spend lives only as long as the process: without this, a key past
//! its budget would start over at zero on every restart (or crash-loop). The audit trail
//! already holds every charge — each `response` record carries the `cost` the key was
//! charged (reported by the upstream, or estimated and marked so) — and it is durable,
//! hash-chained and written before the counters are. So on start the spend of the current
//! day and month is summed from it, per key, instead of keeping a second state file that
//! could disagree with the audit (or be lost with the pod while the audit is kept).
//!
//! - file sink: the files of the current month (each file holds one UTC day, named by it);
//! - postgres sink: the `response` rows since the start of the month, every replica's
//!   (a memory backend is meant for one replica; counting more never under-counts); a
//!   table that does not exist yet holds no charges;
//! - stdout sink: nothing to read back; budgets restart from zero (logged at start).
//!
//! Open reservations of requests cut short by the restart are not rebuilt: they had not
//! been charged, and they would have lapsed anyway.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::budget::{Nanos, Period};
use crate::audit::SinkSettings;
use crate::secret::Secret;

/// Where past spend can be read back from.
#[derive(Clone)]
pub enum History {
    /// The audit's file sink directory.
    Files(PathBuf),
    /// The audit's Postgres table (the URL may hold a password: a `Secret`).
    Postgres { url: Secret, table: String },
    /// Nothing to read (stdout sink).
    None,
}

impl History {
    /// The history the audit settings keep.
    pub fn of(sink: &SinkSettings) -> Self {
        match sink {
            SinkSettings::File { dir, .. } => Self::Files(dir.clone()),
            SinkSettings::Postgres { url, table, .. } => Self::Postgres {
                url: url.clone(),
                table: table.clone(),
            },
            SinkSettings::Stdout => Self::None,
        }
    }
}

/// Why past spend could not be read. Names no path content, URL or record.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot read the audit files: {0}")]
    Io(std::io::ErrorKind),
    #[error("cannot query the audit table")]
    Postgres,
    #[error("cannot connect to the audit database: {0}")]
    Connect(String),
}

/// Spend per `(key id, period id)`, for the day and the month `now` falls in.
pub type Spend = HashMap<(String, String), i64>;

/// Sums the charges of one audit line into `spend`, if it is a `response` record of the
/// current day or month. Other lines (other types, older periods, a torn last line) add
/// nothing.
pub fn add_line(spend: &mut Spend, line: &str, now: OffsetDateTime) {
    // Cheap pre-check: most lines are other record types.
    if !line.contains("\"response\"") {
        return;
    }
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return;
    };
    add_record(spend, &v, now);
}

fn add_record(spend: &mut Spend, v: &Value, now: OffsetDateTime) {
    if v["type"] != "response" {
        return;
    }
    let (Some(key), Some(cost)) = (v["key_id"].as_str(), v["cost"].as_f64()) else {
        return;
    };
    let Some(ts) = v["ts"]
        .as_str()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    else {
        return;
    };
    let amount = Nanos::from_usd(cost);
    if amount.0 == 0 {
        return;
    }
    for period in [Period::Day, Period::Month] {
        let id = period.id(ts);
        if id == period.id(now) {
            let slot = spend.entry((key.to_owned(), id)).or_insert(0);
            *slot = slot.saturating_add(amount.0);
        }
    }
}

/// The spend in the audit files of `dir` (blocking I/O: run off the request path).
pub fn read_files(dir: &Path, now: OffsetDateTime) -> Result<Spend, HistoryError> {
    let mut spend = Spend::new();
    let files = match crate::audit::sink::file::list_files(dir) {
        Ok(files) => files,
        // A first start: no audit yet, nothing spent.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(spend),
        Err(e) => return Err(HistoryError::Io(e.kind())),
    };
    let month_start = now
        .to_offset(time::UtcOffset::UTC)
        .date()
        .replace_day(1)
        .ok();
    for file in files {
        // A file holds one UTC day, named by it: one of an earlier month holds nothing of
        // this one. A name that does not parse is read (never under-count).
        let day = file.file_stem().and_then(|n| n.to_str()).and_then(file_day);
        if matches!((day, month_start), (Some(d), Some(m)) if d < m) {
            continue;
        }
        let f = std::fs::File::open(&file).map_err(|e| HistoryError::Io(e.kind()))?;
        for line in std::io::BufReader::new(f).lines() {
            match line {
                Ok(line) => add_line(&mut spend, &line, now),
                // A torn or non-UTF-8 tail: the rest of this file is skipped.
                Err(_) => break,
            }
        }
    }
    Ok(spend)
}

/// The UTC day at the end of an audit file's name (`audit-<seq>-<YYYY-MM-DD>`).
fn file_day(stem: &str) -> Option<time::Date> {
    let day = stem.get(stem.len().checked_sub(10)?..)?;
    time::Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// The spend in the audit table since the start of the month.
pub async fn read_postgres(
    url: &Secret,
    table: &str,
    now: OffsetDateTime,
) -> Result<Spend, HistoryError> {
    let client = crate::postgres::connect(url.expose(), "spend history")
        .await
        .map_err(|e| HistoryError::Connect(e.to_string()))?;
    let since = now
        .to_offset(time::UtcOffset::UTC)
        .date()
        .replace_day(1)
        .map(|d| format!("{:04}-{:02}-01T00:00:00Z", d.year(), u8::from(d.month())))
        .map_err(|_| HistoryError::Postgres)?;
    // The table name was validated as an identifier when the config was compiled.
    let sql = format!(
        "SELECT record FROM {table} WHERE kind = 'response' AND ts >= $1::text::timestamptz"
    );
    let rows = match client.query(&sql, &[&since]).await {
        Ok(rows) => rows,
        // No table, no charges: a first start with `postgres_create` reads the history
        // while the audit writer is still creating the table (its DDL not yet committed).
        // Refusing there turned a new deployment's first budgeted requests into 503s.
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
            tracing::info!("no audit table yet: budget spend starts from zero");
            return Ok(Spend::new());
        }
        Err(_) => return Err(HistoryError::Postgres),
    };
    let mut spend = Spend::new();
    for row in rows {
        let record: String = row.try_get(0).map_err(|_| HistoryError::Postgres)?;
        add_line(&mut spend, &record, now);
    }
    Ok(spend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_day_and_month_are_summed_per_key() {
        let now = time::macros::datetime!(2026-12-15 10:00 UTC);
        let mut spend = Spend::new();
        let lines = [
            r#"{"type":"response","ts":"2026-12-15T09:00:00Z","key_id":"a","cost":0.5}"#,
            r#"{"type":"response","ts":"2026-12-02T09:00:00Z","key_id":"a","cost":0.25}"#,
            r#"{"type":"response","ts":"2026-11-30T23:59:59Z","key_id":"a","cost":9.0}"#,
            r#"{"type":"response","ts":"2026-12-15T09:00:00Z","key_id":"b","cost":0.1,"cost_estimated":true}"#,
            r#"{"type":"response","ts":"2026-12-15T09:00:00Z","key_id":"b","cost":null}"#,
            r#"{"type":"request","ts":"2026-12-15T09:00:00Z","key_id":"b","cost":7}"#,
            r#"{"type":"response","ts":"2026-12-15T09:00:00Z","key_id":null,"cost":1.0}"#,
            r#"{"type":"response","ts":"2026-12-15T09:00:00Z","key_id":"b","co"#,
        ];
        for line in lines {
            add_line(&mut spend, line, now);
        }
        let get = |k: &str, p: &str| spend.get(&(k.to_owned(), p.to_owned())).copied();
        assert_eq!(get("a", "d2026-12-15"), Some(500_000_000));
        assert_eq!(get("a", "m2026-12"), Some(750_000_000));
        assert_eq!(get("b", "d2026-12-15"), Some(100_000_000));
        assert_eq!(get("b", "m2026-12"), Some(100_000_000));
        assert_eq!(spend.len(), 4, "{spend:?}");
    }

    #[test]
    fn audit_file_names_give_their_day() {
        assert_eq!(
            file_day("audit-0000000000000001-2026-12-15"),
            Some(time::macros::date!(2026 - 12 - 15))
        );
        assert_eq!(file_day("audit-x"), None);
    }
}
