//! `reset_peer`: `timeout` milliseconds after data first arrives (or the stream ends), both
//! peers get an RST. The data itself never arrives.

use rand::rngs::StdRng;
use tokio::time::Instant;

use super::{Input, Running, StubState, ToxicType};
use crate::engine::stage::{Chunk, Ending, Step};
use crate::engine::toxic::millis;

/// Toxiproxy's `ResetToxic`, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetPeer {
    pub timeout: i64,
}

impl ToxicType for ResetPeer {
    const NAME: &'static str = "reset_peer";
    const GO_STRUCT: &'static str = "ResetToxic";
    type Run = Run;

    super::attributes!(timeout);

    fn start(&self, _now: Instant) -> Run {
        Run { timeout: self.timeout, at: None }
    }
}

pub(crate) struct Run {
    timeout: i64,
    /// When the reset comes, once the countdown started.
    at: Option<Instant>,
}

impl Running for Run {
    fn step(&mut self, input: &mut Input, _stub: &mut StubState, now: Instant, _rng: &mut StdRng) -> Step {
        if self.at.is_none() && (input.chunks.pop_front().is_some() || input.ended.is_some()) {
            self.at = Some(now + millis(self.timeout));
        }
        match self.at {
            Some(at) if now >= at => Step::End(Ending::Reset),
            Some(at) => Step::Wait(at),
            None => Step::Idle,
        }
    }

    /// Counting down to the reset, the Go toxic reads nothing more.
    fn holds_input(&self) -> bool {
        self.at.is_some()
    }

    fn interrupt(self, _input: &mut Input) -> Vec<Chunk> {
        Vec::new()
    }
}
