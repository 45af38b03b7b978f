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

use axum::http::{HeaderMap, HeaderName};
use serde_json::{Map, Value};

use super::detectors::text::floor;
use super::detectors::{Kind, SECRET};
use super::fold;
use super::walk::{self, Fixed, Media, Path, ShapeError, Visit};
use super::{Action, Analysis, Detectors, Placeholders, RedactPolicy, Span};
use crate::error_code::ErrorCode;
use crate::request::Endpoint;

/// A request the redaction stage will not let through. Its message names types and places,
/// never values; the policy stage turns it into a `Denial` (400 when the request is
/// malformed, 403 when it is refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub code: ErrorCode,
    pub message: String,
    /// The request is malformed (a header sent twice, not text), rather than refused.
    pub malformed: bool,
}

impl Refused {
    fn invalid(code: ErrorCode, message: String) -> Self {
        Self {
            code,
            message,
            malformed: true,
        }
    }

    fn forbidden(code: ErrorCode, message: String) -> Self {
        Self {
            code,
            message,
            malformed: false,
        }
    }
}

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

/// A fingerprint of a text, so that [`apply`] (and the Presidio analysis, with
/// [`Path::hash`] for its place) reuses spans only for the very text they were found in.
/// Clients choose the text, so the hasher is seeded at random once per process: nobody can
/// compute two texts that share a fingerprint here.
pub(crate) fn digest(s: &str) -> u64 {
    use std::hash::BuildHasher;
    static SEED: std::sync::LazyLock<foldhash::fast::RandomState> =
        std::sync::LazyLock::new(foldhash::fast::RandomState::default);
    SEED.hash_one(s)
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

    /// The PHI types found (`US_NPI`, `DIAGNOSIS_CODE`, …), which may raise the class further
    /// (`policy.phi_raises_to`).
    pub fn phi_types(&self) -> Vec<Kind> {
        self.counts()
            .into_keys()
            .filter(|k| super::detectors::is_phi(k))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty() && self.pinned.is_empty()
    }

    /// The refusals a class's actions make of these findings, before anything is rewritten:
    /// a type the class blocks, anywhere; a value the class would rewrite where orguard does
    /// not rewrite; any value in a routing field. Runs before the policy plans the request,
    /// so no later error message can echo a detected value.
    pub fn refuse(&self, policy: &RedactPolicy) -> Result<(), Refused> {
        let blocked: Vec<Kind> = self
            .counts()
            .into_keys()
            .filter(|k| policy.action(k) == Action::Block)
            .collect();
        if !blocked.is_empty() {
            return Err(blocked_denial(&blocked));
        }
        for p in &self.pinned {
            let Some((kind, action)) = strictest(policy, p.kinds.iter().copied()) else {
                continue;
            };
            let routing = p.what.starts_with("a routing field");
            if action != Action::Allow || routing {
                return Err(Refused::forbidden(
                    ErrorCode::UnredactableField,
                    format!(
                        "data of type {kind} in {} at `{}` cannot be rewritten where it sits, and this class does not let it through as it is; nothing was sent",
                        p.what, p.place
                    ),
                ));
            }
        }
        Ok(())
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
    ) -> Result<(), Refused> {
        for name in names {
            let mut values = headers.get_all(name).iter();
            let Some(value) = values.next() else { continue };
            if values.next().is_some() {
                return Err(Refused::invalid(
                    ErrorCode::InvalidHeader,
                    format!("header {name} is sent more than once; send it once"),
                ));
            }
            let Ok(text) = value.to_str() else {
                return Err(Refused::invalid(
                    ErrorCode::InvalidHeader,
                    format!("header {name} must be visible ASCII text"),
                ));
            };
            let mut spans = detectors.find(text);
            if let Some(folded) = fold::fold(text) {
                spans.extend(detectors.find(&folded));
            }
            let kinds = kinds_of(&spans);
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

/// What a pinned finding in an object key is called in the refusal.
const KEY: &str = "an object key";

fn kinds_of(spans: &[Span]) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = spans.iter().flat_map(Span::kinds).collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

/// The visitor of [`scan`].
struct Scanner<'d> {
    detectors: &'d Detectors,
    /// An external analyzer's findings, merged with the built-in ones string by string.
    analysis: &'d Analysis,
    findings: Findings,
}

impl Scanner<'_> {
    fn pin(&mut self, at: &Path<'_>, kinds: Vec<Kind>, what: &'static str) {
        if !kinds.is_empty() {
            // A key that holds the value is not written in the place that reports it.
            let place = match what {
                KEY => at.render_masking_key(),
                _ => at.render(),
            };
            self.findings.pinned.push(Pinned { kinds, place, what });
        }
    }

    /// Base64 `data:` URLs inside text (`see data:text/plain;base64,…`): a model decodes
    /// them, so the text they carry is inspected as a media payload's is, and refused when
    /// it holds a value (it cannot be rewritten inside the encoding). The marker is found
    /// in any case (`;BASE64,`); the payload may be wrapped over lines (MIME's 76 columns),
    /// unpadded, or in the URL-safe alphabet.
    fn embedded_payloads(&mut self, at: &Path<'_>, s: &str) {
        use base64::Engine as _;
        const MARK: &[u8] = b";base64,";
        let bytes = s.as_bytes();
        let mut kinds: Vec<Kind> = Vec::new();
        for start in memchr::memchr_iter(b';', bytes) {
            if !bytes
                .get(start..start + MARK.len())
                .is_some_and(|m| m.eq_ignore_ascii_case(MARK))
            {
                continue;
            }
            // An image, audio or a file (`data:application/pdf;base64,…`) is media, as it
            // is in a content part: the class decides whether it may pass. Its payload is
            // decoded and scanned all the same (a secret labelled as an image).
            if let Some(media) = embedded_media(bytes, start) {
                self.media(at, media);
            }
            // The payload's characters, white space between them dropped.
            let mut body: Vec<u8> = Vec::new();
            for &b in bytes.get(start + MARK.len()..).unwrap_or_default() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'-' | b'_' => {
                        body.push(b)
                    }
                    b' ' | b'\t' | b'\r' | b'\n' => {}
                    _ => break,
                }
            }
            // A single character past the last whole group carries no byte.
            if body.len() % 4 == 1 {
                body.pop();
            }
            let mut decoded = Vec::new();
            for engine in [
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ] {
                decoded.clear();
                if engine.decode_vec(&body, &mut decoded).is_ok() {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&decoded);
            kinds.extend(kinds_of(&self.detectors.find(&text)));
            // Read as a reader reads it too: look-alikes, controls and styled letters
            // inside the encoding hide nothing either.
            if let Some(folded) = fold::fold(&text) {
                kinds.extend(kinds_of(&self.detectors.find(&folded)));
            }
        }
        kinds.sort_unstable();
        kinds.dedup();
        self.pin(at, kinds, "base64 content");
    }

    /// Values a reader would see in `s` that the detectors did not find in it as written
    /// (escaped, percent-encoded, or broken up with look-alike or invisible characters),
    /// returned as spans of `s` to rewrite with the others.
    ///
    /// A value of the folded text stands in `s` over the characters it was read from (a
    /// phone number in full-width or Arabic-Indic digits, a key with a zero-width space
    /// inside): that span of `s` is rewritten like any other value, invisible characters
    /// included. Where escapes were decoded, or for what tag characters spell, a value has
    /// no such place; its type is then hidden when the folded text holds more values of it
    /// than the text as written, or when one of them does not stand in `s` as it is (the
    /// rewrite would replace at most a part of it: `Jo` of `Jo\u{200B}hn Smith`), and the
    /// string is refused.
    fn folded(&mut self, at: &Path<'_>, s: &str, found: &[Span]) -> Vec<Span> {
        let Some(folded) = fold::fold_aligned(s) else {
            return Vec::new();
        };
        let text = &folded.text;
        // A `data:` URL written with escapes (`data%3Atext%2Fplain%3Bbase64%2C…`).
        self.embedded_payloads(at, text);
        let (placed, mut unplaced) = read_values(self.detectors, &folded);
        let mut placed: Vec<Span> = placed.into_iter().map(|(span, _)| span).collect();
        if !folded.aligned() {
            // Escapes were decoded, so nothing found has a place; read the text again with
            // its escapes as written: a value found there has one (the escape was
            // elsewhere), and stands for one value of the same text found above.
            if let Some(plain) = fold::fold_as_written(s) {
                let (more, _) = read_values(self.detectors, &plain);
                let mut as_written: Vec<&str> = Vec::with_capacity(more.len());
                for (span, value) in more {
                    as_written.push(value);
                    placed.push(span);
                }
                unplaced.retain(|sp| {
                    let value = text.get(sp.start..sp.end).unwrap_or_default();
                    match as_written.iter().position(|v| *v == value) {
                        Some(i) => {
                            as_written.swap_remove(i);
                            false
                        }
                        None => true,
                    }
                });
            }
        }
        let mut hidden: Vec<Kind> = Vec::new();
        for kind in kinds_of(&unplaced) {
            let is_kind = |sp: &&Span| sp.kinds().any(|k| k == kind);
            let count = |spans: &[Span]| spans.iter().filter(is_kind).count();
            let as_found: Vec<String> = found
                .iter()
                .filter(is_kind)
                .filter_map(|sp| s.get(sp.start..sp.end))
                .map(|v| fold::fold(v).unwrap_or_else(|| v.to_owned()))
                .collect();
            let only_folded = unplaced.iter().filter(is_kind).any(|sp| {
                text.get(sp.start..sp.end)
                    .is_some_and(|v| !s.contains(v) && !as_found.iter().any(|f| f == v))
            });
            if count(&unplaced) > count(found) || only_folded {
                hidden.push(kind);
            }
        }
        self.pin(
            at,
            hidden,
            "text written to evade inspection (escapes, look-alike or invisible characters)",
        );
        placed
    }
}

/// The values the detectors find in a folded text: those that stand somewhere in the
/// original (as spans of it, with the value as folded), and those that do not (as spans of
/// the folded text).
fn read_values<'f>(
    detectors: &Detectors,
    folded: &'f fold::Folded,
) -> (Vec<(Span, &'f str)>, Vec<Span>) {
    let mut placed = Vec::new();
    let mut unplaced = Vec::new();
    for span in detectors.find(&folded.text) {
        let value = folded.text.get(span.start..span.end).unwrap_or_default();
        match folded.original(span.start, span.end) {
            Some((start, end)) if start < end => placed.push((Span { start, end, ..span }, value)),
            _ => unplaced.push(span),
        }
    }
    (placed, unplaced)
}

impl Scanner<'_> {
    /// One string's findings, stored under its place; `names` are the names it is held
    /// under, when they name it (see [`Visit::named_text`]).
    fn scan_text(&mut self, at: &Path<'_>, names: &[&str], s: &str) {
        let mut spans = self.detectors.find(s);
        if let Some(named) = names.iter().find_map(|k| self.detectors.named(k, s)) {
            spans.push(named);
            spans = super::resolve_overlaps(spans);
        }
        let structured = super::json_in_text::named_secrets(self.detectors, s);
        if !structured.is_empty() {
            spans.extend(structured);
            spans = super::resolve_overlaps(spans);
        }
        // The evasion check compares the built-in detectors with themselves (as written and
        // as read): an analyzer's finding of the same type must not cancel a hidden one.
        let read = self.folded(at, s, &spans);
        if !read.is_empty() {
            spans.extend(read);
            spans = super::resolve_overlaps(spans);
        }
        self.embedded_payloads(at, s);
        if let Some(found) = self.analysis.spans(at.hash(), s) {
            // Overlaps resolve as among the built-ins: one span over the union, every type
            // kept, the strictest action applies.
            spans.extend_from_slice(found);
            spans = super::resolve_overlaps(spans);
        }
        if !spans.is_empty() {
            // Each place is visited once per walk, so a place already holding findings is
            // another place whose path hashes the same (object keys are the client's to
            // choose): refuse rather than let one string's findings stand for another's.
            if self.findings.texts.contains_key(&at.hash()) {
                let kinds = kinds_of(&spans);
                self.pin(at, kinds, "a place the scan cannot tell from another one");
                return;
            }
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
}

impl Visit for Scanner<'_> {
    fn text(&mut self, at: &Path<'_>, s: &mut String) {
        self.scan_text(at, &[], s);
    }

    fn named_text(&mut self, at: &Path<'_>, names: &[&str], s: &mut String) {
        self.scan_text(at, names, s);
    }

    fn fixed(&mut self, at: &Path<'_>, text: Fixed<'_>) {
        match text {
            Fixed::Key(k) => {
                let mut spans = self.detectors.find(k);
                // An object key is not rewritten: a value read in it is refused too.
                let read = self.folded(at, k, &spans);
                spans.extend(read);
                self.pin(at, kinds_of(&spans), KEY);
            }
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
                self.pin(at, kinds_of(&spans), "a number");
            }
            Fixed::Owned(s) => {
                // The policy lower-cases model ids and provider slugs: scan what it will send.
                let mut spans = self.detectors.find(s);
                let lower = s.to_lowercase();
                if lower != s {
                    spans.extend(self.detectors.find(&lower));
                }
                let read = self.folded(at, s, &spans);
                spans.extend(read);
                self.pin(at, kinds_of(&spans), "a routing field (model or provider)");
            }
            Fixed::Payload(b64) => {
                use base64::Engine as _;
                let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else {
                    return;
                };
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    let spans = self.detectors.find(text);
                    self.pin(at, kinds_of(&spans), "base64 content");
                }
            }
        }
    }

    fn media(&mut self, at: &Path<'_>, kind: Media) {
        if !self.findings.media.iter().any(|(k, _)| *k == kind) {
            self.findings.media.push((kind, at.render()));
        }
    }

    /// A value split between text parts or messages (`"4111 1111"`, `" 1111 1111"`) is
    /// whole to the model, which reads the conversation as one text, and in neither piece
    /// to the scan: each seam is scanned with up to [`SEAM_REACH`] bytes of text either
    /// side, and a value found across it is refused (it cannot be rewritten in either
    /// piece alone).
    fn conversation(&mut self, at: &Path<'_>, texts: &[&str]) {
        // Every seam's neighbourhood in one text, so the detectors run once: the end of the
        // piece before the seam and the start of the pieces after it, at most
        // [`SEAM_PIECES`] of them (so each piece is read a bounded number of times more,
        // however many tiny pieces a body holds), then a blank line, which no value the
        // detectors find runs across.
        let mut seams = String::new();
        let mut cuts: Vec<usize> = Vec::with_capacity(texts.len());
        for i in 1..texts.len() {
            let head = texts.get(i - 1).copied().unwrap_or_default();
            let tail = texts.get(i).copied().unwrap_or_default();
            // Where digits meet at the seam (`4532 0151` + `1283 0366`), the reader may put
            // a space between the pieces or none: both are scanned.
            let digits_meet = head.bytes().next_back().is_some_and(|b| b.is_ascii_digit())
                && tail.bytes().next().is_some_and(|b| b.is_ascii_digit());
            let joins: &[&str] = if digits_meet { &["", " "] } else { &[""] };
            for join in joins {
                seams.push_str(
                    head.get(floor(head, head.len().saturating_sub(SEAM_REACH))..)
                        .unwrap_or_default(),
                );
                seams.push_str(join);
                let cut = seams.len() - join.len();
                cuts.push(cut);
                let start = seams.len();
                for next in texts.iter().skip(i).take(SEAM_PIECES) {
                    let room = SEAM_REACH.saturating_sub(seams.len() - start);
                    seams.push_str(next.get(..floor(next, room)).unwrap_or_default());
                    if seams.len() - start >= SEAM_REACH {
                        break;
                    }
                }
                seams.push_str(SEAM_BREAK);
            }
        }
        let hidden: Vec<Span> = self
            .detectors
            .find(&seams)
            .into_iter()
            // `cuts` ascend: the first cut past the span's start decides (a linear search
            // per span made a conversation of thousands of short messages quadratic).
            .filter(|sp| {
                let next = cuts.partition_point(|cut| *cut <= sp.start);
                let Some(&cut) = cuts.get(next).filter(|cut| **cut < sp.end) else {
                    return false;
                };
                // A value whole on one side that the other side's text only grows
                // (`jane@example.org` + `Hello` read as one domain) is not split: it is
                // found, and rewritten, in its own piece.
                let whole_in = |piece: &str| {
                    self.detectors
                        .find(piece)
                        .iter()
                        .any(|found| found.kinds().any(|k| sp.kinds().any(|s| s == k)))
                };
                !(whole_in(seams.get(sp.start..cut).unwrap_or_default())
                    || whole_in(seams.get(cut..sp.end).unwrap_or_default()))
            })
            .collect();
        self.pin(
            at,
            kinds_of(&hidden),
            "a value split across messages or content parts",
        );
    }
}

/// The media a `data:` URL whose `;base64,` marker is at `marker` declares, when its type
/// is not text (`text/*`, JSON, XML, or none: read as text and scanned).
fn embedded_media(bytes: &[u8], marker: usize) -> Option<Media> {
    let from = marker.saturating_sub(128);
    let window = bytes.get(from..marker)?;
    let at = window
        .windows(5)
        .rposition(|w| w.eq_ignore_ascii_case(b"data:"))?;
    let mime = window.get(at + 5..)?.to_ascii_lowercase();
    let textual = mime.is_empty()
        || mime.starts_with(b"text/")
        || mime.starts_with(b"application/json")
        || mime.starts_with(b"application/xml");
    if textual {
        return None;
    }
    Some(if mime.starts_with(b"image/") {
        Media::Image
    } else if mime.starts_with(b"audio/") {
        Media::Audio
    } else {
        Media::File
    })
}

/// How many pieces after a seam its neighbourhood reaches into: a value split in three or
/// four tiny pieces is still whole there, and a body of thousands of tiny messages costs
/// a few times its size, not its size times the reach.
const SEAM_PIECES: usize = 3;

/// Between two seams' neighbourhoods in [`Scanner::conversation`]: white space no value spans.
const SEAM_BREAK: &str = "\n\n \n\n";

/// How far either side of a seam between two pieces of a conversation is scanned for a
/// value that crosses it: enough for any card, number, address or token split in two
/// (a PEM key split after its header is found by its header alone), and small enough that
/// a long conversation is not scanned twice over.
const SEAM_REACH: usize = 128;

/// Scans everything `body` forwards once, and checks known fields' shapes. The body changes
/// only where tool-call arguments are normalised to the JSON that was scanned.
pub fn scan(
    detectors: &Detectors,
    endpoint: Endpoint,
    body: &mut Map<String, Value>,
) -> Result<Findings, ShapeError> {
    scan_with(detectors, &Analysis::default(), endpoint, body)
}

/// [`scan`], with an external analyzer's findings on the same body merged in, string by
/// string.
pub fn scan_with(
    detectors: &Detectors,
    analysis: &Analysis,
    endpoint: Endpoint,
    body: &mut Map<String, Value>,
) -> Result<Findings, ShapeError> {
    let mut scanner = Scanner {
        detectors,
        analysis,
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
) -> Result<Redaction, Refused> {
    findings.refuse(policy)?;
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
        .map_err(|e| Refused::invalid(ErrorCode::InvalidFieldType, e.to_string()))?;
    if !rewriter.blocked_late.is_empty() {
        return Err(blocked_denial(&rewriter.blocked_late));
    }
    Ok(rewriter.redaction)
}

fn blocked_denial(blocked: &[Kind]) -> Refused {
    let code = if blocked.contains(&SECRET) {
        ErrorCode::SecretBlocked
    } else {
        ErrorCode::PiiBlocked
    };
    Refused::forbidden(
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
            // Changed since it was scanned: found again, values read in it included.
            let mut again = self.detectors.find(s);
            if let Some(folded) = fold::fold_aligned(s) {
                again.extend(
                    read_values(self.detectors, &folded)
                        .0
                        .into_iter()
                        .map(|(span, _)| span),
                );
            }
            fresh = super::resolve_overlaps(again);
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

/// Inspects what a `GET` route (`/models`, passthrough paths) forwards: the query string and
/// the allowlisted client headers. There is no body to rewrite and no class to raise, so any
/// detected value is refused.
pub fn inspect_get(
    detectors: &Detectors,
    headers: &HeaderMap,
    names: &[HeaderName],
    query: Option<&str>,
) -> Result<(), Refused> {
    let mut findings = Findings::default();
    findings.scan_headers(detectors, headers, names)?;
    if let Some(q) = query {
        let mut spans = detectors.find(q);
        if let Some(folded) = fold::fold(q) {
            spans.extend(detectors.find(&folded));
        }
        let kinds = kinds_of(&spans);
        if !kinds.is_empty() {
            findings.pinned.push(Pinned {
                kinds,
                place: "the query string".to_owned(),
                what: "a URL",
            });
        }
    }
    let kinds: Vec<Kind> = findings.counts().into_keys().collect();
    match findings.pinned.first() {
        None => Ok(()),
        Some(_) if kinds.contains(&SECRET) => Err(blocked_denial(&[SECRET])),
        Some(p) => Err(Refused::forbidden(
            ErrorCode::UnredactableField,
            format!(
                "data of type {} in {}; nothing was sent",
                kinds.join(", "),
                p.place
            ),
        )),
    }
}
