//! One toxic on one direction of one connection: a small state machine with an inbox, driven by
//! the connection's task. Each follows its counterpart in Toxiproxy's `toxics/` package; where a
//! Toxiproxy toxic would crash or spin (a slicer of zero bytes, say), the stage does something
//! harmless instead, and the API logs a warning when the toxic is created.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::Rng as _;
use rand::rngs::StdRng;
use tokio::time::Instant;

use super::toxic::{Toxic, ToxicKind, micros, millis};

/// Waits shorter than this are not given to the timer, whose wheel ticks in milliseconds: a
/// sleep of 100 µs would cost a whole millisecond. They are owed instead, and slept once they add
/// up to a tick, so that rates and delays hold on average.
const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

/// How Toxiproxy's bandwidth toxic paces a chunk too large for a tenth of a second: in slices of
/// a tenth of a second's worth.
const BANDWIDTH_SLICE: Duration = Duration::from_millis(100);

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
    inbox: VecDeque<Chunk>,
    input_ended: Option<Ending>,
    state: State,
    /// Bytes a `limit_data` toxic let through on this connection; kept across updates of the toxic,
    /// as Toxiproxy keeps a stub's state.
    transmitted: i64,
}

enum State {
    /// noop, and any toxic this connection's draw left inactive.
    Pass,
    Latency {
        due: Option<Instant>,
    },
    Bandwidth(Bandwidth),
    Slicer(Slicer),
    SlowClose {
        end_at: Option<Instant>,
    },
    Timeout {
        deadline: Option<Instant>,
    },
    Reset {
        at: Option<Instant>,
    },
    Limit {
        closing: bool,
    },
}

#[derive(Default)]
struct Bandwidth {
    /// Toxiproxy's `sleep`, in nanoseconds: the time owed for the bytes sent so far, less the
    /// time slept. It may go below zero.
    owed: i128,
    current: Option<Chunk>,
    /// When the next piece of `current` may go, and since when it has been waited for.
    next: Option<(Instant, Instant)>,
    slicing: bool,
}

#[derive(Default)]
struct Slicer {
    slices: VecDeque<Bytes>,
    timestamp: Option<Instant>,
    next: Option<Instant>,
    owed: Duration,
}

impl Stage {
    pub fn new(toxic: Arc<Toxic>, rng: &mut StdRng, now: Instant) -> Self {
        let mut stage = Self { toxic, inbox: VecDeque::new(), input_ended: None, state: State::Pass, transmitted: 0 };
        stage.state = stage.fresh_state(rng, now);
        stage
    }

    /// The state a run of the toxic starts with. Toxiproxy draws the toxicity each time a stub
    /// starts running a toxic: when the connection opens, and again when the toxic is updated.
    fn fresh_state(&self, rng: &mut StdRng, now: Instant) -> State {
        if rng.random::<f32>() >= self.toxic.toxicity {
            return State::Pass;
        }
        match self.toxic.kind {
            ToxicKind::Noop => State::Pass,
            ToxicKind::Latency { .. } => State::Latency { due: None },
            ToxicKind::Bandwidth { .. } => State::Bandwidth(Bandwidth::default()),
            ToxicKind::Slicer { .. } => State::Slicer(Slicer::default()),
            ToxicKind::SlowClose { .. } => State::SlowClose { end_at: None },
            ToxicKind::Timeout { timeout } => State::Timeout { deadline: (timeout > 0).then(|| now + millis(timeout)) },
            ToxicKind::ResetPeer { .. } => State::Reset { at: None },
            ToxicKind::LimitData { .. } => State::Limit { closing: false },
        }
    }

    pub fn accepts(&self) -> bool {
        self.input_ended.is_none() && self.inbox.len() < self.toxic.kind.buffer() && !self.holds_input()
    }

    /// True for states that stop reading their input, as the Go toxic blocks in a wait.
    fn holds_input(&self) -> bool {
        match &self.state {
            State::Reset { at } => at.is_some(),
            State::Bandwidth(bandwidth) => bandwidth.current.is_some() && self.stalled(),
            _ => false,
        }
    }

    fn stalled(&self) -> bool {
        matches!(self.toxic.kind, ToxicKind::Bandwidth { rate } if rate <= 0)
    }

    /// Takes a chunk whatever the capacity: for chunks handed on by a toxic that was removed or
    /// updated, which were already past the point of backpressure.
    pub fn push(&mut self, chunk: Chunk) {
        self.inbox.push_back(chunk);
    }

    pub fn end_input(&mut self, ending: Ending) {
        self.input_ended.get_or_insert(ending);
    }

    /// What the stage gives next.
    pub fn step(&mut self, now: Instant, rng: &mut StdRng) -> Step {
        let kind = self.toxic.kind.clone();
        let ended = self.input_ended;
        let end_or_idle = |inbox: &VecDeque<Chunk>| match ended {
            Some(ending) if inbox.is_empty() => Step::End(ending),
            _ => Step::Idle,
        };
        match (&mut self.state, kind) {
            (State::Pass, _) => self.inbox.pop_front().map_or_else(|| end_or_idle(&self.inbox), Step::Ready),
            (State::Latency { due }, ToxicKind::Latency { latency, jitter }) => {
                let Some(head) = self.inbox.front() else { return end_or_idle(&self.inbox) };
                let at = *due.get_or_insert_with(|| head.timestamp + latency_delay(latency, jitter, rng));
                if now < at {
                    return Step::Wait(at);
                }
                *due = None;
                let mut chunk = self.inbox.pop_front().expect("the head was just seen");
                chunk.timestamp = chunk.timestamp.max(at);
                Step::Ready(chunk)
            }
            (State::Bandwidth(bandwidth), ToxicKind::Bandwidth { rate }) => {
                bandwidth.step(rate, &mut self.inbox, ended, now)
            }
            (State::Slicer(slicer), ToxicKind::Slicer { average_size, size_variation, delay }) => {
                slicer.step(average_size, size_variation, micros(delay), &mut self.inbox, ended, now, rng)
            }
            (State::SlowClose { end_at }, ToxicKind::SlowClose { delay }) => {
                if let Some(chunk) = self.inbox.pop_front() {
                    return Step::Ready(chunk);
                }
                match ended {
                    // The delay starts once everything before the end has passed.
                    Some(ending) => {
                        let at = *end_at.get_or_insert(now + millis(delay));
                        if now < at { Step::Wait(at) } else { Step::End(ending) }
                    }
                    None => Step::Idle,
                }
            }
            (State::Timeout { deadline }, ToxicKind::Timeout { timeout }) => {
                // Data is dropped; each chunk restarts the clock, as the Go toxic's timer is made
                // anew on every pass of its loop.
                if !self.inbox.is_empty() {
                    self.inbox.clear();
                    *deadline = (timeout > 0).then(|| now + millis(timeout));
                }
                if let Some(ending) = ended {
                    return Step::End(ending);
                }
                match *deadline {
                    Some(at) if now >= at => Step::End(Ending::Close),
                    Some(at) => Step::Wait(at),
                    None => Step::Idle,
                }
            }
            (State::Reset { at }, ToxicKind::ResetPeer { timeout }) => {
                if at.is_none() && (self.inbox.pop_front().is_some() || ended.is_some()) {
                    // The first chunk (or the end of the stream) starts the countdown; the chunk
                    // itself never arrives.
                    *at = Some(now + millis(timeout));
                }
                match *at {
                    Some(at) if now >= at => Step::End(Ending::Reset),
                    Some(at) => Step::Wait(at),
                    None => Step::Idle,
                }
            }
            (State::Limit { closing }, ToxicKind::LimitData { bytes }) => {
                if *closing {
                    return Step::End(Ending::Close);
                }
                let Some(mut chunk) = self.inbox.pop_front() else { return end_or_idle(&self.inbox) };
                let remaining = usize::try_from((bytes - self.transmitted).max(0)).unwrap_or(usize::MAX);
                chunk.data.truncate(remaining);
                self.transmitted += i64::try_from(chunk.data.len()).unwrap_or(i64::MAX);
                *closing = bytes - self.transmitted <= 0;
                if chunk.data.is_empty() { Step::End(Ending::Close) } else { Step::Ready(chunk) }
            }
            _ => unreachable!("a stage's state always matches its toxic's kind"),
        }
    }

    /// Stops the toxic's current run, as Toxiproxy interrupts a stub before changing its toxic:
    /// whatever the run holds in hand goes on at once, undelayed, so that nothing is lost. What
    /// waits in the inbox stays for the next run.
    pub fn interrupt(&mut self) -> Vec<Chunk> {
        match std::mem::replace(&mut self.state, State::Pass) {
            State::Latency { due: Some(_) } => self.inbox.pop_front().into_iter().collect(),
            State::Bandwidth(bandwidth) => bandwidth.current.into_iter().collect(),
            State::Slicer(slicer) => match slicer.timestamp {
                Some(timestamp) if !slicer.slices.is_empty() => {
                    let mut rest = BytesMut::new();
                    slicer.slices.iter().for_each(|slice| rest.extend_from_slice(slice));
                    vec![Chunk { data: rest.freeze(), timestamp }]
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Runs `toxic` from now on, after an update: the inbox and a `limit_data` count carry over.
    pub fn restart(&mut self, toxic: Arc<Toxic>, rng: &mut StdRng, now: Instant) -> Vec<Chunk> {
        let handed_on = self.interrupt();
        self.toxic = toxic;
        self.state = self.fresh_state(rng, now);
        handed_on
    }

    /// Everything the stage still holds, in order, for when its toxic is removed.
    pub fn drain(&mut self) -> Vec<Chunk> {
        let mut chunks = self.interrupt();
        chunks.extend(self.inbox.drain(..));
        chunks
    }

    pub fn input_ended(&self) -> Option<Ending> {
        self.input_ended
    }
}

/// `latency` ± up to `jitter` milliseconds, as `LatencyToxic.delay`: Go's `Int63n(jitter*2)` less
/// `jitter`, uniform in [-jitter, jitter).
fn latency_delay(latency: i64, jitter: i64, rng: &mut StdRng) -> Duration {
    let offset = if jitter > 0 { rng.random_range(0..jitter.saturating_mul(2)) - jitter } else { 0 };
    millis(latency.saturating_add(offset))
}

impl Bandwidth {
    fn step(&mut self, rate: i64, inbox: &mut VecDeque<Chunk>, ended: Option<Ending>, now: Instant) -> Step {
        if self.current.is_none() {
            let Some(chunk) = inbox.pop_front() else {
                return match ended {
                    Some(ending) => Step::End(ending),
                    None => Step::Idle,
                };
            };
            if rate > 0 {
                let len = i128::try_from(chunk.data.len()).unwrap_or(i128::MAX);
                self.owed += len * 1_000_000 / i128::from(rate);
                self.slicing = len > i128::from(rate) * 100;
                self.next = self.slicing.then(|| (now + BANDWIDTH_SLICE, now));
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
            self.owed -= i128::try_from(BANDWIDTH_SLICE.as_nanos()).unwrap_or(i128::MAX);
            self.slicing = current.data.len() > slice_len;
            self.next = self.slicing.then(|| (now + BANDWIDTH_SLICE, now));
            return Step::Ready(slice);
        }
        // Toxiproxy takes the time actually slept off what is owed.
        self.owed -= i128::try_from((now - since).as_nanos()).unwrap_or(i128::MAX);
        self.next = None;
        Step::Ready(self.current.take().expect("a chunk is in hand"))
    }
}

impl Slicer {
    #[allow(clippy::too_many_arguments)] // one toxic's attributes, its inbox and the clock
    fn step(
        &mut self,
        average_size: i64,
        size_variation: i64,
        delay: Duration,
        inbox: &mut VecDeque<Chunk>,
        ended: Option<Ending>,
        now: Instant,
        rng: &mut StdRng,
    ) -> Step {
        if let Some(at) = self.next
            && now < at
        {
            return Step::Wait(at);
        }
        if self.slices.is_empty() {
            let Some(chunk) = inbox.pop_front() else {
                return match ended {
                    Some(ending) => Step::End(ending),
                    None => Step::Idle,
                };
            };
            let bounds = slice_bounds(chunk.data.len(), average_size, size_variation, rng);
            let mut data = chunk.data;
            for window in bounds.windows(2) {
                self.slices.push_back(data.split_to(window[1] - window[0]));
            }
            self.timestamp = Some(chunk.timestamp);
        }
        let data = self.slices.pop_front().expect("a chunk was just sliced");
        // Toxiproxy waits `delay` after every slice, the last included, before it reads on.
        self.owed += delay;
        self.next = if self.owed < TIMER_RESOLUTION { None } else { Some(now + std::mem::take(&mut self.owed)) };
        Step::Ready(Chunk { data, timestamp: self.timestamp.expect("set with the slices") })
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

    fn toxic(kind: ToxicKind) -> Arc<Toxic> {
        Arc::new(Toxic { name: "t".to_owned(), kind, toxicity: 1.0 })
    }

    fn chunk(bytes: &[u8], at: Instant) -> Chunk {
        Chunk { data: Bytes::copy_from_slice(bytes), timestamp: at }
    }

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

    #[test]
    fn a_zero_latency_passes_a_chunk_without_a_timer() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Instant::now();
        let mut stage = Stage::new(toxic(ToxicKind::Latency { latency: 0, jitter: 0 }), &mut rng, now);
        stage.push(chunk(b"x", now));
        assert!(matches!(stage.step(now, &mut rng), Step::Ready(_)));
    }

    #[test]
    fn latency_counts_from_arrival_and_keeps_the_order() {
        let mut rng = StdRng::seed_from_u64(1);
        let start = Instant::now();
        let mut stage = Stage::new(toxic(ToxicKind::Latency { latency: 100, jitter: 0 }), &mut rng, start);
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
        let mut stage = Stage::new(toxic(ToxicKind::Latency { latency: 1000, jitter: 0 }), &mut rng, now);
        stage.push(chunk(b"a", now));
        stage.push(chunk(b"b", now));
        assert!(matches!(stage.step(now, &mut rng), Step::Wait(_)));
        let handed_on: Vec<_> = stage.drain().into_iter().map(|c| c.data).collect();
        assert_eq!(handed_on, [Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
    }

    #[test]
    fn limit_data_passes_the_limit_then_closes() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Instant::now();
        let mut stage = Stage::new(toxic(ToxicKind::LimitData { bytes: 3 }), &mut rng, now);
        stage.push(chunk(b"abcdef", now));
        let Step::Ready(passed) = stage.step(now, &mut rng) else { panic!() };
        assert_eq!(&passed.data[..], b"abc");
        assert!(matches!(stage.step(now, &mut rng), Step::End(Ending::Close)));
    }

    #[test]
    fn a_bandwidth_of_zero_holds_the_data_as_toxiproxy_does() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Instant::now();
        let mut stage = Stage::new(toxic(ToxicKind::Bandwidth { rate: 0 }), &mut rng, now);
        stage.push(chunk(b"held", now));
        stage.end_input(Ending::Eof);
        assert!(matches!(stage.step(now + Duration::from_mins(1), &mut rng), Step::Idle));
    }

    #[test]
    fn a_bandwidth_that_never_binds_adds_no_wait() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Instant::now();
        let mut stage = Stage::new(toxic(ToxicKind::Bandwidth { rate: 1_000_000 }), &mut rng, now);
        for _ in 0..100 {
            stage.push(chunk(&[0; 100], now));
            assert!(matches!(stage.step(now, &mut rng), Step::Ready(_)));
        }
    }
}
