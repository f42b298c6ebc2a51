//! Sign-in: the token, the session cookie that carries it, the sign-in page, and the
//! per-address limit on failed attempts.
//!
//! A viewer proves it knows the token in one of three ways: `Authorization: Bearer TOKEN`
//! (scripts, Prometheus), the `webpeek_token` cookie, or once as `?token=` on the dashboard's
//! own path, which answers with a redirect that sets the cookie and drops the query (so the
//! token leaves the address bar and the history). The cookie holds either the token itself
//! (a script may set it so) or, as webpeek sets it, a *session*: an expiry and an HMAC of it
//! keyed by the token. A session therefore never reveals the token, ends by itself after
//! [`SESSION_DAYS`], and ends for everyone the moment the token is changed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ring::hmac;

/// The cookie's name.
pub const COOKIE: &str = "webpeek_token";
/// How long a sign-in lasts.
pub const SESSION_DAYS: u64 = 30;
/// Failed attempts an address may make at once before it is refused (429) ...
const FAILURE_BURST: f64 = 10.0;
/// ... and how fast its allowance comes back: one attempt every 6 s.
const FAILURE_LEAK_PER_SEC: f64 = 1.0 / 6.0;
/// Attempts while refused still count, up to this: at most a minute of waiting after the last.
const FAILURE_CAP: f64 = 2.0 * FAILURE_BURST;
/// Addresses remembered for the failure limit; past this, those whose allowance is whole again
/// are forgotten (and, under a flood of distinct addresses, all of them).
const FAILURE_TABLE_MAX: usize = 65_536;

/// What a request's credentials amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No token is configured, or the request carries a valid one.
    Granted,
    /// No credential at all, or a session that has expired: not an attempt to guess.
    Missing,
    /// A wrong token or a forged cookie (counted against the address).
    Refused,
    /// This address failed too often: refused without looking, for this many seconds.
    Limited(u64),
}

/// The token and everything that checks it.
#[derive(Debug)]
pub struct Auth {
    token: Option<String>,
    key: Option<hmac::Key>,
    failures: FailureLimit,
}

impl Auth {
    /// Checks against `token`; `None` lets everyone in.
    pub fn new(token: Option<String>) -> Auth {
        let key = token
            .as_ref()
            .map(|t| hmac::Key::new(hmac::HMAC_SHA256, t.as_bytes()));
        Auth {
            token,
            key,
            failures: FailureLimit::default(),
        }
    }

    /// Whether viewers must sign in.
    pub fn required(&self) -> bool {
        self.token.is_some()
    }

    /// Judges the credentials in `headers` (bearer, cookie) of a request from `ip`; counts a
    /// wrong token against `ip`.
    ///
    /// A session cookie is judged first and is never counted: its HMAC cannot be guessed, so a
    /// signed-in viewer is let in even from an address that others made guess too often, and a
    /// stale session (the token changed, the dashboard retrying) does not lock its address out.
    pub fn verdict(&self, headers: &HeaderMap, ip: IpAddr) -> Verdict {
        if self.token.is_none() {
            return Verdict::Granted;
        }
        let now = crate::unix_now();
        let (sessions, raw_cookies): (Vec<&str>, Vec<&str>) =
            cookies(headers, COOKIE).partition(|v| v.starts_with("s1."));
        for value in &sessions {
            if self.cookie_state(value, now) == CookieState::Valid {
                return Verdict::Granted;
            }
        }
        let bearer: Vec<&str> = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            // The scheme is case-insensitive (RFC 9110): `bearer TOKEN` too.
            .filter_map(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .collect();
        let tokens = bearer.iter().chain(&raw_cookies);
        if tokens.clone().next().is_none() {
            // Nothing but stale sessions, or nothing at all: sign in again.
            return Verdict::Missing;
        }
        if let Some(wait) = self.failures.limited(ip) {
            // Refused without looking; a token tried meanwhile counts as one more failure, so an
            // address that keeps guessing stays out.
            self.failures.fail(ip);
            return Verdict::Limited(wait);
        }
        for given in tokens {
            if self.token_matches(given.trim()) {
                return Verdict::Granted;
            }
        }
        self.failures.fail(ip);
        Verdict::Refused
    }

    /// Checks a token typed into the sign-in page or given as `?token=`; counts a wrong one.
    pub fn sign_in(&self, given: &str, ip: IpAddr) -> Verdict {
        if self.token.is_none() {
            return Verdict::Granted;
        }
        if let Some(wait) = self.failures.limited(ip) {
            self.failures.fail(ip);
            return Verdict::Limited(wait);
        }
        if self.token_matches(given.trim()) {
            Verdict::Granted
        } else {
            self.failures.fail(ip);
            Verdict::Refused
        }
    }

    /// A new session cookie's value, valid for [`SESSION_DAYS`].
    pub fn new_session(&self) -> Option<String> {
        let expiry = crate::unix_now() as u64 + SESSION_DAYS * 86_400;
        self.key.as_ref().map(|key| session_value(key, expiry))
    }

    fn token_matches(&self, given: &str) -> bool {
        self.token
            .as_deref()
            .is_some_and(|t| constant_time_eq(given.as_bytes(), t.as_bytes()))
    }

    fn cookie_state(&self, value: &str, now: i64) -> CookieState {
        if self.token_matches(value) {
            return CookieState::Valid;
        }
        let Some(key) = &self.key else {
            return CookieState::Forged;
        };
        let Some((signed, mac)) = value.rsplit_once('.') else {
            return CookieState::Forged;
        };
        let Some(expiry) = signed
            .strip_prefix("s1.")
            .and_then(|e| e.parse::<u64>().ok())
        else {
            return CookieState::Forged;
        };
        let Some(mac) = hex_decode(mac) else {
            return CookieState::Forged;
        };
        // ring compares the tags in constant time.
        if hmac::verify(key, signed.as_bytes(), &mac).is_err() {
            return CookieState::Forged;
        }
        if expiry as i64 <= now {
            CookieState::Expired
        } else {
            CookieState::Valid
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum CookieState {
    Valid,
    Expired,
    Forged,
}

/// The value of a session cookie for `token` that ends at `expiry` (Unix seconds):
/// `s1.EXPIRY.HEX(HMAC-SHA256(token, "s1.EXPIRY"))`. Public so tests and scripts can make one.
pub fn session_cookie(token: &str, expiry: u64) -> String {
    session_value(&hmac::Key::new(hmac::HMAC_SHA256, token.as_bytes()), expiry)
}

fn session_value(key: &hmac::Key, expiry: u64) -> String {
    let signed = format!("s1.{expiry}");
    let tag = hmac::sign(key, signed.as_bytes());
    let mut out = signed;
    out.push('.');
    for b in tag.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The values of every cookie called `name` in the request's `Cookie` headers.
fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.trim_matches('"'))
        })
}

/// Compares without stopping at the first difference, so timing does not leak the token.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `Set-Cookie` header for a session, scoped to the base path; `Secure` when the viewer
/// reached us over TLS.
pub fn set_cookie(value: &str, path: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = SESSION_DAYS * 86_400;
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("cookie value is ASCII")
}

/// A leaky bucket of failed attempts per client address (IPv6 by /64, what one host holds).
#[derive(Debug, Default)]
struct FailureLimit {
    table: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    fn level_now(&self, now: Instant) -> f64 {
        (self.level - now.duration_since(self.at).as_secs_f64() * FAILURE_LEAK_PER_SEC).max(0.0)
    }
}

fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl FailureLimit {
    /// Seconds until `ip` may try again, when it has used up its attempts.
    fn limited(&self, ip: IpAddr) -> Option<u64> {
        let table = self.table.lock().expect("failure table");
        let level = table.get(&bucket_key(ip))?.level_now(Instant::now());
        // Refused while one more failure would go past the burst.
        (level + 1.0 > FAILURE_BURST).then(|| {
            ((level + 1.0 - FAILURE_BURST) / FAILURE_LEAK_PER_SEC)
                .ceil()
                .max(1.0) as u64
        })
    }

    fn fail(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut table = self.table.lock().expect("failure table");
        if table.len() >= FAILURE_TABLE_MAX {
            table.retain(|_, b| b.level_now(now) > 0.0);
            if table.len() >= FAILURE_TABLE_MAX {
                table.clear();
            }
        }
        let bucket = table.entry(bucket_key(ip)).or_insert(Bucket {
            level: 0.0,
            at: now,
        });
        bucket.level = (bucket.level_now(now) + 1.0).min(FAILURE_CAP);
        bucket.at = now;
    }
}

/// The sign-in page, with a fixed message (never anything from the request).
pub fn sign_in_page(status: StatusCode, message: &str) -> Response {
    let page = super::assets::text("signin.html").replace("<!--message-->", message);
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // Under `no-referrer` a browser posts the form with `Origin: null`, which the
            // Origin check must refuse; `same-origin` still sends nothing to other sites.
            (header::REFERRER_POLICY, "same-origin"),
        ],
        page,
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"webpeek\""),
        );
    }
    response
}

/// A page that moves on to `to` at once (a same-site navigation, unlike a redirect after a
/// cross-site one), with a link for a browser that does not.
pub fn moving_on_page(to: &str) -> Response {
    let to = to
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <meta http-equiv=\"refresh\" content=\"0;url={to}\">\
         <title>webpeek: signed in</title></head>\
         <body><p>Signed in. <a href=\"{to}\">On to the dashboard</a></p></body></html>\n"
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page,
    )
        .into_response()
}

/// The answer to a request that is not (or no longer) signed in, for `/ws`, `/api/*` and
/// `/metrics`.
pub fn refusal(verdict: Verdict) -> Response {
    match verdict {
        Verdict::Limited(wait) => too_many(
            wait,
            "too many failed sign-in attempts from this address; try again later\n".into_response(),
        ),
        _ => {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                "a valid token is required (Authorization: Bearer TOKEN, or sign in on the dashboard)\n",
            )
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"webpeek\""),
            );
            r
        }
    }
}

/// Turns `response` into a 429 with `Retry-After`.
pub fn too_many(wait: u64, mut response: Response) -> Response {
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&wait.to_string()).expect("digits"),
    );
    response
}

/// How long to wait before answering a wrong token: slows a guesser on one connection without
/// holding anything of ours.
pub const FAILURE_DELAY: Duration = Duration::from_millis(250);

#[cfg(test)]
mod tests {
    use super::*;

    use crate::web::test_headers as headers;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    #[test]
    fn no_token_lets_everyone_in() {
        let a = Auth::new(None);
        assert_eq!(a.verdict(&HeaderMap::new(), IP), Verdict::Granted);
        assert!(!a.required());
    }

    #[test]
    fn bearer_cookie_and_session() {
        let a = Auth::new(Some("s3cret".into()));
        assert_eq!(a.verdict(&HeaderMap::new(), IP), Verdict::Missing);
        let h = headers(&[(header::AUTHORIZATION, "Bearer s3cret")]);
        assert_eq!(a.verdict(&h, IP), Verdict::Granted);
        let h = headers(&[(header::COOKIE, "a=b; webpeek_token=s3cret")]);
        assert_eq!(a.verdict(&h, IP), Verdict::Granted);
        let session = a.new_session().unwrap();
        assert!(!session.contains("s3cret"));
        let h = headers(&[(header::COOKIE, &format!("webpeek_token={session}"))]);
        assert_eq!(a.verdict(&h, IP), Verdict::Granted);
        // The same session made by the public helper.
        let expiry = session.split('.').nth(1).unwrap().parse().unwrap();
        assert_eq!(session_cookie("s3cret", expiry), session);
    }

    #[test]
    fn expired_tampered_and_foreign_sessions() {
        let a = Auth::new(Some("s3cret".into()));
        let expired = session_cookie("s3cret", 1_000);
        let h = headers(&[(header::COOKIE, &format!("webpeek_token={expired}"))]);
        assert_eq!(a.verdict(&h, IP), Verdict::Missing);
        let far = crate::unix_now() as u64 + 86_400;
        let good = session_cookie("s3cret", far);
        // A later expiry with the old tag, a tag from another token, garbage: not let in, and
        // not counted (a session's tag cannot be guessed).
        let tampered = good.replacen(&far.to_string(), &(far + 86_400 * 365).to_string(), 1);
        for bad in [tampered, session_cookie("other", far), "s1.x.00".into()] {
            let h = headers(&[(header::COOKIE, &format!("webpeek_token={bad}"))]);
            assert_eq!(a.verdict(&h, IP), Verdict::Missing, "{bad}");
        }
        assert!(a.failures.limited(IP).is_none() && a.failures.table.lock().unwrap().is_empty());
        // A raw value in the cookie is a token guess.
        let h = headers(&[(header::COOKIE, "webpeek_token=nope")]);
        assert_eq!(a.verdict(&h, IP), Verdict::Refused);
    }

    #[test]
    fn failures_are_limited_per_address_and_come_back() {
        let a = Auth::new(Some("s3cret".into()));
        for _ in 0..FAILURE_BURST as usize {
            assert_eq!(a.sign_in("guess", IP), Verdict::Refused);
        }
        // Refused without looking, even the right token: otherwise the limit tells a guesser
        // when it is right.
        assert!(matches!(a.sign_in("s3cret", IP), Verdict::Limited(w) if w >= 1));
        // A signed-in viewer at that address still gets in.
        let session = a.new_session().unwrap();
        let h = headers(&[(header::COOKIE, &format!("webpeek_token={session}"))]);
        assert_eq!(a.verdict(&h, IP), Verdict::Granted);
        // Another address is not locked out.
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(a.sign_in("s3cret", other), Verdict::Granted);
        // Time drains the bucket.
        {
            let mut t = a.failures.table.lock().unwrap();
            let b = t.get_mut(&IP).unwrap();
            b.at -= Duration::from_secs(12);
        }
        assert_eq!(a.sign_in("s3cret", IP), Verdict::Granted);
        // IPv6 addresses of one /64 share a bucket.
        let v6a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        for _ in 0..FAILURE_BURST as usize {
            a.sign_in("guess", v6a);
        }
        assert!(matches!(a.sign_in("s3cret", v6b), Verdict::Limited(_)));
    }

    #[test]
    fn cookie_header() {
        let v = set_cookie("abc", "/webpeek/", true);
        let v = v.to_str().unwrap();
        assert!(v.starts_with("webpeek_token=abc; Path=/webpeek/;"), "{v}");
        assert!(v.contains("HttpOnly") && v.contains("SameSite=Strict") && v.ends_with("Secure"));
        assert!(
            !set_cookie("abc", "/", false)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
