//! Where a value comes from, followed from its references to their sources: resource attributes
//! (read from the plan's end state when known, else from what the Scaleway provider's attribute
//! is), module inputs (to the caller's expression), module outputs, variables (to their values
//! in the plan), and locals (through the Terraform sources, which the plan does not carry).
//!
//! Names never decide: `scaleway_flexible_ip.private_network_proxy.ip_address` is a public
//! address, whatever the resource is called. Every branch of a conditional is followed, since a
//! plan records a conditional's references all together.

use serde_json::Value;
use serde_json::value::RawValue;

use super::{PRIVATE_NETWORK, REDIS};
use crate::config::{SourceExpression, Sources};
use crate::plan::{EndResource, Plan, constant_in, module_path, references_in};
use crate::{SENSITIVE, UNKNOWN};

/// What a value is made of, at the end of one chain of references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Redis's private address: the cluster's `private_ip` or `private_network` (`service_ips`).
    /// With the cluster, as the reference names it.
    RedisPrivate(String),
    /// Redis's public endpoint (`public_network`).
    RedisPublic(String),
    /// An address the internet reaches: a public IP's.
    Public,
    /// A private network's id, with the network's address.
    PrivateNetwork(String),
    /// A value the plan knows, as text.
    Known(String),
    /// Where following stops, and why.
    Unverifiable(String),
}

/// One source of a value, and the chain of references that leads to it, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub origin: Origin,
    pub chain: Vec<String>,
}

impl Source {
    /// `a → b → c`.
    pub(crate) fn shown(&self) -> String {
        self.chain.join(" → ")
    }
}

/// Attributes that hold an address the internet reaches, by resource type.
const PUBLIC_ADDRESSES: [(&str, &[&str]); 6] = [
    ("scaleway_flexible_ip", &["ip_address"]),
    ("scaleway_instance_ip", &["address"]),
    ("scaleway_lb_ip", &["ip_address"]),
    ("scaleway_vpc_public_gateway_ip", &["address"]),
    ("scaleway_instance_server", &["public_ip", "public_ips", "ipv6_address"]),
    ("scaleway_lb", &["ip_address", "ipv6_address"]),
];

/// How deep a chain of references is followed.
const MAX_DEPTH: usize = 32;

/// Follows references through one plan.
pub(crate) struct Flow<'p, 'a> {
    plan: &'p Plan<'a>,
    end: &'p [EndResource<'p, 'a>],
    sources: Option<&'p Sources>,
}

impl<'p, 'a> Flow<'p, 'a> {
    pub(crate) fn new(plan: &'p Plan<'a>, end: &'p [EndResource<'p, 'a>], sources: Option<&'p Sources>) -> Self {
        Self { plan, end, sources }
    }

    /// The sources of a resource attribute the plan cannot show: `path` is the attribute's
    /// (`["environment_variables", "REDIS_URL"]`), of which the configuration may record only
    /// the first parts; the sources, when given, record the whole.
    pub(crate) fn of_attribute(&self, resource: &EndResource<'_, '_>, path: &[&str]) -> Vec<Source> {
        let address = resource.address();
        let written = format!("{address}.{}", path.join("."));
        if resource.module().is_none()
            && let Some(expression) = self.sources.and_then(|sources| sources.attribute(address, &path.join(".")))
        {
            return self.written(expression, &[written], 0);
        }
        let Some(expression) = self.plan.configuration.expression(resource.module(), address, path) else {
            return vec![Source {
                origin: Origin::Unverifiable("the configuration records no expression for it".to_owned()),
                chain: vec![written],
            }];
        };
        let module = module_path(resource.module().unwrap_or_default());
        self.expression(&module, expression, &[written], 0)
    }

    /// An expression of the root module's sources: its constant, if any, and where its
    /// references lead.
    fn written(&self, expression: &SourceExpression, chain: &[String], depth: usize) -> Vec<Source> {
        let mut found: Vec<Source> =
            expression.constant.iter().map(|value| Source { origin: known(value), chain: chain.to_vec() }).collect();
        found.extend(self.follow_all("", &expression.references, chain, depth));
        found
    }

    /// An expression of the plan's configuration, written in `module`: its constant, if any, and
    /// where its references lead.
    fn expression(&self, module: &str, expression: &RawValue, chain: &[String], depth: usize) -> Vec<Source> {
        let mut found: Vec<Source> = constant_in(expression)
            .iter()
            .map(|value| Source { origin: known(value), chain: chain.to_vec() })
            .collect();
        found.extend(self.follow_all(module, &references_in(expression), chain, depth));
        found
    }

    /// Follows each of `references`, written in `module`, keeping the most precise of those that
    /// name the same thing (Terraform lists `a.b.c[0].d`, `a.b.c[0]`, `a.b.c` and `a.b`).
    fn follow_all(&self, module: &str, references: &[String], chain: &[String], depth: usize) -> Vec<Source> {
        let precise: Vec<&String> = references
            .iter()
            .filter(|reference| {
                !references.iter().any(|other| {
                    other.len() > reference.len()
                        && other.starts_with(reference.as_str())
                        && matches!(other.as_bytes()[reference.len()], b'.' | b'[')
                })
            })
            .collect();
        let mut found = Vec::new();
        for reference in precise {
            found.extend(self.follow(module, reference, chain, depth));
        }
        found
    }

    fn follow(&self, module: &str, reference: &str, chain: &[String], depth: usize) -> Vec<Source> {
        let mut chain = chain.to_vec();
        let shown = if module.is_empty() { reference.to_owned() } else { format!("{reference} (in {module})") };
        chain.push(shown);
        let stop = |why: String| vec![Source { origin: Origin::Unverifiable(why), chain: chain.clone() }];
        if depth >= MAX_DEPTH {
            return stop(format!("{reference} is followed no further than {MAX_DEPTH} references"));
        }
        let steps = steps(reference);
        match steps.first().map(String::as_str) {
            Some("var") => self.variable(module, &steps[1], &chain, depth),
            Some("local") => self.local(module, &steps[1], &chain, depth),
            Some("module") => self.module_output(module, &steps, &chain, depth),
            // Not values the backend could be pointed at.
            Some("count" | "each" | "path" | "terraform" | "self") => Vec::new(),
            Some("data") if steps.len() >= 4 => {
                let address = format!("data.{}.{}", steps[1], steps[2]);
                Self::attribute(&steps[1], &address, &steps[3..], None, &chain)
            }
            Some(kind) if steps.len() >= 2 => {
                let address = if module.is_empty() {
                    format!("{kind}.{}", steps[1])
                } else {
                    format!("{module}.{kind}.{}", steps[1])
                };
                let resource = self.end.iter().find(|resource| {
                    resource.address() == address || resource.address().starts_with(&format!("{address}["))
                });
                match resource {
                    // The resource itself, not one of its attributes: no address.
                    _ if steps.len() == 2 => Vec::new(),
                    Some(resource) => Self::attribute(kind, &address, &steps[2..], Some(resource), &chain),
                    None => Self::attribute(kind, &address, &steps[2..], None, &chain),
                }
            }
            _ => stop(format!("{reference} is not a reference plancheck can follow")),
        }
    }

    /// A resource attribute: its value when the plan knows it, else what the provider's
    /// attribute is.
    fn attribute(
        kind: &str,
        address: &str,
        path: &[String],
        resource: Option<&EndResource<'_, '_>>,
        chain: &[String],
    ) -> Vec<Source> {
        let chain = chain.to_vec();
        let value = resource.map(|resource| {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            resource.clear_value_at(&path)
        });
        if let Some(value) = value
            .filter(|value| !value.is_null() && value.as_str() != Some(UNKNOWN) && value.as_str() != Some(SENSITIVE))
        {
            return vec![Source { origin: known(&value), chain }];
        }
        let attribute = path.first().map_or("", String::as_str);
        let origin = if kind == REDIS {
            match attribute {
                "private_ip" | "private_network" => Origin::RedisPrivate(address.to_owned()),
                "public_network" => Origin::RedisPublic(address.to_owned()),
                _ => Origin::Unverifiable(format!("{kind}.{attribute} is not an address of Redis")),
            }
        } else if kind == PRIVATE_NETWORK && attribute == "id" {
            Origin::PrivateNetwork(address.to_owned())
        } else if PUBLIC_ADDRESSES.iter().any(|(public, attributes)| *public == kind && attributes.contains(&attribute))
        {
            Origin::Public
        } else if resource.is_none() {
            Origin::Unverifiable(format!("{address} is not in the plan's end state"))
        } else {
            Origin::Unverifiable(format!(
                "it is known only after apply, and {kind}.{attribute} is not an attribute that holds Redis's private address"
            ))
        };
        vec![Source { origin, chain }]
    }

    /// `var.NAME`: the plan's value in the root module, the caller's expression in a child.
    fn variable(&self, module: &str, name: &str, chain: &[String], depth: usize) -> Vec<Source> {
        if module.is_empty() {
            return match self.plan.variables.get(name) {
                Some(value) => vec![Source { origin: known(value), chain: chain.to_vec() }],
                None => vec![Source {
                    origin: Origin::Unverifiable(format!("the plan holds no value for var.{name}")),
                    chain: chain.to_vec(),
                }],
            };
        }
        let (parent, call) = match module.rsplit_once(".module.") {
            Some((parent, call)) => (parent.to_owned(), call.to_owned()),
            None => (String::new(), module.trim_start_matches("module.").to_owned()),
        };
        let Some(expression) = self.plan.configuration.input(&parent, &call, name) else {
            return vec![Source {
                origin: Origin::Unverifiable(format!(
                    "the call of {module} passes nothing plancheck can read for var.{name}"
                )),
                chain: chain.to_vec(),
            }];
        };
        self.expression(&parent, expression, chain, depth + 1)
    }

    /// `local.NAME`: through the sources, which the plan does not carry.
    fn local(&self, module: &str, name: &str, chain: &[String], depth: usize) -> Vec<Source> {
        let stop = |why: String| vec![Source { origin: Origin::Unverifiable(why), chain: chain.to_vec() }];
        let Some(sources) = self.sources else {
            return stop(format!(
                "it is built from local.{name}, which the plan does not carry: give plancheck the Terraform sources (--source-dir)"
            ));
        };
        if !module.is_empty() {
            return stop(format!("local.{name} is a local of {module}, whose sources plancheck was not given"));
        }
        let Some(local) = sources.local(name) else { return stop(format!("the sources define no local.{name}")) };
        self.written(local, chain, depth + 1)
    }

    /// `module.CALL.OUTPUT`: the output's expression inside the called module.
    fn module_output(&self, module: &str, steps: &[String], chain: &[String], depth: usize) -> Vec<Source> {
        let (Some(call), Some(output)) = (steps.get(1), steps.get(2)) else { return Vec::new() };
        let child = if module.is_empty() { format!("module.{call}") } else { format!("{module}.module.{call}") };
        let Some(expression) = self.plan.configuration.output(&child, output) else {
            return vec![Source {
                origin: Origin::Unverifiable(format!("the configuration records no output {output} of {child}")),
                chain: chain.to_vec(),
            }];
        };
        self.expression(&child, expression, chain, depth + 1)
    }
}

/// A known value as text: a string as it is, anything else as JSON.
fn known(value: &Value) -> Origin {
    Origin::Known(value.as_str().map_or_else(|| value.to_string(), str::to_owned))
}

/// `a.b[0].c["k"]` as `["a", "b", "0", "c", "k"]`.
fn steps(reference: &str) -> Vec<String> {
    reference
        .split(['.', '['])
        .map(|step| step.trim_end_matches(']').trim_matches('"').to_owned())
        .filter(|step| !step.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_step_by_step() {
        assert_eq!(
            steps("scaleway_redis_cluster.main.private_ip[0].address"),
            ["scaleway_redis_cluster", "main", "private_ip", "0", "address"]
        );
        assert_eq!(steps("module.app[\"x\"].url"), ["module", "app", "x", "url"]);
    }
}
