//! Everything a request forwards, visited (DESIGN.md §4): the walk is not a list of places
//! to look, it is the whole body.
//!
//! Every string at any depth reaches the visitor as rewritable [`Visit::text`]; every
//! object key, and every number long enough to hold digits a detector matches, reaches it
//! as [`Visit::fixed`] (inspected, never rewritten: a rewritten key or a number turned into
//! a string changes the structure the upstream reads). Content the gateway cannot read —
//! images, audio, files, as base64 or by reference — is reported as [`Visit::media`] and its
//! payload is not scanned; its URLs and file names are.
//!
//! Known fields are checked against their documented shapes on the way (OpenAI chat, legacy
//! completions, Responses, embeddings, OpenRouter's extras): a known field in another shape
//! is a [`ShapeError`] naming its JSON path, because a field the walk does not understand is
//! one an upstream might read differently. Unknown fields are walked as plain data.
//!
//! Tool-call arguments are JSON inside a string: they are parsed and everything in them —
//! keys and numbers included, since the model reads them as text — is rewritable, then
//! re-serialised, so the upstream reads exactly what was scanned.
//!
//! Two walks of the same body visit the same places with the same [`Path::hash`], which is
//! how one scan's findings are applied to the policy's rewritten copy of the body.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::request::parse::{parse_object, ParseError};
use crate::request::Endpoint;

/// Content the gateway cannot read. Video counts as a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Media {
    Image,
    Audio,
    File,
    /// A prompt or embeddings input given as token ids: the upstream decodes them into text
    /// with the model's tokenizer, which the gateway does not have.
    Tokens,
}

impl Media {
    pub fn as_str(self) -> &'static str {
        match self {
            Media::Image => "an image",
            Media::Audio => "audio",
            Media::File => "a file",
            Media::Tokens => "token ids",
        }
    }

    /// The class setting that lets it through.
    pub fn setting(self) -> &'static str {
        match self {
            Media::Image => "allow_images",
            Media::Audio => "allow_audio",
            Media::File => "allow_files",
            Media::Tokens => "allow_token_input",
        }
    }
}

/// A known field in a shape its reference does not document. The path names fields, never
/// values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{path}` must be {expected}")]
pub struct ShapeError {
    pub path: String,
    pub expected: &'static str,
}

/// Text that is inspected but never rewritten.
#[derive(Debug, Clone, Copy)]
pub enum Fixed<'a> {
    /// An object key.
    Key(&'a str),
    /// A number's digits, with the key it is under (context for detectors such as SSN).
    Number { digits: &'a str, under: &'a str },
    /// A string of a routing field orguard owns (`model`, `models`, `provider`): the policy
    /// rewrites and echoes these, so a value found in one is refused, never redacted.
    Owned(&'a str),
    /// The base64 payload of media: not text to the model, but decoded and inspected when it
    /// turns out to be text (a `text/plain` file, a secret labelled as an image).
    Payload(&'a str),
}

/// What a walk hands each place it visits.
pub trait Visit {
    /// A string the upstream receives; it may be rewritten in place.
    fn text(&mut self, at: &Path<'_>, s: &mut String);
    /// A string held directly under an object key of data (`{"api_key": "…"}` in metadata
    /// or tool-call arguments): the key names it as an assignment's name does in text, so
    /// the scan reads the two together. Otherwise it is text.
    /// `names` holds one name, or two where two say what the value is (a pair's name and
    /// the name its object is held under): either may name it a secret.
    fn named_text(&mut self, at: &Path<'_>, _names: &[&str], s: &mut String) {
        self.text(at, s)
    }
    /// An object key or a number: inspected, not rewritten.
    fn fixed(&mut self, at: &Path<'_>, text: Fixed<'_>);
    /// Content the gateway cannot read, at `at`.
    fn media(&mut self, at: &Path<'_>, kind: Media);
    /// The texts of one conversation, in order, after each was visited: a model reads them
    /// as one text, so a value may be split between them.
    fn conversation(&mut self, _at: &Path<'_>, _texts: &[&str]) {}
}

/// A place in the body: a chain of segments back to the root. Built on the stack as the walk
/// descends, so visiting costs no allocation; rendered to text only for an error.
pub struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
    hash: u64,
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
    /// Into the JSON held by a string (tool-call arguments).
    Embedded,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn mix(mut h: u64, tag: u8, bytes: &[u8]) -> u64 {
    h = (h ^ u64::from(tag)).wrapping_mul(FNV_PRIME);
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME);
    }
    h
}

impl Path<'static> {
    pub fn root() -> Self {
        Path {
            parent: None,
            seg: Seg::Root,
            hash: FNV_OFFSET,
        }
    }
}

impl<'a> Path<'a> {
    fn child<'b>(&'b self, seg: Seg<'b>) -> Path<'b> {
        let hash = match seg {
            Seg::Root => self.hash,
            Seg::Key(k) => mix(self.hash, 1, k.as_bytes()),
            Seg::Index(i) => mix(self.hash, 2, &i.to_le_bytes()),
            Seg::Embedded => mix(self.hash, 3, &[]),
        };
        Path {
            parent: Some(self),
            seg,
            hash,
        }
    }

    pub fn key<'b>(&'b self, k: &'b str) -> Path<'b> {
        self.child(Seg::Key(k))
    }

    pub fn index(&self, i: usize) -> Path<'_> {
        self.child(Seg::Index(i))
    }

    /// Identifies this place across two walks of the same body.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// `$.messages[0].content[1].text`. A key is written out only when it looks like a field
    /// name (letters, `_`, `-`, at most 32): anything else could be the very value the path
    /// is reported for, and shows as `*`.
    pub fn render(&self) -> String {
        self.render_with(false)
    }

    /// [`Path::render`] for a place that is an object key holding a finding: that key is
    /// written `*` whatever it looks like (`xoxb-…` has only letters and `-`).
    pub fn render_masking_key(&self) -> String {
        self.render_with(true)
    }

    fn render_with(&self, mask_last_key: bool) -> String {
        let mut segs = Vec::new();
        let mut at = Some(self);
        while let Some(p) = at {
            segs.push(p.seg);
            at = p.parent;
        }
        let mut out = String::from("$");
        if let Some(last @ Seg::Key(_)) = segs.first_mut().filter(|_| mask_last_key) {
            *last = Seg::Key("");
        }
        for seg in segs.into_iter().rev() {
            match seg {
                Seg::Root => {}
                Seg::Key(k) if looks_like_a_field_name(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Seg::Key(_) => out.push_str(".*"),
                Seg::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
                Seg::Embedded => out.push_str("(json)"),
            }
        }
        out
    }
}

fn looks_like_a_field_name(k: &str) -> bool {
    (1..=32).contains(&k.len())
        && k.bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-')
}

type Walked = Result<(), ShapeError>;

fn wrong(at: &Path<'_>, expected: &'static str) -> Walked {
    Err(ShapeError {
        path: at.render(),
        expected,
    })
}

/// Visits everything in `body` for `endpoint`, checking known fields' shapes.
pub fn walk(endpoint: Endpoint, body: &mut Map<String, Value>, v: &mut dyn Visit) -> Walked {
    let root = Path::root();
    for (key, value) in body.iter_mut() {
        let at = root.key(key);
        v.fixed(&at, Fixed::Key(key));
        top_level(endpoint, key, value, &at, v)?;
    }
    Ok(())
}

/// The documented top-level fields, by endpoint. Anything else is data.
fn top_level(
    endpoint: Endpoint,
    key: &str,
    value: &mut Value,
    at: &Path<'_>,
    v: &mut dyn Visit,
) -> Walked {
    use Endpoint as E;
    match (endpoint, key) {
        (E::ChatCompletions, "messages") => {
            list(value, at, v, "an array of messages", message)?;
            conversation(value, at, v);
            Ok(())
        }
        (E::ChatCompletions | E::Completions, "prompt") => prompt(value, at, v),
        (E::Embeddings, "input") => prompt(value, at, v),
        (E::Responses, "input") => match value {
            Value::String(s) => {
                v.text(at, s);
                Ok(())
            }
            _ => {
                list(value, at, v, "a string or an array of input items", item)?;
                conversation(value, at, v);
                Ok(())
            }
        },
        (E::Responses, "instructions")
        | (
            _,
            "suffix"
            | "user"
            | "session_id"
            | "prompt_cache_key"
            | "previous_response_id"
            | "service_tier"
            | "preset",
        ) => optional_string(value, at, v),
        (_, "model" | "models" | "provider") => {
            owned(value, at, v);
            Ok(())
        }
        (E::Responses, "prompt") => match value {
            Value::Null => Ok(()),
            Value::Object(m) => {
                for (k, val) in m.iter_mut() {
                    let at = at.key(k);
                    v.fixed(&at, Fixed::Key(k));
                    if k == "variables" {
                        variables(val, &at, v)?;
                    } else {
                        data(val, &at, v)?;
                    }
                }
                Ok(())
            }
            _ => wrong(at, "an object"),
        },
        (_, "stop") => match value {
            Value::Null => Ok(()),
            Value::String(s) => {
                v.text(at, s);
                Ok(())
            }
            Value::Array(_) => list(
                value,
                at,
                v,
                "a string or an array of strings",
                |s, at, v| match s {
                    Value::String(s) => {
                        v.text(at, s);
                        Ok(())
                    }
                    _ => wrong(at, "a string"),
                },
            ),
            _ => wrong(at, "a string or an array of strings"),
        },
        (_, "tools" | "functions" | "plugins") => {
            optional_list(value, at, v, "an array of objects", object_data)
        }
        (_, "modalities") => {
            optional_list(value, at, v, "an array of strings", |s, at, v| match s {
                Value::String(s) => {
                    v.text(at, s);
                    Ok(())
                }
                _ => wrong(at, "a string"),
            })
        }
        (_, "tool_choice") => match value {
            Value::String(_) | Value::Object(_) | Value::Null => data(value, at, v),
            _ => wrong(at, "a string or an object"),
        },
        (
            _,
            "metadata" | "response_format" | "prediction" | "text" | "reasoning" | "stream_options"
            | "trace" | "web_search_options" | "logit_bias" | "debug" | "usage" | "image_config"
            | "cache_control",
        ) => object_data(value, at, v).or_else(|e| if value.is_null() { Ok(()) } else { Err(e) }),
        _ => member(key, value, at, v),
    }
}

/// Every key and string of a routing field orguard owns, as [`Fixed::Owned`]. Their types
/// were checked by the strict parser.
fn owned(value: &Value, at: &Path<'_>, v: &mut dyn Visit) {
    match value {
        Value::String(s) => v.fixed(at, Fixed::Owned(s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                owned(item, &at.index(i), v);
            }
        }
        Value::Object(m) => {
            for (k, val) in m {
                let at = at.key(k);
                v.fixed(&at, Fixed::Key(k));
                owned(val, &at, v);
            }
        }
        Value::Number(n) => number(n, at, v),
        Value::Bool(_) | Value::Null => {}
    }
}

fn optional_string(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    match value {
        Value::Null => Ok(()),
        Value::String(s) => {
            v.text(at, s);
            Ok(())
        }
        _ => wrong(at, "a string"),
    }
}

fn list(
    value: &mut Value,
    at: &Path<'_>,
    v: &mut dyn Visit,
    expected: &'static str,
    each: fn(&mut Value, &Path<'_>, &mut dyn Visit) -> Walked,
) -> Walked {
    let Value::Array(items) = value else {
        return wrong(at, expected);
    };
    for (i, item) in items.iter_mut().enumerate() {
        each(item, &at.index(i), v)?;
    }
    Ok(())
}

fn optional_list(
    value: &mut Value,
    at: &Path<'_>,
    v: &mut dyn Visit,
    expected: &'static str,
    each: fn(&mut Value, &Path<'_>, &mut dyn Visit) -> Walked,
) -> Walked {
    if value.is_null() {
        return Ok(());
    }
    list(value, at, v, expected, each)
}

/// `prompt` (completions) and `input` (embeddings): a string, strings, token ids, or lists
/// of token ids. Lists of strings nested deeper are not a documented shape.
fn prompt(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    const EXPECTED: &str =
        "a string, an array of strings, an array of token ids or an array of token-id arrays";
    match value {
        Value::String(s) => {
            v.text(at, s);
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let at = at.index(i);
                match item {
                    Value::String(s) => v.text(&at, s),
                    Value::Number(_) => {
                        v.media(&at, Media::Tokens);
                        data(item, &at, v)?
                    }
                    Value::Array(ids) if ids.iter().all(Value::is_number) => {
                        v.media(&at, Media::Tokens);
                        data(item, &at, v)?
                    }
                    _ => return wrong(&at, EXPECTED),
                }
            }
            Ok(())
        }
        _ => wrong(at, EXPECTED),
    }
}

/// A chat message.
fn message(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    let Value::Object(m) = value else {
        return wrong(at, "a message object");
    };
    for (k, val) in m.iter_mut() {
        let at = at.key(k);
        v.fixed(&at, Fixed::Key(k));
        match k.as_str() {
            "content" => content(val, &at, v, true)?,
            "role" | "name" | "refusal" | "reasoning" | "tool_call_id" => {
                optional_string(val, &at, v)?
            }
            "tool_calls" => optional_list(val, &at, v, "an array of tool calls", tool_call)?,
            "function_call" => match val {
                Value::Null => {}
                Value::Object(_) => call_with_arguments(val, &at, v)?,
                _ => return wrong(&at, "an object"),
            },
            _ => member(k, val, &at, v)?,
        }
    }
    Ok(())
}

/// Message content: a string, null, or an array of content parts.
fn content(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit, nullable: bool) -> Walked {
    match value {
        Value::String(s) => {
            v.text(at, s);
            Ok(())
        }
        Value::Null if nullable => Ok(()),
        Value::Array(_) => list(value, at, v, "an array of content parts", part),
        _ => wrong(at, "a string, an array of content parts or null"),
    }
}

/// The texts of a conversation (chat `messages`, Responses `input` items), in the order the
/// model reads them: each message's content string or text parts, message after message.
/// Handed to [`Visit::conversation`] once all of them were visited, since a value may be split
/// between parts or between messages (`"my card is 4532 0151"`, `"1283 0366"`).
fn conversation(value: &Value, at: &Path<'_>, v: &mut dyn Visit) {
    let Value::Array(messages) = value else {
        return;
    };
    let mut texts: Vec<&str> = Vec::new();
    for message in messages {
        match message.get("content") {
            Some(Value::String(s)) => texts.push(s),
            Some(Value::Array(parts)) => texts.extend(parts.iter().filter_map(part_text)),
            _ => {}
        }
    }
    if texts.len() > 1 {
        v.conversation(at, &texts);
    }
}

/// The text a text (or refusal) content part carries.
fn part_text(part: &Value) -> Option<&str> {
    let field = match part.get("type")?.as_str()? {
        "text" | "input_text" | "output_text" | "summary_text" | "reasoning_text" => "text",
        "refusal" => "refusal",
        _ => return None,
    };
    part.get(field)?.as_str()
}

/// One content part, by its `type`. Text parts must carry their text as a string; media
/// parts are reported and their payload left unread; unknown types are data.
fn part(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    let Value::Object(m) = value else {
        return wrong(at, "a content part object");
    };
    let kind = match m.get("type") {
        Some(Value::String(t)) => t.clone(),
        None => String::new(),
        Some(_) => return wrong(&at.key("type"), "a string"),
    };
    let (text_field, media) = match kind.as_str() {
        "text" | "input_text" | "output_text" | "summary_text" | "reasoning_text" => {
            (Some("text"), None)
        }
        "refusal" => (Some("refusal"), None),
        "image_url" | "input_image" | "image" => (None, Some(Media::Image)),
        "input_audio" | "audio" => (None, Some(Media::Audio)),
        "file" | "input_file" | "video_url" | "input_video" | "video" => (None, Some(Media::File)),
        _ => (None, None),
    };
    if let Some(field) = text_field {
        if !matches!(m.get(field), Some(Value::String(_))) {
            return wrong(&at.key(field), "a string");
        }
    }
    if let Some(kind) = media {
        v.media(at, kind);
    }
    for (k, val) in m.iter_mut() {
        let at = at.key(k);
        v.fixed(&at, Fixed::Key(k));
        if media.is_some() {
            media_data(val, &at, v)?;
        } else {
            member(k, val, &at, v)?;
        }
    }
    Ok(())
}

/// Inside a media part: URLs, names and formats are text. The payload — a base64 `data:`
/// URL, or strict base64 in the fields that carry one (`data`, `file_data`) — is the
/// content the class allowed or refused; it is not scanned as text, but decoded and
/// inspected if it turns out to be text.
fn media_data(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    match value {
        Value::String(s) => {
            let field = at.last_key().unwrap_or_default();
            match payload_of(s, field) {
                Some(b64) => v.fixed(at, Fixed::Payload(b64)),
                None => v.text(at, s),
            }
            Ok(())
        }
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                let at = at.key(k);
                v.fixed(&at, Fixed::Key(k));
                media_data(val, &at, v)?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                media_data(item, &at.index(i), v)?;
            }
            Ok(())
        }
        _ => data(value, at, v),
    }
}

/// The base64 payload of `s`, if it is one: a `data:…;base64,` URL whose rest is strict
/// base64, or strict base64 itself in a payload field.
fn payload_of<'s>(s: &'s str, field: &str) -> Option<&'s str> {
    if let Some((_, b64)) = data_url(s) {
        return Some(b64);
    }
    (matches!(field, "data" | "file_data") && is_base64(s)).then_some(s)
}

/// `data:<type>;base64,<strict base64>`: the type and the payload.
fn data_url(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix("data:")?;
    let (meta, b64) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    is_base64(b64).then_some((mime, b64))
}

/// Standard base64, padded, nothing else: a string with spaces, dashes or any other
/// character is text, and is scanned as text.
fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !s.is_empty()
        && s.len().is_multiple_of(4)
        && s.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The media type a base64 `data:` URL declares.
fn data_url_media(s: &str) -> Option<Media> {
    let (mime, _) = data_url(s)?;
    Some(if mime.starts_with("image/") {
        Media::Image
    } else if mime.starts_with("audio/") {
        Media::Audio
    } else {
        Media::File
    })
}

/// `tool_calls[]` entries: `function.arguments` is JSON in a string.
fn tool_call(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    let Value::Object(m) = value else {
        return wrong(at, "a tool call object");
    };
    for (k, val) in m.iter_mut() {
        let at = at.key(k);
        v.fixed(&at, Fixed::Key(k));
        match (k.as_str(), &*val) {
            ("function", Value::Object(_)) => call_with_arguments(val, &at, v)?,
            ("function", _) => return wrong(&at, "an object"),
            _ => member(k, val, &at, v)?,
        }
    }
    Ok(())
}

/// An object whose `arguments` is JSON in a string (a function call).
fn call_with_arguments(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    let Value::Object(m) = value else {
        return wrong(at, "an object");
    };
    for (k, val) in m.iter_mut() {
        let at = at.key(k);
        v.fixed(&at, Fixed::Key(k));
        match (k.as_str(), val) {
            ("arguments", Value::String(args)) => embedded_json(args, &at, v),
            ("arguments", Value::Null) => {}
            ("arguments", _) => return wrong(&at, "a string of JSON"),
            (_, val) => member(k, val, &at, v)?,
        }
    }
    Ok(())
}

/// A Responses-API input item: a message (with or without `type`), a function call or its
/// output, reasoning, or another item type (data).
fn item(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    let Value::Object(m) = value else {
        return wrong(at, "an input item object");
    };
    let kind = match m.get("type") {
        Some(Value::String(t)) => t.clone(),
        None if m.contains_key("role") => "message".to_owned(),
        None => String::new(),
        Some(_) => return wrong(&at.key("type"), "a string"),
    };
    for (k, val) in m.iter_mut() {
        let at = at.key(k);
        v.fixed(&at, Fixed::Key(k));
        match (kind.as_str(), k.as_str()) {
            ("message", "content") => content(val, &at, v, false)?,
            ("function_call", "arguments") => match val {
                Value::String(args) => embedded_json(args, &at, v),
                _ => return wrong(&at, "a string of JSON"),
            },
            ("function_call_output" | "custom_tool_call_output", "output") => {
                content(val, &at, v, false)?
            }
            ("reasoning", "summary" | "content") => {
                optional_list(val, &at, v, "an array of content parts", part)?
            }
            _ => member(k, val, &at, v)?,
        }
    }
    Ok(())
}

/// Responses `prompt.variables`: each value is a string or an input content part.
fn variables(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    let Value::Object(m) = value else {
        if value.is_null() {
            return Ok(());
        }
        return wrong(at, "an object");
    };
    for (k, val) in m.iter_mut() {
        let at = at.key(k);
        v.fixed(&at, Fixed::Key(k));
        match val {
            Value::String(s) => v.text(&at, s),
            Value::Object(_) => part(val, &at, v)?,
            _ => return wrong(&at, "a string or an input content part"),
        }
    }
    Ok(())
}

/// An object whose contents are data (a tool definition, a schema, metadata).
fn object_data(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    if !value.is_object() {
        return wrong(at, "an object");
    }
    data(value, at, v)
}

/// Data of no particular shape: every string, key and number. Content parts found here
/// (a tool result carrying an image, say) are still recognised by their `type`, and a
/// base64 `data:` URL anywhere is media.
pub fn data(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    match value {
        Value::String(s) => {
            match (data_url_media(s), data_url(s)) {
                (Some(kind), Some((_, b64))) => {
                    v.media(at, kind);
                    v.fixed(at, Fixed::Payload(b64));
                }
                _ => v.text(at, s),
            }
            Ok(())
        }
        Value::Number(n) => {
            number(n, at, v);
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                data(item, &at.index(i), v)?;
            }
            Ok(())
        }
        Value::Object(m) => {
            if m.get("type")
                .and_then(Value::as_str)
                .is_some_and(is_media_part_type)
            {
                return part(value, at, v);
            }
            members(m, Outer::None, at, v)
        }
        Value::Bool(_) | Value::Null => Ok(()),
    }
}

/// The members of an object of data, each with the name it is judged by ([`name_of`]);
/// `outer` is the name the object itself is held under.
fn members(
    m: &mut Map<String, Value>,
    outer: Outer<'_>,
    at: &Path<'_>,
    v: &mut dyn Visit,
) -> Walked {
    let pair = pair_name(m);
    for (k, val) in m.iter_mut() {
        let at = at.key(k);
        v.fixed(&at, Fixed::Key(k));
        named_member(&name_of(k, pair.as_deref(), outer), val, &at, v)?;
    }
    Ok(())
}

/// The name an object is held under, as its members see it.
#[derive(Clone, Copy)]
enum Outer<'n> {
    /// The object is not held under a name (a list's item at the top, the body).
    None,
    /// Held under this name: it names the object's value keys (`{"password": {"value":
    /// …}}`); its other keys name themselves.
    Name(&'n str),
    /// The value of a pair or of a name (`{"name": "DB_PASSWORD", "value": {"a": …}}`):
    /// the whole object is that value, so every member is named by it, with its own key
    /// after it (`DB_PASSWORD_a`; `…_id` then names an id, as it would anywhere); so is
    /// it by the value's other name, where it has one (`terraform output -json`'s
    /// `{"db_passwords": {"type": ["map", "string"], "value": {"primary": …}}}`).
    Value(&'n str, Option<&'n str>),
}

impl<'n> Outer<'n> {
    fn name(self) -> Option<&'n str> {
        match self {
            Outer::None => None,
            Outer::Name(n) | Outer::Value(n, _) => Some(n),
        }
    }
}

/// A member of an object the walk does not know (`metadata`, an unknown field of a
/// message, a tool call or the body): a string held under its name is handed over with
/// that name, which may call it a secret (`"api_key": "…"`); so are the strings of a list
/// or the value of an object held under it (`"api_key": ["…"]`, `"password": {"value":
/// "…"}`). Anything else is data.
fn member(name: &str, val: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    let naming = Naming {
        name: Cow::Borrowed(name),
        also: None,
        is_value: false,
    };
    named_member(&naming, val, at, v)
}

/// What a member is judged by ([`name_of`]).
struct Naming<'n> {
    /// Its name.
    name: Cow<'n, str>,
    /// The other name that says what it is, where a pair's name and the name its object is
    /// held under both do (`{"db_password": {"type": "string", "value": …}}` in
    /// `terraform output -json`, `{"request_headers": [{"name": "X-API-Key", "value":
    /// …}]}`): either may name it a secret. Joined into one name, a neutral word in either
    /// (`string`, `_header`) would hide the other.
    also: Option<Cow<'n, str>>,
    /// `name` is what the member is the value of (a pair's name, or the name of the object
    /// holding a value key): an object under it passes it on ([`Outer::Value`]).
    is_value: bool,
}

impl Naming<'_> {
    fn text(&self, at: &Path<'_>, s: &mut String, v: &mut dyn Visit) {
        match &self.also {
            Some(also) => v.named_text(at, &[&self.name, also], s),
            None => v.named_text(at, &[&self.name], s),
        }
    }

    fn outer(&self) -> Outer<'_> {
        match self.is_value {
            true => Outer::Value(&self.name, self.also.as_deref()),
            false => Outer::Name(&self.name),
        }
    }
}

/// [`member`], judged by `naming`.
fn named_member(naming: &Naming<'_>, val: &mut Value, at: &Path<'_>, v: &mut dyn Visit) -> Walked {
    match val {
        Value::String(s) if data_url(s).is_none() => {
            naming.text(at, s, v);
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                named_member(naming, item, &at.index(i), v)?;
            }
            Ok(())
        }
        Value::Object(m)
            if !m
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(is_media_part_type) =>
        {
            members(m, naming.outer(), at, v)
        }
        _ => data(val, at, v),
    }
}

/// Keys that hold the value of whatever names them (`{"name": "X-API-Key", "value": "…"}`,
/// `{"password": {"value": "…"}}`, Netlify's `values`, a 1Password field's `value`, a
/// secret store's `data`), compared without case.
const VALUE_KEYS: [&str; 12] = [
    "value",
    "values",
    "val",
    "default",
    "current",
    "plaintext",
    "raw",
    "computed",
    "result",
    "data",
    "content",
    "text",
];

/// Keys that hold a pair's name: HTTP header lists (`name`), Kubernetes `env` (`name`),
/// Postman and `.env` exports (`key`), AWS tags (`Key`), 1Password fields (`label`, `id`,
/// `purpose`), Keycloak credentials (`type`), and what admin consoles and exports call
/// the name (`title`, `field`, `env`, `var`, `setting`, `secretName`), compared without
/// case.
const PAIR_NAME_KEYS: [&str; 20] = [
    "name",
    "key",
    "header",
    "variable",
    "label",
    "title",
    "field",
    "id",
    "type",
    "purpose",
    "env",
    "var",
    "setting",
    "secretname",
    "param",
    "property",
    "attribute",
    "prop",
    "attr",
    "kind",
];

/// The name a name/value pair gives its value: `{"name": "DB_PASSWORD", "value": "…"}` holds a
/// password under the key `value`, and its `name` says so. A pair's name is under one of
/// [`PAIR_NAME_KEYS`] or a [`PAIR_KINDS`] word then `name` or `key` (`ParameterKey`,
/// `OptionName`), its value under one of [`VALUE_KEYS`] or such a word then `value`;
/// several names are read together (`{"key": "api_key", "name": "x", "value": …}`), a
/// name with spaces as one with `_` (Bitwarden's `"API key"`). Objects of more than 64
/// members are records, not pairs.
fn pair_name(m: &Map<String, Value>) -> Option<String> {
    if m.len() > 64 {
        return None;
    }
    let mut names: Vec<&str> = Vec::new();
    let mut has_value = false;
    for (k, val) in m {
        match val {
            Value::String(s) if is_pair_name_key(k) => names.push(s),
            // Names given as a list (`{"name": ["color", "DB_PASSWORD"], …}`) are read
            // together, as several name keys are.
            Value::Array(items) if is_pair_name_key(k) => {
                names.extend(items.iter().take(8).filter_map(Value::as_str));
            }
            _ if is_value_key(k) => has_value = true,
            _ => {}
        }
    }
    (has_value && !names.is_empty()).then(|| names.join("_").replace(' ', "_"))
}

fn is_pair_name_key(k: &str) -> bool {
    KEY_WORDS.pair_name(k)
}

fn is_value_key(k: &str) -> bool {
    KEY_WORDS.value(k)
}

/// The pair rules' key words, each as [`compact`] writes a key, sorted: asked of every
/// member of data (twice or three times each), so a key is compacted once and looked up,
/// not compared with each of some seventy words in turn.
struct KeyWords {
    /// [`PAIR_NAME_KEYS`], and each [`PAIR_KINDS`] word then `name` or `key`.
    names: Vec<Vec<u8>>,
    /// [`VALUE_KEYS`], and each [`PAIR_KINDS`] word (or `default`, `new`, `current`,
    /// `string`, `initial`, `secret`, `plain`) then `value`.
    values: Vec<Vec<u8>>,
}

static KEY_WORDS: std::sync::LazyLock<KeyWords> = std::sync::LazyLock::new(|| {
    let joined = |heads: &[&str], tails: &[&str]| -> Vec<Vec<u8>> {
        heads
            .iter()
            .flat_map(|h| tails.iter().map(move |t| format!("{h}{t}").into_bytes()))
            .collect()
    };
    let mut names: Vec<Vec<u8>> = PAIR_NAME_KEYS
        .iter()
        .map(|w| w.as_bytes().to_vec())
        .collect();
    names.extend(joined(&PAIR_KINDS, &["name", "key"]));
    let mut values: Vec<Vec<u8>> = VALUE_KEYS.iter().map(|w| w.as_bytes().to_vec()).collect();
    let value_kinds = [
        "default", "new", "current", "string", "initial", "secret", "plain",
    ];
    values.extend(joined(&PAIR_KINDS, &["value"]));
    values.extend(joined(&value_kinds, &["value"]));
    for list in [&mut names, &mut values] {
        list.sort_unstable();
        list.dedup();
    }
    KeyWords { names, values }
});

impl KeyWords {
    fn pair_name(&self, k: &str) -> bool {
        compact(k).is_some_and(|c| {
            self.names
                .binary_search_by(|w| w.as_slice().cmp(c.bytes()))
                .is_ok()
        })
    }

    fn value(&self, k: &str) -> bool {
        compact(k).is_some_and(|c| {
            self.values
                .binary_search_by(|w| w.as_slice().cmp(c.bytes()))
                .is_ok()
        })
    }
}

/// A key as the pair rules compare it: lower case, without `_`, `-`, spaces and tabs
/// (`Parameter_Key` is `parameterkey`, `"value "` is `value`), and read folded when it has
/// characters folding changes (`vаlue` with a Cyrillic `а`, a fullwidth `ｎａｍｅ`, a
/// zero-width space), as a model reads it. `None` past 32 bytes: no key word is that long.
fn compact(k: &str) -> Option<Compact> {
    // Sentences held as keys (single-quoted prose read as JSON) are not folded to be
    // turned down: no key word, folded, is anywhere near that long.
    if k.len() > 128 {
        return None;
    }
    let folded;
    let k = match k.is_ascii() {
        true => k,
        false => {
            folded = super::fold::fold(k);
            folded.as_deref().unwrap_or(k)
        }
    };
    let mut c = Compact {
        buf: [0; 32],
        len: 0,
    };
    for b in k
        .bytes()
        .filter(|b| !matches!(b, b'_' | b'-' | b' ' | b'\t'))
    {
        *c.buf.get_mut(c.len)? = b.to_ascii_lowercase();
        c.len += 1;
    }
    Some(c)
}

struct Compact {
    buf: [u8; 32],
    len: usize,
}

impl Compact {
    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// What the members of a pair are named after (`ParameterKey`/`ParameterValue`,
/// `OptionName`/`OptionValue`, `header_name`/`header_value`). Not any key ending in `name`
/// or `value`: `secret_name` beside `encrypted_value` (GitHub's repository secrets) is
/// not a pair, and the ciphertext is no secret.
const PAIR_KINDS: [&str; 12] = [
    "parameter",
    "param",
    "option",
    "header",
    "env",
    "variable",
    "var",
    "setting",
    "field",
    "attribute",
    "property",
    "key",
];

/// The name a member is judged by: its key, unless the key only says "the value" (see
/// [`is_value_key`]), when a pair's name and the name the object is held under say what
/// the value is (both, where there are both); inside a value ([`Outer::Value`]) every key
/// after that value's name (`DB_PASSWORD_primary`).
fn name_of<'n>(key: &'n str, pair: Option<&'n str>, outer: Outer<'n>) -> Naming<'n> {
    let named = |name: Cow<'n, str>, also: Option<Cow<'n, str>>, is_value: bool| Naming {
        name,
        also,
        is_value,
    };
    if is_value_key(key) {
        return match (pair, outer.name()) {
            (Some(pair), outer) => named(Cow::Borrowed(pair), outer.map(Cow::Borrowed), true),
            (None, Some(outer)) => named(Cow::Borrowed(outer), None, true),
            (None, None) => named(Cow::Borrowed(key), None, false),
        };
    }
    match outer {
        Outer::Value(name, also) => named(
            Cow::Owned(format!("{name}_{key}")),
            also.map(|a| Cow::Owned(format!("{a}_{key}"))),
            true,
        ),
        _ => named(Cow::Borrowed(key), None, false),
    }
}

fn is_media_part_type(t: &str) -> bool {
    matches!(
        t,
        "image_url"
            | "input_image"
            | "input_audio"
            | "file"
            | "input_file"
            | "video_url"
            | "input_video"
    )
}

/// Numbers with six or more digits: short ones (temperatures, token counts, seeds) cannot
/// hold a card, an SSN or a phone number, and are not worth a scan.
fn number(n: &serde_json::Number, at: &Path<'_>, v: &mut dyn Visit) {
    let digits = number_text(n);
    if digits.bytes().filter(u8::is_ascii_digit).count() < 6 {
        return;
    }
    let under = at.last_key().unwrap_or_default();
    v.fixed(
        at,
        Fixed::Number {
            digits: &digits,
            under,
        },
    );
}

/// A number as a reader of the forwarded body reads its digits: an integral float
/// (`4111111111111111.0`, `4.111111111111111e15`, `5.36221234E8`) as the integer it is, so
/// that a card or an SSN written as a float is not cut short by its fraction or hidden in
/// an exponent; any other number as `serde_json` writes it.
fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

impl<'a> Path<'a> {
    /// The nearest object key above this place.
    fn last_key(&self) -> Option<&'a str> {
        let mut at = Some(self);
        while let Some(p) = at {
            if let Seg::Key(k) = p.seg {
                return Some(k);
            }
            at = p.parent;
        }
        None
    }
}

/// Arguments that parse as a JSON object or array are visited value by value — keys and
/// numbers as rewritable text, because the model reads them — and always re-serialised, so
/// the upstream reads exactly what was scanned. Arguments with a key written twice are
/// text: parsed, only the last value would be judged and go on (`{"name": "DB_PASSWORD",
/// "name": "x", "value": S}` named S `x`), while the text, every value in it read, is what
/// the model wrote. Anything else is plain text.
fn embedded_json(args: &mut String, at: &Path<'_>, v: &mut dyn Visit) {
    let parsed = match parse_object(args.as_bytes(), EMBEDDED_DEPTH) {
        Ok(map) => Some(Value::Object(map)),
        Err(ParseError::DuplicateKey { .. }) => None,
        Err(_) => serde_json::from_str::<Value>(args)
            .ok()
            .filter(|p| p.is_object() || p.is_array()),
    };
    match parsed {
        Some(mut parsed) => {
            embedded_values(&mut parsed, &at.child(Seg::Embedded), v);
            if let Ok(text) = serde_json::to_string(&parsed) {
                *args = text;
            }
        }
        None => v.text(at, args),
    }
}

/// How deep arguments are parsed as an object (`serde_json`'s own bound).
const EMBEDDED_DEPTH: usize = 128;

fn embedded_values(value: &mut Value, at: &Path<'_>, v: &mut dyn Visit) {
    embedded_named(value, Outer::None, at, v)
}

/// [`embedded_values`], with the name `value` is held under when one names it (as
/// [`members`] does for data).
fn embedded_named(value: &mut Value, outer: Outer<'_>, at: &Path<'_>, v: &mut dyn Visit) {
    match value {
        Value::String(s) => match outer.name() {
            Some(name) => v.named_text(at, &[name], s),
            None => v.text(at, s),
        },
        Value::Number(n) => {
            let before = number_text(n);
            let mut text = before.clone();
            v.text(at, &mut text);
            if text != before {
                *value = Value::String(text);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                embedded_named(item, outer, &at.index(i), v);
            }
        }
        Value::Object(m) => {
            let old = std::mem::take(m);
            let pair = pair_name(&old);
            for (i, (mut key, mut val)) in old.into_iter().enumerate() {
                // Keys are addressed by position: the key itself may be rewritten. The
                // value is judged by the key as sent (a redacted key names nothing).
                let at = at.index(i);
                let judged = name_of(&key, pair.as_deref(), outer);
                let (name, also) = (judged.name.into_owned(), judged.also.map(Cow::into_owned));
                let naming = Naming {
                    name: Cow::Borrowed(&name),
                    also: also.as_deref().map(Cow::Borrowed),
                    is_value: judged.is_value,
                };
                v.text(&at.child(Seg::Embedded), &mut key);
                match &mut val {
                    Value::String(s) => naming.text(&at, s, v),
                    _ => embedded_named(&mut val, naming.outer(), &at, v),
                }
                m.insert(key, val);
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

/// Every string anywhere in `v` (for restoring placeholders in a response).
pub fn every_string(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|i| every_string(i, f)),
        Value::Object(m) => m.values_mut().for_each(|i| every_string(i, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Default)]
    struct Seen {
        texts: Vec<(String, String)>,
        fixed: Vec<(String, String)>,
        media: Vec<(String, Media)>,
    }

    impl Visit for Seen {
        fn text(&mut self, at: &Path<'_>, s: &mut String) {
            self.texts.push((at.render(), s.clone()));
        }
        fn fixed(&mut self, at: &Path<'_>, text: Fixed<'_>) {
            let t = match text {
                Fixed::Key(k) | Fixed::Owned(k) | Fixed::Payload(k) => k.to_owned(),
                Fixed::Number { digits, .. } => digits.to_owned(),
            };
            self.fixed.push((at.render(), t));
        }
        fn media(&mut self, at: &Path<'_>, kind: Media) {
            self.media.push((at.render(), kind));
        }
    }

    fn walked(endpoint: Endpoint, body: Value) -> Result<Seen, ShapeError> {
        let Value::Object(mut m) = body else {
            panic!("not an object")
        };
        let mut seen = Seen::default();
        walk(endpoint, &mut m, &mut seen)?;
        Ok(seen)
    }

    #[test]
    fn every_string_key_and_long_number_is_visited() {
        let seen = walked(
            Endpoint::ChatCompletions,
            json!({"model":"m","metadata":{"who":"x"},"messages":[{"role":"user","content":"hi","refusal":"r"}],"seed":4111111111111111u64,"extra":{"deep":[{"k":"v"}]}}),
        )
        .unwrap();
        let texts: Vec<&str> = seen.texts.iter().map(|(_, s)| s.as_str()).collect();
        for s in ["x", "user", "hi", "r", "v"] {
            assert!(texts.contains(&s), "{s} not visited: {texts:?}");
        }
        let fixed: Vec<&str> = seen.fixed.iter().map(|(_, s)| s.as_str()).collect();
        for k in [
            "model",
            "metadata",
            "who",
            "messages",
            "seed",
            "extra",
            "deep",
            "k",
            "4111111111111111",
        ] {
            assert!(fixed.contains(&k), "{k} not visited: {fixed:?}");
        }
        assert!(seen
            .texts
            .iter()
            .any(|(p, s)| p == "$.extra.deep[0].k" && s == "v"));
    }

    #[test]
    fn malformed_known_fields_are_refused_with_their_path() {
        for (endpoint, body, path) in [
            (
                Endpoint::ChatCompletions,
                json!({"messages":{"role":"user"}}),
                "$.messages",
            ),
            (
                Endpoint::ChatCompletions,
                json!({"messages":[{"content":{"text":"x"}}]}),
                "$.messages[0].content",
            ),
            (
                Endpoint::ChatCompletions,
                json!({"messages":[{"content":["x"]}]}),
                "$.messages[0].content[0]",
            ),
            (
                Endpoint::ChatCompletions,
                json!({"messages":[{"content":[["x"]]}]}),
                "$.messages[0].content[0]",
            ),
            (
                Endpoint::ChatCompletions,
                json!({"messages":[{"content":[{"type":"text","text":["x"]}]}]}),
                "$.messages[0].content[0].text",
            ),
            (
                Endpoint::Responses,
                json!({"instructions":["x"]}),
                "$.instructions",
            ),
            (
                Endpoint::Completions,
                json!({"prompt":[["x"]]}),
                "$.prompt[0]",
            ),
            (Endpoint::Completions, json!({"prompt":{"x":1}}), "$.prompt"),
            (
                Endpoint::Embeddings,
                json!({"input":[{"x":1}]}),
                "$.input[0]",
            ),
            (Endpoint::ChatCompletions, json!({"stop":[1]}), "$.stop[0]"),
        ] {
            let err = walked(endpoint, body.clone())
                .err()
                .unwrap_or_else(|| panic!("{body} accepted"));
            assert_eq!(err.path, path, "{body}");
        }
    }

    #[test]
    fn media_is_reported_and_its_payload_left_unread() {
        let payload = "A".repeat(400);
        let seen = walked(
            Endpoint::ChatCompletions,
            json!({"messages":[{"role":"user","content":[
                {"type":"image_url","image_url":{"url":format!("data:image/png;base64,{payload}")}},
                {"type":"input_audio","input_audio":{"data":payload,"format":"wav"}},
                {"type":"file","file":{"filename":"notes.txt","file_data":format!("data:text/plain;base64,{payload}")}}
            ]}]}),
        )
        .unwrap();
        let kinds: Vec<Media> = seen.media.iter().map(|(_, m)| *m).collect();
        assert_eq!(kinds, [Media::Image, Media::Audio, Media::File]);
        assert!(seen.texts.iter().all(|(_, s)| !s.contains(&payload)));
        assert!(seen.texts.iter().any(|(_, s)| s == "notes.txt"));
        assert!(seen.texts.iter().any(|(_, s)| s == "wav"));
    }

    #[test]
    fn paths_never_spell_out_value_like_keys() {
        let seen = walked(
            Endpoint::ChatCompletions,
            json!({"metadata":{"jane@example.com":"x","customer_email":"y"}}),
        )
        .unwrap();
        let paths: Vec<&str> = seen.texts.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["$.metadata.*", "$.metadata.customer_email"]);
    }

    #[test]
    fn two_walks_agree_on_places() {
        let body = json!({"messages":[{"role":"user","content":"a"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"q\":\"b\"}"}}]}]});
        struct Hashes(Vec<u64>);
        impl Visit for Hashes {
            fn text(&mut self, at: &Path<'_>, _: &mut String) {
                self.0.push(at.hash());
            }
            fn fixed(&mut self, _: &Path<'_>, _: Fixed<'_>) {}
            fn media(&mut self, _: &Path<'_>, _: Media) {}
        }
        let run = || {
            let Value::Object(mut m) = body.clone() else {
                unreachable!()
            };
            let mut h = Hashes(Vec::new());
            walk(Endpoint::ChatCompletions, &mut m, &mut h).unwrap();
            h.0
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        let mut unique = a.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), a.len(), "places must not share a hash");
    }
}
