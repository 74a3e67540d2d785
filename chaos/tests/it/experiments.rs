use chaos::defaults::DEFAULT_EXPERIMENTS;
use chaos::experiment::{Experiment, TargetKind};
use rstest::rstest;

use crate::crate_dir;

#[test]
fn every_default_experiment_is_valid() {
    for (source, text) in DEFAULT_EXPERIMENTS {
        Experiment::parse(source, text, TargetKind::LocalStack).unwrap_or_else(|errors| panic!("{errors:#?}"));
    }
}

/// An experiment file that is not in the default set would never run in CI; one in the set but
/// not on disk would not build.
#[test]
fn the_default_set_is_every_file_in_the_experiments_folder() {
    let mut on_disk: Vec<String> = std::fs::read_dir(crate_dir().join("experiments"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "toml"))
        .map(|path| format!("chaos/experiments/{}", path.file_name().unwrap().to_string_lossy()))
        .collect();
    on_disk.sort();
    let mut defaults: Vec<String> = DEFAULT_EXPERIMENTS.iter().map(|(source, _)| (*source).to_owned()).collect();
    defaults.sort();
    assert_eq!(defaults, on_disk, "list every file of chaos/experiments/ in chaos/src/defaults.rs");
}

#[test]
fn the_published_schema_is_the_one_the_runner_uses() {
    let published: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(crate_dir().join("experiment.schema.json")).unwrap()).unwrap();
    assert_eq!(
        published,
        chaos::experiment::schema(),
        "regenerate it: cargo run -p chaos -- schema > chaos/experiment.schema.json"
    );
}

const VALID: &str = r#"
title = "t"
description = "d"
[steady_state]
title = "s"
[[steady_state.probes]]
kind = "http"
name = "health"
path = "/health"
status = 200
[[method]]
kind = "inject"
fault = { type = "partition" }
[[method]]
kind = "heal"
fault = { type = "partition" }
"#;

fn errors(text: &str, target: TargetKind) -> Vec<String> {
    match Experiment::parse("exp.toml", text, target) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|error| error.to_string()).collect(),
    }
}

#[test]
fn a_minimal_experiment_is_valid_with_defaults_filled_in() {
    let experiment = Experiment::parse("exp.toml", VALID, TargetKind::LocalStack).unwrap();
    assert_eq!(experiment.load.path, "/health");
    assert_eq!((experiment.load.rate, experiment.load.concurrency), (10, 4));
    assert_eq!(experiment.recovery.timeout.get().as_secs(), 30);
}

#[rstest]
#[case::missing_title(&VALID.replace("title = \"t\"\n", ""), "exp.toml: line 1, column 1: missing field `title`")]
#[case::unknown_top_level_field(&format!("retries = 3\n{VALID}"), "exp.toml: retries (line 1, column 1): unknown field `retries`, expected one of `title`")]
#[case::unknown_field_in_a_step(&format!("{VALID}retries = 3\n"), "exp.toml: method[1]: unknown field `retries`, expected `fault`")]
#[case::not_toml("title = ", "exp.toml: line 1, column 9: string values must be quoted")]
#[case::unknown_probe_kind(&VALID.replace("kind = \"http\"", "kind = \"ping\""), "exp.toml: steady_state.probes[0].kind: unknown variant `ping`, expected one of `http`, `latency`, `error-rate`")]
#[case::unknown_fault(&VALID.replace("{ type = \"partition\" }\n[[method]]\nkind = \"heal\"", "{ type = \"earthquake\" }\n[[method]]\nkind = \"heal\""), "exp.toml: method[0]")]
#[case::bad_duration(&VALID.replace("[[method]]\nkind = \"inject\"", "[[method]]\nkind = \"wait\"\nduration = \"soon\"\n[[method]]\nkind = \"inject\""), "\"soon\" is not a duration such as 500ms, 5s or 1m 30s")]
#[case::heal_before_inject(&VALID.replace("kind = \"inject\"\nfault = { type = \"partition\" }", "kind = \"wait\"\nduration = \"1s\""), "exp.toml: method[1].fault: heals a fault that no earlier step injected")]
#[case::no_probes(&VALID.replace("[[steady_state.probes]]\nkind = \"http\"\nname = \"health\"\npath = \"/health\"\nstatus = 200\n", "probes = []\n"), "exp.toml: steady_state.probes: needs at least one probe")]
#[case::status_out_of_range(&VALID.replace("status = 200", "status = 700"), "exp.toml: steady_state.probes[0].status: must be an HTTP status from 100 to 599, got 700")]
#[case::path_without_slash(&VALID.replace("path = \"/health\"", "path = \"health\""), "exp.toml: steady_state.probes[0].path: must start with /, got \"health\"")]
#[case::ip_filter_through_the_proxy(&VALID.replace("partition", "ip-filter"), "exp.toml: method[0].fault: ip-filter needs stack.topology = \"direct\"")]
#[case::zero_rate(&format!("{VALID}\n[load]\nrate = 0\n"), "exp.toml: load.rate: must be 1 to 1000 requests per second, got 0")]
#[case::backend_duration_the_backend_cannot_read(&format!("{VALID}\n[stack.backend]\nREDIS_OPERATION_TIMEOUT = \"two seconds\"\n"), "exp.toml: stack.backend: REDIS_OPERATION_TIMEOUT=\"two seconds\": expected a duration greater than zero, such as 5s or 500ms")]
#[case::backend_timeout_of_zero(&format!("{VALID}\n[stack.backend]\nREDIS_OPERATION_TIMEOUT = \"0\"\n"), "exp.toml: stack.backend: REDIS_OPERATION_TIMEOUT=\"0\": expected a duration greater than zero, such as 5s or 500ms")]
#[case::backend_timeout_beyond_a_day(&format!("{VALID}\n[stack.backend]\nREDIS_OPERATION_TIMEOUT = \"25h\"\n"), "exp.toml: stack.backend: REDIS_OPERATION_TIMEOUT=\"25h\": expected a duration greater than zero, such as 5s or 500ms, and at most 24h")]
#[case::backend_setting_of_the_wrong_form(&format!("{VALID}\n[stack.backend]\nREDIS_POOL_MAX_SIZE = \"many\"\n"), "exp.toml: stack.backend: REDIS_POOL_MAX_SIZE=\"many\": expected a whole number from 1 to 10000")]
fn an_invalid_experiment_names_the_file_the_field_and_the_problem(#[case] text: &str, #[case] expected: &str) {
    let errors = errors(text, TargetKind::LocalStack);
    assert!(errors.iter().any(|error| error.contains(expected)), "expected {expected:?} among {errors:#?}");
}

#[test]
fn percentiles_and_error_rates_must_be_in_range() {
    let text = VALID.replacen(
        "[[method]]",
        "[[steady_state.probes]]\nkind = \"latency\"\nname = \"p\"\npercentile = 120\nmax = \"1s\"\nwindow = \"0s\"\n\
         [[steady_state.probes]]\nkind = \"error-rate\"\nname = \"e\"\nmax = 1.5\nwindow = \"1s\"\n[[method]]",
        1,
    );
    let found = errors(&text, TargetKind::LocalStack);
    insta::assert_snapshot!(found.join("\n"), @r"
    exp.toml: steady_state.probes[1].percentile: must be above 0 and at most 100, got 120
    exp.toml: steady_state.probes[1].window: must be longer than zero
    exp.toml: steady_state.probes[2].max: is a share of requests, from 0 to 1, got 1.5
    ");
}

#[test]
fn a_redis_restart_runs_in_either_topology_as_e2e_says() {
    let through_proxy = VALID.replace("partition", "redis-restart");
    assert!(errors(&through_proxy, TargetKind::LocalStack).is_empty());
    let direct = format!("{through_proxy}\n[stack]\ntopology = \"direct\"\n");
    assert!(errors(&direct, TargetKind::LocalStack).is_empty());
}

#[test]
fn the_backend_timeouts_an_experiment_sets_are_the_ones_its_bounds_use() {
    let text = format!("{VALID}\n[stack.backend]\nREDIS_OPERATION_TIMEOUT = \"2s\"\n");
    let experiment = Experiment::parse("exp.toml", &text, TargetKind::LocalStack).unwrap();
    assert_eq!(experiment.backend_config().operation_timeout(), std::time::Duration::from_secs(2));
}

#[test]
fn faults_that_need_the_local_stack_are_refused_for_a_remote_target() {
    let text = VALID.replace("partition", "redis-restart");
    assert_eq!(
        errors(&text, TargetKind::Remote),
        ["exp.toml: method[0].fault: redis-restart needs the local stack; it cannot run against --target-url"]
    );
    assert!(errors(VALID, TargetKind::Remote).is_empty(), "a partition goes through the target's Toxiproxy");
}

#[test]
fn client_faults_run_against_the_local_stack_only() {
    let text =
        VALID.replace(r#"fault = { type = "partition" }"#, r#"fault = { type = "slow-clients", connections = 10 }"#);
    assert!(errors(&text, TargetKind::LocalStack).is_empty(), "{:?}", errors(&text, TargetKind::LocalStack));
    assert_eq!(
        errors(&text, TargetKind::Remote)[0],
        "exp.toml: method[0].fault: slow-clients 10 connections needs the local stack; it cannot run against --target-url"
    );
}
