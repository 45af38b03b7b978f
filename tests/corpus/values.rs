//! Structured PII values generated from their specifications, and their context snippets.

use super::{
    expect, fill, iban_check_digits, luhn_check_digit, push, Expected, Rng, Sample, Snippet,
    DIGITS, UPPER, UPPER_ALNUM,
};

// ---------------------------------------------------------------------------------------
// CREDIT_CARD: IIN ranges and lengths as published by the networks (ISO/IEC 7812 numbering;
// Visa, Mastercard incl. the 2-series, Amex, Discover incl. the China UnionPay co-branded
// 622126–622925, Diners Club, JCB, UnionPay, Maestro), Luhn check digit computed here.

pub struct Network {
    pub name: &'static str,
    /// Inclusive prefix ranges of equal digit counts.
    pub prefixes: &'static [(u64, u64)],
    pub lengths: &'static [usize],
}

pub const NETWORKS: &[Network] = &[
    Network {
        name: "CREDIT_CARD/visa",
        prefixes: &[(4, 4)],
        lengths: &[13, 16, 16, 16, 19],
    },
    Network {
        name: "CREDIT_CARD/mastercard",
        prefixes: &[(51, 55), (2221, 2720)],
        lengths: &[16],
    },
    Network {
        name: "CREDIT_CARD/amex",
        prefixes: &[(34, 34), (37, 37)],
        lengths: &[15],
    },
    Network {
        name: "CREDIT_CARD/discover",
        prefixes: &[(6011, 6011), (644, 649), (65, 65), (622_126, 622_925)],
        lengths: &[16, 16, 17, 18, 19],
    },
    Network {
        name: "CREDIT_CARD/diners",
        prefixes: &[(300, 305), (36, 36), (38, 39)],
        lengths: &[14, 15, 16],
    },
    Network {
        name: "CREDIT_CARD/jcb",
        prefixes: &[(3528, 3589)],
        lengths: &[16, 16, 17, 18, 19],
    },
    Network {
        name: "CREDIT_CARD/unionpay",
        prefixes: &[(62, 62)],
        lengths: &[16, 16, 17, 18, 19],
    },
    Network {
        name: "CREDIT_CARD/maestro",
        prefixes: &[
            (5018, 5018),
            (5020, 5020),
            (5038, 5038),
            (5893, 5893),
            (6304, 6304),
            (6759, 6759),
            (6761, 6763),
        ],
        lengths: &[12, 13, 15, 16, 18, 19],
    },
];

/// A Luhn-valid card number of the network.
pub fn card_number(rng: &mut Rng, net: &Network) -> String {
    let (lo, hi) = net.prefixes[rng.below(net.prefixes.len())];
    let mut n = rng.range(lo, hi).to_string();
    let len = rng.pick(net.lengths);
    while n.len() < len - 1 {
        n.push_str(&rng.digits(1));
    }
    let check = luhn_check_digit(&n);
    n.push(check);
    n
}

/// Card digit grouping: Amex 4-6-5, 14-digit Diners 4-6-4, else 4s with the rest last.
pub fn card_groups(len: usize) -> Vec<usize> {
    match len {
        15 => vec![4, 6, 5],
        14 => vec![4, 6, 4],
        _ => {
            let mut g = vec![4; len / 4];
            if !len.is_multiple_of(4) {
                g.push(len % 4);
            }
            g
        }
    }
}

pub fn group(digits: &str, sizes: &[usize], sep: &str) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    for s in sizes {
        let end = (i + s).min(digits.len());
        if end > i {
            parts.push(&digits[i..end]);
        }
        i = end;
    }
    if i < digits.len() {
        parts.push(&digits[i..]);
    }
    parts.join(sep)
}

/// The card printed plain, with spaces or with dashes.
pub fn format_card(rng: &mut Rng, number: &str) -> String {
    match rng.below(3) {
        0 => number.to_string(),
        1 => group(number, &card_groups(number.len()), " "),
        _ => group(number, &card_groups(number.len()), "-"),
    }
}

const CARD_CONTEXT: &[&str] = &[
    "My card number is {v}, expiry 09/28.",
    "Please charge {v} for the renewal.",
    "card: {v}",
    "{v}",
    "The customer paid with {v} yesterday but the charge failed.",
    "Kartennummer: {v}",
    "Numéro de carte : {v}",
    "Número de tarjeta {v}",
    "Cartão de crédito {v}, validade 11/27",
    "カード番号は{v}です",
    "कार्ड नंबर {v} है",
    "Refund to CC {v} please",
];

pub fn cards(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for i in 0..n {
        let net = &NETWORKS[i % NETWORKS.len()];
        let number = card_number(rng, net);
        if rng.chance(10) {
            // A bare JSON number, as a form posts it.
            let text = format!(
                "{{\"card_number\": {number}, \"cvc_checked\": true, \"amount_cents\": 4599}}"
            );
            push(
                out,
                rng,
                Snippet::line(text),
                expect("CREDIT_CARD", number),
                net.name,
            );
            continue;
        }
        let shown = format_card(rng, &number);
        let text = fill(rng.pick(CARD_CONTEXT), &shown);
        push(
            out,
            rng,
            Snippet::prose(text),
            expect("CREDIT_CARD", shown),
            net.name,
        );
    }
}

// ---------------------------------------------------------------------------------------
// IBAN: ISO 13616 registry (SWIFT IBAN Registry) country codes, lengths and BBAN structure
// (`n` digits, `a` upper-case letters, `c` alphanumerics); check digits ISO 7064 mod 97-10.

pub const IBAN_COUNTRIES: &[(&str, &str)] = &[
    ("AD", "4n4n12c"),
    ("AE", "3n16n"),
    ("AT", "5n11n"),
    ("BE", "3n7n2n"),
    ("BG", "4a4n2n8c"),
    ("BH", "4a14c"),
    ("BR", "8n5n10n1a1c"),
    ("CH", "5n12c"),
    ("CY", "3n5n16c"),
    ("CZ", "4n6n10n"),
    ("DE", "8n10n"),
    ("DK", "4n9n1n"),
    ("EE", "2n2n11n1n"),
    ("ES", "4n4n1n1n10n"),
    ("FI", "3n11n"),
    ("FR", "5n5n11c2n"),
    ("GB", "4a6n8n"),
    ("GR", "3n4n16c"),
    ("HR", "7n10n"),
    ("HU", "3n4n1n15n1n"),
    ("IE", "4a6n8n"),
    ("IL", "3n3n13n"),
    ("IS", "4n2n6n10n"),
    ("IT", "1a5n5n12c"),
    ("JO", "4a4n18c"),
    ("KW", "4a22c"),
    ("KZ", "3n13c"),
    ("LI", "5n12c"),
    ("LT", "5n11n"),
    ("LU", "3n13c"),
    ("LV", "4a13c"),
    ("MC", "5n5n11c2n"),
    ("MT", "4a5n18c"),
    ("MU", "4a2n2n12n3n3a"),
    ("NL", "4a10n"),
    ("NO", "4n6n1n"),
    ("PL", "8n16n"),
    ("PT", "4n4n11n2n"),
    ("QA", "4a21c"),
    ("RO", "4a16c"),
    ("SA", "2n18c"),
    ("SE", "3n16n1n"),
    ("SI", "5n8n2n"),
    ("SK", "4n6n10n"),
    ("SM", "1a5n5n12c"),
    ("TR", "5n1n16c"),
    ("UA", "6n19c"),
];

/// The IBAN length a registry structure implies.
pub fn iban_length(structure: &str) -> usize {
    4 + parse_structure(structure)
        .iter()
        .map(|(n, _)| n)
        .sum::<usize>()
}

fn parse_structure(s: &str) -> Vec<(usize, char)> {
    let mut parts = Vec::new();
    let mut n = 0;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            n = n * 10 + d as usize;
        } else {
            parts.push((n, c));
            n = 0;
        }
    }
    parts
}

/// A BBAN following the registry structure. Alphanumeric parts are mostly digits with some
/// letters, as real account numbers in those countries are.
pub fn bban(rng: &mut Rng, structure: &str) -> String {
    let mut out = String::new();
    for (n, class) in parse_structure(structure) {
        for _ in 0..n {
            let c = match class {
                'n' => rng.chars(DIGITS, 1),
                'a' => rng.chars(UPPER, 1),
                _ if rng.chance(25) => rng.chars(UPPER, 1),
                _ => rng.chars(DIGITS, 1),
            };
            out.push_str(&c);
        }
    }
    out
}

/// A valid compact IBAN for one registry entry.
pub fn iban(rng: &mut Rng, country: &str, structure: &str) -> String {
    let b = bban(rng, structure);
    let check = iban_check_digits(country, &b);
    format!("{country}{check}{b}")
}

/// Print form: groups of four separated by spaces.
pub fn iban_grouped(compact: &str) -> String {
    let chars: Vec<char> = compact.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

const IBAN_CONTEXT: &[&str] = &[
    "IBAN: {v}",
    "Please transfer the deposit to {v} by Friday.",
    "Kontoverbindung: {v}",
    "Bitte überweisen Sie den Betrag auf {v}.",
    "RIB / IBAN : {v}",
    "Mi IBAN es {v}",
    "{v}",
    "bank account {v} (BIC on file)",
    "Conta IBAN {v}",
    "振込先IBAN：{v}",
];

pub fn ibans(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for i in 0..n {
        let (country, structure) = IBAN_COUNTRIES[i % IBAN_COUNTRIES.len()];
        let compact = iban(rng, country, structure);
        let shown = if rng.chance(50) {
            iban_grouped(&compact)
        } else {
            compact
        };
        let text = fill(rng.pick(IBAN_CONTEXT), &shown);
        push(
            out,
            rng,
            Snippet::prose(text),
            expect("IBAN", shown),
            "IBAN/registry",
        );
    }
}

// ---------------------------------------------------------------------------------------
// US_SSN: SSA rules — area 001–899 except 666, group 01–99, serial 0001–9999. The dashed
// form stands alone; spaced and unseparated forms only with an SSN label.

pub fn ssn_parts(rng: &mut Rng) -> (String, String, String) {
    let mut area = rng.range(1, 899);
    if area == 666 {
        area = 667;
    }
    (
        format!("{area:03}"),
        format!("{:02}", rng.range(1, 99)),
        format!("{:04}", rng.range(1, 9999)),
    )
}

const SSN_DASHED: &[&str] = &[
    "SSN: {v}",
    "{v}",
    "my social is {v}",
    "Employee SSN {v} — please update payroll.",
    "ssn={v}",
    "Sozialversicherungsnummer (US): {v}",
    "Applicant {v} was verified.",
];
const SSN_LABELLED: &[&str] = &[
    "SSN: {v}",
    "social security number {v}",
    "SSN#: {v}",
    "Social Security No. {v}",
    "my SSN is {v}",
    "número de seguro social (SSN) {v}",
];

pub fn ssns(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for i in 0..n {
        let (a, g, s) = ssn_parts(rng);
        let (shown, template, family) = match i % 4 {
            0 | 1 => (
                format!("{a}-{g}-{s}"),
                rng.pick(SSN_DASHED),
                "US_SSN/dashed",
            ),
            2 => (
                format!("{a} {g} {s}"),
                rng.pick(SSN_LABELLED),
                "US_SSN/spaced",
            ),
            _ => (
                format!("{a}{g}{s}"),
                rng.pick(SSN_LABELLED),
                "US_SSN/compact",
            ),
        };
        let text = fill(template, &shown);
        push(
            out,
            rng,
            Snippet::prose(text),
            expect("US_SSN", shown),
            family,
        );
    }
}

// ---------------------------------------------------------------------------------------
// EMAIL: RFC 5322 dot-atoms restricted to letters, digits and `. + _ - %`, no leading,
// trailing or doubled dots; real-world TLDs including long and second-level ones.

const LOCAL_WORDS: &[&str] = &[
    "amara", "okafor", "chen", "wei", "priya", "sharma", "lukas", "mueller", "sofia", "garcia",
    "yuki", "tanaka", "olga", "ivanova", "kwame", "mensah", "joao", "silva", "ingrid", "berg",
    "billing", "support", "noreply", "ops", "team", "info", "admin", "hr", "dev", "sales",
];
const DOMAIN_WORDS: &[&str] = &[
    "acme",
    "globex",
    "initech",
    "umbrella",
    "northwind",
    "contoso",
    "fabrikam",
    "tailspin",
    "example",
    "mail",
    "hooli",
    "piedpiper",
    "stark-industries",
    "wayne",
    "blue-river",
    "zeta9",
];
const TLDS: &[&str] = &[
    "com",
    "org",
    "net",
    "io",
    "de",
    "fr",
    "es",
    "it",
    "nl",
    "co.uk",
    "com.au",
    "co.jp",
    "com.br",
    "museum",
    "technology",
    "photography",
    "international",
    "ai",
    "dev",
    "app",
    "gov",
    "edu",
    "ch",
    "se",
    "pl",
    "in",
];

pub fn email(rng: &mut Rng) -> String {
    let mut local = rng.pick(LOCAL_WORDS).to_string();
    match rng.below(7) {
        0 => {}
        1 => local = format!("{local}.{}", rng.pick(LOCAL_WORDS)),
        2 => local = format!("{local}_{}", rng.pick(LOCAL_WORDS)),
        3 => local = format!("{local}-{}{}", rng.pick(LOCAL_WORDS), rng.range(1, 99)),
        4 => {
            local = format!(
                "{local}+{}",
                rng.pick(&["news", "billing", "test", "2024", "x"])
            )
        }
        5 => local = format!("{local}{}", rng.range(1, 9999)),
        _ => local = format!("{local}%{}", rng.pick(DOMAIN_WORDS)),
    }
    if rng.chance(15) {
        local = local.to_uppercase();
    }
    let mut domain = rng.pick(DOMAIN_WORDS).to_string();
    if rng.chance(35) {
        domain = format!(
            "{}.{domain}",
            rng.pick(&["mail", "eu", "corp", "dept-7", "us-east", "lists"])
        );
    }
    format!("{local}@{domain}.{}", rng.pick(TLDS))
}

const EMAIL_CONTEXT: &[&str] = &[
    "You can reach me at {v} any time.",
    "Contact: Support Desk <{v}>",
    "<a href=\"mailto:{v}\">write to us</a>",
    "mailto:{v}",
    "{\"email\": \"{v}\", \"verified\": true}",
    "{v}",
    "Schreib mir an {v}, danke!",
    "Écrivez-moi à {v} s'il vous plaît.",
    "Mi correo es {v}",
    "Meu e-mail: {v}",
    "メールアドレス：{v}",
    "cc: {v}; bcc: none",
    "From: {v}",
    "(email {v})",
];

pub fn emails(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for _ in 0..n {
        let e = email(rng);
        let text = fill(rng.pick(EMAIL_CONTEXT), &e);
        push(
            out,
            rng,
            Snippet::prose(text),
            expect("EMAIL", e),
            "EMAIL/dot-atom",
        );
    }
}

// ---------------------------------------------------------------------------------------
// IP_ADDRESS: IPv4 (public and RFC 1918), IPv6 full, compressed and v4-mapped.

pub fn ipv4(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!(
            "10.{}.{}.{}",
            rng.range(0, 255),
            rng.range(0, 255),
            rng.range(1, 254)
        ),
        1 => format!("192.168.{}.{}", rng.range(0, 255), rng.range(1, 254)),
        2 => format!(
            "172.{}.{}.{}",
            rng.range(16, 31),
            rng.range(0, 255),
            rng.range(1, 254)
        ),
        _ => {
            let mut first = rng.range(1, 223);
            if first == 10 || first == 127 {
                first += 1;
            }
            format!(
                "{first}.{}.{}.{}",
                rng.range(0, 255),
                rng.range(0, 255),
                rng.range(1, 254)
            )
        }
    }
}

pub fn ipv6(rng: &mut Rng) -> String {
    let prefixes: &[[u16; 2]] = &[
        [0x2001, 0x0db8],
        [0x2a00, 0x1450],
        [0x2606, 0x4700],
        [0x2a03, 0x2880],
        [0x2001, 0x4860],
    ];
    match rng.below(4) {
        0 => {
            // Full form, zero-padded groups.
            let p = rng.pick(prefixes);
            let mut g: Vec<String> = p.iter().map(|x| format!("{x:04x}")).collect();
            for _ in 0..6 {
                g.push(format!("{:04x}", rng.range(0, 0xffff)));
            }
            let s = g.join(":");
            if rng.chance(20) {
                s.to_uppercase()
            } else {
                s
            }
        }
        1 => {
            // Compressed: prefix, a run of zeros, a short tail.
            let p = rng.pick(prefixes);
            let tail: Vec<String> = (0..rng.range(1, 3))
                .map(|_| format!("{:x}", rng.range(1, 0xffff)))
                .collect();
            format!(
                "{:x}:{:x}:{:x}::{}",
                p[0],
                p[1],
                rng.range(1, 0xfff),
                tail.join(":")
            )
        }
        2 => format!(
            "fe80::{:x}:{:x}ff:fe{:x}:{:x}",
            rng.range(0x200, 0xffff),
            rng.range(0x10, 0xff),
            rng.range(0x10, 0xff),
            rng.range(0x100, 0xffff)
        ),
        _ => format!("::ffff:{}", ipv4(rng)),
    }
}

const IP_CONTEXT: &[&str] = &[
    "The server at {v} stopped answering health checks.",
    "client_ip={v} method=POST path=/login status=401",
    "X-Forwarded-For: {v}",
    "Can you whitelist {v} in the firewall?",
    "IP: {v}",
    "Meine IP-Adresse ist {v}",
    "adresse IP : {v}",
    "ping {v} -c 4",
    "dirección IP {v}",
    "接続元IPアドレス：{v}",
    "{v}",
];

pub fn ips(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for i in 0..n {
        let (ip, family) = if i % 2 == 0 {
            (ipv4(rng), "IP_ADDRESS/v4")
        } else {
            (ipv6(rng), "IP_ADDRESS/v6")
        };
        let text = match (i % 2, rng.below(6)) {
            (0, 0) => format!("upstream {ip}:8443 refused the connection"),
            (1, 0) => format!("curl -g 'http://[{ip}]:8080/healthz'"),
            _ => fill(rng.pick(IP_CONTEXT), &ip),
        };
        push(
            out,
            rng,
            Snippet::prose(text),
            expect("IP_ADDRESS", ip),
            family,
        );
    }
}

// ---------------------------------------------------------------------------------------
// PHONE: national numbering plans (ITU-T E.164 country codes; NANP, Ofcom, BNetzA, ARCEP,
// CNMC, AGCOM, ACM, UKE, PTS, TRAI, Anatel, MIC, ACMA allocations). Only assigned ranges:
// real area codes / mobile prefixes; fictional/drama ranges (NANP 555, Ofcom 07700 900xxx,
// ACMA 0491 570) are avoided. Numbers printed without separators appear only with a label.

fn sub(rng: &mut Rng, n: usize) -> String {
    rng.digits_from("23456789", n)
}

struct Phone {
    text: String,
    /// A compact national form that only a label makes a phone number.
    needs_label: bool,
    family: &'static str,
}

fn ph(text: String, needs_label: bool, family: &'static str) -> Phone {
    Phone {
        text,
        needs_label,
        family,
    }
}

fn nanp(rng: &mut Rng) -> Phone {
    const AREAS: &[&str] = &[
        "212", "213", "305", "312", "415", "503", "617", "646", "702", "713", "206", "404", "720",
        "919", "416", "604", "514", "613", "778", "929",
    ];
    let a = rng.pick(AREAS);
    let mut e = sub(rng, 3);
    if e == "555" || e.ends_with("11") {
        e = "482".to_string();
    }
    let l = rng.digits(4);
    let f = "PHONE/nanp";
    match rng.below(9) {
        0 => ph(format!("({a}) {e}-{l}"), false, f),
        1 => ph(format!("{a}-{e}-{l}"), false, f),
        2 => ph(format!("{a}.{e}.{l}"), false, f),
        3 => ph(format!("+1 {a} {e} {l}"), false, f),
        4 => ph(format!("+1-{a}-{e}-{l}"), false, f),
        5 => ph(format!("+1{a}{e}{l}"), false, f),
        6 => ph(format!("1-{a}-{e}-{l}"), false, f),
        7 => ph(format!("+1 ({a}) {e}-{l}"), false, f),
        _ => ph(format!("{a}{e}{l}"), true, f),
    }
}

fn uk(rng: &mut Rng) -> Phone {
    let f = "PHONE/uk";
    match rng.below(3) {
        0 => {
            let local = format!("{}{}", rng.pick(&["3", "7", "8"]), rng.digits(7));
            let (x, y) = local.split_at(4);
            match rng.below(4) {
                0 => ph(format!("020 {x} {y}"), false, f),
                1 => ph(format!("+44 20 {x} {y}"), false, f),
                2 => ph(format!("+44 (0)20 {x} {y}"), false, f),
                _ => ph(format!("+4420{local}"), false, f),
            }
        }
        1 => {
            let area = rng.pick(&["161", "121", "131", "141", "113"]);
            // Ofcom allocates these areas' local numbers in blocks starting 2–4; 8 and 9
            // blocks are unallocated in several of them (0131 9xx, for one).
            let local = rng.digits_from("234", 7);
            let (x, y) = local.split_at(3);
            if rng.chance(50) {
                ph(format!("0{area} {x} {y}"), false, f)
            } else {
                ph(format!("+44 {area} {x} {y}"), false, f)
            }
        }
        _ => {
            let mut m = format!(
                "7{}{}",
                rng.pick(&["1", "2", "3", "4", "5", "7", "8", "9"]),
                rng.digits(8)
            );
            if m.starts_with("7700900") {
                m.replace_range(..3, "771");
            }
            let (x, y) = m.split_at(4);
            match rng.below(4) {
                0 => ph(format!("0{x} {y}"), false, f),
                1 => ph(format!("+44 {x} {y}"), false, f),
                2 => ph(format!("+44{m}"), false, f),
                _ => ph(format!("0{m}"), true, f),
            }
        }
    }
}

fn de(rng: &mut Rng) -> Phone {
    const AREAS: &[(&str, &[usize])] = &[
        ("30", &[7, 8]),
        ("40", &[7, 8]),
        ("89", &[7, 8]),
        ("69", &[7, 8]),
        ("221", &[6, 7]),
        ("211", &[6, 7]),
        ("711", &[6, 7]),
        ("351", &[6, 7]),
        ("341", &[6, 7]),
        ("6221", &[5, 6, 7]),
        ("7531", &[5, 6]),
        ("8821", &[5, 6]),
        ("33203", &[5, 6]),
    ];
    const MOBILE: &[&str] = &[
        "1511", "1512", "1515", "1520", "1522", "1573", "1590", "160", "162", "163", "170", "171",
        "172", "173", "174", "175", "176", "177", "178", "179",
    ];
    let f = "PHONE/de";
    let (area, s) = if rng.chance(40) {
        (rng.pick(MOBILE), sub(rng, 7))
    } else {
        let (a, lens) = rng.pick(AREAS);
        {
            let k = rng.pick(lens);
            (a, sub(rng, k))
        }
    };
    match rng.below(8) {
        0 => ph(format!("+49 {area} {s}"), false, f),
        1 => ph(format!("0{area} {s}"), false, f),
        2 => ph(format!("0{area}/{s}"), false, f),
        3 => ph(format!("0{area}-{s}"), false, f),
        4 => ph(format!("+49 (0){area} {s}"), false, f),
        5 => ph(format!("+49{area}{s}"), false, f),
        6 => ph(format!("(0{area}) {s}"), false, f),
        _ => ph(format!("0{area}{s}"), true, f),
    }
}

fn fr(rng: &mut Rng) -> Phone {
    let f = "PHONE/fr";
    let first = rng.pick(&[
        "1", "2", "3", "4", "5", "6", "6", "73", "76", "77", "78", "9",
    ]);
    let rest = rng.digits(9 - first.len());
    let nsn = format!("{first}{rest}");
    let pairs = group(&nsn[1..], &[2, 2, 2, 2], " ");
    let head = &nsn[..1];
    match rng.below(6) {
        0 => ph(format!("0{head} {pairs}"), false, f),
        1 => ph(
            format!("0{head}.{}", group(&nsn[1..], &[2, 2, 2, 2], ".")),
            false,
            f,
        ),
        2 => ph(format!("+33 {head} {pairs}"), false, f),
        3 => ph(format!("+33 (0){head} {pairs}"), false, f),
        4 => ph(format!("+33{nsn}"), false, f),
        _ => ph(format!("0{nsn}"), true, f),
    }
}

fn es(rng: &mut Rng) -> Phone {
    let f = "PHONE/es";
    let nsn = match rng.below(3) {
        0 => format!("9{}{}", rng.pick(&["1", "3", "5", "6"]), rng.digits(7)),
        1 => format!("6{}", rng.digits(8)),
        _ => format!("7{}{}", rng.pick(&["1", "2", "3", "4"]), rng.digits(7)),
    };
    match rng.below(5) {
        0 => ph(format!("+34 {}", group(&nsn, &[3, 3, 3], " ")), false, f),
        1 => ph(group(&nsn, &[3, 2, 2, 2], " "), false, f),
        2 => ph(format!("+34{nsn}"), false, f),
        3 => ph(format!("+34 {}", group(&nsn, &[3, 2, 2, 2], " ")), false, f),
        _ => ph(nsn, true, f),
    }
}

fn it(rng: &mut Rng) -> Phone {
    let f = "PHONE/it";
    if rng.chance(50) {
        let p = rng.pick(&[
            "320", "328", "329", "333", "338", "339", "340", "345", "347", "348", "349", "366",
            "380", "388", "389", "391", "392", "393",
        ]);
        let s = rng.digits(7);
        match rng.below(4) {
            0 => ph(format!("+39 {p} {}", group(&s, &[3, 4], " ")), false, f),
            1 => ph(format!("{p} {}", group(&s, &[3, 4], " ")), false, f),
            2 => ph(format!("+39{p}{s}"), false, f),
            _ => ph(format!("{p}-{s}"), false, f),
        }
    } else {
        let (a, n) = rng.pick(&[
            ("02", 8),
            ("06", 8),
            ("055", 7),
            ("011", 7),
            ("081", 7),
            ("051", 7),
        ]);
        let s = sub(rng, n);
        match rng.below(3) {
            0 => ph(format!("+39 {a} {}", group(&s, &[4, 4], " ")), false, f),
            1 => ph(format!("{a} {}", group(&s, &[4, 4], " ")), false, f),
            _ => ph(format!("+39 {a} {s}"), false, f),
        }
    }
}

fn nl(rng: &mut Rng) -> Phone {
    let f = "PHONE/nl";
    if rng.chance(50) {
        let s = format!(
            "{}{}",
            rng.pick(&["1", "2", "3", "4", "5", "8"]),
            rng.digits(7)
        );
        match rng.below(4) {
            0 => ph(format!("06-{s}"), false, f),
            1 => ph(format!("06 {}", group(&s, &[4, 4], " ")), false, f),
            2 => ph(format!("+31 6 {}", group(&s, &[4, 4], " ")), false, f),
            _ => ph(format!("+316{s}"), false, f),
        }
    } else {
        let a = rng.pick(&["20", "10", "70", "30", "40", "50"]);
        let s = sub(rng, 7);
        match rng.below(3) {
            0 => ph(format!("+31 {a} {}", group(&s, &[3, 4], " ")), false, f),
            1 => ph(format!("0{a}-{}", group(&s, &[3, 4], " ")), false, f),
            _ => ph(format!("0{a} {s}"), false, f),
        }
    }
}

fn pl(rng: &mut Rng) -> Phone {
    let f = "PHONE/pl";
    if rng.chance(60) {
        let s = format!(
            "{}{}",
            rng.pick(&["50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88"]),
            rng.digits(7)
        );
        match rng.below(4) {
            0 => ph(format!("+48 {}", group(&s, &[3, 3, 3], " ")), false, f),
            1 => ph(group(&s, &[3, 3, 3], " "), false, f),
            2 => ph(group(&s, &[3, 3, 3], "-"), false, f),
            _ => ph(format!("+48{s}"), false, f),
        }
    } else {
        let a = rng.pick(&["22", "12", "61", "71", "58"]);
        let s = sub(rng, 7);
        let g = group(&s, &[3, 2, 2], " ");
        if rng.chance(50) {
            ph(format!("+48 {a} {g}"), false, f)
        } else {
            ph(format!("{a} {g}"), false, f)
        }
    }
}

fn se(rng: &mut Rng) -> Phone {
    let f = "PHONE/se";
    if rng.chance(50) {
        let p = rng.pick(&["70", "72", "73", "76", "79"]);
        let s = rng.digits(7);
        let g = group(&s, &[3, 2, 2], " ");
        match rng.below(3) {
            0 => ph(format!("0{p}-{g}"), false, f),
            1 => ph(format!("+46 {p} {g}"), false, f),
            _ => ph(format!("+46{p}{s}"), false, f),
        }
    } else {
        let s = sub(rng, 8);
        let g = group(&s, &[3, 3, 2], " ");
        if rng.chance(50) {
            ph(format!("08-{g}"), false, f)
        } else {
            ph(format!("+46 8 {g}"), false, f)
        }
    }
}

fn india(rng: &mut Rng) -> Phone {
    let f = "PHONE/in";
    if rng.chance(75) {
        let m = rng.digits_from("6789", 10);
        let (x, y) = m.split_at(5);
        match rng.below(5) {
            0 => ph(format!("+91 {x} {y}"), false, f),
            1 => ph(format!("{x} {y}"), false, f),
            2 => ph(format!("+91-{m}"), false, f),
            3 => ph(format!("+91{m}"), false, f),
            _ => ph(m, true, f),
        }
    } else {
        let a = rng.pick(&["11", "22", "33", "44", "80"]);
        // India's National Numbering Plan: fixed-line subscriber numbers start 2–6
        // (8 and 9 lead mobile numbers, never a landline after an STD code).
        let s = rng.digits_from("23456", 8);
        let g = group(&s, &[4, 4], " ");
        if rng.chance(50) {
            ph(format!("0{a} {g}"), false, f)
        } else {
            ph(format!("+91 {a} {g}"), false, f)
        }
    }
}

fn br(rng: &mut Rng) -> Phone {
    let f = "PHONE/br";
    let ddd = rng.pick(&[
        "11", "21", "31", "41", "51", "61", "71", "81", "85", "19", "27", "48",
    ]);
    if rng.chance(70) {
        let m = format!("9{}", rng.digits_from("6789", 8));
        let (x, y) = m.split_at(5);
        match rng.below(6) {
            0 => ph(format!("({ddd}) {x}-{y}"), false, f),
            1 => ph(format!("+55 {ddd} {x}-{y}"), false, f),
            2 => ph(format!("+55 ({ddd}) {x}-{y}"), false, f),
            3 => ph(format!("{ddd} {x}-{y}"), false, f),
            4 => ph(format!("+55{ddd}{m}"), false, f),
            _ => ph(format!("{x}-{y}"), true, f),
        }
    } else {
        let l = rng.digits_from("2345", 8);
        let (x, y) = l.split_at(4);
        ph(format!("({ddd}) {x}-{y}"), false, f)
    }
}

fn jp(rng: &mut Rng) -> Phone {
    let f = "PHONE/jp";
    match rng.below(3) {
        0 => {
            let a = rng.pick(&["3", "6"]);
            let s = sub(rng, 8);
            let (x, y) = s.split_at(4);
            if rng.chance(50) {
                ph(format!("0{a}-{x}-{y}"), false, f)
            } else {
                ph(format!("+81 {a}-{x}-{y}"), false, f)
            }
        }
        1 => {
            let a = rng.pick(&["45", "52", "92", "75"]);
            let s = sub(rng, 7);
            let (x, y) = s.split_at(3);
            ph(format!("0{a}-{x}-{y}"), false, f)
        }
        _ => {
            let p = rng.pick(&["90", "80", "70"]);
            let s = rng.digits_from("123456789", 8);
            let (x, y) = s.split_at(4);
            match rng.below(4) {
                0 => ph(format!("0{p}-{x}-{y}"), false, f),
                1 => ph(format!("+81 {p} {x} {y}"), false, f),
                2 => ph(format!("+81-{p}-{x}-{y}"), false, f),
                _ => ph(format!("+81{p}{s}"), false, f),
            }
        }
    }
}

fn au(rng: &mut Rng) -> Phone {
    let f = "PHONE/au";
    if rng.chance(50) {
        let (a, first) = rng.pick(&[("2", "89"), ("3", "89"), ("7", "3"), ("8", "89")]);
        let s = rng.digits_from(first, 8);
        let (x, y) = s.split_at(4);
        match rng.below(3) {
            0 => ph(format!("0{a} {x} {y}"), false, f),
            1 => ph(format!("(0{a}) {x} {y}"), false, f),
            _ => ph(format!("+61 {a} {x} {y}"), false, f),
        }
    } else {
        let m = format!(
            "4{}{}",
            rng.pick(&["0", "1", "2", "3", "4", "5", "6", "7", "8"]),
            rng.digits(7)
        );
        let g = group(&m, &[3, 3, 3], " ");
        match rng.below(3) {
            0 => ph(format!("0{g}"), false, f),
            1 => ph(format!("+61 {g}"), false, f),
            _ => ph(format!("+61{m}"), false, f),
        }
    }
}

const PHONE_LABELLED: &[&str] = &[
    "Phone: {v}",
    "Tel.: {v}",
    "call me at {v}",
    "Mobile {v}",
    "Telefon: {v}",
    "Handy {v}",
    "téléphone : {v}",
    "teléfono {v}",
    "telefone/WhatsApp {v}",
    "電話番号：{v}",
    "फ़ोन नंबर {v}",
    "tel {v}",
];
const PHONE_FREE: &[&str] = &[
    "Reach the on-call engineer on {v} if the pager fails.",
    "{v}",
    "Ruf mich morgen unter {v} an.",
    "Vous pouvez me joindre au {v}.",
    "Llámame al {v} por la tarde.",
    "Me liga no {v} amanhã.",
    "{v}までご連絡ください。",
    "Office line {v} (weekdays 9–17)",
];

pub fn phones(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    let gens: &[fn(&mut Rng) -> Phone] = &[nanp, uk, de, fr, es, it, nl, pl, se, india, br, jp, au];
    for i in 0..n {
        let p = gens[i % gens.len()](rng);
        let template = if p.needs_label || rng.chance(50) {
            rng.pick(PHONE_LABELLED)
        } else {
            rng.pick(PHONE_FREE)
        };
        let text = fill(template, &p.text);
        push(
            out,
            rng,
            Snippet::prose(text),
            expect("PHONE", p.text),
            p.family,
        );
    }
}

// ---------------------------------------------------------------------------------------
// DATE_OF_BIRTH: a date in one of many formats, next to birth context in several languages.

const MONTHS_EN: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_DE: &[&str] = &[
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];
const MONTHS_FR: &[&str] = &[
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];
const MONTHS_ES: &[&str] = &[
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

pub fn date(rng: &mut Rng, lang: &str) -> String {
    let y = rng.range(1935, 2008);
    let m = rng.range(1, 12) as usize;
    let d = rng.range(1, 28);
    let k = rng.below(6);
    match (lang, k) {
        ("de", 0..=2) => format!("{d:02}.{m:02}.{y}"),
        ("de", _) => format!("{d}. {} {y}", MONTHS_DE[m - 1]),
        ("fr", 0..=2) => format!("{d:02}/{m:02}/{y}"),
        ("fr", _) => format!("{d} {} {y}", MONTHS_FR[m - 1]),
        ("es", 0..=2) => format!("{d:02}/{m:02}/{y}"),
        ("es", _) => format!("{d} de {} de {y}", MONTHS_ES[m - 1]),
        ("ja", 0..=2) => format!("{y}年{m}月{d}日"),
        ("ja", _) => format!("{y}-{m:02}-{d:02}"),
        (_, 0) => format!("{y}-{m:02}-{d:02}"),
        (_, 1) => format!("{m:02}/{d:02}/{y}"),
        (_, 2) => format!("{} {d}, {y}", MONTHS_EN[m - 1]),
        (_, 3) => format!("{d:02}.{m:02}.{y}"),
        (_, 4) => format!("{d} {} {y}", MONTHS_EN[m - 1]),
        _ => format!("{d:02}/{m:02}/{y}"),
    }
}

const DOB_CONTEXT: &[(&str, &str)] = &[
    ("en", "DOB: {v}"),
    ("en", "Date of birth: {v}"),
    ("en", "The patient was born on {v} in Ohio."),
    ("en", "birthday: {v}"),
    ("en", "D.O.B. {v}"),
    ("en", "date of birth {v}, blood type A+"),
    ("de", "Geburtsdatum: {v}"),
    ("de", "geboren am {v} in Köln"),
    ("fr", "né le {v} à Lyon"),
    ("fr", "Date de naissance : {v}"),
    ("es", "fecha de nacimiento: {v}"),
    ("es", "nacido el {v}"),
    ("en", "data de nascimento: {v}"),
    ("ja", "生年月日：{v}"),
];

pub fn dobs(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for i in 0..n {
        let (lang, template) = DOB_CONTEXT[i % DOB_CONTEXT.len()];
        let d = date(rng, lang);
        let text = fill(template, &d);
        push(
            out,
            rng,
            Snippet::prose(text),
            expect("DATE_OF_BIRTH", d),
            "DATE_OF_BIRTH/context",
        );
    }
}

// ---------------------------------------------------------------------------------------
// US_PASSPORT: 9 digits (older books) or one letter + 8 digits (Next Generation Passport),
// always next to passport context.

const PASSPORT_CONTEXT: &[&str] = &[
    "Passport number: {v}",
    "US passport {v}, expires 2031",
    "passport #{v}",
    "Passport No. {v}",
    "my passport is {v}",
    "Reisepassnummer (USA): {v}",
    "numéro de passeport {v}",
    "pasaporte estadounidense {v}",
];

pub fn passports(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for i in 0..n {
        let p = if i % 2 == 0 {
            rng.digits_from("123456789", 9)
        } else {
            format!("{}{}", rng.chars("ACEFGHJKLMNPRSTUVWXZ", 1), rng.digits(8))
        };
        let text = fill(rng.pick(PASSPORT_CONTEXT), &p);
        push(
            out,
            rng,
            Snippet::prose(text),
            expect("US_PASSPORT", p),
            "US_PASSPORT/context",
        );
    }
}

// ---------------------------------------------------------------------------------------
// US_DRIVER_LICENSE: state formats next to licence context.

pub fn driver_license(rng: &mut Rng) -> (String, &'static str) {
    match rng.below(8) {
        0 => (format!("{}{}", rng.chars(UPPER, 1), rng.digits(7)), "CA"),
        1 => {
            let d = rng.digits(9);
            if rng.chance(40) {
                (group(&d, &[3, 3, 3], " "), "NY")
            } else {
                (d, "NY")
            }
        }
        2 => {
            let d = rng.digits(12);
            (
                format!(
                    "{}{}",
                    rng.chars(UPPER, 1),
                    group(&d, &[3, 3, 2, 3, 1], "-")
                ),
                "FL",
            )
        }
        3 => (rng.digits_from("123456789", 8), "TX"),
        4 => {
            let d = rng.digits(11);
            (
                format!("{}{}", rng.chars(UPPER, 1), group(&d, &[3, 4, 4], "-")),
                "IL",
            )
        }
        5 => (rng.digits(8), "PA"),
        6 => {
            let d = rng.digits(14);
            (
                format!("{}{}", rng.chars(UPPER, 1), group(&d, &[4, 5, 5], " ")),
                "NJ",
            )
        }
        _ => (format!("WDL{}", rng.chars(UPPER_ALNUM, 9)), "WA"),
    }
}

const DL_CONTEXT: &[&str] = &[
    "driver's license {v} ({st})",
    "DL# {v}",
    "{st} driver licence no. {v}",
    "Driver License Number: {v}",
    "{st} DL {v}, class C",
    "driver’s license number is {v}",
    "Führerscheinnummer ({st}, USA): {v}",
    "licencia de conducir de {st}: {v}",
];

pub fn driver_licenses(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for _ in 0..n {
        let (dl, st) = driver_license(rng);
        let text = fill(rng.pick(DL_CONTEXT), &dl).replace("{st}", st);
        push(
            out,
            rng,
            Snippet::prose(text),
            expect("US_DRIVER_LICENSE", dl),
            "US_DRIVER_LICENSE/state",
        );
    }
}

// ---------------------------------------------------------------------------------------
// PERSON and ADDRESS: best-effort types, varied cultures and forms.

pub const FIRST: &[&str] = &[
    "Amara", "Wei", "Priya", "Rahul", "Sofia", "Mateo", "Lukas", "Hannah", "Yuki", "Hiroshi",
    "Olga", "Dmitri", "Fatima", "Omar", "Aisha", "Kwame", "Chloé", "Élodie", "José", "João",
    "Ingrid", "Sven", "Zofia", "Piotr", "Aarav", "Ananya", "Mohammed", "Layla", "Emeka", "Nkechi",
    "Liam", "Olivia", "Noah", "Emma", "Carlos", "Lucía", "Minh", "Seo-yeon", "Björn", "Giulia",
    "Marco", "Ayşe", "Mehmet", "Thandiwe", "Siobhan", "Rhys",
];
pub const LAST: &[&str] = &[
    "Okafor",
    "Chen",
    "Nakamura",
    "Müller",
    "Schmidt",
    "García",
    "Fernández",
    "Rossi",
    "Kowalski",
    "Nguyen",
    "Patel",
    "Sharma",
    "Kim",
    "Park",
    "Ivanova",
    "Haddad",
    "Mensah",
    "Dubois",
    "Lefèvre",
    "Silva",
    "Santos",
    "Johansson",
    "Andersen",
    "O'Brien",
    "Murphy",
    "Smith",
    "Johnson",
    "Williams",
    "Yılmaz",
    "Cohen",
    "Tanaka",
    "Suzuki",
    "Kumar",
    "Singh",
    "Adeyemi",
    "Bianchi",
    "van der Berg",
    "de la Cruz",
    "Hoffmann",
    "Novak",
];

pub fn full_name(rng: &mut Rng) -> String {
    format!("{} {}", rng.pick(FIRST), rng.pick(LAST))
}

pub fn persons(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    const FULL: &[&str] = &[
        "Dr. {v} will see you at 10:30.",
        "My name is {v} and I need help with my order.",
        "Dear {v},\n\nthank you for your patience.",
        "Best regards,\n{v}",
        "Name: {v}",
        "The patient {v} reported mild symptoms.",
        "Mr. {v} called about the delivery.",
        "Sehr geehrter Herr {v},",
        "Sehr geehrte Frau {v},",
        "Bonjour Mme {v},",
        "Estimado Sr. {v}:",
        "Prezada Sra. {v},",
        "{v} joined the team last week.",
        "Assigned to: {v}",
        "{v}様、お問い合わせありがとうございます。",
    ];
    const SURNAME: &[&str] = &[
        "Mrs {v} is on leave today.",
        "Herr {v} ist nicht erreichbar.",
        "Ms. {v} asked for a refund.",
        "Prof. {v} approved the request.",
    ];
    for i in 0..n {
        let (value, template) = if i % 5 == 4 {
            (rng.pick(LAST).to_string(), rng.pick(SURNAME))
        } else {
            (full_name(rng), rng.pick(FULL))
        };
        let text = fill(template, &value);
        push(
            out,
            rng,
            Snippet::prose(text),
            expect("PERSON", value),
            "PERSON/forms",
        );
    }
}

fn pick_street(rng: &mut Rng, names: &[&str]) -> String {
    rng.pick(names).to_string()
}

pub fn address(rng: &mut Rng) -> (String, &'static str) {
    match rng.below(7) {
        0 => {
            let (city, st, zip) = rng.pick(&[
                ("Springfield", "IL", "627"),
                ("Austin", "TX", "787"),
                ("Portland", "OR", "972"),
                ("Denver", "CO", "802"),
                ("Brooklyn", "NY", "112"),
                ("San Jose", "CA", "951"),
                ("Seattle", "WA", "981"),
            ]);
            let street = pick_street(
                rng,
                &[
                    "Maple Avenue",
                    "Oak Street",
                    "Elm Drive",
                    "Sunset Boulevard",
                    "Washington Ave",
                    "Lakeview Road",
                    "Pine Court",
                ],
            );
            let unit = match rng.below(3) {
                0 => String::new(),
                1 => format!(", Apt {}{}", rng.range(1, 30), rng.chars("ABCD", 1)),
                _ => format!(", Suite {}", rng.range(100, 950)),
            };
            (
                format!(
                    "{} {street}{unit}, {city}, {st} {zip}{}",
                    rng.range(10, 9999),
                    rng.digits(2)
                ),
                "ADDRESS/us",
            )
        }
        1 => {
            let (city, outward) = rng.pick(&[
                ("London", "SW1A"),
                ("London", "EC1A"),
                ("Manchester", "M1"),
                ("Leeds", "LS1"),
                ("Edinburgh", "EH1"),
                ("Birmingham", "B1"),
                ("Glasgow", "G1"),
            ]);
            let street = pick_street(
                rng,
                &[
                    "Downing Street",
                    "Baker Street",
                    "Station Road",
                    "High Street",
                    "Church Lane",
                    "Victoria Road",
                ],
            );
            (
                format!(
                    "{} {street}, {city} {outward} {}{}",
                    rng.range(1, 220),
                    rng.range(1, 9),
                    rng.chars("ABDEFGHJLNPQRSTUWXYZ", 2)
                ),
                "ADDRESS/uk",
            )
        }
        2 => {
            let (city, lo, hi) = rng.pick(&[
                ("Berlin", 10115, 14199),
                ("München", 80331, 81929),
                ("Hamburg", 20095, 22769),
                ("Köln", 50667, 51149),
                ("Frankfurt am Main", 60306, 65936),
            ]);
            let street = pick_street(
                rng,
                &[
                    "Hauptstraße",
                    "Bahnhofstraße",
                    "Goethestraße",
                    "Schillerplatz",
                    "Lindenallee",
                    "Am Markt",
                    "Gartenweg",
                ],
            );
            (
                format!(
                    "{street} {}, {} {city}",
                    rng.range(1, 180),
                    rng.range(lo, hi)
                ),
                "ADDRESS/de",
            )
        }
        3 => {
            let (street, city, cp) = rng.pick(&[
                ("rue de la Paix", "Paris", "75002"),
                ("avenue des Champs-Élysées", "Paris", "75008"),
                ("boulevard Haussmann", "Paris", "75009"),
                ("rue de la République", "Lyon", "69002"),
                ("quai du Port", "Marseille", "13002"),
            ]);
            (
                format!("{} {street}, {cp} {city}", rng.range(1, 150)),
                "ADDRESS/fr",
            )
        }
        4 => {
            let (city, prov, fsa) = rng.pick(&[
                ("Ottawa", "ON", "K1A"),
                ("Toronto", "ON", "M5V"),
                ("Montréal", "QC", "H2X"),
                ("Vancouver", "BC", "V6B"),
                ("Calgary", "AB", "T2P"),
            ]);
            let street = pick_street(
                rng,
                &[
                    "Wellington St",
                    "King Street West",
                    "Rue Sainte-Catherine",
                    "Granville Street",
                    "Stephen Avenue",
                ],
            );
            (
                format!(
                    "{} {street}, {city}, {prov} {fsa} {}{}{}",
                    rng.range(1, 900),
                    rng.range(0, 9),
                    rng.chars("ABCEGHJKLMNPRSTVWXYZ", 1),
                    rng.range(0, 9)
                ),
                "ADDRESS/ca",
            )
        }
        5 => {
            let (city, state, pc) = rng.pick(&[
                ("Sydney", "NSW", "2000"),
                ("Melbourne", "VIC", "3000"),
                ("Brisbane", "QLD", "4000"),
                ("Perth", "WA", "6000"),
                ("Adelaide", "SA", "5000"),
            ]);
            let street = pick_street(
                rng,
                &[
                    "George Street",
                    "Collins Street",
                    "Queen Street",
                    "Hay Street",
                    "King William Street",
                ],
            );
            (
                format!("{} {street}, {city} {state} {pc}", rng.range(1, 500)),
                "ADDRESS/au",
            )
        }
        _ => {
            let street = pick_street(
                rng,
                &[
                    "Damrak",
                    "Prinsengracht",
                    "Keizersgracht",
                    "Herengracht",
                    "Kalverstraat",
                ],
            );
            (
                format!(
                    "{street} {}, {} {} Amsterdam",
                    rng.range(1, 300),
                    rng.range(1011, 1099),
                    rng.chars("ABCEGHJKLMNPRTVWXZ", 2)
                ),
                "ADDRESS/nl",
            )
        }
    }
}

pub fn addresses(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    const CONTEXT: &[&str] = &[
        "Please ship it to {v}.",
        "My address is {v}",
        "Address: {v}",
        "Lieferadresse: {v}",
        "Adresse de livraison : {v}",
        "Dirección: {v}",
        "Endereço para entrega: {v}",
        "住所：{v}",
        "{v}",
        "We moved to {v} last month.",
    ];
    for _ in 0..n {
        let (a, family) = address(rng);
        let text = fill(rng.pick(CONTEXT), &a);
        push(out, rng, Snippet::prose(text), expect("ADDRESS", a), family);
    }
}

// ---------------------------------------------------------------------------------------
// Records: several values in one sample (CSV row, JSON object, signature block).

pub fn records(rng: &mut Rng, out: &mut Vec<Sample>, n: usize) {
    for i in 0..n {
        let name = full_name(rng);
        let mail = email(rng);
        let phone = [nanp, uk, de, fr, india, br][i % 6](rng).text;
        let ip = ipv4(rng);
        let mut expected = vec![
            Expected {
                kind: "PERSON",
                value: name.clone(),
            },
            Expected {
                kind: "EMAIL",
                value: mail.clone(),
            },
            Expected {
                kind: "PHONE",
                value: phone.clone(),
            },
        ];
        let text = match i % 3 {
            0 => format!("id,name,email,phone,last_ip\n{},{name},{mail},{phone},{ip}\n", rng.range(1000, 9999)),
            1 => format!("{{\"customer\": {{\"name\": \"{name}\", \"email\": \"{mail}\", \"phone\": \"{phone}\", \"last_login_ip\": \"{ip}\"}}}}"),
            _ => format!("--\n{name}\nHead of Procurement\nT: {phone}\nE: {mail}\nlast login from {ip}"),
        };
        expected.push(Expected {
            kind: "IP_ADDRESS",
            value: ip,
        });
        out.push(Sample {
            text,
            expected,
            family: "RECORD/multi",
            carrier: ["csv_record", "json_record", "signature"][i % 3],
            hard_negative: false,
            decoy: None,
        });
    }
}
