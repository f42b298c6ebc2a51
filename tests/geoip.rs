//! GeoIP: country and network databases (`--geoip`, `--asn`) written by the tests themselves
//! with the `mmdb-writer` crate (nothing is downloaded), read through the library and through a
//! real webpeek process.

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, append, collect_hits, line};
use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{Value, Writer};
use serde_json::{Value as Json, json};
use webpeek::enrich::{EnrichError, Geo};
use webpeek::hit::Asn;

/// Blocks in both databases: an IPv4 /24 and an IPv6 /48.
const BLOCKS: [&str; 2] = ["203.0.113.0/24", "2001:db8:1::/48"];
/// A block only in the ASN database.
const ASN_ONLY: &str = "198.51.100.0/24";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A MaxMind-style database of `database_type` (IPv6 tree, IPv4 under `::/96`) holding
/// `record` for each block, written to `dir/name`.
fn write_db(dir: &Path, name: &str, database_type: &str, blocks: &[(&str, Value)]) -> PathBuf {
    let mut db = Writer::new(database_type);
    for (block, record) in blocks {
        db.insert_value(block.parse::<IpNet>().unwrap(), record.clone())
            .unwrap();
    }
    let path = dir.join(name);
    std::fs::write(&path, db.to_bytes().unwrap()).unwrap();
    path
}

fn germany() -> Value {
    Value::map([(
        "country",
        Value::map([
            ("iso_code", Value::from("DE")),
            ("names", Value::map([("en", Value::from("Germany"))])),
        ]),
    )])
}

fn example_net() -> Value {
    Value::map([
        ("autonomous_system_number", Value::from(64_500_u32)),
        ("autonomous_system_organization", Value::from("Example Net")),
    ])
}

/// `GeoLite2-Country.mmdb` and `GeoLite2-ASN.mmdb` in `dir`.
fn databases(dir: &Path) -> (PathBuf, PathBuf) {
    let country = write_db(
        dir,
        "GeoLite2-Country.mmdb",
        "GeoLite2-Country",
        &BLOCKS.map(|b| (b, germany())),
    );
    let mut asn_blocks = BLOCKS.map(|b| (b, example_net())).to_vec();
    asn_blocks.push((
        ASN_ONLY,
        Value::map([
            ("autonomous_system_number", Value::from(64_501_u32)),
            ("autonomous_system_organization", Value::from("Other Net")),
        ]),
    ));
    let asn = write_db(dir, "GeoLite2-ASN.mmdb", "GeoLite2-ASN", &asn_blocks);
    (country, asn)
}

fn example_asn() -> Option<Asn> {
    Some(Asn {
        number: 64_500,
        org: "Example Net".into(),
    })
}

// ---------- the library ----------

#[test]
fn written_databases_are_what_maxmind_ships() {
    let dir = tempfile::tempdir().unwrap();
    let (country, asn) = databases(dir.path());
    for (path, kind) in [(&country, "GeoLite2-Country"), (&asn, "GeoLite2-ASN")] {
        let reader = maxminddb::Reader::open_readfile(path).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.database_type, kind);
        assert_eq!(meta.ip_version, 6);
        assert!([24, 28, 32].contains(&meta.record_size), "{meta:?}");
        // IPv4 lives in the IPv6 tree under ::/96.
        let v4 = reader.lookup(ip("203.0.113.9")).unwrap();
        let v4_in_v6 = reader.lookup(ip("::203.0.113.9")).unwrap();
        assert!(v4.has_data() && v4_in_v6.has_data());
        assert_eq!(v4.offset(), v4_in_v6.offset());
    }
    let reader = maxminddb::Reader::open_readfile(&country).unwrap();
    let name: Option<String> = reader
        .lookup(ip("2001:db8:1::1"))
        .unwrap()
        .decode_path(&maxminddb::path!["country", "names", "en"])
        .unwrap();
    assert_eq!(name.as_deref(), Some("Germany"));
}

#[test]
fn lookups_inside_and_outside_the_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (country, asn) = databases(dir.path());
    let geo = Geo::open(Some(&country), Some(&asn)).unwrap();
    let de = Some(Arc::<str>::from("DE"));

    for inside in [
        "203.0.113.9",
        "203.0.113.255",
        "::ffff:203.0.113.9",
        "2001:db8:1::9",
        "2001:db8:1:ffff::1",
    ] {
        assert_eq!(
            geo.lookup(ip(inside)),
            (de.clone(), example_asn()),
            "{inside}"
        );
    }
    for outside in [
        "203.0.114.1",
        "192.0.2.1",
        "2001:db8:2::9",
        "2001:db8::1",
        "::1",
        "127.0.0.1",
    ] {
        assert_eq!(geo.lookup(ip(outside)), (None, None), "{outside}");
    }
    // In the ASN database only.
    let (c, a) = geo.lookup(ip("198.51.100.20"));
    assert_eq!(c, None);
    assert_eq!(
        a.map(|a| (a.number, a.org)),
        Some((64_501, "Other Net".into()))
    );

    // Either database alone.
    let only_country = Geo::open(Some(&country), None).unwrap();
    assert_eq!(only_country.lookup(ip("203.0.113.9")), (de.clone(), None));
    let only_asn = Geo::open(None, Some(&asn)).unwrap();
    assert_eq!(only_asn.lookup(ip("2001:db8:1::9")), (None, example_asn()));
}

#[test]
fn a_repeated_address_is_answered_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (country, asn) = databases(dir.path());
    let geo = Geo::open(Some(&country), Some(&asn)).unwrap();
    for addr in ["203.0.113.9", "2001:db8:1::9"] {
        let (c1, a1) = geo.lookup(ip(addr));
        let (c2, a2) = geo.lookup(ip(addr));
        // Equal, and the very same strings: the second answer was not decoded again.
        assert_eq!((&c1, &a1), (&c2, &a2));
        assert!(Arc::ptr_eq(c1.as_ref().unwrap(), c2.as_ref().unwrap()));
        assert!(Arc::ptr_eq(&a1.unwrap().org, &a2.unwrap().org));
    }
    // The IPv4-mapped form of an address shares its entry.
    let (c1, _) = geo.lookup(ip("203.0.113.9"));
    let (c2, _) = geo.lookup(ip("::ffff:203.0.113.9"));
    assert!(Arc::ptr_eq(&c1.unwrap(), &c2.unwrap()));
    // Clones share the cache, and threads can share a Geo.
    let clone = geo.clone();
    let (c1, _) = geo.lookup(ip("2001:db8:1::9"));
    let from_thread = std::thread::spawn(move || clone.lookup(ip("2001:db8:1::9")).0)
        .join()
        .unwrap();
    assert!(Arc::ptr_eq(&c1.unwrap(), &from_thread.unwrap()));
    fn send_sync<T: Send + Sync + Clone + 'static>() {}
    send_sync::<Geo>();
}

#[test]
fn wrong_files_are_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (country, asn) = databases(dir.path());
    let e = Geo::open(Some(&asn), None).unwrap_err();
    assert!(
        matches!(
            e,
            EnrichError::Database {
                option: "--geoip",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "--geoip {}: this is a GeoLite2-ASN database, not a Country or City database",
            asn.display()
        )
    );
    let e = Geo::open(Some(&country), Some(&country)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "--asn {}: this is a GeoLite2-Country database, not an ASN database",
            country.display()
        )
    );
    // A City database is a country database.
    let city = write_db(
        dir.path(),
        "dbip-city-lite.mmdb",
        "DBIP-City-Lite",
        &[("203.0.113.0/24", germany())],
    );
    let geo = Geo::open(Some(&city), None).unwrap();
    assert_eq!(geo.lookup(ip("203.0.113.1")).0.as_deref(), Some("DE"));
}

// ---------- a real webpeek ----------

#[tokio::test]
async fn hits_carry_country_and_network() {
    let dir = tempfile::tempdir().unwrap();
    let (country, asn) = databases(dir.path());
    let log = dir.path().join("access.log");
    append(&log, "");
    let s = Server::start_on(
        dir,
        log,
        &[
            "--geoip",
            country.to_str().unwrap(),
            "--asn",
            asn.to_str().unwrap(),
        ],
    );
    s.wait_output(
        "GeoIP: countries from GeoLite2-Country",
        Duration::from_secs(5),
    );
    let mut ws = s.viewer().await;
    s.append(
        [
            line("203.0.113.9", "/v4"),
            line("2001:db8:1::9", "/v6"),
            line("192.0.2.1", "/nowhere"),
            line("198.51.100.20", "/asn-only"),
        ]
        .concat(),
    );
    let (hits, _) = collect_hits(&mut ws, 4, Duration::from_secs(10)).await;
    let by_path = |p: &str| -> &Json {
        hits.iter()
            .find(|h| h["path"] == p)
            .unwrap_or_else(|| panic!("no hit for {p}: {hits:?}"))
    };
    let example = json!({"number": 64500, "org": "Example Net"});
    for p in ["/v4", "/v6"] {
        let h = by_path(p);
        assert_eq!(h["country"], "DE", "{h}");
        assert_eq!(h["asn"], example, "{h}");
    }
    let h = by_path("/nowhere");
    assert_eq!(
        (&h["country"], &h["asn"]),
        (&Json::Null, &Json::Null),
        "{h}"
    );
    let h = by_path("/asn-only");
    assert_eq!(h["country"], Json::Null, "{h}");
    assert_eq!(
        h["asn"],
        json!({"number": 64501, "org": "Other Net"}),
        "{h}"
    );
}

#[tokio::test]
async fn without_databases_both_fields_are_null() {
    let s = Server::start(&[]);
    let mut ws = s.viewer().await;
    s.append(line("203.0.113.9", "/"));
    let (hits, _) = collect_hits(&mut ws, 1, Duration::from_secs(10)).await;
    let h = &hits[0];
    assert!(h.get("country").is_some_and(Json::is_null), "{h}");
    assert!(h.get("asn").is_some_and(Json::is_null), "{h}");
}

/// Runs webpeek expecting it to refuse to start within 20 s: (exit code, stderr).
fn refused_start(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let log = dir.join("access.log");
    append(&log, "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .args(["--listen", "127.0.0.1:0", "--no-dns"])
        .arg(&log)
        .args(args)
        .env_remove("WEBPEEK_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("webpeek {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code(), err.trim_end().to_owned())
}

#[test]
fn bad_databases_are_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (country, asn) = databases(dir.path());
    let missing = dir.path().join("GeoLite2-City.mmdb");
    // Not a database: pseudo-random bytes (fixed seed, so never by chance a gzip header).
    let random = dir.path().join("random.mmdb");
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let bytes: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    assert_ne!(bytes[..2], [0x1f, 0x8b]);
    std::fs::write(&random, bytes).unwrap();

    let path = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let cases: [(Vec<String>, String); 5] = [
        (
            vec!["--geoip".into(), path(&missing)],
            format!("--geoip {}: no such file", missing.display()),
        ),
        (
            vec!["--asn".into(), path(&random)],
            format!("--asn {}: not a MaxMind DB (.mmdb) file", random.display()),
        ),
        (
            vec!["--geoip".into(), path(&random)],
            format!(
                "--geoip {}: not a MaxMind DB (.mmdb) file",
                random.display()
            ),
        ),
        (
            vec!["--asn".into(), path(&country)],
            format!(
                "--asn {}: this is a GeoLite2-Country database, not an ASN database",
                country.display()
            ),
        ),
        (
            // Both swapped: the first option is the one named.
            vec!["--geoip".into(), path(&asn), "--asn".into(), path(&country)],
            format!(
                "--geoip {}: this is a GeoLite2-ASN database, not a Country or City database",
                asn.display()
            ),
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, err) = refused_start(dir.path(), &args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("webpeek: error: {expected}")),
            "{args:?}: {err}"
        );
    }
}
