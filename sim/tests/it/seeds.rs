//! Sweeps of seeds. `SIM_SEED=N cargo test -p sim` runs seed N alone, traced, and shows its
//! report.

use sim::{Outcome, Scenario};

/// Seeds each sweep of `cargo test` runs.
const SEEDS: u64 = 150;

/// Runs the seeds from `first`, `SEEDS` of them, or only `SIM_SEED` when it is set, each on the
/// topology it draws, and fails with the report of every failing seed, trace included.
fn sweep(first: u64) {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("SIM_SEED is a number")],
        Err(_) => (first..first + SEEDS).collect(),
    };
    let failed: Vec<Outcome> = seeds
        .into_iter()
        .map(|seed| sim::run(&Scenario::draw(seed, None), false))
        .filter(|outcome| !outcome.passed())
        .collect();
    let reports: Vec<String> = failed.iter().map(|outcome| sim::rerun_traced(&outcome.scenario).report()).collect();
    assert!(reports.is_empty(), "{} seeds failed:\n\n{}", reports.len(), reports.join("\n\n"));
}

#[test]
fn the_first_seeds_hold_every_invariant() {
    sweep(0);
}

#[test]
fn the_next_seeds_hold_every_invariant() {
    sweep(SEEDS);
}
