//! Every connection orguard makes to Postgres (the audit sink, the checkpoint witness, the
//! spend read back at start, `orguard audit verify`, `orguard check`) goes through
//! [`connect`]: one place that understands libpq's `sslmode` and `sslrootcert` in the URL
//! ([`target`]) and dials with rustls ([`tls`]).
//!
//! With no `sslmode` the mode is `prefer`, libpq's own default: a database without TLS keeps
//! working as before, one with TLS gets an encrypted connection. Neither checks who answers;
//! `verify-full` does, and is what a database reached over a network should use.

mod target;
mod tls;

use tokio_postgres::Client;

pub use target::{Check, RootCert, SslMode, Target, TargetError};

/// Why no connection was made. Messages name the parameter or the certificate problem, never
/// the URL (it may carry a password).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("sslrootcert: {0}")]
    RootCert(String),
    #[error("TLS certificate problem: the server's certificate is not signed by a CA in {roots}")]
    Untrusted { roots: String },
    #[error("TLS certificate problem: the server's certificate is not valid for host {host}{}; sslmode=verify-full checks the host name (verify-ca does not)", if names.is_empty() { String::new() } else { format!(" (it names {names})") })]
    WrongHost { host: String, names: String },
    #[error("TLS certificate problem: {0}")]
    Certificate(String),
    #[error("the server does not offer TLS, and sslmode={0} requires it")]
    NoTls(&'static str),
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    #[error("{0}")]
    Postgres(String),
}

/// Connects to `url` with its TLS settings, with the driver task detached (it ends when the
/// client is dropped). `what` names the connection in Postgres (`application_name`, unless the
/// URL sets one) and in the log line written if it breaks.
pub async fn connect(url: &str, what: &'static str) -> Result<Client, ConnectError> {
    let target = Target::parse(url)?;
    connect_to(&target, what).await
}

/// [`connect`] for a parsed target.
pub async fn connect_to(target: &Target, what: &'static str) -> Result<Client, ConnectError> {
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls::client_config(target)?);
    let mut config = target.config.clone();
    if config.get_application_name().is_none() {
        config.application_name(format!("orguard {what}"));
    }
    let (client, connection) = config.connect(tls).await.map_err(|e| explain(&e, target))?;
    // Detached on purpose: the connection task ends when the client is dropped.
    #[expect(
        clippy::disallowed_methods,
        reason = "the connection task ends when the client is dropped"
    )]
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            let error = crate::secret::mask_text(&e.to_string());
            tracing::warn!(%error, database = what, "database connection ended");
        }
    });
    Ok(client)
}

/// The transport of an open connection, as the server sees it (`pg_stat_ssl`): the TLS
/// version, or `None` for plaintext.
pub async fn tls_version(client: &Client) -> Result<Option<String>, ConnectError> {
    let row = client
        .query_one(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| ConnectError::Postgres(crate::secret::mask_text(&e.to_string())))?;
    if !row.try_get::<_, bool>(0).unwrap_or(false) {
        return Ok(None);
    }
    let version: Option<String> = row.try_get(1).ok().flatten();
    Ok(Some(version.unwrap_or_else(|| "TLS".to_owned())))
}

/// Finds the TLS cause of a failed connect in tokio-postgres's error chain (the rustls error
/// sits inside an `io::Error`), else passes its message on, masked.
fn explain(e: &tokio_postgres::Error, target: &Target) -> ConnectError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return tls::explain(tls, target);
        }
        if let Some(tls) = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return tls::explain(tls, target);
        }
        // tokio-postgres's words when the server answers the SSLRequest with "no".
        if err.to_string() == "server does not support TLS" {
            return ConnectError::NoTls(target.ssl_mode.as_str());
        }
        source = err.source();
    }
    ConnectError::Postgres(crate::secret::mask_text(&with_causes(e)))
}

/// An error and its causes, `: `-joined: tokio-postgres's own message is only the kind
/// ("error connecting to server", "db error"), the cause says what happened. For errors from
/// connecting, parsing and reading, which carry no record data (an INSERT's error may quote
/// the failing row, so the audit writer does not use this).
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}
