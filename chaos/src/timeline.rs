//! What a run recorded over time: each request of the load, what `/health` said, and when each
//! fault was active.

use std::time::Duration;

use serde::Serialize;

use crate::serde_millis::{millis, option_millis};

/// One request of the load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// When it was sent, from the start of the experiment.
    #[serde(rename = "at_ms", serialize_with = "millis")]
    pub at: Duration,
    #[serde(rename = "latency_ms", serialize_with = "millis")]
    pub latency: Duration,
    /// The status, or `None` when no answer came (connection error or client timeout).
    pub status: Option<u16>,
}

impl Sample {
    /// What users count as a failure: no answer, or a server error. 4xx are the service working.
    pub fn failed(&self) -> bool {
        self.status.is_none_or(|status| status >= 500)
    }
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

/// The backend's memory: from the Docker stats API for a local stack, from its `/metrics`
/// (`process_resident_memory_bytes`) for a deployed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryPoint {
    #[serde(rename = "at_ms", serialize_with = "millis")]
    pub at: Duration,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    pub faults: Vec<FaultWindow>,
    pub health: Vec<HealthPoint>,
    pub samples: Vec<Sample>,
    pub memory: Vec<MemoryPoint>,
}
