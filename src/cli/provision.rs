//! `orguard keys provision` and `orguard keys rotate-upstream`: per-service OpenRouter keys
//! through the management API (`POST /keys`, `GET`/`PATCH /keys/{hash}`), so OpenRouter
//! itself enforces a credit limit per service and attributes usage per service, behind the
//! gateway's own budgets (defence in depth).
//!
//! The management key comes from `OPENROUTER_MANAGEMENT_KEY` only. A created key is written
//! to a file with mode 0600 and never printed; what is printed is the config line that
//! points at the file and the key's hash (an identifier, needed to rotate it).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use axum::http::{header, HeaderValue, Method};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::config::{self, Source};
use crate::secret::Secret;

/// Env var holding the OpenRouter management key.
pub const MANAGEMENT_KEY_ENV: &str = "OPENROUTER_MANAGEMENT_KEY";

/// What `provision` is asked for.
pub struct Provision {
    pub service: String,
    pub limit_usd: f64,
    pub reset: Option<String>,
    pub out: Option<PathBuf>,
}

/// What `rotate-upstream` is asked for.
pub struct Rotate {
    pub service: String,
    pub old_hash: String,
    pub file: PathBuf,
    pub grace: Duration,
}

/// Why a management call failed. Never carries a key or a response body.
#[derive(Debug, thiserror::Error)]
enum ProvisionError {
    #[error("set {MANAGEMENT_KEY_ENV} to an OpenRouter management key")]
    NoManagementKey,
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the management API call {what} failed: {detail}")]
    Api { what: &'static str, detail: String },
    #[error("cannot write {path}: {kind}")]
    Write {
        path: String,
        kind: std::io::ErrorKind,
    },
}

struct Api {
    client: reqwest::Client,
    base: String,
    key: Secret,
}

impl Api {
    fn from_env(source: &Source) -> Result<Self, ProvisionError> {
        let key = std::env::var(MANAGEMENT_KEY_ENV)
            .ok()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .ok_or(ProvisionError::NoManagementKey)?;
        let snapshot = config::load(source).map_err(|e| ProvisionError::Config(e.to_string()))?;
        let client = crate::upstream::build_client(&snapshot.upstream)
            .map_err(|e| ProvisionError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            base: snapshot.upstream.base_url,
            key: Secret::new(key),
        })
    }

    /// One call; the `data` of a 2xx JSON answer (plus the top-level `key` of a create).
    async fn call(
        &self,
        what: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ProvisionError> {
        let fail = |detail: String| ProvisionError::Api { what, detail };
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.key.expose()))
            .map_err(|_| fail("the management key cannot be sent in a header".to_owned()))?;
        auth.set_sensitive(true);
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(header::AUTHORIZATION, auth);
        if let Some(body) = body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = tokio::time::timeout(Duration::from_secs(30), request.send())
            .await
            .map_err(|_| fail("timed out".to_owned()))?
            .map_err(|_| fail("could not reach the upstream".to_owned()))?;
        let status = response.status();
        let bytes = crate::upstream::read_capped(
            response,
            Duration::from_secs(30),
            Instant::now() + Duration::from_secs(30),
            1 << 20,
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
        if !status.is_success() {
            return Err(fail(format!("HTTP {}", status.as_u16())));
        }
        serde_json::from_slice(&bytes).map_err(|_| fail("the answer is not JSON".to_owned()))
    }

    /// `POST /keys`: the new key's hash and the key itself (shown by the API only once).
    async fn create(
        &self,
        service: &str,
        limit: Option<f64>,
        reset: Option<&str>,
    ) -> Result<(String, Secret), ProvisionError> {
        let body = json!({
            "name": format!("orguard-{service}"),
            "limit": limit,
            "limit_reset": reset,
        });
        let v = self
            .call("POST /keys", Method::POST, "/keys", Some(body))
            .await?;
        let hash = v
            .pointer("/data/hash")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let key = v.get("key").and_then(Value::as_str).map(str::to_owned);
        // The hash goes into later URL paths: letters and digits only.
        let hash = hash.filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric()));
        let missing = || ProvisionError::Api {
            what: "POST /keys",
            detail: "the answer has no usable data.hash or key".to_owned(),
        };
        match (hash, key) {
            (Some(h), Some(k)) if !k.trim().is_empty() => Ok((h, Secret::new(k.trim().to_owned()))),
            (Some(h), _) => {
                // Created, but nobody got the key: do not leave it live.
                if self.disable(&h).await.is_err() {
                    eprintln!("warning: the new key {h} could not be disabled; disable it in the OpenRouter dashboard");
                }
                Err(missing())
            }
            (None, _) => Err(missing()),
        }
    }

    /// `PATCH /keys/{hash}` with `disabled: true`.
    async fn disable(&self, hash: &str) -> Result<Value, ProvisionError> {
        self.call(
            "PATCH /keys/{hash}",
            Method::PATCH,
            &format!("/keys/{hash}"),
            Some(json!({"disabled": true})),
        )
        .await
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ProvisionError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ProvisionError::Config(format!("cannot start the async runtime: {e}")))
}

/// Writes `key` to `path` with mode 0600: to a temporary file beside it, then renamed over
/// it, so a gateway reading the file sees the old key or the new one, never half of one.
fn write_key(path: &Path, key: &Secret) -> Result<(), ProvisionError> {
    let fail = |e: std::io::Error| ProvisionError::Write {
        path: path.display().to_string(),
        kind: e.kind(),
    };
    let tmp = path.with_extension(format!("tmp-{}", hex::encode(rand::random::<[u8; 4]>())));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(fail)?;
    let written = file
        .write_all(format!("{}\n", key.expose()).as_bytes())
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}

/// Disables a key just created whose file could not be written (it would otherwise be a
/// live credential nobody holds).
fn disable_orphan(rt: &tokio::runtime::Runtime, api: &Api, hash: &str) {
    if rt.block_on(api.disable(hash)).is_err() {
        eprintln!("warning: the new key {hash} could not be disabled; disable it in the OpenRouter dashboard");
    }
}

fn valid_reset(reset: Option<&str>) -> Result<(), ProvisionError> {
    match reset {
        None | Some("daily" | "weekly" | "monthly") => Ok(()),
        Some(other) => Err(ProvisionError::Invalid(format!(
            "--reset {other:?} is not one of daily, weekly, monthly"
        ))),
    }
}

fn valid_service(service: &str) -> Result<(), ProvisionError> {
    let ok = !service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ProvisionError::Invalid(
            "--service must use only letters, digits, '-', '_', '.'".to_owned(),
        ))
    }
}

fn finish(result: Result<String, ProvisionError>) -> ExitCode {
    match result {
        Ok(text) => super::print(&text),
        Err(e) => {
            eprintln!("error: {}", crate::secret::mask_text(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// `orguard keys provision`.
pub fn provision(source: &Source, p: &Provision) -> ExitCode {
    finish(provision_inner(source, p))
}

fn provision_inner(source: &Source, p: &Provision) -> Result<String, ProvisionError> {
    valid_service(&p.service)?;
    valid_reset(p.reset.as_deref())?;
    if !(p.limit_usd.is_finite() && p.limit_usd > 0.0) {
        return Err(ProvisionError::Invalid(
            "--limit must be a positive amount in USD".to_owned(),
        ));
    }
    let out = p
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.openrouter.key", p.service)));
    if out.exists() {
        return Err(ProvisionError::Invalid(format!(
            "{} exists; to replace a service's key use `orguard keys rotate-upstream`",
            out.display()
        )));
    }
    let api = Api::from_env(source)?;
    let rt = runtime()?;
    let (hash, key) = rt.block_on(api.create(&p.service, Some(p.limit_usd), p.reset.as_deref()))?;
    if let Err(e) = write_key(&out, &key) {
        // Nobody holds the new key: do not leave it live upstream.
        disable_orphan(&rt, &api, &hash);
        return Err(e);
    }
    let reset = p.reset.as_deref().unwrap_or("never");
    Ok(format!(
        "# OpenRouter key for service {service:?}: limit ${limit} (resets {reset}), hash {hash}.\n\
         # The key was written to {path} (mode 0600) and is not shown. Mount that file into\n\
         # every gateway replica and add this line to each [[keys]] entry of the service:\n\
         upstream_key_file = \"{path}\"\n\
         # To rotate it later: orguard keys rotate-upstream --service {service} --old-hash {hash} --file {path}\n",
        service = p.service,
        limit = p.limit_usd,
        path = out.display(),
    ))
}

/// `orguard keys rotate-upstream`.
pub fn rotate(source: &Source, r: &Rotate) -> ExitCode {
    finish(rotate_inner(source, r))
}

fn rotate_inner(source: &Source, r: &Rotate) -> Result<String, ProvisionError> {
    valid_service(&r.service)?;
    if r.old_hash.is_empty() || !r.old_hash.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ProvisionError::Invalid(
            "--old-hash must be the key hash printed by provision (letters and digits)".to_owned(),
        ));
    }
    let api = Api::from_env(source)?;
    let rt = runtime()?;
    let old_path = format!("/keys/{}", r.old_hash);
    // The replacement gets the old key's limit and reset.
    let old = rt.block_on(api.call("GET /keys/{hash}", Method::GET, &old_path, None))?;
    let data = old.get("data").unwrap_or(&old);
    let limit = data.get("limit").and_then(Value::as_f64);
    let reset = data
        .get("limit_reset")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (hash, key) = rt.block_on(api.create(&r.service, limit, reset.as_deref()))?;
    if let Err(e) = write_key(&r.file, &key) {
        disable_orphan(&rt, &api, &hash);
        return Err(e);
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "new key {hash} written to {}; reload every gateway replica now (SIGHUP or a rollout).\n\
         The old key {} is disabled in {} s.",
        r.file.display(),
        r.old_hash,
        r.grace.as_secs()
    );
    drop(err);
    rt.block_on(async {
        tokio::time::sleep(r.grace).await;
        api.disable(&r.old_hash).await
    })?;
    Ok(format!(
        "# Rotated the OpenRouter key of service {service:?}: {old} is disabled, {hash} is live\n\
         # (limit {limit}, resets {reset}), written to {path}.\n\
         # Next rotation: orguard keys rotate-upstream --service {service} --old-hash {hash} --file {path}\n",
        service = r.service,
        old = r.old_hash,
        limit = limit.map_or_else(|| "none".to_owned(), |l| format!("${l}")),
        reset = reset.as_deref().unwrap_or("never"),
        path = r.file.display(),
    ))
}
