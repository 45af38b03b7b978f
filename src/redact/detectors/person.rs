//! Names of people (`PERSON`) without a model: a capitalised name right after the words that
//! introduce one — honorifics (`Mr`, `Dr`, `Frau`, `Mme`, `Sra.`), salutations (`Dear`,
//! `Hi`), introductions (`my name is`, `I'm`, `Name:`), roles (`patient`, `customer`) and
//! signature blocks (`Best regards,\nJane Doe`).
//!
//! Best effort by design: a name nobody introduces is not found, and a capitalised common
//! word after "Hi" is refused by a stop list. Precision matters more than recall here,
//! because a false PERSON rewrites ordinary words in the prompt.

use regex::Regex;

use super::{text, Hit, PERSON};

/// How a trigger word introduces a name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `Mr Smith`, `Dr. Jane Doe`: the word must be capitalised.
    Honorific,
    /// `Dear Jane,` / `Hi Omar!`: the name ends at punctuation or the line.
    Salutation,
    /// `my name is Jane Doe`, `Name: Jane Doe`, `patient Jane Doe`.
    Intro,
    /// `Best regards,\nJane Doe`: the name is alone on the next line.
    Closing,
}

/// The trigger words (lower case), with their form.
pub(crate) const WORDS: &[(&str, Form)] = &[
    ("mr", Form::Honorific),
    ("mrs", Form::Honorific),
    ("ms", Form::Honorific),
    ("miss", Form::Honorific),
    ("dr", Form::Honorific),
    ("prof", Form::Honorific),
    ("herr", Form::Honorific),
    ("frau", Form::Honorific),
    ("mme", Form::Honorific),
    ("mlle", Form::Honorific),
    ("m.", Form::Honorific),
    ("sr.", Form::Honorific),
    ("sra.", Form::Honorific),
    ("srta.", Form::Honorific),
    ("sig.", Form::Honorific),
    ("sig.ra", Form::Honorific),
    ("dear", Form::Salutation),
    ("hi", Form::Salutation),
    ("hello", Form::Salutation),
    ("hey", Form::Salutation),
    ("bonjour", Form::Salutation),
    ("hallo", Form::Salutation),
    ("hola", Form::Salutation),
    ("ciao", Form::Salutation),
    ("liebe", Form::Salutation),
    ("lieber", Form::Salutation),
    ("sehr geehrte", Form::Salutation),
    ("sehr geehrter", Form::Salutation),
    ("my name is", Form::Intro),
    ("my name's", Form::Intro),
    ("name is", Form::Intro),
    ("i'm", Form::Intro),
    ("i’m", Form::Intro),
    ("i am", Form::Intro),
    ("this is", Form::Intro),
    ("name:", Form::Intro),
    ("full name", Form::Intro),
    ("patient", Form::Intro),
    ("customer", Form::Intro),
    ("employee", Form::Intro),
    ("client", Form::Intro),
    ("applicant", Form::Intro),
    ("tenant", Form::Intro),
    ("signed", Form::Intro),
    ("attn", Form::Intro),
    ("contact person", Form::Intro),
    ("je m'appelle", Form::Intro),
    ("je suis", Form::Intro),
    ("ich heiße", Form::Intro),
    ("ich bin", Form::Intro),
    ("mein name ist", Form::Intro),
    ("me llamo", Form::Intro),
    ("mi nombre es", Form::Intro),
    ("mi chiamo", Form::Intro),
    ("regards", Form::Closing),
    ("thanks", Form::Closing),
    ("thank you", Form::Closing),
    ("sincerely", Form::Closing),
    ("cheers", Form::Closing),
    ("best", Form::Closing),
    ("yours", Form::Closing),
    ("cordialement", Form::Closing),
    ("grüße", Form::Closing),
    ("grüßen", Form::Closing),
    ("saludos", Form::Closing),
    ("atentamente", Form::Closing),
    ("saluti", Form::Closing),
    ("groeten", Form::Closing),
];

/// Capitalised words that follow trigger words without being names.
const STOP: &[&str] = &[
    "The",
    "This",
    "That",
    "These",
    "Those",
    "There",
    "Here",
    "It",
    "I",
    "A",
    "An",
    "We",
    "You",
    "They",
    "He",
    "She",
    "All",
    "Everyone",
    "Team",
    "Folks",
    "Guys",
    "Sir",
    "Madam",
    "Support",
    "Thanks",
    "Thank",
    "Please",
    "Just",
    "So",
    "Also",
    "Not",
    "Sure",
    "Going",
    "Looking",
    "Trying",
    "Happy",
    "Sorry",
    "Glad",
    "Good",
    "Great",
    // Type names after a field's name in code (`val name: String`, `name: Text`).
    "String",
    "Str",
    "Text",
    "Int",
    "Integer",
    "Long",
    "Short",
    "Boolean",
    "Bool",
    "Double",
    "Float",
    "Char",
    "Byte",
    "Any",
    "Unit",
    "Object",
    "List",
    "Array",
    "Optional",
    "Option",
    "Nullable",
    "Void",
    "World",
    "There",
    "Again",
    "Customer",
    "Service",
    "Services",
    "Care",
    "Name",
    "First",
    "Last",
    "Full",
    "Number",
    "Id",
    "ID",
    "Account",
    "Portal",
    "Regards",
    "Best",
    "Kind",
    "Warm",
    "Many",
    "Hope",
    "Yes",
    "No",
    "Ok",
    "OK",
    "Okay",
    "Hello",
    "Hi",
    "Dear",
    "Team",
    "Manager",
    "Admin",
    "Bot",
    "Assistant",
    "User",
    "Users",
    "Data",
    "Info",
    "Information",
    "Note",
    "Notes",
    "Record",
    "Records",
    "Satisfaction",
    "Experience",
    "Portal",
    "Feedback",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
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
    "English",
    "German",
    "French",
    "Spanish",
    "Using",
    "Working",
    "Writing",
    "Asking",
    "Wondering",
    "New",
    "Now",
    "Today",
    "Also",
    "Still",
    "Currently",
    "Being",
    "Very",
    "Really",
    "Wishes",
    "Morning",
    "Afternoon",
    "Evening",
    "Night",
    "Ladies",
    "Gentlemen",
    "Mr",
    "Mrs",
    "Ms",
    "Dr",
    "Prof",
    "Herr",
    "Frau",
    "Mme",
    "Zusammen",
    "Alle",
    "Tous",
    "Todos",
    "Tutti",
    "Equipo",
    "Jour",
];

pub(crate) struct Person {
    name: Regex,
    closing_gap: Regex,
}

impl Person {
    pub(crate) fn new() -> Result<Person, String> {
        // One to three capitalised words, with initials and particles (`van der`, `de`),
        // hyphens and apostrophes (`Jean-Luc`, `O'Brien`).
        let word = r"\p{Lu}[\p{Ll}\p{Lu}]*(?:['’-]\p{Lu}?\p{Ll}+)*";
        let name = format!(
            r"^(?:\p{{Lu}}\.\s?){{0,2}}{word}(?:[ ](?:(?:van|von|de|der|den|da|di|del|della|la|le|du|dos|das|bin|al|ter)[ ]){{0,2}}(?:\p{{Lu}}\.\s?)?{word}){{0,2}}"
        );
        Ok(Person {
            name: Regex::new(&name).map_err(|e| e.to_string())?,
            closing_gap: Regex::new(r"^[ \t]*[,!.]?[ \t]*\r?\n[ \t]*")
                .map_err(|e| e.to_string())?,
        })
    }

    /// Checks the trigger `word` found at `start..end`.
    pub(crate) fn find(
        &self,
        text: &str,
        form: Form,
        start: usize,
        end: usize,
        out: &mut Vec<Hit>,
    ) {
        if !text::word_start(text, start) {
            return;
        }
        let b = text.as_bytes();
        let mut i = end;
        match form {
            Form::Honorific => {
                // Written capitalised, then `.` or a space.
                if !b.get(start).is_some_and(u8::is_ascii_uppercase) {
                    return;
                }
                if b.get(i) == Some(&b'.') && b.get(i - 1) != Some(&b'.') {
                    i += 1;
                }
                if b.get(i) != Some(&b' ') {
                    return;
                }
                i += 1;
            }
            Form::Salutation => {
                if !text::word_end(text, end) {
                    return;
                }
                if b.get(i) == Some(&b',') {
                    i += 1;
                }
                if b.get(i) != Some(&b' ') {
                    return;
                }
                i += 1;
            }
            Form::Intro => {
                if !text::word_end(text, end) && !text.get(..end).is_some_and(|s| s.ends_with(':'))
                {
                    return;
                }
                while matches!(b.get(i), Some(b':' | b' ' | b'\t' | b'-')) && i < end + 4 {
                    i += 1;
                }
                if i == end {
                    return;
                }
            }
            Form::Closing => {
                if !text::word_end(text, end) {
                    return;
                }
                let rest = text::window_after(text, end, 16);
                let Some(gap) = self.closing_gap.find(rest) else {
                    // `Thanks, Jane` on one line.
                    if b.get(i) == Some(&b',') && b.get(i + 1) == Some(&b' ') {
                        i += 2;
                        return self.take(text, i, form, out);
                    }
                    return;
                };
                i += gap.end();
            }
        }
        self.take(text, i, form, out);
    }

    fn take(&self, text: &str, at: usize, form: Form, out: &mut Vec<Hit>) {
        let hay = text::window_after(text, at, 80);
        let Some(m) = self.name.find(hay) else { return };
        let name = m.as_str();
        let first = name
            .split([' ', '.'])
            .find(|w| !w.is_empty())
            .unwrap_or_default();
        if STOP.contains(&first) || name.len() < 2 {
            return;
        }
        let end = at + m.end();
        let next = text.get(end..).and_then(|s| s.chars().next());
        let ok = match form {
            Form::Honorific | Form::Intro => next.is_none_or(|c| !c.is_alphanumeric()),
            // `Hi Omar,` — a name, then punctuation or the end of the line.
            Form::Salutation => next
                .is_none_or(|c| matches!(c, ',' | '!' | '\n' | '\r' | ':' | ';' | '.' | '-' | '—')),
            // Alone on its line (a title after a comma is allowed).
            Form::Closing => next.is_none_or(|c| matches!(c, '\n' | '\r' | ',' | ' ')),
        };
        // All-caps words are acronyms, not names.
        if ok
            && !name
                .chars()
                .filter(|c| c.is_alphabetic())
                .all(char::is_uppercase)
        {
            out.push(Hit::new(at, end, PERSON));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str) -> Vec<String> {
        let p = Person::new().unwrap();
        let lower = t.to_lowercase();
        let mut out = Vec::new();
        for (w, form) in WORDS {
            for (i, _) in lower.match_indices(w) {
                p.find(t, *form, i, i + w.len(), &mut out);
            }
        }
        out.iter().map(|h| t[h.start..h.end].to_owned()).collect()
    }

    #[test]
    fn introduced_names() {
        for (t, v) in [
            ("Please call Dr. Jane Doe tomorrow", "Jane Doe"),
            ("Mr Smith was late", "Smith"),
            ("Dear Omar,\nthanks", "Omar"),
            ("Hi Sarah! Quick question", "Sarah"),
            ("my name is Li Wei and I", "Li Wei"),
            ("Name: Ana Souza", "Ana Souza"),
            ("patient Jean-Luc Picard was admitted", "Jean-Luc Picard"),
            ("Best regards,\nJane Doe\nACME", "Jane Doe"),
            ("Thanks,\nSven", "Sven"),
            ("Sehr geehrte Frau Müller,", "Müller"),
            ("Bonjour Mme Lefèvre,", "Lefèvre"),
            ("I'm Omar Khan, the new lead", "Omar Khan"),
            (
                "customer Ludwig van Beethoven complained",
                "Ludwig van Beethoven",
            ),
        ] {
            let found = run(t);
            assert!(found.iter().any(|f| f == v), "{t}: {found:?}");
        }
    }

    #[test]
    fn ordinary_words_stay() {
        for t in [
            "Hi team, please review",
            "Hello World program",
            "Best practices for APIs",
            "Thanks for the help",
            "I'm Looking forward",
            "customer service is closed",
            "the CUSTOMER ID field",
            "drop the mrna sample",
        ] {
            assert!(run(t).is_empty(), "{t}: {:?}", run(t));
        }
    }
}
