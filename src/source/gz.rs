//! Reads a gzip-compressed rotated log (`access.log.2.gz`) once, start to end: it is never
//! written again, so there is nothing to follow.

use std::fs::File;
use std::path::Path;
use std::thread::JoinHandle;

use super::{Sink, SourceError, source_name, spawn_stream};

/// Reads `path` through gzip on its own thread, sending its lines, then ends.
pub fn spawn(path: &Path, sink: Sink) -> Result<JoinHandle<()>, SourceError> {
    let file = File::open(path).map_err(|source| SourceError::Open {
        path: path.to_owned(),
        source,
    })?;
    let reader = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file));
    spawn_stream(source_name(path), reader, sink)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn reads_every_line_of_a_gzip_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("access.log.2.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&p).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(b"one\ntwo\nthree").unwrap();
        enc.finish().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        super::spawn(&p, std::sync::Arc::new(tx))
            .unwrap()
            .join()
            .unwrap();
        let mut got = Vec::new();
        while let Ok(batch) = rx.try_recv() {
            got.extend(batch.into_iter().map(|l| l.text));
        }
        assert_eq!(got, ["one", "two", "three"]);
    }
}
