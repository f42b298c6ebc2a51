//! Wake-ups for a source thread: inotify events on watched directories, or a timeout.
//!
//! The thread that reads the log waits on inotify itself (`poll(2)` on the inotify descriptor),
//! so an append wakes exactly the thread that will read it: no event thread in between.

use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use inotify::{Inotify, WatchMask};
use tokio::io::unix::AsyncFd;

use super::SourceError;

/// What in a watched directory wakes the reader: writes, and files appearing, leaving or
/// changing identity.
fn mask() -> WatchMask {
    WatchMask::MODIFY
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::ATTRIB
        | WatchMask::CLOSE_WRITE
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
}

/// Watches directories (without recursion) and lets a thread sleep until something changes
/// in them or a timeout passes. Without inotify (`--poll`) only the timeout wakes it.
pub struct DirWatch {
    inotify: Option<Inotify>,
    watched: Vec<PathBuf>,
    events: Vec<u8>,
}

/// Says once per process that inotify is out of instances or watches, and that files are
/// followed by their stat check from then on.
fn inotify_exhausted(e: &std::io::Error) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        tracing::warn!(
            "inotify: {e} (the limits are sysctl fs.inotify.max_user_instances and \
             max_user_watches); the files past it are checked every --poll-interval instead"
        );
    });
}

/// Whether an inotify error is a limit reached (too many instances or watches), after which
/// following goes on by the stat check alone.
fn is_limit(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOSPC)
    )
}

impl DirWatch {
    /// A watch using inotify, or only timeouts (`inotify` false, or no inotify instance left:
    /// each followed file has its own, and a user has 128 by default).
    pub fn new(inotify: bool) -> Result<DirWatch, SourceError> {
        let inotify = match inotify.then(Inotify::init) {
            None => None,
            Some(Ok(i)) => Some(i),
            Some(Err(e)) if is_limit(&e) => {
                inotify_exhausted(&e);
                None
            }
            Some(Err(e)) => return Err(SourceError::Watch(e)),
        };
        Ok(DirWatch {
            inotify,
            watched: Vec::new(),
            events: vec![0; 16 * 1024],
        })
    }

    /// Whether inotify wakes this watch (else only its timeouts do).
    pub fn has_inotify(&self) -> bool {
        self.inotify.is_some()
    }

    /// Adds the directories not watched yet.
    pub fn cover(&mut self, dirs: impl IntoIterator<Item = PathBuf>) -> Result<(), SourceError> {
        let Some(inotify) = &self.inotify else {
            return Ok(());
        };
        for dir in dirs {
            if !self.watched.contains(&dir) {
                match inotify.watches().add(&dir, mask()) {
                    Ok(_) => self.watched.push(dir),
                    // Out of watches: this watch keeps what it has; the stat check finds the rest.
                    Err(e) if is_limit(&e) => inotify_exhausted(&e),
                    Err(e) => return Err(SourceError::Watch(e)),
                }
            }
        }
        Ok(())
    }

    /// Sleeps until an event (the pending ones are taken with one read) or `timeout`.
    pub fn wait(&mut self, timeout: Duration) {
        let Some(inotify) = &mut self.inotify else {
            std::thread::sleep(timeout);
            return;
        };
        let mut pollfd = libc::pollfd {
            fd: inotify.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd, for the duration of the call.
        let ready = unsafe { libc::poll(&mut pollfd, 1, ms) };
        if ready > 0 {
            // The events only say "look again"; the reader re-reads and re-stats anyway. One
            // read takes every event that fits the buffer: no second read just to hear EAGAIN
            // (a system call on every append); any left over make the next `poll` return at
            // once.
            let _ = inotify.read_events(&mut self.events);
        }
    }
}

/// The inotify descriptor, for a runtime's I/O driver to wait on (only for a watch made with
/// inotify).
impl AsRawFd for DirWatch {
    fn as_raw_fd(&self) -> RawFd {
        self.inotify
            .as_ref()
            .expect("an async watch needs inotify")
            .as_raw_fd()
    }
}

/// Room for one more inotify event in the buffer: its header and the longest name.
const EVENT_MAX: usize = std::mem::size_of::<libc::inotify_event>() + 256;

/// A [`DirWatch`] with inotify whose descriptor the tokio runtime waits on (its `epoll`), so
/// that an append wakes a runtime worker directly: the follower then runs on that worker and
/// the viewers' tasks it wakes run right after it on the same thread (tokio's LIFO slot), with
/// no thread in between.
pub struct AsyncDirWatch(AsyncFd<DirWatch>);

impl AsyncDirWatch {
    /// Registers the watch's descriptor with the current runtime (call it inside one).
    pub fn new(watch: DirWatch) -> Result<AsyncDirWatch, SourceError> {
        if watch.inotify.is_none() {
            return Err(SourceError::Watch(std::io::Error::other(
                "an async watch needs inotify",
            )));
        }
        // SAFETY: the descriptor is the watch's `Inotify`, owned by it and never replaced: it
        // stays open and the same for as long as the `AsyncFd` holds the watch.
        unsafe { AsyncFd::register_with_interest(watch, tokio::io::Interest::READABLE) }
            .map(AsyncDirWatch)
            .map_err(|e| SourceError::Watch(e.into_parts().1))
    }

    /// Adds the directories not watched yet.
    pub fn cover(&mut self, dirs: impl IntoIterator<Item = PathBuf>) -> Result<(), SourceError> {
        self.0.get_mut().cover(dirs)
    }

    /// Waits until an event (the pending ones are taken with one read) or `timeout`.
    pub async fn wait(&mut self, timeout: Duration) {
        let Ok(Ok(mut ready)) = tokio::time::timeout(timeout, self.0.readable_mut()).await else {
            return;
        };
        let watch = ready.get_inner_mut();
        let fd = watch.as_raw_fd();
        let buf = &mut watch.events;
        // SAFETY: reads into a buffer we own, at most its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        // The events only say "look again". When this read emptied the queue (it returned
        // less than a full buffer, or nothing), the descriptor is idle until the next event:
        // tokio keeps it ready if an event came in meanwhile. A full buffer may have left
        // events behind: the next wait reads them at once.
        if n < 0 || (n as usize) + EVENT_MAX <= buf.len() {
            ready.clear_ready();
        }
    }
}
