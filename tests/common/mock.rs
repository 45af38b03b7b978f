//! A mock OpenRouter: records every request it receives and plays scripted replies.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};

/// What the mock received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("forwarded body is JSON")
    }
}

/// How a scripted stream ends.
#[derive(Debug, Clone, Copy)]
pub enum StreamEnding {
    /// Close cleanly after the last chunk.
    Close,
    /// Break the connection (an error on the body stream).
    Cut,
    /// Never send anything more.
    Hang,
}

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    Json {
        status: u16,
        body: Value,
        headers: Vec<(String, String)>,
    },
    Sse {
        chunks: Vec<(Duration, String)>,
        ending: StreamEnding,
    },
    /// Wait this long before sending the headers of `then`.
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply::Json {
            status: 200,
            body,
            headers: vec![],
        }
    }

    pub fn status(status: u16, body: Value) -> Self {
        Reply::Json {
            status,
            body,
            headers: vec![],
        }
    }

    /// A normal chat completion stream: `n` content chunks `delay` apart, usage, `[DONE]`.
    pub fn chat_stream(n: usize, delay: Duration) -> Self {
        Self::stream_served_by("OpenAI", "openai/gpt-4o", n, delay, false)
    }

    /// A chat stream whose chunks say they were served by `provider` / `model`, ending with
    /// usage carrying `is_byok`.
    pub fn stream_served_by(
        provider: &str,
        model: &str,
        n: usize,
        delay: Duration,
        is_byok: bool,
    ) -> Self {
        let mut chunks = vec![(Duration::ZERO, ": OPENROUTER PROCESSING\n\n".to_owned())];
        for i in 0..n {
            let c = json!({"id":"gen-1-abc","provider":provider,"model":model,"object":"chat.completion.chunk","created":1,
                "choices":[{"index":0,"delta":{"content":format!("tok{i} ")},"finish_reason":null}]});
            chunks.push((
                if i == 0 { Duration::ZERO } else { delay },
                format!("data: {c}\n\n"),
            ));
        }
        let last = json!({"id":"gen-1-abc","provider":provider,"model":model,"object":"chat.completion.chunk","created":1,
            "choices":[],"usage":{"prompt_tokens":3,"completion_tokens":n,"total_tokens":3 + n,"cost":0.0001,"is_byok":is_byok}});
        chunks.push((Duration::ZERO, format!("data: {last}\n\ndata: [DONE]\n\n")));
        Reply::Sse {
            chunks,
            ending: StreamEnding::Close,
        }
    }

    /// A non-streamed completion served by `provider` / `model`.
    pub fn served_by(provider: &str, model: &str, is_byok: bool) -> Self {
        let mut body = chat_completion();
        body["provider"] = json!(provider);
        body["model"] = json!(model);
        body["usage"]["is_byok"] = json!(is_byok);
        Reply::ok(body)
    }
}

pub fn chat_completion() -> Value {
    json!({
        "id": "gen-1739458867-kUKFjpDGCEBBvK6V46PX",
        "provider": "OpenAI",
        "model": "openai/gpt-4o",
        "object": "chat.completion",
        "created": 1739458867,
        "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Hello from the mock"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "cost": 0.00002, "is_byok": false}
    })
}

/// A callback run on each request as it arrives.
type Hook = Box<dyn Fn(&Recorded) + Send + Sync>;

#[derive(Default)]
struct Inner {
    recorded: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Option<Reply>>,
    /// Replies for one path (without query), ahead of the script: catalog endpoints polled
    /// in the background must not take the replies scripted for inference.
    by_path: Mutex<std::collections::HashMap<String, Reply>>,
    /// Set when a streamed reply's body was dropped before it finished (client went away).
    stream_cancelled: AtomicBool,
    stream_finished: AtomicBool,
    /// Called with each request as it arrives, before the reply (e.g. to look at the audit
    /// trail at the moment the request reaches the upstream).
    on_request: Mutex<Option<Hook>>,
}

/// The running mock. Dropping it stops the server.
pub struct MockUpstream {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl MockUpstream {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        MockUpstream {
            addr,
            inner,
            _stop: stop,
        }
    }

    /// The API root to configure as `upstream.base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// Queue a reply for the next request (FIFO); when the queue is empty the default is used.
    pub fn push(&self, reply: Reply) {
        self.inner.script.lock().unwrap().push_back(reply);
    }

    /// The reply for every request to `path` (e.g. `/api/v1/models`), whatever the queue.
    pub fn route(&self, path: &str, reply: Reply) {
        self.inner
            .by_path
            .lock()
            .unwrap()
            .insert(path.to_owned(), reply);
    }

    /// The reply used whenever the queue is empty.
    pub fn set_default(&self, reply: Reply) {
        *self.inner.default.lock().unwrap() = Some(reply);
    }

    /// Scripted replies not yet used.
    pub fn pending(&self) -> usize {
        self.inner.script.lock().unwrap().len()
    }

    /// Forgets scripted replies no request has taken yet.
    pub fn drop_pending(&self) {
        self.inner.script.lock().unwrap().clear();
    }

    /// Forgets recorded requests (long runs).
    pub fn clear(&self) {
        self.inner.recorded.lock().unwrap().clear();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.recorded.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.inner.recorded.lock().unwrap().len()
    }

    pub fn last(&self) -> Recorded {
        self.requests().pop().expect("the mock received a request")
    }

    pub fn on_request(&self, f: impl Fn(&Recorded) + Send + Sync + 'static) {
        *self.inner.on_request.lock().unwrap() = Some(Box::new(f));
    }

    pub fn stream_cancelled(&self) -> bool {
        self.inner.stream_cancelled.load(Ordering::SeqCst)
    }

    pub fn stream_finished(&self) -> bool {
        self.inner.stream_finished.load(Ordering::SeqCst)
    }
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let routed = inner.by_path.lock().unwrap().get(parts.uri.path()).cloned();
    let recorded = Recorded {
        method: parts.method,
        path,
        headers: parts.headers,
        body,
    };
    if let Some(hook) = inner.on_request.lock().unwrap().as_ref() {
        hook(&recorded);
    }
    inner.recorded.lock().unwrap().push(recorded);
    if let Some(reply) = routed {
        return play(reply, inner).await;
    }
    let reply = inner.script.lock().unwrap().pop_front();
    let reply = reply
        .or_else(|| inner.default.lock().unwrap().clone())
        .unwrap_or_else(|| Reply::ok(chat_completion()));
    play(reply, inner).await
}

fn play(reply: Reply, inner: Arc<Inner>) -> futures_util::future::BoxFuture<'static, Response> {
    Box::pin(async move {
        match reply {
            Reply::Delayed(d, then) => {
                tokio::time::sleep(d).await;
                play(*then, inner).await
            }
            Reply::Json {
                status,
                body,
                headers,
            } => {
                let mut b = Response::builder()
                    .status(StatusCode::from_u16(status).unwrap())
                    .header("content-type", "application/json")
                    .header("x-generation-id", "gen-1739458867-kUKFjpDGCEBBvK6V46PX")
                    .header("set-cookie", "upstream=secret");
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                b.body(Body::from(body.to_string())).unwrap()
            }
            Reply::Sse { chunks, ending } => {
                let guard = CancelGuard {
                    inner: Arc::clone(&inner),
                    done: false,
                };
                let stream = futures_util::stream::unfold(
                    (chunks.into_iter(), guard, false),
                    move |(mut it, mut guard, ended)| async move {
                        if ended {
                            return None;
                        }
                        match it.next() {
                            Some((delay, text)) => {
                                tokio::time::sleep(delay).await;
                                Some((
                                    Ok::<Bytes, std::io::Error>(Bytes::from(text)),
                                    (it, guard, false),
                                ))
                            }
                            None => match ending {
                                StreamEnding::Close => {
                                    guard.done = true;
                                    guard.inner.stream_finished.store(true, Ordering::SeqCst);
                                    None
                                }
                                StreamEnding::Cut => {
                                    // Let hyper flush what was sent before breaking.
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                    guard.done = true;
                                    Some((Err(std::io::Error::other("cut")), (it, guard, true)))
                                }
                                StreamEnding::Hang => {
                                    std::future::pending::<()>().await;
                                    None
                                }
                            },
                        }
                    },
                );
                Response::builder()
                    .status(200)
                    .header("content-type", "text/event-stream")
                    .header("x-generation-id", "gen-1-abc")
                    .body(Body::from_stream(stream.boxed()))
                    .unwrap()
            }
        }
    })
}

/// Flags the mock's stream as cancelled when hyper drops it before the script ran out.
struct CancelGuard {
    inner: Arc<Inner>,
    done: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.done {
            self.inner.stream_cancelled.store(true, Ordering::SeqCst);
        }
    }
}
