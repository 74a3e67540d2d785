//! What faults act on, and where they find it: a part of the local [`Stack`], or a deployed
//! environment's Toxiproxy. A fault's target type is the fact of where it can run.

use std::net::SocketAddr;

use testcontainers_toxiproxy::ToxiproxyClient;

use super::Fault;
use crate::error::{Error, Result};
use crate::redis::{Cluster, Pair, RedisNode, Single};
use crate::stack::{BackendNode, REDIS_PROXY, Stack, Topology};
use testkit::hostile::ClientLoads;

/// A deployed environment: faults go through its Toxiproxy's API.
#[derive(Debug, Clone)]
pub struct RemoteTarget {
    pub toxiproxy: ToxiproxyClient,
    pub proxy: String,
}

/// Where a fault is injected.
#[derive(Clone, Copy)]
pub enum Place<'a> {
    Local(&'a Stack),
    Remote(&'a RemoteTarget),
}

impl<'a> From<&'a Stack> for Place<'a> {
    fn from(stack: &'a Stack) -> Self {
        Self::Local(stack)
    }
}

impl<'a> From<&'a RemoteTarget> for Place<'a> {
    fn from(remote: &'a RemoteTarget) -> Self {
        Self::Remote(remote)
    }
}

impl Place<'_> {
    /// Tells the place's journal that `fault` started or ended.
    pub(super) fn fault_changed(self, fault: &Fault, active: bool) {
        if let Self::Local(stack) = self {
            stack.journal().fault_changed(fault, active);
        }
    }
}

/// What a fault acts on: the topologies that have it, whether a deployed environment does, and
/// how to find it in either.
pub trait Target {
    /// The local topologies that have it.
    const TOPOLOGIES: &'static [Topology];
    /// True when a deployed environment with only a Toxiproxy has it.
    const REMOTE: bool;

    /// What the fault gets to act on.
    type View<'a>;

    fn find(place: Place<'_>) -> Result<Self::View<'_>>;
}

/// A local stack's part, or the error that names what the fault needs.
fn local<'a, T>(place: Place<'a>, needs: &str, part: impl FnOnce(&'a Stack) -> Option<T>) -> Result<T> {
    match place {
        Place::Local(stack) => part(stack).ok_or_else(|| {
            Error::Setup(format!("{needs}; this stack's topology is {}", stack.options.topology.name()))
        }),
        Place::Remote(_) => Err(Error::Setup(format!("{needs}: it needs the local stack, not a deployed target"))),
    }
}

/// The Toxiproxy in front of Redis: the local stack's proxy, or a deployed environment's.
pub struct Proxied<'a> {
    pub client: &'a ToxiproxyClient,
    pub proxy: &'a str,
}

/// Faults made of toxics or of the proxy's switch act on the proxy in front of Redis.
pub struct OnProxy;

impl Target for OnProxy {
    const TOPOLOGIES: &'static [Topology] = &[Topology::ThroughProxy, Topology::Ha];
    const REMOTE: bool = true;
    type View<'a> = Proxied<'a>;

    fn find(place: Place<'_>) -> Result<Proxied<'_>> {
        match place {
            Place::Remote(remote) => Ok(Proxied { client: &remote.toxiproxy, proxy: &remote.proxy }),
            place @ Place::Local(_) => local(place, "a proxy fault needs the proxy in front of Redis", |stack| {
                stack.toxiproxy().ok().map(|client| Proxied { client, proxy: REDIS_PROXY })
            }),
        }
    }
}

/// The one Redis that the backends reach directly, with the backends' addresses: the IP filter
/// must see the backends' own addresses at Redis.
pub struct DirectRedis<'a> {
    pub node: &'a RedisNode,
    pub backends: &'a [BackendNode],
}

/// The IP filter acts on a Redis the backends reach directly.
pub struct OnDirectRedis;

impl Target for OnDirectRedis {
    const TOPOLOGIES: &'static [Topology] = &[Topology::Direct];
    const REMOTE: bool = false;
    type View<'a> = DirectRedis<'a>;

    fn find(place: Place<'_>) -> Result<DirectRedis<'_>> {
        local(place, "the fault filters at a Redis the backends reach directly (topology direct)", |stack| {
            let single = stack.redis().single().filter(|single| !single.proxied())?;
            Some(DirectRedis { node: single.node(), backends: stack.backends() })
        })
    }
}

/// A restart acts on the one Redis node.
pub struct OnSingle;

impl Target for OnSingle {
    const TOPOLOGIES: &'static [Topology] = &[Topology::ThroughProxy, Topology::Direct];
    const REMOTE: bool = false;
    type View<'a> = &'a Single;

    fn find(place: Place<'_>) -> Result<&Single> {
        local(place, "the fault stops the one Redis node", |stack| stack.redis().single())
    }
}

/// A failover acts on the high-availability pair.
pub struct OnPair;

impl Target for OnPair {
    const TOPOLOGIES: &'static [Topology] = &[Topology::Ha];
    const REMOTE: bool = false;
    type View<'a> = &'a Pair;

    fn find(place: Place<'_>) -> Result<&Pair> {
        local(place, "the fault changes a high-availability pair's roles (topology ha)", |stack| stack.redis().pair())
    }
}

/// The cluster, with the backends' addresses for filtering at one of its nodes.
pub struct ClusterView<'a> {
    pub cluster: &'a Cluster,
    pub backends: &'a [BackendNode],
}

/// Cluster faults act on the cluster.
pub struct OnCluster;

impl Target for OnCluster {
    const TOPOLOGIES: &'static [Topology] = &[Topology::Cluster];
    const REMOTE: bool = false;
    type View<'a> = ClusterView<'a>;

    fn find(place: Place<'_>) -> Result<ClusterView<'_>> {
        local(place, "the fault changes a Redis Cluster (topology cluster)", |stack| {
            Some(ClusterView { cluster: stack.redis().cluster()?, backends: stack.backends() })
        })
    }
}

/// The backends' published HTTP ports, where client faults send their raw HTTP, and the loads
/// running against them.
pub struct Clients<'a> {
    pub backends: Vec<SocketAddr>,
    pub loads: &'a ClientLoads<Fault>,
}

/// Client faults act on the backends' HTTP ports.
pub struct OnClients;

impl Target for OnClients {
    const TOPOLOGIES: &'static [Topology] =
        &[Topology::ThroughProxy, Topology::Direct, Topology::Ha, Topology::Cluster];
    const REMOTE: bool = false;
    type View<'a> = Clients<'a>;

    fn find(place: Place<'_>) -> Result<Clients<'_>> {
        local(place, "a client fault writes raw HTTP to the local backends' published ports", |stack| {
            Some(Clients {
                backends: stack.backends().iter().map(|backend| backend.published).collect(),
                loads: stack.client_loads(),
            })
        })
    }
}
