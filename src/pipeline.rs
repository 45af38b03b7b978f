//! The request pipeline, top to bottom (DESIGN.md §2).
//!
//! Each stage is a plain function call with typed input and output; this file only orders
//! them and performs the effects (upstream I/O, logging). Stages still to come slot in at
//! the marked places, each as one call:
//!
//! | # | stage                          | where                                    |
//! |---|--------------------------------|------------------------------------------|
//! | 1 | authenticate                   | `keys::authenticate`                     |
//! | 2 | receive (cap + decode)         | `request::body::read`                    |
//! | 3 | parse strictly                 | `request::parse::parse`                  |
//! | 4 | scan content                   | redaction issue: `redact::scan` → signals|
//! | 5 | classify + enforce policy      | `policy::plan`                           |
//! | 6 | redact                         | redaction issue: `redact::apply`         |
//! | 7 | seal                           | `seal`                                   |
//! | 8 | audit `request` record         | audit issue: `audit::Writer`             |
//! | 9 | forward                        | `upstream::send`                         |
//! |10 | respond / stream / verify      | `upstream::relay` + `ResponseCheck`      |
//!
//! Authentication runs before the body is read: an unauthenticated caller never gets the
//! gateway to buffer or decompress megabytes on its behalf.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use time::OffsetDateTime;

use crate::config::{Snapshot, UpstreamSettings};
use crate::error::GatewayError;
use crate::keys::{self, Caller};
use crate::policy::{self, models, ContentSignals, Plan, UpstreamRef};
use crate::request::parse::{self};
use crate::request::{body, Endpoint};
use crate::server::AppState;
use crate::stream::{StreamEnd, StreamReport};
use crate::upstream::{self, Outbound, Relay, ResponseCheck};

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
    // The redaction stage will fill these from its one scan of the request.
    let signals = ContentSignals::default();
    let plan =
        policy::plan(&config.policy, &caller, headers, &parsed, &signals).inspect_err(|d| {
            tracing::debug!(code = d.code.as_str(), "request denied by policy");
        })?;
    let span = tracing::Span::current();
    span.record("class", plan.class.as_str());
    for rule in &plan.fired {
        tracing::debug!(rule = rule.rule, detail = %rule.detail, "policy rule fired");
    }

    let (settings, outbound, expect) = seal(&config, &plan, endpoint)?;
    let check = ResponseCheck::new(Arc::clone(&config), plan.class, expect);
    let service = match plan.upstream {
        UpstreamRef::OpenRouter => config.services.get(&*caller.service),
        UpstreamRef::Extra(_) => None,
    };
    let sent = upstream::send(&state.client, settings, service, headers, outbound).await?;
    tracing::debug!(
        upstream_status = sent.response.status().as_u16(),
        "upstream answered"
    );
    let relay = Relay {
        idle: settings.idle_timeout,
        max_body: settings.max_response_bytes,
        expects_done: matches!(endpoint, Endpoint::ChatCompletions | Endpoint::Completions),
        check: Some(check),
        on_stream_end: Box::new(move |report| log_stream_end(&span, &report)),
    };
    upstream::relay(sent, relay).await
}

/// Serialises the planned body once, for the upstream the class uses. These exact bytes
/// are what leaves the gateway, on every attempt.
fn seal<'c>(
    config: &'c Snapshot,
    plan: &Plan,
    endpoint: Endpoint,
) -> Result<(&'c UpstreamSettings, Outbound, policy::Expectation), GatewayError> {
    let mut body = plan.body.clone();
    let mut expect = plan.expect.clone();
    let settings = match &plan.upstream {
        UpstreamRef::OpenRouter => &config.upstream,
        UpstreamRef::Extra(name) => {
            let extra = config
                .extra_upstreams
                .get(name)
                .ok_or(upstream::UpstreamError::NotConfigured)?;
            // The self-hosted server knows the model by its own name.
            if let Some(local) = extra.model_map.get(&plan.model) {
                body.insert("model".to_owned(), Value::String(local.clone()));
                expect.models.push(local.to_ascii_lowercase());
            }
            &extra.settings
        }
    };
    let bytes = serde_json::to_vec(&body).map_err(|_| upstream::UpstreamError::Build)?;
    let outbound = Outbound {
        method: Method::POST,
        path_and_query: endpoint.upstream_path().to_owned(),
        body: Some(Bytes::from(bytes)),
        forward_cache_headers: plan.forward_cache_headers,
    };
    Ok((settings, outbound, expect))
}

/// `GET /models`: the upstream's list, filtered to what the caller's class may use.
pub async fn models(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, GatewayError> {
    let config = state.config.load_full();
    let caller = authenticate(&config, headers)?;
    let (class, class_policy) = policy::classify(
        &config.policy,
        &caller,
        headers,
        &ContentSignals::default(),
        &mut Vec::new(),
    )?;
    let settings = match &class_policy.upstream {
        UpstreamRef::OpenRouter => &config.upstream,
        UpstreamRef::Extra(name) => {
            &config
                .extra_upstreams
                .get(name)
                .ok_or(upstream::UpstreamError::NotConfigured)?
                .settings
        }
    };
    let path_and_query = match query {
        Some(q) => format!("/models?{q}"),
        None => "/models".to_owned(),
    };
    let outbound = Outbound {
        method: Method::GET,
        path_and_query,
        body: None,
        forward_cache_headers: false,
    };
    let sent = upstream::send(&state.client, settings, None, headers, outbound).await?;
    let status = sent.response.status();
    let bytes = upstream::read_capped(
        sent.response,
        settings.idle_timeout,
        sent.deadline,
        settings.max_response_bytes,
    )
    .await?;
    let mut listing: Value = match serde_json::from_slice(&bytes) {
        Ok(v) if status.is_success() => v,
        // Errors and unknown shapes pass through untouched.
        _ => {
            return Ok(
                (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
            )
        }
    };
    if let Some(data) = listing.get_mut("data").and_then(Value::as_array_mut) {
        let before = data.len();
        data.retain(|entry| {
            entry
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| models::parse(id).ok())
                .is_some_and(|m| models::check(&m, class_policy).is_ok())
        });
        tracing::debug!(
            class = class.as_str(),
            before,
            after = data.len(),
            "model list filtered"
        );
    }
    Ok((status, axum::Json(listing)).into_response())
}

/// Configured passthrough paths: authenticated, key swapped, no body to inspect.
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
        forward_cache_headers: false,
    };
    let service = config.services.get(&*caller.service);
    let sent = upstream::send(&state.client, &config.upstream, service, headers, outbound).await?;
    let relay = Relay {
        idle: config.upstream.idle_timeout,
        max_body: config.upstream.max_response_bytes,
        expects_done: false,
        check: None,
        on_stream_end: Box::new(|_| {}),
    };
    upstream::relay(sent, relay).await
}

fn authenticate(config: &Snapshot, headers: &HeaderMap) -> Result<Caller, GatewayError> {
    let caller = keys::authenticate(&config.keys, headers, OffsetDateTime::now_utc())?;
    tracing::Span::current().record("key_id", &*caller.key_id);
    Ok(caller)
}

fn log_stream_end(span: &tracing::Span, report: &StreamReport) {
    let _entered = span.enter();
    let fields = (
        report.end.as_str(),
        report.data_events,
        report.saw_done,
        report.bytes,
    );
    match report.end {
        StreamEnd::Completed | StreamEnd::ClientCancelled => {
            tracing::info!(
                end = fields.0,
                events = fields.1,
                done = fields.2,
                bytes = fields.3,
                "stream ended"
            );
        }
        StreamEnd::UpstreamError | StreamEnd::Truncated | StreamEnd::TimedOut | StreamEnd::Cut => {
            tracing::warn!(
                end = fields.0,
                events = fields.1,
                done = fields.2,
                bytes = fields.3,
                "stream ended"
            );
        }
    }
}
