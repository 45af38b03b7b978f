//! Per-key rate limits (`rpm`, `tpm`), pure: an exact sliding window of the last 60 s.
//!
//! Each key and limit keeps a log of admissions: `(time in ms, amount)`, oldest first — one
//! entry per admitted request for `rpm`, one per finished request's tokens for `tpm`. The
//! count at `now` is the sum of the entries younger than a minute, so a burst early in a
//! minute frees its slots exactly 60 s after each was taken, never later, and
//! `Retry-After` is the age at which the oldest entries that stand in the way expire —
//! at most the window. The memory store keeps the log in a `VecDeque`, the Redis store in
//! a sorted set scored by time (one Lua script applies the same rule).
//!
//! Why a log and not two weighted fixed windows (the earlier shape): the weighted estimate
//! counts a burst from the start of one minute against most of the next, so `rpm = 1`
//! could answer `Retry-After: 119`. A log costs one entry per request in the window, which
//! `rpm` itself bounds.
//!
//! Requests are counted when admitted. Tokens are known only when a response ends: a
//! request is admitted while the tokens of the last minute are below `tpm`, and its tokens
//! are added when it completes — so one large request can take a key past its `tpm`, and
//! the next ones wait until enough of it has slid out of the window.

use std::time::Duration;

/// The window length.
pub const WINDOW_MS: u64 = 60_000;

/// Which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Rpm,
    Tpm,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rpm => "rpm",
            Self::Tpm => "tpm",
        }
    }
}

/// Whether an entry taken at `at` still counts at `now`.
pub fn live(at: u64, now: u64) -> bool {
    now < at.saturating_add(WINDOW_MS)
}

/// The sum of the entries that still count at `now` (`log` oldest first).
pub fn used(log: impl IntoIterator<Item = (u64, u64)>, now: u64) -> u64 {
    log.into_iter()
        .filter(|(at, _)| live(*at, now))
        .fold(0u64, |sum, (_, n)| sum.saturating_add(n))
}

/// What the window says about `cost` more at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It fits: `used + cost ≤ limit`.
    Admit,
    /// It does not; the first moment it would, in milliseconds from now (1..=WINDOW_MS).
    Wait(u64),
}

/// The rule, shared by both stores (the Redis script restates it): admit while the live
/// entries plus `cost` stay within `limit`; otherwise wait until enough of the oldest live
/// entries have expired. `log` is oldest first. With `cost` > `limit` nothing ever fits,
/// and the answer is a full window (the key's configuration is the problem, not timing).
pub fn decide(log: &[(u64, u64)], now: u64, limit: u64, cost: u64) -> Decision {
    let live_entries = || log.iter().filter(|(at, _)| live(*at, now));
    let mut used = live_entries().fold(0u64, |s, (_, n)| s.saturating_add(*n));
    if used.saturating_add(cost) <= limit {
        return Decision::Admit;
    }
    for (at, n) in live_entries() {
        used = used.saturating_sub(*n);
        if used.saturating_add(cost) <= limit {
            return Decision::Wait(at.saturating_add(WINDOW_MS).saturating_sub(now).max(1));
        }
    }
    Decision::Wait(WINDOW_MS)
}

/// `Retry-After` in whole seconds: rounded up (a client that waits this long fits), at
/// least 1, at most the window. The error message prints the same number.
pub fn retry_secs(wait_ms: u64) -> u64 {
    wait_ms.div_ceil(1_000).clamp(1, WINDOW_MS / 1_000)
}

/// The wait as a `Duration`, for callers that sleep on it.
pub fn retry_after(wait_ms: u64) -> Duration {
    Duration::from_secs(retry_secs(wait_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admits `n` requests of cost 1 at `at` into `log` as the stores do.
    fn admit_all(log: &mut Vec<(u64, u64)>, at: u64, limit: u64, n: usize) -> usize {
        let mut admitted = 0;
        for _ in 0..n {
            if decide(log, at, limit, 1) == Decision::Admit {
                log.push((at, 1));
                admitted += 1;
            }
        }
        admitted
    }

    #[test]
    fn admits_up_to_the_limit_and_not_past_it() {
        let mut log = Vec::new();
        assert_eq!(admit_all(&mut log, 1_000, 3, 5), 3);
        assert_eq!(used(log.iter().copied(), 1_000), 3);
        // tpm: admitted while below the limit (cost 1 means "any room left").
        assert_eq!(decide(&[(0, 999)], 10, 1000, 1), Decision::Admit);
        assert_eq!(
            decide(&[(0, 1000)], 10, 1000, 1),
            Decision::Wait(WINDOW_MS - 10)
        );
    }

    #[test]
    fn a_burst_early_in_a_minute_frees_its_slot_exactly_a_minute_later() {
        // rpm = 1, one request 1 s into a minute: the next fits 60 s after it, not 119 s.
        let t0 = 10 * WINDOW_MS + 1_000;
        let log = vec![(t0, 1)];
        let wait = match decide(&log, t0 + 500, 1, 1) {
            Decision::Wait(ms) => ms,
            Decision::Admit => panic!("over the limit"),
        };
        assert_eq!(wait, WINDOW_MS - 500);
        assert_eq!(retry_secs(wait), 60);
        // At that moment, it fits; a millisecond before, it does not.
        assert_eq!(decide(&log, t0 + WINDOW_MS, 1, 1), Decision::Admit);
        assert!(matches!(
            decide(&log, t0 + WINDOW_MS - 1, 1, 1),
            Decision::Wait(1)
        ));
    }

    #[test]
    fn the_wait_points_at_the_oldest_entry_that_stands_in_the_way() {
        // rpm = 3: entries at 0 s, 10 s, 20 s; at 30 s the first frees at 60 s.
        let log = [(0, 1), (10_000, 1), (20_000, 1)];
        assert_eq!(decide(&log, 30_000, 3, 1), Decision::Wait(30_000));
        // tpm = 100 with 80 + 50 tokens: the 80 must go before anything fits.
        let log = [(0, 80), (5_000, 50)];
        assert_eq!(decide(&log, 6_000, 100, 1), Decision::Wait(54_000));
        // Expired entries count for nothing.
        assert_eq!(decide(&log, 65_000, 100, 1), Decision::Admit);
    }

    #[test]
    fn retry_after_is_whole_seconds_within_the_window() {
        assert_eq!(retry_secs(1), 1);
        assert_eq!(retry_secs(1_000), 1);
        assert_eq!(retry_secs(1_001), 2);
        assert_eq!(retry_secs(WINDOW_MS), 60);
        assert_eq!(retry_secs(u64::MAX), 60);
        // A cost that can never fit waits one window, no more.
        assert_eq!(decide(&[], 0, 1, 2), Decision::Wait(WINDOW_MS));
    }

    proptest::proptest! {
        /// Any sequence of arrivals: the window never holds more than the limit, and every
        /// refusal's wait is at most a minute and is exactly when the request would fit.
        #[test]
        fn never_over_the_limit_and_the_wait_is_exact(
            gaps in proptest::collection::vec(0u64..20_000, 1..60),
            limit in 1u64..6,
        ) {
            let mut log: Vec<(u64, u64)> = Vec::new();
            let mut now = 0u64;
            for gap in gaps {
                now += gap;
                match decide(&log, now, limit, 1) {
                    Decision::Admit => log.push((now, 1)),
                    Decision::Wait(ms) => {
                        proptest::prop_assert!((1..=WINDOW_MS).contains(&ms));
                        proptest::prop_assert_eq!(decide(&log, now + ms, limit, 1), Decision::Admit);
                        proptest::prop_assert!(decide(&log, now + ms - 1, limit, 1) != Decision::Admit);
                    }
                }
                proptest::prop_assert!(used(log.iter().copied(), now) <= limit);
            }
        }
    }
}
