//! One Redis container: its image, the administrator's view of it through `redis-cli` inside the
//! container, and an iptables sidecar in its network namespace. Tests use this to check the
//! truth (connections, keys); they never go through the backend.

use std::borrow::Cow;
use std::net::IpAddr;

use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, GenericImage, Image, ImageExt as _};
use tokio::sync::OnceCell;

use crate::containers::{self, Expected};
use crate::docker;
use crate::error::{Error, Result};
use crate::images::{self, ImageSource};
use crate::stack::BackendNode;

pub const REDIS_PORT: ContainerPort = ContainerPort::Tcp(6379);

/// Redis with persistence on: every write is appended and fsynced before it is acknowledged, so
/// a restart loses nothing that was answered.
#[derive(Debug, Clone)]
pub struct RedisImage {
    name: String,
    tag: String,
    source: ImageSource,
    /// More `redis-server` arguments, such as cluster mode's.
    extra: Vec<String>,
}

const SERVER_ARGS: [&str; 10] =
    ["--protected-mode", "no", "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--dir", "/data"];

impl RedisImage {
    pub fn new(name: impl Into<String>, tag: impl Into<String>, source: ImageSource) -> Self {
        Self { name: name.into(), tag: tag.into(), source, extra: Vec::new() }
    }

    #[must_use]
    pub(crate) fn with_args(mut self, args: &[&str]) -> Self {
        self.extra.extend(args.iter().map(|arg| (*arg).to_owned()));
        self
    }
}

impl Image for RedisImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::message_on_stdout("Ready to accept connections")]
    }

    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        // The local image's entrypoint is redis-server itself; the official one wants its name.
        let program = match self.source {
            ImageSource::Local => None,
            ImageSource::Registry => Some("redis-server"),
        };
        program.into_iter().chain(SERVER_ARGS).map(str::to_owned).chain(self.extra.iter().cloned())
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &[]
    }
}

/// One Redis container of a stack: a standalone server, one of a high-availability pair, or a
/// cluster node, with its own iptables sidecar for filtering at it.
pub struct RedisNode {
    /// The stack's name for it, also its alias on the network: `redis`, `redis-a`, `redis-3`.
    pub name: String,
    /// Its address on the stack's network.
    pub address: IpAddr,
    /// Declared before the container, so that it goes first: it lives in the node's namespace.
    sidecar: OnceCell<ContainerAsync<GenericImage>>,
    container: ContainerAsync<RedisImage>,
    expected: Expected,
}

impl RedisNode {
    pub(crate) async fn start(image: RedisImage, network: &str, name: &str) -> Result<Self> {
        // The private-network Redis: no host port at all.
        let container = docker::owned(image, network)
            .with_host_config_modifier(|config| config.publish_all_ports = Some(false))
            .start()
            .await?;
        docker::attach_alias(network, container.id(), name).await?;
        let address = docker::address_on(network, container.id()).await?;
        let expected = Expected::running(&containers::state(name, container.id()).await?);
        Ok(Self { name: name.to_owned(), address, sidecar: OnceCell::new(), container, expected })
    }

    pub fn id(&self) -> &str {
        self.container.id()
    }

    /// `host:port` as the other nodes and the backend reach it.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.address, REDIS_PORT.as_u16())
    }

    /// `name:port`, the proxy's upstream when it sends to this node.
    pub(crate) fn upstream(&self) -> String {
        format!("{}:{}", self.name, REDIS_PORT.as_u16())
    }

    /// What the stack expects of the container: running since its last start, or stopped.
    pub(crate) fn expected(&self) -> &Expected {
        &self.expected
    }

    /// Runs `redis-cli` inside this node's container.
    pub async fn cli(&self, args: &[&str]) -> Result<String> {
        docker::exec(&self.container, "redis-cli", args, |stdout| {
            stdout.starts_with("ERR") || stdout.starts_with("Could not connect")
        })
        .await
    }

    /// Stops the node (`docker stop`: Redis writes its append-only file and exits), as a lost
    /// machine would be.
    pub(crate) async fn stop(&self) -> Result<()> {
        self.expected.stopped_on_purpose();
        self.container.stop().await?;
        Ok(())
    }

    /// Kills the node at once (SIGKILL), as a machine that disappears.
    pub(crate) async fn kill(&self) -> Result<()> {
        self.expected.stopped_on_purpose();
        containers::kill(self.container.id()).await
    }

    /// Starts the node again; it takes the role its configuration and its peers give it.
    pub(crate) async fn start_again(&self) -> Result<()> {
        self.container.start().await?;
        self.expected.started(&containers::state(&self.name, self.id()).await?);
        Ok(())
    }

    /// Runs iptables inside this node's network namespace, from a sidecar that shares it.
    pub(crate) async fn iptables(&self, args: &[&str]) -> Result<()> {
        docker::exec(self.iptables_sidecar().await?, "iptables", args, |_| false).await.map(drop)
    }

    /// Drops (or stops dropping) every packet the `backends` send to this node's Redis port.
    pub(crate) async fn filter(&self, backends: &[BackendNode], drop: bool) -> Result<()> {
        let rule = if drop { "-I" } else { "-D" };
        let port = REDIS_PORT.as_u16().to_string();
        for backend in backends {
            let address = backend.address.to_string();
            self.iptables(&[rule, "INPUT", "-s", &address, "-p", "tcp", "--dport", &port, "-j", "DROP"]).await?;
        }
        Ok(())
    }

    /// The sidecar that runs iptables, started on first use (about a second); calling this
    /// before a fault keeps that second out of the fault's window.
    pub(crate) async fn iptables_sidecar(&self) -> Result<&ContainerAsync<GenericImage>> {
        self.sidecar
            .get_or_try_init(|| async {
                let sidecar = images::sidecar(docker::client()?).await?;
                tracing::info!(image = %sidecar, node = self.name, "starting the iptables sidecar in a redis node's network namespace");
                let image = GenericImage::new(&sidecar.name, &sidecar.tag);
                let namespace = format!("container:{}", self.container.id());
                // Set as a network mode, not a network: testcontainers would try to create a
                // network by that name. A shared namespace cannot publish ports either.
                docker::labelled(image)
                    .with_cap_add("NET_ADMIN")
                    .with_host_config_modifier(move |config| {
                        config.network_mode = Some(namespace.clone());
                        config.publish_all_ports = Some(false);
                        config.port_bindings = None;
                    })
                    .start()
                    .await
                    .map_err(Error::from)
            })
            .await
    }
}

/// One line of `CLIENT LIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub id: u64,
    /// The peer's address and port, as Redis sees it.
    pub addr: String,
    pub name: String,
}

impl ClientInfo {
    /// Parses `CLIENT LIST` output.
    pub fn parse_list(text: &str) -> Vec<Self> {
        text.lines()
            .filter_map(|line| {
                let field = |key: &str| line.split(' ').find_map(|pair| pair.strip_prefix(key)).map(str::to_owned);
                Some(Self {
                    id: field("id=")?.parse().ok()?,
                    addr: field("addr=")?,
                    name: field("name=").unwrap_or_default(),
                })
            })
            .collect()
    }

    pub fn ip(&self) -> &str {
        self.addr.rsplit_once(':').map_or(self.addr.as_str(), |(ip, _)| ip)
    }
}

impl testkit::cluster::Node for RedisNode {
    type Error = Error;

    fn endpoint(&self) -> String {
        Self::endpoint(self)
    }

    async fn redis_cli(&self, args: &[&str]) -> Result<String> {
        self.cli(args).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_list_lines_are_parsed() {
        let text = "id=3 addr=172.18.0.3:41562 laddr=172.18.0.2:6379 fd=8 name= age=0 idle=0 flags=N db=0\n\
                    id=5 addr=127.0.0.1:50000 laddr=127.0.0.1:6379 fd=9 name=admin age=1 idle=0 flags=N db=0\n";
        let clients = ClientInfo::parse_list(text);
        assert_eq!(clients.len(), 2);
        assert_eq!((clients[0].id, clients[0].ip()), (3, "172.18.0.3"));
        assert_eq!(clients[1].name, "admin");
    }
}
