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

/// The most output a capped request may ask of the upstream, as [`apply`] left it: what
/// the budget reservation prices, without reading the body again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputBound {
    /// The largest output-token limit the body carries after capping and injection (the
    /// class cap when the endpoint has none, as for embeddings).
    pub tokens: u64,
    /// Completions asked for: the larger of `n` and `best_of`, 1 when neither is set.
    pub choices: u64,
}

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

/// Applies the cap to one field in `map`. Returns the field's value after capping, when it
/// is present.
fn cap_field(
    map: &mut Map<String, Value>,
    field: &'static str,
    label: &'static str,
    class: &ClassPolicy,
    over_cap: OverCap,
    fired: &mut Vec<FiredRule>,
) -> Result<Option<u64>, Denial> {
    let Some(value) = map.get(field).filter(|v| !v.is_null()) else {
        return Ok(None);
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
                return Ok(Some(class.max_tokens));
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
    Ok(Some(n))
}

/// Caps every token limit the endpoint has, and injects one when none was sent. `Ok` is
/// the most output the request may now ask for.
pub fn apply(
    body: &mut Map<String, Value>,
    endpoint: Endpoint,
    class: &ClassPolicy,
    over_cap: OverCap,
    fired: &mut Vec<FiredRule>,
) -> Result<OutputBound, Denial> {
    let mut largest: Option<u64> = None;
    for field in LIMIT_FIELDS {
        if let Some(n) = cap_field(body, field, field, class, over_cap, fired)? {
            largest = Some(largest.map_or(n, |l| l.max(n)));
        }
    }
    let present = largest.is_some();
    let mut choices = 1;
    for field in ["n", "best_of"] {
        match body.get(field) {
            None | Some(Value::Null) => {}
            Some(v) if v.as_u64().is_some_and(|n| (1..=MAX_CHOICES).contains(&n)) => {
                choices = v.as_u64().map_or(choices, |n| n.max(choices));
            }
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
    Ok(OutputBound {
        tokens: largest.unwrap_or(class.max_tokens),
        choices,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::tests::class_policy;

    fn bound(body: Value, endpoint: Endpoint, over_cap: OverCap) -> OutputBound {
        let mut c = class_policy(&["*"]);
        c.max_tokens = 1000;
        let mut map = body.as_object().unwrap().clone();
        apply(&mut map, endpoint, &c, over_cap, &mut Vec::new()).unwrap()
    }

    #[test]
    fn the_bound_is_the_largest_limit_as_forwarded_times_the_choices() {
        use Endpoint::*;
        let b = |tokens, choices| OutputBound { tokens, choices };
        // Injected, clamped, or as sent when under the cap.
        assert_eq!(
            bound(json!({}), ChatCompletions, OverCap::Clamp),
            b(1000, 1)
        );
        assert_eq!(
            bound(json!({"max_tokens":5000}), ChatCompletions, OverCap::Clamp),
            b(1000, 1)
        );
        assert_eq!(
            bound(json!({"max_tokens":50}), ChatCompletions, OverCap::Deny),
            b(50, 1)
        );
        // Every spelling counts, the largest wins.
        assert_eq!(
            bound(
                json!({"max_tokens":50,"max_output_tokens":700}),
                ChatCompletions,
                OverCap::Deny
            ),
            b(700, 1)
        );
        // `n` and `best_of` multiply it; the larger counts.
        assert_eq!(
            bound(
                json!({"max_tokens":10,"n":3,"best_of":5}),
                Completions,
                OverCap::Deny
            ),
            b(10, 5)
        );
        assert_eq!(
            bound(json!({"n":null}), Responses, OverCap::Clamp),
            b(1000, 1)
        );
        // An endpoint with no limit field is priced at the class cap.
        assert_eq!(bound(json!({}), Embeddings, OverCap::Clamp), b(1000, 1));
    }

    fn run(body: Value, endpoint: Endpoint, over_cap: OverCap) -> Result<Value, ErrorCode> {
        let mut c = class_policy(&["*"]);
        c.max_tokens = 1000;
        let mut map = body.as_object().unwrap().clone();
        apply(&mut map, endpoint, &c, over_cap, &mut Vec::new())
            .map(|_| Value::Object(map))
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
