//! Redis beyond one node, from the same image: a high-availability pair (a primary and its
//! replica behind one address, the proxy, as Scaleway's endpoint) and a cluster (three primaries,
//! each with a replica), and what changes their shape: a failover, a lost primary, slots moved.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::redis::{REDIS_PORT, RedisNode};
use crate::wait;

/// How long a silent primary has before its replica takes over, in the stack's cluster.
pub const CLUSTER_NODE_TIMEOUT: Duration = Duration::from_secs(1);
/// `redis-server` arguments of a replicated node: a replica's full sync starts at once, not
/// after the 5 s that Redis waits by default for more replicas to share a diskless transfer.
pub const REPLICATION_ARGS: [&str; 2] = ["--repl-diskless-sync-delay", "0"];
/// `redis-server` arguments of a cluster node.
pub const CLUSTER_ARGS: [&str; 8] = [
    "--cluster-enabled",
    "yes",
    "--cluster-node-timeout",
    "1000",
    "--cluster-config-file",
    "nodes.conf",
    REPLICATION_ARGS[0],
    REPLICATION_ARGS[1],
];
/// Makes `replica` replicate `primary`; from now on it refuses writes with `READONLY`.
pub(crate) async fn demote(replica: &RedisNode, primary: &RedisNode) -> Result<()> {
    replica.cli(&["REPLICAOF", &primary.address.to_string(), &REDIS_PORT.as_u16().to_string()]).await.map(drop)
}

/// Waits until `replica` is in sync with its primary: one that could take over.
pub(crate) async fn in_sync(replica: &RedisNode) -> Result<()> {
    wait::until("the replica syncs", || async {
        Ok(replica.cli(&["INFO", "replication"]).await?.contains("master_link_status:up"))
    })
    .await
}

/// Makes `node` a primary of its own.
pub(crate) async fn promote(node: &RedisNode) -> Result<()> {
    node.cli(&["REPLICAOF", "NO", "ONE"]).await.map(drop)
}

/// Forms a cluster of `nodes` (a multiple of two: primaries, then as many replicas), each
/// announcing its address on the stack's network, and waits until every primary has a replica in
/// sync: one that could take over.
pub(crate) async fn form_cluster(nodes: &[RedisNode]) -> Result<()> {
    for node in nodes {
        node.cli(&["CONFIG", "SET", "cluster-announce-ip", &node.address.to_string()]).await?;
    }
    let endpoints: Vec<String> = nodes.iter().map(RedisNode::endpoint).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(endpoints.iter().map(String::as_str));
    args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
    nodes[0].cli(&args).await?;
    wait::until("the cluster settles", || async {
        for node in nodes {
            if !node.cli(&["CLUSTER", "INFO"]).await?.contains("cluster_state:ok") {
                return Ok(false);
            }
        }
        Ok(slot_owners(&nodes[0]).await?.iter().map(|range| range.nodes.len()).sum::<usize>() == nodes.len())
    })
    .await
}

/// One range of `CLUSTER SLOTS`: its slots, its primary and replicas by address, primary first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRange {
    pub first: u16,
    pub last: u16,
    pub nodes: Vec<String>,
}

/// `CLUSTER SLOTS` as `redis-cli` prints it: per range, its first and last slot, then for each
/// node its host, port and id, one per line.
pub async fn slot_owners(asked: &RedisNode) -> Result<Vec<SlotRange>> {
    let text = asked.cli(&["CLUSTER", "SLOTS"]).await?;
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    let mut ranges = Vec::new();
    let mut index = 0;
    while index + 1 < lines.len() {
        let (Ok(first), Ok(last)) = (lines[index].parse::<u16>(), lines[index + 1].parse::<u16>()) else {
            return Err(Error::Setup(format!("CLUSTER SLOTS is not a slot map: {text}")));
        };
        index += 2;
        let mut nodes = Vec::new();
        // host, port, id: a host is never a number, a slot always is.
        while index + 1 < lines.len() && lines[index].parse::<u16>().is_err() {
            nodes.push(format!("{}:{}", lines[index], lines[index + 1]));
            index += 3;
        }
        ranges.push(SlotRange { first, last, nodes });
    }
    Ok(ranges)
}

/// The node whose address is `endpoint`.
pub fn node_at<'a>(nodes: &'a [RedisNode], endpoint: &str) -> Result<&'a RedisNode> {
    nodes
        .iter()
        .find(|node| node.endpoint() == endpoint)
        .ok_or_else(|| Error::Setup(format!("no node of the stack is at {endpoint}")))
}

/// A node's id in the cluster.
pub async fn node_id(node: &RedisNode) -> Result<String> {
    Ok(node.cli(&["CLUSTER", "MYID"]).await?.trim().to_owned())
}

/// Moves `count` slots from the primary at `from` to the primary at `to`, as
/// `redis-cli --cluster reshard` does: key by key, with `ASK` redirects meanwhile.
pub async fn reshard(nodes: &[RedisNode], from: &RedisNode, to: &RedisNode, count: u32) -> Result<()> {
    let (from, to) = (node_id(from).await?, node_id(to).await?);
    let count = count.to_string();
    let seed = nodes[0].endpoint();
    let args = [
        "--cluster",
        "reshard",
        &seed,
        "--cluster-from",
        &from,
        "--cluster-to",
        &to,
        "--cluster-slots",
        &count,
        "--cluster-yes",
    ];
    nodes[0].cli(&args).await.map(drop)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_args_and_node_timeout_agree() {
        let timeout = super::CLUSTER_ARGS[3].parse::<u64>().unwrap();
        assert_eq!(std::time::Duration::from_millis(timeout), super::CLUSTER_NODE_TIMEOUT);
    }
}
