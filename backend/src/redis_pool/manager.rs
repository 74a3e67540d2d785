//! How the pool creates and vets connections.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
// tokio's clock, not deadpool's own timestamps: the simulation drives tokio's.
use tokio::time::Instant;

use super::breaker::Breaker;
use super::connection::{Connector, Pooled};
use crate::metrics::{DiscardReason, RedisMetrics};

/// Creates connections with the configured timeouts and TCP settings, and checks a pooled
/// connection before reuse: closed ones and old ones are replaced, and in standalone mode
/// possibly dead ones get a `PING`. A cluster connection is not pinged: its nodes reconnect by
/// themselves, and a `PING` to every node would fail whenever one shard is down, taking the
/// connection from the others' keys.
pub(crate) struct ConnectionManager {
    connector: Connector,
    health_check_interval: Duration,
    max_lifetime: Duration,
    /// Connections last handed out before this instant get a PING before reuse. It moves forward
    /// whenever a call fails for lack of Redis: after a restart or a network cut, every idle
    /// connection is suspect, not only the one that failed.
    suspect_before: Mutex<Option<Instant>>,
    /// Standalone: the breaker. While it is open the pool neither connects nor checks a
    /// connection, so that a call admitted before it opened, still waiting for a connection,
    /// sends nothing. (A cluster connection serves every shard, each with its own breaker.)
    gate: Option<Arc<Breaker>>,
    metrics: RedisMetrics,
}

impl ConnectionManager {
    pub(crate) fn new(
        connector: Connector,
        health_check_interval: Duration,
        max_lifetime: Duration,
        gate: Option<Arc<Breaker>>,
        metrics: RedisMetrics,
    ) -> Self {
        Self { connector, health_check_interval, max_lifetime, suspect_before: Mutex::new(None), gate, metrics }
    }

    fn gate_is_open(&self) -> bool {
        self.gate.as_ref().is_some_and(|breaker| breaker.admit().is_err())
    }

    /// Opens a connection outside the pool, for the circuit breaker's probe.
    pub(crate) async fn connect(&self) -> redis::RedisResult<Pooled> {
        self.connector.connect().await
    }

    pub(crate) fn is_cluster(&self) -> bool {
        self.connector.is_cluster()
    }

    pub(crate) fn nodes(&self) -> Option<&super::connection::NodeClients> {
        self.connector.nodes()
    }

    pub(crate) fn topology_changed(&self, live: Vec<String>) {
        self.connector.topology_changed(live);
    }

    pub(crate) fn mark_idle_connections_suspect(&self) {
        *self.suspect_before.lock().expect("suspect mark lock") = Some(Instant::now());
    }

    fn needs_check(&self, connection: &Pooled) -> Option<&'static str> {
        if self.is_cluster() {
            return None;
        }
        let last_handed_out = connection.handed_out();
        if last_handed_out.elapsed() >= self.health_check_interval {
            return Some("idle");
        }
        let suspect_before = *self.suspect_before.lock().expect("suspect mark lock");
        suspect_before.is_some_and(|mark| last_handed_out < mark).then_some("suspect")
    }

    fn discard(&self, reason: &'static str) -> RecycleResult<redis::RedisError> {
        self.metrics.connections_discarded.get_or_create(&DiscardReason::from(reason)).inc();
        Err(RecycleError::message(reason))
    }
}

impl managed::Manager for ConnectionManager {
    type Type = Pooled;
    type Error = redis::RedisError;

    async fn create(&self) -> Result<Pooled, redis::RedisError> {
        if self.gate_is_open() {
            return Err(redis::RedisError::from((redis::ErrorKind::Client, "the circuit breaker is open")));
        }
        let connection = self.connect().await?;
        self.metrics.connections_opened.inc();
        Ok(connection)
    }

    async fn recycle(&self, connection: &mut Pooled, _: &Metrics) -> RecycleResult<redis::RedisError> {
        if connection.is_closed() {
            return self.discard("closed");
        }
        if connection.topology() != self.connector.topology() {
            return self.discard("topology");
        }
        // So that the pool follows an endpoint that moved, even while the old address answers.
        if connection.created().elapsed() >= self.max_lifetime {
            return self.discard("lifetime");
        }
        let Some(reason) = self.needs_check(connection) else {
            connection.handing_out();
            return Ok(());
        };
        if self.gate_is_open() {
            return self.discard("breaker_open");
        }
        // deadpool bounds this with the caller's remaining deadline and drops the connection when
        // the PING fails or runs out of time.
        match redis::cmd("PING").query_async::<String>(&mut connection.handle()).await {
            Ok(_) => {
                connection.handing_out();
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, reason, "pooled redis connection failed its health check; replacing it");
                self.discard(reason)
            }
        }
    }
}
