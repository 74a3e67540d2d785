//! End-to-end harness for Gift Genie: builds the images, starts Redis (one node, a replicated
//! pair, or a cluster), a Toxiproxy-compatible fault proxy and the backend on a private Docker
//! network, and injects faults between them and on the backend's clients' side. The e2e tests
//! and the chaos runner both drive the system through this library.

pub mod backend;
pub mod containers;
pub mod docker;
pub mod error;
pub mod faults;
pub mod images;
pub mod limits;
pub mod prerequisites;
pub mod redis;
pub mod stack;
pub mod timing;
mod wait;
pub mod workload;
pub mod workspace;

pub use backend::{Answer, BackendClient, BackendConfig, Metrics};
pub use error::{Error, Result};
pub use faults::{Fault, FaultKind, Place, RemoteTarget};
pub use limits::ContainerLimits;
pub use stack::{ContainerState, Stack, StackOptions, Stopped, Topology};
pub use testcontainers_toxiproxy::{Stream, Toxic, ToxiproxyClient};
pub use testkit::hostile::{MAX_LOAD_TIME, Outcome};
pub use timing::{Setting, Timeouts, Timing};
