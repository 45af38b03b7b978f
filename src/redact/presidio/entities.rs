//! Presidio's entity names, as orguard's type names.
//!
//! A value Presidio finds is treated exactly as one a built-in detector finds: the class's
//! action for its type applies (`redact_types = { PERSON = "block" }`), and it raises the
//! class as personal data. So an entity Presidio and orguard both know takes orguard's name
//! (`LOCATION` is an `ADDRESS`, `EMAIL_ADDRESS` an `EMAIL`): one policy entry covers what
//! either detector finds, and overlapping finds merge into one span of one type. Any other
//! entity keeps Presidio's name (`NRP`, `DATE_TIME`, `ORGANIZATION`) and is a type of its
//! own in the policy tables.

use crate::redact::detectors::{
    Kind, ADDRESS, CREDIT_CARD, EMAIL, IBAN, IP_ADDRESS, PERSON, PHONE, US_DRIVER_LICENSE,
    US_PASSPORT, US_SSN,
};

/// Presidio entity → orguard type, where orguard has a type for the same thing.
pub const MAPPED: [(&str, Kind); 13] = [
    ("PERSON", PERSON),
    // Presidio's spaCy and transformer models tag places (cities, countries, streets) as
    // LOCATION; custom recognizers often say ADDRESS or STREET_ADDRESS.
    ("LOCATION", ADDRESS),
    ("ADDRESS", ADDRESS),
    ("STREET_ADDRESS", ADDRESS),
    ("EMAIL_ADDRESS", EMAIL),
    ("PHONE_NUMBER", PHONE),
    ("CREDIT_CARD", CREDIT_CARD),
    ("IBAN_CODE", IBAN),
    ("US_SSN", US_SSN),
    ("IP_ADDRESS", IP_ADDRESS),
    ("US_PASSPORT", US_PASSPORT),
    ("US_DRIVER_LICENSE", US_DRIVER_LICENSE),
    ("EMAIL", EMAIL),
];

/// The orguard type for a Presidio entity: its mapped name, or its own name (interned, so
/// that it can be a `Kind`). `known` is every type name already in use, searched first so
/// that a reload does not intern the same name again.
pub fn kind_of(entity: &str, known: &[Kind]) -> Kind {
    if let Some((_, kind)) = MAPPED.iter().find(|(e, _)| *e == entity) {
        return kind;
    }
    match known.iter().find(|k| **k == entity) {
        Some(k) => k,
        // Config is compiled once per load or reload: a handful of short names, as the
        // custom detectors' names are.
        None => Box::leak(entity.to_owned().into_boxed_str()),
    }
}

/// Whether `entity` is written as Presidio writes entity names (and so as orguard writes
/// type names): uppercase letters, digits and `_`.
pub fn is_entity_name(entity: &str) -> bool {
    !entity.is_empty()
        && entity
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && entity
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_uppercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_entities_take_orguards_names_and_others_keep_theirs() {
        assert_eq!(kind_of("PERSON", &[]), "PERSON");
        assert_eq!(kind_of("LOCATION", &[]), "ADDRESS");
        assert_eq!(kind_of("EMAIL_ADDRESS", &[]), "EMAIL");
        assert_eq!(kind_of("NRP", &[]), "NRP");
        let known: [Kind; 1] = ["DATE_TIME"];
        assert!(std::ptr::eq(kind_of("DATE_TIME", &known), known[0]));
    }

    #[test]
    fn entity_names_are_presidios_spelling() {
        assert!(is_entity_name("PERSON"));
        assert!(is_entity_name("US_SSN"));
        for bad in ["", "person", "PER SON", "_X", "1X", "PERSÖN"] {
            assert!(!is_entity_name(bad), "{bad:?}");
        }
    }
}
