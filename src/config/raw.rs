//! The serde shape of the configuration file, with defaults.
//!
//! Every table denies unknown fields so a misspelled key (`drain_secs`, `zrd`) fails at start
//! instead of silently doing nothing. Defaults live here (not in a serialized provider) so that
//! secrets never have to round-trip through `Serialize`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// The whole file, as written by the operator.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub server: RawServer,
    pub upstream: RawUpstream,
    pub log: RawLog,
    /// Per-service settings keyed by service name (headers sent upstream on its behalf).
    pub services: BTreeMap<String, RawService>,
    /// Client keys. Only the SHA-256 of each key is stored.
    pub keys: Vec<RawKey>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    /// Address the gateway listens on.
    pub listen: String,
    /// Largest request body accepted on the wire, in bytes (413 above).
    pub max_body_bytes: usize,
    /// Largest body after `Content-Encoding` decoding, in bytes (413 above: zip bombs).
    pub max_decompressed_bytes: usize,
    /// Deepest JSON nesting accepted (400 above).
    pub max_json_depth: usize,
    /// On SIGTERM, how long in-flight requests and streams may take to finish.
    pub drain_seconds: u64,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            max_body_bytes: 4 * 1024 * 1024,
            max_decompressed_bytes: 4 * 1024 * 1024,
            max_json_depth: 64,
            drain_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawUpstream {
    /// OpenRouter's API root (or a compatible endpoint), without a trailing path.
    pub base_url: String,
    /// Plain `http://` upstreams are refused unless this is set (tests, local mocks).
    pub allow_insecure_http: bool,
    /// A file holding the upstream API key (mounted secret). `OPENROUTER_API_KEY` wins if set.
    pub api_key_file: Option<PathBuf>,
    pub connect_timeout_ms: u64,
    /// Time allowed until the upstream's response headers arrive.
    pub first_byte_timeout_ms: u64,
    /// Longest silence allowed between two chunks of a streamed response.
    pub idle_timeout_ms: u64,
    /// Hard ceiling for one request, streaming included.
    pub total_timeout_ms: u64,
    /// Largest non-streamed upstream response body accepted, in bytes.
    pub max_response_bytes: usize,
    /// Further upstream paths (below the API root, e.g. `/generation`) proxied as-is.
    pub passthrough_paths: Vec<String>,
}

impl Default for RawUpstream {
    fn default() -> Self {
        Self {
            base_url: "https://openrouter.ai/api/v1".to_owned(),
            allow_insecure_http: false,
            api_key_file: None,
            connect_timeout_ms: 5_000,
            first_byte_timeout_ms: 120_000,
            idle_timeout_ms: 60_000,
            total_timeout_ms: 600_000,
            max_response_bytes: 32 * 1024 * 1024,
            passthrough_paths: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// `text` for people, `json` for log pipelines.
    pub format: String,
    /// A `tracing` filter (`info`, `orguard=debug`). `RUST_LOG` wins if set.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "text".to_owned(),
            level: "info".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawService {
    /// Sent upstream as `HTTP-Referer` (OpenRouter app attribution).
    pub http_referer: Option<String>,
    /// Sent upstream as `X-OpenRouter-Title` and the legacy `X-Title`.
    pub title: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    /// Stable, non-secret name of the key; appears in logs and the audit.
    pub id: String,
    pub service: String,
    /// Lowercase hex SHA-256 of the client key.
    pub sha256: String,
    #[serde(default)]
    pub disabled: bool,
    /// RFC 3339 instant after which the key is refused.
    #[serde(default)]
    pub expires: Option<String>,
}
