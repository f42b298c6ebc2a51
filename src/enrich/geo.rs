//! geo: the client's country and network (autonomous system) from MaxMind DB files
//! (`--geoip`, `--asn`): MaxMind GeoLite2 / GeoIP2 and DB-IP Lite databases, read once into
//! memory at start. Nothing is fetched from the network.
//!
//! Each address is looked up once: the answer is kept in a bounded cache, so a returning
//! client costs one hash lookup.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use maxminddb::Reader;
use moka::sync::Cache;
use serde::Deserialize;

use super::EnrichError;
use crate::hit::Asn;

/// Addresses whose country and network are remembered.
pub const GEO_CACHE_ADDRESSES: u64 = 65_536;

/// What a lookup found: ISO 3166 country code and autonomous system, each when known.
type Found = (Option<Arc<str>>, Option<Asn>);

/// Why a database given on the command line cannot be used (part of
/// [`EnrichError::Database`], which names the option and the file).
#[derive(Debug, thiserror::Error)]
pub enum DatabaseProblem {
    /// The file does not exist.
    #[error("no such file")]
    Missing,
    /// The file exists but cannot be read (permissions, a directory, ...).
    #[error("cannot read it: {0}")]
    Unreadable(#[source] std::io::Error),
    /// A gzip file or tar archive, as MaxMind and DB-IP ship their databases.
    #[error(
        "this is a compressed file: unpack it first (gunzip, or tar xzf for MaxMind's .tar.gz) and give the .mmdb inside"
    )]
    Compressed,
    /// The bytes are not a MaxMind DB.
    #[error("not a MaxMind DB (.mmdb) file: {0}")]
    NotMmdb(String),
    /// A MaxMind DB of another kind (an ASN database given as `--geoip`, ...).
    #[error("this is a {found} database, not {wanted}")]
    WrongType {
        /// The file's `database_type` (`GeoLite2-Country`).
        found: String,
        /// What the option needs.
        wanted: &'static str,
    },
}

/// Which kind of database an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Country,
    Asn,
}

impl Kind {
    fn option(self) -> &'static str {
        match self {
            Kind::Country => "--geoip",
            Kind::Asn => "--asn",
        }
    }

    fn wanted(self) -> &'static str {
        match self {
            Kind::Country => "a Country or City database",
            Kind::Asn => "an ASN database",
        }
    }

    /// GeoLite2-Country, GeoIP2-City, DBIP-Country-Lite, DBIP-City-Lite, GeoIP2-Enterprise
    /// (country data too) for countries; GeoLite2-ASN, DBIP-ASN-Lite, GeoIP2-ISP (the same
    /// two ASN fields) for networks.
    fn accepts(self, database_type: &str) -> bool {
        let t = database_type.to_ascii_lowercase();
        match self {
            Kind::Country => {
                t.contains("country") || t.contains("city") || t.contains("enterprise")
            }
            Kind::Asn => t.contains("asn") || t.contains("isp"),
        }
    }
}

/// One opened database.
struct Database {
    reader: Reader<Vec<u8>>,
    path: PathBuf,
}

impl Database {
    fn open(kind: Kind, path: &Path) -> Result<Database, EnrichError> {
        let fail = |problem| EnrichError::Database {
            option: kind.option(),
            path: path.to_owned(),
            problem,
        };
        let bytes = std::fs::read(path).map_err(|e| {
            fail(match e.kind() {
                std::io::ErrorKind::NotFound => DatabaseProblem::Missing,
                _ => DatabaseProblem::Unreadable(e),
            })
        })?;
        if bytes.starts_with(&[0x1f, 0x8b]) || bytes.get(257..262) == Some(b"ustar") {
            return Err(fail(DatabaseProblem::Compressed));
        }
        let reader = Reader::from_source(bytes)
            .map_err(|e| fail(DatabaseProblem::NotMmdb(one_line(&e.to_string()))))?;
        let found = &reader.metadata().database_type;
        if !kind.accepts(found) {
            let found = match one_line(found) {
                t if t.is_empty() => "untyped".to_owned(),
                t => t,
            };
            return Err(fail(DatabaseProblem::WrongType {
                found,
                wanted: kind.wanted(),
            }));
        }
        Ok(Database {
            reader,
            path: path.to_owned(),
        })
    }

    /// `GeoLite2-Country (built 2026-11-20)`.
    fn describe(&self) -> String {
        let meta = self.reader.metadata();
        let (y, m, d) = crate::hit::civil_from_days((meta.build_epoch / 86_400) as i64);
        format!(
            "{} (built {y:04}-{m:02}-{d:02})",
            one_line(&meta.database_type)
        )
    }
}

/// A file's text made safe for one line of an error message: control characters replaced,
/// at most 80 characters.
fn one_line(text: &str) -> String {
    text.chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The part of a Country or City record used here.
#[derive(Deserialize)]
struct CountryRecord<'a> {
    #[serde(borrow)]
    country: Option<Place<'a>>,
    #[serde(borrow)]
    registered_country: Option<Place<'a>>,
}

#[derive(Deserialize)]
struct Place<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

/// An ASN record.
#[derive(Deserialize)]
struct AsnRecord<'a> {
    autonomous_system_number: Option<u32>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
}

/// Country and network databases, with a cache of the addresses looked up.
///
/// Cloning is cheap: clones share the databases and the cache.
#[derive(Clone)]
pub struct Geo {
    shared: Arc<Shared>,
}

struct Shared {
    country: Option<Database>,
    asn: Option<Database>,
    cache: Cache<IpAddr, Found>,
}

impl fmt::Debug for Geo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = |db: &Option<Database>| db.as_ref().map(|db| db.path.clone());
        f.debug_struct("Geo")
            .field("country", &path(&self.shared.country))
            .field("asn", &path(&self.shared.asn))
            .field("cached", &self.shared.cache.entry_count())
            .finish()
    }
}

impl Geo {
    /// Opens the country database (`--geoip`, a Country or City database) and the network
    /// database (`--asn`, an ASN database), either of which may be absent, and checks that
    /// each is the kind its option takes.
    ///
    /// # Errors
    ///
    /// [`EnrichError::Database`] naming the option and the file when a file is missing,
    /// unreadable, not a MaxMind DB, or a database of the wrong kind.
    pub fn open(country: Option<&Path>, asn: Option<&Path>) -> Result<Geo, EnrichError> {
        let country = country
            .map(|p| Database::open(Kind::Country, p))
            .transpose()?;
        let asn = asn.map(|p| Database::open(Kind::Asn, p)).transpose()?;
        let mut said = Vec::new();
        if let Some(db) = &country {
            said.push(format!("countries from {}", db.describe()));
        }
        if let Some(db) = &asn {
            said.push(format!("networks from {}", db.describe()));
        }
        if !said.is_empty() {
            tracing::info!("GeoIP: {}", said.join(", "));
        }
        Ok(Geo {
            shared: Arc::new(Shared {
                country,
                asn,
                cache: Cache::new(GEO_CACHE_ADDRESSES),
            }),
        })
    }

    /// The ISO 3166 country code (`country.iso_code`, else `registered_country.iso_code`) and
    /// the autonomous system of `ip`, each `None` without its database or when the address is
    /// in none of its blocks. Looked up once per address, then answered from the cache.
    pub fn lookup(&self, ip: IpAddr) -> (Option<Arc<str>>, Option<Asn>) {
        // `::ffff:203.0.113.9` (a dual-stack socket's view of an IPv4 client) is 203.0.113.9.
        let ip = ip.to_canonical();
        self.shared.cache.get_with(ip, || self.find(ip))
    }

    /// Looks `ip` up without the cache: for a pass over many distinct addresses once (the
    /// report's), where caching would only evict the live addresses.
    pub fn lookup_uncached(&self, ip: IpAddr) -> (Option<Arc<str>>, Option<Asn>) {
        self.find(ip.to_canonical())
    }

    /// Asks the databases (no cache).
    fn find(&self, ip: IpAddr) -> Found {
        let country = self.shared.country.as_ref().and_then(|db| {
            let record = db
                .reader
                .lookup(ip)
                .ok()?
                .decode::<CountryRecord>()
                .ok()??;
            let code = [record.country, record.registered_country]
                .into_iter()
                .flatten()
                .find_map(|place| place.iso_code.filter(|c| !c.is_empty()))?;
            Some(Arc::from(code))
        });
        let asn = self.shared.asn.as_ref().and_then(|db| {
            let record = db.reader.lookup(ip).ok()?.decode::<AsnRecord>().ok()??;
            Some(Asn {
                number: record.autonomous_system_number?,
                org: Arc::from(record.autonomous_system_organization.unwrap_or("")),
            })
        });
        (country, asn)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use mmdb_writer::ipnet::IpNet;
    use mmdb_writer::{Value, Writer};

    use super::*;

    fn write(dir: &Path, name: &str, db: &Writer) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, db.to_bytes().unwrap()).unwrap();
        path
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn kinds_by_database_type() {
        for t in [
            "GeoLite2-Country",
            "GeoLite2-City",
            "GeoIP2-Country",
            "GeoIP2-City",
            "DBIP-Country-Lite",
            "DBIP-City-Lite",
            "GeoIP2-Enterprise",
        ] {
            assert!(Kind::Country.accepts(t), "{t}");
            assert!(!Kind::Asn.accepts(t), "{t}");
        }
        for t in [
            "GeoLite2-ASN",
            "DBIP-ASN-Lite (compat=GeoLite2-ASN)",
            "GeoIP2-ISP",
        ] {
            assert!(Kind::Asn.accepts(t), "{t}");
        }
        assert!(!Kind::Country.accepts("GeoLite2-ASN"));
        assert!(!Kind::Country.accepts(""));
    }

    #[test]
    fn registered_country_when_no_country_and_empty_org() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Writer::new("GeoIP2-City");
        db.insert_value(
            net("198.51.100.0/24"),
            Value::map([(
                "registered_country",
                Value::map([("iso_code", Value::from("FR"))]),
            )]),
        )
        .unwrap();
        // A record without any code: no country, not an empty string.
        db.insert_value(
            net("192.0.2.0/24"),
            Value::map([("continent", Value::map([("code", Value::from("EU"))]))]),
        )
        .unwrap();
        let country = write(dir.path(), "city.mmdb", &db);
        let mut db = Writer::new("GeoLite2-ASN");
        db.insert_value(
            net("198.51.100.0/24"),
            Value::map([("autonomous_system_number", Value::from(64_501_u32))]),
        )
        .unwrap();
        let asn = write(dir.path(), "asn.mmdb", &db);
        let geo = Geo::open(Some(&country), Some(&asn)).unwrap();
        let (c, a) = geo.lookup("198.51.100.7".parse().unwrap());
        assert_eq!(c.as_deref(), Some("FR"));
        assert_eq!(
            a,
            Some(Asn {
                number: 64_501,
                org: "".into()
            })
        );
        assert_eq!(geo.lookup("192.0.2.1".parse().unwrap()), (None, None));
        // An IPv4-mapped IPv6 address is the IPv4 address.
        let (c, _) = geo.lookup("::ffff:198.51.100.7".parse().unwrap());
        assert_eq!(c.as_deref(), Some("FR"));
    }

    #[test]
    fn bad_files_are_one_line_naming_option_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.mmdb");
        let e = Geo::open(Some(&missing), None).unwrap_err().to_string();
        assert_eq!(e, format!("--geoip {}: no such file", missing.display()));

        let gz = dir.path().join("GeoLite2-Country.mmdb.gz");
        std::fs::File::create(&gz)
            .unwrap()
            .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0])
            .unwrap();
        let e = Geo::open(None, Some(&gz)).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "--asn {}: this is a compressed file",
                gz.display()
            )),
            "{e}"
        );

        let e = Geo::open(Some(dir.path()), None).unwrap_err().to_string();
        assert!(e.contains("cannot read it"), "{e}");

        let mut db = Writer::new("GeoLite2-Country");
        db.insert_value(net("192.0.2.0/24"), Value::map([("x", Value::from(1_u32))]))
            .unwrap();
        let country = write(dir.path(), "GeoLite2-Country.mmdb", &db);
        let e = Geo::open(None, Some(&country)).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "--asn {}: this is a GeoLite2-Country database, not an ASN database",
                country.display()
            )
        );
        assert!(!e.contains('\n'));
    }
}
