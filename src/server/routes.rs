//! The endpoint table. Every inference route is served under both `/api/v1` and `/v1`, so
//! either `base_url` works. Anything not listed here (or in `upstream.passthrough_paths`) is
//! a 404: the gateway never proxies a path it has not been told about.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::Router;

use super::{ops, ClientAddr, RequestId};
use crate::config::Snapshot;
use crate::error::GatewayError;
use crate::pipeline;
use crate::request::Endpoint;
use crate::state::AppState;

const PREFIXES: [&str; 2] = ["/api/v1", "/v1"];

pub fn routes(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz));
    // `/metrics` shows every key's spend and the account's credit. With an operator
    // listener it is served there only, so client namespaces that reach this port cannot
    // read it (404 here). Decided once: `admin.listen` is read at start only.
    if state.config.load().admin.listen.is_none() {
        router = router.route("/metrics", get(ops::metrics));
    }
    for prefix in PREFIXES {
        router = router
            .route(
                &format!("{prefix}/chat/completions"),
                post(chat_completions).fallback(method_not_allowed),
            )
            .route(
                &format!("{prefix}/completions"),
                post(completions).fallback(method_not_allowed),
            )
            .route(
                &format!("{prefix}/embeddings"),
                post(embeddings).fallback(method_not_allowed),
            )
            .route(
                &format!("{prefix}/responses"),
                post(responses).fallback(method_not_allowed),
            )
            .route(
                &format!("{prefix}/models"),
                get(models).fallback(method_not_allowed),
            )
            // Model ids contain `/` (`openai/gpt-4o`): sent raw or as `%2F`, both land here.
            .route(
                &format!("{prefix}/models/{{*id}}"),
                get(model).fallback(method_not_allowed),
            );
    }
    router.fallback(fallback).with_state(state)
}

/// The pipeline's future is boxed here: it holds every phase's state (many kilobytes), and
/// each layer between here and the connection (routing, middleware, the hygiene layers)
/// wraps the future it is handed by value, copying it whole. Boxed, they copy a pointer.
async fn inference(
    state: &AppState,
    endpoint: Endpoint,
    id: &RequestId,
    client: &ClientAddr,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    Box::pin(pipeline::inference(
        state, endpoint, &id.0, client, headers, body,
    ))
    .await
}

async fn chat_completions(
    State(s): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    inference(&s, Endpoint::ChatCompletions, &id, &client, &headers, body).await
}

async fn completions(
    State(s): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    inference(&s, Endpoint::Completions, &id, &client, &headers, body).await
}

async fn embeddings(
    State(s): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    inference(&s, Endpoint::Embeddings, &id, &client, &headers, body).await
}

async fn responses(
    State(s): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(client): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    inference(&s, Endpoint::Responses, &id, &client, &headers, body).await
}

async fn models(
    State(s): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(client): Extension<ClientAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    pipeline::models(&s, &id.0, &client, uri.query(), &headers, None).await
}

/// `GET /models/{id}`: one model, if the caller's class may use it (the SDKs' `retrieve`).
async fn model(
    State(s): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Extension(client): Extension<ClientAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    pipeline::models(&s, &rid.0, &client, None, &headers, Some(&id)).await
}

async fn method_not_allowed() -> Response {
    GatewayError::MethodNotAllowed.into_response()
}

/// The upstream path a request path stands for, when it is one of
/// `upstream.passthrough_paths` under either prefix.
pub(super) fn passthrough_path<'a>(path: &'a str, config: &Snapshot) -> Option<&'a str> {
    PREFIXES
        .iter()
        .find_map(|p| path.strip_prefix(p).filter(|rest| rest.starts_with('/')))
        .filter(|rest| config.upstream.passthrough_paths.contains(*rest))
}

/// Passthrough paths (GET only: a body would go upstream uninspected), else 404.
async fn fallback(
    State(s): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(client): Extension<ClientAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let config = s.config.load();
    let Some(rest) = passthrough_path(uri.path(), &config) else {
        return GatewayError::NotFound.into_response();
    };
    if method != Method::GET {
        return GatewayError::MethodNotAllowed.into_response();
    }
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let path_and_query = format!("{rest}{query}");
    drop(config);
    pipeline::passthrough(&s, &id.0, &client, path_and_query, &headers).await
}
