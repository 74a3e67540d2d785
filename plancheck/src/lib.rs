//! Terraform and OpenTofu plans: read the JSON that `show -json` prints, normalise it into a stable
//! resource snapshot, and check it against the private-network migration's policies.
//!
//! The same policies also run statically over `infra/*.tf` ([`config`]), so that a change to the
//! Terraform is caught by `cargo test` on a machine with no cloud credentials.

pub mod config;
pub mod policy;
pub mod report;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

pub use policy::{PolicyConfig, Violation, check};

/// Shown instead of values Terraform only learns when it applies.
pub const UNKNOWN: &str = "(known after apply)";
pub const SENSITIVE: &str = "(sensitive)";
pub const REDACTED_TIMESTAMP: &str = "(timestamp)";
pub const REDACTED_VERSION: &str = "(version)";

/// Attributes that change on every apply or identify an instance rather than describe it.
const NOISE: [&str; 4] = ["id", "timeouts", "project_id", "organization_id"];

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("not a Terraform plan in JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error(
        "plan format_version {0:?} is not supported: this reads format 1.x (terraform show -json, tofu show -json)"
    )]
    UnsupportedFormat(String),
    #[error("not a Terraform plan: {0}")]
    Malformed(String),
}

/// What a plan does to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    NoOp,
    Read,
    Create,
    Update,
    /// Delete then create, or create then delete (`create_before_destroy`).
    Replace,
    Delete,
}

impl Action {
    fn from_actions(actions: &[String]) -> Result<Self, PlanError> {
        let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
        Ok(match actions.as_slice() {
            ["no-op"] => Self::NoOp,
            ["read"] => Self::Read,
            ["create"] => Self::Create,
            ["update"] => Self::Update,
            ["delete"] => Self::Delete,
            ["delete", "create"] | ["create", "delete"] => Self::Replace,
            other => return Err(PlanError::Malformed(format!("unknown change actions {other:?}"))),
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::NoOp => "no-op",
            Self::Read => "read",
            Self::Create => "create",
            Self::Update => "update",
            Self::Replace => "replace",
            Self::Delete => "delete",
        }
    }

    /// True when the resource, and whatever it holds, is gone after apply, even if briefly.
    pub fn destroys(self) -> bool {
        matches!(self, Self::Replace | Self::Delete)
    }
}

/// One entry of `resource_changes`.
#[derive(Debug, Clone)]
pub struct ResourceChange {
    pub address: String,
    pub kind: String,
    pub action: Action,
    /// The attribute paths that force a replacement, as Terraform reports them.
    pub replace_paths: Vec<String>,
    /// The values after apply (before, for a delete), with unknown and sensitive values marked.
    pub values: Value,
}

/// A parsed plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub format_version: String,
    pub terraform_version: Option<String>,
    pub changes: Vec<ResourceChange>,
    /// The `configuration` section, for the expressions behind values unknown at plan time.
    pub configuration: Value,
}

impl Plan {
    pub fn parse(text: &str) -> Result<Self, PlanError> {
        let document: Value = serde_json::from_str(text)?;
        let format_version = document["format_version"]
            .as_str()
            .ok_or_else(|| {
                PlanError::Malformed("no format_version: is this `terraform show -json PLAN` output?".to_owned())
            })?
            .to_owned();
        if format_version.split('.').next() != Some("1") {
            return Err(PlanError::UnsupportedFormat(format_version));
        }
        let changes = document["resource_changes"]
            .as_array()
            .map(|changes| changes.iter().filter(|change| change["mode"] != "data").map(parse_change).collect())
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            format_version,
            terraform_version: document["terraform_version"].as_str().map(str::to_owned),
            changes,
            configuration: document["configuration"].clone(),
        })
    }

    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a ResourceChange> + 'a {
        self.changes.iter().filter(move |change| change.kind == kind)
    }

    /// The references behind one attribute of a resource in `configuration`, such as
    /// `local.redis_url` for a container's environment variables.
    pub fn references(&self, address: &str, attribute: &str) -> Vec<String> {
        let resources = self.configuration["root_module"]["resources"].as_array().cloned().unwrap_or_default();
        resources
            .iter()
            .find(|resource| resource["address"] == address)
            .and_then(|resource| resource["expressions"][attribute]["references"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|reference| reference.as_str().map(str::to_owned))
            .collect()
    }
}

fn parse_change(change: &Value) -> Result<ResourceChange, PlanError> {
    let address = change["address"]
        .as_str()
        .ok_or_else(|| PlanError::Malformed("a resource change has no address".to_owned()))?;
    let kind = change["type"].as_str().ok_or_else(|| PlanError::Malformed(format!("{address} has no type")))?;
    let details = &change["change"];
    let actions: Vec<String> = serde_json::from_value(details["actions"].clone())
        .map_err(|_| PlanError::Malformed(format!("{address} has no change.actions list")))?;
    let action = Action::from_actions(&actions)?;
    let values = if action == Action::Delete {
        render(&details["before"], &Value::Null, &details["before_sensitive"])
    } else {
        render(&details["after"], &details["after_unknown"], &details["after_sensitive"])
    };
    let replace_paths =
        details["replace_paths"].as_array().map(|paths| paths.iter().map(path_label).collect()).unwrap_or_default();
    Ok(ResourceChange { address: address.to_owned(), kind: kind.to_owned(), action, replace_paths, values })
}

/// `["private_network", 0, "id"]` as `private_network[0].id`.
fn path_label(path: &Value) -> String {
    use std::fmt::Write as _;
    let mut label = String::new();
    for step in path.as_array().into_iter().flatten() {
        let _ = match step {
            Value::Number(index) => write!(label, "[{index}]"),
            Value::String(key) if label.is_empty() => write!(label, "{key}"),
            Value::String(key) => write!(label, ".{key}"),
            _ => Ok(()),
        };
    }
    label
}

/// Merges a value with Terraform's parallel `*_unknown` and `*_sensitive` trees.
fn render(value: &Value, unknown: &Value, sensitive: &Value) -> Value {
    if unknown == &Value::Bool(true) {
        return Value::String(UNKNOWN.to_owned());
    }
    if sensitive == &Value::Bool(true) {
        return Value::String(SENSITIVE.to_owned());
    }
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            if let Value::Object(unknown_fields) = unknown {
                keys.extend(unknown_fields.keys());
            }
            keys.sort();
            keys.dedup();
            let rendered: Map<String, Value> = keys
                .into_iter()
                .map(|key| {
                    (
                        key.clone(),
                        render(&fields.get(key).cloned().unwrap_or(Value::Null), &unknown[key], &sensitive[key]),
                    )
                })
                .filter(|(_, value)| !value.is_null())
                .collect();
            Value::Object(rendered)
        }
        Value::Array(items) => {
            let length = items.len().max(unknown.as_array().map_or(0, Vec::len));
            Value::Array(
                (0..length)
                    .map(|index| render(items.get(index).unwrap_or(&Value::Null), &unknown[index], &sensitive[index]))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// One resource in a stable, reviewable form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceSnapshot {
    pub address: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replace_paths: Vec<String>,
    pub attributes: BTreeMap<String, Value>,
}

/// The plan as a snapshot: every resource change in address order, with ids and other
/// per-apply noise dropped, and timestamps, versions, sensitive and unknown values redacted.
pub fn snapshot(plan: &Plan) -> Vec<ResourceSnapshot> {
    let mut resources: Vec<ResourceSnapshot> = plan
        .changes
        .iter()
        .map(|change| ResourceSnapshot {
            address: change.address.clone(),
            kind: change.kind.clone(),
            action: change.action,
            replace_paths: change.replace_paths.clone(),
            attributes: change
                .values
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(key, _)| !NOISE.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), redact(key, value)))
                .collect(),
        })
        .collect();
    resources.sort_by(|a, b| a.address.cmp(&b.address));
    resources
}

/// Redacts values that change without anyone changing the configuration.
fn redact(key: &str, value: &Value) -> Value {
    let known = value.as_str().is_none_or(|text| text != UNKNOWN && text != SENSITIVE);
    if known && (key.ends_with("_at") || key == "timestamp") {
        Value::String(REDACTED_TIMESTAMP.to_owned())
    } else if known && (key == "version" || key.ends_with("_version")) {
        Value::String(REDACTED_VERSION.to_owned())
    } else {
        match value {
            Value::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), redact(k, v))).collect()),
            Value::Array(items) => Value::Array(items.iter().map(|item| redact("", item)).collect()),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plan(changes: &Value) -> String {
        json!({"format_version": "1.2", "terraform_version": "1.11.4", "resource_changes": changes}).to_string()
    }

    #[test]
    fn a_future_plan_format_is_refused_by_name() {
        let error = Plan::parse(r#"{"format_version": "2.0"}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "plan format_version \"2.0\" is not supported: this reads format 1.x (terraform show -json, tofu show -json)"
        );
    }

    #[test]
    fn something_else_than_a_plan_is_refused() {
        assert!(matches!(Plan::parse("{}"), Err(PlanError::Malformed(_))));
        assert!(matches!(Plan::parse("resource \"x\" {}"), Err(PlanError::NotJson(_))));
    }

    #[test]
    fn unknown_and_sensitive_values_are_marked_and_noise_is_dropped() {
        let text = plan(&json!([{
            "address": "scaleway_redis_cluster.main", "mode": "managed", "type": "scaleway_redis_cluster", "name": "main",
            "change": {
                "actions": ["update"],
                "before": {}, "after": {"id": "fr-par-1/abc", "password": "hunter2", "private_network": [{"service_ips": ["172.16.0.10/22"]}], "updated_at": "2026-01-01T00:00:00Z", "version": "7.2.11", "acl": null},
                "after_unknown": {"private_ips": true, "private_network": [{"endpoint_id": true, "service_ips": [false]}]},
                "after_sensitive": {"password": true}
            }
        }]));
        let resources = snapshot(&Plan::parse(&text).unwrap());
        assert_eq!(
            serde_json::to_value(&resources[0].attributes).unwrap(),
            json!({
                "password": SENSITIVE,
                "private_ips": UNKNOWN,
                "private_network": [{"endpoint_id": UNKNOWN, "service_ips": ["172.16.0.10/22"]}],
                "updated_at": REDACTED_TIMESTAMP,
                "version": REDACTED_VERSION,
            })
        );
    }

    #[test]
    fn both_orders_of_delete_and_create_are_a_replacement() {
        for actions in [json!(["delete", "create"]), json!(["create", "delete"])] {
            let text = plan(
                &json!([{"address": "a.b", "type": "a", "mode": "managed", "change": {"actions": actions, "before": {}, "after": {}}}]),
            );
            assert_eq!(Plan::parse(&text).unwrap().changes[0].action, Action::Replace);
        }
    }
}
