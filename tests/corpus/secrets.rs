//! SECRET samples generated from the issuers' published token formats (prefix, alphabet,
//! length), plus structural secrets (JWT, PEM, PuTTY, connection strings, Azure storage
//! strings) and generic high-entropy assignments to secret-ish names.
//!
//! The expected value is the secret's core: the whole token for prefixed tokens and JWTs,
//! the password of a connection string, the key body of a PEM/PuTTY block, the token segment
//! of a webhook URL, the `AccountKey` of an Azure string, the value of an assignment.

use super::{
    base64, expect, push, Rng, Sample, Snippet, B64, BASE32, BASE62, DIGITS, HEX, LETTERS, LOWER,
    UPPER_ALNUM,
};

/// Ways a bare token shows up: prose, env line, code, header, JSON.
fn token_snippet(rng: &mut Rng, var: &str, token: &str) -> Snippet {
    let line = |t: String| Snippet::line(t);
    match rng.below(12) {
        0 => Snippet::prose(format!("my key is {token} — is it still valid?")),
        1 => Snippet::prose(format!("Use this key for the test: {token}")),
        2 => line(format!("{var}={token}")),
        3 => line(format!("export {var}=\"{token}\"")),
        4 => line(format!("client = Client(api_key=\"{token}\")")),
        5 => line(format!(
            "curl -H 'Authorization: Bearer {token}' https://api.service.invalid/v1/models"
        )),
        6 => line(format!("{{\"api_key\": \"{token}\", \"timeout\": 30}}")),
        7 => Snippet::prose(format!("Hier ist mein Schlüssel: {token}")),
        8 => Snippet::prose(format!("voici ma clé {token}, merci")),
        9 => Snippet::prose(token.to_string()),
        10 => line(format!("{}: {token}", var.to_lowercase())),
        _ => Snippet::prose(format!("このキー{token}を使ってください")),
    }
}

/// A high-entropy value with upper, lower and digits (and sometimes symbols).
pub fn entropic(rng: &mut Rng, len: usize, symbols: &str) -> String {
    loop {
        let alphabet = format!("{BASE62}{symbols}");
        let s = rng.chars(&alphabet, len);
        let classes = [
            s.chars().any(|c| c.is_ascii_uppercase()),
            s.chars().any(|c| c.is_ascii_lowercase()),
            s.chars().any(|c| c.is_ascii_digit()),
        ];
        if classes.iter().all(|c| *c) {
            return s;
        }
    }
}

struct Out<'a> {
    out: &'a mut Vec<Sample>,
}

impl Out<'_> {
    fn add(&mut self, rng: &mut Rng, snippet: Snippet, value: &str, family: &'static str) {
        push(self.out, rng, snippet, expect("SECRET", value), family);
    }
}

fn prefixed(
    rng: &mut Rng,
    o: &mut Out<'_>,
    n: usize,
    family: &'static str,
    var: &str,
    mk: &dyn Fn(&mut Rng) -> String,
) {
    for _ in 0..n {
        let t = mk(rng);
        let s = token_snippet(rng, var, &t);
        o.add(rng, s, &t, family);
    }
}

fn pem_body(rng: &mut Rng, lead: &[u8], bytes: usize, width: usize) -> String {
    let mut data = lead.to_vec();
    data.extend(rng.bytes(bytes));
    let b = base64(&data, false, true);
    let chars: Vec<char> = b.chars().collect();
    chars
        .chunks(width)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

fn url_password(rng: &mut Rng) -> String {
    let len = rng.range(12, 32) as usize;
    entropic(rng, len, "-_.~!*")
}

const GENERIC_NAMES: &[&str] = &[
    "DB_PASSWORD",
    "SESSION_SECRET",
    "MAPS_API_KEY",
    "clientSecret",
    "x-api-key",
    "auth_token",
    "PRIVATE_ACCESS_KEY",
    "credentials",
    "STRIPE_SECRET",
    "jwtSecret",
    "api_key",
    "ACCESS_TOKEN",
    "refresh_token",
    "SMTP_PASS",
    "db_passwd",
    "ENCRYPTION_KEY",
    "signing_secret",
    "AppSecret",
    "apiKey",
    "SECRET_KEY_BASE",
    "WEBHOOK_SECRET",
    "client_secret",
    "MASTER_KEY",
    "password",
    "REDIS_PASSWORD",
    "oauth_client_secret",
    "SERVICE_ACCOUNT_TOKEN",
    "Passwort",
];

pub fn secrets(rng: &mut Rng, out: &mut Vec<Sample>, per_family: usize) {
    let mut o = Out { out };
    let n = per_family;
    prefixed(
        rng,
        &mut o,
        n,
        "SECRET/openrouter",
        "OPENROUTER_API_KEY",
        &|r| format!("sk-or-v1-{}", r.chars(HEX, 64)),
    );
    prefixed(
        rng,
        &mut o,
        n,
        "SECRET/openai_project",
        "OPENAI_API_KEY",
        &|r| {
            let a = r.range(20, 74) as usize;
            let b = r.range(20, 74) as usize;
            format!(
                "sk-proj-{}T3BlbkFJ{}",
                r.chars(WORD_CHARS_DASH, a),
                r.chars(WORD_CHARS_DASH, b)
            )
        },
    );
    prefixed(
        rng,
        &mut o,
        n / 2,
        "SECRET/openai_legacy",
        "OPENAI_API_KEY",
        &|r| format!("sk-{}T3BlbkFJ{}", r.chars(BASE62, 20), r.chars(BASE62, 20)),
    );
    prefixed(
        rng,
        &mut o,
        n / 2,
        "SECRET/openai_svcacct",
        "OPENAI_API_KEY",
        &|r| format!("sk-svcacct-{}", r.chars(WORD_CHARS_DASH, 100)),
    );
    prefixed(
        rng,
        &mut o,
        n,
        "SECRET/anthropic",
        "ANTHROPIC_API_KEY",
        &|r| format!("sk-ant-api03-{}AA", r.chars(WORD_CHARS_DASH, 93)),
    );
    prefixed(
        rng,
        &mut o,
        n,
        "SECRET/aws_access_key_id",
        "AWS_ACCESS_KEY_ID",
        &|r| format!("{}{}", r.pick(&["AKIA", "ASIA"]), r.chars(BASE32, 16)),
    );
    for i in 0..n {
        let mut key = r_b64(rng, 40);
        if i % 3 == 0 {
            key.pop();
            key.push(if i % 2 == 0 { '/' } else { '+' });
        }
        let id = format!("AKIA{}", rng.chars(BASE32, 16));
        let (snippet, with_id) = match i % 4 {
            0 => (
                Snippet::line(format!("aws_secret_access_key = {key}")),
                false,
            ),
            1 => (Snippet::line(format!("AWS_SECRET_ACCESS_KEY={key}")), false),
            2 => (
                Snippet::line(format!(
                    "[default]\naws_access_key_id = {id}\naws_secret_access_key = {key}"
                )),
                true,
            ),
            _ => (
                Snippet::line(format!("\"SecretAccessKey\": \"{key}\",")),
                false,
            ),
        };
        let mut expected = expect("SECRET", key.as_str());
        if with_id {
            // The key id next to it is a secret of its own (SECRET/aws_access_key_id shape).
            expected.extend(expect("SECRET", id));
        }
        push(
            o.out,
            rng,
            snippet,
            expected,
            "SECRET/aws_secret_access_key",
        );
    }
    prefixed(
        rng,
        &mut o,
        n,
        "SECRET/google_api_key",
        "GOOGLE_API_KEY",
        &|r| format!("AIza{}", r.chars(WORD_CHARS_DASH, 35)),
    );
    prefixed(
        rng,
        &mut o,
        n,
        "SECRET/github_token",
        "GITHUB_TOKEN",
        &|r| {
            format!(
                "{}{}",
                r.pick(&["ghp_", "gho_", "ghs_", "ghu_", "ghr_"]),
                r.chars(BASE62, 36)
            )
        },
    );
    prefixed(rng, &mut o, n, "SECRET/github_pat", "GH_TOKEN", &|r| {
        format!("github_pat_{}_{}", r.chars(BASE62, 22), r.chars(BASE62, 59))
    });
    prefixed(rng, &mut o, n, "SECRET/gitlab_pat", "GITLAB_TOKEN", &|r| {
        format!("glpat-{}", r.chars(WORD_CHARS_DASH, 20))
    });
    prefixed(
        rng,
        &mut o,
        n,
        "SECRET/slack_token",
        "SLACK_BOT_TOKEN",
        &|r| {
            if r.chance(60) {
                format!(
                    "xoxb-{}-{}-{}",
                    {
                        let k = r.range(10, 13) as usize;
                        r.digits_from("123456789", k)
                    },
                    {
                        let k = r.range(10, 13) as usize;
                        r.digits_from("123456789", k)
                    },
                    r.chars(BASE62, 24)
                )
            } else {
                format!(
                    "xoxp-{}-{}-{}-{}",
                    r.digits_from("123456789", 11),
                    r.digits_from("123456789", 12),
                    r.digits_from("123456789", 13),
                    r.chars(HEX, 32)
                )
            }
        },
    );
    for _ in 0..n {
        let token = rng.chars(BASE62, 24);
        let url = format!(
            "https://hooks.slack.com/services/T{}/B{}/{token}",
            rng.chars(UPPER_ALNUM, 8),
            rng.chars(UPPER_ALNUM, 10)
        );
        let s = match rng.below(3) {
            0 => Snippet::line(format!("SLACK_WEBHOOK_URL={url}")),
            1 => Snippet::prose(format!("post alerts to {url} please")),
            _ => Snippet::line(format!(
                "requests.post(\"{url}\", json={{\"text\": \"deploy done\"}})"
            )),
        };
        o.add(rng, s, &token, "SECRET/slack_webhook");
    }
    prefixed(rng, &mut o, n, "SECRET/stripe", "STRIPE_SECRET_KEY", &|r| {
        let len = r.pick(&[24, 24, 34, 99, 99, 60]);
        format!(
            "{}{}",
            r.pick(&["sk_live_", "rk_live_", "sk_test_"]),
            r.chars(BASE62, len)
        )
    });
    for i in 0..n {
        let sid = format!("SK{}", rng.chars(HEX, 32));
        let s = match i % 3 {
            0 => Snippet::line(format!("TWILIO_API_KEY={sid}")),
            1 => Snippet::prose(format!("Twilio API key SID: {sid}")),
            _ => Snippet::line(format!(
                "client = Client(\"{sid}\", api_secret, account_sid)  # twilio"
            )),
        };
        o.add(rng, s, &sid, "SECRET/twilio_api_key");
    }
    prefixed(
        rng,
        &mut o,
        n,
        "SECRET/sendgrid",
        "SENDGRID_API_KEY",
        &|r| {
            format!(
                "SG.{}.{}",
                r.chars(WORD_CHARS_DASH, 22),
                r.chars(WORD_CHARS_DASH, 43)
            )
        },
    );
    for i in 0..n {
        let t = format!("npm_{}", rng.chars(BASE62, 36));
        let s = if i % 2 == 0 {
            Snippet::line(format!("//registry.npmjs.org/:_authToken={t}"))
        } else {
            token_snippet(rng, "NPM_TOKEN", &t)
        };
        o.add(rng, s, &t, "SECRET/npm");
    }
    for i in 0..n {
        let len = rng.range(60, 180) as usize;
        let t = format!("pypi-AgEIcHlwaS5vcmc{}", rng.chars(WORD_CHARS_DASH, len));
        let s = if i % 2 == 0 {
            Snippet::line(format!("[pypi]\n  username = __token__\n  password = {t}"))
        } else {
            token_snippet(rng, "TWINE_PASSWORD", &t)
        };
        o.add(rng, s, &t, "SECRET/pypi");
    }
    prefixed(rng, &mut o, n, "SECRET/huggingface", "HF_TOKEN", &|r| {
        format!("hf_{}", r.chars(LETTERS, 34))
    });
    prefixed(rng, &mut o, n, "SECRET/groq", "GROQ_API_KEY", &|r| {
        format!("gsk_{}", r.chars(BASE62, 52))
    });
    for i in 0..n {
        let t = format!(
            "{}:AA{}",
            {
                let k = rng.range(8, 10) as usize;
                rng.digits_from("123456789", k)
            },
            rng.chars(WORD_CHARS_DASH, 33)
        );
        let s = match i % 3 {
            0 => Snippet::line(format!("TELEGRAM_BOT_TOKEN={t}")),
            1 => Snippet::prose(format!("curl https://api.telegram.org/bot{t}/getMe")),
            _ => Snippet::prose(format!("bot token: {t}")),
        };
        o.add(rng, s, &t, "SECRET/telegram_bot");
    }
    for _ in 0..n {
        let token = rng.chars(WORD_CHARS_DASH, 68);
        let url = format!(
            "https://discord.com/api/webhooks/{}/{token}",
            rng.digits_from("123456789", 18)
        );
        let s = if rng.chance(50) {
            Snippet::line(format!("DISCORD_WEBHOOK={url}"))
        } else {
            Snippet::prose(format!("the bot posts to {url}"))
        };
        o.add(rng, s, &token, "SECRET/discord_webhook");
    }
    for i in 0..n {
        let jwt = jwt(rng, i % 3 == 0);
        let s = match i % 4 {
            0 => Snippet::line(format!("Authorization: Bearer {jwt}")),
            1 => Snippet::prose(format!("this token fails validation: {jwt}")),
            2 => Snippet::line(format!(
                "{{\"access_token\": \"{jwt}\", \"token_type\": \"Bearer\", \"expires_in\": 3600}}"
            )),
            _ => Snippet::line(format!("document.cookie = \"session={jwt}; path=/\";")),
        };
        o.add(rng, s, &jwt, "SECRET/jwt");
    }
    for i in 0..n {
        let size = rng.range(300, 1180) as usize;
        let (label, body) = match i % 5 {
            0 => (
                "RSA PRIVATE KEY",
                pem_body(
                    rng,
                    &[
                        0x30, 0x82, 0x04, 0xa4, 0x02, 0x01, 0x00, 0x02, 0x82, 0x01, 0x01, 0x00,
                    ],
                    size,
                    64,
                ),
            ),
            1 => (
                "EC PRIVATE KEY",
                pem_body(rng, &[0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20], 112, 64),
            ),
            2 => (
                "PRIVATE KEY",
                pem_body(
                    rng,
                    &[
                        0x30, 0x82, 0x04, 0xbe, 0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09,
                    ],
                    size,
                    64,
                ),
            ),
            3 => (
                "OPENSSH PRIVATE KEY",
                pem_body(
                    rng,
                    b"openssh-key-v1\0\0\0\0\x04none\0\0\0\x04none",
                    size,
                    70,
                ),
            ),
            _ => (
                "ENCRYPTED PRIVATE KEY",
                pem_body(
                    rng,
                    &[0x30, 0x82, 0x05, 0x0a, 0x30, 0x3c, 0x06, 0x09],
                    size,
                    64,
                ),
            ),
        };
        let block = format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----");
        let s = if i % 3 == 0 {
            Snippet::line(format!("cat ~/.ssh/id_deploy\n{block}"))
        } else {
            Snippet::line(block)
        };
        o.add(rng, s, &body, "SECRET/pem_private_key");
    }
    for _ in 0..n {
        let public = base64(
            &[b"\0\0\0\x0bssh-ed25519\0\0\0 ".as_slice(), &rng.bytes(32)].concat(),
            false,
            true,
        );
        let private = base64(
            &[b"\0\0\0 ".as_slice(), &rng.bytes(32)].concat(),
            false,
            true,
        );
        let block = format!(
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key-2024{:02}{:02}\nPublic-Lines: 2\n{}\n{}\nPrivate-Lines: 1\n{private}\nPrivate-MAC: {}",
            rng.range(1, 12), rng.range(1, 28), &public[..64.min(public.len())], &public[64.min(public.len())..], rng.chars(HEX, 64)
        );
        o.add(rng, Snippet::line(block), &private, "SECRET/putty_key");
    }
    let hosts = [
        "db.internal.acme.io",
        "pg-prod-eu-1.corp.example.net",
        "10-0-3-17.svc.cluster.local",
        "mq.globex.dev",
        "cache.northwind.cloud",
        "git.initech.io",
    ];
    let users = ["app", "admin", "svc_billing", "readonly", "deploy", "etl"];
    for i in 0..(n * 2) {
        let pw = url_password(rng);
        let host = rng.pick(&hosts);
        let user = rng.pick(&users);
        let db = rng.pick(&["orders", "app_prod", "analytics", "users"]);
        let url = match i % 8 {
            0 => format!("postgres://{user}:{pw}@{host}:5432/{db}"),
            1 => format!("postgresql://{user}:{pw}@{host}/{db}?sslmode=require"),
            2 => format!("mysql://{user}:{pw}@{host}:3306/{db}"),
            3 => format!("mongodb+srv://{user}:{pw}@cluster0.{}.mongodb.net/{db}?retryWrites=true&w=majority", rng.chars(LOWER, 5)),
            4 => format!("redis://:{pw}@{host}:6379/0"),
            5 => format!("amqp://{user}:{pw}@{host}:5672/%2F"),
            6 => format!("https://{user}:{pw}@{host}/acme/api.git"),
            _ => format!("rediss://default:{pw}@{host}:6380"),
        };
        let s = match rng.below(4) {
            0 => Snippet::line(format!("DATABASE_URL={url}")),
            1 => Snippet::prose(format!("connecting with {url} times out")),
            2 => Snippet::line(format!("engine = create_engine(\"{url}\")")),
            _ => Snippet::line(format!("  url: {url}")),
        };
        o.add(rng, s, &pw, "SECRET/connection_string");
    }
    for _ in 0..n {
        let key = base64(&rng.bytes(64), false, true);
        let account = format!(
            "{}{}",
            rng.pick(&["acme", "prod", "logs", "backup"]),
            rng.chars(DIGITS, 4)
        );
        let conn = format!("DefaultEndpointsProtocol=https;AccountName={account};AccountKey={key};EndpointSuffix=core.windows.net");
        let s = if rng.chance(50) {
            Snippet::line(format!("AZURE_STORAGE_CONNECTION_STRING=\"{conn}\""))
        } else {
            Snippet::prose(conn)
        };
        o.add(rng, s, &key, "SECRET/azure_storage");
    }
    prefixed(
        rng,
        &mut o,
        n / 2,
        "SECRET/digitalocean",
        "DIGITALOCEAN_TOKEN",
        &|r| format!("dop_v1_{}", r.chars(HEX, 64)),
    );
    prefixed(
        rng,
        &mut o,
        n / 2,
        "SECRET/shopify",
        "SHOPIFY_ACCESS_TOKEN",
        &|r| format!("shpat_{}", r.chars(HEX, 32)),
    );
    prefixed(rng, &mut o, n / 2, "SECRET/age_key", "AGE_KEY", &|r| {
        format!(
            "AGE-SECRET-KEY-1{}",
            r.chars("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)
        )
    });
    // Generic assignments: secret-ish names, any case, many syntaxes.
    for i in 0..(n * 5) {
        let len = rng.range(20, 64) as usize;
        let mut v = entropic(rng, len, if i % 2 == 0 { "" } else { "_-.~!*" });
        if i % 4 == 1 {
            v.pop();
            v.push(rng.pick(&['/', '+', '=']));
        }
        let mut name = rng.pick(GENERIC_NAMES).to_string();
        match rng.below(5) {
            0 => name = name.to_uppercase(),
            1 => name = name.to_lowercase(),
            _ => {}
        }
        let text = match i % 10 {
            0 => format!("{name}={v}"),
            1 => format!("{name}: {v}"),
            2 => format!("\"{name}\": \"{v}\","),
            3 => format!("export {name}=\"{v}\""),
            4 => format!("{name} = \"{v}\""),
            5 => format!("{name} = os.getenv(\"{}\", \"{v}\")", name.to_uppercase()),
            6 => format!("{name}: '{v}'"),
            7 => format!("set {name}={v}"),
            8 => format!("const {} = \"{v}\";", name.replace('-', "_")),
            _ => format!("<add key=\"{name}\" value=\"{v}\" />"),
        };
        o.add(rng, Snippet::line(text), &v, "SECRET/generic_assignment");
    }
    for i in 0..(n * 2) {
        let len = rng.range(24, 64) as usize;
        let v = entropic(rng, len, if i % 3 == 0 { "_-" } else { "" });
        let text = match i % 8 {
            0 => format!("./deploy.sh --password={v}"),
            1 => format!("mytool login --token {v}"),
            2 => format!("psql --password={v} -h db"),
            3 => format!("cli --api-key {v} --region eu"),
            4 => format!("Authorization: Bearer {v}"),
            5 => format!("X-Api-Key: {v}"),
            6 => format!("curl -H \"x-api-key: {v}\" https://api.service.invalid/data"),
            _ => format!("Authorization: Token {v}"),
        };
        let family = if i % 8 < 4 {
            "SECRET/cli_flag"
        } else {
            "SECRET/http_header"
        };
        o.add(rng, Snippet::line(text), &v, family);
    }
    for _ in 0..n / 2 {
        let pw = url_password(rng);
        let cred = base64(format!("{}:{pw}", rng.pick(&users)).as_bytes(), false, true);
        o.add(
            rng,
            Snippet::line(format!("Authorization: Basic {cred}")),
            &cred,
            "SECRET/http_basic",
        );
    }
}

const WORD_CHARS_DASH: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

fn r_b64(rng: &mut Rng, n: usize) -> String {
    loop {
        let s = rng.chars(B64, n);
        if s.chars().any(|c| c.is_ascii_digit()) && s.chars().any(|c| c.is_ascii_uppercase()) {
            return s;
        }
    }
}

/// A JWT: base64url header and payload JSON, random signature (HS256: 32 bytes; RS256: 256).
pub fn jwt(rng: &mut Rng, rs256: bool) -> String {
    let alg = if rs256 { "RS256" } else { "HS256" };
    let header = format!("{{\"alg\":\"{alg}\",\"typ\":\"JWT\"}}");
    let iat = rng.range(1_600_000_000, 1_750_000_000);
    let payload = format!(
        "{{\"sub\":\"{}\",\"iat\":{iat},\"exp\":{},\"scope\":\"{}\",\"iss\":\"https://auth.{}.io\"}}",
        rng.digits(10),
        iat + 3600,
        rng.pick(&["read:orders", "admin", "openid profile", "write:repo"]),
        rng.pick(&["acme", "globex", "initech"])
    );
    let sig = rng.bytes(if rs256 { 256 } else { 32 });
    format!(
        "{}.{}.{}",
        base64(header.as_bytes(), true, false),
        base64(payload.as_bytes(), true, false),
        base64(&sig, true, false)
    )
}
