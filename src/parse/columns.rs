//! Column formats: a line split into fields by a separator (spaces, tabs or commas), each field's
//! meaning given by its position. These are the logs of CDNs, load balancers, object stores and
//! proxies that GoAccess names: IIS and other W3C extended logs (`w3c`, whose `#Fields:` header
//! says the order), CloudFront (`cloudfront`), Google Cloud Storage (`cloudstorage`, CSV with a
//! header row), AWS ELB (`awselb`), ALB (`awsalb`), S3 (`awss3`), Squid (`squid`), and HAProxy's
//! `option httplog` (`haproxy`).
//!
//! Splitting is one pass over the line: a field that opens with `"`, `[` or `{` runs to its
//! closing mark (so a quoted request or a bracketed time may hold the separator), any other field
//! to the next separator. Fields past the last one the format knows are ignored, so a product
//! that appends new fields (AWS does) keeps parsing.

use std::net::IpAddr;

use super::ip::parse_ip;
use super::time::{parse_clf_time, parse_iso8601, parse_unix_seconds};
use super::{
    RawHit, Request, TextEncoding, dash_none, decimal, split_request, status_code, strip_port,
};

/// What separates the fields of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    /// One space (W3C, ELB, S3, HAProxy).
    Space,
    /// One or more spaces (Squid pads its columns).
    Spaces,
    /// A tab (CloudFront).
    Tab,
    /// A comma, with `""` for a quote inside a quoted field (CSV: Cloud Storage).
    Comma,
}

/// What one column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Ignored.
    Skip,
    /// Client address.
    Client,
    /// Client `address:port` (ELB, ALB, HAProxy; `[v6]:port` too).
    ClientPort,
    /// `2019-12-04` (W3C `date`), joined with [`Column::TimeOfDay`].
    Date,
    /// `21:02:31` (W3C `time`), joined with [`Column::Date`].
    TimeOfDay,
    /// ISO 8601 (`2015-05-13T23:39:43.945958Z`).
    TimeIso,
    /// `[06/Feb/2019:00:00:38 +0000]`, or HAProxy's `[06/Feb/2009:12:14:14.655]` (no zone: UTC).
    TimeClf,
    /// Unix seconds with a fraction (Squid's `1286536308.779`).
    TimeUnix,
    /// Unix microseconds (Cloud Storage's `time_micros`).
    TimeMicros,
    /// A whole request line, `GET /x HTTP/1.1`; an absolute URL target gives path and host.
    Request,
    /// Method.
    Method,
    /// Path and query, or an absolute URL (Squid, Cloud Storage's `cs_uri`).
    Uri,
    /// Path only (W3C `cs-uri-stem`).
    Path,
    /// Query only, `-` for none (W3C `cs-uri-query`).
    Query,
    /// Protocol (`HTTP/1.1`).
    Protocol,
    /// Status.
    Status,
    /// Squid's `TCP_MISS/200`: the status after the slash.
    SquidStatus,
    /// Bytes sent.
    Bytes,
    /// Referer.
    Referer,
    /// User agent.
    Agent,
    /// Virtual host.
    Vhost,
    /// `X-Forwarded-For`.
    ForwardedFor,
}

/// A column format: a separator, the meaning of each column, how text fields are encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    name: String,
    separator: Separator,
    columns: Vec<Column>,
    /// How the agent and referer are written (IIS writes spaces as `+`, CloudFront
    /// percent-encodes).
    encoding: TextEncoding,
    /// HAProxy: skip a syslog prefix (`... haproxy[123]: `) and take the request from the last
    /// field (captured headers in braces come and go before it).
    haproxy: bool,
}

/// IIS's default `#Fields:`.
const W3C_DEFAULT: &str = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken";
/// CloudFront's standard log fields, in order.
const CLOUDFRONT_FIELDS: &str = "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end";
/// Cloud Storage usage log columns, in order (also its header row).
const CLOUDSTORAGE_FIELDS: &str = "time_micros c_ip c_ip_type c_ip_region cs_method cs_uri sc_status cs_bytes sc_bytes time_taken_micros cs_host cs_referer cs_user_agent s_request_id cs_operation cs_bucket cs_object";

impl Columns {
    /// The named formats this module knows, by `--format` name.
    pub fn named(name: &str) -> Option<Columns> {
        use Column::*;
        let fixed = |separator, columns: &[Column]| Columns {
            name: name.to_owned(),
            separator,
            columns: trimmed(columns.to_vec()),
            encoding: TextEncoding::Plain,
            haproxy: false,
        };
        Some(match name {
            "w3c" => Self::w3c(W3C_DEFAULT, Separator::Space),
            "cloudfront" => Self::w3c(CLOUDFRONT_FIELDS, Separator::Tab),
            "cloudstorage" => Self::cloudstorage(CLOUDSTORAGE_FIELDS),
            // time elb client:port backend:port 3 timings elb_status backend_status received
            // sent "request" "agent" cipher protocol
            "awselb" => fixed(
                Separator::Space,
                &[
                    TimeIso, Skip, ClientPort, Skip, Skip, Skip, Skip, Status, Skip, Skip, Bytes,
                    Request, Agent,
                ],
            ),
            // type time elb client:port target:port 3 timings elb_status target_status
            // received sent "request" "agent" cipher protocol target_group "trace" "domain"
            "awsalb" => fixed(
                Separator::Space,
                &[
                    Skip, TimeIso, Skip, ClientPort, Skip, Skip, Skip, Skip, Status, Skip, Skip,
                    Bytes, Request, Agent, Skip, Skip, Skip, Skip, Vhost,
                ],
            ),
            // owner bucket [time] ip requester request_id operation key "request" status
            // error bytes_sent object_size total turnaround "referer" "agent"
            "awss3" => fixed(
                Separator::Space,
                &[
                    Skip, Vhost, TimeClf, Client, Skip, Skip, Skip, Skip, Request, Status, Skip,
                    Bytes, Skip, Skip, Skip, Referer, Agent,
                ],
            ),
            // time elapsed client code/status bytes method URL user hierarchy/peer type
            "squid" => fixed(
                Separator::Spaces,
                &[TimeUnix, Skip, Client, SquidStatus, Bytes, Method, Uri],
            ),
            // client:port [time] frontend backend/server timers status bytes ...
            // "request" (the last field)
            "haproxy" => Columns {
                haproxy: true,
                ..fixed(
                    Separator::Space,
                    &[ClientPort, TimeClf, Skip, Skip, Skip, Status, Bytes],
                )
            },
            _ => return None,
        })
    }

    /// A W3C extended format from the names of its `#Fields:` header.
    pub fn w3c(fields: &str, separator: Separator) -> Columns {
        let cloudfront = fields.contains("x-edge-location");
        let columns = fields
            .split_whitespace()
            .map(|f| match f.to_ascii_lowercase().as_str() {
                "date" => Column::Date,
                "time" => Column::TimeOfDay,
                "c-ip" => Column::Client,
                "cs-method" => Column::Method,
                "cs-uri-stem" => Column::Path,
                "cs-uri-query" => Column::Query,
                "cs-uri" => Column::Uri,
                "sc-status" => Column::Status,
                "sc-bytes" => Column::Bytes,
                "cs(user-agent)" => Column::Agent,
                "cs(referer)" | "cs(referrer)" => Column::Referer,
                "cs-host" | "cs(host)" if !cloudfront => Column::Vhost,
                // CloudFront's cs(Host) is its own domain; the site's is x-host-header.
                "x-host-header" => Column::Vhost,
                "cs-version" | "cs-protocol-version" => Column::Protocol,
                "x-forwarded-for" => Column::ForwardedFor,
                _ => Column::Skip,
            })
            .collect();
        let columns = trimmed(columns);
        Columns {
            name: if cloudfront { "cloudfront" } else { "w3c" }.to_owned(),
            separator,
            columns,
            encoding: if cloudfront {
                TextEncoding::Percent
            } else {
                TextEncoding::PlusForSpace
            },
            haproxy: false,
        }
    }

    /// Cloud Storage's CSV from the names of its header row.
    fn cloudstorage(fields: &str) -> Columns {
        let columns = fields
            .split([' ', ','])
            .filter(|f| !f.is_empty())
            .map(|f| match f.trim_matches('"') {
                "time_micros" => Column::TimeMicros,
                "c_ip" => Column::Client,
                "cs_method" => Column::Method,
                "cs_uri" => Column::Uri,
                "sc_status" => Column::Status,
                "sc_bytes" => Column::Bytes,
                "cs_host" => Column::Vhost,
                "cs_referer" => Column::Referer,
                "cs_user_agent" => Column::Agent,
                _ => Column::Skip,
            })
            .collect();
        let columns = trimmed(columns);
        Columns {
            name: "cloudstorage".to_owned(),
            separator: Separator::Comma,
            columns,
            encoding: TextEncoding::Plain,
            haproxy: false,
        }
    }

    /// The format's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the format has header lines (W3C, CloudFront, Cloud Storage).
    pub fn has_headers(&self) -> bool {
        matches!(self.name.as_str(), "w3c" | "cloudfront" | "cloudstorage")
    }

    /// The format a header line announces, when `line` is one (`#Fields: ...`, or Cloud
    /// Storage's `"time_micros",...` row); `Some(None)` for another comment (`#Version`).
    pub fn header(&self, line: &str) -> Option<Option<Columns>> {
        header(line).filter(|_| self.has_headers())
    }

    /// Parses one line.
    pub fn parse<'a>(&self, line: &'a str) -> Option<RawHit<'a>> {
        let mut line = line;
        if self.haproxy {
            line = strip_syslog_prefix(line);
        }
        let mut hit = Parts::default();
        if self.separator == Separator::Spaces {
            // Squid's padded columns are never quoted: words between runs of spaces.
            let words = super::scan::Words::new(line.as_bytes(), b' ');
            for (&column, (start, end)) in self.columns.iter().zip(words) {
                hit.take(column, &line[start..end])?;
            }
            return hit.finish(self.encoding);
        }
        let mut last = "";
        for (index, field) in Fields::new(line, self.separator).enumerate() {
            last = field;
            if let Some(&column) = self.columns.get(index) {
                hit.take(column, field)?;
            } else if !self.haproxy {
                break;
            }
        }
        if self.haproxy {
            hit.take(Column::Request, last)?;
        }
        hit.finish(self.encoding)
    }
}

impl Columns {
    /// Why `line` does not parse: the first field that cannot be what its column says, and at
    /// which byte; for `report --unparsed`.
    pub fn diagnose(&self, line: &str) -> String {
        let body = if self.haproxy {
            strip_syslog_prefix(line)
        } else {
            line
        };
        let offset = line.len() - body.len();
        let mut hit = Parts::default();
        let mut seen = 0;
        for (index, field) in Fields::new(body, self.separator).enumerate() {
            let Some(&column) = self.columns.get(index) else {
                break;
            };
            seen = index + 1;
            let at = offset + (field.as_ptr() as usize - body.as_ptr() as usize);
            if hit.take(column, field).is_none() {
                return format!(
                    "byte {at}: field {} ({column:?}) cannot be {field:?}",
                    index + 1
                );
            }
        }
        if seen < self.columns.len() && !self.haproxy {
            let wanted = self.columns[seen..]
                .iter()
                .rposition(|c| *c != Column::Skip);
            if wanted.is_some() {
                return format!(
                    "only {seen} fields; {} expects at least {}",
                    self.name,
                    seen + 1 + wanted.unwrap_or(0)
                );
            }
        }
        if self.parse(line).is_some() {
            return "parses".into();
        }
        "a field is malformed or missing (client address, time, request or status)".into()
    }
}

/// The columns without the ignored ones at the end: a line is split only as far as the last
/// field webpeek reads (CloudFront writes 33, ALB 29; the rest is never looked at).
fn trimmed(mut columns: Vec<Column>) -> Vec<Column> {
    while columns.last() == Some(&Column::Skip) {
        columns.pop();
    }
    columns
}

/// What a header line says: `Some(Some(format))` for a `#Fields:` line or Cloud Storage's
/// header row, `Some(None)` for another `#` comment, `None` for a line of data.
pub fn header(line: &str) -> Option<Option<Columns>> {
    if let Some(fields) = line.strip_prefix("#Fields:") {
        let separator = if fields.contains("x-edge-location") {
            Separator::Tab
        } else {
            Separator::Space
        };
        return Some(Some(Columns::w3c(fields.trim(), separator)));
    }
    if line.starts_with('#') {
        return Some(None);
    }
    if line.starts_with("\"time_micros\"") {
        return Some(Some(Columns::cloudstorage(line)));
    }
    None
}

/// `Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 ...` → `10.0.1.2:33317 ...`.
/// A line that starts with its client address (a digit, or `:` and hex for IPv6) has no prefix;
/// a syslog prefix starts with a month name or a `<priority>` and ends at the tag's `]: `.
fn strip_syslog_prefix(line: &str) -> &str {
    match line.as_bytes().first() {
        Some(c) if c.is_ascii_uppercase() || *c == b'<' => {
            let head = &line.as_bytes()[..line.len().min(200)];
            memchr::memmem::find(head, b"]: ").map_or(line, |at| &line[at + 3..])
        }
        _ => line,
    }
}

/// Splits a line into fields, honouring quotes, brackets and braces.
struct Fields<'a> {
    line: &'a str,
    at: usize,
    separator: Separator,
}

impl<'a> Fields<'a> {
    fn new(line: &'a str, separator: Separator) -> Self {
        Fields {
            line,
            at: 0,
            separator,
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.line.as_bytes();
        if self.separator == Separator::Spaces {
            while b.get(self.at) == Some(&b' ') {
                self.at += 1;
            }
        }
        if self.at > b.len() || (self.at == b.len() && self.separator == Separator::Spaces) {
            return None;
        }
        let sep = match self.separator {
            Separator::Space | Separator::Spaces => b' ',
            Separator::Tab => b'\t',
            Separator::Comma => b',',
        };
        let start = self.at;
        let close = match b.get(start) {
            Some(b'"') => Some(b'"'),
            Some(b'[') if sep == b' ' => Some(b']'),
            Some(b'{') if sep == b' ' => Some(b'}'),
            _ => None,
        };
        if let Some(close) = close {
            // Inside quotes: a backslash escapes (Apache, S3), and in CSV `""` is a quote. The
            // closing mark is searched for a word at a time, not byte by byte.
            let body = &b[start + 1..];
            let end = match (close, sep) {
                (b'"', b',') => {
                    let mut from = 0;
                    loop {
                        match super::scan::find(&body[from..], b'"') {
                            Some(n) if body.get(from + n + 1) == Some(&b'"') => from += n + 2,
                            Some(n) => break Some(from + n),
                            None => break None,
                        }
                    }
                }
                (b'"', _) => super::quoted_end(body).map(|(n, _)| n),
                (mark, _) => super::scan::find(body, mark),
            };
            let Some(n) = end else {
                // Unterminated: the rest of the line (a line cut short), without the mark.
                self.at = b.len() + 1;
                return Some(&self.line[start + 1..]);
            };
            let i = start + 1 + n;
            let field = &self.line[start + 1..i];
            // The separator (or the end) must follow the closing mark; after a bracket, more
            // may follow (`[2001:db8::7]:2817`), up to the separator.
            self.at = match b.get(i + 1) {
                None => b.len() + 1,
                Some(&c) if c == sep => i + 2,
                Some(_) if close == b']' => {
                    let end = memchr::memchr(sep, &b[i..]).map_or(b.len(), |n| i + n);
                    self.at = end + 1;
                    return Some(&self.line[start..end]);
                }
                Some(_) => return None,
            };
            // Brackets keep what they enclose; the time parser wants it as logged.
            return Some(if close == b']' || close == b'}' {
                &self.line[start..=i]
            } else {
                field
            });
        }
        match super::scan::find(&b[start..], sep) {
            Some(n) => {
                self.at = start + n + 1;
                Some(&self.line[start..start + n])
            }
            None => {
                self.at = b.len() + 1;
                Some(&self.line[start..])
            }
        }
    }
}

/// The fields of one hit as they are found.
#[derive(Default)]
struct Parts<'a> {
    ip: Option<IpAddr>,
    date: Option<&'a str>,
    time_of_day: Option<&'a str>,
    time: Option<i64>,
    request: Option<&'a str>,
    method: Option<&'a str>,
    uri: Option<&'a str>,
    path: Option<&'a str>,
    query: Option<&'a str>,
    protocol: Option<&'a str>,
    status: Option<u16>,
    bytes: u64,
    referer: Option<&'a str>,
    agent: Option<&'a str>,
    vhost: Option<&'a str>,
    forwarded_for: Option<&'a str>,
    escaped: bool,
}

impl<'a> Parts<'a> {
    /// Takes one field; `None` when it cannot be what the column says.
    fn take(&mut self, column: Column, field: &'a str) -> Option<()> {
        match column {
            Column::Skip => {}
            Column::Client => self.ip = Some(parse_ip(field)?),
            Column::ClientPort => self.ip = Some(client_port(field)?),
            Column::Date => self.date = Some(field),
            Column::TimeOfDay => self.time_of_day = Some(field),
            Column::TimeIso => self.time = Some(parse_iso8601(field)?),
            Column::TimeClf => self.time = Some(bracketed_time(field)?),
            Column::TimeUnix => self.time = Some(parse_unix_seconds(field)?),
            Column::TimeMicros => self.time = Some((decimal(field)? / 1_000_000) as i64),
            Column::Request => {
                self.escaped |= field.contains('\\');
                self.request = Some(field);
            }
            Column::Method => self.method = dash_none(field),
            Column::Uri => self.uri = dash_none(field),
            Column::Path => self.path = dash_none(field),
            Column::Query => self.query = dash_none(field),
            Column::Protocol => self.protocol = dash_none(field),
            Column::Status => self.status = Some(status_code(field)?),
            // `TCP_MISS/200`: the status is always the last three bytes, after a `/`.
            Column::SquidStatus => {
                let b = field.as_bytes();
                (b.len() >= 4 && b[b.len() - 4] == b'/').then_some(())?;
                self.status = Some(status_code(&field[field.len() - 3..])?);
            }
            // `-` (nothing sent, or S3's "not applicable") counts as 0, as in CLF.
            Column::Bytes => self.bytes = if field == "-" { 0 } else { decimal(field)? },
            Column::Referer => {
                self.escaped |= field.contains('\\');
                self.referer = dash_none(field);
            }
            Column::Agent => {
                self.escaped |= field.contains('\\');
                self.agent = dash_none(field);
            }
            Column::Vhost => self.vhost = dash_none(field),
            Column::ForwardedFor => self.forwarded_for = dash_none(field),
        }
        Some(())
    }

    fn finish(self, encoding: TextEncoding) -> Option<RawHit<'a>> {
        let time = match (self.time, self.date, self.time_of_day) {
            (Some(t), _, _) => t,
            (None, Some(date), Some(tod)) => date_and_time(date, tod)?,
            _ => return None,
        };
        let mut vhost = self.vhost;
        let (request, parts) = match (self.request, self.method) {
            (Some(line), _) => {
                let mut r = split_request(line);
                if let Some((host, path)) = absolute(r.path) {
                    vhost = vhost.or(Some(host));
                    r.path = path;
                    return Some(RawHit {
                        request: "",
                        parts: Some(r),
                        ..self.hit(time, vhost, encoding)?
                    });
                }
                (line, None)
            }
            (None, Some(method)) => {
                let (path, query) = match (self.uri, self.path) {
                    (Some(uri), _) => {
                        let (host, target) = match absolute(uri) {
                            Some((host, target)) => (Some(host), target),
                            None => (None, uri),
                        };
                        vhost = vhost.or(host);
                        match super::scan::find(target.as_bytes(), b'?') {
                            Some(q) => (&target[..q], Some(&target[q + 1..])),
                            None => (target, None),
                        }
                    }
                    (None, Some(path)) => (path, self.query),
                    (None, None) => return None,
                };
                let r = Request {
                    method,
                    path,
                    query,
                    protocol: self.protocol,
                };
                ("", Some(r))
            }
            (None, None) => return None,
        };
        Some(RawHit {
            request,
            parts,
            ..self.hit(time, vhost, encoding)?
        })
    }

    fn hit(&self, time: i64, vhost: Option<&'a str>, encoding: TextEncoding) -> Option<RawHit<'a>> {
        Some(RawHit {
            vhost: vhost.map(strip_port),
            ip: Some(self.ip?),
            time,
            request: "",
            parts: None,
            status: self.status?,
            bytes: self.bytes,
            referer: self.referer,
            agent: self.agent,
            forwarded_for: self.forwarded_for,
            escaped: self.escaped,
            encoding,
        })
    }
}

/// `http://example.com:80/a?b` → (`example.com:80`, `/a?b`); `None` for an origin-form target.
fn absolute(target: &str) -> Option<(&str, &str)> {
    // Origin-form targets (`/x`), the common case, are told at the first byte.
    if !matches!(target.as_bytes().first(), Some(b'h' | b'w')) {
        return None;
    }
    let rest = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
        .or_else(|| target.strip_prefix("ws://"))
        .or_else(|| target.strip_prefix("wss://"))?;
    Some(match super::scan::find(rest.as_bytes(), b'/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    })
}

/// `192.168.131.39:2817`, `[2001:db8::1]:443`.
fn client_port(field: &str) -> Option<IpAddr> {
    if let Some(v6) = field.strip_prefix('[') {
        return parse_ip(v6.split(']').next()?);
    }
    // The port is after the last colon (for IPv6 without brackets too: the column always
    // has one).
    parse_ip(field.rsplit_once(':')?.0)
}

/// `[06/Feb/2019:00:00:38 +0000]`, or HAProxy's `[06/Feb/2009:12:14:14.655]` (UTC).
fn bracketed_time(field: &str) -> Option<i64> {
    let inner = field.strip_prefix('[')?.strip_suffix(']')?;
    if inner.len() == 26 {
        return parse_clf_time(inner);
    }
    // Without a zone, and perhaps with milliseconds.
    let clock = inner.get(..20)?;
    let rest = &inner[20..];
    if !(rest.is_empty()
        || (rest.starts_with('.') && rest[1..].bytes().all(|c| c.is_ascii_digit())))
    {
        return None;
    }
    let mut buf = [0u8; 26];
    buf[..20].copy_from_slice(clock.as_bytes());
    buf[20..].copy_from_slice(b" +0000");
    // HAProxy writes its machine's local time: `--timezone` says which.
    Some(parse_clf_time(std::str::from_utf8(&buf).ok()?)? - super::strftime::zoneless_offset())
}

/// W3C `date` and `time` (UTC): `2019-12-04` and `21:02:31` (a fraction after the seconds is
/// dropped). Read digit by digit in place: this runs on every line of an IIS or CloudFront log.
fn date_and_time(date: &str, time: &str) -> Option<i64> {
    let (d, t) = (date.as_bytes(), time.as_bytes());
    if d.len() != 10 || d[4] != b'-' || d[7] != b'-' || t.len() < 8 || t[2] != b':' || t[5] != b':'
    {
        return None;
    }
    let n = |b: &[u8]| {
        b.iter().try_fold(0i64, |a, &c| {
            c.is_ascii_digit().then(|| a * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (n(&d[..4])?, n(&d[5..7])?, n(&d[8..10])?);
    let (hour, minute, second) = (n(&t[..2])?, n(&t[3..5])?, n(&t[6..8])?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = crate::hit::days_from_civil(year, month as u32, day as u32);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hit::Rfc3339;

    fn parse<'a>(name: &str, line: &'a str) -> RawHit<'a> {
        Columns::named(name)
            .unwrap()
            .parse(line)
            .unwrap_or_else(|| panic!("{name}: {line}"))
    }

    fn when(t: i64) -> String {
        Rfc3339(t).to_string()
    }

    #[test]
    fn squid() {
        let h = parse(
            "squid",
            "1286536308.779    180 192.168.0.224 TCP_MISS/200 411 GET http://www.google.com/search?q=x - DIRECT/74.125.19.104 text/html",
        );
        assert_eq!(when(h.time), "2010-10-08T11:11:48Z");
        assert_eq!(h.ip.unwrap().to_string(), "192.168.0.224");
        assert_eq!((h.status, h.bytes), (200, 411));
        let r = h.request();
        assert_eq!((r.method, r.path, r.query), ("GET", "/search", Some("q=x")));
        assert_eq!(h.vhost, Some("www.google.com"));
        let h = parse(
            "squid",
            "1286536309.000      0 ::1 TCP_DENIED/403 3600 CONNECT example.com:443 - HIER_NONE/- text/html",
        );
        assert_eq!((h.status, h.request().path), (403, "example.com:443"));
    }

    #[test]
    fn elb_and_alb() {
        let h = parse(
            "awselb",
            r#"2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000086 0.001048 0.001337 200 200 0 57 "GET https://www.example.com:443/docs/?a=1 HTTP/1.1" "curl/7.38.0" DHE-RSA-AES128-SHA TLSv1.2"#,
        );
        assert_eq!(when(h.time), "2015-05-13T23:39:43Z");
        assert_eq!(h.ip.unwrap().to_string(), "192.168.131.39");
        assert_eq!((h.status, h.bytes, h.agent), (200, 57, Some("curl/7.38.0")));
        let r = h.request();
        assert_eq!(
            (r.method, r.path, r.query, r.protocol),
            ("GET", "/docs/", Some("a=1"), Some("HTTP/1.1"))
        );
        assert_eq!(h.vhost, Some("www.example.com"));
        let h = parse(
            "awsalb",
            r#"h2 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 2001:db8::7:2817 - -1 -1 -1 502 - 34 366 "GET https://www.example.com:443/ HTTP/2.0" "Mozilla/5.0 (X11; Linux x86_64)" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:1:targetgroup/t/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "www.example.com" "arn:aws:acm:us-east-2:1:certificate/1" 1 2018-07-02T22:22:48.364000Z "forward" "-" "-" "-" "-" "-" "-""#,
        );
        assert_eq!(
            (h.ip.unwrap().to_string().as_str(), h.status, h.bytes),
            ("2001:db8::7", 502, 366)
        );
        assert_eq!(h.agent, Some("Mozilla/5.0 (X11; Linux x86_64)"));
        assert_eq!(h.request().path, "/");
        let h = parse(
            "awsalb",
            r#"wss 2018-11-30T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 10.0.0.140:40914 10.0.1.192:8010 0.001 0.003 0.000 101 101 218 587 "GET wss://10.0.0.30:443/socket HTTP/1.1" "-" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2"#,
        );
        assert_eq!(
            (h.status, h.request().path, h.agent),
            (101, "/socket", None)
        );
        assert_eq!(client_port("[2001:db8::7]:443"), "2001:db8::7".parse().ok());
        assert_eq!(client_port("192.0.2.1:80"), "192.0.2.1".parse().ok());
        assert_eq!(client_port("192.0.2.1"), None);
    }

    #[test]
    fn s3() {
        let h = parse(
            "awss3",
            r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /awsexamplebucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.2 - -"#,
        );
        assert_eq!(when(h.time), "2019-02-06T00:00:38Z");
        assert_eq!(
            (h.status, h.bytes, h.agent, h.referer),
            (200, 113, Some("S3Console/0.4"), None)
        );
        assert_eq!(h.request().query, Some("versioning"));
        assert_eq!(h.vhost, Some("awsexamplebucket1"));
    }

    #[test]
    fn w3c_with_its_header_and_cloudfront() {
        let iis = parse(
            "w3c",
            "2019-12-04 21:02:31 10.0.0.4 GET /blog/post.html q=1 443 - 203.0.113.7 Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64) https://www.bing.com/ 200 0 0 46",
        );
        assert_eq!(when(iis.time), "2019-12-04T21:02:31Z");
        assert_eq!(iis.ip.unwrap().to_string(), "203.0.113.7");
        let r = iis.request();
        assert_eq!(
            (r.method, r.path, r.query),
            ("GET", "/blog/post.html", Some("q=1"))
        );
        assert_eq!(iis.status, 200);
        assert_eq!(
            iis.text(iis.agent.unwrap()),
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
        );
        // Another order, from the file's own header.
        let Some(Some(f)) =
            header("#Fields: c-ip date time cs-method cs-uri-stem sc-status sc-bytes")
        else {
            panic!()
        };
        let h = f
            .parse("2001:db8::9 2019-12-04 21:02:32 POST /login 302 120")
            .unwrap();
        assert_eq!((h.status, h.bytes, h.request().method), (302, 120, "POST"));
        assert_eq!(header("#Version: 1.0"), Some(None));
        assert_eq!(header("2019-12-04 ..."), None);
        assert_eq!(
            date_and_time("2019-12-04", "21:02:31.123"),
            date_and_time("2019-12-04", "21:02:31")
        );
        for (d, t) in [
            ("2019-13-04", "21:02:31"),
            ("2019-12-04", "24:00:00"),
            ("2019/12/04", "21:02:31"),
            ("2019-12-04", "21:02"),
        ] {
            assert_eq!(date_and_time(d, t), None, "{d} {t}");
        }

        let cf = parse(
            "cloudfront",
            "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0%20(Windows%20NT%2010.0)\t-\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-",
        );
        assert_eq!(
            (cf.ip.unwrap().to_string().as_str(), cf.status, cf.bytes),
            ("192.0.2.100", 200, 392)
        );
        assert_eq!(cf.text(cf.agent.unwrap()), "Mozilla/5.0 (Windows NT 10.0)");
        assert_eq!(cf.request().protocol, Some("HTTP/2.0"));
    }

    #[test]
    fn cloud_storage_csv() {
        let Some(Some(f)) = header(
            r#""time_micros","c_ip","c_ip_type","c_ip_region","cs_method","cs_uri","sc_status","cs_bytes","sc_bytes","time_taken_micros","cs_host","cs_referer","cs_user_agent","s_request_id","cs_operation","cs_bucket","cs_object""#,
        ) else {
            panic!()
        };
        let line = r#""1588166730734000","203.0.113.5","1","","GET","/bucket/a%20b.html?x=1","200","0","1024","12000","storage.googleapis.com","","Mozilla/5.0 (say ""hi"")","AAA","GET_Object","bucket","a b.html""#;
        for f in [f, Columns::named("cloudstorage").unwrap()] {
            let h = f.parse(line).unwrap();
            assert_eq!(when(h.time), "2020-04-29T13:25:30Z");
            assert_eq!(
                (h.status, h.bytes, h.request().path),
                (200, 1024, "/bucket/a%20b.html")
            );
            assert_eq!(h.agent, Some(r#"Mozilla/5.0 (say ""hi"")"#));
            assert_eq!(h.vhost, Some("storage.googleapis.com"));
        }
    }

    #[test]
    fn haproxy_with_and_without_syslog_prefix() {
        for line in [
            r#"Feb  6 12:14:14 localhost haproxy[14389]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1""#,
            r#"10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1""#,
            r#"<134>Feb  6 12:14:14 lb1 haproxy[1]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {Mozilla/5.0 (X11) |} {} "GET /index.html HTTP/1.1""#,
        ] {
            let h = parse("haproxy", line);
            assert_eq!(when(h.time), "2009-02-06T12:14:14Z", "{line}");
            assert_eq!(
                (h.ip.unwrap().to_string().as_str(), h.status, h.bytes),
                ("10.0.1.2", 200, 2750)
            );
            assert_eq!(h.request().path, "/index.html");
        }
    }

    #[test]
    fn damaged_lines_do_not_parse() {
        for (name, line) in [
            ("squid", "1286536308.779 180"),
            (
                "squid",
                "x 180 192.168.0.224 TCP_MISS/200 411 GET http://a/",
            ),
            (
                "awselb",
                r#"2015-05-13T23:39:43Z lb 1.2.3.4:1 - 0 0 0 2000 200 0 57 "GET / HTTP/1.1" "-""#,
            ),
            ("awss3", "owner bucket [06/Feb/2019:00:00:38 +0000]"),
            ("w3c", "2019-12-04 21:02:31 10.0.0.4 GET"),
            ("haproxy", "garbage"),
            ("cloudstorage", ""),
        ] {
            assert!(
                Columns::named(name).unwrap().parse(line).is_none(),
                "{name}: {line}"
            );
        }
    }

    #[test]
    fn a_quoted_field_cut_short_is_the_rest_of_the_line() {
        let h = parse(
            "awselb",
            r#"2015-05-13T23:39:43.945958Z lb 192.168.131.39:2817 10.0.0.1:80 0 0 0 200 200 0 57 "GET / HTTP/1.1" "Mozilla/5.0 (X11; Linu"#,
        );
        assert_eq!(h.agent, Some("Mozilla/5.0 (X11; Linu"));
    }
}
