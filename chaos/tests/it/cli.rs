//! The command line itself, without a local stack: flags are taken wherever they are written.

use rstest::rstest;

use crate::{chaos, journal};

/// A URL on loopback where nothing listens: a deployed target that does not answer.
fn nothing_listens() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[rstest]
#[case::before_the_subcommand(true)]
#[case::after_it(false)]
fn the_target_and_report_flags_count_wherever_they_are_written(#[case] before: bool) {
    let reports = tempfile::tempdir().unwrap();
    let target = nothing_listens();
    let flags = ["--report-dir", reports.path().to_str().unwrap(), "--target-url", &target, "--toxiproxy-url", &target];
    let run = ["run", "tests/fixtures/short-partition.toml"];
    let args: Vec<&str> =
        if before { flags.iter().chain(&run).copied().collect() } else { run.iter().chain(&flags).copied().collect() };
    let output = chaos(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "a target that does not answer holds no steady state: {stderr}");
    assert!(reports.path().join("summary.md").is_file(), "the reports are where --report-dir says: {stderr}");
    let journal = journal(reports.path(), "short-partition");
    assert_eq!(journal["status"], "aborted");
    assert!(journal["target"].as_str().unwrap().starts_with(&target), "{}", journal["target"]);
}
