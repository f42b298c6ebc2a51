//! Who may watch: the Origin check for WebSocket upgrades, the token, and the Host check.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The access rules from the command line.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Required token for `/ws` and `/api/*`.
    pub token: Option<String>,
    /// Origins accepted besides the server's own.
    pub allow_origin: Vec<String>,
    /// Refuse requests whose `Host` is not a loopback name (set when serving on loopback
    /// without a token, so a web page on another site cannot reach us by DNS rebinding).
    pub loopback_hosts_only: bool,
}

impl Access {
    /// Whether a WebSocket upgrade may proceed: not from another site's page. Clients that
    /// send no `Origin` are not browsers and are let through (the token still applies to them).
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
            tracing::info!("refused a WebSocket from foreign origin {origin:?}");
        }
        allowed
    }

    /// Whether the request carries the token, when one is required.
    fn token_ok(&self, req: &Request) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let query = req
            .uri()
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")));
        [bearer, query]
            .into_iter()
            .flatten()
            .any(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
    }
}

/// The answer to an upgrade from a foreign `Origin`.
pub fn foreign_origin() -> Response {
    (
        StatusCode::FORBIDDEN,
        "WebSocket from a foreign Origin refused (see --allow-origin)\n",
    )
        .into_response()
}

/// Compares without stopping at the first difference, so timing does not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

/// Middleware: 401 on `/ws` and `/api/*` without the token.
pub async fn require_token(
    State(access): State<Arc<Access>>,
    req: Request,
    next: Next,
) -> Response {
    if access.token_ok(&req) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            "a valid token is required (?token= or Authorization: Bearer)\n",
        )
            .into_response()
    }
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

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), v.parse().unwrap()))
            .collect()
    }

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
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
