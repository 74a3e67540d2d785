//! What the plan tells the backend about Redis: where it is (`REDIS_URL`, one URL or, in cluster
//! mode, a comma-separated list of seed nodes, in `environment_variables` or in
//! `secret_environment_variables`), what shape it has (`REDIS_MODE`), and whether the backend
//! can reach it at all (the same private network, a URL the backend accepts).

use gift_genie_settings::RedisUrl;
use serde_json::Value;

use super::doors::same_id;
use super::flow::{Flow, Origin, Source};
use super::network::{Host, Network, hosts_in};
use super::{CLUSTER_MODE_FROM, CONTAINER, PRIVATE_NETWORK, REDIS, Violation, violation};
use crate::UNKNOWN;
use crate::plan::EndResource;

const MODE: &str = "environment_variables.REDIS_MODE";
/// What the backend assumes without `REDIS_MODE`.
const DEFAULT_MODE: &str = "standalone";
/// The two maps a Serverless Container's environment comes from; the backend reads both alike.
const MAPS: [&str; 2] = ["environment_variables", "secret_environment_variables"];

/// One `REDIS_URL` of one map.
struct Url {
    map: &'static str,
    value: Value,
}

impl Url {
    fn attribute(&self) -> String {
        format!("{}.REDIS_URL", self.map)
    }
}

/// `redis-url-private`, `redis-password-secret` and `backend-reaches-redis` for every backend:
/// every seed of its `REDIS_URL` is one of Redis's private addresses, or, known only after
/// apply, is built from one; none carries the password in plain sight; the backend accepts the
/// URL; and it shares a private network with Redis.
pub(super) fn redis_url(end: &[EndResource<'_, '_>], network: &Network, flow: &Flow<'_, '_>) -> Vec<Violation> {
    let mut violations = Vec::new();
    for container in end.iter().filter(|resource| resource.kind() == CONTAINER) {
        let urls: Vec<Url> = MAPS
            .into_iter()
            .map(|map| Url { map, value: container.clear_value_at(&[map, "REDIS_URL"]) })
            .filter(|url| !url.value.is_null())
            .collect();
        if urls.is_empty() {
            violations.push(violation(
                "redis-url-private",
                container.address(),
                "environment_variables.REDIS_URL",
                "the backend has no REDIS_URL in either map of environment variables",
            ));
        }
        for url in &urls {
            violations.extend(judge(container, url, network, flow));
        }
        if let [first, second] = urls.as_slice()
            && first.value.as_str() != Some(UNKNOWN)
            && second.value.as_str() != Some(UNKNOWN)
            && first.value != second.value
        {
            violations.push(violation(
                "redis-url-private",
                container.address(),
                &second.attribute(),
                "REDIS_URL in environment_variables and in secret_environment_variables disagree: which one the backend gets is the platform's choice",
            ));
        }
        violations.extend(shares_a_network(end, container, flow));
    }
    violations
}

fn judge(container: &EndResource<'_, '_>, url: &Url, network: &Network, flow: &Flow<'_, '_>) -> Vec<Violation> {
    let address = container.address();
    let attribute = url.attribute();
    let raw = match &url.value {
        Value::String(raw) if raw == UNKNOWN => {
            let sources = flow.of_attribute(container, &[url.map, "REDIS_URL"]);
            return from_sources(network, &sources)
                .map(|reason| violation("redis-url-private", address, &attribute, reason))
                .into_iter()
                .collect();
        }
        Value::String(raw) => raw.as_str(),
        other => {
            return vec![violation(
                "redis-url-private",
                address,
                &attribute,
                format!("REDIS_URL is {other}, not a URL"),
            )];
        }
    };
    let mut violations = Vec::new();
    // The backend's own rules: what it would refuse at startup.
    if let Err(refused) = RedisUrl::parse(raw) {
        violations.push(violation(
            "backend-reaches-redis",
            address,
            &attribute,
            format!(
                "the backend refuses this REDIS_URL ({refused}): it would not start, an outage rather than an exposure"
            ),
        ));
        return violations;
    }
    for seed in raw.split(',').map(str::trim) {
        let Ok(seed) = url::Url::parse(seed) else { continue };
        if url.map == MAPS[0] && seed.password().is_some() {
            violations.push(violation(
                "redis-password-secret",
                address,
                &attribute,
                "REDIS_URL carries the password in a plain environment variable; pass it as the REDIS_PASSWORD secret",
            ));
        }
        if let Host::Elsewhere(reason) = network.host(seed.host_str().unwrap_or_default()) {
            violations.push(violation("redis-url-private", address, &attribute, format!("REDIS_URL host {reason}")));
        }
    }
    violations
}

/// Why a `REDIS_URL` known only after apply is not Redis's private endpoint, from its sources.
fn from_sources(network: &Network, sources: &[Source]) -> Option<String> {
    let mut private = false;
    let mut public = Vec::new();
    let mut unverifiable = Vec::new();
    for source in sources {
        match &source.origin {
            Origin::RedisPrivate(_) => private = true,
            Origin::RedisPublic(cluster) => public.push(format!("{} ({cluster}'s public endpoint)", source.shown())),
            Origin::Public => public.push(format!("{} (a public address)", source.shown())),
            Origin::PrivateNetwork(network) => {
                unverifiable.push(format!("{} ({network}'s id is not an address)", source.shown()));
            }
            Origin::Known(text) => {
                for host in hosts_in(text) {
                    match network.host(&host) {
                        Host::Redis(_) => private = true,
                        Host::Elsewhere(reason) => public.push(format!("{} ({reason})", source.shown())),
                    }
                }
            }
            Origin::Unverifiable(why) => unverifiable.push(format!("{} ({why})", source.shown())),
        }
    }
    if !public.is_empty() {
        Some(format!("REDIS_URL is known only after apply, and is built from {}", public.join("; ")))
    } else if !unverifiable.is_empty() {
        Some(format!(
            "REDIS_URL is known only after apply, so it cannot be verified from the plan: {}",
            unverifiable.join("; ")
        ))
    } else if !private {
        Some("REDIS_URL is known only after apply, so it cannot be verified from the plan: the configuration shows no address it is built from".to_owned())
    } else {
        None
    }
}

/// `backend-reaches-redis`: the backend is attached to a private network Redis is attached to,
/// by id when both are known, else by the configuration's references.
fn shares_a_network(
    end: &[EndResource<'_, '_>],
    container: &EndResource<'_, '_>,
    flow: &Flow<'_, '_>,
) -> Option<Violation> {
    let outage = |reason: String| {
        Some(violation(
            "backend-reaches-redis",
            container.address(),
            "private_network_id",
            format!("{reason}: an outage, not an exposure"),
        ))
    };
    if container.value_at(&["private_network_id"]).is_null() {
        return outage(
            "the backend is attached to no private network, so Redis's private endpoint is out of its reach".to_owned(),
        );
    }
    let backend = network_of(end, container, &["private_network_id"], flow)?;
    let mut redis_networks = Vec::new();
    for redis in end.iter().filter(|resource| resource.kind() == REDIS) {
        let count = match redis.value_at(&["private_network"]) {
            Value::Array(networks) => networks.len(),
            // Known only after apply: the configuration's first block says which network.
            Value::String(marker) if marker == UNKNOWN => 1,
            _ => 0,
        };
        for index in 0..count {
            let index = index.to_string();
            if let Some(network) = network_of(end, redis, &["private_network", &index, "id"], flow) {
                redis_networks.push((redis.address().to_owned(), network));
            }
        }
    }
    if redis_networks.is_empty() || redis_networks.iter().any(|(_, network)| network.may_be(&backend)) {
        return None;
    }
    let shown: Vec<String> = redis_networks.iter().map(|(redis, network)| format!("{redis} to {network}")).collect();
    outage(format!(
        "the backend is attached to {backend}, and {}, so Redis's private endpoint is out of its reach",
        shown.join(", ")
    ))
}

/// A private network as an attribute names it: its resource, its id, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NetworkRef {
    address: Option<String>,
    id: Option<String>,
}

impl NetworkRef {
    /// Whether the two may be one network: different only when the same kind of name differs.
    fn may_be(&self, other: &Self) -> bool {
        match ((&self.id, &other.id), (&self.address, &other.address)) {
            ((Some(a), Some(b)), _) => same_id(a, b),
            (_, (Some(a), Some(b))) => a == b,
            _ => true,
        }
    }
}

impl std::fmt::Display for NetworkRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.address, &self.id) {
            (Some(address), _) => f.write_str(address),
            (None, Some(id)) => write!(f, "the private network {id}"),
            (None, None) => f.write_str("a private network"),
        }
    }
}

/// The private network `resource`'s attribute at `path` names: by id when the plan knows it,
/// else by following the configuration's references (through variables, module inputs and
/// outputs, and locals) to a private network.
fn network_of(
    end: &[EndResource<'_, '_>],
    resource: &EndResource<'_, '_>,
    path: &[&str],
    flow: &Flow<'_, '_>,
) -> Option<NetworkRef> {
    let id_of = |address: &str| {
        end.iter()
            .find(|network| network.address() == address)
            .and_then(|network| network.value_at(&["id"]).as_str().filter(|id| *id != UNKNOWN).map(str::to_owned))
    };
    let address_of = |id: &str| {
        end.iter()
            .find(|network| {
                network.kind() == PRIVATE_NETWORK
                    && network.value_at(&["id"]).as_str().is_some_and(|other| same_id(other, id))
            })
            .map(|network| network.address().to_owned())
    };
    if let Some(id) = resource.value_at(path).as_str().filter(|id| *id != UNKNOWN) {
        return Some(NetworkRef { address: address_of(id), id: Some(id.to_owned()) });
    }
    flow.of_attribute(resource, path).into_iter().find_map(|source| match source.origin {
        Origin::PrivateNetwork(address) => Some(NetworkRef { id: id_of(&address), address: Some(address) }),
        Origin::Known(id) => Some(NetworkRef { address: address_of(&id), id: Some(id) }),
        _ => None,
    })
}

/// `redis-mode-matches`: a backend in standalone mode on a Redis Cluster fails on every key of
/// another shard (`MOVED`), and one in cluster mode on a single server cannot start. Judged when
/// the plan leaves one Redis cluster of known size, the one every backend must be using.
pub(super) fn redis_mode(end: &[EndResource<'_, '_>]) -> Vec<Violation> {
    let clusters: Vec<_> = end.iter().filter(|resource| resource.kind() == REDIS).collect();
    let [redis] = clusters.as_slice() else { return Vec::new() };
    let Some(size) = redis.value_at(&["cluster_size"]).as_u64() else { return Vec::new() };
    let expected = if size >= CLUSTER_MODE_FROM { "cluster" } else { DEFAULT_MODE };
    end.iter()
        .filter(|resource| resource.kind() == CONTAINER)
        .filter_map(|container| {
            let mode = container.value_at(&["environment_variables", "REDIS_MODE"]);
            let mode = match &mode {
                Value::Null => DEFAULT_MODE,
                Value::String(text) if text == UNKNOWN || text == crate::SENSITIVE => return None,
                Value::String(mode) => mode.as_str(),
                _ => "not a string",
            };
            (mode != expected).then(|| {
                violation(
                    "redis-mode-matches",
                    container.address(),
                    MODE,
                    format!(
                        "REDIS_MODE is {mode}, but {} has cluster_size {size}, which Scaleway runs in {expected} mode",
                        redis.address()
                    ),
                )
            })
        })
        .collect()
}
