//! The upstream side: one HTTP client, building the outbound request, relaying the reply,
//! and checking what served it.

pub mod account;
pub mod backoff;
pub mod breaker;
mod check;
mod client;
pub mod credit;
mod forward;
pub mod providers;
mod relay;
mod settings;

pub use account::AccountFault;
pub use check::{AuditSubject, ResponseCheck, Served};
pub use client::{
    build_client, explain, get_json, send, send_explained, Failure, Outbound, Sent,
    CLIENT_HEADERS_FORWARDED,
};
pub use forward::{outcome_of as attempt_outcome, send_with_retries, Attempt, Attempted};
pub use relay::{account_fault, is_event_stream, read_capped, relay, Relay, RelayError};
pub use settings::{ServiceSettings, UpstreamSettings};

/// Failures talking to the upstream. None of them carries upstream body text: that may echo
/// the prompt.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum UpstreamError {
    #[error(
        "the upstream API key is not configured (set OPENROUTER_API_KEY or upstream.api_key_file)"
    )]
    NotConfigured,
    #[error("could not reach the upstream")]
    Connect,
    #[error("the upstream did not answer in time")]
    FirstByteTimeout,
    #[error("the upstream response stalled or exceeded the total time limit")]
    BodyTimeout,
    #[error("the upstream response exceeded the size limit")]
    ResponseTooLarge,
    #[error("the upstream response could not be read")]
    Protocol,
    #[error("the upstream request could not be built")]
    Build,
}
