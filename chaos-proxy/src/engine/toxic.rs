//! What a toxic is, as the engine runs it: a type with Toxiproxy's attributes, a name, and the
//! share of connections it affects.

use std::sync::Arc;
use std::time::Duration;

/// The way data flows through a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// From the client to the upstream.
    Upstream,
    /// From the upstream back to the client.
    Downstream,
}

impl Direction {
    pub const BOTH: [Self; 2] = [Self::Upstream, Self::Downstream];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Downstream => "downstream",
        }
    }
}

/// A toxic's type and attributes, as Toxiproxy's Go structs hold them: signed integers, so that a
/// negative or zero value is kept as it was given and behaves as it does in Toxiproxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToxicKind {
    Noop,
    /// Milliseconds; each chunk waits `latency` ± up to `jitter` from when it arrived.
    Latency {
        latency: i64,
        jitter: i64,
    },
    /// KB/s; zero or less holds the data for good, as Toxiproxy's loop does.
    Bandwidth {
        rate: i64,
    },
    /// Milliseconds the end of the stream is held back.
    SlowClose {
        delay: i64,
    },
    /// Milliseconds without data before the connection is closed; zero holds it open forever.
    /// Data is dropped either way.
    Timeout {
        timeout: i64,
    },
    /// Milliseconds after data first arrives before both peers get an RST.
    ResetPeer {
        timeout: i64,
    },
    /// Bytes per slice and their variation; `delay` in microseconds between slices.
    Slicer {
        average_size: i64,
        size_variation: i64,
        delay: i64,
    },
    /// Bytes after which the connection is closed.
    LimitData {
        bytes: i64,
    },
}

impl ToxicKind {
    /// Toxiproxy's name for the type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Noop => "noop",
            Self::Latency { .. } => "latency",
            Self::Bandwidth { .. } => "bandwidth",
            Self::SlowClose { .. } => "slow_close",
            Self::Timeout { .. } => "timeout",
            Self::ResetPeer { .. } => "reset_peer",
            Self::Slicer { .. } => "slicer",
            Self::LimitData { .. } => "limit_data",
        }
    }

    /// Chunks that may wait in front of the toxic, as Toxiproxy sizes each toxic's input channel:
    /// 1024 for latency, so that data keeps being read (and timestamped) while a chunk waits.
    pub(crate) fn buffer(&self) -> usize {
        match self {
            Self::Latency { .. } => 1024,
            _ => 1,
        }
    }
}

/// A toxic in a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Toxic {
    pub name: String,
    pub kind: ToxicKind,
    /// Each connection draws whether the toxic affects it: active when a draw in [0, 1) is below
    /// this. Not bounded: above 1 always, at or below 0 never, as in Toxiproxy.
    pub toxicity: f32,
}

/// The toxics of a proxy, one ordered chain per direction. Shared by reference: a connection
/// tells a changed toxic from an unchanged one by pointer.
#[derive(Debug, Clone, Default)]
pub struct Chains {
    pub upstream: Vec<Arc<Toxic>>,
    pub downstream: Vec<Arc<Toxic>>,
}

impl Chains {
    pub fn of(&self, direction: Direction) -> &[Arc<Toxic>] {
        match direction {
            Direction::Upstream => &self.upstream,
            Direction::Downstream => &self.downstream,
        }
    }

    pub fn of_mut(&mut self, direction: Direction) -> &mut Vec<Arc<Toxic>> {
        match direction {
            Direction::Upstream => &mut self.upstream,
            Direction::Downstream => &mut self.downstream,
        }
    }
}

/// Milliseconds as Toxiproxy reads them: zero or less is no time at all.
pub(crate) fn millis(value: i64) -> Duration {
    Duration::from_millis(u64::try_from(value).unwrap_or(0))
}

/// Microseconds, likewise.
pub(crate) fn micros(value: i64) -> Duration {
    Duration::from_micros(u64::try_from(value).unwrap_or(0))
}
