//! How the pool creates and vets connections.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};

use crate::metrics::RedisMetrics;

/// Creates connections with the configured timeouts and TCP settings, and checks a pooled
/// connection before reuse when it may be dead.
pub(crate) struct ConnectionManager {
    client: Client,
    config: AsyncConnectionConfig,
    health_check_interval: Duration,
    /// Connections last handed out before this instant get a PING before reuse. It moves forward
    /// whenever a call fails for lack of Redis: after a restart or a network cut, every idle
    /// connection is suspect, not only the one that failed.
    suspect_before: Mutex<Option<Instant>>,
    metrics: RedisMetrics,
}

impl ConnectionManager {
    pub(crate) fn new(
        client: Client,
        connect_timeout: Duration,
        operation_timeout: Duration,
        health_check_interval: Duration,
        metrics: RedisMetrics,
    ) -> Self {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            // A backstop only: each call also runs under its own deadline in `RedisPool`.
            .set_response_timeout(Some(operation_timeout));
        Self { client, config, health_check_interval, suspect_before: Mutex::new(None), metrics }
    }

    /// Opens a connection that is not part of the pool, for the circuit breaker's probe.
    pub(crate) async fn connect(&self) -> redis::RedisResult<MultiplexedConnection> {
        self.client.get_multiplexed_async_connection_with_config(&self.config).await
    }

    pub(crate) fn mark_idle_connections_suspect(&self) {
        *self.suspect_before.lock().expect("suspect mark lock") = Some(Instant::now());
    }

    fn needs_check(&self, metrics: &Metrics) -> Option<&'static str> {
        let last_handed_out = metrics.recycled.unwrap_or(metrics.created);
        if last_handed_out.elapsed() >= self.health_check_interval {
            return Some("idle");
        }
        let suspect_before = *self.suspect_before.lock().expect("suspect mark lock");
        suspect_before.is_some_and(|mark| last_handed_out < mark).then_some("suspect")
    }
}

impl managed::Manager for ConnectionManager {
    type Type = MultiplexedConnection;
    type Error = redis::RedisError;

    async fn create(&self) -> Result<MultiplexedConnection, redis::RedisError> {
        let connection = self.connect().await?;
        self.metrics.connections_opened.inc();
        Ok(connection)
    }

    async fn recycle(
        &self,
        connection: &mut MultiplexedConnection,
        metrics: &Metrics,
    ) -> RecycleResult<redis::RedisError> {
        let Some(reason) = self.needs_check(metrics) else {
            return Ok(());
        };
        // deadpool bounds this with the caller's remaining deadline and drops the connection when
        // the PING fails or runs out of time.
        match redis::cmd("PING").query_async::<String>(connection).await {
            Ok(_) => Ok(()),
            Err(error) => {
                self.metrics.connections_discarded.get_or_create(&crate::metrics::DiscardReason::from(reason)).inc();
                tracing::warn!(%error, reason, "pooled redis connection failed its health check; replacing it");
                Err(RecycleError::Backend(error))
            }
        }
    }
}
