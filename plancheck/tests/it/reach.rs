//! Who can reach Redis after a plan, judged from values: every door from the internet (a public
//! gateway's PAT rule, a load balancer's backend, the cluster's own public endpoint, a resource
//! of a type plancheck does not model that holds Redis's address), allow-lists and targets known
//! only after apply, `REDIS_URL` followed through attributes, module inputs, variables and
//! locals, both maps of environment variables, the backend's own reach, and plans whose
//! `planned_values` leave out what `resource_changes` keeps.
//!
//! Each hostile plan is the good migration plan with one edit a hurried change or a careless
//! module could make.

use plancheck::{self as plan, Plan, PolicyConfig, Violation};
use serde_json::{Value, json};

use crate::fixture;

/// The good migration plan, to edit.
struct Hostile(Value);

const REDIS: &str = "scaleway_redis_cluster.main";
const BACKEND: &str = "scaleway_container.backend";

impl Hostile {
    fn migration() -> Self {
        Self(serde_json::from_str(&std::fs::read_to_string(fixture("synthetic-migration.json")).unwrap()).unwrap())
    }

    /// Adds a resource the plan creates, with its values, the values only known after apply,
    /// and its configuration's expressions.
    fn add(mut self, address: &str, after: &Value, after_unknown: &Value, expressions: &Value) -> Self {
        let (kind, name) = address.split_once('.').unwrap();
        self.0["resource_changes"].as_array_mut().unwrap().push(json!({
            "address": address, "mode": "managed", "type": kind, "name": name,
            "provider_name": "registry.terraform.io/scaleway/scaleway",
            "change": {"actions": ["create"], "before": null, "after": after, "after_unknown": after_unknown,
                       "before_sensitive": false, "after_sensitive": {}}
        }));
        self.0["planned_values"]["root_module"]["resources"].as_array_mut().unwrap().push(json!({
            "address": address, "mode": "managed", "type": kind, "name": name,
            "provider_name": "registry.terraform.io/scaleway/scaleway", "schema_version": 0,
            "values": after, "sensitive_values": {}
        }));
        self.0["configuration"]["root_module"]["resources"].as_array_mut().unwrap().push(json!({
            "address": address, "mode": "managed", "type": kind, "name": name,
            "provider_config_key": "scaleway", "expressions": expressions, "schema_version": 0
        }));
        self
    }

    /// Edits a resource's change: its `after`, its `after_unknown` and its planned values alike.
    fn edit(mut self, address: &str, edit: impl Fn(&mut Value, &mut Value)) -> Self {
        for change in self.0["resource_changes"].as_array_mut().unwrap().iter_mut().filter(|c| c["address"] == address)
        {
            let change = &mut change["change"];
            let mut unknown = change["after_unknown"].take();
            edit(&mut change["after"], &mut unknown);
            change["after_unknown"] = unknown;
        }
        for resource in self.planned().iter_mut().filter(|r| r["address"] == address) {
            edit(&mut resource["values"], &mut Value::Null);
        }
        self
    }

    fn planned(&mut self) -> &mut Vec<Value> {
        self.0["planned_values"]["root_module"]["resources"].as_array_mut().unwrap()
    }

    /// Sets the configuration's expression of `attribute` on `address` to references `refs`.
    fn references(mut self, address: &str, attribute: &str, refs: &[&str]) -> Self {
        let resources = self.0["configuration"]["root_module"]["resources"].as_array_mut().unwrap();
        let resource = resources.iter_mut().find(|r| r["address"] == address).unwrap();
        resource["expressions"][attribute] = json!({"references": refs});
        self
    }

    /// The backend's `REDIS_URL` known only after apply, built from `refs`.
    fn url_from(self, refs: &[&str]) -> Self {
        self.edit(BACKEND, |after, unknown| {
            after["environment_variables"].as_object_mut().unwrap().remove("REDIS_URL");
            if unknown.is_object() {
                unknown["environment_variables"] = json!({"REDIS_URL": true});
            }
        })
        .references(BACKEND, "environment_variables", refs)
    }

    fn variable(mut self, name: &str, value: &Value) -> Self {
        self.0["variables"][name] = json!({"value": value});
        self
    }

    fn violations(&self) -> Vec<Violation> {
        self.violations_with(&PolicyConfig::default())
    }

    fn violations_with(&self, config: &PolicyConfig) -> Vec<Violation> {
        let text = self.0.to_string();
        // `PLANCHECK_KEEP_PLANS=DIR` keeps each hostile plan, named after its test, to run any
        // build of plancheck on.
        if let Some(dir) = std::env::var_os("PLANCHECK_KEEP_PLANS") {
            let name = std::thread::current().name().unwrap_or("plan").replace("::", "-");
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.json")), &text).unwrap();
        }
        plan::check(&Plan::parse(&text).unwrap(), config).violations
    }

    fn notes(&self) -> Vec<String> {
        let text = self.0.to_string();
        plan::check(&Plan::parse(&text).unwrap(), &PolicyConfig::default()).notes
    }
}

/// The one violation of `policy`, or a failure that shows them all.
fn the<'a>(violations: &'a [Violation], policy: &str) -> &'a Violation {
    let found: Vec<&Violation> = violations.iter().filter(|v| v.policy == policy).collect();
    assert_eq!(found.len(), 1, "one {policy} expected: {violations:#?}");
    found[0]
}

fn public_gateway(hostile: Hostile) -> Hostile {
    hostile
        .add(
            "scaleway_vpc_public_gateway_ip.gw", &json!({"address": "51.15.20.30", "id": "fr-par-1/ip"}), &json!({}), &json!({}))
        .add(
            "scaleway_vpc_public_gateway.gw",
            &json!({"id": "fr-par-1/gw", "ip_id": "fr-par-1/ip", "bastion_enabled": false, "type": "VPC-GW-S"}),
            &json!({}),
            &json!({"ip_id": {"references": ["scaleway_vpc_public_gateway_ip.gw.id", "scaleway_vpc_public_gateway_ip.gw"]}}),
        )
}

fn pat_rule(private_ip: &Value, unknown: &Value, refs: &[&str]) -> Hostile {
    public_gateway(Hostile::migration()).add(
        "scaleway_vpc_public_gateway_pat_rule.redis",
        &json!({"gateway_id": "fr-par-1/gw", "private_ip": private_ip, "private_port": 6379, "public_port": 16379, "protocol": "tcp"}),
        unknown,
        &json!({"gateway_id": {"references": ["scaleway_vpc_public_gateway.gw.id", "scaleway_vpc_public_gateway.gw"]},
               "private_ip": {"references": refs}}),
    )
}

#[test]
fn the_good_migration_plan_passes() {
    assert_eq!(Hostile::migration().violations(), []);
}

#[test]
fn a_pat_rule_that_forwards_to_redis_is_a_door_with_its_path() {
    let violations = pat_rule(&json!("172.16.0.10"), &json!({}), &[]).violations();
    let door = the(&violations, "no-door-to-redis");
    assert_eq!(door.address, "scaleway_vpc_public_gateway_pat_rule.redis");
    assert_eq!(
        door.path,
        [
            "internet",
            "scaleway_vpc_public_gateway.gw (51.15.20.30:16379)",
            "scaleway_vpc_public_gateway_pat_rule.redis",
            "172.16.0.10:6379",
            REDIS,
        ]
    );
}

#[test]
fn a_pat_rule_to_redis_port_on_an_address_known_only_after_apply_cannot_be_verified() {
    let violations = pat_rule(&Value::Null, &json!({"private_ip": true}), &["var.target"]).violations();
    let door = the(&violations, "no-door-to-redis");
    assert!(door.reason.contains("cannot be verified") && door.reason.contains("var.target"), "{door}");
}

#[test]
fn a_pat_rule_to_an_address_built_from_redis_private_ip_is_a_door() {
    let refs = [
        "scaleway_redis_cluster.main.private_ip[0].address",
        "scaleway_redis_cluster.main.private_ip[0]",
        "scaleway_redis_cluster.main",
    ];
    let violations = pat_rule(&Value::Null, &json!({"private_ip": true}), &refs).violations();
    let door = the(&violations, "no-door-to-redis");
    assert!(door.reason.contains("private_ip"), "{door}");
    assert_eq!(door.path.last().map(String::as_str), Some(REDIS));
}

#[test]
fn a_pat_rule_to_another_host_is_no_door() {
    let hostile = public_gateway(Hostile::migration()).add(
        "scaleway_vpc_public_gateway_pat_rule.ssh",
        &json!({"gateway_id": "fr-par-1/gw", "private_ip": "172.16.0.50", "private_port": 22, "public_port": 2202}),
        &json!({}),
        &json!({}),
    );
    assert_eq!(hostile.violations(), []);
}

#[test]
fn a_load_balancer_whose_backend_targets_redis_is_a_door_with_its_path() {
    let hostile = Hostile::migration()
        .add(
            "scaleway_lb.front", &json!({"id": "fr-par-1/lb", "ip_address": "51.15.9.9"}), &json!({}), &json!({}))
        .add(
            "scaleway_lb_backend.redis",
            &json!({"id": "fr-par-1/backend", "lb_id": "fr-par-1/lb", "server_ips": ["172.16.0.10"], "forward_port": 6379, "forward_protocol": "tcp"}),
            &json!({}),
            &json!({"lb_id": {"references": ["scaleway_lb.front.id", "scaleway_lb.front"]}}),
        )
        .add(
            "scaleway_lb_frontend.redis",
            &json!({"lb_id": "fr-par-1/lb", "backend_id": "fr-par-1/backend", "inbound_port": 6379}),
            &json!({}),
            &json!({"backend_id": {"references": ["scaleway_lb_backend.redis.id", "scaleway_lb_backend.redis"]},
                   "lb_id": {"references": ["scaleway_lb.front.id", "scaleway_lb.front"]}}),
        );
    let violations = hostile.violations();
    let door = the(&violations, "no-door-to-redis");
    assert_eq!(door.address, "scaleway_lb_backend.redis");
    assert_eq!(
        door.path,
        [
            "internet",
            "scaleway_lb.front (51.15.9.9)",
            "scaleway_lb_frontend.redis (:6379)",
            "scaleway_lb_backend.redis",
            "172.16.0.10:6379",
            REDIS
        ]
    );
}

#[test]
fn a_cluster_the_plan_leaves_unchanged_with_a_public_endpoint_is_public() {
    let hostile = Hostile::migration().edit(REDIS, |after, _| {
        after["public_network"] = json!([{"id": "x", "ips": ["51.159.10.20"], "port": 6379}]);
    });
    let mut plan = hostile.0.clone();
    plan["resource_changes"].as_array_mut().unwrap().iter_mut().filter(|c| c["address"] == REDIS).for_each(|c| {
        c["change"]["actions"] = json!(["no-op"]);
        c["change"]["before"] = c["change"]["after"].clone();
        c["change"]["after_unknown"] = json!({});
    });
    let violations = Hostile(plan).violations();
    let door = the(&violations, "no-door-to-redis");
    assert_eq!(door.address, REDIS);
    assert_eq!(door.path, ["internet", "51.159.10.20:6379 (public endpoint)", REDIS]);
}

#[test]
fn a_server_with_a_public_address_that_holds_redis_address_is_reported() {
    let hostile = Hostile::migration().add(
            "scaleway_instance_server.jump",
        &json!({"public_ips": [{"address": "51.15.3.3"}], "user_data": {"cloud-init": "socat TCP-LISTEN:6379,fork TCP:172.16.0.10:6379"}}),
        &json!({}),
        &json!({}),
    );
    let violations = hostile.violations();
    let door = the(&violations, "no-door-to-redis");
    assert_eq!(door.address, "scaleway_instance_server.jump");
    assert!(door.reason.contains("172.16.0.10") && door.reason.contains("user_data"), "{door}");
}

#[test]
fn a_resource_of_a_type_plancheck_does_not_model_that_holds_redis_address_is_reported() {
    let hostile = Hostile::migration().add(
        "scaleway_edge_services_backend_stage.cache",
        &json!({"pipeline_id": "p", "lb_backend_config": [{"lb_config": [{"ip": "172.16.0.10", "port": 6379}]}]}),
        &json!({}),
        &json!({}),
    );
    let violations = hostile.violations();
    let door = the(&violations, "no-door-to-redis");
    assert!(door.reason.contains("does not model"), "{door}");
}

#[test]
fn the_ssh_bastion_of_infra_is_developer_access_and_passes() {
    let hostile = public_gateway(Hostile::migration())
        .edit("scaleway_vpc_public_gateway.gw", |after, _| {
            after["bastion_enabled"] = json!(true);
            after["bastion_port"] = json!(61000);
        })
        .add(
            "scaleway_vpc_gateway_network.bastion",
            &json!({"gateway_id": "fr-par-1/gw", "private_network_id": "fr-par/pn", "enable_masquerade": false}),
            &json!({}),
            &json!({}),
        );
    assert_eq!(hostile.violations(), []);
}

#[test]
fn an_allow_list_known_only_after_apply_cannot_be_verified_and_names_its_source() {
    let hostile = Hostile::migration()
        .edit(REDIS, |after, unknown| {
            after.as_object_mut().unwrap().remove("acl");
            if unknown.is_object() {
                unknown["acl"] = json!(true);
            }
        })
        .references(REDIS, "acl", &["var.allowed_ranges"]);
    let violations = hostile.violations();
    let acl = the(&violations, "redis-private-only");
    assert!(acl.reason.contains("cannot be verified") && acl.reason.contains("var.allowed_ranges"), "{acl}");
}

/// The references Terraform records for `scaleway_redis_cluster.main.private_ip[0].address`.
const PRIVATE_IP: [&str; 4] = [
    "scaleway_redis_cluster.main.private_ip[0].address",
    "scaleway_redis_cluster.main.private_ip[0]",
    "scaleway_redis_cluster.main.private_ip",
    "scaleway_redis_cluster.main",
];

#[test]
fn a_redis_url_built_from_the_clusters_real_private_ip_attribute_passes() {
    let mut refs = PRIVATE_IP.to_vec();
    refs.push("var.redis_user_name");
    let hostile = Hostile::migration().variable("redis_user_name", &json!("gift_genie")).url_from(&refs);
    assert_eq!(hostile.violations(), []);
}

#[test]
fn a_redis_url_built_from_a_public_flexible_ip_named_private_network_proxy_fails() {
    let hostile = Hostile::migration()
        .add(
            "scaleway_flexible_ip.private_network_proxy",
            &json!({"id": "fr-par-1/f"}),
            &json!({"ip_address": true}),
            &json!({}),
        )
        .url_from(&[
            "scaleway_flexible_ip.private_network_proxy.ip_address",
            "scaleway_flexible_ip.private_network_proxy",
        ]);
    let violations = hostile.violations();
    let url = the(&violations, "redis-url-private");
    assert!(
        url.reason.contains("scaleway_flexible_ip.private_network_proxy.ip_address") && url.reason.contains("public"),
        "{url}"
    );
}

#[test]
fn a_redis_url_whose_conditional_has_a_public_branch_fails() {
    let mut refs = PRIVATE_IP.to_vec();
    refs.extend(["var.use_public", "var.public_host"]);
    let hostile = Hostile::migration()
        .variable("use_public", &json!(false))
        .variable("public_host", &json!("51.159.10.20"))
        .url_from(&refs);
    let url = the(&hostile.violations(), "redis-url-private").clone();
    assert!(url.reason.contains("51.159.10.20") && url.reason.contains("var.public_host"), "{url}");
}

#[test]
fn a_redis_url_passed_into_a_module_is_followed_to_the_callers_expression() {
    let mut plan = Hostile::migration()
        .add(
            "scaleway_flexible_ip.private_network_proxy",
            &json!({"id": "fr-par-1/f"}),
            &json!({"ip_address": true}),
            &json!({}),
        )
        .url_from(&["var.redis_url"])
        .0;
    // The backend moves into module.app, which its caller feeds.
    for change in plan["resource_changes"].as_array_mut().unwrap().iter_mut().filter(|c| c["address"] == BACKEND) {
        change["address"] = json!("module.app.scaleway_container.backend");
        change["module_address"] = json!("module.app");
    }
    let planned = plan["planned_values"]["root_module"]["resources"].as_array_mut().unwrap();
    let position = planned.iter().position(|r| r["address"] == BACKEND).unwrap();
    let mut backend = planned.remove(position);
    backend["address"] = json!("module.app.scaleway_container.backend");
    plan["planned_values"]["root_module"]["child_modules"] = json!([{"address": "module.app", "resources": [backend]}]);
    let resources = plan["configuration"]["root_module"]["resources"].as_array_mut().unwrap();
    let position = resources.iter().position(|r| r["address"] == BACKEND).unwrap();
    let mut backend = resources.remove(position);
    // The module takes its network as an input too, fed the caller's network.
    backend["expressions"]["private_network_id"] = json!({"references": ["var.private_network_id"]});
    plan["configuration"]["root_module"]["module_calls"] = json!({"app": {
        "source": "./app",
        "expressions": {
            "redis_url": {"references": ["scaleway_flexible_ip.private_network_proxy.ip_address", "scaleway_flexible_ip.private_network_proxy"]},
            "private_network_id": {"references": ["scaleway_vpc_private_network.main.id", "scaleway_vpc_private_network.main"]}
        },
        "module": {"resources": [backend]}
    }});
    let violations = Hostile(plan).violations();
    assert!(
        violations.iter().all(|violation| violation.policy != "backend-reaches-redis"),
        "the network followed through the module's input is Redis's: {violations:?}"
    );
    let url = the(&violations, "redis-url-private");
    assert_eq!(url.address, "module.app.scaleway_container.backend");
    assert!(
        url.reason.contains("var.redis_url")
            && url.reason.contains("scaleway_flexible_ip.private_network_proxy.ip_address"),
        "{url}"
    );
}

#[test]
fn a_redis_url_built_from_a_local_cannot_be_verified_without_the_sources_and_is_followed_with_them() {
    let hostile = Hostile::migration().url_from(&["local.redis_url"]);
    let violations = hostile.violations();
    let url = the(&violations, "redis-url-private");
    assert!(url.reason.contains("local.redis_url") && url.reason.contains("--source-dir"), "{url}");

    let private = tempfile::tempdir().unwrap();
    std::fs::write(
        private.path().join("main.tf"),
        "locals {\n  host = scaleway_redis_cluster.main.private_ip[0].address\n  redis_url = \"redis://${local.host}:6379\"\n}\n",
    )
    .unwrap();
    let with = |dir: &std::path::Path| PolicyConfig {
        sources: Some(plan::config::Sources::load(dir).unwrap()),
        ..PolicyConfig::default()
    };
    assert_eq!(hostile.violations_with(&with(private.path())), []);

    let public = tempfile::tempdir().unwrap();
    std::fs::write(
        public.path().join("main.tf"),
        "locals {\n  redis_url = \"redis://${scaleway_flexible_ip.proxy.ip_address}:6379\"\n}\n",
    )
    .unwrap();
    let violations = hostile.violations_with(&with(public.path()));
    let url = the(&violations, "redis-url-private");
    assert!(
        url.reason.contains("local.redis_url") && url.reason.contains("scaleway_flexible_ip.proxy.ip_address"),
        "{url}"
    );
}

fn secret_url(plain: Option<&str>, secret: Option<&str>) -> Hostile {
    Hostile::migration().edit(BACKEND, |after, _| {
        let variables = after["environment_variables"].as_object_mut().unwrap();
        variables.remove("REDIS_URL");
        if let Some(plain) = plain {
            variables.insert("REDIS_URL".to_owned(), json!(plain));
        }
        if let Some(secret) = secret {
            after["secret_environment_variables"]["REDIS_URL"] = json!(secret);
        }
    })
}

#[test]
fn a_private_redis_url_in_the_secret_map_alone_passes() {
    assert_eq!(secret_url(None, Some("redis://gift_genie@172.16.0.10:6379/0")).violations(), []);
}

#[test]
fn a_public_redis_url_in_the_secret_map_fails() {
    let violations = secret_url(None, Some("redis://gift_genie@51.159.10.20:6379/0")).violations();
    let url = the(&violations, "redis-url-private");
    assert_eq!(url.attribute, "secret_environment_variables.REDIS_URL");
    assert!(url.reason.contains("51.159.10.20 is a public address"), "{url}");
}

#[test]
fn two_redis_urls_that_disagree_fail() {
    let violations =
        secret_url(Some("redis://gift_genie@172.16.0.10:6379/0"), Some("redis://gift_genie@172.16.0.10:6379/1"))
            .violations();
    let url = the(&violations, "redis-url-private");
    assert!(url.reason.contains("disagree"), "{url}");
}

#[test]
fn a_backend_on_another_private_network_than_redis_is_an_outage() {
    let hostile = Hostile::migration()
        .add(
            "scaleway_vpc_private_network.other",
            &json!({"ipv4_subnet": [{"subnet": "172.16.4.0/22"}]}),
            &json!({"id": true}),
            &json!({}),
        )
        .references(
            BACKEND,
            "private_network_id",
            &["scaleway_vpc_private_network.other.id", "scaleway_vpc_private_network.other"],
        );
    let violations = hostile.violations();
    let reach = the(&violations, "backend-reaches-redis");
    assert!(reach.reason.contains("scaleway_vpc_private_network.other") && reach.reason.contains("outage"), "{reach}");
}

#[test]
fn a_backend_on_no_private_network_is_an_outage() {
    let hostile = Hostile::migration().edit(BACKEND, |after, unknown| {
        after["private_network_id"] = Value::Null;
        if unknown.is_object() {
            unknown.as_object_mut().unwrap().remove("private_network_id");
        }
    });
    let violations = hostile.violations();
    let reach = the(&violations, "backend-reaches-redis");
    assert!(reach.reason.contains("no private network") && reach.reason.contains("outage"), "{reach}");
}

#[test]
fn a_redis_url_the_backend_refuses_is_an_outage_in_the_backends_words() {
    let violations = secret_url(Some("http://172.16.0.10:6379/0"), None).violations();
    let url = the(&violations, "backend-reaches-redis");
    assert!(
        url.reason.contains("expected the redis:// or rediss:// scheme, got http://") && url.reason.contains("outage"),
        "{url}"
    );
}

#[test]
fn a_public_cluster_that_planned_values_leave_out_is_judged_from_its_change() {
    let mut hostile = Hostile::migration().edit(REDIS, |after, _| {
        after["private_network"] = json!([]);
        after["acl"] = json!([{"ip": "0.0.0.0/0", "description": "all"}]);
    });
    hostile.planned().retain(|resource| resource["address"] != REDIS);
    let violations = hostile.violations();
    assert!(violations.iter().any(|v| v.policy == "no-public-acl" && v.address == REDIS), "{violations:#?}");
    let notes = hostile.notes();
    assert!(notes.iter().any(|note| note.contains("inconsistent") && note.contains(REDIS)), "{notes:?}");
}

#[test]
fn a_good_plan_whose_planned_values_leave_resources_out_passes_with_a_note() {
    let mut hostile = Hostile::migration();
    hostile.planned().retain(|resource| resource["address"] != REDIS && resource["address"] != BACKEND);
    assert_eq!(hostile.violations(), []);
    assert!(hostile.notes().iter().any(|note| note.contains("inconsistent")), "{:?}", hostile.notes());
}
