//! Runs seeds of the simulation: one, traced, or a sweep on every core.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use sim::{Outcome, Scenario, Topology};

#[derive(Parser)]
#[command(about = "Run the deterministic simulation of the backend against Redis under seeded fault schedules")]
struct Cli {
    /// Runs this one seed, traced, and prints its report.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Runs this many seeds, from `--from`.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// The first seed of a sweep.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Runs every seed on this topology instead of the one it draws.
    #[arg(long, value_enum)]
    topology: Option<Topology>,
    /// Threads; every core by default.
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

fn sweep(cli: &Cli) -> ExitCode {
    let jobs = cli.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let next = Arc::new(AtomicU64::new(cli.from));
    let end = cli.from + cli.seeds;
    let failed: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let simulated = Arc::new(AtomicU64::new(0));
    let bar = indicatif::ProgressBar::new(cli.seeds);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {per_sec}, {msg} [{elapsed_precise}<{eta}]")
            .expect("a valid template"),
    );
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let (next, failed, simulated, bar) = (&next, &failed, &simulated, &bar);
            scope.spawn(move || {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        return;
                    }
                    let outcome = sim::run(&Scenario::draw(seed, cli.topology), false);
                    simulated.fetch_add(u64::try_from(outcome.simulated.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
                    if !outcome.passed() {
                        let mut failed = failed.lock().expect("failures lock");
                        failed.push(outcome);
                        bar.set_message(format!("{} failed", failed.len()));
                    }
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish();
    let elapsed = started.elapsed();
    let mut failed = Arc::try_unwrap(failed).map(|failed| failed.into_inner().expect("failures lock")).unwrap_or_default();
    failed.sort_by_key(|outcome| outcome.scenario.seed);
    let simulated = Duration::from_millis(simulated.load(Ordering::Relaxed));
    for outcome in &failed {
        println!("\nFAILED {}", outcome.report());
    }
    println!(
        "\n{} seeds ({}..{}) on {jobs} threads in {:.1}s: {:.0} seeds/s, {:.0} simulated seconds per second; {} failed",
        cli.seeds,
        cli.from,
        end,
        elapsed.as_secs_f64(),
        cli.seeds as f64 / elapsed.as_secs_f64(),
        simulated.as_secs_f64() / elapsed.as_secs_f64(),
        failed.len()
    );
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
