//! Turning the upstream response into the client's response.
//!
//! Status and body pass through unchanged (upstream errors included), unless the response
//! check blocks a policy violation. Streams go through the SSE tap event by event; other
//! bodies are read with a size cap and the idle/total timeouts. Response headers are an
//! allowlist of what OpenRouter documents as useful to clients.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::check::ResponseCheck;
use super::{Sent, UpstreamError};
use crate::policy::ViolationKind;
use crate::stream::{self, Inspector, PassAll, StreamReport, TapLimits};

/// The upstream's response headers a client sees. Names, not text: a lookup by `&str`
/// parses and validates the name again on every request (eleven per response).
const FORWARDED_RESPONSE_HEADERS: [HeaderName; 11] = [
    header::CONTENT_TYPE,
    HeaderName::from_static("x-generation-id"),
    header::RETRY_AFTER,
    HeaderName::from_static("x-ratelimit-limit"),
    HeaderName::from_static("x-ratelimit-remaining"),
    HeaderName::from_static("x-ratelimit-reset"),
    HeaderName::from_static("x-openrouter-cache-status"),
    HeaderName::from_static("x-openrouter-cache-age"),
    HeaderName::from_static("x-openrouter-cache-ttl"),
    header::CACHE_CONTROL,
    HeaderName::from_static("openai-processing-ms"),
];

/// How to relay one response.
pub struct Relay {
    pub idle: Duration,
    pub max_body: usize,
    /// Whether the stream protocol ends with `data: [DONE]`.
    pub expects_done: bool,
    /// The policy check of what served the request (`None` for listings and passthrough).
    pub check: Option<ResponseCheck>,
    /// Called once when a streamed body ends, for whatever reason.
    pub on_stream_end: Box<dyn FnOnce(StreamReport) + Send>,
    /// Keep up to this many bytes of a stream as delivered, for an encrypted capture
    /// (handed to `on_stream_end` in the report). `None` for classes that do not capture.
    pub capture: Option<usize>,
}

/// Why a buffered answer was not relayed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The upstream answered about the gateway's own account (key or credit).
    #[error("the upstream refused the gateway's own account")]
    Account(super::AccountFault),
    /// What served the request is outside policy and the class blocks: body withheld.
    #[error("the upstream served this request outside policy")]
    Violation(ViolationKind),
}

/// Relays `sent` to the client.
pub async fn relay(sent: Sent, relay: Relay) -> Result<Response, RelayError> {
    let Sent { response, deadline } = sent;
    let status =
        StatusCode::from_u16(response.status().as_u16()).map_err(|_| UpstreamError::Protocol)?;
    let mut builder = Response::builder().status(status);
    for name in &FORWARDED_RESPONSE_HEADERS {
        for value in response.headers().get_all(name) {
            builder = builder.header(name.clone(), value.clone());
        }
    }
    let is_sse = is_event_stream(response.headers());
    let Relay {
        idle,
        max_body,
        expects_done,
        check,
        on_stream_end,
        capture,
    } = relay;
    let body = if is_sse {
        // Tell buffering reverse proxies in front of us (nginx) not to coalesce chunks.
        builder = builder.header(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        );
        let inspector: Box<dyn Inspector> = match check {
            Some(c) if status.is_success() => Box::new(c),
            _ => Box::new(PassAll),
        };
        let limits = TapLimits {
            idle,
            deadline,
            max_line: max_body,
            expects_done,
            capture,
        };
        Body::from_stream(stream::tap(
            response.bytes_stream(),
            limits,
            inspector,
            on_stream_end,
        ))
    } else {
        let bytes = read_capped(response, idle, deadline, max_body).await?;
        if let Some(fault) = account_fault(status, &bytes) {
            return Err(RelayError::Account(fault));
        }
        match check.filter(|_| status.is_success()) {
            Some(mut check) => {
                if let Some(v) = check.check_body(&bytes) {
                    return Err(RelayError::Violation(v.kind));
                }
                match check.restore_body(&bytes) {
                    Some(restored) => Body::from(restored),
                    None => Body::from(bytes),
                }
            }
            None => Body::from(bytes),
        }
    };
    Ok(builder.body(body).map_err(|_| UpstreamError::Protocol)?)
}

/// An error answer about the gateway's own upstream account (its key or its credit), which
/// is never relayed as the upstream's: see `account`.
pub fn account_fault(status: StatusCode, body: &[u8]) -> Option<super::AccountFault> {
    if status.is_success() {
        return None;
    }
    super::account::fault(status.as_u16(), body)
}

/// Whether a response is a server-sent-event stream (media type compared as RFC 9110 says:
/// case-insensitively, parameters ignored).
pub fn is_event_stream(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// Reads a whole upstream body, refusing more than `max` bytes and honouring the idle gap
/// and the total deadline.
pub async fn read_capped(
    mut response: reqwest::Response,
    idle: Duration,
    deadline: Instant,
    max: usize,
) -> Result<Bytes, UpstreamError> {
    let mut buf = BytesMut::new();
    loop {
        let until = deadline.min(Instant::now() + idle);
        match tokio::time::timeout_at(until, response.chunk()).await {
            Err(_) => return Err(UpstreamError::BodyTimeout),
            Ok(Err(_)) => return Err(UpstreamError::Protocol),
            Ok(Ok(None)) => return Ok(buf.freeze()),
            Ok(Ok(Some(chunk))) => {
                if buf.len() + chunk.len() > max {
                    return Err(UpstreamError::ResponseTooLarge);
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}
