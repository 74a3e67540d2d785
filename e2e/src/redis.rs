//! Redis: its image, and the administrator's view of it through `redis-cli` inside the container.
//! Tests use this to check the truth (connections, keys); they never go through the backend.

use std::borrow::Cow;

use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::{ContainerAsync, Image};

use crate::docker;
use crate::error::Result;
use crate::images::ImageSource;

pub const REDIS_PORT: ContainerPort = ContainerPort::Tcp(6379);

/// Redis with persistence on: every write is appended and fsynced before it is acknowledged, so
/// a restart loses nothing that was answered.
#[derive(Debug, Clone)]
pub struct RedisImage {
    name: String,
    tag: String,
    source: ImageSource,
}

const SERVER_ARGS: [&str; 10] =
    ["--protected-mode", "no", "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--dir", "/data"];

impl RedisImage {
    pub fn new(name: impl Into<String>, tag: impl Into<String>, source: ImageSource) -> Self {
        Self { name: name.into(), tag: tag.into(), source }
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
        program.into_iter().chain(SERVER_ARGS)
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &[]
    }
}

/// Runs `redis-cli` with `args` inside the Redis container and returns its output.
pub async fn cli(container: &ContainerAsync<RedisImage>, args: &[&str]) -> Result<String> {
    docker::exec(container, "redis-cli", args, |stdout| {
        stdout.starts_with("ERR") || stdout.starts_with("Could not connect")
    })
    .await
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
