//! Forming a Redis Cluster and reading its shape, for any nodes that can run `redis-cli`: host
//! processes (`redis::LocalCluster`), or containers in e2e. Three primaries, each with a replica,
//! as Scaleway's cluster mode runs them.

use std::time::Duration;

use crate::wait::{self, NotDone};

/// How long forming a cluster, or any other step of a harness, may take.
pub const STEP_WITHIN: Duration = Duration::from_secs(30);
/// A node a cluster can be formed of.
#[allow(async_fn_in_trait)] // the harnesses drive nodes from one task; nothing needs Send here
pub trait Node {
    type Error: From<NotDone> + From<ShapeError>;

    /// `host:port`, as the other nodes and the clients reach it.
    fn endpoint(&self) -> String;

    /// Runs `redis-cli` against this node and gives what it printed.
    async fn redis_cli(&self, args: &[&str]) -> Result<String, Self::Error>;
}

/// The cluster did not have the shape a step needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

/// Forms a cluster of `nodes` (primaries, then as many replicas), each announcing its own
/// address, and waits until every primary has a replica in sync: one that could take over.
pub async fn form<N: Node>(nodes: &[N]) -> Result<(), N::Error> {
    for node in nodes {
        let endpoint = node.endpoint();
        let (host, _) = endpoint.rsplit_once(':').ok_or_else(|| ShapeError(format!("{endpoint} has no port")))?;
        node.redis_cli(&["CONFIG", "SET", "cluster-announce-ip", host]).await?;
    }
    let endpoints: Vec<String> = nodes.iter().map(Node::endpoint).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(endpoints.iter().map(String::as_str));
    args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
    nodes[0].redis_cli(&args).await?;
    wait::until("the cluster settles", STEP_WITHIN, || settled(nodes)).await
}

/// True when every node says the cluster is ok and `CLUSTER SLOTS` lists every node: it lists
/// only replicas in sync.
pub async fn settled<N: Node>(nodes: &[N]) -> Result<bool, N::Error> {
    for node in nodes {
        if !node.redis_cli(&["CLUSTER", "INFO"]).await?.contains("cluster_state:ok") {
            return Ok(false);
        }
    }
    Ok(slot_owners(&nodes[0]).await?.iter().map(|range| range.nodes.len()).sum::<usize>() == nodes.len())
}

/// One range of `CLUSTER SLOTS`: its slots, its primary and replicas by address, primary first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRange {
    pub first: u16,
    pub last: u16,
    pub nodes: Vec<String>,
}

/// `CLUSTER SLOTS` as `asked` tells it.
pub(crate) async fn slot_owners<N: Node>(asked: &N) -> Result<Vec<SlotRange>, N::Error> {
    let text = asked.redis_cli(&["CLUSTER", "SLOTS"]).await?;
    Ok(parse_slots(&text)?)
}

/// `CLUSTER SLOTS` as `redis-cli` prints it: per range, its first and last slot, then for each
/// node its host, port and id, one per line.
pub(crate) fn parse_slots(text: &str) -> Result<Vec<SlotRange>, ShapeError> {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    let mut ranges = Vec::new();
    let mut index = 0;
    while index + 1 < lines.len() {
        let (Ok(first), Ok(last)) = (lines[index].parse::<u16>(), lines[index + 1].parse::<u16>()) else {
            return Err(ShapeError(format!("CLUSTER SLOTS is not a slot map: {text}")));
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
    if index < lines.len() {
        return Err(ShapeError(format!("CLUSTER SLOTS is not a slot map: {text}")));
    }
    Ok(ranges)
}

/// The range that holds `slot`, as `asked` tells it.
pub async fn range_of_slot<N: Node>(asked: &N, slot: u16) -> Result<SlotRange, N::Error> {
    let ranges = slot_owners(asked).await?;
    ranges
        .into_iter()
        .find(|range| (range.first..=range.last).contains(&slot))
        .ok_or_else(|| ShapeError(format!("no primary serves slot {slot}")).into())
}

/// The node of `nodes` whose address is `endpoint`.
pub fn node_at<'a, N: Node>(nodes: &'a [N], endpoint: &str) -> Result<&'a N, ShapeError> {
    nodes
        .iter()
        .find(|node| node.endpoint() == endpoint)
        .ok_or_else(|| ShapeError(format!("no node of the cluster is at {endpoint}")))
}

/// A node's id in the cluster.
pub(crate) async fn node_id<N: Node>(node: &N) -> Result<String, N::Error> {
    Ok(node.redis_cli(&["CLUSTER", "MYID"]).await?.trim().to_owned())
}

/// Moves `count` slots from the primary `from` to the primary `to`, as `redis-cli --cluster
/// reshard` does: key by key, with `ASK` redirects meanwhile. `seed` is any live node.
pub async fn reshard<N: Node>(seed: &N, from: &N, to: &N, count: u32) -> Result<(), N::Error> {
    let (from, to) = (node_id(from).await?, node_id(to).await?);
    let count = count.to_string();
    let seed_endpoint = seed.endpoint();
    let args = [
        "--cluster",
        "reshard",
        &seed_endpoint,
        "--cluster-from",
        &from,
        "--cluster-to",
        &to,
        "--cluster-slots",
        &count,
        "--cluster-yes",
    ];
    seed.redis_cli(&args).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_map_as_redis_cli_prints_it_is_read_range_by_range() {
        let text = "0\n5460\n172.18.0.2\n6379\nabc\n172.18.0.5\n6379\ndef\n5461\n16383\n172.18.0.3\n6379\nghi\n";
        let ranges = parse_slots(text).unwrap();
        assert_eq!(ranges.len(), 2);
        assert_eq!(
            ranges[0],
            SlotRange { first: 0, last: 5460, nodes: vec!["172.18.0.2:6379".into(), "172.18.0.5:6379".into()] }
        );
        assert_eq!(ranges[1].nodes, ["172.18.0.3:6379"]);
        assert!(parse_slots("ERR This instance has cluster support disabled").is_err());
    }
}
