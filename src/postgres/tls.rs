//! The rustls client configuration for one [`Target`], on the `ring` provider (no C build),
//! and the certificate checks libpq's modes stand for:
//!
//! - nothing (`prefer`, `require` without a root certificate): any certificate, but the
//!   handshake's signatures are still verified, so the session key is shared with whoever
//!   holds the certificate's private key: encrypted, not authenticated;
//! - the chain (`verify-ca`, `require` with `sslrootcert`): signed by a trusted CA, any name;
//! - the chain and the name (`verify-full`): rustls's standard web PKI verifier.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::target::{Check, RootCert, Target};
use super::ConnectError;

/// What Postgres 17's direct TLS negotiation (`sslnegotiation=direct`) requires the client to
/// offer; a server using the classic SSLRequest ignores it.
const ALPN: &[u8] = b"postgresql";

pub(super) fn client_config(target: &Target) -> Result<ClientConfig, ConnectError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Handshake(e.to_string()))?;
    let mut config = match target.check() {
        Check::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(WithoutName {
                roots: None,
                provider,
            })),
        Check::Chain => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(WithoutName {
                roots: Some(roots(target)?),
                provider,
            })),
        Check::ChainAndName => builder.with_root_certificates(roots(target)?),
    }
    .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(config)
}

/// The trusted CAs: the `sslrootcert` bundle (read at every connect, so a rotated bundle
/// applies from the next reconnect), or the system store (read once per process).
fn roots(target: &Target) -> Result<Arc<RootCertStore>, ConnectError> {
    match &target.root_cert {
        Some(RootCert::File(path)) => {
            let pem = std::fs::read(path).map_err(|e| {
                ConnectError::RootCert(format!("cannot read {}: {}", path.display(), e.kind()))
            })?;
            let mut store = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| {
                    ConnectError::RootCert(format!("{} is not valid PEM: {e}", path.display()))
                })?;
                store.add(cert).map_err(|e| {
                    ConnectError::RootCert(format!(
                        "{} holds a certificate rustls cannot use: {e}",
                        path.display()
                    ))
                })?;
            }
            if store.is_empty() {
                return Err(ConnectError::RootCert(format!(
                    "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                )));
            }
            Ok(Arc::new(store))
        }
        Some(RootCert::System) | None => {
            static SYSTEM: OnceLock<Arc<RootCertStore>> = OnceLock::new();
            let store = SYSTEM.get_or_init(|| {
                let mut store = RootCertStore::empty();
                // Unreadable entries are skipped; an empty store is refused below.
                store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                Arc::new(store)
            });
            if store.is_empty() {
                return Err(ConnectError::RootCert(
                    "the system trust store holds no certificate; set sslrootcert to the CA bundle"
                        .to_owned(),
                ));
            }
            Ok(Arc::clone(store))
        }
    }
}

/// The verifier for the modes that do not check the host name: `verify-ca` (and `require`
/// with a root file) checks the chain against `roots`; `prefer` and `require` without one
/// accept any certificate (`roots: None`). Either way the handshake signatures made with
/// the certificate's key are verified, so the peer holds that key.
#[derive(Debug)]
struct WithoutName {
    roots: Option<Arc<RootCertStore>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for WithoutName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why a handshake failed, in words an operator acts on.
pub(super) fn explain(e: &rustls::Error, target: &Target) -> ConnectError {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            ConnectError::Untrusted {
                roots: target.roots_described(),
            }
        }
        rustls::Error::InvalidCertificate(C::NotValidForNameContext {
            expected,
            presented,
        }) => ConnectError::WrongHost {
            host: expected.to_str().into_owned(),
            names: presented
                .iter()
                .map(|n| name_of(n))
                .collect::<Vec<_>>()
                .join(", "),
        },
        rustls::Error::InvalidCertificate(C::NotValidForName) => ConnectError::WrongHost {
            host: host_of(target),
            names: String::new(),
        },
        rustls::Error::InvalidCertificate(_) => ConnectError::Certificate(e.to_string()),
        _ => ConnectError::Handshake(e.to_string()),
    }
}

/// rustls lists the names a certificate carries as `DnsName("db.internal")` or
/// `IpAddress(10.0.0.5)`: the bare name reads better.
fn name_of(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

fn host_of(target: &Target) -> String {
    match target.config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "the server".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_bundle_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for (path, what) in [
            (dir.path().join("missing.pem"), "cannot read"),
            (empty, "holds no PEM certificate"),
        ] {
            let url = format!(
                "postgres://u:hunter2@db/a?sslmode=verify-full&sslrootcert={}",
                path.display()
            );
            let target = Target::parse(&url).unwrap();
            let e = client_config(&target).unwrap_err().to_string();
            assert!(e.contains(what) && e.contains("sslrootcert"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn each_certificate_problem_reads_as_one() {
        let target = Target::parse(
            "postgres://u@127.0.0.1/a?sslmode=verify-full&sslrootcert=/etc/orguard/ca.pem",
        )
        .unwrap();
        let untrusted = explain(
            &rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            &target,
        )
        .to_string();
        assert!(
            untrusted.contains("not signed by a CA in sslrootcert /etc/orguard/ca.pem"),
            "{untrusted}"
        );
        let wrong = explain(
            &rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName),
            &target,
        )
        .to_string();
        assert!(wrong.contains("not valid for host 127.0.0.1"), "{wrong}");
        assert!(wrong.contains("verify-ca"), "{wrong}");
        let named = explain(
            &rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
                expected: ServerName::try_from("127.0.0.1").unwrap(),
                presented: vec![
                    r#"DnsName("localhost")"#.to_owned(),
                    "IpAddress(10.0.0.5)".to_owned(),
                ],
            }),
            &target,
        )
        .to_string();
        assert!(
            named.contains("not valid for host 127.0.0.1 (it names localhost, 10.0.0.5)"),
            "{named}"
        );
    }
}
