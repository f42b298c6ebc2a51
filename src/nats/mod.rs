//! nats: many web servers into one view — `webpeek publish` sends each server's hits to NATS,
//! and a hub started with `--nats` takes them from there (DESIGN.md section 5).
//!
//! This module holds what both sides share: the subjects, the versioned message format
//! ([`Batch`] of [`WireHit`]s, JSON: `benches/nats_format.rs` measured it against MessagePack),
//! the connection options ([`NatsOptions`]) and the connection's state ([`Link`]), which is
//! logged once per change and shown to viewers. [`publish`] is the publisher's side,
//! [`subscribe`] the hub's, [`jetstream`] the stream both may keep hits in for replay.

pub mod jetstream;
pub mod publish;
pub mod subscribe;

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::{ConnectOptions, Event, ServerAddr};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::hit::{Asn, Device, Hit};
use crate::metrics::Kind::{Counter, Gauge};
use crate::metrics::MetricsPage;

/// Publishers send to `webpeek.hits.<name>`.
pub const SUBJECT_PREFIX: &str = "webpeek.hits";
/// A hub subscribes to every publisher.
pub const SUBSCRIBE_SUBJECT: &str = "webpeek.hits.>";
/// The message format's version (`"v"`): a hub refuses (and counts) any other.
pub const VERSION: u32 = 1;
/// Hits per message at most, as in a `hits` frame.
pub const MAX_MESSAGE_HITS: usize = 1000;
/// Bytes of hits per message, about (a message stops growing past it; NATS' default limit
/// for a message is 1 MiB).
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024;
/// Longest wait between two connection attempts (the wait doubles from 50 ms up to this).
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// The subject a publisher named `name` sends to.
pub fn subject(name: &str) -> String {
    format!("{SUBJECT_PREFIX}.{name}")
}

/// One message on `webpeek.hits.<name>`: a batch of one publisher's hits, oldest first.
///
/// `run` and `seq` let a hub drop a message it already has (a publisher resends a message
/// whose delivery it could not confirm) and count messages it missed.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Batch<'a> {
    /// The format's version, [`VERSION`].
    pub v: u32,
    /// The publisher's name (`--name`), the `server` of each hit.
    #[serde(borrow)]
    pub server: Cow<'a, str>,
    /// A random id of this run of the publisher.
    #[serde(borrow)]
    pub run: Cow<'a, str>,
    /// Message number within the run, from 1.
    pub seq: u64,
    /// Hits this run of the publisher has dropped so far (its buffer was full).
    #[serde(default)]
    pub dropped: u64,
    /// The hits.
    #[serde(borrow)]
    pub hits: Vec<WireHit<'a>>,
}

/// A hit as it travels over NATS: the fields of [`Hit`] that a publisher knows (no `seq`,
/// `host` or `server`: the hub stamps, resolves and names), with the time as Unix seconds.
/// Fields without a value are left out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WireHit<'a> {
    /// Time of the request, Unix seconds.
    pub time: i64,
    /// Client address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// HTTP method.
    #[serde(borrow)]
    pub method: Cow<'a, str>,
    /// Path without the query.
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    /// Query string without its `?`.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub query: Option<Cow<'a, str>>,
    /// Protocol.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Cow<'a, str>>,
    /// Response status.
    pub status: u16,
    /// Response body size.
    #[serde(default)]
    pub bytes: u64,
    /// `Referer` header.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub referer: Option<Cow<'a, str>>,
    /// `User-Agent` header.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Cow<'a, str>>,
    /// Browser family.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub browser: Option<Cow<'a, str>>,
    /// Operating system family.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub os: Option<Cow<'a, str>>,
    /// A crawler or another program.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bot: bool,
    /// Kind of device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<WireDevice>,
    /// Country code.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub country: Option<Cow<'a, str>>,
    /// Network.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub asn: Option<WireAsn<'a>>,
    /// Virtual host.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<Cow<'a, str>>,
    /// The log's file name on the publisher's machine.
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    /// Full URL, when the publisher knows its site (`--site`).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub url: Option<Cow<'a, str>>,
}

/// [`Device`] on the wire (`desktop`, `phone`, `tablet`, `bot`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WireDevice {
    /// A desktop browser.
    Desktop,
    /// A phone.
    Phone,
    /// A tablet.
    Tablet,
    /// A program.
    Bot,
}

/// [`Asn`] on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WireAsn<'a> {
    /// AS number.
    pub number: u32,
    /// Its organisation.
    #[serde(borrow)]
    pub org: Cow<'a, str>,
}

fn borrowed(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(Cow::Borrowed)
}

impl<'a> From<&'a Hit> for WireHit<'a> {
    fn from(h: &'a Hit) -> Self {
        WireHit {
            time: h.time,
            ip: h.ip,
            method: Cow::Borrowed(&h.method),
            path: Cow::Borrowed(&h.path),
            query: borrowed(&h.query),
            protocol: borrowed(&h.protocol),
            status: h.status,
            bytes: h.bytes,
            referer: borrowed(&h.referer),
            agent: borrowed(&h.agent),
            browser: borrowed(&h.browser),
            os: borrowed(&h.os),
            bot: h.bot,
            device: h.device.map(|d| match d {
                Device::Desktop => WireDevice::Desktop,
                Device::Phone => WireDevice::Phone,
                Device::Tablet => WireDevice::Tablet,
                Device::Bot => WireDevice::Bot,
            }),
            country: h.country.as_deref().map(Cow::Borrowed),
            asn: h.asn.as_ref().map(|a| WireAsn {
                number: a.number,
                org: Cow::Borrowed(&a.org),
            }),
            vhost: borrowed(&h.vhost),
            source: Cow::Borrowed(&h.source),
            url: borrowed(&h.url),
        }
    }
}

impl WireHit<'_> {
    /// The hit as the hub handles it, from `server`.
    pub fn into_hit(self, server: &Arc<str>) -> Hit {
        let own = |c: Option<Cow<'_, str>>| c.map(Cow::into_owned);
        Hit {
            seq: 0,
            time: self.time,
            ip: self.ip,
            host: None,
            method: self.method.into_owned(),
            path: self.path.into_owned(),
            query: own(self.query),
            protocol: own(self.protocol),
            status: self.status,
            bytes: self.bytes,
            referer: own(self.referer),
            agent: own(self.agent),
            browser: own(self.browser),
            os: own(self.os),
            bot: self.bot,
            country: self.country.map(|c| Arc::from(c.as_ref())),
            asn: self.asn.map(|a| Asn {
                number: a.number,
                org: Arc::from(a.org.as_ref()),
            }),
            device: self.device.map(|d| match d {
                WireDevice::Desktop => Device::Desktop,
                WireDevice::Phone => Device::Phone,
                WireDevice::Tablet => Device::Tablet,
                WireDevice::Bot => Device::Bot,
            }),
            server: server.clone(),
            vhost: own(self.vhost),
            source: Arc::from(self.source.as_ref()),
            url: own(self.url),
        }
    }
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A well-formed message of another version.
    #[error("message version {0} (this webpeek reads version {VERSION})")]
    Version(u64),
    /// Not a webpeek message.
    #[error("not a webpeek message: {0}")]
    Garbage(serde_json::Error),
    /// A message beyond what a publisher sends (too many hits, a field too long, a time out
    /// of range).
    #[error("message out of bounds: {0}")]
    Limit(String),
    /// A message whose `server` could not be a server's name.
    #[error(
        "'{0}' is not a server name (1 to 64 letters, digits, '-', '_' or '.', no '.' at either end nor two in a row)"
    )]
    Name(String),
    /// A message whose `server` is not the name its subject ends with.
    #[error("the message says it is from '{0}', not from the server its subject names")]
    NotItsSubject(String),
}

impl<'a> Batch<'a> {
    /// Encodes hits as a message with these headers, stopping before [`MAX_MESSAGE_HITS`]
    /// hits or `max_bytes` bytes ([`MAX_MESSAGE_BYTES`] unless the server takes less; at least
    /// one hit goes in); returns the message and how many of `hits` it holds.
    pub fn encode(
        server: &str,
        run: &str,
        seq: u64,
        dropped: u64,
        hits: &[Hit],
        max_bytes: usize,
    ) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(512 * hits.len().min(MAX_MESSAGE_HITS) + 128);
        let head = HeadOut {
            v: VERSION,
            server,
            run,
            seq,
            dropped,
        };
        serde_json::to_writer(&mut out, &head).expect("headers serialize");
        // `{"v":1,...,"dropped":0}` → `{"v":1,...,"dropped":0,"hits":[ ... ]}`
        out.pop();
        out.extend_from_slice(b",\"hits\":[");
        let mut taken = 0;
        for hit in hits.iter().take(MAX_MESSAGE_HITS) {
            let mark = out.len();
            if taken > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &WireHit::from(hit)).expect("hits serialize");
            if taken > 0 && out.len() + 2 > max_bytes {
                out.truncate(mark);
                break;
            }
            taken += 1;
        }
        out.extend_from_slice(b"]}");
        (out, taken)
    }

    /// Reads a message; the hits borrow from `bytes` where they can.
    pub fn decode(bytes: &'a [u8]) -> Result<Batch<'a>, DecodeError> {
        match serde_json::from_slice::<Batch<'a>>(bytes) {
            Ok(batch) if batch.v == VERSION => batch.checked(),
            Ok(batch) => Err(DecodeError::Version(batch.v.into())),
            Err(e) => match serde_json::from_slice::<HeadIn>(bytes) {
                Ok(head) if head.v != u64::from(VERSION) => Err(DecodeError::Version(head.v)),
                _ => Err(DecodeError::Garbage(e)),
            },
        }
    }
}

impl<'a> Batch<'a> {
    /// The batch, if it is within what a publisher sends: anyone who may publish on the
    /// subject reaches every viewer's page and the hub's memory through it.
    fn checked(self) -> Result<Batch<'a>, DecodeError> {
        let out = |what: &str| Err(DecodeError::Limit(what.to_owned()));
        if self.run.len() > 64 {
            return out("a run id over 64 bytes");
        }
        if self.hits.len() > MAX_MESSAGE_HITS {
            return out("too many hits");
        }
        // Years 1970 to 9999: a time beyond would wrap the charts' bucket arithmetic.
        const LAST: i64 = 253_402_300_799;
        for h in &self.hits {
            if !(0..=LAST).contains(&h.time) {
                return out("a time outside 1970..9999");
            }
            let texts = [
                Some(&h.method),
                Some(&h.path),
                h.query.as_ref(),
                h.protocol.as_ref(),
                h.referer.as_ref(),
                h.agent.as_ref(),
                h.browser.as_ref(),
                h.os.as_ref(),
                h.country.as_ref(),
                h.vhost.as_ref(),
                Some(&h.source),
                h.url.as_ref(),
            ];
            if texts
                .iter()
                .flatten()
                .any(|t| t.len() > crate::source::MAX_LINE)
            {
                return out("a field longer than a log line may be");
            }
        }
        Ok(self)
    }
}

#[derive(Serialize)]
struct HeadOut<'a> {
    v: u32,
    server: &'a str,
    run: &'a str,
    seq: u64,
    dropped: u64,
}

#[derive(Deserialize)]
struct HeadIn {
    v: u64,
}

/// A command line's NATS options that cannot work; one line naming the option, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum NatsOptionError {
    /// The URL does not parse, or is not `nats://` or `tls://`.
    #[error(
        "--nats: '{url}' is not a NATS server URL like nats://HOST:4222 or tls://HOST:4222 ({problem})"
    )]
    Url {
        /// What was given (without its password).
        url: String,
        /// What is wrong.
        problem: String,
    },
    /// An empty `--nats-token`.
    #[error("--nats-token: the token is empty")]
    EmptyToken,
    /// Two ways to sign in at once.
    #[error("--nats-token, --nats-creds and a user in the URL are alternatives: give one")]
    TwoCredentials,
    /// The `.creds` file cannot be used.
    #[error("--nats-creds {}: {problem}", path.display())]
    Creds {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A `--jetstream` name NATS would refuse.
    #[error("--jetstream: '{0}' is not a stream name (1 to 64 letters, digits, '-' or '_')")]
    Stream(String),
    /// The CA file cannot be used.
    #[error("--nats-ca {}: {problem}", path.display())]
    Ca {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// How to reach and sign in to the NATS server, checked at start.
#[derive(Clone)]
pub struct NatsOptions {
    /// The server, without user and password.
    addr: ServerAddr,
    /// The URL as logs and viewers see it (never with a password).
    shown: String,
    user: Option<(String, String)>,
    token: Option<String>,
    /// The `.creds` file's text.
    creds: Option<String>,
    ca: Option<PathBuf>,
    /// `--jetstream`: keep hits in a stream, and replay it.
    jetstream: Option<jetstream::StreamOptions>,
}

impl std::fmt::Debug for NatsOptions {
    /// Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsOptions")
            .field("url", &self.shown)
            .field("user", &self.user.as_ref().map(|(u, _)| u))
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("creds", &self.creds.as_ref().map(|_| "…"))
            .field("ca", &self.ca)
            .field("jetstream", &self.jetstream)
            .finish()
    }
}

impl NatsOptions {
    /// Checks `--nats URL` (`nats://`, `tls://`, optionally `user:password@`), `--nats-token`,
    /// `--nats-creds FILE` (read now) and `--nats-ca FILE` (checked now).
    pub fn new(
        url: &str,
        token: Option<&str>,
        creds: Option<&Path>,
        ca: Option<&Path>,
    ) -> Result<NatsOptions, NatsOptionError> {
        let bad = |problem: &str| NatsOptionError::Url {
            url: redact(url),
            problem: problem.to_owned(),
        };
        if !url.contains("://") {
            return Err(bad("no scheme"));
        }
        let addr: ServerAddr = url
            .parse()
            .map_err(|e: std::io::Error| bad(&e.to_string()))?;
        if addr.is_websocket() {
            return Err(bad("WebSocket URLs are not supported"));
        }
        if addr.host().is_empty() {
            return Err(bad("no host"));
        }
        // `nats://user:password@host`; `nats://TOKEN@host` (no password) is a token, as the
        // NATS clients and the `nats` CLI read it.
        let (user, url_token) = match (addr.username(), addr.password()) {
            (Some(u), Some(p)) => (Some((percent_decode(u), percent_decode(p))), None),
            (Some(t), None) => (None, Some(percent_decode(t))),
            _ => (None, None),
        };
        let mut plain = addr.clone().into_inner();
        let _ = plain.set_username("");
        let _ = plain.set_password(None);
        if plain.path() != "/" && !plain.path().is_empty() {
            return Err(bad("a NATS URL has no path"));
        }
        let shown = format!(
            "{}://{}:{}",
            plain.scheme(),
            plain.host_str().unwrap_or(""),
            addr.port()
        );
        let addr: ServerAddr = shown
            .parse()
            .map_err(|e: std::io::Error| bad(&e.to_string()))?;
        let token = match token.map(str::trim) {
            Some("") => return Err(NatsOptionError::EmptyToken),
            t => t.map(str::to_owned),
        };
        if [
            user.is_some(),
            url_token.is_some(),
            token.is_some(),
            creds.is_some(),
        ]
        .iter()
        .filter(|&&b| b)
        .count()
            > 1
        {
            return Err(NatsOptionError::TwoCredentials);
        }
        let creds = creds
            .map(|path| {
                let problem = |problem: String| NatsOptionError::Creds {
                    path: path.to_owned(),
                    problem,
                };
                let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
                ConnectOptions::new()
                    .credentials(&text)
                    .map_err(|e| problem(format!("not a NATS .creds file ({e})")))?;
                Ok(text)
            })
            .transpose()?;
        if let Some(path) = ca {
            let problem = |problem: String| NatsOptionError::Ca {
                path: path.to_owned(),
                problem,
            };
            let text = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
            if !text.contains("-----BEGIN CERTIFICATE-----") {
                return Err(problem("no PEM certificate in it".into()));
            }
        }
        Ok(NatsOptions {
            addr,
            shown,
            user,
            token: token.or(url_token),
            creds,
            ca: ca.map(Path::to_owned),
            jetstream: None,
        })
    }

    /// Keeps hits in (publisher) or replays them from (hub) the JetStream stream `name`,
    /// created when missing with hits kept for `max_age` (a day if `None`).
    pub fn with_jetstream(
        mut self,
        name: &str,
        max_age: Option<Duration>,
    ) -> Result<NatsOptions, NatsOptionError> {
        if !jetstream::valid_stream_name(name) {
            return Err(NatsOptionError::Stream(name.chars().take(80).collect()));
        }
        self.jetstream = Some(jetstream::StreamOptions {
            name: name.to_owned(),
            max_age,
        });
        Ok(self)
    }

    /// The JetStream stream, with `--jetstream`.
    pub fn jetstream(&self) -> Option<&jetstream::StreamOptions> {
        self.jetstream.as_ref()
    }

    /// The server's URL, without user and password: safe to log and to show viewers.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// The client's options: credentials, TLS, retries forever (also for the first
    /// connection) with a wait that doubles up to [`MAX_RECONNECT_DELAY`], and events that
    /// drive `link`.
    fn connect_options(&self, client_name: &str, link: &Link) -> ConnectOptions {
        let mut options = match &self.creds {
            // Checked in `new`.
            Some(text) => ConnectOptions::new()
                .credentials(text)
                .expect("checked .creds file"),
            None => ConnectOptions::new(),
        };
        if let Some((user, pass)) = &self.user {
            options = options.user_and_password(user.clone(), pass.clone());
        }
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(ca) = &self.ca {
            options = options.add_root_certificates(ca.clone());
        }
        if self.addr.tls_required() {
            options = options.require_tls(true);
        }
        let events = link.clone();
        options
            .name(client_name)
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(reconnect_delay)
            // A server that vanished without closing the connection is noticed within ~30 s.
            .ping_interval(Duration::from_secs(10))
            // Messages are up to 512 KiB: bound what a subscription may queue.
            .subscription_capacity(1024)
            .event_callback(move |event| {
                let link = events.clone();
                async move { link.on_event(event) }
            })
    }

    /// Connects in the background (a server that is down is retried until it is up), and
    /// returns the client with the connection's state. With `refusal_is_fatal` a refused
    /// sign-in is not logged here: the caller stops with [`NatsError::Authorization`].
    pub async fn connect(
        &self,
        client_name: &str,
        refusal_is_fatal: bool,
    ) -> Result<(async_nats::Client, Link), NatsError> {
        let mut link = Link::new(self.url());
        link.refusal_is_fatal = refusal_is_fatal;
        let client = self
            .connect_options(client_name, &link)
            .connect(self.addr.clone())
            .await
            .map_err(|e| NatsError::Connect(e.to_string()))?;
        Ok((client, link))
    }
}

/// The wait before connection attempt `attempt` (1, 2, ...): none, then 50 ms doubling up to
/// [`MAX_RECONNECT_DELAY`], with up to a quarter more at random so that many publishers
/// restarted together do not knock at once.
pub fn reconnect_delay(attempt: usize) -> Duration {
    if attempt <= 1 {
        return Duration::ZERO;
    }
    let exp = (attempt - 2).min(16) as u32;
    let base = Duration::from_millis(50u64.saturating_mul(1 << exp)).min(MAX_RECONNECT_DELAY);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base + base / 4 * (nanos % 1000) / 1000
}

/// `nats://user:secret@host` → `nats://user:***@host`, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            // `user:password` keeps the user; a lone `TOKEN` is all secret.
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => format!("{}***{}", &url[..s + 3], &url[at..]),
            }
        }
        _ => url.to_owned(),
    }
}

/// Resolves `%XX` escapes (a password with `@` or `:` in a URL is written `%40`, `%3A`).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why NATS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The client could not be set up.
    #[error("NATS: {0}")]
    Connect(String),
    /// The server refused the credentials.
    #[error(
        "NATS {0}: authorization violation: the server refused the credentials (--nats-token, --nats-creds, or the user and password in the URL)"
    )]
    Authorization(String),
}

/// What the connection to the server is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected yet since start.
    Connecting,
    /// Connected.
    Connected,
    /// Lost, being retried.
    Disconnected,
}

/// The connection's state and its history, as [`Link::watch`] sees it.
#[derive(Debug, Clone)]
pub struct LinkStatus {
    /// Connected or not.
    pub state: LinkState,
    /// Since when (this state).
    pub since: Instant,
    /// Why the last attempt failed, while not connected (`authorization violation`, ...).
    pub error: Option<String>,
    /// Times the connection was lost.
    pub disconnects: u64,
    /// Connection attempts refused for the credentials.
    pub refused: u64,
    /// Messages the server dropped because this client read too slowly.
    pub slow: u64,
}

/// The state of one NATS connection, driven by the client's events; every change is logged
/// once (not once per attempt). Cheap to clone.
#[derive(Clone)]
pub struct Link {
    url: Arc<str>,
    /// A refused sign-in ends the program (`publish`): not logged here.
    refusal_is_fatal: bool,
    status: Arc<watch::Sender<LinkStatus>>,
    /// The last server error logged, so a repeated one is logged once.
    last_error: Arc<Mutex<Option<String>>>,
}

impl Link {
    /// A link to `url`, connecting.
    pub fn new(url: &str) -> Link {
        let (status, _) = watch::channel(LinkStatus {
            state: LinkState::Connecting,
            since: Instant::now(),
            error: None,
            disconnects: 0,
            refused: 0,
            slow: 0,
        });
        Link {
            url: url.into(),
            refusal_is_fatal: false,
            status: Arc::new(status),
            last_error: Arc::default(),
        }
    }

    /// The server's URL (without a password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The state now.
    pub fn status(&self) -> LinkStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every change.
    pub fn watch(&self) -> watch::Receiver<LinkStatus> {
        self.status.subscribe()
    }

    /// Follows one event of the client; logs what changed.
    pub fn on_event(&self, event: Event) {
        let url = &self.url;
        match event {
            Event::Connected => self.status.send_modify(|s| {
                let was = s.state;
                let down = s.since.elapsed();
                s.state = LinkState::Connected;
                s.since = Instant::now();
                s.error = None;
                match was {
                    LinkState::Disconnected => tracing::info!(
                        "NATS {url}: connected again (after {:.1} s)",
                        down.as_secs_f64()
                    ),
                    _ => tracing::info!("NATS {url}: connected"),
                }
            }),
            Event::Disconnected => self.status.send_modify(|s| {
                s.state = LinkState::Disconnected;
                s.since = Instant::now();
                s.disconnects += 1;
                tracing::warn!("NATS {url}: disconnected, retrying");
            }),
            Event::ClientError(async_nats::ClientError::Other(problem)) => {
                self.failed_attempt(&problem)
            }
            Event::ServerError(async_nats::ServerError::AuthorizationViolation) => {
                self.failed_attempt("authorization violation")
            }
            Event::SlowConsumer(_) | Event::ServerError(async_nats::ServerError::SlowConsumer(_)) => {
                self.status.send_modify(|s| {
                    s.slow += 1;
                    if s.slow == 1 {
                        tracing::warn!(
                            "NATS {url}: this hub reads too slowly, the server dropped messages (counted in /metrics)"
                        );
                    }
                })
            }
            Event::ServerError(other) => {
                let text = other.to_string();
                let mut last = self.last_error.lock().expect("error lock");
                if last.as_deref() != Some(&text) {
                    tracing::warn!("NATS {url}: server says: {text}");
                    *last = Some(text);
                }
            }
            Event::LameDuckMode => tracing::info!("NATS {url}: the server is shutting down"),
            other => tracing::debug!("NATS {url}: {other}"),
        }
    }

    /// A connection attempt failed: logged when the reason is new.
    fn failed_attempt(&self, problem: &str) {
        let url = &self.url;
        let auth = problem.contains("authorization violation");
        let problem = if auth {
            "authorization violation".to_owned()
        } else {
            // async-nats says only "IO error", "timed out", "TLS error", ...
            format!("cannot connect ({problem})")
        };
        self.status.send_modify(|s| {
            if auth {
                s.refused += 1;
            }
            if s.error.as_deref() == Some(&problem) {
                return;
            }
            // Right after "disconnected, retrying" a failed attempt is no news; a refusal that
            // ends the program is said by the caller.
            let quiet = if auth {
                self.refusal_is_fatal
            } else {
                s.state == LinkState::Disconnected
            };
            if !quiet && auth {
                tracing::error!(
                    "NATS {url}: authorization violation: the server refused the credentials (--nats-token, --nats-creds, or the user and password in the URL); retrying"
                );
            } else if !quiet {
                tracing::warn!("NATS {url}: {problem}; retrying");
            }
            s.error = Some(problem);
        });
    }
}

/// The `nats` field of the `stats` message and `/api/stats` (`null` without `--nats`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct NatsStatus {
    /// `connected`, or `disconnected, retrying`.
    pub state: &'static str,
    /// The server (without a password).
    pub url: String,
    /// The JetStream stream read (`--jetstream`).
    pub stream: Option<String>,
    /// Why the stream cannot be read now (JetStream not enabled, ...).
    pub stream_error: Option<String>,
    /// The stream's hits are being replayed.
    pub replaying: bool,
    /// Hits the replay of the stream gave, once done.
    pub replayed: u64,
    /// Why the last connection attempt failed, while not connected.
    pub error: Option<String>,
    /// Times the connection was lost.
    pub disconnects: u64,
    /// Messages taken.
    pub messages: u64,
    /// Hits taken.
    pub hits: u64,
    /// Messages that did not decode (wrong version, not webpeek's).
    pub undecodable: u64,
    /// Messages received twice (a publisher resent one whose delivery it could not confirm).
    pub duplicates: u64,
    /// Messages publishers sent that never arrived (gaps in their numbers).
    pub missed: u64,
    /// Messages the server dropped because this hub read too slowly.
    pub slow: u64,
    /// Hits the publishers dropped (buffer full during an outage), as they last said.
    pub dropped_by_publishers: u64,
}

/// Appends the hub's NATS figures to a `/metrics` page (Prometheus text format).
pub fn write_metrics(page: &mut MetricsPage, nats: &NatsStatus) {
    let connected = nats.state == state_text(LinkState::Connected);
    page.one(
        "nats_connected",
        Gauge,
        "1 while the NATS connection is up (--nats).",
        u64::from(connected),
    );
    page.one(
        "nats_disconnects_total",
        Counter,
        "Times the NATS connection was lost.",
        nats.disconnects,
    );
    page.one(
        "nats_hits_total",
        Counter,
        "Hits received over NATS.",
        nats.hits,
    );
    page.one(
        "nats_slow_consumer_total",
        Counter,
        "Messages the NATS server dropped because this hub read too slowly.",
        nats.slow,
    );
    page.labelled(
        "nats_messages_total",
        Counter,
        "Messages received over NATS, by what became of them.",
        "result",
        &[
            ("taken", nats.messages),
            ("undecodable", nats.undecodable),
            ("duplicate", nats.duplicates),
            ("missed", nats.missed),
        ],
    );
    page.one(
        "nats_publisher_dropped_hits",
        Gauge,
        "Hits publishers dropped during NATS outages (as each last said).",
        nats.dropped_by_publishers,
    );
}

/// The state viewers see: `connected`, or `disconnected, retrying`.
pub fn state_text(state: LinkState) -> &'static str {
    match state {
        LinkState::Connected => "connected",
        LinkState::Connecting | LinkState::Disconnected => "disconnected, retrying",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A hit numbered `i`, for unit tests.
    pub(crate) fn hit(i: usize) -> Hit {
        Hit {
            seq: 0,
            time: 1_795_957_681 + i as i64,
            ip: Some(format!("203.0.113.{}", i % 250).parse().unwrap()),
            host: None,
            method: "GET".into(),
            path: format!("/docs/page-{i}.html"),
            query: i.is_multiple_of(3).then(|| format!("q={i}")),
            protocol: Some("HTTP/1.1".into()),
            status: 200,
            bytes: 5120,
            referer: Some("https://example.com/".into()),
            agent: Some(
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0".into(),
            ),
            browser: Some("Firefox".into()),
            os: Some("Linux".into()),
            bot: i.is_multiple_of(7),
            country: i.is_multiple_of(2).then(|| "DE".into()),
            asn: i.is_multiple_of(5).then(|| Asn {
                number: 64500,
                org: "Example \"Net\"".into(),
            }),
            device: Some(Device::Desktop),
            server: "web1".into(),
            vhost: None,
            source: "access.log".into(),
            url: Some(format!("https://example.com/docs/page-{i}.html")),
        }
    }

    #[test]
    fn batches_round_trip() {
        let hits: Vec<Hit> = (0..10).map(hit).collect();
        let (bytes, n) = Batch::encode("web1", "r1", 3, 7, &hits, MAX_MESSAGE_BYTES);
        assert_eq!(n, 10);
        let batch = Batch::decode(&bytes).unwrap();
        assert_eq!((batch.v, batch.seq, batch.dropped), (1, 3, 7));
        assert_eq!((&*batch.server, &*batch.run), ("web1", "r1"));
        let server: Arc<str> = "web1".into();
        let back: Vec<Hit> = batch
            .hits
            .into_iter()
            .map(|h| h.into_hit(&server))
            .collect();
        assert_eq!(back, hits);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["hits"][1]["path"], "/docs/page-1.html");
        assert!(
            v["hits"][1].get("query").is_none(),
            "None fields are left out"
        );
    }

    #[test]
    fn batches_are_bounded() {
        let hits: Vec<Hit> = (0..1500).map(hit).collect();
        let (bytes, n) = Batch::encode("web1", "r", 1, 0, &hits, MAX_MESSAGE_BYTES);
        assert_eq!(n, MAX_MESSAGE_HITS);
        assert_eq!(Batch::decode(&bytes).unwrap().hits.len(), n);
        let mut big = hit(0);
        big.path = "/".repeat(60_000);
        let hits = vec![big; 20];
        let (bytes, n) = Batch::encode("web1", "r", 1, 0, &hits, MAX_MESSAGE_BYTES);
        assert!(n < 20 && n > 1, "{n}");
        assert!(bytes.len() <= MAX_MESSAGE_BYTES, "{}", bytes.len());
        // One hit always goes, whatever its size.
        let (_, n) = Batch::encode("web1", "r", 1, 0, &hits[..1], MAX_MESSAGE_BYTES);
        assert_eq!(n, 1);
    }

    #[test]
    fn wrong_messages_are_told_apart() {
        let e = Batch::decode(br#"{"v":2,"server":"x","hits":[{"t":1}]}"#).unwrap_err();
        assert!(matches!(e, DecodeError::Version(2)), "{e}");
        let e = Batch::decode(br#"{"v":2,"server":"x","run":"r","seq":1,"hits":[]}"#).unwrap_err();
        assert!(matches!(e, DecodeError::Version(2)), "{e}");
        for garbage in [&b"hello"[..], b"{}", b"\xff\x00", br#"{"v":1}"#] {
            let e = Batch::decode(garbage).unwrap_err();
            assert!(matches!(e, DecodeError::Garbage(_)), "{e}");
        }
        // Hostile but well-formed: refused, not taken in.
        let hit = |time: i64, path: &str| {
            format!(
                r#"{{"time":{time},"method":"GET","path":"{path}","status":200,"bytes":1,"bot":false,"source":"a"}}"#
            )
        };
        let batch = |run: &str, hits: &str| {
            format!(r#"{{"v":1,"server":"web1","run":"{run}","seq":1,"hits":[{hits}]}}"#)
        };
        assert!(Batch::decode(batch("r", &hit(1_800_000_000, "/")).as_bytes()).is_ok());
        for bad in [
            batch("r", &hit(i64::MIN, "/")),
            batch("r", &hit(-1, "/")),
            batch("r", &hit(1, &"a".repeat(crate::source::MAX_LINE + 1))),
            batch(&"r".repeat(65), &hit(1, "/")),
            batch("r", &vec![hit(1, "/"); MAX_MESSAGE_HITS + 1].join(",")),
        ] {
            let e = Batch::decode(bad.as_bytes()).unwrap_err();
            assert!(matches!(e, DecodeError::Limit(_)), "{e}");
        }
    }

    #[test]
    fn options_check_urls_and_credentials() {
        let o = NatsOptions::new("nats://127.0.0.1:4222", None, None, None).unwrap();
        assert_eq!(o.url(), "nats://127.0.0.1:4222");
        let o = NatsOptions::new("nats://bob:s%40cret@example.com", None, None, None).unwrap();
        assert_eq!(o.url(), "nats://example.com:4222");
        assert_eq!(o.user, Some(("bob".into(), "s@cret".into())));
        assert!(!format!("{o:?}").contains("cret"));
        assert!(NatsOptions::new("tls://example.com:4443", None, None, None).is_ok());
        for bad in [
            "localhost:4222",
            "http://example.com",
            "nats://",
            "nats://a b",
            "nats://h/path",
        ] {
            let e = NatsOptions::new(bad, None, None, None).unwrap_err();
            assert!(e.to_string().starts_with("--nats: "), "{bad}: {e}");
        }
        let e = NatsOptions::new("http://bob:pw@example.com", None, None, None).unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
        // A token in the URL, as the NATS clients take it; never shown.
        let o = NatsOptions::new("nats://s3cr%2Ft@example.com:4222", None, None, None).unwrap();
        assert_eq!(
            (o.user.as_ref(), o.token.as_deref()),
            (None, Some("s3cr/t"))
        );
        assert_eq!(o.url(), "nats://example.com:4222");
        assert!(!format!("{o:?}").contains("s3cr"));
        let e = NatsOptions::new("http://s3cret@example.com", None, None, None).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        let e = NatsOptions::new("nats://t@h", Some("t"), None, None).unwrap_err();
        assert!(matches!(e, NatsOptionError::TwoCredentials), "{e}");
        let e = NatsOptions::new("nats://h", Some(" "), None, None).unwrap_err();
        assert!(e.to_string().starts_with("--nats-token"), "{e}");
        let e = NatsOptions::new("nats://u:p@h", Some("t"), None, None).unwrap_err();
        assert!(matches!(e, NatsOptionError::TwoCredentials), "{e}");
        let e = NatsOptions::new("nats://h", None, Some(Path::new("/no/such.creds")), None)
            .unwrap_err();
        assert!(
            e.to_string().starts_with("--nats-creds /no/such.creds"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk");
        std::fs::write(&junk, "not a file of credentials").unwrap();
        let e = NatsOptions::new("nats://h", None, Some(&junk), None).unwrap_err();
        assert!(e.to_string().contains("not a NATS .creds file"), "{e}");
        let e = NatsOptions::new("tls://h", None, None, Some(&junk)).unwrap_err();
        assert!(e.to_string().starts_with("--nats-ca"), "{e}");
    }

    #[test]
    fn reconnect_delays_are_capped() {
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        assert!(reconnect_delay(2) >= Duration::from_millis(50));
        for attempt in [10, 100, 10_000, usize::MAX] {
            let d = reconnect_delay(attempt);
            assert!(
                d >= MAX_RECONNECT_DELAY && d <= MAX_RECONNECT_DELAY * 5 / 4,
                "{d:?}"
            );
        }
    }
}
