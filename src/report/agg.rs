//! The report's aggregates over a block of whole lines: exact counts, no allocation per line.
//!
//! Keys are looked up by the `&str` borrowed from the read buffer; a key is copied into the map
//! only the first time it is seen. Escapes (`\"`, `\xHH`) are resolved, like the live mode's
//! top lists, only for the rare key that holds a backslash.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use std::collections::HashMap;

use crate::hub::panels::Window;
use crate::parse::{Parser, RawHit};
use crate::source::MAX_LINE;

use super::hash::{FastMap, Mixed};
use super::table::{StrCounts, V4Counts};

/// Status codes are three digits; `codes[status]` counts each.
const CODES: usize = 1000;

/// Counts over some lines; tallies of parts of the input are [merged](Tally::merge).
#[derive(Debug)]
pub struct Tally {
    /// Lines read, whatever became of them (blank lines included).
    pub lines: u64,
    /// Requests parsed.
    pub total: u64,
    /// Lines that matched no format (blank lines are not counted).
    pub unparsed: u64,
    /// Lines longer than [`MAX_LINE`]: counted here and skipped.
    pub truncated: u64,
    /// Response body bytes, summed.
    pub bytes: u64,
    /// Requests by status code (`codes[200]`...).
    pub codes: Vec<u64>,
    /// Earliest and latest request time (Unix seconds); `i64::MAX` and `i64::MIN` before the
    /// first request (see [`Tally::span`]).
    first: i64,
    last: i64,
    get: u64,
    post: u64,
    head: u64,
    other_methods: StrCounts,
    /// Requests by path (no query string), escapes resolved.
    pub pages: StrCounts,
    /// Requests by referer (those with one), escapes resolved.
    pub referers: StrCounts,
    /// Requests by client address: IPv4 and IPv6 apart, keyed by their bits, so the map that
    /// sees most lines has small entries (fewer cache misses with many clients).
    hosts4: V4Counts,
    hosts6: FastMap<u128, u64>,
    /// The panels' dimensions ([`crate::hub::panels`]), exact; turned into panels by
    /// [`Tally::panels`].
    pub dims: Dims,
}

/// What the panels count, per line, exactly: keys that need a slow look-up (an agent's browser,
/// an address's country) are counted as they are and classified once per distinct key at the
/// end ([`Tally::panels`]).
#[derive(Debug, Default)]
pub struct Dims {
    /// Page views.
    pub page_views: u64,
    /// Requests other than `GET` by path, and `HEAD` requests by path: page views and assets
    /// by path are the pages' counts less these (one table lookup a line instead of three;
    /// most requests are `GET`s).
    pub not_get: StrCounts,
    /// `HEAD` requests by path.
    pub head: StrCounts,
    /// 404s by path.
    pub not_found: StrCounts,
    /// 5xx by path.
    pub errors: StrCounts,
    /// External referring sites of requests that name their virtual host (the vhost decides
    /// whether a referer is the site's own, so these are found line by line).
    pub sites: StrCounts,
    /// The referers of those requests: every other referer's site is found once per distinct
    /// referer at the end, from the tally's referer counts less these.
    pub vhost_referers: StrCounts,
    /// Page views by user agent.
    pub agents: StrCounts,
    /// Distinct address + agent pairs, by their [`visitor_key`]s: exact here (a merged
    /// estimate would depend on how the input was cut into ranges), fed to the live panels'
    /// estimator when they are seeded.
    ///
    /// [`visitor_key`]: crate::hub::panels::visitor_key
    visitors: hashbrown::HashSet<u64, Mixed>,
    /// Requests and 2xx..5xx per minute of log time (`[requests, 2xx, 3xx, 4xx, 5xx]`).
    pub minutes: FastMap<i64, [u64; 5]>,
    /// The minute being counted: lines come in time order, so most lines add here and the
    /// map is touched once a minute.
    minute: Option<(i64, [u64; 5])>,
}

impl Dims {
    /// Counts the panels' share of one parsed request (`path` with escapes resolved).
    #[inline]
    fn count(&mut self, raw: &RawHit<'_>, method: &str, path: &str) {
        let minute = raw.time.div_euclid(60);
        let counts = match &mut self.minute {
            Some((m, counts)) if *m == minute => counts,
            slot => {
                if let Some((m, counts)) = slot.take() {
                    add_minute(&mut self.minutes, m, counts);
                }
                &mut slot.insert((minute, [0; 5])).1
            }
        };
        counts[0] += 1;
        if let Some(class) = (raw.status / 100).checked_sub(2).filter(|c| *c < 4) {
            counts[1 + usize::from(class)] += 1;
        }
        let agent = raw.agent.map(|a| raw.text(a));
        let agent_hash = agent.as_deref().map(|a| self.agents.hash(a));
        if method != "GET" {
            self.not_get.add(path, 1);
            if method == "HEAD" {
                self.head.add(path, 1);
            }
        } else if crate::filter::is_page_view(method, path) {
            self.page_views += 1;
            if let (Some(agent), Some(hash)) = (&agent, agent_hash) {
                self.agents.add_by_hash(agent, hash, 1);
            }
        }
        // As live: a format without a request has no path to list.
        match raw.status {
            404 if !path.is_empty() => self.not_found.add(path, 1),
            500..=599 if !path.is_empty() => self.errors.add(path, 1),
            _ => {}
        }
        if let (Some(referer), Some(_)) = (raw.referer, raw.vhost) {
            let referer = raw.unescaped(referer);
            self.vhost_referers.add(&referer, 1);
            if let Some(site) = crate::hub::panels::referring_site(&referer, raw.vhost, None) {
                self.sites.add(&site.to_ascii_lowercase(), 1);
            }
        }
        if let Some(ip) = raw.ip {
            self.visitors
                .insert(crate::hub::panels::visitor_key(ip, agent_hash.unwrap_or(0)));
        }
    }

    /// Distinct address + agent pairs, estimated.
    pub fn visitors(&self) -> u64 {
        self.visitors.len() as u64
    }

    /// Requests per minute of log time: `(minute, [requests, 2xx, 3xx, 4xx, 5xx])`.
    pub fn minutes(&self) -> impl Iterator<Item = (i64, [u64; 5])> + '_ {
        self.minutes
            .iter()
            .map(|(m, c)| (*m, *c))
            .chain(self.minute)
    }

    fn merge(&mut self, mut other: Dims) {
        self.page_views += other.page_views;
        self.not_get.merge(other.not_get);
        self.head.merge(other.head);
        self.not_found.merge(other.not_found);
        self.errors.merge(other.errors);
        self.sites.merge(other.sites);
        self.vhost_referers.merge(other.vhost_referers);
        self.agents.merge(other.agents);
        if self.visitors.len() < other.visitors.len() {
            std::mem::swap(&mut self.visitors, &mut other.visitors);
        }
        self.visitors.extend(other.visitors);
        if let Some((m, counts)) = other.minute.take() {
            add_minute(&mut self.minutes, m, counts);
        }
        for (m, counts) in other.minutes {
            add_minute(&mut self.minutes, m, counts);
        }
    }
}

fn add_minute(map: &mut FastMap<i64, [u64; 5]>, minute: i64, counts: [u64; 5]) {
    let d = map.entry(minute).or_default();
    for (a, b) in d.iter_mut().zip(counts) {
        *a += b;
    }
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            lines: 0,
            total: 0,
            unparsed: 0,
            truncated: 0,
            bytes: 0,
            codes: vec![0; CODES],
            first: i64::MAX,
            last: i64::MIN,
            get: 0,
            post: 0,
            head: 0,
            other_methods: StrCounts::default(),
            pages: StrCounts::default(),
            referers: StrCounts::default(),
            hosts4: V4Counts::default(),
            hosts6: FastMap::default(),
            dims: Dims::default(),
        }
    }
}

impl Tally {
    /// Counts a block of whole lines, each ending in `\n` (the last may lack it).
    pub fn count_block(&mut self, parser: &mut Parser, block: &[u8]) {
        match std::str::from_utf8(block) {
            // The common case: the whole block is valid UTF-8, checked in one pass.
            Ok(text) => self.count_text(parser, text),
            // Some line is not: check line by line, decoding the bad ones lossily.
            Err(_) => {
                for line in block.split_inclusive(|&b| b == b'\n') {
                    match std::str::from_utf8(line) {
                        Ok(text) => self.count_text(parser, text),
                        Err(_) => self.count_text(parser, &String::from_utf8_lossy(line)),
                    }
                }
            }
        }
    }

    /// The hot loop: split at newlines with `memchr`, parse, count.
    fn count_text(&mut self, parser: &mut Parser, text: &str) {
        let mut lines = Lines {
            text,
            newlines: memchr::memchr_iter(b'\n', text.as_bytes()),
            start: 0,
        };
        // Until the format is known, the parser detects it line by line; then the format
        // parses directly (no detection branch, no copy of the parsed line on the way).
        let format = loop {
            if let Some(f) = parser.format() {
                break f.clone();
            }
            let Some(line) = lines.next() else { return };
            if parser.header(line.strip_suffix('\r').unwrap_or(line)) {
                self.lines += 1;
                continue;
            }
            self.count_line(line, |l| parser.parse_raw(l));
        };
        if !format.has_headers() {
            let from_header = parser.takes_client_from_header();
            for line in lines {
                self.count_line(line, |l| {
                    let mut raw = format.parse(l)?;
                    // As `Parser::parse_raw` does.
                    raw.settle_client(from_header);
                    Some(raw)
                });
            }
            return;
        }
        // W3C and its kin: header lines are skipped, and a `#Fields:` line sets the fields
        // from there on.
        for line in lines {
            let text = line.strip_suffix('\r').unwrap_or(line);
            if parser.header(text) {
                self.lines += 1;
                continue;
            }
            self.count_line(line, |l| parser.parse_raw(l));
        }
    }

    #[inline(always)]
    fn count_line<'a>(&mut self, line: &'a str, parse: impl FnOnce(&'a str) -> Option<RawHit<'a>>) {
        self.lines += 1;
        if line.len() > MAX_LINE {
            self.truncated += 1;
            return;
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        match parse(line) {
            Some(raw) => self.count_hit(&raw),
            // Blank lines never parse; like the live mode, they are not counted as unparsed.
            None => self.unparsed += u64::from(!line.trim().is_empty()),
        }
    }

    /// Counts a line that was read (and cut) elsewhere: too long to keep.
    pub fn count_truncated(&mut self) {
        self.lines += 1;
        self.truncated += 1;
    }

    /// Counts one parsed request.
    #[inline]
    pub fn count_hit(&mut self, raw: &RawHit<'_>) {
        self.total += 1;
        self.bytes += raw.bytes;
        if let Some(n) = self.codes.get_mut(usize::from(raw.status)) {
            *n += 1;
        }
        self.first = self.first.min(raw.time);
        self.last = self.last.max(raw.time);
        let req = raw.request();
        // Escapes resolved, as the live mode's top lists do (most lines have none, and the
        // parser says so: their keys are taken as they are).
        let bump = |map: &mut StrCounts, key: &str| map.add(&raw.unescaped(key), 1);
        match req.method {
            "GET" => self.get += 1,
            "POST" => self.post += 1,
            "HEAD" => self.head += 1,
            m => bump(&mut self.other_methods, m),
        }
        let path = raw.unescaped(req.path);
        if !path.is_empty() {
            self.pages.add(&path, 1);
        }
        if let Some(r) = raw.referer {
            bump(&mut self.referers, r);
        }
        match raw.ip {
            Some(IpAddr::V4(ip)) => self.hosts4.add_one(ip.to_bits()),
            Some(IpAddr::V6(ip)) => *self.hosts6.entry(ip.to_bits()).or_default() += 1,
            None => {}
        }
        self.dims.count(raw, req.method, &path);
    }

    /// Distinct client addresses.
    pub fn visitors(&self) -> u64 {
        (self.hosts4.len() + self.hosts6.len()) as u64
    }

    /// Requests by client address.
    pub fn hosts(&self) -> impl Iterator<Item = (IpAddr, u64)> + '_ {
        let v4 = self
            .hosts4
            .iter()
            .map(|(ip, n)| (Ipv4Addr::from_bits(ip).into(), n));
        let v6 = self
            .hosts6
            .iter()
            .map(|(ip, n)| (Ipv6Addr::from_bits(*ip).into(), *n));
        v4.chain(v6)
    }

    /// Earliest and latest request time (Unix seconds), if any request was counted.
    pub fn span(&self) -> Option<(i64, i64)> {
        (self.total > 0).then_some((self.first, self.last))
    }

    /// Requests by method, every method seen.
    pub fn methods(&self) -> Vec<(&str, u64)> {
        [("GET", self.get), ("POST", self.post), ("HEAD", self.head)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .chain(self.other_methods.iter())
            .collect()
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: Tally) {
        self.lines += other.lines;
        self.total += other.total;
        self.unparsed += other.unparsed;
        self.truncated += other.truncated;
        self.bytes += other.bytes;
        for (a, b) in self.codes.iter_mut().zip(&other.codes) {
            *a += b;
        }
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        self.get += other.get;
        self.post += other.post;
        self.head += other.head;
        self.other_methods.merge(other.other_methods);
        self.pages.merge(other.pages);
        self.referers.merge(other.referers);
        self.hosts4.merge(other.hosts4);
        merge_map(&mut self.hosts6, other.hosts6);
        self.dims.merge(other.dims);
    }
}

/// Distinct user agents classified for the browser, OS and device panels, most frequent first:
/// classifying costs microseconds an agent, and the rare agents past these would not reach a
/// panel's top ten anyway (their page views still count in every other panel).
pub const CLASSIFIED_AGENTS: usize = 20_000;

/// What turning exact counts into panels needs besides the counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct PanelContext<'a> {
    /// Browser, OS and device of agents; `None` leaves those panels empty.
    pub agents: Option<&'a crate::enrich::AgentClassifier>,
    /// Countries and networks of addresses.
    pub geo: Option<&'a crate::enrich::Geo>,
    /// Host of `--site`: its referers are not a referring site.
    pub own_site: Option<&'a str>,
    /// The name every request's server panel entry takes.
    pub server: &'a str,
}

impl Tally {
    /// The panels' "since start" window of these counts: each dimension's exact top entries,
    /// enough of them that the window's sketches hold them exactly.
    pub fn panels(&self, cx: &PanelContext<'_>) -> Window {
        use crate::hub::panels::Dimension as D;
        let mut w = Window::default();
        let d = &self.dims;
        w.add_totals(self.total, d.page_views, self.bytes);
        w.add_visitor_keys(d.visitors.iter().copied());
        let mut put = |dim: D, entries: Vec<(String, u64)>| {
            for (k, n) in top(entries, TRACKED, |k| k.clone()) {
                w.add(dim, &k, n);
            }
        };
        let owned = |c: &StrCounts| -> Vec<(String, u64)> {
            c.iter().map(|(k, n)| (k.to_owned(), n)).collect()
        };
        let (mut views, mut assets) = (Vec::new(), Vec::new());
        for (path, n) in self.pages.iter() {
            let not_get = d.not_get.get(path);
            if crate::filter::is_page_view("GET", path) {
                let v = n.saturating_sub(not_get);
                if v > 0 {
                    views.push((path.to_owned(), v));
                }
            } else if crate::hub::panels::is_asset("GET", path) {
                let a = n.saturating_sub(not_get) + d.head.get(path);
                if a > 0 {
                    assets.push((path.to_owned(), a));
                }
            }
        }
        put(D::Pages, views);
        put(D::Static, assets);
        put(D::NotFound, owned(&d.not_found));
        put(D::Errors, owned(&d.errors));
        let mut sites: HashMap<String, u64> = HashMap::new();
        for (referer, n) in self.referers.iter() {
            let n = n.saturating_sub(d.vhost_referers.get(referer));
            if n > 0
                && let Some(site) = crate::hub::panels::referring_site(referer, None, None)
            {
                *sites.entry(site.to_ascii_lowercase()).or_default() += n;
            }
        }
        for (site, n) in d.sites.iter() {
            *sites.entry(site.to_owned()).or_default() += n;
        }
        sites.retain(|site, _| Some(site.as_str()) != cx.own_site);
        put(D::Sites, sites.into_iter().collect());
        if let Some(classifier) = cx.agents {
            let mut by: [HashMap<String, u64>; 3] = Default::default();
            for (agent, n) in top(d.agents.iter(), CLASSIFIED_AGENTS, |k| *k) {
                let class = classifier.classify_uncached(agent);
                for (map, key) in by.iter_mut().zip([
                    class.browser.as_deref(),
                    class.os.as_deref(),
                    class.device.map(crate::hit::Device::as_str),
                ]) {
                    if let Some(key) = key {
                        *map.entry(key.to_owned()).or_default() += n;
                    }
                }
            }
            let [browsers, os, devices] = by;
            put(D::Browsers, browsers.into_iter().collect());
            put(D::Os, os.into_iter().collect());
            put(D::Devices, devices.into_iter().collect());
        }
        if let Some(geo) = cx.geo {
            let (mut countries, mut networks) = (HashMap::new(), HashMap::new());
            for (ip, n) in self.hosts() {
                let (country, asn) = geo.lookup_uncached(ip);
                if let Some(c) = country {
                    *countries.entry(c.to_string()).or_default() += n;
                }
                if let Some(a) = asn {
                    *networks.entry(a.to_string()).or_default() += n;
                }
            }
            put(D::Countries, countries.into_iter().collect());
            put(D::Networks, networks.into_iter().collect());
        }
        put(
            D::Hosts,
            top(self.hosts(), TRACKED, |k| *k)
                .into_iter()
                .map(|(ip, n)| (ip.to_string(), n))
                .collect(),
        );
        let codes = self
            .codes
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (c.to_string(), *n))
            .collect();
        put(D::Codes, codes);
        if !cx.server.is_empty() && self.total > 0 {
            put(D::Servers, vec![(cx.server.to_owned(), self.total)]);
        }
        w
    }
}

/// Entries kept per dimension when exact counts become a window (its sketches' size).
const TRACKED: usize = crate::hub::stats::TRACKED;

fn merge_map<K: std::hash::Hash + Eq>(dst: &mut FastMap<K, u64>, src: FastMap<K, u64>) {
    if dst.is_empty() {
        *dst = src;
        return;
    }
    for (k, n) in src {
        *dst.entry(k).or_default() += n;
    }
}

/// The lines of a block: up to each newline, and a last one without newline if not empty.
struct Lines<'a> {
    text: &'a str,
    newlines: memchr::Memchr<'a>,
    start: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let end = match self.newlines.next() {
            Some(nl) => nl,
            None if self.start < self.text.len() => self.text.len(),
            None => return None,
        };
        // A newline is ASCII, so both ends are character boundaries.
        let line = &self.text[self.start..end];
        self.start = end + 1;
        Some(line)
    }
}

/// The `n` largest counts, most first; ties in key order, so the result never depends on how
/// the input was split among threads.
pub fn top<K: Ord + Clone, Q: Ord>(
    entries: impl IntoIterator<Item = (K, u64)>,
    n: usize,
    order: impl Fn(&K) -> Q,
) -> Vec<(K, u64)> {
    let mut v: Vec<(K, u64)> = entries.into_iter().collect();
    let cmp =
        |a: &(K, u64), b: &(K, u64)| b.1.cmp(&a.1).then_with(|| order(&a.0).cmp(&order(&b.0)));
    if n == 0 {
        return Vec::new();
    }
    if v.len() > n {
        v.select_nth_unstable_by(n - 1, cmp);
        v.truncate(n);
    }
    v.sort_unstable_by(cmp);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"203.0.113.9 - - [24/Nov/2026:13:08:01 +0000] "GET /a?x=1 HTTP/1.1" 200 10 "https://r/" "agent""#;

    #[test]
    fn counts_lines_hits_and_keys() {
        let mut p = Parser::new(None);
        let mut t = Tally::default();
        let text = format!(
            "{LINE}\n\n  \ngarbage\r\n{}\n{}",
            LINE.replace("/a?x=1", r"/b\x41"),
            LINE.replace("200 10", "404 5")
        );
        t.count_block(&mut p, text.as_bytes());
        assert_eq!((t.lines, t.total, t.unparsed, t.bytes), (6, 3, 1, 25));
        assert_eq!((t.codes[200], t.codes[404]), (2, 1));
        let pages: std::collections::HashMap<&str, u64> = t.pages.iter().collect();
        assert_eq!(pages.get("/a"), Some(&2));
        assert_eq!(pages.get("/bA"), Some(&1));
        assert_eq!(t.methods(), vec![("GET", 3)]);
        let mut bad = LINE.as_bytes().to_vec();
        let at = LINE.find("/a?").unwrap() + 1;
        bad[at] = 0xff;
        bad.push(b'\n');
        t.count_block(&mut p, &bad);
        assert_eq!(
            t.total,
            3 + 1,
            "an invalid byte in the path is decoded lossily"
        );
        assert!(t.pages.iter().any(|(k, _)| k.contains('\u{fffd}')));
    }

    #[test]
    fn top_orders_by_count_then_key() {
        let v = top([("b", 2), ("a", 2), ("c", 5), ("d", 1)], 3, |k| *k);
        assert_eq!(v, vec![("c", 5), ("a", 2), ("b", 2)]);
        assert!(top([("a", 1)], 0, |k| *k).is_empty());
    }
}
