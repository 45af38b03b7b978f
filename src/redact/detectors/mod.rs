//! The built-in detectors, one module per concept, run as one pass over the text.
//!
//! Why this shape: running every validating regex over every request (the old `RegexSet`
//! plus re-runs) cost ~1 MB/s on realistic chat text. Here cheap byte-level pre-filters pick
//! the few candidate places and only those reach a regex, a checksum or libphonenumber:
//! - one Aho-Corasick pass over two word sets at once: the literal prefixes of vendor
//!   secrets ([`secrets`], matched with their case) and the context words, any case:
//!   secret-ish names, birth / passport / licence words, name introducers, street words,
//!   health labels ([`windows`], [`person`], [`address`], [`phi`]);
//! - `memchr` for `@` (e-mail) and `:` (IPv6);
//! - a byte scan for digit runs ([`numbers`]: IBAN, card, SSN, phone, IPv4, street numbers).
//!
//! Every candidate is validated where it stands (`Regex` anchored at the candidate, on a
//! bounded window), so the cost grows with the number of candidates, not of rules. All
//! automata and regexes are compiled once, in [`Engine::new`].

mod address;
mod cards;
mod email;
mod encoded;
mod iban;
mod ip;
mod lanes;
mod numbers;
mod person;
mod phi;
mod phone;
mod secrets;
mod ssn;
pub(crate) mod text;
mod windows;

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

/// What a word found by the word pass starts.
#[derive(Clone, Copy)]
enum Trigger {
    /// A vendor secret's literal prefix (index into the vendor rules). Unlike the context
    /// words it counts only with its own case: `SK…` is a Twilio key, `sk` is in "ask".
    Prefix(usize),
    /// A vendor prefix as it reads in base64 ([`encoded`]), with its case: the run around
    /// it is decoded and searched.
    Encoded,
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

/// One occurrence of a word, as the automaton reports it.
#[derive(Clone, Copy)]
struct Found {
    start: usize,
    end: usize,
    /// The pattern's index: its [`Trigger`], and the order among equal matches.
    pattern: usize,
}

/// The compiled built-in detectors: built once per config, shared by every request.
pub struct Engine {
    /// Every vendor prefix and every context word, any case, reporting every occurrence.
    words: lanes::Words,
    /// Per pattern: what it starts and, for a vendor prefix, the literal its case is checked
    /// against.
    triggers: Vec<(Trigger, &'static str)>,
    /// The longest pattern's length in bytes: how far behind the search an occurrence can
    /// still be displaced.
    longest: usize,
    prefixed: secrets::Prefixed,
    /// The word lists a secret's name is classified by.
    names: secrets::NameWords,
    windows: windows::Windows,
    person: person::Person,
    address: address::Address,
    phi: phi::Labels,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("words", &self.triggers.len())
            .finish()
    }
}

impl Engine {
    /// Compiles every automaton and regex. The tables are constants, so an error here is a
    /// programming error the unit tests catch; it is returned, not unwrapped.
    pub fn new() -> Result<Engine, String> {
        let mut triggers: Vec<(Trigger, &'static str)> = Vec::new();
        for (id, literal) in secrets::literals().enumerate() {
            triggers.push((Trigger::Prefix(id), literal));
        }
        for literal in encoded::literals() {
            triggers.push((Trigger::Encoded, literal));
        }
        for w in secrets::name_words() {
            triggers.push((Trigger::Assign, w));
        }
        for (w, id) in windows::WORDS {
            triggers.push((Trigger::Window(*id), w));
        }
        for (w, form) in person::WORDS {
            triggers.push((Trigger::Person(*form), w));
        }
        for w in address::WORDS {
            triggers.push((Trigger::Street, w));
        }
        for (w, label) in phi::WORDS {
            triggers.push((Trigger::Phi(*label), w));
        }
        // One automaton for both sets: on prose the pass is bound by walking the bytes, and
        // two passes walked them twice (each ~a sixth of the detectors' time on 64 KiB).
        // Overlapping, because the two sets need leftmost-longest each on their own (a
        // `key-` prefix must not hide the `key` name word at the same place); `Leftmost`
        // rebuilds that order from every occurrence.
        let words = lanes::Words::new(triggers.iter().map(|(_, w)| *w))?;
        let longest = words.longest();
        let engine = Engine {
            words,
            triggers,
            longest,
            prefixed: secrets::Prefixed::new()?,
            names: secrets::NameWords::new()?,
            windows: windows::Windows::new()?,
            person: person::Person::new()?,
            address: address::Address::new()?,
            phi: phi::Labels::new()?,
        };
        // libphonenumber loads its metadata on first use; pay that here, not in a request.
        let _ = phone::valid("+44 20 7946 0958", false);
        Ok(engine)
    }

    /// The vendor prefixes (with their case) and the context words (any case) in `text`,
    /// each set leftmost-longest and non-overlapping in text order, as two separate
    /// leftmost-longest searches would give them, handed to `chosen` as they are settled
    /// (with the set it belongs to; base64 forms as they come). Memory stays bounded by the longest word whatever the text:
    /// only occurrences that could still be chosen are held (see [`Leftmost`]).
    fn each_word(&self, text: &str, mut chosen: impl FnMut(Found, Set)) {
        let mut prefixes = Leftmost::default();
        let mut words = Leftmost::default();
        let mut ready = Vec::new();
        self.words.each(text.as_bytes(), |m| {
            let Some((trigger, literal)) = self.triggers.get(m.pattern) else {
                return;
            };
            let found = Found {
                start: m.start,
                end: m.end,
                pattern: m.pattern,
            };
            // No occurrence reported after this one (they come in order of their ends)
            // starts before `horizon`.
            let horizon = m.end.saturating_sub(self.longest);
            if let Trigger::Encoded = trigger {
                // Every occurrence, outside both sets: it must not hide a prefix or a word.
                if text.as_bytes().get(m.start..m.end) == Some(literal.as_bytes()) {
                    chosen(found, Set::Encoded);
                }
                return;
            }
            if let Trigger::Prefix(_) = trigger {
                if text.as_bytes().get(m.start..m.end) == Some(literal.as_bytes()) {
                    prefixes.offer(found, horizon, &mut ready);
                    ready.drain(..).for_each(|f| chosen(f, Set::Prefix));
                }
            }
            // A word ending here also settles the other set's occurrences far enough
            // behind, which keeps both sets' pending lists short.
            words.offer_if(
                !matches!(trigger, Trigger::Prefix(_)),
                found,
                horizon,
                &mut ready,
            );
            ready.drain(..).for_each(|f| chosen(f, Set::Word));
        });
        prefixes.settle(None, &mut ready);
        ready.drain(..).for_each(|f| chosen(f, Set::Prefix));
        words.settle(None, &mut ready);
        ready.drain(..).for_each(|f| chosen(f, Set::Word));
    }

    /// A secret held as a string directly under the object key `key` (see
    /// `secrets::named_value`).
    pub fn named(&self, key: &str, value: &str) -> Option<Hit> {
        secrets::named_value(&self.names, key, value).map(|(s, e)| Hit::new(s, e, SECRET))
    }

    /// Every confirmed candidate in `text`, unordered and possibly overlapping.
    pub fn find(&self, text: &str, out: &mut Vec<Hit>) {
        let mut scan = secrets::Scan::default();
        let mut assigned_to = 0;
        let mut diagnosed_to = 0;
        let mut decoded_to = 0;
        self.each_word(text, |f, set| {
            let Some((trigger, _)) = self.triggers.get(f.pattern) else {
                return;
            };
            match *trigger {
                Trigger::Prefix(id) => {
                    if set == Set::Prefix {
                        self.prefixed.try_rule(text, id, f.start, &mut scan, out);
                    }
                }
                Trigger::Encoded => self.encoded(text, f.start, &mut decoded_to, out),
                Trigger::Assign => {
                    // One name (`DB_API_KEY`) holds several words; check it once.
                    if f.start >= assigned_to {
                        assigned_to = secrets::assignment(text, f.start, &self.names, out);
                    }
                }
                Trigger::Window(id) => {
                    if text::word_start(text, f.start) {
                        self.windows.find(text, id, f.end, out);
                    }
                }
                Trigger::Person(form) => self.person.find(text, form, f.start, f.end, out),
                Trigger::Street => self.address.street_word(text, f.start, out),
                Trigger::Phi(label) => {
                    self.phi
                        .find(text, label, (f.start, f.end), &mut diagnosed_to, out)
                }
            }
        });
        // Wrapped base64 blocks, read whole (a form may straddle one of their breaks).
        let mut block_to = 0;
        for at in encoded::block_starts(text) {
            self.encoded(text, at, &mut block_to, out);
        }
        email::find(text, out);
        ip::find_v6(text, out);
        numbers::scan(text, &self.address, out);
        phi::scan(text, out);
    }
}

impl Engine {
    /// A vendor prefix's base64 form at `at`: the base64 run around it is decoded (once, see
    /// `decoded_to`) and searched by the vendor and assignment rules; a secret inside makes
    /// the whole run a secret. Nothing is decoded twice and a decoded run is not searched
    /// for base64 forms again.
    fn encoded(&self, text: &str, at: usize, decoded_to: &mut usize, out: &mut Vec<Hit>) {
        if at < *decoded_to {
            return;
        }
        let Some(run) = encoded::run_around(text, at) else {
            // Deep inside a run too long to be a credential: skip the rest of it, so a
            // megabyte of repeated forms is walked once, not once per form.
            *decoded_to = encoded::run_end(text, at);
            return;
        };
        let (_, end) = run.span(false);
        *decoded_to = end;
        // Without the head line, then with it (the data may start after a label on it).
        for head in [false, true] {
            if head && !run.has_head() {
                break;
            }
            let Some(decoded) = encoded::decode(text, &run, head) else {
                continue;
            };
            if self.holds_secret(&decoded) {
                let (start, end) = run.span(head);
                out.push(Hit::new(start, end, SECRET));
                return;
            }
        }
    }

    /// Whether the vendor or assignment rules find a secret in `text` (decoded base64).
    fn holds_secret(&self, text: &str) -> bool {
        let mut inner = Vec::new();
        let (mut scan, mut assigned_to) = (secrets::Scan::default(), 0);
        self.each_word(text, |f, set| match self.triggers.get(f.pattern) {
            Some((Trigger::Prefix(id), _)) if set == Set::Prefix => {
                self.prefixed
                    .try_rule(text, *id, f.start, &mut scan, &mut inner);
            }
            Some((Trigger::Assign, _)) if f.start >= assigned_to => {
                assigned_to = secrets::assignment(text, f.start, &self.names, &mut inner);
            }
            _ => {}
        });
        inner.iter().any(|h| h.kind == SECRET)
    }
}

/// Which set an occurrence from [`Engine::each_word`] belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Set {
    /// A vendor prefix, leftmost-longest among prefixes, with its case.
    Prefix,
    /// A context word, leftmost-longest among words, any case.
    Word,
    /// A prefix's base64 form, every occurrence, with its case.
    Encoded,
}

/// What a leftmost-longest search reports, rebuilt from every occurrence as an overlapping
/// search reports them (in order of their ends): from the text's start, the occurrence that
/// starts first, the longest of those (the first pattern on a tie), then the same from its
/// end on. An occurrence is settled once no later one can start at or before it, so only
/// the occurrences within the longest word's length behind the search are ever held: the
/// memory a crafted text (`keykeykey…` over megabytes) can make it use stays bounded.
#[derive(Default)]
struct Leftmost {
    /// Where the last chosen occurrence ended: anything starting before it is covered.
    next: usize,
    /// Occurrences starting at or after `next`, not yet settled.
    pending: Vec<Found>,
}

impl Leftmost {
    /// Takes `found` (when `take`) and settles what `horizon` allows into `ready`.
    fn offer_if(&mut self, take: bool, found: Found, horizon: usize, ready: &mut Vec<Found>) {
        if take {
            self.offer(found, horizon, ready);
        } else {
            self.settle(Some(horizon), ready);
        }
    }

    /// Takes `found`, then settles into `ready` every occurrence that no occurrence
    /// starting at `horizon` or later can displace.
    fn offer(&mut self, found: Found, horizon: usize, ready: &mut Vec<Found>) {
        if found.start >= self.next {
            self.pending.push(found);
        }
        self.settle(Some(horizon), ready);
    }

    /// Chooses while the best pending occurrence starts before `horizon` (`None`: the text
    /// has ended, choose everything left).
    fn settle(&mut self, horizon: Option<usize>, ready: &mut Vec<Found>) {
        while let Some(best) = self
            .pending
            .iter()
            .min_by_key(|f| (f.start, std::cmp::Reverse(f.end), f.pattern))
            .copied()
        {
            if horizon.is_some_and(|h| best.start >= h) {
                return;
            }
            ready.push(best);
            self.next = best.end;
            let next = self.next;
            self.pending.retain(|f| f.start >= next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, MatchKind};

    #[test]
    fn the_tables_compile() {
        Engine::new().unwrap();
    }

    /// Diagnosis labels closer together than their window report each code once, not once
    /// per label that can see it (a 2 MB `dx A00 dx A00 …` body made 4 M hits, ~900 MB),
    /// and still every code, including one the previous window cut at its end.
    #[test]
    fn dense_diagnosis_labels_report_each_code_once() {
        let engine = Engine::new().unwrap();
        let text = "dx A00 ".repeat(2_000);
        let mut hits = Vec::new();
        engine.find(&text, &mut hits);
        let codes: Vec<_> = hits
            .iter()
            .filter(|h| h.kind == phi::DIAGNOSIS_CODE)
            .map(|h| (h.start, h.end))
            .collect();
        let mut distinct = codes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 2_000);
        assert!(codes.len() <= 2_000 + 2_000 / 10, "{} hits", codes.len());
        // A code the first label's window cuts at its end is reported again by the next
        // label's window, as far as that one reaches (`A00.123`, not only `A00`).
        let text = format!("dx dx {}A00.1234 and", "x ".repeat(44));
        let mut hits = Vec::new();
        engine.find(&text, &mut hits);
        let at = text.find("A00").unwrap();
        assert!(
            hits.iter()
                .any(|h| h.kind == phi::DIAGNOSIS_CODE && (h.start, h.end) == (at, at + 7)),
            "{hits:?}"
        );
    }

    /// A text made only of words (`keykeykey…`, every occurrence overlapping the next)
    /// keeps only a few occurrences pending, however long it is.
    #[test]
    fn pending_occurrences_stay_bounded() {
        let (mut set, mut ready, longest) = (Leftmost::default(), Vec::new(), 28);
        let mut chosen = 0;
        for i in 0usize..1_000_000 {
            for (start, len, pattern) in [(i, 3, 0), (i.saturating_sub(1), 4, 1)] {
                let found = Found {
                    start,
                    end: start + len,
                    pattern,
                };
                set.offer(found, (start + len).saturating_sub(longest), &mut ready);
            }
            assert!(
                set.pending.len() <= 2 * longest,
                "{} pending at {i}",
                set.pending.len()
            );
            chosen += ready.drain(..).count();
        }
        set.settle(None, &mut ready);
        chosen += ready.len();
        // Leftmost-longest over overlapping occurrences: one in four bytes (the 4-byte ones).
        assert_eq!(chosen, 250_000);
    }

    /// The one overlapping pass gives each set exactly what its own leftmost-longest search
    /// gives (the two passes this replaced): prefixes with their case, words in any case.
    #[test]
    fn one_pass_finds_what_two_searches_find() {
        use proptest::prelude::*;
        let engine = Engine::new().unwrap();
        let literals: Vec<&str> = secrets::literals().collect();
        let words: Vec<&str> = engine
            .triggers
            .iter()
            .filter(|(t, _)| !matches!(t, Trigger::Prefix(_) | Trigger::Encoded))
            .map(|(_, w)| *w)
            .collect();
        let reference = |case_insensitive: bool, patterns: &[&str]| {
            AhoCorasick::builder()
                .ascii_case_insensitive(case_insensitive)
                .match_kind(MatchKind::LeftmostLongest)
                .build(patterns)
                .unwrap()
        };
        let (by_literal, by_word) = (reference(false, &literals), reference(true, &words));
        fn search<'p>(
            ac: &AhoCorasick,
            patterns: &[&'p str],
            text: &str,
        ) -> Vec<(usize, usize, &'p str)> {
            ac.find_iter(text)
                .map(|m| (m.start(), m.end(), patterns[m.pattern().as_usize()]))
                .collect()
        }
        // Text made of the patterns themselves (in any case, cut short, glued together)
        // and filler, so that matches nest, overlap and tie.
        let mut pieces: Vec<String> = Vec::new();
        for w in literals.iter().chain(&words) {
            pieces.push((*w).to_owned());
            pieces.push(w.to_ascii_uppercase());
            pieces.push(
                w.chars()
                    .take(w.chars().count().saturating_sub(1))
                    .collect(),
            );
        }
        pieces.extend([" ", "_", "-", "a", "S", "0", "é", ":"].map(String::from));
        let piece = proptest::sample::select(pieces);
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&proptest::collection::vec(piece, 0..24), |parts| {
                let text = parts.concat();
                let (mut prefixes, mut found) = (Vec::new(), Vec::new());
                engine.each_word(&text, |f, set| match set {
                    Set::Prefix => prefixes.push(f),
                    Set::Word => found.push(f),
                    Set::Encoded => {}
                });
                let name = |f: &Found| (f.start, f.end, engine.triggers[f.pattern].1);
                let got: Vec<_> = prefixes.iter().map(name).collect();
                prop_assert_eq!(got, search(&by_literal, &literals, &text), "{:?}", text);
                let got: Vec<_> = found.iter().map(name).collect();
                prop_assert_eq!(got, search(&by_word, &words, &text), "{:?}", text);
                Ok(())
            })
            .unwrap();
    }
}
