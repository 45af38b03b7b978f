//! `orguard-demo-upstream`: a stand-in for OpenRouter on loopback, so orguard can be tried
//! (and its README walked through in CI) without an account, a key or the internet.
//!
//! It answers every upstream call orguard makes, in OpenRouter's shapes
//! (`openrouter-api.md` §2, §3, §5): `GET /models` (with per-token prices and ids matching
//! the example config's class patterns), `/key`, `/credits`, `/providers`, `/generation`,
//! and `POST` chat completions (plain, streamed, tool calls), legacy completions, embeddings
//! and responses. Answers are scripted, not generated:
//!
//! - the served provider is the request's `provider.only[0]` (else `order[0]`, else the
//!   model author's usual provider), so orguard's pinning can be seen working;
//! - `usage.is_byok` is true for providers named with `--byok` (default `deepinfra`, the
//!   example config's BYOK-only class), or when the prompt contains `demo:byok`;
//! - a prompt containing `demo:provider=SLUG` is served by SLUG instead, which lets a
//!   demo show orguard catching an answer from a provider the class does not allow;
//! - `GET /demo/last` returns the last inference body it received, so you can see what
//!   reached the "upstream" after orguard's redaction.
//!
//! It accepts any bearer key and keeps nothing but the last body, in memory.
//!
//! Run: `orguard-demo-upstream [ADDR] [--pace-ms N] [--byok SLUG,...]` (default
//! `127.0.0.1:18080`); point orguard at `http://ADDR/api/v1`.

#![forbid(unsafe_code)]

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

const DEFAULT_ADDR: &str = "127.0.0.1:18080";

/// The catalog: `(id, name, USD per prompt token, USD per completion token, context)`.
/// Ids cover every pattern of `config/orguard.toml`, plus a free model and one only the
/// `public` class may use, so filtering and denials have something to show.
const CATALOG: [(&str, &str, &str, &str, u64); 9] = [
    (
        "openai/gpt-4o",
        "OpenAI: GPT-4o",
        "0.0000025",
        "0.00001",
        128_000,
    ),
    (
        "openai/gpt-4o-mini",
        "OpenAI: GPT-4o-mini",
        "0.00000015",
        "0.0000006",
        128_000,
    ),
    (
        "anthropic/claude-3.5-sonnet",
        "Anthropic: Claude 3.5 Sonnet",
        "0.000003",
        "0.000015",
        200_000,
    ),
    (
        "google/gemini-2.0-flash-001",
        "Google: Gemini 2.0 Flash",
        "0.0000001",
        "0.0000004",
        1_048_576,
    ),
    (
        "meta-llama/llama-3.1-70b-instruct",
        "Meta: Llama 3.1 70B Instruct",
        "0.00000012",
        "0.0000003",
        131_072,
    ),
    (
        "meta-llama/llama-3.3-70b-instruct:free",
        "Meta: Llama 3.3 70B Instruct (free)",
        "0",
        "0",
        131_072,
    ),
    (
        "mistralai/mistral-small-3.1-24b-instruct",
        "Mistral: Mistral Small 3.1 24B",
        "0.0000001",
        "0.0000003",
        128_000,
    ),
    (
        "openai/text-embedding-3-small",
        "OpenAI: Text Embedding 3 Small",
        "0.00000002",
        "0",
        8_192,
    ),
    (
        "anthropic/claude-3-haiku",
        "Anthropic: Claude 3 Haiku",
        "0.00000025",
        "0.00000125",
        200_000,
    ),
];

/// `(slug, display name)`: OpenRouter's two spellings of each provider (§1.4).
const PROVIDERS: [(&str, &str); 9] = [
    ("openai", "OpenAI"),
    ("anthropic", "Anthropic"),
    ("google-vertex", "Google"),
    ("google-ai-studio", "Google AI Studio"),
    ("deepinfra", "DeepInfra"),
    ("together", "Together"),
    ("mistral", "Mistral"),
    ("amazon-bedrock", "Amazon Bedrock"),
    ("azure", "Azure"),
];

/// Shared by every request.
struct Demo {
    /// The last inference request received: path and body, for `GET /demo/last`.
    last: Mutex<Value>,
    generations: AtomicU64,
    /// Gap between streamed events, so a stream is visibly a stream.
    pace: Duration,
    /// Providers for which the "account" has its own key (BYOK).
    byok: Vec<String>,
}

type Shared = Arc<Demo>;

#[derive(Debug)]
struct Args {
    addr: String,
    pace: Duration,
    byok: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: DEFAULT_ADDR.to_owned(),
        pace: Duration::from_millis(15),
        byok: vec!["deepinfra".to_owned()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--pace-ms" => {
                let ms = it.next().and_then(|v| v.parse().ok()).ok_or("--pace-ms needs a number")?;
                args.pace = Duration::from_millis(ms);
            }
            "--byok" => {
                let list = it.next().ok_or("--byok needs a comma-separated list of slugs")?;
                args.byok = list.split(',').map(|s| s.trim().to_ascii_lowercase()).collect();
            }
            "-h" | "--help" => {
                return Err(format!(
                    "usage: orguard-demo-upstream [ADDR] [--pace-ms N] [--byok SLUG,...]  (default {DEFAULT_ADDR})"
                ))
            }
            other if !other.starts_with('-') => other.clone_into(&mut args.addr),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "{message}");
            return std::process::ExitCode::from(2);
        }
    };
    let demo = Arc::new(Demo {
        last: Mutex::new(Value::Null),
        generations: AtomicU64::new(0),
        pace: args.pace,
        byok: args.byok,
    });
    let listener = match tokio::net::TcpListener::bind(&args.addr).await {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "cannot listen on {}: {e}", args.addr);
            return std::process::ExitCode::from(1);
        }
    };
    let addr = listener.local_addr().map_or(args.addr, |a| a.to_string());
    let _ = writeln!(
        std::io::stderr(),
        "demo upstream listening on http://{addr}/api/v1 (a stand-in for OpenRouter; no real model behind it)"
    );
    if let Err(e) = axum::serve(listener, app(demo)).await {
        let _ = writeln!(std::io::stderr(), "demo upstream stopped: {e}");
        return std::process::ExitCode::from(1);
    }
    std::process::ExitCode::SUCCESS
}

fn app(demo: Shared) -> Router {
    let api = Router::new()
        .route("/models", get(models))
        .route("/key", get(key))
        .route("/credits", get(credits))
        .route("/providers", get(providers))
        .route("/generation", get(generation))
        .route("/chat/completions", post(chat))
        .route("/completions", post(completions))
        .route("/embeddings", post(embeddings))
        .route("/responses", post(responses));
    Router::new()
        .nest("/api/v1", api.clone())
        // Also at /v1, so the demo can stand in for a self-hosted OpenAI-compatible server.
        .nest("/v1", api)
        .route("/demo/last", get(last))
        // orguard forwards bodies up to its own `server.max_body_bytes` (4 MiB by default);
        // axum's 2 MiB default made the demo answer larger ones with a plain-text 413 of
        // its own, which read as orguard's.
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(demo)
}

/// A refused call, answered in OpenRouter's error envelope (§4):
/// `{"error": {"code", "message"}}`.
struct Refusal {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.status.as_u16(), "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

fn error(status: StatusCode, message: &str) -> Refusal {
    Refusal {
        status,
        message: message.to_owned(),
    }
}

/// Any bearer key is accepted: the point is to see orguard send its own, not the client's.
fn authorised(headers: &HeaderMap) -> Result<(), Refusal> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ") && v.len() > 7);
    if bearer {
        Ok(())
    } else {
        Err(error(StatusCode::UNAUTHORIZED, "No auth credentials found"))
    }
}

async fn models() -> Response {
    let data: Vec<Value> = CATALOG
        .iter()
        .map(|(id, name, prompt, completion, context)| {
            let embedding = id.contains("embedding");
            json!({
                "id": id,
                "canonical_slug": id,
                "name": name,
                "created": 1_735_689_600,
                "description": format!("{name}, served by orguard's demo upstream (no real model)."),
                "context_length": context,
                "architecture": {
                    "modality": if embedding { "text->embeddings" } else { "text->text" },
                    "input_modalities": ["text"],
                    "output_modalities": [if embedding { "embeddings" } else { "text" }],
                    "tokenizer": "Other",
                    "instruct_type": null
                },
                "pricing": {"prompt": prompt, "completion": completion, "request": "0", "image": "0"},
                "top_provider": {"context_length": context, "max_completion_tokens": 16_384, "is_moderated": false},
                "per_request_limits": null,
                "supported_parameters": ["max_tokens", "temperature", "tools", "tool_choice", "stream", "response_format"]
            })
        })
        .collect();
    let total = data.len();
    axum::Json(json!({"data": data, "total_count": total})).into_response()
}

async fn key(headers: HeaderMap) -> Response {
    if let Err(r) = authorised(&headers) {
        return r.into_response();
    }
    axum::Json(json!({"data": {
        "label": "demo key (any key is accepted)",
        "limit": 100.0,
        "limit_remaining": 99.5,
        "limit_reset": "monthly",
        "include_byok_in_limit": false,
        "usage": 0.5, "usage_daily": 0.01, "usage_weekly": 0.1, "usage_monthly": 0.5,
        "byok_usage": 0.0, "byok_usage_daily": 0.0, "byok_usage_weekly": 0.0, "byok_usage_monthly": 0.0,
        "is_free_tier": false,
        "is_management_key": false,
        "expires_at": null,
        "rate_limit": {"requests": -1, "interval": "10s"}
    }}))
    .into_response()
}

async fn credits(headers: HeaderMap) -> Response {
    if let Err(r) = authorised(&headers) {
        return r.into_response();
    }
    axum::Json(json!({"data": {"total_credits": 100.0, "total_usage": 0.5}})).into_response()
}

async fn providers() -> Response {
    let data: Vec<Value> = PROVIDERS
        .iter()
        .map(|(slug, name)| {
            json!({"name": name, "slug": slug, "privacy_policy_url": format!("https://example.com/{slug}/privacy")})
        })
        .collect();
    axum::Json(json!({"data": data})).into_response()
}

async fn generation(
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Err(r) = authorised(&headers) {
        return r.into_response();
    }
    match q.get("id") {
        Some(id) if id.starts_with("gen-") => axum::Json(json!({"data": {
            "id": id, "model": "openai/gpt-4o-mini", "provider_name": "OpenAI", "is_byok": false,
            "total_cost": 0.00001, "tokens_prompt": 10, "tokens_completion": 12,
            "streamed": false, "cancelled": false, "finish_reason": "stop"
        }}))
        .into_response(),
        _ => error(StatusCode::NOT_FOUND, "Generation not found").into_response(),
    }
}

async fn last(State(demo): State<Shared>) -> Response {
    let last = demo.last.lock().map(|l| l.clone()).unwrap_or(Value::Null);
    axum::Json(last).into_response()
}

/// What every inference route shares: the parsed body and the scripted facts of the answer.
struct Call {
    body: Value,
    model: String,
    provider: &'static str,
    is_byok: bool,
    id: String,
    prompt_tokens: u64,
    prices: (f64, f64),
}

impl Call {
    fn usage(&self, completion_tokens: u64) -> Value {
        let cost =
            self.prompt_tokens as f64 * self.prices.0 + completion_tokens as f64 * self.prices.1;
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
            "cost": if self.is_byok { 0.0 } else { cost },
            "is_byok": self.is_byok,
            "cost_details": {"upstream_inference_cost": if self.is_byok { cost } else { 0.0 }}
        })
    }

    fn streamed(&self) -> bool {
        self.body.get("stream").and_then(Value::as_bool) == Some(true)
    }
}

/// Checks auth and the model, records the body for `/demo/last`, and scripts the answer.
fn accept(demo: &Demo, path: &str, headers: &HeaderMap, bytes: &Bytes) -> Result<Call, Refusal> {
    authorised(headers)?;
    let Ok(body) = serde_json::from_slice::<Value>(bytes) else {
        return Err(error(StatusCode::BAD_REQUEST, "Invalid JSON body"));
    };
    if let Ok(mut last) = demo.last.lock() {
        *last = json!({"path": path, "body": body});
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let base = model.split(':').next().unwrap_or_default();
    let Some(entry) = CATALOG.iter().find(|(id, ..)| *id == model || *id == base) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            &format!("{model} is not a valid model ID"),
        ));
    };
    let prices = (
        entry.2.parse().unwrap_or(0.0),
        entry.3.parse().unwrap_or(0.0),
    );
    let text = prompt_text(&body);
    let slug = match directive(&text, "demo:provider=") {
        Some(forced) => forced,
        None => route(&body, &model).ok_or_else(|| {
            // What OpenRouter answers when the pinned providers do not host the model.
            error(
                StatusCode::NOT_FOUND,
                "No endpoints found matching your data policy (Provider: only)",
            )
        })?,
    };
    let provider = PROVIDERS
        .iter()
        .find(|(s, _)| *s == slug)
        .map_or("Together", |(_, name)| name);
    let is_byok = demo.byok.contains(&slug) || text.contains("demo:byok");
    let n = demo.generations.fetch_add(1, Ordering::Relaxed) + 1;
    let now = time_now();
    Ok(Call {
        prompt_tokens: (bytes.len() as u64 / 4).max(1),
        id: format!("gen-{now}-demo{n:06}"),
        body,
        model,
        provider,
        is_byok,
        prices,
    })
}

fn time_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The providers that host a model's author, the usual one first.
fn hosts(model: &str) -> &'static [&'static str] {
    match model.split('/').next().unwrap_or_default() {
        "openai" => &["openai", "azure"],
        "anthropic" => &["anthropic", "amazon-bedrock", "google-vertex"],
        "google" => &["google-vertex", "google-ai-studio"],
        "meta-llama" => &["deepinfra", "together"],
        "mistralai" => &["mistral", "together", "deepinfra"],
        _ => &["together"],
    }
}

/// Routing as OpenRouter does it (§1.3): the first provider of `order`, then of `only`,
/// that hosts the model, within `only` when it is given; without preferences, the usual
/// host. `None` when `only` names no host of the model.
fn route(body: &Value, model: &str) -> Option<String> {
    let slugs = |field: &str| -> Option<Vec<String>> {
        body.pointer(&format!("/provider/{field}"))?
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    // `deepinfra/turbo` is an endpoint of `deepinfra`.
                    .map(|s| s.split('/').next().unwrap_or(s).to_ascii_lowercase())
                    .collect()
            })
    };
    let only = slugs("only");
    let order = slugs("order").unwrap_or_default();
    let hosts = hosts(model);
    let allowed = |s: &String| only.as_ref().is_none_or(|o| o.contains(s));
    order
        .iter()
        .chain(only.iter().flatten())
        .find(|s| allowed(s) && hosts.contains(&s.as_str()))
        .cloned()
        .or_else(|| {
            only.is_none()
                .then(|| hosts.first().map(|h| (*h).to_owned()))
                .flatten()
        })
}

/// `demo:provider=together` in the prompt → `together`.
fn directive(text: &str, prefix: &str) -> Option<String> {
    let at = text.find(prefix)? + prefix.len();
    let value: String = text
        .get(at..)?
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (!value.is_empty()).then(|| value.to_ascii_lowercase())
}

/// The text of the last user turn (chat `messages`, or `prompt` / `input`).
fn prompt_text(body: &Value) -> String {
    let content = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .and_then(|m| m.get("content"))
        .or_else(|| body.get("prompt"))
        .or_else(|| body.get("input"));
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| {
                p.as_str()
                    .or_else(|| p.get("text").and_then(Value::as_str))
                    .or_else(|| p.get("content").and_then(Value::as_str))
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The scripted answer text: it quotes (the start of) the prompt it was sent, so the
/// caller sees what the model saw — and, with placeholders, gets its own values back.
fn answer_text(call: &Call) -> String {
    let prompt = prompt_text(&call.body);
    let quoted: String = prompt.chars().take(200).collect();
    format!(
        "Demo answer from {} via {}. You wrote: \"{quoted}\"",
        call.model, call.provider
    )
}

/// When the request offers function tools and the last turn is not a tool's result, the
/// "model" calls the first tool, with arguments shaped by its JSON schema.
fn tool_call(body: &Value) -> Option<(String, String)> {
    let last_role = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last())
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str);
    if last_role == Some("tool") {
        return None;
    }
    let function = body
        .get("tools")?
        .as_array()?
        .iter()
        .find(|t| t.get("type").and_then(Value::as_str) == Some("function"))?
        .get("function")?;
    let name = function.get("name")?.as_str()?.to_owned();
    let mut args = serde_json::Map::new();
    if let Some(props) = function
        .pointer("/parameters/properties")
        .and_then(Value::as_object)
    {
        for (key, schema) in props {
            let value = match schema.get("type").and_then(Value::as_str) {
                Some("integer" | "number") => json!(1),
                Some("boolean") => json!(true),
                _ if key.contains("city") || key.contains("location") => json!("Paris"),
                _ => json!("demo"),
            };
            args.insert(key.clone(), value);
        }
    }
    Some((name, Value::Object(args).to_string()))
}

fn json_reply(call: &Call, body: Value) -> Response {
    let mut r = axum::Json(body).into_response();
    if let Ok(v) = call.id.parse() {
        r.headers_mut().insert("x-generation-id", v);
    }
    r
}

/// Server-sent events, one every `pace`, after OpenRouter's keep-alive comment.
fn sse(call: &Call, events: Vec<String>, pace: Duration) -> Response {
    let mut frames = vec![": OPENROUTER PROCESSING\n\n".to_owned()];
    frames.extend(events);
    let stream = futures_util::stream::unfold(
        (frames.into_iter(), true),
        move |(mut it, first)| async move {
            let frame = it.next()?;
            if !first {
                tokio::time::sleep(pace).await;
            }
            Some((Ok::<_, std::io::Error>(Bytes::from(frame)), (it, false)))
        },
    );
    let mut r = (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response();
    if let Ok(v) = call.id.parse() {
        r.headers_mut().insert("x-generation-id", v);
    }
    r
}

fn data(v: &Value) -> String {
    format!("data: {v}\n\n")
}

async fn chat(State(demo): State<Shared>, headers: HeaderMap, bytes: Bytes) -> Response {
    let call = match accept(&demo, "/api/v1/chat/completions", &headers, &bytes) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let created = time_now();
    let tool = tool_call(&call.body);
    let text = answer_text(&call);
    let completion_tokens = text.split_whitespace().count() as u64;
    let finish = if tool.is_some() { "tool_calls" } else { "stop" };
    if !call.streamed() {
        let message = match &tool {
            Some((name, args)) => json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_demo_1", "type": "function", "function": {"name": name, "arguments": args}}
            ]}),
            None => json!({"role": "assistant", "content": text}),
        };
        return json_reply(
            &call,
            json!({
                "id": call.id, "provider": call.provider, "model": call.model,
                "object": "chat.completion", "created": created,
                "choices": [{"index": 0, "finish_reason": finish, "native_finish_reason": finish,
                             "message": message, "logprobs": null}],
                "usage": call.usage(completion_tokens)
            }),
        );
    }
    let chunk = |delta: Value, finish: Option<&str>| {
        data(&json!({
            "id": call.id, "provider": call.provider, "model": call.model,
            "object": "chat.completion.chunk", "created": created,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "native_finish_reason": finish, "logprobs": null}]
        }))
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    match &tool {
        Some((name, args)) => {
            events.push(chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_demo_1", "type": "function",
                                       "function": {"name": name, "arguments": ""}}]}),
                None,
            ));
            // Arguments arrive in fragments, as real models stream them.
            let chars: Vec<char> = args.chars().collect();
            for piece in chars.chunks(8) {
                let piece: String = piece.iter().collect();
                events.push(chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
        }
        None => {
            for word in text.split_inclusive(' ') {
                events.push(chunk(json!({"content": word}), None));
            }
        }
    }
    events.push(chunk(json!({}), Some(finish)));
    // Usage arrives once, in the last chunk before [DONE], with empty choices (§3).
    events.push(data(&json!({
        "id": call.id, "provider": call.provider, "model": call.model,
        "object": "chat.completion.chunk", "created": created, "choices": [],
        "usage": call.usage(completion_tokens)
    })));
    events.push("data: [DONE]\n\n".to_owned());
    sse(&call, events, demo.pace)
}

async fn completions(State(demo): State<Shared>, headers: HeaderMap, bytes: Bytes) -> Response {
    let call = match accept(&demo, "/api/v1/completions", &headers, &bytes) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let text = answer_text(&call);
    let tokens = text.split_whitespace().count() as u64;
    json_reply(
        &call,
        json!({
            "id": call.id, "provider": call.provider, "model": call.model,
            "object": "text_completion", "created": time_now(),
            "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": null}],
            "usage": call.usage(tokens)
        }),
    )
}

async fn embeddings(State(demo): State<Shared>, headers: HeaderMap, bytes: Bytes) -> Response {
    let call = match accept(&demo, "/api/v1/embeddings", &headers, &bytes) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let inputs: Vec<String> = match call.body.get("input") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => vec![String::new()],
    };
    // Deterministic vectors from the text, so equal inputs embed equally.
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let mut seed = text.bytes().fold(1469598103934665603u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(1099511628211)
            });
            let vector: Vec<f64> = (0..8)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    f64::from((seed >> 40) as u32 % 2000) / 1000.0 - 1.0
                })
                .collect();
            json!({"object": "embedding", "index": i, "embedding": vector})
        })
        .collect();
    // Embeddings responses name no provider (openrouter-api.md §5.8).
    json_reply(
        &call,
        json!({
            "id": call.id, "object": "list", "model": call.model, "data": data,
            "usage": {"prompt_tokens": call.prompt_tokens, "total_tokens": call.prompt_tokens,
                      "cost": call.prompt_tokens as f64 * call.prices.0, "is_byok": call.is_byok}
        }),
    )
}

async fn responses(State(demo): State<Shared>, headers: HeaderMap, bytes: Bytes) -> Response {
    let call = match accept(&demo, "/api/v1/responses", &headers, &bytes) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let text = answer_text(&call);
    let tokens = text.split_whitespace().count() as u64;
    let usage = {
        let u = call.usage(tokens);
        json!({"input_tokens": u["prompt_tokens"], "output_tokens": u["completion_tokens"],
               "total_tokens": u["total_tokens"], "cost": u["cost"], "is_byok": u["is_byok"]})
    };
    let message = |text: &str| {
        json!({"type": "message", "id": "msg_demo_1", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": text, "annotations": []}]})
    };
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": call.id, "object": "response", "created_at": time_now(), "status": status,
               "model": call.model, "provider": call.provider, "output": output, "usage": usage})
    };
    if !call.streamed() {
        return json_reply(&call, response("completed", json!([message(&text)]), usage));
    }
    let event = |kind: &str, mut v: Value| {
        v["type"] = json!(kind);
        format!("event: {kind}\n{}", data(&v))
    };
    let mut events = vec![event(
        "response.created",
        json!({"response": response("in_progress", json!([]), Value::Null)}),
    )];
    for word in text.split_inclusive(' ') {
        events.push(event(
            "response.output_text.delta",
            json!({"item_id": "msg_demo_1", "output_index": 0, "content_index": 0, "delta": word}),
        ));
    }
    events.push(event(
        "response.output_text.done",
        json!({"item_id": "msg_demo_1", "output_index": 0, "content_index": 0, "text": text}),
    ));
    events.push(event(
        "response.completed",
        json!({"response": response("completed", json!([message(&text)]), usage)}),
    ));
    sse(&call, events, demo.pace)
}
