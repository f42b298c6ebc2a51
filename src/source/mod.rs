//! source: yields raw log lines, with where they came from, from followed files or stdin.
//!
//! Each source runs on its own thread (file reads are blocking calls) and sends batches of
//! [`Line`]s to one channel; a batch is whatever one wake-up read.

mod file;
pub mod lines;

use std::io::Read;
use std::path::PathBuf;

use tokio::sync::mpsc;

pub use file::{FollowOptions, Follower};
pub use lines::{LineSplitter, MAX_LINE};

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
    /// File events could not be set up.
    #[error("cannot watch for file changes: {0}")]
    Watch(#[from] notify::Error),
    /// The reading thread could not start.
    #[error("cannot start a reader thread: {0}")]
    Thread(std::io::Error),
}

/// Reads lines from standard input until it ends, on its own thread.
pub fn spawn_stdin(
    tx: mpsc::Sender<Vec<Line>>,
) -> Result<std::thread::JoinHandle<()>, SourceError> {
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut splitter = LineSplitter::new("stdin".into());
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0; 64 * 1024];
            let mut offset = 0u64;
            loop {
                let mut out = Vec::new();
                match stdin.read(&mut buf) {
                    Ok(0) => {
                        splitter.flush(&mut out);
                        let _ = tx.blocking_send(out);
                        return;
                    }
                    Ok(n) => {
                        splitter.push(&buf[..n], offset, &mut out);
                        offset += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::warn!("stdin: {e}");
                        return;
                    }
                }
                if !out.is_empty() && tx.blocking_send(out).is_err() {
                    return;
                }
            }
        })
        .map_err(SourceError::Thread)
}
