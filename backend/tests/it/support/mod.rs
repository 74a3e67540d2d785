pub mod app;
pub mod poll;
pub mod redis_server;

pub use app::{MARGIN, OPERATION_TIMEOUT, PROBE_INTERVAL, TestApp, user};
pub use poll::{poll_until, timed};
pub use redis_server::RedisServer;
