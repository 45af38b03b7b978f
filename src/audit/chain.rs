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
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
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
/// (canonical, no newline) and the new chain end.
pub fn seal(mut record: Map<String, Value>, last: &Link) -> (String, Link) {
    let seq = last.seq + 1;
    record.insert("seq".to_owned(), Value::from(seq));
    record.insert("prev".to_owned(), Value::String(last.hash.clone()));
    record.remove("hash");
    let hash = hash_of(&record);
    record.insert("hash".to_owned(), Value::String(hash.clone()));
    (canonical(&Value::Object(record)), Link { seq, hash })
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
}
