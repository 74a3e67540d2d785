//! The rules a plan for the private-network migration must follow. Each violation names the
//! resource, the attribute and the reason.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use serde::Serialize;
use serde_json::Value;

use super::{Action, Plan, ResourceChange, UNKNOWN};

pub const VPC: &str = "scaleway_vpc";
pub const PRIVATE_NETWORK: &str = "scaleway_vpc_private_network";
pub const REDIS: &str = "scaleway_redis_cluster";
pub const CONTAINER: &str = "scaleway_container";

/// Resource types that hold data: destroying or replacing one loses it.
pub const STATEFUL_TYPES: [&str; 10] = [
    "scaleway_redis_cluster",
    "scaleway_rdb_instance",
    "scaleway_rdb_database",
    "scaleway_sdb_sql_database",
    "scaleway_mongodb_instance",
    "scaleway_documentdb_instance",
    "scaleway_object_bucket",
    "scaleway_block_volume",
    "scaleway_instance_volume",
    "scaleway_file_filesystem",
];

/// What the policies expect; the defaults describe the migration.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub stateful_types: BTreeSet<String>,
    /// Addresses whose destruction has been reviewed and accepted.
    pub allow_destroy: BTreeSet<String>,
    /// The private network's prefix length (22: 1024 addresses).
    pub subnet_prefix: u8,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            stateful_types: STATEFUL_TYPES.iter().map(|t| (*t).to_owned()).collect(),
            allow_destroy: BTreeSet::new(),
            subnet_prefix: 22,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Violation {
    pub policy: &'static str,
    pub address: String,
    pub attribute: String,
    pub reason: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({}): {}", self.policy, self.address, self.attribute, self.reason)
    }
}

fn violation(policy: &'static str, address: &str, attribute: &str, reason: impl Into<String>) -> Violation {
    Violation { policy, address: address.to_owned(), attribute: attribute.to_owned(), reason: reason.into() }
}

/// The policies, by name, with what each one guards.
pub const POLICIES: [(&str, &str); 7] = [
    ("private-network-present", "the plan creates (or keeps) the VPC and the private network"),
    ("redis-in-place", "the Redis cluster is updated in place, never deleted or replaced"),
    ("no-stateful-destroy", "no other stateful resource is destroyed or replaced unless allowed"),
    ("redis-url-private", "REDIS_URL points at Redis's private endpoint"),
    ("redis-password-secret", "the Redis password is a secret, never part of REDIS_URL"),
    ("no-public-acl", "no ACL opens Redis to 0.0.0.0/0"),
    ("private-subnet", "the private network's subnet is RFC 1918 and of the expected size"),
];

pub fn check(plan: &Plan, config: &PolicyConfig) -> Vec<Violation> {
    let mut violations = Vec::new();
    violations.extend(network_present(plan));
    violations.extend(redis_in_place(plan));
    violations.extend(no_stateful_destroy(plan, config));
    violations.extend(redis_url(plan));
    violations.extend(no_public_acl(plan));
    violations.extend(private_subnet(plan, config));
    violations.sort();
    violations
}

fn network_present(plan: &Plan) -> Vec<Violation> {
    [(VPC, "VPC"), (PRIVATE_NETWORK, "private network")]
        .into_iter()
        .flat_map(|(kind, what)| {
            let changes: Vec<&ResourceChange> = plan.of_type(kind).collect();
            if changes.is_empty() {
                return vec![violation(
                    "private-network-present",
                    &format!("{kind}.*"),
                    "resource",
                    format!("the plan has no {what}: Redis would have no private network to move to"),
                )];
            }
            changes
                .into_iter()
                .filter(|change| change.action.destroys())
                .map(|change| {
                    violation(
                        "private-network-present",
                        &change.address,
                        "resource",
                        format!("the {what} would be {}d", change.action.label()),
                    )
                })
                .collect()
        })
        .collect()
}

fn redis_in_place(plan: &Plan) -> Vec<Violation> {
    plan.of_type(REDIS)
        .filter(|change| change.action.destroys())
        .map(|change| {
            let attribute =
                if change.replace_paths.is_empty() { "resource".to_owned() } else { change.replace_paths.join(", ") };
            let consequence = "every user and rate-limit counter it holds would be lost";
            let reason = match change.action {
                Action::Delete => format!("the Redis cluster would be deleted; {consequence}"),
                _ => format!("the Redis cluster would be replaced instead of updated in place; {consequence}"),
            };
            violation("redis-in-place", &change.address, &attribute, reason)
        })
        .collect()
}

fn no_stateful_destroy(plan: &Plan, config: &PolicyConfig) -> Vec<Violation> {
    plan.changes
        .iter()
        .filter(|change| change.kind != REDIS && config.stateful_types.contains(&change.kind))
        .filter(|change| change.action.destroys() && !config.allow_destroy.contains(&change.address))
        .map(|change| {
            let attribute =
                if change.replace_paths.is_empty() { "resource".to_owned() } else { change.replace_paths.join(", ") };
            violation(
                "no-stateful-destroy",
                &change.address,
                &attribute,
                format!(
                    "a stateful {} would be {}d; allow it explicitly if that is intended",
                    change.kind,
                    change.action.label()
                ),
            )
        })
        .collect()
}

/// Subnets of the private networks in the plan.
fn private_subnets(plan: &Plan) -> Vec<Ipv4Net> {
    plan.of_type(PRIVATE_NETWORK)
        .filter_map(|change| change.values.pointer("/ipv4_subnet/0/subnet").and_then(Value::as_str))
        .filter_map(|subnet| subnet.parse().ok())
        .collect()
}

/// Addresses Redis answers on in the private network, from its static `service_ips`.
fn redis_private_addresses(plan: &Plan) -> Vec<Ipv4Addr> {
    plan.of_type(REDIS)
        .flat_map(|change| change.values["private_network"].as_array().cloned().unwrap_or_default())
        .flat_map(|network| network["service_ips"].as_array().cloned().unwrap_or_default())
        .filter_map(|ip| ip.as_str().and_then(|ip| ip.parse::<Ipv4Net>().ok()).map(|net| net.addr()))
        .collect()
}

fn is_rfc1918(address: Ipv4Addr) -> bool {
    address.is_private()
}

fn redis_url(plan: &Plan) -> Vec<Violation> {
    let subnets = private_subnets(plan);
    let redis_addresses = redis_private_addresses(plan);
    let mut violations = Vec::new();
    for container in plan.of_type(CONTAINER).filter(|change| change.action != Action::Delete) {
        let attribute = "environment_variables.REDIS_URL";
        let value = container.values.pointer("/environment_variables/REDIS_URL");
        let Some(raw) = value.and_then(Value::as_str) else {
            violations.push(violation(
                "redis-url-private",
                &container.address,
                attribute,
                "the backend has no REDIS_URL",
            ));
            continue;
        };
        if raw == UNKNOWN {
            // Only known after apply: judge by what it is built from.
            let references = plan.references(&container.address, "environment_variables");
            let private = references
                .iter()
                .any(|r| r.contains("private_ips") || r.contains("private_network") || r.contains("redis_private_ip"));
            if !private || references.iter().any(|r| r.contains("public_network")) {
                violations.push(violation(
                    "redis-url-private",
                    &container.address,
                    attribute,
                    format!("REDIS_URL is built from {references:?}, not from Redis's private endpoint"),
                ));
            }
            continue;
        }
        let Ok(url) = url::Url::parse(raw) else {
            violations.push(violation(
                "redis-url-private",
                &container.address,
                attribute,
                format!("REDIS_URL {raw:?} is not a URL"),
            ));
            continue;
        };
        if url.password().is_some() {
            violations.push(violation(
                "redis-password-secret",
                &container.address,
                attribute,
                "REDIS_URL carries the password in a plain environment variable; pass it as the REDIS_PASSWORD secret",
            ));
        }
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
        let reason = match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(address)) if !is_rfc1918(address) => {
                Some(format!("REDIS_URL host {address} is a public address"))
            }
            Ok(IpAddr::V4(address))
                if !subnets.is_empty() && !subnets.iter().any(|subnet| subnet.contains(&address)) =>
            {
                Some(format!("REDIS_URL host {address} is outside the private network {subnets:?}"))
            }
            Ok(IpAddr::V4(address)) if !redis_addresses.is_empty() && !redis_addresses.contains(&address) => {
                Some(format!("REDIS_URL host {address} is not Redis's private endpoint {redis_addresses:?}"))
            }
            Ok(IpAddr::V4(_)) => None,
            Ok(IpAddr::V6(address)) => Some(format!("REDIS_URL host {address} is not on the IPv4 private network")),
            Err(_) => Some(format!("REDIS_URL host {host:?} is a name, not Redis's private endpoint address")),
        };
        if let Some(reason) = reason {
            violations.push(violation("redis-url-private", &container.address, attribute, reason));
        }
    }
    violations
}

fn no_public_acl(plan: &Plan) -> Vec<Violation> {
    plan.of_type(REDIS)
        .filter(|change| change.action != Action::Delete)
        .flat_map(|change| {
            change.values["acl"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .filter(|(_, rule)| {
                    rule["ip"]
                        .as_str()
                        .and_then(|ip| ip.parse::<Ipv4Net>().ok())
                        .is_some_and(|net| net.prefix_len() == 0)
                })
                .map(|(index, rule)| {
                    violation(
                        "no-public-acl",
                        &change.address,
                        &format!("acl[{index}].ip"),
                        format!(
                            "the ACL {} opens Redis to the whole internet",
                            rule["ip"].as_str().unwrap_or_default()
                        ),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn private_subnet(plan: &Plan, config: &PolicyConfig) -> Vec<Violation> {
    let attribute = "ipv4_subnet[0].subnet";
    plan.of_type(PRIVATE_NETWORK)
        .filter(|change| change.action != Action::Delete)
        .filter_map(|change| {
            let reason = match change.values.pointer("/ipv4_subnet/0/subnet").and_then(Value::as_str) {
                None => "no subnet is set; set ipv4_subnet so that addresses are known and reviewable".to_owned(),
                Some(UNKNOWN) => "the subnet is only known after apply; set ipv4_subnet explicitly".to_owned(),
                Some(subnet) => match subnet.parse::<Ipv4Net>() {
                    Err(_) => format!("{subnet:?} is not an IPv4 CIDR"),
                    Ok(net) if !is_rfc1918(net.network()) || !is_rfc1918(net.broadcast()) => {
                        format!("{net} is not an RFC 1918 private range")
                    }
                    Ok(net) if net.prefix_len() != config.subnet_prefix => {
                        format!("{net} is a /{}, expected a /{}", net.prefix_len(), config.subnet_prefix)
                    }
                    Ok(_) => return None,
                },
            };
            Some(violation("private-subnet", &change.address, attribute, reason))
        })
        .collect()
}
