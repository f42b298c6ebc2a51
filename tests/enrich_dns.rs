//! Reverse DNS against a real DNS server: hickory-server runs in the test, on 127.0.0.1,
//! serving PTR records; nothing is sent anywhere else. The library is tested directly, and the
//! real binary end to end (`--dns-server`), with a server in front of hickory's that counts the
//! queries and answers at once, late, or never.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, Ws, line};
use futures_util::StreamExt;
use hickory_server::Server as DnsServer;
use hickory_server::proto::op::Message;
use hickory_server::proto::rr::rdata::{PTR, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use serde_json::Value;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use webpeek::enrich::{HostName, LOOKUP_TIMEOUT, ReverseDns};

const V4_ZONE: &str = "113.0.203.in-addr.arpa.";
const V6_ZONE: &str = "8.b.d.0.1.0.0.2.ip6.arpa.";

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// The names the test server gives, with their records' TTL in seconds.
const NAMES: [(&str, &str, u32); 4] = [
    ("203.0.113.9", "dsl-9.example.net", 3600),
    ("203.0.113.10", "dsl-10.example.net", 3600),
    ("203.0.113.11", "short-11.example.net", 2),
    ("2001:db8::9", "v6-9.example.net", 3600),
];

/// A primary zone `origin` holding the given PTR records (owner name, target name, TTL).
fn zone(origin: &str, ptrs: &[(Name, String, u32)]) -> Arc<InMemoryZoneHandler> {
    let origin = name(origin);
    let mut zone = InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(
        name("ns.example.net."),
        name("hostmaster.example.net."),
        1,
        3600,
        600,
        86_400,
        60,
    );
    assert!(zone.upsert_mut(Record::from_rdata(origin, 3600, RData::SOA(soa)), 1));
    for (owner, target, ttl) in ptrs {
        let record = Record::from_rdata(owner.clone(), *ttl, RData::PTR(PTR(name(target))));
        assert!(zone.upsert_mut(record, 1));
    }
    Arc::new(zone)
}

/// Starts a DNS server on 127.0.0.1 serving [`NAMES`], and returns its address. The server
/// lives as long as the test's runtime.
async fn dns_server() -> SocketAddr {
    let mut catalog = Catalog::new();
    let mut served = 0;
    for origin in [V4_ZONE, V6_ZONE] {
        let ptrs: Vec<_> = NAMES
            .iter()
            .map(|(ip, target, ttl)| (ptr_name(ip), format!("{target}."), *ttl))
            .filter(|(owner, _, _)| owner.to_ascii().ends_with(origin))
            .collect();
        served += ptrs.len();
        catalog.upsert(LowerName::new(&name(origin)), vec![zone(origin, &ptrs)]);
    }
    assert_eq!(served, NAMES.len(), "every name is in a served zone");

    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let mut server = DnsServer::new(catalog);
    server.register_socket(socket);
    // The server's tasks run on the runtime; keeping the Server alive keeps them serving.
    tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    addr
}

/// The name a PTR query for `ip` asks about (`9.113.0.203.in-addr.arpa.`).
fn ptr_name(ip: &str) -> Name {
    Name::from(ip.parse::<IpAddr>().unwrap())
}

/// How the server in front of the test's hickory server answers.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// Passes each query on and its answer back at once.
    AtOnce,
    /// Holds each query this long first.
    After(Duration),
    /// Reads queries and drops them.
    Never,
}

/// A DNS server on 127.0.0.1 that counts the queries it gets and answers them as told, from
/// [`dns_server`] behind it.
struct Front {
    addr: SocketAddr,
    /// The names asked about, in order.
    asked: Arc<Mutex<Vec<Name>>>,
}

impl Front {
    async fn start(answer: Answer) -> Front {
        let upstream = dns_server().await;
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, client)) = socket.recv_from(&mut buf).await {
                let query = buf[..n].to_vec();
                if let Ok(message) = Message::from_vec(&query) {
                    let names = message.queries.iter().map(|q| q.name().clone());
                    log.lock().unwrap().extend(names);
                }
                let delay = match answer {
                    Answer::AtOnce => Duration::ZERO,
                    Answer::After(delay) => delay,
                    Answer::Never => continue,
                };
                let socket = Arc::clone(&socket);
                tokio::spawn(async move {
                    sleep(delay).await;
                    if let Some(reply) = ask(upstream, &query).await {
                        let _ = socket.send_to(&reply, client).await;
                    }
                });
            }
        });
        Front { addr, asked }
    }

    /// How many queries asked about `ip`'s name.
    fn queries_for(&self, ip: &str) -> usize {
        let wanted = ptr_name(ip).to_ascii().to_ascii_lowercase();
        self.asked
            .lock()
            .unwrap()
            .iter()
            .filter(|n| n.to_ascii().to_ascii_lowercase() == wanted)
            .count()
    }

    /// Waits (bounded) until `ip`'s name has been asked about, and returns how many times.
    async fn wait_asked(&self, ip: &str, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let n = self.queries_for(ip);
            if n > 0 {
                return n;
            }
            assert!(
                Instant::now() < deadline,
                "{ip} was not asked about within {limit:?}"
            );
            sleep(Duration::from_millis(10)).await;
        }
    }
}

/// One UDP query to `server`, its answer (none after 2 s).
async fn ask(server: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    socket.send_to(query, server).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let (n, _) = timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Waits until no lookup is in flight, failing if that takes longer than the lookup timeout
/// plus a margin: a lookup must never outlive its timeout.
async fn settle(dns: &ReverseDns) {
    let limit = Instant::now() + LOOKUP_TIMEOUT + Duration::from_secs(1);
    while dns.in_flight() > 0 {
        assert!(Instant::now() < limit, "a lookup outlived its timeout");
        sleep(Duration::from_millis(10)).await;
    }
}

async fn next_name(rx: &mut mpsc::Receiver<HostName>) -> HostName {
    timeout(Duration::from_secs(2), rx.recv())
        .await
        .expect("a name within 2 s")
        .expect("channel open")
}

#[tokio::test]
async fn name_follows_and_is_then_cached() {
    let server = dns_server().await;
    let (tx, mut rx) = mpsc::channel(16);
    let dns = ReverseDns::with_server(server, tx).unwrap();

    for (ip, expected) in [
        ("203.0.113.9", "dsl-9.example.net"),
        ("2001:db8::9", "v6-9.example.net"),
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(dns.lookup(ip), None, "the first lookup never waits");
        let found = next_name(&mut rx).await;
        assert_eq!(
            found,
            HostName {
                ip,
                name: expected.to_owned()
            }
        );
        assert_eq!(
            dns.lookup(ip).as_deref(),
            Some(expected),
            "then it comes from the cache"
        );
    }
    // An IPv4 client seen through an IPv6 socket is asked under in-addr.arpa.
    let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
    assert_eq!(dns.lookup(mapped), None);
    let found = next_name(&mut rx).await;
    assert_eq!(
        (found.ip, found.name.as_str()),
        (mapped, "dsl-9.example.net")
    );

    settle(&dns).await;
    assert!(rx.try_recv().is_err(), "one name per address");
}

#[tokio::test]
async fn hits_from_one_address_cause_one_lookup() {
    let server = dns_server().await;
    let (tx, mut rx) = mpsc::channel(16);
    let dns = ReverseDns::with_server(server, tx).unwrap();
    let ip: IpAddr = "203.0.113.10".parse().unwrap();

    for _ in 0..5 {
        assert_eq!(dns.lookup(ip), None);
    }
    assert_eq!(dns.in_flight(), 1);
    assert_eq!(next_name(&mut rx).await.name, "dsl-10.example.net");
    settle(&dns).await;
    assert!(
        rx.try_recv().is_err(),
        "merged into one lookup, one message"
    );
}

#[tokio::test]
async fn address_without_name_sends_nothing() {
    let server = dns_server().await;
    let (tx, mut rx) = mpsc::channel(16);
    let dns = ReverseDns::with_server(server, tx).unwrap();

    // One address in the served zone without a PTR record, one outside every served zone
    // (the server refuses it).
    for ip in ["203.0.113.77", "198.51.100.1"] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(dns.lookup(ip), None);
        settle(&dns).await;
        assert!(rx.try_recv().is_err());
        // The absence is cached: asking again starts no lookup.
        assert_eq!(dns.lookup(ip), None);
        assert_eq!(dns.in_flight(), 0);
    }
}

#[tokio::test]
async fn silent_server_times_out() {
    // A socket that is never read: queries to it get no answer at all.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let dns = ReverseDns::with_server(silent.local_addr().unwrap(), tx).unwrap();
    let ip: IpAddr = "203.0.113.9".parse().unwrap();

    let started = Instant::now();
    assert_eq!(dns.lookup(ip), None);
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "lookup must not wait"
    );
    assert_eq!(dns.in_flight(), 1);
    settle(&dns).await;
    assert!(rx.try_recv().is_err());
    assert_eq!(dns.lookup(ip), None, "the failure is cached");
    assert_eq!(dns.in_flight(), 0);
    drop(silent);
}

#[tokio::test]
async fn full_channel_drops_names_but_keeps_them_cached() {
    let server = dns_server().await;
    let (tx, mut rx) = mpsc::channel(1);
    let dns = ReverseDns::with_server(server, tx).unwrap();
    let a: IpAddr = "203.0.113.9".parse().unwrap();
    let b: IpAddr = "203.0.113.10".parse().unwrap();

    // Nobody reads the channel while both lookups run: one name fits, the other is dropped.
    dns.lookup(a);
    dns.lookup(b);
    settle(&dns).await;
    assert!(rx.try_recv().is_ok());
    assert!(rx.try_recv().is_err());
    assert_eq!(dns.lookup(a).as_deref(), Some("dsl-9.example.net"));
    assert_eq!(dns.lookup(b).as_deref(), Some("dsl-10.example.net"));
}

#[tokio::test]
async fn a_name_is_kept_no_longer_than_its_record_ttl() {
    let front = Front::start(Answer::AtOnce).await;
    let (tx, mut rx) = mpsc::channel(16);
    let dns = ReverseDns::with_server(front.addr, tx).unwrap();
    // Its PTR record has a TTL of 2 s.
    let ip: IpAddr = "203.0.113.11".parse().unwrap();

    assert_eq!(dns.lookup(ip), None);
    assert_eq!(next_name(&mut rx).await.name, "short-11.example.net");
    let found = Instant::now();
    assert_eq!(dns.lookup(ip).as_deref(), Some("short-11.example.net"));
    assert_eq!(front.queries_for("203.0.113.11"), 1);

    sleep_until_past(found + Duration::from_secs(2)).await;
    assert_eq!(dns.lookup(ip), None, "the name outlived its record's TTL");
    assert_eq!(next_name(&mut rx).await.name, "short-11.example.net");
    assert_eq!(
        front.queries_for("203.0.113.11"),
        2,
        "asked again (neither our cache nor hickory's kept it)"
    );

    // A name with a TTL of an hour stays.
    let long: IpAddr = "203.0.113.9".parse().unwrap();
    dns.lookup(long);
    next_name(&mut rx).await;
    sleep(Duration::from_millis(2100)).await;
    assert_eq!(dns.lookup(long).as_deref(), Some("dsl-9.example.net"));
    assert_eq!(front.queries_for("203.0.113.9"), 1);
}

async fn sleep_until_past(t: Instant) {
    tokio::time::sleep_until(t + Duration::from_millis(200)).await;
}

// ---------- end to end: the binary with --dns-server ----------

/// webpeek following an empty log, naming clients through the DNS server at `dns` (unlike
/// [`Server::start`], which passes `--no-dns`).
fn webpeek_with_dns(dns: SocketAddr) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    common::append(&log, "");
    let child = Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .args(["--listen", "127.0.0.1:0", "--poll-interval", "0.2"])
        .args(["--dns-server", &dns.to_string()])
        .arg(&log)
        .env("WEBPEEK_LOG", "webpeek=debug")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Server::adopt(child, dir, log)
}

/// A viewer of `/ws` that remembers the hits and the host names it got, and when.
struct Viewer {
    ws: Ws,
    hits: Vec<(Instant, Value)>,
    /// (arrival, address, name), from `hosts` frames.
    hosts: Vec<(Instant, String, String)>,
}

impl Viewer {
    async fn open(s: &Server) -> Viewer {
        Viewer {
            ws: s.viewer().await,
            hits: Vec::new(),
            hosts: Vec::new(),
        }
    }

    /// Reads frames until `done` holds (true) or `limit` has passed (false).
    async fn read_until(&mut self, limit: Duration, done: impl Fn(&Viewer) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while !done(self) {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return false,
                Ok(Some(Ok(msg))) => msg,
                Ok(other) => panic!("the socket ended: {other:?}"),
            };
            let WsMessage::Text(text) = msg else {
                continue;
            };
            let now = Instant::now();
            let v: Value = serde_json::from_str(&text).unwrap();
            match v["type"].as_str() {
                Some("hits") => {
                    let hits = v["hits"].as_array().unwrap();
                    self.hits.extend(hits.iter().map(|h| (now, h.clone())));
                }
                Some("hosts") => {
                    for (ip, name) in v["hosts"].as_object().unwrap() {
                        let name = name.as_str().unwrap().to_owned();
                        self.hosts.push((now, ip.clone(), name));
                    }
                }
                Some("lagged") => panic!("the viewer fell behind: {v}"),
                _ => {}
            }
        }
        true
    }

    /// Reads everything that comes for `wait`.
    async fn watch(&mut self, wait: Duration) {
        self.read_until(wait, |_| false).await;
    }

    /// Appends `line` to the log and waits for its hit, which must come within `limit`.
    async fn hit_of(&mut self, s: &Server, line: String, limit: Duration) -> Value {
        let before = self.hits.len();
        let appended = Instant::now();
        s.append(line);
        let came = self.read_until(limit, |v| v.hits.len() > before).await;
        assert!(came, "a hit took longer than {limit:?} to arrive");
        assert_eq!(self.hits.len(), before + 1, "one line, one hit");
        let (at, hit) = self.hits[before].clone();
        eprintln!("hit from {} after {:?}", hit["ip"], at - appended);
        hit
    }

    /// The names given to `ip` by `hosts` frames so far.
    fn names_of(&self, ip: &str) -> Vec<&str> {
        self.hosts
            .iter()
            .filter(|(_, a, _)| a == ip)
            .map(|(_, _, n)| n.as_str())
            .collect()
    }
}

/// `/healthz` answers `ok` and the process is still running.
fn assert_healthy(s: &mut Server) {
    assert_eq!(s.get("/healthz", &[]), (200, "ok".to_owned()));
    assert!(s.child.try_wait().unwrap().is_none(), "webpeek exited");
}

/// Well under any answer of the slow server and under the lookup timeout: a hit is never held
/// for its name.
const AT_ONCE: Duration = Duration::from_secs(1);

const V4: &str = "203.0.113.9";
const V6: &str = "2001:db8::9";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_a_name_follows_its_hit_then_rides_with_the_next() {
    let front = Front::start(Answer::AtOnce).await;
    let mut s = webpeek_with_dns(front.addr);
    let mut v = Viewer::open(&s).await;

    for (ip, name) in [(V4, "dsl-9.example.net"), (V6, "v6-9.example.net")] {
        let first = v.hit_of(&s, line(ip, "/first.html"), AT_ONCE).await;
        assert_eq!(first["ip"], ip);
        assert_eq!(
            first["host"],
            Value::Null,
            "the first hit does not wait for a name"
        );
        let named = v
            .read_until(Duration::from_secs(5), |v| !v.names_of(ip).is_empty())
            .await;
        assert!(named, "no hosts frame named {ip}");
        assert_eq!(v.names_of(ip), [name]);

        let again = v.hit_of(&s, line(ip, "/again.html"), AT_ONCE).await;
        assert_eq!(again["host"], name, "the next hit carries the cached name");
        assert_eq!(front.queries_for(ip), 1, "{ip} was asked about once");
    }
    // Anything late would show now: no second query, no second name.
    v.watch(Duration::from_millis(500)).await;
    for ip in [V4, V6] {
        assert_eq!(front.queries_for(ip), 1, "{ip} was asked about again");
        assert_eq!(v.names_of(ip).len(), 1, "{ip} was named twice");
    }
    assert_eq!(v.hosts.len(), 2);
    assert_healthy(&mut s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_a_slow_server_delays_no_hit() {
    const DELAY: Duration = Duration::from_secs(4);
    let front = Front::start(Answer::After(DELAY)).await;
    let mut s = webpeek_with_dns(front.addr);
    let mut v = Viewer::open(&s).await;

    let start = Instant::now();
    for (i, ip) in [V4, V6, "203.0.113.10"].into_iter().enumerate() {
        let hit = v
            .hit_of(&s, line(ip, &format!("/slow-{i}.html")), AT_ONCE)
            .await;
        assert_eq!(hit["ip"], ip);
        assert_eq!(hit["host"], Value::Null);
        // The lookup did start, through the chosen server.
        front.wait_asked(ip, AT_ONCE).await;
    }
    // The server answers 4 s after each query, but a lookup is given up after LOOKUP_TIMEOUT
    // (2 s): the resolver's wait is dropped, the late answer finds no one to take it, and the
    // address is cached as nameless for NEGATIVE_TTL (5 min). So no name ever comes, even well
    // after the server has answered.
    assert!(DELAY > LOOKUP_TIMEOUT);
    v.watch(
        (start + DELAY + Duration::from_millis(1500)).saturating_duration_since(Instant::now()),
    )
    .await;
    assert!(
        v.hosts.is_empty(),
        "a name came after the timeout: {:?}",
        v.hosts
    );

    // The absence is cached: the next hit from the same address comes at once, nameless, and
    // asks nothing.
    let asked = front.queries_for(V4);
    let hit = v.hit_of(&s, line(V4, "/slow-again.html"), AT_ONCE).await;
    assert_eq!(hit["host"], Value::Null);
    v.watch(Duration::from_millis(300)).await;
    assert_eq!(
        front.queries_for(V4),
        asked,
        "a timed-out address was asked again at once"
    );
    assert_healthy(&mut s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2e_a_silent_server_delays_no_hit() {
    let front = Front::start(Answer::Never).await;
    let mut s = webpeek_with_dns(front.addr);
    let mut v = Viewer::open(&s).await;

    let start = Instant::now();
    for (i, ip) in [V4, V6].into_iter().enumerate() {
        let hit = v
            .hit_of(&s, line(ip, &format!("/silent-{i}.html")), AT_ONCE)
            .await;
        assert_eq!(hit["host"], Value::Null);
        front.wait_asked(ip, AT_ONCE).await;
    }
    // Past every lookup's timeout, with a margin: the lookups ended without a name.
    let past = start + LOOKUP_TIMEOUT + Duration::from_secs(1);
    v.watch(past.saturating_duration_since(Instant::now()))
        .await;
    assert!(v.hosts.is_empty(), "{:?}", v.hosts);
    assert_healthy(&mut s);

    // Still serving hits at once, from known and new addresses.
    for ip in [V4, "203.0.113.10"] {
        let hit = v.hit_of(&s, line(ip, "/silent-later.html"), AT_ONCE).await;
        assert_eq!(hit["host"], Value::Null);
    }
    assert_healthy(&mut s);
}

#[test]
fn e2e_a_bad_dns_server_is_one_clear_line_and_exit_2() {
    for bad in [
        "nonsense",
        "127.0.0.1",
        "127.0.0.1:99999",
        "ns.example.net:53",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_webpeek"))
            .args(["--listen", "127.0.0.1:0", "--dns-server", bad, "-"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        let naming: Vec<&str> = err.lines().filter(|l| l.contains("--dns-server")).collect();
        assert_eq!(naming.len(), 1, "{bad}: {err}");
        assert!(naming[0].contains(bad), "{bad}: {err}");
        // That line alone, in webpeek's form (clap's refusals are rewritten into it).
        assert_eq!(err.trim().lines().count(), 1, "{bad}: {err}");
        assert!(err.starts_with("webpeek: error: "), "{bad}: {err}");
    }
}
