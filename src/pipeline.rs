//! The request pipeline, top to bottom (DESIGN.md §2).
//!
//! Each stage is a plain function call with typed input and output; this file only orders
//! them and performs the effects (upstream I/O, logging). The stages still to come slot in at
//! the marked places, each as one call:
//!
//! | # | stage                       | where                              |
//! |---|-----------------------------|------------------------------------|
//! | 1 | authenticate                | `keys::authenticate`               |
//! | 2 | receive (cap + decode)      | `request::body::read`              |
//! | 3 | parse strictly              | `request::parse::parse`            |
//! | 4 | classify                    | policy issue: `classify::decide`   |
//! | 5 | enforce policy              | policy issue: `policy::plan`       |
//! | 6 | redact                      | redaction issue: `redact::apply`   |
//! | 7 | seal                        | `seal`                             |
//! | 8 | audit `request` record      | audit issue: `audit::Writer`       |
//! | 9 | forward                     | `upstream::send`                   |
//! |10 | respond / stream / verify   | `upstream::relay`                  |
//!
//! Authentication runs before the body is read: an unauthenticated caller never gets the
//! gateway to buffer or decompress megabytes on its behalf.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use bytes::Bytes;
use time::OffsetDateTime;

use crate::config::Snapshot;
use crate::error::GatewayError;
use crate::keys::{self, Caller};
use crate::request::parse::{self, ParsedRequest};
use crate::request::{body, Endpoint};
use crate::server::AppState;
use crate::stream::{StreamEnd, StreamReport};
use crate::upstream::{self, Outbound};

/// Handles one inference request (`chat/completions`, `completions`, `embeddings`,
/// `responses`).
pub async fn inference(
    state: &AppState,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, GatewayError> {
    // One snapshot for the whole request: a reload mid-request changes nothing for it.
    let config: Arc<Snapshot> = state.config.load_full();

    let caller = authenticate(&config, headers)?;
    let bytes = body::read(headers, body, config.server.body).await?;
    let parsed = parse::parse(endpoint, &bytes, config.server.max_json_depth)?;
    tracing::debug!(
        endpoint = endpoint.as_str(),
        stream = parsed.stream,
        "request parsed"
    );

    let outbound = seal(&parsed)?;
    forward(state, &config, &caller, headers, outbound).await
}

/// Handles `GET /models` and configured passthrough paths: authenticated, key swapped, no
/// body to inspect.
pub async fn passthrough(
    state: &AppState,
    path_and_query: String,
    headers: &HeaderMap,
) -> Result<Response, GatewayError> {
    let config = state.config.load_full();
    let caller = authenticate(&config, headers)?;
    let outbound = Outbound {
        method: Method::GET,
        path_and_query,
        body: None,
    };
    forward(state, &config, &caller, headers, outbound).await
}

fn authenticate(config: &Snapshot, headers: &HeaderMap) -> Result<Caller, GatewayError> {
    let caller = keys::authenticate(&config.keys, headers, OffsetDateTime::now_utc())?;
    tracing::Span::current().record("key_id", &*caller.key_id);
    Ok(caller)
}

/// Serialises the (possibly rewritten) request once. These exact bytes are what leaves the
/// gateway, on every attempt.
fn seal(parsed: &ParsedRequest) -> Result<Outbound, GatewayError> {
    let bytes = serde_json::to_vec(&parsed.body)
        .map_err(|_| GatewayError::Upstream(upstream::UpstreamError::Build))?;
    Ok(Outbound {
        method: Method::POST,
        path_and_query: parsed.endpoint.upstream_path().to_owned(),
        body: Some(Bytes::from(bytes)),
    })
}

async fn forward(
    state: &AppState,
    config: &Snapshot,
    caller: &Caller,
    headers: &HeaderMap,
    outbound: Outbound,
) -> Result<Response, GatewayError> {
    let service = config.services.get(&*caller.service);
    let sent = upstream::send(&state.client, &config.upstream, service, headers, outbound).await?;
    let status = sent.response.status().as_u16();
    tracing::debug!(upstream_status = status, "upstream answered");
    let span = tracing::Span::current();
    let response = upstream::relay(
        sent,
        config.upstream.idle_timeout,
        config.upstream.max_response_bytes,
        move |report: StreamReport| {
            let _entered = span.enter();
            let level_warn = matches!(report.end, StreamEnd::UpstreamError | StreamEnd::TimedOut);
            if level_warn {
                tracing::warn!(
                    end = report.end.as_str(),
                    events = report.data_events,
                    done = report.saw_done,
                    bytes = report.bytes,
                    "stream ended"
                );
            } else {
                tracing::info!(
                    end = report.end.as_str(),
                    events = report.data_events,
                    done = report.saw_done,
                    bytes = report.bytes,
                    "stream ended"
                );
            }
        },
    )
    .await?;
    Ok(response)
}
