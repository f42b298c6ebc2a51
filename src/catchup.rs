//! catchup: reads what a log already holds at `report` speed before following it.
//!
//! `--from-start` on a big log (or a `--state` restart that finds much unread) would otherwise
//! push every old line through the live pipeline, one hit at a time, at a tenth of the report's
//! speed. Instead the file is cut in two: the head is counted by the report's parallel pass
//! (exact counts, no hits), and those counts seed the hub's stats, history and panels; the tail
//! (the last five minutes of log time, and at least the backlog's lines) is left to the live
//! pipeline, which makes hits of it, fills the backlog and the per-second chart, and then
//! follows the file as usual. A checkpoint at the cut tells the follower where to start.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::hub::Hub;
use crate::hub::panels::RECENT_MINUTES;
use crate::hub::stats::{Seed, TRACKED};
use crate::parse::{LogFormat, Parser};
use crate::report::{PanelContext, Tally};
use crate::source::registry::{FINGERPRINT_BYTES, Fingerprint, file_id};
use crate::source::{Checkpoint, Registry};

/// Less unread than this is left to the live pipeline: the fast path's set-up would not pay.
pub const MIN_BYTES: u64 = 16 << 20;
/// At most this much of the tail goes through the live pipeline (a burst of traffic in the
/// last minutes must not make the catch-up slow; the recent window then starts at the cut).
pub const MAX_TAIL_BYTES: u64 = 64 << 20;
/// How much of the file is read to find one line's time at a cut.
const PROBE_BYTES: usize = 64 * 1024;

/// What a catch-up needs from the run's configuration.
#[derive(Debug, Clone, Copy)]
pub struct CatchUp<'a> {
    /// The format given, or `None` to detect it.
    pub format: Option<&'a LogFormat>,
    /// Read files from their start (`--from-start`); otherwise only files the registry knows
    /// are caught up, from their checkpoint.
    pub from_start: bool,
    /// Lines the tail keeps at least (`--backlog`).
    pub backlog: usize,
    /// Threads for the counting pass.
    pub threads: usize,
    /// Take the client from `X-Forwarded-For` (`--client-from-header`), as the live parser.
    pub client_from_header: bool,
    /// Panels' context: agent rules, databases, the site's host, this server's name.
    pub panels: PanelContext<'a>,
}

/// What one catch-up did, for the log line and the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Files counted by the fast path.
    pub files: usize,
    /// Bytes counted by the fast path (the heads).
    pub bytes: u64,
    /// Requests counted by it.
    pub requests: u64,
}

impl CatchUp<'_> {
    /// Counts the heads of `files` into `hub`'s stats and records where the live pipeline
    /// takes over in `registry`. A file that cannot be read here is left to the follower
    /// (which reports the problem in its own way).
    pub fn run(&self, files: &[PathBuf], registry: &Registry, hub: &Hub) -> Summary {
        let started = Instant::now();
        let mut total = Tally::default();
        let mut summary = Summary::default();
        for path in files {
            match self.head(path, registry) {
                Ok(Some((tally, bytes))) => {
                    summary.files += 1;
                    summary.bytes += bytes;
                    total.merge(tally);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("{}: catching up: {e}", path.display()),
            }
        }
        if summary.files == 0 {
            return summary;
        }
        summary.requests = total.total;
        let now = crate::unix_now();
        let seed = seed_of(&total, &self.panels);
        hub.stats().seed(seed, total.hosts().map(|(ip, _)| ip), now);
        let seconds = started.elapsed().as_secs_f64();
        if total.unparsed > 0 {
            tracing::warn!(
                "{} line(s) of the existing content matched no log format; if the server writes \
                 another format, give it with --format (`webpeek report --unparsed 5 FILE` shows \
                 some, and why)",
                total.unparsed
            );
        }
        tracing::info!(
            "caught up with {} request(s) in {} file(s), {:.0} MB in {seconds:.2} s ({:.0} MB/s); following the rest",
            summary.requests,
            summary.files,
            summary.bytes as f64 / 1e6,
            summary.bytes as f64 / 1e6 / seconds.max(1e-9)
        );
        summary
    }

    /// Counts one file's head; returns its counts and size, after recording the cut.
    fn head(&self, path: &Path, registry: &Registry) -> io::Result<Option<(Tally, u64)>> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Ok(None);
        }
        let id = file_id(&meta);
        let start = match registry.known(id, &file) {
            Some(c) => c.offset,
            // A file rotated while webpeek was down is finished by the follower first: a
            // checkpoint here would make it skip that.
            None if registry.under_path(path).iter().any(|c| c.id() != id) => {
                return Ok(None);
            }
            None if self.from_start => 0,
            None => return Ok(None),
        };
        let len = meta.len();
        if len.saturating_sub(start) < MIN_BYTES {
            return Ok(None);
        }
        let Some(format) = crate::report::detect_format(&file, len, path, self.format.cloned())?
        else {
            return Ok(None);
        };
        if format.has_headers() {
            return Ok(None);
        }
        let cut = tail_start(&file, start, len, &format, self.backlog)?;
        if cut <= start {
            return Ok(None);
        }
        let Some((tally, _)) = crate::report::count_range(
            (&file, path),
            (start, cut),
            Some(format),
            self.threads,
            self.client_from_header,
        )?
        else {
            return Ok(None);
        };
        registry.record(Checkpoint {
            path: path.to_owned(),
            dev: id.0,
            ino: id.1,
            fingerprint: Fingerprint::read(&file, FINGERPRINT_BYTES)?,
            offset: cut,
        });
        Ok(Some((tally, cut - start)))
    }
}

/// The stats' seed from a tally.
fn seed_of(t: &Tally, cx: &PanelContext<'_>) -> Seed {
    let class = |c: usize| t.codes[c * 100..c * 100 + 100].iter().sum::<u64>();
    let owned = |v: Vec<(&str, u64)>| v.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
    Seed {
        total: t.total,
        unparsed: t.unparsed,
        truncated: t.truncated,
        status: [class(1), class(2), class(3), class(4), class(5)],
        pages: owned(crate::report::top(t.pages.iter(), TRACKED, |k| *k)),
        referers: owned(crate::report::top(t.referers.iter(), TRACKED, |k| *k)),
        minutes: t.dims.minutes().collect(),
        panels: t.panels(cx),
    }
}

/// Where the live pipeline takes over in `start..len`: at a line start, so that the tail holds
/// the last [`RECENT_MINUTES`] of log time and at least four times `backlog` lines, but at
/// most [`MAX_TAIL_BYTES`].
pub fn tail_start(
    file: &File,
    start: u64,
    len: u64,
    format: &LogFormat,
    backlog: usize,
) -> io::Result<u64> {
    let floor = len.saturating_sub(MAX_TAIL_BYTES).max(start);
    // Lines, not hits: by default only page views become hits, a fraction of the lines, so
    // the tail holds four times the backlog's lines to fill it on a quiet log too.
    let by_lines = nth_line_from_end(file, floor, len, backlog.saturating_mul(4))?;
    let mut parser = Parser::new(Some(format.clone()));
    let Some(last) = last_time(file, floor, len, &mut parser)? else {
        return line_start_at(file, by_lines.max(floor), len);
    };
    let cutoff = last - RECENT_MINUTES * 60;
    // The first line at or after the cutoff, by bisection over byte offsets (a log is in time
    // order, near enough: a line out of order only moves the cut by a little).
    let (mut lo, mut hi) = (floor, len);
    while hi - lo > PROBE_BYTES as u64 {
        let mid = lo + (hi - lo) / 2;
        match time_after(file, mid, len, &mut parser)? {
            Some(t) if t < cutoff => lo = mid,
            _ => hi = mid,
        }
    }
    line_start_at(file, lo.min(by_lines).max(floor), len)
}

/// The first line start at or after `pos`.
fn line_start_at(file: &File, pos: u64, len: u64) -> io::Result<u64> {
    crate::report::line_start_at(file, pos, len, &mut vec![0u8; PROBE_BYTES])
}

/// The time of the first line that parses after `pos` (within a probe's bytes).
fn time_after(file: &File, pos: u64, len: u64, parser: &mut Parser) -> io::Result<Option<i64>> {
    let mut buf = vec![0u8; PROBE_BYTES.min((len - pos) as usize)];
    let n = file.read_at(&mut buf, pos)?;
    let text = String::from_utf8_lossy(&buf[..n]);
    // Skip the partial line `pos` fell into; the last line may be cut by the probe.
    let mut lines = text.split('\n');
    if pos > 0 {
        lines.next();
    }
    let whole = text
        .matches('\n')
        .count()
        .saturating_sub(usize::from(pos > 0));
    Ok(lines.take(whole).find_map(|l| {
        parser
            .parse_raw(l.strip_suffix('\r').unwrap_or(l))
            .map(|h| h.time)
    }))
}

/// The time of the last line that parses in `floor..len`.
fn last_time(file: &File, floor: u64, len: u64, parser: &mut Parser) -> io::Result<Option<i64>> {
    let from = len.saturating_sub(PROBE_BYTES as u64).max(floor);
    let mut buf = vec![0u8; (len - from) as usize];
    let n = file.read_at(&mut buf, from)?;
    let text = String::from_utf8_lossy(&buf[..n]);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if from > floor {
        lines.remove(0);
    }
    Ok(lines.iter().rev().find_map(|l| {
        parser
            .parse_raw(l.strip_suffix('\r').unwrap_or(l))
            .map(|h| h.time)
    }))
}

/// The start of the `n`th line from the end of `floor..len` (`floor` when there are fewer).
fn nth_line_from_end(file: &File, floor: u64, len: u64, n: usize) -> io::Result<u64> {
    let mut end = len;
    // A final newline ends the last line; it does not start another.
    let mut seen = 0usize;
    let mut skip_last = true;
    let mut buf = vec![0u8; PROBE_BYTES];
    while end > floor {
        let from = end.saturating_sub(PROBE_BYTES as u64).max(floor);
        let got = file.read_at(&mut buf[..(end - from) as usize], from)?;
        for i in (0..got).rev() {
            if buf[i] != b'\n' {
                continue;
            }
            if skip_last && from + i as u64 == len - 1 {
                skip_last = false;
                continue;
            }
            seen += 1;
            if seen == n {
                return Ok(from + i as u64 + 1);
            }
        }
        end = from;
    }
    Ok(floor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn clf(t: i64, path: &str) -> String {
        let (y, m, d) = crate::hit::civil_from_days(t.div_euclid(86_400));
        let s = t.rem_euclid(86_400);
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "203.0.113.9 - - [{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000] \"GET {path} HTTP/1.1\" 200 5 \"-\" \"curl/8\"\n",
            MONTHS[m as usize - 1],
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }

    #[test]
    fn the_tail_holds_the_last_five_minutes_and_the_backlog() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let t0 = 1_800_000_000;
        // An hour, one line a second.
        let lines: Vec<String> = (0..3600).map(|i| clf(t0 + i, &format!("/{i}"))).collect();
        for l in &lines {
            f.write_all(l.as_bytes()).unwrap();
        }
        let file = f.reopen().unwrap();
        let len = file.metadata().unwrap().len();
        let offset_of = |i: usize| lines[..i].iter().map(|l| l.len() as u64).sum::<u64>();
        let cut = tail_start(&file, 0, len, &LogFormat::Combined, 10).unwrap();
        // The cut is a line start, at most a probe before the first line of the last 5 minutes.
        let first_recent = offset_of(3600 - 301);
        assert!(cut <= first_recent, "{cut} > {first_recent}");
        assert!(first_recent - cut <= PROBE_BYTES as u64);
        assert!(
            lines
                .iter()
                .scan(0u64, |at, l| {
                    let s = *at;
                    *at += l.len() as u64;
                    Some(s)
                })
                .any(|s| s == cut)
        );
        // A backlog longer than five minutes of lines moves the cut back (four lines a hit).
        let cut = tail_start(&file, 0, len, &LogFormat::Combined, 250).unwrap();
        assert_eq!(cut, offset_of(2600));
        // From a checkpoint past the cutoff: nothing before it.
        let late = offset_of(3500);
        assert_eq!(
            tail_start(&file, late, len, &LogFormat::Combined, 10).unwrap(),
            late
        );
        assert_eq!(
            nth_line_from_end(&file, 0, len, 1).unwrap(),
            offset_of(3599)
        );
        assert_eq!(nth_line_from_end(&file, 0, len, 5000).unwrap(), 0);
    }
}
