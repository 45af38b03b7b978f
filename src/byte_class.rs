//! Finding the first byte of a class (a digit, a non-ASCII byte, a byte JSON must escape)
//! in long text.
//!
//! The scanners and the JSON writer look for such bytes across every text they are given,
//! where they are sparse: prose has a digit every few dozen bytes at most, English text no
//! non-ASCII byte at all, and a prompt a quote or a newline now and then. A byte loop with
//! an early exit cannot be vectorised; testing 32 bytes at a time into a bit mask can (the
//! compiler turns it into vector compares), and the mask's lowest set bit is the answer
//! within the block.

/// Bytes tested together.
const BLOCK: usize = 32;

/// The index of the first byte in `bytes` for which `class` holds. `class` must be a
/// simple test on the byte's value for the block test to vectorise.
#[inline]
fn first(bytes: &[u8], class: impl Fn(u8) -> bool) -> Option<usize> {
    let mut blocks = bytes.chunks_exact(BLOCK);
    let mut base = 0;
    for block in &mut blocks {
        let mask = block
            .iter()
            .enumerate()
            .fold(0u32, |mask, (i, b)| mask | (u32::from(class(*b)) << i));
        if mask != 0 {
            return Some(base + mask.trailing_zeros() as usize);
        }
        base += BLOCK;
    }
    blocks
        .remainder()
        .iter()
        .position(|b| class(*b))
        .map(|i| base + i)
}

/// The first ASCII digit at or after `from`.
pub(crate) fn next_digit(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    first(rest, |b| b.wrapping_sub(b'0') < 10).map(|i| from + i)
}

/// The first byte that is not ASCII (the start of a multi-byte character in UTF-8).
pub(crate) fn first_non_ascii(bytes: &[u8]) -> Option<usize> {
    first(bytes, |b| b >= 0x80)
}

/// The first byte at or after `from` that a JSON string must escape: `"`, `\` or a control
/// character (below U+0020).
pub(crate) fn next_json_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    first(rest, |b| b < 0x20 || b == b'"' || b == b'\\').map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every position of a class byte, every start, across block edges and remainders,
    /// against the plain byte loop.
    #[test]
    fn the_first_byte_of_the_class_from_anywhere() {
        for len in [0, 1, 31, 32, 33, 64, 95, 100] {
            let mut text = vec![b'x'; len];
            assert_eq!(next_digit(&text, 0), None);
            assert_eq!(next_digit(&text, len + 5), None);
            assert_eq!(first_non_ascii(&text), None);
            for at in 0..len {
                for (byte, digit) in [
                    (b'7', true),
                    (b'0', true),
                    (b'9', true),
                    (b'/', false),
                    (b':', false),
                ] {
                    text[at] = byte;
                    for from in [0, 1, 31, 32, 33, at] {
                        let want = digit.then_some(at).filter(|a| *a >= from);
                        assert_eq!(
                            next_digit(&text, from),
                            want,
                            "len {len}, {byte} at {at}, from {from}"
                        );
                    }
                }
                for byte in [b'"', b'\\', 0, 0x1F] {
                    text[at] = byte;
                    assert_eq!(next_json_escape(&text, 0), Some(at));
                    assert_eq!(next_json_escape(&text, at + 1), None);
                }
                text[at] = 0x20;
                assert_eq!(next_json_escape(&text, 0), None);
                text[at] = 0xC3;
                assert_eq!(first_non_ascii(&text), Some(at));
                text[at] = 0x7F;
                assert_eq!(first_non_ascii(&text), None);
                text[at] = b'x';
            }
        }
    }
}
