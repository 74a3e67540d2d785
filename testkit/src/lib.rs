//! Helpers the workspace's test suites and harnesses share, so that each exists once:
//!
//! - [`wait`]: waiting on behaviour against a deadline instead of sleeping a fixed time, with one
//!   [`MARGIN`] for a busy machine, and timing a call;
//! - [`raw_http`]: HTTP written by hand, byte for byte, for clients a library would smooth over;
//! - [`hostile`]: loads of such clients (hang-ups, slow heads, invented methods, oversized bodies);
//! - [`net`]: an echo server and round trips through whatever stands in front of it;
//! - [`cluster`]: forming a Redis Cluster of any nodes that run `redis-cli`, and reading its shape;
//! - `redis` (feature `redis`): `redis-server` processes on loopback, and a cluster of them.
//!
//! It knows nothing of the backend or of Docker.

pub mod cluster;
pub mod hostile;
pub mod net;
pub mod raw_http;
#[cfg(feature = "redis")]
pub mod redis;
pub mod wait;

pub use wait::{MARGIN, Timed, poll_until, timed};
