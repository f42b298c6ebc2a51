//! Wake-ups for a source thread: inotify events on watched directories, or a timeout.
//!
//! The thread that reads the log waits on inotify itself (`poll(2)` on the inotify descriptor),
//! so an append wakes exactly the thread that will read it: no event thread in between.

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

use inotify::{Inotify, WatchMask};

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

impl DirWatch {
    /// A watch using inotify, or only timeouts (`inotify` false).
    pub fn new(inotify: bool) -> Result<DirWatch, SourceError> {
        Ok(DirWatch {
            inotify: if inotify {
                Some(Inotify::init().map_err(SourceError::Watch)?)
            } else {
                None
            },
            watched: Vec::new(),
            events: vec![0; 16 * 1024],
        })
    }

    /// Adds the directories not watched yet.
    pub fn cover(&mut self, dirs: impl IntoIterator<Item = PathBuf>) -> Result<(), SourceError> {
        let Some(inotify) = &self.inotify else {
            return Ok(());
        };
        for dir in dirs {
            if !self.watched.contains(&dir) {
                inotify
                    .watches()
                    .add(&dir, mask())
                    .map_err(SourceError::Watch)?;
                self.watched.push(dir);
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
