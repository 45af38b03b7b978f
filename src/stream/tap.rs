//! The SSE pass-through body.
//!
//! Each upstream chunk is forwarded as it came (no coalescing, no copy), while a line scanner
//! watches the events go by. There is no pump task: the tap *is* the response body, so when
//! the client disconnects, axum drops it, and dropping it drops the upstream response, which
//! closes the upstream connection and cancels the generation.
//!
//! A stall longer than the idle gap, the total deadline, or an upstream read error ends the
//! stream with an OpenRouter-shaped error event (`data: {"error":…}` with
//! `finish_reason: "error"`), since the status line has long been sent.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde_json::json;
use tokio::time::Instant;

use super::sse::{LineScanner, SseLine};

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The upstream closed the stream normally.
    Completed,
    /// The upstream sent an in-band error event, or the connection broke.
    UpstreamError,
    /// No data for longer than the idle gap, or the total deadline passed.
    TimedOut,
    /// The client went away first; the upstream request was dropped with it.
    ClientCancelled,
}

impl StreamEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::UpstreamError => "upstream_error",
            Self::TimedOut => "timed_out",
            Self::ClientCancelled => "client_cancelled",
        }
    }
}

/// What the tap saw, handed to the pipeline once the stream is over.
#[derive(Debug, Clone)]
pub struct StreamReport {
    pub end: StreamEnd,
    pub data_events: u64,
    pub saw_done: bool,
    pub bytes: u64,
}

/// Builds an OpenRouter-shaped mid-stream error event.
pub fn error_event(code: u16, error_type: &str, message: &str) -> Bytes {
    let event = json!({
        "error": {"code": code, "message": message, "metadata": {"error_type": error_type}},
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    });
    Bytes::from(format!("data: {event}\n\n"))
}

/// State that lives as long as the client's response body.
struct Tap<S, F: FnOnce(StreamReport)> {
    upstream: S,
    scanner: LineScanner,
    idle: Duration,
    deadline: Instant,
    report: StreamReport,
    finished: bool,
    on_end: Option<F>,
}

impl<S, F: FnOnce(StreamReport)> Tap<S, F> {
    fn observe(&mut self, chunk: &[u8]) {
        let report = &mut self.report;
        report.bytes += chunk.len() as u64;
        self.scanner.feed(chunk, |line| {
            if let SseLine::Data(payload) = line {
                if payload == b"[DONE]" {
                    report.saw_done = true;
                } else {
                    report.data_events += 1;
                    // A top-level "error" object in a data event is the upstream's
                    // mid-stream failure; the memmem pre-check keeps JSON parsing off the
                    // common path.
                    if memchr::memmem::find(payload, b"\"error\"").is_some()
                        && serde_json::from_slice::<serde_json::Value>(payload)
                            .is_ok_and(|v| v.get("error").is_some_and(serde_json::Value::is_object))
                    {
                        report.end = StreamEnd::UpstreamError;
                    }
                }
            }
        });
    }

    fn finish(&mut self, end: StreamEnd) {
        if self.finished {
            return;
        }
        self.finished = true;
        // An in-band upstream error already decided how the stream ended.
        if self.report.end != StreamEnd::UpstreamError {
            self.report.end = end;
        }
        if let Some(on_end) = self.on_end.take() {
            on_end(self.report.clone());
        }
    }

    /// The error event to append, prefixed so it does not glue onto a half-written line.
    fn closing_event(&self, code: u16, error_type: &str, message: &str) -> Bytes {
        let mut out = BytesMut::from(self.scanner.separator());
        out.extend_from_slice(&error_event(code, error_type, message));
        out.freeze()
    }
}

impl<S, F: FnOnce(StreamReport)> Drop for Tap<S, F> {
    fn drop(&mut self) {
        // Dropped before the end was seen: the client went away.
        self.finish(StreamEnd::ClientCancelled);
    }
}

/// Wraps an upstream byte stream into the client's SSE body.
pub fn tap<S, F>(
    upstream: S,
    idle: Duration,
    deadline: Instant,
    on_end: F,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + Unpin + 'static,
    F: FnOnce(StreamReport) + Send + 'static,
{
    let state = Tap {
        upstream,
        scanner: LineScanner::default(),
        idle,
        deadline,
        report: StreamReport {
            end: StreamEnd::Completed,
            data_events: 0,
            saw_done: false,
            bytes: 0,
        },
        finished: false,
        on_end: Some(on_end),
    };
    futures_util::stream::unfold(state, |mut tap| async move {
        if tap.finished {
            return None;
        }
        let until = tap.deadline.min(Instant::now() + tap.idle);
        match tokio::time::timeout_at(until, tap.upstream.next()).await {
            Ok(Some(Ok(chunk))) => {
                tap.observe(&chunk);
                Some((Ok(chunk), tap))
            }
            Ok(None) => {
                tap.finish(StreamEnd::Completed);
                None
            }
            Ok(Some(Err(_))) => {
                let event = tap.closing_event(
                    502,
                    "provider_unavailable",
                    "the upstream connection broke mid-stream",
                );
                tap.finish(StreamEnd::UpstreamError);
                Some((Ok(event), tap))
            }
            Err(_) => {
                let message = if Instant::now() >= tap.deadline {
                    "the stream exceeded the gateway's total time limit"
                } else {
                    "the upstream stream stalled longer than the gateway's idle limit"
                };
                let event = tap.closing_event(504, "timeout", message);
                tap.finish(StreamEnd::TimedOut);
                Some((Ok(event), tap))
            }
        }
    })
}
