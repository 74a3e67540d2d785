//! One direction of one connection: the chain of stages between what is read from the source and
//! what waits to be written to the destination.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::StdRng;
use tokio::time::Instant;

use super::stage::{Chunk, Ending, Stage, Step};
use super::toxic::Toxic;

/// Most bytes waiting for the destination before the chain stops handing on more: enough to keep
/// a socket busy, small enough that a slow reader pushes back on the source.
const OUTBOX_BYTES: usize = 256 * 1024;

/// Bytes ready for the destination.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    chunks: VecDeque<Bytes>,
    bytes: usize,
}

impl Outbox {
    pub(super) fn has_room(&self) -> bool {
        self.bytes < OUTBOX_BYTES
    }

    pub(super) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub(super) fn push(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.bytes += data.len();
            self.chunks.push_back(data);
        }
    }

    /// The bytes to write next.
    pub(super) fn front(&self) -> Option<&[u8]> {
        self.chunks.front().map(|chunk| &chunk[..])
    }

    /// Marks `written` bytes of the front as written.
    pub(super) fn advance(&mut self, written: usize) {
        let front = self.chunks.front_mut().expect("bytes were written from the front");
        self.bytes -= written;
        if written == front.len() {
            self.chunks.pop_front();
        } else {
            let _ = front.split_to(written);
        }
    }
}

pub(crate) struct Pipeline {
    stages: Vec<Stage>,
    /// Whether the source is still read: false once it ended or a toxic ended the stream.
    input_open: bool,
    /// How the stream ended, once every stage is through.
    ended: Option<Ending>,
}

impl Pipeline {
    pub(super) fn new(toxics: &[Arc<Toxic>], rng: &mut StdRng, now: Instant) -> Self {
        Self {
            stages: toxics.iter().map(|toxic| Stage::new(Arc::clone(toxic), rng, now)).collect(),
            input_open: true,
            ended: None,
        }
    }

    /// True when bytes read now can go straight to the destination: no toxic, nothing waiting.
    pub(super) fn passes_through(&self, out: &Outbox) -> bool {
        self.stages.is_empty() && self.input_open && out.is_empty()
    }

    /// True when another chunk from the source can be taken now.
    pub(super) fn accepts(&self, out: &Outbox) -> bool {
        self.input_open && self.stages.first().map_or_else(|| out.has_room(), Stage::accepts)
    }

    pub(super) fn push(&mut self, chunk: Chunk, out: &mut Outbox) {
        match self.stages.first_mut() {
            Some(first) => first.push(chunk),
            None => out.push(chunk.data),
        }
    }

    /// The source ended (EOF, or a read error, which Toxiproxy treats alike).
    pub(super) fn end_input(&mut self) {
        self.input_open = false;
        match self.stages.first_mut() {
            Some(first) => first.end_input(Ending::Eof),
            None => {
                self.ended.get_or_insert(Ending::Eof);
            }
        }
    }

    /// How the stream ended, once everything has passed every stage.
    pub(super) fn ended(&self) -> Option<Ending> {
        self.ended
    }

    /// Moves whatever can move now, from stage to stage and into `out`. Returns when something
    /// will next be ready, if anything waits on time.
    pub(super) fn pump(&mut self, now: Instant, rng: &mut StdRng, out: &mut Outbox) -> Option<Instant> {
        loop {
            let mut moved = false;
            let mut deadline: Option<Instant> = None;
            let mut index = 0;
            while index < self.stages.len() {
                let room = match self.stages.get(index + 1) {
                    Some(next) => next.accepts(),
                    None => out.has_room(),
                };
                if !room {
                    index += 1;
                    continue;
                }
                match self.stages[index].step(now, rng) {
                    Step::Ready(chunk) => {
                        match self.stages.get_mut(index + 1) {
                            Some(next) => next.push(chunk),
                            None => out.push(chunk.data),
                        }
                        moved = true;
                    }
                    Step::Wait(at) => {
                        deadline = Some(deadline.map_or(at, |earliest| earliest.min(at)));
                        index += 1;
                    }
                    Step::Idle => index += 1,
                    Step::End(ending) => {
                        self.finish_through(index, ending);
                        moved = true;
                        index = 0;
                    }
                }
            }
            if !moved {
                return deadline;
            }
        }
    }

    /// Stages up to `index` are done: what they still hold is dropped (a toxic that ends the
    /// stream stops its input, as a closed Go stub does), and the end moves on.
    fn finish_through(&mut self, index: usize, ending: Ending) {
        self.stages.drain(..=index);
        self.input_open = false;
        match self.stages.first_mut() {
            Some(next) => next.end_input(ending),
            None => {
                self.ended.get_or_insert(ending);
            }
        }
    }

    /// Brings the chain in line with the proxy's toxics for this direction, as Toxiproxy's links
    /// do: an unchanged toxic keeps its state; an updated one hands on what it held and starts
    /// again; a removed one hands on everything; a new one joins the end. Removing a timeout
    /// toxic closes the stream, as its `Cleanup` closes the stub.
    pub(super) fn reconcile(&mut self, toxics: &[Arc<Toxic>], rng: &mut StdRng, now: Instant, out: &mut Outbox) {
        let mut kept: Vec<Stage> = Vec::with_capacity(toxics.len());
        // Chunks handed on by earlier stages that were removed or updated: they are behind
        // everything the next surviving stage holds.
        let mut carried: Vec<Chunk> = Vec::new();
        let mut closed_at: Option<usize> = None;
        let ended_before = self.stages.first().and_then(Stage::input_ended);
        for mut stage in self.stages.drain(..) {
            match toxics.iter().find(|toxic| toxic.name == stage.toxic.name) {
                Some(toxic) => {
                    let handed_on = if Arc::ptr_eq(toxic, &stage.toxic) {
                        Vec::new()
                    } else {
                        stage.restart(Arc::clone(toxic), rng, now)
                    };
                    for chunk in carried {
                        stage.push(chunk);
                    }
                    carried = handed_on;
                    kept.push(stage);
                }
                None if stage.toxic.kind.closes_on_removal() => {
                    // A timeout drops what it holds, and what was behind it never gets through.
                    carried = Vec::new();
                    closed_at = Some(kept.len());
                }
                None => {
                    let mut handed_on = stage.drain();
                    handed_on.extend(carried);
                    carried = handed_on;
                }
            }
        }
        let added: Vec<&Arc<Toxic>> =
            toxics.iter().filter(|toxic| !kept.iter().any(|stage| stage.toxic.name == toxic.name)).collect();
        for toxic in added {
            let mut stage = Stage::new(Arc::clone(toxic), rng, now);
            for chunk in carried.drain(..) {
                stage.push(chunk);
            }
            kept.push(stage);
        }
        for chunk in carried {
            out.push(chunk.data);
        }
        if let (Some(ending), Some(first)) = (ended_before, kept.first_mut()) {
            first.end_input(ending);
        }
        self.stages = kept;
        if let Some(position) = closed_at {
            // Stages before the removed timeout are cut off; those after it drain, then close.
            if let Some(last_cut) = position.checked_sub(1) {
                self.finish_through(last_cut, Ending::Close);
            } else {
                self.input_open = false;
                match self.stages.first_mut() {
                    Some(first) => first.end_input(Ending::Close),
                    None => {
                        self.ended.get_or_insert(Ending::Close);
                    }
                }
            }
        }
        if self.stages.is_empty() && !self.input_open && self.ended.is_none() {
            self.ended = ended_before.or(Some(Ending::Eof));
        }
    }
}
