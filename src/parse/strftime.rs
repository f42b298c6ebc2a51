//! Apache's `%{FORMAT}t`: a time written with a strftime pattern (`%d/%b/%Y:%H:%M:%S %z`,
//! `%F %T`, `%s`), read back. A pattern is compiled once into tokens; reading a field fills a
//! [`TimeParts`], so several time directives of one format (`%{%F %T}t.%{msec_frac}t %{%z}t`)
//! add up to one time.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::hit::days_from_civil;

/// Seconds east of UTC of times written without a zone (`--timezone`); UTC unless set.
static ZONELESS_OFFSET: AtomicI64 = AtomicI64::new(0);

/// Sets the zone of times logged without one (`--timezone`), for the whole process: like the
/// `TZ` a C program reads once, it is set once at start.
pub fn set_zoneless_offset(seconds_east: i64) {
    ZONELESS_OFFSET.store(seconds_east, Ordering::Relaxed);
}

/// The offset of times logged without a zone.
pub fn zoneless_offset() -> i64 {
    ZONELESS_OFFSET.load(Ordering::Relaxed)
}

/// Parses a `--timezone` value: `UTC`, `Z`, `+02:00`, `-0530`, or `local` (this machine's
/// offset now; a daylight-saving change later is not followed).
pub fn parse_timezone(s: &str) -> Option<i64> {
    match s.trim() {
        "UTC" | "utc" | "Z" | "z" | "GMT" => Some(0),
        "local" => Some(local_offset_now()),
        other => {
            let (seconds, len) = offset(other.as_bytes())?;
            (len == other.len()).then_some(seconds)
        }
    }
}

/// This machine's UTC offset now, from the C library (which reads `TZ` and /etc/localtime).
fn local_offset_now() -> i64 {
    let now = crate::unix_now() as libc::time_t;
    // SAFETY: localtime_r writes into the `tm` we own; both pointers are valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
        return 0;
    }
    tm.tm_gmtoff
}

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Text that must be there.
    Literal(char),
    /// One or more spaces (strptime: white space in the pattern matches any run of it).
    Space,
    /// `%Y`.
    Year,
    /// `%y`: 69–99 are 19xx, 00–68 are 20xx.
    Year2,
    /// `%m`.
    Month,
    /// `%b`, `%h`, `%B`: a month name, any case, abbreviated or whole.
    MonthName,
    /// `%d`, `%e` (space-padded).
    Day,
    /// `%j`.
    DayOfYear,
    /// `%H`.
    Hour,
    /// `%I`, with `%p`.
    Hour12,
    /// `%p`: AM or PM.
    AmPm,
    /// `%M`.
    Minute,
    /// `%S`.
    Second,
    /// `%z`: `+0100`, `-05:30`, `Z`.
    Offset,
    /// `%Z`, `%a`, `%A`: a zone or weekday name, read and ignored (a zone name says no offset).
    Word,
    /// `%s`: Unix seconds.
    Epoch,
    /// Digits of a fraction of a second (after a `.` in the pattern), ignored.
    Fraction,
}

/// A compiled strftime pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeFormat {
    tokens: Vec<Token>,
}

/// What the time directives of one line said so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeParts {
    year: Option<i64>,
    month: Option<u32>,
    day: Option<u32>,
    day_of_year: Option<u32>,
    hour: Option<i64>,
    pm: Option<bool>,
    minute: Option<i64>,
    second: Option<i64>,
    offset: Option<i64>,
    epoch: Option<i64>,
}

impl TimeFormat {
    /// Compiles a strftime pattern; `None` for a conversion webpeek cannot read back.
    pub fn compile(pattern: &str) -> Option<TimeFormat> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if c == ' ' {
                if tokens.last() != Some(&Token::Space) {
                    tokens.push(Token::Space);
                }
                continue;
            }
            if c != '%' {
                tokens.push(Token::Literal(c));
                continue;
            }
            let mut spec = chars.next()?;
            // glibc's flags (`%-d`, `%_d`, `%0d`) change padding only: the reader is lenient.
            while matches!(spec, '-' | '_' | '0' | '^' | '#') {
                spec = chars.next()?;
            }
            match spec {
                'Y' => tokens.push(Token::Year),
                'y' => tokens.push(Token::Year2),
                'm' => tokens.push(Token::Month),
                'b' | 'h' | 'B' => tokens.push(Token::MonthName),
                'd' | 'e' => tokens.push(Token::Day),
                'j' => tokens.push(Token::DayOfYear),
                'H' | 'k' => tokens.push(Token::Hour),
                'I' | 'l' => tokens.push(Token::Hour12),
                'p' | 'P' => tokens.push(Token::AmPm),
                'M' => tokens.push(Token::Minute),
                'S' => tokens.push(Token::Second),
                'z' => tokens.push(Token::Offset),
                'Z' | 'a' | 'A' => tokens.push(Token::Word),
                's' => tokens.push(Token::Epoch),
                'f' => tokens.push(Token::Fraction),
                'F' => tokens.extend([
                    Token::Year,
                    Token::Literal('-'),
                    Token::Month,
                    Token::Literal('-'),
                    Token::Day,
                ]),
                'T' => tokens.extend([
                    Token::Hour,
                    Token::Literal(':'),
                    Token::Minute,
                    Token::Literal(':'),
                    Token::Second,
                ]),
                'R' => tokens.extend([Token::Hour, Token::Literal(':'), Token::Minute]),
                'D' => tokens.extend([
                    Token::Month,
                    Token::Literal('/'),
                    Token::Day,
                    Token::Literal('/'),
                    Token::Year2,
                ]),
                '%' => tokens.push(Token::Literal('%')),
                'n' | 't' => tokens.push(Token::Space),
                _ => return None,
            }
        }
        Some(TimeFormat { tokens })
    }

    /// Reads a time from the start of `s` into `parts`; returns how many bytes it took.
    pub fn read(&self, s: &str, parts: &mut TimeParts) -> Option<usize> {
        let b = s.as_bytes();
        let mut at = 0;
        // Up to `max` digits (at least one), after optional padding spaces.
        let num = |at: &mut usize, max: usize| -> Option<i64> {
            while b.get(*at) == Some(&b' ') {
                *at += 1;
            }
            let start = *at;
            while *at < b.len() && *at - start < max && b[*at].is_ascii_digit() {
                *at += 1;
            }
            (*at > start).then(|| s[start..*at].parse().ok())?
        };
        for token in &self.tokens {
            match token {
                Token::Literal(c) => {
                    let mut buf = [0; 4];
                    let lit = c.encode_utf8(&mut buf).as_bytes();
                    if !b[at..].starts_with(lit) {
                        return None;
                    }
                    at += lit.len();
                }
                Token::Space => {
                    let start = at;
                    while matches!(b.get(at), Some(b' ' | b'\t')) {
                        at += 1;
                    }
                    if at == start {
                        return None;
                    }
                }
                Token::Year => parts.year = Some(num(&mut at, 4)?),
                Token::Year2 => {
                    let y = num(&mut at, 2)?;
                    parts.year = Some(if y >= 69 { 1900 + y } else { 2000 + y });
                }
                Token::Month => parts.month = Some(u32::try_from(num(&mut at, 2)?).ok()?),
                Token::MonthName => {
                    let (month, len) = month_name(&b[at..])?;
                    parts.month = Some(month);
                    at += len;
                }
                Token::Day => parts.day = Some(u32::try_from(num(&mut at, 2)?).ok()?),
                Token::DayOfYear => parts.day_of_year = Some(u32::try_from(num(&mut at, 3)?).ok()?),
                Token::Hour | Token::Hour12 => parts.hour = Some(num(&mut at, 2)?),
                Token::AmPm => {
                    let word = b.get(at..at + 2)?.to_ascii_uppercase();
                    parts.pm = Some(match &word[..] {
                        b"AM" => false,
                        b"PM" => true,
                        _ => return None,
                    });
                    at += 2;
                }
                Token::Minute => parts.minute = Some(num(&mut at, 2)?),
                Token::Second => parts.second = Some(num(&mut at, 2)?),
                Token::Offset => {
                    let (offset, len) = offset(&b[at..])?;
                    parts.offset = Some(offset);
                    at += len;
                }
                Token::Word => {
                    let len = b[at..]
                        .iter()
                        .take_while(|c| c.is_ascii_alphabetic())
                        .count();
                    if len == 0 {
                        return None;
                    }
                    at += len;
                }
                Token::Epoch => parts.epoch = Some(num(&mut at, 12)?),
                Token::Fraction => {
                    num(&mut at, 9)?;
                }
            }
        }
        Some(at)
    }
}

impl TimeParts {
    /// Unix seconds from Apache's `%{sec}t`, `%{msec}t` (`scale` 1000), `%{usec}t` (1e6).
    pub fn set_epoch(&mut self, digits: &str, scale: i64) -> Option<()> {
        let n: i64 = (!digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()))
            .then(|| digits.parse().ok())??;
        self.epoch = Some(n / scale);
        Some(())
    }

    /// The time these parts name, Unix seconds, UTC when no offset was given.
    pub fn unix(&self) -> Option<i64> {
        if let Some(epoch) = self.epoch {
            return Some(epoch);
        }
        let year = self.year?;
        let (month, day) = match (self.month, self.day, self.day_of_year) {
            (Some(m), Some(d), _) => (m, d),
            (None, None, Some(yday)) => (1, yday),
            _ => return None,
        };
        if !(1..=12).contains(&month) || day == 0 || (self.day_of_year.is_none() && day > 31) {
            return None;
        }
        let mut hour = self.hour.unwrap_or(0);
        if let Some(pm) = self.pm {
            hour = hour % 12 + if pm { 12 } else { 0 };
        }
        let (minute, second) = (self.minute.unwrap_or(0), self.second.unwrap_or(0));
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let days = days_from_civil(year, month, 1) + i64::from(day) - 1;
        let offset = self.offset.unwrap_or_else(zoneless_offset);
        Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
    }
}

/// A month name, abbreviated or whole, any case: (month, bytes taken).
fn month_name(b: &[u8]) -> Option<(u32, usize)> {
    const NAMES: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let head = b.get(..3)?.to_ascii_lowercase();
    let month = NAMES.iter().position(|n| n.as_bytes()[..3] == head[..])?;
    let whole = NAMES[month].as_bytes();
    let len = if b.len() >= whole.len() && b[..whole.len()].eq_ignore_ascii_case(whole) {
        whole.len()
    } else {
        3
    };
    Some((month as u32 + 1, len))
}

/// `+0100`, `-05:30`, `Z`: (seconds east of UTC, bytes taken).
fn offset(b: &[u8]) -> Option<(i64, usize)> {
    if matches!(b.first(), Some(b'Z' | b'z')) {
        return Some((0, 1));
    }
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let d = |i: usize| -> Option<i64> {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| i64::from(c - b'0'))
    };
    let hours = d(1)? * 10 + d(2)?;
    let (minutes, len) = match b.get(3) {
        Some(b':') => (d(4)? * 10 + d(5)?, 6),
        _ => (d(3)? * 10 + d(4)?, 5),
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((sign * (hours * 3600 + minutes * 60), len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hit::Rfc3339;

    fn read(pattern: &str, s: &str) -> Option<(String, usize)> {
        let f = TimeFormat::compile(pattern).unwrap();
        let mut parts = TimeParts::default();
        let len = f.read(s, &mut parts)?;
        Some((Rfc3339(parts.unix()?).to_string(), len))
    }

    #[test]
    fn patterns() {
        let t = |p, s| read(p, s).map(|(t, _)| t);
        assert_eq!(
            t("%d/%b/%Y:%H:%M:%S %z", "10/Oct/2000:13:55:36 -0700").as_deref(),
            Some("2000-10-10T20:55:36Z")
        );
        assert_eq!(
            t("%F %T", "2026-11-24 13:08:01").as_deref(),
            Some("2026-11-24T13:08:01Z")
        );
        assert_eq!(
            t("%s", "1795525681").as_deref(),
            Some("2026-11-24T13:08:01Z")
        );
        assert_eq!(
            t("%d/%B/%Y %I:%M:%S %p", "24/NOVEMBER/2026 01:08:01 pm").as_deref(),
            Some("2026-11-24T13:08:01Z")
        );
        assert_eq!(
            t("%a, %d %b %Y %T %Z", "Tue, 24 nov 2026 13:08:01 GMT").as_deref(),
            Some("2026-11-24T13:08:01Z")
        );
        assert_eq!(
            t("%e %b %y %R", " 4 Jan 26 09:05").as_deref(),
            Some("2026-01-04T09:05:00Z")
        );
        assert_eq!(
            t("%Y-%m-%dT%H:%M:%S%z", "2026-11-24T13:08:01+01:00").as_deref(),
            Some("2026-11-24T12:08:01Z")
        );
        assert_eq!(
            t("%Y %j", "2026 328").as_deref(),
            Some("2026-11-24T00:00:00Z")
        );
        // How much it took: the rest of the line is for the next field.
        assert_eq!(
            read("%F %T", "2026-11-24 13:08:01 GET /").map(|(_, n)| n),
            Some(19)
        );
        // Wrong: refused.
        for (p, s) in [
            ("%F %T", "2026-13-24 13:08:01"),
            ("%d/%b/%Y", "24/Foo/2026"),
            ("%T", "25:00:00"),
            ("%s", "x"),
        ] {
            assert_eq!(t(p, s), None, "{p} {s}");
        }
        assert!(TimeFormat::compile("%Q").is_none());
    }

    #[test]
    fn timezones() {
        assert_eq!(parse_timezone("UTC"), Some(0));
        assert_eq!(parse_timezone("+02:00"), Some(7200));
        assert_eq!(parse_timezone("-0530"), Some(-19_800));
        assert!(parse_timezone("local").is_some());
        assert_eq!(parse_timezone("Europe/Berlin"), None);
        assert_eq!(parse_timezone("+02:00x"), None);
    }

    #[test]
    fn several_directives_make_one_time() {
        let mut parts = TimeParts::default();
        let date = TimeFormat::compile("%d/%b/%Y:%H:%M:%S").unwrap();
        let zone = TimeFormat::compile("%z").unwrap();
        date.read("24/Nov/2026:13:08:01", &mut parts).unwrap();
        zone.read("+0100", &mut parts).unwrap();
        assert_eq!(
            Rfc3339(parts.unix().unwrap()).to_string(),
            "2026-11-24T12:08:01Z"
        );
        let mut parts = TimeParts::default();
        parts.set_epoch("1795525681524", 1000).unwrap();
        assert_eq!(parts.unix(), Some(1_795_525_681));
    }
}
