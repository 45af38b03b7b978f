//! Prometheus metrics. Every metric is declared here once, with its labels; the rest of the
//! gateway calls the `record_*` helpers.
//!
//! Labels never carry secrets, prompt text or free user input. Model ids are labels only
//! after the policy validated them, and even then a bounded set: past [`MAX_LABEL_VALUES`]
//! distinct values a label reads `other`, so a client cycling through model names cannot
//! grow the registry without bound.

use std::borrow::Cow;
use std::fmt;
use std::sync::Mutex;

use prometheus::{
    CounterVec, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Distinct values one open-ended label (model, provider, key id) may take.
pub const MAX_LABEL_VALUES: usize = 500;

/// Gateway overhead buckets, from 50 µs to 1 s.
const OVERHEAD_BUCKETS: [f64; 12] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
];

/// Latency buckets from 10 ms to 60 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0,
];

/// All of the gateway's metrics.
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub tokens: IntCounterVec,
    pub cost: CounterVec,
    pub redactions: IntCounterVec,
    pub denials: IntCounterVec,
    pub violations: IntCounterVec,
    pub attempts: IntCounterVec,
    pub fallbacks: IntCounterVec,
    pub circuit_open: GaugeVec,
    pub audit_records: IntCounterVec,
    pub audit_queue_depth: IntGauge,
    pub audit_failing: IntGauge,
    pub audit_witness: IntCounterVec,
    pub audit_witness_pending: IntGauge,
    pub audit_fsyncs: prometheus::IntCounter,
    pub credit: GaugeVec,
    pub credit_poll_ok: Gauge,
    pub account: GaugeVec,
    pub budget: GaugeVec,
    pub state_errors: IntCounterVec,
    pub config_reloads: IntCounterVec,
    pub config_last_reload: Gauge,
    pub upstream_key_errors: IntCounterVec,
    /// Trace batches the OTLP collector did not take (unreachable, refused, timed out).
    pub telemetry_export_errors: prometheus::IntCounter,
    /// 1, labelled with the version: which build each replica runs.
    pub build_info: IntGaugeVec,
    /// Requests holding an upstream slot (`resilience.max_in_flight`), refreshed at scrape.
    pub in_flight: IntGauge,
    /// Requests waiting for an upstream slot (load shedding's queue).
    pub queued: IntGauge,
    /// Time from a request's arrival to its first upstream attempt: what the gateway adds
    /// before the upstream sees the request.
    pub overhead: Histogram,
    /// Failed calls to an external content analyzer (Presidio), by reason and by what the
    /// request then did (`refused` under fail_closed, `continued` under fail_open).
    pub detector_errors: IntCounterVec,
    /// How long the external content analyzer took to answer, per request that asked it.
    pub detector_latency: HistogramVec,
    /// Per label, the values seen (foldhash: this is on every request's path, and each
    /// set is capped, so a seeded fast hash is enough).
    seen: Mutex<foldhash::HashMap<&'static str, foldhash::HashSet<String>>>,
}

fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    m: Result<M, prometheus::Error>,
) -> Result<M, prometheus::Error> {
    let m = m?;
    registry.register(Box::new(m.clone()))?;
    Ok(m)
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let r = Registry::new();
        let metrics = Self {
            requests: registered(&r, IntCounterVec::new(Opts::new("orguard_requests_total", "Inference requests by endpoint, class, model, served provider and status"), &["endpoint", "class", "model", "provider", "status"]))?,
            latency: registered(&r, HistogramVec::new(HistogramOpts::new("orguard_request_duration_seconds", "Latency per model: ttfb (response headers or first stream event) and total").buckets(LATENCY_BUCKETS.to_vec()), &["model", "phase"]))?,
            tokens: registered(&r, IntCounterVec::new(Opts::new("orguard_tokens_total", "Tokens by key, model and direction (prompt, completion)"), &["key_id", "model", "direction"]))?,
            cost: registered(&r, CounterVec::new(Opts::new("orguard_cost_usd_total", "Upstream cost (usage.cost) by key and model"), &["key_id", "model"]))?,
            redactions: registered(&r, IntCounterVec::new(Opts::new("orguard_redactions_total", "Values rewritten by type"), &["type"]))?,
            denials: registered(&r, IntCounterVec::new(Opts::new("orguard_denials_total", "Requests refused by the gateway, by error code"), &["code"]))?,
            violations: registered(&r, IntCounterVec::new(Opts::new("orguard_violations_total", "Responses served outside policy, by kind and action"), &["kind", "action"]))?,
            attempts: registered(&r, IntCounterVec::new(Opts::new("orguard_upstream_attempts_total", "Upstream attempts by outcome (status, connect, timeout, circuit_open)"), &["outcome"]))?,
            fallbacks: registered(&r, IntCounterVec::new(Opts::new("orguard_fallbacks_total", "Requests served by a fallback model"), &["model"]))?,
            circuit_open: registered(&r, GaugeVec::new(Opts::new("orguard_circuit_open", "1 while a model's circuit breaker is open"), &["model"]))?,
            audit_records: registered(&r, IntCounterVec::new(Opts::new("orguard_audit_records_total", "Audit records by result (written, failed, lost)"), &["result"]))?,
            audit_queue_depth: registered(&r, IntGauge::new("orguard_audit_queue_depth", "Audit records waiting for the writer"))?,
            audit_failing: registered(&r, IntGauge::new("orguard_audit_failing", "1 while the audit sink is failing"))?,
            audit_witness: registered(&r, IntCounterVec::new(Opts::new("orguard_audit_witness_total", "Checkpoint copies to the witnesses by result (written, failed: a write attempt failed and will be retried, dropped: never witnessed)"), &["result"]))?,
            audit_witness_pending: registered(&r, IntGauge::new("orguard_audit_witness_pending", "Checkpoints waiting to reach a witness (retried with backoff)"))?,
            audit_fsyncs: registered(&r, prometheus::IntCounter::new("orguard_audit_fsyncs_total", "fsyncs of the audit file (group commit: one per batch a request waits on, plus deferred and interval syncs)"))?,
            credit: registered(&r, GaugeVec::new(Opts::new("orguard_upstream_credit_usd", "The upstream key's credit state from GET /key (limit, usage, limit_remaining, usage_daily)"), &["field"]))?,
            credit_poll_ok: registered(&r, Gauge::new("orguard_upstream_credit_poll_success", "Whether the last GET /key poll succeeded (1) or failed (0)"))?,
            account: registered(&r, GaugeVec::new(Opts::new("orguard_upstream_account_usd", "The OpenRouter account's credits from GET /credits (total_credits, total_usage, balance); needs upstream.management_key_file"), &["field"]))?,
            budget: registered(&r, GaugeVec::new(Opts::new("orguard_budget_usd", "Per-key budget state in the current period (limit, spent, reserved, remaining), refreshed at scrape"), &["key_id", "field"]))?,
            state_errors: registered(&r, IntCounterVec::new(Opts::new("orguard_state_errors_total", "Failures of the shared state store (Redis) by operation"), &["op"]))?,
            config_reloads: registered(&r, IntCounterVec::new(Opts::new("orguard_config_reloads_total", "SIGHUP config reloads by result (applied, rejected)"), &["result"]))?,
            config_last_reload: registered(&r, Gauge::new("orguard_config_last_reload_success_timestamp_seconds", "Unix time the config in use was loaded (start, or the last applied reload)"))?,
            upstream_key_errors: registered(&r, IntCounterVec::new(Opts::new("orguard_upstream_key_errors_total", "Upstream refusals of the gateway's own account, by code (upstream_key_rejected, upstream_credit_exhausted)"), &["code"]))?,
            telemetry_export_errors: registered(&r, prometheus::IntCounter::new("orguard_telemetry_export_errors_total", "Trace batches the OTLP collector did not take (their spans are dropped; requests are unaffected)"))?,
            build_info: registered(&r, IntGaugeVec::new(Opts::new("orguard_build_info", "1, labelled with the running version"), &["version"]))?,
            in_flight: registered(&r, IntGauge::new("orguard_in_flight_requests", "Requests holding an upstream slot (resilience.max_in_flight)"))?,
            queued: registered(&r, IntGauge::new("orguard_queued_requests", "Requests waiting for an upstream slot"))?,
            overhead: registered(&r, Histogram::with_opts(HistogramOpts::new("orguard_gateway_overhead_seconds", "Time from a request's arrival to its first upstream attempt (what the gateway adds before the upstream sees it)").buckets(OVERHEAD_BUCKETS.to_vec())))?,
            detector_errors: registered(&r, IntCounterVec::new(Opts::new("orguard_detector_errors_total", "Calls to an external content analyzer that gave no usable answer, by detector, reason (timeout, unreachable, status, invalid_answer) and result (refused: fail_closed, continued: fail_open)"), &["detector", "reason", "result"]))?,
            detector_latency: registered(&r, HistogramVec::new(HistogramOpts::new("orguard_detector_duration_seconds", "Time an external content analyzer took per request (failures included)").buckets(OVERHEAD_BUCKETS.to_vec()), &["detector"]))?,
            registry: r,
            seen: Mutex::new(foldhash::HashMap::default()),
        };
        // Unknown until the first poll (and forever when polling is off): NaN compares false,
        // so "poll failing" alerts do not fire on a gateway that does not poll.
        metrics.credit_poll_ok.set(f64::NAN);
        // Both results from the start, so `increase(…{result="rejected"}[5m]) > 0` alerts
        // work on a gateway that has never reloaded.
        for result in ["applied", "rejected"] {
            metrics.config_reloads.with_label_values(&[result]);
        }
        metrics.config_last_reload.set(unix_now());
        metrics
            .build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Ok(metrics)
    }

    /// Counts a SIGHUP reload; an applied one also moves the "loaded at" gauge.
    pub fn record_reload(&self, applied: bool) {
        let result = if applied { "applied" } else { "rejected" };
        // The timestamp before the counter: a reader that sees the count sees the time.
        if applied {
            self.config_last_reload.set(unix_now());
        }
        self.config_reloads.with_label_values(&[result]).inc();
    }

    /// A value of an open-ended label, bounded per label: past the cap it reads `other`
    /// (so upstream-chosen model names cannot crowd out key ids, and vice versa). `@` is
    /// dropped as the audit's violation text drops it: a label is never an e-mail address.
    pub fn bounded(&self, label: &'static str, value: &str) -> String {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_./: ".contains(c);
        // Model ids and class names are nearly always clean already: checked, not rebuilt.
        let clean: std::borrow::Cow<'_, str> = if value.len() <= 100 && value.chars().all(allowed) {
            std::borrow::Cow::Borrowed(value)
        } else {
            value.chars().filter(|c| allowed(*c)).take(100).collect()
        };
        let Ok(mut seen) = self.seen.lock() else {
            return "other".to_owned();
        };
        let set = seen.entry(label).or_default();
        if set.contains(clean.as_ref()) {
            clean.into_owned()
        } else if set.len() < MAX_LABEL_VALUES {
            let clean = clean.into_owned();
            set.insert(clean.clone());
            clean
        } else {
            "other".to_owned()
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// How one upstream attempt ended: the label of `orguard_upstream_attempts_total` and the
/// `outcome` of an entry in the `response` record's `attempts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The upstream answered with this status (success or not).
    Status(u16),
    /// No connection, or it broke before an answer.
    Connect,
    /// No answer in time: the upstream may have been generating (and billing).
    Timeout,
    /// The upstream's key is not configured.
    NotConfigured,
    /// The answer could not be read (too large, malformed).
    Protocol,
    /// The request could not be built.
    Build,
    /// The model's circuit breaker was open: nothing was sent.
    CircuitOpen,
}

impl AttemptOutcome {
    /// The label value: the status as digits, else the outcome's name.
    pub fn label(self) -> Cow<'static, str> {
        match self {
            Self::Status(status) => Cow::Owned(status.to_string()),
            Self::Connect => Cow::Borrowed("connect"),
            Self::Timeout => Cow::Borrowed("timeout"),
            Self::NotConfigured => Cow::Borrowed("not_configured"),
            Self::Protocol => Cow::Borrowed("protocol"),
            Self::Build => Cow::Borrowed("build"),
            Self::CircuitOpen => Cow::Borrowed("circuit_open"),
        }
    }
}

impl AttemptOutcome {
    /// The HTTP status the upstream answered, if it answered.
    pub fn status(self) -> Option<u16> {
        match self {
            Self::Status(status) => Some(status),
            _ => None,
        }
    }

    /// The attempt's `outcome` in the audit record (`audit::record::AttemptRecord`): the
    /// status itself is recorded beside it, so a status is `ok` or `http_error` here.
    pub fn audit_name(self) -> &'static str {
        match self {
            Self::Status(status) if (200..300).contains(&status) => "ok",
            Self::Status(_) => "http_error",
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::NotConfigured => "not_configured",
            Self::Protocol => "protocol",
            Self::Build => "build",
            Self::CircuitOpen => "circuit_open",
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// The labels of one finished inference request (`orguard_requests_total`), by name so a
/// call site cannot swap two of them. `model` and `provider` are already bounded.
pub struct RequestLabels<'a> {
    pub endpoint: &'static str,
    pub class: &'static str,
    pub model: &'a str,
    pub provider: &'a str,
    pub status: u16,
}

/// Which latency `orguard_request_duration_seconds` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyPhase {
    /// Until the response headers (or the first stream event) arrived.
    Ttfb,
    /// Until the request ended.
    Total,
}

impl LatencyPhase {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ttfb => "ttfb",
            Self::Total => "total",
        }
    }
}

impl Metrics {
    /// Counts one finished inference request.
    pub fn record_request(&self, l: &RequestLabels<'_>) {
        let status = l.status.to_string();
        self.requests
            .with_label_values(&[l.endpoint, l.class, l.model, l.provider, &status])
            .inc();
    }

    /// Counts one failed call to an external analyzer and what the request did about it.
    pub fn record_detector_error(
        &self,
        detector: &'static str,
        reason: &'static str,
        refused: bool,
    ) {
        let result = if refused { "refused" } else { "continued" };
        self.detector_errors
            .with_label_values(&[detector, reason, result])
            .inc();
    }

    /// Counts one request the gateway refused before its outcome was recorded.
    pub fn record_denial(&self, code: crate::error_code::ErrorCode) {
        self.denials.with_label_values(&[code.as_str()]).inc();
    }

    /// Holds the `queued` gauge up while a request waits for an upstream slot.
    pub fn queueing(&self) -> Queued<'_> {
        self.queued.inc();
        Queued(&self.queued)
    }

    /// Counts one upstream attempt.
    pub fn record_attempt(&self, outcome: AttemptOutcome) {
        self.attempts.with_label_values(&[&outcome.label()]).inc();
    }

    /// Counts `n` values of type `kind` rewritten by the redaction.
    pub fn record_redactions(&self, kind: &str, n: u64) {
        self.redactions.with_label_values(&[kind]).inc_by(n);
    }

    /// Counts a request served by fallback `model` (a bounded label).
    pub fn record_fallback(&self, model: &str) {
        self.fallbacks.with_label_values(&[model]).inc();
    }

    /// Observes one latency of a request for `model` (a bounded label).
    pub fn record_latency(&self, model: &str, phase: LatencyPhase, seconds: f64) {
        self.latency
            .with_label_values(&[model, phase.as_str()])
            .observe(seconds);
    }

    /// Counts a request's tokens and cost for `key` and `model` (bounded labels). A cost
    /// that is not a finite, non-negative number is not counted.
    pub fn record_usage(
        &self,
        key: &str,
        model: &str,
        prompt_tokens: Option<u64>,
        completion_tokens: Option<u64>,
        cost: Option<f64>,
    ) {
        if let Some(n) = prompt_tokens {
            self.tokens
                .with_label_values(&[key, model, "prompt"])
                .inc_by(n);
        }
        if let Some(n) = completion_tokens {
            self.tokens
                .with_label_values(&[key, model, "completion"])
                .inc_by(n);
        }
        if let Some(c) = cost.filter(|c| c.is_finite() && *c >= 0.0) {
            self.cost.with_label_values(&[key, model]).inc_by(c);
        }
    }

    /// Counts an upstream refusal of the gateway's own account.
    pub fn record_upstream_key_error(&self, code: crate::error_code::ErrorCode) {
        self.upstream_key_errors
            .with_label_values(&[code.as_str()])
            .inc();
    }
}

/// Seconds since the Unix epoch, as Prometheus timestamps are.
fn unix_now() -> f64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9
}

/// A request waiting for an upstream slot; leaving the queue (admitted, timed out, or the
/// client gone) takes it off the gauge.
pub struct Queued<'m>(&'m IntGauge);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_ended_label_keeps_the_values_it_has_seen_and_caps_new_ones_per_label() {
        let m = Metrics::new().unwrap();
        assert_eq!(m.bounded("model", "openai/gpt-4o\"}\n#"), "openai/gpt-4o");
        for i in 1..MAX_LABEL_VALUES {
            assert_eq!(m.bounded("model", &format!("m{i}")), format!("m{i}"));
        }
        // Full: a new value is `other`, a value seen before is still itself.
        assert_eq!(m.bounded("model", "new/model"), "other");
        assert_eq!(m.bounded("model", "m7"), "m7");
        assert_eq!(m.bounded("model", "openai/gpt-4o"), "openai/gpt-4o");
        // Another label has its own room.
        assert_eq!(m.bounded("key_id", "new/model"), "new/model");
        // An address is never a label value whole.
        assert_eq!(
            m.bounded("key_id", "jane.doe@example.com"),
            "jane.doeexample.com"
        );
    }
}
