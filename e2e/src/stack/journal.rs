//! What happened to a stack, for the report a failing test prints: events with their time, the
//! faults active now, and the backends' log tails.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testcontainers::core::logs::LogFrame;

use super::BackendNode;
use crate::faults::Fault;

/// How many of a backend's last log lines a failure report shows.
const LOG_TAIL: usize = 40;
/// How many lines a log tail keeps.
const KEPT_LINES: usize = 500;

/// The last lines a container printed.
#[derive(Debug, Clone, Default)]
pub struct LogTail(Arc<Mutex<VecDeque<String>>>);

impl LogTail {
    pub(crate) fn push(&self, frame: &LogFrame) {
        let bytes = match frame {
            LogFrame::StdOut(bytes) | LogFrame::StdErr(bytes) => bytes,
        };
        let mut lines = self.0.lock().expect("log tail lock");
        for line in String::from_utf8_lossy(bytes).lines() {
            if lines.len() == KEPT_LINES {
                lines.pop_front();
            }
            lines.push_back(line.to_owned());
        }
    }

    pub fn last(&self, count: usize) -> Vec<String> {
        let lines = self.0.lock().expect("log tail lock");
        lines.iter().skip(lines.len().saturating_sub(count)).cloned().collect()
    }
}

/// A stack's record of events and active faults. Shared with the Redis topology, whose
/// operations note what they did.
#[derive(Debug)]
pub struct Journal {
    network: String,
    started: Instant,
    events: Mutex<Vec<(Duration, String)>>,
    active: Mutex<Vec<Fault>>,
}

impl Journal {
    pub(crate) fn new(network: &str) -> Self {
        Self {
            network: network.to_owned(),
            started: Instant::now(),
            events: Mutex::default(),
            active: Mutex::default(),
        }
    }

    /// Since the stack began starting.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records an event for the failure report.
    pub fn note(&self, event: impl Into<String>) {
        let event = event.into();
        tracing::info!(network = self.network, "{event}");
        self.events.lock().expect("journal lock").push((self.elapsed(), event));
    }

    pub(crate) fn fault_changed(&self, fault: &Fault, active: bool) {
        let mut faults = self.active.lock().expect("journal lock");
        if active {
            faults.push(fault.clone());
        } else {
            faults.retain(|other| other != fault);
        }
        drop(faults);
        self.note(format!("{} fault: {fault}", if active { "injected" } else { "healed" }));
    }

    /// The faults injected and not healed.
    pub(crate) fn active_faults(&self) -> Vec<Fault> {
        self.active.lock().expect("journal lock").clone()
    }

    /// What a failing test prints: the active faults, the timeline, and the backends' log tails.
    pub fn report(&self, backends: &[BackendNode]) -> String {
        let mut report = format!("--- e2e stack report (network {}) ---\n", self.network);
        let active: Vec<String> = self.active_faults().iter().map(ToString::to_string).collect();
        let active = if active.is_empty() { "none".to_owned() } else { active.join(", ") };
        let _ = writeln!(report, "active faults: {active}\ntimeline:");
        for (at, event) in self.events.lock().expect("journal lock").iter() {
            let _ = writeln!(report, "  {:>8.3}s  {event}", at.as_secs_f64());
        }
        for (index, backend) in backends.iter().enumerate() {
            let _ = writeln!(report, "backend {index} log, last {LOG_TAIL} lines:");
            for line in backend.logs.last(LOG_TAIL) {
                let _ = writeln!(report, "  {line}");
            }
        }
        report
    }
}
