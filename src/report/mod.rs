//! report: batch mode. `webpeek report FILE...` reads whole logs and prints their aggregates.
//!
//! The same parsers as the live mode, on a different footing: files are read in 8 MiB chunks
//! cut at the last newline, every line is parsed where it lies in the buffer (the parsers are
//! zero-copy), and counts go into hash maps looked up by the borrowed `&str`, so the hot path
//! allocates nothing per line. A plain file is cut into one byte range per thread at line
//! starts; each thread counts its ranges and the tallies are merged. A `.gz` file (or `-`,
//! standard input) is one stream, read by one thread.
//!
//! Counts are exact (distinct visitors too): a batch run can afford one map entry per distinct
//! path, referer and address. Browsers and OS are not counted: user-agent parsing costs
//! microseconds per line, more than everything else together.

mod agg;
mod diagnose;
pub(crate) mod hash;
mod read;
mod table;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use crate::hit::Rfc3339;
use crate::hub::panels::{Dimension, WindowSnapshot};
use crate::parse::{LogFormat, Parser};

pub use agg::{CLASSIFIED_AGENTS, PanelContext, Tally, top};
pub use diagnose::UnparsedLine;
pub use read::{CHUNK, line_start_at};

/// `webpeek report [--format F] [--text] [--threads N] [--top N] FILE...`
#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Log files: plain, gzip-compressed (`.gz`, also concatenated members), or `-` for
    /// standard input.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Log format: a name (`webpeek formats`) or an Apache `LogFormat` / nginx `log_format`
    /// string (detected from the first lines if not given).
    #[arg(long, value_name = "FMT")]
    pub format: Option<String>,
    /// Zone of times logged without one: `UTC`, `+02:00`, `-0530`, or `local`.
    #[arg(
        long,
        value_name = "TZ",
        default_value = "UTC",
        allow_hyphen_values = true
    )]
    pub timezone: String,
    /// Print a short table for people instead of JSON.
    #[arg(long)]
    pub text: bool,
    /// Threads reading plain files in parallel (default: the machine's cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Entries in each top list.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// Also list the first N lines that did not parse, each with the field and byte where it
    /// failed (to fix a format string).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub unparsed: usize,
    /// Only say which format each file is detected as, and how many of its first 1,000 lines
    /// each known format reads.
    #[arg(long)]
    pub detect: bool,
    /// `--geoip` and `--asn`, for the countries and networks panels.
    #[command(flatten)]
    pub databases: crate::config::GeoArgs,
    /// Base URL of the site: its own pages are not a referring site.
    #[arg(long, value_name = "URL")]
    pub site: Option<String>,
    /// The server name the panels count the requests under (default: the host name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Take the client address from X-Forwarded-For, when the format logs it (as the live
    /// mode's `--client-from-header`).
    #[arg(long)]
    pub client_from_header: bool,
}

/// Why a report failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Bad command-line input (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// Reading or writing failed (exit code 1).
    #[error("{}: {source}", path.display())]
    Io {
        /// What was being read or written.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
}

impl ReportError {
    /// The process exit code: 2 for bad input, 1 for I/O failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            ReportError::Usage(_) => 2,
            ReportError::Io { .. } => 1,
        }
    }
}

/// Options of a report, checked.
#[derive(Debug, Clone)]
pub struct Options {
    /// Fixed format, or `None` to detect per file.
    pub format: Option<LogFormat>,
    /// Threads for plain files.
    pub threads: usize,
    /// Entries per top list.
    pub top: usize,
    /// Databases for the countries and networks panels.
    pub geo: Option<crate::enrich::Geo>,
    /// Host of the site (`--site`).
    pub own_site: Option<String>,
    /// Server name.
    pub server: String,
    /// Take the client from `X-Forwarded-For` (`--client-from-header`).
    pub client_from_header: bool,
}

/// One input, as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    /// As given on the command line.
    pub path: String,
    /// The format used (given or detected); `null` when no line parsed.
    pub format: Option<String>,
    /// Whether it was read as gzip.
    pub gzip: bool,
    /// Bytes of log text read (after decompression).
    pub size: u64,
}

/// The report, as printed with JSON (field names follow `/api/stats`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Requests parsed.
    pub total: u64,
    /// Lines that matched no format (blank lines are not counted).
    pub unparsed: u64,
    /// Lines over 64 KiB, counted and skipped.
    pub truncated: u64,
    /// Lines read, whatever became of them.
    pub lines: u64,
    /// Response body bytes, summed.
    pub bytes: u64,
    /// Distinct client addresses (exact).
    pub visitors: u64,
    /// Requests by status class.
    pub status: BTreeMap<&'static str, u64>,
    /// Requests by status code.
    pub codes: BTreeMap<u16, u64>,
    /// Requests by method, most first.
    pub methods: Vec<(String, u64)>,
    /// Earliest request time, RFC 3339.
    pub first: Option<String>,
    /// Latest request time, RFC 3339.
    pub last: Option<String>,
    /// Top lists, each `[[key, count], ...]`, most first (ties in key order), exact counts.
    pub top: TopLists,
    /// The inputs.
    pub files: Vec<FileInfo>,
    /// Wall-clock seconds the reading and counting took.
    pub seconds: f64,
    /// The dashboard's panels over the whole input (the "since start" window of `/api/stats`).
    pub panels: WindowSnapshot,
    /// With `--unparsed N`: the first N lines that did not parse, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unparsed_lines: Vec<UnparsedLine>,
}

/// Top lists of the report.
#[derive(Debug, Clone, Serialize)]
pub struct TopLists {
    /// Paths without query string, all requests.
    pub pages: Vec<(String, u64)>,
    /// Referers, requests that have one.
    pub referers: Vec<(String, u64)>,
    /// Client addresses, all requests.
    pub hosts: Vec<(String, u64)>,
}

/// Runs `webpeek report` and prints the result on standard output.
pub fn run(args: ReportArgs) -> Result<(), ReportError> {
    let offset = crate::parse::parse_timezone(&args.timezone).ok_or_else(|| {
        ReportError::Usage(format!(
            "--timezone: '{}' is not UTC, local, or an offset like +02:00",
            args.timezone
        ))
    })?;
    crate::parse::set_zoneless_offset(offset);
    let format = match &args.format {
        Some(arg) => Some(LogFormat::from_arg(arg).map_err(|e| ReportError::Usage(e.to_string()))?),
        None => None,
    };
    let threads = match args.threads {
        Some(0) => {
            return Err(ReportError::Usage(
                "--threads: must be greater than zero".into(),
            ));
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    if args.detect {
        let mut out = String::new();
        for path in &args.files {
            out.push_str(&diagnose::detect(path).map_err(|source| ReportError::Io {
                path: path.clone(),
                source,
            })?);
        }
        return print(&out);
    }
    let geo = args
        .databases
        .open()
        .map_err(|e| ReportError::Usage(e.to_string()))?;
    let options = Options {
        format,
        threads,
        top: args.top,
        geo,
        own_site: args.site.as_deref().and_then(crate::hub::panels::site_host),
        server: args.name.unwrap_or_else(crate::config::host_name),
        client_from_header: args.client_from_header,
    };
    let mut report = summarize(&args.files, &options)?;
    if args.unparsed > 0 && report.unparsed > 0 {
        report.unparsed_lines =
            diagnose::first_unparsed(&args.files, options.format.as_ref(), args.unparsed).map_err(
                |source| ReportError::Io {
                    path: "the logs (again, for --unparsed)".into(),
                    source,
                },
            )?;
    }
    let out = if args.text {
        report.to_text()
    } else {
        let mut s = serde_json::to_string(&report).expect("a report serializes");
        s.push('\n');
        s
    };
    print(&out)
}

/// Writes to standard output; a closed pipe (`| head`) is not a failure.
fn print(out: &str) -> Result<(), ReportError> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        // `webpeek report big.log | head` is not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(source) => Err(ReportError::Io {
            path: "standard output".into(),
            source,
        }),
    }
}

/// An input, opened.
enum Input {
    /// A plain file of `len` bytes, read in ranges.
    Plain { file: File, len: u64 },
    /// A gzip file (`Some`) or standard input: one stream.
    Stream { gzip: Option<File> },
}

/// A piece of work for a thread.
#[derive(Debug, Clone, Copy)]
enum Task {
    /// Bytes `start..end` of plain input `file`.
    Range { file: usize, start: u64, end: u64 },
    /// The whole of stream input `file`.
    Stream { file: usize },
}

/// Reads `files` and aggregates them.
pub fn summarize(files: &[PathBuf], options: &Options) -> Result<Report, ReportError> {
    let started = Instant::now();
    // The user-agent rules take a few hundred milliseconds of CPU to compile: built beside the
    // reading, they are ready when the counts are (the process's rules are shared after that).
    let agents = std::thread::spawn(crate::enrich::AgentClassifier::new);
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    // Open everything first: a missing file is bad input, reported before any work.
    let mut inputs = Vec::with_capacity(files.len());
    for path in files {
        inputs.push(open(path)?);
    }
    let stdin_count = files.iter().filter(|p| is_stdin(p)).count();
    if stdin_count > 1 {
        return Err(ReportError::Usage(
            "'-' (standard input) can be given once".into(),
        ));
    }

    // Formats: given, or detected from the first lines of each plain file, so every range of
    // a file uses the same one whatever the number of threads.
    let mut formats: Vec<Option<LogFormat>> = vec![options.format.clone(); files.len()];
    let mut tasks = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        match input {
            Input::Plain { file, len } => {
                if formats[i].as_ref().is_none_or(LogFormat::has_headers) {
                    formats[i] = detect(file, *len, &files[i], formats[i].clone(), true)
                        .map_err(io_err(&files[i]))?;
                }
                // A W3C file's `#Fields:` may change mid-file: only one reader in order sees
                // every header where it stands.
                let threads = if formats[i].as_ref().is_some_and(LogFormat::has_headers) {
                    1
                } else {
                    options.threads
                };
                let ranges = read::split(file, *len, threads).map_err(io_err(&files[i]))?;
                tasks.extend(ranges.into_iter().map(|(start, end)| Task::Range {
                    file: i,
                    start,
                    end,
                }));
            }
            Input::Stream { .. } => tasks.push(Task::Stream { file: i }),
        }
    }
    // Long tasks first, so that a big gzip file does not start last.
    tasks.sort_by_key(|t| match *t {
        Task::Stream { .. } => 0,
        Task::Range { .. } => 1,
    });

    let next = AtomicUsize::new(0);
    let sizes: Vec<Mutex<u64>> = files.iter().map(|_| Mutex::new(0)).collect();
    let detected: Vec<Mutex<Option<LogFormat>>> =
        formats.iter().map(|f| Mutex::new(f.clone())).collect();
    let workers = options.threads.min(tasks.len()).max(1);
    let work = || -> Result<Tally, ReportError> {
        let mut tally = Tally::default();
        loop {
            let Some(task) = tasks.get(next.fetch_add(1, Ordering::Relaxed)) else {
                return Ok(tally);
            };
            match *task {
                Task::Range { file, start, end } => {
                    let Input::Plain { file: f, .. } = &inputs[file] else {
                        unreachable!("ranges are made for plain files")
                    };
                    let mut parser = Parser::new(formats[file].clone())
                        .client_from_header(options.client_from_header);
                    let n = read::scan_range(f, start, end, &mut parser, &mut tally)
                        .map_err(io_err(&files[file]))?;
                    *sizes[file].lock().expect("no panics") += n;
                    if let Some(fmt) = parser.format() {
                        let mut d = detected[file].lock().expect("no panics");
                        if d.is_none() {
                            *d = Some(fmt.clone());
                        }
                    }
                }
                Task::Stream { file } => {
                    let Input::Stream { gzip } = &inputs[file] else {
                        unreachable!("streams are gzip files or stdin")
                    };
                    let path = &files[file];
                    let mut parser = Parser::new(formats[file].clone())
                        .for_source(&path.display().to_string())
                        .client_from_header(options.client_from_header);
                    let n = match gzip {
                        Some(f) => (&mut &*f).rewind().and_then(|()| {
                            read::scan_stream(
                                flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(
                                    1 << 20,
                                    f,
                                )),
                                &mut parser,
                                &mut tally,
                            )
                        }),
                        None => read::scan_stream(io::stdin().lock(), &mut parser, &mut tally),
                    }
                    .map_err(io_err(path))?;
                    *sizes[file].lock().expect("no panics") += n;
                    *detected[file].lock().expect("no panics") = parser.format().cloned();
                }
            }
        }
    };
    let tallies: Vec<Result<Tally, ReportError>> = if workers == 1 {
        vec![work()]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|_| s.spawn(work)).collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a report thread panicked"))
                .collect()
        })
    };
    let mut tally = Tally::default();
    for t in tallies {
        tally.merge(t?);
    }
    let files = files
        .iter()
        .zip(&inputs)
        .enumerate()
        .map(|(i, (path, input))| FileInfo {
            path: path.display().to_string(),
            format: detected[i]
                .lock()
                .expect("no panics")
                .as_ref()
                .map(|f| f.name().to_string()),
            gzip: matches!(input, Input::Stream { gzip: Some(_) }),
            size: *sizes[i].lock().expect("no panics"),
        })
        .collect();
    let agents = agents
        .join()
        .expect("building the agent rules does not panic")
        .map_err(|e| ReportError::Usage(e.to_string()))?;
    let panels = tally
        .panels(&PanelContext {
            agents: Some(&agents),
            geo: options.geo.as_ref(),
            own_site: options.own_site.as_deref(),
            server: &options.server,
        })
        .snapshot(None);
    // The report counts exactly; the window's visitors are an estimate of the same keys.
    let panels = WindowSnapshot {
        visitors: tally.dims.visitors(),
        ..panels
    };
    Ok(Report::new(
        tally,
        files,
        options.top,
        panels,
        started.elapsed().as_secs_f64(),
    ))
}

/// Counts bytes `start..end` of a plain log file (`start` at a line start) the way `report`
/// does, on `threads` threads: for the live mode's catch-up with what a log already holds.
/// The format is `format`, or detected from the file's first lines; `None` when no line of
/// the head parses (or the format has header lines, which only a reader from the file's
/// start can follow: the live path reads those).
///
/// `file` is the open file (not opened again by path: a rotation meanwhile must not swap it);
/// `client_from_header` as the live parser's (`--client-from-header`).
pub fn count_range(
    (file, path): (&File, &Path),
    (start, end): (u64, u64),
    format: Option<LogFormat>,
    threads: usize,
    client_from_header: bool,
) -> io::Result<Option<(Tally, LogFormat)>> {
    let Some(format) = detect(file, end, path, format, false)? else {
        return Ok(None);
    };
    if format.has_headers() {
        return Ok(None);
    }
    let ranges = read::split_range(file, start, end, threads)?;
    let tallies: Vec<io::Result<Tally>> = std::thread::scope(|s| {
        let handles: Vec<_> = ranges
            .iter()
            .map(|&(a, b)| {
                let format = format.clone();
                s.spawn(move || {
                    let mut parser =
                        Parser::new(Some(format)).client_from_header(client_from_header);
                    let mut tally = Tally::default();
                    read::scan_range(file, a, b, &mut parser, &mut tally)?;
                    Ok(tally)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a counting thread panicked"))
            .collect()
    });
    let mut tally = Tally::default();
    for t in tallies {
        tally.merge(t?);
    }
    Ok(Some((tally, format)))
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Opens an input: a missing or unreadable name is bad input (exit code 2).
fn open(path: &Path) -> Result<Input, ReportError> {
    if is_stdin(path) {
        // Standard input is read as plain text (`zcat x.gz | webpeek report -` for gzip).
        return Ok(Input::Stream { gzip: None });
    }
    let usage = |what: &str| ReportError::Usage(format!("{}: {what}", path.display()));
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(usage("no such file")),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(usage("permission denied"));
        }
        Err(source) => {
            return Err(ReportError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let meta = file.metadata().map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_dir() {
        return Err(usage("is a directory, not a log file"));
    }
    let mut magic = [0u8; 2];
    let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    if gzip {
        Ok(Input::Stream { gzip: Some(file) })
    } else if meta.is_file() {
        Ok(Input::Plain {
            file,
            len: meta.len(),
        })
    } else {
        // A FIFO or a device cannot be cut into ranges (and its first bytes are read).
        Err(usage(
            "is not a regular file (pipe it to 'webpeek report -')",
        ))
    }
}

/// Detects a plain file's format from the lines of its first megabyte (or, for a format with
/// headers, the fields its first `#Fields:` line names).
/// The format of a plain log file: `given`, or detected from its first lines.
pub fn detect_format(
    file: &File,
    len: u64,
    path: &Path,
    given: Option<LogFormat>,
) -> io::Result<Option<LogFormat>> {
    detect(file, len, path, given, false)
}

/// `say`: log the format detected (the report's own detection; the catch-up's follower says
/// it for the live mode).
fn detect(
    file: &File,
    len: u64,
    path: &Path,
    given: Option<LogFormat>,
    say: bool,
) -> io::Result<Option<LogFormat>> {
    let head = crate::source::read_head(file, len.min(1 << 20) as usize)?;
    let fixed = given.is_some();
    let mut parser = Parser::new(given);
    if say {
        parser = parser.for_source(&path.display().to_string());
    }
    for line in head.split(|&b| b == b'\n') {
        let text = String::from_utf8_lossy(line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        if parser.header(text) {
            continue;
        }
        if fixed || parser.parse_raw(text).is_some() {
            break;
        }
    }
    Ok(parser.format().cloned())
}

impl Report {
    fn new(
        tally: Tally,
        files: Vec<FileInfo>,
        n: usize,
        panels: WindowSnapshot,
        seconds: f64,
    ) -> Report {
        let class = |c: usize| tally.codes[c * 100..c * 100 + 100].iter().sum::<u64>();
        let status = BTreeMap::from([
            ("1xx", class(1)),
            ("2xx", class(2)),
            ("3xx", class(3)),
            ("4xx", class(4)),
            ("5xx", class(5)),
        ]);
        let codes = tally
            .codes
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (c as u16, *n))
            .collect();
        let methods = agg::top(tally.methods(), usize::MAX, |k| *k)
            .into_iter()
            .map(|(k, c)| (k.to_owned(), c))
            .collect();
        let owned = |v: Vec<(&str, u64)>| v.into_iter().map(|(k, c)| (k.to_owned(), c)).collect();
        let top = TopLists {
            pages: owned(agg::top(tally.pages.iter(), n, |k| *k)),
            referers: owned(agg::top(tally.referers.iter(), n, |k| *k)),
            hosts: agg::top(tally.hosts(), n, |k| *k)
                .into_iter()
                .map(|(ip, c)| (ip.to_string(), c))
                .collect(),
        };
        let span = tally.span();
        Report {
            total: tally.total,
            unparsed: tally.unparsed,
            truncated: tally.truncated,
            lines: tally.lines,
            bytes: tally.bytes,
            visitors: tally.visitors(),
            status,
            codes,
            methods,
            first: span.map(|(f, _)| Rfc3339(f).to_string()),
            last: span.map(|(_, l)| Rfc3339(l).to_string()),
            top,
            files,
            seconds,
            panels,
            unparsed_lines: Vec::new(),
        }
    }

    /// The short table `--text` prints.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let size: u64 = self.files.iter().map(|f| f.size).sum();
        let _ = writeln!(
            s,
            "{} file(s), {} lines, {:.1} MB in {:.2} s ({:.0} MB/s)",
            self.files.len(),
            group(self.lines),
            size as f64 / 1e6,
            self.seconds,
            size as f64 / 1e6 / self.seconds.max(1e-9)
        );
        let _ = writeln!(
            s,
            "requests  {:>12}   unparsed {}   truncated {}",
            group(self.total),
            group(self.unparsed),
            group(self.truncated)
        );
        let _ = writeln!(
            s,
            "visitors  {:>12}   bytes sent {}",
            group(self.visitors),
            group(self.bytes)
        );
        if let (Some(f), Some(l)) = (&self.first, &self.last) {
            let _ = writeln!(s, "period    {f} .. {l}");
        }
        let _ = write!(s, "status   ");
        for (class, n) in &self.status {
            let _ = write!(s, "  {class} {}", group(*n));
        }
        let _ = write!(s, "\nmethods  ");
        for (m, n) in self.methods.iter().take(8) {
            let _ = write!(s, "  {m} {}", group(*n));
        }
        s.push('\n');
        for (title, list) in [
            ("top pages", &self.top.pages),
            ("top referers", &self.top.referers),
            ("top hosts", &self.top.hosts),
        ] {
            let _ = writeln!(s, "\n{title}");
            for (k, n) in list {
                let _ = writeln!(s, "  {:>12}  {}", group(*n), printable(k));
            }
        }
        let p = &self.panels;
        let _ = writeln!(
            s,
            "\npage views {}   visitors (address + agent) {}",
            group(p.page_views),
            group(p.visitors)
        );
        for d in Dimension::ALL {
            let list = p.list(d);
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(s, "\n{}", d.title());
            for (k, n) in list {
                let _ = writeln!(s, "  {:>12}  {}", group(*n), printable(k));
            }
        }
        if !self.unparsed_lines.is_empty() {
            let _ = writeln!(s, "\nunparsed lines");
            for u in &self.unparsed_lines {
                let _ = writeln!(
                    s,
                    "  {}:{}: {}\n    {}",
                    u.file,
                    u.line,
                    u.reason,
                    printable(&u.text)
                );
            }
        }
        s
    }
}

/// Log text as printable text: control characters would drive the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
    }
}
