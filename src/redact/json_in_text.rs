//! JSON held as text: a tool result, a command's output pasted into a prompt, a config
//! file. The text rules read it one `"name": "value"` member at a time, which finds a
//! secret under its own name but not one its structure names: a name/value pair
//! (`{"name": "DB_PASSWORD", "value": "…"}` in an ECS task definition or `aws ssm` output),
//! a list or an object under a secret's name (`{"api_key": ["…"]}`). Text that parses as a
//! JSON object or array is walked as the data it is ([`walk::data`], the rules parsed
//! data gets), and each value found is located in the text as JSON writes it.

use serde_json::Value;

use super::detectors::SECRET;
use super::walk::{self, Fixed, Media, Path, Visit};
use super::{Detectors, Span};

/// The spans of `text` that its JSON structure names as secrets; empty when `text` is not
/// a JSON object or array.
pub(super) fn named_secrets(detectors: &Detectors, text: &str) -> Vec<Span> {
    let looks_like_json = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
    if !looks_like_json {
        return Vec::new();
    }
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut found = Found {
        detectors,
        values: Vec::new(),
    };
    // A shape error is data the walk does not know as a content part; what it visited
    // before it still counts.
    let _ = walk::data(&mut value, &Path::root(), &mut found);
    let mut spans = Vec::new();
    for secret in found.values {
        // As JSON writes it, without its quotes; written another way (`\u0041` for `A`),
        // it cannot be told apart in the text, and the whole text is the span.
        let Ok(written) = serde_json::to_string(&secret) else {
            continue;
        };
        let before = spans.len();
        for (at, quoted) in text.match_indices(written.as_str()) {
            spans.push(Span::new(at + 1, at + quoted.len() - 1, SECRET));
        }
        if spans.len() == before {
            spans.push(Span::new(0, text.len(), SECRET));
        }
    }
    spans
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
