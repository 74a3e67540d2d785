//! The toxics, one module each, as Toxiproxy keeps one file per toxic in `toxics/` and registers
//! it by name. A module owns its type's name, its attributes and their lenient decoding, and the
//! state machine that runs it on one direction of one connection. `registry!` lists them:
//! adding a toxic is a module and a line there.

mod bandwidth;
mod latency;
mod limit_data;
mod noop;
mod reset_peer;
mod slicer;
mod slow_close;
mod timeout;

use std::collections::VecDeque;

use rand::rngs::StdRng;
use tokio::time::Instant;

use super::stage::{Chunk, Ending, Step};

/// What a toxic's run reads from: the chunks waiting in front of it, and how its input ended.
#[derive(Debug, Default)]
pub(crate) struct Input {
    pub chunks: VecDeque<Chunk>,
    pub ended: Option<Ending>,
}

impl Input {
    /// `End` once the input has ended and every chunk has gone, else `Idle`.
    pub(crate) fn end_or_idle(&self) -> Step {
        match self.ended {
            Some(ending) if self.chunks.is_empty() => Step::End(ending),
            _ => Step::Idle,
        }
    }
}

/// State a toxic keeps on a connection across updates of the toxic, as Toxiproxy's
/// `StatefulToxic` keeps it in the stub: only `limit_data` has any, the bytes it let through.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StubState {
    pub bytes_transmitted: i64,
}

/// One toxic type: its attributes (Toxiproxy's Go struct, fields as signed integers so that a
/// negative or zero value is kept as given) and how it runs.
pub(crate) trait ToxicType: Clone + Default + PartialEq + Eq + std::fmt::Debug {
    /// Toxiproxy's name for the type, as in `slow_close`.
    const NAME: &'static str;
    /// The Go struct's name, as Go's decoding errors name it.
    const GO_STRUCT: &'static str;
    /// Chunks that may wait in front of the toxic, as Toxiproxy sizes each toxic's input channel.
    const BUFFER: usize = 1;
    /// Removing the toxic closes the connections it acted on (Toxiproxy's `CleanupToxic`).
    const CLOSES_ON_REMOVAL: bool = false;

    type Run: Running;

    /// The attributes in the Go struct's field order.
    fn attributes(&self) -> Vec<(&'static str, i64)>;

    fn attributes_mut(&mut self) -> Vec<(&'static str, &mut i64)>;

    /// Attributes whose value is probably a mistake, for a warning: Toxiproxy accepts them.
    fn suspicious(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// A run of the toxic that starts `now`.
    fn start(&self, now: Instant) -> Self::Run;
}

/// A toxic running on one direction of one connection.
pub(crate) trait Running: Send {
    /// What the toxic gives the next stage now.
    fn step(&mut self, input: &mut Input, stub: &mut StubState, now: Instant, rng: &mut StdRng) -> Step;

    /// True when the run stops reading its input, as the Go toxic blocks in a wait.
    fn holds_input(&self) -> bool {
        false
    }

    /// Stops the run, as Toxiproxy interrupts a stub before changing its toxic: whatever it holds
    /// in hand goes on at once, undelayed, so that nothing is lost. What waits in the input stays.
    fn interrupt(self, input: &mut Input) -> Vec<Chunk>;
}

/// `$($variant => $module::$type),*`: the registry of toxic types. It gives [`ToxicKind`], one
/// variant per type holding its attributes, and [`Run`], one variant per type's run, with their
/// dispatch; and [`TOXIC_TYPES`], the names the API accepts.
macro_rules! registry {
    ($($variant:ident => $module:ident :: $type:ident),+ $(,)?) => {
        /// A toxic's type and attributes.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ToxicKind {
            $($variant($module::$type)),+
        }

        /// The toxic types this server knows, as Toxiproxy registers them.
        pub const TOXIC_TYPES: &[&str] = &[$(<$module::$type as ToxicType>::NAME),+];

        impl ToxicKind {
            /// The type named `name`, with every attribute at its zero value.
            pub fn zero(name: &str) -> Option<Self> {
                $(if name == <$module::$type as ToxicType>::NAME {
                    return Some(Self::$variant($module::$type::default()));
                })+
                None
            }

            /// Toxiproxy's name for the type.
            pub fn type_name(&self) -> &'static str {
                match self { $(Self::$variant(_) => <$module::$type as ToxicType>::NAME),+ }
            }

            pub(crate) fn go_struct(&self) -> &'static str {
                match self { $(Self::$variant(_) => <$module::$type as ToxicType>::GO_STRUCT),+ }
            }

            pub(crate) fn buffer(&self) -> usize {
                match self { $(Self::$variant(_) => <$module::$type as ToxicType>::BUFFER),+ }
            }

            pub(crate) fn closes_on_removal(&self) -> bool {
                match self { $(Self::$variant(_) => <$module::$type as ToxicType>::CLOSES_ON_REMOVAL),+ }
            }

            /// The attributes in the Go struct's field order.
            pub fn attributes(&self) -> Vec<(&'static str, i64)> {
                match self { $(Self::$variant(toxic) => toxic.attributes()),+ }
            }

            pub(crate) fn attributes_mut(&mut self) -> Vec<(&'static str, &mut i64)> {
                match self { $(Self::$variant(toxic) => toxic.attributes_mut()),+ }
            }

            /// Attributes whose value is probably a mistake.
            pub(crate) fn suspicious(&self) -> Vec<&'static str> {
                match self { $(Self::$variant(toxic) => toxic.suspicious()),+ }
            }

            pub(crate) fn start(&self, now: Instant) -> Run {
                match self { $(Self::$variant(toxic) => Run::$variant(toxic.start(now))),+ }
            }
        }

        $(impl From<$module::$type> for ToxicKind {
            fn from(toxic: $module::$type) -> Self {
                Self::$variant(toxic)
            }
        })+

        /// A toxic's run, one variant per type.
        pub(crate) enum Run {
            $($variant(<$module::$type as ToxicType>::Run)),+
        }

        impl Run {
            pub(crate) fn step(&mut self, input: &mut Input, stub: &mut StubState, now: Instant, rng: &mut StdRng) -> Step {
                match self { $(Self::$variant(run) => run.step(input, stub, now, rng)),+ }
            }

            pub(crate) fn holds_input(&self) -> bool {
                match self { $(Self::$variant(run) => run.holds_input()),+ }
            }

            pub(crate) fn interrupt(self, input: &mut Input) -> Vec<Chunk> {
                match self { $(Self::$variant(run) => run.interrupt(input)),+ }
            }
        }
    };
}

/// The attribute accessors of a toxic type from its fields, in the Go struct's order.
macro_rules! attributes {
    ($($field:ident),*) => {
        fn attributes(&self) -> Vec<(&'static str, i64)> {
            vec![$((stringify!($field), self.$field)),*]
        }

        fn attributes_mut(&mut self) -> Vec<(&'static str, &mut i64)> {
            vec![$((stringify!($field), &mut self.$field)),*]
        }
    };
}
use attributes;

registry! {
    Latency => latency::Latency,
    Bandwidth => bandwidth::Bandwidth,
    SlowClose => slow_close::SlowClose,
    Timeout => timeout::Timeout,
    ResetPeer => reset_peer::ResetPeer,
    Slicer => slicer::Slicer,
    LimitData => limit_data::LimitData,
    Noop => noop::Noop,
}

pub use bandwidth::Bandwidth;
pub use latency::Latency;
pub use limit_data::LimitData;
pub use noop::Noop;
pub use reset_peer::ResetPeer;
pub use slicer::Slicer;
pub use slow_close::SlowClose;
pub use timeout::Timeout;
