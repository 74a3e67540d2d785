//! Terraform and OpenTofu plans: read the JSON that `show -json` prints, normalise it into a stable
//! resource snapshot, and check it against the private-network migration's policies.
//!
//! The same policies also run statically over `infra/*.tf` ([`config`]), so that a change to the
//! Terraform is caught by `cargo test` on a machine with no cloud credentials.

pub mod cli;
pub mod config;
pub mod input;
pub mod json;
pub mod plan;
pub mod policy;
pub mod report;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

pub use plan::{Action, Plan, ResourceChange};
pub use policy::{Findings, PolicyConfig, Violation, check};

/// Shown instead of values Terraform only learns when it applies.
pub(crate) const UNKNOWN: &str = "(known after apply)";
pub(crate) const SENSITIVE: &str = "(sensitive)";
pub(crate) const REDACTED_TIMESTAMP: &str = "(timestamp)";
pub(crate) const REDACTED_VERSION: &str = "(version)";

/// Attributes that change on every apply or identify an instance rather than describe it.
const NOISE: [&str; 4] = ["id", "timeouts", "project_id", "organization_id"];

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Encoding(String),
    #[error("not a Terraform plan in JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error(
        "plan format_version {0:?} is not supported: this reads format 1.x (terraform show -json, tofu show -json)"
    )]
    UnsupportedFormat(String),
    #[error("not a Terraform plan: {0}")]
    Malformed(String),
    /// Terraform JSON, but not a plan: a state.
    #[error("{0}")]
    NotAPlan(String),
    #[error("no Scaleway resources: is this infra/'s plan? (plancheck checks the Scaleway Redis private network)")]
    NotScaleway,
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
pub fn snapshot(plan: &Plan<'_>) -> Vec<ResourceSnapshot> {
    sorted(plan.changes.iter().map(|change| {
        ResourceSnapshot {
            attributes: change
                .values()
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(key, _)| !NOISE.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), redact(key, value)))
                .collect(),
            ..outline(change)
        }
    }))
}

/// The snapshot without attributes: what a summary lists, at no cost for the values.
pub fn summary(plan: &Plan<'_>) -> Vec<ResourceSnapshot> {
    sorted(plan.changes.iter().map(outline))
}

fn outline(change: &ResourceChange<'_>) -> ResourceSnapshot {
    ResourceSnapshot {
        address: change.address.clone(),
        kind: change.kind.clone(),
        action: change.action,
        replace_paths: change.replace_paths.clone(),
        attributes: BTreeMap::new(),
    }
}

fn sorted(resources: impl Iterator<Item = ResourceSnapshot>) -> Vec<ResourceSnapshot> {
    let mut resources: Vec<ResourceSnapshot> = resources.collect();
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

    #[test]
    fn the_snapshot_drops_noise_and_redacts_what_changes_by_itself() {
        let text = json!({"format_version": "1.2", "resource_changes": [{
            "address": "scaleway_redis_cluster.main", "mode": "managed", "type": "scaleway_redis_cluster",
            "change": {
                "actions": ["update"],
                "before": {}, "after": {"id": "fr-par-1/abc", "updated_at": "2026-01-01T00:00:00Z", "version": "7.2.11", "name": "main"},
                "after_unknown": {}, "after_sensitive": {}
            }
        }]})
        .to_string();
        let resources = snapshot(&Plan::parse(&text).unwrap());
        assert_eq!(
            serde_json::to_value(&resources[0].attributes).unwrap(),
            json!({"name": "main", "updated_at": REDACTED_TIMESTAMP, "version": REDACTED_VERSION})
        );
    }
}
