//! The HTTP server: connections accepted up to a cap, each served by hyper with a header-read and
//! an idle timeout, and a shutdown that ends within a bound whatever the clients do.
//!
//! hyper starts its own header timer as soon as a connection waits for a request, so it cannot
//! tell a slow head from an idle keep-alive connection. [`Activity`] does, as Go's `http.Server`
//! does: until a request's first byte arrives the idle timeout runs; from that byte until the
//! head is in, the header timeout; while the request is served, neither (the request timeout
//! bounds the handler).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use crate::config::HttpSettings;

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets requests
/// in flight finish for up to the shutdown timeout, and closes every connection still open.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    settings: HttpSettings,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // At the cap, nothing is accepted: clients wait in the kernel's backlog.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let activity = Arc::new(Activity::new(settings.idle_timeout, settings.header_read_timeout));
        let io = TokioIo::new(Guarded { stream, activity: Arc::clone(&activity), timer: None });
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |request| respond(router.clone(), request, peer, Arc::clone(&activity)));
        let mut builder = hyper::server::conn::http1::Builder::new();
        // Activity enforces the head and idle timeouts; hyper's own header timer would count idle
        // time as header time.
        builder.timer(TokioTimer::new()).header_read_timeout(None).keep_alive(true);
        let connection = graceful.watch(builder.serve_connection(io, service));
        connections.spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let open = connections.len();
    tracing::info!(open, "no longer accepting; waiting for requests in flight");
    if tokio::time::timeout(settings.shutdown_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            open = connections.len(),
            timeout = ?settings.shutdown_timeout,
            "requests still in flight at the shutdown timeout; closing their connections"
        );
        connections.abort_all();
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Hands one request to the router, with the client's address, and tells `activity` when the
/// request starts and when its answer has been sent.
async fn respond(
    router: Router,
    mut request: hyper::Request<Incoming>,
    peer: SocketAddr,
    activity: Arc<Activity>,
) -> Result<hyper::Response<Guarded<Body>>, Infallible> {
    activity.set(Phase::Serving);
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.oneshot(request.map(Body::new)).await?;
    Ok(response.map(|body| Guarded { stream: body, activity, timer: None }))
}

/// Where a connection is between requests, for its timeouts.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request's first byte, since then.
    Idle(Instant),
    /// Reading a request's head, since its first byte.
    Head(Instant),
    /// A request is being served and answered.
    Serving,
}

#[derive(Debug)]
struct Activity {
    phase: Mutex<Phase>,
    idle_timeout: Duration,
    header_timeout: Duration,
}

impl Activity {
    fn new(idle_timeout: Duration, header_timeout: Duration) -> Self {
        Self { phase: Mutex::new(Phase::Idle(Instant::now())), idle_timeout, header_timeout }
    }

    fn set(&self, phase: Phase) {
        *self.phase.lock().expect("phase lock") = phase;
    }

    /// Bytes arrived: a connection that was idle is now reading a head.
    fn bytes_read(&self) {
        let mut phase = self.phase.lock().expect("phase lock");
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
        }
    }

    /// When the connection must have made progress by, and what it would then be closed for.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        match *self.phase.lock().expect("phase lock") {
            Phase::Idle(since) => since.checked_add(self.idle_timeout).map(|at| (at, "idle timeout")),
            Phase::Head(since) => since.checked_add(self.header_timeout).map(|at| (at, "header read timeout")),
            Phase::Serving => None,
        }
    }
}

/// A connection's socket, or an answer's body, that keeps its connection's [`Activity`] current.
struct Guarded<T> {
    stream: T,
    activity: Arc<Activity>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl AsyncRead for Guarded<TcpStream> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.activity.bytes_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                let Some((deadline, what)) = self.activity.deadline() else { return Poll::Pending };
                let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for Guarded<TcpStream> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl http_body::Body for Guarded<Body> {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.stream).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.stream.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.stream.size_hint()
    }
}

impl<T> Drop for Guarded<T> {
    fn drop(&mut self) {
        // hyper drops an answer's body once it has sent it: the connection waits for the next
        // request from now on. (A dropped socket ends the connection; the phase no longer matters.)
        self.activity.set(Phase::Idle(Instant::now()));
    }
}
