//! Credentials (`SECRET`): vendor tokens recognised by their fixed prefixes, URLs with a
//! password, and values assigned to secret-looking names.
//!
//! The families follow the kinds a secret scanner (gitleaks, trufflehog) covers, written as
//! our own patterns from each vendor's documented token format. Each rule is found by its
//! literal prefix in the engine's one word pass; only then does its small anchored regex run.
//!
//! Policy for generic assignments (`DB_PASSWORD=…`, `"client_secret": "…"`, `--token …`,
//! `Authorization: Bearer …`), decided here and tested below:
//! - The *name* decides that a value may be a secret: any identifier containing `password`,
//!   `passwd`, `pwd`, `pass` as a word, `secret`, `token`, `api_key`/`apikey`, `access_key`,
//!   `private_key`, `credential`, `auth`, or ending in `key`, in any case, with any prefix or
//!   suffix.
//! - The *value* decides that it is one: never a placeholder (`<your-key>`, `${VAR}`,
//!   `xxxx`, `changeme`, `****`, `{{ }}`, `os.environ[…]`, `process.env.X`, code such as
//!   `args.password` or `getpass()`), at least 8 characters, and random-looking.
//! - Password names accept a human-made password (`Summer2024!`, `hunter2hunter2`) when it
//!   mixes letters with digits or symbols: people pick those, and a password in a config
//!   line is worth blocking even if its entropy is modest. A plain word (`password:
//!   required`, `password = "changeme"`) is not taken: in prose after "password:" a single
//!   word is far more often an instruction than a password, and blocking it would refuse
//!   ordinary support chats. So `password: hunter2` (7 characters) is *not* flagged, by
//!   design.
//! - Other names (token, secret, key…) need a machine-made value: 12+ characters, Shannon
//!   entropy ≥ 3 bits/char, and not a plain word or identifier, so `token_type: bearer` and
//!   `secret_name: db-credentials` stay clean.
//! - A bare `key` name (`STRIPE_KEY`, `"key": …`) is shared with cache and map keys, so its
//!   value needs 20+ characters, entropy ≥ 3.5, a digit, and no `:` or space.
//! - HTTP `Authorization` values (`Bearer …`, `Basic …`, `Token …`) are secrets whenever the
//!   credential after the scheme is 8+ characters and not a placeholder.

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;

use super::{text, Hit, SECRET};

/// How a prefixed candidate is confirmed beyond its pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The pattern is specific enough.
    Always,
    /// Generic-looking prefixes (`sk-`): the body must contain a digit and look random.
    Random,
    /// URL userinfo: the password must not be a placeholder.
    Password,
}

/// One vendor format: the literal that triggers it, how many bytes of the token come before
/// the literal (`lead`), the anchored pattern (starting `lead` bytes before the literal),
/// which capture group is the secret, the check, and how far the pattern may reach.
struct Rule {
    literal: &'static str,
    lead: usize,
    pattern: &'static str,
    group: usize,
    check: Check,
    reach: usize,
    /// The literal is base64 already (a private key's DER prefix, a PEM file in base64):
    /// its own base64 form is not looked for ([`encodable_literals`]).
    base64: bool,
}

const fn rule(literal: &'static str, pattern: &'static str) -> Rule {
    Rule {
        literal,
        lead: 0,
        pattern,
        group: 0,
        check: Check::Always,
        reach: 512,
        base64: false,
    }
}

/// A JWS compact token found from `literal`, the start of its base64 header.
const fn jwt(literal: &'static str) -> Rule {
    Rule {
        reach: 16 * 1024,
        ..rule(literal, JWT)
    }
}

/// A private key's base64 body found from `literal`, `lead` characters into its DER
/// prefix, that may run to tens of kilobytes (RSA, PKCS#8 and PKCS#12 files).
const fn long_key(lead: usize, literal: &'static str, pattern: &'static str) -> Rule {
    Rule {
        lead,
        reach: 32 * 1024,
        base64: true,
        ..rule(literal, pattern)
    }
}

/// An elliptic-curve (or Edwards-curve) private key's base64 body found from `literal`,
/// its DER prefix (a few hundred bytes at most).
const fn ec_key(literal: &'static str, pattern: &'static str) -> Rule {
    Rule {
        reach: 4 * 1024,
        base64: true,
        ..rule(literal, pattern)
    }
}

const GITHUB: &str = r"gh[pousr]_[A-Za-z0-9]{36,251}(?-u:\b)";
const AWS_ID: &str = r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?-u:\b)";
const STRIPE: &str = r"[rs]k_(?:live|test)_[A-Za-z0-9]{16,247}";
const SHOPIFY: &str = r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}(?-u:\b)";
/// Base64url as the JWS compact form writes it, or standard base64 with padding as a
/// hand-made token may.
const JWT: &str =
    r"e[wy][A-Za-z0-9_+/-]{8,}={0,2}\.e[wy][A-Za-z0-9_+/-]{6,}={0,2}\.[A-Za-z0-9_+/=-]*";
const BCRYPT: &str = r"\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}";
/// `$id$params$salt$hash` in the crypt alphabet (yescrypt).
const CRYPT_PARAMS: &str =
    r"\$(?:y|gy)\$[./A-Za-z0-9]{1,64}\$[./A-Za-z0-9]{1,86}\$[./A-Za-z0-9]{32,}";
const SHA_CRYPT: &str = r"\$[56]\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43,86}";
/// What follows a private key's DER prefix in base64: at least 16 more characters, line
/// breaks aside (a body wrapped at 32 columns or more), not spaces (a prefix quoted in prose,
/// `MIIEvQIBADAN… is how it starts`, is not a key), then the rest of the body across line
/// breaks (real or `\n` escapes, and the indentation of a YAML block), ending at the first
/// space or punctuation (the prose after it is not the key). ASCII classes only: Unicode
/// white space made the lazy DFA outgrow its cache and rebuild it on ordinary requests.
macro_rules! der_body {
    ($prefix:literal) => {
        concat!(
            $prefix,
            r"(?:[A-Za-z0-9+/]|\r?\n|\\[nr]){16}(?:[A-Za-z0-9+/=]|\r?\n[ \t]*|\\[nr])*"
        )
    };
}
const PEM: &str = r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|(?:[A-Za-z0-9+/=:,\s-]|\\[nr])*)";

/// The vendor formats. Order does not matter: overlapping finds are merged.
const RULES: &[Rule] = &[
    // LLM providers.
    rule("sk-or-v1-", r"sk-or-v1-[0-9a-f]{64}"),
    rule("sk-ant-", r"sk-ant-[A-Za-z0-9_-]{20,}"),
    Rule {
        check: Check::Random,
        ..rule(
            "sk-",
            r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}",
        )
    },
    rule("gsk_", r"gsk_[A-Za-z0-9]{40,}"),
    rule("hf_", r"hf_[A-Za-z0-9]{30,}"),
    rule("r8_", r"r8_[A-Za-z0-9]{30,}"),
    rule("pplx-", r"pplx-[A-Za-z0-9]{32,}"),
    rule("xai-", r"xai-[A-Za-z0-9]{40,}"),
    rule("ogk_", r"ogk_[A-Za-z0-9_-]{20,}"),
    // Cloud.
    rule("AKIA", AWS_ID),
    rule("ASIA", AWS_ID),
    rule("ABIA", AWS_ID),
    rule("ACCA", AWS_ID),
    rule("AIza", r"AIza[0-9A-Za-z_-]{35}"),
    // Google OAuth access and refresh tokens.
    rule("ya29.", r"ya29\.[0-9A-Za-z_-]{20,}"),
    rule("1//0", r"1//0[0-9A-Za-z_-]{40,}"),
    // DigitalOcean personal access, OAuth and refresh tokens.
    rule("dop_v1_", r"dop_v1_[a-f0-9]{64}"),
    rule("doo_v1_", r"doo_v1_[a-f0-9]{64}"),
    rule("dor_v1_", r"dor_v1_[a-f0-9]{64}"),
    Rule {
        group: 1,
        ..rule("AccountKey=", r"AccountKey=([A-Za-z0-9+/]{40,}={0,2})")
    },
    Rule {
        group: 1,
        ..rule(
            "SharedAccessKey=",
            r"SharedAccessKey=([A-Za-z0-9+/]{32,}={0,2})",
        )
    },
    // VCS and CI.
    rule("ghp_", GITHUB),
    rule("gho_", GITHUB),
    rule("ghu_", GITHUB),
    rule("ghs_", GITHUB),
    rule("ghr_", GITHUB),
    rule("github_pat_", r"github_pat_[A-Za-z0-9_]{22,255}"),
    rule("glpat-", r"glpat-[A-Za-z0-9_-]{20,}"),
    rule("glptt-", r"glptt-[A-Za-z0-9_-]{20,}"),
    rule("glrt-", r"glrt-[A-Za-z0-9_-]{20,}"),
    rule("gldt-", r"gldt-[A-Za-z0-9_-]{20,}"),
    rule("GR1348941", r"GR1348941[A-Za-z0-9_-]{20,}"),
    rule("ATBB", r"ATBB[A-Za-z0-9_=.-]{28,}"),
    rule("ATATT3", r"ATATT3[A-Za-z0-9_=-]{50,}"),
    rule("npm_", r"npm_[A-Za-z0-9]{36}(?-u:\b)"),
    rule("pypi-AgEI", r"pypi-AgEI[A-Za-z0-9_-]{40,}"),
    rule("dckr_pat_", r"dckr_pat_[A-Za-z0-9_-]{20,}"),
    rule("CCIPAT_", r"CCIPAT_[A-Za-z0-9_]{20,}"),
    rule("hvs.", r"hvs\.[A-Za-z0-9_-]{24,}"),
    rule("hvb.", r"hvb\.[A-Za-z0-9_-]{24,}"),
    Rule {
        lead: 15,
        ..rule("atlasv1", r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{40,}")
    },
    // Observability and API tooling: Grafana service-account and Cloud tokens, New Relic
    // user, ingest and browser keys, Postman API keys.
    rule("glsa_", r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}(?-u:\b)"),
    rule("glc_", r"glc_[A-Za-z0-9+/]{32,}={0,2}"),
    rule("NRAK-", r"NRAK-[A-Z0-9]{27}(?-u:\b)"),
    rule("NRII-", r"NRII-[A-Za-z0-9_-]{32}"),
    rule("NRJS-", r"NRJS-[a-f0-9]{19}(?-u:\b)"),
    rule("PMAK-", r"PMAK-[A-Fa-f0-9]{24}-[A-Fa-f0-9]{34}(?-u:\b)"),
    rule("PMAT-", r"PMAT-[A-Za-z0-9]{26}(?-u:\b)"),
    // New Relic licence keys: 36 hex digits, then `NRAL`.
    Rule {
        lead: 36,
        ..rule("NRAL", r"[a-f0-9]{36}NRAL(?-u:\b)")
    },
    // Grafana's legacy API keys: base64 of `{"k":"…`.
    rule("eyJrIjoi", r"eyJrIjoi[A-Za-z0-9+/]{40,}={0,2}"),
    // Databricks, Linear and Doppler tokens.
    rule("dapi", r"dapi[a-f0-9]{32}(?:-\d)?(?-u:\b)"),
    rule("lin_api_", r"lin_api_[A-Za-z0-9]{40}(?-u:\b)"),
    rule(
        "dp.",
        r"dp\.(?:st|ct|sa|scim|audit|pt)\.(?:[A-Za-z0-9_-]{1,64}\.)?[A-Za-z0-9_-]{40,}",
    ),
    // Chat.
    rule("xox", r"xox[abposre]-[A-Za-z0-9-]{10,}"),
    rule(
        "hooks.slack.com/",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}",
    ),
    rule(
        "discord.com/api/webhooks/",
        r"discord\.com/api/webhooks/\d{5,}/[A-Za-z0-9_-]{40,}",
    ),
    rule(
        "discordapp.com/api/webhooks/",
        r"discordapp\.com/api/webhooks/\d{5,}/[A-Za-z0-9_-]{40,}",
    ),
    // Mail and payments.
    rule("SG.", r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}"),
    rule("key-", r"key-[0-9a-f]{32}(?-u:\b)"),
    // Twilio API key SIDs: `SK` and 32 hex digits (the key's secret travels with it).
    rule("SK", r"SK[0-9a-fA-F]{32}(?-u:\b)"),
    Rule {
        lead: 32,
        ..rule("-us", r"[0-9a-f]{32}-us\d{1,2}(?-u:\b)")
    },
    rule("sk_live_", STRIPE),
    rule("sk_test_", STRIPE),
    rule("rk_live_", STRIPE),
    rule("rk_test_", STRIPE),
    rule("whsec_", r"whsec_[A-Za-z0-9+/=]{24,}"),
    rule("sq0atp-", r"sq0atp-[A-Za-z0-9_-]{22,}"),
    rule("sq0csp-", r"sq0csp-[A-Za-z0-9_-]{40,}"),
    rule("EAAA", r"EAAA[A-Za-z0-9_-]{60,}"),
    rule(
        "access_token$",
        r"access_token\$(?:production|sandbox)\$[a-z0-9]{16}\$[a-f0-9]{32}",
    ),
    rule("shpat_", SHOPIFY),
    rule("shpss_", SHOPIFY),
    rule("shpca_", SHOPIFY),
    rule("shppa_", SHOPIFY),
    // Tokens and keys with a structure.
    // JWS compact form: an RS512 signature alone is 342 characters and claims can be
    // kilobytes, so the token may reach far past the default window.
    // The payload is any JSON object: `{"` (`eyJ`), `{ "` (`eyAi`), `{\n` (`ewo`)…
    jwt("eyJ"),
    // A header written with white space after its brace (`{ "alg"…`, `{\n  "alg"…`) is
    // still a JWT to every library that reads one.
    jwt("eyAi"),
    jwt("eyAg"),
    jwt("ewog"),
    jwt("ewoi"),
    jwt("ewoJ"),
    jwt("ew0K"),
    jwt("ewki"),
    // A JSON Web Key's private part (`d` of an RSA, EC or OKP key, `k` of a symmetric
    // one), whichever order the key's members come in.
    Rule {
        group: 1,
        reach: 16 * 1024,
        ..rule(
            "\"kty\"",
            r#""kty"\s*:\s*"(?:RSA|EC|OKP|oct)"[^{}]*?"[dk]"\s*:\s*"([A-Za-z0-9_-]{16,})""#,
        )
    },
    Rule {
        group: 1,
        reach: 16 * 1024,
        ..rule(
            "\"d\"",
            r#""d"\s*:\s*"([A-Za-z0-9_-]{16,})"[^{}]*?"kty"\s*:\s*"(?:RSA|EC|OKP)""#,
        )
    },
    Rule {
        group: 1,
        reach: 16 * 1024,
        ..rule(
            "\"k\"",
            r#""k"\s*:\s*"([A-Za-z0-9_-]{16,})"[^{}]*?"kty"\s*:\s*"oct""#,
        )
    },
    // Password hashes, which an offline attack turns back into the password: bcrypt,
    // Argon2 (PHC string format), SHA-crypt and MD5-crypt.
    rule("$2a$", BCRYPT),
    rule("$2b$", BCRYPT),
    rule("$2y$", BCRYPT),
    rule("$2x$", BCRYPT),
    rule(
        "$argon2",
        r"\$argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{8,}\$[A-Za-z0-9+/]{16,}",
    ),
    rule("$6$", SHA_CRYPT),
    rule("$5$", SHA_CRYPT),
    rule("$1$", r"\$1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}(?-u:\b)"),
    rule(
        "$apr1$",
        r"\$apr1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}(?-u:\b)",
    ),
    // yescrypt (`$y$`, `$gy$`), as Linux shadow files hold it.
    rule("$y$", CRYPT_PARAMS),
    rule("$gy$", CRYPT_PARAMS),
    // scrypt as libxcrypt writes it (`$7$` + 11 parameter characters and the salt, `$`,
    // 43 of hash), and Django's `scrypt$n$salt$r$p$hash`.
    rule("$7$", r"\$7\$[./A-Za-z0-9]{12,}\$[./A-Za-z0-9]{43}"),
    rule(
        "scrypt$",
        r"scrypt\$\d+\$[A-Za-z0-9./+=]{4,}\$\d+\$\d+\$[A-Za-z0-9./+=]{16,}",
    ),
    // PBKDF2 and scrypt in passlib's, Django's and Werkzeug's formats.
    rule(
        "$pbkdf2",
        r"\$pbkdf2(?:-sha(?:1|256|512))?\$\d+\$[./A-Za-z0-9+=]{4,}\$[./A-Za-z0-9+=]{16,}",
    ),
    rule(
        "pbkdf2_sha",
        r"pbkdf2_sha(?:1|256|512)\$\d+\$[A-Za-z0-9./+=]{4,}\$[A-Za-z0-9./+=]{16,}",
    ),
    rule(
        "bcrypt_sha256$",
        r"bcrypt_sha256\$\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}",
    ),
    rule(
        "argon2$argon2",
        r"argon2\$argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{8,}\$[A-Za-z0-9+/]{16,}",
    ),
    rule(
        "pbkdf2:sha",
        r"pbkdf2:sha(?:1|256|512):\d+\$[A-Za-z0-9./+=]{4,}\$[a-f0-9]{32,}",
    ),
    rule(
        "scrypt:",
        r"scrypt:\d+:\d+:\d+\$[A-Za-z0-9./+=]{4,}\$[a-f0-9]{32,}",
    ),
    // age X25519 identities: Bech32 (its 32-letter alphabet), upper case.
    rule(
        "AGE-SECRET-KEY-1",
        r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
    ),
    Rule {
        reach: 32 * 1024,
        ..rule("-----BEGIN ", PEM)
    },
    // A private key's body without its `-----BEGIN` line (or with one spelled to be
    // missed): base64 of the DER structures that only private keys start with. Each
    // starts with a SEQUENCE and a version INTEGER (RFC 8017 RSAPrivateKey: 0, then the
    // modulus; RFC 5958 PrivateKeyInfo: 0, then the algorithm's SEQUENCE; RFC 5915
    // ECPrivateKey: 1, then the key's OCTET STRING; RFC 7292 PFX: 3), or is an
    // EncryptedPrivateKeyInfo whose algorithm is PBES2 or a PKCS#12 PBE; a certificate,
    // a CSR or a public key starts with a SEQUENCE inside the SEQUENCE and no such
    // algorithm. Keys of 2048 bits and up have a two-byte length (`MII…`), smaller ones
    // and EC keys a one-byte length (`MIG…`, `MIH…`) or a short form.
    long_key(
        6,
        "IBAA",
        der_body!(r"MII[A-Za-z0-9+/]{2}[AQgw]IBAA[JK][BC]"),
    ),
    long_key(6, "IBAD", der_body!(r"MII[A-Za-z0-9+/]{2}[AQgw]IBAD[A-D]")),
    long_key(6, "IBAzCC", der_body!(r"MII[A-Za-z0-9+/]{2}[AQgw]IBAzCC")),
    long_key(
        8,
        "BgkqhkiG9w0BBQ0w",
        der_body!(r"MII[A-Za-z0-9+/]{5}BgkqhkiG9w0BBQ0w"),
    ),
    long_key(
        8,
        "BgoqhkiG9w0BDAE",
        der_body!(r"MII[A-Za-z0-9+/]{5}BgoqhkiG9w0BDAE"),
    ),
    // One-byte lengths: RSA keys below 2048 bits (`MIICXAIBAAKBgQ…` is two bytes too, so
    // the rule above; `MIIBOwIBAAJB…` of 512 bits likewise), EC keys in PKCS#8 on any
    // named curve, and ECPrivateKey on 256-bit curves (P-256, secp256k1), P-384 and P-521.
    Rule {
        lead: 11,
        ..ec_key(
            "GByqGSM49AgE",
            der_body!(r"MI[GH][A-Za-z0-9+/]AgEAMB[A-Za-z0-9+/]GByqGSM49AgE"),
        )
    },
    Rule {
        lead: 3,
        ..ec_key("CAQEEI", der_body!("M[GH][A-Za-z0-9+/]CAQEEI"))
    },
    ec_key("MIGkAgEBBD", der_body!("MIGkAgEBBD[A-D]")),
    ec_key("MIHcAgEBBE", der_body!("MIHcAgEBBE[I-L]")),
    // Ed25519 and X25519 (32-byte keys), Ed448 and X448 (57 and 56 bytes) in PKCS#8.
    ec_key("MC4CAQAwBQYDK2V", der_body!("MC4CAQAwBQYDK2V[wu]BCIEI")),
    ec_key("MEcCAQAwBQYDK2Vx", der_body!("MEcCAQAwBQYDK2VxBDsEO")),
    ec_key("MEYCAQAwBQYDK2Vv", der_body!("MEYCAQAwBQYDK2VvBDoEO")),
    Rule {
        reach: 32 * 1024,
        base64: true,
        ..rule("b3BlbnNzaC1rZXktdjE", der_body!("b3BlbnNzaC1rZXktdjE"))
    },
    // A whole PEM file in base64, as Kubernetes secrets and Helm values carry keys, is read
    // through the base64 forms of `-----BEGIN ` ([`super::encoded`]): at any offset, in a
    // bundle after certificates, wrapped or not.
    Rule {
        reach: 16 * 1024,
        ..rule(
            "PuTTY-User-Key-File-",
            r"PuTTY-User-Key-File-[23]:(?:[\s\S]*?Private-MAC: ?[0-9a-fA-F]+|[^\n]*)",
        )
    },
    // Any scheme with `user:password@host`: the password is the secret.
    Rule {
        group: 2,
        check: Check::Password,
        ..rule(
            "://",
            r#"://([^\s:/?#@"'<>\\]*):([^\s/?#"'<>\\]+)@[A-Za-z0-9\[]"#,
        )
    },
];

/// Whether a literal must start a word. Short or word-like literals (`sk-`, `key-`,
/// `AKIA`, `hf_`) must, or they would fire inside ordinary words and random text. Longer
/// prefixes with a separator (`sk-or-v1-`, `ghp_`, `github_pat_`) are specific enough on
/// their own and are found glued to whatever precedes them (`typesk-or-v1-…`,
/// `このキーsk-or-v1-…`): a reader who splits the token off still has the key.
fn needs_word_start(literal: &str) -> bool {
    match literal {
        // Inside a URL or after a hex body by design.
        "://" | "-us" | "atlasv1" | "NRAL" => false,
        "sk-" | "key-" | "SG." | "xai-" | "hf_" | "r8_" | "xox" => true,
        other => !other
            .bytes()
            .any(|b| matches!(b, b'-' | b'_' | b'.' | b'=' | b' ')),
    }
}

/// The literal that triggers each vendor rule, in rule order: the engine's one word pass
/// looks for them (case-sensitively, see `Engine::each_word`) beside the context words.
pub(crate) fn literals() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|r| r.literal)
}

/// Prefixes whose base64 forms the word pass also looks for ([`super::encoded`]): every
/// vendor rule's literal (not those that are base64 already), the longer forms of the
/// generic `sk-` rule, of Doppler's and of a JWT's header, the names assignments use, and
/// the schemes of connection strings that carry a password (`DATABASE_URL` in a Kubernetes
/// Secret).
pub(crate) fn encodable_literals() -> impl Iterator<Item = &'static str> {
    const MORE: [&str; 38] = [
        // Doppler's kinds: its rule's literal (`dp.`) has too few bytes for a form.
        "dp.st.",
        "dp.ct.",
        "dp.sa.",
        "dp.pt.",
        "dp.scim.",
        "dp.audit.",
        // The names an assignment needs, as files write them (`.env`, `.aws/credentials`,
        // an ODBC `Password=`): the assignment rules then read the decoded text.
        "password",
        "Password",
        "PASSWORD",
        "secret",
        "SECRET",
        "token",
        "TOKEN",
        "api_key",
        "API_KEY",
        "apikey",
        "ApiKey",
        "PWD=",
        "Pwd=",
        "sk-proj-",
        "sk-svcacct-",
        "sk-admin-",
        "xoxb-",
        "xoxp-",
        "xoxa-",
        "xoxe-",
        "eyJhbGci",
        "postgres://",
        "postgresql://",
        "mysql://",
        "mongodb://",
        "mongodb+srv://",
        "redis://",
        "rediss://",
        "amqp://",
        "amqps://",
        "https://",
        "http://",
    ];
    RULES
        .iter()
        .filter(|r| !r.base64)
        .map(|r| r.literal)
        .chain(MORE)
}

/// The compiled vendor rules.
pub(crate) struct Prefixed {
    regexes: Vec<Regex>,
}

impl Prefixed {
    pub(crate) fn new() -> Result<Prefixed, String> {
        let regexes = RULES
            .iter()
            .map(|r| Regex::new(&format!("^(?:{})", r.pattern)).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        Ok(Prefixed { regexes })
    }

    /// Runs rule `id` for its literal found at `at`. Literals must come leftmost-longest,
    /// in text order: `sk-or-v1-` hides the `sk-` inside it (should the longer rule fail,
    /// the generic `sk-` rule is tried at the same place, see `fallback`), and `covered`
    /// skips literals inside a token already found.
    pub(crate) fn try_rule(
        &self,
        text: &str,
        id: usize,
        at: usize,
        scan: &mut Scan,
        out: &mut Vec<Hit>,
    ) {
        if !self.run_rule(text, id, at, scan, out) {
            if let Some(generic) = RULES.get(id).and_then(|r| fallback(r.literal)) {
                self.run_rule(text, generic, at, scan, out);
            }
        }
    }

    fn run_rule(
        &self,
        text: &str,
        id: usize,
        at: usize,
        scan: &mut Scan,
        out: &mut Vec<Hit>,
    ) -> bool {
        {
            let m_start = at;
            let (Some(rule), Some(re)) = (RULES.get(id), self.regexes.get(id)) else {
                return false;
            };
            let Some(start) = m_start.checked_sub(rule.lead) else {
                return false;
            };
            let covered = &mut scan.covered;
            // A PEM body or a long token already found covers nested literals.
            if start < *covered {
                return false;
            }
            if !text.is_char_boundary(start)
                || (needs_word_start(rule.literal) && !text::word_start(text, start))
            {
                return false;
            }
            if rule.check == Check::Random && scan.run.rejects(text.as_bytes(), start, rule.reach) {
                return false;
            }
            let hay = text::window_after(text, start, rule.reach);
            let joined = match re.find(hay) {
                Some(_) => None,
                None if !scan.gap.nearest(text, start, id, rule) => return false,
                None => match gapped_body(hay, rule) {
                    Some(joined) => Some(joined),
                    None => return false,
                },
            };
            let gap = joined.as_ref().map_or(0, |(_, j)| hay.len() - j.len());
            let searched = joined.as_ref().map_or(hay, |(_, j)| j.as_str());
            let Some(caps) = re.captures(searched) else {
                return false;
            };
            let Some(v) = caps.get(rule.group) else {
                return false;
            };
            // Offsets after the removed gap stand `gap` bytes further on in the text.
            let at_text = |x: usize| match &joined {
                Some((cut, _)) if x > *cut => x + gap,
                _ => x,
            };
            let ok = match rule.check {
                // `ghp_XXXXXXXX…` in docs is a placeholder, not a key.
                Check::Always => !vendor_placeholder(v.as_str()),
                Check::Random => {
                    v.as_str().bytes().any(|b| b.is_ascii_digit()) && entropy(v.as_str()) >= 3.0
                }
                Check::Password => !placeholder(v.as_str()) && v.len() >= 4,
            };
            if ok {
                let (from, to) = (start + at_text(v.start()), start + at_text(v.end()));
                out.push(Hit::new(from, to, SECRET));
                *covered = (*covered).max(to);
            }
            ok
        }
    }
}

/// Where one text's vendor-rule scan stands; a fresh one for each text.
#[derive(Default)]
pub(crate) struct Scan {
    /// The end of the last token found: a literal before it is inside that token.
    covered: usize,
    /// The generic `sk-` rule's run of body characters.
    run: BodyRun,
    /// Which literal a gap in a token may be joined for.
    gap: GapOwner,
}

/// The one literal of a rule whose token may be joined over the gap that ends its run of
/// token characters (see [`gapped_body`]): the last before the gap.
///
/// Why: every occurrence of a literal in one run reaches the same gap, and each attempt
/// reads the run up to the rule's reach (512 bytes) and, with a gap, rebuilds and matches
/// the joined text: `ghp_ghp_ghp_…` cost 512 bytes of work per four bytes of text (a
/// megabyte in a third of a second, half of it there). A key split over a line break
/// starts at the last of its literal before the break; an earlier one is some other text
/// glued to it.
#[derive(Default)]
struct GapOwner {
    /// The run of token characters last measured: `run_from..run_end`.
    run_from: usize,
    run_end: usize,
    /// For the run ending at `run_end`: each rule tried in it, and where its last literal
    /// that may start a token stands.
    owners: Vec<(usize, usize)>,
}

impl GapOwner {
    /// Whether the token of rule `id` found at `start` is the one that may be joined over
    /// the gap ending its run.
    fn nearest(&mut self, text: &str, start: usize, id: usize, rule: &Rule) -> bool {
        if !joins(rule) {
            return false;
        }
        let bytes = text.as_bytes();
        let body = start + rule.literal.len();
        if !(self.run_from <= body && body <= self.run_end) {
            let len = bytes
                .get(body..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| token_byte(**b))
                .count();
            (self.run_from, self.run_end) = (body, body + len);
            self.owners.clear();
        }
        if let Some(&(_, at)) = self.owners.iter().find(|(rule_id, _)| *rule_id == id) {
            return at == start;
        }
        let run = bytes.get(start..self.run_end).unwrap_or_default();
        let last = memchr::memmem::rfind_iter(run, rule.literal.as_bytes())
            .map(|i| start + i)
            .find(|&at| !needs_word_start(rule.literal) || text::word_start(text, at))
            .unwrap_or(start);
        self.owners.push((id, last));
        last == start
    }
}

/// The generic `sk-` rule's body characters (`[A-Za-z0-9_-]`, see its pattern) counted
/// along one run of them, slid from one `sk-` in the run to the next.
///
/// Why: `sk-` is made of body characters itself, so in `sk-sk-sk-…` (or any long run that
/// holds `sk-` often) each occurrence starts a match reaching to the end of the run or the
/// rule's reach, and the check (`Random`) rejects it. Matched afresh, that was 512 bytes of
/// regex for every three bytes of text: a megabyte of `sk-` cost a second of CPU, eight
/// megabytes eight seconds. The match from an occurrence is that occurrence to the end of
/// its run, capped at the reach, so the counts say what the check would: no digit, or an
/// entropy clearly under the bar, settles the common case at once. Anything else (a pass,
/// a verdict within rounding of the bar, a run too short for the pattern) still goes
/// through the regex and the check, so the rule finds exactly what it found before.
struct BodyRun {
    /// Whether `from..to` is a counted stretch of the current text.
    live: bool,
    from: usize,
    to: usize,
    counts: [u32; 128],
    digits: u32,
}

impl Default for BodyRun {
    fn default() -> Self {
        BodyRun {
            live: false,
            from: 0,
            to: 0,
            counts: [0; 128],
            digits: 0,
        }
    }
}

/// A byte of the generic `sk-` rule's body.
fn sk_body_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// `c · log2 c` for every count a window within the `sk-` rule's reach can hold.
static C_LOG_C: std::sync::LazyLock<Vec<f64>> = std::sync::LazyLock::new(|| {
    (0..=SK_REACH)
        .map(|c| {
            let c = c as f64;
            if c > 0.0 {
                c * c.log2()
            } else {
                0.0
            }
        })
        .collect()
});

/// How far the generic `sk-` rule reads (the default reach).
const SK_REACH: usize = 512;

impl BodyRun {
    /// Whether the `sk-` rule's match at `p` (`p` to the end of its run, at most `reach`
    /// bytes) certainly fails its check. `p` must not go backwards within one text.
    fn rejects(&mut self, text: &[u8], p: usize, reach: usize) -> bool {
        if reach > SK_REACH {
            return false;
        }
        let limit = p.saturating_add(reach).min(text.len());
        if !(self.live && self.from <= p && p <= self.to) {
            *self = BodyRun {
                live: true,
                from: p,
                to: p,
                ..BodyRun::default()
            };
        }
        while self.from < p {
            if let Some(&b) = text.get(self.from) {
                self.count(b, false);
            }
            self.from += 1;
        }
        while self.to < limit {
            match text.get(self.to) {
                Some(&b) if sk_body_byte(b) => self.count(b, true),
                _ => break,
            }
            self.to += 1;
        }
        let n = self.to - p;
        // `sk-` and 20 body characters: shorter, the pattern may still match across a
        // gap (see `gapped_body`); the regex decides.
        if n < 23 {
            return false;
        }
        if self.digits == 0 {
            return true;
        }
        let sum: f64 = self
            .counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| C_LOG_C.get(c as usize).copied().unwrap_or(f64::MAX))
            .sum();
        let n = n as f64;
        let bits = n.log2() - sum / n;
        bits < 3.0 - 1e-9
    }

    fn count(&mut self, b: u8, add: bool) {
        if let Some(c) = self.counts.get_mut(usize::from(b)) {
            if add {
                *c += 1;
            } else {
                *c = c.saturating_sub(1);
            }
        }
        if b.is_ascii_digit() {
            if add {
                self.digits += 1;
            } else {
                self.digits = self.digits.saturating_sub(1);
            }
        }
    }
}

/// `hay` (which starts with `rule`'s token) with one gap inside the token removed, and
/// where it was; `None` when there is no such gap. The gap is a space (any kind a copy can
/// leave: `sk-or-v1- 0123…`, `ghp_\u{a0}A1b2…`) right after a prefix ending in `-` or `_`,
/// or — once the body has begun — a line break with the next line's indentation (a token
/// wrapped by a terminal, an e-mail or an editor: `ghp_AbC…\n    …xYz`; also written as a
/// `\n` escape) or one space. Either way the whole key is still readable, and without the
/// join the part before the gap is too short for its rule: the token went through whole.
fn gapped_body(hay: &str, rule: &Rule) -> Option<(usize, String)> {
    if !joins(rule) {
        return None;
    }
    let body = rule.literal.len();
    let run = hay
        .get(body..)?
        .bytes()
        .take_while(|b| token_byte(*b))
        .count();
    if run == 0 && (rule.literal.len() < 4 || !rule.literal.ends_with(['-', '_'])) {
        return None;
    }
    // Past the prefix, the part before the gap must look like a key's (a digit or mixed
    // case, four characters or more): `sk_test_mode` then `paymentIntentHandler2` on the
    // next line is code, not a Stripe key.
    if run > 0 {
        let part = hay.get(body..body + run)?;
        let digit = part.bytes().any(|b| b.is_ascii_digit());
        let mixed = part.bytes().any(|b| b.is_ascii_uppercase())
            && part.bytes().any(|b| b.is_ascii_lowercase());
        if run < 4 || !(digit || mixed) {
            return None;
        }
    }
    let cut = body + run;
    let rest = hay.get(cut..)?;
    let gap = if run == 0 {
        one_space(rest)?
    } else {
        text::line_break_at(rest.as_bytes(), 0).or_else(|| one_space(rest))?
    };
    let after = rest.get(gap..)?;
    if !after.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((cut, format!("{}{after}", hay.get(..cut)?)))
}

/// Whether a gap inside `rule`'s token may be joined over: vendor tokens found from their
/// prefix, not the rules that read across lines themselves (PEM, PuTTY, JWT: a longer
/// reach), nor base64 bodies and URLs.
fn joins(rule: &Rule) -> bool {
    rule.lead == 0 && rule.reach <= 512 && !rule.base64 && rule.check != Check::Password
}

fn token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// The length of the one space `text` starts with (not a line break).
fn one_space(text: &str) -> Option<usize> {
    let space = text.chars().next().filter(|c| {
        matches!(
            c,
            ' ' | '\t' | '\u{a0}' | '\u{2007}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
        )
    })?;
    Some(space.len_utf8())
}

/// The generic rule to try when a longer literal's rule fails (`sk-ant-x` that is not an
/// Anthropic key may still be an OpenAI-style `sk-` key).
fn fallback(literal: &str) -> Option<usize> {
    if literal.starts_with("sk-") && literal != "sk-" {
        RULES.iter().position(|r| r.literal == "sk-")
    } else {
        None
    }
}

/// Values that stand for a secret without being one.
/// A vendor-format token written as a placeholder (`ghp_XXXXXXXX…`, `sk-or-v1-<key>`). Only
/// marks a random token essentially never holds: the generic placeholder words (`here`,
/// `sample`) would turn up by chance inside long keys.
fn vendor_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    ["xxxxxxxx", "********", "........", "<", "${", "{{"]
        .iter()
        .any(|m| lower.contains(m))
}

/// Words and signs that mark a value as a placeholder, a reference or a template slot.
const PLACEHOLDER_MARKS: &[&str] = &[
    "xxxx",
    "****",
    "....",
    "${",
    "{{",
    "}}",
    "$(",
    "%(",
    "changeme",
    "change_me",
    "change-me",
    "example",
    "your_",
    "your-",
    "yourkey",
    "your key",
    "placeholder",
    "redacted",
    "dummy",
    "sample",
    "os.environ",
    "process.env",
    "getenv",
    "env(",
    "env[",
    "secrets.",
    "vault(",
    "[secret]",
    "[redacted]",
    "todo",
    "fixme",
    "insert",
    "replace",
    "here",
];

/// [`PLACEHOLDER_MARKS`] in one pass, any case: every `name=` candidate asks, up to 512
/// bytes each, and a body dense with names (`key=key=…`) asks once every few bytes.
static PLACEHOLDER_SEARCH: std::sync::LazyLock<Option<aho_corasick::AhoCorasick>> =
    std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(PLACEHOLDER_MARKS)
            .ok()
    });

pub(crate) fn placeholder(value: &str) -> bool {
    let b = value.as_bytes();
    // A mark that is a word (`here`, `todo`, `sample`) counts as a word, not inside one:
    // `Somewhere#4821`, `Resample` and `Todos` are passwords a person may choose.
    let stands = |start: usize, end: usize| {
        let mark = b.get(start..end).unwrap_or_default();
        let wordy = mark.len() >= 4
            && mark.iter().all(u8::is_ascii_alphabetic)
            && !mark.eq_ignore_ascii_case(b"xxxx");
        !wordy
            || !start
                .checked_sub(1)
                .and_then(|i| b.get(i))
                .is_some_and(u8::is_ascii_alphabetic)
                && !b.get(end).is_some_and(u8::is_ascii_alphabetic)
    };
    let marked = match PLACEHOLDER_SEARCH.as_ref() {
        Some(search) => search
            .find_overlapping_iter(value)
            .any(|m| stands(m.start(), m.end())),
        None => {
            let lower = value.to_ascii_lowercase();
            PLACEHOLDER_MARKS
                .iter()
                .flat_map(|m| lower.match_indices(m))
                .any(|(i, m)| stands(i, i + m.len()))
        }
    };
    if marked {
        return true;
    }
    let lower = value.to_ascii_lowercase();
    // `$VAR`, `%VAR%`, `@Value` (a reference, not a value: the rest is a name), a `%s`
    // format slot, one repeated character. A random password may start with `$` or `%`.
    let name = |s: &[u8]| {
        !s.is_empty()
            && s.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'{' | b'}'))
    };
    let reference = match b {
        [b'$', rest @ ..] | [b'@', rest @ ..] => name(rest),
        [b'%', rest @ .., b'%'] => name(rest),
        _ => false,
    };
    // Lower case only: `%S` in a random password is not a slot.
    let format_slot = value
        .match_indices("%s")
        .any(|(i, _)| !b.get(i + 2).is_some_and(u8::is_ascii_alphanumeric));
    // `<your-api-key>`, `Bearer <token>`: a word in angle brackets. A `<` or `>` alone is a
    // symbol a generated password may hold.
    let angle_word = value.match_indices('<').any(|(i, _)| {
        let rest = value.get(i + 1..).unwrap_or_default();
        rest.find('>')
            .and_then(|j| rest.get(..j))
            .is_some_and(|inside| !inside.is_empty() && words_only(inside))
    });
    reference
        || format_slot
        || angle_word
        || one_repeated_char(value)
        || bracketed_words(value)
        || matches!(
            lower.as_str(),
            "password"
                | "passwd"
                | "secret"
                | "token"
                | "none"
                | "null"
                | "nil"
                | "true"
                | "false"
                | "undefined"
                | "string"
                | "str"
                | "required"
                | "optional"
        )
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|&&k| k > 0)
        .map(|&k| {
            let p = f64::from(k) / n;
            -p * p.log2()
        })
        .sum()
}

/// The secret-ish words a name may contain; found case-insensitively in one pass (the
/// engine's word automaton), then the name around them is classified ([`NameWords`]).
pub(crate) fn name_words() -> impl Iterator<Item = &'static str> {
    ["password", "passwd", "pwd", "pass", "pw"]
        .into_iter()
        .chain(SECRET_NAMES.iter().copied())
        .chain(["auth", "key"])
        .chain(LOCALISED_NAME_WORDS.iter().copied())
        .chain(MORE_PASSWORD_WORDS.iter().copied())
        .chain(LATIN_SECRET_NAMES.iter().copied())
}

/// "Secret", "token" and "key" in other languages written in Latin letters (`geheimnis`,
/// `clave_api`, `chiave_segreta`, `segredo`, `jeton`): names in text and in data.
const LATIN_SECRET_NAMES: &[&str] = &["geheim", "segret", "segredo", "jeton", "clave"];

/// The same words in other scripts (`токен`, `секрет`, `トークン`, `令牌`, `密钥`, `토큰`,
/// `clé_secrète`): they name a secret held under them as a data key or a JSON member, not
/// yet in free text, whose word automaton would grow past its 64 byte classes with their
/// bytes (each class doubles the table's stride once past a power of two).
const OTHER_SCRIPT_SECRET_NAMES: &[&str] = &[
    "secrèt",
    "токен",
    "секрет",
    "トークン",
    "シークレット",
    "apiキー",
    "令牌",
    "密钥",
    "密鑰",
    "秘钥",
    "토큰",
    "시크릿",
];

const LOCALISED_NAME_WORDS: &[&str] = &[
    // Localised password words that contain none of the above (see `PASSWORD_WORDS`).
    "kennwort",
    "wachtwoord",
    "senha",
    "contrase",
    "losenord",
    "lösenord",
    "salasana",
    "haslo",
    "hasło",
    "heslo",
    // Their capitals where they are not ASCII (the automaton folds ASCII letters only).
    "lÖsenord",
    "hasŁo",
    // Russian, Japanese, Chinese, Korean and Turkish, in the cases they are written in.
    "пароль",
    "Пароль",
    "ПАРОЛЬ",
    "パスワード",
    "密码",
    "密碼",
    "비밀번호",
    "şifre",
    "Şifre",
];

/// More "password" words in ASCII, each both a name word ([`name_words`]) and a password
/// word ([`PASSWORD_WORDS`]' list): Italian, Romanian and Turkish; Turkish without its
/// cedilla; Hungarian without its accent; Danish and Norwegian; Estonian; Croatian,
/// Serbian and Bosnian; Slovene.
const MORE_PASSWORD_WORDS: &[&str] = &[
    "parola",
    "sifre",
    "jelszo",
    "adgangskode",
    "kodeord",
    "parool",
    "lozinka",
    "geslo",
];

/// "Password" in the languages the gateway sees most, so `Passwort=…` or `"senha": …` is
/// read like `password=…` (lower case; names are compared lower-cased).
const PASSWORD_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passwort",
    "kennwort",
    "wachtwoord",
    "senha",
    "contrasena",
    "contraseña",
    "motdepasse",
    "mot_de_passe",
    "losenord",
    "lösenord",
    "passord",
    "salasana",
    "haslo",
    "hasło",
    "heslo",
    // Java's keytool and jarsigner flags (`-storepass`, `-keypass`).
    "storepass",
    "keypass",
    "пароль",
    "パスワード",
    "密码",
    "密碼",
    "비밀번호",
    "şifre",
];

/// How strong the name is as evidence.
#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Name {
    Password,
    Authorization,
    Other,
    /// Only `key` (`STRIPE_KEY`, `"key": …`): cache keys and map keys share the name, so the
    /// value must be plainly machine-made.
    Key,
}

/// Names that hold counts, kinds or places, not values: a name containing one of these
/// (or ending in `_id`) is not a secret's name.
const NOT_SECRET_NAMES: &[&str] = &[
    "tokens",
    "token_count",
    "_count",
    "_limit",
    "_len",
    "_length",
    "_size",
    "_type",
    "_file",
    "_path",
    "_url",
    "_uri",
    "_endpoint",
    "_name",
    "_field",
    "_header",
    "tokenizer",
    "author",
    "keyword",
    "keyboard",
    "keys",
    "_id_",
    "monkey",
    "hotkey",
    "keyspace",
    "passenger",
    "passage",
    "compass",
    "bypass",
    "passport",
    "pass_through",
    "_expires",
    "_expiry",
    "_ttl",
    "_at",
    // Words that hold one of the names (`secretary`), and settings about a secret
    // rather than the secret (`password_policy`, `secret_arn`: an ARN names it).
    "secretar",
    "_policy",
    "_hint",
    "_rules",
    "_reset",
    "_arn",
    "_version",
    "_format",
    "_algorithm",
    "_strength",
    // Words that hold `clave` without being one.
    "enclave",
    "autoclave",
    "conclave",
    // Cursors: a page, sync or delta position, not a credential (`next_page_token`,
    // `$skiptoken=` in a Graph URL).
    "page_token",
    "pagetoken",
    "next_token",
    "nexttoken",
    "sync_token",
    "synctoken",
    "skip_token",
    "skiptoken",
    "delta_token",
    "deltatoken",
    "resume_token",
    "resumetoken",
    "starting_token",
    "pagination",
    "continuation",
    "cursor",
];

/// What makes a `…_key` a secret's name rather than a cache, map or object key
/// (`encryption_key`, `webhookSigningKey`, `OCP_APIM_SUBSCRIPTION_KEY`): the word right
/// before `key`. Not `session`, `storage` or `account`: those name cache entries and
/// object paths as often as credentials.
const SECRET_KEY_QUALIFIERS: &[&str] = &[
    "encryption",
    "decryption",
    "signing",
    "hmac",
    "aes",
    "cipher",
    "crypto",
    "master",
    "root",
    "admin",
    "app",
    "client",
    "consumer",
    "license",
    "licence",
    "subscription",
    "shared",
    "jwt",
    "webhook",
    "totp",
    "otp",
    "mfa",
    "sas",
    "primary",
    "secondary",
];

/// Words that make a name a secret's (`DB_SECRET`, `x-api-key`, `aws_access_key_id`).
const SECRET_NAMES: &[&str] = &[
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "access-key",
    "privatekey",
    "private_key",
    "credential",
    "bearer",
];

/// The word lists a name is classified by, as one automaton over the lower-cased name
/// (it replaced ~80 substring searches per name, each setting up its own searcher).
pub(crate) struct NameWords {
    words: AhoCorasick,
    /// Per pattern: which lists it is in (`AUTHORIZATION`, `NOT`, `PASSWORD`, `SECRET`).
    lists: Vec<u8>,
}

const AUTHORIZATION: u8 = 1;
const NOT: u8 = 2;
const PASSWORD: u8 = 4;
const SECRET_NAME: u8 = 8;

impl NameWords {
    pub(crate) fn new() -> Result<NameWords, String> {
        let mut lists: Vec<(&str, u8)> = Vec::new();
        let lists_of = [
            (&["authorization"][..], AUTHORIZATION),
            (NOT_SECRET_NAMES, NOT),
            (PASSWORD_WORDS, PASSWORD),
            (MORE_PASSWORD_WORDS, PASSWORD),
            (SECRET_NAMES, SECRET_NAME),
            (LATIN_SECRET_NAMES, SECRET_NAME),
            (OTHER_SCRIPT_SECRET_NAMES, SECRET_NAME),
        ];
        for (words, list) in lists_of {
            for w in words {
                match lists.iter_mut().find(|(known, _)| known == w) {
                    Some((_, bits)) => *bits |= list,
                    None => lists.push((w, list)),
                }
            }
        }
        let words = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(lists.iter().map(|(w, _)| *w))
            .map_err(|e| e.to_string())?;
        Ok(NameWords {
            words,
            lists: lists.into_iter().map(|(_, bits)| bits).collect(),
        })
    }

    /// Which lists have a word in `lower` (every occurrence of every word counts).
    fn lists_in(&self, lower: &str) -> u8 {
        self.words
            .find_overlapping_iter(lower)
            .filter_map(|m| self.lists.get(m.pattern().as_usize()))
            .fold(0, |acc, bits| acc | bits)
    }

    /// Whether a lower-case name holds a word that makes it name no secret.
    fn says_not(&self, lower: &str) -> bool {
        self.lists_in(lower) & NOT != 0 || lower.ends_with("_id")
    }

    fn classify(&self, name: &str) -> Option<Name> {
        // Unicode lower case: `CONTRASEÑA` and `HASŁO` read as the words they are.
        let lower = name.to_lowercase();
        let lower = lower.trim_start_matches('-');
        let lists = self.lists_in(lower);
        if lists & AUTHORIZATION != 0 {
            return Some(Name::Authorization);
        }
        // `_id_` in the list is `_id` inside a name (`key_id_list`); one ending in `_id`
        // (`api_key_id`) names an identifier too.
        if lists & NOT != 0 || lower.ends_with("_id") {
            return None;
        }
        if lists & PASSWORD != 0 {
            return Some(Name::Password);
        }
        // `pass` only as a whole part (`DB_PASS`, `pass:`), not inside words.
        let parts = || lower.split(['_', '-', '.']);
        if parts().any(|p| p == "pass" || p == "passphrase" || p == "pw") {
            return Some(Name::Password);
        }
        let camel_key = name.ends_with("Key") || name.ends_with("KEY");
        if lists & SECRET_NAME != 0
            || parts().any(|p| p == "auth")
            || lower.starts_with("auth")
            || lower.ends_with("auth")
        {
            return Some(Name::Other);
        }
        if parts().any(|p| p == "key") || camel_key || lower.ends_with("key") {
            // `ENCRYPTION_KEY`, `webhookSigningKey`, `ocp-apim-subscription-key`: a key
            // whose qualifier says it is a secret names one as `token` does.
            let stem = lower
                .strip_suffix("key")
                .unwrap_or(lower)
                .trim_end_matches(['_', '-', '.']);
            if SECRET_KEY_QUALIFIERS.iter().any(|q| stem.ends_with(q)) {
                return Some(Name::Other);
            }
            return Some(Name::Key);
        }
        None
    }
}

/// Whether a char may be part of a name (`X-Api-Key`, `db.password`, `--token`,
/// `contraseña`, `hasło`): letters of any script, ASCII digits, `_`, `-`, `.`.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') || !c.is_ascii() && c.is_alphabetic()
}

/// Checks one assignment whose name contains a secret word found at `hit`. Returns where
/// the next name may start: the end of this one (other words of the same name are not
/// asked again), or of the secret found after it (names inside a redacted value neither).
pub(crate) fn assignment(text: &str, hit: usize, names: &NameWords, out: &mut Vec<Hit>) -> usize {
    let b = text.as_bytes();
    let mut s = hit;
    while let Some(c) = text::char_before(text, s).filter(|c| name_char(*c)) {
        s -= c.len_utf8();
    }
    let mut e = hit;
    while let Some(c) = text::char_at(text, e).filter(|c| name_char(*c)) {
        e += c.len_utf8();
    }
    // `.` ends a sentence more often than it joins a name.
    while e > hit && b.get(e - 1) == Some(&b'.') {
        e -= 1;
    }
    let name_end = e;
    let Some(name) = text.get(s..e) else {
        return name_end;
    };
    // Inside an Amazon Resource Name (`arn:aws:secretsmanager:…:secret:prod/db`), the
    // words name services and resource types, not settings.
    // (Looked for within 256 bytes: a body of `key=key=…` asks at every name.)
    let from = text::floor(text, s.saturating_sub(256));
    let in_arn = text.get(from..s).is_some_and(|before| {
        let token = before
            .rfind(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '=' | ','))
            .map_or(before, |i| before.get(i + 1..).unwrap_or_default());
        token
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("arn:"))
    });
    // Only where the name is one of the ARN's `:`-separated parts: `arn:password=…` is an
    // assignment whatever comes before it.
    if in_arn && b.get(e) == Some(&b':') {
        return name_end;
    }
    let cli = name.starts_with("--");
    // The separator: closing quote, spaces, then `=`, `:`, `:=`, `=>`, or for CLI flags a
    // space.
    let mut i = e;
    // A quoted name (`"API_KEY"`, `key="AppSecret"`): its quotes on both sides.
    let quoted_name =
        matches!(b.get(i), Some(q @ (b'"' | b'\'')) if s > 0 && b.get(s - 1) == Some(q));
    if matches!(b.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    // JSON may break a line anywhere between a member's name and its value.
    let json_name = quoted_name && b.get(e) == Some(&b'"');
    let space = |c: Option<&u8>| match c {
        Some(b' ' | b'\t') => true,
        Some(b'\r' | b'\n') => json_name,
        _ => false,
    };
    while space(b.get(i)) {
        i += 1;
    }
    // Besides `=` and `:`, two forms pair a quoted name with a quoted value: string
    // arguments (`os.getenv("API_KEY", "…")`, `headers.set("X-Api-Key", "…")`) and
    // key/value attributes (`<add key="AppSecret" value="…" />`).
    let mut pair = false;
    // `"name": "…"` is JSON (a tool result, a config file pasted into a prompt): judged as
    // a string under its key in parsed data is, so JSON reads the same wherever it is.
    let json_member = json_name && b.get(i) == Some(&b':') && b.get(i + 1) != Some(&b'=');
    // String arguments open a call: `f("API_KEY", "…")`, not a list (`["refresh_token",
    // "authorization_code"]`) or a JSON object's next member.
    let in_call = text
        .get(..s.saturating_sub(1))
        .is_some_and(|before| before.trim_end_matches([' ', '\t']).ends_with('('));
    match (b.get(i), b.get(i + 1)) {
        (Some(b':'), Some(b'=')) | (Some(b'='), Some(b'>')) => i += 2,
        (Some(b'=' | b':'), _) => i += 1,
        (Some(b','), _) if quoted_name && in_call => {
            i += 1;
            pair = true;
        }
        _ if quoted_name
            && text
                .get(i..i + 6)
                .is_some_and(|w| w.eq_ignore_ascii_case("value="))
            && text::word_start(text, i) =>
        {
            i += 6;
            pair = true;
        }
        _ if cli && i > e => {}
        _ => return name_end,
    }
    // Classified only now: most secret words in prose (`the token expired`) have no
    // separator after them, and classifying the name is the dearest step before this.
    let Some(strength) = names.classify(name) else {
        return name_end;
    };
    while space(b.get(i)) {
        i += 1;
    }
    let quote = match b.get(i) {
        Some(q @ (b'"' | b'\'' | b'`')) => {
            i += 1;
            Some(*q)
        }
        _ if pair => return name_end,
        _ => None,
    };
    // A value is judged on its first 512 bytes (a body of `key=key=…` asks at every
    // name); a secret found is redacted to its real end (`whole`), however long.
    let value_end = |from: usize, cap: usize| {
        let mut j = from;
        while let Some(&c) = b.get(j) {
            // An escaped character is part of a quoted value (`"a\"b"`), not its end.
            if c == b'\\' && quote.is_some() && j - from <= cap {
                j += 2;
                continue;
            }
            let stop = match quote {
                Some(q) => c == q || c == b'\n',
                None => {
                    c.is_ascii_whitespace()
                        || matches!(c, b'"' | b'\'' | b',' | b';' | b')' | b'}' | b']' | b'\\')
                }
            };
            if stop || j - from > cap {
                break;
            }
            j += 1;
        }
        // Cut at a character's start: a cap may fall inside a non-ASCII letter.
        text::floor(text, j)
    };
    if json_member && quote == Some(b'"') {
        // The string to its closing quote, escapes and all (`a\"b` is one value: cut at the
        // escape, its tail went upstream); one never closed is left to the text rule.
        let j = value_end(i, usize::MAX);
        if let Some(value) = text.get(i..j).filter(|_| b.get(j) == Some(&b'"')) {
            if let Some((vs, ve)) = named_value(names, name, value) {
                out.push(Hit::new(i + vs, i + ve, SECRET));
                return name_end.max(i + ve);
            }
            return name_end;
        }
    }
    let whole = |from: usize, judged: usize| {
        if judged - from > 500 {
            value_end(from, usize::MAX)
        } else {
            judged
        }
    };
    let mut vs = i;
    let mut ve = value_end(vs, 512);
    // Code and withheld-value marks written unquoted (`getpass()`, `request.form["pw"]`,
    // `(sensitive value)`) stop at their first `)`, `"` or space, which left `getpass(`
    // to be judged as a password: read to where their brackets close, they are not
    // secrets. Otherwise the value is judged as it stands.
    // The string literals on such a line are still values of the name: an argument
    // (`hash_password("S")`, `config("KEY", default="S")`), a fallback (`getpass() or
    // "S"`), a new value (`(sensitive value) -> "S"`).
    if quote.is_none() {
        let closed = bracketed_end(b, vs, ve);
        if closed != ve {
            let before = out.len();
            literals_on_line(text, vs, strength, out);
            let code = text
                .get(vs..closed)
                .is_some_and(|v| code_like(v) || placeholder(v));
            if code || out.len() > before {
                return out.iter().map(|h| h.end).fold(name_end, usize::max);
            }
        }
    }
    if strength == Name::Authorization || name.eq_ignore_ascii_case("auth") {
        // `Bearer <token>`: the credential follows the scheme.
        let word = text.get(vs..ve).unwrap_or_default();
        if ["bearer", "basic", "token", "bot", "digest", "apikey"]
            .iter()
            .any(|w| word.eq_ignore_ascii_case(w))
        {
            vs = ve;
            while matches!(b.get(vs), Some(b' ')) {
                vs += 1;
            }
            ve = value_end(vs, 512);
        }
        let Some(v) = text.get(vs..ve) else {
            return name_end;
        };
        // `auth = HTTPBasicAuth(user, pw)`, `auth=publickey` in an ssh log: code and a
        // method's name, not a credential.
        if v.len() >= 8 && !placeholder(v) && !code_like(v) {
            let end = whole(vs, ve);
            out.push(Hit::new(vs, end, SECRET));
            return name_end.max(end);
        }
        return name_end;
    }
    // An unquoted value ending in `.` ends a sentence.
    if quote.is_none() {
        while ve > vs && matches!(b.get(ve - 1), Some(b'.' | b':')) {
            ve -= 1;
        }
    }
    let Some(v) = text.get(vs..ve) else {
        return name_end;
    };
    if secret_value(v, strength) {
        let end = whole(vs, ve);
        out.push(Hit::new(vs, end, SECRET));
        // Names inside a secret found are inside what is redacted: not asked again (a
        // body of `auth=auth=…` read each one's value to the end of the text, 272 s for a
        // megabyte).
        return name_end.max(end);
    }
    // An unquoted value stops at a bracket, a comma or a quote, as prose and code end
    // one; a generated password may hold them (`DB_PASSWORD=GuF]DenLhi6X` in a `.env`
    // file, `password: 4u,W!(hUn8` in YAML), and its part before one is too short to be
    // judged. The whole token up to white space is judged too (its trailing `.`, `,`, `;`
    // and `:` aside, as a sentence ends).
    // Only where the value stopped at such a character (not at white space, nor at the
    // 512 bytes a value is judged on: `pwd=pwd=…` would read 512 more bytes per name).
    let stopped_inside = matches!(
        b.get(ve),
        Some(b'"' | b'\'' | b',' | b';' | b')' | b'}' | b']' | b'\\')
    ) && ve - vs <= 512;
    if quote.is_none() && stopped_inside {
        let run = b
            .get(vs..)
            .unwrap_or_default()
            .iter()
            .take(512)
            .take_while(|c| !c.is_ascii_whitespace())
            .count();
        let token = text
            .get(vs..text::floor(text, vs + run))
            .unwrap_or_default()
            .trim_end_matches(['.', ',', ';', ':']);
        // Not structure (`{"sensitive": true}` after `"db_password":`) nor code closing a
        // call (`password=db_password)`).
        let structure = token.starts_with(['{', '[', '(']) || token.contains(['"', '\'', '`']);
        let code = identifier_like(token.trim_end_matches([')', ']', '}']));
        if token.len() > v.len() && !structure && !code && secret_value(token, strength) {
            out.push(Hit::new(vs, vs + token.len(), SECRET));
            return name_end.max(vs + token.len());
        }
    }
    // A value that is code or a type (`password: str = "S"`, `process.env.X || "S"`,
    // `const password: string = "S"`): the quoted strings after it on the line are the
    // name's value.
    let rest_of_line = b.get(ve..b.len().min(ve + 512)).unwrap_or_default();
    let rest_of_line = rest_of_line
        .get(..memchr::memchr(b'\n', rest_of_line).unwrap_or(rest_of_line.len()))
        .unwrap_or_default();
    if quote.is_none() && memchr::memchr3(b'"', b'\'', b'`', rest_of_line).is_some() && code_like(v)
    {
        let before = out.len();
        literals_on_line(text, ve, strength, out);
        if out.len() > before {
            return out.iter().map(|h| h.end).fold(name_end, usize::max);
        }
    }
    name_end
}

/// How much of a string held under a key is judged. Credentials are rarely past 4 KB,
/// but a session token, a SAML assertion or a JWT with many claims can be (a review's
/// 4,268-character `session_token` was forwarded when this was a limit on the value); a
/// longer value is judged on this much and, found, reported whole, so padding hides
/// nothing.
const NAMED_VALUE_MAX: usize = 64 * 1024;

/// Parts of a key that make it name something about a secret, or another thing altogether,
/// rather than the secret: pagination and sync cursors (`next_page_token`), hashes,
/// addresses, providers and schemes, public halves, timestamps, storage object keys.
/// Data is full of such keys; a text assignment is rarer and keeps the narrower list.
const NOT_SECRET_KEY_PARTS: &[&str] = &[
    "page",
    "next",
    "cursor",
    "continuation",
    "sync",
    "hash",
    "digest",
    "address",
    "provider",
    "scheme",
    "method",
    "endpoint",
    "issuer",
    "public",
    "last",
    "changed",
    "created",
    "updated",
    "object",
    "partition",
    "sort",
    "s3",
    "file",
    "mint",
    "fingerprint",
    "format",
    "kind",
    "name",
    "type",
    "id",
    "url",
    "uri",
    "path",
    "count",
    "length",
    "size",
    "limit",
    "expires",
    "expiry",
    "policy",
    "hint",
    "version",
    "status",
    "model",
    "project",
    "group",
    "location",
    "request",
    "state",
    "ref",
    "reference",
    "context",
    "instructions",
    "existing",
];

/// Last parts of a data key that name what the value is when it is not the secret the
/// words before it name (`token_account`, `secret_owner`, `token_program`).
const NOT_SECRET_LAST_PARTS: &[&str] = &[
    "account", "accounts", "mint", "owner", "program", "balance", "amount", "decimals", "symbol",
    "supply", "holder", "contract", "standard",
];

/// Schemes an `Authorization` value starts with; the credential is what follows.
const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "token", "bot", "digest", "apikey"];

/// A string held directly under an object key (`{"api_key": "…"}` in tool-call
/// arguments, metadata, an unknown field): the key is its name and the whole string
/// (trimmed) its value. Data keys are more varied than names in text, so this is
/// narrower than [`assignment`]: camelCase keys are read as snake_case
/// (`passwordPolicy` is `password_policy`), keys with a part of
/// [`NOT_SECRET_KEY_PARTS`] and a bare `key` (stores, maps, objects) name no secret, and
/// URLs, URNs, ARNs, paths, dates, `env:`/`${…}` references, contract addresses and text
/// with spaces are not credentials; an `Authorization` value is judged after its scheme
/// (`Bearer …`). Returns the secret's range in `value`.
pub(crate) fn named_value(names: &NameWords, key: &str, value: &str) -> Option<(usize, usize)> {
    if value.len() < 8 {
        return None;
    }
    let lower = key.to_lowercase();
    let key = snake_case(key);
    // A key's last part says what the value is: `token_account`, `token_mint`,
    // `token_owner` hold an account, a mint and an owner, not a token.
    let last = key.rsplit(['_', '-', '.']).next().unwrap_or_default();
    if NOT_SECRET_LAST_PARTS.contains(&last) {
        return None;
    }
    // Plurals too: a list of ids (`token_ids`, `secret_names`) is no more a secret.
    let not_secret = |p: &str| NOT_SECRET_KEY_PARTS.contains(&p);
    if key.split(['_', '-', '.']).any(|p| {
        not_secret(p)
            || p.strip_suffix('s').is_some_and(not_secret)
            || p.strip_suffix("es").is_some_and(not_secret)
    }) {
        return None;
    }
    // `PaSsWoRd` read as camelCase is `pa_ss_wo_rd`: a key in mixed case is read whole too,
    // unless its parts already said it names no secret (`apiKeyHeader`).
    let strength = match names.classify(&key) {
        Some(strength) => strength,
        None if !names.says_not(&key) => names.classify(&lower)?,
        None => return None,
    };
    if strength == Name::Key {
        return None;
    }
    let start = value.len() - value.trim_start().len();
    let v = value.trim();
    // Judged on its first 64 KB; a longer one found is reported whole.
    let judged = v.get(..text::floor(v, NAMED_VALUE_MAX)).unwrap_or(v);
    // `Bearer …`, `Basic …`: the credential after the scheme is judged; the whole value
    // is the secret. Without a scheme, an authorization value is judged as a token is.
    let scheme = judged
        .split_once(' ')
        .filter(|(scheme, _)| AUTH_SCHEMES.iter().any(|s| scheme.eq_ignore_ascii_case(s)));
    let (credential, strength) = match scheme {
        Some((_, rest)) if strength == Name::Authorization || key.contains("auth") => {
            (rest.trim_start(), Name::Authorization)
        }
        _ if strength == Name::Authorization => (judged, Name::Other),
        _ => (judged, strength),
    };
    // Words: the first is judged, as a value in text is (`S and a note`, `S` then padding,
    // are S; a password's instructions start with an ordinary word). The whole value is
    // the secret.
    // A withheld value's mark is words, and its first word alone is not the mark:
    // `(sensitive value)` is judged whole.
    if placeholder(credential) {
        return None;
    }
    let credential = credential.split_whitespace().next().unwrap_or_default();
    if !credential_shaped(credential) {
        return None;
    }
    let found = if strength == Name::Authorization {
        credential.len() >= 8 && !placeholder(credential)
    } else {
        secret_value(credential, strength)
    };
    found.then_some((start, start + v.len()))
}

/// `nextPageToken`, `API_KEY`, `x-api-key` → `next_page_token`, `api_key`, `x-api-key`:
/// lower case, with `_` where a lower-case letter or digit meets a capital.
fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev_lower = false;
    for c in key.chars() {
        if c.is_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        out.extend(c.to_lowercase());
    }
    out
}

/// Whether a value held under a secret's key could be the credential: not a URL, a URN,
/// an ARN, a resource or file path (`/` with `-` or `.`, which base64 never has), a date or
/// time, a reference to an environment variable, a hex contract address, or words with
/// spaces (a password's instructions as much as a passphrase: data can say either).
fn credential_shaped(v: &str) -> bool {
    let b = v.as_bytes();
    let date = b.len() >= 10
        && b.iter().take(10).enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    let lower = v.get(..4).map(str::to_ascii_lowercase).unwrap_or_default();
    let reference = matches!(lower.as_str(), "arn:" | "env:" | "urn:") || v.starts_with("${");
    let path = v.starts_with("./")
        || v.starts_with("../")
        || v.starts_with("~/")
        || v.contains('/') && (v.contains('-') || v.contains('.')) && !v.contains('+');
    let address =
        b.len() == 42 && v.starts_with("0x") && b.iter().skip(2).all(u8::is_ascii_hexdigit);
    !(date || reference || path || address || v.contains(char::is_whitespace) || v.contains("://"))
}

/// The value policy of the module doc.
/// The checks run cheapest first (the character classes, then entropy, then the
/// placeholder and code searches): a body dense with names (`key=key=…`) asks about a
/// value of up to 512 bytes every few bytes, and most such values fail a class check.
fn secret_value(v: &str, strength: Name) -> bool {
    if v.len() < 8 {
        return false;
    }
    let lower = v.bytes().any(|c| c.is_ascii_lowercase());
    let upper = v.bytes().any(|c| c.is_ascii_uppercase());
    let digit = v.bytes().any(|c| c.is_ascii_digit());
    let symbol = v.bytes().any(|c| !c.is_ascii_alphanumeric());
    let classes = [lower, upper, digit, symbol].iter().filter(|x| **x).count();
    let shaped = match strength {
        Name::Password => {
            (digit || symbol) && (lower || upper) && classes >= 2 && entropy(v) >= 2.5
                || v.len() >= 12 && classes >= 2 && entropy(v) >= 3.0
        }
        Name::Key => {
            v.len() >= 20
                && digit
                && (lower || upper)
                && !v.contains([':', ' '])
                && entropy(v) >= 3.5
        }
        Name::Authorization | Name::Other => {
            v.len() >= 12
                && (digit || (symbol && classes >= 3) || (lower && upper && v.len() >= 20))
                // Digits only: a short number is an id, not a key.
                && (!digit || lower || upper || v.len() >= 16)
                && entropy(v) >= 3.0
        }
    };
    shaped && !placeholder(v) && !code_like(v)
}

/// Whether `p` is spelled like a code identifier: letters, digits and `_`, starting with a
/// letter or `_`, in one case (`password`, `API_KEY`) or camelCase (each capital followed by a
/// lower-case letter), no letter right after a digit.
fn identifier_like(p: &str) -> bool {
    let b = p.as_bytes();
    let starts_ok = b
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
    let chars_ok = b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    let lower = b.iter().any(u8::is_ascii_lowercase);
    let upper = b.iter().any(u8::is_ascii_uppercase);
    let camel = b.windows(2).all(|w| match w {
        [x, y] if x.is_ascii_uppercase() && y.is_ascii_alphabetic() => y.is_ascii_lowercase(),
        _ => true,
    });
    let no_digit_letter = b
        .windows(2)
        .all(|w| !matches!(w, [x, y] if x.is_ascii_digit() && y.is_ascii_alphabetic()));
    starts_ok && chars_ok && (!(lower && upper) || camel) && no_digit_letter
}

/// Member access as other languages write it, written with dots: PHP's
/// `$request->input(…)`, Rust's `String::from_utf8(buf)?`, Ruby's `user&.name`,
/// JavaScript's `a?.b`.
fn dotted(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['$', '>', ':', '&', '?']) {
        return std::borrow::Cow::Borrowed(v);
    }
    std::borrow::Cow::Owned(
        v.trim_start_matches('$')
            .replace("->", ".")
            .replace("::", ".")
            .replace("&.", ".")
            .replace("?.", ".")
            .replace(")?", ")"),
    )
}

/// Code, not a value: `args.password`, `getpass()`, `config["x"]`, a URL, a path.
fn code_like(v: &str) -> bool {
    if v.contains("://") {
        return true;
    }
    let v = &*dotted(v);
    let b = v.as_bytes();
    // A path has more than one segment or is written as paths are (`/etc/app`, `/run/x.sock`);
    // a base64 key may just start with `/`.
    let path = v.starts_with('/')
        && (v.get(1..).is_some_and(|r| r.contains('/'))
            || b.iter().all(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, b'/' | b'_' | b'-' | b'.')
            }));
    if call_or_index(v) || call_chain(v) || path || v.contains("://") {
        return true;
    }
    // Dotted identifiers: `self.password`, `settings.API_KEY`, `cfg.dbPassword` — each part
    // written as code is written (one case, or camelCase), not a random mix of cases and
    // digits (`vHYDndCjFMzDvh.wVyjxmR8FU7s75us7` is a token with a dot in it).
    let dotted = v.contains('.') && v.split('.').all(identifier_like);
    // snake/kebab-case words: `db-credentials`, `my_secret_name`.
    let wordy = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || matches!(c, b'_' | b'-'));
    dotted || wordy
}

/// `getpass()`, `os.getenv('KEY')`, `config["x"]`, `secrets[API_KEY]`: a name, then a
/// bracket the value closes. A random password's `(` or `[` (`4u&W!(hUn8`, `[sTU&}]0zb[`)
/// is neither.
fn call_or_index(v: &str) -> bool {
    let b = v.as_bytes();
    let trimmed = v.trim_end_matches([';', ' ']);
    let end = trimmed.as_bytes().last().copied();
    b.iter().enumerate().any(|(i, c)| {
        let close = match c {
            b'(' => b')',
            b'[' => b']',
            _ => return false,
        };
        // What the brackets hold is written as code is (`'API_KEY'`, `"db"]["password"`),
        // so a random value wrapped as `f(…)` or `x[…]` is still judged.
        let inside = trimmed.get(i + 1..trimmed.len().saturating_sub(1));
        i > 0
            && b.get(i - 1)
                .is_some_and(|p| p.is_ascii_alphanumeric() || matches!(p, b'_' | b'.'))
            && end == Some(close)
            && inside.is_some_and(|w| code_bytes(w) && words_only(w))
    })
}

/// `document.getElementById('password').value`, `Token.objects.create(user=user)`,
/// `DefaultAzureCredential()`, `Yup.string().min(8, 'Too short')`: names joined by dots
/// with calls or indexes among them, each holding only words ([`words_only`]; a number
/// alone counts too) or nothing. What is left once they are taken out must be names
/// written as code is: a random value wrapped as `f(…)` is not a call chain.
fn call_chain(v: &str) -> bool {
    if !v.contains(['(', '[']) {
        return false;
    }
    let v = v.trim_end_matches([';', ',', '?']);
    let mut rest = String::with_capacity(v.len());
    let (mut depth, mut group_start, mut groups) = (0usize, 0usize, 0usize);
    for (i, c) in v.char_indices() {
        match c {
            '(' | '[' => {
                if depth == 0 {
                    group_start = i + 1;
                }
                depth += 1;
            }
            ')' | ']' => {
                let Some(d) = depth.checked_sub(1) else {
                    return false;
                };
                depth = d;
                if depth == 0 {
                    let inside = v.get(group_start..i).unwrap_or_default();
                    let number = !inside.is_empty() && inside.bytes().all(|b| b.is_ascii_digit());
                    if !(inside.trim().is_empty() || number || words_or_calls(inside)) {
                        return false;
                    }
                    groups += 1;
                }
            }
            _ if depth == 0 => rest.push(c),
            _ => {}
        }
    }
    depth == 0
        && groups > 0
        && !rest.is_empty()
        && rest.split('.').all(|p| {
            p.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// Only what code puts between a call's brackets: names, numbers, quotes, commas, `=`,
/// `=>`, `:`, `-`, dots and brackets. A generated password's `}`, `@`, `#`, `*` or `!`
/// (`J(dxte}7=Xa@hxi)`, `?MO(TQ*O.[}PQIG)`) is not.
fn code_bytes(s: &str) -> bool {
    s.bytes().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'_' | b' '
                    | b','
                    | b'.'
                    | b'\''
                    | b'"'
                    | b'='
                    | b'>'
                    | b':'
                    | b'-'
                    | b'('
                    | b')'
                    | b'['
                    | b']'
            )
    })
}

/// What a call in a chain may hold: words, numbers and other calls
/// (`password.encode(), bcrypt.gensalt()`, `8, 'Too short'`, `state => state.auth.token`).
fn words_or_calls(s: &str) -> bool {
    code_bytes(s)
        && s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .all(|w| identifier_like(w) || w.bytes().all(|b| b.is_ascii_digit()))
}

/// Where an unquoted value written as code ends: `getpass()`, `request.form["password"]`,
/// `hash_password(raw)`, `(sensitive value)` stop at their first `)`, `"` or space, which
/// left `getpass(` to be judged as a password (a symbol and letters). A value that starts
/// as a name (or a bracket) and opens a bracket runs to where its brackets close, quotes
/// inside them included, within the 512 bytes a value is judged on; otherwise, or if they
/// never close on the line, `end` stands.
fn bracketed_end(b: &[u8], start: usize, end: usize) -> usize {
    let value = b.get(start..end).unwrap_or_default();
    let Some(open) = value.iter().position(|c| matches!(c, b'(' | b'[')) else {
        return end;
    };
    // A name, a member chain in any language's notation (`$request->input`,
    // `String::from_utf8`, `user&.name`), or nothing (`(sensitive value)`).
    let head = value.get(..open).unwrap_or_default();
    if !head.iter().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, b'_' | b'.' | b'$' | b'-' | b'>' | b':' | b'&' | b'?')
    }) {
        return end;
    }
    let (mut depth, mut quote, mut i) = (0usize, None, start);
    while let Some(&c) = b.get(i) {
        if i - start > 512 || c == b'\n' {
            return end;
        }
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'' | b'`') if depth > 0 => quote = Some(c),
            (None, b'(' | b'[' | b'{') => depth += 1,
            (None, b')' | b']' | b'}') => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => break,
            },
            (None, _)
                if depth == 0
                    && (c.is_ascii_whitespace() || matches!(c, b',' | b';' | b'"' | b'\'')) =>
            {
                break
            }
            _ => {}
        }
        i += 1;
    }
    if depth == 0 && quote.is_none() {
        i
    } else {
        end
    }
}

/// Judges each quoted string on the line from `from` (within 512 bytes) as a value of a
/// name of `strength`: not names and words (`"DB_PASSWORD"`, `'Too short'`, `"Password: "`),
/// which code passes to calls around a secret's name.
fn literals_on_line(text: &str, from: usize, strength: Name, out: &mut Vec<Hit>) {
    let b = text.as_bytes();
    let end = text::floor(text, (from + 512).min(b.len()));
    let line_end = b
        .get(from..end)
        .and_then(|l| memchr::memchr(b'\n', l))
        .map_or(end, |i| from + i);
    let mut i = from;
    while let Some(&q) = b.get(i).filter(|_| i < line_end) {
        if !matches!(q, b'"' | b'\'' | b'`') {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < line_end && b.get(j) != Some(&q) {
            j += if b.get(j) == Some(&b'\\') { 2 } else { 1 };
        }
        if j >= line_end {
            return;
        }
        if let Some(lit) = text.get(i + 1..j) {
            let judged = lit.trim().trim_end_matches(':');
            let plain = judged
                .bytes()
                .all(|c| c.is_ascii_alphabetic() || matches!(c, b' ' | b'_' | b'-' | b'.'));
            // Words with spaces are prose (`"Hello world 123"` to a tokenizer).
            let prose = judged.contains(' ');
            if !plain && !prose && !identifier_like(judged) && secret_value(judged, strength) {
                out.push(Hit::new(i + 1, j, SECRET));
            }
        }
        i = j + 1;
    }
}

/// `(sensitive value)`, `[FILTERED]`, `[hidden]`: words in brackets, as tools print a
/// value they withhold (Terraform, Rails' parameter filter). A generated password's
/// brackets (`[sTU&}]0zb[`) hold more than words.
fn bracketed_words(value: &str) -> bool {
    let inner = match value.as_bytes() {
        [b'(', .., b')'] | [b'[', .., b']'] => value.get(1..value.len() - 1),
        _ => None,
    };
    inner.is_some_and(|w| {
        w.bytes().any(|c| c.is_ascii_alphabetic())
            && w.bytes()
                .all(|c| c.is_ascii_alphabetic() || matches!(c, b' ' | b'_' | b'-'))
    })
}

/// One character repeated (`********`, `●●●●●●●●`, a masked value).
fn one_repeated_char(value: &str) -> bool {
    let mut chars = value.chars();
    let first = chars.next();
    chars.all(|c| Some(c) == first)
}

/// Whether `s` is only identifiers written as code or prose writes them (`API_KEY`,
/// `your api key`, `"db"]["password"`), between quotes, brackets, dots and spaces.
fn words_only(s: &str) -> bool {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .all(identifier_like)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find_assign(t: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let lower = t.to_ascii_lowercase();
        let mut skip = 0;
        let names = NameWords::new().unwrap();
        // In text order, as the engine hands the words over.
        let mut at: Vec<usize> = name_words()
            .flat_map(|w| lower.match_indices(w).map(|(i, _)| i).collect::<Vec<_>>())
            .collect();
        at.sort_unstable();
        for i in at {
            if i >= skip {
                skip = assignment(t, i, &names, &mut out);
            }
        }
        let mut v: Vec<&str> = out.iter().map(|h| &t[h.start..h.end]).collect();
        v.dedup();
        v
    }

    /// The full judgement of the generic `sk-` rule at `p`: its regex, then its check.
    fn sk_rule_accepts(text: &str, p: usize) -> bool {
        let Some(id) = RULES.iter().position(|r| r.literal == "sk-") else {
            return false;
        };
        let re = Regex::new(&format!("^(?:{})", RULES[id].pattern)).unwrap();
        let hay = text::window_after(text, p, RULES[id].reach);
        re.find(hay).is_some_and(|m| {
            let v = m.as_str();
            v.bytes().any(|b| b.is_ascii_digit()) && entropy(v) >= 3.0
        })
    }

    /// Every `sk-` the scan would try, in text order.
    fn sk_starts(text: &str) -> Vec<usize> {
        text.match_indices("sk-")
            .map(|(i, _)| i)
            .filter(|&i| text::word_start(text, i))
            .collect()
    }

    #[test]
    fn a_run_of_sk_is_settled_without_running_the_regex_at_every_occurrence() {
        // Each of these cost 512 bytes of regex per occurrence (a megabyte of the first,
        // a second of CPU); the counts settle every occurrence.
        for unit in ["sk-", "sk-1-", "sk-sk-12-", "sk-_-aA-"] {
            let text = unit.repeat(20_000);
            let mut run = BodyRun::default();
            let starts = sk_starts(&text);
            assert!(starts.len() >= 20_000);
            let settled = starts
                .iter()
                .filter(|&&p| run.rejects(text.as_bytes(), p, SK_REACH))
                .count();
            // The last few are too short for the pattern and left to the regex.
            assert!(
                settled + 8 >= starts.len(),
                "{unit}: {settled} of {}",
                starts.len()
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn the_sk_run_counts_settle_only_what_the_rule_rejects(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "sk-", "sk-proj-", "a", "b", "Z", "1", "7", "_", "-", " ", "é", ".",
                    "aaaaaaaa", "9x8Y7z6W5v4U3t2S1r0Q", "0123456789", "qwertyuiop",
                ]),
                0..300,
            )
        ) {
            let text: String = pieces.concat();
            let mut run = BodyRun::default();
            for p in sk_starts(&text) {
                if run.rejects(text.as_bytes(), p, SK_REACH) {
                    proptest::prop_assert!(!sk_rule_accepts(&text, p), "at {p} in {text:?}");
                }
            }
        }
    }

    #[test]
    fn only_the_literal_nearest_a_gap_is_joined_over_it() {
        let id = RULES.iter().position(|r| r.literal == "ghp_").unwrap();
        let text = format!("{}A1b2C3d4\nE5f6", "ghp_".repeat(10_000));
        let mut gap = GapOwner::default();
        let owners: Vec<usize> = (0..10_000)
            .map(|i| i * 4)
            .filter(|&at| gap.nearest(&text, at, id, &RULES[id]))
            .collect();
        assert_eq!(owners, vec![39_996]);
    }

    #[test]
    fn a_key_wrapped_after_copies_of_its_prefix_is_still_joined() {
        let engine = super::super::Engine::new().unwrap();
        let key = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
        let sk = "sk-proj-Q7fW2mK9xR4tL8vN3bH6cJ1dG5sA0eYz";
        for (glue, key) in [
            ("", key),
            ("ghp_", key),
            ("ghp_ghp_ghp_", key),
            ("sk-a ", sk),
        ] {
            let text = format!("token: {glue}{}\n    {}", &key[..16], &key[16..]);
            let mut hits = Vec::new();
            engine.find(&text, &mut hits);
            assert!(
                hits.iter().any(|h| h.kind == SECRET && h.end == text.len()),
                "{text:?}: {hits:?}"
            );
        }
    }

    #[test]
    fn a_key_after_a_long_run_of_sk_is_still_found() {
        let engine = super::super::Engine::new().unwrap();
        for glue in ["", "-", "_"] {
            let key = "sk-proj-Q7fW2mK9xR4tL8vN3bH6cJ1dG5sA0eYz";
            let text = format!("{}{glue}{key}", "sk-".repeat(5_000));
            let mut hits = Vec::new();
            engine.find(&text, &mut hits);
            assert!(
                hits.iter()
                    .any(|h| h.kind == SECRET && h.end == text.len() && h.start < text.len() - 30),
                "{glue:?}"
            );
        }
    }

    #[test]
    fn names_inside_a_secret_found_are_not_asked_again() {
        // Each `auth` here found the rest of the text as its value: asked at every name,
        // a megabyte took 272 s.
        let names = NameWords::new().unwrap();
        for unit in ["auth=", "password=", "AUTH="] {
            let text = format!("{}{}", unit.repeat(2_000), "Zx9$kQ2!mP7#");
            let mut out = Vec::new();
            let next = assignment(&text, 0, &names, &mut out);
            assert_eq!(out.len(), 1, "{unit}");
            assert_eq!(next, out[0].end, "{unit}");
            assert!(next > text.len() - 12, "{unit}: {next}");
        }
    }

    #[test]
    fn names_with_any_prefix_or_suffix() {
        for t in [
            "DB_PASSWORD: S3cure-Pa55!",
            "SESSION_SECRET=9f8e7d6c5b4a3f2e1d0c",
            "MAPS_API_KEY=Zq81mXvB77TTyQ0aLm2p",
            "sessionSecret = 'aB3$dE6^gH9*jK2'",
            "X-Api-Key: 0a1b2c3d4e5f6a7b8c9d",
            r#""client_secret": "Ab1Cd2Ef3Gh4Ij5Kl6""#,
            "export GITHUB_TOKEN=q8W3e5R7t9Y1u3I5o7P9",
            "--password=Tr0ub4dor&3",
            "--token 7Hq2Lm9Xp4Rt8Vw1",
            "Authorization: Bearer abcdefgh12345678",
            "STRIPE_KEY=Zq81mXvB77TTyQ0aLm2pWw3e",
            "Authorization: Basic dXNlcjpwYXNzd29yZA==",
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Tr4KE+",
        ] {
            assert_eq!(find_assign(t).len(), 1, "{t}");
        }
    }

    /// The ARN exemption is for the ARN's own parts: an assignment written after `arn:`
    /// is still one.
    /// The automaton classifies a name exactly as testing each word of the lists with
    /// `contains` does (the lists' meaning as written), on names made of the lists' own
    /// words, their look-alikes and case variants, joined every way a name joins parts.
    #[test]
    fn names_are_classified_as_the_word_lists_read() {
        fn by_substrings(name: &str) -> Option<Name> {
            let lower = name.to_lowercase();
            let lower = lower.trim_start_matches('-');
            let has = |list: &[&str]| list.iter().any(|w| lower.contains(w));
            if lower.contains("authorization") {
                return Some(Name::Authorization);
            }
            if NOT_SECRET_NAMES
                .iter()
                .any(|n| lower.contains(n) || lower.ends_with(n.trim_end_matches('_')))
            {
                return None;
            }
            let parts = || lower.split(['_', '-', '.']);
            if has(PASSWORD_WORDS)
                || has(MORE_PASSWORD_WORDS)
                || parts().any(|p| p == "pass" || p == "passphrase" || p == "pw")
            {
                return Some(Name::Password);
            }
            if has(SECRET_NAMES)
                || has(LATIN_SECRET_NAMES)
                || has(OTHER_SCRIPT_SECRET_NAMES)
                || parts().any(|p| p == "auth")
                || lower.starts_with("auth")
                || lower.ends_with("auth")
            {
                return Some(Name::Other);
            }
            let camel_key = name.ends_with("Key") || name.ends_with("KEY");
            if parts().any(|p| p == "key") || camel_key || lower.ends_with("key") {
                let stem = lower.strip_suffix("key").unwrap_or(lower);
                let stem = stem.trim_end_matches(['_', '-', '.']);
                if SECRET_KEY_QUALIFIERS.iter().any(|q| stem.ends_with(q)) {
                    return Some(Name::Other);
                }
                return Some(Name::Key);
            }
            None
        }
        let names = NameWords::new().unwrap();
        let mut pieces: Vec<String> = ["authorization", "pass", "passphrase", "auth", "key"]
            .iter()
            .chain(NOT_SECRET_NAMES)
            .chain(PASSWORD_WORDS)
            .chain(SECRET_NAMES)
            .chain(OTHER_SCRIPT_SECRET_NAMES)
            .chain(SECRET_KEY_QUALIFIERS)
            .chain(name_words().collect::<Vec<_>>().iter())
            .flat_map(|w| {
                let upper = w.to_uppercase();
                let cut = &w[..w
                    .char_indices()
                    .nth(w.chars().count() / 2)
                    .map_or(0, |c| c.0)];
                [w.to_string(), upper, cut.to_string(), format!("{w}s")]
            })
            .collect();
        pieces.extend(
            [
                "_", "-", ".", "--", "Key", "KEY", "id", "_id", "x", "db", "ö", "ł", "_at",
            ]
            .map(String::from),
        );
        let piece = proptest::sample::select(pieces);
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&proptest::collection::vec(piece, 1..6), |parts| {
                let name = parts.concat();
                proptest::prop_assert_eq!(names.classify(&name), by_substrings(&name), "{}", name);
                Ok(())
            })
            .unwrap();
        // Every word of the lists with every other, joined every way, with the prefixes and
        // suffixes names carry.
        let words: Vec<&str> = ["authorization", "pass", "passphrase", "auth", "key", "id"]
            .into_iter()
            .chain(NOT_SECRET_NAMES.iter().copied())
            .chain(PASSWORD_WORDS.iter().copied())
            .chain(SECRET_NAMES.iter().copied())
            .chain(OTHER_SCRIPT_SECRET_NAMES.iter().copied())
            .chain(SECRET_KEY_QUALIFIERS.iter().copied())
            .chain(name_words())
            .collect();
        for a in &words {
            for b in &words {
                for sep in ["", "_", "-", "."] {
                    let name = format!("{a}{sep}{b}");
                    assert_eq!(names.classify(&name), by_substrings(&name), "{name}");
                }
            }
            for (pre, suf) in [
                ("", ""),
                ("--", ""),
                ("DB_", "_ID"),
                ("x", "Key"),
                ("", "_id"),
            ] {
                let name = format!("{pre}{a}{suf}");
                assert_eq!(names.classify(&name), by_substrings(&name), "{name}");
            }
        }
    }

    #[test]
    fn an_arn_prefix_does_not_hide_an_assignment() {
        for t in [
            "arn:password=Xk9!mQ2#vL8pWz",
            "arn:aws:iam::123456789012:api_key=Zq8xW3vN7pL2mK9rT4yB6cJ1",
        ] {
            assert!(!find_assign(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn placeholders_words_and_code_are_not_secrets() {
        for t in [
            "password = \"changeme\" (placeholder)",
            "password: hunter2",
            "Password: required",
            "api_key = \"<your-key>\"",
            "API_KEY=${API_KEY}",
            "token: xxxxxxxxxxxxxxxx",
            "secret: \"****************\"",
            "password = os.environ[\"DB_PASSWORD\"]",
            "apiKey: process.env.API_KEY",
            "password=args.password",
            "token_type: bearer_access_token",
            "max_tokens: 4096",
            "secret_name: db-credentials-prod",
            "the author: Jane Austen",
            r#""key": "user_settings_v2""#,
            r#""cache_key": "session:12345:abcdef:xyz""#,
            "reset your password: click the link below",
            "pass {{ secrets.TOKEN }}",
            r#"secretary: "Mary Ann Evans-Cross""#,
            r#"password_policy: "min length 12, one symbol""#,
            r#"password_hint: "name of first pet + year""#,
            "secret_arn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
        ] {
            assert!(find_assign(t).is_empty(), "{t}: {:?}", find_assign(t));
        }
    }

    #[test]
    fn entropy_orders_randomness() {
        assert!(entropy("aaaaaaaa") < 1.0 && entropy("Zx9$kQ2!mP") > 3.0);
    }
}
