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

/// A byte that may start a character text folding reads differently (`redact::fold`):
/// any outside printable ASCII but tab, line feed and carriage return.
/// Written with `&` and `|` on booleans, not `&&`, `||` or `matches!`: short-circuit
/// branches keep the block test from being vectorised (4 % more instructions per 64 KB
/// request under callgrind).
fn may_fold(b: u8) -> bool {
    let kept = (b == b'\t') | (b == b'\n') | (b == b'\r');
    (b >= 0x7F) | ((b < 0x20) & !kept)
}

/// An ASCII digit.
fn digit(b: u8) -> bool {
    b.wrapping_sub(b'0') < 10
}

/// A byte a JSON string must escape: `"`, `\` or a control character (below U+0020).
fn json_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Finds the bytes of one class in order, testing each 32-byte block once however many of
/// its bytes the caller asks for. Class bytes come in clusters (the digits of dates, times
/// and tables; the quotes and newlines of code), and a fresh search from each one would
/// test the same block again for the next.
pub(crate) struct Cursor<'b, C> {
    bytes: &'b [u8],
    class: C,
    /// Where the block whose mask is held starts.
    base: usize,
    /// That block's class bytes (bit `i`: byte `base + i`), those before `asked` cleared.
    mask: u32,
    /// The position last asked for (at least `base`).
    asked: usize,
}

/// A [`Cursor`] over ASCII digits.
pub(crate) fn digits(bytes: &[u8]) -> Cursor<'_, impl Fn(u8) -> bool> {
    Cursor::new(bytes, digit)
}

/// A [`Cursor`] over the bytes that may fold.
pub(crate) fn foldable(bytes: &[u8]) -> Cursor<'_, impl Fn(u8) -> bool> {
    Cursor::new(bytes, may_fold)
}

/// A [`Cursor`] over the bytes a JSON string must escape.
pub(crate) fn json_escapes(bytes: &[u8]) -> Cursor<'_, impl Fn(u8) -> bool> {
    Cursor::new(bytes, json_escape)
}

impl<'b, C: Fn(u8) -> bool> Cursor<'b, C> {
    fn new(bytes: &'b [u8], class: C) -> Self {
        let mask = block_mask(bytes, 0, &class);
        Cursor {
            bytes,
            class,
            base: 0,
            mask,
            asked: 0,
        }
    }

    /// The first byte of the class at or after `from`. Cheapest when `from` only grows.
    pub(crate) fn next_from(&mut self, from: usize) -> Option<usize> {
        let mut from = from;
        loop {
            if from >= self.bytes.len() {
                return None;
            }
            if from < self.asked || from >= self.base + BLOCK {
                // Behind what the mask still holds, or past its block: test afresh.
                self.base = from;
                self.mask = block_mask(self.bytes, from, &self.class);
            } else {
                // Bits for bytes before `from` are passed (`from - base` is below 32).
                self.mask &= u32::MAX << (from - self.base);
            }
            self.asked = from;
            if self.mask != 0 {
                return Some(self.base + self.mask.trailing_zeros() as usize);
            }
            from = self.base + BLOCK;
        }
    }
}

/// The class bytes among the (up to) 32 bytes from `at`, as a bit mask.
#[inline]
fn block_mask(bytes: &[u8], at: usize, class: &impl Fn(u8) -> bool) -> u32 {
    let mask_of = |block: &[u8]| {
        block
            .iter()
            .enumerate()
            .fold(0u32, |mask, (i, b)| mask | (u32::from(class(*b)) << i))
    };
    match bytes.get(at..at + BLOCK) {
        // A whole block: a fixed-size loop the compiler turns into vector compares.
        Some(block) => mask_of(block),
        None => mask_of(bytes.get(at..).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every position of a class byte, every start, across block edges and remainders,
    /// against the plain byte loop.
    #[test]
    fn the_first_byte_of_the_class_from_anywhere() {
        for len in [0, 1, 31, 32, 33, 64, 95, 100] {
            let mut text = vec![b'x'; len];
            assert_eq!(digits(&text).next_from(0), None);
            assert_eq!(digits(&text).next_from(len + 5), None);
            assert_eq!(foldable(&text).next_from(0), None);
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
                            digits(&text).next_from(from),
                            want,
                            "len {len}, {byte} at {at}, from {from}"
                        );
                    }
                }
                for byte in [b'"', b'\\', 0, 0x1F] {
                    text[at] = byte;
                    assert_eq!(json_escapes(&text).next_from(0), Some(at));
                    assert_eq!(json_escapes(&text).next_from(at + 1), None);
                }
                text[at] = 0x20;
                assert_eq!(json_escapes(&text).next_from(0), None);
                for (byte, folds) in [
                    (0xC3, true),
                    (0x7F, true),
                    (0x00, true),
                    (0x1B, true),
                    (b'\t', false),
                    (b'\n', false),
                    (b'\r', false),
                    (b'~', false),
                ] {
                    text[at] = byte;
                    assert_eq!(foldable(&text).next_from(0), folds.then_some(at), "{byte}");
                }
                text[at] = b'x';
            }
        }
    }

    proptest! {
        /// One cursor asked again and again (forwards mostly, sometimes back, sometimes
        /// past the end), over text where class bytes cluster, answers every question as a
        /// fresh byte loop does: a stale mask or a wrong shift at a block edge fails it.
        #[test]
        fn a_reused_cursor_answers_as_a_fresh_search(
            text in proptest::collection::vec(
                prop_oneof![Just(b'5'), Just(b'a'), Just(b'"'), Just(b'\n'), Just(b' '), any::<u8>()],
                0..300,
            ),
            steps in proptest::collection::vec((0usize..40, any::<bool>(), 0usize..320), 1..60),
        ) {
            let naive = |class: fn(u8) -> bool, from: usize| {
                text.iter().enumerate().skip(from).find(|(_, b)| class(**b)).map(|(i, _)| i)
            };
            let (mut d, mut e) = (digits(&text), json_escapes(&text));
            let mut at = 0;
            for (stride, jump, anywhere) in steps {
                // Mostly from just past the last answer, as the scanners ask.
                at = if jump { anywhere } else { at + stride };
                let want_d = naive(digit, at);
                prop_assert_eq!(d.next_from(at), want_d, "digits from {}", at);
                prop_assert_eq!(e.next_from(at), naive(json_escape, at), "escapes from {}", at);
                if let Some(found) = want_d {
                    at = found + 1;
                }
            }
        }
    }
}
