//! parse: turns a log line into a [`Hit`]; a line that does not parse is reported, never fatal.
//!
//! The parsers are hand-written and zero-copy: [`LogFormat::parse`] returns a [`RawHit`] whose
//! fields borrow from the line, so counting and filtering cost no allocation; only hits that are
//! shown become owned [`Hit`]s.

mod clf;
mod ip;
mod json;
mod scan;
mod template;
mod time;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use crate::hit::Hit;

pub use json::{JsonKeys, JsonKeysError};
pub use template::{Template, TemplateError};
pub use time::{parse_clf_time, parse_iso8601};

/// A log format webpeek understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormat {
    /// NCSA combined: `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"` (nginx's default).
    Combined,
    /// NCSA common: `%h %l %u %t "%r" %>s %b`.
    Common,
    /// Apache's `vhost_combined`: `%v:%p` followed by combined.
    VhostCombined,
    /// One JSON object per line (nginx `escape=json`, Caddy), with these key names.
    Json(Arc<JsonKeys>),
    /// An Apache `LogFormat` or nginx `log_format` string, compiled.
    Template(Arc<Template>),
}

/// The default JSON keys, built once: detection tries every format on each line until one
/// parses.
fn default_json_keys() -> Arc<JsonKeys> {
    static KEYS: std::sync::OnceLock<Arc<JsonKeys>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| Arc::new(JsonKeys::default())).clone()
}

/// A `--format` value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// Neither a known name nor a format string.
    #[error(
        "--format: unknown format '{0}' (known: combined, common, vhost_combined, json, or an Apache LogFormat / nginx log_format string)"
    )]
    Unknown(String),
    /// A format string that does not compile.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

impl LogFormat {
    /// Formats tried, in this order, when detecting the format from a line.
    pub fn detectable() -> [LogFormat; 4] {
        [
            Self::VhostCombined,
            Self::Combined,
            Self::Common,
            Self::Json(default_json_keys()),
        ]
    }

    /// The format's name as given to `--format`.
    pub fn name(&self) -> &str {
        match self {
            Self::Combined => "combined",
            Self::Common => "common",
            Self::VhostCombined => "vhost_combined",
            Self::Json(_) => "json",
            Self::Template(t) => t.source(),
        }
    }

    /// Parses a format name as given to `--format`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::detectable().into_iter().find(|f| f.name() == name)
    }

    /// A `--format` value: a name, or a format string (it holds `%` or `$`).
    pub fn from_arg(arg: &str) -> Result<Self, FormatError> {
        if let Some(f) = Self::from_name(arg) {
            return Ok(f);
        }
        if arg.contains('%') || arg.contains('$') {
            return Ok(Self::Template(Arc::new(Template::compile(arg)?)));
        }
        Err(FormatError::Unknown(arg.to_string()))
    }

    /// Parses one line (without its newline) in this format.
    pub fn parse<'a>(&self, line: &'a str) -> Option<RawHit<'a>> {
        match self {
            Self::Combined => clf::parse(line, false, true),
            Self::Common => clf::parse(line, false, false),
            Self::VhostCombined => clf::parse(line, true, true),
            Self::Json(keys) => json::parse(line, keys),
            Self::Template(t) => t.parse(line),
        }
    }
}

/// A field of decimal digits only (no sign, no spaces: `str::parse` would take `+1`), as a
/// number; up to 19 digits, so it never overflows.
pub(crate) fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0, |n, b| n * 10 + u64::from(b - b'0')))
}

/// A three-digit status code.
pub(crate) fn status_code(s: &str) -> Option<u16> {
    (s.len() == 3).then(|| decimal(s))?.map(|n| n as u16)
}

/// `None` for a logged `-` or an empty field.
pub(crate) fn dash_none(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// Length of a quoted field's content, up to the first quote not escaped by a backslash, and
/// whether a backslash came before it (then the field needs [`unescape`]).
#[inline(always)]
pub(crate) fn quoted_end(b: &[u8]) -> Option<(usize, bool)> {
    let mut from = 0;
    let mut escaped = false;
    loop {
        let at = from + scan::find_either(&b[from..], b'"', b'\\')?;
        if b[at] == b'"' {
            return Some((at, escaped));
        }
        // A backslash: the byte after it (a quote, a backslash, `x`...) is taken as it is.
        escaped = true;
        from = at + 2;
        if from > b.len() {
            return None;
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
    /// The request line as logged (`GET /x HTTP/1.1`), escapes unresolved; empty when the
    /// format logs its parts separately (then they are in `parts`).
    pub request: &'a str,
    /// Method, path, query and protocol, for formats that log them as separate fields.
    pub parts: Option<Request<'a>>,
    /// Response status.
    pub status: u16,
    /// Body bytes (0 for `-`).
    pub bytes: u64,
    /// Referer, `None` for `-`.
    pub referer: Option<&'a str>,
    /// User agent, `None` for `-`.
    pub agent: Option<&'a str>,
    /// `X-Forwarded-For`, for formats that log it.
    pub forwarded_for: Option<&'a str>,
    /// Whether a field may hold an escape (a backslash); `false` means every field is
    /// final as it is and [`unescape`] can be skipped.
    pub escaped: bool,
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
        self.parts
            .clone()
            .unwrap_or_else(|| split_request(self.request))
    }

    /// The leftmost valid address of `X-Forwarded-For` (the original client), if any.
    pub fn forwarded_client(&self) -> Option<IpAddr> {
        self.forwarded_for?
            .split(',')
            .find_map(|a| ip::parse_ip(a.trim()))
    }

    /// One of this hit's fields with its escapes resolved ([`unescape`]); borrowed as it is
    /// when the parser saw no backslash in the line, without looking again.
    pub fn unescaped<'s>(&self, field: &'s str) -> Cow<'s, str> {
        if self.escaped {
            unescape(field)
        } else {
            Cow::Borrowed(field)
        }
    }

    /// Makes the owned [`Hit`] that later stages work on, resolving escapes.
    pub fn to_hit(&self, source: &Arc<str>) -> Hit {
        let req = self.request();
        let unescape = |s: &str| self.unescaped(s).into_owned();
        Hit {
            seq: 0,
            time: self.time,
            ip: self.ip,
            host: None,
            method: unescape(req.method),
            path: unescape(req.path),
            query: req.query.map(unescape),
            protocol: req.protocol.map(unescape),
            status: self.status,
            bytes: self.bytes,
            referer: self.referer.map(unescape),
            agent: self.agent.map(unescape),
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
    // Methods are short: a plain loop finds their end sooner than a search call.
    let b = request.as_bytes();
    let m = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if m == 0 || b.get(m) != Some(&b' ') {
        return raw;
    }
    let (method, rest) = (&request[..m], &request[m + 1..]);
    // The protocol is the last few bytes: ` HTTP/1.1` is checked in place, anything else is
    // found by looking for its space from the end.
    let (target, protocol) = match rest
        .len()
        .checked_sub(9)
        .map(|sp| (sp, &rest.as_bytes()[sp..]))
    {
        Some((sp, [b' ', b'H', b'T', b'T', b'P', b'/', major, b'.', minor]))
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            (&rest[..sp], Some(&rest[sp + 1..]))
        }
        _ => match memchr::memrchr(b' ', rest.as_bytes()) {
            Some(sp) if rest[sp + 1..].starts_with("HTTP/") => (&rest[..sp], Some(&rest[sp + 1..])),
            _ => (rest, None),
        },
    };
    if target.is_empty() {
        return raw;
    }
    let (path, query) = match scan::find(target.as_bytes(), b'?') {
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

/// Resolves the escapes servers write inside quoted fields: Apache's `\"` and `\\`, nginx's
/// `\xHH`, and JSON's `\n`, `\/`, `\uXXXX`.
///
/// Escaped bytes that form UTF-8 text become that text (nginx logs `/café` as `/caf\xC3\xA9`);
/// control characters and bytes that are not UTF-8 (TLS bytes on an HTTP port) stay visible as
/// `\xHH`. Returns the input unchanged (no allocation) when it holds no backslash.
pub fn unescape(s: &str) -> Cow<'_, str> {
    if memchr::memchr(b'\\', s.as_bytes()).is_none() {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let hex = |c: u8| (c as char).to_digit(16);
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let simple = match b[i + 1] {
                b'"' | b'\\' | b'/' => Some(b[i + 1]),
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'r' => Some(b'\r'),
                _ => None,
            };
            if let Some(c) = simple {
                out.push(c);
                i += 2;
                continue;
            }
            if b[i + 1] == b'x'
                && let (Some(h), Some(l)) = (
                    b.get(i + 2).and_then(|&c| hex(c)),
                    b.get(i + 3).and_then(|&c| hex(c)),
                )
            {
                out.push((h * 16 + l) as u8);
                i += 4;
                continue;
            }
            if b[i + 1] == b'u'
                && let Some(code) = s
                    .get(i + 2..i + 6)
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
            {
                let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                i += 6;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    let mut text = String::with_capacity(out.len());
    for chunk in out.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() && c != '\n' && c != '\t' {
                text.push_str(&format!("\\x{:02X}", c as u32));
            } else {
                text.push(c);
            }
        }
        for byte in chunk.invalid() {
            text.push_str(&format!("\\x{byte:02X}"));
        }
    }
    Cow::Owned(text)
}

/// Parses the lines of one source, detecting the format from the first line that parses.
#[derive(Debug, Clone, Default)]
pub struct Parser {
    format: Option<LogFormat>,
    source: String,
    client_from_header: bool,
}

impl Parser {
    /// A parser for a fixed format, or one that detects it (`None`).
    pub fn new(format: Option<LogFormat>) -> Self {
        Parser {
            format,
            ..Parser::default()
        }
    }

    /// Names the source in the one-time "detected" message.
    pub fn for_source(mut self, source: &str) -> Self {
        self.source = source.to_string();
        self
    }

    /// Takes the client from `X-Forwarded-For` when the format logs it (`--client-from-header`).
    pub fn client_from_header(mut self, on: bool) -> Self {
        self.client_from_header = on;
        self
    }

    /// The format in use, once known.
    pub fn format(&self) -> Option<&LogFormat> {
        self.format.as_ref()
    }

    /// Parses a line into a raw hit, detecting the format on first success.
    pub fn parse_raw<'a>(&mut self, text: &'a str) -> Option<RawHit<'a>> {
        let mut raw = match &self.format {
            Some(f) => f.parse(text)?,
            None => {
                let (f, raw) = LogFormat::detectable()
                    .into_iter()
                    .find_map(|f| f.parse(text).map(|raw| (f.clone(), raw)))?;
                tracing::info!("{}: detected: {}", self.source, f.name());
                self.format = Some(f);
                raw
            }
        };
        if self.client_from_header
            && let Some(ip) = raw.forwarded_client()
        {
            raw.ip = ip;
        }
        Some(raw)
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
        assert_eq!(unescape(r"/caf\xC3\xA9"), "/café");
        assert_eq!(unescape(r"\x16\x03\x01\x00\xF4"), r"\x16\x03\x01\x00\xF4");
        assert_eq!(unescape(r"json \u00e9\/\n"), "json é/\n");
        assert_eq!(unescape(r"end\x2"), r"end\x2");
        assert_eq!(unescape(r"end\x41"), "endA");
        assert_eq!(unescape("trailing\\"), "trailing\\");
        // An escaped byte that is not UTF-8 stays visible, not an error.
        assert_eq!(unescape(r"\xff"), r"\xFF");
    }

    #[test]
    fn detects_format_from_first_parsable_line() {
        let mut p = Parser::new(None);
        assert!(p.parse_raw("garbage").is_none());
        assert_eq!(p.format(), None);
        let common = r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326"#;
        assert!(p.parse_raw(common).is_some());
        assert_eq!(p.format(), Some(&LogFormat::Common));

        let mut p = Parser::new(None);
        let combined =
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "curl/8""#;
        assert!(p.parse_raw(combined).is_some());
        assert_eq!(p.format(), Some(&LogFormat::Combined));

        let mut p = Parser::new(None);
        let vhost = format!("example.com:443 {combined}");
        assert_eq!(p.parse_raw(&vhost).unwrap().vhost, Some("example.com"));
        assert_eq!(p.format(), Some(&LogFormat::VhostCombined));
    }
}
