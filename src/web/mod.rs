//! web: serves the dashboard, the WebSocket of hits, the JSON API, metrics and the seed's tests.
//!
//! Safe by default: every response carries a strict Content-Security-Policy; WebSocket upgrades
//! from a foreign `Origin` are refused; with a token, `/`, `/ws`, `/api/*` and `/metrics`
//! demand a sign-in ([`auth`]); on loopback without a token, a `Host` that is not loopback is
//! refused (DNS rebinding). Served with axum-server, over rustls when asked ([`tls`]), with
//! bounded request heads, a deadline for them, and limits on viewers.

mod assets;
mod auth;
mod guard;
mod http1;
mod seed;
pub mod socket;
mod tls;
mod viewer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{Extension, Form, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_server::tls_rustls::RustlsConfig;
use serde::Deserialize;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::filter::{ViewerGuard, Viewers, ViewersFull};
use crate::hub::Hub;

pub use auth::{Auth, COOKIE, SESSION_DAYS, session_cookie};
pub use guard::{Access, Client};
pub use tls::{TlsError, TlsFiles};

/// The largest message a viewer may send (viewers only send `resume`); a bigger one closes
/// the socket with 1009.
pub const MAX_VIEWER_MESSAGE: usize = 4 * 1024;
/// What tungstenite itself will buffer of one incoming message before giving up.
const MAX_BUFFERED_MESSAGE: usize = 64 * 1024;
/// tungstenite's read buffer per socket, allocated (and zeroed) up front: 128 KiB by default,
/// 1.25 GiB for 10,000 viewers who only ever send a `resume` and pongs. A bigger incoming frame
/// still fits: the buffer grows to it (up to [`MAX_BUFFERED_MESSAGE`]).
const READ_BUFFER: usize = 4 * 1024;
/// The largest request head (request line and headers) read before answering 431.
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// The policy sent with every response: no inline script or style, frames only for the
/// preview of `--site` (none without it), and never framed itself.
pub fn content_security_policy(site: Option<&str>) -> String {
    let frames = match site {
        Some(site) => site_origin(site),
        None => "'none'".to_owned(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' ws: wss:; frame-src {frames}; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'"
    )
}

/// `https://example.com` of `https://example.com/blog`.
fn site_origin(site: &str) -> String {
    let (scheme, rest) = site.split_once("://").unwrap_or(("https", site));
    let host: String = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or(rest)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(*c))
        .collect();
    format!("{scheme}://{host}")
}

/// Limits on viewers and their sockets.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `--max-viewers`: WebSockets open at once, all addresses together.
    pub max_viewers: usize,
    /// `--max-viewers-per-ip`: WebSockets open at once from one address.
    pub max_viewers_per_ip: usize,
    /// A viewer is pinged this often ...
    pub ping_every: Duration,
    /// ... and dropped when it has said nothing (no pong, no message) for this long.
    pub silent_for: Duration,
    /// A viewer whose socket accepts nothing for this long is disconnected.
    pub write_timeout: Duration,
    /// A connection that has not sent a whole request head within this is closed (slowloris).
    pub request_head_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_viewers: 10_000,
            max_viewers_per_ip: 64,
            ping_every: Duration::from_secs(20),
            silent_for: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            request_head_timeout: Duration::from_secs(10),
        }
    }
}

/// What the web stage counts for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Upgrades refused for a foreign Origin.
    pub refused_origin: AtomicU64,
    /// Upgrades refused past `--max-viewers`.
    pub refused_full: AtomicU64,
    /// Upgrades refused past `--max-viewers-per-ip`.
    pub refused_per_ip: AtomicU64,
    /// Requests with a wrong token or a forged cookie.
    pub auth_failures: AtomicU64,
    /// Requests refused (429) after too many failures from their address.
    pub auth_limited: AtomicU64,
    /// Viewers dropped because their socket stopped accepting data.
    pub dropped_slow: AtomicU64,
    /// Viewers dropped because they stopped answering pings.
    pub dropped_silent: AtomicU64,
    /// Viewers dropped for sending a message over [`MAX_VIEWER_MESSAGE`].
    pub dropped_oversize: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct WebState {
    /// Where hits come from.
    pub hub: Hub,
    /// Addresses of connected viewers, for the filter and the limits.
    pub viewers: Viewers,
    /// Where requests come from and which are let through.
    pub access: Arc<Access>,
    /// The token and sign-in.
    pub auth: Arc<Auth>,
    /// Limits on viewers.
    pub limits: Limits,
    /// Counts for `/metrics`.
    pub counters: Arc<Counters>,
    /// The path everything is served under: `/`, or `/PREFIX/` behind a proxy.
    pub base_path: Arc<str>,
    /// The Content-Security-Policy header.
    pub csp: HeaderValue,
    /// Becomes true when the server shuts down: viewers close their sockets.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

/// The application's routes, under the base path.
pub fn router(state: WebState) -> Router {
    let base = state.base_path.to_string();
    let at = |rest: &str| format!("{base}{rest}");
    let signed_in = Router::new()
        .route(&at("ws"), get(ws_hits))
        // The seed's test sockets count against the viewer limits: with a token, only signed-in
        // viewers may open them (a stranger could otherwise fill every slot).
        .route(&at("countdown/ws"), get(seed::countdown))
        .route(&at("echo/ws"), get(seed::echo))
        .route(&at("api/stats"), get(api_stats))
        .route(&at("metrics"), get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_sign_in,
        ));
    let mut routes = Router::new()
        .route(&base, get(dashboard).post(sign_in))
        .route(&at("assets/{file}"), get(assets::file))
        .route(&at("healthz"), get(|| async { "ok" }))
        .route(&at("countdown"), get(|| assets::page("countdown.html")))
        .route(&at("echo"), get(|| assets::page("echo.html")))
        .merge(signed_in);
    if base != "/" {
        // `/webpeek` → `/webpeek/`, so the page's relative links resolve under the prefix.
        let to = base.clone();
        routes = routes.route(
            base.trim_end_matches('/'),
            get(move || async move { Redirect::permanent(&to) }),
        );
    }
    routes
        .layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            guard::check_host,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            guard::client_address,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            state.csp.clone(),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // The sign-in page sets its own (a form posted under `no-referrer` says `Origin: null`).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .with_state(state)
}

/// Serves only `GET /metrics` (Prometheus text from `render`) on `listener`: what
/// `webpeek publish --metrics-listen` offers, which has no dashboard. Anything else is 404.
pub async fn serve_metrics(
    listener: std::net::TcpListener,
    render: Arc<dyn Fn() -> String + Send + Sync>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let render = render.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    render(),
                )
            }
        }),
    );
    axum::serve(listener, app).await
}

/// Serves on `listener` (over TLS when `tls` is given) until `shutdown` completes; open
/// connections then get a few seconds to finish.
pub async fn serve(
    listener: std::net::TcpListener,
    tls: Option<(TlsFiles, Arc<rustls::ServerConfig>)>,
    state: WebState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let head_timeout = state.limits.request_head_timeout;
    tokio::spawn(state.hub.clone().pace_frames());
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            handle.graceful_shutdown(Some(Duration::from_secs(5)));
        });
    }
    listener.set_nonblocking(true)?;
    // The default acceptor sets TCP_NODELAY: frames are small and latency is the point.
    let mut server = axum_server::from_tcp(listener)?
        .handle(handle)
        // A connection must send its first request head within this (slowloris) ...
        .first_request_timeout(head_timeout);
    // ... and every later one too; heads are bounded in size.
    server
        .http_builder()
        .http1()
        .header_read_timeout(head_timeout)
        .max_buf_size(MAX_REQUEST_HEAD);
    // HTTP/1.1 only: those limits would not hold for HTTP/2 (see `http1`).
    match tls {
        None => server.map(http1::Http1Only).serve(app).await,
        Some((files, config)) => {
            let rustls = RustlsConfig::from_config(config);
            tokio::spawn(tls::reload_on_change(files, rustls.clone()));
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
                .handshake_timeout(head_timeout);
            server.acceptor(http1::Http1Only(acceptor)).serve(app).await
        }
    }
}

/// Middleware: `/ws`, `/api/*` and `/metrics` only for those signed in.
async fn require_sign_in(
    State(state): State<WebState>,
    Extension(client): Extension<Client>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let verdict = state.auth.verdict(req.headers(), client.ip);
    if verdict == auth::Verdict::Granted {
        return next.run(req).await;
    }
    state.count_refusal(verdict).await;
    auth::refusal(verdict)
}

impl WebState {
    /// Counts a refused credential, and lets a wrong guess wait a little.
    async fn count_refusal(&self, verdict: auth::Verdict) {
        match verdict {
            auth::Verdict::Refused => {
                Counters::add(&self.counters.auth_failures);
                tokio::time::sleep(auth::FAILURE_DELAY).await;
            }
            auth::Verdict::Limited(_) => Counters::add(&self.counters.auth_limited),
            auth::Verdict::Granted | auth::Verdict::Missing => {}
        }
    }

    /// Upgrades to a WebSocket served by `run` (with the viewer's registration, held until
    /// `run` ends), or answers why not: a foreign Origin (403), too many viewers (503).
    fn upgrade<F, Fut>(
        &self,
        ws: WebSocketUpgrade,
        client: Client,
        headers: &HeaderMap,
        run: F,
    ) -> Response
    where
        F: FnOnce(WebSocket, ViewerGuard) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        match self.admit(client, headers) {
            Ok(registered) => bounded(ws).on_upgrade(move |socket| run(socket, registered)),
            Err(refused) => refused.into_response(),
        }
    }

    /// Lets a WebSocket in, or says why not: a foreign Origin (403), too many viewers (503).
    fn admit(&self, client: Client, headers: &HeaderMap) -> Result<ViewerGuard, Refusal> {
        if !self.access.origin_allowed(headers) {
            Counters::add(&self.counters.refused_origin);
            return Err(Refusal::Origin);
        }
        let limits = &self.limits;
        self.viewers
            .try_register(client.ip, limits.max_viewers, limits.max_viewers_per_ip)
            .map_err(|full| {
                Counters::add(match full {
                    ViewersFull::Total => &self.counters.refused_full,
                    ViewersFull::PerIp => &self.counters.refused_per_ip,
                });
                tracing::info!("refused a WebSocket from {}: {full:?}", client.ip);
                Refusal::Full(full)
            })
    }
}

/// Why a WebSocket upgrade was refused.
#[derive(Debug)]
enum Refusal {
    Origin,
    Full(ViewersFull),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let text = match self {
            Refusal::Origin => return guard::foreign_origin(),
            Refusal::Full(ViewersFull::Total) => {
                "too many viewers connected (--max-viewers); try again later\n"
            }
            Refusal::Full(ViewersFull::PerIp) => {
                "too many viewers from this address (--max-viewers-per-ip)\n"
            }
        };
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "10")],
            text,
        )
            .into_response()
    }
}

/// The items of a comma-separated header, over all its lines (untrimmed; lines that are not
/// text are skipped).
pub(crate) fn header_list(
    headers: &HeaderMap,
    name: impl header::AsHeaderName,
) -> impl Iterator<Item = &str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
}

/// Request headers from pairs, for the web stage's unit tests.
#[cfg(test)]
pub(crate) fn test_headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), v.parse().unwrap()))
        .collect()
}

/// Bounds what one incoming WebSocket message may buffer, and what a socket keeps.
fn bounded(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(MAX_BUFFERED_MESSAGE)
        .max_frame_size(MAX_BUFFERED_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        // Every message is flushed as it is sent, so nothing is gained by collecting 128 KiB
        // before a `write()`. The write buffer still takes a whole message however large (its
        // size is not capped: a frame of the backlog may run to hundreds of KiB, and a viewer
        // whose socket takes nothing is dropped by the write timeout instead); it keeps the
        // capacity of the largest message sent, which is why frames are kept small.
        .write_buffer_size(0)
}

/// Whether a viewer's message is over [`MAX_VIEWER_MESSAGE`]; if so, closes with 1009.
async fn refuse_oversize(socket: &mut WebSocket, msg: &Message) -> bool {
    let len = match msg {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        _ => 0,
    };
    if len <= MAX_VIEWER_MESSAGE {
        return false;
    }
    close_too_big(socket).await;
    true
}

/// Closes with 1009 (message too big).
async fn close_too_big(socket: &mut WebSocket) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: 1009,
            reason: "message too big (4 KiB at most)".into(),
        })))
        .await;
}

#[derive(Deserialize)]
struct SignInForm {
    token: String,
}

/// Where a failed `?token=` link is sent, so that the token leaves the address bar (and every
/// `Referer`) even when it was wrong: `?signin=refused`, or `?signin=limited&wait=S`.
#[derive(Deserialize)]
struct SignInOutcome {
    signin: String,
    wait: Option<u64>,
}

/// `GET /`: the dashboard, or the sign-in page; `?token=` signs in and redirects.
async fn dashboard(
    State(state): State<WebState>,
    Extension(client): Extension<Client>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if !state.auth.required() {
        // The page load, its assets and the socket that follows are this viewer's own requests
        // (only a signed-in viewer's: a stranger must not hide their visits by loading `/`).
        state.viewers.touch(client.ip);
        return assets::page("index.html").await;
    }
    // A `?token=` link is for the address bar: an image, a fetch or a hidden frame on another
    // site's page (`Sec-Fetch-Mode` other than `navigate`, `Sec-Fetch-Dest` other than
    // `document`) must not be able to spend this address's tries.
    let fetch_is =
        |name: &str, value: &[u8]| headers.get(name).is_none_or(|v| v.as_bytes() == value);
    let navigation =
        fetch_is("sec-fetch-mode", b"navigate") && fetch_is("sec-fetch-dest", b"document");
    if let Some(token) = link_token(&uri)
        && navigation
    {
        return sign_in_by_link(&state, client, &token).await;
    }
    let verdict = state.auth.verdict(&headers, client.ip);
    // A failed link's message, for one not signed in (a signed-in viewer gets the dashboard).
    if let Ok(Query(outcome)) = Query::<SignInOutcome>::try_from_uri(&uri)
        && verdict != auth::Verdict::Granted
    {
        match (outcome.signin.as_str(), outcome.wait) {
            ("refused", _) => {
                return auth::sign_in_page(StatusCode::UNAUTHORIZED, "That token is not right.");
            }
            ("limited", Some(wait)) => return limited_page(wait.min(3600)),
            _ => {}
        }
    }
    state.count_refusal(verdict).await;
    match verdict {
        auth::Verdict::Granted => {
            state.viewers.touch(client.ip);
            assets::page("index.html").await
        }
        auth::Verdict::Missing => auth::sign_in_page(StatusCode::UNAUTHORIZED, ""),
        auth::Verdict::Refused => auth::sign_in_page(
            StatusCode::UNAUTHORIZED,
            "Your sign-in is no longer valid: paste the token again.",
        ),
        auth::Verdict::Limited(wait) => limited_page(wait),
    }
}

/// `POST /`: the sign-in form.
async fn sign_in(
    State(state): State<WebState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !state.access.origin_allowed(&headers) {
        return guard::foreign_origin();
    }
    finish_sign_in(&state, client, &form.token).await
}

/// The token of a `?token=` link. A `+` in it is a plus, not a space as in a form's encoding:
/// the link is written by hand, and tokens made with `base64` (as the README makes them) hold
/// `+` about two times in five, which the form rule turned into a refused sign-in.
fn link_token(uri: &Uri) -> Option<String> {
    let query = uri.query()?.replace('+', "%2B");
    let literal: Uri = format!("/?{query}").parse().ok()?;
    Query::<SignInForm>::try_from_uri(&literal)
        .ok()
        .map(|Query(form)| form.token)
}

/// A `?token=` link: signed in, a page that moves on to the dashboard by itself; refused, a
/// redirect to the sign-in page's message. Either way the token leaves the address bar.
///
/// Not a redirect when signed in: a link followed from another site (a chat, a mail) is a
/// cross-site navigation, and browsers do not send the new `SameSite=Strict` cookie on a
/// redirect that follows one, so the dashboard would answer with the sign-in page. A page of
/// ours that moves on is a same-site navigation, which carries it.
async fn sign_in_by_link(state: &WebState, client: Client, token: &str) -> Response {
    let base = state.base_path.to_string();
    let verdict = state.auth.sign_in(token, client.ip);
    state.count_refusal(verdict).await;
    let to = match verdict {
        auth::Verdict::Granted => return signed_in(state, client, auth::moving_on_page(&base)),
        auth::Verdict::Limited(wait) => format!("{base}?signin=limited&wait={wait}"),
        auth::Verdict::Refused | auth::Verdict::Missing => format!("{base}?signin=refused"),
    };
    let mut response = Redirect::to(&to).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn finish_sign_in(state: &WebState, client: Client, token: &str) -> Response {
    let base = state.base_path.to_string();
    let verdict = state.auth.sign_in(token, client.ip);
    state.count_refusal(verdict).await;
    match verdict {
        auth::Verdict::Granted => signed_in(state, client, Redirect::to(&base).into_response()),
        auth::Verdict::Limited(wait) => limited_page(wait),
        auth::Verdict::Refused | auth::Verdict::Missing => {
            auth::sign_in_page(StatusCode::UNAUTHORIZED, "That token is not right.")
        }
    }
}

/// `response` to a sign-in that succeeded: with the session cookie, never cached; the address
/// counts as a viewer's from now on.
fn signed_in(state: &WebState, client: Client, mut response: Response) -> Response {
    state.viewers.touch(client.ip);
    if let Some(session) = state.auth.new_session() {
        response.headers_mut().insert(
            header::SET_COOKIE,
            auth::set_cookie(&session, &state.base_path, client.https),
        );
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn limited_page(wait: u64) -> Response {
    auth::too_many(
        wait,
        auth::sign_in_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts from your address: wait a minute, then try again.",
        ),
    )
}

/// `GET /ws`: the viewers' WebSocket, on [`socket`] (shared, compressed frames) rather than
/// axum's.
async fn ws_hits(
    upgrade: socket::Upgrade,
    State(state): State<WebState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    match state.admit(client, &headers) {
        Ok(registered) => {
            let serving = state.clone();
            upgrade.on_upgrade(move |socket| viewer::run(socket, serving, registered))
        }
        Err(refused) => refused.into_response(),
    }
}

async fn api_stats(State(state): State<WebState>) -> Response {
    let snapshot = state.hub.stats().snapshot(crate::unix_now());
    axum::Json(snapshot).into_response()
}

async fn metrics(State(state): State<WebState>) -> Response {
    use crate::metrics::Kind::{Counter, Gauge};
    let s = state.hub.stats().snapshot(crate::unix_now());
    let mut page = crate::metrics::MetricsPage::default();
    page.one(
        "requests_total",
        Counter,
        "Requests parsed from the logs.",
        s.total,
    );
    page.one(
        "shown_total",
        Counter,
        "Requests shown to viewers.",
        s.shown,
    );
    page.one(
        "unparsed_total",
        Counter,
        "Lines that matched no log format.",
        s.unparsed,
    );
    page.one(
        "truncated_total",
        Counter,
        "Lines cut at the 64 KiB limit.",
        s.truncated,
    );
    let status = serde_json::to_value(&s.status).unwrap_or_default();
    let classes: Vec<(&str, u64)> = status
        .as_object()
        .into_iter()
        .flatten()
        .map(|(class, n)| (class.as_str(), n.as_u64().unwrap_or(0)))
        .collect();
    page.labelled(
        "responses_total",
        Counter,
        "Requests by status class.",
        "class",
        &classes,
    );
    let c = &state.counters;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    page.labelled(
        "refused_upgrades_total",
        Counter,
        "WebSocket upgrades refused.",
        "reason",
        &[
            ("origin", load(&c.refused_origin)),
            ("max_viewers", load(&c.refused_full)),
            ("max_viewers_per_ip", load(&c.refused_per_ip)),
        ],
    );
    page.labelled(
        "auth_failures_total",
        Counter,
        "Requests with a wrong token or forged cookie (wrong), and refused after too many (limited).",
        "kind",
        &[
            ("wrong", load(&c.auth_failures)),
            ("limited", load(&c.auth_limited)),
        ],
    );
    page.labelled(
        "dropped_viewers_total",
        Counter,
        "Viewers disconnected by webpeek.",
        "reason",
        &[
            ("slow", load(&c.dropped_slow)),
            ("silent", load(&c.dropped_silent)),
            ("oversize", load(&c.dropped_oversize)),
        ],
    );
    page.one(
        "viewers",
        Gauge,
        "Connected viewers.",
        state.hub.viewers() as u64,
    );
    if let Some(nats) = &s.nats {
        crate::nats::write_metrics(&mut page, nats);
    }
    let out = page.into_string();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
