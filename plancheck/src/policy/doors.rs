//! `no-door-to-redis`: nothing takes traffic from the internet to Redis.
//!
//! [`DOORS`] is the one table of the resource types plancheck models: whether each takes traffic
//! from the internet, and what it forwards where. A door is a path from the internet to one of
//! Redis's addresses: a public gateway's PAT rule or a load balancer's backend that targets one
//! (or targets Redis's port on an address known only after apply), the cluster's own public
//! endpoint, and any resource of a type the table does not model, or that runs software of its
//! own, whose attributes hold one of Redis's addresses. Each violation shows the path.

use serde_json::Value;

use super::flow::{Flow, Origin, Source};
use super::network::{Network, REDIS_PORT};
use super::{REDIS, Violation, violation};
use crate::UNKNOWN;
use crate::plan::{EndResource, Plan, module_path, references_in};

/// What a modeled type does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forwards {
    /// Its public endpoint is Redis itself.
    RedisEndpoint,
    /// To `addresses` on `port`, attributes of its own.
    To { addresses: &'static str, port: &'static str },
    /// To what its rules or frontends forward, judged there.
    Through,
    /// To its own code: the backend, a function.
    ItsOwnCode,
    /// Whatever the software on it does, which a plan cannot show.
    Software,
    /// SSH into the private network, for developers: by design.
    Bastion,
    /// Traffic to the address goes to whatever it is attached to, judged there.
    AttachedResource,
    /// It takes no traffic from the internet.
    Nothing,
}

/// One modeled type.
#[derive(Debug, Clone, Copy)]
pub struct Door {
    pub kind: &'static str,
    /// What it takes from the internet, if anything.
    pub takes: &'static str,
    pub forwards: Forwards,
}

const fn door(kind: &'static str, takes: &'static str, forwards: Forwards) -> Door {
    Door { kind, takes, forwards }
}

/// The Scaleway resource types plancheck models, with what each takes from the internet and
/// where it forwards it.
pub const DOORS: [Door; 22] = [
    door(REDIS, "its public endpoint (`public_network`: `ips`, `port`), when it has one", Forwards::RedisEndpoint),
    door(
        "scaleway_vpc_public_gateway_pat_rule",
        "`public_port` on its gateway's address",
        Forwards::To { addresses: "private_ip", port: "private_port" },
    ),
    door(
        "scaleway_lb_backend",
        "what its load balancer's frontends pass it",
        Forwards::To { addresses: "server_ips", port: "forward_port" },
    ),
    door(
        "scaleway_vpc_public_gateway",
        "its public address: PAT rules, and SSH to its bastion when `bastion_enabled`",
        Forwards::Bastion,
    ),
    door("scaleway_lb", "its addresses, on its frontends' ports", Forwards::Through),
    door("scaleway_lb_frontend", "`inbound_port` on its load balancer", Forwards::Through),
    door("scaleway_lb_route", "what its frontend takes", Forwards::Through),
    door("scaleway_edge_services_pipeline", "HTTP on its domains", Forwards::Through),
    door("scaleway_container", "HTTP on its endpoint", Forwards::ItsOwnCode),
    door("scaleway_function", "HTTP on its endpoint", Forwards::ItsOwnCode),
    door("scaleway_instance_server", "anything on its public addresses", Forwards::Software),
    door("scaleway_baremetal_server", "anything on its public addresses", Forwards::Software),
    door("scaleway_k8s_pool", "anything its nodes' public addresses take", Forwards::Software),
    door("scaleway_flexible_ip", "traffic to its address", Forwards::AttachedResource),
    door("scaleway_instance_ip", "traffic to its address", Forwards::AttachedResource),
    door("scaleway_lb_ip", "traffic to its address", Forwards::AttachedResource),
    door("scaleway_vpc_public_gateway_ip", "traffic to its address", Forwards::AttachedResource),
    door("scaleway_vpc", "nothing", Forwards::Nothing),
    door("scaleway_vpc_private_network", "nothing", Forwards::Nothing),
    door("scaleway_vpc_gateway_network", "nothing: it attaches a gateway to a private network", Forwards::Nothing),
    door("scaleway_ipam_ip", "nothing: it reserves an address", Forwards::Nothing),
    door("scaleway_container_namespace", "nothing", Forwards::Nothing),
];

fn modeled(kind: &str) -> Option<&'static Door> {
    DOORS.iter().find(|door| door.kind == kind)
}

const POLICY: &str = "no-door-to-redis";

pub(super) fn doors(
    plan: &Plan<'_>,
    end: &[EndResource<'_, '_>],
    network: &Network,
    flow: &Flow<'_, '_>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for resource in end {
        match modeled(resource.kind()).map(|door| door.forwards) {
            Some(Forwards::RedisEndpoint) => violations.extend(public_endpoint(resource)),
            Some(Forwards::To { addresses, port }) => {
                violations.extend(forward(plan, end, network, flow, resource, addresses, port));
            }
            Some(Forwards::Software) => {
                violations.extend(holder(
                    network,
                    resource,
                    "takes traffic from the internet and runs software of its own",
                ));
            }
            None => violations.extend(holder(
                network,
                resource,
                "is of a type plancheck does not model (see plancheck's README), so nothing says it forwards nothing",
            )),
            Some(_) => {}
        }
    }
    violations
}

/// The cluster's own public endpoint, whatever the plan does to the cluster.
fn public_endpoint(redis: &EndResource<'_, '_>) -> Option<Violation> {
    let endpoints = redis.value_at(&["public_network"]);
    let endpoint = endpoints.as_array()?.first()?;
    let port = endpoint["port"].as_u64().unwrap_or(REDIS_PORT);
    let ips: Vec<&str> =
        endpoint["ips"].as_array().map(|ips| ips.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let shown =
        if ips.is_empty() { format!("(its public address):{port}") } else { format!("{}:{port}", ips.join(",")) };
    let mut found = violation(
        POLICY,
        redis.address(),
        "public_network",
        format!(
            "the cluster keeps a public endpoint ({shown}): the internet reaches Redis whatever its private network"
        ),
    );
    found.path = vec!["internet".to_owned(), format!("{shown} (public endpoint)"), redis.address().to_owned()];
    Some(found)
}

/// A PAT rule or a load balancer backend: a door when its target is one of Redis's addresses,
/// or, known only after apply, comes from one or cannot be told apart from one on Redis's port.
fn forward(
    plan: &Plan<'_>,
    end: &[EndResource<'_, '_>],
    network: &Network,
    flow: &Flow<'_, '_>,
    resource: &EndResource<'_, '_>,
    addresses: &'static str,
    port_attribute: &'static str,
) -> Option<Violation> {
    let value = resource.clear_value_at(&[addresses]);
    let port = resource.value_at(&[port_attribute]).as_u64();
    let shown_port = port.map_or_else(|| "(port known only after apply)".to_owned(), |port| port.to_string());
    let known: Vec<String> = match &value {
        Value::String(text) if text != UNKNOWN => vec![text.clone()],
        Value::Array(items) if items.iter().all(|item| item.as_str().is_some_and(|text| text != UNKNOWN)) => {
            items.iter().filter_map(Value::as_str).map(str::to_owned).collect()
        }
        Value::Null => Vec::new(),
        _ => {
            let sources = flow.of_attribute(resource, &[addresses]);
            return judge_unknown(plan, end, resource, addresses, port, &sources);
        }
    };
    let (target, cluster) = known.iter().find_map(|address| {
        network
            .redis
            .iter()
            .find(|(redis, _)| redis.to_string() == *address)
            .map(|(redis, cluster)| (redis.to_string(), cluster.clone()))
    })?;
    let mut found = violation(
        POLICY,
        resource.address(),
        addresses,
        format!("it forwards traffic from the internet to {target}:{shown_port}, Redis's private address ({cluster})"),
    );
    found.path = entry_path(plan, end, resource);
    found.path.extend([format!("{target}:{shown_port}"), cluster]);
    Some(found)
}

/// A door's target known only after apply, from its sources.
fn judge_unknown(
    plan: &Plan<'_>,
    end: &[EndResource<'_, '_>],
    resource: &EndResource<'_, '_>,
    attribute: &str,
    port: Option<u64>,
    sources: &[Source],
) -> Option<Violation> {
    let shown_port = port.map_or_else(|| "(port known only after apply)".to_owned(), |port| port.to_string());
    let mut path = entry_path(plan, end, resource);
    let redis = sources.iter().find_map(|source| match &source.origin {
        Origin::RedisPrivate(cluster) => Some((source, cluster)),
        _ => None,
    });
    if let Some((source, cluster)) = redis {
        let mut found = violation(
            POLICY,
            resource.address(),
            attribute,
            format!(
                "it forwards traffic from the internet to Redis's private address, known after apply ({}), on port {shown_port}",
                source.shown()
            ),
        );
        let target = source.chain.last().cloned().unwrap_or_default();
        path.extend([format!("{target}:{shown_port}"), cluster.clone()]);
        found.path = path;
        return Some(found);
    }
    let unverifiable: Vec<String> = sources
        .iter()
        .filter_map(|source| match &source.origin {
            Origin::Unverifiable(why) => Some(format!("{} ({why})", source.shown())),
            _ => None,
        })
        .collect();
    let on_redis_port = port.is_none_or(|port| port == REDIS_PORT);
    if on_redis_port && (!unverifiable.is_empty() || sources.is_empty()) {
        let why = if unverifiable.is_empty() {
            "the configuration shows no reference for it".to_owned()
        } else {
            unverifiable.join("; ")
        };
        let mut found = violation(
            POLICY,
            resource.address(),
            attribute,
            format!(
                "it forwards traffic from the internet to Redis's port {shown_port} on an address known only after apply, so it cannot be verified: {why}"
            ),
        );
        path.extend([format!("(known after apply):{shown_port}"), "Redis?".to_owned()]);
        found.path = path;
        return Some(found);
    }
    None
}

/// A resource whose attributes hold one of Redis's addresses, and nothing says what it does.
fn holder(network: &Network, resource: &EndResource<'_, '_>, what: &str) -> Option<Violation> {
    let raw = resource.raw_values()?;
    let found = network.redis_in(raw.get());
    let (address, cluster) = found.first()?;
    let attribute = crate::json::members(raw)
        .unwrap_or_default()
        .into_iter()
        .find(|(_, value)| !network.redis_in(value.get()).is_empty())
        .map_or_else(|| "resource".to_owned(), |(name, _)| name);
    let mut found = violation(
        POLICY,
        resource.address(),
        &attribute,
        format!(
            "{} {what}, and its {attribute} holds Redis's address {address}: it may forward traffic from the internet to Redis",
            resource.kind()
        ),
    );
    found.path =
        vec!["internet".to_owned(), resource.address().to_owned(), format!("{address}:{REDIS_PORT}"), cluster.clone()];
    Some(found)
}

/// How the internet reaches a PAT rule (through its gateway's address) or a load balancer
/// backend (through its load balancer's frontends).
fn entry_path(plan: &Plan<'_>, end: &[EndResource<'_, '_>], resource: &EndResource<'_, '_>) -> Vec<String> {
    let mut path = vec!["internet".to_owned()];
    if resource.kind() == "scaleway_vpc_public_gateway_pat_rule" {
        let public_port =
            resource.value_at(&["public_port"]).as_u64().map_or_else(String::new, |port| port.to_string());
        match linked(plan, end, resource, "gateway_id", "scaleway_vpc_public_gateway") {
            Some(gateway) => {
                let address = linked(plan, end, gateway, "ip_id", "scaleway_vpc_public_gateway_ip")
                    .and_then(|ip| {
                        ip.value_at(&["address"]).as_str().filter(|text| *text != UNKNOWN).map(str::to_owned)
                    })
                    .unwrap_or_default();
                path.push(format!("{} ({address}:{public_port})", gateway.address()));
            }
            None => path.push(format!("(its public gateway):{public_port}")),
        }
    } else if resource.kind() == "scaleway_lb_backend" {
        let lb = linked(plan, end, resource, "lb_id", "scaleway_lb");
        let lb_shown = lb.map_or_else(
            || "(its load balancer)".to_owned(),
            |lb| match lb.value_at(&["ip_address"]).as_str().filter(|text| *text != UNKNOWN) {
                Some(address) => format!("{} ({address})", lb.address()),
                None => lb.address().to_owned(),
            },
        );
        path.push(lb_shown);
        let frontend = end.iter().find(|frontend| {
            frontend.kind() == "scaleway_lb_frontend"
                && linked(plan, end, frontend, "backend_id", "scaleway_lb_backend")
                    .is_some_and(|backend| backend.address() == resource.address())
        });
        match frontend {
            Some(frontend) => {
                let port =
                    frontend.value_at(&["inbound_port"]).as_u64().map_or_else(String::new, |port| port.to_string());
                path.push(format!("{} (:{port})", frontend.address()));
            }
            None => path.push("(a frontend outside this plan)".to_owned()),
        }
    }
    path.push(resource.address().to_owned());
    path
}

/// The resource of type `kind` that `from`'s `attribute` names: by its id when both are known,
/// else by the configuration's reference.
fn linked<'e, 'p, 'a>(
    plan: &Plan<'_>,
    end: &'e [EndResource<'p, 'a>],
    from: &EndResource<'_, '_>,
    attribute: &str,
    kind: &str,
) -> Option<&'e EndResource<'p, 'a>> {
    let id = from.value_at(&[attribute]);
    if let Some(id) = id.as_str().filter(|id| *id != UNKNOWN) {
        let found = end.iter().find(|candidate| {
            candidate.kind() == kind && candidate.value_at(&["id"]).as_str().is_some_and(|other| same_id(other, id))
        });
        if found.is_some() {
            return found;
        }
    }
    let module = module_path(from.module().unwrap_or_default());
    let references = plan
        .configuration
        .expression(from.module(), from.address(), &[attribute])
        .map(references_in)
        .unwrap_or_default();
    references.iter().find_map(|reference| {
        let mut parts = reference.split('.');
        let (Some(reference_kind), Some(name)) = (parts.next(), parts.next()) else { return None };
        let name = name.split('[').next().unwrap_or(name);
        let address = if module.is_empty() {
            format!("{reference_kind}.{name}")
        } else {
            format!("{module}.{reference_kind}.{name}")
        };
        end.iter().find(|candidate| {
            candidate.kind() == kind
                && (candidate.address() == address || candidate.address().starts_with(&format!("{address}[")))
        })
    })
}

/// Ids compared without their locality: `fr-par/uuid` and `uuid` are one.
pub(super) fn same_id(a: &str, b: &str) -> bool {
    a.rsplit('/').next() == b.rsplit('/').next()
}
