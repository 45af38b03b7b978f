//! Learning provider display names from the upstream: `GET /providers` returns
//! `{name, slug}` pairs, so a provider added upstream after this release is mapped to its
//! real slug instead of a guess (which would block a legitimate response). Config
//! `[provider_names]` still wins; the built-in table is the fallback when the upstream is
//! unreachable. The refresh loop is `state::pollers`.

use std::collections::HashMap;

use super::{get_json, UpstreamSettings};

/// One fetch: display name (lowercase) → slug. `None` when the upstream did not answer
/// with at least one valid pair.
pub async fn fetch(
    client: &reqwest::Client,
    upstream: &UpstreamSettings,
) -> Option<HashMap<String, String>> {
    let v = get_json(client, upstream, "/providers", None, 4 << 20).await?;
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
