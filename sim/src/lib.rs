//! A deterministic simulation of the Gift Genie backend against Redis.
//!
//! The backend's real code (its router, `RedisPool` with breakers, retries and deadlines, the
//! rate limiter, registration and `/health`) runs in one process against a simulated Redis over
//! a simulated network, on tokio's paused clock, on one thread. A seed draws everything: the
//! Redis deployment, the fault schedule, the workload and every random choice inside the
//! backend. One seed's run is the same every time, byte for byte, so a failure replays from its
//! seed alone.
//!
//! - [`net`]: links that partition, hold and release, add latency and lose packets.
//! - [`redis`]: a RESP3 Redis for exactly the commands the backend sends, with restarts,
//!   a replica that lags and is promoted, and a cluster whose slots move.
//! - [`scenario`]: what a seed draws: the topology, the settings, the faults and their times.
//! - [`run()`]: one seed's run, and its [`Outcome`]: what every invariant found.

mod backend;
mod dialer;
mod faults;
mod invariants;
pub mod net;
mod observed;
pub mod redis;
pub mod run;
pub mod scenario;
pub mod trace;
mod workload;

pub use invariants::Violation;
pub use run::{Outcome, rerun_traced, run, sweep};
pub use scenario::{Scenario, Topology};
