//! `slow_close`: the end of the stream is held back `delay` milliseconds once everything before
//! it has passed.

use rand::rngs::StdRng;
use tokio::time::Instant;

use super::{Input, Running, StubState, ToxicType};
use crate::engine::stage::{Chunk, Step};
use crate::engine::toxic::millis;

/// Toxiproxy's `SlowCloseToxic`, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlowClose {
    pub delay: i64,
}

impl ToxicType for SlowClose {
    const NAME: &'static str = "slow_close";
    const GO_STRUCT: &'static str = "SlowCloseToxic";
    type Run = Run;

    super::attributes!(delay);

    fn suspicious(&self) -> Vec<&'static str> {
        if self.delay <= 0 { vec!["delay"] } else { Vec::new() }
    }

    fn start(&self, _now: Instant) -> Run {
        Run { delay: self.delay, end_at: None }
    }
}

pub(crate) struct Run {
    delay: i64,
    end_at: Option<Instant>,
}

impl Running for Run {
    fn step(&mut self, input: &mut Input, _stub: &mut StubState, now: Instant, _rng: &mut StdRng) -> Step {
        if let Some(chunk) = input.chunks.pop_front() {
            return Step::Ready(chunk);
        }
        match input.ended {
            // The delay starts once everything before the end has passed.
            Some(ending) => {
                let at = *self.end_at.get_or_insert(now + millis(self.delay));
                if now < at { Step::Wait(at) } else { Step::End(ending) }
            }
            None => Step::Idle,
        }
    }

    fn interrupt(self, _input: &mut Input) -> Vec<Chunk> {
        Vec::new()
    }
}
