//! A simulated Redis that speaks RESP3 (redis-protocol's codec) for exactly the commands the
//! backend sends, on the simulated network: one node; a primary and its replica behind one
//! address (Scaleway's high-availability endpoint), whose writes reach the replica after a lag;
//! or a cluster of primaries, each on its own host, sharing the slots.
//!
//! It models what the faults need: a restart with the data lost or kept (of every node, or of one
//! cluster node); a failover, in which the primary is demoted (it refuses writes with
//! `READONLY`), then the replica is promoted with what it had (writes not yet replicated are
//! lost) and the address moves, while connections made before keep talking to the node they
//! reached; a slot range moving between cluster nodes, key by key, with `MOVED` and `ASK`;
//! replies slower than a timeout; and a reply lost after its write was applied.

pub mod cluster;
pub mod commands;
pub mod db;
pub mod reply;
pub mod scripts;
mod server;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use tokio::time::Instant;

use crate::net::{Accepted, Net};
use crate::trace::Trace;
use cluster::{Migration, Slots};
use db::{Db, Effect};

/// Where the backend reaches a standalone Redis or a pair: the one address.
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
    /// Primaries sharing the slots, each on a host of its own.
    Cluster {
        nodes: usize,
    },
}

/// A cluster node's host and port.
pub fn cluster_node(node: usize) -> (String, u16) {
    (format!("node-{}", node + 1), 7001 + u16::try_from(node).expect("a few nodes"))
}

/// A command as it reached Redis: for the invariants.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    /// When the backend sent it.
    pub sent_at: Instant,
    /// The node it reached.
    pub node: usize,
    pub connection: u64,
    /// When the connection that carried it was accepted.
    pub connected_at: Instant,
    pub name: String,
    pub args: Vec<Bytes>,
    /// Whether its reply was lost after it was applied.
    pub reply_lost: bool,
}

#[derive(Debug)]
struct NodeState {
    host: String,
    port: u16,
    db: Db,
    scripts: BTreeSet<String>,
    read_only: bool,
    up: bool,
    /// The primary's writes this node has, by offset.
    applied: u64,
}

impl NodeState {
    fn new((host, port): (String, u16), read_only: bool) -> Self {
        Self { host, port, db: Db::default(), scripts: BTreeSet::new(), read_only, up: true, applied: 0 }
    }

    fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
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
    /// The node the one address reaches (standalone, pair).
    primary: usize,
    /// Offset of the primary's last write.
    written: u64,
    /// Writes on their way to the replica: offset, when it applies them, what they do.
    backlog: VecDeque<(u64, Instant, Vec<Effect>)>,
    /// The cluster's slots.
    slots: Option<Slots>,
    faults: ServerFaults,
    arrivals: Vec<Arrival>,
    /// When the address refused every write: from, and until (open while it still does).
    refusing: Vec<(Instant, Option<Instant>)>,
    /// For each node that is down, its window in `refusing`.
    down: BTreeMap<usize, usize>,
}

impl State {
    /// Applies the writes due at the replica.
    fn replicate(&mut self) {
        if !matches!(self.shape, Shape::Pair { .. }) {
            return;
        }
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

    /// The nodes a fault aimed at `target` reaches: one cluster node, or every node.
    fn targets(&self, target: Option<usize>) -> Vec<usize> {
        match (self.shape, target) {
            (Shape::Cluster { nodes }, Some(node)) => vec![node % nodes],
            _ => (0..self.nodes.len()).collect(),
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
        let address = || (HOST.to_owned(), PORT);
        let nodes = match shape {
            Shape::Standalone => vec![NodeState::new(address(), false)],
            Shape::Pair { .. } => vec![NodeState::new(address(), false), NodeState::new(address(), true)],
            Shape::Cluster { nodes } => (0..nodes).map(|node| NodeState::new(cluster_node(node), false)).collect(),
        };
        let slots = match shape {
            Shape::Cluster { nodes } => Some(Slots::even(nodes)),
            Shape::Standalone | Shape::Pair { .. } => None,
        };
        let state = State {
            shape,
            nodes,
            primary: 0,
            written: 0,
            backlog: VecDeque::new(),
            slots,
            faults: ServerFaults { slow: None, lose_replies: None, rng: StdRng::seed_from_u64(seed) },
            arrivals: Vec::new(),
            refusing: Vec::new(),
            down: BTreeMap::new(),
        };
        let redis = Self { state: Arc::new(Mutex::new(state)), net: net.clone(), trace: trace.clone() };
        redis.listen(None);
        redis
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("no panic holds the simulated redis")
    }

    /// The hosts the backend reaches: the one address, or every cluster node's.
    pub fn hosts(&self) -> Vec<String> {
        let state = self.lock();
        let mut hosts: Vec<String> = state.nodes.iter().map(|node| node.host.clone()).collect();
        hosts.dedup();
        hosts
    }

    /// The cluster nodes' addresses, `host:port`, for the backend's `REDIS_URL`.
    pub fn cluster_addresses(&self) -> Vec<String> {
        let state = self.lock();
        match state.shape {
            Shape::Cluster { .. } => state.nodes.iter().map(NodeState::address).collect(),
            Shape::Standalone | Shape::Pair { .. } => Vec::new(),
        }
    }

    /// Listens on the address of `target` (every node when `None`): the one address hands each
    /// connection to the node it reaches now; a cluster node's, to that node.
    fn listen(&self, target: Option<usize>) {
        let (shape, nodes) = {
            let state = self.lock();
            (state.shape, state.targets(target))
        };
        let listeners: Vec<(String, u16, Option<usize>)> = match shape {
            Shape::Cluster { .. } => {
                nodes.into_iter().map(|node| (cluster_node(node).0, cluster_node(node).1, Some(node))).collect()
            }
            Shape::Standalone | Shape::Pair { .. } => vec![(HOST.to_owned(), PORT, None)],
        };
        for (host, port, node) in listeners {
            let mut accepted = self.net.listen(&host, port);
            let redis = self.clone();
            tokio::spawn(async move {
                while let Some(Accepted { stream, connection }) = accepted.recv().await {
                    let node = node.unwrap_or_else(|| redis.lock().primary);
                    tokio::spawn(redis.clone().serve(stream, connection, node));
                }
            });
        }
    }

    /// Redis goes down (one cluster node, or every node): connections reset, connects refused.
    /// With `keep_data` it comes back with what it had (its append-only file); without, empty.
    /// Its script cache is lost either way.
    pub fn crash(&self, target: Option<usize>, keep_data: bool) {
        let hosts = {
            let mut state = self.lock();
            let mut hosts = Vec::new();
            for node in state.targets(target) {
                // Down, it refuses every write to its keys: a window of its own.
                let window = state.refusing.len();
                state.refusing.push((Instant::now(), None));
                state.down.insert(node, window);
                let node = &mut state.nodes[node];
                node.up = false;
                node.scripts.clear();
                if !keep_data {
                    node.db = Db::default();
                }
                hosts.push(node.host.clone());
            }
            hosts.dedup();
            hosts
        };
        for host in hosts {
            self.trace.line(format!("redis: {host} crashed, data {}", if keep_data { "kept" } else { "lost" }));
            self.net.crash(&host);
        }
    }

    /// Redis comes back up (one cluster node, or every node).
    pub fn restart(&self, target: Option<usize>) {
        {
            let mut state = self.lock();
            for node in state.targets(target) {
                state.nodes[node].up = true;
                if let Some(window) = state.down.remove(&node) {
                    state.refusing[window].1 = Some(Instant::now());
                }
            }
        }
        self.trace.line(format!(
            "redis: restarted {}",
            target.map_or("every node".to_owned(), |node| format!("node {}", node + 1))
        ));
        self.listen(target);
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
        self.trace
            .line(format!("redis: the replica is promoted, {lost} writes not replicated are lost; the address moves"));
    }

    /// Moves the slots `first..=last` from cluster node `from` to `to` over `lasts`: key by key
    /// (the source answers `ASK` for the keys it no longer has), then the slots themselves.
    pub async fn move_slots(&self, migration: Migration, lasts: Duration) {
        let Migration { first, last, from, to } = migration;
        self.trace.line(format!("redis: slots {first}-{last} start moving from node {} to node {}", from + 1, to + 1));
        self.lock().slots.as_mut().expect("a cluster").migration = Some(migration);
        let deadline = Instant::now() + lasts;
        loop {
            let moved = self.move_one_key(migration);
            if !moved || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(KEY_MOVE).await;
        }
        tokio::time::sleep_until(deadline).await;
        while self.move_one_key(migration) {}
        self.lock().slots.as_mut().expect("a cluster").finish(migration);
        self.trace.line(format!("redis: slots {first}-{last} now belong to node {}", to + 1));
    }

    /// Moves one key of the moving range from its source to its target; false when none is left.
    fn move_one_key(&self, migration: Migration) -> bool {
        let mut state = self.lock();
        let key = state.nodes[migration.from]
            .db
            .keys()
            .into_iter()
            .find(|key| migration.holds(gift_genie_backend::redis_pool::key_slot(&String::from_utf8_lossy(key))));
        let Some(key) = key else { return false };
        if let Some(entry) = state.nodes[migration.from].db.take(&key) {
            state.nodes[migration.to].db.put(key, entry);
        }
        true
    }

    /// The id of `email`'s account on the primary that holds it, as an administrator reads it.
    pub fn account_of(&self, email: &str) -> Option<String> {
        let mut state = self.lock();
        state.replicate();
        let key = format!("gift-genie:account:{email}");
        let node = state.slots.as_ref().map_or(state.primary, |slots| slots.owner_of(key.as_bytes()));
        let account = state.nodes[node].db.hash(key.as_bytes()).ok()?;
        account.get(b"id".as_slice()).map(|id| String::from_utf8_lossy(id).into_owned())
    }

    /// The node that serves `key` now, as a client that followed every redirect would find it.
    pub fn node_of(&self, key: &[u8]) -> usize {
        let state = self.lock();
        state.slots.as_ref().map_or(state.primary, |slots| slots.owner_of(key))
    }

    /// Every command that reached Redis so far, in order, taken from the log: for the end of a
    /// run.
    pub fn take_arrivals(&self) -> Vec<Arrival> {
        std::mem::take(&mut self.lock().arrivals)
    }

    /// When the address refused every write.
    pub fn refusing(&self) -> Vec<(Instant, Option<Instant>)> {
        self.lock().refusing.clone()
    }

    /// The slots each cluster node owns.
    pub fn slot_ranges(&self, node: usize) -> Vec<(u16, u16)> {
        self.lock().slots.as_ref().map(|slots| slots.ranges_of(node)).unwrap_or_default()
    }
}

/// How often a moving slot range hands one key over.
const KEY_MOVE: Duration = Duration::from_millis(20);
