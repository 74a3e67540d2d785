//! How the pool reaches Redis when not through the machine's network: a [`Dialer`] opens byte
//! streams to nodes by host and port. Production never gives one (redis-rs dials TCP with the
//! settings' keepalive and user timeout); the deterministic simulation gives one that opens
//! streams over its simulated network, for standalone connections and for a cluster's nodes.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::Connect;
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisFuture, Value,
};
use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream to a Redis node.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// An open connection attempt.
pub type Dialing = Pin<Box<dyn Future<Output = io::Result<Box<dyn Stream>>> + Send>>;

/// Opens streams to Redis nodes.
pub trait Dialer: Send + Sync + 'static {
    /// A stream to `host:port`. The pool bounds the attempt with its connect timeout.
    fn dial(&self, host: &str, port: u16) -> Dialing;
}

/// A connection over a stream from `dialer`, set up as redis-rs sets up its own (`HELLO`,
/// credentials), within `connect_timeout`.
pub(super) async fn dialed(
    dialer: &dyn Dialer,
    info: &ConnectionInfo,
    config: AsyncConnectionConfig,
    connect_timeout: Duration,
) -> redis::RedisResult<MultiplexedConnection> {
    let ConnectionAddr::Tcp(host, port) = info.addr() else {
        return Err(redis::RedisError::from((redis::ErrorKind::Client, "a dialer reaches plain TCP addresses only")));
    };
    let setup = async {
        let stream = dialer.dial(host, *port).await?;
        let (connection, driver) =
            MultiplexedConnection::new_with_config(info.redis_settings(), stream, config).await?;
        tokio::spawn(driver);
        Ok(connection)
    };
    match tokio::time::timeout(connect_timeout, setup).await {
        Ok(result) => result,
        Err(_elapsed) => Err(io::Error::new(io::ErrorKind::TimedOut, "connecting timed out").into()),
    }
}

thread_local! {
    /// The dialer, and its connect timeout, that [`DialedNode`]s opened on this thread use.
    static NODE_DIALER: RefCell<Option<(Arc<dyn Dialer>, Duration)>> = const { RefCell::new(None) };
}

/// Makes `dialer` the one that cluster node connections opened on this thread use.
pub(super) fn dial_nodes_with(dialer: &Arc<dyn Dialer>, connect_timeout: Duration) {
    NODE_DIALER.with(|current| *current.borrow_mut() = Some((Arc::clone(dialer), connect_timeout)));
}

/// One cluster node's connection, over a stream from the thread's dialer.
///
/// redis-rs opens a cluster's node connections, and reopens them, through a static function
/// ([`Connect`]), which cannot carry a dialer: the dialer is the thread's. The simulation runs
/// each seed on one thread, on a current-thread runtime, where every reconnection happens too.
#[derive(Clone)]
pub(crate) struct DialedNode(MultiplexedConnection);

impl Connect for DialedNode {
    fn connect_with_config<'a, T>(info: T, config: AsyncConnectionConfig) -> RedisFuture<'a, Self>
    where
        T: IntoConnectionInfo + Send + 'a,
    {
        Box::pin(async move {
            let info = info.into_connection_info()?;
            let Some((dialer, connect_timeout)) = NODE_DIALER.with(|current| current.borrow().clone()) else {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "no dialer for cluster nodes on this thread",
                )));
            };
            dialed(dialer.as_ref(), &info, config, connect_timeout).await.map(Self)
        })
    }
}

impl ConnectionLike for DialedNode {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.0.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}
