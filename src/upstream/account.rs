//! Upstream refusals that are about the gateway's own OpenRouter account, not the caller.
//!
//! OpenRouter answers 401 when the key it was sent is invalid or disabled, and 402 when the
//! account (or the key's own limit) is out of credit. Relayed as they are, an OpenAI SDK
//! shows the app "invalid API key" or a spent budget — about a key the app never held. So
//! these become gateway errors (`upstream_key_rejected` 502, `upstream_credit_exhausted`
//! 503) that name the operator as the one to act, and that no client retry can fix.
//!
//! A 403 is the key's permissions (or, in early 2025, "Key limit exceeded") — unless the
//! body shows it is about the request's content: a moderation flag (`metadata.reasons`,
//! `flagged_input`), a guardrail (`metadata.patterns`), a region restriction or a content
//! policy. Those stay the upstream's own answer: the app can change its request.

use serde_json::Value;

/// Which part of the gateway's upstream account failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountFault {
    /// The key was refused (invalid, disabled, not permitted).
    KeyRejected,
    /// The account or the key's limit has no credit left.
    CreditExhausted,
}

/// The fault an upstream error answer shows, if it is about the account. `body` is the
/// upstream's error body (read, never logged: it may echo the prompt).
pub fn fault(status: u16, body: &[u8]) -> Option<AccountFault> {
    match status {
        401 => Some(AccountFault::KeyRejected),
        402 => Some(AccountFault::CreditExhausted),
        403 => {
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let error = &v["error"];
            if about_content(error) {
                return None;
            }
            let message = error["message"].as_str().unwrap_or_default();
            if message.to_ascii_lowercase().contains("key limit") {
                Some(AccountFault::CreditExhausted)
            } else {
                Some(AccountFault::KeyRejected)
            }
        }
        _ => None,
    }
}

/// Whether a 403's `error` object refuses the request's content rather than the key.
fn about_content(error: &Value) -> bool {
    let meta = &error["metadata"];
    let content_type = ["error_type", "type"].iter().any(|f| {
        matches!(
            meta[*f].as_str().or(error[*f].as_str()),
            Some("content_policy_violation" | "refusal" | "moderation")
        )
    });
    let availability = error["availability"]["code"].as_str() == Some("region_restricted");
    content_type
        || availability
        || ["reasons", "flagged_input", "patterns"]
            .iter()
            .any(|f| !meta[*f].is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_credit_refusals_are_the_accounts() {
        assert_eq!(fault(401, b""), Some(AccountFault::KeyRejected));
        let body = br#"{"error":{"code":401,"message":"User not found."}}"#;
        assert_eq!(fault(401, body), Some(AccountFault::KeyRejected));
        let body = br#"{"error":{"code":402,"message":"This request requires more credits"}}"#;
        assert_eq!(fault(402, body), Some(AccountFault::CreditExhausted));
        let body = br#"{"error":{"code":403,"message":"Key limit exceeded"}}"#;
        assert_eq!(fault(403, body), Some(AccountFault::CreditExhausted));
        let body =
            br#"{"error":{"code":403,"message":"Only management keys can perform this operation"}}"#;
        assert_eq!(fault(403, body), Some(AccountFault::KeyRejected));
    }

    #[test]
    fn content_refusals_and_other_statuses_stay_the_upstreams() {
        let moderation = br#"{"error":{"code":403,"message":"flagged","metadata":{"reasons":["x"],"flagged_input":"..."}}}"#;
        assert_eq!(fault(403, moderation), None);
        let guardrail =
            br#"{"error":{"code":403,"message":"blocked","metadata":{"patterns":["p"]}}}"#;
        assert_eq!(fault(403, guardrail), None);
        let region =
            br#"{"error":{"code":403,"message":"no","availability":{"code":"region_restricted"}}}"#;
        assert_eq!(fault(403, region), None);
        for status in [400, 404, 429, 500, 502, 503] {
            assert_eq!(fault(status, b"{}"), None, "{status}");
        }
    }
}
