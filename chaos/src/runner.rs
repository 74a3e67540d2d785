//! Runs one experiment: load and a health monitor in the background, the steady state checked
//! before, the method, rollbacks that always run, then recovery and the steady state after.

use std::time::{Duration, Instant};

use e2e::workload::{Workload, WorkloadSpec};
use e2e::{BackendClient, Fault};
use jiff::Timestamp;
use tokio::sync::watch;

use crate::environment::Environment;
use crate::experiment::{Experiment, Rollback, SteadyState, Step};
use crate::journal::{
    Activity, ActivityKind, ActivityStatus, HistoryRecord, Journal, Status, SteadyStateOutcome, SteadyStates,
};
use crate::load::Load;
use crate::monitor::{HealthMonitor, MemoryMonitor};
use crate::probe::Prober;
use crate::progress::Progress;
use crate::stats::measure;
use crate::timeline::{FaultWindow, HealthPoint, MemoryPoint, Sample, Timeline};

/// What the run has done so far.
struct Run<'a> {
    environment: &'a Environment,
    started: Instant,
    progress: &'a Progress,
    /// Faults injected and not yet healed, with their window in `windows`.
    active: Vec<(Fault, usize)>,
    windows: Vec<FaultWindow>,
    activities: Vec<Activity>,
    deviated: bool,
    failed: bool,
}

impl Run<'_> {
    /// Runs the experiment's rollbacks, then heals whatever is still active.
    async fn roll_back(&mut self, rollbacks: &[Rollback]) -> Vec<Activity> {
        let mut done = Vec::new();
        for rollback in rollbacks {
            match rollback {
                Rollback::HealAll => {
                    while let Some((spec, _)) = self.active.last().cloned() {
                        done.push(self.heal(&spec).await);
                    }
                }
                Rollback::Heal { fault } if self.active.iter().any(|(active, _)| active == fault) => {
                    done.push(self.heal(fault).await);
                }
                Rollback::Heal { .. } => {}
                Rollback::ResetProxy => {
                    let begun = self.started.elapsed();
                    let result = match self.environment.toxiproxy() {
                        Ok(toxiproxy) => toxiproxy.reset().await.map_err(e2e::Error::from),
                        Err(error) => Err(error),
                    };
                    done.push(self.activity(
                        ActivityKind::ResetProxy,
                        "toxiproxy reset".to_owned(),
                        begun,
                        result.err().map(|e| e.to_string()),
                    ));
                }
            }
        }
        // Whatever the experiment says, nothing stays broken.
        while let Some((spec, _)) = self.active.last().cloned() {
            let mut activity = self.heal(&spec).await;
            activity.kind = ActivityKind::HealSafetyNet;
            done.push(activity);
        }
        done
    }

    async fn inject(&mut self, fault: &Fault) -> Activity {
        self.progress.phase(&format!("injecting {fault}"));
        let start = self.started.elapsed();
        // Recorded as active before the call, so that an interruption mid-way still heals it.
        self.windows.push(FaultWindow { fault: fault.to_string(), requested: start, start, end: None });
        let window = self.windows.len() - 1;
        self.active.push((fault.clone(), window));
        let result = fault.inject(self.environment.place()).await;
        self.windows[window].start = self.started.elapsed();
        self.activity(ActivityKind::Inject, fault.to_string(), start, result.err().map(|error| error.to_string()))
    }

    /// Readies the target for every fault of the method, so that each injection takes effect at
    /// once (the IP filter's sidecar takes about a second to start). Only failures are recorded.
    async fn prepare(&mut self, faults: impl Iterator<Item = &Fault>) {
        let mut prepared: Vec<&Fault> = Vec::new();
        for fault in faults {
            if prepared.contains(&fault) {
                continue;
            }
            let start = self.started.elapsed();
            if let Err(error) = fault.prepare(self.environment.place()).await {
                let activity = self.activity(ActivityKind::Prepare, fault.to_string(), start, Some(error.to_string()));
                self.activities.push(activity);
                return;
            }
            prepared.push(fault);
        }
    }

    async fn heal(&mut self, fault: &Fault) -> Activity {
        self.progress.phase(&format!("healing {fault}"));
        let start = self.started.elapsed();
        let result = fault.heal(self.environment.place()).await;
        if let Some(position) = self.active.iter().position(|(active, _)| active == fault) {
            let (_, window) = self.active.remove(position);
            self.windows[window].end = Some(self.started.elapsed());
        }
        self.activity(ActivityKind::Heal, fault.to_string(), start, result.err().map(|error| error.to_string()))
    }

    /// An out-of-memory kill or a restart is a failure whatever the probes saw; it is recorded
    /// as an activity that names the container's state.
    async fn containers_survived(&mut self) -> bool {
        let start = self.started.elapsed();
        let Err(error) = self.environment.check_containers().await else { return true };
        let activity = self.activity(ActivityKind::Check, "containers".to_owned(), start, Some(error.to_string()));
        self.activities.push(activity);
        false
    }

    fn activity(&mut self, kind: ActivityKind, name: String, start: Duration, error: Option<String>) -> Activity {
        if error.is_some() {
            self.failed = true;
        }
        let status = if error.is_some() { ActivityStatus::Failed } else { ActivityStatus::Succeeded };
        Activity { kind, name, status, start, end: self.started.elapsed(), probe: None, error }
    }

    async fn step(&mut self, step: &Step, prober: &Prober<'_>) {
        let activity = match step {
            Step::Inject { fault } => self.inject(fault).await,
            Step::Heal { fault } => self.heal(fault).await,
            Step::Wait { duration } => {
                self.progress.phase(&format!("waiting {duration}"));
                let start = self.started.elapsed();
                tokio::time::sleep(duration.get()).await;
                self.activity(ActivityKind::Wait, duration.to_string(), start, None)
            }
            Step::Probe { probe, within } => {
                self.progress.phase(&format!("probing: {}", probe.name()));
                let start = self.started.elapsed();
                let outcome = match within {
                    Some(within) => prober.poll(probe, within.get()).await,
                    None => prober.check(probe).await,
                };
                self.deviated |= !outcome.tolerance_met;
                let status = if outcome.tolerance_met { ActivityStatus::Succeeded } else { ActivityStatus::Deviated };
                Activity {
                    kind: ActivityKind::Probe,
                    name: probe.name().to_owned(),
                    status,
                    start,
                    end: self.started.elapsed(),
                    probe: Some(outcome),
                    error: None,
                }
            }
        };
        self.activities.push(activity);
    }
}

impl Run<'_> {
    /// Prepares the faults, warms up, checks the steady state, and runs the method if it held.
    async fn method(&mut self, experiment: &Experiment, prober: &Prober<'_>, before: &mut Option<SteadyStateOutcome>) {
        self.progress.phase("preparing the faults");
        self.prepare(experiment.faults()).await;
        if self.failed {
            return;
        }
        self.progress.phase("warming up");
        tokio::time::sleep(experiment.load.warmup.get()).await;
        self.progress.phase("checking the steady state");
        let outcome = steady_state(prober, &experiment.steady_state).await;
        let met = outcome.steady_state_met;
        *before = Some(outcome);
        if met {
            for step in &experiment.method {
                self.step(step, prober).await;
                if self.failed {
                    break;
                }
            }
        }
    }
}

async fn steady_state(prober: &Prober<'_>, hypothesis: &SteadyState) -> SteadyStateOutcome {
    let mut outcomes = Vec::with_capacity(hypothesis.probes.len());
    for probe in &hypothesis.probes {
        outcomes.push(prober.check(probe).await);
    }
    SteadyStateOutcome::new(outcomes)
}

/// Checks the steady state until it holds or `timeout` runs out; once it holds, keeps the load
/// running for `observe` and checks it again, so that a recovery has to last to count.
async fn recovered_steady_state(
    prober: &Prober<'_>,
    hypothesis: &SteadyState,
    timeout: Duration,
    observe: Duration,
) -> SteadyStateOutcome {
    let deadline = Instant::now() + timeout;
    loop {
        let outcome = steady_state(prober, hypothesis).await;
        if outcome.steady_state_met {
            tokio::time::sleep(observe).await;
            return steady_state(prober, hypothesis).await;
        }
        if Instant::now() >= deadline {
            return outcome;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What runs beside the method and watches it: the steady load, `/health`, the backend's memory,
/// and the workload whose history is checked at the end.
struct Instruments {
    started: Instant,
    backend: BackendClient,
    load: Load,
    health: HealthMonitor,
    memory: MemoryMonitor,
    /// Taken when the history is checked.
    workload: Option<Workload>,
    /// When the workload's history began, since the experiment's start.
    workload_started: Duration,
}

impl Instruments {
    fn start(experiment: &Experiment, environment: &Environment) -> Self {
        let started = Instant::now();
        let base_url = environment.backend_url().to_owned();
        let backend = BackendClient::with_timeout(&base_url, Duration::from_secs(30));
        let spec = WorkloadSpec {
            processes: experiment.workload.processes,
            rate: experiment.workload.rate,
            ..WorkloadSpec::default()
        };
        Self {
            load: Load::start(&base_url, &experiment.load, started),
            health: HealthMonitor::start(&base_url, started),
            memory: MemoryMonitor::start(environment.memory_source(), started),
            workload_started: started.elapsed(),
            workload: Some(Workload::start(&backend, spec)),
            started,
            backend,
        }
    }

    fn prober(&self) -> Prober<'_> {
        Prober { backend: &self.backend, load: &self.load, started: self.started }
    }

    /// Stops the workload, reads every account back and checks the history. An anomaly makes
    /// the experiment deviate; a history that cannot be finished is a failed activity.
    async fn check_history(
        &mut self,
        experiment: &Experiment,
        environment: &Environment,
        run: &mut Run<'_>,
    ) -> Option<HistoryRecord> {
        let workload = self.workload.take()?;
        let start = self.started.elapsed();
        match workload.finish(environment.stack()).await {
            Ok(ops) => {
                let options = history::Options { lost_allowed: experiment.workload.lost_allowed };
                let analysis = history::check(&ops, options);
                run.deviated |= analysis.verdict == history::Verdict::Invalid;
                Some(HistoryRecord { ops, started: self.workload_started, analysis })
            }
            Err(error) => {
                let activity = run.activity(ActivityKind::Check, "history".to_owned(), start, Some(error.to_string()));
                run.activities.push(activity);
                None
            }
        }
    }

    /// Stops the load and the monitors: what they recorded.
    fn stop(self) -> (Vec<Sample>, Vec<HealthPoint>, Vec<MemoryPoint>) {
        (self.load.stop(), self.health.stop(), self.memory.stop())
    }
}

/// Runs `experiment` against `environment`. Rollbacks run whatever happens; `interrupt` turning
/// true (Ctrl-C) stops the method early.
pub async fn run(
    experiment: &Experiment,
    source: &str,
    environment: &Environment,
    mut interrupt: watch::Receiver<bool>,
    progress: &Progress,
) -> Journal {
    let start = Timestamp::now();
    let timeouts = environment.timeouts().await.ok();
    let instruments = Instruments::start(experiment, environment);
    let started = instruments.started;
    let prober = instruments.prober();
    let mut run = Run {
        environment,
        started,
        progress,
        active: Vec::new(),
        windows: Vec::new(),
        activities: Vec::new(),
        deviated: false,
        failed: false,
    };

    let mut before = None;
    let interrupted = tokio::select! {
        () = run.method(experiment, &prober, &mut before) => false,
        _ = interrupt.wait_for(|interrupted| *interrupted) => true,
    };
    let before = before.unwrap_or_else(|| SteadyStateOutcome::new(Vec::new()));

    progress.phase("rolling back");
    let method_failed = run.failed;
    let rollbacks = run.roll_back(&experiment.rollbacks).await;
    let rollback_failed = run.failed && !method_failed;

    let mut status = if interrupted {
        Status::Interrupted
    } else if run.failed {
        Status::Failed
    } else if !before.steady_state_met {
        Status::Aborted
    } else {
        Status::Completed
    };
    let after = if status == Status::Completed || (rollback_failed && before.steady_state_met && !interrupted) {
        progress.phase("waiting for the steady state to come back");
        let recovery = &experiment.recovery;
        let outcome =
            recovered_steady_state(&prober, &experiment.steady_state, recovery.timeout.get(), recovery.observe.get())
                .await;
        run.deviated |= !outcome.steady_state_met;
        Some(outcome)
    } else {
        None
    };

    if !run.containers_survived().await && status == Status::Completed {
        status = Status::Failed;
    }

    progress.phase("reading every account back and checking the history");
    let mut instruments = instruments;
    let history = instruments.check_history(experiment, environment, &mut run).await;
    let (samples, health, memory) = instruments.stop();
    let duration = started.elapsed();
    let measurements = measure(&run.windows, &health, &samples);
    let deviated = run.deviated || !before.steady_state_met;
    Journal {
        runner: concat!("gift-genie chaos ", env!("CARGO_PKG_VERSION")).to_owned(),
        experiment: experiment.clone(),
        source: source.to_owned(),
        target: environment.describe(),
        timeouts,
        start,
        end: Timestamp::now(),
        duration,
        status,
        deviated,
        steady_states: SteadyStates { before, after },
        run: run.activities,
        rollbacks,
        measurements,
        history,
        timeline: Timeline { duration, faults: run.windows, health, samples, memory },
    }
}
