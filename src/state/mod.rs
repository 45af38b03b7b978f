//! What every request shares: the live config, the upstream clients, the audit writer,
//! breakers, counters and metrics, and the background pollers that keep learned upstream
//! facts fresh.
//!
//! Its own module, below the server and the pipeline, so that the stages a request runs
//! through can take the state without importing the server that routes to them.

mod pollers;

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Snapshot;

/// Shared by every request: a handle to [`Shared`], which it reads through. Cloned for each
/// request by every layer that takes the state, so a clone is one reference count, not one
/// per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    /// The live config. A request loads one snapshot at its start and keeps it.
    pub config: Arc<ArcSwap<Snapshot>>,
    /// One pooled upstream client for the process.
    pub client: reqwest::Client,
    /// The client the Presidio analyzer is asked with (no proxy; built even when no
    /// analyzer is configured, since a reload may configure one).
    pub presidio: reqwest::Client,
    /// The audit writer, started once from the config at start.
    pub audit: crate::audit::Writer,
    /// Per-model circuit breakers (they outlive reloads).
    pub breakers: Arc<crate::upstream::breaker::Breakers>,
    /// Upstream requests in flight (sized at start; a reload does not resize it).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Provider display names learned from `GET /providers` (outlives reloads).
    pub provider_names: Arc<ArcSwap<std::collections::HashMap<String, String>>>,
    /// Budget and rate counters (built from `[state]` at start; they outlive reloads).
    pub limits: crate::limits::Limits,
    /// Model prices learned from `GET /models` (outlive reloads).
    pub prices: Arc<crate::limits::pricing::Learned>,
    /// How the last SIGHUP reload went, for `/readyz`.
    pub reload: Arc<ReloadStatus>,
    /// The OTLP trace exporter (`[telemetry]`, built at start; off when no endpoint is set).
    pub traces: crate::traces::Traces,
}

/// What `/readyz` says about reloads: a rejected reload stays visible until one is applied
/// (the old config still serves, so the replica stays ready), and settings changed since
/// start that only a restart applies are listed.
#[derive(Default)]
pub struct ReloadStatus {
    pub rejected: arc_swap::ArcSwapOption<RejectedReload>,
    pub restart_pending: ArcSwap<Vec<&'static str>>,
}

/// A reload that failed validation.
#[derive(Debug)]
pub struct RejectedReload {
    /// RFC 3339.
    pub at: String,
    /// The validation problems (values masked, as in the log).
    pub problems: String,
}

/// Why the server state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot build the upstream HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The message names no URL: it may hold a password.
    #[error("cannot set up the shared state store (state.redis_url)")]
    State,
    #[error(transparent)]
    Traces(#[from] crate::traces::TracesError),
}

impl AppState {
    /// Builds the state and starts the audit writer (needs a Tokio runtime).
    pub fn new(mut snapshot: Snapshot) -> Result<Self, StateError> {
        let provider_names = Arc::new(ArcSwap::from_pointee(std::collections::HashMap::new()));
        Arc::make_mut(&mut snapshot.policy)
            .provider_names
            .attach(Arc::clone(&provider_names));
        let client = crate::upstream::build_client(&snapshot.upstream)?;
        let presidio = crate::redact::presidio::client()?;
        let audit = snapshot.audit.start();
        let r = &snapshot.resilience;
        let breakers = Arc::new(crate::upstream::breaker::Breakers::new(
            r.breaker_threshold,
            r.breaker_cooldown,
        ));
        let in_flight = Arc::new(tokio::sync::Semaphore::new(r.max_in_flight));
        let metrics = Arc::new(crate::metrics::Metrics::new()?);
        let limits = crate::limits::Limits::new(
            snapshot.state.clone(),
            metrics.state_errors.clone(),
            crate::limits::history::History::of(&snapshot.audit.sink),
        )
        .map_err(|_| StateError::State)?;
        let traces = crate::traces::Traces::start(
            &snapshot.telemetry,
            metrics.telemetry_export_errors.clone(),
        )?;
        Ok(Self(Arc::new(Shared {
            config: Arc::new(ArcSwap::from_pointee(snapshot)),
            client,
            presidio,
            audit,
            breakers,
            in_flight,
            metrics,
            provider_names,
            limits,
            prices: Arc::default(),
            reload: Arc::default(),
            traces,
        })))
    }

    /// Starts the background tasks that belong to a running server (the upstream credit
    /// watch). Detached: they hold no request state and end with the runtime.
    pub fn start_background(&self) {
        let limits = self.limits.clone();
        #[expect(
            clippy::disallowed_methods,
            reason = "a one-off read at start; a request that needs it first waits for it"
        )]
        tokio::spawn(async move {
            if let Err(e) = limits.restore().await {
                tracing::error!(error = %e, "cannot rebuild budget spend from the audit trail; budgeted requests follow state.budget_on_error until it can");
            }
        });
        let state = self.clone();
        let names = self.clone();
        let prices = self.clone();
        #[expect(
            clippy::disallowed_methods,
            reason = "polls hold no request state; they end with the runtime"
        )]
        tokio::spawn(async move { pollers::prices(prices).await });
        #[expect(
            clippy::disallowed_methods,
            reason = "polls hold no request state; they end with the runtime"
        )]
        tokio::spawn(async move { pollers::credit(state).await });
        #[expect(
            clippy::disallowed_methods,
            reason = "polls hold no request state; they end with the runtime"
        )]
        tokio::spawn(async move { pollers::provider_names(names).await });
    }
}
