//! JSON text byte for byte as `serde_json` writes it (compact, object keys in their
//! order), with strings escaped through a vectorised search for the bytes that need it.
//!
//! Why: the sealed body and the audit's canonical prompt are each a serialisation of the
//! whole request, and on a 64 KB prompt `serde_json`'s byte-at-a-time escape loop was 7 %
//! of the gateway's CPU. A string needs escaping only at `"`, `\` and control characters,
//! which are rare in text: finding them 32 bytes at a time and copying the runs between
//! them whole does the same work in a fraction of the time. Numbers are still written by
//! `serde_json`, so their form cannot drift from it.

use serde_json::Value;

/// Where JSON text goes: a buffer or a hasher, neither of which can fail.
pub trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// `value` in compact form, object keys in their order: `serde_json::to_vec`'s bytes.
pub fn value<S: Sink + ?Sized>(out: &mut S, value: &Value) {
    match value {
        Value::Object(map) => {
            out.put(b"{");
            for (i, (key, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                string(out, key);
                out.put(b":");
                self::value(out, v);
            }
            out.put(b"}");
        }
        Value::Array(items) => {
            out.put(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                self::value(out, item);
            }
            out.put(b"]");
        }
        Value::String(s) => string(out, s),
        Value::Null => out.put(b"null"),
        Value::Bool(true) => out.put(b"true"),
        Value::Bool(false) => out.put(b"false"),
        Value::Number(n) => {
            // The longest number serde_json writes (a negative f64 in exponent form, or
            // u64::MAX) is under 25 bytes; should a feature ever make numbers longer
            // (`arbitrary_precision`), they go through a heap buffer rather than be lost.
            let mut buf = [0u8; 40];
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            if serde_json::to_writer(&mut cursor, n).is_ok() {
                let len = usize::try_from(cursor.position()).unwrap_or(0);
                out.put(buf.get(..len).unwrap_or_default());
            } else {
                let mut long = Vec::new();
                let _infallible = serde_json::to_writer(&mut long, n);
                out.put(&long);
            }
        }
    }
}

/// `s` as a JSON string, escaped as `serde_json` escapes it: `\"`, `\\`, the short forms
/// `\b \t \n \f \r`, other control characters as `\u00xx` (lower-case hex), everything
/// else (U+007F and non-ASCII included) as it is.
pub fn string<S: Sink + ?Sized>(out: &mut S, s: &str) {
    let bytes = s.as_bytes();
    out.put(b"\"");
    let mut start = 0;
    let mut escapes = crate::byte_class::json_escapes(bytes);
    while let Some(at) = escapes.next_from(start) {
        out.put(bytes.get(start..at).unwrap_or_default());
        if let Some(&b) = bytes.get(at) {
            escape(out, b);
        }
        start = at + 1;
    }
    out.put(bytes.get(start..).unwrap_or_default());
    out.put(b"\"");
}

fn escape<S: Sink + ?Sized>(out: &mut S, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.put(b"\\\""),
        b'\\' => out.put(b"\\\\"),
        b'\n' => out.put(b"\\n"),
        b'\r' => out.put(b"\\r"),
        b'\t' => out.put(b"\\t"),
        0x08 => out.put(b"\\b"),
        0x0C => out.put(b"\\f"),
        c => out.put(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(c >> 4)],
            HEX[usize::from(c & 0xF)],
        ]),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Any JSON value (also the plan's sealing test's field values).
    pub(crate) fn any_value() -> impl Strategy<Value = Value> {
        // Strings from every kind of character: controls, quotes, backslashes, DEL,
        // non-ASCII, long enough to cross the 32-byte search blocks.
        let text = prop_oneof![
            "[\\x00-\\x7f]{0,80}",
            "\\PC{0,40}",
            "[a \"\\\\\\n\\t\\x01\\x1f\\x7fé€\u{2028}😀]{0,100}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            text.prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::vec(("\\PC{0,12}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The same bytes as serde_json, for any value.
        #[test]
        fn writes_what_serde_json_writes(v in any_value()) {
            let mut ours = Vec::new();
            value(&mut ours, &v);
            prop_assert_eq!(ours, serde_json::to_vec(&v).unwrap());
        }
    }

    #[test]
    fn every_byte_escapes_as_serde_json_escapes_it() {
        for b in 0u8..=0x7F {
            let s = format!("a{}b", char::from(b));
            let mut ours = Vec::new();
            string(&mut ours, &s);
            assert_eq!(ours, serde_json::to_vec(&s).unwrap(), "byte {b:#x}");
        }
    }
}
