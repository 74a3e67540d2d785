//! `cargo run -p chaos` runs the default experiments against a local stack; `run FILE...` runs
//! others, locally or against a deployed environment (`--target-url`, `--toxiproxy-url`).
//!
//! Exit status: 0 when every hypothesis held, 1 when one deviated, 2 for an invalid experiment or
//! a setup that could not run, 130 after Ctrl-C (rollbacks and reports still happen).
//! `check HISTORY` checks a recorded history: 0 valid, 1 an anomaly, 2 unreadable.

use std::path::PathBuf;
use std::process::ExitCode;

use chaos::defaults::DEFAULT_EXPERIMENTS;
use chaos::environment::{Environment, RemoteSpec};
use chaos::experiment::{Experiment, InvalidExperiment, TargetKind};
use chaos::explore::ExploreSpec;
use chaos::journal::{self, Journal, Status};
use chaos::progress::Progress;
use chaos::report::{self, markdown, seconds, table};
use clap::{Args, Parser, Subcommand};
use tokio::sync::watch;

const EXIT_DEVIATED: u8 = 1;
const EXIT_INVALID: u8 = 2;
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "chaos",
    version,
    about = "Chaos experiments against Gift Genie: faults between the backend and Redis, with steady-state hypotheses and measured recovery"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run experiment files, in order.
    Run {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// List experiments: the built-in defaults, or the given files.
    List {
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Check experiment files without running anything.
    Validate {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Check them for a deployed target (--target-url), where only proxy faults work.
        #[arg(long)]
        remote: bool,
    },
    /// Print the JSON schema of experiment files.
    Schema,
    /// Search for anomalies: a random schedule of faults from the seed, on a local stack, under a
    /// recorded workload whose history is checked. A seed repeats its schedule, not its timing.
    Explore {
        /// Seeds the schedule and the workload's choices; a new one when left out.
        #[arg(long)]
        seed: Option<u64>,
        /// How long the faults run.
        #[arg(long, default_value = "120s", value_parser = parse_duration)]
        duration: std::time::Duration,
        /// The Redis topology: through-proxy, direct, ha or cluster.
        #[arg(long, default_value = "through-proxy", value_parser = parse_topology)]
        topology: e2e::Topology,
        /// The backend's `REDIS_WAIT_REPLICAS`; with 0, losses in a failover are counted, not
        /// failed.
        #[arg(long, default_value_t = 0)]
        wait_replicas: u32,
    },
    /// Check a recorded history (JSON lines, see history/README.md) for anomalies.
    Check {
        #[arg(value_name = "HISTORY")]
        file: PathBuf,
        /// Accept up to this many lost acknowledged accounts, as a failover without
        /// `REDIS_WAIT_REPLICAS` may lose them.
        #[arg(long, default_value_t = 0, value_name = "N")]
        lost_allowed: u64,
        /// Print the analysis as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where experiments run and where their reports go: declared once, global, so that they count
/// before the subcommand and after it alike.
#[derive(Debug, Clone, Args)]
struct TargetArgs {
    /// Where reports are written.
    #[arg(long, global = true, default_value = "target/chaos", value_name = "DIR")]
    report_dir: PathBuf,
    /// The backend of a deployed environment, instead of a local stack.
    #[arg(long, global = true, requires = "toxiproxy_url", value_name = "URL")]
    target_url: Option<String>,
    /// The Toxiproxy API in front of that environment's Redis.
    #[arg(long, global = true, requires = "target_url", value_name = "URL")]
    toxiproxy_url: Option<String>,
    /// The name of the Toxiproxy proxy in front of Redis.
    #[arg(long, global = true, default_value = "redis", value_name = "NAME")]
    proxy: String,
}

impl TargetArgs {
    fn remote(&self) -> Option<RemoteSpec> {
        Some(RemoteSpec {
            target_url: self.target_url.clone()?,
            toxiproxy_url: self.toxiproxy_url.clone()?,
            proxy: self.proxy.clone(),
        })
    }
}

/// Experiments with the file each came from.
type Loaded = Vec<(String, Experiment)>;

fn load(files: &[PathBuf], target: TargetKind) -> Result<Loaded, Vec<InvalidExperiment>> {
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    if files.is_empty() {
        for (source, text) in DEFAULT_EXPERIMENTS {
            match Experiment::parse(source, text, target) {
                Ok(experiment) => loaded.push((source.to_owned(), experiment)),
                Err(errors) => problems.extend(errors),
            }
        }
    }
    for file in files {
        match Experiment::load(file, target) {
            Ok(experiment) => loaded.push((file.display().to_string(), experiment)),
            Err(errors) => problems.extend(errors),
        }
    }
    if problems.is_empty() { Ok(loaded) } else { Err(problems) }
}

fn invalid(problems: &[InvalidExperiment]) -> ExitCode {
    for problem in problems {
        eprintln!("chaos: {problem}");
    }
    ExitCode::from(EXIT_INVALID)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CHAOS_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        None => run(&[], &cli.target).await,
        Some(Command::Run { files }) => run(&files, &cli.target).await,
        Some(Command::List { files }) => match load(&files, TargetKind::LocalStack) {
            Ok(loaded) => {
                for (source, experiment) in loaded {
                    println!("{source}\n  {}\n  {}\n", experiment.title, experiment.description.replace('\n', "\n  "));
                }
                ExitCode::SUCCESS
            }
            Err(problems) => invalid(&problems),
        },
        Some(Command::Validate { files, remote }) => {
            match load(&files, if remote { TargetKind::Remote } else { TargetKind::LocalStack }) {
                Ok(loaded) => {
                    for (source, _) in loaded {
                        println!("{source}: valid");
                    }
                    ExitCode::SUCCESS
                }
                Err(problems) => invalid(&problems),
            }
        }
        Some(Command::Check { file, lost_allowed, json }) => check(&file, lost_allowed, json),
        Some(Command::Explore { seed, duration, topology, wait_replicas }) => {
            let seed = seed.unwrap_or_else(rand::random);
            let spec = ExploreSpec { seed, duration, topology, wait_replicas };
            explore(spec, &cli.target.report_dir).await
        }
        Some(Command::Schema) => {
            println!("{}", serde_json::to_string_pretty(&chaos::experiment::schema()).expect("a schema serialises"));
            ExitCode::SUCCESS
        }
    }
}

async fn run(files: &[PathBuf], target: &TargetArgs) -> ExitCode {
    let remote = target.remote();
    let kind = if remote.is_some() { TargetKind::Remote } else { TargetKind::LocalStack };
    // Every file is validated before anything starts.
    let mut experiments = match load(files, kind) {
        Ok(experiments) => experiments,
        Err(problems) => return invalid(&problems),
    };
    // A deployed backend's timeouts decide what relative timings mean: without them, an
    // experiment written for the backend's own timeouts would judge the target by the wrong ones.
    if let Some(spec) = &remote
        && experiments.iter().any(|(_, experiment)| experiment.is_relative())
    {
        match Environment::remote(spec).timeouts().await {
            Ok(timeouts) => experiments.iter_mut().for_each(|(_, experiment)| experiment.resolve(&timeouts)),
            Err(error) => {
                eprintln!("chaos: {error}");
                return ExitCode::from(EXIT_INVALID);
            }
        }
    }

    let (interrupt_tx, interrupt) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("chaos: Ctrl-C: stopping the current experiment and rolling back (press again to quit at once)");
            let _ = interrupt_tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        }
    });

    let mut journals: Vec<Journal> = Vec::new();
    let mut setup_failed = false;
    let total = experiments.len();
    for (index, (source, experiment)) in experiments.iter().enumerate() {
        if *interrupt.borrow() {
            break;
        }
        let progress = Progress::start(&format!("[{}/{total}] {}", index + 1, journal::slug(source)));
        progress.phase("starting the target");
        let environment = match &remote {
            Some(spec) => Environment::remote(spec),
            None => match Environment::local(experiment).await {
                Ok(environment) => environment,
                Err(error) => {
                    progress.finish(&format!("could not start the local stack: {error}"));
                    setup_failed = true;
                    break;
                }
            },
        };
        let journal = chaos::runner::run(experiment, source, &environment, interrupt.clone(), &progress).await;
        progress.finish(&format!(
            "{} (detected {}, recovered {})",
            markdown::outcome(&journal),
            seconds(journal.measurements.time_to_detect),
            seconds(journal.measurements.time_to_recover)
        ));
        drop(environment);
        journals.push(journal);
    }

    if !journals.is_empty() {
        print!("\n{}", table::table(&journals));
        match report::write_all(&target.report_dir, &journals) {
            Ok(written) => println!(
                "\nreports: {} and {}, with a journal and a timeline per experiment in {}",
                written.summary.display(),
                written.junit.display(),
                target.report_dir.display()
            ),
            Err(error) => {
                eprintln!("chaos: cannot write reports to {}: {error}", target.report_dir.display());
                return ExitCode::from(EXIT_INVALID);
            }
        }
    }
    exit_code(&journals, setup_failed, *interrupt.borrow())
}

fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    gift_genie_settings::parse_duration(raw, gift_genie_settings::Bound::Positive)
}

fn parse_topology(raw: &str) -> Result<e2e::Topology, String> {
    e2e::Topology::ALL.into_iter().find(|topology| topology.name() == raw).ok_or_else(|| {
        let names: Vec<&str> = e2e::Topology::ALL.iter().map(|topology| topology.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// Explores `spec` and reports: 0 when the history is valid and the harness did everything, 1 on
/// an anomaly, 2 when the stack could not run the schedule.
async fn explore(spec: ExploreSpec, report_dir: &std::path::Path) -> ExitCode {
    println!(
        "exploring the {} topology for {}, seed {}",
        spec.topology.name(),
        humantime::format_duration(spec.duration),
        spec.seed
    );
    let exploration = match chaos::explore::explore(spec, |step| eprintln!("chaos: {step}")).await {
        Ok(exploration) => exploration,
        Err(error) => {
            eprintln!("chaos: the exploration could not run: {error}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    println!("\nschedule:\n{}", exploration.schedule);
    print!("{}", exploration.analysis);
    for error in &exploration.harness_errors {
        println!("harness error: {error}");
    }
    if !exploration.recovered {
        println!("the stack did not report Redis connected again after every fault healed");
    }
    match exploration.write(report_dir) {
        Ok((history, report)) => println!("\nhistory: {}\nreport: {}", history.display(), report.display()),
        Err(error) => eprintln!("chaos: cannot write the exploration's reports to {}: {error}", report_dir.display()),
    }
    println!(
        "\nto run this schedule again (the same faults at the same times, and the same clients' choices; the real stack's timing differs from run to run):\n  {}",
        exploration.replay
    );
    if exploration.analysis.verdict == history::Verdict::Invalid {
        ExitCode::from(EXIT_DEVIATED)
    } else if !exploration.harness_errors.is_empty() || !exploration.recovered {
        ExitCode::from(EXIT_INVALID)
    } else {
        ExitCode::SUCCESS
    }
}

/// Checks a recorded history: 0 valid, 1 an anomaly or an unknown verdict, 2 unreadable.
fn check(file: &std::path::Path, lost_allowed: u64, json: bool) -> ExitCode {
    let ops = match std::fs::File::open(file)
        .map_err(history::jsonl::ReadError::from)
        .and_then(|opened| history::jsonl::read(std::io::BufReader::new(opened)))
    {
        Ok(ops) => ops,
        Err(error) => {
            eprintln!("chaos: {}: {error}", file.display());
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let analysis = history::check(&ops, history::Options { lost_allowed });
    if json {
        println!("{}", serde_json::to_string_pretty(&analysis).expect("an analysis serialises"));
    } else {
        print!("{analysis}");
    }
    if analysis.is_valid() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DEVIATED) }
}

fn exit_code(journals: &[Journal], setup_failed: bool, interrupted: bool) -> ExitCode {
    if interrupted || journals.iter().any(|journal| journal.status == Status::Interrupted) {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if setup_failed || journals.iter().any(|journal| journal.status == Status::Failed) {
        ExitCode::from(EXIT_INVALID)
    } else if journals.iter().all(Journal::held) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DEVIATED)
    }
}
