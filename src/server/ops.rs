//! Operational endpoints: liveness and readiness.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;

/// The process is up and serving HTTP.
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Ready to take traffic: a config is loaded, an upstream key is available, and the audit
/// sink is writing (requests fail closed otherwise). Each check is
/// listed so an operator sees which one fails.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let config = state.config.load();
    let key_ok = config.upstream.api_key.is_some();
    let audit_ok = !state.audit.health.failing.load(Ordering::Relaxed);
    let ready = key_ok && (audit_ok || config.audit.fail_open);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let upstream_key = if key_ok {
        "ok"
    } else {
        "missing: set OPENROUTER_API_KEY or upstream.api_key_file"
    };
    let audit = if audit_ok {
        "ok".to_owned()
    } else {
        format!("failing: {} (see logs)", config.audit.describe())
    };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "config": "ok",
            "upstream_key": upstream_key,
            "audit": audit,
            "client_keys": config.keys.len(),
            "open_circuits": state.breakers.open(),
        }
    });
    (status, Json(body)).into_response()
}
