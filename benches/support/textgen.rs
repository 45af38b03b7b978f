//! A seeded generator of varied text as LLM requests carry it: chat prose in several
//! languages, code, logs, config, CSV and JSON, with a little personal data and the odd
//! credential, as real traffic has. Nothing is a repeated paragraph: every sentence is
//! assembled from word lists and random numbers, so the detectors see fresh candidates
//! throughout (a repeated paragraph lets branch predictors and caches flatter the figure).

/// xorshift64*: small, deterministic, good enough for text.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| char::from(A[self.below(62) as usize]))
            .collect()
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
}

const EN: &[&str] = &[
    "the",
    "report",
    "quarterly",
    "revenue",
    "team",
    "please",
    "review",
    "before",
    "meeting",
    "customer",
    "feedback",
    "pipeline",
    "deploy",
    "release",
    "budget",
    "forecast",
    "could",
    "you",
    "summarise",
    "this",
    "thread",
    "and",
    "draft",
    "a",
    "reply",
    "about",
    "latency",
    "migration",
    "database",
    "schema",
    "onboarding",
    "policy",
    "contract",
    "renewal",
    "invoice",
    "shipping",
    "delay",
    "warehouse",
    "support",
    "ticket",
    "escalation",
    "weekly",
    "numbers",
    "growth",
    "churn",
    "retention",
    "marketing",
    "campaign",
    "launch",
    "roadmap",
];
const DE: &[&str] = &[
    "bitte",
    "prüfen",
    "Sie",
    "den",
    "Bericht",
    "für",
    "das",
    "Quartal",
    "Kunden",
    "Rückmeldung",
    "Lieferung",
    "verzögert",
    "Straße",
    "Größe",
    "Änderung",
    "übernehmen",
    "Besprechung",
    "morgen",
    "wir",
    "brauchen",
    "eine",
    "Zusammenfassung",
    "des",
    "Vertrags",
];
const FR: &[&str] = &[
    "merci",
    "de",
    "vérifier",
    "le",
    "rapport",
    "trimestriel",
    "équipe",
    "réunion",
    "décision",
    "client",
    "livraison",
    "retardée",
    "à",
    "propos",
    "du",
    "contrat",
    "été",
    "prochaine",
];
const ES: &[&str] = &[
    "por",
    "favor",
    "revisa",
    "el",
    "informe",
    "del",
    "trimestre",
    "equipo",
    "reunión",
    "cliente",
    "envío",
    "retrasado",
    "contrato",
    "año",
    "próxima",
    "semana",
    "niño",
];
const CJK: &[&str] = &[
    "请",
    "检查",
    "报告",
    "会议",
    "明天",
    "客户",
    "東京",
    "ありがとう",
    "確認",
];
const EMOJI: &[&str] = &["🙂", "🚀", "✅", "📈", "🎉"];
const FIRST: &[&str] = &[
    "Jane", "Omar", "Li", "Sven", "Ana", "Priya", "Lukas", "Chloé",
];
const LAST: &[&str] = &[
    "Doe", "Khan", "Wei", "Berg", "Souza", "Patel", "Müller", "Dubois",
];

fn sentence(r: &mut Rng, words: &[&str]) -> String {
    let n = 6 + r.below(14) as usize;
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        let w = r.pick(words);
        if i == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                s.extend(f.to_uppercase());
                s.push_str(c.as_str());
            }
        } else {
            s.push_str(w);
        }
        match r.below(30) {
            0 => s.push_str(&format!(" {}", r.below(1000))),
            1 => s.push_str(&format!(" {}.{}%", r.below(100), r.below(10))),
            2 => s.push(','),
            _ => {}
        }
    }
    s.push_str(r.pick(&[".", ".", "?", "!"]));
    s
}

fn pii(r: &mut Rng) -> String {
    let (f, l) = (r.pick(FIRST), r.pick(LAST));
    match r.below(8) {
        0 => format!(
            "You can reach {f} at {}.{}@example.com.",
            f.to_lowercase(),
            r.below(100)
        ),
        1 => format!("Call me on +44 20 7946 {}.", r.digits(4)),
        2 => format!("My number is ({}) 555-{}.", 200 + r.below(700), r.digits(4)),
        3 => format!("Best regards,\n{f} {l}\n"),
        4 => format!("Dear {f},"),
        5 => format!("Ship it to {} Main Street, Springfield.", 1 + r.below(999)),
        6 => format!(
            "Order #{} ships on 2024-0{}-1{}.",
            r.digits(8),
            1 + r.below(9),
            r.below(9)
        ),
        _ => format!("Ticket {} reopened by {f}.", r.digits(5)),
    }
}

fn prose(r: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..(2 + r.below(4)) {
        let lang = match r.below(10) {
            0 => DE,
            1 => FR,
            2 => ES,
            _ => EN,
        };
        s.push_str(&sentence(r, lang));
        s.push(' ');
        match r.below(12) {
            0 => {
                s.push_str(&pii(r));
                s.push(' ');
            }
            1 => s.push_str(r.pick(EMOJI)),
            2 => {
                for _ in 0..3 {
                    s.push_str(r.pick(CJK));
                }
            }
            _ => {}
        }
    }
    s.push_str("\n\n");
    s
}

fn code(r: &mut Rng) -> String {
    let name = r.pick(&["user", "order", "item", "session", "report", "account"]);
    match r.below(4) {
        0 => format!(
            "```python\ndef load_{name}(id: int) -> dict:\n    resp = client.get(f\"/api/v{}/{name}s/{{id}}\", timeout={})\n    if resp.status_code != 200:\n        raise RuntimeError(resp.text)\n    return resp.json()[\"data\"]\n```\n",
            1 + r.below(3),
            r.below(60)
        ),
        1 => format!(
            "```rust\nfn {name}_total(xs: &[u64]) -> u64 {{\n    xs.iter().copied().filter(|x| *x > {}).sum::<u64>() / {}\n}}\n```\n",
            r.below(100),
            1 + r.below(9)
        ),
        2 => format!(
            "```js\nconst {name} = await fetch(`${{BASE}}/{name}/${{id}}`, {{ headers: {{ 'Content-Type': 'application/json' }} }});\nconsole.log({name}.status, Date.now() - t0, \"ms\");\n```\n"
        ),
        _ => format!(
            "    let api_key = std::env::var(\"API_KEY\")?; // commit {}\n    let retries = {};\n",
            r.hex(7),
            r.below(10)
        ),
    }
}

fn log(r: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..(3 + r.below(6)) {
        s.push_str(&format!(
            "2024-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} [{}] req={}-{}-4{}-a{}-{} ip=10.{}.{}.{} path=/v1/{} status={} dur={}ms\n",
            1 + r.below(12),
            1 + r.below(28),
            r.below(24),
            r.below(60),
            r.below(60),
            r.below(1000),
            r.pick(&["INFO", "WARN", "DEBUG", "ERROR"]),
            r.pick(&["api", "worker", "auth", "billing"]),
            r.hex(8),
            r.hex(4),
            r.hex(3),
            r.hex(3),
            r.hex(12),
            r.below(256),
            r.below(256),
            1 + r.below(254),
            r.pick(&["orders", "users", "chat/completions", "models"]),
            r.pick(&["200", "201", "404", "500", "429"]),
            r.below(2000)
        ));
    }
    s
}

fn config(r: &mut Rng) -> String {
    let mut s = format!(
        "server:\n  port: {}\n  workers: {}\n  version: 1.{}.{}\ndatabase:\n  host: db-{}.internal\n  pool_size: {}\n",
        8000 + r.below(1000),
        r.below(16),
        r.below(20),
        r.below(50),
        r.below(9),
        r.below(64)
    );
    match r.below(5) {
        0 => s.push_str(&format!("  password: {}\n", r.alnum(16))),
        1 => s.push_str("  password: ${DB_PASSWORD}\n"),
        2 => s.push_str(&format!("OPENAI_API_KEY=sk-proj-{}\n", r.alnum(40))),
        _ => s.push_str("log_level: info\nfeature_flags: [search, export]\n"),
    }
    s
}

fn csv(r: &mut Rng) -> String {
    let mut s = String::from("id,name,city,amount,date,status\n");
    for _ in 0..(3 + r.below(8)) {
        s.push_str(&format!(
            "{},{} {},{},{}.{:02},2024-{:02}-{:02},{}\n",
            r.digits(6),
            r.pick(FIRST),
            r.pick(LAST),
            r.pick(&["Berlin", "Paris", "Austin", "Lyon", "Madrid", "Osaka"]),
            r.below(5000),
            r.below(100),
            1 + r.below(12),
            1 + r.below(28),
            r.pick(&["paid", "open", "refunded"])
        ));
    }
    s
}

fn json(r: &mut Rng) -> String {
    format!(
        "{{\"id\": \"{}\", \"model\": \"openai/gpt-4o\", \"temperature\": 0.{}, \"items\": [{{\"sku\": \"SKU-{}\", \"qty\": {}, \"price\": {}.{}}}], \"meta\": {{\"created\": {}, \"tags\": [\"{}\", \"{}\"]}}}}\n",
        r.hex(24),
        r.below(10),
        r.digits(5),
        r.below(20),
        r.below(500),
        r.below(100),
        1_700_000_000 + r.below(10_000_000),
        r.pick(EN),
        r.pick(EN)
    )
}

/// About `bytes` of varied text (cut on a char boundary), the same for the same seed.
pub fn text(bytes: usize, seed: u64) -> String {
    let mut r = Rng::new(seed);
    let mut s = String::with_capacity(bytes + 1024);
    while s.len() < bytes {
        let part = match r.below(10) {
            0..=4 => prose(&mut r),
            5 => code(&mut r),
            6 => log(&mut r),
            7 => config(&mut r),
            8 => csv(&mut r),
            _ => json(&mut r),
        };
        s.push_str(&part);
    }
    let mut cut = bytes.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s
}
