//! US Social Security numbers: the ranges the SSA never issues are refused.

use super::text;

/// Area 000, 666 and 900–999, group 00 and serial 0000 are never issued.
pub fn ssn(value: &str) -> bool {
    let d: Vec<u32> = value.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 9 {
        return false;
    }
    let area = d.iter().take(3).fold(0, |a, x| a * 10 + x);
    let group = d.iter().skip(3).take(2).fold(0, |a, x| a * 10 + x);
    let serial = d.iter().skip(5).fold(0, |a, x| a * 10 + x);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Words that make a bare or space-separated nine-digit run an SSN (within ~40 bytes before).
pub(crate) const CONTEXT: text::Words = text::Words::new(&[
    "ssn",
    "ss#",
    "social security",
    "soc sec",
    "social-security",
    "tax id",
    "taxpayer id",
    "tin",
    "itin",
]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_ranges() {
        assert!(ssn("123-45-6789"));
        assert!(ssn("899 99 9999"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "999-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(!ssn(bad), "{bad}");
        }
    }
}
