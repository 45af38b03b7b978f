//! How the gateway talks to one upstream, as the config compiled it: where it is, with
//! which key, within which time and size limits, and what a calling service is introduced
//! as. Owned here, not by the config, so the upstream client needs nothing from above it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;

use crate::secret::Secret;

/// One upstream: OpenRouter (`[upstream]`) or an OpenAI-compatible server
/// (`[upstreams.NAME]`).
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// API root without a trailing slash, e.g. `https://openrouter.ai/api/v1`.
    pub base_url: String,
    /// `base_url` parsed, once: each request's URL is this with its path and query set
    /// ([`UpstreamSettings::url_for`]), instead of a parse of the whole text per request
    /// (host and IDNA processing: ~3 % of a 1 KB request's instructions).
    pub base: reqwest::Url,
    pub api_key: Option<Secret>,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub idle_timeout: Duration,
    pub total_timeout: Duration,
    pub max_response_bytes: usize,
    pub passthrough_paths: HashSet<String>,
    /// Whether requests fail without an API key (OpenRouter needs one; self-hosted may not).
    pub key_required: bool,
    /// `GET /key` polling interval for the credit metrics (`None`: off).
    pub credit_poll: Option<Duration>,
    /// `GET /providers` refresh interval for display-name mapping (`None`: off).
    pub providers_refresh: Option<Duration>,
    /// `GET /models` price refresh interval (`None`: off).
    pub models_refresh: Option<Duration>,
    /// Management key for the account balance poll (`GET /credits`).
    pub management_key: Option<Secret>,
    /// `upstream.ca_file`: the PEM bundle trusted on top of the system store and the web
    /// PKI roots (a private CA in front of, or instead of, OpenRouter).
    pub ca_file: Option<PathBuf>,
    /// Its contents, read by the loader and checked to hold at least one certificate.
    pub ca_pem: Option<Arc<[u8]>>,
}

impl UpstreamSettings {
    /// The URL of `path_and_query` (below the API root, e.g. `/chat/completions` or
    /// `/generation?id=…`): the same URL as parsing `base_url` followed by it.
    pub fn url_for(&self, path_and_query: &str) -> reqwest::Url {
        url_below(&self.base, path_and_query)
    }
}

/// `base` with `path_and_query` appended to its path: what a parse of the joined text
/// gives, without parsing the host again.
fn url_below(base: &reqwest::Url, path_and_query: &str) -> reqwest::Url {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let mut url = base.clone();
    let mut full = String::with_capacity(url.path().len() + path.len());
    full.push_str(url.path().trim_end_matches('/'));
    full.push_str(path);
    url.set_path(&full);
    url.set_query(query);
    url
}

/// Headers sent upstream on behalf of one service.
#[derive(Debug, Clone, Default)]
pub struct ServiceSettings {
    pub http_referer: Option<HeaderValue>,
    pub title: Option<HeaderValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URL built from the parsed root is the one a parse of the joined text gives.
    #[test]
    fn a_path_below_the_root_is_the_url_of_the_joined_text() {
        for base in [
            "https://openrouter.ai/api/v1",
            "http://127.0.0.1:8080/api/v1",
            "https://llm.internal.example",
            "https://xn--bcher-kva.example/v1",
            "https://Bücher.example:8443/a/b",
        ] {
            let root = reqwest::Url::parse(base).unwrap();
            for pq in [
                "/chat/completions",
                "/models",
                "/models?category=programming",
                "/generation?id=gen-1&x=a%20b",
                "/generation?id=ä b",
                "/models/openai/gpt-4o",
                "/models/openai%2Fgpt-4o",
                "/a b/ü",
                "/a\\b",
                "/key?",
                "/credits",
            ] {
                let want = reqwest::Url::parse(&format!("{base}{pq}")).unwrap();
                assert_eq!(url_below(&root, pq), want, "{base} + {pq}");
                assert_eq!(
                    url_below(&root, pq).as_str(),
                    want.as_str(),
                    "{base} + {pq}"
                );
            }
        }
    }
}
