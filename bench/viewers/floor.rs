//! The floor for `bench/viewers.sh`: the least a server can do to send every viewer every hit,
//! to show what this machine allows, apart from any server's design. Lines read from stdin
//! (`tail -n0 -F LOG | floor 127.0.0.1:0 THREADS`) become `hits` frames with the same JSON as
//! webpeek's, encoded by webpeek's own frame encoder (so the same bytes to send), every 20 ms,
//! compressed once (permessage-deflate, no context takeover); THREADS threads each go round their share of the sockets, writing to each
//! every frame it has not had with one non-blocking `writev`. No task per viewer, no runtime, no
//! per-viewer timers, no pings, no reading: only the kernel's work per write is left. It prints
//! `listening on ADDR` once bound.

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// How often a frame is cut, as webpeek's pacing at 1,000 viewers and more.
const FRAME_INTERVAL: Duration = Duration::from_millis(20);

/// Every frame so far (a 30 s run is 1,500) and a signal for each new one.
struct Frames {
    list: Mutex<Vec<Bytes>>,
    /// `list.len()`, read without the lock.
    count: AtomicUsize,
    added: Condvar,
}

impl Frames {
    /// Takes the frames `mine` lacks.
    fn catch_up(&self, mine: &mut Vec<Bytes>) {
        if self.count.load(Ordering::Acquire) > mine.len() {
            let shared = self.list.lock().unwrap();
            mine.extend_from_slice(&shared[mine.len()..]);
        }
    }
}

/// One viewer's socket and how far it got.
struct Viewer {
    stream: TcpStream,
    /// Frames written in full.
    next: usize,
    /// Bytes of frame `next` already written.
    offset: usize,
}

fn main() {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:0".into());
    let threads: usize = std::env::args()
        .nth(2)
        .map_or(1, |t| t.parse::<usize>().expect("threads"))
        .max(1);
    let listener = TcpListener::bind(&addr).expect("bind");
    println!("listening on {}", listener.local_addr().unwrap());
    std::io::stdout().flush().unwrap();
    let frames = Arc::new(Frames {
        list: Mutex::new(Vec::new()),
        count: AtomicUsize::new(0),
        added: Condvar::new(),
    });
    let shards: Vec<Arc<Mutex<Vec<Viewer>>>> = (0..threads).map(|_| Arc::default()).collect();
    for shard in &shards {
        let (shard, frames) = (shard.clone(), frames.clone());
        std::thread::spawn(move || fan_out(&shard, &frames));
    }
    {
        let frames = frames.clone();
        std::thread::spawn(move || cut_frames(&frames));
    }
    for (i, stream) in listener.incoming().enumerate() {
        let Ok(mut stream) = stream else { continue };
        if upgrade(&mut stream).is_err() {
            continue;
        }
        stream.set_nonblocking(true).unwrap();
        let _ = stream.set_nodelay(true);
        // Viewers that come now start at the next frame.
        let next = frames.list.lock().unwrap().len();
        shards[i % threads].lock().unwrap().push(Viewer {
            stream,
            next,
            offset: 0,
        });
    }
}

/// Reads the request head and answers 101 with its accept key and permessage-deflate (what
/// the load client offers; the floor checks nothing else).
fn upgrade(stream: &mut TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() > 16 * 1024 {
            return Err(std::io::Error::other("no request"));
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let key = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim())
        })
        .unwrap_or("");
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    stream.write_all(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n"
        )
        .as_bytes(),
    )
}

/// Reads lines from stdin; every 20 ms, the lines read since the last frame become one.
fn cut_frames(frames: &Frames) {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                lines.lock().unwrap().push(hit_json(&line));
            }
        });
    }
    let mut seq = 0u64;
    let mut next = Instant::now();
    loop {
        next += FRAME_INTERVAL;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let hits = std::mem::take(&mut *lines.lock().unwrap());
        if hits.is_empty() {
            continue;
        }
        let mut text = String::from("{\"type\":\"hits\",\"hits\":[");
        for (i, hit) in hits.iter().enumerate() {
            seq += 1;
            if i > 0 {
                text.push(',');
            }
            text.push_str(&format!("{{\"seq\":{seq},{hit}"));
        }
        text.push_str("]}");
        // Encoded and compressed by webpeek's own frame encoder: the same bytes webpeek sends.
        let frame = webpeek::web::socket::text_frame(text.as_bytes(), true);
        let mut list = frames.list.lock().unwrap();
        list.push(frame);
        frames.count.store(list.len(), Ordering::Release);
        frames.added.notify_all();
    }
}

/// A hit as webpeek sends it, without its leading `{"seq":N,`, from one of the load client's
/// combined lines (`IP - - [03/Dec/2026:13:08:01 +0000] "GET /i/N?t=NS HTTP/1.1" 200 5120
/// "REFERER" "AGENT"`).
fn hit_json(line: &str) -> String {
    let field = |open: char, close: char, from: usize| -> (&str, usize) {
        let Some(start) = line[from..].find(open).map(|i| from + i + 1) else {
            return ("", line.len());
        };
        let end = line[start..].find(close).map_or(line.len(), |i| start + i);
        (&line[start..end], (end + 1).min(line.len()))
    };
    let ip = line.split(' ').next().unwrap_or("");
    let (clf, at) = field('[', ']', 0);
    let (request, at) = field('"', '"', at);
    let (referer, at) = field('"', '"', at);
    let (agent, _) = field('"', '"', at);
    let mut parts = request.split(' ');
    let (method, target, protocol) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    // 03/Dec/2026:13:08:01 +0000 → 2026-12-03T13:08:01Z
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS
        .iter()
        .position(|m| clf.get(3..6) == Some(*m))
        .map_or(0, |m| m + 1);
    let time = format!(
        "{}-{month:02}-{}T{}Z",
        clf.get(7..11).unwrap_or(""),
        clf.get(0..2).unwrap_or(""),
        clf.get(12..20).unwrap_or("")
    );
    format!(
        "\"time\":\"{time}\",\"ip\":\"{ip}\",\"host\":null,\"method\":\"{method}\",\"path\":\"{path}\",\
         \"query\":\"{query}\",\"protocol\":\"{protocol}\",\"status\":200,\"bytes\":5120,\
         \"referer\":\"{referer}\",\"agent\":\"{agent}\",\"browser\":\"Firefox\",\"os\":\"Linux\",\
         \"bot\":false,\"country\":null,\"asn\":null,\"device\":\"desktop\",\"server\":\"bench\",\
         \"vhost\":null,\"source\":\"access.log\",\"url\":null}}"
    )
}

/// Goes round this thread's viewers whenever there is a frame one of them has not had.
fn fan_out(shard: &Mutex<Vec<Viewer>>, frames: &Frames) {
    // This thread's copy of the frames, taken on as they come.
    let mut list: Vec<Bytes> = Vec::new();
    let (mut behind, mut full) = (false, false);
    loop {
        {
            let mut shared = frames.list.lock().unwrap();
            if shared.len() == list.len() {
                // Until the next frame, or sooner: a viewer with more than one write's worth of
                // frames goes on after 1 ms, one whose socket was full is tried again after
                // 10 ms (the stalled viewer's socket is full for the whole run).
                let wait = match (behind, full) {
                    (true, _) => Some(Duration::from_millis(1)),
                    (false, true) => Some(Duration::from_millis(10)),
                    (false, false) => None,
                };
                shared = match wait {
                    Some(wait) => frames.added.wait_timeout(shared, wait).unwrap().0,
                    None => frames.added.wait(shared).unwrap(),
                };
            }
            list.extend_from_slice(&shared[list.len()..]);
        }
        let mut viewers = shard.lock().unwrap();
        // Each write takes every frame cut so far, also those cut since the round began.
        (behind, full) = (false, false);
        let had = list.len();
        viewers.retain_mut(|v| {
            frames.catch_up(&mut list);
            match write_to(v, &list) {
                Written::Some => {
                    behind |= v.next < list.len();
                    true
                }
                Written::Full => {
                    full = true;
                    true
                }
                Written::Failed => false,
            }
        });
        // A frame cut during the round has not gone to the viewers before it.
        behind |= list.len() > had;
    }
}

/// What one write did.
enum Written {
    /// Some bytes or none were due.
    Some,
    /// The socket took nothing: tried again at the next frame, or after 10 ms.
    Full,
    /// The socket failed: the viewer is dropped.
    Failed,
}

/// One `writev` of everything the viewer has not had (64 frames at most).
fn write_to(v: &mut Viewer, list: &[Bytes]) -> Written {
    if v.next >= list.len() {
        return Written::Some;
    }
    let mut iov: Vec<libc::iovec> = Vec::new();
    for (i, f) in list[v.next..].iter().enumerate().take(64) {
        let skip = if i == 0 { v.offset } else { 0 };
        iov.push(libc::iovec {
            iov_base: f[skip..].as_ptr() as *mut _,
            iov_len: f.len() - skip,
        });
    }
    // SAFETY: the iovecs point into frames that live for the call.
    let n = unsafe { libc::writev(v.stream.as_raw_fd(), iov.as_ptr(), iov.len() as i32) };
    if n < 0 {
        return match std::io::Error::last_os_error().kind() {
            std::io::ErrorKind::WouldBlock => Written::Full,
            _ => Written::Failed,
        };
    }
    let mut n = n as usize;
    while n > 0 && v.next < list.len() {
        let left = list[v.next].len() - v.offset;
        if n >= left {
            n -= left;
            v.next += 1;
            v.offset = 0;
        } else {
            v.offset += n;
            n = 0;
        }
    }
    Written::Some
}
