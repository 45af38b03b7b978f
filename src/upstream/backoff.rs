//! Retry delays: exponential backoff with full jitter, and `Retry-After` honoured up to a
//! cap. Pure; the random draw is passed in.

use std::time::Duration;

/// Retry settings.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub statuses: Vec<u16>,
    pub base: Duration,
    pub max: Duration,
    pub retry_after_cap: Duration,
    /// Total time one request may spend waiting between attempts.
    pub budget: Duration,
}

impl RetryPolicy {
    pub fn retryable(&self, status: u16) -> bool {
        self.statuses.contains(&status)
    }

    /// The wait before retry number `attempt` (0-based): a uniform draw in
    /// `[0, min(max, base·2^attempt)]` (`unit` in `[0, 1)`), or the server's `Retry-After`
    /// when that is longer, capped.
    pub fn delay(&self, attempt: u32, unit: f64, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max);
        let jittered = ceiling.mul_f64(unit.clamp(0.0, 1.0));
        match retry_after {
            Some(ra) => jittered.max(ra.min(self.retry_after_cap)),
            None => jittered,
        }
    }
}

/// Parses `Retry-After` (delay-seconds; an HTTP date is not honoured and means "no hint")
/// or OpenRouter-style `retry-after-ms`.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    let secs = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            statuses: vec![429, 502],
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
            retry_after_cap: Duration::from_secs(5),
            budget: Duration::from_secs(10),
        }
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let p = policy();
        assert_eq!(
            p.delay(0, 0.0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.delay(0, 0.5, Some(Duration::from_secs(60))),
            Duration::from_secs(5)
        );
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        let mut d = reqwest::header::HeaderMap::new();
        d.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&d), None);
    }

    proptest! {
        #[test]
        fn delays_stay_within_the_exponential_ceiling(attempt in 0u32..40, unit in 0.0f64..1.0) {
            let p = policy();
            let d = p.delay(attempt, unit, None);
            let ceiling = Duration::from_millis(100).saturating_mul(2u32.saturating_pow(attempt.min(16))).min(Duration::from_secs(2));
            prop_assert!(d <= ceiling);
        }
    }
}
