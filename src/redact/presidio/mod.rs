//! An optional Presidio analyzer (`detectors.presidio_url`), for what patterns find badly:
//! people's names and places.
//!
//! The built-in detectors find names and addresses only where context gives them away
//! ("my name is …", a street suffix). A named-entity model finds them in plain prose, so
//! an operator who runs Microsoft Presidio's analyzer beside the gateway can have it asked
//! too. Its findings join the built-in ones before anything is decided: they raise the
//! class as personal data and take the class's action for their type, like every type.
//!
//! One `POST {presidio_url}/analyze` per request, with every string the model reads joined
//! into one text ([`Document`]); the answer's code-point offsets are mapped back to each
//! string. It runs in the pipeline's `analyze` phase, before the pure `plan` phase, which
//! receives the result as an [`Analysis`]: the plan stays free of I/O, and `orguard
//! policy explain` can plan with or without one.
//!
//! The analyzer is sent the prompt text. It must be a service the operator trusts with
//! that text as much as the gateway itself: a sidecar or a host-local process, never a
//! third party. The config refuses anything but an `http(s)://` URL.
//!
//! When it cannot answer (unreachable, timed out, an error status, an answer that is not a
//! list of findings about the text it was sent), `presidio_on_error` decides: `fail_closed`
//! (the default) refuses the request with 503 `detector_unavailable`; `fail_open` logs,
//! counts and goes on with the built-in detectors alone, and says so in the request's
//! audited decisions. Neither the text nor the analyzer's answer is logged or echoed.

mod document;
pub mod entities;

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use document::{Document, Entity, OutOfRange};

use super::detectors::Kind;
use super::Span;

/// The largest answer read from the analyzer: a list of findings, far below this for any
/// request body the gateway accepts.
const MAX_ANSWER_BYTES: usize = 4 << 20;

pub use crate::on_error::OnError;

/// `[detectors] presidio_*`, validated.
#[derive(Debug, Clone)]
pub struct PresidioSettings {
    /// `{presidio_url}/analyze`.
    pub analyze_url: reqwest::Url,
    /// The `language` the analyzer is asked to read the text in (`en`).
    pub language: String,
    /// The Presidio entities asked for, each with the orguard type its findings take.
    pub entities: Vec<(String, Kind)>,
    /// Findings scored below this are ignored (the analyzer is asked to drop them too).
    pub score_threshold: f64,
    /// The whole call: connect, send, answer.
    pub timeout: Duration,
    pub on_error: OnError,
}

impl PresidioSettings {
    fn kind_of(&self, entity: &str) -> Option<Kind> {
        self.entities
            .iter()
            .find(|(e, _)| e == entity)
            .map(|(_, kind)| *kind)
    }
}

/// What the analyzer found, keyed as the inspection keys strings: by place and by a digest
/// of the text, so a finding applies only to the string it was about. Empty when no
/// analyzer is configured.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Keyed by place and text digest, so two places whose path hashes collide never share
    /// findings.
    by_place: HashMap<(u64, u64), Vec<Span>>,
    /// The analyzer is configured but could not answer, and fails open: this request was
    /// inspected by the built-in detectors only.
    skipped: bool,
}

impl Analysis {
    /// The analysis of a request the analyzer could not answer about (`fail_open`).
    pub fn skipped() -> Self {
        Self {
            skipped: true,
            ..Self::default()
        }
    }

    pub fn was_skipped(&self) -> bool {
        self.skipped
    }

    /// How many findings it holds, over all strings.
    pub fn len(&self) -> usize {
        self.by_place.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_place.is_empty()
    }

    pub(super) fn insert(&mut self, place: u64, digest: u64, spans: Vec<Span>) {
        self.by_place
            .entry((place, digest))
            .or_default()
            .extend(spans);
    }

    /// The findings on the string at `place`, if `text` is the string they were about.
    pub(crate) fn spans(&self, place: u64, text: &str) -> Option<&[Span]> {
        self.by_place
            .get(&(place, super::inspect::digest(text)))
            .map(Vec::as_slice)
    }
}

/// Why the analyzer gave no usable answer. Names no text and no URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AnalyzerError {
    #[error("the Presidio analyzer did not answer within presidio_timeout_ms")]
    Timeout,
    #[error("the Presidio analyzer cannot be reached")]
    Unreachable,
    #[error("the Presidio analyzer answered HTTP {0}")]
    Status(u16),
    #[error("the Presidio analyzer's answer is not a list of findings about the text sent")]
    InvalidAnswer,
}

impl AnalyzerError {
    /// A metric label: one of a fixed few.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::Status(_) => "status",
            Self::InvalidAnswer => "invalid_answer",
        }
    }
}

/// The body of Presidio's `POST /analyze`.
#[derive(Serialize)]
struct AnalyzeRequest<'a> {
    text: &'a str,
    language: &'a str,
    entities: Vec<&'a str>,
    score_threshold: f64,
}

/// One element of its answer (`RecognizerResult`); the other fields are not read.
#[derive(Deserialize)]
struct Finding {
    entity_type: String,
    start: usize,
    end: usize,
    score: f64,
}

/// Builds the client the analyzer is called with: no proxy (it is a local service, and the
/// text must not take a detour through one), no redirects, a pool of idle connections so a
/// request does not pay a handshake.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
}

/// Asks the analyzer about `doc`, within `settings.timeout`.
pub async fn analyze(
    client: &reqwest::Client,
    settings: &PresidioSettings,
    doc: &Document,
) -> Result<Analysis, AnalyzerError> {
    tokio::time::timeout(settings.timeout, ask(client, settings, doc))
        .await
        .unwrap_or(Err(AnalyzerError::Timeout))
}

async fn ask(
    client: &reqwest::Client,
    settings: &PresidioSettings,
    doc: &Document,
) -> Result<Analysis, AnalyzerError> {
    let request = AnalyzeRequest {
        text: doc.text(),
        language: &settings.language,
        entities: settings.entities.iter().map(|(e, _)| e.as_str()).collect(),
        score_threshold: settings.score_threshold,
    };
    // Strings and a finite number: this cannot fail, but it is not unwrapped.
    let body = serde_json::to_vec(&request).map_err(|_| AnalyzerError::InvalidAnswer)?;
    let mut response = client
        .post(settings.analyze_url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|_| AnalyzerError::Unreachable)?;
    let status = response.status();
    if !status.is_success() {
        return Err(AnalyzerError::Status(status.as_u16()));
    }
    let mut answer = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| AnalyzerError::Unreachable)?
    {
        if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(AnalyzerError::InvalidAnswer);
        }
        answer.extend_from_slice(&chunk);
    }
    let findings: Vec<Finding> =
        serde_json::from_slice(&answer).map_err(|_| AnalyzerError::InvalidAnswer)?;
    let entities: Vec<Entity> = findings
        .iter()
        // The analyzer was asked to drop these; a score that is not a number is dropped too.
        .filter(|f| f.score >= settings.score_threshold)
        // An entity not asked for (a custom recognizer's) has no type in the policy.
        .filter_map(|f| {
            settings.kind_of(&f.entity_type).map(|kind| Entity {
                kind,
                start: f.start,
                end: f.end,
            })
        })
        .collect();
    doc.analysis(&entities)
        .map_err(|_| AnalyzerError::InvalidAnswer)
}
