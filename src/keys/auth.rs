//! Authenticating a request from its `Authorization: Bearer` header.
//!
//! The presented key is hashed and compared with every configured hash in constant time, and
//! the scan does not stop at a match, so response timing says nothing about which (or how
//! many) keys exist. An OpenRouter key sent as a bearer is refused with its own code: it
//! means a client is configured to bypass the gateway's key custody.

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::data_class::Class;
use crate::glob::Glob;
use crate::limits::KeyLimits;
use crate::secret::Secret;

/// One configured client key.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub id: Arc<str>,
    pub service: Arc<str>,
    pub sha256: [u8; 32],
    pub disabled: bool,
    pub expires: Option<OffsetDateTime>,
    pub created: Option<OffsetDateTime>,
    pub default_class: Class,
    pub min_class: Class,
    /// Budget and rate limits.
    pub limits: KeyLimits,
    /// Patterns narrowing the models its classes allow (empty: no narrowing).
    pub allowed_models: Arc<[Glob]>,
    /// The service's own OpenRouter key, used instead of the gateway's.
    pub upstream_key: Option<Secret>,
}

/// All configured keys.
#[derive(Debug, Clone, Default)]
pub struct KeyStore {
    records: Vec<KeyRecord>,
}

impl KeyStore {
    pub fn new(records: Vec<KeyRecord>) -> Self {
        Self { records }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn records(&self) -> &[KeyRecord] {
        &self.records
    }
}

/// The authenticated caller, carried through the pipeline.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: Arc<str>,
    pub service: Arc<str>,
    pub default_class: Class,
    pub min_class: Class,
    pub limits: KeyLimits,
    pub allowed_models: Arc<[Glob]>,
    pub upstream_key: Option<Secret>,
}

impl Caller {
    /// The caller a key record describes (also used by `policy explain`).
    pub fn from_record(record: &KeyRecord) -> Self {
        Caller {
            key_id: Arc::clone(&record.id),
            service: Arc::clone(&record.service),
            default_class: record.default_class,
            min_class: record.min_class,
            limits: record.limits,
            allowed_models: Arc::clone(&record.allowed_models),
            upstream_key: record.upstream_key.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing API key: send `Authorization: Bearer <orguard client key>`")]
    Missing,
    #[error("invalid API key")]
    Unknown,
    #[error("this API key is disabled")]
    Disabled,
    #[error("this API key has expired; ask for a rotated key")]
    Expired,
    #[error(
        "OpenRouter keys are not accepted here: use the orguard client key issued to your service"
    )]
    UpstreamKey,
    /// Two `Authorization` headers: a proxy in between may read the other one.
    #[error("send exactly one `Authorization` header")]
    Repeated,
}

/// Finds the key presented in `headers`, refusing unknown, disabled and expired keys.
pub fn authenticate(
    store: &KeyStore,
    headers: &HeaderMap,
    now: OffsetDateTime,
) -> Result<Caller, AuthError> {
    if headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(AuthError::Repeated);
    }
    let presented = bearer(headers).ok_or(AuthError::Missing)?;
    if presented.starts_with("sk-or-") {
        return Err(AuthError::UpstreamKey);
    }
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut found: Option<&KeyRecord> = None;
    for record in &store.records {
        if bool::from(record.sha256.ct_eq(&digest)) {
            found = Some(record);
        }
    }
    let record = found.ok_or(AuthError::Unknown)?;
    if record.disabled {
        return Err(AuthError::Disabled);
    }
    if record.expires.is_some_and(|at| now >= at) {
        return Err(AuthError::Expired);
    }
    Ok(Caller::from_record(record))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use time::macros::datetime;

    use super::*;

    fn record(id: &str, key: &str) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            service: "svc".into(),
            sha256: Sha256::digest(key.as_bytes()).into(),
            disabled: false,
            expires: None,
            created: None,
            default_class: Class::Internal,
            min_class: Class::Public,
            limits: KeyLimits::default(),
            allowed_models: Arc::from(Vec::new()),
            upstream_key: None,
        }
    }

    fn with_auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    const NOW: OffsetDateTime = datetime!(2026-11-22 12:00 UTC);

    #[test]
    fn finds_the_right_key() {
        let store = KeyStore::new(vec![record("a", "ogk_a"), record("b", "ogk_b")]);
        assert_eq!(
            &*authenticate(&store, &with_auth("Bearer ogk_b"), NOW)
                .unwrap()
                .key_id,
            "b"
        );
        assert_eq!(
            &*authenticate(&store, &with_auth("bearer  ogk_a "), NOW)
                .unwrap()
                .key_id,
            "a"
        );
    }

    #[test]
    fn refusals() {
        let mut disabled = record("d", "ogk_d");
        disabled.disabled = true;
        let mut expired = record("e", "ogk_e");
        expired.expires = Some(datetime!(2026-11-22 12:00 UTC));
        let store = KeyStore::new(vec![record("a", "ogk_a"), disabled, expired]);
        let cases = [
            (HeaderMap::new(), AuthError::Missing),
            (with_auth("Basic b2drX2E="), AuthError::Missing),
            (with_auth("Bearer "), AuthError::Missing),
            (with_auth("Bearer ogk_A"), AuthError::Unknown),
            (with_auth("Bearer ogk_a2"), AuthError::Unknown),
            (with_auth("Bearer ogk_d"), AuthError::Disabled),
            (with_auth("Bearer ogk_e"), AuthError::Expired),
            (with_auth("Bearer sk-or-v1-0000"), AuthError::UpstreamKey),
        ];
        for (headers, want) in cases {
            assert_eq!(authenticate(&store, &headers, NOW).unwrap_err(), want);
        }
    }
}
