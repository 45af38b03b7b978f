//! Data classes and how a request's class is decided (DESIGN.md §2 step 4).
//!
//! The class only ever goes up: the key's `min_class` bounds what a client may declare, and
//! content findings raise it to at least `policy.pii_raises_to`.

use axum::http::HeaderMap;

use super::{Denial, FiredRule};
use crate::error::ErrorCode;

/// The header a client declares its data class with.
pub const CLASS_HEADER: &str = "x-data-classification";

/// Data classes, lowest to highest sensitivity. The derived order is the policy order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Public,
    Internal,
    Confidential,
    Restricted,
}

impl Class {
    pub const ALL: [Class; 4] = [
        Class::Public,
        Class::Internal,
        Class::Confidential,
        Class::Restricted,
    ];

    /// Parses a class name, ignoring ASCII case and surrounding whitespace.
    pub fn parse(s: &str) -> Option<Class> {
        let s = s.trim();
        Class::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Internal => "internal",
            Self::Confidential => "confidential",
            Self::Restricted => "restricted",
        }
    }

    pub fn index(self) -> usize {
        match self {
            Self::Public => 0,
            Self::Internal => 1,
            Self::Confidential => 2,
            Self::Restricted => 3,
        }
    }
}

/// What content inspection found, as far as classification is concerned. The redaction
/// stage fills it from its single scan of the request; until then it is empty.
#[derive(Debug, Clone, Default)]
pub struct ContentSignals {
    /// PII types found (stable detector names such as `EMAIL`).
    pub pii_types: Vec<&'static str>,
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
    pii_raises_to: Class,
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
    if !signals.pii_types.is_empty() && class < pii_raises_to {
        fired.push(FiredRule::new(
            "class.pii_raise",
            format!(
                "raised from {} to {} because content contains {}",
                class.as_str(),
                pii_raises_to.as_str(),
                signals.pii_types.join(", ")
            ),
        ));
        class = pii_raises_to;
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
            Class::Confidential,
            &mut fired,
        );
        assert_eq!(c, Class::Confidential);
        assert_eq!(fired[0].rule, "class.min_class");
    }

    #[test]
    fn pii_raises_but_never_lowers() {
        let pii = ContentSignals {
            pii_types: vec!["EMAIL"],
        };
        let mut fired = Vec::new();
        assert_eq!(
            decide(
                Some(Class::Public),
                Class::Internal,
                Class::Public,
                &pii,
                Class::Confidential,
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
                Class::Confidential,
                &mut fired
            ),
            Class::Restricted
        );
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
        fn the_class_is_never_below_any_floor(declared in proptest::option::of(any_class()), default in any_class(), min in any_class(), raise in any_class(), pii: bool) {
            let signals = ContentSignals { pii_types: if pii { vec!["EMAIL"] } else { vec![] } };
            let c = decide(declared, default, min, &signals, raise, &mut Vec::new());
            prop_assert!(c >= min);
            prop_assert!(c >= declared.unwrap_or(default));
            if pii { prop_assert!(c >= raise); }
        }
    }
}
