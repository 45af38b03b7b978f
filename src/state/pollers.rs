//! The background loops that keep what the gateway learns from the upstream fresh: model
//! prices (`GET /models`), the key's credit and the account balance (`GET /key`,
//! `GET /credits`), and provider display names (`GET /providers`). Each reads its interval
//! from the live config every round, so a reload can turn it on or off; each runs until
//! the runtime stops and holds no request state.

use std::sync::Arc;
use std::time::Duration;

use super::AppState;
use crate::config::Snapshot;
use crate::upstream::{credit, get_json, providers};

/// How long a poller that is off waits before reading the config again.
const OFF_RECHECK: Duration = Duration::from_secs(60);

/// The live config for a poller's next round, and how long to wait after it: `interval`
/// reads it from the config; while it says off (`None`), the config is read again every
/// [`OFF_RECHECK`].
async fn next_round(
    state: &AppState,
    interval: impl Fn(&Snapshot) -> Option<Duration>,
) -> (Arc<Snapshot>, Duration) {
    loop {
        let config = state.config.load_full();
        if let Some(every) = interval(&config) {
            return (config, every);
        }
        tokio::time::sleep(OFF_RECHECK).await;
    }
}

/// Refreshes the learned model prices while any key has a budget.
pub async fn prices(state: AppState) {
    loop {
        let (config, every) = next_round(&state, |config| {
            let wanted = config
                .keys
                .records()
                .iter()
                .any(|k| k.limits.budget.is_some());
            config.upstream.models_refresh.filter(|_| wanted)
        })
        .await;
        let catalog = get_json(
            &state.client,
            &config.upstream,
            "/models",
            None,
            config.upstream.max_response_bytes,
        )
        .await
        .map(|v| crate::limits::pricing::parse_catalog(&v));
        match catalog {
            Some(table) if !table.is_empty() => {
                tracing::debug!(models = table.len(), "model prices refreshed");
                state.prices.replace(table);
            }
            _ => tracing::warn!("could not refresh model prices from GET /models; budgets use the last known prices or state.unknown_price_reservation_usd"),
        }
        tokio::time::sleep(every).await;
    }
}

/// Exports the key's credit (and, with a management key, the account balance) as gauges.
pub async fn credit(state: AppState) {
    loop {
        let (config, every) = next_round(&state, |config| config.upstream.credit_poll).await;
        let key = config.upstream.api_key.is_some();
        let account = config.upstream.management_key.is_some();
        if key || account {
            let mut ok = true;
            if key {
                ok &= credit::poll(&state.client, &config.upstream, &state.metrics).await;
            }
            if account {
                ok &= credit::poll_account(&state.client, &config.upstream, &state.metrics).await;
            }
            state.metrics.credit_poll_ok.set(if ok { 1.0 } else { 0.0 });
        }
        tokio::time::sleep(every).await;
    }
}

/// Refreshes the provider display-name → slug map the response check uses.
pub async fn provider_names(state: AppState) {
    loop {
        let (config, every) = next_round(&state, |config| config.upstream.providers_refresh).await;
        if config.upstream.api_key.is_some() {
            match providers::fetch(&state.client, &config.upstream).await {
                Some(map) => {
                    tracing::debug!(providers = map.len(), "provider names refreshed");
                    state.provider_names.store(Arc::new(map));
                }
                None => {
                    tracing::warn!("GET /providers failed; keeping the provider names known so far")
                }
            }
        }
        tokio::time::sleep(every).await;
    }
}
