use crate::socket::ResetHandle;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::io;
use std::sync::Arc;
use tokio::pin;
use tokio::time::{sleep, Duration};

/// The ResetPeer toxic aborts the connection `timeout` milliseconds after the first chunk reaches
/// it: the chunk is dropped, `SO_LINGER` is set to zero on both sockets, and the link ends, so
/// both peers get an RST instead of a FIN. With a timeout of 0 the reset is immediate. (Fork: a
/// port of Toxiproxy's reset_peer, which noxious lacks.)
pub(crate) async fn run_reset_peer(
    input: impl Stream<Item = Bytes>,
    timeout: u64, // in millis
    reset: Option<Arc<ResetHandle>>,
) -> io::Result<()> {
    pin!(input);
    // Like Toxiproxy, a closed input also triggers the reset.
    let _first_chunk = input.next().await;
    sleep(Duration::from_millis(timeout)).await;
    if let Some(reset) = reset {
        reset.arm();
    }
    Err(io::Error::new(io::ErrorKind::ConnectionReset, format!("reset_peer after {}ms", timeout)))
}
