//! JSON held as text: a tool result, a command's output pasted into a prompt, a config
//! file, a log line. The text rules read it one `"name": "value"` member at a time, which
//! finds a secret under its own name but not one its structure names: a name/value pair
//! (`{"name": "DB_PASSWORD", "value": "…"}` in an ECS task definition or `aws ssm` output),
//! a list or an object under a secret's name (`{"api_key": ["…"]}`). Every JSON document
//! the text holds is read leniently ([`lenient_json`](super::lenient_json): prose around
//! it, several documents, output cut off, comments, single quotes) and walked as the data
//! it is ([`walk::data`], the rules parsed data gets); a string in it that holds JSON
//! (`{"stdout": "{\"name\": …}"}`) is read the same way, as is the text with its escapes
//! decoded when it holds JSON written as a string. Each value found is located in the text
//! as it reads and as JSON writes it.

use super::detectors::SECRET;
use super::fold::json_unescape;
use super::lenient_json::documents;
use super::walk::{self, Fixed, Media, Path, Visit};
use super::{Detectors, Span};

/// How many times JSON may be found encoded inside JSON (a tool result whose `stdout`
/// member holds `kubectl`'s JSON output, itself sent as a string) and still be read.
const MAX_NESTING: usize = 4;

/// The spans of `text` that its JSON structure names as secrets; empty when `text` holds
/// no JSON object or array.
pub(super) fn named_secrets(detectors: &Detectors, text: &str) -> Vec<Span> {
    let mut found = Found {
        detectors,
        values: Vec::new(),
        nesting: 0,
    };
    found.read(text);
    let mut spans = Vec::new();
    for (secret, nesting) in found.values {
        // Wherever the text holds it: as it reads (`mysql -pS` in another member) and as
        // JSON writes it (without its quotes), once for each time it was found encoded
        // in a string. Written only another way (`\u0041` for `A`), it cannot be told
        // apart in the text, and the whole text is the span.
        let before = spans.len();
        let mut form = secret;
        for _ in 0..=nesting + 1 {
            for (at, _) in text.match_indices(form.as_str()) {
                spans.push(Span::new(at, at + form.len(), SECRET));
            }
            let Some(written) = serde_json::to_string(&form)
                .ok()
                .and_then(|q| q.get(1..q.len() - 1).map(str::to_owned))
                .filter(|w| *w != form)
            else {
                break;
            };
            form = written;
        }
        if spans.len() == before {
            spans.push(Span::new(0, text.len(), SECRET));
        }
    }
    spans
}

/// Whether `text` has what an object member looks like: a quote (`"` or `'`) then, after
/// any white space (also written as a JSON escape, as in JSON encoded twice), a `:`
/// (`"name": `, `"name" :`, `'name':`, `\"name\":` all do).
fn has_member(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr_iter(b':', b).any(|colon| {
        let mut i = colon;
        loop {
            match i.checked_sub(1).and_then(|j| b.get(j)) {
                Some(b' ' | b'\t' | b'\n' | b'\r') => i -= 1,
                Some(b'n' | b't' | b'r') if i >= 2 && b.get(i - 2) == Some(&b'\\') => i -= 2,
                Some(b'"' | b'\'') => return true,
                _ => return false,
            }
        }
    })
}

/// The strings the walk hands over with a name that calls them secrets, each with how many
/// times it was found encoded in a string.
struct Found<'d> {
    detectors: &'d Detectors,
    values: Vec<(String, usize)>,
    /// How many strings deep the text being read was found.
    nesting: usize,
}

impl Found<'_> {
    /// Reads the JSON `text` holds as data (the rules parsed data gets): every document in
    /// it, and once more with its escapes decoded when it holds JSON written as a string
    /// (`"{\"name\": …}"`, `payload={\"name\": …}` in a log line).
    fn read(&mut self, text: &str) {
        // Names come from object keys: text without a quoted key names nothing, and prose
        // or code with braces is not read for it (it cost 4.7 % of a 1 KB request).
        if self.nesting > MAX_NESTING || !has_member(text) {
            return;
        }
        for mut document in documents(text) {
            // A shape error is data the walk does not know as a content part; what it
            // visited before it still counts.
            let _ = walk::data(&mut document, &Path::root(), self);
        }
        if memchr::memmem::find(text.as_bytes(), b"\\\"").is_some() {
            self.deeper(&json_unescape(text));
        }
    }

    /// Reads `text`, found inside a string of the text being read.
    fn deeper(&mut self, text: &str) {
        self.nesting += 1;
        self.read(text);
        self.nesting -= 1;
    }
}

impl Visit for Found<'_> {
    /// A string of JSON inside JSON is read as JSON too (`{"output": "{\"name\": …}"}`).
    fn text(&mut self, _at: &Path<'_>, s: &mut String) {
        self.deeper(s);
    }

    fn named_text(&mut self, _at: &Path<'_>, names: &[&str], s: &mut String) {
        if names
            .iter()
            .any(|key| self.detectors.named(key, s).is_some())
        {
            self.values.push((s.clone(), self.nesting));
        } else {
            self.deeper(s);
        }
    }

    fn fixed(&mut self, _at: &Path<'_>, _text: Fixed<'_>) {}

    fn media(&mut self, _at: &Path<'_>, _kind: Media) {}
}
