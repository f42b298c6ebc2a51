//! Running webpeek on a public server (issue 13): sign-in, TLS, a path prefix behind a proxy,
//! trusted proxies, and limits on viewers and connections. A real webpeek process, real HTTP,
//! TLS and WebSocket clients over loopback; certificates made here with rcgen.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, collect_hits, http_request, line, next_json};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, http::HeaderValue};

const TOKEN: &str = "correct-horse-battery-staple";
const OTHER_CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// The `webpeek_token=...` part of a Set-Cookie header.
fn cookie_of(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

/// Opens `/ws` (under `base`) with these headers: Ok(socket) or the refusal's status.
async fn ws_status(
    s: &Server,
    path: &str,
    headers: &[(&'static str, &str)],
) -> Result<common::Ws, u16> {
    match s.ws_with(path, headers).await {
        Ok(ws) => Ok(ws),
        Err(tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{path}: {e}"),
    }
}

#[tokio::test]
async fn sign_in_page_then_cookie_opens_everything() {
    let s = Server::start(&["--token", TOKEN]);
    // Not signed in: the page is the sign-in form; data paths are 401; health is open.
    let r = s.request("GET", "/", &[], "");
    assert_eq!(r.status, 401);
    assert!(
        r.body.contains("<form") && r.body.contains("name=\"token\""),
        "{}",
        r.body
    );
    assert!(!r.body.contains("id=\"feed\""), "the dashboard leaked");
    for path in ["/api/stats", "/metrics"] {
        assert_eq!(s.request("GET", path, &[], "").status, 401, "{path}");
    }
    assert_eq!(ws_status(&s, "/ws", &[]).await.unwrap_err(), 401);
    assert_eq!(s.get("/healthz", &[]), (200, "ok".into()));

    // A wrong token in the form: the form again, with a message, and no cookie.
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let r = s.request("POST", "/", &form, "token=wrong");
    assert_eq!(r.status, 401);
    assert!(r.body.contains("That token is not right."));
    assert!(r.header("set-cookie").is_none());

    // The right one: a redirect to the page, and a session cookie that does not hold the token.
    let r = s.request("POST", "/", &form, &format!("token={TOKEN}"));
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/"));
    let set = r.header("set-cookie").expect("a cookie").to_string();
    for part in [
        "webpeek_token=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/;",
        "Max-Age=",
    ] {
        assert!(set.contains(part), "{part} missing in {set}");
    }
    assert!(!set.contains("Secure"), "Secure over plain HTTP: {set}");
    assert!(!set.contains(TOKEN), "the cookie holds the token: {set}");
    let cookie = cookie_of(&set);

    let with_cookie = [("cookie", cookie.as_str())];
    let r = s.request("GET", "/", &with_cookie, "");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("id=\"feed\""), "not the dashboard");
    assert_eq!(s.request("GET", "/api/stats", &with_cookie, "").status, 200);
    let origin = format!("http://{}", s.addr);
    let mut ws = ws_status(&s, "/ws", &[("cookie", &cookie), ("origin", &origin)])
        .await
        .expect("the signed-in dashboard's socket");
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    s.append(line("203.0.113.9", "/signed-in.html"));
    let (hits, _) = collect_hits(&mut ws, 1, Duration::from_secs(5)).await;
    assert_eq!(hits[0]["path"], "/signed-in.html");

    // Scripts and Prometheus: a bearer token; the token itself as the cookie works too.
    let auth = bearer();
    assert_eq!(
        s.request("GET", "/metrics", &[("authorization", &auth)], "")
            .status,
        200
    );
    let raw_cookie = format!("webpeek_token={TOKEN}");
    assert_eq!(
        s.request("GET", "/api/stats", &[("cookie", &raw_cookie)], "")
            .status,
        200
    );
}

#[tokio::test]
async fn token_link_signs_in_once_and_only_on_the_page() {
    let s = Server::start(&["--token", TOKEN]);
    // Signed in: a page that moves on to `/` by itself (not a redirect, which after a link
    // from another site would not carry the SameSite=Strict cookie), so the token leaves the
    // address bar.
    let r = s.request("GET", &format!("/?token={TOKEN}"), &[], "");
    assert_eq!(r.status, 200);
    let body = &r.body;
    assert!(
        body.contains(r#"<meta http-equiv="refresh" content="0;url=/">"#),
        "{body}"
    );
    assert!(!body.contains(TOKEN));
    assert!(
        r.header("set-cookie")
            .unwrap()
            .starts_with("webpeek_token=s1.")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    // A wrong link: on to the sign-in page, the token out of the address bar there too.
    let r = s.request("GET", "/?token=nope", &[], "");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/?signin=refused"));
    assert!(r.header("set-cookie").is_none());
    let r = s.request("GET", "/?signin=refused", &[], "");
    assert_eq!(r.status, 401);
    assert!(r.body.contains("That token is not right."));
    // From another site's <img>, fetch or hidden frame (not a top-level navigation): ignored,
    // and not counted.
    for _ in 0..6 {
        for headers in [
            &[("sec-fetch-mode", "no-cors")][..],
            &[("sec-fetch-mode", "navigate"), ("sec-fetch-dest", "iframe")],
        ] {
            let r = s.request("GET", "/?token=nope", headers, "");
            assert_eq!(r.status, 401, "{headers:?}");
        }
    }
    assert_eq!(
        s.request(
            "GET",
            &format!("/?token={TOKEN}"),
            &[("sec-fetch-mode", "navigate")],
            ""
        )
        .status,
        200,
        "a navigation with the right token is not locked out by the images and frames"
    );
    // `bearer` is as good as `Bearer` (the scheme is case-insensitive).
    let lower = format!("bearer {TOKEN}");
    assert_eq!(
        s.request("GET", "/api/stats", &[("authorization", &lower)], "")
            .status,
        200
    );
    // `?token=` anywhere else is not a way in.
    for path in ["/api/stats", "/metrics"] {
        let r = s.request("GET", &format!("{path}?token={TOKEN}"), &[], "");
        assert_eq!(r.status, 401, "{path}");
    }
    assert_eq!(
        ws_status(&s, &format!("/ws?token={TOKEN}"), &[])
            .await
            .unwrap_err(),
        401
    );
}

#[tokio::test]
async fn expired_tampered_and_foreign_cookies_are_refused() {
    let s = Server::start(&["--token", TOKEN]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let valid = webpeek::web::session_cookie(TOKEN, now + 3600);
    let expired = webpeek::web::session_cookie(TOKEN, now - 1);
    let tampered = valid.replacen(&(now + 3600).to_string(), &(now + 9_999_999).to_string(), 1);
    let foreign = webpeek::web::session_cookie("another-token", now + 3600);
    let ok = format!("webpeek_token={valid}");
    assert_eq!(
        s.request("GET", "/api/stats", &[("cookie", &ok)], "")
            .status,
        200
    );
    for (what, value) in [
        ("expired", expired),
        ("tampered", tampered),
        ("signed with another token", foreign),
        ("garbage", "s1.0.zz".into()),
    ] {
        let cookie = format!("webpeek_token={value}");
        let r = s.request("GET", "/", &[("cookie", &cookie)], "");
        assert_eq!(r.status, 401, "{what}");
        assert!(r.body.contains("<form"), "{what}: no sign-in page");
        assert_eq!(
            s.request("GET", "/api/stats", &[("cookie", &cookie)], "")
                .status,
            401,
            "{what}"
        );
        assert_eq!(
            ws_status(&s, "/ws", &[("cookie", &cookie)])
                .await
                .unwrap_err(),
            401,
            "{what}"
        );
    }
}

#[tokio::test]
async fn repeated_failures_are_refused_per_address_without_locking_out_others() {
    let s = Server::start(&["--token", TOKEN]);
    let wrong = [("authorization", "Bearer wrong")];
    // Ten wrong tries are answered 401 (each after a short wait); the allowance comes back at
    // one try per 6 s, so on a slow machine the 11th or 12th is the first 429.
    let mut statuses = Vec::new();
    let first_429 = loop {
        let r = s.request("GET", "/api/stats", &wrong, "");
        statuses.push(r.status);
        if r.status == 429 || statuses.len() == 13 {
            break r;
        }
    };
    let wrong_count = statuses.len() - 1;
    assert!(
        statuses[..wrong_count].iter().all(|&s| s == 401),
        "{statuses:?}"
    );
    assert!((10..=12).contains(&wrong_count), "{statuses:?}");
    let wait: u64 = first_429.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=120).contains(&wait), "Retry-After {wait}");
    // Guessing on while refused keeps the address out.
    for _ in 0..3 {
        assert_eq!(s.request("GET", "/api/stats", &wrong, "").status, 429);
    }
    // The limited address is refused even with the right token (else the limit would tell a
    // guesser when it is right) ...
    let auth = bearer();
    assert_eq!(
        s.request("GET", "/api/stats", &[("authorization", &auth)], "")
            .status,
        429
    );
    let form = [("content-type", "application/x-www-form-urlencoded")];
    assert_eq!(
        s.request("POST", "/", &form, &format!("token={TOKEN}"))
            .status,
        429
    );
    // ... while another address signs in at once.
    let r = http_request(
        s.addr,
        Some(OTHER_CLIENT),
        "GET",
        "/api/stats",
        &[("authorization", &auth)],
        "",
    );
    assert_eq!(r.status, 200);
    let metrics = http_request(
        s.addr,
        Some(OTHER_CLIENT),
        "GET",
        "/metrics",
        &[("authorization", &auth)],
        "",
    );
    assert!(
        metrics.body.contains(&format!(
            "webpeek_auth_failures_total{{kind=\"wrong\"}} {wrong_count}"
        )),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("webpeek_auth_failures_total{kind=\"limited\"} 6"),
        "{}",
        metrics.body
    );
}

#[tokio::test]
async fn token_from_a_file_or_the_environment() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = Server::start(&["--token-file", file.to_str().unwrap()]);
    s.wait_output("others can read it", Duration::from_secs(5));
    // Readable by a group of its own (root:webpeek 640, as contrib/webpeek.service sets it up)
    // is what it should be: no warning.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let grouped = Server::start(&["--token-file", file.to_str().unwrap()]);
    assert_eq!(grouped.get("/healthz", &[]).0, 200);
    assert_eq!(grouped.count_output("can read it"), 0);
    let auth = bearer();
    assert_eq!(
        s.request("GET", "/api/stats", &[("authorization", &auth)], "")
            .status,
        200
    );
    assert_eq!(s.request("GET", "/api/stats", &[], "").status, 401);

    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("access.log");
    common::append(&log, "");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .args(["--listen", "127.0.0.1:0", "--no-dns"])
        .arg(&log)
        .env("WEBPEEK_TOKEN", TOKEN)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let s = Server::adopt(child, log_dir, log);
    assert_eq!(
        s.request("GET", "/api/stats", &[("authorization", &auth)], "")
            .status,
        200
    );
    assert_eq!(s.request("GET", "/api/stats", &[], "").status, 401);
}

/// A token as the README makes it (`head -c 24 /dev/urandom | base64`) may hold `+` and `/`:
/// the `?token=` link with it pasted as is signs in (a `+` was read as a space and refused).
#[tokio::test]
async fn a_token_link_with_base64_characters_signs_in() {
    let token = "ab+cd/ef+gh/ij+k";
    let s = Server::start(&["--token", token]);
    let r = s.request("GET", &format!("/?token={token}"), &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("set-cookie").is_some(), "signed in");
    // Percent-encoded, as a careful link would be, too.
    let r = s.request("GET", "/?token=ab%2Bcd%2Fef%2Bgh%2Fij%2Bk", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
}

// ---------- TLS ----------

/// A self-signed certificate for 127.0.0.1 and localhost: (cert PEM, key PEM, cert DER).
fn certificate(name: &str) -> (String, String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

fn tls_client(trusted: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for der in trusted {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.to_vec()))
            .unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

type TlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn tls_connect(addr: SocketAddr, trusted: &[&[u8]]) -> std::io::Result<TlsStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    tls_client(trusted).connect(name, tcp).await
}

/// The DER of the certificate the server presents (accepting any of `trusted`).
async fn served_certificate(addr: SocketAddr, trusted: &[&[u8]]) -> Option<Vec<u8>> {
    let tls = tls_connect(addr, trusted).await.ok()?;
    tls.get_ref().1.peer_certificates().map(|c| c[0].to_vec())
}

/// One request over HTTPS.
async fn https_request(
    addr: SocketAddr,
    trusted: &[u8],
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> common::Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tls = tls_connect(addr, &[trusted]).await.unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut raw)).await;
    common::parse_reply(&raw)
}

fn write_pair(dir: &Path, cert: &str, key: &str) -> (String, String) {
    let c = dir.join("fullchain.pem");
    let k = dir.join("privkey.pem");
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (
        c.to_str().unwrap().to_string(),
        k.to_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn tls_serves_https_and_wss_with_a_secure_cookie() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, der) = certificate("webpeek test");
    let (c, k) = write_pair(certs.path(), &cert, &key);
    let s = Server::start(&["--token", TOKEN, "--tls-cert", &c, "--tls-key", &k]);
    s.wait_output("serving https://", Duration::from_secs(5));
    let r = https_request(s.addr, &der, "GET", "/healthz", &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    let r = https_request(s.addr, &der, "GET", "/", &[], "").await;
    assert_eq!(r.status, 401);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let r = https_request(s.addr, &der, "POST", "/", &form, &format!("token={TOKEN}")).await;
    assert_eq!(r.status, 303);
    let set = r.header("set-cookie").unwrap();
    assert!(set.ends_with("; Secure"), "{set}");
    let cookie = cookie_of(set);

    // wss:// with the cookie, as the page in a browser would.
    let tls = tls_connect(s.addr, &[&der]).await.unwrap();
    let mut req = format!("wss://{}/ws", s.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("cookie", HeaderValue::from_str(&cookie).unwrap());
    req.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&format!("https://{}", s.addr)).unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::client_async(req, tls).await.unwrap();
    let hello = loop {
        if let Some(Ok(tungstenite::Message::Text(t))) = ws.next().await {
            break serde_json::from_str::<serde_json::Value>(&t).unwrap();
        }
    };
    assert_eq!(hello["type"], "hello");
    s.append(line("203.0.113.9", "/over-tls.html"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let msg = tokio::time::timeout_at(deadline.into(), ws.next())
            .await
            .expect("no hit over wss");
        if let Some(Ok(tungstenite::Message::Text(t))) = msg
            && t.contains("/over-tls.html")
        {
            break;
        }
    }
    // Plain HTTP on the TLS port gets nothing useful.
    let r = http_request(s.addr, None, "GET", "/healthz", &[], "");
    assert_ne!(r.status, 200);
}

#[tokio::test]
async fn certificates_reload_on_change_and_on_sighup_and_a_broken_file_keeps_the_old() {
    let certs = tempfile::tempdir().unwrap();
    let (cert_a, key_a, der_a) = certificate("A");
    let (cert_b, key_b, der_b) = certificate("B");
    let (cert_c, key_c, der_c) = certificate("C");
    let all: [&[u8]; 3] = [&der_a, &der_b, &der_c];
    let (c, k) = write_pair(certs.path(), &cert_a, &key_a);
    let s = Server::start(&["--tls-cert", &c, "--tls-key", &k]);
    s.wait_output("serving https://", Duration::from_secs(5));
    assert_eq!(served_certificate(s.addr, &all).await.unwrap(), der_a);

    // certbot renews in place: the new pair is served without a restart.
    write_pair(certs.path(), &cert_b, &key_b);
    let deadline = Instant::now() + Duration::from_secs(10);
    while served_certificate(s.addr, &all).await.unwrap() != der_b {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A broken certificate file: the old one stays in service, and the log says why.
    std::fs::write(&c, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    s.wait_output("kept the previous certificate", Duration::from_secs(10));
    assert_eq!(served_certificate(s.addr, &all).await.unwrap(), der_b);

    // SIGHUP alone reloads: write C with the very same sizes and times, so only the signal
    // can tell webpeek.
    let pad = |pem: &str| format!("{pem}{}", " ".repeat(4096 - pem.len()));
    write_pair(certs.path(), &pad(&cert_a), &pad(&key_a));
    let deadline = Instant::now() + Duration::from_secs(10);
    while served_certificate(s.addr, &all).await.unwrap() != der_a {
        assert!(
            Instant::now() < deadline,
            "the repaired files were never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let times = |p: &str| std::fs::metadata(p).unwrap().modified().unwrap();
    let (tc, tk) = (times(&c), times(&k));
    std::fs::write(&c, pad(&cert_c)).unwrap();
    std::fs::write(&k, pad(&key_c)).unwrap();
    for (p, t) in [(&c, tc), (&k, tk)] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        served_certificate(s.addr, &all).await.unwrap(),
        der_a,
        "reloaded without being asked"
    );
    std::process::Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while served_certificate(s.addr, &all).await.unwrap() != der_c {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.wait_output("(SIGHUP)", Duration::from_secs(5));
}

/// Without TLS, `systemctl reload` (SIGHUP, as contrib/webpeek.service sends it) reloads
/// nothing and ends nothing: the viewer stays, hits go on, SIGTERM still stops it cleanly.
#[tokio::test]
async fn sighup_without_tls_ends_nothing() {
    let s = Server::start(&[]);
    let mut ws = s.viewer().await;
    std::process::Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()
        .unwrap();
    s.wait_output("SIGHUP: nothing to reload", Duration::from_secs(5));
    s.append(line("203.0.113.9", "/after-reload"));
    let (hits, _) = collect_hits(&mut ws, 1, Duration::from_secs(10)).await;
    assert_eq!(hits[0]["path"], "/after-reload");
    assert!(s.terminate().success());
}

/// A soft limit of open files below the hard one is raised to it (each viewer is an open file);
/// a hard limit below --max-viewers is said at start, with what to do.
#[test]
fn a_low_open_file_limit_is_raised_and_one_too_low_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    common::append(&log, "");
    let child = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -Sn 64 && ulimit -Hn 2048 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_webpeek"))
        .args(["--listen", "127.0.0.1:0", "--no-dns"])
        .arg(&log)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let s = Server::adopt(child, dir, log);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", s.child.id())).unwrap();
    let open_files: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(open_files[3..5], ["2048", "2048"], "{limits}");
    s.wait_output("open files limited to 2048", Duration::from_secs(5));
    s.wait_output("LimitNOFILE=10256", Duration::from_secs(1));
}

/// Runs webpeek expecting it to refuse to start: (exit code, stderr).
fn refused_start(args: &[&str]) -> (Option<i32>, String) {
    let listen: &[&str] = if args.contains(&"--listen") {
        &[]
    } else {
        &["--listen", "127.0.0.1:0"]
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_webpeek"))
        .args(listen)
        .args(["--no-dns", "-"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

#[test]
fn bad_certificates_are_one_clear_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a, _) = certificate("A");
    let (_, key_b, _) = certificate("B");
    let (c, k) = write_pair(dir.path(), &cert_a, &key_b);
    let (code, err) = refused_start(&["--tls-cert", &c, "--tls-key", &k]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--tls-key") && err.contains("does not belong"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let (c, k) = write_pair(dir.path(), "hello\n", &key_a);
    let (code, err) = refused_start(&["--tls-cert", &c, "--tls-key", &k]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--tls-cert") && err.contains("no certificate"),
        "{err}"
    );

    let (c, k) = write_pair(dir.path(), &cert_a, &cert_a);
    let (code, err) = refused_start(&["--tls-cert", &c, "--tls-key", &k]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--tls-key") && err.contains("no private key"),
        "{err}"
    );

    let (code, err) = refused_start(&["--tls-cert", "/no/cert.pem", "--tls-key", &k]);
    assert_eq!(code, Some(2));
    assert!(err.contains("/no/cert.pem"), "{err}");

    // A key encrypted with a passphrase is said to be one (it was "no private key").
    let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkq\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let (c, k) = write_pair(dir.path(), &cert_a, encrypted);
    let (code, err) = refused_start(&["--tls-cert", &c, "--tls-key", &k]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--tls-key") && err.contains("encrypted with a passphrase"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

// ---------- behind a proxy ----------

#[tokio::test]
async fn base_path_serves_everything_under_the_prefix() {
    let s = Server::start(&["--base-path", "/webpeek/", "--token", TOKEN]);
    let r = s.request("GET", "/webpeek", &[], "");
    assert_eq!((r.status, r.header("location")), (308, Some("/webpeek/")));
    for outside in ["/", "/ws", "/api/stats", "/assets/app.js", "/healthz"] {
        assert_eq!(s.request("GET", outside, &[], "").status, 404, "{outside}");
    }
    let r = s.request("GET", &format!("/webpeek/?token={TOKEN}"), &[], "");
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .contains(r#"<meta http-equiv="refresh" content="0;url=/webpeek/">"#),
        "{}",
        r.body
    );
    let set = r.header("set-cookie").unwrap();
    assert!(set.contains("Path=/webpeek/;"), "{set}");
    let cookie = cookie_of(set);
    let page = s.request("GET", "/webpeek/", &[("cookie", &cookie)], "");
    assert_eq!(page.status, 200);
    // The page's links are relative, so they stay under the prefix.
    assert!(page.body.contains("src=\"assets/app.js\""), "{}", page.body);
    for path in [
        "/webpeek/assets/app.js",
        "/webpeek/assets/style.css",
        "/webpeek/healthz",
        "/webpeek/countdown",
        "/webpeek/echo",
    ] {
        assert_eq!(s.request("GET", path, &[], "").status, 200, "{path}");
    }
    assert_eq!(
        s.request("GET", "/webpeek/api/stats", &[("cookie", &cookie)], "")
            .status,
        200
    );
    let origin = format!("http://{}", s.addr);
    let mut ws = ws_status(
        &s,
        "/webpeek/ws",
        &[("cookie", &cookie), ("origin", &origin)],
    )
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    // The seed's test sockets hold viewer slots: with a token, signed-in viewers only.
    assert_eq!(
        ws_status(&s, "/webpeek/echo/ws", &[("origin", &origin)])
            .await
            .unwrap_err(),
        401
    );
    assert!(
        ws_status(
            &s,
            "/webpeek/echo/ws",
            &[("origin", &origin), ("cookie", &cookie)]
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    // Trusted (the proxy is 127.0.0.1): the viewer is the forwarded address, so its own
    // requests are hidden and the proxy's address is an ordinary client.
    let s = Server::start(&["--trust-proxy", "127.0.0.1/32", "--token", TOKEN]);
    let auth = bearer();
    let mut ws = s
        .ws_with(
            "/ws",
            &[
                ("authorization", &auth),
                ("x-forwarded-for", "6.6.6.6, 203.0.113.50"),
            ],
        )
        .await
        .unwrap();
    next_json(&mut ws).await;
    s.append(line("203.0.113.50", "/viewer-own.html"));
    s.append(line("127.0.0.1", "/proxy-host.html"));
    let (hits, _) = collect_hits(&mut ws, 1, Duration::from_secs(5)).await;
    assert_eq!(
        hits[0]["path"], "/proxy-host.html",
        "the viewer's own request was shown"
    );

    // Untrusted default: the viewer is 127.0.0.1 and its requests are the hidden ones.
    let s = Server::start(&[]);
    let origin = format!("http://{}", s.addr);
    let mut ws = s
        .ws_with(
            "/ws",
            &[("origin", &origin), ("x-forwarded-for", "203.0.113.50")],
        )
        .await
        .unwrap();
    next_json(&mut ws).await;
    s.append(line("127.0.0.1", "/own.html"));
    s.append(line("203.0.113.50", "/claimed.html"));
    let (hits, _) = collect_hits(&mut ws, 1, Duration::from_secs(5)).await;
    assert_eq!(hits[0]["path"], "/claimed.html");
}

// ---------- limits ----------

#[tokio::test]
async fn viewers_past_the_limits_get_503() {
    let s = Server::start(&["--max-viewers", "70"]);
    let origin = format!("http://{}", s.addr);
    let mut open = Vec::new();
    for _ in 0..64 {
        open.push(
            s.ws_with("/ws", &[("origin", &origin)])
                .await
                .expect("within the limit"),
        );
    }
    // The 65th from one address.
    assert_eq!(
        ws_status(&s, "/ws", &[("origin", &origin)])
            .await
            .unwrap_err(),
        503
    );
    // Another address still gets in, up to --max-viewers in all.
    let other = format!("ws://{}/ws", s.addr).into_client_request().unwrap();
    let mut others = Vec::new();
    for i in 0..7 {
        let tcp = common::tcp_from(s.addr, OTHER_CLIENT).await;
        let result = tokio_tungstenite::client_async(other.clone(), tcp).await;
        match (i, result) {
            (0..6, Ok((ws, _))) => others.push(ws),
            (6, Err(tungstenite::Error::Http(r))) => assert_eq!(r.status(), 503),
            (i, r) => panic!("viewer {i}: {:?}", r.map(|_| ())),
        }
    }
    // Seed sockets count too.
    assert_eq!(ws_status(&s, "/echo/ws", &[]).await.unwrap_err(), 503);
    assert_eq!(
        s.metric(
            None,
            "webpeek_refused_upgrades_total{reason=\"max_viewers_per_ip\"}"
        ),
        1
    );
    assert_eq!(
        s.metric(
            None,
            "webpeek_refused_upgrades_total{reason=\"max_viewers\"}"
        ),
        2
    );
    // A viewer leaving makes room.
    open.truncate(60);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ws_status(&s, "/ws", &[("origin", &origin)]).await.is_err() {
        assert!(Instant::now() < deadline, "no room after viewers left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A foreign Origin is counted too.
    assert_eq!(
        ws_status(&s, "/ws", &[("origin", "http://evil.example")])
            .await
            .unwrap_err(),
        403
    );
    assert_eq!(
        s.metric(None, "webpeek_refused_upgrades_total{reason=\"origin\"}"),
        1
    );
}

/// Waits for the socket's close frame: its code.
async fn close_code(ws: &mut common::Ws) -> Option<u16> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline.into(), ws.next()).await {
            Err(_) => panic!("the socket stayed open"),
            Ok(Some(Ok(tungstenite::Message::Close(frame)))) => {
                return frame.map(|f| u16::from(f.code));
            }
            Ok(Some(Ok(_))) => continue,
            Ok(_) => return None,
        }
    }
}

#[tokio::test]
async fn a_message_over_4_kib_closes_that_socket_with_1009() {
    let s = Server::start(&[]);
    let mut kept = s.viewer().await;
    let mut ws = s.viewer().await;
    // A small control message is fine.
    common::send_json(
        &mut ws,
        serde_json::json!({"type": "resume", "after": 0, "pad": "x".repeat(3000)}),
    )
    .await;
    s.append(line("203.0.113.9", "/still-open.html"));
    collect_hits(&mut ws, 1, Duration::from_secs(5)).await;
    ws.send(tungstenite::Message::Text("x".repeat(8 * 1024).into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1009));
    // Nobody else is affected.
    collect_hits(&mut kept, 1, Duration::from_secs(5)).await;
    s.append(line("203.0.113.9", "/after.html"));
    let (hits, _) = collect_hits(&mut kept, 1, Duration::from_secs(5)).await;
    assert_eq!(hits[0]["path"], "/after.html");
    assert_eq!(
        s.metric(None, "webpeek_dropped_viewers_total{reason=\"oversize\"}"),
        1
    );
    // The echo test too.
    let mut echo = s.ws_with("/echo/ws", &[]).await.unwrap();
    echo.send(tungstenite::Message::Text("x".repeat(8 * 1024).into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut echo).await, Some(1009));
}

#[tokio::test]
async fn a_viewer_that_stops_answering_pings_is_dropped() {
    let s = Server::start(&["--ping-interval", "0.3", "--ping-timeout", "1.5"]);
    // This one reads (tungstenite answers pings while reading) ...
    let mut alive = s.viewer().await;
    // ... this one never reads again, so it never answers.
    let _silent = s.viewer().await;
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        let deadline = Instant::now() + Duration::from_secs(4);
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline.into(), alive.next()).await {
            pings += matches!(msg, tungstenite::Message::Ping(_)) as u32;
        }
        (pings, alive)
    });
    let (pings, mut alive) = reader.await.unwrap();
    assert!(pings >= 5, "{pings} pings in 4 s");
    assert_eq!(
        s.metric(None, "webpeek_dropped_viewers_total{reason=\"silent\"}"),
        1
    );
    assert_eq!(s.metric(None, "webpeek_viewers"), 1);
    s.append(line("203.0.113.9", "/alive.html"));
    let (hits, _) = collect_hits(&mut alive, 1, Duration::from_secs(5)).await;
    assert_eq!(hits[0]["path"], "/alive.html");
}

#[test]
fn slow_and_oversized_request_heads_are_cut_off() {
    use std::io::{Read, Write};
    let s = Server::start(&["--request-timeout", "1"]);
    // Slowloris: a request head that never ends, and a connection that says nothing.
    let mut partial = std::net::TcpStream::connect(s.addr).unwrap();
    write!(partial, "GET / HTTP/1.1\r\nHost: {}\r\nX-Slow: ", s.addr).unwrap();
    let silent = std::net::TcpStream::connect(s.addr).unwrap();
    // A kept-alive connection that sends nothing after its first request.
    let mut idle = std::net::TcpStream::connect(s.addr).unwrap();
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr).unwrap();
    for (what, mut conn) in [
        ("partial head", partial),
        ("silent", silent),
        ("idle keep-alive", idle),
    ] {
        let started = Instant::now();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = Vec::new();
        let _ = conn.read_to_end(&mut buf);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(8), "{what}: open for {took:?}");
        let answer = String::from_utf8_lossy(&buf);
        assert_eq!(
            answer.contains("200 OK"),
            what == "idle keep-alive",
            "{what}: {answer}"
        );
    }
    // A head of 100 KiB of headers is refused.
    let big = "a".repeat(100 * 1024);
    let mut conn = std::net::TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = write!(
        conn,
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Big: {big}\r\n\r\n",
        s.addr
    );
    let mut buf = Vec::new();
    let _ = conn.read_to_end(&mut buf);
    let reply = String::from_utf8_lossy(&buf);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 431"),
        "{reply}"
    );
    // HTTP/2 (prior knowledge, as `curl --http2-prior-knowledge`), which has none of those
    // limits: closed at once, no HTTP/2 answer.
    let mut h2 = std::net::TcpStream::connect(s.addr).unwrap();
    h2.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = h2.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "HTTP/2 kept open"
    );
    assert!(buf.is_empty(), "an HTTP/2 answer: {buf:?}");
    // The server is fine.
    assert_eq!(s.get("/healthz", &[]), (200, "ok".into()));
}

#[test]
fn content_security_policy_frames_only_the_site() {
    let s = Server::start(&["--site", "https://example.com/blog/"]);
    let r = s.request("GET", "/", &[], "");
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-src https://example.com;"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self';"), "{csp}");
    let s = Server::start(&[]);
    let csp = s
        .request("GET", "/", &[], "")
        .header("content-security-policy")
        .unwrap()
        .to_string();
    assert!(csp.contains("frame-src 'none'"), "{csp}");
}

#[test]
fn listening_beyond_loopback_needs_a_token() {
    let (code, err) = refused_start(&["--listen", "0.0.0.0:0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--token"), "{err}");
    let (code, err) = refused_start(&["--trust-proxy", "127.0.0.1"]);
    assert_eq!(code, Some(2));
    assert!(err.starts_with("webpeek: error: --trust-proxy"), "{err}");
}

/// An `--allow-origin` that no browser could send (no scheme, or the dashboard's URL with its
/// path) is refused at start: it used to be accepted, and every WebSocket from that page got 403.
#[test]
fn an_allow_origin_that_is_no_origin_is_refused_at_start() {
    for bad in ["example.com", "https://example.com/webpeek/"] {
        let (code, err) = refused_start(&["--allow-origin", bad]);
        assert_eq!(code, Some(2), "{bad}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("webpeek: error: --allow-origin: "), "{err}");
    }
}
