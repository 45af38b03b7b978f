//! A lenient reader for JSON held in text: a tool result, a command's output, a pasted
//! config, a log line.
//!
//! Why not `serde_json`: text is not a JSON document. It is prose around one or more
//! documents (`[INFO] {…}`, `Result: {…} (took {3} ms)`), output cut off mid-value, JSON as
//! people and programs write it when nobody validates it (comments, trailing commas, single
//! quotes, bare keys, `NaN`, a raw tab in a string, `C:\windows` as an escape, a lone
//! surrogate, `1e400`), and documents with a key written twice. A strict parse of the text
//! from its first `{` to its last `}` failed on any of these, and the structure that named
//! a secret (`{"name": "DB_PASSWORD", "value": "…"}`) went unread. A model reads all of
//! them, so the inspection must too.
//!
//! What it does: [`documents`] starts a value at every `{` or `[` not inside a document
//! already read, and reads as far as the text is JSON-like. Where it stops (a character no
//! JSON could have there, the end of the text, the depth bound) every container still open
//! is closed with what it holds so far, and the search for the next document goes on from
//! there. Each byte is read once by one document, so the cost is linear in the text.
//! Every value of a key written twice is kept, as a list under the key (a reader of the
//! text may take any of them).
//!
//! It is for inspection only: nothing it reads is forwarded, and a request body is still
//! parsed strictly (`request::parse`).

use serde_json::{Map, Number, Value};

/// How deep a document is read; deeper containers end the document there.
const MAX_DEPTH: usize = 128;

/// The JSON objects and arrays `text` holds, in text order, each read as far as it goes.
/// Containers that hold nothing (`{3}` in prose, `[]`) are left out.
pub(crate) fn documents(text: &str) -> Vec<Value> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(start) = bytes
        .get(from..)
        .and_then(|rest| memchr::memchr2(b'{', b'[', rest))
        .map(|i| from + i)
    {
        let mut reader = Reader {
            text,
            pos: start,
            stopped: false,
        };
        let value = reader.value(0);
        if let Some(v) = value.filter(holds_something) {
            found.push(v);
        }
        from = reader.pos.max(start + 1);
    }
    found
}

fn holds_something(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

/// One document being read. `stopped` is set where the text stops being JSON-like: every
/// open container then ends with what it holds.
struct Reader<'t> {
    text: &'t str,
    pos: usize,
    stopped: bool,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    /// Skips white space and comments (`// …`, `/* … */`, `# …` lines as YAML and Python
    /// write them).
    fn skip_blank(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                Some(b'/') if self.rest().starts_with("//") => self.skip_line(),
                Some(b'#') => self.skip_line(),
                Some(b'/') if self.rest().starts_with("/*") => {
                    self.pos = match self.rest().get(2..).and_then(|r| r.find("*/")) {
                        Some(end) => self.pos + 2 + end + 2,
                        None => self.text.len(),
                    };
                }
                // Non-breaking and other Unicode spaces, as pasted text has them.
                Some(b) if b >= 0x80 => match self.rest().chars().next() {
                    Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                    _ => return,
                },
                _ => return,
            }
        }
    }

    fn skip_line(&mut self) {
        self.pos = match memchr::memchr(b'\n', self.rest().as_bytes()) {
            Some(i) => self.pos + i,
            None => self.text.len(),
        };
    }

    /// Steps over blank space and commas (trailing and doubled ones too) to the next item
    /// of a container that `close` ends: `false` at its end (`close` read) or the text's.
    fn next_item(&mut self, close: u8) -> bool {
        loop {
            self.skip_blank();
            match self.peek() {
                None => return false,
                Some(c) if c == close => {
                    self.pos += 1;
                    return false;
                }
                Some(b',') => self.pos += 1,
                Some(_) => return true,
            }
        }
    }

    /// The value at `pos`, or `None` (and `stopped`) where none starts.
    fn value(&mut self, depth: usize) -> Option<Value> {
        self.skip_blank();
        match self.peek()? {
            b'{' | b'[' if depth >= MAX_DEPTH => {
                self.stopped = true;
                None
            }
            b'{' => Some(self.object(depth)),
            b'[' => Some(self.array(depth)),
            q @ (b'"' | b'\'') => Some(Value::String(self.string(q))),
            _ => match self.bare() {
                Some(word) => Some(scalar(word)),
                None => {
                    self.stopped = true;
                    None
                }
            },
        }
    }

    fn object(&mut self, depth: usize) -> Value {
        self.pos += 1;
        let mut map = Map::new();
        // Keys already turned into a list of their values.
        let mut listed: Vec<String> = Vec::new();
        while self.next_item(b'}') {
            let Some(key) = self.key() else {
                self.stopped = true;
                break;
            };
            self.skip_blank();
            if !matches!(self.peek(), Some(b':' | b'=')) {
                self.stopped = true;
                break;
            }
            self.pos += 1;
            let Some(value) = self.value(depth + 1) else {
                break;
            };
            match map.get_mut(&key) {
                None => {
                    map.insert(key, value);
                }
                Some(Value::Array(values)) if listed.contains(&key) => values.push(value),
                Some(first) => {
                    *first = Value::Array(vec![first.take(), value]);
                    listed.push(key);
                }
            }
            if self.stopped {
                break;
            }
        }
        Value::Object(map)
    }

    fn array(&mut self, depth: usize) -> Value {
        self.pos += 1;
        let mut items = Vec::new();
        while self.next_item(b']') {
            let Some(item) = self.value(depth + 1) else {
                break;
            };
            items.push(item);
            if self.stopped {
                break;
            }
        }
        Value::Array(items)
    }

    /// A member's key: a string in either quote, or a bare word (`{name: "x"}`).
    fn key(&mut self) -> Option<String> {
        match self.peek()? {
            q @ (b'"' | b'\'') => Some(self.string(q)),
            _ => self.bare().map(str::to_owned),
        }
    }

    /// A run of characters a bare key or value is made of (`true`, `-1.5e3`, `NaN`,
    /// `DB_PASSWORD`, `us-east-1`); `None` when there is none at `pos`.
    fn bare(&mut self) -> Option<&str> {
        let start = self.pos;
        let len = self
            .rest()
            .bytes()
            .take_while(|&b| {
                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'.' | b'$' | b'@')
            })
            .count();
        self.pos += len;
        (len > 0)
            .then(|| self.text.get(start..start + len))
            .flatten()
    }

    /// A string opened by `quote` at `pos`, unescaped as JSON does; leniently: an escape
    /// JSON does not know is kept as written (`C:\windows`), a lone surrogate reads as
    /// U+FFFD, raw control characters are kept, and a string the text cuts off ends there.
    fn string(&mut self, quote: u8) -> String {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = self.rest();
            let Some(i) = memchr::memchr2(quote, b'\\', rest.as_bytes()) else {
                out.push_str(rest);
                self.pos = self.text.len();
                return out;
            };
            out.push_str(rest.get(..i).unwrap_or_default());
            self.pos += i;
            if self.peek() == Some(quote) {
                self.pos += 1;
                return out;
            }
            // A backslash.
            self.pos += 1;
            self.escape(&mut out);
        }
    }

    /// The escape after a backslash (at `pos`), appended to `out`.
    fn escape(&mut self, out: &mut String) {
        let Some(c) = self.rest().chars().next() else {
            out.push('\\');
            return;
        };
        self.pos += c.len_utf8();
        let plain = match c {
            '"' | '\\' | '/' | '\'' => c,
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'u' => {
                out.push(self.unicode_escape());
                return;
            }
            other => {
                out.push('\\');
                other
            }
        };
        out.push(plain);
    }

    /// The character of a `\u` escape whose `u` was just read (a surrogate pair read as
    /// one; a lone surrogate or a malformed escape as U+FFFD).
    fn unicode_escape(&mut self) -> char {
        let Some(high) = self.hex4() else {
            return char::REPLACEMENT_CHARACTER;
        };
        if (0xD800..0xDC00).contains(&high) && self.rest().starts_with("\\u") {
            let back = self.pos;
            self.pos += 2;
            match self.hex4() {
                Some(low) if (0xDC00..0xE000).contains(&low) => {
                    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                    return char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                }
                _ => self.pos = back,
            }
        }
        char::from_u32(high).unwrap_or(char::REPLACEMENT_CHARACTER)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.rest().get(..4)?;
        let code = u32::from_str_radix(digits, 16).ok()?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += 4;
        Some(code)
    }
}

/// A bare word as a value: JSON's literals and numbers as themselves, anything else
/// (`NaN`, `1e400`, `None`, `us-east-1`) as the text it is.
fn scalar(word: &str) -> Value {
    match word {
        "true" | "True" => Value::Bool(true),
        "false" | "False" => Value::Bool(false),
        "null" | "None" => Value::Null,
        _ => match word.parse::<Number>() {
            Ok(n) => Value::Number(n),
            Err(_) => Value::String(word.to_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Vec<Value> {
        documents(text)
    }

    #[test]
    fn valid_json_reads_as_serde_json_reads_it() {
        for text in [
            r#"{"a": [1, -2.5, 3e2, true, false, null, "x\"y\\z\u00e9\ud83d\ude00"], "b": {}}"#,
            r#"[{"name": "DB_PASSWORD", "value": "s"}, [], [[1]]]"#,
            "{\"deep\": [[[[[[[[[[{\"k\": \"v\"}]]]]]]]]]]}",
        ] {
            let strict: Value = serde_json::from_str(text).unwrap();
            assert_eq!(read(text), vec![strict], "{text}");
        }
    }

    #[test]
    fn text_around_and_between_documents_is_stepped_over() {
        let text = r#"[INFO] {"name": "A", "value": "1"} (took {3} ms) then [1, 2] and {"b": 2}"#;
        assert_eq!(
            read(text),
            vec![
                json!(["INFO"]),
                json!({"name": "A", "value": "1"}),
                json!([1, 2]),
                json!({"b": 2})
            ]
        );
    }

    #[test]
    fn a_document_cut_off_or_broken_keeps_what_came_before() {
        assert_eq!(
            read(r#"{"name": "DB_PASSWORD", "value": "abc"#),
            vec![json!({"name": "DB_PASSWORD", "value": "abc"})]
        );
        assert_eq!(
            read(r#"{"a": {"name": "N", "value": "v"}, "b": ) oops"#),
            vec![json!({"a": {"name": "N", "value": "v"}})]
        );
    }

    #[test]
    fn what_strict_json_refuses_is_read_as_a_reader_would() {
        let text = "{name: 'DB', \"path\": \"C:\\windows\", \"s\": \"\\ud800x\", n: 1e400, \
                    t: \"a\tb\", m: NaN, /* note */ \"list\": [1, 2,], // end\n}";
        assert_eq!(
            read(text),
            vec![json!({
                "name": "DB", "path": "C:\\windows", "s": "\u{fffd}x", "n": "1e400",
                "t": "a\tb", "m": "NaN", "list": [1, 2]
            })]
        );
    }

    #[test]
    fn every_value_of_a_repeated_key_is_kept() {
        assert_eq!(
            read(r#"{"value": "S", "value": "x", "value": "y", "k": [1], "k": 2}"#),
            vec![json!({"value": ["S", "x", "y"], "k": [[1], 2]})]
        );
    }

    #[test]
    fn depth_is_bounded_and_reading_is_linear() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let docs = read(&deep);
        assert!(!docs.is_empty());
        // Each byte is read by one document: a hundred thousand unmatched openers are
        // read in a handful of documents, not one per opener.
        assert!(docs.len() <= 100_000 / MAX_DEPTH + 2, "{}", docs.len());
    }
}
