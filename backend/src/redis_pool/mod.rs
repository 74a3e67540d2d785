//! Resilient access to Redis: a bounded pool, a deadline on every call, retries for idempotent
//! operations only, and a circuit breaker that probes in the background.
//!
//! Why a pool of exclusive connections on top of deadpool, rather than redis-rs's
//! `ConnectionManager`, is written down in ARCHITECTURE.md.

mod breaker;
mod error;
mod manager;

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use deadpool::managed::{Object, Pool, PoolError, TimeoutType, Timeouts};
use rand::Rng as _;
use redis::aio::MultiplexedConnection;
use secrecy::ExposeSecret as _;
use tokio::time::Instant;

pub use error::RedisError;

use crate::config::RedisSettings;
use crate::metrics::{CommandLabels, KindLabels, OperationLabels, RedisMetrics};
use breaker::{Breaker, Tripped};
use manager::ConnectionManager;

/// The longest pause between two attempts of one call.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Whether an operation may run twice.
///
/// Retrying after a timeout is only safe when running the operation twice has the same effect as
/// running it once: the first attempt may have reached Redis even though its reply never came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads and other operations with no side effect: retried on unavailability errors.
    Idempotent,
    /// Operations with side effects (counting an attempt, creating a user): one attempt only.
    Never,
}

/// A named Redis operation, as it appears in metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub name: &'static str,
    pub retry: Retry,
}

impl Operation {
    pub const PING: Self = Self { name: "ping", retry: Retry::Never };
}

/// Shared handle to the pool; clones are cheap and share everything.
#[derive(Clone)]
pub struct RedisPool {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool<ConnectionManager>,
    breaker: Breaker,
    settings: RedisSettings,
    metrics: RedisMetrics,
}

impl std::fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPool")
            .field("url", &self.inner.settings.url)
            .field("status", &self.inner.pool.status())
            .finish()
    }
}

/// Why the pool could not be set up. Nothing here touches the network.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read REDIS_TLS_CA_FILE {path}: {source}")]
    CaFile { path: String, source: std::io::Error },
    #[error("REDIS_URL is not usable: {0}")]
    Url(String),
}

impl RedisPool {
    /// Builds the pool without connecting: the service must start while Redis is down.
    pub fn new(settings: RedisSettings, metrics: RedisMetrics) -> Result<Self, SetupError> {
        let client = client_for(&settings)?;
        let manager = ConnectionManager::new(
            client,
            settings.connect_timeout,
            settings.operation_timeout,
            settings.health_check_interval,
            metrics.clone(),
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_max_size)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .expect("a runtime is configured, so building cannot fail");
        metrics.pool_max_size.set(i64::try_from(settings.pool_max_size).unwrap_or(i64::MAX));
        let breaker = Breaker::new(settings.breaker.failure_threshold, metrics.clone());
        Ok(Self { inner: Arc::new(Inner { pool, breaker, settings, metrics }) })
    }

    pub fn settings(&self) -> &RedisSettings {
        &self.inner.settings
    }

    /// Copies the pool's live numbers into the gauges, just before a scrape.
    pub fn publish_pool_status(&self) {
        let status = self.inner.pool.status();
        let metrics = &self.inner.metrics;
        let gauge = |value: usize| i64::try_from(value).unwrap_or(i64::MAX);
        metrics.pool_connections.set(gauge(status.size));
        metrics.pool_idle.set(gauge(status.available));
        metrics.pool_in_use.set(gauge(status.size.saturating_sub(status.available)));
        metrics.pool_waiting.set(gauge(status.waiting));
    }

    /// PINGs Redis through the pool, once, within the operation timeout.
    pub async fn ping(&self) -> Result<(), RedisError> {
        self.execute(Operation::PING, |mut connection| async move {
            redis::cmd("PING").query_async::<String>(&mut connection).await.map(drop)
        })
        .await
    }

    /// Runs `command` on a pooled connection.
    ///
    /// Each attempt has its own deadline of `REDIS_OPERATION_TIMEOUT`, covering the wait for a
    /// connection, connecting, health checks and the command itself. `command` receives a handle
    /// to a connection that nobody else uses until the attempt ends.
    pub async fn execute<T, F, Fut>(&self, operation: Operation, command: F) -> Result<T, RedisError>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let inner = &self.inner;
        let attempts = match operation.retry {
            Retry::Idempotent => inner.settings.retry.max_attempts,
            Retry::Never => 1,
        };
        let started = Instant::now();
        let mut attempt = 1;
        let outcome = loop {
            let result = match inner.breaker.admit() {
                Ok(()) => self.attempt(operation, &command).await,
                Err(refused) => Err(refused),
            };
            match result {
                Ok(value) => {
                    inner.breaker.record_success();
                    break Ok(value);
                }
                Err(error) => {
                    self.record_failure(&error);
                    if attempt >= attempts || !error.is_unavailability() {
                        break Err(error);
                    }
                    inner.metrics.retries.get_or_create(&OperationLabels { operation: operation.name }).inc();
                    tracing::warn!(%error, operation = operation.name, attempt, "retrying idempotent redis operation");
                    tokio::time::sleep(backoff(inner.settings.retry.backoff, attempt)).await;
                    attempt += 1;
                }
            }
        };
        let labels = CommandLabels { operation: operation.name, outcome: if outcome.is_ok() { "ok" } else { "error" } };
        inner.metrics.commands.get_or_create(&labels).inc();
        inner
            .metrics
            .command_duration
            .get_or_create(&OperationLabels { operation: operation.name })
            .observe(started.elapsed().as_secs_f64());
        outcome
    }

    async fn attempt<T, F, Fut>(&self, operation: Operation, command: &F) -> Result<T, RedisError>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let timeout = self.inner.settings.operation_timeout;
        let deadline = Instant::now() + timeout;
        let connection = self.checkout(deadline).await?;
        let result = match tokio::time::timeout_at(deadline, command((*connection).clone())).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(source)) => RedisError::from_command(operation.name, source, timeout),
            Err(_elapsed) => RedisError::CommandTimeout { operation: operation.name, timeout },
        };
        if result.poisons_connection() {
            // A connection that timed out may be blackholed: it would time out again for the next
            // caller. Taking it out of the pool closes it and frees its slot for a fresh one.
            let reason = if matches!(result, RedisError::CommandTimeout { .. }) { "timeout" } else { "broken" };
            self.inner.metrics.connections_discarded.get_or_create(&reason.into()).inc();
            drop(Object::take(connection));
        }
        Err(result)
    }

    async fn checkout(&self, deadline: Instant) -> Result<Object<ConnectionManager>, RedisError> {
        let settings = &self.inner.settings;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let timeouts = Timeouts {
            wait: Some(settings.pool_wait_timeout.min(remaining)),
            create: Some(settings.connect_timeout.min(remaining)),
            recycle: Some(remaining),
        };
        match tokio::time::timeout_at(deadline, self.inner.pool.timeout_get(&timeouts)).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(PoolError::Timeout(TimeoutType::Wait))) => {
                Err(RedisError::PoolExhausted(timeouts.wait.unwrap_or_default()))
            }
            Ok(Err(PoolError::Timeout(_))) | Err(_) => {
                Err(RedisError::ConnectTimeout(timeouts.create.unwrap_or_default()))
            }
            Ok(Err(PoolError::Backend(source))) if source.is_timeout() => {
                Err(RedisError::ConnectTimeout(settings.connect_timeout))
            }
            Ok(Err(PoolError::Backend(source))) => Err(RedisError::Connect(source)),
            Ok(Err(PoolError::Closed | PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_))) => {
                Err(RedisError::PoolClosed)
            }
        }
    }

    fn record_failure(&self, error: &RedisError) {
        let metrics = &self.inner.metrics;
        metrics.errors.get_or_create(&KindLabels { kind: error.kind() }).inc();
        match error {
            RedisError::ConnectTimeout(_) => metrics.timeouts.get_or_create(&KindLabels { kind: "connect" }).inc(),
            RedisError::CommandTimeout { .. } => metrics.timeouts.get_or_create(&KindLabels { kind: "command" }).inc(),
            _ => 0,
        };
        if !error.is_unavailability() {
            return;
        }
        self.inner.pool.manager().mark_idle_connections_suspect();
        if self.inner.breaker.record_failure(error) == Tripped::Now {
            // Idle connections were opened before the outage; none of them is worth a timeout.
            self.inner.pool.retain(|_, _| false);
            tokio::spawn(probe_until_closed(Arc::downgrade(&self.inner)));
        }
    }
}

/// Tries Redis on a fresh connection every probe interval until it answers, then closes the
/// breaker. Ends early when the pool is dropped.
async fn probe_until_closed(inner: Weak<Inner>) {
    loop {
        let Some(interval) = inner.upgrade().map(|inner| inner.settings.breaker.probe_interval) else {
            return;
        };
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else { return };
        inner.breaker.probe_started();
        match probe(&inner).await {
            Ok(()) => {
                inner.breaker.probe_succeeded();
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "redis is still unreachable; the circuit breaker stays open");
                inner.breaker.probe_failed(&error);
            }
        }
    }
}

async fn probe(inner: &Inner) -> Result<(), RedisError> {
    let settings = &inner.settings;
    let manager = inner.pool.manager();
    let mut connection = match tokio::time::timeout(settings.connect_timeout, manager.connect()).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(source)) if source.is_timeout() => {
            return Err(RedisError::ConnectTimeout(settings.connect_timeout));
        }
        Ok(Err(source)) => return Err(RedisError::Connect(source)),
        Err(_) => return Err(RedisError::ConnectTimeout(settings.connect_timeout)),
    };
    let timeout = settings.operation_timeout;
    match tokio::time::timeout(timeout, redis::cmd("PING").query_async::<String>(&mut connection)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(RedisError::from_command("probe", source, timeout)),
        Err(_) => Err(RedisError::CommandTimeout { operation: "probe", timeout }),
    }
}

/// Exponential backoff with full jitter: a random pause up to `base * 2^(attempt-1)`, capped.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let ceiling = base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_BACKOFF);
    if ceiling.is_zero() {
        return ceiling;
    }
    rand::rng().random_range(Duration::ZERO..=ceiling)
}

fn client_for(settings: &RedisSettings) -> Result<redis::Client, SetupError> {
    let mut info = redis::IntoConnectionInfo::into_connection_info(settings.url.expose())
        // redis-rs may quote the URL in its error; only the redacted form is ever shown.
        .map_err(|_| SetupError::Url(format!("{} could not be parsed by the redis client", settings.url)))?;
    let mut tcp = redis::io::tcp::TcpSettings::default().set_nodelay(true);
    if let Some(keepalive) = settings.keepalive {
        tcp = tcp.set_keepalive(
            socket2::TcpKeepalive::new()
                .with_time(keepalive.idle)
                .with_interval(keepalive.interval)
                .with_retries(keepalive.count),
        );
    }
    if let Some(user_timeout) = settings.tcp_user_timeout {
        tcp = tcp.set_user_timeout(user_timeout);
    }
    info = info.set_tcp_settings(tcp);
    if let Some(password) = &settings.password {
        let redis = info.redis_settings().clone().set_password(password.expose_secret());
        info = info.set_redis_settings(redis);
    }

    match &settings.tls_ca_file {
        Some(path) if settings.url.uses_tls() => {
            let root_cert = std::fs::read(path)
                .map_err(|source| SetupError::CaFile { path: path.display().to_string(), source })?;
            let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(root_cert) };
            redis::Client::build_with_tls(info, certificates).map_err(|error| SetupError::Url(error.to_string()))
        }
        _ => redis::Client::open(info).map_err(|error| SetupError::Url(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_never_exceeds_its_exponential_ceiling_or_one_second() {
        let base = Duration::from_millis(50);
        for attempt in 1..=20 {
            let ceiling = (base * 2u32.pow(attempt.min(16) - 1)).min(MAX_BACKOFF);
            for _ in 0..100 {
                assert!(backoff(base, attempt) <= ceiling, "attempt {attempt}");
            }
        }
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }
}
