//! The word automaton's overlapping search, walked over several stretches of a text at once.
//!
//! Why: on prose the word pass is bound by waiting for each transition's load from a table
//! of a few megabytes (737 words and prefixes in any case: ~8,300 states of 64 byte
//! classes), and one walk over a text is a chain of loads each waiting for the last. Walking
//! [`LANES`] stretches of the text in one loop gives the CPU independent loads to overlap.
//!
//! Why it finds what one walk finds: an Aho–Corasick state is the longest suffix of the text
//! read so far that begins a pattern, so it is never longer than the longest pattern. A walk
//! started that many bytes before its stretch is therefore in the same state as a walk from
//! the text's start by the time it reaches the stretch, and reports the same occurrences
//! from there on. Each lane reports only the occurrences ending in its own stretch, and the
//! lanes are handed on in text order, so the caller sees exactly the sequence an
//! overlapping search from the start gives: by end, and at one end in the automaton's order.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind};

/// How many stretches one loop walks at once. On the `detect` bench four measured best:
/// three a little slower, eight no faster than one walk (its states and cursors no longer
/// fit in registers).
const LANES: usize = 4;

/// A lane's stretch is at least this long, so that the walk-in before it (the longest
/// word's length) stays a small part of the walk; shorter texts are walked in one lane.
const MIN_LANE: usize = 64;

/// At most this long: a lane's occurrences are held until the lanes before it are handed
/// on, so this bounds the memory a text dense with words can make a search hold.
const MAX_LANE: usize = 8192;

/// One occurrence of a pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Occurrence {
    pub start: usize,
    pub end: usize,
    pub pattern: usize,
}

/// The compiled words: an unanchored DFA that reports every occurrence, any ASCII case.
pub(super) struct Words {
    dfa: DFA,
    start: StateID,
    /// The longest pattern's length in bytes: each lane's walk-in.
    longest: usize,
}

impl Words {
    /// Compiles `patterns` (matched in any ASCII case; the caller checks a prefix's own case).
    pub fn new<'p>(patterns: impl IntoIterator<Item = &'p str>) -> Result<Words, String> {
        let patterns: Vec<&str> = patterns.into_iter().collect();
        let dfa = DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            // The loop below does not ask for one, and with a prefilter the start state
            // would count as special.
            .prefilter(false)
            .build(&patterns)
            .map_err(|e| e.to_string())?;
        let start = dfa.start_state(Anchored::No).map_err(|e| e.to_string())?;
        let longest = patterns.iter().map(|p| p.len()).max().unwrap_or(0);
        Ok(Words {
            dfa,
            start,
            longest,
        })
    }

    /// The longest pattern's length in bytes.
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// Every occurrence of every pattern in `text`, overlapping ones included, handed to
    /// `each` in order of their ends (at one end, in the automaton's order).
    pub fn each(&self, text: &[u8], each: impl FnMut(Occurrence)) {
        self.each_in_lanes(text, (MIN_LANE, MAX_LANE), each);
    }

    /// [`Words::each`] with stretches of `min..=max` bytes (the tests use short ones to put
    /// stretch edges everywhere). Each round splits what is left into [`LANES`] equal
    /// stretches up to `max` long; what is left when they would be shorter than `min` is
    /// walked in one lane.
    fn each_in_lanes(
        &self,
        text: &[u8],
        (min, max): (usize, usize),
        mut each: impl FnMut(Occurrence),
    ) {
        let warm = self.longest;
        let min = min.max(1);
        // Before `at`, every occurrence has been handed on.
        let mut at = 0;
        if text.len() >= warm + LANES * min {
            // The first `warm` bytes in one walk, so that every lane below has its whole
            // walk-in behind it.
            self.walk(text, 0, 0, warm, &mut each);
            at = warm;
            let mut held: [Vec<(usize, StateID)>; LANES] = Default::default();
            loop {
                let lane = ((text.len() - at) / LANES).min(max);
                if lane < min {
                    break;
                }
                self.round(text, at, lane, &mut held);
                for occurrences in &mut held {
                    for (end, sid) in occurrences.drain(..) {
                        self.report(sid, end, &mut each);
                    }
                }
                at += LANES * lane;
            }
        }
        self.walk(text, at.saturating_sub(warm), at, text.len(), &mut each);
    }

    /// One round: lane `k` owns `at + k·lane .. at + (k+1)·lane` and walks in from `warm`
    /// bytes before it; the match states it reaches in its own stretch go to `held[k]`,
    /// with the end of the occurrences they report.
    fn round(
        &self,
        text: &[u8],
        at: usize,
        lane: usize,
        held: &mut [Vec<(usize, StateID)>; LANES],
    ) {
        let warm = self.longest;
        let from: [usize; LANES] = std::array::from_fn(|k| at + k * lane - warm);
        let mut sid = [self.start; LANES];
        for i in 0..warm + lane {
            for k in 0..LANES {
                let Some(&byte) = text.get(from[k] + i) else {
                    continue;
                };
                sid[k] = self.dfa.next_state(Anchored::No, sid[k], byte);
                if self.dfa.is_special(sid[k]) && i >= warm && self.dfa.is_match(sid[k]) {
                    if let Some(lane) = held.get_mut(k) {
                        lane.push((from[k] + i + 1, sid[k]));
                    }
                }
            }
        }
    }

    /// One walk over `text[from..to]` from the start state, handing on the occurrences
    /// that end after `own`.
    fn walk(
        &self,
        text: &[u8],
        from: usize,
        own: usize,
        to: usize,
        each: &mut impl FnMut(Occurrence),
    ) {
        let mut sid = self.start;
        for (i, &byte) in text.iter().enumerate().take(to).skip(from) {
            sid = self.dfa.next_state(Anchored::No, sid, byte);
            if self.dfa.is_special(sid) && i >= own && self.dfa.is_match(sid) {
                self.report(sid, i + 1, each);
            }
        }
    }

    /// The occurrences match state `sid` reports, ending at `end`.
    fn report(&self, sid: StateID, end: usize, each: &mut impl FnMut(Occurrence)) {
        for index in 0..self.dfa.match_len(sid) {
            let pattern = self.dfa.match_pattern(sid, index);
            let len = self.dfa.pattern_len(pattern);
            each(Occurrence {
                start: end - len,
                end,
                pattern: pattern.as_usize(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::{AhoCorasick, AhoCorasickKind};
    use proptest::prelude::*;

    /// The words the tests search for: short and long, nested, overlapping, sharing
    /// prefixes and suffixes, one not ASCII.
    const PATTERNS: [&str; 12] = [
        "key", "api_key", "apikey", "token", "ok", "k", "secret", "cre", "credit", "et", "straße",
        "keykey",
    ];

    /// aho-corasick's own overlapping search: what the lanes must give.
    fn reference(text: &[u8]) -> Vec<Occurrence> {
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(PATTERNS)
            .unwrap();
        ac.find_overlapping_iter(text)
            .map(|m| Occurrence {
                start: m.start(),
                end: m.end(),
                pattern: m.pattern().as_usize(),
            })
            .collect()
    }

    fn laned(words: &Words, text: &[u8], lane: usize) -> Vec<Occurrence> {
        let mut got = Vec::new();
        words.each_in_lanes(text, (1, lane), |o| got.push(o));
        got
    }

    /// Whatever the stretch length, and wherever the stretch edges fall (inside a word,
    /// between overlapping ones, in a multi-byte character), the lanes hand on exactly the
    /// occurrences, in exactly the order, of one overlapping search from the start.
    #[test]
    fn lanes_find_what_one_overlapping_search_finds() {
        let words = Words::new(PATTERNS).unwrap();
        let mut pieces: Vec<String> = Vec::new();
        for p in PATTERNS {
            pieces.push(p.to_owned());
            pieces.push(p.to_uppercase());
            pieces.push(p.chars().skip(1).collect());
        }
        pieces.extend([" ", "_", "x", "é", "0", "Ke", "\n"].map(String::from));
        let text = proptest::collection::vec(proptest::sample::select(pieces), 0..120)
            .prop_map(|parts| parts.concat());
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&(text, 1usize..40), |(text, lane)| {
                let expected = reference(text.as_bytes());
                prop_assert_eq!(laned(&words, text.as_bytes(), lane), expected.as_slice());
                let mut got = Vec::new();
                words.each(text.as_bytes(), |o| got.push(o));
                prop_assert_eq!(got, expected);
                Ok(())
            })
            .unwrap();
    }

    /// Long texts take the laned path with its real stretch lengths.
    #[test]
    fn long_texts_find_what_one_overlapping_search_finds() {
        let words = Words::new(PATTERNS).unwrap();
        let unit = "the API_KEY was a token; keykeykey crédit Straße secret_et ok. ";
        for len in [0, 1, 300, 1_100, 4 * MIN_LANE + 12, 20_000, 70_001] {
            let text: String = unit.chars().cycle().take(len).collect();
            let mut got = Vec::new();
            words.each(text.as_bytes(), |o| got.push(o));
            assert_eq!(got, reference(text.as_bytes()), "{len} characters");
        }
    }
}
