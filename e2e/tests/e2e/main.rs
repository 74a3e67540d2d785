//! The backend, Redis and a fault proxy in Docker: pooling, timeouts, retries and health under
//! partitions, blackholes, IP-filter timeouts, latency and restarts.
//!
//! Every test owns its stack on its own network; bounds come from the backend's configured
//! timeouts plus a margin, and waits poll against deadlines.

mod blackhole;
mod client_faults;
mod defaults;
mod faults;
mod harness;
mod healthy;
mod ip_filter;
mod latency;
mod partition;
mod pool;
mod replicas;
mod restart;
mod shapes;
mod support;
mod torn_writes;
