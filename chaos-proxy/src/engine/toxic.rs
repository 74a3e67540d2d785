//! What a toxic is, as the engine runs it: a type with Toxiproxy's attributes (`toxics/`), a
//! name, and the share of connections it affects.

use std::sync::Arc;
use std::time::Duration;

use super::toxics::ToxicKind;

/// The way data flows through a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// From the client to the upstream.
    Upstream,
    /// From the upstream back to the client.
    Downstream,
}

impl Direction {
    pub(crate) const BOTH: [Self; 2] = [Self::Upstream, Self::Downstream];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Downstream => "downstream",
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
