//! A real webpeek process on a free loopback port, and real clients for it.
#![allow(dead_code)]

pub mod goaccess;
pub mod nats;
pub mod nginx;

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

/// Runs `webpeek ARGS` to its end (its own log quiet but for warnings).
pub fn webpeek(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .args(args)
        .env("WEBPEEK_LOG", "warn")
        .output()
        .expect("run webpeek")
}

/// Runs `webpeek report ARGS`, checks it succeeded, returns the JSON.
pub fn report(args: &[&str]) -> Value {
    let out = webpeek(&[&["report"], args].concat());
    assert!(
        out.status.success(),
        "webpeek report {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
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
    /// What webpeek wrote to stderr so far.
    pub output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
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
        let child = Command::new(env!("CARGO_BIN_EXE_webpeek"))
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
        Self::adopt(child, dir, log)
    }

    /// Takes over a webpeek started by the caller (stderr piped): waits until it serves.
    pub fn adopt(mut child: Child, dir: tempfile::TempDir, log: PathBuf) -> Server {
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line.clone());
                if let Some(rest) = line
                    .strip_prefix("webpeek: serving http://")
                    .or_else(|| line.strip_prefix("webpeek: serving https://"))
                {
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
            output,
        }
    }

    /// Waits (bounded) until webpeek has written a line containing `needle` to stderr.
    pub fn wait_output(&self, needle: &str, limit: Duration) -> String {
        wait_for_line(&self.output, needle, limit, "webpeek")
    }

    /// How many lines it wrote to stderr so far contain `needle`.
    pub fn count_output(&self, needle: &str) -> usize {
        count_lines(&self.output, needle)
    }

    /// One HTTP/1.1 request: (status, lower-cased headers, body).
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        http_request(self.addr, None, method, path, headers, body)
    }

    /// Reads `/metrics` with this bearer token and returns the value of one sample line.
    pub fn metric(&self, token: Option<&str>, sample: &str) -> u64 {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let r = self.request("GET", "/metrics", &headers, "");
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
            .lines()
            .find_map(|l| l.strip_prefix(sample).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {sample} in\n{}", r.body))
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

/// How many of the lines a child wrote so far contain `needle`.
pub fn count_lines(output: &std::sync::Mutex<Vec<String>>, needle: &str) -> usize {
    output
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

/// Waits (bounded) until a process's captured `output` holds a line containing `needle`;
/// returns that line. `who` names the process in the failure message.
pub fn wait_for_line(
    output: &std::sync::Mutex<Vec<String>>,
    needle: &str,
    limit: Duration,
    who: &str,
) -> String {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(l) = output.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{who} never said {needle:?}; it said:\n{}",
            output.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection, from `from` (a loopback source address)
/// when given.
pub fn http_request(
    addr: SocketAddr,
    from: Option<std::net::IpAddr>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut s = connect_from(addr, from);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let has_host = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host"));
    let host = if has_host {
        String::new()
    } else {
        format!("Host: {addr}\r\n")
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\n{host}{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    // A reset after a partial answer still leaves what was read.
    let _ = s.read_to_end(&mut raw);
    parse_reply(&raw)
}

/// Parses a whole HTTP/1.1 answer (not chunked).
pub fn parse_reply(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A TCP connection to `addr`, from a given loopback source address when asked (127.0.0.2
/// is "another client" to webpeek).
pub fn connect_from(addr: SocketAddr, from: Option<std::net::IpAddr>) -> TcpStream {
    let Some(ip) = from else {
        return TcpStream::connect(addr).unwrap();
    };
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::new(ip, 0).into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.into()
}

/// An async TCP connection to `addr` from the loopback source address `from`.
pub async fn tcp_from(addr: SocketAddr, from: std::net::IpAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(addr).await.unwrap()
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
