//! Splits the bytes a source reads into whole lines, holding back an unfinished last line.

use std::sync::Arc;

use crate::hit::Line;

/// Longest line kept whole; longer ones are cut here and counted (DESIGN.md: 64 KiB).
pub const MAX_LINE: usize = 64 * 1024;

/// Turns chunks of bytes, in any chunking, into [`Line`]s.
#[derive(Debug)]
pub struct LineSplitter {
    source: Arc<str>,
    /// The file read, by device and inode, for the lines' [`Line::file`].
    file: Option<(u64, u64)>,
    partial: Vec<u8>,
    partial_offset: u64,
    /// The current line was cut; drop bytes until its newline.
    skipping: bool,
    max: usize,
}

impl LineSplitter {
    /// A splitter whose lines say they come from `source`.
    pub fn new(source: Arc<str>) -> Self {
        Self::with_max(source, MAX_LINE)
    }

    /// A splitter cutting lines at `max` bytes.
    pub fn with_max(source: Arc<str>, max: usize) -> Self {
        LineSplitter {
            source,
            file: None,
            partial: Vec::new(),
            partial_offset: 0,
            skipping: false,
            max,
        }
    }

    /// Lines say they were read from `file` (device and inode).
    pub fn in_file(mut self, file: (u64, u64)) -> Self {
        self.file = Some(file);
        self
    }

    /// The source name lines carry.
    pub fn source(&self) -> &Arc<str> {
        &self.source
    }

    /// Bytes held back because their line has no newline yet.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Feeds `chunk`, which starts at byte `offset` of the source; whole lines go to `out`.
    pub fn push(&mut self, chunk: &[u8], offset: u64, out: &mut Vec<Line>) {
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', chunk) {
            let piece = &chunk[start..nl];
            if self.skipping {
                self.skipping = false;
            } else if self.partial.is_empty() {
                self.emit(piece, offset + start as u64, out);
            } else {
                self.take_partial(piece);
                let line = std::mem::take(&mut self.partial);
                self.emit(&line, self.partial_offset, out);
            }
            start = nl + 1;
        }
        let rest = &chunk[start..];
        if rest.is_empty() || self.skipping {
            return;
        }
        if self.partial.is_empty() {
            self.partial_offset = offset + start as u64;
        }
        self.take_partial(rest);
        if self.partial.len() > self.max {
            // Cut now rather than buffer without bound; the rest of the line is dropped.
            let line = std::mem::take(&mut self.partial);
            self.emit(&line, self.partial_offset, out);
            self.skipping = true;
        }
    }

    fn take_partial(&mut self, piece: &[u8]) {
        let room = self.max.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&piece[..piece.len().min(room)]);
        if piece.len() > room {
            // Remember the overflow by pushing one byte past the limit; emit() cuts it.
            self.partial.push(b' ');
        }
    }

    /// Emits the unfinished last line, if any (the file was rotated away or the stream ended).
    pub fn flush(&mut self, out: &mut Vec<Line>) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit(&line, self.partial_offset, out);
        }
        self.skipping = false;
    }

    /// Forgets the unfinished line (the file was truncated under us).
    pub fn reset(&mut self) {
        self.partial.clear();
        self.skipping = false;
    }

    fn emit(&self, bytes: &[u8], offset: u64, out: &mut Vec<Line>) {
        let truncated = bytes.len() > self.max;
        let mut bytes = &bytes[..bytes.len().min(self.max)];
        if let [rest @ .., b'\r'] = bytes {
            bytes = rest;
        }
        out.push(Line {
            text: String::from_utf8_lossy(bytes).into_owned(),
            source: self.source.clone(),
            offset,
            file: self.file,
            truncated,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(out: &[Line]) -> Vec<&str> {
        out.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn any_chunking_gives_the_same_lines() {
        let data = b"first line\nsecond\r\n\nfourth is longer than the rest\nlast";
        for size in 1..data.len() {
            let mut s = LineSplitter::new("t".into());
            let mut out = Vec::new();
            for (i, chunk) in data.chunks(size).enumerate() {
                s.push(chunk, (i * size) as u64, &mut out);
            }
            assert_eq!(
                texts(&out),
                ["first line", "second", "", "fourth is longer than the rest"]
            );
            assert_eq!(
                out.iter().map(|l| l.offset).collect::<Vec<_>>(),
                [0, 11, 19, 20],
                "chunk size {size}"
            );
            assert_eq!(s.pending(), 4);
            s.flush(&mut out);
            assert_eq!(out.last().unwrap().text, "last");
            assert_eq!(out.last().unwrap().offset, 51);
        }
    }

    #[test]
    fn long_lines_are_cut_and_marked() {
        let mut s = LineSplitter::with_max("t".into(), 8);
        let mut out = Vec::new();
        s.push(b"0123456789abcdef\nok\n", 0, &mut out);
        s.push(b"0123", 20, &mut out);
        s.push(b"4567", 24, &mut out);
        s.push(b"89\nnext\n", 28, &mut out);
        assert_eq!(texts(&out), ["01234567", "ok", "01234567", "next"]);
        assert_eq!(
            out.iter().map(|l| l.truncated).collect::<Vec<_>>(),
            [true, false, true, false]
        );
        // A line of exactly the limit is not cut.
        s.push(b"01234567\n", 40, &mut out);
        assert!(!out.last().unwrap().truncated);
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        let mut s = LineSplitter::new("t".into());
        let mut out = Vec::new();
        s.push(b"caf\xe9 \xff\x00x\n", 0, &mut out);
        assert_eq!(out[0].text, "caf\u{fffd} \u{fffd}\u{0}x");
    }
}
