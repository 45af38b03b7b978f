//! Request features that leave the pinned provider (DESIGN.md §3): plugins, server tools,
//! web search, traces, debug echoes, presets, the legacy `route` field — and the `user`
//! pseudonym, so end-user identifiers never reach the upstream.

use serde_json::{Map, Value};

use super::{ClassPolicy, Denial, FiredRule, Overrides};
use crate::error_code::ErrorCode;

/// Applies every feature rule to `body`, in a fixed order.
pub fn apply(
    body: &mut Map<String, Value>,
    class: &ClassPolicy,
    overrides: Overrides,
    user_key: &[u8],
    service: &str,
    fired: &mut Vec<FiredRule>,
) -> Result<(), Denial> {
    let name = class.class.as_str();
    // `debug.echo_upstream_body` returns the transformed upstream body in the stream: never.
    if body.remove("debug").is_some() {
        fired.push(FiredRule::new(
            "debug.stripped",
            "debug echoes the upstream body; removed".to_owned(),
        ));
    }
    plugins(body, class)?;
    // `service_tier` opts into priority/flex endpoints, like `:nitro`/`:floor` do.
    match body.get("service_tier") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t.trim().eq_ignore_ascii_case("default") => {}
        Some(Value::String(_)) if class.allow_tiers => {}
        Some(Value::String(_)) => {
            return Err(Denial::forbidden(
                ErrorCode::TierNotAllowed,
                format!("service tiers (service_tier) are not allowed for class {name}"),
            ))
        }
        Some(_) => {
            return Err(Denial::invalid_param(
                ErrorCode::InvalidFieldType,
                "service_tier must be a string".to_owned(),
                "service_tier",
            ))
        }
    }
    tools(body, class)?;
    if body.get("web_search_options").is_some_and(|v| !v.is_null()) && !class.allow_web {
        return Err(Denial::forbidden(
            ErrorCode::WebNotAllowed,
            format!("web search (web_search_options) is not allowed for class {name}"),
        ));
    }
    // `trace` is forwarded to external observability destinations configured upstream.
    if body.get("trace").is_some_and(|v| !v.is_null()) && !class.allow_trace {
        match overrides {
            Overrides::NarrowOnly => {
                body.remove("trace");
                fired.push(FiredRule::new(
                    "trace.stripped",
                    format!("trace is not allowed for class {name}; removed"),
                ));
            }
            Overrides::Deny => {
                return Err(Denial::forbidden(
                    ErrorCode::TraceNotAllowed,
                    format!("trace is not allowed for class {name}"),
                ))
            }
        }
    }
    // `route` is the deprecated alias of provider.sort.partition; orguard owns routing.
    if body.get("route").is_some_and(|v| !v.is_null()) {
        match overrides {
            Overrides::NarrowOnly => {
                body.remove("route");
                fired.push(FiredRule::new(
                    "route.stripped",
                    "the deprecated route field is owned by orguard; removed".to_owned(),
                ));
            }
            Overrides::Deny => {
                return Err(Denial::forbidden(
                    ErrorCode::RouteNotAllowed,
                    "the route field is not accepted".to_owned(),
                ))
            }
        }
    }
    match body.get("preset") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) => {
            let p = p.trim().to_ascii_lowercase();
            let qualified = if p.starts_with("@preset/") {
                p
            } else {
                format!("@preset/{p}")
            };
            if !class.allow_routers.contains(&qualified) {
                return Err(Denial::forbidden(ErrorCode::PresetNotAllowed, format!("presets are not allowed for class {name}: their settings cannot be checked in advance")));
            }
        }
        Some(_) => {
            return Err(Denial::invalid_param(
                ErrorCode::InvalidFieldType,
                "preset must be a string".to_owned(),
                "preset",
            ))
        }
    }
    pseudonymise_user(body, user_key, service, fired)
}

fn plugins(body: &Map<String, Value>, class: &ClassPolicy) -> Result<(), Denial> {
    let items = match body.get("plugins") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Denial::invalid_param(
                ErrorCode::InvalidFieldType,
                "plugins must be an array".to_owned(),
                "plugins",
            ))
        }
    };
    for item in items {
        let id = item.get("id").and_then(Value::as_str).ok_or_else(|| {
            Denial::invalid_param(
                ErrorCode::InvalidFieldType,
                "each plugin must be an object with a string id".to_owned(),
                "plugins",
            )
        })?;
        let id = id.trim().to_ascii_lowercase();
        // Turning context compression *off* keeps the prompt as written: always allowed.
        let disables_compression =
            id == "context-compression" && item.get("enabled") == Some(&Value::Bool(false));
        if !disables_compression && !class.allow_plugins.contains(&id) {
            return Err(Denial::forbidden(
                ErrorCode::PluginNotAllowed,
                format!("plugins send data beyond the pinned provider; this plugin is not allowed for class {}", class.class.as_str()),
            ));
        }
    }
    Ok(())
}

fn tools(body: &Map<String, Value>, class: &ClassPolicy) -> Result<(), Denial> {
    let items = match body.get("tools") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Denial::invalid_param(
                ErrorCode::InvalidFieldType,
                "tools must be an array".to_owned(),
                "tools",
            ))
        }
    };
    let server_tool = items
        .iter()
        .any(|t| t.get("type").and_then(Value::as_str) != Some("function"));
    if server_tool && !class.allow_server_tools {
        return Err(Denial::forbidden(
            ErrorCode::ServerToolNotAllowed,
            format!("tools other than type \"function\" run outside the pinned provider; not allowed for class {}", class.class.as_str()),
        ));
    }
    Ok(())
}

/// Replaces `user` with `u_` + 32 hex characters of HMAC-SHA-256(key, service ‖ 0 ‖ user):
/// stable per end user and service (abuse isolation keeps working), useless to the upstream.
fn pseudonymise_user(
    body: &mut Map<String, Value>,
    key: &[u8],
    service: &str,
    fired: &mut Vec<FiredRule>,
) -> Result<(), Denial> {
    let original = match body.get("user") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(u)) => u,
        Some(_) => {
            return Err(Denial::invalid_param(
                ErrorCode::InvalidFieldType,
                "user must be a string".to_owned(),
                "user",
            ))
        }
    };
    let pseudonym = pseudonym(key, service, original);
    body.insert("user".to_owned(), Value::String(pseudonym));
    fired.push(FiredRule::new(
        "user.pseudonymised",
        "user replaced by a keyed pseudonym".to_owned(),
    ));
    Ok(())
}

pub fn pseudonym(key: &[u8], service: &str, user: &str) -> String {
    let digest = crate::secret::hmac_sha256(key, &[service.as_bytes(), &[0], user.as_bytes()]);
    format!(
        "u_{}",
        crate::hex_text::encode(digest.get(..16).unwrap_or_default())
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::tests::class_policy;

    fn run(body: Value, class: &ClassPolicy, overrides: Overrides) -> Result<Value, ErrorCode> {
        let mut map = body.as_object().unwrap().clone();
        apply(&mut map, class, overrides, b"k", "svc", &mut Vec::new())
            .map(|()| Value::Object(map))
            .map_err(|d| d.code)
    }

    #[test]
    fn features_that_leave_the_provider() {
        let c = class_policy(&["*"]);
        use Overrides::*;
        assert_eq!(
            run(json!({"plugins":[{"id":"web"}]}), &c, NarrowOnly),
            Err(ErrorCode::PluginNotAllowed)
        );
        assert_eq!(
            run(json!({"plugins":[{"id":" WEB "}]}), &c, NarrowOnly),
            Err(ErrorCode::PluginNotAllowed)
        );
        assert_eq!(
            run(
                json!({"plugins":[{"id":"context-compression","enabled":false}]}),
                &c,
                NarrowOnly
            )
            .unwrap()["plugins"][0]["enabled"],
            false
        );
        assert_eq!(
            run(
                json!({"plugins":[{"id":"context-compression"}]}),
                &c,
                NarrowOnly
            ),
            Err(ErrorCode::PluginNotAllowed)
        );
        assert_eq!(
            run(json!({"plugins":"web"}), &c, NarrowOnly),
            Err(ErrorCode::InvalidFieldType)
        );
        assert_eq!(
            run(json!({"plugins":[{"name":"web"}]}), &c, NarrowOnly),
            Err(ErrorCode::InvalidFieldType)
        );
        assert_eq!(
            run(
                json!({"tools":[{"type":"function","function":{"name":"f"}}]}),
                &c,
                Deny
            )
            .unwrap()["tools"][0]["type"],
            "function"
        );
        assert_eq!(
            run(
                json!({"tools":[{"type":"function"},{"type":"openrouter:web_search"}]}),
                &c,
                NarrowOnly
            ),
            Err(ErrorCode::ServerToolNotAllowed)
        );
        assert_eq!(
            run(json!({"tools":[{"function":{"name":"f"}}]}), &c, NarrowOnly),
            Err(ErrorCode::ServerToolNotAllowed)
        );
        assert_eq!(
            run(json!({"tools":[{"type":"Function"}]}), &c, NarrowOnly),
            Err(ErrorCode::ServerToolNotAllowed)
        );
        assert_eq!(
            run(json!({"web_search_options":{}}), &c, NarrowOnly),
            Err(ErrorCode::WebNotAllowed)
        );
        assert_eq!(
            run(json!({"debug":{"echo_upstream_body":true}}), &c, Deny).unwrap(),
            json!({})
        );
        assert_eq!(
            run(json!({"trace":{"trace_id":"t"}}), &c, NarrowOnly).unwrap(),
            json!({})
        );
        assert_eq!(
            run(json!({"trace":{"trace_id":"t"}}), &c, Deny),
            Err(ErrorCode::TraceNotAllowed)
        );
        assert_eq!(
            run(json!({"route":"fallback"}), &c, NarrowOnly).unwrap(),
            json!({})
        );
        assert_eq!(
            run(json!({"route":"fallback"}), &c, Deny),
            Err(ErrorCode::RouteNotAllowed)
        );
        assert_eq!(
            run(json!({"preset":"team"}), &c, NarrowOnly),
            Err(ErrorCode::PresetNotAllowed)
        );
        assert_eq!(
            run(json!({"preset":7}), &c, NarrowOnly),
            Err(ErrorCode::InvalidFieldType)
        );

        let mut open = class_policy(&["*"]);
        open.allow_plugins.insert("web".into());
        open.allow_server_tools = true;
        open.allow_trace = true;
        open.allow_web = true;
        open.allow_routers.insert("@preset/team".into());
        for body in [
            json!({"plugins":[{"id":"web"}]}),
            json!({"tools":[{"type":"openrouter:web_search"}]}),
            json!({"trace":{"a":1}}),
            json!({"web_search_options":{}}),
            json!({"preset":"team"}),
        ] {
            assert_eq!(run(body.clone(), &open, Deny).unwrap(), body);
        }
    }

    #[test]
    fn user_is_pseudonymised_stably() {
        let c = class_policy(&["*"]);
        let a = run(json!({"user":"jane@example.com"}), &c, Overrides::Deny).unwrap();
        let b = run(json!({"user":"jane@example.com"}), &c, Overrides::Deny).unwrap();
        let other = run(json!({"user":"joe@example.com"}), &c, Overrides::Deny).unwrap();
        let u = a["user"].as_str().unwrap();
        assert!(u.starts_with("u_") && u.len() == 34 && !u.contains("jane"));
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_ne!(
            pseudonym(b"k", "svc-a", "x"),
            pseudonym(b"k", "svc-b", "x"),
            "per service"
        );
        assert_ne!(
            pseudonym(b"k1", "s", "x"),
            pseudonym(b"k2", "s", "x"),
            "per key"
        );
        assert_eq!(
            run(json!({"user":5}), &c, Overrides::Deny),
            Err(ErrorCode::InvalidFieldType)
        );
    }

    #[test]
    fn service_tiers_need_allow_tiers() {
        let c = class_policy(&["*"]);
        assert_eq!(
            run(
                json!({"service_tier":"priority"}),
                &c,
                Overrides::NarrowOnly
            ),
            Err(ErrorCode::TierNotAllowed)
        );
        assert_eq!(
            run(json!({"service_tier":"auto"}), &c, Overrides::NarrowOnly),
            Err(ErrorCode::TierNotAllowed)
        );
        assert_eq!(
            run(json!({"service_tier":" Default "}), &c, Overrides::Deny).unwrap()["service_tier"],
            " Default "
        );
        assert_eq!(
            run(json!({"service_tier":1}), &c, Overrides::NarrowOnly),
            Err(ErrorCode::InvalidFieldType)
        );
        let mut tiers = class_policy(&["*"]);
        tiers.allow_tiers = true;
        assert!(run(json!({"service_tier":"flex"}), &tiers, Overrides::Deny).is_ok());
    }
}
