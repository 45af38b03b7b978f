//! What the gateway did to a request, told to the caller on the response.
//!
//! An app whose prompt was clamped, redacted or pinned to a provider should not have to ask
//! the operator why the answer differs from what it asked for. Every response orguard
//! forwards carries `x-orguard-class`, and, when the request was changed on the way,
//! `x-orguard-decisions`: short stable tags such as
//! `max_tokens_clamped,redacted:EMAIL,provider_pinned`. Tags are built from rule names and
//! detector type names only — never a value from the request.

use axum::http::{HeaderMap, HeaderValue};

use super::{Class, FiredRule};

/// The class the request was handled as.
pub const CLASS_HEADER: &str = "x-orguard-class";
/// Comma-separated tags for each change made to the request.
pub const DECISIONS_HEADER: &str = "x-orguard-decisions";

/// The tag for a fired rule, or `None` for rules that changed nothing in the request.
fn tag(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "tokens.clamped" => "max_tokens_clamped",
        "tokens.injected" => "max_tokens_injected",
        "reasoning.max_tokens" => "reasoning_max_tokens_clamped",
        "provider.pinned" => "provider_pinned",
        "provider.only.filtered" => "provider_only_filtered",
        "provider.order.filtered" => "provider_order_filtered",
        "provider.allow_fallbacks.overridden" => "provider_allow_fallbacks_overridden",
        "provider.require_parameters.overridden" => "provider_require_parameters_overridden",
        "provider.data_collection.overridden" => "provider_data_collection_overridden",
        "provider.zdr.overridden" => "provider_zdr_overridden",
        "user.pseudonymised" => "user_pseudonymised",
        "debug.stripped" => "debug_stripped",
        "trace.stripped" => "trace_stripped",
        "route.stripped" => "route_stripped",
        "upstream.selected" => "upstream_selected",
        "class.min_class" => "class_raised_to_min",
        "class.pii_raise" => "class_raised_by_content",
        "class.phi_raise" => "class_raised_by_phi",
        // Decisions that did not change the body (`models.allowed`), and the redaction
        // summary, which is told per type below.
        _ => return None,
    })
}

/// The `x-orguard-decisions` value: one tag per change, in rule order, then `redacted:TYPE`
/// per type rewritten. Empty when nothing was changed.
pub fn tags<'a>(fired: &[FiredRule], redacted_types: impl IntoIterator<Item = &'a str>) -> String {
    let mut out: Vec<String> = Vec::new();
    for t in fired.iter().filter_map(|r| tag(r.rule)) {
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    out.extend(redacted_types.into_iter().map(|t| format!("redacted:{t}")));
    out.join(",")
}

/// Adds `x-orguard-class` and (when not empty) `x-orguard-decisions` to a response.
pub fn stamp(headers: &mut HeaderMap, class: Class, tags: &str) {
    headers.insert(CLASS_HEADER, HeaderValue::from_static(class.as_str()));
    if tags.is_empty() {
        return;
    }
    // Tags are ASCII rule and type names; a custom detector name that is not a valid header
    // value only costs the header, never the response.
    if let Ok(v) = HeaderValue::from_str(tags) {
        headers.insert(DECISIONS_HEADER, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_changes_in_order_and_types_only() {
        let fired = vec![
            FiredRule::new("class.pii_raise", "raised".into()),
            FiredRule::new("models.allowed", "1 model".into()),
            FiredRule::new("provider.pinned", "pinned".into()),
            FiredRule::new("tokens.clamped", "clamped".into()),
            FiredRule::new("redact.applied", "EMAIL=1".into()),
        ];
        assert_eq!(
            tags(&fired, ["EMAIL", "PHONE"]),
            "class_raised_by_content,provider_pinned,max_tokens_clamped,redacted:EMAIL,redacted:PHONE"
        );
        assert_eq!(
            tags(&[FiredRule::new("models.allowed", String::new())], []),
            ""
        );
    }

    #[test]
    fn stamp_sets_the_class_and_skips_empty_decisions() {
        let mut h = HeaderMap::new();
        stamp(&mut h, Class::Internal, "");
        assert_eq!(h[CLASS_HEADER], "internal");
        assert!(h.get(DECISIONS_HEADER).is_none());
        stamp(&mut h, Class::Confidential, "max_tokens_clamped");
        assert_eq!(h[CLASS_HEADER], "confidential");
        assert_eq!(h[DECISIONS_HEADER], "max_tokens_clamped");
    }
}
