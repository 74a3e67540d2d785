//! The rules a plan for the private-network migration must follow. Each violation names the
//! resource, the attribute and the reason.
//!
//! Two views of a plan are judged. Its changes: what happens to Redis and its network on the way
//! (a replacement, a delete, a `removed` block). And its end state: where every Redis cluster ends
//! up, whatever the changes, so that a rollback to the public endpoint fails even when it is an
//! ordinary in-place update.

mod backend;
pub mod doors;
mod flow;
mod network;
mod ranges;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};
use serde::Serialize;
use serde_json::Value;

pub use ranges::PublicReach;

use crate::UNKNOWN;
use crate::config::Sources;
use crate::plan::{Action, EndResource, Plan, ResourceChange, StateSource, references_in};
use flow::Flow;
use network::Network;

pub const VPC: &str = "scaleway_vpc";
pub(crate) const PRIVATE_NETWORK: &str = "scaleway_vpc_private_network";
pub const REDIS: &str = "scaleway_redis_cluster";
pub const CONTAINER: &str = "scaleway_container";

/// The `cluster_size` from which Scaleway runs Redis Cluster (hash slots over several primaries);
/// 1 is standalone and 2 high availability, both one server to a client.
pub(crate) const CLUSTER_MODE_FROM: u64 = 3;
/// The largest `cluster_size` Scaleway offers.
pub(crate) const LARGEST_CLUSTER: u64 = 6;

/// Resource types that hold data: destroying or replacing one loses it.
pub(crate) const STATEFUL_TYPES: [&str; 10] = [
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
    /// The Terraform sources, for the locals a plan does not carry.
    pub sources: Option<Sources>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            stateful_types: STATEFUL_TYPES.iter().map(|t| (*t).to_owned()).collect(),
            allow_destroy: BTreeSet::new(),
            subnet_prefix: 22,
            sources: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Violation {
    pub policy: &'static str,
    pub address: String,
    pub attribute: String,
    pub reason: String,
    /// For a path from the internet to Redis, its hops: `internet`, the door, what it forwards
    /// to, and Redis.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({}): {}", self.policy, self.address, self.attribute, self.reason)
    }
}

fn violation(policy: &'static str, address: &str, attribute: &str, reason: impl Into<String>) -> Violation {
    Violation {
        policy,
        address: address.to_owned(),
        attribute: attribute.to_owned(),
        reason: reason.into(),
        path: Vec::new(),
    }
}

/// What the policies found: violations fail the plan; notes only inform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    pub violations: Vec<Violation>,
    pub notes: Vec<String>,
}

/// Stands for the plan as a whole in a violation's address.
pub(crate) const WHOLE_PLAN: &str = "(plan)";

/// The policies, by name, with what each one guards.
pub(crate) const POLICIES: [(&str, &str); 12] = [
    ("plan-applyable", "terraform saved the plan without errors, can apply it, and deferred nothing"),
    ("private-network-present", "the plan leaves a VPC and a private network, and never destroys or forgets them"),
    ("redis-in-place", "the Redis cluster is updated in place, never deleted, replaced or forgotten"),
    ("redis-private-only", "every Redis cluster the plan leaves is on a private network, with no allow-list"),
    ("no-public-acl", "no allow-list, on its own or with the others, opens Redis to a large part of the internet"),
    (
        "no-door-to-redis",
        "nothing takes traffic from the internet to Redis: no PAT rule, load balancer backend or public endpoint of its own, and no unmodeled resource holding its address",
    ),
    ("no-stateful-destroy", "no other stateful resource is destroyed or replaced unless allowed"),
    ("redis-url-private", "REDIS_URL points at Redis's private endpoint"),
    ("redis-password-secret", "the Redis password is a secret, never part of REDIS_URL"),
    (
        "backend-reaches-redis",
        "the backend shares a private network with Redis and has a REDIS_URL it accepts, so the migration is no outage",
    ),
    (
        "redis-mode-matches",
        "the backend's REDIS_MODE is the Redis cluster's shape: cluster from three nodes, standalone below",
    ),
    ("private-subnet", "the private network's subnet is RFC 1918 and of the expected size"),
];

pub fn check(plan: &Plan<'_>, config: &PolicyConfig) -> Findings {
    let end = plan.end_state();
    let network = Network::of(&end);
    let flow = Flow::new(plan, &end, config.sources.as_ref());
    let mut violations = Vec::new();
    violations.extend(plan_applyable(plan));
    violations.extend(network_present(plan, &end));
    violations.extend(redis_in_place(plan, config));
    violations.extend(redis_private_only(plan, &end));
    violations.extend(doors::doors(plan, &end, &network, &flow));
    violations.extend(no_stateful_destroy(plan, config));
    violations.extend(backend::redis_url(&end, &network, &flow));
    violations.extend(backend::redis_mode(&end));
    violations.extend(private_subnet(&end, config));
    violations.sort();
    violations.dedup();
    Findings { violations, notes: notes(plan) }
}

fn notes(plan: &Plan<'_>) -> Vec<String> {
    let mut notes: Vec<String> = plan
        .changes
        .iter()
        .filter(|change| change.action == Action::Unknown && !watched(&change.kind))
        .map(|change| {
            format!(
                "{} has change actions {:?} that plancheck does not know; it is not Redis or its network, so no policy depends on it",
                change.address, change.actions
            )
        })
        .collect();
    if plan.state_source == StateSource::PriorState {
        notes.push("a refresh-only plan: the end state judged is the refreshed prior_state".to_owned());
    }
    notes.extend(plan.inconsistencies());
    notes
}

/// Types whose changes the policies judge themselves.
fn watched(kind: &str) -> bool {
    matches!(kind, VPC | PRIVATE_NETWORK | REDIS)
}

fn plan_applyable(plan: &Plan<'_>) -> Vec<Violation> {
    let policy = "plan-applyable";
    if plan.errored {
        return vec![violation(
            policy,
            WHOLE_PLAN,
            "errored",
            "terraform saved this plan with errors: it shows neither what apply would do nor where Redis would end up",
        )];
    }
    let mut violations = Vec::new();
    let changes_something = plan.changes.iter().any(|change| !change.action.is_no_change());
    if plan.applyable == Some(false) && changes_something {
        violations.push(violation(
            policy,
            WHOLE_PLAN,
            "applyable",
            "terraform says this plan cannot be applied, though it has changes",
        ));
    }
    if plan.complete == Some(false) {
        violations.push(violation(
            policy,
            WHOLE_PLAN,
            "complete",
            "the plan is incomplete: terraform deferred some changes, so their end state is not in it",
        ));
    }
    violations
}

/// Why a change to Redis or its network is not allowed, if it is not.
fn forbidden_change(change: &ResourceChange<'_>, what: &str) -> Option<String> {
    match change.action {
        Action::Delete => Some(format!("the {what} would be deleted")),
        Action::Replace => Some(format!("the {what} would be replaced instead of updated in place")),
        Action::Forget | Action::CreateForget => Some(format!(
            "terraform would forget the {what} (a `removed` block): it would leave Terraform's management, and no plan would protect it any more"
        )),
        Action::Unknown => Some(format!(
            "the {what} has change actions {:?} that plancheck does not know, so it cannot tell what becomes of it",
            change.actions
        )),
        _ => None,
    }
}

fn network_present(plan: &Plan<'_>, end: &[EndResource<'_, '_>]) -> Vec<Violation> {
    let policy = "private-network-present";
    [(VPC, "VPC"), (PRIVATE_NETWORK, "private network")]
        .into_iter()
        .flat_map(|(kind, what)| {
            let mut violations: Vec<Violation> = plan
                .of_type(kind)
                .filter_map(|change| {
                    forbidden_change(change, what).map(|reason| violation(policy, &change.address, "resource", reason))
                })
                .collect();
            if violations.is_empty() && !end.iter().any(|resource| resource.kind() == kind) {
                violations.push(violation(
                    policy,
                    &format!("{kind}.*"),
                    "resource",
                    format!("the plan leaves no {what}: Redis would have no private network to move to"),
                ));
            }
            violations
        })
        .collect()
}

/// A cluster named with `--allow-destroy` may go: the last step of a reviewed migration to a new
/// cluster (see `infra/PRIVATE_NETWORK.md`) retires the old one.
fn redis_in_place(plan: &Plan<'_>, config: &PolicyConfig) -> Vec<Violation> {
    plan.of_type(REDIS)
        .filter(|change| !(change.action.destroys() && config.allow_destroy.contains(&change.address)))
        .filter_map(|change| {
            let reason = forbidden_change(change, "Redis cluster")?;
            let attribute =
                if change.replace_paths.is_empty() { "resource".to_owned() } else { change.replace_paths.join(", ") };
            let reason = if change.action.destroys() {
                format!("{reason}; every user and rate-limit counter it holds would be lost")
            } else {
                reason
            };
            Some(violation("redis-in-place", &change.address, &attribute, reason))
        })
        .collect()
}

/// Every Redis cluster the plan leaves: on a private network, with no allow-list, and above all
/// with no allow-list that opens it to the internet. An allow-list known only after apply cannot
/// be verified.
fn redis_private_only(plan: &Plan<'_>, end: &[EndResource<'_, '_>]) -> Vec<Violation> {
    let mut violations = Vec::new();
    for redis in end.iter().filter(|resource| resource.kind() == REDIS) {
        let address = redis.address();
        let networks = redis.value_at(&["private_network"]);
        let attached = match &networks {
            Value::Array(networks) => !networks.is_empty(),
            Value::String(marker) => marker == UNKNOWN,
            _ => false,
        };
        if !attached {
            violations.push(violation(
                "redis-private-only",
                address,
                "private_network",
                "the cluster is left with no private network: Redis would answer on its public endpoint only",
            ));
        }
        let acl = redis.value_at(&["acl"]);
        let unknown = acl.as_str() == Some(UNKNOWN)
            || acl.as_array().is_some_and(|rules| {
                rules.iter().any(|rule| rule.as_str() == Some(UNKNOWN) || rule["ip"].as_str() == Some(UNKNOWN))
            });
        if unknown {
            let references =
                plan.configuration.expression(redis.module(), address, &["acl"]).map(references_in).unwrap_or_default();
            let from = if references.is_empty() {
                "the configuration shows no reference for it".to_owned()
            } else {
                format!("it comes from {}", references.join(", "))
            };
            violations.push(violation(
                "redis-private-only",
                address,
                "acl",
                format!("the allow-list is known only after apply, so it cannot be verified: it may open Redis to anyone ({from})"),
            ));
            continue;
        }
        let acl: Vec<String> = match acl {
            Value::Array(rules) => rules.iter().map(|rule| rule["ip"].as_str().unwrap_or(UNKNOWN).to_owned()).collect(),
            _ => Vec::new(),
        };
        if acl.is_empty() {
            continue;
        }
        let listed = acl.join(", ");
        violations.push(violation(
            "redis-private-only",
            address,
            "acl",
            format!("the cluster keeps a public allow-list ({listed}): on the private network Redis has no public endpoint, and an allow-list brings one back"),
        ));
        let ranges: Vec<IpNet> = acl.iter().filter_map(|ip| ip.parse().ok()).collect();
        let reach = PublicReach::of(&ranges);
        if reach.is_public() {
            violations.push(violation(
                "no-public-acl",
                address,
                "acl",
                format!(
                    "the allow-list {listed} opens Redis to {} public IPv4 and {} public IPv6 addresses: as public as 0.0.0.0/0 (ranges whose union holds a /8's worth of public IPv4 addresses, or a /32's worth of IPv6, count as the internet)",
                    reach.ipv4, reach.ipv6
                ),
            ));
        }
    }
    violations
}

fn no_stateful_destroy(plan: &Plan<'_>, config: &PolicyConfig) -> Vec<Violation> {
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

pub(super) fn is_rfc1918(address: Ipv4Addr) -> bool {
    address.is_private()
}

fn private_subnet(end: &[EndResource<'_, '_>], config: &PolicyConfig) -> Vec<Violation> {
    let attribute = "ipv4_subnet[0].subnet";
    end.iter()
        .filter(|resource| resource.kind() == PRIVATE_NETWORK)
        .filter_map(|resource| {
            let subnet = resource.value_at(&["ipv4_subnet", "0", "subnet"]);
            let reason = match subnet.as_str() {
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
            Some(violation("private-subnet", resource.address(), attribute, reason))
        })
        .collect()
}
