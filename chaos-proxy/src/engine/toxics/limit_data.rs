//! `limit_data`: `bytes` pass, counted across updates of the toxic, then the connection closes.

use rand::rngs::StdRng;
use tokio::time::Instant;

use super::{Input, Running, StubState, ToxicType};
use crate::engine::stage::{Chunk, Ending, Step};

/// Toxiproxy's `LimitDataToxic`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitData {
    pub bytes: i64,
}

impl ToxicType for LimitData {
    const NAME: &'static str = "limit_data";
    const GO_STRUCT: &'static str = "LimitDataToxic";
    type Run = Run;

    super::attributes!(bytes);

    fn suspicious(&self) -> Vec<&'static str> {
        if self.bytes <= 0 { vec!["bytes (the first data closes the connection)"] } else { Vec::new() }
    }

    fn start(&self, _now: Instant) -> Run {
        Run { bytes: self.bytes, closing: false }
    }
}

pub(crate) struct Run {
    bytes: i64,
    closing: bool,
}

impl Running for Run {
    fn step(&mut self, input: &mut Input, stub: &mut StubState, _now: Instant, _rng: &mut StdRng) -> Step {
        if self.closing {
            return Step::End(Ending::Close);
        }
        let Some(mut chunk) = input.chunks.pop_front() else { return input.end_or_idle() };
        let remaining = usize::try_from((self.bytes - stub.bytes_transmitted).max(0)).unwrap_or(usize::MAX);
        chunk.data.truncate(remaining);
        stub.bytes_transmitted += i64::try_from(chunk.data.len()).unwrap_or(i64::MAX);
        self.closing = self.bytes - stub.bytes_transmitted <= 0;
        if chunk.data.is_empty() { Step::End(Ending::Close) } else { Step::Ready(chunk) }
    }

    fn interrupt(self, _input: &mut Input) -> Vec<Chunk> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;

    use super::*;
    use crate::engine::stage::tests::{chunk, stage};

    #[test]
    fn limit_data_passes_the_limit_then_closes() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Instant::now();
        let mut stage = stage(LimitData { bytes: 3 }, &mut rng, now);
        stage.push(chunk(b"abcdef", now));
        let Step::Ready(passed) = stage.step(now, &mut rng) else { panic!() };
        assert_eq!(&passed.data[..], b"abc");
        assert!(matches!(stage.step(now, &mut rng), Step::End(Ending::Close)));
    }
}
