//! What the plan tells the backend about Redis: where it is (`REDIS_URL`, one URL or, in cluster
//! mode, a comma-separated list of seed nodes) and what shape it has (`REDIS_MODE`).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use serde_json::Value;

use super::{CLUSTER_MODE_FROM, CONTAINER, PRIVATE_NETWORK, REDIS, Violation, is_rfc1918, violation};
use crate::plan::{EndResource, Plan, Reference};
use crate::{SENSITIVE, UNKNOWN};

const URL: &str = "environment_variables.REDIS_URL";
const MODE: &str = "environment_variables.REDIS_MODE";
/// What the backend assumes without `REDIS_MODE`.
const DEFAULT_MODE: &str = "standalone";

/// Subnets of the private networks the plan leaves.
fn private_subnets(end: &[EndResource<'_, '_>]) -> Vec<Ipv4Net> {
    end.iter()
        .filter(|resource| resource.kind() == PRIVATE_NETWORK)
        .filter_map(|resource| resource.value_at(&["ipv4_subnet", "0", "subnet"]).as_str()?.parse().ok())
        .collect()
}

/// Addresses Redis answers on in the private network, from its static `service_ips`.
fn redis_private_addresses(end: &[EndResource<'_, '_>]) -> Vec<Ipv4Addr> {
    end.iter()
        .filter(|resource| resource.kind() == REDIS)
        .flat_map(|resource| resource.value_at(&["private_network"]).as_array().cloned().unwrap_or_default())
        .flat_map(|network| network["service_ips"].as_array().cloned().unwrap_or_default())
        .filter_map(|ip| ip.as_str().and_then(|ip| ip.parse::<Ipv4Net>().ok()).map(|net| net.addr()))
        .collect()
}

/// True when a value the plan cannot show is built from Redis's private endpoint, judging by the
/// names it references (module inputs followed to their callers).
fn built_from_private_endpoint(references: &[Reference]) -> bool {
    let names: Vec<&str> = references.iter().flat_map(Reference::names).collect();
    let private = names
        .iter()
        .any(|r| r.contains("private_ips") || r.contains("private_network") || r.contains("redis_private_ip"));
    private && !names.iter().any(|r| r.contains("public_network"))
}

fn listed(references: &[Reference]) -> String {
    if references.is_empty() {
        "the configuration shows no reference for it".to_owned()
    } else {
        let names: Vec<String> = references.iter().map(ToString::to_string).collect();
        format!("it comes from {}", names.join("; "))
    }
}

/// "is known only after apply" or "is sensitive" for a value the plan hides.
fn hidden(value: &Value) -> Option<&'static str> {
    match value.as_str() {
        Some(UNKNOWN) => Some("is known only after apply"),
        Some(SENSITIVE) => Some("is sensitive"),
        _ => None,
    }
}

/// Where the seeds of one `REDIS_URL` may point.
struct Reach {
    subnets: Vec<Ipv4Net>,
    redis: Vec<Ipv4Addr>,
}

impl Reach {
    /// Why `seed`'s host is not Redis's private endpoint, if it is not.
    fn refuses(&self, seed: &url::Url) -> Option<String> {
        let host = seed.host_str().unwrap_or_default().trim_matches(['[', ']']);
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(address)) if !is_rfc1918(address) => {
                Some(format!("REDIS_URL host {address} is a public address"))
            }
            Ok(IpAddr::V4(address))
                if !self.subnets.is_empty() && !self.subnets.iter().any(|subnet| subnet.contains(&address)) =>
            {
                Some(format!("REDIS_URL host {address} is outside the private network {:?}", self.subnets))
            }
            Ok(IpAddr::V4(address)) if !self.redis.is_empty() && !self.redis.contains(&address) => {
                Some(format!("REDIS_URL host {address} is not Redis's private endpoint {:?}", self.redis))
            }
            Ok(IpAddr::V4(_)) => None,
            Ok(IpAddr::V6(address)) => Some(format!("REDIS_URL host {address} is not on the IPv4 private network")),
            Err(_) => Some(format!("REDIS_URL host {host:?} is a name, not Redis's private endpoint address")),
        }
    }
}

/// `redis-url-private` and `redis-password-secret`: every seed of every backend's `REDIS_URL` is
/// one of Redis's private addresses, and none carries the password.
pub(super) fn redis_url(plan: &Plan<'_>, end: &[EndResource<'_, '_>]) -> Vec<Violation> {
    let reach = Reach { subnets: private_subnets(end), redis: redis_private_addresses(end) };
    let mut violations = Vec::new();
    for container in end.iter().filter(|resource| resource.kind() == CONTAINER) {
        let address = container.address();
        let mut flag = |policy, reason: String| violations.push(violation(policy, address, URL, reason));
        let unverifiable = |why: &str| {
            let references = plan.configuration.references(container.module(), address, "environment_variables");
            (!built_from_private_endpoint(&references)).then(|| {
                format!(
                    "REDIS_URL {why}, so it cannot be verified from the plan, and it is not built from Redis's private endpoint: {}",
                    listed(&references)
                )
            })
        };
        let url = container.value_at(&["environment_variables", "REDIS_URL"]);
        let raw = match &url {
            Value::Null => {
                match hidden(&container.value_at(&["environment_variables"])) {
                    Some(why) => {
                        if let Some(reason) = unverifiable(&format!("{why} (all environment variables are)")) {
                            flag("redis-url-private", reason);
                        }
                    }
                    None => flag("redis-url-private", "the backend has no REDIS_URL".to_owned()),
                }
                continue;
            }
            value if hidden(value).is_some() => {
                if let Some(reason) = unverifiable(hidden(value).unwrap_or_default()) {
                    flag("redis-url-private", reason);
                }
                continue;
            }
            Value::String(raw) => raw.as_str(),
            other => {
                flag("redis-url-private", format!("REDIS_URL is {other}, not a URL"));
                continue;
            }
        };
        for seed in raw.split(',').map(str::trim) {
            let Ok(seed) = url::Url::parse(seed) else {
                flag("redis-url-private", format!("REDIS_URL {seed:?} is not a URL"));
                continue;
            };
            if seed.password().is_some() {
                flag(
                    "redis-password-secret",
                    "REDIS_URL carries the password in a plain environment variable; pass it as the REDIS_PASSWORD secret"
                        .to_owned(),
                );
            }
            if let Some(reason) = reach.refuses(&seed) {
                flag("redis-url-private", reason);
            }
        }
    }
    violations
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
                value if hidden(value).is_some() => return None,
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
