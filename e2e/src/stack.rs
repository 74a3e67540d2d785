//! A stack on its own Docker network: Redis with no published port, a fault proxy in front of it,
//! and one or more backends. It mirrors the private-network design: only the backends' HTTP ports
//! and the proxy's control port reach the host.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testcontainers::core::logs::LogFrame;
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, GenericImage, ImageExt as _};
use testcontainers_toxiproxy::{CONTROL_PORT, Toxiproxy, ToxiproxyClient};

use crate::backend::{self, BackendClient, BackendConfig, BackendImage};
use crate::client_faults::ClientLoads;
use crate::containers;
pub use crate::containers::{ContainerState, Stopped};
use crate::docker::{self, NETWORK_PREFIX};
use crate::error::{Error, Result};
use crate::images::{self, ImageSet};
use crate::limits::ContainerLimits;
use crate::redis::{ClientInfo, REDIS_PORT, RedisImage, RedisNode};
use crate::shapes;
use crate::wait;

/// The name of the proxy in front of Redis, and its port inside the proxy container.
pub const REDIS_PROXY: &str = "redis";
const PROXY_LISTEN_PORT: u16 = 6379;
/// How many of the backend's last log lines a failure report shows.
const LOG_TAIL: usize = 40;

/// What Redis is, and how the backend reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One Redis behind the proxy, `REDIS_URL=redis://toxiproxy:6379`: every fault but the IP
    /// filter goes through the proxy.
    ThroughProxy,
    /// One Redis, `REDIS_URL=redis://redis:6379`: for filtering the backend's address at Redis.
    Direct,
    /// A primary and its replica (`redis-a`, `redis-b`) behind the proxy, which is the one
    /// private address, as Scaleway's high-availability endpoint: a failover moves it.
    Ha,
    /// Redis Cluster: three primaries, each with a replica (`redis-0` to `redis-5`), reached
    /// directly at the addresses they announce, with `REDIS_MODE=cluster`.
    Cluster,
}

impl Topology {
    /// True when a fault proxy stands between the backend and Redis.
    pub fn has_proxy(self) -> bool {
        matches!(self, Self::ThroughProxy | Self::Ha)
    }
}

#[derive(Debug, Clone)]
pub struct StackOptions {
    pub topology: Topology,
    pub backend: BackendConfig,
    pub replicas: usize,
    /// The backend containers' memory and CPU: production's by default.
    pub limits: ContainerLimits,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            topology: Topology::ThroughProxy,
            backend: BackendConfig::fast(),
            replicas: 1,
            limits: ContainerLimits::PRODUCTION,
        }
    }
}

impl StackOptions {
    #[must_use]
    pub fn topology(mut self, topology: Topology) -> Self {
        self.topology = topology;
        self
    }

    #[must_use]
    pub fn backend(mut self, backend: BackendConfig) -> Self {
        self.backend = backend;
        self
    }

    #[must_use]
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    #[must_use]
    pub fn limits(mut self, limits: ContainerLimits) -> Self {
        self.limits = limits;
        self
    }
}

/// The last lines a container printed.
#[derive(Debug, Clone, Default)]
pub struct LogTail(Arc<Mutex<VecDeque<String>>>);

impl LogTail {
    fn push(&self, frame: &LogFrame) {
        let bytes = match frame {
            LogFrame::StdOut(bytes) | LogFrame::StdErr(bytes) => bytes,
        };
        let mut lines = self.0.lock().expect("log tail lock");
        for line in String::from_utf8_lossy(bytes).lines() {
            if lines.len() == 500 {
                lines.pop_front();
            }
            lines.push_back(line.to_owned());
        }
    }

    pub fn last(&self, count: usize) -> Vec<String> {
        let lines = self.0.lock().expect("log tail lock");
        lines.iter().skip(lines.len().saturating_sub(count)).cloned().collect()
    }
}

/// What happened during a run, for the report a failing test prints.
#[derive(Debug, Default)]
struct Journal {
    events: Mutex<Vec<(Duration, String)>>,
    active_faults: Mutex<Vec<String>>,
}

pub struct BackendNode {
    pub client: BackendClient,
    /// Its address on the stack's network.
    pub address: IpAddr,
    /// Where the host reaches its HTTP port.
    pub published: SocketAddr,
    pub logs: LogTail,
    /// Kept so that the container lives as long as the stack.
    container: ContainerAsync<BackendImage>,
}

/// Containers are declared in reverse order of start, so that they are removed in that order.
pub struct Stack {
    /// First to go: the client faults' connections close before the backends do.
    client_loads: ClientLoads,
    backends: Vec<BackendNode>,
    proxy: Option<(ContainerAsync<Toxiproxy>, ToxiproxyClient)>,
    /// One node, or the pair (`Ha`: the first is the initial primary), or the cluster's six.
    nodes: Vec<RedisNode>,
    /// Which of `nodes` the proxy sends to (`Ha`): the current primary.
    proxied: std::sync::atomic::AtomicUsize,
    /// What the cluster faults changed, for their heal to undo.
    shape: Mutex<ShapeChanges>,
    pub images: ImageSet,
    pub options: StackOptions,
    network: String,
    started: Instant,
    journal: Journal,
    /// What each container's state should be, by the stack's name for it: when it last started,
    /// and whether it was stopped on purpose.
    expected: Mutex<HashMap<String, (String, bool)>>,
}

impl Stack {
    /// Builds or reuses the images, then starts Redis, the proxy (for [`Topology::ThroughProxy`])
    /// and the backends on a network of their own.
    pub async fn start(options: StackOptions) -> Result<Self> {
        options.backend.validate().map_err(Error::Setup)?;
        let docker = docker::client()?;
        let images = images::prepare(docker).await?;
        docker::sweep_leftovers().await?;
        let started = Instant::now();
        let network =
            format!("{NETWORK_PREFIX}{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        tracing::info!(network, topology = ?options.topology, source = ?images.source, "starting stack");

        let nodes = start_nodes(&images, &network, options.topology).await?;
        let proxy = if options.topology.has_proxy() {
            let image = Toxiproxy::default().with_name(&images.toxiproxy.name).with_tag(&images.toxiproxy.tag);
            let container = docker::owned(image, &network).with_mapped_port(0, CONTROL_PORT).start().await?;
            docker::attach_alias(&network, container.id(), "toxiproxy").await?;
            let api = ToxiproxyClient::for_container(&container).await?;
            let upstream = format!("{}:{}", nodes[0].name, REDIS_PORT.as_u16());
            api.create_proxy(REDIS_PROXY, &format!("0.0.0.0:{PROXY_LISTEN_PORT}"), &upstream).await?;
            Some((container, api))
        } else {
            None
        };
        let backend_config = match options.topology {
            Topology::ThroughProxy | Topology::Ha => {
                options.backend.with_redis_url(&format!("redis://toxiproxy:{PROXY_LISTEN_PORT}/0"))
            }
            Topology::Direct => options.backend.with_redis_url(&format!("redis://redis:{}/0", REDIS_PORT.as_u16())),
            Topology::Cluster => {
                let seeds: Vec<String> =
                    nodes.iter().take(2).map(|node| format!("redis://{}", node.endpoint())).collect();
                options.backend.with_redis_url(&seeds.join(",")).set("REDIS_MODE", "cluster")
            }
        };

        let mut backends = Vec::with_capacity(options.replicas);
        for _ in 0..options.replicas.max(1) {
            let logs = LogTail::default();
            let sink = logs.clone();
            let image = BackendImage::new(&images.backend.name, &images.backend.tag, &backend_config);
            let limits = options.limits;
            let container = docker::owned(image, &network)
                .with_host_config_modifier(move |config| {
                    config.memory = Some(limits.memory_bytes());
                    config.memory_swap = Some(limits.memory_bytes());
                    config.nano_cpus = Some(limits.nano_cpus());
                })
                .with_mapped_port(0, backend::HTTP_PORT)
                .with_log_consumer(move |frame: &LogFrame| sink.push(frame))
                .start()
                .await?;
            let port = container.get_host_port_ipv4(backend::HTTP_PORT).await?;
            let address = docker::address_on(&network, container.id()).await?;
            backends.push(BackendNode {
                client: BackendClient::new(format!("http://127.0.0.1:{port}")),
                address,
                published: SocketAddr::from(([127, 0, 0, 1], port)),
                logs,
                container,
            });
        }

        let stack = Self {
            images,
            options,
            network,
            nodes,
            proxied: 0.into(),
            shape: Mutex::new(ShapeChanges::default()),
            proxy,
            backends,
            client_loads: ClientLoads::default(),
            started,
            journal: Journal::default(),
            expected: Mutex::new(HashMap::new()),
        };
        for state in stack.container_states().await? {
            stack.expect_running(&state);
        }
        stack.note(format!("stack up in {:?}", stack.started.elapsed()));
        Ok(stack)
    }

    /// Every container of the stack, by the stack's name for it.
    fn containers(&self) -> Vec<(String, String)> {
        let mut containers: Vec<(String, String)> =
            self.nodes.iter().map(|node| (node.name.clone(), node.id().to_owned())).collect();
        if let Some((proxy, _)) = &self.proxy {
            containers.push(("toxiproxy".to_owned(), proxy.id().to_owned()));
        }
        for (index, backend) in self.backends.iter().enumerate() {
            containers.push((format!("backend-{index}"), backend.container.id().to_owned()));
        }
        containers
    }

    fn expect_running(&self, state: &ContainerState) {
        self.expected.lock().expect("expectations lock").insert(state.name.clone(), (state.started_at.clone(), false));
    }

    fn expect_stopped(&self, name: &str) {
        if let Some(expected) = self.expected.lock().expect("expectations lock").get_mut(name) {
            expected.1 = true;
        }
    }

    /// What Docker says about each container now.
    pub async fn container_states(&self) -> Result<Vec<ContainerState>> {
        let mut states = Vec::new();
        for (name, id) in self.containers() {
            states.push(containers::state(&name, &id).await?);
        }
        Ok(states)
    }

    /// Fails when a container was killed for lack of memory, restarted, or is no longer running
    /// without the stack having stopped it; each such state goes into the timeline.
    pub async fn check_containers(&self) -> Result<()> {
        let expected = self.expected.lock().expect("expectations lock").clone();
        let mut failures = Vec::new();
        for state in self.container_states().await? {
            let (started_at, stopped_on_purpose) = expected.get(&state.name).cloned().unwrap_or_default();
            let running_as_expected = state.status == "running" && state.started_at == started_at;
            let failed = state.oom_killed || state.restart_count > 0 || !(running_as_expected || stopped_on_purpose);
            if failed {
                self.note(format!("container failure: {state}"));
                failures.push(state.to_string());
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Error::Setup(format!("containers failed: {}", failures.join("; "))))
        }
    }

    /// One backend's container, for the Docker API.
    pub fn backend_container_id(&self, index: usize) -> &str {
        self.backends[index].container.id()
    }

    /// The memory one backend container uses, as `docker stats` shows it.
    pub async fn backend_memory(&self, index: usize) -> Result<u64> {
        containers::memory(self.backends[index].container.id()).await
    }

    /// The memory (bytes) and CPU (billionths of a CPU) limits one backend container runs with.
    pub async fn backend_limits(&self, index: usize) -> Result<(i64, i64)> {
        containers::limits(self.backends[index].container.id()).await
    }

    /// Stops one backend as a platform does: SIGTERM, then SIGKILL after `grace`.
    pub async fn stop_backend(&self, index: usize, grace: Duration) -> Result<Stopped> {
        let name = format!("backend-{index}");
        self.expect_stopped(&name);
        let stopped = containers::stop(self.backends[index].container.id(), grace).await?;
        self.note(format!("stopped {name} in {:?}, exit code {}", stopped.elapsed, stopped.exit_code));
        Ok(stopped)
    }

    /// Gives Redis a new memory limit, as a resource-starved node would have.
    pub async fn limit_redis_memory(&self, bytes: i64) -> Result<()> {
        containers::limit_memory(self.nodes[0].id(), bytes).await?;
        self.note(format!("redis memory limited to {bytes} bytes"));
        Ok(())
    }

    /// The client faults' loads against this stack.
    pub fn client_loads(&self) -> &ClientLoads {
        &self.client_loads
    }

    pub fn network(&self) -> &str {
        &self.network
    }

    /// The first backend.
    pub fn backend(&self) -> &BackendClient {
        &self.backends[0].client
    }

    pub fn backends(&self) -> &[BackendNode] {
        &self.backends
    }

    pub fn config(&self) -> &BackendConfig {
        &self.options.backend
    }

    /// The proxy's API. Only [`Topology::ThroughProxy`] has one.
    pub fn toxiproxy(&self) -> Result<&ToxiproxyClient> {
        self.proxy
            .as_ref()
            .map(|(_, api)| api)
            .ok_or_else(|| Error::Setup("this stack has no proxy (Topology::Direct)".to_owned()))
    }

    /// Runs `redis-cli` inside the (first) Redis container.
    pub async fn redis_cli(&self, args: &[&str]) -> Result<String> {
        self.nodes[0].cli(args).await
    }

    /// Every Redis node of the stack: one, the high-availability pair, or the cluster's six.
    pub fn redis_nodes(&self) -> &[RedisNode] {
        &self.nodes
    }

    /// The clients Redis sees, without the `redis-cli` connection that asks.
    pub async fn redis_clients(&self) -> Result<Vec<ClientInfo>> {
        let output = self.redis_cli(&["CLIENT", "LIST"]).await?;
        Ok(ClientInfo::parse_list(&output).into_iter().filter(|client| !client.ip().starts_with("127.")).collect())
    }

    /// Stops Redis (`docker stop`: it writes its append-only file and exits).
    pub async fn stop_redis(&self) -> Result<()> {
        self.stop_node(&self.nodes[0]).await
    }

    /// Stops one node (`docker stop`), as a lost machine would be.
    pub async fn stop_node(&self, node: &RedisNode) -> Result<()> {
        self.expect_stopped(&node.name);
        node.stop().await
    }

    /// Starts a node again; it takes the role its configuration and its peers give it.
    pub async fn start_node(&self, node: &RedisNode) -> Result<()> {
        node.start_again().await?;
        self.expect_running(&containers::state(&node.name, node.id()).await?);
        Ok(())
    }

    /// Starts Redis again and waits until it answers PING.
    pub async fn start_redis(&self) -> Result<()> {
        self.start_node(&self.nodes[0]).await?;
        // Refused connections while it loads are part of the wait, not its end.
        wait::until("redis answers PING after starting", || async {
            Ok(self.redis_cli(&["PING"]).await.is_ok_and(|reply| reply.trim() == "PONG"))
        })
        .await
    }

    /// Runs iptables inside the (first) Redis node's network namespace.
    pub async fn iptables(&self, args: &[&str]) -> Result<()> {
        self.nodes[0].iptables(args).await
    }

    /// The (first) Redis node's iptables sidecar, started on first use (about a second);
    /// calling this before a fault keeps that second out of the fault's window.
    pub async fn iptables_sidecar(&self) -> Result<&ContainerAsync<GenericImage>> {
        self.nodes[0].iptables_sidecar().await
    }

    /// The high-availability pair swaps roles: the replica is promoted, the old primary demoted
    /// to replicate it (connections still on it get `READONLY`), then the proxy, the one private
    /// address, moves to the new primary. Writes the old primary took in between are lost, as in
    /// any asynchronous failover. Returns once the old primary is in sync again, so that the
    /// next failover loses nothing to the harness.
    pub async fn failover(&self) -> Result<()> {
        let old = self.proxied.load(std::sync::atomic::Ordering::Acquire);
        let new = 1 - old;
        shapes::promote(&self.nodes[new]).await?;
        shapes::demote(&self.nodes[old], &self.nodes[new]).await?;
        self.proxy_to(new).await?;
        shapes::in_sync(&self.nodes[old]).await?;
        self.note(format!("failover: {} is the primary, {} its replica", self.nodes[new].name, self.nodes[old].name));
        Ok(())
    }

    /// The index of the primary that holds slot `slot` now, as a live node tells.
    async fn primary_of_slot(&self, slot: u16) -> Result<usize> {
        let lost = self.shape.lock().expect("shape lock").lost;
        let asked = self.nodes.iter().enumerate().find(|(index, _)| Some(*index) != lost).map(|(_, node)| node);
        let ranges = shapes::slot_owners(asked.expect("a cluster has live nodes")).await?;
        let range = ranges
            .iter()
            .find(|range| (range.first..=range.last).contains(&slot))
            .ok_or_else(|| Error::Setup(format!("no primary serves slot {slot}")))?;
        let primary = shapes::node_at(&self.nodes, &range.nodes[0])?;
        Ok(self.nodes.iter().position(|node| node.name == primary.name).expect("a node of the stack"))
    }

    /// Kills the primary of the first shard (slot 0), or starts it again.
    pub async fn lose_primary(&self, lose: bool) -> Result<()> {
        if lose {
            let index = self.primary_of_slot(0).await?;
            self.expect_stopped(&self.nodes[index].name);
            self.nodes[index].kill().await?;
            self.shape.lock().expect("shape lock").lost = Some(index);
            self.note(format!("killed {}, the primary of slot 0", self.nodes[index].name));
        } else {
            let killed = self.shape.lock().expect("shape lock").lost.take();
            if let Some(index) = killed {
                self.start_node(&self.nodes[index]).await?;
            }
        }
        Ok(())
    }

    /// Starts the sidecar of the first shard's primary, so that filtering it is immediate.
    pub async fn prepare_shard_filter(&self) -> Result<()> {
        let index = self.primary_of_slot(0).await?;
        self.nodes[index].iptables_sidecar().await.map(drop)
    }

    /// Drops the backends' packets at the first shard's primary, or stops dropping them.
    pub async fn filter_shard(&self, drop: bool) -> Result<()> {
        let index = if drop {
            let index = self.primary_of_slot(0).await?;
            self.shape.lock().expect("shape lock").filtered = Some(index);
            index
        } else {
            let Some(index) = self.shape.lock().expect("shape lock").filtered.take() else { return Ok(()) };
            index
        };
        let rule = if drop { "-I" } else { "-D" };
        let port = REDIS_PORT.as_u16().to_string();
        for backend in &self.backends {
            let address = backend.address.to_string();
            let args = [rule, "INPUT", "-s", &address, "-p", "tcp", "--dport", &port, "-j", "DROP"];
            self.nodes[index].iptables(&args).await?;
        }
        Ok(())
    }

    /// Moves `slots` slots from the first shard's primary to the second's, or back.
    pub async fn reshard(&self, slots: u32, forward: bool) -> Result<()> {
        let (from, to) = if forward {
            let (from, to) = (self.primary_of_slot(0).await?, self.primary_of_slot(16383).await?);
            self.shape.lock().expect("shape lock").moved = Some((from, to));
            (from, to)
        } else {
            let Some((from, to)) = self.shape.lock().expect("shape lock").moved.take() else { return Ok(()) };
            (to, from)
        };
        shapes::reshard(&self.nodes, &self.nodes[from], &self.nodes[to], slots).await?;
        self.note(format!("moved {slots} slots from {} to {}", self.nodes[from].name, self.nodes[to].name));
        Ok(())
    }

    /// The pair's node the proxy sends to (`Ha`).
    pub fn proxied(&self) -> &RedisNode {
        &self.nodes[self.proxied.load(std::sync::atomic::Ordering::Acquire)]
    }

    /// Points the proxy at another node: the one private address moves, and Toxiproxy closes the
    /// connections it held, as the endpoint of a managed failover does.
    pub(crate) async fn proxy_to(&self, index: usize) -> Result<()> {
        let upstream = format!("{}:{}", self.nodes[index].name, REDIS_PORT.as_u16());
        self.toxiproxy()?.set_upstream(REDIS_PROXY, &upstream).await?;
        self.proxied.store(index, std::sync::atomic::Ordering::Release);
        self.note(format!("the proxy now sends to {}", self.nodes[index].name));
        Ok(())
    }

    /// Records an event for the failure report.
    pub fn note(&self, event: impl Into<String>) {
        let event = event.into();
        tracing::info!(network = self.network, "{event}");
        self.journal.events.lock().expect("journal lock").push((self.started.elapsed(), event));
    }

    pub(crate) fn fault_started(&self, fault: &str) {
        self.journal.active_faults.lock().expect("journal lock").push(fault.to_owned());
        self.note(format!("injected fault: {fault}"));
    }

    pub(crate) fn fault_healed(&self, fault: &str) {
        self.journal.active_faults.lock().expect("journal lock").retain(|active| active != fault);
        self.note(format!("healed fault: {fault}"));
    }

    /// What a failing test prints: the active faults, the timeline, and the backends' log tails.
    pub fn report(&self) -> String {
        use std::fmt::Write as _;
        let mut report = format!("--- e2e stack report (network {}) ---\n", self.network);
        let active = self.journal.active_faults.lock().expect("journal lock");
        let active = if active.is_empty() { "none".to_owned() } else { active.join(", ") };
        let _ = writeln!(report, "active faults: {active}\ntimeline:");
        for (at, event) in self.journal.events.lock().expect("journal lock").iter() {
            let _ = writeln!(report, "  {:>8.3}s  {event}", at.as_secs_f64());
        }
        for (index, backend) in self.backends.iter().enumerate() {
            let _ = writeln!(report, "backend {index} log, last {LOG_TAIL} lines:");
            for line in backend.logs.last(LOG_TAIL) {
                let _ = writeln!(report, "  {line}");
            }
        }
        report
    }
}

/// What the cluster faults changed, by index in the stack's nodes.
#[derive(Debug, Default)]
struct ShapeChanges {
    lost: Option<usize>,
    filtered: Option<usize>,
    /// Slots moved from the first index's node to the second's.
    moved: Option<(usize, usize)>,
}

/// Redis for `topology`: one node, a replicated pair, or a formed cluster.
async fn start_nodes(images: &ImageSet, network: &str, topology: Topology) -> Result<Vec<RedisNode>> {
    let image = || RedisImage::new(&images.redis.name, &images.redis.tag, images.source);
    match topology {
        Topology::ThroughProxy | Topology::Direct => Ok(vec![RedisNode::start(image(), network, "redis").await?]),
        Topology::Ha => {
            let image = || image().with_args(&shapes::REPLICATION_ARGS);
            let primary = RedisNode::start(image(), network, "redis-a").await?;
            let replica = RedisNode::start(image(), network, "redis-b").await?;
            shapes::demote(&replica, &primary).await?;
            shapes::in_sync(&replica).await?;
            Ok(vec![primary, replica])
        }
        Topology::Cluster => {
            let starts = (0..6).map(|index| {
                let name = format!("redis-{index}");
                async move { RedisNode::start(image().with_args(&shapes::CLUSTER_ARGS), network, &name).await }
            });
            let nodes = futures_util::future::try_join_all(starts).await?;
            shapes::form_cluster(&nodes).await?;
            Ok(nodes)
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.report());
        }
        tracing::debug!(network = self.network, "removing stack");
    }
}
