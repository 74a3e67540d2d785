//! A Redis Cluster of `redis-server` processes on loopback.

use std::time::Duration;

use super::RedisServer;
use crate::cluster::{Node, ShapeError, form, node_at, range_of_slot, slot_owners};

/// A node's cluster bus listens on its port plus this.
pub(crate) const CLUSTER_BUS_OFFSET: u16 = 10_000;

/// The `redis-server` arguments of a cluster node, with the time a silent primary has before its
/// replica takes over.
pub(crate) fn server_args(node_timeout: Duration) -> Vec<String> {
    ["--cluster-enabled", "yes", "--cluster-node-timeout", &node_timeout.as_millis().to_string()]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The slot of `key`, as `asked` computes it.
pub(crate) async fn slot_of<N: Node>(asked: &N, key: &str) -> Result<u16, N::Error> {
    let reply = asked.redis_cli(&["CLUSTER", "KEYSLOT", key]).await?;
    Ok(reply.trim().parse().map_err(|_| ShapeError(format!("CLUSTER KEYSLOT gave {reply:?}")))?)
}

/// A cluster of `redis-server` processes on loopback.
pub struct LocalCluster {
    /// Primaries first, then their replicas, in the order `redis-cli --cluster create` paired them.
    pub nodes: Vec<RedisServer>,
}

impl LocalCluster {
    /// A six-node cluster whose replicas take over a primary silent for `node_timeout`.
    pub async fn start(node_timeout: Duration) -> Self {
        let args = server_args(node_timeout);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut nodes = Vec::new();
        for _ in 0..6 {
            nodes.push(RedisServer::start_on(free_cluster_port(), &args).await);
        }
        form(&nodes).await.unwrap_or_else(|error| panic!("the cluster did not form: {error}"));
        Self { nodes }
    }

    /// `REDIS_URL` for the backend: two seed nodes.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{},redis://127.0.0.1:{}", self.nodes[0].port(), self.nodes[1].port())
    }

    /// The primary that serves `key`, as the cluster says.
    pub async fn primary_of(&self, key: &str) -> &RedisServer {
        let slot = slot_of(&self.nodes[0], key).await.expect("a slot");
        let range = range_of_slot(&self.nodes[0], slot).await.expect("a primary serves every slot");
        node_at(&self.nodes, &range.nodes[0]).expect("the primary is one of ours")
    }

    /// The replica of `primary`, as the cluster says.
    pub async fn replica_of(&self, primary: &RedisServer) -> &RedisServer {
        let ranges = slot_owners(&self.nodes[0]).await.expect("a slot map");
        let range = ranges.iter().find(|range| range.nodes[0] == primary.endpoint()).expect("a primary of the map");
        let replica = range.nodes.get(1).expect("every primary has a replica in sync");
        node_at(&self.nodes, replica).expect("the replica is one of ours")
    }
}

/// A free port whose cluster bus port is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = super::server::free_port();
        if port < u16::MAX - CLUSTER_BUS_OFFSET
            && std::net::TcpListener::bind(("127.0.0.1", port + CLUSTER_BUS_OFFSET)).is_ok()
        {
            return port;
        }
    }
}
