//! Timestamps as Apache and nginx write them: `10/Oct/2000:13:55:36 -0700`.

use std::cell::Cell;

use super::scan::digit_word;
use crate::hit::days_from_civil;

/// Parses a common-log-format time (without its brackets) into Unix seconds, UTC.
///
/// Fixed width by the format's definition, so this reads digits at known places; any zone
/// offset is honoured. Consecutive lines nearly always share the date and zone, so the
/// seconds at the start of that day are remembered per thread, keyed by those bytes, and
/// most lines only read their time of day.
pub fn parse_clf_time(s: &str) -> Option<i64> {
    let b: &[u8; 26] = s.as_bytes().try_into().ok()?;
    let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    // `10/Oct/2` and `Oct/2000:`, and ` -0700` with the seconds before it masked out.
    let key = (word(0), word(4), word(18) & !0xFFFF);
    let seconds = time_of_day(word(12))?;
    let (cached_key, cached_start) = DAY_START.with(Cell::get);
    if cached_key == key {
        return Some(cached_start + seconds);
    }
    let start = day_start(b)?;
    DAY_START.with(|c| c.set((key, start)));
    Some(start + seconds)
}

/// `HH:MM:SS` (eight bytes, little-endian) as seconds into the day, every digit checked at once.
#[inline(always)]
fn time_of_day(w: u64) -> Option<i64> {
    const DIGITS: u64 = 0xFFFF_00FF_FF00_FFFF;
    const COLONS: u64 = 0x0000_3A00_003A_0000;
    // With both colons in place, no carry crosses into a digit from them.
    let (t, not_digit) = digit_word(w);
    if not_digit & DIGITS != 0 || w & !DIGITS != COLONS {
        return None;
    }
    let two = |i: u32| ((t >> (8 * i)) & 0xFF) * 10 + ((t >> (8 * (i + 1))) & 0xFF);
    let (h, m, sec) = (two(0), two(3), two(6));
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some((h * 3600 + m * 60 + sec) as i64)
}

/// The Unix time of midnight, in the line's zone, of `10/Oct/2000:..:..:.. -0700`.
fn day_start(b: &[u8; 26]) -> Option<i64> {
    let digit = |i: usize| -> Option<i64> { b[i].is_ascii_digit().then(|| i64::from(b[i] - b'0')) };
    let two = |i: usize| -> Option<i64> { Some(digit(i)? * 10 + digit(i + 1)?) };
    if b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let day = two(0)?;
    let month = month_number(&b[3..6])?;
    let year = two(7)? * 100 + two(9)?;
    if !(1..=31).contains(&day) {
        return None;
    }
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (zone_h, zone_m) = (two(22)?, two(24)?);
    if zone_h > 23 || zone_m > 59 {
        return None;
    }
    let offset = sign * (zone_h * 3600 + zone_m * 60);
    Some(days_from_civil(year, month, day as u32) * 86_400 - offset)
}

thread_local! {
    /// The last date-and-zone key seen and the Unix time of its midnight.
    static DAY_START: Cell<((u64, u64, u64), i64)> = const { Cell::new(((0, 0, 0), 0)) };
}

fn month_number(m: &[u8]) -> Option<u32> {
    Some(match m {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hit::Rfc3339;

    fn iso(s: &str) -> String {
        Rfc3339(parse_clf_time(s).unwrap()).to_string()
    }

    #[test]
    fn parses_with_any_offset() {
        assert_eq!(iso("10/Oct/2000:13:55:36 -0700"), "2000-10-10T20:55:36Z");
        assert_eq!(iso("24/Nov/2026:13:08:01 +0000"), "2026-11-24T13:08:01Z");
        assert_eq!(iso("01/Jan/2026:00:30:00 +0530"), "2025-12-31T19:00:00Z");
        assert_eq!(iso("29/Feb/2024:23:59:59 +0000"), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "10/Oct/2000:13:55:36",
            "10/Foo/2000:13:55:36 -0700",
            "1O/Oct/2000:13:55:36 -0700",
            "10/Oct/2000:25:55:36 -0700",
            "10/Oct/2000:13:55:36 *0700",
            "10/Oct/2000 13:55:36 -0700",
            "10/Oct/2000:13:55:36 -8930",
            "10/Oct/2000:13:55:36 +0060",
        ] {
            assert_eq!(parse_clf_time(s), None, "{s}");
        }
        // The same, right after a good time of that day was remembered.
        for s in [
            "10/Oct/2000 13:55:36 -0700",
            "10/Oct/2000:13:5a:36 -0700",
            "10/Oct/2000:13:55:3/ -0700",
            "10/Oct/2000:13:55:36+-0700",
            "10/Oct/2000:13-55:36 -0700",
            "10/Oct/2000:1:55:366 -0700",
            "10/Oct/2000:24:00:00 -0700",
            "10/Oct/2000:13:60:00 -0700",
        ] {
            assert!(parse_clf_time("10/Oct/2000:13:55:36 -0700").is_some());
            assert_eq!(parse_clf_time(s), None, "{s}");
        }
        assert_eq!(
            iso("10/Oct/2000:23:59:60 -0700"),
            "2000-10-11T07:00:00Z",
            "a leap second is taken as the next second"
        );
    }
}

/// Parses ISO 8601 / RFC 3339 (`2026-11-24T13:08:01+01:00`, `…T13:08:01.123Z`) into Unix
/// seconds, UTC; fractions are dropped.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b.get(r)?.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest.as_bytes() {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let d = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let secs = (d(h1)? * 10 + d(h2)?) * 3600 + (d(m1)? * 10 + d(m2)?) * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    Some(days * 86_400 + h * 3600 + m * 60 + sec - offset)
}

/// Parses Go's "wall" layouts, as Caddy's `time_format` `wall`, `wall_milli` and `wall_nano`
/// write them (`2026/11/24 13:08:01`, `…:01.524`, `…:01.524000001`), into Unix seconds as if
/// the time were UTC (it names no zone: the caller applies `--timezone`); fractions are
/// dropped.
pub fn parse_wall(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'/' || b[7] != b'/' || b[10] != b' ' {
        return None;
    }
    let fraction = &b[19..];
    if let Some((b'.', digits)) = fraction.split_first() {
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
    } else if !fraction.is_empty() {
        return None;
    }
    // The same fields as ISO 8601's, with slashes for dashes.
    let mut iso = [0u8; 19];
    iso.copy_from_slice(&b[..19]);
    iso[4] = b'-';
    iso[7] = b'-';
    parse_iso8601(std::str::from_utf8(&iso).ok()?)
}

/// Parses Unix seconds with an optional fraction (`1732453681.524`, nginx `$msec`, Caddy `ts`).
pub fn parse_unix_seconds(s: &str) -> Option<i64> {
    // Digits up to the point (or the end), read in one pass: no splitting, no `str::parse`.
    let mut n: i64 = 0;
    let mut digits = 0;
    for &c in s.as_bytes() {
        match c {
            b'0'..=b'9' => {
                n = n.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
                digits += 1;
            }
            b'.' => break,
            _ => return None,
        }
    }
    (digits > 0).then_some(n)
}

#[cfg(test)]
mod iso_tests {
    use super::*;
    use crate::hit::Rfc3339;

    #[test]
    fn iso8601_and_unix_seconds() {
        let iso = |s| Rfc3339(parse_iso8601(s).unwrap()).to_string();
        assert_eq!(iso("2026-11-24T13:08:01+01:00"), "2026-11-24T12:08:01Z");
        assert_eq!(iso("2026-11-24T13:08:01.123456Z"), "2026-11-24T13:08:01Z");
        assert_eq!(iso("2026-11-24 13:08:01-0530"), "2026-11-24T18:38:01Z");
        assert_eq!(parse_iso8601("2026-13-24T13:08:01Z"), None);
        assert_eq!(parse_iso8601("yesterday"), None);
        assert_eq!(parse_unix_seconds("1795957681.524"), Some(1_795_957_681));
        assert_eq!(parse_unix_seconds("-5"), None);
        // Nanoseconds (Cloudflare) fit; more than i64 holds does not.
        assert_eq!(
            parse_unix_seconds("1795957681000000000"),
            Some(1_795_957_681_000_000_000)
        );
        assert_eq!(parse_unix_seconds("99999999999999999999"), None);
        assert_eq!(parse_unix_seconds("12a"), None);
    }

    #[test]
    fn go_wall_times() {
        let wall = |s| parse_wall(s).map(|t| Rfc3339(t).to_string());
        for s in [
            "2026/11/24 13:08:01",
            "2026/11/24 13:08:01.524",
            "2026/11/24 13:08:01.524000001",
        ] {
            assert_eq!(wall(s).as_deref(), Some("2026-11-24T13:08:01Z"), "{s}");
        }
        for s in [
            "2026/11/24",
            "2026/11/24 13:08",
            "2026-11-24 13:08:01",
            "2026/11/24T13:08:01",
            "2026/11/24 13:08:01.",
            "2026/11/24 13:08:01Z",
            "2026/11/24 13:08:01 +0000",
            "2026/11/24 24:08:01",
            "2026/02/3x 13:08:01",
            "2026/11/24 13:08:0é",
        ] {
            assert_eq!(wall(s), None, "{s}");
        }
    }
}
