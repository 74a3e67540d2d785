//! Clients that do not play along, one at a time and as loads: they hang up, dawdle, invent
//! methods or send too much. Everything is raw HTTP ([`crate::raw_http`]), each load bounded in
//! count and in time.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::raw_http;

/// No client load outlives this, stopped or not.
pub const MAX_LOAD_TIME: Duration = Duration::from_mins(1);
/// How long a hang-up client waits after sending before it closes the connection.
pub const HANG_UP_AFTER: Duration = Duration::from_millis(10);
/// How long a client waits for an answer before it counts the request as failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects, sends `request` whole, and hangs up `after` later without reading a byte.
pub async fn hang_up(server: SocketAddr, request: &[u8], after: Duration) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(server).await?;
    stream.write_all(request).await?;
    tokio::time::sleep(after).await;
    Ok(())
}

/// Connects and sends `bytes` one at a time, `every` apart; false when the server closed first.
pub async fn drip(server: SocketAddr, bytes: &[u8], every: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect(server).await else { return false };
    for byte in bytes {
        if stream.write_all(&[*byte]).await.is_err() {
            return false;
        }
        tokio::time::sleep(every).await;
    }
    true
}

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

/// An outcome shared between a running load and whoever reads it.
pub type Shared = Arc<Mutex<Outcome>>;

fn record(outcome: &Shared, change: impl FnOnce(&mut Outcome)) {
    change(&mut outcome.lock().expect("outcome lock"));
}

/// The client loads running against one target, by whatever names each (`K`).
#[derive(Debug)]
pub struct ClientLoads<K> {
    running: Mutex<HashMap<K, (tokio::task::AbortHandle, Shared)>>,
    stopped: Mutex<HashMap<K, Outcome>>,
}

impl<K> Default for ClientLoads<K> {
    fn default() -> Self {
        Self { running: Mutex::new(HashMap::new()), stopped: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash + Clone> ClientLoads<K> {
    /// Starts `load`, stopped at [`MAX_LOAD_TIME`] if nobody stops it first.
    pub fn start<F>(&self, key: K, load: impl FnOnce(Shared) -> F)
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
        self.running.lock().expect("loads lock").insert(key, (task.abort_handle(), outcome));
    }

    /// Stops the load; every connection it holds closes.
    pub fn stop(&self, key: &K) {
        if let Some((task, outcome)) = self.running.lock().expect("loads lock").remove(key) {
            task.abort();
            let outcome = outcome.lock().expect("outcome lock").clone();
            self.stopped.lock().expect("loads lock").insert(key.clone(), outcome);
        }
    }

    /// What the load `key` saw so far, running or stopped.
    pub fn outcome(&self, key: &K) -> Option<Outcome> {
        if let Some((_, outcome)) = self.running.lock().expect("loads lock").get(key) {
            return Some(outcome.lock().expect("outcome lock").clone());
        }
        self.stopped.lock().expect("loads lock").get(key).cloned()
    }
}

impl<K> Drop for ClientLoads<K> {
    fn drop(&mut self) {
        if let Ok(running) = self.running.lock() {
            for (task, _) in running.values() {
                task.abort();
            }
        }
    }
}

/// `count` registrations at once, every second; each client hangs up [`HANG_UP_AFTER`] sending.
pub async fn hang_up_burst(servers: Vec<SocketAddr>, count: u32, outcome: Shared) {
    loop {
        let wave_started = Instant::now();
        let mut wave = JoinSet::new();
        for index in 0..count {
            let server = servers[index as usize % servers.len()];
            let outcome = Arc::clone(&outcome);
            wave.spawn(async move {
                let email = format!("hang-up-{}@example.com", uuid::Uuid::new_v4().simple());
                let request = raw_http::registration(&email, "hang-up-passw0rd", "Gone");
                match hang_up(server, &request, HANG_UP_AFTER).await {
                    Ok(()) => record(&outcome, |o| o.sent += 1),
                    Err(_) => record(&outcome, |o| o.failed += 1),
                }
            });
        }
        while wave.join_next().await.is_some() {}
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(wave_started.elapsed())).await;
    }
}

/// `count` connections that each send half a head and wait; one the server closes is opened
/// again, so that the pressure lasts as long as the load.
pub async fn slow_clients(servers: Vec<SocketAddr>, count: u32, outcome: Shared) {
    let mut clients = JoinSet::new();
    for index in 0..count {
        let server = servers[index as usize % servers.len()];
        let outcome = Arc::clone(&outcome);
        clients.spawn(async move {
            loop {
                let Ok(mut stream) = TcpStream::connect(server).await else {
                    record(&outcome, |o| o.failed += 1);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                if stream.write_all(raw_http::HALF_A_HEAD).await.is_err() {
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
pub async fn method_flood(servers: Vec<SocketAddr>, count: u32, outcome: Shared) {
    let requests =
        (0..count).map(|index| (servers[index as usize % servers.len()], raw_http::invented_method(index), Vec::new()));
    send_all(requests, 16, &outcome).await;
}

/// `count` registrations with a body of `bytes`, each written in full before the answer is read,
/// as simple clients do; 4 at a time.
pub async fn oversized_bodies(servers: Vec<SocketAddr>, count: u32, bytes: usize, outcome: Shared) {
    let requests = (0..count).map(|index| {
        let head = raw_http::registration_head(bytes, true).into_bytes();
        (servers[index as usize % servers.len()], head, vec![b'x'; bytes])
    });
    send_all(requests, 4, &outcome).await;
}

async fn send_all(requests: impl Iterator<Item = (SocketAddr, Vec<u8>, Vec<u8>)>, at_once: usize, outcome: &Shared) {
    let mut in_flight = JoinSet::new();
    for (server, head, body) in requests {
        if in_flight.len() >= at_once {
            in_flight.join_next().await;
        }
        let outcome = Arc::clone(outcome);
        in_flight.spawn(async move {
            record(&outcome, |o| o.sent += 1);
            match tokio::time::timeout(ANSWER_TIMEOUT, raw_http::exchange(server, &head, &body)).await {
                Ok(Ok(answer)) => record(&outcome, |o| *o.statuses.entry(answer.status).or_default() += 1),
                _ => record(&outcome, |o| o.failed += 1),
            }
        });
    }
    while in_flight.join_next().await.is_some() {}
    record(outcome, |o| o.done = true);
}
