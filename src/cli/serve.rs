//! `orguard serve`: load the config, start the server, drain on SIGTERM.

use std::process::ExitCode;

use crate::config::{self, Source};
use crate::server;
use crate::state::AppState;
use crate::telemetry;

/// SHA-256 of the demo key published in the README and the example config.
const DEMO_KEY_SHA256: &str = "509b38afb12d56fb501915d6d00cfa649b0fb468fa2e9cd66f43e28ee28809c5";

pub fn run(source: &Source) -> ExitCode {
    let snapshot = match config::load(source) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("orguard: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(snapshot.log.format, &snapshot.log.level);
    for name in config::ignored_env_vars() {
        tracing::debug!(
            name,
            "ignoring an ORGUARD_ variable that is not of the form ORGUARD_<SECTION>__<KEY> (a Kubernetes service link?)"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("orguard: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (code, audit, traces) = runtime.block_on(serve(source, snapshot));
    // Drop whatever is still running (streams past the drain deadline): each one's final
    // audit record goes out through its reserved slot. Only then close the writer, so
    // every record of every request is written and synced before the process exits.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    // Every span has ended by now (a dropped stream ends its own): send the last batch.
    traces.shutdown();
    if let Some(audit) = audit {
        audit.close_blocking();
        let lost = audit.health.lost.load(std::sync::atomic::Ordering::Relaxed);
        if lost > 0 {
            tracing::error!(lost, "audit records were lost during this run");
        }
    }
    code
}

/// Runs the server until it has drained; hands back the audit writer and the trace
/// exporter for the caller to close once the runtime is down.
async fn serve(
    source: &Source,
    snapshot: config::Snapshot,
) -> (
    ExitCode,
    Option<crate::audit::Writer>,
    crate::traces::Traces,
) {
    let listen = snapshot.server.listen;
    let admin_listen = snapshot.admin.listen;
    let drain = snapshot.server.drain;
    let snapshot_audit = snapshot.audit.describe();
    warn_about(&snapshot);
    let state = match AppState::new(snapshot) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the server state");
            return (ExitCode::FAILURE, None, crate::traces::Traces::off());
        }
    };
    tracing::info!(sink = %snapshot_audit, "audit trail");
    let audit = state.audit.clone();
    let traces = state.traces.clone();
    state.start_background();
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%listen, error = %e, "cannot listen");
            return (ExitCode::FAILURE, None, traces);
        }
    };
    // Signal handlers go in before the "listening" line: from then on supervisors may signal.
    let shutdown = server::shutdown_signal();
    #[cfg(unix)]
    server::reload_on_sighup(&state, source.clone());
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    // Tests and supervisors read the bound address (port 0 picks a free one) from this line.
    tracing::info!(listen = %bound, config = %source.describe(), version = env!("CARGO_PKG_VERSION"), "orguard listening");
    // The operator listener stops when the main server has drained.
    let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(admin_listen) = admin_listen {
        let admin = match tokio::net::TcpListener::bind(admin_listen).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(listen = %admin_listen, error = %e, "cannot listen (admin.listen)");
                return (ExitCode::FAILURE, None, traces);
            }
        };
        let bound = admin
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(admin_listen = %bound, "admin listener (/admin/keys, /metrics, /healthz, /readyz)");
        let app = server::admin::app(state.clone());
        #[expect(
            clippy::disallowed_methods,
            reason = "stopped through admin_stop once the main server has drained"
        )]
        tokio::spawn(async move {
            let stopped = async {
                let _ = admin_stopped.await;
            };
            if let Err(e) = axum::serve(server::no_delay(admin), app)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!(error = %e, "admin listener failed");
            }
        });
    }
    // The accept loop runs as a task on a runtime worker, not on this (the main) thread:
    // each accepted connection is then served by the worker that accepted it, instead of
    // every new connection waking a worker from here. A panic in it ends the process as a
    // failure, with the audit writer still closed below.
    #[expect(
        clippy::disallowed_methods,
        reason = "not detached: awaited right here, and it ends when the server has drained"
    )]
    let server = tokio::spawn(server::serve(listener, server::app(state), shutdown, drain));
    let served = server.await.unwrap_or_else(|e| {
        Err(std::io::Error::other(format!(
            "the server task failed: {e}"
        )))
    });
    let _ = admin_stop.send(());
    let code = match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server error");
            ExitCode::FAILURE
        }
    };
    (code, Some(audit), traces)
}

fn warn_about(snapshot: &config::Snapshot) {
    if snapshot.upstream.api_key.is_none() {
        tracing::warn!("no upstream API key: set OPENROUTER_API_KEY or upstream.api_key_file; requests will fail with 503 until then");
    }
    if snapshot.keys.is_empty() {
        tracing::warn!("no client keys configured: every request will be refused; create one with `orguard keys new --service NAME`");
    }
    let demo_enabled = snapshot
        .keys
        .records()
        .iter()
        .any(|k| !k.disabled && hex::encode(k.sha256) == DEMO_KEY_SHA256);
    if demo_enabled {
        tracing::warn!("the published demo key `demo` is enabled; remove it from any config reachable from another machine");
    }
    if !snapshot.server.listen.ip().is_loopback() && demo_enabled {
        tracing::warn!("listening on a non-loopback address with the demo key enabled");
    }
}
