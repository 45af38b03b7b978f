//! Postal addresses (`ADDRESS`) from street grammar, without a gazetteer.
//!
//! - Number first (US, UK, CA, AU, FR): `1600 Pennsylvania Avenue NW`, `221B Baker Street`,
//!   `12 rue de la Paix, 75002 Paris`, with a unit (`Apt 4B`, `Suite 200`) and a tail of
//!   city plus state and ZIP, UK postcode, Canadian postal code or Australian state and
//!   postcode. Triggered by a short number followed by a word.
//! - Street word first or last (DE, AT, CH, NL, ES, IT, PT): `Hauptstraße 12, 10115 Berlin`,
//!   `Keizersgracht 123, 1015 CJ Amsterdam`, `Calle Mayor 5, 28013 Madrid`. Triggered by the
//!   street word in the shared word pass.
//!
//! Best effort: an address without a street type (`Flat 2, The Old Mill`) is not found.

use regex::Regex;

use super::{text, Hit, ADDRESS};

/// Street words of the keyword-led forms (lower case). Suffixes are found inside the word.
pub(crate) const WORDS: &[&str] = &[
    "straße", "strasse", "str.", "weg", "allee", "platz", "gasse", "straat", "gracht", "laan",
    "plein", "kade", "singel", "calle", "avenida", "plaza", "paseo", "via", "viale", "piazza",
    "corso", "rua", "carrer",
];

pub(crate) struct Address {
    number_led: Regex,
    word_led: Regex,
}

const TAIL: &str = r"(?:,?\s(?:\p{Lu}[\p{L}.'-]*\s?){1,3},?\s(?:[A-Z]{2}\s\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}|(?:[A-Z]{2}\s)?[A-Z]\d[A-Z]\s?\d[A-Z]\d|(?:NSW|VIC|QLD|WA|SA|TAS|ACT|NT)\s\d{4}))?";

impl Address {
    pub(crate) fn new() -> Result<Address, String> {
        let suffix = r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Crescent|Cres|Close|Grove|Gardens|Row|Mews|Hill|Trail|Trl|Walk|Parade|Esplanade|Alley|Plaza|Loop|Pike)";
        let unit = r"(?:,?\s(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|#)\.?\s?#?[A-Za-z0-9-]{1,6})?";
        let english = format!(
            r"\d{{1,5}}[A-Za-z]?(?:-\d{{1,5}})?\s(?:(?:[NSEW]\.?|North|South|East|West)\s)?(?:\p{{Lu}}[\p{{L}}'.-]*\s){{1,4}}{suffix}\.?(?:\s(?:NW|NE|SW|SE|N|S|E|W)(?-u:\b))?{unit}{TAIL}"
        );
        let french = r"\d{1,4}(?:\s?(?:bis|ter))?,?\s(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|route|cours)\s(?:(?:de|du|des|la|le|l'|d')\s?){0,2}\p{Lu}[\p{L}'-]*(?:\s(?:(?:de|du|des|la|le)\s)?\p{Lu}[\p{L}'-]*){0,3}(?:,\s*\d{5}\s\p{Lu}[\p{L}-]+)?";
        let number_led = format!(r"^(?:{english}|{french})");
        let word_led = r"^(?:(?:\p{Lu}[\p{L}-]*\s)?(?:\p{Lu}[\p{L}-]*?)?(?i:straße|strasse|str\.|weg|allee|platz|gasse|straat|gracht|laan|plein|kade|singel)\s\d{1,4}(?:\s?[a-zA-Z](?-u:\b))?|(?:Calle|Avenida|Av\.|Plaza|Paseo|Via|Viale|Piazza|Corso|Rua|Carrer)\s(?:(?:de|del|la|dei|della|delle|do|da|dos)\s){0,2}\p{Lu}[\p{L}'-]*(?:\s\p{Lu}[\p{L}'-]*){0,3},?\s\d{1,4})(?:,?\s(?:\d{5}|\d{4}\s?[A-Z]{2}|[A-Z]-\d{4,5})\s\p{Lu}[\p{L}-]+(?:\s\p{Lu}[\p{L}-]+)?)?";
        Ok(Address {
            number_led: Regex::new(&number_led).map_err(|e| e.to_string())?,
            word_led: Regex::new(word_led).map_err(|e| e.to_string())?,
        })
    }

    /// An address starting at the house number at `start`.
    pub(crate) fn number_first(&self, text: &str, start: usize, out: &mut Vec<Hit>) {
        if let Some(m) = self.number_led.find(text::window_after(text, start, 200)) {
            out.push(Hit::new(start, start + m.end(), ADDRESS));
        }
    }

    /// An address around the street word found at `hit`.
    pub(crate) fn street_word(&self, text: &str, hit: usize, out: &mut Vec<Hit>) {
        let b = text.as_bytes();
        // Back to the start of the word (Unicode letters included), then one more
        // capitalised word (`Berliner Straße`).
        let mut s = hit;
        let word_char = |i: usize| {
            text.get(..i)
                .and_then(|p| p.chars().next_back())
                .filter(|c| c.is_alphabetic() || *c == '-')
                .map(char::len_utf8)
        };
        while let Some(n) = word_char(s) {
            s -= n;
        }
        if s >= 2 && b.get(s - 1) == Some(&b' ') {
            let mut p = s - 1;
            while let Some(n) = word_char(p) {
                p -= n;
            }
            if p < s - 1
                && text
                    .get(p..)
                    .and_then(|w| w.chars().next())
                    .is_some_and(char::is_uppercase)
            {
                s = p;
            }
        }
        if let Some(m) = self.word_led.find(text::window_after(text, s, 200)) {
            out.push(Hit::new(s, s + m.end(), ADDRESS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str) -> Vec<String> {
        let a = Address::new().unwrap();
        let mut out = Vec::new();
        for (i, c) in t.char_indices() {
            if c.is_ascii_digit() && text::word_start(t, i) {
                a.number_first(t, i, &mut out);
            }
        }
        let lower = t.to_lowercase();
        for w in WORDS {
            for (i, _) in lower.match_indices(w) {
                a.street_word(t, i, &mut out);
            }
        }
        out.iter().map(|h| t[h.start..h.end].to_owned()).collect()
    }

    #[test]
    fn streets_and_postcodes() {
        for (t, v) in [
            (
                "ship to 1600 Pennsylvania Avenue NW, Washington, DC 20500 today",
                "1600 Pennsylvania Avenue NW, Washington, DC 20500",
            ),
            (
                "at 221B Baker Street, London NW1 6XE.",
                "221B Baker Street, London NW1 6XE",
            ),
            (
                "lives at 42 Wallaby Way, Sydney NSW 2000",
                "42 Wallaby Way, Sydney NSW 2000",
            ),
            (
                "350 Fifth Ave, Apt 4B, New York, NY 10118",
                "350 Fifth Ave, Apt 4B, New York, NY 10118",
            ),
            (
                "12 rue de la Paix, 75002 Paris",
                "12 rue de la Paix, 75002 Paris",
            ),
            (
                "Hauptstraße 12, 10115 Berlin",
                "Hauptstraße 12, 10115 Berlin",
            ),
            ("in der Berliner Straße 5a wohnt", "Berliner Straße 5a"),
            (
                "Keizersgracht 123, 1015 CJ Amsterdam",
                "Keizersgracht 123, 1015 CJ Amsterdam",
            ),
            ("Calle Mayor 5, 28013 Madrid", "Calle Mayor 5, 28013 Madrid"),
            ("Via Roma 10, 00184 Roma", "Via Roma 10, 00184 Roma"),
            (
                "100 King St W, Toronto, ON M5X 1A9",
                "100 King St W, Toronto, ON M5X 1A9",
            ),
        ] {
            let found = run(t);
            assert!(found.iter().any(|f| f == v), "{t}: {found:?}");
        }
    }

    #[test]
    fn numbers_and_words_that_are_not_addresses() {
        for t in [
            "we shipped 12 Boxes today",
            "via email please",
            "3 Ways to improve",
            "the string 5 times",
            "version 2 Street Fighter",
        ] {
            assert!(run(t).is_empty(), "{t}: {:?}", run(t));
        }
    }
}
