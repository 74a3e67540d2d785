//! A stack on its own Docker network: Redis in one of its topologies ([`Redis`]) with no
//! published port, a fault proxy in front of it where the topology has one, and one or more
//! backends. It mirrors the private-network design: only the backends' HTTP ports and the proxy's
//! control port reach the host.
//!
//! Here: startup and what the stack holds. `options.rs` is how it is shaped, `backends.rs` its
//! backend containers, `journal.rs` what happened to it; the Redis side and its operations are in
//! `crate::redis`, container health in `crate::containers`.

mod backends;
mod journal;
mod options;

use std::sync::Arc;
use std::time::Duration;

pub use backends::BackendNode;
pub use journal::{Journal, LogTail};
pub use options::{StackOptions, Topology};
use testcontainers_toxiproxy::ToxiproxyClient;
use testkit::hostile::ClientLoads;

use crate::backend::{BackendClient, BackendConfig};
use crate::containers::{self, Expected};
pub use crate::containers::{ContainerState, Stopped};
use crate::docker::{self, NETWORK_PREFIX};
use crate::error::{Error, Result};
use crate::faults::Fault;
use crate::images::{self, ImageSet};
pub use crate::redis::REDIS_PROXY;
use crate::redis::{ClientInfo, Redis, RedisNode};

/// Fields are declared in reverse order of start, so that they are removed in that order.
pub struct Stack {
    /// First to go: the client faults' connections close before the backends do.
    client_loads: ClientLoads<Fault>,
    backends: Vec<BackendNode>,
    redis: Redis,
    pub images: ImageSet,
    pub options: StackOptions,
    network: String,
    journal: Arc<Journal>,
}

impl Stack {
    /// Builds or reuses the images, then starts Redis (and the proxy in front of it, where the
    /// topology has one) and the backends on a network of their own.
    pub async fn start(options: StackOptions) -> Result<Self> {
        options
            .backend
            .validate()
            .map_err(|problems| Error::Setup(format!("the backend would refuse to start: {problems}")))?;
        let docker = docker::client()?;
        let images = images::prepare(docker).await?;
        docker::sweep_leftovers().await?;
        let network =
            format!("{NETWORK_PREFIX}{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let journal = Arc::new(Journal::new(&network));
        tracing::info!(network, topology = ?options.topology, source = ?images.source, "starting stack");

        let redis = Redis::start(&images, &network, options.topology, Arc::clone(&journal)).await?;
        let backend_config = redis
            .backend_env()
            .into_iter()
            .fold(options.backend.clone(), |config, (key, value)| config.set(key, value));
        let mut backends = Vec::with_capacity(options.replicas.max(1));
        for index in 0..options.replicas.max(1) {
            let name = format!("backend-{index}");
            backends.push(BackendNode::start(&images, &network, &backend_config, options.limits, &name).await?);
        }
        let stack = Self { client_loads: ClientLoads::default(), backends, redis, images, options, network, journal };
        stack.note(format!("stack up in {:?}", stack.journal.elapsed()));
        Ok(stack)
    }

    /// Records an event for the failure report.
    pub fn note(&self, event: impl Into<String>) {
        self.journal.note(event);
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// What a failing test prints: the active faults, the timeline, and the backends' log tails.
    pub fn report(&self) -> String {
        self.journal.report(&self.backends)
    }

    pub fn network(&self) -> &str {
        &self.network
    }

    pub fn topology(&self) -> Topology {
        self.options.topology
    }

    pub fn config(&self) -> &BackendConfig {
        &self.options.backend
    }

    /// The Redis side: its topology, its nodes and their operations.
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// Every Redis node of the stack: one, the high-availability pair, or the cluster's six.
    pub fn redis_nodes(&self) -> Vec<&RedisNode> {
        self.redis.nodes()
    }

    /// The first backend.
    pub fn backend(&self) -> &BackendClient {
        &self.backends[0].client
    }

    pub fn backends(&self) -> &[BackendNode] {
        &self.backends
    }

    /// The client faults' loads against this stack.
    pub fn client_loads(&self) -> &ClientLoads<Fault> {
        &self.client_loads
    }

    /// The proxy's API, where the topology has a proxy.
    pub fn toxiproxy(&self) -> Result<&ToxiproxyClient> {
        self.redis
            .proxy()
            .map(|proxy| &proxy.client)
            .ok_or_else(|| Error::Setup(format!("this stack has no proxy (topology {})", self.options.topology.name())))
    }

    /// Runs `redis-cli` inside the first Redis node.
    pub async fn redis_cli(&self, args: &[&str]) -> Result<String> {
        self.redis.nodes()[0].cli(args).await
    }

    /// The clients the first Redis node sees, without the `redis-cli` connection that asks.
    pub async fn redis_clients(&self) -> Result<Vec<ClientInfo>> {
        let output = self.redis_cli(&["CLIENT", "LIST"]).await?;
        Ok(ClientInfo::parse_list(&output).into_iter().filter(|client| !client.ip().starts_with("127.")).collect())
    }

    /// The id of the account `email` has, as Redis holds it: read as an administrator, from the
    /// primary that holds its key (`redis-cli -c` follows a cluster's redirects).
    pub async fn account_of(&self, email: &str) -> Result<Option<String>> {
        let settings = self.options.backend.settings().map_err(Error::Setup)?;
        let key = format!("{}account:{email}", settings.redis.key_prefix);
        let asked = match &self.redis {
            Redis::Single(single) => single.node(),
            Redis::Pair(pair) => pair.primary(),
            Redis::Cluster(cluster) => cluster.live_node(),
        };
        let reply = asked.cli(&["-c", "HGET", &key, "id"]).await?;
        let id = reply.trim();
        Ok((!id.is_empty()).then(|| id.to_owned()))
    }

    /// Gives the first Redis node a new memory limit, as a resource-starved node would have.
    pub async fn limit_redis_memory(&self, bytes: i64) -> Result<()> {
        containers::limit_memory(self.redis.nodes()[0].id(), bytes).await?;
        self.note(format!("redis memory limited to {bytes} bytes"));
        Ok(())
    }

    /// One backend's container, for the Docker API.
    pub fn backend_container_id(&self, index: usize) -> &str {
        self.backends[index].container_id()
    }

    /// The memory one backend container uses, as `docker stats` shows it.
    pub async fn backend_memory(&self, index: usize) -> Result<u64> {
        containers::memory(self.backend_container_id(index)).await
    }

    /// The memory (bytes) and CPU (billionths of a CPU) limits one backend container runs with.
    pub async fn backend_limits(&self, index: usize) -> Result<(i64, i64)> {
        containers::limits(self.backend_container_id(index)).await
    }

    /// Stops one backend as a platform does: SIGTERM, then SIGKILL after `grace`.
    pub async fn stop_backend(&self, index: usize, grace: Duration) -> Result<Stopped> {
        let backend = &self.backends[index];
        backend.expected.stopped_on_purpose();
        let stopped = containers::stop(backend.container_id(), grace).await?;
        self.note(format!("stopped backend-{index} in {:?}, exit code {}", stopped.elapsed, stopped.exit_code));
        Ok(stopped)
    }

    /// Every container of the stack by the stack's name for it, with what the stack expects of it.
    fn containers(&self) -> Vec<(String, &str, &Expected)> {
        let mut containers: Vec<(String, &str, &Expected)> =
            self.redis.nodes().into_iter().map(|node| (node.name.clone(), node.id(), node.expected())).collect();
        if let Some(proxy) = self.redis.proxy() {
            containers.push(("toxiproxy".to_owned(), proxy.container.id(), &proxy.expected));
        }
        for (index, backend) in self.backends.iter().enumerate() {
            containers.push((format!("backend-{index}"), backend.container_id(), &backend.expected));
        }
        containers
    }

    /// Fails when a container was killed for lack of memory, restarted, or is no longer running
    /// without the stack having stopped it; each such state goes into the timeline.
    pub async fn check_containers(&self) -> Result<()> {
        let mut failures = Vec::new();
        for (name, id, expected) in self.containers() {
            let state = containers::state(&name, id).await?;
            if expected.is_failure(&state) {
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
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.report());
        }
        tracing::debug!(network = self.network, "removing stack");
    }
}
