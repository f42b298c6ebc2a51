//! The seed's two test programs: cntdwn-random (`/countdown/ws`) and the echo test (`/echo/ws`).

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;

use super::WebState;

/// `10`, `9`, … `0` at random intervals under a second, then `BOOM!`, then close.
pub async fn countdown(
    ws: WebSocketUpgrade,
    State(state): State<WebState>,
    headers: HeaderMap,
) -> Response {
    if !state.access.origin_allowed(&headers) {
        return super::guard::foreign_origin();
    }
    ws.on_upgrade(run_countdown)
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

/// Sends every message back.
pub async fn echo(
    ws: WebSocketUpgrade,
    State(state): State<WebState>,
    headers: HeaderMap,
) -> Response {
    if !state.access.origin_allowed(&headers) {
        return super::guard::foreign_origin();
    }
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            let reply = match msg {
                Message::Text(_) | Message::Binary(_) => msg,
                Message::Close(_) => return,
                _ => continue,
            };
            if socket.send(reply).await.is_err() {
                return;
            }
        }
    })
}
