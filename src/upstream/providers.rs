//! Learning provider display names from the upstream: `GET /providers` returns
//! `{name, slug}` pairs, so a provider added upstream after this release is mapped to its
//! real slug instead of a guess (which would block a legitimate response). Config
//! `[provider_names]` still wins; the built-in table is the fallback when the upstream is
//! unreachable.

use std::collections::HashMap;

use super::get_json;
use crate::server::AppState;

/// Runs until the runtime stops; the interval is read from the live config each round.
pub async fn refresh(state: AppState) {
    loop {
        let config = state.config.load_full();
        let Some(every) = config.upstream.providers_refresh else {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            continue;
        };
        if config.upstream.api_key.is_some() {
            match fetch(&state).await {
                Some(map) => {
                    tracing::debug!(providers = map.len(), "provider names refreshed");
                    state.provider_names.store(std::sync::Arc::new(map));
                }
                None => {
                    tracing::warn!("GET /providers failed; keeping the provider names known so far")
                }
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// One fetch: display name (lowercase) → slug.
pub async fn fetch(state: &AppState) -> Option<HashMap<String, String>> {
    let config = state.config.load_full();
    let v = get_json(&state.client, &config.upstream, "/providers", None, 4 << 20).await?;
    let map: HashMap<String, String> = v
        .get("data")?
        .as_array()?
        .iter()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.trim().to_lowercase();
            let slug = p.get("slug")?.as_str()?.trim().to_ascii_lowercase();
            let valid = !slug.is_empty()
                && slug.len() <= 100
                && slug
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
            (valid && !name.is_empty()).then_some((name, slug))
        })
        .collect();
    (!map.is_empty()).then_some(map)
}
