//! Faults on the other side of the backend: HTTP clients that hang up, dawdle, invent methods or
//! send too much. They run from this process against the backends' published ports, as raw HTTP
//! so that nothing a client library does smooths them over, each bounded in count and in time.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// No client load outlives this, healed or not.
pub const MAX_LOAD_TIME: Duration = Duration::from_mins(1);
/// How long a hang-up client waits after sending before it closes the connection.
pub const HANG_UP_AFTER: Duration = Duration::from_millis(10);
/// How long a client waits for an answer before it counts the request as failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// The first half of a registration's head: a slow client never sends the rest.
const HALF_A_HEAD: &[u8] = b"POST /api/v1/auth/register HTTP/1.1\r\nHost: gift-genie\r\nContent-Type: appl";

/// What a client load saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Requests (or connections, for slow clients) sent.
    pub sent: u64,
    /// Answers by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Connections the server closed on a client that was still waiting (slow clients).
    pub closed_by_server: u64,
    /// Requests that got no answer: a reset, a refused or timed-out connection, a broken pipe.
    pub failed: u64,
    /// True once a load with a fixed count has sent everything and read every answer.
    pub done: bool,
}

type Shared = Arc<Mutex<Outcome>>;

fn record(outcome: &Shared, change: impl FnOnce(&mut Outcome)) {
    change(&mut outcome.lock().expect("outcome lock"));
}

/// The client loads running against one target, by fault name.
#[derive(Debug, Default)]
pub struct ClientLoads {
    running: Mutex<HashMap<String, (tokio::task::AbortHandle, Shared)>>,
    stopped: Mutex<HashMap<String, Outcome>>,
}

impl ClientLoads {
    /// Starts `load`, stopped at [`MAX_LOAD_TIME`] if nobody stops it first.
    pub(crate) fn start<F>(&self, name: &str, load: impl FnOnce(Shared) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let outcome = Shared::default();
        let task = tokio::spawn({
            let load = load(Arc::clone(&outcome));
            async move {
                let _ = tokio::time::timeout(MAX_LOAD_TIME, load).await;
            }
        });
        self.running.lock().expect("loads lock").insert(name.to_owned(), (task.abort_handle(), outcome));
    }

    /// Stops the load; every connection it holds closes.
    pub(crate) fn stop(&self, name: &str) {
        if let Some((task, outcome)) = self.running.lock().expect("loads lock").remove(name) {
            task.abort();
            let outcome = outcome.lock().expect("outcome lock").clone();
            self.stopped.lock().expect("loads lock").insert(name.to_owned(), outcome);
        }
    }

    /// What the load named `name` saw so far, running or stopped.
    pub fn outcome(&self, name: &str) -> Option<Outcome> {
        if let Some((_, outcome)) = self.running.lock().expect("loads lock").get(name) {
            return Some(outcome.lock().expect("outcome lock").clone());
        }
        self.stopped.lock().expect("loads lock").get(name).cloned()
    }
}

impl Drop for ClientLoads {
    fn drop(&mut self) {
        for (task, _) in self.running.lock().expect("loads lock").values() {
            task.abort();
        }
    }
}

/// `count` registrations at once, every second; each client hangs up [`HANG_UP_AFTER`] sending.
pub(crate) async fn hang_up_burst(backends: Vec<SocketAddr>, count: u32, outcome: Shared) {
    loop {
        let wave_started = Instant::now();
        let mut wave = JoinSet::new();
        for index in 0..count {
            let backend = backends[index as usize % backends.len()];
            let outcome = Arc::clone(&outcome);
            wave.spawn(async move {
                let email = format!("hang-up-{}@example.com", uuid::Uuid::new_v4().simple());
                let body = format!(r#"{{"email":"{email}","password":"hang-up-passw0rd","name":"Gone"}}"#);
                let request = format!(
                    "POST /api/v1/auth/register HTTP/1.1\r\nHost: gift-genie\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let sent = async {
                    let mut stream = TcpStream::connect(backend).await?;
                    stream.write_all(request.as_bytes()).await?;
                    Ok::<_, std::io::Error>(stream)
                };
                match sent.await {
                    Ok(stream) => {
                        record(&outcome, |o| o.sent += 1);
                        tokio::time::sleep(HANG_UP_AFTER).await;
                        drop(stream);
                    }
                    Err(_) => record(&outcome, |o| o.failed += 1),
                }
            });
        }
        while wave.join_next().await.is_some() {}
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(wave_started.elapsed())).await;
    }
}

/// `count` connections that each send half a head and wait; one the server closes is opened
/// again, so that the pressure lasts as long as the fault.
pub(crate) async fn slow_clients(backends: Vec<SocketAddr>, count: u32, outcome: Shared) {
    let mut clients = JoinSet::new();
    for index in 0..count {
        let backend = backends[index as usize % backends.len()];
        let outcome = Arc::clone(&outcome);
        clients.spawn(async move {
            loop {
                let Ok(mut stream) = TcpStream::connect(backend).await else {
                    record(&outcome, |o| o.failed += 1);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                if stream.write_all(HALF_A_HEAD).await.is_err() {
                    record(&outcome, |o| o.failed += 1);
                    continue;
                }
                record(&outcome, |o| o.sent += 1);
                let mut buffer = [0; 512];
                // Whatever comes back (a 408, or nothing), the connection ends when the server
                // closes it.
                while matches!(stream.read(&mut buffer).await, Ok(read) if read > 0) {}
                record(&outcome, |o| o.closed_by_server += 1);
            }
        });
    }
    while clients.join_next().await.is_some() {}
}

/// `count` requests with methods and paths nobody defined, 16 at a time.
pub(crate) async fn method_flood(backends: Vec<SocketAddr>, count: u32, outcome: Shared) {
    let requests = (0..count).map(|index| {
        let backend = backends[index as usize % backends.len()];
        let head =
            format!("INVENTED{index} /made/up/{index} HTTP/1.1\r\nHost: gift-genie\r\nConnection: close\r\n\r\n");
        (backend, head.into_bytes(), Vec::new())
    });
    send_all(requests, 16, &outcome).await;
}

/// `count` registrations with a body of `bytes`, each written in full before the answer is read,
/// as simple clients do; 4 at a time.
pub(crate) async fn oversized_bodies(backends: Vec<SocketAddr>, count: u32, bytes: usize, outcome: Shared) {
    let requests = (0..count).map(|index| {
        let backend = backends[index as usize % backends.len()];
        let head = format!(
            "POST /api/v1/auth/register HTTP/1.1\r\nHost: gift-genie\r\nContent-Type: application/json\r\nContent-Length: {bytes}\r\nConnection: close\r\n\r\n"
        );
        (backend, head.into_bytes(), vec![b'x'; bytes])
    });
    send_all(requests, 4, &outcome).await;
}

async fn send_all(requests: impl Iterator<Item = (SocketAddr, Vec<u8>, Vec<u8>)>, at_once: usize, outcome: &Shared) {
    let mut in_flight = JoinSet::new();
    for (backend, head, body) in requests {
        if in_flight.len() >= at_once {
            in_flight.join_next().await;
        }
        let outcome = Arc::clone(outcome);
        in_flight.spawn(async move {
            record(&outcome, |o| o.sent += 1);
            match tokio::time::timeout(ANSWER_TIMEOUT, exchange(backend, &head, &body)).await {
                Ok(Ok(status)) => record(&outcome, |o| *o.statuses.entry(status).or_default() += 1),
                _ => record(&outcome, |o| o.failed += 1),
            }
        });
    }
    while in_flight.join_next().await.is_some() {}
    record(outcome, |o| o.done = true);
}

/// Writes the whole request, then reads the status of the answer.
async fn exchange(backend: SocketAddr, head: &[u8], body: &[u8]) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(backend).await?;
    stream.write_all(head).await?;
    stream.write_all(body).await?;
    let mut answer = Vec::new();
    let mut buffer = [0; 1024];
    while !answer.windows(2).any(|pair| pair == b"\r\n") {
        match stream.read(&mut buffer).await? {
            0 => break,
            read => answer.extend_from_slice(&buffer[..read]),
        }
    }
    let line = String::from_utf8_lossy(&answer);
    line.split(' ').nth(1).and_then(|status| status.parse().ok()).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("no status line in {:?}", line.chars().take(80).collect::<String>()),
        )
    })
}
