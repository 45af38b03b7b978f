//! Verifying what served a request against what policy allowed, on the JSON body or on every
//! stream event (DESIGN.md §2 step 9, §3 "Verification").
//!
//! Each violation is logged, audited as a `violation` record (kind, the upstream's own id
//! for what served, action — never content) and counted. With `on_violation = "block"` a
//! non-streamed body is withheld (502) and a stream is cut before the offending event; with
//! `"flag"` the response goes through. Along the way the check collects what the `response`
//! audit record needs: generation id, provider, model, usage.

use std::sync::{Arc, Mutex};

use crate::audit::{self, Writer};
use crate::policy::verify::Usage;
use crate::policy::{
    Class, Expectation, OnViolation, PolicySettings, ServedMeta, Violation, ViolationKind,
};
use serde_json::Value;

use crate::redact::{Detectors, OutputScan, Placeholders, Restorer};
use crate::stream::{Cut, Inspector, Verdict};

/// Fields of a response that belong to the protocol, not to the model's output.
const PROTOCOL_FIELDS: [&str; 16] = [
    "id",
    "object",
    "model",
    "provider",
    "role",
    "type",
    "finish_reason",
    "native_finish_reason",
    "system_fingerprint",
    "service_tier",
    "status",
    "call_id",
    "tool_call_id",
    "item_id",
    "response_id",
    "encrypted_content",
];

/// What served the request, as far as the response told.
#[derive(Debug, Clone, Default)]
pub struct Served {
    pub generation_id: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub usage: Option<Usage>,
    pub violations: Vec<Violation>,
    /// Every attempt, as the `response` record lists them.
    pub attempts: Vec<audit::record::AttemptRecord>,
    /// The distinct `finish_reason`s the answer gave (for the trace), at most a few.
    pub finish_reasons: Vec<String>,
}

/// Distinct finish reasons kept per answer (`n` choices each have one).
const MAX_FINISH_REASONS: usize = 8;

impl Served {
    fn finished(&mut self, reasons: Option<&crate::policy::verify::FinishReasons>) {
        for r in reasons.into_iter().flat_map(|r| &r.0) {
            if self.finish_reasons.len() < MAX_FINISH_REASONS && !self.finish_reasons.contains(r) {
                self.finish_reasons.push(r.clone());
            }
        }
    }
}

/// Who the request was, for violation records.
#[derive(Debug, Clone)]
pub struct AuditSubject {
    pub request_id: String,
    pub key_id: String,
    pub service: String,
    /// The client's address and the proxy it came through (`audit::record::Subject`).
    pub client: Option<String>,
    pub peer: Option<String>,
}

impl AuditSubject {
    /// The subject of this request's records, in `class`.
    pub fn subject<'a>(&'a self, class: &'a str) -> audit::record::Subject<'a> {
        audit::record::Subject {
            request_id: &self.request_id,
            key_id: Some(&self.key_id),
            service: Some(&self.service),
            class: Some(class),
            client: self.client.as_deref(),
            peer: self.peer.as_deref(),
        }
    }
}

/// The check for one request's response.
pub struct ResponseCheck {
    policy: Arc<PolicySettings>,
    class: Class,
    expect: Expectation,
    span: tracing::Span,
    audit: Option<(Writer, AuditSubject)>,
    /// Shared with the pipeline, which writes the `response` record from it.
    pub served: Arc<Mutex<Served>>,
    last_provider: String,
    last_model: String,
    saw_usage: bool,
    /// Placeholders of this request, restored in what the client reads.
    restore: Option<(Placeholders, Restorer)>,
    /// Scanning of what the model wrote, when the class asks for it.
    output_scan: Option<(Arc<Detectors>, OutputScan)>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    /// The output scan reports once per request, however many events had findings.
    output_reported: std::cell::Cell<bool>,
}

fn short(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || " ._:/-".contains(*c))
        .take(100)
        .collect()
}

impl ResponseCheck {
    pub fn new(
        policy: Arc<PolicySettings>,
        class: Class,
        expect: Expectation,
        audit: Option<(Writer, AuditSubject)>,
    ) -> Self {
        Self {
            policy,
            class,
            expect,
            span: tracing::Span::current(),
            audit,
            served: Arc::new(Mutex::new(Served::default())),
            last_provider: String::new(),
            last_model: String::new(),
            saw_usage: false,
            restore: None,
            output_scan: None,
            metrics: None,
            output_reported: std::cell::Cell::new(false),
        }
    }

    /// Counts violations in the metrics too.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn count_violation(&self, kind: &str, action: &str) {
        if let Some(m) = &self.metrics {
            m.violations.with_label_values(&[kind, action]).inc();
        }
    }

    /// Scans the model's output for secrets and personal data (`flag` or `redact`).
    pub fn with_output_scan(mut self, detectors: Arc<Detectors>, mode: OutputScan) -> Self {
        if mode != OutputScan::Off {
            self.output_scan = Some((detectors, mode));
        }
        self
    }

    /// Scans one piece of model output. Findings are logged and audited by type (never the
    /// values); with `redact` they are replaced by `[TYPE]`. Runs before placeholders are
    /// restored, so the caller's own values are not reported back as leaks.
    fn scan_output(&self, text: &mut String) {
        let Some((detectors, mode)) = &self.output_scan else {
            return;
        };
        let spans = detectors.find(text);
        if spans.is_empty() {
            return;
        }
        let mut kinds: Vec<&str> = spans.iter().map(|s| s.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let action = match mode {
            OutputScan::Redact => "redact",
            OutputScan::Flag | OutputScan::Off => "flag",
        };
        if !self.output_reported.replace(true) {
            self.report_output(&kinds, action);
        }
        if *mode == OutputScan::Redact {
            let mut out = String::with_capacity(text.len());
            let mut at = 0;
            for s in &spans {
                out.push_str(text.get(at..s.start).unwrap_or_default());
                out.push_str(&format!("[{}]", s.kind));
                at = s.end;
            }
            out.push_str(text.get(at..).unwrap_or_default());
            *text = out;
        }
    }

    /// Appends a `violation` record (when this check audits).
    fn audit_violation(&self, kind: &str, served: &str, action: &str) {
        if let Some((writer, who)) = &self.audit {
            writer.append_nowait(audit::record::violation(
                &who.subject(self.class.as_str()),
                time::OffsetDateTime::now_utc(),
                kind,
                served,
                action,
            ));
        }
    }

    fn report_output(&self, kinds: &[&str], action: &str) {
        let _entered = self.span.enter();
        tracing::warn!(types = %kinds.join(","), action, "the model's output contains sensitive data");
        self.count_violation("sensitive_data_in_output", action);
        self.audit_violation("sensitive_data_in_output", &kinds.join(","), action);
    }

    /// Every string of a response body or event that the model wrote: content, tool-call
    /// arguments, refusals, reasoning, annotations, and whatever field comes next. Only the
    /// protocol's own fields (ids, enums, the served model and provider) are left alone —
    /// rewriting them would break the client, and the policy check reads them.
    fn output_strings(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
        match v {
            Value::String(s) => f(s),
            Value::Array(items) => items.iter_mut().for_each(|i| Self::output_strings(i, f)),
            Value::Object(m) => {
                for (k, val) in m.iter_mut() {
                    if !PROTOCOL_FIELDS.contains(&k.as_str()) {
                        Self::output_strings(val, f);
                    }
                }
            }
            _ => {}
        }
    }

    /// Restores these placeholders in the response (a no-op for an empty map).
    pub fn with_placeholders(mut self, map: Placeholders) -> Self {
        if !map.is_empty() {
            self.restore = Some((map, Restorer::default()));
        }
        self
    }

    /// Restores placeholders in a whole non-streamed body; `None` when there is nothing to do.
    pub fn restore_body(&self, body: &[u8]) -> Option<Vec<u8>> {
        if self.restore.is_none() && self.output_scan.is_none() {
            return None;
        }
        let mut v: Value = serde_json::from_slice(body).ok()?;
        if self.output_scan.is_some() {
            Self::output_strings(&mut v, &mut |s| self.scan_output(s));
        }
        if let Some((map, _)) = &self.restore {
            map.restore_json(&mut v);
        }
        serde_json::to_vec(&v).ok()
    }

    fn with_served(&self, f: impl FnOnce(&mut Served)) {
        if let Ok(mut s) = self.served.lock() {
            f(&mut s);
        }
    }

    fn note(&self, meta: &ServedMeta<'_>) {
        self.with_served(|s| {
            if let Some(id) = meta.id.as_deref() {
                s.generation_id = Some(short(id));
            }
            if let Some(p) = meta.provider.as_deref() {
                s.provider = Some(short(p));
            }
            if let Some(m) = meta.model.as_deref() {
                s.model = Some(short(m));
            }
            if let Some(u) = &meta.usage {
                s.usage = Some(u.clone());
            }
            s.finished(meta.choices.as_ref());
        });
    }

    fn record(&mut self, v: Violation) {
        let seen = self
            .served
            .lock()
            .map(|s| s.violations.iter().any(|x| x.kind == v.kind))
            .unwrap_or(false);
        if seen {
            return;
        }
        let _entered = self.span.enter();
        let action = self.expect.on_violation.as_str();
        self.count_violation(v.kind.as_str(), action);
        tracing::warn!(violation = v.kind.as_str(), served = %v.served, class = self.class.as_str(), action, "upstream served the request outside policy");
        self.audit_violation(v.kind.as_str(), &v.served, action);
        self.with_served(|s| s.violations.push(v));
    }

    /// Checks a whole non-streamed body. Returns the first violation when the class blocks.
    pub fn check_body(&mut self, body: &[u8]) -> Option<Violation> {
        let meta = ServedMeta::read(body).unwrap_or_default();
        self.note(&meta);
        let class = self.policy.class(self.class)?;
        let mut found = self
            .expect
            .check_meta(&meta, class, &self.policy.provider_names);
        found.extend(self.expect.check_usage(meta.usage.as_ref()));
        for v in found {
            self.record(v);
        }
        self.blocking()
    }

    fn blocking(&self) -> Option<Violation> {
        match self.expect.on_violation {
            OnViolation::Block => self
                .served
                .lock()
                .ok()
                .and_then(|s| s.violations.first().cloned()),
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
    fn data(&mut self, payload: &[u8]) -> Verdict {
        let Some(meta) = ServedMeta::read(payload) else {
            // A data event that is not a JSON object cannot be checked: it is not let
            // through unchecked where the class blocks.
            self.record(Violation {
                kind: ViolationKind::Unverifiable,
                served: "unreadable event".to_owned(),
            });
            return self.cut().map_or(Verdict::Pass, Verdict::Cut);
        };
        let provider = meta.provider.as_deref().unwrap_or_default();
        let model = meta.model.as_deref().unwrap_or_default();
        // Every chunk repeats provider and model; re-check only when they change.
        if provider != self.last_provider || model != self.last_model {
            self.last_provider = provider.to_owned();
            self.last_model = model.to_owned();
            self.note(&meta);
            if let Some(class) = self.policy.class(self.class) {
                for v in self
                    .expect
                    .check_meta(&meta, class, &self.policy.provider_names)
                {
                    self.record(v);
                }
            }
        }
        if meta.choices.as_ref().is_some_and(|c| !c.0.is_empty()) {
            self.with_served(|s| s.finished(meta.choices.as_ref()));
        }
        if let Some(usage) = meta.usage.as_ref() {
            self.saw_usage = true;
            self.with_served(|s| s.usage = Some(usage.clone()));
            if let Some(v) = self.expect.check_usage(Some(usage)) {
                self.record(v);
            }
        }
        if let Some(cut) = self.cut() {
            return Verdict::Cut(cut);
        }
        let scanned = self.output_scan.is_some().then(|| {
            let mut event: Value = serde_json::from_slice(payload).ok()?;
            let before = event.clone();
            Self::output_strings(&mut event, &mut |s| self.scan_output(s));
            (event != before)
                .then(|| serde_json::to_vec(&event).ok())
                .flatten()
        });
        let scanned = scanned.flatten();
        let payload: &[u8] = scanned.as_deref().unwrap_or(payload);
        match self.restore.as_mut() {
            Some((map, restorer)) => match restore_event(map, restorer, payload) {
                Some(rewritten) => Verdict::Rewrite(rewritten),
                None => scanned.clone().map_or(Verdict::Pass, Verdict::Rewrite),
            },
            None => scanned.clone().map_or(Verdict::Pass, Verdict::Rewrite),
        }
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

/// Restores placeholders in one stream event: chat deltas (`content`, tool-call
/// `arguments`) and Responses-API `delta` text. Text that may be the start of a placeholder
/// is held back until the next event of the same choice, and released with the choice's
/// `finish_reason`. Returns the new payload, or `None` when nothing changed.
fn restore_event(map: &Placeholders, restorer: &mut Restorer, payload: &[u8]) -> Option<Vec<u8>> {
    if memchr::memchr(b'[', payload).is_none() && !restorer.holding() {
        return None;
    }
    let mut event: Value = serde_json::from_slice(payload).ok()?;
    let before = event.clone();
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if kind.ends_with(".done") || kind == "response.completed" {
        // Responses-API summary events carry the whole text again: restore it whole, and
        // release whatever the deltas were holding.
        map.restore_json(&mut event);
        restorer.finish_all();
        return (event != before)
            .then(|| serde_json::to_vec(&event).ok())
            .flatten();
    }
    if let Some(Value::String(delta)) = event.get_mut("delta") {
        // Responses-API text deltas: one stream per output item and content part.
        let key = format!("r.{kind}.{}", event_item(&before));
        *delta = restorer.push(map, &key, delta);
    }
    if let Some(Value::Array(choices)) = event.get_mut("choices") {
        for (pos, choice) in choices.iter_mut().enumerate() {
            // Streams name their choice: with `n > 1` each chunk may carry just one.
            let i = choice
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            let finished = choice.get("finish_reason").is_some_and(|f| !f.is_null());
            for field in ["content", "reasoning"] {
                if let Some(Value::String(text)) = choice.pointer_mut(&format!("/delta/{field}")) {
                    *text = restorer.push(map, &format!("{i}.{field}"), text);
                }
            }
            // Legacy completions stream `choices[].text`.
            if let Some(Value::String(text)) = choice.get_mut("text") {
                *text = restorer.push(map, &format!("{i}.text"), text);
            }
            if let Some(Value::Array(calls)) = choice.pointer_mut("/delta/tool_calls") {
                for (j, call) in calls.iter_mut().enumerate() {
                    let t = call
                        .get("index")
                        .and_then(Value::as_u64)
                        .unwrap_or(j as u64);
                    if let Some(Value::String(args)) = call.pointer_mut("/function/arguments") {
                        *args = restorer.push(map, &format!("{i}.tool.{t}"), args);
                    }
                }
            }
            if finished {
                flush_choice(restorer, i, choice);
            }
        }
    }
    (event != before)
        .then(|| serde_json::to_vec(&event).ok())
        .flatten()
}

/// The output item and content part a Responses-API event belongs to.
fn event_item(event: &Value) -> String {
    let field = |k: &str| event.get(k).map(ToString::to_string).unwrap_or_default();
    format!(
        "{}.{}.{}",
        field("item_id"),
        field("output_index"),
        field("content_index")
    )
}

/// A choice finished: everything held back for it goes out in this last chunk.
fn flush_choice(restorer: &mut Restorer, i: u64, choice: &mut Value) {
    let prefix = format!("{i}.");
    for (key, rest) in restorer.finish_matching(&prefix) {
        if rest.is_empty() {
            continue;
        }
        let Some(obj) = choice.as_object_mut() else {
            return;
        };
        let field = key.strip_prefix(&prefix).unwrap_or_default();
        let target = if field == "text" {
            obj.entry("text")
                .or_insert_with(|| Value::String(String::new()))
        } else {
            let delta = obj
                .entry("delta")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            let Some(delta) = delta.as_object_mut() else {
                continue;
            };
            if field.starts_with("tool.") {
                // Held-back argument text is rare (a `[` at the very end); it goes out as
                // content rather than being dropped.
                delta
                    .entry("content")
                    .or_insert_with(|| Value::String(String::new()))
            } else {
                delta
                    .entry(field)
                    .or_insert_with(|| Value::String(String::new()))
            }
        };
        if let Value::String(s) = target {
            s.push_str(&rest);
        }
    }
}
