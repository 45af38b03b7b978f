//! The request path as named phases (DESIGN.md §2), in the order they run.
//!
//! Each phase is one function with typed input and output, over one per-request context
//! ([`Ctx`], as pingora's `ProxyHttp` phases share a `CTX`); its doc says when it runs and
//! what its result means. The decisions are pure and live in [`crate::plan`]; this file
//! orders the phases and performs the effects (budget store, audit, upstream I/O, metrics,
//! logging). Every route ends through one error edge, [`finish`].
//!
//! | # | phase        | function           | what it does                                                      |
//! |---|--------------|--------------------|-------------------------------------------------------------------|
//! | 1 | authenticate | [`authenticate`]   | the caller, from its client key (`keys::authenticate`)            |
//! | 2 | admit        | [`admit`]          | the caller's rate limits (`rpm`, `tpm`)                           |
//! | 3 | receive      | [`receive`]        | the body, capped, decoded and parsed (`request::body::read`, `request::parse`) |
//! | 4 | analyze      | [`analyze`]        | an external analyzer's findings (Presidio), when one is configured |
//! | 5 | plan         | [`plan`]           | pure ([`crate::plan::plan_parsed`]): scan, classify, policy, redact, seal |
//! | 6 | reserve      | [`reserve`]        | the worst-case cost against the key's budget                      |
//! | 7 | shed         | [`shed`]           | a place among the requests in flight, or 503                      |
//! | 8 | record       | [`record`]         | the `request` audit record, stored before a byte goes upstream    |
//! | 9 | forward      | [`forward`]        | the primary model, then each fallback, each with its retries      |
//! |10 | respond      | [`respond`]        | relay (or stream) the answer, verified by `ResponseCheck`         |
//! |11 | complete     | [`Completion::complete`] | settle the cost, count, and write the `response` record     |
//! |   | finish       | [`finish`]         | the error edge: the error response, denial record and metrics     |
//!
//! Authentication and the rate limits run before the body is read: an unauthenticated or
//! throttled caller never gets the gateway to buffer or decompress megabytes on its behalf.
//! The analyzer is asked after the body parsed and before the plan, because the plan is
//! pure and its scan must see every finding at once (class raising and redaction both
//! follow from it); with no `detectors.presidio_url` the phase costs nothing.
//! The model list and passthrough routes run phases 1 and 2, then their own upstream call,
//! and end through [`finish`] as well.
//!
//! Hooks that need the exact bytes that leave (a capture of forwarded bodies, say) belong
//! in [`record`], where the sealed request is at hand before anything is sent; hooks on
//! the answer belong in [`Completion::complete`], which runs exactly once however the
//! request ends.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::audit::record::{AttemptRecord, Outcome, ResponseFacts, Subject};
use crate::audit::{self};
use crate::config::{Snapshot, UpstreamSettings};
use crate::error::GatewayError;
use crate::keys::{self, Caller};
use crate::limits::{self, pricing};
use crate::metrics::{AttemptOutcome, LatencyPhase, RequestLabels};
use crate::plan::{PlanError, Planned};
use crate::policy::{self, models, Class, ContentSignals, UpstreamRef};
use crate::redact::{self, presidio, Analysis};
use crate::request::client::ClientAddr;
use crate::request::parse::{self, ParsedRequest};
use crate::request::{body, Endpoint};
use crate::state::AppState;
use crate::stream::{StreamEnd, StreamReport};
use crate::traces::{ResponseEnd, ServerSpan};
use crate::upstream::breaker::Admission;
use crate::upstream::{self, AuditSubject, Outbound, Relay, ResponseCheck, Sent, Served};
use opentelemetry::KeyValue;

/// One request's context: what every phase reads, and how far the request got — which is
/// what the error edge ([`finish`]) needs to end it correctly.
struct Ctx<'a> {
    state: &'a AppState,
    /// One snapshot for the whole request: a reload mid-request changes nothing for it.
    config: &'a Arc<Snapshot>,
    request_id: &'a str,
    /// The client's address and the proxy it came through, as the audit records them.
    client: Option<String>,
    peer: Option<String>,
    headers: &'a HeaderMap,
    started: Instant,
    /// Set by [`authenticate`], for the denial record of a later refusal.
    caller: Option<Caller>,
    /// Set as soon as the class is decided, even when the request is then refused.
    class: Option<Class>,
    /// The route, for the denial record (`chat_completions`, `models`, `passthrough`…).
    route: &'static str,
    /// The model the client asked for, once parsed — for the denial record; never set when
    /// a detector finds anything in it.
    model_requested: Option<String>,
    /// Past the point where an error is a refusal: for inference, the `request` record is
    /// stored and every outcome is a `response` record; for the model list and
    /// passthrough, the request was admitted and went upstream.
    recorded: bool,
    /// The `response` record of an inference request whose `request` record is queued
    /// ([`record`]). Completed by [`respond`] (or by its stream's end), by [`finish`] on an
    /// error, or on drop when the client goes away.
    completion: Option<Completion>,
    /// The request's SERVER span when tracing is on (`None` otherwise: nothing is built).
    /// Moves into the [`Completion`] with the `request` record, so that it ends when the
    /// answer (or its stream) does; ended by [`finish`] when the request never got there.
    trace: Option<ServerSpan>,
}

impl<'a> Ctx<'a> {
    fn new(
        state: &'a AppState,
        config: &'a Arc<Snapshot>,
        request_id: &'a str,
        client: &ClientAddr,
        headers: &'a HeaderMap,
        route: &'static str,
    ) -> Self {
        Self {
            state,
            config,
            request_id,
            client: client.client(),
            peer: client.peer_if_proxied(),
            headers,
            started: Instant::now(),
            caller: None,
            class: None,
            route,
            model_requested: None,
            recorded: false,
            completion: None,
            trace: None,
        }
    }

    /// Whether the upstream may have billed the request so far (see [`may_have_billed`]):
    /// the completion charges the reservation for a billable request that reported no cost.
    fn billable(&mut self, billable: bool) {
        if let Some(completion) = &mut self.completion {
            completion.billable = billable;
        }
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        // Still here: the client went away before the request ended or was recorded (the
        // handler's future was dropped). Its span ends as the audit would name it.
        if let Some(span) = self.trace.take() {
            span.end_error(499, Outcome::ClientCancelled.as_str());
        }
    }
}

/// Handles one inference request (`chat/completions`, `completions`, `embeddings`,
/// `responses`), and audits how it ended.
pub async fn inference(
    state: &AppState,
    endpoint: Endpoint,
    request_id: &str,
    client: &ClientAddr,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let config = state.config.load_full();
    let mut ctx = Ctx::new(
        state,
        &config,
        request_id,
        client,
        headers,
        endpoint.as_str(),
    );
    ctx.trace = state
        .traces
        .server(headers, endpoint, Method::POST.as_str());
    let result = run(&mut ctx, endpoint, body).await;
    finish(&mut ctx, result)
}

/// The inference request path, phase by phase. Any `Err` ends the request through
/// [`finish`], which knows from the context whether it is a refusal or an outcome.
async fn run(ctx: &mut Ctx<'_>, endpoint: Endpoint, body: Body) -> Result<Response, GatewayError> {
    let caller = authenticate(ctx)?;
    admit(ctx, &caller).await?;
    let mut parsed = receive(ctx, endpoint, body).await?;
    let analysis = analyze(ctx, &mut parsed).await?;
    let mut planned = plan(ctx, &caller, parsed, &analysis)?;
    let reservation = reserve(ctx, &caller, &planned).await?;
    let permit = shed(ctx).await?;
    let check = record(ctx, &caller, endpoint, &mut planned, reservation, permit).await?;
    let forwarded = forward(ctx, &caller, &planned).await?;
    respond(ctx, endpoint, &planned, forwarded, check).await
}

/// The error edge every route ends through (inference, the model list, passthrough), so
/// that no refusal goes uncounted or unaudited. `Ok` passes through. An error:
/// - completes the request's `response` record when its `request` record was queued;
/// - otherwise, when the request was refused before it was recorded, counts it in
///   `orguard_denials_total` and writes a `denied` audit record (except when the audit
///   itself is what failed: there is nowhere to write it);
/// - counts and logs an upstream refusal of the gateway's own account;
/// - becomes the OpenAI-shaped error response, stamped with the class when it is known.
fn finish(ctx: &mut Ctx<'_>, result: Result<Response, GatewayError>) -> Response {
    let error = match result {
        Ok(response) => {
            // The model list and passthrough: their span ends with the answer's status
            // (an inference's is in its completion by now).
            if let Some(span) = ctx.trace.take() {
                span.end_status(response.status().as_u16());
            }
            return response;
        }
        Err(error) => error,
    };
    let c = error.classify();
    if let Some(mut completion) = ctx.completion.take() {
        completion.error_type = Some(c.code.as_str());
        completion.complete(c.status.as_u16(), outcome_of(&error));
    }
    if let Some(mut span) = ctx.trace.take() {
        // Refused (or failed) before the request was recorded: what is known of it.
        if let Some(class) = ctx.class {
            span.class(class.as_str());
        }
        if let Some(model) = &ctx.model_requested {
            span.model(model);
        }
        span.end_error(c.status.as_u16(), c.code.as_str());
    }
    let state = ctx.state;
    if !ctx.recorded {
        state.metrics.record_denial(c.code);
        if !matches!(error, GatewayError::AuditUnavailable) {
            let subject = Subject {
                request_id: ctx.request_id,
                key_id: ctx.caller.as_ref().map(|c| &*c.key_id),
                service: ctx.caller.as_ref().map(|c| &*c.service),
                class: ctx.class.map(Class::as_str),
                client: ctx.client.as_deref(),
                peer: ctx.peer.as_deref(),
            };
            state.audit.append_nowait(audit::record::denied(
                &subject,
                OffsetDateTime::now_utc(),
                c.status.as_u16(),
                c.code.as_str(),
                &error.to_string(),
                ctx.route,
                ctx.model_requested.as_deref(),
            ));
        }
    }
    if let GatewayError::UpstreamAccount(_) = &error {
        // The operator's problem, whoever's request found it: loud, and counted for the
        // alert. The code only — never the key or the upstream body.
        tracing::error!(
            code = c.code.as_str(),
            "the upstream refused the gateway's own account (its API key or its credit); every request fails until the operator fixes it"
        );
        state.metrics.record_upstream_key_error(c.code);
    }
    let mut response = error.into_response();
    if let Some(class) = ctx.class {
        policy::decisions::stamp(response.headers_mut(), class, "");
    }
    response
}

/// Phase 1, first on every route: who is calling, from its client key. `Err` is a 401 (or
/// 400 for a malformed header); nothing else about the request has been looked at.
fn authenticate(ctx: &mut Ctx<'_>) -> Result<Caller, GatewayError> {
    let caller = keys::authenticate(&ctx.config.keys, ctx.headers, OffsetDateTime::now_utc())?;
    tracing::Span::current().record("key_id", &*caller.key_id);
    if let Some(span) = &ctx.trace {
        span.set(KeyValue::new("orguard.key_id", caller.key_id.to_string()));
    }
    ctx.caller = Some(caller.clone());
    Ok(caller)
}

/// Phase 2, on every authenticated route: the caller's rate limits (`rpm`, `tpm`). `Err`
/// is a 429 before the body is read.
async fn admit(ctx: &mut Ctx<'_>, caller: &Caller) -> Result<(), GatewayError> {
    let now = OffsetDateTime::now_utc();
    Ok(ctx
        .state
        .limits
        .admit(&caller.key_id, &caller.limits, now)
        .await?)
}

/// Phase 3, admitted inference requests: the body, within the size cap and decoded
/// (`Content-Encoding`) within the decompressed-size cap, then parsed strictly for
/// `endpoint`. `Err` is 413, 415 or 400.
async fn receive(
    ctx: &mut Ctx<'_>,
    endpoint: Endpoint,
    body: Body,
) -> Result<ParsedRequest, GatewayError> {
    let bytes = body::read(ctx.headers, body, ctx.config.server.body).await?;
    Ok(parse::parse(
        endpoint,
        &bytes,
        ctx.config.server.max_json_depth,
    )?)
}

/// Phase 4, parsed inference requests, only when `detectors.presidio_url` is set (else it
/// returns an empty [`Analysis`] at once): one `POST /analyze` with every string the model
/// reads, its findings placed back on each string. `Ok` is what the analyzer found, for the
/// plan's scan to merge with the built-in detectors' — or, when it could not answer and
/// fails open, an analysis marked skipped (logged, counted, and recorded in the request's
/// decisions). `Err` is a 503 `detector_unavailable` when it fails closed; nothing of the
/// text is logged either way. The body changes only as the scan would change it (tool-call
/// arguments normalised).
async fn analyze(ctx: &mut Ctx<'_>, parsed: &mut ParsedRequest) -> Result<Analysis, GatewayError> {
    let Some(settings) = ctx.config.presidio.as_ref() else {
        return Ok(Analysis::default());
    };
    let document = presidio::Document::of(parsed.endpoint, &mut parsed.body);
    if document.is_empty() {
        return Ok(Analysis::default());
    }
    let metrics = &ctx.state.metrics;
    let started = Instant::now();
    let answer = presidio::analyze(&ctx.state.presidio, settings, &document).await;
    metrics
        .detector_latency
        .with_label_values(&["presidio"])
        .observe(started.elapsed().as_secs_f64());
    let error = match answer {
        Ok(analysis) => {
            tracing::debug!(findings = analysis.len(), "presidio analyzer answered");
            return Ok(analysis);
        }
        Err(error) => error,
    };
    let refused = settings.on_error == presidio::OnError::FailClosed;
    metrics.record_detector_error("presidio", error.reason(), refused);
    tracing::warn!(
        reason = error.reason(),
        error = %error,
        on_error = settings.on_error.as_str(),
        "presidio analyzer gave no usable answer"
    );
    if refused {
        return Err(GatewayError::DetectorUnavailable(error));
    }
    Ok(Analysis::skipped())
}

/// Phase 5: the pure decision ([`crate::plan::plan_parsed`]: scan with the analysis,
/// classify, policy, redact, seal), then its effects — the class on the span and in the
/// context (so a refusal is audited with it), the fired rules logged, the redactions
/// counted. `Ok` is the exact bytes for every model that may be tried; `Err` is a 400 or
/// 403 refusal (or a 5xx when the class's upstream is not configured).
fn plan<'a>(
    ctx: &mut Ctx<'a>,
    caller: &Caller,
    parsed: ParsedRequest,
    analysis: &Analysis,
) -> Result<Planned<'a>, GatewayError> {
    let config: &'a Snapshot = ctx.config;
    let headers = ctx.headers;
    let planned = match off_the_worker(parsed.size, || {
        crate::plan::plan_parsed(config, caller, headers, parsed, analysis)
    }) {
        Ok(planned) => planned,
        Err(refusal) => {
            ctx.class = refusal.class;
            // A model id with a detected value in it is the refusal's reason, not a fact
            // the audit may repeat; nor is one that is not a model id at all (it is
            // whatever the client put there, and the scan may not know its shape).
            let not_an_id = matches!(
                &refusal.error,
                PlanError::Denied(d) if d.code == crate::error_code::ErrorCode::InvalidModel
            );
            // An unknown variant suffix is client text too: only the id before it is kept.
            ctx.model_requested = refusal
                .model
                .map(|m| crate::policy::models::recordable(&m).to_owned())
                .filter(|m| {
                    !not_an_id && !crate::redact::holds_detected_value(&config.detectors, m)
                });
            if let PlanError::Denied(d) = &refusal.error {
                tracing::debug!(code = d.code.as_str(), "request denied by policy");
            }
            return Err(refusal.error.into());
        }
    };
    let class = planned.plan.class;
    ctx.model_requested = Some(planned.parsed.model.clone());
    ctx.class = Some(class);
    if let Some(span) = &mut ctx.trace {
        span.model(&planned.parsed.model);
        span.provider(planned.plan.upstream.name());
        span.class(class.as_str());
    }
    tracing::Span::current().record("class", class.as_str());
    for rule in &planned.plan.fired {
        tracing::debug!(rule = rule.rule, detail = %rule.detail, "policy rule fired");
    }
    for (kind, n) in &planned.redaction.counts {
        ctx.state.metrics.record_redactions(kind, *n);
    }
    Ok(planned)
}

/// Bodies at least this large are planned off the async worker (see [`off_the_worker`]).
const BLOCKING_PLAN_BYTES: usize = 256 * 1024;

/// Runs `work` (the plan: its scan is CPU-bound, tens of milliseconds for a megabyte of
/// prose and seconds for one dense with phone numbers) with the worker's other tasks handed
/// to another thread when the body is large, so one big request does not stall every
/// request and health check that worker holds. Small bodies, and a runtime with one
/// thread (tests), run it in place.
fn off_the_worker<T>(size: usize, work: impl FnOnce() -> T) -> T {
    let threaded = || {
        tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
    };
    if size >= BLOCKING_PLAN_BYTES && threaded() {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// Phase 6, after planning and before the request is audited or sent: reserves the
/// request's worst-case cost against its key's budget, so parallel requests cannot
/// together spend past it. The worst case is every completion it may ask for (`n`) at the
/// largest output cap it carries (the policy always sets one), plus the body as prompt, at
/// the highest price of any model it may be served by. The reservation lives as long as
/// the request can: every model's total timeout plus the retry budget. `Ok(None)` when the
/// key has no budget; `Err` is a 402 (budget spent) or the store's failure.
async fn reserve(
    ctx: &mut Ctx<'_>,
    caller: &Caller,
    planned: &Planned<'_>,
) -> Result<Option<limits::Reservation>, GatewayError> {
    if caller.limits.budget.is_none() {
        return Ok(None);
    }
    let (state, config, plan) = (ctx.state, ctx.config, &planned.plan);
    let output = plan.output;
    let bytes = planned.sealed.body().len();
    // Every model the request may be served by: its own, its `models` list, the fallbacks.
    let prices = planned
        .candidates
        .iter()
        .chain(plan.expect.models.iter())
        .map(|m| pricing::lookup(&config.prices, &state.prices, m));
    let estimate = limits::budget::estimate(
        prices,
        bytes,
        output.tokens.saturating_mul(output.choices),
        config.state.unknown_price,
    );
    let lifetime = config.upstream.total_timeout
        * u32::try_from(planned.candidates.len()).unwrap_or(1).max(1)
        + config.resilience.retry.budget
        + std::time::Duration::from_secs(60);
    let reservation = state
        .limits
        .reserve(
            &caller.key_id,
            &caller.limits,
            estimate,
            lifetime,
            OffsetDateTime::now_utc(),
        )
        .await?;
    Ok(reservation)
}

/// Phase 7, load shedding: a bounded number of requests go upstream at once; past it, a
/// short wait (`resilience.queue_timeout`), then 503 — before the request is audited, so a
/// shed request is a plain denial. `Ok` is the place, held until the request (or its
/// stream) is over.
async fn shed(ctx: &mut Ctx<'_>) -> Result<OwnedSemaphorePermit, GatewayError> {
    let acquire = Arc::clone(&ctx.state.in_flight).acquire_owned();
    let _queued = ctx.state.metrics.queueing();
    match tokio::time::timeout(ctx.config.resilience.queue_timeout, acquire).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(GatewayError::Overloaded),
    }
}

/// Phase 8, the last before anything leaves: stores the `request` record (ids, hashes of
/// the prompt and of every body that may be sent, decisions) and opens the request's
/// [`Completion`], so that from here on, however the request ends — answered, failed, or
/// dropped because the client went away (even while the record is being stored) — exactly
/// one `response` record is written. `Ok` is the check the response must pass. `Err` is a
/// 503 when the record cannot be stored and the audit fails closed; nothing was sent.
async fn record(
    ctx: &mut Ctx<'_>,
    caller: &Caller,
    endpoint: Endpoint,
    planned: &mut Planned<'_>,
    reservation: Option<limits::Reservation>,
    permit: OwnedSemaphorePermit,
) -> Result<ResponseCheck, GatewayError> {
    let (state, config) = (ctx.state, ctx.config);
    let class = planned.plan.class;
    let subject = Subject {
        request_id: ctx.request_id,
        key_id: Some(&caller.key_id),
        service: Some(&caller.service),
        class: Some(class.as_str()),
        client: ctx.client.as_deref(),
        peer: ctx.peer.as_deref(),
    };
    // Every fallback's body was sealed with the primary's, so the one `request` record
    // names each body that may be sent for this client request.
    let fallback_bodies: Vec<(String, String)> = planned
        .candidates
        .iter()
        .skip(1)
        .zip(&planned.fallbacks)
        .filter_map(|(model, sealed)| {
            let sealed = sealed.as_ref().ok()?;
            Some((
                model.clone(),
                crate::hex_text::encode(Sha256::digest(sealed.body())),
            ))
        })
        .collect();
    let capture = capture_for(config, class);
    let capture_sha256 = match &capture {
        Some(capture) => capture_request(ctx, capture, planned.sealed.body()).await?,
        None => None,
    };
    let record = request_record(
        config,
        &subject,
        planned,
        endpoint,
        &fallback_bodies,
        capture_sha256.as_deref(),
    );
    let expect = planned.expectation();
    let who = AuditSubject {
        request_id: ctx.request_id.to_owned(),
        key_id: caller.key_id.to_string(),
        service: caller.service.to_string(),
        client: ctx.client.clone(),
        peer: ctx.peer.clone(),
    };
    let check = ResponseCheck::new(
        Arc::clone(&config.policy),
        class,
        expect,
        Some((state.audit.clone(), who.clone())),
    )
    .with_placeholders(std::mem::take(&mut planned.redaction.placeholders))
    .with_metrics(Arc::clone(&state.metrics))
    .with_output_scan(
        Arc::clone(&config.detectors),
        config
            .policy
            .class(class)
            .map_or(redact::OutputScan::Off, |c| c.scan_responses),
    );
    let queued = state.audit.queue(record).await;
    if let Some(span) = &ctx.trace {
        let decisions = policy::decisions::tags(
            &planned.plan.fired,
            planned.redaction.counts.keys().copied(),
        );
        span.set(KeyValue::new("orguard.decisions", decisions));
    }
    ctx.completion = Some(Completion {
        slot: None,
        writer: state.audit.clone(),
        who,
        class: class.as_str(),
        started: ctx.started,
        served: Arc::clone(&check.served),
        done: false,
        _permit: permit,
        metrics: Arc::clone(&state.metrics),
        endpoint,
        model: state.metrics.bounded("model", &planned.plan.model),
        reservation,
        billable: false,
        priced_model: planned.plan.model.clone(),
        // Already pseudonymised by the policy: never the original value.
        user: planned
            .plan
            .body
            .get("user")
            .and_then(Value::as_str)
            .map(str::to_owned),
        limits: state.limits.clone(),
        key_limits: caller.limits,
        config: Arc::clone(config),
        prices: Arc::clone(&state.prices),
        capture,
        delivered: None,
        trace: ctx.trace.take(),
        error_type: None,
    });
    // The response record's place in the queue, reserved after the request record's (the
    // other order can deadlock a full queue). Dropped before it is reserved, the
    // completion falls back to queueing without waiting.
    let slot = state.audit.reserve().await.ok();
    if let Some(completion) = &mut ctx.completion {
        completion.slot = slot;
    }
    let stored = match queued {
        Ok(queued) => queued.stored().await,
        Err(e) => Err(e),
    };
    match stored {
        Ok(receipt) => {
            tracing::debug!(seq = receipt.seq, "request audited");
            ctx.recorded = true;
        }
        Err(e) if config.audit.fail_open => {
            tracing::error!(error = %e, "audit append failed; forwarding anyway (audit.fail_open = true)");
            // Forwarded all the same: its outcome is a response, not a denial.
            ctx.recorded = true;
        }
        Err(e) => {
            tracing::error!(error = %e, "audit append failed; refusing the request (fail closed)");
            // Nothing went upstream: the refusal is the outcome, not a response.
            if let Some(completion) = ctx.completion.take() {
                ctx.trace = completion.abandon();
            }
            return Err(GatewayError::AuditUnavailable);
        }
    }
    Ok(check)
}

/// The capture writer when `class` captures (`capture = "encrypted"`).
fn capture_for(config: &Snapshot, class: Class) -> Option<Arc<audit::capture::Capture>> {
    let captures = config
        .policy
        .class(class)
        .is_some_and(|c| c.capture == policy::CaptureMode::Encrypted);
    config.audit.capture.clone().filter(|_| captures)
}

/// Part of phase 8 for a class that captures: the sealed body, exactly the bytes the
/// primary model is sent, encrypted and on disk before its `request` record is queued.
/// `Ok(Some)` is the ciphertext's SHA-256 for the record; `Ok(None)` a failure forwarded
/// anyway under `audit.fail_open`; `Err` the 503 of a failed audit (nothing was sent).
async fn capture_request(
    ctx: &Ctx<'_>,
    capture: &Arc<audit::capture::Capture>,
    body: &[u8],
) -> Result<Option<String>, GatewayError> {
    let (capture, id, body) = (
        Arc::clone(capture),
        ctx.request_id.to_owned(),
        body.to_vec(),
    );
    // Encryption and fsync block: off the async workers.
    let written = tokio::task::spawn_blocking(move || {
        capture.write(&id, audit::capture::Part::Request, &body)
    })
    .await
    .unwrap_or(Err(audit::capture::CaptureError::Task));
    match written {
        Ok(sha) => Ok(Some(sha)),
        Err(e) if ctx.config.audit.fail_open => {
            tracing::error!(error = %e, "request capture failed; forwarding anyway (audit.fail_open = true)");
            Ok(None)
        }
        Err(e) => {
            tracing::error!(error = %e, "request capture failed; refusing the request (fail closed)");
            Err(GatewayError::AuditUnavailable)
        }
    }
}

/// What [`forward`] ends with: an upstream answer to relay.
struct Forwarded<'c> {
    sent: Sent,
    /// The upstream that answered (the primary's when every model failed).
    settings: &'c UpstreamSettings,
    /// The fallback model that answered, when it was not the primary.
    fallback: Option<String>,
    /// Every model failed after the gateway's own retries or fallbacks: whatever is
    /// answered now is final. (With neither configured the gateway tried once, and a
    /// client retry multiplies nothing.)
    exhausted: bool,
}

/// Phase 9, once the request is recorded: the primary model, then each allowed fallback,
/// each with its retries, skipping models whose circuit is open. `Ok` is the answer to
/// relay: the first that should not fall back, else the last one (every model failed).
/// `Err` is 503 when every circuit was open, or the upstream failure when no model
/// answered at all.
async fn forward<'c>(
    ctx: &mut Ctx<'_>,
    caller: &Caller,
    planned: &Planned<'c>,
) -> Result<Forwarded<'c>, GatewayError> {
    let (state, config) = (ctx.state, ctx.config);
    let service = match planned.plan.upstream {
        UpstreamRef::OpenRouter => config.services.get(&*caller.service),
        UpstreamRef::Extra(_) => None,
    };
    let mut attempts = Vec::new();
    let mut last: Option<upstream::Attempted> = None;
    let mut closed_for = None;
    let mut chosen = None;
    let mut sent_any = false;
    // A handle on the SERVER span (it lives in the completion now), parent of each attempt.
    let trace = ctx.completion.as_ref().and_then(|c| c.trace.clone());
    for (i, model) in planned.candidates.iter().enumerate() {
        match state.breakers.admit(model) {
            Admission::Reject(wait) => {
                attempts.push(upstream::Attempt {
                    model: model.clone(),
                    outcome: AttemptOutcome::CircuitOpen,
                });
                closed_for = Some(wait);
                continue;
            }
            Admission::Allow | Admission::Probe => {}
        }
        let sealed = match i.checked_sub(1) {
            None => &planned.sealed,
            // A different model is a different body: its hash is in the request record.
            Some(f) => match planned.fallbacks.get(f) {
                Some(Ok(sealed)) => sealed,
                Some(Err(e)) => return Err(GatewayError::from(*e)),
                None => continue,
            },
        };
        if !sent_any {
            sent_any = true;
            state
                .metrics
                .overhead
                .observe(ctx.started.elapsed().as_secs_f64());
        }
        // While an attempt is in flight the upstream may be working on the request (and
        // billing it), even if the client leaves before an answer comes back.
        ctx.billable(true);
        let attempted = upstream::send_with_retries(
            &state.client,
            sealed.settings,
            service,
            ctx.headers,
            &sealed.outbound,
            &config.resilience.retry,
            model,
            &mut attempts,
            trace.as_ref(),
        )
        .await;
        ctx.billable(may_have_billed(&attempted, &attempts));
        if attempted.should_fall_back(&config.resilience.retry) {
            // A 429 is the account being rate limited, not the model failing.
            let rate_limited = matches!(&attempted, upstream::Attempted::Response(sent) if sent.response.status().as_u16() == 429);
            if !rate_limited {
                state.breakers.failure(model);
            }
            last = Some(attempted);
            continue;
        }
        state.breakers.success(model);
        chosen = Some((i, sealed.settings, attempted));
        break;
    }
    for a in &attempts {
        state.metrics.record_attempt(a.outcome);
    }
    if let Some(completion) = &ctx.completion {
        if let Ok(mut served) = completion.served.lock() {
            let upstream = planned.plan.upstream.name();
            served.attempts = attempts
                .iter()
                .map(|a| AttemptRecord {
                    model: a.model.clone(),
                    upstream: upstream.to_owned(),
                    provider: None,
                    status: a.outcome.status(),
                    outcome: a.outcome.audit_name(),
                })
                .collect();
        }
    }
    // `None`: every model failed, and the last upstream answer is passed on as it is.
    let (answered, settings, attempted) = match (chosen, last) {
        (Some((i, settings, attempted)), _) => (Some(i), settings, attempted),
        (None, Some(attempted)) => (None, planned.sealed.settings, attempted),
        (None, None) => {
            return Err(GatewayError::CircuitOpen(closed_for.unwrap_or_default()));
        }
    };
    let exhausted = answered.is_none()
        && (config.resilience.retry.max_retries > 0 || planned.candidates.len() > 1);
    let sent = match attempted {
        upstream::Attempted::Response(sent) => sent,
        upstream::Attempted::Failed(e) if exhausted => {
            return Err(GatewayError::UpstreamExhausted(e))
        }
        upstream::Attempted::Failed(e) => return Err(GatewayError::from(e)),
    };
    let fallback = answered
        .filter(|i| *i != 0)
        .and_then(|i| planned.candidates.get(i).cloned());
    tracing::debug!(
        upstream_status = sent.response.status().as_u16(),
        "upstream answered"
    );
    let model = answered
        .and_then(|i| planned.candidates.get(i))
        .unwrap_or(&planned.plan.model);
    state.metrics.record_latency(
        &state.metrics.bounded("model", model),
        LatencyPhase::Ttfb,
        ctx.started.elapsed().as_secs_f64(),
    );
    if let Some(model) = &fallback {
        state
            .metrics
            .record_fallback(&state.metrics.bounded("model", model));
    }
    Ok(Forwarded {
        sent,
        settings,
        fallback,
        exhausted,
    })
}

/// Phase 10: relays the upstream's answer, checked on the way by `check` (served provider
/// and model, BYOK proof, placeholder restoration, output scan). A stream is handed to the
/// client as it arrives and completes the request when it ends; any other answer is read,
/// checked and completed here. `Ok` is the client's response, stamped with the class and
/// what was changed; `Err` (a withheld or unreadable answer) is completed by [`finish`].
async fn respond(
    ctx: &mut Ctx<'_>,
    endpoint: Endpoint,
    planned: &Planned<'_>,
    forwarded: Forwarded<'_>,
    check: ResponseCheck,
) -> Result<Response, GatewayError> {
    let Forwarded {
        sent,
        settings,
        fallback,
        exhausted,
    } = forwarded;
    let status = sent.response.status().as_u16();
    let mut response = if upstream::is_event_stream(sent.response.headers()) {
        let span = tracing::Span::current();
        let mut completion = ctx.completion.take();
        let capture = completion.as_ref().is_some_and(|c| c.capture.is_some());
        let on_end = move |mut report: StreamReport| {
            log_stream_end(&span, &report);
            if let Some(completion) = &mut completion {
                completion.delivered = report
                    .delivered
                    .take()
                    .map(|b| (b, report.delivered_truncated));
                completion.complete(status, report.end.outcome());
            }
        };
        let expects_done = matches!(endpoint, Endpoint::ChatCompletions | Endpoint::Completions);
        upstream::relay(
            sent,
            relay(
                settings,
                expects_done,
                Some(check),
                Box::new(on_end),
                capture,
            ),
        )
        .await?
    } else {
        let mut response = upstream::relay(
            sent,
            relay(settings, false, Some(check), Box::new(|_| {}), false),
        )
        .await?;
        if let Some(completion) = &mut ctx.completion {
            if completion.capture.is_some() {
                // The body is already in memory (read, checked, restored): collecting it
                // is a copy, and what is captured is exactly what the client is sent.
                let (parts, body) = response.into_parts();
                let bytes = http_body_util::BodyExt::collect(body)
                    .await
                    .map_err(|_| GatewayError::from(upstream::UpstreamError::Protocol))?
                    .to_bytes();
                completion.delivered = Some((bytes.clone(), false));
                response = Response::from_parts(parts, Body::from(bytes));
            }
            // An error status passed on as it came (every model failed, or one the
            // gateway does not retry) is the upstream's error, not a completion.
            let outcome = if (200..300).contains(&status) {
                Outcome::Completed
            } else {
                Outcome::UpstreamError
            };
            completion.complete(status, outcome);
        }
        response
    };
    let decisions = policy::decisions::tags(
        &planned.plan.fired,
        planned.redaction.counts.keys().copied(),
    );
    policy::decisions::stamp(response.headers_mut(), planned.plan.class, &decisions);
    if exhausted {
        // The gateway already spent its retries and fallbacks on this request; an SDK that
        // retried the answer would run the whole chain again (one call, a dozen upstream
        // requests).
        response.headers_mut().insert(
            "x-should-retry",
            axum::http::HeaderValue::from_static("false"),
        );
    }
    if let Some(model) = fallback {
        if let Ok(v) = axum::http::HeaderValue::from_str(&model) {
            response.headers_mut().insert("x-orguard-fallback", v);
        }
    }
    Ok(response)
}

/// How an answer from `settings`' upstream is relayed: its idle and size limits, whether a
/// stream must end with `[DONE]`, the check, and what runs when a stream ends.
fn relay(
    settings: &UpstreamSettings,
    expects_done: bool,
    check: Option<ResponseCheck>,
    on_stream_end: Box<dyn FnOnce(StreamReport) + Send>,
    capture: bool,
) -> Relay {
    Relay {
        idle: settings.idle_timeout,
        max_body: settings.max_response_bytes,
        expects_done,
        check,
        on_stream_end,
        // A captured stream is kept up to the size a whole answer may have.
        capture: capture.then_some(settings.max_response_bytes),
    }
}

/// Whether the upstream may have billed the request so far: an answer with a 2xx status
/// (however its body then ends), or an attempt that timed out while the upstream may have
/// been generating. Refusals and connect errors cost nothing.
fn may_have_billed(last: &upstream::Attempted, attempts: &[upstream::Attempt]) -> bool {
    let answered =
        matches!(last, upstream::Attempted::Response(sent) if sent.response.status().is_success());
    answered
        || attempts
            .iter()
            .any(|a| a.outcome == AttemptOutcome::Timeout)
}

/// Writes the one `response` record of a forwarded request, through a reserved queue slot
/// so it works from `Drop` too.
struct Completion {
    slot: Option<audit::Slot>,
    writer: audit::Writer,
    who: AuditSubject,
    class: &'static str,
    started: Instant,
    served: Arc<Mutex<Served>>,
    done: bool,
    /// The in-flight slot, released when the request (or its stream) is over.
    _permit: tokio::sync::OwnedSemaphorePermit,
    metrics: Arc<crate::metrics::Metrics>,
    endpoint: Endpoint,
    /// The requested model, as a bounded metric label.
    model: String,
    /// The budget reservation, settled with the real cost when the request ends.
    reservation: Option<limits::Reservation>,
    /// Whether the upstream may have billed the request (see [`may_have_billed`]).
    billable: bool,
    /// The requested model (normalised id), priced when the response names none we know.
    priced_model: String,
    /// The end user's pseudonym as forwarded, for the call's log line.
    user: Option<String>,
    limits: limits::Limits,
    key_limits: limits::KeyLimits,
    config: Arc<Snapshot>,
    prices: Arc<pricing::Learned>,
    /// The capture writer, when the class captures.
    capture: Option<Arc<audit::capture::Capture>>,
    /// The response as delivered (and whether it was cut at the capture cap), set by
    /// [`respond`] or the stream's end before `complete`.
    delivered: Option<(Bytes, bool)>,
    /// The request's SERVER span (tracing on), ended with the answer's facts.
    trace: Option<ServerSpan>,
    /// The gateway's error code when the request ends through [`finish`], for the span.
    error_type: Option<&'static str>,
}

impl Completion {
    /// Phase 11, exactly once per recorded request, however it ends: settles the cost,
    /// counts the request and writes its `response` record (`status` as answered, or 499
    /// when the client went away; `outcome` as the audit names it).
    fn complete(&mut self, status: u16, outcome: Outcome) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let mut facts = response_facts(status, self.started, &self.served, outcome);
        self.settle(&mut facts);
        self.observe(&facts);
        if let Some(span) = self.trace.take() {
            self.end_span(span, &facts);
        }
        let (slot, writer, who, class) = (
            self.slot.take(),
            self.writer.clone(),
            self.who.clone(),
            self.class,
        );
        let send: Box<dyn FnOnce(&ResponseFacts) + Send> = Box::new(move |facts| {
            let record =
                audit::record::response(&who.subject(class), OffsetDateTime::now_utc(), facts);
            match slot {
                Some(slot) => slot.send(record),
                None => writer.append_nowait(record),
            }
        });
        let (Some(capture), Some((delivered, truncated))) =
            (self.capture.clone(), self.delivered.take())
        else {
            send(&facts);
            return;
        };
        // The capture is on disk before the record that names it is queued. Encryption and
        // fsync block, and this may run inside a stream's poll: on the blocking pool when
        // there is a runtime (the record follows a few milliseconds later, through its
        // reserved slot), inline otherwise.
        let mut job = ResponseCapture(Some(PendingCapture {
            capture,
            request_id: self.who.request_id.clone(),
            delivered,
            truncated,
            facts,
            send,
        }));
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                // A runtime shutting down drops queued blocking tasks unrun: the job's
                // `Drop` then runs it inline, so the record is never lost.
                handle.spawn_blocking(move || job.run());
            }
            Err(_) => job.run(),
        }
    }
}

/// The response capture and then the `response` record that names it, run exactly once:
/// by [`ResponseCapture::run`], or on drop if the task carrying it never ran.
struct ResponseCapture(Option<PendingCapture>);

struct PendingCapture {
    capture: Arc<audit::capture::Capture>,
    request_id: String,
    delivered: Bytes,
    truncated: bool,
    facts: ResponseFacts,
    send: Box<dyn FnOnce(&ResponseFacts) + Send>,
}

impl ResponseCapture {
    fn run(&mut self) {
        let Some(mut p) = self.0.take() else {
            return;
        };
        match p
            .capture
            .write(&p.request_id, audit::capture::Part::Response, &p.delivered)
        {
            Ok(sha) => {
                p.facts.capture_sha256 = Some(sha);
                p.facts.capture_truncated = p.truncated;
            }
            Err(e) => {
                // The answer is already with the client: the gap is recorded, not hidden.
                tracing::error!(error = %e, "response capture failed; recorded as capture_failed");
                p.facts.capture_failed = true;
            }
        }
        (p.send)(&p.facts);
    }
}

impl Drop for ResponseCapture {
    fn drop(&mut self) {
        self.run();
    }
}

impl Completion {
    /// Closes a completion whose request never went upstream (the audit failed closed):
    /// the refusal is the outcome, and no `response` record is written.
    fn abandon(mut self) -> Option<ServerSpan> {
        self.done = true;
        self.trace.take()
    }

    /// Ends the SERVER span with what the `response` record says (usage, cost, served
    /// model, outcome) and the finish reasons the answer gave.
    fn end_span(&self, span: ServerSpan, facts: &ResponseFacts) {
        let finish_reasons = self
            .served
            .lock()
            .map(|s| s.finish_reasons.clone())
            .unwrap_or_default();
        let error = match facts.outcome {
            Outcome::Completed => None,
            other => Some(self.error_type.unwrap_or(other.as_str())),
        };
        span.end_response(&ResponseEnd {
            status: facts.status,
            model: facts.model.as_deref(),
            input_tokens: facts.prompt_tokens,
            output_tokens: facts.completion_tokens,
            finish_reasons: &finish_reasons,
            cost_usd: facts.cost,
            outcome: facts.outcome.as_str(),
            error,
        });
    }

    /// Charges the key: `usage.cost` when reported; else the tokens at the served model's
    /// price, or the whole reservation for a request the upstream may have billed but that
    /// reported nothing (either way the audit marks the cost estimated). Adds the tokens to
    /// the key's `tpm`.
    fn settle(&mut self, facts: &mut ResponseFacts) {
        let reported = facts.model.as_deref().map(str::to_ascii_lowercase);
        // The served model's price; a self-hosted server reports its own model name, so
        // the requested model's price is the fallback.
        let price = reported
            .as_deref()
            .and_then(|m| pricing::lookup(&self.config.prices, &self.prices, m))
            .or_else(|| pricing::lookup(&self.config.prices, &self.prices, &self.priced_model));
        let tokens = match (facts.prompt_tokens, facts.completion_tokens) {
            (None, None) => None,
            (p, c) => Some((p.unwrap_or(0), c.unwrap_or(0))),
        };
        let reserved = self
            .reservation
            .as_ref()
            .map_or(limits::Nanos(0), limits::Reservation::amount);
        let charge =
            limits::budget::charge(facts.cost, tokens, price.as_ref(), self.billable, reserved);
        if facts.cost.is_none()
            && charge.estimated
            && (price.is_some() || self.reservation.is_some())
        {
            facts.cost = Some(charge.amount.usd());
            facts.cost_estimated = true;
        }
        match self.reservation.take() {
            Some(r) => r.settle(charge.amount),
            // No reservation although the key has a budget: the store was down and budgets
            // fail open. The spend is still counted, as soon as the store takes it.
            None if self.key_limits.budget.is_some() => self.limits.charge_unreserved(
                &self.who.key_id,
                &self.key_limits,
                charge.amount,
                OffsetDateTime::now_utc(),
            ),
            None => {}
        }
        if let Some((p, c)) = tokens {
            self.limits.add_tokens(
                &self.who.key_id,
                &self.key_limits,
                p.saturating_add(c),
                OffsetDateTime::now_utc(),
            );
        }
    }

    /// The request's metrics, from the same facts as its audit record.
    fn observe(&self, facts: &ResponseFacts) {
        // The call's one summary line: ids, model, numbers — no content.
        tracing::info!(
            request_id = %self.who.request_id,
            service = %self.who.service,
            user = self.user.as_deref().unwrap_or("-"),
            generation_id = facts.generation_id.as_deref().unwrap_or("-"),
            model = facts.model.as_deref().unwrap_or(&self.model),
            provider = facts.provider.as_deref().unwrap_or("-"),
            status = facts.status,
            outcome = facts.outcome.as_str(),
            latency_ms = facts.latency_ms,
            prompt_tokens = facts.prompt_tokens.unwrap_or(0),
            completion_tokens = facts.completion_tokens.unwrap_or(0),
            cost = facts.cost.unwrap_or(0.0),
            "call completed"
        );
        let m = &self.metrics;
        let model = facts.model.as_deref().map_or_else(
            || self.model.clone(),
            |served| m.bounded("model", &served.to_ascii_lowercase()),
        );
        let provider = facts
            .provider
            .as_deref()
            .map_or_else(|| "none".to_owned(), |p| m.bounded("provider", p));
        m.record_request(&RequestLabels {
            endpoint: self.endpoint.as_str(),
            class: self.class,
            model: &model,
            provider: &provider,
            status: facts.status,
        });
        m.record_latency(
            &self.model,
            LatencyPhase::Total,
            facts.latency_ms as f64 / 1000.0,
        );
        let key = m.bounded("key_id", &self.who.key_id);
        m.record_usage(
            &key,
            &model,
            facts.prompt_tokens,
            facts.completion_tokens,
            facts.cost,
        );
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        // Dropped unfinished: the client went away (status 499, as nginx logs it).
        self.complete(499, Outcome::ClientCancelled);
    }
}

/// The `request` record: ids, hashes and decisions — never the prompt itself.
fn request_record(
    config: &Snapshot,
    subject: &Subject<'_>,
    planned: &Planned<'_>,
    endpoint: Endpoint,
    fallback_bodies: &[(String, String)],
    capture_sha256: Option<&str>,
) -> audit::record::Record {
    let (parsed, plan) = (&planned.parsed, &planned.plan);
    let redactions: Vec<(&'static str, u64)> = planned
        .redaction
        .counts
        .iter()
        .map(|(k, n)| (*k, *n))
        .collect();
    let (prompt_sha256, prompt_hash) = (&planned.prompt_hash.0, planned.prompt_hash.1);
    let body_sha256 = crate::hex_text::encode(Sha256::digest(planned.sealed.body()));
    let upstream = plan.upstream.name();
    let model_forwarded = crate::plan::forwarded_model(config, plan);
    let decisions: Vec<&'static str> = plan.fired.iter().map(|r| r.rule).collect();
    let facts = audit::record::RequestFacts {
        endpoint: endpoint.as_str(),
        stream: parsed.stream,
        upstream,
        model_requested: &plan.model,
        model_forwarded,
        models: plan.expect.models.get(1..).unwrap_or_default(),
        providers: plan.expect.providers.as_deref(),
        prompt_sha256,
        prompt_hash,
        body_sha256: &body_sha256,
        redactions: &redactions,
        decisions: &decisions,
        raised_by: &plan.raised_by,
        // Already pseudonymised by the policy: never the original value.
        user: plan.body.get("user").and_then(Value::as_str),
        fallback_bodies,
        capture_sha256,
    };
    audit::record::request(subject, OffsetDateTime::now_utc(), &facts)
}

fn response_facts(
    status: u16,
    started: Instant,
    served: &Mutex<Served>,
    outcome: Outcome,
) -> ResponseFacts {
    let mut s = served.lock().map(|s| s.clone()).unwrap_or_default();
    // The provider the answer named served the attempt that answered: the last one.
    if let Some(last) = s.attempts.last_mut().filter(|a| a.status.is_some()) {
        last.provider.clone_from(&s.provider);
    }
    let usage = s.usage.unwrap_or_default();
    ResponseFacts {
        status,
        latency_ms: elapsed_ms(started),
        generation_id: s.generation_id,
        provider: s.provider,
        model: s.model,
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        cost: usage.cost,
        cost_estimated: false,
        is_byok: usage.is_byok,
        outcome,
        violations: s.violations.len() as u64,
        attempts: s.attempts,
        ..ResponseFacts::default()
    }
}

/// The outcome of a recorded request that ended in an error (the error edge, [`finish`]).
fn outcome_of(error: &GatewayError) -> Outcome {
    match error {
        GatewayError::Violation(_) => Outcome::CutByPolicy,
        GatewayError::Upstream(_)
        | GatewayError::UpstreamExhausted(_)
        | GatewayError::UpstreamAccount(_)
        | GatewayError::CircuitOpen(_) => Outcome::UpstreamError,
        _ => Outcome::GatewayError,
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// `GET /models`: the upstream's list, filtered to what the caller's class may use. With
/// `only` (`GET /models/{id}`, the SDKs' `models.retrieve`), the one entry with that id, or
/// 404 when the class may not use it or the upstream does not list it.
pub async fn models(
    state: &AppState,
    request_id: &str,
    client: &ClientAddr,
    query: Option<&str>,
    headers: &HeaderMap,
    only: Option<&str>,
) -> Response {
    let config = state.config.load_full();
    let mut ctx = Ctx::new(state, &config, request_id, client, headers, "models");
    let route = if only.is_some() {
        "/models/{id}"
    } else {
        "/models"
    };
    ctx.trace = state.traces.server_route(headers, "GET", route);
    let result = list_models(&mut ctx, query, only).await;
    finish(&mut ctx, result)
}

/// The model list's path: authenticate, admit, classify (by header and key: there is no
/// content), inspect the forwarded headers and query, then the upstream's list filtered
/// to the class and key.
async fn list_models(
    ctx: &mut Ctx<'_>,
    query: Option<&str>,
    only: Option<&str>,
) -> Result<Response, GatewayError> {
    let caller = authenticate(ctx)?;
    admit(ctx, &caller).await?;
    let (config, headers) = (ctx.config, ctx.headers);
    let class =
        policy::reasons::of(&config.policy, &caller, headers, &ContentSignals::default())?.class();
    let class_policy = policy::class_policy(&config.policy, class)?;
    ctx.class = Some(class);
    let settings = crate::plan::upstream_settings(config, &class_policy.upstream)?;
    if let Some(span) = &mut ctx.trace {
        span.class(class.as_str());
        span.provider(class_policy.upstream.name());
    }
    redact::inspect::inspect_get(
        &config.detectors,
        headers,
        &upstream::CLIENT_HEADERS_FORWARDED,
        query,
    )?;
    let path_and_query = match query {
        Some(q) => format!("/models?{q}"),
        None => "/models".to_owned(),
    };
    let outbound = Outbound {
        method: Method::GET,
        path_and_query,
        body: None,
        forward_cache_headers: false,
        api_key: crate::plan::service_key(&caller, &class_policy.upstream),
        trace_headers: Vec::new(),
    };
    // Admitted: from here on an error is the upstream's, not a refusal (these routes keep
    // no request/response records; the error is logged and answered).
    ctx.recorded = true;
    let sent = send_traced(ctx, settings, None, outbound).await?;
    let status = sent.response.status();
    let bytes = upstream::read_capped(
        sent.response,
        settings.idle_timeout,
        sent.deadline,
        settings.max_response_bytes,
    )
    .await?;
    if let Some(fault) = upstream::account_fault(status, &bytes) {
        return Err(GatewayError::UpstreamAccount(fault));
    }
    let mut listing: Value = match serde_json::from_slice(&bytes) {
        Ok(v) if status.is_success() => v,
        // Errors and unknown shapes pass through untouched.
        _ => {
            return Ok(
                (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
            )
        }
    };
    // Whether the upstream lists the one model asked for: only then may a 404 name it
    // (an id nobody lists is client text from the path, and may hold anything).
    let listed_upstream = only.is_some_and(|id| {
        models::parse(id).is_ok_and(|wanted| find_model(&listing, &wanted.id).is_some())
    });
    if let Some(data) = listing.get_mut("data").and_then(Value::as_array_mut) {
        let before = data.len();
        data.retain(|entry| {
            entry
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| models::parse(id).ok())
                .is_some_and(|m| {
                    models::check(&m, class_policy).is_ok()
                        && models::check_key(&m, &caller).is_ok()
                })
        });
        tracing::debug!(
            class = class.as_str(),
            before,
            after = data.len(),
            "model list filtered"
        );
    }
    if let Some(id) = only {
        return one_model(&listing, id, class, listed_upstream);
    }
    Ok((status, axum::Json(listing)).into_response())
}

/// The entry of a filtered listing whose id is `id` (normalised as model ids are), else
/// 404, naming the id only when the upstream lists it (`listed_upstream`): a model the
/// class may not use. Any other id came from the path and is not echoed.
fn one_model(
    listing: &Value,
    id: &str,
    class: policy::Class,
    listed_upstream: bool,
) -> Result<Response, GatewayError> {
    let not_found = |id: Option<String>| GatewayError::ModelNotFound {
        id: id.filter(|_| listed_upstream),
        class: class.as_str(),
    };
    let wanted = models::parse(id).map_err(|_| not_found(None))?;
    match find_model(listing, &wanted.id) {
        Some(entry) => Ok(axum::Json(entry.clone()).into_response()),
        None => Err(not_found(Some(wanted.id))),
    }
}

/// The entry of `listing` whose id is `id`, compared as model ids are (any case).
fn find_model<'l>(listing: &'l Value, id: &str) -> Option<&'l Value> {
    listing
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|entry| {
            entry
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|e| e.trim().eq_ignore_ascii_case(id))
        })
}

/// Configured passthrough paths: authenticated, key swapped, no body to inspect.
pub async fn passthrough(
    state: &AppState,
    request_id: &str,
    client: &ClientAddr,
    path_and_query: String,
    headers: &HeaderMap,
) -> Response {
    let config = state.config.load_full();
    let mut ctx = Ctx::new(state, &config, request_id, client, headers, "passthrough");
    // The route is the configured path (the query stays out of the span).
    let route = path_and_query.split('?').next().unwrap_or_default();
    ctx.trace = state.traces.server_route(headers, "GET", route);
    let result = pass(&mut ctx, path_and_query).await;
    finish(&mut ctx, result)
}

/// The passthrough path: authenticate, admit, inspect the forwarded headers and query,
/// then relay the upstream's answer as it is.
async fn pass(ctx: &mut Ctx<'_>, path_and_query: String) -> Result<Response, GatewayError> {
    let caller = authenticate(ctx)?;
    admit(ctx, &caller).await?;
    let (config, headers) = (ctx.config, ctx.headers);
    let query = path_and_query.split_once('?').map(|(_, q)| q);
    redact::inspect::inspect_get(
        &config.detectors,
        headers,
        &upstream::CLIENT_HEADERS_FORWARDED,
        query,
    )?;
    // Admitted: what follows is the upstream's answer or failure (see `list_models`).
    ctx.recorded = true;
    let outbound = Outbound {
        method: Method::GET,
        path_and_query,
        body: None,
        forward_cache_headers: false,
        api_key: crate::plan::service_key(&caller, &UpstreamRef::OpenRouter),
        trace_headers: Vec::new(),
    };
    let service = config.services.get(&*caller.service);
    let sent = send_traced(ctx, &config.upstream, service, outbound).await?;
    upstream::relay(
        sent,
        relay(&config.upstream, false, None, Box::new(|_| {}), false),
    )
    .await
    .map_err(GatewayError::from)
}

/// One upstream request of the model list or a passthrough path, under its own CLIENT span
/// when the request is traced.
async fn send_traced(
    ctx: &Ctx<'_>,
    settings: &UpstreamSettings,
    service: Option<&crate::config::ServiceSettings>,
    mut outbound: Outbound,
) -> Result<Sent, upstream::UpstreamError> {
    let span = ctx.trace.as_ref().map(|t| {
        let span = t.attempt("", &settings.base_url, outbound.method.as_str());
        outbound.trace_headers = span.headers().to_vec();
        span
    });
    let sent = upstream::send(&ctx.state.client, settings, service, ctx.headers, outbound).await;
    if let Some(span) = span {
        span.end(match &sent {
            Ok(sent) => AttemptOutcome::Status(sent.response.status().as_u16()),
            Err(e) => upstream::attempt_outcome(e),
        });
    }
    sent
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A capture job dropped unrun (a runtime shutting down drops queued blocking tasks)
    /// still writes its capture and sends its record, once.
    #[test]
    fn a_capture_job_dropped_unrun_still_records() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let identity = age::x25519::Identity::generate();
        let capture = Arc::new(audit::capture::Capture::new(
            dir.path().join(audit::capture::DIR),
            vec![identity.to_public()],
        ));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&sent);
        let job = ResponseCapture(Some(PendingCapture {
            capture,
            request_id: "req_00".to_owned(),
            delivered: Bytes::from_static(b"answer"),
            truncated: false,
            facts: ResponseFacts::default(),
            send: Box::new(move |f| {
                if let Ok(mut s) = sink.lock() {
                    s.push(f.capture_sha256.clone());
                }
            }),
        }));
        drop(job);
        let sent = sent.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].is_some());
        assert!(dir
            .path()
            .join(audit::capture::DIR)
            .join("req_00.response.age")
            .exists());
    }
}
