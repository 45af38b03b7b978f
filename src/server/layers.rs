//! HTTP hygiene around every route. The last `.layer` is the outermost.
//!
//! Order, outermost first:
//! 1. `catch_panic` — a bug in a handler becomes an OpenAI-shaped 500, not a dropped
//!    connection (there are no panics by design; this is the net under the net).
//! 2. `request_context` — assigns the request id, resolves the client's address for the
//!    audit (`client.rs`), opens the request span every later log line inherits, stamps
//!    `x-request-id` on every response (errors included) and writes one access-log line.
//!    It never logs headers, bodies, query strings or a path no route matched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use rand::RngCore;
use tokio::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::config::Snapshot;
use crate::error::{error_response, Classified, ErrorCode, ErrorType, LoggedError};
use crate::request::client::ClientAddr;

/// The id of one request: returned as `x-request-id`, logged, and (later) audited.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub fn wrap(router: Router, config: Arc<ArcSwap<Snapshot>>) -> Router {
    router
        .layer(middleware::from_fn_with_state(config, request_context))
        .layer(CatchPanicLayer::custom(|_| {
            let c = Classified {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: ErrorType::Upstream,
                code: ErrorCode::Internal,
                param: None,
            };
            error_response(c, "internal error").map(Body::new)
        }))
}

fn new_request_id() -> String {
    let mut raw = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut raw);
    format!("req_{}", crate::hex_text::encode(raw))
}

async fn request_context(
    State(config): State<Arc<ArcSwap<Snapshot>>>,
    mut request: Request,
    next: Next,
) -> Response {
    // The client's own x-request-id is not trusted: ids must be unique for the audit trail.
    let id = new_request_id();
    request.extensions_mut().insert(RequestId(id.clone()));
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let snapshot = config.load();
    let client = ClientAddr::resolve(peer, request.headers(), snapshot.server.trusted_proxy_hops);
    request.extensions_mut().insert(client);
    let method = logged_method(request.method());
    let route = logged_route(&request, &snapshot);
    drop(snapshot);
    let span = tracing::info_span!("request", request_id = %id, key_id = tracing::field::Empty, class = tracing::field::Empty);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let _entered = span.enter();
    let latency_ms = duration_ms(started.elapsed());
    let status = response.status().as_u16();
    match response.extensions().get::<LoggedError>() {
        Some(err) if err.status.is_server_error() => {
            tracing::warn!(%method, route = %route, status, latency_ms, code = err.code.as_str(), "request failed");
        }
        Some(err) => {
            tracing::info!(%method, route = %route, status, latency_ms, code = err.code.as_str(), "request refused");
        }
        None => tracing::info!(%method, route = %route, status, latency_ms, "request served"),
    }
    response
}

/// The method as logged: one of HTTP's own, or `other`. A request line's method is any
/// token the client chose (`AKIA… /v1/models HTTP/1.1` is answered 405), so it is client
/// text like the path.
fn logged_method(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    static KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::PATCH,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("other", Method::as_str)
}

/// What the access log names the request by: the route it matched (`/v1/models/{*id}`),
/// a configured passthrough path, or `unrouted`. Never the path as sent: a client can put
/// anything in a URL (`/v1/chat/completions/jane.doe%40example.org` is a 404 whose path
/// holds an e-mail address), and the log is read by people the prompt's owner never met.
fn logged_route(request: &Request, config: &Snapshot) -> String {
    if let Some(matched) = request.extensions().get::<MatchedPath>() {
        return matched.as_str().to_owned();
    }
    let path = request.uri().path();
    match super::routes::passthrough_path(path, config) {
        Some(_) => path.to_owned(),
        None => "unrouted".to_owned(),
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
