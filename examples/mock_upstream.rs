//! A stand-alone mock OpenRouter for the load benchmark (`bench/run.sh`): a fixed chat
//! completion for plain requests, a paced SSE stream for `"stream": true`. A streamed request
//! whose body holds the word `burst` gets every event at once (no pacing), so one mock serves
//! both the paced and the coalesced stream benchmarks.
//!
//! Run: `cargo run --release --example mock_upstream -- 127.0.0.1:18101 [pace_ms] [chunks]`

// A benchmark tool may panic on setup failure; the lints guard the gateway, not its tools.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

const COMPLETION: &str = r#"{"id":"gen-1-bench","provider":"OpenAI","model":"openai/gpt-4o","object":"chat.completion","created":1,"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Hello from the benchmark mock."}}],"usage":{"prompt_tokens":10,"completion_tokens":7,"total_tokens":17,"cost":0.00002,"is_byok":false}}"#;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:18101".into());
    let pace: u64 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(20);
    let chunks: usize = args.get(3).and_then(|c| c.parse().ok()).unwrap_or(20);
    let app = Router::new()
        .route(
            "/api/v1/chat/completions",
            post(move |body: Bytes| async move { reply(&body, pace, chunks) }),
        )
        // Bodies up to orguard's largest configurable limit, not axum's 2 MiB default.
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024));
    // A real upstream's events leave as they are written: with Nagle on, a burst's later
    // events would wait for the client's delayed ACK (~40 ms) and every target would look
    // slow for the mock's sake.
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    axum::serve(orguard::server::no_delay(listener), app)
        .await
        .unwrap();
}

fn reply(body: &[u8], pace: u64, chunks: usize) -> Response {
    let stream = holds(body, b"\"stream\":true");
    if !stream {
        return ([(header::CONTENT_TYPE, "application/json")], COMPLETION).into_response();
    }
    let pace = if holds(body, b"burst") { 0 } else { pace };
    let events = futures_util::stream::unfold(0usize, move |i| async move {
        if i > chunks {
            return None;
        }
        if i > 0 && pace > 0 {
            tokio::time::sleep(Duration::from_millis(pace)).await;
        }
        let event = if i == chunks {
            "data: {\"id\":\"gen-1-bench\",\"provider\":\"OpenAI\",\"model\":\"openai/gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":20,\"cost\":0.0001,\"is_byok\":false}}\n\ndata: [DONE]\n\n".to_owned()
        } else {
            format!("data: {{\"id\":\"gen-1-bench\",\"provider\":\"OpenAI\",\"model\":\"openai/gpt-4o\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}}}}]}}\n\n")
        };
        Some((Ok::<_, std::io::Error>(Bytes::from(event)), i + 1))
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(events),
    )
        .into_response()
}

fn holds(body: &[u8], needle: &[u8]) -> bool {
    body.windows(needle.len()).any(|w| w == needle)
}
