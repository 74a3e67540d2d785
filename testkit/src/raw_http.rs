//! HTTP/1.1 written by hand, so that nothing a client library does (retrying, waiting for
//! `100 Continue`, reading while it writes) hides what the server does to a client.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The first half of a registration's head: a slow client never sends the rest.
pub const HALF_A_HEAD: &[u8] = b"POST /api/v1/auth/register HTTP/1.1\r\nHost: gift-genie\r\nContent-Type: appl";

/// The body of a registration.
pub(crate) fn registration_body(email: &str, password: &str, name: &str) -> String {
    serde_json::json!({"email": email, "password": password, "name": name}).to_string()
}

/// The head of a registration whose body is `length` bytes; `close` asks the server to close
/// the connection after answering.
pub fn registration_head(length: usize, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nHost: gift-genie\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n{connection}\r\n"
    )
}

/// A whole registration request: head and body.
pub fn registration(email: &str, password: &str, name: &str) -> Vec<u8> {
    let body = registration_body(email, password, name);
    let mut request = registration_head(body.len(), false).into_bytes();
    request.extend_from_slice(body.as_bytes());
    request
}

/// A request with a method and path nobody defined.
pub(crate) fn invented_method(index: u32) -> Vec<u8> {
    format!("INVENTED{index} /made/up/{index} HTTP/1.1\r\nHost: gift-genie\r\nConnection: close\r\n\r\n").into_bytes()
}

/// An answer read off the socket: its status and its text, head and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAnswer {
    pub status: u16,
    pub text: String,
}

/// Writes the whole request (`head`, then `body`) before reading anything, as simple clients do,
/// then reads the answer. A server that answers and closes before reading the body shows up here
/// as a reset or a broken pipe, not as an answer.
pub async fn exchange(server: SocketAddr, head: &[u8], body: &[u8]) -> std::io::Result<RawAnswer> {
    let mut stream = TcpStream::connect(server).await?;
    stream.write_all(head).await?;
    stream.write_all(body).await?;
    read_answer(&mut stream).await
}

/// The answer that comes next on `stream`: read until its JSON body closes, or the server closes
/// the connection.
pub(crate) async fn read_answer(stream: &mut TcpStream) -> std::io::Result<RawAnswer> {
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    // The head and the service's short JSON bodies arrive together; stop at the end of the JSON.
    while !answer.ends_with(b"}") {
        match stream.read(&mut buffer).await? {
            0 => break,
            read => answer.extend_from_slice(&buffer[..read]),
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|status| status.parse().ok()).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("no status line in {:?}", text.chars().take(80).collect::<String>()),
        )
    })?;
    Ok(RawAnswer { status, text })
}

/// When the server closed `stream` (EOF or an error), or `None` if it stayed open for `within`.
/// Whatever the server sends meanwhile is read and dropped.
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0; 1024];
    loop {
        match tokio::time::timeout(within.saturating_sub(started.elapsed()), stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}
