//! parse: turns a log line into a [`Hit`]; a line that does not parse is reported, never fatal.
//!
//! The parsers are hand-written and zero-copy: [`LogFormat::parse`] returns a [`RawHit`] whose
//! fields borrow from the line, so counting and filtering cost no allocation; only hits that are
//! shown become owned [`Hit`]s.

mod clf;
mod time;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use crate::hit::Hit;

pub use time::parse_clf_time;

/// A log format webpeek understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// NCSA combined: `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"` (nginx's default).
    Combined,
    /// NCSA common: `%h %l %u %t "%r" %>s %b`.
    Common,
    /// Apache's `vhost_combined`: `%v:%p` followed by combined.
    VhostCombined,
}

impl LogFormat {
    /// Formats tried, in this order, when detecting the format from a line.
    pub const DETECTABLE: [LogFormat; 3] = [Self::VhostCombined, Self::Combined, Self::Common];

    /// The format's name as given to `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Combined => "combined",
            Self::Common => "common",
            Self::VhostCombined => "vhost_combined",
        }
    }

    /// Parses a format name as given to `--format`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::DETECTABLE.into_iter().find(|f| f.name() == name)
    }

    /// Parses one line (without its newline) in this format.
    pub fn parse(self, line: &str) -> Option<RawHit<'_>> {
        match self {
            Self::Combined => clf::parse(line, false, true),
            Self::Common => clf::parse(line, false, false),
            Self::VhostCombined => clf::parse(line, true, true),
        }
    }
}

/// A parsed line whose fields borrow from the line; escapes inside quoted fields are still raw.
#[derive(Debug, Clone, PartialEq)]
pub struct RawHit<'a> {
    /// Virtual host, for formats that log one (port stripped).
    pub vhost: Option<&'a str>,
    /// Client address.
    pub ip: IpAddr,
    /// Unix seconds, UTC.
    pub time: i64,
    /// The request line as logged (`GET /x HTTP/1.1`), escapes unresolved.
    pub request: &'a str,
    /// Response status.
    pub status: u16,
    /// Body bytes (0 for `-`).
    pub bytes: u64,
    /// Referer, `None` for `-`.
    pub referer: Option<&'a str>,
    /// User agent, `None` for `-`.
    pub agent: Option<&'a str>,
}

/// The parts of a request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Method, or `-` when the request was not `METHOD PATH [PROTO]`.
    pub method: &'a str,
    /// Path without the query; the whole request when it did not split.
    pub path: &'a str,
    /// Query string without `?`.
    pub query: Option<&'a str>,
    /// Protocol, when present.
    pub protocol: Option<&'a str>,
}

impl<'a> RawHit<'a> {
    /// Splits the request line into method, path, query and protocol.
    pub fn request(&self) -> Request<'a> {
        split_request(self.request)
    }

    /// Makes the owned [`Hit`] that later stages work on, resolving escapes.
    pub fn to_hit(&self, source: &Arc<str>) -> Hit {
        let req = self.request();
        Hit {
            seq: 0,
            time: self.time,
            ip: self.ip,
            host: None,
            method: unescape(req.method).into_owned(),
            path: unescape(req.path).into_owned(),
            query: req.query.map(|q| unescape(q).into_owned()),
            protocol: req.protocol.map(|p| unescape(p).into_owned()),
            status: self.status,
            bytes: self.bytes,
            referer: self.referer.map(|r| unescape(r).into_owned()),
            agent: self.agent.map(|a| unescape(a).into_owned()),
            browser: None,
            os: None,
            bot: false,
            country: None,
            vhost: self.vhost.map(str::to_owned),
            source: source.clone(),
            url: None,
        }
    }
}

/// Splits `METHOD TARGET [PROTO]`; anything else becomes method `-` with the raw text as path.
///
/// The target runs from the first space to the protocol after the last space, so a target
/// with spaces in it (an attacker's `/<img src=x onerror=...>`) stays whole.
pub fn split_request(request: &str) -> Request<'_> {
    let raw = Request {
        method: "-",
        path: request,
        query: None,
        protocol: None,
    };
    let Some((method, rest)) = request.split_once(' ') else {
        return raw;
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return raw;
    }
    let (target, protocol) = match rest.rsplit_once(' ') {
        Some((t, p)) if p.starts_with("HTTP/") => (t, Some(p)),
        _ => (rest, None),
    };
    if target.is_empty() {
        return raw;
    }
    let (path, query) = match memchr::memchr(b'?', target.as_bytes()) {
        Some(q) => (&target[..q], Some(&target[q + 1..])),
        None => (target, None),
    };
    Request {
        method,
        path,
        query,
        protocol,
    }
}

/// Resolves the escapes Apache (`\"`, `\\`) and nginx (`\xHH`) write inside quoted fields.
///
/// Returns the input unchanged (no allocation) when it holds no backslash.
pub fn unescape(s: &str) -> Cow<'_, str> {
    if memchr::memchr(b'\\', s.as_bytes()).is_none() {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'"' | b'\\' => {
                    out.push(b[i + 1]);
                    i += 2;
                    continue;
                }
                b'x' if i + 3 < b.len() => {
                    let hex = |c: u8| (c as char).to_digit(16);
                    if let (Some(h), Some(l)) = (hex(b[i + 2]), hex(b[i + 3])) {
                        out.push((h * 16 + l) as u8);
                        i += 4;
                        continue;
                    }
                }
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Parses the lines of one source, detecting the format from the first line that parses.
#[derive(Debug, Clone)]
pub struct Parser {
    format: Option<LogFormat>,
}

impl Parser {
    /// A parser for a fixed format, or one that detects it (`None`).
    pub fn new(format: Option<LogFormat>) -> Self {
        Parser { format }
    }

    /// The format in use, once known.
    pub fn format(&self) -> Option<LogFormat> {
        self.format
    }

    /// Parses a line into a raw hit, detecting the format on first success.
    pub fn parse_raw<'a>(&mut self, text: &'a str) -> Option<RawHit<'a>> {
        if let Some(f) = self.format {
            return f.parse(text);
        }
        for f in LogFormat::DETECTABLE {
            if let Some(raw) = f.parse(text) {
                self.format = Some(f);
                tracing::info!("detected: {}", f.name());
                return Some(raw);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_requests() {
        let r = split_request("GET /a/b.html?x=1&y=2 HTTP/1.1");
        assert_eq!(
            (r.method, r.path, r.query, r.protocol),
            ("GET", "/a/b.html", Some("x=1&y=2"), Some("HTTP/1.1"))
        );
        let r = split_request("GET /");
        assert_eq!((r.method, r.path, r.protocol), ("GET", "/", None));
        let r = split_request("GET /<img src=x onerror=alert(1)>.html HTTP/1.1");
        assert_eq!(
            (r.method, r.path, r.protocol),
            (
                "GET",
                "/<img src=x onerror=alert(1)>.html",
                Some("HTTP/1.1")
            )
        );
        let r = split_request("\\x16\\x03\\x01\\x00\\xF4");
        assert_eq!((r.method, r.path), ("-", "\\x16\\x03\\x01\\x00\\xF4"));
        assert_eq!(split_request("-").method, "-");
        assert_eq!(split_request("").path, "");
    }

    #[test]
    fn unescapes_apache_and_nginx_escapes() {
        assert!(matches!(unescape("plain"), Cow::Borrowed("plain")));
        assert_eq!(unescape(r#"say \"hi\""#), r#"say "hi""#);
        assert_eq!(unescape(r"back\\slash"), r"back\slash");
        assert_eq!(unescape(r"q\x22uote"), "q\"uote");
        assert_eq!(unescape(r"end\x2"), r"end\x2");
        assert_eq!(unescape(r"end\x41"), "endA");
        assert_eq!(unescape("trailing\\"), "trailing\\");
        // An escaped byte that is not UTF-8 is replaced, not an error.
        assert_eq!(unescape(r"\xff"), "\u{fffd}");
    }

    #[test]
    fn detects_format_from_first_parsable_line() {
        let mut p = Parser::new(None);
        assert!(p.parse_raw("garbage").is_none());
        assert_eq!(p.format(), None);
        let common = r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326"#;
        assert!(p.parse_raw(common).is_some());
        assert_eq!(p.format(), Some(LogFormat::Common));

        let mut p = Parser::new(None);
        let combined =
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "curl/8""#;
        assert!(p.parse_raw(combined).is_some());
        assert_eq!(p.format(), Some(LogFormat::Combined));

        let mut p = Parser::new(None);
        let vhost = format!("example.com:443 {combined}");
        assert_eq!(p.parse_raw(&vhost).unwrap().vhost, Some("example.com"));
        assert_eq!(p.format(), Some(LogFormat::VhostCombined));
    }
}
