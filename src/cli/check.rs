//! `orguard check`: production readiness as PASS / WARN / FAIL lines, exit code 1 on any
//! FAIL (`--json` for CI gates). It talks to the real upstream with the gateway's key
//! (`GET /key`, `GET /models`, one 1-token request unless `--no-test-request`), and never
//! prints a key, a hash or a secret it finds — only where it found it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::audit::SinkSettings;
use crate::config::{self, Snapshot, Source};
use crate::policy::Class;
use crate::redact::{detectors::SECRET, Detectors};
use crate::upstream::{self, Outbound};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

struct Finding {
    check: &'static str,
    status: Status,
    detail: String,
}

#[derive(Default)]
struct Report(Vec<Finding>);

impl Report {
    fn add(&mut self, check: &'static str, status: Status, detail: impl Into<String>) {
        self.0.push(Finding {
            check,
            status,
            detail: detail.into(),
        });
    }
}

/// Options of `orguard check`.
pub struct Options {
    pub scan: Option<PathBuf>,
    pub json: bool,
    pub min_credit: f64,
    pub test_request: bool,
}

pub fn run(source: &Source, options: &Options) -> ExitCode {
    let mut report = Report::default();
    match config::load(source) {
        Ok(snapshot) => {
            report.add(
                "config",
                Status::Pass,
                format!("valid ({})", source.describe()),
            );
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(checks(&snapshot, options, &mut report)),
                Err(e) => report.add("runtime", Status::Fail, e.to_string()),
            }
        }
        Err(e) => report.add("config", Status::Fail, e.to_string()),
    }
    print(&report, options.json);
    if report.0.iter().any(|f| f.status == Status::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print(report: &Report, json: bool) {
    let count = |s: Status| report.0.iter().filter(|f| f.status == s).count();
    let text = if json {
        let checks: Vec<Value> = report
            .0
            .iter()
            .map(|f| json!({"check": f.check, "status": f.status.as_str(), "detail": f.detail}))
            .collect();
        let summary = json!({"pass": count(Status::Pass), "warn": count(Status::Warn), "fail": count(Status::Fail)});
        format!("{}\n", json!({"checks": checks, "summary": summary}))
    } else {
        let mut t: String = report
            .0
            .iter()
            .map(|f| format!("{:<5} {:<18} {}\n", f.status.as_str(), f.check, f.detail))
            .collect();
        t.push_str(&format!(
            "{} pass, {} warn, {} fail\n",
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail)
        ));
        t
    };
    use std::io::Write;
    let _ = std::io::stdout()
        .lock()
        .write_all(crate::secret::mask_text(&text).as_bytes());
}

async fn checks(snapshot: &Snapshot, options: &Options, report: &mut Report) {
    let up = &snapshot.upstream;
    if up.base_url.starts_with("https://") {
        report.add("upstream_url", Status::Pass, up.base_url.clone());
    } else {
        report.add(
            "upstream_url",
            Status::Warn,
            format!(
                "{} is plain http (allowed by upstream.allow_insecure_http)",
                up.base_url
            ),
        );
    }
    keys(snapshot, report);
    audit_sink(snapshot, report).await;
    state_store(snapshot, report).await;
    presidio(snapshot, report).await;
    if let Some(dir) = &options.scan {
        scan(dir, &snapshot.detectors, report);
    }
    if up.api_key.is_none() {
        report.add(
            "upstream_key",
            Status::Fail,
            "no upstream key: set OPENROUTER_API_KEY or upstream.api_key_file",
        );
        return;
    }
    report.add("upstream_key", Status::Pass, "configured");
    let client = match upstream::build_client(up) {
        Ok(c) => c,
        Err(e) => return report.add("upstream_client", Status::Fail, e.to_string()),
    };
    key_state(&client, snapshot, options.min_credit, report).await;
    models_exist(&client, snapshot, report).await;
    service_keys(&client, snapshot, report).await;
    if options.test_request {
        test_requests(&client, snapshot, report).await;
    }
}

/// GET a path below the upstream root; the status and the parsed body.
async fn get(
    client: &reqwest::Client,
    snapshot: &Snapshot,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    get_as(client, snapshot, path, body, None).await
}

/// As [`get`], with another upstream key than the gateway's (a service's own).
async fn get_as(
    client: &reqwest::Client,
    snapshot: &Snapshot,
    path: &str,
    body: Option<Value>,
    key: Option<crate::secret::Secret>,
) -> Result<(u16, Value), String> {
    let up = &snapshot.upstream;
    let outbound = Outbound {
        method: if body.is_some() {
            Method::POST
        } else {
            Method::GET
        },
        path_and_query: path.to_owned(),
        body: body.map(|b| Bytes::from(b.to_string())),
        forward_cache_headers: false,
        api_key: key,
        trace_headers: Vec::new(),
    };
    // The cause (DNS, refused, certificate, proxy) is what an operator needs here.
    let sent = upstream::send_explained(client, up, None, &HeaderMap::new(), outbound)
        .await
        .map_err(|f| match f.cause {
            Some(cause) => format!("{} ({cause})", f.error),
            None => f.error.to_string(),
        })?;
    let status = sent.response.status().as_u16();
    let bytes = upstream::read_capped(sent.response, up.idle_timeout, sent.deadline, 32 << 20)
        .await
        .map_err(|e| e.to_string())?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn key_state(
    client: &reqwest::Client,
    snapshot: &Snapshot,
    min_credit: f64,
    report: &mut Report,
) {
    let (status, v) = match get(client, snapshot, "/key", None).await {
        Ok(r) => r,
        Err(e) => {
            return report.add(
                "upstream_auth",
                Status::Fail,
                format!("GET /key failed: {e}"),
            )
        }
    };
    if !(200..300).contains(&status) {
        return report.add(
            "upstream_auth",
            Status::Fail,
            format!("GET /key answered {status}: the upstream key is rejected"),
        );
    }
    report.add(
        "upstream_auth",
        Status::Pass,
        "the upstream key authenticates",
    );
    let data = v.get("data").unwrap_or(&v);
    if data.get("is_free_tier").and_then(Value::as_bool) == Some(true) {
        report.add("free_tier", Status::Fail, "the upstream account is on the free tier (low rate limits; free endpoints may train on or publish prompts)");
    } else {
        report.add("free_tier", Status::Pass, "paid account");
    }
    match data.get("limit").and_then(Value::as_f64) {
        None => report.add(
            "credit_limit",
            Status::Warn,
            "the upstream key has no credit limit: its blast radius is the whole account",
        ),
        Some(limit) => report.add("credit_limit", Status::Pass, format!("limit ${limit}")),
    }
    match data.get("limit_remaining").and_then(Value::as_f64) {
        Some(r) if r <= 0.0 => report.add(
            "credit_remaining",
            Status::Fail,
            format!("${r} left: requests will fail with 402"),
        ),
        Some(r) if r < min_credit => report.add(
            "credit_remaining",
            Status::Warn,
            format!("${r} left, below the ${min_credit} threshold"),
        ),
        Some(r) => report.add("credit_remaining", Status::Pass, format!("${r} left")),
        None => {}
    }
}

/// Each client key's own OpenRouter key (`upstream_key_file`): it authenticates, and has a
/// credit limit (the point of giving a service its own key).
async fn service_keys(client: &reqwest::Client, snapshot: &Snapshot, report: &mut Report) {
    for k in snapshot.keys.records().iter().filter(|k| !k.disabled) {
        let Some(key) = k.upstream_key.clone() else {
            continue;
        };
        let id = &k.id;
        match get_as(client, snapshot, "/key", None, Some(key)).await {
            Ok((status, v)) if (200..300).contains(&status) => {
                let data = v.get("data").unwrap_or(&v);
                match data.get("limit").and_then(Value::as_f64) {
                    Some(limit) => report.add(
                        "service_key",
                        Status::Pass,
                        format!("key {id}: its own upstream key has a ${limit} limit"),
                    ),
                    None => report.add(
                        "service_key",
                        Status::Warn,
                        format!("key {id}: its own upstream key has no credit limit"),
                    ),
                }
            }
            Ok((status, _)) => report.add(
                "service_key",
                Status::Fail,
                format!("key {id}: its own upstream key is rejected ({status})"),
            ),
            Err(e) => report.add(
                "service_key",
                Status::Fail,
                format!("key {id}: GET /key failed: {e}"),
            ),
        }
    }
}

async fn models_exist(client: &reqwest::Client, snapshot: &Snapshot, report: &mut Report) {
    let (status, v) = match get(client, snapshot, "/models", None).await {
        Ok(r) => r,
        Err(e) => {
            return report.add(
                "models_exist",
                Status::Fail,
                format!("GET /models failed: {e}"),
            )
        }
    };
    let ids: Vec<String> = v
        .get("data")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .filter_map(|m| m.get("id").and_then(Value::as_str))
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    if !(200..300).contains(&status) || ids.is_empty() {
        return report.add(
            "models_exist",
            Status::Fail,
            format!("GET /models answered {status} with no models"),
        );
    }
    let mut missing = Vec::new();
    let mut unmatched = Vec::new();
    for class in Class::ALL {
        let Some(c) = snapshot.policy.class(class) else {
            continue;
        };
        if c.upstream != crate::policy::UpstreamRef::OpenRouter {
            continue;
        }
        for g in &c.models {
            if g.is_exact() {
                if !ids.iter().any(|id| id == g.as_str()) {
                    missing.push(format!("{} ({})", g.as_str(), class.as_str()));
                }
            } else if !ids.iter().any(|id| g.matches(id)) {
                unmatched.push(format!("{} ({})", g.as_str(), class.as_str()));
            }
        }
    }
    match (missing.is_empty(), unmatched.is_empty()) {
        (true, true) => report.add(
            "models_exist",
            Status::Pass,
            format!("every allowed model exists upstream ({} listed)", ids.len()),
        ),
        (false, _) => report.add(
            "models_exist",
            Status::Fail,
            format!("not offered upstream: {}", missing.join(", ")),
        ),
        (true, false) => report.add(
            "models_exist",
            Status::Warn,
            format!(
                "patterns that match no upstream model: {}",
                unmatched.join(", ")
            ),
        ),
    }
}

/// Each class routed to OpenRouter with an exact model, and that model: what the test
/// requests are made with.
fn test_targets(snapshot: &Snapshot) -> Vec<(Class, String)> {
    Class::ALL
        .iter()
        .filter_map(|c| snapshot.policy.class(*c))
        .filter(|c| c.upstream == crate::policy::UpstreamRef::OpenRouter)
        .filter_map(|c| {
            c.models
                .iter()
                .find(|g| g.is_exact())
                .map(|g| (c.class, g.as_str().to_owned()))
        })
        .collect()
}

/// One 1-token request per class, planned by [`crate::plan::prepare`] exactly as a
/// real request of that class would be (provider pinning, data-collection and ZDR
/// settings, token caps), then checked as a real response is: a served provider or model
/// outside the class, or a missing BYOK proof where the class requires one, is a FAIL.
async fn test_requests(client: &reqwest::Client, snapshot: &Snapshot, report: &mut Report) {
    let targets = test_targets(snapshot);
    if targets.is_empty() {
        return report.add(
            "test_request",
            Status::Warn,
            "no exact model in any class to test with",
        );
    }
    for (class, model) in targets {
        let (status, detail) = test_request(client, snapshot, class, &model).await;
        report.add("test_request", status, detail);
    }
}

async fn test_request(
    client: &reqwest::Client,
    snapshot: &Snapshot,
    class: Class,
    model: &str,
) -> (Status, String) {
    use crate::policy::verify::ServedMeta;
    let at = format!("class {} ({model})", class.as_str());
    // A caller whose requests are exactly this class: declared, and its floor.
    let caller = crate::keys::Caller {
        key_id: std::sync::Arc::from("orguard-check"),
        service: std::sync::Arc::from("orguard-check"),
        default_class: class,
        min_class: class,
        limits: crate::limits::KeyLimits::default(),
        allowed_models: std::sync::Arc::from(Vec::new()),
        upstream_key: None,
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        crate::policy::class::CLASS_HEADER,
        axum::http::HeaderValue::from_static(class.as_str()),
    );
    let body = json!({"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "Reply with OK."}]});
    let bytes = body.to_string().into_bytes();
    let planned = crate::request::parse::parse(
        crate::request::Endpoint::ChatCompletions,
        &bytes,
        snapshot.server.max_json_depth,
    )
    .map_err(|e| e.to_string())
    .and_then(|mut parsed| {
        crate::plan::prepare(
            snapshot,
            &caller,
            &headers,
            &mut parsed,
            &crate::redact::Analysis::default(),
        )
        .map(|prepared| prepared.plan)
        .map_err(|refusal| match refusal.error {
            crate::plan::PlanError::Denied(d) => {
                crate::policy::explain::render_denial(&d).replace('\n', " ")
            }
            other => other.to_string(),
        })
    });
    let plan = match planned {
        Ok(plan) => plan,
        Err(why) => return (Status::Fail, format!("{at}: the policy refuses it: {why}")),
    };
    let (status, v) = match get(
        client,
        snapshot,
        "/chat/completions",
        Some(Value::Object(plan.body.clone())),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return (Status::Fail, format!("{at}: the request failed: {e}")),
    };
    if !(200..300).contains(&status) {
        return (Status::Fail, format!("{at}: answered {status}"));
    }
    let Some(policy) = snapshot.policy.class(plan.class) else {
        return (Status::Fail, format!("{at}: no class table"));
    };
    let raw = serde_json::to_vec(&v).unwrap_or_default();
    let meta = ServedMeta::read(&raw).unwrap_or_default();
    let mut violations = plan
        .expect
        .check_meta(&meta, policy, &snapshot.policy.provider_names);
    violations.extend(plan.expect.check_usage(meta.usage.as_ref()));
    if violations.is_empty() {
        let provider = meta.provider.as_deref().unwrap_or("an unnamed provider");
        return (
            Status::Pass,
            format!("{at}: a 1-token request succeeded, served by {provider} within policy"),
        );
    }
    let found: Vec<String> = violations
        .iter()
        .map(|v| format!("{} ({})", v.kind.as_str(), v.served))
        .collect();
    (
        Status::Fail,
        format!(
            "{at}: the response is outside the class policy: {}",
            found.join(", ")
        ),
    )
}

fn keys(snapshot: &Snapshot, report: &mut Report) {
    let now = OffsetDateTime::now_utc();
    let max_age = time::Duration::days(i64::from(snapshot.key_max_age_days));
    let mut any = false;
    // Active keys that can reach at least one configured class.
    let mut reaching = 0usize;
    for k in snapshot.keys.records().iter().filter(|k| !k.disabled) {
        any = true;
        match k.expires {
            Some(at) if at <= now => report.add(
                "key_expiry",
                Status::Warn,
                format!("key {} has expired", k.id),
            ),
            Some(at) if at - now < time::Duration::days(14) => report.add(
                "key_expiry",
                Status::Warn,
                format!("key {} expires within 14 days", k.id),
            ),
            Some(_) => {}
            None => report.add(
                "key_expiry",
                Status::Warn,
                format!(
                    "key {} never expires: set expires to enforce rotation",
                    k.id
                ),
            ),
        }
        if k.created.is_some_and(|c| now - c > max_age) {
            report.add(
                "key_age",
                Status::Warn,
                format!(
                    "key {} is older than {} days: rotate it",
                    k.id, snapshot.key_max_age_days
                ),
            );
        }
        if k.limits.budget.is_none() {
            report.add(
                "key_budget",
                Status::Warn,
                format!(
                    "key {} has no budget_usd: a runaway loop in one service can spend the whole account",
                    k.id
                ),
            );
        }
        if k.min_class < k.default_class {
            report.add(
                "key_min_class",
                Status::Warn,
                format!(
                    "key {} may declare itself down to {} (min_class) below its default {}: its service can send X-Data-Classification: {} and reach what that class allows",
                    k.id,
                    k.min_class.as_str(),
                    k.default_class.as_str(),
                    k.min_class.as_str()
                ),
            );
        }
        if snapshot.policy.class(k.default_class).is_none() {
            report.add(
                "key_class",
                Status::Fail,
                format!(
                    "key {}: its default class {} has no [classes.{}] table, so every request that declares no class is denied",
                    k.id,
                    k.default_class.as_str(),
                    k.default_class.as_str()
                ),
            );
        }
        if reachable_classes(snapshot, k).next().is_some() {
            reaching += 1;
        }
        if &*k.id == "demo" {
            report.add(
                "demo_key",
                Status::Warn,
                "the published demo key is enabled",
            );
        }
    }
    if any && reaching == 0 {
        report.add(
            "class_tables",
            Status::Fail,
            "no key can reach any [classes.NAME] table: every request will be denied (class_not_configured)",
        );
    }
    if any {
        report.add(
            "client_keys",
            Status::Pass,
            format!(
                "{} active key(s)",
                snapshot
                    .keys
                    .records()
                    .iter()
                    .filter(|k| !k.disabled)
                    .count()
            ),
        );
    } else {
        report.add(
            "client_keys",
            Status::Fail,
            "no active client key: every request will be refused",
        );
    }
}

/// The configured classes a key's requests can have: from its `min_class` up (a client
/// may declare any class at or above it; content only raises it).
fn reachable_classes<'s>(
    snapshot: &'s Snapshot,
    key: &crate::keys::KeyRecord,
) -> impl Iterator<Item = &'s crate::policy::ClassPolicy> {
    let min = key.min_class;
    Class::ALL
        .into_iter()
        .filter(move |c| *c >= min)
        .filter_map(|c| snapshot.policy.class(c))
}

/// Where budget and rate counters live, and whether that store answers.
async fn state_store(snapshot: &Snapshot, report: &mut Report) {
    use crate::limits::store::redis::RedisStore;
    use crate::limits::Backend;
    let Backend::Redis { url, prefix } = &snapshot.state.backend else {
        return report.add(
            "state",
            Status::Pass,
            "memory: counters are per replica (use state.backend = \"redis\" with several)",
        );
    };
    let Ok(store) = RedisStore::new(url.expose(), prefix) else {
        return report.add("state", Status::Fail, "state.redis_url cannot be used");
    };
    let answered = tokio::time::timeout(Duration::from_secs(5), store.ping()).await;
    match answered {
        Ok(Ok(())) => report.add("state", Status::Pass, "redis reachable"),
        // The URL is not printed: it may carry a password.
        _ => report.add(
            "state",
            Status::Fail,
            "redis (state.redis_url) is unreachable: budgets and rate limits follow state.*_on_error",
        ),
    }
}

/// The Presidio analyzer, when configured: asked about a made-up sentence, as a request's
/// text would be. A failure is a FAIL when it fails closed (every request would get 503),
/// a WARN when it fails open (requests go uninspected by it).
async fn presidio(snapshot: &Snapshot, report: &mut Report) {
    use crate::redact::presidio::{self, Document, OnError};
    let Some(settings) = &snapshot.presidio else {
        return;
    };
    let Value::Object(mut body) =
        json!({"messages": [{"role": "user", "content": "Please send the form to Jane Roe."}]})
    else {
        return;
    };
    let document = Document::of(crate::request::Endpoint::ChatCompletions, &mut body);
    let answer = match presidio::client() {
        Ok(client) => presidio::analyze(&client, settings, &document).await,
        Err(e) => return report.add("presidio", Status::Fail, e.to_string()),
    };
    match (answer, settings.on_error) {
        (Ok(analysis), _) => report.add(
            "presidio",
            Status::Pass,
            format!(
                "the analyzer answered ({} finding(s) in a test sentence naming one person)",
                analysis.len()
            ),
        ),
        (Err(e), OnError::FailClosed) => report.add(
            "presidio",
            Status::Fail,
            format!("{e}: every request is refused with 503 detector_unavailable (presidio_on_error = \"fail_closed\")"),
        ),
        (Err(e), OnError::FailOpen) => report.add(
            "presidio",
            Status::Warn,
            format!("{e}: requests go on inspected by the built-in detectors only (presidio_on_error = \"fail_open\")"),
        ),
    }
}

async fn audit_sink(snapshot: &Snapshot, report: &mut Report) {
    match &snapshot.audit.sink {
        SinkSettings::File { dir, .. } => {
            let probe = dir.join(".orguard-check");
            let result = std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&probe, b"probe"))
                .and_then(|()| std::fs::remove_file(&probe));
            match result {
                Ok(()) => report.add(
                    "audit_sink",
                    Status::Pass,
                    format!("{} is writable", dir.display()),
                ),
                Err(e) => report.add(
                    "audit_sink",
                    Status::Fail,
                    format!("{} is not writable: {}", dir.display(), e.kind()),
                ),
            }
        }
        SinkSettings::Stdout => report.add("audit_sink", Status::Pass, "stdout"),
        SinkSettings::Postgres { url, table, .. } => {
            let connect = tokio::time::timeout(Duration::from_secs(5), async {
                let target = crate::postgres::Target::parse(url.expose())?;
                let client = crate::postgres::connect_to(&target, "check").await?;
                // A Postgres-compatible server without pg_stat_ssl is reachable all the same.
                let tls = crate::postgres::tls_version(&client).await.ok();
                Ok::<_, crate::postgres::ConnectError>((target, tls))
            })
            .await;
            match connect {
                Ok(Ok((target, tls))) => {
                    let (status, transport) = postgres_transport(&target, tls);
                    report.add(
                        "audit_sink",
                        status,
                        format!("postgres reachable (table {table}) {transport}"),
                    );
                }
                Ok(Err(e)) => report.add(
                    "audit_sink",
                    Status::Fail,
                    format!("postgres: {}", crate::secret::mask_text(&e.to_string())),
                ),
                Err(_) => report.add("audit_sink", Status::Fail, "postgres: connection timed out"),
            }
        }
    }
}

/// The audit database's transport in words, as `upstream_url` reports the upstream's: TLS
/// and what was verified, or a warning for plaintext. `tls` is what `pg_stat_ssl` said:
/// `None` when it could not be read.
fn postgres_transport(
    target: &crate::postgres::Target,
    tls: Option<Option<String>>,
) -> (Status, String) {
    use crate::postgres::Check;
    let mode = target.ssl_mode.as_str();
    let Some(tls) = tls else {
        return (
            Status::Pass,
            format!("(sslmode={mode}; the server does not say whether the connection is TLS)"),
        );
    };
    let Some(version) = tls else {
        return (
            Status::Warn,
            format!("in plaintext (sslmode={mode}); set sslmode=verify-full and sslrootcert in the URL to encrypt and authenticate it"),
        );
    };
    // Encryption without a verified certificate is open to whoever can answer for the
    // database's address: worth a warning, as plaintext is.
    let (status, checked) = match target.check() {
        Check::ChainAndName => (Status::Pass, "certificate and host name verified"),
        Check::Chain => (Status::Pass, "certificate chain verified, host name not"),
        Check::Nothing => (
            Status::Warn,
            "certificate not verified: anyone who can answer for the address is trusted; set sslmode=verify-full",
        ),
    };
    (
        status,
        format!("over {version}, {checked} (sslmode={mode})"),
    )
}

/// Files under `dir` with secret-shaped strings. Reports file and line, never the value.
fn scan(dir: &Path, detectors: &Detectors, report: &mut Report) {
    const SKIP: [&str; 5] = [".git", "target", "node_modules", "audit", ".venv"];
    let mut stack = vec![dir.to_path_buf()];
    let mut hits = Vec::new();
    let mut files = 0;
    while let Some(path) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if !SKIP.contains(&name.as_str()) {
                    stack.push(p);
                }
            } else if meta.is_file() && meta.len() <= 2 << 20 {
                let Ok(bytes) = std::fs::read(&p) else {
                    continue;
                };
                // Binary files are skipped; text with a few odd bytes is still scanned.
                if bytes.contains(&0) {
                    continue;
                }
                let text = String::from_utf8_lossy(&bytes);
                files += 1;
                // The whole file at once, so multi-line secrets (PEM keys) are found too.
                for span in detectors
                    .find(&text)
                    .iter()
                    .filter(|s| s.kinds().any(|k| k == SECRET))
                {
                    let line = text
                        .get(..span.start)
                        .map_or(0, |t| t.matches('\n').count())
                        + 1;
                    hits.push(format!("{}:{line}", p.display()));
                }
            }
        }
    }
    hits.sort();
    if hits.is_empty() {
        report.add(
            "secret_scan",
            Status::Pass,
            format!(
                "no secret-shaped strings in {files} files under {}",
                dir.display()
            ),
        );
    } else {
        report.add(
            "secret_scan",
            Status::Fail,
            format!("secret-shaped strings at {}", hits.join(", ")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_database_transport_says_what_was_checked() {
        let target = |q: &str| crate::postgres::Target::parse(&format!("postgres://u@db/a{q}"));
        let (status, text) = postgres_transport(&target("").unwrap(), Some(None));
        assert_eq!(status, Status::Warn);
        assert!(text.contains("in plaintext (sslmode=prefer)"), "{text}");
        let (status, text) = postgres_transport(
            &target("?sslmode=verify-ca&sslrootcert=/etc/ca.pem").unwrap(),
            Some(Some("TLSv1.3".to_owned())),
        );
        assert_eq!(status, Status::Pass);
        assert_eq!(
            text,
            "over TLSv1.3, certificate chain verified, host name not (sslmode=verify-ca)"
        );
        let (status, text) = postgres_transport(&target("").unwrap(), Some(Some("TLSv1.2".into())));
        assert_eq!(status, Status::Warn);
        assert!(
            text.starts_with("over TLSv1.2, certificate not verified")
                && text.ends_with("(sslmode=prefer)"),
            "{text}"
        );
    }
}
