//! Every run replays from its seed: the same trace, byte for byte, and a failing seed's report
//! names the command that runs it again.

use std::time::Duration;

use sim::{Outcome, Scenario, Topology, Violation};

#[test]
fn one_seed_run_twice_gives_the_same_trace_byte_for_byte() {
    // Seeds whose schedules hold every kind of fault between them, on a standalone Redis and
    // a pair. (A cluster's runs differ: redis-rs's cluster client draws from the OS.)
    for seed in [3, 9, 53] {
        let scenario = Scenario::draw(seed, Some(if seed == 53 { Topology::Standalone } else { Topology::Pair }));
        let (first, second) = (sim::run(&scenario, true), sim::run(&scenario, true));
        assert!(first.trace.lines().count() > 500, "seed {seed}: the trace holds the run:\n{}", first.trace);
        assert!(first.trace == second.trace, "seed {seed}: the traces differ");
        assert_eq!((first.requests, first.commands()), (second.requests, second.commands()), "seed {seed}");
    }
}

#[test]
fn an_untraced_run_finds_what_the_traced_run_of_its_seed_finds() {
    let scenario = Scenario::draw(9, None);
    let (untraced, traced) = (sim::run(&scenario, false), sim::run(&scenario, true));
    assert!(untraced.trace.is_empty());
    assert_eq!((untraced.requests, untraced.commands()), (traced.requests, traced.commands()));
    assert_eq!(untraced.violations, traced.violations);
}

#[test]
fn a_failing_seeds_report_shows_its_schedule_each_violation_the_replay_command_and_the_trace() {
    let mut outcome: Outcome = sim::run(&Scenario::draw(9, None), true);
    outcome.violations.push(Violation {
        invariant: "health-truthful",
        at: Duration::from_millis(1234),
        message: "/health said connected while Redis refused every write".to_owned(),
    });
    let report = outcome.report();
    let header: Vec<&str> = report.lines().take_while(|line| !line.starts_with("trace:")).collect();
    insta::assert_snapshot!(header.join("\n"), @r"
    seed 9 on pair (lag 77ms, REDIS_WAIT_REPLICAS=0)
        545ms +3175ms failover
       3827ms +3406ms replies to writes lost 60%
       6271ms +2052ms slow replies +737ms
       6272ms + 991ms hold
      violated:   1234ms health-truthful: /health said connected while Redis refused every write
    replay: cargo run -p sim --release -- --seed 9 --topology pair    or    SIM_SEED=9 cargo test -p sim
    ");
    assert!(report.contains("redis #1 redis-a HELLO 3"), "the trace shows every command:\n{report}");
    assert!(report.contains("redis: primary demoted"), "and every fault:\n{report}");
}
