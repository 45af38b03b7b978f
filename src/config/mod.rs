//! Configuration: figment merges built-in defaults < a TOML file < `ORGUARD_*` env vars, and
//! [`compile`] turns the raw shape into an immutable, validated [`Snapshot`].
//!
//! Validation reports every problem at once, each naming its key, and the gateway refuses to
//! start on any of them. The loader does the I/O (files, env); `compile` is pure.

mod compile;
mod problem;
pub mod raw;
pub mod reload;
pub mod word;

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;

pub use compile::{
    compile, ExtraUpstream, LogFormat, Resilience, Resolved, ServerSettings, Snapshot,
};
pub use problem::Problem;
// Each owned by the module that uses it; re-exported because the config builds them.
pub use crate::traces::TelemetrySettings;
pub use crate::upstream::{ServiceSettings, UpstreamSettings};

use crate::secret::Secret;

/// The example config, embedded so `orguard serve` runs with no file at all.
pub const EMBEDDED_EXAMPLE: &str = include_str!("../../config/orguard.toml");

/// Env var naming the config file (when `--config` is not given).
pub const CONFIG_PATH_ENV: &str = "ORGUARD_CONFIG";
/// Env var holding the upstream API key.
pub const API_KEY_ENV: &str = "OPENROUTER_API_KEY";

/// Where the TOML layer comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// `config/orguard.toml` as compiled into the binary.
    Embedded,
    File(PathBuf),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Self::Embedded => "embedded example config".to_owned(),
            Self::File(p) => p.display().to_string(),
        }
    }
}

/// Why a config could not be loaded. Each entry names the key and the problem; values are
/// masked, since a misplaced key (in a file path, a wrong-typed field) would otherwise be
/// printed.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid configuration ({source_desc}):\n  - {}",
    join(problems, "\n  - ")
)]
pub struct ConfigError {
    pub source_desc: String,
    pub problems: Vec<Problem>,
}

/// The problems as one line each, joined by `separator`.
pub fn join(problems: &[Problem], separator: &str) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

/// Loads and validates the config from `source`, the process environment and the key file.
pub fn load(source: &Source) -> Result<Snapshot, ConfigError> {
    load_unmasked(source).map_err(ConfigError::masked)
}

impl ConfigError {
    fn masked(self) -> Self {
        ConfigError {
            source_desc: crate::secret::mask_text(&self.source_desc),
            problems: self
                .problems
                .iter()
                .map(|p| Problem {
                    path: crate::secret::mask_text(&p.path),
                    message: crate::secret::mask_text(&p.message),
                })
                .collect(),
        }
    }
}

/// Prefix of the environment variables that are config keys.
const ENV_PREFIX: &str = "ORGUARD_";

/// Whether an `ORGUARD_*` variable (its name after the prefix) is a config key. Only the
/// documented `<SECTION>__<KEY>` form is: Kubernetes injects service links for a Service
/// named `orguard` (`ORGUARD_PORT=tcp://…`, `ORGUARD_SERVICE_HOST`,
/// `ORGUARD_PORT_8080_TCP_PROTO`…) into every pod of the namespace, and reading those as
/// config keys made the gateway refuse to start.
fn is_config_var(rest: &str) -> bool {
    rest.split_once("__")
        .is_some_and(|(section, key)| !section.is_empty() && !key.is_empty())
}

/// The `ORGUARD_*` variables in the environment that are not config (not of the form
/// `ORGUARD_<SECTION>__<KEY>`, nor `ORGUARD_CONFIG`). Names only: the caller logs them at
/// debug once logging is up, so an operator can see why a variable had no effect.
pub fn ignored_env_vars() -> Vec<String> {
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| {
            name.get(..ENV_PREFIX.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(ENV_PREFIX))
                && !name.eq_ignore_ascii_case(CONFIG_PATH_ENV)
                && !name.get(ENV_PREFIX.len()..).is_some_and(is_config_var)
        })
        .collect();
    names.sort();
    names
}

fn load_unmasked(source: &Source) -> Result<Snapshot, ConfigError> {
    let env_layer = Env::prefixed(ENV_PREFIX)
        .filter(|rest| is_config_var(rest.as_str()))
        .split("__")
        .ignore(&["config"]);
    let figment = match source {
        Source::Embedded => Figment::new().merge(Toml::string(EMBEDDED_EXAMPLE)),
        Source::File(path) => {
            if !path.is_file() {
                return Err(problem(
                    source,
                    Problem::whole(format!(
                        "config file {} does not exist or is not a file",
                        path.display()
                    )),
                ));
            }
            Figment::new().merge(Toml::file(path))
        }
    }
    .merge(env_layer);
    let api_key = std::env::var(API_KEY_ENV)
        .ok()
        .filter(|k| !k.trim().is_empty());
    load_figment(&figment, source, api_key, &|var| std::env::var(var).ok())
}

/// Loads from a TOML string without reading the environment (tests, `policy explain`).
pub fn from_toml(text: &str, api_key: Option<String>) -> Result<Snapshot, ConfigError> {
    from_toml_unmasked(text, api_key).map_err(ConfigError::masked)
}

fn from_toml_unmasked(text: &str, api_key: Option<String>) -> Result<Snapshot, ConfigError> {
    let figment = Figment::new().merge(Toml::string(text));
    load_figment(&figment, &Source::Embedded, api_key, &|_| None)
}

fn load_figment(
    figment: &Figment,
    source: &Source,
    env_key: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Snapshot, ConfigError> {
    let raw: raw::RawConfig = figment.extract().map_err(|errors| ConfigError {
        source_desc: source.describe(),
        problems: errors
            .into_iter()
            .map(|e| describe_figment_error(&e))
            .collect(),
    })?;
    let mut resolved = Resolved::default();
    let reader = |field: &'static str| {
        move |path: &Path| read_key_file(field, path).map_err(|p| problem(source, p))
    };
    resolved.api_key = match env_key {
        Some(k) => Some(Secret::new(k.trim().to_owned())),
        None => raw
            .upstream
            .api_key_file
            .as_deref()
            .map(reader("upstream.api_key_file"))
            .transpose()?,
    };
    resolved.management_key = raw
        .upstream
        .management_key_file
        .as_deref()
        .map(reader("upstream.management_key_file"))
        .transpose()?;
    resolved.user_hmac_key = raw
        .policy
        .user_hmac_key_file
        .as_deref()
        .map(reader("policy.user_hmac_key_file"))
        .transpose()?;
    resolved.audit_hmac_key = raw
        .audit
        .hmac_key_file
        .as_deref()
        .map(reader("audit.hmac_key_file"))
        .transpose()?;
    resolved.audit_signer = raw
        .audit
        .signing_key_file
        .as_deref()
        .map(|path| {
            crate::audit::checkpoint::Signer::load(path)
                .map(std::sync::Arc::new)
                .map_err(|e| problem(source, Problem::at("audit.signing_key_file", e.to_string())))
        })
        .transpose()?;
    for key in &raw.keys {
        if let Some(path) = key.upstream_key_file.as_deref() {
            let secret = reader("keys[].upstream_key_file")(path)?;
            resolved.key_upstream_keys.insert(key.id.clone(), secret);
        }
    }
    if let Some(path) = raw.upstream.ca_file.as_deref() {
        let pem = std::fs::read(path).map_err(|e| {
            problem(
                source,
                Problem::at(
                    "upstream.ca_file",
                    format!("cannot read {}: {}", path.display(), e.kind()),
                ),
            )
        })?;
        resolved.ca_pem = Some(pem);
    }
    resolved.hostname = env("HOSTNAME")
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    for (name, up) in &raw.upstreams {
        let from_env = up
            .api_key_env
            .as_deref()
            .and_then(env)
            .filter(|k| !k.trim().is_empty());
        let key = match from_env {
            Some(k) => Some(Secret::new(k.trim().to_owned())),
            None => up
                .api_key_file
                .as_deref()
                .map(reader("upstreams.NAME.api_key_file"))
                .transpose()?,
        };
        if let Some(key) = key {
            resolved.extra_keys.insert(name.clone(), key);
        }
    }
    compile(raw, resolved).map_err(|problems| ConfigError {
        source_desc: source.describe(),
        problems,
    })
}

fn describe_figment_error(e: &figment::Error) -> Problem {
    let path = e.path.join(".").to_ascii_lowercase();
    let origin = e
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(src) => format!(" (from {} {src})", m.name),
            None => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    Problem {
        path,
        message: format!("{}{origin}", e.kind),
    }
}

fn read_key_file(field: &str, path: &Path) -> Result<Secret, Problem> {
    let problem = |message| Problem::at(field, message);
    let text = std::fs::read_to_string(path)
        .map_err(|e| problem(format!("cannot read {}: {}", path.display(), e.kind())))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(problem(format!("{} is empty", path.display())));
    }
    Ok(Secret::new(key.to_owned()))
}

fn problem(source: &Source, p: Problem) -> ConfigError {
    ConfigError {
        source_desc: source.describe(),
        problems: vec![p],
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_section_key_variables_are_config() {
        for var in ["SERVER__LISTEN", "upstream__base_url", "STATE__REDIS_URL"] {
            assert!(super::is_config_var(var), "{var}");
        }
        for var in [
            "PORT",
            "SERVICE_HOST",
            "PORT_8080_TCP_PROTO",
            "SERVICE_PORT_HTTP",
            "__X",
            "X__",
        ] {
            assert!(!super::is_config_var(var), "{var}");
        }
    }
}
