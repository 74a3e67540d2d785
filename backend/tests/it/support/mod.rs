pub(crate) mod app;

pub(crate) use app::{OPERATION_TIMEOUT, PROBE_INTERVAL, TestApp, metric, user};
pub(crate) use testkit::redis::{LocalCluster as RedisCluster, RedisServer};
pub(crate) use testkit::{MARGIN, poll_until, timed};
