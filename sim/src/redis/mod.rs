//! A simulated Redis that speaks RESP3 (redis-protocol's codec) for exactly the commands the
//! backend sends, on the simulated network: one node, or a primary and its replica behind one
//! address (Scaleway's high-availability endpoint), whose writes reach the replica after a lag.
//!
//! It models what the faults need: a restart with the data lost or kept; a failover, in which the
//! primary is demoted (it refuses writes with `READONLY`), then the replica is promoted with what
//! it had (writes not yet replicated are lost) and the address moves, while connections made
//! before keep talking to the node they reached; replies slower than a timeout; and a reply lost
//! after its write was applied.

pub mod commands;
pub mod db;
pub mod reply;
pub mod scripts;

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use redis_protocol::codec::Resp3;
use redis_protocol::resp3::types::BytesFrame;
use tokio::time::Instant;
use tokio_util::codec::Framed;

use crate::net::{Accepted, Net, SimStream};
use crate::trace::Trace;
use commands::{Node, Outcome};
use db::{Db, Effect};
use reply::{Reply, short};

/// Where the backend reaches Redis: the one address.
pub const HOST: &str = "redis";
pub const PORT: u16 = 6379;

/// How Redis is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Standalone,
    /// A primary and its replica, which applies each write `lag` after the primary did.
    Pair {
        lag: Duration,
    },
}

/// A command as it reached Redis: for the invariants.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    /// When the backend sent it.
    pub sent_at: Instant,
    pub connection: u64,
    /// When the connection that carried it was accepted.
    pub connected_at: Instant,
    pub name: String,
    pub args: Vec<Bytes>,
}

#[derive(Debug)]
struct NodeState {
    name: &'static str,
    db: Db,
    scripts: BTreeSet<String>,
    read_only: bool,
    /// The primary's writes this node has, by offset.
    applied: u64,
}

impl NodeState {
    fn new(name: &'static str, read_only: bool) -> Self {
        Self { name, db: Db::default(), scripts: BTreeSet::new(), read_only, applied: 0 }
    }
}

/// Faults of the server itself.
#[derive(Debug)]
struct ServerFaults {
    /// Every reply waits this long first.
    slow: Option<Duration>,
    /// After a write is applied, its reply is lost with this probability, and its connection
    /// answers nothing more.
    lose_replies: Option<f64>,
    rng: StdRng,
}

#[derive(Debug)]
struct State {
    shape: Shape,
    nodes: Vec<NodeState>,
    /// The node the address reaches.
    primary: usize,
    /// Offset of the primary's last write.
    written: u64,
    /// Writes on their way to the replica: offset, when it applies them, what they do.
    backlog: VecDeque<(u64, Instant, Vec<Effect>)>,
    up: bool,
    faults: ServerFaults,
    arrivals: Vec<Arrival>,
    /// When the address refused every write: from, and until (open while it still does).
    refusing: Vec<(Instant, Option<Instant>)>,
}

impl State {
    /// Applies the writes due at the replica.
    fn replicate(&mut self) {
        let now = Instant::now();
        let replica = 1 - self.primary;
        while self.backlog.front().is_some_and(|(_, due, _)| *due <= now) {
            let (offset, _, effects) = self.backlog.pop_front().expect("a due write");
            for effect in &effects {
                self.nodes[replica].db.apply(effect);
            }
            self.nodes[replica].applied = offset;
        }
    }
}

/// The simulated Redis. Clones share it.
#[derive(Clone)]
pub struct Redis {
    state: Arc<Mutex<State>>,
    net: Net,
    trace: Trace,
}

impl Redis {
    /// Starts Redis of `shape` on `net`; `seed` draws which replies a fault loses.
    pub fn start(net: &Net, trace: &Trace, shape: Shape, seed: u64) -> Self {
        let nodes = match shape {
            Shape::Standalone => vec![NodeState::new("redis", false)],
            Shape::Pair { .. } => vec![NodeState::new("redis-a", false), NodeState::new("redis-b", true)],
        };
        let state = State {
            shape,
            nodes,
            primary: 0,
            written: 0,
            backlog: VecDeque::new(),
            up: true,
            faults: ServerFaults { slow: None, lose_replies: None, rng: StdRng::seed_from_u64(seed) },
            arrivals: Vec::new(),
            refusing: Vec::new(),
        };
        let redis = Self { state: Arc::new(Mutex::new(state)), net: net.clone(), trace: trace.clone() };
        redis.listen();
        redis
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("no panic holds the simulated redis")
    }

    fn listen(&self) {
        let mut accepted = self.net.listen(HOST, PORT);
        let redis = self.clone();
        tokio::spawn(async move {
            while let Some(Accepted { stream, connection }) = accepted.recv().await {
                let node = redis.lock().primary;
                tokio::spawn(redis.clone().serve(stream, connection, node));
            }
        });
    }

    /// Serves one connection, bound to `node` for good, as a TCP connection stays with the
    /// machine it reached when the address moves.
    async fn serve(self, stream: SimStream, connection: u64, node: usize) {
        let connected_at = Instant::now();
        let mut framed = Framed::new(stream, Resp3::default());
        let mut last_write = 0;
        while let Some(Ok(frame)) = framed.next().await {
            let Some(command) = command_of(frame) else {
                let _ = framed.send(Reply::Error("ERR Protocol error".to_owned()).frame()).await;
                continue;
            };
            let (outcome, lose) = {
                let mut state = self.lock();
                if !state.up {
                    return;
                }
                state.replicate();
                let name = String::from_utf8_lossy(&command[0]).to_ascii_uppercase();
                let sent_at = framed.get_ref().last_sent().unwrap_or_else(Instant::now);
                state.arrivals.push(Arrival {
                    at: Instant::now(),
                    sent_at,
                    connection,
                    connected_at,
                    name: name.clone(),
                    args: command[1..].to_vec(),
                });
                let node_state = &mut state.nodes[node];
                let mut target = Node {
                    db: &mut node_state.db,
                    scripts: &mut node_state.scripts,
                    read_only: node_state.read_only,
                    slots: None,
                };
                let (outcome, effects) = commands::run(&mut target, &command);
                let wrote = !effects.is_empty();
                if wrote && node == state.primary {
                    state.written += 1;
                    last_write = state.written;
                    if let Shape::Pair { lag } = state.shape {
                        let offset = state.written;
                        state.backlog.push_back((offset, Instant::now() + lag, effects));
                    }
                }
                let lose =
                    wrote && state.faults.lose_replies.is_some_and(|chance| state.faults.rng.random_bool(chance));
                if self.trace.is_on() {
                    let shown = match &outcome {
                        Outcome::Reply(reply) => reply.brief(),
                        Outcome::Wait { replicas, timeout } => format!("(waiting for {replicas} within {timeout:?})"),
                    };
                    self.trace.line(format!(
                        "redis #{connection} {} {}{} -> {shown}{}",
                        state.nodes[node].name,
                        name,
                        command[1..].iter().fold(String::new(), |mut words, arg| {
                            words.push(' ');
                            words.push_str(&short(arg));
                            words
                        }),
                        if lose { " (reply lost)" } else { "" }
                    ));
                }
                (outcome, lose)
            };
            if lose {
                // Applied, and never answered: the connection goes silent.
                std::future::pending::<()>().await;
            }
            let reply = match outcome {
                Outcome::Reply(reply) => reply,
                Outcome::Wait { replicas, timeout } => Reply::Integer(self.wait(last_write, replicas, timeout).await),
            };
            let slow = self.lock().faults.slow;
            if let Some(slow) = slow {
                tokio::time::sleep(slow).await;
            }
            if framed.send(reply.frame()).await.is_err() {
                return;
            }
        }
    }

    /// `WAIT`: blocks until the replica has this connection's last write, or `timeout` passes;
    /// answers how many replicas have it.
    async fn wait(&self, write: u64, replicas: u64, timeout: Duration) -> i64 {
        let deadline = Instant::now() + timeout;
        loop {
            let (has, next) = {
                let mut state = self.lock();
                state.replicate();
                match state.shape {
                    Shape::Standalone => (false, None),
                    Shape::Pair { .. } => {
                        let replica = 1 - state.primary;
                        let has = state.nodes[replica].applied >= write;
                        let next = state.backlog.iter().find(|(offset, ..)| *offset >= write).map(|(_, due, _)| *due);
                        (has, next)
                    }
                }
            };
            if has || replicas == 0 {
                return i64::from(has);
            }
            match next {
                Some(due) if due < deadline => tokio::time::sleep_until(due).await,
                _ => {
                    tokio::time::sleep_until(deadline).await;
                    let mut state = self.lock();
                    state.replicate();
                    let replica = 1 - state.primary;
                    return i64::from(state.shape != Shape::Standalone && state.nodes[replica].applied >= write);
                }
            }
        }
    }

    /// Redis goes down: connections reset, connects refused. With `keep_data` it comes back with
    /// what it had (its append-only file); without, empty. Its script cache is lost either way.
    pub fn crash(&self, keep_data: bool) {
        {
            let mut state = self.lock();
            state.up = false;
            for node in &mut state.nodes {
                node.scripts.clear();
                if !keep_data {
                    node.db = Db::default();
                }
            }
        }
        self.trace.line(format!("redis: crashed, data {}", if keep_data { "kept" } else { "lost" }));
        self.net.crash(HOST);
    }

    /// Redis comes back up.
    pub fn restart(&self) {
        self.lock().up = true;
        self.trace.line("redis: restarted");
        self.listen();
    }

    /// Replies wait `slow` first, or, with `None`, not at all.
    pub fn set_slow(&self, slow: Option<Duration>) {
        let before = std::mem::replace(&mut self.lock().faults.slow, slow);
        if before != slow {
            self.trace.line(format!("redis: replies delayed by {slow:?}"));
        }
    }

    /// A reply to a write is lost with this probability, or, with `None`, never.
    pub fn set_lose_replies(&self, chance: Option<f64>) {
        let before = std::mem::replace(&mut self.lock().faults.lose_replies, chance);
        if before != chance {
            self.trace.line(format!("redis: replies to writes lost with probability {chance:?}"));
        }
    }

    /// A failover of the pair: the primary is demoted at once and refuses writes; after
    /// `promotion`, the replica becomes the primary with what it has and the address moves to
    /// it, and the old primary resynchronises from it as its replica.
    pub async fn failover(&self, promotion: Duration) {
        {
            let mut state = self.lock();
            let primary = state.primary;
            state.nodes[primary].read_only = true;
            state.refusing.push((Instant::now(), None));
        }
        self.trace.line("redis: primary demoted; the address refuses writes");
        tokio::time::sleep(promotion).await;
        let mut state = self.lock();
        state.replicate();
        let lost = state.backlog.len();
        state.backlog.clear();
        let (old, new) = (state.primary, 1 - state.primary);
        state.nodes[new].read_only = false;
        state.nodes[old].db = state.nodes[new].db.clone();
        state.nodes[old].scripts.clear();
        state.nodes[old].applied = 0;
        state.nodes[new].applied = 0;
        state.written = 0;
        state.primary = new;
        if let Some((_, until)) = state.refusing.last_mut() {
            *until = Some(Instant::now());
        }
        self.trace.line(format!(
            "redis: {} promoted, {lost} writes not replicated are lost; the address moves",
            state.nodes[new].name
        ));
    }

    /// The id of `email`'s account on the primary, as an administrator reads it.
    pub fn account_of(&self, email: &str) -> Option<String> {
        let mut state = self.lock();
        state.replicate();
        let primary = state.primary;
        let key = format!("gift-genie:account:{email}");
        let account = state.nodes[primary].db.hash(key.as_bytes()).ok()?;
        account.get(b"id".as_slice()).map(|id| String::from_utf8_lossy(id).into_owned())
    }

    /// Every command that reached Redis, in order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.lock().arrivals.clone()
    }

    /// When the address refused every write.
    pub fn refusing(&self) -> Vec<(Instant, Option<Instant>)> {
        self.lock().refusing.clone()
    }
}

/// A command's words, from the array of strings a client sends.
fn command_of(frame: BytesFrame) -> Option<Vec<Bytes>> {
    let BytesFrame::Array { data, .. } = frame else { return None };
    let words: Option<Vec<Bytes>> = data
        .into_iter()
        .map(|word| match word {
            BytesFrame::BlobString { data, .. } | BytesFrame::SimpleString { data, .. } => Some(data),
            _ => None,
        })
        .collect();
    words.filter(|words| !words.is_empty())
}
