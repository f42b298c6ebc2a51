//! Finding a byte and reading a number inside one log line's fields, inlined into the parsers.
//!
//! `memchr` is the tool for long haystacks, but a log line's quoted fields are tens of bytes:
//! there its dispatch and alignment set-up cost as much as the search (a sixth of the NCSA
//! parser's instructions). This looks at 16 bytes at a time with SSE2, which every x86_64 CPU
//! has, so it needs no run-time detection and inlines into the caller's loop.

/// Index of the first `needle` in `hay`.
#[inline(always)]
pub(crate) fn find(hay: &[u8], needle: u8) -> Option<usize> {
    find_either(hay, needle, needle)
}

/// Index of the first byte in `hay` that is `a` or `b`.
#[inline(always)]
pub(crate) fn find_either(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let n = hay.len();
        if n < 16 {
            return hay.iter().position(|&c| c == a || c == b);
        }
        let ptr = hay.as_ptr();
        // SAFETY: SSE2 is part of the x86_64 baseline. Every load reads the 16 bytes at
        // `ptr + at` with `at + 16 <= n`, inside `hay`; unaligned loads are allowed.
        unsafe {
            let (pa, pb) = (_mm_set1_epi8(a as i8), _mm_set1_epi8(b as i8));
            let mask_at = |at: usize| {
                let v = _mm_loadu_si128(ptr.add(at).cast());
                let hits = _mm_or_si128(_mm_cmpeq_epi8(v, pa), _mm_cmpeq_epi8(v, pb));
                _mm_movemask_epi8(hits) as u32
            };
            let mut at = 0;
            while at + 16 <= n {
                let m = mask_at(at);
                if m != 0 {
                    return Some(at + m.trailing_zeros() as usize);
                }
                at += 16;
            }
            if at < n {
                // The last 16 bytes, overlapping ones already looked at: shift those out.
                let last = n - 16;
                let m = mask_at(last) >> (at - last);
                if m != 0 {
                    return Some(at + m.trailing_zeros() as usize);
                }
            }
            None
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        memchr::memchr2(a, b, hay)
    }
}

/// The words of a line between runs of one separator byte (Squid's padded columns), found from
/// a bit mask of the line 64 bytes at a time: one pass over the line instead of a search and a
/// skip loop restarted at each field (a third of Squid's parse time went there).
pub(crate) struct Words<'a> {
    hay: &'a [u8],
    sep: u8,
    /// Where the current block starts.
    base: usize,
    /// Bit `i` set: `hay[base + i]` is part of a word not yet returned.
    bits: u64,
}

impl<'a> Words<'a> {
    /// The words of `hay` separated by runs of `sep`.
    #[inline(always)]
    pub(crate) fn new(hay: &'a [u8], sep: u8) -> Self {
        Words {
            hay,
            sep,
            base: 0,
            bits: word_bits(hay, sep, 0),
        }
    }
}

impl<'a> Iterator for Words<'a> {
    /// The word's start and end in the line.
    type Item = (usize, usize);

    #[inline(always)]
    fn next(&mut self) -> Option<(usize, usize)> {
        while self.bits == 0 {
            self.base += 64;
            if self.base >= self.hay.len() {
                return None;
            }
            self.bits = word_bits(self.hay, self.sep, self.base);
        }
        let start = self.base + self.bits.trailing_zeros() as usize;
        // The word's end: the first clear bit above its start, maybe blocks later.
        loop {
            let rest = !self.bits & (u64::MAX << (start.max(self.base) - self.base));
            if rest != 0 {
                let end = rest.trailing_zeros();
                self.bits &= u64::MAX.checked_shl(end).unwrap_or(0);
                return Some((start, self.base + end as usize));
            }
            self.base += 64;
            if self.base >= self.hay.len() {
                self.bits = 0;
                return Some((start, self.hay.len()));
            }
            self.bits = word_bits(self.hay, self.sep, self.base);
        }
    }
}

/// Bit `i` set when `hay[base + i]` exists and is not `sep`.
#[inline(always)]
fn word_bits(hay: &[u8], sep: u8, base: usize) -> u64 {
    let block = &hay[base.min(hay.len())..];
    if block.len() < 64 {
        let mut bits = 0u64;
        for (i, &c) in block.iter().enumerate() {
            bits |= u64::from(c != sep) << i;
        }
        return bits;
    }
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of the x86_64 baseline; the four loads read `block[..64]`,
        // which exists (checked above).
        unsafe {
            let s = _mm_set1_epi8(sep as i8);
            let ptr = block.as_ptr();
            let mut seps = 0u64;
            for k in 0..4 {
                let v = _mm_loadu_si128(ptr.add(16 * k).cast());
                seps |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, s)) as u16) << (16 * k);
            }
            !seps
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut bits = 0u64;
        for (i, &c) in block[..64].iter().enumerate() {
            bits |= u64::from(c != sep) << i;
        }
        bits
    }
}

/// The value and count of the decimal digits `b` starts with, at most `max` of them (at most
/// 19, so the value cannot overflow), read one byte at a time.
#[inline(always)]
pub(crate) fn digits(b: &[u8], max: usize) -> (u64, usize) {
    debug_assert!(max <= 19);
    let (mut n, mut len) = (0u64, 0);
    while len < max
        && let Some(&c) = b.get(len)
    {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        n = n * 10 + u64::from(d);
        len += 1;
    }
    (n, len)
}

/// Eight bytes as one little-endian word, read as digits at once: each byte XOR `'0'` (0 to 9
/// for a digit), and a mask with bits set in each byte that is not a digit.
///
/// `'0'..='9'` XOR 0x30 is 0..=9; any other byte has a high nibble, as it is or after adding
/// 6. A carry out of a byte only comes from one that is not a digit, so the lowest such byte is
/// found exactly (bytes above it may be marked too).
#[inline(always)]
pub(crate) fn digit_word(w: u64) -> (u64, u64) {
    let t = w ^ 0x3030_3030_3030_3030;
    let not_digit = (t | t.wrapping_add(0x0606_0606_0606_0606)) & 0xF0F0_F0F0_F0F0_F0F0;
    (t, not_digit)
}

/// The decimal number that `b` starts with, and its length in digits, when it has 1 to 7
/// digits and `b` has at least 8 bytes; `None` otherwise (the caller reads it byte by byte).
///
/// A field's length varies from line to line (a body of 0 or 95519 bytes), and a loop that
/// stops at the first non-digit mispredicts its exit nearly every line. This reads eight bytes
/// as one word: one test finds the first non-digit, three multiplies make the number.
#[inline(always)]
pub(crate) fn leading_digits(b: &[u8]) -> Option<(u64, usize)> {
    let (t, not_digit) = digit_word(u64::from_le_bytes(b.get(..8)?.try_into().expect("8 bytes")));
    let len = (not_digit.trailing_zeros() / 8) as usize;
    if len == 0 || len == 8 {
        return None;
    }
    // The digits to the top bytes (zeros before them are leading zeros), then pairs, quads
    // and the eight-digit value, first digit most significant.
    let t = t << (8 * (8 - len));
    let t = (t & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561) >> 8;
    let t = (t & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    let t = (t & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32;
    Some((t, len))
}

#[cfg(test)]
mod tests {
    use super::{Words, find, find_either, leading_digits};

    #[test]
    fn leading_digits_reads_one_to_seven() {
        for (s, want) in [
            ("0 ......", Some((0, 1))),
            ("7\"......", Some((7, 1))),
            ("95519 xx", Some((95519, 5))),
            ("1234567 ", Some((1_234_567, 7))),
            ("0012 xxx", Some((12, 4))),
            ("9999999/", Some((9_999_999, 7))),
            ("12345678", None),
            ("-1 xxxxx", None),
            (" 1 xxxxx", None),
            ("123", None),
        ] {
            assert_eq!(leading_digits(s.as_bytes()), want, "{s:?}");
        }
        // Every byte value after the digits ends the number.
        for c in 0..=255u8 {
            let mut b = *b"4711\0\0\0\0";
            b[4] = c;
            let want = if c.is_ascii_digit() {
                Some((47110 + u64::from(c - b'0'), 5))
            } else {
                Some((4711, 4))
            };
            assert_eq!(leading_digits(&b), want, "{c}");
        }
    }

    #[test]
    fn agrees_with_memchr_at_every_length_and_position() {
        for len in 0..80 {
            for at in 0..=len {
                let mut hay = vec![b'a'; len];
                if at < len {
                    hay[at] = b'"';
                }
                // A second match later must not win over the first.
                if at + 3 < len {
                    hay[at + 3] = b'"';
                }
                assert_eq!(find(&hay, b'"'), memchr::memchr(b'"', &hay), "{len} {at}");
                hay[len.saturating_sub(1)..].fill(b'\\');
                assert_eq!(
                    find_either(&hay, b'"', b'\\'),
                    memchr::memchr2(b'"', b'\\', &hay),
                    "{len} {at}"
                );
            }
        }
    }

    #[test]
    fn words_agree_with_split_whitespace_at_every_length() {
        let mut state = 7u64;
        for len in 0..300 {
            for _ in 0..20 {
                let line: String = (0..len)
                    .map(|_| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        if (state >> 33).is_multiple_of(4) {
                            ' '
                        } else {
                            'x'
                        }
                    })
                    .collect();
                let want: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
                let got: Vec<&str> = Words::new(line.as_bytes(), b' ')
                    .map(|(a, b)| &line[a..b])
                    .collect();
                assert_eq!(got, want, "{line:?}");
            }
        }
    }
}
