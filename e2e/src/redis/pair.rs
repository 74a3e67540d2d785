//! A high-availability pair: a primary and its replica (`redis-a`, `redis-b`) behind the proxy,
//! which is the one private address, as Scaleway's endpoint with `cluster_size = 2`. A failover
//! moves the address.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Proxy, REDIS_PORT, REDIS_PROXY, RedisImage, RedisNode};
use crate::error::Result;
use crate::images::ImageSet;
use crate::stack::Journal;
use crate::wait;

/// `redis-server` arguments of a replicated node: a replica's full sync starts at once, not
/// after the 5 s that Redis waits by default for more replicas to share a diskless transfer.
pub const REPLICATION_ARGS: [&str; 2] = ["--repl-diskless-sync-delay", "0"];

pub struct Pair {
    /// Declared first, so that it goes first: it sends to the nodes.
    proxy: Proxy,
    /// The first is the initial primary.
    nodes: [RedisNode; 2],
    /// Which of `nodes` the proxy sends to: the current primary.
    primary: AtomicUsize,
    journal: Arc<Journal>,
}

impl Pair {
    pub(super) async fn start(images: &ImageSet, network: &str, journal: Arc<Journal>) -> Result<Self> {
        let image =
            || RedisImage::new(&images.redis.name, &images.redis.tag, images.source).with_args(&REPLICATION_ARGS);
        let primary = RedisNode::start(image(), network, "redis-a").await?;
        let replica = RedisNode::start(image(), network, "redis-b").await?;
        demote(&replica, &primary).await?;
        in_sync(&replica).await?;
        let proxy = Proxy::start(images, network, &primary).await?;
        Ok(Self { proxy, nodes: [primary, replica], primary: AtomicUsize::new(0), journal })
    }

    pub fn nodes(&self) -> &[RedisNode; 2] {
        &self.nodes
    }

    pub fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    /// The node the proxy sends to: the primary.
    pub fn primary(&self) -> &RedisNode {
        &self.nodes[self.primary.load(Ordering::Acquire)]
    }

    /// The pair swaps roles: the replica is promoted, the old primary demoted to replicate it
    /// (connections still on it get `READONLY`), then the proxy, the one private address, moves
    /// to the new primary. Writes the old primary took in between are lost, as in any
    /// asynchronous failover. Returns once the old primary is in sync again, so that the next
    /// failover loses nothing to the harness.
    pub async fn failover(&self) -> Result<()> {
        let old = self.primary.load(Ordering::Acquire);
        let new = 1 - old;
        promote(&self.nodes[new]).await?;
        demote(&self.nodes[old], &self.nodes[new]).await?;
        self.send_to(new).await?;
        in_sync(&self.nodes[old]).await?;
        self.journal
            .note(format!("failover: {} is the primary, {} its replica", self.nodes[new].name, self.nodes[old].name));
        Ok(())
    }

    /// Points the proxy at another node: the one private address moves, and Toxiproxy closes the
    /// connections it held, as the endpoint of a managed failover does.
    async fn send_to(&self, index: usize) -> Result<()> {
        self.proxy.client.set_upstream(REDIS_PROXY, &self.nodes[index].upstream()).await?;
        self.primary.store(index, Ordering::Release);
        self.journal.note(format!("the proxy now sends to {}", self.nodes[index].name));
        Ok(())
    }
}

/// Makes `replica` replicate `primary`; from now on it refuses writes with `READONLY`.
async fn demote(replica: &RedisNode, primary: &RedisNode) -> Result<()> {
    replica.cli(&["REPLICAOF", &primary.address.to_string(), &REDIS_PORT.as_u16().to_string()]).await.map(drop)
}

/// Waits until `replica` is in sync with its primary: one that could take over.
async fn in_sync(replica: &RedisNode) -> Result<()> {
    wait::step("the replica syncs", || async {
        Ok(replica.cli(&["INFO", "replication"]).await?.contains("master_link_status:up"))
    })
    .await
}

/// Makes `node` a primary of its own.
async fn promote(node: &RedisNode) -> Result<()> {
    node.cli(&["REPLICAOF", "NO", "ONE"]).await.map(drop)
}
