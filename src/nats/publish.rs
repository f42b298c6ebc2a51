//! The publisher's side: a bounded queue of hits between the pipeline and NATS, and the task
//! that sends it, message by message, in order, through outages.
//!
//! Core NATS delivers at most once, and a plain `publish` returns once the client has *queued*
//! the message. So each message goes out as a request, and a hub answers it once it has taken
//! the hits: the publisher sends the next message only after an answer. "No responders" (the
//! server knows no subscriber: no hub runs, or hubs and publishers are reconnecting after a
//! server restart) keeps the message and tries again a little later; a connection lost before
//! the answer sends it again (a hub drops a message it already has by the publisher's run id
//! and message number). A subscriber that never answers (`nats sub`, an older hub) still gets
//! each message: after [`ANSWER_TIMEOUT`] on the same connection it counts as delivered.
//!
//! With `--jetstream STREAM` each message goes into the stream instead, and the stream's
//! acknowledgement (the server has stored it) confirms it, whether a hub runs or not. A
//! message sent again after a lost acknowledgement carries the same id and is stored once.
//!
//! While nothing can be delivered the queue keeps at most `--buffer` hits: past that the
//! oldest go, counted and logged. While delivery works and is merely slower than the logs, the
//! reader waits instead (nothing is dropped; the lines wait in the file).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use rand::RngExt;
use tokio::sync::Notify;

use super::jetstream::StreamOptions;
use super::{Batch, Link, LinkState, MAX_MESSAGE_BYTES, MAX_MESSAGE_HITS, NatsError, NatsOptions};
use crate::hit::{Hit, LineStart};

/// How long a message waits for a hub's answer before it counts as delivered anyway (when the
/// connection is still the same one: somebody that does not answer has it).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait before asking again while no hub listens (or the stream cannot be written).
const NO_HUB_RETRY: Duration = Duration::from_secs(1);
/// Failed attempts in a row to store a message before the publisher says so and buffers.
const STORE_FAILURES: u32 = 3;
/// How long a server has to answer a ping after a message went unanswered: one that does not
/// is behind a half-open connection, and the message is sent again on a new one.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// What the publisher counted.
#[derive(Debug, Default)]
pub struct Counters {
    /// Hits the server confirmed.
    pub published: AtomicU64,
    /// Messages the server confirmed.
    pub messages: AtomicU64,
    /// Messages sent again because their delivery could not be confirmed.
    pub resent: AtomicU64,
    /// Hits dropped because the buffer was full while nothing could be delivered.
    pub dropped: AtomicU64,
    /// Hits dropped because one alone was bigger than the server takes in a message.
    pub too_big: AtomicU64,
}

struct QueueState {
    hits: VecDeque<Hit>,
    /// Where the line of each hit not delivered yet starts: first those of the `taken` hits the
    /// publisher has on their way, then one per queued hit, in order.
    starts: VecDeque<Option<LineStart>>,
    /// Hits taken by the publisher and not confirmed yet.
    taken: usize,
    capacity: usize,
    /// The connection is up (or the first attempt is under way).
    link_up: bool,
    /// No hub answered the last message ("no responders").
    no_hub: bool,
    /// No more hits will come.
    closed: bool,
    /// Dropped since the last report in the log.
    dropped_unreported: u64,
}

struct QueueInner {
    state: Mutex<QueueState>,
    /// Signalled when the queue has room (or the connection went down).
    room: Condvar,
    /// Signalled when hits arrive (or the queue closes).
    ready: Notify,
    counters: Arc<Counters>,
}

/// The bounded queue between the pipeline (on the readers' threads) and the publishing task.
/// Cheap to clone.
#[derive(Clone)]
pub struct HitQueue(Arc<QueueInner>);

impl HitQueue {
    /// A queue of at most `capacity` hits.
    pub fn new(capacity: usize) -> HitQueue {
        HitQueue(Arc::new(QueueInner {
            state: Mutex::new(QueueState {
                hits: VecDeque::new(),
                starts: VecDeque::new(),
                taken: 0,
                capacity: capacity.max(1),
                link_up: true,
                no_hub: false,
                closed: false,
                dropped_unreported: 0,
            }),
            room: Condvar::new(),
            ready: Notify::new(),
            counters: Arc::default(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.0.state.lock().expect("queue lock")
    }

    /// Queues hits, in order, each with where its line starts (`starts`, one per hit; `None`
    /// for a stream's). Blocks (on a reader's thread) while the queue is full and delivery
    /// works; while it does not (NATS unreachable, no hub listening), drops the oldest hits to
    /// make room.
    pub fn push(&self, hits: Vec<Hit>, starts: Vec<Option<LineStart>>) {
        debug_assert_eq!(hits.len(), starts.len());
        if hits.is_empty() {
            return;
        }
        let mut state = self.lock();
        for (hit, start) in hits.into_iter().zip(starts) {
            while state.hits.len() >= state.capacity
                && state.link_up
                && !state.no_hub
                && !state.closed
            {
                // Woken when the publisher takes hits, or the connection goes down; the
                // timeout is only a safety net.
                state = self
                    .0
                    .room
                    .wait_timeout(state, Duration::from_millis(500))
                    .expect("queue lock")
                    .0;
                self.0.ready.notify_one();
            }
            if state.hits.len() >= state.capacity {
                state.hits.pop_front();
                // The oldest queued hit's start comes right after those on their way.
                let taken = state.taken;
                state.starts.remove(taken);
                if state.dropped_unreported == 0 {
                    tracing::warn!(
                        "the buffer is full ({} hits) and {}: dropping the oldest hits (counted)",
                        state.capacity,
                        if state.no_hub {
                            "nothing takes them (no hub listens, or the JetStream stream cannot be written)"
                        } else {
                            "NATS is unreachable"
                        }
                    );
                }
                state.dropped_unreported += 1;
                self.0.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            state.hits.push_back(hit);
            state.starts.push_back(start);
        }
        drop(state);
        self.0.ready.notify_one();
    }

    /// Hits waiting.
    pub fn len(&self) -> usize {
        self.lock().hits.len()
    }

    /// Whether no hit is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the publisher counted.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.0.counters
    }

    /// Where the first undelivered line of each file starts (queued, or taken and not
    /// confirmed yet): `--state` saves no position past it, so a restart sends it.
    pub fn undelivered(&self) -> HashMap<(u64, u64), u64> {
        let mut first = HashMap::new();
        for start in self.lock().starts.iter().flatten() {
            first
                .entry(start.file)
                .and_modify(|o: &mut u64| *o = (*o).min(start.offset))
                .or_insert(start.offset);
        }
        first
    }

    /// Takes up to `max` of the oldest hits; they stay undelivered until [`HitQueue::confirm`].
    fn take(&self, max: usize) -> Vec<Hit> {
        let mut state = self.lock();
        let n = state.hits.len().min(max);
        let taken: Vec<Hit> = state.hits.drain(..n).collect();
        state.taken += n;
        drop(state);
        if n > 0 {
            self.0.room.notify_all();
        }
        taken
    }

    /// The oldest `n` hits taken are delivered (or dropped as too big): their lines no longer
    /// hold `--state` back.
    fn confirm(&self, n: usize) {
        let mut state = self.lock();
        let n = n.min(state.taken);
        state.starts.drain(..n);
        state.taken -= n;
    }

    /// Tells the queue whether the connection is up.
    fn set_link_up(&self, up: bool) {
        self.lock().link_up = up;
        self.0.room.notify_all();
    }

    /// Tells the queue whether a hub listens; returns what it was.
    fn set_no_hub(&self, no_hub: bool) -> bool {
        let was = std::mem::replace(&mut self.lock().no_hub, no_hub);
        self.0.room.notify_all();
        was
    }

    /// No more hits will be pushed.
    fn close(&self) {
        self.lock().closed = true;
        self.0.room.notify_all();
        self.0.ready.notify_one();
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Dropped hits not reported in the log yet, when the queue has drained.
    fn take_unreported_drops(&self) -> Option<u64> {
        let mut state = self.lock();
        (state.hits.is_empty() && state.dropped_unreported > 0)
            .then(|| std::mem::take(&mut state.dropped_unreported))
    }
}

/// A running publisher: hits pushed into [`Publisher::queue`] go to `webpeek.hits.<name>`.
pub struct Publisher {
    queue: HitQueue,
    link: Link,
    /// The sending task, until [`Publisher::finish`].
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Hits taken from the queue and not confirmed yet.
    in_flight: Arc<AtomicU64>,
    subject: String,
}

impl Publisher {
    /// Connects (in the background: a server that is down is retried until it is up) and
    /// starts publishing what `queue` receives as `name`.
    pub async fn start(
        options: &NatsOptions,
        name: &str,
        queue: HitQueue,
    ) -> Result<Publisher, NatsError> {
        let (client, link) = options
            .connect(&format!("webpeek publish {name}"), true)
            .await?;
        let subject = super::subject(name);
        let in_flight = Arc::new(AtomicU64::new(0));
        // The queue drops only while the server is unreachable (or no hub listens).
        let mut watch = link.watch();
        let connected_queue = queue.clone();
        tokio::spawn(async move {
            loop {
                let up = {
                    let s = watch.borrow_and_update();
                    s.state == LinkState::Connected
                        || (s.state == LinkState::Connecting && s.error.is_none())
                };
                connected_queue.set_link_up(up);
                if watch.changed().await.is_err() {
                    return;
                }
            }
        });
        let jetstream = options
            .jetstream()
            .map(|o| (async_nats::jetstream::new(client.clone()), o.clone()));
        let task = tokio::spawn(
            Sender {
                client,
                link: link.clone(),
                queue: queue.clone(),
                subject: subject.clone(),
                name: name.to_owned(),
                run: format!("{:016x}", rand::rng().random::<u64>()),
                in_flight: in_flight.clone(),
                jetstream,
                stream_ready: false,
                stream_problem: None,
                probe: None,
                probe_broken: false,
            }
            .run(),
        );
        Ok(Publisher {
            queue,
            link,
            task: Mutex::new(Some(task)),
            in_flight,
            subject,
        })
    }

    /// The subject hits go to.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The connection's state.
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// The publisher's counters as a Prometheus `/metrics` page (`--metrics-listen`).
    pub fn metrics(&self) -> String {
        use crate::metrics::Kind::{Counter, Gauge};
        let c = self.queue.counters();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let link = self.link.status();
        let mut page = crate::metrics::MetricsPage::default();
        page.one(
            "publish_connected",
            Gauge,
            "1 while the NATS connection is up.",
            u64::from(link.state == LinkState::Connected),
        );
        page.one(
            "publish_disconnects_total",
            Counter,
            "Times the NATS connection was lost.",
            link.disconnects,
        );
        page.one(
            "publish_buffered_hits",
            Gauge,
            "Hits waiting to be delivered.",
            self.queue.len() as u64 + self.in_flight.load(Ordering::Relaxed),
        );
        page.one(
            "publish_messages_total",
            Counter,
            "Messages delivered (a hub answered, or the JetStream stream stored them).",
            load(&c.messages),
        );
        page.one(
            "publish_resent_total",
            Counter,
            "Messages sent again because their delivery could not be confirmed.",
            load(&c.resent),
        );
        page.labelled(
            "publish_hits_total",
            Counter,
            "Hits, by what became of them.",
            "result",
            &[
                ("published", load(&c.published)),
                ("dropped", load(&c.dropped)),
                ("too_big", load(&c.too_big)),
            ],
        );
        page.into_string()
    }

    /// Resolves when the server refuses the credentials: a publisher that cannot sign in stops
    /// (exit code 1) rather than buffer forever.
    pub async fn refused(&self) -> NatsError {
        let mut watch = self.link.watch();
        loop {
            if watch.borrow_and_update().refused > 0 {
                return NatsError::Authorization(self.link.url().to_owned());
            }
            if watch.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// After the readers stopped: delivers what is queued, for at most `limit`; returns how
    /// many hits could not be delivered in that time.
    pub async fn finish(&self, limit: Duration) -> u64 {
        self.queue.close();
        let task = self.task.lock().expect("task lock").take();
        if let Some(mut task) = task
            && tokio::time::timeout(limit, &mut task).await.is_err()
        {
            task.abort();
        }
        self.queue.len() as u64 + self.in_flight.load(Ordering::Relaxed)
    }
}

/// The publishing task.
struct Sender {
    client: async_nats::Client,
    link: Link,
    queue: HitQueue,
    subject: String,
    name: String,
    run: String,
    in_flight: Arc<AtomicU64>,
    /// `--jetstream`: messages go into this stream.
    jetstream: Option<(async_nats::jetstream::Context, StreamOptions)>,
    /// The stream is known to exist.
    stream_ready: bool,
    /// Why the stream could not be used, as last logged.
    stream_problem: Option<String>,
    /// The inbox of the connection check, once used.
    probe: Option<(String, async_nats::Subscriber)>,
    /// The connection check cannot pass here (said once).
    probe_broken: bool,
}

impl Sender {
    async fn run(mut self) {
        let counters = self.queue.counters().clone();
        let mut seq = 0u64;
        let mut pending: VecDeque<Hit> = VecDeque::new();
        loop {
            if pending.len() < MAX_MESSAGE_HITS {
                pending.extend(self.queue.take(MAX_MESSAGE_HITS - pending.len()));
            }
            self.in_flight
                .store(pending.len() as u64, Ordering::Relaxed);
            if pending.is_empty() {
                if let Some(dropped) = self.queue.take_unreported_drops() {
                    tracing::warn!(
                        "NATS {}: the buffered hits are delivered; {dropped} were dropped while none could be ({} in all)",
                        self.link.url(),
                        counters.dropped.load(Ordering::Relaxed)
                    );
                }
                if self.queue.is_closed() && self.queue.is_empty() {
                    return;
                }
                self.queue.0.ready.notified().await;
                continue;
            }
            let max_bytes = MAX_MESSAGE_BYTES.min(self.client.max_payload().saturating_sub(1024));
            let hits = pending.make_contiguous();
            let (payload, n) = Batch::encode(
                &self.name,
                &self.run,
                seq + 1,
                counters.dropped.load(Ordering::Relaxed),
                hits,
                max_bytes,
            );
            if payload.len() > self.client.max_payload() {
                // One hit alone over the server's limit (a 64 KiB line of escapes with a small
                // `max_payload`): it cannot be sent.
                counters.too_big.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "NATS {}: a hit of {} bytes is over the server's message limit; dropped",
                    self.link.url(),
                    payload.len()
                );
                pending.pop_front();
                self.queue.confirm(1);
                continue;
            }
            let delivered = if self.jetstream.is_some() {
                self.store(payload, seq + 1).await
            } else {
                self.deliver(&payload).await
            };
            if !delivered {
                // The server takes less than it said before (another server after a
                // reconnect): encode again, smaller.
                continue;
            }
            seq += 1;
            pending.drain(..n);
            self.queue.confirm(n);
            counters.published.fetch_add(n as u64, Ordering::Relaxed);
            counters.messages.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sends one message until a hub has answered it (or a subscriber that does not answer
    /// has it); false when it is over the server's limit.
    async fn deliver(&mut self, payload: &[u8]) -> bool {
        let counters = self.queue.counters().clone();
        let mut no_hub_wait = Duration::from_millis(50);
        // The connection was made again once for this message because the server did not
        // answer the check.
        let mut reconnected = false;
        loop {
            self.connected().await;
            let stats = self.client.statistics();
            let connection = stats.connects.load(Ordering::Relaxed);
            let request = async_nats::Request::new()
                .payload(payload.to_vec().into())
                .timeout(Some(ANSWER_TIMEOUT));
            let answer = self
                .client
                .send_request(self.subject.clone(), request)
                .await;
            let same = stats.connects.load(Ordering::Relaxed) == connection
                && self.client.connection_state() == State::Connected;
            let kind = answer.as_ref().err().map(|e| e.kind());
            let unanswered = same && kind == Some(async_nats::RequestErrorKind::TimedOut);
            // Somebody that does not answer has the message, or the connection is half-open
            // (the server gone without a word): a ping tells which.
            if unanswered && !self.server_answers().await {
                if !reconnected {
                    tracing::debug!(
                        "NATS {}: the server does not answer, reconnecting and sending again",
                        self.link.url()
                    );
                    counters.resent.fetch_add(1, Ordering::Relaxed);
                    reconnected = true;
                    let _ = self.client.force_reconnect().await;
                    continue;
                }
                // Not answered on a new connection either: the check itself cannot pass (no
                // permission for this client's inbox?). The message counts as delivered, as
                // it did before the check.
                if !self.probe_broken {
                    tracing::warn!(
                        "NATS {}: cannot check the connection (publishing to this client's _INBOX is refused?): a message nobody answers counts as delivered",
                        self.link.url()
                    );
                    self.probe_broken = true;
                }
            }
            match kind {
                None => {}
                Some(async_nats::RequestErrorKind::TimedOut) if same => {}
                Some(async_nats::RequestErrorKind::NoResponders) => {
                    if !self.queue.set_no_hub(true) {
                        tracing::warn!(
                            "NATS {}: no hub listens on {}; keeping the hits (at most --buffer) until one does",
                            self.link.url(),
                            self.subject
                        );
                    }
                    tokio::time::sleep(no_hub_wait).await;
                    no_hub_wait = (no_hub_wait * 2).min(NO_HUB_RETRY);
                    continue;
                }
                Some(async_nats::RequestErrorKind::MaxPayloadExceeded) => return false,
                Some(other) => {
                    tracing::debug!(
                        "NATS {}: delivery not confirmed ({other:?}), sending again",
                        self.link.url()
                    );
                    counters.resent.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            if self.queue.set_no_hub(false) {
                tracing::info!("NATS {}: a hub listens again", self.link.url());
            }
            return true;
        }
    }

    /// Whether the server relays a message now, by a round trip to an inbox only this client
    /// listens on (nobody else can swallow or answer it).
    async fn server_answers(&mut self) -> bool {
        use futures_util::{FutureExt, StreamExt};
        if self.probe.is_none() {
            let inbox = self.client.new_inbox();
            match self.client.subscribe(inbox.clone()).await {
                Ok(subscriber) => self.probe = Some((inbox, subscriber)),
                Err(_) => return false,
            }
        }
        let Some((inbox, subscriber)) = self.probe.as_mut() else {
            return false;
        };
        // An answer to an earlier check that came late.
        while let Some(Some(_)) = subscriber.next().now_or_never() {}
        let token = format!("{:016x}", rand::rng().random::<u64>());
        if self
            .client
            .publish(inbox.clone(), token.clone().into())
            .await
            .is_err()
        {
            return false;
        }
        let deadline = tokio::time::Instant::now() + PING_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, subscriber.next()).await {
                Ok(Some(m)) if m.payload == token.as_bytes() => return true,
                Ok(Some(_)) => continue,
                _ => return false,
            }
        }
    }

    /// Stores one message in the JetStream stream (creating the stream when it is missing),
    /// until the server has acknowledged it; false when it is over the server's limit.
    async fn store(&mut self, payload: Vec<u8>, seq: u64) -> bool {
        let (js, options) = self.jetstream.clone().expect("--jetstream");
        let counters = self.queue.counters().clone();
        let id = super::jetstream::message_id(&self.run, seq);
        // Shared by every attempt to send it.
        let payload = bytes::Bytes::from(payload);
        let mut wait = Duration::from_millis(50);
        // Failed attempts in a row.
        let mut failures = 0u32;
        loop {
            self.connected().await;
            if !self.stream_ready {
                match super::jetstream::ensure_stream(&js, &options).await {
                    Ok(_) => self.stream_ready = true,
                    Err(e) => {
                        self.stream_unusable(e.to_string());
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(NO_HUB_RETRY);
                        continue;
                    }
                }
            }
            let message = PublishMessage::build()
                .payload(payload.clone())
                .message_id(&id);
            let stored = match js.send_publish(self.subject.clone(), message).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            let error = match stored {
                Ok(_) => {
                    let was_stuck = self.queue.set_no_hub(false);
                    if self.stream_problem.take().is_some() || was_stuck {
                        tracing::info!(
                            "NATS {}: storing hits in JetStream stream {} again",
                            self.link.url(),
                            options.name
                        );
                    }
                    return true;
                }
                Err(e) => e,
            };
            match error.kind() {
                PublishErrorKind::MaxPayloadExceeded => return false,
                // Deleted meanwhile, or the server lost it: made again above.
                PublishErrorKind::StreamNotFound => self.stream_ready = false,
                _ => {
                    counters.resent.fetch_add(1, Ordering::Relaxed);
                    failures += 1;
                    if failures < STORE_FAILURES {
                        tracing::debug!(
                            "NATS {}: storing not confirmed ({error}), sending again",
                            self.link.url()
                        );
                    } else {
                        // Not a passing hiccup (the server refuses: its limits, its disk).
                        self.stream_unusable(format!(
                            "JetStream stream {}: storing fails ({error})",
                            options.name
                        ));
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(NO_HUB_RETRY);
                }
            }
        }
    }

    /// The stream cannot take messages now: said once per new problem, and the hits wait in
    /// the buffer (the oldest dropped past it) instead of holding the reader.
    fn stream_unusable(&mut self, problem: String) {
        if self.stream_problem.as_ref() != Some(&problem) {
            tracing::warn!(
                "NATS {}: {problem}; keeping the hits (at most --buffer) and trying again",
                self.link.url()
            );
            self.stream_problem = Some(problem);
        }
        self.queue.set_no_hub(true);
    }

    /// Waits until the client is connected (for ever: the client retries for ever).
    async fn connected(&self) {
        let mut watch = self.link.watch();
        while self.client.connection_state() != State::Connected {
            // The state changes before the event arrives: look again now and then.
            let _ = tokio::time::timeout(Duration::from_millis(100), watch.changed()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_full_queue_drops_the_oldest_while_disconnected() {
        let queue = HitQueue::new(3);
        queue.set_link_up(false);
        queue.push((0..5).map(crate::nats::tests::hit).collect(), vec![None; 5]);
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.counters().dropped.load(Ordering::Relaxed), 2);
        let kept: Vec<String> = queue.take(10).into_iter().map(|h| h.path).collect();
        assert_eq!(
            kept,
            [
                "/docs/page-2.html",
                "/docs/page-3.html",
                "/docs/page-4.html"
            ]
        );
        assert_eq!(queue.take_unreported_drops(), Some(2));
        assert_eq!(queue.take_unreported_drops(), None);
    }

    #[test]
    fn undelivered_lines_are_those_queued_or_taken_and_not_confirmed() {
        let at = |file, offset| Some(LineStart { file, offset });
        let (a, b) = ((1, 10), (1, 11));
        let queue = HitQueue::new(4);
        queue.set_link_up(false);
        let starts = vec![at(a, 0), at(b, 0), at(a, 100), None, at(a, 200), at(b, 50)];
        queue.push((0..6).map(crate::nats::tests::hit).collect(), starts);
        // The two oldest were dropped: counted, and no longer held back.
        assert_eq!(queue.undelivered(), HashMap::from([(a, 100), (b, 50)]));
        assert_eq!(queue.take(2).len(), 2);
        assert_eq!(queue.undelivered(), HashMap::from([(a, 100), (b, 50)]));
        // A drop while hits are on their way takes the oldest queued (at 200), not one on
        // its way (at 100).
        queue.push(
            (6..9).map(crate::nats::tests::hit).collect(),
            vec![at(a, 300), at(a, 400), at(a, 500)],
        );
        assert_eq!(queue.len(), 4);
        assert_eq!(queue.undelivered(), HashMap::from([(a, 100), (b, 50)]));
        queue.confirm(2);
        assert_eq!(queue.undelivered(), HashMap::from([(a, 300), (b, 50)]));
        let rest = queue.take(10);
        assert_eq!(rest.len(), 4);
        queue.confirm(4);
        assert!(queue.undelivered().is_empty());
    }

    #[test]
    fn a_full_queue_makes_the_reader_wait_while_connected() {
        let queue = HitQueue::new(2);
        let reader = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                queue.push((0..6).map(crate::nats::tests::hit).collect(), vec![None; 6])
            })
        };
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < 6 && Instant::now() < deadline {
            got.extend(queue.take(1).into_iter().map(|h| h.path));
            std::thread::sleep(Duration::from_millis(5));
        }
        reader.join().unwrap();
        let want: Vec<String> = (0..6).map(|i| format!("/docs/page-{i}.html")).collect();
        assert_eq!(got, want);
        assert_eq!(queue.counters().dropped.load(Ordering::Relaxed), 0);
    }
}
