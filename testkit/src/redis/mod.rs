//! Redis for tests that run without Docker: `redis-server` processes on loopback ([`server`]), a
//! Redis Cluster of them, and the cluster-forming steps ([`cluster`]) that e2e's containers share
//! through [`cluster::Node`].

pub mod cluster;
mod server;

pub use cluster::{LocalCluster, Node, SlotRange};
pub use server::{AdminError, RedisServer};
