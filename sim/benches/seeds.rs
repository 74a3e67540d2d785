//! How fast the simulation runs: seeds per second on one core and on every core, and simulated
//! seconds per real second, for the scenarios that seeds draw (each at least 10 simulated
//! seconds of workload), in a release build.
//!
//! `cargo bench -p sim --bench seeds` prints both against the goal of issue 18: at least 100
//! seeds per second per core for a scenario of 10 simulated seconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sim::Topology;

// As the `sim` binary runs its sweeps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEEDS: u32 = 600;
/// Seeds per second per core, for scenarios of this many simulated seconds.
const GOAL: f64 = 100.0;
const GOAL_SCENARIO: Duration = Duration::from_secs(10);

/// Runs `seeds` seeds on `threads` threads, each on `topology` or on the one it draws; gives the
/// real time and the simulated time.
fn sweep(seeds: u32, topology: Option<Topology>, threads: u32) -> (Duration, Duration) {
    let simulated = AtomicU64::new(0);
    let started = Instant::now();
    sim::sweep(0..u64::from(seeds), topology, usize::try_from(threads).unwrap_or(1), |outcome| {
        assert!(outcome.passed(), "{}", outcome.report());
        simulated.fetch_add(u64::try_from(outcome.simulated.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    });
    (started.elapsed(), Duration::from_micros(simulated.load(Ordering::Relaxed)))
}

fn report(what: &str, seeds: u32, topology: Option<Topology>, threads: u32) {
    let (real, simulated) = sweep(seeds, topology, threads);
    let seeds_per_second = f64::from(seeds) / real.as_secs_f64();
    let simulated_per_second = simulated.as_secs_f64() / real.as_secs_f64();
    // Scenarios run past 10 s when their faults heal late: scaled to 10 s each.
    let per_core_at_goal = simulated_per_second / GOAL_SCENARIO.as_secs_f64() / f64::from(threads);
    println!(
        "{what}, {threads} thread(s): {seeds} seeds in {:.2}s: {seeds_per_second:.0} seeds/s, {simulated_per_second:.0} simulated s per real s \
         (mean scenario {:.1} s); {per_core_at_goal:.0} seeds of 10 simulated s per second per core (goal {GOAL:.0}: {})",
        real.as_secs_f64(),
        simulated.as_secs_f64() / f64::from(seeds),
        if per_core_at_goal >= GOAL { "met" } else { "missed" },
    );
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |cores| u32::try_from(cores.get()).unwrap_or(u32::MAX));
    // The sweep as `sim` runs it: each seed on the topology it draws.
    for threads in [1, cores] {
        report("seeds as drawn", SEEDS, None, threads);
    }
    // Each topology alone: a cluster seed costs the most (three nodes, a cluster client per
    // pooled connection, and the shard map read every second).
    for topology in Topology::ALL {
        report(topology.name(), SEEDS / 2, Some(topology), 1);
    }
}
