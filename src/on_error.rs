//! What a request does when something it depends on cannot answer: the shared state store
//! (budgets, rate limits) or an external detector (Presidio). One vocabulary for both, so
//! the config spells it the same everywhere (`fail_closed` / `fail_open`).

/// What a failing dependency means for the request that needed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Refuse the request: a 503 the client may retry.
    FailClosed,
    /// Let it through without that dependency's answer; log and count the failure (and,
    /// where the request's decisions are recorded, record it there).
    FailOpen,
}

impl OnError {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FailClosed => "fail_closed",
            Self::FailOpen => "fail_open",
        }
    }
}
