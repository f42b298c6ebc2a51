//! webpeek behind a real nginx (Debian `nginx-light`, a child process with its own config in
//! a temp dir) under a path prefix, exactly as the README's snippet configures it: the sign-in,
//! the dashboard, its WebSocket, the viewer's real address from X-Forwarded-For, and the
//! per-address limits all work through the proxy. The headless-Chromium side of the same set-up
//! is tests/browser/proxy.test.mjs.

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::nginx::Nginx;
use common::{Reply, Server, collect_hits, http_request, next_json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, http::HeaderValue};

const TOKEN: &str = "proxy-test-token";
const PROXY_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const VIEWER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// The README's nginx snippet, pointed at `upstream`.
pub fn nginx_snippet(upstream: SocketAddr) -> String {
    format!(
        "location = /webpeek {{ return 301 /webpeek/; }}
    location /webpeek/ {{
        proxy_pass http://{upstream};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection \"upgrade\";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 1h;
        proxy_buffering off;
    }}
    location / {{ return 200 \"the site\\n\"; }}"
    )
}

/// webpeek following nginx's own access log, and nginx in front of it.
fn site(extra: &[&str]) -> (Server, Nginx) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    common::append(&log, "");
    let mut args = vec![
        "--base-path",
        "/webpeek/",
        "--trust-proxy",
        "127.0.0.1/32",
        "--token",
        TOKEN,
    ];
    args.extend_from_slice(extra);
    let s = Server::start_on(dir, log, &args);
    let nginx = Nginx::start(s.dir.path(), &nginx_snippet(s.addr));
    (s, nginx)
}

fn through(
    nginx: &Nginx,
    from: IpAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let addr = SocketAddr::from(([127, 0, 0, 1], nginx.port));
    http_request(addr, Some(from), method, path, headers, body)
}

/// A WebSocket to `/webpeek/ws` through the proxy at `front`, from `from`, signed in with
/// `cookie`, from the page's own origin.
async fn viewer_via(front: SocketAddr, from: IpAddr, cookie: &str) -> Result<common::Ws, u16> {
    let tcp = common::tcp_from(front, from).await;
    let mut req = format!("ws://{front}/webpeek/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("cookie", HeaderValue::from_str(cookie).unwrap());
    req.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&format!("http://{front}")).unwrap(),
    );
    match tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(tcp)).await
    {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("WebSocket through {front}: {e}"),
    }
}

async fn viewer_through(nginx: &Nginx, from: IpAddr, cookie: &str) -> Result<common::Ws, u16> {
    viewer_via(SocketAddr::from(([127, 0, 0, 1], nginx.port)), from, cookie).await
}

fn sign_in(nginx: &Nginx, from: IpAddr) -> String {
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let r = through(
        nginx,
        from,
        "POST",
        "/webpeek/",
        &form,
        &format!("token={TOKEN}"),
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/webpeek/"));
    let set = r.header("set-cookie").unwrap();
    assert!(set.contains("Path=/webpeek/;"), "{set}");
    assert!(
        !set.contains("Secure"),
        "plain http through the proxy: {set}"
    );
    set.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn dashboard_sign_in_and_websocket_through_nginx() {
    let (_s, nginx) = site(&[]);
    // The prefix without its slash, the sign-in page, the assets, health.
    let r = through(&nginx, VIEWER, "GET", "/webpeek", &[], "");
    assert_eq!(r.status, 301);
    let r = through(&nginx, VIEWER, "GET", "/webpeek/", &[], "");
    assert_eq!(r.status, 401);
    assert!(r.body.contains("<form"), "{}", r.body);
    assert_eq!(
        through(&nginx, VIEWER, "GET", "/webpeek/assets/app.js", &[], "").status,
        200
    );
    assert_eq!(
        through(&nginx, VIEWER, "GET", "/webpeek/healthz", &[], "").body,
        "ok"
    );
    assert_eq!(
        through(&nginx, VIEWER, "GET", "/webpeek/api/stats", &[], "").status,
        401
    );

    let cookie = sign_in(&nginx, VIEWER);
    let page = through(
        &nginx,
        VIEWER,
        "GET",
        "/webpeek/",
        &[("cookie", &cookie)],
        "",
    );
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"feed\""));
    let mut ws = viewer_through(&nginx, VIEWER, &cookie)
        .await
        .expect("the socket through nginx");
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    // Only what happens from now on (the requests above were shown: no viewer was connected).
    common::send_json(
        &mut ws,
        serde_json::json!({"type": "resume", "after": hello["seq"]}),
    )
    .await;

    // Visits to the site behind the same nginx: the viewer's own (127.0.0.3, known only from
    // X-Forwarded-For) are hidden; others, the proxy host's own address included, are shown.
    through(&nginx, VIEWER, "GET", "/from-the-viewer.html", &[], "");
    through(&nginx, OTHER, "GET", "/from-someone-else.html", &[], "");
    through(
        &nginx,
        PROXY_HOST,
        "GET",
        "/from-the-proxy-host.html",
        &[],
        "",
    );
    let (hits, _) = collect_hits(&mut ws, 2, Duration::from_secs(10)).await;
    let paths: HashSet<_> = hits
        .iter()
        .map(|h| h["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        paths,
        HashSet::from([
            "/from-someone-else.html".to_string(),
            "/from-the-proxy-host.html".to_string()
        ])
    );
    common::assert_no_hits(&mut ws, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn limits_see_the_real_viewer_behind_nginx() {
    let (s, nginx) = site(&["--max-viewers-per-ip", "2"]);
    let cookie = sign_in(&nginx, VIEWER);
    let _a = viewer_through(&nginx, VIEWER, &cookie).await.unwrap();
    let _b = viewer_through(&nginx, VIEWER, &cookie).await.unwrap();
    assert_eq!(
        viewer_through(&nginx, VIEWER, &cookie).await.unwrap_err(),
        503
    );
    // Everyone comes through 127.0.0.1, yet another viewer is not refused.
    let _c = viewer_through(&nginx, OTHER, &cookie)
        .await
        .expect("another viewer");
    // Failed sign-ins are counted against the real address too.
    let form = [("content-type", "application/x-www-form-urlencoded")];
    for _ in 0..10 {
        assert_eq!(
            through(&nginx, OTHER, "POST", "/webpeek/", &form, "token=guess").status,
            401
        );
    }
    assert_eq!(
        through(&nginx, OTHER, "POST", "/webpeek/", &form, "token=guess").status,
        429
    );
    assert_eq!(sign_in(&nginx, VIEWER).len(), cookie.len());
    let auth = format!("Bearer {TOKEN}");
    let metrics = http_request(
        s.addr,
        None,
        "GET",
        "/webpeek/metrics",
        &[("authorization", &auth)],
        "",
    );
    assert!(
        metrics
            .body
            .contains("webpeek_refused_upgrades_total{reason=\"max_viewers_per_ip\"} 1"),
        "{}",
        metrics.body
    );
}

// ---------- Caddy ----------

/// The README's Caddy snippet, pointed at `upstream` (Caddy passes `Host` through and sets
/// X-Forwarded-For and X-Forwarded-Proto by itself; WebSockets need nothing).
pub fn caddy_snippet(upstream: SocketAddr) -> String {
    format!("redir /webpeek /webpeek/\n  handle /webpeek/* {{\n    reverse_proxy {upstream}\n  }}")
}

/// A real Caddy (Debian `caddy`) on a free loopback port, writing its JSON access log to
/// `dir/access.log`; stopped on drop.
struct Caddy {
    child: std::process::Child,
    port: u16,
}

impl Caddy {
    fn start(dir: &std::path::Path, upstream: SocketAddr) -> Caddy {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        let conf = dir.join("Caddyfile");
        std::fs::write(
            &conf,
            format!(
                "{{\n  admin off\n  auto_https off\n}}\n\
                 http://127.0.0.1:{port} {{\n  bind 127.0.0.1\n  log {{\n    output file {d}/access.log {{\n      roll_disabled\n    }}\n    format json\n  }}\n    \
                 {}\n  handle {{\n    respond \"the site\" 200\n  }}\n}}\n",
                caddy_snippet(upstream)
            ),
        )
        .unwrap();
        let child = std::process::Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&conf)
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("caddy is installed");
        let mut caddy = Caddy { child, port };
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = caddy.child.try_wait() {
                panic!(
                    "caddy exited at start ({status}); config:\n{}",
                    std::fs::read_to_string(&conf).unwrap()
                );
            }
            assert!(std::time::Instant::now() < deadline, "caddy did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        caddy
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn dashboard_and_websocket_through_caddy() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    common::append(&log, "");
    let s = Server::start_on(
        dir,
        log,
        &[
            "--base-path",
            "/webpeek/",
            "--trust-proxy",
            "127.0.0.1/32",
            "--token",
            TOKEN,
        ],
    );
    let caddy = Caddy::start(s.dir.path(), s.addr);
    let front = SocketAddr::from(([127, 0, 0, 1], caddy.port));
    let via = |from, method: &str, path: &str, headers: &[(&str, &str)], body: &str| {
        http_request(front, Some(from), method, path, headers, body)
    };
    assert_eq!(via(VIEWER, "GET", "/webpeek", &[], "").status, 302);
    let r = via(VIEWER, "GET", "/webpeek/", &[], "");
    assert_eq!(r.status, 401);
    assert!(r.body.contains("<form"));
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let r = via(
        VIEWER,
        "POST",
        "/webpeek/",
        &form,
        &format!("token={TOKEN}"),
    );
    assert_eq!(
        (r.status, r.header("location")),
        (303, Some("/webpeek/")),
        "{r:?}"
    );
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();

    let mut ws = viewer_via(front, VIEWER, &cookie)
        .await
        .expect("the socket through Caddy");
    let hello = next_json(&mut ws).await;
    common::send_json(
        &mut ws,
        serde_json::json!({"type": "resume", "after": hello["seq"]}),
    )
    .await;
    // Caddy's own JSON access log, followed by webpeek: the viewer's visits are hidden.
    via(VIEWER, "GET", "/from-the-viewer.html", &[], "");
    via(OTHER, "GET", "/from-someone-else.html", &[], "");
    let (hits, _) = collect_hits(&mut ws, 1, Duration::from_secs(10)).await;
    assert_eq!(hits[0]["path"], "/from-someone-else.html");
    assert_eq!(hits[0]["ip"], "127.0.0.2");
    common::assert_no_hits(&mut ws, Duration::from_millis(500)).await;
}
