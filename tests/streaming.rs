//! SSE relaying: chunk by chunk as they arrive, `[DONE]` and keep-alives preserved, timeouts
//! end the stream with an error event, and a client that leaves cancels the upstream.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::time::{Duration, Instant};

use common::{MockUpstream, Reply, StreamEnding, TestGateway};
use futures_util::StreamExt;
use serde_json::json;

fn stream_body() -> serde_json::Value {
    json!({"model": "openai/gpt-4o", "stream": true, "messages": [{"role": "user", "content": "count"}]})
}

/// Reads the whole stream, returning each received chunk with its arrival time.
async fn collect(r: reqwest::Response) -> Vec<(Instant, String)> {
    let mut out = Vec::new();
    let mut s = r.bytes_stream();
    while let Some(chunk) = s.next().await {
        out.push((
            Instant::now(),
            String::from_utf8(chunk.unwrap().to_vec()).unwrap(),
        ));
    }
    out
}

fn joined(chunks: &[(Instant, String)]) -> String {
    chunks.iter().map(|(_, c)| c.as_str()).collect()
}

#[tokio::test]
async fn a_slow_stream_reaches_the_client_chunk_by_chunk() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let gap = Duration::from_millis(300);
    mock.push(Reply::chat_stream(5, gap));
    let started = Instant::now();
    let r = gw.chat(&stream_body()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(r.headers()["x-generation-id"], "gen-1-abc");
    let chunks = collect(r).await;
    let text = joined(&chunks);

    // Every token event arrives separately, roughly one gap apart, not all at the end.
    let arrivals: Vec<Instant> = (0..5)
        .map(|i| {
            chunks
                .iter()
                .find(|(_, c)| c.contains(&format!("tok{i} ")))
                .expect("token relayed")
                .0
        })
        .collect();
    let total = arrivals[4] - started;
    assert!(total >= gap * 4, "the mock paces the stream ({total:?})");
    assert!(
        arrivals[0] - started < gap * 3,
        "the first token is not held back ({:?})",
        arrivals[0] - started
    );
    for w in arrivals.windows(2) {
        assert!(
            w[1] - w[0] >= gap / 2,
            "tokens arrive spread out, not coalesced: {:?}",
            w[1] - w[0]
        );
    }
    assert!(
        text.starts_with(": OPENROUTER PROCESSING\n\n"),
        "keep-alive comments are forwarded"
    );
    assert!(text.contains("\"usage\""));
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "[DONE] preserved: {text}"
    );
    assert!(mock.stream_finished());
    assert_eq!(mock.last().json()["stream"], true);
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_request() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    mock.push(Reply::chat_stream(50, Duration::from_millis(100)));
    let r = gw.chat(&stream_body()).await;
    let mut s = r.bytes_stream();
    // Read until the first token, then walk away.
    loop {
        let chunk = s.next().await.unwrap().unwrap();
        if String::from_utf8_lossy(&chunk).contains("tok0") {
            break;
        }
    }
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !mock.stream_cancelled() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        mock.stream_cancelled(),
        "the upstream stream was dropped when the client left"
    );
    assert!(!mock.stream_finished());
}

#[tokio::test]
async fn a_stalled_stream_ends_with_an_error_event() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await; // idle_timeout_ms = 1500
    let first = json!({"id":"gen-2","provider":"OpenAI","model":"openai/gpt-4o","choices":[{"index":0,"delta":{"content":"partial"}}]});
    mock.push(Reply::Sse {
        chunks: vec![(Duration::ZERO, format!("data: {first}\n\n"))],
        ending: StreamEnding::Hang,
    });
    let started = Instant::now();
    let text = joined(&collect(gw.chat(&stream_body()).await).await);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 2, "{text}");
    assert!(events[0].contains("partial"));
    let last: serde_json::Value =
        serde_json::from_str(events[1].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(last["error"]["code"], 504);
    assert_eq!(last["error"]["metadata"]["error_type"], "timeout");
    assert_eq!(last["choices"][0]["finish_reason"], "error");
    assert!(mock.stream_cancelled(), "the stalled upstream is dropped");
}

#[tokio::test]
async fn a_broken_upstream_stream_ends_with_an_error_event_on_its_own_line() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    // The connection breaks in the middle of an event.
    mock.push(Reply::Sse {
        chunks: vec![(
            Duration::ZERO,
            "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: {\"choi".to_owned(),
        )],
        ending: StreamEnding::Cut,
    });
    let text = joined(&collect(gw.chat(&stream_body()).await).await);
    let tail = text.rsplit("\n\n").find(|e| !e.is_empty()).unwrap();
    let last: serde_json::Value =
        serde_json::from_str(tail.strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(last["error"]["code"], 502);
    assert_eq!(last["choices"][0]["finish_reason"], "error");
    assert!(
        text.starts_with(
            "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: {\"error\""
        ),
        "the half-sent event is dropped; the error event follows the last whole one: {text}"
    );
}

#[tokio::test]
async fn in_band_upstream_errors_are_passed_on_unchanged() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let err = json!({"error":{"code":502,"message":"Provider returned error","metadata":{"error_type":"provider_unavailable"}},
        "choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]});
    let chunks = vec![
        (Duration::ZERO, ": OPENROUTER PROCESSING\n\n".to_owned()),
        (Duration::from_millis(50), format!("data: {err}\n\n")),
    ];
    mock.push(Reply::Sse {
        chunks: chunks.clone(),
        ending: StreamEnding::Close,
    });
    let text = joined(&collect(gw.chat(&stream_body()).await).await);
    assert_eq!(
        text,
        chunks.iter().map(|(_, c)| c.as_str()).collect::<String>()
    );
}

#[tokio::test]
async fn the_total_deadline_bounds_a_stream_that_never_stalls() {
    let mock = MockUpstream::start().await;
    let toml = common::gateway::config_toml(&mock, "")
        .replace("total_timeout_ms = 20000", "total_timeout_ms = 1200");
    let gw = TestGateway::from_toml(&toml, Some(common::upstream_key())).await;
    mock.push(Reply::chat_stream(100, Duration::from_millis(100)));
    let started = Instant::now();
    let text = joined(&collect(gw.chat(&stream_body()).await).await);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(text.contains("total time limit"), "{text}");
    assert!(!text.contains("[DONE]"));
}
