//! What every handler shares: the Redis pool, the stores built on it, metrics and settings.

use std::sync::Arc;

use crate::config::Settings;
use crate::hashing::PasswordHasher;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::redis_pool::{Dialer, RedisPool, SetupError};
use crate::sources::Sources;
use crate::users::UserStore;

/// Shared by every handler; clones are cheap (one reference count: every handler and
/// middleware clones it per request).
#[derive(Clone, Debug)]
pub(crate) struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub redis: RedisPool,
    pub users: UserStore,
    pub registration_limiter: RateLimiter,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
    pub password_hasher: PasswordHasher,
    pub sources: Arc<Sources>,
}

/// Why the state could not be built. Nothing here touches the network.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Redis(#[from] SetupError),
    #[error("cannot start the password hashing workers: {0}")]
    HashingWorkers(#[source] std::io::Error),
}

impl AppState {
    /// The state of a service on this machine: its network, its randomness and clock, and
    /// password hashing on worker threads.
    pub(crate) fn new(settings: Settings) -> Result<Self, StateError> {
        let sources = Arc::new(Sources::from_os());
        let metrics = Arc::new(Metrics::new());
        let hasher = PasswordHasher::start(settings.hashing, metrics.hashing.clone(), Arc::clone(&sources))
            .map_err(StateError::HashingWorkers)?;
        Self::assemble(settings, metrics, sources, hasher, None)
    }

    /// The state of a simulated service: Redis through `dialer`, randomness and the clock from
    /// `sources`, passwords hashed on the caller's task.
    pub(crate) fn simulated(
        settings: Settings,
        sources: Arc<Sources>,
        dialer: Arc<dyn Dialer>,
    ) -> Result<Self, StateError> {
        let metrics = Arc::new(Metrics::new());
        let hasher = PasswordHasher::inline(settings.hashing, metrics.hashing.clone(), Arc::clone(&sources));
        Self::assemble(settings, metrics, sources, hasher, Some(dialer))
    }

    fn assemble(
        settings: Settings,
        metrics: Arc<Metrics>,
        sources: Arc<Sources>,
        password_hasher: PasswordHasher,
        dialer: Option<Arc<dyn Dialer>>,
    ) -> Result<Self, StateError> {
        metrics.publish_settings(&settings);
        let redis = RedisPool::with_parts(settings.redis.clone(), metrics.redis.clone(), Arc::clone(&sources), dialer)?;
        Ok(Self(Arc::new(Shared {
            users: UserStore::new(redis.clone()),
            registration_limiter: RateLimiter::new(
                redis.clone(),
                Arc::clone(&sources),
                settings.rate_limit,
                "register",
            ),
            redis,
            metrics,
            settings: Arc::new(settings),
            password_hasher,
            sources,
        })))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
