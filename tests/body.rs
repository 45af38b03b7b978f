//! Body handling through HTTP: every refusal of DESIGN.md §2 steps 1 and 3, and the proof
//! that nothing refused reaches the upstream.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::io::Write;

use common::gateway::error_of;
use common::{MockUpstream, TestGateway};

const OK_BODY: &str = r#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;

async fn send(
    gw: &TestGateway,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = gw
        .client
        .post(gw.url("/api/v1/chat/completions"))
        .bearer_auth(common::CLIENT_KEY);
    let mut has_ct = false;
    for (k, v) in headers {
        has_ct |= k.eq_ignore_ascii_case("content-type");
        req = req.header(*k, *v);
    }
    if !has_ct {
        req = req.header("content-type", "application/json");
    }
    req.body(body).send().await.unwrap()
}

async fn expect_refusal(
    gw: &TestGateway,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
    status: u16,
    code: &str,
) {
    let r = send(gw, body, headers).await;
    assert_eq!(r.status().as_u16(), status, "expected {code}");
    assert_eq!(r.headers()["x-should-retry"], "false");
    assert!(r.headers().contains_key("x-request-id"));
    let (kind, got) = error_of(r).await;
    assert_eq!(kind, "invalid_request_error");
    assert_eq!(got, code);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

#[tokio::test]
async fn size_limits() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    // Wire limit is 64 KiB in the test config.
    let big = format!(
        r#"{{"model":"openai/gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(70_000)
    );
    expect_refusal(&gw, big.clone(), &[], 413, "body_too_large").await;
    // Chunked (no Content-Length): the cap is enforced on the bytes received.
    let stream = futures_util::stream::iter(
        big.into_bytes()
            .chunks(1000)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    expect_refusal(
        &gw,
        reqwest::Body::wrap_stream(stream),
        &[],
        413,
        "body_too_large",
    )
    .await;
    // Just under the limit passes.
    let fits = format!(
        r#"{{"model":"openai/gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "a".repeat(60_000)
    );
    assert_eq!(send(&gw, fits, &[]).await.status(), 200);
    assert_eq!(mock.count(), 1);
}

#[tokio::test]
async fn media_type_and_json_shape() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    expect_refusal(
        &gw,
        OK_BODY,
        &[("content-type", "text/plain")],
        415,
        "unsupported_media_type",
    )
    .await;
    expect_refusal(
        &gw,
        OK_BODY,
        &[("content-type", "application/x-www-form-urlencoded")],
        415,
        "unsupported_media_type",
    )
    .await;
    expect_refusal(
        &gw,
        OK_BODY,
        &[("content-type", "application/json; charset=utf-16")],
        415,
        "unsupported_media_type",
    )
    .await;
    expect_refusal(&gw, "model=openai/gpt-4o", &[], 400, "invalid_json").await;
    expect_refusal(&gw, "", &[], 400, "invalid_json").await;
    expect_refusal(&gw, r#"["model"]"#, &[], 400, "invalid_body").await;
    expect_refusal(&gw, r#""just a string""#, &[], 400, "invalid_body").await;
    expect_refusal(&gw, format!("{OK_BODY}{{}}"), &[], 400, "invalid_json").await;
    assert_eq!(mock.count(), 0);
}

#[tokio::test]
async fn ambiguous_json_is_refused() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let dupes = [
        r#"{"model":"openai/gpt-4o","model":"anthropic/claude-3.5-sonnet","messages":[]}"#,
        r#"{"model":"openai/gpt-4o","mod\u0065l":"x","messages":[]}"#,
        r#"{"model":"openai/gpt-4o","\u006d\u006f\u0064\u0065\u006c":"x","messages":[]}"#,
        r#"{"model":"openai/gpt-4o","provider":{"only":["openai"],"only":["deepinfra"]},"messages":[]}"#,
        r#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"a","cont\u0065nt":"b"}]}"#,
    ];
    for body in dupes {
        expect_refusal(&gw, body, &[], 400, "duplicate_key").await;
    }
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(OK_BODY.as_bytes());
    expect_refusal(&gw, bom, &[], 400, "invalid_body").await;
    expect_refusal(&gw, b"{\"model\":\"openai/gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"\xC3\x28\"}]}".to_vec(), &[], 400, "invalid_utf8").await;
    expect_refusal(
        &gw,
        r#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"\ud800"}]}"#,
        &[],
        400,
        "invalid_json",
    )
    .await;
    let deep = format!(
        r#"{{"model":"m","x":{}1{}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    expect_refusal(&gw, deep, &[], 400, "nesting_too_deep").await;
    let very_deep = format!(r#"{{"model":"m","x":{}}}"#, "{\"a\":".repeat(5000));
    expect_refusal(&gw, very_deep, &[], 400, "nesting_too_deep").await;
    assert_eq!(mock.count(), 0);
}

#[tokio::test]
async fn owned_fields_must_have_the_right_type() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    for body in [
        r#"{"model":123,"messages":[]}"#,
        r#"{"model":{"id":"openai/gpt-4o"},"messages":[]}"#,
        r#"{"model":"openai/gpt-4o","models":"anthropic/claude","messages":[]}"#,
        r#"{"model":"openai/gpt-4o","provider":"openai","messages":[]}"#,
        r#"{"model":"openai/gpt-4o","max_tokens":"100","messages":[]}"#,
        r#"{"model":"openai/gpt-4o","max_tokens":-5,"messages":[]}"#,
        r#"{"model":"openai/gpt-4o","max_tokens":1.5,"messages":[]}"#,
        r#"{"model":"openai/gpt-4o","max_completion_tokens":true,"messages":[]}"#,
        r#"{"model":"openai/gpt-4o","stream":"yes","messages":[]}"#,
    ] {
        expect_refusal(&gw, body, &[], 400, "invalid_field_type").await;
    }
    for body in [
        r#"{"messages":[]}"#,
        r#"{"model":"","messages":[]}"#,
        r#"{"model":null,"messages":[]}"#,
    ] {
        expect_refusal(&gw, body, &[], 400, "model_required").await;
    }
    assert_eq!(mock.count(), 0);
}

#[tokio::test]
async fn encoded_bodies_are_decoded_and_inspected() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let expected: serde_json::Value = serde_json::from_str(OK_BODY).unwrap();
    for (name, encoded) in [
        ("gzip", gzip(OK_BODY.as_bytes())),
        ("deflate", zlib(OK_BODY.as_bytes())),
        ("br", brotli(OK_BODY.as_bytes())),
        ("zstd", zstd(OK_BODY.as_bytes())),
    ] {
        let r = send(&gw, encoded, &[("content-encoding", name)]).await;
        assert_eq!(r.status(), 200, "{name}");
        let got = mock.last();
        assert_eq!(
            common::without_policy_fields(got.json()),
            expected,
            "{name}: the upstream gets the decoded JSON"
        );
        assert!(got.headers.get("content-encoding").is_none(), "{name}");
    }
    // Duplicate keys hidden inside a compressed body are still found.
    let sneaky = r#"{"model":"openai/gpt-4o","model":"x/y","messages":[]}"#;
    for (name, encoded) in [
        ("gzip", gzip(sneaky.as_bytes())),
        ("br", brotli(sneaky.as_bytes())),
        ("zstd", zstd(sneaky.as_bytes())),
    ] {
        expect_refusal(
            &gw,
            encoded,
            &[("content-encoding", name)],
            400,
            "duplicate_key",
        )
        .await;
    }
    assert_eq!(mock.count(), 4);
}

#[tokio::test]
async fn bad_encodings_are_refused_never_forwarded() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    // Decoded limit is 256 KiB in the test config: 10 MB of spaces compresses to ~10 KB.
    let padding = " ".repeat(10_000_000);
    let bomb_json = format!(r#"{{"model":"m",{padding}"messages":[]}}"#);
    for (name, encoded) in [
        ("gzip", gzip(bomb_json.as_bytes())),
        ("br", brotli(bomb_json.as_bytes())),
        ("zstd", zstd(bomb_json.as_bytes())),
    ] {
        assert!(encoded.len() < 65536, "{name} bomb fits the wire limit");
        expect_refusal(
            &gw,
            encoded,
            &[("content-encoding", name)],
            413,
            "body_too_large",
        )
        .await;
    }
    expect_refusal(
        &gw,
        gzip(OK_BODY.as_bytes()),
        &[("content-encoding", "compress")],
        415,
        "unsupported_content_encoding",
    )
    .await;
    expect_refusal(
        &gw,
        gzip(&gzip(OK_BODY.as_bytes())),
        &[("content-encoding", "gzip, gzip")],
        415,
        "unsupported_content_encoding",
    )
    .await;
    expect_refusal(
        &gw,
        OK_BODY,
        &[("content-encoding", "gzip")],
        400,
        "invalid_content_encoding",
    )
    .await;
    expect_refusal(
        &gw,
        OK_BODY,
        &[("content-encoding", "zstd")],
        400,
        "invalid_content_encoding",
    )
    .await;
    // A gzip body labelled identity is not JSON: refused, not sniffed.
    expect_refusal(&gw, gzip(OK_BODY.as_bytes()), &[], 400, "invalid_utf8").await;
    assert_eq!(mock.count(), 0);
}

#[tokio::test]
async fn default_limits_admit_three_mebibytes_and_refuse_five() {
    let mock = MockUpstream::start().await;
    let toml = common::gateway::config_toml(&mock, "")
        .replace("max_body_bytes = 65536\n", "")
        .replace("max_decompressed_bytes = 262144\n", "");
    let gw = TestGateway::from_toml(&toml, Some(common::upstream_key())).await;
    let body = |n: usize| {
        format!(
            r#"{{"model":"openai/gpt-4o","messages":[{{"role":"user","content":"{}"}}]}}"#,
            "a".repeat(n)
        )
    };
    assert_eq!(send(&gw, body(3 * 1024 * 1024), &[]).await.status(), 200);
    expect_refusal(&gw, body(5 * 1024 * 1024), &[], 413, "body_too_large").await;
    assert_eq!(mock.count(), 1);
}

#[tokio::test]
async fn a_zstd_frame_declaring_a_huge_window_is_refused_before_decoding() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    // Magic, descriptor (no single segment), window descriptor for 2 GiB, then junk.
    let frame = vec![0x28, 0xB5, 0x2F, 0xFD, 0x00, 21 << 3, 1, 2, 3, 4];
    expect_refusal(
        &gw,
        frame,
        &[("content-encoding", "zstd")],
        413,
        "body_too_large",
    )
    .await;
    assert_eq!(mock.count(), 0);
}

#[tokio::test]
async fn a_body_that_trickles_in_too_slowly_is_refused() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await; // body_timeout_ms = 1000
    let chunks = futures_util::stream::unfold(0, |i| async move {
        if i == 5 {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        Some((Ok::<_, std::io::Error>(b"  ".to_vec()), i + 1))
    });
    let r = send(&gw, reqwest::Body::wrap_stream(chunks), &[]).await;
    assert_eq!(r.status(), 408);
    assert_eq!(error_of(r).await.1, "body_timeout");
    assert_eq!(mock.count(), 0);
}
