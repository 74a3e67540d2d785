//! How plancheck scales: a 50 MB plan of 5,000 backend containers whose `REDIS_URL` is only
//! known after apply (each one followed through the configuration's references), checked as the
//! command line does.
//!
//! `cargo bench -p plancheck --bench plan` prints the time (best of three runs) and the peak
//! heap of one more run, against the goals of issue 14: under 1 s and under 200 MB in a release
//! build. dhat measures the heap (in a run of its own, as it slows allocation down), so the
//! figure excludes code and stacks; the benchmark's own copy of the plan is on disk meanwhile.
//! `BENCH_PLAN_OUT=plan.json` keeps the plan, to time another build of plancheck on it.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use clap::Parser as _;
use plancheck::cli::{Args, run};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const CONTAINERS: usize = 5_000;
const TIME_GOAL: Duration = Duration::from_secs(1);
const MEMORY_GOAL: usize = 200 * 1024 * 1024;

/// A container's environment: what a real backend carries, padded to a realistic size.
fn environment(url: &str) -> String {
    let mut variables = format!("\"LOG_FORMAT\": \"json\", \"REDIS_URL\": {url}");
    for index in 0..16 {
        let _ = write!(variables, ", \"SETTING_{index}\": \"{}\"", "v".repeat(160));
    }
    format!("{{{variables}}}")
}

fn plan() -> String {
    let base = r#""format_version": "1.2", "terraform_version": "1.11.4", "applyable": true, "complete": true, "errored": false"#;
    let redis = r#"{"address": "scaleway_redis_cluster.main", "mode": "managed", "type": "scaleway_redis_cluster", "name": "main", "change": {"actions": ["no-op"], "before": {"private_network": [{"id": "fr-par/pn-1", "service_ips": ["172.16.0.10/22"]}], "acl": []}, "after": {"private_network": [{"id": "fr-par/pn-1", "service_ips": ["172.16.0.10/22"]}], "acl": []}, "after_unknown": {}, "before_sensitive": {}, "after_sensitive": {}}}"#;
    let vpc = r#"{"address": "scaleway_vpc.main", "mode": "managed", "type": "scaleway_vpc", "name": "main", "change": {"actions": ["no-op"], "before": {}, "after": {}, "after_unknown": {}}}"#;
    let network = r#"{"address": "scaleway_vpc_private_network.main", "mode": "managed", "type": "scaleway_vpc_private_network", "name": "main", "change": {"actions": ["no-op"], "before": {"id": "fr-par/pn-1", "ipv4_subnet": [{"subnet": "172.16.0.0/22"}]}, "after": {"id": "fr-par/pn-1", "ipv4_subnet": [{"subnet": "172.16.0.0/22"}]}, "after_unknown": {}}}"#;
    let mut changes = vec![redis.to_owned(), vpc.to_owned(), network.to_owned()];
    let mut planned = Vec::new();
    let mut configured = Vec::new();
    let (before, after) = (environment("\"redis://gift_genie@51.159.10.20:6379/0\""), environment("null"));
    for index in 0..CONTAINERS {
        let address = format!("scaleway_container.backend_{index}");
        changes.push(format!(
            r#"{{"address": "{address}", "mode": "managed", "type": "scaleway_container", "name": "backend_{index}", "change": {{"actions": ["update"], "before": {{"memory_limit": 512, "private_network_id": null, "environment_variables": {before}}}, "after": {{"memory_limit": 512, "private_network_id": "fr-par/pn-1", "environment_variables": {after}}}, "after_unknown": {{"environment_variables": {{"REDIS_URL": true}}}}, "before_sensitive": {{}}, "after_sensitive": {{}}}}}}"#
        ));
        planned.push(format!(
            r#"{{"address": "{address}", "mode": "managed", "type": "scaleway_container", "name": "backend_{index}", "values": {{"memory_limit": 512, "private_network_id": "fr-par/pn-1", "environment_variables": {after}}}, "sensitive_values": {{}}}}"#
        ));
        configured.push(format!(
            r#"{{"address": "{address}", "mode": "managed", "type": "scaleway_container", "name": "backend_{index}", "expressions": {{"environment_variables": {{"references": ["scaleway_redis_cluster.main.private_ip", "scaleway_redis_cluster.main"]}}}}}}"#
        ));
    }
    let planned_other = r#"{"address": "scaleway_redis_cluster.main", "mode": "managed", "type": "scaleway_redis_cluster", "name": "main", "values": {"private_network": [{"id": "fr-par/pn-1", "service_ips": ["172.16.0.10/22"]}], "acl": []}}, {"address": "scaleway_vpc.main", "mode": "managed", "type": "scaleway_vpc", "name": "main", "values": {}}, {"address": "scaleway_vpc_private_network.main", "mode": "managed", "type": "scaleway_vpc_private_network", "name": "main", "values": {"id": "fr-par/pn-1", "ipv4_subnet": [{"subnet": "172.16.0.0/22"}]}}"#;
    format!(
        r#"{{{base}, "planned_values": {{"root_module": {{"resources": [{planned_other}, {}]}}}}, "resource_changes": [{}], "configuration": {{"root_module": {{"resources": [{}]}}}}}}"#,
        planned.join(", "),
        changes.join(", "),
        configured.join(", ")
    )
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("plan.json");
    let text = plan();
    let megabytes = text.len() / 1_000_000;
    std::fs::write(&path, &text).expect("the plan is written");
    if let Some(keep) = std::env::var_os("BENCH_PLAN_OUT") {
        std::fs::write(keep, &text).expect("the plan is kept where BENCH_PLAN_OUT says");
    }
    drop(text);

    let args = Args::parse_from(["plancheck", path.to_str().expect("a UTF-8 path")]);
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let status = run(&args, &mut std::io::sink());
        best = best.min(started.elapsed());
        assert_eq!(status, 0, "the benchmark's plan passes every policy");
    }
    let peak = {
        let _profiler = dhat::Profiler::builder().testing().build();
        let baseline = dhat::HeapStats::get().curr_bytes;
        assert_eq!(run(&args, &mut std::io::sink()), 0);
        dhat::HeapStats::get().max_bytes - baseline
    };
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!("plancheck on a {megabytes} MB plan with {CONTAINERS} containers whose REDIS_URL is unknown:");
    println!("  time (best of 3)  {best:>10.2?}   goal < {TIME_GOAL:?}: {}", verdict(best < TIME_GOAL));
    #[allow(clippy::cast_precision_loss)] // heap sizes stay far below 2^52
    let peak_mb = peak as f64 / (1024.0 * 1024.0);
    println!("  peak heap         {peak_mb:>7.1} MiB   goal < 200 MiB: {}", verdict(peak < MEMORY_GOAL));
}
