//! Faults between the backend and Redis, each with its heal.

use std::fmt;
use std::time::Duration;

use crate::error::Result;
use crate::stack::{REDIS_PROXY, Stack, Topology};
use crate::toxiproxy::{Stream, Toxic};

/// One way the network to Redis can misbehave.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The proxy is disabled: connects are refused and open connections closed.
    Partition,
    /// Established and new connections through the proxy are held open while every byte is
    /// dropped, in both directions (a timeout toxic of 0).
    Blackhole,
    /// Redis drops every packet from the backends' addresses (iptables inside its namespace), so
    /// connects time out instead of being refused: the incident's unlisted-IP behaviour.
    IpFilter,
    /// Each reply from Redis is delayed.
    Latency(Duration),
    /// Connections are closed this long after they end.
    SlowClose(Duration),
    /// Replies trickle at this many KB/s.
    Bandwidth(u64),
    /// Connections are reset (RST) this long after data first flows.
    ResetPeer(Duration),
    /// Redis is stopped; healing starts it again.
    RedisRestart,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Partition => write!(f, "partition"),
            Self::Blackhole => write!(f, "blackhole"),
            Self::IpFilter => write!(f, "ip-filter"),
            Self::Latency(latency) => write!(f, "latency {latency:?}"),
            Self::SlowClose(delay) => write!(f, "slow-close {delay:?}"),
            Self::Bandwidth(rate) => write!(f, "bandwidth {rate} KB/s"),
            Self::ResetPeer(timeout) => write!(f, "reset-peer {timeout:?}"),
            Self::RedisRestart => write!(f, "redis-restart"),
        }
    }
}

impl Fault {
    /// The topology a stack needs for this fault.
    pub fn topology(&self) -> Topology {
        match self {
            Self::IpFilter => Topology::Direct,
            _ => Topology::ThroughProxy,
        }
    }

    fn toxics(&self) -> Vec<Toxic> {
        match self {
            Self::Blackhole => vec![
                Toxic::timeout(Duration::ZERO).on(Stream::Upstream).named("blackhole_upstream"),
                Toxic::timeout(Duration::ZERO).on(Stream::Downstream).named("blackhole_downstream"),
            ],
            Self::Latency(latency) => vec![Toxic::latency(*latency).named("latency")],
            Self::SlowClose(delay) => vec![Toxic::slow_close(*delay).named("slow_close")],
            Self::Bandwidth(rate) => vec![Toxic::bandwidth(*rate).named("bandwidth")],
            Self::ResetPeer(timeout) => vec![Toxic::reset_peer(*timeout).named("reset_peer")],
            Self::Partition | Self::IpFilter | Self::RedisRestart => Vec::new(),
        }
    }

    fn filter_rules(stack: &Stack) -> Vec<String> {
        stack.backends().iter().map(|backend| backend.address.to_string()).collect()
    }

    pub async fn inject(&self, stack: &Stack) -> Result<()> {
        match self {
            Self::Partition => {
                stack.toxiproxy()?.set_enabled(REDIS_PROXY, false).await?;
            }
            Self::IpFilter => {
                for address in Self::filter_rules(stack) {
                    stack
                        .iptables(&["-I", "INPUT", "-s", &address, "-p", "tcp", "--dport", "6379", "-j", "DROP"])
                        .await?;
                }
            }
            Self::RedisRestart => stack.stop_redis().await?,
            _ => {
                for toxic in self.toxics() {
                    stack.toxiproxy()?.add_toxic(REDIS_PROXY, &toxic).await?;
                }
            }
        }
        stack.fault_started(&self.to_string());
        Ok(())
    }

    pub async fn heal(&self, stack: &Stack) -> Result<()> {
        match self {
            Self::Partition => {
                stack.toxiproxy()?.set_enabled(REDIS_PROXY, true).await?;
            }
            Self::IpFilter => {
                for address in Self::filter_rules(stack) {
                    stack
                        .iptables(&["-D", "INPUT", "-s", &address, "-p", "tcp", "--dport", "6379", "-j", "DROP"])
                        .await?;
                }
            }
            Self::RedisRestart => stack.start_redis().await?,
            _ => {
                for toxic in self.toxics() {
                    stack.toxiproxy()?.remove_toxic(REDIS_PROXY, &toxic.name).await?;
                }
            }
        }
        stack.fault_healed(&self.to_string());
        Ok(())
    }
}
