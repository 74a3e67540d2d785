//! Resilient access to Redis: a bounded pool, a deadline on every call, retries for idempotent
//! operations only, and a circuit breaker per shard that probes in the background.
//!
//! Every call runs under its request's [`Deadline`]; each attempt also under the operation
//! timeout. A call never outlasts its request, whatever its retries and backoffs.
//!
//! The same pool serves both modes. Standalone: each pooled connection is one multiplexed
//! connection to the server. Cluster: each pooled connection is a redis-rs cluster connection,
//! one multiplexed TCP connection per node, routing by slot and following `MOVED` and `ASK`; the
//! pool's cap is then a cap per node. Why a pool of exclusive connections on top of deadpool,
//! rather than redis-rs's `ConnectionManager`, is written down in ARCHITECTURE.md.

mod breaker;
mod client;
mod connection;
mod dial;
mod error;
mod manager;
mod probe;
mod shards;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::{Object, Pool, PoolError, TimeoutType, Timeouts};
use tokio::time::Instant;

pub use connection::RedisConnection;
pub use dial::{Dialer, Dialing, Stream};
pub use error::RedisError;
pub use shards::{STANDALONE, Shard, key_slot};

use crate::config::RedisSettings;
use crate::deadline::Deadline;
use crate::metrics::{CommandLabels, KindLabels, OperationLabels, RedisMetrics};
use crate::sources::Sources;
use breaker::{Breaker, Breakers, Tripped};
use manager::ConnectionManager;
use probe::{Probe, Probed};
use shards::ShardMap;

/// The longest pause between two attempts of one call.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The shard map is read again at most this often, however many calls fail.
const SHARD_MAP_REFRESH: Duration = Duration::from_secs(1);

/// Whether an operation may run twice.
///
/// Retrying after a timeout is only safe when running the operation twice has the same effect as
/// running it once: the first attempt may have reached Redis even though its reply never came back.
/// (A command is never sent on a connection already known to be closed: the pool replaces such a
/// connection before handing it out, so that case needs no retry.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads, and writes made idempotent (by the request's own id): retried on unavailability.
    Idempotent,
    /// One attempt only.
    Never,
}

/// A named Redis operation, as it appears in metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Operation {
    pub name: &'static str,
    pub retry: Retry,
}

impl Operation {
    /// The readiness check: a write, which only a primary accepts.
    pub(crate) const HEALTH: Self = Self { name: "health", retry: Retry::Never };
    const SHARD_MAP: Self = Self { name: "cluster_slots", retry: Retry::Never };
}

/// What the readiness check found: how many shards there are (one, standalone), and which of
/// them did not take its write.
#[derive(Debug)]
pub(crate) struct PrimaryCheck {
    pub shards: usize,
    pub failing: Vec<(String, RedisError)>,
}

/// Shared handle to the pool; clones are cheap and share everything.
#[derive(Clone)]
pub struct RedisPool {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool<ConnectionManager>,
    breakers: Breakers,
    shards: ShardMap,
    /// When the shard map was last asked for, successfully or not; held while it is being asked
    /// for, so that concurrent callers wait for that answer rather than ask again.
    shards_asked: tokio::sync::Mutex<Option<Instant>>,
    settings: RedisSettings,
    metrics: RedisMetrics,
    /// Retry jitter.
    sources: Arc<Sources>,
}

impl std::fmt::Debug for RedisPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPool")
            .field("url", &self.inner.settings.url)
            .field("mode", &self.inner.settings.mode)
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
        Self::with_parts(settings, metrics, Arc::new(Sources::from_os()), None)
    }

    /// The pool with the randomness it jitters retries with, and, for the simulation, the dialer
    /// that reaches Redis in place of the machine's network.
    pub fn with_parts(
        settings: RedisSettings,
        metrics: RedisMetrics,
        sources: Arc<Sources>,
        dialer: Option<Arc<dyn Dialer>>,
    ) -> Result<Self, SetupError> {
        let connector = client::connector_for(&settings, dialer)?;
        let breakers = Breakers::new(settings.breaker.failure_threshold, metrics.clone());
        // The lone shard's breaker is published from the start, as one always was, and gates
        // the pool's connects and checks.
        let gate = (!connector.is_cluster()).then(|| breakers.of(STANDALONE));
        let manager = ConnectionManager::new(
            connector,
            settings.health_check_interval,
            settings.connection_max_lifetime,
            gate,
            metrics.clone(),
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_max_size)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .expect("a runtime is configured, so building cannot fail");
        metrics.pool_max_size.set(i64::try_from(settings.pool_max_size).unwrap_or(i64::MAX));
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                breakers,
                shards: ShardMap::default(),
                shards_asked: tokio::sync::Mutex::new(None),
                settings,
                metrics,
                sources,
            }),
        })
    }

    pub fn settings(&self) -> &RedisSettings {
        &self.inner.settings
    }

    pub fn is_cluster(&self) -> bool {
        self.inner.is_cluster()
    }

    /// Copies the pool's live numbers into the gauges, just before a scrape.
    pub(crate) fn publish_pool_status(&self) {
        let status = self.inner.pool.status();
        let metrics = &self.inner.metrics;
        let gauge = |value: usize| i64::try_from(value).unwrap_or(i64::MAX);
        metrics.pool_connections.set(gauge(status.size));
        metrics.pool_idle.set(gauge(status.available));
        metrics.pool_in_use.set(gauge(status.size.saturating_sub(status.available)));
        metrics.pool_waiting.set(gauge(status.waiting));
    }

    /// Proves that every shard answers as a primary, each once, within the operation timeout.
    ///
    /// `ROLE` would say so directly, but it is an `@dangerous` command that managed Redis users do
    /// not get (Scaleway's default user does not); a write needs only what the service uses anyway,
    /// and a replica refuses it with `READONLY`. In cluster mode each shard gets a key of its own.
    pub(crate) async fn check_primaries(&self, deadline: Deadline) -> PrimaryCheck {
        let keys: Vec<(String, String)> = if self.is_cluster() {
            // A stale map only names shards that answer or not; the check goes on either way.
            let _ = self.inner.refresh_shards(deadline, true).await;
            self.inner
                .shards
                .shards()
                .iter()
                .map(|shard| (shard.primary.clone(), self.inner.health_key(shard)))
                .collect()
        } else {
            vec![(STANDALONE.to_owned(), format!("{}health", self.inner.settings.key_prefix))]
        };
        if keys.is_empty() {
            // A cluster whose map cannot be read: nothing answers.
            let failure = RedisError::ConnectTimeout(self.inner.settings.connect_timeout);
            return PrimaryCheck { shards: 1, failing: vec![("cluster".to_owned(), failure)] };
        }
        let checks = keys.iter().map(|(shard, key)| async move {
            let result = self
                .execute(Operation::HEALTH, key, deadline, |mut connection| {
                    let key = key.clone();
                    async move { health_write(&key).query_async::<()>(&mut connection).await }
                })
                .await;
            (shard.clone(), result)
        });
        let failing = futures_util::future::join_all(checks)
            .await
            .into_iter()
            .filter_map(|(shard, result)| result.err().map(|error| (shard, error)))
            .collect();
        PrimaryCheck { shards: keys.len(), failing }
    }

    /// Runs `command` on a pooled connection, by `deadline`. `key` is the first key the command
    /// touches: it names the shard whose breaker admits the call.
    ///
    /// Each attempt also has a deadline of `REDIS_OPERATION_TIMEOUT`, covering the wait for a
    /// connection, connecting, health checks and the command itself; retries happen only while
    /// `deadline` leaves room. `command` receives a handle to a connection that nobody else uses
    /// until the attempt ends.
    pub(crate) async fn execute<T, F, Fut>(
        &self,
        operation: Operation,
        key: &str,
        deadline: Deadline,
        command: F,
    ) -> Result<T, RedisError>
    where
        F: Fn(RedisConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let inner = &self.inner;
        if inner.is_cluster() {
            // Without a map, every key counts against one placeholder shard until there is one.
            let _ = inner.refresh_shards(deadline, false).await;
        }
        let breaker = inner.breakers.of(&inner.shards.of(key));
        let attempts = match operation.retry {
            Retry::Idempotent => inner.settings.retry.max_attempts,
            Retry::Never => 1,
        };
        let started = Instant::now();
        let mut attempt = 1;
        let outcome = loop {
            if deadline.has_passed() {
                break Err(RedisError::DeadlinePassed { operation: operation.name });
            }
            let result = match breaker.admit() {
                Ok(()) => inner.attempt(operation, deadline, &command, Some(&breaker)).await,
                Err(refused) => Err(refused),
            };
            match result {
                Ok(value) => {
                    breaker.record_success();
                    break Ok(value);
                }
                Err(error) => {
                    self.record_failure(&breaker, &error);
                    let pause = inner.sources.up_to(backoff_ceiling(inner.settings.retry.backoff, attempt));
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

    fn record_failure(&self, breaker: &Arc<Breaker>, error: &RedisError) {
        let inner = &self.inner;
        let metrics = &inner.metrics;
        metrics.errors.get_or_create(&KindLabels { kind: error.kind() }).inc();
        match error {
            RedisError::ConnectTimeout(_) => metrics.timeouts.get_or_create(&KindLabels { kind: "connect" }).inc(),
            RedisError::CommandTimeout { .. } => metrics.timeouts.get_or_create(&KindLabels { kind: "command" }).inc(),
            _ => 0,
        };
        if !error.is_unavailability() {
            return;
        }
        inner.pool.manager().mark_idle_connections_suspect();
        // Only when a reading is due: in an outage every failing call gets here, and a task
        // each would only queue for the lock to learn that the map was just read.
        if inner.is_cluster() && inner.shards_asked.try_lock().is_ok_and(|asked| shard_map_due(*asked)) {
            // A failover moves slots without a word from the dead primary: read the map again
            // (at most once a second), so that keys follow their new primary.
            let inner = Arc::clone(&self.inner);
            tokio::spawn(async move {
                let deadline = Deadline::after(inner.settings.operation_timeout);
                let _ = inner.refresh_shards(deadline, true).await;
            });
        }
        if breaker.record_failure(error) == Tripped::Now {
            if !inner.is_cluster() {
                // Idle connections were opened before the outage; none of them is worth a timeout.
                // A cluster connection also serves the shards that still answer: it stays.
                inner.pool.retain(|_, _| false);
            }
            tokio::spawn(probe::until_closed(Arc::downgrade(&self.inner), Arc::clone(breaker)));
        }
    }
}

impl Inner {
    fn is_cluster(&self) -> bool {
        self.pool.manager().is_cluster()
    }

    /// The readiness write's key for one shard: one that the shard's slots hold.
    fn health_key(&self, shard: &Shard) -> String {
        shards::key_in(shard, &format!("{}health:", self.settings.key_prefix))
    }

    /// Reads the cluster's shard map when it is unknown, or when `again` and the last reading is
    /// older than [`SHARD_MAP_REFRESH`]. A failure leaves the map as it was.
    async fn refresh_shards(&self, deadline: Deadline, again: bool) -> Result<(), RedisError> {
        let known = !self.shards.shards().is_empty();
        if known && !again {
            return Ok(());
        }
        let Ok(mut asked) = tokio::time::timeout_at(deadline.instant(), self.shards_asked.lock()).await else {
            return Err(RedisError::DeadlinePassed { operation: Operation::SHARD_MAP.name });
        };
        if !shard_map_due(*asked) {
            return Ok(());
        }
        *asked = Some(Instant::now());
        let Some(nodes) = self.pool.manager().nodes() else { return Ok(()) };
        let deadline = deadline.within(self.settings.operation_timeout);
        let command = redis::cmd("CLUSTER").arg("SLOTS").clone();
        let timeout = deadline.remaining();
        let failed = |error: RedisError| {
            tracing::warn!(%error, "cannot read the cluster's shard map");
            error
        };
        let reply = match tokio::time::timeout_at(deadline.instant(), nodes.ask_any(&self.shards.nodes(), &command))
            .await
        {
            Ok(Ok(reply)) => reply,
            Ok(Err(source)) => {
                return Err(failed(RedisError::from_command(Operation::SHARD_MAP.name, source, timeout)));
            }
            Err(_) => return Err(failed(RedisError::CommandTimeout { operation: Operation::SHARD_MAP.name, timeout })),
        };
        match self.shards.update(&reply) {
            None => tracing::warn!("CLUSTER SLOTS gave an answer that is not a slot map"),
            Some(true) => {
                tracing::info!(shards = ?self.shards.shards(), "the cluster's shards changed; pooled connections follow");
                self.pool.manager().topology_changed(self.shards.nodes());
            }
            Some(false) => {}
        }
        Ok(())
    }

    /// One attempt of a call that `breaker` admitted (a probe's has none).
    async fn attempt<T, F, Fut>(
        &self,
        operation: Operation,
        deadline: Deadline,
        command: &F,
        breaker: Option<&Arc<Breaker>>,
    ) -> Result<T, RedisError>
    where
        F: Fn(RedisConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let deadline = deadline.within(self.settings.operation_timeout);
        let timeout = deadline.remaining();
        // The breaker may open while this call waits for a connection (a connect, a PING, a
        // full pool): from then on nothing is sent (the pool's manager checks it too), and the
        // call fails as one that came after it opened.
        let checked_out = self.checkout(deadline).await;
        if let Some(breaker) = breaker {
            breaker.admit()?;
        }
        let connection = checked_out?;
        let (handle, refusal) = match breaker {
            Some(breaker) => {
                let (handle, refusal) = connection.handle().gated(Arc::clone(breaker));
                (handle, Some(refusal))
            }
            None => (connection.handle(), None),
        };
        let outcome = tokio::time::timeout_at(deadline.instant(), command(handle)).await;
        let refused = refusal.and_then(|refusal| refusal.take());
        let result = match (outcome, refused) {
            (Ok(Ok(value)), _) => return Ok(value),
            // The breaker opened during the call and stopped its next command: the connection
            // is as good as it was, and the call fails as one the breaker refused.
            (_, Some(refused)) => return Err(refused),
            (Ok(Err(source)), None) => RedisError::from_command(operation.name, source, timeout),
            (Err(_elapsed), None) => RedisError::CommandTimeout { operation: operation.name, timeout },
        };
        // A cluster connection reconnects its nodes by itself and serves the other shards: it is
        // never thrown away for one node's failure.
        if result.poisons_connection() && !self.is_cluster() {
            // A connection that timed out may be blackholed: it would time out again for the next
            // caller. One to a replica stays one. Taking it out of the pool closes it and frees
            // its slot for a fresh one.
            let reason = match result {
                RedisError::CommandTimeout { .. } => "timeout",
                RedisError::NotPrimary { .. } => "not_primary",
                _ => "broken",
            };
            self.metrics.connections_discarded.get_or_create(&reason.into()).inc();
            drop(Object::take(connection));
        }
        Err(result)
    }

    async fn checkout(&self, deadline: Deadline) -> Result<Object<ConnectionManager>, RedisError> {
        let settings = &self.settings;
        let remaining = deadline.remaining();
        let timeouts = Timeouts {
            wait: Some(settings.pool_wait_timeout.min(remaining)),
            create: Some(settings.connect_timeout.min(remaining)),
            recycle: Some(remaining),
        };
        match tokio::time::timeout_at(deadline.instant(), self.pool.timeout_get(&timeouts)).await {
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
}

impl Probed for Inner {
    fn probe_interval(&self) -> Duration {
        self.settings.breaker.probe_interval
    }

    async fn probe(&self, shard: &str) -> Result<Probe, RedisError> {
        if self.is_cluster() { self.probe_shard(shard).await } else { self.probe_standalone().await }
    }

    fn forget(&self, shard: &str) {
        self.breakers.forget(shard);
    }
}

impl Inner {
    /// Standalone: connects afresh and makes the readiness write, so that a breaker never closes
    /// on a replica.
    async fn probe_standalone(&self) -> Result<Probe, RedisError> {
        let settings = &self.settings;
        let connection = match tokio::time::timeout(settings.connect_timeout, self.pool.manager().connect()).await {
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
            Ok(Ok(())) => Ok(Probe::Answered),
            Ok(Err(source)) => Err(RedisError::from_command("probe", source, timeout)),
            Err(_) => Err(RedisError::CommandTimeout { operation: "probe", timeout }),
        }
    }

    /// Cluster: reads the shard map again, then makes the shard's readiness write through a
    /// pooled cluster connection (its nodes reconnect by themselves).
    async fn probe_shard(&self, shard: &str) -> Result<Probe, RedisError> {
        let deadline = Deadline::after(self.settings.operation_timeout);
        self.refresh_shards(deadline, true).await?;
        let shards = self.shards.shards();
        if shards.is_empty() {
            return Err(RedisError::ConnectTimeout(self.settings.connect_timeout));
        }
        // The shard is gone; so is the placeholder that stood for every shard before the first map.
        let Some(found) = shards.into_iter().find(|known| known.primary == shard) else { return Ok(Probe::Moved) };
        let key = self.health_key(&found);
        let write = |mut connection: RedisConnection| {
            let key = key.clone();
            async move { health_write(&key).query_async::<()>(&mut connection).await }
        };
        self.attempt(Operation::HEALTH, deadline, &write, None).await.map(|()| Probe::Answered)
    }
}

/// Whether the shard map may be read again, given when it was last asked for.
fn shard_map_due(asked: Option<Instant>) -> bool {
    asked.is_none_or(|at| at.elapsed() >= SHARD_MAP_REFRESH)
}

/// A write with a short expiry, which only a primary accepts.
fn health_write(key: &str) -> redis::Cmd {
    let mut command = redis::cmd("SET");
    command.arg(key).arg("ok").arg("PX").arg(60_000);
    command
}

/// Exponential backoff with full jitter: the pause before attempt `attempt + 1` is drawn up to
/// `base * 2^(attempt-1)`, capped.
fn backoff_ceiling(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_never_exceeds_its_exponential_ceiling_or_one_second() {
        let base = Duration::from_millis(50);
        let sources = Sources::from_os();
        for attempt in 1..=20 {
            let ceiling = (base * 2u32.pow(attempt.min(16) - 1)).min(MAX_BACKOFF);
            assert_eq!(backoff_ceiling(base, attempt), ceiling, "attempt {attempt}");
            for _ in 0..100 {
                assert!(sources.up_to(backoff_ceiling(base, attempt)) <= ceiling, "attempt {attempt}");
            }
        }
        assert_eq!(sources.up_to(backoff_ceiling(Duration::ZERO, 3)), Duration::ZERO);
    }
}
