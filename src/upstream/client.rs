//! Building and sending the upstream request.
//!
//! Headers are an allowlist: the gateway's own key replaces the client's `Authorization`,
//! attribution headers come from the service's config, and of the client's headers only
//! `Accept` and `x-session-id` are carried over. Everything else the SDK adds
//! (`X-Stainless-*`, `OpenAI-Organization`, cookies) and every `X-OpenRouter-Cache*` header
//! stays behind, so nothing can switch on an upstream feature the gateway did not decide.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use bytes::Bytes;
use tokio::time::Instant;

use super::UpstreamError;
use crate::config::{ServiceSettings, UpstreamSettings};

/// Every client header that can reach the upstream: `Accept`, `x-session-id` and
/// OpenRouter's edge response-cache headers (`X-OpenRouter-Cache*`, only for classes that
/// allow caching). The request inspection scans each of them like body text; nothing else
/// the client sends goes on.
pub const CLIENT_HEADERS_FORWARDED: [HeaderName; 5] = [
    header::ACCEPT,
    HeaderName::from_static("x-session-id"),
    HeaderName::from_static("x-openrouter-cache"),
    HeaderName::from_static("x-openrouter-cache-ttl"),
    HeaderName::from_static("x-openrouter-cache-clear"),
];

const USER_AGENT: &str = concat!("orguard/", env!("CARGO_PKG_VERSION"));

/// The sealed request that leaves the gateway.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub method: Method,
    /// Path below the API root, with its query string (e.g. `/chat/completions`).
    pub path_and_query: String,
    /// The exact bytes sent; `None` for GET.
    pub body: Option<Bytes>,
    /// Whether the client's `X-OpenRouter-Cache*` headers may go along (class policy).
    pub forward_cache_headers: bool,
    /// The calling service's own upstream key, used instead of the configured one (only
    /// ever set for OpenRouter-bound requests).
    pub api_key: Option<crate::secret::Secret>,
}

/// A response whose headers have arrived, with the deadline the rest must meet.
pub struct Sent {
    pub response: reqwest::Response,
    pub deadline: Instant,
}

/// One pooled client for the process. Redirects are not followed: a redirect would send the
/// API key and the prompt to a host the config never named.
pub fn build_client(settings: &UpstreamSettings) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(USER_AGENT)
        .build()
}

/// Sends `outbound` and waits for the response headers (first-byte timeout). The total
/// timeout starts now and is carried in [`Sent::deadline`] for the body.
pub async fn send(
    client: &reqwest::Client,
    settings: &UpstreamSettings,
    service: Option<&ServiceSettings>,
    client_headers: &HeaderMap,
    outbound: Outbound,
) -> Result<Sent, UpstreamError> {
    let api_key = outbound.api_key.as_ref().or(settings.api_key.as_ref());
    if settings.key_required && api_key.is_none() {
        return Err(UpstreamError::NotConfigured);
    }
    let started = Instant::now();
    let deadline = started + settings.total_timeout;
    let url = format!("{}{}", settings.base_url, outbound.path_and_query);

    let mut headers = HeaderMap::new();
    for name in &CLIENT_HEADERS_FORWARDED {
        let cache = name.as_str().starts_with("x-openrouter-cache");
        if cache && !outbound.forward_cache_headers {
            continue;
        }
        if let Some(v) = client_headers.get(name) {
            headers.insert(name.clone(), v.clone());
        }
    }
    if let Some(key) = api_key {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
            .map_err(|_| UpstreamError::Build)?;
        auth.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, auth);
    }
    if let Some(svc) = service {
        if let Some(v) = &svc.http_referer {
            headers.insert(HeaderName::from_static("http-referer"), v.clone());
        }
        if let Some(v) = &svc.title {
            headers.insert(HeaderName::from_static("x-openrouter-title"), v.clone());
            headers.insert(HeaderName::from_static("x-title"), v.clone());
        }
    }
    let mut request = client.request(outbound.method, url).headers(headers);
    if let Some(body) = outbound.body {
        request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
    }
    let first_byte = deadline.min(started + settings.first_byte_timeout);
    match tokio::time::timeout_at(first_byte, request.send()).await {
        Err(_) => Err(UpstreamError::FirstByteTimeout),
        Ok(Err(e)) if e.is_builder() => Err(UpstreamError::Build),
        // A connect timeout is an unreachable upstream, not a slow answer.
        Ok(Err(e)) if e.is_connect() => Err(UpstreamError::Connect),
        Ok(Err(e)) if e.is_timeout() => Err(UpstreamError::FirstByteTimeout),
        // Anything else broke after the request may have been sent.
        Ok(Err(_)) => Err(UpstreamError::Protocol),
        Ok(Ok(response)) => Ok(Sent { response, deadline }),
    }
}

/// `GET path` for the gateway's own background polls (`/key`, `/credits`, `/providers`,
/// `/models`): the whole JSON body of a 2xx answer, read up to `max` bytes; `None` for
/// anything else. `key` replaces the configured key (the management key for `/credits`).
pub async fn get_json(
    client: &reqwest::Client,
    settings: &UpstreamSettings,
    path: &str,
    key: Option<crate::secret::Secret>,
    max: usize,
) -> Option<serde_json::Value> {
    let outbound = Outbound {
        method: Method::GET,
        path_and_query: path.to_owned(),
        body: None,
        forward_cache_headers: false,
        api_key: key,
    };
    let sent = send(client, settings, None, &HeaderMap::new(), outbound)
        .await
        .ok()?;
    if !sent.response.status().is_success() {
        return None;
    }
    let bytes = super::read_capped(sent.response, settings.idle_timeout, sent.deadline, max)
        .await
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
