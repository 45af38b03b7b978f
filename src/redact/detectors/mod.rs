//! The built-in detectors, one module per concept, run as one pass over the text.
//!
//! Why this shape: running every validating regex over every request (the old `RegexSet`
//! plus re-runs) cost ~1 MB/s on realistic chat text. Here cheap byte-level pre-filters pick
//! the few candidate places and only those reach a regex, a checksum or libphonenumber:
//! - one Aho-Corasick pass over the literal prefixes of vendor secrets ([`secrets`]);
//! - one case-insensitive Aho-Corasick pass over context words: secret-ish names, birth /
//!   passport / licence words, name introducers, street words ([`windows`], [`person`],
//!   [`address`]);
//! - `memchr` for `@` (e-mail) and `:` (IPv6);
//! - a byte scan for digit runs ([`numbers`]: IBAN, card, SSN, phone, IPv4, street numbers).
//!
//! Every candidate is validated where it stands (`Regex` anchored at the candidate, on a
//! bounded window), so the cost grows with the number of candidates, not of rules. All
//! automata and regexes are compiled once, in [`Engine::new`].

mod address;
mod cards;
mod email;
mod iban;
mod ip;
mod numbers;
mod person;
mod phi;
mod phone;
mod secrets;
mod ssn;
mod text;
mod windows;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

pub use cards::luhn;
pub use iban::iban;
pub use phi::{
    dea, is_phi, mbi, npi, DIAGNOSIS_CODE, HEALTH_PLAN_ID, MRN, PHI, US_DEA, US_MBI, US_NPI,
};
pub use secrets::entropy;
pub use ssn::ssn;

/// A detector's stable type name.
pub type Kind = &'static str;

pub const EMAIL: Kind = "EMAIL";
pub const PHONE: Kind = "PHONE";
pub const CREDIT_CARD: Kind = "CREDIT_CARD";
pub const IBAN: Kind = "IBAN";
pub const US_SSN: Kind = "US_SSN";
pub const IP_ADDRESS: Kind = "IP_ADDRESS";
pub const SECRET: Kind = "SECRET";
pub const PERSON: Kind = "PERSON";
pub const ADDRESS: Kind = "ADDRESS";
pub const DATE_OF_BIRTH: Kind = "DATE_OF_BIRTH";
pub const US_PASSPORT: Kind = "US_PASSPORT";
pub const US_DRIVER_LICENSE: Kind = "US_DRIVER_LICENSE";

/// Every built-in type, in precedence order for overlapping matches.
pub const BUILT_IN: [Kind; 18] = [
    SECRET,
    CREDIT_CARD,
    IBAN,
    US_SSN,
    US_NPI,
    US_DEA,
    US_MBI,
    MRN,
    HEALTH_PLAN_ID,
    DIAGNOSIS_CODE,
    US_PASSPORT,
    US_DRIVER_LICENSE,
    DATE_OF_BIRTH,
    EMAIL,
    PHONE,
    IP_ADDRESS,
    ADDRESS,
    PERSON,
];

/// One candidate confirmed by its detector: a byte range on char boundaries and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

impl Hit {
    pub(crate) fn new(start: usize, end: usize, kind: Kind) -> Hit {
        Hit { start, end, kind }
    }
}

/// What a context word found by the keyword pass starts.
#[derive(Clone, Copy)]
enum Trigger {
    /// A name that may hold a secret (`DB_PASSWORD`, `X-Api-Key`).
    Assign,
    /// A value pattern in the window after the word (index into [`windows::WORDS`] rules).
    Window(usize),
    /// A person's name after an honorific, salutation, introduction or closing.
    Person(person::Form),
    /// A street word (`…straße`, `Calle`).
    Street,
    /// A health label: record, plan or diagnosis ([`phi`]).
    Phi(phi::Label),
}

/// The compiled built-in detectors: built once per config, shared by every request.
pub struct Engine {
    prefixed: secrets::Prefixed,
    keywords: AhoCorasick,
    triggers: Vec<Trigger>,
    windows: windows::Windows,
    person: person::Person,
    address: address::Address,
    phi: phi::Labels,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("keywords", &self.triggers.len())
            .finish()
    }
}

impl Engine {
    /// Compiles every automaton and regex. The tables are constants, so an error here is a
    /// programming error the unit tests catch; it is returned, not unwrapped.
    pub fn new() -> Result<Engine, String> {
        let mut words: Vec<&str> = Vec::new();
        let mut triggers = Vec::new();
        for w in secrets::NAME_WORDS {
            words.push(w);
            triggers.push(Trigger::Assign);
        }
        for (w, id) in windows::WORDS {
            words.push(w);
            triggers.push(Trigger::Window(*id));
        }
        for (w, form) in person::WORDS {
            words.push(w);
            triggers.push(Trigger::Person(*form));
        }
        for w in address::WORDS {
            words.push(w);
            triggers.push(Trigger::Street);
        }
        for (w, label) in phi::WORDS {
            words.push(w);
            triggers.push(Trigger::Phi(*label));
        }
        let keywords = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&words)
            .map_err(|e| e.to_string())?;
        let engine = Engine {
            prefixed: secrets::Prefixed::new()?,
            keywords,
            triggers,
            windows: windows::Windows::new()?,
            person: person::Person::new()?,
            address: address::Address::new()?,
            phi: phi::Labels::new()?,
        };
        // libphonenumber loads its metadata on first use; pay that here, not in a request.
        let _ = phone::valid("+44 20 7946 0958", false);
        Ok(engine)
    }

    /// Every confirmed candidate in `text`, unordered and possibly overlapping.
    pub fn find(&self, text: &str, out: &mut Vec<Hit>) {
        self.prefixed.find(text, out);
        let mut assigned_to = 0;
        // Leftmost-longest, not overlapping: `password` hides the `pass` inside it, and
        // overlapping search costs a third of the whole pass on prose.
        for m in self.keywords.find_iter(text) {
            let Some(trigger) = self.triggers.get(m.pattern().as_usize()) else {
                continue;
            };
            match *trigger {
                Trigger::Assign => {
                    // One name (`DB_API_KEY`) holds several words; check it once.
                    if m.start() >= assigned_to {
                        assigned_to = secrets::assignment(text, m.start(), out);
                    }
                }
                Trigger::Window(id) => {
                    if text::word_start(text, m.start()) {
                        self.windows.find(text, id, m.end(), out);
                    }
                }
                Trigger::Person(form) => self.person.find(text, form, m.start(), m.end(), out),
                Trigger::Street => self.address.street_word(text, m.start(), out),
                Trigger::Phi(label) => self.phi.find(text, label, m.start(), m.end(), out),
            }
        }
        email::find(text, out);
        ip::find_v6(text, out);
        numbers::scan(text, &self.address, out);
        phi::scan(text, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_compile() {
        Engine::new().unwrap();
    }
}
