//! `webpeek report`: the real binary on real files.
//!
//! (a) exact totals on a small fixed log; gzip gives the same as plain; any number of threads
//! gives the same; the same requests as combined, JSON lines and through a format string give
//! the same; bad lines are counted, not fatal; bad input exits 2 with one line.
//! (b) the same totals as GoAccess on a generated log (`bench/gen_log.py`), when `goaccess` is
//! installed (the test command installs it).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{goaccess, report, webpeek};
use serde_json::Value;

/// The report without what legitimately differs between runs of the same input.
fn comparable(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    o.remove("seconds");
    for f in o.get_mut("files").unwrap().as_array_mut().unwrap() {
        f.as_object_mut().unwrap().remove("path");
        f.as_object_mut().unwrap().remove("gzip");
    }
    v
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

const A: &str = r#"203.0.113.9 - frank [24/Nov/2026:13:08:01 +0000] "GET /docs/index.html?lang=en HTTP/1.1" 200 5120 "https://example.com/" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0""#;

/// A small log whose every count is known.
fn fixed_log() -> String {
    let mut log = String::new();
    // 6 x / (200), 3 x /docs/index.html (200, one with a query), 2 x /missing (404),
    // 1 x POST /api (500), 1 x HEAD / (304, "-" bytes), 1 x IPv6 GET /a"b (escaped quote),
    // 1 x TLS bytes as the request (400), from 4 distinct clients.
    for i in 0..6 {
        log += &format!(
            "198.51.100.{} - - [24/Nov/2026:13:0{i}:00 +0000] \"GET / HTTP/1.1\" 200 100 \"-\" \"curl/8\"\n",
            i % 2 + 1
        );
    }
    log += A;
    log += "\n";
    log += &A.replace("?lang=en", "");
    log += "\r\n"; // CRLF line ending
    log += &A.replace("?lang=en", "?lang=de").replace("+0000", "-0100");
    log += "\n";
    log += "\n   \n"; // blank lines: neither requests nor unparsed
    log += "this is not a log line\n"; // unparsed
    for _ in 0..2 {
        log += r#"198.51.100.1 - - [24/Nov/2026:14:00:00 +0000] "GET /missing HTTP/1.1" 404 10 "https://example.com/docs/" "curl/8""#;
        log += "\n";
    }
    log +=
        r#"198.51.100.2 - - [24/Nov/2026:14:00:01 +0000] "POST /api HTTP/1.1" 500 0 "-" "curl/8""#;
    log += "\n";
    // A 70 KiB line: counted as truncated and skipped.
    log += &format!(
        "198.51.100.2 - - [24/Nov/2026:14:00:02 +0000] \"GET /{} HTTP/1.1\" 200 1 \"-\" \"x\"\n",
        "x".repeat(70 * 1024)
    );
    log += r#"198.51.100.2 - - [24/Nov/2026:14:00:03 +0000] "HEAD / HTTP/1.0" 304 - "-" "curl/8""#;
    log += "\n";
    log += r#"2001:db8::7 - - [24/Nov/2026:14:00:04 +0000] "GET /a\"b HTTP/1.1" 200 7 "-" "agent \"quoted\"""#;
    log += "\n";
    log += "\u{0}\u{0}garbage with NULs\n"; // unparsed
    // The last line has no newline.
    log +=
        r#"198.51.100.1 - - [24/Nov/2026:23:59:59 +0000] "\x16\x03\x01\x00\xF4" 400 157 "-" "-""#;
    log
}

#[test]
fn exact_totals_on_a_fixed_log() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("access.log");
    let mut log = fixed_log().into_bytes();
    // An invalid UTF-8 byte inside a path: decoded lossily, still counted.
    log.extend_from_slice(b"\n198.51.100.1 - - [24/Nov/2026:14:00:05 +0000] \"GET /caf\xe9 HTTP/1.1\" 200 3 \"-\" \"-\"\n");
    std::fs::write(&plain, &log).unwrap();

    let r = report(&[path_str(&plain)]);
    assert_eq!(r["total"], 16, "{r}");
    assert_eq!(r["unparsed"], 2);
    assert_eq!(r["truncated"], 1);
    assert_eq!(r["lines"], 21);
    // 6 x 100, 3 x 5120, 2 x 10, POST 0, HEAD "-", IPv6 7, TLS 157, café 3.
    assert_eq!(r["bytes"], 600 + 3 * 5120 + 20 + 7 + 157 + 3);
    assert_eq!(r["visitors"], 4);
    assert_eq!(
        r["status"],
        serde_json::json!({"1xx": 0, "2xx": 11, "3xx": 1, "4xx": 3, "5xx": 1})
    );
    assert_eq!(
        r["codes"],
        serde_json::json!({"200": 11, "304": 1, "400": 1, "404": 2, "500": 1})
    );
    assert_eq!(
        r["methods"],
        serde_json::json!([["GET", 13], ["-", 1], ["HEAD", 1], ["POST", 1]])
    );
    assert_eq!(r["first"], "2026-11-24T13:00:00Z");
    assert_eq!(r["last"], "2026-11-24T23:59:59Z");
    let pages = &r["top"]["pages"];
    assert_eq!(pages[0], serde_json::json!(["/", 7]));
    assert_eq!(pages[1], serde_json::json!(["/docs/index.html", 3]));
    assert_eq!(pages[2], serde_json::json!(["/missing", 2]));
    // Escapes are resolved in keys, like the live mode's top lists.
    let keys: Vec<&str> = pages
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"/a\"b"), "{keys:?}");
    assert!(keys.contains(&"/caf\u{fffd}"), "{keys:?}");
    assert_eq!(
        r["top"]["referers"],
        serde_json::json!([
            ["https://example.com/", 3],
            ["https://example.com/docs/", 2]
        ])
    );
    assert_eq!(r["top"]["hosts"][0], serde_json::json!(["198.51.100.1", 7]));
    assert_eq!(r["files"][0]["format"], "combined");
    assert_eq!(r["files"][0]["size"], log.len());
    assert!(r["seconds"].as_f64().unwrap() >= 0.0);

    // --top limits the lists.
    let r1 = report(&["--top", "1", path_str(&plain)]);
    assert_eq!(r1["top"]["pages"].as_array().unwrap().len(), 1);

    // --text: a short table, log text as text.
    let out = webpeek(&["report", "--text", path_str(&plain)]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("requests") && text.contains("/docs/index.html"),
        "{text}"
    );
    // The panels, browsers included.
    assert!(
        text.contains("browsers (page views)") && text.contains("Firefox"),
        "{text}"
    );
}

#[test]
fn gzip_gives_the_same_as_plain() {
    let dir = tempfile::tempdir().unwrap();
    let log = fixed_log();
    let plain = dir.path().join("access.log");
    std::fs::write(&plain, &log).unwrap();
    // Two gzip members, as `cat a.gz b.gz` makes (and logrotate with delaycompress may).
    let gz = dir.path().join("access.log.1.gz");
    let (first, second) = log.split_at(log.len() / 3);
    let mut bytes = Vec::new();
    for part in [first, second] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part.as_bytes()).unwrap();
        bytes.extend(e.finish().unwrap());
    }
    std::fs::write(&gz, bytes).unwrap();
    let a = report(&[path_str(&plain)]);
    let b = report(&[path_str(&gz)]);
    assert_eq!(b["files"][0]["gzip"], true);
    assert_eq!(comparable(a.clone()), comparable(b));

    // `-`: standard input, one stream.
    let out = Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .args(["report", "-"])
        .env("WEBPEEK_LOG", "warn")
        .stdin(std::fs::File::open(&plain).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(comparable(a), comparable(c));
}

/// A deterministic log of `n` lines with many paths, clients and a few bad lines.
fn varied_log(n: usize) -> String {
    let mut s = String::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..n {
        let r = next();
        match r % 97 {
            0 => s += "garbage\n",
            1 => s += "\n",
            2 if i % 3 == 0 => {
                s += &format!(
                    "1.2.3.4 - - [24/Nov/2026:13:00:00 +0000] \"GET /{} HTTP/1.1\" 200 1 \"-\" \"-\"\n",
                    "y".repeat(66_000)
                );
            }
            _ => {
                let ip = if r % 11 == 0 {
                    format!("2001:db8::{:x}", (r >> 8) % 300)
                } else {
                    format!("10.0.{}.{}", (r >> 8) % 20, (r >> 16) % 250)
                };
                let status = [200, 200, 200, 304, 404, 500, 301][(r >> 24) as usize % 7];
                let path = format!("/p/{}", ((r >> 32) % 500) * ((r >> 40) % 3));
                s += &format!(
                    "{ip} - - [24/Nov/2026:{:02}:{:02}:00 +0000] \"GET {path}?q={} HTTP/1.1\" {status} {} \"https://r{}.example/\" \"agent {}\"\n",
                    i * 24 / n,
                    i % 60,
                    r % 5,
                    r % 10_000,
                    (r >> 44) % 30,
                    r % 7
                );
            }
        }
    }
    s
}

#[test]
fn any_number_of_threads_gives_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    std::fs::write(&a, varied_log(20_000)).unwrap();
    std::fs::write(&b, varied_log(3_000)).unwrap();
    let gz = dir.path().join("c.log.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(fixed_log().as_bytes()).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();

    let files = [path_str(&a), path_str(&b), path_str(&gz)];
    let one = report(&[&["--threads", "1", "--top", "100000"], &files[..]].concat());
    assert!(one["total"].as_u64().unwrap() > 20_000);
    assert!(one["unparsed"].as_u64().unwrap() > 100);
    assert!(one["truncated"].as_u64().unwrap() > 10);
    let one = comparable(one);
    for threads in ["2", "3", "4", "7"] {
        let many = report(&[&["--threads", threads, "--top", "100000"], &files[..]].concat());
        assert_eq!(one, comparable(many), "--threads {threads}");
    }
}

/// The same requests written as combined, as nginx `escape=json` lines (`gen_log.py --json`)
/// and read through an Apache format string: the same report from every parser.
#[test]
fn every_format_of_the_same_requests_gives_the_same_report() {
    let dir = tempfile::tempdir().unwrap();
    let gen_log = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/gen_log.py");
    let generate = |name: &str, json: bool| {
        let path = dir.path().join(name);
        let mut cmd = Command::new("python3");
        cmd.arg(&gen_log)
            .arg(&path)
            .args(["--lines", "20000", "--seed", "11"]);
        if json {
            cmd.arg("--json");
        }
        assert!(cmd.status().unwrap().success(), "gen_log.py");
        path
    };
    let combined = generate("access.log", false);
    let json = generate("access.json", true);
    let without_files = |v: Value| {
        let mut v = comparable(v);
        v.as_object_mut().unwrap().remove("files");
        v
    };
    let a = report(&["--top", "1000000", path_str(&combined)]);
    assert_eq!(a["total"], 20_000);
    let b = report(&["--top", "1000000", "--format", "json", path_str(&json)]);
    let c = report(&[
        "--top",
        "1000000",
        "--format",
        r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i""#,
        path_str(&combined),
    ]);
    let d = report(&["--top", "1000000", path_str(&json)]); // detected
    let a = without_files(a);
    assert_eq!(a, without_files(b), "json");
    assert_eq!(a, without_files(c), "Apache format string");
    assert_eq!(a, without_files(d), "json, detected");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.log");
    std::fs::write(&ok, A).unwrap();
    let missing = dir.path().join("acces.log");
    for (args, says) in [
        (
            vec!["report", path_str(&ok), path_str(&missing)],
            format!("{}: no such file", missing.display()),
        ),
        (
            vec!["report", "--format", "xml", path_str(&ok)],
            "--format".to_string(),
        ),
        (
            vec!["report", "--threads", "0", path_str(&ok)],
            "--threads".to_string(),
        ),
        (
            vec!["report", path_str(dir.path())],
            "is a directory".to_string(),
        ),
    ] {
        let out = webpeek(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("webpeek: error: ") && err.contains(&says),
            "{args:?}: {err}"
        );
    }
    // No file at all: clap's usage error, also exit 2.
    assert_eq!(webpeek(&["report"]).status.code(), Some(2));
}

#[test]
fn garbage_only_is_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("junk.log");
    let mut junk = vec![0xffu8, 0xfe, b'\n'];
    junk.extend(b"hello\n\x00\x01\x02\n");
    junk.extend(vec![b'z'; 200_000]); // one line of 200 KB without a newline
    std::fs::write(&f, &junk).unwrap();
    for threads in ["1", "2"] {
        let r = report(&["--threads", threads, path_str(&f)]);
        assert_eq!(
            (
                r["total"].as_u64(),
                r["unparsed"].as_u64(),
                r["truncated"].as_u64()
            ),
            (Some(0), Some(3), Some(1))
        );
        assert_eq!(r["first"], Value::Null);
        assert_eq!(r["files"][0]["format"], Value::Null);
    }
}

// ---------------------------------------------------------------------------------------------
// (b) The same totals as GoAccess.

#[test]
fn same_totals_as_goaccess() {
    if !goaccess::on_path("goaccess") {
        eprintln!(
            "same_totals_as_goaccess: SKIPPED, goaccess is not installed (apt-get install goaccess)"
        );
        return;
    }
    assert!(
        goaccess::on_path("python3"),
        "python3 runs bench/gen_log.py"
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let gen_log = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/gen_log.py");
    let st = Command::new("python3")
        .arg(&gen_log)
        .arg(&log)
        .args(["--lines", "20000", "--seed", "7"])
        .status()
        .unwrap();
    assert!(st.success(), "gen_log.py: {st}");
    // Lines neither tool takes: both count them as failed / unparsed (a blank line as neither).
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"garbage here\n\n1.2.3.4 - - [bad time] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n")
        .unwrap();
    drop(f);

    let w = report(&["--top", "1000000", path_str(&log)]);
    let g = goaccess::report(&log, &["--log-format=COMBINED"]);

    // Requests, bytes, status classes and codes, hits per path, methods, hosts, referers.
    goaccess::assert_same_totals(&w, &g);
    assert_eq!(w["unparsed"], 2);

    // Per-page hits: every path, so the top 10 too. (GoAccess URL-decodes paths, `%20` to a
    // space, where webpeek keeps them as logged: gen_log.py writes no `%` escapes.)
    let (g_paths, _) = goaccess::requests(&g);
    let w_pages = goaccess::pairs(&w["top"]["pages"]);
    assert!(
        w_pages.len() > 1000,
        "a varied log: {} paths",
        w_pages.len()
    );
    let top10: Vec<(String, u64)> = {
        let mut v: Vec<_> = g_paths.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(10);
        v
    };
    let w_top10: Vec<(String, u64)> = w["top"]["pages"].as_array().unwrap()[..10]
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_u64().unwrap()))
        .collect();
    assert_eq!(w_top10, top10);
}

/// `--client-from-header`, as in the live mode: the client is X-Forwarded-For's first address.
#[test]
fn report_takes_the_client_from_x_forwarded_for_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("proxied.log");
    let mut text = String::new();
    for (i, xff) in ["203.0.113.9", "203.0.113.10, 10.0.0.2", "203.0.113.9"]
        .iter()
        .enumerate()
    {
        text += &format!(
            "10.0.0.1 - - [24/Nov/2026:13:08:0{i} +0000] \"GET / HTTP/1.1\" 200 10 \"-\" \"curl/8\" \"{xff}\"\n"
        );
    }
    std::fs::write(&log, text).unwrap();
    let fmt = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#;
    let plain = report(&["--format", fmt, path_str(&log)]);
    assert_eq!(
        (plain["total"].as_u64(), plain["visitors"].as_u64()),
        (Some(3), Some(1))
    );
    let from_header = report(&["--format", fmt, "--client-from-header", path_str(&log)]);
    assert_eq!(from_header["visitors"], 2, "{from_header}");
    assert_eq!(
        from_header["top"]["hosts"][0][0], "203.0.113.9",
        "{from_header}"
    );
    // A format that logs X-Forwarded-For in place of the client (Apache's usual one behind a
    // proxy): that is the client, without being asked.
    let apache = dir.path().join("apache.log");
    let lines: String = ["203.0.113.9", "203.0.113.10, 10.0.0.2", "-"]
        .iter()
        .map(|xff| format!("{xff} - - [24/Nov/2026:13:08:00 +0000] \"GET / HTTP/1.1\" 200 10\n"))
        .collect();
    std::fs::write(&apache, lines).unwrap();
    let fmt = r#"%{X-Forwarded-For}i %l %u %t "%r" %>s %b"#;
    let v = report(&["--format", fmt, path_str(&apache)]);
    assert_eq!(
        (v["total"].as_u64(), v["visitors"].as_u64()),
        (Some(3), Some(2)),
        "{v}"
    );
}
