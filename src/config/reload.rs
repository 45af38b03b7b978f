//! What a `SIGHUP` reload cannot change. The listeners, the audit writer, the state store,
//! the upstream connection pool, the load-shedding semaphore, the breakers and the log
//! subscriber are built once at start and outlive every reload; a new value for one of
//! their settings is accepted by the reload but has no effect until a restart. Pure: the
//! caller logs.

use super::Snapshot;
use crate::audit::{AuditSettings, SinkSettings};
use crate::limits::{Backend, StateSettings};

/// The settings (by config key) whose new value in `new` waits for a restart.
pub fn restart_needed(old: &Snapshot, new: &Snapshot) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut differs = |name: &'static str, changed: bool| {
        if changed {
            out.push(name);
        }
    };
    differs("server.listen", old.server.listen != new.server.listen);
    differs("admin.listen", old.admin.listen != new.admin.listen);
    differs(
        "audit",
        audit_identity(&old.audit) != audit_identity(&new.audit),
    );
    differs(
        "state",
        state_identity(&old.state) != state_identity(&new.state),
    );
    differs(
        "upstream.connect_timeout_ms",
        old.upstream.connect_timeout != new.upstream.connect_timeout,
    );
    differs(
        "upstream.ca_file",
        old.upstream.ca_file != new.upstream.ca_file,
    );
    differs(
        "resilience.max_in_flight",
        old.resilience.max_in_flight != new.resilience.max_in_flight,
    );
    differs(
        "resilience.breaker_threshold",
        old.resilience.breaker_threshold != new.resilience.breaker_threshold,
    );
    differs(
        "resilience.breaker_cooldown_ms",
        old.resilience.breaker_cooldown != new.resilience.breaker_cooldown,
    );
    differs("telemetry", old.telemetry != new.telemetry);
    differs(
        "log",
        old.log.format != new.log.format || old.log.level != new.log.level,
    );
    out
}

/// Everything the audit writer was started with. The database URL is compared, never
/// printed.
fn audit_identity(a: &AuditSettings) -> (String, usize, Option<String>) {
    let url = match &a.sink {
        SinkSettings::Postgres { url, .. } => Some(url.expose().to_owned()),
        SinkSettings::File { .. } | SinkSettings::Stdout => None,
    };
    let file = match &a.sink {
        SinkSettings::File {
            rotate_bytes,
            retention_days,
            financial_retention_days,
            ..
        } => format!("{rotate_bytes}/{retention_days}/{financial_retention_days}"),
        SinkSettings::Stdout | SinkSettings::Postgres { .. } => String::new(),
    };
    (format!("{} {file}", a.describe()), a.queue_capacity, url)
}

fn state_identity(s: &StateSettings) -> Option<(String, String)> {
    match &s.backend {
        Backend::Memory => None,
        Backend::Redis { url, prefix } => Some((url.expose().to_owned(), prefix.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::from_toml;
    use super::restart_needed;

    #[test]
    fn listeners_audit_and_state_wait_for_a_restart() {
        let old = from_toml("[server]\nlisten = \"127.0.0.1:8080\"\n", None).unwrap();
        let same = from_toml("[server]\nlisten = \"127.0.0.1:8080\"\n", None).unwrap();
        assert!(restart_needed(&old, &same).is_empty());
        let new = from_toml(
            "[server]\nlisten = \"127.0.0.1:9000\"\n[audit]\ndir = \"elsewhere\"\n[state]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379/0\"\n[policy]\nover_cap = \"deny\"\n",
            None,
        )
        .unwrap();
        assert_eq!(
            restart_needed(&old, &new),
            ["server.listen", "audit", "state"]
        );
    }
}
