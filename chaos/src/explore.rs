//! A nemesis that searches: from a seed, a random schedule of faults drawn from every fault the
//! topology hosts, sequential and overlapping, with random attributes and durations, run against
//! a local stack while a workload's history is recorded, then checked.
//!
//! Unlike a written experiment, which replays one scenario, each seed is a new one. A seed
//! repeats its schedule and its clients' choices exactly; the timing of the real stack is not
//! repeatable, so a replay is the same search, not the same run.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e::workload::{Workload, WorkloadSpec};
use e2e::{BackendConfig, Fault, Stack, StackOptions, Timeouts, Topology};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;
use testkit::MARGIN;

/// How long the stack is given to come back once every fault has healed: a cluster's election
/// and the breaker's probe, with room.
const RECOVERY_WITHIN: Duration = Duration::from_mins(1);
/// How long the workload keeps running once the stack is back, so that reads after the heal
/// happen before the final ones.
const OBSERVE_AFTER: Duration = Duration::from_secs(3);
/// Faults of these families change Redis's nodes: one at a time.
const EXCLUSIVE_FAMILIES: [&str; 2] = ["filters", "redis"];

/// What to explore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExploreSpec {
    pub seed: u64,
    pub duration: Duration,
    pub topology: Topology,
    /// The backend's `REDIS_WAIT_REPLICAS`.
    pub wait_replicas: u32,
}

impl ExploreSpec {
    /// The backend's settings: the fast test timeouts, one trusted proxy hop for the workload's
    /// clients, a rate-limit window of ten seconds so that the pressure sees several, and the
    /// replicas to wait for.
    pub fn backend(&self) -> BackendConfig {
        BackendConfig::fast()
            .set("TRUSTED_PROXY_HOPS", "1")
            .set("RATE_LIMIT_WINDOW", "10")
            .set("REDIS_WAIT_REPLICAS", self.wait_replicas.to_string())
    }

    /// Acknowledged accounts a loss of which is the topology's, not a bug: with replicas and no
    /// `REDIS_WAIT_REPLICAS`, a failover or a lost primary may drop what was acknowledged just
    /// before. Counted and reported, not failed.
    pub fn lost_allowed(&self) -> u64 {
        match self.topology {
            Topology::Ha | Topology::Cluster if self.wait_replicas == 0 => u64::MAX,
            _ => 0,
        }
    }

    /// The command that runs the same schedule again.
    pub fn replay(&self) -> String {
        format!(
            "cargo run -p chaos -- explore --topology {} --seed {} --duration {} --wait-replicas {}",
            self.topology.name(),
            self.seed,
            humantime::format_duration(self.duration),
            self.wait_replicas
        )
    }
}

/// Whether an event starts or ends a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Inject,
    Heal,
}

/// One step of a schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    #[serde(rename = "at_ms", serialize_with = "crate::serde_millis::millis")]
    pub at: Duration,
    pub action: Action,
    pub fault: Fault,
}

/// Faults injected and healed at set times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub events: Vec<Event>,
}

impl Schedule {
    /// A schedule over `duration` on `topology`, drawn from `seed`: about one fault per fifteen
    /// seconds, each lasting from a second to a third of the run, overlapping where they can.
    pub fn draw(spec: &ExploreSpec, timeouts: &Timeouts) -> Self {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let total = spec.duration.as_secs_f64();
        let faults = usize::try_from(spec.duration.as_secs().div_ceil(15).max(1)).unwrap_or(usize::MAX);
        let mut windows: Vec<(f64, f64, Fault)> = Vec::new();
        // A few tries per fault to find a window where it fits; a fault that never fits is left out.
        for _ in 0..faults.saturating_mul(4) {
            if windows.len() >= faults {
                break;
            }
            let fault = Fault::generate(spec.topology, &mut rng, timeouts);
            let start = rng.random_range(0.05..0.8) * total;
            let length = rng.random_range(1.0..(total / 3.0).max(1.5)).min(total * 0.95 - start);
            let end = start + length.max(0.5);
            let clashes = windows.iter().any(|(other_start, other_end, other)| {
                let overlap = start < *other_end && *other_start < end;
                let exclusive =
                    EXCLUSIVE_FAMILIES.contains(&fault.family()) && EXCLUSIVE_FAMILIES.contains(&other.family());
                overlap && (exclusive || fault.name() == other.name())
            });
            if !clashes {
                windows.push((start, end, fault));
            }
        }
        let mut events: Vec<Event> = windows
            .into_iter()
            .flat_map(|(start, end, fault)| {
                [
                    Event { at: Duration::from_secs_f64(start), action: Action::Inject, fault: fault.clone() },
                    Event { at: Duration::from_secs_f64(end), action: Action::Heal, fault },
                ]
            })
            .collect();
        // Milliseconds, as the schedule prints them, so that what is shown is what runs.
        for event in &mut events {
            event.at = Duration::from_millis(u64::try_from(event.at.as_millis()).unwrap_or(u64::MAX));
        }
        events.sort_by_key(|event| (event.at, event.action == Action::Inject));
        Self { events }
    }

    /// The distinct faults of the schedule.
    pub fn faults(&self) -> Vec<&Fault> {
        let mut faults: Vec<&Fault> = Vec::new();
        for event in &self.events {
            if !faults.contains(&&event.fault) {
                faults.push(&event.fault);
            }
        }
        faults
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for event in &self.events {
            let action = match event.action {
                Action::Inject => "inject",
                Action::Heal => "heal  ",
            };
            writeln!(f, "  {:>8.3} s  {action} {}", event.at.as_secs_f64(), event.fault)?;
        }
        Ok(())
    }
}

/// What an exploration found.
#[derive(Debug, Serialize)]
pub struct Exploration {
    pub seed: u64,
    pub topology: &'static str,
    #[serde(rename = "duration_ms", serialize_with = "crate::serde_millis::millis")]
    pub duration: Duration,
    pub wait_replicas: u32,
    pub schedule: Schedule,
    /// Steps of the schedule the harness could not carry out, with why.
    pub harness_errors: Vec<String>,
    /// Whether `/health` reported connected once everything had healed.
    pub recovered: bool,
    pub analysis: history::Analysis,
    pub replay: String,
    #[serde(skip)]
    pub ops: Vec<history::Op>,
}

impl Exploration {
    /// Writes the history and this report into `dir`; gives their paths.
    pub fn write(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir)?;
        let stem = format!("explore-{}-{}", self.topology, self.seed);
        let history = dir.join(format!("{stem}.history.jsonl"));
        history::jsonl::write(&self.ops, std::io::BufWriter::new(std::fs::File::create(&history)?))?;
        let report = dir.join(format!("{stem}.json"));
        std::fs::write(&report, serde_json::to_string_pretty(self).expect("an exploration serialises"))?;
        Ok((history, report))
    }
}

/// Runs `spec`: starts the stack, draws the schedule against its timeouts, runs it under the
/// workload, heals, waits for recovery, reads every account back and checks the history.
/// `progress` hears each step.
pub async fn explore(spec: ExploreSpec, progress: impl Fn(&str)) -> e2e::Result<Exploration> {
    let options = StackOptions::default().topology(spec.topology).backend(spec.backend());
    progress(&format!("starting a {} stack", spec.topology.name()));
    let stack = Stack::start(options).await?;
    let timeouts = stack.config().timeouts();
    let schedule = Schedule::draw(&spec, &timeouts);
    progress(&format!("the schedule:\n{schedule}"));
    let mut harness_errors = Vec::new();
    for fault in schedule.faults() {
        if let Err(error) = fault.prepare(&stack).await {
            harness_errors.push(format!("prepare {fault}: {error}"));
        }
    }

    let workload_spec = WorkloadSpec { seed: spec.seed, ..WorkloadSpec::default() };
    let workload = Workload::start(stack.backend(), workload_spec);
    let started = tokio::time::Instant::now();
    let mut active: Vec<Fault> = Vec::new();
    for event in &schedule.events {
        tokio::time::sleep_until(started + event.at).await;
        let result = match event.action {
            Action::Inject => {
                progress(&format!("{:.1} s: injecting {}", event.at.as_secs_f64(), event.fault));
                active.push(event.fault.clone());
                event.fault.inject(&stack).await
            }
            Action::Heal => {
                progress(&format!("{:.1} s: healing {}", event.at.as_secs_f64(), event.fault));
                active.retain(|fault| *fault != event.fault);
                event.fault.heal(&stack).await
            }
        };
        if let Err(error) = result {
            harness_errors.push(format!("{:?} {} at {:?}: {error}", event.action, event.fault, event.at));
        }
    }
    tokio::time::sleep_until(started + spec.duration).await;
    for fault in active {
        if let Err(error) = fault.heal(&stack).await {
            harness_errors.push(format!("heal {fault} at the end: {error}"));
        }
    }

    progress("waiting for the stack to recover");
    let recovered = recover(&stack).await;
    tokio::time::sleep(OBSERVE_AFTER).await;
    progress("reading every account back and checking the history");
    let ops = workload.finish(Some(&stack)).await?;
    let analysis = history::check(&ops, history::Options { lost_allowed: spec.lost_allowed() });
    if let Err(error) = stack.check_containers().await {
        harness_errors.push(error.to_string());
    }
    Ok(Exploration {
        seed: spec.seed,
        topology: spec.topology.name(),
        duration: spec.duration,
        wait_replicas: spec.wait_replicas,
        schedule,
        harness_errors,
        recovered,
        analysis,
        replay: spec.replay(),
        ops,
    })
}

/// Polls `/health` until it reports Redis connected, within [`RECOVERY_WITHIN`].
async fn recover(stack: &Stack) -> bool {
    let within = RECOVERY_WITHIN + MARGIN;
    testkit::wait::until::<testkit::wait::NotDone, _, _>("the stack recovers", within, || async {
        Ok(stack
            .backend()
            .health()
            .await
            .is_ok_and(|answer| answer.status == 200 && answer.field("redis_status") == "connected"))
    })
    .await
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64, topology: Topology) -> ExploreSpec {
        ExploreSpec { seed, duration: Duration::from_mins(2), topology, wait_replicas: 0 }
    }

    #[test]
    fn a_seed_draws_the_same_schedule_every_time_and_another_seed_another() {
        let timeouts = BackendConfig::fast().timeouts();
        let first = Schedule::draw(&spec(7, Topology::ThroughProxy), &timeouts);
        assert_eq!(first, Schedule::draw(&spec(7, Topology::ThroughProxy), &timeouts));
        assert_ne!(first, Schedule::draw(&spec(8, Topology::ThroughProxy), &timeouts));
    }

    #[test]
    fn a_schedule_heals_every_fault_it_injects_runs_only_hosted_faults_and_keeps_node_changes_apart() {
        let timeouts = BackendConfig::fast().timeouts();
        for topology in Topology::ALL {
            for seed in 0..50 {
                let schedule = Schedule::draw(&spec(seed, topology), &timeouts);
                assert!(!schedule.events.is_empty(), "{topology:?} {seed}");
                let mut active: Vec<&Fault> = Vec::new();
                for event in &schedule.events {
                    assert!(event.fault.runs_in(topology), "{} on {topology:?}", event.fault);
                    assert!(event.at <= Duration::from_mins(2));
                    match event.action {
                        Action::Inject => {
                            let exclusive = EXCLUSIVE_FAMILIES.contains(&event.fault.family());
                            assert!(
                                !active.iter().any(|other| other.name() == event.fault.name()
                                    || exclusive && EXCLUSIVE_FAMILIES.contains(&other.family())),
                                "{topology:?} seed {seed}: {} clashes with {active:?}",
                                event.fault
                            );
                            active.push(&event.fault);
                        }
                        Action::Heal => active.retain(|other| **other != event.fault),
                    }
                }
                assert!(active.is_empty(), "{topology:?} seed {seed}: left active {active:?}");
            }
        }
    }

    #[test]
    fn losses_are_the_topologys_only_with_replicas_and_no_wait() {
        assert_eq!(spec(1, Topology::Ha).lost_allowed(), u64::MAX);
        assert_eq!(spec(1, Topology::ThroughProxy).lost_allowed(), 0);
        let waiting = ExploreSpec { wait_replicas: 1, ..spec(1, Topology::Cluster) };
        assert_eq!(waiting.lost_allowed(), 0);
        assert_eq!(
            spec(42, Topology::Ha).replay(),
            "cargo run -p chaos -- explore --topology ha --seed 42 --duration 2m --wait-replicas 0"
        );
    }
}
