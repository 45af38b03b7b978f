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
use super::{ServiceSettings, UpstreamSettings};

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
    /// `traceparent` (and `tracestate`) naming this attempt's CLIENT span, when tracing is
    /// on. Written by the gateway: the client's own trace headers are never forwarded.
    pub trace_headers: Vec<(HeaderName, HeaderValue)>,
}

/// A response whose headers have arrived, with the deadline the rest must meet.
pub struct Sent {
    pub response: reqwest::Response,
    pub deadline: Instant,
}

/// One pooled client for the process. Redirects are not followed: a redirect would send the
/// API key and the prompt to a host the config never named.
///
/// Trust: the system store (a CA installed on the host or baked into the image) and the
/// bundled web PKI roots, plus `upstream.ca_file` when set. `HTTPS_PROXY` / `NO_PROXY` are
/// honoured (reqwest's system proxy).
pub fn build_client(settings: &UpstreamSettings) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(USER_AGENT);
    if let Some(pem) = &settings.ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build()
}

/// A request that got no response, and why, in words an operator can act on (DNS,
/// connection refused, certificate, proxy). The cause goes to the log and to `orguard
/// check`, never to the client: it names hosts and the gateway's own setup.
#[derive(Debug)]
pub struct Failure {
    pub error: UpstreamError,
    pub cause: Option<String>,
}

/// What went wrong below reqwest, from its chain of sources.
pub fn explain(e: &reqwest::Error) -> String {
    let mut chain = Vec::new();
    let mut refused = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        chain.push(err.to_string());
        source = err.source();
    }
    let text = chain.join(": ").to_ascii_lowercase();
    let kind = if text.contains("certificate") {
        "TLS certificate"
    } else if text.contains("handshake") || text.contains("tls") {
        "TLS"
    } else if text.contains("dns error") || text.contains("lookup address") {
        "DNS"
    } else if text.contains("proxy") || text.contains("tunnel") {
        "proxy"
    } else if refused || text.contains("connection refused") {
        "connection refused"
    } else if e.is_timeout() {
        "timeout"
    } else {
        "connection"
    };
    // The innermost message says the most (e.g. `invalid peer certificate: UnknownIssuer`).
    let detail = chain.last().cloned().unwrap_or_default();
    crate::secret::mask_text(&format!("{kind}: {detail}"))
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
    send_explained(client, settings, service, client_headers, outbound)
        .await
        .map_err(|f| {
            if let Some(cause) = &f.cause {
                let host = settings.base.host_str().unwrap_or_default();
                tracing::warn!(upstream = %host, error = %f.error, cause = %cause, "upstream request failed");
            }
            f.error
        })
}

/// As [`send`], with the cause of a failure kept for the caller (`orguard check` prints it)
/// instead of logged.
pub async fn send_explained(
    client: &reqwest::Client,
    settings: &UpstreamSettings,
    service: Option<&ServiceSettings>,
    client_headers: &HeaderMap,
    outbound: Outbound,
) -> Result<Sent, Failure> {
    let fail = |error: UpstreamError, cause: Option<String>| Failure { error, cause };
    let api_key = outbound.api_key.as_ref().or(settings.api_key.as_ref());
    if settings.key_required && api_key.is_none() {
        return Err(fail(UpstreamError::NotConfigured, None));
    }
    let started = Instant::now();
    let deadline = started + settings.total_timeout;
    let url = settings.url_for(&outbound.path_and_query);

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
            .map_err(|_| fail(UpstreamError::Build, None))?;
        auth.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, auth);
    }
    for (name, value) in &outbound.trace_headers {
        headers.insert(name.clone(), value.clone());
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
        Err(_) => Err(fail(UpstreamError::FirstByteTimeout, None)),
        Ok(Err(e)) if e.is_builder() => Err(fail(UpstreamError::Build, Some(explain(&e)))),
        // A connect timeout is an unreachable upstream, not a slow answer.
        Ok(Err(e)) if e.is_connect() => Err(fail(UpstreamError::Connect, Some(explain(&e)))),
        Ok(Err(e)) if e.is_timeout() => Err(fail(UpstreamError::FirstByteTimeout, None)),
        // Anything else broke after the request may have been sent.
        Ok(Err(e)) => Err(fail(UpstreamError::Protocol, Some(explain(&e)))),
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
        trace_headers: Vec::new(),
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
