//! One viewer's WebSocket: hello, optional resume, backlog, then live frames until it leaves,
//! stops reading, stops answering pings, or sends more than a small control message. Live
//! frames go out as the bytes every viewer shares ([`hub::Encoded`]).

use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::socket::{Incoming, Socket, SocketError};
use super::{Counters, WebState};
use crate::filter::ViewerGuard;
use crate::hub;

/// Hits per frame of the backlog. A frame is written whole to the socket (so its size bounds
/// what one write holds up), and 100 hits (~45 KiB of JSON) is the size of the `history`
/// message sent anyway.
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

/// Writes encoded frames, giving up on a viewer whose socket has accepted nothing for the
/// write timeout (counted as dropped for being slow).
async fn send_frame(socket: &mut Socket, frame: &[u8], state: &WebState) -> bool {
    // The timer only starts if the write has to wait: most writes are done on their first try.
    match tokio::time::timeout(state.limits.write_timeout, socket.send(frame)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            Counters::add(&state.counters.dropped_slow);
            false
        }
    }
}

/// Encodes a message for this viewer alone (compressed if agreed) and sends it.
async fn send(socket: &mut Socket, text: Bytes, state: &WebState) -> bool {
    let frame = super::socket::text_frame(&text, socket.deflate());
    send_frame(socket, &frame, state).await
}

/// A shared frame as this viewer's socket takes it, encoded by the first viewer that needed it.
fn encoded(frame: &hub::Frame, deflate: bool) -> &Bytes {
    let slot = if deflate {
        &frame.encoded.deflated
    } else {
        &frame.encoded.plain
    };
    slot.get_or_init(|| super::socket::text_frame(&frame.text, deflate))
}

/// What the viewer's message means for its socket: go on, or end (after closing with 1009 for
/// a message over the limit, counted).
async fn heard(socket: &mut Socket, msg: Result<Incoming, SocketError>, state: &WebState) -> bool {
    match msg {
        Ok(Incoming::Ping(payload)) => socket.pong(&payload).await.is_ok(),
        Ok(Incoming::Close(code)) => {
            // Answer the close handshake, then end.
            let _ = socket.close(code.filter(|&c| c != 1005), "").await;
            false
        }
        Ok(_) => true,
        Err(SocketError::TooBig) => {
            Counters::add(&state.counters.dropped_oversize);
            let _ = socket
                .close(Some(1009), "message too big (4 KiB at most)")
                .await;
            false
        }
        Err(SocketError::Protocol(why)) => {
            tracing::debug!("closed a viewer's WebSocket: {why}");
            let _ = socket.close(Some(1002), why).await;
            false
        }
        Err(SocketError::Io(_)) => false,
    }
}

/// Serves one viewer (registered for the filter and the limits until it leaves) until it
/// disconnects or is dropped.
pub async fn run(mut socket: Socket, state: WebState, registered: ViewerGuard) {
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
    let resume_by = tokio::time::Instant::now() + RESUME_WAIT;
    loop {
        let Ok(msg) = tokio::time::timeout_at(resume_by, socket.recv()).await else {
            break;
        };
        if let Ok(Incoming::Text(t)) = &msg {
            if let Ok(m) = serde_json::from_str::<ClientMessage>(t)
                && m.kind == "resume"
            {
                // 0 is a viewer that has seen nothing yet: the whole backlog, nothing missed.
                // A sequence number from before a server restart is ignored.
                after = m.after.filter(|&a| a > 0 && a <= last);
            }
            break;
        }
        let data = matches!(msg, Ok(Incoming::Binary(_)));
        if !heard(&mut socket, msg, &state).await {
            return;
        }
        if data {
            break;
        }
    }
    // What the viewer says from here on only shows it is there: measured, not decoded.
    socket.ignore_data();
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
    let mut heard_at = tokio::time::Instant::now();
    let mut ping = tokio::time::interval(state.limits.ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            _ = async { let _ = closing.wait_for(|c| *c).await; } => {
                let _ = socket.close(Some(1001), "server shutting down").await;
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
                    let deflate = socket.deflate();
                    if !send_frame(&mut socket, encoded(&frame, deflate), &state).await {
                        return;
                    }
                    frame.written();
                }
                // The sequence gap on the next hits frame says how many hits were missed.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
            _ = ping.tick() => {
                if heard_at.elapsed() >= state.limits.silent_for {
                    Counters::add(&state.counters.dropped_silent);
                    tracing::debug!("dropped a viewer that stopped answering pings");
                    return;
                }
                let ping = tokio::time::timeout(state.limits.write_timeout, socket.ping());
                if !matches!(ping.await, Ok(Ok(()))) {
                    return;
                }
            }
            msg = socket.recv() => {
                if !heard(&mut socket, msg, &state).await {
                    return;
                }
                heard_at = tokio::time::Instant::now();
            }
        }
    }
}
