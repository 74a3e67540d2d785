//! The data plane: proxies that accept clients, connect each to its upstream, and pass every byte
//! through the toxics of its direction.
//!
//! It follows Toxiproxy's link model (`link.go`, `toxics/`): each direction of a connection is a
//! chain of toxics; a toxic added to an open connection joins the end of its chain; one that is
//! updated or removed first hands on what it held; and the end of a stream travels down the
//! chain behind the data, so that nothing a peer wrote is lost on the way. Where Toxiproxy runs a
//! goroutine and a channel per toxic, a connection here is one task that drives both chains as
//! state machines: a toxic that waits for nothing adds no hop, no wake-up and no timer.

mod connection;
mod listen;
mod pipeline;
mod proxy;
mod stage;
mod toxic;
pub mod toxics;

pub use listen::resolve_address;
pub use proxy::{ProxySpec, RunningProxy};
pub use toxic::{Chains, Direction, Toxic};
pub use toxics::{TOXIC_TYPES, ToxicKind};
