//! Independent PHI corpus for issue #19.
//!
//! A deterministic generator of labelled clinical and administrative text, built from the
//! identifiers' published specifications, not from orguard's detectors (no `orguard` import,
//! no shared regexes or tables):
//! - NPI: CMS "Requirements for NPI check digit" — 10 digits, first digit 1 or 2, the last
//!   one the ISO/IEC 7812 Luhn check digit computed with the `80840` prefix.
//! - DEA registration number: registrant-type letter (A B C D E F G H J K L M P R S T U X),
//!   a second letter, six digits and the check digit `(d1+d3+d5 + 2·(d2+d4+d6)) mod 10`.
//! - MBI: CMS "Understanding the MBI" — 11 characters `C A AN N A AN N A A N N`, letters
//!   without S L O I B Z, printed plain or dashed 4-3-4.
//! - ICD-10-CM codes: category `[A-TV-Z][0-9][0-9AB]`, optional `.` and 1–4 characters.
//! - MRN and health plan member ids: no public format; the labels used on forms and the
//!   value shapes found on cards (digits, letter prefixes, suffixes).
//!
//! Hard negatives are built around lookalikes: NANP phone numbers (bare, dashed, dotted,
//! bracketed; also next to doctors), order/reference ids in NPI and DEA shapes, 10-digit
//! numbers that fail the NPI check even beside "NPI", Luhn-valid timestamps without context,
//! DEA shapes with a wrong check digit, MBI shapes with a forbidden letter, ICD shapes
//! without diagnosis context, labels without values.
#![allow(dead_code)]

/// One value a detector is expected to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub kind: &'static str,
    pub value: String,
}

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub text: String,
    pub expected: Vec<Expected>,
    pub family: &'static str,
    pub hard_negative: bool,
}

pub const DEFAULT_SEED: u64 = 0x0019_0000_F41E_2026;

/// splitmix64, fixed forever so a seed always gives the same corpus.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = self.below(items.len());
        &items[i]
    }
    pub fn chars(&mut self, alphabet: &str, n: usize) -> String {
        let a = alphabet.as_bytes();
        (0..n).map(|_| char::from(a[self.below(a.len())])).collect()
    }
    pub fn digit(&mut self) -> u32 {
        self.below(10) as u32
    }
}

const DIGITS: &str = "0123456789";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const MBI_LETTERS: &str = "ACDEFGHJKMNPQRTUVWXY";
const DEA_FIRST: &str = "ABCDEFGHJKLMPRSTUX";
const ICD_FIRST: &str = "ABCDEFGHIJKLMNOPQRSTVWXYZ";
const ICD_EXT: &str = "0123456789ABCDEFGHIJKLMNOPQRSTVWXYZ";

const SURNAMES: &[&str] = &[
    "Nguyen",
    "Okafor",
    "Schmidt",
    "Garcia",
    "Patel",
    "Kowalski",
    "Haddad",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Brown",
    "Ivanova",
];
const CONDITIONS: &[&str] = &[
    "type 2 diabetes mellitus",
    "essential hypertension",
    "major depressive disorder",
    "acute bronchitis",
    "chronic kidney disease",
    "migraine without aura",
    "low back pain",
];

/// The Luhn check digit for `payload` (digits, most significant first).
pub fn luhn_check_digit(payload: &[u32]) -> u32 {
    let mut sum = 0;
    for (i, d) in payload.iter().rev().enumerate() {
        let v = if i % 2 == 0 { d * 2 } else { *d };
        sum += if v > 9 { v - 9 } else { v };
    }
    (10 - sum % 10) % 10
}

/// Whether a 10-digit string passes the NPI check (prefix 80840 + Luhn).
pub fn npi_valid(s: &str) -> bool {
    let d: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 10 {
        return false;
    }
    let mut payload = vec![8, 0, 8, 4, 0];
    payload.extend_from_slice(&d[..9]);
    luhn_check_digit(&payload) == d[9]
}

pub fn npi(rng: &mut Rng) -> String {
    let mut d = vec![1 + rng.below(2) as u32];
    d.extend((0..8).map(|_| rng.digit()));
    let mut payload = vec![8, 0, 8, 4, 0];
    payload.extend_from_slice(&d);
    d.push(luhn_check_digit(&payload));
    d.iter()
        .map(|x| char::from_digit(*x, 10).unwrap_or('0'))
        .collect()
}

/// A 10-digit number starting 1 or 2 that fails the NPI check.
pub fn npi_invalid(rng: &mut Rng) -> String {
    loop {
        let s = format!("{}{}", 1 + rng.below(2), rng.chars(DIGITS, 9));
        if !npi_valid(&s) {
            return s;
        }
    }
}

pub fn dea_check(d: &[u32]) -> u32 {
    (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
}

pub fn dea(rng: &mut Rng, valid: bool) -> String {
    let first = rng.chars(DEA_FIRST, 1);
    let second = rng.chars(UPPER, 1);
    let d: Vec<u32> = (0..6).map(|_| rng.digit()).collect();
    let mut check = dea_check(&d);
    if !valid {
        check = (check + 1 + rng.below(9) as u32) % 10;
    }
    let digits: String = d
        .iter()
        .chain(std::iter::once(&check))
        .map(|x| char::from_digit(*x, 10).unwrap_or('0'))
        .collect();
    format!("{first}{second}{digits}")
}

/// An MBI by its position rules; `forbidden` puts an excluded letter at one letter place.
pub fn mbi(rng: &mut Rng, forbidden: bool) -> String {
    let mut s = String::new();
    for class in "CAxNAxNAANN".chars() {
        let c = match class {
            'C' => rng.chars("123456789", 1),
            'A' => rng.chars(MBI_LETTERS, 1),
            'N' => rng.chars(DIGITS, 1),
            _ => {
                if rng.below(2) == 0 {
                    rng.chars(DIGITS, 1)
                } else {
                    rng.chars(MBI_LETTERS, 1)
                }
            }
        };
        s.push_str(&c);
    }
    if forbidden {
        let places = [1, 4, 7, 8];
        let at = *rng.pick(&places);
        let bad = rng.chars("SLOIBZ", 1);
        s.replace_range(at..=at, &bad);
    }
    s
}

fn dashed_mbi(s: &str) -> String {
    format!("{}-{}-{}", &s[..4], &s[4..7], &s[7..])
}

pub fn icd(rng: &mut Rng) -> String {
    let mut s = format!(
        "{}{}{}",
        rng.chars(ICD_FIRST, 1),
        rng.digit(),
        if rng.below(10) == 0 {
            rng.chars("AB", 1)
        } else {
            rng.chars(DIGITS, 1)
        }
    );
    if rng.below(4) != 0 {
        let n = 1 + rng.below(4);
        // Mostly digits, as in the tabular list; a letter now and then (7th characters).
        let ext: String = (0..n)
            .map(|_| {
                if rng.below(5) == 0 {
                    rng.chars(ICD_EXT, 1)
                } else {
                    rng.chars(DIGITS, 1)
                }
            })
            .collect();
        s.push('.');
        s.push_str(&ext);
    }
    s
}

fn mrn(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => {
            let n = 6 + rng.below(5);
            rng.chars(DIGITS, n)
        }
        1 => format!("00{}", rng.chars(DIGITS, 6)),
        2 => format!("{}{}", rng.chars("EMPH", 1), rng.chars(DIGITS, 7)),
        _ => format!("{}-{}", rng.chars(DIGITS, 3), rng.chars(DIGITS, 4)),
    }
}

fn member_id(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!("{}{}", rng.chars(UPPER, 3), rng.chars(DIGITS, 9)),
        1 => format!("W{}", rng.chars(DIGITS, 9)),
        2 => format!("{}-01", rng.chars(DIGITS, 9)),
        _ => rng.chars(DIGITS, 11),
    }
}

/// A NANP number: area and exchange codes start 2–9.
fn nanp(rng: &mut Rng) -> (String, String, String) {
    (
        format!("{}{}", 2 + rng.below(8), rng.chars(DIGITS, 2)),
        format!("{}{}", 2 + rng.below(8), rng.chars(DIGITS, 2)),
        rng.chars(DIGITS, 4),
    )
}

fn sample(text: String, expected: Vec<Expected>, family: &'static str) -> Sample {
    Sample {
        text,
        expected,
        family,
        hard_negative: false,
    }
}

fn negative(text: String, family: &'static str) -> Sample {
    Sample {
        text,
        expected: Vec::new(),
        family,
        hard_negative: true,
    }
}

fn one(kind: &'static str, value: &str) -> Vec<Expected> {
    vec![Expected {
        kind,
        value: value.to_owned(),
    }]
}

/// `n` samples per type and `n` hard negatives per lookalike family.
pub fn generate(seed: u64, n: usize) -> Vec<Sample> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for _ in 0..n {
        let name = *rng.pick(SURNAMES);
        let cond = *rng.pick(CONDITIONS);

        let v = npi(&mut rng);
        let t = match rng.below(7) {
            0 => format!("Prescriber NPI: {v}"),
            1 => format!("Referring physician Dr. {name}, NPI {v}, please fax the notes."),
            2 => format!("{{\"provider\": {{\"npi\": \"{v}\", \"name\": \"{name}\"}}}}"),
            3 => format!("Rendering provider {v} billed the visit on 03/04."),
            4 => format!("The attending physician's NPI is {v}."),
            5 => format!("NPI#{v} ({name} MD)"),
            _ => format!("Can you check whether {v} is a valid NPI for Dr. {name}?"),
        };
        out.push(sample(t, one("US_NPI", &v), "US_NPI"));

        let v = dea(&mut rng, true);
        let t = match rng.below(5) {
            0 => format!("DEA# {v}"),
            1 => format!("Prescriber DEA number {v}, schedule II."),
            2 => format!("Dr. {name} (DEA {v}) prescribed oxycodone 5 mg."),
            3 => format!("dea_number={v}"),
            _ => format!("Registration {v} expires next month."),
        };
        out.push(sample(t, one("US_DEA", &v), "US_DEA"));

        let raw = mbi(&mut rng, false);
        let v = if rng.below(2) == 0 {
            dashed_mbi(&raw)
        } else {
            raw
        };
        let t = match rng.below(4) {
            0 => format!("Medicare ID {v} on file"),
            1 => format!("MBI: {v}"),
            2 => format!("The beneficiary's MBI is {v}."),
            _ => format!("{{\"mbi\":\"{v}\",\"plan\":\"Part B\"}}"),
        };
        out.push(sample(t, one("US_MBI", &v), "US_MBI"));

        let v = mrn(&mut rng);
        let t = match rng.below(6) {
            0 => format!("MRN: {v}"),
            1 => format!("Medical record number {v}, admitted via ED."),
            2 => format!("Patient ID: {v}"),
            3 => format!("pt id {v} discharged today"),
            4 => format!("Chart # {v} for {name}"),
            _ => format!("Please pull the notes for MRN {v} from last week."),
        };
        out.push(sample(t, one("MRN", &v), "MRN"));

        let v = member_id(&mut rng);
        let t = match rng.below(5) {
            0 => format!("Member ID: {v}"),
            1 => format!("Subscriber ID {v} (group 4410)"),
            2 => format!("Health plan ID number {v}"),
            3 => format!("insurance ID: {v}"),
            _ => format!("Medicaid ID {v} is active."),
        };
        out.push(sample(t, one("HEALTH_PLAN_ID", &v), "HEALTH_PLAN_ID"));

        let v = icd(&mut rng);
        let w = icd(&mut rng);
        let (t, exp) = match rng.below(6) {
            0 => (format!("Dx: {v}"), one("DIAGNOSIS_CODE", &v)),
            1 => (
                format!("Diagnosis: {v} ({cond})"),
                one("DIAGNOSIS_CODE", &v),
            ),
            2 => (
                format!("Patient was diagnosed with {cond} ({v}) in 2019."),
                one("DIAGNOSIS_CODE", &v),
            ),
            3 => (format!("ICD-10: {v}"), one("DIAGNOSIS_CODE", &v)),
            4 => (
                format!("ICD-10-CM code {v} was billed."),
                one("DIAGNOSIS_CODE", &v),
            ),
            _ => (
                format!("Primary diagnosis {v}, secondary {w}."),
                vec![
                    Expected {
                        kind: "DIAGNOSIS_CODE",
                        value: v.clone(),
                    },
                    Expected {
                        kind: "DIAGNOSIS_CODE",
                        value: w.clone(),
                    },
                ],
            ),
        };
        out.push(sample(t, exp, "DIAGNOSIS_CODE"));

        // Hard negatives.
        let (a, b, c) = nanp(&mut rng);
        let t = match rng.below(6) {
            0 => format!("Call the clinic at {a}{b}{c}."),
            1 => format!("Dr. {name}'s office phone: {a}-{b}-{c}"),
            2 => format!("fax ({a}) {b}-{c} attn: provider relations"),
            3 => format!("Physician on call: {a}.{b}.{c}"),
            4 => format!("Reach the prescriber at {a}{b}{c} after 5pm."),
            _ => format!("cell {a}{b}{c}"),
        };
        out.push(negative(t, "neg/phone"));

        let v = npi(&mut rng);
        let d = dea(&mut rng, true);
        let t = match rng.below(4) {
            0 => format!("Order #{v} shipped to the provider."),
            1 => format!("order number {v}"),
            2 => format!("Tracking ref {d} for the pharmacy delivery."),
            _ => format!("Invoice {v} from the billing provider is overdue."),
        };
        out.push(negative(t, "neg/order_id"));

        let v = npi_invalid(&mut rng);
        let t = match rng.below(4) {
            0 => format!("NPI {v}"),
            1 => format!("Prescriber NPI: {v}"),
            2 => format!("provider {v} not found"),
            _ => format!("Dr. {name}, NPI#{v}"),
        };
        out.push(negative(t, "neg/npi_check"));

        let v = npi(&mut rng);
        let t = match rng.below(3) {
            0 => format!("created_at: {v}"),
            1 => format!("{{\"ts\": {v}, \"status\": \"ok\"}}"),
            _ => format!("the table has {v} rows"),
        };
        out.push(negative(t, "neg/bare_10_digits"));

        let v = dea(&mut rng, false);
        out.push(negative(format!("DEA number {v}"), "neg/dea_check"));

        let v = dashed_mbi(&mbi(&mut rng, true));
        out.push(negative(format!("Medicare ID {v}"), "neg/mbi_letters"));

        let v = icd(&mut rng);
        let t = match rng.below(5) {
            0 => format!(
                "Your seat is {}{}.",
                rng.chars("ABCDEF", 1),
                10 + rng.below(30)
            ),
            1 => format!("Grid square {v} on the map."),
            2 => "Diagnosis pending; check vitamin B12 levels.".to_owned(),
            3 => format!("Room {} on floor 3", &v[..3]),
            _ => format!("model {v} firmware"),
        };
        out.push(negative(t, "neg/icd_shape"));

        let t = match rng.below(4) {
            0 => "MRN pending registration".to_owned(),
            1 => "Patient ID verified with two identifiers.".to_owned(),
            2 => "member id card was lost, please reissue".to_owned(),
            _ => "Dx: unclear, follow up in 2 weeks".to_owned(),
        };
        out.push(negative(t, "neg/label_only"));
    }
    out
}
