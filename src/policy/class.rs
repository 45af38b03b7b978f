//! Data classes and how a request's class is decided (DESIGN.md §2 step 4).
//!
//! The class only ever goes up: the key's `min_class` bounds what a client may declare, and
//! content findings raise it to at least `policy.pii_raises_to`, or `policy.phi_raises_to`
//! for health identifiers (the stricter of the two wins).

use axum::http::HeaderMap;

use super::{Denial, FiredRule};
use crate::error_code::ErrorCode;

/// The header a client declares its data class with.
pub const CLASS_HEADER: &str = "x-data-classification";

pub use crate::data_class::Class;

/// What content inspection found, as far as classification is concerned. The redaction
/// stage fills it from its single scan of the request; until then it is empty.
#[derive(Debug, Clone, Default)]
pub struct ContentSignals {
    /// PII types found (stable detector names such as `EMAIL`).
    pub pii_types: Vec<&'static str>,
    /// The PHI types among them (`US_NPI`, `DIAGNOSIS_CODE`, …): they also raise the class
    /// to `policy.phi_raises_to`.
    pub phi_types: Vec<&'static str>,
}

/// The content raise targets from `[policy]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raises {
    /// `pii_raises_to`: any personal data.
    pub pii: Class,
    /// `phi_raises_to`: health identifiers; `None` when not configured (PHI then counts as
    /// PII only).
    pub phi: Option<Class>,
}

/// The detector types that raised the class, read from the rule [`decide`] fired: the PHI
/// types when the PHI raise decided it, else every PII type. Types only, never values.
pub fn raised_by(fired: &[FiredRule], signals: &ContentSignals) -> Vec<&'static str> {
    if fired.iter().any(|r| r.rule == "class.phi_raise") {
        signals.phi_types.clone()
    } else if fired.iter().any(|r| r.rule == "class.pii_raise") {
        signals.pii_types.clone()
    } else {
        Vec::new()
    }
}

/// The class a client declared in `X-Data-Classification`, if any. Several values or an
/// unknown one are refused: guessing would pick a class the client did not mean.
pub fn declared(headers: &HeaderMap) -> Result<Option<Class>, Denial> {
    let mut values = headers.get_all(CLASS_HEADER).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let invalid = || {
        Denial::invalid(
            ErrorCode::InvalidClassification,
            "X-Data-Classification must be one of public, internal, confidential, restricted (once)".to_owned(),
        )
    };
    if values.next().is_some() {
        return Err(invalid());
    }
    let text = first.to_str().map_err(|_| invalid())?;
    Class::parse(text).map(Some).ok_or_else(invalid)
}

/// Decides the class: declared (else the key's default), at least the key's minimum, raised
/// by content findings. Each step that changed the class is recorded.
pub fn decide(
    declared: Option<Class>,
    default: Class,
    min: Class,
    signals: &ContentSignals,
    raises: Raises,
    fired: &mut Vec<FiredRule>,
) -> Class {
    let mut class = declared.unwrap_or(default);
    if class < min {
        fired.push(FiredRule::new(
            "class.min_class",
            format!(
                "raised from {} to the key's min_class {}",
                class.as_str(),
                min.as_str()
            ),
        ));
        class = min;
    }
    // One content raise, to the stricter target: PHI is personal data too, so a PHI type
    // alone reaches at least `pii_raises_to`; the rule named is the one whose target won
    // (PHI on a tie, as it is the more specific reason).
    let pii_to =
        (!signals.pii_types.is_empty() || !signals.phi_types.is_empty()).then_some(raises.pii);
    let phi_to = raises.phi.filter(|_| !signals.phi_types.is_empty());
    let (target, rule, what) = match (pii_to, phi_to) {
        (_, Some(phi)) if pii_to.is_none_or(|pii| phi >= pii) => (
            phi,
            "class.phi_raise",
            format!("PHI {}", signals.phi_types.join(", ")),
        ),
        (Some(pii), _) => {
            let mut types = signals.pii_types.clone();
            for t in &signals.phi_types {
                if !types.contains(t) {
                    types.push(t);
                }
            }
            (pii, "class.pii_raise", types.join(", "))
        }
        (None, _) => return class,
    };
    if class < target {
        fired.push(FiredRule::new(
            rule,
            format!(
                "raised from {} to {} because content contains {what}",
                class.as_str(),
                target.as_str(),
            ),
        ));
        class = target;
    }
    class
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn declared_header_variants() {
        let mut h = HeaderMap::new();
        assert_eq!(declared(&h).unwrap(), None);
        for (v, want) in [
            ("public", Class::Public),
            (" Confidential ", Class::Confidential),
            ("RESTRICTED", Class::Restricted),
        ] {
            h.insert(CLASS_HEADER, HeaderValue::from_static(v));
            assert_eq!(declared(&h).unwrap(), Some(want), "{v}");
        }
        for bad in [
            "secret",
            "publіc", /* Cyrillic і */
            "",
            "public,internal",
        ] {
            h.insert(
                CLASS_HEADER,
                HeaderValue::from_str(bad).unwrap_or(HeaderValue::from_static("x")),
            );
            assert!(declared(&h).is_err(), "{bad}");
        }
        let mut twice = HeaderMap::new();
        twice.append(CLASS_HEADER, HeaderValue::from_static("public"));
        twice.append(CLASS_HEADER, HeaderValue::from_static("restricted"));
        assert!(declared(&twice).is_err());
    }

    #[test]
    fn min_class_bounds_a_lowered_declaration() {
        let mut fired = Vec::new();
        let c = decide(
            Some(Class::Public),
            Class::Confidential,
            Class::Confidential,
            &ContentSignals::default(),
            PII_ONLY,
            &mut fired,
        );
        assert_eq!(c, Class::Confidential);
        assert_eq!(fired[0].rule, "class.min_class");
    }

    #[test]
    fn pii_raises_but_never_lowers() {
        let pii = ContentSignals {
            pii_types: vec!["EMAIL"],
            phi_types: vec![],
        };
        let mut fired = Vec::new();
        assert_eq!(
            decide(
                Some(Class::Public),
                Class::Internal,
                Class::Public,
                &pii,
                PII_ONLY,
                &mut fired
            ),
            Class::Confidential
        );
        assert_eq!(
            decide(
                Some(Class::Restricted),
                Class::Internal,
                Class::Public,
                &pii,
                PII_ONLY,
                &mut fired
            ),
            Class::Restricted
        );
    }

    const PII_ONLY: Raises = Raises {
        pii: Class::Confidential,
        phi: None,
    };

    #[test]
    fn phi_raises_to_its_own_class_and_the_stricter_wins() {
        let phi = ContentSignals {
            pii_types: vec!["DIAGNOSIS_CODE", "EMAIL", "US_NPI"],
            phi_types: vec!["DIAGNOSIS_CODE", "US_NPI"],
        };
        let raises = Raises {
            pii: Class::Confidential,
            phi: Some(Class::Restricted),
        };
        let mut fired = Vec::new();
        let c = decide(
            None,
            Class::Internal,
            Class::Public,
            &phi,
            raises,
            &mut fired,
        );
        assert_eq!(c, Class::Restricted);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].rule, "class.phi_raise");
        assert!(
            fired[0].detail.contains("PHI DIAGNOSIS_CODE, US_NPI"),
            "{}",
            fired[0].detail
        );
        assert_eq!(raised_by(&fired, &phi), vec!["DIAGNOSIS_CODE", "US_NPI"]);
        // A laxer PHI target than the PII one: PII's wins.
        let lax = Raises {
            pii: Class::Confidential,
            phi: Some(Class::Internal),
        };
        let mut fired = Vec::new();
        let c = decide(None, Class::Public, Class::Public, &phi, lax, &mut fired);
        assert_eq!(c, Class::Confidential);
        assert_eq!(fired[0].rule, "class.pii_raise");
        // No PHI: the PHI target does not apply.
        let email = ContentSignals {
            pii_types: vec!["EMAIL"],
            phi_types: vec![],
        };
        let mut fired = Vec::new();
        let c = decide(
            None,
            Class::Public,
            Class::Public,
            &email,
            raises,
            &mut fired,
        );
        assert_eq!(c, Class::Confidential);
        assert!(raised_by(&fired, &email) == vec!["EMAIL"]);
    }

    fn any_class() -> impl Strategy<Value = Class> {
        prop_oneof![
            Just(Class::Public),
            Just(Class::Internal),
            Just(Class::Confidential),
            Just(Class::Restricted)
        ]
    }

    proptest! {
        #[test]
        fn the_class_is_never_below_any_floor(declared in proptest::option::of(any_class()), default in any_class(), min in any_class(), raise in any_class(), phi_raise in proptest::option::of(any_class()), pii: bool, phi: bool) {
            let signals = ContentSignals {
                pii_types: if pii { vec!["EMAIL"] } else { vec![] },
                phi_types: if phi { vec!["US_NPI"] } else { vec![] },
            };
            let raises = Raises { pii: raise, phi: phi_raise };
            let c = decide(declared, default, min, &signals, raises, &mut Vec::new());
            prop_assert!(c >= min);
            prop_assert!(c >= declared.unwrap_or(default));
            if pii || phi { prop_assert!(c >= raise); }
            if let (true, Some(p)) = (phi, phi_raise) { prop_assert!(c >= p); }
        }
    }
}
