//! The request pipeline, top to bottom (DESIGN.md §2).
//!
//! Each stage is a plain function call with typed input and output; this file only orders
//! them and performs the effects (upstream I/O, logging). Stages still to come slot in at
//! the marked places, each as one call:
//!
//! | # | stage                          | where                                    |
//! |---|--------------------------------|------------------------------------------|
//! | 1 | authenticate                   | `keys::authenticate`                     |
//! | 2 | rate limits (rpm, tpm)         | `limits::Limits::admit`                  |
//! | 3 | receive (cap + decode)         | `request::body::read`                    |
//! | 4 | parse strictly                 | `request::parse::parse`                  |
//! | 5 | scan content                   | `redact::scan` → signals                 |
//! | 6 | classify + enforce policy      | `policy::plan`                           |
//! | 7 | redact                         | `redact::apply`                          |
//! | 8 | seal                           | `seal`                                   |
//! | 9 | budget reservation             | `limits::Limits::reserve`                |
//! |10 | audit `request` record         | `audit::Writer`                          |
//! |11 | forward                        | `upstream::send_with_retries`            |
//! |12 | respond / stream / verify      | `upstream::relay` + `ResponseCheck`      |
//! |13 | settle cost, audit `response`  | `Completion`                             |
//!
//! Authentication and the rate limits run before the body is read: an unauthenticated or
//! throttled caller never gets the gateway to buffer or decompress megabytes on its behalf.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::audit::record::{ResponseFacts, Subject};
use crate::audit::{self};
use crate::config::{Snapshot, UpstreamSettings};
use crate::error::GatewayError;
use crate::keys::{self, Caller};
use crate::limits::{self, pricing};
use crate::policy::{self, models, ContentSignals, Plan, UpstreamRef};
use crate::redact;
use crate::request::parse::{self, ParsedRequest};
use crate::request::{body, Endpoint};
use crate::server::AppState;
use crate::stream::{StreamEnd, StreamReport};
use crate::upstream::breaker::Admission;
use crate::upstream::{self, AuditSubject, Outbound, Relay, ResponseCheck, Served};

/// What the pipeline knows about a request so far, for the audit record of its outcome.
#[derive(Default)]
struct Progress {
    caller: Option<Caller>,
    class: Option<policy::Class>,
    /// Past the point where an error is a refusal: for inference, the `request` record is
    /// stored and every outcome is a `response` record; for the model list and
    /// passthrough, the request was admitted and went upstream.
    recorded: bool,
}

/// Handles one inference request (`chat/completions`, `completions`, `embeddings`,
/// `responses`), and audits how it ended.
pub async fn inference(
    state: &AppState,
    endpoint: Endpoint,
    request_id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let mut progress = Progress::default();
    match run(
        state,
        endpoint,
        request_id,
        headers,
        body,
        &mut progress,
        started,
    )
    .await
    {
        Ok(response) => response,
        Err(error) => finish_with_error(state, request_id, &progress, error),
    }
}

/// The error edge every route ends through (inference, the model list, passthrough), so
/// that no refusal goes uncounted or unaudited: a request refused before its outcome was
/// recorded counts in `orguard_denials_total` and gets a `denied` audit record (except
/// when the audit itself is what failed: there is nowhere to write it). Once a `request`
/// record is stored, the request's `Completion` writes the outcome instead.
fn finish_with_error(
    state: &AppState,
    request_id: &str,
    progress: &Progress,
    error: GatewayError,
) -> Response {
    if !progress.recorded {
        let c = error.classify();
        state
            .metrics
            .denials
            .with_label_values(&[c.code.as_str()])
            .inc();
        if !matches!(error, GatewayError::AuditUnavailable) {
            let subject = Subject {
                request_id,
                key_id: progress.caller.as_ref().map(|c| &*c.key_id),
                service: progress.caller.as_ref().map(|c| &*c.service),
                class: progress.class.map(policy::Class::as_str),
            };
            state.audit.append_nowait(audit::record::denied(
                &subject,
                OffsetDateTime::now_utc(),
                c.status.as_u16(),
                c.code.as_str(),
                &error.to_string(),
            ));
        }
    }
    if let GatewayError::UpstreamAccount(_) = &error {
        // The operator's problem, whoever's request found it: loud, and counted for the
        // alert. The code only — never the key or the upstream body.
        let code = error.classify().code.as_str();
        tracing::error!(
            code,
            "the upstream refused the gateway's own account (its API key or its credit); every request fails until the operator fixes it"
        );
        state
            .metrics
            .upstream_key_errors
            .with_label_values(&[code])
            .inc();
    }
    let mut response = error.into_response();
    if let Some(class) = progress.class {
        policy::decisions::stamp(response.headers_mut(), class, "");
    }
    response
}

async fn run(
    state: &AppState,
    endpoint: Endpoint,
    request_id: &str,
    headers: &HeaderMap,
    body: Body,
    progress: &mut Progress,
    started: Instant,
) -> Result<Response, GatewayError> {
    // One snapshot for the whole request: a reload mid-request changes nothing for it.
    let config: Arc<Snapshot> = state.config.load_full();

    let caller = authenticate(&config, headers)?;
    progress.caller = Some(caller.clone());
    admit(state, &caller).await?;
    let bytes = body::read(headers, body, config.server.body).await?;
    let mut parsed = parse::parse(endpoint, &bytes, config.server.max_json_depth)?;
    let (plan, redaction) = prepare(&config, &caller, headers, &mut parsed, &mut progress.class)
        .inspect_err(|d| {
            tracing::debug!(code = d.code.as_str(), "request denied by policy");
        })?;
    let span = tracing::Span::current();
    span.record("class", plan.class.as_str());
    for rule in &plan.fired {
        tracing::debug!(rule = rule.rule, detail = %rule.detail, "policy rule fired");
    }

    let (settings, outbound, expect) = seal(&config, &plan, endpoint, &caller)?;
    for (kind, n) in &redaction.counts {
        state
            .metrics
            .redactions
            .with_label_values(&[kind])
            .inc_by(*n);
    }
    let redactions: Vec<(&'static str, u64)> =
        redaction.counts.iter().map(|(k, n)| (*k, *n)).collect();
    let decisions = policy::decisions::tags(&plan.fired, redaction.counts.keys().copied());

    let candidates = fallback_candidates(&config, &plan, &caller);
    // Budget: the request's worst case is reserved before it is audited or sent, so
    // parallel requests cannot together spend past the key's budget.
    let reservation = reserve(state, &config, &caller, &plan, &outbound, &candidates).await?;

    // Load shedding: a bounded number of upstream requests; a short wait, then 503 (before
    // the request is audited, so a shed request is a plain denial).
    let acquire = Arc::clone(&state.in_flight).acquire_owned();
    let Ok(Ok(permit)) = tokio::time::timeout(config.resilience.queue_timeout, acquire).await
    else {
        return Err(GatewayError::Overloaded);
    };

    // Audit: the request record is stored before a byte goes upstream.
    let subject = Subject {
        request_id,
        key_id: Some(&caller.key_id),
        service: Some(&caller.service),
        class: Some(plan.class.as_str()),
    };
    // Every fallback's body is sealed now, before anything leaves, so the one `request`
    // record names each body that may be sent for this client request.
    let mut fallbacks: Vec<Option<Result<(&UpstreamSettings, Outbound), GatewayError>>> =
        candidates
            .iter()
            .skip(1)
            .map(|model| {
                Some(
                    seal(&config, &with_model(&plan, model), endpoint, &caller)
                        .map(|(settings, outbound, _)| (settings, outbound)),
                )
            })
            .collect();
    let fallback_bodies: Vec<(String, String)> = candidates
        .iter()
        .skip(1)
        .zip(&fallbacks)
        .filter_map(|(model, sealed)| match sealed {
            Some(Ok((_, o))) => Some((
                model.clone(),
                hex::encode(Sha256::digest(o.body.as_deref().unwrap_or_default())),
            )),
            _ => None,
        })
        .collect();
    let record = request_record(
        &config,
        &subject,
        &redactions,
        &parsed,
        &plan,
        &outbound,
        endpoint,
        &fallback_bodies,
    );
    let mut expect = expect;
    expect.models.extend(candidates.iter().skip(1).cloned());
    let who = AuditSubject {
        request_id: request_id.to_owned(),
        key_id: caller.key_id.to_string(),
        service: caller.service.to_string(),
    };
    let check = ResponseCheck::new(
        Arc::clone(&config),
        plan.class,
        expect,
        Some((state.audit.clone(), who.clone())),
    )
    .with_placeholders(redaction.placeholders)
    .with_metrics(Arc::clone(&state.metrics))
    .with_output_scan(
        Arc::clone(&config.detectors),
        config
            .policy
            .class(plan.class)
            .map_or(redact::OutputScan::Off, |c| c.scan_responses),
    );
    let queued = state.audit.queue(record).await;
    // From here on, however the request ends — answered, failed, or dropped because the
    // client went away (even while the request record is still being stored) — exactly
    // one `response` record is written.
    let mut completion = Completion {
        slot: None,
        writer: state.audit.clone(),
        who,
        class: plan.class.as_str(),
        started,
        served: Arc::clone(&check.served),
        done: false,
        _permit: permit,
        metrics: Arc::clone(&state.metrics),
        endpoint,
        model: state.metrics.bounded("model", &plan.model),
        reservation,
        billable: false,
        priced_model: plan.model.clone(),
        // Already pseudonymised by the policy: never the original value.
        user: plan
            .body
            .get("user")
            .and_then(Value::as_str)
            .map(str::to_owned),
        limits: state.limits.clone(),
        key_limits: caller.limits,
        config: Arc::clone(&config),
        prices: Arc::clone(&state.prices),
    };
    // The response record's place in the queue, reserved after the request record's (the
    // other order can deadlock a full queue). Dropped before it is reserved, the
    // completion falls back to queueing without waiting.
    completion.slot = state.audit.reserve().await.ok();
    let stored = match queued {
        Ok(queued) => queued.stored().await,
        Err(e) => Err(e),
    };
    match stored {
        Ok(receipt) => {
            tracing::debug!(seq = receipt.seq, "request audited");
            progress.recorded = true;
        }
        Err(e) if config.audit.fail_open => {
            tracing::error!(error = %e, "audit append failed; forwarding anyway (audit.fail_open = true)");
            // Forwarded all the same: its outcome is a response, not a denial.
            progress.recorded = true;
        }
        Err(e) => {
            tracing::error!(error = %e, "audit append failed; refusing the request (fail closed)");
            // Nothing went upstream: the refusal is the outcome, not a response.
            completion.done = true;
            return Err(GatewayError::AuditUnavailable);
        }
    }
    let service = match plan.upstream {
        UpstreamRef::OpenRouter => config.services.get(&*caller.service),
        UpstreamRef::Extra(_) => None,
    };
    // 8. Forward: the primary model, then each allowed fallback, each with its retries.
    let mut attempts = Vec::new();
    let mut last: Option<upstream::Attempted> = None;
    let mut closed_for = None;
    let mut chosen = None;
    for (i, model) in candidates.iter().enumerate() {
        match state.breakers.admit(model) {
            Admission::Reject(wait) => {
                attempts.push(upstream::Attempt {
                    model: model.clone(),
                    outcome: "circuit_open".to_owned(),
                });
                closed_for = Some(wait);
                continue;
            }
            Admission::Allow | Admission::Probe => {}
        }
        let (settings, outbound) = if i == 0 {
            (settings, outbound.clone())
        } else {
            // A different model is a different body: its hash is in the request record.
            match fallbacks.get_mut(i - 1).and_then(Option::take) {
                Some(Ok(sealed)) => sealed,
                Some(Err(e)) => {
                    completion.complete(e.classify().status.as_u16(), "error");
                    return Err(e);
                }
                None => continue,
            }
        };
        // While an attempt is in flight the upstream may be working on the request (and
        // billing it), even if the client leaves before an answer comes back.
        completion.billable = true;
        let attempted = upstream::send_with_retries(
            &state.client,
            settings,
            service,
            headers,
            &outbound,
            &config.resilience.retry,
            model,
            &mut attempts,
        )
        .await;
        completion.billable = may_have_billed(&attempted, &attempts);
        let fall_back = attempted.should_fall_back(&config.resilience.retry);
        if fall_back {
            // A 429 is the account being rate limited, not the model failing.
            let rate_limited = matches!(&attempted, upstream::Attempted::Response(sent) if sent.response.status().as_u16() == 429);
            if !rate_limited {
                state.breakers.failure(model);
            }
            last = Some(attempted);
            continue;
        }
        state.breakers.success(model);
        chosen = Some((i, settings, attempted));
        break;
    }
    for a in &attempts {
        state
            .metrics
            .attempts
            .with_label_values(&[&a.outcome])
            .inc();
    }
    if let Ok(mut served) = completion.served.lock() {
        served.attempts = attempts
            .iter()
            .map(|a| (a.model.clone(), a.outcome.clone()))
            .collect();
    }

    let (index, settings, attempted) = match (chosen, last) {
        (Some(c), _) => c,
        // Every model failed: the last upstream answer is passed on as it is.
        (None, Some(a)) => (usize::MAX, settings, a),
        (None, None) => {
            let e = GatewayError::CircuitOpen(closed_for.unwrap_or_default());
            completion.complete(e.classify().status.as_u16(), "error");
            return Err(e);
        }
    };
    // Every model failed after the gateway's own retries or fallbacks: whatever is answered
    // now is final. (With neither configured the gateway tried once, and a client retry
    // multiplies nothing.)
    let exhausted =
        index == usize::MAX && (config.resilience.retry.max_retries > 0 || candidates.len() > 1);
    let sent = match attempted {
        upstream::Attempted::Response(sent) => sent,
        upstream::Attempted::Failed(e) => {
            let e = if exhausted {
                GatewayError::UpstreamExhausted(e)
            } else {
                GatewayError::from(e)
            };
            completion.complete(e.classify().status.as_u16(), "error");
            return Err(e);
        }
    };
    let fallback_used = (index != 0 && index != usize::MAX)
        .then(|| candidates.get(index).cloned())
        .flatten();
    let status = sent.response.status().as_u16();
    tracing::debug!(upstream_status = status, "upstream answered");
    let model_label = state
        .metrics
        .bounded("model", candidates.get(index).unwrap_or(&plan.model));
    state
        .metrics
        .latency
        .with_label_values(&[&model_label, "ttfb"])
        .observe(started.elapsed().as_secs_f64());
    if let Some(model) = &fallback_used {
        state
            .metrics
            .fallbacks
            .with_label_values(&[&state.metrics.bounded("model", model)])
            .inc();
    }
    let response = if upstream::is_event_stream(sent.response.headers()) {
        let relay = Relay {
            idle: settings.idle_timeout,
            max_body: settings.max_response_bytes,
            expects_done: matches!(endpoint, Endpoint::ChatCompletions | Endpoint::Completions),
            check: Some(check),
            on_stream_end: Box::new(move |report| {
                log_stream_end(&span, &report);
                completion.complete(status, report.end.as_str());
            }),
        };
        upstream::relay(sent, relay).await
    } else {
        let relay = Relay {
            idle: settings.idle_timeout,
            max_body: settings.max_response_bytes,
            expects_done: false,
            check: Some(check),
            on_stream_end: Box::new(|_| {}),
        };
        match upstream::relay(sent, relay).await {
            Ok(response) => {
                completion.complete(status, "completed");
                Ok(response)
            }
            Err(e) => {
                completion.complete(e.classify().status.as_u16(), "error");
                Err(e)
            }
        }
    };
    let mut response = response?;
    policy::decisions::stamp(response.headers_mut(), plan.class, &decisions);
    if exhausted {
        // The gateway already spent its retries and fallbacks on this request; an SDK that
        // retried the answer would run the whole chain again (one call, a dozen upstream
        // requests).
        response.headers_mut().insert(
            "x-should-retry",
            axum::http::HeaderValue::from_static("false"),
        );
    }
    if let Some(model) = fallback_used {
        if let Ok(v) = axum::http::HeaderValue::from_str(&model) {
            response.headers_mut().insert("x-orguard-fallback", v);
        }
    }
    Ok(response)
}

/// Whether the upstream may have billed the request so far: an answer with a 2xx status
/// (however its body then ends), or an attempt that timed out while the upstream may have
/// been generating. Refusals and connect errors cost nothing.
fn may_have_billed(last: &upstream::Attempted, attempts: &[upstream::Attempt]) -> bool {
    let answered =
        matches!(last, upstream::Attempted::Response(sent) if sent.response.status().is_success());
    answered || attempts.iter().any(|a| a.outcome == "timeout")
}

/// The plan with another model (a gateway fallback): same body, same decisions.
fn with_model(plan: &Plan, model: &str) -> Plan {
    let mut p = plan.clone();
    p.model = model.to_owned();
    p.body
        .insert("model".to_owned(), Value::String(model.to_owned()));
    p
}

/// Reserves the request's worst-case cost against its key's budget: every completion it
/// may ask for (`n`) at the largest output cap it carries (the policy always sets one),
/// plus the body as prompt, at the highest price of any model it may be served by. The
/// reservation lives as long as the request can: every model's total timeout plus the
/// retry budget.
async fn reserve(
    state: &AppState,
    config: &Snapshot,
    caller: &Caller,
    plan: &Plan,
    outbound: &Outbound,
    candidates: &[String],
) -> Result<Option<limits::Reservation>, GatewayError> {
    if caller.limits.budget.is_none() {
        return Ok(None);
    }
    let cap = ["max_tokens", "max_completion_tokens", "max_output_tokens"]
        .iter()
        .filter_map(|f| plan.body.get(*f).and_then(Value::as_u64))
        .max()
        .or_else(|| config.policy.class(plan.class).map(|c| c.max_tokens))
        .unwrap_or(0);
    let choices = ["n", "best_of"]
        .iter()
        .filter_map(|f| plan.body.get(*f).and_then(Value::as_u64))
        .max()
        .unwrap_or(1)
        .clamp(1, 128);
    let bytes = outbound.body.as_ref().map_or(0, Bytes::len);
    // Every model the request may be served by: its own, its `models` list, the fallbacks.
    let prices = candidates
        .iter()
        .chain(plan.expect.models.iter())
        .map(|m| pricing::lookup(&config.prices, &state.prices, m));
    let estimate = limits::budget::estimate(
        prices,
        bytes,
        cap.saturating_mul(choices),
        config.state.unknown_price,
    );
    let lifetime = config.upstream.total_timeout
        * u32::try_from(candidates.len()).unwrap_or(1).max(1)
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

/// The primary model, then the fallbacks configured for it and for its class — each one
/// only if the request's class and key allow it (a fallback never widens policy).
fn fallback_candidates(config: &Snapshot, plan: &Plan, caller: &Caller) -> Vec<String> {
    let mut out = vec![plan.model.clone()];
    let Some(class) = config.policy.class(plan.class) else {
        return out;
    };
    let per_model = config
        .resilience
        .fallbacks
        .get(&plan.model)
        .into_iter()
        .flatten();
    for candidate in per_model.chain(class.fallbacks.iter()) {
        if out.contains(candidate) {
            continue;
        }
        match models::parse(candidate) {
            Ok(m) if models::check(&m, class).is_ok() && models::check_key(&m, caller).is_ok() => {
                out.push(m.id)
            }
            _ => {
                tracing::warn!(model = %candidate, class = plan.class.as_str(), "fallback not allowed for this class; skipped")
            }
        }
    }
    out
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
    /// Whether the upstream may have billed the request (see `run`).
    billable: bool,
    /// The requested model (normalised id), priced when the response names none we know.
    priced_model: String,
    /// The end user's pseudonym as forwarded, for the call's log line.
    user: Option<String>,
    limits: limits::Limits,
    key_limits: limits::KeyLimits,
    config: Arc<Snapshot>,
    prices: Arc<pricing::Learned>,
}

impl Completion {
    fn complete(&mut self, status: u16, outcome: &'static str) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let mut facts = response_facts(status, self.started, &self.served, outcome);
        self.settle(&mut facts);
        self.observe(&facts);
        let record = audit::record::response(
            &self.who.subject(self.class),
            OffsetDateTime::now_utc(),
            &facts,
        );
        match self.slot.take() {
            Some(slot) => slot.send(record),
            None => self.writer.append_nowait(record),
        }
    }
}

impl Completion {
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
            outcome = facts.outcome,
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
        m.requests
            .with_label_values(&[
                self.endpoint.as_str(),
                self.class,
                &model,
                &provider,
                &facts.status.to_string(),
            ])
            .inc();
        m.latency
            .with_label_values(&[&self.model, "total"])
            .observe(facts.latency_ms as f64 / 1000.0);
        let key = m.bounded("key_id", &self.who.key_id);
        if let Some(n) = facts.prompt_tokens {
            m.tokens
                .with_label_values(&[&key, &model, "prompt"])
                .inc_by(n);
        }
        if let Some(n) = facts.completion_tokens {
            m.tokens
                .with_label_values(&[&key, &model, "completion"])
                .inc_by(n);
        }
        if let Some(c) = facts.cost.filter(|c| c.is_finite() && *c >= 0.0) {
            m.cost.with_label_values(&[&key, &model]).inc_by(c);
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        // Dropped unfinished: the client went away (status 499, as nginx logs it).
        self.complete(499, "client_cancelled");
    }
}

/// The `request` record: ids, hashes and decisions — never the prompt itself.
#[expect(
    clippy::too_many_arguments,
    reason = "each argument is one typed fact of the record; a struct would only rename them"
)]
fn request_record(
    config: &Snapshot,
    subject: &Subject<'_>,
    redactions: &[(&'static str, u64)],
    parsed: &ParsedRequest,
    plan: &Plan,
    outbound: &Outbound,
    endpoint: Endpoint,
    fallback_bodies: &[(String, String)],
) -> audit::record::Record {
    let (prompt_sha256, prompt_hash) =
        audit::prompt_hash(&parsed.body, endpoint, config.audit.hmac_key.as_ref());
    let body_sha256 = hex::encode(Sha256::digest(outbound.body.as_deref().unwrap_or_default()));
    let upstream = match &plan.upstream {
        UpstreamRef::OpenRouter => "openrouter",
        UpstreamRef::Extra(name) => name.as_str(),
    };
    let model_forwarded = forwarded_model(config, plan);
    let decisions: Vec<&'static str> = plan.fired.iter().map(|r| r.rule).collect();
    let facts = audit::record::RequestFacts {
        endpoint: endpoint.as_str(),
        stream: parsed.stream,
        upstream,
        model_requested: &plan.model,
        model_forwarded,
        models: plan.expect.models.get(1..).unwrap_or_default(),
        providers: plan.expect.providers.as_deref(),
        prompt_sha256: &prompt_sha256,
        prompt_hash,
        body_sha256: &body_sha256,
        redactions,
        decisions: &decisions,
        raised_by: &plan.raised_by,
        // Already pseudonymised by the policy: never the original value.
        user: plan.body.get("user").and_then(Value::as_str),
        fallback_bodies,
    };
    audit::record::request(subject, OffsetDateTime::now_utc(), &facts)
}

/// The model name the upstream is sent: the OpenRouter id, or a self-hosted server's own
/// name for it (`model_map`). `seal` writes it; the audit records it.
fn forwarded_model<'p>(config: &'p Snapshot, plan: &'p Plan) -> &'p str {
    match &plan.upstream {
        UpstreamRef::Extra(name) => config
            .extra_upstreams
            .get(name)
            .and_then(|extra| extra.model_map.get(&plan.model))
            .map_or(&plan.model, String::as_str),
        UpstreamRef::OpenRouter => &plan.model,
    }
}

fn response_facts(
    status: u16,
    started: Instant,
    served: &Mutex<Served>,
    outcome: &'static str,
) -> ResponseFacts {
    let s = served.lock().map(|s| s.clone()).unwrap_or_default();
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
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Steps 4–6 as one pure decision, shared by the server and `orguard policy explain`:
/// scan the content once, classify and plan with what it found, then redact the planned
/// body per the class's actions.
pub fn prepare(
    config: &Snapshot,
    caller: &Caller,
    headers: &HeaderMap,
    parsed: &mut ParsedRequest,
    decided_class: &mut Option<policy::Class>,
) -> Result<(Plan, redact::Redaction), policy::Denial> {
    let endpoint = parsed.endpoint;
    let mut findings =
        redact::scan(&config.detectors, endpoint, &mut parsed.body).map_err(|e| {
            policy::Denial::invalid(crate::error::ErrorCode::InvalidFieldType, e.to_string())
        })?;
    findings.scan_headers(
        &config.detectors,
        headers,
        &upstream::CLIENT_HEADERS_FORWARDED,
    )?;
    let signals = ContentSignals {
        pii_types: findings.pii_types(),
        phi_types: findings.phi_types(),
    };
    // Known before any other rule can refuse, so a denial is audited with its class, and
    // says which class it is and why (types only, never values).
    let reasons = policy::reasons::of(&config.policy, caller, headers, &signals)?;
    *decided_class = Some(reasons.class);
    let explained = |d: policy::Denial| reasons.annotate(d, &config.policy);
    // What the class refuses outright is refused before the policy plans (and could echo
    // a routing field that holds a detected value in an error).
    findings
        .refuse(
            &config
                .policy
                .class(reasons.class)
                .map(|c| c.redaction.clone())
                .unwrap_or_default(),
        )
        .map_err(explained)?;
    let mut plan =
        policy::plan(&config.policy, caller, headers, parsed, &signals).map_err(explained)?;
    let class_policy = config.policy.class(plan.class);
    let class = class_policy
        .map(|c| &c.redaction)
        .cloned()
        .unwrap_or_default();
    let redaction = redact::apply(
        &config.detectors,
        endpoint,
        &mut plan.body,
        &findings,
        &class,
        &config.policy.redact_key,
    )
    .map_err(explained)?;
    // After the redaction, so that a secret beside an image is refused as a secret.
    if let Some((media, place)) = findings
        .media()
        .iter()
        .find(|(m, _)| !class_policy.is_some_and(|c| c.allows(*m)))
    {
        return Err(explained(policy::Denial::forbidden(
            crate::error::ErrorCode::UninspectableContent,
            format!(
                "the request carries {} at `{place}`, which orguard cannot inspect, and class {} does not let it through ({} is off)",
                media.as_str(),
                plan.class.as_str(),
                media.setting()
            ),
        )));
    }
    if !redaction.counts.is_empty() {
        let counts: Vec<String> = redaction
            .counts
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        plan.fired.push(policy::FiredRule::new(
            "redact.applied",
            format!(
                "rewritten for class {}: {}",
                plan.class.as_str(),
                counts.join(", ")
            ),
        ));
    }
    Ok((plan, redaction))
}

/// Serialises the planned body once, for the upstream the class uses. These exact bytes
/// are what leaves the gateway, on every attempt.
fn seal<'c>(
    config: &'c Snapshot,
    plan: &Plan,
    endpoint: Endpoint,
    caller: &Caller,
) -> Result<(&'c UpstreamSettings, Outbound, policy::Expectation), GatewayError> {
    let mut expect = plan.expect.clone();
    let settings = match &plan.upstream {
        UpstreamRef::OpenRouter => &config.upstream,
        UpstreamRef::Extra(name) => {
            &config
                .extra_upstreams
                .get(name)
                .ok_or(upstream::UpstreamError::NotConfigured)?
                .settings
        }
    };
    let model = forwarded_model(config, plan);
    let bytes = if model == plan.model {
        serde_json::to_vec(&plan.body)
    } else {
        // The self-hosted server knows the model by its own name.
        expect.models.push(model.to_ascii_lowercase());
        let mut body = plan.body.clone();
        body.insert("model".to_owned(), Value::String(model.to_owned()));
        serde_json::to_vec(&body)
    }
    .map_err(|_| upstream::UpstreamError::Build)?;
    let outbound = Outbound {
        method: Method::POST,
        path_and_query: endpoint.upstream_path().to_owned(),
        body: Some(Bytes::from(bytes)),
        forward_cache_headers: plan.forward_cache_headers,
        api_key: service_key(caller, &plan.upstream),
    };
    Ok((settings, outbound, expect))
}

/// The calling service's own OpenRouter key, for requests to OpenRouter only: it never goes
/// to another upstream.
fn service_key(caller: &Caller, upstream: &UpstreamRef) -> Option<crate::secret::Secret> {
    match upstream {
        UpstreamRef::OpenRouter => caller.upstream_key.clone(),
        UpstreamRef::Extra(_) => None,
    }
}

/// `GET /models`: the upstream's list, filtered to what the caller's class may use. With
/// `only` (`GET /models/{id}`, the SDKs' `models.retrieve`), the one entry with that id, or
/// 404 when the class may not use it or the upstream does not list it.
pub async fn models(
    state: &AppState,
    request_id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    only: Option<&str>,
) -> Response {
    let mut progress = Progress::default();
    match list_models(state, query, headers, only, &mut progress).await {
        Ok(response) => response,
        Err(error) => finish_with_error(state, request_id, &progress, error),
    }
}

async fn list_models(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    only: Option<&str>,
    progress: &mut Progress,
) -> Result<Response, GatewayError> {
    let config = state.config.load_full();
    let caller = authenticate(&config, headers)?;
    progress.caller = Some(caller.clone());
    admit(state, &caller).await?;
    let (class, class_policy) = policy::classify(
        &config.policy,
        &caller,
        headers,
        &ContentSignals::default(),
        &mut Vec::new(),
    )?;
    progress.class = Some(class);
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
        api_key: service_key(&caller, &class_policy.upstream),
    };
    // Admitted: from here on an error is the upstream's, not a refusal (these routes keep
    // no request/response records; the error is logged and answered).
    progress.recorded = true;
    let sent = upstream::send(&state.client, settings, None, headers, outbound).await?;
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
        return one_model(&listing, id, class);
    }
    Ok((status, axum::Json(listing)).into_response())
}

/// The entry of a filtered listing whose id is `id` (normalised as model ids are), else 404.
fn one_model(listing: &Value, id: &str, class: policy::Class) -> Result<Response, GatewayError> {
    // A malformed id is reported without being echoed: it came from the path, not a field.
    let wanted = models::parse(id).map_err(|_| GatewayError::ModelNotFound {
        id: None,
        class: class.as_str(),
    })?;
    listing
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|entry| {
            entry
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|e| e.trim().eq_ignore_ascii_case(&wanted.id))
        })
        .map(|entry| axum::Json(entry.clone()).into_response())
        .ok_or(GatewayError::ModelNotFound {
            id: Some(wanted.id),
            class: class.as_str(),
        })
}

/// Configured passthrough paths: authenticated, key swapped, no body to inspect.
pub async fn passthrough(
    state: &AppState,
    request_id: &str,
    path_and_query: String,
    headers: &HeaderMap,
) -> Response {
    let mut progress = Progress::default();
    match pass(state, path_and_query, headers, &mut progress).await {
        Ok(response) => response,
        Err(error) => finish_with_error(state, request_id, &progress, error),
    }
}

async fn pass(
    state: &AppState,
    path_and_query: String,
    headers: &HeaderMap,
    progress: &mut Progress,
) -> Result<Response, GatewayError> {
    let config = state.config.load_full();
    let caller = authenticate(&config, headers)?;
    progress.caller = Some(caller.clone());
    admit(state, &caller).await?;
    let query = path_and_query.split_once('?').map(|(_, q)| q);
    redact::inspect::inspect_get(
        &config.detectors,
        headers,
        &upstream::CLIENT_HEADERS_FORWARDED,
        query,
    )?;
    // Admitted: what follows is the upstream's answer or failure (see `list_models`).
    progress.recorded = true;
    let outbound = Outbound {
        method: Method::GET,
        path_and_query,
        body: None,
        forward_cache_headers: false,
        api_key: service_key(&caller, &UpstreamRef::OpenRouter),
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

/// The caller's rate limits (`rpm`, `tpm`), on every authenticated route.
async fn admit(state: &AppState, caller: &Caller) -> Result<(), GatewayError> {
    let now = OffsetDateTime::now_utc();
    Ok(state
        .limits
        .admit(&caller.key_id, &caller.limits, now)
        .await?)
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
