//! Append-to-viewer latency: webpeek's WebSocket against `websocketd` serving `tail -n0 -F`,
//! GNU `tail -F` itself, and webpeek through NATS (DESIGN.md section 6).
//!
//! `cargo bench --bench latency` runs, in one process, on temp-dir log files, up to four
//! followers at the same time:
//!
//! - **webpeek**: the release binary follows `access.log`; a real WebSocket client
//!   (tokio-tungstenite, no `Origin`) on `/ws` records when the `hits` frame carrying each line
//!   arrives. Latency = that instant minus the instant taken right before the `write_all` that
//!   appended the line (one `write_all` per line, on a file kept open in append mode, as a web
//!   server does).
//! - **websocketd** (Debian package) running `tail -n0 -F` on another log: the same kind of
//!   client on its socket records when the text message carrying each line arrives.
//! - **GNU `tail -n0 -F`** (inotify on Debian's coreutils 9.x), its stdout piped to a reader
//!   thread: the floor.
//! - **webpeek through NATS**: `webpeek publish --nats URL` follows a fourth log, a local
//!   `nats-server` carries its messages to a hub (`webpeek --nats URL`), and the same kind of
//!   client on the hub's `/ws` records the hits.
//!
//! 20 warm-up lines, then 1,000 measured lines per follower spaced 5 ms apart on an absolute
//! schedule, each with its index in the path (`/bench/<i>`); lines are matched by path. The
//! followers' appends are interleaved: line i goes to each log in turn, a quarter period apart
//! (with four followers), the order rotating line by line. Each follower still gets a line
//! every 5 ms, is idle when another one's line is written, and all live through the same noise
//! of this shared machine, so their ratios mean something even when the absolute figures
//! wander. Everything is bounded: a watchdog kills the children and exits after 58 s; children
//! (and websocketd's `tail`) are also killed on drop (panics unwind). Everything listens on
//! 127.0.0.1 only.
//!
//! `cargo bench --bench latency -- --throughput [N]` measures instead how many hits per second
//! reach one viewer when N lines (default 500,000) are appended in one `write` to a log that
//! webpeek follows directly, and to one that `webpeek publish` sends through `nats-server` to a
//! hub (see [`throughput`]).
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it only says so and exits: a
//! latency figure from a debug build on a loaded CI machine means nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

/// Measured lines per follower.
const N: usize = 1000;
/// Lines sent first and not counted.
const WARMUP: usize = 20;
/// Time between two appends to one log (`LATENCY_SPACING_MS` overrides it, for diagnosis only).
fn spacing() -> Duration {
    let ms = std::env::var("LATENCY_SPACING_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| (1..=20).contains(&ms))
        .unwrap_or(5);
    Duration::from_millis(ms)
}
/// The whole latency bench, at most.
const WHOLE_RUN: Duration = Duration::from_secs(58);
/// The whole throughput bench, at most.
const WHOLE_THROUGHPUT_RUN: Duration = Duration::from_secs(170);
/// How long the last lines may take to show up after the last append.
const DRAIN: Duration = Duration::from_secs(5);

const AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// Process ids of the children, for the watchdog.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Children of a process (found through `/proc/*/stat`), so that websocketd's `tail` does not
/// outlive it.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    // pid (comm) state ppid ...: comm may hold spaces, so cut after the last ')'.
                    let rest = &s[s.rfind(')')? + 2..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// SIGKILLs a process and the children it started.
fn kill_tree(pid: u32) {
    for child in children_of(pid) {
        // SAFETY: plain kill(2) of a process this bench started (directly or through websocketd).
        unsafe { libc::kill(child as i32, libc::SIGKILL) };
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

/// A child process killed (with its own children) and reaped when dropped, also on panic.
struct Guard(Child);

impl Guard {
    fn new(child: Child) -> Guard {
        CHILDREN.lock().unwrap().push(child.id());
        Guard(child)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        kill_tree(self.0.id());
        let _ = self.0.wait();
        CHILDREN.lock().unwrap().retain(|&p| p != self.0.id());
    }
}

/// Kills whatever children are left and exits if the bench overruns its time.
fn start_watchdog(limit: Duration) {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            std::thread::sleep(limit);
            eprintln!(
                "latency bench: still running after {} s, giving up",
                limit.as_secs()
            );
            for &pid in CHILDREN.lock().unwrap().iter() {
                kill_tree(pid);
            }
            std::process::exit(2);
        })
        .expect("watchdog thread");
}

fn line_with_path(path: &str) -> String {
    format!(
        "203.0.113.9 - - [25/Nov/2026:10:00:00 +0000] \"GET {path} HTTP/1.1\" 200 512 \"-\" \"{AGENT}\"\n"
    )
}

fn line(i: usize) -> String {
    line_with_path(&format!("/bench/{i}"))
}

/// The index in `/bench/<i>`, from a path or from a whole log line.
fn index_in(text: &str) -> Option<usize> {
    let rest = &text[text.find("/bench/")? + "/bench/".len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn open_append(p: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .append(true)
        .open(p)
        .expect("open log for append")
}

/// Appends lines `0..WARMUP+N` to every log, one `write_all` each, every `spacing()`; within a
/// period the logs get their line `spacing() / logs.len()` apart, in an order that rotates line
/// by line, so each follower sees a line every period and all live through the same noise.
/// Returns, per log, the instant taken right before each write.
fn append_interleaved(logs: &[&Path]) -> Vec<Vec<Instant>> {
    let k = logs.len();
    let mut files: Vec<_> = logs.iter().map(|p| open_append(p)).collect();
    let lines: Vec<String> = (0..WARMUP + N).map(line).collect();
    let mut written = vec![Vec::with_capacity(lines.len()); k];
    let spacing = spacing();
    let slot = spacing / k as u32;
    let start = Instant::now();
    for (i, l) in lines.iter().enumerate() {
        for j in 0..k {
            let f = (i + j) % k;
            let due = start + spacing * i as u32 + slot * j as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            written[f].push(Instant::now());
            files[f].write_all(l.as_bytes()).expect("append");
        }
    }
    written
}

/// Latencies of the measured lines (warm-up dropped), and how many never arrived.
fn latencies(written: &[Instant], arrived: &[Option<Instant>]) -> (Vec<Duration>, usize) {
    let mut lat = Vec::with_capacity(N);
    let mut lost = 0;
    for i in WARMUP..WARMUP + N {
        match arrived[i] {
            Some(t) => lat.push(t.saturating_duration_since(written[i])),
            None => lost += 1,
        }
    }
    (lat, lost)
}

fn installed(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// A free loopback port (nobody listens on it when this returns).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A new temp dir with an empty `name` in it.
fn new_log(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join(name);
    std::fs::write(&log, "").expect("create log");
    (dir, log)
}

/// User + system CPU time of a process so far, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let ticks: u64 = stat
        .rfind(')')
        .map(|i| &stat[i + 2..])
        .map(|rest| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

// ---------------------------------------------------------------- processes

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_webpeek"))
}

/// Starts webpeek with `args`; its stderr is shown with `tag`, but for the `serving` line,
/// whose port is returned (when `serving` is true; else when `ready` appears).
fn start_webpeek(args: &[&str], tag: &'static str, ready: &'static str) -> (Guard, Option<u16>) {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin().display()));
    let stderr = child.stderr.take().expect("stderr");
    let guard = Guard::new(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = l.strip_prefix("webpeek: serving http://") {
                let port = rest
                    .split('/')
                    .next()
                    .and_then(|a| a.rsplit(':').next())
                    .and_then(|p| p.parse::<u16>().ok());
                let _ = tx.send(port);
            } else if l.starts_with(ready) {
                let _ = tx.send(None);
            } else {
                eprintln!("  [{tag}] {l}");
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{tag} did not start within 20 s"));
    (guard, port)
}

/// Starts `nats-server -a 127.0.0.1 -p PORT` and waits until it answers.
fn start_nats_server() -> (Guard, u16) {
    let port = free_port();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start nats-server");
    let guard = Guard::new(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut hello = [0u8; 4];
            if s.read_exact(&mut hello).is_ok() && &hello == b"INFO" {
                return (guard, port);
            }
        }
        assert!(
            Instant::now() < deadline,
            "nats-server did not start within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------- viewers

/// What a WebSocket carries.
#[derive(Clone, Copy, PartialEq)]
enum Wire {
    /// webpeek's JSON messages; a `hello` comes first.
    Hits,
    /// websocketd: one text message per line of the command's output.
    Lines,
    /// webpeek's JSON, only counted (throughput): hits in `hits` frames, by their `"seq":`.
    Count,
}

/// What a viewer thread says while it starts.
enum Event {
    Connected,
    /// A probe line (path `/probe`) came through.
    Probe,
}

/// Connects a viewer, says so, then records the arrival of every `/bench/<i>` hit (or line)
/// until all `total` have arrived or `until` (set by the writer) passes. With [`Wire::Count`]
/// the arrivals are recorded in order of arrival, one per hit.
fn ws_reader(
    url: String,
    wire: Wire,
    total: usize,
    events: mpsc::Sender<Event>,
    until: mpsc::Receiver<Instant>,
) -> Vec<Option<Instant>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let connect = async {
            let give_up = Instant::now() + Duration::from_secs(10);
            loop {
                match tokio_tungstenite::connect_async(url.as_str()).await {
                    Ok((ws, _)) => return ws,
                    Err(e) if Instant::now() > give_up => panic!("WebSocket {url}: {e}"),
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        };
        let mut ws = tokio::time::timeout(Duration::from_secs(15), connect)
            .await
            .expect("WebSocket connect timed out");
        if wire != Wire::Lines {
            let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("no hello within 10 s")
                .expect("socket ended before hello")
                .expect("socket error before hello");
            let hello: serde_json::Value = match first {
                Message::Text(t) => serde_json::from_str(&t).expect("hello is JSON"),
                other => panic!("first message is not text: {other:?}"),
            };
            assert_eq!(hello["type"], "hello", "{hello}");
        }
        let _ = events.send(Event::Connected);

        let mut arrived: Vec<Option<Instant>> = vec![None; total];
        let mut seen = 0;
        // Until the writer is done, wait at most the whole run; then DRAIN more.
        let mut deadline = Instant::now() + WHOLE_THROUGHPUT_RUN;
        while seen < total {
            if let Ok(end) = until.try_recv() {
                deadline = end;
            }
            let left = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200));
            if left.is_zero() {
                break;
            }
            let msg = match tokio::time::timeout(left, ws.next()).await {
                Err(_) => continue,
                Ok(Some(Ok(m))) => m,
                Ok(other) => panic!("WebSocket {url} ended: {other:?}"),
            };
            let now = Instant::now();
            let Message::Text(t) = msg else { continue };
            match wire {
                Wire::Lines => {
                    if t.contains("/probe") {
                        let _ = events.send(Event::Probe);
                    } else if let Some(i) = index_in(&t)
                        && i < total
                        && arrived[i].is_none()
                    {
                        arrived[i] = Some(now);
                        seen += 1;
                    }
                }
                Wire::Hits => {
                    let v: serde_json::Value = serde_json::from_str(&t).expect("frame is JSON");
                    match v["type"].as_str() {
                        Some("hits") => {
                            for h in v["hits"].as_array().into_iter().flatten() {
                                let path = h["path"].as_str().unwrap_or("");
                                if path.starts_with("/probe") {
                                    let _ = events.send(Event::Probe);
                                } else if let Some(i) = index_in(path)
                                    && i < total
                                    && arrived[i].is_none()
                                {
                                    arrived[i] = Some(now);
                                    seen += 1;
                                }
                            }
                        }
                        Some("lagged") => panic!("the bench viewer fell behind: {v}"),
                        _ => {}
                    }
                }
                Wire::Count => {
                    let text = t.as_bytes();
                    if text.starts_with(br#"{"type":"hits""#) {
                        if memchr::memmem::find(text, b"\"/probe").is_some() {
                            let _ = events.send(Event::Probe);
                        } else {
                            for _ in memchr::memmem::find_iter(text, br#"{"seq":"#) {
                                if seen < total {
                                    arrived[seen] = Some(now);
                                    seen += 1;
                                }
                            }
                        }
                    } else if text.starts_with(br#"{"type":"lagged""#) {
                        panic!("the bench viewer fell behind: {}", t.as_str());
                    }
                }
            }
        }
        let _ = ws.close(None).await;
        arrived
    })
}

// ---------------------------------------------------------------- followers

/// How a follower's arrivals are collected.
enum Collector {
    /// A WebSocket viewer on its own thread.
    Ws {
        reader: std::thread::JoinHandle<Vec<Option<Instant>>>,
        until: mpsc::Sender<Instant>,
    },
    /// Lines from a pipe (tail's stdout), as (instant of the read, line).
    Pipe {
        rx: mpsc::Receiver<(Instant, String)>,
    },
}

/// One follower under test: its log, its processes, and how its arrivals are collected.
struct Follower {
    name: &'static str,
    log: PathBuf,
    /// Where the line count is kept (throughput: arrivals in order, not by index).
    total: usize,
    collector: Collector,
    /// Its processes, killed after the viewer has closed (in this order).
    guards: Vec<Guard>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Follower {
    /// A WebSocket viewer on `url`, with probes appended to `log` until one comes through.
    fn on_websocket(
        name: &'static str,
        url: String,
        wire: Wire,
        total: usize,
        log: PathBuf,
        guards: Vec<Guard>,
        dirs: Vec<tempfile::TempDir>,
    ) -> Follower {
        let (events_tx, events) = mpsc::channel();
        let (until, until_rx) = mpsc::channel();
        let reader = std::thread::Builder::new()
            .name(format!("viewer {name}"))
            .spawn(move || ws_reader(url, wire, total, events_tx, until_rx))
            .expect("viewer thread");
        match events.recv_timeout(Duration::from_secs(30)) {
            Ok(Event::Connected) => {}
            _ => panic!("{name}: the WebSocket viewer did not connect"),
        }
        probe_until_through(name, &log, &events);
        Follower {
            name,
            log,
            total,
            collector: Collector::Ws { reader, until },
            guards,
            _dirs: dirs,
        }
    }

    /// webpeek following its own log.
    fn webpeek(total: usize, wire: Wire) -> Follower {
        let (dir, log) = new_log("access.log");
        let (guard, port) = start_webpeek(
            &[
                "--listen",
                "127.0.0.1:0",
                "--no-dns",
                "--all",
                "--poll-interval",
                "1",
                log.to_str().expect("UTF-8 path"),
            ],
            "webpeek",
            "webpeek: serving",
        );
        let port = port.expect("webpeek's port");
        Follower::on_websocket(
            "webpeek",
            format!("ws://127.0.0.1:{port}/ws"),
            wire,
            total,
            log,
            vec![guard],
            vec![dir],
        )
    }

    /// `websocketd` running `tail -n0 -F` on its own log, for each connection.
    fn websocketd() -> Follower {
        let (dir, log) = new_log("access.log");
        let port = free_port();
        let child = Command::new("websocketd")
            .arg("--address=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg("--loglevel=error")
            .args(["tail", "-n0", "-F"])
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start websocketd");
        let guard = Guard::new(child);
        Follower::on_websocket(
            "websocketd",
            format!("ws://127.0.0.1:{port}/"),
            Wire::Lines,
            WARMUP + N,
            log,
            vec![guard],
            vec![dir],
        )
    }

    /// `webpeek publish` → `nats-server` → a hub (`webpeek --nats`) → its WebSocket.
    fn nats(total: usize, wire: Wire) -> Follower {
        let (server, nats_port) = start_nats_server();
        let url = format!("nats://127.0.0.1:{nats_port}");
        let (hub_dir, hub_log) = new_log("unused.log");
        let (hub, port) = start_webpeek(
            &[
                "--listen",
                "127.0.0.1:0",
                "--no-dns",
                "--all",
                "--name",
                "hub",
                "--nats",
                &url,
                hub_log.to_str().expect("UTF-8 path"),
            ],
            "hub",
            "webpeek: serving",
        );
        let port = port.expect("the hub's port");
        let (dir, log) = new_log("access.log");
        let (publisher, _) = start_webpeek(
            &[
                "publish",
                "--nats",
                &url,
                "--name",
                "web1",
                "--all",
                "--poll-interval",
                "1",
                log.to_str().expect("UTF-8 path"),
            ],
            "publish",
            "webpeek: publishing to NATS",
        );
        Follower::on_websocket(
            "NATS",
            format!("ws://127.0.0.1:{port}/ws"),
            wire,
            total,
            log,
            vec![publisher, hub, server],
            vec![dir, hub_dir],
        )
    }

    /// GNU `tail -n0 -F` with a thread reading its stdout.
    fn tail() -> Follower {
        let (dir, log) = new_log("access.log");
        let mut child = Command::new("tail")
            .args(["-n0", "-F"])
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start tail");
        let stdout = child.stdout.take().expect("stdout");
        let guard = Guard::new(child);
        let (tx, rx) = mpsc::channel::<(Instant, String)>();
        let (probe_tx, probes) = mpsc::channel();
        std::thread::Builder::new()
            .name("tail reader".into())
            .spawn(move || {
                // Line assembly straight from the pipe: the instant is taken right after the
                // read() that completed the line.
                let mut pipe = stdout;
                let mut buf = [0u8; 64 * 1024];
                let mut pending = Vec::new();
                loop {
                    let n = match pipe.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let now = Instant::now();
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                        let l: Vec<u8> = pending.drain(..=nl).collect();
                        let l = String::from_utf8_lossy(&l).into_owned();
                        if l.contains("/probe") {
                            let _ = probe_tx.send(Event::Probe);
                        } else if tx.send((now, l)).is_err() {
                            return;
                        }
                    }
                }
            })
            .expect("tail reader thread");
        probe_until_through("tail", &log, &probes);
        Follower {
            name: "tail",
            log,
            total: WARMUP + N,
            collector: Collector::Pipe { rx },
            guards: vec![guard],
            _dirs: vec![dir],
        }
    }

    /// Arrival instants, waiting at most until `deadline` for the last ones; then the viewer
    /// closes and the processes are killed.
    fn finish(self, deadline: Instant) -> Vec<Option<Instant>> {
        let arrived = match self.collector {
            Collector::Ws { reader, until } => {
                let _ = until.send(deadline);
                reader.join().expect("viewer thread panicked")
            }
            Collector::Pipe { rx } => {
                let mut arrived: Vec<Option<Instant>> = vec![None; self.total];
                let mut seen = 0;
                while seen < self.total {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                        break;
                    };
                    let Ok((t, l)) = rx.recv_timeout(left) else {
                        break;
                    };
                    if let Some(i) = index_in(&l)
                        && i < self.total
                        && arrived[i].is_none()
                    {
                        arrived[i] = Some(t);
                        seen += 1;
                    }
                }
                arrived
            }
        };
        drop(self.guards);
        arrived
    }
}

/// Nothing says when a follower's watches (or a publisher's subscription on the hub's side)
/// are in place: append probe lines until one comes out, then let late ones pass.
fn probe_until_through(name: &str, log: &Path, events: &mpsc::Receiver<Event>) {
    let mut f = open_append(log);
    let give_up = Instant::now() + Duration::from_secs(20);
    let probe = line_with_path("/probe");
    'probe: loop {
        assert!(
            Instant::now() < give_up,
            "{name}: no probe line came through within 20 s"
        );
        f.write_all(probe.as_bytes()).expect("append");
        let until = Instant::now() + Duration::from_millis(100);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if let Ok(Event::Probe) = events.recv_timeout(left) {
                break 'probe;
            }
        }
    }
    // Late probes come out before the measured lines (webpeek: a new viewer's live frames
    // start after its 200 ms resume window, which the probe has already waited out).
    std::thread::sleep(Duration::from_millis(300));
    while events.try_recv().is_ok() {}
}

// ---------------------------------------------------------------- report

/// Latencies, lost count, and the five slowest (index, latency).
fn summarize(
    written: &[Instant],
    arrived: &[Option<Instant>],
) -> (Vec<Duration>, usize, Vec<(usize, Duration)>) {
    let (mut lat, lost) = latencies(written, arrived);
    lat.sort();
    let mut slow: Vec<(usize, Duration)> = (WARMUP..WARMUP + N)
        .filter_map(|i| arrived[i].map(|t| (i, t.saturating_duration_since(written[i]))))
        .collect();
    slow.sort_by_key(|&(_, d)| std::cmp::Reverse(d));
    slow.truncate(5);
    (lat, lost, slow)
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// CPU time stolen by the hypervisor so far (all CPUs), from `/proc/stat`.
fn steal() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks = stat
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(8))
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.lines().next().map(str::to_owned)
        })
        .unwrap_or_else(|| "?".into())
}

fn machine(began: Instant, load: &str, stolen: Duration) -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "machine: {nproc} CPUs (shared, noisy VM), Linux {}, load average at start {}; {}; {}; \
         steal time while appending {} ms; whole bench {:.1} s",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        first_line("tail", &["--version"]),
        first_line("websocketd", &["--version"]).trim_end_matches(" --"),
        stolen.as_millis(),
        began.elapsed().as_secs_f64()
    )
}

/// Says how to install a missing program; the bench runs without its row.
fn check_installed(cmd: &str, package: &str, what: &str) -> bool {
    let ok = installed(cmd);
    if !ok {
        eprintln!(
            "latency bench: `{cmd}` is not installed, so there is no {what} row; install it with \
             `sudo apt-get install {package}` (Debian package `{package}`)"
        );
    }
    ok
}

fn latency() {
    start_watchdog(WHOLE_RUN);
    let began = Instant::now();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("latency bench: webpeek = {}", bin().display());
    let with_websocketd = check_installed("websocketd", "websocketd", "websocketd");
    let with_nats = std::env::var_os("LATENCY_NO_NATS").is_none()
        && check_installed("nats-server", "nats-server", "NATS");

    let mut followers = vec![Follower::webpeek(WARMUP + N, Wire::Hits)];
    if with_websocketd {
        followers.push(Follower::websocketd());
    }
    followers.push(Follower::tail());
    if with_nats {
        followers.push(Follower::nats(WARMUP + N, Wire::Hits));
    }
    eprintln!(
        "latency bench: {WARMUP} warm-up + {N} measured appends, {} ms apart, per follower ({})",
        spacing().as_millis(),
        followers
            .iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let logs: Vec<&Path> = followers.iter().map(|f| f.log.as_path()).collect();
    let s0 = steal();
    let written = append_interleaved(&logs);
    let s1 = steal();
    let deadline = Instant::now() + DRAIN;
    let results: Vec<_> = followers
        .into_iter()
        .zip(&written)
        .map(|(f, w)| {
            let name = f.name;
            let arrived = f.finish(deadline);
            (name, summarize(w, &arrived))
        })
        .collect();
    let get = |name: &str| {
        results
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, (lat, _, _))| lat.as_slice())
    };

    println!();
    println!(
        "### Append-to-delivery latency, {N} lines per follower, {} ms apart, interleaved",
        spacing().as_millis()
    );
    println!();
    println!("| follower | delivered | min ms | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, (lat, lost, _)) in &results {
        let label = match *name {
            "webpeek" => "webpeek → WebSocket client",
            "websocketd" => "`websocketd` running `tail -n0 -F` → WebSocket client",
            "tail" => "GNU `tail -n0 -F` → pipe (the floor)",
            "NATS" => "`webpeek publish` → `nats-server` → hub → WebSocket client",
            other => other,
        };
        println!(
            "| {label} | {}/{N} | {} | {} | {} | {} | {} |",
            N - lost,
            ms(pct(lat, 0.0)),
            ms(pct(lat, 0.5)),
            ms(pct(lat, 0.9)),
            ms(pct(lat, 0.99)),
            ms(lat.last().copied().unwrap_or_default()),
        );
    }
    println!();
    let wp = get("webpeek").expect("webpeek row");
    let ratio = |a: &[Duration], b: &[Duration], q: f64| {
        pct(a, q).as_secs_f64() / pct(b, q).as_secs_f64().max(1e-9)
    };
    let ratios = |label: &str, a: &[Duration], b: &[Duration]| {
        println!(
            "ratio {label}: p50 {:.2}×, p90 {:.2}×, p99 {:.2}×",
            ratio(a, b, 0.5),
            ratio(a, b, 0.9),
            ratio(a, b, 0.99)
        );
    };
    if let Some(wd) = get("websocketd") {
        ratios("webpeek / websocketd", wp, wd);
    }
    if let Some(tl) = get("tail") {
        ratios("webpeek / tail -F", wp, tl);
    }
    if let Some(nats) = get("NATS") {
        ratios("NATS path / webpeek local", nats, wp);
    }
    let wp_lost = results[0].1.1;
    println!(
        "DESIGN.md §6: p99 < 5 ms → {}; no later than websocketd at p50 and p99 → {}",
        if pct(wp, 0.99) < Duration::from_millis(5) && wp_lost == 0 {
            "met"
        } else {
            "NOT met"
        },
        match get("websocketd") {
            Some(wd) if ratio(wp, wd, 0.5) <= 1.0 && ratio(wp, wd, 0.99) <= 1.0 => "met",
            Some(_) => "NOT met",
            None => "not measured (no websocketd)",
        }
    );
    let slow = |v: &[(usize, Duration)]| {
        v.iter()
            .map(|(i, d)| format!("#{i} {} ms", ms(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let hist = |v: &[Duration]| {
        let edges = [0.5, 1.0, 2.0, 4.0, 6.0];
        let mut counts = [0usize; 6];
        for d in v {
            let m = d.as_secs_f64() * 1e3;
            counts[edges.iter().take_while(|&&e| m >= e).count()] += 1;
        }
        format!(
            "<0.5 ms {} | 0.5–1 {} | 1–2 {} | 2–4 {} | 4–6 {} | ≥6 {}",
            counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]
        )
    };
    for (name, (lat, _, slowest)) in &results {
        println!("{name}: slowest {}", slow(slowest));
        println!("{name}: histogram {}", hist(lat));
    }
    println!();
    println!("{}", machine(began, &load, s1 - s0));
    println!(
        "method: Instant before one write_all (O_APPEND) → Instant when the WebSocket message / \
         the pipe read carrying the line returned; warm-up {WARMUP} lines not counted; all \
         followers run at once, their appends interleaved {:.2} ms apart, order rotating.",
        spacing().as_secs_f64() * 1e3 / results.len() as f64
    );
    let lost: usize = results.iter().map(|(_, (_, lost, _))| lost).sum();
    if lost > 0 {
        eprintln!("latency bench: lines lost: {lost}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------- throughput

/// Starts a follower for `total` lines, its viewer reading this `Wire`.
type StartFollower = fn(usize, Wire) -> Follower;

/// `--throughput [N]`: N lines (default 500,000, ~75 MB) appended in one `write_all` to a log
/// followed by webpeek, then to one followed by `webpeek publish` → `nats-server` → hub; for
/// each, the time from right before the write until one WebSocket viewer (which only counts the
/// hits of each frame) has all N hits, and the CPU time each process used meanwhile. One after
/// the other, not at once: each has the machine to itself.
fn throughput(n: usize) {
    start_watchdog(WHOLE_THROUGHPUT_RUN);
    let began = Instant::now();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut bytes = Vec::with_capacity(n * 160);
    for i in 0..n {
        bytes.extend_from_slice(line(i).as_bytes());
    }
    eprintln!(
        "latency bench: throughput, {n} lines ({:.1} MB) in one write",
        bytes.len() as f64 / 1e6
    );
    let mut rows = Vec::new();
    let mut runs: Vec<(&str, StartFollower)> = vec![("webpeek", Follower::webpeek)];
    if check_installed("nats-server", "nats-server", "NATS") {
        runs.push(("NATS", Follower::nats));
    }
    for (name, start) in runs {
        let f = start(n, Wire::Count);
        let pids: Vec<u32> = f.guards.iter().map(|g| g.0.id()).collect();
        let cpu0: Vec<Duration> = pids.iter().map(|&p| cpu_time(p)).collect();
        let mut file = open_append(&f.log);
        let t0 = Instant::now();
        file.write_all(&bytes).expect("append");
        let wrote = t0.elapsed();
        let cpu = || {
            pids.iter()
                .zip(&cpu0)
                .map(|(&p, &c)| cpu_time(p).saturating_sub(c))
                .collect::<Vec<_>>()
        };
        let (cpu_tx, cpu_rx) = mpsc::channel();
        // CPU times are read right when the last hit arrives, before the viewer closes.
        let arrived = {
            let Collector::Ws { reader, until } = f.collector else {
                unreachable!("throughput runs have viewers")
            };
            let _ = until.send(Instant::now() + Duration::from_secs(120));
            let arrived = reader.join().expect("viewer thread panicked");
            let _ = cpu_tx.send(cpu());
            arrived
        };
        drop(f.guards);
        let used = cpu_rx.recv().unwrap_or_default();
        let got = arrived.iter().flatten().count();
        let first = arrived.first().copied().flatten();
        let last = arrived.iter().rev().find_map(|t| *t);
        rows.push((
            name,
            got,
            wrote,
            first.map(|t| t - t0),
            last.map(|t| t - t0),
            used,
        ));
    }
    println!();
    println!(
        "### Throughput: {n} lines ({:.1} MB) appended in one write → one WebSocket viewer",
        bytes.len() as f64 / 1e6
    );
    println!();
    println!(
        "| path | hits seen | write | first hit | last hit | hits/s | CPU s (webpeek or publisher, hub, nats-server) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (name, got, wrote, first, last, used) in rows {
        let label = match name {
            "webpeek" => "webpeek follows the log → WebSocket client",
            _ => "`webpeek publish` → `nats-server` → hub → WebSocket client",
        };
        let secs = last.map_or(0.0, |d| d.as_secs_f64());
        println!(
            "| {label} | {got}/{n} | {:.3} s | {} | {} | {:.0} | {} |",
            wrote.as_secs_f64(),
            first.map_or("-".into(), |d| format!("{:.3} s", d.as_secs_f64())),
            last.map_or("-".into(), |d| format!("{:.3} s", d.as_secs_f64())),
            if got == n {
                n as f64 / secs.max(1e-9)
            } else {
                0.0
            },
            used.iter()
                .map(|d| format!("{:.2}", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    println!();
    println!("{}", machine(began, &load, Duration::ZERO));
    println!(
        "method: Instant before one write_all of all lines (O_APPEND) → Instant when the \
         WebSocket frame holding the last hit returned; hits/s = N / that time; each path alone \
         on the machine; CPU = utime+stime from /proc over the same span."
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "latency bench: skipped (run it with `cargo bench --bench latency`; a debug build under \
             `cargo test` measures nothing useful)"
        );
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--throughput") {
        let n = args
            .get(at + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(500_000);
        throughput(n);
    } else {
        latency();
    }
}
