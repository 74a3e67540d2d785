//! The open breaker's background probe: it tries its shard every probe interval until the shard
//! takes the readiness write again, then closes the breaker. Live requests never pay for it.
//!
//! The loop knows the pool only through [`Probed`]: what to wait, how to try a shard, and how to
//! forget one.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::RedisError;
use super::breaker::Breaker;

/// What one probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    /// The shard took the readiness write: it is a primary again.
    Answered,
    /// The shard's slots moved to another primary (a cluster failover): its keys have a new
    /// shard, with a breaker of its own.
    Moved,
}

/// What the probe needs from the pool.
pub(super) trait Probed: Send + Sync + 'static {
    fn probe_interval(&self) -> Duration;

    /// Tries `shard` once, on a connection of its own or one that reconnects by itself.
    fn probe(&self, shard: &str) -> impl Future<Output = Result<Probe, RedisError>> + Send;

    /// Stops keeping a breaker for `shard`.
    fn forget(&self, shard: &str);
}

/// Probes `breaker`'s shard until it answers or moves. Ends early when the pool is dropped.
pub(super) async fn until_closed<P: Probed>(pool: Weak<P>, breaker: Arc<Breaker>) {
    loop {
        let Some(interval) = pool.upgrade().map(|pool| pool.probe_interval()) else {
            return;
        };
        tokio::time::sleep(interval).await;
        let Some(pool) = pool.upgrade() else { return };
        breaker.probe_started();
        match pool.probe(breaker.shard()).await {
            Ok(Probe::Answered) => {
                breaker.probe_succeeded();
                return;
            }
            Ok(Probe::Moved) => {
                tracing::info!(
                    shard = breaker.shard(),
                    "the shard's slots moved to another primary; it is no longer probed"
                );
                pool.forget(breaker.shard());
                return;
            }
            Err(error) => {
                tracing::warn!(%error, shard = breaker.shard(), "redis is still unreachable; the circuit breaker stays open");
                breaker.probe_failed(&error);
            }
        }
    }
}
