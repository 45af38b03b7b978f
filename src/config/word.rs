//! Settings that take one of a fixed set of words (`over_cap = "clamp"`), read straight into
//! the enum that means it.
//!
//! The enums derive `Deserialize`, so the accepted words are the variants' names and no
//! hand-written match can drift from them. A word the enum does not know is kept rather
//! than failing the load, so the compile step reports it beside every other problem in the
//! file, named by its key.

use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Deserializer};

use super::problem::Problems;

/// One word of a setting: the value it names, or why the word was not understood (the word
/// as written, then serde's account of what was expected: `expected \`clamp\` or \`deny\``).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word<T> {
    Known(T),
    Unknown(String),
}

impl<T> From<T> for Word<T> {
    fn from(value: T) -> Self {
        Self::Known(value)
    }
}

impl<T: Copy> Word<T> {
    /// The value, or (recording the problem at `path`) `fallback`, which only keeps the
    /// compile step going: a config with a problem is never used.
    pub fn or_problem(&self, path: impl Into<String>, fallback: T, problems: &mut Problems) -> T {
        match self {
            Self::Known(value) => *value,
            Self::Unknown(reason) => {
                problems.at(path, reason.clone());
                fallback
            }
        }
    }
}

/// Reads `word` as `T`. Case and surrounding spaces are not part of the word (`"Clamp "` is
/// `clamp`), as class names never were.
pub fn read<T: DeserializeOwned>(word: &str) -> Word<T> {
    let normal = word.trim().to_ascii_lowercase();
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        normal.as_str().into_deserializer();
    match T::deserialize(de) {
        Ok(value) => Word::Known(value),
        Err(e) => Word::Unknown(format!("{word:?}: {e}")),
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Word<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let word = String::deserialize(deserializer)?;
        Ok(read(&word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::OverCap;

    #[test]
    fn known_words_case_and_spaces_aside_and_unknown_ones_kept_for_the_report() {
        assert_eq!(read::<OverCap>("clamp"), Word::Known(OverCap::Clamp));
        assert_eq!(read::<OverCap>(" Deny "), Word::Known(OverCap::Deny));
        let Word::Unknown(reason) = read::<OverCap>("clam") else {
            panic!("clam is not a word of over_cap");
        };
        assert!(
            reason.starts_with("\"clam\"")
                && reason.contains("`clamp`")
                && reason.contains("`deny`"),
            "{reason}"
        );
        let mut problems = Problems::default();
        let got =
            read::<OverCap>("clam").or_problem("policy.over_cap", OverCap::Deny, &mut problems);
        assert_eq!(got, OverCap::Deny);
        let problems = problems.into_vec();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "policy.over_cap");
    }
}
