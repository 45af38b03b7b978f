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

use super::problem::{Problem, Problems};
use super::raw::{BackendKind, DataCollection, FsyncMode, RawConfig, SinkKind};
use super::word::Word;
use crate::audit::sink::Fsync;
use crate::audit::{AuditSettings, SinkSettings};
use crate::keys::{KeyRecord, KeyStore};
use crate::limits::pricing::PriceTable;
use crate::limits::{Backend, Budget, KeyLimits, Nanos, OnError, Period, Price, StateSettings};
use crate::policy::models::Glob;
use crate::policy::{
    CaptureMode, Class, ClassPolicy, OnViolation, OverCap, Overrides, PolicySettings,
    ProviderNames, UpstreamRef, ABSURD_TOKENS,
};
use crate::redact::presidio::{self, PresidioSettings};
use crate::redact::{Action, Detectors, OutputScan, RedactPolicy};
use crate::request::body::BodyLimits;
use crate::secret::Secret;
use crate::traces::TelemetrySettings;
use crate::upstream::backoff::RetryPolicy;
use crate::upstream::{ServiceSettings, UpstreamSettings};

/// The validated configuration one request runs under, start to finish.
#[derive(Debug)]
pub struct Snapshot {
    /// `policy.key_max_age_days`, for `orguard check`.
    pub key_max_age_days: u32,
    pub server: ServerSettings,
    pub upstream: UpstreamSettings,
    pub log: LogSettings,
    pub services: BTreeMap<String, ServiceSettings>,
    pub keys: KeyStore,
    /// Shared with each request's response check, which outlives a reload.
    pub policy: Arc<PolicySettings>,
    pub audit: AuditSettings,
    pub resilience: Resilience,
    /// The content detectors, compiled once.
    pub detectors: Arc<Detectors>,
    /// `detectors.presidio_url`: the external analyzer asked in the pipeline's `analyze`
    /// phase; `None` (the default) skips that phase entirely.
    pub presidio: Option<PresidioSettings>,
    /// `[upstreams.NAME]`: OpenAI-compatible servers a class may be routed to.
    pub extra_upstreams: BTreeMap<String, ExtraUpstream>,
    /// `[state]`: where budget and rate counters live. Read at start only (counters and
    /// their connection outlive reloads).
    pub state: StateSettings,
    /// `[prices]`, per token in nano-dollars.
    pub prices: PriceTable,
    pub admin: AdminSettings,
    /// `[telemetry]`: the trace exporter. Read at start only.
    pub telemetry: TelemetrySettings,
}

/// The operator listener.
#[derive(Debug, Clone, Default)]
pub struct AdminSettings {
    /// Read at start only.
    pub listen: Option<SocketAddr>,
    /// SHA-256 of the admin bearer token; `None`: `/admin/*` refuses everyone.
    pub token_sha256: Option<[u8; 32]>,
}

/// Retries, fallbacks, breakers and load shedding.
#[derive(Debug, Clone)]
pub struct Resilience {
    pub retry: RetryPolicy,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    pub max_in_flight: usize,
    pub queue_timeout: Duration,
    /// Per model (normalised id) → fallback models (normalised ids).
    pub fallbacks: BTreeMap<String, Vec<String>>,
}

/// A non-OpenRouter upstream and the model names it knows.
#[derive(Debug, Clone)]
pub struct ExtraUpstream {
    pub settings: UpstreamSettings,
    /// OpenRouter model id (normalised) → the server's own model name.
    pub model_map: BTreeMap<String, String>,
}

/// Inputs the loader resolved from the environment and files, so `compile` stays pure.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub api_key: Option<Secret>,
    /// API keys of `[upstreams.NAME]`, by name.
    pub extra_keys: BTreeMap<String, Secret>,
    /// Contents of `policy.user_hmac_key_file`.
    pub user_hmac_key: Option<Secret>,
    /// Contents of `audit.hmac_key_file`.
    pub audit_hmac_key: Option<Secret>,
    /// The key of `audit.signing_key_file`, loaded.
    pub audit_signer: Option<std::sync::Arc<crate::audit::checkpoint::Signer>>,
    /// This host's name, the default audit replica id.
    pub hostname: Option<String>,
    /// Contents of `upstream.management_key_file`.
    pub management_key: Option<Secret>,
    /// Contents of each key's `upstream_key_file`, by key id.
    pub key_upstream_keys: BTreeMap<String, Secret>,
    /// Contents of `upstream.ca_file`.
    pub ca_pem: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub body: BodyLimits,
    pub max_json_depth: usize,
    pub drain: Duration,
    /// How many `X-Forwarded-For` entries, from the right, were appended by proxies the
    /// operator runs (`server.trusted_proxy_hops`); see `request::client`.
    pub trusted_proxy_hops: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

/// Deepest nesting serde_json itself can parse; our limit must stay below it.
const SERDE_JSON_RECURSION_LIMIT: usize = 128;

/// A chain of proxies longer than this is a misconfiguration, not a deployment.
const MAX_PROXY_HOPS: usize = 16;

/// Paths the gateway serves itself; listing them as passthrough would skip inspection.
const INSPECTED_PATHS: [&str; 5] = [
    "/chat/completions",
    "/completions",
    "/embeddings",
    "/responses",
    "/models",
];

/// Validates `raw`, collecting every problem.
pub fn compile(raw: RawConfig, resolved: Resolved) -> Result<Snapshot, Vec<Problem>> {
    let mut problems = Problems::default();
    let api_key = resolved.api_key.clone();
    if api_key
        .as_ref()
        .is_some_and(|k| HeaderValue::from_str(&format!("Bearer {}", k.expose())).is_err())
    {
        problems.at(
            "upstream API key",
            "contains characters that cannot be sent in a header",
        );
    }

    let listen = raw.server.listen.parse::<SocketAddr>().unwrap_or_else(|_| {
        problems.at(
            "server.listen",
            format!(
                "{:?} is not an address like 127.0.0.1:8080",
                raw.server.listen
            ),
        );
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    if raw.server.max_body_bytes == 0 {
        problems.at("server.max_body_bytes", "must be greater than 0");
    }
    if raw.server.max_decompressed_bytes == 0 {
        problems.at("server.max_decompressed_bytes", "must be greater than 0");
    }
    if !(1..SERDE_JSON_RECURSION_LIMIT).contains(&raw.server.max_json_depth) {
        problems.at(
            "server.max_json_depth",
            format!("must be between 1 and {}", SERDE_JSON_RECURSION_LIMIT - 1),
        );
    }
    if raw.server.trusted_proxy_hops > MAX_PROXY_HOPS {
        problems.at(
            "server.trusted_proxy_hops",
            format!("at most {MAX_PROXY_HOPS} (the proxies in front of the gateway)"),
        );
    }

    let base_url = raw
        .upstream
        .base_url
        .trim()
        .trim_end_matches('/')
        .to_owned();
    let base = check_url(
        "upstream",
        &base_url,
        raw.upstream.allow_insecure_http,
        &mut problems,
    );
    let ms = |name: &str, v: u64, problems: &mut Problems| {
        if v == 0 {
            problems.at(format!("upstream.{name}"), "must be greater than 0");
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
            problems.at(
                format!("upstream.passthrough_paths[{i}]"),
                format!("{p:?} must be an absolute path below the API root, like \"/generation\""),
            );
        } else if INSPECTED_PATHS.contains(&p) {
            problems.at(
                format!("upstream.passthrough_paths[{i}]"),
                format!("{p:?} is inspected by orguard and cannot be passed through"),
            );
        } else {
            passthrough_paths.insert(p.to_owned());
        }
    }

    let format = raw
        .log
        .format
        .or_problem("log.format", LogFormat::Text, &mut problems);
    if tracing_subscriber::EnvFilter::try_new(&raw.log.level).is_err() {
        problems.at(
            "log.level",
            format!("{:?} is not a valid filter", raw.log.level),
        );
    }

    let mut services = BTreeMap::new();
    for (name, svc) in &raw.services {
        let header = |field: &str, v: &Option<String>, problems: &mut Problems| {
            v.as_deref().and_then(|v| {
                HeaderValue::from_str(v)
                    .map_err(|_| {
                        problems.at(
                            format!("services.{name}.{field}"),
                            "not a valid header value",
                        )
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

    let ca_pem = resolved.ca_pem.as_deref().map(Arc::<[u8]>::from);
    if let Some(pem) = &ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem).unwrap_or_default();
        if certs.is_empty() {
            problems.at(
                "upstream.ca_file",
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            );
        }
    }
    let keys = compile_keys(&raw, &resolved, &mut problems);
    let state = compile_state(&raw, &mut problems);
    let prices = compile_prices(&raw, &mut problems);
    let admin = compile_admin(&raw, &mut problems);
    let telemetry = compile_telemetry(&raw, &mut problems);
    let extra_upstreams = compile_extra_upstreams(&raw, &resolved, &ca_pem, &mut problems);
    let custom: Vec<(String, String)> = raw
        .detectors
        .custom
        .iter()
        .map(|c| (c.name.trim().to_owned(), c.pattern.clone()))
        .collect();
    for (i, (name, _)) in custom.iter().enumerate() {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            problems.at(
                format!("detectors.custom[{i}].name"),
                format!("{name:?} must be an uppercase type name like PROJECT_CODE"),
            );
        }
    }
    let detectors = Detectors::new(&custom, &raw.detectors.deny_terms)
        .map_err(|e| problems.at("detectors", format!("a pattern does not compile ({e})")))
        .ok();
    let mut detector_kinds: Vec<String> = crate::redact::detectors::BUILT_IN
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    detector_kinds.extend(custom.iter().map(|(n, _)| n.clone()));
    detector_kinds.push(crate::redact::DENY_TERM.to_owned());
    let known: &[crate::redact::detectors::Kind] =
        detectors.as_ref().map_or(&[], |d: &Detectors| d.kinds());
    let presidio = compile_presidio(&raw, known, &mut problems);
    // A type only Presidio finds (`NRP`) is one the classes' redact_types may name.
    for (_, kind) in presidio.iter().flat_map(|p| p.entities.iter()) {
        if !detector_kinds.iter().any(|k| k == kind) {
            detector_kinds.push((*kind).to_owned());
        }
    }
    let policy = compile_policy(
        &raw,
        &resolved,
        &extra_upstreams,
        &detector_kinds,
        &mut problems,
    );
    let audit = compile_audit(&raw, &resolved, &mut problems);
    let resilience = compile_resilience(&raw, &mut problems);

    match (problems.is_empty(), detectors, base) {
        (true, Some(detectors), Some(base)) => Ok(Snapshot {
            key_max_age_days: raw.policy.key_max_age_days,
            server: ServerSettings {
                listen,
                body: BodyLimits {
                    max_wire: raw.server.max_body_bytes,
                    max_decoded: raw.server.max_decompressed_bytes,
                    timeout: Duration::from_millis(raw.server.body_timeout_ms.max(1)),
                },
                max_json_depth: raw.server.max_json_depth,
                drain: Duration::from_secs(raw.server.drain_seconds),
                trusted_proxy_hops: raw.server.trusted_proxy_hops,
            },
            upstream: UpstreamSettings {
                base_url,
                base,
                api_key,
                connect_timeout,
                first_byte_timeout,
                idle_timeout,
                total_timeout,
                max_response_bytes: raw.upstream.max_response_bytes,
                passthrough_paths,
                key_required: true,
                credit_poll: (raw.upstream.credit_poll_seconds > 0)
                    .then(|| Duration::from_secs(raw.upstream.credit_poll_seconds)),
                providers_refresh: (raw.upstream.providers_refresh_seconds > 0)
                    .then(|| Duration::from_secs(raw.upstream.providers_refresh_seconds)),
                models_refresh: (raw.upstream.models_refresh_seconds > 0)
                    .then(|| Duration::from_secs(raw.upstream.models_refresh_seconds)),
                management_key: resolved.management_key.clone(),
                ca_file: raw.upstream.ca_file.clone(),
                ca_pem: ca_pem.clone(),
            },
            log: LogSettings {
                format,
                level: raw.log.level,
            },
            services,
            keys,
            policy: Arc::new(policy),
            audit,
            resilience,
            detectors: Arc::new(detectors),
            presidio,
            extra_upstreams,
            state,
            prices,
            admin,
            telemetry,
        }),
        _ => Err(problems.into_vec()),
    }
}

fn compile_state(raw: &RawConfig, problems: &mut Problems) -> StateSettings {
    let s = &raw.state;
    let kind = s
        .backend
        .or_problem("state.backend", BackendKind::Memory, problems);
    let backend = match (kind, s.redis_url.as_deref()) {
        (BackendKind::Memory, _) => Backend::Memory,
        (BackendKind::Redis, Some(url)) => {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                // The value itself is not printed: it may carry a password.
                problems.at("state.redis_url", "must be a redis:// or rediss:// URL");
            } else if redis::Client::open(url).is_err() {
                problems.at("state.redis_url", "not a valid Redis URL");
            }
            Backend::Redis {
                url: Secret::new(url.to_owned()),
                prefix: s.key_prefix.clone(),
            }
        }
        (BackendKind::Redis, None) => {
            problems.at("state.redis_url", "required with state.backend = \"redis\"");
            Backend::Memory
        }
    };
    if s.key_prefix.is_empty()
        || !s
            .key_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        problems.at(
            "state.key_prefix",
            "must be non-empty and use only letters, digits, '-', '_', '.', ':'",
        );
    }
    if s.timeout_ms == 0 {
        problems.at("state.timeout_ms", "must be greater than 0");
    }
    let budget_on_error =
        s.budget_on_error
            .or_problem("state.budget_on_error", OnError::FailClosed, problems);
    let rate_on_error =
        s.rate_on_error
            .or_problem("state.rate_on_error", OnError::FailClosed, problems);
    if !(s.unknown_price_reservation_usd.is_finite() && s.unknown_price_reservation_usd >= 0.0) {
        problems.at(
            "state.unknown_price_reservation_usd",
            "must be a non-negative amount",
        );
    }
    StateSettings {
        backend,
        timeout: Duration::from_millis(s.timeout_ms.max(1)),
        budget_on_error,
        rate_on_error,
        unknown_price: Nanos::from_usd(s.unknown_price_reservation_usd),
    }
}

fn compile_prices(raw: &RawConfig, problems: &mut Problems) -> PriceTable {
    let mut out = PriceTable::new();
    for (model, p) in &raw.prices {
        let at = format!("prices.{model:?}");
        if crate::policy::models::parse(model).is_err() {
            problems.at(at.to_owned(), "not a model id");
        }
        if [p.prompt, p.completion, p.request]
            .iter()
            .any(|v| !v.is_finite() || *v < 0.0)
        {
            problems.at(at.to_owned(), "prices must be non-negative amounts");
        }
        out.insert(
            model.trim().to_ascii_lowercase(),
            Price::from_usd_per_token(p.prompt / 1e6, p.completion / 1e6, p.request),
        );
    }
    out
}

/// `detectors.presidio_*`. Only `presidio_url` turns the analyzer on; the other keys are
/// checked even without it, so a typo does not wait for the day it is switched on.
fn compile_presidio(
    raw: &RawConfig,
    known: &[crate::redact::detectors::Kind],
    problems: &mut Problems,
) -> Option<PresidioSettings> {
    let d = &raw.detectors;
    let on_error = d.presidio_on_error.or_problem(
        "detectors.presidio_on_error",
        presidio::OnError::FailClosed,
        problems,
    );
    if !(d.presidio_score_threshold.is_finite()
        && (0.0..=1.0).contains(&d.presidio_score_threshold))
    {
        problems.at(
            "detectors.presidio_score_threshold",
            "must be between 0 and 1",
        );
    }
    if d.presidio_timeout_ms == 0 {
        problems.at("detectors.presidio_timeout_ms", "must be greater than 0");
    }
    let language = d.presidio_language.trim();
    if language.is_empty()
        || !language
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
    {
        problems.at(
            "detectors.presidio_language",
            format!(
                "{:?} is not a language code like \"en\"",
                d.presidio_language
            ),
        );
    }
    if d.presidio_entities.is_empty() {
        problems.at(
            "detectors.presidio_entities",
            "name at least one entity (PERSON, LOCATION, …)",
        );
    }
    let mut entities: Vec<(String, crate::redact::detectors::Kind)> = Vec::new();
    for (i, entity) in d.presidio_entities.iter().enumerate() {
        if !presidio::entities::is_entity_name(entity) {
            problems.at(
                format!("detectors.presidio_entities[{i}]"),
                format!("{entity:?} is not a Presidio entity name like PERSON"),
            );
        } else if !entities.iter().any(|(e, _)| e == entity) {
            let kind = presidio::entities::kind_of(entity, known);
            entities.push((entity.clone(), kind));
        }
    }
    let url = d.presidio_url.as_deref()?;
    // The value is not printed: a URL can carry credentials.
    let analyze_url = match reqwest::Url::parse(url.trim()) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            problems.at("detectors.presidio_url", "must be an http:// or https:// URL (the analyzer is an HTTP service beside the gateway)");
            None
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            problems.at("detectors.presidio_url", "must not carry credentials");
            None
        }
        Ok(u) if u.host_str().is_none() || u.query().is_some() || u.fragment().is_some() => {
            problems.at(
                "detectors.presidio_url",
                "must be a base URL like http://127.0.0.1:5002 (a host, no query)",
            );
            None
        }
        Ok(mut u) => {
            let path = format!("{}/analyze", u.path().trim_end_matches('/'));
            u.set_path(&path);
            Some(u)
        }
        Err(_) => {
            problems.at("detectors.presidio_url", "not a valid URL");
            None
        }
    }?;
    Some(PresidioSettings {
        analyze_url,
        language: language.to_owned(),
        entities,
        score_threshold: d.presidio_score_threshold,
        timeout: Duration::from_millis(d.presidio_timeout_ms.max(1)),
        on_error,
    })
}

/// `[telemetry]`: an http(s) base URL without credentials (they would end up in logs),
/// with `/v1/traces` appended; a non-empty service name; non-zero durations.
fn compile_telemetry(raw: &RawConfig, problems: &mut Problems) -> TelemetrySettings {
    let t = &raw.telemetry;
    let traces_url = t
        .otlp_endpoint
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .and_then(|endpoint| match reqwest::Url::parse(endpoint) {
            Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                problems.at("telemetry.otlp_endpoint", "credentials in the URL would be logged; put them in OTEL_EXPORTER_OTLP_HEADERS instead");
                None
            }
            Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                problems.at("telemetry.otlp_endpoint", "must be a base URL without query or fragment (/v1/traces is appended)");
                None
            }
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                Some(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            }
            Ok(u) => {
                problems.at("telemetry.otlp_endpoint", format!("scheme {:?} is not http or https (OTLP over HTTP)",
                    u.scheme()
                ));
                None
            }
            Err(e) => {
                problems.at("telemetry.otlp_endpoint", format!("not a URL ({e})"));
                None
            }
        });
    let service_name = t.service_name.trim().to_owned();
    if service_name.is_empty() {
        problems.at("telemetry.service_name", "must not be empty");
    }
    if t.batch_delay_ms == 0 {
        problems.at("telemetry.batch_delay_ms", "must be greater than 0");
    }
    if t.export_timeout_ms == 0 {
        problems.at("telemetry.export_timeout_ms", "must be greater than 0");
    }
    TelemetrySettings {
        traces_url,
        service_name,
        batch_delay: Duration::from_millis(t.batch_delay_ms.max(1)),
        export_timeout: Duration::from_millis(t.export_timeout_ms.max(1)),
    }
}

fn compile_admin(raw: &RawConfig, problems: &mut Problems) -> AdminSettings {
    let listen = raw.admin.listen.as_deref().and_then(|l| {
        l.parse::<SocketAddr>()
            .map_err(|_| {
                problems.at(
                    "admin.listen",
                    format!("{l:?} is not an address like 127.0.0.1:9090"),
                )
            })
            .ok()
    });
    let token_sha256 = raw.admin.token_sha256.as_deref().and_then(|t| {
        let mut out = [0u8; 32];
        let ok = t.len() == 64
            && t.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && hex::decode_to_slice(t, &mut out).is_ok();
        if !ok {
            problems.at(
                "admin.token_sha256",
                "must be 64 lowercase hex characters (sha256sum of the token)",
            );
        }
        ok.then_some(out)
    });
    AdminSettings {
        listen,
        token_sha256,
    }
}

fn compile_key_limits(at: &str, key: &super::raw::RawKey, problems: &mut Problems) -> KeyLimits {
    let period =
        key.budget_period
            .or_problem(format!("{at}.budget_period"), Period::Month, problems);
    let budget = key.budget_usd.and_then(|usd| {
        if usd.is_finite() && usd >= 0.0 {
            Some(Budget {
                limit: Nanos::from_usd(usd),
                period,
            })
        } else {
            problems.at(format!("{at}.budget_usd"), "must be a non-negative amount");
            None
        }
    });
    for (field, v) in [("rpm", key.rpm), ("tpm", key.tpm)] {
        if v == Some(0) {
            problems.at(
                format!("{at}.{field}"),
                "must be at least 1 (to stop a key, set disabled = true)",
            );
        }
    }
    KeyLimits {
        budget,
        rpm: key.rpm,
        tpm: key.tpm,
    }
}

/// Model id patterns (`openai/gpt-4o`, `anthropic/claude-*`, `*`) as globs; anything that
/// could not be an OpenRouter id is a problem named by `at[i]`.
fn model_patterns(at: &str, patterns: &[String], problems: &mut Problems) -> Vec<Glob> {
    let mut out = Vec::with_capacity(patterns.len());
    for (i, m) in patterns.iter().enumerate() {
        let m = m.trim();
        let ok = !m.is_empty()
            && m.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:~@*".contains(&b));
        if !ok {
            problems.at(
                format!("{at}[{i}]"),
                format!("{m:?} is not a model id pattern"),
            );
        }
        out.push(Glob::new(m));
    }
    out
}

fn compile_keys(raw: &RawConfig, resolved: &Resolved, problems: &mut Problems) -> KeyStore {
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
            problems.at(
                format!("{at}.id"),
                "must be non-empty and use only letters, digits, '-', '_', '.'",
            );
        }
        if !seen_ids.insert(key.id.clone()) {
            problems.at(
                format!("{at}.id"),
                format!("{:?} is used by another key", key.id),
            );
        }
        if key.service.trim().is_empty() {
            problems.at(format!("{at}.service"), "must not be empty");
        }
        let mut sha256 = [0u8; 32];
        let is_lower_hex = key.sha256.len() == 64
            && key
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_lower_hex || hex::decode_to_slice(&key.sha256, &mut sha256).is_err() {
            problems.at(
                format!("{at}.sha256"),
                "must be 64 lowercase hex characters (the output of `orguard keys new`)",
            );
        } else if !seen_hashes.insert(sha256) {
            problems.at(
                format!("{at}.sha256"),
                "the same key hash is configured twice",
            );
        }
        let expires = key.expires.as_deref().and_then(|s| {
            OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| {
                    problems.at(
                        format!("{at}.expires"),
                        format!("{s:?} is not an RFC 3339 time like 2027-01-31T00:00:00Z"),
                    )
                })
                .ok()
        });
        let default_class = key.default_class.or_problem(
            format!("{at}.default_class"),
            Class::Restricted,
            problems,
        );
        let min_class = key.min_class.as_ref().map_or(default_class, |v| {
            v.or_problem(format!("{at}.min_class"), Class::Restricted, problems)
        });
        if default_class < min_class {
            problems.at(
                format!("{at}.default_class"),
                format!(
                    "{} is below the key's min_class {}",
                    default_class.as_str(),
                    min_class.as_str()
                ),
            );
        }
        let limits = compile_key_limits(&at, key, problems);
        let allowed_models = model_patterns(
            &format!("{at}.allowed_models"),
            &key.allowed_models,
            problems,
        );
        let upstream_key = resolved.key_upstream_keys.get(&key.id).cloned();
        if upstream_key
            .as_ref()
            .is_some_and(|k| HeaderValue::from_str(&format!("Bearer {}", k.expose())).is_err())
        {
            problems.at(
                format!("{at}.upstream_key_file"),
                "the key contains characters that cannot be sent in a header",
            );
        }
        records.push(KeyRecord {
            limits,
            allowed_models: Arc::from(allowed_models),
            upstream_key,
            id: Arc::from(key.id.as_str()),
            service: Arc::from(key.service.as_str()),
            sha256,
            disabled: key.disabled,
            expires,
            created: key.created.as_deref().and_then(|s| {
                OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|_| {
                        problems.at(
                            format!("{at}.created"),
                            format!("{s:?} is not an RFC 3339 time"),
                        )
                    })
                    .ok()
            }),
            default_class,
            min_class,
        });
    }
    KeyStore::new(records)
}

fn compile_resilience(raw: &RawConfig, problems: &mut Problems) -> Resilience {
    let r = &raw.resilience;
    if r.max_in_flight == 0 {
        problems.at("resilience.max_in_flight", "must be greater than 0");
    }
    if r.retry_statuses.iter().any(|s| !(400..=599).contains(s)) {
        problems.at(
            "resilience.retry_statuses",
            "only 4xx and 5xx statuses can be retried",
        );
    }
    let mut fallbacks = BTreeMap::new();
    for (model, list) in &r.fallbacks {
        let at = format!("resilience.fallbacks.{model:?}");
        let key = crate::policy::models::parse(model)
            .map(|m| m.id)
            .unwrap_or_else(|_| {
                problems.at(at.to_owned(), "not a model id");
                model.clone()
            });
        let ids = list
            .iter()
            .filter_map(|f| match crate::policy::models::parse(f) {
                Ok(m) => Some(m.id),
                Err(_) => {
                    problems.at(at.to_owned(), format!("{f:?} is not a model id"));
                    None
                }
            })
            .collect();
        fallbacks.insert(key, ids);
    }
    Resilience {
        retry: RetryPolicy {
            max_retries: r.max_retries,
            statuses: r.retry_statuses.clone(),
            base: Duration::from_millis(r.backoff_base_ms),
            max: Duration::from_millis(r.backoff_max_ms.max(r.backoff_base_ms)),
            retry_after_cap: Duration::from_millis(r.retry_after_cap_ms),
            budget: Duration::from_millis(r.retry_budget_ms),
        },
        breaker_threshold: r.breaker_threshold.max(1),
        breaker_cooldown: Duration::from_millis(r.breaker_cooldown_ms),
        max_in_flight: r.max_in_flight.max(1),
        queue_timeout: Duration::from_millis(r.queue_timeout_ms),
        fallbacks,
    }
}

fn compile_audit(raw: &RawConfig, resolved: &Resolved, problems: &mut Problems) -> AuditSettings {
    let a = &raw.audit;
    let fsync = match a
        .fsync
        .or_problem("audit.fsync", FsyncMode::Always, problems)
    {
        FsyncMode::Always => Fsync::Always,
        FsyncMode::Interval if a.fsync_interval_ms > 0 => {
            Fsync::Interval(Duration::from_millis(a.fsync_interval_ms))
        }
        FsyncMode::Interval => {
            problems.at("audit.fsync_interval_ms", "must be greater than 0");
            Fsync::Always
        }
    };
    if a.financial_retention_days != 0
        && a.retention_days != 0
        && a.financial_retention_days < a.retention_days
    {
        problems.at(
            "audit.financial_retention_days",
            "must be at least audit.retention_days (or 0 to keep cost data forever)",
        );
    }
    if a.rotate_bytes < 4096 {
        problems.at("audit.rotate_bytes", "must be at least 4096");
    }
    let replica = a
        .replica_id
        .clone()
        .or_else(|| resolved.hostname.clone())
        .unwrap_or_else(|| "orguard".to_owned());
    // The replica id is a line of the signed checkpoint string and a witness file name.
    let replica_ok = !replica.is_empty()
        && replica.len() <= 128
        && !replica.starts_with('.')
        && replica
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !replica_ok {
        problems.at(
            "audit.replica_id",
            format!(
                "{replica:?} must be 1-128 of A-Z a-z 0-9 . - _ (set it when the host name is not)"
            ),
        );
    }
    let witness = compile_witness(a, problems);
    if resolved.audit_signer.is_none() && !witness.is_empty() {
        problems.at(
            "audit.witness_dir / audit.witness_postgres_url",
            "witnesses keep signed checkpoints; set audit.signing_key_file too",
        );
    }
    if a.checkpoint_every_records == 0 || a.checkpoint_every_seconds == 0 {
        problems.at(
            "audit.checkpoint_every_records / checkpoint_every_seconds",
            "must be greater than 0",
        );
    }
    let checkpoints =
        resolved
            .audit_signer
            .clone()
            .map(|signer| crate::audit::CheckpointSettings {
                signer,
                every_records: a.checkpoint_every_records.max(1),
                every: Duration::from_secs(a.checkpoint_every_seconds.max(1)),
                witness,
            });
    let sink = match a.sink.or_problem("audit.sink", SinkKind::Stdout, problems) {
        SinkKind::File => SinkSettings::File {
            dir: a.dir.clone(),
            fsync,
            rotate_bytes: a.rotate_bytes,
            retention_days: a.retention_days,
            financial_retention_days: a.financial_retention_days,
        },
        SinkKind::Stdout => SinkSettings::Stdout,
        SinkKind::Postgres => {
            let table = a.postgres_table.clone();
            if !crate::audit::sink::valid_table(&table) {
                problems.at(
                    "audit.postgres_table",
                    format!("{table:?} must be a lowercase SQL identifier"),
                );
            }
            let url = a.postgres_url.clone().unwrap_or_default();
            if url.is_empty() {
                problems.at(
                    "audit.postgres_url",
                    "required for sink = \"postgres\" (postgres://user@host/db)",
                );
            } else if let Err(e) = crate::postgres::Target::parse(&url) {
                problems.at("audit.postgres_url", format!("{e}"));
            }
            SinkSettings::Postgres {
                url: Secret::new(url),
                table,
                replica: replica.clone(),
                create: a.postgres_create,
            }
        }
    };
    let capture = compile_capture(raw, &sink, problems);
    AuditSettings {
        sink,
        capture,
        fail_open: a.fail_open,
        queue_capacity: a.queue_capacity.max(16),
        hmac_key: resolved.audit_hmac_key.clone(),
        replica,
        checkpoints,
    }
}

/// The capture writer, when some class sets `capture = "encrypted"`. Recipients are
/// checked whenever they are given (a typo is found before a class turns capture on).
fn compile_capture(
    raw: &RawConfig,
    sink: &SinkSettings,
    problems: &mut Problems,
) -> Option<std::sync::Arc<crate::audit::capture::Capture>> {
    let recipients = match crate::audit::capture::parse_recipients(&raw.audit.capture_recipients) {
        Ok(r) => r,
        Err(p) => {
            for (i, message) in p {
                problems.at(format!("audit.capture_recipients[{i}]"), message);
            }
            return None;
        }
    };
    let capturing: Vec<&String> = raw
        .classes
        .iter()
        .filter(|(_, c)| c.capture == Word::Known(CaptureMode::Encrypted))
        .map(|(name, _)| name)
        .collect();
    let first = capturing.first()?;
    if recipients.is_empty() {
        problems.at(
            format!("classes.{first}.capture"),
            "\"encrypted\" needs audit.capture_recipients (the auditor's age1… public keys)",
        );
        return None;
    }
    match sink {
        SinkSettings::File { dir, .. } => Some(std::sync::Arc::new(
            crate::audit::capture::Capture::new(dir.join(crate::audit::capture::DIR), recipients),
        )),
        SinkSettings::Stdout | SinkSettings::Postgres { .. } => {
            problems.at(
                format!("classes.{first}.capture"),
                "captures are stored beside the audit trail and need audit.sink = \"file\"",
            );
            None
        }
    }
}

fn compile_witness(
    a: &super::raw::RawAudit,
    problems: &mut Problems,
) -> crate::audit::witness::WitnessSettings {
    let postgres = a.witness_postgres_url.as_ref().map(|url| {
        if let Err(e) = crate::postgres::Target::parse(url) {
            problems.at("audit.witness_postgres_url", format!("{e}"));
        }
        if !crate::audit::sink::valid_table(&a.witness_postgres_table) {
            problems.at(
                "audit.witness_postgres_table",
                format!(
                    "{:?} must be a lowercase SQL identifier",
                    a.witness_postgres_table
                ),
            );
        }
        crate::audit::witness::PostgresWitness {
            url: Secret::new(url.clone()),
            table: a.witness_postgres_table.clone(),
            create: a.postgres_create,
        }
    });
    crate::audit::witness::WitnessSettings {
        dir: a.witness_dir.clone(),
        postgres,
    }
}

fn redact_policy(
    at: &str,
    c: &super::raw::RawClass,
    kinds: &[String],
    problems: &mut Problems,
) -> RedactPolicy {
    let default = c
        .redact
        .or_problem(format!("{at}.redact"), Action::Block, problems);
    let mut per_type = foldhash::HashMap::default();
    for (kind, action) in &c.redact_types {
        if !kinds.iter().any(|k| k == kind) {
            problems.at(
                format!("{at}.redact_types.{kind}"),
                format!("no detector has this type (known: {})", kinds.join(", ")),
            );
        }
        let action =
            action.or_problem(format!("{at}.redact_types.{kind}"), Action::Block, problems);
        per_type.insert(kind.clone(), action);
    }
    RedactPolicy { default, per_type }
}

/// `url` parsed, when it is a URL the gateway may send keys and prompts to.
fn check_url(
    at: &str,
    url: &str,
    allow_http: bool,
    problems: &mut Problems,
) -> Option<reqwest::Url> {
    match reqwest::Url::parse(url) {
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            problems.at(
                format!("{at}.base_url"),
                "credentials in the URL would be logged and printed; use the key settings instead",
            );
            None
        }
        Ok(u) => match u.scheme() {
            "https" => Some(u),
            "http" if allow_http => Some(u),
            "http" => {
                problems.at(format!("{at}.base_url"), format!("plain http sends the API key and prompts unencrypted; use https or set {at}.allow_insecure_http = true"));
                None
            }
            other => {
                problems.at(
                    format!("{at}.base_url"),
                    format!("unsupported scheme {other:?}"),
                );
                None
            }
        },
        Err(e) => {
            problems.at(format!("{at}.base_url"), format!("not a URL ({e})"));
            None
        }
    }
}

fn compile_extra_upstreams(
    raw: &RawConfig,
    resolved: &Resolved,
    ca_pem: &Option<Arc<[u8]>>,
    problems: &mut Problems,
) -> BTreeMap<String, ExtraUpstream> {
    let mut out = BTreeMap::new();
    for (name, up) in &raw.upstreams {
        let at = format!("upstreams.{name}");
        if name == "openrouter" {
            problems.at(at.clone(), "the name openrouter is reserved for [upstream]");
            continue;
        }
        let base_url = up.base_url.trim().trim_end_matches('/').to_owned();
        let Some(base) = check_url(&at, &base_url, up.allow_insecure_http, problems) else {
            continue;
        };
        // Timeouts and limits follow the main upstream's.
        let settings = UpstreamSettings {
            base_url,
            base,
            api_key: resolved.extra_keys.get(name).cloned(),
            connect_timeout: Duration::from_millis(raw.upstream.connect_timeout_ms),
            first_byte_timeout: Duration::from_millis(raw.upstream.first_byte_timeout_ms),
            idle_timeout: Duration::from_millis(raw.upstream.idle_timeout_ms),
            total_timeout: Duration::from_millis(raw.upstream.total_timeout_ms),
            max_response_bytes: raw.upstream.max_response_bytes,
            passthrough_paths: HashSet::new(),
            key_required: false,
            credit_poll: None,
            providers_refresh: None,
            models_refresh: None,
            management_key: None,
            // One client serves every upstream: it trusts the same bundle.
            ca_file: raw.upstream.ca_file.clone(),
            ca_pem: ca_pem.clone(),
        };
        let model_map = up
            .model_map
            .iter()
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.clone()))
            .collect();
        out.insert(
            name.clone(),
            ExtraUpstream {
                settings,
                model_map,
            },
        );
    }
    out
}

fn compile_policy(
    raw: &RawConfig,
    resolved: &Resolved,
    extra: &BTreeMap<String, ExtraUpstream>,
    detector_kinds: &[String],
    problems: &mut Problems,
) -> PolicySettings {
    let p = &raw.policy;
    let pii_raises_to =
        p.pii_raises_to
            .or_problem("policy.pii_raises_to", Class::Confidential, problems);
    let phi_raises_to = p
        .phi_raises_to
        .as_ref()
        .map(|w| w.or_problem("policy.phi_raises_to", Class::Restricted, problems));
    let client_overrides =
        p.client_overrides
            .or_problem("policy.client_overrides", Overrides::Deny, problems);
    let over_cap = p
        .over_cap
        .or_problem("policy.over_cap", OverCap::Deny, problems);
    // The pseudonym key: the configured file; else derived from the upstream key (stable
    // across replicas that share it); else random for this process.
    // The key behind `user` pseudonyms and `hash` tokens must be the organisation's own:
    // anything derived from the upstream credential could be recomputed by the upstream,
    // which sees the tokens. Without `policy.user_hmac_key_file` a random key is drawn per
    // process (pseudonyms are then stable only until restart), and `hash` is refused.
    let user_key = match &resolved.user_hmac_key {
        Some(k) => k.expose().as_bytes().to_vec(),
        None => {
            let mut k = vec![0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut k);
            k
        }
    };
    // Hash-mode redaction tokens: keyed like the pseudonyms, under their own label.
    let redact_key =
        crate::secret::hmac_sha256(&user_key, &[b"orguard redaction hash v1"]).to_vec();
    let mut classes: [Option<ClassPolicy>; 4] = [None, None, None, None];
    for (name, c) in &raw.classes {
        let at = format!("classes.{name}");
        let Some(class) = Class::parse(name).filter(|c| c.as_str() == name) else {
            problems.at(
                at.clone(),
                "unknown class; the classes are public, internal, confidential, restricted",
            );
            continue;
        };
        let models = model_patterns(&format!("{at}.models"), &c.models, problems);
        let mut providers = Vec::new();
        for (i, p) in c.providers.iter().enumerate() {
            let p = p.trim().to_ascii_lowercase();
            if p.is_empty()
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
            {
                problems.at(format!("{at}.providers[{i}]"), format!("{p:?} is not a provider slug (use slugs like \"openai\", \"google-vertex\")"));
            }
            providers.push(p);
        }
        let data_collection_deny = c.data_collection.or_problem(
            format!("{at}.data_collection"),
            DataCollection::Deny,
            problems,
        ) == DataCollection::Deny;
        let upstream = match c.upstream.as_str() {
            "openrouter" => UpstreamRef::OpenRouter,
            // Named in the file (its own problems, such as a bad URL, are reported there).
            other if extra.contains_key(other) || raw.upstreams.contains_key(other) => {
                UpstreamRef::Extra(other.to_owned())
            }
            other => {
                problems.at(
                    format!("{at}.upstream"),
                    format!("{other:?} is neither \"openrouter\" nor an [upstreams.NAME] table"),
                );
                UpstreamRef::OpenRouter
            }
        };
        if c.require_byok && upstream != UpstreamRef::OpenRouter {
            problems.at(format!("{at}.require_byok"), "only meaningful with upstream = \"openrouter\" (a self-hosted upstream is not BYOK)");
        }
        if !(1..=ABSURD_TOKENS).contains(&c.max_tokens) {
            problems.at(
                format!("{at}.max_tokens"),
                format!("must be between 1 and {ABSURD_TOKENS}"),
            );
        }
        let on_violation = match &c.on_violation {
            None if class >= Class::Confidential => OnViolation::Block,
            None => OnViolation::Flag,
            Some(w) => w.or_problem(format!("{at}.on_violation"), OnViolation::Block, problems),
        };
        let lower = |list: &[String]| list.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        let redaction = redact_policy(&at, c, detector_kinds, problems);
        // Content the gateway cannot read passes by default only where the class would
        // have nothing to redact or block in it anyway: SECRET is blocked in every class
        // unless it says otherwise, so in practice an explicit `allow_images = true`.
        let redacts_anything = redaction.default != Action::Allow
            || redaction.action(crate::redact::detectors::SECRET) != Action::Allow
            || redaction.per_type.values().any(|a| *a != Action::Allow);
        if let Some(slot) = classes.get_mut(class.index()) {
            *slot = Some(ClassPolicy {
                class,
                models,
                providers,
                allow_free_models: c.allow_free_models,
                allow_web: c.allow_web,
                allow_tiers: c.allow_tiers,
                allow_routers: lower(&c.allow_routers),
                allow_plugins: lower(&c.allow_plugins),
                allow_server_tools: c.allow_server_tools,
                allow_trace: c.allow_trace,
                allow_cache: c.allow_cache,
                allow_images: c.allow_images.unwrap_or(!redacts_anything),
                allow_audio: c.allow_audio.unwrap_or(!redacts_anything),
                allow_files: c.allow_files.unwrap_or(!redacts_anything),
                allow_token_input: c.allow_token_input.unwrap_or(!redacts_anything),
                allow_fallbacks: c.allow_fallbacks,
                data_collection_deny,
                zdr: c.zdr,
                require_byok: c.require_byok,
                upstream,
                allow_legacy_completions: c.allow_legacy_completions,
                redaction,
                fallbacks: c
                    .fallbacks
                    .iter()
                    .enumerate()
                    .filter_map(|(i, f)| match crate::policy::models::parse(f) {
                        Ok(m) => Some(m.id),
                        Err(_) => {
                            problems.at(
                                format!("{at}.fallbacks[{i}]"),
                                format!("{f:?} is not a model id"),
                            );
                            None
                        }
                    })
                    .collect(),
                scan_responses: c.scan_responses.or_problem(
                    format!("{at}.scan_responses"),
                    OutputScan::Off,
                    problems,
                ),
                max_tokens: c.max_tokens,
                on_violation,
                capture: c
                    .capture
                    .or_problem(format!("{at}.capture"), CaptureMode::Off, problems),
            });
            // A class-level fallback that its own class would refuse is a config error,
            // not something to find out mid-incident.
            if let Some(Some(policy)) = classes.get(class.index()) {
                for (i, f) in policy.fallbacks.iter().enumerate() {
                    let allowed = crate::policy::models::parse(f)
                        .is_ok_and(|m| crate::policy::models::check(&m, policy).is_ok());
                    if !allowed {
                        problems.at(
                            format!("{at}.fallbacks[{i}]"),
                            format!("{f:?} is not allowed by this class's models and variants"),
                        );
                    }
                }
            }
        }
    }
    let uses_hash = classes.iter().flatten().any(|c| {
        c.redaction.default == Action::Hash
            || c.redaction.per_type.values().any(|a| *a == Action::Hash)
    });
    if uses_hash && resolved.user_hmac_key.is_none() {
        problems.at("policy.user_hmac_key_file", "required when a class uses redact = \"hash\" (the tokens must be keyed by a secret only the organisation holds)");
    }
    PolicySettings {
        pii_raises_to,
        phi_raises_to,
        client_overrides,
        over_cap,
        user_key,
        redact_key,
        classes,
        provider_names: ProviderNames::new(&raw.provider_names),
    }
}

#[cfg(test)]
mod tests {
    use super::super::from_toml;

    /// Every setting that takes a word, each given one it does not know: all are reported
    /// at once, each as a problem at its own key, naming the words it takes.
    #[test]
    fn every_unknown_word_is_a_problem_at_its_key() {
        let err = from_toml(
            r#"
            [log]
            format = "yaml"
            [state]
            backend = "etcd"
            budget_on_error = "panic"
            rate_on_error = "shrug"
            [detectors]
            presidio_on_error = "retry"
            [audit]
            sink = "syslog"
            fsync = "never"
            [policy]
            pii_raises_to = "secret"
            phi_raises_to = "top"
            client_overrides = "widen"
            over_cap = "truncate"
            [classes.public]
            data_collection = "maybe"
            redact = "mask"
            redact_types = { EMAIL = "drop" }
            scan_responses = "always"
            on_violation = "ignore"
            capture = "plain"
            [[keys]]
            id = "a"
            service = "s"
            sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
            default_class = "secret"
            min_class = "lowest"
            budget_period = "week"
            "#,
            None,
        )
        .unwrap_err();
        for (path, word, expected) in [
            ("log.format", "yaml", "`json`"),
            ("state.backend", "etcd", "`redis`"),
            ("state.budget_on_error", "panic", "`fail_closed`"),
            ("state.rate_on_error", "shrug", "`fail_open`"),
            ("detectors.presidio_on_error", "retry", "`fail_open`"),
            ("audit.sink", "syslog", "`postgres`"),
            ("audit.fsync", "never", "`interval`"),
            ("policy.pii_raises_to", "secret", "`restricted`"),
            ("policy.phi_raises_to", "top", "`restricted`"),
            ("policy.client_overrides", "widen", "`narrow_only`"),
            ("policy.over_cap", "truncate", "`clamp`"),
            ("classes.public.data_collection", "maybe", "`deny`"),
            ("classes.public.redact", "mask", "`placeholder`"),
            ("classes.public.redact_types.EMAIL", "drop", "`hash`"),
            ("classes.public.scan_responses", "always", "`flag`"),
            ("classes.public.on_violation", "ignore", "`block`"),
            ("classes.public.capture", "plain", "`encrypted`"),
            ("keys[0].default_class", "secret", "`internal`"),
            ("keys[0].min_class", "lowest", "`public`"),
            ("keys[0].budget_period", "week", "`month`"),
        ] {
            let found = err.problems.iter().find(|p| p.path == path);
            let Some(problem) = found else {
                panic!("no problem at {path} in:\n{err}");
            };
            assert!(
                problem.message.contains(word) && problem.message.contains(expected),
                "{path}: {}",
                problem.message
            );
        }
    }

    #[test]
    fn words_ignore_case_and_spaces_as_class_names_always_did() {
        let snap = from_toml(
            "[policy]\nover_cap = \"Deny\"\npii_raises_to = \" Restricted \"\n",
            None,
        )
        .unwrap();
        assert_eq!(snap.policy.over_cap, crate::policy::OverCap::Deny);
        assert_eq!(snap.policy.raises().pii, crate::policy::Class::Restricted);
    }

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
        let all = super::super::join(&err.problems, "\n");
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
    fn the_upstream_key_can_come_from_a_mounted_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "  mounted-secret-value\n").unwrap();
        let toml = format!("[upstream]\napi_key_file = \"{}\"\n", path.display());
        let snap = from_toml(&toml, None).unwrap();
        assert_eq!(
            snap.upstream.api_key.unwrap().expose(),
            "mounted-secret-value"
        );
        // The environment variable wins over the file.
        let snap = from_toml(&toml, Some("from-env".into())).unwrap();
        assert_eq!(snap.upstream.api_key.unwrap().expose(), "from-env");
        let missing = format!(
            "[upstream]\napi_key_file = \"{}\"\n",
            dir.path().join("nope").display()
        );
        let err = from_toml(&missing, None).unwrap_err();
        assert!(err.to_string().contains("upstream.api_key_file"), "{err}");
    }

    #[test]
    fn presidio_keys_are_checked_and_only_an_http_url_is_accepted() {
        let err = from_toml(
            r#"
            [detectors]
            presidio_url = "file:///run/presidio.sock"
            presidio_entities = ["PERSON", "location"]
            presidio_score_threshold = 1.5
            presidio_timeout_ms = 0
            presidio_on_error = "ignore"
            presidio_language = ""
            "#,
            None,
        )
        .unwrap_err();
        let all = super::super::join(&err.problems, "\n");
        for key in [
            "detectors.presidio_url: must be an http:// or https:// URL",
            "detectors.presidio_entities[1]",
            "detectors.presidio_score_threshold",
            "detectors.presidio_timeout_ms",
            "detectors.presidio_on_error",
            "detectors.presidio_language",
        ] {
            assert!(all.contains(key), "missing {key} in:\n{all}");
        }
        for url in ["ftp://host/", "http://user:pw@127.0.0.1:5002", "not a url"] {
            let toml = format!("[detectors]\npresidio_url = \"{url}\"\n");
            let err = from_toml(&toml, None).unwrap_err();
            assert!(err.to_string().contains("detectors.presidio_url"), "{err}");
            assert!(
                !err.to_string().contains("pw@"),
                "the URL is not echoed: {err}"
            );
        }
    }

    #[test]
    fn presidio_is_off_by_default_and_its_types_join_the_policy_tables() {
        let snap = from_toml("", None).unwrap();
        assert!(snap.presidio.is_none());
        let snap = from_toml(
            r#"
            [detectors]
            presidio_url = "http://127.0.0.1:5002/"
            presidio_entities = ["PERSON", "LOCATION", "NRP"]
            [classes.internal]
            models = ["*"]
            redact_types = { NRP = "block", ADDRESS = "redact" }
            "#,
            None,
        )
        .unwrap();
        let p = snap.presidio.unwrap();
        assert_eq!(p.analyze_url.as_str(), "http://127.0.0.1:5002/analyze");
        assert_eq!(
            p.entities,
            [
                ("PERSON".to_owned(), "PERSON"),
                ("LOCATION".to_owned(), "ADDRESS"),
                ("NRP".to_owned(), "NRP")
            ]
        );
        assert_eq!(p.on_error, crate::redact::presidio::OnError::FailClosed);
        assert_eq!(p.timeout, std::time::Duration::from_millis(2000));
        // Without the analyzer, a type only it finds is not one a class may name.
        let err = from_toml(
            "[classes.internal]\nmodels = [\"*\"]\nredact_types = { NRP = \"block\" }\n",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("redact_types.NRP"), "{err}");
    }

    #[test]
    fn unknown_and_mistyped_keys_name_the_key() {
        let err = from_toml("[server]\ndrain_secs = 3\n", None).unwrap_err();
        assert!(err.to_string().contains("drain_secs"), "{err}");
        let err = from_toml("[server]\ndrain_seconds = \"soon\"\n", None).unwrap_err();
        assert!(err.to_string().contains("drain_seconds"), "{err}");
    }
}
