//! Wake-ups for a source thread: inotify events on watched directories, or a timeout.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use super::SourceError;

/// Watches directories (without recursion) and lets a thread sleep until something changes
/// in them or a timeout passes. Without inotify (`--poll`) only the timeout wakes it.
pub struct DirWatch {
    watcher: Option<RecommendedWatcher>,
    watched: Vec<PathBuf>,
    wake: mpsc::Receiver<()>,
}

impl DirWatch {
    /// A watch using inotify, or only timeouts (`inotify` false).
    pub fn new(inotify: bool) -> Result<DirWatch, SourceError> {
        let (tx, wake) = mpsc::channel();
        let watcher = if inotify {
            Some(notify::recommended_watcher(
                move |_: notify::Result<notify::Event>| {
                    let _ = tx.send(());
                },
            )?)
        } else {
            None
        };
        Ok(DirWatch {
            watcher,
            watched: Vec::new(),
            wake,
        })
    }

    /// Adds the directories not watched yet.
    pub fn cover(&mut self, dirs: impl IntoIterator<Item = PathBuf>) -> Result<(), SourceError> {
        let Some(w) = &mut self.watcher else {
            return Ok(());
        };
        for dir in dirs {
            if !self.watched.contains(&dir) {
                w.watch(&dir, RecursiveMode::NonRecursive)?;
                self.watched.push(dir);
            }
        }
        Ok(())
    }

    /// Sleeps until an event (all pending ones are taken at once) or `timeout`.
    pub fn wait(&self, timeout: Duration) {
        match self.wake.recv_timeout(timeout) {
            Ok(()) => while self.wake.try_recv().is_ok() {},
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // No watcher: pace by the timeout alone.
            Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(timeout),
        }
    }
}
