//! Live aggregates over the stream, bounded in memory whatever the log's size.
//!
//! Counters are exact; distinct visitors are a HyperLogLog++ estimate and the top lists are
//! filtered space-saving sketches, so memory stays flat as the log grows.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use cardinality_estimator::CardinalityEstimator;
use serde::Serialize;
use topk::FilteredSpaceSaving;

use super::history::{History, HistoryChanges, HistorySnapshot};
use super::panels::{Panels, PanelsSnapshot, Request, Window};
use crate::hit::{Hit, Rfc3339};

/// Entries each top list tracks (more than it shows, for accuracy).
pub const TRACKED: usize = 64;
/// Entries each top list shows.
const SHOWN: usize = 10;
/// Seconds of per-second counts kept for the rate.
const RATE_WINDOW: usize = 300;
/// Seconds the reported rate averages over.
const RATE_AVERAGE: usize = 5;
/// How old (by its own time) a request may be when it arrives and still count in the rate:
/// buffered logs (nginx's `access_log ... flush=`) arrive some seconds late.
const RATE_MAX_AGE: i64 = 60;

/// Approximate top-k counter for one dimension.
pub struct TopList(FilteredSpaceSaving<String>);

impl Default for TopList {
    fn default() -> Self {
        TopList(FilteredSpaceSaving::new(TRACKED))
    }
}

impl std::fmt::Debug for TopList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TopList")
    }
}

impl TopList {
    /// Counts one occurrence of `key`.
    pub fn add(&mut self, key: &str) {
        self.0.insert(key.to_owned(), 1);
    }

    /// Counts `n` occurrences of `key` (exact counts from a pass over existing content).
    pub fn add_n(&mut self, key: &str, n: u64) {
        if n > 0 {
            self.0.insert(key.to_owned(), n);
        }
    }

    /// The most frequent keys with their (estimated) counts, most first.
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut v: Vec<_> = self
            .0
            .iter()
            .map(|(k, c)| (k.clone(), c.estimated_count()))
            .collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

/// Everything `/api/stats` and the `stats` frame report.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests parsed.
    pub total: u64,
    /// Requests shown to viewers.
    pub shown: u64,
    /// Lines that matched no format.
    pub unparsed: u64,
    /// Lines cut at the length limit.
    pub truncated: u64,
    status: [u64; 5],
    /// Requests per wall-clock second, newest last: (unix second, count).
    per_second: VecDeque<(i64, u64)>,
    visitors: Visitors,
    pages: TopList,
    referers: TopList,
    hosts: TopList,
    browsers: TopList,
    os: TopList,
    bots: u64,
    people: u64,
    history: History,
    panels: Panels,
    /// Reverse-DNS names of clients, for the addresses the host panels list (bounded).
    names: HashMap<IpAddr, Arc<str>>,
    /// The NATS connection and what came over it (`--nats`), kept up to date by
    /// [`crate::nats::subscribe`].
    pub nats: Option<crate::nats::NatsStatus>,
}

/// Distinct client addresses, estimated.
struct Visitors(CardinalityEstimator<IpAddr>);

impl Default for Visitors {
    fn default() -> Self {
        Visitors(CardinalityEstimator::new())
    }
}

impl std::fmt::Debug for Visitors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Visitors({})", self.0.estimate())
    }
}

impl Stats {
    /// Aggregates that leave the site's own pages (`--site`) out of the referring sites.
    pub fn with_site(site: Option<&str>) -> Stats {
        Stats {
            panels: Panels::new(site),
            ..Stats::default()
        }
    }

    /// Counts one parsed request (shown or not), arriving at wall-clock second `now`.
    pub fn count_request(&mut self, r: &Request<'_>, now: i64) {
        self.total += 1;
        self.history.count(r.time, r.status, now);
        self.panels.count(r, now);
        if let Some(slot) = (r.status / 100)
            .checked_sub(1)
            .and_then(|i| self.status.get_mut(usize::from(i)))
        {
            *slot += 1;
        }
        if let Some(ip) = r.ip {
            self.visitors.0.insert(&ip);
        }
        // A format without a request has no page to count.
        if !r.path.is_empty() {
            self.pages.add(r.path);
        }
        if let Some(referer) = r.referer {
            self.referers.add(referer);
        }
        // The rate is the site's now: a request stamped long before it arrived (a JetStream
        // replay, a catch-up) is history, not traffic.
        if r.time < now - RATE_MAX_AGE {
            return;
        }
        match self.per_second.back_mut() {
            Some((sec, n)) if *sec == now => *n += 1,
            _ => {
                self.per_second.push_back((now, 1));
                if self.per_second.len() > RATE_WINDOW {
                    self.per_second.pop_front();
                }
            }
        }
    }

    /// Starts from what a pass over a log's existing content counted (the report's fast path,
    /// before following it): totals, status classes, client addresses, top lists, requests
    /// per minute and the panels' "since start" window.
    pub fn seed(&mut self, seed: Seed, addresses: impl Iterator<Item = IpAddr>, now: i64) {
        self.total += seed.total;
        self.unparsed += seed.unparsed;
        self.truncated += seed.truncated;
        for (a, b) in self.status.iter_mut().zip(seed.status) {
            *a += b;
        }
        for ip in addresses {
            self.visitors.0.insert(&ip);
        }
        for (k, n) in &seed.pages {
            self.pages.add_n(k, *n);
        }
        for (k, n) in &seed.referers {
            self.referers.add_n(k, *n);
        }
        self.history.add_minutes(seed.minutes, now);
        self.panels.seed(seed.panels);
    }

    /// Remembers reverse-DNS names, to name the addresses of the host panels.
    pub fn remember_names<'a>(
        &mut self,
        names: impl IntoIterator<Item = (&'a IpAddr, &'a String)>,
    ) {
        // Bounded: a busy day sees more names than any panel shows.
        if self.names.len() > 16_384 {
            self.names.clear();
        }
        for (ip, name) in names {
            self.names.insert(*ip, name.as_str().into());
        }
    }

    /// Requests per second and per minute by the log's time, ending `now`.
    pub fn history(&mut self, now: i64) -> HistorySnapshot {
        self.history.snapshot(now)
    }

    /// The buckets of the history counted in since the last call (and the newest of each
    /// window), for the next `stats` frame.
    pub fn history_changes(&mut self, now: i64) -> HistoryChanges {
        self.history.changes(now)
    }

    /// Counts a hit that viewers see, after enrichment.
    pub fn count_shown(&mut self, hit: &Hit) {
        self.shown += 1;
        match (&hit.host, hit.ip) {
            (Some(host), _) => self.hosts.add(host),
            (None, Some(ip)) => self.hosts.add(&ip.to_string()),
            (None, None) => {}
        }
        if let Some(b) = &hit.browser {
            self.browsers.add(b);
        }
        if let Some(o) = &hit.os {
            self.os.add(o);
        }
        if hit.bot {
            self.bots += 1;
        } else {
            self.people += 1;
        }
    }

    /// Requests per second over the last few whole seconds before `now`.
    pub fn rate(&self, now: i64) -> f64 {
        let from = now - RATE_AVERAGE as i64;
        let n: u64 = self
            .per_second
            .iter()
            .filter(|(s, _)| *s >= from && *s < now)
            .map(|(_, n)| n)
            .sum();
        n as f64 / RATE_AVERAGE as f64
    }

    /// A serializable picture of the aggregates at `now`.
    pub fn snapshot(&self, now: i64) -> StatsSnapshot {
        let [s1, s2, s3, s4, s5] = self.status;
        let panels = self.panels.snapshot(now);
        let names = [&panels.recent.hosts, &panels.all.hosts]
            .into_iter()
            .flatten()
            .filter_map(|(ip, _)| {
                let name = self.names.get(&ip.parse().ok()?)?;
                Some((ip.clone(), name.to_string()))
            })
            .collect();
        StatsSnapshot {
            panels,
            names,
            time: Rfc3339(now).to_string(),
            rate: self.rate(now),
            total: self.total,
            shown: self.shown,
            unparsed: self.unparsed,
            truncated: self.truncated,
            visitors: self.visitors.0.estimate() as u64,
            status: StatusClasses { s1, s2, s3, s4, s5 },
            top: TopLists {
                pages: self.pages.top(SHOWN),
                referers: self.referers.top(SHOWN),
                hosts: self.hosts.top(SHOWN),
                browsers: self.browsers.top(SHOWN),
                os: self.os.top(SHOWN),
            },
            bots: BotsPeople {
                bots: self.bots,
                people: self.people,
            },
            nats: self.nats.clone(),
            history: None,
        }
    }
}

/// What a pass over existing content hands to [`Stats::seed`].
#[derive(Debug, Default)]
pub struct Seed {
    /// Requests parsed.
    pub total: u64,
    /// Lines that did not parse.
    pub unparsed: u64,
    /// Lines cut at the length limit.
    pub truncated: u64,
    /// Requests by status class, 1xx to 5xx.
    pub status: [u64; 5],
    /// The most requested paths, with their counts (at most [`TRACKED`]).
    pub pages: Vec<(String, u64)>,
    /// The most frequent referers.
    pub referers: Vec<(String, u64)>,
    /// Requests per minute of log time.
    pub minutes: Vec<(i64, [u64; 5])>,
    /// The panels' "since start" window.
    pub panels: Window,
}

/// The `stats` message body (DESIGN.md section 3).
#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    /// When, RFC 3339.
    pub time: String,
    /// Requests per second, recent average.
    pub rate: f64,
    /// Requests parsed.
    pub total: u64,
    /// Requests shown.
    pub shown: u64,
    /// Lines that did not parse.
    pub unparsed: u64,
    /// Lines cut at 64 KiB.
    pub truncated: u64,
    /// Distinct clients (estimate).
    pub visitors: u64,
    /// Requests by status class.
    pub status: StatusClasses,
    /// Top lists.
    pub top: TopLists,
    /// Shown hits from crawlers vs people.
    pub bots: BotsPeople,
    /// The dashboard's panels, last five minutes and since start.
    pub panels: PanelsSnapshot,
    /// Reverse-DNS names of the addresses in the host panels.
    pub names: HashMap<String, String>,
    /// The NATS connection's state and counts; `null` without `--nats`.
    pub nats: Option<crate::nats::NatsStatus>,
    /// In the `stats` frames only: the charts' buckets counted in since the previous frame,
    /// whole, and the newest of each window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryChanges>,
}

/// Requests by status class.
#[derive(Debug, Clone, Serialize)]
pub struct StatusClasses {
    #[serde(rename = "1xx")]
    s1: u64,
    #[serde(rename = "2xx")]
    s2: u64,
    #[serde(rename = "3xx")]
    s3: u64,
    #[serde(rename = "4xx")]
    s4: u64,
    #[serde(rename = "5xx")]
    s5: u64,
}

/// The top lists, each `[[key, count], ...]`, most first.
#[derive(Debug, Clone, Serialize)]
pub struct TopLists {
    /// Paths, all requests.
    pub pages: Vec<(String, u64)>,
    /// Referers, all requests.
    pub referers: Vec<(String, u64)>,
    /// Client host names or addresses, shown hits.
    pub hosts: Vec<(String, u64)>,
    /// Browser families, shown hits.
    pub browsers: Vec<(String, u64)>,
    /// OS families, shown hits.
    pub os: Vec<(String, u64)>,
}

/// Shown hits split by the bot flag.
#[derive(Debug, Clone, Serialize)]
pub struct BotsPeople {
    /// From crawlers and programs.
    pub bots: u64,
    /// From browsers.
    pub people: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_statuses_rate_and_tops() {
        let mut s = Stats::default();
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        for i in 0..30u16 {
            let path = if i % 3 == 0 { "/a" } else { "/b" };
            let r = Request {
                time: 100,
                ip: Some(ip),
                method: "GET",
                path,
                status: 200 + (i % 2) * 204,
                referer: Some("https://r/"),
                ..Request::default()
            };
            s.count_request(&r, 100 + i64::from(i / 10));
        }
        let r = Request {
            time: 103,
            ip: "203.0.113.2".parse().ok(),
            path: "/c",
            status: 999,
            ..Request::default()
        };
        s.count_request(&r, 103);
        let snap = s.snapshot(104);
        assert_eq!(snap.total, 31);
        assert_eq!(
            (snap.status.s2, snap.status.s4, snap.status.s5),
            (15, 15, 0)
        );
        assert_eq!(snap.visitors, 2);
        assert_eq!(snap.top.pages[0], ("/b".to_string(), 20));
        assert_eq!(snap.top.referers[0].1, 30);
        // Seconds 99..=103 hold 31 requests.
        assert!((snap.rate - 31.0 / 5.0).abs() < 1e-9, "{}", snap.rate);
        let json = serde_json::to_value(&snap).unwrap();
        assert_eq!(json["status"]["4xx"], 15);
        assert_eq!(json["top"]["pages"][0][0], "/b");
    }

    #[test]
    fn the_rate_leaves_out_requests_from_long_ago() {
        let mut s = Stats::default();
        let now = 1_800_000_000;
        // A replay of an hour ago, then ten requests of now, and ten buffered for 30 s.
        for (time, n) in [(now - 3600, 500), (now, 10), (now - 30, 10)] {
            for _ in 0..n {
                let r = Request {
                    time,
                    path: "/",
                    status: 200,
                    ..Request::default()
                };
                s.count_request(&r, now);
            }
        }
        let snap = s.snapshot(now + 1);
        assert_eq!(snap.total, 520);
        assert!((snap.rate - 20.0 / 5.0).abs() < 1e-9, "{}", snap.rate);
    }
}
