//! filter: decides which hits a viewer sees (page views by default, never the viewer's own clicks).

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use crate::hit::Hit;

/// An address block given to `--exclude-ip`: a single address or `ADDR/PREFIX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    addr: IpAddr,
    prefix: u8,
}

/// Why an `--exclude-ip` value was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpBlockError {
    /// The address part is not an IPv4 or IPv6 address.
    #[error("'{0}' is not an IP address")]
    Address(String),
    /// The prefix is not a number within the address's length.
    #[error("'{0}' is not a valid prefix length")]
    Prefix(String),
}

impl FromStr for IpBlock {
    type Err = IpBlockError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| IpBlockError::Address(addr.into()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| IpBlockError::Prefix(p.into()))?,
        };
        // An IPv4-mapped block (`::ffff:10.0.0.0/104`, as dual-stack servers log addresses) is
        // the IPv4 block it maps, with its prefix counted in IPv4's 32 bits.
        if let (IpAddr::V6(v6), true) = (addr, prefix >= 96)
            && let Some(v4) = v6.to_ipv4_mapped()
        {
            return Ok(IpBlock {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
        Ok(IpBlock { addr, prefix })
    }
}

impl IpBlock {
    /// Whether `ip` lies inside this block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        // The whole address: a block may be narrower than a /64 (`--trust-proxy ::1`). An IPv4
        // block's prefix is at most 32, an IPv6 block's at most 128 (mapped blocks were made
        // IPv4 blocks when parsed), so the shifts below stay in range.
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix.min(32)))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
            (IpAddr::V6(net), ip) => {
                // An IPv6 block wider than the mapped range (`::/0`) holds IPv4 clients too.
                let ip = match ip {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix.min(128)))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
        }
    }
}

/// The addresses of the viewers connected right now; their own requests are not shown to anyone.
///
/// The web stage registers each viewer for as long as its WebSocket is open, and asks here
/// whether one more may connect (`--max-viewers`, `--max-viewers-per-ip`). An address also
/// counts as a viewer for [`RECENT_VIEWER`] after it loaded the dashboard or closed its socket:
/// the page load, its assets and a reconnection are logged before (or after) the socket is open,
/// and are the viewer's own requests all the same.
#[derive(Debug, Clone, Default)]
pub struct Viewers(Arc<RwLock<ViewerTable>>);

/// How long an address stays a viewer after its last page load or socket.
pub const RECENT_VIEWER: std::time::Duration = std::time::Duration::from_secs(60);
/// Addresses remembered as recent viewers at most (the oldest are forgotten first).
const RECENT_VIEWERS_MAX: usize = 10_000;

#[derive(Debug, Default)]
struct ViewerTable {
    per_ip: HashMap<IpAddr, usize>,
    total: usize,
    recent: HashMap<IpAddr, std::time::Instant>,
}

impl ViewerTable {
    fn touch(&mut self, ip: IpAddr) {
        let now = std::time::Instant::now();
        if self.recent.len() >= RECENT_VIEWERS_MAX && !self.recent.contains_key(&ip) {
            self.recent
                .retain(|_, at| now.duration_since(*at) < RECENT_VIEWER);
            if self.recent.len() >= RECENT_VIEWERS_MAX
                && let Some(oldest) = self
                    .recent
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(ip, _)| *ip)
            {
                self.recent.remove(&oldest);
            }
        }
        self.recent.insert(ip, now);
    }
}

/// Keeps a viewer's address registered until dropped.
#[derive(Debug)]
pub struct ViewerGuard {
    viewers: Viewers,
    ip: IpAddr,
}

/// Why a viewer was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewersFull {
    /// `--max-viewers` are connected.
    Total,
    /// `--max-viewers-per-ip` are connected from this address.
    PerIp,
}

/// The key a viewer is known by: its address, and for IPv6 its /64 (what one host or one home
/// network holds; counting whole addresses would let one network take every slot).
fn viewer_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl Viewers {
    /// Registers a viewer's address until the returned guard is dropped.
    pub fn register(&self, ip: IpAddr) -> ViewerGuard {
        self.try_register(ip, usize::MAX, usize::MAX)
            .expect("no limit")
    }

    /// Registers a viewer's address unless `max_total` viewers are connected, or `max_per_ip`
    /// from this address.
    pub fn try_register(
        &self,
        ip: IpAddr,
        max_total: usize,
        max_per_ip: usize,
    ) -> Result<ViewerGuard, ViewersFull> {
        let ip = viewer_key(ip);
        let mut table = self.0.write().expect("viewers lock");
        if table.total >= max_total {
            return Err(ViewersFull::Total);
        }
        let here = table.per_ip.get(&ip).copied().unwrap_or(0);
        if here >= max_per_ip {
            return Err(ViewersFull::PerIp);
        }
        table.per_ip.insert(ip, here + 1);
        table.total += 1;
        Ok(ViewerGuard {
            viewers: self.clone(),
            ip,
        })
    }

    /// Whether a viewer is connected from `ip`, or was within [`RECENT_VIEWER`].
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = viewer_key(ip);
        let table = self.0.read().expect("viewers lock");
        table.per_ip.contains_key(&ip)
            || table
                .recent
                .get(&ip)
                .is_some_and(|at| at.elapsed() < RECENT_VIEWER)
    }

    /// Notes that `ip` just loaded the dashboard: its requests are a viewer's for a while.
    pub fn touch(&self, ip: IpAddr) {
        self.0.write().expect("viewers lock").touch(viewer_key(ip));
    }
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        let mut table = self.viewers.0.write().expect("viewers lock");
        if let Some(n) = table.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                table.per_ip.remove(&self.ip);
            }
            table.total -= 1;
            table.touch(self.ip);
        }
    }
}

/// The rules from the command line.
#[derive(Debug, Clone, Default)]
pub struct FilterRules {
    /// `--all`: every request, also non-page-views and the viewers' own.
    pub all: bool,
    /// `--exclude-ip`.
    pub exclude: Vec<IpBlock>,
    /// `--no-bots`.
    pub no_bots: bool,
}

/// Decides, hit by hit, what viewers see.
#[derive(Debug, Clone)]
pub struct Filter {
    rules: FilterRules,
    viewers: Viewers,
}

impl Filter {
    /// A filter with these rules, hiding requests from the given viewers' addresses.
    pub fn new(rules: FilterRules, viewers: Viewers) -> Self {
        Filter { rules, viewers }
    }

    /// Whether viewers see this hit.
    pub fn keep(&self, hit: &Hit) -> bool {
        self.keep_request(hit.ip, &hit.method, &hit.path, hit.agent.as_deref())
    }

    /// Whether bots are hidden (`--no-bots`): then the agent matters to
    /// [`Filter::keep_request`], and the pipeline also hides what the agent classifier marks
    /// as a bot (uap-core's crawlers beside isbot's patterns).
    pub fn hides_bots(&self) -> bool {
        self.rules.no_bots
    }

    /// Whether viewers see a request with these fields (checked before a [`Hit`] is made, so
    /// hidden requests cost no allocation).
    /// A request without a client address (the format logs none) is nobody's: never excluded,
    /// never a viewer's own; without a path it is not a page view.
    pub fn keep_request(
        &self,
        ip: Option<IpAddr>,
        method: &str,
        path: &str,
        agent: Option<&str>,
    ) -> bool {
        if let Some(ip) = ip
            && self.rules.exclude.iter().any(|b| b.contains(ip))
        {
            return false;
        }
        if self.rules.no_bots && agent.is_some_and(is_bot_agent) {
            return false;
        }
        self.rules.all
            || (is_page_view(method, path) && !ip.is_some_and(|ip| self.viewers.contains(ip)))
    }
}

/// Whether a user agent is a crawler or other program (`isbot`'s patterns).
pub fn is_bot_agent(agent: &str) -> bool {
    static BOTS: std::sync::LazyLock<isbot::Bots> = std::sync::LazyLock::new(isbot::Bots::default);
    BOTS.is_bot(agent) || MORE_BOTS.iter().any(|b| agent.contains(b))
}

/// Programs isbot's patterns miss (checked with isbot 0.1): health checks and monitors, which
/// ask for a page every few seconds and would fill the feed, and a few crawlers.
const MORE_BOTS: [&str; 12] = [
    "kube-probe/",
    "GoogleHC/",
    "Blackbox Exporter",
    "Datadog",
    "Checkly",
    "NodePing",
    "Freshping",
    "GoogleOther",
    "Claude-User",
    "Cardyb",
    "Consul Health Check",
    "Envoy/HC",
];

/// The seed's rule: a GET of `/`-ending, `.html`, `.htm` or extension-less paths.
pub fn is_page_view(method: &str, path: &str) -> bool {
    if method != "GET" || !path.starts_with('/') {
        return false;
    }
    extension(path).is_none_or(is_page_extension)
}

/// The extension of a path's last segment (`/a/site.css` → `css`), if it has one. Read
/// backwards a byte at a time: the last segment is short, and this runs for every line.
pub fn extension(path: &str) -> Option<&str> {
    let b = path.as_bytes();
    let mut i = b.len();
    while i > 0 {
        i -= 1;
        match b[i] {
            b'.' => return Some(&path[i + 1..]),
            b'/' => return None,
            _ => {}
        }
    }
    None
}

/// Whether a file extension names a page (`html`, `htm`) rather than an asset.
pub fn is_page_extension(ext: &str) -> bool {
    ext.eq_ignore_ascii_case("html") || ext.eq_ignore_ascii_case("htm")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(ip: &str, method: &str, path: &str, agent: Option<&str>) -> Hit {
        Hit {
            seq: 0,
            time: 0,
            ip: Some(ip.parse().unwrap()),
            host: None,
            method: method.into(),
            path: path.into(),
            query: None,
            protocol: None,
            status: 200,
            bytes: 0,
            referer: None,
            agent: agent.map(Into::into),
            browser: None,
            os: None,
            bot: false,
            country: None,
            asn: None,
            device: None,
            server: "".into(),
            vhost: None,
            source: "t".into(),
            url: None,
        }
    }

    #[test]
    fn page_views() {
        for p in ["/", "/a/", "/index.html", "/x.HTM", "/about", "/a.b/c"] {
            assert!(is_page_view("GET", p), "{p}");
        }
        for p in [
            "/style.css",
            "/app.js",
            "/img/logo.png",
            "/favicon.ico",
            "*",
            "",
        ] {
            assert!(!is_page_view("GET", p), "{p}");
        }
        assert!(!is_page_view("POST", "/"));
        assert!(!is_page_view("HEAD", "/"));
    }

    #[test]
    fn health_checks_and_monitors_are_bots() {
        for agent in [
            "kube-probe/1.30",
            "GoogleHC/1.0",
            "Blackbox Exporter/0.25.0",
            "Datadog/Synthetics",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Checkly/abc",
            "NodePing",
            "Freshping Monitoring",
            "GoogleOther",
            "Claude-User (claude-code/1.0; +https://support.anthropic.com/)",
            "Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)",
            "Consul Health Check",
            "Envoy/HC",
            "Googlebot/2.1 (+http://www.google.com/bot.html)",
        ] {
            assert!(is_bot_agent(agent), "{agent}");
        }
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0";
        assert!(!is_bot_agent(firefox));
    }

    #[test]
    fn ip_blocks() {
        let b: IpBlock = "10.0.0.0/8".parse().unwrap();
        assert!(b.contains("10.200.3.4".parse().unwrap()));
        assert!(b.contains("::ffff:10.1.1.1".parse().unwrap()));
        assert!(!b.contains("11.0.0.1".parse().unwrap()));
        let b: IpBlock = "2001:db8::/32".parse().unwrap();
        assert!(b.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!b.contains("2001:db9::5".parse().unwrap()));
        let one: IpBlock = "192.0.2.1".parse().unwrap();
        assert!(one.contains("192.0.2.1".parse().unwrap()));
        assert!(!one.contains("192.0.2.2".parse().unwrap()));
        let all: IpBlock = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        // IPv6 blocks narrower than a /64 hold only their own addresses.
        let loopback: IpBlock = "::1".parse().unwrap();
        assert!(loopback.contains("::1".parse().unwrap()));
        assert!(!loopback.contains("::2".parse().unwrap()));
        let host: IpBlock = "2001:db8::5".parse().unwrap();
        assert!(host.contains("2001:db8::5".parse().unwrap()));
        assert!(!host.contains("2001:db8::6".parse().unwrap()));
        let narrow: IpBlock = "2001:db8::/120".parse().unwrap();
        assert!(narrow.contains("2001:db8::ff".parse().unwrap()));
        assert!(!narrow.contains("2001:db8::1:0".parse().unwrap()));
        assert_eq!(
            "x/8".parse::<IpBlock>(),
            Err(IpBlockError::Address("x".into()))
        );
        assert_eq!(
            "1.2.3.4/33".parse::<IpBlock>(),
            Err(IpBlockError::Prefix("33".into()))
        );
        // IPv4-mapped blocks, as dual-stack servers log addresses: the IPv4 block they map
        // (these panicked, or in a release build held every IPv4 address).
        let mapped: IpBlock = "::ffff:1.2.3.4".parse().unwrap();
        assert!(mapped.contains("1.2.3.4".parse().unwrap()));
        assert!(mapped.contains("::ffff:1.2.3.4".parse().unwrap()));
        assert!(!mapped.contains("1.2.3.5".parse().unwrap()));
        assert!(!mapped.contains("2001:db8::1".parse().unwrap()));
        let mapped: IpBlock = "::ffff:10.0.0.0/104".parse().unwrap();
        assert!(mapped.contains("10.9.8.7".parse().unwrap()));
        assert!(!mapped.contains("11.0.0.1".parse().unwrap()));
        // An IPv6 block wider than the mapped range holds IPv4 clients; a narrow one does not.
        let everything: IpBlock = "::/0".parse().unwrap();
        assert!(everything.contains("8.8.8.8".parse().unwrap()));
        assert!(everything.contains("2001:db8::1".parse().unwrap()));
        let all_mapped: IpBlock = "::ffff:0:0/96".parse().unwrap();
        assert!(all_mapped.contains("198.51.100.1".parse().unwrap()));
        assert!(!all_mapped.contains("2001:db8::1".parse().unwrap()));
        assert!(!loopback.contains("0.0.0.1".parse().unwrap()));
    }

    #[test]
    fn default_rules_hide_assets_viewers_and_excluded() {
        let viewers = Viewers::default();
        let rules = FilterRules {
            exclude: vec!["192.0.2.0/24".parse().unwrap()],
            ..Default::default()
        };
        let f = Filter::new(rules, viewers.clone());
        assert!(f.keep(&hit("203.0.113.1", "GET", "/", None)));
        assert!(!f.keep(&hit("203.0.113.1", "GET", "/a.css", None)));
        assert!(!f.keep(&hit("192.0.2.7", "GET", "/", None)));
        let guard = viewers.register("203.0.113.1".parse().unwrap());
        assert!(!f.keep(&hit("203.0.113.1", "GET", "/", None)));
        drop(guard);
        // Still a viewer for a while (a reconnection's requests are its own too).
        assert!(!f.keep(&hit("203.0.113.1", "GET", "/", None)));
        assert!(f.keep(&hit("203.0.113.2", "GET", "/", None)));
    }

    #[test]
    fn all_and_no_bots() {
        let rules = FilterRules {
            all: true,
            no_bots: true,
            ..Default::default()
        };
        let f = Filter::new(rules, Viewers::default());
        assert!(f.keep(&hit(
            "203.0.113.1",
            "POST",
            "/a.css",
            Some("Mozilla/5.0 Firefox/128.0")
        )));
        let bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        assert!(!f.keep(&hit("203.0.113.1", "GET", "/", Some(bot))));
    }

    #[test]
    fn viewer_limits_total_and_per_address() {
        let v = Viewers::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let g1 = v.try_register(a, 3, 2).unwrap();
        let _g2 = v.try_register(a, 3, 2).unwrap();
        assert_eq!(v.try_register(a, 3, 2).unwrap_err(), ViewersFull::PerIp);
        let _g3 = v.try_register(b, 3, 2).unwrap();
        assert_eq!(v.try_register(b, 3, 2).unwrap_err(), ViewersFull::Total);
        drop(g1);
        assert!(v.try_register(a, 3, 2).is_ok());
        assert!(v.contains(a) && v.contains(b));
        // IPv6 addresses of one /64 are one viewer address.
        let v = Viewers::default();
        let _x = v
            .try_register("2001:db8:1:2::1".parse().unwrap(), 10, 1)
            .unwrap();
        let other_host: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        assert_eq!(
            v.try_register(other_host, 10, 1).unwrap_err(),
            ViewersFull::PerIp
        );
        assert!(v.contains(other_host));
        assert!(
            v.try_register("2001:db8:1:3::1".parse().unwrap(), 10, 1)
                .is_ok()
        );
    }

    #[test]
    fn recent_viewers_count_for_a_while() {
        let v = Viewers::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(!v.contains(a));
        v.touch(a);
        assert!(v.contains(a) && !v.contains(b));
        drop(v.register(b));
        assert!(v.contains(b), "a viewer that just left is still one");
        v.0.write()
            .unwrap()
            .recent
            .insert(a, std::time::Instant::now() - RECENT_VIEWER);
        assert!(!v.contains(a));
        // IPv6: a dashboard loaded from one address of a /64 counts for that /64.
        let six: IpAddr = "2001:db8:0:1::5".parse().unwrap();
        v.touch(six);
        assert!(v.contains(six));
        assert!(v.contains("2001:db8:0:1::9".parse().unwrap()));
        assert!(!v.contains("2001:db8:0:2::5".parse().unwrap()));
    }
}
