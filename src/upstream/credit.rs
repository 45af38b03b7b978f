//! The upstream credit watch: polls `GET /key` and exports the key's `limit`, `usage`,
//! `limit_remaining` and `usage_daily` as gauges, so "credits running out" is an alert
//! rule rather than a dashboard someone has to look at. With a management key configured
//! it also polls the account's balance (`GET /credits`, which needs that kind of key). The loop is `state::pollers`.

use serde_json::Value;

use super::{get_json, UpstreamSettings};
use crate::metrics::Metrics;

const FIELDS: [&str; 4] = ["limit", "usage", "limit_remaining", "usage_daily"];

/// `GET path` with `key` (or the gateway's): the answer's `data` (or the whole body).
async fn get_data(
    client: &reqwest::Client,
    upstream: &UpstreamSettings,
    path: &str,
    key: Option<crate::secret::Secret>,
) -> Option<Value> {
    let mut v = get_json(client, upstream, path, key, 1 << 20).await?;
    Some(match v.get_mut("data") {
        Some(data) => data.take(),
        None => v,
    })
}

/// One `GET /credits` poll with the management key; returns whether it succeeded.
pub async fn poll_account(
    client: &reqwest::Client,
    upstream: &UpstreamSettings,
    metrics: &Metrics,
) -> bool {
    let key = upstream.management_key.clone();
    let Some(data) = get_data(client, upstream, "/credits", key).await else {
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
        metrics.account.with_label_values(&[field]).set(value);
    }
    true
}

/// One `GET /key` poll with the gateway's key; returns whether it succeeded.
pub async fn poll(
    client: &reqwest::Client,
    upstream: &UpstreamSettings,
    metrics: &Metrics,
) -> bool {
    let Some(data) = get_data(client, upstream, "/key", None).await else {
        return false;
    };
    for field in FIELDS {
        // A key without a limit reports null: exported as -1 so "no limit" can be alerted on.
        let value = data.get(field).and_then(Value::as_f64).unwrap_or(-1.0);
        metrics.credit.with_label_values(&[field]).set(value);
    }
    true
}
