//! Per-key budgets and rate limits (DESIGN.md §7): the admission checks the pipeline runs
//! after authentication (`rpm`, `tpm`) and before the audit (`budget_usd`), and the
//! settlement of a request's real cost when it ends.
//!
//! The rules are pure (`budget`, `rate`); the counters live in a [`store`] — this process
//! for one replica, Redis for several. When the shared store fails, each check follows its
//! configured mode: budgets fail closed by default (no spend without accounting), rate
//! limits fail open (an outage of the limiter must not become an outage of every app).

pub mod budget;
pub mod history;
pub mod pricing;
pub mod rate;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::secret::Secret;
pub use budget::{Budget, Nanos, Period, Price};
pub use rate::Limit;
use store::memory::MemoryStore;
use store::redis::RedisStore;
use store::{KeyCounters, StoreError};

pub use crate::on_error::OnError;

/// Where the counters live.
#[derive(Debug, Clone)]
pub enum Backend {
    Memory,
    /// `redis://…` (may hold a password: a `Secret`, so no `Debug` prints it).
    Redis {
        url: Secret,
        prefix: String,
    },
}

/// `[state]`, compiled.
#[derive(Debug, Clone)]
pub struct StateSettings {
    pub backend: Backend,
    /// Longest wait for the shared store on a request path.
    pub timeout: Duration,
    pub budget_on_error: OnError,
    pub rate_on_error: OnError,
    /// Reservation for a model whose price is unknown.
    pub unknown_price: Nanos,
}

impl Default for StateSettings {
    fn default() -> Self {
        Self {
            backend: Backend::Memory,
            timeout: Duration::from_millis(250),
            budget_on_error: OnError::FailClosed,
            rate_on_error: OnError::FailOpen,
            unknown_price: Nanos::from_usd(0.10),
        }
    }
}

/// One key's limits (from its config record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLimits {
    pub budget: Option<Budget>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

/// Why a request was refused by a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// `retry_after` is whole seconds within the window: the message and the
    /// `Retry-After` header print the same number.
    #[error("this key is over its {} limit; retry after {} s", .limit.as_str(), .retry_after.as_secs())]
    RateLimited { limit: Limit, retry_after: Duration },
    #[error("this key has spent its {} budget", .period.as_str())]
    BudgetExceeded { period: Period },
    /// The shared store failed and the check fails closed.
    #[error("the {what} store is unavailable; retry shortly")]
    Unavailable { what: &'static str },
}

enum Store {
    Memory(MemoryStore),
    Redis(Box<RedisStore>),
}

struct Inner {
    store: Store,
    settings: StateSettings,
    /// Where the memory backend rebuilds its spend from after a restart.
    history: history::History,
    /// Set once the spend is rebuilt: no budget is checked before (see `history`).
    restored: tokio::sync::OnceCell<()>,
    /// Shared-store failures by operation, for the metrics.
    errors: prometheus::IntCounterVec,
}

/// The limiter, shared by every request (it outlives config reloads: counters must not
/// reset when the config does).
#[derive(Clone)]
pub struct Limits {
    inner: Arc<Inner>,
}

/// Milliseconds since the epoch: the clock every counter is kept in.
pub fn now_ms(now: OffsetDateTime) -> u64 {
    u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

impl Limits {
    /// Builds the limiter; `errors` counts shared-store failures by operation; `history`
    /// is where the memory backend rebuilds past spend from (Redis keeps its own).
    pub fn new(
        settings: StateSettings,
        errors: prometheus::IntCounterVec,
        history: history::History,
    ) -> Result<Self, redis::RedisError> {
        let store = match &settings.backend {
            Backend::Memory => Store::Memory(MemoryStore::default()),
            Backend::Redis { url, prefix } => {
                Store::Redis(Box::new(RedisStore::new(url.expose(), prefix)?))
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                settings,
                history,
                restored: tokio::sync::OnceCell::new(),
                errors,
            }),
        })
    }

    /// Rebuilds the memory backend's spend of the current day and month from the audit
    /// trail, once, before the first budget decision or read (so a restart never hands a
    /// key its budget again). Called eagerly at start too, so requests rarely wait on it.
    /// Fails (and is tried again by the next request) when the trail cannot be read.
    pub async fn restore(&self) -> Result<(), history::HistoryError> {
        let Store::Memory(memory) = &self.inner.store else {
            return Ok(());
        };
        self.inner
            .restored
            .get_or_try_init(|| async {
                let now = OffsetDateTime::now_utc();
                let spend = match &self.inner.history {
                    history::History::Files(dir) => {
                        let dir = dir.clone();
                        tokio::task::spawn_blocking(move || history::read_files(&dir, now))
                            .await
                            .map_err(|_| history::HistoryError::Io(std::io::ErrorKind::Other))??
                    }
                    history::History::Postgres { url, table } => {
                        history::read_postgres(url, table, now).await?
                    }
                    history::History::None => {
                        tracing::warn!("audit sink is stdout: budgets in memory start from zero after a restart (use the file or postgres sink, or state.backend = \"redis\")");
                        history::Spend::new()
                    }
                };
                let keys = spend.len();
                memory.restore(spend);
                tracing::info!(periods = keys, "budget spend rebuilt from the audit trail");
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// `restore`, for a budget decision: a trail that cannot be read follows the budget's
    /// failure mode (closed: refused until it can; open: counted from zero, logged).
    async fn restored(&self) -> Result<(), LimitError> {
        match self.restore().await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "cannot rebuild budget spend from the audit trail");
                match self.inner.settings.budget_on_error {
                    OnError::FailClosed => Err(LimitError::Unavailable {
                        what: "budget history",
                    }),
                    OnError::FailOpen => Ok(()),
                }
            }
        }
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        f: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(self.inner.settings.timeout, f).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(op, "shared state store timed out");
                Err(StoreError { op })
            }
        };
        if result.is_err() {
            self.inner.errors.with_label_values(&[op]).inc();
        }
        result
    }

    async fn rate(
        &self,
        key: &str,
        limit: Limit,
        now: u64,
        max: u64,
        cost: u64,
        incr: u64,
    ) -> Result<store::RateSeen, StoreError> {
        match &self.inner.store {
            Store::Memory(m) => m.rate(key, limit, now, max, cost, incr),
            Store::Redis(r) => {
                self.timed("rate", r.rate(key, limit, now, max, cost, incr))
                    .await
            }
        }
    }

    /// Request admission: counts the request against `rpm` and checks that the key's
    /// tokens of the last minute are below `tpm`.
    pub async fn admit(
        &self,
        key: &str,
        limits: &KeyLimits,
        now: OffsetDateTime,
    ) -> Result<(), LimitError> {
        let at = now_ms(now);
        // tpm first: a request refused for tokens does not use up a request slot.
        let checks = [(Limit::Tpm, limits.tpm, 0), (Limit::Rpm, limits.rpm, 1)];
        for (limit, max, incr) in checks {
            let Some(max) = max else { continue };
            match self.rate(key, limit, at, max, 1, incr).await {
                Ok(seen) if seen.admitted => {}
                Ok(seen) => {
                    return Err(LimitError::RateLimited {
                        limit,
                        retry_after: rate::retry_after(seen.wait_ms),
                    });
                }
                Err(_) => self.on_error(self.inner.settings.rate_on_error, "rate limit")?,
            }
        }
        Ok(())
    }

    fn on_error(&self, mode: OnError, what: &'static str) -> Result<(), LimitError> {
        match mode {
            OnError::FailOpen => {
                tracing::warn!(
                    what,
                    "shared state store unavailable; letting the request through (fail_open)"
                );
                Ok(())
            }
            OnError::FailClosed => Err(LimitError::Unavailable { what }),
        }
    }

    /// Reserves `estimate` against the key's budget for a request that may go upstream.
    /// `None` when the key has no budget (or the store failed and budgets fail open).
    pub async fn reserve(
        &self,
        key: &Arc<str>,
        limits: &KeyLimits,
        estimate: Nanos,
        lifetime: Duration,
        now: OffsetDateTime,
    ) -> Result<Option<Reservation>, LimitError> {
        let Some(budget) = limits.budget else {
            return Ok(None);
        };
        self.restored().await?;
        let period = budget.period.id(now);
        let at = now_ms(now);
        let expires = at.saturating_add(u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX));
        let id = hex::encode(rand::random::<[u8; 8]>());
        let seen = match &self.inner.store {
            Store::Memory(m) => m.reserve(key, &period, budget.limit, estimate, &id, expires, at),
            Store::Redis(r) => {
                self.timed(
                    "reserve",
                    r.reserve(
                        key,
                        &period,
                        budget.period.retention_secs(),
                        budget.limit,
                        estimate,
                        &id,
                        expires,
                        at,
                    ),
                )
                .await
            }
        };
        match seen {
            Ok(seen) if seen.admitted => Ok(Some(Reservation {
                limits: self.clone(),
                key: Arc::clone(key),
                period,
                retention: budget.period.retention_secs(),
                id,
                amount: estimate,
                done: false,
            })),
            Ok(_) => Err(LimitError::BudgetExceeded {
                period: budget.period,
            }),
            Err(_) => {
                self.on_error(self.inner.settings.budget_on_error, "budget")?;
                Ok(None)
            }
        }
    }

    /// Charges a finished request that holds no reservation although its key has a budget
    /// (the store was down when it was admitted and budgets fail open): the spend is still
    /// counted. Off the request path.
    pub fn charge_unreserved(
        &self,
        key: &str,
        limits: &KeyLimits,
        amount: Nanos,
        now: OffsetDateTime,
    ) {
        let Some(budget) = limits.budget else { return };
        if amount.0 == 0 {
            return;
        }
        let settle = Reservation {
            limits: self.clone(),
            key: Arc::from(key),
            period: budget.period.id(now),
            retention: budget.period.retention_secs(),
            // Unique, so the settlement marker of one unreserved charge never hides another.
            id: format!("unreserved-{}", hex::encode(rand::random::<[u8; 8]>())),
            amount: Nanos(0),
            done: false,
        };
        settle.settle(amount);
    }

    /// Adds a finished request's tokens to the key's `tpm` window. Off the request path.
    pub fn add_tokens(&self, key: &str, limits: &KeyLimits, tokens: u64, now: OffsetDateTime) {
        if limits.tpm.is_none() || tokens == 0 {
            return;
        }
        let at = now_ms(now);
        match &self.inner.store {
            Store::Memory(m) => {
                let _ = m.rate_add(key, Limit::Tpm, at, tokens);
            }
            Store::Redis(_) => {
                let this = self.clone();
                let key = key.to_owned();
                detach(async move {
                    if let Store::Redis(r) = &this.inner.store {
                        let _ = this
                            .timed("rate_add", r.rate_add(&key, Limit::Tpm, at, tokens))
                            .await;
                    }
                });
            }
        }
    }

    /// One key's counters in the current period and window (admin view, gauges).
    pub async fn read(
        &self,
        key: &str,
        limits: &KeyLimits,
        now: OffsetDateTime,
    ) -> Result<KeyCounters, StoreError> {
        let period = limits
            .budget
            .map_or_else(|| Period::Month.id(now), |b| b.period.id(now));
        let at = now_ms(now);
        match &self.inner.store {
            Store::Memory(m) => {
                // Spend shown before it is rebuilt would be wrong: say "unavailable".
                self.restore()
                    .await
                    .map_err(|_| StoreError { op: "read" })?;
                m.read(key, &period, at)
            }
            Store::Redis(r) => self.timed("read", r.read(key, &period, at)).await,
        }
    }

    /// Whether the shared store answers (always true in memory).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.inner.store {
            Store::Memory(_) => Ok(()),
            Store::Redis(r) => self.timed("ping", r.ping()).await,
        }
    }

    pub fn is_shared(&self) -> bool {
        matches!(self.inner.store, Store::Redis(_))
    }
}

/// Runs a counter update after the response, off the request path. Such a task holds no
/// request state; one cut short by shutdown loses only its update (a reservation then
/// lapses at its expiry). Outside a runtime (a drop during process exit) nothing runs.
fn detach(task: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(task);
    }
}

/// An open budget reservation. Settle it with the real charge; dropped unsettled (the
/// request failed before it went upstream) it is released at no charge.
pub struct Reservation {
    limits: Limits,
    key: Arc<str>,
    period: String,
    retention: u64,
    id: String,
    amount: Nanos,
    done: bool,
}

impl Reservation {
    /// The amount held.
    pub fn amount(&self) -> Nanos {
        self.amount
    }

    /// Replaces the reservation with the real charge.
    pub fn settle(mut self, charge: Nanos) {
        self.finish(charge);
    }

    fn finish(&mut self, charge: Nanos) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let inner = &self.limits.inner;
        match &inner.store {
            Store::Memory(m) => {
                let _ = m.settle(&self.key, &self.period, &self.id, charge);
            }
            Store::Redis(_) => {
                let this = self.limits.clone();
                let (key, period, id) = (
                    Arc::clone(&self.key),
                    std::mem::take(&mut self.period),
                    std::mem::take(&mut self.id),
                );
                let (retention, reserved) = (self.retention, self.amount);
                detach(async move {
                    let Store::Redis(r) = &this.inner.store else {
                        return;
                    };
                    // A few tries: a lost settlement is a charge that is never counted.
                    for wait_ms in [0, 200, 1_000, 5_000] {
                        tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
                        let settled = this
                            .timed(
                                "settle",
                                r.settle(&key, &period, retention, &id, reserved, charge),
                            )
                            .await;
                        if settled.is_ok() {
                            return;
                        }
                    }
                    tracing::error!(key_id = %key, "budget settlement failed; the reservation lapses at its expiry and this charge is not counted");
                });
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.finish(Nanos(0));
    }
}
