//! Finding a byte inside one log line's fields, inlined into the parsers.
//!
//! `memchr` is the tool for long haystacks, but a log line's quoted fields are tens of bytes:
//! there its dispatch and alignment set-up cost as much as the search (a sixth of the NCSA
//! parser's instructions). This looks at 16 bytes at a time with SSE2, which every x86_64 CPU
//! has, so it needs no run-time detection and inlines into the caller's loop.

/// Index of the first `needle` in `hay`.
#[inline(always)]
pub(crate) fn find(hay: &[u8], needle: u8) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        let n = hay.len();
        if n < 16 {
            return hay.iter().position(|&b| b == needle);
        }
        let ptr = hay.as_ptr();
        // SAFETY: SSE2 is part of the x86_64 baseline. Every load reads the 16 bytes at
        // `ptr + at` with `at + 16 <= n`, inside `hay`; unaligned loads are allowed.
        unsafe {
            let pattern = _mm_set1_epi8(needle as i8);
            let mask_at = |at: usize| {
                let v = _mm_loadu_si128(ptr.add(at).cast());
                _mm_movemask_epi8(_mm_cmpeq_epi8(v, pattern)) as u32
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
        memchr::memchr(needle, hay)
    }
}

#[cfg(test)]
mod tests {
    use super::find;

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
            }
        }
    }
}
