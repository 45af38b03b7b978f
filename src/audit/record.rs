//! Audit records: `request`, `response`, `denied`, `violation` (DESIGN.md §5), and the
//! writer's own `checkpoint` (`checkpoint.rs`).
//!
//! Records carry ids, classes, model and provider ids, counts, hashes and money — never
//! prompt or completion text, keys, or PII values. Builders take typed values only, so a
//! string from the request body cannot end up in a record by accident.

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The record types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    Denied,
    Violation,
    /// A signed head (`checkpoint.rs`), written by the writer itself.
    Checkpoint,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
            Self::Denied => "denied",
            Self::Violation => "violation",
            Self::Checkpoint => "checkpoint",
        }
    }
}

/// Who and what a record is about; shared by all record types.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub request_id: &'a str,
    pub key_id: Option<&'a str>,
    pub service: Option<&'a str>,
    pub class: Option<&'a str>,
    /// The client's IP address: the socket peer, or the entry trusted proxies appended to
    /// `X-Forwarded-For` (`server.trusted_proxy_hops`). A parsed address, never header text.
    pub client: Option<&'a str>,
    /// The socket peer (the nearest proxy), when it is not `client`.
    pub peer: Option<&'a str>,
}

/// An unsealed record (no `seq`, `prev`, `hash` yet).
#[derive(Debug, Clone)]
pub struct Record {
    pub kind: Kind,
    pub fields: Fields,
}

/// A record's top-level fields, kept in canonical order (names sorted by their bytes), under
/// names the code spells out. Two records are built per request, ~25 fields each: as a
/// `serde_json::Map` every name was a fresh `String` hashed with SipHash into an `IndexMap`,
/// then sorted again to seal. Here a field is a binary-search insert into a short vector and
/// the writer seals it in the order it is held (`chain::seal_fields`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Vec<(Name<'static>, Value)>);

/// A field's name with its first eight bytes as a number, compared first: the search
/// compares integers where a byte comparison was a call into `memcmp` each time, and two
/// names share their first eight bytes only within a family (`capture_…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Name<'a> {
    /// The first eight bytes, big-endian, zero-padded: where two names differ in them,
    /// this orders them as their bytes do (a shorter name that is a prefix of the other
    /// pads with zeros and sorts first); where they do not, `text` decides.
    prefix: u64,
    text: &'a str,
}

impl<'a> Name<'a> {
    fn of(text: &'a str) -> Self {
        let mut head = [0u8; 8];
        for (to, from) in head.iter_mut().zip(text.bytes()) {
            *to = from;
        }
        Name {
            prefix: u64::from_be_bytes(head),
            text,
        }
    }
}

impl Fields {
    pub fn with_capacity(n: usize) -> Self {
        Fields(Vec::with_capacity(n))
    }

    /// Sets `name` to `value`, replacing what it held.
    pub fn set(&mut self, name: &'static str, value: Value) {
        let name = Name::of(name);
        // Appending needs no search and moves nothing.
        if self.0.last().is_none_or(|(last, _)| *last < name) {
            self.0.push((name, value));
            return;
        }
        match self.position(name) {
            Ok(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = self.position(Name::of(name)).ok()?;
        self.0.get(i).map(|(_, v)| v)
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.position(Name::of(name)).ok()?;
        Some(self.0.remove(i).1)
    }

    /// The fields in canonical order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'static str, &Value)> {
        self.0.iter().map(|(k, v)| (k.text, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The same fields as a JSON object (tools and tests that read records as JSON).
    pub fn to_map(&self) -> Map<String, Value> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect()
    }

    fn position(&self, name: Name<'_>) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(&name))
    }
}

/// `record.fields["name"]`: `Null` when absent, as for a JSON object.
impl std::ops::Index<&str> for Fields {
    type Output = Value;
    fn index(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

fn base(kind: Kind, subject: &Subject<'_>, now: OffsetDateTime) -> Fields {
    let mut m = Fields::with_capacity(32);
    m.set("type", Value::from(kind.as_str()));
    m.set("ts", Value::from(now.format(&Rfc3339).unwrap_or_default()));
    m.set("request_id", Value::from(subject.request_id));
    m.set("key_id", json!(subject.key_id));
    m.set("service", json!(subject.service));
    m.set("class", json!(subject.class));
    m.set("client", json!(subject.client));
    if let Some(peer) = subject.peer {
        m.set("peer", Value::from(peer));
    }
    m
}

/// What was forwarded, recorded before it left.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    pub endpoint: &'a str,
    pub stream: bool,
    pub upstream: &'a str,
    pub model_requested: &'a str,
    pub model_forwarded: &'a str,
    pub models: &'a [String],
    pub providers: Option<&'a [String]>,
    pub prompt_sha256: &'a str,
    pub prompt_hash: &'a str,
    pub body_sha256: &'a str,
    pub redactions: &'a [(&'static str, u64)],
    pub decisions: &'a [&'static str],
    /// Detector types whose presence raised the class (`class_raised_by`); types only.
    pub raised_by: &'a [&'static str],
    /// The end user's pseudonym as forwarded (`u_…`), if the request named one.
    pub user: Option<&'a str>,
    /// Each fallback model and the SHA-256 of the exact body that would be sent to it.
    /// Sealed up front, so one `request` record covers every body that may leave for one
    /// client request (a fallback does not add a second `request` record).
    pub fallback_bodies: &'a [(String, String)],
    /// SHA-256 of the encrypted capture of the forwarded body (`audit::capture`), when the
    /// class captures: the chain then covers the capture file.
    pub capture_sha256: Option<&'a str>,
}

pub fn request(subject: &Subject<'_>, now: OffsetDateTime, f: &RequestFacts<'_>) -> Record {
    let mut m = base(Kind::Request, subject, now);
    m.set("endpoint", Value::from(f.endpoint));
    m.set("stream", Value::from(f.stream));
    m.set("upstream", Value::from(f.upstream));
    m.set("model_requested", Value::from(f.model_requested));
    m.set("model_forwarded", Value::from(f.model_forwarded));
    m.set("models", json!(f.models));
    m.set("providers", json!(f.providers));
    m.set("prompt_sha256", Value::from(f.prompt_sha256));
    m.set("prompt_hash", Value::from(f.prompt_hash));
    m.set("body_sha256", Value::from(f.body_sha256));
    let redactions: Map<String, Value> = f
        .redactions
        .iter()
        .map(|(t, n)| ((*t).to_owned(), Value::from(*n)))
        .collect();
    m.set("redactions", Value::Object(redactions));
    m.set("decisions", json!(f.decisions));
    m.set("class_raised_by", json!(f.raised_by));
    m.set("user", json!(f.user));
    let fallbacks: Vec<Value> = f
        .fallback_bodies
        .iter()
        .map(|(model, sha)| json!({"model": model, "body_sha256": sha}))
        .collect();
    m.set("fallback_bodies", Value::Array(fallbacks));
    if let Some(sha) = f.capture_sha256 {
        m.set("capture_sha256", Value::from(sha));
    }
    Record {
        kind: Kind::Request,
        fields: m,
    }
}

/// How a client request that was recorded ended: the `outcome` of its one `response`
/// record. One vocabulary for plain and streamed answers; `status` says what the client
/// was answered (499 when it left before the answer began; a stream it left midway keeps
/// the 200 its headers carried). A request refused before it was recorded has a
/// `denied` record instead, and no outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// An upstream answered 2xx and the whole answer reached the client.
    #[default]
    Completed,
    /// No upstream gave a usable answer: every attempt failed (an error status, which the
    /// client was passed, or no answer at all), or a stream carried an in-band error.
    UpstreamError,
    /// The stream's connection closed without its end marker (`[DONE]`).
    Truncated,
    /// The upstream fell silent for longer than the idle gap, or the total deadline passed.
    TimedOut,
    /// The gateway withheld the answer, or ended the stream, because the response broke
    /// the class's policy (a `violation` record says which rule).
    CutByPolicy,
    /// The client went away before the answer was complete.
    ClientCancelled,
    /// The gateway itself failed after recording the request (its own error, not the
    /// upstream's).
    GatewayError,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::UpstreamError => "upstream_error",
            Self::Truncated => "truncated",
            Self::TimedOut => "timed_out",
            Self::CutByPolicy => "cut_by_policy",
            Self::ClientCancelled => "client_cancelled",
            Self::GatewayError => "gateway_error",
        }
    }

    /// Every value, for the README table's test.
    pub const ALL: [Self; 7] = [
        Self::Completed,
        Self::UpstreamError,
        Self::Truncated,
        Self::TimedOut,
        Self::CutByPolicy,
        Self::ClientCancelled,
        Self::GatewayError,
    ];
}

/// One upstream attempt of a client request, as its `response` record lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The model id sent.
    pub model: String,
    /// Which upstream it went to (`openrouter`, or an `[upstreams.*]` name).
    pub upstream: String,
    /// The provider that served it, when the answer said (OpenRouter's `provider`).
    pub provider: Option<String>,
    /// The HTTP status the upstream answered, if it answered at all.
    pub status: Option<u16>,
    /// `ok` (2xx), `http_error` (any other status), `connect`, `timeout`, `protocol`,
    /// `not_configured`, `build`, or `circuit_open` (nothing was sent).
    pub outcome: &'static str,
}

/// What came back.
#[derive(Debug, Clone, Default)]
pub struct ResponseFacts {
    pub status: u16,
    pub latency_ms: u64,
    pub generation_id: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cost: Option<f64>,
    /// `cost` was not reported by the upstream but estimated (tokens at the model's price,
    /// or the budget reservation).
    pub cost_estimated: bool,
    pub is_byok: Option<bool>,
    /// How it ended.
    pub outcome: Outcome,
    pub violations: u64,
    /// Every upstream attempt, in order: retries, fallbacks, and models skipped because
    /// their circuit was open.
    pub attempts: Vec<AttemptRecord>,
    /// SHA-256 of the encrypted capture of the response as delivered, when captured.
    pub capture_sha256: Option<String>,
    /// The class captures but the response capture could not be written (the answer was
    /// already with the client): recorded so the gap is visible, not silent.
    pub capture_failed: bool,
    /// The captured stream was longer than the capture cap (`upstream.max_response_bytes`):
    /// the capture holds its beginning.
    pub capture_truncated: bool,
}

pub fn response(subject: &Subject<'_>, now: OffsetDateTime, f: &ResponseFacts) -> Record {
    let mut m = base(Kind::Response, subject, now);
    m.set("status", Value::from(f.status));
    m.set("latency_ms", Value::from(f.latency_ms));
    m.set("generation_id", json!(f.generation_id));
    m.set("provider", json!(f.provider));
    m.set("model", json!(f.model));
    m.set("prompt_tokens", json!(f.prompt_tokens));
    m.set("completion_tokens", json!(f.completion_tokens));
    m.set("cost", json!(f.cost));
    if f.cost_estimated {
        m.set("cost_estimated", Value::from(true));
    }
    m.set("is_byok", json!(f.is_byok));
    m.set("outcome", Value::from(f.outcome.as_str()));
    m.set("violations", Value::from(f.violations));
    let attempts: Vec<Value> = f
        .attempts
        .iter()
        .map(|a| {
            json!({
                "model": a.model,
                "upstream": a.upstream,
                "provider": a.provider,
                "status": a.status,
                "outcome": a.outcome,
            })
        })
        .collect();
    m.set("attempts", Value::Array(attempts));
    if let Some(sha) = &f.capture_sha256 {
        m.set("capture_sha256", Value::from(sha.as_str()));
    }
    if f.capture_truncated {
        m.set("capture_truncated", Value::from(true));
    }
    if f.capture_failed {
        m.set("capture_failed", Value::from(true));
    }
    Record {
        kind: Kind::Response,
        fields: m,
    }
}

/// `reason` is the gateway's own error message: built from rule, class, type and field
/// names and ids, never from request content.
pub fn denied(
    subject: &Subject<'_>,
    now: OffsetDateTime,
    status: u16,
    code: &str,
    reason: &str,
    route: &str,
    model_requested: Option<&str>,
) -> Record {
    let mut m = base(Kind::Denied, subject, now);
    m.set("status", Value::from(status));
    m.set("code", Value::from(code));
    m.set("endpoint", Value::from(route));
    if let Some(model) = model_requested {
        m.set("model_requested", Value::from(model));
    }
    m.set("reason", Value::from(crate::secret::mask_text(reason)));
    Record {
        kind: Kind::Denied,
        fields: m,
    }
}

pub fn violation(
    subject: &Subject<'_>,
    now: OffsetDateTime,
    kind: &str,
    served: &str,
    action: &str,
) -> Record {
    let mut m = base(Kind::Violation, subject, now);
    m.set("violation", Value::from(kind));
    m.set("served", Value::from(served));
    m.set("action", Value::from(action));
    Record {
        kind: Kind::Violation,
        fields: m,
    }
}
