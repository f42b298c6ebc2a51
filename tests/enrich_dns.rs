//! Reverse DNS against a real DNS server: hickory-server runs in the test, on 127.0.0.1,
//! serving PTR records; nothing is sent anywhere else.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::proto::rr::rdata::{PTR, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};
use webpeek::enrich::{HostName, LOOKUP_TIMEOUT, ReverseDns};

const V4_ZONE: &str = "113.0.203.in-addr.arpa.";
const V6_ZONE: &str = "8.b.d.0.1.0.0.2.ip6.arpa.";

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// A primary zone `origin` holding the given PTR records (owner name → target name).
fn zone(origin: &str, ptrs: &[(Name, &str)]) -> Arc<InMemoryZoneHandler> {
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
    for (owner, target) in ptrs {
        let record = Record::from_rdata(owner.clone(), 3600, RData::PTR(PTR(name(target))));
        assert!(zone.upsert_mut(record, 1));
    }
    Arc::new(zone)
}

/// Starts a DNS server on 127.0.0.1 serving 203.0.113.9 and 2001:db8::9 (and 203.0.113.10),
/// and returns its address. The server lives as long as the test's runtime.
async fn dns_server() -> SocketAddr {
    let v6: IpAddr = "2001:db8::9".parse().unwrap();
    let v6_owner = Name::from(v6);
    assert!(v6_owner.to_ascii().ends_with(V6_ZONE), "{v6_owner}");

    let mut catalog = Catalog::new();
    catalog.upsert(
        LowerName::new(&name(V4_ZONE)),
        vec![zone(
            V4_ZONE,
            &[
                (name("9.113.0.203.in-addr.arpa."), "dsl-9.example.net."),
                (name("10.113.0.203.in-addr.arpa."), "dsl-10.example.net."),
            ],
        )],
    );
    catalog.upsert(
        LowerName::new(&name(V6_ZONE)),
        vec![zone(V6_ZONE, &[(v6_owner, "v6-9.example.net.")])],
    );

    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let mut server = Server::new(catalog);
    server.register_socket(socket);
    // The server's tasks run on the runtime; keeping the Server alive keeps them serving.
    tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    addr
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
