//! A real webpeek process on a free loopback port, and real clients for it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, http::HeaderValue};

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A combined-format line for `ip` requesting `path`.
pub fn line(ip: &str, path: &str) -> String {
    format!(
        "{ip} - - [25/Nov/2026:10:00:00 +0000] \"GET {path} HTTP/1.1\" 200 512 \"https://example.com/\" \
         \"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\"\n"
    )
}

pub fn append(path: &Path, text: impl AsRef<[u8]>) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_ref()).unwrap();
}

/// A running `webpeek` process, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Server {
    /// Starts webpeek on an empty `access.log` in a temp dir, with extra arguments.
    pub fn start(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        append(&log, "");
        Self::start_on(dir, log, args)
    }

    /// Starts webpeek following `log`.
    pub fn start_on(dir: tempfile::TempDir, log: PathBuf, args: &[&str]) -> Server {
        let mut all: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        all.push(log.clone().into());
        Self::spawn(dir, log, &all, Stdio::null())
    }

    /// Starts webpeek with exactly these arguments (after the test defaults) and stdin;
    /// `log` is where `append` writes.
    pub fn spawn(
        dir: tempfile::TempDir,
        log: PathBuf,
        args: &[std::ffi::OsString],
        stdin: Stdio,
    ) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_webpeek"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--no-dns",
                "--poll-interval",
                "0.2",
            ])
            .args(args)
            .env("WEBPEEK_LOG", "webpeek=debug")
            .stdin(stdin)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("webpeek: serving http://") {
                    let _ = tx.send(rest.split('/').next().unwrap().to_string());
                }
                eprintln!("[webpeek] {line}");
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("webpeek did not start")
            .parse()
            .unwrap();
        Server {
            child,
            addr,
            dir,
            log,
        }
    }

    pub fn append(&self, text: impl AsRef<[u8]>) {
        append(&self.log, text);
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Opens a WebSocket with these extra headers.
    pub async fn ws_with(
        &self,
        path: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<Ws, tungstenite::Error> {
        let mut req = self.url(path).into_client_request().unwrap();
        for (k, v) in headers {
            req.headers_mut()
                .insert(*k, HeaderValue::from_str(v).unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(ws)
    }

    /// Opens `/ws` as the dashboard would (own Origin) and reads the hello.
    pub async fn viewer(&self) -> Ws {
        let origin = format!("http://{}", self.addr);
        let mut ws = self.ws_with("/ws", &[("origin", &origin)]).await.unwrap();
        let hello = next_json(&mut ws).await;
        assert_eq!(hello["type"], "hello", "{hello}");
        ws
    }

    /// A plain HTTP GET: (status, body).
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        http_get(self.addr, path, headers)
    }

    pub fn stats(&self) -> Value {
        let (status, body) = self.get("/api/stats", &[]);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Server {
    /// Stops webpeek with SIGTERM, as a service manager would, and waits for it to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "webpeek did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The next text frame as JSON (bounded wait).
pub async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no message within 10 s")
            .expect("socket ended")
            .expect("socket error");
        if let tungstenite::Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// Reads frames until `n` hits have arrived (skipping stats/hosts; a `lagged` fails), within `limit`.
pub async fn collect_hits(ws: &mut Ws, n: usize, limit: Duration) -> (Vec<Value>, usize) {
    let deadline = Instant::now() + limit;
    let mut hits = Vec::new();
    let mut frames = 0;
    while hits.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(Ok(msg))) = tokio::time::timeout(left, ws.next()).await else {
            panic!("only {} of {n} hits arrived", hits.len());
        };
        if let tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            assert_ne!(v["type"], "lagged", "this viewer fell behind: {v}");
            if v["type"] == "hits" {
                frames += 1;
                hits.extend(v["hits"].as_array().unwrap().iter().cloned());
            }
        }
    }
    (hits, frames)
}

/// Asserts no hits frame arrives within `wait`.
pub async fn assert_no_hits(ws: &mut Ws, wait: Duration) {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => return,
            Ok(Some(Ok(tungstenite::Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert_ne!(v["type"], "hits", "unexpected hits: {v}");
            }
            Ok(_) => return,
        }
    }
}

pub async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(tungstenite::Message::Text(v.to_string().into()))
        .await
        .unwrap();
}
