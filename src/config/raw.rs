//! The serde shape of the configuration file, with defaults.
//!
//! Every table denies unknown fields so a misspelled key (`drain_secs`, `zrd`) fails at start
//! instead of silently doing nothing. Defaults live here (not in a serialized provider) so that
//! secrets never have to round-trip through `Serialize`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::word::Word;
use super::LogFormat;
use crate::data_class::Class;
use crate::limits::Period;
use crate::on_error::OnError;
use crate::policy::{CaptureMode, OnViolation, OverCap, Overrides};
use crate::redact::{Action, OutputScan};

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
    /// Request-wide policy settings.
    pub policy: RawPolicy,
    /// One table per data class (`public`, `internal`, `confidential`, `restricted`).
    pub classes: BTreeMap<String, RawClass>,
    /// Other upstreams a class may be routed to (only `selfhosted` today).
    pub upstreams: BTreeMap<String, RawExtraUpstream>,
    /// Extra or corrected provider display name → slug mappings, on top of the built-in table.
    pub provider_names: BTreeMap<String, String>,
    /// The audit trail.
    pub audit: RawAudit,
    /// Content detectors beyond the built-in ones.
    pub detectors: RawDetectors,
    /// Retries, fallbacks, circuit breakers and load shedding.
    pub resilience: RawResilience,
    /// Where budget and rate-limit counters live (one replica: memory; several: Redis).
    pub state: RawState,
    /// Model prices in USD per million tokens, ahead of the upstream catalog's (self-hosted
    /// models, negotiated prices). Used for budget reservations and missing `usage.cost`.
    pub prices: BTreeMap<String, RawPrice>,
    /// The operator listener (`/admin/keys`, `/metrics`, `/healthz`).
    pub admin: RawAdmin,
    /// Traces exported over OTLP (off unless `otlp_endpoint` is set).
    pub telemetry: RawTelemetry,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTelemetry {
    /// The collector's base URL (`http://otel-collector:4318`); `/v1/traces` is appended, as
    /// with `OTEL_EXPORTER_OTLP_ENDPOINT`. Unset: no traces at all.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// How long finished spans wait to be sent in one batch.
    pub batch_delay_ms: u64,
    /// How long one export may take before it is abandoned.
    pub export_timeout_ms: u64,
}

impl Default for RawTelemetry {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "orguard".to_owned(),
            batch_delay_ms: 5_000,
            export_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawState {
    /// `memory` (one replica) or `redis` (counters shared by every replica).
    pub backend: Word<BackendKind>,
    /// `redis://host:6379/0` (may carry a password: prefer ORGUARD_STATE__REDIS_URL).
    pub redis_url: Option<String>,
    /// Prefix of every Redis key orguard writes (several gateways can share one Redis).
    pub key_prefix: String,
    /// Longest wait for Redis on a request path before the failure mode applies.
    pub timeout_ms: u64,
    /// `fail_closed` (default: no spend without accounting) or `fail_open`.
    pub budget_on_error: Word<OnError>,
    /// `fail_open` (default: a limiter outage is not an outage of every app) or `fail_closed`.
    pub rate_on_error: Word<OnError>,
    /// Budget reservation for a request whose model has no known price.
    pub unknown_price_reservation_usd: f64,
}

impl Default for RawState {
    fn default() -> Self {
        Self {
            backend: BackendKind::Memory.into(),
            redis_url: None,
            key_prefix: "orguard".to_owned(),
            timeout_ms: 250,
            budget_on_error: OnError::FailClosed.into(),
            rate_on_error: OnError::FailOpen.into(),
            unknown_price_reservation_usd: 0.10,
        }
    }
}

/// A model's price, USD per million tokens (and per request).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPrice {
    pub prompt: f64,
    pub completion: f64,
    pub request: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAdmin {
    /// Address of the operator listener; unset: no admin listener (and no `/admin/keys`).
    pub listen: Option<String>,
    /// SHA-256 (lowercase hex) of the bearer token `/admin/*` requires.
    pub token_sha256: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawResilience {
    /// Retries per model after the first attempt.
    pub max_retries: u32,
    /// Upstream statuses worth retrying (connect errors and timeouts always are).
    pub retry_statuses: Vec<u16>,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// The longest `Retry-After` honoured.
    pub retry_after_cap_ms: u64,
    /// Total time one request may spend waiting between attempts.
    pub retry_budget_ms: u64,
    /// Consecutive failures that open a model's circuit breaker.
    pub breaker_threshold: u32,
    pub breaker_cooldown_ms: u64,
    /// Upstream requests in flight at once (streams included); beyond it, requests wait.
    pub max_in_flight: usize,
    /// How long a request waits for a slot before 503 with `Retry-After`.
    pub queue_timeout_ms: u64,
    /// Per model: the models to try, in order, when it fails or its breaker is open.
    /// Each must be allowed by the request's class, or it is skipped.
    pub fallbacks: BTreeMap<String, Vec<String>>,
}

impl Default for RawResilience {
    fn default() -> Self {
        Self {
            max_retries: 2,
            retry_statuses: vec![429, 500, 502, 503, 504],
            backoff_base_ms: 250,
            backoff_max_ms: 4_000,
            retry_after_cap_ms: 10_000,
            retry_budget_ms: 15_000,
            breaker_threshold: 3,
            breaker_cooldown_ms: 30_000,
            max_in_flight: 1024,
            queue_timeout_ms: 2_000,
            fallbacks: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDetectors {
    /// Extra patterns, each with its own type name (`PROJECT_CODE`).
    pub custom: Vec<RawCustomDetector>,
    /// Words and phrases (project code names) found case-insensitively as whole words;
    /// type `DENY_TERM`.
    pub deny_terms: Vec<String>,
    /// A Presidio analyzer's base URL (`http://127.0.0.1:5002`): asked about every request's
    /// text when set. It is sent the prompt text, so it must be a trusted local service.
    pub presidio_url: Option<String>,
    /// The Presidio entities asked for (`PERSON`, `LOCATION`, …).
    pub presidio_entities: Vec<String>,
    /// Findings scored below this (0 to 1) are ignored.
    pub presidio_score_threshold: f64,
    /// The `language` the analyzer reads the text in.
    pub presidio_language: String,
    /// Longest wait for the analyzer's answer, connect included.
    pub presidio_timeout_ms: u64,
    /// `fail_closed` (default: no request leaves uninspected) or `fail_open`.
    pub presidio_on_error: Word<OnError>,
}

impl Default for RawDetectors {
    fn default() -> Self {
        Self {
            custom: Vec::new(),
            deny_terms: Vec::new(),
            presidio_url: None,
            presidio_entities: vec!["PERSON".to_owned(), "LOCATION".to_owned()],
            presidio_score_threshold: 0.5,
            presidio_language: "en".to_owned(),
            presidio_timeout_ms: 2000,
            presidio_on_error: OnError::FailClosed.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomDetector {
    /// Uppercase type name, as used in `redact_types` and the audit.
    pub name: String,
    /// A regular expression (Rust `regex` syntax: no look-around, linear time).
    pub pattern: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    /// `file`, `stdout` or `postgres`.
    pub sink: Word<SinkKind>,
    /// Directory of the file sink.
    pub dir: PathBuf,
    /// `always`: each request record is on disk before the request goes upstream (group
    /// commit); `interval`: fsync every `fsync_interval_ms`.
    pub fsync: Word<FsyncMode>,
    pub fsync_interval_ms: u64,
    /// Start a new file past this size (and at each UTC day).
    pub rotate_bytes: u64,
    /// Delete audit files older than this; 0 keeps them forever.
    pub retention_days: u32,
    /// Files holding `response` records (cost data) are kept this long; 0 = forever.
    pub financial_retention_days: u32,
    /// Forward requests even when their `request` record cannot be stored. Off: 503.
    pub fail_open: bool,
    pub queue_capacity: usize,
    /// Key for `prompt_sha256` (HMAC-SHA-256) so short prompts cannot be brute-forced.
    pub hmac_key_file: Option<PathBuf>,
    /// `postgres://…` for the postgres sink (may carry a password: prefer the env var
    /// ORGUARD_AUDIT__POSTGRES_URL).
    pub postgres_url: Option<String>,
    pub postgres_table: String,
    /// Create the table and its append-only trigger at start (needs CREATE rights).
    pub postgres_create: bool,
    /// This replica's chain name in a shared table and in its checkpoints; default:
    /// `$HOSTNAME`.
    pub replica_id: Option<String>,
    /// Ed25519 private key (`orguard audit keygen`): the writer signs checkpoints with it.
    pub signing_key_file: Option<PathBuf>,
    /// A signed checkpoint after this many records…
    pub checkpoint_every_records: u64,
    /// …or this many seconds after the first unsigned record, whichever comes first.
    pub checkpoint_every_seconds: u64,
    /// A directory on another volume that keeps a copy of every checkpoint.
    pub witness_dir: Option<PathBuf>,
    /// A Postgres database (not the audit one) that keeps a copy of every checkpoint.
    pub witness_postgres_url: Option<String>,
    pub witness_postgres_table: String,
    /// age X25519 recipients (`age1…`) that captures (`classes.*.capture = "encrypted"`)
    /// are encrypted to. Public keys only: the gateway cannot read its own captures.
    pub capture_recipients: Vec<String>,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self {
            sink: SinkKind::File.into(),
            dir: PathBuf::from("audit"),
            fsync: FsyncMode::Always.into(),
            fsync_interval_ms: 1000,
            rotate_bytes: 100 * 1024 * 1024,
            retention_days: 0,
            financial_retention_days: 0,
            fail_open: false,
            queue_capacity: 8192,
            hmac_key_file: None,
            postgres_url: None,
            postgres_table: "orguard_audit".to_owned(),
            postgres_create: true,
            replica_id: None,
            signing_key_file: None,
            checkpoint_every_records: 1000,
            checkpoint_every_seconds: 60,
            witness_dir: None,
            witness_postgres_url: None,
            witness_postgres_table: "orguard_audit_witness".to_owned(),
            capture_recipients: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPolicy {
    /// Class a request is raised to (at least) when content detectors find PII.
    pub pii_raises_to: Word<Class>,
    /// Class a request is raised to (at least) when health identifiers (PHI types) are
    /// found; unset: PHI raises like any PII. The stricter of the two wins.
    pub phi_raises_to: Option<Word<Class>>,
    /// `narrow_only`: client routing fields that would widen policy are overridden;
    /// `deny`: such requests are refused.
    pub client_overrides: Word<Overrides>,
    /// `clamp`: token limits above the class cap are lowered; `deny`: refused.
    pub over_cap: Word<OverCap>,
    /// Key for the HMAC that pseudonymises `user`; default: derived from the upstream key.
    pub user_hmac_key_file: Option<PathBuf>,
    /// `orguard check` warns about client keys older than this (rotation).
    pub key_max_age_days: u32,
}

impl Default for RawPolicy {
    fn default() -> Self {
        Self {
            pii_raises_to: Class::Confidential.into(),
            phi_raises_to: None,
            client_overrides: Overrides::NarrowOnly.into(),
            over_cap: OverCap::Clamp.into(),
            user_hmac_key_file: None,
            key_max_age_days: 90,
        }
    }
}

/// What one data class may reach. Everything not granted is denied.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawClass {
    /// Model id patterns (`openai/gpt-4o`, `anthropic/claude-*`, `*`). Exact unless `*` is written.
    pub models: Vec<String>,
    /// Provider slugs, in preference order. Empty: any provider.
    pub providers: Vec<String>,
    pub allow_free_models: bool,
    /// `:online` variants, the `web` plugin and `web_search_options`.
    pub allow_web: bool,
    /// `:nitro` / `:floor` (priority and flex tiers).
    pub allow_tiers: bool,
    /// Routers, `~…-latest` aliases and `@preset/…` names this class may use, by exact name.
    pub allow_routers: Vec<String>,
    /// Plugin ids this class may use.
    pub allow_plugins: Vec<String>,
    /// Non-`function` tools (OpenRouter server tools such as web search).
    pub allow_server_tools: bool,
    /// The `trace` field (sent on to external observability destinations).
    pub allow_trace: bool,
    /// `X-OpenRouter-Cache*` request headers (edge response caching).
    pub allow_cache: bool,
    /// Images, audio and files (base64 or by URL), which orguard cannot inspect, may pass.
    /// Default: false for any class that redacts or blocks anything (SECRET is blocked in
    /// every class unless `redact_types` allows it).
    pub allow_images: Option<bool>,
    pub allow_audio: Option<bool>,
    pub allow_files: Option<bool>,
    /// A prompt or embeddings input sent as token ids (`[1234, 5678]`) may pass: the
    /// upstream decodes them with the model's tokenizer, so the gateway cannot read them.
    /// Same default as the media settings.
    pub allow_token_input: Option<bool>,
    /// OpenRouter's `provider.allow_fallbacks`.
    pub allow_fallbacks: bool,
    /// `allow` or `deny` (providers that store or train on data).
    pub data_collection: Word<DataCollection>,
    /// Zero-data-retention endpoints only.
    pub zdr: bool,
    /// The response must prove `usage.is_byok = true`.
    pub require_byok: bool,
    /// `openrouter` or the name of an `[upstreams.NAME]` table.
    pub upstream: String,
    /// Let `/completions` through even though provider pinning there is unconfirmed upstream.
    pub allow_legacy_completions: bool,
    /// What happens to detected personal data: `allow`, `redact`, `placeholder`, `hash`,
    /// or `block`. `SECRET` is blocked unless `redact_types` says otherwise.
    pub redact: Word<Action>,
    /// Per-type overrides (`{ EMAIL = "hash", SECRET = "block" }`).
    pub redact_types: BTreeMap<String, Word<Action>>,
    /// Scan the model's output too: `off`, `flag` (log and audit the types found) or
    /// `redact` (replace them with `[TYPE]`).
    pub scan_responses: Word<OutputScan>,
    /// Models the gateway falls back to, in order, for any model of this class that fails
    /// (after `[resilience.fallbacks]` for that model). Each must match `models`.
    pub fallbacks: Vec<String>,
    /// Cap for `max_tokens` / `max_completion_tokens` / `max_output_tokens` and the reasoning
    /// budgets `reasoning.max_tokens` / `thinking.budget_tokens`.
    pub max_tokens: u64,
    /// `block` or `flag` when the response shows a provider, model or BYOK state outside policy.
    /// Default: `block` for confidential and restricted, `flag` below.
    pub on_violation: Option<Word<OnViolation>>,
    /// `off` or `encrypted`: the request as forwarded and the response as delivered are
    /// stored encrypted to `audit.capture_recipients` beside the audit trail.
    pub capture: Word<CaptureMode>,
}

impl Default for RawClass {
    fn default() -> Self {
        Self {
            models: Vec::new(),
            providers: Vec::new(),
            allow_free_models: false,
            allow_web: false,
            allow_tiers: false,
            allow_images: None,
            allow_audio: None,
            allow_files: None,
            allow_token_input: None,
            allow_routers: Vec::new(),
            allow_plugins: Vec::new(),
            allow_server_tools: false,
            allow_trace: false,
            allow_cache: false,
            allow_fallbacks: false,
            data_collection: DataCollection::Deny.into(),
            zdr: false,
            require_byok: false,
            upstream: "openrouter".to_owned(),
            allow_legacy_completions: false,
            redact: Action::Allow.into(),
            redact_types: BTreeMap::new(),
            scan_responses: OutputScan::Off.into(),
            fallbacks: Vec::new(),
            max_tokens: 4096,
            on_violation: None,
            capture: CaptureMode::Off.into(),
        }
    }
}

/// An OpenAI-compatible upstream other than OpenRouter (a self-hosted model server).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExtraUpstream {
    pub base_url: String,
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Env var holding its API key (optional: many self-hosted servers need none).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// File holding its API key.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// OpenRouter model id → the name this server knows the model by.
    #[serde(default)]
    pub model_map: BTreeMap<String, String>,
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
    /// Time allowed to receive a request body (408 after).
    pub body_timeout_ms: u64,
    /// On SIGTERM, how long in-flight requests and streams may take to finish.
    pub drain_seconds: u64,
    /// Proxies in front of the gateway that append the client's address to
    /// `X-Forwarded-For` (a load balancer: 1). 0 trusts no header: the audit records the
    /// socket's peer address.
    pub trusted_proxy_hops: usize,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            max_body_bytes: 4 * 1024 * 1024,
            max_decompressed_bytes: 4 * 1024 * 1024,
            max_json_depth: 64,
            body_timeout_ms: 30_000,
            drain_seconds: 30,
            trusted_proxy_hops: 0,
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
    /// A file holding an OpenRouter management key, used only to poll the account's credit
    /// balance (`GET /credits`). Opt-in: a management key can create keys.
    pub management_key_file: Option<PathBuf>,
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
    /// How often the upstream key's credit is polled (`GET /key`) for the metrics; 0 = off.
    pub credit_poll_seconds: u64,
    /// How often provider display names are refreshed from `GET /providers`; 0 = off.
    pub providers_refresh_seconds: u64,
    /// How often model prices are refreshed from `GET /models` (only while a key has a
    /// budget); 0 = off.
    pub models_refresh_seconds: u64,
    /// A PEM bundle of CA certificates to trust for the upstream, on top of the system
    /// trust store and the bundled web PKI roots (a private CA, a TLS-inspecting proxy).
    pub ca_file: Option<PathBuf>,
}

impl Default for RawUpstream {
    fn default() -> Self {
        Self {
            base_url: "https://openrouter.ai/api/v1".to_owned(),
            allow_insecure_http: false,
            api_key_file: None,
            management_key_file: None,
            connect_timeout_ms: 5_000,
            first_byte_timeout_ms: 120_000,
            idle_timeout_ms: 60_000,
            total_timeout_ms: 600_000,
            max_response_bytes: 32 * 1024 * 1024,
            passthrough_paths: Vec::new(),
            credit_poll_seconds: 300,
            providers_refresh_seconds: 3600,
            models_refresh_seconds: 3600,
            ca_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// `text` for people, `json` for log pipelines.
    pub format: Word<LogFormat>,
    /// A `tracing` filter (`info`, `orguard=debug`). `RUST_LOG` wins if set.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: LogFormat::Text.into(),
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
    /// RFC 3339 instant the key was issued (`orguard check` warns past `key_max_age_days`).
    #[serde(default)]
    pub created: Option<String>,
    /// Class of a request that declares none.
    #[serde(default = "default_class")]
    pub default_class: Word<Class>,
    /// Lowest class this key's requests can have, whatever they declare. Unset: the key's
    /// `default_class`, so a key cannot declare itself down to `public` unless the operator
    /// wrote that down.
    #[serde(default)]
    pub min_class: Option<Word<Class>>,
    /// Spend limit in USD per `budget_period` (from `usage.cost`); unset: no budget.
    #[serde(default)]
    pub budget_usd: Option<f64>,
    /// `day` (resets 00:00 UTC) or `month` (resets on the 1st, 00:00 UTC).
    #[serde(default = "budget_period")]
    pub budget_period: Word<Period>,
    /// Requests per minute; unset: unlimited.
    #[serde(default)]
    pub rpm: Option<u64>,
    /// Tokens (prompt + completion) per minute; unset: unlimited.
    #[serde(default)]
    pub tpm: Option<u64>,
    /// Model id patterns narrowing what this key's classes allow (empty: no narrowing).
    #[serde(default)]
    pub allowed_models: Vec<String>,
    /// This service's own OpenRouter key (a file), used instead of the gateway's for its
    /// OpenRouter traffic: OpenRouter then enforces a credit limit per service too.
    #[serde(default)]
    pub upstream_key_file: Option<PathBuf>,
}

fn budget_period() -> Word<Period> {
    Period::Month.into()
}

fn default_class() -> Word<Class> {
    Class::Internal.into()
}

/// `state.backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// One replica: counters in this process.
    Memory,
    /// Counters shared by every replica.
    Redis,
}

/// `audit.sink`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    File,
    Stdout,
    Postgres,
}

/// `audit.fsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncMode {
    Always,
    Interval,
}

/// A class's `data_collection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataCollection {
    Allow,
    Deny,
}
