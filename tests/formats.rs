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
