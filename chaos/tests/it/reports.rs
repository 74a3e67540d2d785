//! Reports from a journal built by hand, so that every byte is predictable.

use std::time::Duration;

use chaos::experiment::{Experiment, TargetKind};
use chaos::journal::{
    Activity, ActivityKind, ActivityStatus, HistoryRecord, Journal, Status, SteadyStateOutcome, SteadyStates,
};
use chaos::probe::ProbeOutcome;
use chaos::report;
use chaos::stats::measure;
use chaos::timeline::{FaultWindow, HealthPoint, MemoryPoint, Sample, Timeline};

fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

fn probe(name: &str, met: bool, observed: &str, took: Option<u64>) -> ProbeOutcome {
    ProbeOutcome { name: name.to_owned(), tolerance_met: met, observed: observed.to_owned(), took: took.map(ms) }
}

/// A partition from 2 s to 5 s, detected 300 ms in, recovered 400 ms after the heal.
fn journal(held: bool) -> Journal {
    let text = std::fs::read_to_string(crate::crate_dir().join("tests/fixtures/short-partition.toml")).unwrap();
    let experiment = Experiment::parse("tests/fixtures/short-partition.toml", &text, TargetKind::LocalStack).unwrap();
    let faults =
        vec![FaultWindow { fault: "partition".to_owned(), requested: ms(1990), start: ms(2000), end: Some(ms(5000)) }];
    let health: Vec<HealthPoint> = (0..80)
        .map(|i| ms(i * 100))
        .map(|at| HealthPoint { at, connected: !(ms(2300)..ms(5400)).contains(&at) })
        .collect();
    let samples: Vec<Sample> = (0..80)
        .map(|i| {
            let at = ms(i * 100);
            let failing = (ms(2000)..ms(5400)).contains(&at);
            let latency = if failing { ms(1) } else { ms(3 + i % 5) };
            Sample { at, latency, status: Some(if failing { 503 } else { 200 }) }
        })
        .collect();
    let measurements = measure(&faults, &health, &samples);
    let after = probe(
        "health reports redis connected",
        held,
        if held { "status 200 in 2 ms" } else { "status 503 in 1 ms" },
        None,
    );
    Journal {
        runner: "gift-genie chaos 0.0.0".to_owned(),
        experiment,
        source: "tests/fixtures/short-partition.toml".to_owned(),
        target: "local stack (through-proxy, network gift-genie-e2e-1-abc)".to_owned(),
        timeouts: Some(experiment_timeouts()),
        start: "2026-11-27T09:00:00Z".parse().unwrap(),
        end: "2026-11-27T09:00:08Z".parse().unwrap(),
        duration: ms(8000),
        status: Status::Completed,
        deviated: !held,
        steady_states: SteadyStates {
            before: SteadyStateOutcome::new(vec![probe(
                "health reports redis connected",
                true,
                "status 200 in 2 ms",
                None,
            )]),
            after: Some(SteadyStateOutcome::new(vec![after])),
        },
        run: vec![
            Activity {
                kind: ActivityKind::Inject,
                name: "partition".to_owned(),
                status: ActivityStatus::Succeeded,
                start: ms(2000),
                end: ms(2010),
                probe: None,
                error: None,
            },
            Activity {
                kind: ActivityKind::Probe,
                name: "health reports redis disconnected".to_owned(),
                status: ActivityStatus::Succeeded,
                start: ms(2010),
                end: ms(2310),
                probe: Some(probe("health reports redis disconnected", true, "status 503 in 1 ms", Some(300))),
                error: None,
            },
        ],
        rollbacks: vec![],
        measurements,
        history: Some(history_record(held)),
        timeline: Timeline { duration: ms(8000), faults, health, samples, memory: memory() },
    }
}

/// A registration, acknowledged at 3 s; a read of it at 3.5 s, which finds it unless the run did
/// not hold; and the final read.
fn history_record(held: bool) -> HistoryRecord {
    use history::{Function, Op, OpType, Value};
    let op = |index: u64, process: u64, kind: OpType, f: Function, value: Value, at_ms: u64| Op {
        index,
        process,
        kind,
        f,
        value,
        time: at_ms * 1_000_000,
    };
    let email = || Value { email: Some("a@example.com".into()), ..Value::default() };
    let id = || Value { id: Some("u1".into()), ..Value::default() };
    let ops = vec![
        op(0, 0, OpType::Invoke, Function::Register, email(), 2900),
        op(
            1,
            0,
            OpType::Ok,
            Function::Register,
            Value { status: Some(201), ..Value { id: Some("u1".into()), ..email() } },
            3000,
        ),
        op(2, 1, OpType::Invoke, Function::Read, id(), 3400),
        op(3, 1, OpType::Ok, Function::Read, Value { found: Some(held), ..id() }, 3500),
        op(4, 9, OpType::Invoke, Function::Read, Value { final_read: true, ..email() }, 7500),
        op(
            5,
            9,
            OpType::Ok,
            Function::Read,
            Value { final_read: true, found: Some(true), ..Value { id: Some("u1".into()), ..email() } },
            7600,
        ),
    ];
    let analysis = history::check(&ops, history::Options::default());
    HistoryRecord { ops, started: ms(0), analysis }
}

/// The fast test timeouts the local stack runs with.
fn experiment_timeouts() -> e2e::Timeouts {
    e2e::BackendConfig::fast().timeouts()
}

/// The backend's memory every 500 ms: 40 MiB, climbing during the fault, settling after it.
fn memory() -> Vec<MemoryPoint> {
    (0..16_u64)
        .map(|tick| {
            let mib = match tick {
                0..4 => 40,
                4..10 => 40 + (tick - 3) * 8,
                _ => 44,
            };
            MemoryPoint { at: ms(tick * 500), bytes: mib * 1024 * 1024 }
        })
        .collect()
}

#[test]
fn the_measurements_follow_the_timeline() {
    let journal = journal(true);
    assert_eq!(journal.measurements.time_to_detect, Some(ms(300)));
    assert_eq!(journal.measurements.time_to_recover, Some(ms(400)));
    assert_eq!(journal.measurements.requests, 80);
}

#[test]
fn the_journal_records_status_probes_activities_and_measurements() {
    let mut value = serde_json::to_value(journal(true)).unwrap();
    // The timeline's samples are checked through the SVG; here the structure matters.
    value["timeline"]["samples"] = serde_json::json!("[80 samples]");
    value["timeline"]["health"] = serde_json::json!("[80 points]");
    insta::assert_json_snapshot!("journal", value, {".start" => "[timestamp]", ".end" => "[timestamp]"});
}

#[test]
fn the_markdown_summary_fits_a_job_summary_and_explains_what_did_not_hold() {
    insta::assert_snapshot!("summary", report::markdown::summary(&[journal(true), journal(false)]));
}

#[test]
fn junit_has_a_case_per_hypothesis() {
    insta::assert_snapshot!("junit", report::junit::report(&[journal(false)]));
}

#[test]
fn the_timeline_svg_shades_the_fault_and_marks_detection_and_recovery() {
    let svg = report::svg::timeline(&journal(true));
    assert!(svg.contains(">Short partition: held</text>"));
    assert!(svg.contains("detected in 0.30 s · recovered in 0.40 s · 80 requests"));
    assert_eq!(svg.matches("<circle").count(), 80 + 5, "one dot per request, five in the legend");
    assert_eq!(svg.matches("<polyline").count(), 1, "the memory line");
    assert!(svg.contains(">100 MiB</text>"), "its axis reaches a round step past the 88 MiB peak: {svg}");
    insta::assert_snapshot!("timeline_svg", svg);
    let deviated = report::svg::timeline(&journal(false));
    assert!(
        deviated.contains(
            "<title>stale-read: a read of u1 that began after its 201 did not find it (operations 0, 1, 2, 3)</title>"
        ),
        "the anomaly is marked where it showed: {deviated}"
    );
}

#[test]
fn all_reports_are_written_to_the_chosen_directory() {
    let dir = tempfile::tempdir().unwrap();
    let written = report::write_all(&dir.path().join("reports"), &[journal(true)]).unwrap();
    for path in [&written.summary, &written.junit, &written.journals[0], &written.timelines[0], &written.histories[0]] {
        assert!(path.is_file(), "{}", path.display());
    }
    assert_eq!(written.journals[0].file_name().unwrap(), "short-partition.journal.json");
}
