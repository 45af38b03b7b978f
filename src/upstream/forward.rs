//! The attempt loop for one model: send, and on a connect error, a timeout or a retryable
//! status (429, 5xx), wait (exponential backoff with full jitter, `Retry-After` honoured)
//! and send again — while the retry budget lasts. Retries happen only before anything has
//! been sent to the client: a response is either handed back whole (to be relayed) or
//! dropped unread.

use axum::http::HeaderMap;
use rand::Rng;
use tokio::time::Instant;

use super::backoff::{retry_after, RetryPolicy};
use super::client::{send, Outbound, Sent};
use super::UpstreamError;
use super::{ServiceSettings, UpstreamSettings};
use crate::metrics::AttemptOutcome;
use crate::traces::ServerSpan;

/// One attempt, for the audit and the metrics: the model and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub model: String,
    pub outcome: AttemptOutcome,
}

/// How the attempts for one model ended.
pub enum Attempted {
    /// A response to relay: a success, or an upstream error that retrying did not fix.
    Response(Sent),
    /// No response at all (connect errors, timeouts) after every attempt.
    Failed(UpstreamError),
}

impl Attempted {
    /// Whether the next model in the fallback chain should be tried.
    pub fn should_fall_back(&self, policy: &RetryPolicy) -> bool {
        match self {
            Attempted::Response(sent) => policy.retryable(sent.response.status().as_u16()),
            Attempted::Failed(e) => {
                !matches!(e, UpstreamError::NotConfigured | UpstreamError::Build)
            }
        }
    }
}

/// How an attempt that got no response is counted (and named on its span).
pub fn outcome_of(e: &UpstreamError) -> AttemptOutcome {
    match e {
        UpstreamError::Connect => AttemptOutcome::Connect,
        UpstreamError::FirstByteTimeout | UpstreamError::BodyTimeout => AttemptOutcome::Timeout,
        UpstreamError::NotConfigured => AttemptOutcome::NotConfigured,
        UpstreamError::ResponseTooLarge | UpstreamError::Protocol => AttemptOutcome::Protocol,
        UpstreamError::Build => AttemptOutcome::Build,
    }
}

/// Sends `outbound` for `model`, retrying per `policy`. Every attempt is appended to `log`
/// and, when the request is traced, gets its own CLIENT span under `trace`, named in the
/// attempt's `traceparent`.
#[allow(clippy::too_many_arguments)]
pub async fn send_with_retries(
    client: &reqwest::Client,
    settings: &UpstreamSettings,
    service: Option<&ServiceSettings>,
    client_headers: &HeaderMap,
    outbound: &Outbound,
    policy: &RetryPolicy,
    model: &str,
    log: &mut Vec<Attempt>,
    trace: Option<&ServerSpan>,
) -> Attempted {
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        let mut outbound = outbound.clone();
        let span = trace.map(|t| {
            let span = t.attempt(model, &settings.base_url, outbound.method.as_str());
            outbound.trace_headers = span.headers().to_vec();
            span
        });
        let result = send(client, settings, service, client_headers, outbound).await;
        let outcome = match &result {
            Ok(sent) => AttemptOutcome::Status(sent.response.status().as_u16()),
            Err(e) => outcome_of(e),
        };
        if let Some(span) = span {
            span.end(outcome);
        }
        let hint = match &result {
            Ok(sent) => {
                let status = sent.response.status().as_u16();
                log.push(Attempt {
                    model: model.to_owned(),
                    outcome,
                });
                if !policy.retryable(status) {
                    return into_attempted(result);
                }
                retry_after(sent.response.headers())
            }
            Err(e) => {
                log.push(Attempt {
                    model: model.to_owned(),
                    outcome,
                });
                if matches!(e, UpstreamError::NotConfigured | UpstreamError::Build) {
                    return into_attempted(result);
                }
                None
            }
        };
        if attempt >= policy.max_retries {
            return into_attempted(result);
        }
        let wait = policy.delay(attempt, rand::thread_rng().gen::<f64>(), hint);
        if started.elapsed() + wait > policy.budget {
            return into_attempted(result);
        }
        // The response, if any, is dropped unread: nothing of it reaches the client.
        drop(result);
        tracing::debug!(model = %model, attempt, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "retrying upstream");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

fn into_attempted(result: Result<Sent, UpstreamError>) -> Attempted {
    match result {
        Ok(sent) => Attempted::Response(sent),
        Err(e) => Attempted::Failed(e),
    }
}
