//! Follows every file whose name matches a pattern (`/var/log/nginx/*access.log`), including
//! files that appear later. A file already being read under another name (a rotated file that
//! now matches, `access.log.1`) is left to the follower that has it; one read before is resumed
//! where it was left, so no line is read twice.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::file::{FollowOptions, Follower};
use super::registry::{Registry, file_id};
use super::wake::DirWatch;
use super::{Sink, SourceError};

/// Whether a log argument is a pattern rather than a path.
pub fn is_glob(path: &Path) -> bool {
    path.to_string_lossy().contains(['*', '?', '['])
}

/// A pattern over the names of one directory.
#[derive(Debug, Clone)]
pub struct NamePattern {
    dir: PathBuf,
    pattern: glob::Pattern,
}

/// Why a pattern cannot be followed.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    /// The pattern does not parse.
    #[error("{path}: bad pattern: {msg}")]
    Syntax {
        /// The argument.
        path: PathBuf,
        /// What is wrong.
        msg: &'static str,
    },
    /// Only the file name may hold wildcards.
    #[error("{0}: wildcards are allowed in the file name only, not in directories")]
    WildDirectory(PathBuf),
    /// The directory does not exist.
    #[error("{0}: no such directory")]
    NoDirectory(PathBuf),
    /// The directory exists but cannot be listed (permissions, mostly).
    #[error(
        "{0}: cannot list the directory: {1} (run webpeek as a user who may read the logs: on Debian, one in the group adm)"
    )]
    Unreadable(PathBuf, #[source] std::io::Error),
}

impl NamePattern {
    /// Parses `dir/pattern`.
    pub fn new(path: &Path) -> Result<NamePattern, PatternError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        if is_glob(&dir) {
            return Err(PatternError::WildDirectory(path.to_owned()));
        }
        // Listed now: a directory the user may not read would otherwise match nothing, in
        // silence, until the watcher fails on it once serving has begun.
        if let Err(e) = std::fs::read_dir(&dir) {
            return Err(match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
                    PatternError::NoDirectory(dir)
                }
                _ => PatternError::Unreadable(dir, e),
            });
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let pattern = glob::Pattern::new(&name).map_err(|e| PatternError::Syntax {
            path: path.to_owned(),
            msg: e.msg,
        })?;
        Ok(NamePattern { dir, pattern })
    }

    /// Regular files in the directory whose names match, sorted.
    pub fn matches(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| self.pattern.matches(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "gz"))
            .collect();
        found.sort();
        found
    }
}

/// Runs the pattern's watcher on its own thread: it starts a [`Follower`] for every match.
pub fn spawn(
    pattern: NamePattern,
    options: FollowOptions,
    registry: Registry,
    sink: Sink,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, SourceError> {
    let mut watch = DirWatch::new(options.inotify)?;
    watch.cover([pattern.dir.clone()])?;
    let mut matches = Matches {
        pattern,
        options,
        registry,
        sink,
        stop,
        following: HashSet::new(),
        followers: Vec::new(),
        said_waiting: false,
    };
    // The files that match at start-up are opened now, before webpeek says it is serving, so
    // their positions ("the end", or the start with --from-start) are fixed at start-up.
    matches.scan(true);
    std::thread::Builder::new()
        .name(format!("glob {}", matches.pattern.pattern.as_str()))
        .spawn(move || {
            while !matches.stop.load(Ordering::Relaxed) {
                watch.wait(matches.options.poll);
                matches.scan(false);
            }
            for f in matches.followers {
                let _ = f.join();
            }
        })
        .map_err(SourceError::Thread)
}

/// The followers of one pattern's matches.
struct Matches {
    pattern: NamePattern,
    options: FollowOptions,
    registry: Registry,
    sink: Sink,
    stop: Arc<AtomicBool>,
    following: HashSet<PathBuf>,
    followers: Vec<std::thread::JoinHandle<()>>,
    said_waiting: bool,
}

impl Matches {
    /// Starts a follower for every match not followed yet.
    fn scan(&mut self, initial: bool) {
        for path in self.pattern.matches() {
            if self.following.contains(&path) {
                continue;
            }
            // A rotated file some follower is still draining: not ours to read.
            let active =
                std::fs::metadata(&path).is_ok_and(|m| self.registry.is_active(file_id(&m)));
            if active {
                continue;
            }
            let started =
                Follower::open(&path, self.options.clone(), self.registry.clone(), initial)
                    .and_then(|f| f.spawn(self.sink.clone(), self.stop.clone()));
            match started {
                Ok(handle) => {
                    tracing::info!("following {}", path.display());
                    self.following.insert(path);
                    self.followers.push(handle);
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
        if self.following.is_empty() && !self.said_waiting {
            tracing::info!(
                "{}/{}: no file matches yet; waiting for one",
                self.pattern.dir.display(),
                self.pattern.pattern.as_str()
            );
            self.said_waiting = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_names_in_one_directory() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "a-access.log",
            "b-access.log",
            "error.log",
            "old-access.log.gz",
        ] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        let p = NamePattern::new(&dir.path().join("*access.log*")).unwrap();
        let names: Vec<_> = p
            .matches()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a-access.log", "b-access.log"]);
        assert!(is_glob(Path::new("/var/log/*.log")));
        assert!(!is_glob(Path::new("/var/log/access.log")));
        assert!(matches!(
            NamePattern::new(Path::new("/var/*/x.log")),
            Err(PatternError::WildDirectory(_))
        ));
        assert!(matches!(
            NamePattern::new(Path::new("/no/such/dir/*.log")),
            Err(PatternError::NoDirectory(_))
        ));
    }
}
