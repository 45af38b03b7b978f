//! Operational endpoints: liveness and readiness.

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

/// Ready to take traffic: a config is loaded and an upstream key is available. Each check is
/// listed so an operator sees which one fails.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let config = state.config.load();
    let key_ok = config.upstream.api_key.is_some();
    let status = if key_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if key_ok { "ready" } else { "not_ready" },
        "checks": {
            "config": "ok",
            "upstream_key": if key_ok { "ok" } else { "missing: set OPENROUTER_API_KEY or upstream.api_key_file" },
            "client_keys": config.keys.len(),
        }
    });
    (status, Json(body)).into_response()
}
