//! Redis for tests that run without Docker: `redis-server` processes on loopback, and a Redis
//! Cluster of them formed with [`crate::cluster`].

mod local_cluster;
mod server;

pub use local_cluster::LocalCluster;
pub use server::{AdminError, RedisServer};
