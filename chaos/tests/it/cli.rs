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

/// Serves every request with a 200 whose body is `body`, from a thread, until the test ends.
fn serving(body: &'static str) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = [0; 4096];
            let _ = stream.read(&mut head);
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

/// An experiment whose timings follow the backend's timeouts cannot be judged against a target
/// that does not say what they are: it refuses before anything starts, instead of reporting a
/// deviation that would be its own mistake.
#[rstest]
#[case::metrics_without_the_timeouts(Some("# EOF\n"), "does not publish REDIS_OPERATION_TIMEOUT")]
#[case::no_answer(None, "cannot read")]
fn a_relative_experiment_refuses_a_target_whose_timeouts_are_unknown(
    #[case] metrics: Option<&'static str>,
    #[case] expected: &str,
) {
    let reports = tempfile::tempdir().unwrap();
    let target = metrics.map_or_else(nothing_listens, serving);
    let output = chaos(&[
        "run",
        "experiments/latency.toml",
        "--target-url",
        &target,
        "--toxiproxy-url",
        &nothing_listens(),
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!reports.path().join("summary.md").exists(), "nothing ran, so nothing was reported");
}

/// A history of one registration, acknowledged, then read at the end: found or not.
fn history_file(dir: &std::path::Path, found: bool) -> std::path::PathBuf {
    let lines = [
        r#"{"index":0,"process":0,"type":"invoke","f":"register","value":{"email":"a@example.com"},"time":1000}"#.to_owned(),
        r#"{"index":1,"process":0,"type":"ok","f":"register","value":{"email":"a@example.com","id":"u1","status":201},"time":2000}"#.to_owned(),
        r#"{"index":2,"process":9,"type":"invoke","f":"read","value":{"email":"a@example.com","final":true},"time":3000}"#.to_owned(),
        format!(
            r#"{{"index":3,"process":9,"type":"ok","f":"read","value":{{"email":"a@example.com","final":true,"found":{found}{}}},"time":4000}}"#,
            if found { r#","id":"u1""# } else { "" }
        ),
    ];
    let path = dir.join(if found { "kept.jsonl" } else { "lost.jsonl" });
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

#[test]
fn check_exits_0_on_a_valid_history_and_1_on_an_anomaly_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let valid = chaos(&["check", history_file(dir.path(), true).to_str().unwrap()]);
    assert_eq!(valid.status.code(), Some(0), "{}", String::from_utf8_lossy(&valid.stdout));
    assert!(String::from_utf8_lossy(&valid.stdout).starts_with("verdict: valid"));

    let lost = chaos(&["check", history_file(dir.path(), false).to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&lost.stdout);
    assert_eq!(lost.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "anomaly lost: account u1 was acknowledged, and the final read does not find it (operations 0, 1, 2, 3)"
        ),
        "{stdout}"
    );

    let accepted =
        chaos(&["check", "--lost-allowed", "1", "--json", history_file(dir.path(), false).to_str().unwrap()]);
    assert_eq!(accepted.status.code(), Some(0));
    let analysis: serde_json::Value = serde_json::from_slice(&accepted.stdout).unwrap();
    assert_eq!((analysis["verdict"].as_str(), analysis["counts"]["lost"].as_u64()), (Some("valid"), Some(1)));
}

#[test]
fn check_exits_2_on_a_history_it_cannot_read_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.jsonl");
    std::fs::write(
        &path,
        "{\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":{},\"time\":1}\nnot json\n",
    )
    .unwrap();
    let output = chaos(&["check", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.jsonl: line 2: expected ident"), "{stderr}");
}
