use async_trait::async_trait;
#[cfg(test)]
use mockall::automock;
use pin_project_lite::pin_project;
use std::{io, net::SocketAddr};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener as TokioTcpListener, TcpStream as TokioTcpStream},
};

#[cfg(not(test))]
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The TcpListener interface we need to mock
#[cfg_attr(test, automock(type Stream=TcpStream;))]
#[async_trait]
pub trait SocketListener: Sized + Send + Sync {
    /// The associated listener interface to be mocked too
    type Stream: SocketStream + 'static;

    /// Creates a new SocketListener, which will be bound to the specified address.
    async fn bind(addr: &str) -> io::Result<Self>
    where
        Self: Sized;

    /// Accepts a new incoming connection from this listener.
    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)>;

    /// The address the listener is bound to, if it has one. (Fork: lets a proxy that listens on
    /// port 0 report the port it got, as Toxiproxy does.)
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}

/// The TcpStream interface we need to mock
#[cfg_attr(test, automock)]
#[async_trait]
pub trait SocketStream: Sized + Send + Sync {
    /// Opens a TCP connection to a remote host.
    async fn connect(addr: &str) -> io::Result<Self>
    where
        Self: Sized + 'static;

    /// Splits the inner `TcpStream` into a read half and a write half, which
    /// can be used to read and write the stream concurrently.
    fn into_split(self) -> (ReadStream, WriteStream);

    /// A second handle to the same socket, kept so that the reset_peer toxic can make the final
    /// close abortive. (Fork.)
    fn duplicate_socket(&self) -> Option<socket2::Socket> {
        None
    }
}

/// Handles to both sockets of one proxied connection. Arming it sets `SO_LINGER` to zero on
/// them, so that closing the connection sends an RST instead of a FIN, like Toxiproxy's
/// reset_peer toxic. (Fork.)
#[derive(Debug, Default)]
pub struct ResetHandle {
    sockets: Vec<socket2::Socket>,
}

impl ResetHandle {
    /// Collects whichever of the handles could be duplicated.
    pub fn new(sockets: impl IntoIterator<Item = Option<socket2::Socket>>) -> Self {
        ResetHandle { sockets: sockets.into_iter().flatten().collect() }
    }

    /// Makes the next close of these sockets abortive.
    pub fn arm(&self) {
        for socket in &self.sockets {
            if let Err(err) = socket.set_linger(Some(std::time::Duration::ZERO)) {
                tracing::debug!(err = ?err, "could not set SO_LINGER to 0 for reset_peer");
            }
        }
    }
}

/// A simple wrapper around Tokio TcpListener to make it mockable
#[derive(Debug)]
pub struct TcpListener {
    inner: TokioTcpListener,
}

/// A simple wrapper around Tokio TcpStream to make it mockable
#[derive(Debug)]
pub struct TcpStream {
    inner: TokioTcpStream,
}

#[async_trait]
impl SocketListener for TcpListener {
    type Stream = TcpStream;

    async fn bind(addr: &str) -> io::Result<TcpListener>
    where
        Self: Sized,
    {
        Ok(TcpListener { inner: TokioTcpListener::bind(addr).await? })
    }

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, addr) = self.inner.accept().await?;
        let wrapper = TcpStream { inner: stream };
        Ok((wrapper, addr))
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr().ok()
    }
}
#[async_trait]
impl SocketStream for TcpStream {
    async fn connect(addr: &str) -> io::Result<Self>
    where
        Self: Sized,
    {
        let inner = TokioTcpStream::connect(addr).await?;
        Ok(TcpStream { inner })
    }

    #[cfg(not(test))]
    fn into_split(self) -> (ReadStream, WriteStream) {
        let (read_half, write_half) = self.inner.into_split();
        (ReadStream::new(read_half), WriteStream::new(write_half))
    }

    #[cfg(test)]
    fn into_split(self) -> (ReadStream, WriteStream) {
        unimplemented!("must mock")
    }

    fn duplicate_socket(&self) -> Option<socket2::Socket> {
        use std::os::fd::AsFd;
        let owned = self.inner.as_fd().try_clone_to_owned().ok()?;
        Some(socket2::Socket::from(owned))
    }
}

#[cfg(not(test))]
type ReadHalf = OwnedReadHalf;
#[cfg(test)]
type ReadHalf = tokio_test::io::Mock;

#[cfg(not(test))]
type WriteHalf = OwnedWriteHalf;
#[cfg(test)]
type WriteHalf = tokio_test::io::Mock;

pin_project! {
    /// Wrapper for OwnedReadHalf for mocking
    #[derive(Debug)]
    pub struct ReadStream {
        #[pin]
        inner: ReadHalf,
    }
}

/// Wrapper for OwnedWriteHalf for mocking
///
/// (Fork: the half sits in an `Option` so that `Drop` can take it. Dropping tokio's write half
/// sends a FIN; when reset_peer has armed the socket that FIN would reach the peer before the
/// RST, so an armed socket's half is forgotten instead and the final close sends only the RST.)
#[derive(Debug)]
pub struct WriteStream {
    inner: Option<WriteHalf>,
}

#[cfg_attr(test, automock)]
impl ReadStream {
    pub(crate) fn new(inner: ReadHalf) -> ReadStream {
        ReadStream { inner }
    }
}

#[cfg_attr(test, automock)]
impl WriteStream {
    pub(crate) fn new(inner: WriteHalf) -> WriteStream {
        WriteStream { inner: Some(inner) }
    }
}

// Outside the `automock` block above: mockall cannot elide this signature's lifetime.
impl WriteStream {
    fn half(self: std::pin::Pin<&mut Self>) -> std::pin::Pin<&mut WriteHalf> {
        std::pin::Pin::new(self.get_mut().inner.as_mut().expect("the write half is only taken on drop"))
    }
}

#[cfg(not(test))]
impl Drop for WriteStream {
    fn drop(&mut self) {
        if let Some(half) = self.inner.take() {
            let armed =
                socket2::SockRef::from(half.as_ref()).linger().ok().flatten() == Some(std::time::Duration::ZERO);
            if armed {
                half.forget();
            }
        }
    }
}

impl AsyncRead for ReadStream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<Result<usize, io::Error>> {
        self.half().poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), io::Error>> {
        self.half().poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), io::Error>> {
        self.half().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio_test::assert_ok;

    use super::*;

    // Dummy test for coverage's sake
    #[tokio::test]
    async fn test_tcp_stream() {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let listener = TcpListener { inner: TokioTcpListener::bind("127.0.0.1:9909").await.unwrap() };
            let _ = ready_tx.send(());
            let _ = listener.accept().await.unwrap();
        });

        assert_ok!(ready_rx.await);
        let _stream = TcpStream::connect("127.0.0.1:9909").await.unwrap();
        // let _ = stream.into_split();
    }
}
