//! The one text an analyzer is sent per request, and its answer mapped back to each string.
//!
//! [`Document::of`] walks the body exactly as the inspection does ([`walk`]) and joins every
//! string the model reads as text, blank-line separated, so that one `POST /analyze` covers
//! the whole request and a named-entity model sees each message as its own paragraph.
//! Each part remembers its place and a digest of its text, the keys the inspection finds
//! strings by, so an answer lands on the string it was about or on nothing.
//!
//! Presidio counts offsets in Python string indices: Unicode code points, not UTF-8 bytes
//! (nor UTF-16 units). [`Document::analysis`] converts them in one pass over the text, and
//! refuses an answer whose offsets fall outside it: that is an analyzer answering about
//! some other text, and nothing it says can be placed.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::super::inspect::digest;
use super::super::walk::{self, Fixed, Media, Path, Visit};
use super::super::{resolve_overlaps, Span};
use super::Analysis;
use crate::redact::detectors::Kind;
use crate::request::Endpoint;

/// Between two strings: a paragraph break, so that no entity is read across two fields.
const SEPARATOR: &str = "\n\n";

/// One string of the body, at `start..end` (bytes) of the joined text.
#[derive(Debug, Clone)]
struct Part {
    place: u64,
    digest: u64,
    start: usize,
    end: usize,
}

/// The joined text of a request and where each of its strings sits in it.
#[derive(Debug, Default)]
pub struct Document {
    text: String,
    parts: Vec<Part>,
}

/// One finding as the analyzer reports it: a type and a code-point range of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entity {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

/// The analyzer's offsets do not fit the text it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the analyzer answered with offsets outside the text it was sent")]
pub struct OutOfRange;

/// The visitor that collects the strings.
struct Collect<'d>(&'d mut Document);

impl Visit for Collect<'_> {
    fn text(&mut self, at: &Path<'_>, s: &mut String) {
        if s.trim().is_empty() {
            return;
        }
        let doc = &mut *self.0;
        if !doc.text.is_empty() {
            doc.text.push_str(SEPARATOR);
        }
        let start = doc.text.len();
        doc.text.push_str(s);
        doc.parts.push(Part {
            place: at.hash(),
            digest: digest(s),
            start,
            end: doc.text.len(),
        });
    }

    // Keys, numbers and routing fields are never rewritten: a value there is for the
    // built-in detectors to refuse, not for a model to find.
    fn fixed(&mut self, _: &Path<'_>, _: Fixed<'_>) {}

    fn media(&mut self, _: &Path<'_>, _: Media) {}
}

impl Document {
    /// Every string of `body` the model reads as text, joined. A body whose shape the walk
    /// refuses gives an empty document: the inspection refuses it with its own error.
    pub fn of(endpoint: Endpoint, body: &mut Map<String, Value>) -> Document {
        let mut doc = Document::default();
        if walk::walk(endpoint, body, &mut Collect(&mut doc)).is_err() {
            return Document::default();
        }
        doc
    }

    /// The text the analyzer is sent.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The analyzer's findings (code-point offsets into [`Document::text`]), placed on the
    /// strings they fall in. A finding that spans a separator is cut at it: each string
    /// keeps its own part.
    pub fn analysis(&self, entities: &[Entity]) -> Result<Analysis, OutOfRange> {
        let bytes = self.byte_offsets(entities)?;
        let mut by_place: HashMap<(u64, u64), Vec<Span>> = HashMap::new();
        for e in entities {
            let (Some(&start), Some(&end)) = (bytes.get(&e.start), bytes.get(&e.end)) else {
                return Err(OutOfRange);
            };
            let first = self.parts.partition_point(|p| p.end <= start);
            for part in self.parts.iter().skip(first) {
                if part.start >= end {
                    break;
                }
                let (from, to) = (start.max(part.start), end.min(part.end));
                if from < to {
                    by_place
                        .entry((part.place, part.digest))
                        .or_default()
                        .push(Span::new(from - part.start, to - part.start, e.kind));
                }
            }
        }
        let mut analysis = Analysis::default();
        for ((place, digest), spans) in by_place {
            analysis.insert(place, digest, resolve_overlaps(spans));
        }
        Ok(analysis)
    }

    /// Code-point offset → byte offset, for every offset the entities name, in one pass.
    fn byte_offsets(&self, entities: &[Entity]) -> Result<HashMap<usize, usize>, OutOfRange> {
        let mut wanted: Vec<usize> = Vec::with_capacity(entities.len() * 2);
        for e in entities {
            if e.start >= e.end {
                return Err(OutOfRange);
            }
            wanted.extend([e.start, e.end]);
        }
        wanted.sort_unstable();
        wanted.dedup();
        let mut out = HashMap::with_capacity(wanted.len());
        let mut next = wanted.iter().peekable();
        let ends = self
            .text
            .char_indices()
            .map(|(byte, _)| byte)
            .chain(std::iter::once(self.text.len()));
        for (code_point, byte) in ends.enumerate() {
            while next.next_if(|w| **w == code_point).is_some() {
                out.insert(code_point, byte);
            }
            if next.peek().is_none() {
                return Ok(out);
            }
        }
        Err(OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(body: Value) -> (Document, Map<String, Value>) {
        let Value::Object(mut m) = body else {
            panic!("not an object")
        };
        let d = Document::of(Endpoint::ChatCompletions, &mut m);
        (d, m)
    }

    /// Code-point offsets of `needle` in the document, as Python's `str.find` gives them.
    fn python_offsets(text: &str, needle: &str) -> (usize, usize) {
        let byte = text.find(needle).unwrap();
        let start = text[..byte].chars().count();
        (start, start + needle.chars().count())
    }

    #[test]
    fn every_string_the_model_reads_is_joined_once() {
        let (d, _) = doc(json!({
            "model": "openai/gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hello"}]}
            ],
            "metadata": {"ticket": "  "}
        }));
        // Every string the upstream receives, as the built-in detectors see them: the
        // role and a content part's type too.
        assert_eq!(d.text(), "system\n\nBe brief.\n\nuser\n\ntext\n\nHello");
        assert!(!d.text().contains("gpt-4o"), "routing fields are not text");
    }

    #[test]
    fn code_point_offsets_land_on_the_right_bytes_of_the_right_string() {
        let (d, body) = doc(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Grüße — 😀 from Zoë"},
                {"role": "user", "content": "Ask José Müller at 12 Rue de l'Église, Paris."}
            ]
        }));
        let text = d.text().to_owned();
        let (s, e) = python_offsets(&text, "José Müller");
        let (ps, pe) = python_offsets(&text, "Paris");
        let (zs, ze) = python_offsets(&text, "Zoë");
        let analysis = d
            .analysis(&[
                Entity {
                    kind: "PERSON",
                    start: s,
                    end: e,
                },
                Entity {
                    kind: "ADDRESS",
                    start: ps,
                    end: pe,
                },
                Entity {
                    kind: "PERSON",
                    start: zs,
                    end: ze,
                },
            ])
            .unwrap();
        let msgs = body["messages"].as_array().unwrap();
        let second = msgs[1]["content"].as_str().unwrap();
        let root = Path::root();
        let messages = root.key("messages");
        let at = messages.index(1);
        let place = at.key("content");
        let spans = analysis.spans(place.hash(), second).unwrap();
        let found: Vec<(&str, &str)> = spans
            .iter()
            .map(|sp| (sp.kind, &second[sp.start..sp.end]))
            .collect();
        assert_eq!(found, [("PERSON", "José Müller"), ("ADDRESS", "Paris")]);
        let first = msgs[0]["content"].as_str().unwrap();
        let at = messages.index(0);
        let place = at.key("content");
        let spans = analysis.spans(place.hash(), first).unwrap();
        assert_eq!(&first[spans[0].start..spans[0].end], "Zoë");
        // The same place with other text: the answer was about something else.
        assert!(analysis.spans(place.hash(), "Grüße").is_none());
    }

    #[test]
    fn a_finding_across_two_strings_is_cut_at_the_separator() {
        let (d, _) = doc(json!({"model": "m", "prompt": ["Anna", "Berg"]}));
        assert_eq!(d.text(), "Anna\n\nBerg");
        let a = d
            .analysis(&[Entity {
                kind: "PERSON",
                start: 0,
                end: 10,
            }])
            .unwrap();
        let root = Path::root();
        let prompt = root.key("prompt");
        for (i, word) in ["Anna", "Berg"].iter().enumerate() {
            let at = prompt.index(i);
            let spans = a.spans(at.hash(), word).unwrap();
            assert_eq!((spans[0].start, spans[0].end), (0, 4));
        }
    }

    #[test]
    fn offsets_outside_the_text_are_refused() {
        let (d, _) = doc(json!({"model": "m", "messages": [{"role": "user", "content": "Zoë"}]}));
        let len = d.text().chars().count();
        for (start, end) in [(0, len + 1), (3, 3), (5, 2)] {
            let e = Entity {
                kind: "PERSON",
                start,
                end,
            };
            assert_eq!(d.analysis(&[e]).err(), Some(OutOfRange), "{start}..{end}");
        }
        let whole = Entity {
            kind: "PERSON",
            start: 0,
            end: len,
        };
        assert!(d.analysis(&[whole]).is_ok());
    }
}
