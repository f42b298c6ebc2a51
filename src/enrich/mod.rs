//! enrich: adds what the log line does not say — browser, operating system and bot flag from
//! the user agent, country and network from MaxMind DB files (`--geoip`, `--asn`), and the
//! client's host name from reverse DNS when it is already known (an unknown name is looked up
//! in the background and follows the hit as a [`HostName`]).

mod agent;
mod dns;
mod geo;

pub use agent::{Agent, AgentClassifier};
pub use dns::{
    HostName, LOOKUP_TIMEOUT, MAX_CONCURRENT, MAX_IN_FLIGHT, NEGATIVE_TTL, POSITIVE_TTL, ReverseDns,
};
pub use geo::{DatabaseProblem, GEO_CACHE_ADDRESSES, Geo};

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::hit::{Asn, Hit};

/// What can go wrong when setting up enrichment (classifying and looking up never fail).
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The built-in user-agent rules could not be read (a build defect, not a user error).
    #[error("the built-in user-agent rules are unreadable: {0}")]
    AgentData(#[from] serde_json::Error),
    /// The built-in user-agent rules did not compile (a build defect, not a user error).
    #[error("the built-in user-agent rules do not compile: {0}")]
    AgentRules(#[from] ua_parser::Error),
    /// The system's resolver configuration (`/etc/resolv.conf`) could not be read.
    #[error("cannot read the system DNS configuration: {0}")]
    SystemDns(#[source] hickory_resolver::net::NetError),
    /// The DNS resolver could not be set up.
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(#[source] hickory_resolver::net::NetError),
    /// Reverse DNS was set up outside a Tokio runtime, which its lookups run on.
    #[error("reverse DNS must be set up inside a Tokio runtime")]
    NoRuntime,
    /// A `--geoip` or `--asn` database cannot be used: one line naming the option and the file.
    #[error("{option} {}: {problem}", path.display())]
    Database {
        /// `--geoip` or `--asn`.
        option: &'static str,
        /// The file given.
        path: PathBuf,
        /// What is wrong with it.
        problem: DatabaseProblem,
    },
}

/// Adds browser, OS, bot flag, country and network (with databases) and (when known) host
/// name to hits.
#[derive(Debug, Clone)]
pub struct Enricher {
    agents: AgentClassifier,
    dns: Option<ReverseDns>,
    geo: Option<Geo>,
}

impl Enricher {
    /// An enricher classifying agents with `agents`, naming clients with `dns` unless it is
    /// `None` (`--no-dns`), and placing them with `geo` when given (`--geoip`, `--asn`).
    pub fn new(agents: AgentClassifier, dns: Option<ReverseDns>, geo: Option<Geo>) -> Self {
        Enricher { agents, dns, geo }
    }

    /// Country code and network of `ip` (both `None` without databases). Cached per address:
    /// cheap enough to call for every request, shown or not.
    pub fn geo(&self, ip: IpAddr) -> (Option<Arc<str>>, Option<Asn>) {
        match &self.geo {
            Some(geo) => geo.lookup(ip),
            None => (None, None),
        }
    }

    /// Fills `browser`, `os` and `bot` from `hit.agent` (left as they are when the line had no
    /// agent), `country` and `asn` from the databases (unless the hit has them already), and
    /// `host` when the client's name is already known. Never waits: an unknown name is looked
    /// up in the background and sent on the [`ReverseDns`] channel.
    pub fn enrich(&self, hit: &mut Hit) {
        if let Some(agent) = hit.agent.as_deref() {
            let found = self.agents.classify(agent);
            hit.browser.clone_from(&found.browser);
            hit.os.clone_from(&found.os);
            hit.bot = found.bot;
            hit.device = found.device;
        }
        if (hit.country.is_none() || hit.asn.is_none())
            && let (Some(geo), Some(ip)) = (&self.geo, hit.ip)
        {
            let (country, asn) = geo.lookup(ip);
            if hit.country.is_none() {
                hit.country = country;
            }
            if hit.asn.is_none() {
                hit.asn = asn;
            }
        }
        if hit.host.is_none()
            && let (Some(dns), Some(ip)) = (&self.dns, hit.ip)
        {
            hit.host = dns.lookup(ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use super::*;

    fn hit(ip: &str, agent: Option<&str>) -> Hit {
        Hit {
            seq: 0,
            time: 0,
            ip: Some(ip.parse::<IpAddr>().unwrap()),
            host: None,
            method: "GET".into(),
            path: "/".into(),
            query: None,
            protocol: Some("HTTP/1.1".into()),
            status: 200,
            bytes: 0,
            referer: None,
            agent: agent.map(str::to_owned),
            browser: None,
            os: None,
            bot: false,
            country: None,
            asn: None,
            device: None,
            server: "".into(),
            vhost: None,
            source: Arc::from("test"),
            url: None,
        }
    }

    #[test]
    fn fills_agent_fields_without_dns() {
        let enricher = Enricher::new(AgentClassifier::new().unwrap(), None, None);
        let mut h = hit(
            "203.0.113.9",
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
        );
        enricher.enrich(&mut h);
        assert_eq!(h.browser.as_deref(), Some("Firefox"));
        assert_eq!(h.os.as_deref(), Some("Linux"));
        assert!(!h.bot);
        assert_eq!(h.host, None);

        let mut bot = hit("203.0.113.10", Some("curl/8.11.1"));
        enricher.enrich(&mut bot);
        assert!(bot.bot);
    }

    #[test]
    fn hit_without_agent_is_left_alone() {
        let enricher = Enricher::new(AgentClassifier::new().unwrap(), None, None);
        let mut h = hit("203.0.113.9", None);
        let before = h.clone();
        enricher.enrich(&mut h);
        assert_eq!(h, before);
    }

    #[test]
    fn fills_country_and_network_from_the_databases() {
        use mmdb_writer::{Value, Writer};
        let dir = tempfile::tempdir().unwrap();
        let mut db = Writer::new("GeoLite2-Country");
        db.insert_value(
            "203.0.113.0/24"
                .parse::<mmdb_writer::ipnet::IpNet>()
                .unwrap(),
            Value::map([("country", Value::map([("iso_code", Value::from("DE"))]))]),
        )
        .unwrap();
        let country = dir.path().join("country.mmdb");
        std::fs::write(&country, db.to_bytes().unwrap()).unwrap();
        let geo = Geo::open(Some(&country), None).unwrap();
        let enricher = Enricher::new(AgentClassifier::new().unwrap(), None, Some(geo));

        let mut h = hit("203.0.113.9", None);
        enricher.enrich(&mut h);
        assert_eq!(h.country.as_deref(), Some("DE"));
        assert_eq!(h.asn, None);
        let ip = "203.0.113.10".parse().unwrap();
        assert_eq!(enricher.geo(ip).0.as_deref(), Some("DE"));
        let mut elsewhere = hit("198.51.100.1", None);
        enricher.enrich(&mut elsewhere);
        assert_eq!((elsewhere.country, elsewhere.asn), (None, None));

        // Without databases: nothing, and hits are left as they are.
        let plain = Enricher::new(AgentClassifier::new().unwrap(), None, None);
        assert_eq!(plain.geo(ip), (None, None));
    }

    #[tokio::test]
    async fn unknown_host_leaves_host_empty_and_does_not_wait() {
        let (tx, _rx) = tokio::sync::mpsc::channel(4);
        // A loopback port nobody answers on: the lookup runs in the background and fails.
        let dns = ReverseDns::with_server("127.0.0.1:9".parse().unwrap(), tx).unwrap();
        let enricher = Enricher::new(AgentClassifier::new().unwrap(), Some(dns), None);
        let mut h = hit("203.0.113.9", None);
        let started = std::time::Instant::now();
        enricher.enrich(&mut h);
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        assert_eq!(h.host, None);
    }
}
