//! The file sink: JSON lines in `audit.dir`, one chain across rotated files.
//!
//! Files are named `audit-<first seq, 16 digits>-<UTC date>.jsonl`, so name order is chain
//! order. A new file starts when the current one passes `rotate_bytes` or the UTC day
//! changes; its first record links to the last record of the previous file. On start, the
//! chain continues from the last complete record on disk. A torn last line (a crash
//! mid-write) is reported and left in place — never appended to — and the chain continues
//! in a new file from the last complete record, so `audit verify` shows exactly where the
//! crash happened.
//!
//! Writes and fsyncs run directly on the audit writer's own thread (see `writer.rs`): it
//! exists for this, so no further thread hop is needed, and request workers never block.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{Durability, Sealed};
use crate::audit::chain::{hash_of, Link};
use crate::audit::AuditError;

/// When records reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Before the request may go upstream (one fsync per batch: group commit). Records
    /// nobody waits on are synced with the next such batch, or within
    /// [`crate::audit::writer::DEFERRED_SYNC`].
    Always,
    /// On a timer; a crash may lose the last interval.
    Interval(Duration),
}

pub struct FileSink {
    dir: PathBuf,
    fsync: Fsync,
    rotate_bytes: u64,
    retention_days: u32,
    financial_retention_days: u32,
    current: Option<Current>,
    /// Set after startup found a torn tail: the next write opens a new file.
    force_new_file: bool,
    /// The last file found at start, intact: the first write continues it.
    resume: Option<PathBuf>,
    /// An exclusive lock on `<dir>/.lock`: two processes never write one chain.
    lock: Option<File>,
    /// With `fsync = always`: records written with [`Durability::Soon`] and not synced yet.
    unsynced: bool,
    /// Files given up (rotated away from, or after a failed write or sync) that may hold
    /// records not yet synced: synced before any later batch is acknowledged.
    left: Vec<File>,
    /// fsyncs done so far (a metric: what group commit and deferred syncs save).
    syncs: u64,
}

struct Current {
    file: File,
    size: u64,
    day: (i32, u8, u8),
}

impl Current {
    /// Full: past the rotation size, or from an earlier (UTC) day.
    fn full(&self, rotate_bytes: u64) -> bool {
        self.size >= rotate_bytes || self.day != today()
    }
}

fn today() -> (i32, u8, u8) {
    let now = OffsetDateTime::now_utc();
    (now.year(), u8::from(now.month()), now.day())
}

/// The audit files in `dir`, in chain order.
pub fn list_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    Ok(files)
}

impl FileSink {
    pub fn new(
        dir: PathBuf,
        fsync: Fsync,
        rotate_bytes: u64,
        retention_days: u32,
        financial_retention_days: u32,
    ) -> Self {
        Self {
            dir,
            fsync,
            rotate_bytes,
            retention_days,
            financial_retention_days,
            current: None,
            force_new_file: false,
            resume: None,
            lock: None,
            unsynced: false,
            left: Vec::new(),
            syncs: 0,
        }
    }

    /// Finds the end of the chain on disk (and, the first time, locks the directory).
    pub async fn tail(&mut self) -> Result<Link, AuditError> {
        if self.lock.is_none() {
            self.lock = Some(lock_dir(&self.dir)?);
        }
        let tail = read_tail(&self.dir)?;
        self.current = None;
        self.resume = None;
        if let Some(torn) = &tail.torn {
            tracing::error!(
                file = %torn.display(),
                after_seq = tail.link.seq,
                "audit file ends with a torn record (crash during a write?); it is left as is and the chain continues in a new file"
            );
            self.force_new_file = true;
            if tail.file.as_ref() != Some(torn) {
                // The torn file holds no complete record, and the next file would take its
                // name: set it aside (as evidence) outside the chain.
                let aside = torn.with_extension("jsonl.torn");
                if let Err(e) = std::fs::rename(torn, &aside) {
                    tracing::error!(file = %torn.display(), error = %e, "cannot set a torn audit file aside");
                } else {
                    tracing::error!(file = %aside.display(), "torn audit file without a complete record set aside");
                }
            }
        } else {
            self.resume = tail.file;
        }
        Ok(tail.link)
    }

    pub async fn write(
        &mut self,
        batch: &[Sealed],
        durability: Durability,
    ) -> Result<(), AuditError> {
        let Some(first) = batch.first() else {
            return Ok(());
        };
        let mut bytes = Vec::with_capacity(batch.iter().map(|r| r.line.len() + 1).sum());
        for r in batch {
            bytes.extend_from_slice(r.line.as_bytes());
            bytes.push(b'\n');
        }
        // The writer runs on its own thread, so blocking file I/O here stalls no request;
        // a hop to a blocking pool would only add a context switch per batch.
        if durability == Durability::Now {
            // Records in a file given up earlier are synced before this batch is answered.
            self.sync_left().map_err(AuditError::io)?;
        }
        let (mut cur, opened_new) = self.file_for(first.seq).map_err(AuditError::io)?;
        if let Err(e) = cur.file.write_all(&bytes) {
            // The next batch starts a new file; this one is kept to be synced.
            self.give_up(cur.file);
            return Err(AuditError::io(e));
        }
        if self.fsync == Fsync::Always {
            if durability == Durability::Now {
                self.syncs += 1;
                if let Err(e) = cur.file.sync_data() {
                    self.give_up(cur.file);
                    return Err(AuditError::io(e));
                }
                self.unsynced = false;
            } else {
                self.unsynced = true;
            }
        }
        cur.size += bytes.len() as u64;
        self.current = Some(cur);
        self.force_new_file = false;
        if opened_new {
            self.apply_retention().await;
        }
        Ok(())
    }

    /// The file the next batch goes to, and whether it was just created (retention runs
    /// then): the current one, else the file the chain ended in at start, unless either is
    /// full or a new file is forced.
    fn file_for(&mut self, first_seq: u64) -> std::io::Result<(Current, bool)> {
        let resume = self.resume.take();
        if let Some(c) = self.current.take() {
            if !self.force_new_file && !c.full(self.rotate_bytes) {
                return Ok((c, false));
            }
            // The file being left behind gets its last fsync: for `interval` its last
            // interval, for `always` the records nobody waited on. With `always` a failure
            // fails the batch (the file is kept and synced again before the next one).
            if self.fsync != Fsync::Always || self.unsynced {
                self.syncs += 1;
                if let Err(e) = c.file.sync_data() {
                    if self.fsync == Fsync::Always {
                        self.give_up(c.file);
                        return Err(e);
                    }
                }
                self.unsynced = false;
            }
        } else if let Some(path) = resume.filter(|_| !self.force_new_file) {
            if let Some(c) = open_existing(&path)?.filter(|c| !c.full(self.rotate_bytes)) {
                return Ok((c, false));
            }
        }
        Ok((open_new(&self.dir, first_seq)?, true))
    }

    /// Keeps a file that may hold unsynced records (a failed write or sync, or a failed
    /// sync on rotation) to be synced before the next acknowledged batch.
    fn give_up(&mut self, file: File) {
        self.left.push(file);
        self.unsynced = true;
    }

    /// Syncs the files given up earlier, oldest first; each is dropped once synced.
    fn sync_left(&mut self) -> std::io::Result<()> {
        while let Some(file) = self.left.first() {
            self.syncs += 1;
            file.sync_data()?;
            self.left.remove(0);
        }
        Ok(())
    }

    pub async fn sync(&mut self) -> Result<(), AuditError> {
        self.sync_left().map_err(AuditError::io)?;
        let Some(current) = self.current.take() else {
            self.unsynced = false;
            return Ok(());
        };
        self.syncs += 1;
        if let Err(e) = current.file.sync_data() {
            // Not trusted with more records: the next batch starts a new file, and this
            // one must sync before any batch is answered.
            self.give_up(current.file);
            return Err(AuditError::io(e));
        }
        self.current = Some(current);
        self.unsynced = false;
        Ok(())
    }

    /// A file given up after a failure still holds records that are not known to be on
    /// disk: the audit stays failing until it syncs.
    pub fn holds_failed_file(&self) -> bool {
        !self.left.is_empty()
    }

    /// Records written with [`Durability::Soon`] under `fsync = always` and not synced yet.
    pub fn unsynced(&self) -> bool {
        self.unsynced || !self.left.is_empty()
    }

    /// fsyncs done so far.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Deletes files past retention. A file holding `response` records (cost data) is kept
    /// for `financial_retention_days`; others for `retention_days`. 0 keeps forever.
    async fn apply_retention(&self) {
        if self.retention_days == 0 {
            return;
        }
        let (ops, fin) = (self.retention_days, self.financial_retention_days);
        let Ok(files) = list_files(&self.dir) else {
            return;
        };
        // Oldest first, never the newest file (it holds the chain's end).
        for path in files.iter().take(files.len().saturating_sub(1)) {
            let age_days = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .map_or(0, |d| d.as_secs() / 86_400);
            // Younger than the shorter retention: kept whatever it holds, so it is not read.
            // Only a leading run of old files goes: removing one from the middle would cut
            // the chain.
            if age_days < u64::from(ops) {
                break;
            }
            let contents = std::fs::read(path).ok();
            let has_costs = contents
                .as_deref()
                .is_some_and(|b| memchr::memmem::find(b, br#""type":"response""#).is_some());
            // financial_retention_days = 0 keeps cost data forever.
            let keep_days = match (has_costs, fin) {
                (true, 0) => None,
                (true, fin) => Some(u64::from(ops.max(fin))),
                (false, _) => Some(u64::from(ops)),
            };
            // Only a leading run of old files goes: removing one from the middle would
            // cut the chain.
            if keep_days.is_none_or(|k| age_days < k) {
                break;
            }
            match std::fs::remove_file(path) {
                Ok(()) => {
                    tracing::info!(file = %path.display(), age_days, "audit file removed by retention");
                    // Captures go with the records that reference them: after the file, so
                    // a failure leaves an unreferenced (still encrypted) capture, never a
                    // record whose capture is missing.
                    remove_captures(&self.dir, contents.as_deref().unwrap_or_default());
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "audit retention could not remove a file");
                    break;
                }
            }
        }
    }
}

/// Deletes the encrypted captures referenced by the records in `contents` (a file removed
/// by retention).
fn remove_captures(dir: &Path, contents: &[u8]) {
    let Ok(text) = std::str::from_utf8(contents) else {
        return;
    };
    let captures = dir.join(crate::audit::capture::DIR);
    let mut removed = 0u64;
    for (name, _) in text.lines().filter_map(crate::audit::capture::reference) {
        match std::fs::remove_file(captures.join(&name)) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(capture = %name, error = %e, "audit retention could not remove a capture");
            }
        }
    }
    if removed > 0 {
        tracing::info!(removed, "captures removed by retention with their records");
    }
}

/// Reopens the file the chain ended in, for appending. The day comes from its name.
fn open_existing(path: &Path) -> std::io::Result<Option<Current>> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let date = name
        .trim_end_matches(".jsonl")
        .rsplit('-')
        .next()
        .unwrap_or_default();
    let parse = |r: std::ops::Range<usize>| date.get(r).and_then(|d| d.parse::<u32>().ok());
    let (Some(y), Some(m), Some(d)) = (parse(0..4), parse(4..6), parse(6..8)) else {
        return Ok(None);
    };
    let day = (
        i32::try_from(y).unwrap_or_default(),
        u8::try_from(m).unwrap_or_default(),
        u8::try_from(d).unwrap_or_default(),
    );
    let file = OpenOptions::new().append(true).open(path)?;
    let size = file.metadata()?.len();
    Ok(Some(Current { file, size, day }))
}

fn lock_dir(dir: &Path) -> Result<File, AuditError> {
    std::fs::create_dir_all(dir).map_err(AuditError::io)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .map_err(AuditError::io)?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(AuditError::Locked(dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(AuditError::io(e)),
    }
}

fn open_new(dir: &Path, first_seq: u64) -> std::io::Result<Current> {
    std::fs::create_dir_all(dir)?;
    let day = today();
    let name = format!(
        "audit-{first_seq:016}-{:04}{:02}{:02}.jsonl",
        day.0, day.1, day.2
    );
    let path = dir.join(name);
    // Never append to an existing file here: that could glue records onto a torn line.
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)?;
    let size = file.metadata()?.len();
    // Make the new directory entry itself durable.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Current { file, size, day })
}

/// What start-up found at the end of the chain on disk.
struct Tail {
    link: Link,
    /// The file holding the last complete record.
    file: Option<PathBuf>,
    /// A file whose last line is torn.
    torn: Option<PathBuf>,
}

/// The last complete, self-consistent record in `dir`, and the file with a torn tail if
/// there is one.
fn read_tail(dir: &Path) -> Result<Tail, AuditError> {
    let files = match list_files(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Tail {
                link: Link::genesis(),
                file: None,
                torn: None,
            })
        }
        Err(e) => return Err(AuditError::io(e)),
    };
    let mut torn = None;
    for path in files.iter().rev() {
        let bytes = std::fs::read(path).map_err(AuditError::io)?;
        let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        // A file ending in '\n' yields one empty last piece; anything else is a torn line.
        match lines.pop() {
            Some([]) | None => {}
            Some(_) => torn = Some(path.clone()),
        }
        let Some(last) = lines.iter().rev().find(|l| !l.is_empty()) else {
            continue;
        };
        let record: Map<String, Value> = serde_json::from_slice(last)
            .map_err(|_| AuditError::CorruptTail(path.display().to_string()))?;
        let hash = record
            .get("hash")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let seq = record
            .get("seq")
            .and_then(Value::as_u64)
            .unwrap_or_default();
        if hash_of(&record) != hash || seq == 0 {
            return Err(AuditError::CorruptTail(path.display().to_string()));
        }
        return Ok(Tail {
            link: Link { seq, hash },
            file: Some(path.clone()),
            torn,
        });
    }
    Ok(Tail {
        link: Link::genesis(),
        file: None,
        torn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(seq: u64) -> Sealed {
        Sealed {
            seq,
            hash: format!("{seq:064x}"),
            prev: format!("{:064x}", seq - 1),
            kind: "response",
            ts: "2026-12-05T00:00:00Z".to_owned(),
            request_id: format!("req_{seq}"),
            line: format!("{{\"seq\":{seq}}}"),
        }
    }

    #[tokio::test]
    async fn a_batch_nobody_waits_on_stays_unsynced_until_a_waited_batch_or_a_sync() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::new(dir.path().to_path_buf(), Fsync::Always, 1 << 20, 0, 0);
        sink.tail().await.unwrap();
        sink.write(&[sealed(1)], Durability::Soon).await.unwrap();
        assert!(sink.unsynced());
        assert_eq!(sink.syncs(), 0);
        sink.write(&[sealed(2)], Durability::Now).await.unwrap();
        assert!(!sink.unsynced());
        assert_eq!(sink.syncs(), 1);
        sink.write(&[sealed(3)], Durability::Soon).await.unwrap();
        sink.sync().await.unwrap();
        assert!(!sink.unsynced());
        assert_eq!(sink.syncs(), 2);
    }

    #[tokio::test]
    async fn rotating_away_from_unsynced_records_syncs_them_first() {
        let dir = tempfile::tempdir().unwrap();
        // Every batch fills the file: each write starts a new one.
        let mut sink = FileSink::new(dir.path().to_path_buf(), Fsync::Always, 1, 0, 0);
        sink.tail().await.unwrap();
        sink.write(&[sealed(1)], Durability::Soon).await.unwrap();
        assert!(sink.unsynced());
        sink.write(&[sealed(2)], Durability::Soon).await.unwrap();
        // The first file was synced on the way out; the second is not yet.
        assert_eq!(sink.syncs(), 1);
        assert!(sink.unsynced());
        // Under `always`, a synced file left behind is not synced again.
        sink.write(&[sealed(3)], Durability::Now).await.unwrap();
        assert_eq!(sink.syncs(), 3);
        sink.write(&[sealed(4)], Durability::Now).await.unwrap();
        assert_eq!(sink.syncs(), 4);
    }
}
