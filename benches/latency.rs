//! Append-to-viewer latency: webpeek's WebSocket against GNU `tail -F` (DESIGN.md section 6).
//!
//! `cargo bench --bench latency` runs, in one process, on temp-dir log files:
//!
//! - **webpeek**: the release binary follows `access.log`; a real WebSocket client
//!   (tokio-tungstenite, no `Origin`) on `/ws` records when the `hits` frame carrying each line
//!   arrives. Latency = that instant minus the instant taken right before the `write_all` that
//!   appended the line (one `write_all` per line, on a file kept open in append mode, as a web
//!   server does).
//! - **GNU `tail -n0 -F`** (inotify on Debian's coreutils 9.x): the same appends to another
//!   file in another directory; a reader thread records when each line comes out of tail's
//!   stdout pipe.
//!
//! 20 warm-up lines, then 1,000 measured lines spaced 5 ms apart on an absolute schedule, each
//! with its index in the path (`/bench/<i>`); lines are matched by path. Both followers run at
//! the same time and their appends are interleaved: line i goes to one log, 2.5 ms later to the
//! other, the order alternating line by line. Each follower still gets a line every 5 ms, is
//! idle when the other one's line is written, and both live through the same noise of this
//! shared machine, so their ratio means something even when the absolute figures wander.
//! Everything is bounded: a watchdog kills the children and exits after 58 s; children are
//! also killed on drop (panics unwind).
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
/// Time between two appends (`LATENCY_SPACING_MS` overrides it, for diagnosis only).
fn spacing() -> Duration {
    let ms = std::env::var("LATENCY_SPACING_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| (1..=20).contains(&ms))
        .unwrap_or(5);
    Duration::from_millis(ms)
}
/// The whole bench, at most.
const WHOLE_RUN: Duration = Duration::from_secs(58);
/// How long the last lines may take to show up after the last append.
const DRAIN: Duration = Duration::from_secs(5);

const AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// Process ids of the children, for the watchdog.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// A child process killed (and reaped) when dropped, also on panic.
struct Guard(Child);

impl Guard {
    fn new(child: Child) -> Guard {
        CHILDREN.lock().unwrap().push(child.id());
        Guard(child)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        CHILDREN.lock().unwrap().retain(|&p| p != self.0.id());
    }
}

/// Kills whatever children are left and exits if the bench overruns its time.
fn start_watchdog() {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(|| {
            std::thread::sleep(WHOLE_RUN);
            eprintln!(
                "latency bench: still running after {} s, giving up",
                WHOLE_RUN.as_secs()
            );
            for pid in CHILDREN.lock().unwrap().iter() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            std::process::exit(2);
        })
        .expect("watchdog thread");
}

fn line(i: usize) -> String {
    format!(
        "203.0.113.9 - - [25/Nov/2026:10:00:00 +0000] \"GET /bench/{i} HTTP/1.1\" 200 512 \"-\" \"{AGENT}\"\n"
    )
}

/// The index in `/bench/<i>`, from a path or from a whole log line.
fn index_in(text: &str) -> Option<usize> {
    let rest = &text[text.find("/bench/")? + "/bench/".len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Appends lines `0..WARMUP+N` to both logs, one `write_all` each, every `spacing()`; the
/// second log's line goes half a period after the first's, and the order alternates line by
/// line, so each follower sees a line every period and both live through the same noise.
/// Returns, per log, the instant taken right before each write.
fn append_interleaved(a: &Path, b: &Path) -> (Vec<Instant>, Vec<Instant>) {
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .append(true)
            .open(p)
            .expect("open log for append")
    };
    let mut files = [open(a), open(b)];
    let lines: Vec<String> = (0..WARMUP + N).map(line).collect();
    let mut written = [
        Vec::with_capacity(lines.len()),
        Vec::with_capacity(lines.len()),
    ];
    let spacing = spacing();
    let start = Instant::now();
    for (i, l) in lines.iter().enumerate() {
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for (half, &k) in order.iter().enumerate() {
            let due = start + spacing * i as u32 + spacing / 2 * half as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            written[k].push(Instant::now());
            files[k].write_all(l.as_bytes()).expect("append");
        }
    }
    let [wa, wb] = written;
    (wa, wb)
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

// ---------------------------------------------------------------- webpeek

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_webpeek"))
}

/// Starts webpeek on `log`; returns the guard and the port it serves on.
fn start_webpeek(log: &Path) -> (Guard, u16) {
    let mut child = Command::new(bin())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-dns",
            "--all",
            "--poll-interval",
            "1",
        ])
        .arg(log)
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
            } else {
                eprintln!("  [webpeek] {l}");
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("webpeek did not print `serving` within 10 s")
        .expect("cannot parse the port of `serving`");
    (guard, port)
}

/// Connects a viewer, reads `hello`, says so on `ready`, then records the arrival of every
/// `/bench/<i>` hit until all have arrived or `until` (set by the writer) passes.
fn ws_reader(
    port: u16,
    ready: mpsc::Sender<()>,
    until: mpsc::Receiver<Instant>,
) -> Vec<Option<Instant>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let url = format!("ws://127.0.0.1:{port}/ws");
        let (mut ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        .expect("WebSocket connect timed out")
        .expect("WebSocket connect");
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
        let _ = ready.send(());

        let total = WARMUP + N;
        let mut arrived: Vec<Option<Instant>> = vec![None; total];
        let mut seen = 0;
        // Until the writer is done, wait at most the whole run; then DRAIN more.
        let mut deadline = Instant::now() + WHOLE_RUN;
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
                Ok(other) => panic!("WebSocket ended: {other:?}"),
            };
            let now = Instant::now();
            let Message::Text(t) = msg else { continue };
            let v: serde_json::Value = serde_json::from_str(&t).expect("frame is JSON");
            match v["type"].as_str() {
                Some("hits") => {
                    for h in v["hits"].as_array().into_iter().flatten() {
                        if let Some(i) = h["path"].as_str().and_then(index_in)
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
        let _ = ws.close(None).await;
        arrived
    })
}

/// webpeek following its log, with a viewer recording arrivals.
struct WebpeekRun {
    _dir: tempfile::TempDir,
    log: PathBuf,
    guard: Guard,
    reader: std::thread::JoinHandle<Vec<Option<Instant>>>,
    until: mpsc::Sender<Instant>,
}

impl WebpeekRun {
    fn start() -> WebpeekRun {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("access.log");
        std::fs::write(&log, "").expect("create log");
        let (guard, port) = start_webpeek(&log);
        let (ready_tx, ready_rx) = mpsc::channel();
        let (until, until_rx) = mpsc::channel();
        let reader = std::thread::Builder::new()
            .name("ws reader".into())
            .spawn(move || ws_reader(port, ready_tx, until_rx))
            .expect("reader thread");
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the WebSocket viewer did not get its hello");
        // A new viewer may send `resume` within 200 ms; live frames wait until then.
        std::thread::sleep(Duration::from_millis(300));
        WebpeekRun {
            _dir: dir,
            log,
            guard,
            reader,
            until,
        }
    }

    /// Arrival instants, waiting at most until `deadline` for the last ones.
    fn finish(self, deadline: Instant) -> Vec<Option<Instant>> {
        let _ = self.until.send(deadline);
        let arrived = self.reader.join().expect("reader thread panicked");
        drop(self.guard);
        arrived
    }
}

// ---------------------------------------------------------------- tail -F

/// `tail -n0 -F` following its log, with a thread reading its stdout.
struct TailRun {
    _dir: tempfile::TempDir,
    log: PathBuf,
    guard: Guard,
    rx: mpsc::Receiver<(Instant, String)>,
}

impl TailRun {
    fn start() -> TailRun {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("access.log");
        std::fs::write(&log, "").expect("create log");
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
                        if tx
                            .send((now, String::from_utf8_lossy(&l).into_owned()))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            })
            .expect("tail reader thread");

        // tail says nothing when its watches are in place: append probes until one comes out.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open");
        let give_up = Instant::now() + Duration::from_secs(10);
        'probe: loop {
            assert!(
                Instant::now() < give_up,
                "tail -F printed nothing within 10 s"
            );
            f.write_all(b"probe\n").expect("append");
            let until = Instant::now() + Duration::from_millis(50);
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                if rx.recv_timeout(left).is_ok() {
                    break 'probe;
                }
            }
        }
        // Let late probes come out before the measured lines.
        std::thread::sleep(Duration::from_millis(100));
        while rx.try_recv().is_ok() {}
        TailRun {
            _dir: dir,
            log,
            guard,
            rx,
        }
    }

    /// Arrival instants, waiting at most until `deadline` for the last ones.
    fn finish(self, deadline: Instant) -> Vec<Option<Instant>> {
        let total = WARMUP + N;
        let mut arrived: Vec<Option<Instant>> = vec![None; total];
        let mut seen = 0;
        while seen < total {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            let Ok((t, l)) = self.rx.recv_timeout(left) else {
                break;
            };
            if let Some(i) = index_in(&l)
                && i < total
                && arrived[i].is_none()
            {
                arrived[i] = Some(t);
                seen += 1;
            }
        }
        drop(self.guard);
        arrived
    }
}

// ---------------------------------------------------------------- report

/// Latencies, lost count, and the five slowest (index, latency).
fn summarize(
    written: &[Instant],
    arrived: &[Option<Instant>],
) -> (Vec<Duration>, usize, Vec<(usize, Duration)>) {
    let (lat, lost) = latencies(written, arrived);
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
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "latency bench: skipped (run it with `cargo bench --bench latency`; a debug build under \
             `cargo test` measures nothing useful)"
        );
        return;
    }
    start_watchdog();
    let began = Instant::now();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    eprintln!("latency bench: webpeek = {}", bin().display());
    eprintln!(
        "latency bench: {WARMUP} warm-up + {N} measured appends, {} ms apart, per follower",
        spacing().as_millis()
    );

    let wp_run = WebpeekRun::start();
    let tail_run = TailRun::start();
    let s0 = steal();
    let (wp_written, tl_written) = append_interleaved(&wp_run.log, &tail_run.log);
    let s1 = steal();
    let deadline = Instant::now() + DRAIN;
    let wp_arrived = wp_run.finish(deadline);
    let tl_arrived = tail_run.finish(deadline);
    let (mut wp, wp_lost, wp_slow) = summarize(&wp_written, &wp_arrived);
    let (mut tl, tl_lost, tl_slow) = summarize(&tl_written, &tl_arrived);
    wp.sort();
    tl.sort();

    let qs = [0.5, 0.9, 0.99];
    println!();
    println!(
        "### Append-to-delivery latency, {N} lines, {} ms apart",
        spacing().as_millis()
    );
    println!();
    println!("| follower | delivered | min ms | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, lat, lost) in [
        ("webpeek → WebSocket client", &wp, wp_lost),
        ("GNU `tail -n0 -F` → pipe", &tl, tl_lost),
    ] {
        println!(
            "| {name} | {}/{N} | {} | {} | {} | {} | {} |",
            N - lost,
            ms(pct(lat, 0.0)),
            ms(pct(lat, qs[0])),
            ms(pct(lat, qs[1])),
            ms(pct(lat, qs[2])),
            ms(lat.last().copied().unwrap_or_default()),
        );
    }
    let ratio = |q: f64| pct(&wp, q).as_secs_f64() / pct(&tl, q).as_secs_f64().max(1e-9);
    println!();
    println!(
        "ratio webpeek / tail -F: p50 {:.2}×, p99 {:.2}×",
        ratio(0.5),
        ratio(0.99)
    );
    println!(
        "DESIGN.md §6 target: p99 < 5 ms → {}; no later than tail -F at p99 → {}",
        if pct(&wp, 0.99) < Duration::from_millis(5) && wp_lost == 0 {
            "met"
        } else {
            "NOT met"
        },
        if ratio(0.99) <= 1.0 { "met" } else { "NOT met" }
    );
    let slow = |v: &[(usize, Duration)]| {
        v.iter()
            .map(|(i, d)| format!("#{i} {} ms", ms(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("slowest webpeek: {}", slow(&wp_slow));
    println!("slowest tail -F: {}", slow(&tl_slow));
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
    println!("histogram webpeek: {}", hist(&wp));
    println!("histogram tail -F: {}", hist(&tl));
    println!();
    println!(
        "machine: {nproc} CPUs (shared, noisy VM), Linux {}, load average at start {}, {}; \
         steal time while appending {} ms; whole bench {:.1} s",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        first_line("tail", &["--version"]),
        (s1 - s0).as_millis(),
        began.elapsed().as_secs_f64()
    );
    println!(
        "method: Instant before one write_all (O_APPEND) → Instant when the WebSocket frame / the \
         pipe read carrying the line returned; warm-up {WARMUP} lines not counted; both followers \
         run at once, their appends interleaved half a period apart, order alternating."
    );
    if wp_lost + tl_lost > 0 {
        eprintln!("latency bench: lines lost (webpeek {wp_lost}, tail {tl_lost})");
        std::process::exit(1);
    }
}
