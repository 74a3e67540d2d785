//! The runner as users run it: the binary, against a local stack in Docker.

use crate::{chaos, journal};

#[test]
fn a_short_partition_holds_exits_0_and_writes_a_journal_with_measurements() {
    let reports = tempfile::tempdir().unwrap();
    let output =
        chaos(&["run", "tests/fixtures/short-partition.toml", "--report-dir", reports.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{}\n{stderr}", String::from_utf8_lossy(&output.stdout));

    let journal = journal(reports.path(), "short-partition");
    assert_eq!(journal["status"], "completed");
    assert_eq!(journal["deviated"], false);
    assert_eq!(journal["steady_states"]["before"]["steady_state_met"], true);
    assert_eq!(journal["steady_states"]["after"]["steady_state_met"], true);
    assert!(journal["measurements"]["time_to_detect_ms"].as_u64().is_some(), "{}", journal["measurements"]);
    assert!(journal["measurements"]["time_to_recover_ms"].as_u64().is_some(), "{}", journal["measurements"]);
    assert!(
        journal["measurements"]["phases"]["during"]["error_rate"].as_f64().unwrap() > 0.5,
        "users saw the partition"
    );
    assert_eq!(journal["measurements"]["phases"]["before"]["errors"], 0);
    let summary = std::fs::read_to_string(reports.path().join("summary.md")).unwrap();
    assert!(summary.contains("| Short partition | held |"), "{summary}");
    assert!(reports.path().join("short-partition.timeline.svg").is_file());
    let memory = journal["timeline"]["memory"].as_array().unwrap();
    assert!(!memory.is_empty(), "the backend's memory is sampled from Docker's stats");
    let peak = memory.iter().filter_map(|point| point["bytes"].as_u64()).max().unwrap();
    assert!(peak < 512 * 1024 * 1024, "under the container's limit: {peak}");
    assert!(stderr.contains("injecting partition"), "progress is shown: {stderr}");
}

#[test]
fn a_hypothesis_that_does_not_hold_exits_1_and_the_fault_is_still_rolled_back() {
    let reports = tempfile::tempdir().unwrap();
    let output =
        chaos(&["run", "tests/fixtures/wishful-partition.toml", "--report-dir", reports.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let journal = journal(reports.path(), "wishful-partition");
    assert_eq!(journal["deviated"], true);
    assert_eq!(journal["run"][1]["status"], "deviated");
    assert_eq!(journal["steady_states"]["after"]["steady_state_met"], true, "the heal ran and the service recovered");
    let junit = std::fs::read_to_string(reports.path().join("junit.xml")).unwrap();
    assert!(junit.contains("failures=\"1\""), "{junit}");
}

#[test]
fn an_invalid_experiment_exits_2_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    std::fs::write(&file, "title = \"x\"\n").unwrap();
    let output = chaos(&["run", file.to_str().unwrap(), "--report-dir", dir.path().join("reports").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.toml") && stderr.contains("missing field `description`"), "{stderr}");
    assert!(!dir.path().join("reports").exists(), "nothing ran, so nothing was reported");
}

#[test]
fn list_shows_the_default_experiments() {
    let output = chaos(&["list"]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for (source, _) in chaos::defaults::DEFAULT_EXPERIMENTS {
        assert!(text.contains(source), "{source} is not listed: {text}");
    }
    for name in ["failover", "primary-loss", "shard-filter"] {
        assert!(text.contains(&format!("chaos/experiments/{name}.toml")), "{text}");
    }
}
