//! plancheck's command line on plans that used to pass when they must fail, plans it could not
//! read, wrong input, and its output formats. Exit status: 0 pass, 1 violation, 2 unreadable.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use rstest::rstest;
use serde_json::{Value, json};

use crate::{crate_dir, fixture};

fn plancheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plancheck")).current_dir(crate_dir()).args(args).output().expect("plancheck runs")
}

fn fixture_arg(name: &str) -> String {
    format!("tests/fixtures/plans/{name}")
}

/// A violation as `--format json` prints it: policy, address, attribute, reason.
type Found = (String, String, String, String);

/// The violations of a plan, from `--format json`, with the exit status.
fn violations(plan: &str) -> (Option<i32>, Vec<Found>, Value) {
    let output = plancheck(&[plan, "--format", "json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{error}: stdout {}, stderr {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let found = report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let field = |name: &str| v[name].as_str().unwrap().to_owned();
            (field("policy"), field("address"), field("attribute"), field("reason"))
        })
        .collect();
    (output.status.code(), found, report)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

fn migration() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("synthetic-migration.json")).unwrap()).unwrap()
}

#[rstest]
#[case::a_rollback_to_the_public_endpoint(
    "synthetic-rollback-to-public.json",
    &[
        ("redis-private-only", "scaleway_redis_cluster.main", "private_network", "no private network"),
        ("redis-private-only", "scaleway_redis_cluster.main", "acl", "198.51.100.0/24"),
    ]
)]
#[case::the_same_rollback_in_a_child_module(
    "synthetic-redis-in-module-public.json",
    &[
        ("redis-private-only", "module.data.scaleway_redis_cluster.main", "private_network", "no private network"),
        ("redis-private-only", "module.data.scaleway_redis_cluster.main", "acl", "198.51.100.0/24"),
    ]
)]
#[case::an_allow_list_of_the_internet_in_two_halves(
    "synthetic-acl-in-halves.json",
    &[
        ("no-public-acl", "scaleway_redis_cluster.main", "acl", "0.0.0.0/1, 128.0.0.0/1"),
        ("redis-private-only", "scaleway_redis_cluster.main", "acl", "0.0.0.0/1"),
    ]
)]
#[case::redis_forgotten(
    "synthetic-redis-forgotten.json",
    &[("redis-in-place", "scaleway_redis_cluster.main", "resource", "leave Terraform's management")]
)]
#[case::its_network_forgotten(
    "synthetic-network-forgotten.json",
    &[("private-network-present", "scaleway_vpc_private_network.main", "resource", "leave Terraform's management")]
)]
#[case::an_errored_plan("synthetic-errored.json", &[("plan-applyable", "(plan)", "errored", "errors")])]
#[case::a_plan_terraform_cannot_apply("synthetic-not-applyable.json", &[("plan-applyable", "(plan)", "applyable", "cannot be applied")])]
#[case::an_unknown_action_on_redis(
    "synthetic-unknown-action-on-redis.json",
    &[("redis-in-place", "scaleway_redis_cluster.main", "resource", "[\"archive\"]")]
)]
#[case::a_child_module_container_on_the_public_endpoint(
    "synthetic-module-container-public.json",
    &[("redis-url-private", "module.app.scaleway_container.backend", "environment_variables.REDIS_URL", "var.redis_url")]
)]
fn a_plan_that_leaves_redis_exposed_or_unjudgeable_fails(
    #[case] file: &str,
    #[case] expected: &[(&str, &str, &str, &str)],
) {
    let (status, found, _) = violations(&fixture_arg(file));
    assert_eq!(status, Some(1), "{found:#?}");
    for (policy, address, attribute, reason) in expected {
        assert!(
            found.iter().any(|(p, a, at, r)| p == policy && a == address && at == attribute && r.contains(reason)),
            "no {policy} on {address} ({attribute}) mentioning {reason:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn the_module_container_message_names_the_reference_it_follows() {
    let (_, found, _) = violations(&fixture_arg("synthetic-module-container-public.json"));
    assert!(found[0].3.contains("scaleway_redis_cluster.main.public_network"), "{found:#?}");
}

#[rstest]
#[case::unrelated_resources_forgotten_or_with_unknown_actions("synthetic-unrelated-forget-and-unknown-action.json")]
#[case::a_number_beyond_f64("synthetic-huge-number.json")]
#[case::a_refresh_only_plan("synthetic-refresh-only.json")]
#[case::a_container_in_a_child_module("synthetic-module-container.json")]
// `show -json` prints a sensitive value in clear: it is judged like any other.
#[case::a_sensitive_redis_url_on_the_private_endpoint("synthetic-redis-url-sensitive.json")]
fn a_valid_plan_that_keeps_redis_private_passes(#[case] file: &str) {
    let output = plancheck(&[&fixture_arg(file)]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn an_unknown_action_on_an_unrelated_resource_is_named_in_a_note() {
    let output = plancheck(&[&fixture_arg("synthetic-unrelated-forget-and-unknown-action.json")]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("note: scaleway_domain_record.www has change actions [\"archive\"] that plancheck does not know"),
        "{text}"
    );
}

#[test]
fn a_number_beyond_f64_is_kept_digit_for_digit() {
    let (_, _, report) = violations(&fixture_arg("synthetic-huge-number.json"));
    let namespace =
        report["resources"].as_array().unwrap().iter().find(|r| r["type"] == "scaleway_container_namespace");
    let quota = namespace.unwrap()["attributes"]["quota"].to_string();
    assert!(quota.contains(&format!("1{}", "0".repeat(400))), "{quota}");
}

#[test]
fn a_refresh_only_plan_is_judged_from_its_prior_state() {
    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("synthetic-refresh-only.json")).unwrap()).unwrap();
    let resources = plan["prior_state"]["values"]["root_module"]["resources"].as_array_mut().unwrap();
    let redis = resources.iter_mut().find(|r| r["type"] == "scaleway_redis_cluster").unwrap();
    redis["values"]["private_network"] = json!([]);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "refresh-public.json", plan.to_string().as_bytes());
    let (status, found, _) = violations(&path);
    assert_eq!(status, Some(1));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!((found[0].0.as_str(), found[0].2.as_str()), ("redis-private-only", "private_network"));
}

#[rstest]
#[case::utf8_with_a_bom(&[0xEF, 0xBB, 0xBF], Encoding::Utf8)]
#[case::utf16_little_endian_as_windows_powershell_writes_it(&[0xFF, 0xFE], Encoding::Utf16Le)]
#[case::utf16_big_endian(&[0xFE, 0xFF], Encoding::Utf16Be)]
fn a_plan_saved_by_windows_tools_is_read(#[case] bom: &[u8], #[case] encoding: Encoding) {
    let text = std::fs::read_to_string(fixture("synthetic-migration.json")).unwrap();
    let mut bytes = bom.to_vec();
    match encoding {
        Encoding::Utf8 => bytes.extend_from_slice(text.as_bytes()),
        Encoding::Utf16Le => bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes)),
        Encoding::Utf16Be => bytes.extend(text.encode_utf16().flat_map(u16::to_be_bytes)),
    }
    let dir = tempfile::tempdir().unwrap();
    let output = plancheck(&[&write(dir.path(), "plan.json", &bytes)]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}

#[derive(Debug, Clone, Copy)]
enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
}

/// The migration with a resource whose input nests `depth` lists deep.
fn nested(depth: usize) -> String {
    let mut plan = migration();
    let input = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let placeholder = "\"__nested__\"";
    plan["resource_changes"].as_array_mut().unwrap().push(json!({
        "address": "terraform_data.deep", "mode": "managed", "type": "terraform_data", "name": "deep",
        "change": {"actions": ["create"], "before": null, "after": {"input": "__nested__"}, "after_unknown": {"id": true}, "before_sensitive": false, "after_sensitive": {}}
    }));
    plan.to_string().replacen(placeholder, &input, 1)
}

#[rstest]
#[case::deeper_than_serde_json_s_default_limit(300)]
#[case::a_hundred_thousand_levels(100_000)]
fn a_deeply_nested_value_is_read_without_overflowing_the_stack(#[case] depth: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "deep.json", nested(depth).as_bytes());
    for format in ["text", "json"] {
        let output = plancheck(&[&path, "--format", format]);
        assert_eq!(output.status.code(), Some(0), "--format {format}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

#[rstest]
#[case::no_scaleway_resources("wrong-input-no-scaleway.json", "no Scaleway resources: is this infra/'s plan?")]
#[case::a_state_instead_of_a_plan("wrong-input-state.json", "a Terraform state, not a plan")]
#[case::a_raw_state_file("wrong-input-tfstate.json", "a terraform.tfstate file, not a plan")]
#[case::resource_changes_of_the_wrong_type(
    "wrong-input-wrong-type.json",
    "resource_changes is an object, expected an array"
)]
fn wrong_input_exits_2_with_one_line_naming_the_problem(#[case] file: &str, #[case] message: &str) {
    let output = plancheck(&[&fixture_arg(file)]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(&format!("plancheck: tests/fixtures/plans/{file}: ")), "{stderr}");
    assert!(stderr.contains(message), "{stderr}");
}

#[test]
fn a_reader_that_stops_early_gets_a_quiet_exit() {
    let mut plan = migration();
    let changes = plan["resource_changes"].as_array_mut().unwrap();
    for i in 0..20_000 {
        changes.push(json!({
            "address": format!("scaleway_instance_ip.ip_{i}"), "mode": "managed", "type": "scaleway_instance_ip", "name": format!("ip_{i}"),
            "change": {"actions": ["create"], "before": null, "after": {"zone": "fr-par-1"}, "after_unknown": {"address": true}, "before_sensitive": false, "after_sensitive": {}}
        }));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "many.json", plan.to_string().as_bytes());
    let mut child = Command::new(env!("CARGO_BIN_EXE_plancheck"))
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // The reader is gone, as with `plancheck plan.json | head -1`.
    let output = child.wait_with_output().unwrap();
    assert!(first.starts_with("plan "), "{first}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(matches!(output.status.code(), Some(0 | 1)), "{:?}", output.status);
}

#[test]
fn sarif_output_is_sarif_2_1_0_with_one_result_per_violation() {
    let output = plancheck(&[
        &fixture_arg("synthetic-rollback-to-public.json"),
        "--format",
        "sarif",
        "--source-dir",
        "../infra",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for result in results {
        let index = usize::try_from(result["ruleIndex"].as_u64().unwrap()).unwrap();
        let rule = &sarif["runs"][0]["tool"]["driver"]["rules"][index];
        assert_eq!(rule["id"], result["ruleId"], "ruleIndex points at the result's rule");
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "../infra/db.tf", "on the resource's block");
        assert!(location["region"]["startLine"].as_u64().unwrap() > 1);
    }
    insta::assert_json_snapshot!("sarif_rollback_to_public", sarif);
}

#[test]
fn github_output_is_one_error_annotation_per_violation() {
    let output = plancheck(&[
        &fixture_arg("synthetic-rollback-to-public.json"),
        "--format",
        "github",
        "--source-dir",
        "../infra",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    let errors: Vec<&str> = text.lines().filter(|line| line.starts_with("::error ")).collect();
    assert_eq!(errors.len(), 2, "{text}");
    insta::assert_snapshot!("github_rollback_to_public", text);
}

#[test]
fn text_is_the_default_format_and_can_be_named() {
    let default = plancheck(&[&fixture_arg("synthetic-migration.json")]);
    let named = plancheck(&[&fixture_arg("synthetic-migration.json"), "--format", "text"]);
    assert_eq!(named.status.code(), Some(0), "{}", String::from_utf8_lossy(&named.stderr));
    assert_eq!(default.stdout, named.stdout);
}

#[test]
fn a_door_to_redis_shows_its_path_from_the_internet_in_every_format() {
    let plan = fixture_arg("synthetic-pat-rule-to-redis.json");
    let hops = [
        "internet",
        "scaleway_vpc_public_gateway.gw (51.15.20.30:16379)",
        "scaleway_vpc_public_gateway_pat_rule.redis",
        "172.16.0.10:6379",
        "scaleway_redis_cluster.main",
    ];
    let path = hops.join(" → ");
    let run = |format: &str| {
        let output = plancheck(&[&plan, "--format", format]);
        assert_eq!(output.status.code(), Some(1), "--format {format}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };

    assert!(run("text").contains(&format!("path: {path}")), "text");
    assert!(run("github").contains(&format!("%0Apath: {path}")), "github: one annotation, the path on its own line");

    let json: Value = serde_json::from_str(&run("json")).unwrap();
    let door = json["violations"].as_array().unwrap().iter().find(|v| v["policy"] == "no-door-to-redis").unwrap();
    assert_eq!(door["path"], serde_json::json!(hops));

    let sarif: Value = serde_json::from_str(&run("sarif")).unwrap();
    let result = &sarif["runs"][0]["results"][0];
    assert!(result["message"]["text"].as_str().unwrap().contains(&path), "{result}");
    let flow: Vec<&str> = result["codeFlows"][0]["threadFlows"][0]["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hop| hop["location"]["message"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(flow, hops, "SARIF's code flow walks the path hop by hop");
}

#[test]
fn the_readme_lists_every_modeled_type_and_every_policy() {
    let readme = std::fs::read_to_string(crate_dir().join("README.md")).unwrap();
    let rows: Vec<&str> = readme.lines().filter(|line| line.starts_with("| `")).collect();
    let listed = |name: &str| rows.iter().any(|row| row.starts_with(&format!("| `{name}` |")));
    for door in plancheck::policy::doors::DOORS {
        assert!(listed(door.kind), "plancheck/README.md's table of doors lacks {}", door.kind);
    }
    let output = plancheck(&[&fixture_arg("synthetic-migration.json"), "--format", "sarif"]);
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    let policies = sarif["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    for id in policies.iter().filter_map(|rule| rule["id"].as_str()).filter(|id| *id != "provider-schema") {
        assert!(listed(id), "plancheck/README.md's table of policies lacks {id}");
    }
}
