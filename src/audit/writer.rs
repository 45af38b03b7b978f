//! The audit writer: one thread owns the sink and the chain, so records form a single total
//! order however many requests run at once.
//!
//! Requests send records over a bounded channel. The writer takes everything queued (up to a
//! batch limit), seals the records in order, writes them with one write and (for `fsync =
//! always`) one fsync — group commit — and then answers every waiting request. A request
//! record's sender waits for that answer before anything goes upstream.
//!
//! The writer runs on its own thread with its own small runtime. That keeps fsync stalls off
//! the request workers, and it lets the process drop every in-flight stream first (whose
//! final records are sent through reserved [`Slot`]s) and only then close the writer, so no
//! record is lost at shutdown.
//!
//! After a failed write the writer re-reads the chain's end from the sink before the next
//! batch (a torn write or a lost connection is recovered from, not papered over), and
//! records nobody was waiting for (responses, denials, violations) are kept and written
//! with the next batch instead of being dropped.
//!
//! With a signing key the writer also appends signed `checkpoint` records (`checkpoint.rs`):
//! at the end of the batch that reaches `every_records` records since the last one, on the
//! `every` timer if records came since, and at shutdown. Only the writer knows the head
//! hash at the moment a record is sealed, so only it can sign heads without a race. Each
//! written checkpoint is handed to the witnesses without waiting (`witness.rs`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::chain::{seal_fields, Link};
use super::checkpoint::Signer;
use super::record::Record;
use super::sink::{Durability, Sealed, Sink};
use super::witness::{Witness, WitnessHealth, WitnessSettings};
use super::AuditError;

/// Most records sealed and written together.
const MAX_BATCH: usize = 512;

/// With `fsync = always`, the longest a record nobody waits on (a response, a denial) stays
/// written but not synced. Such a batch is not synced on its own: the next batch a request
/// waits on syncs it (one fsync covers the whole file), or this timer does. At one request
/// at a time this halves the fsyncs (each request's response record used to cost one of
/// its own), and the next request's record no longer queues behind that fsync. Only a
/// machine crash (not a process crash: the bytes are in the page cache) within this window
/// can lose such records, always as a tail, never as a hole in the chain.
pub const DEFERRED_SYNC: Duration = Duration::from_millis(10);

/// Signed checkpoints: who signs, how often, and where copies go.
pub struct Checkpoints {
    pub signer: Arc<Signer>,
    pub replica: String,
    pub every_records: u64,
    pub every: Duration,
    pub witness: WitnessSettings,
}

/// The writer's checkpoint state.
struct Checkpointer {
    signer: Arc<Signer>,
    replica: String,
    every_records: u64,
    every: Duration,
    /// Records sealed since the last checkpoint.
    since: u64,
    witness: Option<Witness>,
}

impl Checkpointer {
    fn record(&self, head: &Link) -> Record {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        self.signer.checkpoint(&self.replica, head, &now)
    }
}

/// Proof that a record is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub seq: u64,
    pub hash: String,
}

/// Where the writer answers a waiting `append`.
type Reply = oneshot::Sender<Result<Receipt, AuditError>>;

enum Message {
    Append(Record, Option<Reply>),
    /// Answered once every record queued before it has been handed to the sink.
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

/// Health shared with `/readyz` and metrics.
#[derive(Debug, Default)]
pub struct Health {
    pub failing: AtomicBool,
    pub written: AtomicU64,
    /// Records that could not be written (and, for waited-for ones, whose requests failed).
    pub failed: AtomicU64,
    /// Records dropped for good (queue full, or the retry buffer overflowed).
    pub lost: AtomicU64,
    /// fsyncs of the file sink.
    pub syncs: AtomicU64,
}

/// The handle requests use. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Message>,
    pub health: Arc<Health>,
    /// The witnesses' counters, when checkpoints are copied anywhere.
    pub witness: Option<Arc<WitnessHealth>>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

/// A reserved place in the writer's queue: sending through it cannot fail for lack of
/// room and does not wait, so it can be used from `Drop` (a stream's end, a cancelled
/// request).
/// A record in the writer's queue; [`Queued::stored`] waits for the sink's answer.
pub struct Queued {
    answer: oneshot::Receiver<Result<Receipt, AuditError>>,
}

impl Queued {
    pub async fn stored(self) -> Result<Receipt, AuditError> {
        self.answer.await.map_err(|_| AuditError::Closed)?
    }
}

pub struct Slot {
    permit: mpsc::OwnedPermit<Message>,
}

impl Slot {
    pub fn send(self, record: Record) {
        self.permit.send(Message::Append(record, None));
    }
}

impl Writer {
    /// Starts the writer thread over `sink`. `interval` is the fsync tick for `fsync =
    /// interval` (None otherwise).
    pub fn start(
        sink: Sink,
        capacity: usize,
        interval: Option<Duration>,
        checkpoints: Option<Checkpoints>,
    ) -> Writer {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let health = Arc::new(Health::default());
        let thread_health = Arc::clone(&health);
        let witness_health = checkpoints
            .as_ref()
            .filter(|c| !c.witness.is_empty())
            .map(|_| Arc::new(WitnessHealth::default()));
        let checkpointer = checkpoints.map(|c| Checkpointer {
            witness: witness_health
                .as_ref()
                .map(|h| Witness::start(&c.witness, Arc::clone(h))),
            signer: c.signer,
            replica: c.replica,
            every_records: c.every_records.max(1),
            every: c.every,
            since: 0,
        });
        let thread = std::thread::Builder::new()
            .name("orguard-audit".to_owned())
            .spawn(move || {
                yield_to_requests();
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(run(
                        sink,
                        rx,
                        interval,
                        capacity,
                        thread_health,
                        checkpointer,
                    )),
                    Err(e) => {
                        thread_health.failing.store(true, Ordering::Relaxed);
                        tracing::error!(error = %e, "cannot start the audit writer's runtime");
                    }
                }
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                health.failing.store(true, Ordering::Relaxed);
                tracing::error!(error = %e, "cannot start the audit writer thread");
                None
            }
        };
        Writer {
            tx,
            health,
            witness: witness_health,
            thread: Arc::new(Mutex::new(thread)),
        }
    }

    /// Appends `record` and waits until the sink has it (durably, for `fsync = always`).
    pub async fn append(&self, record: Record) -> Result<Receipt, AuditError> {
        self.queue(record).await?.stored().await
    }

    /// Puts `record` in the writer's queue and returns once it is there, without waiting
    /// for the sink. The request path needs the two steps apart: once the record is
    /// queued it will be written, so from that moment a dropped request owes the trail a
    /// `response` record.
    pub async fn queue(&self, record: Record) -> Result<Queued, AuditError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Append(record, Some(reply)))
            .await
            .map_err(|_| AuditError::Closed)?;
        Ok(Queued { answer })
    }

    /// Returns once every record queued before the call has been handed to the sink
    /// (written, or failed and kept for a retry); it does not wait for an fsync. For
    /// tests and tools that read the trail right after a request (a refusal's record is
    /// queued before its response leaves, without waiting for the sink).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Records queued and not yet taken by the writer.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// Reserves room for a record to be sent later without waiting.
    pub async fn reserve(&self) -> Result<Slot, AuditError> {
        let permit = self
            .tx
            .clone()
            .reserve_owned()
            .await
            .map_err(|_| AuditError::Closed)?;
        Ok(Slot { permit })
    }

    /// Queues `record` without waiting, when no slot was reserved. A full queue loses the
    /// record (counted and logged).
    pub fn append_nowait(&self, record: Record) {
        if self.tx.try_send(Message::Append(record, None)).is_err() {
            self.health.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!("audit queue full or closed; a record was lost");
        }
    }

    /// Writes everything queued, syncs, and stops the writer. Call it after the request
    /// runtime is gone, so every record of every request is already queued.
    pub fn close_blocking(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.blocking_send(Message::Close(done)).is_ok() {
            let _ = wait.blocking_recv();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    /// [`Writer::close_blocking`] from async code (tests, benchmarks).
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Puts the calling (writer) thread under `SCHED_BATCH`, so that waking it does not
/// preempt a request worker on the same core at once.
///
/// Every queued record wakes the writer. Under the default policy the kernel switches to
/// the woken writer at once when it shares a core with the worker that queued the record
/// (a one-core sidecar, or `bench/run.sh`'s pinned target): the writer takes a batch of
/// one record, writes it, and sleeps, and the worker is switched back in, two to three
/// context switches per request. A batch thread still gets its fair share of the core
/// against the (default-policy) workers, but a wake-up is left to the next scheduler tick
/// instead of preempting: the writer runs when the worker blocks or its time slice ends,
/// and finds every record the worker queued in between: one batch, one write, one fsync.
/// Measured at 1 KB and 32 connections on one core: 0.28 context switches per request
/// instead of 2.2–2.4, 0.72× the CPU per request, and a lower p99 at 256 connections
/// (`docs/performance.md`, the run at `2557c99`).
///
/// Only a thread under the default policy is moved: one that inherited a real-time policy
/// (`chrt -f`, systemd's `CPUSchedulingPolicy=`) keeps it, since under `SCHED_BATCH` it
/// would run only when the real-time workers leave the core. Threads the writer's runtime
/// starts later (a blocking DNS lookup for the PostgreSQL sink) inherit the policy.
///
/// Best effort: if the kernel refuses (a seccomp profile that returns an error) the writer
/// works as before, at more switches per request. A filter that kills the process on a
/// refused call instead (systemd's `SystemCallFilter=` without `SystemCallErrorNumber=`)
/// must allow `sched_setscheduler` and `setpriority` (README, "Operations").
fn yield_to_requests() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            set_thread_priority_and_policy, thread_native_id, thread_schedule_policy,
            NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
        };
        let default = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other);
        let batch = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
        if thread_schedule_policy().ok() != Some(default) {
            return;
        }
        // The crate sets the policy and then a niceness, which it maps from a 0–99 scale:
        // pick the value that maps to the thread's own niceness, so only the policy
        // changes (raising a thread's priority needs a privilege, lowering it would starve
        // the writer under load). Without a niceness to keep, nothing is changed.
        let Ok(nice) = rustix::process::getpriority_process(None) else {
            return;
        };
        let same = (0..=99u8)
            .filter_map(|p| ThreadPriorityValue::try_from(p).ok())
            .map(ThreadPriority::Crossplatform)
            .find(|p| p.to_posix(batch).ok() == Some(nice));
        if let Some(priority) = same {
            let _ = set_thread_priority_and_policy(thread_native_id(), priority, batch);
        }
        if thread_schedule_policy().ok() != Some(batch) {
            tracing::debug!("the audit writer stays under the default scheduling policy");
        }
    }
}

/// Waits for the next tick of `timer`, or forever without one.
async fn tick(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// `fsync = always`: records written without a sync (a batch nobody waits on, or a file
/// given up after a failure) are synced within [`DEFERRED_SYNC`] of the oldest one's write,
/// unless a waited-on batch syncs them first. The timer's deadline is kept across such
/// syncs: clearing it and arming a new one for the next request's response record armed a
/// timer per request, and each arming woke the writer thread's own driver with a system
/// call. When it fires for records synced since, it is moved on to what is unsynced now.
#[derive(Debug, Default)]
struct DeferredSync {
    /// When the timer fires.
    deadline: Option<tokio::time::Instant>,
    /// When the oldest record not yet synced was written.
    since: Option<tokio::time::Instant>,
}

impl DeferredSync {
    /// After a write or a sync: whether records are left unsynced, at `now`.
    fn note(&mut self, unsynced: bool, now: tokio::time::Instant) {
        if unsynced {
            let since = *self.since.get_or_insert(now);
            self.deadline.get_or_insert(since + DEFERRED_SYNC);
        } else {
            self.since = None;
        }
    }

    /// After a successful sync: what is still unsynced (a file given up after a failure) is
    /// due from `now`.
    fn synced(&mut self, unsynced: bool, now: tokio::time::Instant) {
        self.since = None;
        self.note(unsynced, now);
    }

    /// A failed sync: try again within [`DEFERRED_SYNC`].
    fn retry(&mut self, now: tokio::time::Instant) {
        self.deadline = Some(now + DEFERRED_SYNC);
    }

    /// The timer fired at `now`: whether to sync. If not, it is re-armed for what was
    /// written after the last sync, or disarmed when nothing is unsynced.
    fn fired(&mut self, unsynced: bool, now: tokio::time::Instant) -> bool {
        self.deadline = None;
        if !unsynced {
            self.since = None;
            return false;
        }
        match self.since.map(|since| since + DEFERRED_SYNC) {
            Some(due) if due > now => {
                self.deadline = Some(due);
                false
            }
            _ => true,
        }
    }
}

/// After a timed sync (the `interval` tick or the deferred sync): a failure marks the audit
/// failing and is retried within [`DEFERRED_SYNC`]; a success clears the mark once no file
/// given up after a failure is left and the chain's end is known (else the next batch
/// decides).
fn synced(
    result: Result<(), AuditError>,
    sink: &Sink,
    chain_known: bool,
    health: &Health,
    deferred: &mut DeferredSync,
) {
    let now = tokio::time::Instant::now();
    match result {
        Ok(()) => {
            deferred.synced(sink.unsynced(), now);
            if chain_known {
                health
                    .failing
                    .store(sink.holds_failed_file(), Ordering::Relaxed);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "audit fsync failed; retrying");
            health.failing.store(true, Ordering::Relaxed);
            deferred.retry(now);
        }
    }
}

/// Resolves at `deadline`, or never when there is none.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending::<()>().await,
    }
}

async fn run(
    mut sink: Sink,
    mut rx: mpsc::Receiver<Message>,
    interval: Option<Duration>,
    capacity: usize,
    health: Arc<Health>,
    mut checkpoints: Option<Checkpointer>,
) {
    // Find the chain's end at start, so a torn or corrupt tail is reported right away.
    let mut last: Option<Link> = match sink.tail().await {
        Ok(link) => {
            tracing::info!(seq = link.seq, "audit chain continues");
            Some(link)
        }
        Err(e) => {
            tracing::error!(error = %e, "audit sink unavailable at start; requests fail closed until it recovers");
            health.failing.store(true, Ordering::Relaxed);
            None
        }
    };
    let mut fsync_tick = interval.map(tokio::time::interval);
    let mut checkpoint_tick = checkpoints.as_ref().map(|c| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + c.every, c.every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut dirty = false;
    let mut deferred = DeferredSync::default();
    // Records nobody waits for, from failed batches: written first next time.
    let mut retry: VecDeque<Record> = VecDeque::new();
    loop {
        health.syncs.store(sink.syncs(), Ordering::Relaxed);
        let first = tokio::select! {
            m = rx.recv() => m,
            () = tick(&mut fsync_tick) => {
                if dirty {
                    dirty = false;
                    synced(sink.sync().await, &sink, last.is_some(), &health, &mut deferred);
                }
                continue;
            }
            () = until(deferred.deadline) => {
                if deferred.fired(sink.unsynced(), tokio::time::Instant::now()) {
                    synced(sink.sync().await, &sink, last.is_some(), &health, &mut deferred);
                }
                continue;
            }
            () = tick(&mut checkpoint_tick) => {
                // A quiet chain still gets its head signed within `every` of its last record.
                if checkpoints.as_ref().is_some_and(|c| c.since > 0) {
                    if write_batch(&mut sink, &mut last, &mut [], checkpoints.as_mut(), true).await.is_err() {
                        last = None;
                    }
                    dirty = true;
                }
                continue;
            }
        };
        let Some(first) = first else { break };
        let mut batch: Vec<(Record, Option<Reply>)> = retry.drain(..).map(|r| (r, None)).collect();
        let mut close = None;
        let mut flushed = None;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Append(record, reply) => batch.push((record, reply)),
                Message::Flush(done) => {
                    flushed = Some(done);
                    break;
                }
                Message::Close(done) => {
                    close = Some(done);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let result = write_batch(
                &mut sink,
                &mut last,
                &mut batch,
                checkpoints.as_mut(),
                false,
            )
            .await;
            match &result {
                Ok(_) => {
                    // Not healthy while records of a failed file may still be lost.
                    health
                        .failing
                        .store(sink.holds_failed_file(), Ordering::Relaxed);
                    health
                        .written
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    dirty = true;
                }
                Err(e) => {
                    health.failing.store(true, Ordering::Relaxed);
                    health
                        .failed
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    tracing::error!(error = %e, records = batch.len(), "audit write failed");
                    // The sink's state is unknown: re-read its end before the next batch.
                    last = None;
                }
            }
            deferred.note(sink.unsynced(), tokio::time::Instant::now());
            for (i, (record, reply)) in batch.into_iter().enumerate() {
                match (reply, &result) {
                    (Some(reply), Ok(receipts)) => {
                        let _ = reply.send(receipts.get(i).cloned().ok_or(AuditError::Closed));
                    }
                    // The waiting request fails closed; its record is not kept.
                    (Some(reply), Err(e)) => {
                        let _ = reply.send(Err(e.clone()));
                    }
                    (None, Ok(_)) => {}
                    (None, Err(_)) => {
                        if retry.len() < capacity {
                            retry.push_back(record);
                        } else {
                            health.lost.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
        if let Some(done) = close {
            let mut pending: Vec<(Record, Option<Reply>)> =
                retry.drain(..).map(|r| (r, None)).collect();
            // The last batch always ends with a checkpoint (when signing), so a clean
            // shutdown leaves a signed head; only a crash leaves an unsigned tail.
            let force = checkpoints.as_ref().is_some_and(|c| c.since > 0);
            if (!pending.is_empty() || force)
                && write_batch(
                    &mut sink,
                    &mut last,
                    &mut pending,
                    checkpoints.as_mut(),
                    force,
                )
                .await
                .is_err()
            {
                health
                    .lost
                    .fetch_add(pending.len() as u64, Ordering::Relaxed);
                tracing::error!(
                    records = pending.len(),
                    "audit records could not be written before shutdown"
                );
            }
            if let Err(e) = sink.sync().await {
                tracing::error!(error = %e, "audit fsync at shutdown failed");
            }
            if let Some(w) = checkpoints.as_ref().and_then(|c| c.witness.as_ref()) {
                w.close();
            }
            // Release the sink (and its directory lock) before saying we are done.
            drop(sink);
            let _ = done.send(());
            return;
        }
    }
    let _ = sink.sync().await;
}

/// Seals and writes `batch`, followed by a checkpoint when one is due (or `force`d).
async fn write_batch(
    sink: &mut Sink,
    last: &mut Option<Link>,
    batch: &mut [(Record, Option<Reply>)],
    checkpoints: Option<&mut Checkpointer>,
    force: bool,
) -> Result<Vec<Receipt>, AuditError> {
    let mut link = match last.take() {
        Some(l) => l,
        None => sink.tail().await?,
    };
    let mut sealed = Vec::with_capacity(batch.len() + 1);
    for (record, _) in batch.iter_mut() {
        sealed.push(seal_one(record, &mut link));
    }
    let records = batch.len() as u64;
    let checkpoint = checkpoints.as_deref().and_then(|c| {
        let due = force || c.since + records >= c.every_records;
        (due && link.seq > 0).then(|| c.record(&link))
    });
    let checkpoint = checkpoint.map(|mut record| {
        let s = seal_one(&mut record, &mut link);
        (record, s)
    });
    if let Some((_, s)) = &checkpoint {
        sealed.push(s.clone());
    }
    // A batch is synced at once when someone waits on it: a request before it goes
    // upstream, or a witness about to receive the checkpoint.
    let durability = if checkpoint.is_some() || batch.iter().any(|(_, reply)| reply.is_some()) {
        Durability::Now
    } else {
        Durability::Soon
    };
    sink.write(&sealed, durability).await?;
    *last = Some(link);
    if let Some(c) = checkpoints {
        match &checkpoint {
            Some((record, s)) => {
                c.since = 0;
                if let Some(w) = &c.witness {
                    let fields: serde_json::Map<String, Value> =
                        serde_json::from_str(&s.line).unwrap_or_else(|_| record.fields.to_map());
                    w.send(&fields, &s.line);
                }
            }
            None => c.since += records,
        }
    }
    Ok(sealed
        .into_iter()
        .map(|s| Receipt {
            seq: s.seq,
            hash: s.hash,
        })
        .collect())
}

fn seal_one(record: &mut Record, link: &mut Link) -> Sealed {
    let prev = link.hash.clone();
    let text = |k: &str| {
        record
            .fields
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (ts, request_id) = (text("ts"), text("request_id"));
    let (line, next) = seal_fields(&mut record.fields, link);
    let s = Sealed {
        seq: next.seq,
        hash: next.hash.clone(),
        prev,
        kind: record.kind.as_str(),
        ts,
        request_id,
        line,
    };
    *link = next;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under steady traffic the deferred-sync timer is armed once, not once per request:
    /// a waited-on sync keeps the deadline, a response record written after it does not
    /// move it, and when it fires early it is moved on to that record's own due time.
    #[test]
    fn the_deferred_sync_timer_is_armed_once_and_moved_on() {
        let t0 = tokio::time::Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut d = DeferredSync::default();
        d.note(true, t0); // a response record, nobody waiting
        assert_eq!(d.deadline, Some(t0 + DEFERRED_SYNC));
        d.note(false, ms(1)); // the next request's record synced it
        assert_eq!(d.deadline, Some(t0 + DEFERRED_SYNC), "kept, not cleared");
        d.note(true, ms(2)); // the next response record
        assert_eq!(d.deadline, Some(t0 + DEFERRED_SYNC), "not re-armed");
        // Fires for the first record, synced since: moved on to the second's due time.
        assert!(!d.fired(true, t0 + DEFERRED_SYNC));
        assert_eq!(d.deadline, Some(ms(2) + DEFERRED_SYNC));
        // Then due: sync.
        assert!(d.fired(true, ms(2) + DEFERRED_SYNC));
        // A record left unsynced past its due time is synced when the timer fires.
        let mut late = DeferredSync::default();
        late.note(true, t0);
        assert!(late.fired(true, ms(50)));
        // Nothing unsynced: disarmed.
        let mut idle = DeferredSync::default();
        idle.note(true, t0);
        assert!(!idle.fired(false, t0 + DEFERRED_SYNC));
        assert_eq!((idle.deadline, idle.since), (None, None));
        // A failed sync retries within DEFERRED_SYNC of the failure.
        let mut failed = DeferredSync::default();
        failed.retry(ms(5));
        failed.note(true, ms(5));
        assert_eq!(failed.deadline, Some(ms(5) + DEFERRED_SYNC));
    }
}
