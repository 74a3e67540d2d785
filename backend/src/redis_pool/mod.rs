//! Resilient access to Redis: a bounded pool, a deadline on every call, retries for idempotent
//! operations only, and a circuit breaker that probes in the background.
//!
//! Every call runs under its request's [`Deadline`]; each attempt also under the operation
//! timeout. A call never outlasts its request, whatever its retries and backoffs.
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

pub use error::RedisError;

use crate::config::RedisSettings;
use crate::deadline::Deadline;
use crate::metrics::{CommandLabels, KindLabels, OperationLabels, RedisMetrics};
use breaker::{Breaker, Tripped};
use manager::{ConnectionManager, Limits};

/// The longest pause between two attempts of one call.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Whether an operation may run twice.
///
/// Retrying after a timeout is only safe when running the operation twice has the same effect as
/// running it once: the first attempt may have reached Redis even though its reply never came back.
/// (A command is never sent on a connection already known to be closed: the pool replaces such a
/// connection before handing it out, so that case needs no retry.)
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
    /// The readiness check: a write, which only a primary accepts.
    pub const HEALTH: Self = Self { name: "health", retry: Retry::Never };
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
        let limits = Limits {
            connect_timeout: settings.connect_timeout,
            operation_timeout: settings.operation_timeout,
            health_check_interval: settings.health_check_interval,
            max_lifetime: settings.connection_max_lifetime,
        };
        let manager = ConnectionManager::new(client, &limits, metrics.clone());
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

    /// Proves that Redis answers as a primary, once, within the operation timeout.
    ///
    /// `ROLE` would say so directly, but it is an `@dangerous` command that managed Redis users do
    /// not get (Scaleway's default user does not); a write needs only what the service uses anyway,
    /// and a replica refuses it with `READONLY`.
    pub async fn check_primary(&self, deadline: Deadline) -> Result<(), RedisError> {
        let key = format!("{}health", self.inner.settings.key_prefix);
        self.execute(Operation::HEALTH, deadline, |mut connection| {
            let key = key.clone();
            async move { health_write(&key).query_async::<()>(&mut connection).await }
        })
        .await
    }

    /// Runs `command` on a pooled connection, by `deadline`.
    ///
    /// Each attempt also has a deadline of `REDIS_OPERATION_TIMEOUT`, covering the wait for a
    /// connection, connecting, health checks and the command itself; retries happen only while
    /// `deadline` leaves room. `command` receives a handle to a connection that nobody else uses
    /// until the attempt ends.
    pub async fn execute<T, F, Fut>(
        &self,
        operation: Operation,
        deadline: Deadline,
        command: F,
    ) -> Result<T, RedisError>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let inner = &self.inner;
        let attempts = match operation.retry {
            Retry::Idempotent => inner.settings.retry.max_attempts,
            Retry::Never => 1,
        };
        let started = std::time::Instant::now();
        let mut attempt = 1;
        let outcome = loop {
            if deadline.has_passed() {
                break Err(RedisError::DeadlinePassed { operation: operation.name });
            }
            let result = match inner.breaker.admit() {
                Ok(()) => self.attempt(operation, deadline, &command).await,
                Err(refused) => Err(refused),
            };
            match result {
                Ok(value) => {
                    inner.breaker.record_success();
                    break Ok(value);
                }
                Err(error) => {
                    self.record_failure(&error);
                    let pause = backoff(inner.settings.retry.backoff, attempt);
                    // A retry that could not start before the deadline would only hide this error.
                    if attempt >= attempts || !error.is_unavailability() || deadline.remaining() <= pause {
                        break Err(error);
                    }
                    inner.metrics.retries.get_or_create(&OperationLabels { operation: operation.name }).inc();
                    tracing::warn!(%error, operation = operation.name, attempt, "retrying idempotent redis operation");
                    tokio::time::sleep(pause).await;
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

    async fn attempt<T, F, Fut>(&self, operation: Operation, deadline: Deadline, command: &F) -> Result<T, RedisError>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let deadline = deadline.within(self.inner.settings.operation_timeout);
        let timeout = deadline.remaining();
        let connection = self.checkout(deadline).await?;
        let result = match tokio::time::timeout_at(deadline.instant(), command(connection.handle())).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(source)) => RedisError::from_command(operation.name, source, timeout),
            Err(_elapsed) => RedisError::CommandTimeout { operation: operation.name, timeout },
        };
        if result.poisons_connection() {
            // A connection that timed out may be blackholed: it would time out again for the next
            // caller. One to a replica stays one. Taking it out of the pool closes it and frees
            // its slot for a fresh one.
            let reason = match result {
                RedisError::CommandTimeout { .. } => "timeout",
                RedisError::NotPrimary { .. } => "not_primary",
                _ => "broken",
            };
            self.inner.metrics.connections_discarded.get_or_create(&reason.into()).inc();
            drop(Object::take(connection));
        }
        Err(result)
    }

    async fn checkout(&self, deadline: Deadline) -> Result<Object<ConnectionManager>, RedisError> {
        let settings = &self.inner.settings;
        let remaining = deadline.remaining();
        let timeouts = Timeouts {
            wait: Some(settings.pool_wait_timeout.min(remaining)),
            create: Some(settings.connect_timeout.min(remaining)),
            recycle: Some(remaining),
        };
        match tokio::time::timeout_at(deadline.instant(), self.inner.pool.timeout_get(&timeouts)).await {
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

/// Connects afresh and makes the readiness check's write: a breaker must not close on a replica.
async fn probe(inner: &Inner) -> Result<(), RedisError> {
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
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(RedisError::from_command("probe", source, timeout)),
        Err(_) => Err(RedisError::CommandTimeout { operation: "probe", timeout }),
    }
}

/// A write with a short expiry, which only a primary accepts.
fn health_write(key: &str) -> redis::Cmd {
    let mut command = redis::cmd("SET");
    command.arg(key).arg("ok").arg("PX").arg(60_000);
    command
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
    // RESP3, so that redis-rs reports a closed connection (see `manager::Connection`).
    let mut redis = info.redis_settings().clone().set_protocol(redis::ProtocolVersion::RESP3);
    if let Some(password) = &settings.password {
        redis = redis.set_password(password.expose_secret());
    }
    info = info.set_redis_settings(redis);

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
