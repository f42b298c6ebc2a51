//! Client addresses as servers log them, read by hand: every line has one.
//!
//! `std`'s parser is general (it backtracks between forms) and took ~1,300 instructions for an
//! IPv6 address; these read the two text forms servers write in one pass and agree with `std`
//! on every input (see the tests), handing the rare embedded-IPv4 form (`::ffff:1.2.3.4`) to it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP address, accepting exactly what `std`'s `IpAddr::from_str` accepts.
#[inline]
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    match ipv4_prefix(s.as_bytes()) {
        Some((ip, len)) if len == s.len() => Some(IpAddr::V4(ip)),
        Some(_) => None,
        None => parse_ipv6(s).map(IpAddr::V6),
    }
}

/// A dotted-quad IPv4 address at the start of `b`, and its length; leading zeros are
/// refused, as `std` does.
#[inline(always)]
pub(crate) fn ipv4_prefix(b: &[u8]) -> Option<(Ipv4Addr, usize)> {
    #[cfg(target_arch = "x86_64")]
    if let Some(head) = b.first_chunk::<16>() {
        return ipv4_in_16(head);
    }
    ipv4_prefix_bytewise(b)
}

/// [`ipv4_prefix`] over the 16 bytes an address and its delimiter fit in, without a branch
/// per digit: octets are 1 to 3 digits long at random, and a loop per octet mispredicts its
/// exit on most lines. SSE2 finds the dots and the end at once; each octet is then read from
/// its last three bytes, weighted by its length.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn ipv4_in_16(b: &[u8; 16]) -> Option<(Ipv4Addr, usize)> {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_set1_epi8,
        _mm_sub_epi8,
    };
    // SAFETY: SSE2 is part of the x86_64 baseline; the load reads exactly the 16 bytes of `b`.
    let (dots, digits) = unsafe {
        let v = _mm_loadu_si128(b.as_ptr().cast());
        let dots = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'.' as i8)));
        let x = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
        let digit = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(9)), x);
        (dots as u32, _mm_movemask_epi8(digit) as u32)
    };
    // The address ends at the first byte that is neither a digit nor a dot.
    let end = (!(dots | digits)).trailing_zeros() as usize;
    let dots = dots & ((1u32 << end) - 1);
    if end == 16 || dots.count_ones() != 3 {
        return None;
    }
    let d1 = dots.trailing_zeros() as usize;
    let rest = dots & (dots - 1);
    let d2 = rest.trailing_zeros() as usize;
    let d3 = (rest & (rest - 1)).trailing_zeros() as usize;
    let digit = |i: usize| u32::from(b[i].wrapping_sub(b'0'));
    let octet = |start: usize, end: usize| -> Option<u8> {
        let len = end.wrapping_sub(start);
        if !(1..=3).contains(&len) || (len > 1 && b[start] == b'0') {
            return None;
        }
        // Bytes before `start` are dots (or the first byte twice): their weight is zero.
        let value = digit(end - 1)
            + 10 * u32::from(len >= 2) * digit(end.saturating_sub(2))
            + 100 * u32::from(len >= 3) * digit(end.saturating_sub(3));
        u8::try_from(value).ok()
    };
    let octets = [
        octet(0, d1)?,
        octet(d1 + 1, d2)?,
        octet(d2 + 1, d3)?,
        octet(d3 + 1, end)?,
    ];
    Some((Ipv4Addr::from(octets), end))
}

/// [`ipv4_prefix`] a byte at a time, for short inputs and other CPUs.
#[inline(always)]
fn ipv4_prefix_bytewise(b: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let (v, len) = super::scan::digits(&b[i..], 3);
        i += len;
        if len == 0 || v > 255 || (len > 1 && b[start] == b'0') {
            return None;
        }
        *octet = v as u8;
    }
    Some((Ipv4Addr::from(octets), i))
}

/// An IPv6 address: groups of one to four hex digits, at most one `::`.
fn parse_ipv6(s: &str) -> Option<Ipv6Addr> {
    let b = s.as_bytes();
    if b.contains(&b'.') {
        // An IPv4 tail (`::ffff:192.0.2.1`): rare, left to std.
        return s.parse().ok();
    }
    let mut head = [0u16; 8];
    let mut tail = [0u16; 8];
    let (mut n_head, mut n_tail) = (0, 0);
    let mut gap = false;
    let mut i = 0;
    if b.starts_with(b"::") {
        gap = true;
        i = 2;
    }
    while i < b.len() {
        let start = i;
        let mut group: u16 = 0;
        while i - start < 4
            && let Some(d) = b.get(i).and_then(|&c| (c as char).to_digit(16))
        {
            group = group << 4 | d as u16;
            i += 1;
        }
        if i == start || n_head + n_tail == 8 {
            return None;
        }
        if gap {
            tail[n_tail] = group;
            n_tail += 1;
        } else {
            head[n_head] = group;
            n_head += 1;
        }
        if i == b.len() {
            break;
        }
        if b[i] != b':' {
            return None;
        }
        i += 1;
        if b.get(i) == Some(&b':') {
            if gap {
                return None;
            }
            gap = true;
            i += 1;
        } else if i == b.len() {
            return None; // a trailing single `:`
        }
    }
    let groups = n_head + n_tail;
    if (gap && groups > 7) || (!gap && groups != 8) {
        return None;
    }
    let mut all = head;
    all[8 - n_tail..].copy_from_slice(&tail[..n_tail]);
    Some(Ipv6Addr::from(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both IPv4 readers give `std`'s answer for `s` followed by a space and padding.
    fn check_v4_paths(s: &str) {
        let want = s.parse::<Ipv4Addr>().ok().map(|ip| (ip, s.len()));
        let padded = format!("{s} - - [24/Nov/2026:13:08:01 +0000]");
        let (ip, len) = match ipv4_prefix(padded.as_bytes()) {
            Some((ip, len)) if padded.as_bytes()[len] == b' ' => (Some(ip), len),
            _ => (None, 0),
        };
        assert_eq!(ip.map(|ip| (ip, len)), want, "{s:?} (16-byte path)");
        let short = format!("{s} ");
        let (ip, len) = match ipv4_prefix_bytewise(short.as_bytes()) {
            Some((ip, len)) if short.as_bytes()[len] == b' ' => (Some(ip), len),
            _ => (None, 0),
        };
        assert_eq!(ip.map(|ip| (ip, len)), want, "{s:?} (bytewise)");
    }

    #[test]
    fn ipv4_readers_agree_with_std() {
        for s in [
            "1.2.3.4",
            "255.255.255.255",
            "0.0.0.0",
            "100.193.142.106",
            "256.1.1.1",
            "1.2.3.256",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            ".1.2.3",
            "1.2.3.",
            "1234.1.1.1",
            "1.2.3.4444",
            "999.999.999.999",
            "-",
        ] {
            check_v4_paths(s);
        }
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let s: String = (0..(state % 17) as usize)
                .map(|i| b"0123456789.0..25"[((state >> (4 * (i % 16))) % 16) as usize] as char)
                .collect();
            check_v4_paths(&s);
        }
    }

    #[test]
    fn agrees_with_std_on_chosen_inputs() {
        for s in [
            "1.2.3.4",
            "255.255.255.255",
            "0.0.0.0",
            "10.0.0.1",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            "1.2.3.4 ",
            "1.2.3.4x",
            "1234.1.1.1",
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "2001:db8:0:0:0:0:0:1",
            "2001:db8:0:0:0:0:0:1:2",
            "2001:db8:0:0:0:0:0",
            "2001:db8::0:0:0:0:0:1",
            "2001:db8:0:0::0:0:0:1",
            "1:2:3:4:5:6:7::",
            "::1:2:3:4:5:6:7",
            "1::2::3",
            ":::",
            ":1",
            "1:",
            "1::2:",
            ":1::2",
            "12345::",
            "fFfF::AbCd",
            "g::1",
            "::ffff:1.2.3.4",
            "::ffff:1.2.3",
            "::1%eth0",
            "",
            "-",
        ] {
            assert_eq!(parse_ip(s), s.parse().ok(), "{s:?}");
        }
    }

    #[test]
    fn agrees_with_std_on_random_inputs() {
        // A small deterministic generator over the characters addresses are made of.
        let alphabet = b"0123456789abcdefABCDEFg:.:::";
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let len = (next() % 24) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
                .collect();
            assert_eq!(parse_ip(&s), s.parse().ok(), "{s:?}");
        }
        // Near-addresses: 0 to 9 groups of 1 to 5 hex digits, one or two `::` somewhere.
        let mut valid = 0;
        for _ in 0..200_000 {
            let groups = (next() % 10) as usize;
            let mut s = String::new();
            for g in 0..groups {
                if g > 0 {
                    s.push(':');
                }
                if next() % 8 == 0 {
                    s.push(':');
                }
                for _ in 0..1 + next() % 5 {
                    s.push(alphabet[(next() % 16) as usize] as char);
                }
            }
            if next() % 6 == 0 {
                s.insert_str(0, "::");
            }
            if next() % 6 == 0 {
                s.push_str("::");
            }
            valid += usize::from(s.parse::<IpAddr>().is_ok());
            assert_eq!(parse_ip(&s), s.parse().ok(), "{s:?}");
        }
        assert!(
            valid > 10_000,
            "the generator makes valid addresses too ({valid})"
        );
    }
}
