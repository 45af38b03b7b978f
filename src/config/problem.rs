//! What is wrong with a config, as typed values: the key it is about and what is wrong.
//!
//! Every problem is collected (not just the first) so an operator fixes a config in one
//! round, and each names its key so `/readyz`, `orguard check` and the start-up error can
//! point at the line. Messages name keys and limits, never a secret's value.

use std::fmt;

/// One thing wrong with a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key, as an operator writes it (`policy.over_cap`, `classes.public.models[2]`);
    /// empty when the problem is about the file as a whole.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl Problem {
    /// A problem with the key at `path`.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A problem with the config as a whole (a missing file, say).
    pub fn whole(message: impl Into<String>) -> Self {
        Self::at(String::new(), message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The problems found so far by the compile step.
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// Records that the key at `path` is wrong, and why.
    pub fn at(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::at(path, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}
