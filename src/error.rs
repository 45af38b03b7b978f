//! Every error the gateway itself produces, and the one place that maps it to HTTP.
//!
//! Each stage owns a `thiserror` enum; [`GatewayError`] wraps them. [`GatewayError::code`] is
//! an exhaustive match (no `_` arm) so a new variant forces a decision about its status, its
//! OpenAI `type` and its stable `code`. Messages are built from rule names, limits and field
//! names only — never from request content, keys or upstream bodies.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::keys::AuthError;
use crate::limits::LimitError;
use crate::policy::{Denial, DenialKind, ViolationKind};
use crate::redact::presidio::AnalyzerError;
use crate::request::body::BodyError;
use crate::request::parse::ParseError;
use crate::upstream::{AccountFault, RelayError, UpstreamError};

pub use crate::error_code::{ErrorCode, ErrorType};

impl From<crate::redact::Refused> for GatewayError {
    fn from(r: crate::redact::Refused) -> Self {
        Self::Policy(r.into())
    }
}

impl From<RelayError> for GatewayError {
    fn from(e: RelayError) -> Self {
        match e {
            RelayError::Upstream(e) => Self::Upstream(e),
            RelayError::Account(fault) => Self::UpstreamAccount(fault),
            RelayError::Violation(kind) => Self::Violation(kind),
        }
    }
}

/// Where the fault lies, for a routed error: status, OpenAI type, code and offending field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    pub status: StatusCode,
    pub kind: ErrorType,
    pub code: ErrorCode,
    pub param: Option<&'static str>,
}

/// Any error that ends a request inside the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Policy(#[from] Denial),
    /// The response showed a provider, model or BYOK state outside policy and the class
    /// blocks on violations: the body is withheld.
    #[error("the upstream served this request outside policy ({}); the response was withheld", .0.as_str())]
    Violation(ViolationKind),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The same failures after the gateway's retries and fallbacks were all used: final,
    /// so a client retry would only run the whole chain again.
    #[error("{0}; the gateway's retries and fallbacks are used up")]
    UpstreamExhausted(UpstreamError),
    /// The upstream refused the gateway's own account (its key or its credit): not the
    /// caller's fault, and nothing a retry fixes; the operator must act.
    #[error("{}", account_message(*.0))]
    UpstreamAccount(AccountFault),
    /// A key's rate limit or budget, or the store that keeps them.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// Too many upstream requests in flight; the client should retry shortly.
    #[error("the gateway is at its limit of requests in flight; retry shortly")]
    Overloaded,
    /// Every allowed model's circuit breaker is open.
    #[error("every model this request may use is failing; retry later")]
    CircuitOpen(std::time::Duration),
    /// The `request` record could not be stored; nothing was forwarded (fail closed).
    #[error("the audit trail is unavailable; the request was not forwarded")]
    AuditUnavailable,
    /// The external content analyzer could not inspect the request and
    /// `presidio_on_error = "fail_closed"`: nothing was forwarded uninspected.
    #[error("{0}; the request was not forwarded uninspected")]
    DetectorUnavailable(AnalyzerError),
    #[error("no such route; orguard serves /api/v1/chat/completions, /completions, /embeddings, /responses and /models")]
    NotFound,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// `GET /models/{id}`: not listed upstream, or not for the caller's class. The id is
    /// named only when the upstream lists it (text in a path is not echoed).
    #[error("{} is not available to class {class}", id.as_deref().map_or_else(|| "this model".to_owned(), |id| format!("model {id}")))]
    ModelNotFound {
        id: Option<String>,
        class: &'static str,
    },
}

impl GatewayError {
    /// The single, exhaustive mapping from error to HTTP status, OpenAI type and code.
    pub fn classify(&self) -> Classified {
        use ErrorCode as C;
        use ErrorType as T;
        let (status, kind, code, param) = match self {
            Self::Body(e) => match e {
                BodyError::TooLarge { .. } => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    T::InvalidRequest,
                    C::BodyTooLarge,
                    None,
                ),
                BodyError::DecodedTooLarge { .. } => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    T::InvalidRequest,
                    C::BodyTooLarge,
                    None,
                ),
                BodyError::UnsupportedMediaType => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    T::InvalidRequest,
                    C::UnsupportedMediaType,
                    None,
                ),
                BodyError::UnsupportedEncoding => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    T::InvalidRequest,
                    C::UnsupportedEncoding,
                    None,
                ),
                BodyError::CorruptEncoding { .. } => (
                    StatusCode::BAD_REQUEST,
                    T::InvalidRequest,
                    C::InvalidEncoding,
                    None,
                ),
                BodyError::Read => (
                    StatusCode::BAD_REQUEST,
                    T::InvalidRequest,
                    C::InvalidBody,
                    None,
                ),
                BodyError::Timeout => (
                    StatusCode::REQUEST_TIMEOUT,
                    T::InvalidRequest,
                    C::BodyTimeout,
                    None,
                ),
            },
            Self::Parse(e) => match e {
                ParseError::Bom | ParseError::NotAnObject => (
                    StatusCode::BAD_REQUEST,
                    T::InvalidRequest,
                    C::InvalidBody,
                    None,
                ),
                ParseError::InvalidUtf8 => (
                    StatusCode::BAD_REQUEST,
                    T::InvalidRequest,
                    C::InvalidUtf8,
                    None,
                ),
                ParseError::Syntax { .. } => (
                    StatusCode::BAD_REQUEST,
                    T::InvalidRequest,
                    C::InvalidJson,
                    None,
                ),
                ParseError::DuplicateKey { .. } => (
                    StatusCode::BAD_REQUEST,
                    T::InvalidRequest,
                    C::DuplicateKey,
                    None,
                ),
                ParseError::TooDeep { .. } => (
                    StatusCode::BAD_REQUEST,
                    T::InvalidRequest,
                    C::NestingTooDeep,
                    None,
                ),
                ParseError::FieldType { field, .. } => (
                    StatusCode::BAD_REQUEST,
                    T::InvalidRequest,
                    C::InvalidFieldType,
                    Some(*field),
                ),
                ParseError::TokenLimit { field } => (
                    StatusCode::BAD_REQUEST,
                    T::InvalidRequest,
                    C::InvalidMaxTokens,
                    Some(*field),
                ),
                ParseError::MissingModel => (
                    StatusCode::BAD_REQUEST,
                    T::InvalidRequest,
                    C::MissingModel,
                    Some("model"),
                ),
            },
            Self::Auth(e) => match e {
                AuthError::Missing => (
                    StatusCode::UNAUTHORIZED,
                    T::Authentication,
                    C::MissingApiKey,
                    None,
                ),
                AuthError::Unknown => (
                    StatusCode::UNAUTHORIZED,
                    T::Authentication,
                    C::InvalidApiKey,
                    None,
                ),
                AuthError::Disabled => (
                    StatusCode::UNAUTHORIZED,
                    T::Authentication,
                    C::KeyDisabled,
                    None,
                ),
                AuthError::Expired => (
                    StatusCode::UNAUTHORIZED,
                    T::Authentication,
                    C::KeyExpired,
                    None,
                ),
                AuthError::UpstreamKey => (
                    StatusCode::UNAUTHORIZED,
                    T::Authentication,
                    C::UpstreamKeyNotAccepted,
                    None,
                ),
                AuthError::Repeated => (
                    StatusCode::BAD_REQUEST,
                    T::InvalidRequest,
                    C::InvalidHeader,
                    None,
                ),
            },
            Self::Policy(d) => match d.kind {
                DenialKind::Invalid => {
                    (StatusCode::BAD_REQUEST, T::InvalidRequest, d.code, d.param)
                }
                DenialKind::Forbidden => {
                    (StatusCode::FORBIDDEN, T::PolicyViolation, d.code, d.param)
                }
            },
            Self::Violation(_) => (
                StatusCode::BAD_GATEWAY,
                T::PolicyViolation,
                C::PolicyViolation,
                None,
            ),
            Self::UpstreamExhausted(e) => return Self::Upstream(*e).classify(),
            Self::UpstreamAccount(AccountFault::KeyRejected) => (
                StatusCode::BAD_GATEWAY,
                T::Upstream,
                C::UpstreamKeyRejected,
                None,
            ),
            Self::UpstreamAccount(AccountFault::CreditExhausted) => (
                StatusCode::SERVICE_UNAVAILABLE,
                T::Upstream,
                C::UpstreamCreditExhausted,
                None,
            ),
            Self::Upstream(e) => match e {
                UpstreamError::NotConfigured => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    T::Upstream,
                    C::UpstreamNotConfigured,
                    None,
                ),
                UpstreamError::Connect => (
                    StatusCode::BAD_GATEWAY,
                    T::Upstream,
                    C::UpstreamUnreachable,
                    None,
                ),
                UpstreamError::FirstByteTimeout | UpstreamError::BodyTimeout => (
                    StatusCode::GATEWAY_TIMEOUT,
                    T::Upstream,
                    C::UpstreamTimeout,
                    None,
                ),
                UpstreamError::ResponseTooLarge | UpstreamError::Protocol => (
                    StatusCode::BAD_GATEWAY,
                    T::Upstream,
                    C::UpstreamInvalidResponse,
                    None,
                ),
                UpstreamError::Build => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    T::Upstream,
                    C::Internal,
                    None,
                ),
            },
            Self::Limit(e) => match e {
                LimitError::RateLimited { .. } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    T::RateLimit,
                    C::RateLimited,
                    None,
                ),
                LimitError::BudgetExceeded { .. } => (
                    StatusCode::PAYMENT_REQUIRED,
                    T::RateLimit,
                    C::BudgetExceeded,
                    None,
                ),
                LimitError::Unavailable { .. } => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    T::Upstream,
                    C::LimitsUnavailable,
                    None,
                ),
            },
            Self::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                T::Upstream,
                C::Overloaded,
                None,
            ),
            Self::CircuitOpen(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                T::Upstream,
                C::CircuitOpen,
                None,
            ),
            Self::AuditUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                T::Upstream,
                C::AuditUnavailable,
                None,
            ),
            Self::DetectorUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                T::Upstream,
                C::DetectorUnavailable,
                None,
            ),
            Self::NotFound => (StatusCode::NOT_FOUND, T::InvalidRequest, C::NotFound, None),
            Self::ModelNotFound { .. } => (
                StatusCode::NOT_FOUND,
                T::InvalidRequest,
                C::ModelNotFound,
                Some("model"),
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                T::InvalidRequest,
                C::MethodNotAllowed,
                None,
            ),
        };
        Classified {
            status,
            kind,
            code,
            param,
        }
    }
}

/// Builds the OpenAI-shaped error response. Client errors carry `x-should-retry: false` so
/// the OpenAI SDKs do not retry what cannot succeed; `x-request-id` is added by the server
/// layer for every response.
pub fn error_response(c: Classified, message: &str) -> Response {
    let body = json!({
        "error": {
            "message": message,
            "type": c.kind.as_str(),
            "code": c.code.as_str(),
            "param": c.param,
        }
    });
    let mut response = (c.status, axum::Json(body)).into_response();
    // Only transient upstream faults are worth a client retry; everything the gateway decided
    // (bad body, bad key, policy) fails the same way every time.
    // A rate limit is worth retrying after `Retry-After`; a spent budget is not.
    let retryable = matches!(
        c.code,
        ErrorCode::UpstreamUnreachable
            | ErrorCode::UpstreamTimeout
            | ErrorCode::Overloaded
            | ErrorCode::CircuitOpen
            | ErrorCode::RateLimited
            | ErrorCode::LimitsUnavailable
            | ErrorCode::DetectorUnavailable
    );
    let retry = if retryable { "true" } else { "false" };
    response
        .headers_mut()
        .insert("x-should-retry", HeaderValue::from_static(retry));
    response.extensions_mut().insert(LoggedError {
        code: c.code,
        status: c.status,
    });
    response
}

/// Attached to error responses so the access log can name the code without re-deriving it.
#[derive(Debug, Clone, Copy)]
pub struct LoggedError {
    pub code: ErrorCode,
    pub status: StatusCode,
}

/// The message for an upstream account fault: says whose key it is and who must act, and
/// names no key.
fn account_message(fault: AccountFault) -> &'static str {
    match fault {
        AccountFault::KeyRejected => "the upstream rejected the gateway's own API key (not yours); the gateway operator must fix the upstream key",
        AccountFault::CreditExhausted => "the gateway's upstream account is out of credit (not your budget); the gateway operator must add credit or raise the key's limit",
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let mut response = error_response(self.classify(), &self.to_string());
        if matches!(self, Self::UpstreamExhausted(_)) {
            response
                .headers_mut()
                .insert("x-should-retry", HeaderValue::from_static("false"));
        }
        // Tell well-behaved clients (the OpenAI SDKs honour it) when to come back.
        let retry_after = match &self {
            Self::Overloaded => Some(1),
            Self::CircuitOpen(wait) => Some(wait.as_secs().max(1)),
            Self::Limit(LimitError::RateLimited { retry_after, .. }) => {
                Some(retry_after.as_secs_f64().ceil().max(1.0) as u64)
            }
            Self::Limit(LimitError::Unavailable { .. }) | Self::DetectorUnavailable(_) => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
        }
        response
    }
}
