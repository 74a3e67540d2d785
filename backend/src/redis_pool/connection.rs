//! What the pool connects with and hands out, in either mode: one multiplexed connection to one
//! server, or a cluster connection (one multiplexed connection per node, routing each command by
//! its key's slot and following `MOVED` and `ASK`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, PushInfo, PushKind, RedisFuture, Value};
use redis::{ConnectionAddr, ConnectionInfo, TlsCertificates};

/// A handle for one command, shared with the pool entry it came from.
#[derive(Clone)]
pub enum RedisConnection {
    Standalone(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl RedisConnection {
    /// Sends `command` to the primary that holds `key`'s slot: in cluster mode, to the node where
    /// a write to `key` just happened, which a keyless command like `WAIT` must reach.
    pub async fn on_node_of(&mut self, key: &str, command: Cmd) -> redis::RedisResult<Value> {
        match self {
            Self::Standalone(connection) => command.query_async(connection).await,
            Self::Cluster(connection) => {
                let route = SingleNodeRoutingInfo::SpecificNode(Route::with_key(key, SlotAddr::Master));
                connection.route_command(command, RoutingInfo::SingleNode(route)).await
            }
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Standalone(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// A pooled connection, and, in standalone mode, whether redis-rs has seen it close.
///
/// A connection whose server went away (a restart, a failover) is dead long before anyone writes
/// to it; handing it out would fail the next command with `broken pipe` without having sent it.
/// redis-rs says so on its push channel, which is why connections speak RESP3. A cluster
/// connection reconnects its nodes by itself and never closes as a whole.
pub struct Pooled {
    handle: RedisConnection,
    closed: Option<Arc<AtomicBool>>,
    /// The cluster topology it learnt when it connected (see [`Connector::topology`]).
    topology: u64,
}

impl Pooled {
    /// A handle for one command; it shares the connection with this pool entry.
    pub fn handle(&self) -> RedisConnection {
        self.handle.clone()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.as_ref().is_some_and(|closed| closed.load(Ordering::Acquire))
    }

    pub fn topology(&self) -> u64 {
        self.topology
    }
}

/// Opens connections in the configured mode.
pub struct Connector {
    kind: Kind,
    /// Counts the cluster topologies seen: a connection that learnt an older one is replaced, as
    /// redis-rs only refreshes its own slot map when a node says `MOVED`, and a dead primary says
    /// nothing.
    topology: std::sync::atomic::AtomicU64,
}

// One per process: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Standalone { client: redis::Client, config: AsyncConnectionConfig },
    Cluster { client: ClusterClient, nodes: NodeClients },
}

/// Single-node connections to any node of a cluster, with the seeds' credentials and TLS: for
/// asking the cluster its topology without going through a cluster connection's own map, which
/// may still point at a primary that died.
pub struct NodeClients {
    seeds: Vec<ConnectionInfo>,
    certificates: Option<TlsCertificates>,
    config: AsyncConnectionConfig,
}

impl NodeClients {
    /// Asks the nodes at `addresses` (`host:port`), then the seeds, one after the other, until one
    /// answers `command`.
    pub async fn ask_any(&self, addresses: &[String], command: &Cmd) -> redis::RedisResult<Value> {
        let seeds = self.seeds.iter().map(|seed| seed.addr().to_string());
        let mut last = redis::RedisError::from((redis::ErrorKind::Client, "no cluster node to ask"));
        let mut asked = Vec::new();
        for address in addresses.iter().cloned().chain(seeds) {
            if asked.contains(&address) {
                continue;
            }
            match self.ask(&address, command).await {
                Ok(value) => return Ok(value),
                Err(error) => last = error,
            }
            asked.push(address);
        }
        Err(last)
    }

    async fn ask(&self, address: &str, command: &Cmd) -> redis::RedisResult<Value> {
        let (host, port) = address
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.trim_matches(['[', ']']).to_owned(), port.parse().ok()?)))
            .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Client, "a node address without a port")))?;
        let seed = self.seeds.first().expect("a cluster has one seed at least").clone();
        let addr = match seed.addr() {
            ConnectionAddr::TcpTls { insecure, tls_params, .. } => {
                ConnectionAddr::TcpTls { host, port, insecure: *insecure, tls_params: tls_params.clone() }
            }
            _ => ConnectionAddr::Tcp(host, port),
        };
        let info = seed.set_addr(addr);
        let client = match &self.certificates {
            Some(certificates) => redis::Client::build_with_tls(info, certificates.clone())?,
            None => redis::Client::open(info)?,
        };
        let mut connection = client.get_multiplexed_async_connection_with_config(&self.config).await?;
        command.query_async(&mut connection).await
    }
}

impl Connector {
    pub fn standalone(client: redis::Client, connect_timeout: Duration, response_timeout: Duration) -> Self {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            // A backstop only: each call also runs under its own deadline in `RedisPool`.
            .set_response_timeout(Some(response_timeout));
        Self { kind: Kind::Standalone { client, config }, topology: 0.into() }
    }

    /// `seeds` have the credentials and TCP settings; this adds the timeouts, and a few retries
    /// for redis-rs to follow redirects (`MOVED`, `ASK`) and ride slot refreshes. They are safe
    /// because every operation of the service is idempotent (see `Operation`).
    pub fn cluster(
        seeds: Vec<ConnectionInfo>,
        certificates: Option<TlsCertificates>,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> redis::RedisResult<Self> {
        let mut builder = ClusterClientBuilder::new(seeds.clone())
            .use_protocol(redis::ProtocolVersion::RESP3)
            .tcp_settings(seeds[0].tcp_settings().clone())
            .connection_timeout(connect_timeout)
            .response_timeout(response_timeout)
            .retries(CLUSTER_REDIRECTS);
        if let Some(password) = seeds[0].redis_settings().password() {
            builder = builder.password(password);
        }
        if let Some(certificates) = certificates.clone() {
            builder = builder.certs(certificates);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout));
        let nodes = NodeClients { seeds, certificates, config };
        Ok(Self { kind: Kind::Cluster { client: builder.build()?, nodes }, topology: 0.into() })
    }

    /// The cluster's nodes one by one, apart from any cluster connection.
    pub fn nodes(&self) -> Option<&NodeClients> {
        match &self.kind {
            Kind::Cluster { nodes, .. } => Some(nodes),
            Kind::Standalone { .. } => None,
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.kind, Kind::Cluster { .. })
    }

    /// The cluster's topology changed: connections opened before are out of date.
    pub fn topology_changed(&self) {
        self.topology.fetch_add(1, Ordering::AcqRel);
    }

    pub fn topology(&self) -> u64 {
        self.topology.load(Ordering::Acquire)
    }

    /// Opens a connection that, in standalone mode, tells when it closes.
    pub async fn connect(&self) -> redis::RedisResult<Pooled> {
        let topology = self.topology();
        match &self.kind {
            Kind::Standalone { client, config } => {
                let closed = Arc::new(AtomicBool::new(false));
                let flag = Arc::clone(&closed);
                let config = config.clone().set_push_sender(move |push: PushInfo| {
                    if push.kind == PushKind::Disconnection {
                        flag.store(true, Ordering::Release);
                    }
                    Ok::<(), std::convert::Infallible>(())
                });
                let handle = client.get_multiplexed_async_connection_with_config(&config).await?;
                Ok(Pooled { handle: RedisConnection::Standalone(handle), closed: Some(closed), topology })
            }
            Kind::Cluster { client, .. } => {
                let handle = client.get_async_connection().await?;
                Ok(Pooled { handle: RedisConnection::Cluster(handle), closed: None, topology })
            }
        }
    }
}

/// How many redirects and slot refreshes redis-rs follows within one attempt of a call: a
/// `MOVED` then an `ASK` during a migration, and one more.
const CLUSTER_REDIRECTS: u32 = 3;
