//! The upstream credit watch: polls `GET /key` and exports the key's `limit`, `usage`,
//! `limit_remaining` and `usage_daily` as gauges, so "credits running out" is an alert
//! rule rather than a dashboard someone has to look at.

use axum::http::{HeaderMap, Method};
use serde_json::Value;

use super::{read_capped, send, Outbound};
use crate::server::AppState;

const FIELDS: [&str; 4] = ["limit", "usage", "limit_remaining", "usage_daily"];

/// Runs until the runtime stops. The interval is read from the live config each round.
pub async fn watch(state: AppState) {
    loop {
        let config = state.config.load_full();
        let Some(every) = config.upstream.credit_poll else {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            continue;
        };
        if config.upstream.api_key.is_some() {
            let ok = poll(&state).await;
            state.metrics.credit_poll_ok.set(if ok { 1.0 } else { 0.0 });
        }
        tokio::time::sleep(every).await;
    }
}

/// One poll; returns whether it succeeded.
pub async fn poll(state: &AppState) -> bool {
    let config = state.config.load_full();
    let outbound = Outbound {
        method: Method::GET,
        path_and_query: "/key".to_owned(),
        body: None,
        forward_cache_headers: false,
        api_key: None,
    };
    let Ok(sent) = send(
        &state.client,
        &config.upstream,
        None,
        &HeaderMap::new(),
        outbound,
    )
    .await
    else {
        return false;
    };
    if !sent.response.status().is_success() {
        return false;
    }
    let Ok(bytes) = read_capped(
        sent.response,
        config.upstream.idle_timeout,
        sent.deadline,
        1 << 20,
    )
    .await
    else {
        return false;
    };
    let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
        return false;
    };
    let data = v.get("data").unwrap_or(&v);
    for field in FIELDS {
        // A key without a limit reports null: exported as -1 so "no limit" can be alerted on.
        let value = data.get(field).and_then(Value::as_f64).unwrap_or(-1.0);
        state.metrics.credit.with_label_values(&[field]).set(value);
    }
    true
}
