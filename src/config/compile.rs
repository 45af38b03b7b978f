//! Turning [`RawConfig`] into a validated, immutable [`Snapshot`].
//!
//! Pure: no I/O, no clock. Every problem is collected (not just the first) and names the key
//! it is about, so an operator fixes a config in one round.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::raw::RawConfig;
use crate::keys::{KeyRecord, KeyStore};
use crate::request::body::BodyLimits;
use crate::secret::Secret;

/// The validated configuration one request runs under, start to finish.
#[derive(Debug)]
pub struct Snapshot {
    pub server: ServerSettings,
    pub upstream: UpstreamSettings,
    pub log: LogSettings,
    pub services: BTreeMap<String, ServiceSettings>,
    pub keys: KeyStore,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub body: BodyLimits,
    pub max_json_depth: usize,
    pub drain: Duration,
}

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// Headers sent upstream on behalf of one service.
#[derive(Debug, Clone, Default)]
pub struct ServiceSettings {
    pub http_referer: Option<HeaderValue>,
    pub title: Option<HeaderValue>,
}

/// Deepest nesting serde_json itself can parse; our limit must stay below it.
const SERDE_JSON_RECURSION_LIMIT: usize = 128;

/// Paths the gateway serves itself; listing them as passthrough would skip inspection.
const INSPECTED_PATHS: [&str; 5] = [
    "/chat/completions",
    "/completions",
    "/embeddings",
    "/responses",
    "/models",
];

/// Validates `raw`, collecting every problem.
pub fn compile(raw: RawConfig, api_key: Option<Secret>) -> Result<Snapshot, Vec<String>> {
    let mut problems = Vec::new();

    let listen = raw.server.listen.parse::<SocketAddr>().unwrap_or_else(|_| {
        problems.push(format!(
            "server.listen: {:?} is not an address like 127.0.0.1:8080",
            raw.server.listen
        ));
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    if raw.server.max_body_bytes == 0 {
        problems.push("server.max_body_bytes: must be greater than 0".to_owned());
    }
    if raw.server.max_decompressed_bytes == 0 {
        problems.push("server.max_decompressed_bytes: must be greater than 0".to_owned());
    }
    if !(1..SERDE_JSON_RECURSION_LIMIT).contains(&raw.server.max_json_depth) {
        problems.push(format!(
            "server.max_json_depth: must be between 1 and {}",
            SERDE_JSON_RECURSION_LIMIT - 1
        ));
    }

    let base_url = raw
        .upstream
        .base_url
        .trim()
        .trim_end_matches('/')
        .to_owned();
    match reqwest::Url::parse(&base_url) {
        Ok(url) => match url.scheme() {
            "https" => {}
            "http" if raw.upstream.allow_insecure_http => {}
            "http" => problems.push(
                "upstream.base_url: plain http sends the API key and prompts unencrypted; use https or set upstream.allow_insecure_http = true".to_owned(),
            ),
            other => problems.push(format!("upstream.base_url: unsupported scheme {other:?}")),
        },
        Err(e) => problems.push(format!("upstream.base_url: not a URL ({e})")),
    }
    let ms = |name: &str, v: u64, problems: &mut Vec<String>| {
        if v == 0 {
            problems.push(format!("upstream.{name}: must be greater than 0"));
        }
        Duration::from_millis(v)
    };
    let connect_timeout = ms(
        "connect_timeout_ms",
        raw.upstream.connect_timeout_ms,
        &mut problems,
    );
    let first_byte_timeout = ms(
        "first_byte_timeout_ms",
        raw.upstream.first_byte_timeout_ms,
        &mut problems,
    );
    let idle_timeout = ms(
        "idle_timeout_ms",
        raw.upstream.idle_timeout_ms,
        &mut problems,
    );
    let total_timeout = ms(
        "total_timeout_ms",
        raw.upstream.total_timeout_ms,
        &mut problems,
    );
    let mut passthrough_paths = HashSet::new();
    for (i, path) in raw.upstream.passthrough_paths.iter().enumerate() {
        let p = path.trim();
        if !p.starts_with('/') || p.contains("..") || p.contains('?') {
            problems.push(format!("upstream.passthrough_paths[{i}]: {p:?} must be an absolute path below the API root, like \"/generation\""));
        } else if INSPECTED_PATHS.contains(&p) {
            problems.push(format!("upstream.passthrough_paths[{i}]: {p:?} is inspected by orguard and cannot be passed through"));
        } else {
            passthrough_paths.insert(p.to_owned());
        }
    }

    let format = match raw.log.format.as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            problems.push(format!(
                "log.format: {other:?} is not one of \"text\", \"json\""
            ));
            LogFormat::Text
        }
    };
    if tracing_subscriber::EnvFilter::try_new(&raw.log.level).is_err() {
        problems.push(format!(
            "log.level: {:?} is not a valid filter",
            raw.log.level
        ));
    }

    let mut services = BTreeMap::new();
    for (name, svc) in &raw.services {
        let header = |field: &str, v: &Option<String>, problems: &mut Vec<String>| {
            v.as_deref().and_then(|v| {
                HeaderValue::from_str(v)
                    .map_err(|_| {
                        problems.push(format!("services.{name}.{field}: not a valid header value"))
                    })
                    .ok()
            })
        };
        let http_referer = header("http_referer", &svc.http_referer, &mut problems);
        let title = header("title", &svc.title, &mut problems);
        services.insert(
            name.clone(),
            ServiceSettings {
                http_referer,
                title,
            },
        );
    }

    let keys = compile_keys(&raw, &mut problems);

    if problems.is_empty() {
        Ok(Snapshot {
            server: ServerSettings {
                listen,
                body: BodyLimits {
                    max_wire: raw.server.max_body_bytes,
                    max_decoded: raw.server.max_decompressed_bytes,
                },
                max_json_depth: raw.server.max_json_depth,
                drain: Duration::from_secs(raw.server.drain_seconds),
            },
            upstream: UpstreamSettings {
                base_url,
                api_key,
                connect_timeout,
                first_byte_timeout,
                idle_timeout,
                total_timeout,
                max_response_bytes: raw.upstream.max_response_bytes,
                passthrough_paths,
            },
            log: LogSettings {
                format,
                level: raw.log.level,
            },
            services,
            keys,
        })
    } else {
        Err(problems)
    }
}

fn compile_keys(raw: &RawConfig, problems: &mut Vec<String>) -> KeyStore {
    let mut seen_ids = HashSet::new();
    let mut seen_hashes = HashSet::new();
    let mut records = Vec::new();
    for (i, key) in raw.keys.iter().enumerate() {
        let at = format!("keys[{i}]");
        if key.id.trim().is_empty()
            || !key
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            problems.push(format!(
                "{at}.id: must be non-empty and use only letters, digits, '-', '_', '.'"
            ));
        }
        if !seen_ids.insert(key.id.clone()) {
            problems.push(format!("{at}.id: {:?} is used by another key", key.id));
        }
        if key.service.trim().is_empty() {
            problems.push(format!("{at}.service: must not be empty"));
        }
        let mut sha256 = [0u8; 32];
        let is_lower_hex = key.sha256.len() == 64
            && key
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_lower_hex || hex::decode_to_slice(&key.sha256, &mut sha256).is_err() {
            problems.push(format!("{at}.sha256: must be 64 lowercase hex characters (the output of `orguard keys new`)"));
        } else if !seen_hashes.insert(sha256) {
            problems.push(format!(
                "{at}.sha256: the same key hash is configured twice"
            ));
        }
        let expires = key.expires.as_deref().and_then(|s| {
            OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| {
                    problems.push(format!(
                        "{at}.expires: {s:?} is not an RFC 3339 time like 2027-01-31T00:00:00Z"
                    ))
                })
                .ok()
        });
        records.push(KeyRecord {
            id: Arc::from(key.id.as_str()),
            service: Arc::from(key.service.as_str()),
            sha256,
            disabled: key.disabled,
            expires,
        });
    }
    KeyStore::new(records)
}

#[cfg(test)]
mod tests {
    use super::super::from_toml;

    #[test]
    fn embedded_example_compiles() {
        let snap = from_toml(super::super::EMBEDDED_EXAMPLE, None).unwrap();
        assert!(!snap.keys.is_empty());
        assert_eq!(snap.upstream.base_url, "https://openrouter.ai/api/v1");
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let err = from_toml(
            r#"
            [server]
            listen = "nope"
            max_json_depth = 500
            [upstream]
            base_url = "http://example.test/api/v1"
            idle_timeout_ms = 0
            passthrough_paths = ["/chat/completions", "relative"]
            [log]
            format = "yaml"
            [[keys]]
            id = "a"
            service = "s"
            sha256 = "ABC"
            expires = "tomorrow"
            [[keys]]
            id = "a"
            service = "s"
            sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
            "#,
            None,
        )
        .unwrap_err();
        let all = err.problems.join("\n");
        for key in [
            "server.listen",
            "server.max_json_depth",
            "upstream.base_url: plain http",
            "upstream.idle_timeout_ms",
            "upstream.passthrough_paths[0]",
            "upstream.passthrough_paths[1]",
            "log.format",
            "keys[0].sha256",
            "keys[0].expires",
            "keys[1].id",
        ] {
            assert!(all.contains(key), "missing {key} in:\n{all}");
        }
    }

    #[test]
    fn unknown_and_mistyped_keys_name_the_key() {
        let err = from_toml("[server]\ndrain_secs = 3\n", None).unwrap_err();
        assert!(err.to_string().contains("drain_secs"), "{err}");
        let err = from_toml("[server]\ndrain_seconds = \"soon\"\n", None).unwrap_err();
        assert!(err.to_string().contains("drain_seconds"), "{err}");
    }
}
