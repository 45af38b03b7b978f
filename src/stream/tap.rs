//! The SSE pass-through body.
//!
//! Whole lines are forwarded as they arrive (no coalescing, and no copy when a chunk ends on
//! a line boundary). There is no pump task: the tap *is* the response body, so when the
//! client disconnects, axum drops it, and dropping it drops the upstream response, which
//! closes the upstream connection and cancels the generation.
//!
//! Every `data:` event passes an [`Inspector`] before the client sees it; the inspector can
//! end the stream right there (a provider outside policy, a missing BYOK proof). A stall
//! longer than the idle gap, the total deadline, a broken upstream connection, or an end
//! without `[DONE]` also end the stream with an OpenRouter-shaped error event
//! (`data: {"error":…}` with `finish_reason: "error"`), since the status line is long sent.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde_json::json;
use tokio::time::Instant;

use super::sse::{classify, LineBuffer, SseLine};

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The upstream closed the stream normally.
    Completed,
    /// The upstream sent an in-band error event, or the connection broke.
    UpstreamError,
    /// The upstream closed the connection without `[DONE]`.
    Truncated,
    /// No data for longer than the idle gap, or the total deadline passed.
    TimedOut,
    /// The inspector ended the stream (policy violation).
    Cut,
    /// The client went away first; the upstream request was dropped with it.
    ClientCancelled,
}

impl StreamEnd {
    /// The request's outcome in the audit's one vocabulary.
    pub fn outcome(self) -> crate::audit::record::Outcome {
        use crate::audit::record::Outcome;
        match self {
            Self::Completed => Outcome::Completed,
            Self::UpstreamError => Outcome::UpstreamError,
            Self::Truncated => Outcome::Truncated,
            Self::TimedOut => Outcome::TimedOut,
            Self::Cut => Outcome::CutByPolicy,
            Self::ClientCancelled => Outcome::ClientCancelled,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::UpstreamError => "upstream_error",
            Self::Truncated => "truncated",
            Self::TimedOut => "timed_out",
            Self::Cut => "cut_by_policy",
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
    /// The bytes handed to the client, assembled, when the tap was asked to keep them
    /// (`TapLimits::capture`, for encrypted captures); at most the cap.
    pub delivered: Option<bytes::Bytes>,
    /// The stream delivered more than the capture cap: `delivered` is its beginning.
    pub delivered_truncated: bool,
}

/// An error event to end a stream with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub code: u16,
    pub error_type: &'static str,
    pub message: String,
}

/// Looks at each event before it is forwarded.
/// What happens to one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it as it came.
    Pass,
    /// Forward this payload instead (placeholder restoration).
    Rewrite(Vec<u8>),
    /// End the stream before this event.
    Cut(Cut),
}

pub trait Inspector: Send {
    /// One `data:` payload (never `[DONE]`).
    fn data(&mut self, payload: &[u8]) -> Verdict;
    /// The upstream finished; `Some` replaces the clean end with an error event.
    fn finish(&mut self) -> Option<Cut>;
}

/// An inspector that lets everything through.
pub struct PassAll;

impl Inspector for PassAll {
    fn data(&mut self, _: &[u8]) -> Verdict {
        Verdict::Pass
    }

    fn finish(&mut self) -> Option<Cut> {
        None
    }
}

/// Tap settings.
#[derive(Debug, Clone, Copy)]
pub struct TapLimits {
    pub idle: Duration,
    pub deadline: Instant,
    /// Longest line accepted (a stream without newlines is not SSE).
    pub max_line: usize,
    /// Whether the protocol ends with `data: [DONE]` (chat and text completions).
    pub expects_done: bool,
    /// Keep up to this many delivered bytes for the report (an encrypted capture of the
    /// response as the client got it, error events included). `None`: keep nothing.
    pub capture: Option<usize>,
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
    lines: LineBuffer,
    /// A non-blank line has been forwarded since the last blank line.
    mid_event: bool,
    limits: TapLimits,
    inspector: Box<dyn Inspector>,
    report: StreamReport,
    finished: bool,
    on_end: Option<F>,
    /// What was handed to the client so far, when capturing.
    delivered: Option<BytesMut>,
}

/// What one upstream chunk turns into.
enum Step {
    Forward(Bytes),
    /// Forward these bytes and end the stream.
    Last(Bytes, StreamEnd),
    Wait,
}

impl<S, F: FnOnce(StreamReport)> Tap<S, F> {
    /// Walks the whole lines of `region`, stopping at the first event the inspector refuses.
    fn walk(&mut self, region: Bytes) -> Step {
        // Untouched regions go out as they came; the first rewrite starts a copy.
        let mut rewritten: Option<BytesMut> = None;
        let mut offset = 0;
        for line in region.split_inclusive(|b| *b == b'\n') {
            let start = offset;
            offset += line.len();
            let was_mid_event = self.mid_event;
            let kind = classify(line);
            self.mid_event = !matches!(kind, SseLine::Blank);
            let verdict = match kind {
                SseLine::Data(b"[DONE]") => {
                    self.report.saw_done = true;
                    Verdict::Pass
                }
                SseLine::Data(payload) => {
                    self.report.data_events += 1;
                    if is_error_event(payload) {
                        self.report.end = StreamEnd::UpstreamError;
                    }
                    self.inspector.data(payload)
                }
                SseLine::Comment | SseLine::Blank | SseLine::Other => Verdict::Pass,
            };
            match verdict {
                Verdict::Pass => {
                    if let Some(out) = rewritten.as_mut() {
                        out.extend_from_slice(line);
                    }
                }
                Verdict::Rewrite(payload) => {
                    let out = rewritten.get_or_insert_with(|| {
                        BytesMut::from(region.get(..start).unwrap_or_default())
                    });
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(&payload);
                    out.extend_from_slice(b"\n");
                }
                Verdict::Cut(cut) => {
                    let mut out = rewritten
                        .unwrap_or_else(|| BytesMut::from(region.get(..start).unwrap_or_default()));
                    if was_mid_event {
                        out.extend_from_slice(b"\n");
                    }
                    out.extend_from_slice(&error_event(cut.code, cut.error_type, &cut.message));
                    return Step::Last(out.freeze(), StreamEnd::Cut);
                }
            }
        }
        let out = rewritten.map_or(region, BytesMut::freeze);
        self.report.bytes += out.len() as u64;
        Step::Forward(out)
    }

    /// Adds bytes about to be handed to the client to the capture, up to its cap.
    fn keep(&mut self, bytes: &Bytes) {
        let (Some(kept), Some(cap)) = (self.delivered.as_mut(), self.limits.capture) else {
            return;
        };
        let room = cap.saturating_sub(kept.len());
        if bytes.len() > room {
            self.report.delivered_truncated = true;
        }
        kept.extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
    }

    fn on_chunk(&mut self, chunk: Bytes) -> Step {
        match self.lines.push(chunk) {
            Ok(Some(region)) => self.walk(region),
            Ok(None) => Step::Wait,
            Err(_) => Step::Last(
                self.closing(
                    502,
                    "provider_unavailable",
                    "the upstream stream is not valid SSE (line too long)",
                ),
                StreamEnd::UpstreamError,
            ),
        }
    }

    /// The upstream closed the stream. An unterminated last line was never inspected, so it
    /// is dropped, and the stream counts as truncated.
    fn on_eof(&mut self) -> Option<(Bytes, StreamEnd)> {
        let had_rest = self.lines.take_rest().is_some();
        if let Some(cut) = self.inspector.finish() {
            return Some((
                self.closing(cut.code, cut.error_type, &cut.message),
                StreamEnd::Cut,
            ));
        }
        let no_done = self.limits.expects_done
            && !self.report.saw_done
            && self.report.end != StreamEnd::UpstreamError;
        if had_rest || no_done {
            return Some((
                self.closing(
                    502,
                    "provider_unavailable",
                    "the upstream ended the stream before it was complete",
                ),
                StreamEnd::Truncated,
            ));
        }
        None
    }

    /// An error event after the whole lines already forwarded. A pending half line never
    /// reached the client and is dropped; an open event is terminated first.
    fn closing(&mut self, code: u16, error_type: &str, message: &str) -> Bytes {
        let _ = self.lines.take_rest();
        let mut out = BytesMut::new();
        if self.mid_event {
            out.extend_from_slice(b"\n");
        }
        out.extend_from_slice(&error_event(code, error_type, message));
        out.freeze()
    }

    fn finish(&mut self, end: StreamEnd) {
        if self.finished {
            return;
        }
        self.finished = true;
        // An in-band upstream error already decided how the stream ended.
        if self.report.end != StreamEnd::UpstreamError || end == StreamEnd::Cut {
            self.report.end = end;
        }
        if let Some(delivered) = self.delivered.take() {
            self.report.delivered = Some(delivered.freeze());
        }
        if let Some(on_end) = self.on_end.take() {
            on_end(self.report.clone());
        }
    }
}

/// A top-level `error` object in a data event is the upstream's mid-stream failure; the
/// memmem pre-check keeps JSON parsing off the common path.
fn is_error_event(payload: &[u8]) -> bool {
    // Built once: `memmem::find` would build a searcher for every event.
    static ERROR_KEY: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"error\""));
    ERROR_KEY.find(payload).is_some()
        && serde_json::from_slice::<serde_json::Value>(payload)
            .is_ok_and(|v| v.get("error").is_some_and(serde_json::Value::is_object))
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
    limits: TapLimits,
    inspector: Box<dyn Inspector>,
    on_end: F,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + Unpin + 'static,
    F: FnOnce(StreamReport) + Send + 'static,
{
    let state = Tap {
        upstream,
        lines: LineBuffer::new(limits.max_line),
        mid_event: false,
        limits,
        inspector,
        report: StreamReport {
            end: StreamEnd::Completed,
            data_events: 0,
            saw_done: false,
            bytes: 0,
            delivered: None,
            delivered_truncated: false,
        },
        finished: false,
        on_end: Some(on_end),
        delivered: limits.capture.map(|_| BytesMut::new()),
    };
    futures_util::stream::unfold(state, |mut tap| async move {
        if tap.finished {
            return None;
        }
        loop {
            let until = tap.limits.deadline.min(Instant::now() + tap.limits.idle);
            let step = match tokio::time::timeout_at(until, tap.upstream.next()).await {
                Ok(Some(Ok(chunk))) => tap.on_chunk(chunk),
                Ok(None) => match tap.on_eof() {
                    Some((bytes, end)) => Step::Last(bytes, end),
                    None => {
                        tap.finish(StreamEnd::Completed);
                        return None;
                    }
                },
                Ok(Some(Err(_))) => Step::Last(
                    tap.closing(
                        502,
                        "provider_unavailable",
                        "the upstream connection broke mid-stream",
                    ),
                    StreamEnd::UpstreamError,
                ),
                Err(_) => {
                    let message = if Instant::now() >= tap.limits.deadline {
                        "the stream exceeded the gateway's total time limit"
                    } else {
                        "the upstream stream stalled longer than the gateway's idle limit"
                    };
                    Step::Last(tap.closing(504, "timeout", message), StreamEnd::TimedOut)
                }
            };
            match step {
                Step::Forward(bytes) => {
                    tap.keep(&bytes);
                    return Some((Ok(bytes), tap));
                }
                Step::Wait => continue,
                Step::Last(bytes, end) => {
                    // Kept before `finish`, which hands the assembled bytes to `on_end`.
                    tap.keep(&bytes);
                    tap.finish(end);
                    return Some((Ok(bytes), tap));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Runs `chunks` through a tap and returns what the client got and the report.
    async fn run(
        chunks: Vec<&'static str>,
        inspector: Box<dyn Inspector>,
    ) -> (String, StreamReport) {
        let upstream = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, reqwest::Error>(Bytes::from_static(c.as_bytes()))),
        );
        let report = Arc::new(Mutex::new(None));
        let sink = Arc::clone(&report);
        let limits = TapLimits {
            idle: Duration::from_secs(5),
            deadline: Instant::now() + Duration::from_secs(5),
            max_line: 1024,
            expects_done: true,
            capture: Some(1 << 20),
        };
        let body = tap(upstream, limits, inspector, move |r| {
            *sink.lock().unwrap() = Some(r)
        });
        let out: Vec<_> = body.collect().await;
        let text = out
            .into_iter()
            .map(|b| String::from_utf8(b.unwrap().to_vec()).unwrap())
            .collect();
        let report: StreamReport = report.lock().unwrap().clone().unwrap();
        // The capture is exactly what the client got, whatever ended the stream.
        assert_eq!(
            report.delivered.as_deref(),
            Some(<String as AsRef<[u8]>>::as_ref(&text))
        );
        (text, report)
    }

    struct RefuseProvider(&'static str);

    impl Inspector for RefuseProvider {
        fn data(&mut self, payload: &[u8]) -> Verdict {
            memchr::memmem::find(payload, self.0.as_bytes()).map_or(Verdict::Pass, |_| {
                Verdict::Cut(Cut {
                    code: 502,
                    error_type: "policy_violation",
                    message: "no".into(),
                })
            })
        }

        fn finish(&mut self) -> Option<Cut> {
            None
        }
    }

    #[tokio::test]
    async fn passes_through_and_reports_completion() {
        let (text, report) = run(
            vec![": keep\n\ndata: {\"a\":1}\n\n", "data: [DONE]\n\n"],
            Box::new(PassAll),
        )
        .await;
        assert_eq!(text, ": keep\n\ndata: {\"a\":1}\n\ndata: [DONE]\n\n");
        assert_eq!(
            (report.end, report.data_events, report.saw_done),
            (StreamEnd::Completed, 1, true)
        );
    }

    #[tokio::test]
    async fn an_in_band_error_is_reported() {
        let (_, report) = run(
            vec!["data: {\"error\":{\"code\":502}}\n\n"],
            Box::new(PassAll),
        )
        .await;
        assert_eq!(report.end, StreamEnd::UpstreamError);
    }

    #[tokio::test]
    async fn the_inspector_cuts_before_the_refused_event_even_mid_chunk_and_mid_line() {
        let (text, report) = run(
            vec![
                "data: {\"provider\":\"OpenAI\"}\n\ndata: {\"provider\":\"Bad",
                "Co\",\"content\":\"secret\"}\n\ndata: [DONE]\n\n",
            ],
            Box::new(RefuseProvider("BadCo")),
        )
        .await;
        assert!(
            text.starts_with("data: {\"provider\":\"OpenAI\"}\n\ndata: {\"error\""),
            "{text}"
        );
        assert!(
            !text.contains("secret") && !text.contains("BadCo") && !text.contains("[DONE]"),
            "{text}"
        );
        assert_eq!(report.end, StreamEnd::Cut);
    }

    #[tokio::test]
    async fn an_end_without_done_is_truncation() {
        let (text, report) = run(vec!["data: {\"a\":1}\n\ndata: {\"a\":"], Box::new(PassAll)).await;
        assert!(
            text.starts_with("data: {\"a\":1}\n\ndata: {\"error\""),
            "{text}"
        );
        assert_eq!(report.end, StreamEnd::Truncated);
    }

    #[tokio::test]
    async fn a_line_without_end_is_refused() {
        let long: &'static str = Box::leak("x".repeat(2000).into_boxed_str());
        let (text, report) = run(vec!["data: {}\n\n", long], Box::new(PassAll)).await;
        assert!(text.starts_with("data: {}\n\ndata: {\"error\""), "{text}");
        assert_eq!(report.end, StreamEnd::UpstreamError);
    }
}
