//! The record of one experiment run, in the spirit of Chaos Toolkit's journal: the experiment,
//! its status, whether it deviated, each probe's result, each activity, and the measurements.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::experiment::Experiment;
use crate::load::{Sample, Stats};
use crate::probe::ProbeOutcome;
use crate::serde_millis::{millis, option_millis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Ran to the end; see `deviated`.
    Completed,
    /// The steady state did not hold before the method, which was not run.
    Aborted,
    /// An activity failed to run (a fault could not be injected, the target did not answer).
    Failed,
    /// Ctrl-C: the method stopped early, rollbacks ran.
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SteadyStateOutcome {
    pub steady_state_met: bool,
    pub probes: Vec<ProbeOutcome>,
}

impl SteadyStateOutcome {
    pub fn new(probes: Vec<ProbeOutcome>) -> Self {
        Self { steady_state_met: probes.iter().all(|probe| probe.tolerance_met), probes }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SteadyStates {
    pub before: SteadyStateOutcome,
    /// Absent when the method did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<SteadyStateOutcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivityStatus {
    Succeeded,
    /// Ran, but a probe's tolerance did not hold.
    Deviated,
    /// Could not run.
    Failed,
}

/// One step of the method or one rollback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    pub kind: String,
    pub name: String,
    pub status: ActivityStatus,
    #[serde(rename = "start_ms", serialize_with = "millis")]
    pub start: Duration,
    #[serde(rename = "end_ms", serialize_with = "millis")]
    pub end: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// When a fault was active.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultWindow {
    pub fault: String,
    /// When the injection began. Stopping Redis, say, takes effect before the call returns.
    #[serde(rename = "requested_ms", serialize_with = "millis")]
    pub requested: Duration,
    /// When the injection returned: the fault is in place.
    #[serde(rename = "start_ms", serialize_with = "millis")]
    pub start: Duration,
    #[serde(rename = "end_ms", serialize_with = "option_millis")]
    pub end: Option<Duration>,
}

/// What `/health` said, polled apart from the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HealthPoint {
    #[serde(rename = "at_ms", serialize_with = "millis")]
    pub at: Duration,
    pub connected: bool,
}

/// The load split around the faults. `before` holds the requests answered before the first
/// injection began; `after` those sent once the last heal was done; `during` all the others,
/// including those in flight while a fault was being injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Phases {
    pub before: Stats,
    pub during: Stats,
    pub after: Stats,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurements {
    /// From the first fault to `/health` first reporting Redis disconnected.
    #[serde(rename = "time_to_detect_ms", serialize_with = "option_millis")]
    pub time_to_detect: Option<Duration>,
    /// From the last heal to `/health` reporting Redis connected again.
    #[serde(rename = "time_to_recover_ms", serialize_with = "option_millis")]
    pub time_to_recover: Option<Duration>,
    pub requests: usize,
    pub phases: Phases,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    pub faults: Vec<FaultWindow>,
    pub health: Vec<HealthPoint>,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Journal {
    pub runner: String,
    pub experiment: Experiment,
    /// The file the experiment came from.
    pub source: String,
    /// "local stack" or the target URL.
    pub target: String,
    pub start: Timestamp,
    pub end: Timestamp,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    pub status: Status,
    pub deviated: bool,
    pub steady_states: SteadyStates,
    pub run: Vec<Activity>,
    pub rollbacks: Vec<Activity>,
    pub measurements: Measurements,
    pub timeline: Timeline,
}

impl Journal {
    /// Every hypothesis held: the steady state before and after, and every probe of the method.
    pub fn held(&self) -> bool {
        self.status == Status::Completed && !self.deviated
    }

    /// A short file-name-safe name.
    pub fn slug(&self) -> String {
        let stem = std::path::Path::new(&self.source).file_stem().map(|stem| stem.to_string_lossy().into_owned());
        let base = stem.unwrap_or_else(|| self.experiment.title.clone());
        base.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
    }
}
