//! The operator listener (`admin.listen`): `GET /admin/keys` shows each client key's spend,
//! remaining budget and rate-limit state — never the key or its hash — behind a bearer
//! token whose SHA-256 is configured (`admin.token_sha256`). `/metrics`, `/healthz` and
//! `/readyz` are served here too, so the operator port is all a scraper or probe needs.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{layers, ops};
use crate::error::{error_response, Classified, ErrorCode, ErrorType};
use crate::keys::KeyRecord;
use crate::limits::Nanos;
use crate::state::AppState;

/// The admin router, with the same hygiene layers as the main one.
pub fn app(state: AppState) -> Router {
    let config = std::sync::Arc::clone(&state.config);
    let router = Router::new()
        .route("/admin/keys", get(keys))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .with_state(state);
    layers::wrap(router, config)
}

/// One key's limits and where it stands, as `/admin/keys` shows it.
pub struct KeyReport {
    pub record: KeyRecord,
    /// `None` when the counters could not be read (shared store down).
    pub counters: Option<crate::limits::store::KeyCounters>,
}

/// Reads the counters of the keys `wanted` selects, at `now` (concurrently: a slow store
/// costs one timeout, not one per key).
pub async fn report(
    state: &AppState,
    now: OffsetDateTime,
    wanted: fn(&KeyRecord) -> bool,
) -> Vec<KeyReport> {
    let config = state.config.load_full();
    let reads = config
        .keys
        .records()
        .iter()
        .filter(|r| wanted(r))
        .map(|record| {
            let limits = state.limits.clone();
            async move {
                let counters = limits.read(&record.id, &record.limits, now).await.ok();
                KeyReport {
                    record: record.clone(),
                    counters,
                }
            }
        });
    futures_util::future::join_all(reads).await
}

fn refuse(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let c = Classified {
        status,
        kind: ErrorType::Authentication,
        code,
        param: None,
    };
    error_response(c, message)
}

/// The refusal for a request without the admin token (compared by hash, in constant
/// time), or `None` when it may pass.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let config = state.config.load();
    let Some(want) = config.admin.token_sha256 else {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            ErrorCode::InvalidApiKey,
            "admin endpoints are disabled: set admin.token_sha256",
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    (presented.is_empty() || !bool::from(digest.ct_eq(&want))).then(|| {
        refuse(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidApiKey,
            "invalid admin token",
        )
    })
}

async fn keys(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    let now = OffsetDateTime::now_utc();
    let keys: Vec<Value> = report(&state, now, |_| true)
        .await
        .iter()
        .map(|r| key_json(r, now))
        .collect();
    Json(json!({
        "backend": if state.limits.is_shared() { "redis" } else { "memory" },
        "keys": keys,
    }))
    .into_response()
}

fn key_json(r: &KeyReport, now: OffsetDateTime) -> Value {
    let rec = &r.record;
    let fmt = |t: Option<OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok());
    let c = r.counters;
    let budget = rec.limits.budget.map(|b| {
        let spent = c.map(|c| Nanos(c.spent));
        let reserved = c.map(|c| Nanos(c.reserved));
        json!({
            "limit_usd": b.limit.usd(),
            "period": b.period.as_str(),
            "period_id": b.period.id(now),
            "spent_usd": spent.map(Nanos::usd),
            "reserved_usd": reserved.map(Nanos::usd),
            "remaining_usd": spent.map(|s| b.remaining(s).usd()),
        })
    });
    json!({
        "id": &*rec.id,
        "service": &*rec.service,
        "disabled": rec.disabled,
        "expired": rec.expires.is_some_and(|e| now >= e),
        "created": fmt(rec.created),
        "expires": fmt(rec.expires),
        "default_class": rec.default_class.as_str(),
        "min_class": rec.min_class.as_str(),
        "own_upstream_key": rec.upstream_key.is_some(),
        "budget": budget,
        "rate": {
            "rpm": rec.limits.rpm,
            // Exact counts of the sliding minute (requests admitted, tokens finished).
            "rpm_used": c.map(|c| c.rpm),
            "tpm": rec.limits.tpm,
            "tpm_used": c.map(|c| c.tpm),
        },
        "counters_available": c.is_some(),
    })
}
