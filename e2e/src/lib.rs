//! End-to-end harness for Gift Genie: builds the images, starts Redis, a Toxiproxy-compatible
//! fault proxy and the backend on a private Docker network, and injects faults between them.
//! The e2e tests and the chaos runner both drive the system through this library.

pub mod backend;
pub mod client_faults;
pub mod containers;
pub mod docker;
pub mod error;
pub mod faults;
pub mod images;
pub mod limits;
pub mod prerequisites;
pub mod redis;
pub mod shapes;
pub mod stack;
mod wait;
pub mod workspace;

pub use backend::{Answer, BackendClient, BackendConfig, Metrics};
pub use client_faults::Outcome;
pub use error::{Error, Result};
pub use faults::{Fault, FaultTarget, RemoteTarget};
pub use limits::ContainerLimits;
pub use stack::{ContainerState, Stack, StackOptions, Stopped, Topology};
pub use testcontainers_toxiproxy::{Stream, Toxic, ToxiproxyClient};
