//! The seed's two test programs: cntdwn-random (`/countdown/ws`) and the echo test (`/echo/ws`).

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Extension, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{Client, WebState};

/// `10`, `9`, … `0` at random intervals under a second, then `BOOM!`, then close.
/// Its sockets count as viewers for the limits.
pub async fn countdown(
    ws: WebSocketUpgrade,
    State(state): State<WebState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    state.upgrade(ws, client, &headers, |socket, registered| async move {
        run_countdown(socket).await;
        drop(registered);
    })
}

async fn run_countdown(mut socket: WebSocket) {
    for n in (0..=10).rev() {
        if socket
            .send(Message::Text(n.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(Duration::from_secs_f64(rand::random::<f64>())).await;
    }
    if socket.send(Message::Text("BOOM!".into())).await.is_ok() {
        let _ = socket.send(Message::Close(None)).await;
    }
}

/// Sends every message back (up to 4 KiB each; a bigger one closes with 1009). Its sockets
/// count as viewers for the limits.
pub async fn echo(
    ws: WebSocketUpgrade,
    State(state): State<WebState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    let write_timeout = state.limits.write_timeout;
    state.upgrade(
        ws,
        client,
        &headers,
        move |mut socket, registered| async move {
            let _registered = registered;
            loop {
                // A test socket that says nothing for a minute is closed: it holds a viewer slot.
                let Ok(Some(Ok(msg))) =
                    tokio::time::timeout(std::time::Duration::from_secs(60), socket.recv()).await
                else {
                    return;
                };
                if super::refuse_oversize(&mut socket, &msg).await {
                    return;
                }
                let reply = match msg {
                    Message::Text(_) | Message::Binary(_) => msg,
                    Message::Close(_) => return,
                    _ => continue,
                };
                // One that sends and never reads would block here for good, holding its slot.
                let write = tokio::time::timeout(write_timeout, socket.send(reply));
                if !matches!(write.await, Ok(Ok(()))) {
                    return;
                }
            }
        },
    )
}
