//! The record of one experiment run, in the spirit of Chaos Toolkit's journal: the experiment,
//! its status, whether it deviated, each probe's result, each activity, and the measurements.

use std::fmt::Write as _;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::experiment::Experiment;
use crate::probe::ProbeOutcome;
use crate::serde_millis::millis;
use crate::stats::Measurements;
use crate::timeline::Timeline;

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

/// What an activity did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActivityKind {
    /// Readied the target for a fault before the method.
    #[serde(rename = "prepare")]
    Prepare,
    #[serde(rename = "inject")]
    Inject,
    #[serde(rename = "heal")]
    Heal,
    /// A heal of a fault the experiment left active, after its rollbacks.
    #[serde(rename = "heal (safety net)")]
    HealSafetyNet,
    #[serde(rename = "wait")]
    Wait,
    #[serde(rename = "probe")]
    Probe,
    /// Toxiproxy's `POST /reset`.
    #[serde(rename = "reset-proxy")]
    ResetProxy,
    /// The local stack's containers were checked for kills and restarts.
    #[serde(rename = "check")]
    Check,
}

impl ActivityKind {
    /// As the journal writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Prepare => "prepare",
            Self::Inject => "inject",
            Self::Heal => "heal",
            Self::HealSafetyNet => "heal (safety net)",
            Self::Wait => "wait",
            Self::Probe => "probe",
            Self::ResetProxy => "reset-proxy",
            Self::Check => "check",
        }
    }
}

impl std::fmt::Display for ActivityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One step of the method or one rollback.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Activity {
    pub kind: ActivityKind,
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

/// The workload's history and what its check found.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRecord {
    /// The operations, written next to the journal as `<name>.history.jsonl`.
    #[serde(skip)]
    pub ops: Vec<history::Op>,
    /// When the history began, since the experiment's start.
    #[serde(rename = "started_ms", serialize_with = "millis")]
    pub started: Duration,
    pub analysis: history::Analysis,
}

impl HistoryRecord {
    /// When `anomaly` showed, since the experiment's start.
    pub fn at(&self, anomaly: &history::Anomaly) -> Duration {
        self.started + Duration::from_nanos(anomaly.time)
    }

    /// The verdict as reports write it, with the counts that matter.
    pub fn summary(&self) -> String {
        let analysis = &self.analysis;
        let verdict = match analysis.verdict {
            history::Verdict::Valid => "valid",
            history::Verdict::Invalid => "invalid",
            history::Verdict::Unknown => "unknown",
        };
        let c = &analysis.counts;
        let mut summary = format!("{verdict}: {} acknowledged", c.acknowledged);
        if c.lost > 0 {
            let accepted = if analysis.accepted.is_empty() { "" } else { ", accepted" };
            let _ = write!(summary, ", {} lost{accepted}", c.lost);
        }
        if !analysis.anomalies.is_empty() {
            let count = analysis.anomalies.len();
            let _ = write!(summary, ", {count} {}", if count == 1 { "anomaly" } else { "anomalies" });
        }
        summary
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Journal {
    pub runner: String,
    pub experiment: Experiment,
    /// The file the experiment came from.
    pub source: String,
    /// "local stack" or the target URL.
    pub target: String,
    /// The backend's timeouts that the experiment's relative timings were resolved against.
    pub timeouts: Option<e2e::Timeouts>,
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
    /// The workload's history, checked; absent when the experiment did not get to run it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryRecord>,
    pub timeline: Timeline,
}

impl Journal {
    /// Every hypothesis held: the steady state before and after, every probe of the method, and
    /// the history's check.
    pub fn held(&self) -> bool {
        self.status == Status::Completed && !self.deviated
    }

    /// A short file-name-safe name: see [`slug`].
    pub fn slug(&self) -> String {
        slug(&self.source)
    }

    /// Every probe outcome, in the order they were checked, with the phase each belongs to.
    pub(crate) fn probe_outcomes(&self) -> impl Iterator<Item = (&'static str, &ProbeOutcome)> {
        let before = self.steady_states.before.probes.iter().map(|probe| ("steady state before", probe));
        let method = self.run.iter().filter_map(|activity| activity.probe.as_ref()).map(|probe| ("method", probe));
        let after = self
            .steady_states
            .after
            .iter()
            .flat_map(|after| after.probes.iter())
            .map(|probe| ("steady state after", probe));
        before.chain(method).chain(after)
    }

    /// The history's anomalies that fail the experiment, with when each showed.
    pub fn anomalies(&self) -> impl Iterator<Item = (&history::Anomaly, Duration)> {
        self.history
            .iter()
            .flat_map(|record| record.analysis.anomalies.iter().map(|anomaly| (anomaly, record.at(anomaly))))
    }

    /// The activities, of the method and of the rollbacks, that could not run.
    pub(crate) fn failed_activities(&self) -> impl Iterator<Item = &Activity> {
        self.run.iter().chain(&self.rollbacks).filter(|activity| activity.error.is_some())
    }
}

/// The short, file-name-safe name of an experiment file: its stem, lower-cased, with anything
/// but letters and digits as `-` (`chaos/experiments/ip-filter.toml` is `ip-filter`).
pub fn slug(source: &str) -> String {
    let base = std::path::Path::new(source).file_stem().map_or_else(|| source.into(), |stem| stem.to_string_lossy());
    base.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_is_the_file_stem_made_safe_for_file_names() {
        assert_eq!(slug("chaos/experiments/ip-filter.toml"), "ip-filter");
        assert_eq!(slug("My Experiment.v2.toml"), "my-experiment-v2");
    }
}
