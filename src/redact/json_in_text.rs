//! JSON held as text: a tool result, a command's output pasted into a prompt, a config
//! file. The text rules read it one `"name": "value"` member at a time, which finds a
//! secret under its own name but not one its structure names: a name/value pair
//! (`{"name": "DB_PASSWORD", "value": "…"}` in an ECS task definition or `aws ssm` output),
//! a list or an object under a secret's name (`{"api_key": ["…"]}`). Text that parses as a
//! JSON object or array is walked as the data it is ([`walk::data`], the rules parsed
//! data gets), and each value found is located in the text as JSON writes it.

use serde_json::Value;

use crate::request::parse::parse_keeping_duplicates;

use super::detectors::SECRET;
use super::walk::{self, Fixed, Media, Path, Visit};
use super::{Detectors, Span};

/// The spans of `text` that its JSON structure names as secrets; empty when `text` holds
/// no JSON object or array.
pub(super) fn named_secrets(detectors: &Detectors, text: &str) -> Vec<Span> {
    let Some(mut value) = document(text) else {
        return Vec::new();
    };
    // Encoded twice (`"{\"name\": …}"` as the whole text): read once more.
    if let Some(inner) = value.as_str().and_then(document) {
        value = inner;
    }
    let mut found = Found {
        detectors,
        values: Vec::new(),
    };
    // A shape error is data the walk does not know as a content part; what it visited
    // before it still counts.
    let _ = walk::data(&mut value, &Path::root(), &mut found);
    let mut spans = Vec::new();
    for secret in found.values {
        // Wherever the text holds it: as JSON writes it (without its quotes) and as it
        // reads (`mysql -pS` in another member). Written only another way (`\u0041` for
        // `A`), it cannot be told apart in the text, and the whole text is the span.
        let before = spans.len();
        if let Ok(written) = serde_json::to_string(&secret) {
            for (at, quoted) in text.match_indices(written.as_str()) {
                spans.push(Span::new(at + 1, at + quoted.len() - 1, SECRET));
            }
        }
        for (at, _) in text.match_indices(secret.as_str()) {
            spans.push(Span::new(at, at + secret.len(), SECRET));
        }
        if spans.len() == before {
            spans.push(Span::new(0, text.len(), SECRET));
        }
    }
    spans
}

/// How deep JSON held in text is read (as deep as `serde_json` reads).
const MAX_DEPTH: usize = 128;

/// Whether `text` has what an object member looks like: a `"` then, after any JSON white
/// space, a `:` (`"name": `, `"name" :` and JSON encoded twice, `\"name\":`, all do).
fn has_member(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr_iter(b':', b).any(|colon| {
        b.get(..colon).is_some_and(|before| {
            before
                .iter()
                .rev()
                .find(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
                == Some(&b'"')
        })
    })
}

/// The JSON object or array `text` holds: the whole text, or from its first `{` or `[` to
/// its last `}` or `]` (`Result: {…}`, a fenced code block, a line of text after it).
fn document(text: &str) -> Option<Value> {
    // Names come from object keys: text without a `"…":` member names nothing, and prose
    // or code with braces is not parsed for it (it cost 4.7 % of a 1 KB request).
    if !has_member(text) {
        return None;
    }
    let start = text.find(['{', '['])?;
    let end = text.rfind(['}', ']'])?;
    let inner = text.get(start..=end)?;
    // Every value of a key written twice is kept: a reader of the text may take any.
    match parse_keeping_duplicates(inner, MAX_DEPTH) {
        Some(value) if value.is_object() || value.is_array() => Some(value),
        _ if text.trim_start().starts_with('"') => serde_json::from_str::<Value>(text.trim())
            .ok()
            .filter(Value::is_string),
        _ => None,
    }
}

/// The strings the walk hands over with a name that calls them secrets.
struct Found<'d> {
    detectors: &'d Detectors,
    values: Vec<String>,
}

impl Visit for Found<'_> {
    fn text(&mut self, _at: &Path<'_>, _s: &mut String) {}

    fn named_text(&mut self, _at: &Path<'_>, key: &str, s: &mut String) {
        if self.detectors.named(key, s).is_some() {
            self.values.push(s.clone());
        }
    }

    fn fixed(&mut self, _at: &Path<'_>, _text: Fixed<'_>) {}

    fn media(&mut self, _at: &Path<'_>, _kind: Media) {}
}
