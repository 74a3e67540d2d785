//! How the pool creates and vets connections.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, PushInfo, PushKind};

use crate::metrics::{DiscardReason, RedisMetrics};

/// A pooled connection, and whether redis-rs has seen it close.
///
/// A connection whose server went away (a restart, a failover) is dead long before anyone writes
/// to it; handing it out would fail the next command with `broken pipe` without having sent it.
/// redis-rs says so on its push channel, which is why connections speak RESP3.
pub(crate) struct Connection {
    handle: MultiplexedConnection,
    closed: Arc<AtomicBool>,
}

impl Connection {
    /// A handle for one command; it shares the connection with this pool entry.
    pub(crate) fn handle(&self) -> MultiplexedConnection {
        self.handle.clone()
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Creates connections with the configured timeouts and TCP settings, and checks a pooled
/// connection before reuse: closed ones and old ones are replaced, possibly dead ones get a `PING`.
pub(crate) struct ConnectionManager {
    client: Client,
    config: AsyncConnectionConfig,
    health_check_interval: Duration,
    max_lifetime: Duration,
    /// Connections last handed out before this instant get a PING before reuse. It moves forward
    /// whenever a call fails for lack of Redis: after a restart or a network cut, every idle
    /// connection is suspect, not only the one that failed.
    suspect_before: Mutex<Option<Instant>>,
    metrics: RedisMetrics,
}

/// What the manager needs to know besides the client.
pub(crate) struct Limits {
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    pub health_check_interval: Duration,
    pub max_lifetime: Duration,
}

impl ConnectionManager {
    pub(crate) fn new(client: Client, limits: &Limits, metrics: RedisMetrics) -> Self {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(limits.connect_timeout))
            // A backstop only: each call also runs under its own deadline in `RedisPool`.
            .set_response_timeout(Some(limits.operation_timeout));
        Self {
            client,
            config,
            health_check_interval: limits.health_check_interval,
            max_lifetime: limits.max_lifetime,
            suspect_before: Mutex::new(None),
            metrics,
        }
    }

    /// Opens a connection that tells when it closes.
    pub(crate) async fn connect(&self) -> redis::RedisResult<Connection> {
        let closed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&closed);
        let config = self.config.clone().set_push_sender(move |push: PushInfo| {
            if push.kind == PushKind::Disconnection {
                flag.store(true, Ordering::Release);
            }
            Ok::<(), std::convert::Infallible>(())
        });
        let handle = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        Ok(Connection { handle, closed })
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

    fn discard(&self, reason: &'static str) -> RecycleResult<redis::RedisError> {
        self.metrics.connections_discarded.get_or_create(&DiscardReason::from(reason)).inc();
        Err(RecycleError::message(reason))
    }
}

impl managed::Manager for ConnectionManager {
    type Type = Connection;
    type Error = redis::RedisError;

    async fn create(&self) -> Result<Connection, redis::RedisError> {
        let connection = self.connect().await?;
        self.metrics.connections_opened.inc();
        Ok(connection)
    }

    async fn recycle(&self, connection: &mut Connection, metrics: &Metrics) -> RecycleResult<redis::RedisError> {
        if connection.is_closed() {
            return self.discard("closed");
        }
        // So that the pool follows an endpoint that moved, even while the old address answers.
        if metrics.age() >= self.max_lifetime {
            return self.discard("lifetime");
        }
        let Some(reason) = self.needs_check(metrics) else {
            return Ok(());
        };
        // deadpool bounds this with the caller's remaining deadline and drops the connection when
        // the PING fails or runs out of time.
        match redis::cmd("PING").query_async::<String>(&mut connection.handle).await {
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::warn!(%error, reason, "pooled redis connection failed its health check; replacing it");
                self.discard(reason)
            }
        }
    }
}
