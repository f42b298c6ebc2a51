//! hub: stamps hits with sequence numbers, keeps the backlog and live stats, fans frames out.
//!
//! Every frame is serialized once and shared by reference count with all viewers (a [`Frame`]
//! clone is a pointer copy), and so is each encoding of it for the sockets ([`Encoded`]).
//! Fan-out is a `tokio::sync::broadcast` ring: a viewer that stops reading never slows the
//! stream or another viewer; it falls behind the ring, and the sequence numbers tell it how many
//! hits it missed. Under load, `hits` frames are paced
//! ([`Hub::pace_frames`]): hits published within a short interval after the previous frame wait
//! and go together in the next one, so each viewer gets a bounded number of frames per second.

pub mod history;
pub mod panels;
pub mod stats;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::hit::Hit;
pub use history::HistorySnapshot;
pub use stats::{Stats, StatsSnapshot};

/// Hits per `hits` frame at most; a bigger batch is split.
pub const MAX_FRAME_HITS: usize = 1000;

/// Hits per frame of the backlog. Backlog frames are cut at sequence numbers that are multiples
/// of it, so a whole one is the same for every viewer: it is made once and shared, with its
/// encodings ([`Hub::backlog_frames`]); 10,000 viewers connecting at once then cost one
/// compression of the backlog, not 10,000.
pub const BACKLOG_FRAME_HITS: u64 = 100;

/// Least time between two `hits` frames, per connected viewer ([`Hub::pace_frames`]). Under
/// load, hits that come sooner after the previous frame wait and go together in the next one,
/// so each viewer gets a bounded number of messages a second: 1,000 viewers and more at most 50.
/// A viewer's task writes every frame queued for it with one `writev` (`web/viewer.rs`), so
/// how often a viewer is written to falls to what the machine can send, whatever this allows.
const FRAME_INTERVAL_PER_VIEWER: Duration = Duration::from_micros(20);
/// ... and a hit never waits longer than this for its frame.
const MAX_FRAME_INTERVAL: Duration = Duration::from_millis(20);

/// One serialized message, shared by every viewer (a clone is a reference count).
#[derive(Debug, Clone)]
pub struct Frame(Arc<FrameData>);

/// What a [`Frame`] holds.
#[derive(Debug)]
pub struct FrameData {
    /// The JSON text.
    pub text: Bytes,
    /// Sequence numbers of the hits it carries (`hits` frames only).
    pub seqs: Option<RangeInclusive<u64>>,
    /// The frame as written to sockets, built by the first viewer that needs it.
    pub encoded: Encoded,
}

/// A frame's encodings for the viewers' sockets (WebSocket frame head and payload), each built
/// once, by the first viewer that sends it, and then written as it is to every other socket:
/// with 10,000 viewers, compressing or copying a frame per viewer would be the cost of a frame.
#[derive(Debug, Default)]
pub struct Encoded {
    /// As it is.
    pub plain: OnceLock<Bytes>,
    /// Compressed (permessage-deflate).
    pub deflated: OnceLock<Bytes>,
}

impl Frame {
    fn new(text: Bytes, seqs: Option<RangeInclusive<u64>>) -> Frame {
        Frame(Arc::new(FrameData {
            text,
            seqs,
            encoded: Encoded::default(),
        }))
    }
}

impl std::ops::Deref for Frame {
    type Target = FrameData;
    fn deref(&self) -> &FrameData {
        &self.0
    }
}

/// The messages of the WebSocket contract (DESIGN.md section 3).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Message<'a> {
    /// First message to every viewer.
    Hello {
        /// Protocol version.
        version: u32,
        /// `webpeek <version>`.
        server: &'a str,
        /// Sequence number of the newest hit.
        seq: u64,
        /// Backlog size.
        backlog: usize,
        /// This hub's name (`--name`).
        name: &'a str,
        /// Least seconds between two changes of the page preview (`--preview-every`).
        preview_every: f64,
        /// This hub's run: random at each start. A viewer's `resume` names the run its `after`
        /// counts in, so a number from another hub (behind a balancer) or an earlier run is not
        /// taken for one of this run's.
        boot: &'a str,
        /// The site's base URL (`--site`), which previews need; `null` without it.
        site: Option<&'a str>,
    },
    /// A batch of hits.
    Hits {
        /// The hits, oldest first.
        hits: &'a [Arc<Hit>],
    },
    /// Host names for addresses, from reverse DNS.
    Hosts {
        /// Address to name.
        hosts: &'a HashMap<IpAddr, String>,
    },
    /// Live aggregates.
    Stats(&'a StatsSnapshot),
    /// Requests and status classes per second and per minute, right after `hello`.
    History(&'a HistorySnapshot),
    /// The viewer fell behind and missed this many hits.
    Lagged {
        /// How many.
        missed: u64,
    },
}

impl Message<'_> {
    /// Serializes the message once.
    pub fn to_text(&self) -> Bytes {
        // Hits run to a few hundred bytes each: reserve once rather than grow by doubling.
        let guess = match self {
            Message::Hits { hits } => 512 * hits.len(),
            Message::History(_) => 64 * 1024,
            _ => 256,
        };
        let mut out = Vec::with_capacity(guess);
        serde_json::to_writer(&mut out, self).expect("messages serialize");
        out.into()
    }
}

/// Sizes of the hub's bounded buffers.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Hits kept for late viewers.
    pub backlog: usize,
    /// Frames a viewer may fall behind before it starts missing hits.
    pub queue: usize,
    /// This hub's name, told to viewers.
    pub name: Arc<str>,
    /// Least time between two changes of the page preview, told to viewers.
    pub preview_every: std::time::Duration,
    /// The site's URL (`--site`): referers from it are not a referring site.
    pub site: Option<String>,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            backlog: 1000,
            queue: 1024,
            name: "webpeek".into(),
            preview_every: std::time::Duration::from_secs(5),
            site: None,
        }
    }
}

struct Backlog {
    hits: VecDeque<Arc<Hit>>,
    last_seq: u64,
    /// Names of recent clients, so late viewers get them with the backlog.
    hosts: HashMap<IpAddr, String>,
    /// Hits published but not sent yet: they wait for the pacing interval.
    pending: Vec<Arc<Hit>>,
    /// When the last `hits` frame went out.
    last_frame: Option<Instant>,
}

struct Inner {
    options: HubOptions,
    /// This run's id ([`Message::Hello`]'s `boot`).
    boot: String,
    backlog: Mutex<Backlog>,
    stats: Mutex<Stats>,
    frames: broadcast::Sender<Frame>,
    /// Whether [`Hub::pace_frames`] runs; without it every batch is sent at once.
    paced: AtomicBool,
    /// Wakes the pacer when hits wait.
    waiting: tokio::sync::Notify,
    /// Whole backlog frames by their block number (first sequence number / [`BACKLOG_FRAME_HITS`]),
    /// oldest first; as many as the backlog holds, and two more.
    backlog_frames: Mutex<VecDeque<(u64, Frame)>>,
    /// The last `stats` frame's numbers without its chart changes, for viewers who connect
    /// before the next one.
    last_stats: Mutex<Option<Bytes>>,
    /// The `history` message as of the last `stats` frame, for viewers that lagged (they
    /// missed `stats` frames): made once a second, not once per lagging viewer.
    last_history: Mutex<Option<Bytes>>,
}

/// What a new viewer starts from.
pub struct Subscription {
    /// The backlog's hits, oldest first.
    pub backlog: Vec<Arc<Hit>>,
    /// Known host names for the backlog's addresses.
    pub hosts: HashMap<IpAddr, String>,
    /// Sequence number of the newest hit at the moment of the snapshot.
    pub last_seq: u64,
    /// The `history` message: the charts' data at the moment of the snapshot, which the
    /// `stats` frames from then on bring up to date.
    pub history: Bytes,
    /// The last `stats` frame's numbers (a `stats` message without chart changes), so the
    /// dashboard is whole before the next one; none before the first.
    pub stats: Option<Bytes>,
    /// Live frames from the moment of the snapshot on.
    pub frames: broadcast::Receiver<Frame>,
}

/// The fan-out point between the pipeline and the viewers. Cheap to clone.
#[derive(Clone)]
pub struct Hub(Arc<Inner>);

impl Hub {
    /// A hub with these buffer sizes.
    pub fn new(options: HubOptions) -> Hub {
        let (frames, _) = broadcast::channel(options.queue.max(1));
        Hub(Arc::new(Inner {
            backlog: Mutex::new(Backlog {
                hits: VecDeque::with_capacity(options.backlog),
                last_seq: 0,
                hosts: HashMap::new(),
                pending: Vec::new(),
                last_frame: None,
            }),
            stats: Mutex::new(Stats::with_site(options.site.as_deref())),
            frames,
            paced: AtomicBool::new(false),
            waiting: tokio::sync::Notify::new(),
            backlog_frames: Mutex::new(VecDeque::new()),
            last_stats: Mutex::new(None),
            last_history: Mutex::new(None),
            boot: format!("{:016x}", rand::random::<u64>()),
            options,
        }))
    }

    /// This run's id, as `hello` tells it.
    pub fn boot(&self) -> &str {
        &self.0.boot
    }

    /// The hub's buffer sizes.
    pub fn options(&self) -> &HubOptions {
        &self.0.options
    }

    /// Locks the aggregates, for counting a batch or reading them.
    pub fn stats(&self) -> MutexGuard<'_, Stats> {
        self.0.stats.lock().expect("stats lock")
    }

    /// Sequence number of the newest hit.
    pub fn last_seq(&self) -> u64 {
        self.0.backlog.lock().expect("backlog lock").last_seq
    }

    /// Viewers subscribed right now.
    pub fn viewers(&self) -> usize {
        self.0.frames.receiver_count()
    }

    /// Stamps, keeps and sends hits; one frame per [`MAX_FRAME_HITS`]. Returns the stamped
    /// hits (for counting them once they are on their way).
    pub fn publish(&self, hits: Vec<Hit>) -> Vec<Arc<Hit>> {
        if hits.is_empty() {
            return Vec::new();
        }
        let mut backlog = self.0.backlog.lock().expect("backlog lock");
        let mut stamped = Vec::with_capacity(hits.len());
        for mut hit in hits {
            backlog.last_seq += 1;
            hit.seq = backlog.last_seq;
            stamped.push(Arc::new(hit));
        }
        let cap = self.0.options.backlog;
        for hit in stamped.iter().skip(stamped.len().saturating_sub(cap)) {
            if backlog.hits.len() == cap {
                backlog.hits.pop_front();
            }
            backlog.hits.push_back(hit.clone());
        }
        // With nobody watching there is nothing to serialize; the backlog has the hits.
        if self.0.frames.receiver_count() == 0 {
            backlog.pending.clear();
            return stamped;
        }
        backlog.pending.extend(stamped.iter().cloned());
        if self.0.paced.load(Ordering::Relaxed) && self.too_soon(&backlog) {
            // Under load: the pacer sends them with whatever comes until the interval is over.
            self.0.waiting.notify_one();
        } else {
            // A quiet stream: at once.
            self.send_pending(&mut backlog);
        }
        stamped
    }

    /// The least time between two `hits` frames for the viewers connected now.
    fn frame_interval(&self) -> Duration {
        let viewers = self.0.frames.receiver_count() as u32;
        (FRAME_INTERVAL_PER_VIEWER * viewers).min(MAX_FRAME_INTERVAL)
    }

    /// Whether the last `hits` frame went out less than [`Hub::frame_interval`] ago.
    fn too_soon(&self, backlog: &Backlog) -> bool {
        let interval = self.frame_interval();
        backlog
            .last_frame
            .is_some_and(|sent| sent.elapsed() < interval)
    }

    /// Serializes and sends the waiting hits, in frames of at most [`MAX_FRAME_HITS`].
    /// Called under the backlog lock, so a subscriber's snapshot and its
    /// live frames neither overlap nor leave a gap.
    fn send_pending(&self, backlog: &mut Backlog) {
        for chunk in backlog.pending.chunks(MAX_FRAME_HITS) {
            let text = Message::Hits { hits: chunk }.to_text();
            let seqs = chunk[0].seq..=chunk[chunk.len() - 1].seq;
            let _ = self.0.frames.send(Frame::new(text, Some(seqs)));
        }
        backlog.pending.clear();
        backlog.last_frame = Some(Instant::now());
    }

    /// Sends waiting hits once the pacing interval after the previous frame is over; runs for
    /// as long as the hub serves viewers. Until it runs, every batch is sent at once.
    pub async fn pace_frames(self) {
        self.0.paced.store(true, Ordering::Relaxed);
        loop {
            self.0.waiting.notified().await;
            let due = {
                let backlog = self.0.backlog.lock().expect("backlog lock");
                backlog.last_frame.map(|sent| sent + self.frame_interval())
            };
            if let Some(due) = due {
                tokio::time::sleep_until(due.into()).await;
            }
            let mut backlog = self.0.backlog.lock().expect("backlog lock");
            if !backlog.pending.is_empty() {
                self.send_pending(&mut backlog);
            }
        }
    }

    /// Backlog hits (oldest first, as from [`Subscription::backlog`]) as `hits` frames of at most
    /// [`BACKLOG_FRAME_HITS`], cut at multiples of it: a whole block is made once and shared by
    /// every viewer that is sent it; a part of one (at either end) is made for the caller.
    pub fn backlog_frames(&self, hits: &[Arc<Hit>]) -> Vec<Frame> {
        let n = BACKLOG_FRAME_HITS;
        let keep = (self.0.options.backlog as u64).div_ceil(n) as usize + 2;
        let mut out = Vec::new();
        let mut rest = hits;
        while let Some(first) = rest.first() {
            let block = first.seq.saturating_sub(1) / n;
            let len = rest.partition_point(|h| h.seq <= (block + 1) * n);
            let (chunk, tail) = rest.split_at(len.max(1));
            rest = tail;
            let make = || {
                let seqs = chunk[0].seq..=chunk[chunk.len() - 1].seq;
                Frame::new(Message::Hits { hits: chunk }.to_text(), Some(seqs))
            };
            // Sequence numbers are consecutive in the backlog: n hits from the block's first.
            if chunk.len() as u64 != n || chunk[0].seq != block * n + 1 {
                out.push(make());
                continue;
            }
            let mut cache = self.0.backlog_frames.lock().expect("backlog frames lock");
            let frame = match cache.iter().find(|(b, _)| *b == block) {
                Some((_, frame)) => frame.clone(),
                None => {
                    let frame = make();
                    // The lowest block goes: a resumed viewer may bring an old one in late.
                    if cache.len() >= keep
                        && let Some(lowest) = (0..cache.len()).min_by_key(|&i| cache[i].0)
                    {
                        cache.remove(lowest);
                    }
                    cache.push_back((block, frame.clone()));
                    frame
                }
            };
            out.push(frame);
        }
        out
    }

    /// Sends host names that reverse DNS found, and remembers them for late viewers.
    pub fn publish_hosts(&self, names: HashMap<IpAddr, String>) {
        if names.is_empty() {
            return;
        }
        let text = Message::Hosts { hosts: &names }.to_text();
        self.stats().remember_names(&names);
        let mut backlog = self.0.backlog.lock().expect("backlog lock");
        // Bounded: forget old names once far more are known than the backlog can show.
        if backlog.hosts.len() > 4 * self.0.options.backlog.max(256) {
            backlog.hosts.clear();
        }
        backlog.hosts.extend(names);
        let _ = self.0.frames.send(Frame::new(text, None));
    }

    /// Sends the current aggregates to every viewer, with the charts' buckets counted in
    /// since the previous time.
    pub fn publish_stats(&self, now: i64) -> StatsSnapshot {
        let mut stats = self.stats();
        let mut snapshot = stats.snapshot(now);
        snapshot.history = Some(stats.history_changes(now));
        let text = Message::Stats(&snapshot).to_text();
        // Sent under the stats lock, as viewers subscribe: a new viewer's history either has
        // these changes already or this frame brings them.
        let _ = self.0.frames.send(Frame::new(text, None));
        let history = stats.history(now);
        drop(stats);
        // For viewers that connect or lag before the next frame (whole buckets: frames older
        // or newer than these leave them right once applied in order).
        snapshot.history = None;
        let plain = Message::Stats(&snapshot).to_text();
        *self.0.last_stats.lock().expect("stats frame lock") = Some(plain);
        let history = Message::History(&history).to_text();
        *self.0.last_history.lock().expect("stats frame lock") = Some(history);
        snapshot
    }

    /// The `history` message as of the last `stats` frame; none before the first.
    pub fn last_history(&self) -> Option<Bytes> {
        self.0
            .last_history
            .lock()
            .expect("stats frame lock")
            .clone()
    }

    /// The `hello` message for a new viewer whose snapshot ends at `seq`.
    pub fn hello(&self, seq: u64) -> Bytes {
        Message::Hello {
            version: 1,
            server: concat!("webpeek ", env!("CARGO_PKG_VERSION")),
            seq,
            backlog: self.0.options.backlog,
            name: &self.0.options.name,
            preview_every: self.0.options.preview_every.as_secs_f64(),
            boot: &self.0.boot,
            site: self.0.options.site.as_deref(),
        }
        .to_text()
    }

    /// Subscribes a viewer: a snapshot of the backlog and the charts, then live frames from
    /// that moment on.
    pub fn subscribe(&self) -> Subscription {
        // Under the stats lock (then the backlog's, the order the pipeline takes them in): no
        // `stats` frame's chart changes fall between the history and the live frames.
        let mut stats = self.stats();
        let history = stats.history(crate::unix_now());
        let last_stats = self.0.last_stats.lock().expect("stats frame lock").clone();
        let mut backlog = self.0.backlog.lock().expect("backlog lock");
        // Waiting hits go to the viewers already there: the snapshot holds them for this one.
        if !backlog.pending.is_empty() {
            self.send_pending(&mut backlog);
        }
        let hits: Vec<_> = backlog.hits.iter().cloned().collect();
        let hosts = hits
            .iter()
            .filter_map(|h| {
                let ip = h.ip?;
                backlog.hosts.get(&ip).map(|n| (ip, n.clone()))
            })
            .collect();
        let frames = self.0.frames.subscribe();
        let last_seq = backlog.last_seq;
        drop(backlog);
        drop(stats);
        Subscription {
            backlog: hits,
            hosts,
            last_seq,
            // Serialized out of the locks; as text it is half the size.
            history: Message::History(&history).to_text(),
            stats: last_stats,
            frames,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(path: &str) -> Hit {
        Hit {
            seq: 0,
            time: 0,
            ip: "203.0.113.1".parse().ok(),
            host: None,
            method: "GET".into(),
            path: path.into(),
            query: None,
            protocol: None,
            status: 200,
            bytes: 0,
            referer: None,
            agent: None,
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
    fn backlog_is_bounded_and_resumable() {
        let hub = Hub::new(HubOptions {
            backlog: 3,
            queue: 8,
            ..HubOptions::default()
        });
        hub.publish((0..5).map(|i| hit(&format!("/{i}"))).collect());
        let sub = hub.subscribe();
        assert_eq!(
            sub.backlog.iter().map(|h| h.seq).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(sub.last_seq, 5);
        assert_eq!(hub.last_seq(), 5);
    }

    #[test]
    fn one_frame_per_batch_shared_by_all() {
        let hub = Hub::new(HubOptions::default());
        let mut a = hub.subscribe().frames;
        let mut b = hub.subscribe().frames;
        hub.publish(vec![hit("/x"), hit("/y")]);
        let fa = a.try_recv().unwrap();
        let fb = b.try_recv().unwrap();
        assert_eq!(fa.seqs, Some(1..=2));
        // Same allocation: serialized once.
        assert_eq!(fa.text.as_ptr(), fb.text.as_ptr());
        let v: serde_json::Value = serde_json::from_slice(&fa.text).unwrap();
        assert_eq!(v["type"], "hits");
        assert_eq!(v["hits"][1]["path"], "/y");
        assert_eq!(v["hits"][1]["seq"], 2);
    }

    #[tokio::test]
    async fn frames_are_paced_under_load() {
        let hub = Hub::new(HubOptions::default());
        tokio::spawn(hub.clone().pace_frames());
        tokio::task::yield_now().await;
        // 5,000 viewers: frames at least 20 ms apart.
        let mut viewers: Vec<_> = (0..5000).map(|_| hub.subscribe().frames).collect();
        let start = Instant::now();
        hub.publish(vec![hit("/a")]);
        hub.publish(vec![hit("/b")]);
        hub.publish(vec![hit("/c")]);
        let first = viewers[0].recv().await.unwrap();
        assert_eq!(first.seqs, Some(1..=1), "a quiet stream's hit goes at once");
        let next = viewers[0].recv().await.unwrap();
        assert_eq!(
            next.seqs,
            Some(2..=3),
            "hits within the interval go together"
        );
        assert!(start.elapsed() >= Duration::from_millis(18));
        // A new viewer's snapshot holds what was waiting; nothing reaches it twice.
        hub.publish(vec![hit("/d")]);
        let late = hub.subscribe();
        assert_eq!(late.last_seq, 4);
        for seqs in [1..=1, 2..=3, 4..=4] {
            assert_eq!(viewers[1].try_recv().unwrap().seqs, Some(seqs));
        }
        viewers.truncate(2);
    }

    #[test]
    fn whole_backlog_frames_are_shared() {
        let hub = Hub::new(HubOptions {
            backlog: 1000,
            ..HubOptions::default()
        });
        hub.publish((0..1050).map(|i| hit(&format!("/{i}"))).collect());
        let sub = hub.subscribe();
        // Hits 51..=1050: a part of block 0, nine whole blocks, a part of block 10.
        let a = hub.backlog_frames(&sub.backlog);
        let ranges: Vec<_> = a.iter().map(|f| f.seqs.clone().unwrap()).collect();
        assert_eq!(ranges.len(), 11);
        assert_eq!(ranges[0], 51..=100);
        assert_eq!(ranges[1], 101..=200);
        assert_eq!(ranges[10], 1001..=1050);
        let b = hub.backlog_frames(&sub.backlog);
        let shared = |i: usize| Arc::ptr_eq(&a[i].0, &b[i].0);
        assert!((1..10).all(shared), "whole blocks are made once");
        assert!(!shared(0) && !shared(10), "parts are made for each viewer");
        // A resume from 150 on: a part of block 1, then the same whole blocks.
        let start = sub.backlog.partition_point(|h| h.seq <= 150);
        let c = hub.backlog_frames(&sub.backlog[start..]);
        assert_eq!(c[0].seqs, Some(151..=200));
        assert!(Arc::ptr_eq(&c[1].0, &a[2].0));
        let v: serde_json::Value = serde_json::from_slice(&c[0].text).unwrap();
        assert_eq!(v["hits"].as_array().unwrap().len(), 50);
    }

    #[test]
    fn hello_and_hosts() {
        let hub = Hub::new(HubOptions::default());
        let v: serde_json::Value = serde_json::from_slice(&hub.hello(0)).unwrap();
        assert_eq!(
            (
                v["type"].as_str(),
                v["version"].as_u64(),
                v["backlog"].as_u64()
            ),
            (Some("hello"), Some(1), Some(1000))
        );
        hub.publish(vec![hit("/")]);
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        hub.publish_hosts(HashMap::from([(ip, "a.example".to_string())]));
        assert_eq!(
            hub.subscribe().hosts.get(&ip).map(String::as_str),
            Some("a.example")
        );
    }
}
