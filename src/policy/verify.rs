//! After the response: did the upstream serve what policy allowed? (DESIGN.md §2 step 9)
//!
//! OpenRouter reports the serving provider as a *display name* ("Google" is the slug
//! `google-vertex`) and the model that really served (after any fallback) on the JSON body
//! and on every stream chunk. BYOK has no request switch upstream: `usage.is_byok` is the
//! only proof, so classes that require it check that too.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::models;
use super::providers::covers;
use super::{ClassPolicy, OnViolation};

/// Display name (lowercase) → slug, for the providers whose names are not simply their
/// slug. Config `[provider_names]` extends and overrides it.
const BUILT_IN_NAMES: [(&str, &str); 22] = [
    ("google", "google-vertex"),
    ("google vertex", "google-vertex"),
    ("google ai studio", "google-ai-studio"),
    ("amazon bedrock", "amazon-bedrock"),
    ("moonshot ai", "moonshotai"),
    ("z.ai", "z-ai"),
    ("inference.net", "inference-net"),
    ("mancer 2", "mancer"),
    ("openai", "openai"),
    ("anthropic", "anthropic"),
    ("azure", "azure"),
    ("together", "together"),
    ("deepinfra", "deepinfra"),
    ("xai", "xai"),
    ("mistral", "mistral"),
    ("groq", "groq"),
    ("fireworks", "fireworks"),
    ("cerebras", "cerebras"),
    ("deepseek", "deepseek"),
    ("novita", "novita"),
    ("nebius", "nebius"),
    ("cohere", "cohere"),
];

/// Maps display names to slugs.
#[derive(Debug, Clone)]
pub struct ProviderNames {
    built_in: HashMap<String, String>,
    overrides: HashMap<String, String>,
    /// Learned from the upstream's `GET /providers`; shared by every config snapshot of the
    /// process, so a reload keeps what was learned.
    learned: Arc<ArcSwap<HashMap<String, String>>>,
}

impl ProviderNames {
    pub fn new(overrides: &std::collections::BTreeMap<String, String>) -> Self {
        let built_in = BUILT_IN_NAMES
            .iter()
            .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
            .collect();
        let overrides = overrides
            .iter()
            .map(|(n, s)| (n.trim().to_lowercase(), s.trim().to_ascii_lowercase()))
            .collect();
        Self {
            built_in,
            overrides,
            learned: Arc::new(ArcSwap::from_pointee(HashMap::new())),
        }
    }

    /// Shares `learned` (the process's table) with this snapshot.
    pub fn attach(&mut self, learned: Arc<ArcSwap<HashMap<String, String>>>) {
        self.learned = learned;
    }

    /// The shared table the `GET /providers` refresh writes to.
    pub fn learned(&self) -> Arc<ArcSwap<HashMap<String, String>>> {
        Arc::clone(&self.learned)
    }

    /// The slug for a display name: config overrides, then what the upstream said, then the
    /// built-in table; a value that is already a slug maps to itself.
    pub fn slug(&self, display: &str) -> String {
        let key = display.trim().to_lowercase();
        if let Some(s) = self.overrides.get(&key) {
            return s.clone();
        }
        if let Some(s) = self.learned.load().get(&key) {
            return s.clone();
        }
        self.built_in
            .get(&key)
            .cloned()
            .unwrap_or_else(|| key.replace(' ', "-"))
    }
}

/// What the response must satisfy, fixed when the request was planned.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// Allowed provider slugs (what `only` said); `None` when the class allows any, or the
    /// upstream is not OpenRouter.
    pub providers: Option<Vec<String>>,
    /// Model ids forwarded (`model` and `models`), normalised.
    pub models: Vec<String>,
    pub require_byok: bool,
    pub on_violation: OnViolation,
}

/// The kinds of mismatch between policy and what served the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    ServedProvider,
    ServedModel,
    NotByok,
    /// A response event that could not be read, so nothing about it could be checked.
    Unverifiable,
}

impl ViolationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServedProvider => "served_provider_not_allowed",
            Self::ServedModel => "served_model_not_allowed",
            Self::NotByok => "byok_not_proven",
            Self::Unverifiable => "unverifiable_response",
        }
    }
}

/// A detected violation. `served` is the upstream's own id for the provider or model,
/// reduced to a safe alphabet, so it can be logged and audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    pub served: String,
}

/// The metadata orguard reads from a response body or a stream chunk. Borrowed, and every
/// other field is skipped, so checking a chunk costs one pass over it.
#[derive(Debug, Default, Deserialize)]
pub struct ServedMeta<'a> {
    /// The generation id (`gen-…`).
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub provider: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub model: Option<Cow<'a, str>>,
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Responses-API events carry their metadata inside `response`.
    #[serde(borrow, default)]
    pub response: Option<Box<ServedMeta<'a>>>,
    /// The `finish_reason` of each choice that has one (for the trace).
    #[serde(default)]
    pub choices: Option<FinishReasons>,
}

/// The non-null `finish_reason`s of a `choices` array. Every other field of a choice (the
/// model's output among them) is skipped unread, and nothing is allocated for a chunk
/// without a finish reason: most stream chunks.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FinishReasons(pub Vec<String>);

impl<'de> Deserialize<'de> for FinishReasons {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Choice<'a> {
            #[serde(borrow, default)]
            finish_reason: Option<Cow<'a, str>>,
        }
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = FinishReasons;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a choices array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<FinishReasons, A::Error> {
                let mut out = Vec::new();
                while let Some(choice) = seq.next_element::<Choice<'de>>()? {
                    if let Some(reason) = choice.finish_reason {
                        out.push(safe(&reason));
                    }
                }
                Ok(FinishReasons(out))
            }
        }
        d.deserialize_seq(Visit)
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub is_byok: Option<bool>,
    #[serde(default)]
    pub cost: Option<f64>,
    #[serde(default, alias = "input_tokens")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, alias = "output_tokens")]
    pub completion_tokens: Option<u64>,
}

impl<'a> ServedMeta<'a> {
    /// Reads the metadata from a JSON body or event. Fields of an unexpected type are
    /// ignored rather than failing the whole read (an unreadable `usage.cost` must not make
    /// the provider go unchecked). `None` when the payload is not a JSON object at all.
    pub fn read(payload: &'a [u8]) -> Option<ServedMeta<'a>> {
        let meta = match serde_json::from_slice::<ServedMeta<'a>>(payload) {
            Ok(m) => m,
            Err(_) => ServedMeta::lenient(&serde_json::from_slice::<Value>(payload).ok()?)?,
        };
        Some(meta.flatten())
    }

    fn lenient(v: &Value) -> Option<ServedMeta<'static>> {
        let obj = v.as_object()?;
        let text = |k: &str| {
            obj.get(k)
                .and_then(Value::as_str)
                .map(|s| Cow::Owned(s.to_owned()))
        };
        let usage = obj.get("usage").and_then(Value::as_object).map(|u| {
            let num = |k: &str| {
                u.get(k).and_then(|v| {
                    v.as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
            };
            let int = |k: &str, alt: &str| u.get(k).or_else(|| u.get(alt)).and_then(Value::as_u64);
            Usage {
                is_byok: u.get("is_byok").and_then(Value::as_bool),
                cost: num("cost"),
                prompt_tokens: int("prompt_tokens", "input_tokens"),
                completion_tokens: int("completion_tokens", "output_tokens"),
            }
        });
        let response = obj
            .get("response")
            .and_then(ServedMeta::lenient)
            .map(Box::new);
        let choices = Some(FinishReasons(
            obj.get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("finish_reason").and_then(Value::as_str))
                .map(safe)
                .collect(),
        ));
        Some(ServedMeta {
            id: text("id"),
            provider: text("provider"),
            model: text("model"),
            usage,
            response,
            choices,
        })
    }

    /// Fills missing top-level fields from a nested `response` object.
    fn flatten(mut self) -> Self {
        if let Some(inner) = self.response.take() {
            let inner = inner.flatten();
            self.id = self.id.or(inner.id);
            self.provider = self.provider.or(inner.provider);
            self.model = self.model.or(inner.model);
            self.usage = self.usage.or(inner.usage);
            self.choices = self.choices.or(inner.choices);
        }
        self
    }
}

/// An upstream-chosen id as the audit and the log may write it: the characters of model
/// and provider ids, at most 100. Not `@`: the text is the upstream's, and with `@` an
/// e-mail address it put in a model id would reach the audit whole (a review found it).
fn safe(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || " ._:/-".contains(*c))
        .take(100)
        .collect()
}

impl Expectation {
    /// Checks the served provider and model. Missing fields are not violations (some
    /// endpoints never report a provider); present ones must be allowed.
    pub fn check_meta(
        &self,
        meta: &ServedMeta<'_>,
        class: &ClassPolicy,
        names: &ProviderNames,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        if let (Some(allowed), Some(display)) = (&self.providers, meta.provider.as_deref()) {
            let slug = names.slug(display);
            let base = slug.split('/').next().unwrap_or_default();
            let ok = allowed
                .iter()
                .any(|a| covers(a, &slug) || a.split('/').next() == Some(base));
            if !ok {
                out.push(Violation {
                    kind: ViolationKind::ServedProvider,
                    served: safe(display),
                });
            }
        }
        if let Some(served) = meta.model.as_deref() {
            let normalised = served.trim().to_ascii_lowercase();
            let forwarded = self.models.contains(&normalised);
            let allowed =
                forwarded || models::parse(served).is_ok_and(|m| models::check(&m, class).is_ok());
            if !allowed {
                out.push(Violation {
                    kind: ViolationKind::ServedModel,
                    served: safe(served),
                });
            }
        }
        out
    }

    /// Checks the BYOK proof once usage is known (`None`: the response carried no usage).
    pub fn check_usage(&self, usage: Option<&Usage>) -> Option<Violation> {
        if !self.require_byok {
            return None;
        }
        match usage.and_then(|u| u.is_byok) {
            Some(true) => None,
            Some(false) => Some(Violation {
                kind: ViolationKind::NotByok,
                served: "is_byok=false".to_owned(),
            }),
            None => Some(Violation {
                kind: ViolationKind::NotByok,
                served: "is_byok missing".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::policy::tests::class_policy;

    fn expectation() -> Expectation {
        Expectation {
            providers: Some(vec![
                "google-vertex".into(),
                "openai".into(),
                "deepinfra/turbo".into(),
            ]),
            models: vec!["openai/gpt-4o".into()],
            require_byok: true,
            on_violation: OnViolation::Block,
        }
    }

    fn meta(provider: Option<&'static str>, model: Option<&'static str>) -> ServedMeta<'static> {
        ServedMeta {
            id: None,
            provider: provider.map(Into::into),
            model: model.map(Into::into),
            usage: None,
            response: None,
            choices: None,
        }
    }

    /// Finish reasons are read from the choices, null ones skipped, nothing else kept; a
    /// `choices: null` does not spoil the rest of the read.
    #[test]
    fn finish_reasons_are_read_from_the_choices() {
        let read = |body: &str| {
            ServedMeta::read(body.as_bytes())
                .unwrap_or_else(|| panic!("{body}"))
                .choices
                .map(|c| c.0)
        };
        assert_eq!(
            read(r#"{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#),
            Some(vec![])
        );
        assert_eq!(
            read(
                r#"{"model":"m","choices":[{"finish_reason":"stop","message":{"content":"x"}},{"finish_reason":"length"}]}"#
            ),
            Some(vec!["stop".to_owned(), "length".to_owned()])
        );
        let meta = ServedMeta::read(br#"{"model":"m","choices":null}"#).unwrap_or_default();
        assert_eq!(meta.model.as_deref(), Some("m"));
        assert_eq!(read(r#"{"object":"embedding"}"#), None);
    }

    #[test]
    fn served_provider_is_mapped_and_checked() {
        let names = ProviderNames::new(&BTreeMap::from([(
            "Acme Cloud".to_owned(),
            "acme".to_owned(),
        )]));
        let class = class_policy(&["openai/*"]);
        let e = expectation();
        for ok in ["Google", "OpenAI", "openai", "DeepInfra"] {
            assert!(
                e.check_meta(&meta(Some(ok), None), &class, &names)
                    .is_empty(),
                "{ok}"
            );
        }
        for bad in ["Google AI Studio", "Together", "Acme Cloud", "Azure"] {
            let v = e.check_meta(&meta(Some(bad), None), &class, &names);
            assert_eq!(v[0].kind, ViolationKind::ServedProvider, "{bad}");
        }
        assert_eq!(names.slug("Acme Cloud"), "acme");
    }

    #[test]
    fn served_model_must_be_forwarded_or_allowed() {
        let names = ProviderNames::new(&BTreeMap::new());
        let class = class_policy(&["openai/gpt-4o*"]);
        let e = expectation();
        assert!(e
            .check_meta(&meta(None, Some("openai/gpt-4o")), &class, &names)
            .is_empty());
        assert!(e
            .check_meta(
                &meta(None, Some("openai/gpt-4o-2024-08-06")),
                &class,
                &names
            )
            .is_empty());
        for bad in [
            "anthropic/claude-3.5-sonnet",
            "openai/gpt-4o:free",
            "openrouter/auto",
            "bad model\u{0}",
        ] {
            assert_eq!(
                e.check_meta(&meta(None, Some(bad)), &class, &names)[0].kind,
                ViolationKind::ServedModel,
                "{bad}"
            );
        }
        // The violation names the served id stripped of what an id never holds, `@`
        // included: an e-mail address hidden in a served id must not reach the audit.
        let served = |id: &'static str| {
            e.check_meta(&meta(None, Some(id)), &class, &names)
                .first()
                .map(|v| v.served.clone())
        };
        assert_eq!(
            served("anthropic/claude-3-opus@jane.doe@example.com").as_deref(),
            Some("anthropic/claude-3-opusjane.doeexample.com")
        );
        assert_eq!(served("bad model\u{0}\n").as_deref(), Some("bad model"));
    }

    #[test]
    fn byok_proof() {
        let e = expectation();
        assert!(e
            .check_usage(Some(&Usage {
                is_byok: Some(true),
                ..Usage::default()
            }))
            .is_none());
        assert_eq!(
            e.check_usage(Some(&Usage {
                is_byok: Some(false),
                ..Usage::default()
            }))
            .unwrap()
            .kind,
            ViolationKind::NotByok
        );
        assert!(e.check_usage(None).is_some());
        let relaxed = Expectation {
            require_byok: false,
            ..expectation()
        };
        assert!(relaxed.check_usage(None).is_none());
    }

    #[test]
    fn reading_is_lenient_and_sees_into_responses_events() {
        let m = ServedMeta::read(br#"{"provider":"OpenAI","model":"openai/gpt-4o","usage":{"cost":"0.5","is_byok":true,"prompt_tokens":"x"}}"#).unwrap();
        assert_eq!(m.provider.as_deref(), Some("OpenAI"));
        assert_eq!(m.usage.as_ref().unwrap().cost, Some(0.5));
        assert_eq!(m.usage.as_ref().unwrap().is_byok, Some(true));
        let m = ServedMeta::read(br#"{"provider":7,"model":"openai/gpt-4o"}"#).unwrap();
        assert_eq!(m.model.as_deref(), Some("openai/gpt-4o"));
        let m = ServedMeta::read(br#"{"type":"response.completed","response":{"id":"resp_1","model":"openai/gpt-4o","usage":{"input_tokens":5,"output_tokens":7}}}"#).unwrap();
        assert_eq!(m.model.as_deref(), Some("openai/gpt-4o"));
        assert_eq!(m.usage.as_ref().unwrap().completion_tokens, Some(7));
        assert!(ServedMeta::read(b"not json").is_none());
        assert!(ServedMeta::read(b"[1,2]").is_none());
    }
}
