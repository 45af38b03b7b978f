//! The planner: from the request's bytes to the exact bytes that would leave the gateway,
//! with no effect at all (no I/O, no clock, no metrics, no logging).
//!
//! It is the `plan` phase of the pipeline (`crate::pipeline`), and the whole of `orguard
//! policy explain` and of `orguard check`'s test requests: all three call the same
//! functions, so testing one tests the others, and explain prints the sealed bytes the
//! server would send. It sits outside the pipeline so that the command-line tools do not
//! depend on the server.
//!
//! | step     | what it decides                                        | function          |
//! |----------|--------------------------------------------------------|-------------------|
//! | parse    | the strict JSON body                                   | `request::parse`  |
//! | scan     | what the request carries (PII, secrets, media), with an external analyzer's findings when one was asked | `redact::scan_with` |
//! | classify | the data class, and why                                | `policy::reasons` |
//! | policy   | the body the class may send, or a refusal              | `policy::plan`    |
//! | redact   | values rewritten per class and type                    | `redact::apply`   |
//! | seal     | the upstream and the bytes sent, for every model tried | [`seal`]          |

use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::config::{Snapshot, UpstreamSettings};
use crate::error::{ErrorCode, GatewayError};
use crate::json_text;
use crate::keys::Caller;
use crate::policy::{self, models, Class, ContentSignals, Plan, UpstreamRef};
use crate::redact;
use crate::request::parse::{self, ParseError, ParsedRequest};
use crate::request::Endpoint;
use crate::upstream::{self, Outbound, UpstreamError};

/// Everything the effects after planning need: the decision, and the sealed request for
/// the primary model and for every fallback the class allows.
pub struct Planned<'c> {
    /// The request's typed fields; its body moved into [`Plan::body`] (see [`policy::plan`]).
    pub parsed: ParsedRequest,
    /// The audit's `prompt_sha256` and its algorithm (see [`Prepared::prompt_hash`]).
    pub prompt_hash: (String, &'static str),
    pub plan: Plan,
    pub redaction: redact::Redaction,
    /// The primary model first, then the allowed fallbacks, in the order they are tried.
    pub candidates: Vec<String>,
    /// The primary model's sealed request.
    pub sealed: Sealed<'c>,
    /// One per fallback (`candidates[1..]`), sealed before anything leaves so that the one
    /// `request` record names each body that may be sent. A fallback that cannot be sealed
    /// fails the request only when it is reached.
    pub fallbacks: Vec<Result<Sealed<'c>, UpstreamError>>,
}

impl Planned<'_> {
    /// What the response check accepts for this client request, whichever candidate ends up
    /// serving it: the primary's expectation, every fallback id, and the name a self-hosted
    /// server answers under for each (`model_map`).
    pub fn expectation(&self) -> policy::Expectation {
        let mut expect = self.sealed.expect.clone();
        let fallback_names = self
            .fallbacks
            .iter()
            .flatten()
            .flat_map(|s| &s.expect.models);
        for model in self.candidates.iter().skip(1).chain(fallback_names) {
            if !expect.models.contains(model) {
                expect.models.push(model.clone());
            }
        }
        expect
    }
}

/// A request ready to leave: where it goes, its exact bytes, and what the response must
/// satisfy.
#[derive(Clone)]
pub struct Sealed<'c> {
    pub settings: &'c UpstreamSettings,
    pub outbound: Outbound,
    pub expect: policy::Expectation,
}

impl Sealed<'_> {
    /// The bytes that leave the gateway (empty for a body-less request).
    pub fn body(&self) -> &[u8] {
        self.outbound.body.as_deref().unwrap_or_default()
    }
}

/// Why the planner refused a request.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The body is not one orguard will read the same way as the upstream.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The policy or the redaction refused it.
    #[error(transparent)]
    Denied(#[from] policy::Denial),
    /// The class's upstream cannot be used (not configured, or the body not serialisable).
    #[error(transparent)]
    Seal(#[from] UpstreamError),
}

impl From<redact::Refused> for PlanError {
    fn from(r: redact::Refused) -> Self {
        Self::Denied(r.into())
    }
}

impl From<PlanError> for GatewayError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Parse(e) => e.into(),
            PlanError::Denied(d) => d.into(),
            PlanError::Seal(e) => e.into(),
        }
    }
}

/// A refusal, with the class the request had been given by then (none when it was
/// refused before it was classified), so that its denial is audited with its class.
#[derive(Debug)]
pub struct Refusal {
    pub class: Option<Class>,
    /// The `model` the request asked for, when the body parsed that far.
    pub model: Option<String>,
    pub error: PlanError,
}

impl<E: Into<PlanError>> From<E> for Refusal {
    /// A refusal before the class is known.
    fn from(error: E) -> Self {
        Self {
            class: None,
            model: None,
            error: error.into(),
        }
    }
}

/// The whole plan phase: parse, then [`plan_parsed`] with the built-in detectors alone.
/// Pure.
pub fn plan<'c>(
    config: &'c Snapshot,
    caller: &Caller,
    headers: &HeaderMap,
    endpoint: Endpoint,
    bytes: &[u8],
) -> Result<Planned<'c>, Refusal> {
    let parsed = parse::parse(endpoint, bytes, config.server.max_json_depth)?;
    plan_parsed(
        config,
        caller,
        headers,
        parsed,
        &redact::Analysis::default(),
    )
}

/// The plan phase of a parsed request: [`prepare`] (with what an external analyzer found
/// in it, `analysis`), the fallback chain, and [`seal`] for each model that may be tried.
/// Pure: the analyzer was asked before, by the pipeline's `analyze` phase.
pub fn plan_parsed<'c>(
    config: &'c Snapshot,
    caller: &Caller,
    headers: &HeaderMap,
    mut parsed: ParsedRequest,
    analysis: &redact::Analysis,
) -> Result<Planned<'c>, Refusal> {
    let endpoint = parsed.endpoint;
    let model = parsed.model.clone();
    let Prepared {
        plan,
        redaction,
        prompt_hash,
    } = prepare(config, caller, headers, &mut parsed, analysis).map_err(|r| Refusal {
        model: Some(model.clone()),
        ..r
    })?;
    let class = Some(plan.class);
    let refusal = |e: UpstreamError| Refusal {
        class,
        model: Some(model.clone()),
        error: e.into(),
    };
    let body = Serialised::of(&plan.body, parsed.size);
    let sealed =
        seal_model(config, &plan, &body, &plan.model, endpoint, caller).map_err(refusal)?;
    let candidates = fallback_candidates(config, &plan, caller);
    let fallbacks = candidates
        .iter()
        .skip(1)
        .map(|model| seal_model(config, &plan, &body, model, endpoint, caller))
        .collect();
    Ok(Planned {
        parsed,
        prompt_hash,
        plan,
        redaction,
        candidates,
        sealed,
        fallbacks,
    })
}

/// What [`prepare`] decided.
pub struct Prepared {
    pub plan: Plan,
    pub redaction: redact::Redaction,
    /// The audit's `prompt_sha256` and its algorithm: the prompt fields as the scan left
    /// them (tool-call arguments, which the scan reads as JSON, re-serialised compactly),
    /// taken before the policy takes the body to rewrite it.
    pub prompt_hash: (String, &'static str),
}

/// Scan, classify, policy and redact as one decision: scan the content once, classify and
/// plan with what it found, then redact the planned body per the class's actions. A
/// refusal carries the class when it was decided before the refusal. The request's body
/// moves into the plan ([`policy::plan`]).
pub fn prepare(
    config: &Snapshot,
    caller: &Caller,
    headers: &HeaderMap,
    parsed: &mut ParsedRequest,
    analysis: &redact::Analysis,
) -> Result<Prepared, Refusal> {
    let endpoint = parsed.endpoint;
    let mut findings =
        redact::scan_with(&config.detectors, analysis, endpoint, &mut parsed.body)
            .map_err(|e| policy::Denial::invalid(ErrorCode::InvalidFieldType, e.to_string()))?;
    findings.scan_headers(
        &config.detectors,
        headers,
        &upstream::CLIENT_HEADERS_FORWARDED,
    )?;
    let signals = ContentSignals {
        pii_types: findings.pii_types(),
        phi_types: findings.phi_types(),
    };
    // Known before any other rule can refuse, so a denial is audited with its class, and
    // says which class it is and why (types only, never values).
    let decision = policy::reasons::of(&config.policy, caller, headers, &signals)?;
    let reasons = decision.reasons.clone();
    let refused = |d: policy::Denial| Refusal {
        class: Some(reasons.class),
        model: None,
        error: PlanError::Denied(reasons.annotate(d, &config.policy)),
    };
    // What the class refuses outright is refused before the policy plans (and could echo
    // a routing field that holds a detected value in an error).
    findings
        .refuse(
            &config
                .policy
                .class(reasons.class)
                .map(|c| c.redaction.clone())
                .unwrap_or_default(),
        )
        .map_err(|r| refused(r.into()))?;
    // After the scan, which writes tool-call arguments back as it read them; before the
    // policy, which takes the body.
    let prompt_hash =
        crate::audit::prompt_hash(&parsed.body, endpoint, config.audit.hmac_key.as_ref());
    let mut plan = policy::plan(&config.policy, caller, parsed, decision).map_err(refused)?;
    let class_policy = config.policy.class(plan.class);
    let class = class_policy
        .map(|c| &c.redaction)
        .cloned()
        .unwrap_or_default();
    let redaction = redact::apply(
        &config.detectors,
        endpoint,
        &mut plan.body,
        &findings,
        &class,
        &config.policy.redact_key,
    )
    .map_err(|r| refused(r.into()))?;
    // After the redaction, so that a secret beside an image is refused as a secret.
    if let Some((media, place)) = findings
        .media()
        .iter()
        .find(|(m, _)| !class_policy.is_some_and(|c| c.allows(*m)))
    {
        return Err(refused(policy::Denial::forbidden(
            ErrorCode::UninspectableContent,
            format!(
                "the request carries {} at `{place}`, which orguard cannot inspect, and class {} does not let it through ({} is off)",
                media.as_str(),
                plan.class.as_str(),
                media.setting()
            ),
        )));
    }
    // An auditor must be able to tell which requests were inspected by fewer detectors
    // than configured.
    if analysis.was_skipped() {
        plan.fired.push(policy::FiredRule::new(
            "detectors.presidio_skipped",
            "the Presidio analyzer could not answer and presidio_on_error = \"fail_open\": inspected by the built-in detectors only".to_owned(),
        ));
    }
    if !redaction.counts.is_empty() {
        let counts: Vec<String> = redaction
            .counts
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        plan.fired.push(policy::FiredRule::new(
            "redact.applied",
            format!(
                "rewritten for class {}: {}",
                plan.class.as_str(),
                counts.join(", ")
            ),
        ));
    }
    Ok(Prepared {
        plan,
        redaction,
        prompt_hash,
    })
}

/// Serialises the planned body for the upstream the class uses, for the primary model.
/// These exact bytes are what leaves the gateway, on every attempt.
pub fn seal<'c>(
    config: &'c Snapshot,
    plan: &Plan,
    endpoint: Endpoint,
    caller: &Caller,
) -> Result<Sealed<'c>, UpstreamError> {
    let body = Serialised::of(&plan.body, 0);
    seal_model(config, plan, &body, &plan.model, endpoint, caller)
}

/// The planned body, serialised once, and where its `model` value sits in the bytes. The
/// body for another model (a fallback, or a self-hosted server's own name for one) is the
/// same bytes with that value replaced: no clone of the body and no second serialisation
/// per model tried.
struct Serialised {
    bytes: Bytes,
    /// The range of the `model` value (a JSON string) in `bytes`.
    model: std::ops::Range<usize>,
}

impl Serialised {
    /// Writes `body` exactly as `serde_json::to_vec` does (compact, key order kept, see
    /// [`json_text`]), noting where the `model` value is. `size` is a capacity hint (the
    /// body as received).
    fn of(body: &Map<String, Value>, size: usize) -> Self {
        let mut out = Vec::with_capacity(size.saturating_add(256));
        let mut model = 0..0;
        out.push(b'{');
        for (i, (key, value)) in body.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_text::string(&mut out, key);
            out.push(b':');
            let start = out.len();
            json_text::value(&mut out, value);
            if key == "model" {
                model = start..out.len();
            }
        }
        out.push(b'}');
        Self {
            bytes: Bytes::from(out),
            model,
        }
    }

    /// The bytes with `name` as the model (the bytes themselves when they already say it).
    fn for_model(&self, name: &str) -> Option<Bytes> {
        // The policy always sets `model`; without it there is nothing to replace.
        if self.model.is_empty() {
            return None;
        }
        let current = self.bytes.get(self.model.clone())?;
        let mut quoted = Vec::with_capacity(name.len() + 2);
        json_text::string(&mut quoted, name);
        if current == quoted.as_slice() {
            return Some(self.bytes.clone());
        }
        let before = self.bytes.get(..self.model.start)?;
        let after = self.bytes.get(self.model.end..)?;
        let mut out = Vec::with_capacity(before.len() + quoted.len() + after.len());
        out.extend_from_slice(before);
        out.extend_from_slice(&quoted);
        out.extend_from_slice(after);
        Some(Bytes::from(out))
    }
}

/// [`seal`] for `model` (the primary or a fallback) from the body serialised once.
fn seal_model<'c>(
    config: &'c Snapshot,
    plan: &Plan,
    body: &Serialised,
    model: &str,
    endpoint: Endpoint,
    caller: &Caller,
) -> Result<Sealed<'c>, UpstreamError> {
    let mut expect = plan.expect.clone();
    let settings = upstream_settings(config, &plan.upstream)?;
    let name = forwarded_name(config, &plan.upstream, model);
    if name != model {
        // The self-hosted server knows the model by its own name.
        expect.models.push(name.to_ascii_lowercase());
    }
    let bytes = body.for_model(name).ok_or(UpstreamError::Build)?;
    let outbound = Outbound {
        method: Method::POST,
        path_and_query: endpoint.upstream_path().to_owned(),
        body: Some(bytes),
        forward_cache_headers: plan.forward_cache_headers,
        api_key: service_key(caller, &plan.upstream),
        trace_headers: Vec::new(),
    };
    Ok(Sealed {
        settings,
        outbound,
        expect,
    })
}

/// The settings of the upstream a class uses; an extra upstream the config does not name
/// cannot be sent to.
pub fn upstream_settings<'c>(
    config: &'c Snapshot,
    upstream: &UpstreamRef,
) -> Result<&'c UpstreamSettings, UpstreamError> {
    match upstream {
        UpstreamRef::OpenRouter => Ok(&config.upstream),
        UpstreamRef::Extra(name) => config
            .extra_upstreams
            .get(name)
            .map(|extra| &extra.settings)
            .ok_or(UpstreamError::NotConfigured),
    }
}

/// The model name the upstream is sent: the OpenRouter id, or a self-hosted server's own
/// name for it (`model_map`). [`seal`] writes it; the audit records it.
pub fn forwarded_model<'p>(config: &'p Snapshot, plan: &'p Plan) -> &'p str {
    forwarded_name(config, &plan.upstream, &plan.model)
}

/// [`forwarded_model`] for any `model` the plan may try.
fn forwarded_name<'p>(config: &'p Snapshot, upstream: &UpstreamRef, model: &'p str) -> &'p str {
    match upstream {
        UpstreamRef::Extra(name) => config
            .extra_upstreams
            .get(name)
            .and_then(|extra| extra.model_map.get(model))
            .map_or(model, String::as_str),
        UpstreamRef::OpenRouter => model,
    }
}

/// The calling service's own OpenRouter key, for requests to OpenRouter only: it never goes
/// to another upstream.
pub fn service_key(caller: &Caller, upstream: &UpstreamRef) -> Option<crate::secret::Secret> {
    match upstream {
        UpstreamRef::OpenRouter => caller.upstream_key.clone(),
        UpstreamRef::Extra(_) => None,
    }
}

/// The primary model, then the fallbacks configured for it and for its class — each one
/// only if the request's class and key allow it (a fallback never widens policy).
///
/// Pure but for one warning per skipped fallback: a configuration mistake the operator
/// should see, not a decision.
pub fn fallback_candidates(config: &Snapshot, plan: &Plan, caller: &Caller) -> Vec<String> {
    let mut out = vec![plan.model.clone()];
    let Some(class) = config.policy.class(plan.class) else {
        return out;
    };
    let per_model = config
        .resilience
        .fallbacks
        .get(&plan.model)
        .into_iter()
        .flatten();
    for candidate in per_model.chain(class.fallbacks.iter()) {
        if out.contains(candidate) {
            continue;
        }
        match models::parse(candidate) {
            Ok(m) if models::check(&m, class).is_ok() && models::check_key(&m, caller).is_ok() => {
                out.push(m.id)
            }
            _ => {
                tracing::warn!(model = %candidate, class = plan.class.as_str(), "fallback not allowed for this class; skipped")
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    use super::Serialised;

    proptest! {
        /// The bytes are exactly serde_json's, and the body for another model is exactly
        /// serde_json's bytes of the body with that model, wherever `model` sits.
        #[test]
        fn the_bytes_are_serde_jsons_for_every_model(
            fields in prop::collection::vec(("[a-z_]{1,8}", crate::json_text::tests::any_value()), 0..8),
            at in 0usize..8,
            model in "[a-z0-9/:.\"\\\\é-]{1,24}",
            other in "[a-z0-9/:.\"\\\\é-]{1,24}",
        ) {
            let mut body = Map::new();
            for (i, (k, v)) in fields.into_iter().enumerate() {
                if i == at {
                    body.insert("model".to_owned(), json!(model));
                }
                body.insert(k, v);
            }
            body.insert("model".to_owned(), json!(model));
            let serialised = Serialised::of(&body, 0);
            prop_assert_eq!(&serialised.bytes[..], &serde_json::to_vec(&body).unwrap()[..]);
            prop_assert_eq!(
                &serialised.for_model(&model).unwrap()[..],
                &serde_json::to_vec(&body).unwrap()[..]
            );
            body.insert("model".to_owned(), json!(other));
            prop_assert_eq!(
                &serialised.for_model(&other).unwrap()[..],
                &serde_json::to_vec(&body).unwrap()[..]
            );
        }
    }

    #[test]
    fn a_body_without_a_model_is_not_rewritten() {
        let body: Map<String, Value> = json!({"messages": []}).as_object().unwrap().clone();
        assert!(Serialised::of(&body, 0).for_model("m").is_none());
    }
}
