//! Formats end to end: detection of JSON, nginx and Apache format strings, X-Forwarded-For.

mod common;

use std::time::Duration;

use common::{Server, collect_hits};

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn caddy_json_is_detected() {
    let s = Server::start(&[]);
    let mut ws = s.viewer().await;
    s.append(concat!(
        r#"{"level":"info","ts":1795957681.5,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"2001:db8::5","client_ip":"2001:db8::5","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/docs/?q=x","headers":{"User-Agent":["Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"]}},"size":10900,"status":200}"#,
        "\n"
    ));
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    let h = &hits[0];
    assert_eq!(
        (h["ip"].as_str(), h["path"].as_str(), h["query"].as_str()),
        (Some("2001:db8::5"), Some("/docs/"), Some("q=x"))
    );
    assert_eq!(
        (h["status"].as_u64(), h["bytes"].as_u64()),
        (Some(200), Some(10900))
    );
    assert_eq!(h["time"], "2026-11-29T13:08:01Z");
    assert_eq!(h["browser"], "Firefox");
    assert_eq!(h["vhost"], "example.com");
}

#[tokio::test]
async fn nginx_format_string_with_client_from_header() {
    let fmt = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $host "$http_x_forwarded_for""#;
    let s = Server::start(&["--format", fmt, "--client-from-header"]);
    let mut ws = s.viewer().await;
    s.append(concat!(
        r#"10.0.0.2 - - [25/Nov/2026:10:00:00 +0000] "GET /caf\xC3\xA9/ HTTP/1.1" 200 12 "-" "curl/8.5.0" 0.003 example.org "203.0.113.50, 10.0.0.9""#,
        "\n"
    ));
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    assert_eq!(hits[0]["ip"], "203.0.113.50");
    assert_eq!(hits[0]["path"], "/café/");
    assert_eq!(hits[0]["vhost"], "example.org");
    assert_eq!(hits[0]["bot"], true);
}

/// `$realip_remote_addr` is the address the realip module replaced (the proxy, here a CDN's
/// edge): two readers behind the same edge are two clients, not one.
#[tokio::test]
async fn nginx_realip_remote_addr_is_not_the_client() {
    let fmt = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$realip_remote_addr""#;
    let s = Server::start(&["--format", fmt]);
    let mut ws = s.viewer().await;
    s.append(concat!(
        r#"203.0.113.7 - - [25/Nov/2026:10:00:00 +0000] "GET /a/ HTTP/1.1" 200 12 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0" "172.70.1.1""#,
        "\n",
        r#"198.51.100.8 - - [25/Nov/2026:10:00:01 +0000] "GET /b/ HTTP/1.1" 200 12 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0" "172.70.1.1""#,
        "\n"
    ));
    let (hits, _) = collect_hits(&mut ws, 2, 5 * SECOND).await;
    let ips: Vec<&str> = hits.iter().map(|h| h["ip"].as_str().unwrap()).collect();
    assert_eq!(ips, ["203.0.113.7", "198.51.100.8"]);
}

#[tokio::test]
async fn apache_format_string() {
    let fmt = r#"%v %h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\" %D"#;
    let s = Server::start(&["--format", fmt]);
    let mut ws = s.viewer().await;
    s.append("shop.example 203.0.113.60 - - [25/Nov/2026:10:00:00 +0100] \"GET /cart HTTP/1.1\" 200 99 \"-\" \"Mozilla/5.0\" 1532\n");
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    assert_eq!(
        (hits[0]["vhost"].as_str(), hits[0]["path"].as_str()),
        (Some("shop.example"), Some("/cart"))
    );
    assert_eq!(hits[0]["time"], "2026-11-25T09:00:00Z");
}

#[test]
fn a_malformed_format_string_names_the_directive() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .args(["-", "--format", "%h %{Referer"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--format") && err.contains("'%{Referer'"),
        "{err}"
    );
}

/// Runs the binary with these arguments: (exit code, stdout, stderr).
fn webpeek(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An IIS log already written when webpeek starts is followed from its end (the default), or
/// from a `--state` position: its `#Fields:` header, at the file's start, is read from there.
#[tokio::test]
async fn iis_log_followed_from_its_end_reads_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("u_ex261124.log");
    common::append(
        &log,
        "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: 2026-11-24 13:00:00\r\n\
         #Fields: date time c-ip cs-method cs-uri-stem sc-status sc-bytes\r\n\
         2026-11-24 13:08:00 203.0.113.1 GET /before-start 200 10\r\n",
    );
    let s = Server::start_on(dir, log, &["--all"]);
    let mut ws = s.viewer().await;
    s.append("2026-11-24 13:09:00 203.0.113.2 GET /after-start 200 20\r\n");
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    assert_eq!(hits[0]["path"], "/after-start");
    assert_eq!(hits[0]["ip"], "203.0.113.2");
    assert_eq!(s.stats()["unparsed"], 0, "{}", s.stats());
}

#[tokio::test]
async fn iis_log_followed_live_through_a_header_change() {
    let s = Server::start(&["--all"]);
    let mut ws = s.viewer().await;
    s.append(
        "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n#Date: 2026-11-24 13:00:00\r\n\
         #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n\
         2026-11-24 13:08:01 10.0.0.4 GET /blog/post.html q=1 443 - 203.0.113.7 Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64;+rv:132.0)+Gecko/20100101+Firefox/132.0 https://www.bing.com/ 200 0 0 46\r\n",
    );
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    let h = &hits[0];
    assert_eq!(h["ip"], "203.0.113.7");
    assert_eq!(
        (h["path"].as_str(), h["query"].as_str()),
        (Some("/blog/post.html"), Some("q=1"))
    );
    assert_eq!(h["time"], "2026-11-24T13:08:01Z");
    assert_eq!(
        h["agent"],
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0"
    );
    assert_eq!(h["browser"], "Firefox");
    // IIS restarts with other fields: the new header holds from there on.
    s.append(
        "#Fields: date time c-ip cs-method cs-uri-stem sc-status sc-bytes\r\n\
         2026-11-24 13:09:00 2001:db8::9 POST /login 302 120\r\n",
    );
    let (hits, _) = collect_hits(&mut ws, 1, 5 * SECOND).await;
    assert_eq!(
        (
            hits[0]["ip"].as_str(),
            hits[0]["status"].as_u64(),
            hits[0]["bytes"].as_u64()
        ),
        (Some("2001:db8::9"), Some(302), Some(120))
    );
    // Header lines are neither requests nor unparsed.
    let stats = s.stats();
    assert_eq!(
        (stats["total"].as_u64(), stats["unparsed"].as_u64()),
        (Some(2), Some(0))
    );
}

#[test]
fn formats_are_listed_and_a_typo_gets_a_suggestion() {
    let (code, out, _) = webpeek(&["formats"]);
    assert_eq!(code, Some(0));
    for name in [
        "combined",
        "vcommon",
        "w3c",
        "cloudfront",
        "cloudstorage",
        "awselb",
        "awsalb",
        "awss3",
        "squid",
        "caddy",
        "traefik",
        "haproxy",
        "cloudflare",
    ] {
        assert!(
            out.lines()
                .any(|l| l == name || l.starts_with(&format!("{name}\n")) || l.trim() == name),
            "{name} missing:\n{out}"
        );
    }
    let (code, _, err) = webpeek(&["--format", "cloudfornt", "-"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("did you mean 'cloudfront'?"), "{err}");
    let (code, _, err) = webpeek(&["report", "--format", "AWS-ALB", "-"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("did you mean 'awsalb'?"), "{err}");
}

#[test]
fn report_says_why_lines_failed_and_what_it_detected() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mixed.log");
    let good =
        r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "curl/8""#;
    let text = format!(
        "\u{FEFF}{good}\n{}\n{good}\ngarbage here\n{}\n",
        good.replace(" 200 ", " 2000 "),
        // Cut off inside the agent: still a request.
        &good[..good.len() - 3]
    );
    std::fs::write(&log, text).unwrap();
    let path = log.to_str().unwrap();
    let (code, out, err) = webpeek(&["report", "--unparsed", "10", path]);
    assert_eq!(code, Some(0), "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (r["total"].as_u64(), r["unparsed"].as_u64()),
        (Some(3), Some(2))
    );
    let lines = r["unparsed_lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["line"], 2);
    assert_eq!(
        lines[0]["reason"],
        r#"combined: byte 59: "2000" cannot be the status (%>s)"#
    );
    assert_eq!(lines[1]["line"], 4);
    assert!(
        lines[1]["reason"]
            .as_str()
            .unwrap()
            .contains("client address"),
        "{}",
        lines[1]
    );
    // Without --unparsed the list is not there.
    let (_, out, _) = webpeek(&["report", path]);
    assert!(!out.contains("unparsed_lines"));

    let (code, out, _) = webpeek(&["report", "--detect", path]);
    assert_eq!(code, Some(0));
    assert!(out.contains("detected: combined"), "{out}");
    let combined_row = out
        .lines()
        .find(|l| l.starts_with(" ") && l.ends_with(" combined"))
        .unwrap();
    assert!(combined_row.trim_start().starts_with("3 / 5"), "{out}");
}

#[test]
fn times_without_a_zone_take_the_timezone_given() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(
        &log,
        "2026-11-24 13:08:01 203.0.113.9 [GET /a b HTTP/1.1] 200 12\n",
    )
    .unwrap();
    let path = log.to_str().unwrap();
    let format = "%{%F %T}t %h [%r] %>s %b";
    let first = |extra: &[&str]| {
        let mut args = vec!["report", "--format", format];
        args.extend_from_slice(extra);
        args.push(path);
        let (code, out, err) = webpeek(&args);
        assert_eq!(code, Some(0), "{err}");
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (r["total"].as_u64(), r["unparsed"].as_u64()),
            (Some(1), Some(0)),
            "{out}"
        );
        r["first"].as_str().unwrap().to_string()
    };
    assert_eq!(first(&[]), "2026-11-24T13:08:01Z");
    assert_eq!(first(&["--timezone", "+02:00"]), "2026-11-24T11:08:01Z");
    assert_eq!(first(&["--timezone", "-0530"]), "2026-11-24T18:38:01Z");
    // JSON too: a time without a zone takes --timezone's; one with a zone keeps its own.
    let json = dir.path().join("app.json");
    std::fs::write(
        &json,
        "{\"time\":\"2026-11-24 13:08:01\",\"remote_addr\":\"203.0.113.9\",\"request\":\"GET / HTTP/1.1\",\"status\":200}\n\
         {\"time\":\"2026-11-24T13:08:02+01:00\",\"remote_addr\":\"203.0.113.9\",\"request\":\"GET / HTTP/1.1\",\"status\":200}\n",
    )
    .unwrap();
    let span = |extra: &[&str]| {
        let mut args = vec!["report"];
        args.extend_from_slice(extra);
        args.push(json.to_str().unwrap());
        let (code, out, err) = webpeek(&args);
        assert_eq!(code, Some(0), "{err}");
        let r: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(r["unparsed"].as_u64(), Some(0), "{out}");
        (
            r["first"].as_str().unwrap().to_string(),
            r["last"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        span(&["--timezone", "+02:00"]),
        ("2026-11-24T11:08:01Z".into(), "2026-11-24T12:08:02Z".into())
    );
    // Caddy's `time_format` wall, wall_milli and wall_nano have no zone either; common_log
    // has one. A time that is there but unreadable is an unparsed line, not the time it was read.
    let caddy = dir.path().join("caddy.json");
    let caddy_line = |ts: &str| {
        format!(
            "{{\"ts\":{ts},\"request\":{{\"remote_ip\":\"203.0.113.9\",\"method\":\"GET\",\"uri\":\"/\"}},\"status\":200}}\n"
        )
    };
    let text: String = [
        "\"2026/11/24 13:08:01\"",
        "\"2026/11/24 13:08:02.524\"",
        "\"2026/11/24 13:08:03.524000001\"",
        "\"24/Nov/2026:13:08:04 +0100\"",
        "\"24 Nov 2026 13:08:05\"",
    ]
    .iter()
    .map(|ts| caddy_line(ts))
    .collect();
    std::fs::write(&caddy, text).unwrap();
    let (code, out, err) = webpeek(&["report", "--timezone", "+02:00", caddy.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (r["total"].as_u64(), r["unparsed"].as_u64()),
        (Some(4), Some(1)),
        "{out}"
    );
    assert_eq!(
        (r["first"].as_str(), r["last"].as_str()),
        (Some("2026-11-24T11:08:01Z"), Some("2026-11-24T12:08:04Z"))
    );
    let (code, _, err) = webpeek(&["report", "--timezone", "Mars/Olympus", path]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--timezone"), "{err}");
    let (code, _, err) = webpeek(&["--timezone", "nope", "-"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--timezone"), "{err}");
}
