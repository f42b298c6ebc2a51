//! `--from-start` on a big log: the existing content is counted at report speed, the last
//! minutes become hits, and the dashboard is whole at once — the same numbers as `webpeek
//! report` on the same file, the backlog holding the file's last lines, charts full. And a
//! `--state` restart that finds much unread neither loses nor repeats a line.

mod common;

use std::time::{Duration, Instant};

use common::{Server, collect_hits, next_json};
use serde_json::Value;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn clf_time(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let s = t.rem_euclid(86_400);
    let (y, m, d) = webpeek::hit::civil_from_days(days);
    format!(
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[m as usize - 1],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];

/// `n` varied combined-format lines, evenly over the `span` seconds before `end`; line `i`'s
/// query is `n={i}`, so the tests can tell which lines became hits. Each dimension has fewer
/// distinct keys than a panel's sketch tracks, so the live counts are exact too.
fn lines(n: usize, end: i64, span: i64, first: usize) -> String {
    let mut out = String::with_capacity(n * 260);
    for i in first..first + n {
        let t = end - span + (i - first) as i64 * span / n as i64;
        let path = match i % 10 {
            0..=4 => format!("/p/{}/", i % 50),
            5 => format!("/assets/{}.css", i % 12),
            6 => format!("/docs/{}.html", i % 7),
            7 => "/".to_string(),
            8 => format!("/gone/{}", i % 3),
            _ => format!("/api/{}", i % 5),
        };
        let status = match i % 10 {
            8 => 404,
            9 if i % 20 == 9 => 502,
            _ => 200,
        };
        let referer = match i % 4 {
            0 => "https://news.ycombinator.com/item?id=1".to_string(),
            1 => "https://example.com/blog/".to_string(),
            2 => "-".to_string(),
            _ => format!("https://site{}.example.net/", i % 6),
        };
        out.push_str(&format!(
            "198.51.100.{} - - [{}] \"GET {path}?n={i} HTTP/1.1\" {status} {} \"{referer}\" \"{}\"\n",
            i % 60,
            clf_time(t),
            100 + i % 900,
            AGENTS[i % 4]
        ));
    }
    out
}

/// Requests in a `history` message's buckets of one width (`per_second`, `per_minute`).
fn requests_in(history: &Value, width: &str) -> u64 {
    history[width]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[1].as_u64().unwrap())
        .sum()
}

/// Polls `/api/stats` until `total` reaches `want` (bounded).
fn stats_when(server: &Server, want: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = server.stats();
        if s["total"].as_u64() == Some(want) {
            return s;
        }
        assert!(Instant::now() < deadline, "total stuck at {}", s["total"]);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_start_counts_the_whole_log_and_keeps_its_last_lines_as_hits() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let now = webpeek::unix_now();
    // Two hours, 110,000 lines, about 27 MB: over the fast path's 16 MB threshold.
    let n = 110_000;
    std::fs::write(&log, lines(n, now, 7200, 0)).unwrap();
    assert!(std::fs::metadata(&log).unwrap().len() > webpeek::catchup::MIN_BYTES);
    let server = Server::start_on(
        dir,
        log.clone(),
        &[
            "--from-start",
            "--all",
            "--backlog",
            "500",
            "--site",
            "https://example.com/",
            "--name",
            "web1",
        ],
    );
    let caught = server.wait_output("caught up with", Duration::from_secs(30));
    assert!(caught.contains("in 1 file(s)"), "{caught}");
    let stats = stats_when(&server, n as u64);
    // Detected by the catch-up and by the follower of the tail, said once.
    assert_eq!(server.count_output("detected: combined"), 1);
    let want = common::report(&[
        "--site",
        "https://example.com/",
        "--name",
        "web1",
        log.to_str().unwrap(),
    ]);

    // The same totals and panels as the report on the same file.
    assert_eq!(stats["unparsed"], 0);
    for class in ["2xx", "4xx", "5xx"] {
        assert_eq!(stats["status"][class], want["status"][class], "{class}");
    }
    let (all, theirs) = (&stats["panels"]["all"], &want["panels"]);
    for key in ["requests", "page_views", "bytes"] {
        assert_eq!(all[key], theirs[key], "{key}");
    }
    for list in [
        "pages",
        "static",
        "not_found",
        "errors",
        "sites",
        "browsers",
        "os",
        "devices",
        "hosts",
        "codes",
        "servers",
    ] {
        assert_eq!(all[list], theirs[list], "panel {list}");
    }
    // Visitors are an estimate both ways (the same estimator over the same keys).
    let (v, w) = (
        all["visitors"].as_f64().unwrap(),
        theirs["visitors"].as_f64().unwrap(),
    );
    assert!((v - w).abs() <= w * 0.03, "visitors {v} vs {w}");
    // The site's own referers are not a referring site.
    assert!(
        !all["sites"].to_string().contains("example.com\""),
        "{}",
        all["sites"]
    );

    // The recent window is the last five whole minutes of log time and the current one:
    // 5 to 6 of the 120 minutes' lines.
    let recent = stats["panels"]["recent"]["requests"].as_u64().unwrap();
    let expected = (n as u64) * 300 / 7200;
    assert!(
        (expected - 50..=expected * 6 / 5 + 50).contains(&recent),
        "recent {recent} vs {expected}"
    );

    // A viewer gets full charts and the file's last lines as the backlog.
    let mut ws = server.viewer().await;
    let history = next_json(&mut ws).await;
    assert_eq!(history["type"], "history");
    let per_minute = requests_in(&history, "per_minute");
    assert_eq!(
        per_minute, n as u64,
        "every line is in the per-minute chart"
    );
    let per_second = requests_in(&history, "per_second");
    assert!(
        per_second.abs_diff(expected) <= expected / 20 + 50,
        "per second {per_second}"
    );
    let (hits, _frames) = collect_hits(&mut ws, 500, Duration::from_secs(20)).await;
    let queries: Vec<String> = hits.iter().map(|h| h["query"].to_string()).collect();
    let want: Vec<String> = (n - 500..n).map(|i| format!("\"n={i}\"")).collect();
    assert_eq!(queries, want, "the backlog is the file's last 500 lines");
    assert_eq!(hits[0]["server"], "web1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_restart_catches_up_without_losing_or_repeating_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap().to_owned();
    let now = webpeek::unix_now();
    std::fs::write(&log, lines(1000, now - 7200, 600, 0)).unwrap();
    let first = Server::start_on(
        tempfile::tempdir().unwrap(),
        log.clone(),
        &["--from-start", "--all", "--state", &state_arg],
    );
    stats_when(&first, 1000);
    assert!(first.terminate().success());

    // While it was down, the log grew by 27 MB.
    let n = 110_000;
    common::append(&log, lines(n, now, 3600, 1000));
    let second = Server::start_on(
        tempfile::tempdir().unwrap(),
        log.clone(),
        &["--all", "--state", &state_arg, "--backlog", "100"],
    );
    second.wait_output("caught up with", Duration::from_secs(30));
    let stats = stats_when(&second, n as u64);
    assert_eq!(stats["unparsed"], 0);
    // Nothing more comes: no line was read twice.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(second.stats()["total"], n as u64);
    let mut ws = second.viewer().await;
    let history = next_json(&mut ws).await;
    let per_minute = requests_in(&history, "per_minute");
    assert_eq!(per_minute, n as u64);
    let (hits, _) = collect_hits(&mut ws, 100, Duration::from_secs(20)).await;
    assert_eq!(
        hits.last().unwrap()["query"],
        format!("n={}", 1000 + n - 1),
        "the last line is the backlog's last hit"
    );
    // A line appended now is followed as usual.
    second.append(lines(1, now, 1, 999_999));
    let (hit, _) = collect_hits(&mut ws, 1, Duration::from_secs(10)).await;
    assert_eq!(hit[0]["query"], "n=999999");
}
