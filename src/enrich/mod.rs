//! enrich: adds what the log line does not say — browser, operating system and bot flag from
//! the user agent, and the client's host name from reverse DNS when it is already known (an
//! unknown name is looked up in the background and follows the hit as a [`HostName`]).

mod agent;
mod dns;

pub use agent::{Agent, AgentClassifier};
pub use dns::{
    HostName, LOOKUP_TIMEOUT, MAX_CONCURRENT, MAX_IN_FLIGHT, NEGATIVE_TTL, POSITIVE_TTL, ReverseDns,
};

use crate::hit::Hit;

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
}

/// Adds browser, OS, bot flag and (when known) host name to hits.
#[derive(Debug, Clone)]
pub struct Enricher {
    agents: AgentClassifier,
    dns: Option<ReverseDns>,
}

impl Enricher {
    /// An enricher classifying agents with `agents`, and naming clients with `dns` unless it
    /// is `None` (`--no-dns`).
    pub fn new(agents: AgentClassifier, dns: Option<ReverseDns>) -> Self {
        Enricher { agents, dns }
    }

    /// Fills `browser`, `os` and `bot` from `hit.agent` (left as they are when the line had no
    /// agent), and `host` when the client's name is already known. Never waits: an unknown
    /// name is looked up in the background and sent on the [`ReverseDns`] channel.
    pub fn enrich(&self, hit: &mut Hit) {
        if let Some(agent) = hit.agent.as_deref() {
            let found = self.agents.classify(agent);
            hit.browser.clone_from(&found.browser);
            hit.os.clone_from(&found.os);
            hit.bot = found.bot;
            hit.device = found.device;
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
        let enricher = Enricher::new(AgentClassifier::new().unwrap(), None);
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
        let enricher = Enricher::new(AgentClassifier::new().unwrap(), None);
        let mut h = hit("203.0.113.9", None);
        let before = h.clone();
        enricher.enrich(&mut h);
        assert_eq!(h, before);
    }

    #[tokio::test]
    async fn unknown_host_leaves_host_empty_and_does_not_wait() {
        let (tx, _rx) = tokio::sync::mpsc::channel(4);
        // A loopback port nobody answers on: the lookup runs in the background and fails.
        let dns = ReverseDns::with_server("127.0.0.1:9".parse().unwrap(), tx).unwrap();
        let enricher = Enricher::new(AgentClassifier::new().unwrap(), Some(dns));
        let mut h = hit("203.0.113.9", None);
        let started = std::time::Instant::now();
        enricher.enrich(&mut h);
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        assert_eq!(h.host, None);
    }
}
