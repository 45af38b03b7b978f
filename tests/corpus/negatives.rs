//! Clean samples (ordinary messages with no PII or secrets) and hard negatives (clean
//! samples built around a lookalike: versions, UUIDs, SHAs, timestamps, prices, order and
//! tracking numbers, Luhn-invalid card shapes, bad-checksum IBANs, invalid SSNs, ISBNs, OIDs,
//! placeholders, digests, coordinates, math). None of them may be flagged with any type.

use super::values::{card_number, format_card, iban, iban_grouped, IBAN_COUNTRIES, NETWORKS};
use super::{base64, carriers, luhn_check_digit, luhn_valid, Rng, Sample, Snippet, B64, HEX};

const PROSE: &[&str] = &[
    "Can you explain the difference between a mutex and a semaphore?",
    "Write a haiku about autumn rain in the city.",
    "Our Q3 revenue grew 12% while churn dropped to 3.1%.",
    "The build takes about 14 minutes on the CI runners; can we cache the dependencies?",
    "Translate 'the meeting is postponed until next week' into German.",
    "Summarize the attached article in three bullet points.",
    "What is the time complexity of inserting into a balanced binary search tree?",
    "Please draft a polite reply declining the invitation.",
    "The latency p99 went from 180 ms to 240 ms after the last deploy.",
    "How many tokens does a 2,000-word essay use roughly?",
    "Refactor this function so it no longer allocates inside the loop.",
    "We need 3 replicas in eu-west and 2 in us-east for the launch.",
    "Is it better to use a B-tree or an LSM tree for a write-heavy workload?",
    "Give me five ideas for a team offsite in spring.",
    "The recipe needs 250 g flour, 3 eggs and 500 ml milk.",
    "Explain why the sky is blue to a ten-year-old.",
    "List the pros and cons of server-side rendering.",
    "My plant's leaves are turning yellow; what could be wrong?",
    "Convert 72 degrees Fahrenheit to Celsius.",
    "What changed between HTTP/1.1 and HTTP/2?",
    "Kannst du mir erklären, wie eine Wärmepumpe funktioniert?",
    "Bitte fasse das Protokoll der letzten Sitzung kurz zusammen.",
    "Die Lieferung verzögert sich um zwei Tage wegen des Streiks.",
    "Peux-tu m'aider à écrire une lettre de motivation pour un stage ?",
    "Quelle est la différence entre « tu » et « vous » dans un e-mail professionnel ?",
    "La réunion de lundi est déplacée à 14 h.",
    "¿Cuál es la mejor manera de aprender a programar en Rust?",
    "Necesito un resumen del informe trimestral en español.",
    "Qual é a diferença entre juros simples e compostos?",
    "Preciso de uma lista de compras para um churrasco de 10 pessoas.",
    "東京で雨の日に楽しめる場所を教えてください。",
    "この文章をもっと丁寧な日本語に直してください。",
    "来週の会議の議題を三つ提案してください。",
    "कृपया इस ईमेल का हिंदी में अनुवाद करें।",
    "मुझे पायथन में एक सरल वेब सर्वर बनाना सिखाइए।",
    "What's a good name for a cat that likes to sit on keyboards?",
    "Rewrite this paragraph in a more formal tone.",
    "How do I center a div vertically with flexbox?",
    "Our on-call rotation has 6 people, each on duty for 7 days.",
    "Compare PostgreSQL and MySQL for analytics workloads.",
];

const CODE: &[&str] = &[
    "fn main() {\n    let v: Vec<u32> = (1..=10).collect();\n    println!(\"{}\", v.iter().sum::<u32>());\n}",
    "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
    "SELECT customer_id, COUNT(*) AS orders\nFROM orders\nWHERE created_at >= NOW() - INTERVAL '30 days'\nGROUP BY customer_id\nORDER BY orders DESC\nLIMIT 20;",
    "const sum = (xs) => xs.reduce((a, b) => a + b, 0);\nconsole.log(sum([1, 2, 3, 4]));",
    "for i in $(seq 1 5); do\n  echo \"attempt $i\"\n  sleep 2\ndone",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hello, world\")\n}",
    "resource \"aws_s3_bucket\" \"logs\" {\n  bucket = \"acme-logs\"\n  force_destroy = false\n}",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 3",
    "LOG_LEVEL=debug\nPORT=8080\nWORKERS=4\nFEATURE_NEW_UI=true",
    "[tool.black]\nline-length = 100\ntarget-version = [\"py311\"]",
    "if err != nil {\n\treturn fmt.Errorf(\"open config: %w\", err)\n}",
    "#[derive(Debug, Clone)]\nstruct Point { x: f64, y: f64 }",
];

const LOGS: &[&str] = &[
    "INFO http request method=GET path=/api/v1/models status=200 latency_ms=43",
    "WARN pool exhausted, waiting for a connection (active=32 idle=0)",
    "ERROR job failed after 3 attempts: deadline exceeded",
    "DEBUG cache hit ratio 0.87 over the last 5 minutes",
    "INFO shutting down gracefully, 12 requests in flight",
];

/// Clean messages: prose in several languages, code, logs, tables — nothing to find.
pub fn clean(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for i in 0..n {
        let (text, line) = match i % 5 {
            0 | 1 => {
                let k = rng.range(1, 3);
                let parts: Vec<&str> = (0..k).map(|_| rng.pick(PROSE)).collect();
                (parts.join(" "), false)
            }
            2 => (rng.pick(CODE).to_string(), true),
            3 => (format!("{} {}", rng.pick(LOGS), rng.pick(LOGS)), false),
            _ => (
                format!(
                    "| region | p50 ms | p99 ms | errors |\n|---|---|---|---|\n| eu-west | {} | {} | {} |\n| us-east | {} | {} | {} |",
                    rng.range(20, 90), rng.range(100, 400), rng.range(0, 40), rng.range(20, 90), rng.range(100, 400), rng.range(0, 40)
                ),
                true,
            ),
        };
        let snippet = Snippet { text, line };
        let (text, carrier) = carriers::wrap(rng, &snippet);
        out.push(Sample {
            text,
            expected: Vec::new(),
            family: "clean",
            carrier,
            hard_negative: false,
            decoy: None,
        });
    }
}

fn uuid(rng: &mut Rng) -> String {
    let h = rng.chars(HEX, 32);
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        rng.pick(&["8", "9", "a", "b"]),
        &h[17..20],
        &h[20..]
    )
}

fn isbn13(rng: &mut Rng) -> String {
    let body = format!("978{}", rng.digits(9));
    let sum: u32 = body
        .chars()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).unwrap_or(0) * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    let check = (10 - sum % 10) % 10;
    format!(
        "{}-{}-{}-{}-{check}",
        &body[..3],
        &body[3..4],
        &body[4..6],
        &body[6..]
    )
}

fn isbn10(rng: &mut Rng) -> String {
    let body = rng.digits(9);
    let sum: u32 = body
        .chars()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).unwrap_or(0) * (10 - i as u32))
        .sum();
    let check = (11 - sum % 11) % 11;
    let c = if check == 10 {
        "X".to_string()
    } else {
        check.to_string()
    };
    format!("{}-{}-{}-{c}", &body[..1], &body[1..4], &body[4..])
}

/// UPS 1Z tracking number with its published mod-10 check digit.
fn ups(rng: &mut Rng) -> String {
    let body = format!(
        "{}{}{}",
        rng.chars("ABCDEFGHJKLMNPRSTUVWXYZ0123456789", 6),
        rng.digits(2),
        rng.digits(7)
    );
    let mut sum = 0;
    for (i, c) in body.chars().enumerate() {
        let v = c
            .to_digit(10)
            .unwrap_or_else(|| (c as u32 - 'A' as u32 + 2) % 10);
        sum += if i % 2 == 1 { v * 2 } else { v };
    }
    format!("1Z{body}{}", (10 - sum % 10) % 10)
}

/// A digit string of `len` whose Luhn validity is forced to `valid`.
fn luhn_forced(rng: &mut Rng, prefix: &str, len: usize, valid: bool) -> String {
    let mut s = prefix.to_string();
    while s.len() < len - 1 {
        s.push_str(&rng.digits(1));
    }
    let check = luhn_check_digit(&s);
    let d = check.to_digit(10).unwrap_or(0);
    let c = if valid {
        d
    } else {
        (d + 1 + rng.range(0, 8) as u32) % 10
    };
    s.push_str(&c.to_string());
    s
}

const PLACEHOLDERS: &[&str] = &[
    "API_KEY=<your-key-here>",
    "password: ${DB_PASSWORD}",
    "token = \"xxxxxxxx\"",
    "SECRET=changeme",
    "OPENAI_API_KEY=sk-...",
    "password: \"********\"",
    "AWS_SECRET_ACCESS_KEY=YOUR_SECRET_ACCESS_KEY",
    "api_key: {{ .Values.apiKey }}",
    "client_secret = os.environ[\"CLIENT_SECRET\"]",
    "DB_PASSWORD=",
    "export GITHUB_TOKEN=$(gh auth token)",
    "\"apiKey\": \"REPLACE_ME\"",
    "SESSION_SECRET=${SESSION_SECRET:?must be set}",
    "auth_token: !vault secret/data/app#token",
    "password = None  # set via env",
    "Authorization: Bearer <token>",
    "--password=$PGPASSWORD",
    "STRIPE_SECRET_KEY=sk_test_...",
    "secret: \"{{ secrets.DEPLOY_KEY }}\"",
    "ENCRYPTION_KEY=your-32-byte-key-goes-here",
];

const LOW_ENTROPY: &[&str] = &[
    "the token count is 1500 for that prompt",
    "I clicked the password reset link but nothing happened",
    "set api_key to your own key before running the script",
    "the secret is to let the dough rest overnight",
    "our access token expires after 60 minutes, is that configurable?",
    "what is the difference between a session token and a refresh token?",
    "password must contain at least 12 characters",
    "max_tokens: 2048",
    "The private key never leaves the HSM.",
    "Der Schlüssel liegt im Tresor, nicht im Repository.",
    "le mot de passe doit être changé tous les 90 jours",
    "la contraseña debe tener al menos 8 caracteres",
];

/// Hard negatives: one lookalike per sample, in a random carrier.
pub fn hard(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for i in 0..n {
        let (family, snippet, decoy) = hard_one(rng, i);
        push_hard(out, rng, &snippet, family, decoy);
    }
}

/// One hard negative: `snippet` in a random carrier, `decoy` the lookalike it holds.
pub fn push_hard(
    out: &mut Vec<Sample>,
    rng: &mut Rng,
    snippet: &Snippet,
    family: &'static str,
    decoy: String,
) {
    let (text, carrier) = carriers::wrap(rng, snippet);
    out.push(Sample {
        text,
        expected: Vec::new(),
        family,
        carrier,
        hard_negative: true,
        decoy: Some(decoy),
    });
}

fn hard_one(rng: &mut Rng, i: usize) -> (&'static str, Snippet, String) {
    let p = |t: String| Snippet::prose(t);
    let l = |t: String| Snippet::line(t);
    match i % 30 {
        0 => {
            let v = format!(
                "{}.{}.{}.{}",
                rng.range(1, 12),
                rng.range(0, 20),
                rng.range(0, 40),
                rng.range(0, 9999)
            );
            let t = match rng.below(3) {
                0 => format!("Upgraded the agent to version {v} last night."),
                1 => format!("build {v} (stable channel)"),
                _ => format!("FileVersion: {v}"),
            };
            ("neg/version_4part", p(t), v)
        }
        1 => {
            let v = rng
                .pick(&[
                    "v10.0.19041.1",
                    "10.0.19045.4291",
                    "v6.1.7601.24545",
                    "v2.45.1.windows.1",
                ])
                .to_string();
            (
                "neg/version_windows",
                p(format!("Windows reports {v} after the update")),
                v,
            )
        }
        2 => {
            let v = format!(
                "{}=={}.{}.{}",
                rng.pick(&["numpy", "pandas", "requests", "torch", "pydantic"]),
                rng.range(1, 3),
                rng.range(0, 30),
                rng.range(0, 12)
            );
            ("neg/pip_pin", l(format!("{v}\nscipy>=1.11,<2\n")), v)
        }
        3 => {
            let v = format!(
                "Chrome/{}.0.{}.{}",
                rng.range(110, 126),
                rng.range(5000, 6999),
                rng.range(10, 220)
            );
            ("neg/user_agent", l(format!("User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) {v} Safari/537.36")), v)
        }
        4 => {
            let v = uuid(rng);
            let t = match rng.below(3) {
                0 => format!("request_id={v} status=500"),
                1 => format!("trace {v} dropped"),
                _ => format!("{{\"id\": \"{v}\", \"object\": \"chat.completion\"}}"),
            };
            ("neg/uuid", p(t), v)
        }
        5 => {
            let v = rng.chars(HEX, 40);
            let t = if rng.chance(50) {
                format!("commit {v}\nAuthor: ci-bot\n\n    bump deps")
            } else {
                format!("see https://github.com/acme/api/commit/{v}")
            };
            ("neg/git_sha40", l(t), v)
        }
        6 => {
            let v = rng.chars(HEX, 7);
            (
                "neg/git_sha7",
                p(format!("fixed in {v}, released in the next patch")),
                v,
            )
        }
        7 => {
            let v = format!(
                "{}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
                rng.range(2015, 2025),
                rng.range(1, 12),
                rng.range(1, 28),
                rng.range(0, 23),
                rng.range(0, 59),
                rng.range(0, 59),
                rng.pick(&["Z", "+01:00", ".123456Z", "-05:00"])
            );
            ("neg/iso_timestamp", p(format!("created_at: {v}")), v)
        }
        8 => {
            let y = rng.range(2015, 2026);
            let (m, d) = (rng.range(1, 12), rng.range(1, 28));
            let v = match rng.below(4) {
                0 => format!("{y}-{m:02}-{d:02}"),
                1 => format!("{d:02}.{m:02}.{y}"),
                2 => format!("{m:02}/{d:02}/{y}"),
                _ => format!("{} {d}, {y}", ["March", "June", "October"][rng.below(3)]),
            };
            let t = match rng.below(3) {
                0 => format!("The invoice is due on {v}."),
                1 => format!("Release date: {v}"),
                _ => format!("Lieferung am {v} geplant"),
            };
            ("neg/date_no_birth", p(t), v)
        }
        9 => {
            let v = if rng.chance(50) {
                rng.range(1_500_000_000, 1_760_000_000).to_string()
            } else {
                rng.range(1_500_000_000_000, 1_760_000_000_000).to_string()
            };
            ("neg/epoch", p(format!("ts={v} event=login_success")), v)
        }
        10 => {
            let v = match rng.below(5) {
                0 => format!(
                    "${},{:03}.{:02}",
                    rng.range(1, 99),
                    rng.range(0, 999),
                    rng.range(0, 99)
                ),
                1 => format!(
                    "€ {}.{:03},{:02}",
                    rng.range(1, 99),
                    rng.range(0, 999),
                    rng.range(0, 99)
                ),
                2 => format!(
                    "{} {:03},{:02} zł",
                    rng.range(1, 99),
                    rng.range(0, 999),
                    rng.range(0, 99)
                ),
                3 => format!("¥{},{:03}", rng.range(1, 999), rng.range(0, 999)),
                _ => format!(
                    "₹{},{:02},{:03}",
                    rng.range(1, 99),
                    rng.range(0, 99),
                    rng.range(0, 999)
                ),
            };
            ("neg/price", p(format!("Total: {v} incl. VAT")), v)
        }
        11 => {
            let v = format!(
                "{}-{}-{}",
                rng.digits_from("1", 3),
                rng.digits(7),
                rng.digits(7)
            );
            ("neg/order_number", p(format!("Order #{v} has shipped.")), v)
        }
        12 => {
            let v = format!("INV-{}-{:05}", rng.range(2019, 2025), rng.range(1, 99999));
            ("neg/invoice", p(format!("Invoice {v} is overdue")), v)
        }
        13 => {
            let v = ups(rng);
            ("neg/ups_tracking", p(format!("UPS tracking: {v}")), v)
        }
        14 => {
            let valid = i % 60 < 30;
            let usps_prefix = rng.pick(&["9400", "9205", "9361", "9407"]);
            let usps_len = rng.pick(&[20, 22]);
            let (v, label) = if rng.chance(50) {
                (
                    luhn_forced(rng, usps_prefix, usps_len, valid),
                    "USPS tracking number",
                )
            } else {
                (luhn_forced(rng, "7", 12, valid), "FedEx tracking number")
            };
            let shown = if rng.chance(50) {
                v
            } else {
                super::values::group(&v, &[4; 6], " ")
            };
            ("neg/tracking_number", p(format!("{label}: {shown}")), shown)
        }
        15 => {
            let net = &NETWORKS[rng.below(NETWORKS.len())];
            let good = card_number(rng, net);
            let last = good
                .chars()
                .last()
                .and_then(|c| c.to_digit(10))
                .unwrap_or(0);
            let bad = format!(
                "{}{}",
                &good[..good.len() - 1],
                (last + 1 + rng.range(0, 8) as u32) % 10
            );
            let shown = format_card(rng, &bad);
            let t = if rng.chance(50) {
                format!("card number {shown} was declined (invalid number)")
            } else {
                format!("ref {shown}")
            };
            ("neg/card_luhn_invalid", p(t), shown)
        }
        16 => {
            let (country, structure) = IBAN_COUNTRIES[rng.below(IBAN_COUNTRIES.len())];
            let good = iban(rng, country, structure);
            let cd: u32 = good[2..4].parse().unwrap_or(2);
            let bad_cd = (cd - 2 + 1 + rng.range(0, 94) as u32) % 97 + 2;
            let bad = format!("{country}{bad_cd:02}{}", &good[4..]);
            let shown = if rng.chance(50) {
                iban_grouped(&bad)
            } else {
                bad
            };
            (
                "neg/iban_bad_check",
                p(format!("IBAN {shown} was rejected by the bank (checksum)")),
                shown,
            )
        }
        17 => {
            let (a, g, s) = (rng.range(1, 899), rng.range(1, 99), rng.range(1, 9999));
            let v = match rng.below(5) {
                0 => format!("000-{g:02}-{s:04}"),
                1 => format!("666-{g:02}-{s:04}"),
                2 => format!("{}-{g:02}-{s:04}", rng.range(900, 999)),
                3 => format!("{a:03}-00-{s:04}"),
                _ => format!("{a:03}-{g:02}-0000"),
            };
            let t = if rng.chance(50) {
                format!("SSN {v} failed validation (invalid range)")
            } else {
                format!("ref {v}")
            };
            ("neg/ssn_invalid", p(t), v)
        }
        18 => {
            let v = if rng.chance(50) {
                isbn13(rng)
            } else {
                isbn10(rng)
            };
            ("neg/isbn", p(format!("ISBN {v}")), v)
        }
        19 => {
            let v = format!("1{}-{}-{}", rng.digits(3), rng.digits(4), rng.digits(4));
            ("neg/account_id", p(format!("account id {v} (internal)")), v)
        }
        20 => {
            let v = rng
                .pick(&[
                    ">=1.2.0 <2.0.0",
                    "^4.17.21",
                    "~> 3.2",
                    "1.x || >=2.5.0",
                    ">= 0.14, < 0.16",
                    "=1.0.0-rc.1",
                ])
                .to_string();
            ("neg/semver_range", p(format!("\"lodash\": \"{v}\"")), v)
        }
        21 => {
            let v = rng
                .pick(&[
                    "1.3.6.1.4.1.311.21.20",
                    "2.5.4.3",
                    "1.2.840.113549.1.1.11",
                    "1.3.6.1.2.1.1.3.0",
                    "2.16.840.1.101.3.4.2.1",
                ])
                .to_string();
            ("neg/oid", p(format!("OID {v}")), v)
        }
        22 => {
            let v = format!(
                "{},{},{}",
                rng.range(1024, 9999),
                rng.range(1024, 9999),
                rng.range(1024, 9999)
            );
            ("neg/port_list", p(format!("open ports: {v}")), v)
        }
        23 => {
            let v = rng.pick(PLACEHOLDERS).to_string();
            ("neg/placeholder", l(v.clone()), v)
        }
        24 => {
            let v = rng.pick(LOW_ENTROPY).to_string();
            ("neg/low_entropy_prose", p(v.clone()), v)
        }
        25 => {
            // Content digests of public artifacts: fixed labels (`sha256:`, `sha512-`,
            // `md5`) say what they are; they authenticate content, they grant nothing.
            let (v, t) = match rng.below(3) {
                0 => {
                    let v = format!("sha256:{}", rng.chars(HEX, 64));
                    (v.clone(), format!("image: ghcr.io/acme/api@{v}"))
                }
                1 => {
                    let v = format!("sha512-{}", base64(&rng.bytes(64), false, true));
                    (v.clone(), format!("\"integrity\": \"{v}\","))
                }
                _ => {
                    let v = rng.chars(HEX, 32);
                    (v.clone(), format!("md5 checksum {v}  release-1.4.2.tar.gz"))
                }
            };
            ("neg/digest", l(t), v)
        }
        26 => {
            let v = format!(
                "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA{}",
                rng.chars(B64, 180)
            );
            (
                "neg/data_uri_image",
                l(format!("<img src=\"{v}\" alt=\"logo\">")),
                v,
            )
        }
        27 => {
            let v = match rng.below(3) {
                0 => format!(
                    "{}.{:04}, {}.{:04}",
                    rng.range(10, 60),
                    rng.range(0, 9999),
                    rng.range(1, 30),
                    rng.range(0, 9999)
                ),
                1 => format!(
                    "lat: {}.{:06}, lon: -{}.{:06}",
                    rng.range(10, 60),
                    rng.range(0, 999_999),
                    rng.range(60, 120),
                    rng.range(0, 999_999)
                ),
                _ => format!(
                    "{}°{}′N {}°{}′E",
                    rng.range(10, 60),
                    rng.range(0, 59),
                    rng.range(1, 30),
                    rng.range(0, 59)
                ),
            };
            ("neg/coordinates", p(format!("Meet at {v}")), v)
        }
        28 => {
            let (a, b) = (rng.range(1000, 99999), rng.range(1000, 9999));
            let v = match rng.below(3) {
                0 => format!("{a} * {b} = {}", a * b),
                1 => "3.14159 × 2.71828 ≈ 8.53972".to_string(),
                _ => format!(
                    "x = {}.{}e-{}",
                    rng.range(1, 9),
                    rng.range(0, 999),
                    rng.range(1, 12)
                ),
            };
            ("neg/math", p(format!("Check my arithmetic: {v}")), v)
        }
        _ => {
            let v = match rng.below(4) {
                0 => format!(
                    "arn:aws:iam::{}:role/deploy",
                    rng.digits_from("123456789", 12)
                ),
                1 => "icon@2x.png".to_string(),
                2 => format!(
                    "pod/api-{}-{}",
                    rng.chars(HEX, 9),
                    rng.chars("bcdfghjklmnpqrstvwxz2456789", 5)
                ),
                _ => format!("0x{}", rng.chars("0123456789ABCDEF", 8)),
            };
            ("neg/misc_identifier", p(format!("see {v} for details")), v)
        }
    }
}

/// Whether a decoy that claims to be Luhn-invalid really is (for the self-check).
pub fn decoy_luhn_invalid(decoy: &str) -> bool {
    !luhn_valid(decoy)
}
