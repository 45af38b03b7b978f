//! Model patterns from config (`models`, a key's `allowed_models`): exact ids, or `*`
//! wildcards where the config wrote them. A leaf: the key store and the policy both match
//! with it.

/// A model pattern from config: exact, or with `*` wildcards where the config wrote them.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
}

impl Glob {
    pub fn new(pattern: &str) -> Self {
        Self {
            text: pattern.trim().to_ascii_lowercase(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_exact(&self) -> bool {
        !self.text.contains('*')
    }

    pub fn matches(&self, candidate: &str) -> bool {
        glob_match(self.text.as_bytes(), candidate.as_bytes())
    }
}

/// `*` matches any run of characters (including `/`); everything else matches itself.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(c) if Some(c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    p = bp + 1;
                    t = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|&c| c == b'*')
}
