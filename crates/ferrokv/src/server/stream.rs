//! The byte streams a connection is served over: plain TCP and TLS over TCP. The
//! connection code (`connection::serve`) is generic over [`ConnStream`], so both take the
//! same path; for plain TCP every method inlines to what the code did before.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// A client connection's stream.
pub trait ConnStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Writes may stay in the stream's own buffer (TLS records not yet sent), so a flush
    /// must follow them. False for plain TCP, where the flush steps compile away.
    const BUFFERED: bool;

    /// The TCP socket underneath (addresses, options, file descriptor).
    fn tcp(&self) -> &TcpStream;

    /// Write what the socket takes now without waiting (an error when it would block). A
    /// stream that cannot do this cheaply returns 0 and the caller writes asynchronously.
    fn try_write_now(&mut self, buf: &[u8]) -> std::io::Result<usize>;
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
}

impl ConnStream for TlsStream<TcpStream> {
    const BUFFERED: bool = true;

    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }

    fn try_write_now(&mut self, _buf: &[u8]) -> std::io::Result<usize> {
        Ok(0)
    }
}
