//! Circuit breakers, one per upstream model: after `threshold` consecutive failures the
//! model is skipped for `cooldown`, then one probe request is let through; its success
//! closes the breaker, its failure opens it again. A pure state machine over `tokio`'s
//! clock, so tests can pause and advance time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// The cool-down passed and one probe is in flight (since then). A probe that never
    /// reports (its client went away) does not wedge the breaker: after another cool-down
    /// a new probe is let through.
    HalfOpen {
        since: Instant,
    },
}

/// What the breaker says about sending to a model now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allow,
    /// The one probe after a cool-down.
    Probe,
    /// Open: skip this model; retry after the given time.
    Reject(Duration),
}

/// All breakers of the process (they outlive config reloads).
#[derive(Debug)]
pub struct Breakers {
    states: Mutex<HashMap<String, State>>,
    threshold: u32,
    cooldown: Duration,
}

impl Breakers {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            states: Mutex::new(HashMap::new()),
            threshold: threshold.max(1),
            cooldown,
        }
    }

    pub fn admit(&self, model: &str) -> Admission {
        let Ok(mut states) = self.states.lock() else {
            return Admission::Allow;
        };
        let now = Instant::now();
        match states.get(model).copied() {
            None | Some(State::Closed { .. }) => Admission::Allow,
            Some(State::Open { until }) if now < until => Admission::Reject(until - now),
            Some(State::Open { .. }) => {
                states.insert(model.to_owned(), State::HalfOpen { since: now });
                Admission::Probe
            }
            Some(State::HalfOpen { since }) if now - since < self.cooldown => {
                Admission::Reject(self.cooldown - (now - since))
            }
            Some(State::HalfOpen { .. }) => {
                states.insert(model.to_owned(), State::HalfOpen { since: now });
                Admission::Probe
            }
        }
    }

    pub fn success(&self, model: &str) {
        if let Ok(mut states) = self.states.lock() {
            states.insert(model.to_owned(), State::Closed { failures: 0 });
        }
    }

    pub fn failure(&self, model: &str) {
        let Ok(mut states) = self.states.lock() else {
            return;
        };
        let now = Instant::now();
        let next = match states.get(model).copied() {
            Some(State::HalfOpen { .. }) => State::Open {
                until: now + self.cooldown,
            },
            Some(State::Closed { failures }) if failures + 1 >= self.threshold => State::Open {
                until: now + self.cooldown,
            },
            Some(State::Closed { failures }) => State::Closed {
                failures: failures + 1,
            },
            None if self.threshold <= 1 => State::Open {
                until: now + self.cooldown,
            },
            None => State::Closed { failures: 1 },
            Some(open @ State::Open { .. }) => open,
        };
        if matches!(next, State::Open { .. })
            && !matches!(states.get(model), Some(State::Open { .. }))
        {
            tracing::warn!(model = %model, cooldown_ms = u64::try_from(self.cooldown.as_millis()).unwrap_or(u64::MAX), "circuit breaker opened");
        }
        states.insert(model.to_owned(), next);
    }

    /// Models whose breaker is open or probing, for `/readyz` and metrics.
    pub fn open(&self) -> Vec<String> {
        let Ok(states) = self.states.lock() else {
            return Vec::new();
        };
        let now = Instant::now();
        let mut out: Vec<String> = states
            .iter()
            .filter(|(_, s)| {
                matches!(s, State::Open { until } if now < *until)
                    || matches!(s, State::HalfOpen { .. })
            })
            .map(|(m, _)| m.clone())
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_threshold_and_probes_after_the_cooldown() {
        let b = Breakers::new(3, Duration::from_secs(30));
        for _ in 0..2 {
            b.failure("m");
            assert_eq!(b.admit("m"), Admission::Allow);
        }
        b.failure("m");
        assert!(matches!(b.admit("m"), Admission::Reject(_)));
        assert_eq!(b.open(), ["m"]);
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(b.admit("m"), Admission::Probe);
        assert!(
            matches!(b.admit("m"), Admission::Reject(_)),
            "one probe at a time"
        );
        b.failure("m");
        assert!(
            matches!(b.admit("m"), Admission::Reject(_)),
            "a failed probe reopens"
        );
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(b.admit("m"), Admission::Probe);
        b.success("m");
        assert_eq!(b.admit("m"), Admission::Allow);
        assert!(b.open().is_empty());
        // A probe that never reports does not wedge the breaker.
        for _ in 0..3 {
            b.failure("m");
        }
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(b.admit("m"), Admission::Probe);
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(
            b.admit("m"),
            Admission::Probe,
            "a lost probe is replaced after a cool-down"
        );
        b.success("m");
        // A success resets the count.
        b.failure("m");
        b.failure("m");
        b.success("m");
        b.failure("m");
        assert_eq!(b.admit("m"), Admission::Allow);
    }
}
