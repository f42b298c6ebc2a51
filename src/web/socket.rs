//! The viewers' WebSocket (RFC 6455) with permessage-deflate (RFC 7692), written for fan-out:
//! a frame is encoded, and compressed, once, and the same bytes go to every viewer's socket.
//!
//! tungstenite (under axum's WebSocket) copies each message into every socket's write buffer,
//! cannot send a compressed frame, and refuses the compressed frames a browser sends once
//! compression is agreed. With 10,000 viewers those copies and the uncompressed bytes are the
//! cost of a frame: a `hits` frame of 100 hits is ~45 KB of JSON and ~5 KB deflated. So the
//! viewers' socket is this small module: the handshake (as axum's, plus the extension), a frame
//! reader for what a viewer sends (small control messages: masked, maybe fragmented, maybe
//! compressed), and frame encoders whose output is written as it is.
//!
//! Compression is negotiated with `server_no_context_takeover`: each message the server sends
//! is compressed on its own, which is what lets one compressed frame serve every viewer. What a
//! viewer sends is inflated with the context the viewer chose, until the viewer's messages no
//! longer matter ([`Socket::ignore_data`]); then they are only measured, which spares each
//! viewer an inflater.

use std::cell::RefCell;
use std::io;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header, request::Parts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Opcodes.
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// The tail that a sync flush ends with, left off compressed messages (RFC 7692 7.2.1).
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The extension as the server agrees to it.
const DEFLATE_NAME: &str = "permessage-deflate";

/// A WebSocket upgrade request for the viewers' socket, checked (HTTP/1.1 `GET` with
/// `Connection: upgrade`, `Upgrade: websocket`, version 13 and a key), with the compression it
/// offers. Rejected with 400, 405 or 426 and a one-line reason otherwise.
pub struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
    deflate: Option<Deflate>,
}

/// permessage-deflate as agreed with one viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deflate {
    /// The viewer resets its compressor after each message (`client_no_context_takeover`),
    /// so its messages inflate without the previous ones.
    pub client_no_context_takeover: bool,
    /// The viewer offered `server_max_window_bits=15`, which an answer must then repeat.
    pub server_max_window_bits: bool,
}

impl Deflate {
    /// The `Sec-WebSocket-Extensions` answer.
    fn response(self) -> HeaderValue {
        let mut answer = String::from("permessage-deflate; server_no_context_takeover");
        if self.client_no_context_takeover {
            answer.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits {
            answer.push_str("; server_max_window_bits=15");
        }
        HeaderValue::from_str(&answer).expect("ASCII")
    }
}

/// The first permessage-deflate offer in `Sec-WebSocket-Extensions` that the server can take:
/// any client window, its own window at 15 bits (the default; an offer asking for less is
/// passed over), no unknown or repeated parameter (RFC 7692 section 5).
pub fn negotiate_deflate(headers: &HeaderMap) -> Option<Deflate> {
    'offers: for offer in super::header_list(headers, header::SEC_WEBSOCKET_EXTENSIONS) {
        let mut parts = offer.split(';').map(str::trim);
        if !parts
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(DEFLATE_NAME))
        {
            continue;
        }
        let mut seen = Vec::new();
        let mut deflate = Deflate {
            client_no_context_takeover: false,
            server_max_window_bits: false,
        };
        for param in parts {
            let (name, value) = match param.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (param, None),
            };
            let name = name.to_ascii_lowercase();
            if seen.contains(&name) {
                continue 'offers;
            }
            let bits_ok = |v: Option<&str>| {
                v.is_none_or(|v| v.parse::<u8>().is_ok_and(|b| (8..=15).contains(&b)))
            };
            match name.as_str() {
                "server_no_context_takeover" if value.is_none() => {}
                "client_no_context_takeover" if value.is_none() => {
                    deflate.client_no_context_takeover = true;
                }
                // The viewer's window is its own business: an inflater with 15 bits reads any.
                "client_max_window_bits" if bits_ok(value) => {}
                // Compressing with a smaller window is not offered by the deflate backend.
                "server_max_window_bits" if value == Some("15") => {
                    deflate.server_max_window_bits = true;
                }
                _ => continue 'offers,
            }
            seen.push(name);
        }
        return Some(deflate);
    }
    None
}

/// Whether `key` is 16 bytes in base64: 22 characters of the alphabet and `==`.
fn is_websocket_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

/// A one-line refusal.
fn reject(status: StatusCode, why: &'static str) -> Response {
    (status, why).into_response()
}

/// Whether a comma-separated header holds `token` (case-insensitive).
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    super::header_list(headers, name).any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        if parts.version > Version::HTTP_11 {
            return Err(reject(
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                "WebSockets are served over HTTP/1.1\n",
            ));
        }
        if parts.method != Method::GET {
            return Err(reject(StatusCode::METHOD_NOT_ALLOWED, "GET only\n"));
        }
        let headers = &parts.headers;
        if !header_has_token(headers, header::CONNECTION, "upgrade")
            || !header_has_token(headers, header::UPGRADE, "websocket")
        {
            let mut refused = reject(
                StatusCode::UPGRADE_REQUIRED,
                "this is a WebSocket: open the dashboard at / instead\n",
            );
            refused
                .headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            return Err(refused);
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes() != b"13")
        {
            let mut refused = reject(StatusCode::BAD_REQUEST, "WebSocket version 13 only\n");
            refused.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return Err(refused);
        }
        let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "no Sec-WebSocket-Key header\n",
            ));
        };
        // RFC 6455 4.2.1: the key is 16 bytes in base64; a server must refuse any other.
        if !is_websocket_key(key.as_bytes()) {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Key is not 16 bytes in base64\n",
            ));
        }
        let deflate = negotiate_deflate(headers);
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "this connection cannot be upgraded\n",
            ));
        };
        Ok(Upgrade {
            key,
            on_upgrade,
            deflate,
        })
    }
}

impl Upgrade {
    /// Answers 101 and runs `serve` with the socket once the connection is handed over.
    pub fn on_upgrade<F, Fut>(self, serve: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let deflate = self.deflate;
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => serve(Socket::new(TokioIo::new(upgraded), deflate)).await,
                Err(e) => tracing::debug!("a WebSocket upgrade failed: {e}"),
            }
        });
        let accept = tungstenite::handshake::derive_accept_key(self.key.as_bytes());
        let mut response = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, accept);
        if let Some(deflate) = deflate {
            response = response.header(header::SEC_WEBSOCKET_EXTENSIONS, deflate.response());
        }
        response
            .body(axum::body::Body::empty())
            .expect("a valid response")
    }
}

/// What a viewer sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A data message after [`Socket::ignore_data`]: measured, not decoded.
    Ignored,
    /// A ping, with its payload (to send back in the pong).
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// A close, with its code if it had one.
    Close(Option<u16>),
}

/// Why reading from a viewer ended.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The connection closed without a close frame, or failed.
    #[error("connection lost: {0}")]
    Io(#[from] io::Error),
    /// The viewer broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// A message over the size limit (compressed or not).
    #[error("message too big")]
    TooBig,
    /// A text message that is not UTF-8 (closed with 1007, as RFC 6455 says).
    #[error("a text message that is not UTF-8")]
    NotUtf8,
}

/// One viewer's WebSocket, server side.
pub struct Socket<S = TokioIo<Upgraded>> {
    io: S,
    /// Bytes read and not parsed yet.
    read: Vec<u8>,
    /// The data message being put together from its frames.
    message: Vec<u8>,
    /// Its opcode (text or binary) while one is open.
    message_opcode: Option<u8>,
    /// Whether it is compressed.
    message_compressed: bool,
    deflate: Option<Deflate>,
    /// Inflates the viewer's compressed messages; made at the first one.
    inflater: Option<Box<Decompress>>,
    /// Data messages are measured, not decoded ([`Socket::ignore_data`]).
    ignore_data: bool,
    /// Largest message the viewer may send, compressed or not.
    limit: usize,
    /// How long one write may take nothing before it fails with `TimedOut`.
    write_timeout: Option<Duration>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Socket<S> {
    /// A socket over `io`, compressing what it sends if `deflate` was agreed.
    pub fn new(io: S, deflate: Option<Deflate>) -> Socket<S> {
        Socket {
            io,
            read: Vec::new(),
            message: Vec::new(),
            message_opcode: None,
            message_compressed: false,
            deflate,
            inflater: None,
            ignore_data: false,
            limit: super::MAX_VIEWER_MESSAGE,
            write_timeout: None,
        }
    }

    /// From here on, every write (frames, pings, pongs, closes) fails with
    /// [`io::ErrorKind::TimedOut`] once the socket has taken nothing for `timeout`: the clock
    /// restarts whenever some bytes go out, so a slow viewer that still reads is not cut off.
    pub fn set_write_timeout(&mut self, timeout: Duration) {
        self.write_timeout = Some(timeout);
    }

    /// Whether what this socket sends is compressed.
    pub fn deflate(&self) -> bool {
        self.deflate.is_some()
    }

    /// From here on, data messages are only measured against the limit and returned as
    /// [`Incoming::Ignored`] (uncompressed text is still checked for UTF-8); the inflater
    /// (~40 KB) is dropped.
    pub fn ignore_data(&mut self) {
        self.ignore_data = true;
        self.inflater = None;
    }

    /// Writes one whole encoded frame and flushes.
    async fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.send_all(&[frame]).await
    }

    /// Writes several whole encoded frames with as few `writev`s as the socket takes, and
    /// flushes.
    pub async fn send_all<F: AsRef<[u8]>>(&mut self, frames: &[F]) -> io::Result<()> {
        let mut slices: Vec<io::IoSlice<'_>> = frames
            .iter()
            .map(|f| io::IoSlice::new(f.as_ref()))
            .collect();
        let mut rest = &mut slices[..];
        let limit = self.write_timeout;
        while !rest.is_empty() {
            let n = within(limit, self.io.write_vectored(rest)).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            io::IoSlice::advance_slices(&mut rest, n);
        }
        within(limit, self.io.flush()).await
    }

    /// Sends a close frame with `code` and `reason`.
    pub async fn close(&mut self, code: Option<u16>, reason: &str) -> io::Result<()> {
        let mut payload = Vec::new();
        if let Some(code) = code {
            payload.extend_from_slice(&code.to_be_bytes());
            payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
        }
        self.send(&control_frame(CLOSE, &payload)).await
    }

    /// Closes for a fault of the peer's (`code`: 1002, 1007, 1009) the way RFC 6455 7.1.1 asks:
    /// the close frame, then this side's write half, then what the peer still sends (its close
    /// frame, the rest of a refused message) is read and dropped until it closes too, for at
    /// most [`CLOSE_LINGER`] and [`CLOSE_LINGER_BYTES`]. Dropping the socket with bytes unread
    /// makes the kernel answer with a reset, and a browser that gets it before it reads the
    /// close frame (Windows drops unread data on a reset) reports 1006, not the code.
    pub async fn close_and_linger(&mut self, code: u16, reason: &str) {
        if self.close(Some(code), reason).await.is_err() {
            return;
        }
        let _ = within(Some(CLOSE_LINGER), self.io.shutdown()).await;
        let mut buf = [0u8; 4096];
        let mut left = CLOSE_LINGER_BYTES;
        let drain = async {
            while left > 0 {
                match self.io.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_LINGER, drain).await;
    }

    /// Sends a ping with an empty payload.
    pub async fn ping(&mut self) -> io::Result<()> {
        self.send(&control_frame(PING, &[])).await
    }

    /// Sends a pong with a ping's payload.
    pub async fn pong(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send(&control_frame(PONG, payload)).await
    }

    /// The next message or control frame from the viewer. Cancel-safe: a frame is taken only
    /// when it is whole, and what was read stays in the socket.
    pub async fn recv(&mut self) -> Result<Incoming, SocketError> {
        loop {
            if let Some(incoming) = self.parse()? {
                return Ok(incoming);
            }
            if self.read.capacity() - self.read.len() < 512 {
                self.read.reserve(1024);
            }
            if self.io.read_buf(&mut self.read).await? == 0 {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
            }
        }
    }

    /// Takes one whole frame from the read buffer, if there is one; returns a message when it
    /// completes one.
    fn parse(&mut self) -> Result<Option<Incoming>, SocketError> {
        loop {
            let b = &self.read[..];
            if b.len() < 2 {
                return Ok(None);
            }
            let (fin, rsv1, opcode) = (b[0] & 0x80 != 0, b[0] & 0x40 != 0, b[0] & 0x0f);
            if b[0] & 0x30 != 0 {
                return Err(SocketError::Protocol("reserved bits set"));
            }
            if b[1] & 0x80 == 0 {
                return Err(SocketError::Protocol("an unmasked frame from a client"));
            }
            let (len, head) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
                127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().unwrap()), 10),
                126 | 127 => return Ok(None),
                n => (u64::from(n), 2),
            };
            // RFC 6455 5.2: the top bit of a 64-bit length must be 0. Such a frame breaks the
            // protocol (1002); it is not merely too big (1009, counted as oversize).
            if len >> 63 != 0 {
                return Err(SocketError::Protocol(
                    "a 64-bit length with its top bit set",
                ));
            }
            let control = opcode & 0x8 != 0;
            if control && (!fin || len > 125 || rsv1) {
                return Err(SocketError::Protocol("a bad control frame"));
            }
            // Compared without adding: a 64-bit length must not wrap around.
            if !control && len > (self.limit - self.message.len()) as u64 {
                return Err(SocketError::TooBig);
            }
            let len = len as usize;
            let total = head + 4 + len;
            if b.len() < total {
                return Ok(None);
            }
            let mask: [u8; 4] = b[head..head + 4].try_into().unwrap();
            let mut payload: Vec<u8> = b[head + 4..total].to_vec();
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= mask[i % 4];
            }
            self.read.drain(..total);
            if self.read.is_empty() && self.read.capacity() > 8 * 1024 {
                self.read = Vec::new();
            }
            match opcode {
                PING => return Ok(Some(Incoming::Ping(payload))),
                PONG => return Ok(Some(Incoming::Pong)),
                CLOSE => return close_code(&payload).map(|code| Some(Incoming::Close(code))),
                TEXT | BINARY => {
                    if self.message_opcode.is_some() {
                        return Err(SocketError::Protocol(
                            "a new message inside a fragmented one",
                        ));
                    }
                    if rsv1 && self.deflate.is_none() {
                        return Err(SocketError::Protocol(
                            "a compressed frame without the extension",
                        ));
                    }
                    self.message_opcode = Some(opcode);
                    self.message_compressed = rsv1;
                }
                CONTINUATION => {
                    if self.message_opcode.is_none() {
                        return Err(SocketError::Protocol("a continuation without a message"));
                    }
                    if rsv1 {
                        return Err(SocketError::Protocol("a compressed continuation frame"));
                    }
                }
                _ => return Err(SocketError::Protocol("an unknown opcode")),
            }
            self.message.extend_from_slice(&payload);
            if fin {
                return self.finish_message().map(Some);
            }
        }
    }

    /// The message whose last frame just came: inflated and checked, or measured only.
    fn finish_message(&mut self) -> Result<Incoming, SocketError> {
        let opcode = self.message_opcode.take().expect("a message is open");
        let data = std::mem::take(&mut self.message);
        if self.ignore_data {
            // RFC 6455 8.1: text that is not UTF-8 fails the connection (1007) even when it is
            // not read. Checking plain text costs nothing (4 KiB at most); compressed text is
            // not inflated to check it (that is what ignoring spares).
            if opcode == TEXT && !self.message_compressed && std::str::from_utf8(&data).is_err() {
                return Err(SocketError::NotUtf8);
            }
            return Ok(Incoming::Ignored);
        }
        let data = if self.message_compressed {
            let takeover = self.deflate.is_some_and(|d| !d.client_no_context_takeover);
            let inflater = self
                .inflater
                .get_or_insert_with(|| Box::new(Decompress::new(false)));
            let out = inflate(inflater, &data, self.limit);
            if !takeover {
                inflater.reset(false);
            }
            out?
        } else {
            data
        };
        if opcode == TEXT {
            String::from_utf8(data)
                .map(Incoming::Text)
                .map_err(|_| SocketError::NotUtf8)
        } else {
            Ok(Incoming::Binary(data))
        }
    }
}

/// How long a socket closed for a fault waits for the peer to close too.
pub const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// How much of what the peer still sends is read and dropped meanwhile.
pub const CLOSE_LINGER_BYTES: usize = 1 << 20;

/// `write` if it ends within `limit`; `TimedOut` otherwise.
async fn within<T>(
    limit: Option<Duration>,
    write: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    let mut write = std::pin::pin!(write);
    // Nearly every write is taken at once: it needs no timer (reading the clock and making a
    // timer twice per frame and viewer is a cost 10,000 viewers multiply).
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(write.as_mut().poll(cx))).await;
    if let std::task::Poll::Ready(done) = first {
        return done;
    }
    match limit {
        None => write.await,
        Some(limit) => tokio::time::timeout(limit, write)
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
    }
}

/// The code of a close frame's payload, checked (RFC 6455 5.5.1 and 7.4): empty, or a code a
/// peer may send and a UTF-8 reason.
fn close_code(payload: &[u8]) -> Result<Option<u16>, SocketError> {
    let bad = SocketError::Protocol("a bad close frame");
    match payload {
        [] => Ok(None),
        [_] => Err(bad),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            let allowed = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !allowed || std::str::from_utf8(reason).is_err() {
                return Err(bad);
            }
            Ok(Some(code))
        }
    }
}

/// Inflates one message (its sync tail put back), at most `limit` bytes.
fn inflate(inflater: &mut Decompress, data: &[u8], limit: usize) -> Result<Vec<u8>, SocketError> {
    let broken = |_| SocketError::Protocol("a compressed message that does not inflate");
    let mut out = Vec::with_capacity((data.len() * 4).max(64).min(limit + 1));
    for input in [data, &SYNC_TAIL[..]] {
        let mut used = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve_exact(out.capacity().min(limit + 1 - out.len().min(limit)).max(64));
            }
            let (before_in, before_out) = (inflater.total_in(), out.len());
            inflater
                .decompress_vec(&input[used..], &mut out, FlushDecompress::Sync)
                .map_err(broken)?;
            used += (inflater.total_in() - before_in) as usize;
            if out.len() > limit {
                return Err(SocketError::TooBig);
            }
            // Done with this input once it is all taken and the output had room to spare (or
            // nothing moves any more).
            let stuck = inflater.total_in() == before_in && out.len() == before_out;
            if (used == input.len() && out.len() < out.capacity()) || stuck {
                break;
            }
        }
    }
    Ok(out)
}

thread_local! {
    /// One compressor per thread, reset for each message: its state is ~300 KB, too much to
    /// make for every frame or keep per viewer.
    static DEFLATER: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
}

/// Compresses one message on its own (no context taken over), without the sync tail.
pub fn deflate(input: &[u8]) -> Vec<u8> {
    DEFLATER.with_borrow_mut(|c| {
        c.reset();
        let mut out = Vec::with_capacity(input.len() / 4 + 64);
        loop {
            let used = c.total_in() as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            c.compress_vec(&input[used..], &mut out, FlushCompress::Sync)
                .expect("deflate takes any input");
            // A sync flush is complete once all input is taken and the output had room left.
            if c.total_in() as usize == input.len() && out.len() < out.capacity() {
                break;
            }
        }
        debug_assert!(out.ends_with(&SYNC_TAIL));
        out.truncate(out.len().saturating_sub(SYNC_TAIL.len()));
        out
    })
}

/// The frame header (server to client: never masked).
fn header(first: u8, len: usize, out: &mut Vec<u8>) {
    out.push(first);
    match len {
        0..=125 => out.push(len as u8),
        126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
}

/// Messages shorter than this go uncompressed even when compression was agreed (allowed
/// message by message): they would hardly shrink, and each compression resets ~160 KB of
/// compressor tables.
const COMPRESS_FROM: usize = 256;

/// One text message as a single frame, ready to write: compressed (RSV1 set) if `deflate` and
/// it is not tiny.
pub fn text_frame(text: &[u8], deflate: bool) -> Bytes {
    let compressed;
    let (first, payload) = if deflate && text.len() >= COMPRESS_FROM {
        compressed = self::deflate(text);
        (0x80 | 0x40 | TEXT, &compressed[..])
    } else {
        (0x80 | TEXT, text)
    };
    let mut out = Vec::with_capacity(payload.len() + 10);
    header(first, payload.len(), &mut out);
    out.extend_from_slice(payload);
    out.into()
}

/// A control frame (ping, pong, close), payload cut at 125 bytes.
fn control_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let payload = &payload[..payload.len().min(125)];
    let mut out = Vec::with_capacity(payload.len() + 2);
    header(0x80 | opcode, payload.len(), &mut out);
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked, maybe compressed, maybe not final.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![first];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    fn headers(offer: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::SEC_WEBSOCKET_EXTENSIONS, offer.parse().unwrap());
        h
    }

    #[test]
    fn deflate_offers() {
        let plain = Deflate {
            client_no_context_takeover: false,
            server_max_window_bits: false,
        };
        // Chromium's and Firefox's offers.
        assert_eq!(
            negotiate_deflate(&headers("permessage-deflate; client_max_window_bits")),
            Some(plain)
        );
        assert_eq!(
            negotiate_deflate(&headers("permessage-deflate")),
            Some(plain)
        );
        assert_eq!(
            negotiate_deflate(&headers(
                "permessage-deflate; server_max_window_bits=10, permessage-deflate; client_no_context_takeover"
            )),
            Some(Deflate {
                client_no_context_takeover: true,
                server_max_window_bits: false,
            }),
            "the first offer asks for a smaller window than we compress with; the second is taken"
        );
        let exact = negotiate_deflate(&headers("permessage-deflate; server_max_window_bits=15"));
        assert_eq!(
            exact.unwrap().response(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=15",
            "a window parameter that is taken is repeated"
        );
        assert_eq!(negotiate_deflate(&headers("x-webkit-deflate-frame")), None);
        assert_eq!(negotiate_deflate(&headers("permessage-deflate; foo")), None);
        assert_eq!(
            negotiate_deflate(&headers(
                "permessage-deflate; client_max_window_bits; client_max_window_bits"
            )),
            None
        );
        assert_eq!(negotiate_deflate(&HeaderMap::new()), None);
    }

    #[test]
    fn deflate_round_trips_and_shrinks_json() {
        let text = br#"{"type":"hits","hits":["#
            .iter()
            .chain(
                br#"{"seq":1,"path":"/a","agent":"Mozilla/5.0 (X11; Linux x86_64)"},"#
                    .repeat(100)
                    .iter(),
            )
            .copied()
            .collect::<Vec<u8>>();
        let packed = deflate(&text);
        assert!(
            packed.len() * 5 < text.len(),
            "{} of {}",
            packed.len(),
            text.len()
        );
        let mut d = Decompress::new(false);
        assert_eq!(inflate(&mut d, &packed, 1 << 20).unwrap(), text);
        // On its own: the same input gives the same bytes every time (shared by all viewers).
        assert_eq!(deflate(&text), packed);
        assert!(inflate(&mut Decompress::new(false), &packed, 100).is_err());
        assert_eq!(
            inflate(&mut Decompress::new(false), &deflate(b""), 10).unwrap(),
            b""
        );
    }

    #[test]
    fn frames_have_the_right_headers() {
        assert_eq!(&text_frame(b"hi", false)[..], b"\x81\x02hi");
        let long = vec![b'a'; 300];
        let f = text_frame(&long, false);
        assert_eq!(&f[..4], &[0x81, 126, 0x01, 0x2c]);
        let f = text_frame(&long, true);
        assert_eq!(f[0], 0xc1, "FIN, RSV1, text");
        assert_eq!(
            &text_frame(b"hi", true)[..],
            b"\x81\x02hi",
            "tiny: as it is"
        );
        let mut d = Decompress::new(false);
        assert_eq!(inflate(&mut d, &f[2..], 1000).unwrap(), long);
        let big = vec![b'a'; 70_000];
        assert_eq!(&text_frame(&big, false)[..2], &[0x81, 127]);
        assert_eq!(control_frame(PONG, b"x"), b"\x8a\x01x");
    }

    async fn socket_with(
        deflate: Option<Deflate>,
        input: Vec<u8>,
    ) -> (Socket<tokio::io::DuplexStream>, tokio::io::DuplexStream) {
        let (ours, mut theirs) = tokio::io::duplex(1 << 16);
        theirs.write_all(&input).await.unwrap();
        (Socket::new(ours, deflate), theirs)
    }

    #[tokio::test]
    async fn reads_fragments_controls_and_compressed_messages() {
        let deflate = Some(Deflate {
            client_no_context_takeover: false,
            server_max_window_bits: false,
        });
        // A client compressing with context takeover: the second message refers to the first.
        let mut c = Compress::new(Compression::default(), false);
        let mut packed = |text: &[u8]| {
            let mut out = Vec::with_capacity(256);
            c.compress_vec(text, &mut out, FlushCompress::Sync).unwrap();
            out.truncate(out.len() - 4);
            out
        };
        let resume = br#"{"type":"resume","after":0}"#;
        let first = packed(resume);
        let second = packed(resume);
        assert!(second.len() < first.len(), "the second refers to the first");
        let mut input = Vec::new();
        input.extend(client_frame(0x01, b"hel"));
        input.extend(client_frame(0x89, b"p"));
        input.extend(client_frame(0x80, b"lo"));
        input.extend(client_frame(0xc1, &first));
        input.extend(client_frame(0xc1, &second));
        input.extend(client_frame(0x8a, b""));
        input.extend(client_frame(0x88, &1000u16.to_be_bytes()));
        let (mut s, _peer) = socket_with(deflate, input).await;
        assert_eq!(s.recv().await.unwrap(), Incoming::Ping(b"p".to_vec()));
        assert_eq!(s.recv().await.unwrap(), Incoming::Text("hello".into()));
        let text = String::from_utf8(resume.to_vec()).unwrap();
        assert_eq!(s.recv().await.unwrap(), Incoming::Text(text.clone()));
        assert_eq!(s.recv().await.unwrap(), Incoming::Text(text));
        assert_eq!(s.recv().await.unwrap(), Incoming::Pong);
        assert_eq!(s.recv().await.unwrap(), Incoming::Close(Some(1000)));
    }

    #[tokio::test]
    async fn refuses_what_breaks_the_protocol_or_the_limit() {
        let big = vec![b'x'; 5000];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (client_frame(0x81, &big), "too big"),
            (
                [
                    client_frame(0x01, &big[..3000]),
                    client_frame(0x80, &big[..3000]),
                ]
                .concat(),
                "too big",
            ),
            (vec![0x81, 0x02, b'h', b'i'], "unmasked"),
            (client_frame(0xc1, b"x"), "compressed frame without"),
            (client_frame(0x80, b"x"), "continuation without"),
            (client_frame(0x81, &[0xff, 0xfe]), "not UTF-8"),
            (client_frame(0x09, b""), "control"),
            (client_frame(0xa1, b""), "reserved"),
            (client_frame(0x88, &[3]), "bad close"),
            (client_frame(0x88, &1005u16.to_be_bytes()), "bad close"),
            (client_frame(0x88, &[0x03, 0xe8, 0xff]), "bad close"),
            // A 64-bit length with its top bit set breaks the protocol (not merely too big).
            (
                [
                    vec![0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 5],
                    vec![0; 9],
                ]
                .concat(),
                "top bit",
            ),
            // A continuation announcing 2^63 - 6 bytes after a 10-byte fragment.
            (
                [
                    client_frame(0x01, &[b'a'; 10]),
                    vec![
                        0x80,
                        0x80 | 127,
                        0x7f,
                        0xff,
                        0xff,
                        0xff,
                        0xff,
                        0xff,
                        0xff,
                        0xfa,
                    ],
                ]
                .concat(),
                "too big",
            ),
        ];
        for (input, why) in cases {
            let (mut s, _peer) = socket_with(None, input).await;
            let err = s.recv().await.unwrap_err().to_string();
            assert!(err.contains(why), "{err} for {why}");
        }
        // A compressed bomb: 5 KB that inflate past the limit.
        let bomb = deflate(&vec![b'a'; 1 << 18]);
        assert!(bomb.len() < 4096);
        let deflate_on = Some(Deflate {
            client_no_context_takeover: true,
            server_max_window_bits: false,
        });
        let (mut s, _peer) = socket_with(deflate_on, client_frame(0xc1, &bomb)).await;
        assert!(matches!(s.recv().await, Err(SocketError::TooBig)));
        // Once data is ignored, a compressed message is measured, not inflated.
        let (mut s, _peer) = socket_with(deflate_on, client_frame(0xc1, &bomb)).await;
        s.ignore_data();
        assert_eq!(s.recv().await.unwrap(), Incoming::Ignored);
        // The peer leaving mid-frame is an I/O error.
        let (mut s, peer) = socket_with(None, client_frame(0x81, b"hello")[..4].to_vec()).await;
        drop(peer);
        assert!(matches!(s.recv().await, Err(SocketError::Io(_))));
    }

    #[tokio::test]
    async fn a_write_gives_up_only_when_nothing_goes_out_for_the_timeout() {
        let frame = text_frame(&vec![b'a'; 200_000], false);
        // Nobody reads: the 4 KiB pipe fills, and the write fails after the timeout.
        let (ours, _theirs) = tokio::io::duplex(4096);
        let mut s = Socket::new(ours, None);
        s.set_write_timeout(Duration::from_millis(500));
        let start = tokio::time::Instant::now();
        let err = tokio::time::timeout(Duration::from_secs(10), s.send_all(&[&frame]))
            .await
            .expect("the write timeout never fired")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(500));
        // A slow reader (4 KiB every 20 ms, 1 s for the whole frame) is never cut off: the
        // clock restarts whenever some bytes go out.
        let (ours, mut theirs) = tokio::io::duplex(4096);
        let len = frame.len();
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut buf = vec![0; 4096];
            while got < len {
                tokio::time::sleep(Duration::from_millis(20)).await;
                got += theirs.read(&mut buf).await.unwrap();
            }
            got
        });
        let mut s = Socket::new(ours, None);
        s.set_write_timeout(Duration::from_millis(500));
        s.send_all(&[&frame]).await.unwrap();
        assert_eq!(reader.await.unwrap(), len);
    }

    #[test]
    fn a_write_taken_at_once_needs_no_timer() {
        // A runtime without timers: making one (tokio::time::timeout) would panic.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (ours, mut theirs) = tokio::io::duplex(4096);
            let mut s = Socket::new(ours, None);
            s.set_write_timeout(Duration::from_millis(500));
            s.ping().await.unwrap();
            s.send_all(&[text_frame(b"hello", false)]).await.unwrap();
            let mut got = [0; 9];
            theirs.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"\x89\x00\x81\x05hello");
        });
    }
}
