//! Redaction quality and behaviour: a labelled corpus written for this project and generated
//! deterministically (positives of every structured type in chat text and JSON, plus the
//! hard negatives that must never be flagged), property tests, and the end-to-end path
//! through HTTP including placeholders restored across stream events.

// Test code may unwrap and read whole bodies; the lints guard the gateway, not its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::disallowed_types
)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{MockUpstream, Reply, StreamEnding, TestGateway};
use futures_util::StreamExt;
use orguard::redact::{self, Action, Detectors, RedactPolicy};
use orguard::request::Endpoint;
use proptest::prelude::*;
use serde_json::{json, Value};

/// A small deterministic generator (xorshift64*), so the corpus is the same on every run.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| char::from(A[self.below(A.len() as u64) as usize]))
            .collect()
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

fn luhn_complete(prefix: &str, len: usize, g: &mut Gen) -> String {
    let mut s = prefix.to_owned() + &g.digits(len - prefix.len() - 1);
    for check in 0..10 {
        let candidate = format!("{s}{check}");
        if redact::detectors::luhn(&candidate) {
            s = candidate;
            break;
        }
    }
    s
}

fn iban(country: &str, bban: &str) -> String {
    for check in 2..99 {
        let candidate = format!("{country}{check:02}{bban}");
        if redact::detectors::iban(&candidate) {
            return candidate;
        }
    }
    unreachable!()
}

/// One labelled positive: the value and its type.
fn positive(kind: &str, g: &mut Gen) -> String {
    match kind {
        "EMAIL" => format!(
            "{}.{}{}@{}.{}",
            g.pick(&["jane", "omar", "li", "sven", "ana"]),
            g.pick(&["doe", "khan", "wei", "berg"]),
            g.below(100),
            g.pick(&["example", "mail-corp", "acme"]),
            g.pick(&["com", "co.uk", "io", "de"])
        ),
        "PHONE" => match g.below(6) {
            0 => format!("+1 415 555 {}", g.digits(4)),
            1 => format!("+44 20 7946 {}", g.digits(4)),
            2 => format!("(415) 555-{}", g.digits(4)),
            3 => format!("+49 30 {} {}", g.digits(4), g.digits(4)),
            4 => format!("212-555-{}", g.digits(4)),
            _ => format!(
                "+33 1 {} {} {} {}",
                g.digits(2),
                g.digits(2),
                g.digits(2),
                g.digits(2)
            ),
        },
        "CREDIT_CARD" => {
            let n = luhn_complete(g.pick(&["4", "51", "55", "4539", "2221"]), 16, g);
            match g.below(3) {
                0 => n,
                1 => n
                    .as_bytes()
                    .chunks(4)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => n
                    .as_bytes()
                    .chunks(4)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect::<Vec<_>>()
                    .join("-"),
            }
        }
        "IBAN" => {
            let v = match g.below(3) {
                0 => iban("DE", &g.digits(18)),
                1 => iban("GB", &format!("WEST{}", g.digits(14))),
                _ => iban("FR", &g.digits(23)),
            };
            if g.below(2) == 0 {
                v.as_bytes()
                    .chunks(4)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                v
            }
        }
        "US_SSN" => {
            let area = loop {
                let a = 1 + g.below(898);
                if a != 666 {
                    break a;
                }
            };
            format!("{area:03}-{:02}-{:04}", 1 + g.below(99), 1 + g.below(9999))
        }
        "IP_ADDRESS" => match g.below(3) {
            0 => format!("192.168.{}.{}", g.below(256), 1 + g.below(254)),
            1 => format!("10.{}.{}.{}", g.below(256), g.below(256), 1 + g.below(254)),
            _ => format!(
                "2001:db8:{:x}::{:x}",
                1 + g.below(0xfffe),
                1 + g.below(0xfff)
            ),
        },
        _ => match g.below(10) {
            0 => format!("sk-or-v1-{}", g.hex(64)),
            1 => format!("sk-proj-{}", g.alnum(48)),
            2 => format!("sk-ant-api03-{}", g.alnum(40)),
            3 => format!("AKIA{}", g.alnum(16).to_uppercase()),
            4 => format!("ghp_{}", g.alnum(36)),
            5 => format!("xoxb-{}-{}", g.digits(12), g.alnum(24)),
            6 => format!("sk_live_{}", g.alnum(24)),
            7 => format!(
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOi{}.{}",
                g.alnum(20),
                g.alnum(30)
            ),
            8 => format!(
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow{}\n{}\n-----END RSA PRIVATE KEY-----",
                g.alnum(60),
                g.alnum(60)
            ),
            _ => format!("Xk9!{}$q", g.alnum(14)),
        },
    }
}

/// A sentence or JSON fragment around the value.
fn context(kind: &str, value: &str, g: &mut Gen) -> String {
    let secret_assign = kind == "SECRET" && value.starts_with("Xk9!");
    if secret_assign {
        return format!(
            "{} = \"{value}\" in the config",
            g.pick(&["password", "api_key", "client_secret", "token"])
        );
    }
    match g.below(5) {
        0 => format!("Hi team, please use {value} for the follow-up."),
        1 => format!(
            "{{\"customer\": {{\"note\": \"{}\"}}}}",
            value.replace('\n', "\\n")
        ),
        2 => format!("Ticket 4412: value on file is {value}. Thanks!"),
        3 => format!("- {value}\n- next item"),
        _ => format!("Can you check ({value}) before Friday?"),
    }
}

const TYPES: [&str; 7] = [
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "US_SSN",
    "IP_ADDRESS",
    "SECRET",
];

/// Things that look structured but are not personal data or credentials.
fn hard_negatives(g: &mut Gen) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..40 {
        out.push(format!(
            "request id {}-{}-4{}-a{}-{}",
            g.hex(8),
            g.hex(4),
            g.hex(3),
            g.hex(3),
            g.hex(12)
        ));
        out.push(format!("fixed in commit {}", g.hex(40)));
        out.push(format!("short sha {} merged", g.hex(7)));
        out.push(format!(
            "Order #A-2024-{} shipped, tracking 1Z{}{}",
            g.digits(6),
            g.alnum(6).to_uppercase(),
            g.digits(10)
        ));
        out.push(format!(
            "created at 2024-0{}-1{}T1{}:2{}:3{}Z and updated 2024-03-15 10:22:31",
            1 + g.below(9),
            g.below(9),
            g.below(9),
            g.below(9),
            g.below(9)
        ));
        out.push(format!(
            "upgrade to version {}.{}.{}.{} tonight",
            g.below(20),
            g.below(10),
            g.below(10),
            g.below(10)
        ));
        out.push(format!(
            "release v{}.{}.{}",
            g.below(20),
            g.below(10),
            g.below(50)
        ));
        out.push(format!(
            "The total is ${},{}{}.{}{} incl. VAT (€ {}.00)",
            1 + g.below(9),
            g.digits(1),
            g.digits(2),
            g.digits(1),
            g.digits(1),
            g.below(500)
        ));
        let mut bad_card = luhn_complete("4", 16, g);
        let last = bad_card.pop().unwrap().to_digit(10).unwrap();
        bad_card.push(char::from_digit((last + 1) % 10, 10).unwrap());
        out.push(format!("reference number {bad_card} attached"));
        out.push(format!("brand colour #{} and #{}", g.hex(6), g.hex(3)));
        out.push(format!("payload aGVsbG8gd29ybGQ{}= decoded", g.alnum(30)));
        out.push(format!(
            "on 03/1{}/2024 at 10:{}",
            g.below(9),
            10 + g.below(49)
        ));
        out.push(format!(
            "table has {} rows and {} columns",
            g.digits(7),
            g.below(99)
        ));
        out.push(format!("port 8080, pid {}, uptime 12:30:45", g.digits(5)));
        out.push(format!(
            "sk-learn {} is fine",
            g.pick(&["model", "pipeline"])
        ));
        out.push("password = \"changeme\" (placeholder)".to_owned());
    }
    out
}

/// Compiled once for the whole test binary, as the gateway does per config.
static DETECTORS: std::sync::LazyLock<Detectors> =
    std::sync::LazyLock::new(|| Detectors::new(&[], &[]).unwrap());

fn detectors() -> &'static Detectors {
    &DETECTORS
}

#[test]
fn corpus_precision_and_recall() {
    let d = detectors();
    let mut g = Gen(0x5EED_0F0A_6A4D);
    // (type, expected value, text)
    let mut cases = Vec::new();
    for kind in TYPES {
        for _ in 0..150 {
            let v = positive(kind, &mut g);
            let text = context(kind, &v, &mut g);
            cases.push((kind, v, text));
        }
    }
    let mut tp: BTreeMap<&str, u32> = BTreeMap::new();
    let mut fneg: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut fpos: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (kind, value, text) in &cases {
        let spans = d.find(text);
        // The value is in the text verbatim, except JSON-escaped newlines in PEM blocks.
        let shown = if text.contains(value.as_str()) {
            value.clone()
        } else {
            value.replace('\n', "\\n")
        };
        let at = text.find(&shown).unwrap();
        let covered = spans.iter().any(|s| {
            s.kind == *kind
                && s.start <= at
                && s.end
                    >= at + shown.len() - usize::from(kind == &"SECRET" && shown.ends_with('"'))
        });
        if covered {
            *tp.entry(kind).or_default() += 1;
        } else {
            fneg.entry(kind).or_default().push(text.clone());
        }
        for s in &spans {
            let overlaps = s.start < at + shown.len() && s.end > at;
            if (!overlaps || s.kind != *kind) && !["PERSON", "ADDRESS"].contains(&s.kind) {
                fpos.entry(s.kind)
                    .or_default()
                    .push(format!("{} in {text:?}", &text[s.start..s.end]));
            }
        }
    }
    let mut negatives_flagged = Vec::new();
    for text in hard_negatives(&mut g) {
        for s in d.find(&text) {
            if !["PERSON", "ADDRESS"].contains(&s.kind) {
                negatives_flagged.push(format!(
                    "{}: {:?} in {text:?}",
                    s.kind,
                    &text[s.start..s.end]
                ));
            }
        }
    }
    let mut report = String::new();
    let (mut all_tp, mut all_fn, mut all_fp) = (0u32, 0u32, 0u32);
    for kind in TYPES {
        let t = tp.get(kind).copied().unwrap_or(0);
        let f = fneg.get(kind).map_or(0, Vec::len) as u32;
        let p = fpos.get(kind).map_or(0, Vec::len) as u32;
        all_tp += t;
        all_fn += f;
        all_fp += p;
        let recall = f64::from(t) / f64::from(t + f);
        let precision = if t + p == 0 {
            1.0
        } else {
            f64::from(t) / f64::from(t + p)
        };
        report += &format!(
            "{kind:<12} recall {:6.2}%  precision {:6.2}%\n",
            recall * 100.0,
            precision * 100.0
        );
        if std::env::var("CORPUS_DEBUG").is_ok() {
            println!(
                "{kind} missed: {:#?}\nfalse positives: {:#?}",
                fneg.get(kind).map(|v| &v[..v.len().min(8)]),
                fpos.get(kind).map(|v| &v[..v.len().min(8)])
            );
        }
        if ["SECRET", "CREDIT_CARD", "IBAN", "US_SSN", "EMAIL"].contains(&kind) {
            assert_eq!(
                f,
                0,
                "{kind} must have 100% recall; missed:\n{:#?}\n{report}",
                fneg.get(kind)
            );
        }
    }
    let recall = f64::from(all_tp) / f64::from(all_tp + all_fn);
    let precision = f64::from(all_tp) / f64::from(all_tp + all_fp);
    println!(
        "{report}all          recall {:6.2}%  precision {:6.2}%",
        recall * 100.0,
        precision * 100.0
    );
    assert!(recall >= 0.99, "overall recall {recall}; missed: {fneg:#?}");
    assert!(
        precision >= 0.97,
        "overall precision {precision}; false positives: {fpos:#?}"
    );
    assert!(
        negatives_flagged.is_empty(),
        "hard negatives flagged:\n{}",
        negatives_flagged.join("\n")
    );
}

fn policy(action: Action) -> RedactPolicy {
    RedactPolicy {
        default: action,
        per_type: [("SECRET".to_owned(), action)].into_iter().collect(),
    }
}

fn redact_text(d: &Detectors, text: &str, action: Action) -> String {
    let mut body = json!({"messages": [{"role": "user", "content": text}]})
        .as_object()
        .unwrap()
        .clone();
    let findings = redact::scan(d, Endpoint::ChatCompletions, &mut body).unwrap();
    redact::apply(
        d,
        Endpoint::ChatCompletions,
        &mut body,
        &findings,
        &policy(action),
        b"k",
    )
    .unwrap();
    body["messages"][0]["content"].as_str().unwrap().to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn never_panics_on_arbitrary_unicode(text in "\\PC{0,200}") {
        let d = detectors();
        for s in d.find(&text) {
            prop_assert!(text.get(s.start..s.end).is_some());
        }
        let _ = redact_text(d, &text, Action::Placeholder);
    }

    #[test]
    fn redaction_removes_every_detected_value_and_is_idempotent(seed in any::<u64>(), filler in "[a-z ]{0,40}") {
        let d = detectors();
        let mut g = Gen(seed | 1);
        // Assignment-style secrets are secrets only in `password = …` context; the rest of
        // the positives stand on their own.
        let values: Vec<String> = TYPES
            .iter()
            .filter(|k| **k != "IP_ADDRESS")
            .map(|k| positive(k, &mut g))
            .filter(|v| !v.starts_with("Xk9!"))
            .collect();
        let text = values.iter().map(|v| format!("{filler} {v} ;")).collect::<String>();
        for action in [Action::Redact, Action::Placeholder, Action::Hash] {
            let once = redact_text(d, &text, action);
            for v in &values {
                prop_assert!(!once.contains(v.as_str()), "{:?} left in {:?}", v, once);
            }
            if action != Action::Hash {
                prop_assert_eq!(redact_text(d, &once, action), once.clone(), "idempotent");
            }
        }
    }

    #[test]
    fn tool_call_arguments_stay_valid_json(seed in any::<u64>()) {
        let d = detectors();
        let mut g = Gen(seed | 1);
        let email = positive("EMAIL", &mut g);
        let card = positive("CREDIT_CARD", &mut g);
        let args = json!({"to": email, "note": format!("card {card} and \"quotes\""), "n": [1, {"deep": email}]}).to_string();
        let mut body = json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "send", "arguments": args}}]}]}).as_object().unwrap().clone();
        let findings = redact::scan(d, Endpoint::ChatCompletions, &mut body).unwrap();
        redact::apply(d, Endpoint::ChatCompletions, &mut body, &findings, &policy(Action::Placeholder), b"k").unwrap();
        let out = body["messages"][0]["tool_calls"][0]["function"]["arguments"].as_str().unwrap().to_owned();
        let parsed: Value = serde_json::from_str(&out).unwrap();
        prop_assert_eq!(&parsed["to"], &json!("[EMAIL_1]"));
        prop_assert_eq!(&parsed["n"][1]["deep"], &json!("[EMAIL_1]"));
        prop_assert!(!out.contains(&email) && !out.contains(&card));
    }
}

async fn send(gw: &TestGateway, class: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = gw.post("/api/v1/chat/completions");
    if let Some(c) = class {
        req = req.header("x-data-classification", c);
    }
    req.body(body.to_string()).send().await.unwrap()
}

#[tokio::test]
async fn placeholders_go_upstream_and_originals_come_back() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let mut reply = common::mock::chat_completion();
    reply["choices"][0]["message"]["content"] =
        json!("I wrote to [EMAIL_1] and [EMAIL_2]; [EMAIL_1] answered.");
    mock.push(Reply::ok(reply));
    let body = json!({"model": "openai/gpt-4o", "messages": [
        {"role": "user", "content": "Email jane.doe@example.com and omar@example.org, then jane.doe@example.com again."}]});
    let r = send(&gw, Some("confidential"), &body).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "I wrote to jane.doe@example.com and omar@example.org; jane.doe@example.com answered."
    );
    let forwarded = mock.last().json();
    assert_eq!(
        forwarded["messages"][0]["content"],
        "Email [EMAIL_1] and [EMAIL_2], then [EMAIL_1] again."
    );
    let records = gw.audit_records().await;
    assert_eq!(records[0]["redactions"], json!({"EMAIL": 3}));
    assert!(!serde_json::to_string(&records)
        .unwrap()
        .contains("jane.doe"));
}

#[tokio::test]
async fn a_placeholder_split_across_stream_events_and_chunks_is_restored_in_time() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let event = |text: &str, finish: Option<&str>| {
        format!(
            "data: {}\n\n",
            json!({"id": "gen-9", "provider": "OpenAI", "model": "openai/gpt-4o",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})
        )
    };
    let second = event("AIL_1] today", None);
    let (second_a, second_b) = second.split_at(25); // one event split across two network chunks
    let gap = Duration::from_millis(300);
    mock.push(Reply::Sse {
        chunks: vec![
            (Duration::ZERO, event("Contact [EM", None)),
            (gap, second_a.to_owned()),
            (Duration::from_millis(50), second_b.to_owned()),
            (gap, event(" or [PHONE", None)),
            (
                gap,
                format!("{}data: [DONE]\n\n", event("_1]", Some("stop"))),
            ),
        ],
        ending: StreamEnding::Close,
    });
    let body = json!({"model": "openai/gpt-4o", "stream": true, "messages": [
        {"role": "user", "content": "Reach jane.doe@example.com or +1 415 555 0100"}]});
    let started = Instant::now();
    let r = send(&gw, Some("confidential"), &body).await;
    assert_eq!(r.status(), 200);
    let mut s = r.bytes_stream();
    let mut text = String::new();
    let mut arrivals = Vec::new();
    while let Some(chunk) = s.next().await {
        let chunk = String::from_utf8(chunk.unwrap().to_vec()).unwrap();
        arrivals.push((started.elapsed(), chunk.clone()));
        text.push_str(&chunk);
    }
    let content: String = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|e| *e != "[DONE]")
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        content,
        "Contact jane.doe@example.com today or +1 415 555 0100"
    );
    assert!(text.ends_with("data: [DONE]\n\n"));
    // "Contact " went out at once; the held-back "[EM" came out with the next event.
    let first = arrivals
        .iter()
        .find(|(_, c)| c.contains("Contact"))
        .unwrap();
    assert!(
        first.0 < gap,
        "the first event was not held until the end ({:?})",
        first.0
    );
    assert!(
        !first.1.contains("[EM"),
        "a possible placeholder prefix is held back"
    );
    let forwarded = mock.last().json();
    assert_eq!(
        forwarded["messages"][0]["content"],
        "Reach [EMAIL_1] or [PHONE_1]"
    );
}

#[tokio::test]
async fn block_hash_and_secret_actions_through_http() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let msg = |content: &str| json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": content}]});
    // US_SSN is blocked in the confidential class; the error names the type only.
    let r = send(&gw, Some("confidential"), &msg("my SSN is 123-45-6789")).await;
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("pii_blocked") && text.contains("US_SSN") && !text.contains("6789"),
        "{text}"
    );
    // A secret is blocked in every class, public included.
    let key = format!("sk-or-v1-{}", "ab".repeat(32));
    let r = send(&gw, Some("public"), &msg(&format!("use {key}"))).await;
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("secret_blocked") && !text.contains("abab"),
        "{text}"
    );
    assert_eq!(mock.count(), 0, "nothing blocked reached the upstream");
    // IBAN is hashed: the same value gives the same token, the value never goes out.
    let iban = "DE89 3704 0044 0532 0130 00";
    for _ in 0..2 {
        assert_eq!(
            send(&gw, Some("confidential"), &msg(&format!("pay to {iban}")))
                .await
                .status(),
            200
        );
    }
    let reqs = mock.requests();
    let a = reqs[0].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = reqs[1].json()["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        a.starts_with("pay to [IBAN:") && a == b && !a.contains("3704"),
        "{a}"
    );
}

/// The ways a blocked value can be dressed up on the wire: JSON escapes, content parts,
/// a compressed body. Each is decoded before the scan, so each is still refused.
#[tokio::test]
async fn blocked_values_cannot_hide_in_escapes_parts_or_compression() {
    use std::io::Write;
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let raw = |class: &str, body: Vec<u8>, gzipped: bool| {
        let mut req = gw
            .post("/api/v1/chat/completions")
            .header("x-data-classification", class);
        if gzipped {
            req = req.header("content-encoding", "gzip");
        }
        req.body(body).send()
    };
    let gzip = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let key_escaped = format!(r"sk\u002dor\u002dv1\u002d{}", "ab".repeat(32));
    let cases: Vec<(&str, String, bool, &str)> = vec![
        // An SSN whose dashes are JSON escapes.
        (
            "confidential",
            r#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"my SSN is 123\u002d45\u002d6789"}]}"#.to_owned(),
            false,
            "pii_blocked",
        ),
        // An SSN in a content part instead of a plain string.
        (
            "confidential",
            r#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"my SSN is 123-45-6789"}]}]}"#.to_owned(),
            false,
            "pii_blocked",
        ),
        // A secret spelled with escapes, in the least strict class.
        (
            "public",
            format!(r#"{{"model":"openai/gpt-4o","messages":[{{"role":"user","content":"use {key_escaped}"}}]}}"#),
            false,
            "secret_blocked",
        ),
        // A secret inside a gzip-compressed body.
        (
            "public",
            format!(r#"{{"model":"openai/gpt-4o","messages":[{{"role":"user","content":"use sk-or-v1-{}"}}]}}"#, "ab".repeat(32)),
            true,
            "secret_blocked",
        ),
    ];
    for (class, body, gzipped, code) in cases {
        let bytes = if gzipped {
            gzip(body.as_bytes())
        } else {
            body.clone().into_bytes()
        };
        let r = raw(class, bytes, gzipped).await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 403, "{body}: {text}");
        assert!(text.contains(code), "{body}: {text}");
        assert!(!text.contains("6789") && !text.contains("abab"), "{text}");
    }
    assert_eq!(mock.count(), 0, "nothing blocked reached the upstream");
}

#[tokio::test]
async fn personal_data_raises_the_class() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    // billing-1 defaults to internal (any model, any provider, redact). An email makes it
    // confidential: the model must be in the confidential list and the providers pinned.
    let body = json!({"model": "mistralai/mistral-large", "messages": [{"role": "user", "content": "ping jane.doe@example.com"}]});
    let r = send(&gw, None, &body).await;
    assert_eq!(r.status(), 403);
    assert_eq!(common::gateway::error_of(r).await.1, "model_not_allowed");
    let ok = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "ping jane.doe@example.com"}]});
    assert_eq!(send(&gw, None, &ok).await.status(), 200);
    let forwarded = mock.last().json();
    assert_eq!(
        forwarded["provider"]["only"],
        json!(["anthropic", "openai"])
    );
    assert_eq!(forwarded["messages"][0]["content"], "ping [EMAIL_1]");
    let records = gw.audit_records().await;
    let request = records.iter().find(|r| r["type"] == "request").unwrap();
    assert_eq!(request["class"], "confidential");
}

#[tokio::test]
async fn the_models_output_can_be_scanned_flagged_or_redacted() {
    let mock = MockUpstream::start().await;
    let toml = common::gateway::config_toml(&mock, "")
        .replace(
            "redact = \"placeholder\"\n",
            "redact = \"placeholder\"\nscan_responses = \"redact\"\n",
        )
        .replace(
            "redact = \"redact\"\n",
            "redact = \"redact\"\nscan_responses = \"flag\"\n",
        );
    let gw = TestGateway::from_toml(&toml, Some(common::upstream_key())).await;
    let leak = "Sure: the key is AKIAABCDEFGHIJKLMNOP and you can mail ops@corp.example.com; your address is [EMAIL_1].";
    let mut reply = common::mock::chat_completion();
    reply["choices"][0]["message"]["content"] = json!(leak);
    let ask = json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "what is my address? it is jane.doe@example.com"}]});

    // Confidential (raised by the email): redacted, and the caller's own value restored.
    mock.push(Reply::ok(reply.clone()));
    let v: Value = send(&gw, None, &ask).await.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Sure: the key is [SECRET] and you can mail [EMAIL]; your address is jane.doe@example.com."
    );

    // Streamed, per event.
    let event = |t: &str| {
        format!(
            "data: {}\n\n",
            json!({"provider": "OpenAI", "model": "openai/gpt-4o", "choices": [{"index": 0, "delta": {"content": t}}]})
        )
    };
    mock.push(Reply::Sse {
        chunks: vec![
            (Duration::ZERO, event("key AKIAABCDEFGHIJKLMNOP here")),
            (Duration::ZERO, "data: [DONE]\n\n".into()),
        ],
        ending: StreamEnding::Close,
    });
    let mut streamed = ask.clone();
    streamed["stream"] = json!(true);
    let text = send(&gw, None, &streamed).await.text().await.unwrap();
    assert!(
        text.contains("key [SECRET] here") && !text.contains("AKIA"),
        "{text}"
    );

    // Internal (no personal data in the request): flagged only.
    mock.push(Reply::ok(reply));
    let plain =
        json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hello"}]});
    let v: Value = send(&gw, Some("internal"), &plain)
        .await
        .json()
        .await
        .unwrap();
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("AKIAABCDEFGHIJKLMNOP"));
    let records = gw.audit_records().await;
    let flags: Vec<&Value> = records
        .iter()
        .filter(|r| r["violation"] == "sensitive_data_in_output")
        .collect();
    assert_eq!(flags.len(), 3, "{records:#?}");
    assert_eq!(flags[2]["action"], "flag");
    assert_eq!(flags[2]["served"], "EMAIL,SECRET");
    assert!(!serde_json::to_string(&records).unwrap().contains("AKIA"));
}

#[tokio::test]
async fn tool_call_arguments_cannot_smuggle_values_past_the_scan() {
    let mock = MockUpstream::start().await;
    let gw = TestGateway::start(&mock).await;
    let secret = format!("sk-or-v1-{}", "9d".repeat(32));
    // Duplicate keys inside the arguments: the text is judged as written, every value in
    // it (parsed, the last value would hide the first from the scan).
    let with_args = |args: String| {
        json!({"model": "openai/gpt-4o", "messages": [
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"}]})
    };
    let before = mock.count();
    let body = with_args(format!(r#"{{"k":"{secret}","k":"harmless"}}"#));
    let refused = send(&gw, Some("confidential"), &body).await;
    assert_eq!(refused.status(), 403);
    let text = refused.text().await.unwrap();
    assert!(
        text.contains("secret_blocked") && !text.contains("9d9d"),
        "{text}"
    );
    assert_eq!(mock.count(), before, "forwarded");
    let args = r#"{"k":"first","k":"harmless"}"#.to_owned();
    assert_eq!(
        send(&gw, Some("confidential"), &with_args(args.clone()))
            .await
            .status(),
        200
    );
    let got = mock.last().json();
    assert_eq!(
        got["messages"][0]["tool_calls"][0]["function"]["arguments"],
        args
    );
    // A card number written as a JSON number is still a card number.
    let body = json!({"model": "openai/gpt-4o", "messages": [
        {"role": "assistant", "tool_calls": [{"id": "c2", "type": "function", "function": {"name": "pay", "arguments": "{\"card\":4111111111111111}"}}]},
        {"role": "tool", "tool_call_id": "c2", "content": "ok"}]});
    assert_eq!(send(&gw, Some("confidential"), &body).await.status(), 200);
    let got = mock.last().json();
    let args: Value = serde_json::from_str(
        got["messages"][0]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(args["card"], "[CREDIT_CARD_1]");
}

#[test]
fn overlapping_detections_are_merged_so_nothing_leaks() {
    let d = detectors();
    let text = "call 415 555 0100 1600 Pennsylvania Avenue now";
    let spans = d.find(text);
    let all: Vec<&str> = spans.iter().flat_map(|s| s.kinds()).collect();
    assert!(
        all.contains(&"PHONE") && all.contains(&"ADDRESS"),
        "{spans:?}"
    );
    let out = redact_text(d, text, Action::Redact);
    assert!(
        !out.contains("0100") && !out.contains("Pennsylvania"),
        "{out}"
    );
}

#[test]
fn hash_tokens_need_an_organisation_key() {
    let mock_base = "[upstream]\nbase_url = \"https://openrouter.example/api/v1\"\n";
    let toml = format!("{mock_base}[classes.internal]\nmodels = [\"*\"]\nredact = \"hash\"\n");
    let err = orguard::config::from_toml(&toml, Some("k".into())).unwrap_err();
    assert!(
        err.to_string().contains("policy.user_hmac_key_file"),
        "{err}"
    );
    let creds = "[upstream]\nbase_url = \"https://user:pass@openrouter.example/api/v1\"\n";
    let err = orguard::config::from_toml(creds, None).unwrap_err();
    assert!(
        err.to_string().contains("credentials in the URL") && !err.to_string().contains("pass@"),
        "{err}"
    );
}
