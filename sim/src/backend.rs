//! The backend as the simulation runs it: its settings, short enough that a fault schedule of a
//! few seconds trips breakers, exhausts the pool and outlives connections, and the service built
//! on the simulated network.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use gift_genie_backend::config::Settings;
use gift_genie_backend::metrics::{Metrics, StateLabels};
use gift_genie_backend::redis_pool::STANDALONE;
use gift_genie_backend::sources::Sources;
use gift_genie_backend::startup::Simulated;

use crate::dialer::NetDialer;
use crate::net::Net;
use crate::redis::{HOST, PORT, cluster_node};
use crate::scenario::{CLUSTER_NODES, Scenario, Topology};

/// The simulated wall clock's start: accounts' `created_at` count from here.
const EPOCH: &str = "2026-01-01T00:00:00Z";

/// How long one Redis attempt may take: faults are drawn around it.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_millis(500);

/// The backend's settings for `scenario`, read as the service reads its environment.
pub(crate) fn settings(scenario: &Scenario) -> Settings {
    let millis = |duration: Duration| format!("{}ms", duration.as_millis());
    let (mode, url) = match scenario.topology {
        Topology::Cluster => {
            let nodes: Vec<String> = (0..CLUSTER_NODES)
                .map(|node| {
                    let (host, port) = cluster_node(node);
                    format!("redis://{host}:{port}")
                })
                .collect();
            ("cluster", nodes.join(","))
        }
        Topology::Standalone | Topology::Pair => ("standalone", format!("redis://{HOST}:{PORT}")),
    };
    let variables: BTreeMap<&str, String> = [
        ("REDIS_MODE", mode.to_owned()),
        ("REDIS_URL", url),
        ("REDIS_CONNECT_TIMEOUT", millis(OPERATION_TIMEOUT)),
        ("REDIS_OPERATION_TIMEOUT", millis(OPERATION_TIMEOUT)),
        // Small, so that a burst exhausts it.
        ("REDIS_POOL_MAX_SIZE", "4".to_owned()),
        ("REDIS_POOL_WAIT_TIMEOUT", "300ms".to_owned()),
        ("REDIS_BREAKER_FAILURE_THRESHOLD", "5".to_owned()),
        ("REDIS_BREAKER_PROBE_INTERVAL", "250ms".to_owned()),
        // Short, so that idle checks and connection ages happen within a run.
        ("REDIS_HEALTH_CHECK_INTERVAL", "2s".to_owned()),
        ("REDIS_CONNECTION_MAX_LIFETIME", "4s".to_owned()),
        ("REDIS_WAIT_REPLICAS", scenario.wait_replicas.to_string()),
        ("HTTP_REQUEST_TIMEOUT", "1500ms".to_owned()),
        ("RATE_LIMIT_MAX_ATTEMPTS", "5".to_owned()),
        ("RATE_LIMIT_WINDOW", "10s".to_owned()),
        // The workload names each client in X-Forwarded-For.
        ("TRUSTED_PROXY_HOPS", "1".to_owned()),
    ]
    .into_iter()
    .collect();
    Settings::from_lookup(|name| variables.get(name).cloned()).expect("the simulation's settings are valid")
}

/// The service, reaching Redis over `net`, with randomness from `seed`.
pub(crate) struct Backend {
    pub router: axum::Router,
    pub metrics: Arc<Metrics>,
}

impl Backend {
    pub(crate) fn build(settings: Settings, net: &Net, seed: u64) -> Self {
        let epoch = EPOCH.parse().expect("a valid timestamp");
        let sources = Arc::new(Sources::seeded(seed, epoch));
        let Simulated { router, metrics } = Simulated::build(settings, sources, Arc::new(NetDialer(net.clone())))
            .expect("the simulated backend builds");
        Self { router, metrics }
    }
}

/// Whether the breaker of `shard` lets calls through, as the backend publishes it.
pub(crate) fn breaker_closed(metrics: &Metrics, shard: &str) -> bool {
    let labels = StateLabels { shard: shard.to_owned(), state: "closed" };
    metrics.redis.breaker_state.get_or_create(&labels).get() == 1
}

/// The standalone breaker's shard label.
pub(crate) const SHARD: &str = STANDALONE;
