//! The hash chain: canonical serialisation and record hashing. Pure.
//!
//! An auditor can re-implement verification from this description alone (README "Audit"):
//! - A record is a JSON object. Its *canonical form* is its JSON text with object keys sorted
//!   by their UTF-8 bytes at every depth, no insignificant whitespace, strings escaped as
//!   JSON requires (`"`, `\`, control characters as `\uXXXX` or the short escapes), and
//!   numbers as integers or shortest round-trip decimals.
//! - `hash` = lowercase hex SHA-256 of the canonical form of the record *without* `hash`.
//! - `prev` = the `hash` of the record before it in the same chain; the first record of a
//!   chain has `prev` = 64 zeros. `seq` counts from 1 without gaps.
//! - The line written is the canonical form of the record *with* `hash`.

use serde_json::{Map, Value};

use super::record::Fields;
use crate::json_text::{self, Sink};
use sha2::{Digest, Sha256};

/// `prev` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The position of the last record of a chain: what the next record links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub hash: String,
}

impl Link {
    pub fn genesis() -> Self {
        Link {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

/// Writes `value` in canonical form.
pub fn canonical(value: &Value) -> String {
    let mut out = Vec::with_capacity(512);
    write_canonical(value, &mut out);
    into_string(out)
}

/// The canonical form of the object made of `fields`, written from borrowed values (no
/// copy of a large prompt just to hash it). Field names must be distinct.
pub fn canonical_fields(fields: &mut [(&str, &Value)]) -> String {
    let mut out = Vec::with_capacity(1024);
    write_canonical_fields(fields, &mut out);
    into_string(out)
}

/// [`canonical_fields`] fed straight to a hasher: `prompt_sha256` of a 64 KB prompt does
/// not build (and regrow) a 64 KB buffer only to hash it once.
pub fn hash_canonical_fields<D: sha2::digest::Update>(
    fields: &mut [(&str, &Value)],
    digest: &mut D,
) {
    write_canonical_fields(fields, &mut Digesting(digest));
}

fn write_canonical_fields<W: Sink>(fields: &mut [(&str, &Value)], out: &mut W) {
    fields.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.put(b"{");
    for (i, (key, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.put(b",");
        }
        json_text::string(out, key);
        out.put(b":");
        write_canonical(v, out);
    }
    out.put(b"}");
}

/// Only JSON text is ever written, so the bytes are UTF-8; the lossy path cannot be taken.
fn into_string(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A hasher as a byte sink.
struct Digesting<'d, D>(&'d mut D);

impl<D: sha2::digest::Update> Sink for Digesting<'_, D> {
    fn put(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn sorted(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    entries
}

/// Writes `value` in canonical form.
fn write_canonical<W: Sink>(value: &Value, out: &mut W) {
    match value {
        Value::Object(map) => {
            out.put(b"{");
            for (i, (key, v)) in sorted(map).into_iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                json_text::string(out, key);
                out.put(b":");
                write_canonical(v, out);
            }
            out.put(b"}");
        }
        Value::Array(items) => {
            out.put(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                write_canonical(item, out);
            }
            out.put(b"]");
        }
        scalar => json_text::value(out, scalar),
    }
}

/// Hex SHA-256 of the canonical form of `record` without its `hash` field.
pub fn hash_of(record: &Map<String, Value>) -> String {
    let mut without = record.clone();
    without.remove("hash");
    hex::encode(Sha256::digest(
        canonical(&Value::Object(without)).as_bytes(),
    ))
}

/// Links `record` after `last`: sets `seq`, `prev` and `hash`, returns the line to write
/// (canonical, no newline) and the new chain end. For any JSON object (tools, tests); the
/// writer seals its own records with [`seal_fields`], which gives the same bytes.
pub fn seal(mut record: Map<String, Value>, last: &Link) -> (String, Link) {
    seal_in_place(&mut record, last)
}

/// [`seal`] without taking the record: `seq` and `prev` are set in it (and any `hash`
/// removed). Sealing it again after a failed write overwrites them.
pub fn seal_in_place(record: &mut Map<String, Value>, last: &Link) -> (String, Link) {
    let seq = last.seq + 1;
    record.insert("seq".to_owned(), Value::from(seq));
    record.insert("prev".to_owned(), Value::String(last.hash.clone()));
    record.remove("hash");
    let entries = sorted(record);
    let count = entries.len();
    let (line, hash) = seal_sorted(entries.into_iter().map(|(k, v)| (k.as_str(), v)), count);
    (line, Link { seq, hash })
}

/// [`seal_in_place`] for a record the gateway built (`audit::record`): its fields are
/// already in canonical order, so nothing is sorted or hashed by name. The writer runs
/// this for every record, on the thread every request waits for.
pub fn seal_fields(record: &mut Fields, last: &Link) -> (String, Link) {
    let seq = last.seq + 1;
    record.set("seq", Value::from(seq));
    record.set("prev", Value::String(last.hash.clone()));
    record.remove("hash");
    let (line, hash) = seal_sorted(record.iter(), record.len());
    (line, Link { seq, hash })
}

/// The sealed line and its hash for `count` entries given in canonical order, none named
/// `hash`. One serialisation serves both: the canonical form without `hash` is hashed,
/// then the `hash` entry is spliced in at its sorted place — the same bytes as serialising
/// the record with its hash again, at half the cost.
fn seal_sorted<'k, 'v>(
    entries: impl Iterator<Item = (&'k str, &'v Value)>,
    count: usize,
) -> (String, String) {
    let mut body = Vec::with_capacity(768);
    body.push(b'{');
    // Where the `hash` entry belongs: its offset in `body` and how many entries precede it.
    let mut slot = None;
    for (i, (key, v)) in entries.enumerate() {
        if slot.is_none() && key.as_bytes() > b"hash".as_slice() {
            slot = Some((body.len(), i));
        }
        if i > 0 {
            body.push(b',');
        }
        json_text::string(&mut body, key);
        body.push(b':');
        write_canonical(v, &mut body);
    }
    let (at, before) = slot.unwrap_or((body.len(), count));
    body.push(b'}');
    let hash = crate::hex_text::encode(Sha256::digest(&body));
    let mut line = Vec::with_capacity(body.len() + 80);
    line.extend_from_slice(body.get(..at).unwrap_or_default());
    if before > 0 {
        line.push(b',');
    }
    line.extend_from_slice(b"\"hash\":\"");
    line.extend_from_slice(hash.as_bytes());
    line.push(b'"');
    if before == 0 && count > 0 {
        line.push(b',');
    }
    line.extend_from_slice(body.get(at..).unwrap_or_default());
    (into_string(line), hash)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn canonical_form_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": 1, "x": "é\n"}], "c": null}, "A": 1.5});
        assert_eq!(
            canonical(&v),
            r#"{"A":1.5,"a":{"c":null,"z":[3,{"x":"é\n","y":1}]},"b":1}"#
        );
    }

    #[test]
    fn sealing_links_and_hashes() {
        let (line1, l1) = seal(
            json!({"type": "request"}).as_object().unwrap().clone(),
            &Link::genesis(),
        );
        let (line2, l2) = seal(
            json!({"type": "response"}).as_object().unwrap().clone(),
            &l1,
        );
        assert_eq!((l1.seq, l2.seq), (1, 2));
        let r1: Map<String, Value> = serde_json::from_str(&line1).unwrap();
        let r2: Map<String, Value> = serde_json::from_str(&line2).unwrap();
        assert_eq!(r1["prev"], GENESIS);
        assert_eq!(r2["prev"], l1.hash);
        assert_eq!(hash_of(&r1), l1.hash);
        assert_eq!(r1["hash"], l1.hash);
        // The hash is independent of key order in the input.
        let reordered: Map<String, Value> = serde_json::from_str(r#"{"type":"request","seq":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#).unwrap();
        assert_eq!(hash_of(&reordered), l1.hash);
    }

    #[test]
    fn borrowed_fields_give_the_same_canonical_form() {
        let v = json!({"messages": [{"role": "user", "content": "x"}], "input": "y", "a": 1});
        let map = v.as_object().unwrap();
        let mut fields: Vec<(&str, &Value)> = ["messages", "input", "a"]
            .iter()
            .map(|k| (*k, &map[*k]))
            .collect();
        assert_eq!(canonical_fields(&mut fields), canonical(&v));
        assert_eq!(canonical_fields(&mut []), "{}");
    }

    /// The spliced line is exactly the canonical form of the record with its hash, wherever
    /// `hash` sorts among the keys (first, middle, last).
    #[test]
    fn the_sealed_line_is_the_canonical_record() {
        for fields in [
            json!({}),
            json!({"a": 1}),
            json!({"type": "request", "class": "internal", "z": [1, {"b": "\u{1}\"x"}]}),
            json!({"HASH": 1, "A": "é", "h": null, "ha": true}),
            json!({"zz": 2.5, "i": "after hash", "g": "before hash"}),
        ] {
            let record = fields.as_object().unwrap().clone();
            let (line, link) = seal(record, &Link::genesis());
            let parsed: Map<String, Value> = serde_json::from_str(&line).unwrap();
            assert_eq!(line, canonical(&Value::Object(parsed.clone())), "{fields}");
            assert_eq!(hash_of(&parsed), link.hash);
        }
    }

    /// The writer's path (fields held in order under static names) writes the same line and
    /// hash as sealing the same record as a JSON object, whatever names it holds, in
    /// whatever order they were set, with or without a stale `hash`/`seq`/`prev`.
    #[test]
    fn sealing_fields_matches_sealing_the_object() {
        // Names that share their first eight bytes, or are a prefix of one another (with a
        // NUL after it), next to each other so that the windows mix them.
        const NAMES: [&str; 20] = [
            "capture",
            "capture_",
            "capture_sha256",
            "capture_failed",
            "capture\u{0}",
            "capture_\u{0}x",
            "A",
            "_x",
            "class",
            "ha",
            "hash",
            "hasi",
            "latency_ms",
            "prev",
            "seq",
            "type",
            "z",
            "\u{e9}t\u{e9}",
            "key_id",
            "attempts",
        ];
        // Every subset of a rotating window of names, set in forward and reverse order.
        for start in 0..NAMES.len() {
            for mask in 0u32..(1 << 6) {
                let names: Vec<&'static str> = (0..6)
                    .filter(|b| mask & (1 << b) != 0)
                    .filter_map(|b| NAMES.get((start + b) % NAMES.len()).copied())
                    .collect();
                for reverse in [false, true] {
                    let mut fields = Fields::default();
                    let mut map = Map::new();
                    let order: Vec<&'static str> = if reverse {
                        names.iter().rev().copied().collect()
                    } else {
                        names.clone()
                    };
                    for (i, name) in order.iter().enumerate() {
                        let value = json!({"n": i, "s": format!("v\"{i}"), "b": [true, null]});
                        fields.set(name, value.clone());
                        map.insert((*name).to_owned(), value);
                    }
                    // Setting a name again replaces its value, wherever it sits.
                    if let Some(name) = order.first() {
                        fields.set(name, json!("again"));
                        map.insert((*name).to_owned(), json!("again"));
                    }
                    let last = Link {
                        seq: 7,
                        hash: "cd".repeat(32),
                    };
                    let from_map = seal(map, &last);
                    let from_fields = seal_fields(&mut fields, &last);
                    assert_eq!(from_fields, from_map, "{order:?}");
                    assert!(fields.iter().map(|(k, _)| k).is_sorted(), "{order:?}");
                }
            }
        }
    }
}
