//! The reference for `bench/viewers.sh`: a minimal axum broadcast server in the style of axum's
//! chat example. Each line read from stdin (`tail -n0 -F LOG | reference 127.0.0.1:0`) goes
//! through a `tokio::sync::broadcast` channel to every WebSocket on `/ws` as one text frame;
//! axum's default WebSocket settings; a socket that falls behind the channel skips what it
//! missed and goes on. It prints `listening on ADDR` once bound.

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncBufReadExt;
use tokio::sync::broadcast;

/// Frames a socket may fall behind, as webpeek's default `--viewer-queue`.
const QUEUE: usize = 1024;

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:0".into());
    let (tx, _) = broadcast::channel::<Utf8Bytes>(QUEUE);
    let lines = tx.clone();
    tokio::spawn(async move {
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = stdin.next_line().await {
            let _ = lines.send(line.into());
        }
    });
    let app = Router::new().route("/ws", get(upgrade)).with_state(tx);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("listening on {}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}

async fn upgrade(ws: WebSocketUpgrade, State(tx): State<broadcast::Sender<Utf8Bytes>>) -> Response {
    ws.on_upgrade(move |socket| serve(socket, tx.subscribe()))
}

async fn serve(socket: WebSocket, mut rx: broadcast::Receiver<Utf8Bytes>) {
    let (mut sender, mut receiver) = socket.split();
    let mut send = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(line) => {
                    if sender.send(Message::Text(line)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    // Reading keeps pings answered and notices the close.
    let mut recv = tokio::spawn(async move {
        while let Some(Ok(msg)) = receiver.next().await {
            if matches!(msg, Message::Close(_)) {
                return;
            }
        }
    });
    tokio::select! {
        _ = &mut send => recv.abort(),
        _ = &mut recv => send.abort(),
    }
}
