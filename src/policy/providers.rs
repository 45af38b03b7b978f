//! The `provider` object: orguard writes it, the client can only narrow it.
//!
//! Output, for OpenRouter (openrouter-api.md §1.3, §9.1): `only` = the class's providers
//! (or the client's narrower `only`), `order` = the client's order filtered to what is
//! allowed (else the class order), `allow_fallbacks = false` unless the class allows,
//! `require_parameters = true`, `data_collection` and `zdr` from the class. A client value
//! that would widen any of these is overridden (`narrow_only`) or refused (`deny`).

use serde_json::{Map, Value};

use super::{ClassPolicy, Denial, FiredRule, Overrides};
use crate::error_code::ErrorCode;

/// Every field OpenRouter documents inside `provider`; anything else is refused (a misspelt
/// `zdr` must fail loudly, not be dropped somewhere upstream).
const KNOWN_FIELDS: [&str; 14] = [
    "order",
    "allow_fallbacks",
    "require_parameters",
    "data_collection",
    "zdr",
    "enforce_distillable_text",
    "only",
    "ignore",
    "quantizations",
    "sort",
    "preferred_min_throughput",
    "preferred_max_latency",
    "max_price",
    "experimental",
];

/// Fields that can only narrow the set of endpoints (or reorder inside it): kept as sent.
const NARROWING_FIELDS: [&str; 7] = [
    "ignore",
    "quantizations",
    "sort",
    "preferred_min_throughput",
    "preferred_max_latency",
    "max_price",
    "enforce_distillable_text",
];

/// Endpoint suffixes that select a service tier; a base slug does not cover them.
const TIER_SUFFIXES: [&str; 2] = ["priority", "flex"];

/// The provider set a class allows. `None`: any provider.
pub fn allowed(class: &ClassPolicy) -> Option<&[String]> {
    (!class.providers.is_empty()).then_some(class.providers.as_slice())
}

/// Whether an allowed entry covers a requested slug: equal, or a base slug covering one of
/// its endpoints (`deepinfra` covers `deepinfra/turbo`) except service-tier endpoints.
pub fn covers(allowed: &str, slug: &str) -> bool {
    if allowed == slug {
        return true;
    }
    // One endpoint tag below the base (`deepinfra/turbo`, `google-vertex/us-east5`),
    // never a service tier, and nothing deeper.
    match slug
        .strip_prefix(allowed)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(tag) => {
            !allowed.contains('/')
                && !TIER_SUFFIXES.contains(&tag)
                && (1..=40).contains(&tag.len())
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        }
        None => false,
    }
}

fn normalise_slug(v: &Value, field: &'static str) -> Result<String, Denial> {
    let invalid = || {
        Denial::invalid_param(
            ErrorCode::InvalidProviderField,
            format!("provider.{field} must be a list of provider slugs"),
            "provider",
        )
    };
    let s = v.as_str().ok_or_else(invalid)?.trim().to_ascii_lowercase();
    if s.is_empty()
        || s.len() > 100
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
    {
        return Err(invalid());
    }
    Ok(s)
}

fn slug_list(v: Option<&Value>, field: &'static str) -> Result<Option<Vec<String>>, Denial> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| normalise_slug(i, field))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(Denial::invalid_param(
            ErrorCode::InvalidProviderField,
            format!("provider.{field} must be a list of provider slugs"),
            "provider",
        )),
    }
}

fn opt_bool(v: Option<&Value>, field: &'static str) -> Result<Option<bool>, Denial> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Denial::invalid_param(
            ErrorCode::InvalidProviderField,
            format!("provider.{field} must be a boolean"),
            "provider",
        )),
    }
}

/// Records a widening attempt: overridden in `narrow_only` mode, refused in `deny` mode.
fn widen(
    overrides: Overrides,
    fired: &mut Vec<FiredRule>,
    rule: &'static str,
    detail: String,
) -> Result<(), Denial> {
    match overrides {
        Overrides::NarrowOnly => {
            fired.push(FiredRule::new(rule, detail));
            Ok(())
        }
        Overrides::Deny => Err(Denial::forbidden(
            ErrorCode::ProviderOverrideDenied,
            format!("{detail}; policy.client_overrides = \"deny\""),
        )),
    }
}

/// Builds the `provider` object to forward from the client's (if any, as parsed) and the
/// class.
pub fn build(
    client: Option<&Map<String, Value>>,
    class: &ClassPolicy,
    overrides: Overrides,
    fired: &mut Vec<FiredRule>,
) -> Result<Value, Denial> {
    let empty = Map::new();
    let client = client.unwrap_or(&empty);
    if let Some(unknown) = client.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        // The key is client text: name only its length, never echo it.
        return Err(Denial::invalid_param(
            ErrorCode::UnknownProviderField,
            format!("provider has an unknown field ({} characters); orguard refuses fields it cannot check", unknown.len()),
            "provider",
        ));
    }
    let name = class.class.as_str();
    let allowed = allowed(class);
    let is_allowed = |slug: &str| allowed.is_none_or(|list| list.iter().any(|a| covers(a, slug)));

    // only: the client's list, minus what the class does not allow; else the class list.
    // An empty list says nothing; it is treated as absent (the class list applies).
    let only = match slug_list(client.get("only"), "only")?.filter(|l| !l.is_empty()) {
        Some(list) => {
            let (kept, dropped): (Vec<_>, Vec<_>) = list.into_iter().partition(|s| is_allowed(s));
            if !dropped.is_empty() {
                widen(
                    overrides,
                    fired,
                    "provider.only.filtered",
                    format!(
                        "provider.only named {} provider(s) not allowed for class {name}",
                        dropped.len()
                    ),
                )?;
            }
            if kept.is_empty() {
                return Err(Denial::forbidden(
                    ErrorCode::ProviderNotAllowed,
                    format!("none of the providers in provider.only is allowed for class {name}"),
                ));
            }
            Some(kept)
        }
        None => allowed.map(<[String]>::to_vec),
    };
    let in_only = |slug: &str| {
        only.as_ref()
            .is_none_or(|list| list.iter().any(|a| covers(a, slug)))
    };

    // order: the client's order inside `only`; else the class order.
    let order = match slug_list(client.get("order"), "order")?.filter(|l| !l.is_empty()) {
        Some(list) => {
            let (kept, dropped): (Vec<_>, Vec<_>) = list.into_iter().partition(|s| in_only(s));
            if !dropped.is_empty() {
                widen(
                    overrides,
                    fired,
                    "provider.order.filtered",
                    format!(
                        "provider.order named {} provider(s) not allowed for class {name}",
                        dropped.len()
                    ),
                )?;
            }
            if kept.is_empty() {
                only.clone()
            } else {
                Some(kept)
            }
        }
        None => only.clone(),
    };

    let allow_fallbacks = match opt_bool(client.get("allow_fallbacks"), "allow_fallbacks")? {
        Some(true) if !class.allow_fallbacks => {
            widen(
                overrides,
                fired,
                "provider.allow_fallbacks.overridden",
                format!("provider.allow_fallbacks = true is not allowed for class {name}"),
            )?;
            false
        }
        Some(b) => b,
        None => class.allow_fallbacks,
    };
    if opt_bool(client.get("require_parameters"), "require_parameters")? == Some(false) {
        widen(
            overrides,
            fired,
            "provider.require_parameters.overridden",
            "provider.require_parameters = false would let providers drop parameters silently"
                .to_owned(),
        )?;
    }
    let data_collection = match client.get("data_collection") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "allow" || s == "deny" => Some(s.as_str()),
        Some(_) => {
            return Err(Denial::invalid_param(
                ErrorCode::InvalidProviderField,
                "provider.data_collection must be \"allow\" or \"deny\"".to_owned(),
                "provider",
            ))
        }
    };
    let data_collection = match (class.data_collection_deny, data_collection) {
        (true, Some("allow")) => {
            widen(
                overrides,
                fired,
                "provider.data_collection.overridden",
                format!("provider.data_collection = \"allow\" is not allowed for class {name}"),
            )?;
            "deny"
        }
        (true, _) | (false, Some("deny")) => "deny",
        (false, _) => "allow",
    };
    let zdr = match opt_bool(client.get("zdr"), "zdr")? {
        Some(false) if class.zdr => {
            widen(
                overrides,
                fired,
                "provider.zdr.overridden",
                format!("provider.zdr = false is not allowed for class {name}"),
            )?;
            true
        }
        Some(b) => b || class.zdr,
        None => class.zdr,
    };

    let mut out = Map::new();
    if let Some(only) = only {
        out.insert("only".into(), Value::from(only));
    }
    if let Some(order) = order {
        out.insert("order".into(), Value::from(order));
    }
    out.insert("allow_fallbacks".into(), Value::Bool(allow_fallbacks));
    out.insert("require_parameters".into(), Value::Bool(true));
    out.insert("data_collection".into(), Value::from(data_collection));
    out.insert("zdr".into(), Value::Bool(zdr));
    for field in NARROWING_FIELDS {
        if let Some(v) = client.get(field).filter(|v| !v.is_null()) {
            out.insert(field.into(), v.clone());
        }
    }
    fired.push(FiredRule::new(
        "provider.pinned",
        format!("provider routing written for class {name}"),
    ));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::tests::class_policy;

    fn class() -> ClassPolicy {
        let mut c = class_policy(&["*"]);
        c.providers = vec!["anthropic".into(), "openai".into(), "deepinfra".into()];
        c.data_collection_deny = true;
        c.zdr = true;
        c
    }

    fn run(client: Value, overrides: Overrides) -> Result<Value, ErrorCode> {
        let client = client
            .as_object()
            .expect("the parse stage only passes objects");
        build(Some(client), &class(), overrides, &mut Vec::new()).map_err(|d| d.code)
    }

    #[test]
    fn slug_coverage() {
        assert!(covers("deepinfra", "deepinfra/turbo"));
        assert!(covers("openai", "openai"));
        assert!(!covers("openai", "openai/priority"));
        assert!(!covers("google-vertex", "google-vertex/flex"));
        assert!(covers("google-vertex", "google-vertex/us-east5"));
        assert!(!covers("openai", "openaix"));
        assert!(!covers("deepinfra/turbo", "deepinfra"));
        assert!(!covers("deepinfra", "deepinfra/turbo/x"));
        assert!(!covers(
            "deepinfra",
            &format!("deepinfra/{}", "a".repeat(41))
        ));
    }

    #[test]
    fn no_client_provider_pins_the_class() {
        let out = build(None, &class(), Overrides::NarrowOnly, &mut Vec::new()).unwrap();
        assert_eq!(
            out,
            json!({"only":["anthropic","openai","deepinfra"],"order":["anthropic","openai","deepinfra"],
            "allow_fallbacks":false,"require_parameters":true,"data_collection":"deny","zdr":true})
        );
    }

    #[test]
    fn narrower_client_choices_are_kept() {
        let out = run(json!({"only":["OpenAI "," deepinfra/turbo"],"order":["deepinfra/turbo"],"sort":"price","ignore":["azure"],"max_price":{"prompt":1}}), Overrides::Deny).unwrap();
        assert_eq!(out["only"], json!(["openai", "deepinfra/turbo"]));
        assert_eq!(out["order"], json!(["deepinfra/turbo"]));
        assert_eq!(out["sort"], "price");
        assert_eq!(out["ignore"], json!(["azure"]));
        assert_eq!(out["max_price"], json!({"prompt":1}));
    }

    #[test]
    fn widening_is_overridden_or_denied() {
        let attempts = [
            json!({"only":["openai","together"]}),
            json!({"order":["together","openai"]}),
            json!({"allow_fallbacks":true}),
            json!({"require_parameters":false}),
            json!({"data_collection":"allow"}),
            json!({"zdr":false}),
            json!({"only":["openai/priority","openai"]}),
        ];
        for a in attempts {
            let out = run(a.clone(), Overrides::NarrowOnly).unwrap();
            assert_eq!(out["allow_fallbacks"], false, "{a}");
            assert_eq!(out["require_parameters"], true, "{a}");
            assert_eq!(out["data_collection"], "deny", "{a}");
            assert_eq!(out["zdr"], true, "{a}");
            for list in ["only", "order"] {
                for s in out[list].as_array().unwrap() {
                    assert!(
                        ["anthropic", "openai", "deepinfra"].contains(&s.as_str().unwrap()),
                        "{a}: {s}"
                    );
                }
            }
            assert_eq!(
                run(a.clone(), Overrides::Deny),
                Err(ErrorCode::ProviderOverrideDenied),
                "{a}"
            );
        }
    }

    #[test]
    fn refusals() {
        assert_eq!(
            run(json!({"only":["together"]}), Overrides::NarrowOnly),
            Err(ErrorCode::ProviderNotAllowed)
        );
        assert_eq!(
            run(json!({"only":["openai/priority"]}), Overrides::NarrowOnly),
            Err(ErrorCode::ProviderNotAllowed)
        );
        assert_eq!(
            run(json!({"zrd":true}), Overrides::NarrowOnly),
            Err(ErrorCode::UnknownProviderField)
        );
        assert_eq!(
            run(json!({"only":"openai"}), Overrides::NarrowOnly),
            Err(ErrorCode::InvalidProviderField)
        );
        assert_eq!(
            run(json!({"only":[1]}), Overrides::NarrowOnly),
            Err(ErrorCode::InvalidProviderField)
        );
        assert_eq!(
            run(json!({"only":["ореnai"]}), Overrides::NarrowOnly),
            Err(ErrorCode::InvalidProviderField)
        );
        assert_eq!(
            run(json!({"allow_fallbacks":"false"}), Overrides::NarrowOnly),
            Err(ErrorCode::InvalidProviderField)
        );
        assert_eq!(
            run(json!({"data_collection":"maybe"}), Overrides::NarrowOnly),
            Err(ErrorCode::InvalidProviderField)
        );
    }

    #[test]
    fn an_open_class_still_sets_the_safety_flags() {
        let mut c = class_policy(&["*"]);
        c.data_collection_deny = false;
        let out = build(
            json!({"only":["together"],"data_collection":"deny"}).as_object(),
            &c,
            Overrides::NarrowOnly,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(out["only"], json!(["together"]));
        assert_eq!(out["data_collection"], "deny");
        assert_eq!(out["require_parameters"], true);
        assert_eq!(out["allow_fallbacks"], false);
    }

    #[test]
    fn key_case_and_empty_lists() {
        assert_eq!(
            run(json!({"Only":["openai"]}), Overrides::NarrowOnly),
            Err(ErrorCode::UnknownProviderField)
        );
        assert_eq!(
            run(json!({"only":[]}), Overrides::Deny).unwrap()["only"],
            json!(["anthropic", "openai", "deepinfra"])
        );
        assert_eq!(
            run(json!({"order":[]}), Overrides::Deny).unwrap()["order"],
            json!(["anthropic", "openai", "deepinfra"])
        );
        // `ignore` only removes endpoints; it cannot add one.
        let out = run(json!({"ignore":["openai"]}), Overrides::Deny).unwrap();
        assert_eq!(out["only"], json!(["anthropic", "openai", "deepinfra"]));
        assert_eq!(out["ignore"], json!(["openai"]));
    }
}
