//! Follows one log file like `tail -F`: appends, rename rotation, truncation, re-creation.
//!
//! Reading is driven by inotify events on the file's *directory* (so a file that is renamed
//! away or re-created is still seen), with a periodic stat as the safety net for file systems
//! that send no events. After a rotation the old file stays open until it has been quiet for a
//! while, because a server keeps writing to it until it reopens its log.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::SourceError;
use super::lines::LineSplitter;
use crate::hit::Line;

/// How a follower starts and paces itself.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Read what the file already holds (else start at its end).
    pub from_start: bool,
    /// Interval of the safety-net stat check.
    pub poll: Duration,
    /// How long a rotated-away file must stay quiet before it is closed.
    pub drain_quiet: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            from_start: false,
            poll: Duration::from_secs(1),
            drain_quiet: Duration::from_secs(5),
        }
    }
}

/// Identity of a file on disk.
type FileId = (u64, u64);

fn file_id(m: &Metadata) -> FileId {
    (m.dev(), m.ino())
}

/// An open file being read, with its own unfinished line.
#[derive(Debug)]
struct Reader {
    file: File,
    id: FileId,
    offset: u64,
    splitter: LineSplitter,
    last_data: Instant,
}

impl Reader {
    fn open(path: &Path, name: &Arc<str>, at_end: bool) -> io::Result<Reader> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let offset = if at_end { meta.len() } else { 0 };
        file.seek(SeekFrom::Start(offset))?;
        Ok(Reader {
            file,
            id: file_id(&meta),
            offset,
            splitter: LineSplitter::new(name.clone()),
            last_data: Instant::now(),
        })
    }

    /// Reads to the current end of the file.
    fn read_available(&mut self, buf: &mut [u8], out: &mut Vec<Line>) -> io::Result<()> {
        loop {
            let n = match self.file.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(());
            }
            self.splitter.push(&buf[..n], self.offset, out);
            self.offset += n as u64;
            self.last_data = Instant::now();
        }
    }
}

/// Follows one path.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    name: Arc<str>,
    options: FollowOptions,
    current: Option<Reader>,
    /// Files rotated away that may still get their last lines.
    draining: Vec<Reader>,
    buf: Vec<u8>,
}

impl Follower {
    /// Opens `path` for following; it must exist.
    pub fn open(path: &Path, options: FollowOptions) -> Result<Self, SourceError> {
        let name: Arc<str> = path
            .file_name()
            .map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy())
            .into();
        let current =
            Reader::open(path, &name, !options.from_start).map_err(|e| SourceError::Open {
                path: path.to_owned(),
                source: e,
            })?;
        Ok(Follower {
            path: path.to_owned(),
            name,
            options,
            current: Some(current),
            draining: Vec::new(),
            buf: vec![0; 256 * 1024],
        })
    }

    /// Short name carried by this follower's lines.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Reads everything new, noticing rotation and truncation; whole lines go to `out`.
    pub fn poll(&mut self, out: &mut Vec<Line>) {
        for r in &mut self.draining {
            if let Err(e) = r.read_available(&mut self.buf, out) {
                tracing::warn!("{}: reading rotated file: {e}", self.path.display());
            }
        }
        let quiet = self.options.drain_quiet;
        self.draining.retain_mut(|r| {
            let done = r.last_data.elapsed() >= quiet;
            if done {
                r.splitter.flush(out);
            }
            !done
        });
        if let Some(r) = &mut self.current
            && let Err(e) = r.read_available(&mut self.buf, out)
        {
            tracing::warn!("{}: {e}", self.path.display());
        }
        match std::fs::metadata(&self.path) {
            Ok(meta) => self.check_identity(&meta, out),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("{}: {e}", self.path.display()),
        }
    }

    fn check_identity(&mut self, meta: &Metadata, out: &mut Vec<Line>) {
        let same = self.current.as_ref().is_some_and(|r| r.id == file_id(meta));
        if same {
            let r = self.current.as_mut().expect("checked");
            if meta.len() < r.offset {
                tracing::info!("{}: truncated, reading from its start", self.path.display());
                r.splitter.reset();
                r.offset = 0;
                if let Err(e) = r.file.seek(SeekFrom::Start(0)) {
                    tracing::warn!("{}: {e}", self.path.display());
                }
                let _ = r.read_available(&mut self.buf, out);
            }
            return;
        }
        // A new file stands at the path: rotation, or delete and re-create. Read it from its start.
        match Reader::open(&self.path, &self.name, false) {
            Ok(mut new) => {
                tracing::info!(
                    "{}: new file, following it from its start",
                    self.path.display()
                );
                let _ = new.read_available(&mut self.buf, out);
                if let Some(old) = self.current.replace(new) {
                    self.draining.push(old);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("{}: {e}", self.path.display()),
        }
    }

    /// Runs the follower on its own thread until the receiver of `tx` is dropped.
    pub fn spawn(
        mut self,
        tx: mpsc::Sender<Vec<Line>>,
    ) -> Result<std::thread::JoinHandle<()>, SourceError> {
        let (wake_tx, wake_rx) = std_mpsc::channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
                let _ = wake_tx.send(());
            })?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        let handle = std::thread::Builder::new()
            .name(format!("follow {}", self.name))
            .spawn(move || {
                let _watcher = watcher; // keeps the inotify watch alive
                loop {
                    let mut out = Vec::new();
                    self.poll(&mut out);
                    if !out.is_empty() && tx.blocking_send(out).is_err() {
                        return;
                    }
                    if tx.is_closed() {
                        return;
                    }
                    match wake_rx.recv_timeout(self.options.poll) {
                        Ok(()) | Err(std_mpsc::RecvTimeoutError::Timeout) => {
                            while wake_rx.try_recv().is_ok() {}
                        }
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .map_err(SourceError::Thread)?;
        Ok(handle)
    }
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

    #[test]
    fn follows_appends_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("access.log");
        append(&p, "old\n");
        let mut f = Follower::open(&p, FollowOptions::default()).unwrap();
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
            drain_quiet: Duration::ZERO,
            ..Default::default()
        };
        let mut f = Follower::open(&p, opts).unwrap();
        let mut out = Vec::new();
        append(&p, "a\n");
        // The server still writes to the old file after the rename, until it reopens.
        let mut old = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        std::fs::rename(&p, dir.path().join("access.log.1")).unwrap();
        append(&p, "c\n");
        f.poll(&mut out);
        old.write_all(b"b\n").unwrap();
        f.poll(&mut out);
        append(&p, "d\n");
        f.poll(&mut out);
        let mut got = texts(&out);
        got.sort();
        assert_eq!(got, ["a", "b", "c", "d"]);
    }

    #[test]
    fn truncation_restarts_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("access.log");
        append(&p, "");
        let mut f = Follower::open(&p, FollowOptions::default()).unwrap();
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
    fn from_start_reads_existing_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("access.log");
        append(&p, "x\ny\n");
        let opts = FollowOptions {
            from_start: true,
            ..Default::default()
        };
        let mut f = Follower::open(&p, opts).unwrap();
        let mut out = Vec::new();
        f.poll(&mut out);
        assert_eq!(texts(&out), ["x", "y"]);
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Follower::open(
            Path::new("/nonexistent/access.log"),
            FollowOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/access.log"), "{err}");
    }
}
