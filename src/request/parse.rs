//! Strict JSON parsing: the body is parsed once, and refused when another parser could read
//! it differently.
//!
//! OpenRouter's parser (and whatever sits behind it) may keep the first or the last of two
//! duplicate keys; ours would check one and forward the other. So duplicates are refused at
//! every depth, compared after unescaping (`"mod\u0065l"` is `"model"`). A BOM, invalid UTF-8,
//! lone surrogates, a non-object root and nesting beyond a limit are refused too. The fields
//! orguard owns are checked for type here, so later stages work on typed values.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::Endpoint;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("request body starts with a byte order mark")]
    Bom,
    #[error("request body is not valid UTF-8")]
    InvalidUtf8,
    #[error("request body is not valid JSON (line {line}, column {column})")]
    Syntax { line: usize, column: usize },
    #[error("request body has a duplicate object key at nesting depth {depth}; orguard refuses bodies that parsers could read differently")]
    DuplicateKey { depth: usize },
    #[error("request body nests deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("request body must be a JSON object")]
    NotAnObject,
    #[error("field `{field}` must be {expected}")]
    FieldType {
        field: &'static str,
        expected: &'static str,
    },
    /// An output limit the policy stage has always refused as `invalid_max_tokens`
    /// (`max_output_tokens`, `reasoning.max_tokens`), kept apart from [`Self::FieldType`]
    /// so the error code clients see does not change.
    #[error("field `{field}` must be {LIMIT_EXPECTED}")]
    TokenLimit { field: &'static str },
    #[error(
        "field `model` is required (OpenRouter would otherwise pick the account's default model)"
    )]
    MissingModel,
}

/// Output-token limits above this are refused as nonsense rather than capped.
pub const ABSURD_TOKENS: u64 = 100_000_000;

/// Fields that multiply the output (`n` choices, `best_of` candidates) are at most this.
pub const MAX_CHOICES: u64 = 16;

/// What an output limit must be, as the refusals say it ([`ABSURD_TOKENS`]).
const LIMIT_EXPECTED: &str = "an integer between 1 and 100000000";

/// What `n` and `best_of` must be ([`MAX_CHOICES`]).
const CHOICES_EXPECTED: &str = "an integer between 1 and 16";

/// A request body that passed strict parsing, with typed views of the fields orguard owns.
#[derive(Debug, Clone)]
pub struct ParsedRequest {
    pub endpoint: Endpoint,
    /// The whole body, key order preserved; fields orguard does not own pass through as-is.
    pub body: Map<String, Value>,
    /// `model`, exactly as sent (normalisation is the policy stage's business).
    pub model: String,
    /// Whether the client asked for a server-sent-event stream.
    pub stream: bool,
    /// `models`, the client's fallback list, when set (exactly as sent).
    pub fallbacks: Option<Vec<String>>,
    /// `provider`, the client's routing object, when set.
    pub provider: Option<Map<String, Value>>,
    /// The output limits and choice counts, as sent.
    pub limits: OutputLimits,
    /// The body's size in bytes as received: what serialising it again will take, about.
    pub size: usize,
}

/// The fields that bound how much output a request may ask for, as the client sent them
/// (`None` when absent or `null`). Range checks and caps are the policy stage's business;
/// here each is only known to be a non-negative integer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputLimits {
    pub max_tokens: Option<u64>,
    pub max_completion_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    /// `reasoning.max_tokens`.
    pub reasoning_max_tokens: Option<u64>,
    /// `thinking.budget_tokens`: Anthropic's own spelling of a reasoning budget, which
    /// OpenRouter passes on to the provider like any provider-specific field.
    pub thinking_budget_tokens: Option<u64>,
    /// `n`, the number of choices.
    pub n: Option<u64>,
    /// `best_of`, the candidates the legacy completions endpoint generates.
    pub best_of: Option<u64>,
}

impl OutputLimits {
    /// Each top-level limit field with its value, in the order the policy caps them.
    pub fn top_level(&self) -> [(&'static str, Option<u64>); 3] {
        [
            ("max_tokens", self.max_tokens),
            ("max_completion_tokens", self.max_completion_tokens),
            ("max_output_tokens", self.max_output_tokens),
        ]
    }
}

/// Parses `bytes` for `endpoint`, refusing anything ambiguous.
pub fn parse(
    endpoint: Endpoint,
    bytes: &[u8],
    max_depth: usize,
) -> Result<ParsedRequest, ParseError> {
    let body = parse_object(bytes, max_depth)?;
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(field_type("stream", "a boolean")),
    };
    let fallbacks = match body.get("models") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(field_type("models", "an array of strings"))?,
        ),
        Some(_) => return Err(field_type("models", "an array of strings")),
    };
    let provider = match body.get("provider") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => return Err(field_type("provider", "an object")),
    };
    let limits = output_limits(&body)?;
    let model = match body.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => return Err(ParseError::MissingModel),
        Some(_) => {
            return Err(ParseError::FieldType {
                field: "model",
                expected: "a string",
            })
        }
    };
    Ok(ParsedRequest {
        endpoint,
        body,
        model,
        stream,
        fallbacks,
        provider,
        limits,
        size: bytes.len(),
    })
}

fn field_type(field: &'static str, expected: &'static str) -> ParseError {
    ParseError::FieldType { field, expected }
}

/// Reads the output limits. `null` is accepted where OpenRouter treats it as "not set".
fn output_limits(body: &Map<String, Value>) -> Result<OutputLimits, ParseError> {
    let count =
        |map: &Map<String, Value>, field: &'static str, err: ParseError| match map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or(err),
        };
    let (integer, choices) = (LIMIT_EXPECTED, CHOICES_EXPECTED);
    let nested = |object: &'static str, field: &'static str, path: &'static str| match body
        .get(object)
    {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => count(inner, field, ParseError::TokenLimit { field: path }),
        Some(_) => Err(field_type(object, "an object")),
    };
    let reasoning_max_tokens = nested("reasoning", "max_tokens", "reasoning.max_tokens")?;
    let thinking_budget_tokens = nested("thinking", "budget_tokens", "thinking.budget_tokens")?;
    Ok(OutputLimits {
        max_tokens: count(body, "max_tokens", field_type("max_tokens", integer))?,
        max_completion_tokens: count(
            body,
            "max_completion_tokens",
            field_type("max_completion_tokens", integer),
        )?,
        max_output_tokens: count(
            body,
            "max_output_tokens",
            ParseError::TokenLimit {
                field: "max_output_tokens",
            },
        )?,
        reasoning_max_tokens,
        thinking_budget_tokens,
        n: count(body, "n", field_type("n", choices))?,
        best_of: count(body, "best_of", field_type("best_of", choices))?,
    })
}

/// Parses a JSON object strictly (no duplicates, bounded depth, no BOM, valid UTF-8).
pub fn parse_object(bytes: &[u8], max_depth: usize) -> Result<Map<String, Value>, ParseError> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(ParseError::Bom);
    }
    // serde_json also rejects invalid UTF-8, but only with a syntax position; checking first
    // gives the caller a precise reason.
    // Parsing from the checked `str` then skips serde_json's own UTF-8 check of every string.
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::InvalidUtf8)?;
    let violation = Cell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = StrictSeed {
        depth: 0,
        max_depth,
        violation: &violation,
    };
    let value = match seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v)) {
        Ok(v) => v,
        Err(e) => {
            return Err(violation.take().unwrap_or(ParseError::Syntax {
                line: e.line(),
                column: e.column(),
            }))
        }
    };
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ParseError::NotAnObject),
    }
}

/// Builds a `serde_json::Value` while refusing duplicate keys and excessive depth. A
/// violation is recorded in `violation` because serde's error type can only carry a string.
struct StrictSeed<'a> {
    depth: usize,
    max_depth: usize,
    violation: &'a Cell<Option<ParseError>>,
}

impl StrictSeed<'_> {
    fn nested(&self) -> Result<Self, ParseError> {
        if self.depth >= self.max_depth {
            return Err(ParseError::TooDeep {
                limit: self.max_depth,
            });
        }
        Ok(StrictSeed {
            depth: self.depth + 1,
            max_depth: self.max_depth,
            violation: self.violation,
        })
    }

    fn fail<E: de::Error>(&self, err: ParseError) -> E {
        self.violation.set(Some(err));
        E::custom("strict parsing violation")
    }
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.nested().map_err(|e| self.fail::<A::Error>(e))?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(child.reborrow())? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let child = self.nested().map_err(|e| self.fail::<A::Error>(e))?;
        let mut map = Map::new();
        // Keys arrive already unescaped, so `"mod\u0065l"` collides with `"model"` here.
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(self.fail(ParseError::DuplicateKey { depth: self.depth }));
            }
            let value = access.next_value_seed(child.reborrow())?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

impl StrictSeed<'_> {
    fn reborrow(&self) -> Self {
        StrictSeed {
            depth: self.depth,
            max_depth: self.max_depth,
            violation: self.violation,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn chat(body: &str) -> Result<ParsedRequest, ParseError> {
        parse(Endpoint::ChatCompletions, body.as_bytes(), 16)
    }

    #[test]
    fn accepts_a_plain_request_and_keeps_key_order() {
        let req = chat(r#"{"zeta":1,"model":"openai/gpt-4o","messages":[],"alpha":{"b":1,"a":2},"stream":true}"#).unwrap();
        assert_eq!(req.model, "openai/gpt-4o");
        assert!(req.stream);
        let keys: Vec<_> = req.body.keys().cloned().collect();
        assert_eq!(keys, ["zeta", "model", "messages", "alpha", "stream"]);
    }

    #[test]
    fn duplicate_keys_at_any_depth_and_after_unescaping() {
        for (body, depth) in [
            (r#"{"model":"a","model":"b"}"#, 0),
            (r#"{"model":"a","mod\u0065l":"b"}"#, 0),
            (r#"{"model":"a","provider":{"only":["x"],"only":["y"]}}"#, 1),
            (
                r#"{"model":"a","messages":[{"role":"user","content":"x","content":"y"}]}"#,
                2,
            ),
            (r#"{"model":"a","x":[[{"k":1,"\u006b":2}]]}"#, 3),
        ] {
            assert_eq!(
                chat(body).unwrap_err(),
                ParseError::DuplicateKey { depth },
                "{body}"
            );
        }
    }

    #[test]
    fn refuses_bom_bad_utf8_surrogates_and_non_objects() {
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(br#"{"model":"a"}"#);
        assert_eq!(
            parse(Endpoint::ChatCompletions, &bom, 16).unwrap_err(),
            ParseError::Bom
        );
        let bad = b"{\"model\":\"a\xff\"}";
        assert_eq!(
            parse(Endpoint::ChatCompletions, bad, 16).unwrap_err(),
            ParseError::InvalidUtf8
        );
        assert!(matches!(
            chat(r#"{"model":"a","x":"\ud800"}"#).unwrap_err(),
            ParseError::Syntax { .. }
        ));
        assert!(matches!(
            chat(r#"{"model":"a","x":"\udc00\ud800"}"#).unwrap_err(),
            ParseError::Syntax { .. }
        ));
        assert_eq!(chat("[]").unwrap_err(), ParseError::NotAnObject);
        assert!(matches!(
            chat(r#"{"model":"a"} {}"#).unwrap_err(),
            ParseError::Syntax { .. }
        ));
        assert!(matches!(
            chat(r#"{"model":"a",}"#).unwrap_err(),
            ParseError::Syntax { .. }
        ));
    }

    #[test]
    fn valid_surrogate_pairs_are_fine() {
        let req = chat(r#"{"model":"a","x":"\ud83d\ude00"}"#).unwrap();
        assert_eq!(req.body["x"], "😀");
    }

    #[test]
    fn nesting_limit() {
        let ok = format!(
            "{{\"model\":\"a\",\"x\":{}{}}}",
            "[".repeat(15),
            "]".repeat(15)
        );
        assert!(chat(&ok).is_ok());
        let deep = format!(
            "{{\"model\":\"a\",\"x\":{}{}}}",
            "[".repeat(16),
            "]".repeat(16)
        );
        assert_eq!(chat(&deep).unwrap_err(), ParseError::TooDeep { limit: 16 });
    }

    #[test]
    fn the_refusals_name_the_bounds_the_policy_applies() {
        assert!(LIMIT_EXPECTED.ends_with(&format!(" {ABSURD_TOKENS}")));
        assert!(CHOICES_EXPECTED.ends_with(&format!(" {MAX_CHOICES}")));
    }

    #[test]
    fn owned_fields_are_type_checked() {
        for (body, field) in [
            (r#"{"model":42}"#, "model"),
            (r#"{"model":["a"]}"#, "model"),
            (r#"{"model":"a","models":"b"}"#, "models"),
            (r#"{"model":"a","models":["b",1]}"#, "models"),
            (r#"{"model":"a","provider":"openai"}"#, "provider"),
            (r#"{"model":"a","provider":["openai"]}"#, "provider"),
            (r#"{"model":"a","max_tokens":"100"}"#, "max_tokens"),
            (r#"{"model":"a","max_tokens":-1}"#, "max_tokens"),
            (r#"{"model":"a","max_tokens":10.5}"#, "max_tokens"),
            (
                r#"{"model":"a","max_completion_tokens":1e3}"#,
                "max_completion_tokens",
            ),
            (r#"{"model":"a","stream":"true"}"#, "stream"),
            (r#"{"model":"a","stream":1}"#, "stream"),
        ] {
            match chat(body).unwrap_err() {
                ParseError::FieldType { field: f, .. } => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        for body in [
            r#"{}"#,
            r#"{"model":""}"#,
            r#"{"model":"  "}"#,
            r#"{"model":null}"#,
        ] {
            assert_eq!(chat(body).unwrap_err(), ParseError::MissingModel, "{body}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(Endpoint::ChatCompletions, &bytes, 8);
        }

        #[test]
        fn a_repeated_key_is_always_refused(key in "[a-z\\u{e9}\\u{1F600}]{1,8}", depth in 0usize..5) {
            let inner = format!("{{\"{key}\":1,\"{key}\":2}}");
            let mut body = inner;
            for _ in 0..depth { body = format!("{{\"w\":{body}}}"); }
            let body = format!("{{\"model\":\"m\",\"x\":{body}}}");
            prop_assert_eq!(chat(&body).unwrap_err(), ParseError::DuplicateKey { depth: depth + 1 });
        }
    }
}
