//! source: yields raw log lines, with where they came from, from followed files, patterns,
//! gzip files and stdin.
//!
//! Each source runs on its own thread (file reads are blocking calls) and hands each batch of
//! [`Line`]s — whatever one wake-up read — to a [`LineSink`] on that same thread: the fewer
//! threads a line crosses, the sooner it reaches a viewer.

mod file;
mod glob;
mod gz;
pub mod lines;
pub mod registry;
mod wake;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use tokio::sync::mpsc;

pub use file::{FollowOptions, Follower};
pub use glob::{NamePattern, PatternError, is_glob};
pub use lines::{LineSplitter, MAX_LINE};
pub use registry::{Checkpoint, Registry, StateError};

use crate::hit::Line;

/// Why a source could not start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A log file could not be opened.
    #[error("cannot open log file {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// File events (inotify) could not be set up.
    #[error("cannot watch for file changes: {0}")]
    Watch(std::io::Error),
    /// The reading thread could not start.
    #[error("cannot start a reader thread: {0}")]
    Thread(std::io::Error),
}

/// The name a file's lines carry as their `source`: its file name.
pub fn source_name(path: &Path) -> Arc<str> {
    path.file_name()
        .map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy())
        .into()
}

/// Reads up to `max` bytes from the start of `file`, wherever its cursor stands.
pub fn read_head(file: &std::fs::File, max: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0; max];
    let mut got = 0;
    while got < head.len() {
        match file.read_at(&mut head[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(got);
    Ok(head)
}

/// Where sources hand their lines; called on the source's own thread (or task).
pub trait LineSink: Send + Sync + 'static {
    /// Takes one batch of lines; false when no more are wanted.
    fn take(&self, lines: Vec<Line>) -> bool;
}

/// A channel is a sink too (tests, and anything that wants lines on another thread).
impl LineSink for mpsc::Sender<Vec<Line>> {
    fn take(&self, lines: Vec<Line>) -> bool {
        self.blocking_send(lines).is_ok()
    }
}

/// A shared sink.
pub type Sink = Arc<dyn LineSink>;

/// One log argument, classified.
#[derive(Debug, Clone)]
pub enum Input {
    /// A log file to follow.
    File(PathBuf),
    /// Every file matching a name pattern, now and later.
    Pattern(NamePattern),
    /// A gzip-compressed log, read once.
    Gzip(PathBuf),
    /// Standard input.
    Stdin,
}

impl Input {
    /// Classifies a `LOG` argument: `-`, a pattern, a `.gz` file, or a file.
    pub fn from_arg(arg: &Path) -> Result<Input, InputError> {
        if arg.as_os_str() == "-" {
            return Ok(Input::Stdin);
        }
        if is_glob(arg) {
            return Ok(Input::Pattern(NamePattern::new(arg)?));
        }
        // Not `Path::exists`, which is false for any failed stat: a log in a directory the user
        // may not enter (Debian's /var/log/apache2 is root:adm 0750) is not a missing file.
        let meta = std::fs::metadata(arg).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => InputError::Missing(arg.to_owned()),
            _ => InputError::Unreadable(arg.to_owned(), e),
        })?;
        if meta.is_dir() {
            return Err(InputError::Directory(arg.to_owned()));
        }
        // Said now, in one line, rather than by the follower once serving has begun.
        std::fs::File::open(arg).map_err(|e| InputError::Unreadable(arg.to_owned(), e))?;
        Ok(if arg.extension().is_some_and(|e| e == "gz") {
            Input::Gzip(arg.to_owned())
        } else {
            Input::File(arg.to_owned())
        })
    }
}

/// A `LOG` argument that cannot be followed.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file does not exist (and the name is not a pattern).
    #[error(
        "{0}: no such log file (quote a pattern such as '/var/log/app/*.log' to wait for files)"
    )]
    Missing(PathBuf),
    /// A directory was given.
    #[error("{0}: is a directory (give a file, or a quoted pattern such as 'DIR/*.log')")]
    Directory(PathBuf),
    /// The file exists but cannot be opened (permissions, mostly).
    #[error(
        "{0}: cannot read it: {1} (run webpeek as a user who may read the log: on Debian, one in the group adm)"
    )]
    Unreadable(PathBuf, #[source] std::io::Error),
    /// A bad pattern.
    #[error(transparent)]
    Pattern(#[from] PatternError),
}

/// The running sources of one run.
pub struct Sources {
    stop: Arc<AtomicBool>,
    followers: Vec<JoinHandle<()>>,
    /// Followers running as tasks, and their runtime.
    tasks: Vec<(tokio::runtime::Handle, tokio::task::JoinHandle<()>)>,
    registry: Registry,
}

impl Sources {
    /// Starts reading every input; lines go to `sink`.
    pub fn start(
        inputs: &[Input],
        options: &FollowOptions,
        registry: Registry,
        sink: &Sink,
    ) -> Result<Sources, SourceError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut followers = Vec::new();
        let mut tasks = Vec::new();
        for input in inputs {
            match input {
                Input::File(path) => {
                    let f = Follower::open(path, options.clone(), registry.clone(), true)?;
                    match options.runtime.as_ref().filter(|_| options.inotify) {
                        Some(rt) => {
                            tasks.push((rt.clone(), f.spawn_on(rt, sink.clone(), stop.clone())?))
                        }
                        None => followers.push(f.spawn(sink.clone(), stop.clone())?),
                    }
                }
                Input::Pattern(p) => {
                    followers.push(glob::spawn(
                        p.clone(),
                        options.clone(),
                        registry.clone(),
                        sink.clone(),
                        stop.clone(),
                    )?);
                }
                // Read once; never joined, as they end by themselves.
                Input::Gzip(path) => drop(gz::spawn(path, sink.clone())?),
                Input::Stdin => drop(spawn_stdin(sink.clone())?),
            }
        }
        Ok(Sources {
            stop,
            followers,
            tasks,
            registry,
        })
    }

    /// Positions in every file read so far.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Stops the followers after their current read and waits for them; their last lines are
    /// handed on and their final positions in the registry when this returns. Blocks: call it
    /// outside the runtime's tasks (`spawn_blocking`).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for f in self.followers {
            let _ = f.join();
        }
        for (runtime, task) in self.tasks {
            let _ = runtime.block_on(task);
        }
    }
}

/// Reads lines from standard input until it ends, on its own thread.
pub fn spawn_stdin(sink: Sink) -> Result<JoinHandle<()>, SourceError> {
    spawn_stream("stdin".into(), std::io::stdin(), sink)
}

/// Reads a stream that is only ever appended to, once, to its end, on its own thread; the last
/// line is flushed even without its newline.
fn spawn_stream(
    name: Arc<str>,
    mut reader: impl Read + Send + 'static,
    sink: Sink,
) -> Result<JoinHandle<()>, SourceError> {
    std::thread::Builder::new()
        .name(format!("read {name}"))
        .spawn(move || {
            let mut splitter = LineSplitter::new(name.clone());
            let mut buf = vec![0; 256 * 1024];
            let mut offset = 0u64;
            loop {
                let mut out = Vec::new();
                let done = match reader.read(&mut buf) {
                    Ok(0) => true,
                    Ok(n) => {
                        splitter.push(&buf[..n], offset, &mut out);
                        offset += n as u64;
                        false
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => false,
                    Err(e) => {
                        tracing::warn!("{name}: {e} (after {offset} bytes)");
                        true
                    }
                };
                if done {
                    splitter.flush(&mut out);
                    tracing::debug!("{name}: read to its end");
                }
                if (!out.is_empty() && !sink.take(out)) || done {
                    return;
                }
            }
        })
        .map_err(SourceError::Thread)
}
