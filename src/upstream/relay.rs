//! Turning the upstream response into the client's response.
//!
//! Status and body pass through unchanged (upstream errors included). Streams go through the
//! SSE tap chunk by chunk; other bodies are read with a size cap and the idle/total timeouts.
//! Response headers are an allowlist of what OpenRouter documents as useful to clients.

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::{Sent, UpstreamError};
use crate::stream::{self, StreamReport};

const FORWARDED_RESPONSE_HEADERS: [&str; 11] = [
    "content-type",
    "x-generation-id",
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-openrouter-cache-status",
    "x-openrouter-cache-age",
    "x-openrouter-cache-ttl",
    "cache-control",
    "openai-processing-ms",
];

/// Relays `sent` to the client. `on_stream_end` is called once when a streamed body ends, for
/// whatever reason (completed, upstream error, timeout, client gone).
pub async fn relay(
    sent: Sent,
    idle: std::time::Duration,
    max_body: usize,
    on_stream_end: impl FnOnce(StreamReport) + Send + 'static,
) -> Result<Response, UpstreamError> {
    let Sent { response, deadline } = sent;
    let status =
        StatusCode::from_u16(response.status().as_u16()).map_err(|_| UpstreamError::Protocol)?;
    let mut builder = Response::builder().status(status);
    for name in FORWARDED_RESPONSE_HEADERS {
        for value in response.headers().get_all(name) {
            builder = builder.header(name, value.clone());
        }
    }
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        });
    let body = if is_sse {
        // Tell buffering reverse proxies in front of us (nginx) not to coalesce chunks.
        builder = builder.header(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        );
        Body::from_stream(stream::tap(
            response.bytes_stream(),
            idle,
            deadline,
            on_stream_end,
        ))
    } else {
        Body::from(read_capped(response, idle, deadline, max_body).await?)
    };
    builder.body(body).map_err(|_| UpstreamError::Protocol)
}

/// Reads a whole upstream body, refusing more than `max` bytes and honouring the idle gap
/// and the total deadline.
pub async fn read_capped(
    mut response: reqwest::Response,
    idle: std::time::Duration,
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
