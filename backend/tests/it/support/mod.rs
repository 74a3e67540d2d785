pub mod app;

pub use app::{OPERATION_TIMEOUT, PROBE_INTERVAL, TestApp, metric, user};
pub use testkit::redis::{LocalCluster as RedisCluster, RedisServer};
pub use testkit::{MARGIN, poll_until, timed};
