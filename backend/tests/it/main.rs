//! The backend driven over HTTP against real redis-server processes: no mock Redis.

mod bad_input;
mod cluster;
mod failover;
mod hashing;
mod health;
mod logs;
mod metrics;
mod pool;
mod rate_limit;
mod registration;
mod server;
mod support;
mod users;
