//! The Redis side of a stack, one type per topology, each owning its nodes and its operations:
//! one node ([`Single`], behind the proxy or reached directly), a replicated pair behind one
//! address ([`Pair`]), or a Redis Cluster ([`Cluster`]). All are the same `FROM scratch` image
//! with other arguments.

mod cluster;
mod node;
mod pair;
mod single;

use std::sync::Arc;

use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, ImageExt as _};
use testcontainers_toxiproxy::{CONTROL_PORT, Toxiproxy, ToxiproxyClient};

pub use cluster::{CLUSTER_ARGS, CLUSTER_NODE_TIMEOUT, Cluster};
pub use node::{ClientInfo, REDIS_PORT, RedisImage, RedisNode};
pub use pair::{Pair, REPLICATION_ARGS};
pub use single::Single;

use crate::containers::{self, Expected};
use crate::docker;
use crate::images::ImageSet;
use crate::stack::{Journal, Topology};

/// The name of the proxy in front of Redis.
pub const REDIS_PROXY: &str = "redis";

/// The fault proxy's container and its API: Toxiproxy in front of Redis, the one private address
/// of a single node or of a high-availability pair.
pub struct Proxy {
    pub client: ToxiproxyClient,
    pub(crate) container: ContainerAsync<Toxiproxy>,
    pub(crate) expected: Expected,
}

impl Proxy {
    async fn start(images: &ImageSet, network: &str, upstream: &RedisNode) -> crate::Result<Self> {
        let image = Toxiproxy::default().with_name(&images.toxiproxy.name).with_tag(&images.toxiproxy.tag);
        let container = docker::owned(image, network).with_mapped_port(0, CONTROL_PORT).start().await?;
        docker::attach_alias(network, container.id(), "toxiproxy").await?;
        let client = ToxiproxyClient::for_container(&container).await?;
        client.create_proxy(REDIS_PROXY, &format!("0.0.0.0:{PROXY_LISTEN_PORT}"), &upstream.upstream()).await?;
        let expected = Expected::running(&containers::state("toxiproxy", container.id()).await?);
        Ok(Self { client, container, expected })
    }
}

/// Redis, in one of its topologies.
// One per stack: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Redis {
    Single(Single),
    Pair(Pair),
    Cluster(Cluster),
}

impl Redis {
    /// Starts Redis for `topology` on `network`: one node, a replicated pair in sync, or a
    /// formed cluster; with the proxy in front where the topology has one.
    pub(crate) async fn start(
        images: &ImageSet,
        network: &str,
        topology: Topology,
        journal: Arc<Journal>,
    ) -> crate::Result<Self> {
        match topology {
            Topology::ThroughProxy | Topology::Direct => {
                Ok(Self::Single(Single::start(images, network, topology == Topology::ThroughProxy, journal).await?))
            }
            Topology::Ha => Ok(Self::Pair(Pair::start(images, network, journal).await?)),
            Topology::Cluster => Ok(Self::Cluster(Cluster::start(images, network, journal).await?)),
        }
    }

    /// Every node: one, the pair, or the cluster's six.
    pub fn nodes(&self) -> Vec<&RedisNode> {
        match self {
            Self::Single(single) => vec![single.node()],
            Self::Pair(pair) => pair.nodes().iter().collect(),
            Self::Cluster(cluster) => cluster.nodes().iter().collect(),
        }
    }

    /// The proxy in front of Redis, where there is one.
    pub fn proxy(&self) -> Option<&Proxy> {
        match self {
            Self::Single(single) => single.proxy(),
            Self::Pair(pair) => Some(pair.proxy()),
            Self::Cluster(_) => None,
        }
    }

    /// `REDIS_URL` and `REDIS_MODE` for the backends.
    pub(crate) fn backend_env(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Single(single) => vec![("REDIS_URL", single.url())],
            Self::Pair(_) => vec![("REDIS_URL", proxy_url())],
            Self::Cluster(cluster) => vec![("REDIS_URL", cluster.seeds()), ("REDIS_MODE", "cluster".to_owned())],
        }
    }

    pub fn single(&self) -> Option<&Single> {
        if let Self::Single(single) = self { Some(single) } else { None }
    }

    pub fn pair(&self) -> Option<&Pair> {
        if let Self::Pair(pair) = self { Some(pair) } else { None }
    }

    pub fn cluster(&self) -> Option<&Cluster> {
        if let Self::Cluster(cluster) = self { Some(cluster) } else { None }
    }
}

/// The proxy's port inside its container, where the backends reach Redis through it.
pub(crate) const PROXY_LISTEN_PORT: u16 = 6379;

/// Where the backends reach Redis through the proxy, the one private address.
fn proxy_url() -> String {
    format!("redis://toxiproxy:{PROXY_LISTEN_PORT}/0")
}
