//! A Postgres connection string with libpq's TLS parameters taken out and understood.
//!
//! Operators write `postgres://u@db/audit?sslmode=verify-full&sslrootcert=/etc/ca.pem` because
//! that is what libpq and every Postgres tool accept. tokio-postgres knows only `disable`,
//! `prefer` and `require`, and refuses `sslrootcert` as an unknown option, so the TLS
//! parameters are removed here (URL query or `key=value` form), and the rest goes to
//! tokio-postgres as written. Errors name the parameter, never the string: it may hold a
//! password.

use std::path::PathBuf;

/// libpq's `sslmode`, minus `allow` (plaintext first, TLS only if the server insists: no
/// reason to want it for an audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plaintext.
    Disable,
    /// TLS when the server offers it, plaintext when it does not; the certificate is not
    /// checked. The default, as in libpq: a database without TLS keeps working, and one with
    /// TLS gets an encrypted (not authenticated) connection.
    Prefer,
    /// TLS or no connection; the certificate is not checked, unless `sslrootcert` is given
    /// (then the chain is, as libpq does when it finds a root certificate).
    Require,
    /// TLS, and the server's certificate chains to `sslrootcert` (or the system roots).
    VerifyCa,
    /// As `VerifyCa`, and the certificate names the host connected to.
    VerifyFull,
}

impl SslMode {
    pub const VALUES: &'static str = "disable, prefer, require, verify-ca, verify-full";

    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the CAs that sign the server's certificate come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// `sslrootcert=system` (libpq 16): the host's trust store.
    System,
    /// A PEM bundle.
    File(PathBuf),
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Nothing: the connection is encrypted, to whoever answers.
    Nothing,
    /// The chain up to a trusted CA, not the host name.
    Chain,
    /// The chain and the host name.
    ChainAndName,
}

/// A parsed connection string: what tokio-postgres gets, plus the TLS settings.
#[derive(Clone)]
pub struct Target {
    pub config: tokio_postgres::Config,
    pub ssl_mode: SslMode,
    /// `None`: the system roots, when a mode needs roots at all.
    pub root_cert: Option<RootCert>,
}

impl std::fmt::Debug for Target {
    // The config holds the password; the TLS settings are all a log needs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("ssl_mode", &self.ssl_mode)
            .field("root_cert", &self.root_cert)
            .finish_non_exhaustive()
    }
}

/// Why a connection string was refused. Never carries the string itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("sslmode {0:?} is not one of {values}", values = SslMode::VALUES)]
    SslMode(String),
    #[error("sslrootcert is empty")]
    EmptyRootCert,
    #[error("weak sslmode {0:?} may not be used with sslrootcert=system (use verify-full)")]
    SystemRootsNeedVerifyFull(&'static str),
    #[error("sslmode verify-ca needs sslrootcert=<CA file>: without a host-name check, the system trust store would accept any public certificate")]
    VerifyCaNeedsRootCert,
    #[error("{0} is not supported (orguard presents no client certificate and checks no CRL)")]
    Unsupported(String),
    #[error("{0} is not valid percent-encoding")]
    Encoding(String),
    #[error("not a postgres://user@host/db URL or key=value connection string ({0})")]
    Syntax(String),
}

/// Parameters taken out of the string; the first two are understood, the rest refused.
const TLS_KEYS: [&str; 2] = ["sslmode", "sslrootcert"];
const UNSUPPORTED: [&str; 5] = ["sslcert", "sslkey", "sslpassword", "sslcrl", "sslcrldir"];

impl Target {
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let (rest, params) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            split_url(url)?
        } else {
            split_key_value(url)?
        };
        let mut ssl_mode = None;
        let mut root_cert = None;
        for (key, value) in params {
            match key.as_str() {
                "sslmode" => {
                    ssl_mode = Some(SslMode::parse(&value).ok_or(TargetError::SslMode(value))?);
                }
                "sslrootcert" => {
                    root_cert = Some(match value.as_str() {
                        "" => return Err(TargetError::EmptyRootCert),
                        "system" => RootCert::System,
                        _ => RootCert::File(PathBuf::from(value)),
                    });
                }
                _ => return Err(TargetError::Unsupported(key)),
            }
        }
        // libpq 16: the system store means the public web PKI, where any name can be bought,
        // so only a host-name check makes it mean anything.
        let ssl_mode = match (ssl_mode, &root_cert) {
            (None, Some(RootCert::System)) => SslMode::VerifyFull,
            (Some(mode), Some(RootCert::System)) if mode != SslMode::VerifyFull => {
                return Err(TargetError::SystemRootsNeedVerifyFull(mode.as_str()));
            }
            // libpq fails verify-ca when its root file is missing; the system store in its
            // place would accept a certificate for any name a public CA has signed.
            (Some(SslMode::VerifyCa), None) => return Err(TargetError::VerifyCaNeedsRootCert),
            (mode, _) => mode.unwrap_or(SslMode::Prefer),
        };
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e: tokio_postgres::Error| TargetError::Syntax(super::with_causes(&e)))?;
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        Ok(Target {
            config,
            ssl_mode,
            root_cert,
        })
    }

    /// What the TLS handshake checks of the server's certificate.
    pub fn check(&self) -> Check {
        match self.ssl_mode {
            SslMode::Disable | SslMode::Prefer => Check::Nothing,
            SslMode::Require if self.root_cert.is_none() => Check::Nothing,
            SslMode::Require | SslMode::VerifyCa => Check::Chain,
            SslMode::VerifyFull => Check::ChainAndName,
        }
    }

    /// Where the trusted CAs come from, for messages.
    pub fn roots_described(&self) -> String {
        match &self.root_cert {
            Some(RootCert::File(path)) => format!("sslrootcert {}", path.display()),
            Some(RootCert::System) | None => "the system trust store".to_owned(),
        }
    }
}

/// `postgres://…?a=b&sslmode=…`: the query pairs that are TLS parameters, decoded, and the
/// URL without them.
fn split_url(url: &str) -> Result<(String, Vec<(String, String)>), TargetError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)
            .ok_or_else(|| TargetError::Encoding("a URL parameter name".to_owned()))?;
        if TLS_KEYS.contains(&key.as_str()) || UNSUPPORTED.contains(&key.as_str()) {
            let value = percent_decode(value).ok_or_else(|| TargetError::Encoding(key.clone()))?;
            taken.push((key, value));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, taken))
}

/// `host=db sslmode=verify-full sslrootcert='/etc/ca.pem'`: as [`split_url`], for libpq's
/// other form (values may be single-quoted, with backslash escapes).
fn split_key_value(s: &str) -> Result<(String, Vec<(String, String)>), TargetError> {
    let syntax = || TargetError::Syntax("a key=value pair is incomplete".to_owned());
    let mut kept: Vec<&str> = Vec::new();
    let mut taken = Vec::new();
    let mut chars = s.char_indices().peekable();
    let skip_space = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_space(&mut chars);
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        skip_space(&mut chars);
        chars.next_if(|(_, c)| *c == '=').ok_or_else(syntax)?;
        skip_space(&mut chars);
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next().ok_or_else(syntax)?.1 {
                    '\'' => break,
                    '\\' => value.push(chars.next().ok_or_else(syntax)?.1),
                    c => value.push(c),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next().ok_or_else(syntax)?.1);
                } else {
                    value.push(c);
                }
            }
        }
        let end = chars.peek().map_or(s.len(), |(i, _)| *i);
        if TLS_KEYS.contains(&key.as_str()) || UNSUPPORTED.contains(&key.as_str()) {
            taken.push((key, value));
        } else {
            kept.push(s.get(start..end).unwrap_or_default().trim_end());
        }
    }
    Ok((kept.join(" "), taken))
}

/// `%XX` decoding of a URL component (as libpq decodes query values); `None` when a `%` is
/// not followed by two hex digits or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(t: &Target) -> String {
        match t.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn every_libpq_mode_is_understood_and_the_rest_goes_through() {
        let t = Target::parse(
            "postgres://u:pw@db:6543/audit?connect_timeout=3&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=gw",
        )
        .unwrap();
        assert_eq!(t.ssl_mode, SslMode::VerifyFull);
        assert_eq!(t.root_cert, Some(RootCert::File("/etc/ca.pem".into())));
        assert_eq!(t.check(), Check::ChainAndName);
        assert_eq!(host(&t), "db");
        assert_eq!(t.config.get_ports(), [6543]);
        assert_eq!(t.config.get_dbname(), Some("audit"));
        assert_eq!(t.config.get_password(), Some(&b"pw"[..]));
        assert_eq!(t.config.get_application_name(), Some("gw"));
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        for (mode, check) in [
            ("disable", Check::Nothing),
            ("prefer", Check::Nothing),
            ("require", Check::Nothing),
            ("verify-ca&sslrootcert=/etc/ca.pem", Check::Chain),
            ("verify-full", Check::ChainAndName),
        ] {
            let t = Target::parse(&format!("postgresql://u@db/a?sslmode={mode}")).unwrap();
            assert!(mode.starts_with(t.ssl_mode.as_str()));
            assert_eq!(t.check(), check, "{mode}");
        }
        // verify-ca against the system store would take any public certificate for any name.
        assert_eq!(
            Target::parse("postgresql://u@db/a?sslmode=verify-ca").unwrap_err(),
            TargetError::VerifyCaNeedsRootCert
        );
    }

    #[test]
    fn no_sslmode_means_prefer_as_in_libpq() {
        let t = Target::parse("postgres://u@db/a").unwrap();
        assert_eq!(t.ssl_mode, SslMode::Prefer);
        assert_eq!(
            t.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Prefer
        );
    }

    #[test]
    fn require_with_a_root_certificate_checks_the_chain_as_libpq_does() {
        let t = Target::parse("postgres://u@db/a?sslmode=require&sslrootcert=/ca.pem").unwrap();
        assert_eq!(t.check(), Check::Chain);
        assert_eq!(
            t.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
    }

    #[test]
    fn system_roots_default_to_and_insist_on_verify_full() {
        let t = Target::parse("postgres://u@db/a?sslrootcert=system").unwrap();
        assert_eq!(t.ssl_mode, SslMode::VerifyFull);
        assert_eq!(t.root_cert, Some(RootCert::System));
        assert_eq!(
            Target::parse("postgres://u@db/a?sslrootcert=system&sslmode=require").unwrap_err(),
            TargetError::SystemRootsNeedVerifyFull("require")
        );
    }

    #[test]
    fn bad_values_are_refused_without_echoing_the_url() {
        let url = "postgres://u:hunter2@db/a?sslmode=verify_full";
        let e = Target::parse(url).unwrap_err();
        assert_eq!(e, TargetError::SslMode("verify_full".into()));
        let text = e.to_string();
        assert!(
            text.contains("verify-full") && !text.contains("hunter2"),
            "{text}"
        );
        for (url, what) in [
            ("postgres://u:hunter2@db/a?sslcert=/c.pem", "sslcert"),
            ("postgres://u:hunter2@db/a?sslrootcert=", "sslrootcert"),
            ("postgres://u:hunter2@db/a?sslrootcert=%zz", "percent"),
            ("postgres://u:hunter2@db/a?nonsense=1", "nonsense"),
            ("host=db password=hunter2 sslmode='verify-", "incomplete"),
        ] {
            let text = Target::parse(url).unwrap_err().to_string();
            assert!(text.contains(what), "{url}: {text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
    }

    #[test]
    fn the_key_value_form_works_too() {
        let t = Target::parse(
            "host=db user=u password='p w\\'x' sslmode = verify-ca sslrootcert='/etc/my ca.pem' dbname=audit",
        )
        .unwrap();
        assert_eq!(t.ssl_mode, SslMode::VerifyCa);
        assert_eq!(t.root_cert, Some(RootCert::File("/etc/my ca.pem".into())));
        assert_eq!(host(&t), "db");
        assert_eq!(t.config.get_password(), Some(&b"p w'x"[..]));
        assert_eq!(t.config.get_dbname(), Some("audit"));
        let debug = format!("{t:?}");
        assert!(!debug.contains("p w"), "{debug}");
    }
}
