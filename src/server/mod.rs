//! The HTTP server: the router, listeners, reloads and graceful shutdown, over the
//! shared [`AppState`].

pub mod admin;
pub use crate::request::client::ClientAddr;
mod layers;
pub use layers::RequestId;
mod ops;
mod routes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::state::{AppState, RejectedReload};

/// The full application: routes plus the HTTP hygiene layers.
pub fn app(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    layers::wrap(routes::routes(state), config)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains in-flight requests and
/// streams for at most `drain`. Returns when everything finished or the deadline passed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = started_tx.send(());
    };
    // The peer address is the audit's `client` (or `peer` behind trusted proxies).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(no_delay(listener), app).with_graceful_shutdown(signal);
    let deadline = async move {
        if started_rx.await.is_ok() {
            tracing::info!(
                drain_seconds = drain.as_secs(),
                "shutdown requested; draining in-flight requests"
            );
            tokio::time::sleep(drain).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => {
            tracing::info!("all in-flight requests finished; exiting");
            result
        }
        () = deadline => {
            tracing::warn!("drain deadline passed with requests still in flight; exiting");
            Ok(())
        }
    }
}

/// Accepted connections with `TCP_NODELAY`: without it the last small write of a response
/// (an SSE event, the end of a chunked body) waits for the client's delayed ACK, which adds
/// ~40 ms to every streamed answer. nginx sets `tcp_nodelay` for the same reason.
pub fn no_delay(listener: TcpListener) -> NoDelay {
    use axum::serve::ListenerExt;
    listener.tap_io(set_no_delay as fn(&mut tokio::net::TcpStream))
}

/// The listener [`no_delay`] returns: a named type, so that `ConnectInfo` (the peer
/// address the audit records) works through it.
pub type NoDelay = axum::serve::TapIo<TcpListener, fn(&mut tokio::net::TcpStream)>;

fn set_no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY on an accepted connection");
    }
}

/// A future that resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when
/// this is called, not when the future is first polled, so a signal that arrives while the
/// server is still starting is not lost (nor does it kill the process undrained).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            () = term => {}
        }
    }
}

/// Reloads the config on SIGHUP: the new snapshot is validated and swapped in atomically;
/// requests in flight keep the snapshot they started with; an invalid config is logged,
/// counted and shown on `/readyz`, and the old one stays. Settings that only a restart
/// applies (listeners, audit sink, state store…) are warned about. Runs until the process
/// exits.
#[cfg(unix)]
pub fn reload_on_sighup(state: &AppState, source: crate::config::Source) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; config reload is unavailable");
        return;
    };
    let config = Arc::clone(&state.config);
    let names = Arc::clone(&state.provider_names);
    let metrics = Arc::clone(&state.metrics);
    let status = Arc::clone(&state.reload);
    // What the process was built from: restart-only settings are compared with this, not
    // with the previous reload, so a change reverted by a later reload stops being pending.
    let started = config.load_full();
    #[expect(
        clippy::disallowed_methods,
        reason = "holds no request state; ends with the runtime"
    )]
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match crate::config::load(&source) {
                Ok(mut next) => {
                    Arc::make_mut(&mut next.policy)
                        .provider_names
                        .attach(Arc::clone(&names));
                    let pending = crate::config::reload::restart_needed(&started, &next);
                    if !pending.is_empty() {
                        tracing::warn!(
                            settings = %pending.join(", "),
                            "config reloaded, but changed settings need a restart to take effect; until then the values from start stay in use"
                        );
                    }
                    config.store(Arc::new(next));
                    status.rejected.store(None);
                    status.restart_pending.store(Arc::new(pending));
                    tracing::info!(config = %source.describe(), "config reloaded");
                    // Counted last: once the counter moves, `/readyz` already shows this
                    // reload, so a script that waits for the counter reads a settled state.
                    metrics.record_reload(true);
                }
                Err(e) => {
                    let at = time::OffsetDateTime::now_utc()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    let problems = crate::config::join(&e.problems, "; ");
                    tracing::error!(error = %e, "config reload rejected; keeping the current config");
                    status
                        .rejected
                        .store(Some(Arc::new(RejectedReload { at, problems })));
                    metrics.record_reload(false);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    #[tokio::test]
    async fn accepted_connections_have_no_delay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = super::no_delay(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await;
        assert!(
            accepted.nodelay().unwrap(),
            "TCP_NODELAY is set on the accepted socket"
        );
    }
}
