//! NATS message format: JSON (serde_json) against MessagePack (rmp-serde), for batches of
//! typical hits — size, encode and decode time (README "Many servers over NATS" says what was
//! chosen and why).
//!
//! `cargo bench --bench nats_format` makes 1,000 combined-format lines of a mixed site (IPv4
//! and IPv6 clients, browsers, phones, crawlers, assets, referers, queries), parses and
//! enriches them as `webpeek publish` does, then, for batches of 1,000 and of 10 hits:
//!
//! - **JSON**: the real message (`Batch::encode`, fields without a value left out) and
//!   `Batch::decode` back to `Hit`s, as publisher and hub do;
//! - **MessagePack, named**: the same `Batch` through `rmp_serde::to_vec_named` (maps with
//!   field names, as self-describing as JSON) and `rmp_serde::from_slice`;
//! - **MessagePack, compact**: positional arrays (`rmp_serde::to_vec`) of a struct with every
//!   field present — the smallest MessagePack, but a message only decodes with the exact field
//!   order of the same version.
//!
//! Each figure is the best of 5 rounds of ~0.3 s. Under `cargo test --all-targets` (no
//! `--bench` argument) it only checks that the three round trips agree, and exits.

use std::borrow::Cow;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use webpeek::Hit;
use webpeek::enrich::{AgentClassifier, Enricher};
use webpeek::nats::{Batch, MAX_MESSAGE_BYTES, WireHit};
use webpeek::parse::Parser;

const AGENTS: [&str; 8] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "curl/8.5.0",
];
const PATHS: [&str; 8] = [
    "/",
    "/blog/2026/11/how-we-cut-our-p99-latency.html",
    "/products/item-123",
    "/docs/getting-started/",
    "/static/css/site.3f9a1c.css",
    "/static/img/icon-apache-53.png",
    "/search",
    "/tag/metrics/",
];
const REFERERS: [&str; 4] = [
    "-",
    "https://www.example.com/",
    "https://news.ycombinator.com/item?id=42424242",
    "https://www.google.com/",
];

/// Typical hits, parsed and enriched as the publisher does.
fn hits(n: usize) -> Vec<Hit> {
    let agents = AgentClassifier::new().unwrap();
    let enricher = Enricher::new(agents, None, None);
    let mut parser = Parser::new(None);
    let source: Arc<str> = "access.log".into();
    (0..n)
        .map(|i| {
            let ip = if i % 6 == 0 {
                format!("2001:db8:{:x}:{:x}::{:x}", i * 7919 % 65521, i % 97, i % 4093)
            } else {
                format!("{}.{}.{}.{}", 11 + i * 37 % 200, i * 13 % 256, i * 7 % 256, 1 + i % 254)
            };
            let path = PATHS[i * 5 % PATHS.len()];
            let query = if path == "/search" { "?q=webpeek+nats&page=2" } else { "" };
            let status = [200, 200, 200, 304, 200, 404, 200, 301][i % 8];
            let line = format!(
                "{ip} - - [25/Nov/2026:10:{:02}:{:02} +0000] \"GET {path}{query} HTTP/1.1\" {status} {} \"{}\" \"{}\"",
                i / 60 % 60,
                i % 60,
                1000 + i * 7919 % 90_000,
                REFERERS[i * 3 % REFERERS.len()],
                AGENTS[i * 3 % AGENTS.len()],
            );
            let raw = parser.parse_raw(&line).expect("the line parses");
            let mut hit = raw.to_hit(&source);
            hit.server = "web1".into();
            enricher.enrich(&mut hit);
            hit
        })
        .collect()
}

/// The same hit with every field present, in a fixed order: MessagePack's positional form.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct CompactHit<'a> {
    time: i64,
    ip: Option<std::net::IpAddr>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    path: Cow<'a, str>,
    #[serde(borrow)]
    query: Option<Cow<'a, str>>,
    #[serde(borrow)]
    protocol: Option<Cow<'a, str>>,
    status: u16,
    bytes: u64,
    #[serde(borrow)]
    referer: Option<Cow<'a, str>>,
    #[serde(borrow)]
    agent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    browser: Option<Cow<'a, str>>,
    #[serde(borrow)]
    os: Option<Cow<'a, str>>,
    bot: bool,
    device: Option<webpeek::nats::WireDevice>,
    #[serde(borrow)]
    country: Option<Cow<'a, str>>,
    #[serde(borrow)]
    asn: Option<webpeek::nats::WireAsn<'a>>,
    #[serde(borrow)]
    vhost: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
}

impl<'a> From<WireHit<'a>> for CompactHit<'a> {
    fn from(w: WireHit<'a>) -> Self {
        CompactHit {
            time: w.time,
            ip: w.ip,
            method: w.method,
            path: w.path,
            query: w.query,
            protocol: w.protocol,
            status: w.status,
            bytes: w.bytes,
            referer: w.referer,
            agent: w.agent,
            browser: w.browser,
            os: w.os,
            bot: w.bot,
            device: w.device,
            country: w.country,
            asn: w.asn,
            vhost: w.vhost,
            source: w.source,
            url: w.url,
        }
    }
}

impl<'a> From<CompactHit<'a>> for WireHit<'a> {
    fn from(c: CompactHit<'a>) -> Self {
        WireHit {
            time: c.time,
            ip: c.ip,
            method: c.method,
            path: c.path,
            query: c.query,
            protocol: c.protocol,
            status: c.status,
            bytes: c.bytes,
            referer: c.referer,
            agent: c.agent,
            browser: c.browser,
            os: c.os,
            bot: c.bot,
            device: c.device,
            country: c.country,
            asn: c.asn,
            vhost: c.vhost,
            source: c.source,
            url: c.url,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CompactBatch<'a> {
    v: u32,
    #[serde(borrow)]
    server: Cow<'a, str>,
    #[serde(borrow)]
    run: Cow<'a, str>,
    seq: u64,
    dropped: u64,
    #[serde(borrow)]
    hits: Vec<CompactHit<'a>>,
}

struct Format {
    name: &'static str,
    encode: fn(&[Hit]) -> Vec<u8>,
    decode: fn(&[u8]) -> Vec<Hit>,
}

fn server() -> Arc<str> {
    "web1".into()
}

fn json_encode(hits: &[Hit]) -> Vec<u8> {
    let (bytes, n) = Batch::encode(
        "web1",
        "0123456789abcdef",
        42,
        0,
        hits,
        MAX_MESSAGE_BYTES * 4,
    );
    assert_eq!(n, hits.len());
    bytes
}

fn json_decode(bytes: &[u8]) -> Vec<Hit> {
    let server = server();
    let batch = Batch::decode(bytes).unwrap();
    batch
        .hits
        .into_iter()
        .map(|h| h.into_hit(&server))
        .collect()
}

fn batch(hits: &[Hit]) -> Batch<'_> {
    Batch {
        v: 1,
        server: "web1".into(),
        run: "0123456789abcdef".into(),
        seq: 42,
        dropped: 0,
        hits: hits.iter().map(WireHit::from).collect(),
    }
}

fn named_encode(hits: &[Hit]) -> Vec<u8> {
    rmp_serde::to_vec_named(&batch(hits)).unwrap()
}

fn named_decode(bytes: &[u8]) -> Vec<Hit> {
    let server = server();
    let batch: Batch<'_> = rmp_serde::from_slice(bytes).unwrap();
    batch
        .hits
        .into_iter()
        .map(|h| h.into_hit(&server))
        .collect()
}

fn compact_encode(hits: &[Hit]) -> Vec<u8> {
    let b = batch(hits);
    rmp_serde::to_vec(&CompactBatch {
        v: b.v,
        server: b.server,
        run: b.run,
        seq: b.seq,
        dropped: b.dropped,
        hits: b.hits.into_iter().map(CompactHit::from).collect(),
    })
    .unwrap()
}

fn compact_decode(bytes: &[u8]) -> Vec<Hit> {
    let server = server();
    let batch: CompactBatch<'_> = rmp_serde::from_slice(bytes).unwrap();
    batch
        .hits
        .into_iter()
        .map(|h| WireHit::from(h).into_hit(&server))
        .collect()
}

/// Best time per call of `f` over 5 rounds of about 0.3 s.
fn best(mut f: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut calls = 0u32;
        while start.elapsed() < Duration::from_millis(300) {
            f();
            calls += 1;
        }
        best = best.min(start.elapsed() / calls);
    }
    best
}

fn main() {
    let formats = [
        Format {
            name: "JSON (chosen)",
            encode: json_encode,
            decode: json_decode,
        },
        Format {
            name: "MessagePack, named",
            encode: named_encode,
            decode: named_decode,
        },
        Format {
            name: "MessagePack, compact",
            encode: compact_encode,
            decode: compact_decode,
        },
    ];
    let all = hits(1000);
    for f in &formats {
        assert_eq!((f.decode)(&(f.encode)(&all)), all, "{} round trip", f.name);
    }
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "nats_format bench: the round trips agree; run `cargo bench --bench nats_format` to measure"
        );
        return;
    }
    println!(
        "| format | hits per message | bytes per hit | encode, ns per hit | decode to Hit, ns per hit | size vs JSON |"
    );
    println!("|---|---|---|---|---|---|");
    for n in [1000, 10] {
        let hits = &all[..n];
        let json_size = json_encode(hits).len();
        for f in &formats {
            let bytes = (f.encode)(hits);
            let encode = best(|| {
                black_box((f.encode)(black_box(hits)));
            });
            let decode = best(|| {
                black_box((f.decode)(black_box(&bytes)));
            });
            println!(
                "| {} | {n} | {:.0} | {:.0} | {:.0} | {:.0} % |",
                f.name,
                bytes.len() as f64 / n as f64,
                encode.as_nanos() as f64 / n as f64,
                decode.as_nanos() as f64 / n as f64,
                100.0 * bytes.len() as f64 / json_size as f64,
            );
        }
    }
}
