//! End to end: a real webpeek process, a real log file, real WebSocket and HTTP clients.

mod common;

use std::time::{Duration, Instant};

use common::{Server, append, assert_no_hits, collect_hits, line, next_json, send_json};
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite;

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn appended_line_arrives_with_its_fields() {
    let s = Server::start(&[]);
    let mut ws = s.viewer().await;
    s.append(
        "203.0.113.9 - - [24/Nov/2026:13:08:01 +0100] \"GET /docs/index.html?lang=en HTTP/1.1\" 200 5120 \
         \"https://example.com/\" \"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\"\n",
    );
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    let h = &hits[0];
    assert_eq!(h["seq"], 1);
    assert_eq!(h["time"], "2026-11-24T12:08:01Z");
    assert_eq!(h["ip"], "203.0.113.9");
    assert_eq!(h["method"], "GET");
    assert_eq!(h["path"], "/docs/index.html");
    assert_eq!(h["query"], "lang=en");
    assert_eq!(h["protocol"], "HTTP/1.1");
    assert_eq!(h["status"], 200);
    assert_eq!(h["bytes"], 5120);
    assert_eq!(h["referer"], "https://example.com/");
    assert_eq!(h["browser"], "Firefox");
    assert_eq!(h["os"], "Linux");
    assert_eq!(h["bot"], false);
    assert_eq!(h["source"], "access.log");
    assert_eq!(h["host"], serde_json::Value::Null);
    assert_eq!(h["url"], serde_json::Value::Null);
}

#[tokio::test]
async fn site_makes_full_urls() {
    let s = Server::start(&["--site", "https://example.com/"]);
    let mut ws = s.viewer().await;
    s.append(line("203.0.113.9", "/a/b.html?x=1"));
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    assert_eq!(hits[0]["url"], "https://example.com/a/b.html?x=1");
    // A target that is not a path (`GET .evil.net/`, `GET @evil.net/`) makes no link: glued to
    // the site it would be another host that looks like the site's own.
    let s = Server::start(&["--site", "https://example.com/", "--all"]);
    let mut ws = s.viewer().await;
    s.append(line("203.0.113.9", ".evil.net/"));
    s.append(line("203.0.113.9", "@evil.net/x"));
    let (hits, _) = collect_hits(&mut ws, 2, 5 * SECOND).await;
    for h in &hits {
        assert_eq!(h["url"], serde_json::Value::Null, "{h}");
    }
}

#[tokio::test]
async fn quiet_hits_go_alone_and_bursts_together() {
    let s = Server::start(&[]);
    let mut ws = s.viewer().await;
    s.append(line("203.0.113.1", "/alone"));
    let (hits, frames) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    assert_eq!((hits.len(), frames), (1, 1));
    // 2,000 lines in one write: far fewer frames than hits, all in order, none lost.
    let burst: String = (0..2000)
        .map(|i| line("203.0.113.2", &format!("/p{i}")))
        .collect();
    s.append(burst);
    let (hits, frames) = collect_hits(&mut ws, 2000, 10 * SECOND).await;
    assert!(frames <= 20, "{frames} frames for 2000 hits");
    for (i, h) in hits.iter().enumerate() {
        assert_eq!(h["path"], format!("/p{i}"));
        assert_eq!(h["seq"], i as u64 + 2);
    }
}

#[tokio::test]
async fn new_viewer_gets_the_backlog_then_live_hits() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let old: String = (1..=5)
        .map(|i| line("203.0.113.5", &format!("/old{i}")))
        .collect();
    append(&log, old);
    let s = Server::start_on(dir, log, &["--from-start", "--backlog", "3"]);
    // Wait until the existing lines are read.
    let deadline = Instant::now() + 5 * SECOND;
    while s.stats()["total"] != 5 {
        assert!(Instant::now() < deadline, "existing lines not read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ws = s.viewer().await;
    let (hits, _) = collect_hits(&mut ws, 3, 5 * SECOND).await;
    let paths: Vec<_> = hits.iter().map(|h| h["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/old3", "/old4", "/old5"]);
    s.append(line("203.0.113.5", "/new"));
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    assert_eq!(hits[0]["path"], "/new");
    assert_eq!(hits[0]["seq"], 6);

    // A reconnecting viewer resumes after the last hit it saw.
    let origin = format!("http://{}", s.addr);
    let mut again = s.ws_with("/ws", &[("origin", &origin)]).await.unwrap();
    assert_eq!(next_json(&mut again).await["seq"], 6);
    send_json(&mut again, json!({"type": "resume", "after": 4})).await;
    let (hits, _) = collect_hits(&mut again, 2, 5 * SECOND).await;
    assert_eq!(hits[0]["path"], "/old5");
    assert_eq!(hits[1]["path"], "/new");
}

#[tokio::test]
async fn resume_from_before_the_backlog_reports_missed_hits() {
    let s = Server::start(&["--backlog", "2"]);
    let mut ws = s.viewer().await;
    s.append(
        (1..=6)
            .map(|i| line("203.0.113.6", &format!("/r{i}")))
            .collect::<String>(),
    );
    collect_hits(&mut ws, 6, 5 * SECOND).await;
    let origin = format!("http://{}", s.addr);
    let mut again = s.ws_with("/ws", &[("origin", &origin)]).await.unwrap();
    next_json(&mut again).await;
    assert_eq!(next_json(&mut again).await["type"], "history");
    send_json(&mut again, json!({"type": "resume", "after": 1})).await;
    let lagged = next_json(&mut again).await;
    assert_eq!(lagged, json!({"type": "lagged", "missed": 3}));
    let (hits, _) = collect_hits(&mut again, 2, 5 * SECOND).await;
    assert_eq!(hits[0]["seq"], 5);

    // `after: 0` (the dashboard, having seen nothing) gets the backlog at once, nothing missed.
    let mut fresh = s.ws_with("/ws", &[("origin", &origin)]).await.unwrap();
    next_json(&mut fresh).await;
    assert_eq!(next_json(&mut fresh).await["type"], "history");
    send_json(&mut fresh, json!({"type": "resume", "after": 0})).await;
    let first = next_json(&mut fresh).await;
    assert_eq!(first["type"], "hits", "{first}");
    assert_eq!(first["hits"][0]["seq"], 5);

    // A number of another run (`boot` not this hub's: another hub behind the balancer, or this
    // one before a restart) is not taken for one of this run's: the backlog, nothing missed.
    let mut moved = s.ws_with("/ws", &[("origin", &origin)]).await.unwrap();
    let hello = next_json(&mut moved).await;
    let boot = hello["boot"].as_str().unwrap().to_string();
    assert_eq!(boot.len(), 16, "{hello}");
    assert_eq!(next_json(&mut moved).await["type"], "history");
    send_json(
        &mut moved,
        json!({"type": "resume", "after": 1, "boot": "0123456789abcdef"}),
    )
    .await;
    let first = next_json(&mut moved).await;
    assert_eq!(first["type"], "hits", "{first}");
    assert_eq!(first["hits"][0]["seq"], 5);
    // The same run's `boot` resumes as before.
    let mut same = s.ws_with("/ws", &[("origin", &origin)]).await.unwrap();
    next_json(&mut same).await;
    next_json(&mut same).await;
    send_json(
        &mut same,
        json!({"type": "resume", "after": 5, "boot": boot}),
    )
    .await;
    let first = next_json(&mut same).await;
    assert_eq!(first["hits"][0]["seq"], 6, "{first}");
}

#[tokio::test]
async fn a_viewer_that_never_reads_does_not_delay_another() {
    const BURSTS: u64 = 400;
    const PER_BURST: u64 = 250;
    const TOTAL: u64 = BURSTS * PER_BURST;
    let s = Server::start(&["--all", "--viewer-queue", "128"]);
    let mut stalled = s.viewer().await;
    let mut reader = s.viewer().await;
    // 100,000 hits in up to 400 frames (~35 MB): far more than the socket buffers (a few MB) and
    // the stalled viewer's 128-frame queue hold. The reader has 128 frames (~2 s) of slack, so
    // a busy machine does not make it lag.
    let start = Instant::now();
    let writer_log = s.log.clone();
    let writer = std::thread::spawn(move || {
        for b in 0..BURSTS {
            let burst: String = (0..PER_BURST)
                .map(|i| line("203.0.113.7", &format!("/b{b}/{i}")))
                .collect();
            append(&writer_log, burst);
            std::thread::sleep(Duration::from_millis(15));
        }
    });
    // Within 25 s: after 30 s of a full socket webpeek drops the stalled viewer, and the rest of
    // the test would fail for that instead.
    let (hits, frames) = collect_hits(&mut reader, TOTAL as usize, 25 * SECOND).await;
    writer.join().unwrap();
    let took = start.elapsed();
    for (i, h) in hits.iter().enumerate() {
        assert_eq!(h["seq"], i as u64 + 1, "reader lost or reordered hits");
    }
    eprintln!("reader got {TOTAL} hits in {took:?} while another viewer read nothing");

    // The stalled viewer, reading at last, is told how many hits it missed; what it does get
    // is in order, and received + missed accounts for every hit.
    let (mut last, mut missed, mut received, mut lagged_frames) = (0u64, 0u64, 0u64, 0);
    while last < TOTAL {
        let v = next_json(&mut stalled).await;
        match v["type"].as_str().unwrap() {
            "lagged" => {
                let n = v["missed"].as_u64().unwrap();
                missed += n;
                last += n;
                lagged_frames += 1;
            }
            "hits" => {
                for h in v["hits"].as_array().unwrap() {
                    assert_eq!(
                        h["seq"].as_u64().unwrap(),
                        last + 1,
                        "a gap was not announced"
                    );
                    last += 1;
                    received += 1;
                }
            }
            _ => {}
        }
    }
    assert_eq!(received + missed, TOTAL);
    // It lags once the frames outnumber its queue and what its socket holds (~10 MB: a few
    // dozen frames). A loaded machine reads bigger batches, so fewer (at most 1,000 hits)
    // frames: 100 at the least, which the queue and the socket may hold all of.
    if frames > 128 + 64 {
        assert!(
            lagged_frames >= 1 && missed > 0,
            "the stalled viewer was never told it lagged ({frames} frames)"
        );
    } else if missed == 0 {
        eprintln!("only {frames} frames: they fitted in the stalled viewer's queue and socket");
    }
    eprintln!(
        "stalled viewer: {received} hits received, {missed} missed, in {lagged_frames} lagged messages"
    );
}

#[tokio::test]
async fn foreign_origin_is_refused() {
    let s = Server::start(&[]);
    for path in ["/ws", "/countdown/ws", "/echo/ws"] {
        let err = s
            .ws_with(path, &[("origin", "http://evil.example")])
            .await
            .unwrap_err();
        match err {
            tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 403, "{path}"),
            e => panic!("{path}: expected 403, got {e}"),
        }
    }
    // Our own origin and --allow-origin pass.
    assert!(
        s.ws_with("/ws", &[("origin", &format!("http://{}", s.addr))])
            .await
            .is_ok()
    );
    let s = Server::start(&["--allow-origin", "https://admin.example.com"]);
    assert!(
        s.ws_with("/ws", &[("origin", "https://admin.example.com")])
            .await
            .is_ok()
    );
    // A page reaching us through another host name (DNS rebinding) is refused.
    let (status, _) = s.get("/api/stats", &[]);
    assert_eq!(status, 200);
    let mut raw = std::net::TcpStream::connect(s.addr).unwrap();
    use std::io::{Read, Write};
    write!(
        raw,
        "GET /api/stats HTTP/1.1\r\nHost: evil.example:8083\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    raw.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
}

#[tokio::test]
async fn countdown_ends_in_boom_and_close() {
    let s = Server::start(&[]);
    let mut ws = s.ws_with("/countdown/ws", &[]).await.unwrap();
    let mut got = Vec::new();
    let start = Instant::now();
    loop {
        match tokio::time::timeout(15 * SECOND, ws.next())
            .await
            .expect("countdown stalled")
        {
            Some(Ok(tungstenite::Message::Text(t))) => got.push(t.to_string()),
            Some(Ok(tungstenite::Message::Close(_))) | None => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("{e}"),
        }
    }
    let expected: Vec<String> = (0..=10)
        .rev()
        .map(|n| n.to_string())
        .chain(["BOOM!".to_string()])
        .collect();
    assert_eq!(got, expected);
    // Eleven random pauses under a second each.
    assert!(start.elapsed() < 11 * SECOND);
}

#[tokio::test]
async fn echo_sends_back() {
    let s = Server::start(&[]);
    let mut ws = s.ws_with("/echo/ws", &[]).await.unwrap();
    use futures_util::SinkExt;
    ws.send(tungstenite::Message::Text("can my browser do it?".into()))
        .await
        .unwrap();
    match tokio::time::timeout(5 * SECOND, ws.next()).await.unwrap() {
        Some(Ok(tungstenite::Message::Text(t))) => assert_eq!(t.as_str(), "can my browser do it?"),
        other => panic!("{other:?}"),
    }
    let (status, body) = s.get("/echo", &[]);
    assert_eq!(status, 200);
    assert!(body.contains("WebSocket"));
}

#[tokio::test]
async fn default_filter_shows_page_views_only() {
    let s = Server::start(&["--exclude-ip", "198.51.100.0/24"]);
    let mut ws = s.viewer().await;
    s.append(line("203.0.113.1", "/style.css"));
    s.append(line("127.0.0.1", "/mine.html")); // the viewer's own address
    s.append(line("198.51.100.77", "/excluded.html"));
    s.append(line("203.0.113.1", "/shown.html"));
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    assert_eq!(hits[0]["path"], "/shown.html");
    assert_no_hits(&mut ws, SECOND).await;
    let stats = s.stats();
    assert_eq!(
        (stats["total"].as_u64(), stats["shown"].as_u64()),
        (Some(4), Some(1))
    );
}

#[tokio::test]
async fn all_shows_every_request() {
    let s = Server::start(&["--all"]);
    let mut ws = s.viewer().await;
    s.append(line("203.0.113.1", "/style.css"));
    s.append(line("127.0.0.1", "/mine.html"));
    let (hits, _) = collect_hits(&mut ws, 2, 5 * SECOND).await;
    assert_eq!(hits[0]["path"], "/style.css");
    assert_eq!(hits[1]["path"], "/mine.html");
}

#[tokio::test]
async fn bad_lines_are_counted_and_nothing_else_is_lost() {
    let s = Server::start(&[]);
    let mut ws = s.viewer().await;
    s.append("this is not a log line\n");
    s.append(b"203.0.113.1 - - [25/Nov/2026:10:00:00 +0000] \"GET /caf\xe9.html HTTP/1.1\" 200 1 \"-\" \"-\"\n");
    s.append(format!("{}\n", "y".repeat(70 * 1024)));
    s.append(line("203.0.113.1", "/<script>alert(1)</script>.html"));
    s.append(line("203.0.113.1", "/after.html"));
    let (hits, _) = collect_hits(&mut ws, 3, 5 * SECOND).await;
    assert_eq!(hits[0]["path"], "/caf\u{fffd}.html");
    assert_eq!(hits[1]["path"], "/<script>alert(1)</script>.html");
    assert_eq!(hits[2]["path"], "/after.html");
    let stats = s.stats();
    assert_eq!(stats["unparsed"], 2, "{stats}");
    assert_eq!(stats["truncated"], 1, "{stats}");
    let (status, metrics) = s.get("/metrics", &[]);
    assert_eq!(status, 200);
    assert!(metrics.contains("webpeek_unparsed_total 2"), "{metrics}");
}

#[tokio::test]
async fn mv_then_recreate_rotation_is_followed() {
    let s = Server::start(&[]);
    let mut ws = s.viewer().await;
    s.append(line("203.0.113.1", "/before.html"));
    collect_hits(&mut ws, 1, 5 * SECOND).await;
    std::fs::rename(&s.log, s.dir.path().join("access.log.1")).unwrap();
    append(
        &s.dir.path().join("access.log.1"),
        line("203.0.113.1", "/late-in-old.html"),
    );
    s.append(line("203.0.113.1", "/in-new.html"));
    let (hits, _) = collect_hits(&mut ws, 2, 5 * SECOND).await;
    let mut paths: Vec<_> = hits
        .iter()
        .map(|h| h["path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, ["/in-new.html", "/late-in-old.html"]);
}

#[test]
fn missing_log_file_is_one_clear_line_and_exit_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .args(["--listen", "127.0.0.1:0", "/nonexistent/access.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.trim()
            .starts_with("webpeek: error: /nonexistent/access.log: no such log file"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .args(["-", "--exclude-ip", "10.0.0.300"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--exclude-ip"));
}

/// A `--backlog` or `--viewer-queue` too large to allocate is one line and exit 2, not an abort
/// with a backtrace.
#[test]
fn huge_backlog_and_viewer_queue_are_one_line_and_exit_2() {
    for (option, value) in [
        ("--backlog", "100000000000"),
        ("--viewer-queue", "100000000000"),
    ] {
        assert_refused(
            &[env!("CARGO_BIN_EXE_webpeek")],
            &["--listen", "127.0.0.1:0", option, value, "-"],
            &format!("{option}: at most 1000000"),
        );
    }
}

/// A number of seconds too large for a `Duration` is one line and exit 2, not a panic.
#[test]
fn huge_numbers_of_seconds_are_one_line_and_exit_2() {
    for (command, option) in [
        (&[][..], "--poll-interval"),
        (&[][..], "--preview-every"),
        (
            &["publish", "--nats", "nats://127.0.0.1:1"][..],
            "--poll-interval",
        ),
    ] {
        let listen: &[&str] = if command.is_empty() {
            &["--listen", "127.0.0.1:0"]
        } else {
            &[]
        };
        assert_refused(
            &[env!("CARGO_BIN_EXE_webpeek")],
            &[command, listen, &[option, "1e300", "-"]].concat(),
            &format!("{option}: at most 86400 seconds"),
        );
    }
}

/// What clap refuses is one line in webpeek's form too, naming the option; help is not an error.
#[test]
fn unknown_options_and_unreadable_values_are_one_line_and_exit_2() {
    for (args, names) in [
        (&["--listen", "nowhere", "-"][..], "--listen"),
        (&["--lsiten", "127.0.0.1:0", "-"][..], "--lsiten"),
        (&["--max-viewers", "lots", "-"][..], "--max-viewers"),
        (&["report", "--top", "-3", "x.log"][..], "-3"),
        // The subcommand whose --help lists the option, also when clap gives no usage line.
        (
            &["publish", "--metrics-listen", "x", "-"][..],
            "'webpeek publish --help'",
        ),
        (
            &["report", "--threads", "many", "x.log"][..],
            "'webpeek report --help'",
        ),
    ] {
        assert_refused(&[env!("CARGO_BIN_EXE_webpeek")], args, names);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--listen"));
}

/// `--help` lists each option under the heading it belongs to (the dashboard's options were
/// under "Many servers over NATS"), `--listen` with the README's `ADDR`.
#[test]
fn help_lists_each_option_under_its_heading() {
    for command in [&["--help"][..], &["demo", "--help"][..]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_webpeek"))
            .args(command)
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let help = String::from_utf8_lossy(&out.stdout);
        // Each `--option` that starts a line, with the heading above it.
        let mut heading = "";
        let mut under = std::collections::HashMap::new();
        for line in help.lines() {
            if !line.starts_with(' ') && line.ends_with(':') {
                heading = line.trim_end_matches(':');
            } else if let Some(option) = line.trim_start().strip_prefix("--") {
                let name = option.split([' ', '=']).next().unwrap();
                under.insert(format!("--{name}"), heading);
            }
        }
        for (option, expected) in [
            ("--listen", "The dashboard, and who may see it"),
            ("--token-file", "The dashboard, and who may see it"),
            ("--tls-cert", "The dashboard, and who may see it"),
            ("--base-path", "The dashboard, and who may see it"),
            ("--format", "Logs, and what to show of them"),
            ("--nats", "Many servers over NATS"),
        ] {
            assert_eq!(
                under.get(option),
                Some(&expected),
                "{command:?}: {option}\n{help}"
            );
        }
        assert!(help.contains("--listen <ADDR>"), "{help}");
    }
}

/// A log that cannot be read (mode 0600, another user's; a directory) is one line and exit 2
/// before serving, not a warning and exit 1 once started.
#[test]
fn a_log_that_cannot_be_read_is_one_line_and_exit_2() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, line("203.0.113.5", "/")).unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600)).unwrap();
    let bin = env!("CARGO_BIN_EXE_webpeek");
    let log_arg = log.to_str().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    // A readable log in a directory the user may not enter (Debian's /var/log/apache2 is
    // root:adm 0750): not "no such log file".
    let private = dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    let hidden_log = private.join("access.log");
    std::fs::write(&hidden_log, line("203.0.113.5", "/")).unwrap();
    let hidden_arg = hidden_log.to_str().unwrap();
    let hidden_pattern = private.join("*.log");
    let hidden_pattern = hidden_pattern.to_str().unwrap();
    // As root, the file is nobody's and root may not override its mode: setpriv (util-linux)
    // takes the capabilities that would let it away.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    let drop_caps = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"];
    let unreadable: Vec<&str> = if root {
        std::os::unix::fs::chown(&log, Some(65534), None).unwrap();
        std::os::unix::fs::chown(&private, Some(65534), None).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        [&drop_caps[..], &[bin]].concat()
    } else {
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o000)).unwrap();
        vec![bin]
    };
    // A root that may not drop capabilities (a rootless container) cannot run that part.
    let can_drop = !root
        || std::process::Command::new(drop_caps[0])
            .args(&drop_caps[1..])
            .arg("true")
            .status()
            .is_ok_and(|s| s.success());
    let plain = [bin];
    let mut cases = vec![(
        &plain[..],
        vec!["--listen", "127.0.0.1:0", dir_arg],
        "is a directory",
    )];
    if can_drop {
        cases.push((
            &unreadable[..],
            vec!["--listen", "127.0.0.1:0", log_arg],
            "cannot read it",
        ));
        cases.push((
            &unreadable[..],
            vec!["publish", "--nats", "nats://127.0.0.1:1", log_arg],
            "cannot read it",
        ));
        cases.push((
            &unreadable[..],
            vec!["--listen", "127.0.0.1:0", hidden_arg],
            "cannot read it: Permission denied",
        ));
        cases.push((
            &unreadable[..],
            vec!["--listen", "127.0.0.1:0", hidden_pattern],
            "cannot list the directory: Permission denied",
        ));
    } else {
        eprintln!("setpriv cannot drop capabilities here: the unreadable-file cases are skipped");
    }
    for (command, args, says) in cases {
        assert_refused(command, &args, says);
    }
    // So that the temporary directory can be removed.
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// Runs `command` with `args`, and asserts it was refused as bad input: exit code 2, one line
/// in webpeek's form that says `says`, no colours.
fn assert_refused(command: &[&str], args: &[&str], says: &str) {
    let out = std::process::Command::new(command[0])
        .args(&command[1..])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("webpeek: error: "), "{args:?}: {err}");
    assert!(err.contains(says), "{args:?}: {err}");
    assert!(!err.contains('\x1b'), "no colours: {err}");
}

/// A JSON log line (nginx `escape=json` style) at Unix time `t`.
fn json_line(t: i64, path: &str, status: u16) -> String {
    format!(
        "{{\"time_iso8601\":\"{}\",\"remote_addr\":\"203.0.113.7\",\"request\":\"GET {path} HTTP/1.1\",\"status\":{status},\"body_bytes_sent\":10}}\n",
        webpeek::hit::Rfc3339(t)
    )
}

#[tokio::test]
async fn history_after_hello_draws_whole_charts() {
    let now = webpeek::unix_now();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    // Two minutes of the last five (one 5xx), ten minutes ago (a 404), two hours ago, and a
    // day and a half ago (outside both windows).
    let mut text = String::new();
    for i in 0..120 {
        text.push_str(&json_line(
            now - 120 + i,
            "/recent",
            if i == 7 { 503 } else { 200 },
        ));
    }
    text.push_str(&json_line(now - 600, "/ten-minutes-ago", 404));
    text.push_str(&json_line(now - 7200, "/two-hours-ago", 301));
    text.push_str(&json_line(now - 36 * 3600, "/yesterday", 200));
    append(&log, text);
    let s = Server::start_on(dir, log, &["--from-start", "--all"]);
    let deadline = Instant::now() + 10 * SECOND;
    while s.stats()["total"] != 123 {
        assert!(Instant::now() < deadline, "the log was not read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let origin = format!("http://{}", s.addr);
    let mut ws = s.ws_with("/ws", &[("origin", &origin)]).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    let history = next_json(&mut ws).await;
    assert_eq!(history["type"], "history");
    let buckets =
        |key: &str| -> Vec<[i64; 6]> { serde_json::from_value(history[key].clone()).unwrap() };
    let (seconds, minutes) = (buckets("per_second"), buckets("per_minute"));
    assert_eq!((seconds.len(), minutes.len()), (300, 1440));
    // Oldest first, every bucket there (quiet ones as zeros), ending now.
    assert!(seconds.windows(2).all(|w| w[1][0] == w[0][0] + 1));
    assert!(minutes.windows(2).all(|w| w[1][0] == w[0][0] + 60));
    assert!((seconds[299][0] - now).abs() <= 5, "{:?}", seconds[299]);
    let sum = |b: &[[i64; 6]], col: usize| b.iter().map(|x| x[col]).sum::<i64>();
    assert_eq!(
        (sum(&seconds, 1), sum(&seconds, 2), sum(&seconds, 5)),
        (120, 119, 1)
    );
    assert_eq!(sum(&seconds, 4), 0);
    assert_eq!(
        (
            sum(&minutes, 1),
            sum(&minutes, 3),
            sum(&minutes, 4),
            sum(&minutes, 5)
        ),
        (122, 1, 1, 1)
    );
    // Each request in the second it was logged.
    let second = seconds.iter().find(|b| b[0] == now - 113).unwrap();
    assert_eq!(second[1..], [1, 0, 0, 0, 1]);
}

/// A dashboard open while old hits arrive (a JetStream replay, a catch-up) draws them in their
/// own minutes: each `stats` frame brings the buckets counted in, whole, by the log's time, and
/// the rate is of the requests of now.
#[tokio::test]
async fn stats_frames_bring_chart_buckets_by_log_time() {
    let s = Server::start(&["--all"]);
    let now = webpeek::unix_now();
    s.append(json_line(now, "/first", 200));
    let deadline = Instant::now() + 10 * SECOND;
    while s.stats()["total"] != 1 {
        assert!(Instant::now() < deadline, "the log was not read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Once a stats frame has counted it (a probe viewer sees one), a new viewer gets those
    // numbers at once, after the backlog.
    let mut probe = s.viewer().await;
    let deadline = Instant::now() + 10 * SECOND;
    loop {
        assert!(
            Instant::now() < deadline,
            "no stats frame counted the first line"
        );
        let m = next_json(&mut probe).await;
        if m["type"] == "stats" && m["total"] == 1 {
            break;
        }
    }
    let mut ws = s.viewer().await;
    assert_eq!(next_json(&mut ws).await["type"], "history");
    let hits = next_json(&mut ws).await;
    assert_eq!(hits["type"], "hits", "{hits}");
    let stats = next_json(&mut ws).await;
    assert_eq!(stats["type"], "stats", "{stats}");
    assert_eq!(stats["total"], 1);
    assert!(stats.get("history").is_none(), "{stats}");

    let now = webpeek::unix_now();
    let mut text = String::new();
    for _ in 0..50 {
        text.push_str(&json_line(now - 3600, "/an-hour-ago", 200));
    }
    for _ in 0..3 {
        text.push_str(&json_line(now, "/now", 500));
    }
    s.append(text);
    // Whole buckets by their start, as the dashboard keeps them.
    let mut seconds = std::collections::BTreeMap::new();
    let mut minutes = std::collections::BTreeMap::new();
    let deadline = Instant::now() + 10 * SECOND;
    let last = loop {
        assert!(Instant::now() < deadline, "no stats frame counted 54");
        let m = next_json(&mut ws).await;
        if m["type"] != "stats" {
            continue;
        }
        let history = &m["history"];
        for (key, into) in [("per_second", &mut seconds), ("per_minute", &mut minutes)] {
            let buckets: Vec<[i64; 6]> = serde_json::from_value(history[key].clone()).unwrap();
            assert!(
                !buckets.is_empty(),
                "the newest bucket is always there: {m}"
            );
            assert!(buckets.windows(2).all(|w| w[0][0] < w[1][0]), "{m}");
            for b in buckets {
                into.insert(b[0], b);
            }
        }
        if m["total"] == 54 {
            break m;
        }
    };
    let minute = |t: i64| t - t.rem_euclid(60);
    assert_eq!(minutes[&minute(now - 3600)][1..], [50, 50, 0, 0, 0]);
    // With the first line too, unless a minute began in between.
    let current = minutes[&minute(now)];
    assert!(current[1] == 3 || current[1] == 4, "{current:?}");
    assert_eq!(current[5], 3);
    // With the first line too if it was logged in the same second.
    let second = seconds[&now];
    assert!(second[1] == 3 || second[1] == 4, "{second:?}");
    assert_eq!(second[5], 3);
    assert!(seconds.values().all(|b| b[1] <= 4), "{seconds:?}");
    // The rate averages 5 s: at most the 4 requests of now, none of the hour-old ones.
    let rate = last["rate"].as_f64().unwrap();
    assert!(rate <= 4.0 / 5.0 + 1e-9, "rate {rate}");
}

#[tokio::test]
async fn a_viewer_is_told_when_the_server_stops() {
    let s = Server::start(&[]);
    let mut ws = s.viewer().await;
    // Live: past the backlog and the resume wait.
    s.append(line("203.0.113.5", "/live"));
    let (hits, _) = collect_hits(&mut ws, 1, 10 * SECOND).await;
    assert_eq!(hits[0]["path"], "/live");
    assert!(s.terminate().success(), "SIGTERM is a clean stop");
    // The close frame waits in the viewer's socket: "going away", and why.
    let deadline = Instant::now() + 10 * SECOND;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next())
            .await
            .expect("no close frame")
        {
            Some(Ok(tungstenite::Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1001);
                assert_eq!(frame.reason.as_str(), "server shutting down");
                break;
            }
            Some(Ok(tungstenite::Message::Close(None)) | Err(_)) | None => {
                panic!("the socket ended without a 1001 close")
            }
            Some(Ok(_)) => {}
        }
    }
}

/// The filter judges a request as the hit will show it: a JSON log that writes `/` as `\/`
/// (PHP's `json_encode`) still has its page views shown, and its crawlers hidden with
/// `--no-bots`; a crawler only uap-core knows (WhatsApp's link preview) is hidden too, as no
/// hit marked as a bot is shown then.
#[tokio::test]
async fn the_filter_reads_escaped_json_and_no_bots_hides_every_marked_bot() {
    let s = Server::start(&["--no-bots"]);
    let mut ws = s.viewer().await;
    let json = |uri: &str, agent: &str| {
        format!(
            "{{\"time\":\"{}\",\"remote_addr\":\"203.0.113.7\",\"request_method\":\"GET\",\"uri\":\"{uri}\",\"status\":200,\"body_bytes_sent\":10,\"http_user_agent\":\"{agent}\"}}\n",
            webpeek::hit::Rfc3339(webpeek::unix_now())
        )
    };
    let firefox = r"Mozilla\/5.0 (X11; Linux x86_64; rv:132.0) Gecko\/20100101 Firefox\/132.0";
    let googlebot =
        r"Mozilla\/5.0 (compatible; Googlebot\/2.1; +http:\/\/www.google.com\/bot.html)";
    s.append(
        [
            json(r"\/crawled", googlebot),
            json(r"\/previewed", "WhatsApp/2.23.20.0"),
            json(r"\/about", firefox),
        ]
        .concat(),
    );
    let (hits, _) = collect_hits(&mut ws, 1, 10 * SECOND).await;
    assert_eq!(hits[0]["path"], "/about", "{hits:?}");
    assert_eq!(hits[0]["browser"], "Firefox");
    assert_no_hits(&mut ws, Duration::from_millis(1500)).await;
    let stats = s.stats();
    assert_eq!(
        (stats["total"].as_u64(), stats["shown"].as_u64()),
        (Some(3), Some(1))
    );
}

/// Lines in a format webpeek does not read are said in the log once, with the line (escaped:
/// it is anyone's, and goes to a terminal) and what to do, not only counted.
#[test]
fn lines_that_match_no_format_are_said_once_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("custom.log");
    let mut text = String::new();
    for i in 0..5 {
        text += &format!("custom|{i}|\x1b[31mGET /x\x1b[0m|200\n");
    }
    append(&log, text);
    let s = Server::start_on(dir, log, &["--from-start"]);
    let said = s.wait_output("matched no log format", 10 * SECOND);
    assert!(said.contains("--format"), "{said}");
    assert!(said.contains("report --detect"), "{said}");
    assert!(said.contains(r"\u{1b}[31m"), "escaped: {said}");
    assert!(
        !said.contains('\x1b'),
        "no raw escape, no colours into a pipe: {said}"
    );
    let deadline = Instant::now() + 10 * SECOND;
    while s.stats()["unparsed"] != 5 {
        assert!(Instant::now() < deadline, "not all read");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.count_output("matched no log format"), 1);
}
