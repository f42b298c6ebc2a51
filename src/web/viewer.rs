//! One viewer's WebSocket: hello, optional resume, backlog, then live frames until it leaves,
//! stops reading, stops answering pings, or sends more than a small control message. Live
//! frames go out as the bytes every viewer shares ([`hub::Encoded`]).

use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::socket::{Incoming, Socket, SocketError};
use super::{Counters, WebState};
use crate::filter::ViewerGuard;
use crate::hub;

/// How long a new viewer has to ask for a resume before it gets the whole backlog (the
/// dashboard always asks at once, with `after: 0` when it has seen nothing).
const RESUME_WAIT: Duration = Duration::from_millis(200);

#[derive(Deserialize)]
struct ClientMessage {
    #[serde(rename = "type")]
    kind: String,
    after: Option<u64>,
    /// The run `after` counts in (`hello`'s `boot`), when the viewer knows it.
    boot: Option<String>,
}

/// Writes encoded frames (with one `writev` when the socket takes them all); false if the
/// viewer is gone, or was dropped for being slow (its socket took nothing for the write
/// timeout; counted).
async fn send_frames(socket: &mut Socket, frames: &[Bytes], state: &WebState) -> bool {
    sent(socket.send_all(frames).await, state)
}

/// Whether a write went out; a timed-out one is counted as a viewer dropped for being slow.
fn sent(result: std::io::Result<()>, state: &WebState) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            if e.kind() == std::io::ErrorKind::TimedOut {
                Counters::add(&state.counters.dropped_slow);
            }
            false
        }
    }
}

/// Frames written together at most: one `write()` for all the frames that queued up while the
/// viewer waited for its turn (a `write()` per frame and viewer is what limits fan-out).
const MAX_FRAMES_PER_WRITE: usize = 64;

/// `first` and the frames queued behind it, encoded for this viewer's socket, with a `lagged`
/// message before a frame whose hits do not follow on from `last` (which is moved on). A viewer
/// that fell behind the ring (`lagged` set, here or by the caller) missed `stats` frames too:
/// the charts' data goes whole before the frames that follow.
fn queued(
    first: hub::Frame,
    frames: &mut tokio::sync::broadcast::Receiver<hub::Frame>,
    (last, lagged): (&mut u64, &mut bool),
    deflate: bool,
    hub: &hub::Hub,
) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut next = Some(first);
    while let Some(frame) = next.take() {
        if std::mem::take(lagged)
            && let Some(history) = hub.last_history()
        {
            out.push(super::socket::text_frame(&history, deflate));
        }
        if let Some(seqs) = &frame.seqs {
            if *seqs.start() > *last + 1 {
                let missed = seqs.start() - *last - 1;
                let text = hub::Message::Lagged { missed }.to_text();
                out.push(super::socket::text_frame(&text, deflate));
            }
            *last = *seqs.end();
        }
        out.push(encoded(&frame, deflate).clone());
        if out.len() >= MAX_FRAMES_PER_WRITE {
            break;
        }
        next = loop {
            match frames.try_recv() {
                Ok(frame) => break Some(frame),
                Err(TryRecvError::Lagged(_)) => *lagged = true,
                Err(_) => break None,
            }
        };
    }
    out
}

/// Encodes a message for this viewer alone (compressed if agreed) and sends it.
async fn send(socket: &mut Socket, text: Bytes, state: &WebState) -> bool {
    let frame = super::socket::text_frame(&text, socket.deflate());
    send_frames(socket, &[frame], state).await
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
        Ok(Incoming::Ping(payload)) => sent(socket.pong(&payload).await, state),
        Ok(Incoming::Close(code)) => {
            // Answer the close handshake (the code was checked as one a peer may send), then end.
            let _ = socket.close(code, "").await;
            false
        }
        Ok(_) => true,
        Err(SocketError::TooBig) => {
            Counters::add(&state.counters.dropped_oversize);
            socket
                .close_and_linger(1009, "message too big (4 KiB at most)")
                .await;
            false
        }
        Err(SocketError::Protocol(why)) => {
            tracing::debug!("closed a viewer's WebSocket: {why}");
            socket.close_and_linger(1002, why).await;
            false
        }
        Err(SocketError::NotUtf8) => {
            socket
                .close_and_linger(1007, "a text message that is not UTF-8")
                .await;
            false
        }
        Err(SocketError::Io(_)) => false,
    }
}

/// Serves one viewer (registered for the filter and the limits until it leaves) until it
/// disconnects or is dropped.
pub async fn run(mut socket: Socket, state: WebState, registered: ViewerGuard) {
    let _registered = registered;
    socket.set_write_timeout(state.limits.write_timeout);
    let hub = &state.hub;
    // Subscribe first: hits published while this viewer decides whether to resume wait in its
    // queue, and the backlog snapshot covers everything up to the hello's `seq`.
    let mut sub = hub.subscribe();
    let mut last = sub.last_seq;
    if !send(&mut socket, hub.hello(last), &state).await {
        return;
    }
    // The charts' data, so a dashboard opened mid-day is whole at once.
    let history = std::mem::take(&mut sub.history);
    if !send(&mut socket, history, &state).await {
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
                // A sequence number of another run (a restart, another hub behind the same
                // balancer) is ignored: the whole backlog, nothing said missed.
                let same_run = m.boot.as_deref().is_none_or(|b| b == hub.boot());
                after = m.after.filter(|&a| same_run && a > 0 && a <= last);
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
    // Whole blocks of the backlog are shared with the other viewers, encodings included.
    let deflate = socket.deflate();
    let frames: Vec<Bytes> = hub
        .backlog_frames(backlog)
        .iter()
        .map(|frame| encoded(frame, deflate).clone())
        .collect();
    if !send_frames(&mut socket, &frames, &state).await {
        return;
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
    // The last numbers and panels, so the dashboard is whole before the next `stats` frame.
    if let Some(stats) = sub.stats.take()
        && !send(&mut socket, stats, &state).await
    {
        return;
    }
    // What the viewer holds from here on is its place in the ring and its socket.
    drop(sub.backlog);
    drop(sub.hosts);
    let mut closing = state.closing.clone();
    // Made once: a future made anew at every turn would join and leave the watch's waiter list
    // (under its lock) twice per frame and viewer.
    let closed = async move {
        let _ = closing.wait_for(|c| *c).await;
    };
    tokio::pin!(closed);
    // Anything the viewer sends (a pong above all) shows it is still there.
    let mut heard_at = tokio::time::Instant::now();
    let mut ping = tokio::time::interval(state.limits.ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    // Fell behind the ring since the last write: the charts' data goes again.
    let mut lagged = false;
    loop {
        tokio::select! {
            frame = sub.frames.recv() => {
                let first = match frame {
                    Ok(frame) => frame,
                    // The sequence gap on the next hits frame says how many hits were missed.
                    Err(RecvError::Lagged(_)) => {
                        lagged = true;
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                let frames = queued(first, &mut sub.frames, (&mut last, &mut lagged), socket.deflate(), hub);
                if !send_frames(&mut socket, &frames, &state).await {
                    return;
                }
            }
            msg = socket.recv() => {
                if !heard(&mut socket, msg, &state).await {
                    return;
                }
                heard_at = tokio::time::Instant::now();
            }
            _ = ping.tick() => {
                if heard_at.elapsed() >= state.limits.silent_for {
                    Counters::add(&state.counters.dropped_silent);
                    tracing::debug!("dropped a viewer that stopped answering pings");
                    return;
                }
                if !sent(socket.ping().await, &state) {
                    return;
                }
            }
            () = &mut closed => {
                let _ = socket.close(Some(1001), "server shutting down").await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{Hub, HubOptions};

    /// A frame's text from its encoded bytes (uncompressed, so after the 2- or 4-byte head).
    fn text(frame: &Bytes) -> serde_json::Value {
        let head = if frame[1] == 126 { 4 } else { 2 };
        serde_json::from_slice(&frame[head..]).unwrap()
    }

    #[test]
    fn queued_frames_go_in_one_write_with_lagged_for_a_gap() {
        let hub = Hub::new(HubOptions {
            queue: 2,
            ..HubOptions::default()
        });
        let mut rx = hub.subscribe().frames;
        let hit = crate::nats::tests::hit;
        for i in 0..5 {
            hub.publish(vec![hit(i)]);
        }
        // The ring holds two frames: hits 4 and 5. The viewer had seen hit 1.
        let mut last = 1;
        let first = match rx.try_recv() {
            Err(TryRecvError::Lagged(_)) => rx.try_recv().unwrap(),
            other => other.unwrap(),
        };
        hub.publish_stats(1_800_000_000);
        let mut lagged = true;
        let out = queued(first, &mut rx, (&mut last, &mut lagged), false, &hub);
        let types: Vec<_> = out.iter().map(|f| text(f)["type"].clone()).collect();
        assert_eq!(types, ["history", "lagged", "hits", "hits", "stats"]);
        assert!(!lagged);
        assert_eq!(text(&out[1])["missed"], 2);
        assert_eq!(text(&out[3])["hits"][0]["seq"], 5);
        assert_eq!(last, 5);
        // Shared: the same bytes as the frame's own encoding.
        hub.publish(vec![hit(6)]);
        let frame = rx.try_recv().unwrap();
        let out = queued(
            frame.clone(),
            &mut rx,
            (&mut last, &mut lagged),
            false,
            &hub,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].as_ptr(), frame.encoded.plain.get().unwrap().as_ptr());
    }
}
