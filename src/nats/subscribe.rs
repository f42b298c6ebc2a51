//! The hub's side: subscribes to `webpeek.hits.>` and hands every publisher's hits to the
//! pipeline (a [`HitSink`]) as if they had been read here, each keeping its `server`.
//!
//! Each message taken is answered (publishers send messages as requests): the publisher then
//! knows a hub has it. A message that does not decode is counted and logged once per subject,
//! never fatal (and not answered). A
//! message already received (a publisher resends one whose delivery it could not confirm) is
//! dropped by its publisher's run id and number; a gap in the numbers is counted as missed.
//! The connection's state and these counts are the `nats` field of `stats` and `/api/stats`.
//!
//! With `--jetstream STREAM` the hub reads the stream instead: everything it holds first (the
//! replay that makes a restarted hub's dashboard whole), then each new message. Those messages
//! are not answered: the stream acknowledged them to the publisher when it stored them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use futures_util::StreamExt;

use super::jetstream::{StreamOptions, ensure_stream};
use super::{
    Batch, DecodeError, LinkState, NatsError, NatsOptions, NatsStatus, SUBJECT_PREFIX,
    SUBSCRIBE_SUBJECT, state_text,
};
use crate::hit::Hit;
use crate::hub::Hub;

/// Where received hits go: the hub's pipeline, which counts, filters, enriches and shows them
/// as it does hits read here.
pub trait HitSink: Send + Sync + 'static {
    /// Takes one message's hits, oldest first, each with its `server` set.
    fn take_hits(&self, hits: Vec<Hit>);
}

/// Publishers and subjects remembered at most (a flood of made-up names forgets them all).
const MAX_PUBLISHERS: usize = 10_000;
/// Runs remembered per publisher name (two machines given the same name both pass).
const RUNS_PER_PUBLISHER: usize = 4;

/// What the hub knows of one publisher name.
#[derive(Default)]
struct Seen {
    /// `(run, last message number)`, newest last.
    runs: VecDeque<(String, u64)>,
    /// Hits it said it dropped, as of its last message.
    dropped: u64,
}

/// What to do with a message.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Take it; this many messages before it never arrived.
    Take(u64),
    /// Already taken.
    Duplicate,
}

impl Seen {
    fn judge(&mut self, run: &str, seq: u64) -> Verdict {
        if let Some((_, last)) = self.runs.iter_mut().find(|(r, _)| r == run) {
            if seq <= *last {
                return Verdict::Duplicate;
            }
            let missed = seq - *last - 1;
            *last = seq;
            return Verdict::Take(missed);
        }
        // A run not seen yet: the publisher (re)started, or this hub did.
        if self.runs.len() == RUNS_PER_PUBLISHER {
            self.runs.pop_front();
        }
        self.runs.push_back((run.to_owned(), seq));
        Verdict::Take(0)
    }
}

/// Subscribes to every publisher on the server of `options` and feeds their hits to `sink`,
/// until the client is closed; the connection's state and counts go to `hub`'s stats.
/// Connection failures are retried for ever (the dashboard says "disconnected, retrying").
/// With `--jetstream` the hits come from the stream: first the ones it holds, then live.
pub async fn run(
    options: NatsOptions,
    client_name: String,
    hub: Hub,
    sink: Arc<dyn HitSink>,
) -> Result<(), NatsError> {
    hub.stats().nats = Some(NatsStatus {
        state: state_text(LinkState::Connecting),
        url: options.url().to_owned(),
        stream: options.jetstream().map(|j| j.name.clone()),
        ..NatsStatus::default()
    });
    let (client, link) = options.connect(&client_name, false).await?;
    // The connection's state, for viewers.
    let mut watch = link.watch();
    let status_hub = hub.clone();
    tokio::spawn(async move {
        loop {
            let now = watch.borrow_and_update().clone();
            if let Some(nats) = status_hub.stats().nats.as_mut() {
                nats.state = state_text(now.state);
                nats.error = now.error.clone();
                nats.disconnects = now.disconnects;
                nats.slow = now.slow;
            }
            if watch.changed().await.is_err() {
                return;
            }
        }
    });
    let mut receiver = Receiver {
        hub: hub.clone(),
        counter: Counter::start(hub, sink),
        prefix: format!("{SUBJECT_PREFIX}."),
        seen: HashMap::new(),
        told: HashSet::new(),
    };
    if let Some(stream) = options.jetstream() {
        replay_and_follow(&client, &link, stream, &mut receiver).await;
        return Ok(());
    }
    let mut subscriber = client
        .subscribe(SUBSCRIBE_SUBJECT)
        .await
        .map_err(|e| NatsError::Connect(e.to_string()))?;
    while let Some(message) = subscriber.next().await {
        let answer = receiver
            .take(message.subject.as_str(), &message.payload)
            .await;
        // The answer tells the publisher a hub has the message: it sends the next one. A
        // message with an id went to a JetStream stream, whose acknowledgement the publisher
        // waits for: an answer from here would come first and not be one.
        let for_a_stream = message
            .headers
            .as_ref()
            .is_some_and(|h| h.get(async_nats::header::NATS_MESSAGE_ID).is_some());
        if answer
            && !for_a_stream
            && let Some(reply) = message.reply
        {
            let _ = client.publish(reply, Vec::new().into()).await;
        }
    }
    Ok(())
}

/// Messages taken from the stream at most per pull: up to 1,000 hits and 512 KiB each, so a
/// pull asks for at most 16 MiB, not the whole stream.
const MESSAGES_PER_PULL: i64 = 32;
/// How often the hub checks that the stream it reads is still the same one (deleted and made
/// again, or a server that lost its store, numbers its messages from 1 again).
const STREAM_CHECK: Duration = Duration::from_secs(5);

/// With `--jetstream`: takes every message the stream holds, then the new ones as they come,
/// through an ordered consumer of the hub's own (made again after an outage, from the message
/// after the last one taken). The stream is created when missing; problems are logged once
/// and retried.
async fn replay_and_follow(
    client: &async_nats::Client,
    link: &super::Link,
    options: &StreamOptions,
    receiver: &mut Receiver,
) {
    let js = async_nats::jetstream::new(client.clone());
    // The next message to take, by stream sequence.
    let mut next = 1u64;
    // When the stream read was created: another time is another stream.
    let mut created = None;
    let mut replay = Some(Replay::start(&receiver.hub));
    let mut problem: Option<String> = None;
    let mut wait = Duration::from_millis(50);
    let hub = receiver.hub.clone();
    // Logged once per new problem, and shown to viewers until the stream is read again.
    let complain = |problem: &mut Option<String>, what: String| {
        if problem.as_deref() != Some(what.as_str()) {
            tracing::warn!("NATS {}: {what}; trying again", link.url());
            if let Some(nats) = hub.stats().nats.as_mut() {
                nats.stream_error = Some(what.clone());
            }
            *problem = Some(what);
        }
    };
    let solved = |problem: &mut Option<String>| {
        if problem.take().is_some() {
            if let Some(nats) = hub.stats().nats.as_mut() {
                nats.stream_error = None;
            }
            tracing::info!(
                "NATS {}: reading JetStream stream {} again",
                link.url(),
                options.name
            );
        }
    };
    loop {
        let started = async {
            let stream = ensure_stream(&js, options)
                .await
                .map_err(|e| e.to_string())?;
            let made = stream.cached_info().created;
            if created.is_some_and(|c| c != made) {
                tracing::warn!(
                    "NATS {}: JetStream stream {} was made again (deleted, or the server lost its store): reading it from its first message",
                    link.url(),
                    options.name
                );
                next = 1;
            }
            created = Some(made);
            let deliver_policy = if next == 1 {
                DeliverPolicy::All
            } else {
                DeliverPolicy::ByStartSequence {
                    start_sequence: next,
                }
            };
            let consumer = stream
                .create_consumer(OrderedConfig {
                    deliver_policy,
                    max_batch: MESSAGES_PER_PULL,
                    description: Some("webpeek hub".into()),
                    ..OrderedConfig::default()
                })
                .await
                .map_err(|e| format!("JetStream stream {}: {e}", options.name))?;
            let pending = consumer.cached_info().num_pending;
            let messages = consumer
                .messages()
                .await
                .map_err(|e| format!("JetStream stream {}: {e}", options.name))?;
            Ok::<_, String>((pending, messages))
        };
        let (pending, mut messages) = match started.await {
            Ok(started) => started,
            Err(what) => {
                complain(&mut problem, what);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(super::MAX_RECONNECT_DELAY);
                continue;
            }
        };
        if pending == 0
            && let Some(done) = replay.take()
        {
            receiver.counter.finish(done, &options.name).await;
        }
        let mut check = tokio::time::interval(STREAM_CHECK);
        check.tick().await;
        // A server restarted may have lost the consumer (it is not kept on disk): a new one as
        // soon as the connection is back, rather than when the old one misses its heartbeats.
        let mut status = link.watch();
        let disconnects = status.borrow_and_update().disconnects;
        loop {
            let message = tokio::select! {
                message = messages.next() => message,
                Ok(()) = status.changed() => {
                    let now = status.borrow_and_update().clone();
                    if now.state == super::LinkState::Connected && now.disconnects > disconnects {
                        break;
                    }
                    continue;
                }
                _ = check.tick() => {
                    // Still the same stream? The consumer itself would wait for ever for
                    // message numbers a stream made again reaches only much later.
                    let same = match js.get_stream(&options.name).await {
                        Ok(stream) => created == Some(stream.cached_info().created),
                        Err(e) => {
                            complain(&mut problem, format!("JetStream stream {}: {e}", options.name));
                            false
                        }
                    };
                    if !same {
                        break;
                    }
                    // This consumer has worked for a while.
                    solved(&mut problem);
                    continue;
                }
            };
            let message = match message {
                Some(Ok(message)) => message,
                Some(Err(e)) => {
                    // The ordered consumer mends a missed heartbeat or a deleted consumer by
                    // itself; what it reports here it did not mend (a pull refused: the
                    // consumer lost in a server restart, say): a new one, from `next`, after
                    // a wait that grows while it keeps failing.
                    complain(
                        &mut problem,
                        format!("JetStream stream {}: {e}", options.name),
                    );
                    break;
                }
                None => break,
            };
            wait = Duration::from_millis(50);
            let Ok(info) = message.info() else { continue };
            // An ordered consumer that made itself again before its first message starts
            // from the stream's beginning: what was taken already is skipped.
            if info.stream_sequence < next {
                continue;
            }
            next = info.stream_sequence + 1;
            let pending = info.pending;
            solved(&mut problem);
            receiver
                .take(message.subject.as_str(), &message.payload)
                .await;
            if pending == 0
                && let Some(done) = replay.take()
            {
                receiver.counter.finish(done, &options.name).await;
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(super::MAX_RECONNECT_DELAY);
    }
}

/// A replay of the stream under way: what to say when it is done.
struct Replay {
    started: Instant,
    hits: u64,
}

impl Replay {
    fn start(hub: &Hub) -> Replay {
        let mut stats = hub.stats();
        let nats = stats.nats.as_mut();
        let hits = nats.map_or(0, |nats| {
            nats.replaying = true;
            nats.hits
        });
        Replay {
            started: Instant::now(),
            hits,
        }
    }

    /// The stream held nothing more, and every hit it held is counted: logs how long that
    /// took.
    fn finish(self, hub: &Hub, stream: &str) {
        let hits = hub.stats().nats.as_mut().map_or(0, |nats| {
            nats.replaying = false;
            nats.replayed = nats.hits - self.hits;
            nats.replayed
        });
        let seconds = self.started.elapsed().as_secs_f64();
        tracing::info!(
            "JetStream stream {stream}: replayed {hits} hits in {seconds:.2} s ({:.0} hits/s); following it live",
            hits as f64 / seconds.max(1e-9)
        );
    }
}

/// What the counting thread does, in order.
enum Work {
    /// Count, filter, enrich and show these hits.
    Hits(Vec<Hit>),
    /// The replay is over once what came before is counted.
    Replayed(Replay, String),
}

/// Hands received hits to the sink on a thread of its own: the sink takes a lock and counts
/// (a few µs per hit), which is not work for the runtime's async workers, and the next
/// message is decoded meanwhile (a replay runs on two cores).
struct Counter {
    work: tokio::sync::mpsc::Sender<Work>,
}

/// Messages decoded ahead of the counting thread at most (each up to 1,000 hits).
const COUNT_AHEAD: usize = 4;

impl Counter {
    fn start(hub: Hub, sink: Arc<dyn HitSink>) -> Counter {
        let (work, mut todo) = tokio::sync::mpsc::channel(COUNT_AHEAD);
        std::thread::Builder::new()
            .name("nats-hits".into())
            .spawn(move || {
                while let Some(work) = todo.blocking_recv() {
                    match work {
                        Work::Hits(hits) => sink.take_hits(hits),
                        Work::Replayed(replay, stream) => replay.finish(&hub, &stream),
                    }
                }
            })
            .expect("spawn the NATS counting thread");
        Counter { work }
    }

    async fn hits(&self, hits: Vec<Hit>) {
        let _ = self.work.send(Work::Hits(hits)).await;
    }

    async fn finish(&self, replay: Replay, stream: &str) {
        let _ = self
            .work
            .send(Work::Replayed(replay, stream.to_owned()))
            .await;
    }
}

/// Takes messages from publishers, whichever way they come.
struct Receiver {
    hub: Hub,
    counter: Counter,
    /// `webpeek.hits.`
    prefix: String,
    seen: HashMap<Arc<str>, Seen>,
    /// Subjects whose undecodable messages were logged.
    told: HashSet<String>,
}

impl Receiver {
    /// Takes one message (counts it, and hands its hits to the sink unless it is a duplicate);
    /// returns whether it decoded (and so is answered).
    async fn take(&mut self, subject: &str, payload: &[u8]) -> bool {
        let hub = &self.hub;
        let from_subject = subject.strip_prefix(&self.prefix).unwrap_or(subject);
        let batch = Batch::decode(payload).and_then(|b| {
            if !crate::config::valid_name(&b.server) {
                Err(DecodeError::Name(b.server.chars().take(80).collect()))
            } else if *b.server != *from_subject {
                // NATS permissions may let each server publish on its own subject only: the
                // subject, not the message, says who sent it.
                Err(DecodeError::NotItsSubject(b.server.to_string()))
            } else {
                Ok(b)
            }
        });
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                if let Some(nats) = hub.stats().nats.as_mut() {
                    nats.undecodable += 1;
                }
                if self.told.len() < MAX_PUBLISHERS && self.told.insert(from_subject.to_owned()) {
                    tracing::warn!(
                        "NATS {subject}: {e} (such messages are counted in /metrics; logged once per subject)"
                    );
                }
                return false;
            }
        };
        let seen = &mut self.seen;
        if seen.len() >= MAX_PUBLISHERS && !seen.contains_key(&*batch.server) {
            seen.clear();
        }
        let server: Arc<str> = match seen.get_key_value(&*batch.server) {
            Some((name, _)) => name.clone(),
            None => {
                tracing::info!("NATS: hits from {} (subject {subject})", batch.server);
                Arc::from(&*batch.server)
            }
        };
        let publisher = seen.entry(server.clone()).or_default();
        let verdict = publisher.judge(&batch.run, batch.seq);
        publisher.dropped = batch.dropped;
        let dropped_by_publishers = seen.values().map(|s| s.dropped).sum();
        let n = batch.hits.len() as u64;
        {
            let mut stats = hub.stats();
            if let Some(nats) = stats.nats.as_mut() {
                nats.dropped_by_publishers = dropped_by_publishers;
                match verdict {
                    Verdict::Duplicate => nats.duplicates += 1,
                    Verdict::Take(missed) => {
                        nats.messages += 1;
                        nats.hits += n;
                        nats.missed += missed;
                    }
                }
            }
        }
        match verdict {
            Verdict::Duplicate => return true,
            Verdict::Take(missed) if missed > 0 => tracing::warn!(
                "NATS: {missed} messages from {server} never arrived (counted in /metrics)"
            ),
            Verdict::Take(_) => {}
        }
        let hits = batch
            .hits
            .into_iter()
            .map(|h| h.into_hit(&server))
            .collect();
        self.counter.hits(hits).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_gaps() {
        let mut seen = Seen::default();
        assert_eq!(seen.judge("a", 5), Verdict::Take(0));
        assert_eq!(seen.judge("a", 6), Verdict::Take(0));
        assert_eq!(seen.judge("a", 6), Verdict::Duplicate);
        assert_eq!(seen.judge("a", 4), Verdict::Duplicate);
        assert_eq!(seen.judge("a", 9), Verdict::Take(2));
        // A restart: a new run starts from 1.
        assert_eq!(seen.judge("b", 1), Verdict::Take(0));
        assert_eq!(seen.judge("b", 2), Verdict::Take(0));
        // The old run's resent message is still known.
        assert_eq!(seen.judge("a", 9), Verdict::Duplicate);
        for run in ["c", "d", "e", "f"] {
            seen.judge(run, 1);
        }
        assert_eq!(seen.runs.len(), RUNS_PER_PUBLISHER);
    }
}
