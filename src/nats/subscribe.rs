//! The hub's side: subscribes to `webpeek.hits.>` and hands every publisher's hits to the
//! pipeline (a [`HitSink`]) as if they had been read here, each keeping its `server`.
//!
//! Each message taken is answered (publishers send messages as requests): the publisher then
//! knows a hub has it. A message that does not decode is counted and logged once per subject,
//! never fatal (and not answered). A
//! message already received (a publisher resends one whose delivery it could not confirm) is
//! dropped by its publisher's run id and number; a gap in the numbers is counted as missed.
//! The connection's state and these counts are the `nats` field of `stats` and `/api/stats`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use futures_util::StreamExt;

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
pub async fn run(
    options: NatsOptions,
    client_name: String,
    hub: Hub,
    sink: Arc<dyn HitSink>,
) -> Result<(), NatsError> {
    hub.stats().nats = Some(NatsStatus {
        state: state_text(LinkState::Connecting),
        url: options.url().to_owned(),
        ..NatsStatus::default()
    });
    let (client, link) = options.connect(&client_name, false).await?;
    let mut subscriber = client
        .subscribe(SUBSCRIBE_SUBJECT)
        .await
        .map_err(|e| NatsError::Connect(e.to_string()))?;
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
    let prefix = format!("{SUBJECT_PREFIX}.");
    let mut seen: HashMap<Arc<str>, Seen> = HashMap::new();
    let mut told: HashSet<String> = HashSet::new();
    while let Some(message) = subscriber.next().await {
        let subject = message.subject.as_str();
        let from_subject = subject.strip_prefix(&prefix).unwrap_or(subject);
        let batch = Batch::decode(&message.payload).and_then(|b| {
            if crate::config::valid_name(&b.server) {
                Ok(b)
            } else {
                Err(DecodeError::Name(b.server.chars().take(80).collect()))
            }
        });
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                if let Some(nats) = hub.stats().nats.as_mut() {
                    nats.undecodable += 1;
                }
                if told.len() < MAX_PUBLISHERS && told.insert(from_subject.to_owned()) {
                    tracing::warn!(
                        "NATS {subject}: {e} (such messages are counted in /metrics; logged once per subject)"
                    );
                }
                continue;
            }
        };
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
        // The answer tells the publisher a hub has the message: it sends the next one.
        let answer = async {
            if let Some(reply) = message.reply.clone() {
                let _ = client.publish(reply, Vec::new().into()).await;
            }
        };
        match verdict {
            Verdict::Duplicate => {
                answer.await;
                continue;
            }
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
        sink.take_hits(hits);
        answer.await;
    }
    Ok(())
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
