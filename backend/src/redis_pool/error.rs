use std::time::Duration;

/// Why a Redis call did not produce an answer.
///
/// Every variant's message is safe to log: none of them carries the Redis URL or a password.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("circuit breaker is open: redis failed {failures} times in a row, last with: {cause}")]
    CircuitOpen { failures: u32, cause: String },
    #[error("no redis connection became free within {0:?} (pool exhausted)")]
    PoolExhausted(Duration),
    #[error("connecting to redis timed out after {0:?}")]
    ConnectTimeout(Duration),
    #[error("could not connect to redis: {0}")]
    Connect(#[source] redis::RedisError),
    #[error("redis {operation} timed out after {timeout:?}")]
    CommandTimeout { operation: &'static str, timeout: Duration },
    #[error("redis connection failed during {operation}: {source}")]
    Connection {
        operation: &'static str,
        #[source]
        source: redis::RedisError,
    },
    #[error("redis is loading its dataset and cannot answer {operation} yet")]
    Loading { operation: &'static str },
    /// The endpoint answers as a replica (`READONLY`, `MASTERDOWN`): after a failover, the old
    /// primary comes back as one. Nothing it says about writes can be trusted.
    #[error("redis answered {operation} as a replica, not a primary: {detail}")]
    NotPrimary { operation: &'static str, detail: String },
    /// The cluster refuses keys it cannot serve right now (`CLUSTERDOWN` while a shard has no
    /// primary, `TRYAGAIN` during a slot migration): an outage of the cluster, not of this
    /// connection, which stays good.
    #[error("the redis cluster cannot serve {operation} right now: {detail}")]
    ClusterDown { operation: &'static str, detail: String },
    /// Fewer replicas than `REDIS_WAIT_REPLICAS` confirmed a write within the deadline.
    #[error("only {acknowledged} of {wanted} replicas confirmed the write within the deadline")]
    NotReplicated { wanted: u32, acknowledged: u32 },
    /// The request's deadline passed before this call could start.
    #[error("the request's deadline passed before redis {operation} could run")]
    DeadlinePassed { operation: &'static str },
    /// A refusal that is our bug, not an outage: a script error, `WRONGTYPE`, `NOPERM`.
    #[error("redis rejected {operation}: {source}")]
    Server {
        operation: &'static str,
        #[source]
        source: redis::RedisError,
    },
    #[error("the redis pool is closed")]
    PoolClosed,
}

impl RedisError {
    /// Classifies an error that redis-rs returned while running `operation` on a pooled connection.
    pub(crate) fn from_command(operation: &'static str, source: redis::RedisError, timeout: Duration) -> Self {
        if source.is_timeout() {
            Self::CommandTimeout { operation, timeout }
        } else if source.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading) {
            Self::Loading { operation }
        } else if matches!(source.code(), Some("CLUSTERDOWN" | "TRYAGAIN")) {
            Self::ClusterDown { operation, detail: source.to_string() }
        } else if matches!(source.code(), Some("READONLY" | "MASTERDOWN")) {
            Self::NotPrimary { operation, detail: source.to_string() }
        } else if source.is_io_error() || source.is_connection_dropped() || source.is_unrecoverable_error() {
            Self::Connection { operation, source }
        } else {
            Self::Server { operation, source }
        }
    }

    /// True when the error says Redis (or the path to it) is unavailable, as opposed to a local
    /// limit or a refused command. These errors feed the circuit breaker and may be retried.
    pub(crate) fn is_unavailability(&self) -> bool {
        matches!(
            self,
            Self::ConnectTimeout(_)
                | Self::Connect(_)
                | Self::CommandTimeout { .. }
                | Self::Connection { .. }
                | Self::Loading { .. }
                | Self::NotPrimary { .. }
                | Self::ClusterDown { .. }
        )
    }

    /// True when the caller is better served by "try again later" than by "we broke something":
    /// every unavailability, and the local limits that protect Redis.
    pub(crate) fn is_transient(&self) -> bool {
        self.is_unavailability()
            || matches!(
                self,
                Self::CircuitOpen { .. } | Self::PoolExhausted(_) | Self::PoolClosed | Self::NotReplicated { .. }
            )
    }

    /// True when the connection that produced the error must not be used again.
    pub(crate) fn poisons_connection(&self) -> bool {
        matches!(self, Self::CommandTimeout { .. } | Self::Connection { .. } | Self::NotPrimary { .. })
    }

    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CircuitOpen { .. } => "circuit_open",
            Self::PoolExhausted(_) => "pool_exhausted",
            Self::ConnectTimeout(_) => "connect_timeout",
            Self::Connect(_) => "connect",
            Self::CommandTimeout { .. } => "command_timeout",
            Self::Connection { .. } => "connection",
            Self::Loading { .. } => "loading",
            Self::NotPrimary { .. } => "not_primary",
            Self::ClusterDown { .. } => "cluster_down",
            Self::DeadlinePassed { .. } => "deadline_passed",
            Self::NotReplicated { .. } => "not_replicated",
            Self::Server { .. } => "server",
            Self::PoolClosed => "pool_closed",
        }
    }
}
