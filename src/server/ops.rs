//! Operational endpoints: liveness and readiness.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::limits::Nanos;
use crate::state::AppState;

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
    // A shared store that is down does not make the replica unready (every replica would
    // go at once); it is reported, and each limit follows its failure mode.
    let state_check = match state.limits.ping().await {
        Ok(()) => "ok",
        Err(_) => "unreachable: budgets and rate limits follow state.*_on_error",
    };
    // A rejected reload leaves the replica ready (the previous config serves) but visible.
    let config_check = match state.reload.rejected.load_full() {
        None => "ok".to_owned(),
        Some(r) => format!(
            "reload rejected at {}; serving the previous config: {}",
            r.at, r.problems
        ),
    };
    let restart_pending: Vec<&str> = state.reload.restart_pending.load().to_vec();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "config": config_check,
            "restart_pending": restart_pending,
            "upstream_key": upstream_key,
            "audit": audit,
            "client_keys": config.keys.len(),
            "open_circuits": state.breakers.open(),
            "state": state_check,
        }
    });
    (status, Json(body)).into_response()
}

/// Prometheus text format. Gauges that mirror live state (breakers, the audit writer) are
/// brought up to date at scrape time.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    m.circuit_open.reset();
    for model in state.breakers.open() {
        m.circuit_open
            .with_label_values(&[&m.bounded("model", &model)])
            .set(1.0);
    }
    let health = &state.audit.health;
    m.audit_failing
        .set(i64::from(health.failing.load(Ordering::Relaxed)));
    m.audit_queue_depth
        .set(i64::try_from(state.audit.queue_depth()).unwrap_or(i64::MAX));
    let slots = state.config.load().resilience.max_in_flight;
    let free = state.in_flight.available_permits();
    m.in_flight
        .set(i64::try_from(slots.saturating_sub(free)).unwrap_or(i64::MAX));
    // Only keys with a budget: the others have no gauge to refresh.
    let now = time::OffsetDateTime::now_utc();
    for r in super::admin::report(&state, now, |k| k.limits.budget.is_some()).await {
        let (Some(budget), Some(c)) = (r.record.limits.budget, r.counters) else {
            continue;
        };
        let key = m.bounded("key_id", &r.record.id);
        let spent = Nanos(c.spent);
        for (field, amount) in [
            ("limit", budget.limit),
            ("spent", spent),
            ("reserved", Nanos(c.reserved)),
            ("remaining", budget.remaining(spent)),
        ] {
            m.budget.with_label_values(&[&key, field]).set(amount.usd());
        }
    }
    if let Some(w) = &state.audit.witness {
        m.audit_witness_pending
            .set(i64::try_from(w.pending.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
        for (result, counter) in [
            ("written", &w.written),
            ("failed", &w.failures),
            ("dropped", &w.dropped),
        ] {
            let c = m.audit_witness.with_label_values(&[result]);
            let now = counter.load(Ordering::Relaxed);
            let shown = c.get();
            if now > shown {
                c.inc_by(now - shown);
            }
        }
    }
    let (syncs, shown) = (health.syncs.load(Ordering::Relaxed), m.audit_fsyncs.get());
    if syncs > shown {
        m.audit_fsyncs.inc_by(syncs - shown);
    }
    for (result, counter) in [
        ("written", &health.written),
        ("failed", &health.failed),
        ("lost", &health.lost),
    ] {
        let c = m.audit_records.with_label_values(&[result]);
        let now = counter.load(Ordering::Relaxed);
        let shown = c.get();
        if now > shown {
            c.inc_by(now - shown);
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    )
        .into_response()
}
