//! Per-key rate limits (`rpm`, `tpm`), pure: a sliding-window counter over one-minute
//! windows. The count at time `t` is the current window's count plus the previous window's,
//! weighted by how much of it still lies within the last 60 s. Two integers per key and
//! limit, so the shared (Redis) form is two keys and one short script, and the estimate is
//! never below the true count of a steady stream.
//!
//! Requests are counted when admitted. Tokens are known only when a response ends: a
//! request is admitted while the tokens of the last minute are below `tpm`, and its tokens
//! are added when it completes — so one large request can take a key past its `tpm`, and
//! the next ones wait until the window has slid far enough.

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

/// Where `now_ms` falls: the window's index and how far into it (0..1).
pub fn window(now_ms: u64) -> (u64, f64) {
    let index = now_ms / WINDOW_MS;
    let into = (now_ms % WINDOW_MS) as f64 / WINDOW_MS as f64;
    (index, into)
}

/// The sliding count: all of the current window, the unexpired share of the previous one.
pub fn weighted(prev: u64, cur: u64, into: f64) -> f64 {
    prev as f64 * (1.0 - into) + cur as f64
}

/// Whether `cost` more fits under `limit` (the Redis script makes the same comparison).
pub fn admits(prev: u64, cur: u64, into: f64, limit: u64, cost: u64) -> bool {
    weighted(prev, cur, into) + cost as f64 <= limit as f64
}

/// How long until `cost` more would fit, for `Retry-After` (at least one second).
pub fn retry_after(prev: u64, cur: u64, into: f64, limit: u64, cost: u64) -> Duration {
    let limit = limit as f64;
    let need = cost as f64;
    let rest_of_window = (1.0 - into) * WINDOW_MS as f64;
    let wait_ms = if cur as f64 + need <= limit && prev > 0 {
        // Within this window, once enough of the previous one has slid out:
        // prev × (1 − x) + cur + need ≤ limit  ⇔  x ≥ 1 − (limit − cur − need) / prev.
        let x = 1.0 - (limit - cur as f64 - need) / prev as f64;
        (x - into).max(0.0) * WINDOW_MS as f64
    } else {
        // Not before the next window, where this window's count becomes the weighted one.
        let next_prev = cur as f64;
        let x = if next_prev > 0.0 {
            (1.0 - (limit - need) / next_prev).max(0.0)
        } else {
            0.0
        };
        rest_of_window + x.min(1.0) * WINDOW_MS as f64
    };
    let ms = wait_ms.ceil().max(0.0) as u64;
    Duration::from_millis(ms).max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_weights() {
        assert_eq!(window(0), (0, 0.0));
        assert_eq!(window(90_000), (1, 0.5));
        assert!((weighted(10, 4, 0.5) - 9.0).abs() < 1e-9);
        assert!((weighted(10, 4, 0.0) - 14.0).abs() < 1e-9);
    }

    #[test]
    fn admits_up_to_the_limit_and_not_past_it() {
        // rpm = 3 in a fresh window: three admitted, the fourth refused.
        let mut cur = 0;
        let mut admitted = 0;
        for _ in 0..5 {
            if admits(0, cur, 0.2, 3, 1) {
                cur += 1;
                admitted += 1;
            }
        }
        assert_eq!(admitted, 3);
        // A full previous window still counts at the start of the next one…
        assert!(!admits(3, 0, 0.0, 3, 1));
        // …and less as it slides out.
        assert!(admits(3, 0, 0.34, 3, 1));
        // tpm: admitted while below the limit (cost 0 means "any room left").
        assert!(admits(0, 999, 0.5, 1000, 0));
        assert!(!admits(0, 1001, 0.5, 1000, 0));
    }

    #[test]
    fn retry_after_points_at_the_first_moment_that_fits() {
        // Previous window full (3 of 3), nothing yet in this one, 10 % in: one slot frees
        // once a third of the previous window has slid out, about 14 s from now.
        let wait = retry_after(3, 0, 0.1, 3, 1);
        assert!((wait.as_millis() as i64 - 14_000).abs() < 100, "{wait:?}");
        assert!(admits(3, 0, 0.1 + wait.as_secs_f64() / 60.0 + 1e-6, 3, 1));
        // This window already full: not before the next one.
        let wait = retry_after(0, 3, 0.5, 3, 1);
        assert!(wait >= Duration::from_secs(30), "{wait:?}");
        // Never less than a second.
        assert_eq!(retry_after(1, 0, 0.99999, 3, 1), Duration::from_secs(1));
    }
}
