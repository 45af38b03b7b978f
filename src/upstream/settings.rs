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

/// Headers sent upstream on behalf of one service.
#[derive(Debug, Clone, Default)]
pub struct ServiceSettings {
    pub http_referer: Option<HeaderValue>,
    pub title: Option<HeaderValue>,
}
