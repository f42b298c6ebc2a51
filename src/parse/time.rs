//! Timestamps as Apache and nginx write them: `10/Oct/2000:13:55:36 -0700`.

use crate::hit::days_from_civil;

/// Parses a common-log-format time (without its brackets) into Unix seconds, UTC.
///
/// Fixed width by the format's definition, so this reads digits at known places; any zone
/// offset is honoured. Consecutive lines nearly always share the date and zone, so the
/// seconds at the start of that day are remembered per thread.
pub fn parse_clf_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 26
        || b[2] != b'/'
        || b[6] != b'/'
        || b[11] != b':'
        || b[14] != b':'
        || b[17] != b':'
        || b[20] != b' '
    {
        return None;
    }
    let digit = |i: usize| -> Option<i64> { b[i].is_ascii_digit().then(|| i64::from(b[i] - b'0')) };
    let two = |i: usize| -> Option<i64> { Some(digit(i)? * 10 + digit(i + 1)?) };
    let (h, m, sec) = (two(12)?, two(15)?, two(18)?);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Date and zone: `10/Oct/2000` and ` -0700`.
    let mut key = [0u8; 16];
    key[..11].copy_from_slice(&b[..11]);
    key[11..].copy_from_slice(&b[21..26]);
    let day_start = DAY_START.with(|cache| {
        let (cached_key, cached) = cache.get();
        if cached_key == key {
            return Some(cached);
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
        let offset = sign * (two(22)? * 3600 + two(24)? * 60);
        let start = days_from_civil(year, month, day as u32) * 86_400 - offset;
        cache.set((key, start));
        Some(start)
    })?;
    Some(day_start + h * 3600 + m * 60 + sec)
}

thread_local! {
    /// The last date-and-zone seen and the Unix time of its midnight.
    static DAY_START: std::cell::Cell<([u8; 16], i64)> = const { std::cell::Cell::new(([0; 16], 0)) };
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
        ] {
            assert_eq!(parse_clf_time(s), None, "{s}");
        }
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

/// Parses Unix seconds with an optional fraction (`1732453681.524`, nginx `$msec`, Caddy `ts`).
pub fn parse_unix_seconds(s: &str) -> Option<i64> {
    let whole = s.split('.').next()?;
    (!whole.is_empty() && whole.bytes().all(|c| c.is_ascii_digit())).then(|| whole.parse().ok())?
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
    }
}
