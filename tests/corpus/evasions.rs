//! Values written the way a user (or an attacker) writes them when a scanner is in the way,
//! each still plain to a human or a model reading the text: card groups split by dots,
//! slashes, underscores, Unicode spaces, tabs or line breaks, or glued to a letter; SSNs
//! written with dots after an SSN word; and credential families whose published formats a
//! scanner must know (Google OAuth access tokens, Grafana, New Relic and Postman keys,
//! password hashes in their crypt and PHC formats, JWTs whose JSON has white space after the
//! brace, JSON Web Keys with their private members).
//!
//! Generated after every other family, from a stream of its own draws, so that adding it left
//! the rest of the corpus as it was.

use super::values::{card_groups, card_number, group, ssn_parts, NETWORKS};
use super::{
    base64, expect, fill, push, Rng, Sample, Snippet, B64, B64URL, BASE62, HEX, UPPER_ALNUM,
};

/// Separators between card groups, with the name of the family they make. Each is read as a
/// gap by a person and by a model.
const CARD_SEPARATORS: &[(&str, &str)] = &[
    (".", "CREDIT_CARD/dotted"),
    ("/", "CREDIT_CARD/slashed"),
    ("_", "CREDIT_CARD/underscored"),
    ("\u{00A0}", "CREDIT_CARD/no_break_space"),
    ("\u{2009}", "CREDIT_CARD/thin_space"),
    ("\u{202F}", "CREDIT_CARD/narrow_no_break_space"),
    ("\u{3000}", "CREDIT_CARD/ideographic_space"),
    ("\n", "CREDIT_CARD/line_per_group"),
    ("\t", "CREDIT_CARD/tab"),
];

const CARD_CONTEXT: &[&str] = &[
    "card {v} exp 04/29",
    "Please charge {v} again.",
    "CC: {v}",
    "Kartennummer {v}",
    "カード {v} で払いました",
];

/// Letters a card may be glued to: a variable name, a typo, a deliberate prefix, a path.
const GLUE: &[&str] = &["x", "cc", "card_", "n", "PAN", "número", "/pay/", "cards/"];

pub fn evasions(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    cards(rng, out, n);
    ssns(rng, out, n / 2);
    secrets(rng, out, n / 4);
    hard(rng, out, n / 2);
}

/// Hard negatives in the same shapes: Luhn-invalid card numbers split or glued the same
/// ways, dotted 3-2-4 numbers with no SSN word, crypt markers without a hash, base64 JSON
/// that is not a JWT.
fn hard(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for i in 0..n {
        let (family, text, decoy) = match i % 4 {
            0 => {
                let net = &NETWORKS[i % NETWORKS.len()];
                let mut number = card_number(rng, net);
                // The next check digit: off by one, so Luhn fails.
                let last = number.pop().and_then(|c| c.to_digit(10)).unwrap_or(0);
                number.push(char::from(b'0' + ((last + 1) % 10) as u8));
                let (sep, _) = CARD_SEPARATORS[rng.below(CARD_SEPARATORS.len())];
                let shown = if rng.chance(30) {
                    format!("{}{number}", rng.pick(GLUE))
                } else {
                    group(&number, &card_groups(number.len()), sep)
                };
                let text = fill(rng.pick(CARD_CONTEXT), &shown);
                ("neg/card_luhn_invalid", text, shown)
            }
            1 => {
                let (a, g, s) = ssn_parts(rng);
                let v = format!("{a}.{g}.{s}");
                let text = fill(
                    rng.pick(&[
                        "release {v} of the index is out",
                        "the sensor read {v} at noon",
                        "see section {v} of the manual",
                    ]),
                    &v,
                );
                ("neg/dotted_numbers", text, v)
            }
            2 => {
                let v = rng.pick(&["$2b$", "$6$", "$argon2id$", "$1$"]).to_owned();
                let text = format!("hashes that start with {v} need the matching verifier");
                ("neg/crypt_marker", text, v)
            }
            _ => {
                let json = format!("{{ \"page\": {}, \"size\": 50 }}", rng.range(1, 99));
                let v = base64(json.as_bytes(), true, false);
                ("neg/base64_json", format!("cursor={v}&limit=50"), v)
            }
        };
        super::negatives::push_hard(out, rng, &Snippet::prose(text), family, decoy);
    }
}

fn cards(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for i in 0..n {
        let net = &NETWORKS[i % NETWORKS.len()];
        let number = card_number(rng, net);
        if i % (CARD_SEPARATORS.len() + 1) == CARD_SEPARATORS.len() {
            let glue = rng.pick(GLUE);
            let text = fill(rng.pick(CARD_CONTEXT), &format!("{glue}{number}"));
            push(
                out,
                rng,
                Snippet::prose(text),
                expect("CREDIT_CARD", number),
                "CREDIT_CARD/glued_to_a_word",
            );
            continue;
        }
        let (sep, family) = CARD_SEPARATORS[i % (CARD_SEPARATORS.len() + 1)];
        let mut shown = group(&number, &card_groups(number.len()), sep);
        if i % 3 == 0 && sep == "/" {
            // Separators mixed within one number.
            shown = group(&number, &card_groups(number.len()), " ").replacen(' ', "-", 1);
        }
        let text = fill(rng.pick(CARD_CONTEXT), &shown);
        push(
            out,
            rng,
            Snippet::prose(text),
            expect("CREDIT_CARD", shown),
            family,
        );
    }
}

fn ssns(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    const LABELLED: &[&str] = &["SSN: {v}", "my SSN is {v}", "social security number {v}"];
    for _ in 0..n {
        let (a, g, s) = ssn_parts(rng);
        let shown = format!("{a}.{g}.{s}");
        let text = fill(rng.pick(LABELLED), &shown);
        push(
            out,
            rng,
            Snippet::prose(text),
            expect("US_SSN", shown),
            "US_SSN/dotted",
        );
    }
}

/// A bcrypt string: `$2b$`, a two-digit cost, then 22 characters of salt and 31 of hash in
/// bcrypt's own base-64 alphabet.
fn bcrypt(rng: &mut Rng) -> String {
    const BCRYPT64: &str = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    format!(
        "${}${:02}${}",
        rng.pick(&["2a", "2b", "2y"]),
        rng.range(4, 14),
        rng.chars(BCRYPT64, 53)
    )
}

/// A PHC-format Argon2 string (base-64 without padding, salt 16 bytes, hash 32).
fn argon2(rng: &mut Rng) -> String {
    let salt = rng.bytes(16);
    let hash = rng.bytes(32);
    format!(
        "$argon2{}$v=19$m={},t={},p={}${}${}",
        rng.pick(&["id", "i"]),
        rng.pick(&[19456, 65536, 47104]),
        rng.range(1, 4),
        rng.range(1, 4),
        base64(&salt, false, false),
        base64(&hash, false, false)
    )
}

/// A SHA-512-crypt string (`$6$`, a salt of up to 16 characters, 86 of hash).
fn sha512_crypt(rng: &mut Rng) -> String {
    const CRYPT64: &str = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let salt_len = rng.range(8, 16) as usize;
    format!(
        "$6${}${}",
        rng.chars(CRYPT64, salt_len),
        rng.chars(CRYPT64, 86)
    )
}

/// A JWT whose header and payload JSON are pretty-printed or spaced, as some libraries and
/// hand-made tokens write them.
fn spaced_jwt(rng: &mut Rng) -> String {
    let (open, sep) = rng.pick(&[("{ ", ", "), ("{\n  ", ",\n  "), ("{\r\n  ", ",\r\n  ")]);
    let header = format!("{open}\"alg\": \"HS256\"{sep}\"typ\": \"JWT\" }}");
    let payload = format!(
        "{open}\"sub\": \"{}\"{sep}\"iat\": {} }}",
        rng.digits(8),
        rng.range(1_600_000_000, 1_750_000_000)
    );
    let sig = rng.bytes(32);
    format!(
        "{}.{}.{}",
        base64(header.as_bytes(), true, false),
        base64(payload.as_bytes(), true, false),
        base64(&sig, true, false)
    )
}

/// A JSON Web Key with its private member, in one of the orders libraries write them in;
/// the expected value is the private member (`d`, or `k` of a symmetric key).
fn jwk(rng: &mut Rng) -> (String, String) {
    let b64u = |r: &mut Rng, n: usize| base64(&r.bytes(n), true, false);
    match rng.below(3) {
        0 => {
            let d = b64u(rng, 32);
            let (x, y) = (b64u(rng, 32), b64u(rng, 32));
            // Members sorted by name, as a canonical (thumbprint-style) writer does.
            let text = format!(
                "{{\"crv\":\"P-256\",\"d\":\"{d}\",\"kty\":\"EC\",\"x\":\"{x}\",\"y\":\"{y}\"}}"
            );
            (text, d)
        }
        1 => {
            let (n, d) = (b64u(rng, 256), b64u(rng, 256));
            let text = format!(
                "{{\n  \"kty\": \"RSA\",\n  \"n\": \"{n}\",\n  \"e\": \"AQAB\",\n  \"d\": \"{d}\"\n}}"
            );
            (text, d)
        }
        _ => {
            let k = b64u(rng, 32);
            (
                format!("{{\"kty\":\"oct\",\"k\":\"{k}\",\"alg\":\"HS256\"}}"),
                k,
            )
        }
    }
}

fn secrets(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    type Make = fn(&mut Rng) -> String;
    let families: &[(&str, &str, Make)] = &[
        (
            "SECRET/google_oauth_access_token",
            "GOOGLE_ACCESS_TOKEN",
            |r| format!("ya29.{}", r.chars(B64URL, 120)),
        ),
        ("SECRET/grafana_service_account", "GRAFANA_TOKEN", |r| {
            format!("glsa_{}_{}", r.chars(BASE62, 32), r.chars(HEX, 8))
        }),
        ("SECRET/grafana_cloud", "GRAFANA_CLOUD_TOKEN", |r| {
            format!("glc_{}", r.chars(B64, 80))
        }),
        ("SECRET/new_relic_user_key", "NEW_RELIC_API_KEY", |r| {
            format!("NRAK-{}", r.chars(UPPER_ALNUM, 27))
        }),
        ("SECRET/postman_api_key", "POSTMAN_API_KEY", |r| {
            format!("PMAK-{}-{}", r.chars(HEX, 24), r.chars(HEX, 34))
        }),
        ("SECRET/bcrypt_hash", "password_hash", bcrypt),
        ("SECRET/argon2_hash", "password_hash", argon2),
        ("SECRET/sha512_crypt_hash", "root_hash", sha512_crypt),
        ("SECRET/jwt_spaced_json", "ID_TOKEN", spaced_jwt),
        ("SECRET/google_refresh_token", "GOOGLE_REFRESH_TOKEN", |r| {
            format!("1//0{}", r.chars(B64URL, 100))
        }),
        ("SECRET/postman_access_token", "POSTMAN_TOKEN", |r| {
            format!("PMAT-{}", r.chars(UPPER_ALNUM, 26))
        }),
        (
            "SECRET/new_relic_license_key",
            "NEW_RELIC_LICENSE_KEY",
            |r| format!("{}NRAL", r.chars(HEX, 36)),
        ),
        ("SECRET/grafana_legacy_api_key", "GRAFANA_API_KEY", |r| {
            let json = format!(
                "{{\"k\":\"{}\",\"n\":\"ci\",\"id\":{}}}",
                r.chars(BASE62, 32),
                r.range(1, 99)
            );
            base64(json.as_bytes(), false, true)
        }),
        ("SECRET/databricks_token", "DATABRICKS_TOKEN", |r| {
            format!("dapi{}", r.chars(HEX, 32))
        }),
        ("SECRET/linear_api_key", "LINEAR_API_KEY", |r| {
            format!("lin_api_{}", r.chars(BASE62, 40))
        }),
        ("SECRET/doppler_token", "DOPPLER_TOKEN", |r| {
            format!("dp.st.{}", r.chars(BASE62, 43))
        }),
        ("SECRET/yescrypt_hash", "shadow_hash", |r| {
            const CRYPT64: &str =
                "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
            format!("$y$j9T${}${}", r.chars(CRYPT64, 22), r.chars(CRYPT64, 43))
        }),
        ("SECRET/django_pbkdf2_hash", "password_hash", |r| {
            format!(
                "pbkdf2_sha256${}${}${}",
                r.pick(&[600_000, 870_000, 1_000_000]),
                r.chars(BASE62, 22),
                base64(&r.bytes(32), false, true)
            )
        }),
        ("SECRET/werkzeug_scrypt_hash", "password_hash", |r| {
            format!(
                "scrypt:32768:8:1${}${}",
                r.chars(BASE62, 16),
                r.chars(HEX, 128)
            )
        }),
        ("SECRET/jwt_standard_base64", "ACCESS_TOKEN", |r| {
            let header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
            let payload = format!("{{\"sub\":\"{}\",\"admin\":true}}", r.digits(9));
            format!(
                "{}.{}.{}",
                base64(header.as_bytes(), false, true),
                base64(payload.as_bytes(), false, true),
                base64(&r.bytes(32), false, true)
            )
        }),
    ];
    for (family, var, make) in families {
        for i in 0..n {
            let token = make(rng);
            let snippet = match i % 4 {
                0 => Snippet::prose(format!("here is the value: {token} — does it look right?")),
                1 => Snippet::line(format!("{var}={token}")),
                2 => Snippet::line(format!("{{\"{}\": \"{token}\"}}", var.to_lowercase())),
                _ => Snippet::prose(token.clone()),
            };
            push(out, rng, snippet, expect("SECRET", token), family);
        }
    }
    for _ in 0..n {
        let (text, private) = jwk(rng);
        let snippet = Snippet::line(format!("signing key:\n{text}"));
        push(
            out,
            rng,
            snippet,
            expect("SECRET", private),
            "SECRET/jwk_private",
        );
    }
}
