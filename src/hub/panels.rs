//! The dashboard's panels: what is popular, who sends traffic and what fails, over the last five
//! minutes and since start, in memory that stays flat whatever the log's size.
//!
//! One [`Request`] view is counted the same way by the live pipeline and by `webpeek report`
//! (which fills the "since start" window from exact counts with [`Window::add`]), so the two
//! cannot drift apart: the definitions of a page view, an asset, a referring site and a
//! device live here and in [`crate::filter`] only.
//!
//! Each window holds one space-saving sketch per dimension; "last 5 minutes" is a ring of
//! one-minute windows by the log's own timestamps, merged when a snapshot is taken.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use cardinality_estimator::CardinalityEstimator;
use serde::Serialize;

use super::stats::TopList;
use crate::report::hash::FastState;

/// Entries each panel shows.
pub const SHOWN: usize = 10;
/// Minutes the "recent" window spans.
pub const RECENT_MINUTES: i64 = 5;

/// One dimension of the panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// Paths of page views.
    Pages,
    /// Paths of assets (stylesheets, scripts, images...).
    Static,
    /// Paths answered 404.
    NotFound,
    /// Paths answered 5xx.
    Errors,
    /// External referring sites, by host.
    Sites,
    /// Browser families of page views.
    Browsers,
    /// Operating systems of page views.
    Os,
    /// Device classes of page views.
    Devices,
    /// Countries (ISO codes) of clients.
    Countries,
    /// Networks (ASN organisations) of clients.
    Networks,
    /// Client addresses.
    Hosts,
    /// Status codes.
    Codes,
    /// Servers the hits came from.
    Servers,
}

impl Dimension {
    /// The panel's title, as the report's table prints it.
    pub fn title(self) -> &'static str {
        match self {
            Dimension::Pages => "pages (page views)",
            Dimension::Static => "static files",
            Dimension::NotFound => "not found (404)",
            Dimension::Errors => "server errors (5xx)",
            Dimension::Sites => "referring sites",
            Dimension::Browsers => "browsers (page views)",
            Dimension::Os => "operating systems (page views)",
            Dimension::Devices => "devices (page views)",
            Dimension::Countries => "countries",
            Dimension::Networks => "networks",
            Dimension::Hosts => "hosts",
            Dimension::Codes => "status codes",
            Dimension::Servers => "servers",
        }
    }

    /// Every dimension, in the order the snapshot lists them.
    pub const ALL: [Dimension; 13] = [
        Dimension::Pages,
        Dimension::Static,
        Dimension::NotFound,
        Dimension::Errors,
        Dimension::Sites,
        Dimension::Browsers,
        Dimension::Os,
        Dimension::Devices,
        Dimension::Countries,
        Dimension::Networks,
        Dimension::Hosts,
        Dimension::Codes,
        Dimension::Servers,
    ];
}

/// What the panels need to know about one request. Fields a format does not log are `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// Log time, Unix seconds.
    pub time: i64,
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Method (`GET`).
    pub method: &'a str,
    /// Path without the query, escapes resolved; empty when the format logs no request.
    pub path: &'a str,
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub bytes: u64,
    /// `Referer` header.
    pub referer: Option<&'a str>,
    /// Virtual host of the request (its own pages are not a referring site).
    pub vhost: Option<&'a str>,
    /// User agent, for telling visitors apart.
    pub agent: Option<&'a str>,
    /// Browser family (page views only need it).
    pub browser: Option<&'a str>,
    /// OS family.
    pub os: Option<&'a str>,
    /// Device class name.
    pub device: Option<&'a str>,
    /// Country code.
    pub country: Option<&'a str>,
    /// Network, as `AS64500 Example Net`.
    pub network: Option<&'a str>,
    /// Server name.
    pub server: &'a str,
}

impl Request<'_> {
    /// A page view: `GET` of a page, not an asset (the feed's default filter).
    pub fn is_page_view(&self) -> bool {
        crate::filter::is_page_view(self.method, self.path)
    }
}

/// The host a referer names, when it is another site: `https://news.ycombinator.com/item?id=1`
/// → `news.ycombinator.com`. Referers from `own_site`'s host or from the request's own virtual
/// host are the site's own pages and are left out, as is anything that is not a URL.
pub fn referring_site<'a>(
    referer: &'a str,
    vhost: Option<&str>,
    own_site: Option<&str>,
) -> Option<&'a str> {
    // The scheme ends at the first `:`, which `//` must follow (a search for `://` as a
    // string costs more than the rest of this function).
    let colon = memchr::memchr(b':', referer.as_bytes())?;
    let rest = referer.get(colon + 1..)?.strip_prefix("//")?;
    // One pass over the authority: its end, the last `@` (user info before it) and the last
    // `:` (a port after it, unless inside an IPv6 literal's brackets).
    let b = rest.as_bytes();
    let (mut end, mut at, mut colon) = (b.len(), None, None);
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'/' | b'?' | b'#' => {
                end = i;
                break;
            }
            b'@' => at = Some(i),
            b':' => colon = Some(i),
            b']' => colon = None,
            _ => {}
        }
    }
    let start = at.map_or(0, |i| i + 1);
    let stop = colon.filter(|&c| c > start).unwrap_or(end);
    let host = &rest[start..stop];
    if host.is_empty() {
        return None;
    }
    let same = |other: Option<&str>| {
        other.is_some_and(|o| {
            let o = o.rsplit_once(':').map_or(o, |(h, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    o
                }
            });
            o.eq_ignore_ascii_case(host)
        })
    };
    (!same(vhost) && !same(own_site)).then_some(host)
}

/// The host of `--site` (`https://example.com:8443/` → `example.com`).
pub fn site_host(site: &str) -> Option<String> {
    referring_site(site, None, None).map(str::to_ascii_lowercase)
}

/// Distinct visitors (address and agent), estimated.
#[derive(Default)]
struct Visitors(CardinalityEstimator<u64>);

impl Visitors {
    fn add(&mut self, ip: Option<IpAddr>, agent: Option<&str>) {
        let Some(ip) = ip else { return };
        let agent_hash = agent.map_or(0, |a| FastState::default().hash_bytes(a.as_bytes()));
        self.0.insert_hash(visitor_key(ip, agent_hash));
    }
}

/// The key a visitor is counted by: its address and the hash of its agent (made with
/// [`FastState`], whose seed is the process's). The live panels and the report's pass over
/// existing content use the same key, so a visitor seen by both is counted once.
pub fn visitor_key(ip: IpAddr, agent_hash: u64) -> u64 {
    let bits = match ip {
        IpAddr::V4(v4) => u128::from(v4.to_bits()),
        IpAddr::V6(v6) => v6.to_bits(),
    };
    // The estimator takes the key as its hash, so every bit must depend on every input bit:
    // a single multiply left keys of neighbouring addresses alike, and the estimate 7-11 % low.
    mix64(mix64((bits as u64) ^ mix64((bits >> 64) as u64)) ^ agent_hash)
}

/// MurmurHash3's 64-bit finalizer: a bijection that spreads each input bit over all output bits.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    z = (z ^ (z >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
}

/// The counts of one window.
#[derive(Default)]
pub struct Window {
    requests: u64,
    page_views: u64,
    bytes: u64,
    visitors: Visitors,
    lists: [TopList; Dimension::ALL.len()],
}

impl std::fmt::Debug for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window")
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl Window {
    fn list(&mut self, d: Dimension) -> &mut TopList {
        &mut self.lists[d as usize]
    }

    /// Counts one request. `own_site` is the host of `--site`.
    pub fn count(&mut self, r: &Request<'_>, own_site: Option<&str>) {
        self.requests += 1;
        self.bytes += r.bytes;
        self.visitors.add(r.ip, r.agent);
        let page_view = r.is_page_view();
        if page_view {
            self.page_views += 1;
            self.list(Dimension::Pages).add(r.path);
            for (d, key) in [
                (Dimension::Browsers, r.browser),
                (Dimension::Os, r.os),
                (Dimension::Devices, r.device),
            ] {
                if let Some(key) = key {
                    self.list(d).add(key);
                }
            }
        } else if is_asset(r.method, r.path) {
            self.list(Dimension::Static).add(r.path);
        }
        if !r.path.is_empty() {
            match r.status {
                404 => self.list(Dimension::NotFound).add(r.path),
                500..=599 => self.list(Dimension::Errors).add(r.path),
                _ => {}
            }
        }
        if let Some(site) = r
            .referer
            .and_then(|referer| referring_site(referer, r.vhost, own_site))
        {
            self.list(Dimension::Sites).add(&site.to_ascii_lowercase());
        }
        if let Some(country) = r.country {
            self.list(Dimension::Countries).add(country);
        }
        if let Some(network) = r.network {
            self.list(Dimension::Networks).add(network);
        }
        if let Some(ip) = r.ip {
            self.list(Dimension::Hosts).add(&ip.to_string());
        }
        let mut buf = [0; 5];
        self.list(Dimension::Codes)
            .add(status_key(r.status, &mut buf));
        if !r.server.is_empty() {
            self.list(Dimension::Servers).add(r.server);
        }
    }

    /// Adds exact counts (from `webpeek report`'s pass over existing content): the totals,
    /// then `n` occurrences of `key` in dimension `d` for each entry.
    pub fn add_totals(&mut self, requests: u64, page_views: u64, bytes: u64) {
        self.requests += requests;
        self.page_views += page_views;
        self.bytes += bytes;
    }

    /// Adds `n` occurrences of `key` to dimension `d`.
    pub fn add(&mut self, d: Dimension, key: &str, n: u64) {
        self.list(d).add_n(key, n);
    }

    /// Adds visitors another count found (keys made with [`visitor_key`]).
    pub fn add_visitor_keys(&mut self, keys: impl Iterator<Item = u64>) {
        for key in keys {
            self.visitors.0.insert_hash(key);
        }
    }

    /// Adds another window's counts (its tracked keys with their counts) to this one.
    pub fn merge(&mut self, other: Window) {
        self.add_totals(other.requests, other.page_views, other.bytes);
        self.visitors.0.merge(&other.visitors.0);
        for (mine, theirs) in self.lists.iter_mut().zip(&other.lists) {
            for (k, n) in theirs.top(usize::MAX) {
                mine.add_n(&k, n);
            }
        }
    }

    /// The window's numbers as the `stats` message shows them.
    pub fn snapshot(&self, window: Option<u32>) -> WindowSnapshot {
        Self::merged(std::slice::from_ref(&self), window)
    }

    /// Several windows as one (the minutes of the recent window).
    fn merged(parts: &[&Window], window: Option<u32>) -> WindowSnapshot {
        let mut visitors = CardinalityEstimator::<u64>::new();
        for p in parts {
            visitors.merge(&p.visitors.0);
        }
        let list = |d: Dimension| {
            if let [one] = parts {
                return one.lists[d as usize].top(SHOWN);
            }
            let mut sum: HashMap<String, u64> = HashMap::new();
            for p in parts {
                for (k, n) in p.lists[d as usize].top(usize::MAX) {
                    *sum.entry(k).or_default() += n;
                }
            }
            top_of(sum)
        };
        WindowSnapshot {
            window,
            requests: parts.iter().map(|p| p.requests).sum(),
            page_views: parts.iter().map(|p| p.page_views).sum(),
            visitors: visitors.estimate() as u64,
            bytes: parts.iter().map(|p| p.bytes).sum(),
            pages: list(Dimension::Pages),
            r#static: list(Dimension::Static),
            not_found: list(Dimension::NotFound),
            errors: list(Dimension::Errors),
            sites: list(Dimension::Sites),
            browsers: list(Dimension::Browsers),
            os: list(Dimension::Os),
            devices: list(Dimension::Devices),
            countries: list(Dimension::Countries),
            networks: list(Dimension::Networks),
            hosts: list(Dimension::Hosts),
            codes: list(Dimension::Codes),
            servers: list(Dimension::Servers),
        }
    }
}

/// The most counted keys, most first, ties by key.
pub fn top_of(counts: HashMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(SHOWN);
    v
}

/// A request for a file that is not a page: `GET` or `HEAD` of a path whose last segment has
/// an extension other than `.html`/`.htm` (stylesheets, scripts, images, fonts, feeds).
pub fn is_asset(method: &str, path: &str) -> bool {
    if !(method == "GET" || method == "HEAD") || !path.starts_with('/') {
        return false;
    }
    crate::filter::extension(path).is_some_and(|ext| !crate::filter::is_page_extension(ext))
}

/// A status code as text, written into `buf` (no allocation per request).
fn status_key(status: u16, buf: &mut [u8; 5]) -> &str {
    let mut n = status;
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[at..]).expect("digits")
}

/// Both windows.
#[derive(Debug, Default)]
pub struct Panels {
    /// Since start.
    all: Window,
    /// One window per minute of log time, oldest first, at most [`RECENT_MINUTES`] + 1.
    minutes: VecDeque<(i64, Window)>,
    /// Host of `--site`.
    own_site: Option<String>,
}

impl Panels {
    /// Panels that leave out referers from `own_site`'s host (`--site`).
    pub fn new(own_site: Option<&str>) -> Panels {
        Panels {
            own_site: own_site.and_then(site_host),
            ..Panels::default()
        }
    }

    /// The "since start" window, to fill from exact counts.
    pub fn all_mut(&mut self) -> &mut Window {
        &mut self.all
    }

    /// Adds a pass over existing content's counts to the "since start" window.
    pub fn seed(&mut self, window: Window) {
        self.all.merge(window);
    }

    /// Counts one request in both windows; `now` (Unix seconds) bounds how far ahead of the
    /// clock a log time may be to count as recent.
    pub fn count(&mut self, r: &Request<'_>, now: i64) {
        let own = self.own_site.as_deref();
        self.all.count(r, own);
        let minute = r.time.div_euclid(60);
        let current = now.div_euclid(60);
        // Minutes further ahead than a line may be: the clock was set back, and they would
        // keep the lines that follow out of the window.
        while self.minutes.back().is_some_and(|(m, _)| *m > current + 1) {
            self.minutes.pop_back();
        }
        // Lines older than the window, or stamped ahead of the clock, are not "recent".
        if minute < current - RECENT_MINUTES || r.time > now + 60 {
            return;
        }
        let at = match self.minutes.iter().rposition(|(m, _)| *m <= minute) {
            Some(i) if self.minutes[i].0 == minute => i,
            found => {
                let i = found.map_or(0, |i| i + 1);
                self.minutes.insert(i, (minute, Window::default()));
                i
            }
        };
        self.minutes[at].1.count(r, own);
        let oldest = minute.max(now.div_euclid(60)) - RECENT_MINUTES;
        while self.minutes.front().is_some_and(|(m, _)| *m < oldest) {
            self.minutes.pop_front();
        }
        while self.minutes.len() > RECENT_MINUTES as usize + 1 {
            self.minutes.pop_front();
        }
    }

    /// Both windows at `now`: the recent one holds the last five whole minutes and the
    /// current one (five to six minutes of log time).
    pub fn snapshot(&self, now: i64) -> PanelsSnapshot {
        let current = now.div_euclid(60);
        let recent: Vec<&Window> = self
            .minutes
            .iter()
            .filter(|(m, _)| (current - RECENT_MINUTES..=current + 1).contains(m))
            .map(|(_, w)| w)
            .collect();
        PanelsSnapshot {
            recent: Window::merged(&recent, Some(RECENT_MINUTES as u32 * 60)),
            all: self.all.snapshot(None),
        }
    }
}

/// The `panels` member of the `stats` message.
#[derive(Debug, Clone, Serialize)]
pub struct PanelsSnapshot {
    /// The last five minutes, by log time.
    pub recent: WindowSnapshot,
    /// Since start.
    pub all: WindowSnapshot,
}

/// One window of the panels; each list `[[key, count], ...]`, most first.
#[derive(Debug, Clone, Serialize)]
pub struct WindowSnapshot {
    /// Seconds the window spans, `null` for "since start".
    pub window: Option<u32>,
    /// Requests.
    pub requests: u64,
    /// Page views.
    pub page_views: u64,
    /// Distinct address + agent pairs (estimate).
    pub visitors: u64,
    /// Body bytes sent.
    pub bytes: u64,
    /// Page views by path.
    pub pages: Vec<(String, u64)>,
    /// Assets by path.
    #[serde(rename = "static")]
    pub r#static: Vec<(String, u64)>,
    /// 404s by path.
    pub not_found: Vec<(String, u64)>,
    /// 5xx by path.
    pub errors: Vec<(String, u64)>,
    /// External referring sites.
    pub sites: Vec<(String, u64)>,
    /// Browsers of page views.
    pub browsers: Vec<(String, u64)>,
    /// OS of page views.
    pub os: Vec<(String, u64)>,
    /// Devices of page views.
    pub devices: Vec<(String, u64)>,
    /// Countries.
    pub countries: Vec<(String, u64)>,
    /// Networks.
    pub networks: Vec<(String, u64)>,
    /// Client addresses.
    pub hosts: Vec<(String, u64)>,
    /// Status codes.
    pub codes: Vec<(String, u64)>,
    /// Servers.
    pub servers: Vec<(String, u64)>,
}

impl WindowSnapshot {
    /// The list of one dimension.
    pub fn list(&self, d: Dimension) -> &[(String, u64)] {
        match d {
            Dimension::Pages => &self.pages,
            Dimension::Static => &self.r#static,
            Dimension::NotFound => &self.not_found,
            Dimension::Errors => &self.errors,
            Dimension::Sites => &self.sites,
            Dimension::Browsers => &self.browsers,
            Dimension::Os => &self.os,
            Dimension::Devices => &self.devices,
            Dimension::Countries => &self.countries,
            Dimension::Networks => &self.networks,
            Dimension::Hosts => &self.hosts,
            Dimension::Codes => &self.codes,
            Dimension::Servers => &self.servers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(time: i64, path: &'a str, status: u16, referer: Option<&'a str>) -> Request<'a> {
        Request {
            time,
            ip: "203.0.113.9".parse().ok(),
            method: "GET",
            path,
            status,
            bytes: 100,
            referer,
            agent: Some("Mozilla/5.0"),
            browser: Some("Firefox"),
            os: Some("Linux"),
            device: Some("desktop"),
            server: "web1",
            ..Request::default()
        }
    }

    #[test]
    fn referring_sites_leave_out_the_site_itself() {
        let site = site_host("https://Example.com:8443/");
        assert_eq!(site.as_deref(), Some("example.com"));
        let f = |r, vhost| referring_site(r, vhost, site.as_deref());
        assert_eq!(
            f("https://news.ycombinator.com/item?id=1", None),
            Some("news.ycombinator.com")
        );
        assert_eq!(f("https://example.com/blog/", None), None);
        assert_eq!(f("https://EXAMPLE.com:443/", None), None);
        assert_eq!(f("https://shop.example/", Some("shop.example:80")), None);
        assert_eq!(f("https://user@lobste.rs:8080/x", None), Some("lobste.rs"));
        assert_eq!(
            f("android-app://com.google.android.gm/", None),
            Some("com.google.android.gm")
        );
        assert_eq!(f("http://[2001:db8::1]/", None), Some("[2001:db8::1]"));
        assert_eq!(f("-", None), None);
        assert_eq!(f("/relative", None), None);
    }

    #[test]
    fn visitors_are_estimated_within_a_few_percent() {
        // Addresses of a few networks in order, each with one of a few agents: keys that
        // differ in few bits, as real logs have them.
        // Fixed agent hashes (`Visitors::add` seeds them per process): the same keys at each
        // run, so the same estimate too.
        let agents = [
            0x243F_6A88_85A3_08D3u64,
            0x1319_8A2E_0370_7344,
            0xA409_3822_299F_31D0,
            0x082E_FA98_EC4E_6C89,
        ];
        for n in [1_000u32, 20_000, 60_000] {
            let mut v = Visitors::default();
            for i in 0..n {
                let ip = IpAddr::V4(std::net::Ipv4Addr::from(0xC633_6400 + i / 3));
                let agent = agents[(i % 3) as usize + usize::from(i % 7 == 0)];
                v.0.insert_hash(visitor_key(ip, agent));
            }
            let exact = {
                let mut set = std::collections::HashSet::new();
                for i in 0..n {
                    set.insert((i / 3, (i % 3) as usize + usize::from(i % 7 == 0)));
                }
                set.len() as f64
            };
            let estimate = v.0.estimate() as f64;
            let error = (estimate - exact).abs() / exact;
            assert!(
                error < 0.03,
                "{n}: {estimate} for {exact} ({:.1} %)",
                error * 100.0
            );
        }
    }

    #[test]
    fn a_clock_set_back_moves_the_recent_window_back() {
        let mut p = Panels::new(None);
        let now = 1_800_000_030;
        for i in 0..6 {
            p.count(&req(now - 60 * i, "/before", 200, None), now);
        }
        // The clock goes back an hour; the lines that follow are stamped by it.
        let back = now - 3600;
        for _ in 0..4 {
            p.count(&req(back, "/after", 200, None), back);
        }
        let s = p.snapshot(back);
        assert_eq!(s.recent.requests, 4);
        assert_eq!(s.recent.pages, vec![("/after".to_string(), 4)]);
        assert_eq!(s.all.requests, 10);
    }

    #[test]
    fn pages_assets_failures_and_windows() {
        let mut p = Panels::new(Some("https://example.com"));
        // Half a minute into a minute.
        let now = 1_800_000_030;
        // Ten minutes ago: only "since start".
        p.count(&req(now - 600, "/old", 200, None), now);
        p.count(&req(now - 10, "/", 200, Some("https://lobste.rs/")), now);
        p.count(&req(now - 5, "/", 200, Some("https://example.com/a")), now);
        p.count(
            &req(now - 5, "/site.css", 200, Some("https://example.com/")),
            now,
        );
        p.count(&req(now - 3, "/gone", 404, None), now);
        p.count(&req(now - 2, "/api", 502, None), now);
        p.count(
            &Request {
                method: "POST",
                ..req(now - 1, "/form", 200, None)
            },
            now,
        );
        let s = p.snapshot(now);
        assert_eq!((s.all.requests, s.recent.requests), (7, 6));
        assert_eq!(s.recent.window, Some(300));
        assert_eq!(s.all.window, None);
        assert_eq!(s.all.pages[0], ("/".to_string(), 2));
        assert!(s.all.pages.iter().any(|(k, _)| k == "/old"));
        assert!(!s.recent.pages.iter().any(|(k, _)| k == "/old"));
        assert_eq!(s.recent.r#static, vec![("/site.css".to_string(), 1)]);
        assert_eq!(s.recent.not_found, vec![("/gone".to_string(), 1)]);
        assert_eq!(s.recent.errors, vec![("/api".to_string(), 1)]);
        assert_eq!(s.recent.sites, vec![("lobste.rs".to_string(), 1)]);
        // Browsers, OS and devices count page views only (/, /, /gone, /api: 4 of them).
        assert_eq!(s.recent.page_views, 4);
        assert_eq!(s.recent.browsers, vec![("Firefox".to_string(), 4)]);
        assert_eq!(s.recent.devices, vec![("desktop".to_string(), 4)]);
        assert_eq!(s.recent.codes[0], ("200".to_string(), 4));
        assert_eq!(s.recent.servers, vec![("web1".to_string(), 6)]);
        assert_eq!(s.recent.visitors, 1);
        assert_eq!(s.recent.bytes, 600);
        // Six minutes later the recent window is empty, "since start" keeps everything.
        let later = p.snapshot(now + 360);
        assert_eq!((later.all.requests, later.recent.requests), (7, 0));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["recent"]["static"][0][0], "/site.css");
        assert_eq!(json["all"]["window"], serde_json::Value::Null);
    }

    #[test]
    fn recent_minutes_stay_bounded_through_a_day() {
        let mut p = Panels::default();
        let start = 1_800_000_000;
        let mut t = start;
        for i in 0..1440 * 60 / 7 {
            t = start + i * 7;
            p.count(&req(t, "/", 200, None), t);
            assert!(p.minutes.len() <= RECENT_MINUTES as usize + 1);
        }
        let s = p.snapshot(t);
        // Five whole minutes and the seconds of the current one, one request every 7 s.
        assert!(
            (49..=52).contains(&s.recent.requests),
            "{}",
            s.recent.requests
        );
    }

    #[test]
    fn assets_are_files_that_are_not_pages() {
        assert!(is_asset("GET", "/site.css"));
        assert!(is_asset("HEAD", "/img/logo.svg"));
        assert!(!is_asset("GET", "/"));
        assert!(!is_asset("GET", "/index.html"));
        assert!(!is_asset("POST", "/upload.php"));
        assert!(!is_asset("GET", "/v1.2/docs"));
        let mut buf = [0; 5];
        assert_eq!(status_key(404, &mut buf), "404");
        assert_eq!(status_key(0, &mut buf), "0");
        assert_eq!(status_key(65535, &mut buf), "65535");
    }
}
