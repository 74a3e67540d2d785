//! `infra/*.tf` read statically, with no provider and no credentials.
//!
//! Variables take their defaults and locals are evaluated where they can be; anything that depends
//! on a resource's computed attributes stays an expression. The result is a static snapshot
//! (types, names, literal attributes, references) and a pseudo-plan where every resource is
//! created, so that the plan policies apply unchanged, plus provider schema rules that a plan
//! would only reveal as an error at apply time.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use hcl::eval::{Context, Evaluate as _, FuncArgs, FuncDef, ParamType};
use hcl::{Block, Body, Expression};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::plan::{Change, Configuration, ModuleConfig, StateSource};
use super::policy::{self, PolicyConfig, REDIS, Violation};
use super::{Action, Plan, ResourceChange, UNKNOWN};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not valid HCL: {source}")]
    Parse { path: String, source: hcl::Error },
}

/// One `resource` block.
#[derive(Debug, Clone, Serialize)]
pub struct StaticResource {
    pub address: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    /// Evaluated values, or `${expression}` where the value depends on another resource.
    pub attributes: BTreeMap<String, Value>,
    /// Everything the block refers to: variables, locals and other resources.
    pub references: BTreeSet<String>,
    /// How many instances `count` asks for with the variables' defaults; `None` without `count`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct StaticConfig {
    pub resources: Vec<StaticResource>,
}

#[allow(clippy::needless_pass_by_value)] // hcl-rs's function signature takes the arguments by value
fn split(args: FuncArgs) -> Result<hcl::Value, String> {
    let separator = args[0].as_str().ok_or("split: the separator must be a string")?;
    let text = args[1].as_str().ok_or("split: the value must be a string")?;
    Ok(hcl::Value::Array(text.split(separator).map(|part| hcl::Value::String(part.to_owned())).collect()))
}

#[allow(clippy::needless_pass_by_value)] // hcl-rs's function signature takes the arguments by value
fn join(args: FuncArgs) -> Result<hcl::Value, String> {
    let separator = args[0].as_str().ok_or("join: the separator must be a string")?;
    let items = args[1].as_array().ok_or("join: the value must be a list")?;
    let parts: Option<Vec<&str>> = items.iter().map(hcl::Value::as_str).collect();
    Ok(hcl::Value::String(parts.ok_or("join: the list must hold strings")?.join(separator)))
}

#[allow(clippy::needless_pass_by_value)] // hcl-rs's function signature takes the arguments by value
fn tostring(args: FuncArgs) -> Result<hcl::Value, String> {
    match &args[0] {
        hcl::Value::String(text) => Ok(hcl::Value::String(text.clone())),
        hcl::Value::Number(number) => Ok(hcl::Value::String(number.to_string())),
        hcl::Value::Bool(flag) => Ok(hcl::Value::String(flag.to_string())),
        other => Err(format!("tostring: {other} is not a primitive value")),
    }
}

/// Reads every `.tf` file of `dir`, with the variables' defaults.
pub fn load(dir: &Path) -> Result<StaticConfig, ConfigError> {
    load_with(dir, &[])
}

/// Reads every `.tf` file of `dir`, with `variables` set as `-var` would set them and the other
/// variables at their defaults.
pub fn load_with(dir: &Path, variables: &[(&str, hcl::Value)]) -> Result<StaticConfig, ConfigError> {
    let blocks = blocks(dir)?;

    let mut context = Context::new();
    context.declare_func("split", FuncDef::builder().params([ParamType::String, ParamType::String]).build(split));
    context.declare_func(
        "join",
        FuncDef::builder().params([ParamType::String, ParamType::Array(Box::new(ParamType::Any))]).build(join),
    );
    context.declare_func("tostring", FuncDef::builder().params([ParamType::Any]).build(tostring));
    let mut values = hcl::Map::new();
    for block in blocks.iter().filter(|block| block.identifier.as_str() == "variable") {
        let default = block.body.attributes().find(|attribute| attribute.key.as_str() == "default");
        if let (Some(label), Some(default)) = (block.labels.first(), default)
            && let Ok(value) = default.expr.evaluate(&context)
        {
            values.insert(label.as_str().to_owned(), value);
        }
    }
    for (name, value) in variables {
        values.insert((*name).to_owned(), value.clone());
    }
    context.declare_var("var", hcl::Value::Object(values));

    // Locals may use each other: evaluate until a pass makes no progress.
    let local_expressions: Vec<(String, Expression)> = blocks
        .iter()
        .filter(|block| block.identifier.as_str() == "locals")
        .flat_map(|block| {
            block.body.attributes().map(|attribute| (attribute.key.as_str().to_owned(), attribute.expr.clone()))
        })
        .collect();
    let mut locals = hcl::Map::new();
    loop {
        let before = locals.len();
        let mut scope = context.clone();
        scope.declare_var("local", hcl::Value::Object(locals.clone()));
        for (name, expression) in &local_expressions {
            if !locals.contains_key(name)
                && let Ok(value) = expression.evaluate(&scope)
            {
                locals.insert(name.clone(), value);
            }
        }
        if locals.len() == before {
            break;
        }
    }
    context.declare_var("local", hcl::Value::Object(locals));

    let resources = blocks
        .iter()
        .filter(|block| block.identifier.as_str() == "resource" && block.labels.len() == 2)
        .map(|block| resource(block, &context))
        .collect();
    Ok(StaticConfig { resources })
}

fn resource(block: &Block, context: &Context) -> StaticResource {
    let kind = block.labels[0].as_str().to_owned();
    let name = block.labels[1].as_str().to_owned();
    let mut references = BTreeSet::new();
    let attributes = body_values(&block.body, context, &mut references);
    let count = attributes.get("count").and_then(Value::as_u64);
    StaticResource { address: format!("{kind}.{name}"), kind, name, attributes, references, count }
}

fn body_values(body: &Body, context: &Context, references: &mut BTreeSet<String>) -> BTreeMap<String, Value> {
    let mut values = BTreeMap::new();
    for attribute in body.attributes() {
        values.insert(attribute.key.as_str().to_owned(), expression_value(&attribute.expr, context, references));
    }
    for block in body.blocks() {
        let nested = Value::Object(body_values(&block.body, context, references).into_iter().collect());
        match values.entry(block.identifier.as_str().to_owned()).or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(blocks) => blocks.push(nested),
            other => *other = Value::Array(vec![nested]),
        }
    }
    values
}

fn expression_value(expression: &Expression, context: &Context, references: &mut BTreeSet<String>) -> Value {
    let text = hcl::format::to_string(expression).unwrap_or_default();
    references.extend(references_in(&text));
    match expression.evaluate(context) {
        Ok(value) => serde_json::to_value(value).unwrap_or(Value::Null),
        Err(_) => match expression {
            // Keep the shape of maps and lists so that known parts stay readable.
            Expression::Object(object) => Value::Object(
                object
                    .iter()
                    .map(|(key, value)| {
                        let key = hcl::format::to_string(key).unwrap_or_default().trim_matches('"').to_owned();
                        (key, expression_value(value, context, references))
                    })
                    .collect(),
            ),
            Expression::Array(items) => {
                Value::Array(items.iter().map(|item| expression_value(item, context, references)).collect())
            }
            _ => Value::String(format!("${{{text}}}")),
        },
    }
}

/// Traversals such as `var.zone`, `local.redis_url` or `scaleway_vpc.main.id` in an expression.
fn references_in(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter(|token| token.contains('.'))
        .filter(|token| {
            let root = token.split('.').next().unwrap_or_default();
            matches!(root, "var" | "local" | "data" | "module")
                || (root.contains('_') && root.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        })
        .map(|token| token.trim_end_matches('.').to_owned())
        .collect()
}

/// What the Terraform sources of the root module say that a plan does not: each local's
/// expression, and each resource attribute's own expression (a plan records one for a whole map
/// of environment variables). For following a value to where it comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    locals: HashMap<String, SourceExpression>,
    /// By `TYPE.NAME`, then by attribute path (`environment_variables.REDIS_URL`).
    attributes: HashMap<String, HashMap<String, SourceExpression>>,
}

/// One expression of the sources: what it refers to, and its value when it needs nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceExpression {
    pub references: Vec<String>,
    pub constant: Option<Value>,
}

impl SourceExpression {
    fn of(expression: &Expression) -> Self {
        let text = hcl::format::to_string(expression).unwrap_or_default();
        let mut references = references_in(&text);
        references.dedup();
        let constant = expression.evaluate(&Context::new()).ok().and_then(|value| serde_json::to_value(value).ok());
        Self { references, constant }
    }
}

impl Sources {
    /// Reads every `.tf` file of `dir`, the root module.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        let mut sources = Self::default();
        for block in blocks(dir)? {
            match (block.identifier.as_str(), block.labels.as_slice()) {
                ("locals", _) => {
                    for attribute in block.body.attributes() {
                        sources.locals.insert(attribute.key.as_str().to_owned(), SourceExpression::of(&attribute.expr));
                    }
                }
                ("resource", [kind, name]) => {
                    let mut attributes = HashMap::new();
                    for attribute in block.body.attributes() {
                        let key = attribute.key.as_str();
                        attributes.insert(key.to_owned(), SourceExpression::of(&attribute.expr));
                        if let Expression::Object(object) = &attribute.expr {
                            for (field, value) in object {
                                let field =
                                    hcl::format::to_string(field).unwrap_or_default().trim_matches('"').to_owned();
                                attributes.insert(format!("{key}.{field}"), SourceExpression::of(value));
                            }
                        }
                    }
                    sources.attributes.insert(format!("{}.{}", kind.as_str(), name.as_str()), attributes);
                }
                _ => {}
            }
        }
        Ok(sources)
    }

    /// `local.NAME`'s expression.
    pub fn local(&self, name: &str) -> Option<&SourceExpression> {
        self.locals.get(name)
    }

    /// The expression of `attribute` (a path such as `environment_variables.REDIS_URL`) of the
    /// root module's resource `address`.
    pub fn attribute(&self, address: &str, attribute: &str) -> Option<&SourceExpression> {
        self.attributes.get(address)?.get(attribute)
    }
}

/// Every `.tf` file of `dir`, sorted by name.
pub(crate) fn tf_files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "tf"))
        .collect();
    files.sort();
    Ok(files)
}

/// The blocks of every `.tf` file of `dir`, in file order.
fn blocks(dir: &Path) -> Result<Vec<Block>, ConfigError> {
    let files = tf_files(dir).map_err(|source| ConfigError::Read { path: dir.display().to_string(), source })?;
    let mut blocks = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        let body: Body =
            hcl::parse(&text).map_err(|source| ConfigError::Parse { path: path.display().to_string(), source })?;
        blocks.extend(body.into_blocks());
    }
    Ok(blocks)
}

impl StaticConfig {
    pub fn resource(&self, address: &str) -> Option<&StaticResource> {
        self.resources.iter().find(|resource| resource.address == address)
    }

    /// The static snapshot: resources in address order.
    pub fn snapshot(&self) -> Vec<StaticResource> {
        let mut resources = self.resources.clone();
        resources.sort_by(|a, b| a.address.cmp(&b.address));
        resources
    }

    /// Every resource as if a first apply created it, with the values a plan could know.
    pub(crate) fn as_plan(&self) -> Plan<'static> {
        let raw = |value: &Value| Cow::Owned(serde_json::value::to_raw_value(value).expect("JSON serialises"));
        let changes = self
            .resources
            .iter()
            .filter(|resource| resource.count != Some(0))
            .map(|resource| ResourceChange {
                address: resource.address.clone(),
                module: None,
                kind: resource.kind.clone(),
                action: Action::Create,
                actions: vec!["create".to_owned()],
                replace_paths: Vec::new(),
                change: Change {
                    after: Some(raw(&unknown_expressions(&Value::Object(
                        resource.attributes.clone().into_iter().collect(),
                    )))),
                    ..Change::default()
                },
            })
            .collect();
        let resources = self
            .resources
            .iter()
            .map(|resource| {
                let expressions: Map<String, Value> = resource
                    .attributes
                    .keys()
                    .map(|key| (key.clone(), json!({"references": resource.references.iter().collect::<Vec<_>>()})))
                    .collect();
                (resource.address.clone(), raw(&Value::Object(expressions)))
            })
            .collect();
        let root = ModuleConfig { resources, calls: HashMap::new(), outputs: HashMap::new() };
        Plan {
            format_version: "1.2".to_owned(),
            terraform_version: None,
            errored: false,
            applyable: Some(true),
            complete: Some(true),
            changes,
            state: Vec::new(),
            state_source: StateSource::Changes,
            configuration: Configuration { modules: HashMap::from([(String::new(), root)]) },
            variables: BTreeMap::new(),
        }
    }
}

/// `${...}` placeholders become "known after apply", as in a real plan.
fn unknown_expressions(value: &Value) -> Value {
    match value {
        Value::String(text) if text.starts_with("${") => Value::String(UNKNOWN.to_owned()),
        Value::Object(fields) => {
            Value::Object(fields.iter().map(|(k, v)| (k.clone(), unknown_expressions(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(unknown_expressions).collect()),
        other => other.clone(),
    }
}

/// The plan policies over the pseudo-plan, plus rules of the provider's schema and of this
/// project that only the configuration shows.
pub fn check(config: &StaticConfig, policies: &PolicyConfig) -> Vec<Violation> {
    let mut violations = policy::check(&config.as_plan(), policies).violations;
    for redis in config.resources.iter().filter(|resource| resource.kind == REDIS) {
        let has = |block: &str| {
            redis.attributes.get(block).and_then(Value::as_array).is_some_and(|blocks| !blocks.is_empty())
        };
        if has("acl") && has("private_network") {
            violations.push(Violation {
                policy: "provider-schema",
                address: redis.address.clone(),
                attribute: "acl".to_owned(),
                reason: "acl conflicts with private_network in the Scaleway provider: a cluster is either public behind an allow-list or private".to_owned(),
                path: Vec::new(),
            });
        }
        if let Some(reason) = cluster_addresses_missing(redis) {
            violations.push(Violation {
                policy: "provider-schema",
                address: redis.address.clone(),
                attribute: "private_network.service_ips".to_owned(),
                reason,
                path: Vec::new(),
            });
        }
        let protected = redis.attributes.get("lifecycle").and_then(|lifecycle| lifecycle.pointer("/0/prevent_destroy"))
            == Some(&Value::Bool(true));
        if !protected {
            violations.push(Violation {
                policy: "redis-in-place",
                address: redis.address.clone(),
                attribute: "lifecycle.prevent_destroy".to_owned(),
                reason:
                    "the Redis cluster must set lifecycle { prevent_destroy = true } so that no plan can destroy it"
                        .to_owned(),
                path: Vec::new(),
            });
        }
    }
    for container in config.resources.iter().filter(|resource| resource.kind == policy::CONTAINER) {
        if !container.references.iter().any(|reference| reference.starts_with("scaleway_vpc_private_network.")) {
            violations.push(Violation {
                policy: "redis-url-private",
                address: container.address.clone(),
                attribute: "private_network_id".to_owned(),
                reason: "the backend is not attached to the private network, so Redis's private endpoint is out of its reach".to_owned(),
                path: Vec::new(),
            });
        }
        let secret =
            container.attributes.get("secret_environment_variables").and_then(|secrets| secrets.get("REDIS_PASSWORD"));
        if secret.is_none() {
            violations.push(Violation {
                policy: "redis-password-secret",
                address: container.address.clone(),
                attribute: "secret_environment_variables.REDIS_PASSWORD".to_owned(),
                reason: "the backend gets no REDIS_PASSWORD secret".to_owned(),
                path: Vec::new(),
            });
        }
    }
    violations.sort();
    violations
}

/// In cluster mode the provider wants one service IP per node, and the private network cannot be
/// edited once the cluster exists: a cluster created with fewer addresses than the largest size
/// could only grow by being replaced.
fn cluster_addresses_missing(redis: &StaticResource) -> Option<String> {
    let size = redis.attributes.get("cluster_size").and_then(Value::as_u64)?;
    if size < policy::CLUSTER_MODE_FROM {
        return None;
    }
    let addresses = redis.attributes.get("private_network")?.pointer("/0/service_ips")?.as_array()?.len();
    let largest = policy::LARGEST_CLUSTER;
    (u64::try_from(addresses).unwrap_or(u64::MAX) < largest).then(|| {
        format!(
            "a cluster of {size} nodes has {addresses} service_ips; its private network cannot be edited after creation, so reserve one address per node of the largest cluster ({largest}) or growing it will replace it"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_in_expressions_and_templates() {
        let found = references_in("\"redis://${var.redis_user_name}@${local.ip}:6379\" + scaleway_vpc.main.id");
        assert_eq!(found, ["var.redis_user_name", "local.ip", "scaleway_vpc.main.id"]);
    }
}
