//! The viewers' WebSocket with permessage-deflate, offered as browsers offer it: frames come
//! compressed, each on its own and the same bytes to every viewer; a viewer's compressed
//! messages are read; a compressed message over the limit closes with 1009; a viewer that does
//! not offer compression gets the same stream plain. Raw TCP clients speak the protocol here,
//! so the test sees the bytes on the wire.

mod common;

use std::time::Duration;

use common::{Server, collect_hits, line};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECOND: Duration = Duration::from_secs(1);
/// Chromium's offer.
const CHROMIUM_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// A viewer speaking WebSocket by hand.
struct RawViewer {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Its own compressor, with context taken over from message to message (as browsers do).
    deflater: Compress,
}

/// One message from the server, as it came.
struct Received {
    /// RSV1: compressed.
    compressed: bool,
    /// The payload as sent.
    wire: Vec<u8>,
    /// The payload inflated, as JSON (or the close code for a close).
    json: Value,
}

impl RawViewer {
    /// Upgrades `/ws` with this `Sec-WebSocket-Extensions` offer; returns the viewer and the
    /// response head.
    async fn connect(s: &Server, offer: Option<&str>) -> (RawViewer, String) {
        let mut stream = TcpStream::connect(s.addr).await.unwrap();
        let extensions = offer.map_or(String::new(), |o| {
            format!("Sec-WebSocket-Extensions: {o}\r\n")
        });
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {0}\r\nOrigin: http://{0}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n{extensions}\r\n",
            s.addr
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            let mut chunk = [0u8; 1024];
            let n = tokio::time::timeout(5 * SECOND, stream.read(&mut chunk))
                .await
                .expect("an answer")
                .unwrap();
            assert!(n > 0, "closed during the upgrade");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let rest = buf.split_off(end + 4);
        let viewer = RawViewer {
            stream,
            buf: rest,
            deflater: Compress::new(Compression::default(), false),
        };
        (viewer, head)
    }

    /// The next message (pings are answered and skipped).
    async fn next(&mut self) -> Received {
        loop {
            if let Some(m) = self.take_frame().await {
                return m;
            }
        }
    }

    /// One frame from the buffer, reading as needed; `None` for a ping (answered).
    async fn take_frame(&mut self) -> Option<Received> {
        loop {
            let b = &self.buf;
            if b.len() >= 2 {
                assert_eq!(b[1] & 0x80, 0, "server frames are not masked");
                let (len, head) = match b[1] & 0x7f {
                    126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                    127 if b.len() >= 10 => (
                        u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && b.len() >= head + len {
                    let first = b[0];
                    assert_ne!(first & 0x80, 0, "webpeek sends every message in one frame");
                    let wire = b[head..head + len].to_vec();
                    self.buf.drain(..head + len);
                    let compressed = first & 0x40 != 0;
                    return match first & 0x0f {
                        0x9 => {
                            self.send(0x8a, &wire).await;
                            None
                        }
                        0x8 => {
                            let code =
                                (wire.len() >= 2).then(|| u16::from_be_bytes([wire[0], wire[1]]));
                            Some(Received {
                                compressed,
                                wire,
                                json: json!({ "close": code }),
                            })
                        }
                        _ => {
                            let text = if compressed {
                                inflate(&wire)
                            } else {
                                wire.clone()
                            };
                            let json = serde_json::from_slice(&text).expect("JSON");
                            Some(Received {
                                compressed,
                                wire,
                                json,
                            })
                        }
                    };
                }
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let n = tokio::time::timeout(10 * SECOND, self.stream.read(&mut chunk))
                .await
                .expect("a frame within 10 s")
                .unwrap();
            if n == 0 {
                return Some(Received {
                    compressed: false,
                    wire: Vec::new(),
                    json: json!({ "eof": true }),
                });
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends one masked frame.
    async fn send(&mut self, first: u8, payload: &[u8]) {
        let mask = [7u8, 11, 13, 17];
        let mut frame = vec![first];
        match payload.len() {
            n @ 0..=125 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.unwrap();
    }

    /// Sends a text message compressed with the viewer's running compressor.
    async fn send_compressed(&mut self, text: &[u8]) {
        let mut out = Vec::with_capacity(text.len() + 64);
        self.deflater
            .compress_vec(text, &mut out, FlushCompress::Sync)
            .unwrap();
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        self.send(0xc1, &out).await;
    }

    /// Hits from `hits` messages until `n` have come; every message must be compressed or not
    /// as `compressed` says. Returns the hits and the raw payloads of the frames.
    async fn hits(&mut self, n: usize, compressed: bool) -> (Vec<Value>, Vec<Vec<u8>>) {
        let (mut hits, mut wires) = (Vec::new(), Vec::new());
        while hits.len() < n {
            let m = self.next().await;
            assert_eq!(m.compressed, compressed, "{}", m.json);
            if m.json["type"] == "hits" {
                hits.extend(m.json["hits"].as_array().unwrap().iter().cloned());
                wires.push(m.wire);
            }
        }
        (hits, wires)
    }
}

/// Inflates one message compressed on its own (the server takes no context over).
fn inflate(data: &[u8]) -> Vec<u8> {
    let mut d = Decompress::new(false);
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(data.len() * 20 + 1024);
    loop {
        let used = d.total_in() as usize;
        d.decompress_vec(&input[used..], &mut out, FlushDecompress::Sync)
            .expect("a message that inflates on its own");
        if d.total_in() as usize == input.len() && out.len() < out.capacity() {
            return out;
        }
        out.reserve(out.capacity());
    }
}

fn seqs(hits: &[Value]) -> Vec<u64> {
    hits.iter().map(|h| h["seq"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn frames_are_compressed_once_and_shared_by_every_viewer() {
    let s = Server::start(&[]);
    let backlog: String = (0..300)
        .map(|i| line("203.0.113.7", &format!("/before/{i}")))
        .collect();
    s.append(backlog);
    // Wait until the backlog is in.
    let mut plain = s.viewer().await;
    collect_hits(&mut plain, 300, 10 * SECOND).await;

    let (mut a, head) = RawViewer::connect(&s, Some(CHROMIUM_OFFER)).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-extensions: permessage-deflate; server_no_context_takeover"),
        "{head}"
    );
    let hello = a.next().await;
    assert!(!hello.compressed, "a message under 256 bytes goes as it is");
    assert_eq!(
        (hello.json["type"].as_str(), hello.json["seq"].as_u64()),
        (Some("hello"), Some(300))
    );
    let history = a.next().await;
    assert!(history.compressed);
    assert_eq!(history.json["type"], "history");
    // A compressed resume, as a browser sends it, is read: the backlog from 251 on.
    a.send_compressed(br#"{"type":"resume","after":250}"#).await;
    let (hits, _) = a.hits(50, true).await;
    assert_eq!(seqs(&hits), (251..=300).collect::<Vec<_>>());

    let (mut b, _) = RawViewer::connect(&s, Some("permessage-deflate")).await;
    assert_eq!(b.next().await.json["type"], "hello");
    assert_eq!(b.next().await.json["type"], "history");
    b.send_compressed(br#"{"type":"resume","after":300}"#).await;
    // The resume wait is over before the live lines come.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Live: a burst of 200 lines in one write.
    let burst: String = (0..200)
        .map(|i| line("203.0.113.8", &format!("/live/{i}")))
        .collect();
    s.append(burst);
    let (hits_a, wires_a) = a.hits(200, true).await;
    let (hits_b, wires_b) = b.hits(200, true).await;
    let (hits_plain, _) = collect_hits(&mut plain, 200, 10 * SECOND).await;
    let live: Vec<u64> = (301..=500).collect();
    assert_eq!(seqs(&hits_a), live);
    assert_eq!(seqs(&hits_b), live);
    assert_eq!(
        seqs(&hits_plain),
        live,
        "a viewer without compression gets the same hits"
    );
    assert_eq!(hits_a, hits_plain, "and the same JSON");
    // Compressed once, written to both: the very same bytes.
    assert_eq!(wires_a, wires_b);
    let packed: usize = wires_a.iter().map(Vec::len).sum();
    let text: usize = wires_a.iter().map(|w| inflate(w).len()).sum();
    assert!(
        packed * 4 < text,
        "{packed} bytes compressed for {text} of JSON"
    );

    // A close is answered with a close.
    a.send(0x88, &1000u16.to_be_bytes()).await;
    assert_eq!(a.next().await.json["close"], 1000);
}

#[tokio::test]
async fn a_compressed_message_over_the_limit_closes_with_1009() {
    let s = Server::start(&[]);
    // Small on the wire, 64 KiB once inflated: read during the resume wait.
    let (mut v, _) = RawViewer::connect(&s, Some(CHROMIUM_OFFER)).await;
    assert_eq!(v.next().await.json["type"], "hello");
    assert_eq!(v.next().await.json["type"], "history");
    let bomb = format!(r#"{{"type":"resume","pad":"{}"}}"#, "a".repeat(64 * 1024));
    v.send_compressed(bomb.as_bytes()).await;
    assert_eq!(v.next().await.json["close"], 1009);
    // Later, a message whose compressed size is over 4 KiB.
    let (mut w, _) = RawViewer::connect(&s, Some(CHROMIUM_OFFER)).await;
    assert_eq!(w.next().await.json["type"], "hello");
    assert_eq!(w.next().await.json["type"], "history");
    w.send_compressed(br#"{"type":"resume","after":0}"#).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let noise: Vec<u8> = (0..6000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    w.send(0xc2, &noise).await;
    loop {
        let m = w.next().await;
        if m.json.get("close").is_some() {
            assert_eq!(m.json["close"], 1009);
            break;
        }
    }
    assert_eq!(
        s.metric(None, "webpeek_dropped_viewers_total{reason=\"oversize\"}"),
        2
    );
}

#[tokio::test]
async fn offers_the_server_cannot_take_get_plain_frames() {
    let s = Server::start(&[]);
    // A smaller window than the server compresses with, and an unknown parameter.
    for offer in [
        "permessage-deflate; server_max_window_bits=10",
        "permessage-deflate; foo=1",
        "x-webkit-deflate-frame",
    ] {
        let (mut v, head) = RawViewer::connect(&s, Some(offer)).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("sec-websocket-extensions"),
            "{head}"
        );
        let hello = v.next().await;
        assert!(!hello.compressed);
        assert_eq!(hello.json["type"], "hello");
    }
    // Not a WebSocket at all: 426 with a line saying what this is.
    let (status, body) = s.get("/ws", &[]);
    assert_eq!(status, 426, "{body}");
    assert!(body.contains("WebSocket"), "{body}");
}

impl RawViewer {
    /// Connects (Chromium's offer) and reads `hello` and `history`.
    async fn ready(s: &Server) -> RawViewer {
        let (mut v, head) = RawViewer::connect(s, Some(CHROMIUM_OFFER)).await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert_eq!(v.next().await.json["type"], "hello");
        assert_eq!(v.next().await.json["type"], "history");
        v
    }

    /// Messages until a close (its code) or the end of the stream (`None`).
    async fn close_code(&mut self) -> Option<u64> {
        loop {
            let m = self.next().await;
            if m.json.get("eof").is_some() {
                return None;
            }
            if m.json.get("close").is_some() {
                return m.json["close"].as_u64();
            }
        }
    }

    /// Whether the server closed the TCP connection (within 5 s) after what it sent.
    async fn eof(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match tokio::time::timeout(5 * SECOND, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }
}

/// A masked client frame's bytes with its length as given (it may lie).
fn raw_frame(first: u8, len_bytes: &[u8], payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut out = vec![first];
    out.extend_from_slice(len_bytes);
    out[1] |= 0x80;
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

#[tokio::test]
async fn frames_that_break_rfc_6455_close_with_the_documented_code() {
    let s = Server::start(&[]);
    let cases: Vec<(&str, Vec<u8>, u64)> = vec![
        ("unmasked", b"\x81\x02hi".to_vec(), 1002),
        ("RSV2", raw_frame(0xa1, &[1], b"x"), 1002),
        ("opcode 3", raw_frame(0x83, &[1], b"x"), 1002),
        ("opcode 0xB", raw_frame(0x8b, &[0], b""), 1002),
        (
            "ping of 126",
            raw_frame(0x89, &[126, 0, 126], &[0; 126]),
            1002,
        ),
        ("fragmented ping", raw_frame(0x09, &[1], b"x"), 1002),
        ("ping with RSV1", raw_frame(0xc9, &[1], b"x"), 1002),
        (
            "compressed continuation",
            [raw_frame(0x41, &[1], b"x"), raw_frame(0xc0, &[1], b"y")].concat(),
            1002,
        ),
        ("continuation alone", raw_frame(0x80, &[1], b"x"), 1002),
        ("not UTF-8", raw_frame(0x81, &[2], &[0xff, 0xfe]), 1007),
        ("close of 1 byte", raw_frame(0x88, &[1], &[3]), 1002),
        (
            "close 1005",
            raw_frame(0x88, &[2], &1005u16.to_be_bytes()),
            1002,
        ),
        (
            "close 999",
            raw_frame(0x88, &[2], &999u16.to_be_bytes()),
            1002,
        ),
        (
            "64-bit length, top bit set",
            raw_frame(0x81, &[127, 0x80, 0, 0, 0, 0, 0, 0, 5], b"hello"),
            1002,
        ),
    ];
    for (why, bytes, code) in cases {
        let mut v = RawViewer::ready(&s).await;
        v.stream.write_all(&bytes).await.unwrap();
        assert_eq!(v.close_code().await, Some(code), "{why}");
        assert!(v.eof().await, "{why}: the connection is closed");
    }
}

#[tokio::test]
async fn after_the_resume_wait_text_that_is_not_utf8_still_closes_with_1007() {
    let s = Server::start(&[]);
    let mut v = RawViewer::ready(&s).await;
    v.send(0x81, br#"{"type":"resume","after":0}"#).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    v.send(0x81, &[b'a', 0xff, 0xfe]).await;
    let code = tokio::time::timeout(3 * SECOND, v.close_code()).await;
    assert_eq!(code.ok(), Some(Some(1007)));
}

#[tokio::test]
async fn pings_closes_and_fragmented_resumes() {
    let s = Server::start(&[]);
    let backlog: String = (0..5)
        .map(|i| line("203.0.113.7", &format!("/b/{i}")))
        .collect();
    s.append(backlog);
    tokio::time::sleep(Duration::from_millis(800)).await;
    // A resume in three fragments with a ping between them: the pong carries its payload.
    let mut v = RawViewer::ready(&s).await;
    v.send(0x01, br#"{"type":"res"#).await;
    v.send(0x89, b"between").await;
    v.send(0x00, br#"ume","af"#).await;
    v.send(0x80, br#"ter":3}"#).await;
    let mut pong = None;
    while pong.is_none() {
        let b = &v.buf;
        if b.len() >= 2 && b[0] == 0x8a && b.len() >= 2 + b[1] as usize {
            pong = Some(b[2..2 + b[1] as usize].to_vec());
            v.buf.drain(..2 + b[1] as usize);
            break;
        }
        if b.len() >= 2 && b[0] != 0x8a {
            let m = v.next().await;
            panic!("{} before the pong", m.json);
        }
        let mut chunk = [0u8; 4096];
        let n = v.stream.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        v.buf.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(pong.unwrap(), b"between");
    let (hits, _) = v.hits(2, true).await;
    assert_eq!(seqs(&hits), [4, 5]);
    // A close is echoed, and the TCP connection ends.
    v.send(0x88, &[0x0b, 0xb8, b'b', b'y', b'e']).await;
    assert_eq!(v.close_code().await, Some(3000));
    assert!(v.eof().await);
    // A close without a code: an empty close back.
    let mut w = RawViewer::ready(&s).await;
    w.send(0x88, b"").await;
    let m = w.next().await;
    assert_eq!(m.json["close"], Value::Null);
    assert!(m.wire.is_empty());
    assert!(w.eof().await);
    // A client that shuts down its write side: the server ends the connection.
    let mut h = RawViewer::ready(&s).await;
    h.stream.shutdown().await.unwrap();
    assert!(h.eof().await);
}

#[tokio::test]
async fn a_viewer_that_stalls_mid_frame_or_trickles_is_dropped_as_silent() {
    let s = Server::start(&["--ping-interval", "0.3", "--ping-timeout", "1"]);
    // A frame header, then nothing.
    let mut stalled = RawViewer::ready(&s).await;
    stalled.stream.write_all(&[0x81, 0x80 | 100]).await.unwrap();
    // One byte a second of a 4 KiB message: never a whole frame, never a pong.
    let mut trickle = RawViewer::ready(&s).await;
    trickle
        .stream
        .write_all(&[0x81, 0x80 | 126, 0x0f])
        .await
        .unwrap();
    let feeding = tokio::spawn(async move {
        for _ in 0..4 {
            tokio::time::sleep(SECOND).await;
            if trickle.stream.write_all(&[0]).await.is_err() {
                break;
            }
        }
        trickle.eof().await
    });
    assert!(stalled.eof().await, "the stalled viewer is dropped");
    assert!(feeding.await.unwrap(), "the trickling viewer is dropped");
    assert!(s.metric(None, "webpeek_dropped_viewers_total{reason=\"silent\"}") >= 2);
}

#[tokio::test]
async fn an_upgrade_whose_key_is_not_16_bytes_in_base64_is_refused() {
    let s = Server::start(&[]);
    let origin = format!("http://{}", s.addr);
    for key in [
        "short",
        "dGhlIHNhbXBsZSBub25jZQ=",
        "dGhlIHNhbXBsZSBub25j!Q==",
    ] {
        let reply = s.request(
            "GET",
            "/ws",
            &[
                ("Origin", &origin),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Version", "13"),
                ("Sec-WebSocket-Key", key),
            ],
            "",
        );
        assert_eq!(reply.status, 400, "{key}");
    }
}

/// A viewer closed for a fault gets the close frame and then the end of the stream (a FIN),
/// not a reset: the rest of its refused message is read and dropped, not left unread (a reset
/// can make a browser lose the close frame and report 1006).
#[tokio::test]
async fn a_refused_message_ends_in_its_close_and_a_clean_end_not_a_reset() {
    let s = Server::start(&[]);
    let mut v = RawViewer::ready(&s).await;
    v.send(0x81, &vec![b'a'; 100 * 1024]).await;
    assert_eq!(v.close_code().await, Some(1009));
    let mut chunk = [0u8; 4096];
    let end = tokio::time::timeout(5 * SECOND, async {
        loop {
            match v.stream.read(&mut chunk).await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.kind()),
            }
        }
    })
    .await
    .expect("the end within 5 s");
    assert_eq!(end, Ok(()), "a FIN, not a reset");
}
