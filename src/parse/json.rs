//! JSON access logs, one object per line: nginx `escape=json` formats and Caddy's access log,
//! with the usual key names recognised and a mapping for others.
//!
//! Values are taken as raw slices of the line (`serde_json`'s `RawValue`), so strings keep their
//! JSON escapes until a hit is shown, as the other formats keep theirs.

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::time::{parse_clf_time, parse_iso8601, parse_unix_seconds};
use super::{RawHit, Request};

/// Which keys hold which field. Each field takes the first key present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonKeys {
    /// Client address.
    pub client: Vec<String>,
    /// Time (ISO 8601, common-log time, or Unix seconds).
    pub time: Vec<String>,
    /// Whole request line, or (Caddy) a request object.
    pub request: Vec<String>,
    /// Method.
    pub method: Vec<String>,
    /// Path with query.
    pub uri: Vec<String>,
    /// Protocol.
    pub protocol: Vec<String>,
    /// Status.
    pub status: Vec<String>,
    /// Body bytes.
    pub bytes: Vec<String>,
    /// Referer.
    pub referer: Vec<String>,
    /// User agent.
    pub agent: Vec<String>,
    /// Virtual host.
    pub vhost: Vec<String>,
    /// X-Forwarded-For.
    pub forwarded_for: Vec<String>,
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Default for JsonKeys {
    fn default() -> Self {
        JsonKeys {
            client: keys(&[
                "client_ip",
                "remote_ip",
                "remote_addr",
                "client",
                "ip",
                "clientip",
            ]),
            time: keys(&[
                "time_iso8601",
                "time_local",
                "time",
                "timestamp",
                "@timestamp",
                "ts",
                "msec",
            ]),
            request: keys(&["request"]),
            method: keys(&["request_method", "method"]),
            uri: keys(&["request_uri", "uri", "url", "path"]),
            protocol: keys(&["server_protocol", "protocol", "proto"]),
            status: keys(&["status", "status_code"]),
            bytes: keys(&["body_bytes_sent", "bytes_sent", "size", "bytes"]),
            referer: keys(&["http_referer", "referer", "referrer"]),
            agent: keys(&["http_user_agent", "user_agent", "agent", "useragent"]),
            vhost: keys(&["host", "server_name", "vhost"]),
            forwarded_for: keys(&["http_x_forwarded_for", "x_forwarded_for"]),
        }
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
        let mut k = JsonKeys::default();
        for pair in mapping.split(',').filter(|p| !p.is_empty()) {
            let (field, key) = pair
                .split_once('=')
                .ok_or_else(|| JsonKeysError(pair.into()))?;
            let list = match field.trim() {
                "client" | "ip" => &mut k.client,
                "time" => &mut k.time,
                "request" => &mut k.request,
                "method" => &mut k.method,
                "uri" | "path" => &mut k.uri,
                "protocol" => &mut k.protocol,
                "status" => &mut k.status,
                "bytes" => &mut k.bytes,
                "referer" => &mut k.referer,
                "agent" => &mut k.agent,
                "vhost" | "host" => &mut k.vhost,
                "forwarded_for" => &mut k.forwarded_for,
                _ => return Err(JsonKeysError(pair.into())),
            };
            list.insert(0, key.trim().to_string());
        }
        Ok(k)
    }
}

type Object<'a> = HashMap<&'a str, &'a RawValue>;

fn first<'a>(obj: &Object<'a>, keys: &[String]) -> Option<&'a RawValue> {
    keys.iter().find_map(|k| obj.get(k.as_str()).copied())
}

/// A JSON string's content, escapes kept; `None` for other types, `""` or `"-"`.
fn string(v: &RawValue) -> Option<&str> {
    let s = v.get().strip_prefix('"')?.strip_suffix('"')?;
    (!s.is_empty() && s != "-").then_some(s)
}

/// A number, or a string holding one.
fn number(v: &RawValue) -> Option<&str> {
    string(v)
        .or_else(|| Some(v.get()).filter(|t| t.bytes().next().is_some_and(|c| c.is_ascii_digit())))
}

/// Caddy logs headers as arrays: `"User-Agent": ["curl/8"]`.
fn header<'a>(headers: &Object<'a>, name: &str) -> Option<&'a str> {
    let v = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))?
        .1;
    let list: Vec<&RawValue> = serde_json::from_str(v.get()).ok()?;
    list.first().and_then(|v| string(v))
}

/// Parses one JSON object line.
pub fn parse<'a>(line: &'a str, keys: &JsonKeys) -> Option<RawHit<'a>> {
    if !line.trim_start().starts_with('{') {
        return None;
    }
    let obj: Object<'a> = serde_json::from_str(line).ok()?;
    let mut client = first(&obj, &keys.client).and_then(string);
    let (mut method, mut uri, mut protocol, mut vhost) =
        (None, None, None, first(&obj, &keys.vhost).and_then(string));
    let (mut referer, mut agent) = (
        first(&obj, &keys.referer).and_then(string),
        first(&obj, &keys.agent).and_then(string),
    );
    let mut request_line = None;
    match first(&obj, &keys.request) {
        Some(r) if r.get().starts_with('{') => {
            // Caddy: the request is an object of its own.
            let req: Object<'a> = serde_json::from_str(r.get()).ok()?;
            client = client.or_else(|| first(&req, &keys.client).and_then(string));
            method = req.get("method").and_then(|v| string(v));
            uri = req.get("uri").and_then(|v| string(v));
            protocol = req.get("proto").and_then(|v| string(v));
            vhost = vhost.or_else(|| req.get("host").and_then(|v| string(v)));
            if let Some(h) = req
                .get("headers")
                .and_then(|h| serde_json::from_str::<Object<'a>>(h.get()).ok())
            {
                referer = referer.or_else(|| header(&h, "Referer"));
                agent = agent.or_else(|| header(&h, "User-Agent"));
            }
        }
        Some(r) => request_line = string(r),
        None => {}
    }
    method = method.or_else(|| first(&obj, &keys.method).and_then(string));
    uri = uri.or_else(|| first(&obj, &keys.uri).and_then(string));
    protocol = protocol.or_else(|| first(&obj, &keys.protocol).and_then(string));
    let time = first(&obj, &keys.time).and_then(|v| {
        let t = number(v)?;
        parse_unix_seconds(t)
            .or_else(|| parse_iso8601(t))
            .or_else(|| parse_clf_time(t))
    });
    let status = first(&obj, &keys.status).and_then(number)?;
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
        vhost: vhost.map(|v| v.split(':').next().unwrap_or(v)),
        ip: super::ip::parse_ip(client?)?,
        time: time.unwrap_or_else(crate::unix_now),
        request: request_line.unwrap_or(""),
        parts,
        status: super::status_code(status)?,
        bytes: first(&obj, &keys.bytes)
            .and_then(number)
            .and_then(super::decimal)
            .unwrap_or(0),
        referer,
        agent,
        forwarded_for: first(&obj, &keys.forwarded_for).and_then(string),
        // JSON strings are checked for escapes when used.
        escaped: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hit::Rfc3339;

    #[test]
    fn nginx_escape_json() {
        let line = r#"{"time_local":"24/Nov/2026:13:08:01 +0000","remote_addr":"203.0.113.9","request":"GET /a?b=1 HTTP/1.1","status": "200","body_bytes_sent":"512","http_referer":"","http_user_agent":"say \"hi\"","http_x_forwarded_for":"198.51.100.2"}"#;
        let h = parse(line, &JsonKeys::default()).unwrap();
        assert_eq!(h.ip.to_string(), "203.0.113.9");
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
        assert_eq!(h.ip.to_string(), "2001:db8::5");
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
    fn key_mapping_and_garbage() {
        let keys = JsonKeys::with_mapping("client=src,uri=target,status=code").unwrap();
        let h = parse(r#"{"src":"192.0.2.4","target":"/x","code":301}"#, &keys).unwrap();
        assert_eq!(
            (h.ip.to_string().as_str(), h.request().path, h.status),
            ("192.0.2.4", "/x", 301)
        );
        assert!(JsonKeys::with_mapping("colour=x").is_err());
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
