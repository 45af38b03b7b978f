//! Traces through HTTP: the gateway under test exports OTLP/HTTP protobuf to a receiver this
//! file runs on 127.0.0.1, which decodes every `ExportTraceServiceRequest`. Checked: span
//! names, GenAI and orguard attributes (plain, streamed, fallback, refused), parentage
//! (incoming `traceparent` → SERVER span → one CLIENT span per attempt), the `traceparent`
//! the mock upstream receives, and that no prompt text or key is in the exported bytes.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use common::{chat_body, upstream_key, MockUpstream, Reply, TestGateway, CLIENT_KEY};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};

/// An OTLP/HTTP receiver keeping every request body it was posted.
struct Collector {
    addr: std::net::SocketAddr,
    bodies: Arc<Mutex<Vec<Bytes>>>,
}

impl Collector {
    async fn start() -> Self {
        let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
        let kept = Arc::clone(&bodies);
        let app = Router::new().route(
            "/v1/traces",
            post(move |headers: axum::http::HeaderMap, body: Bytes| {
                let kept = Arc::clone(&kept);
                async move {
                    assert_eq!(
                        headers["content-type"], "application/x-protobuf",
                        "OTLP/HTTP protobuf"
                    );
                    kept.lock().unwrap().push(body);
                    // An empty ExportTraceServiceResponse.
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Collector { addr, bodies }
    }

    /// The `[telemetry]` table pointing at this receiver, with a short batch delay.
    fn config(&self) -> String {
        format!(
            "\n[telemetry]\notlp_endpoint = \"http://{}/\"\nservice_name = \"orguard-test\"\nbatch_delay_ms = 50\n",
            self.addr
        )
    }

    fn raw(&self) -> Vec<u8> {
        self.bodies.lock().unwrap().concat()
    }

    fn spans(&self) -> Vec<Span> {
        let mut out = Vec::new();
        for body in self.bodies.lock().unwrap().iter() {
            let req = ExportTraceServiceRequest::decode(body.clone()).expect("valid protobuf");
            for rs in req.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                    .and_then(|a| a.value.as_ref())
                    .and_then(|v| v.value.clone());
                assert_eq!(service, Some(Any::StringValue("orguard-test".into())));
                for ss in rs.scope_spans {
                    out.extend(ss.spans);
                }
            }
        }
        out
    }

    /// Waits until `servers` SERVER and `clients` CLIENT spans have arrived.
    async fn wait_for(&self, servers: usize, clients: usize) -> Vec<Span> {
        for _ in 0..200 {
            let spans = self.spans();
            if count(&spans, SpanKind::Server) >= servers
                && count(&spans, SpanKind::Client) >= clients
            {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("spans did not arrive: {:#?}", self.spans());
    }
}

fn count(spans: &[Span], kind: SpanKind) -> usize {
    spans.iter().filter(|s| s.kind == kind as i32).count()
}

fn of_kind(spans: &[Span], kind: SpanKind) -> Vec<&Span> {
    spans.iter().filter(|s| s.kind == kind as i32).collect()
}

/// A span's attributes as JSON values, for readable assertions. Each key is set once.
fn attrs(span: &Span) -> HashMap<String, Value> {
    let mut keys: Vec<&str> = span.attributes.iter().map(|a| a.key.as_str()).collect();
    keys.sort_unstable();
    let n = keys.len();
    keys.dedup();
    assert_eq!(
        keys.len(),
        n,
        "an attribute set twice on {}: {keys:?}",
        span.name
    );
    span.attributes
        .iter()
        .map(|kv| {
            let v = kv
                .value
                .as_ref()
                .and_then(|v| v.value.as_ref())
                .map_or(Value::Null, any);
            (kv.key.clone(), v)
        })
        .collect()
}

fn any(v: &Any) -> Value {
    match v {
        Any::StringValue(s) => json!(s),
        Any::IntValue(i) => json!(i),
        Any::DoubleValue(d) => json!(d),
        Any::BoolValue(b) => json!(b),
        Any::ArrayValue(a) => Value::Array(
            a.values
                .iter()
                .filter_map(|v| v.value.as_ref())
                .map(any)
                .collect(),
        ),
        other => json!(format!("{other:?}")),
    }
}

/// The `traceparent` a client sends: trace and span ids it chose.
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn traceparent_parts(v: &str) -> (String, String) {
    let parts: Vec<&str> = v.split('-').collect();
    assert_eq!(parts.len(), 4, "{v}");
    assert_eq!(parts[0], "00");
    (parts[1].to_owned(), parts[2].to_owned())
}

/// Text that must never be exported: the prompt, a detected value in it, both keys.
const PROMPT: &str = "Summarise the zebra-quokka memo for alice.smith@example.com";

#[tokio::test]
async fn a_chat_call_is_one_server_span_and_one_client_span_carried_upstream() {
    let collector = Collector::start().await;
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start_with(&mock, &collector.config()).await;
    assert!(gw.state.traces.is_on());
    mock.push(Reply::ok(common::mock::chat_completion()));
    let r = gw
        .post("/api/v1/chat/completions")
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .header("tracestate", "vendor=abc")
        .body(
            json!({"model": "openai/gpt-4o-mini",
                "messages": [{"role": "user", "content": PROMPT}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let decisions = r.headers()["x-orguard-decisions"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(decisions.contains("redacted:EMAIL"), "{decisions}");
    let _ = r.bytes().await.unwrap();

    let spans = collector.wait_for(1, 1).await;
    let server = of_kind(&spans, SpanKind::Server);
    let client = of_kind(&spans, SpanKind::Client);
    assert_eq!((server.len(), client.len()), (1, 1), "{spans:#?}");
    let (server, client) = (server[0], client[0]);

    assert_eq!(server.name, "chat openai/gpt-4o-mini");
    let a = attrs(server);
    assert_eq!(a["gen_ai.operation.name"], "chat");
    assert_eq!(a["gen_ai.request.model"], "openai/gpt-4o-mini");
    assert_eq!(a["gen_ai.response.model"], "openai/gpt-4o");
    assert_eq!(a["gen_ai.provider.name"], "openrouter");
    assert_eq!(a["gen_ai.usage.input_tokens"], 3);
    assert_eq!(a["gen_ai.usage.output_tokens"], 4);
    assert_eq!(a["gen_ai.response.finish_reasons"], json!(["stop"]));
    assert_eq!(a["http.request.method"], "POST");
    assert_eq!(a["http.response.status_code"], 200);
    // The e-mail address raised the class (`class.pii_raise`).
    assert_eq!(a["orguard.class"], "confidential");
    assert_eq!(a["orguard.key_id"], "billing-1");
    assert_eq!(a["orguard.decisions"], json!(decisions));
    assert_eq!(a["orguard.cost_usd"], 0.00002);
    assert_eq!(a["orguard.outcome"], "completed");
    assert!(!a.contains_key("error.type"), "{a:?}");

    // The client's traceparent is the SERVER span's parent, in the client's trace.
    assert_eq!(hex::encode(&server.trace_id), CLIENT_TRACE);
    assert_eq!(hex::encode(&server.parent_span_id), CLIENT_SPAN);
    assert!(
        server.trace_state.is_empty(),
        "the client's tracestate is never read"
    );

    assert_eq!(client.name, "chat openai/gpt-4o-mini");
    assert_eq!(client.trace_id, server.trace_id);
    assert_eq!(client.parent_span_id, server.span_id);
    let c = attrs(client);
    assert_eq!(c["gen_ai.request.model"], "openai/gpt-4o-mini");
    assert_eq!(c["gen_ai.provider.name"], "openrouter");
    assert_eq!(c["server.address"], "127.0.0.1");
    assert_eq!(c["http.response.status_code"], 200);
    assert_eq!(c["orguard.attempt.outcome"], "200");

    // The upstream got a traceparent naming the CLIENT span — not the client's header.
    let sent = mock.last();
    let tp = sent.headers["traceparent"].to_str().unwrap();
    let (trace, parent) = traceparent_parts(tp);
    assert_eq!(trace, CLIENT_TRACE);
    assert_eq!(parent, hex::encode(&client.span_id));
    assert_ne!(parent, CLIENT_SPAN);
    assert_eq!(sent.headers.get_all("traceparent").iter().count(), 1);
    // The client's tracestate is other vendors' free text: never sent to a third party.
    assert!(sent.headers.get("tracestate").is_none());

    let raw = collector.raw();
    for secret in [
        "zebra-quokka",
        "alice.smith@example.com",
        CLIENT_KEY,
        &upstream_key(),
    ] {
        assert!(
            memchr::memmem::find(&raw, secret.as_bytes()).is_none(),
            "{secret:?} was exported"
        );
    }
}

#[tokio::test]
async fn a_streamed_call_ends_its_span_with_the_stream_and_its_usage() {
    let collector = Collector::start().await;
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start_with(&mock, &collector.config()).await;
    mock.push(Reply::chat_stream(5, Duration::from_millis(20)));
    let mut body = chat_body("openai/gpt-4o");
    body["stream"] = json!(true);
    let r = gw.chat(&body).await;
    assert_eq!(r.status(), 200);
    // Headers are back but the stream is not over: no span yet.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let text = r.text().await.unwrap();
    assert!(text.contains("[DONE]"));

    let spans = collector.wait_for(1, 1).await;
    let server = of_kind(&spans, SpanKind::Server)[0];
    assert_eq!(server.name, "chat openai/gpt-4o");
    let a = attrs(server);
    assert_eq!(a["gen_ai.usage.input_tokens"], 3);
    assert_eq!(a["gen_ai.usage.output_tokens"], 5);
    assert_eq!(a["gen_ai.response.model"], "openai/gpt-4o");
    assert_eq!(a["orguard.outcome"], "completed");
    assert_eq!(a["orguard.cost_usd"], 0.0001);
    // The span covers the stream: at least the four 20 ms gaps between chunks.
    let lasted = server.end_time_unix_nano - server.start_time_unix_nano;
    assert!(lasted >= 80_000_000, "{lasted} ns");
    // No incoming traceparent: a new trace, the SERVER span its root.
    assert!(server.parent_span_id.is_empty());
    let client = of_kind(&spans, SpanKind::Client)[0];
    assert_eq!(client.parent_span_id, server.span_id);
    let (trace, parent) = traceparent_parts(mock.last().headers["traceparent"].to_str().unwrap());
    assert_eq!(trace, hex::encode(&server.trace_id));
    assert_eq!(parent, hex::encode(&client.span_id));
}

#[tokio::test]
async fn a_fallback_is_two_client_spans_under_one_server_span() {
    let collector = Collector::start().await;
    let mock = MockUpstream::start().await;
    let extra = format!(
        "{}\n[resilience.fallbacks]\n\"openai/gpt-4o\" = [\"openai/gpt-4o-mini\"]\n",
        collector.config()
    );
    let gw = TestGateway::start_with(&mock, &extra).await;
    mock.push(Reply::status(
        502,
        json!({"error": {"code": 502, "message": "Provider returned error"}}),
    ));
    mock.push(Reply::served_by("OpenAI", "openai/gpt-4o-mini", false));
    let r = gw.chat(&chat_body("openai/gpt-4o")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-orguard-fallback"], "openai/gpt-4o-mini");

    let spans = collector.wait_for(1, 2).await;
    let server = of_kind(&spans, SpanKind::Server);
    let mut clients = of_kind(&spans, SpanKind::Client);
    assert_eq!((server.len(), clients.len()), (1, 2), "{spans:#?}");
    let server = server[0];
    clients.sort_by_key(|s| s.start_time_unix_nano);
    assert_eq!(server.name, "chat openai/gpt-4o");
    let a = attrs(server);
    assert_eq!(a["gen_ai.request.model"], "openai/gpt-4o");
    assert_eq!(a["gen_ai.response.model"], "openai/gpt-4o-mini");
    assert_eq!(a["http.response.status_code"], 200);

    assert_eq!(clients[0].name, "chat openai/gpt-4o");
    assert_eq!(clients[1].name, "chat openai/gpt-4o-mini");
    let first = attrs(clients[0]);
    assert_eq!(first["http.response.status_code"], 502);
    assert_eq!(first["error.type"], "502");
    assert_eq!(first["orguard.attempt.outcome"], "502");
    let second = attrs(clients[1]);
    assert_eq!(second["http.response.status_code"], 200);
    assert!(!second.contains_key("error.type"));
    for (client, sent) in clients.iter().zip(mock.requests()) {
        assert_eq!(client.parent_span_id, server.span_id);
        assert_eq!(client.trace_id, server.trace_id);
        let (_, parent) = traceparent_parts(sent.headers["traceparent"].to_str().unwrap());
        assert_eq!(
            parent,
            hex::encode(&client.span_id),
            "each attempt names its own span"
        );
    }
}

#[tokio::test]
async fn a_refused_request_is_a_server_span_with_its_error_and_no_attempt() {
    let collector = Collector::start().await;
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start_with(&mock, &collector.config()).await;
    // Confidential allows only some models: a policy refusal (403), nothing goes upstream.
    let r = gw
        .post("/api/v1/chat/completions")
        .header("x-data-classification", "confidential")
        .body(chat_body("mistralai/mistral-large").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let code = common::gateway::error_of(r).await.1;
    // And an unauthenticated one.
    let r = gw
        .client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth("ogk_not_a_key")
        .body(chat_body("openai/gpt-4o").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let spans = collector.wait_for(2, 0).await;
    assert_eq!(count(&spans, SpanKind::Client), 0);
    assert_eq!(mock.count(), 0);
    let refused = spans
        .iter()
        .find(|s| s.name == "chat mistralai/mistral-large")
        .expect("the refused request's span, named with its model");
    let a = attrs(refused);
    assert_eq!(a["http.response.status_code"], 403);
    assert_eq!(a["error.type"], json!(code));
    assert_eq!(a["orguard.class"], "confidential");
    assert_eq!(a["orguard.key_id"], "billing-1");
    let anonymous = spans.iter().find(|s| s.name == "chat").unwrap();
    let a = attrs(anonymous);
    assert_eq!(a["http.response.status_code"], 401);
    assert!(!a.contains_key("orguard.key_id"));
    assert!(memchr::memmem::find(&collector.raw(), b"ogk_not_a_key").is_none());
}

#[tokio::test]
async fn an_unreachable_collector_fails_no_request_and_is_counted() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mock = MockUpstream::start().await;
    let extra = format!(
        "\n[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\nbatch_delay_ms = 50\nexport_timeout_ms = 500\n"
    );
    let gw = TestGateway::start_with(&mock, &extra).await;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let r = gw.chat(&chat_body("openai/gpt-4o")).await;
        assert_eq!(r.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    let mut errors = 0.0;
    for _ in 0..100 {
        let page = gw.metrics().await;
        errors = page
            .lines()
            .find_map(|l| l.strip_prefix("orguard_telemetry_export_errors_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if errors >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(errors >= 1.0, "export failures are counted");
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_traced_and_client_trace_headers_stay_behind() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    assert!(!gw.state.traces.is_on());
    let r = gw
        .post("/api/v1/chat/completions")
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .header("tracestate", "vendor=abc")
        .body(chat_body("openai/gpt-4o").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = mock.last();
    assert!(sent.headers.get("traceparent").is_none());
    assert!(sent.headers.get("tracestate").is_none());
}

#[tokio::test]
async fn a_client_tracestate_is_never_exported_or_sent_upstream_even_encoded() {
    let collector = Collector::start().await;
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start_with(&mock, &collector.config()).await;
    let r = gw
        .post("/api/v1/chat/completions")
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        // Percent-encoded, as the review sent it: no detector need see it to drop it.
        .header("tracestate", "vendor=bob.jones%40example.com")
        .body(chat_body("openai/gpt-4o").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let spans = collector.wait_for(1, 1).await;
    let server = of_kind(&spans, SpanKind::Server)[0];
    assert_eq!(hex::encode(&server.parent_span_id), CLIENT_SPAN);
    assert!(server.trace_state.is_empty());
    assert!(mock.last().headers.get("tracestate").is_none());
    assert!(memchr::memmem::find(&collector.raw(), b"bob.jones").is_none());
}

#[test]
fn the_endpoint_must_be_an_http_url_without_credentials() {
    let mock_toml = |telemetry: &str| {
        format!(
            "[upstream]\nbase_url = \"https://openrouter.ai/api/v1\"\n[telemetry]\n{telemetry}\n"
        )
    };
    for (value, says) in [
        (
            "otlp_endpoint = \"grpc://collector:4317\"",
            "not http or https",
        ),
        (
            "otlp_endpoint = \"collector:4318\"",
            "telemetry.otlp_endpoint",
        ),
        (
            "otlp_endpoint = \"https://user:pw@collector:4318\"",
            "credentials",
        ),
        ("service_name = \" \"", "telemetry.service_name"),
        ("batch_delay_ms = 0", "telemetry.batch_delay_ms"),
    ] {
        let e = orguard::config::from_toml(&mock_toml(value), None)
            .err()
            .unwrap_or_else(|| panic!("{value} accepted"));
        let text = e.to_string();
        assert!(text.contains("telemetry."), "{text}");
        assert!(text.contains(says), "{value}: {text}");
        assert!(!text.contains("pw@"), "{text}");
    }
    let ok = orguard::config::from_toml(
        &mock_toml("otlp_endpoint = \"http://collector:4318/\""),
        None,
    )
    .unwrap();
    assert_eq!(
        ok.telemetry.traces_url.as_deref(),
        Some("http://collector:4318/v1/traces")
    );
    assert_eq!(ok.telemetry.service_name, "orguard");
}

#[tokio::test]
async fn the_binary_sends_what_is_queued_when_it_stops() {
    let collector = Collector::start().await;
    let mock = MockUpstream::start().await;
    let audit = tempfile::tempdir().unwrap();
    let mut cmd = common::process::command();
    cmd.env("ORGUARD_AUDIT__DIR", audit.path())
        .env("ORGUARD_SERVER__LISTEN", "127.0.0.1:0")
        .env("ORGUARD_UPSTREAM__CREDIT_POLL_SECONDS", "0")
        .env("ORGUARD_UPSTREAM__PROVIDERS_REFRESH_SECONDS", "0")
        .env("ORGUARD_UPSTREAM__MODELS_REFRESH_SECONDS", "0")
        .env("ORGUARD_UPSTREAM__BASE_URL", mock.base_url())
        .env("ORGUARD_UPSTREAM__ALLOW_INSECURE_HTTP", "true")
        .env("OPENROUTER_API_KEY", upstream_key())
        .env(
            "ORGUARD_TELEMETRY__OTLP_ENDPOINT",
            format!("http://{}", collector.addr),
        )
        .env("ORGUARD_TELEMETRY__SERVICE_NAME", "orguard-test")
        // Far longer than the test: only the flush at shutdown can send the spans.
        .env("ORGUARD_TELEMETRY__BATCH_DELAY_MS", "600000");
    let mut gw = common::process::GatewayProcess::spawn(cmd);
    let r = reqwest::Client::new()
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth("ogk_demo_local_only")
        .json(&chat_body("openai/gpt-4o"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        collector.spans().is_empty(),
        "nothing sent before the batch delay"
    );
    gw.terminate();
    let code = tokio::task::spawn_blocking(move || gw.wait_exit(Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    let spans = collector.spans();
    assert_eq!(count(&spans, SpanKind::Server), 1, "{spans:#?}");
    assert_eq!(count(&spans, SpanKind::Client), 1, "{spans:#?}");
}

#[tokio::test]
async fn the_model_list_is_a_server_span_with_its_upstream_call_under_it() {
    let collector = Collector::start().await;
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start_with(&mock, &collector.config()).await;
    mock.route(
        "/api/v1/models",
        Reply::ok(json!({"data": [{"id": "openai/gpt-4o"}]})),
    );
    let r = gw
        .client
        .get(gw.url("/api/v1/models"))
        .bearer_auth(CLIENT_KEY)
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let spans = collector.wait_for(1, 1).await;
    let server = of_kind(&spans, SpanKind::Server)[0];
    let client = of_kind(&spans, SpanKind::Client)[0];
    assert_eq!(server.name, "GET /models");
    assert_eq!(hex::encode(&server.parent_span_id), CLIENT_SPAN);
    let a = attrs(server);
    assert_eq!(a["http.response.status_code"], 200);
    assert_eq!(a["orguard.key_id"], "billing-1");
    assert_eq!(client.parent_span_id, server.span_id);
    let (_, parent) = traceparent_parts(mock.last().headers["traceparent"].to_str().unwrap());
    assert_eq!(parent, hex::encode(&client.span_id));
}

#[tokio::test]
async fn a_client_gone_before_its_request_was_recorded_ends_its_span_as_cancelled() {
    let collector = Collector::start().await;
    let mock = MockUpstream::start().await;
    // One upstream slot, and a long queue: the second request waits in the shed phase.
    let extra = collector.config();
    let toml = common::gateway::config_toml(&mock, &extra).replace(
        "[resilience]\n",
        "[resilience]\nmax_in_flight = 1\nqueue_timeout_ms = 10000\n",
    );
    let gw = TestGateway::from_toml(&toml, Some(upstream_key())).await;
    mock.push(Reply::Delayed(
        Duration::from_millis(1500),
        Box::new(Reply::ok(common::mock::chat_completion())),
    ));
    let body = chat_body("openai/gpt-4o");
    let first = gw.chat(&body);
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = gw
            .post("/api/v1/chat/completions")
            .timeout(Duration::from_millis(300))
            .body(chat_body("openai/gpt-4o-mini").to_string())
            .send()
            .await;
        assert!(r.is_err(), "the second client gave up while queued");
    };
    let (r, ()) = tokio::join!(first, second);
    assert_eq!(r.status(), 200);
    let spans = collector.wait_for(2, 1).await;
    let gone = spans
        .iter()
        .find(|s| s.name == "chat openai/gpt-4o-mini")
        .expect("the queued request's span");
    let a = attrs(gone);
    assert_eq!(a["http.response.status_code"], 499);
    assert_eq!(a["error.type"], "client_cancelled");
    assert_eq!(count(&spans, SpanKind::Client), 1, "it never went upstream");
}
