//! Detectors that need a context word before the value: a date of birth after "born on",
//! a passport number after "passport", a driver's licence number after "DL", and vendor
//! secrets that have no prefix of their own (AWS secret keys, Twilio, Discord, Cohere…).
//!
//! The context word is found by the shared word pass; only then does the value pattern
//! run, over a short window after the word.

use regex::Regex;

use super::{secrets, text, Hit, Kind, DATE_OF_BIRTH, SECRET, US_DRIVER_LICENSE, US_PASSPORT};

/// Month names (English, German, French, Spanish, Italian, Dutch), full and abbreviated.
const MONTHS: &str = r"(?i:jan(?:uary|uar|vier|uari)?|feb(?:ruary|ruar|rero|braio|ruari)?|f[ée]v(?:rier)?|m(?:ar|är)(?:ch|z|s|zo|t)?|apr(?:il|ile)?|avr(?:il)?|abr(?:il)?|may(?:o)?|mai|ma(?:ggio|art)|mei|jun(?:e|i|io)?|juin|giu(?:gno)?|jul(?:y|i|io)?|juil(?:let)?|lug(?:lio)?|aug(?:ust|ustus)?|ao[uû]t|ago(?:sto)?|sep(?:t(?:ember|embre)?)?|set(?:tembre)?|oct(?:ober|obre|ubre)?|okt(?:ober)?|ott(?:obre)?|nov(?:ember|embre|iembre)?|de[cz](?:ember|embre)?|d[ée]c(?:embre)?|dic(?:iembre|embre)?)\.?";

/// A date in the common written forms: `1985-03-12`, `12/03/1985`, `12.03.1985`,
/// `03-12-85`, `12 March 1985`, `March 12, 1985`, `12. März 1985`, `12 de marzo de 1985`.
fn date_pattern() -> String {
    format!(
        r"(?:\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.](?:\d{{4}}|\d{{2}})|\d{{1,2}}(?:st|nd|rd|th|er|\.)?\s(?:de\s)?{MONTHS}\s(?:de\s)?\d{{4}}|{MONTHS}\s\d{{1,2}}(?:st|nd|rd|th)?,?\s\d{{4}})"
    )
}

/// What a window rule confirms beyond its pattern.
#[derive(Clone, Copy)]
enum Check {
    Always,
    /// A machine-made secret: a digit, entropy ≥ 3.5, not a UUID.
    Random,
}

struct Rule {
    kind: Kind,
    pattern: String,
    /// How many bytes after the context word the value may start.
    reach: usize,
    check: Check,
}

/// The context words of each rule (lower case; matched case-insensitively at word starts).
pub(crate) const WORDS: &[(&str, usize)] = &[
    // 0: date of birth.
    ("dob", 0),
    ("d.o.b", 0),
    ("date of birth", 0),
    ("birth date", 0),
    ("birthdate", 0),
    ("birthday", 0),
    ("born", 0),
    ("geb.", 0),
    ("geboren", 0),
    ("geburtsdatum", 0),
    ("né le", 0),
    ("née le", 0),
    ("date de naissance", 0),
    ("fecha de nacimiento", 0),
    ("nacido el", 0),
    ("nacida el", 0),
    ("data di nascita", 0),
    ("nato il", 0),
    ("nata il", 0),
    ("geboortedatum", 0),
    ("data urodzenia", 0),
    ("födelsedatum", 0),
    // 1: US passport.
    ("passport", 1),
    ("reisepass", 1),
    ("passeport", 1),
    ("pasaporte", 1),
    ("passaporte", 1),
    ("passaporto", 1),
    // 2: US driver's licence.
    ("driver's licen", 2),
    ("drivers licen", 2),
    ("driver licen", 2),
    ("driver’s licen", 2),
    ("driving licen", 2),
    ("dl#", 2),
    ("dl #", 2),
    ("dl:", 2),
    ("dl no", 2),
    ("dl number", 2),
    ("licence number", 2),
    ("license number", 2),
    ("license no", 2),
    ("licence no", 2),
    ("license #", 2),
    ("dl ", 2),
    ("führerschein", 2),
    ("licencia de conducir", 2),
    ("permis de conduire", 2),
    ("carteira de motorista", 2),
    ("patente di guida", 2),
    // 3: AWS secret access keys in prose.
    ("aws", 3),
    // 4: Twilio.
    ("twilio", 4),
    // 5: Discord bot tokens.
    ("discord", 5),
    // 6: vendors whose keys are bare random strings.
    ("cohere", 6),
    ("mistral", 6),
    ("travis", 6),
    ("circleci", 6),
    ("azure", 6),
    ("client secret", 6),
    ("heroku", 6),
];

fn rules() -> Vec<Rule> {
    let b = r"(?-u:\b)";
    vec![
        Rule {
            kind: DATE_OF_BIRTH,
            pattern: format!("{b}({})", date_pattern()),
            reach: 48,
            check: Check::Always,
        },
        Rule {
            kind: US_PASSPORT,
            pattern: format!("{b}([A-Z]?[0-9]{{8,9}}){b}"),
            reach: 40,
            check: Check::Always,
        },
        Rule {
            kind: US_DRIVER_LICENSE,
            // The state formats, as one alternation: letter + 4–14 digits (CA, FL, IL, NY…),
            // 1–2 letters + digits, digits only (7–12), `123AB4567` (CO/MD style), and dashed
            // forms such as `S123-456-78-901-0`, NJ `A1234 56789 01234`, WA `WDL` + 9.
            pattern: format!(
                r"{b}([A-Z]\d{{3}}-\d{{3}}-\d{{2}}-\d{{3}}-\d|[A-Z]\d{{3}}-\d{{4}}-\d{{4}}|[A-Z]\d{{4}} \d{{5}} \d{{5}}|WDL[A-Z0-9]{{9}}|[A-Z]{{1,2}}[- ]?\d{{4,14}}|\d{{3}}[A-Z]{{2}}\d{{4}}|\d{{7,12}}|\d{{3}}[- ]\d{{3}}[- ]\d{{3}}){b}"
            ),
            reach: 40,
            check: Check::Always,
        },
        Rule {
            kind: SECRET,
            pattern: r"(?:^|[^A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)".to_owned(),
            reach: 100,
            check: Check::Random,
        },
        Rule {
            kind: SECRET,
            pattern: format!("{b}((?:SK|AC)[0-9a-fA-F]{{32}}){b}"),
            reach: 100,
            check: Check::Always,
        },
        Rule {
            kind: SECRET,
            pattern: format!(
                "{b}([MNO][A-Za-z0-9_-]{{23,27}}\\.[A-Za-z0-9_-]{{6}}\\.[A-Za-z0-9_-]{{27,40}})"
            ),
            reach: 100,
            check: Check::Always,
        },
        Rule {
            kind: SECRET,
            pattern: format!("{b}([A-Za-z0-9_~.-]{{32,64}})(?:[^A-Za-z0-9_~.-]|$)"),
            reach: 100,
            check: Check::Random,
        },
    ]
}

/// The compiled window rules, indexed like the numbers in [`WORDS`].
pub(crate) struct Windows {
    rules: Vec<(Rule, Regex)>,
}

impl Windows {
    pub(crate) fn new() -> Result<Windows, String> {
        let rules = rules()
            .into_iter()
            .map(|r| {
                let re = Regex::new(&r.pattern).map_err(|e| e.to_string())?;
                Ok((r, re))
            })
            .collect::<Result<_, String>>()?;
        Ok(Windows { rules })
    }

    /// Runs rule `id` over the window after a context word ending at `end`.
    pub(crate) fn find(&self, text: &str, id: usize, end: usize, out: &mut Vec<Hit>) {
        let Some((rule, re)) = self.rules.get(id) else {
            return;
        };
        let window = text::window_after(text, end, rule.reach + 64);
        for caps in re.captures_iter(window) {
            let Some(v) = caps.get(1) else { continue };
            if v.start() > rule.reach {
                break;
            }
            let ok = match rule.check {
                Check::Always => true,
                Check::Random => {
                    let s = v.as_str();
                    s.bytes().any(|c| c.is_ascii_digit())
                        && s.bytes().any(|c| c.is_ascii_alphabetic())
                        && secrets::entropy(s) >= 3.5
                        && !uuid(s)
                        && !secrets::placeholder(s)
                }
            };
            if ok {
                out.push(Hit::new(end + v.start(), end + v.end(), rule.kind));
                // One value per context word: "passport 123456789, issued 2019" has one.
                break;
            }
        }
    }
}

fn uuid(s: &str) -> bool {
    s.len() == 36 && s.bytes().filter(|b| *b == b'-').count() == 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str) -> Vec<(Kind, String)> {
        let w = Windows::new().unwrap();
        let lower = t.to_lowercase();
        let mut out = Vec::new();
        for (word, id) in WORDS {
            for (i, _) in lower.match_indices(word) {
                w.find(t, *id, i + word.len(), &mut out);
            }
        }
        out.iter()
            .map(|h| (h.kind, t[h.start..h.end].to_owned()))
            .collect()
    }

    #[test]
    fn dates_of_birth_in_many_forms() {
        for (t, v) in [
            ("DOB: 1985-03-12", "1985-03-12"),
            ("date of birth 12/03/1985", "12/03/1985"),
            ("born on March 12, 1985 in Ohio", "March 12, 1985"),
            ("geb. 12.03.1985", "12.03.1985"),
            ("née le 12 mars 1985", "12 mars 1985"),
            (
                "fecha de nacimiento: 12 de marzo de 1985",
                "12 de marzo de 1985",
            ),
            ("Birthday: 3rd July 1990", "3rd July 1990"),
        ] {
            let found = run(t);
            assert!(
                found.contains(&(DATE_OF_BIRTH, v.to_owned())),
                "{t}: {found:?}"
            );
        }
        assert!(run("meeting on 2024-03-12").is_empty());
    }

    #[test]
    fn passports_and_licences() {
        assert_eq!(
            run("passport number 123456789"),
            vec![(US_PASSPORT, "123456789".to_owned())]
        );
        assert_eq!(
            run("Passport No. A12345678."),
            vec![(US_PASSPORT, "A12345678".to_owned())]
        );
        assert!(run("passport photo taken in 2019").is_empty());
        for (t, v) in [
            ("driver's license D1234567", "D1234567"),
            ("DL# 123456789", "123456789"),
            ("drivers licence: S123-456-78-901-0", "S123-456-78-901-0"),
        ] {
            assert_eq!(run(t), vec![(US_DRIVER_LICENSE, v.to_owned())], "{t}");
        }
    }

    #[test]
    fn vendor_secrets_in_context() {
        let found = run("my AWS secret is wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Tr4KE+/ ok");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8Tr4KE+/");
        assert_eq!(
            run("twilio key SK0123456789abcdef0123456789abcdef").len(),
            1
        );
        assert!(run("azure tenant 72f988bf-86f1-41af-91ab-2d7cd011db47").is_empty());
    }
}
