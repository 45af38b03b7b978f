//! Output token caps: injected when missing, clamped (or refused) above the class cap.
//!
//! The cap bounds cost and, on OpenRouter, also which providers are eligible; a missing
//! limit lets the upstream assume the model's maximum.

use serde_json::{Map, Value};

use super::{ClassPolicy, Denial, FiredRule, OverCap};
use crate::error::ErrorCode;
use crate::request::Endpoint;

/// Values above this are refused as nonsense rather than clamped.
pub const ABSURD_TOKENS: u64 = 100_000_000;

/// The token-limit fields each endpoint understands; the first is the one injected.
/// The field injected when a request sets no limit (none for embeddings).
fn injected(endpoint: Endpoint) -> Option<&'static str> {
    match endpoint {
        Endpoint::ChatCompletions | Endpoint::Completions => Some("max_tokens"),
        Endpoint::Responses => Some("max_output_tokens"),
        Endpoint::Embeddings => None,
    }
}

/// Every output-limit spelling is capped on every endpoint: an upstream may honour an alias
/// the endpoint does not document.
const LIMIT_FIELDS: [&str; 3] = ["max_tokens", "max_completion_tokens", "max_output_tokens"];

/// Fields that multiply the output (`n` choices, `best_of` candidates) are bounded too.
pub const MAX_CHOICES: u64 = 16;

fn limit(value: &Value, field: &'static str) -> Result<u64, Denial> {
    let invalid = || {
        Denial::invalid_param(
            ErrorCode::InvalidMaxTokens,
            format!("{field} must be an integer between 1 and {ABSURD_TOKENS}"),
            field,
        )
    };
    match value.as_u64() {
        Some(n) if (1..=ABSURD_TOKENS).contains(&n) => Ok(n),
        _ => Err(invalid()),
    }
}

/// Applies the cap to one field in `map`. Returns whether the field was present.
fn cap_field(
    map: &mut Map<String, Value>,
    field: &'static str,
    label: &'static str,
    class: &ClassPolicy,
    over_cap: OverCap,
    fired: &mut Vec<FiredRule>,
) -> Result<bool, Denial> {
    let Some(value) = map.get(field).filter(|v| !v.is_null()) else {
        return Ok(false);
    };
    let n = limit(value, label)?;
    if n > class.max_tokens {
        match over_cap {
            OverCap::Clamp => {
                fired.push(FiredRule::new(
                    "tokens.clamped",
                    format!(
                        "{label} {n} lowered to the class {} cap {}",
                        class.class.as_str(),
                        class.max_tokens
                    ),
                ));
                map.insert(field.to_owned(), Value::from(class.max_tokens));
            }
            OverCap::Deny => {
                return Err(Denial::forbidden_param(
                    ErrorCode::MaxTokensExceedsCap,
                    format!(
                        "{label} {n} exceeds the cap of {} for class {}",
                        class.max_tokens,
                        class.class.as_str()
                    ),
                    label,
                ))
            }
        }
    }
    Ok(true)
}

/// Caps every token limit the endpoint has, and injects one when none was sent.
pub fn apply(
    body: &mut Map<String, Value>,
    endpoint: Endpoint,
    class: &ClassPolicy,
    over_cap: OverCap,
    fired: &mut Vec<FiredRule>,
) -> Result<(), Denial> {
    let mut present = false;
    for field in LIMIT_FIELDS {
        present |= cap_field(body, field, field, class, over_cap, fired)?;
    }
    for field in ["n", "best_of"] {
        match body.get(field) {
            None | Some(Value::Null) => {}
            Some(v) if v.as_u64().is_some_and(|n| (1..=MAX_CHOICES).contains(&n)) => {}
            Some(_) => {
                return Err(Denial::invalid_param(
                    ErrorCode::InvalidFieldType,
                    format!("{field} must be an integer between 1 and {MAX_CHOICES}"),
                    field,
                ))
            }
        }
    }
    if let (false, Some(first)) = (present, injected(endpoint)) {
        body.insert((*first).to_owned(), Value::from(class.max_tokens));
        fired.push(FiredRule::new(
            "tokens.injected",
            format!(
                "{first} set to the class {} cap {}",
                class.class.as_str(),
                class.max_tokens
            ),
        ));
    }
    match body.get_mut("reasoning") {
        None | Some(Value::Null) => {}
        Some(Value::Object(reasoning)) => {
            cap_field(
                reasoning,
                "max_tokens",
                "reasoning.max_tokens",
                class,
                over_cap,
                fired,
            )?;
        }
        Some(_) => {
            return Err(Denial::invalid_param(
                ErrorCode::InvalidFieldType,
                "reasoning must be an object".to_owned(),
                "reasoning",
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::tests::class_policy;

    fn run(body: Value, endpoint: Endpoint, over_cap: OverCap) -> Result<Value, ErrorCode> {
        let mut c = class_policy(&["*"]);
        c.max_tokens = 1000;
        let mut map = body.as_object().unwrap().clone();
        apply(&mut map, endpoint, &c, over_cap, &mut Vec::new())
            .map(|()| Value::Object(map))
            .map_err(|d| d.code)
    }

    #[test]
    fn injected_clamped_or_denied() {
        use Endpoint::*;
        assert_eq!(
            run(json!({}), ChatCompletions, OverCap::Clamp).unwrap(),
            json!({"max_tokens":1000})
        );
        assert_eq!(
            run(json!({}), Responses, OverCap::Clamp).unwrap(),
            json!({"max_output_tokens":1000})
        );
        assert_eq!(
            run(json!({}), Embeddings, OverCap::Clamp).unwrap(),
            json!({})
        );
        assert_eq!(
            run(json!({"max_tokens":50}), ChatCompletions, OverCap::Deny).unwrap(),
            json!({"max_tokens":50})
        );
        assert_eq!(
            run(
                json!({"max_completion_tokens":5000}),
                ChatCompletions,
                OverCap::Clamp
            )
            .unwrap(),
            json!({"max_completion_tokens":1000})
        );
        assert_eq!(
            run(
                json!({"max_tokens":5000,"max_completion_tokens":7000}),
                ChatCompletions,
                OverCap::Clamp
            )
            .unwrap(),
            json!({"max_tokens":1000,"max_completion_tokens":1000})
        );
        assert_eq!(
            run(json!({"max_tokens":5000}), ChatCompletions, OverCap::Deny),
            Err(ErrorCode::MaxTokensExceedsCap)
        );
        assert_eq!(
            run(json!({"max_output_tokens":5000}), Responses, OverCap::Clamp).unwrap(),
            json!({"max_output_tokens":1000})
        );
        assert_eq!(
            run(
                json!({"max_tokens":10,"reasoning":{"effort":"high","max_tokens":9000}}),
                ChatCompletions,
                OverCap::Clamp
            )
            .unwrap(),
            json!({"max_tokens":10,"reasoning":{"effort":"high","max_tokens":1000}})
        );
        assert_eq!(
            run(
                json!({"reasoning":{"max_tokens":9000}}),
                ChatCompletions,
                OverCap::Deny
            ),
            Err(ErrorCode::MaxTokensExceedsCap)
        );
    }

    #[test]
    fn nonsense_values_are_refused() {
        for v in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("100"),
            json!(1e20),
            json!(ABSURD_TOKENS + 1),
            json!(true),
        ] {
            assert_eq!(
                run(
                    json!({"max_tokens": v.clone()}),
                    Endpoint::ChatCompletions,
                    OverCap::Clamp
                ),
                Err(ErrorCode::InvalidMaxTokens),
                "{v}"
            );
            assert_eq!(
                run(
                    json!({"max_output_tokens": v.clone()}),
                    Endpoint::Responses,
                    OverCap::Clamp
                ),
                Err(ErrorCode::InvalidMaxTokens),
                "{v}"
            );
            assert_eq!(
                run(
                    json!({"reasoning":{"max_tokens": v.clone()}}),
                    Endpoint::ChatCompletions,
                    OverCap::Clamp
                ),
                Err(ErrorCode::InvalidMaxTokens),
                "{v}"
            );
        }
        assert_eq!(
            run(
                json!({"reasoning":"high"}),
                Endpoint::ChatCompletions,
                OverCap::Clamp
            ),
            Err(ErrorCode::InvalidFieldType)
        );
    }

    #[test]
    fn aliases_are_capped_everywhere_and_choices_bounded() {
        use Endpoint::*;
        assert_eq!(
            run(json!({"max_tokens":9000}), Responses, OverCap::Clamp).unwrap(),
            json!({"max_tokens":1000})
        );
        assert_eq!(
            run(
                json!({"max_completion_tokens":9000}),
                Completions,
                OverCap::Clamp
            )
            .unwrap(),
            json!({"max_completion_tokens":1000})
        );
        assert_eq!(
            run(
                json!({"max_output_tokens":9000}),
                ChatCompletions,
                OverCap::Clamp
            )
            .unwrap(),
            json!({"max_output_tokens":1000})
        );
        assert_eq!(
            run(json!({"n":17}), ChatCompletions, OverCap::Clamp),
            Err(ErrorCode::InvalidFieldType)
        );
        assert_eq!(
            run(json!({"best_of":0}), Completions, OverCap::Clamp),
            Err(ErrorCode::InvalidFieldType)
        );
        assert_eq!(
            run(json!({"n":"2"}), ChatCompletions, OverCap::Clamp),
            Err(ErrorCode::InvalidFieldType)
        );
        assert_eq!(
            run(json!({"n":2}), ChatCompletions, OverCap::Clamp).unwrap(),
            json!({"n":2,"max_tokens":1000})
        );
    }
}
