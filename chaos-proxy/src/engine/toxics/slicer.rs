//! `slicer`: data is cut into slices of `average_size` ± `size_variation` bytes, `delay`
//! microseconds apart.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::Rng as _;
use rand::rngs::StdRng;
use tokio::time::Instant;

use super::{Input, Running, StubState, ToxicType};
use crate::engine::stage::{Chunk, Step, TIMER_RESOLUTION};
use crate::engine::toxic::micros;

/// Toxiproxy's `SlicerToxic`: sizes in bytes, the delay in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slicer {
    pub average_size: i64,
    pub size_variation: i64,
    pub delay: i64,
}

impl ToxicType for Slicer {
    const NAME: &'static str = "slicer";
    const GO_STRUCT: &'static str = "SlicerToxic";
    type Run = Run;

    super::attributes!(average_size, size_variation, delay);

    fn suspicious(&self) -> Vec<&'static str> {
        if self.average_size <= 0 {
            vec!["average_size (slices of one byte)"]
        } else if self.size_variation >= self.average_size {
            vec!["size_variation (not below average_size)"]
        } else {
            Vec::new()
        }
    }

    fn start(&self, _now: Instant) -> Run {
        Run { toxic: self.clone(), slices: VecDeque::new(), timestamp: None, next: None, owed: Duration::ZERO }
    }
}

pub(crate) struct Run {
    toxic: Slicer,
    slices: VecDeque<Bytes>,
    timestamp: Option<Instant>,
    next: Option<Instant>,
    owed: Duration,
}

impl Running for Run {
    fn step(&mut self, input: &mut Input, _stub: &mut StubState, now: Instant, rng: &mut StdRng) -> Step {
        if let Some(at) = self.next
            && now < at
        {
            return Step::Wait(at);
        }
        if self.slices.is_empty() {
            let Some(chunk) = input.chunks.pop_front() else {
                return match input.ended {
                    Some(ending) => Step::End(ending),
                    None => Step::Idle,
                };
            };
            let bounds = slice_bounds(chunk.data.len(), self.toxic.average_size, self.toxic.size_variation, rng);
            let mut data = chunk.data;
            for window in bounds.windows(2) {
                self.slices.push_back(data.split_to(window[1] - window[0]));
            }
            self.timestamp = Some(chunk.timestamp);
        }
        let data = self.slices.pop_front().expect("a chunk was just sliced");
        // Toxiproxy waits `delay` after every slice, the last included, before it reads on.
        self.owed += micros(self.toxic.delay);
        self.next = if self.owed < TIMER_RESOLUTION { None } else { Some(now + std::mem::take(&mut self.owed)) };
        Step::Ready(Chunk { data, timestamp: self.timestamp.expect("set with the slices") })
    }

    fn interrupt(self, _input: &mut Input) -> Vec<Chunk> {
        match self.timestamp {
            Some(timestamp) if !self.slices.is_empty() => {
                let mut rest = BytesMut::new();
                self.slices.iter().for_each(|slice| rest.extend_from_slice(slice));
                vec![Chunk { data: rest.freeze(), timestamp }]
            }
            _ => Vec::new(),
        }
    }
}

/// Offsets that cut `len` bytes into slices of about `average` ± `variation` bytes, as
/// `SlicerToxic.chunk`: halve until a piece is within the variation of the average, moving each
/// cut by a random amount within the variation. Unlike the Go code, a variation of zero or an
/// average below one cannot crash it: cuts always fall strictly inside the piece.
fn slice_bounds(len: usize, average: i64, variation: i64, rng: &mut StdRng) -> Vec<usize> {
    let mut bounds = vec![0];
    let mut pending = vec![(0_usize, len)];
    while let Some((start, end)) = pending.pop() {
        let size = i64::try_from(end - start).unwrap_or(i64::MAX);
        if size - average <= variation || end - start <= 1 {
            bounds.push(end);
            continue;
        }
        let shift = if variation > 0 { rng.random_range(0..variation.saturating_mul(2)) - variation } else { 0 };
        let half = i64::try_from(start + (end - start) / 2).unwrap_or(i64::MAX);
        let mid = usize::try_from(half.saturating_add(shift)).unwrap_or(0).clamp(start + 1, end - 1);
        // The right half is cut after the left: push it first.
        pending.push((mid, end));
        pending.push((start, mid));
    }
    bounds
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;

    use super::*;

    #[test]
    fn slices_cover_the_chunk_in_order_whatever_the_attributes() {
        let mut rng = StdRng::seed_from_u64(3);
        for (average, variation) in [(10, 0), (10, 3), (4, 10), (0, 0), (-5, 2), (1000, 0)] {
            let bounds = slice_bounds(100, average, variation, &mut rng);
            assert_eq!((bounds[0], *bounds.last().unwrap()), (0, 100), "{average} ± {variation}");
            assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{average} ± {variation}: {bounds:?}");
        }
        let even = slice_bounds(100, 10, 0, &mut rng);
        assert!(even.windows(2).all(|w| w[1] - w[0] <= 10), "{even:?}");
    }
}
