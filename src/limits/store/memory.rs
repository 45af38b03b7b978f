//! Counters in this process: correct for one replica. Rate windows are lost on restart
//! (they cover one minute); budgets are rebuilt from the audit trail at start (see
//! `limits::history`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::{KeyCounters, RateSeen, ReserveSeen, StoreError};
use crate::limits::budget::{self, Nanos};
use crate::limits::rate::{self, Limit};

#[derive(Default)]
struct Spend {
    spent: i64,
    /// Open reservations: id → (amount, expiry in ms since the epoch).
    open: HashMap<String, (i64, u64)>,
}

impl Spend {
    fn reserved(&self) -> i64 {
        self.open
            .values()
            .fold(0i64, |a, (n, _)| a.saturating_add(*n))
    }
}

#[derive(Default)]
struct State {
    /// (key id, period id) → spend.
    spend: HashMap<(String, String), Spend>,
    /// (key id, limit) → the sliding window's log, `(ms, amount)` oldest first.
    windows: HashMap<(String, &'static str), VecDeque<(u64, u64)>>,
}

/// Drops what has slid out of the window.
fn trim(log: &mut VecDeque<(u64, u64)>, now_ms: u64) {
    while log.front().is_some_and(|(at, _)| !rate::live(*at, now_ms)) {
        log.pop_front();
    }
}

/// Adds `amount` at `at` in time order (callers read the clock before taking the lock, so
/// arrivals can be a few ms out of order; `rate::decide` wants the log oldest first).
fn push(log: &mut VecDeque<(u64, u64)>, at: u64, amount: u64) {
    let i = log.partition_point(|(t, _)| *t <= at);
    log.insert(i, (at, amount));
}

/// The in-process store.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

fn poisoned(op: &'static str) -> StoreError {
    StoreError { op }
}

impl MemoryStore {
    pub fn rate(
        &self,
        key: &str,
        limit: Limit,
        now_ms: u64,
        max: u64,
        cost: u64,
        incr: u64,
    ) -> Result<RateSeen, StoreError> {
        let mut s = self.state.lock().map_err(|_| poisoned("rate"))?;
        let log = s
            .windows
            .entry((key.to_owned(), limit.as_str()))
            .or_default();
        trim(log, now_ms);
        let used = rate::used(log.iter().copied(), now_ms);
        match rate::decide(log.make_contiguous(), now_ms, max, cost) {
            rate::Decision::Wait(wait_ms) => Ok(RateSeen {
                admitted: false,
                used,
                wait_ms,
            }),
            rate::Decision::Admit => {
                if incr > 0 {
                    push(log, now_ms, incr);
                }
                Ok(RateSeen {
                    admitted: true,
                    used: used.saturating_add(incr),
                    wait_ms: 0,
                })
            }
        }
    }

    pub fn rate_add(
        &self,
        key: &str,
        limit: Limit,
        now_ms: u64,
        amount: u64,
    ) -> Result<(), StoreError> {
        let mut s = self.state.lock().map_err(|_| poisoned("rate_add"))?;
        let log = s
            .windows
            .entry((key.to_owned(), limit.as_str()))
            .or_default();
        trim(log, now_ms);
        push(log, now_ms, amount);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn reserve(
        &self,
        key: &str,
        period: &str,
        limit: Nanos,
        estimate: Nanos,
        id: &str,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<ReserveSeen, StoreError> {
        let mut s = self.state.lock().map_err(|_| poisoned("reserve"))?;
        // Earlier periods of this key with nothing open are done with.
        s.spend
            .retain(|(k, p), v| k != key || p == period || !v.open.is_empty());
        let spend = s
            .spend
            .entry((key.to_owned(), period.to_owned()))
            .or_default();
        // A reservation whose request never settled (a crash mid-request) lapses.
        spend.open.retain(|_, (_, exp)| *exp > now_ms);
        let reserved = spend.reserved();
        if !budget::admits(limit, Nanos(spend.spent), Nanos(reserved)) {
            return Ok(ReserveSeen {
                admitted: false,
                spent: spend.spent,
                reserved,
            });
        }
        spend.open.insert(id.to_owned(), (estimate.0, expires_ms));
        Ok(ReserveSeen {
            admitted: true,
            spent: spend.spent,
            reserved: reserved.saturating_add(estimate.0),
        })
    }

    /// Adds spend rebuilt from the audit trail (`limits::history`) to the counters.
    pub fn restore(&self, spend: HashMap<(String, String), i64>) {
        let Ok(mut s) = self.state.lock() else { return };
        for (slot, amount) in spend {
            let entry = s.spend.entry(slot).or_default();
            entry.spent = entry.spent.saturating_add(amount);
        }
    }

    pub fn settle(
        &self,
        key: &str,
        period: &str,
        id: &str,
        amount: Nanos,
    ) -> Result<(), StoreError> {
        let mut s = self.state.lock().map_err(|_| poisoned("settle"))?;
        let spend = s
            .spend
            .entry((key.to_owned(), period.to_owned()))
            .or_default();
        spend.open.remove(id);
        spend.spent = spend.spent.saturating_add(amount.0);
        Ok(())
    }

    pub fn read(&self, key: &str, period: &str, now_ms: u64) -> Result<KeyCounters, StoreError> {
        let s = self.state.lock().map_err(|_| poisoned("read"))?;
        let (spent, reserved) =
            s.spend
                .get(&(key.to_owned(), period.to_owned()))
                .map_or((0, 0), |sp| {
                    let live: i64 = sp
                        .open
                        .values()
                        .filter(|(_, exp)| *exp > now_ms)
                        .fold(0i64, |a, (n, _)| a.saturating_add(*n));
                    (sp.spent, live)
                });
        let window = |limit: Limit| {
            s.windows
                .get(&(key.to_owned(), limit.as_str()))
                .map_or(0, |log| rate::used(log.iter().copied(), now_ms))
        };
        Ok(KeyCounters {
            spent,
            reserved,
            rpm: window(Limit::Rpm),
            tpm: window(Limit::Tpm),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_settle_and_lapse() {
        let m = MemoryStore::default();
        let now = 1_000;
        let r = m
            .reserve("k", "m2026-12", Nanos(100), Nanos(60), "a", now + 10, now)
            .unwrap();
        assert_eq!((r.admitted, r.spent, r.reserved), (true, 0, 60));
        let r = m
            .reserve("k", "m2026-12", Nanos(100), Nanos(60), "b", now + 10, now)
            .unwrap();
        assert_eq!((r.admitted, r.reserved), (true, 120));
        // Over: refused while both are open.
        let r = m
            .reserve("k", "m2026-12", Nanos(100), Nanos(60), "c", now + 10, now)
            .unwrap();
        assert!(!r.admitted);
        // Settled for less than reserved: room again.
        m.settle("k", "m2026-12", "a", Nanos(5)).unwrap();
        m.settle("k", "m2026-12", "b", Nanos(5)).unwrap();
        let c = m.read("k", "m2026-12", now).unwrap();
        assert_eq!((c.spent, c.reserved), (10, 0));
        // A reservation never settled lapses at its expiry.
        m.reserve("k", "m2026-12", Nanos(100), Nanos(95), "d", now + 10, now)
            .unwrap();
        let r = m
            .reserve(
                "k",
                "m2026-12",
                Nanos(100),
                Nanos(1),
                "e",
                now + 50,
                now + 5,
            )
            .unwrap();
        assert!(!r.admitted);
        let r = m
            .reserve(
                "k",
                "m2026-12",
                Nanos(100),
                Nanos(1),
                "e",
                now + 50,
                now + 11,
            )
            .unwrap();
        assert!(r.admitted);
        // Another period starts from zero; another key is separate.
        let r = m
            .reserve("k", "m2027-01", Nanos(100), Nanos(1), "f", now + 50, now)
            .unwrap();
        assert_eq!((r.spent, r.reserved), (0, 1));
        assert_eq!(
            m.read("other", "m2026-12", now).unwrap(),
            KeyCounters::default()
        );
    }

    #[test]
    fn windows_slide() {
        let m = MemoryStore::default();
        let t0 = 10 * rate::WINDOW_MS + 1_000;
        for _ in 0..3 {
            assert!(m.rate("k", Limit::Rpm, t0, 3, 1, 1).unwrap().admitted);
        }
        let seen = m.rate("k", Limit::Rpm, t0 + 1, 3, 1, 1).unwrap();
        assert_eq!(
            (seen.admitted, seen.used, seen.wait_ms),
            (false, 3, rate::WINDOW_MS - 1)
        );
        // A minute after they were taken the slots are free again, whatever the clock
        // minute: no weighted leftover of the previous one.
        let seen = m
            .rate("k", Limit::Rpm, t0 + rate::WINDOW_MS, 3, 1, 1)
            .unwrap();
        assert_eq!((seen.admitted, seen.used), (true, 1));
        let later = t0 + 3 * rate::WINDOW_MS;
        assert_eq!(m.read("k", "p", later).unwrap().rpm, 0);
        // Tokens are added after the fact and checked with cost 1 (any room left).
        m.rate_add("k", Limit::Tpm, later, 500).unwrap();
        assert!(m.rate("k", Limit::Tpm, later, 501, 1, 0).unwrap().admitted);
        m.rate_add("k", Limit::Tpm, later, 10).unwrap();
        assert!(!m.rate("k", Limit::Tpm, later, 501, 1, 0).unwrap().admitted);
        assert_eq!(m.read("k", "p", later).unwrap().tpm, 510);
    }
}
