//! Sweeps of seeds. `SIM_SEED=N cargo test -p sim` runs seed N alone, and shows its report and
//! trace when it fails; `SIM_SEEDS=N` runs N seeds per sweep instead of 150.

use sim::{Outcome, Scenario};

/// Seeds each sweep of `cargo test` runs, unless `SIM_SEEDS` says otherwise.
const SEEDS: u64 = 150;

fn seeds_per_sweep() -> u64 {
    std::env::var("SIM_SEEDS").map_or(SEEDS, |seeds| seeds.parse().expect("SIM_SEEDS is a number"))
}

/// Runs the seeds from `first`, `SEEDS` of them, or only `SIM_SEED` when it is set, each on the
/// topology it draws, and fails with the report of every failing seed, trace included.
fn sweep(first: u64) {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("SIM_SEED is a number")],
        Err(_) => (first..first + seeds_per_sweep()).collect(),
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
    sweep(seeds_per_sweep());
}
