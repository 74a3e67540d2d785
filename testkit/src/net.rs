//! A TCP echo server, and round trips through whatever stands between a client and it (a fault
//! proxy, say).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Echoes every byte back on a free loopback port; closes its side when the client half-closes.
pub async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = socket.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    addr
}

/// Sends `message` and reads the same number of bytes back, failing after `within`.
pub async fn round_trip(stream: &mut TcpStream, message: &[u8], within: Duration) -> std::io::Result<Vec<u8>> {
    stream.write_all(message).await?;
    let mut reply = vec![0; message.len()];
    tokio::time::timeout(within, stream.read_exact(&mut reply))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply in time"))??;
    Ok(reply)
}

/// What a read saw: data, a clean close, an error, or nothing within the time given.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    Data(usize),
    Closed,
    Error(std::io::ErrorKind),
    Silent,
}

pub async fn read_once(stream: &mut TcpStream, within: Duration) -> ReadOutcome {
    let mut buffer = [0; 4096];
    match tokio::time::timeout(within, stream.read(&mut buffer)).await {
        Err(_) => ReadOutcome::Silent,
        Ok(Ok(0)) => ReadOutcome::Closed,
        Ok(Ok(n)) => ReadOutcome::Data(n),
        Ok(Err(error)) => ReadOutcome::Error(error.kind()),
    }
}
