//! Receiving the request body: media type, size cap, and bounded `Content-Encoding` decoding.
//!
//! An encoded body is always decoded here, before parsing, so no stage downstream can be
//! handed bytes it cannot read; an encoding we cannot decode is refused (415), never passed
//! through. Decoding stops one byte past `max_decoded` so a zip bomb costs at most that much
//! memory.

use std::io::Read;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;

/// Size and time limits for one request body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Bytes accepted on the wire.
    pub max_wire: usize,
    /// Bytes accepted after decoding.
    pub max_decoded: usize,
    /// Time allowed to receive the whole body (slow-body clients hold a connection).
    pub timeout: std::time::Duration,
}

/// zstd frames may declare windows up to this size regardless of `max_decoded`: streaming
/// compressors that do not know the input size declare generous windows.
const ZSTD_MIN_WINDOW_ALLOWANCE: u64 = 8 * 1024 * 1024;

/// Bodies at least this large are decoded on the blocking pool, off the async workers.
const BLOCKING_DECODE_THRESHOLD: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("decoded request body exceeds the limit of {limit} bytes")]
    DecodedTooLarge { limit: usize },
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("unsupported Content-Encoding; orguard accepts identity, gzip, deflate, br and zstd")]
    UnsupportedEncoding,
    #[error("request body is not valid {encoding} data")]
    CorruptEncoding { encoding: &'static str },
    #[error("request body could not be read")]
    Read,
    #[error("request body was not received within the time limit")]
    Timeout,
}

/// The encodings we can decode (and therefore inspect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }
}

/// Checks the headers (media type, declared length, encoding) before any byte is read, then
/// reads and decodes the body within the limits.
pub async fn read(headers: &HeaderMap, body: Body, limits: BodyLimits) -> Result<Bytes, BodyError> {
    check_media_type(headers)?;
    let encoding = encoding(headers)?;
    if let Some(declared) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        if declared > limits.max_wire as u64 {
            return Err(BodyError::TooLarge {
                limit: limits.max_wire,
            });
        }
    }
    // The declared length may lie (or be absent with chunked encoding): the cap is enforced
    // again on the bytes actually received.
    let read = tokio::time::timeout(limits.timeout, axum::body::to_bytes(body, limits.max_wire));
    let wire = read.await.map_err(|_| BodyError::Timeout)?.map_err(|e| {
        if is_length_limit(&e) {
            BodyError::TooLarge {
                limit: limits.max_wire,
            }
        } else {
            BodyError::Read
        }
    })?;
    if encoding == Encoding::Identity || wire.len() < BLOCKING_DECODE_THRESHOLD {
        return decode(encoding, wire, limits.max_decoded);
    }
    // Decompressing megabytes is CPU work: keep it off the async worker threads.
    tokio::task::spawn_blocking(move || decode(encoding, wire, limits.max_decoded))
        .await
        .map_err(|_| BodyError::Read)?
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Only `application/json` (optionally with `charset=utf-8`) is accepted: anything else could
/// be read differently by the upstream than by our parser.
fn check_media_type(headers: &HeaderMap) -> Result<(), BodyError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or(BodyError::UnsupportedMediaType)?;
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(BodyError::UnsupportedMediaType);
    }
    for param in parts {
        let (name, val) = param
            .split_once('=')
            .ok_or(BodyError::UnsupportedMediaType)?;
        let val = val.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset") && !val.eq_ignore_ascii_case("utf-8") {
            return Err(BodyError::UnsupportedMediaType);
        }
    }
    Ok(())
}

/// One encoding at most. Stacked encodings (`gzip, br`) are refused rather than half-decoded.
fn encoding(headers: &HeaderMap) -> Result<Encoding, BodyError> {
    let mut values = headers.get_all(header::CONTENT_ENCODING).iter();
    let Some(first) = values.next() else {
        return Ok(Encoding::Identity);
    };
    if values.next().is_some() {
        return Err(BodyError::UnsupportedEncoding);
    }
    let name = first
        .to_str()
        .map_err(|_| BodyError::UnsupportedEncoding)?
        .trim();
    if name.contains(',') {
        return Err(BodyError::UnsupportedEncoding);
    }
    match name.to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        "deflate" => Ok(Encoding::Deflate),
        "br" => Ok(Encoding::Brotli),
        "zstd" => Ok(Encoding::Zstd),
        _ => Err(BodyError::UnsupportedEncoding),
    }
}

fn decode(encoding: Encoding, wire: Bytes, max: usize) -> Result<Bytes, BodyError> {
    let data: &[u8] = &wire;
    let corrupt = || BodyError::CorruptEncoding {
        encoding: encoding.name(),
    };
    match encoding {
        Encoding::Identity => {
            if wire.len() > max {
                return Err(BodyError::DecodedTooLarge { limit: max });
            }
            Ok(wire)
        }
        Encoding::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(data), max, corrupt),
        // HTTP "deflate" is the zlib format (RFC 9110 §8.4.1.2).
        Encoding::Deflate => read_bounded(flate2::read::ZlibDecoder::new(data), max, corrupt),
        Encoding::Brotli => read_bounded(
            brotli_decompressor::Decompressor::new(data, 8192),
            max,
            corrupt,
        ),
        Encoding::Zstd => {
            // The decoder reserves the window the frame header declares before decoding a
            // byte; refuse absurd windows first so a tiny body cannot claim 128 MiB.
            let window = zstd_window(data).ok_or_else(corrupt)?;
            if window > ZSTD_MIN_WINDOW_ALLOWANCE.max(max as u64) {
                return Err(BodyError::DecodedTooLarge { limit: max });
            }
            let decoder = ruzstd::decoding::StreamingDecoder::new(data).map_err(|_| corrupt())?;
            read_bounded(decoder, max, corrupt)
        }
    }
}

/// The window size a zstd frame header declares (RFC 8878 §3.1.1.1), or `None` if the data
/// does not start with a zstd frame header.
fn zstd_window(data: &[u8]) -> Option<u64> {
    if data.get(..4)? != [0x28, 0xB5, 0x2F, 0xFD] {
        return None;
    }
    let descriptor = *data.get(4)?;
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let wd = *data.get(5)?;
        let base = 1u64 << (10 + u64::from(wd >> 3));
        return Some(base + (base / 8) * u64::from(wd & 7));
    }
    // Single segment: the window is the frame content size.
    let dict_len = [0usize, 1, 2, 4][usize::from(descriptor & 3)];
    let at = 5 + dict_len;
    let field = |n: usize| -> Option<u64> {
        let bytes = data.get(at..at + n)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        )
    };
    match descriptor >> 6 {
        0 => field(1),
        1 => field(2).map(|v| v + 256),
        2 => field(4),
        _ => field(8),
    }
}

fn read_bounded(
    reader: impl Read,
    max: usize,
    corrupt: impl Fn() -> BodyError,
) -> Result<Bytes, BodyError> {
    let mut out = Vec::new();
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|_| corrupt())?;
    if out.len() > max {
        return Err(BodyError::DecodedTooLarge { limit: max });
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use axum::http::HeaderValue;

    use super::*;

    fn headers(ct: &str, ce: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        if let Some(ce) = ce {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_str(ce).unwrap());
        }
        h
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    const LIMITS: BodyLimits = BodyLimits {
        max_wire: 1024,
        max_decoded: 4096,
        timeout: std::time::Duration::from_secs(5),
    };

    #[tokio::test]
    async fn media_type_variants() {
        for ok in [
            "application/json",
            "Application/JSON; charset=UTF-8",
            "application/json;charset=\"utf-8\"",
        ] {
            assert!(
                read(&headers(ok, None), Body::from("{}"), LIMITS)
                    .await
                    .is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "text/plain",
            "application/jsonx",
            "application/json; charset=latin1",
            "multipart/form-data",
        ] {
            let err = read(&headers(bad, None), Body::from("{}"), LIMITS)
                .await
                .unwrap_err();
            assert!(matches!(err, BodyError::UnsupportedMediaType), "{bad}");
        }
    }

    #[tokio::test]
    async fn gzip_within_and_beyond_the_decoded_limit() {
        let small = gzip(b"{\"a\":1}");
        let out = read(
            &headers("application/json", Some("GZIP")),
            Body::from(small),
            LIMITS,
        )
        .await
        .unwrap();
        assert_eq!(&out[..], b"{\"a\":1}");
        let bomb = gzip(&vec![b' '; 100_000]);
        assert!(bomb.len() < LIMITS.max_wire);
        let err = read(
            &headers("application/json", Some("gzip")),
            Body::from(bomb),
            LIMITS,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, BodyError::DecodedTooLarge { limit: 4096 }));
    }

    #[tokio::test]
    async fn stacked_unknown_and_corrupt_encodings_are_refused() {
        for ce in ["gzip, br", "compress", "x-custom"] {
            let err = read(
                &headers("application/json", Some(ce)),
                Body::from("{}"),
                LIMITS,
            )
            .await
            .unwrap_err();
            assert!(matches!(err, BodyError::UnsupportedEncoding), "{ce}");
        }
        let err = read(
            &headers("application/json", Some("gzip")),
            Body::from("{}"),
            LIMITS,
        )
        .await
        .unwrap_err();
        assert!(matches!(
            err,
            BodyError::CorruptEncoding { encoding: "gzip" }
        ));
    }

    #[test]
    fn zstd_windows_are_read_from_the_header() {
        let small = ruzstd::encoding::compress_to_vec(
            &b"{}"[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert!(zstd_window(&small).is_some_and(|w| w <= 1 << 20));
        // A frame header declaring a 2 GiB window (exponent 21), then garbage.
        let huge = [0x28, 0xB5, 0x2F, 0xFD, 0x00, 21 << 3, 0, 0, 0];
        assert_eq!(zstd_window(&huge), Some(1 << 31));
        let err = decode(Encoding::Zstd, Bytes::copy_from_slice(&huge), 4096).unwrap_err();
        assert!(matches!(err, BodyError::DecodedTooLarge { .. }));
        assert_eq!(zstd_window(b"{}"), None);
    }

    #[tokio::test]
    async fn wire_limit_applies_without_content_length() {
        let err = read(
            &headers("application/json", None),
            Body::from(vec![b' '; 2000]),
            LIMITS,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 1024 }));
    }
}
