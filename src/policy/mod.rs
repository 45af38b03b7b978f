//! The policy engine (DESIGN.md §3): given a parsed request, the caller and the config,
//! decide the data class and rewrite the body into one that class may send — or deny it.
//!
//! [`plan`] is pure: no I/O, no clock, no logging. The server and `orguard policy explain`
//! call the same function, so testing one tests the other. Rules run in the fixed order
//! below; each one either edits the body, records a [`FiredRule`], or returns a [`Denial`].

pub mod class;
pub mod decisions;
pub mod explain;
mod features;
pub mod models;
pub mod providers;
pub mod reasons;
pub use reasons::ClassDecision;
pub mod tokens;
pub mod verify;

use std::collections::HashSet;

use serde_json::{Map, Value};

pub use class::{Class, ContentSignals};
pub use tokens::ABSURD_TOKENS;
pub use verify::{Expectation, ProviderNames, ServedMeta, Violation, ViolationKind};

use crate::error_code::ErrorCode;
use crate::keys::Caller;
use crate::request::parse::ParsedRequest;
use crate::request::Endpoint;

/// How client routing fields that would widen policy are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overrides {
    /// Overridden with the class's value; the request goes on (and the rule is recorded).
    NarrowOnly,
    /// Refused with 403.
    Deny,
}

/// What happens to a token limit above the class cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverCap {
    Clamp,
    Deny,
}

/// What happens when the response shows something policy did not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnViolation {
    /// Withhold the response (502) or end the stream with an error event.
    Block,
    /// Let it through; the violation is logged, counted and audited.
    Flag,
}

impl OnViolation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Flag => "flag",
        }
    }
}

/// Where a class's requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamRef {
    OpenRouter,
    /// A named `[upstreams.NAME]` OpenAI-compatible server (self-hosted models).
    Extra(String),
}

impl UpstreamRef {
    /// The name the audit records: `openrouter`, or the `[upstreams.NAME]` name.
    pub fn name(&self) -> &str {
        match self {
            Self::OpenRouter => "openrouter",
            Self::Extra(name) => name,
        }
    }
}

/// One class's compiled policy.
#[derive(Debug, Clone)]
pub struct ClassPolicy {
    pub class: Class,
    pub models: Vec<models::Glob>,
    pub providers: Vec<String>,
    pub allow_free_models: bool,
    pub allow_web: bool,
    pub allow_tiers: bool,
    pub allow_routers: HashSet<String>,
    pub allow_plugins: HashSet<String>,
    pub allow_server_tools: bool,
    pub allow_trace: bool,
    pub allow_cache: bool,
    /// Content the gateway cannot inspect (`allow_images`, `allow_audio`, `allow_files`,
    /// `allow_token_input`).
    pub allow_images: bool,
    pub allow_audio: bool,
    pub allow_files: bool,
    pub allow_token_input: bool,
    pub allow_fallbacks: bool,
    pub data_collection_deny: bool,
    pub zdr: bool,
    pub require_byok: bool,
    pub upstream: UpstreamRef,
    pub allow_legacy_completions: bool,
    pub redaction: crate::redact::RedactPolicy,
    pub scan_responses: crate::redact::OutputScan,
    /// Gateway-level fallback models (normalised ids), checked against `models` at load.
    pub fallbacks: Vec<String>,
    pub max_tokens: u64,
    pub on_violation: OnViolation,
    /// Whether this class's requests and responses are captured, encrypted to the auditor.
    pub capture: CaptureMode,
}

/// `capture` of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    #[default]
    Off,
    /// Encrypted with age to `audit.capture_recipients` (`audit::capture`).
    Encrypted,
}

impl ClassPolicy {
    /// Whether content the gateway cannot read may pass for this class.
    pub fn allows(&self, media: crate::redact::walk::Media) -> bool {
        use crate::redact::walk::Media;
        match media {
            Media::Image => self.allow_images,
            Media::Audio => self.allow_audio,
            Media::File => self.allow_files,
            Media::Tokens => self.allow_token_input,
        }
    }
}

/// Policy settings shared by all classes.
#[derive(Debug, Clone)]
pub struct PolicySettings {
    pub pii_raises_to: Class,
    /// Where PHI types raise a request (`policy.phi_raises_to`); `None`: only to
    /// `pii_raises_to`, like any personal data.
    pub phi_raises_to: Option<Class>,
    pub client_overrides: Overrides,
    pub over_cap: OverCap,
    /// Key for the `user` pseudonym HMAC.
    pub user_key: Vec<u8>,
    /// Key for `hash`-mode redaction tokens (stable within the organisation).
    pub redact_key: Vec<u8>,
    /// Indexed by [`Class::index`]; `None` where the config has no table (all denied).
    pub classes: [Option<ClassPolicy>; 4],
    pub provider_names: ProviderNames,
}

impl PolicySettings {
    /// The content raise targets [`class::decide`] applies.
    pub fn raises(&self) -> class::Raises {
        class::Raises {
            pii: self.pii_raises_to,
            phi: self.phi_raises_to,
        }
    }

    pub fn class(&self, class: Class) -> Option<&ClassPolicy> {
        self.classes.get(class.index()).and_then(Option::as_ref)
    }
}

/// A rule that changed or decided something, for `explain`, logs and the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredRule {
    pub rule: &'static str,
    /// Built from rule names, class names, counts and ids only: never request content.
    pub detail: String,
}

impl FiredRule {
    pub fn new(rule: &'static str, detail: String) -> Self {
        Self { rule, detail }
    }
}

/// Whether a denial is the client's malformed input (400) or a policy refusal (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialKind {
    Invalid,
    Forbidden,
}

/// A request that cannot be made compliant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", .context.as_ref().map(|c| c.suffix()).unwrap_or_default())]
pub struct Denial {
    pub kind: DenialKind,
    pub code: ErrorCode,
    pub message: String,
    pub param: Option<&'static str>,
    /// Why the request has its class, attached once the class is known
    /// ([`reasons::ClassReasons::annotate`]): a refusal names the class, why, and what it allows.
    pub context: Option<Box<reasons::ClassReasons>>,
}

impl Denial {
    pub fn invalid(code: ErrorCode, message: String) -> Self {
        Self {
            kind: DenialKind::Invalid,
            code,
            message,
            param: None,
            context: None,
        }
    }

    pub fn invalid_param(code: ErrorCode, message: String, param: &'static str) -> Self {
        Self {
            kind: DenialKind::Invalid,
            code,
            message,
            param: Some(param),
            context: None,
        }
    }

    pub fn forbidden(code: ErrorCode, message: String) -> Self {
        Self {
            kind: DenialKind::Forbidden,
            code,
            message,
            param: None,
            context: None,
        }
    }

    pub fn forbidden_param(code: ErrorCode, message: String, param: &'static str) -> Self {
        Self {
            kind: DenialKind::Forbidden,
            code,
            message,
            param: Some(param),
            context: None,
        }
    }
}

impl From<crate::redact::Refused> for Denial {
    fn from(r: crate::redact::Refused) -> Self {
        if r.malformed {
            Self::invalid(r.code, r.message)
        } else {
            Self::forbidden(r.code, r.message)
        }
    }
}

/// The outcome of planning: the body to forward and everything decided on the way.
#[derive(Debug, Clone)]
pub struct Plan {
    pub class: Class,
    pub upstream: UpstreamRef,
    /// The body to forward, rewritten.
    pub body: Map<String, Value>,
    /// `model` as forwarded (normalised).
    pub model: String,
    pub fired: Vec<FiredRule>,
    /// Detector types whose presence raised the class (types only), for the audit record.
    pub raised_by: Vec<&'static str>,
    pub expect: Expectation,
    /// Whether the client's `X-OpenRouter-Cache*` headers may go upstream.
    pub forward_cache_headers: bool,
    /// The most output the forwarded body may ask for (what a budget reservation prices).
    pub output: tokens::OutputBound,
}

/// At most this many entries in `models` (OpenRouter's own limit).
pub const MAX_FALLBACK_MODELS: usize = 3;

/// The class's policy, or the refusal of a class the config has no table for.
pub fn class_policy(settings: &PolicySettings, class: Class) -> Result<&ClassPolicy, Denial> {
    settings.class(class).ok_or_else(|| {
        Denial::forbidden(
            ErrorCode::ClassNotConfigured,
            format!(
                "class {} has no [classes.{}] table in the gateway config; its requests are denied",
                class.as_str(),
                class.as_str()
            ),
        )
    })
}

/// Plans one inference request. Rule order, and why:
/// 1. class — decided once before ([`reasons::of`]), since a refusal anywhere names it;
///    everything below depends on it;
/// 2. models — the most direct way to reach something forbidden; checked before any edit;
/// 3. features — plugins, server tools, web, trace, debug, route, preset, `user`;
/// 4. provider — the pinned routing object, or removed for a non-OpenRouter upstream;
/// 5. tokens — caps last, so a denial above never reports a clamp that did not matter.
///
/// The request's body moves into the plan, where it is rewritten (`request` keeps its
/// typed fields, which are what the rules read): a deep copy of it was the policy's
/// largest cost, an allocation per string of a long conversation.
pub fn plan(
    settings: &PolicySettings,
    caller: &Caller,
    request: &mut ParsedRequest,
    decision: ClassDecision,
) -> Result<Plan, Denial> {
    let ClassDecision { reasons, mut fired } = decision;
    let class = reasons.class;
    let policy = class_policy(settings, class)?;
    legacy_completions(request.endpoint, policy)?;
    let mut body = std::mem::take(&mut request.body);

    // 2. models
    let model = models::parse(&request.model)?;
    models::check(&model, policy)?;
    models::check_key(&model, caller)?;
    let mut forwarded_models = vec![model.id.clone()];
    body.insert("model".to_owned(), Value::String(model.id.clone()));
    if let Some(items) = &request.fallbacks {
        if items.len() > MAX_FALLBACK_MODELS {
            return Err(Denial::invalid_param(
                ErrorCode::TooManyModels,
                format!("models lists at most {MAX_FALLBACK_MODELS} entries"),
                "models",
            ));
        }
        let mut normalised = Vec::with_capacity(items.len());
        for item in items {
            let m = models::parse(item)?;
            models::check(&m, policy)?;
            models::check_key(&m, caller)?;
            normalised.push(Value::String(m.id.clone()));
            forwarded_models.push(m.id);
        }
        body.insert("models".to_owned(), Value::Array(normalised));
    }
    fired.push(FiredRule::new(
        "models.allowed",
        format!(
            "{} model id(s) allowed for class {}",
            forwarded_models.len(),
            class.as_str()
        ),
    ));

    // 3. features
    features::apply(
        &mut body,
        policy,
        settings.client_overrides,
        &settings.user_key,
        &caller.service,
        &mut fired,
    )?;

    // 4. provider
    let providers = match &policy.upstream {
        UpstreamRef::OpenRouter => {
            let provider = providers::build(
                request.provider.as_ref(),
                policy,
                settings.client_overrides,
                &mut fired,
            )?;
            let only = provider.get("only").and_then(Value::as_array).map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            });
            body.insert("provider".to_owned(), provider);
            only
        }
        UpstreamRef::Extra(name) => {
            strip_openrouter_routing(&mut body, name, &mut fired);
            None
        }
    };

    // 5. tokens
    let output = tokens::apply(
        &mut body,
        &request.limits,
        request.endpoint,
        policy,
        settings.over_cap,
        &mut fired,
    )?;

    let expect = Expectation {
        providers,
        models: forwarded_models,
        require_byok: policy.require_byok,
        on_violation: policy.on_violation,
    };
    Ok(Plan {
        class,
        upstream: policy.upstream.clone(),
        body,
        model: model.id,
        raised_by: reasons.raised_by,
        fired,
        expect,
        forward_cache_headers: policy.allow_cache,
        output,
    })
}

/// Whether OpenRouter honours `provider` on the legacy `/completions` route is unconfirmed
/// (openrouter-api.md §1.7). A class whose data may only reach certain providers, or only
/// under no-collection / ZDR terms, does not bet on it unless it opts in.
fn legacy_completions(endpoint: Endpoint, policy: &ClassPolicy) -> Result<(), Denial> {
    let pinned = !policy.providers.is_empty() || policy.zdr || policy.data_collection_deny;
    if endpoint == Endpoint::Completions
        && policy.upstream == UpstreamRef::OpenRouter
        && pinned
        && !policy.allow_legacy_completions
    {
        return Err(Denial::forbidden(
            ErrorCode::EndpointNotAllowed,
            format!(
                "/completions cannot be pinned to providers reliably; use /chat/completions for class {} (or set allow_legacy_completions)",
                policy.class.as_str()
            ),
        ));
    }
    Ok(())
}

/// OpenRouter-only routing fields mean nothing to (and may be rejected by) another
/// OpenAI-compatible server; the gateway's own policy already decided routing.
fn strip_openrouter_routing(
    body: &mut Map<String, Value>,
    upstream: &str,
    fired: &mut Vec<FiredRule>,
) {
    const OPENROUTER_ONLY: [&str; 7] = [
        "provider",
        "models",
        "plugins",
        "route",
        "preset",
        "transforms",
        "trace",
    ];
    let mut removed = 0;
    for field in OPENROUTER_ONLY {
        removed += usize::from(body.remove(field).is_some());
    }
    fired.push(FiredRule::new(
        "upstream.selected",
        format!("routed to upstream {upstream}; {removed} OpenRouter routing field(s) removed"),
    ));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A class with the given model patterns and nothing else allowed.
    pub(crate) fn class_policy(models: &[&str]) -> ClassPolicy {
        ClassPolicy {
            class: Class::Confidential,
            models: models.iter().map(|m| models::Glob::new(m)).collect(),
            providers: Vec::new(),
            allow_free_models: false,
            allow_web: false,
            allow_tiers: false,
            allow_routers: HashSet::new(),
            allow_plugins: HashSet::new(),
            allow_server_tools: false,
            allow_trace: false,
            allow_cache: false,
            allow_images: false,
            allow_audio: false,
            allow_files: false,
            allow_token_input: false,
            allow_fallbacks: false,
            data_collection_deny: true,
            zdr: false,
            require_byok: false,
            upstream: UpstreamRef::OpenRouter,
            allow_legacy_completions: false,
            redaction: crate::redact::RedactPolicy::default(),
            scan_responses: crate::redact::OutputScan::Off,
            fallbacks: Vec::new(),
            max_tokens: 1000,
            on_violation: OnViolation::Block,
            capture: CaptureMode::Off,
        }
    }

    mod invariant {
        use std::sync::Arc;

        use proptest::prelude::*;
        use serde_json::json;

        use super::super::*;
        use super::class_policy;
        use crate::request::{parse, Endpoint};

        const MODELS: [&str; 12] = [
            "anthropic/claude-3.5-sonnet",
            " Anthropic/Claude-3-Opus ",
            "openai/gpt-4o",
            "openai/gpt-4o-mini",
            "openai/gpt-4o:free",
            "openai/gpt-4o:nitro",
            "openai/gpt-4o:exacto",
            "openai/o1",
            "openrouter/auto",
            "~anthropic/claude-latest",
            "@preset/x",
            "meta-llama/llama-3-8b:free",
        ];
        const SLUGS: [&str; 6] = [
            "openai",
            "anthropic",
            "together",
            "openai/priority",
            "anthropic/eu",
            "azure",
        ];

        fn settings(overrides: Overrides) -> PolicySettings {
            let mut c = class_policy(&["anthropic/claude-*", "openai/gpt-4o"]);
            c.providers = vec!["anthropic".into(), "openai".into()];
            c.zdr = true;
            PolicySettings {
                pii_raises_to: Class::Confidential,
                phi_raises_to: None,
                client_overrides: overrides,
                over_cap: OverCap::Clamp,
                user_key: vec![1; 32],
                redact_key: vec![2; 32],
                classes: [None, None, Some(c), None],
                provider_names: ProviderNames::new(&Default::default()),
            }
        }

        fn slugs() -> impl Strategy<Value = Vec<&'static str>> {
            proptest::collection::vec(proptest::sample::select(&SLUGS[..]), 0..4)
        }

        fn provider() -> impl Strategy<Value = Option<serde_json::Value>> {
            proptest::option::of(
                (
                    proptest::option::of(slugs()),
                    proptest::option::of(slugs()),
                    any::<Option<bool>>(),
                    any::<Option<bool>>(),
                    any::<Option<bool>>(),
                    proptest::option::of(prop_oneof![Just("allow"), Just("deny")]),
                )
                    .prop_map(|(only, order, fallbacks, zdr, require, dc)| {
                        let mut p = serde_json::Map::new();
                        if let Some(v) = only {
                            p.insert("only".into(), json!(v));
                        }
                        if let Some(v) = order {
                            p.insert("order".into(), json!(v));
                        }
                        if let Some(v) = fallbacks {
                            p.insert("allow_fallbacks".into(), json!(v));
                        }
                        if let Some(v) = zdr {
                            p.insert("zdr".into(), json!(v));
                        }
                        if let Some(v) = require {
                            p.insert("require_parameters".into(), json!(v));
                        }
                        if let Some(v) = dc {
                            p.insert("data_collection".into(), json!(v));
                        }
                        serde_json::Value::Object(p)
                    }),
            )
        }

        proptest! {
            /// For any request, `plan` either denies, or yields a body whose model, every
            /// `models` entry and `provider.only` lie inside the class, with fallbacks off,
            /// parameters required, no data collection, ZDR on and tokens capped.
            #[test]
            fn plan_denies_or_complies(
                model in proptest::sample::select(&MODELS[..]),
                models in proptest::option::of(proptest::collection::vec(proptest::sample::select(&MODELS[..]), 0..5)),
                provider in provider(),
                max_tokens in proptest::option::of(1u64..100_000),
                deny in any::<bool>(),
                declared in proptest::option::of(prop_oneof![Just("public"), Just("internal"), Just("confidential")]),
            ) {
                let mut body = json!({"model": model, "messages": []});
                if let Some(m) = models { body["models"] = json!(m); }
                if let Some(p) = provider { body["provider"] = p; }
                if let Some(t) = max_tokens { body["max_tokens"] = json!(t); }
                let Ok(mut parsed) = parse::parse(Endpoint::ChatCompletions, body.to_string().as_bytes(), 32) else { return Ok(()); };
                let settings = settings(if deny { Overrides::Deny } else { Overrides::NarrowOnly });
                let caller = Caller { key_id: Arc::from("k"), service: Arc::from("s"), default_class: Class::Confidential, min_class: Class::Confidential, limits: Default::default(), allowed_models: Arc::from(Vec::new()), upstream_key: None };
                let mut headers = axum::http::HeaderMap::new();
                if let Some(d) = declared { headers.insert(class::CLASS_HEADER, axum::http::HeaderValue::from_static(d)); }
                let Ok(decision) = reasons::of(&settings, &caller, &headers, &ContentSignals::default()) else { return Ok(()); };
                let Ok(plan) = plan(&settings, &caller, &mut parsed, decision) else { return Ok(()); };
                prop_assert_eq!(plan.class, Class::Confidential);
                let out = serde_json::Value::Object(plan.body);
                let allowed_model = |m: &str| {
                    let mut parts = m.split(':');
                    let base = parts.next().unwrap_or_default();
                    (base == "openai/gpt-4o" || base.starts_with("anthropic/claude-"))
                        && parts.all(|v| ["exacto", "thinking", "extended"].contains(&v))
                };
                prop_assert!(allowed_model(out["model"].as_str().unwrap()), "{}", out);
                for m in out["models"].as_array().into_iter().flatten() {
                    prop_assert!(allowed_model(m.as_str().unwrap()), "{}", out);
                }
                let p = &out["provider"];
                for s in p["only"].as_array().unwrap().iter().chain(p["order"].as_array().unwrap()) {
                    let s = s.as_str().unwrap();
                    prop_assert!(s == "openai" || s == "anthropic" || s == "anthropic/eu", "{}", out);
                }
                prop_assert_eq!(&p["allow_fallbacks"], &json!(false));
                prop_assert_eq!(&p["require_parameters"], &json!(true));
                prop_assert_eq!(&p["data_collection"], &json!("deny"));
                prop_assert_eq!(&p["zdr"], &json!(true));
                prop_assert!(out["max_tokens"].as_u64().unwrap() <= 1000);
            }
        }
    }
}
