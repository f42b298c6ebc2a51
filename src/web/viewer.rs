//! One viewer's WebSocket: hello, optional resume, backlog, then live frames until it leaves,
//! stops reading, stops answering pings, or sends more than a small control message.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::{Counters, WebState};
use crate::filter::ViewerGuard;
use crate::hub;

/// Hits per frame of the backlog. tungstenite keeps a write buffer as large as the largest
/// message a socket ever sent: 1,000 hits (~450 KiB) would stay with every viewer, 4.5 GB for
/// 10,000 of them; 100 hits (~45 KiB) is the size of the `history` message sent anyway.
const BACKLOG_FRAME_HITS: usize = 100;

/// How long a new viewer has to ask for a resume before it gets the whole backlog (the
/// dashboard always asks at once, with `after: 0` when it has seen nothing).
const RESUME_WAIT: Duration = Duration::from_millis(200);

#[derive(Deserialize)]
struct ClientMessage {
    #[serde(rename = "type")]
    kind: String,
    after: Option<u64>,
}

/// Sends, giving up on a viewer whose socket has accepted nothing for the write timeout
/// (counted as dropped for being slow).
async fn send(
    socket: &mut WebSocket,
    text: axum::extract::ws::Utf8Bytes,
    state: &WebState,
) -> bool {
    match tokio::time::timeout(state.limits.write_timeout, socket.send(Message::Text(text))).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            Counters::add(&state.counters.dropped_slow);
            false
        }
    }
}

/// Serves one viewer (registered for the filter and the limits until it leaves) until it
/// disconnects or is dropped.
pub async fn run(mut socket: WebSocket, state: WebState, registered: ViewerGuard) {
    let _registered = registered;
    let hub = &state.hub;
    // Subscribe first: hits published while this viewer decides whether to resume wait in its
    // queue, and the backlog snapshot covers everything up to the hello's `seq`.
    let mut sub = hub.subscribe();
    let mut last = sub.last_seq;
    if !send(&mut socket, hub.hello(last), &state).await {
        return;
    }
    // The charts' data, so a dashboard opened mid-day is whole at once.
    if !send(&mut socket, hub.history(crate::unix_now()), &state).await {
        return;
    }
    let mut after = None;
    match tokio::time::timeout(RESUME_WAIT, socket.recv()).await {
        Ok(Some(Ok(msg))) if super::refuse_oversize(&mut socket, &msg).await => {
            Counters::add(&state.counters.dropped_oversize);
            return;
        }
        Ok(Some(Ok(Message::Text(t)))) => {
            if let Ok(m) = serde_json::from_str::<ClientMessage>(t.as_str())
                && m.kind == "resume"
            {
                // 0 is a viewer that has seen nothing yet: the whole backlog, nothing missed.
                // A sequence number from before a server restart is ignored.
                after = m.after.filter(|&a| a > 0 && a <= last);
            }
        }
        Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => return,
        _ => {}
    }
    let backlog = match after {
        Some(after) => {
            let start = sub.backlog.partition_point(|h| h.seq <= after);
            let first = sub.backlog.get(start).map_or(last + 1, |h| h.seq);
            if first > after + 1 {
                let missed = first - after - 1;
                if !send(
                    &mut socket,
                    hub::Message::Lagged { missed }.to_text(),
                    &state,
                )
                .await
                {
                    return;
                }
            }
            &sub.backlog[start..]
        }
        None => &sub.backlog[..],
    };
    for chunk in backlog.chunks(BACKLOG_FRAME_HITS) {
        if !send(
            &mut socket,
            hub::Message::Hits { hits: chunk }.to_text(),
            &state,
        )
        .await
        {
            return;
        }
    }
    if !sub.hosts.is_empty()
        && !send(
            &mut socket,
            hub::Message::Hosts { hosts: &sub.hosts }.to_text(),
            &state,
        )
        .await
    {
        return;
    }
    // What the viewer holds from here on is its place in the ring and its socket.
    drop(sub.backlog);
    drop(sub.hosts);
    let mut closing = state.closing.clone();
    // Anything the viewer sends (a pong above all) shows it is still there.
    let mut heard = tokio::time::Instant::now();
    let mut ping = tokio::time::interval(state.limits.ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            _ = async { let _ = closing.wait_for(|c| *c).await; } => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            frame = sub.frames.recv() => match frame {
                Ok(frame) => {
                    if let Some(seqs) = &frame.seqs {
                        if *seqs.start() > last + 1 {
                            let missed = seqs.start() - last - 1;
                            if !send(&mut socket, hub::Message::Lagged { missed }.to_text(), &state).await {
                                return;
                            }
                        }
                        last = *seqs.end();
                    }
                    if !send(&mut socket, frame.text, &state).await {
                        return;
                    }
                }
                // The sequence gap on the next hits frame says how many hits were missed.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
            _ = ping.tick() => {
                if heard.elapsed() >= state.limits.silent_for {
                    Counters::add(&state.counters.dropped_silent);
                    tracing::debug!("dropped a viewer that stopped answering pings");
                    return;
                }
                let ping = tokio::time::timeout(
                    state.limits.write_timeout,
                    socket.send(Message::Ping(Default::default())),
                );
                if !matches!(ping.await, Ok(Ok(()))) {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(msg)) => {
                    if super::refuse_oversize(&mut socket, &msg).await {
                        Counters::add(&state.counters.dropped_oversize);
                        return;
                    }
                    heard = tokio::time::Instant::now();
                }
            },
        }
    }
}
