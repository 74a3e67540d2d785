//! `timeout`: data is dropped, and the connection closes after `timeout` milliseconds without
//! data; zero holds it open forever. Removing the toxic closes the connections it held.

use rand::rngs::StdRng;
use tokio::time::Instant;

use super::{Input, Running, StubState, ToxicType};
use crate::engine::stage::{Chunk, Ending, Step};
use crate::engine::toxic::millis;

/// Toxiproxy's `TimeoutToxic`, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeout {
    pub timeout: i64,
}

impl ToxicType for Timeout {
    const NAME: &'static str = "timeout";
    const GO_STRUCT: &'static str = "TimeoutToxic";
    const CLOSES_ON_REMOVAL: bool = true;
    type Run = Run;

    super::attributes!(timeout);

    fn start(&self, now: Instant) -> Run {
        Run { timeout: self.timeout, deadline: self.deadline_from(now) }
    }
}

impl Timeout {
    fn deadline_from(&self, now: Instant) -> Option<Instant> {
        (self.timeout > 0).then(|| now + millis(self.timeout))
    }
}

pub(crate) struct Run {
    timeout: i64,
    deadline: Option<Instant>,
}

impl Running for Run {
    fn step(&mut self, input: &mut Input, _stub: &mut StubState, now: Instant, _rng: &mut StdRng) -> Step {
        // Data is dropped; each chunk restarts the clock, as the Go toxic's timer is made anew on
        // every pass of its loop.
        if !input.chunks.is_empty() {
            input.chunks.clear();
            self.deadline = Timeout { timeout: self.timeout }.deadline_from(now);
        }
        if let Some(ending) = input.ended {
            return Step::End(ending);
        }
        match self.deadline {
            Some(at) if now >= at => Step::End(Ending::Close),
            Some(at) => Step::Wait(at),
            None => Step::Idle,
        }
    }

    fn interrupt(self, _input: &mut Input) -> Vec<Chunk> {
        Vec::new()
    }
}
