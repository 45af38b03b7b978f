//! `orguard policy explain`: the decision for one request, in words, without sending it.
//!
//! It is the compliance reviewer's tool, so it prints exactly what the server would do: the
//! same plan phase (`crate::plan::plan`), the rules that fired in order, and the sealed
//! bytes exactly as they would leave.

use std::fmt::Write;

use super::{Denial, DenialKind, Plan};

/// Renders an allowed request; `sealed` is the body exactly as it would be sent.
pub fn render_plan(plan: &Plan, sealed: &[u8]) -> String {
    let mut out = String::new();
    let upstream = plan.upstream.name();
    let _ = writeln!(out, "decision: ALLOW");
    let _ = writeln!(out, "class:    {}", plan.class.as_str());
    let _ = writeln!(out, "upstream: {upstream}");
    let _ = writeln!(out, "model:    {}", plan.model);
    let providers = plan
        .expect
        .providers
        .as_ref()
        .map_or_else(|| "any".to_owned(), |p| p.join(", "));
    let _ = writeln!(
        out,
        "response must be served by: {providers}{}",
        if plan.expect.require_byok {
            " (with BYOK proof)"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "on violation: {}", plan.expect.on_violation.as_str());
    let _ = writeln!(out, "rules fired:");
    for (i, rule) in plan.fired.iter().enumerate() {
        let _ = writeln!(out, "  {:>2}. {:<36} {}", i + 1, rule.rule, rule.detail);
    }
    let _ = writeln!(out, "forwarded body:");
    let _ = writeln!(out, "{}", String::from_utf8_lossy(sealed));
    out
}

/// Renders a refused request: the rule's reason, and for policy refusals the class, why
/// the request has it (types only) and, for a model refusal, the models the class allows.
pub fn render_denial(denial: &Denial) -> String {
    let status = match denial.kind {
        DenialKind::Invalid => 400,
        DenialKind::Forbidden => 403,
    };
    let mut out = format!(
        "decision: DENY ({status} {})\nreason:   {}\n",
        denial.code.as_str(),
        denial.message
    );
    if let Some(reasons) = &denial.context {
        let _ = writeln!(out, "class:    {}", reasons.class.as_str());
        let _ = writeln!(out, "because:  {}", reasons.why());
        if let Some(models) = reasons.allows() {
            let _ = writeln!(
                out,
                "class {} allows models: {models}",
                reasons.class.as_str()
            );
        }
    }
    out
}
