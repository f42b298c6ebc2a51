//! Who is asking: the real client address (behind a trusted proxy), the Origin check for
//! WebSocket upgrades and forms, and the Host check against DNS rebinding.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::filter::IpBlock;

/// The access rules from the command line.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Origins accepted besides the server's own.
    pub allow_origin: Vec<String>,
    /// Refuse requests whose `Host` is not a loopback name (set when serving on loopback
    /// without a token, so a web page on another site cannot reach us by DNS rebinding).
    pub loopback_hosts_only: bool,
    /// Proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trust_proxy: Vec<IpBlock>,
    /// Whether we serve TLS ourselves.
    pub tls: bool,
}

/// Where a request really comes from: the peer, or with `--trust-proxy` the address the
/// proxy says it forwards for. Put in the request's extensions by [`client_address`].
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// The viewer's address.
    pub ip: IpAddr,
    /// Whether the viewer reached us over TLS (ours, or a trusted proxy's).
    pub https: bool,
}

impl Access {
    /// Whether a WebSocket upgrade (or a sign-in form) may proceed: not from another site's
    /// page. Clients that send no `Origin` are not browsers and are let through (the token
    /// still applies to them).
    pub fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let origin = origin.to_str().unwrap_or("");
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let own = !host.is_empty()
            && origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|o| o.eq_ignore_ascii_case(host));
        let allowed = own
            || self
                .allow_origin
                .iter()
                .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin));
        if !allowed {
            tracing::info!("refused a request from foreign origin {origin:?}");
        }
        allowed
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trust_proxy.iter().any(|b| b.contains(ip))
    }

    /// The real client of a request from `peer`: with `--trust-proxy`, the right-most address
    /// of `X-Forwarded-For` that is not itself a trusted proxy (the left-most ones are
    /// whatever the client chose to send).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Client {
        let peer = peer.to_canonical();
        if !self.trusted(peer) {
            return Client {
                ip: peer,
                https: self.tls,
            };
        }
        let mut ip = peer;
        let forwarded = super::header_list(headers, "x-forwarded-for").collect::<Vec<_>>();
        for hop in forwarded.iter().rev() {
            let Some(hop) = forwarded_address(hop) else {
                break;
            };
            ip = hop.to_canonical();
            if !self.trusted(ip) {
                break;
            }
        }
        let https = self.tls
            || headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Client { ip, https }
    }
}

/// One hop of `X-Forwarded-For` as an address: `203.0.113.9`, `2001:db8::1`, and as some proxies
/// write them, `203.0.113.9:5555` and `[2001:db8::1]:443`.
fn forwarded_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(v6) = hop.strip_prefix('[') {
        return v6.split(']').next()?.parse().ok();
    }
    let (v4, port) = hop.split_once(':')?;
    port.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| v4.parse().ok())?
}

/// The answer to a request from a foreign `Origin`.
pub fn foreign_origin() -> Response {
    (
        StatusCode::FORBIDDEN,
        "refused: request from a foreign Origin (see --allow-origin)\n",
    )
        .into_response()
}

/// Whether a `Host` header names this machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.to_ascii_lowercase().ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Middleware: finds the real client ([`Client`]) and puts it in the request's extensions.
pub async fn client_address(
    State(access): State<Arc<Access>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let client = access.client(peer.ip(), req.headers());
    req.extensions_mut().insert(client);
    next.run(req).await
}

/// Middleware: on loopback without a token, refuse a `Host` that is not loopback.
pub async fn check_host(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    if access.loopback_hosts_only {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !is_loopback_host(host) {
            return (
                StatusCode::FORBIDDEN,
                "this webpeek serves loopback only (Host refused)\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::web::test_headers as headers;

    #[test]
    fn origin_must_be_our_own_or_allowed() {
        let a = Access {
            allow_origin: vec!["https://admin.example.com/".into()],
            ..Default::default()
        };
        assert!(a.origin_allowed(&headers(&[(header::HOST, "127.0.0.1:8083")])));
        let own = headers(&[
            (header::HOST, "127.0.0.1:8083"),
            (header::ORIGIN, "http://127.0.0.1:8083"),
        ]);
        assert!(a.origin_allowed(&own));
        let foreign = headers(&[
            (header::HOST, "127.0.0.1:8083"),
            (header::ORIGIN, "http://evil.example"),
        ]);
        assert!(!a.origin_allowed(&foreign));
        assert_eq!(foreign_origin().status(), StatusCode::FORBIDDEN);
        let allowed = headers(&[
            (header::HOST, "127.0.0.1:8083"),
            (header::ORIGIN, "https://admin.example.com"),
        ]);
        assert!(a.origin_allowed(&allowed));
        let null = headers(&[(header::HOST, "127.0.0.1:8083"), (header::ORIGIN, "null")]);
        assert!(!a.origin_allowed(&null));
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:8083",
            "localhost",
            "LOCALHOST:80",
            "[::1]:8083",
            "app.localhost:1",
            "127.1.2.3",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.example:8083",
            "192.168.1.5",
            "",
            "[2001:db8::1]:80",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let a = Access {
            trust_proxy: vec![
                "127.0.0.1/32".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
            ],
            ..Default::default()
        };
        let xff = headers(&[
            (
                header::HeaderName::from_static("x-forwarded-for"),
                "6.6.6.6, 203.0.113.9, 10.1.1.1",
            ),
            (
                header::HeaderName::from_static("x-forwarded-proto"),
                "https",
            ),
        ]);
        let c = a.client("127.0.0.1".parse().unwrap(), &xff);
        assert_eq!(c.ip, "203.0.113.9".parse::<IpAddr>().unwrap());
        assert!(c.https);
        // From anyone else the header is the client's own claim: ignored.
        let c = a.client("198.51.100.4".parse().unwrap(), &xff);
        assert_eq!(c.ip, "198.51.100.4".parse::<IpAddr>().unwrap());
        assert!(!c.https);
        // No header, or garbage: the proxy itself.
        let c = a.client("127.0.0.1".parse().unwrap(), &HeaderMap::new());
        assert_eq!(c.ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        for (hop, ip) in [
            ("203.0.113.9:5555", "203.0.113.9"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            (" 2001:db8::2 ", "2001:db8::2"),
        ] {
            let h = headers(&[(header::HeaderName::from_static("x-forwarded-for"), hop)]);
            let c = a.client("127.0.0.1".parse().unwrap(), &h);
            assert_eq!(c.ip, ip.parse::<IpAddr>().unwrap(), "{hop}");
        }
        let junk = headers(&[(header::HeaderName::from_static("x-forwarded-for"), "nope")]);
        assert_eq!(
            a.client("127.0.0.1".parse().unwrap(), &junk).ip,
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}
