//! The demo: a small real web site on loopback that writes a combined-format access log, and
//! synthetic visitors who browse it over HTTP. webpeek follows that log like any other.
//!
//! Visitors are many people behind one proxy: each request carries `X-Forwarded-For` with the
//! visitor's (documentation-range) address, and the site logs that address as the client. The
//! dashboard's own preview requests carry none, so they are logged as 127.0.0.1, the viewer's
//! own address, and hidden by the default filter, as a real viewer's clicks would be.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use rand::RngExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::hit::Rfc3339;

/// A running demo site.
pub struct Demo {
    /// Base URL of the site (`http://127.0.0.1:PORT`).
    pub url: String,
    /// The access log it writes.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

const PAGES: &[(&str, &str)] = &[
    ("/", "Home"),
    ("/about.html", "About us"),
    ("/blog/", "Blog"),
    ("/blog/2026/11/launch.html", "We launched"),
    (
        "/blog/2026/10/rust-in-production.html",
        "Rust in production",
    ),
    ("/blog/2026/09/fast-logs.html", "Fast logs"),
    ("/docs/", "Documentation"),
    ("/docs/install.html", "Install"),
    ("/docs/configuration.html", "Configuration"),
    ("/docs/faq", "FAQ"),
    ("/pricing", "Pricing"),
    ("/contact.html", "Contact"),
];

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "curl/8.5.0",
];

const REFERERS: &[&str] = &[
    "https://www.google.com/",
    "https://duckduckgo.com/",
    "https://news.ycombinator.com/",
    "https://lobste.rs/",
];

struct Site {
    log: Mutex<std::fs::File>,
}

/// Starts the demo site and its visitors, on `port` of 127.0.0.1 if it is free (so that a
/// dashboard left open across a restart of the demo still may frame the site), else on any.
pub async fn start(port: u16) -> std::io::Result<Demo> {
    let dir = tempfile::Builder::new().prefix("webpeek-demo").tempdir()?;
    let log = dir.path().join("access.log");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let site = Arc::new(Site {
        log: Mutex::new(file),
    });
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
    };
    let addr = listener.local_addr()?;
    let app = Router::new().fallback(page).with_state(site);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    for _ in 0..4 {
        tokio::spawn(visitor(addr));
    }
    Ok(Demo {
        url: format!("http://{addr}"),
        log,
        _dir: dir,
    })
}

fn page_html(title: &str) -> String {
    let links: String = PAGES
        .iter()
        .map(|(p, t)| format!("<li><a href=\"{p}\">{t}</a></li>"))
        .collect();
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{title} — demo site</title>\
         <link rel=stylesheet href=/site.css></head><body><h1>{title}</h1>\
         <p>This page belongs to webpeek's demo site. Its visitors are synthetic.</p>\
         <img src=/logo.svg alt=logo width=64><ul>{links}</ul></body></html>"
    )
}

async fn page(
    State(site): State<Arc<Site>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let path = req.uri().path().to_owned();
    let response = match path.as_str() {
        "/site.css" => ([(header::CONTENT_TYPE, "text/css")], "body{font-family:sans-serif;margin:2em;max-width:40em}").into_response(),
        "/logo.svg" => (
            [(header::CONTENT_TYPE, "image/svg+xml")],
            "<svg xmlns='http://www.w3.org/2000/svg' width='64' height='64'><circle cx='32' cy='32' r='30' fill='#3a7'/></svg>",
        )
            .into_response(),
        "/old-blog" => Redirect::permanent("/blog/").into_response(),
        "/checkout" => (StatusCode::INTERNAL_SERVER_ERROR, "something broke").into_response(),
        p => match PAGES.iter().find(|(pp, _)| *pp == p) {
            Some((_, title)) => Html(page_html(title)).into_response(),
            None => (StatusCode::NOT_FOUND, Html(page_html("Not found"))).into_response(),
        },
    };
    site.write_log(req.headers(), peer, &req, &response);
    response
}

impl Site {
    fn write_log(&self, headers: &HeaderMap, peer: SocketAddr, req: &Request, resp: &Response) {
        let header = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .replace('"', "\\\"")
        };
        let client = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| peer.ip().to_string(), str::to_owned);
        let bytes = axum::body::HttpBody::size_hint(resp.body())
            .exact()
            .unwrap_or(0);
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let line = format!(
            "{client} - - [{}] \"{} {target} HTTP/1.1\" {} {bytes} \"{}\" \"{}\"\n",
            clf_time(crate::unix_now()),
            req.method(),
            resp.status().as_u16(),
            header(header::REFERER),
            header(header::USER_AGENT),
        );
        // One write per line: an O_APPEND write lands whole.
        if let Ok(mut f) = self.log.lock() {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// Unix seconds as `24/Nov/2026:13:08:01 +0000`.
fn clf_time(t: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let iso = Rfc3339(t).to_string(); // 2026-11-24T13:08:01Z
    let month: usize = iso[5..7].parse().unwrap_or(1);
    format!(
        "{}/{}/{}:{} +0000",
        &iso[8..10],
        MONTHS[month - 1],
        &iso[0..4],
        &iso[11..19]
    )
}

/// One synthetic visitor after another: a few pages each, with assets, then the next person.
async fn visitor(site: SocketAddr) {
    loop {
        let (ip, agent, mut referer, pages) = {
            let mut rng = rand::rng();
            let ip = if rng.random_bool(0.15) {
                format!("2001:db8::{:x}", rng.random_range(1..0xffffu32))
            } else {
                let net = ["203.0.113", "198.51.100", "192.0.2"][rng.random_range(0..3)];
                format!("{net}.{}", rng.random_range(1..255))
            };
            let agent = AGENTS[rng.random_range(0..AGENTS.len())];
            let referer = rng
                .random_bool(0.6)
                .then(|| REFERERS[rng.random_range(0..REFERERS.len())].to_owned());
            (ip, agent, referer, rng.random_range(1..6))
        };
        for _ in 0..pages {
            let path = {
                let mut rng = rand::rng();
                match rng.random_range(0..100) {
                    0..3 => "/old-blog".to_owned(),
                    3..5 => "/checkout".to_owned(),
                    5..10 => format!("/missing/{}", rng.random_range(1..50)),
                    10..14 => format!("/docs/?q=search{}", rng.random_range(1..9)),
                    _ => PAGES[rng.random_range(0..PAGES.len())].0.to_owned(),
                }
            };
            get(site, &path, &ip, agent, referer.as_deref()).await;
            if !agent.contains("bot") && !agent.starts_with("curl") {
                let here = format!("http://{site}{path}");
                get(site, "/site.css", &ip, agent, Some(&here)).await;
                get(site, "/logo.svg", &ip, agent, Some(&here)).await;
            }
            referer = Some(format!("http://{site}{path}"));
            let pause = rand::rng().random_range(300..1500);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
}

/// One HTTP/1.1 GET over a fresh connection; the answer is read and dropped.
async fn get(site: SocketAddr, path: &str, ip: &str, agent: &str, referer: Option<&str>) {
    let Ok(Ok(mut stream)) =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(site)).await
    else {
        return;
    };
    let referer = referer
        .map(|r| format!("Referer: {r}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {site}\r\nUser-Agent: {agent}\r\n{referer}X-Forwarded-For: {ip}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(req.as_bytes()).await.is_ok() {
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut sink)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clf_time_matches_the_parser() {
        let s = super::clf_time(1_795_957_681);
        assert_eq!(s, "29/Nov/2026:13:08:01 +0000");
        assert_eq!(crate::parse::parse_clf_time(&s), Some(1_795_957_681));
    }
}
