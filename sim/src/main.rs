//! Runs seeds of the simulation: one, traced, or a sweep on every core with a progress bar and
//! a summary. Exits 1 when a seed fails, after printing each failing seed's report (its trace
//! with `--seed`).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use sim::{Outcome, Scenario, Topology};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Run the deterministic simulation of the backend against Redis under seeded fault schedules")]
struct Cli {
    /// Runs this one seed, traced, and prints its report and trace.
    #[arg(long, conflicts_with_all = ["seeds", "from"])]
    seed: Option<u64>,
    /// Runs this many seeds, from `--from`.
    #[arg(long, default_value_t = 1000)]
    seeds: u32,
    /// The first seed of a sweep.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Runs every seed on this topology instead of the one it draws.
    #[arg(long, value_enum)]
    topology: Option<Topology>,
    /// Threads; one per core by default.
    #[arg(long)]
    jobs: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(seed) = cli.seed {
        let outcome = sim::run(&Scenario::draw(seed, cli.topology), true);
        println!("{}", outcome.report());
        return if outcome.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    sweep(&cli)
}

/// What a sweep counted.
#[derive(Default)]
struct Tally {
    failed: Vec<Outcome>,
    by_topology: BTreeMap<&'static str, u32>,
    requests: usize,
    commands: usize,
    acknowledged: u64,
    accepted: usize,
}

fn sweep(cli: &Cli) -> ExitCode {
    let jobs = cli.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let tally = Mutex::new(Tally::default());
    let simulated = AtomicU64::new(0);
    let bar = indicatif::ProgressBar::new(u64::from(cli.seeds));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {per_sec} {msg} [{elapsed_precise}<{eta}]")
            .expect("a valid template"),
    );
    let started = Instant::now();
    sim::sweep(cli.from..cli.from + u64::from(cli.seeds), cli.topology, jobs, |outcome| {
        simulated.fetch_add(u64::try_from(outcome.simulated.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        let mut tally = tally.lock().expect("tally lock");
        *tally.by_topology.entry(outcome.scenario.topology.name()).or_default() += 1;
        tally.requests += outcome.requests;
        tally.commands += outcome.commands();
        tally.acknowledged += outcome.history.acknowledged;
        tally.accepted += outcome.accepted.len();
        if !outcome.passed() {
            tally.failed.push(outcome);
            bar.set_message(format!("{} failed", tally.failed.len()));
        }
        bar.inc(1);
    });
    bar.finish();
    let elapsed = started.elapsed();
    let mut tally = tally.into_inner().expect("tally lock");
    tally.failed.sort_by_key(|outcome| outcome.scenario.seed);
    for outcome in &tally.failed {
        println!("\nFAILED {}", outcome.report());
    }
    summarise(cli, &tally, jobs, elapsed, Duration::from_micros(simulated.load(Ordering::Relaxed)));
    if tally.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn summarise(cli: &Cli, tally: &Tally, jobs: usize, elapsed: Duration, simulated: Duration) {
    let mut broken: BTreeMap<&str, u32> = BTreeMap::new();
    for outcome in &tally.failed {
        let mut invariants: Vec<&str> = outcome.violations.iter().map(|violation| violation.invariant).collect();
        invariants.dedup();
        for invariant in invariants {
            *broken.entry(invariant).or_default() += 1;
        }
    }
    let topologies: Vec<String> = tally.by_topology.iter().map(|(name, count)| format!("{count} {name}")).collect();
    println!(
        "\n{} seeds ({}..{}; {}) on {jobs} threads in {:.1}s: {:.0} seeds/s, {:.0} simulated seconds per second",
        cli.seeds,
        cli.from,
        cli.from + u64::from(cli.seeds),
        topologies.join(", "),
        elapsed.as_secs_f64(),
        f64::from(cli.seeds) / elapsed.as_secs_f64(),
        simulated.as_secs_f64() / elapsed.as_secs_f64(),
    );
    println!(
        "{} requests, {} Redis commands, {} registrations acknowledged; {} anomalies explained by data-losing faults",
        tally.requests, tally.commands, tally.acknowledged, tally.accepted
    );
    if tally.failed.is_empty() {
        println!("every seed held every invariant");
    } else {
        let seeds: Vec<String> =
            tally.failed.iter().take(20).map(|outcome| outcome.scenario.seed.to_string()).collect();
        println!("{} seeds failed (first: {})", tally.failed.len(), seeds.join(", "));
        for (invariant, seeds) in broken {
            println!("  {invariant}: {seeds} seeds");
        }
    }
}
