//! What a user needs to make webpeek read a log: `report --unparsed N` (the first lines that did
//! not parse, each with the field and byte where it failed) and `report --detect` (how many of
//! the first 1,000 lines each known format reads).

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::Serialize;

use crate::parse::{LogFormat, NAMED_FORMATS, Parser};

/// Lines `--detect` tries each format on.
pub const DETECT_LINES: usize = 1000;

/// A line that did not parse, and why.
#[derive(Debug, Clone, Serialize)]
pub struct UnparsedLine {
    /// The file.
    pub file: String,
    /// Its line number, from 1.
    pub line: u64,
    /// The line (the first 500 bytes of it).
    pub text: String,
    /// Why it did not parse.
    pub reason: String,
}

/// Opens a plain or gzip-compressed file, or standard input for `-`.
fn open(path: &Path) -> io::Result<Box<dyn BufRead>> {
    if path == Path::new("-") {
        return Ok(Box::new(BufReader::new(io::stdin())));
    }
    let file = std::fs::File::open(path)?;
    let gzip = path.extension().is_some_and(|e| e == "gz");
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, reader)))
}

/// Calls `each(number, line)` for every line of `path` (CR and invalid UTF-8 dealt with) until
/// it returns false.
fn for_lines(path: &Path, mut each: impl FnMut(u64, &str) -> bool) -> io::Result<()> {
    let mut reader = open(path)?;
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        number += 1;
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end_matches('\n');
        let text = text.strip_suffix('\r').unwrap_or(text);
        if !each(number, text) {
            return Ok(());
        }
    }
}

/// The first `n` lines of `files` that do not parse, read in order with `format` (or the
/// format each file's first lines show), each with the reason.
pub fn first_unparsed(
    files: &[std::path::PathBuf],
    format: Option<&LogFormat>,
    n: usize,
) -> io::Result<Vec<UnparsedLine>> {
    let mut out = Vec::new();
    for path in files {
        if out.len() >= n {
            break;
        }
        if path == Path::new("-") {
            // Standard input was read once already.
            continue;
        }
        let mut parser = Parser::new(format.cloned());
        for_lines(path, |number, text| {
            if text.trim().is_empty() || parser.header(text) {
                return true;
            }
            if parser.parse_raw(text).is_none() {
                let reason = match parser.format() {
                    Some(f) => format!("{}: {}", f.name(), f.diagnose(text)),
                    None => "no known format reads it (and none has read a line of this file yet): see `webpeek report --detect FILE`".into(),
                };
                let mut shown = text.to_owned();
                if shown.len() > 500 {
                    let mut cut = 500;
                    while !shown.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    shown.truncate(cut);
                }
                out.push(UnparsedLine {
                    file: path.display().to_string(),
                    line: number,
                    text: shown,
                    reason,
                });
            }
            out.len() < n
        })?;
    }
    Ok(out)
}

/// `report --detect`: for one file, the format detection picks and, for each known format,
/// how many of the first [`DETECT_LINES`] request lines (not blank, not headers) it reads.
pub fn detect(path: &Path) -> io::Result<String> {
    let mut lines = Vec::new();
    let mut header_format = None;
    let mut detector = Parser::new(None);
    for_lines(path, |_, text| {
        if text.trim().is_empty() {
            return true;
        }
        if detector.header(text) {
            header_format = detector.format().cloned();
            return true;
        }
        lines.push(text.to_owned());
        lines.len() < DETECT_LINES
    })?;
    let detected = lines.iter().find_map(|l| {
        detector.parse_raw(l)?;
        detector.format().cloned()
    });
    let mut candidates: Vec<(String, LogFormat)> = NAMED_FORMATS
        .iter()
        .filter_map(|(name, _)| Some((name.to_string(), LogFormat::from_name(name)?)))
        .collect();
    if let Some(f) = &header_format {
        candidates.insert(
            0,
            (format!("{} (from the file's header)", f.name()), f.clone()),
        );
    }
    let mut counts: Vec<(String, usize)> = candidates
        .iter()
        .map(|(name, f)| {
            let n = lines.iter().filter(|l| f.parse(l).is_some()).count();
            (name.clone(), n)
        })
        .collect();
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} request lines looked at; detected: {}",
        path.display(),
        lines.len(),
        detected
            .as_ref()
            .map_or("nothing (no known format reads a line)", |f| f.name())
    );
    for (name, n) in counts {
        let _ = writeln!(out, "  {n:>5} / {:<5} {name}", lines.len());
    }
    Ok(out)
}
