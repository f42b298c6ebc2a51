//! Every file webpeek has read, by identity: where it stands in it, and a fingerprint of its
//! start. Followers consult it so a renamed file is never read twice, and `--state` saves it so a
//! restart continues exactly where the last run stopped.
//!
//! A file is known by device and inode, plus a fingerprint of its first bytes, because inodes
//! are reused: a file with a known inode but another fingerprint is a new file.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// Bytes of a file's start its fingerprint covers (fewer while the file is shorter).
pub const FINGERPRINT_BYTES: usize = 256;

/// Device and inode.
pub type FileId = (u64, u64);

/// The identity of the file behind `meta`.
pub fn file_id(meta: &Metadata) -> FileId {
    (meta.dev(), meta.ino())
}

/// A checksum of a file's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Fingerprint {
    /// How many bytes it covers.
    pub len: u16,
    /// FNV-1a of those bytes.
    pub hash: u64,
}

impl Fingerprint {
    /// The fingerprint of `bytes` (at most [`FINGERPRINT_BYTES`] are used).
    pub fn of(bytes: &[u8]) -> Fingerprint {
        let bytes = &bytes[..bytes.len().min(FINGERPRINT_BYTES)];
        let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        Fingerprint {
            len: bytes.len() as u16,
            hash,
        }
    }

    /// Reads the fingerprint of an open file's first `len` bytes (fewer if it is shorter).
    pub fn read(file: &File, len: usize) -> io::Result<Fingerprint> {
        Ok(Fingerprint::of(&super::read_head(
            file,
            len.min(FINGERPRINT_BYTES),
        )?))
    }

    /// Whether `file` still starts with the bytes this fingerprint was taken of.
    pub fn matches(&self, file: &File) -> bool {
        Fingerprint::read(file, usize::from(self.len)).is_ok_and(|now| now == *self)
    }
}

/// Where webpeek stands in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The followed path it was last seen under.
    pub path: PathBuf,
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Fingerprint of its start.
    pub fingerprint: Fingerprint,
    /// Offset after the last whole line handed on.
    pub offset: u64,
}

impl Checkpoint {
    /// The file's identity.
    pub fn id(&self) -> FileId {
        (self.dev, self.ino)
    }
}

#[derive(Debug, Default)]
struct Entry {
    checkpoint: Option<Checkpoint>,
    /// A follower has this file open right now.
    active: bool,
}

/// The temp file [`Registry::save`] writes before renaming it over `path` (and
/// [`Registry::check_writable`] tries at start).
fn temp_beside(path: &Path) -> PathBuf {
    path.with_extension("tmp")
}

/// The shared table of files. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Registry(Arc<Mutex<HashMap<FileId, Entry>>>);

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The content is not webpeek state.
    #[error("state file {path}: not webpeek state ({source})")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        source: serde_json::Error,
    },
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    files: Vec<Checkpoint>,
}

impl Registry {
    /// Loads checkpoints saved by [`Registry::save`]; a missing file is an empty registry.
    pub fn load(path: &Path) -> Result<Registry, StateError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Registry::default()),
            Err(source) => {
                return Err(StateError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let state: StateFile =
            serde_json::from_str(&text).map_err(|source| StateError::Format {
                path: path.to_owned(),
                source,
            })?;
        let registry = Registry::default();
        for c in state.files {
            registry.record(c);
        }
        Ok(registry)
    }

    /// Checks at start that [`Registry::save`] will be able to write `path`: its temp file can
    /// be made beside it, and `path` is not a directory. Without this a state file in a
    /// directory that does not exist was found out only by a warning every 5 s, and at exit.
    pub fn check_writable(path: &Path) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: path.to_owned(),
            source,
        };
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(io(io::Error::from(io::ErrorKind::IsADirectory)));
        }
        let tmp = temp_beside(path);
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io)?;
        std::fs::remove_file(&tmp).map_err(io)
    }

    /// Writes every checkpoint whose file still exists, atomically (temp file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        self.save_holding_back(path, &HashMap::new)
    }

    /// As [`Registry::save`], but a file's position goes no further than the offset
    /// `undelivered` gives for it (where its first line not delivered yet starts: the NATS
    /// publisher's). `undelivered` is asked after the positions are taken: a line read since
    /// is past them, so nothing between the two is saved as delivered.
    pub fn save_holding_back(
        &self,
        path: &Path,
        undelivered: &dyn Fn() -> HashMap<FileId, u64>,
    ) -> Result<(), StateError> {
        // One save at a time, snapshot and write (the periodic one may meet the final one): two
        // writers of the one temp file could put an older snapshot in place, or a mix of both.
        static SAVING: Mutex<()> = Mutex::new(());
        let _one = SAVING.lock().unwrap_or_else(|e| e.into_inner());
        let mut files: Vec<Checkpoint> = {
            let map = self.0.lock().expect("registry lock");
            map.values().filter_map(|e| e.checkpoint.clone()).collect()
        };
        let undelivered = undelivered();
        for c in &mut files {
            if let Some(&start) = undelivered.get(&c.id()) {
                c.offset = c.offset.min(start);
            }
        }
        // Forget files that are gone: nothing more can be read from them. A file is still
        // there under its path (through a symlink too: `current` → `releases/x/app.log`), or
        // renamed beside it (rotation).
        files.retain(|c| {
            std::fs::metadata(&c.path).is_ok_and(|m| file_id(&m) == c.id())
                || c.path.parent().is_some_and(|dir| {
                    std::fs::read_dir(dir).is_ok_and(|entries| {
                        entries
                            .flatten()
                            .any(|e| e.metadata().is_ok_and(|m| file_id(&m) == c.id()))
                    })
                })
        });
        files.sort_by(|a, b| (&a.path, a.ino).cmp(&(&b.path, b.ino)));
        let text = serde_json::to_string_pretty(&StateFile { version: 1, files })
            .expect("state serializes");
        let io = |source| StateError::Io {
            path: path.to_owned(),
            source,
        };
        let tmp = temp_beside(path);
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp).map_err(io)?;
            file.write_all(text.as_bytes()).map_err(io)?;
            // On disk before the rename, so a power loss leaves the old state or the new one,
            // never an empty file that stops the next start.
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    }

    /// Records where a reader stands.
    pub fn record(&self, checkpoint: Checkpoint) {
        let mut map = self.0.lock().expect("registry lock");
        let id = checkpoint.id();
        map.entry(id).or_default().checkpoint = Some(checkpoint);
    }

    /// The checkpoint of `file` (identity `id`), if it is known and its start is unchanged.
    pub fn known(&self, id: FileId, file: &File) -> Option<Checkpoint> {
        let c = self
            .0
            .lock()
            .expect("registry lock")
            .get(&id)?
            .checkpoint
            .clone()?;
        c.fingerprint.matches(file).then_some(c)
    }

    /// Checkpoints last seen under `path`.
    pub fn under_path(&self, path: &Path) -> Vec<Checkpoint> {
        let map = self.0.lock().expect("registry lock");
        map.values()
            .filter_map(|e| e.checkpoint.clone())
            .filter(|c| c.path == path)
            .collect()
    }

    /// Marks a file as open by a follower; false if another follower has it already.
    pub fn claim(&self, id: FileId) -> bool {
        let mut map = self.0.lock().expect("registry lock");
        let entry = map.entry(id).or_default();
        !std::mem::replace(&mut entry.active, true)
    }

    /// Marks a file as no longer open.
    pub fn release(&self, id: FileId) {
        if let Some(e) = self.0.lock().expect("registry lock").get_mut(&id) {
            e.active = false;
        }
    }

    /// Whether a follower has this file open.
    pub fn is_active(&self, id: FileId) -> bool {
        self.0
            .lock()
            .expect("registry lock")
            .get(&id)
            .is_some_and(|e| e.active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_files_apart() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, b"first line\nsecond\n").unwrap();
        let f = File::open(&p).unwrap();
        let fp = Fingerprint::read(&f, FINGERPRINT_BYTES).unwrap();
        assert_eq!(fp.len, 18);
        assert!(fp.matches(&f));
        std::fs::write(&p, b"other line\nsecond\n").unwrap();
        assert!(!fp.matches(&File::open(&p).unwrap()));
        // A prefix fingerprint still matches a file that grew.
        std::fs::write(&p, b"first line\nsecond\nthird\n").unwrap();
        assert!(fp.matches(&File::open(&p).unwrap()));
    }

    #[test]
    fn state_round_trips_and_forgets_vanished_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        std::fs::write(&log, b"x\n").unwrap();
        let meta = std::fs::metadata(&log).unwrap();
        let f = File::open(&log).unwrap();
        let r = Registry::default();
        let c = Checkpoint {
            path: log.clone(),
            dev: meta.dev(),
            ino: meta.ino(),
            fingerprint: Fingerprint::read(&f, 256).unwrap(),
            offset: 2,
        };
        r.record(c.clone());
        r.record(Checkpoint {
            ino: u64::MAX,
            ..c.clone()
        });
        let state = dir.path().join("state.json");
        r.save(&state).unwrap();
        let loaded = Registry::load(&state).unwrap();
        assert_eq!(loaded.under_path(&log), std::slice::from_ref(&c));
        assert_eq!(loaded.known(c.id(), &f), Some(c));
        assert!(Registry::load(&dir.path().join("none.json")).is_ok());
        std::fs::write(&state, "garbage").unwrap();
        assert!(
            Registry::load(&state)
                .unwrap_err()
                .to_string()
                .contains("not webpeek state")
        );
    }

    #[test]
    fn a_log_behind_a_symlink_keeps_its_checkpoint_and_saves_do_not_mix() {
        let dir = tempfile::tempdir().unwrap();
        let releases = dir.path().join("releases");
        std::fs::create_dir(&releases).unwrap();
        let target = releases.join("app.log");
        std::fs::write(&target, b"x\n").unwrap();
        let link = dir.path().join("current.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let meta = std::fs::metadata(&link).unwrap();
        let f = File::open(&link).unwrap();
        let r = Arc::new(Registry::default());
        let c = Checkpoint {
            path: link.clone(),
            dev: meta.dev(),
            ino: meta.ino(),
            fingerprint: Fingerprint::read(&f, 256).unwrap(),
            offset: 2,
        };
        r.record(c.clone());
        let state = dir.path().join("state.json");
        // Saves at once from several threads (the periodic one and the final one) each leave
        // a whole state file.
        let savers: Vec<_> = (0..8)
            .map(|_| {
                let (r, state) = (r.clone(), state.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        r.save(&state).unwrap();
                    }
                })
            })
            .collect();
        for s in savers {
            s.join().unwrap();
        }
        let loaded = Registry::load(&state).unwrap();
        assert_eq!(loaded.under_path(&link), std::slice::from_ref(&c));
    }

    #[test]
    fn claims_are_exclusive() {
        let r = Registry::default();
        assert!(r.claim((1, 2)));
        assert!(!r.claim((1, 2)));
        assert!(r.is_active((1, 2)));
        r.release((1, 2));
        assert!(r.claim((1, 2)));
    }
}
