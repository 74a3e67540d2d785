//! The open breaker's background probe: it tries its shard every probe interval until the shard
//! takes the readiness write again, then closes the breaker. Live requests never pay for it.

use std::sync::{Arc, Weak};

use super::breaker::Breaker;
use super::{Inner, Operation, RedisError, health_write};
use crate::deadline::Deadline;

/// Probes `breaker`'s shard until it answers. Ends early when the pool is dropped, or when the
/// shard's slots have moved to another primary (a cluster failover): the keys have a new shard,
/// with a breaker of its own.
pub(super) async fn until_closed(inner: Weak<Inner>, breaker: Arc<Breaker>) {
    loop {
        let Some(interval) = inner.upgrade().map(|inner| inner.settings.breaker.probe_interval) else {
            return;
        };
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else { return };
        breaker.probe_started();
        let result = if inner.is_cluster() { probe_shard(&inner, breaker.shard()).await } else { probe(&inner).await };
        match result {
            Ok(true) => {
                breaker.probe_succeeded();
                return;
            }
            Ok(false) => {
                tracing::info!(
                    shard = breaker.shard(),
                    "the shard's slots moved to another primary; it is no longer probed"
                );
                inner.breakers.forget(breaker.shard());
                return;
            }
            Err(error) => {
                tracing::warn!(%error, shard = breaker.shard(), "redis is still unreachable; the circuit breaker stays open");
                breaker.probe_failed(&error);
            }
        }
    }
}

/// Standalone: connects afresh and makes the readiness write, so that a breaker never closes
/// on a replica.
async fn probe(inner: &Inner) -> Result<bool, RedisError> {
    let settings = &inner.settings;
    let manager = inner.pool.manager();
    let connection = match tokio::time::timeout(settings.connect_timeout, manager.connect()).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(source)) if source.is_timeout() => {
            return Err(RedisError::ConnectTimeout(settings.connect_timeout));
        }
        Ok(Err(source)) => return Err(RedisError::Connect(source)),
        Err(_) => return Err(RedisError::ConnectTimeout(settings.connect_timeout)),
    };
    let timeout = settings.operation_timeout;
    let key = format!("{}health", settings.key_prefix);
    let mut handle = connection.handle();
    match tokio::time::timeout(timeout, health_write(&key).query_async::<()>(&mut handle)).await {
        Ok(Ok(())) => Ok(true),
        Ok(Err(source)) => Err(RedisError::from_command("probe", source, timeout)),
        Err(_) => Err(RedisError::CommandTimeout { operation: "probe", timeout }),
    }
}

/// Cluster: reads the shard map again, then makes the shard's readiness write through a pooled
/// cluster connection (its nodes reconnect by themselves). `Ok(false)` when the shard is gone.
async fn probe_shard(inner: &Inner, shard: &str) -> Result<bool, RedisError> {
    let deadline = Deadline::after(inner.settings.operation_timeout);
    inner.refresh_shards(deadline, true).await?;
    let shards = inner.shards.shards();
    if shards.is_empty() {
        return Err(RedisError::ConnectTimeout(inner.settings.connect_timeout));
    }
    // The shard is gone; so is the placeholder that stood for every shard before the first map.
    let Some(found) = shards.into_iter().find(|known| known.primary == shard) else { return Ok(false) };
    let key = inner.health_key(&found);
    inner
        .attempt(Operation::HEALTH, deadline, &|mut connection| {
            let key = key.clone();
            async move { health_write(&key).query_async::<()>(&mut connection).await }
        })
        .await
        .map(|()| true)
}
