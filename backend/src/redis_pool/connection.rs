//! What the pool connects with and hands out, in either mode: one multiplexed connection to one
//! server, or a cluster connection (one multiplexed connection per node, routing each command by
//! its key's slot and following `MOVED` and `ASK`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, PushInfo, PushKind, RedisFuture, Value};
use redis::{ConnectionAddr, ConnectionInfo, TlsCertificates};

use super::breaker::Breaker;
use super::dial::{DialedNode, Dialer, dial_nodes_with, dialed};
use super::error::RedisError;

/// A handle for one call's commands, shared with the pool entry it came from.
///
/// A call's handle asks the breaker that admitted the call before every command: once the
/// breaker opens, the call sends nothing more (a script's `EVALSHA` after its `SCRIPT LOAD`, a
/// `WAIT` after a write), and fails as calls after it do.
#[derive(Clone)]
pub struct RedisConnection {
    link: Link,
    gate: Option<Gate>,
}

#[derive(Clone)]
enum Link {
    Standalone(MultiplexedConnection),
    Cluster(ClusterConnection),
    /// A cluster whose nodes the simulation's dialer reaches.
    DialedCluster(ClusterConnection<DialedNode>),
}

/// The breaker a call's handle asks, and the refusal it met, if any.
#[derive(Clone)]
struct Gate {
    breaker: Arc<Breaker>,
    refusal: Arc<Mutex<Option<RedisError>>>,
}

/// What a gated handle's refusal left: the breaker's error, once it refused a command.
#[derive(Clone)]
pub(crate) struct Refusal(Arc<Mutex<Option<RedisError>>>);

impl Refusal {
    /// The breaker's error, if it refused one of the call's commands.
    pub(crate) fn take(&self) -> Option<RedisError> {
        self.0.lock().expect("refusal lock").take()
    }
}

impl RedisConnection {
    /// This handle, asking `breaker` before every command; with what it refused, if anything.
    pub(crate) fn gated(mut self, breaker: Arc<Breaker>) -> (Self, Refusal) {
        let refusal = Arc::new(Mutex::new(None));
        self.gate = Some(Gate { breaker, refusal: Arc::clone(&refusal) });
        (self, Refusal(refusal))
    }

    /// Whether the breaker lets the next command through; records its refusal when not.
    fn admitted(&self) -> redis::RedisResult<()> {
        let Some(gate) = &self.gate else { return Ok(()) };
        gate.breaker.admit().map_err(|refused| {
            *gate.refusal.lock().expect("refusal lock") = Some(refused);
            redis::RedisError::from((redis::ErrorKind::Client, "the circuit breaker is open"))
        })
    }

    fn route_of(key: &str) -> RoutingInfo {
        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_key(key, SlotAddr::Master)))
    }

    /// Sends `command` to the primary that holds `key`'s slot: in cluster mode, to the node where
    /// a write to `key` just happened, which a keyless command like `WAIT` must reach.
    pub(crate) async fn on_node_of(&mut self, key: &str, command: Cmd) -> redis::RedisResult<Value> {
        self.admitted()?;
        match &mut self.link {
            Link::Standalone(connection) => command.query_async(connection).await,
            Link::Cluster(connection) => connection.route_command(command, Self::route_of(key)).await,
            Link::DialedCluster(connection) => connection.route_command(command, Self::route_of(key)).await,
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        if let Err(refused) = self.admitted() {
            return Box::pin(std::future::ready(Err(refused)));
        }
        match &mut self.link {
            Link::Standalone(connection) => connection.req_packed_command(cmd),
            Link::Cluster(connection) => connection.req_packed_command(cmd),
            Link::DialedCluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        if let Err(refused) = self.admitted() {
            return Box::pin(std::future::ready(Err(refused)));
        }
        match &mut self.link {
            Link::Standalone(connection) => connection.req_packed_commands(pipeline, offset, count),
            Link::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
            Link::DialedCluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.link {
            Link::Standalone(connection) => connection.get_db(),
            Link::Cluster(connection) => connection.get_db(),
            Link::DialedCluster(connection) => connection.get_db(),
        }
    }
}

/// A pooled connection, and, in standalone mode, whether redis-rs has seen it close.
///
/// A connection whose server went away (a restart, a failover) is dead long before anyone writes
/// to it; handing it out would fail the next command with `broken pipe` without having sent it.
/// redis-rs says so on its push channel, which is why connections speak RESP3. A cluster
/// connection reconnects its nodes by itself and never closes as a whole.
pub(crate) struct Pooled {
    handle: RedisConnection,
    closed: Option<Arc<AtomicBool>>,
    /// The cluster topology it learnt when it connected (see [`Connector::topology`]).
    topology: u64,
    /// When it connected, and when it was last handed out, by tokio's clock.
    created: Instant,
    handed_out: Instant,
}

impl Pooled {
    /// A handle for one command; it shares the connection with this pool entry.
    pub(crate) fn handle(&self) -> RedisConnection {
        self.handle.clone()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.as_ref().is_some_and(|closed| closed.load(Ordering::Acquire))
    }

    pub(crate) fn topology(&self) -> u64 {
        self.topology
    }

    pub(crate) fn created(&self) -> Instant {
        self.created
    }

    pub(crate) fn handed_out(&self) -> Instant {
        self.handed_out
    }

    /// Marks it handed out now.
    pub(crate) fn handing_out(&mut self) {
        self.handed_out = Instant::now();
    }

    fn new(link: Link, closed: Option<Arc<AtomicBool>>, topology: u64) -> Self {
        let now = Instant::now();
        Self { handle: RedisConnection { link, gate: None }, closed, topology, created: now, handed_out: now }
    }
}

/// Opens connections in the configured mode.
pub(crate) struct Connector {
    /// Where standalone connections come from, when not from the machine's network.
    dialer: Option<Arc<dyn Dialer>>,
    kind: Kind,
    /// Counts the cluster topologies seen: a connection that learnt an older one is replaced, as
    /// redis-rs only refreshes its own slot map when a node says `MOVED`, and a dead primary says
    /// nothing.
    topology: std::sync::atomic::AtomicU64,
}

// One per process: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Standalone { client: redis::Client, config: AsyncConnectionConfig, connect_timeout: Duration },
    Cluster { nodes: NodeClients, timeouts: (Duration, Duration), live: Mutex<Vec<String>> },
}

/// Single-node connections to any node of a cluster, with the seeds' credentials and TLS: for
/// asking the cluster its topology without going through a cluster connection's own map, which
/// may still point at a primary that died.
pub(crate) struct NodeClients {
    seeds: Vec<ConnectionInfo>,
    certificates: Option<TlsCertificates>,
    config: AsyncConnectionConfig,
    /// Where node connections come from, when not from the machine's network, and the connect
    /// timeout it is given.
    dialer: Option<(Arc<dyn Dialer>, Duration)>,
}

impl NodeClients {
    /// Asks the nodes at `addresses` (`host:port`) and the seeds, all at once, and gives the first
    /// answer to `command`. All at once because the first node named may be the one that died:
    /// asked in turn, it would cost every caller a connect timeout before a live node is heard.
    pub(crate) async fn ask_any(&self, addresses: &[String], command: &Cmd) -> redis::RedisResult<Value> {
        let mut candidates: Vec<String> = Vec::new();
        for address in addresses.iter().cloned().chain(self.seeds.iter().map(|seed| seed.addr().to_string())) {
            if !candidates.contains(&address) {
                candidates.push(address);
            }
        }
        if candidates.is_empty() {
            return Err(redis::RedisError::from((redis::ErrorKind::Client, "no cluster node to ask")));
        }
        let asks = candidates.iter().map(|address| Box::pin(self.ask(address, command)));
        futures_util::future::select_ok(asks).await.map(|(value, _slower)| value)
    }

    async fn ask(&self, address: &str, command: &Cmd) -> redis::RedisResult<Value> {
        if let Some((dialer, connect_timeout)) = &self.dialer {
            let mut connection =
                dialed(dialer.as_ref(), &self.info(address)?, self.config.clone(), *connect_timeout).await?;
            return command.query_async(&mut connection).await;
        }
        let client = match &self.certificates {
            Some(certificates) => redis::Client::build_with_tls(self.info(address)?, certificates.clone())?,
            None => redis::Client::open(self.info(address)?)?,
        };
        let mut connection = client.get_multiplexed_async_connection_with_config(&self.config).await?;
        command.query_async(&mut connection).await
    }

    /// The node at `address` (`host:port`), with the seeds' credentials, TLS and TCP settings.
    fn info(&self, address: &str) -> redis::RedisResult<ConnectionInfo> {
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
        Ok(seed.set_addr(addr))
    }

    /// A cluster client that starts from `initial` nodes, with the timeouts and a few retries for
    /// redis-rs to follow redirects (`MOVED`, `ASK`) and ride slot refreshes. They are safe
    /// because every operation of the service is idempotent (see `Operation`).
    fn cluster_client(
        &self,
        initial: Vec<ConnectionInfo>,
        (connect_timeout, response_timeout): (Duration, Duration),
    ) -> redis::RedisResult<ClusterClient> {
        let seed = &self.seeds[0];
        let mut builder = ClusterClientBuilder::new(initial)
            .use_protocol(redis::ProtocolVersion::RESP3)
            .tcp_settings(seed.tcp_settings().clone())
            .connection_timeout(connect_timeout)
            .response_timeout(response_timeout)
            .retries(CLUSTER_REDIRECTS);
        if let Some(password) = seed.redis_settings().password() {
            builder = builder.password(password);
        }
        if let Some(certificates) = self.certificates.clone() {
            builder = builder.certs(certificates);
        }
        builder.build()
    }
}

impl Connector {
    pub(crate) fn standalone(
        client: redis::Client,
        connect_timeout: Duration,
        response_timeout: Duration,
        dialer: Option<Arc<dyn Dialer>>,
    ) -> Self {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            // A backstop only: each call also runs under its own deadline in `RedisPool`.
            .set_response_timeout(Some(response_timeout));
        Self { dialer, kind: Kind::Standalone { client, config, connect_timeout }, topology: 0.into() }
    }

    /// `seeds` have the credentials and TCP settings; they are where the first connection
    /// starts, until [`Self::topology_changed`] names the cluster's live nodes.
    pub(crate) fn cluster(
        seeds: Vec<ConnectionInfo>,
        certificates: Option<TlsCertificates>,
        connect_timeout: Duration,
        response_timeout: Duration,
        dialer: Option<Arc<dyn Dialer>>,
    ) -> redis::RedisResult<Self> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout));
        let nodes =
            NodeClients { seeds, certificates, config, dialer: dialer.clone().map(|dialer| (dialer, connect_timeout)) };
        let timeouts = (connect_timeout, response_timeout);
        // Checks the seeds' settings once, up front, as a configuration error.
        nodes.cluster_client(nodes.seeds.clone(), timeouts)?;
        Ok(Self { dialer, kind: Kind::Cluster { nodes, timeouts, live: Mutex::new(Vec::new()) }, topology: 0.into() })
    }

    /// The cluster's nodes one by one, apart from any cluster connection.
    pub(crate) fn nodes(&self) -> Option<&NodeClients> {
        match &self.kind {
            Kind::Cluster { nodes, .. } => Some(nodes),
            Kind::Standalone { .. } => None,
        }
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.kind, Kind::Cluster { .. })
    }

    /// The cluster's topology changed to one whose nodes are `live` (`host:port`, as `CLUSTER
    /// SLOTS` names them: failed nodes are left out): connections opened before are out of
    /// date, and new ones start from these nodes.
    ///
    /// Not from the seeds: redis-rs waits for every initial node to connect or time out, so a
    /// seed that died (the primary a failover replaced) would cost every new connection a
    /// connect timeout, which is the whole of an attempt's time.
    pub(crate) fn topology_changed(&self, live: Vec<String>) {
        if let Kind::Cluster { live: known, .. } = &self.kind {
            *known.lock().expect("live nodes lock") = live;
        }
        self.topology.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn topology(&self) -> u64 {
        self.topology.load(Ordering::Acquire)
    }

    /// Opens a connection that, in standalone mode, tells when it closes.
    pub(crate) async fn connect(&self) -> redis::RedisResult<Pooled> {
        let topology = self.topology();
        match &self.kind {
            Kind::Standalone { client, config, connect_timeout } => {
                let closed = Arc::new(AtomicBool::new(false));
                let flag = Arc::clone(&closed);
                let config = config.clone().set_push_sender(move |push: PushInfo| {
                    if push.kind == PushKind::Disconnection {
                        flag.store(true, Ordering::Release);
                    }
                    Ok::<(), std::convert::Infallible>(())
                });
                let handle = match &self.dialer {
                    Some(dialer) => {
                        dialed(dialer.as_ref(), client.get_connection_info(), config, *connect_timeout).await?
                    }
                    None => client.get_multiplexed_async_connection_with_config(&config).await?,
                };
                Ok(Pooled::new(Link::Standalone(handle), Some(closed), topology))
            }
            Kind::Cluster { nodes, timeouts, live } => {
                let live = live.lock().expect("live nodes lock").clone();
                let initial = if live.is_empty() {
                    nodes.seeds.clone()
                } else {
                    live.iter().map(|address| nodes.info(address)).collect::<redis::RedisResult<_>>()?
                };
                let client = nodes.cluster_client(initial, *timeouts)?;
                let link = match &self.dialer {
                    Some(dialer) => {
                        dial_nodes_with(dialer, timeouts.0);
                        Link::DialedCluster(client.get_async_generic_connection::<DialedNode>().await?)
                    }
                    None => Link::Cluster(client.get_async_connection().await?),
                };
                Ok(Pooled::new(link, None, topology))
            }
        }
    }
}

/// How many redirects and slot refreshes redis-rs follows within one attempt of a call: a
/// `MOVED` then an `ASK` during a migration, and one more.
const CLUSTER_REDIRECTS: u32 = 3;
