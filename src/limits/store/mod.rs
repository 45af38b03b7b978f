//! Where the counters live: in this process (one replica) or in Redis (several replicas
//! sharing one budget). Both backends take the same decisions — the comparisons are the
//! pure functions of `budget` and `rate`, restated in the Redis scripts — so a test of the
//! memory store's arithmetic is a test of the rule, and the Redis tests show it holds when
//! several processes race.

pub mod memory;
pub mod redis;

/// What a rate check saw: whether it was admitted, the window's count after it, and when
/// refused, how long until it would fit (ms, at most the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSeen {
    pub admitted: bool,
    pub used: u64,
    pub wait_ms: u64,
}

/// What a reservation saw: whether it was admitted, and the settled spend and open
/// reservations of the period (the latter including this one when admitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReserveSeen {
    pub admitted: bool,
    pub spent: i64,
    pub reserved: i64,
}

/// One key's counters, for `/admin/keys` and the budget gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyCounters {
    pub spent: i64,
    pub reserved: i64,
    /// Requests admitted in the last 60 s.
    pub rpm: u64,
    /// Tokens of requests finished in the last 60 s.
    pub tpm: u64,
}

/// A failure of the shared store (unreachable, timed out, unexpected reply). The message
/// names the operation only: Redis URLs can carry passwords.
#[derive(Debug, thiserror::Error)]
#[error("the shared state store failed during {op}")]
pub struct StoreError {
    pub op: &'static str,
}
