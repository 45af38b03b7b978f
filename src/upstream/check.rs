//! Verifying what served a request against what policy allowed, on the JSON body or on every
//! stream event (DESIGN.md §2 step 9, §3 "Verification").
//!
//! Each violation is logged with its kind and the upstream's own id for what served (never
//! content), and counted in the request's report for the audit. With `on_violation =
//! "block"` a non-streamed body is withheld (502) and a stream is cut before the offending
//! event; with `"flag"` the response goes through.

use std::sync::Arc;

use crate::config::Snapshot;
use crate::policy::{Class, Expectation, OnViolation, ServedMeta, Violation};
use crate::stream::{Cut, Inspector};

/// The check for one request's response.
pub struct ResponseCheck {
    config: Arc<Snapshot>,
    class: Class,
    expect: Expectation,
    span: tracing::Span,
    /// Violations seen so far (deduplicated by kind).
    pub violations: Vec<Violation>,
    last_provider: String,
    last_model: String,
    saw_usage: bool,
}

impl ResponseCheck {
    pub fn new(config: Arc<Snapshot>, class: Class, expect: Expectation) -> Self {
        Self {
            config,
            class,
            expect,
            span: tracing::Span::current(),
            violations: Vec::new(),
            last_provider: String::new(),
            last_model: String::new(),
            saw_usage: false,
        }
    }

    fn record(&mut self, v: Violation) {
        if self.violations.iter().any(|seen| seen.kind == v.kind) {
            return;
        }
        let _entered = self.span.enter();
        tracing::warn!(
            violation = v.kind.as_str(),
            served = %v.served,
            class = self.class.as_str(),
            action = self.expect.on_violation.as_str(),
            "upstream served the request outside policy"
        );
        self.violations.push(v);
    }

    /// Checks a whole non-streamed body. Returns the first violation when the class blocks.
    pub fn check_body(&mut self, body: &[u8]) -> Option<Violation> {
        let meta = serde_json::from_slice::<ServedMeta<'_>>(body).unwrap_or_default();
        let class = self.config.policy.class(self.class)?;
        let mut found = self
            .expect
            .check_meta(&meta, class, &self.config.policy.provider_names);
        found.extend(self.expect.check_usage(meta.usage.as_ref()));
        for v in found {
            self.record(v);
        }
        self.blocking()
    }

    fn blocking(&self) -> Option<Violation> {
        match self.expect.on_violation {
            OnViolation::Block => self.violations.first().cloned(),
            OnViolation::Flag => None,
        }
    }

    fn cut(&self) -> Option<Cut> {
        self.blocking().map(|v| Cut {
            code: 502,
            error_type: "policy_violation",
            message: format!(
                "orguard ended the stream: the upstream served it outside policy ({})",
                v.kind.as_str()
            ),
        })
    }
}

impl Inspector for ResponseCheck {
    fn data(&mut self, payload: &[u8]) -> Option<Cut> {
        let Ok(meta) = serde_json::from_slice::<ServedMeta<'_>>(payload) else {
            return None;
        };
        let provider = meta.provider.as_deref().unwrap_or_default();
        let model = meta.model.as_deref().unwrap_or_default();
        // Every chunk repeats provider and model; re-check only when they change.
        if provider != self.last_provider || model != self.last_model {
            self.last_provider = provider.to_owned();
            self.last_model = model.to_owned();
            if let Some(class) = self.config.policy.class(self.class) {
                let found =
                    self.expect
                        .check_meta(&meta, class, &self.config.policy.provider_names);
                for v in found {
                    self.record(v);
                }
            }
        }
        if let Some(usage) = meta.usage.as_ref() {
            self.saw_usage = true;
            if let Some(v) = self.expect.check_usage(Some(usage)) {
                self.record(v);
            }
        }
        self.cut()
    }

    fn finish(&mut self) -> Option<Cut> {
        if !self.saw_usage {
            if let Some(v) = self.expect.check_usage(None) {
                self.record(v);
            }
        }
        self.cut()
    }
}
