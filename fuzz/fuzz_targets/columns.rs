//! The column formats (W3C, CloudFront, Cloud Storage, ELB, ALB, S3, Squid, HAProxy) and header
//! lines (W3C `#Fields:`, Cloud Storage's header row) on any bytes.
//!
//! The input is cut into lines. Every line goes to every named column format; then a `Parser`
//! (a fixed named format, or detection: the first byte picks) sees a real header or none, the
//! first lines of the input as headers (whatever they hold), and the other lines as a file would
//! give them (`header`, then `parse_raw`). Nothing may panic, and every field of a parsed hit must
//! be a slice of its line (the parsers are zero-copy) or a constant (`""`, `-`, and `/` for the
//! path of an absolute URL without one).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use webpeek::parse::{LogFormat, Parser, RawHit};

const NAMES: [&str; 8] = [
    "w3c",
    "cloudfront",
    "cloudstorage",
    "awselb",
    "awsalb",
    "awss3",
    "squid",
    "haproxy",
];

/// Headers as the products write them, so that data lines also meet the formats a header makes.
const HEADERS: [&str; 4] = [
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status sc-bytes time-taken",
    "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end",
    r#""time_micros","c_ip","c_ip_type","c_ip_region","cs_method","cs_uri","sc_status","cs_bytes","sc_bytes","time_taken_micros","cs_host","cs_referer","cs_user_agent","s_request_id","cs_operation","cs_bucket","cs_object""#,
    "#Fields: c-ip date time cs-uri cs-version cs-host x-forwarded-for sc-status sc-bytes cs(Referer) cs(User-Agent) cs-method",
];

fn formats() -> &'static [LogFormat] {
    static FORMATS: OnceLock<Vec<LogFormat>> = OnceLock::new();
    FORMATS.get_or_init(|| {
        NAMES
            .iter()
            .map(|n| LogFormat::from_name(n).unwrap_or_else(|| panic!("{n} is a named format")))
            .collect()
    })
}

/// A field borrowed from `line`: inside it, or a constant the parsers use for "none" (and `/`,
/// the path of `http://host`).
fn from_line(field: &str, line: &str, what: &str) {
    if field.is_empty() || field == "-" || field == "/" {
        return;
    }
    let line_range = line.as_bytes().as_ptr_range();
    let range = field.as_bytes().as_ptr_range();
    assert!(
        line_range.start <= range.start && range.end <= line_range.end,
        "{what} {field:?} is not a slice of the line {line:?}"
    );
}

fn check(raw: &RawHit<'_>, line: &str) {
    from_line(raw.request, line, "request");
    for (what, field) in [
        ("vhost", raw.vhost),
        ("referer", raw.referer),
        ("agent", raw.agent),
        ("forwarded_for", raw.forwarded_for),
    ] {
        if let Some(f) = field {
            from_line(f, line, what);
        }
    }
    if let Some(p) = &raw.parts {
        from_line(p.method, line, "parts.method");
        from_line(p.path, line, "parts.path");
        if let Some(q) = p.query {
            from_line(q, line, "parts.query");
        }
        if let Some(v) = p.protocol {
            from_line(v, line, "parts.protocol");
        }
    }
    let r = raw.request();
    from_line(r.method, line, "method");
    from_line(r.path, line, "path");
    assert!((100..=599).contains(&raw.status), "status {}", raw.status);
    if let Some(a) = raw.agent {
        let _ = raw.text(a);
    }
    if let Some(r) = raw.referer {
        let _ = raw.text(r);
    }
    let _ = raw.forwarded_client();
    let _ = raw.to_hit(&Arc::from("fuzz"));
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();

    // Every named column format on every line; a line that is a header for it makes a format
    // that reads the same line too.
    for f in formats() {
        for line in &lines {
            if let Some(raw) = f.parse(line) {
                check(&raw, line);
            }
            if let Some(Some(g)) = f.header(line)
                && let Some(raw) = g.parse(line)
            {
                check(&raw, line);
            }
        }
    }

    // A parser as a file meets it. First byte: bits 0-3 the format (8 and up: detect), bits
    // 4-5 how many of the first lines are taken as headers, bit 6 a real header first (which one:
    // the first byte again), bit 7 --client-from-header.
    let ctl = data.first().copied().unwrap_or(0);
    let format = formats().get(usize::from(ctl & 0x0f)).cloned();
    let mut parser = Parser::new(format).client_from_header(ctl & 0x80 != 0);
    if ctl & 0x40 != 0 {
        let _ = parser.header(HEADERS[usize::from(ctl) % HEADERS.len()]);
    }
    let headers = usize::from((ctl >> 4) & 3);
    for (i, line) in lines.iter().enumerate() {
        if i < headers {
            let _ = parser.header(line);
            continue;
        }
        if parser.header(line) {
            continue;
        }
        if let Some(raw) = parser.parse_raw(line) {
            check(&raw, line);
        }
    }
});
