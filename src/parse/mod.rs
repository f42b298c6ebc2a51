//! parse: turns a log line into a [`Hit`]; a line that does not parse is reported, never fatal.
//!
//! The parsers are hand-written and zero-copy: [`LogFormat::parse`] returns a [`RawHit`] whose
//! fields borrow from the line, so counting and filtering cost no allocation; only hits that are
//! shown become owned [`Hit`]s.

mod clf;
mod columns;
mod ip;
mod json;
mod scan;
mod strftime;
mod template;
mod time;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use crate::hit::Hit;

pub use columns::{Column, Columns, Separator};
pub use json::{JsonKeys, JsonKeysError};
pub use strftime::{parse_timezone, set_zoneless_offset};
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
    /// Apache's `vhost_combined` without the agent and referer (GoAccess's `vcommon`).
    VhostCommon,
    /// Fields by position: W3C, CloudFront, Cloud Storage, ELB, ALB, S3, Squid, HAProxy.
    Columns(Arc<Columns>),
}

/// How a product writes spaces and odd bytes in the agent and referer fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextEncoding {
    /// As they are (quoted fields may hold backslash escapes: see [`RawHit::escaped`]).
    #[default]
    Plain,
    /// IIS: a space is `+`.
    PlusForSpace,
    /// CloudFront: percent-encoded (`%20`), sometimes twice (`%2520`).
    Percent,
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
    #[error("--format: unknown format '{given}'{}", match closest {
        Some(name) => format!(": did you mean '{name}'? ('webpeek formats' lists them all)"),
        None => " ('webpeek formats' lists the names; or give an Apache LogFormat / nginx log_format string)".to_string(),
    })]
    Unknown {
        /// What was given.
        given: String,
        /// The nearest known name, if one is near.
        closest: Option<&'static str>,
    },
    /// A format string that does not compile.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// Traefik's CLF access log: combined, then the request count, router, server URL and duration.
/// (`%k` and `%D` for the count and the duration: one-word fields that never take a space, so an
/// agent with its own unescaped quotes finds its end.)
const TRAEFIK: &str =
    r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %k "%{router}x" "%{server}x" %Dms"#;

/// Every `--format` name with an example line, for `webpeek formats` and for suggestions.
pub const NAMED_FORMATS: &[(&str, &str)] = &[
    (
        "combined",
        r#"203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET /docs/ HTTP/1.1" 200 5120 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0""#,
    ),
    (
        "common",
        r#"203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET /docs/ HTTP/1.1" 200 5120"#,
    ),
    (
        "vhost_combined",
        r#"example.com:443 203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET /docs/ HTTP/1.1" 200 5120 "-" "curl/8.5.0""#,
    ),
    (
        "vcombined",
        r#"example.com:443 203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET /docs/ HTTP/1.1" 200 5120 "-" "curl/8.5.0""#,
    ),
    (
        "vcommon",
        r#"example.com:443 203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET /docs/ HTTP/1.1" 200 5120"#,
    ),
    (
        "json",
        r#"{"time_iso8601":"2026-11-24T13:08:01+00:00","remote_addr":"203.0.113.9","request":"GET /docs/ HTTP/1.1","status":200,"body_bytes_sent":5120,"http_user_agent":"curl/8.5.0"}"#,
    ),
    (
        "caddy",
        r#"{"level":"info","ts":1795525681.524,"msg":"handled request","request":{"remote_ip":"203.0.113.9","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/docs/","headers":{"User-Agent":["curl/8.5.0"]}},"size":5120,"status":200}"#,
    ),
    (
        "w3c",
        "2026-11-24 13:08:01 10.0.0.4 GET /docs/ - 443 - 203.0.113.9 Mozilla/5.0+(Windows+NT+10.0) - 200 0 0 46",
    ),
    (
        "cloudfront",
        "2026-11-24\t13:08:01\tLAX1\t5120\t203.0.113.9\tGET\td111111abcdef8.cloudfront.net\t/docs/\t200\t-\tcurl/8.5.0\t-\t-\tHit\tSOX4x==\texample.com\thttps\t23\t0.001\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t5120\t-\t-",
    ),
    (
        "cloudstorage",
        r#""1795525681524000","203.0.113.9","1","","GET","/bucket/docs/","200","0","5120","12000","storage.googleapis.com","","curl/8.5.0","AAA","GET_Object","bucket","docs/index.html""#,
    ),
    (
        "awselb",
        r#"2026-11-24T13:08:01.945958Z my-lb 203.0.113.9:2817 10.0.0.1:80 0.000086 0.001048 0.001337 200 200 0 5120 "GET https://example.com:443/docs/ HTTP/1.1" "curl/8.5.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2"#,
    ),
    (
        "awsalb",
        r#"h2 2026-11-24T13:08:01.186641Z app/my-lb/50dc6c495c0c9188 203.0.113.9:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 5120 "GET https://example.com:443/docs/ HTTP/2.0" "curl/8.5.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:1:targetgroup/t/73e2 "Root=1-5833-36d2" "example.com" "-" 0 2026-11-24T13:08:01.100000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-""#,
    ),
    (
        "awss3",
        r#"79a59df900b949e5 bucket [24/Nov/2026:13:08:01 +0000] 203.0.113.9 79a59df900b949e5 3E57427F3EXAMPLE REST.GET.OBJECT docs/ "GET /bucket/docs/ HTTP/1.1" 200 - 5120 5120 7 6 "-" "curl/8.5.0" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader bucket.s3.us-west-1.amazonaws.com TLSV1.2 - -"#,
    ),
    (
        "squid",
        "1795525681.524    180 203.0.113.9 TCP_MISS/200 5120 GET http://example.com/docs/ - HIER_DIRECT/93.184.216.34 text/html",
    ),
    (
        "traefik",
        r#"203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET /docs/ HTTP/1.1" 200 5120 "-" "curl/8.5.0" 42 "docs@docker" "http://172.17.0.3:80" 3ms"#,
    ),
    (
        "haproxy",
        r#"Nov 24 13:08:01 lb1 haproxy[14389]: 203.0.113.9:33317 [24/Nov/2026:13:08:01.655] http-in static/srv1 10/0/30/69/109 200 5120 - - ---- 1/1/1/1/0 0/0 {example.com} {} "GET /docs/ HTTP/1.1""#,
    ),
];

impl LogFormat {
    /// Formats tried, in this order, when detecting the format from a line (formats with a
    /// header line, W3C, CloudFront and Cloud Storage, are found by their header).
    pub fn detectable() -> &'static [LogFormat] {
        // Built once: detection tries them on every line until one reads it.
        static FORMATS: std::sync::OnceLock<Vec<LogFormat>> = std::sync::OnceLock::new();
        FORMATS.get_or_init(|| {
            let mut formats = vec![LogFormat::VhostCombined, LogFormat::VhostCommon];
            // Before combined, which takes (and ignores) Traefik's extra fields.
            formats.extend(LogFormat::from_name("traefik"));
            formats.extend([
                LogFormat::Combined,
                LogFormat::Common,
                LogFormat::Json(default_json_keys()),
            ]);
            formats.extend(
                ["awselb", "awsalb", "awss3", "squid", "haproxy"]
                    .into_iter()
                    .filter_map(LogFormat::from_name),
            );
            formats
        })
    }

    /// The format's name as given to `--format`.
    pub fn name(&self) -> &str {
        match self {
            Self::Combined => "combined",
            Self::Common => "common",
            Self::VhostCombined => "vhost_combined",
            Self::VhostCommon => "vcommon",
            Self::Json(_) => "json",
            Self::Template(t) if t.source() == TRAEFIK => "traefik",
            Self::Template(t) => t.source(),
            Self::Columns(c) => c.name(),
        }
    }

    /// Parses a format name as given to `--format` (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        Some(match name.as_str() {
            "combined" => Self::Combined,
            "common" => Self::Common,
            "vhost_combined" | "vcombined" => Self::VhostCombined,
            "vcommon" => Self::VhostCommon,
            "json" | "caddy" | "cloudflare" => Self::Json(default_json_keys()),
            "traefik" => Self::Template(Arc::new(
                Template::compile(TRAEFIK)
                    .expect("the traefik format compiles")
                    .with_unescaped_quotes(),
            )),
            other => Self::Columns(Arc::new(Columns::named(other)?)),
        })
    }

    /// A `--format` value: a name, or a format string (it holds `%` or `$`).
    pub fn from_arg(arg: &str) -> Result<Self, FormatError> {
        if let Some(f) = Self::from_name(arg) {
            return Ok(f);
        }
        if arg.contains('%') || arg.contains('$') {
            return Ok(Self::Template(Arc::new(Template::compile(arg)?)));
        }
        Err(FormatError::Unknown {
            given: arg.to_string(),
            closest: closest_name(arg),
        })
    }

    /// Parses one line (without its newline) in this format.
    pub fn parse<'a>(&self, line: &'a str) -> Option<RawHit<'a>> {
        // A byte-order mark before a file's first line (Windows editors, IIS) is not data.
        let line = line.strip_prefix('\u{FEFF}').unwrap_or(line);
        match self {
            Self::Combined => clf::parse(line, false, true),
            Self::Common => clf::parse(line, false, false),
            Self::VhostCombined => clf::parse(line, true, true),
            Self::VhostCommon => clf::parse(line, true, false),
            Self::Json(keys) => json::parse(line, keys),
            Self::Template(t) => t.parse(line),
            Self::Columns(c) => c.parse(line),
        }
    }

    /// Why `line` does not parse in this format (the first field that fails, and at which
    /// byte), or `"parses"`. Slow; for `report --unparsed`.
    pub fn diagnose(&self, line: &str) -> String {
        let line = line.strip_prefix('\u{FEFF}').unwrap_or(line);
        // The NCSA formats as the format strings they are (the two parsers agree: a
        // differential test checks it).
        let apache = |format: &str| {
            Template::compile(format)
                .expect("the NCSA formats compile")
                .diagnose(line)
        };
        const COMMON: &str = r#"%h %l %u %t "%r" %>s %b"#;
        const COMBINED: &str =
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"%{trailer}x"#;
        match self {
            Self::Combined => apache(COMBINED),
            Self::Common => apache(COMMON),
            Self::VhostCombined => apache(&format!("%v {COMBINED}")),
            Self::VhostCommon => apache(&format!("%v {COMMON}")),
            Self::Template(t) => t.diagnose(line),
            Self::Columns(c) => c.diagnose(line),
            Self::Json(_) if self.parse(line).is_some() => "parses".into(),
            Self::Json(keys) => match serde_json::from_str::<serde_json::Value>(line) {
                Err(e) => format!("not one JSON object: {e}"),
                Ok(v) if !v.is_object() => "not a JSON object".into(),
                Ok(_) => json::why(line, keys).unwrap_or_else(|| "a JSON object without a client address or status webpeek knows (name the keys with --json-keys)".into()),
            },
        }
    }

    /// Whether lines of this format may be headers (W3C, CloudFront, Cloud Storage).
    pub fn has_headers(&self) -> bool {
        matches!(self, Self::Columns(c) if c.has_headers())
    }

    /// What a header or comment line means for this format: `Some(Some(f))` when the line
    /// defines the fields from here on (W3C `#Fields:`, Cloud Storage's header row),
    /// `Some(None)` for another comment to skip (`#Version:`), `None` for a line of data.
    /// Formats without headers have none.
    pub fn header(&self, line: &str) -> Option<Option<LogFormat>> {
        let line = line.strip_prefix('\u{FEFF}').unwrap_or(line);
        let found = match self {
            Self::Columns(c) => c.header(line)?,
            _ => return None,
        };
        Some(found.map(|c| Self::Columns(Arc::new(c))))
    }
}

/// `webpeek formats`: every name with its example line.
pub fn formats_table() -> String {
    let mut out = String::from(
        "Names for --format (any case); without --format, webpeek detects the format from the\n\
         first lines (W3C, CloudFront and Cloud Storage logs by their header). Or give the server's\n\
         own Apache LogFormat / nginx log_format string.\n\n",
    );
    for (name, example) in NAMED_FORMATS {
        out.push_str(&format!("{name}\n    {}\n", example.replace('\t', "\\t")));
    }
    out.push_str("cloudflare\n    Cloudflare Logpush JSON (ClientIP, ClientRequestURI, EdgeResponseStatus, ...): read as json\n");
    out
}

/// The known name nearest to `given` (by edit distance), when one is near enough to be a typo.
fn closest_name(given: &str) -> Option<&'static str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    let given = given.to_ascii_lowercase();
    NAMED_FORMATS
        .iter()
        .map(|(name, _)| (distance(&given, name), *name))
        .filter(|(d, name)| *d <= (name.len() / 3).max(2))
        .min()
        .map(|(_, name)| name)
        .or_else(|| {
            // A known name inside what was typed (`aws-alb`, `nginx-combined`).
            NAMED_FORMATS.iter().map(|(name, _)| *name).find(|name| {
                given
                    .replace(['-', '_', ' '], "")
                    .contains(&name.replace('_', ""))
            })
        })
}

/// A field of decimal digits only (no sign, no spaces: `str::parse` would take `+1`), as a
/// number; up to 19 digits, so it never overflows.
pub(crate) fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0, |n, b| n * 10 + u64::from(b - b'0')))
}

/// `example.com:443` → `example.com`, `[2001:db8::1]:443` → `[2001:db8::1]`; a bare IPv6
/// address or a name without a port stays whole.
pub(crate) fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    // Most hosts have no port: one inlined search says so.
    if scan::find(host.as_bytes(), b':').is_none() {
        return host;
    }
    host.rsplit_once(':')
        .filter(|(h, p)| !h.is_empty() && !h.contains(':') && p.bytes().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h)
}

/// A three-digit status code from 100 to 599. Others (`000`, which CloudFront and Squid write
/// for a request the client aborted, `999`) are in no status class, so the line is not counted
/// as a request: GoAccess counts it as failed, too.
pub(crate) fn status_code(s: &str) -> Option<u16> {
    (s.len() == 3)
        .then(|| decimal(s))?
        .map(|n| n as u16)
        .filter(|n| STATUSES.contains(n))
}

/// The status codes a request may have.
pub(crate) const STATUSES: std::ops::RangeInclusive<u16> = 100..=599;

/// Where a user name that may hold spaces ends, in `s` (which starts with the user): at the
/// first ` [` that opens a whole common-log time (`[10/Oct/2000:13:55:36 -0700]`). nginx
/// writes `$remote_user` from any Basic credentials, spaces and all. Slow; for the lines whose
/// user is not one word.
pub(crate) fn user_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut from = 0;
    loop {
        let at = from + memchr::memmem::find(&b[from..], b" [")?;
        if b.get(at + 28) == Some(&b']')
            && s.get(at + 2..at + 28).and_then(parse_clf_time).is_some()
        {
            return Some(at);
        }
        from = at + 1;
    }
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
    /// Client address, when the format logs one.
    pub ip: Option<IpAddr>,
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
    /// How the agent and referer are written.
    pub encoding: TextEncoding,
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

    /// Takes the client from `X-Forwarded-For` when asked (`--client-from-header`), or when the
    /// format logs no other client address (Apache's `%{X-Forwarded-For}i` in place of `%h`,
    /// as proxied sites write it).
    pub fn settle_client(&mut self, from_header: bool) {
        if (from_header || self.ip.is_none())
            && let Some(ip) = self.forwarded_client()
        {
            self.ip = Some(ip);
        }
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

    /// The agent or referer as text: escapes resolved, and `+` or `%20` made spaces for the
    /// products that write them so.
    pub fn text<'s>(&self, field: &'s str) -> Cow<'s, str> {
        match self.encoding {
            TextEncoding::Plain => self.unescaped(field),
            TextEncoding::PlusForSpace if field.contains('+') => {
                Cow::Owned(field.replace('+', " "))
            }
            TextEncoding::Percent if field.contains('%') => percent_decode(field),
            _ => Cow::Borrowed(field),
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
            referer: self.referer.map(|r| self.text(r).into_owned()),
            agent: self.agent.map(|a| self.text(a).into_owned()),
            browser: None,
            os: None,
            bot: false,
            country: None,
            asn: None,
            device: None,
            server: "".into(),
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

/// `%XX` decoded, twice when the result still holds escapes (CloudFront writes `%2520`); bytes
/// that are not UTF-8 are replaced.
fn percent_decode(s: &str) -> Cow<'_, str> {
    fn once(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%'
                && let Some(v) = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    let first = once(s);
    Cow::Owned(if s.contains("%25") {
        once(&first)
    } else {
        first
    })
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

    /// Names the source in the one-time "detected" message (a parser without a name detects
    /// silently: the catch-up's, whose follower says it).
    pub fn for_source(mut self, source: &str) -> Self {
        self.source = source.to_string();
        self
    }

    /// Takes the client from `X-Forwarded-For` when the format logs it (`--client-from-header`).
    pub fn client_from_header(mut self, on: bool) -> Self {
        self.client_from_header = on;
        self
    }

    /// Whether the client comes from `X-Forwarded-For` ([`Parser::client_from_header`]).
    pub fn takes_client_from_header(&self) -> bool {
        self.client_from_header
    }

    /// The format in use, once known.
    pub fn format(&self) -> Option<&LogFormat> {
        self.format.as_ref()
    }

    /// Whether `text` is a header or comment line rather than a request (W3C `#Fields:`,
    /// `#Version:`, Cloud Storage's header row). A `#Fields:` line sets the fields from here on,
    /// so a file whose header changes mid-way keeps parsing. Such lines are not unparsed.
    pub fn header(&mut self, text: &str) -> bool {
        let found = match &self.format {
            Some(f) => f.header(text),
            // Not known yet: a header says which format this is.
            None => columns::header(text.strip_prefix('\u{FEFF}').unwrap_or(text))
                .map(|c| c.map(|c| LogFormat::Columns(Arc::new(c)))),
        };
        match found {
            None => false,
            Some(None) => true,
            Some(Some(format)) => {
                if self.format.as_ref() != Some(&format) {
                    tracing::info!("{}: fields from the header: {}", self.source, format.name());
                }
                self.format = Some(format);
                true
            }
        }
    }

    /// Parses a line into a raw hit, detecting the format on first success.
    pub fn parse_raw<'a>(&mut self, text: &'a str) -> Option<RawHit<'a>> {
        let mut raw = match &self.format {
            Some(f) => f.parse(text)?,
            None => {
                let (f, raw) = LogFormat::detectable()
                    .iter()
                    .find_map(|f| f.parse(text).map(|raw| (f.clone(), raw)))?;
                if !self.source.is_empty() {
                    tracing::info!("{}: detected: {}", self.source, f.name());
                }
                self.format = Some(f);
                raw
            }
        };
        raw.settle_client(self.client_from_header);
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
    fn every_named_format_reads_its_example_and_is_detected() {
        for (name, example) in NAMED_FORMATS {
            let format = LogFormat::from_name(name).unwrap();
            let raw = format
                .parse(example)
                .unwrap_or_else(|| panic!("{name} does not read its own example"));
            assert_eq!(raw.status, 200, "{name}");
            assert_eq!(raw.ip.unwrap().to_string(), "203.0.113.9", "{name}");
            // IIS logs no sc-bytes by default.
            assert_eq!(raw.bytes, if *name == "w3c" { 0 } else { 5120 }, "{name}");
            assert_eq!(
                raw.request().path.trim_start_matches("/bucket"),
                "/docs/",
                "{name}"
            );
            assert_eq!(
                crate::hit::Rfc3339(raw.time).to_string(),
                "2026-11-24T13:08:01Z",
                "{name}"
            );
            // Detection (from the line, or from the header) finds a format that reads it the same.
            let mut p = Parser::new(None);
            let detected = p.parse_raw(example);
            if format.has_headers() {
                assert!(detected.is_none() || *name == "cloudstorage", "{name}");
            } else {
                assert_eq!(detected.as_ref().map(|r| r.status), Some(200), "{name}");
            }
        }
        assert_eq!(LogFormat::from_name("AWSALB").unwrap().name(), "awsalb");
        assert_eq!(closest_name("cloudfornt"), Some("cloudfront"));
        assert_eq!(closest_name("aws-elb"), Some("awselb"));
        assert_eq!(closest_name("postgres"), None);
    }

    #[test]
    fn statuses_outside_100_to_599_are_unparsed_in_every_format() {
        // `000` (CloudFront, Squid: an aborted request), and codes HTTP does not have.
        let formats = NAMED_FORMATS
            .iter()
            .map(|(name, example)| (LogFormat::from_name(name).unwrap(), example.to_string()))
            .chain([
                (
                    LogFormat::from_arg(r#"%h %l %u %t "%r" %>s %b"#).unwrap(),
                    r#"203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET / HTTP/1.1" 200 1"#
                        .to_string(),
                ),
                (
                    LogFormat::from_arg("$remote_addr $status $body_bytes_sent").unwrap(),
                    "203.0.113.9 200 1".to_string(),
                ),
                (
                    LogFormat::from_arg("%h %s %b").unwrap(),
                    "203.0.113.9 200 1".to_string(),
                ),
                (
                    LogFormat::Json(default_json_keys()),
                    r#"{"remote_addr":"203.0.113.9","status":"200"}"#.to_string(),
                ),
            ]);
        for (format, example) in formats {
            let name = format.name().to_string();
            // The examples hold `200` only where a status is.
            assert_eq!(
                format.parse(&example.replace("200", "201")).unwrap().status,
                201,
                "{name}"
            );
            for bad in ["000", "099", "600", "999"] {
                let line = example.replace("200", bad);
                assert!(format.parse(&line).is_none(), "{name} took {line}");
                assert_ne!(format.diagnose(&line), "parses", "{name}");
            }
            for good in [100, 599] {
                let line = example.replace("200", &good.to_string());
                assert_eq!(format.parse(&line).map(|h| h.status), Some(good), "{name}");
            }
        }
    }

    #[test]
    fn w3c_header_sets_the_fields_mid_file() {
        let mut p = Parser::new(None);
        assert!(p.header("#Software: Microsoft Internet Information Services 10.0"));
        assert!(p.header("#Fields: date time c-ip cs-method cs-uri-stem sc-status sc-bytes"));
        assert_eq!(p.format().map(LogFormat::name), Some("w3c"));
        let a = "2026-11-24 13:08:01 203.0.113.9 GET /a 200 10";
        assert!(!p.header(a));
        assert_eq!(p.parse_raw(a).unwrap().bytes, 10);
        assert!(p.header("#Fields: date time cs-method cs-uri-stem sc-status c-ip"));
        let b = "2026-11-24 13:08:02 GET /b 404 203.0.113.10";
        assert_eq!(p.parse_raw(b).unwrap().status, 404);
        // A combined log never takes a `#` line as a header.
        let mut p = Parser::new(Some(LogFormat::Combined));
        assert!(!p.header("#Fields: date time"));
    }

    #[test]
    fn diagnoses_name_the_field_and_the_byte() {
        let d = |f: &str, line: &str| LogFormat::from_arg(f).unwrap().diagnose(line);
        let ok =
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "curl""#;
        assert_eq!(d("combined", ok), "parses");
        assert_eq!(
            d("combined", &ok.replace("200 2326", "2000 2326")),
            r#"byte 59: "2000" cannot be the status (%>s)"#
        );
        assert!(
            d("combined", &ok.replace("10.0.0.1", "host.example"))
                .starts_with("byte 0: \"host.example\" cannot be the client address")
        );
        assert!(
            d("common", ok).starts_with(r#"byte 63: "2326 \"-\" \"curl\"" cannot be the size"#),
            "{}",
            d("common", ok)
        );
        assert_eq!(
            d("combined", "garbage"),
            r#"byte 0: the client address (%h) is not followed by " ""#
        );
        assert!(
            d(
                "squid",
                "1286536308.779 180 192.168.0.224 TCP_MISS/2x0 411 GET http://a/"
            )
            .starts_with("byte 33: field 4 (SquidStatus)")
        );
        assert!(d("awselb", "2015-05-13T23:39:43Z lb").starts_with("only 2 fields"));
        assert!(d("json", "{\"a\":").starts_with("not one JSON object"));
        assert!(d("json", "{\"a\":1}").contains("--json-keys"));
        assert_eq!(
            d("json", r#"{"ts":"soon","remote_addr":"::1","status":200}"#),
            r#""soon" cannot be the time"#
        );
        assert_eq!(
            d("json", r#"{"remote_addr":"::1","status":"000"}"#),
            r#""000" cannot be the status (100 to 599)"#
        );
    }

    #[test]
    fn ports_come_off_hosts() {
        for (given, host) in [
            ("example.com:443", "example.com"),
            ("example.com", "example.com"),
            ("[2001:db8::1]:443", "[2001:db8::1]"),
            ("2001:db8::1", "2001:db8::1"),
            ("::1", "::1"),
            ("192.0.2.1:80", "192.0.2.1"),
        ] {
            assert_eq!(strip_port(given), host, "{given}");
        }
    }

    #[test]
    fn damaged_but_real_lines() {
        let combined = LogFormat::Combined;
        let apache =
            LogFormat::from_arg(r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i""#)
                .unwrap();
        let whole = r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "Mozilla/5.0 (X11; Linux)""#;
        // Cut off inside the agent: still a request, the agent is what was written.
        let cut = &whole[..whole.len() - 2];
        for f in [&combined, &apache] {
            let h = f.parse(cut).unwrap_or_else(|| panic!("{}", f.name()));
            assert_eq!(
                (h.status, h.agent),
                (200, Some("Mozilla/5.0 (X11; Linux")),
                "{}",
                f.name()
            );
            // A BOM before the first line.
            assert!(
                f.parse(&format!("\u{FEFF}{whole}")).is_some(),
                "{}",
                f.name()
            );
            // Cut off before the agent, or inside the request: not a request.
            assert!(
                f.parse(&whole[..whole.len() - 30]).is_none(),
                "{}",
                f.name()
            );
            assert!(f.parse(&whole[..60]).is_none(), "{}", f.name());
        }
        let mut p = Parser::new(None);
        assert!(p.header("\u{FEFF}#Software: Microsoft Internet Information Services 10.0"));
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
