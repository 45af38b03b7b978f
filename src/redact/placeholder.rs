//! Reversible placeholders: `[EMAIL_1]` goes upstream, the original comes back in the
//! response. The mapping lives in memory for one request and is never logged or stored.
//!
//! In a stream, a model emits a placeholder token by token (`[`, `EMAIL`, `_1`, `]`), so a
//! placeholder can straddle events. The [`Restorer`] holds back a possible placeholder
//! prefix at the end of each piece of text until the next piece shows whether it is one.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

/// The mapping of one request. `Debug` shows only the count.
#[derive(Clone, Default)]
pub struct Placeholders {
    /// Per type (a handful per request, searched in order): the values seen, each with its
    /// token, and how many there are. Looked up by `&str` at both levels, so a value seen
    /// again costs no allocation; hashed with foldhash under a per-process seed (the
    /// values are the client's, the map lives for one request).
    by_kind: Vec<Kind>,
    by_token: Vec<(String, String)>,
}

#[derive(Clone)]
struct Kind {
    name: String,
    tokens: foldhash::HashMap<String, String>,
}

impl fmt::Debug for Placeholders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Placeholders({} values)", self.by_token.len())
    }
}

impl Placeholders {
    /// The token for `value` of type `kind`: the same value gets the same token.
    pub fn token(&mut self, kind: &str, value: &str) -> String {
        let at = match self.by_kind.iter().position(|k| k.name == kind) {
            Some(at) => at,
            None => {
                self.by_kind.push(Kind {
                    name: kind.to_owned(),
                    tokens: foldhash::HashMap::default(),
                });
                self.by_kind.len() - 1
            }
        };
        // Present: found or pushed above. Were it not, the value still leaves redacted.
        let Some(seen) = self.by_kind.get_mut(at) else {
            return format!("[{kind}]");
        };
        if let Some(t) = seen.tokens.get(value) {
            return t.clone();
        }
        let token = format!("[{kind}_{}]", seen.tokens.len() + 1);
        seen.tokens.insert(value.to_owned(), token.clone());
        self.by_token.push((token.clone(), value.to_owned()));
        token
    }

    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }

    /// Replaces every complete token in `text`.
    pub fn restore(&self, text: &str) -> String {
        let mut out = text.to_owned();
        // Longest first, so `[EMAIL_12]` is not read as `[EMAIL_1]` + `2]`.
        let mut tokens: Vec<&(String, String)> = self.by_token.iter().collect();
        tokens.sort_by_key(|t| std::cmp::Reverse(t.0.len()));
        for (token, original) in tokens {
            if out.contains(token.as_str()) {
                out = out.replace(token.as_str(), original);
            }
        }
        out
    }

    /// Restores every string of a JSON document (a non-streamed response).
    pub fn restore_json(&self, v: &mut Value) {
        super::walk::every_string(v, &mut |s| {
            if s.contains('[') {
                *s = self.restore(s);
            }
        });
    }

    fn longest(&self) -> usize {
        self.by_token
            .iter()
            .map(|(t, _)| t.len())
            .max()
            .unwrap_or(0)
    }
}

/// Restores placeholders in streamed text, per independent text stream (choice and field).
#[derive(Debug, Default)]
pub struct Restorer {
    pending: HashMap<String, String>,
}

impl Restorer {
    /// Takes the next piece of one text stream; returns what can be emitted now.
    pub fn push(&mut self, map: &Placeholders, stream: &str, piece: &str) -> String {
        let mut text = self.pending.remove(stream).unwrap_or_default();
        text.push_str(piece);
        let restored = map.restore(&text);
        let hold = held_prefix(&restored, map.longest());
        let split = restored.len() - hold;
        if hold > 0 {
            self.pending.insert(
                stream.to_owned(),
                restored.get(split..).unwrap_or_default().to_owned(),
            );
        }
        restored.get(..split).unwrap_or_default().to_owned()
    }

    /// Ends one text stream: whatever was held back is emitted as it is.
    pub fn finish(&mut self, stream: &str) -> String {
        self.pending.remove(stream).unwrap_or_default()
    }

    /// Whether some text is held back.
    pub fn holding(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Ends every text stream whose key starts with `prefix`, in key order.
    pub fn finish_matching(&mut self, prefix: &str) -> Vec<(String, String)> {
        let mut keys: Vec<String> = self
            .pending
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        keys.sort();
        keys.into_iter()
            .map(|k| {
                let v = self.pending.remove(&k).unwrap_or_default();
                (k, v)
            })
            .collect()
    }

    /// Ends every text stream.
    pub fn finish_all(&mut self) -> Vec<(String, String)> {
        self.pending.drain().collect()
    }
}

/// Length of the tail of `text` that could still become a placeholder: `[`, then uppercase
/// letters or `_`, then digits, with no `]` yet, no longer than the longest token.
fn held_prefix(text: &str, longest: usize) -> usize {
    let Some(open) = text.rfind('[') else {
        return 0;
    };
    let tail = text.get(open..).unwrap_or_default();
    let inner = tail.get(1..).unwrap_or_default();
    let plausible = inner
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit());
    if plausible && tail.len() < longest.max(2) {
        tail.len()
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> Placeholders {
        let mut p = Placeholders::default();
        assert_eq!(p.token("EMAIL", "jane@example.com"), "[EMAIL_1]");
        assert_eq!(p.token("EMAIL", "joe@example.com"), "[EMAIL_2]");
        assert_eq!(p.token("EMAIL", "jane@example.com"), "[EMAIL_1]");
        assert_eq!(p.token("PHONE", "+1 415 555 0100"), "[PHONE_1]");
        p
    }

    #[test]
    fn restores_whole_tokens() {
        let p = map();
        assert_eq!(
            p.restore("mail [EMAIL_1] or [EMAIL_2], call [PHONE_1]"),
            "mail jane@example.com or joe@example.com, call +1 415 555 0100"
        );
        assert_eq!(p.restore("[EMAIL_3] stays"), "[EMAIL_3] stays");
        assert!(!format!("{p:?}").contains("jane"));
    }

    #[test]
    fn restores_tokens_split_anywhere() {
        let p = map();
        let text = "Write to [EMAIL_1] today, [PHONE_1] too. [not a token] [EMAIL_2]";
        let want = p.restore(text);
        for cut in 0..text.len() {
            for cut2 in cut..text.len() {
                let mut r = Restorer::default();
                let mut out = String::new();
                out += &r.push(&p, "0", &text[..cut]);
                out += &r.push(&p, "0", &text[cut..cut2]);
                out += &r.push(&p, "0", &text[cut2..]);
                out += &r.finish("0");
                assert_eq!(out, want, "cuts {cut} {cut2}");
            }
        }
    }
}
