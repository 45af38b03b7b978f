//! One request's inspection: what the detectors found where ([`scan`]), and the class's
//! actions applied to it ([`apply`]).
//!
//! Findings are keyed by place ([`walk::Path::hash`]) and by a digest of the text that was
//! scanned, not by visiting order: the policy rewrites owned fields (`model`, `provider`,
//! `user`…) between the scan and the rewrite, and a rewrite must never land on a string
//! other than the one scanned. A string whose text changed is scanned again.
//!
//! Where a value sits decides what can be done with it. Strings are rewritten in place.
//! Object keys, numbers and forwarded headers are never rewritten (that would change what
//! the upstream parses): a detected value there is refused when the class's action would
//! rewrite it, and the error names the place, never the value.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use axum::http::{HeaderMap, HeaderName};
use serde_json::{Map, Value};

use super::detectors::{Kind, SECRET};
use super::walk::{self, Fixed, Media, Path, ShapeError, Visit};
use super::{Action, Detectors, Placeholders, RedactPolicy, Span};
use crate::error::ErrorCode;
use crate::policy::Denial;
use crate::request::Endpoint;

/// Strictness of actions, for merged spans: the value must not escape any of its types.
fn strictness(a: Action) -> u8 {
    match a {
        Action::Allow => 0,
        Action::Placeholder => 1,
        Action::Hash => 2,
        Action::Redact => 3,
        Action::Block => 4,
    }
}

/// The strictest action among `kinds`, with the type it belongs to.
fn strictest<'k>(
    policy: &RedactPolicy,
    kinds: impl Iterator<Item = Kind> + 'k,
) -> Option<(Kind, Action)> {
    kinds
        .map(|k| (k, policy.action(k)))
        .max_by_key(|(_, a)| strictness(*a))
}

/// The detections in one rewritable string.
#[derive(Debug, Clone)]
struct Found {
    len: usize,
    digest: u64,
    spans: Vec<Span>,
}

/// Detections in a place that is never rewritten (a key, a number, a header).
#[derive(Debug, Clone)]
struct Pinned {
    kinds: Vec<Kind>,
    /// `$.metadata.*`, `header x-session-id`: a place, never a value.
    place: String,
    what: &'static str,
}

/// What one scan of a request found.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    texts: HashMap<u64, Found>,
    pinned: Vec<Pinned>,
    /// Content the gateway cannot read: each kind once, with its first place.
    media: Vec<(Media, String)>,
}

fn digest(s: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl Findings {
    /// Counts by type (every type detected, overlapping ones included).
    pub fn counts(&self) -> BTreeMap<Kind, u64> {
        let mut out = BTreeMap::new();
        for found in self.texts.values() {
            for s in &found.spans {
                for k in s.kinds() {
                    *out.entry(k).or_default() += 1;
                }
            }
        }
        for p in &self.pinned {
            for k in &p.kinds {
                *out.entry(*k).or_default() += 1;
            }
        }
        out
    }

    /// The personal-data types found (everything but `SECRET`), which raise the class.
    pub fn pii_types(&self) -> Vec<Kind> {
        self.counts().into_keys().filter(|k| *k != SECRET).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty() && self.pinned.is_empty()
    }

    /// Uninspectable content found, each kind once with the first place it was seen.
    pub fn media(&self) -> &[(Media, String)] {
        &self.media
    }

    /// Scans the client headers that go upstream (`names`). A header that is not text or
    /// comes twice is refused: the upstream might read the copy that was not scanned.
    pub fn scan_headers(
        &mut self,
        detectors: &Detectors,
        headers: &HeaderMap,
        names: &[HeaderName],
    ) -> Result<(), Denial> {
        for name in names {
            let mut values = headers.get_all(name).iter();
            let Some(value) = values.next() else { continue };
            if values.next().is_some() {
                return Err(Denial::invalid(
                    ErrorCode::InvalidHeader,
                    format!("header {name} is sent more than once; send it once"),
                ));
            }
            let Ok(text) = value.to_str() else {
                return Err(Denial::invalid(
                    ErrorCode::InvalidHeader,
                    format!("header {name} must be visible ASCII text"),
                ));
            };
            let kinds = kinds_of(&detectors.find(text));
            if !kinds.is_empty() {
                self.pinned.push(Pinned {
                    kinds,
                    place: format!("header {name}"),
                    what: "a header",
                });
            }
        }
        Ok(())
    }
}

fn kinds_of(spans: &[Span]) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = spans.iter().flat_map(Span::kinds).collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

/// The visitor of [`scan`].
struct Scanner<'d> {
    detectors: &'d Detectors,
    findings: Findings,
}

impl Visit for Scanner<'_> {
    fn text(&mut self, at: &Path<'_>, s: &mut String) {
        let spans = self.detectors.find(s);
        if !spans.is_empty() {
            self.findings.texts.insert(
                at.hash(),
                Found {
                    len: s.len(),
                    digest: digest(s),
                    spans,
                },
            );
        }
    }

    fn fixed(&mut self, at: &Path<'_>, text: Fixed<'_>) {
        let (kinds, what) = match text {
            Fixed::Key(k) => (kinds_of(&self.detectors.find(k)), "an object key"),
            Fixed::Number { digits, under } => {
                // The key it sits under is context (`"ssn": 123456789`); only detections
                // that reach into the digits count.
                let text = format!("{under}: {digits}");
                let from = text.len() - digits.len();
                let spans: Vec<Span> = self
                    .detectors
                    .find(&text)
                    .into_iter()
                    .filter(|s| s.end > from)
                    .collect();
                (kinds_of(&spans), "a number")
            }
        };
        if !kinds.is_empty() {
            self.findings.pinned.push(Pinned {
                kinds,
                place: at.render(),
                what,
            });
        }
    }

    fn media(&mut self, at: &Path<'_>, kind: Media) {
        if !self.findings.media.iter().any(|(k, _)| *k == kind) {
            self.findings.media.push((kind, at.render()));
        }
    }
}

/// Scans everything `body` forwards once, and checks known fields' shapes. The body changes
/// only where tool-call arguments are normalised to the JSON that was scanned.
pub fn scan(
    detectors: &Detectors,
    endpoint: Endpoint,
    body: &mut Map<String, Value>,
) -> Result<Findings, ShapeError> {
    let mut scanner = Scanner {
        detectors,
        findings: Findings::default(),
    };
    walk::walk(endpoint, body, &mut scanner)?;
    Ok(scanner.findings)
}

/// The result of applying a class's actions.
#[derive(Debug, Clone, Default)]
pub struct Redaction {
    /// Values rewritten, by type (allowed ones are not counted).
    pub counts: BTreeMap<Kind, u64>,
    /// Placeholder → original, for restoring the response. Never persisted.
    pub placeholders: Placeholders,
}

/// Rewrites `body` per `policy`, or refuses it when a type's action is `block`, or when a
/// value the class would rewrite sits where orguard does not rewrite. Errors name types and
/// places, never values.
pub fn apply(
    detectors: &Detectors,
    endpoint: Endpoint,
    body: &mut Map<String, Value>,
    findings: &Findings,
    policy: &RedactPolicy,
    hash_key: &[u8],
) -> Result<Redaction, Denial> {
    let blocked: Vec<Kind> = findings
        .counts()
        .into_keys()
        .filter(|k| policy.action(k) == Action::Block)
        .collect();
    if !blocked.is_empty() {
        return Err(blocked_denial(&blocked));
    }
    for p in &findings.pinned {
        if let Some((kind, action)) = strictest(policy, p.kinds.iter().copied()) {
            if action != Action::Allow {
                return Err(Denial::forbidden(
                    ErrorCode::UnredactableField,
                    format!(
                        "data of type {kind} in {} at `{}` would have to be rewritten for this class, and orguard does not rewrite object keys, numbers or headers; nothing was sent",
                        p.what, p.place
                    ),
                ));
            }
        }
    }
    let mut rewriter = Rewriter {
        detectors,
        findings,
        policy,
        hash_key,
        redaction: Redaction::default(),
        blocked_late: Vec::new(),
    };
    if findings.texts.is_empty() {
        return Ok(rewriter.redaction);
    }
    walk::walk(endpoint, body, &mut rewriter)
        .map_err(|e| Denial::invalid(ErrorCode::InvalidFieldType, e.to_string()))?;
    if !rewriter.blocked_late.is_empty() {
        return Err(blocked_denial(&rewriter.blocked_late));
    }
    Ok(rewriter.redaction)
}

fn blocked_denial(blocked: &[Kind]) -> Denial {
    let code = if blocked.contains(&SECRET) {
        ErrorCode::SecretBlocked
    } else {
        ErrorCode::PiiBlocked
    };
    Denial::forbidden(
        code,
        format!(
            "the request contains data of type {} that this class does not allow to leave; nothing was sent",
            blocked.join(", ")
        ),
    )
}

/// The visitor of [`apply`].
struct Rewriter<'a> {
    detectors: &'a Detectors,
    findings: &'a Findings,
    policy: &'a RedactPolicy,
    hash_key: &'a [u8],
    redaction: Redaction,
    /// Blocked types found by a re-scan of a string that changed since the scan.
    blocked_late: Vec<Kind>,
}

impl Visit for Rewriter<'_> {
    fn text(&mut self, at: &Path<'_>, s: &mut String) {
        let Some(found) = self.findings.texts.get(&at.hash()) else {
            return;
        };
        let fresh;
        let spans = if found.len == s.len() && found.digest == digest(s) {
            &found.spans
        } else {
            fresh = self.detectors.find(s);
            &fresh
        };
        if let Some(out) = self.rewrite(s, spans) {
            *s = out;
        }
    }

    fn fixed(&mut self, _: &Path<'_>, _: Fixed<'_>) {}

    fn media(&mut self, _: &Path<'_>, _: Media) {}
}

impl Rewriter<'_> {
    fn rewrite(&mut self, s: &str, spans: &[Span]) -> Option<String> {
        if spans.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(s.len());
        let mut at = 0;
        for span in spans {
            let (Some(keep), Some(value)) = (s.get(at..span.start), s.get(span.start..span.end))
            else {
                continue;
            };
            // The strictest action among every type found here, labelled with that type.
            let (label, action) =
                strictest(self.policy, span.kinds()).unwrap_or((span.kind, Action::Allow));
            if action == Action::Block && !self.blocked_late.contains(&label) {
                self.blocked_late.push(label);
            }
            let replacement = match action {
                Action::Allow | Action::Block => None,
                Action::Redact => Some(format!("[{label}]")),
                Action::Placeholder => Some(self.redaction.placeholders.token(label, value)),
                Action::Hash => Some(format!(
                    "[{}:{}]",
                    span.kind,
                    hex::encode(
                        crate::secret::hmac_sha256(
                            self.hash_key,
                            &[span.kind.as_bytes(), &[0], value.as_bytes()]
                        )
                        .get(..4)
                        .unwrap_or_default()
                    )
                )),
            };
            out.push_str(keep);
            match replacement {
                Some(r) => {
                    out.push_str(&r);
                    *self.redaction.counts.entry(label).or_default() += 1;
                }
                None => out.push_str(value),
            }
            at = span.end;
        }
        out.push_str(s.get(at..).unwrap_or_default());
        Some(out)
    }
}
