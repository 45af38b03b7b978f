//! PII and secret redaction (DESIGN.md §4).
//!
//! [`scan`] runs once per request over everything the request forwards ([`walk`]) and
//! returns where each detected value sits (positions and types — the values themselves are
//! never copied out). Classification uses the types it found; [`apply`] then rewrites the
//! body per the class's action for each type: `allow`, `redact` (`[EMAIL]`), `placeholder`
//! (`[EMAIL_1]`, restored in the response), `hash` (`[EMAIL:3f2a9c1b]`, keyed HMAC) or
//! `block` (403). The [`Detectors`] themselves are compiled once per config.

pub mod detectors;
pub mod fold;
pub mod inspect;
mod json_in_text;
mod lenient_json;
pub mod placeholder;
pub mod presidio;
pub mod walk;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex::Regex;

pub use inspect::{apply, scan, scan_with, Findings, Redaction, Refused};
pub use placeholder::{Placeholders, Restorer};

/// Whether `text` holds anything the detectors find, as written, lower-cased (as routing
/// fields are sent) or as a reader would see it ([`fold`]: escapes, look-alikes, invisible
/// characters). For deciding whether a value the scan refused may still be repeated in a
/// record or a span: only when none of those forms holds a finding.
pub fn holds_detected_value(detectors: &Detectors, text: &str) -> bool {
    let finds = |t: &str| {
        !detectors.find(t).is_empty()
            || fold::fold(t).is_some_and(|folded| !detectors.find(&folded).is_empty())
    };
    finds(text) || finds(&text.to_lowercase())
}
pub use presidio::Analysis;

use detectors::{Kind, SECRET};

/// The type name of configured deny terms.
pub const DENY_TERM: Kind = "DENY_TERM";

/// What to do with a detected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    Redact,
    Placeholder,
    Hash,
    Block,
}

/// Whether the model's output is scanned too (`scan_responses`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputScan {
    Off,
    /// Log and audit the types found; pass the text on.
    Flag,
    /// Replace what was found with `[TYPE]`.
    Redact,
}

/// A class's actions: a default for PII and custom types, overrides per type. `SECRET`
/// is blocked unless a class says otherwise for it by name.
#[derive(Debug, Clone)]
pub struct RedactPolicy {
    pub default: Action,
    /// foldhash: asked once per finding, on the request path.
    pub per_type: foldhash::HashMap<String, Action>,
}

impl RedactPolicy {
    pub fn action(&self, kind: &str) -> Action {
        match self.per_type.get(kind) {
            Some(a) => *a,
            None if kind == SECRET => Action::Block,
            None => self.default,
        }
    }
}

impl Default for RedactPolicy {
    fn default() -> Self {
        Self {
            default: Action::Allow,
            per_type: foldhash::HashMap::default(),
        }
    }
}

/// The compiled detectors: built once per config, shared by every request.
pub struct Detectors {
    engine: detectors::Engine,
    /// Custom `(TYPE, regex)` patterns from config: each runs over the whole text (few, and
    /// written by the operator, so there is no literal to pre-filter on).
    custom: Vec<(Kind, Regex)>,
    deny_terms: Option<AhoCorasick>,
    /// Type names of custom patterns, leaked once at compile so spans can carry `&'static`.
    kinds: Vec<Kind>,
}

impl std::fmt::Debug for Detectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detectors")
            .field("custom", &self.custom.len())
            .field("kinds", &self.kinds)
            .finish()
    }
}

impl Detectors {
    /// Compiles the built-in detectors plus custom `(TYPE, regex)` patterns and deny terms.
    pub fn new(custom: &[(String, String)], deny_terms: &[String]) -> Result<Detectors, String> {
        let mut kinds: Vec<Kind> = detectors::BUILT_IN.to_vec();
        let mut compiled = Vec::new();
        for (name, pattern) in custom {
            let kind: Kind = match kinds.iter().find(|k| **k == name.as_str()) {
                Some(k) => k,
                // Config is compiled once per load; a handful of short names per reload.
                None => Box::leak(name.clone().into_boxed_str()),
            };
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
            compiled.push((kind, Regex::new(pattern).map_err(|e| e.to_string())?));
        }
        let deny_terms = if deny_terms.is_empty() {
            None
        } else {
            kinds.push(DENY_TERM);
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostLongest)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(deny_terms)
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(Detectors {
            engine: detectors::Engine::new()?,
            custom: compiled,
            deny_terms,
            kinds,
        })
    }

    /// Every type this set of detectors can report.
    pub fn kinds(&self) -> &[Kind] {
        &self.kinds
    }

    /// A secret held as a string directly under the object key `key`
    /// (`{"api_key": "…"}`): the key names the value, as an assignment's name does in text.
    /// Both are also read folded (look-alike letters, invisible characters, escapes), as
    /// text is: a value found only as folded is the whole string.
    pub fn named(&self, key: &str, value: &str) -> Option<Span> {
        let folded_key = fold::fold(key);
        let key = folded_key.as_deref().unwrap_or(key);
        if let Some(hit) = self.engine.named(key, value) {
            return (value.is_char_boundary(hit.start) && value.is_char_boundary(hit.end))
                .then(|| Span::new(hit.start, hit.end, hit.kind));
        }
        let folded = fold::fold(value)?;
        let hit = self.engine.named(key, &folded)?;
        Some(Span::new(0, value.len(), hit.kind))
    }

    /// Finds the detected values in one string: non-overlapping spans, in order.
    pub fn find(&self, text: &str) -> Vec<Span> {
        let mut hits = Vec::new();
        if text.len() >= 6 {
            self.engine.find(text, &mut hits);
        }
        let mut spans: Vec<Span> = hits
            .into_iter()
            .filter(|h| {
                h.start < h.end && text.is_char_boundary(h.start) && text.is_char_boundary(h.end)
            })
            .map(|h| Span::new(h.start, h.end, h.kind))
            .collect();
        for (i, (kind, re)) in self.custom.iter().enumerate() {
            for m in re.find_iter(text) {
                if m.start() < m.end() {
                    spans.push(Span {
                        start: m.start(),
                        end: m.end(),
                        kind,
                        rank: detectors::BUILT_IN.len() + i,
                        also: Vec::new(),
                    });
                }
            }
        }
        if let Some(ac) = &self.deny_terms {
            for m in ac.find_iter(text) {
                let word_edge = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
                let before = text.get(..m.start()).and_then(|s| s.chars().next_back());
                let after = text.get(m.end()..).and_then(|s| s.chars().next());
                if word_edge(before) && word_edge(after) {
                    spans.push(Span {
                        start: m.start(),
                        end: m.end(),
                        kind: DENY_TERM,
                        rank: usize::MAX,
                        also: Vec::new(),
                    });
                }
            }
        }
        resolve_overlaps(spans)
    }
}

/// One detected value's place in a string. Overlapping detections are merged into one span
/// covering all of them, so no part of any value is left in clear; `also` keeps the other
/// types, and the strictest action among all of them applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    /// The type of the highest-precedence detector (SECRET first).
    pub kind: Kind,
    /// Pattern order: lower wins precedence.
    rank: usize,
    /// Other types detected in the same place.
    pub also: Vec<Kind>,
}

impl Span {
    /// A span of type `kind`: it ranks as its type's built-in detector does, or, for a
    /// type no built-in detector has (an external analyzer's), after every built-in one.
    pub(crate) fn new(start: usize, end: usize, kind: Kind) -> Span {
        Span {
            start,
            end,
            kind,
            rank: detectors::BUILT_IN
                .iter()
                .position(|k| *k == kind)
                .unwrap_or(usize::MAX - 1),
            also: Vec::new(),
        }
    }

    /// Every type detected in this span.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        std::iter::once(self.kind).chain(self.also.iter().copied())
    }
}

/// Merges overlapping spans into their union, keeping every type found.
fn resolve_overlaps(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by(|a, b| a.start.cmp(&b.start).then(a.rank.cmp(&b.rank)));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start < last.end => {
                // The name of the merged span: SECRET if any part is one, else the longer
                // detection (an IBAN over a card-like digit run), else the earlier pattern.
                let s_len = s.end - s.start;
                let last_len = last.end - last.start;
                let s_wins = if s.kind == SECRET || last.kind == SECRET {
                    s.kind == SECRET && last.kind != SECRET
                } else {
                    s_len > last_len || (s_len == last_len && s.rank < last.rank)
                };
                let (winner, other) = if s_wins {
                    (s.kind, last.kind)
                } else {
                    (last.kind, s.kind)
                };
                last.end = last.end.max(s.end);
                last.rank = last.rank.min(s.rank);
                last.kind = winner;
                for k in std::iter::once(other).chain(s.also) {
                    if k != last.kind && !last.also.contains(&k) {
                        last.also.push(k);
                    }
                }
            }
            _ => out.push(s),
        }
    }
    out
}
