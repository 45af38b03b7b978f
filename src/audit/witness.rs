//! Witnesses: copies of every checkpoint kept where the gateway host cannot rewrite them.
//!
//! A checkpoint in the chain proves nothing about records cut *after* it; a copy elsewhere
//! does (RFC 9162's witnesses keep signed tree heads for the same reason). Two kinds:
//!
//! - a directory, meant to be on another volume (`audit.witness_dir`): one file per
//!   replica, `<replica>.checkpoints.jsonl`, each line the checkpoint record as sealed;
//! - a Postgres table in another database (`audit.witness_postgres_url`,
//!   `audit.witness_postgres_table`), with the same append-only trigger as the audit table.
//!
//! Witness writes run on their own thread, fed by a bounded queue the audit writer never
//! waits on: a slow or dead witness must not hold up a single request. A failed write is
//! counted, logged, kept and retried with exponential backoff (per witness, so one dead
//! witness does not starve the other); `orguard_audit_witness_*` metrics and the
//! `OrguardAuditWitnessFailing` alert make it visible. At shutdown the thread gets a few
//! seconds to deliver the final checkpoint.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;
use tokio_postgres::Client;

use super::AuditError;
use crate::secret::Secret;

/// Checkpoints waiting per witness before new ones are dropped (counted): at one checkpoint
/// a minute this is a week of outage.
const MAX_PENDING: usize = 10_000;
const QUEUE: usize = 1024;
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long shutdown waits for the last checkpoint to reach the witnesses.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Where checkpoints are copied.
#[derive(Debug, Clone, Default)]
pub struct WitnessSettings {
    pub dir: Option<PathBuf>,
    pub postgres: Option<PostgresWitness>,
}

#[derive(Debug, Clone)]
pub struct PostgresWitness {
    pub url: Secret,
    pub table: String,
    pub create: bool,
}

impl WitnessSettings {
    pub fn is_empty(&self) -> bool {
        self.dir.is_none() && self.postgres.is_none()
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct WitnessHealth {
    pub written: AtomicU64,
    pub failures: AtomicU64,
    pub dropped: AtomicU64,
    pub pending: AtomicU64,
    pub failing: AtomicBool,
}

/// One checkpoint for the witnesses.
#[derive(Debug, Clone)]
struct Entry {
    replica: String,
    seq: u64,
    head_seq: u64,
    head_hash: String,
    ts: String,
    key_id: String,
    line: String,
}

enum Message {
    Checkpoint(Entry),
    Close(mpsc::Sender<()>),
}

/// The handle the audit writer holds.
pub struct Witness {
    tx: SyncSender<Message>,
    pub health: Arc<WitnessHealth>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Witness {
    pub fn start(settings: &WitnessSettings, health: Arc<WitnessHealth>) -> Self {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let mut targets = Vec::new();
        if let Some(dir) = &settings.dir {
            targets.push(Target::new(Kind::Dir(dir.clone())));
        }
        if let Some(pg) = &settings.postgres {
            targets.push(Target::new(Kind::Postgres {
                settings: pg.clone(),
                client: None,
            }));
        }
        let thread_health = Arc::clone(&health);
        let thread = std::thread::Builder::new()
            .name("orguard-witness".to_owned())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(run(targets, rx, thread_health)),
                    Err(e) => tracing::error!(error = %e, "cannot start the witness runtime"),
                }
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the witness thread");
                health.failing.store(true, Ordering::Relaxed);
                None
            }
        };
        Self {
            tx,
            health,
            thread: Mutex::new(thread),
        }
    }

    /// Queues a sealed checkpoint record. Never waits: a full queue drops it (counted).
    pub fn send(&self, fields: &Map<String, Value>, line: &str) {
        let s = |k: &str| {
            fields
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let n = |k: &str| fields.get(k).and_then(Value::as_u64).unwrap_or_default();
        let entry = Entry {
            replica: s("replica"),
            seq: n("seq"),
            head_seq: n("head_seq"),
            head_hash: s("head_hash"),
            ts: s("ts"),
            key_id: s("key_id"),
            line: line.to_owned(),
        };
        match self.tx.try_send(Message::Checkpoint(entry)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.health.dropped.fetch_add(1, Ordering::Relaxed);
                self.health.failing.store(true, Ordering::Relaxed);
                tracing::error!("witness queue full or closed; a checkpoint was not witnessed");
            }
        }
    }

    /// Delivers what is pending (bounded by a few seconds) and stops the thread.
    pub fn close(&self) {
        let (done, wait) = mpsc::channel();
        if self.tx.send(Message::Close(done)).is_ok() {
            let _ = wait.recv_timeout(CLOSE_WAIT + Duration::from_secs(1));
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

enum Kind {
    Dir(PathBuf),
    Postgres {
        settings: PostgresWitness,
        client: Option<Client>,
    },
}

struct Target {
    kind: Kind,
    pending: VecDeque<Entry>,
    backoff: Duration,
    next_try: Option<Instant>,
}

impl Target {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            pending: VecDeque::new(),
            backoff: BACKOFF_FIRST,
            next_try: None,
        }
    }

    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Dir(_) => "dir",
            Kind::Postgres { .. } => "postgres",
        }
    }

    /// Writes pending checkpoints in order until one fails.
    async fn flush(&mut self, health: &WitnessHealth) {
        while let Some(entry) = self.pending.front() {
            let result = match &mut self.kind {
                Kind::Dir(dir) => write_dir(dir, entry),
                Kind::Postgres { settings, client } => {
                    write_postgres(settings, client, entry).await
                }
            };
            match result {
                Ok(()) => {
                    self.pending.pop_front();
                    health.written.fetch_add(1, Ordering::Relaxed);
                    self.backoff = BACKOFF_FIRST;
                    self.next_try = None;
                }
                Err(e) => {
                    health.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(witness = self.name(), error = %e, pending = self.pending.len(), retry_ms = self.backoff.as_millis() as u64, "witness write failed; will retry");
                    if let Kind::Postgres { client, .. } = &mut self.kind {
                        *client = None;
                    }
                    self.next_try = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                    return;
                }
            }
        }
    }
}

async fn run(mut targets: Vec<Target>, rx: mpsc::Receiver<Message>, health: Arc<WitnessHealth>) {
    loop {
        let now = Instant::now();
        let wait = targets
            .iter()
            .filter(|t| !t.pending.is_empty())
            .map(|t| {
                t.next_try
                    .map_or(Duration::ZERO, |at| at.saturating_duration_since(now))
            })
            .min();
        // Blocking here is fine: this thread exists to wait for checkpoints.
        let message = match wait {
            Some(d) => match rx.recv_timeout(d) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            },
        };
        let mut close = None;
        match message {
            Some(Message::Checkpoint(entry)) => {
                for t in &mut targets {
                    if t.pending.len() < MAX_PENDING {
                        t.pending.push_back(entry.clone());
                    } else {
                        health.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Some(Message::Close(done)) => close = Some(done),
            None => {}
        }
        let now = Instant::now();
        for t in &mut targets {
            if t.next_try.is_none_or(|at| at <= now) || close.is_some() {
                t.flush(&health).await;
            }
        }
        if let Some(done) = close {
            // One more round for a witness that just failed, within the shutdown budget.
            let deadline = Instant::now() + CLOSE_WAIT;
            for t in &mut targets {
                while !t.pending.is_empty() && Instant::now() < deadline {
                    tokio::time::sleep(BACKOFF_FIRST).await;
                    t.flush(&health).await;
                }
                if !t.pending.is_empty() {
                    tracing::error!(
                        witness = t.name(),
                        pending = t.pending.len(),
                        "checkpoints not witnessed before shutdown"
                    );
                }
            }
            update(&targets, &health);
            let _ = done.send(());
            return;
        }
        update(&targets, &health);
    }
}

fn update(targets: &[Target], health: &WitnessHealth) {
    let pending: usize = targets.iter().map(|t| t.pending.len()).sum();
    health.pending.store(pending as u64, Ordering::Relaxed);
    health.failing.store(pending > 0, Ordering::Relaxed);
}

/// The witness file of `replica` in `dir`. Replica ids are checked at config time to be
/// file-name safe.
pub fn witness_file(dir: &Path, replica: &str) -> PathBuf {
    dir.join(format!("{replica}.checkpoints.jsonl"))
}

fn write_dir(dir: &Path, entry: &Entry) -> Result<(), AuditError> {
    std::fs::create_dir_all(dir).map_err(AuditError::io)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(witness_file(dir, &entry.replica))
        .map_err(AuditError::io)?;
    let mut line = entry.line.clone();
    line.push('\n');
    file.write_all(line.as_bytes()).map_err(AuditError::io)?;
    file.sync_data().map_err(AuditError::io)
}

/// The witness table: one row per checkpoint, append-only like the audit table.
pub fn schema_sql(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            replica   text        NOT NULL,
            seq       bigint      NOT NULL,
            head_seq  bigint      NOT NULL,
            head_hash text        NOT NULL,
            ts        timestamptz NOT NULL,
            key_id    text        NOT NULL,
            record    text        NOT NULL,
            PRIMARY KEY (replica, seq)
        );
        CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{table} is append-only: % refused', TG_OP;
        END $$;
        CREATE OR REPLACE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_append_only();
        CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only();"
    )
}

async fn write_postgres(
    settings: &PostgresWitness,
    client: &mut Option<Client>,
    entry: &Entry,
) -> Result<(), AuditError> {
    if client.as_ref().is_none_or(Client::is_closed) {
        let schema = settings.create.then(|| schema_sql(&settings.table));
        let c = super::sink::connect_postgres(settings.url.expose(), schema.as_deref(), "witness")
            .await?;
        *client = Some(c);
    }
    let Some(c) = client.as_ref() else {
        return Err(AuditError::Closed);
    };
    let seq = i64::try_from(entry.seq).unwrap_or(i64::MAX);
    let head_seq = i64::try_from(entry.head_seq).unwrap_or(i64::MAX);
    // A retry after a lost acknowledgement finds its row already there: that is success.
    c.execute(
        &format!(
            "INSERT INTO {} (replica, seq, head_seq, head_hash, ts, key_id, record)
             VALUES ($1, $2, $3, $4, $5::text::timestamptz, $6, $7) ON CONFLICT DO NOTHING",
            settings.table
        ),
        &[
            &entry.replica,
            &seq,
            &head_seq,
            &entry.head_hash,
            &entry.ts,
            &entry.key_id,
            &entry.line,
        ],
    )
    .await
    .map_err(AuditError::postgres)?;
    Ok(())
}

/// Reads witnessed checkpoint records (for `audit verify --witness`): a directory of
/// `*.checkpoints.jsonl`, one such file, or a Postgres URL (with `table`).
pub async fn read(target: &str, table: &str) -> Result<Vec<Map<String, Value>>, String> {
    let lines: Vec<String> =
        if target.starts_with("postgres://") || target.starts_with("postgresql://") {
            if !super::sink::valid_table(table) {
                return Err(format!(
                    "{table:?} is not a table name (a lowercase SQL identifier)"
                ));
            }
            let client = super::sink::connect_postgres(target, None, "witness")
                .await
                .map_err(|e| format!("cannot connect to the witness database: {e}"))?;
            client
                .query(
                    &format!("SELECT record FROM {table} ORDER BY replica, seq"),
                    &[],
                )
                .await
                .map_err(|e| {
                    format!(
                        "cannot read the witness table {table}: {}",
                        crate::postgres::with_causes(&e)
                    )
                })?
                .iter()
                .map(|r| r.get(0))
                .collect()
        } else {
            let path = Path::new(target);
            let files = if path.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|e| format!("cannot read {target}: {e}"))?
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().ends_with(".checkpoints.jsonl"))
                    .collect();
                files.sort();
                files
            } else {
                vec![path.to_path_buf()]
            };
            let mut lines = Vec::new();
            for f in files {
                let text = std::fs::read_to_string(&f)
                    .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
                lines.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
            }
            lines
        };
    let mut out = Vec::new();
    for line in lines {
        // A torn last line (a crash of the witness host) is skipped, not fatal.
        if let Ok(record) = serde_json::from_str::<Map<String, Value>>(&line) {
            out.push(record);
        }
    }
    if out.is_empty() {
        return Err(format!("the witness {target} holds no checkpoints"));
    }
    Ok(out)
}
