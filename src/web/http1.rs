//! HTTP/1.1 only: a connection that opens with HTTP/2's preface is closed.
//!
//! hyper's automatic server takes HTTP/2 from any connection that starts with its preface,
//! whatever TLS's ALPN agreed (`http/1.1` only), and HTTP/2 has none of the limits webpeek sets
//! on HTTP/1 (a deadline and a size for every request head, so that an idle or slow connection
//! is cut off). The dashboard, its WebSocket and the API need nothing HTTP/2 brings.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum_server::accept::Accept;
use futures_util::TryFutureExt;
use futures_util::future::MapOk;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The start of HTTP/2's connection preface (`PRI * HTTP/2.0`): no HTTP/1 method is `PRI`.
const PREFACE: &[u8] = b"PRI ";

/// An acceptor whose connections refuse HTTP/2 (around the plain or the TLS acceptor).
#[derive(Clone, Debug)]
pub struct Http1Only<A>(pub A);

/// A connection's stream, checked at its first bytes.
type Checked<A, I, S> = (
    Http1Stream<<A as Accept<I, S>>::Stream>,
    <A as Accept<I, S>>::Service,
);

/// What wraps an accepted connection's stream.
type Wrap<A, I, S> =
    fn((<A as Accept<I, S>>::Stream, <A as Accept<I, S>>::Service)) -> Checked<A, I, S>;

impl<A, I, S> Accept<I, S> for Http1Only<A>
where
    A: Accept<I, S>,
{
    type Stream = Http1Stream<A::Stream>;
    type Service = A::Service;
    type Future = MapOk<A::Future, Wrap<A, I, S>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let check: Wrap<A, I, S> = |(stream, service)| {
            (
                Http1Stream {
                    inner: stream,
                    seen: 0,
                },
                service,
            )
        };
        self.0.accept(stream, service).map_ok(check)
    }
}

/// A stream that fails its first read when the peer opens with HTTP/2's preface.
#[derive(Debug)]
pub struct Http1Stream<S> {
    inner: S,
    /// Bytes of [`PREFACE`] matched so far; `PREFACE.len() + 1` once the start differed.
    seen: usize,
}

impl<S> Http1Stream<S> {
    /// Looks at the bytes just read; an error when they complete the preface.
    fn check(&mut self, read: &[u8]) -> io::Result<()> {
        for &b in read {
            if self.seen >= PREFACE.len() {
                break;
            }
            if b != PREFACE[self.seen] {
                self.seen = PREFACE.len() + 1;
                return Ok(());
            }
            self.seen += 1;
        }
        if self.seen == PREFACE.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "HTTP/2 is not served (HTTP/1.1 only)",
            ));
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Http1Stream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if this.seen <= PREFACE.len() => {
                let read = buf.filled()[before..].to_vec();
                Poll::Ready(this.check(&read))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Http1Stream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preface_is_refused_in_any_chunking_and_http1_passes() {
        let stream = |chunks: &[&[u8]]| {
            let mut s = Http1Stream { inner: (), seen: 0 };
            chunks
                .iter()
                .map(|c| s.check(c).is_ok())
                .collect::<Vec<_>>()
        };
        assert_eq!(stream(&[b"PRI * HTTP/2.0\r\n"]), [false]);
        assert_eq!(stream(&[b"P", b"RI", b" *"]), [true, true, false]);
        assert_eq!(stream(&[b"GET / HTTP/1.1\r\n"]), [true]);
        assert_eq!(
            stream(&[b"PR", b"OPFIND / HTTP/1.1", b"PRI "]),
            [true, true, true]
        );
    }
}
