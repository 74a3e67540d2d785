//! `noop`: data passes untouched.

use rand::rngs::StdRng;
use tokio::time::Instant;

use super::{Input, Running, StubState, ToxicType};
use crate::engine::stage::{Chunk, Step};

/// Toxiproxy's `NoopToxic`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Noop {}

impl ToxicType for Noop {
    const NAME: &'static str = "noop";
    const GO_STRUCT: &'static str = "NoopToxic";
    type Run = Pass;

    super::attributes!();

    fn start(&self, _now: Instant) -> Pass {
        Pass
    }
}

/// Passes each chunk on as it comes: `noop`, and any toxic a connection's toxicity draw left
/// inactive.
pub(crate) struct Pass;

impl Running for Pass {
    fn step(&mut self, input: &mut Input, _stub: &mut StubState, _now: Instant, _rng: &mut StdRng) -> Step {
        input.chunks.pop_front().map_or_else(|| input.end_or_idle(), Step::Ready)
    }

    fn interrupt(self, _input: &mut Input) -> Vec<Chunk> {
        Vec::new()
    }
}
