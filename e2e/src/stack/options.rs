//! How a stack is shaped: the Redis topology, the backend's settings, how many backends, and
//! their limits.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::backend::BackendConfig;
use crate::limits::ContainerLimits;

/// What Redis is, and how the backend reaches it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// One Redis behind the fault proxy, `REDIS_URL=redis://toxiproxy:6379`: every fault but the
    /// IP filter goes through the proxy.
    #[default]
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
    pub const ALL: [Self; 4] = [Self::ThroughProxy, Self::Direct, Self::Ha, Self::Cluster];

    /// The name experiment files use.
    pub fn name(self) -> &'static str {
        match self {
            Self::ThroughProxy => "through-proxy",
            Self::Direct => "direct",
            Self::Ha => "ha",
            Self::Cluster => "cluster",
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topology_reads_by_the_name_it_is_written_with() {
        for topology in Topology::ALL {
            let read: Topology = serde_json::from_value(serde_json::json!(topology.name())).unwrap();
            assert_eq!(read, topology);
        }
    }
}
