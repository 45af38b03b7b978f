//! Traces: one SERVER span per client request and one CLIENT span per upstream attempt
//! (retries and fallbacks included), exported over OTLP/HTTP (protobuf) when
//! `[telemetry] otlp_endpoint` is set.
//!
//! Off (the default), [`Traces`] holds nothing and [`Traces::server`] returns `None`: no
//! span, context or attribute is built on the request path. On, spans are built with the
//! OpenTelemetry SDK directly (not through the `tracing` subscriber: log lines stay what
//! they are), handed to the SDK's batch processor and sent from its own thread. A slow or
//! unreachable collector costs dropped spans, a rate-limited warning and
//! `orguard_telemetry_export_errors_total` — never a request.
//!
//! Attributes follow the OpenTelemetry GenAI semantic conventions, plus `orguard.*`.
//! Nothing secret goes in: no prompt, no key (the key's id), no model id holding a detected
//! value (the pipeline hands over the same filtered model the audit records), and the
//! client's `tracestate` is never read, so never exported nor propagated.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue, StringValue, Value};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, SpanData, SpanExporter,
};
use opentelemetry_sdk::Resource;

use crate::metrics::AttemptOutcome;
use crate::request::Endpoint;

/// Where traces go. `None` endpoint: tracing is off and no span is ever built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySettings {
    /// The full OTLP/HTTP traces URL (`…/v1/traces`).
    pub traces_url: Option<String>,
    pub service_name: String,
    pub batch_delay: Duration,
    pub export_timeout: Duration,
}

/// The trace pipeline of the process: nothing when tracing is off. Cloning shares it.
#[derive(Clone, Default)]
pub struct Traces(Option<Arc<Inner>>);

struct Inner {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

/// Why the exporter could not be built (a config the validation let through, in practice
/// never).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the OTLP trace exporter: {0}")]
pub struct TracesError(String);

impl Traces {
    /// No tracing: every span this hands out is `None`.
    pub fn off() -> Self {
        Self(None)
    }

    /// Starts the exporter for `settings` (off when no endpoint is set). Export failures
    /// are counted in `errors`. The batch processor runs on its own thread, so this needs
    /// no runtime and nothing it does waits on a request.
    pub fn start(
        settings: &TelemetrySettings,
        errors: prometheus::IntCounter,
    ) -> Result<Self, TracesError> {
        let Some(url) = &settings.traces_url else {
            return Ok(Self::off());
        };
        let otlp = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.clone())
            .with_timeout(settings.export_timeout)
            .build()
            .map_err(|e| TracesError(crate::secret::mask_text(&e.to_string())))?;
        let exporter = Counted {
            inner: otlp,
            errors,
            last_warned: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        };
        let batch = BatchConfigBuilder::default()
            .with_scheduled_delay(settings.batch_delay)
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build();
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("orguard");
        tracing::info!(endpoint = %url, service_name = %settings.service_name, "exporting traces (OTLP/HTTP)");
        Ok(Self(Some(Arc::new(Inner { provider, tracer }))))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The SERVER span of one inference request, child of the client's `traceparent` when
    /// it sent a valid one. `None` when tracing is off.
    pub fn server(
        &self,
        headers: &HeaderMap,
        endpoint: Endpoint,
        method: &str,
    ) -> Option<ServerSpan> {
        let inner = self.0.as_ref()?;
        let operation = operation_name(endpoint);
        let parent = TraceContextPropagator::new().extract(&Incoming { headers });
        let span = inner
            .tracer
            .span_builder(operation)
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("gen_ai.operation.name", operation),
                KeyValue::new("http.request.method", method.to_owned()),
                KeyValue::new("http.route", endpoint.upstream_path()),
            ])
            .start_with_context(&inner.tracer, &parent);
        Some(ServerSpan {
            cx: parent.with_span(span),
            tracer: inner.tracer.clone(),
            operation: Some(operation),
            provider: "openrouter".into(),
            has_model: false,
            has_class: false,
        })
    }

    /// The SERVER span of a request on a route that is not an inference (the model list,
    /// passthrough paths): named `"{method} {route}"`, as HTTP spans are.
    pub fn server_route(
        &self,
        headers: &HeaderMap,
        method: &str,
        route: &str,
    ) -> Option<ServerSpan> {
        let inner = self.0.as_ref()?;
        let parent = TraceContextPropagator::new().extract(&Incoming { headers });
        let span = inner
            .tracer
            .span_builder(format!("{method} {route}"))
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", method.to_owned()),
                KeyValue::new("http.route", route.to_owned()),
            ])
            .start_with_context(&inner.tracer, &parent);
        Some(ServerSpan {
            cx: parent.with_span(span),
            tracer: inner.tracer.clone(),
            operation: None,
            provider: "openrouter".into(),
            has_model: false,
            has_class: false,
        })
    }

    /// Sends what is still queued and stops the export thread. Blocks (up to the export
    /// timeout): call it off the async workers, at shutdown.
    pub fn shutdown(&self) {
        if let Some(inner) = &self.0 {
            if let Err(e) = inner.provider.shutdown() {
                tracing::warn!(error = %crate::secret::mask_text(&e.to_string()), "traces not flushed at shutdown");
            }
        }
    }
}

/// The GenAI `gen_ai.operation.name` of an endpoint. The Responses API is a chat.
fn operation_name(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::ChatCompletions | Endpoint::Responses => "chat",
        Endpoint::Completions => "text_completion",
        Endpoint::Embeddings => "embeddings",
    }
}

/// The SERVER span of one client request, open until the request (or its stream) ends.
/// A clone is a handle on the same span (the parent of each attempt's span); the first
/// `end_*` ends it.
#[derive(Clone)]
pub struct ServerSpan {
    cx: Context,
    tracer: SdkTracer,
    /// `gen_ai.operation.name`; `None` on a route that is not an inference.
    operation: Option<&'static str>,
    /// `gen_ai.provider.name`: `openrouter`, or the self-hosted upstream's name.
    provider: StringValue,
    /// Whether the model and the class are on the span already (each is set once).
    has_model: bool,
    has_class: bool,
}

impl ServerSpan {
    /// Sets one attribute.
    pub fn set(&self, attribute: KeyValue) {
        self.cx.span().set_attribute(attribute);
    }

    /// The requested model, once known and checked (the audit's `model_requested`): the
    /// span is named `"{operation} {model}"`. Only the first call counts.
    pub fn model(&mut self, model: &str) {
        if std::mem::replace(&mut self.has_model, true) {
            return;
        }
        let span = self.cx.span();
        if let Some(operation) = self.operation {
            span.update_name(format!("{operation} {model}"));
        }
        span.set_attribute(KeyValue::new("gen_ai.request.model", model.to_owned()));
    }

    /// The data class (`orguard.class`). Only the first call counts.
    pub fn class(&mut self, class: &'static str) {
        if !std::mem::replace(&mut self.has_class, true) {
            self.set(KeyValue::new("orguard.class", class));
        }
    }

    /// The upstream the class routes to (`openrouter` or an `[upstreams.NAME]` name).
    pub fn provider(&mut self, name: &str) {
        self.provider = name.to_owned().into();
        self.set(KeyValue::new("gen_ai.provider.name", self.provider.clone()));
    }

    /// A CLIENT span for one upstream attempt at `model` on `base_url`, child of this span.
    pub fn attempt(&self, model: &str, base_url: &str, method: &str) -> ClientSpan {
        let name = match self.operation {
            Some(operation) => format!("{operation} {model}"),
            None => method.to_owned(),
        };
        let mut attributes = vec![
            KeyValue::new("gen_ai.provider.name", self.provider.clone()),
            KeyValue::new("http.request.method", method.to_owned()),
        ];
        if let Some(operation) = self.operation {
            attributes.push(KeyValue::new("gen_ai.operation.name", operation));
            attributes.push(KeyValue::new("gen_ai.request.model", model.to_owned()));
        }
        if let Ok(url) = reqwest::Url::parse(base_url) {
            if let Some(host) = url.host_str() {
                attributes.push(KeyValue::new("server.address", host.to_owned()));
            }
            if let Some(port) = url.port_or_known_default() {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
        }
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &self.cx);
        let mut headers = Outgoing(Vec::with_capacity(2));
        let cx = Context::new().with_remote_span_context(span.span_context().clone());
        TraceContextPropagator::new().inject_context(&cx, &mut headers);
        ClientSpan {
            span,
            headers: headers.0,
        }
    }

    /// Ends the span of a request refused or failed before it was answered: `status` is
    /// what the client got, `error` the gateway's error code.
    pub fn end_error(self, status: u16, error: &'static str) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        span.set_attribute(KeyValue::new("error.type", error));
        if status >= 500 {
            span.set_status(Status::error(error));
        }
        span.end();
    }

    /// Ends the span of a request on a route that is not an inference, answered `status`.
    pub fn end_status(self, status: u16) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            span.set_attribute(KeyValue::new("error.type", status.to_string()));
            span.set_status(Status::error(status.to_string()));
        }
        span.end();
    }

    /// Ends the span of an answered request with what the answer said.
    pub fn end_response(self, end: &ResponseEnd<'_>) {
        let span = self.cx.span();
        let mut attributes = vec![KeyValue::new(
            "http.response.status_code",
            i64::from(end.status),
        )];
        if let Some(model) = end.model {
            attributes.push(KeyValue::new("gen_ai.response.model", model.to_owned()));
        }
        if let Some(n) = end.input_tokens {
            attributes.push(KeyValue::new("gen_ai.usage.input_tokens", saturating(n)));
        }
        if let Some(n) = end.output_tokens {
            attributes.push(KeyValue::new("gen_ai.usage.output_tokens", saturating(n)));
        }
        if !end.finish_reasons.is_empty() {
            let reasons: Vec<StringValue> = end
                .finish_reasons
                .iter()
                .map(|r| StringValue::from(r.clone()))
                .collect();
            attributes.push(KeyValue::new(
                "gen_ai.response.finish_reasons",
                Value::Array(reasons.into()),
            ));
        }
        if let Some(cost) = end.cost_usd {
            attributes.push(KeyValue::new("orguard.cost_usd", cost));
        }
        attributes.push(KeyValue::new("orguard.outcome", end.outcome));
        if let Some(error) = end.error {
            attributes.push(KeyValue::new("error.type", error));
        }
        span.set_attributes(attributes);
        if end.status >= 500 {
            span.set_status(Status::error(end.error.unwrap_or(end.outcome)));
        }
        span.end();
    }
}

/// How an answered request ended, for its SERVER span.
pub struct ResponseEnd<'a> {
    pub status: u16,
    pub model: Option<&'a str>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub finish_reasons: &'a [String],
    pub cost_usd: Option<f64>,
    /// The audit's outcome (`completed`, `upstream_error`, `client_cancelled`…).
    pub outcome: &'static str,
    /// `error.type`, when the request did not complete.
    pub error: Option<&'static str>,
}

fn saturating(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The CLIENT span of one upstream attempt, ended when the answer's headers arrive or the
/// attempt fails.
pub struct ClientSpan {
    span: opentelemetry_sdk::trace::Span,
    /// `traceparent` (and `tracestate`) naming this span, for the upstream request.
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ClientSpan {
    /// The trace headers the upstream request carries: this attempt's `traceparent`.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// Ends the span with the attempt's outcome (as `orguard_upstream_attempts_total`
    /// counts it).
    pub fn end(mut self, outcome: AttemptOutcome) {
        self.span
            .set_attribute(KeyValue::new("orguard.attempt.outcome", outcome.label()));
        match outcome {
            AttemptOutcome::Status(status) => {
                self.span.set_attribute(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status),
                ));
                if status >= 400 {
                    self.span
                        .set_attribute(KeyValue::new("error.type", status.to_string()));
                    self.span.set_status(Status::error(status.to_string()));
                }
            }
            other => {
                self.span
                    .set_attribute(KeyValue::new("error.type", other.audit_name()));
                self.span.set_status(Status::error(other.audit_name()));
            }
        }
        self.span.end();
    }
}

/// The client's `traceparent`, as the propagator reads it. The client's `tracestate` is
/// never read: it is free text for other vendors, and whatever orguard reads here is
/// exported and sent upstream to a third party.
struct Incoming<'a> {
    headers: &'a HeaderMap,
}

impl Extractor for Incoming<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if key.eq_ignore_ascii_case("tracestate") {
            return None;
        }
        self.headers.get(key)?.to_str().ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.headers.keys().map(HeaderName::as_str).collect()
    }
}

/// The trace headers written for one upstream attempt.
struct Outgoing(Vec<(HeaderName, HeaderValue)>);

impl Injector for Outgoing {
    fn set(&mut self, key: &str, value: String) {
        if value.is_empty() {
            return;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.push((name, value));
        }
    }
}

/// The OTLP exporter, with its failures counted and logged at most once a minute.
struct Counted<E> {
    inner: E,
    errors: prometheus::IntCounter,
    /// Unix seconds of the last warning.
    last_warned: AtomicU64,
    /// Failures since that warning.
    suppressed: AtomicU64,
}

/// Seconds between two warnings about a failing collector.
const WARN_EVERY: u64 = 60;

impl<E> std::fmt::Debug for Counted<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counted(otlp)")
    }
}

impl<E> Counted<E> {
    fn failed(&self, spans: usize, error: &dyn std::fmt::Display) {
        self.errors.inc();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        let last = self.last_warned.load(Ordering::Relaxed);
        if now.saturating_sub(last) < WARN_EVERY
            || self
                .last_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let earlier = self.suppressed.swap(0, Ordering::Relaxed);
        // The collector's answer can be long; its first line says enough.
        let text = crate::secret::mask_text(&error.to_string());
        let text: String = text.chars().take(300).collect();
        tracing::warn!(
            spans,
            failures_since_last_warning = earlier,
            error = %text,
            "trace export failed; spans dropped (requests are unaffected)"
        );
    }
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        if let Err(e) = &result {
            self.failed(spans, e);
        }
        result
    }

    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&mut self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
