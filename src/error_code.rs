//! The stable names of the gateway's errors: the OpenAI `type` and the machine-readable
//! `code` every refusal carries.
//!
//! A leaf module on purpose: every stage names its refusals with these, and the stages sit
//! below [`crate::error`], which maps each stage's error to HTTP.

/// The OpenAI error `type` field: what kind of failure this is for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    InvalidRequest,
    Authentication,
    PolicyViolation,
    RateLimit,
    Upstream,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request_error",
            Self::Authentication => "authentication_error",
            Self::PolicyViolation => "policy_violation",
            Self::RateLimit => "rate_limit_error",
            Self::Upstream => "upstream_error",
        }
    }
}

/// A stable machine-readable error code. `as_str` is also the only error label used in logs
/// and metrics, so it never carries request data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BodyTooLarge,
    UnsupportedMediaType,
    UnsupportedEncoding,
    InvalidEncoding,
    InvalidBody,
    BodyTimeout,
    InvalidJson,
    InvalidUtf8,
    DuplicateKey,
    NestingTooDeep,
    InvalidFieldType,
    MissingModel,
    MissingApiKey,
    InvalidApiKey,
    KeyDisabled,
    KeyExpired,
    UpstreamKeyNotAccepted,
    NotFound,
    /// `GET /models/{id}` for a model the caller's class may not use, or that is not listed.
    ModelNotFound,
    MethodNotAllowed,
    InvalidClassification,
    ClassNotConfigured,
    InvalidModel,
    TooManyModels,
    ModelNotAllowed,
    FreeModelNotAllowed,
    WebNotAllowed,
    TierNotAllowed,
    VariantNotAllowed,
    RouterNotAllowed,
    PresetNotAllowed,
    ProviderNotAllowed,
    ProviderOverrideDenied,
    UnknownProviderField,
    InvalidProviderField,
    PluginNotAllowed,
    ServerToolNotAllowed,
    TraceNotAllowed,
    RouteNotAllowed,
    InvalidMaxTokens,
    MaxTokensExceedsCap,
    PolicyViolation,
    EndpointNotAllowed,
    PiiBlocked,
    SecretBlocked,
    /// A detected value sits where orguard does not rewrite (an object key, a number, a
    /// header) and the class's action would rewrite it.
    UnredactableField,
    /// Images, audio or files the class does not let through uninspected.
    UninspectableContent,
    /// A forwarded header that is not text or is sent more than once.
    InvalidHeader,
    Overloaded,
    CircuitOpen,
    AuditUnavailable,
    /// An external content analyzer (Presidio) could not answer and fails closed.
    DetectorUnavailable,
    UpstreamNotConfigured,
    UpstreamUnreachable,
    UpstreamTimeout,
    UpstreamInvalidResponse,
    /// The upstream refused the gateway's own API key (upstream 401/403).
    UpstreamKeyRejected,
    /// The gateway's upstream account or key limit is out of credit (upstream 402).
    UpstreamCreditExhausted,
    RateLimited,
    BudgetExceeded,
    LimitsUnavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BodyTooLarge => "body_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UnsupportedEncoding => "unsupported_content_encoding",
            Self::InvalidEncoding => "invalid_content_encoding",
            Self::InvalidBody => "invalid_body",
            Self::BodyTimeout => "body_timeout",
            Self::InvalidJson => "invalid_json",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::DuplicateKey => "duplicate_key",
            Self::NestingTooDeep => "nesting_too_deep",
            Self::InvalidFieldType => "invalid_field_type",
            Self::MissingModel => "model_required",
            Self::MissingApiKey => "missing_api_key",
            Self::InvalidApiKey => "invalid_api_key",
            Self::KeyDisabled => "key_disabled",
            Self::KeyExpired => "key_expired",
            Self::UpstreamKeyNotAccepted => "upstream_key_not_accepted",
            Self::NotFound => "not_found",
            Self::ModelNotFound => "model_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InvalidClassification => "invalid_classification",
            Self::ClassNotConfigured => "class_not_configured",
            Self::InvalidModel => "invalid_model",
            Self::TooManyModels => "too_many_models",
            Self::ModelNotAllowed => "model_not_allowed",
            Self::FreeModelNotAllowed => "free_model_not_allowed",
            Self::WebNotAllowed => "web_not_allowed",
            Self::TierNotAllowed => "tier_not_allowed",
            Self::VariantNotAllowed => "variant_not_allowed",
            Self::RouterNotAllowed => "router_not_allowed",
            Self::PresetNotAllowed => "preset_not_allowed",
            Self::ProviderNotAllowed => "provider_not_allowed",
            Self::ProviderOverrideDenied => "provider_override_denied",
            Self::UnknownProviderField => "unknown_provider_field",
            Self::InvalidProviderField => "invalid_provider_field",
            Self::PluginNotAllowed => "plugin_not_allowed",
            Self::ServerToolNotAllowed => "server_tool_not_allowed",
            Self::TraceNotAllowed => "trace_not_allowed",
            Self::RouteNotAllowed => "route_not_allowed",
            Self::InvalidMaxTokens => "invalid_max_tokens",
            Self::MaxTokensExceedsCap => "max_tokens_exceeds_cap",
            Self::PolicyViolation => "policy_violation",
            Self::AuditUnavailable => "audit_unavailable",
            Self::DetectorUnavailable => "detector_unavailable",
            Self::EndpointNotAllowed => "endpoint_not_allowed",
            Self::PiiBlocked => "pii_blocked",
            Self::SecretBlocked => "secret_blocked",
            Self::UnredactableField => "unredactable_field",
            Self::UninspectableContent => "uninspectable_content",
            Self::InvalidHeader => "invalid_header",
            Self::Overloaded => "overloaded",
            Self::CircuitOpen => "circuit_open",
            Self::UpstreamNotConfigured => "upstream_not_configured",
            Self::UpstreamUnreachable => "upstream_unreachable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamInvalidResponse => "upstream_invalid_response",
            Self::UpstreamKeyRejected => "upstream_key_rejected",
            Self::UpstreamCreditExhausted => "upstream_credit_exhausted",
            Self::RateLimited => "rate_limited",
            Self::BudgetExceeded => "budget_exceeded",
            Self::LimitsUnavailable => "limits_unavailable",
            Self::Internal => "internal_error",
        }
    }
}
