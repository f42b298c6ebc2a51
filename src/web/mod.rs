//! web: serves the dashboard, the WebSocket of hits, the JSON API, metrics and the seed's tests.
//!
//! Safe by default: every response carries a strict Content-Security-Policy; WebSocket upgrades
//! from a foreign `Origin` are refused; with a token, `/ws` and `/api/*` demand it; on loopback
//! without a token, a `Host` that is not loopback is refused (DNS rebinding).

mod assets;
mod guard;
mod seed;
mod viewer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::filter::Viewers;
use crate::hub::Hub;

pub use guard::Access;

/// The policy sent with every response: no inline script or style, frames only for the preview.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self' ws: wss:; frame-src http: https:; object-src 'none'; \
base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/// What the handlers share.
#[derive(Clone)]
pub struct WebState {
    /// Where hits come from.
    pub hub: Hub,
    /// Addresses of connected viewers, for the filter.
    pub viewers: Viewers,
    /// Who may connect.
    pub access: Arc<Access>,
    /// A viewer whose socket accepts nothing for this long is disconnected.
    pub write_timeout: Duration,
    /// Becomes true when the server shuts down: viewers close their sockets.
    pub closing: tokio::sync::watch::Receiver<bool>,
}

/// The application's routes.
pub fn router(state: WebState) -> Router {
    let api = Router::new()
        .route("/ws", get(ws_hits))
        .route("/api/stats", get(api_stats))
        .route_layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            guard::require_token,
        ));
    Router::new()
        .route("/", get(|| assets::page("index.html")))
        .route("/assets/{file}", get(assets::file))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/countdown", get(|| assets::page("countdown.html")))
        .route("/countdown/ws", get(seed::countdown))
        .route("/echo", get(|| assets::page("echo.html")))
        .route("/echo/ws", get(seed::echo))
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            guard::check_host,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .with_state(state)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Frames are small and latency is the point: no Nagle delay on viewers' sockets.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
    });
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn ws_hits(
    ws: WebSocketUpgrade,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(state): State<WebState>,
    headers: HeaderMap,
) -> Response {
    if !state.access.origin_allowed(&headers) {
        return guard::foreign_origin();
    }
    ws.on_upgrade(move |socket| viewer::run(socket, state, peer.ip()))
}

async fn api_stats(State(state): State<WebState>) -> Response {
    let snapshot = state.hub.stats().snapshot(crate::unix_now());
    axum::Json(snapshot).into_response()
}

async fn metrics(State(state): State<WebState>) -> Response {
    use std::fmt::Write;
    let s = state.hub.stats().snapshot(crate::unix_now());
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP webpeek_{name} {help}\n# TYPE webpeek_{name} counter\nwebpeek_{name} {value}"
        );
    };
    counter("requests_total", "Requests parsed from the logs.", s.total);
    counter("shown_total", "Requests shown to viewers.", s.shown);
    counter(
        "unparsed_total",
        "Lines that matched no log format.",
        s.unparsed,
    );
    counter(
        "truncated_total",
        "Lines cut at the 64 KiB limit.",
        s.truncated,
    );
    let status = serde_json::to_value(&s.status).unwrap_or_default();
    let _ = writeln!(
        out,
        "# HELP webpeek_responses_total Requests by status class.\n# TYPE webpeek_responses_total counter"
    );
    if let Some(map) = status.as_object() {
        for (class, n) in map {
            let _ = writeln!(out, "webpeek_responses_total{{class=\"{class}\"}} {n}");
        }
    }
    let _ = writeln!(
        out,
        "# HELP webpeek_viewers Connected viewers.\n# TYPE webpeek_viewers gauge\nwebpeek_viewers {}",
        state.hub.viewers()
    );
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
