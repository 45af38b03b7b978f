//! Output token caps: injected when missing, clamped (or refused) above the class cap.
//!
//! The cap bounds cost and, on OpenRouter, also which providers are eligible; a missing
//! limit lets the upstream assume the model's maximum.

use serde_json::{Map, Value};

use super::{ClassPolicy, Denial, FiredRule, OverCap};
use crate::error_code::ErrorCode;
use crate::request::parse::OutputLimits;
use crate::request::Endpoint;

pub use crate::request::parse::{ABSURD_TOKENS, MAX_CHOICES};

/// The output-limit fields each endpoint documents; the first is the one injected when a
/// request sets none of them (none for embeddings). A limit sent only under another
/// endpoint's spelling (`max_tokens` to `/responses`) is capped but does not count: the
/// upstream may ignore that spelling, and the cap with it.
fn documented(endpoint: Endpoint) -> &'static [&'static str] {
    match endpoint {
        Endpoint::ChatCompletions => &["max_tokens", "max_completion_tokens"],
        Endpoint::Completions => &["max_tokens"],
        Endpoint::Responses => &["max_output_tokens"],
        Endpoint::Embeddings => &[],
    }
}

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

/// Refuses a limit outside `1..=ABSURD_TOKENS`; the parse stage already knows it is a
/// non-negative integer.
fn in_range(n: u64, field: &'static str) -> Result<u64, Denial> {
    if (1..=ABSURD_TOKENS).contains(&n) {
        return Ok(n);
    }
    Err(Denial::invalid_param(
        ErrorCode::InvalidMaxTokens,
        format!("{field} must be an integer between 1 and {ABSURD_TOKENS}"),
        field,
    ))
}

/// Caps one limit the client sent, `n`: the value to forward.
fn cap(
    n: u64,
    label: &'static str,
    class: &ClassPolicy,
    over_cap: OverCap,
    fired: &mut Vec<FiredRule>,
) -> Result<u64, Denial> {
    let n = in_range(n, label)?;
    if n <= class.max_tokens {
        return Ok(n);
    }
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
            Ok(class.max_tokens)
        }
        OverCap::Deny => Err(Denial::forbidden_param(
            ErrorCode::MaxTokensExceedsCap,
            format!(
                "{label} {n} exceeds the cap of {} for class {}",
                class.max_tokens,
                class.class.as_str()
            ),
            label,
        )),
    }
}

/// Makes `map[field]` say what was checked: `Some(n)` is written (the same number unless it
/// was lowered); `None` removes a value that is not `null`. So the body that is forwarded
/// carries exactly the limits the policy read, whatever touched the map since the parse.
fn pin(map: &mut Map<String, Value>, field: &'static str, checked: Option<u64>) {
    match checked {
        Some(n) => {
            if map.get(field).and_then(Value::as_u64) != Some(n) {
                map.insert(field.to_owned(), Value::from(n));
            }
        }
        None => {
            if map.get(field).is_some_and(|v| !v.is_null()) {
                map.remove(field);
            }
        }
    }
}

/// Caps every token limit the request set (`limits`, as parsed from `body`), pins `body` to
/// the limits as checked (see [`pin`]), and injects one when none was sent. `Ok` is the
/// most output the request may now ask for.
pub fn apply(
    body: &mut Map<String, Value>,
    limits: &OutputLimits,
    endpoint: Endpoint,
    class: &ClassPolicy,
    over_cap: OverCap,
    fired: &mut Vec<FiredRule>,
) -> Result<OutputBound, Denial> {
    let mut largest: Option<u64> = None;
    // Every spelling is capped on every endpoint: an upstream may honour an alias the
    // endpoint does not document.
    for (field, sent) in limits.top_level() {
        let forwarded = match sent {
            Some(sent) => Some(cap(sent, field, class, over_cap, fired)?),
            None => None,
        };
        pin(body, field, forwarded);
        if let Some(n) = forwarded {
            largest = Some(largest.map_or(n, |l| l.max(n)));
        }
    }
    let mut choices = 1;
    for (field, sent) in [("n", limits.n), ("best_of", limits.best_of)] {
        pin(body, field, sent);
        match sent {
            None => {}
            Some(n) if (1..=MAX_CHOICES).contains(&n) => choices = choices.max(n),
            Some(_) => {
                return Err(Denial::invalid_param(
                    ErrorCode::InvalidFieldType,
                    format!("{field} must be an integer between 1 and {MAX_CHOICES}"),
                    field,
                ))
            }
        }
    }
    let fields = documented(endpoint);
    let documented_set = limits
        .top_level()
        .iter()
        .any(|(field, sent)| sent.is_some() && fields.contains(field));
    if let (false, Some(first)) = (documented_set, fields.first()) {
        // The limit as checked under an alias, else the class cap.
        let n = largest.unwrap_or(class.max_tokens);
        body.insert((*first).to_owned(), Value::from(n));
        let why = match largest {
            Some(_) => {
                "the largest limit sent, under a spelling the endpoint does not document".to_owned()
            }
            None => format!("the class {} cap", class.class.as_str()),
        };
        fired.push(FiredRule::new(
            "tokens.injected",
            format!("{first} set to {n}, {why}"),
        ));
        largest = Some(n);
    }
    // Reasoning budgets, under OpenRouter's spelling and Anthropic's own: each is capped
    // like an output limit. Reasoning tokens are billed as output, and some providers
    // spend the budget on top of the output limit, so the bound counts both.
    let mut reasoning_budget = 0;
    for (object, field, label, sent) in [
        (
            "reasoning",
            "max_tokens",
            "reasoning.max_tokens",
            limits.reasoning_max_tokens,
        ),
        (
            "thinking",
            "budget_tokens",
            "thinking.budget_tokens",
            limits.thinking_budget_tokens,
        ),
    ] {
        let forwarded = match sent {
            Some(sent) => Some(cap(sent, label, class, over_cap, fired)?),
            None => None,
        };
        if let Some(Value::Object(inner)) = body.get_mut(object) {
            pin(inner, field, forwarded);
        }
        reasoning_budget = reasoning_budget.max(forwarded.unwrap_or(0));
    }
    Ok(OutputBound {
        tokens: largest
            .unwrap_or(class.max_tokens)
            .saturating_add(reasoning_budget),
        choices,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::error::GatewayError;
    use crate::policy::tests::class_policy;
    use crate::request::parse;

    /// Runs `body` through the parse stage, as the gateway does, then [`apply`]. Returns
    /// the body as capped (without the `model` parse requires) and the bound.
    fn through_parse(
        body: Value,
        endpoint: Endpoint,
        over_cap: OverCap,
    ) -> Result<(Value, OutputBound), ErrorCode> {
        let mut c = class_policy(&["*"]);
        c.max_tokens = 1000;
        let mut sent = body.as_object().unwrap().clone();
        sent.insert("model".into(), json!("m"));
        let bytes = serde_json::to_vec(&sent).unwrap();
        let parsed = parse::parse(endpoint, &bytes, 16)
            .map_err(|e| GatewayError::from(e).classify().code)?;
        let mut map = parsed.body;
        let bound = apply(
            &mut map,
            &parsed.limits,
            endpoint,
            &c,
            over_cap,
            &mut Vec::new(),
        )
        .map_err(|d| d.code)?;
        map.remove("model");
        Ok((Value::Object(map), bound))
    }

    fn bound(body: Value, endpoint: Endpoint, over_cap: OverCap) -> OutputBound {
        through_parse(body, endpoint, over_cap).unwrap().1
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
        through_parse(body, endpoint, over_cap).map(|(body, _)| body)
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
        // Anthropic's spelling of the same budget, passed through to the provider.
        assert_eq!(
            run(
                json!({"max_tokens":10,"thinking":{"type":"enabled","budget_tokens":90000}}),
                ChatCompletions,
                OverCap::Clamp
            )
            .unwrap(),
            json!({"max_tokens":10,"thinking":{"type":"enabled","budget_tokens":1000}})
        );
        assert_eq!(
            run(
                json!({"thinking":{"budget_tokens":90000}}),
                ChatCompletions,
                OverCap::Deny
            ),
            Err(ErrorCode::MaxTokensExceedsCap)
        );
        assert_eq!(
            run(
                json!({"thinking":{"budget_tokens":"lots"}}),
                ChatCompletions,
                OverCap::Clamp
            ),
            Err(ErrorCode::InvalidMaxTokens)
        );
    }

    /// Whatever touches the body between the parse and the caps (a stage that rewrites a
    /// field, added later), what is forwarded is what was checked.
    #[test]
    fn the_forwarded_body_carries_the_limits_as_checked() {
        let mut c = class_policy(&["*"]);
        c.max_tokens = 1000;
        let sent = br#"{"model":"m","max_tokens":50,"n":2,"reasoning":{"max_tokens":9000}}"#;
        let parsed = parse::parse(Endpoint::ChatCompletions, sent, 16).unwrap();
        let mut body = parsed.body.clone();
        // Changed after the parse: raised, added, and removed.
        body.insert("max_tokens".into(), json!(900_000));
        body.insert("max_completion_tokens".into(), json!(900_000));
        body.insert("best_of".into(), json!(16));
        body.insert("n".into(), json!(16));
        body.insert(
            "reasoning".into(),
            json!({"max_tokens": 900_000, "effort": "high"}),
        );
        let bound = apply(
            &mut body,
            &parsed.limits,
            Endpoint::ChatCompletions,
            &c,
            OverCap::Clamp,
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(body["max_tokens"], 50);
        assert!(body.get("max_completion_tokens").is_none(), "{body:?}");
        assert_eq!(body["n"], 2);
        assert!(body.get("best_of").is_none(), "{body:?}");
        assert_eq!(
            body["reasoning"],
            json!({"max_tokens": 1000, "effort": "high"})
        );
        // The output limit and the reasoning budget spent on top of it.
        assert_eq!(
            bound,
            OutputBound {
                tokens: 50 + 1000,
                choices: 2
            }
        );
    }

    #[test]
    fn nonsense_values_are_refused() {
        // Out of range is the policy's refusal; not a non-negative integer is the parse
        // stage's, which reports `max_tokens` as a field type and the other two as before.
        for (v, in_range) in [
            (json!(0), true),
            (json!(ABSURD_TOKENS + 1), true),
            (json!(-1), false),
            (json!(1.5), false),
            (json!("100"), false),
            (json!(1e20), false),
            (json!(true), false),
        ] {
            let top = if in_range {
                ErrorCode::InvalidMaxTokens
            } else {
                ErrorCode::InvalidFieldType
            };
            assert_eq!(
                run(
                    json!({"max_tokens": v.clone()}),
                    Endpoint::ChatCompletions,
                    OverCap::Clamp
                ),
                Err(top),
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
        // An alias the endpoint does not document is capped, and the endpoint's own field
        // is set beside it (the upstream may ignore the alias).
        assert_eq!(
            run(json!({"max_tokens":9000}), Responses, OverCap::Clamp).unwrap(),
            json!({"max_tokens":1000,"max_output_tokens":1000})
        );
        assert_eq!(
            run(json!({"max_tokens":10}), Responses, OverCap::Clamp).unwrap(),
            json!({"max_tokens":10,"max_output_tokens":10})
        );
        assert_eq!(
            run(
                json!({"max_completion_tokens":9000}),
                Completions,
                OverCap::Clamp
            )
            .unwrap(),
            json!({"max_completion_tokens":1000,"max_tokens":1000})
        );
        assert_eq!(
            run(
                json!({"max_output_tokens":9000}),
                ChatCompletions,
                OverCap::Clamp
            )
            .unwrap(),
            json!({"max_output_tokens":1000,"max_tokens":1000})
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
