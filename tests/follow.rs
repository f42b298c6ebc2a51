//! Following like `tail -F`, end to end: state across restarts, patterns, gzip, stdin, polling.

mod common;

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{Server, append, assert_no_hits, collect_hits, line};

const SECOND: Duration = Duration::from_secs(1);

fn lines(from: u32, to: u32) -> String {
    (from..=to)
        .map(|i| line("203.0.113.8", &format!("/n/{i}")))
        .collect()
}

fn paths(hits: &[serde_json::Value]) -> Vec<String> {
    hits.iter()
        .map(|h| h["path"].as_str().unwrap().to_string())
        .collect()
}

fn expected(from: u32, to: u32) -> Vec<String> {
    (from..=to).map(|i| format!("/n/{i}")).collect()
}

/// Starts webpeek with these arguments (stdin closed); `append` writes to `log`.
fn webpeek(log: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Server {
    let args: Vec<OsString> = args.iter().map(|a| a.as_ref().to_owned()).collect();
    Server::spawn(
        tempfile::tempdir().unwrap(),
        log.to_owned(),
        &args,
        Stdio::null(),
    )
}

#[tokio::test]
async fn state_restart_continues_exactly_also_across_a_rotation_while_down() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let state = dir.path().join("state.json");
    append(&log, lines(1, 3)); // before the first start: not shown (follows from the end)
    let start = |log: &Path| webpeek(log, &[&"--all", &"--state", &state, &log]);
    let s = start(&log);
    let mut ws = s.viewer().await;
    append(&log, lines(4, 50));
    append(
        &log,
        "203.0.113.8 - - [25/Nov/2026:10:00:00 +0000] \"GET /n/51 HTTP/1.1\" 200 1",
    );
    let (hits, _) = collect_hits(&mut ws, 47, 10 * SECOND).await;
    assert_eq!(paths(&hits), expected(4, 50));
    assert!(s.terminate().success(), "SIGTERM is a clean stop");
    assert!(state.exists(), "positions saved at exit");

    // While webpeek is down: the half line is finished, the log is rotated, a new one begins.
    append(&log, " \"-\" \"curl/8\"\n");
    append(&log, lines(52, 60));
    std::fs::rename(&log, dir.path().join("access.log.1")).unwrap();
    append(&log, lines(61, 70));

    let s = start(&log);
    let mut ws = s.viewer().await;
    let (hits, _) = collect_hits(&mut ws, 20, 10 * SECOND).await;
    assert_eq!(
        paths(&hits),
        expected(51, 70),
        "nothing lost, nothing repeated"
    );
    assert_no_hits(&mut ws, SECOND).await;
    append(&log, lines(71, 71));
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    assert_eq!(paths(&hits), expected(71, 71));
}

#[tokio::test]
async fn a_pattern_follows_every_match_and_files_that_appear_later() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a-access.log");
    append(&a, "");
    let pattern = dir.path().join("*access.log");
    let s = webpeek(&a, &[&pattern]);
    let mut ws = s.viewer().await;
    append(&a, lines(1, 1));
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    assert_eq!(hits[0]["source"], "a-access.log");
    let b = dir.path().join("b-access.log");
    append(&b, lines(2, 3)); // appeared after start-up: read from its start
    let (hits, _) = collect_hits(&mut ws, 2, 5 * SECOND).await;
    assert_eq!(paths(&hits), expected(2, 3));
    assert_eq!(hits[0]["source"], "b-access.log");
}

#[tokio::test]
async fn a_pattern_that_matches_rotated_files_reads_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let pattern = dir.path().join("access.log*");
    let s = webpeek(&log, &[&"--all", &pattern]);
    let mut ws = s.viewer().await;
    append(&log, lines(1, 5));
    collect_hits(&mut ws, 5, 5 * SECOND).await;
    std::fs::rename(&log, dir.path().join("access.log.1")).unwrap();
    append(&log, lines(6, 10));
    let (hits, _) = collect_hits(&mut ws, 5, 5 * SECOND).await;
    assert_eq!(paths(&hits), expected(6, 10));
    // Past the time the rotated file is drained and released (5 s quiet): it now matches the
    // pattern as a file of its own, and must be resumed at its end, not read again.
    assert_no_hits(&mut ws, 7 * SECOND).await;
    append(&dir.path().join("access.log.1"), lines(11, 11));
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    assert_eq!(paths(&hits), expected(11, 11));
}

/// The same pattern through a rotation by rename while `access.log.1` already exists (it
/// becomes `.2`, `access.log` becomes `.1`: each follower sees another follower's file arrive at
/// its path). Every hit comes exactly once.
#[tokio::test]
async fn a_pattern_that_matches_rotated_files_reads_nothing_twice_when_rotated_names_pass_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let one = dir.path().join("access.log.1");
    append(&log, "");
    append(&one, "");
    let pattern = dir.path().join("access.log*");
    let s = webpeek(&log, &[&"--all", &pattern]);
    let mut ws = s.viewer().await;
    append(&log, lines(1, 5));
    collect_hits(&mut ws, 5, 5 * SECOND).await;
    // Rename with `.1` there.
    std::fs::rename(&one, dir.path().join("access.log.2")).unwrap();
    std::fs::rename(&log, &one).unwrap();
    append(&one, lines(6, 7)); // the server writes on to its open file until it reopens
    append(&log, lines(8, 10));
    let (hits, _) = collect_hits(&mut ws, 5, 5 * SECOND).await;
    let mut got = paths(&hits);
    got.sort();
    let mut want = expected(6, 10);
    want.sort();
    assert_eq!(got, want);
    assert_no_hits(&mut ws, 7 * SECOND).await;
}

#[tokio::test]
async fn without_inotify_instances_files_are_still_followed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let other = dir.path().join("b-access.log");
    append(&log, "");
    let child = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c"])
        .arg(r#"echo 0 > /proc/sys/user/max_inotify_instances && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_webpeek"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--no-dns",
            "--poll-interval",
            "0.2",
        ])
        .arg(&log)
        .arg(dir.path().join("b-*.log"))
        .env("WEBPEEK_LOG", "webpeek=info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let s = Server::adopt(child, dir, log.clone());
    s.wait_output("checked every --poll-interval instead", 5 * SECOND);
    let mut ws = s.viewer().await;
    append(&log, lines(1, 3));
    let (hits, _) = collect_hits(&mut ws, 3, 5 * SECOND).await;
    assert_eq!(paths(&hits), expected(1, 3));
    append(&other, lines(4, 5));
    let (hits, _) = collect_hits(&mut ws, 2, 5 * SECOND).await;
    assert_eq!(paths(&hits), expected(4, 5));
    assert_eq!(s.count_output("inotify: "), 1, "said once");
}

#[tokio::test]
async fn a_pattern_with_no_match_yet_waits() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("app-*.log");
    let log = dir.path().join("app-1.log");
    let s = webpeek(&log, &[&pattern]);
    let mut ws = s.viewer().await;
    append(&log, lines(1, 2));
    let (hits, _) = collect_hits(&mut ws, 2, 5 * SECOND).await;
    assert_eq!(paths(&hits), expected(1, 2));
}

#[tokio::test]
async fn gzip_files_given_explicitly_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("access.log.2.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(lines(1, 3).as_bytes()).unwrap();
    enc.finish().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let s = webpeek(&log, &[&gz, &log]);
    let mut ws = s.viewer().await; // the gzip lines are in the backlog by now, or arrive live
    let (hits, _) = collect_hits(&mut ws, 3, 5 * SECOND).await;
    assert_eq!(paths(&hits), expected(1, 3));
    assert_eq!(hits[0]["source"], "access.log.2.gz");
}

#[tokio::test]
async fn stdin_is_a_source() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("unused");
    let mut s = Server::spawn(
        tempfile::tempdir().unwrap(),
        log,
        &[OsString::from("-")],
        Stdio::piped(),
    );
    let mut ws = s.viewer().await;
    let mut stdin = s.child.stdin.take().unwrap();
    stdin.write_all(lines(1, 2).as_bytes()).unwrap();
    stdin.flush().unwrap();
    let (hits, _) = collect_hits(&mut ws, 2, 5 * SECOND).await;
    assert_eq!(paths(&hits), expected(1, 2));
    assert_eq!(hits[0]["source"], "stdin");
    drop(dir);
}

#[tokio::test]
async fn poll_mode_works_without_inotify() {
    let s = Server::start(&["--poll"]);
    let mut ws = s.viewer().await;
    s.append(lines(1, 1));
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    assert_eq!(paths(&hits), expected(1, 1));
}

/// A `--state` file that could never be saved (its directory missing, or a directory itself) is
/// refused at start with one line and exit 2, for the main command and `publish` alike: it was
/// found out only by a warning every 5 s, positions never saved, and exit 1 at the stop.
#[test]
fn a_state_file_that_cannot_be_written_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, "");
    let missing = dir.path().join("no-such-dir").join("state");
    let (log, missing, itself) = (
        log.to_str().unwrap(),
        missing.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    );
    for args in [
        &["--listen", "127.0.0.1:0", "--state", missing, log][..],
        &["--listen", "127.0.0.1:0", "--state", itself, log][..],
        &[
            "publish",
            "--nats",
            "nats://127.0.0.1:1",
            "--state",
            missing,
            log,
        ][..],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_webpeek"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("webpeek: error: --state: "),
            "{args:?}: {err}"
        );
    }
    assert!(
        std::fs::read_dir(itself).unwrap().count() == 1,
        "nothing left behind beside the log"
    );
}
