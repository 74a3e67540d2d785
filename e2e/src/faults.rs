//! Faults between the backend and Redis, and on its clients' side, each with its heal.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use testcontainers_toxiproxy::{Stream, Toxic, ToxiproxyClient};

use crate::client_faults::{self, ClientLoads};
use crate::error::{Error, Result};
use crate::redis::REDIS_PORT;
use crate::stack::{REDIS_PROXY, Stack, Topology};

/// Where faults are injected: the local [`Stack`], or a deployed environment that has a Toxiproxy
/// in front of its Redis ([`RemoteTarget`]).
// Faults are injected from the task that runs the scenario; their futures need not be Send, and
// the Stack's Docker exec streams are not.
#[allow(async_fn_in_trait)]
pub trait FaultTarget: Sync {
    fn toxiproxy(&self) -> Result<&ToxiproxyClient>;

    /// The proxy in front of Redis.
    fn proxy_name(&self) -> &str {
        REDIS_PROXY
    }

    /// Drops (or stops dropping) the backends' packets at Redis.
    async fn filter_backends(&self, drop: bool) -> Result<()>;

    /// Sets up what [`Self::filter_backends`] needs, so that filtering later takes effect at once.
    async fn prepare_filter(&self) -> Result<()>;

    async fn stop_redis(&self) -> Result<()>;

    async fn start_redis(&self) -> Result<()>;

    /// Told when a fault starts or ends, for the target's own records.
    fn fault_changed(&self, _fault: &Fault, _active: bool) {}

    /// Where client faults send their raw HTTP: the backends' plain-HTTP addresses.
    fn backend_addresses(&self) -> Result<Vec<SocketAddr>> {
        Err(client_faults_need_the_stack())
    }

    /// The client loads running against this target.
    fn client_loads(&self) -> Result<&ClientLoads> {
        Err(client_faults_need_the_stack())
    }

    /// Moves the high-availability pair's primary role to the other node and back.
    async fn failover(&self) -> Result<()> {
        Err(shape_faults_need_the_stack())
    }

    /// Loses the cluster's first shard's primary (`true`), or brings it back (`false`).
    async fn lose_primary(&self, _lose: bool) -> Result<()> {
        Err(shape_faults_need_the_stack())
    }

    /// Drops (or stops dropping) the backends' packets at the cluster's first shard's primary.
    async fn filter_shard(&self, _drop: bool) -> Result<()> {
        Err(shape_faults_need_the_stack())
    }

    /// Sets up what [`Self::filter_shard`] needs, so that filtering later takes effect at once.
    async fn prepare_shard_filter(&self) -> Result<()> {
        Err(shape_faults_need_the_stack())
    }

    /// Moves `slots` slots from the first shard to the second (`true`), or back (`false`).
    async fn reshard(&self, _slots: u32, _forward: bool) -> Result<()> {
        Err(shape_faults_need_the_stack())
    }
}

fn shape_faults_need_the_stack() -> Error {
    Error::Setup("failover and cluster faults need the local stack: they change its Redis nodes".to_owned())
}

fn client_faults_need_the_stack() -> Error {
    Error::Setup("client faults need the local stack: they write raw HTTP to the backends' published ports".to_owned())
}

impl FaultTarget for Stack {
    fn toxiproxy(&self) -> Result<&ToxiproxyClient> {
        Stack::toxiproxy(self)
    }

    async fn filter_backends(&self, drop: bool) -> Result<()> {
        let rule = if drop { "-I" } else { "-D" };
        let port = REDIS_PORT.as_u16().to_string();
        for backend in self.backends() {
            let address = backend.address.to_string();
            self.iptables(&[rule, "INPUT", "-s", &address, "-p", "tcp", "--dport", &port, "-j", "DROP"]).await?;
        }
        Ok(())
    }

    async fn prepare_filter(&self) -> Result<()> {
        self.iptables_sidecar().await.map(drop)
    }

    async fn stop_redis(&self) -> Result<()> {
        Stack::stop_redis(self).await
    }

    async fn start_redis(&self) -> Result<()> {
        Stack::start_redis(self).await
    }

    fn fault_changed(&self, fault: &Fault, active: bool) {
        if active { self.fault_started(&fault.to_string()) } else { self.fault_healed(&fault.to_string()) }
    }

    fn backend_addresses(&self) -> Result<Vec<SocketAddr>> {
        Ok(self.backends().iter().map(|backend| backend.published).collect())
    }

    fn client_loads(&self) -> Result<&ClientLoads> {
        Ok(Stack::client_loads(self))
    }

    async fn failover(&self) -> Result<()> {
        Stack::failover(self).await
    }

    async fn lose_primary(&self, lose: bool) -> Result<()> {
        Stack::lose_primary(self, lose).await
    }

    async fn filter_shard(&self, drop: bool) -> Result<()> {
        Stack::filter_shard(self, drop).await
    }

    async fn prepare_shard_filter(&self) -> Result<()> {
        Stack::prepare_shard_filter(self).await
    }

    async fn reshard(&self, slots: u32, forward: bool) -> Result<()> {
        Stack::reshard(self, slots, forward).await
    }
}

/// A deployed environment: faults go through its Toxiproxy's API; the IP filter and Redis
/// restarts need the local stack.
#[derive(Debug, Clone)]
pub struct RemoteTarget {
    pub toxiproxy: ToxiproxyClient,
    pub proxy: String,
}

impl FaultTarget for RemoteTarget {
    fn toxiproxy(&self) -> Result<&ToxiproxyClient> {
        Ok(&self.toxiproxy)
    }

    fn proxy_name(&self) -> &str {
        &self.proxy
    }

    async fn filter_backends(&self, _drop: bool) -> Result<()> {
        self.prepare_filter().await
    }

    async fn prepare_filter(&self) -> Result<()> {
        Err(Error::Setup(
            "the ip-filter fault needs the local stack: it filters inside Redis's network namespace".to_owned(),
        ))
    }

    async fn stop_redis(&self) -> Result<()> {
        Err(Error::Setup("the redis-restart fault needs the local stack: it stops the Redis container".to_owned()))
    }

    async fn start_redis(&self) -> Result<()> {
        Err(Error::Setup("the redis-restart fault needs the local stack: it starts the Redis container".to_owned()))
    }
}

/// One way the network to Redis can misbehave.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The proxy is disabled: connects are refused and open connections closed.
    Partition,
    /// Established and new connections through the proxy are held open while every byte is
    /// dropped, in both directions (a timeout toxic of 0).
    Blackhole,
    /// Redis drops every packet from the backends' addresses (iptables inside its namespace), so
    /// connects time out instead of being refused: the incident's unlisted-IP behaviour.
    IpFilter,
    /// Each reply from Redis is delayed.
    Latency(Duration),
    /// Connections are closed this long after they end.
    SlowClose(Duration),
    /// Replies trickle at this many KB/s.
    Bandwidth(u64),
    /// Connections are reset (RST) this long after data first flows.
    ResetPeer(Duration),
    /// Redis is stopped; healing starts it again.
    RedisRestart,
    /// `clients` registrations at once, every second, whose clients hang up a few milliseconds
    /// after sending.
    HangUpBurst { clients: u32 },
    /// `connections` connections that send half a request head and wait.
    SlowClients { connections: u32 },
    /// `requests` requests with invented methods on invented paths.
    MethodFlood { requests: u32 },
    /// `requests` registrations with a body of `bytes`, over the limit, each written in full
    /// before the answer is read.
    OversizedBodies { requests: u32, bytes: usize },
    /// The high-availability pair fails over: the replica is promoted, the old primary demoted
    /// (connections still on it see `READONLY`), and the one private address moves. Healing
    /// fails back.
    Failover,
    /// The cluster's first shard loses its primary (killed); the cluster promotes its replica.
    /// Healing starts the node again, which rejoins as a replica.
    PrimaryLoss,
    /// The IP filter on the cluster's first shard's primary only: that shard's keys time out,
    /// the others keep working.
    ShardFilter,
    /// `slots` slots move from the cluster's first shard to its second, under load; healing
    /// moves them back.
    Reshard { slots: u32 },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Partition => write!(f, "partition"),
            Self::Blackhole => write!(f, "blackhole"),
            Self::IpFilter => write!(f, "ip-filter"),
            Self::Latency(latency) => write!(f, "latency {latency:?}"),
            Self::SlowClose(delay) => write!(f, "slow-close {delay:?}"),
            Self::Bandwidth(rate) => write!(f, "bandwidth {rate} KB/s"),
            Self::ResetPeer(timeout) => write!(f, "reset-peer {timeout:?}"),
            Self::RedisRestart => write!(f, "redis-restart"),
            Self::HangUpBurst { clients } => write!(f, "hang-up-burst {clients} clients"),
            Self::SlowClients { connections } => write!(f, "slow-clients {connections} connections"),
            Self::MethodFlood { requests } => write!(f, "method-flood {requests} requests"),
            Self::OversizedBodies { requests, bytes } => write!(f, "oversized-bodies {requests} x {bytes} bytes"),
            Self::Failover => write!(f, "failover"),
            Self::PrimaryLoss => write!(f, "primary-loss"),
            Self::ShardFilter => write!(f, "shard-filter"),
            Self::Reshard { slots } => write!(f, "reshard {slots} slots"),
        }
    }
}

/// What each fault needs from where it runs: the one place that knows, for the e2e tests and for
/// the chaos runner's validation alike.
impl Fault {
    /// True when a stack of this topology can host the fault. Toxics need the proxy; the IP
    /// filter must see the backend's own address at Redis; a restart stops the one Redis; a
    /// failover needs the pair, and the cluster faults the cluster; client faults run anywhere.
    pub fn runs_in(&self, topology: Topology) -> bool {
        match self {
            Self::IpFilter => topology == Topology::Direct,
            Self::RedisRestart => matches!(topology, Topology::ThroughProxy | Topology::Direct),
            Self::Failover => topology == Topology::Ha,
            Self::PrimaryLoss | Self::ShardFilter | Self::Reshard { .. } => topology == Topology::Cluster,
            _ if self.is_client_side() => true,
            _ => topology.has_proxy(),
        }
    }

    /// The topology to start a stack with for this fault alone.
    pub fn topology(&self) -> Topology {
        [Topology::ThroughProxy, Topology::Direct, Topology::Ha, Topology::Cluster]
            .into_iter()
            .find(|topology| self.runs_in(*topology))
            .expect("every fault runs in some topology")
    }

    /// True for faults on the clients' side of the backend rather than between it and Redis.
    pub fn is_client_side(&self) -> bool {
        matches!(
            self,
            Self::HangUpBurst { .. }
                | Self::SlowClients { .. }
                | Self::MethodFlood { .. }
                | Self::OversizedBodies { .. }
        )
    }

    /// True when a deployed environment with only a Toxiproxy can host this fault.
    pub fn works_remotely(&self) -> bool {
        !self.is_client_side()
            && !matches!(
                self,
                Self::IpFilter
                    | Self::RedisRestart
                    | Self::Failover
                    | Self::PrimaryLoss
                    | Self::ShardFilter
                    | Self::Reshard { .. }
            )
    }

    /// True when the fault runs iptables from a sidecar in a Redis node's network namespace.
    pub fn needs_sidecar(&self) -> bool {
        matches!(self, Self::IpFilter | Self::ShardFilter)
    }

    fn toxics(&self) -> Vec<Toxic> {
        match self {
            Self::Blackhole => vec![
                Toxic::timeout(Duration::ZERO).on(Stream::Upstream).named("blackhole_upstream"),
                Toxic::timeout(Duration::ZERO).on(Stream::Downstream).named("blackhole_downstream"),
            ],
            Self::Latency(latency) => vec![Toxic::latency(*latency).named("latency")],
            Self::SlowClose(delay) => vec![Toxic::slow_close(*delay).named("slow_close")],
            Self::Bandwidth(rate) => vec![Toxic::bandwidth(*rate).named("bandwidth")],
            Self::ResetPeer(timeout) => vec![Toxic::reset_peer(*timeout).named("reset_peer")],
            Self::Partition
            | Self::IpFilter
            | Self::RedisRestart
            | Self::HangUpBurst { .. }
            | Self::SlowClients { .. }
            | Self::MethodFlood { .. }
            | Self::OversizedBodies { .. }
            | Self::Failover
            | Self::PrimaryLoss
            | Self::ShardFilter
            | Self::Reshard { .. } => Vec::new(),
        }
    }

    /// Gets `target` ready for this fault, so that [`Self::inject`] takes effect as soon as it
    /// is called: the IP filter's sidecar starts here, outside the fault's window.
    pub async fn prepare(&self, target: &impl FaultTarget) -> Result<()> {
        match self {
            Self::IpFilter => target.prepare_filter().await,
            Self::ShardFilter => target.prepare_shard_filter().await,
            _ => Ok(()),
        }
    }

    pub async fn inject(&self, target: &impl FaultTarget) -> Result<()> {
        match self {
            Self::Partition => {
                target.toxiproxy()?.set_enabled(target.proxy_name(), false).await?;
            }
            Self::IpFilter => target.filter_backends(true).await?,
            Self::RedisRestart => target.stop_redis().await?,
            Self::Failover => target.failover().await?,
            Self::PrimaryLoss => target.lose_primary(true).await?,
            Self::ShardFilter => target.filter_shard(true).await?,
            Self::Reshard { slots } => target.reshard(*slots, true).await?,
            _ if self.is_client_side() => self.start_clients(target)?,
            _ => {
                for toxic in self.toxics() {
                    target.toxiproxy()?.add_toxic(target.proxy_name(), &toxic).await?;
                }
            }
        }
        target.fault_changed(self, true);
        Ok(())
    }

    pub async fn heal(&self, target: &impl FaultTarget) -> Result<()> {
        match self {
            Self::Partition => {
                target.toxiproxy()?.set_enabled(target.proxy_name(), true).await?;
            }
            Self::IpFilter => target.filter_backends(false).await?,
            Self::RedisRestart => target.start_redis().await?,
            Self::Failover => target.failover().await?,
            Self::PrimaryLoss => target.lose_primary(false).await?,
            Self::ShardFilter => target.filter_shard(false).await?,
            Self::Reshard { slots } => target.reshard(*slots, false).await?,
            _ if self.is_client_side() => target.client_loads()?.stop(&self.to_string()),
            _ => {
                for toxic in self.toxics() {
                    target.toxiproxy()?.remove_toxic(target.proxy_name(), &toxic.name).await?;
                }
            }
        }
        target.fault_changed(self, false);
        Ok(())
    }

    fn start_clients(&self, target: &impl FaultTarget) -> Result<()> {
        let backends = target.backend_addresses()?;
        if backends.is_empty() {
            return Err(Error::Setup(format!("{self}: the target has no backend to send to")));
        }
        let loads = target.client_loads()?;
        let name = self.to_string();
        match *self {
            Self::HangUpBurst { clients } => {
                loads.start(&name, |outcome| client_faults::hang_up_burst(backends, clients, outcome));
            }
            Self::SlowClients { connections } => {
                loads.start(&name, |outcome| client_faults::slow_clients(backends, connections, outcome));
            }
            Self::MethodFlood { requests } => {
                loads.start(&name, |outcome| client_faults::method_flood(backends, requests, outcome));
            }
            Self::OversizedBodies { requests, bytes } => {
                loads.start(&name, |outcome| client_faults::oversized_bodies(backends, requests, bytes, outcome));
            }
            _ => unreachable!("only client-side faults start client loads"),
        }
        Ok(())
    }
}
