//! Model ids: parsing them into parts, and the rules on which a class may reach.
//!
//! Ids are compared after normalising case and surrounding whitespace, on a strict ASCII
//! alphabet, so look-alike letters (Cyrillic `о` in `gpt-4о`) and control characters are
//! refused rather than matched. Variant suffixes are parsed, not string-matched away: each
//! one has its own permission, and an unknown one is denied.

use super::{ClassPolicy, Denial};
use crate::error_code::ErrorCode;

pub use crate::glob::Glob;

/// Longest model id accepted.
const MAX_MODEL_LEN: usize = 200;

/// A `:suffix` on a model id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Free,
    Online,
    Nitro,
    Floor,
    Exacto,
    Thinking,
    Extended,
}

impl Variant {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "free" => Self::Free,
            "online" => Self::Online,
            "nitro" => Self::Nitro,
            "floor" => Self::Floor,
            "exacto" => Self::Exacto,
            "thinking" => Self::Thinking,
            "extended" => Self::Extended,
            _ => return None,
        })
    }
}

/// `id` as the audit may record it: whole when every `:` suffix is a known variant, else
/// only what precedes the first `:` (an unknown suffix is free client text, and a chained
/// record cannot be cleaned afterwards).
pub fn recordable(id: &str) -> &str {
    let mut parts = id.split(':');
    let base = parts.next().unwrap_or_default();
    if parts.all(|suffix| Variant::parse(suffix).is_some()) {
        id
    } else {
        base
    }
}

/// What an id names, as far as policy is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// `author/slug`: checked against the class's patterns.
    Regular,
    /// `openrouter/…`: a router whose target cannot be checked in advance.
    Router,
    /// `~author/…-latest`: an alias that resolves upstream.
    Alias,
    /// `@preset/…` anywhere: server-side settings that can add anything.
    Preset,
}

/// A parsed model id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// The whole id, normalised (lowercase, trimmed). This is what is forwarded.
    pub id: String,
    /// The id without variant suffixes.
    pub base: String,
    pub variants: Vec<Variant>,
    pub kind: ModelKind,
}

/// Parses and normalises a model id. Malformed ids are 400s; they are never forwarded.
pub fn parse(raw: &str) -> Result<ModelRef, Denial> {
    let invalid = |why: &str| {
        Denial::invalid(
            ErrorCode::InvalidModel,
            format!("model id is invalid: {why}"),
        )
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(invalid("empty"));
    }
    if trimmed.len() > MAX_MODEL_LEN {
        return Err(invalid("too long"));
    }
    if !trimmed.is_ascii() {
        return Err(invalid(
            "non-ASCII characters (look-alike letters are not accepted)",
        ));
    }
    let id = trimmed.to_ascii_lowercase();
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./:@~".contains(&b))
    {
        return Err(invalid(
            "only letters, digits and - _ . / : @ ~ are allowed",
        ));
    }
    if id.contains("@preset/") || id.starts_with('@') {
        return Ok(ModelRef {
            base: id.clone(),
            id,
            variants: Vec::new(),
            kind: ModelKind::Preset,
        });
    }
    if id.contains('@') {
        return Err(invalid("'@' is only valid in @preset/ names"));
    }
    let mut parts = id.split(':');
    let base = parts.next().unwrap_or_default().to_owned();
    let mut variants = Vec::new();
    for suffix in parts {
        if suffix.is_empty() {
            return Err(invalid("empty variant suffix"));
        }
        // The suffix is not named: it is whatever the client wrote after the `:`.
        let variant = Variant::parse(suffix).ok_or_else(|| {
            Denial::forbidden(
                ErrorCode::VariantNotAllowed,
                "the model id's variant suffix is not one orguard knows (:free, :online, :nitro, :floor, :exacto, :thinking, :extended) and is denied".to_owned(),
            )
        })?;
        variants.push(variant);
    }
    let (author, slug) = base
        .trim_start_matches('~')
        .split_once('/')
        .ok_or_else(|| invalid("expected author/model"))?;
    if author.is_empty() || slug.is_empty() || slug.starts_with('/') {
        return Err(invalid("expected author/model"));
    }
    let kind = if base.starts_with('~') {
        ModelKind::Alias
    } else if author == "openrouter" {
        ModelKind::Router
    } else {
        ModelKind::Regular
    };
    Ok(ModelRef {
        id,
        base,
        variants,
        kind,
    })
}

/// Checks one model against the caller key's own `allowed_models`, which can only narrow
/// what its class allows (the class check runs as well). No patterns: no narrowing.
pub fn check_key(model: &ModelRef, caller: &crate::keys::Caller) -> Result<(), Denial> {
    if caller.allowed_models.is_empty()
        || caller
            .allowed_models
            .iter()
            .any(|g| g.matches(&model.base) || g.matches(&model.id))
    {
        return Ok(());
    }
    Err(Denial::forbidden(
        ErrorCode::ModelNotAllowed,
        format!(
            "model {} is not allowed for key {} (its allowed_models)",
            model.base, caller.key_id
        ),
    ))
}

/// Checks one model against a class. `field` names where it came from (`model`, `models`).
pub fn check(model: &ModelRef, class: &ClassPolicy) -> Result<(), Denial> {
    let name = class.class.as_str();
    match model.kind {
        ModelKind::Preset => {
            if !class.allow_routers.contains(&model.id) {
                return Err(Denial::forbidden(ErrorCode::PresetNotAllowed, format!("presets are not allowed for class {name}: their settings cannot be checked in advance")));
            }
            return Ok(());
        }
        ModelKind::Alias | ModelKind::Router => {
            if !(class.allow_routers.contains(&model.base)
                || class.allow_routers.contains(&model.id))
            {
                return Err(Denial::forbidden(
                    ErrorCode::RouterNotAllowed,
                    format!("{} is a router or alias whose target cannot be checked in advance; not allowed for class {name}", model.base),
                ));
            }
        }
        ModelKind::Regular => {
            if !class.models.iter().any(|g| g.matches(&model.base)) {
                return Err(Denial::forbidden(
                    ErrorCode::ModelNotAllowed,
                    format!("model {} is not allowed for class {name}", model.base),
                ));
            }
        }
    }
    for v in &model.variants {
        let (allowed, code, what) = match v {
            Variant::Free => (
                class.allow_free_models,
                ErrorCode::FreeModelNotAllowed,
                "free (:free) models",
            ),
            Variant::Online => (
                class.allow_web,
                ErrorCode::WebNotAllowed,
                "web search (:online)",
            ),
            Variant::Nitro | Variant::Floor => (
                class.allow_tiers,
                ErrorCode::TierNotAllowed,
                "service tiers (:nitro, :floor)",
            ),
            Variant::Exacto | Variant::Thinking | Variant::Extended => {
                (true, ErrorCode::VariantNotAllowed, "")
            }
        };
        if !allowed {
            return Err(Denial::forbidden(
                code,
                format!("{what} are not allowed for class {name}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::class_policy;

    #[test]
    fn parsing_normalises_and_splits() {
        let m = parse("  OpenAI/GPT-4o:Free ").unwrap();
        assert_eq!(
            (m.id.as_str(), m.base.as_str()),
            ("openai/gpt-4o:free", "openai/gpt-4o")
        );
        assert_eq!(m.variants, [Variant::Free]);
        assert_eq!(parse("openrouter/auto").unwrap().kind, ModelKind::Router);
        assert_eq!(
            parse("~anthropic/claude-sonnet-latest").unwrap().kind,
            ModelKind::Alias
        );
        assert_eq!(parse("@preset/my-team").unwrap().kind, ModelKind::Preset);
        assert_eq!(
            parse("openai/gpt-4o@preset/x").unwrap().kind,
            ModelKind::Preset
        );
    }

    #[test]
    fn malformed_ids_are_invalid() {
        for bad in [
            "",
            "  ",
            "gpt-4o",
            "openai/",
            "/gpt",
            "openai/gpt-4о",
            "openai/gpt\u{200b}4o",
            "openai/gpt 4o",
            "openai/gpt\n4o",
            "openai/gpt-4o\u{0}",
            "openai/gpt-4o:",
            "a@b/c",
            "ｏpenai/gpt-4o",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidModel, "{bad:?}");
        }
        let unknown = parse("openai/gpt-4o:hunter2-p4ssw0rd").unwrap_err();
        assert_eq!(unknown.code, ErrorCode::VariantNotAllowed);
        assert!(!unknown.message.contains("hunter2"), "{}", unknown.message);
        assert_eq!(recordable("openai/gpt-4o:hunter2"), "openai/gpt-4o");
        assert_eq!(recordable("openai/gpt-4o:free:x"), "openai/gpt-4o");
        assert_eq!(
            recordable("openai/gpt-4o:free:nitro"),
            "openai/gpt-4o:free:nitro"
        );
        assert_eq!(recordable("openai/gpt-4o"), "openai/gpt-4o");
        assert!(parse(&format!("openai/{}", "a".repeat(250))).is_err());
    }

    #[test]
    fn globs() {
        let g = Glob::new("Anthropic/Claude-*");
        assert!(g.matches("anthropic/claude-3.5-sonnet"));
        assert!(!g.matches("anthropic/claud"));
        assert!(!g.matches("openai/anthropic/claude-x"));
        assert!(Glob::new("*").matches("x/y"));
        assert!(Glob::new("openai/gpt-4o*").matches("openai/gpt-4o"));
        assert!(Glob::new("*/gpt-*-mini").matches("openai/gpt-4o-mini"));
        assert!(!Glob::new("openai/gpt-4o").matches("openai/gpt-4o-mini"));
    }

    #[test]
    fn class_rules() {
        let c = class_policy(&["anthropic/claude-*", "openai/gpt-4o"]);
        let check_str = |s: &str| check(&parse(s).unwrap(), &c).map_err(|d| d.code);
        assert_eq!(check_str("anthropic/claude-3.5-sonnet"), Ok(()));
        assert_eq!(check_str(" ANTHROPIC/claude-3.5-sonnet "), Ok(()));
        assert_eq!(
            check_str("openai/gpt-4o-mini"),
            Err(ErrorCode::ModelNotAllowed)
        );
        assert_eq!(
            check_str("anthropic/claude-3.5-sonnet:free"),
            Err(ErrorCode::FreeModelNotAllowed)
        );
        assert_eq!(
            check_str("openai/gpt-4o:online"),
            Err(ErrorCode::WebNotAllowed)
        );
        assert_eq!(
            check_str("openai/gpt-4o:nitro"),
            Err(ErrorCode::TierNotAllowed)
        );
        assert_eq!(
            check_str("openai/gpt-4o:floor"),
            Err(ErrorCode::TierNotAllowed)
        );
        assert_eq!(check_str("openai/gpt-4o:exacto"), Ok(()));
        assert_eq!(
            check_str("openai/gpt-4o:thinking:free"),
            Err(ErrorCode::FreeModelNotAllowed)
        );
        assert_eq!(
            check_str("openrouter/auto"),
            Err(ErrorCode::RouterNotAllowed)
        );
        assert_eq!(
            check_str("openrouter/free"),
            Err(ErrorCode::RouterNotAllowed)
        );
        assert_eq!(
            check_str("~anthropic/claude-sonnet-latest"),
            Err(ErrorCode::RouterNotAllowed)
        );
        assert_eq!(
            check_str("@preset/anything"),
            Err(ErrorCode::PresetNotAllowed)
        );
        let any = class_policy(&["*"]);
        assert!(
            check(&parse("openrouter/auto").unwrap(), &any).is_err(),
            "* does not admit routers"
        );
        let mut routers = class_policy(&["*"]);
        routers.allow_routers.insert("openrouter/auto".into());
        assert!(check(&parse("openrouter/auto").unwrap(), &routers).is_ok());
        assert!(check(&parse("openrouter/fusion").unwrap(), &routers).is_err());
    }
}
