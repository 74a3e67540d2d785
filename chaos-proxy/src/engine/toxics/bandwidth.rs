//! `bandwidth`: data trickles at `rate` KB/s; a rate of zero or less holds it for good, as
//! Toxiproxy's loop does.

use std::time::Duration;

use rand::rngs::StdRng;
use tokio::time::Instant;

use super::{Input, Running, StubState, ToxicType};
use crate::engine::stage::{Chunk, Step, TIMER_RESOLUTION};

/// How Toxiproxy's bandwidth toxic paces a chunk too large for a tenth of a second: in slices of
/// a tenth of a second's worth.
const SLICE: Duration = Duration::from_millis(100);

/// Toxiproxy's `BandwidthToxic`, in KB/s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bandwidth {
    pub rate: i64,
}

impl ToxicType for Bandwidth {
    const NAME: &'static str = "bandwidth";
    const GO_STRUCT: &'static str = "BandwidthToxic";
    type Run = Run;

    super::attributes!(rate);

    fn suspicious(&self) -> Vec<&'static str> {
        if self.rate <= 0 { vec!["rate (data is held for good, as in Toxiproxy)"] } else { Vec::new() }
    }

    fn start(&self, _now: Instant) -> Run {
        Run { rate: self.rate, owed: 0, current: None, next: None, slicing: false }
    }
}

pub(crate) struct Run {
    rate: i64,
    /// Toxiproxy's `sleep`, in nanoseconds: the time owed for the bytes sent so far, less the
    /// time slept. It may go below zero.
    owed: i128,
    current: Option<Chunk>,
    /// When the next piece of `current` may go, and since when it has been waited for.
    next: Option<(Instant, Instant)>,
    slicing: bool,
}

impl Running for Run {
    fn step(&mut self, input: &mut Input, _stub: &mut StubState, now: Instant, _rng: &mut StdRng) -> Step {
        let rate = self.rate;
        if self.current.is_none() {
            let Some(chunk) = input.chunks.pop_front() else {
                return match input.ended {
                    Some(ending) => Step::End(ending),
                    None => Step::Idle,
                };
            };
            if rate > 0 {
                let len = i128::try_from(chunk.data.len()).unwrap_or(i128::MAX);
                self.owed += len * 1_000_000 / i128::from(rate);
                self.slicing = len > i128::from(rate) * 100;
                self.next = self.slicing.then(|| (now + SLICE, now));
            }
            self.current = Some(chunk);
        }
        if rate <= 0 {
            // Toxiproxy's loop `len > rate*100` never ends for a rate of zero: the data is held.
            return Step::Idle;
        }
        let (at, since) = *self.next.get_or_insert_with(|| {
            // A debt below the timer's resolution is carried to the next chunk, not slept now.
            match u64::try_from(self.owed).map(Duration::from_nanos) {
                Ok(owed) if owed >= TIMER_RESOLUTION => (now + owed, now),
                _ => (now, now),
            }
        });
        if now < at {
            return Step::Wait(at);
        }
        let slice_len = usize::try_from(rate.saturating_mul(100)).unwrap_or(usize::MAX);
        let current = self.current.as_mut().expect("a chunk is in hand");
        if self.slicing {
            let slice = Chunk { data: current.data.split_to(slice_len), timestamp: current.timestamp };
            self.owed -= i128::try_from(SLICE.as_nanos()).unwrap_or(i128::MAX);
            self.slicing = current.data.len() > slice_len;
            self.next = self.slicing.then(|| (now + SLICE, now));
            return Step::Ready(slice);
        }
        // Toxiproxy takes the time actually slept off what is owed.
        self.owed -= i128::try_from((now - since).as_nanos()).unwrap_or(i128::MAX);
        self.next = None;
        Step::Ready(self.current.take().expect("a chunk is in hand"))
    }

    /// With a rate of zero or less the chunk in hand never leaves, and nothing more is read.
    fn holds_input(&self) -> bool {
        self.current.is_some() && self.rate <= 0
    }

    fn interrupt(self, _input: &mut Input) -> Vec<Chunk> {
        self.current.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::SeedableRng as _;

    use super::*;
    use crate::engine::stage::Ending;
    use crate::engine::stage::tests::{chunk, stage};

    #[test]
    fn a_bandwidth_of_zero_holds_the_data_as_toxiproxy_does() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Instant::now();
        let mut stage = stage(Bandwidth { rate: 0 }, &mut rng, now);
        stage.push(chunk(b"held", now));
        stage.end_input(Ending::Eof);
        assert!(matches!(stage.step(now + Duration::from_mins(1), &mut rng), Step::Idle));
    }

    #[test]
    fn a_bandwidth_that_never_binds_adds_no_wait() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Instant::now();
        let mut stage = stage(Bandwidth { rate: 1_000_000 }, &mut rng, now);
        for _ in 0..100 {
            stage.push(chunk(&[0; 100], now));
            assert!(matches!(stage.step(now, &mut rng), Step::Ready(_)));
        }
    }
}
