//! Why a request has the class it has, in words the caller can act on.
//!
//! A denial that only says "model X is not allowed for class confidential" leaves the
//! caller guessing when it never asked for `confidential`: an e-mail address in the prompt
//! raised it. [`ClassReasons`] records where the class came from (the
//! `X-Data-Classification` header, or the key's `default_class`), whether the key's
//! `min_class` or detected content raised it — by detector type name only, never a value —
//! and, for denials about a model, the model patterns the class allows. It is derived from
//! [`class::decide`] itself, so the explanation cannot drift from the decision.

use axum::http::HeaderMap;

use super::class::{self, Class, ContentSignals};
use super::{Denial, DenialKind, FiredRule, PolicySettings};
use crate::error_code::ErrorCode;
use crate::keys::Caller;

/// Where a request's starting class came from, before anything raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The client sent `X-Data-Classification`.
    Declared(Class),
    /// Nothing was declared: the key's `default_class`.
    KeyDefault(Class),
}

/// The decided class and each step that led to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassReasons {
    pub class: Class,
    pub origin: Origin,
    /// Set when the declared or default class was below the key's `min_class`.
    pub raised_to_min: Option<Class>,
    /// Detector type names (`EMAIL`, …) that raised the class to `policy.pii_raises_to`;
    /// empty when content did not change the class. Types only: values never get here.
    pub raised_by: Vec<&'static str>,
    /// Whether `raised_by` are PHI types that raised the class to `policy.phi_raises_to`.
    pub raised_by_phi: bool,
    /// The class's model patterns, filled in for denials about a model (else empty).
    pub allowed_models: Vec<String>,
}

/// Decides the class exactly as the policy does, keeping the reasons.
pub fn of(
    settings: &PolicySettings,
    caller: &Caller,
    headers: &HeaderMap,
    signals: &ContentSignals,
) -> Result<ClassDecision, Denial> {
    let declared = class::declared(headers)?;
    let mut fired = Vec::new();
    let decided = class::decide(
        declared,
        caller.default_class,
        caller.min_class,
        signals,
        settings.raises(),
        &mut fired,
    );
    let fired_rule = |name: &str| fired.iter().any(|r| r.rule == name);
    let reasons = ClassReasons {
        class: decided,
        origin: declared.map_or(Origin::KeyDefault(caller.default_class), Origin::Declared),
        raised_to_min: fired_rule("class.min_class").then_some(caller.min_class),
        raised_by: class::raised_by(&fired, signals),
        raised_by_phi: fired_rule("class.phi_raise"),
        allowed_models: Vec::new(),
    };
    Ok(ClassDecision { reasons, fired })
}

/// A request's class, decided once ([`of`]): the reasons a refusal names, and the class
/// rules that fired on the way, which open the plan's list of fired rules.
#[derive(Debug, Clone)]
pub struct ClassDecision {
    pub reasons: ClassReasons,
    pub fired: Vec<FiredRule>,
}

impl ClassDecision {
    pub fn class(&self) -> Class {
        self.reasons.class
    }
}

impl ClassReasons {
    /// Attaches these reasons to a policy refusal (403), with the class's model patterns
    /// when the refusal is about a model. Malformed requests (400) are left alone: the class
    /// is not why they failed.
    pub fn annotate(&self, mut denial: Denial, settings: &PolicySettings) -> Denial {
        if denial.kind != DenialKind::Forbidden || denial.context.is_some() {
            return denial;
        }
        let mut reasons = self.clone();
        if is_about_models(denial.code) {
            reasons.allowed_models = settings
                .class(self.class)
                .map(|c| c.models.iter().map(|g| g.as_str().to_owned()).collect())
                .unwrap_or_default();
        }
        denial.context = Some(Box::new(reasons));
        denial
    }

    /// "the key's default class is internal, raised to confidential by detected EMAIL".
    pub fn why(&self) -> String {
        let mut parts = vec![match self.origin {
            Origin::Declared(c) => format!("declared {} in X-Data-Classification", c.as_str()),
            Origin::KeyDefault(c) => format!("the key's default class is {}", c.as_str()),
        }];
        if let Some(min) = self.raised_to_min {
            parts.push(format!("raised to the key's min_class {}", min.as_str()));
        }
        if !self.raised_by.is_empty() {
            parts.push(format!(
                "raised to {} by detected {}{}",
                self.class.as_str(),
                if self.raised_by_phi { "PHI " } else { "" },
                self.raised_by.join(", ")
            ));
        }
        parts.join(", ")
    }

    /// The class's model patterns as one line, or `None` when they were not asked for.
    pub fn allows(&self) -> Option<String> {
        (!self.allowed_models.is_empty()).then(|| self.allowed_models.join(", "))
    }

    /// The sentence appended to a denial's message.
    pub fn suffix(&self) -> String {
        let class = self.class.as_str();
        match self.allows() {
            Some(models) => format!(
                " (request class {class}: {}; class {class} allows models {models})",
                self.why()
            ),
            None => format!(" (request class {class}: {})", self.why()),
        }
    }
}

/// Denials that a different model could avoid: for these the class's patterns are listed.
fn is_about_models(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ModelNotAllowed
            | ErrorCode::FreeModelNotAllowed
            | ErrorCode::WebNotAllowed
            | ErrorCode::TierNotAllowed
            | ErrorCode::VariantNotAllowed
            | ErrorCode::RouterNotAllowed
            | ErrorCode::PresetNotAllowed
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;
    use crate::policy::tests::class_policy;
    use crate::policy::{OverCap, Overrides, ProviderNames};

    fn settings() -> PolicySettings {
        let mut confidential = class_policy(&["anthropic/claude-*", "openai/gpt-4o*"]);
        confidential.class = Class::Confidential;
        PolicySettings {
            pii_raises_to: Class::Confidential,
            phi_raises_to: None,
            client_overrides: Overrides::NarrowOnly,
            over_cap: OverCap::Clamp,
            user_key: vec![1; 32],
            redact_key: vec![2; 32],
            classes: [None, None, Some(confidential), None],
            provider_names: ProviderNames::new(&Default::default()),
        }
    }

    fn caller(default: Class, min: Class) -> Caller {
        Caller {
            key_id: Arc::from("k"),
            service: Arc::from("s"),
            default_class: default,
            min_class: min,
            limits: Default::default(),
            allowed_models: Arc::from(Vec::new()),
            upstream_key: None,
        }
    }

    fn email() -> ContentSignals {
        ContentSignals {
            pii_types: vec!["EMAIL"],
            phi_types: vec![],
        }
    }

    #[test]
    fn an_email_raises_the_key_default_and_the_denial_says_so() {
        let r = of(
            &settings(),
            &caller(Class::Internal, Class::Public),
            &HeaderMap::new(),
            &email(),
        )
        .unwrap()
        .reasons;
        assert_eq!(r.class, Class::Confidential);
        assert_eq!(r.origin, Origin::KeyDefault(Class::Internal));
        assert_eq!(r.raised_by, vec!["EMAIL"]);
        let denial = Denial::forbidden(
            ErrorCode::ModelNotAllowed,
            "model google/gemini-2.0-flash-001 is not allowed for class confidential".into(),
        );
        let text = r.annotate(denial, &settings()).to_string();
        assert_eq!(
            text,
            "model google/gemini-2.0-flash-001 is not allowed for class confidential \
             (request class confidential: the key's default class is internal, raised to \
             confidential by detected EMAIL; class confidential allows models \
             anthropic/claude-*, openai/gpt-4o*)"
        );
    }

    #[test]
    fn phi_raises_to_restricted_and_the_reason_names_the_phi_types() {
        let mut s = settings();
        s.phi_raises_to = Some(Class::Restricted);
        let signals = ContentSignals {
            pii_types: vec!["DIAGNOSIS_CODE", "US_NPI"],
            phi_types: vec!["DIAGNOSIS_CODE", "US_NPI"],
        };
        let r = of(
            &s,
            &caller(Class::Confidential, Class::Public),
            &HeaderMap::new(),
            &signals,
        )
        .unwrap()
        .reasons;
        assert_eq!(r.class, Class::Restricted);
        assert!(r.raised_by_phi);
        assert_eq!(
            r.why(),
            "the key's default class is confidential, raised to restricted by detected PHI \
             DIAGNOSIS_CODE, US_NPI"
        );
    }

    #[test]
    fn a_declared_class_and_the_min_class_are_named() {
        let mut h = HeaderMap::new();
        h.insert(class::CLASS_HEADER, HeaderValue::from_static("public"));
        let r = of(
            &settings(),
            &caller(Class::Internal, Class::Confidential),
            &h,
            &email(),
        )
        .unwrap()
        .reasons;
        assert_eq!(r.origin, Origin::Declared(Class::Public));
        assert_eq!(r.raised_to_min, Some(Class::Confidential));
        assert!(
            r.raised_by.is_empty(),
            "already confidential: content changed nothing"
        );
        assert_eq!(
            r.why(),
            "declared public in X-Data-Classification, raised to the key's min_class confidential"
        );
    }

    #[test]
    fn malformed_requests_and_non_model_refusals_are_annotated_as_they_should_be() {
        let r = of(
            &settings(),
            &caller(Class::Confidential, Class::Public),
            &HeaderMap::new(),
            &ContentSignals::default(),
        )
        .unwrap()
        .reasons;
        let invalid = Denial::invalid(ErrorCode::InvalidMaxTokens, "bad".into());
        assert_eq!(r.annotate(invalid, &settings()).to_string(), "bad");
        let plugin = Denial::forbidden(ErrorCode::PluginNotAllowed, "no plugins".into());
        assert_eq!(
            r.annotate(plugin, &settings()).to_string(),
            "no plugins (request class confidential: the key's default class is confidential)"
        );
    }

    fn any_class() -> impl Strategy<Value = Class> {
        proptest::sample::select(&Class::ALL[..])
    }

    proptest! {
        /// The explanation is the decision: same class as `plan` would use, and the class
        /// never differs from where its reasons say it came from.
        #[test]
        fn reasons_agree_with_the_decision(
            declared in proptest::option::of(any_class()),
            default in any_class(),
            min in any_class(),
            pii: bool,
        ) {
            let mut h = HeaderMap::new();
            if let Some(d) = declared {
                h.insert(class::CLASS_HEADER, HeaderValue::from_static(d.as_str()));
            }
            let signals = if pii { email() } else { ContentSignals::default() };
            let c = caller(default, min);
            let r = of(&settings(), &c, &h, &signals).unwrap().reasons;
            let decided = class::decide(declared, default, min, &signals, class::Raises { pii: Class::Confidential, phi: None }, &mut Vec::new());
            prop_assert_eq!(r.class, decided);
            let start = declared.unwrap_or(default);
            let expected = if r.raised_by.is_empty() { r.raised_to_min.unwrap_or(start) } else { Class::Confidential };
            prop_assert_eq!(r.class, expected);
        }
    }
}
