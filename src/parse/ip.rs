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
        let mut v: u32 = 0;
        while i - start < 3
            && let Some(&c) = b.get(i)
        {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = v * 10 + u32::from(d);
            i += 1;
        }
        if i == start || v > 255 || (i - start > 1 && b[start] == b'0') {
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
