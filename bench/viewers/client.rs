//! Load client for `bench/viewers.sh`: many WebSocket viewers, the log writer, the server's
//! CPU and memory, and the table, in one program (so append and receive times share a clock).
//!
//! ```text
//! client view  --url ws://127.0.0.1:P/ws --viewers N [--bind 127.0.0.2] [--sample K]
//!              [--stalled 1] --mode webpeek|reference --stop FILE --final SEQ [--drain S]
//!              [--ready FILE] [--backlog SEQ]                            > view.json
//! client write --log FILE --rate 1000 --count 30000
//! client watch --pid PID --stop FILE                                  > watch.json
//! client table DIR...
//! ```
//!
//! Viewers speak WebSocket by hand over plain TCP (the handshake, unmasked server frames, a
//! masked pong): 10,000 of them must cost the machine as little as possible next to the server
//! being measured. Every viewer checks that it got every hit (webpeek and the floor: `seq`
//! without a gap and no `lagged`; the reference: the line index without a gap); a sample also
//! parses every frame and takes the latency of each hit from the append time the writer put in
//! its query, both to when it read the frame and to the kernel's receive stamp of the frame's
//! bytes (the server's part, without this client's own delay in reading: an upper bound, see
//! [`read_stamped`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Upper bound for any run, whatever the stop file says (every loop here is bounded).
const MAX_RUN: Duration = Duration::from_secs(600);
/// Viewers connecting at once.
const CONNECT_CONCURRENCY: usize = 256;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("usage: client view|write|watch|table ...");
        std::process::exit(2);
    };
    let opts = Opts::parse(&args[1..]);
    match cmd.as_str() {
        "view" => view(&opts),
        "write" => write(&opts),
        "watch" => watch(&opts),
        "table" => table(&args[1..]),
        other => {
            eprintln!("unknown command {other}");
            std::process::exit(2);
        }
    }
}

/// `--name value` pairs.
struct Opts(HashMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Opts {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                map.insert(name.to_owned(), it.next().cloned().unwrap_or_default());
            }
        }
        Opts(map)
    }
    fn get(&self, name: &str) -> &str {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("--{name} is needed"))
    }
    fn num(&self, name: &str, default: u64) -> u64 {
        self.0.get(name).map_or(default, |v| v.parse().expect(name))
    }
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

// ---------------------------------------------------------------------------------------------
// write: the traffic

/// Appends `--count` combined lines at `--rate` per second, one `write()` each, each with its
/// index in the path and its append time (ns since the epoch) in the query.
fn write(opts: &Opts) {
    use std::io::Write;
    let rate = opts.num("rate", 1000);
    let count = opts.num("count", 30_000);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(opts.get("log"))
        .expect("open the log");
    let start = Instant::now();
    for i in 0..count {
        let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let ns = unix_ns();
        let line = format!(
            "203.0.113.{} - - [{}] \"GET /i/{i}?t={ns} HTTP/1.1\" 200 5120 \"https://example.com/\" \
             \"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\"\n",
            i % 250 + 1,
            clf_time(ns / 1_000_000_000),
        );
        file.write_all(line.as_bytes()).expect("append");
    }
    eprintln!(
        "write: {count} lines in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// `03/Dec/2026:13:08:01 +0000`.
fn clf_time(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

// ---------------------------------------------------------------------------------------------
// watch: the server's CPU and memory

/// Samples `/proc/PID` every 250 ms until the stop file appears: CPU ticks at the start and the
/// end, VmRSS samples, VmHWM at the end.
fn watch(opts: &Opts) {
    let pid = opts.get("pid");
    let stop = PathBuf::from(opts.get("stop"));
    let ticks = cpu_ticks;
    let status = |pid: &str, key: &str| -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let hz = CLOCK_TICKS;
    let start = Instant::now();
    let t0 = ticks(pid);
    let mut rss = Vec::new();
    while !stop.exists() && start.elapsed() < MAX_RUN {
        rss.push(status(pid, "VmRSS:"));
        std::thread::sleep(Duration::from_millis(250));
    }
    let t1 = ticks(pid);
    let secs = start.elapsed().as_secs_f64();
    let out = json!({
        "cpu_percent": (t1 - t0) as f64 / hz / secs * 100.0,
        "seconds": secs,
        "rss_kb": rss,
        "hwm_kb": status(pid, "VmHWM:"),
        "rss_end_kb": status(pid, "VmRSS:"),
    });
    println!("{out}");
}

/// Clock ticks per second in `/proc/PID/stat` (`USER_HZ`: 100 on Linux x86-64 and arm64).
const CLOCK_TICKS: f64 = 100.0;

// ---------------------------------------------------------------------------------------------
// view: the viewers

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// webpeek's JSON frames, hits with `seq`.
    Webpeek,
    /// The reference server: one raw log line per frame.
    Reference,
}

/// What one viewer saw.
#[derive(Default)]
struct Seen {
    frames: AtomicU64,
    hits: AtomicU64,
    first: AtomicU64,
    last: AtomicU64,
    gaps: AtomicU64,
    lagged: AtomicU64,
    closed: AtomicBool,
}

impl Seen {
    /// Takes the hits `first..=last` of one frame; a gap after the previous one is counted.
    fn take(&self, first: u64, last: u64) {
        let prev = self.last.load(Ordering::Relaxed);
        if self.hits.load(Ordering::Relaxed) == 0 {
            self.first.store(first, Ordering::Relaxed);
        } else if first != prev + 1 {
            self.gaps.fetch_add(1, Ordering::Relaxed);
        }
        self.last.store(last, Ordering::Relaxed);
        self.hits
            .fetch_add(last.saturating_sub(first) + 1, Ordering::Relaxed);
    }
}

fn view(opts: &Opts) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(view_async(opts));
}

async fn view_async(opts: &Opts) {
    let url = opts.get("url");
    let rest = url.strip_prefix("ws://").expect("ws:// URL");
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let server: SocketAddr = hostport.parse().expect("ws://IP:PORT/...");
    let path = format!("/{path}");
    let bind: IpAddr = opts
        .0
        .get("bind")
        .map_or("127.0.0.1", String::as_str)
        .parse()
        .unwrap();
    let n = opts.num("viewers", 100) as usize;
    let sample = opts.num("sample", 0) as usize;
    let stalled = opts.num("stalled", 0) as usize;
    let mode = match opts.get("mode") {
        "webpeek" => Mode::Webpeek,
        _ => Mode::Reference,
    };
    let stop = PathBuf::from(opts.get("stop"));
    let request: Arc<str> = format!(
        "GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    )
    .into();

    // The stalled viewers first: they read the upgrade and nothing more, ever.
    let mut held = Vec::new();
    for _ in 0..stalled {
        match connect(server, bind, &request, true).await {
            Ok((stream, ..)) => held.push(stream),
            Err(e) => eprintln!("stalled viewer: {e}"),
        }
    }

    let seen: Vec<Arc<Seen>> = (0..n).map(|_| Arc::new(Seen::default())).collect();
    let latencies: Vec<Arc<Mutex<Latencies>>> =
        (0..sample.min(n)).map(|_| Arc::default()).collect();
    let started = Instant::now();
    let connected = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let compressed = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECT_CONCURRENCY));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    for (i, s) in seen.iter().enumerate() {
        // Sampled viewers spread over the whole set.
        let lat = if sample > 0 && i % (n / sample.min(n)).max(1) == 0 {
            latencies.get(i / (n / sample.min(n)).max(1)).cloned()
        } else {
            None
        };
        let (s, request, gate) = (s.clone(), request.clone(), gate.clone());
        let (connected, failed, done) = (connected.clone(), failed.clone(), done_tx.clone());
        let compressed = compressed.clone();
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let mut tries = 0;
            let (stream, leftover, deflate) = loop {
                match connect(server, bind, &request, false).await {
                    Ok(ok) if lat.is_some() => match stamp_arrivals(&ok.0) {
                        Ok(()) => break ok,
                        Err(e) => panic!("SO_TIMESTAMPING: {e}"),
                    },
                    Ok(ok) => break ok,
                    Err(e) if tries < 20 => {
                        tries += 1;
                        if tries == 1 {
                            eprintln!("connect: {e}; retrying");
                        }
                        tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                    }
                    Err(e) => {
                        eprintln!("connect: {e}; giving up");
                        failed.fetch_add(1, Ordering::Relaxed);
                        let _ = done.send(());
                        return;
                    }
                }
            };
            connected.fetch_add(1, Ordering::Relaxed);
            if deflate {
                compressed.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
            let _ = done.send(());
            read_frames(stream, leftover, mode, &s, lat.as_deref()).await;
            s.closed.store(true, Ordering::Relaxed);
        });
    }
    drop(done_tx);
    for _ in 0..n {
        if tokio::time::timeout(MAX_RUN, done_rx.recv()).await.is_err() {
            break;
        }
    }
    // Connected means upgraded and holding the backlog (webpeek: hits up to `--backlog`), so
    // that the run does not start while the server is still sending backlogs.
    let backlog = opts.num("backlog", 0);
    while seen
        .iter()
        .any(|s| !s.closed.load(Ordering::Relaxed) && s.last.load(Ordering::Relaxed) < backlog)
        && started.elapsed() < MAX_RUN
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_s = started.elapsed().as_secs_f64();
    eprintln!(
        "view {bind}: {} connected, {} failed in {connect_s:.1} s",
        connected.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    // Tells the script this process is ready; the stop file ends the run.
    if let Some(ready) = opts.0.get("ready") {
        std::fs::write(ready, "ready\n").unwrap();
    }
    let ready_at = Instant::now();
    let cpu_at_ready = own_cpu_ticks();
    let frames_at_ready: u64 = seen.iter().map(|s| s.frames.load(Ordering::Relaxed)).sum();
    while !stop.exists() && started.elapsed() < MAX_RUN {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run_s = ready_at.elapsed().as_secs_f64();
    let cpu_percent = (own_cpu_ticks() - cpu_at_ready) as f64 / CLOCK_TICKS / run_s * 100.0;
    let frames: u64 = seen.iter().map(|s| s.frames.load(Ordering::Relaxed)).sum();
    // Then up to `--drain` seconds for viewers still behind to reach the last hit (`--final`):
    // a viewer that is late is told apart from one that lost hits.
    let last_hit = opts.num("final", 0);
    let drain = Instant::now();
    let behind = |seen: &[Arc<Seen>]| {
        seen.iter()
            .filter(|s| {
                !s.closed.load(Ordering::Relaxed) && s.last.load(Ordering::Relaxed) < last_hit
            })
            .count()
    };
    while behind(&seen) > 0 && drain.elapsed() < Duration::from_secs(opts.num("drain", 20)) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain_s = drain.elapsed().as_secs_f64();
    let viewers: Vec<Value> = seen
        .iter()
        .map(|s| {
            json!([
                s.first.load(Ordering::Relaxed),
                s.last.load(Ordering::Relaxed),
                s.hits.load(Ordering::Relaxed),
                s.gaps.load(Ordering::Relaxed),
                s.lagged.load(Ordering::Relaxed),
                s.closed.load(Ordering::Relaxed),
            ])
        })
        .collect();
    let (mut lat, mut in_socket): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    for l in &latencies {
        let l = l.lock().unwrap();
        lat.extend(&l.read);
        in_socket.extend(&l.in_socket);
    }
    let out = json!({
        "connected": connected.load(Ordering::Relaxed),
        "compressed": compressed.load(Ordering::Relaxed),
        "failed": failed.load(Ordering::Relaxed),
        "connect_s": connect_s,
        "run_s": run_s,
        "frames_in_run": frames - frames_at_ready,
        "drain_s": drain_s,
        "cpu_percent": cpu_percent,
        "final": last_hit,
        "viewers": viewers,
        "latency_us": lat,
        "socket_latency_us": in_socket,
        "stalled": held.len(),
    });
    println!("{out}");
    drop(held);
}

/// This process's CPU time so far, in clock ticks.
fn own_cpu_ticks() -> u64 {
    cpu_ticks("self")
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are the 14th and
    // 15th fields.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

/// Opens a TCP connection from `bind` and upgrades it (offering permessage-deflate); returns the
/// stream, any bytes read past the response head, and whether the server agreed to compress.
async fn connect(
    server: SocketAddr,
    bind: IpAddr,
    request: &str,
    small_buffer: bool,
) -> std::io::Result<(TcpStream, Vec<u8>, bool)> {
    let socket = match bind {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(bind, 0))?;
    if small_buffer {
        // A stalled viewer: let its socket fill quickly.
        socket.set_recv_buffer_size(4096)?;
    }
    let mut stream = tokio::time::timeout(Duration::from_secs(20), socket.connect(server))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))??;
    stream.set_nodelay(true)?;
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1024);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut chunk = [0u8; 1024];
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::other("no upgrade answer"))??;
        if n == 0 {
            return Err(std::io::Error::other("closed during the upgrade"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if !buf.starts_with(b"HTTP/1.1 101") {
                let head = String::from_utf8_lossy(&buf[..end]);
                return Err(std::io::Error::other(format!(
                    "refused: {}",
                    head.lines().next().unwrap_or("")
                )));
            }
            let rest = buf.split_off(end + 4);
            let deflate = String::from_utf8_lossy(&buf)
                .to_ascii_lowercase()
                .contains("sec-websocket-extensions: permessage-deflate");
            return Ok((stream, rest, deflate));
        }
        if buf.len() > 16 * 1024 {
            return Err(std::io::Error::other("answer head too long"));
        }
    }
}

/// Reads WebSocket frames until the socket closes; answers pings.
async fn read_frames(
    mut stream: TcpStream,
    mut buf: Vec<u8>,
    mode: Mode,
    seen: &Seen,
    latencies: Option<&Mutex<Latencies>>,
) {
    // When the bytes of the last read entered the socket (sampled viewers).
    let mut arrived = None;
    // Fragments of one message (a server may split a long one; webpeek does not).
    let mut message: Vec<u8> = Vec::new();
    // Whether the message being read is compressed (RSV1 on its first frame).
    let mut compressed = false;
    loop {
        // Whole frames in `buf`.
        let mut at = 0;
        loop {
            let b = &buf[at..];
            if b.len() < 2 {
                break;
            }
            let (fin, rsv1, opcode) = (b[0] & 0x80 != 0, b[0] & 0x40 != 0, b[0] & 0x0f);
            let (len, head) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                127 if b.len() >= 10 => (
                    u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                126 | 127 => break,
                n => (n as usize, 2),
            };
            if b.len() < head + len {
                break;
            }
            let payload = &b[head..head + len];
            at += head + len;
            match opcode {
                0x9 => {
                    // Pong, masked (client to server), same payload (pings here are empty).
                    let mut pong = vec![0x8a, 0x80 | payload.len().min(125) as u8, 0, 0, 0, 0];
                    pong.extend_from_slice(&payload[..payload.len().min(125)]);
                    if stream.write_all(&pong).await.is_err() {
                        return;
                    }
                }
                0x8 => return,
                0x1 | 0x0 => {
                    if opcode == 0x1 {
                        compressed = rsv1;
                    }
                    if fin && message.is_empty() {
                        receive(payload, compressed, mode, seen, latencies, arrived);
                    } else {
                        message.extend_from_slice(payload);
                        if fin {
                            receive(&message, compressed, mode, seen, latencies, arrived);
                            message.clear();
                        }
                    }
                }
                _ => {}
            }
        }
        buf.drain(..at);
        // Straight into the buffer's free space: one copy, the kernel's.
        if buf.capacity() - buf.len() < 8 * 1024 {
            buf.reserve(16 * 1024);
        }
        let read = if latencies.is_some() {
            read_stamped(&stream, &mut buf, &mut arrived).await
        } else {
            stream.read_buf(&mut buf).await
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// A sampled viewer's latencies (µs from the append), each hit twice: when the viewer read it,
/// and the kernel's receive stamp of its bytes.
#[derive(Default)]
struct Latencies {
    read: Vec<u32>,
    in_socket: Vec<u32>,
}

/// Asks the kernel to stamp each packet this socket receives (`SO_TIMESTAMPING`, software
/// receive stamps). Over loopback the stamp is made as the sender's kernel hands the segment to
/// the loopback device, inside the server's `write()`: when the server sent the bytes, however
/// long this process then takes to read them.
fn stamp_arrivals(stream: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let flags = libc::SOF_TIMESTAMPING_RX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE;
    // SAFETY: a valid socket and a pointer to an int of the size given.
    let r = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            (&raw const flags).cast(),
            std::mem::size_of_val(&flags) as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Reads into `buf`'s free space with `recvmsg`, setting `arrived` to the kernel's receive stamp
/// (ns since the epoch) of the last packet read. Bytes that came in several packets all get the
/// last one's stamp, so for the earlier ones it is late: an upper bound on the server's part.
async fn read_stamped(
    stream: &TcpStream,
    buf: &mut Vec<u8>,
    arrived: &mut Option<u64>,
) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    loop {
        stream.readable().await?;
        let read = stream.try_io(tokio::io::Interest::READABLE, || {
            let spare = buf.spare_capacity_mut();
            let mut iov = libc::iovec {
                iov_base: spare.as_mut_ptr().cast(),
                iov_len: spare.len(),
            };
            // Room for one `scm_timestamping` (three timespecs) and its header.
            let mut control = [0u64; 16];
            // SAFETY: an all-zero msghdr is valid; its pointers are set below.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &raw mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control);
            // SAFETY: the iovec points into `buf`'s spare capacity, the control buffer lives
            // for the call.
            let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &raw mut msg, 0) };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            *arrived = None;
            // SAFETY: walking the control messages the kernel wrote, within msg_controllen.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&raw const msg);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET
                        && (*c).cmsg_type == libc::SCM_TIMESTAMPING
                    {
                        let ts = libc::CMSG_DATA(c).cast::<libc::timespec>().read_unaligned();
                        if ts.tv_sec > 0 {
                            *arrived = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
                        }
                    }
                    c = libc::CMSG_NXTHDR(&raw const msg, c);
                }
            }
            Ok(n as usize)
        });
        match read {
            Ok(n) => {
                // SAFETY: the kernel wrote `n` bytes into the spare capacity.
                unsafe { buf.set_len(buf.len() + n) };
                return Ok(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Takes one message, inflating it first if it is compressed.
fn receive(
    payload: &[u8],
    compressed: bool,
    mode: Mode,
    seen: &Seen,
    latencies: Option<&Mutex<Latencies>>,
    arrived: Option<u64>,
) {
    if compressed {
        let message = INFLATED.with_borrow_mut(|memo| memo.take(payload, mode));
        on_message(&message.text, message.kind, mode, seen, latencies, arrived);
    } else {
        on_message(
            payload,
            Kind::of(payload, mode),
            mode,
            seen,
            latencies,
            arrived,
        );
    }
}

thread_local! {
    static INFLATED: std::cell::RefCell<Inflated> = std::cell::RefCell::new(Inflated::default());
}

/// What a message says about the stream, read once per distinct message.
#[derive(Clone, Copy)]
enum Kind {
    /// Hits `first..=last` (webpeek's `seq`, the reference's line index).
    Hits(u64, u64),
    /// webpeek's `lagged`.
    Lagged,
    /// Anything else (`hello`, `stats`, `history`).
    Other,
}

impl Kind {
    fn of(text: &[u8], mode: Mode) -> Kind {
        match mode {
            Mode::Webpeek => {
                if text.starts_with(b"{\"type\":\"lagged\"") {
                    return Kind::Lagged;
                }
                if !text.starts_with(b"{\"type\":\"hits\"") {
                    return Kind::Other;
                }
                let first = number_after(text, b"\"seq\":");
                let last = rfind(text, b"{\"seq\":").and_then(|i| number_after(&text[i..], b":"));
                match (first, last) {
                    (Some(first), Some(last)) => Kind::Hits(first, last),
                    _ => Kind::Other,
                }
            }
            Mode::Reference => find(text, b"/i/")
                .and_then(|i| number_after(&text[i..], b"/i/"))
                .map_or(Kind::Other, |i| Kind::Hits(i, i)),
        }
    }
}

/// An inflated message and what it says.
#[derive(Clone)]
struct Message {
    text: Arc<[u8]>,
    kind: Kind,
}

/// Compressed messages already inflated and read, by their bytes. The server compresses each
/// frame once and sends the same bytes to every viewer, so 5,000 viewers inflate and read it
/// once here; a message is only taken from here when its compressed bytes are equal, byte for
/// byte, so every viewer still counts exactly what it received. Without this the client spent
/// a third of its CPU reading the same frame 5,000 times, CPU the server then lacked.
///
/// Two generations, so that a frame still wanted survives when the cache turns over: viewers
/// that fell behind read older frames than the rest, and a cache that forgot them all at once
/// made each such viewer inflate every frame alone, which slowed all of this process's viewers.
#[derive(Default)]
struct Inflated {
    by_key: HashMap<u64, (Vec<u8>, Message)>,
    older: HashMap<u64, (Vec<u8>, Message)>,
}

/// Messages per generation of [`Inflated`] (a 30 s run has 1,500 frames).
const INFLATED_GENERATION: usize = 2048;

impl Inflated {
    fn take(&mut self, payload: &[u8], mode: Mode) -> Message {
        // A cheap key (length and the last 16 bytes, where deflate's output of two frames
        // differs); the full comparison below is what makes a hit safe.
        let tail = &payload[payload.len().saturating_sub(16)..];
        let mut key = 0xcbf2_9ce4_8422_2325u64 ^ payload.len() as u64;
        for &b in tail {
            key = (key ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        if let Some((bytes, message)) = self.by_key.get(&key)
            && bytes[..] == payload[..]
        {
            return message.clone();
        }
        let message = match self.older.remove(&key) {
            Some((bytes, message)) if bytes[..] == payload[..] => message,
            _ => {
                let text = inflate(payload);
                Message {
                    kind: Kind::of(&text, mode),
                    text,
                }
            }
        };
        // Bounded: frames are not seen again once every viewer has had them.
        if self.by_key.len() >= INFLATED_GENERATION {
            self.older = std::mem::take(&mut self.by_key);
        }
        self.by_key.insert(key, (payload.to_vec(), message.clone()));
        message
    }
}

/// Inflates one message on its own (the server takes no context over).
fn inflate(payload: &[u8]) -> Arc<[u8]> {
    let mut d = flate2::Decompress::new(false);
    let mut out = Vec::with_capacity(payload.len() * 8 + 64);
    for input in [payload, &[0, 0, 0xff, 0xff][..]] {
        let start = d.total_in();
        loop {
            let used = (d.total_in() - start) as usize;
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity());
            }
            let before = out.len();
            if d.decompress_vec(&input[used..], &mut out, flate2::FlushDecompress::Sync)
                .is_err()
            {
                break;
            }
            if (d.total_in() - start) as usize == input.len() && out.len() == before {
                break;
            }
            if (d.total_in() - start) as usize == input.len() && out.capacity() > out.len() {
                break;
            }
        }
    }
    out.into()
}

/// Counts one message for its viewer; a sampled viewer also takes the latency of each hit.
fn on_message(
    text: &[u8],
    kind: Kind,
    mode: Mode,
    seen: &Seen,
    latencies: Option<&Mutex<Latencies>>,
    arrived: Option<u64>,
) {
    seen.frames.fetch_add(1, Ordering::Relaxed);
    match kind {
        Kind::Lagged => {
            seen.lagged.fetch_add(1, Ordering::Relaxed);
        }
        Kind::Other => {}
        Kind::Hits(first, last) => {
            seen.take(first, last);
            if let Some(lat) = latencies {
                let now = unix_ns();
                // Each hit's append time, from its query (webpeek's JSON `"query":"t=NS"`, the
                // reference's raw line `?t=NS`): a scan, not a JSON parse.
                let key: &[u8] = match mode {
                    Mode::Webpeek => b"\"query\":\"t=",
                    Mode::Reference => b"?t=",
                };
                let mut lat = lat.lock().unwrap();
                for at in memchr::memmem::find_iter(text, key) {
                    if let Some(t) = number_after(&text[at..], key) {
                        lat.read.push((now.saturating_sub(t) / 1000) as u32);
                        if let Some(arrived) = arrived {
                            lat.in_socket
                                .push((arrived.saturating_sub(t) / 1000) as u32);
                        }
                    }
                }
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::rfind(hay, needle)
}

/// The decimal number right after the first `key` in `text`.
fn number_after(text: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(text, key)? + key.len();
    let digits = text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&text[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------------
// table: one row per run directory

/// Prints the table from run directories, each holding `meta.json` (server, viewers, baseline
/// RSS, the stalled viewer's fate), `watch.json` and `view-*.json`.
fn table(dirs: &[String]) {
    println!(
        "| server | viewers | connected in | p50 | p99 | in the socket: p50 / p99 | server CPU | RSS steady / peak | RSS per viewer | got every hit | lost hits | last hit after | frames/s per viewer | client CPU | viewer that stopped reading |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for dir in dirs {
        let dir = Path::new(dir);
        let read = |name: &str| -> Value {
            std::fs::read_to_string(dir.join(name))
                .ok()
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(Value::Null)
        };
        let meta = read("meta.json");
        let watch = read("watch.json");
        let mut views = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("view-") && name.ends_with(".json") {
                views.push(read(&name));
            }
        }
        let sum = |key: &str| {
            views
                .iter()
                .map(|v| v[key].as_f64().unwrap_or(0.0))
                .sum::<f64>()
        };
        let max = |key: &str| {
            views
                .iter()
                .map(|v| v[key].as_f64().unwrap_or(0.0))
                .fold(0.0, f64::max)
        };
        let connected = sum("connected") as u64;
        // Viewers whose frames came compressed (permessage-deflate, offered by every viewer).
        let compressed = sum("compressed") as u64;
        let server = match meta["server"].as_str().unwrap_or("?") {
            s if compressed == connected && connected > 0 => format!("{s} (deflate)"),
            s if compressed > 0 => format!("{s} (deflate: {compressed})"),
            s => s.to_owned(),
        };
        let latencies = |key: &str| {
            let mut lat: Vec<u32> = views
                .iter()
                .flat_map(|v| v[key].as_array().cloned().unwrap_or_default())
                .filter_map(|x| x.as_u64().map(|x| x as u32))
                .collect();
            lat.sort_unstable();
            lat
        };
        let (lat, in_socket) = (latencies("latency_us"), latencies("socket_latency_us"));
        let pct = |lat: &[u32], p: f64| -> String {
            if lat.is_empty() {
                return "–".into();
            }
            let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
            format!("{:.1} ms", lat[i] as f64 / 1000.0)
        };
        // Every hit: no gap, no `lagged`, still open, and up to the last hit written; for the
        // servers without a backlog, also from the first one written (the reference's line
        // index 0, the floor's seq 1). Lost: a gap, a `lagged` or closed.
        let all: Vec<&Value> = views
            .iter()
            .flat_map(|v| v["viewers"].as_array().into_iter().flatten())
            .collect();
        let last_hit = views
            .first()
            .map_or(0, |v| v["final"].as_u64().unwrap_or(0));
        let first_hit = match meta["server"].as_str() {
            Some("reference") => Some(0),
            Some("floor") => Some(1),
            _ => None,
        };
        let lost = |v: &&&Value| v[3] != 0 || v[4] != 0 || v[5] == true;
        let complete = all
            .iter()
            .filter(|v| {
                !lost(v)
                    && v[1].as_u64() == Some(last_hit)
                    && first_hit.is_none_or(|first| v[0].as_u64() == Some(first))
            })
            .count();
        let lost = all.iter().filter(lost).count();
        let rss: Vec<u64> = watch["rss_kb"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        // Steady: the median of the samples over the run.
        let steady = {
            let mut r = rss.clone();
            r.sort_unstable();
            r.get(r.len() / 2).copied().unwrap_or(0)
        };
        let hwm = watch["hwm_kb"].as_u64().unwrap_or(0);
        let base = meta["baseline_kb"].as_u64().unwrap_or(0);
        let per_viewer = if connected > 0 {
            (steady.saturating_sub(base) as f64 * 1024.0 / connected as f64 / 1024.0).round()
        } else {
            0.0
        };
        let frames_per_s = if connected > 0 {
            let run = max("run_s").max(1e-9);
            sum("frames_in_run") / connected as f64 / run
        } else {
            0.0
        };
        println!(
            "| {} | {} of {} | {:.1} s | {} | {} | {} / {} | {:.0} % | {} / {} MiB | {} KiB | {} | {} | +{:.1} s | {:.1} | {:.0} % | {} |",
            server,
            connected,
            meta["viewers"],
            max("connect_s"),
            pct(&lat, 0.50),
            pct(&lat, 0.99),
            pct(&in_socket, 0.50),
            pct(&in_socket, 0.99),
            watch["cpu_percent"].as_f64().unwrap_or(0.0),
            steady / 1024,
            hwm / 1024,
            per_viewer,
            complete,
            lost,
            max("drain_s"),
            frames_per_s,
            sum("cpu_percent"),
            meta["stalled"].as_str().unwrap_or("?"),
        );
    }
}
