//! The data classes, lowest to highest sensitivity. A leaf: keys name the classes a caller
//! may use, the policy decides a request's class (`policy::class`), and everything after
//! labels its records with it.

/// Data classes, lowest to highest sensitivity. The derived order is the policy order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
