//! The upstream credit watch: polls `GET /key` and exports the key's `limit`, `usage`,
//! `limit_remaining` and `usage_daily` as gauges, so "credits running out" is an alert
//! rule rather than a dashboard someone has to look at. With a management key configured
//! it also polls the account's balance (`GET /credits`, which needs that kind of key).

use serde_json::Value;

use super::get_json;
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
        let key = config.upstream.api_key.is_some();
        let account = config.upstream.management_key.is_some();
        if key || account {
            let mut ok = true;
            if key {
                ok &= poll(&state).await;
            }
            if account {
                ok &= poll_account(&state).await;
            }
            state.metrics.credit_poll_ok.set(if ok { 1.0 } else { 0.0 });
        }
        tokio::time::sleep(every).await;
    }
}

/// `GET path` with `key` (or the gateway's): the answer's `data` (or the whole body).
async fn get_data(
    state: &AppState,
    path: &str,
    key: Option<crate::secret::Secret>,
) -> Option<Value> {
    let config = state.config.load_full();
    let mut v = get_json(&state.client, &config.upstream, path, key, 1 << 20).await?;
    Some(match v.get_mut("data") {
        Some(data) => data.take(),
        None => v,
    })
}

/// One `GET /credits` poll with the management key; returns whether it succeeded.
pub async fn poll_account(state: &AppState) -> bool {
    let key = state.config.load().upstream.management_key.clone();
    let Some(data) = get_data(state, "/credits", key).await else {
        return false;
    };
    let total = data.get("total_credits").and_then(Value::as_f64);
    let used = data.get("total_usage").and_then(Value::as_f64);
    let (Some(total), Some(used)) = (total, used) else {
        return false;
    };
    for (field, value) in [
        ("total_credits", total),
        ("total_usage", used),
        ("balance", total - used),
    ] {
        state.metrics.account.with_label_values(&[field]).set(value);
    }
    true
}

/// One `GET /key` poll with the gateway's key; returns whether it succeeded.
pub async fn poll(state: &AppState) -> bool {
    let Some(data) = get_data(state, "/key", None).await else {
        return false;
    };
    for field in FIELDS {
        // A key without a limit reports null: exported as -1 so "no limit" can be alerted on.
        let value = data.get(field).and_then(Value::as_f64).unwrap_or(-1.0);
        state.metrics.credit.with_label_values(&[field]).set(value);
    }
    true
}
