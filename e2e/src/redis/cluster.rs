//! Redis Cluster: three primaries, each with a replica (`redis-0` to `redis-5`), reached directly
//! at the addresses they announce, formed with testkit's cluster steps; and what changes its
//! shape: a lost primary, one shard filtered, slots moved.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::try_join_all;
use testkit::cluster;

use super::{RedisImage, RedisNode, pair::REPLICATION_ARGS};
use crate::error::{Error, Result};
use crate::images::ImageSet;
use crate::stack::{BackendNode, Journal};

/// How long a silent primary has before its replica takes over.
pub const CLUSTER_NODE_TIMEOUT: Duration = Duration::from_secs(1);
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

/// The slots the cluster faults act on: the first shard's first, and the second shard's last.
const FIRST_SLOT: u16 = 0;
const LAST_SLOT: u16 = 16_383;

pub struct Cluster {
    nodes: Vec<RedisNode>,
    /// What the cluster faults changed, for their heal to undo.
    changes: Mutex<Changes>,
    journal: Arc<Journal>,
}

/// What the cluster faults changed, by index in the nodes.
#[derive(Debug, Default)]
struct Changes {
    lost: Option<usize>,
    filtered: Option<usize>,
    /// Slots moved from the first index's node to the second's.
    moved: Option<(usize, usize)>,
}

impl Cluster {
    pub(super) async fn start(images: &ImageSet, network: &str, journal: Arc<Journal>) -> Result<Self> {
        let image = || RedisImage::new(&images.redis.name, &images.redis.tag, images.source).with_args(&CLUSTER_ARGS);
        let starts = (0..6).map(|index| {
            let name = format!("redis-{index}");
            async move { RedisNode::start(image(), network, &name).await }
        });
        let nodes = try_join_all(starts).await?;
        cluster::form(&nodes).await?;
        Ok(Self { nodes, changes: Mutex::new(Changes::default()), journal })
    }

    pub fn nodes(&self) -> &[RedisNode] {
        &self.nodes
    }

    /// `REDIS_URL` for the backends: two seed nodes.
    pub(super) fn seeds(&self) -> String {
        let seeds: Vec<String> = self.nodes.iter().take(2).map(|node| format!("redis://{}", node.endpoint())).collect();
        seeds.join(",")
    }

    fn changes(&self) -> std::sync::MutexGuard<'_, Changes> {
        self.changes.lock().expect("cluster changes lock")
    }

    /// A node that was not killed.
    pub(crate) fn live_node(&self) -> &RedisNode {
        let lost = self.changes().lost;
        let live = self.nodes.iter().enumerate().find(|(index, _)| Some(*index) != lost);
        live.map(|(_, node)| node).expect("a cluster has live nodes")
    }

    /// The index of the primary that holds `slot` now, as a live node tells.
    async fn primary_of_slot(&self, slot: u16) -> Result<usize> {
        let range = cluster::range_of_slot(self.live_node(), slot).await?;
        let primary = cluster::node_at(&self.nodes, &range.nodes[0])?;
        Ok(self.nodes.iter().position(|node| node.name == primary.name).expect("a node of the cluster"))
    }

    /// Kills the primary of the first shard.
    pub(crate) async fn lose_primary(&self) -> Result<()> {
        let index = self.primary_of_slot(FIRST_SLOT).await?;
        self.nodes[index].kill().await?;
        self.changes().lost = Some(index);
        self.journal.note(format!("killed {}, the primary of slot {FIRST_SLOT}", self.nodes[index].name));
        Ok(())
    }

    /// Starts the killed primary again; it rejoins as a replica.
    pub(crate) async fn restore_primary(&self) -> Result<()> {
        let killed = self.changes().lost.take();
        if let Some(index) = killed {
            self.nodes[index].start_again().await?;
            self.journal.note(format!("started {} again", self.nodes[index].name));
        }
        Ok(())
    }

    /// Starts the sidecar of the first shard's primary, so that filtering it is immediate.
    pub(crate) async fn prepare_shard_filter(&self) -> Result<()> {
        let index = self.primary_of_slot(FIRST_SLOT).await?;
        self.nodes[index].iptables_sidecar().await.map(drop)
    }

    /// Drops the `backends`' packets at the first shard's primary, or stops dropping them.
    pub(crate) async fn filter_shard(&self, backends: &[BackendNode], drop: bool) -> Result<()> {
        let index = if drop {
            let index = self.primary_of_slot(FIRST_SLOT).await?;
            self.changes().filtered = Some(index);
            index
        } else {
            let filtered = self.changes().filtered.take();
            let Some(index) = filtered else { return Ok(()) };
            index
        };
        self.nodes[index].filter(backends, drop).await
    }

    /// Moves `slots` slots from the first shard's primary to the second's (`forward`), or back.
    pub async fn reshard(&self, slots: u32, forward: bool) -> Result<()> {
        let (from, to) = if forward {
            let (from, to) = (self.primary_of_slot(FIRST_SLOT).await?, self.primary_of_slot(LAST_SLOT).await?);
            self.changes().moved = Some((from, to));
            (from, to)
        } else {
            let moved = self.changes().moved.take();
            let Some((from, to)) = moved else { return Ok(()) };
            (to, from)
        };
        cluster::reshard(self.live_node(), &self.nodes[from], &self.nodes[to], slots).await?;
        self.journal.note(format!("moved {slots} slots from {} to {}", self.nodes[from].name, self.nodes[to].name));
        Ok(())
    }

    /// The node whose address is `endpoint`.
    pub fn node_at(&self, endpoint: &str) -> Result<&RedisNode> {
        cluster::node_at(&self.nodes, endpoint).map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_args_and_node_timeout_agree() {
        let timeout = super::CLUSTER_ARGS[3].parse::<u64>().unwrap();
        assert_eq!(std::time::Duration::from_millis(timeout), super::CLUSTER_NODE_TIMEOUT);
    }
}
