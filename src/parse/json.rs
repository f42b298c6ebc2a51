//! JSON access logs, one object per line: nginx `escape=json` formats and Caddy's access log,
//! with the usual key names recognised and a mapping for others.
//!
//! The object is read member by member, in place: no map is built and nothing is allocated per
//! line. Values are slices of the line, so strings keep their JSON escapes until a hit is
//! shown, as the other formats keep theirs.

use std::net::IpAddr;

use super::ip::parse_ip;
use super::quoted_end;
use super::time::{parse_clf_time, parse_iso8601, parse_unix_seconds, parse_wall};
use super::{RawHit, Request};

/// The fields a JSON log can hold, in [`JsonKeys`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Client,
    Time,
    Request,
    Method,
    Uri,
    Protocol,
    Status,
    Bytes,
    Referer,
    Agent,
    Vhost,
    ForwardedFor,
}

const FIELDS: usize = 12;

const FIELD_NAMES: [(&str, Field); FIELDS] = [
    ("client", Field::Client),
    ("time", Field::Time),
    ("request", Field::Request),
    ("method", Field::Method),
    ("uri", Field::Uri),
    ("protocol", Field::Protocol),
    ("status", Field::Status),
    ("bytes", Field::Bytes),
    ("referer", Field::Referer),
    ("agent", Field::Agent),
    ("vhost", Field::Vhost),
    ("forwarded_for", Field::ForwardedFor),
];

/// Which keys hold which field. Each field takes the first of its keys present in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonKeys {
    /// Every key name by its length: a line's key is compared with the few names of its
    /// length, by their first eight bytes as a number first.
    by_len: Vec<Vec<KeyName>>,
}

/// A key name, and the fields it may hold with its rank among each field's keys (0 = first).
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyName {
    head: u64,
    name: String,
    fields: Vec<(Field, u8)>,
}

/// Up to the first eight bytes of `s`, as one number (zero-padded).
#[inline]
fn prefix(s: &[u8]) -> u64 {
    let mut head = [0u8; 8];
    let n = s.len().min(8);
    head[..n].copy_from_slice(&s[..n]);
    u64::from_le_bytes(head)
}

impl Default for JsonKeys {
    fn default() -> Self {
        let defaults: [(Field, &[&str]); FIELDS] = [
            (
                Field::Client,
                &[
                    "client_ip",
                    "remote_ip",
                    "remote_addr",
                    "client",
                    "ip",
                    "clientip",
                    "ClientIP",
                ],
            ),
            (
                Field::Time,
                &[
                    "time_iso8601",
                    "time_local",
                    "time",
                    "timestamp",
                    "@timestamp",
                    "ts",
                    "msec",
                    "EdgeStartTimestamp",
                ],
            ),
            (Field::Request, &["request"]),
            (
                Field::Method,
                &["request_method", "method", "ClientRequestMethod"],
            ),
            (
                Field::Uri,
                &["request_uri", "uri", "url", "path", "ClientRequestURI"],
            ),
            (
                Field::Protocol,
                &[
                    "server_protocol",
                    "protocol",
                    "proto",
                    "ClientRequestProtocol",
                ],
            ),
            (
                Field::Status,
                &["status", "status_code", "EdgeResponseStatus"],
            ),
            (
                Field::Bytes,
                &[
                    "body_bytes_sent",
                    "bytes_sent",
                    "size",
                    "bytes",
                    "EdgeResponseBytes",
                ],
            ),
            (
                Field::Referer,
                &[
                    "http_referer",
                    "referer",
                    "referrer",
                    "ClientRequestReferer",
                ],
            ),
            (
                Field::Agent,
                &[
                    "http_user_agent",
                    "user_agent",
                    "agent",
                    "useragent",
                    "ClientRequestUserAgent",
                ],
            ),
            (
                Field::Vhost,
                &["host", "server_name", "vhost", "ClientRequestHost"],
            ),
            (
                Field::ForwardedFor,
                &["http_x_forwarded_for", "x_forwarded_for"],
            ),
        ];
        JsonKeys::from_lists(
            defaults
                .iter()
                .map(|(field, names)| (*field, names.iter().map(|n| n.to_string()).collect())),
        )
    }
}

/// A `--json-keys` value that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "--json-keys: '{0}' is not FIELD=KEY with FIELD one of client, time, request, method, uri, protocol, status, bytes, referer, agent, vhost, forwarded_for"
)]
pub struct JsonKeysError(pub String);

impl JsonKeys {
    /// The defaults, with `field=key,...` put first for the fields named.
    pub fn with_mapping(mapping: &str) -> Result<JsonKeys, JsonKeysError> {
        let mut lists = JsonKeys::default().lists();
        for pair in mapping.split(',').filter(|p| !p.is_empty()) {
            let (field, key) = pair
                .split_once('=')
                .ok_or_else(|| JsonKeysError(pair.into()))?;
            let field = match field.trim() {
                "ip" => Field::Client,
                "path" => Field::Uri,
                "host" => Field::Vhost,
                name => {
                    FIELD_NAMES
                        .iter()
                        .find(|(n, _)| *n == name)
                        .ok_or_else(|| JsonKeysError(pair.into()))?
                        .1
                }
            };
            lists[field as usize].1.insert(0, key.trim().to_string());
        }
        Ok(JsonKeys::from_lists(lists))
    }

    /// Each field's key names, most preferred first.
    fn lists(&self) -> Vec<(Field, Vec<String>)> {
        let mut ranked: Vec<(Field, u8, &str)> = self
            .by_len
            .iter()
            .flatten()
            .flat_map(|k| k.fields.iter().map(|&(f, rank)| (f, rank, k.name.as_str())))
            .collect();
        ranked.sort();
        let mut lists: Vec<(Field, Vec<String>)> =
            FIELD_NAMES.iter().map(|(_, f)| (*f, Vec::new())).collect();
        for (field, _, name) in ranked {
            lists[field as usize].1.push(name.to_string());
        }
        lists
    }

    fn from_lists(lists: impl IntoIterator<Item = (Field, Vec<String>)>) -> JsonKeys {
        let mut by_len: Vec<Vec<KeyName>> = Vec::new();
        for (field, names) in lists {
            for (rank, name) in names.into_iter().enumerate() {
                let rank = rank.min(255) as u8;
                if by_len.len() <= name.len() {
                    by_len.resize(name.len() + 1, Vec::new());
                }
                let same_len = &mut by_len[name.len()];
                match same_len.iter_mut().find(|k| k.name == name) {
                    // A name listed twice for a field (a mapping repeating a default) keeps
                    // its first rank; a name may also hold several fields.
                    Some(k) if k.fields.iter().any(|(f, _)| *f == field) => {}
                    Some(k) => k.fields.push((field, rank)),
                    None => same_len.push(KeyName {
                        head: prefix(name.as_bytes()),
                        name,
                        fields: vec![(field, rank)],
                    }),
                }
            }
        }
        JsonKeys { by_len }
    }

    /// The fields a key holds, each with the key's rank among that field's keys.
    #[inline]
    fn find(&self, key: &str) -> &[(Field, u8)] {
        let key = key.as_bytes();
        let head = prefix(key);
        self.by_len
            .get(key.len())
            .and_then(|names| {
                names
                    .iter()
                    .find(|k| k.head == head && (key.len() <= 8 || k.name.as_bytes() == key))
            })
            .map_or(&[], |k| &k.fields)
    }
}

/// JSON's insignificant whitespace.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_space(b: &[u8], mut at: usize) -> usize {
    while b.get(at).is_some_and(|&c| is_space(c)) {
        at += 1;
    }
    at
}

/// Where the JSON value starting at `b[at]` ends (exclusive), or `None` if it is not one.
/// Strings end at their closing quote; objects and arrays at their matching bracket (strings
/// inside skipped whole); numbers, `true`, `false` and `null` at the next delimiter.
fn value_end(b: &[u8], at: usize) -> Option<usize> {
    match *b.get(at)? {
        b'"' => Some(at + 1 + quoted_end(&b[at + 1..])?.0 + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match *b.get(i)? {
                    b'"' => {
                        i += 1 + quoted_end(&b[i + 1..])?.0;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let len = b[at..]
                .iter()
                .position(|&c| matches!(c, b',' | b'}' | b']') || is_space(c))
                .unwrap_or(b.len() - at);
            let token = &b[at..at + len];
            let scalar = token
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-'));
            (len > 0 && scalar).then_some(at + len)
        }
    }
}

/// Calls `member` with each key (escapes kept) and raw value of the object `text`, which must
/// be one whole object (whitespace around it allowed). `None` if it is not.
fn members<'a>(text: &'a str, mut member: impl FnMut(&'a str, &'a str)) -> Option<()> {
    let b = text.as_bytes();
    let mut at = skip_space(b, 0);
    (b.get(at) == Some(&b'{')).then_some(())?;
    at = skip_space(b, at + 1);
    if b.get(at) == Some(&b'}') {
        return (skip_space(b, at + 1) == b.len()).then_some(());
    }
    loop {
        (b.get(at) == Some(&b'"')).then_some(())?;
        let key_end = value_end(b, at)?;
        // Both cuts are at ASCII quotes, colons or the bytes after them: character boundaries.
        let key = &text[at + 1..key_end - 1];
        at = skip_space(b, key_end);
        (b.get(at) == Some(&b':')).then_some(())?;
        at = skip_space(b, at + 1);
        let end = value_end(b, at)?;
        member(key, &text[at..end]);
        at = skip_space(b, end);
        match b.get(at) {
            Some(b',') => at = skip_space(b, at + 1),
            Some(b'}') => return (skip_space(b, at + 1) == b.len()).then_some(()),
            _ => return None,
        }
    }
}

/// A JSON string's content, escapes kept; `None` for other types, `""` or `"-"`.
fn string(v: &str) -> Option<&str> {
    let s = v.strip_prefix('"')?.strip_suffix('"')?;
    (!s.is_empty() && s != "-").then_some(s)
}

/// A number, or a string holding one.
fn number(v: &str) -> Option<&str> {
    string(v).or_else(|| Some(v).filter(|t| t.bytes().next().is_some_and(|c| c.is_ascii_digit())))
}

/// The first element of an array, as Caddy logs headers: `"User-Agent": ["curl/8"]`.
fn first_element(v: &str) -> Option<&str> {
    let b = v.as_bytes();
    (b.first() == Some(&b'[')).then_some(())?;
    let at = skip_space(b, 1);
    let end = value_end(b, at)?;
    string(&v[at..end])
}

/// The raw value of each field's best-ranked key in the object `line`, with that rank; `None`
/// if `line` is not one whole object.
#[inline(always)]
fn found<'a>(line: &'a str, keys: &JsonKeys) -> Option<[Option<(&'a str, u8)>; FIELDS]> {
    let mut found: [Option<(&'a str, u8)>; FIELDS] = [None; FIELDS];
    members(line, |key, value| {
        for &(field, rank) in keys.find(key) {
            let slot = &mut found[field as usize];
            if slot.is_none_or(|(_, r)| rank < r) {
                *slot = Some((value, rank));
            }
        }
    })?;
    Some(found)
}

/// Why an object is not a request when its time or status is the reason (a time webpeek
/// cannot read, a status outside 100–599); `None` otherwise. For `report --unparsed`.
pub(super) fn why(line: &str, keys: &JsonKeys) -> Option<String> {
    let found = found(line, keys)?;
    let get = |f: Field| found[f as usize].map(|(v, _)| v);
    if let Some(v) = get(Field::Time)
        && read_time(v).is_none()
    {
        return Some(format!("{v} cannot be the time"));
    }
    if let Some(v) = get(Field::Status)
        && number(v).and_then(super::status_code).is_none()
    {
        return Some(format!("{v} cannot be the status (100 to 599)"));
    }
    None
}

/// Parses one JSON object line.
// Not inlined into `LogFormat::parse`: that stays a small dispatcher, which the other formats'
// lines pass through too (inlined, this added ten instructions to every combined line).
#[inline(never)]
pub fn parse<'a>(line: &'a str, keys: &JsonKeys) -> Option<RawHit<'a>> {
    let found = found(line, keys)?;
    let get = |f: Field| found[f as usize].map(|(v, _)| v);
    let mut client = get(Field::Client).and_then(string);
    let (mut method, mut uri, mut protocol) = (None, None, None);
    let mut vhost = get(Field::Vhost).and_then(string);
    let mut referer = get(Field::Referer).and_then(string);
    let mut agent = get(Field::Agent).and_then(string);
    let mut request_line = None;
    match get(Field::Request) {
        Some(r) if r.starts_with('{') => {
            // Caddy: the request is an object of its own.
            let mut req_client: Option<(&str, u8)> = None;
            let mut headers = None;
            members(r, |key, value| match key {
                "method" => method = string(value),
                "uri" => uri = string(value),
                "proto" => protocol = string(value),
                "host" => vhost = vhost.or(string(value)),
                "headers" => headers = Some(value),
                _ => {
                    for &(field, rank) in keys.find(key) {
                        if field == Field::Client && req_client.is_none_or(|(_, r)| rank < r) {
                            req_client = Some((value, rank));
                        }
                    }
                }
            })?;
            client = client.or_else(|| req_client.and_then(|(v, _)| string(v)));
            if let Some(h) = headers {
                let (mut h_referer, mut h_agent) = (None, None);
                // Headers that are not an object (`null`) are no headers, not a bad line.
                let _ = members(h, |name, value| {
                    if name.eq_ignore_ascii_case("Referer") {
                        h_referer = h_referer.or(first_element(value));
                    } else if name.eq_ignore_ascii_case("User-Agent") {
                        h_agent = h_agent.or(first_element(value));
                    }
                });
                referer = referer.or(h_referer);
                agent = agent.or(h_agent);
            }
        }
        Some(r) => request_line = string(r),
        None => {}
    }
    method = method.or_else(|| get(Field::Method).and_then(string));
    uri = uri.or_else(|| get(Field::Uri).and_then(string));
    protocol = protocol.or_else(|| get(Field::Protocol).and_then(string));
    // A line without a time gets the time it was read; one whose time is there but
    // unreadable is not a request (taking it as "now" would put it in the wrong minute).
    let time = match get(Field::Time) {
        Some(v) => read_time(v)?,
        None => crate::unix_now(),
    };
    let status = get(Field::Status).and_then(number)?;
    let parts = match (request_line, uri) {
        (None, Some(target)) => {
            let (path, query) = target
                .split_once('?')
                .map_or((target, None), |(p, q)| (p, Some(q)));
            Some(Request {
                method: method.unwrap_or("-"),
                path,
                query,
                protocol,
            })
        }
        _ => None,
    };
    Some(RawHit {
        // `example.com:443`, `[2001:db8::1]:8443`: the port comes off, an IPv6 host stays whole.
        vhost: vhost.map(super::strip_port),
        ip: Some(client_ip(client?)?),
        time,
        request: request_line.unwrap_or(""),
        parts,
        status: super::status_code(status)?,
        bytes: get(Field::Bytes)
            .and_then(number)
            .and_then(super::decimal)
            .unwrap_or(0),
        referer,
        agent,
        forwarded_for: get(Field::ForwardedFor).and_then(string),
        // JSON strings are checked for escapes when used.
        escaped: true,
        encoding: super::TextEncoding::Plain,
    })
}

/// A time field's value in Unix seconds: a number of seconds, milli-, micro- or nanoseconds,
/// or a string holding one, ISO 8601 / RFC 3339, Caddy's `wall` formats or a common-log time.
fn read_time(v: &str) -> Option<i64> {
    let t = number(v)?;
    parse_unix_seconds(t)
        // Milli-, micro- or nanoseconds (Cloudflare's EdgeStartTimestamp is in ns): no log is
        // from before 1973 or after 5138 in seconds.
        .map(|n| {
            let mut n = n;
            while n > 99_999_999_999 {
                n /= 1000;
            }
            n
        })
        .or_else(|| {
            // A time without a zone is in --timezone's, as for the other formats.
            let unix = parse_iso8601(t)?;
            Some(if iso8601_has_zone(t) {
                unix
            } else {
                unix - super::strftime::zoneless_offset()
            })
        })
        // nginx's `$time_local`, Caddy's `common_log`.
        .or_else(|| parse_clf_time(t))
        // Caddy's `wall`, `wall_milli`, `wall_nano`: no zone either.
        .or_else(|| Some(parse_wall(t)? - super::strftime::zoneless_offset()))
}

/// The client address; Caddy 2.0 to 2.4 logged the peer's `remote_addr` with its port
/// (`203.0.113.9:52424`, `[2001:db8::1]:52424`), which comes off.
fn client_ip(s: &str) -> Option<IpAddr> {
    if let Some(ip) = parse_ip(s) {
        return Some(ip);
    }
    let (host, port) = match s.strip_prefix('[') {
        Some(v6) => v6.split_once("]:")?,
        // An IPv6 address with a port is always in brackets (Go's `JoinHostPort`).
        None => s.rsplit_once(':').filter(|(h, _)| !h.contains(':'))?,
    };
    let port_ok = (1..=5).contains(&port.len()) && port.bytes().all(|c| c.is_ascii_digit());
    port_ok.then(|| parse_ip(host))?
}

/// Whether an ISO 8601 time (as [`parse_iso8601`] reads it) names its zone (`Z`, `+02:00`).
fn iso8601_has_zone(t: &str) -> bool {
    let rest = t.get(19..).unwrap_or("");
    let rest = rest
        .strip_prefix('.')
        .map_or(rest, |f| f.trim_start_matches(|c: char| c.is_ascii_digit()));
    !rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hit::Rfc3339;

    #[test]
    fn nginx_escape_json() {
        let line = r#"{"time_local":"24/Nov/2026:13:08:01 +0000","remote_addr":"203.0.113.9","request":"GET /a?b=1 HTTP/1.1","status": "200","body_bytes_sent":"512","http_referer":"","http_user_agent":"say \"hi\"","http_x_forwarded_for":"198.51.100.2"}"#;
        let h = parse(line, &JsonKeys::default()).unwrap();
        assert_eq!(h.ip.unwrap().to_string(), "203.0.113.9");
        assert_eq!(Rfc3339(h.time).to_string(), "2026-11-24T13:08:01Z");
        assert_eq!(h.request().path, "/a");
        assert_eq!((h.status, h.bytes, h.referer), (200, 512, None));
        let hit = h.to_hit(&"t".into());
        assert_eq!(hit.agent.as_deref(), Some(r#"say "hi""#));
        assert_eq!(h.forwarded_for, Some("198.51.100.2"));
    }

    #[test]
    fn caddy_access_log() {
        let line = r#"{"level":"info","ts":1795957681.524,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"2001:db8::5","remote_port":"41342","client_ip":"2001:db8::5","proto":"HTTP/2.0","method":"GET","host":"example.com:443","uri":"/docs/?q=x","headers":{"User-Agent":["Mozilla/5.0 Firefox/132.0"],"Referer":["https://r/"]}},"bytes_read":0,"duration":0.0009,"size":10900,"status":200}"#;
        let h = parse(line, &JsonKeys::default()).unwrap();
        assert_eq!(h.ip.unwrap().to_string(), "2001:db8::5");
        assert_eq!(h.time, 1_795_957_681);
        let r = h.request();
        assert_eq!(
            (r.method, r.path, r.query, r.protocol),
            ("GET", "/docs/", Some("q=x"), Some("HTTP/2.0"))
        );
        assert_eq!((h.status, h.bytes), (200, 10900));
        assert_eq!(h.vhost, Some("example.com"));
        assert_eq!(h.agent, Some("Mozilla/5.0 Firefox/132.0"));
        assert_eq!(h.referer, Some("https://r/"));
    }

    #[test]
    fn caddy_time_formats() {
        let keys = JsonKeys::default();
        let at = |ts: &str| {
            let line = format!(
                r#"{{"ts":{ts},"request":{{"remote_ip":"192.0.2.1","method":"GET","uri":"/"}},"status":200}}"#
            );
            parse(&line, &keys).map(|h| Rfc3339(h.time).to_string())
        };
        let want = Some("2026-11-24T13:08:01Z".to_string());
        // Caddy's `time_format`: wall, wall_milli, wall_nano (no zone: UTC unless --timezone,
        // checked end to end in tests/formats.rs), common_log, and those read before.
        for ts in [
            r#""2026/11/24 13:08:01""#,
            r#""2026/11/24 13:08:01.524""#,
            r#""2026/11/24 13:08:01.524000001""#,
            r#""24/Nov/2026:14:08:01 +0100""#,
            r#""2026-11-24T13:08:01.524Z""#,
            r#""2026-11-24T14:08:01.524+0100""#,
            "1795525681.524",
            "1795525681524.5",
            "1795525681524000001",
        ] {
            assert_eq!(at(ts), want, "{ts}");
        }
        // A time that is there but unreadable makes the line unparsed, not "now".
        for ts in [
            r#""2026/11/24""#,
            r#""2026/11/24 13:08""#,
            r#""2026/13/24 13:08:01""#,
            r#""2026/11/24 13:08:01.""#,
            r#""2026/11/24 13:08:01 PM""#,
            r#""2026/11/24T13:08:01""#,
            r#""yesterday""#,
            r#""""#,
            r#""-""#,
            "null",
            "true",
            "{}",
        ] {
            assert_eq!(at(ts), None, "{ts}");
        }
        // No time at all: the time the line was read.
        let now = crate::unix_now();
        let line = r#"{"remote_addr":"192.0.2.1","status":200}"#;
        assert!(parse(line, &keys).unwrap().time >= now);
    }

    #[test]
    fn addresses_with_ports() {
        let keys = JsonKeys::default();
        // Caddy 2.0 to 2.4: the peer's `remote_addr` with its port, inside `request`.
        for (addr, ip) in [
            ("203.0.113.9:52424", "203.0.113.9"),
            ("[2001:db8::1]:52424", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
        ] {
            let line = format!(
                r#"{{"ts":1795525681.5,"request":{{"remote_addr":"{addr}","proto":"HTTP/1.1","method":"GET","host":"example.com","uri":"/"}},"status":200}}"#
            );
            let h = parse(&line, &keys).unwrap_or_else(|| panic!("{addr}"));
            assert_eq!(h.ip.unwrap().to_string(), ip);
        }
        for bad in [
            "203.0.113.9:",
            "host.example:80",
            "2001:db8::1:52424",
            "[2001:db8::1]",
        ] {
            let line = format!(r#"{{"remote_addr":"{bad}","status":200}}"#);
            assert!(parse(&line, &keys).is_none(), "{bad}");
        }
        // A host's port comes off, an IPv6 host stays whole.
        for (host, vhost) in [
            ("example.com:8443", "example.com"),
            ("[2001:db8::1]:8443", "[2001:db8::1]"),
            ("[2001:db8::1]", "[2001:db8::1]"),
            ("192.0.2.7:80", "192.0.2.7"),
        ] {
            let line = format!(r#"{{"remote_addr":"192.0.2.1","host":"{host}","status":200}}"#);
            assert_eq!(parse(&line, &keys).unwrap().vhost, Some(vhost), "{host}");
            let caddy = format!(
                r#"{{"request":{{"remote_ip":"192.0.2.1","host":"{host}","uri":"/"}},"status":200}}"#
            );
            assert_eq!(parse(&caddy, &keys).unwrap().vhost, Some(vhost), "{host}");
        }
    }

    #[test]
    fn objects_are_read_in_place_whatever_their_layout() {
        let keys = JsonKeys::default();
        // Whitespace everywhere, nested values holding brackets, quotes and commas in strings,
        // numbers with exponents, a preferred key after a lesser one.
        let line = " { \"extra\" : { \"a\" : [1, \"]}\\\"{\", {\"b\": null}], \"c\": -1.5e+3 } ,\n\t\"remote_addr\" : \"10.0.0.1\" , \"client_ip\":\"10.0.0.2\", \"status\" : 404 , \"request\": \"GET /x HTTP/1.1\", \"ok\": true, \"none\": null } ";
        let h = parse(line, &keys).unwrap();
        assert_eq!(
            h.ip.unwrap().to_string(),
            "10.0.0.2",
            "client_ip ranks before remote_addr"
        );
        assert_eq!((h.status, h.request), (404, "GET /x HTTP/1.1"));
        // Caddy headers that are not an object are no headers.
        let caddy = r#"{"request":{"remote_ip":"192.0.2.1","method":"GET","uri":"/","headers":null},"status":200}"#;
        assert_eq!(parse(caddy, &keys).unwrap().agent, None);
        // A key with an escape is not a known key; the line still parses by its other keys.
        let escaped_key = r#"{"st\u0061tus":500,"status":200,"remote_addr":"::1"}"#;
        assert_eq!(parse(escaped_key, &keys).unwrap().status, 200);
        for bad in [
            r#"{"remote_addr":"10.0.0.1","status":200,}"#,
            r#"{"remote_addr":"10.0.0.1","status":200} x"#,
            r#"{"remote_addr":"10.0.0.1" "status":200}"#,
            r#"{"remote_addr":"10.0.0.1","status":200"#,
            r#"{"remote_addr":"10.0.0.1","status":{"a":[1,2}"#,
            r#"{"remote_addr":"10.0.0.1","status":"200\"}"#,
            r#"{"remote_addr":"10.0.0.1","status":}"#,
            r#"{"remote_addr":"10.0.0.1","status":2é}"#,
            r#"{remote_addr:"10.0.0.1","status":200}"#,
        ] {
            assert!(parse(bad, &keys).is_none(), "{bad}");
        }
    }

    /// `members` against serde_json on generated objects, whole and damaged: every object
    /// serde_json reads, `members` reads too, with the same keys and the same values.
    #[test]
    fn members_agree_with_serde_json() {
        use serde_json::{Map, Value};
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        fn text(next: &mut impl FnMut(u64) -> u64) -> String {
            let pieces = [
                "a", "é", "\"", "\\", "}", "]", ",", ":", " ", "\n", "\u{1}", "x",
            ];
            (0..next(6))
                .map(|_| pieces[next(pieces.len() as u64) as usize])
                .collect()
        }
        fn value(next: &mut impl FnMut(u64) -> u64, depth: u32) -> Value {
            match next(if depth > 2 { 5 } else { 7 }) {
                0 => Value::Null,
                1 => Value::Bool(next(2) == 0),
                2 => Value::from(next(100_000) as i64 - 50_000),
                3 => Value::from(next(1000) as f64 / 8.0),
                4 => Value::String(text(next)),
                5 => Value::Array((0..next(4)).map(|_| value(next, depth + 1)).collect()),
                _ => Value::Object(object(next, depth + 1)),
            }
        }
        fn object(next: &mut impl FnMut(u64) -> u64, depth: u32) -> Map<String, Value> {
            (0..next(6))
                .map(|_| (text(next), value(next, depth)))
                .collect()
        }
        let read = |line: &str| {
            let mut got = Vec::new();
            members(line, |k, v| got.push((k.to_string(), v.to_string()))).map(|()| got)
        };
        let mut checked = 0;
        for round in 0..20_000 {
            let obj = object(&mut next, 0);
            let line = if round % 2 == 0 {
                serde_json::to_string(&obj).unwrap()
            } else {
                serde_json::to_string_pretty(&obj).unwrap()
            };
            let got = read(&line).unwrap_or_else(|| panic!("refused {line:?}"));
            let want: Vec<(String, Value)> = obj.into_iter().collect();
            assert_eq!(got.len(), want.len(), "{line:?}");
            for ((k, raw), (wk, wv)) in got.iter().zip(&want) {
                assert_eq!(format!("\"{k}\""), serde_json::to_string(wk).unwrap());
                assert_eq!(&serde_json::from_str::<Value>(raw).unwrap(), wv, "{line:?}");
            }
            // Damaged: if serde_json still reads an object, so must `members`, the same way.
            let mut b = line.into_bytes();
            let at = next(b.len() as u64) as usize;
            match next(3) {
                0 => {
                    b.remove(at);
                }
                1 => b.insert(at, b"{}[]\",: 0e-"[next(11) as usize]),
                _ => b[at] = b"{}[]\",: 0e-"[next(11) as usize],
            }
            let Ok(line) = String::from_utf8(b) else {
                continue;
            };
            if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(&line) {
                let got = read(&line).unwrap_or_else(|| panic!("refused {line:?}"));
                // As serde_json builds its map: keys unescaped, the last of a repeated key wins.
                let got: Map<String, Value> = got
                    .iter()
                    .map(|(k, raw)| {
                        let key = serde_json::from_str(&format!("\"{k}\"")).unwrap();
                        (key, serde_json::from_str(raw).unwrap())
                    })
                    .collect();
                assert_eq!(got, obj, "{line:?}");
                checked += 1;
            }
        }
        assert!(
            checked > 1_000,
            "enough damaged lines stay JSON ({checked})"
        );
    }

    #[test]
    fn key_mapping_and_garbage() {
        let keys = JsonKeys::with_mapping("client=src,uri=target,status=code").unwrap();
        let h = parse(r#"{"src":"192.0.2.4","target":"/x","code":301}"#, &keys).unwrap();
        assert_eq!(
            (
                h.ip.unwrap().to_string().as_str(),
                h.request().path,
                h.status
            ),
            ("192.0.2.4", "/x", 301)
        );
        assert!(JsonKeys::with_mapping("colour=x").is_err());
        // A mapped key comes first for its field, and one key may hold two fields.
        let keys = JsonKeys::with_mapping("client=src,vhost=remote_addr").unwrap();
        let h = parse(
            r#"{"remote_addr":"192.0.2.9","src":"192.0.2.4","status":200}"#,
            &keys,
        )
        .unwrap();
        assert_eq!(
            (h.ip.unwrap().to_string().as_str(), h.vhost),
            ("192.0.2.4", Some("192.0.2.9"))
        );
        assert_eq!(
            keys.lists()[Field::Client as usize].1[..2],
            ["src", "client_ip"]
        );
        for bad in [
            "",
            "{",
            "[1]",
            r#"{"remote_addr":"x","status":200}"#,
            r#"{"status":200}"#,
            "not json",
        ] {
            assert!(parse(bad, &JsonKeys::default()).is_none(), "{bad}");
        }
    }
}
