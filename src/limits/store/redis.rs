//! Counters in Redis, shared by every replica. Each decision is one Lua script, so the
//! read-compare-write of a reservation or a rate check is atomic across replicas: N
//! gateways together admit exactly what one would.
//!
//! Keys (all under `state.key_prefix`, hash-tagged per key and period so a script's keys
//! share a cluster slot):
//! - `P:budget:{KEY:PERIOD}:spent` — settled spend in nano-dollars (INCRBY);
//! - `P:budget:{KEY:PERIOD}:open` — open reservations, a sorted set of `ID:AMOUNT` scored
//!   by expiry (ms), so a replica that dies mid-request leaks nothing for longer than the
//!   reservation's lifetime;
//! - `P:budget:{KEY:PERIOD}:settled:ID` — marks a settlement done, so a retried one is
//!   not counted twice;
//! - `P:rate:{KEY:LIMIT}` — the sliding window's log: a sorted set of `ID:AMOUNT` members
//!   scored by admission time (ms); one member per admitted request (`rpm`) or per
//!   finished request's tokens (`tpm`), trimmed to the last minute on every check.
//!
//! Every key expires: nothing accumulates across periods.

use redis::aio::ConnectionManager;
use redis::Script;
use tokio::sync::Mutex;

use super::{KeyCounters, RateSeen, ReserveSeen, StoreError};
use crate::limits::budget::Nanos;
use crate::limits::rate::{self, Limit};

/// Same rule as `budget::admits`: admit while spent + open reservations < limit.
const RESERVE: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local reserved = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  reserved = reserved + tonumber(string.match(m, ':(%d+)$'))
end
if spent + reserved >= tonumber(ARGV[2]) then
  return {0, spent, reserved}
end
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return {1, spent, reserved + tonumber(ARGV[3])}
";

/// Idempotent: a settlement retried after a timeout (that Redis had in fact carried out)
/// is not charged twice — the marker key says it was done.
const SETTLE: &str = r"
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[3]) then
  return tonumber(redis.call('GET', KEYS[1]) or '0')
end
redis.call('ZREM', KEYS[2], ARGV[1])
local spent = redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return spent
";

/// Same rule as `rate::decide`: drop what is older than the window, admit while the sum of
/// the live amounts plus the cost stays within the limit; otherwise walk the oldest entries
/// until enough would have expired, and return that wait (ms). Replies
/// `{admitted, used, wait_ms}`.
/// ARGV: now, limit, cost, incr, member, window.
const RATE: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #entries, 2 do
  used = used + tonumber(string.match(entries[i], ':(%d+)$'))
end
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
if used + cost > limit then
  local left = used
  for i = 1, #entries, 2 do
    left = left - tonumber(string.match(entries[i], ':(%d+)$'))
    if left + cost <= limit then
      return {0, used, math.max(1, tonumber(entries[i + 1]) + window - now)}
    end
  end
  return {0, used, window}
end
local incr = tonumber(ARGV[4])
if incr > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window + 1000)
end
return {1, used + incr, 0}
";

/// Adds a finished request's tokens to a window log. ARGV: now, member, window.
const RATE_ADD: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[3]))
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + 1000)
return 1
";

/// A window member: unique (two requests in one millisecond are two entries) and carrying
/// its amount, which the scripts read back after the last `:`.
fn member(amount: u64) -> String {
    format!("{}:{amount}", hex::encode(rand::random::<[u8; 8]>()))
}

/// The shared store. Connects lazily (a Redis that is down at start is a failure mode, not
/// a reason to refuse to start) and reconnects by itself.
pub struct RedisStore {
    client: redis::Client,
    conn: Mutex<Option<ConnectionManager>>,
    prefix: String,
    reserve: Script,
    settle: Script,
    rate: Script,
    rate_add: Script,
}

impl RedisStore {
    /// Parses the URL; nothing is connected yet.
    pub fn new(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            conn: Mutex::new(None),
            prefix: prefix.to_owned(),
            reserve: Script::new(RESERVE),
            settle: Script::new(SETTLE),
            rate: Script::new(RATE),
            rate_add: Script::new(RATE_ADD),
        })
    }

    async fn conn(&self, op: &'static str) -> Result<ConnectionManager, StoreError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_connection_timeout(Some(std::time::Duration::from_secs(1)));
        let c = ConnectionManager::new_with_config(self.client.clone(), config)
            .await
            .map_err(|e| logged(op, &e))?;
        *slot = Some(c.clone());
        Ok(c)
    }

    fn budget_keys(&self, key: &str, period: &str) -> (String, String) {
        let base = format!("{}:budget:{{{key}:{period}}}", self.prefix);
        (format!("{base}:spent"), format!("{base}:open"))
    }

    fn window_key(&self, key: &str, limit: Limit) -> String {
        format!("{}:rate:{{{key}:{}}}", self.prefix, limit.as_str())
    }

    pub async fn rate(
        &self,
        key: &str,
        limit: Limit,
        now_ms: u64,
        max: u64,
        cost: u64,
        incr: u64,
    ) -> Result<RateSeen, StoreError> {
        let mut c = self.conn("rate").await?;
        let (admitted, used, wait_ms): (i64, u64, u64) = self
            .rate
            .key(self.window_key(key, limit))
            .arg(now_ms)
            .arg(max)
            .arg(cost)
            .arg(incr)
            .arg(member(incr))
            .arg(rate::WINDOW_MS)
            .invoke_async(&mut c)
            .await
            .map_err(|e| logged("rate", &e))?;
        Ok(RateSeen {
            admitted: admitted == 1,
            used,
            wait_ms: wait_ms.min(rate::WINDOW_MS),
        })
    }

    pub async fn rate_add(
        &self,
        key: &str,
        limit: Limit,
        now_ms: u64,
        amount: u64,
    ) -> Result<(), StoreError> {
        let mut c = self.conn("rate_add").await?;
        self.rate_add
            .key(self.window_key(key, limit))
            .arg(now_ms)
            .arg(member(amount))
            .arg(rate::WINDOW_MS)
            .invoke_async::<i64>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| logged("rate_add", &e))
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn reserve(
        &self,
        key: &str,
        period: &str,
        retention_secs: u64,
        limit: Nanos,
        estimate: Nanos,
        id: &str,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<ReserveSeen, StoreError> {
        let (spent_key, open_key) = self.budget_keys(key, period);
        let mut c = self.conn("reserve").await?;
        let (admitted, spent, reserved): (i64, i64, i64) = self
            .reserve
            .key(spent_key)
            .key(open_key)
            .arg(now_ms)
            .arg(limit.0)
            .arg(estimate.0)
            .arg(format!("{id}:{}", estimate.0))
            .arg(expires_ms)
            .arg(retention_secs)
            .invoke_async(&mut c)
            .await
            .map_err(|e| logged("reserve", &e))?;
        Ok(ReserveSeen {
            admitted: admitted == 1,
            spent,
            reserved,
        })
    }

    pub async fn settle(
        &self,
        key: &str,
        period: &str,
        retention_secs: u64,
        id: &str,
        reserved: Nanos,
        amount: Nanos,
    ) -> Result<(), StoreError> {
        let (spent_key, open_key) = self.budget_keys(key, period);
        let settled_key = format!("{}:budget:{{{key}:{period}}}:settled:{id}", self.prefix);
        let mut c = self.conn("settle").await?;
        let _spent: i64 = self
            .settle
            .key(spent_key)
            .key(open_key)
            .key(settled_key)
            .arg(format!("{id}:{}", reserved.0))
            .arg(amount.0)
            .arg(retention_secs)
            .invoke_async(&mut c)
            .await
            .map_err(|e| logged("settle", &e))?;
        Ok(())
    }

    pub async fn read(
        &self,
        key: &str,
        period: &str,
        now_ms: u64,
    ) -> Result<KeyCounters, StoreError> {
        let (spent_key, open_key) = self.budget_keys(key, period);
        let mut c = self.conn("read").await?;
        // Window members younger than a minute (`(` makes the bound exclusive, as
        // `rate::live` is).
        let since = format!("({}", now_ms.saturating_sub(rate::WINDOW_MS));
        let (spent, open, rpm, tpm): (Option<i64>, Vec<String>, Vec<String>, Vec<String>) =
            redis::pipe()
                .get(&spent_key)
                .zrangebyscore(&open_key, now_ms, "+inf")
                .zrangebyscore(self.window_key(key, Limit::Rpm), &since, "+inf")
                .zrangebyscore(self.window_key(key, Limit::Tpm), &since, "+inf")
                .query_async(&mut c)
                .await
                .map_err(|e| logged("read", &e))?;
        let amount = |m: &String| m.rsplit_once(':').and_then(|(_, n)| n.parse::<i64>().ok());
        let reserved = open
            .iter()
            .filter_map(amount)
            .fold(0i64, i64::saturating_add);
        let sum = |members: &[String]| {
            members
                .iter()
                .filter_map(amount)
                .fold(0u64, |s, n| s.saturating_add(u64::try_from(n).unwrap_or(0)))
        };
        Ok(KeyCounters {
            spent: spent.unwrap_or(0),
            reserved,
            rpm: sum(&rpm),
            tpm: sum(&tpm),
        })
    }

    /// Whether Redis answers a PING (readiness, `orguard check`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn("ping").await?;
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| logged("ping", &e))
    }
}

/// Logs the failure's kind (never the URL, which may hold a password) and returns the
/// typed error.
fn logged(op: &'static str, e: &redis::RedisError) -> StoreError {
    tracing::warn!(op, kind = ?e.kind(), "shared state store error");
    StoreError { op }
}
