//! `latency`: each chunk waits `latency` ± up to `jitter` milliseconds from when it was read.

use rand::Rng as _;
use rand::rngs::StdRng;
use tokio::time::Instant;

use super::{Input, Running, StubState, ToxicType};
use crate::engine::stage::{Chunk, Step};
use crate::engine::toxic::millis;

/// Toxiproxy's `LatencyToxic`, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latency {
    pub latency: i64,
    pub jitter: i64,
}

impl ToxicType for Latency {
    const NAME: &'static str = "latency";
    const GO_STRUCT: &'static str = "LatencyToxic";
    /// 1024, as Toxiproxy sizes latency's input channel, so that data keeps being read (and
    /// timestamped) while a chunk waits.
    const BUFFER: usize = 1024;
    type Run = Run;

    super::attributes!(latency, jitter);

    fn suspicious(&self) -> Vec<&'static str> {
        if self.latency <= 0 && self.jitter <= 0 { vec!["latency"] } else { Vec::new() }
    }

    fn start(&self, _now: Instant) -> Run {
        Run { toxic: self.clone(), due: None }
    }
}

pub(crate) struct Run {
    toxic: Latency,
    /// When the chunk at the head of the input may go.
    due: Option<Instant>,
}

impl Running for Run {
    fn step(&mut self, input: &mut Input, _stub: &mut StubState, now: Instant, rng: &mut StdRng) -> Step {
        let Some(head) = input.chunks.front() else { return input.end_or_idle() };
        let Latency { latency, jitter } = self.toxic;
        let at = *self.due.get_or_insert_with(|| head.timestamp + delay(latency, jitter, rng));
        if now < at {
            return Step::Wait(at);
        }
        self.due = None;
        let mut chunk = input.chunks.pop_front().expect("the head was just seen");
        chunk.timestamp = chunk.timestamp.max(at);
        Step::Ready(chunk)
    }

    fn interrupt(self, input: &mut Input) -> Vec<Chunk> {
        // The chunk whose wait had begun was in hand; the rest waits for the next run.
        if self.due.is_some() { input.chunks.pop_front().into_iter().collect() } else { Vec::new() }
    }
}

/// `latency` ± up to `jitter` milliseconds, as `LatencyToxic.delay`: Go's `Int63n(jitter*2)` less
/// `jitter`, uniform in [-jitter, jitter).
fn delay(latency: i64, jitter: i64, rng: &mut StdRng) -> std::time::Duration {
    let offset = if jitter > 0 { rng.random_range(0..jitter.saturating_mul(2)) - jitter } else { 0 };
    millis(latency.saturating_add(offset))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::SeedableRng as _;

    use super::*;
    use crate::engine::stage::tests::{chunk, stage};

    #[test]
    fn a_zero_latency_passes_a_chunk_without_a_timer() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Instant::now();
        let mut stage = stage(Latency { latency: 0, jitter: 0 }, &mut rng, now);
        stage.push(chunk(b"x", now));
        assert!(matches!(stage.step(now, &mut rng), Step::Ready(_)));
    }

    #[test]
    fn latency_counts_from_arrival_and_keeps_the_order() {
        let mut rng = StdRng::seed_from_u64(1);
        let start = Instant::now();
        let mut stage = stage(Latency { latency: 100, jitter: 0 }, &mut rng, start);
        stage.push(chunk(b"a", start));
        stage.push(chunk(b"b", start + Duration::from_millis(10)));
        assert!(matches!(stage.step(start, &mut rng), Step::Wait(at) if at == start + Duration::from_millis(100)));
        let Step::Ready(first) = stage.step(start + Duration::from_millis(100), &mut rng) else { panic!() };
        assert_eq!(&first.data[..], b"a");
        assert!(matches!(stage.step(start + Duration::from_millis(100), &mut rng), Step::Wait(_)));
        assert!(matches!(stage.step(start + Duration::from_millis(110), &mut rng), Step::Ready(_)));
    }

    #[test]
    fn an_interrupted_latency_hands_on_the_chunk_it_was_holding() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Instant::now();
        let mut stage = stage(Latency { latency: 1000, jitter: 0 }, &mut rng, now);
        stage.push(chunk(b"a", now));
        stage.push(chunk(b"b", now));
        assert!(matches!(stage.step(now, &mut rng), Step::Wait(_)));
        let handed_on: Vec<_> = stage.drain().into_iter().map(|c| c.data).collect();
        assert_eq!(handed_on, [bytes::Bytes::from_static(b"a"), bytes::Bytes::from_static(b"b")]);
    }
}
