//! One toxic on one direction of one connection: its input, and its run (the toxic's own state
//! machine, in `toxics/`), driven by the connection's task. Where a Toxiproxy toxic would crash
//! or spin (a slicer of zero bytes, say), its run does something harmless instead, and the API
//! logs a warning when the toxic is created.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng as _;
use rand::rngs::StdRng;
use tokio::time::Instant;

use super::toxic::Toxic;
use super::toxics::{Input, Run, StubState};

/// Waits shorter than this are not given to the timer, whose wheel ticks in milliseconds: a
/// sleep of 100 µs would cost a whole millisecond. They are owed instead, and slept once they add
/// up to a tick, so that rates and delays hold on average.
pub(crate) const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

/// Bytes read from one peer, with the instant they arrived: latency counts from there.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub data: Bytes,
    pub timestamp: Instant,
}

/// How a direction's stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The source closed (or half-closed): pass the end on once everything has passed.
    Eof,
    /// A toxic closes the connection (`timeout`, `limit_data`): both peers see it closed.
    Close,
    /// `reset_peer`: both peers get an RST.
    Reset,
}

/// What a stage can give the next one now.
#[derive(Debug)]
pub(crate) enum Step {
    Ready(Chunk),
    /// Nothing before this instant.
    Wait(Instant),
    /// Nothing until more input arrives.
    Idle,
    /// The stage is done; with `Ending::Close` or `Reset` it ended the stream itself.
    End(Ending),
}

pub(crate) struct Stage {
    pub toxic: Arc<Toxic>,
    input: Input,
    /// The toxic's run; `None` when this connection's toxicity draw left it inactive, and its
    /// chunks pass untouched.
    run: Option<Run>,
    /// Kept across updates of the toxic, as Toxiproxy keeps a stub's state.
    stub: StubState,
}

impl Stage {
    pub(super) fn new(toxic: Arc<Toxic>, rng: &mut StdRng, now: Instant) -> Self {
        let run = Self::fresh_run(&toxic, rng, now);
        Self { toxic, input: Input::default(), run, stub: StubState::default() }
    }

    /// The run a toxic starts with. Toxiproxy draws the toxicity each time a stub starts running
    /// a toxic: when the connection opens, and again when the toxic is updated.
    fn fresh_run(toxic: &Toxic, rng: &mut StdRng, now: Instant) -> Option<Run> {
        (rng.random::<f32>() < toxic.toxicity).then(|| toxic.kind.start(now))
    }

    pub(super) fn accepts(&self) -> bool {
        self.input.ended.is_none()
            && self.input.chunks.len() < self.toxic.kind.buffer()
            && !self.run.as_ref().is_some_and(Run::holds_input)
    }

    /// Takes a chunk whatever the capacity: for chunks handed on by a toxic that was removed or
    /// updated, which were already past the point of backpressure.
    pub(super) fn push(&mut self, chunk: Chunk) {
        self.input.chunks.push_back(chunk);
    }

    pub(super) fn end_input(&mut self, ending: Ending) {
        self.input.ended.get_or_insert(ending);
    }

    /// What the stage gives next.
    pub(super) fn step(&mut self, now: Instant, rng: &mut StdRng) -> Step {
        match &mut self.run {
            Some(run) => run.step(&mut self.input, &mut self.stub, now, rng),
            None => self.input.chunks.pop_front().map_or_else(|| self.input.end_or_idle(), Step::Ready),
        }
    }

    /// Stops the toxic's current run: whatever it holds in hand goes on at once, undelayed, so
    /// that nothing is lost. What waits in the input stays for the next run.
    fn interrupt(&mut self) -> Vec<Chunk> {
        self.run.take().map(|run| run.interrupt(&mut self.input)).unwrap_or_default()
    }

    /// Runs `toxic` from now on, after an update: the input and the stub's state carry over.
    pub(super) fn restart(&mut self, toxic: Arc<Toxic>, rng: &mut StdRng, now: Instant) -> Vec<Chunk> {
        let handed_on = self.interrupt();
        self.run = Self::fresh_run(&toxic, rng, now);
        self.toxic = toxic;
        handed_on
    }

    /// Everything the stage still holds, in order, for when its toxic is removed.
    pub(super) fn drain(&mut self) -> Vec<Chunk> {
        let mut chunks = self.interrupt();
        chunks.extend(self.input.chunks.drain(..));
        chunks
    }

    pub(super) fn input_ended(&self) -> Option<Ending> {
        self.input.ended
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::toxics::ToxicKind;

    /// A stage running `kind` on every connection.
    pub(crate) fn stage(kind: impl Into<ToxicKind>, rng: &mut StdRng, now: Instant) -> Stage {
        Stage::new(Arc::new(Toxic { name: "t".to_owned(), kind: kind.into(), toxicity: 1.0 }), rng, now)
    }

    pub(crate) fn chunk(bytes: &[u8], at: Instant) -> Chunk {
        Chunk { data: Bytes::copy_from_slice(bytes), timestamp: at }
    }
}
