//! Follows one log path like `tail -F`: appends in any chunking, rename rotation, copytruncate,
//! delete and re-create, and a symlink whose target changes.
//!
//! Reading is driven by inotify events on the directories of the path and of its symlink target
//! (a file that is renamed away or re-created is still seen), with a periodic stat as the safety
//! net for file systems that send no events (`--poll` uses only that). After a rotation the old
//! file stays open until it has been quiet for a while, because a server keeps writing to it
//! until it reopens its log; its unfinished last line is flushed after a quiet second.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::lines::LineSplitter;
use super::registry::{Checkpoint, FINGERPRINT_BYTES, FileId, Fingerprint, Registry, file_id};
use super::wake::{AsyncDirWatch, DirWatch};
use super::{Sink, SourceError, source_name};
use crate::hit::Line;

/// How followers start and pace themselves.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Read what files already hold when webpeek starts (else start at their end).
    pub from_start: bool,
    /// Interval of the safety-net stat check.
    pub poll: Duration,
    /// Use inotify (off with `--poll`: stat checks only).
    pub inotify: bool,
    /// A rotated-away file's unfinished last line is flushed after this much quiet.
    pub flush_quiet: Duration,
    /// A rotated-away file is closed after this much quiet.
    pub drain_quiet: Duration,
    /// Show a progress bar while reading existing content (only on a terminal).
    pub progress: bool,
    /// Follow files as tasks of this runtime ([`Follower::spawn_on`]) rather than on threads of
    /// their own, when inotify is used: for a sink that never blocks.
    pub runtime: Option<tokio::runtime::Handle>,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            from_start: false,
            poll: Duration::from_secs(1),
            inotify: true,
            flush_quiet: Duration::from_secs(1),
            drain_quiet: Duration::from_secs(5),
            progress: false,
            runtime: None,
        }
    }
}

/// Bytes read from one file before its lines are handed on.
const MAX_BATCH_BYTES: u64 = 1 << 20;

/// Where a reader starts in its file.
#[derive(Debug, Clone, Copy)]
enum Start {
    Beginning,
    End,
    At(u64),
}

/// An open file being read, with its own unfinished line.
#[derive(Debug)]
struct Reader {
    file: File,
    id: FileId,
    offset: u64,
    fingerprint: Fingerprint,
    splitter: LineSplitter,
    last_data: Instant,
    progress: Option<ProgressBar>,
}

impl Reader {
    fn open(file: File, name: &Arc<str>, start: Start, progress: bool) -> io::Result<Reader> {
        let meta = file.metadata()?;
        let offset = match start {
            Start::Beginning => 0,
            Start::End => meta.len(),
            Start::At(o) => o.min(meta.len()),
        };
        let progress = (progress && meta.len() > offset + (1 << 20) && io::stderr().is_terminal())
            .then(|| {
                let bar = ProgressBar::new(meta.len()).with_message(name.to_string());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                    )
                    .expect("progress template"),
                );
                bar.set_position(offset);
                bar
            });
        let id = file_id(&meta);
        let mut r = Reader {
            fingerprint: Fingerprint::read(&file, FINGERPRINT_BYTES)?,
            file,
            id,
            offset,
            splitter: LineSplitter::new(name.clone()).in_file(id),
            last_data: Instant::now(),
            progress,
        };
        r.file.seek(SeekFrom::Start(offset))?;
        Ok(r)
    }

    /// Reads to the current end of the file, at most one batch; true if more is waiting.
    fn read_available(&mut self, buf: &mut [u8], out: &mut Vec<Line>) -> io::Result<bool> {
        self.read_up_to(u64::MAX, buf, out)
    }

    /// Reads up to byte `limit` of the file, or its end.
    ///
    /// At most [`MAX_BATCH_BYTES`] are read per call, so a big file (`--from-start`) is handed
    /// on in batches rather than held in memory whole; returns true when it stopped there.
    fn read_up_to(&mut self, limit: u64, buf: &mut [u8], out: &mut Vec<Line>) -> io::Result<bool> {
        let start = self.offset;
        while self.offset < limit {
            if self.offset - start >= MAX_BATCH_BYTES {
                return Ok(true);
            }
            let room = usize::try_from(limit - self.offset)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let n = match self.file.read(&mut buf[..room]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            self.splitter.push(&buf[..n], self.offset, out);
            self.offset += n as u64;
            self.last_data = Instant::now();
            if let Some(bar) = &self.progress {
                bar.set_position(self.offset);
            }
        }
        if let Some(bar) = self
            .progress
            .take_if(|b| self.offset >= b.length().unwrap_or(0))
        {
            bar.finish_and_clear();
        }
        // The fingerprint grows with the file up to its full length.
        if usize::from(self.fingerprint.len) < FINGERPRINT_BYTES
            && self.offset > u64::from(self.fingerprint.len)
        {
            self.fingerprint = Fingerprint::read(&self.file, FINGERPRINT_BYTES)?;
        }
        Ok(false)
    }

    /// Before starting over after a truncation: logrotate's `copytruncate` copied the file
    /// first, so what we had not read yet is in the copy beside it. Finds the copy by this
    /// file's fingerprint and reads it from where we were to its end. A half line at the copy's
    /// end is dropped: its rest was written in the window between copy and truncate, which
    /// logrotate loses.
    ///
    /// Returns the copy's checkpoint at its end, for the registry: a pattern that matches the
    /// copy's name then starts there instead of reading it again.
    fn finish_from_copy(
        &mut self,
        dir: &Path,
        buf: &mut [u8],
        out: &mut Vec<Line>,
    ) -> Option<Checkpoint> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return None;
        };
        let copy = entries.flatten().find_map(|entry| {
            let meta = entry.metadata().ok()?;
            if !meta.is_file() || file_id(&meta) == self.id || meta.len() < self.offset {
                return None;
            }
            let file = File::open(entry.path()).ok()?;
            self.fingerprint
                .matches(&file)
                .then_some((entry.path(), file))
        });
        let mut finished = None;
        if let Some((path, mut copy)) = copy {
            tracing::info!("finishing the copy {} first", path.display());
            if copy.seek(SeekFrom::Start(self.offset)).is_ok() {
                let (live, offset) = (std::mem::replace(&mut self.file, copy), self.offset);
                while let Ok(true) = self.read_available(buf, out) {}
                let copy = std::mem::replace(&mut self.file, live);
                finished = copy.metadata().ok().map(|meta| {
                    let (dev, ino) = file_id(&meta);
                    Checkpoint {
                        path,
                        dev,
                        ino,
                        fingerprint: self.fingerprint,
                        offset: meta.len(),
                    }
                });
                self.offset = offset;
            }
        }
        self.splitter.reset();
        finished
    }

    /// Starts over from byte 0: the file was truncated (copytruncate) under us.
    fn restart(&mut self) -> io::Result<()> {
        self.splitter.reset();
        self.offset = 0;
        self.file.seek(SeekFrom::Start(0))?;
        self.fingerprint = Fingerprint::read(&self.file, FINGERPRINT_BYTES)?;
        Ok(())
    }

    /// Whether the file was truncated or rewritten since we last read it.
    fn truncated(&self, len: u64) -> bool {
        len < self.offset || !self.fingerprint.matches(&self.file)
    }

    fn checkpoint(&self, path: &Path) -> Checkpoint {
        Checkpoint {
            path: path.to_owned(),
            dev: self.id.0,
            ino: self.id.1,
            fingerprint: self.fingerprint,
            offset: self.offset - self.splitter.pending() as u64,
        }
    }
}

/// Follows one path.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    name: Arc<str>,
    options: FollowOptions,
    registry: Registry,
    current: Option<Reader>,
    /// Files rotated away that may still get their last lines.
    draining: Vec<Reader>,
    said_missing: bool,
    buf: Vec<u8>,
    /// A W3C header (`#Fields: ...`) from the start of a file read from further on, handed on
    /// first: the parser needs it to read the lines after it.
    header: Vec<Line>,
}

/// How much of a file's start is searched for a W3C header when reading starts later.
const HEADER_BYTES: usize = 64 * 1024;

/// The directive lines (`#Version`, `#Fields`, ...) a file starts with (IIS, CloudFront); none
/// for other logs. Read with `pread`, so the file's position stays.
fn leading_directives(file: &File, name: &Arc<str>) -> Vec<Line> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0; HEADER_BYTES];
    let Ok(n) = file.read_at(&mut head, 0) else {
        return Vec::new();
    };
    head.truncate(n);
    let head = head.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&head);
    let mut lines = Vec::new();
    let mut offset = 0;
    for raw in head.split_inclusive(|&b| b == b'\n') {
        if !raw.starts_with(b"#") || !raw.ends_with(b"\n") {
            break;
        }
        let text = String::from_utf8_lossy(raw)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        lines.push(Line {
            text,
            source: name.clone(),
            offset,
            file: None,
            truncated: false,
        });
        offset += raw.len() as u64;
    }
    lines
}

impl Follower {
    /// Opens `path`, which must exist, for following.
    ///
    /// Where reading starts: where the registry (`--state`) says this very file was left; at
    /// the start of a file that replaced a known one while webpeek was down (whose rest is read
    /// first, if it can still be found beside it); otherwise at the end, or the start with
    /// `--from-start` — or always at the start for a file that appeared after start-up
    /// (`initial` false).
    pub fn open(
        path: &Path,
        options: FollowOptions,
        registry: Registry,
        initial: bool,
    ) -> Result<Self, SourceError> {
        let name = source_name(path);
        let open_err = |source| SourceError::Open {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(open_err)?;
        let id = file_id(&file.metadata().map_err(open_err)?);
        let mut draining = Vec::new();
        let start = if let Some(c) = registry.known(id, &file) {
            Start::At(c.offset)
        } else {
            let earlier = registry.under_path(path);
            for c in &earlier {
                if let Some(old) = find_sibling(path, c) {
                    tracing::info!(
                        "{}: finishing {} rotated while webpeek was down",
                        path.display(),
                        name
                    );
                    if registry.claim(c.id())
                        && let Ok(r) = Reader::open(old, &name, Start::At(c.offset), false)
                    {
                        draining.push(r);
                    }
                }
            }
            match (earlier.is_empty(), initial && !options.from_start) {
                (false, _) | (true, false) => Start::Beginning,
                (true, true) => Start::End,
            }
        };
        registry.claim(id);
        let header = match start {
            Start::Beginning | Start::At(0) => Vec::new(),
            Start::End | Start::At(_) => leading_directives(&file, &name),
        };
        let current = Reader::open(file, &name, start, options.progress && options.from_start)
            .map_err(open_err)?;
        Ok(Follower {
            path: path.to_owned(),
            name,
            options,
            registry,
            current: Some(current),
            draining,
            said_missing: false,
            buf: vec![0; 256 * 1024],
            header,
        })
    }

    /// Short name carried by this follower's lines.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Reads everything new, noticing rotation and truncation; whole lines go to `out`.
    ///
    /// Order matters when a server switches files: the current file's length is taken before
    /// the rotated files are read to their end, and the current file is read only that far, so
    /// a line written to the old file just before the switch never comes after the new file's.
    ///
    /// Returns true when more is waiting than one batch held (read again without waiting).
    pub fn poll(&mut self, out: &mut Vec<Line>) -> bool {
        out.append(&mut self.header);
        // The path's length when it still names the current file (the usual case): no second
        // `stat` of the same file on the way from an append to the viewers.
        let len = self.check_path(out);
        let mut more = false;
        let limit = len.unwrap_or_else(|| {
            self.current
                .as_ref()
                .and_then(|r| r.file.metadata().ok())
                .map_or(0, |m| m.len())
        });
        for r in &mut self.draining {
            match r.read_available(&mut self.buf, out) {
                Ok(capped) => more |= capped,
                Err(e) => tracing::warn!("{}: reading rotated file: {e}", self.path.display()),
            }
            if r.last_data.elapsed() >= self.options.flush_quiet {
                r.splitter.flush(out);
            }
            self.registry.record(r.checkpoint(&self.path));
        }
        let (quiet, registry) = (self.options.drain_quiet, &self.registry);
        self.draining.retain(|r| {
            let open = r.last_data.elapsed() < quiet;
            if !open {
                registry.release(r.id);
            }
            open
        });
        // A rotated file not read to its end yet comes first: the current one waits a round.
        if let Some(r) = self.current.as_mut().filter(|_| !more) {
            match r.read_up_to(limit, &mut self.buf, out) {
                Ok(capped) => more |= capped,
                Err(e) => tracing::warn!("{}: {e}", self.path.display()),
            }
            self.registry.record(r.checkpoint(&self.path));
        }
        more
    }

    /// Notices a new file at the path (rotation) or a truncation of ours. Returns the length
    /// the path's `stat` found when the path still names the current file.
    fn check_path(&mut self, out: &mut Vec<Line>) -> Option<u64> {
        match std::fs::metadata(&self.path) {
            Ok(meta) => {
                self.said_missing = false;
                let same = self
                    .current
                    .as_ref()
                    .is_some_and(|r| r.id == file_id(&meta));
                if !same {
                    self.switch_to_new_file();
                    return None;
                } else if let Some(r) = &mut self.current
                    && r.truncated(meta.len())
                {
                    tracing::info!("{}: truncated, reading from its start", self.path.display());
                    if let Some(copy) =
                        r.finish_from_copy(&parent_dir(&self.path), &mut self.buf, out)
                    {
                        self.registry.record(copy);
                    }
                    if let Err(e) = r.restart() {
                        tracing::warn!("{}: {e}", self.path.display());
                    }
                }
                return Some(meta.len());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !self.said_missing {
                    tracing::info!("{}: gone; waiting for it to come back", self.path.display());
                    self.said_missing = true;
                }
            }
            Err(e) => tracing::warn!("{}: {e}", self.path.display()),
        }
        None
    }

    /// A new file stands at the path: rotation, re-creation, or a symlink now pointing
    /// elsewhere. The old one is drained; the new one is read from its start (or from where the
    /// registry says, if webpeek has read it before).
    fn switch_to_new_file(&mut self) {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return,
            Err(e) => {
                tracing::warn!("{}: {e}", self.path.display());
                return;
            }
        };
        let Ok(meta) = file.metadata() else { return };
        let id = file_id(&meta);
        // Back from being moved away (we are still draining it): it is current again.
        if let Some(at) = self.draining.iter().position(|r| r.id == id) {
            let back = self.draining.swap_remove(at);
            if let Some(old) = self.current.replace(back) {
                self.draining.push(old);
            }
            return;
        }
        // Another follower reads this file: a pattern that matches rotated names, and
        // `access.log` was just renamed to the `access.log.1` we follow. Ours is drained (it
        // moved on too, to `.2`); the path is taken up again once that follower let go of the
        // file, where it stopped (the registry's checkpoint).
        if !self.registry.claim(id) {
            if let Some(old) = self.current.take() {
                self.draining.push(old);
            }
            return;
        }
        let start = self
            .registry
            .known(id, &file)
            .map_or(Start::Beginning, |c| Start::At(c.offset));
        match Reader::open(file, &self.name, start, false) {
            Ok(new) => {
                tracing::info!("{}: new file, following it", self.path.display());
                if let Some(old) = self.current.replace(new) {
                    self.draining.push(old);
                }
            }
            Err(e) => {
                self.registry.release(id);
                tracing::warn!("{}: {e}", self.path.display());
            }
        }
    }

    /// Directories whose events concern this path: its own, and its symlink target's.
    fn watched_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![parent_dir(&self.path)];
        if let Ok(target) = std::fs::canonicalize(&self.path) {
            let d = parent_dir(&target);
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
        dirs
    }

    /// Reads what is new, covering the directories of a new file with `cover`; true when
    /// more is waiting than one batch held.
    fn read_round(
        &mut self,
        out: &mut Vec<Line>,
        cover: impl FnOnce(Vec<PathBuf>) -> Result<(), SourceError>,
    ) -> bool {
        let before = self.current.as_ref().map(|r| r.id);
        let more = self.poll(out);
        if self.current.as_ref().map(|r| r.id) != before
            && let Err(e) = cover(self.watched_dirs())
        {
            tracing::warn!("{}: {e}", self.path.display());
        }
        more
    }

    /// How long to wait for events before the next round (zero: more is waiting).
    fn next_wait(&self, more: bool) -> Duration {
        if more {
            Duration::ZERO
        } else if self.draining.is_empty() {
            self.options.poll
        } else {
            // Wake in time to flush a rotated file's last line.
            self.options.poll.min(self.options.flush_quiet / 2)
        }
    }

    /// Runs the follower on its own thread until `stop` is set or the sink wants no more.
    pub fn spawn(
        mut self,
        sink: Sink,
        stop: Arc<AtomicBool>,
    ) -> Result<std::thread::JoinHandle<()>, SourceError> {
        let mut watch = DirWatch::new(self.options.inotify)?;
        watch.cover(self.watched_dirs())?;
        let handle = std::thread::Builder::new()
            .name(format!("follow {}", self.name))
            .spawn(move || {
                while let Some(wait) = self.turn(&sink, &stop, |dirs| watch.cover(dirs)) {
                    if !wait.is_zero() {
                        watch.wait(wait);
                    }
                }
                self.close();
            })
            .map_err(SourceError::Thread)?;
        Ok(handle)
    }

    /// Runs the follower as a task of `runtime` until `stop` is set or the sink wants no more:
    /// the runtime's I/O driver waits on inotify, so an append wakes a worker that reads the
    /// lines, runs `sink` and then the viewers' tasks that `sink` woke, all on one thread (one
    /// wake-up fewer than [`Follower::spawn`]'s thread handing frames to a worker). Without an
    /// inotify instance left it wakes on timeouts alone. Needs a `sink` that never blocks (the hub's pipeline; not `publish`'s queue,
    /// which waits while it is full). A backlog is read one batch ([`MAX_BATCH_BYTES`]) per
    /// turn, yielding in between.
    pub fn spawn_on(
        mut self,
        runtime: &tokio::runtime::Handle,
        sink: Sink,
        stop: Arc<AtomicBool>,
    ) -> Result<tokio::task::JoinHandle<()>, SourceError> {
        let mut watch = DirWatch::new(true)?;
        watch.cover(self.watched_dirs())?;
        let _entered = runtime.enter();
        // No inotify instance left: the stat check every --poll-interval, on timeouts alone.
        let mut watch = match watch.has_inotify() {
            true => Some(AsyncDirWatch::new(watch)?),
            false => None,
        };
        Ok(runtime.spawn(async move {
            while let Some(wait) = self.turn(&sink, &stop, |dirs| {
                watch.as_mut().map_or(Ok(()), |w| w.cover(dirs))
            }) {
                match watch.as_mut() {
                    _ if wait.is_zero() => tokio::task::yield_now().await,
                    Some(w) => w.wait(wait).await,
                    None => tokio::time::sleep(wait).await,
                }
            }
            self.close();
        }))
    }

    /// One turn of following, for [`Follower::spawn`] and [`Follower::spawn_on`]: reads what is
    /// new and hands it to `sink`; `None` when the follower is to stop (asked to, or the sink
    /// wants no more), else how long to wait for news (zero: more is there already).
    fn turn(
        &mut self,
        sink: &Sink,
        stop: &AtomicBool,
        cover: impl FnOnce(Vec<PathBuf>) -> Result<(), SourceError>,
    ) -> Option<Duration> {
        let mut out = Vec::new();
        let more = self.read_round(&mut out, cover);
        if !out.is_empty() && !sink.take(out) {
            return None;
        }
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        Some(self.next_wait(more))
    }

    /// Records final positions and releases the files.
    fn close(&mut self) {
        for r in self.current.iter().chain(&self.draining) {
            self.registry.record(r.checkpoint(&self.path));
            self.registry.release(r.id);
        }
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Finds, beside `path`, the file a checkpoint describes (renamed by a rotation).
fn find_sibling(path: &Path, c: &Checkpoint) -> Option<File> {
    std::fs::read_dir(parent_dir(path))
        .ok()?
        .flatten()
        .find_map(|entry| {
            let meta = entry.metadata().ok()?;
            if !meta.is_file() || file_id(&meta) != c.id() {
                return None;
            }
            let file = File::open(entry.path()).ok()?;
            c.fingerprint.matches(&file).then_some(file)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn texts(out: &[Line]) -> Vec<String> {
        out.iter().map(|l| l.text.clone()).collect()
    }

    fn append(path: &Path, s: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    /// An empty `access.log` in a temp dir, followed with the default options.
    fn empty_log() -> (tempfile::TempDir, PathBuf, Follower) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("access.log");
        append(&p, "");
        let f = follower(&p, FollowOptions::default());
        (dir, p, f)
    }

    fn follower(path: &Path, options: FollowOptions) -> Follower {
        Follower::open(path, options, Registry::default(), true).unwrap()
    }

    #[test]
    fn follows_appends_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("access.log");
        append(&p, "old\n");
        let mut f = follower(&p, FollowOptions::default());
        let mut out = Vec::new();
        f.poll(&mut out);
        assert!(out.is_empty());
        append(&p, "new 1\nnew");
        f.poll(&mut out);
        append(&p, " 2\n");
        f.poll(&mut out);
        assert_eq!(texts(&out), ["new 1", "new 2"]);
        assert_eq!(out[1].offset, 10);
        assert_eq!(&*out[0].source, "access.log");
    }

    #[test]
    fn rename_rotation_finishes_old_then_reads_new() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("access.log");
        append(&p, "");
        let opts = FollowOptions {
            flush_quiet: Duration::ZERO,
            drain_quiet: Duration::from_millis(50),
            ..Default::default()
        };
        let mut f = follower(&p, opts);
        let mut out = Vec::new();
        append(&p, "a\n");
        // The server still writes to the old file after the rename, until it reopens.
        let mut old = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        std::fs::rename(&p, dir.path().join("access.log.1")).unwrap();
        append(&p, "c\n");
        f.poll(&mut out);
        old.write_all(b"b\nunfinished").unwrap();
        f.poll(&mut out);
        append(&p, "d\n");
        f.poll(&mut out);
        assert_eq!(texts(&out), ["a", "c", "b", "unfinished", "d"]);
        std::thread::sleep(Duration::from_millis(60));
        f.poll(&mut out);
        assert!(f.draining.is_empty(), "the quiet rotated file is closed");
    }

    #[test]
    fn truncation_restarts_at_zero() {
        let (_dir, p, mut f) = empty_log();
        let mut out = Vec::new();
        append(&p, "one\ntwo\n");
        f.poll(&mut out);
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        append(&p, "3\n");
        f.poll(&mut out);
        assert_eq!(texts(&out), ["one", "two", "3"]);
    }

    #[test]
    fn truncation_hidden_by_fast_writes_is_caught_by_the_fingerprint() {
        let (_dir, p, mut f) = empty_log();
        let mut out = Vec::new();
        append(&p, "line 1\n");
        f.poll(&mut out);
        // Truncated and rewritten past our offset before we looked again.
        std::fs::write(&p, "line 2 is longer\nline 3\n").unwrap();
        f.poll(&mut out);
        assert_eq!(texts(&out), ["line 1", "line 2 is longer", "line 3"]);
    }

    #[test]
    fn copytruncate_finishes_unread_lines_from_the_copy() {
        let (dir, p, mut f) = empty_log();
        let mut out = Vec::new();
        append(&p, "1\n2\n");
        f.poll(&mut out);
        // Written, then copied and truncated before webpeek read it; the copy ends in a half
        // line whose rest fell into logrotate's window.
        append(&p, "3\n4\nhal");
        std::fs::copy(&p, dir.path().join("access.log.1")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        append(&p, "5\n");
        f.poll(&mut out);
        assert_eq!(texts(&out), ["1", "2", "3", "4", "5"]);
    }

    #[test]
    fn a_line_written_to_the_old_file_at_the_switch_comes_first() {
        let (dir, p, mut f) = empty_log();
        let mut out = Vec::new();
        let mut old = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        std::fs::rename(&p, dir.path().join("access.log.1")).unwrap();
        append(&p, "");
        f.poll(&mut out); // sees the new, empty file
        old.write_all(b"last old\n").unwrap(); // the server's last write before reopening
        append(&p, "first new\n");
        f.poll(&mut out);
        assert_eq!(texts(&out), ["last old", "first new"]);
    }

    #[test]
    fn delete_and_recreate() {
        let (_dir, p, mut f) = empty_log();
        let mut out = Vec::new();
        std::fs::remove_file(&p).unwrap();
        f.poll(&mut out);
        append(&p, "reborn\n");
        f.poll(&mut out);
        assert_eq!(texts(&out), ["reborn"]);
    }

    #[test]
    fn symlink_whose_target_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        append(&a, "a0\n");
        append(&b, "b0\n");
        let link = dir.path().join("current");
        std::os::unix::fs::symlink(&a, &link).unwrap();
        let mut f = follower(&link, FollowOptions::default());
        let mut out = Vec::new();
        append(&a, "a1\n");
        f.poll(&mut out);
        let tmp = dir.path().join("current.tmp");
        std::os::unix::fs::symlink(&b, &tmp).unwrap();
        std::fs::rename(&tmp, &link).unwrap();
        append(&b, "b1\n");
        f.poll(&mut out);
        assert_eq!(texts(&out), ["a1", "b0", "b1"]);
        assert_eq!(&*out[0].source, "current");
    }

    #[test]
    fn registry_resumes_and_finishes_a_file_rotated_while_down() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("access.log");
        append(&p, "seen 1\n");
        let registry = Registry::default();
        let mut f = Follower::open(&p, FollowOptions::default(), registry.clone(), true).unwrap();
        let mut out = Vec::new();
        append(&p, "seen 2\nhalf");
        f.poll(&mut out);
        f.close();
        drop(f);
        // While "down": the line is finished, then the file is rotated and a new one written.
        append(&p, " done\n");
        std::fs::rename(&p, dir.path().join("access.log.1")).unwrap();
        append(&p, "new 1\n");
        let restarted = Registry::default();
        for c in registry.under_path(&p) {
            restarted.record(c);
        }
        let mut f = Follower::open(&p, FollowOptions::default(), restarted, true).unwrap();
        f.poll(&mut out);
        assert_eq!(texts(&out), ["seen 2", "half done", "new 1"]);
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Follower::open(
            Path::new("/nonexistent/access.log"),
            FollowOptions::default(),
            Registry::default(),
            true,
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/access.log"), "{err}");
    }
}
