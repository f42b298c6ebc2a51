//! The NCSA family (common, combined, vhost_combined), parsed by hand over the line's bytes.
//!
//! One forward pass, no allocation: every field is a slice of the line. Fields whose length
//! varies are found without a branch per byte (`scan`, `ip`); `bench/README.md` says why each
//! piece is the way it is.

use std::net::IpAddr;

use memchr::memchr;

use super::ip::{ipv4_prefix, parse_ip};
use super::scan::{digits, leading_digits};
use super::{RawHit, dash_none, quoted_end, time::parse_clf_time};

/// A cursor over the line's bytes.
struct Cursor<'a> {
    line: &'a str,
    pos: usize,
    /// Whether a quoted field so far held a backslash.
    escaped: bool,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.line.as_bytes()
    }

    /// `line[start..end]`. Both ends are where this cursor stopped: at ASCII delimiters it
    /// found, or the line's end.
    #[inline(always)]
    fn slice(&self, start: usize, end: usize) -> &'a str {
        debug_assert!(self.line.is_char_boundary(start) && self.line.is_char_boundary(end));
        // SAFETY: `start <= end <= len` by construction, and both are positions of ASCII
        // bytes or the end, which are always character boundaries. The check `&line[..]`
        // would make is an out-of-line call per field.
        unsafe { self.line.get_unchecked(start..end) }
    }

    /// The next space-separated token. Tokens here are short (an address, `-`, a number):
    /// a plain loop beats a search call's set-up.
    fn token(&mut self) -> Option<&'a str> {
        let rest = &self.bytes()[self.pos..];
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        let tok = self.slice(self.pos, self.pos + end);
        self.pos += end;
        Some(tok)
    }

    /// Consumes exactly `b`.
    #[inline(always)]
    fn expect(&mut self, b: u8) -> Option<()> {
        (self.bytes().get(self.pos) == Some(&b)).then(|| self.pos += 1)
    }

    /// Consumes exactly `s`.
    #[inline(always)]
    fn expect_all(&mut self, s: &[u8]) -> Option<()> {
        let end = self.pos + s.len();
        (self.bytes().get(self.pos..end) == Some(s)).then(|| self.pos = end)
    }

    /// The client address and the space after it. Most clients are IPv4, read in the same
    /// step that finds the field's end; anything else is cut at the space and read as IPv6.
    #[inline(always)]
    fn client(&mut self) -> Option<IpAddr> {
        let rest = &self.bytes()[self.pos..];
        if let Some((ip, len)) = ipv4_prefix(rest)
            && rest.get(len) == Some(&b' ')
        {
            self.pos += len + 1;
            return Some(IpAddr::V4(ip));
        }
        let ip = parse_ip(self.token()?)?;
        self.expect(b' ')?;
        Some(ip)
    }

    /// `ident user ` (nearly always `- - `, checked at once). Either may be empty, as a
    /// format string's `%l %u` would read them.
    #[inline(always)]
    fn ident_and_user(&mut self) -> Option<()> {
        if self.expect_all(b"- - ").is_some() {
            return Some(());
        }
        for _ in 0..2 {
            let rest = &self.bytes()[self.pos..];
            self.pos += rest.iter().position(|&b| b == b' ')? + 1;
        }
        Some(())
    }

    /// A `"..."` field whose inner quotes are backslash-escaped (Apache) or `\x22` (nginx).
    #[inline(always)]
    fn quoted(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.pos;
        let (len, escaped) = quoted_end(&self.bytes()[start..])?;
        self.escaped |= escaped;
        self.pos = start + len + 1;
        Some(self.slice(start, start + len))
    }

    /// The last quoted field: as [`Cursor::quoted`], but a line cut off inside it (a disk
    /// that filled up, a writer killed mid-line) keeps the rest of the line as its value, as
    /// GoAccess does: it is still a request.
    fn quoted_or_rest(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.pos;
        match quoted_end(&self.bytes()[start..]) {
            Some((len, escaped)) => {
                self.escaped |= escaped;
                self.pos = start + len + 1;
                Some(self.slice(start, start + len))
            }
            None => {
                let rest = self.line[start..].trim_end();
                self.escaped |= rest.contains('\\');
                self.pos = self.line.len();
                Some(rest)
            }
        }
    }

    /// `[time]`: fixed width (`[10/Oct/2000:13:55:36 -0700]`) in every log seen, so the
    /// closing bracket is looked for where it should be first.
    #[inline(always)]
    fn bracketed(&mut self) -> Option<&'a str> {
        self.expect(b'[')?;
        let rest = &self.bytes()[self.pos..];
        let end = if rest.get(26) == Some(&b']') {
            26
        } else {
            memchr(b']', rest)?
        };
        let inner = self.slice(self.pos, self.pos + end);
        self.pos += end + 1;
        Some(inner)
    }

    /// A three-digit status code from 100 to 599 ([`super::status_code`] says why).
    #[inline(always)]
    fn status(&mut self) -> Option<u16> {
        let b = self.bytes();
        let digit = |i: usize| -> Option<u16> {
            let d = b.get(self.pos + i)?.wrapping_sub(b'0');
            (d <= 9).then_some(u16::from(d))
        };
        let n = digit(0)? * 100 + digit(1)? * 10 + digit(2)?;
        if b.get(self.pos + 3).is_some_and(|&c| c != b' ') || !super::STATUSES.contains(&n) {
            return None;
        }
        self.pos += 3;
        Some(n)
    }

    /// A decimal number up to the next space or the end (`-` is `dash`), read in place.
    #[inline(always)]
    fn number(&mut self, dash: Option<u64>) -> Option<u64> {
        let b = &self.bytes()[self.pos..];
        let ends_at = |i: usize| b.get(i).is_none_or(|&c| c == b' ');
        if b.first() == Some(&b'-') && ends_at(1) {
            self.pos += 1;
            return dash;
        }
        if let Some((n, len)) = leading_digits(b) {
            if b[len] != b' ' {
                return None;
            }
            self.pos += len;
            return Some(n);
        }
        // At most 19 digits, so the sum cannot overflow; longer numbers are refused.
        let (n, len) = digits(b, 19);
        if len == 0 || !ends_at(len) {
            return None;
        }
        self.pos += len;
        Some(n)
    }

    fn at_end(&self) -> bool {
        self.line[self.pos..].trim_end().is_empty()
    }
}

/// Parses common (`combined = false`) or combined lines, optionally led by `vhost:port`.
pub(super) fn parse(line: &str, vhost: bool, combined: bool) -> Option<RawHit<'_>> {
    let mut c = Cursor {
        line,
        pos: 0,
        escaped: false,
    };
    let vhost = if vhost {
        let v = c.token()?;
        c.expect(b' ')?;
        // `%v:%p`: strip the port, but not from a bare IPv6 address.
        Some(super::strip_port(v))
    } else {
        None
    };
    let ip = c.client()?;
    let ident = c.pos;
    c.ident_and_user()?;
    let time = match c.bracketed() {
        Some(time) => time,
        // Not `[` after the user: a user name with spaces, or not a request.
        None => {
            c.pos = time_after_spaced_user(line, ident)?;
            c.bracketed()?
        }
    };
    let time = parse_clf_time(time)?;
    c.expect(b' ')?;
    let request = c.quoted()?;
    c.expect(b' ')?;
    let status = c.status()?;
    c.expect(b' ')?;
    let bytes = c.number(Some(0))?;
    let (referer, agent) = if combined {
        c.expect(b' ')?;
        let referer = c.quoted()?;
        c.expect(b' ')?;
        let agent = c.quoted_or_rest()?;
        // nginx setups often append fields after the agent; they are not ours to judge.
        (dash_none(referer), dash_none(agent))
    } else {
        if !c.at_end() {
            return None;
        }
        (None, None)
    };
    Some(RawHit {
        vhost,
        ip: Some(ip),
        time,
        request,
        parts: None,
        status,
        bytes,
        referer,
        agent,
        forwarded_for: None,
        escaped: c.escaped,
        encoding: super::TextEncoding::Plain,
    })
}

/// Where the time's `[` is after a user name with spaces (nginx writes `$remote_user` from
/// any Basic credentials as they came), when the two words from `ident` were not followed by
/// it: the user runs from after the ident to the ` [` that opens the time
/// ([`super::user_end`]). Out of line, and not given the cursor: the common path stays as it
/// was.
#[cold]
#[inline(never)]
fn time_after_spaced_user(line: &str, ident: usize) -> Option<usize> {
    let user = ident + line.as_bytes()[ident..].iter().position(|&b| b == b' ')? + 1;
    Some(user + super::user_end(&line[user..])? + 1)
}

#[cfg(test)]
mod tests {
    use super::super::{LogFormat, RawHit};
    use crate::hit::Rfc3339;

    const COMBINED: &str = r#"203.0.113.9 - frank [24/Nov/2026:13:08:01 +0000] "GET /docs/index.html?lang=en HTTP/1.1" 200 5120 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0""#;

    #[test]
    fn combined_fields() {
        let h = LogFormat::Combined.parse(COMBINED).unwrap();
        assert_eq!(h.ip.unwrap().to_string(), "203.0.113.9");
        assert_eq!(Rfc3339(h.time).to_string(), "2026-11-24T13:08:01Z");
        assert_eq!(h.request, "GET /docs/index.html?lang=en HTTP/1.1");
        assert_eq!((h.status, h.bytes), (200, 5120));
        assert!(!h.escaped, "no backslash: fields are final as they are");
        assert_eq!(h.referer, Some("https://example.com/"));
        assert!(h.agent.unwrap().contains("Firefox/128.0"));
        let r = h.request();
        assert_eq!(
            (r.method, r.path, r.query),
            ("GET", "/docs/index.html", Some("lang=en"))
        );
        // Common does not accept the extra fields; combined accepts trailing nginx extras.
        assert!(LogFormat::Common.parse(COMBINED).is_none());
        assert!(
            LogFormat::Combined
                .parse(&format!("{COMBINED} \"1.2.3.4\" 0.002"))
                .is_some()
        );
    }

    #[test]
    fn common_and_dash_fields() {
        let h = LogFormat::Common
            .parse(
                r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 304 -"#,
            )
            .unwrap();
        assert_eq!(
            (h.status, h.bytes, h.referer, h.agent),
            (304, 0, None, None)
        );
        let h = LogFormat::Combined
            .parse(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "-" 400 0 "-" "-""#)
            .unwrap();
        assert_eq!((h.request, h.referer, h.agent), ("-", None, None));
        assert_eq!(h.request().method, "-");
    }

    #[test]
    fn ipv6_clients() {
        let h = LogFormat::Combined
            .parse(r#"2001:db8::1 - - [24/Nov/2026:13:08:01 +0100] "GET / HTTP/2.0" 200 1 "-" "x""#)
            .unwrap();
        assert_eq!(h.ip.unwrap().to_string(), "2001:db8::1");
        let h = LogFormat::VhostCombined
            .parse(r#"example.org:80 ::1 - - [24/Nov/2026:13:08:01 +0100] "GET / HTTP/2.0" 200 1 "-" "x""#)
            .unwrap();
        assert_eq!(
            (h.vhost, h.ip.unwrap().to_string().as_str()),
            (Some("example.org"), "::1")
        );
    }

    #[test]
    fn escaped_quotes_and_backslashes() {
        let line = r#"1.2.3.4 - - [24/Nov/2026:13:08:01 +0000] "GET /a\"b\\ HTTP/1.1" 200 3 "-" "agent \"quoted\" \\""#;
        let h = LogFormat::Combined.parse(line).unwrap();
        assert_eq!(h.request, r#"GET /a\"b\\ HTTP/1.1"#);
        assert_eq!(h.agent, Some(r#"agent \"quoted\" \\"#));
        assert!(h.escaped);
        let hit = h.to_hit(&"t".into());
        assert_eq!(hit.path, r#"/a"b\"#);
        assert_eq!(hit.agent.as_deref(), Some(r#"agent "quoted" \"#));
        // nginx writes \x22 for a quote and \x16... for TLS bytes on an HTTP port.
        let line = r#"1.2.3.4 - - [24/Nov/2026:13:08:01 +0000] "\x16\x03\x01\x00\xF4\x01" 400 157 "-" "-""#;
        let hit = LogFormat::Combined.parse(line).unwrap().to_hit(&"t".into());
        assert_eq!(hit.method, "-");
        assert_eq!(hit.protocol, None);
    }

    #[test]
    fn garbage_is_rejected() {
        for line in [
            "",
            "-",
            "hello world",
            "not-an-ip - - [24/Nov/2026:13:08:01 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
            "1.2.3.4 - - [24/Nov/2026:13:08:01 +0000] \"GET / HTTP/1.1\" 2000 1 \"-\" \"-\"",
            "1.2.3.4 - - [24/Nov/2026:13:08:01 +0000] \"GET / HTTP/1.1\" 200 x \"-\" \"-\"",
            "1.2.3.4 - - [24/Nov/2026:13:08:01 +0000] \"GET / HTTP/1.1 200 1",
            "1.2.3.4 - - [24/Nov/2026:13:08:01 +0000 \"GET / HTTP/1.1\" 200 1",
            "1.2.3.4 - - [garbage] \"GET / HTTP/1.1\" 200 1",
            "1.2.3.4 - - [24/Nov/2026:13:08:01 +0000] \"GET / HTTP/1.1\" 200 1 \"unterminated",
            "\u{0}\u{0}\u{0}",
        ] {
            for f in LogFormat::detectable() {
                assert!(f.parse(line).is_none(), "{f:?} accepted {line:?}");
            }
        }
    }

    #[test]
    fn statuses_outside_100_to_599_are_not_requests() {
        // CloudFront and Squid write `000` for a request the client aborted; GoAccess counts
        // such lines as invalid, and they would fall in no status class.
        let line = |status: &str| {
            format!(
                r#"203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET /a HTTP/1.1" {status} 0 "-" "curl/8""#
            )
        };
        for bad in ["000", "099", "600", "999"] {
            for f in [LogFormat::Combined, LogFormat::Common] {
                let l = line(bad);
                let l = if f == LogFormat::Common {
                    &l[..l.len() - 13]
                } else {
                    &l[..]
                };
                assert!(f.parse(l).is_none(), "{} took {l:?}", f.name());
            }
        }
        for good in ["100", "599"] {
            assert_eq!(
                LogFormat::Combined
                    .parse(&line(good))
                    .unwrap()
                    .status
                    .to_string(),
                good
            );
        }
    }

    #[test]
    fn a_user_name_may_hold_spaces() {
        // nginx fills $remote_user from any Basic credentials, unescaped; GoAccess reads these.
        let line = r#"203.0.113.9 - frank smith [24/Nov/2026:13:08:01 +0000] "GET /a HTTP/1.1" 200 5120 "-" "curl/8""#;
        let h = LogFormat::Combined.parse(line).unwrap();
        assert_eq!(
            (h.request, h.status, h.bytes),
            ("GET /a HTTP/1.1", 200, 5120)
        );
        assert_eq!(Rfc3339(h.time).to_string(), "2026-11-24T13:08:01Z");
        let common = &line[..line.len() - 13];
        assert_eq!(LogFormat::Common.parse(common).unwrap().bytes, 5120);
        for user in ["- x", "a b c", "[x] y", "x  y", " "] {
            let l = line.replace("frank smith", user);
            assert_eq!(
                LogFormat::Combined.parse(&l).map(|h| h.status),
                Some(200),
                "{l}"
            );
        }
        let vhost = format!("example.com:443 {line}");
        assert!(LogFormat::VhostCombined.parse(&vhost).is_some());
        // Still no request: no time after the user, or a damaged one.
        for bad in [
            line.replace(" [24/", " 24/"),
            line.replace("13:08:01", "13:08"),
        ] {
            assert!(LogFormat::Combined.parse(&bad).is_none(), "{bad}");
        }
    }

    /// The hand-written parser and the format-string one (written separately, with none of the
    /// fast paths) must read the same fields from the same line, also from damaged lines.
    #[test]
    fn agrees_with_the_format_string_parser_on_damaged_lines() {
        let template = LogFormat::from_arg(
            // What combined allows after the agent (nginx setups append fields) is a skipped
            // field here (any header but the known ones is skipped).
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"%{X-Trailer}o"#,
        )
        .unwrap();
        let lines = [
            COMBINED,
            r#"2001:db8::7 - - [01/Jan/2026:00:00:09 -0930] "POST /api/v1/x HTTP/2.0" 201 - "-" "curl/8.5.0""#,
            r#"10.0.0.1 - bob [10/Oct/2000:13:55:36 -0700] "GET /a\"b\\ HTTP/1.1" 404 1234567 "https://r.example/é" "agent \"q\"""#,
            r#"192.168.100.200 - - [29/Feb/2024:23:59:59 +0000] "\x16\x03\x01" 400 157 "-" "-""#,
        ];
        let noise = b" \"\\-[]0123456789.:/x+\xC3";
        fn fields<'a>(h: &RawHit<'a>) -> impl std::fmt::Debug + PartialEq + use<'a> {
            (
                h.ip, h.time, h.request, h.status, h.bytes, h.referer, h.agent,
            )
        }
        let mut state: u64 = 0x853C_49E6_748F_EA9B;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut both = 0;
        for _ in 0..100_000 {
            let mut b = lines[next(lines.len())].as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                let at = next(b.len());
                match next(3) {
                    0 => b[at] = noise[next(noise.len())],
                    1 => b.insert(at, noise[next(noise.len())]),
                    _ => {
                        b.remove(at);
                    }
                }
            }
            let line = String::from_utf8_lossy(&b);
            // The format-string parser's `%t` also takes a time without its brackets (nginx
            // writes `[$time_local]`, brackets outside the field); combined requires them.
            let time_at = line.find(" [").map(|at| at + 2);
            if time_at.is_none_or(|at| line.as_bytes().get(at + 26) != Some(&b']')) {
                continue;
            }
            let fast = LogFormat::Combined.parse(&line);
            let slow = template.parse(&line);
            match (&fast, &slow) {
                (Some(f), Some(s)) => {
                    both += 1;
                    assert_eq!(fields(f), fields(s), "{line:?}");
                }
                (None, None) => {}
                _ => panic!("only one parsed {line:?}: {fast:?} {slow:?}"),
            }
        }
        assert!(both > 10_000, "enough damaged lines still parse ({both})");
    }
}
