pub mod app;
pub mod redis_cluster;
pub mod redis_server;

pub use app::{MARGIN, OPERATION_TIMEOUT, PROBE_INTERVAL, TestApp, metric, user};
pub use redis_cluster::RedisCluster;
pub use redis_server::RedisServer;
pub use testkit::{poll_until, timed};
