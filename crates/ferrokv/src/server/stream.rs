//! The byte streams a connection is served over: plain TCP and TLS over TCP. The
//! connection code (`connection::serve`, `output::flush`, the primary side of replication)
//! is generic over [`ConnStream`], so both take the same path; for plain TCP every method
//! inlines to what the code did before (`try_write`, `try_read_buf`, no flush).
//!
//! The non-blocking methods (`try_*_now`) let `output::flush` wait on the TCP socket's
//! readiness (`tcp().writable()` / `tcp().readable()`, which need only `&self`) and then do
//! the work without a future. For TLS they poll the rustls stream once with a no-op waker:
//! tokio-rustls takes bytes only when it can (a `Pending` consumed nothing), and the
//! readiness that a `WouldBlock` from the socket clears is waited for again through
//! `tcp()`, whose waiters do not depend on the waker given to the poll.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// A client connection's stream.
pub trait ConnStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Writes may stay in the stream's own buffer (TLS records not yet sent), so a flush
    /// must follow them. False for plain TCP, where the flush steps compile away.
    const BUFFERED: bool;

    /// The TCP socket underneath (addresses, options, file descriptor, readiness).
    fn tcp(&self) -> &TcpStream;

    /// Write what the stream takes now without waiting (`WouldBlock` when it takes
    /// nothing). For TLS the bytes may stay in the session: [`ConnStream::try_flush_now`]
    /// sends them.
    fn try_write_now(&mut self, buf: &[u8]) -> std::io::Result<usize>;

    /// Send what the stream buffered (TLS records) without waiting: true when nothing is
    /// left. Always true for plain TCP.
    fn try_flush_now(&mut self) -> std::io::Result<bool>;

    /// Read what is there now into `buf`'s spare capacity without waiting (`WouldBlock`
    /// when nothing is; `Ok(0)` at the end of the stream).
    fn try_read_now(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize>;
}

impl ConnStream for TcpStream {
    const BUFFERED: bool = false;

    #[inline]
    fn tcp(&self) -> &TcpStream {
        self
    }

    #[inline]
    fn try_write_now(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.try_write(buf)
    }

    #[inline]
    fn try_flush_now(&mut self) -> std::io::Result<bool> {
        Ok(true)
    }

    #[inline]
    fn try_read_now(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        self.try_read_buf(buf)
    }
}

impl ConnStream for TlsStream<TcpStream> {
    const BUFFERED: bool = true;

    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }

    fn try_write_now(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(self).poll_write(&mut cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(std::io::ErrorKind::WouldBlock.into()),
        }
    }

    fn try_flush_now(&mut self) -> std::io::Result<bool> {
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(self).poll_flush(&mut cx) {
            Poll::Ready(r) => r.map(|()| true),
            Poll::Pending => Ok(false),
        }
    }

    fn try_read_now(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        let mut cx = Context::from_waker(Waker::noop());
        // Zero the spare room and read into it (no `unsafe`; TLS pays for the zeroing,
        // which is small beside the decryption).
        let len = buf.len();
        let room = (buf.capacity() - len).max(1024);
        buf.resize(len + room, 0);
        let mut rb = ReadBuf::new(buf.get_mut(len..).unwrap_or_default());
        let r = Pin::new(self).poll_read(&mut cx, &mut rb);
        let n = rb.filled().len();
        buf.truncate(len + n);
        match r {
            Poll::Ready(Ok(())) => Ok(n),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Err(std::io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// `write_all`, and a flush for a buffered (TLS) stream: the bytes are on their way when
/// it returns. For plain TCP this is `write_all`.
pub async fn send<S: ConnStream>(stream: &mut S, buf: &[u8]) -> std::io::Result<()> {
    stream.write_all(buf).await?;
    if S::BUFFERED {
        stream.flush().await?;
    }
    Ok(())
}
