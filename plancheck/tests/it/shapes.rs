//! Redis's three shapes (standalone, high availability, cluster mode): which changes of shape a
//! plan may make, and what the backend must be told in each.

use plancheck::{self as plan, Plan, PolicyConfig, Violation};
use rstest::rstest;
use serde_json::{Value, json};

use crate::{fixture, workspace};

fn violations(plan: &Value) -> Vec<Violation> {
    let text = plan.to_string();
    plan::check(&Plan::parse(&text).unwrap(), &PolicyConfig::default()).violations
}

/// A cluster of three nodes growing to six, in place: the good plan the others are made from.
fn cluster_grows() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("synthetic-cluster-grows.json")).unwrap()).unwrap()
}

/// Applies `edit` to the values a plan leaves for `kind`: its change's `after` and its planned value.
fn edit_end(plan: &mut Value, kind: &str, edit: impl Fn(&mut Value)) {
    for change in plan["resource_changes"].as_array_mut().unwrap().iter_mut().filter(|change| change["type"] == kind) {
        edit(&mut change["change"]["after"]);
    }
    let planned = plan["planned_values"]["root_module"]["resources"].as_array_mut().unwrap();
    for resource in planned.iter_mut().filter(|resource| resource["type"] == kind) {
        edit(&mut resource["values"]);
    }
}

fn found(violations: &[Violation]) -> Vec<(&str, &str)> {
    violations.iter().map(|v| (v.policy, v.attribute.as_str())).collect()
}

#[test]
fn growing_a_cluster_from_three_to_six_nodes_in_place_passes() {
    let plan = cluster_grows();
    let redis = &plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == plan::policy::REDIS)
        .unwrap()["change"];
    assert_eq!((&redis["before"]["cluster_size"], &redis["after"]["cluster_size"]), (&json!(3), &json!(6)));
    assert_eq!(redis["actions"], json!(["update"]));
    assert_eq!(violations(&plan), []);
}

#[test]
fn a_change_of_shape_that_replaces_redis_fails() {
    let text = std::fs::read_to_string(fixture("synthetic-shape-change-replaces.json")).unwrap();
    let violations = plan::check(&Plan::parse(&text).unwrap(), &PolicyConfig::default()).violations;
    assert_eq!(found(&violations), [("redis-in-place", "cluster_size")], "{violations:#?}");
    assert!(violations[0].reason.contains("would be replaced"), "{}", violations[0]);
}

#[rstest]
#[case::standalone(1)]
#[case::high_availability(2)]
#[case::the_smallest_cluster(3)]
#[case::the_largest_cluster(6)]
fn a_redis_without_a_private_network_fails_in_every_shape(#[case] size: u64) {
    let mut plan = cluster_grows();
    edit_end(&mut plan, plan::policy::REDIS, |redis| {
        redis["cluster_size"] = json!(size);
        redis["private_network"] = json!([]);
    });
    let changes = plan["resource_changes"].as_array_mut().unwrap();
    let redis = changes.iter_mut().find(|change| change["type"] == plan::policy::REDIS).unwrap();
    for markers in ["after_unknown", "after_sensitive"] {
        redis["change"][markers]["private_network"] = json!([]);
    }
    let violations = violations(&plan);
    assert!(
        violations.iter().any(|v| v.policy == "redis-private-only" && v.reason.contains("no private network")),
        "{violations:#?}"
    );
}

#[rstest]
#[case::standalone_on_a_cluster(
    Some("standalone"),
    6,
    "REDIS_MODE is standalone, but scaleway_redis_cluster.main has cluster_size 6"
)]
#[case::no_mode_on_a_cluster(None, 3, "REDIS_MODE is standalone")]
#[case::cluster_on_a_high_availability_pair(Some("cluster"), 2, "which Scaleway runs in standalone mode")]
fn a_backend_told_the_wrong_redis_mode_fails(#[case] mode: Option<&str>, #[case] size: u64, #[case] reason: &str) {
    let mut plan = cluster_grows();
    edit_end(&mut plan, plan::policy::REDIS, |redis| redis["cluster_size"] = json!(size));
    edit_end(&mut plan, plan::policy::CONTAINER, |container| {
        let variables = container["environment_variables"].as_object_mut().unwrap();
        match mode {
            Some(mode) => variables.insert("REDIS_MODE".to_owned(), json!(mode)),
            None => variables.remove("REDIS_MODE"),
        };
    });
    let violations = violations(&plan);
    assert_eq!(found(&violations), [("redis-mode-matches", "environment_variables.REDIS_MODE")], "{violations:#?}");
    assert!(violations[0].reason.contains(reason), "{}", violations[0]);
}

#[test]
fn every_seed_of_a_cluster_redis_url_must_be_a_private_address_of_redis() {
    let mut plan = cluster_grows();
    edit_end(&mut plan, plan::policy::CONTAINER, |container| {
        container["environment_variables"]["REDIS_URL"] =
            json!("redis://gift_genie@172.16.0.10:6379/0,redis://gift_genie@51.159.10.20:6379/0");
    });
    let violations = violations(&plan);
    assert_eq!(found(&violations), [("redis-url-private", "environment_variables.REDIS_URL")], "{violations:#?}");
    assert!(violations[0].reason.contains("51.159.10.20 is a public address"), "{}", violations[0]);
}

#[rstest]
#[case::standalone(1, "standalone", 1)]
#[case::high_availability(2, "standalone", 1)]
#[case::the_smallest_cluster(3, "cluster", 6)]
#[case::the_largest_cluster(6, "cluster", 6)]
fn every_redis_shape_of_infra_satisfies_every_policy_statically(
    #[case] size: u64,
    #[case] mode: &str,
    #[case] addresses: usize,
) {
    let config =
        plan::config::load_with(&workspace().join("infra"), &[("redis_cluster_size", hcl::Value::from(size))]).unwrap();
    let violations = plan::config::check(&config, &PolicyConfig::default());
    assert!(violations.is_empty(), "{violations:#?}");

    let redis = config.resource("scaleway_redis_cluster.main").unwrap();
    assert_eq!(redis.attributes["cluster_size"], json!(size));
    let service_ips = redis.attributes["private_network"][0]["service_ips"].as_array().unwrap();
    assert_eq!(service_ips.len(), addresses, "{service_ips:?}");
    let variables = &config.resource("scaleway_container.backend").unwrap().attributes["environment_variables"];
    assert_eq!(variables["REDIS_MODE"], mode);
    let seeds: Vec<&str> = variables["REDIS_URL"].as_str().unwrap().split(',').collect();
    assert_eq!(seeds.len(), addresses, "{seeds:?}");
    assert_eq!(seeds[0], "redis://gift_genie@172.16.0.10:6379/0");
}

#[rstest]
#[case::one_address_per_node(3, "a cluster of 3 nodes has 3 service_ips")]
#[case::no_room_to_grow(4, "a cluster of 4 nodes has 4 service_ips")]
fn a_cluster_created_without_addresses_for_six_nodes_breaks_the_provider_schema(
    #[case] size: usize,
    #[case] reason: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let ips: Vec<String> = (0..size).map(|i| format!("\"172.16.0.{}/22\"", 10 + i)).collect();
    std::fs::write(
        dir.path().join("db.tf"),
        format!(
            r#"
resource "scaleway_vpc_private_network" "main" {{
  ipv4_subnet {{ subnet = "172.16.0.0/22" }}
}}
resource "scaleway_redis_cluster" "main" {{
  cluster_size = {size}
  private_network {{
    id          = scaleway_vpc_private_network.main.id
    service_ips = [{}]
  }}
  lifecycle {{ prevent_destroy = true }}
}}
"#,
            ips.join(", ")
        ),
    )
    .unwrap();
    let config = plan::config::load(dir.path()).unwrap();
    let violations = plan::config::check(&config, &PolicyConfig::default());
    let schema: Vec<_> = violations.iter().filter(|v| v.policy == "provider-schema").collect();
    assert_eq!(schema.len(), 1, "{violations:#?}");
    assert_eq!(schema[0].attribute, "private_network.service_ips");
    assert!(schema[0].reason.contains(reason), "{}", schema[0]);
}

#[test]
fn the_old_cluster_of_a_reviewed_migration_may_be_deleted_once_named_with_allow_destroy() {
    let text = std::fs::read_to_string(fixture("synthetic-redis-deleted.json")).unwrap();
    let plan = Plan::parse(&text).unwrap();
    let refused = plan::check(&plan, &PolicyConfig::default()).violations;
    assert!(refused.iter().any(|v| v.policy == "redis-in-place"), "{refused:#?}");

    let mut reviewed = PolicyConfig::default();
    reviewed.allow_destroy.insert("scaleway_redis_cluster.main".to_owned());
    let violations = plan::check(&plan, &reviewed).violations;
    assert!(
        !violations.iter().any(|v| v.policy == "redis-in-place" || v.policy == "no-stateful-destroy"),
        "{violations:#?}"
    );
}
