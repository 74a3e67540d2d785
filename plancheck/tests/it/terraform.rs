//! The Terraform in `infra/` and the plan validator: static checks of the configuration, the
//! synthetic migration plans, real plan JSON from the local terraform binary, and plancheck's CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use plancheck::{self as plan, Plan, PolicyConfig};
use rstest::rstest;

use crate::{crate_dir, fixture, workspace};

/// The local terraform, or a failure that says how to get it: these tests never skip.
fn terraform() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("terraform")).find(|path| path.is_file()))
        .unwrap_or_else(|| {
            panic!("terraform is not on PATH: install Terraform 1.5+ (or link `tofu` as terraform) to check infra/")
        })
}

/// Runs terraform in `dir`, whatever it answers.
fn try_terraform(dir: &Path, args: &[&str]) -> Output {
    Command::new(terraform())
        .current_dir(dir)
        .args(args)
        // No version check against checkpoint.hashicorp.com, no prompts, no colour.
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .env("NO_COLOR", "1")
        .output()
        .expect("terraform runs")
}

fn run_terraform(dir: &Path, args: &[&str]) -> Output {
    let output = try_terraform(dir, args);
    assert!(
        output.status.success(),
        "terraform {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Each resource's address and action, as plancheck reads them from `plan`.
fn actions(plan: &Plan) -> Vec<(String, &'static str)> {
    plan::snapshot(plan).into_iter().map(|r| (r.address, r.action.label())).collect()
}

fn expected_snapshots<T>(check: impl FnOnce() -> T) -> T {
    insta::with_settings!({snapshot_path => "../fixtures/expected", prepend_module_to_snapshot => false}, { check() })
}

#[test]
fn infra_is_formatted_as_terraform_fmt_wants() {
    // On failure, run_terraform prints fmt's diff of every file it would change.
    run_terraform(&workspace().join("infra"), &["fmt", "-check", "-recursive", "-diff"]);
}

#[test]
fn the_static_snapshot_of_infra_matches_the_expected_one() {
    let config = plan::config::load(&workspace().join("infra")).unwrap();
    expected_snapshots(|| insta::assert_json_snapshot!("infra-static", config.snapshot()));
}

#[test]
fn infra_satisfies_every_policy_statically() {
    let config = plan::config::load(&workspace().join("infra")).unwrap();
    let violations = plan::config::check(&config, &PolicyConfig::default());
    assert!(violations.is_empty(), "{violations:#?}");
    // And the values that matter are the ones the migration promised.
    let backend = config.resource("scaleway_container.backend").unwrap();
    assert_eq!(backend.attributes["environment_variables"]["REDIS_URL"], "redis://gift_genie@172.16.0.10:6379/0");
    let network = config.resource("scaleway_vpc_private_network.main").unwrap();
    assert_eq!(network.attributes["ipv4_subnet"][0]["subnet"], "172.16.0.0/22");
}

/// The provider rule that the migration summary's "keep the public endpoint as a backup" breaks.
#[test]
fn a_redis_cluster_with_both_an_acl_and_a_private_network_breaks_the_provider_schema() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("db.tf"),
        r#"
resource "scaleway_vpc_private_network" "main" {
  ipv4_subnet { subnet = "172.16.0.0/22" }
}
resource "scaleway_redis_cluster" "main" {
  acl { ip = "0.0.0.0/0" }
  private_network { id = scaleway_vpc_private_network.main.id }
}
"#,
    )
    .unwrap();
    let config = plan::config::load(dir.path()).unwrap();
    let policies: Vec<_> =
        plan::config::check(&config, &PolicyConfig::default()).into_iter().map(|v| (v.policy, v.attribute)).collect();
    assert!(policies.contains(&("provider-schema", "acl".to_owned())), "{policies:?}");
    assert!(policies.contains(&("no-public-acl", "acl".to_owned())), "{policies:?}");
    assert!(policies.contains(&("redis-private-only", "acl".to_owned())), "{policies:?}");
    assert!(policies.contains(&("redis-in-place", "lifecycle.prevent_destroy".to_owned())), "{policies:?}");
}

/// infra/'s own variables, judged by terraform itself: with no provider to download, a
/// `terraform_data` stands in for the resources that read them.
#[test]
fn terraform_accepts_every_redis_shape_scaleway_offers_and_refuses_the_others() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(workspace().join("infra/variables.tf"), dir.path().join("variables.tf")).unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        "resource \"terraform_data\" \"redis\" {\n  input = [var.redis_cluster_size, var.redis_wait_replicas]\n}\n",
    )
    .unwrap();
    run_terraform(dir.path(), &["init", "-input=false", "-no-color"]);
    let plan = |size: &str| {
        let size = format!("redis_cluster_size={size}");
        try_terraform(
            dir.path(),
            &["plan", "-input=false", "-no-color", "-var", "redis_password=twelve-chars", "-var", &size],
        )
    };
    for size in ["1", "2", "3", "4", "5", "6"] {
        let output = plan(size);
        assert!(output.status.success(), "size {size}: {}", String::from_utf8_lossy(&output.stderr));
    }
    for size in ["0", "7", "2.5"] {
        let output = plan(size);
        // terraform wraps its messages to the terminal's width.
        let stderr = String::from_utf8_lossy(&output.stderr).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(!output.status.success(), "size {size} was accepted");
        assert!(
            stderr.contains("must be 1 (standalone), 2 (high availability) or 3 to 6 (cluster mode)"),
            "size {size}: {stderr}"
        );
    }
}

#[test]
fn each_synthetic_plan_normalises_to_its_expected_snapshot() {
    insta::glob!("../fixtures/plans", "synthetic-*.json", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let plan = Plan::parse(&text).unwrap();
        expected_snapshots(|| insta::assert_json_snapshot!("plan", plan::snapshot(&plan)));
    });
}

#[rstest]
#[case::migration("synthetic-migration.json", &[])]
#[case::redis_replaced("synthetic-redis-replaced.json", &[("redis-in-place", "scaleway_redis_cluster.main", "tls_enabled", "would be replaced")])]
#[case::redis_deleted("synthetic-redis-deleted.json", &[("redis-in-place", "scaleway_redis_cluster.main", "resource", "would be deleted")])]
#[case::public_acl("synthetic-public-acl.json", &[("no-public-acl", "scaleway_redis_cluster.main", "acl", "0.0.0.0/0"), ("redis-private-only", "scaleway_redis_cluster.main", "acl", "0.0.0.0/0"), ("redis-private-only", "scaleway_redis_cluster.main", "private_network", "no private network")])]
#[case::redis_url_public("synthetic-redis-url-public.json", &[("redis-url-private", "scaleway_container.backend", "environment_variables.REDIS_URL", "51.159.10.20 is a public address")])]
#[case::network_missing("synthetic-private-network-missing.json", &[("private-network-present", "scaleway_vpc_private_network.*", "resource", "no private network")])]
fn each_bad_plan_fails_with_its_own_message(#[case] file: &str, #[case] expected: &[(&str, &str, &str, &str)]) {
    let text = std::fs::read_to_string(fixture(file)).unwrap();
    let violations = plan::check(&Plan::parse(&text).unwrap(), &PolicyConfig::default()).violations;
    assert_eq!(violations.len(), expected.len(), "{violations:#?}");
    for (violation, (policy, address, attribute, reason)) in violations.iter().zip(expected) {
        assert_eq!(
            (violation.policy, violation.address.as_str(), violation.attribute.as_str()),
            (*policy, *address, *attribute)
        );
        assert!(violation.reason.contains(reason), "{violation}");
    }
}

/// Real plan JSON, from terraform itself: a provider-free configuration (`terraform_data`) applied
/// once, then changed so that the plan replaces, deletes, creates and keeps resources.
#[test]
fn real_terraform_plan_json_is_read_with_replace_and_delete_actions() {
    let dir = tempfile::tempdir().unwrap();
    let config = |redis_generation: &str, with_legacy: bool| {
        let legacy = if with_legacy {
            "resource \"terraform_data\" \"legacy\" {\n  input = \"public-endpoint\"\n}\n"
        } else {
            "resource \"terraform_data\" \"cache\" {\n  input = \"new\"\n}\n"
        };
        format!(
            "resource \"terraform_data\" \"network\" {{\n  input = \"172.16.0.0/22\"\n}}\n\
             resource \"terraform_data\" \"redis\" {{\n  input            = {{ private_ip = \"172.16.0.10\" }}\n  triggers_replace = [\"{redis_generation}\"]\n}}\n{legacy}"
        )
    };
    std::fs::write(dir.path().join("main.tf"), config("v1", true)).unwrap();
    run_terraform(dir.path(), &["init", "-input=false", "-no-color"]);
    run_terraform(dir.path(), &["apply", "-auto-approve", "-input=false", "-no-color"]);
    std::fs::write(dir.path().join("main.tf"), config("v2", false)).unwrap();
    run_terraform(dir.path(), &["plan", "-input=false", "-no-color", "-out=plan.bin"]);
    let json = run_terraform(dir.path(), &["show", "-json", "plan.bin"]).stdout;

    let json = String::from_utf8(json).unwrap();
    let plan = Plan::parse(&json).unwrap();
    assert!(plan.format_version.starts_with("1."), "{}", plan.format_version);
    assert_eq!(
        actions(&plan),
        [
            ("terraform_data.cache".to_owned(), "create"),
            ("terraform_data.legacy".to_owned(), "delete"),
            ("terraform_data.network".to_owned(), "no-op"),
            ("terraform_data.redis".to_owned(), "replace"),
        ]
    );
    insta::assert_json_snapshot!("terraform_data_plan", plan::snapshot(&plan));

    let mut policies = PolicyConfig::default();
    policies.stateful_types.insert("terraform_data".to_owned());
    let flagged: Vec<String> = plan::check(&plan, &policies)
        .violations
        .into_iter()
        .filter(|v| v.policy == "no-stateful-destroy")
        .map(|v| v.address)
        .collect();
    assert_eq!(flagged, ["terraform_data.legacy", "terraform_data.redis"]);
    policies.allow_destroy.insert("terraform_data.legacy".to_owned());
    let flagged: Vec<String> = plan::check(&plan, &policies)
        .violations
        .into_iter()
        .filter(|v| v.policy == "no-stateful-destroy")
        .map(|v| v.address)
        .collect();
    assert_eq!(flagged, ["terraform_data.redis"], "an allowed destroy is not reported");
}

/// Real plans of every kind the local terraform makes without a provider: a `removed` block that
/// forgets a resource, a data source, a child module, and a refresh-only plan.
#[test]
fn real_terraform_plans_with_forget_data_sources_modules_and_refresh_only_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let module = "variable \"url\" {\n  type = string\n}\nresource \"terraform_data\" \"container\" {\n  input = { REDIS_URL = var.url }\n}\n";
    std::fs::create_dir(dir.path().join("app")).unwrap();
    let other_state = r#"{"version": 4, "terraform_version": "1.11.4", "serial": 1, "lineage": "00000000-0000-0000-0000-000000000000", "outputs": {}, "resources": []}"#;
    std::fs::write(dir.path().join("other.tfstate"), other_state).unwrap();
    std::fs::write(dir.path().join("app/main.tf"), module).unwrap();
    let root = |gone: &str| {
        format!(
            "resource \"terraform_data\" \"keep\" {{\n  input = \"a\"\n}}\n{gone}\
             module \"app\" {{\n  source = \"./app\"\n  url    = terraform_data.keep.output\n}}\n\
             data \"terraform_remote_state\" \"self\" {{\n  backend = \"local\"\n  config  = {{ path = \"other.tfstate\" }}\n}}\n"
        )
    };
    std::fs::write(dir.path().join("main.tf"), root("resource \"terraform_data\" \"gone\" {\n  input = \"b\"\n}\n"))
        .unwrap();
    run_terraform(dir.path(), &["init", "-input=false", "-no-color"]);
    run_terraform(dir.path(), &["apply", "-auto-approve", "-input=false", "-no-color"]);
    let plan_json = |extra: &[&str]| {
        let mut args = vec!["plan", "-input=false", "-no-color", "-out=plan.bin"];
        args.extend_from_slice(extra);
        run_terraform(dir.path(), &args);
        String::from_utf8(run_terraform(dir.path(), &["show", "-json", "plan.bin"]).stdout).unwrap()
    };

    let refresh_only = plan_json(&["-refresh-only"]);
    let refresh_only = Plan::parse(&refresh_only).expect("terraform's own plan is readable");
    assert!(plan::snapshot(&refresh_only).is_empty(), "a refresh-only plan changes nothing");
    assert_eq!(refresh_only.end_state().len(), 3, "its end state is the refreshed prior state");

    std::fs::write(
        dir.path().join("main.tf"),
        root("removed {\n  from = terraform_data.gone\n  lifecycle {\n    destroy = false\n  }\n}\n"),
    )
    .unwrap();
    let forget = plan_json(&[]);
    let forget = Plan::parse(&forget).expect("terraform's own plan is readable");
    assert_eq!(
        actions(&forget),
        [
            ("module.app.terraform_data.container".to_owned(), "no-op"),
            ("terraform_data.gone".to_owned(), "forget"),
            ("terraform_data.keep".to_owned(), "no-op"),
        ]
    );
}

fn plancheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plancheck")).current_dir(crate_dir()).args(args).output().expect("plancheck runs")
}

#[test]
fn plancheck_exits_0_for_a_good_plan_and_1_for_violations() {
    let good = plancheck(&["tests/fixtures/plans/synthetic-migration.json"]);
    assert_eq!(good.status.code(), Some(0), "{}", String::from_utf8_lossy(&good.stdout));
    let bad = plancheck(&["tests/fixtures/plans/synthetic-redis-deleted.json"]);
    assert_eq!(bad.status.code(), Some(1));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(
        text.contains("x redis-in-place: scaleway_redis_cluster.main (resource): the Redis cluster would be deleted"),
        "{text}"
    );
}

#[test]
fn plancheck_exits_2_on_unreadable_input_with_one_line_naming_it() {
    let missing = plancheck(&["tests/fixtures/plans/no-such-plan.json"]);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.starts_with("plancheck: cannot read tests/fixtures/plans/no-such-plan.json"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let future = dir.path().join("future.json");
    std::fs::write(&future, r#"{"format_version": "2.0", "resource_changes": []}"#).unwrap();
    let unsupported = plancheck(&[future.to_str().unwrap()]);
    assert_eq!(unsupported.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unsupported.stderr).contains("format_version \"2.0\" is not supported"));
}

#[test]
fn plancheck_json_output_lists_resources_and_violations() {
    let output = plancheck(&["tests/fixtures/plans/synthetic-public-acl.json", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["violations"][0]["policy"], "no-public-acl");
    assert_eq!(report["violations"][0]["attribute"], "acl");
    assert_eq!(report["resources"].as_array().unwrap().len(), 5);
}

#[test]
fn plancheck_compares_with_an_expected_snapshot_and_shows_a_readable_diff() {
    let expected = "tests/fixtures/expected/plan@synthetic-migration.json.snap";
    let matching = plancheck(&["tests/fixtures/plans/synthetic-migration.json", "--expect", expected]);
    assert_eq!(matching.status.code(), Some(0), "{}", String::from_utf8_lossy(&matching.stdout));
    assert!(String::from_utf8_lossy(&matching.stdout).contains("snapshot: matches the expected one"));

    let drifted = plancheck(&["tests/fixtures/plans/synthetic-redis-url-public.json", "--expect", expected]);
    assert_eq!(drifted.status.code(), Some(1));
    let text = String::from_utf8_lossy(&drifted.stdout);
    assert!(text.contains("-        \"REDIS_URL\": \"redis://gift_genie@172.16.0.10:6379/0\""), "{text}");
    assert!(text.contains("+        \"REDIS_URL\": \"redis://gift_genie@51.159.10.20:6379/0\""), "{text}");
}

/// The shapes the data flow reads, from terraform itself: a variable's value, a resource's
/// references (a conditional lists every branch's), a module call's inputs, a module's output,
/// and a local, which the plan names but never defines.
#[test]
fn real_terraform_plans_record_the_references_plancheck_follows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("app")).unwrap();
    std::fs::write(
        dir.path().join("app/main.tf"),
        "variable \"url\" {\n  type = string\n}\n\
         resource \"terraform_data\" \"container\" {\n  input = { REDIS_URL = var.url }\n}\n\
         output \"url\" {\n  value = terraform_data.container.output\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        "variable \"public\" {\n  type    = bool\n  default = false\n}\n\
         locals {\n  host = \"172.16.0.10\"\n}\n\
         resource \"terraform_data\" \"redis\" {\n  input = \"172.16.0.10\"\n}\n\
         resource \"terraform_data\" \"proxy\" {\n  input = \"51.15.0.1\"\n}\n\
         resource \"terraform_data\" \"backend\" {\n  input = var.public ? terraform_data.proxy.output : local.host\n}\n\
         module \"app\" {\n  source = \"./app\"\n  url    = \"redis://${terraform_data.redis.output}:6379\"\n}\n\
         resource \"terraform_data\" \"reader\" {\n  input = module.app.url\n}\n",
    )
    .unwrap();
    run_terraform(dir.path(), &["init", "-input=false", "-no-color"]);
    run_terraform(dir.path(), &["plan", "-input=false", "-no-color", "-out=plan.bin"]);
    let json = String::from_utf8(run_terraform(dir.path(), &["show", "-json", "plan.bin"]).stdout).unwrap();
    let plan = Plan::parse(&json).expect("terraform's own plan is readable");
    let references = |expression: Option<&serde_json::value::RawValue>| {
        let mut found = plancheck::plan::references_in(expression.expect("the expression is recorded"));
        found.sort();
        found
    };

    assert_eq!(plan.variables["public"], serde_json::json!(false), "a variable is read as its value");
    assert_eq!(
        references(plan.configuration.expression(None, "terraform_data.backend", &["input"])),
        ["local.host", "terraform_data.proxy", "terraform_data.proxy.output", "var.public"],
        "a conditional lists every branch's references, and a local by name only"
    );
    assert_eq!(
        references(plan.configuration.input("", "app", "url")),
        ["terraform_data.redis", "terraform_data.redis.output"],
        "a module input records the caller's references"
    );
    assert_eq!(
        references(plan.configuration.expression(
            Some("module.app"),
            "module.app.terraform_data.container",
            &["input"]
        )),
        ["var.url"]
    );
    assert_eq!(
        references(plan.configuration.output("module.app", "url")),
        ["terraform_data.container", "terraform_data.container.output"],
        "a module output records its expression"
    );
    assert_eq!(
        references(plan.configuration.expression(None, "terraform_data.reader", &["input"])),
        ["module.app", "module.app.url"]
    );
    assert!(!json.contains("\"locals\""), "the plan carries no locals: --source-dir supplies them");
}
