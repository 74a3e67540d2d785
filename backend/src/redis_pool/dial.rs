//! How the pool reaches Redis when not through the machine's network: a [`Dialer`] opens byte
//! streams to nodes by host and port. Production never gives one (redis-rs dials TCP with the
//! settings' keepalive and user timeout); the deterministic simulation gives one that opens
//! streams over its simulated network.

use std::future::Future;
use std::io;
use std::pin::Pin;

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
