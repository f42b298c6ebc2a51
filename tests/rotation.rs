//! Rotation tests against real files and real programs: `logrotate` (rename + create, and
//! copytruncate), a real `nginx` reopening its log, the torture test of issue 3 (200,000 lines in
//! random chunks through 20 renames and 5 copytruncates), and the moment of the switch from the
//! old file to the new one, a hundred times. Hits are read from a real WebSocket (`/ws`).
//!
//! "In order" means in the order the (single) writer wrote the lines, across files too: a
//! server writes its last lines to the old file before it reopens, so they come first.
//!
//! Every line carries a number in its path. A writer thread records, for each number, the file
//! generation it went into and its byte range there, so that a failure names the numbers lost,
//! repeated or reordered and the rotation they sit next to.
//!
//! copytruncate has a window of its own: what is written between the end of the copy (S1 bytes
//! copied) and the truncation (the file then held S2 bytes) is in neither the copy nor the
//! truncated file unless the follower read it in time. Lines overlapping [S1, S2) of their
//! generation may be missing (never repeated); every other line must arrive exactly once, in
//! order. The truncation itself happens at a line boundary (as with a server writing whole
//! lines), holding the writer's lock only for the instant of reading S2 and truncating.

mod common;

use common::nginx::Nginx;

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{Server, Ws, line};
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite;

const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);

/// The tests of this file run one at a time: each measures a real follower against a paced
/// writer, and two of them at once on a 2-core machine would measure the machine.
/// (An async lock: each test runs on its own runtime and holds it across awaits; a test that
/// fails releases it without poisoning it.)
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Microseconds since the first call: one clock for the writer and the reader.
fn now_us() -> u64 {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// xorshift64: seeded, reproducible randomness without a crate.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in lo..=hi.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

// ---------------------------------------------------------------------------------------------
// The writer: a server appending numbered lines, reopening its log when told to.

/// Where one numbered line went: file generation and byte range in that generation.
#[derive(Debug, Clone, Copy, Default)]
struct Rec {
    generation: usize,
    start: u64,
    end: u64,
    /// When its last byte was written (`now_us`).
    at: u64,
}

/// The writer's open log, under the lock it holds for every `write()`.
struct WState {
    file: File,
    generation: usize,
    /// Bytes in the current generation (the writer is the only writer, in append mode).
    offset: u64,
    /// No line is half written.
    at_boundary: bool,
    /// How each generation began.
    kinds: Vec<String>,
}

struct Shared {
    path: PathBuf,
    state: Mutex<WState>,
    /// Set by a rotator: "reopen your log" (a server's SIGUSR1).
    reopen: AtomicBool,
    reopens: AtomicUsize,
    /// Lines completely written so far.
    written: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    fn new(path: &Path) -> Arc<Shared> {
        let file = open_append(path);
        let offset = file.metadata().unwrap().len();
        Arc::new(Shared {
            path: path.to_owned(),
            state: Mutex::new(WState {
                file,
                generation: 0,
                offset,
                at_boundary: true,
                kinds: vec!["the file webpeek started on".into()],
            }),
            reopen: AtomicBool::new(false),
            reopens: AtomicUsize::new(0),
            written: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, WState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn kinds(&self) -> Vec<String> {
        self.lock().kinds.clone()
    }
}

/// Stops the writer and rotator threads when a test ends, also by a panic.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(path)
        .unwrap()
}

struct WriterCfg {
    lines: u64,
    /// Lines per second.
    rate: f64,
    /// Lines per group of writes (1 = one whole line per `write()`).
    group_max: u64,
    /// Extra cut points inside a group: a group goes out in up to `cuts + 1` `write()` calls,
    /// cut anywhere, also inside a line.
    cuts_max: u64,
    /// How long the writer keeps writing to the old file after being told to reopen (ms).
    linger_ms: (u64, u64),
    /// A file whose existence means "reopen" (a logrotate postrotate script touches it).
    flag: Option<PathBuf>,
    seed: u64,
    make: fn(u64) -> String,
}

fn spawn_writer(sh: Arc<Shared>, cfg: WriterCfg) -> JoinHandle<Vec<Rec>> {
    std::thread::spawn(move || {
        let mut rng = Rng::new(cfg.seed);
        let mut recs = vec![Rec::default(); cfg.lines as usize];
        let t0 = Instant::now();
        let mut n = 0u64;
        let mut linger_until: Option<Instant> = None;
        let mut buf = Vec::new();
        let mut ends = Vec::new();
        while n < cfg.lines && !sh.stop.load(Ordering::SeqCst) {
            // Between groups no line is half written: the place to reopen, as a server does.
            let asked =
                sh.reopen.load(Ordering::SeqCst) || cfg.flag.as_ref().is_some_and(|f| f.exists());
            if asked {
                match linger_until {
                    None => {
                        linger_until = Some(
                            Instant::now()
                                + MS * rng.range(cfg.linger_ms.0, cfg.linger_ms.1) as u32,
                        )
                    }
                    Some(t) if Instant::now() >= t => {
                        linger_until = None;
                        let f = open_append(&sh.path);
                        let mut st = sh.lock();
                        st.offset = f.metadata().unwrap().len();
                        st.file = f;
                        st.generation += 1;
                        let r = sh.reopens.load(Ordering::SeqCst) + 1;
                        st.kinds
                            .push(format!("the writer's reopen #{r} after a rename"));
                        drop(st);
                        if let Some(flag) = &cfg.flag {
                            std::fs::remove_file(flag).unwrap();
                        }
                        sh.reopen.store(false, Ordering::SeqCst);
                        sh.reopens.fetch_add(1, Ordering::SeqCst);
                    }
                    Some(_) => {}
                }
            }
            let k = rng.range(1, cfg.group_max).min(cfg.lines - n);
            buf.clear();
            ends.clear();
            for i in n..n + k {
                buf.extend_from_slice((cfg.make)(i).as_bytes());
                ends.push(buf.len() as u64);
            }
            let mut cuts: Vec<usize> = (0..rng.range(0, cfg.cuts_max))
                .map(|_| rng.range(1, buf.len() as u64 - 1) as usize)
                .collect();
            cuts.push(buf.len());
            cuts.sort_unstable();
            cuts.dedup();
            let (mut from, mut base, mut generation) = (0, 0, 0);
            for (i, &to) in cuts.iter().enumerate() {
                let mut st = sh.lock();
                if i == 0 {
                    base = st.offset;
                    generation = st.generation;
                    st.at_boundary = false;
                }
                st.file.write_all(&buf[from..to]).unwrap();
                st.offset += (to - from) as u64;
                st.at_boundary = to == buf.len();
                drop(st);
                from = to;
                // Now and then leave a line half written for a moment, so the follower sees it.
                if to < buf.len() && buf[to - 1] != b'\n' && rng.range(0, 7) == 0 {
                    std::thread::sleep(MS * rng.range(1, 3) as u32);
                }
            }
            let mut start = 0;
            let at = now_us();
            for (j, &end) in ends.iter().enumerate() {
                recs[(n + j as u64) as usize] = Rec {
                    generation,
                    start: base + start,
                    end: base + end,
                    at,
                };
                start = end;
            }
            n += k;
            sh.written.store(n, Ordering::SeqCst);
            let due = t0 + Duration::from_secs_f64(n as f64 / cfg.rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        recs
    })
}

/// Waits, bounded, until the writer has written `n` lines.
fn wait_written(sh: &Shared, n: u64) {
    let deadline = Instant::now() + 60 * SECOND;
    while sh.written.load(Ordering::SeqCst) < n {
        assert!(!sh.stop.load(Ordering::SeqCst), "stopped");
        assert!(Instant::now() < deadline, "writer stuck below {n} lines");
        std::thread::sleep(MS);
    }
}

/// Waits, bounded, until the writer has reopened its log `count` times in all.
fn wait_reopens(sh: &Shared, count: usize) {
    let deadline = Instant::now() + 20 * SECOND;
    while sh.reopens.load(Ordering::SeqCst) < count {
        assert!(!sh.stop.load(Ordering::SeqCst), "stopped");
        assert!(
            Instant::now() < deadline,
            "writer never reopened (#{count})"
        );
        std::thread::sleep(MS);
    }
}

/// Rename rotation done here: `mv LOG DEST`, maybe create the new file (logrotate's `create`),
/// then tell the writer to reopen; returns once it has.
fn rotate_rename(sh: &Shared, dest: &Path, create: bool) {
    let before = sh.reopens.load(Ordering::SeqCst);
    std::fs::rename(&sh.path, dest).unwrap();
    if create {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&sh.path)
            .unwrap();
    }
    sh.reopen.store(true, Ordering::SeqCst);
    wait_reopens(sh, before + 1);
}

/// One copytruncate: the window between the end of the copy and the truncation.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Generation that was copied and truncated.
    generation: usize,
    /// Bytes copied.
    s1: u64,
    /// Bytes the file held when it was truncated.
    s2: u64,
}

/// copytruncate done here, like logrotate: copy LOG to DEST while the writer runs (S1 = bytes
/// copied), wait `delay`, then truncate LOG to 0 (S2 = its length right then). The writer's lock
/// is held only to read S2 and truncate, at a line boundary.
fn copytruncate(sh: &Shared, dest: &Path, delay: Duration) -> Window {
    let mut src = File::open(&sh.path).unwrap();
    let mut dst = File::create(dest).unwrap();
    let s1 = std::io::copy(&mut src, &mut dst).unwrap();
    std::thread::sleep(delay);
    let t = OpenOptions::new().write(true).open(&sh.path).unwrap();
    loop {
        let mut st = sh.lock();
        if st.at_boundary {
            let s2 = t.metadata().unwrap().len();
            assert_eq!(s2, st.offset, "bookkeeping: file length vs bytes written");
            t.set_len(0).unwrap();
            let w = Window {
                generation: st.generation,
                s1,
                s2,
            };
            st.generation += 1;
            st.offset = 0;
            let c = st.kinds.len();
            st.kinds
                .push(format!("a copytruncate (generation {c}; S1={s1} S2={s2})"));
            return w;
        }
        drop(st);
        std::thread::sleep(Duration::from_micros(50));
    }
}

fn join_bounded<T>(h: JoinHandle<T>, limit: Duration, what: &str) -> T {
    let deadline = Instant::now() + limit;
    while !h.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what} did not finish in {limit:?}"
        );
        std::thread::sleep(10 * MS);
    }
    match h.join() {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e),
    }
}

// ---------------------------------------------------------------------------------------------
// The reader: a real WebSocket viewer.

struct Arrivals {
    /// Numbers in the order their hits arrived.
    nums: Vec<u64>,
    /// When each arrived (`now_us`).
    at: Vec<u64>,
    /// Hits whose path is not ours.
    foreign: Vec<String>,
    ips: HashSet<String>,
    frames: usize,
    elapsed: Duration,
}

/// A viewer, once the server has stopped waiting for its `resume` (200 ms): from then on hits
/// reach it live, not from the backlog, so the delays measured are the follower's.
async fn viewer(s: &Server) -> Ws {
    let ws = s.viewer().await;
    tokio::time::sleep(300 * MS).await;
    ws
}

/// Reads hits until the one numbered `last` has arrived and then `quiet` passes with no hit (so a
/// late duplicate is seen), or until `limit`. A `lagged` message fails the test.
async fn read_arrivals(
    ws: &mut Ws,
    prefix: &str,
    last: u64,
    limit: Duration,
    quiet: Duration,
) -> Arrivals {
    let t0 = Instant::now();
    let deadline = t0 + limit;
    let mut a = Arrivals {
        nums: Vec::new(),
        at: Vec::new(),
        foreign: Vec::new(),
        ips: HashSet::new(),
        frames: 0,
        elapsed: Duration::ZERO,
    };
    let mut seen_last = false;
    let mut quiet_until = deadline;
    loop {
        let until = if seen_last {
            quiet_until.min(deadline)
        } else {
            deadline
        };
        let left = until.saturating_duration_since(Instant::now());
        let msg = match tokio::time::timeout(left, ws.next()).await {
            Err(_) => break,
            Ok(None) => panic!("the WebSocket ended"),
            Ok(Some(Err(e))) => panic!("WebSocket error: {e}"),
            Ok(Some(Ok(m))) => m,
        };
        let tungstenite::Message::Text(t) = msg else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_ne!(
            v["type"], "lagged",
            "the test's own viewer fell behind: {v}"
        );
        if v["type"] != "hits" {
            continue;
        }
        a.frames += 1;
        let at = now_us();
        for h in v["hits"].as_array().unwrap() {
            let path = h["path"].as_str().unwrap_or("");
            a.ips.insert(h["ip"].as_str().unwrap_or("").to_string());
            match path
                .strip_prefix(prefix)
                .and_then(|n| n.parse::<u64>().ok())
            {
                Some(n) => {
                    a.nums.push(n);
                    a.at.push(at);
                    if n == last {
                        seen_last = true;
                    }
                }
                None => a.foreign.push(path.to_string()),
            }
        }
        quiet_until = Instant::now() + quiet;
    }
    a.elapsed = t0.elapsed();
    a
}

/// Delay from writing a line (or sending a request) to its hit arriving: p50, p99, max.
fn lag_report(a: &Arrivals, sent_at: &dyn Fn(u64) -> Option<u64>) -> String {
    let mut lags: Vec<(u64, u64)> = a
        .nums
        .iter()
        .zip(&a.at)
        .filter_map(|(&n, &at)| sent_at(n).map(|s| (at.saturating_sub(s), n)))
        .collect();
    if lags.is_empty() {
        return "no lags".into();
    }
    lags.sort_unstable();
    let q = |f: f64| lags[((lags.len() - 1) as f64 * f) as usize].0 as f64 / 1000.0;
    let (max, worst) = lags[lags.len() - 1];
    format!(
        "write-to-hit delay p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (#{worst})",
        q(0.5),
        q(0.99),
        max as f64 / 1000.0
    )
}

/// "1-4, 9, 12-30" for a sorted list.
fn ranges(v: &[u64]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() && out.len() < 40 {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}-{}", v[i], v[j])
        });
        i = j + 1;
    }
    if i < v.len() {
        out.push(format!("… ({} more)", v.len() - i));
    }
    out.join(", ")
}

struct Outcome {
    missing_in_windows: usize,
    in_windows: usize,
}

/// Every number below `total` must arrive exactly once and in increasing order, except those
/// for which `may_miss` holds, which may be missing but never repeated or out of order.
/// Panics with a full account otherwise.
// Every argument is a different view of one test's outcome, for the failure message.
#[allow(clippy::too_many_arguments)]
fn check(
    test: &str,
    s: &Server,
    a: &Arrivals,
    total: u64,
    may_miss: &dyn Fn(u64) -> bool,
    describe: &dyn Fn(u64) -> String,
    extra: &str,
    files: (&Path, &str),
) -> Outcome {
    let mut count = vec![0u32; total as usize];
    let mut beyond = Vec::new();
    for &n in &a.nums {
        match count.get_mut(n as usize) {
            Some(c) => *c += 1,
            None => beyond.push(n),
        }
    }
    let mut missing = Vec::new();
    let mut missing_win = 0;
    let mut in_windows = 0;
    let mut dups = Vec::new();
    for n in 0..total {
        let c = count[n as usize];
        let optional = may_miss(n);
        in_windows += usize::from(optional);
        if c == 0 {
            if optional {
                missing_win += 1;
            } else {
                missing.push(n);
            }
        }
        if c > 1 {
            dups.push(n);
        }
    }
    let mut inversions = Vec::new();
    let mut seen = vec![false; total as usize];
    for w in a.nums.windows(2) {
        let (prev, cur) = (w[0], w[1]);
        if cur <= prev && (cur as usize) < seen.len() && !seen[cur as usize] {
            inversions.push((prev, cur));
        }
        if let Some(s) = seen.get_mut(prev as usize) {
            *s = true;
        }
    }
    eprintln!(
        "[{test}] {} hits in {} frames in {:.2?}; {} numbers, {} required missing, {} in copytruncate \
         windows of which {} missing, {} duplicated, {} out of order, {} foreign paths",
        a.nums.len(),
        a.frames,
        a.elapsed,
        total,
        missing.len(),
        in_windows,
        missing_win,
        dups.len(),
        inversions.len(),
        a.foreign.len() + beyond.len(),
    );
    let mut report = String::new();
    if !missing.is_empty() {
        report += &format!("\nLOST {} numbers: {}\n", missing.len(), ranges(&missing));
        let mut shown = 0;
        let mut prev = None;
        for &n in &missing {
            if prev != Some(n.wrapping_sub(1)) && shown < 12 {
                report += &format!("  first of a run: {}\n", describe(n));
                shown += 1;
            }
            prev = Some(n);
        }
    }
    if !dups.is_empty() {
        report += &format!("\nDUPLICATED {} numbers: {}\n", dups.len(), ranges(&dups));
        for &n in dups.iter().take(6) {
            report += &format!("  {} arrived {} times\n", describe(n), count[n as usize]);
        }
    }
    if !inversions.is_empty() {
        report += &format!("\nOUT OF ORDER {} times; first ones:\n", inversions.len());
        for &(p, c) in inversions.iter().take(8) {
            report += &format!(
                "  {c} after {p}:\n    {}\n    {}\n",
                describe(p),
                describe(c)
            );
        }
    }
    if !a.foreign.is_empty() || !beyond.is_empty() {
        report += &format!(
            "\nFOREIGN hits: {:?} {:?}\n",
            &a.foreign[..a.foreign.len().min(10)],
            &beyond[..beyond.len().min(10)]
        );
    }
    if !report.is_empty() {
        let forensics = file_forensics(files.0, files.1, &missing);
        panic!(
            "[{test}] the follower lost, repeated or reordered lines:{report}{extra}\n\
             the log files now:\n{forensics}"
        );
    }
    assert_whole_lines(test, s);
    Outcome {
        missing_in_windows: missing_win,
        in_windows,
    }
}

/// What each `access.log*` file in `dir` holds: its numbers (first, last, count) and which of
/// the `lost` ones.
fn file_forensics(dir: &Path, prefix: &str, lost: &[u64]) -> String {
    let lost: HashSet<u64> = lost.iter().copied().collect();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("access.log"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = String::new();
    for name in names {
        let text = std::fs::read(dir.join(&name)).unwrap_or_default();
        let nums: Vec<u64> = String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|l| {
                let i = l.find(&format!(" {prefix}"))?;
                let rest = &l[i + 1 + prefix.len()..];
                rest[..rest.find(' ')?].parse().ok()
            })
            .collect();
        let mut held: Vec<u64> = nums.iter().copied().filter(|n| lost.contains(n)).collect();
        held.sort_unstable();
        out += &format!(
            "  {name}: {} bytes, {} lines, numbers {:?}..={:?}; lost ones in it: {}\n",
            text.len(),
            nums.len(),
            nums.first(),
            nums.last(),
            if held.is_empty() {
                "none".into()
            } else {
                ranges(&held)
            }
        );
    }
    out
}

/// Describes a number through the writer's records.
fn describer<'a>(recs: &'a [Rec], kinds: &'a [String]) -> impl Fn(u64) -> String + 'a {
    move |n| match recs.get(n as usize) {
        Some(r) => {
            let first = recs.partition_point(|x| x.generation < r.generation);
            let last = recs.partition_point(|x| x.generation <= r.generation) - 1;
            format!(
                "#{n} = bytes {}..{} of generation {} (lines {first}..={last}; began with {})",
                r.start,
                r.end,
                r.generation,
                kinds.get(r.generation).map_or("?", |s| s)
            )
        }
        None => format!("#{n} (never written)"),
    }
}

/// Every line handed on was whole: nothing unparsed (a half line, or a line read from its
/// middle, does not parse) and nothing cut.
fn assert_whole_lines(test: &str, s: &Server) {
    let st = s.stats();
    assert_eq!(
        (st["unparsed"].as_u64(), st["truncated"].as_u64()),
        (Some(0), Some(0)),
        "[{test}] broken lines were handed on: {st}"
    );
}

/// webpeek's counters and the write-to-hit delays, for a test's closing line.
fn summary(s: &Server, a: &Arrivals, sent_at: &dyn Fn(u64) -> Option<u64>) -> String {
    format!("{}; {}", stats_line(s), lag_report(a, sent_at))
}

fn stats_line(s: &Server) -> String {
    let st = s.stats();
    format!(
        "webpeek stats: total={} shown={} unparsed={} truncated={}",
        st["total"], st["shown"], st["unparsed"], st["truncated"]
    )
}

// ---------------------------------------------------------------------------------------------
// logrotate

/// A temp dir logrotate accepts (0755, root's), with `access.log` in it.
fn logrotate_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.path().join("access.log");
    drop(open_append(&log));
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    (dir, log)
}

fn write_logrotate_conf(dir: &Path, body: &str) -> PathBuf {
    let conf = dir.join("logrotate.conf");
    std::fs::write(
        &conf,
        format!("{} {{\n{body}}}\n", dir.join("access.log").display()),
    )
    .unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    conf
}

fn run_logrotate(dir: &Path, conf: &Path) {
    let out = Command::new("/usr/sbin/logrotate")
        .arg("-f")
        .arg("-s")
        .arg(dir.join("logrotate.state"))
        .arg(conf)
        .output()
        .expect("logrotate is installed (/usr/sbin/logrotate)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "logrotate failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn n_line(n: u64) -> String {
    line(&format!("203.0.113.{}", n % 250 + 1), &format!("/n/{n}"))
}

/// logrotate's default: rename the log (`access.log` → `.1` → `.2` …), create a new one, and
/// run postrotate, which tells the server to reopen; the server keeps writing to the old file
/// for a few ms until it does. Six rotations while lines are written: every line exactly once,
/// in order.
#[tokio::test]
async fn logrotate_rename_and_create_while_writing() {
    let _serial = serial().await;
    let t0 = Instant::now();
    let (dir, log) = logrotate_dir();
    let flag = dir.path().join("reopen-requested");
    let conf = write_logrotate_conf(
        dir.path(),
        &format!(
            "    rotate 5\n    create\n    missingok\n    nocompress\n    postrotate\n        \
             touch {}\n    endscript\n",
            flag.display()
        ),
    );
    let dirpath = dir.path().to_owned();
    let s = Server::start_on(dir, log.clone(), &["--all", "--viewer-queue", "100000"]);
    let mut ws = viewer(&s).await;

    const LINES: u64 = 4000;
    const ROTATIONS: usize = 6;
    let sh = Shared::new(&log);
    let _stop = StopOnDrop(sh.clone());
    let writer = spawn_writer(
        sh.clone(),
        WriterCfg {
            lines: LINES,
            rate: 1500.0,
            group_max: 1,
            cuts_max: 0,
            linger_ms: (2, 25),
            flag: Some(flag),
            seed: 1,
            make: n_line,
        },
    );
    let rotator = {
        let sh = sh.clone();
        std::thread::spawn(move || {
            for r in 0..ROTATIONS {
                wait_written(&sh, 400 + r as u64 * 550);
                run_logrotate(&dirpath, &conf);
                wait_reopens(&sh, r + 1);
            }
        })
    };
    let a = read_arrivals(&mut ws, "/n/", LINES - 1, 40 * SECOND, SECOND).await;
    join_bounded(rotator, 10 * SECOND, "the logrotate runs");
    let recs = join_bounded(writer, 10 * SECOND, "the writer");
    let kinds = sh.kinds();
    assert_eq!(kinds.len(), ROTATIONS + 1, "{kinds:?}");
    for i in 1..=5 {
        assert!(
            s.dir.path().join(format!("access.log.{i}")).exists(),
            "logrotate kept access.log.{i}"
        );
    }
    let stats = summary(&s, &a, &|n| recs.get(n as usize).map(|r| r.at));
    check(
        "logrotate rename+create",
        &s,
        &a,
        LINES,
        &|_| false,
        &describer(&recs, &kinds),
        &stats,
        (s.dir.path(), "/n/"),
    );
    eprintln!(
        "[logrotate rename+create] {stats}; took {:.2?}",
        t0.elapsed()
    );
}

/// logrotate `copytruncate` with the writer paused while logrotate runs, so there is no window:
/// every line exactly once, in order, through five truncations.
#[tokio::test]
async fn logrotate_copytruncate_with_writer_paused() {
    let _serial = serial().await;
    let t0 = Instant::now();
    let (dir, log) = logrotate_dir();
    let conf = write_logrotate_conf(
        dir.path(),
        "    rotate 5\n    copytruncate\n    missingok\n    nocompress\n",
    );
    let dirpath = dir.path().to_owned();
    let s = Server::start_on(dir, log.clone(), &["--all", "--viewer-queue", "100000"]);
    let mut ws = viewer(&s).await;

    const LINES: u64 = 4000;
    const ROTATIONS: usize = 5;
    let sh = Shared::new(&log);
    let _stop = StopOnDrop(sh.clone());
    let writer = spawn_writer(
        sh.clone(),
        WriterCfg {
            lines: LINES,
            rate: 1500.0,
            group_max: 1,
            cuts_max: 0,
            linger_ms: (0, 0),
            flag: None,
            seed: 2,
            make: n_line,
        },
    );
    let rotator = {
        let sh = sh.clone();
        std::thread::spawn(move || {
            let mut sizes = Vec::new();
            for r in 0..ROTATIONS {
                wait_written(&sh, 400 + r as u64 * 650);
                let mut st = sh.lock(); // the writer waits while logrotate runs
                let before = st.offset;
                run_logrotate(&dirpath, &conf);
                let copied = std::fs::metadata(dirpath.join("access.log.1"))
                    .unwrap()
                    .len();
                let after = std::fs::metadata(dirpath.join("access.log")).unwrap().len();
                assert_eq!(
                    (copied, after),
                    (before, 0),
                    "logrotate copied all, truncated"
                );
                st.generation += 1;
                st.offset = 0;
                st.kinds.push(format!(
                    "logrotate copytruncate #{} of {before} bytes (writer paused)",
                    r + 1
                ));
                sizes.push(before);
            }
            sizes
        })
    };
    let a = read_arrivals(&mut ws, "/n/", LINES - 1, 40 * SECOND, SECOND).await;
    let sizes = join_bounded(rotator, 10 * SECOND, "the logrotate runs");
    let recs = join_bounded(writer, 10 * SECOND, "the writer");
    let kinds = sh.kinds();
    let stats = summary(&s, &a, &|n| recs.get(n as usize).map(|r| r.at));
    check(
        "logrotate copytruncate (paused)",
        &s,
        &a,
        LINES,
        &|_| false,
        &describer(&recs, &kinds),
        &stats,
        (s.dir.path(), "/n/"),
    );
    eprintln!(
        "[logrotate copytruncate (paused)] truncated at sizes {sizes:?}; {stats}; took {:.2?}",
        t0.elapsed()
    );
}

/// copytruncate done here while the writer keeps writing, with the window measured: lines wholly
/// before S1 or in the next generation arrive exactly once and in order; lines overlapping
/// [S1, S2) may be missing, never repeated.
#[tokio::test]
async fn copytruncate_while_writing_loses_only_its_window() {
    let _serial = serial().await;
    let t0 = Instant::now();
    let s = Server::start(&["--all", "--viewer-queue", "100000"]);
    let mut ws = viewer(&s).await;

    const LINES: u64 = 5000;
    const ROTATIONS: usize = 5;
    let sh = Shared::new(&s.log);
    let _stop = StopOnDrop(sh.clone());
    let writer = spawn_writer(
        sh.clone(),
        WriterCfg {
            lines: LINES,
            rate: 2000.0,
            group_max: 1,
            cuts_max: 0,
            linger_ms: (0, 0),
            flag: None,
            seed: 3,
            make: n_line,
        },
    );
    let rotator = {
        let sh = sh.clone();
        let dir = s.dir.path().to_owned();
        std::thread::spawn(move || {
            let mut rng = Rng::new(33);
            let mut windows = Vec::new();
            for r in 0..ROTATIONS {
                wait_written(&sh, 500 + r as u64 * 800);
                let delay = MS * rng.range(0, 20) as u32;
                windows.push(copytruncate(
                    &sh,
                    &dir.join(format!("access.log.{r}")),
                    delay,
                ));
            }
            windows
        })
    };
    let a = read_arrivals(&mut ws, "/n/", LINES - 1, 40 * SECOND, SECOND).await;
    let windows = join_bounded(rotator, 10 * SECOND, "the copytruncates");
    let recs = join_bounded(writer, 10 * SECOND, "the writer");
    let kinds = sh.kinds();
    let may_miss = in_window(&recs, &windows);
    let stats = summary(&s, &a, &|n| recs.get(n as usize).map(|r| r.at));
    let report = window_report(&recs, &windows, &a, &may_miss);
    let out = check(
        "copytruncate window",
        &s,
        &a,
        LINES,
        &may_miss,
        &describer(&recs, &kinds),
        &format!("{stats}\n{report}"),
        (s.dir.path(), "/n/"),
    );
    eprintln!(
        "[copytruncate window] {report}[copytruncate window] {} of {} lines in windows missing; \
         {stats}; took {:.2?}",
        out.missing_in_windows,
        out.in_windows,
        t0.elapsed()
    );
}

/// Whether a line overlaps the [S1, S2) window of its generation.
fn in_window<'a>(recs: &'a [Rec], windows: &'a [Window]) -> impl Fn(u64) -> bool + 'a {
    move |n| {
        let r = recs[n as usize];
        windows
            .iter()
            .any(|w| w.generation == r.generation && r.end > w.s1 && r.start < w.s2)
    }
}

fn window_report(
    recs: &[Rec],
    windows: &[Window],
    a: &Arrivals,
    may_miss: &dyn Fn(u64) -> bool,
) -> String {
    let got: HashSet<u64> = a.nums.iter().copied().collect();
    let mut out = String::new();
    for (i, w) in windows.iter().enumerate() {
        let nums: Vec<u64> = (0..recs.len() as u64)
            .filter(|&n| recs[n as usize].generation == w.generation && may_miss(n))
            .collect();
        let lost = nums.iter().filter(|n| !got.contains(n)).count();
        out += &format!(
            "  copytruncate {i}: generation {} S1={} S2={} window {} bytes, lines {} ({} lines), {} of them lost\n",
            w.generation,
            w.s1,
            w.s2,
            w.s2 - w.s1,
            if nums.is_empty() {
                "-".to_string()
            } else {
                format!("{}..={}", nums[0], nums[nums.len() - 1])
            },
            nums.len(),
            lost
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// nginx (tests/common/nginx.rs)

/// One HTTP request from 127.0.0.2 (so the hit is not the viewer's own address, 127.0.0.1).
async fn request_from_127_0_0_2(port: u16, path: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut s = sock.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    s.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; \
             rv:128.0) Gecko/20100101 Firefox/128.0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    assert!(
        resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
}

/// A real nginx writing its access log while it is rotated the way its docs say: `mv` the log,
/// then `nginx -s reopen`; requests keep coming in the meantime, so the worker writes to the old
/// file until it reopens. Five rotations, one every 400 requests; each `mv` replaces the
/// previous `access.log.1`. Default filter (page views, not the viewer's own address): every
/// request arrives exactly once, in order, with the client address 127.0.0.2.
#[tokio::test]
async fn nginx_reopen_after_mv_while_serving() {
    let _serial = serial().await;
    let t0 = Instant::now();
    let ndir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(ndir.path(), "location / { return 200 \"ok\\n\"; }");
    let log = ndir.path().join("access.log");
    let s = Server::start_on(
        tempfile::tempdir().unwrap(),
        log.clone(),
        &["--viewer-queue", "100000"],
    );
    let mut ws = viewer(&s).await;

    const REQUESTS: u64 = 2400;
    const EVERY: u64 = 400;
    let port = nginx.port;
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (conf, prefix, log, stop) = (
            nginx.conf.clone(),
            nginx.prefix.clone(),
            log.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let mut epochs = Vec::new(); // first request after each rotation
            let mut sent = Vec::new();
            let mut inodes = Vec::new(); // of each generation of access.log
            for n in 0..REQUESTS {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                if n > 0 && n % EVERY == 0 {
                    // The previous reopen has happened (the master created the file again).
                    let deadline = Instant::now() + 5 * SECOND;
                    while !log.exists() {
                        assert!(Instant::now() < deadline, "nginx never reopened its log");
                        std::thread::sleep(MS);
                    }
                    // As nginx's docs say: mv, then reopen (this replaces the last access.log.1).
                    inodes.push(std::fs::metadata(&log).unwrap().ino());
                    std::fs::rename(&log, log.with_extension("log.1")).unwrap();
                    common::nginx::reopen(&conf, &prefix);
                    epochs.push(n);
                }
                sent.push(now_us());
                rt.block_on(request_from_127_0_0_2(port, &format!("/r/{n}")));
            }
            inodes.push(std::fs::metadata(&log).map_or(0, |m| m.ino()));
            (epochs, sent, inodes)
        })
    };
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let _stop = SetOnDrop(stop);
    let a = read_arrivals(&mut ws, "/r/", REQUESTS - 1, 60 * SECOND, SECOND).await;
    let (epochs, sent, inodes) = join_bounded(client, 30 * SECOND, "the requests");
    let stats = summary(&s, &a, &|n| sent.get(n as usize).copied());
    let describe = |n: u64| {
        let k = epochs.partition_point(|&e| e <= n);
        let gens = format!("(inodes of access.log, generation by generation: {inodes:?})");
        if k == 0 {
            format!("/r/{n}, before the first mv + reopen {gens}")
        } else {
            format!(
                "/r/{n}, {} requests after mv + reopen #{k} (sent just before request {}) {gens}",
                n - epochs[k - 1],
                epochs[k - 1]
            )
        }
    };
    check(
        "nginx reopen",
        &s,
        &a,
        REQUESTS,
        &|_| false,
        &describe,
        &stats,
        (ndir.path(), "/r/"),
    );
    assert_eq!(
        a.ips,
        HashSet::from(["127.0.0.2".to_string()]),
        "hit addresses"
    );
    eprintln!(
        "[nginx reopen] {} rotations (mv + nginx -s reopen) at requests {epochs:?}; {stats}; took {:.2?}",
        epochs.len(),
        t0.elapsed()
    );
    drop(nginx);
}

// ---------------------------------------------------------------------------------------------
// The torture test of issue 3.

fn t_line(n: u64) -> String {
    format!(
        "203.0.113.{} - - [25/Nov/2026:10:00:00 +0000] \"GET /t/{n} HTTP/1.1\" 200 {} \"-\" \"curl/8.5.0\"\n",
        n % 250 + 1,
        n % 9000
    )
}

/// 200,000 numbered lines written in random chunks (lines split across `write()` calls, half
/// lines left for a few ms) while the file is rotated 20 times by rename (half with the new file
/// created by the rotator, half by the writer's reopen; the writer keeps writing to the old file
/// for up to 30 ms) and 5 times by copytruncate (window measured), at random moments. Every
/// number arrives exactly once and in order, except numbers in copytruncate windows, which may
/// be missing. Lines are written at 16,000 a second; rotations come 0.1–0.9 s apart.
#[tokio::test]
async fn torture_200k_lines_20_renames_5_copytruncates() {
    let _serial = serial().await;
    let t0 = Instant::now();
    let s = Server::start(&["--all", "--viewer-queue", "100000"]);
    let mut ws = viewer(&s).await;

    const LINES: u64 = 200_000;
    const RENAMES: usize = 20;
    const COPYTRUNCATES: usize = 5;
    const RATE: f64 = 16_000.0;
    let sh = Shared::new(&s.log);
    let _stop = StopOnDrop(sh.clone());
    let writer = spawn_writer(
        sh.clone(),
        WriterCfg {
            lines: LINES,
            rate: RATE,
            group_max: 40,
            cuts_max: 4,
            linger_ms: (0, 30),
            flag: None,
            seed: 0x5eed_2026,
            make: t_line,
        },
    );
    let rotator = {
        let sh = sh.clone();
        let dir = s.dir.path().to_owned();
        std::thread::spawn(move || {
            let mut rng = Rng::new(0xdead_beef);
            let total = RENAMES + COPYTRUNCATES;
            // Which rotations are copytruncates: a seeded shuffle.
            let mut kinds: Vec<bool> = (0..total).map(|i| i < COPYTRUNCATES).collect();
            for i in (1..total).rev() {
                kinds.swap(i, rng.range(0, i as u64) as usize);
            }
            // At random moments: one in each slot of the run, anywhere in its first 3/4.
            let slot = (LINES - 8_000) / total as u64;
            let mut windows = Vec::new();
            let mut log = Vec::new();
            for (k, &ct) in kinds.iter().enumerate() {
                let at = 2_000 + k as u64 * slot + rng.range(0, slot * 3 / 4);
                wait_written(&sh, at);
                let written = sh.written.load(Ordering::SeqCst);
                if ct {
                    let delay = MS * rng.range(0, 15) as u32;
                    let w = copytruncate(&sh, &dir.join(format!("access.log.c{k}")), delay);
                    log.push(format!("#{k} copytruncate after line {written}: {w:?}"));
                    windows.push(w);
                } else {
                    let create = rng.range(0, 1) == 0;
                    rotate_rename(&sh, &dir.join(format!("access.log.r{k}")), create);
                    log.push(format!(
                        "#{k} rename after line {written} (new file created by {})",
                        if create { "the rotator" } else { "the writer" }
                    ));
                }
            }
            (windows, log)
        })
    };
    let a = read_arrivals(
        &mut ws,
        "/t/",
        LINES - 1,
        (85 * SECOND).saturating_sub(t0.elapsed()),
        SECOND,
    )
    .await;
    let (windows, log) = join_bounded(rotator, 5 * SECOND, "the rotations");
    let recs = join_bounded(writer, 5 * SECOND, "the writer");
    let kinds = sh.kinds();
    assert_eq!(kinds.len(), RENAMES + COPYTRUNCATES + 1, "{kinds:?}");
    let may_miss = in_window(&recs, &windows);
    let stats = summary(&s, &a, &|n| recs.get(n as usize).map(|r| r.at));
    let report = window_report(&recs, &windows, &a, &may_miss);
    let elapsed = t0.elapsed();
    eprintln!("[torture] rotations:\n  {}", log.join("\n  "));
    eprintln!("[torture] copytruncate windows:\n{report}");
    let out = check(
        "torture",
        &s,
        &a,
        LINES,
        &may_miss,
        &describer(&recs, &kinds),
        &format!(
            "{stats}\nrotations:\n  {}\nwindows:\n{report}",
            log.join("\n  ")
        ),
        (s.dir.path(), "/t/"),
    );
    eprintln!(
        "[torture] {} lines ({:.1} MB) in {:.2?}: {:.0} lines/s delivered; {} lines in copytruncate \
         windows, {} of them missing; {stats}",
        LINES,
        (0..LINES).map(|n| t_line(n).len()).sum::<usize>() as f64 / 1e6,
        elapsed,
        a.nums.len() as f64
            / (a.at.last().copied().unwrap_or(0).saturating_sub(recs[0].at) as f64 / 1e6),
        out.in_windows,
        out.missing_in_windows,
    );
    assert!(
        elapsed < 90 * SECOND,
        "the torture test took {elapsed:?}, over its 90 s bound"
    );
}

#[test]
fn helpers() {
    let mut r = Rng::new(7);
    let v: Vec<u64> = (0..1000).map(|_| r.range(3, 5)).collect();
    assert!(v.iter().all(|x| (3..=5).contains(x)));
    assert!((3..=5).all(|x| v.contains(&x)));
    assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), "1-3, 7, 9-10");
}

/// The moment of the switch, many times over: the new file is created at once (logrotate's
/// `create`, nginx's master), so webpeek follows it while the writer still writes to the old one
/// for a few ms; then the writer reopens. A line written to the old file just before the reopen
/// must still come before the first lines of the new file. 100 renames, one every ~60 ms.
#[tokio::test]
async fn rename_with_create_keeps_order_at_the_switch() {
    let _serial = serial().await;
    let t0 = Instant::now();
    let s = Server::start(&["--all", "--viewer-queue", "100000"]);
    let mut ws = viewer(&s).await;

    const ROTATIONS: usize = 100;
    const RATE: f64 = 10_000.0;
    const LINES: u64 = 70_000;
    let sh = Shared::new(&s.log);
    let _stop = StopOnDrop(sh.clone());
    let writer = spawn_writer(
        sh.clone(),
        WriterCfg {
            lines: LINES,
            rate: RATE,
            group_max: 1,
            cuts_max: 0,
            linger_ms: (1, 8),
            flag: None,
            seed: 77,
            make: t_line,
        },
    );
    let rotator = {
        let sh = sh.clone();
        let dir = s.dir.path().to_owned();
        std::thread::spawn(move || {
            for k in 0..ROTATIONS {
                wait_written(&sh, 2_000 + k as u64 * 600);
                rotate_rename(&sh, &dir.join(format!("access.log.{k}")), true);
            }
        })
    };
    let a = read_arrivals(&mut ws, "/t/", LINES - 1, 60 * SECOND, SECOND).await;
    join_bounded(rotator, 10 * SECOND, "the rotations");
    let recs = join_bounded(writer, 10 * SECOND, "the writer");
    let kinds = sh.kinds();
    let stats = summary(&s, &a, &|n| recs.get(n as usize).map(|r| r.at));
    check(
        "switch order",
        &s,
        &a,
        LINES,
        &|_| false,
        &describer(&recs, &kinds),
        &stats,
        (s.dir.path(), "/t/"),
    );
    eprintln!("[switch order] {stats}; took {:.2?}", t0.elapsed());
}
